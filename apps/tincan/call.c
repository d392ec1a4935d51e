/* The call's signaling on /call and its ICE servers at /api/ice-servers. The contract is in
 * web/call/README.md.
 *
 * tincan only introduces the peers of a room to each other and passes their session
 * descriptions and ICE candidates along, from one socket to one other socket of the same room;
 * it never reads them beyond their type and size. A socket is in at most one call. Its
 * membership is kept as the Socket.IO room "call:NAME", which the announcements are broadcast
 * to, and as a member record in the call room, which lists the peers in the order they joined and
 * is what the mesh limit counts. Connection state recovery is off on /call: a page that lost its
 * connection has lost its peer connections' signaling too, and joins again as a new peer. */
#include "call.h"

#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No call room can be named like the room every socket has for its own id. */
#define ROOM_PREFIX "call:"
/* Rooms are found by name in a hash table of this many lists. */
#define CALL_BUCKETS 256
/* Socket ids are 20 characters; anything longer cannot be one. */
#define MAX_ID 64

struct call_room;

typedef struct call_member {
  struct call_member *next; /* in the order they joined */
  struct call_room *room;
  tc_sio_socket_t *s;
  size_t tok_len;
  char tok[]; /* the name as a JSON string token */
} call_member_t;

typedef struct call_room {
  struct call_room *next; /* in its bucket */
  call_member_t *members;
  size_t nmembers;
  size_t name_len;
  char key[]; /* ROOM_PREFIX + name, NUL-terminated: the Socket.IO room */
} call_room_t;

typedef struct call {
  tc_sio_nsp_t *nsp;
  const tc_logger_t *log;
  tc_call_config_t cfg;
  call_room_t *buckets[CALL_BUCKETS];
} call_t;

/* ---- Rooms ---------------------------------------------------------------------------------- */

static size_t bucket_of(const uint8_t *name, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ name[i]) * 16777619u;
  return h % CALL_BUCKETS;
}

static call_room_t *room_find(call_t *c, const tc_buf_t *name) {
  size_t plen = sizeof ROOM_PREFIX - 1;
  for (call_room_t *r = c->buckets[bucket_of(tc_buf_data(name), name->len)]; r; r = r->next)
    if (r->name_len == name->len && !memcmp(r->key + plen, tc_buf_data(name), name->len)) return r;
  return NULL;
}

static call_room_t *room_new(call_t *c, const tc_buf_t *name) {
  size_t plen = sizeof ROOM_PREFIX - 1;
  call_room_t *r = calloc(1, sizeof *r + plen + name->len + 1);
  if (!r) return NULL;
  r->name_len = name->len;
  memcpy(r->key, ROOM_PREFIX, plen);
  memcpy(r->key + plen, tc_buf_data(name), name->len);
  call_room_t **head = &c->buckets[bucket_of(tc_buf_data(name), name->len)];
  r->next = *head;
  *head = r;
  return r;
}

static void room_free(call_t *c, call_room_t *r) {
  size_t plen = sizeof ROOM_PREFIX - 1;
  call_room_t **pp = &c->buckets[bucket_of((const uint8_t *)r->key + plen, r->name_len)];
  while (*pp && *pp != r) pp = &(*pp)->next;
  if (*pp) *pp = r->next;
  free(r);
}

/* Emits event with args to everyone in the room but from. */
static void room_emit(call_t *c, const call_room_t *r, tc_sio_socket_t *from, const char *event,
                      const tc_buf_t *args) {
  const char *rooms[] = {r->key};
  tc_sio_target_t to = {.rooms = rooms, .num_rooms = 1};
  tc_sio_emit_t e = {.event = event, .args = {tc_buf_data(args), args->len}};
  int rc = tc_sio_socket_broadcast(from, &to, &e);
  if (rc) tc_log(c->log, TC_LOG_WARN, "call", "%s to %s: %s", event, r->key, tc_strerror(rc));
}

/* ---- Members -------------------------------------------------------------------------------- */

/* Takes the socket out of its call; announce says whether the others hear of it. */
static void member_leave(call_t *c, tc_sio_socket_t *s, int announce) {
  call_member_t *m = tc_sio_user(s);
  if (!m) return;
  tc_sio_set_user(s, NULL);
  call_room_t *r = m->room;
  call_member_t **pp = &r->members;
  while (*pp && *pp != m) pp = &(*pp)->next;
  if (*pp) *pp = m->next;
  r->nmembers--;
  if (tc_sio_connected(s)) tc_sio_leave(s, r->key);
  tc_log(c->log, TC_LOG_DEBUG, "call", "%s leaves %s", tc_sio_id(s), r->key);
  if (announce && r->nmembers) {
    tc_buf_t b = {0};
    tc_buf_appendf(&b, "{\"id\":\"%s\"}", tc_sio_id(s));
    room_emit(c, r, s, "peer-left", &b);
    tc_buf_free(&b);
  }
  free(m);
  if (!r->nmembers) room_free(c, r);
}

/* Puts the socket in the call room as name, leaving the call it was in; a full room refuses it
 * and it stays where it was. NULL, or an error message with its code. */
static const char *member_join(call_t *c, tc_sio_socket_t *s, const tc_buf_t *room,
                               const tc_buf_t *name, const char **code) {
  call_member_t *old = tc_sio_user(s);
  call_room_t *r = room_find(c, room);
  *code = "full";
  if (r && r->nmembers >= c->cfg.limit && (!old || old->room != r)) return "the call is full";
  *code = "internal";
  tc_buf_t tok = {0};
  if (tc_json_escape(&tok, tc_buf_data(name), name->len) < 0) return "out of memory";
  call_member_t *m = malloc(sizeof *m + tok.len);
  if (!m) {
    tc_buf_free(&tok);
    return "out of memory";
  }
  /* Joining the same room again is a leave and a join: the others drop the old peer connection
   * and make a new one. */
  member_leave(c, s, 1);
  r = room_find(c, room);
  if (!r) r = room_new(c, room);
  if (!r || tc_sio_join(s, r->key) < 0) {
    if (r && !r->nmembers) room_free(c, r);
    free(m);
    tc_buf_free(&tok);
    return "out of memory";
  }
  *m = (call_member_t){.room = r, .s = s, .tok_len = tok.len};
  memcpy(m->tok, tc_buf_data(&tok), tok.len);
  tc_buf_free(&tok);
  call_member_t **pp = &r->members;
  while (*pp) pp = &(*pp)->next;
  *pp = m;
  r->nmembers++;
  tc_sio_set_user(s, m);
  tc_log(c->log, TC_LOG_DEBUG, "call", "%s joins %s as %.*s", tc_sio_id(s), r->key, (int)m->tok_len,
         m->tok);
  return NULL;
}

/* ---- Events --------------------------------------------------------------------------------- */

/* join {room, name}, ack {id, peers: [{id, name}]}; the others get peer-joined {id, name}. */
static void on_join(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  call_t *c = ud;
  tc_slice_t obj;
  char err[96];
  const char *code = "bad-request";
  if (!tc_app_object_arg(ev, &obj)) {
    tc_app_ack_error(s, ev, "join takes {room, name}", code);
    return;
  }
  tc_buf_t room = {0}, name = {0};
  const char *why = tc_app_read_field(obj, "room", TC_CALL_MAX_ROOM, 0, &room, err, sizeof err);
  if (!why) why = tc_app_read_field(obj, "name", TC_CALL_MAX_NAME, 0, &name, err, sizeof err);
  if (!why) why = member_join(c, s, &room, &name, &code);
  tc_buf_free(&room);
  tc_buf_free(&name);
  if (why) {
    tc_app_ack_error(s, ev, why, code);
    return;
  }
  call_member_t *me = tc_sio_user(s);
  tc_buf_t b = {0};
  if (ev->ack_id >= 0) {
    tc_buf_appendf(&b, "{\"id\":\"%s\",\"peers\":[", tc_sio_id(s));
    int first = 1;
    for (const call_member_t *m = me->room->members; m; m = m->next) {
      if (m == me) continue;
      tc_buf_appendf(&b, "%s{\"id\":\"%s\",\"name\":", first ? "" : ",", tc_sio_id(m->s));
      first = 0;
      tc_buf_append(&b, m->tok, m->tok_len);
      tc_buf_append(&b, "}", 1);
    }
    tc_buf_append_str(&b, "]}");
    tc_sio_ack(s, ev->ack_id, (tc_slice_t){tc_buf_data(&b), b.len});
    tc_buf_reset(&b);
  }
  tc_buf_appendf(&b, "{\"id\":\"%s\",\"name\":", tc_sio_id(s));
  tc_buf_append(&b, me->tok, me->tok_len);
  tc_buf_append(&b, "}", 1);
  room_emit(c, me->room, s, "peer-joined", &b);
  tc_buf_free(&b);
}

/* leave {}, ack {}. */
static void on_leave(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  member_leave(ud, s, 1);
  if (ev->ack_id >= 0) tc_sio_ack(s, ev->ack_id, tc_slice_str("{}"));
}

/* What each relayed event carries besides `to`: its one field, whether that is an object (or
 * null) rather than a string, and its largest size as JSON text. */
typedef struct relay_kind {
  const char *event;
  const char *field;
  int object;
  size_t max_json;
} relay_kind_t;

/* The SDP limit counts its decoded text; as JSON it may take up to twice that (its line breaks
 * are escaped), which is checked exactly after decoding. */
static const relay_kind_t relay_offer = {"offer", "sdp", 0, 2 * TC_CALL_MAX_SDP + 2};
static const relay_kind_t relay_answer = {"answer", "sdp", 0, 2 * TC_CALL_MAX_SDP + 2};
static const relay_kind_t relay_candidate = {"candidate", "candidate", 1, TC_CALL_MAX_CANDIDATE};

/* Checks the payload field v of a relayed event. NULL, or what is wrong. */
static const char *check_payload(const relay_kind_t *k, tc_slice_t v, char *err, size_t errlen) {
  tc_json_type_t t = tc_json_type(v);
  int ok = k->object ? t == TC_JSON_OBJECT || t == TC_JSON_NULL : t == TC_JSON_STRING;
  if (!ok) {
    snprintf(err, errlen, "%s must be %s", k->field, k->object ? "an object or null" : "a string");
    return err;
  }
  if (v.len > k->max_json) {
    snprintf(err, errlen, "%s is too large", k->field);
    return err;
  }
  if (t == TC_JSON_STRING) {
    tc_buf_t text = {0};
    int r = tc_json_unescape(v, &text);
    size_t n = text.len;
    tc_buf_free(&text);
    if (r < 0) return "malformed arguments";
    if (n > TC_CALL_MAX_SDP) {
      snprintf(err, errlen, "%s is too large (at most %d bytes)", k->field, TC_CALL_MAX_SDP);
      return err;
    }
  }
  return NULL;
}

/* offer/answer/candidate {to, ...}: to the one peer `to` of the sender's call, as {from, ...}. */
static void relay(call_t *c, tc_sio_socket_t *s, const tc_sio_event_t *ev, const relay_kind_t *k) {
  call_member_t *me = tc_sio_user(s);
  tc_slice_t obj, to, v;
  char err[96], id[MAX_ID + 1];
  if (!tc_app_object_arg(ev, &obj) || tc_json_object_get(obj, "to", &to) != 1 ||
      tc_json_type(to) != TC_JSON_STRING || tc_json_object_get(obj, k->field, &v) != 1) {
    snprintf(err, sizeof err, "%s takes {to, %s}", k->event, k->field);
    tc_app_ack_error(s, ev, err, "bad-request");
    return;
  }
  const char *why = check_payload(k, v, err, sizeof err);
  if (why) {
    tc_app_ack_error(s, ev, why, "bad-request");
    return;
  }
  if (!me) {
    tc_app_ack_error(s, ev, "join a call first", "not-in-room");
    return;
  }
  /* Ids are plain ASCII, so the token without its quotes is the id when it has no escapes. */
  tc_slice_t raw = {to.p + 1, to.len - 2};
  tc_sio_socket_t *peer = NULL;
  if (raw.len <= MAX_ID && !memchr(raw.p, '\\', raw.len)) {
    memcpy(id, raw.p, raw.len);
    id[raw.len] = '\0';
    peer = tc_sio_nsp_socket(c->nsp, id);
  }
  call_member_t *pm = peer ? tc_sio_user(peer) : NULL;
  if (!pm || pm->room != me->room || peer == s) {
    tc_app_ack_error(s, ev, "that peer is not in your call", "not-in-room");
    return;
  }
  tc_buf_t b = {0};
  tc_buf_appendf(&b, "{\"from\":\"%s\",\"%s\":", tc_sio_id(s), k->field);
  tc_buf_append(&b, v.p, v.len);
  tc_buf_append(&b, "}", 1);
  int r = tc_sio_emit(peer, k->event, (tc_slice_t){tc_buf_data(&b), b.len});
  tc_buf_free(&b);
  if (r) {
    tc_app_ack_error(s, ev, "the peer cannot be reached", "internal");
    return;
  }
  if (ev->ack_id >= 0) tc_sio_ack(s, ev->ack_id, tc_slice_str("{}"));
}

static void on_offer(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  relay(ud, s, ev, &relay_offer);
}

static void on_answer(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  relay(ud, s, ev, &relay_answer);
}

static void on_candidate(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  relay(ud, s, ev, &relay_candidate);
}

static void on_any(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  static const char *const known[] = {"join", "leave", "offer", "answer", "candidate"};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (ev->name_len == strlen(known[i]) && !memcmp(ev->name, known[i], ev->name_len)) return;
  tc_app_ack_error(s, ev, "unknown event", "unknown-event");
}

static void on_disconnect(tc_sio_socket_t *s, const char *reason, void *ud) {
  member_leave(ud, s, strcmp(reason, "server shutting down") != 0);
}

/* ---- ICE servers ---------------------------------------------------------------------------- */

/* The host part of a Host header value, when it is a plain name or address that can go into a
 * URL and a JSON string unchanged; empty otherwise. */
static tc_slice_t host_name(tc_slice_t host) {
  size_t n = host.len;
  if (n && host.p[0] == '[') {
    const uint8_t *end = memchr(host.p, ']', n);
    n = end ? (size_t)(end - host.p) + 1 : 0;
  } else {
    const uint8_t *colon = memchr(host.p, ':', n);
    if (colon) n = (size_t)(colon - host.p);
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t ch = host.p[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']';
    if (!ok) return (tc_slice_t){0};
  }
  return (tc_slice_t){host.p, n};
}

/* GET /api/ice-servers: {"iceServers": [{"urls": [...]}, ...]}, tincan's STUN server first, at
 * the host the page was loaded from (which is how the browser reaches tincan). */
static int serve_ice_servers(tc_http_exchange_t *x, void *ud) {
  call_t *c = ud;
  const tc_http_request_t *req = tc_http_request(x);
  if (!tc_slice_eq(req->method, "GET") && !tc_slice_eq(req->method, "HEAD")) {
    tc_http_add_header(x, "Allow", "GET, HEAD");
    return tc_http_respond_error(x, 405, 0);
  }
  tc_buf_t b = {0};
  tc_buf_append_str(&b, "{\"iceServers\":[");
  int first = 1;
  if (c->cfg.stun_port > 0) {
    tc_slice_t host = host_name(req->host);
    if (!host.len) host = tc_slice_str(c->cfg.default_host);
    tc_buf_append_str(&b, "{\"urls\":[\"stun:");
    tc_buf_append(&b, host.p, host.len);
    tc_buf_appendf(&b, ":%d\"]}", c->cfg.stun_port);
    first = 0;
  }
  for (size_t i = 0; i < c->cfg.num_ice_servers; i++) {
    const char *url = c->cfg.ice_servers[i];
    tc_buf_append_str(&b, first ? "{\"urls\":[" : ",{\"urls\":[");
    tc_json_escape(&b, url, strlen(url));
    tc_buf_append_str(&b, "]}");
    first = 0;
  }
  int r = tc_buf_append_str(&b, "]}\n");
  tc_http_add_header(x, "Cache-Control", "no-store");
  r = r ? tc_http_respond_error(x, 500, 0)
        : tc_http_respond(x, 200, "application/json", tc_buf_data(&b), b.len);
  tc_buf_free(&b);
  return r;
}

/* ---- Setup ---------------------------------------------------------------------------------- */

static void call_free(void *ud) {
  call_t *c = ud;
  /* Sockets are gone by now (the Socket.IO server is freed first); free whatever is left. */
  for (size_t i = 0; i < CALL_BUCKETS; i++)
    while (c->buckets[i]) {
      call_room_t *r = c->buckets[i];
      c->buckets[i] = r->next;
      while (r->members) {
        call_member_t *m = r->members;
        r->members = m->next;
        free(m);
      }
      free(r);
    }
  free(c);
}

int tc_call_attach(tc_sio_server_t *sio, tc_http_server_t *http, const tc_call_config_t *cfg,
                   const tc_logger_t *log) {
  call_t *c = calloc(1, sizeof *c);
  if (!c) return TC_ENOMEM;
  c->log = log;
  c->cfg = *cfg;
  if (!c->cfg.limit) c->cfg.limit = TC_CALL_DEFAULT_LIMIT;
  if (!c->cfg.default_host) c->cfg.default_host = "127.0.0.1";
  c->nsp = tc_sio_of(sio, "/call");
  int r = c->nsp ? tc_http_server_on_free(http, call_free, c) : TC_ENOMEM;
  if (r) {
    free(c);
    return r;
  }
  tc_sio_nsp_set_recovery(c->nsp, 0);
  static const tc_sio_nsp_handlers_t h = {.on_disconnect = on_disconnect};
  tc_sio_nsp_set_handlers(c->nsp, &h, c);
  tc_sio_on_any(c->nsp, on_any, c);
  if ((r = tc_sio_on(c->nsp, "join", on_join, c))) return r;
  if ((r = tc_sio_on(c->nsp, "leave", on_leave, c))) return r;
  if ((r = tc_sio_on(c->nsp, "offer", on_offer, c))) return r;
  if ((r = tc_sio_on(c->nsp, "answer", on_answer, c))) return r;
  if ((r = tc_sio_on(c->nsp, "candidate", on_candidate, c))) return r;
  return tc_http_server_route(http, "/api/ice-servers", 0, serve_ice_servers, c);
}
