/* A socket: one client in one namespace (Node's Socket). Middlewares and connection, events and
 * acknowledgements in both directions, disconnection, and the socket's public API. */
#include "sio_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const reserved_emit[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

/* The reasons after which Node keeps the session for recovery: the client did not mean to go. */
static const char *const recoverable[] = {
    "transport error", "transport close",      "forced close",
    "ping timeout",    "server shutting down", "forced server close",
};

static int in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

/* ---- Encoding -------------------------------------------------------------------------------- */

int tc__sio_encode_head(tc_sio_server_t *srv, int type, size_t natt, const tc_sio_nsp_t *nsp,
                        int64_t id) {
  tc_buf_t *b = &srv->scratch;
  tc_buf_reset(b);
  if (natt) type = type == TC_SIO_EVENT ? TC_SIO_BINARY_EVENT : TC_SIO_BINARY_ACK;
  char t = (char)('0' + type);
  int r = tc_buf_append(b, &t, 1);
  if (!r && natt) {
    r = tc_buf_append_u64(b, natt);
    if (!r) r = tc_buf_append(b, "-", 1);
  }
  if (!r && !(nsp->name_len == 1 && nsp->name[0] == '/')) {
    r = tc_buf_append(b, nsp->name, nsp->name_len);
    if (!r) r = tc_buf_append(b, ",", 1);
  }
  if (!r && id >= 0) r = tc_buf_append_u64(b, (uint64_t)id);
  return r;
}

int tc__sio_encode_event_body(tc_sio_server_t *srv, const char *event, tc_slice_t args,
                              const char *offset) {
  tc_buf_t *b = &srv->scratch;
  int r = tc_buf_append(b, "[", 1);
  if (!r) r = tc_json_escape(b, event, strlen(event));
  if (!r && args.len) {
    r = tc_buf_append(b, ",", 1);
    if (!r) r = tc_buf_append(b, args.p, args.len);
  }
  if (!r && offset) {
    r = tc_buf_append(b, ",\"", 2);
    if (!r) r = tc_buf_append_str(b, offset);
    if (!r) r = tc_buf_append(b, "\"", 1);
  }
  return r ? r : tc_buf_append(b, "]", 1);
}

int tc__sio_emit_check(const tc_sio_emit_t *e) {
  if (!e || !e->event) return TC_EINVAL;
  if (in_list(e->event, reserved_emit, sizeof reserved_emit / sizeof *reserved_emit))
    return TC_EINVAL;
  if (tc_utf8_check((const uint8_t *)e->event, strlen(e->event)) < 0) return TC_EINVAL;
  if (e->num_attachments && !e->attachments) return TC_EINVAL;
  return tc_json_list_check(e->args.p, e->args.len, NULL) < 0 ? TC_EINVAL : 0;
}

/* ---- Acknowledgements we wait for ------------------------------------------------------------ */

static void ack_unlink(sio_ack_t *a) {
  for (sio_ack_t **pp = &a->s->acks; *pp; pp = &(*pp)->next) {
    if (*pp == a) {
      *pp = a->next;
      return;
    }
  }
}

static void on_ack_timeout(sio_timer_t *t) {
  sio_ack_t *a = (sio_ack_t *)((char *)t - offsetof(sio_ack_t, timer));
  ack_unlink(a);
  a->fn(a->s, TC_ETIMEDOUT, NULL, a->ud);
  free(a);
}

static sio_ack_t *ack_register(tc_sio_socket_t *s, uint64_t id, tc_sio_ack_fn fn, void *ud,
                               uint64_t timeout_ms) {
  sio_ack_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->id = id;
  a->s = s;
  a->fn = fn;
  a->ud = ud;
  a->next = s->acks;
  s->acks = a;
  a->timer.fn = on_ack_timeout;
  if (timeout_ms) tc__sio_timer_arm(s->nsp->srv, &a->timer, timeout_ms);
  return a;
}

static void ack_drop(sio_ack_t *a) {
  ack_unlink(a);
  tc__sio_timer_cancel(a->s->nsp->srv, &a->timer);
  free(a);
}

void tc__sio_socket_fail_acks(tc_sio_socket_t *s) {
  while (s->acks) {
    sio_ack_t *a = s->acks;
    ack_unlink(a);
    tc__sio_timer_cancel(s->nsp->srv, &a->timer);
    if (a->op) {
      tc__sio_bcast_ack_forget(a);
    } else {
      a->fn(s, TC_ECLOSED, NULL, a->ud);
      free(a);
    }
  }
}

void tc__sio_socket_onack(tc_sio_socket_t *s, const tc_sio_message_t *m) {
  if (!m->pkt.has_id) return;
  sio_ack_t *a = s->acks;
  while (a && a->id != m->pkt.id) a = a->next;
  if (!a) return; /* unknown or late: Node ignores it */
  ack_unlink(a);
  tc__sio_timer_cancel(s->nsp->srv, &a->timer);
  tc_sio_reply_t reply = {m->pkt.args, m->attachments, m->num_attachments};
  if (a->op) {
    tc__sio_bcast_ack_reply(a, &reply);
  } else {
    a->fn(s, 0, &reply, a->ud);
    free(a);
  }
}

/* ---- Emitting -------------------------------------------------------------------------------- */

static int socket_gone(const tc_sio_socket_t *s) {
  return s->state == SOCK_DONE || s->client->closing;
}

int tc_sio_send(tc_sio_socket_t *s, const tc_sio_emit_t *e) {
  int r = tc__sio_emit_check(e);
  if (r) return r;
  if (socket_gone(s)) return TC_ECLOSED;
  tc_sio_nsp_t *nsp = s->nsp;
  tc_sio_server_t *srv = nsp->srv;
  sio_ack_t *a = NULL;
  int64_t id = -1;
  if (e->ack) {
    id = (int64_t)nsp->next_ack_id++;
    a = ack_register(s, (uint64_t)id, e->ack, e->ack_ud, e->timeout_ms);
    if (!a) return TC_ENOMEM;
  }
  if (tc__sio_nsp_recovery(nsp)) {
    /* As in Node: through the adapter, so that the packet gets an offset and is kept. */
    const char *room = s->id;
    tc_sio_target_t t = {.rooms = &room, .num_rooms = 1, .is_volatile = e->is_volatile};
    r = nsp->adapter->broadcast(nsp, &t, e, id, NULL);
  } else if (e->is_volatile && !srv->tr->writable(s->client->conn)) {
    r = 0;
  } else {
    r = tc__sio_encode_head(srv, TC_SIO_EVENT, e->num_attachments, nsp, id);
    if (!r) r = tc__sio_encode_event_body(srv, e->event, e->args, NULL);
    if (!r) r = tc__sio_client_write(s->client, &srv->scratch, e->attachments, e->num_attachments);
  }
  if (r && a) ack_drop(a);
  return r;
}

int tc_sio_emit(tc_sio_socket_t *s, const char *event, tc_slice_t args) {
  tc_sio_emit_t e = {.event = event, .args = args};
  return tc_sio_send(s, &e);
}

/* The elements of a jansson array as a bare list: its dump without the brackets. */
static int json_args(const struct json_t *args, char **out, tc_slice_t *list) {
  *out = NULL;
  *list = (tc_slice_t){0};
  if (!args) return 0;
  if (!json_is_array(args)) return TC_EINVAL;
  char *d = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!d) return TC_ENOMEM;
  size_t n = strlen(d);
  *out = d;
  *list = (tc_slice_t){(const uint8_t *)d + 1, n - 2};
  return 0;
}

struct json_t *tc_sio_args_json(tc_slice_t args) {
  tc_buf_t b = {0};
  json_t *j = NULL;
  if (!tc_buf_append(&b, "[", 1) && !(args.len && tc_buf_append(&b, args.p, args.len)) &&
      !tc_buf_append(&b, "]", 1))
    j = json_loadb((const char *)tc_buf_data(&b), b.len, JSON_ALLOW_NUL, NULL);
  tc_buf_free(&b);
  return j;
}

int tc_sio_emit_json(tc_sio_socket_t *s, const char *event, const struct json_t *args) {
  char *d;
  tc_slice_t list;
  int r = json_args(args, &d, &list);
  if (r) return r;
  r = tc_sio_emit(s, event, list);
  free(d);
  return r;
}

int tc_sio_ack_bin(tc_sio_socket_t *s, int64_t ack_id, tc_slice_t args,
                   const tc_slice_t *attachments, size_t num_attachments) {
  if (ack_id < 0 || (num_attachments && !attachments)) return TC_EINVAL;
  if (tc_json_list_check(args.p, args.len, NULL) < 0) return TC_EINVAL;
  if (socket_gone(s)) return TC_ECLOSED;
  tc_sio_server_t *srv = s->nsp->srv;
  int r = tc__sio_encode_head(srv, TC_SIO_ACK, num_attachments, s->nsp, ack_id);
  if (!r) r = tc_buf_append(&srv->scratch, "[", 1);
  if (!r && args.len) r = tc_buf_append(&srv->scratch, args.p, args.len);
  if (!r) r = tc_buf_append(&srv->scratch, "]", 1);
  return r ? r : tc__sio_client_write(s->client, &srv->scratch, attachments, num_attachments);
}

int tc_sio_ack(tc_sio_socket_t *s, int64_t ack_id, tc_slice_t args) {
  return tc_sio_ack_bin(s, ack_id, args, NULL, 0);
}

int tc_sio_ack_json(tc_sio_socket_t *s, int64_t ack_id, const struct json_t *args) {
  char *d;
  tc_slice_t list;
  int r = json_args(args, &d, &list);
  if (r) return r;
  r = tc_sio_ack(s, ack_id, list);
  free(d);
  return r;
}

/* ---- Incoming events ------------------------------------------------------------------------- */

void tc__sio_socket_dispatch(tc_sio_socket_t *s, const tc_sio_message_t *m) {
  tc_sio_server_t *srv = s->nsp->srv;
  const tc_sio_packet_t *p = &m->pkt;
  tc_buf_t *name = &srv->name;
  tc_buf_reset(name);
  int r = tc_json_type(p->event) == TC_JSON_STRING ? tc_json_unescape(p->event, name)
                                                   : tc_buf_append(name, p->event.p, p->event.len);
  if (!r) r = tc_buf_append(name, "", 1);
  if (r) return; /* out of memory: the event is lost, as a packet would be */
  tc_sio_event_t ev = {
      .name = (const char *)tc_buf_data(name),
      .name_len = name->len - 1,
      .args = p->args,
      .attachments = m->attachments,
      .num_attachments = m->num_attachments,
      .ack_id = p->has_id && p->id <= (uint64_t)INT64_MAX ? (int64_t)p->id : -1,
  };
  tc_sio_nsp_t *nsp = s->nsp;
  tc_sio_event_fn any = nsp->any;
  void *any_ud = nsp->any_ud;
  if (!any && nsp->parent) {
    any = nsp->parent->any;
    any_ud = nsp->parent->any_ud;
  }
  if (any) any(s, &ev, any_ud);
  if (s->state != SOCK_CONNECTED) return;
  const sio_handler_t *h = tc__sio_nsp_handler(nsp, ev.name, ev.name_len);
  if (h) h->fn(s, &ev, h->ud);
}

/* ---- Connecting ------------------------------------------------------------------------------ */

static void socket_unlink_client(tc_sio_socket_t *s) {
  for (tc_sio_socket_t **pp = &s->client->sockets; *pp; pp = &(*pp)->cnext) {
    if (*pp == s) {
      *pp = s->cnext;
      return;
    }
  }
}

/* A socket that never connected leaves for good (refused, or its client went). */
void tc__sio_socket_drop(tc_sio_socket_t *s) {
  if (s->state == SOCK_DONE) return;
  if (s->state == SOCK_NEW) s->nsp->pending--;
  s->nsp->adapter->del_all(s);
  socket_unlink_client(s);
  s->state = SOCK_DONE;
  tc__sio_socket_fail_acks(s);
  tc__sio_reap_socket(s);
  tc__sio_nsp_maybe_cleanup(s->nsp);
}

static void send_connect(tc_sio_socket_t *s) {
  tc_sio_server_t *srv = s->nsp->srv;
  tc_buf_t *b = &srv->scratch;
  tc_buf_reset(b);
  tc_sio_packet_t p = {.type = TC_SIO_CONNECT};
  p.nsp = (tc_slice_t){(const uint8_t *)s->nsp->name, s->nsp->name_len};
  int r = tc_sio_packet_encode(b, &p);
  if (!r) r = tc_buf_appendf(b, "{\"sid\":\"%s\"", s->id);
  if (!r && s->pid[0]) r = tc_buf_appendf(b, ",\"pid\":\"%s\"", s->pid);
  if (!r) r = tc_buf_append(b, "}", 1);
  if (!r) tc__sio_client_write(s->client, b, NULL, 0);
}

static void send_connect_error(tc_sio_socket_t *s) {
  tc_sio_server_t *srv = s->nsp->srv;
  tc_buf_t *b = &srv->scratch;
  tc_buf_reset(b);
  tc_sio_packet_t p = {.type = TC_SIO_CONNECT_ERROR};
  p.nsp = (tc_slice_t){(const uint8_t *)s->nsp->name, s->nsp->name_len};
  const char *msg = s->err ? s->err->msg : "Refused";
  if (tc_utf8_check((const uint8_t *)msg, strlen(msg)) < 0) msg = "Refused";
  int r = tc_sio_packet_encode(b, &p);
  if (!r) r = tc_buf_append_str(b, "{\"message\":");
  if (!r) r = tc_json_escape(b, msg, strlen(msg));
  if (!r && s->err && s->err->data_len) {
    r = tc_buf_append_str(b, ",\"data\":");
    if (!r) r = tc_buf_append(b, s->err->data, s->err->data_len);
  }
  if (!r) r = tc_buf_append(b, "}", 1);
  if (!r) tc__sio_client_write(s->client, b, NULL, 0);
}

/* Calls a namespace callback: the parent's first for a child, then the namespace's own. */
#define NSP_CALL(nsp, s, member, ...)                                                              \
  do {                                                                                             \
    tc_sio_nsp_t *nsp_ = (nsp);                                                                    \
    if (nsp_->parent && nsp_->parent->h.member)                                                    \
      nsp_->parent->h.member((s), __VA_ARGS__, nsp_->parent->h_ud);                                \
    if (nsp_->h.member) nsp_->h.member((s), __VA_ARGS__, nsp_->h_ud);                              \
  } while (0)

static void do_connect(tc_sio_socket_t *s) {
  tc_sio_nsp_t *nsp = s->nsp;
  tc_sio_server_t *srv = nsp->srv;
  if (tc__sio_map_put(&nsp->by_id, s->id, strlen(s->id), s) < 0 ||
      nsp->adapter->add_all(s, (const char *const[]){s->id}, 1) < 0) {
    tc__sio_map_del(&nsp->by_id, s->id, strlen(s->id));
    tc__sio_client_close(s->client);
    tc__sio_socket_drop(s);
    return;
  }
  s->state = SOCK_CONNECTED;
  nsp->pending--;
  s->nprev = nsp->last;
  if (nsp->last)
    nsp->last->nnext = s;
  else
    nsp->first = s;
  nsp->last = s;
  nsp->count++;
  send_connect(s);
  tc__sio_timer_cancel(srv, &s->client->connect_timer);
  if (nsp->parent && nsp->parent->h.on_connection)
    nsp->parent->h.on_connection(s, nsp->parent->h_ud);
  if (s->state == SOCK_CONNECTED && nsp->h.on_connection) nsp->h.on_connection(s, nsp->h_ud);
}

static void mw_finish(tc_sio_socket_t *s, int refused) {
  if (s->state != SOCK_NEW) return; /* dropped while a middleware ran */
  if (s->client->closing) {
    tc__sio_socket_drop(s);
    return;
  }
  if (refused) {
    send_connect_error(s);
    tc__sio_socket_drop(s);
    return;
  }
  do_connect(s);
}

void tc__sio_socket_run_middlewares(tc_sio_socket_t *s) {
  for (;;) {
    const sio_mw_t *mw = s->mw_next == SIO_MW_DONE ? NULL : tc__sio_nsp_mw(s->nsp, s->mw_next);
    if (!mw || s->client->closing) {
      mw_finish(s, 0);
      return;
    }
    s->mw_next++;
    s->in_mw = 1;
    int r = mw->fn(s, mw->ud);
    s->in_mw = 0;
    if (s->early_next) {
      /* tc_sio_next came before the middleware returned: its word decides. */
      s->early_next = 0;
      r = s->early_refused ? TC_SIO_REFUSED : TC_SIO_NEXT;
    }
    if (r == TC_SIO_NEXT) continue;
    if (r == TC_SIO_PENDING) {
      s->mw_pending = 1;
      s->client->busy++;
      return;
    }
    mw_finish(s, 1);
    return;
  }
}

static int set_error(tc_sio_socket_t *s, const char *message, tc_slice_t data) {
  free(s->err);
  if (!message) message = "Refused";
  /* Data that is not JSON would make the whole packet unreadable: it is left out. */
  if (data.len && tc_json_check(data.p, data.len) < 0) data.len = 0;
  size_t mlen = strlen(message);
  s->err = malloc(sizeof *s->err + data.len + mlen + 1);
  if (s->err) {
    s->err->data_len = data.len;
    if (data.len) memcpy(s->err->data, data.p, data.len);
    s->err->msg = (char *)s->err->data + data.len;
    memcpy(s->err->msg, message, mlen + 1);
  }
  return TC_SIO_REFUSED;
}

int tc_sio_refuse(tc_sio_socket_t *s, const char *message, tc_slice_t data) {
  return set_error(s, message, data);
}

int tc_sio_next(tc_sio_socket_t *s, const char *message, tc_slice_t data) {
  if (s->in_mw && !s->mw_pending && !s->early_next) {
    s->early_next = 1;
    s->early_refused = message != NULL;
    if (message) set_error(s, message, data);
    return 0;
  }
  if (!s->mw_pending) return TC_EINVAL;
  s->mw_pending = 0;
  sio_client_t *c = s->client;
  c->busy--;
  if (message) {
    set_error(s, message, data);
    mw_finish(s, 1);
  } else {
    tc__sio_socket_run_middlewares(s);
  }
  if (c->gone) tc__sio_client_release(c);
  return 0;
}

/* ---- Disconnecting --------------------------------------------------------------------------- */

void tc__sio_socket_onclose(tc_sio_socket_t *s, const char *reason) {
  if (s->state != SOCK_CONNECTED) return;
  tc_sio_nsp_t *nsp = s->nsp;
  NSP_CALL(nsp, s, on_disconnecting, reason);
  if (s->state != SOCK_CONNECTED) return; /* a handler disconnected it already */
  if (tc__sio_nsp_recovery(nsp) &&
      in_list(reason, recoverable, sizeof recoverable / sizeof *recoverable))
    nsp->adapter->persist_session(s);
  nsp->adapter->del_all(s);
  tc__sio_map_del(&nsp->by_id, s->id, strlen(s->id));
  if (s->nprev)
    s->nprev->nnext = s->nnext;
  else
    nsp->first = s->nnext;
  if (s->nnext)
    s->nnext->nprev = s->nprev;
  else
    nsp->last = s->nprev;
  s->nprev = s->nnext = NULL;
  nsp->count--;
  socket_unlink_client(s);
  s->state = SOCK_DONE;
  NSP_CALL(nsp, s, on_disconnect, reason);
  tc__sio_socket_fail_acks(s);
  tc__sio_reap_socket(s);
  tc__sio_nsp_maybe_cleanup(nsp);
}

void tc__sio_socket_free(tc_sio_socket_t *s) {
  tc__sio_bytes_free(&s->auth);
  tc__sio_bytes_free(&s->data);
  free(s->err);
  free(s);
}

static void send_disconnect(tc_sio_socket_t *s) {
  tc_sio_server_t *srv = s->nsp->srv;
  tc_buf_reset(&srv->scratch);
  tc_sio_packet_t p = {.type = TC_SIO_DISCONNECT};
  p.nsp = (tc_slice_t){(const uint8_t *)s->nsp->name, s->nsp->name_len};
  if (!tc_sio_packet_encode(&srv->scratch, &p))
    tc__sio_client_write(s->client, &srv->scratch, NULL, 0);
}

void tc_sio_disconnect(tc_sio_socket_t *s, int close) {
  if (s->state != SOCK_CONNECTED) return;
  if (!close) {
    send_disconnect(s);
    tc__sio_socket_onclose(s, "server namespace disconnect");
    return;
  }
  /* Node's Client._disconnect: every namespace leaves politely, then the transport closes. */
  sio_client_t *c = s->client;
  tc_sio_socket_t *t;
  for (;;) {
    for (t = c->sockets; t && t->state != SOCK_CONNECTED; t = t->cnext) {
    }
    if (!t) break;
    send_disconnect(t);
    tc__sio_socket_onclose(t, "server namespace disconnect");
  }
  tc__sio_client_close(c);
}

/* ---- Accessors ------------------------------------------------------------------------------- */

const char *tc_sio_id(const tc_sio_socket_t *s) {
  return s->id;
}

tc_sio_nsp_t *tc_sio_socket_nsp(const tc_sio_socket_t *s) {
  return s->nsp;
}

tc_slice_t tc_sio_auth(const tc_sio_socket_t *s) {
  return s->auth ? tc__sio_bytes_slice(s->auth) : TC_SLICE_LIT("{}");
}

int tc_sio_recovered(const tc_sio_socket_t *s) {
  return s->recovered;
}

int tc_sio_connected(const tc_sio_socket_t *s) {
  return s->state == SOCK_CONNECTED;
}

int tc_sio_closed(const tc_sio_socket_t *s) {
  return s->client->gone || s->client->closing;
}

tc_eio_socket_t *tc_sio_eio(const tc_sio_socket_t *s) {
  return s->client->conn;
}

void tc_sio_set_user(tc_sio_socket_t *s, void *user) {
  s->user = user;
}

void *tc_sio_user(const tc_sio_socket_t *s) {
  return s->user;
}

int tc_sio_set_data(tc_sio_socket_t *s, tc_slice_t json) {
  if (json.len && tc_json_check(json.p, json.len) < 0) return TC_EINVAL;
  return tc__sio_bytes_set(&s->data, json.p, json.len);
}

tc_slice_t tc_sio_data(const tc_sio_socket_t *s) {
  return tc__sio_bytes_slice(s->data);
}

int tc_sio_join(tc_sio_socket_t *s, const char *room) {
  if (s->state == SOCK_DONE) return TC_ECLOSED;
  return s->nsp->adapter->add_all(s, &room, 1);
}

int tc_sio_leave(tc_sio_socket_t *s, const char *room) {
  if (s->state == SOCK_DONE) return TC_ECLOSED;
  return s->nsp->adapter->del(s, room);
}

int tc_sio_in_room(const tc_sio_socket_t *s, const char *room) {
  return tc__sio_rooms_has(s, room);
}

void tc_sio_rooms(const tc_sio_socket_t *s, void (*fn)(const char *room, void *ud), void *ud) {
  for (const sio_member_t *m = s->rooms; m; m = m->snext) fn(tc__sio_member_name(m), ud);
}

size_t tc_sio_room_size(const tc_sio_nsp_t *nsp, const char *room) {
  size_t len = strlen(room);
  const sio_room_t *r = tc__sio_map_get(&nsp->rooms, room, len);
  const tc_sio_socket_t *own = tc__sio_map_get(&nsp->by_id, room, len);
  return (r ? r->count : 0) + (own && own->in_own_room);
}
