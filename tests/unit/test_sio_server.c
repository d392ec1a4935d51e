/* The Socket.IO server core without a network: a fake transport records what would be sent, and
 * the tests play the client's packets. Namespaces, middlewares, events and acks, rooms and
 * broadcasts, timeouts, disconnect reasons and connection state recovery. */
#include "tc_test.h"
#include "sio/sio_int.h"

#include <jansson.h>
#include <stdlib.h>

/* ---- A fake transport ------------------------------------------------------------------------ */

#define MAXMSG 64

typedef struct fconn {
  sio_client_t *c;
  char *msg[MAXMSG];
  size_t len[MAXMSG];
  int bin[MAXMSG];
  int n;
  int closed;
  int busy; /* not writable: volatile packets are dropped */
} fconn_t;

typedef struct fshared {
  int refs;
  int binary;
  size_t len;
  char data[];
} fshared_t;

static int f_send(void *conn, int binary, const void *p, size_t len) {
  fconn_t *f = conn;
  if (f->closed) return TC_ECLOSED;
  if (f->n == MAXMSG) return TC_E2BIG;
  f->msg[f->n] = malloc(len + 1);
  memcpy(f->msg[f->n], p, len);
  f->msg[f->n][len] = 0;
  f->len[f->n] = len;
  f->bin[f->n++] = binary;
  return 0;
}

static void *f_shared_new(int binary, const void *p, size_t len) {
  fshared_t *m = malloc(sizeof *m + len + 1);
  m->refs = 1;
  m->binary = binary;
  m->len = len;
  memcpy(m->data, p, len);
  return m;
}

static void f_shared_unref(void *p) {
  fshared_t *m = p;
  if (--m->refs == 0) free(m);
}

static int f_send_shared(void *conn, void *p) {
  fshared_t *m = p;
  return f_send(conn, m->binary, m->data, m->len);
}

/* Closing is immediate, as Engine.IO's for a WebSocket: the close is reported at once. */
static void f_close(void *conn) {
  fconn_t *f = conn;
  if (f->closed) return;
  f->closed = 1;
  tc__sio_client_closed(f->c, "forced close");
}

static int f_writable(void *conn) {
  return !((fconn_t *)conn)->busy;
}

static const sio_transport_t fake = {f_send,        f_shared_new, f_shared_unref,
                                     f_send_shared, f_close,      f_writable};

static uv_loop_t loop;
static tc_sio_server_t *srv;

static void stop_timer(uv_timer_t *t) {
  uv_timer_stop(t);
}

/* Runs the loop for ms: the server's own timers do not keep it alive, this one does. */
static void run_for(uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, stop_timer, ms, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void server_up(const tc_sio_config_t *cfg) {
  TC_CHECK_EQ_INT(tc__sio_server_init(&loop, cfg, &fake, &srv), 0);
}

static void conn_clear(fconn_t *f) {
  for (int i = 0; i < f->n; i++) free(f->msg[i]);
  f->n = 0;
}

static void server_down(void) {
  tc__sio_server_free(srv);
  srv = NULL;
  uv_run(&loop, UV_RUN_NOWAIT);
}

static fconn_t *conn_open(void) {
  fconn_t *f = calloc(1, sizeof *f);
  f->c = tc__sio_client_open(srv, f, NULL);
  return f;
}

static void conn_free(fconn_t *f) {
  if (!f->closed) {
    f->closed = 1;
    tc__sio_client_closed(f->c, "transport close");
  }
  conn_clear(f);
  free(f);
}

static void in(fconn_t *f, const char *text) {
  tc__sio_client_message(f->c, 0, (const uint8_t *)text, strlen(text));
}

static void in_bin(fconn_t *f, const void *p, size_t len) {
  tc__sio_client_message(f->c, 1, p, len);
}

/* The i-th message sent, or "" (negative i counts from the end). */
/* A message the fake transport got, or an empty string (a writable one of ours: gcc would
 * otherwise take later pointer arithmetic on it for reads past a literal). */
static const char *out(fconn_t *f, int i) {
  static char none[64];
  if (i < 0) i += f->n;
  return i >= 0 && i < f->n ? f->msg[i] : none;
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- Handlers the tests install -------------------------------------------------------------- */

static char last_reason[64];
static int disconnects, connections;
static tc_sio_socket_t *last_socket;

static void on_connection_auth(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  connections++;
  last_socket = s;
  tc_sio_emit(s, "auth", tc_sio_auth(s));
}

static void on_disconnect(tc_sio_socket_t *s, const char *reason, void *ud) {
  (void)s;
  (void)ud;
  disconnects++;
  snprintf(last_reason, sizeof last_reason, "%s", reason);
}

static void on_message(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_emit_t e = {.event = "message-back",
                     .args = ev->args,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments};
  tc_sio_send(s, &e);
}

static void on_message_ack(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_ack_bin(s, ev->ack_id, ev->args, ev->attachments, ev->num_attachments);
}

static void install_suite_handlers(tc_sio_nsp_t *nsp) {
  tc_sio_nsp_handlers_t h = {.on_connection = on_connection_auth, .on_disconnect = on_disconnect};
  tc_sio_nsp_set_handlers(nsp, &h, NULL);
  tc_sio_on(nsp, "message", on_message, NULL);
  tc_sio_on(nsp, "message-with-ack", on_message_ack, NULL);
}

static void suite_setup(void) {
  server_up(NULL);
  install_suite_handlers(srv->main);
  install_suite_handlers(tc_sio_of(srv, "custom"));
  disconnects = connections = 0;
  last_reason[0] = 0;
}

/* ---- The reference test suite's Socket.IO cases ---------------------------------------------- */

static void test_connect(void) {
  suite_setup();
  fconn_t *f = conn_open();
  in(f, "0");
  TC_CHECK_EQ_INT(f->n, 2);
  TC_CHECK(starts(out(f, 0), "0{\"sid\":\""));
  TC_CHECK_EQ_INT(strlen(out(f, 0)), strlen("0{\"sid\":\"\"}") + 20);
  TC_CHECK(strcmp(out(f, 1), "2[\"auth\",{}]") == 0);
  TC_CHECK_EQ_INT(connections, 1);
  TC_CHECK_EQ_INT(tc_sio_nsp_count(srv->main), 1);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, tc_sio_id(last_socket)), 1);
  conn_clear(f);

  in(f, "0/custom,{\"token\":\"abc\"}");
  TC_CHECK(starts(out(f, 0), "0/custom,{\"sid\":\""));
  TC_CHECK(strcmp(out(f, 1), "2/custom,[\"auth\",{\"token\":\"abc\"}]") == 0);
  conn_clear(f);

  in(f, "0/random");
  TC_CHECK(strcmp(out(f, 0), "4/random,{\"message\":\"Invalid namespace\"}") == 0);
  TC_CHECK(!f->closed);
  conn_clear(f);

  /* CONNECT to a namespace already joined: an invalid state, the session closes. */
  in(f, "0/custom,");
  TC_CHECK(f->closed);
  TC_CHECK(strcmp(last_reason, "forced server close") == 0);
  TC_CHECK_EQ_INT(disconnects, 2);
  conn_free(f);
  server_down();
}

static void test_messages(void) {
  suite_setup();
  fconn_t *f = conn_open();
  in(f, "0");
  conn_clear(f);
  in(f, "2[\"message\",1,\"2\",{\"3\":[true]}]");
  TC_CHECK(strcmp(out(f, 0), "2[\"message-back\",1,\"2\",{\"3\":[true]}]") == 0);
  conn_clear(f);
  in(f, "2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
  TC_CHECK(strcmp(out(f, 0), "3456[1,\"2\",{\"3\":[false]}]") == 0);
  conn_clear(f);

  in(f, "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
  TC_CHECK_EQ_INT(f->n, 0);
  in_bin(f, "\x01\x02\x03", 3);
  in_bin(f, "\x04\x05\x06", 3);
  TC_CHECK_EQ_INT(f->n, 3);
  TC_CHECK(strcmp(out(f, 0), "52-[\"message-back\",{\"_placeholder\":true,\"num\":0},"
                             "{\"_placeholder\":true,\"num\":1}]") == 0);
  TC_CHECK(f->bin[1] && f->len[1] == 3 && memcmp(f->msg[1], "\x01\x02\x03", 3) == 0);
  TC_CHECK(f->bin[2] && f->len[2] == 3 && memcmp(f->msg[2], "\x04\x05\x06", 3) == 0);
  conn_clear(f);

  in(f, "52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,"
        "\"num\":1}]");
  in_bin(f, "\x01\x02\x03", 3);
  in_bin(f, "\x04\x05\x06", 3);
  TC_CHECK(strcmp(out(f, 0),
                  "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]") ==
           0);
  TC_CHECK_EQ_INT(f->n, 3);
  conn_clear(f);

  /* Disconnect from a custom namespace, then talk on the main one. */
  in(f, "0/custom");
  in(f, "1/custom");
  TC_CHECK(strcmp(last_reason, "client namespace disconnect") == 0);
  conn_clear(f);
  in(f, "2[\"message\",\"message to main namespace\"]");
  TC_CHECK(strcmp(out(f, 0), "2[\"message-back\",\"message to main namespace\"]") == 0);
  /* An event for the namespace just left closes the session (Node's invalid state). */
  in(f, "2/custom,[\"message\"]");
  TC_CHECK(f->closed);
  conn_free(f);

  /* Leaving the main namespace keeps the session open. */
  f = conn_open();
  in(f, "0");
  in(f, "1");
  TC_CHECK(!f->closed);
  TC_CHECK_EQ_INT(tc_sio_nsp_count(srv->main), 0);
  conn_free(f);
  server_down();
}

static void test_invalid_packets(void) {
  static const char *const bad[] = {
      "4abc", "2{}", "2abc[\"message-with-ack\",1]", "3", "1{}", "2[\"disconnect\"]", "99"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    suite_setup();
    fconn_t *f = conn_open();
    in(f, "0");
    in(f, bad[i]);
    TC_CHECK(f->closed);
    TC_CHECK(strcmp(last_reason, "forced close") == 0);
    /* Nothing more is read once closed. */
    int n = f->n;
    in(f, "2[\"message\"]");
    TC_CHECK_EQ_INT(f->n, n);
    conn_free(f);
    server_down();
  }
  /* Binary data when none was announced, text while attachments are awaited. */
  suite_setup();
  fconn_t *f = conn_open();
  in(f, "0");
  in_bin(f, "x", 1);
  TC_CHECK(f->closed);
  conn_free(f);
  f = conn_open();
  in(f, "0");
  in(f, "51-[\"message\",{\"_placeholder\":true,\"num\":0}]");
  in(f, "2[\"message\"]");
  TC_CHECK(f->closed);
  conn_free(f);
  f = conn_open();
  in(f, "0");
  in(f, "51-[\"message\",{\"_placeholder\":true,\"num\":3}]");
  in_bin(f, "x", 1);
  TC_CHECK(f->closed);
  conn_free(f);
  /* An event before any CONNECT. */
  f = conn_open();
  in(f, "2[\"message\"]");
  TC_CHECK(f->closed);
  conn_free(f);
  server_down();
}

static void test_connect_timeout(void) {
  tc_sio_config_t cfg = {.connect_timeout_ms = 30};
  server_up(&cfg);
  fconn_t *a = conn_open(), *b = conn_open();
  in(b, "0");
  in(b, "1"); /* joined, then left: the timeout was already cleared */
  run_for(60);
  TC_CHECK(a->closed);
  TC_CHECK(!b->closed);
  conn_free(a);
  conn_free(b);
  server_down();
}

/* ---- Middlewares ----------------------------------------------------------------------------- */

static tc_sio_socket_t *pending_socket;
static int mw_calls;

static int mw_token(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  mw_calls++;
  tc_slice_t tok;
  if (tc_json_object_get(tc_sio_auth(s), "token", &tok) == 1 && tc_json_string_eq(tok, "ok", 2))
    return TC_SIO_NEXT;
  return tc_sio_refuse(s, "Not authorized", TC_SLICE_LIT("{\"code\":401}"));
}

static int mw_async(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  pending_socket = s;
  tc_sio_set_data(s, TC_SLICE_LIT("{\"user\":\"ann\"}"));
  return TC_SIO_PENDING;
}

/* Node style: next() called at once, then "pending" returned. */
static int mw_early(tc_sio_socket_t *s, void *ud) {
  tc_slice_t tok;
  int ok = tc_json_object_get(tc_sio_auth(s), "token", &tok) == 1;
  tc_sio_next(s, ok ? NULL : "early no", (tc_slice_t){0});
  (void)ud;
  return TC_SIO_PENDING;
}

static void test_middlewares(void) {
  suite_setup();
  tc_sio_nsp_t *nsp = tc_sio_of(srv, "/secure");
  install_suite_handlers(nsp);
  tc_sio_use(nsp, mw_token, NULL);
  fconn_t *f = conn_open();
  in(f, "0/secure,{\"token\":\"bad\"}");
  TC_CHECK(strcmp(out(f, 0), "4/secure,{\"message\":\"Not authorized\",\"data\":{\"code\":401}}") ==
           0);
  TC_CHECK_EQ_INT(connections, 0);
  in(f, "0/secure,{\"token\":\"ok\"}");
  TC_CHECK(starts(out(f, 1), "0/secure,{\"sid\":"));
  TC_CHECK_EQ_INT(connections, 1);
  conn_free(f);

  /* Asynchronous: nothing until tc_sio_next, then the next middleware, then the connection. */
  tc_sio_nsp_t *slow = tc_sio_of(srv, "/slow");
  install_suite_handlers(slow);
  tc_sio_use(slow, mw_async, NULL);
  tc_sio_use(slow, mw_token, NULL);
  mw_calls = 0;
  f = conn_open();
  in(f, "0/slow,{\"token\":\"ok\"}");
  TC_CHECK_EQ_INT(f->n, 0);
  TC_CHECK_EQ_INT(mw_calls, 0);
  TC_CHECK(!tc_sio_connected(pending_socket));
  TC_CHECK_EQ_INT(tc_sio_next(pending_socket, NULL, (tc_slice_t){0}), 0);
  TC_CHECK_EQ_INT(mw_calls, 1);
  TC_CHECK(starts(out(f, 0), "0/slow,{\"sid\":"));
  TC_CHECK(tc_sio_data(pending_socket).len == 14);
  TC_CHECK_EQ_INT(tc_sio_next(pending_socket, NULL, (tc_slice_t){0}), TC_EINVAL);
  conn_free(f);

  /* Refused later. */
  f = conn_open();
  in(f, "0/slow,{}");
  tc_sio_next(pending_socket, "Go away", (tc_slice_t){0});
  TC_CHECK(strcmp(out(f, 0), "4/slow,{\"message\":\"Go away\"}") == 0);
  conn_free(f);

  /* The client leaves while the middleware is pending: the socket waits for tc_sio_next. */
  f = conn_open();
  in(f, "0/slow,{\"token\":\"ok\"}");
  tc_sio_socket_t *ps = pending_socket;
  conn_free(f);
  TC_CHECK(tc_sio_closed(ps));
  run_for(1);
  TC_CHECK_EQ_INT(tc_sio_server_client_count(srv), 1);
  tc_sio_next(ps, NULL, (tc_slice_t){0});
  TC_CHECK_EQ_INT(tc_sio_server_client_count(srv), 0);
  run_for(1);

  /* tc_sio_next from inside the middleware. */
  tc_sio_nsp_t *early = tc_sio_of(srv, "/early");
  tc_sio_use(early, mw_early, NULL);
  f = conn_open();
  in(f, "0/early,{\"token\":1}");
  TC_CHECK(starts(out(f, 0), "0/early,{\"sid\":"));
  in(f, "0/early,{}"); /* already connected: invalid state */
  TC_CHECK(f->closed);
  conn_free(f);
  f = conn_open();
  in(f, "0/early,{}");
  TC_CHECK(strcmp(out(f, 0), "4/early,{\"message\":\"early no\"}") == 0);
  conn_free(f);

  /* And one left pending when the server goes is released with it. */
  f = conn_open();
  in(f, "0/slow,{}");
  f->closed = 1;
  tc__sio_client_closed(f->c, "transport close");
  conn_clear(f);
  free(f);
  server_down();
}

/* ---- Rooms and broadcasts -------------------------------------------------------------------- */

static tc_sio_socket_t *socks[16];
static int nsocks;

static void on_conn_collect(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  socks[nsocks++] = s;
}

static void test_rooms_broadcast(void) {
  server_up(NULL);
  tc_sio_nsp_handlers_t h = {.on_connection = on_conn_collect};
  tc_sio_nsp_set_handlers(srv->main, &h, NULL);
  nsocks = 0;
  fconn_t *f[4];
  for (int i = 0; i < 4; i++) {
    f[i] = conn_open();
    in(f[i], "0");
    conn_clear(f[i]);
  }
  TC_CHECK_EQ_INT(nsocks, 4);
  tc_sio_join(socks[0], "red");
  tc_sio_join(socks[1], "red");
  tc_sio_join(socks[1], "blue");
  tc_sio_join(socks[2], "blue");
  tc_sio_join(socks[2], "blue");
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "red"), 2);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "blue"), 2);
  TC_CHECK(tc_sio_in_room(socks[1], "blue"));

  /* To red and blue: each member once. */
  const char *rb[] = {"red", "blue"};
  tc_sio_target_t to = {.rooms = rb, .num_rooms = 2};
  tc_sio_emit_t e = {.event = "hi", .args = TC_SLICE_LIT("1")};
  TC_CHECK_EQ_INT(tc_sio_broadcast(srv->main, &to, &e), 0);
  TC_CHECK_EQ_INT(f[0]->n, 1);
  TC_CHECK_EQ_INT(f[1]->n, 1);
  TC_CHECK_EQ_INT(f[2]->n, 1);
  TC_CHECK_EQ_INT(f[3]->n, 0);
  TC_CHECK(strcmp(out(f[1], 0), "2[\"hi\",1]") == 0);

  /* Everyone except blue. */
  const char *b[] = {"blue"};
  tc_sio_target_t ex = {.except = b, .num_except = 1};
  tc_sio_broadcast(srv->main, &ex, &e);
  TC_CHECK_EQ_INT(f[0]->n, 2);
  TC_CHECK_EQ_INT(f[1]->n, 1);
  TC_CHECK_EQ_INT(f[3]->n, 1);

  /* From socket 0 to red: not to itself. */
  const char *r[] = {"red"};
  tc_sio_target_t tr = {.rooms = r, .num_rooms = 1};
  tc_sio_socket_broadcast(socks[0], &tr, &e);
  TC_CHECK_EQ_INT(f[0]->n, 2);
  TC_CHECK_EQ_INT(f[1]->n, 2);
  /* From socket 0 to everyone else. */
  tc_sio_socket_broadcast(socks[0], NULL, &e);
  TC_CHECK_EQ_INT(f[0]->n, 2);
  TC_CHECK_EQ_INT(f[3]->n, 2);

  /* Volatile: a busy transport misses it. */
  f[3]->busy = 1;
  tc_sio_emit_t v = {.event = "tick", .is_volatile = 1};
  tc_sio_broadcast(srv->main, NULL, &v);
  TC_CHECK_EQ_INT(f[3]->n, 2);
  TC_CHECK_EQ_INT(f[2]->n, 3);
  TC_CHECK_EQ_INT(tc_sio_send(socks[3], &v), 0);
  TC_CHECK_EQ_INT(f[3]->n, 2);
  f[3]->busy = 0;

  /* Binary broadcast: the text then the attachment, to each. */
  tc_slice_t att = TC_SLICE_LIT("\x00\x01");
  tc_sio_emit_t be = {.event = "bin",
                      .args = TC_SLICE_LIT(TC_SIO_PLACEHOLDER "0" TC_SIO_PLACEHOLDER_END),
                      .attachments = &att,
                      .num_attachments = 1};
  tc_sio_broadcast(srv->main, &tr, &be);
  TC_CHECK(strcmp(out(f[0], -2), "51-[\"bin\",{\"_placeholder\":true,\"num\":0}]") == 0);
  TC_CHECK(f[0]->bin[f[0]->n - 1] && f[0]->len[f[0]->n - 1] == 2);

  /* Leaving, socketsJoin, socketsLeave, disconnectSockets. */
  tc_sio_leave(socks[0], "red");
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "red"), 1);
  tc_sio_sockets_join(srv->main, &ex, "green");
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "green"), 2);
  tc_sio_sockets_leave(srv->main, NULL, "green");
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "green"), 0);
  tc_sio_disconnect_sockets(srv->main, &tr, 0);
  TC_CHECK_EQ_INT(tc_sio_nsp_count(srv->main), 3);
  TC_CHECK(strcmp(out(f[1], -1), "1") == 0);
  TC_CHECK(!f[1]->closed);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, "blue"), 1);
  tc_sio_disconnect(socks[2], 1);
  TC_CHECK(f[2]->closed);
  TC_CHECK(strcmp(out(f[2], -1), "1") == 0);
  TC_CHECK(tc_sio_emit(socks[2], "x", (tc_slice_t){0}) == TC_ECLOSED);

  /* Reserved and malformed emits. */
  tc_sio_emit_t bad = {.event = "disconnect"};
  TC_CHECK_EQ_INT(tc_sio_send(socks[3], &bad), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_sio_emit(socks[3], "ok", TC_SLICE_LIT("1,")), TC_EINVAL);
  json_t *arr = json_pack("[s,i,{s:b}]", "a", 2, "c", 1);
  TC_CHECK_EQ_INT(tc_sio_emit_json(socks[3], "j", arr), 0);
  TC_CHECK(strcmp(out(f[3], -1), "2[\"j\",\"a\",2,{\"c\":true}]") == 0);
  json_decref(arr);
  arr = tc_sio_args_json(TC_SLICE_LIT("1, \"x\" ,{\"k\":[null]}"));
  TC_CHECK(arr && json_array_size(arr) == 3 && json_integer_value(json_array_get(arr, 0)) == 1);
  json_decref(arr);
  arr = tc_sio_args_json((tc_slice_t){0});
  TC_CHECK(arr && json_array_size(arr) == 0);
  json_decref(arr);
  TC_CHECK(tc_sio_args_json(TC_SLICE_LIT("1,")) == NULL);
  for (int i = 0; i < 4; i++) conn_free(f[i]);
  server_down();
}

/* The room named by a socket's id: the socket is in it from the start, may leave and join it
 * again, and others may join it too. */
static char room_names[256];

static void collect_room(const char *room, void *ud) {
  (void)ud;
  strcat(room_names, room);
  strcat(room_names, ";");
}

static void test_id_rooms(void) {
  server_up(NULL);
  tc_sio_nsp_handlers_t h = {.on_connection = on_conn_collect};
  tc_sio_nsp_set_handlers(srv->main, &h, NULL);
  nsocks = 0;
  fconn_t *f[3];
  for (int i = 0; i < 3; i++) {
    f[i] = conn_open();
    in(f[i], "0");
    conn_clear(f[i]);
  }
  const char *id0 = tc_sio_id(socks[0]);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, id0), 1);
  TC_CHECK(tc_sio_in_room(socks[0], id0));
  TC_CHECK(!tc_sio_in_room(socks[1], id0));
  tc_sio_join(socks[0], "red");
  room_names[0] = 0;
  tc_sio_rooms(socks[0], collect_room, NULL);
  char want[64];
  snprintf(want, sizeof want, "red;%s;", id0);
  TC_CHECK(strcmp(room_names, want) == 0);

  /* Another socket joins socket 0's room: both get what goes there, each once. */
  tc_sio_join(socks[1], id0);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, id0), 2);
  const char *to0[] = {id0, id0};
  tc_sio_target_t t = {.rooms = to0, .num_rooms = 2};
  tc_sio_emit_t e = {.event = "hi"};
  TC_CHECK_EQ_INT(tc_sio_broadcast(srv->main, &t, &e), 0);
  TC_CHECK_EQ_INT(f[0]->n, 1);
  TC_CHECK_EQ_INT(f[1]->n, 1);
  TC_CHECK_EQ_INT(f[2]->n, 0);
  /* Excluding the room excludes both. */
  tc_sio_target_t ex = {.except = to0, .num_except = 1};
  tc_sio_broadcast(srv->main, &ex, &e);
  TC_CHECK_EQ_INT(f[0]->n, 1);
  TC_CHECK_EQ_INT(f[1]->n, 1);
  TC_CHECK_EQ_INT(f[2]->n, 1);

  /* Socket 0 leaves its own room: only the other member is left. */
  tc_sio_leave(socks[0], id0);
  TC_CHECK(!tc_sio_in_room(socks[0], id0));
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, id0), 1);
  tc_sio_broadcast(srv->main, &t, &e);
  TC_CHECK_EQ_INT(f[0]->n, 1);
  TC_CHECK_EQ_INT(f[1]->n, 2);
  /* And joins it again, now as the newest of its rooms. */
  tc_sio_join(socks[0], id0);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, id0), 2);
  room_names[0] = 0;
  tc_sio_rooms(socks[0], collect_room, NULL);
  snprintf(want, sizeof want, "%s;red;", id0);
  TC_CHECK(strcmp(room_names, want) == 0);

  /* Gone: its own room with it; the other member stays until it leaves. */
  char saved[24];
  snprintf(saved, sizeof saved, "%s", id0);
  conn_free(f[0]);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, saved), 1);
  tc_sio_leave(socks[1], saved);
  TC_CHECK_EQ_INT(tc_sio_room_size(srv->main, saved), 0);
  conn_free(f[1]);
  conn_free(f[2]);
  server_down();
}

/* ---- Acknowledgements from clients ----------------------------------------------------------- */

static int ack_err = 99;
static char ack_args[64];

static void on_ack(tc_sio_socket_t *s, int err, const tc_sio_reply_t *reply, void *ud) {
  (void)s;
  (void)ud;
  ack_err = err;
  snprintf(ack_args, sizeof ack_args, "%.*s", reply ? (int)reply->args.len : 0,
           reply ? (const char *)reply->args.p : "");
}

static int bcast_err = 99;
static size_t bcast_n;

static void on_bcast_ack(tc_sio_nsp_t *nsp, int err, const tc_sio_reply_t *r, size_t n, void *ud) {
  (void)nsp;
  (void)r;
  (void)ud;
  bcast_err = err;
  bcast_n = n;
}

static void test_server_acks(void) {
  server_up(NULL);
  tc_sio_nsp_handlers_t h = {.on_connection = on_conn_collect};
  tc_sio_nsp_set_handlers(srv->main, &h, NULL);
  nsocks = 0;
  fconn_t *f = conn_open(), *g = conn_open();
  in(f, "0");
  in(g, "0");
  conn_clear(f);
  conn_clear(g);
  tc_sio_emit_t e = {.event = "q", .args = TC_SLICE_LIT("1"), .ack = on_ack, .timeout_ms = 50};
  TC_CHECK_EQ_INT(tc_sio_send(socks[0], &e), 0);
  TC_CHECK(strcmp(out(f, 0), "20[\"q\",1]") == 0);
  in(f, "30[\"fine\",2]");
  TC_CHECK_EQ_INT(ack_err, 0);
  TC_CHECK(strcmp(ack_args, "\"fine\",2") == 0);
  in(f, "30[\"again\"]"); /* a second answer is ignored */
  TC_CHECK(strcmp(ack_args, "\"fine\",2") == 0);

  /* Timeout. */
  ack_err = 99;
  tc_sio_send(socks[0], &e);
  run_for(80);
  TC_CHECK_EQ_INT(ack_err, TC_ETIMEDOUT);

  /* Disconnected first. */
  ack_err = 99;
  e.timeout_ms = 0;
  tc_sio_send(socks[1], &e);
  in(g, "1");
  TC_CHECK_EQ_INT(ack_err, TC_ECLOSED);

  /* Broadcast with acks: one answers, the other not: timeout with one reply. */
  in(g, "0");
  conn_clear(f);
  conn_clear(g);
  tc_sio_emit_t b = {.event = "poll"};
  TC_CHECK_EQ_INT(tc_sio_broadcast_ack(srv->main, NULL, &b, 50, on_bcast_ack, NULL), 0);
  TC_CHECK(starts(out(f, 0), "2"));
  char ans[32];
  snprintf(ans, sizeof ans, "3%.*s[\"yes\"]", (int)(strchr(out(f, 0), '[') - out(f, 0) - 1),
           out(f, 0) + 1);
  in(f, ans);
  TC_CHECK_EQ_INT(bcast_err, 99);
  run_for(80);
  TC_CHECK_EQ_INT(bcast_err, TC_ETIMEDOUT);
  TC_CHECK_EQ_INT(bcast_n, 1);

  /* Both answer: complete at once. */
  bcast_err = 99;
  conn_clear(f);
  conn_clear(g);
  tc_sio_broadcast_ack(srv->main, NULL, &b, 1000, on_bcast_ack, NULL);
  snprintf(ans, sizeof ans, "3%.*s[]", (int)(strchr(out(f, 0), '[') - out(f, 0) - 1),
           out(f, 0) + 1);
  in(f, ans);
  in(g, ans);
  TC_CHECK_EQ_INT(bcast_err, 0);
  TC_CHECK_EQ_INT(bcast_n, 2);

  /* Nobody to ask: completes from the loop. */
  bcast_err = 99;
  const char *none[] = {"nobody"};
  tc_sio_target_t t = {.rooms = none, .num_rooms = 1};
  tc_sio_broadcast_ack(srv->main, &t, &b, 1000, on_bcast_ack, NULL);
  TC_CHECK_EQ_INT(bcast_err, 99);
  run_for(5);
  TC_CHECK_EQ_INT(bcast_err, 0);
  TC_CHECK_EQ_INT(bcast_n, 0);

  /* Pending at shutdown: closed. */
  bcast_err = 99;
  tc_sio_broadcast_ack(srv->main, NULL, &b, 1000, on_bcast_ack, NULL);
  conn_free(f);
  conn_free(g);
  server_down();
  TC_CHECK_EQ_INT(bcast_err, TC_ECLOSED);
}

/* ---- Dynamic namespaces ---------------------------------------------------------------------- */

static int allow_even(tc_sio_server_t *s, const char *name, tc_slice_t auth, void *ud) {
  (void)s;
  (void)auth;
  (void)ud;
  return (name[strlen(name) - 1] - '0') % 2 == 0;
}

static void test_dynamic(void) {
  tc_sio_config_t cfg = {.cleanup_empty_child_namespaces = 1};
  server_up(&cfg);
  tc_sio_nsp_t *p = tc_sio_of_dynamic(srv, "/room-*", NULL, NULL);
  install_suite_handlers(p);
  tc_sio_nsp_t *q = tc_sio_of_dynamic(srv, NULL, allow_even, NULL);
  install_suite_handlers(q);
  TC_CHECK(strcmp(tc_sio_nsp_name(p), "/_0") == 0);
  fconn_t *f = conn_open();
  in(f, "0/room-1,{\"a\":1}");
  TC_CHECK(starts(out(f, 0), "0/room-1,{\"sid\":"));
  TC_CHECK(strcmp(out(f, 1), "2/room-1,[\"auth\",{\"a\":1}]") == 0);
  tc_sio_nsp_t *child = tc_sio_nsp_find(srv, "/room-1");
  TC_CHECK(child && tc_sio_nsp_parent(child) == p);
  in(f, "0/x2");
  TC_CHECK(starts(out(f, 2), "0/x2,{\"sid\":"));
  in(f, "0/x3");
  TC_CHECK(strcmp(out(f, 4), "4/x3,{\"message\":\"Invalid namespace\"}") == 0);
  conn_clear(f);
  /* Handlers of the parent serve the child; a broadcast to the parent reaches the children. */
  in(f, "2/room-1,[\"message\",5]");
  TC_CHECK(strcmp(out(f, 0), "2/room-1,[\"message-back\",5]") == 0);
  tc_sio_emit_t e = {.event = "all"};
  tc_sio_broadcast(p, NULL, &e);
  TC_CHECK(strcmp(out(f, 1), "2/room-1,[\"all\"]") == 0);
  TC_CHECK_EQ_INT(tc_sio_nsp_count(p), 1);
  /* The child goes with its last socket. */
  in(f, "1/room-1");
  TC_CHECK(tc_sio_nsp_find(srv, "/room-1") == NULL);
  run_for(1);
  TC_CHECK(tc_sio_of(srv, "/room-9") != NULL);
  TC_CHECK(tc_sio_nsp_parent(tc_sio_nsp_find(srv, "/room-9")) == p);
  conn_free(f);
  server_down();
}

/* ---- Connection state recovery --------------------------------------------------------------- */

static void test_recovery(void) {
  tc_sio_config_t cfg = {.recovery = 1};
  server_up(&cfg);
  tc_sio_nsp_handlers_t h = {.on_connection = on_conn_collect, .on_disconnect = on_disconnect};
  tc_sio_nsp_set_handlers(srv->main, &h, NULL);
  nsocks = 0;
  fconn_t *f = conn_open(), *g = conn_open();
  in(f, "0");
  in(g, "0");
  const char *hs = out(f, 0);
  TC_CHECK(starts(hs, "0{\"sid\":\"") && strstr(hs, ",\"pid\":\"") != NULL);
  char sid[21], pid[21];
  memcpy(sid, hs + 9, 20);
  sid[20] = 0;
  memcpy(pid, strstr(hs, "\"pid\":\"") + 7, 20);
  pid[20] = 0;
  tc_sio_join(socks[0], "news");
  tc_sio_set_data(socks[0], TC_SLICE_LIT("{\"n\":1}"));
  conn_clear(f);

  /* Broadcasts carry an offset as their last argument; emits too. */
  const char *news[] = {"news"};
  tc_sio_target_t t = {.rooms = news, .num_rooms = 1};
  tc_sio_emit_t e = {.event = "a", .args = TC_SLICE_LIT("1")};
  tc_sio_broadcast(srv->main, &t, &e);
  const char *m = out(f, 0);
  TC_CHECK(starts(m, "2[\"a\",1,\""));
  char offset[32];
  const char *q = m + strlen("2[\"a\",1,\"");
  size_t ol = strcspn(q, "\"");
  memcpy(offset, q, ol);
  offset[ol] = 0;
  tc_sio_emit(socks[1], "direct", (tc_slice_t){0});
  TC_CHECK(starts(out(g, -1), "2[\"direct\",\""));
  /* Volatile and acknowledged packets carry none. */
  tc_sio_emit_t v = {.event = "v", .is_volatile = 1};
  tc_sio_send(socks[1], &v);
  TC_CHECK(strcmp(out(g, -1), "2[\"v\"]") == 0);

  /* The transport goes; broadcasts continue. */
  f->closed = 1;
  tc__sio_client_closed(f->c, "transport close");
  TC_CHECK(strcmp(last_reason, "transport close") == 0);
  tc_sio_emit_t e2 = {.event = "b", .args = TC_SLICE_LIT("2")};
  tc_sio_broadcast(srv->main, &t, &e2);   /* to news: missed */
  tc_sio_broadcast(srv->main, NULL, &e2); /* to all: missed */
  const char *other[] = {"other"};
  tc_sio_target_t o = {.rooms = other, .num_rooms = 1};
  tc_sio_broadcast(srv->main, &o, &e2); /* not for it */
  tc_sio_target_t xn = {.except = news, .num_except = 1};
  tc_sio_broadcast(srv->main, &xn, &e2); /* excluded */
  conn_clear(f);
  free(f);
  run_for(1);

  /* It comes back with its pid and last offset. */
  f = conn_open();
  char connect[128];
  snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, offset);
  in(f, connect);
  TC_CHECK_EQ_INT(f->n, 3);
  TC_CHECK(starts(out(f, 0), "2[\"b\",2,\""));
  TC_CHECK(starts(out(f, 1), "2[\"b\",2,\""));
  char expect[64];
  snprintf(expect, sizeof expect, "0{\"sid\":\"%s\",\"pid\":\"%s\"}", sid, pid);
  TC_CHECK(strcmp(out(f, 2), expect) == 0);
  tc_sio_socket_t *back = socks[nsocks - 1];
  TC_CHECK(tc_sio_recovered(back));
  TC_CHECK(strcmp(tc_sio_id(back), sid) == 0);
  TC_CHECK(tc_sio_in_room(back, "news"));
  TC_CHECK(tc_sio_data(back).len == 7);

  /* A second restore with the same pid while the first is connected gets a new session. */
  fconn_t *h2 = conn_open();
  in(h2, connect);
  TC_CHECK(!tc_sio_recovered(socks[nsocks - 1]));
  TC_CHECK(strcmp(tc_sio_id(socks[nsocks - 1]), sid) != 0);

  /* An unknown offset does not restore, nor does an unknown pid. */
  in(f, "1");
  conn_free(f);
  f = conn_open();
  snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"nope\"}", pid);
  in(f, connect);
  TC_CHECK(!tc_sio_recovered(socks[nsocks - 1]));
  in(f, "1");
  snprintf(connect, sizeof connect, "0{\"pid\":\"zz\",\"offset\":\"%s\"}", offset);
  in(f, connect);
  TC_CHECK(!tc_sio_recovered(socks[nsocks - 1]));
  conn_free(f);
  conn_free(g);
  conn_free(h2);
  server_down();
}

/* A session is kept for recovery_max_disconnection_ms only. */
static void test_recovery_expiry(void) {
  tc_sio_config_t cfg = {.recovery = 1, .recovery_max_disconnection_ms = 20};
  server_up(&cfg);
  tc_sio_nsp_handlers_t h = {.on_connection = on_conn_collect};
  tc_sio_nsp_set_handlers(srv->main, &h, NULL);
  nsocks = 0;
  fconn_t *f = conn_open();
  in(f, "0");
  char pid[21];
  memcpy(pid, strstr(out(f, 0), "\"pid\":\"") + 7, 20);
  pid[20] = 0;
  tc_sio_emit(socks[0], "x", (tc_slice_t){0});
  char offset[32];
  const char *q = out(f, 1) + strlen("2[\"x\",\"");
  size_t ol = strcspn(q, "\"");
  memcpy(offset, q, ol);
  offset[ol] = 0;
  f->closed = 1;
  tc__sio_client_closed(f->c, "ping timeout");
  conn_clear(f);
  free(f);
  run_for(40);
  f = conn_open();
  char connect[128];
  snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, offset);
  in(f, connect);
  TC_CHECK_EQ_INT(nsocks, 2);
  TC_CHECK(!tc_sio_recovered(socks[1]));
  conn_free(f);
  server_down();
}

static void test_server_close(void) {
  suite_setup();
  fconn_t *f = conn_open();
  in(f, "0");
  in(f, "0/custom");
  tc_sio_server_close(srv);
  TC_CHECK_EQ_INT(disconnects, 2);
  TC_CHECK(strcmp(last_reason, "server shutting down") == 0);
  TC_CHECK_EQ_INT(tc_sio_nsp_count(srv->main), 0);
  conn_free(f);
  server_down();
}

int main(void) {
  uv_loop_init(&loop);
  TC_RUN(test_connect);
  TC_RUN(test_messages);
  TC_RUN(test_invalid_packets);
  TC_RUN(test_connect_timeout);
  TC_RUN(test_middlewares);
  TC_RUN(test_rooms_broadcast);
  TC_RUN(test_id_rooms);
  TC_RUN(test_server_acks);
  TC_RUN(test_dynamic);
  TC_RUN(test_recovery);
  TC_RUN(test_recovery_expiry);
  TC_RUN(test_server_close);
  uv_run(&loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  return tc_test_end();
}
