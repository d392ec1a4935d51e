/* One Engine.IO session seen by Socket.IO (Node's Client): its packet decoder, the namespaces it
 * joins, the connect timeout, and closing it for protocol faults. */
#include "sio_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- The handshake copy ---------------------------------------------------------------------- */

static int put_field(tc_buf_t *b, tc_slice_t s) {
  uint32_t n = (uint32_t)s.len;
  if (tc_buf_append(b, &n, sizeof n) < 0) return TC_ENOMEM;
  return s.len ? tc_buf_append(b, s.p, s.len) : 0;
}

static int copy_handshake(sio_client_t *c, const tc_http_request_t *req) {
  if (!req || c->srv->cfg.no_handshake_copy) return 0;
  tc_buf_t b = {0};
  int r = put_field(&b, req->query);
  for (size_t i = 0; !r && i < req->num_headers; i++) {
    r = put_field(&b, req->headers[i].name);
    if (!r) r = put_field(&b, req->headers[i].value);
  }
  /* Kept for the session's life: in an allocation of its own size. */
  if (!r) r = tc__sio_bytes_set(&c->hs, tc_buf_data(&b), b.len);
  tc_buf_free(&b);
  return r;
}

/* Only called with a copy present. */
static tc_slice_t get_field(const sio_bytes_t *b, size_t *pos) {
  uint32_t n;
  memcpy(&n, b->p + *pos, sizeof n);
  tc_slice_t s = {b->p + *pos + sizeof n, n};
  *pos += sizeof n + n;
  return s;
}

int tc_sio_header(const tc_sio_socket_t *s, const char *name, tc_slice_t *value) {
  const sio_bytes_t *b = s->client->hs;
  if (!b) return 0;
  size_t pos = 0;
  get_field(b, &pos);
  while (pos < b->len) {
    tc_slice_t k = get_field(b, &pos);
    tc_slice_t v = get_field(b, &pos);
    if (tc_slice_ieq(k, name)) {
      *value = v;
      return 1;
    }
  }
  return 0;
}

tc_slice_t tc_sio_query(const tc_sio_socket_t *s) {
  const sio_bytes_t *b = s->client->hs;
  if (!b) return (tc_slice_t){0};
  size_t pos = 0;
  return get_field(b, &pos);
}

/* ---- Lifecycle ------------------------------------------------------------------------------- */

static void on_connect_timeout(sio_timer_t *t) {
  sio_client_t *c = (sio_client_t *)((char *)t - offsetof(sio_client_t, connect_timer));
  int joined = 0;
  for (tc_sio_socket_t *s = c->sockets; s; s = s->cnext) joined |= s->state == SOCK_CONNECTED;
  if (!joined) {
    tc_log(c->srv->cfg.log, TC_LOG_DEBUG, "sio", "no namespace joined in time: closing");
    tc__sio_client_close(c);
  }
}

sio_client_t *tc__sio_client_open(tc_sio_server_t *srv, void *conn,
                                  const tc_http_request_t *handshake) {
  sio_client_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->srv = srv;
  c->conn = conn;
  c->dec.max_attachments = srv->cfg.max_attachments;
  if (copy_handshake(c, handshake) < 0) {
    free(c);
    return NULL;
  }
  c->next = srv->clients;
  if (srv->clients) srv->clients->prev = c;
  srv->clients = c;
  srv->nclients++;
  c->connect_timer.fn = on_connect_timeout;
  tc__sio_timer_arm(srv, &c->connect_timer, srv->cfg.connect_timeout_ms);
  return c;
}

void tc__sio_client_free(sio_client_t *c) {
  tc_sio_decoder_reset(&c->dec);
  tc__sio_bytes_free(&c->hs);
  free(c);
}

/* Unlinks the client once nothing refers to it any more: no socket waits for a middleware. */
void tc__sio_client_release(sio_client_t *c) {
  if (!c->gone || c->busy || c->reaped) return;
  tc_sio_server_t *srv = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  srv->nclients--;
  tc__sio_timer_cancel(srv, &c->connect_timer);
  if (srv->freeing) {
    tc__sio_client_free(c);
    return;
  }
  tc__sio_reap_client(c);
}

/* Node's Client.onclose: every socket goes with the reason. */
static void client_onclose(sio_client_t *c, const char *reason) {
  tc_sio_socket_t *s = c->sockets;
  while (s) {
    tc_sio_socket_t *next = s->cnext;
    if (s->state == SOCK_CONNECTED) tc__sio_socket_onclose(s, reason);
    s = next;
  }
  tc_sio_decoder_reset(&c->dec);
}

void tc__sio_client_closed(sio_client_t *c, const char *reason) {
  c->conn = NULL;
  if (c->gone) return;
  c->gone = 1;
  c->closing = 1;
  client_onclose(c, reason);
  /* Sockets that never connected: a refused one is gone already; one whose middleware is
   * pending stays (and keeps the client) until tc_sio_next. */
  tc_sio_socket_t *s = c->sockets;
  while (s) {
    tc_sio_socket_t *next = s->cnext;
    if (!s->mw_pending && !s->in_mw && !s->restoring) tc__sio_socket_drop(s);
    s = next;
  }
  tc__sio_client_release(c);
}

void tc__sio_client_close(sio_client_t *c) {
  if (c->closing) return;
  c->closing = 1;
  /* Node closes the transport first, so nothing the handlers send goes out; then it reports
   * "forced server close". closing drops the output, the same way. */
  client_onclose(c, "forced server close");
  void *conn = c->conn;
  if (conn) c->srv->tr->close(conn);
}

/* A protocol fault: Node closes the transport and the sockets learn why from its close. */
static void client_fail(sio_client_t *c) {
  tc_log(c->srv->cfg.log, TC_LOG_DEBUG, "sio", "invalid packet: closing the session");
  if (c->closing) return;
  c->closing = 1;
  tc_sio_decoder_reset(&c->dec);
  if (c->conn) c->srv->tr->close(c->conn);
}

int tc__sio_client_write(sio_client_t *c, const tc_buf_t *text, const tc_slice_t *atts, size_t n) {
  if (c->closing || !c->conn) return TC_ECLOSED;
  const sio_transport_t *tr = c->srv->tr;
  int r = tr->send(c->conn, 0, tc_buf_data(text), text->len);
  for (size_t i = 0; !r && i < n; i++) r = tr->send(c->conn, 1, atts[i].p, atts[i].len);
  return r;
}

/* ---- Input ----------------------------------------------------------------------------------- */

static tc_sio_socket_t *socket_of(sio_client_t *c, tc_slice_t nsp) {
  for (tc_sio_socket_t *s = c->sockets; s; s = s->cnext)
    if (s->state == SOCK_CONNECTED && s->nsp->name_len == nsp.len &&
        memcmp(s->nsp->name, nsp.p, nsp.len) == 0)
      return s;
  return NULL;
}

static int refuse_invalid_namespace(sio_client_t *c, tc_slice_t name) {
  tc_sio_server_t *srv = c->srv;
  tc_buf_t *b = &srv->scratch;
  tc_buf_reset(b);
  tc_sio_packet_t p = {.type = TC_SIO_CONNECT_ERROR, .nsp = name};
  p.data = TC_SLICE_LIT("{\"message\":\"Invalid namespace\"}");
  int r = tc_sio_packet_encode(b, &p);
  return r ? r : tc__sio_client_write(c, b, NULL, 0);
}

static int socket_new(sio_client_t *c, tc_sio_nsp_t *nsp, tc_slice_t auth, tc_sio_socket_t **out) {
  tc_sio_socket_t *s = calloc(1, sizeof *s);
  if (!s) return TC_ENOMEM;
  s->nsp = nsp;
  s->client = c;
  /* The usual empty auth, "{}", is kept as nothing at all. */
  if (!(auth.len == 2 && memcmp(auth.p, "{}", 2) == 0) &&
      tc__sio_bytes_set(&s->auth, auth.p, auth.len) < 0) {
    free(s);
    return TC_ENOMEM;
  }
  s->cnext = c->sockets;
  c->sockets = s;
  nsp->pending++;
  *out = s;
  return 0;
}

/* The session lookup is done (at once for the in-memory adapter): a fresh identity unless it
 * was restored, then the middlewares (which Node skips for a restored socket by default). */
static void after_restore(tc_sio_socket_t *s, int restored) {
  sio_client_t *c = s->client;
  tc_sio_server_t *srv = c->srv;
  if (s->restoring) {
    s->restoring = 0;
    c->busy--;
  }
  if (restored < 0 || c->closing) {
    if (restored < 0) client_fail(c);
    tc__sio_socket_drop(s);
    if (c->gone) tc__sio_client_release(c);
    return;
  }
  if (!restored) {
    tc__sio_random_id(s->id);
    if (tc__sio_nsp_recovery(s->nsp)) tc__sio_random_id(s->pid);
  }
  if (restored && !srv->cfg.recovery_run_middlewares) s->mw_next = SIO_MW_DONE;
  tc__sio_socket_run_middlewares(s);
}

/* A recovery attempt names its session and the last offset the client saw, both strings. */
static int recovery_keys(tc_slice_t auth, char pid[24], char offset[24]) {
  tc_slice_t p, o;
  if (!auth.len || tc_json_object_get(auth, "pid", &p) != 1 ||
      tc_json_object_get(auth, "offset", &o) != 1 || tc_json_type(p) != TC_JSON_STRING ||
      tc_json_type(o) != TC_JSON_STRING)
    return 0;
  tc_buf_t b = {0};
  int ok = 1;
  for (int i = 0; ok && i < 2; i++) {
    tc_buf_reset(&b);
    char *out = i ? offset : pid;
    ok = tc_json_unescape(i ? o : p, &b) == 0 && b.len < 24 && !memchr(tc_buf_data(&b), 0, b.len);
    if (ok) {
      if (b.len) memcpy(out, tc_buf_data(&b), b.len);
      out[b.len] = 0;
    }
  }
  tc_buf_free(&b);
  return ok;
}

/* Node's Namespace._add: a new socket (restored when recovery finds its session), then the
 * middlewares, then the connection. */
static int client_connect(sio_client_t *c, tc_slice_t name, tc_slice_t auth) {
  tc_sio_server_t *srv = c->srv;
  tc_sio_nsp_t *nsp = tc__sio_nsp_for_connect(srv, name, auth.len ? auth : TC_SLICE_LIT("{}"));
  if (!nsp) return refuse_invalid_namespace(c, name);
  tc_sio_socket_t *s;
  int r = socket_new(c, nsp, auth, &s);
  if (r) return r;
  char pid[24], offset[24];
  if (tc__sio_nsp_recovery(nsp) && recovery_keys(auth, pid, offset)) {
    s->restoring = 1;
    c->busy++;
    nsp->adapter->restore_session(s, pid, offset, after_restore);
  } else {
    after_restore(s, 0);
  }
  return 0;
}

static void client_packet(sio_client_t *c, const tc_sio_message_t *m) {
  const tc_sio_packet_t *p = &m->pkt;
  tc_sio_socket_t *s = socket_of(c, p->nsp);
  if (!s && p->type == TC_SIO_CONNECT) {
    if (client_connect(c, p->nsp, p->data) < 0) client_fail(c);
    return;
  }
  if (!s || p->type == TC_SIO_CONNECT || p->type == TC_SIO_CONNECT_ERROR) {
    tc_log(c->srv->cfg.log, TC_LOG_DEBUG, "sio", "packet type %d in the wrong state", p->type);
    tc__sio_client_close(c);
    return;
  }
  switch (p->type) {
    case TC_SIO_EVENT:
    case TC_SIO_BINARY_EVENT:
      tc__sio_socket_dispatch(s, m);
      break;
    case TC_SIO_ACK:
    case TC_SIO_BINARY_ACK:
      tc__sio_socket_onack(s, m);
      break;
    case TC_SIO_DISCONNECT:
      tc__sio_socket_onclose(s, "client namespace disconnect");
      break;
  }
}

void tc__sio_client_message(sio_client_t *c, int binary, const uint8_t *p, size_t len) {
  if (c->closing) return;
  tc_sio_message_t m;
  int r = tc_sio_decoder_feed(&c->dec, binary, p, len, &m);
  if (r < 0) {
    client_fail(c);
    return;
  }
  if (r == 1) client_packet(c, &m);
}
