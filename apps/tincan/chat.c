/* The chat on /chat: rooms by name, nicknames, presence, typing, and the last messages of each
 * room, all in memory. The contract is in web/chat/README.md.
 *
 * A socket is in at most one chat room. Its membership is kept twice: as the Socket.IO room
 * "room:NAME", which broadcasts address and connection state recovery restores, and as a member
 * record in the chat room, which lists who is here. The socket's data ({"room":..,"name":..})
 * is what brings the member record back after a recovery. */
#include "chat.h"

#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Socket.IO rooms for chat rooms get a prefix, so that no chat room can be named like the room
 * every socket has for its own id. */
#define ROOM_PREFIX "room:"

typedef struct chat_msg {
  size_t len;
  char json[]; /* {"id":..,"room":..,"name":..,"text":..,"ts":..} */
} chat_msg_t;

struct chat_room;

typedef struct chat_member {
  struct chat_member *next; /* in the order they joined */
  struct chat_room *room;
  tc_sio_socket_t *s;
  size_t tok_len;
  char tok[]; /* the nickname as a JSON string token */
} chat_member_t;

typedef struct chat_room {
  struct chat_room *prev, *next; /* most recently used first */
  char *key;                     /* ROOM_PREFIX + name: the Socket.IO room */
  char *tok;                     /* the name as a JSON string token */
  chat_member_t *members;
  size_t nmembers;
  chat_msg_t *history[TC_CHAT_HISTORY]; /* a ring: oldest at hfirst */
  size_t hfirst, hcount;
} chat_room_t;

typedef struct chat {
  tc_sio_nsp_t *nsp;
  const tc_logger_t *log;
  chat_room_t *rooms; /* most recently used first */
  size_t nrooms;
  uint64_t next_id;
  uint64_t last_ts;
  char epoch[16]; /* the start time in base 36: message ids stay unique across restarts */
} chat_t;

/* ---- Rooms ---------------------------------------------------------------------------------- */

static void room_touch(chat_t *c, chat_room_t *r) {
  if (c->rooms == r) return;
  if (r->prev) r->prev->next = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = NULL;
  r->next = c->rooms;
  if (c->rooms) c->rooms->prev = r;
  c->rooms = r;
}

static void room_free(chat_t *c, chat_room_t *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    c->rooms = r->next;
  if (r->next) r->next->prev = r->prev;
  c->nrooms--;
  for (size_t i = 0; i < r->hcount; i++) free(r->history[(r->hfirst + i) % TC_CHAT_HISTORY]);
  free(r->key);
  free(r->tok);
  free(r);
}

static chat_room_t *room_find(chat_t *c, const tc_buf_t *name) {
  size_t plen = sizeof ROOM_PREFIX - 1;
  for (chat_room_t *r = c->rooms; r; r = r->next)
    if (strlen(r->key) == plen + name->len && !memcmp(r->key + plen, tc_buf_data(name), name->len))
      return r;
  return NULL;
}

/* The room called name, made when it does not exist. When the chat holds its maximum of rooms,
 * the least recently used room that nobody is in makes way. NULL with *err set. */
static chat_room_t *room_get(chat_t *c, const tc_buf_t *name, const char **err) {
  chat_room_t *r = room_find(c, name);
  if (r) return r;
  if (c->nrooms >= TC_CHAT_MAX_ROOMS) {
    chat_room_t *last = c->rooms, *victim = NULL;
    while (last && last->next) last = last->next;
    for (chat_room_t *v = last; v && !victim; v = v->prev)
      if (!v->nmembers) victim = v;
    if (!victim) {
      *err = "too many rooms";
      return NULL;
    }
    room_free(c, victim);
  }
  *err = "out of memory";
  tc_buf_t tok = {0};
  r = calloc(1, sizeof *r);
  if (!r || tc_json_escape(&tok, tc_buf_data(name), name->len) < 0 ||
      tc_buf_append(&tok, "", 1) < 0 || !(r->key = malloc(sizeof ROOM_PREFIX + name->len))) {
    free(r);
    tc_buf_free(&tok);
    return NULL;
  }
  memcpy(r->key, ROOM_PREFIX, sizeof ROOM_PREFIX - 1);
  memcpy(r->key + sizeof ROOM_PREFIX - 1, tc_buf_data(name), name->len);
  r->key[sizeof ROOM_PREFIX - 1 + name->len] = '\0';
  r->tok = (char *)tc_buf_data(&tok); /* the buffer's memory starts at its data: nothing consumed */
  r->next = c->rooms;
  if (c->rooms) c->rooms->prev = r;
  c->rooms = r;
  c->nrooms++;
  return r;
}

/* Appends ["name",...] of everyone in the room. */
static void append_members(tc_buf_t *b, const chat_room_t *r) {
  tc_buf_append(b, "[", 1);
  for (const chat_member_t *m = r->members; m; m = m->next) {
    if (m != r->members) tc_buf_append(b, ",", 1);
    tc_buf_append(b, m->tok, m->tok_len);
  }
  tc_buf_append(b, "]", 1);
}

/* Emits to everyone in the room, or everyone but from when it is not NULL. */
static void room_emit(chat_t *c, const chat_room_t *r, tc_sio_socket_t *from, const char *event,
                      tc_slice_t args, int is_volatile) {
  const char *rooms[] = {r->key};
  tc_sio_target_t to = {.rooms = rooms, .num_rooms = 1, .is_volatile = is_volatile != 0};
  tc_sio_emit_t e = {.event = event, .args = args};
  int rc = from ? tc_sio_socket_broadcast(from, &to, &e) : tc_sio_broadcast(c->nsp, &to, &e);
  if (rc) tc_log(c->log, TC_LOG_WARN, "chat", "%s to %s: %s", event, r->key, tc_strerror(rc));
}

/* presence {room, members, joined | left}. */
static void room_presence(chat_t *c, const chat_room_t *r, const char *what,
                          const chat_member_t *who) {
  tc_buf_t b = {0};
  tc_buf_appendf(&b, "{\"room\":%s,\"members\":", r->tok);
  append_members(&b, r);
  tc_buf_appendf(&b, ",\"%s\":", what);
  tc_buf_append(&b, who->tok, who->tok_len);
  tc_buf_append(&b, "}", 1);
  room_emit(c, r, NULL, "presence", (tc_slice_t){tc_buf_data(&b), b.len}, 0);
  tc_buf_free(&b);
}

/* ---- Members -------------------------------------------------------------------------------- */

/* Takes the socket's member out of its room; announce says whether the room hears of it. */
static void member_leave(chat_t *c, tc_sio_socket_t *s, int announce) {
  chat_member_t *m = tc_sio_user(s);
  if (!m) return;
  tc_sio_set_user(s, NULL);
  chat_room_t *r = m->room;
  chat_member_t **pp = &r->members;
  while (*pp && *pp != m) pp = &(*pp)->next;
  if (*pp) *pp = m->next;
  r->nmembers--;
  if (tc_sio_connected(s)) tc_sio_leave(s, r->key);
  tc_log(c->log, TC_LOG_DEBUG, "chat", "%s leaves %s", tc_sio_id(s), r->key);
  if (announce && r->nmembers) room_presence(c, r, "left", m);
  free(m);
  /* A room with nobody in it and nothing said is not worth keeping. */
  if (!r->nmembers && !r->hcount) room_free(c, r);
}

/* Puts the socket in the room called room under name, leaving any room it was in. NULL, or an
 * error message. */
static const char *member_join(chat_t *c, tc_sio_socket_t *s, const tc_buf_t *room,
                               const tc_buf_t *name) {
  chat_member_t *old = tc_sio_user(s);
  if (old) {
    /* Leaving first lets a room that only this socket kept alive go, and makes room for it.
     * Until the join succeeds the socket is in no room, and a recovery must not put it back. */
    member_leave(c, s, !room_find(c, room) || room_find(c, room) != old->room);
    tc_sio_set_data(s, (tc_slice_t){0});
  }
  tc_buf_t tok = {0};
  if (tc_json_escape(&tok, tc_buf_data(name), name->len) < 0) return "out of memory";
  chat_member_t *m = malloc(sizeof *m + tok.len);
  const char *err = "out of memory";
  chat_room_t *r = m ? room_get(c, room, &err) : NULL;
  if (!r || tc_sio_join(s, r->key) < 0) {
    if (r && !r->nmembers && !r->hcount) room_free(c, r);
    free(m);
    tc_buf_free(&tok);
    return r ? "out of memory" : err;
  }
  *m = (chat_member_t){.room = r, .s = s, .tok_len = tok.len};
  memcpy(m->tok, tc_buf_data(&tok), tok.len);
  tc_buf_free(&tok);
  chat_member_t **pp = &r->members;
  while (*pp) pp = &(*pp)->next;
  *pp = m;
  r->nmembers++;
  room_touch(c, r);
  tc_sio_set_user(s, m);
  /* What connection state recovery gives back, to rebuild this record from. */
  tc_buf_t data = {0};
  tc_buf_appendf(&data, "{\"room\":%s,\"name\":", r->tok);
  tc_buf_append(&data, m->tok, m->tok_len);
  tc_buf_append(&data, "}", 1);
  tc_sio_set_data(s, (tc_slice_t){tc_buf_data(&data), data.len});
  tc_buf_free(&data);
  tc_log(c->log, TC_LOG_DEBUG, "chat", "%s joins %s as %.*s", tc_sio_id(s), r->key, (int)m->tok_len,
         m->tok);
  return NULL;
}

/* Reads {room, name} from obj and joins. NULL, or an error message (in err or static). */
static const char *join_from(chat_t *c, tc_sio_socket_t *s, tc_slice_t obj, char *err,
                             size_t errlen) {
  tc_buf_t room = {0}, name = {0};
  const char *why = tc_app_read_field(obj, "room", TC_CHAT_MAX_ROOM, 0, &room, err, errlen);
  if (!why) why = tc_app_read_field(obj, "name", TC_CHAT_MAX_NAME, 0, &name, err, errlen);
  if (!why) why = member_join(c, s, &room, &name);
  tc_buf_free(&room);
  tc_buf_free(&name);
  return why;
}

/* ---- Events --------------------------------------------------------------------------------- */

/* join {room, name}, ack {members, history}. */
static void on_join(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  chat_t *c = ud;
  tc_slice_t obj;
  char err[96];
  if (!tc_app_object_arg(ev, &obj)) {
    tc_app_ack_error(s, ev, "join takes {room, name}", NULL);
    return;
  }
  const char *why = join_from(c, s, obj, err, sizeof err);
  if (why) {
    tc_app_ack_error(s, ev, why, NULL);
    return;
  }
  chat_member_t *m = tc_sio_user(s);
  chat_room_t *r = m->room;
  if (ev->ack_id >= 0) {
    tc_buf_t b = {0};
    tc_buf_append_str(&b, "{\"members\":");
    append_members(&b, r);
    tc_buf_append_str(&b, ",\"history\":[");
    for (size_t i = 0; i < r->hcount; i++) {
      const chat_msg_t *msg = r->history[(r->hfirst + i) % TC_CHAT_HISTORY];
      if (i) tc_buf_append(&b, ",", 1);
      tc_buf_append(&b, msg->json, msg->len);
    }
    tc_buf_append_str(&b, "]}");
    tc_sio_ack(s, ev->ack_id, (tc_slice_t){tc_buf_data(&b), b.len});
    tc_buf_free(&b);
  }
  room_presence(c, r, "joined", m);
}

static uint64_t now_ms(chat_t *c) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  /* Never backwards, so that the history reads in order even when the clock is set back. */
  if (ms < c->last_ts) ms = c->last_ts;
  c->last_ts = ms;
  return ms;
}

static void history_add(chat_room_t *r, chat_msg_t *msg) {
  if (r->hcount == TC_CHAT_HISTORY) {
    free(r->history[r->hfirst]);
    r->history[r->hfirst] = msg;
    r->hfirst = (r->hfirst + 1) % TC_CHAT_HISTORY;
  } else {
    r->history[(r->hfirst + r->hcount++) % TC_CHAT_HISTORY] = msg;
  }
}

/* chat {text}, ack {id, ts}; the room gets chat {id, room, name, text, ts}, the sender too. */
static void on_chat(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  chat_t *c = ud;
  chat_member_t *m = tc_sio_user(s);
  tc_slice_t obj;
  char err[96];
  if (!m) {
    tc_app_ack_error(s, ev, "join a room first", NULL);
    return;
  }
  if (!tc_app_object_arg(ev, &obj)) {
    tc_app_ack_error(s, ev, "chat takes {text}", NULL);
    return;
  }
  tc_buf_t text = {0}, msg = {0};
  const char *why = tc_app_read_field(obj, "text", TC_CHAT_MAX_TEXT, 1, &text, err, sizeof err);
  if (why) {
    tc_app_ack_error(s, ev, why, NULL);
    tc_buf_free(&text);
    return;
  }
  chat_room_t *r = m->room;
  uint64_t ts = now_ms(c);
  char id[48];
  snprintf(id, sizeof id, "%s-%llu", c->epoch, (unsigned long long)++c->next_id);
  /* The record is built in place after a header, so that it is stored without a copy. */
  chat_msg_t head = {0};
  tc_buf_append(&msg, &head, sizeof head);
  tc_buf_appendf(&msg, "{\"id\":\"%s\",\"room\":%s,\"name\":", id, r->tok);
  tc_buf_append(&msg, m->tok, m->tok_len);
  tc_buf_append_str(&msg, ",\"text\":");
  int rc = tc_json_escape(&msg, tc_buf_data(&text), text.len);
  if (!rc) rc = tc_buf_appendf(&msg, ",\"ts\":%llu}", (unsigned long long)ts);
  tc_buf_free(&text);
  if (rc) {
    tc_app_ack_error(s, ev, "out of memory", NULL);
    tc_buf_free(&msg);
    return;
  }
  chat_msg_t *stored = (chat_msg_t *)tc_buf_data(&msg);
  stored->len = msg.len - sizeof head;
  history_add(r, stored);
  room_touch(c, r);
  if (ev->ack_id >= 0) {
    char ack[96];
    int n = snprintf(ack, sizeof ack, "{\"id\":\"%s\",\"ts\":%llu}", id, (unsigned long long)ts);
    tc_sio_ack(s, ev->ack_id, (tc_slice_t){(const uint8_t *)ack, (size_t)n});
  }
  room_emit(c, r, NULL, "chat", (tc_slice_t){(const uint8_t *)stored->json, stored->len}, 0);
}

/* typing {typing}; the others in the room get typing {room, name, typing}, volatile: a lost
 * indicator is not worth a delay. */
static void on_typing(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  chat_t *c = ud;
  chat_member_t *m = tc_sio_user(s);
  tc_slice_t obj, v;
  if (!m) {
    tc_app_ack_error(s, ev, "join a room first", NULL);
    return;
  }
  if (!tc_app_object_arg(ev, &obj) || tc_json_object_get(obj, "typing", &v) != 1 ||
      (tc_json_type(v) != TC_JSON_TRUE && tc_json_type(v) != TC_JSON_FALSE)) {
    tc_app_ack_error(s, ev, "typing takes {typing: boolean}", NULL);
    return;
  }
  tc_buf_t b = {0};
  tc_buf_appendf(&b, "{\"room\":%s,\"name\":", m->room->tok);
  tc_buf_append(&b, m->tok, m->tok_len);
  tc_buf_appendf(&b, ",\"typing\":%s}", tc_json_type(v) == TC_JSON_TRUE ? "true" : "false");
  room_emit(c, m->room, s, "typing", (tc_slice_t){tc_buf_data(&b), b.len}, 1);
  tc_buf_free(&b);
  if (ev->ack_id >= 0) tc_sio_ack(s, ev->ack_id, (tc_slice_t){0});
}

/* Events the chat does not know get an error when the client waits for an answer. */
static void on_any(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  static const char *const known[] = {"join", "chat", "typing"};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (ev->name_len == strlen(known[i]) && !memcmp(ev->name, known[i], ev->name_len)) return;
  tc_app_ack_error(s, ev, "unknown event", NULL);
}

static void on_connection(tc_sio_socket_t *s, void *ud) {
  chat_t *c = ud;
  if (!tc_sio_recovered(s)) return;
  /* A recovered socket is back in its Socket.IO rooms; its member record is rebuilt from the
   * data it kept, and the room hears it is back. */
  tc_slice_t data = tc_sio_data(s);
  char err[96];
  if (!data.len || tc_json_type(data) != TC_JSON_OBJECT) return;
  const char *why = join_from(c, s, data, err, sizeof err);
  if (why) {
    tc_log(c->log, TC_LOG_WARN, "chat", "%s: cannot restore its room: %s", tc_sio_id(s), why);
    return;
  }
  chat_member_t *m = tc_sio_user(s);
  room_presence(c, m->room, "joined", m);
}

static void on_disconnect(tc_sio_socket_t *s, const char *reason, void *ud) {
  /* At shutdown every room empties at once: nobody is left to tell. */
  member_leave(ud, s, strcmp(reason, "server shutting down") != 0);
}

/* ---- Setup ---------------------------------------------------------------------------------- */

static void chat_free(void *ud) {
  chat_t *c = ud;
  while (c->rooms) {
    chat_room_t *r = c->rooms;
    /* Sockets are gone by now (the Socket.IO server is freed first), so no member is left
     * unless one never disconnected; free them regardless. */
    while (r->members) {
      chat_member_t *m = r->members;
      r->members = m->next;
      free(m);
    }
    room_free(c, r);
  }
  free(c);
}

int tc_chat_attach(tc_sio_server_t *sio, tc_http_server_t *http, const tc_logger_t *log) {
  chat_t *c = calloc(1, sizeof *c);
  if (!c) return TC_ENOMEM;
  c->log = log;
  c->nsp = tc_sio_of(sio, "/chat");
  /* Base 36 of the start time in milliseconds: short, and ordered like the messages. */
  uint64_t t = now_ms(c);
  char digits[16];
  size_t n = 0;
  do {
    digits[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[t % 36];
    t /= 36;
  } while (t && n < sizeof digits);
  for (size_t i = 0; i < n; i++) c->epoch[i] = digits[n - 1 - i];
  int r = c->nsp ? tc_http_server_on_free(http, chat_free, c) : TC_ENOMEM;
  if (r) {
    free(c);
    return r;
  }
  static const tc_sio_nsp_handlers_t h = {.on_connection = on_connection,
                                          .on_disconnect = on_disconnect};
  tc_sio_nsp_set_handlers(c->nsp, &h, c);
  tc_sio_on_any(c->nsp, on_any, c);
  if ((r = tc_sio_on(c->nsp, "join", on_join, c))) return r;
  if ((r = tc_sio_on(c->nsp, "chat", on_chat, c))) return r;
  return tc_sio_on(c->nsp, "typing", on_typing, c);
}
