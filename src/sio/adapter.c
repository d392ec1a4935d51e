/* The in-memory adapter (Node's Adapter and SessionAwareAdapter): rooms and their members, the
 * selection of sockets for {rooms, except, flags}, broadcasts encoded once and shared, broadcasts
 * with acknowledgements, and the store that connection state recovery replays from. */
#include "sio_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Rooms ----------------------------------------------------------------------------------- */

/* Every connected socket is in the room named by its id, and most are alone in it: that
 * membership is kept in the socket (own_room), and the namespace's by_id map stands for the
 * room. A room of that name in the rooms map holds only the other sockets that joined it. */

static tc_sio_socket_t *own_room_socket(const tc_sio_nsp_t *nsp, const char *room, size_t len) {
  tc_sio_socket_t *s = tc__sio_map_get(&nsp->by_id, room, len);
  return s && s->in_own_room ? s : NULL;
}

static int member_is(const sio_member_t *m, const char *room, size_t len) {
  if (!m->room) return strlen(m->s->id) == len && memcmp(m->s->id, room, len) == 0;
  return m->room->len == len && memcmp(m->room->name, room, len) == 0;
}

const char *tc__sio_member_name(const sio_member_t *m) {
  return m->room ? m->room->name : m->s->id;
}

static int has_room(const tc_sio_socket_t *s, const char *room, size_t len) {
  for (const sio_member_t *m = s->rooms; m; m = m->snext)
    if (member_is(m, room, len)) return 1;
  return 0;
}

int tc__sio_rooms_has(const tc_sio_socket_t *s, const char *room) {
  return has_room(s, room, strlen(room));
}

static int add_room(tc_sio_socket_t *s, const char *room, size_t len) {
  if (has_room(s, room, len)) return 0;
  tc_sio_nsp_t *nsp = s->nsp;
  if (tc__sio_map_get(&nsp->by_id, room, len) == s) {
    sio_member_t *own = &s->own_room;
    *own = (sio_member_t){.s = s, .snext = s->rooms};
    s->rooms = own;
    s->in_own_room = 1;
    return 0;
  }
  sio_room_t *r = tc__sio_map_get(&nsp->rooms, room, len);
  sio_member_t *m = calloc(1, sizeof *m);
  if (!m) return TC_ENOMEM;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r || !(r->name = malloc(len + 1))) {
      free(r);
      free(m);
      return TC_ENOMEM;
    }
    memcpy(r->name, room, len);
    r->name[len] = 0;
    r->len = len;
    if (tc__sio_map_put(&nsp->rooms, r->name, len, r) < 0) {
      free(r->name);
      free(r);
      free(m);
      return TC_ENOMEM;
    }
  }
  m->room = r;
  m->s = s;
  m->rnext = r->head;
  if (r->head) r->head->rprev = m;
  r->head = m;
  r->count++;
  m->snext = s->rooms;
  s->rooms = m;
  return 0;
}

static void member_unlink(tc_sio_nsp_t *nsp, sio_member_t *m) {
  sio_room_t *r = m->room;
  if (!r) {
    m->s->in_own_room = 0;
    return;
  }
  if (m->rprev)
    m->rprev->rnext = m->rnext;
  else
    r->head = m->rnext;
  if (m->rnext) m->rnext->rprev = m->rprev;
  if (--r->count == 0) {
    tc__sio_map_del(&nsp->rooms, r->name, r->len);
    free(r->name);
    free(r);
  }
  free(m);
}

static int local_add_all(tc_sio_socket_t *s, const char *const *rooms, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int r = add_room(s, rooms[i], strlen(rooms[i]));
    if (r) return r;
  }
  return 0;
}

static int local_del(tc_sio_socket_t *s, const char *room) {
  size_t len = strlen(room);
  for (sio_member_t **pp = &s->rooms; *pp; pp = &(*pp)->snext) {
    sio_member_t *m = *pp;
    if (member_is(m, room, len)) {
      *pp = m->snext;
      member_unlink(s->nsp, m);
      return 0;
    }
  }
  return 0;
}

static void local_del_all(tc_sio_socket_t *s) {
  while (s->rooms) {
    sio_member_t *m = s->rooms;
    s->rooms = m->snext;
    member_unlink(s->nsp, m);
  }
}

/* ---- Selecting sockets ----------------------------------------------------------------------- */

typedef sio_sockvec_t sockvec_t;

static int vec_push(sockvec_t *v, tc_sio_socket_t *s) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    tc_sio_socket_t **n = realloc(v->v, cap * sizeof *n);
    if (!n) return TC_ENOMEM;
    v->v = n;
    v->cap = cap;
  }
  v->v[v->n++] = s;
  return 0;
}

/* The recipients, collected before anyone is called or written to, so that what a callback
 * does (another broadcast, a disconnection) cannot disturb the selection. Node's apply. */
static int select_sockets(tc_sio_nsp_t *nsp, const tc_sio_target_t *t, sockvec_t *out) {
  tc_sio_server_t *srv = nsp->srv;
  uint64_t gen = ++srv->generation;
  for (size_t i = 0; t && i < t->num_except; i++) {
    size_t len = strlen(t->except[i]);
    sio_room_t *r = tc__sio_map_get(&nsp->rooms, t->except[i], len);
    for (sio_member_t *m = r ? r->head : NULL; m; m = m->rnext) m->s->xmark = gen;
    tc_sio_socket_t *own = own_room_socket(nsp, t->except[i], len);
    if (own) own->xmark = gen;
  }
  if (t && t->num_rooms) {
    for (size_t i = 0; i < t->num_rooms; i++) {
      size_t len = strlen(t->rooms[i]);
      sio_room_t *r = tc__sio_map_get(&nsp->rooms, t->rooms[i], len);
      sio_member_t *m = r ? r->head : NULL;
      tc_sio_socket_t *s, *own = own_room_socket(nsp, t->rooms[i], len);
      /* The room's members, then the socket whose id names it. */
      while (m || own) {
        if (m) {
          s = m->s;
          m = m->rnext;
        } else {
          s = own;
          own = NULL;
        }
        if (s->state != SOCK_CONNECTED || s->xmark == gen || s->mark == gen) continue;
        s->mark = gen;
        if (vec_push(out, s) < 0) return TC_ENOMEM;
      }
    }
    return 0;
  }
  for (tc_sio_socket_t *s = nsp->first; s; s = s->nnext)
    if (s->xmark != gen && vec_push(out, s) < 0) return TC_ENOMEM;
  return 0;
}

/* The namespaces a target on nsp means: nsp itself, or every child of a dynamic one. */
static int each_nsp(tc_sio_nsp_t *nsp, int (*fn)(tc_sio_nsp_t *n, void *ud), void *ud) {
  if (!nsp->dynamic) return fn(nsp, ud);
  sockvec_t kids = {0};
  size_t i = 0;
  tc_sio_nsp_t *c;
  int r = 0;
  while ((c = tc__sio_map_next(&nsp->srv->nsps, &i)))
    if (c->parent == nsp && (r = vec_push(&kids, (tc_sio_socket_t *)c)) < 0) break;
  for (size_t k = 0; !r && k < kids.n; k++) r = fn((tc_sio_nsp_t *)kids.v[k], ud);
  free(kids.v);
  return r;
}

typedef struct {
  const tc_sio_target_t *t;
  void (*fn)(tc_sio_socket_t *s, void *ud);
  void *ud;
} apply_ctx_t;

static int apply_one(tc_sio_nsp_t *nsp, void *ud) {
  apply_ctx_t *a = ud;
  sockvec_t v = {0};
  int r = select_sockets(nsp, a->t, &v);
  for (size_t i = 0; !r && i < v.n; i++)
    if (v.v[i]->state == SOCK_CONNECTED) a->fn(v.v[i], a->ud);
  free(v.v);
  return r;
}

static void local_apply(tc_sio_nsp_t *nsp, const tc_sio_target_t *t,
                        void (*fn)(tc_sio_socket_t *s, void *ud), void *ud) {
  apply_ctx_t a = {t, fn, ud};
  each_nsp(nsp, apply_one, &a);
}

void tc_sio_each(tc_sio_nsp_t *nsp, const tc_sio_target_t *to,
                 void (*fn)(tc_sio_socket_t *s, void *ud), void *ud) {
  nsp->adapter->apply(nsp, to, fn, ud);
}

static void join_one(tc_sio_socket_t *s, void *ud) {
  const char *room = ud;
  (void)s->nsp->adapter->add_all(s, &room, 1);
}

static void leave_one(tc_sio_socket_t *s, void *ud) {
  (void)s->nsp->adapter->del(s, ud);
}

int tc_sio_sockets_join(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const char *room) {
  nsp->adapter->apply(nsp, to, join_one, (void *)room);
  return 0;
}

void tc_sio_sockets_leave(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const char *room) {
  nsp->adapter->apply(nsp, to, leave_one, (void *)room);
}

static void disconnect_one(tc_sio_socket_t *s, void *ud) {
  tc_sio_disconnect(s, *(int *)ud);
}

void tc_sio_disconnect_sockets(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, int close) {
  nsp->adapter->apply(nsp, to, disconnect_one, &close);
}

/* ---- The recovery store ---------------------------------------------------------------------- */

typedef struct sio_stored {
  struct sio_stored *next;
  char offset[24];
  char **rooms;
  size_t nrooms;
  char **except;
  size_t nexcept;
  tc_buf_t payload; /* the array, offset included */
  size_t natt;
  tc_buf_t bins;
  size_t *offs;
  uint64_t at;
} sio_stored_t;

struct sio_store {
  sio_map_t sessions; /* pid -> sio_session_t */
  sio_stored_t *head, *tail;
};

static void free_strv(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static char **copy_strv(const char *const *v, size_t n) {
  char **c = calloc(n ? n : 1, sizeof *c);
  if (!c) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(c[i] = strdup(v[i]))) {
      free_strv(c, i);
      return NULL;
    }
  }
  return c;
}

static void stored_free(sio_stored_t *p) {
  free_strv(p->rooms, p->nrooms);
  free_strv(p->except, p->nexcept);
  tc_buf_free(&p->payload);
  tc_buf_free(&p->bins);
  free(p->offs);
  free(p);
}

static void session_free(sio_session_t *s) {
  free_strv(s->rooms, s->nrooms);
  tc_buf_free(&s->data);
  free(s);
}

static sio_store_t *store_of(tc_sio_nsp_t *nsp) {
  if (!nsp->store) nsp->store = calloc(1, sizeof *nsp->store);
  return nsp->store;
}

/* Keeps a broadcast for the sockets that will come back: the payload text as sent (after the
 * head), the attachments, and the target to judge who missed it. */
static int store_packet(tc_sio_nsp_t *nsp, const tc_sio_target_t *t, const char *offset,
                        tc_slice_t payload, const tc_sio_emit_t *e) {
  sio_store_t *st = store_of(nsp);
  sio_stored_t *p = calloc(1, sizeof *p);
  if (!st || !p) {
    free(p);
    return TC_ENOMEM;
  }
  memcpy(p->offset, offset, strlen(offset) + 1);
  p->rooms = copy_strv(t ? t->rooms : NULL, t ? t->num_rooms : 0);
  p->except = copy_strv(t ? t->except : NULL, t ? t->num_except : 0);
  p->nrooms = p->rooms && t ? t->num_rooms : 0;
  p->nexcept = p->except && t ? t->num_except : 0;
  p->natt = e->num_attachments;
  p->offs = malloc((p->natt + 1) * sizeof *p->offs);
  int r = p->rooms && p->except && p->offs ? 0 : TC_ENOMEM;
  if (!r) r = tc_buf_append(&p->payload, payload.p, payload.len);
  if (!r) p->offs[0] = 0;
  for (size_t i = 0; !r && i < p->natt; i++) {
    r = tc_buf_append(&p->bins, e->attachments[i].p, e->attachments[i].len);
    p->offs[i + 1] = p->bins.len;
  }
  if (r) {
    stored_free(p);
    return r;
  }
  p->at = tc__sio_now(nsp->srv);
  if (st->tail)
    st->tail->next = p;
  else
    st->head = p;
  st->tail = p;
  return 0;
}

static void local_persist(tc_sio_socket_t *s) {
  sio_store_t *st = store_of(s->nsp);
  sio_session_t *ss = calloc(1, sizeof *ss);
  if (!st || !ss) goto fail;
  memcpy(ss->sid, s->id, sizeof ss->sid);
  memcpy(ss->pid, s->pid, sizeof ss->pid);
  size_t n = 0;
  for (sio_member_t *m = s->rooms; m; m = m->snext) n++;
  ss->rooms = calloc(n ? n : 1, sizeof *ss->rooms);
  if (!ss->rooms) goto fail;
  for (sio_member_t *m = s->rooms; m; m = m->snext) {
    if (!(ss->rooms[ss->nrooms] = strdup(tc__sio_member_name(m)))) goto fail;
    ss->nrooms++;
  }
  if (s->data && tc_buf_append(&ss->data, s->data->p, s->data->len) < 0) goto fail;
  ss->disconnected_at = tc__sio_now(s->nsp->srv);
  sio_session_t *old = tc__sio_map_get(&st->sessions, ss->pid, strlen(ss->pid));
  if (tc__sio_map_put(&st->sessions, ss->pid, strlen(ss->pid), ss) < 0) goto fail;
  if (old) session_free(old);
  return;
fail:
  /* Without memory the session is simply not recoverable: the client starts afresh. */
  if (ss) session_free(ss);
}

static int str_in(const char *s, char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, v[i])) return 1;
  return 0;
}

/* Node's shouldIncludePacket. */
static int missed(const sio_session_t *ss, const sio_stored_t *p) {
  int included = p->nrooms == 0;
  for (size_t i = 0; i < ss->nrooms; i++) {
    if (str_in(ss->rooms[i], p->except, p->nexcept)) return 0;
    if (!included && str_in(ss->rooms[i], p->rooms, p->nrooms)) included = 1;
  }
  return included;
}

static void replay(tc_sio_socket_t *s, const sio_stored_t *p) {
  tc_sio_server_t *srv = s->nsp->srv;
  tc_slice_t atts[64];
  tc_slice_t *a = p->natt <= 64 ? atts : malloc(p->natt * sizeof *a);
  if (!a) return;
  for (size_t i = 0; i < p->natt; i++) {
    const uint8_t *base = tc_buf_data(&p->bins);
    a[i] = (tc_slice_t){base ? base + p->offs[i] : base, p->offs[i + 1] - p->offs[i]};
  }
  int r = tc__sio_encode_head(srv, TC_SIO_EVENT, p->natt, s->nsp, -1);
  if (!r) r = tc_buf_append(&srv->scratch, tc_buf_data(&p->payload), p->payload.len);
  if (!r) tc__sio_client_write(s->client, &srv->scratch, a, p->natt);
  if (a != atts) free(a);
}

static int local_restore_one(tc_sio_socket_t *s, const char *pid, const char *offset) {
  tc_sio_nsp_t *nsp = s->nsp;
  sio_store_t *st = nsp->store;
  if (!st) return 0;
  sio_session_t *ss = tc__sio_map_get(&st->sessions, pid, strlen(pid));
  if (!ss) return 0;
  if (ss->disconnected_at + nsp->srv->cfg.recovery_max_disconnection_ms < tc__sio_now(nsp->srv)) {
    tc__sio_map_del(&st->sessions, pid, strlen(pid));
    session_free(ss);
    return 0;
  }
  /* Node keeps the session after a restore; a second socket with the same id must not come of
   * it while the first is connected. */
  if (tc_sio_nsp_socket(nsp, ss->sid)) return 0;
  sio_stored_t *p = st->head;
  while (p && strcmp(p->offset, offset) != 0) p = p->next;
  if (!p) return 0;
  memcpy(s->id, ss->sid, sizeof s->id);
  memcpy(s->pid, ss->pid, sizeof s->pid);
  if (local_add_all(s, (const char *const *)ss->rooms, ss->nrooms) < 0) return TC_ENOMEM;
  if (tc__sio_bytes_set(&s->data, tc_buf_data(&ss->data), ss->data.len) < 0) return TC_ENOMEM;
  s->recovered = 1;
  /* Sent before the CONNECT answer, as Node does: the client buffers them until it is
   * connected. */
  for (p = p->next; p; p = p->next)
    if (missed(ss, p)) replay(s, p);
  return 1;
}

static void local_restore(tc_sio_socket_t *s, const char *pid, const char *offset,
                          void (*done)(tc_sio_socket_t *s, int restored)) {
  done(s, local_restore_one(s, pid, offset));
}

static void local_sweep(tc_sio_nsp_t *nsp) {
  tc_sio_server_t *srv = nsp->srv;
  sio_store_t *st = nsp->store;
  if (!st) return;
  uint64_t now = tc__sio_now(srv), max = srv->cfg.recovery_max_disconnection_ms;
  uint64_t threshold = now > max ? now - max : 0;
  for (;;) {
    size_t i = 0;
    sio_session_t *ss;
    while ((ss = tc__sio_map_next(&st->sessions, &i)) && ss->disconnected_at >= threshold) {
    }
    if (!ss) break;
    tc__sio_map_del(&st->sessions, ss->pid, strlen(ss->pid));
    session_free(ss);
  }
  while (st->head && st->head->at < threshold) {
    sio_stored_t *p = st->head;
    st->head = p->next;
    if (!st->head) st->tail = NULL;
    stored_free(p);
  }
}

static void local_close(tc_sio_nsp_t *nsp) {
  size_t i = 0;
  sio_room_t *r;
  for (tc_sio_socket_t *s = nsp->first; s; s = s->nnext) {
    if (!s->in_own_room) continue;
    for (sio_member_t **pp = &s->rooms; *pp; pp = &(*pp)->snext) {
      if (*pp == &s->own_room) {
        *pp = s->own_room.snext;
        break;
      }
    }
    s->in_own_room = 0;
  }
  /* Rooms of sockets still listed are released with their members. */
  while ((r = tc__sio_map_next(&nsp->rooms, &i))) {
    while (r->head) {
      sio_member_t *m = r->head;
      r->head = m->rnext;
      for (sio_member_t **pp = &m->s->rooms; *pp; pp = &(*pp)->snext) {
        if (*pp == m) {
          *pp = m->snext;
          break;
        }
      }
      free(m);
    }
    free(r->name);
    free(r);
  }
  tc__sio_map_free(&nsp->rooms);
  sio_store_t *st = nsp->store;
  if (!st) return;
  i = 0;
  sio_session_t *ss;
  while ((ss = tc__sio_map_next(&st->sessions, &i))) session_free(ss);
  tc__sio_map_free(&st->sessions);
  while (st->head) {
    sio_stored_t *p = st->head;
    st->head = p->next;
    stored_free(p);
  }
  free(st);
  nsp->store = NULL;
}

/* ---- Broadcasting ---------------------------------------------------------------------------- */

typedef struct {
  const tc_sio_target_t *t;
  const tc_sio_emit_t *e;
  int64_t ack_id;
  sio_bcast_ack_t *op;
} bcast_ctx_t;

static int broadcast_one(tc_sio_nsp_t *nsp, void *ud) {
  bcast_ctx_t *b = ud;
  const tc_sio_emit_t *e = b->e;
  tc_sio_server_t *srv = nsp->srv;
  char offset[24];
  const char *off = NULL;
  /* Node keeps plain events only: an acknowledgement cannot be replayed, a volatile packet
   * may be lost anyway. */
  int vol = e->is_volatile || (b->t && b->t->is_volatile);
  if (tc__sio_nsp_recovery(nsp) && b->ack_id < 0 && !vol) {
    tc__sio_offset(srv, offset);
    off = offset;
  }
  int r = tc__sio_encode_head(srv, TC_SIO_EVENT, e->num_attachments, nsp, b->ack_id);
  size_t head = srv->scratch.len;
  if (!r) r = tc__sio_encode_event_body(srv, e->event, e->args, off);
  if (!r && off) {
    tc_slice_t payload = {tc_buf_data(&srv->scratch) + head, srv->scratch.len - head};
    r = store_packet(nsp, b->t, off, payload, e);
  }
  /* The list of the previous broadcast, reused; a broadcast made while this one sends (none
   * is today) would take a fresh one. */
  sockvec_t v = srv->recipients;
  srv->recipients = (sockvec_t){0};
  v.n = 0;
  if (!r) r = select_sockets(nsp, b->t, &v);
  size_t nmsg = 1 + e->num_attachments;
  void **msgs = r || !v.n ? NULL : calloc(nmsg, sizeof *msgs);
  if (!r && v.n && !msgs) r = TC_ENOMEM;
  for (size_t i = 0; !r && msgs && i < nmsg; i++) {
    const void *p = i ? e->attachments[i - 1].p : tc_buf_data(&srv->scratch);
    size_t len = i ? e->attachments[i - 1].len : srv->scratch.len;
    if (!(msgs[i] = srv->tr->shared_new(i > 0, p, len))) r = TC_ENOMEM;
  }
  for (size_t k = 0; !r && msgs && k < v.n; k++) {
    tc_sio_socket_t *s = v.v[k];
    sio_client_t *c = s->client;
    if (c->closing || !c->conn || (vol && !srv->tr->writable(c->conn))) continue;
    if (b->op) tc__sio_bcast_ack_register(b->op, s, (uint64_t)b->ack_id);
    for (size_t i = 0; i < nmsg && c->conn; i++) srv->tr->send_shared(c->conn, msgs[i]);
  }
  for (size_t i = 0; msgs && i < nmsg; i++)
    if (msgs[i]) srv->tr->shared_unref(msgs[i]);
  free(msgs);
  if (!srv->recipients.v && v.cap <= 65536)
    srv->recipients = v;
  else
    free(v.v);
  return r;
}

static int local_broadcast(tc_sio_nsp_t *nsp, const tc_sio_target_t *t, const tc_sio_emit_t *e,
                           int64_t ack_id, sio_bcast_ack_t *op) {
  bcast_ctx_t b = {t, e, ack_id, op};
  return each_nsp(nsp, broadcast_one, &b);
}

int tc_sio_broadcast(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const tc_sio_emit_t *e) {
  int r = tc__sio_emit_check(e);
  if (r) return r;
  if (e->ack) return TC_EINVAL;
  return nsp->adapter->broadcast(nsp, to, e, -1, NULL);
}

int tc_sio_socket_broadcast(tc_sio_socket_t *s, const tc_sio_target_t *to, const tc_sio_emit_t *e) {
  tc_sio_target_t t = to ? *to : (tc_sio_target_t){0};
  const char *stack[8];
  size_t n = t.num_except + 1;
  const char **ex = n <= 8 ? stack : malloc(n * sizeof *ex);
  if (!ex) return TC_ENOMEM;
  for (size_t i = 0; i < t.num_except; i++) ex[i] = t.except[i];
  ex[n - 1] = s->id;
  t.except = ex;
  t.num_except = n;
  int r = tc_sio_broadcast(s->nsp, &t, e);
  if (ex != stack) free(ex);
  return r;
}

/* ---- Broadcasts with acknowledgements -------------------------------------------------------- */

typedef struct reply_copy {
  tc_buf_t buf; /* args, then the attachments */
  size_t args_len;
  size_t natt;
  size_t *offs;
} reply_copy_t;

static void entry_unlink_op(sio_ack_t *a) {
  sio_bcast_ack_t *op = a->op;
  if (a->oprev)
    a->oprev->onext = a->onext;
  else
    op->entries = a->onext;
  if (a->onext) a->onext->oprev = a->oprev;
}

static void entry_unlink_socket(sio_ack_t *a) {
  for (sio_ack_t **pp = &a->s->acks; *pp; pp = &(*pp)->next) {
    if (*pp == a) {
      *pp = a->next;
      return;
    }
  }
}

void tc__sio_bcast_ack_register(sio_bcast_ack_t *op, tc_sio_socket_t *s, uint64_t id) {
  sio_ack_t *a = calloc(1, sizeof *a);
  /* Without memory this socket's answer cannot be counted: it is not expected either, so the
   * broadcast may complete without it rather than time out. */
  if (!a) return;
  a->id = id;
  a->s = s;
  a->op = op;
  a->next = s->acks;
  s->acks = a;
  a->onext = op->entries;
  if (op->entries) op->entries->oprev = a;
  op->entries = a;
  op->expected++;
}

static void op_complete(sio_bcast_ack_t *op, int err) {
  tc_sio_server_t *srv = op->nsp->srv;
  tc__sio_timer_cancel(srv, &op->timer);
  while (op->entries) {
    sio_ack_t *a = op->entries;
    entry_unlink_op(a);
    entry_unlink_socket(a);
    free(a);
  }
  if (op->prev)
    op->prev->next = op->next;
  else
    srv->ops = op->next;
  if (op->next) op->next->prev = op->prev;
  size_t n = op->nreplies;
  tc_sio_reply_t *replies = calloc(n ? n : 1, sizeof *replies);
  tc_slice_t *atts = NULL;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += op->copies[i].natt;
  if (total) atts = calloc(total, sizeof *atts);
  size_t k = 0;
  for (size_t i = 0; replies && i < n && (atts || !total); i++) {
    reply_copy_t *c = &op->copies[i];
    const uint8_t *base = tc_buf_data(&c->buf);
    replies[i].args = (tc_slice_t){base, c->args_len};
    replies[i].attachments = c->natt ? atts + k : NULL;
    replies[i].num_attachments = c->natt;
    for (size_t j = 0; j < c->natt; j++)
      atts[k++] = (tc_slice_t){base + c->offs[j], c->offs[j + 1] - c->offs[j]};
  }
  int ok = replies && (atts || !total);
  tc_sio_nsp_t *nsp = op->nsp;
  op->fn(nsp, ok ? err : TC_ENOMEM, ok ? replies : NULL, ok ? n : 0, op->ud);
  free(replies);
  free(atts);
  for (size_t i = 0; i < n; i++) {
    tc_buf_free(&op->copies[i].buf);
    free(op->copies[i].offs);
  }
  free(op->copies);
  free(op);
  nsp->ops--;
  tc__sio_nsp_maybe_cleanup(nsp);
}

static int copy_reply(sio_bcast_ack_t *op, const tc_sio_reply_t *r) {
  if (op->nreplies == op->capreplies) {
    size_t cap = op->capreplies ? op->capreplies * 2 : 4;
    reply_copy_t *c = realloc(op->copies, cap * sizeof *c);
    if (!c) return TC_ENOMEM;
    op->copies = c;
    op->capreplies = cap;
  }
  reply_copy_t *c = &op->copies[op->nreplies];
  memset(c, 0, sizeof *c);
  c->offs = malloc((r->num_attachments + 1) * sizeof *c->offs);
  int e = c->offs ? 0 : TC_ENOMEM;
  if (!e && r->args.len) e = tc_buf_append(&c->buf, r->args.p, r->args.len);
  c->args_len = r->args.len;
  if (!e) c->offs[0] = c->buf.len;
  for (size_t i = 0; !e && i < r->num_attachments; i++) {
    e = tc_buf_append(&c->buf, r->attachments[i].p, r->attachments[i].len);
    c->offs[i + 1] = c->buf.len;
  }
  c->natt = r->num_attachments;
  if (e) {
    tc_buf_free(&c->buf);
    free(c->offs);
    return e;
  }
  op->nreplies++;
  return 0;
}

void tc__sio_bcast_ack_reply(sio_ack_t *a, const tc_sio_reply_t *reply) {
  sio_bcast_ack_t *op = a->op;
  entry_unlink_op(a);
  free(a);
  if (copy_reply(op, reply) < 0) op->expected--; /* counted as answered, without its words */
  if (op->nreplies >= op->expected) op_complete(op, 0);
}

void tc__sio_bcast_ack_forget(sio_ack_t *a) {
  entry_unlink_op(a);
  free(a);
}

static void on_op_timer(sio_timer_t *t) {
  sio_bcast_ack_t *op = (sio_bcast_ack_t *)((char *)t - offsetof(sio_bcast_ack_t, timer));
  op_complete(op, op->nreplies >= op->expected ? 0 : TC_ETIMEDOUT);
}

int tc_sio_broadcast_ack(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const tc_sio_emit_t *e,
                         uint64_t timeout_ms, tc_sio_broadcast_ack_fn fn, void *ud) {
  int r = tc__sio_emit_check(e);
  if (r) return r;
  if (!fn || !timeout_ms || nsp->dynamic) return TC_EINVAL;
  tc_sio_server_t *srv = nsp->srv;
  sio_bcast_ack_t *op = calloc(1, sizeof *op);
  if (!op) return TC_ENOMEM;
  op->nsp = nsp;
  op->fn = fn;
  op->ud = ud;
  op->timer.fn = on_op_timer;
  tc_sio_emit_t plain = *e;
  plain.ack = NULL;
  r = nsp->adapter->broadcast(nsp, to, &plain, (int64_t)nsp->next_ack_id++, op);
  if (r) {
    while (op->entries) {
      sio_ack_t *a = op->entries;
      entry_unlink_op(a);
      entry_unlink_socket(a);
      free(a);
    }
    free(op);
    return r;
  }
  op->next = srv->ops;
  if (srv->ops) srv->ops->prev = op;
  srv->ops = op;
  nsp->ops++;
  /* Nobody to wait for: the callback still comes from the loop, never from in here. */
  tc__sio_timer_arm(srv, &op->timer, op->expected ? timeout_ms : 0);
  return 0;
}

void tc__sio_bcast_ack_close_all(tc_sio_server_t *srv) {
  while (srv->ops) op_complete(srv->ops, TC_ECLOSED);
}

const sio_adapter_ops_t tc__sio_adapter_local = {
    .add_all = local_add_all,
    .del = local_del,
    .del_all = local_del_all,
    .apply = local_apply,
    .broadcast = local_broadcast,
    .persist_session = local_persist,
    .restore_session = local_restore,
    .sweep = local_sweep,
    .close = local_close,
};
