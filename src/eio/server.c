/* The Engine.IO server: sessions and their ids, heartbeats, closing, shared packets, and the
 * route that verifies every request the way Node's engine.io does (same checks, same order, same
 * error codes) before handing it to a transport (polling.c, websocket.c). */
#include "eio_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* Node's polling transport waits this long for a GET to carry the close packet. */
#define EIO_CLOSE_TIMEOUT_MS 30000
/* Node's upgrade writes a noop to a waiting GET this often after the probe. */
#define EIO_CHECK_INTERVAL_MS 100

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

const char *tc__eio_error_message(int code) {
  return error_messages[code];
}

/* ---- timer queues ---------------------------------------------------------------------------- */

struct eio_tq {
  uv_timer_t timer;
  uv_loop_t *loop;
  uint64_t ms;
  eio_tnode_t *head, *tail;
  void (*fire)(eio_tnode_t *n);
};

static void tq_on_timer(uv_timer_t *t);

static void tq_start(eio_tq_t *q) {
  if (!q->head) {
    uv_timer_stop(&q->timer);
    return;
  }
  uint64_t now = uv_now(q->loop);
  uv_timer_start(&q->timer, tq_on_timer, q->head->deadline > now ? q->head->deadline - now : 0, 0);
}

void tc__eio_tnode_stop(eio_tnode_t *n) {
  eio_tq_t *q = n->q;
  if (!q) return;
  if (n->prev)
    n->prev->next = n->next;
  else
    q->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    q->tail = n->prev;
  n->q = NULL;
  n->prev = n->next = NULL;
  /* A timer left set for a removed head only fires early and finds nothing due. */
  if (!q->head) uv_timer_stop(&q->timer);
}

/* Inserts n by deadline. A deadline of now + ms goes at the tail; an earlier one (a chained
 * deadline, see on_ping_due) walks back the few nodes armed after it. */
static void tnode_insert(eio_tnode_t *n, eio_tq_t *q, uint64_t deadline) {
  tc__eio_tnode_stop(n);
  n->deadline = deadline;
  n->q = q;
  eio_tnode_t *after = q->tail;
  while (after && after->deadline > deadline) after = after->prev;
  n->prev = after;
  n->next = after ? after->next : q->head;
  if (n->next)
    n->next->prev = n;
  else
    q->tail = n;
  if (after)
    after->next = n;
  else
    q->head = n;
  if (q->head == n) tq_start(q);
}

void tc__eio_tnode_arm(eio_tnode_t *n, eio_tq_t *q) {
  tnode_insert(n, q, uv_now(q->loop) + q->ms);
}

static void tq_on_timer(uv_timer_t *t) {
  eio_tq_t *q = t->data;
  uint64_t now = uv_now(q->loop);
  while (q->head && q->head->deadline <= now) {
    eio_tnode_t *n = q->head;
    tc__eio_tnode_stop(n);
    q->fire(n);
  }
  tq_start(q);
}

static int tq_new(tc_eio_server_t *srv, uint64_t ms, void (*fire)(eio_tnode_t *n), eio_tq_t **out) {
  eio_tq_t *q = calloc(1, sizeof *q);
  if (!q) return TC_ENOMEM;
  q->loop = tc_io_loop(srv->io);
  q->ms = ms;
  q->fire = fire;
  uv_timer_init(q->loop, &q->timer);
  q->timer.data = q;
  /* Deadlines alone must not keep a stopping loop alive: connections do that. */
  uv_unref((uv_handle_t *)&q->timer);
  *out = q;
  return 0;
}

static void tq_closed(uv_handle_t *h) {
  free(h->data);
}

static void tq_free(eio_tq_t *q) {
  if (!q) return;
  while (q->head) tc__eio_tnode_stop(q->head);
  uv_close((uv_handle_t *)&q->timer, tq_closed);
}

/* ---- the sid table --------------------------------------------------------------------------- */

static size_t sid_hash(const char *sid, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)sid[i]) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29));
}

/* Open addressing with linear probing: a session carries no chain link. At most 3/4 full. */
static tc_eio_socket_t *table_find(const tc_eio_server_t *srv, const char *sid, size_t len) {
  if (!srv->nbuckets || len != 20) return NULL;
  size_t mask = srv->nbuckets - 1;
  for (size_t i = sid_hash(sid, len) & mask; srv->buckets[i]; i = (i + 1) & mask)
    if (memcmp(srv->buckets[i]->sid, sid, 20) == 0) return srv->buckets[i];
  return NULL;
}

static void table_put(tc_eio_socket_t **b, size_t n, tc_eio_socket_t *s) {
  size_t i = sid_hash(s->sid, 20) & (n - 1);
  while (b[i]) i = (i + 1) & (n - 1);
  b[i] = s;
}

static int table_grow(tc_eio_server_t *srv) {
  size_t n = srv->nbuckets ? srv->nbuckets * 2 : 64;
  tc_eio_socket_t **b = calloc(n, sizeof *b);
  if (!b) return TC_ENOMEM;
  for (size_t i = 0; i < srv->nbuckets; i++)
    if (srv->buckets[i]) table_put(b, n, srv->buckets[i]);
  free(srv->buckets);
  srv->buckets = b;
  srv->nbuckets = n;
  return 0;
}

int tc__eio_session_add(tc_eio_socket_t *s) {
  tc_eio_server_t *srv = s->srv;
  if ((srv->count + 1) * 4 > srv->nbuckets * 3) {
    int r = table_grow(srv);
    if (r) return r;
  }
  table_put(srv->buckets, srv->nbuckets, s);
  srv->count++;
  return 0;
}

static void table_remove(tc_eio_socket_t *s) {
  tc_eio_server_t *srv = s->srv;
  if (!srv->nbuckets) return;
  size_t mask = srv->nbuckets - 1, i = sid_hash(s->sid, 20) & mask;
  while (srv->buckets[i] && srv->buckets[i] != s) i = (i + 1) & mask;
  if (!srv->buckets[i]) return; /* never added */
  srv->buckets[i] = NULL;
  srv->count--;
  /* Backward shift: later entries of the run move into the hole unless their home lies
   * cyclically in (i, j], so that every entry stays reachable from its home. */
  for (size_t j = (i + 1) & mask; srv->buckets[j]; j = (j + 1) & mask) {
    size_t home = sid_hash(srv->buckets[j]->sid, 20) & mask;
    if (i <= j ? (home > i && home <= j) : (home > i || home <= j)) continue;
    srv->buckets[i] = srv->buckets[j];
    srv->buckets[j] = NULL;
    i = j;
  }
}

/* 15 bytes from the CSPRNG as 20 characters of base64 with '-' and '_' for '+' and '/', like
 * Node's ids. */
static int make_sid(const tc_eio_server_t *srv, char out[21]) {
  uint8_t r[15];
  do {
    if (RAND_bytes(r, sizeof r) != 1) return TC_ESYS;
    tc_base64_encode(r, sizeof r, out);
    for (int i = 0; i < 20; i++) {
      if (out[i] == '+') out[i] = '-';
      if (out[i] == '/') out[i] = '_';
    }
  } while (table_find(srv, out, 20));
  return 0;
}

/* ---- sessions -------------------------------------------------------------------------------- */

tc_eio_socket_t *tc__eio_session_new(tc_eio_server_t *srv, int websocket) {
  tc_eio_socket_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->srv = srv;
  s->websocket = websocket != 0;
  if (make_sid(srv, s->sid)) {
    free(s);
    return NULL;
  }
  return s;
}

void tc__eio_session_free(tc_eio_socket_t *s) {
  tc__eio_wq_clear(s);
  free(s);
}

void tc__eio_enter(tc_eio_socket_t *s) {
  s->nest++;
}

void tc__eio_leave(tc_eio_socket_t *s) {
  if (--s->nest == 0 && s->state == EIO_CLOSED) tc__eio_session_free(s);
}

int tc__eio_open_json(tc_eio_socket_t *s, tc_buf_t *out) {
  const tc_eio_config_t *c = &s->srv->cfg;
  int upgrades = !s->websocket && !c->no_websocket;
  return tc_buf_appendf(out,
                        "{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%llu,"
                        "\"pingTimeout\":%llu,\"maxPayload\":%llu}",
                        s->sid, upgrades ? "\"websocket\"" : "",
                        (unsigned long long)c->ping_interval_ms,
                        (unsigned long long)c->ping_timeout_ms, (unsigned long long)c->max_payload);
}

void tc__eio_opened(tc_eio_socket_t *s, const tc_http_request_t *req) {
  tc_eio_server_t *srv = s->srv;
  tc_log(srv->cfg.log, TC_LOG_DEBUG, "eio", "%s: open over %s", s->sid, tc_eio_transport(s));
  tc__eio_tnode_arm(&s->hb, srv->ping_q);
  if (!srv->h.on_open) return;
  tc__eio_enter(s);
  const tc_http_request_t *prev_req = srv->hs_req;
  tc_eio_socket_t *prev_sock = srv->hs_sock;
  srv->hs_req = req;
  srv->hs_sock = s;
  srv->h.on_open(s, srv->ud);
  srv->hs_req = prev_req;
  srv->hs_sock = prev_sock;
  tc__eio_leave(s);
}

void tc__eio_closed(tc_eio_socket_t *s, const char *reason) {
  if (s->state == EIO_CLOSED) return;
  tc_eio_server_t *srv = s->srv;
  tc__eio_enter(s);
  s->state = EIO_CLOSED;
  table_remove(s);
  tc__eio_tnode_stop(&s->hb);
  if (s->up) tc__eio_upgrade_free(s->up, 1);
  if (s->ws) {
    tc_ws_conn_t *c = s->ws;
    s->ws = NULL;
    tc__eio_ws_drop(c);
  }
  /* A waiting GET ends with the close packet; what was queued is dropped, as in Node. */
  tc__eio_wq_clear(s);
  tc__eio_poll_answer(s, "1");
  tc_log(srv->cfg.log, TC_LOG_DEBUG, "eio", "%s: closed (%s)", s->sid, reason);
  if (srv->h.on_close) srv->h.on_close(s, reason, srv->ud);
  tc__eio_leave(s);
}

void tc__eio_close_transport(tc_eio_socket_t *s) {
  if (s->websocket) {
    tc__eio_closed(s, "forced close");
    return;
  }
  if (s->poll) {
    tc__eio_poll_answer(s, "1");
    tc__eio_closed(s, "forced close");
    return;
  }
  /* No GET to carry the close packet: the next one will, within 30 s. The heartbeat keeps
   * running meanwhile, as in Node, and ends the session first if it would. */
  s->should_close = 1;
  tc_eio_server_t *srv = s->srv;
  uint64_t now = tc_io_now(srv->io), dies = UINT64_MAX;
  if (s->hb.q == srv->ping_q) dies = s->hb.deadline + srv->cfg.ping_timeout_ms;
  if (s->hb.q == srv->pong_q) dies = s->hb.deadline;
  if (dies > now + EIO_CLOSE_TIMEOUT_MS) tc__eio_tnode_arm(&s->hb, srv->close_q);
}

void tc__eio_drained(tc_eio_socket_t *s) {
  tc_eio_server_t *srv = s->srv;
  if (s->state == EIO_OPEN) {
    if (!srv->h.on_drain) return;
    tc__eio_enter(s);
    srv->h.on_drain(s, srv->ud);
    tc__eio_leave(s);
  } else if (s->state == EIO_CLOSING && !s->should_close) {
    /* tc_eio_close waited for the queue to empty before closing the transport. */
    tc__eio_close_transport(s);
  }
}

/* ---- heartbeat ------------------------------------------------------------------------------- */

static void on_ping_due(eio_tnode_t *n) {
  tc_eio_socket_t *s = container_of(n, tc_eio_socket_t, hb);
  /* The pong wait counts from when the ping was due, not from when a busy loop got to it, so a
   * late timer does not make the timeout late as well. */
  uint64_t due = n->deadline;
  tc__eio_enter(s);
  if (s->state == EIO_OPEN) {
    s->refreshed = 0;
    tc__eio_send_packet(s, TC_EIO_PING, 0, NULL, 0);
  }
  if (s->state != EIO_CLOSED) tnode_insert(&s->hb, s->srv->pong_q, due + s->srv->pong_q->ms);
  tc__eio_leave(s);
}

/* Whether the pong wait has run out, though the timer may not have fired yet: the loop reads
 * sockets before it runs timers, so a request arriving on the deadline would otherwise still
 * find the session alive. The clock is read afresh (the loop's is as old as its last wake-up). */
static int heartbeat_expired(const tc_eio_socket_t *s) {
  const tc_eio_server_t *srv = s->srv;
  uint64_t dies;
  if (s->hb.q == srv->pong_q)
    dies = s->hb.deadline;
  else if (s->hb.q == srv->ping_q)
    dies = s->hb.deadline + srv->pong_q->ms;
  else
    return 0;
  return uv_hrtime() / 1000000 >= dies;
}

static void on_pong_late(eio_tnode_t *n) {
  tc__eio_closed(container_of(n, tc_eio_socket_t, hb), "ping timeout");
}

static void on_close_late(eio_tnode_t *n) {
  tc__eio_closed(container_of(n, tc_eio_socket_t, hb), "forced close");
}

/* ---- packets --------------------------------------------------------------------------------- */

void tc__eio_on_packet(tc_eio_socket_t *s, const tc_eio_packet_t *pkt) {
  tc_eio_server_t *srv = s->srv;
  if (s->state != EIO_OPEN) return;
  /* Any other packet while a pong is awaited proves the client alive: Node extends the wait
   * once per ping. */
  if (s->hb.q == srv->pong_q && !s->refreshed && pkt->type != TC_EIO_PONG) {
    tc__eio_tnode_arm(&s->hb, srv->pong_q);
    s->refreshed = 1;
  }
  switch (pkt->type) {
    case TC_EIO_PING:
      /* In protocol 4 the server pings, never the client. */
      tc__eio_closed(s, "transport error");
      break;
    case TC_EIO_PONG:
      /* The next ping comes a full interval after this pong. */
      tc__eio_tnode_arm(&s->hb, srv->ping_q);
      break;
    case TC_EIO_MESSAGE:
      if (srv->h.on_message) {
        tc__eio_enter(s);
        srv->h.on_message(s, pkt->binary, pkt->data.p, pkt->data.len, srv->ud);
        tc__eio_leave(s);
      }
      break;
    case TC_EIO_CLOSE:
      /* Over polling the transport handles it before this point. Over WebSocket Node ignores it
       * and waits for the ping timeout; the protocol says the client is leaving, so we close. */
      tc__eio_closed(s, "transport close");
      break;
    default: /* open, upgrade and noop mean nothing here */
      break;
  }
}

/* ---- the write queue ------------------------------------------------------------------------- */

enum { WQ_BINARY = 1, WQ_SHARED = 2 };
#define WQ_HEAD (2 + sizeof(uint64_t))

static int wq_push(tc_eio_socket_t *s, int type, int binary, const void *p, size_t len,
                   tc_eio_shared_t *m) {
  size_t n = m ? sizeof m : len;
  if (!s->wq && !(s->wq = calloc(1, sizeof *s->wq))) return TC_ENOMEM;
  int r = tc_buf_reserve(s->wq, WQ_HEAD + n);
  if (r) return r;
  uint8_t *w = tc_buf_tail(s->wq);
  w[0] = (uint8_t)type;
  w[1] = (uint8_t)((binary ? WQ_BINARY : 0) | (m ? WQ_SHARED : 0));
  uint64_t l = n;
  memcpy(w + 2, &l, sizeof l);
  if (m) {
    memcpy(w + WQ_HEAD, &m, sizeof m);
    m->io.refs++;
  } else if (len) {
    memcpy(w + WQ_HEAD, p, len);
  }
  tc_buf_commit(s->wq, WQ_HEAD + n);
  return 0;
}

int tc__eio_wq_each(tc_eio_socket_t *s,
                    int (*fn)(tc_eio_socket_t *s, int type, int binary, const uint8_t *p,
                              size_t len, tc_eio_shared_t *m, void *ud),
                    void *ud) {
  /* The queue is taken first: fn may queue again (it never does today, but the order must hold). */
  tc_buf_t *qp = s->wq;
  s->wq = NULL;
  if (!qp) return 0;
  tc_buf_t q = *qp;
  free(qp);
  if (!q.len) {
    tc_buf_free(&q);
    return 0;
  }
  int r = 0;
  const uint8_t *p = tc_buf_data(&q), *end = p + q.len;
  while (p < end) {
    uint64_t l;
    memcpy(&l, p + 2, sizeof l);
    const uint8_t *d = p + WQ_HEAD;
    tc_eio_shared_t *m = NULL;
    if (p[1] & WQ_SHARED) memcpy(&m, d, sizeof m);
    if (!r) r = fn(s, p[0], (p[1] & WQ_BINARY) != 0, d, (size_t)l, m, ud);
    if (m) tc_eio_shared_unref(m);
    p = d + l;
  }
  tc_buf_free(&q);
  return r;
}

static int wq_drop(tc_eio_socket_t *s, int type, int binary, const uint8_t *p, size_t len,
                   tc_eio_shared_t *m, void *ud) {
  (void)s, (void)type, (void)binary, (void)p, (void)len, (void)m, (void)ud;
  return 0;
}

void tc__eio_wq_clear(tc_eio_socket_t *s) {
  tc__eio_wq_each(s, wq_drop, NULL);
}

int tc__eio_send_packet(tc_eio_socket_t *s, int type, int binary, const void *p, size_t len) {
  if (s->state != EIO_OPEN) return TC_ECLOSED;
  if (s->websocket) return tc__eio_ws_send(s, type, binary, p, len);
  int r = wq_push(s, type, binary, p, len, NULL);
  if (r) return r;
  if (s->poll && !s->batching) tc__eio_poll_flush(s, NULL);
  return 0;
}

/* ---- shared packets -------------------------------------------------------------------------- */

static void shared_free(tc_io_shared_t *io) {
  tc_eio_shared_t *m = (tc_eio_shared_t *)(void *)io;
  free(m->b64);
  free(m);
}

tc_eio_shared_t *tc_eio_shared_new(int binary, const void *p, size_t len) {
  size_t plen = len + (binary ? 0 : 1);
  if (plen < len) return NULL;
  uint8_t hdr[14];
  size_t h = tc_ws_frame_write(hdr, 1, 0, binary ? TC_WS_OP_BINARY : TC_WS_OP_TEXT, plen, NULL);
  tc_eio_shared_t *m = malloc(sizeof *m + h + plen);
  if (!m) return NULL;
  m->io = (tc_io_shared_t){.refs = 1, .p = m->frame, .len = h + plen, .free = shared_free};
  m->len = len;
  m->b64 = NULL;
  m->b64_len = 0;
  m->hdr_len = (uint8_t)h;
  m->binary = binary != 0;
  memcpy(m->frame, hdr, h);
  uint8_t *w = m->frame + h;
  if (!binary) *w++ = '0' + TC_EIO_MESSAGE;
  if (len) memcpy(w, p, len);
  return m;
}

void tc_eio_shared_unref(tc_eio_shared_t *m) {
  if (m) tc_io_shared_unref(&m->io);
}

const char *tc__eio_shared_b64(tc_eio_shared_t *m, size_t *len) {
  if (!m->b64) {
    m->b64 = malloc(2 + (m->len + 2) / 3 * 4);
    if (!m->b64) return NULL;
    m->b64[0] = 'b';
    m->b64_len = 1 + tc_base64_encode(m->frame + m->hdr_len, m->len, m->b64 + 1);
  }
  *len = m->b64_len;
  return m->b64;
}

int tc_eio_send_shared(tc_eio_socket_t *s, tc_eio_shared_t *m) {
  if (s->state != EIO_OPEN) return TC_ECLOSED;
  if (s->websocket) return tc__eio_ws_send_shared(s, m);
  int r = wq_push(s, TC_EIO_MESSAGE, m->binary, NULL, 0, m);
  if (r) return r;
  if (s->poll && !s->batching) {
    tc__eio_enter(s);
    tc__eio_poll_flush(s, NULL);
    tc__eio_leave(s);
  }
  return 0;
}

/* ---- the public socket API ------------------------------------------------------------------- */

int tc_eio_send(tc_eio_socket_t *s, int binary, const void *p, size_t len) {
  tc__eio_enter(s);
  int r = tc__eio_send_packet(s, TC_EIO_MESSAGE, binary, p, len);
  tc__eio_leave(s);
  return r;
}

void tc_eio_close(tc_eio_socket_t *s) {
  if (s->state != EIO_OPEN) return;
  s->state = EIO_CLOSING;
  /* Queued packets go out with the next GET first; the close follows once they have. */
  if (tc__eio_wq_len(s) && !s->websocket) return;
  tc__eio_close_transport(s);
}

const char *tc_eio_id(const tc_eio_socket_t *s) {
  return s->sid;
}

const char *tc_eio_transport(const tc_eio_socket_t *s) {
  return s->websocket ? "websocket" : "polling";
}

const tc_http_request_t *tc_eio_handshake(const tc_eio_socket_t *s) {
  return s->srv->hs_sock == s ? s->srv->hs_req : NULL;
}

void tc_eio_set_data(tc_eio_socket_t *s, void *data) {
  s->data = data;
}

void *tc_eio_data(const tc_eio_socket_t *s) {
  return s->data;
}

uint64_t tc_eio_buffered(const tc_eio_socket_t *s) {
  return tc__eio_wq_len(s) + (s->ws ? tc_ws_conn_buffered(s->ws) : 0);
}

/* ---- requests -------------------------------------------------------------------------------- */

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes one query component as URLSearchParams does ('+' is a space, a bad escape stays as
 * it is) into out; returns the full decoded length, which may exceed cap. */
static size_t qdecode(const uint8_t *p, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
      c = (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
      i += 2;
    }
    if (o < cap) out[o] = (char)c;
    o++;
  }
  return o;
}

static void query_parse(tc_slice_t q, eio_query_t *out) {
  memset(out, 0, sizeof *out);
  size_t i = 0;
  while (i < q.len) {
    const uint8_t *start = q.p + i;
    const uint8_t *amp = memchr(start, '&', q.len - i);
    size_t n = amp ? (size_t)(amp - start) : q.len - i;
    i += n + 1;
    if (!n) continue;
    const uint8_t *eq = memchr(start, '=', n);
    size_t klen = eq ? (size_t)(eq - start) : n;
    const uint8_t *v = eq ? eq + 1 : start + n;
    size_t vlen = eq ? n - klen - 1 : 0;
    char key[16];
    size_t kl = qdecode(start, klen, key, sizeof key);
    if (kl == 3 && !memcmp(key, "EIO", 3)) {
      out->eio_len = qdecode(v, vlen, out->eio, sizeof out->eio);
    } else if (kl == 9 && !memcmp(key, "transport", 9)) {
      out->transport_len = qdecode(v, vlen, out->transport, sizeof out->transport);
    } else if (kl == 3 && !memcmp(key, "sid", 3)) {
      out->sid_len = qdecode(v, vlen, out->sid, sizeof out->sid);
    } else if (kl == 3 && !memcmp(key, "b64", 3)) {
      /* Node tests the value's truth: present and not empty. */
      out->b64 = vlen > 0;
    }
  }
}

int tc__eio_is_v4(const eio_query_t *q) {
  return q->eio_len == 1 && q->eio[0] == '4';
}

int tc__eio_query_transport(const tc_eio_server_t *srv, const eio_query_t *q) {
  if (q->transport_len == 7 && !memcmp(q->transport, "polling", 7) && !srv->cfg.no_polling)
    return EIO_T_POLLING;
  if (q->transport_len == 9 && !memcmp(q->transport, "websocket", 9) && !srv->cfg.no_websocket)
    return EIO_T_WEBSOCKET;
  return -1;
}

/* Node refuses an Origin with a control character (its check for header values). */
static int origin_invalid(const tc_http_request_t *req) {
  const tc_http_header_t *h = tc_http_header_get(req->headers, req->num_headers, "Origin");
  if (!h) return 0;
  for (size_t i = 0; i < h->value.len; i++) {
    uint8_t c = h->value.p[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 1;
  }
  return 0;
}

int tc__eio_verify(tc_eio_server_t *srv, const tc_http_request_t *req, const eio_query_t *q,
                   int upgrade, tc_eio_socket_t **out) {
  *out = NULL;
  int transport = tc__eio_query_transport(srv, q);
  if (transport < 0) return EIO_ERR_UNKNOWN_TRANSPORT;
  if (origin_invalid(req)) return EIO_ERR_BAD_REQUEST;
  if (q->sid_len) {
    tc_eio_socket_t *s = table_find(srv, q->sid, q->sid_len);
    if (s && heartbeat_expired(s)) {
      tc__eio_closed(s, "ping timeout");
      s = NULL;
    }
    if (!s) return EIO_ERR_UNKNOWN_SID;
    if (!upgrade && (int)s->websocket != transport) return EIO_ERR_BAD_REQUEST;
    if (!tc__eio_is_v4(q)) return EIO_ERR_BAD_REQUEST;
    *out = s;
    return -1;
  }
  if (!tc_slice_eq(req->method, "GET")) return EIO_ERR_BAD_HANDSHAKE_METHOD;
  if (transport == EIO_T_WEBSOCKET && !upgrade) return EIO_ERR_BAD_REQUEST;
  if (srv->cfg.allow_request && srv->cfg.allow_request(req, srv->ud)) return EIO_ERR_FORBIDDEN;
  return -1;
}

static int abort_request(tc_http_exchange_t *x, int code) {
  char body[96];
  int n =
      snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, error_messages[code]);
  return tc_http_respond(x, code == EIO_ERR_FORBIDDEN ? 403 : 400, "application/json", body,
                         (size_t)n);
}

/* ---- CORS, as Node's cors middleware answers ------------------------------------------------- */

static int origin_listed(const char *list, tc_slice_t origin) {
  const char *p = list;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    tc_slice_t item = tc_slice_trim((tc_slice_t){(const uint8_t *)p, n});
    if (item.len == origin.len && item.len && !memcmp(item.p, origin.p, item.len)) return 1;
    if (!comma) break;
    p = comma + 1;
  }
  return 0;
}

static void cors_headers(tc_eio_server_t *srv, tc_http_exchange_t *x, const tc_http_request_t *req,
                         int preflight) {
  const tc_http_header_t *o = tc_http_header_get(req->headers, req->num_headers, "Origin");
  tc_slice_t origin = o ? o->value : (tc_slice_t){NULL, 0};
  int vary_origin = 0;
  if (srv->cors_mode == 1) {
    tc_http_add_header(x, "Access-Control-Allow-Origin", "*");
  } else if (srv->cors_mode == 2) {
    tc_http_add_header(x, "Access-Control-Allow-Origin", srv->cors);
    vary_origin = 1;
  } else {
    if (origin.len && origin_listed(srv->cors, origin))
      tc_http_add_header_slice(x, "Access-Control-Allow-Origin", origin);
    vary_origin = 1;
  }
  if (vary_origin)
    tc_http_add_header(x, "Vary", preflight ? "Origin, Access-Control-Request-Headers" : "Origin");
  if (srv->cfg.cors_credentials) tc_http_add_header(x, "Access-Control-Allow-Credentials", "true");
  if (!preflight) return;
  tc_http_add_header(x, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
  if (!vary_origin) tc_http_add_header(x, "Vary", "Access-Control-Request-Headers");
  const tc_http_header_t *rh =
      tc_http_header_get(req->headers, req->num_headers, "Access-Control-Request-Headers");
  if (rh && rh->value.len) tc_http_add_header_slice(x, "Access-Control-Allow-Headers", rh->value);
}

static int on_request(tc_http_exchange_t *x, void *ud) {
  tc_eio_server_t *srv = ud;
  const tc_http_request_t *req = tc_http_request(x);
  eio_query_t q;
  query_parse(req->query, &q);
  if (req->upgrade) return tc__eio_ws_request(srv, x, &q);
  if (srv->cors_mode) {
    int preflight = tc_slice_eq(req->method, "OPTIONS");
    cors_headers(srv, x, req, preflight);
    if (preflight) {
      tc_http_add_header(x, "Content-Length", "0");
      return tc_http_respond(x, 204, NULL, NULL, 0);
    }
  }
  tc_eio_socket_t *s;
  int code = tc__eio_verify(srv, req, &q, 0, &s);
  if (code >= 0) {
    tc_log(srv->cfg.log, TC_LOG_DEBUG, "eio", "refused %.*s %.*s: %s", (int)req->method.len,
           (const char *)req->method.p, (int)req->target.len, (const char *)req->target.p,
           error_messages[code]);
    return abort_request(x, code);
  }
  if (s) {
    /* Node hands a sid request to the session's transport; a WebSocket one has no use for
     * HTTP requests (Node leaves them hanging), so they are refused. */
    if (s->websocket) return abort_request(x, EIO_ERR_BAD_REQUEST);
    return tc__eio_polling_request(s, x);
  }
  if (!tc__eio_is_v4(&q)) return abort_request(x, EIO_ERR_UNSUPPORTED_PROTOCOL);
  return tc__eio_polling_handshake(srv, x);
}

/* ---- the server ------------------------------------------------------------------------------ */

static void server_free(void *ud) {
  tc_eio_server_t *srv = ud;
  tc_eio_server_close_all(srv);
  tq_free(srv->ping_q);
  tq_free(srv->pong_q);
  tq_free(srv->close_q);
  tq_free(srv->upgrade_q);
  tq_free(srv->check_q);
  free(srv->buckets);
  tc_buf_free(&srv->scratch);
  tc_buf_free(&srv->body);
  tc_buf_free(&srv->rx);
  tc_buf_free(&srv->fix);
  free(srv->path);
  free(srv->cors);
  free(srv);
}

static int config_init(tc_eio_server_t *srv, const tc_eio_config_t *cfg) {
  srv->cfg = *cfg;
  tc_eio_config_t *c = &srv->cfg;
  if (!c->ping_interval_ms) c->ping_interval_ms = 25000;
  if (!c->ping_timeout_ms) c->ping_timeout_ms = 20000;
  if (!c->upgrade_timeout_ms) c->upgrade_timeout_ms = 10000;
  if (!c->max_payload) c->max_payload = 1000000;
  if (c->no_polling && c->no_websocket) return TC_EINVAL;
  /* As Node: the path always ends with exactly one slash. */
  const char *path = c->path ? c->path : "/engine.io/";
  size_t n = strlen(path);
  while (n && path[n - 1] == '/') n--;
  if (path[0] != '/') return TC_EINVAL;
  srv->path = malloc(n + 2);
  if (!srv->path) return TC_ENOMEM;
  memcpy(srv->path, path, n);
  srv->path[n] = '/';
  srv->path[n + 1] = 0;
  c->path = srv->path;
  if (c->cors_origin && *c->cors_origin) {
    srv->cors = strdup(c->cors_origin);
    if (!srv->cors) return TC_ENOMEM;
    c->cors_origin = srv->cors;
    if (!strcmp(srv->cors, "*"))
      srv->cors_mode = 1;
    else
      srv->cors_mode = strchr(srv->cors, ',') ? 3 : 2;
  } else {
    c->cors_origin = NULL;
  }
  return 0;
}

int tc_eio_server_new(tc_http_server_t *http, const tc_eio_config_t *cfg,
                      const tc_eio_handlers_t *h, void *ud, tc_eio_server_t **out) {
  tc_eio_server_t *srv = calloc(1, sizeof *srv);
  if (!srv) return TC_ENOMEM;
  srv->http = http;
  srv->io = tc_http_server_io(http);
  if (h) srv->h = *h;
  srv->ud = ud;
  static const tc_eio_config_t defaults = {0};
  int r = config_init(srv, cfg ? cfg : &defaults);
  const tc_eio_config_t *c = &srv->cfg;
  if (!r) r = tq_new(srv, c->ping_interval_ms, on_ping_due, &srv->ping_q);
  if (!r) r = tq_new(srv, c->ping_timeout_ms, on_pong_late, &srv->pong_q);
  if (!r) r = tq_new(srv, EIO_CLOSE_TIMEOUT_MS, on_close_late, &srv->close_q);
  if (!r) r = tq_new(srv, c->upgrade_timeout_ms, tc__eio_upgrade_timeout, &srv->upgrade_q);
  if (!r) r = tq_new(srv, EIO_CHECK_INTERVAL_MS, tc__eio_upgrade_check, &srv->check_q);
  if (!r && !c->no_websocket) r = tc__eio_ws_init(srv);
  if (!r) r = tc_http_server_on_free(http, server_free, srv);
  if (r) {
    server_free(srv);
    return r;
  }
  /* From here the HTTP server owns srv. */
  r = tc_http_server_route(http, srv->path, 1, on_request, srv);
  if (r) return r;
  *out = srv;
  return 0;
}

size_t tc_eio_server_count(const tc_eio_server_t *srv) {
  return srv->count;
}

void tc_eio_server_close_all(tc_eio_server_t *srv) {
  for (size_t i = 0; i < srv->nbuckets; i++)
    while (srv->buckets[i]) tc__eio_closed(srv->buckets[i], "server shutting down");
}
