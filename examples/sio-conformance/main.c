/* sio-conformance: the server that the reference test suites of the Engine.IO and Socket.IO
 * protocols (the socketio/engine.io-protocol and socketio/socket.io-protocol repositories) expect,
 * written on tincan's public API. It is also the shortest complete example of that API.
 *
 *   /engine.io/  Engine.IO alone: every message comes back as it came, text or binary.
 *   /socket.io/  Socket.IO: namespace "/" greets each client with "auth" and the auth payload it
 *                connected with, answers "message" with "message-back" and the same arguments
 *                (binary attachments included), and acknowledges "message-with-ack" with its own
 *                arguments; "/custom" greets with "auth"; any other namespace is refused.
 *
 * Both use pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize 1000000 and CORS "*"; a
 * Socket.IO session must join a namespace within 1000 ms. Connection state recovery is off.
 *
 * With --extras (for tincan's own interop tests, which need the server to act) namespace "/"
 * also has rooms and broadcasts, acknowledgements asked by the server, volatile events and
 * disconnections, and the namespace "/secure" admits only clients whose auth has "token":"ok";
 * every connection and disconnection is logged to stderr as "connect NSP ID [recovered]" and
 * "disconnect NSP ID REASON". The events, each taking the arguments shown:
 *   join ROOM / leave ROOM          (acknowledged with no arguments)
 *   to-room ROOM ARGS...            "room-message" ARGS to ROOM, the sender left out
 *   to-room-all ROOM ARGS...        "room-message" ARGS to ROOM, the sender included
 *   to-all ARGS...                  "all-message" ARGS to the namespace
 *   to-all-except ROOM ARGS...      "all-message" ARGS to the namespace but ROOM
 *   volatile-burst N                N volatile "tick" I, then "burst-done" N (not volatile)
 *   ask ARGS...                     "question" ARGS with an acknowledgement (500 ms); then
 *                                   "answer" with the reply's arguments, or "answer-timeout"
 *   bye / bye-all                   leave the namespace / close the whole connection
 *   drop-transport                  close the Engine.IO session as if the network failed
 * --recovery turns connection state recovery on.
 *
 * usage: sio-conformance [--host ADDR] [--port N] [--log-level LEVEL] [--extras] [--recovery]
 */
#include "tincan/tincan.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_INTERVAL_MS 300
#define PING_TIMEOUT_MS 200
#define MAX_PAYLOAD 1000000
#define CONNECT_TIMEOUT_MS 1000

typedef struct app {
  uv_loop_t loop;
  tc_logger_t log;
  tc_io_t *io;
  tc_http_server_t *http;
  tc_sio_server_t *sio;
  uv_timer_t grace;
  int extras;
  int recovery;
} app_t;

/* ---- Engine.IO ------------------------------------------------------------------------------ */

static void eio_on_message(tc_eio_socket_t *s, int binary, const uint8_t *data, size_t len,
                           void *ud) {
  (void)ud;
  tc_eio_send(s, binary, data, len);
}

/* ---- Socket.IO ------------------------------------------------------------------------------ */

static void on_connection(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  /* The auth payload is an object, so it is one argument as it stands. */
  tc_sio_emit(s, "auth", tc_sio_auth(s));
}

/* Arguments are passed on as raw JSON text, with the attachments their placeholders name: the
 * server never parses what it echoes. */
static void on_message(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_emit_t e = {.event = "message-back",
                     .args = ev->args,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments};
  tc_sio_send(s, &e);
}

static void on_message_with_ack(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  if (ev->ack_id >= 0)
    tc_sio_ack_bin(s, ev->ack_id, ev->args, ev->attachments, ev->num_attachments);
}

/* ---- --extras -------------------------------------------------------------------------------- */

static void log_connection(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  fprintf(stderr, "connect %s %s%s\n", tc_sio_nsp_name(tc_sio_socket_nsp(s)), tc_sio_id(s),
          tc_sio_recovered(s) ? " recovered" : "");
  tc_sio_emit(s, "auth", tc_sio_auth(s));
}

static void log_disconnect(tc_sio_socket_t *s, const char *reason, void *ud) {
  (void)ud;
  fprintf(stderr, "disconnect %s %s %s\n", tc_sio_nsp_name(tc_sio_socket_nsp(s)), tc_sio_id(s),
          reason);
}

/* The first argument, a string naming a room, into out as a C string ("" when it is not one);
 * *rest is the arguments after it. */
static void room_arg(const tc_sio_event_t *ev, tc_buf_t *out, tc_slice_t *rest) {
  tc_json_iter_t it;
  tc_slice_t first;
  *rest = (tc_slice_t){0};
  tc_json_iter_list(&it, ev->args);
  if (tc_json_next(&it, NULL, &first) == 1) {
    if (tc_json_type(first) == TC_JSON_STRING) tc_json_unescape(first, out);
    /* The rest starts after the comma that follows the first value. */
    size_t at = (size_t)(first.p + first.len - ev->args.p);
    while (at < ev->args.len && ev->args.p[at] != ',') at++;
    if (at < ev->args.len)
      *rest = tc_json_trim((tc_slice_t){ev->args.p + at + 1, ev->args.len - at - 1});
  }
  tc_buf_append(out, "", 1);
}

static void on_join_leave(tc_sio_socket_t *s, const tc_sio_event_t *ev, int join) {
  tc_buf_t room = {0};
  tc_slice_t rest;
  room_arg(ev, &room, &rest);
  const char *name = (const char *)tc_buf_data(&room);
  if (join)
    tc_sio_join(s, name);
  else
    tc_sio_leave(s, name);
  if (ev->ack_id >= 0) tc_sio_ack(s, ev->ack_id, (tc_slice_t){0});
  tc_buf_free(&room);
}

static void on_join(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  on_join_leave(s, ev, 1);
}

static void on_leave(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  on_join_leave(s, ev, 0);
}

/* The broadcasts: ud says which (1 to-room, 2 to-room-all, 3 to-all, 4 to-all-except). */
static void on_broadcast(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  int kind = (int)(intptr_t)ud;
  tc_buf_t room = {0};
  tc_slice_t rest = ev->args;
  if (kind != 3) room_arg(ev, &room, &rest);
  const char *rooms[] = {(const char *)tc_buf_data(&room)};
  tc_sio_target_t to = {0};
  if (kind == 1 || kind == 2) to = (tc_sio_target_t){.rooms = rooms, .num_rooms = 1};
  if (kind == 4) to = (tc_sio_target_t){.except = rooms, .num_except = 1};
  tc_sio_emit_t e = {.event = kind <= 2 ? "room-message" : "all-message",
                     .args = rest,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments};
  if (kind == 1)
    tc_sio_socket_broadcast(s, &to, &e);
  else
    tc_sio_broadcast(tc_sio_socket_nsp(s), &to, &e);
  tc_buf_free(&room);
}

static void on_volatile_burst(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_slice_t v;
  uint64_t n = 0;
  if (tc_json_list_get(ev->args, 0, &v) != 1 || tc_json_uint(v, &n) < 0 || n > 100000) return;
  for (uint64_t i = 0; i < n; i++) {
    char num[24];
    size_t len = tc_u64_to_str(i, num);
    tc_sio_emit_t e = {.event = "tick", .args = {(const uint8_t *)num, len}, .is_volatile = 1};
    tc_sio_send(s, &e);
  }
  tc_sio_emit(s, "burst-done", v);
}

static void on_answer(tc_sio_socket_t *s, int err, const tc_sio_reply_t *reply, void *ud) {
  (void)ud;
  if (err == TC_ECLOSED) return;
  if (err) {
    tc_sio_emit(s, "answer-timeout", (tc_slice_t){0});
    return;
  }
  tc_sio_emit_t e = {.event = "answer",
                     .args = reply->args,
                     .attachments = reply->attachments,
                     .num_attachments = reply->num_attachments};
  tc_sio_send(s, &e);
}

static void on_ask(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_emit_t e = {.event = "question",
                     .args = ev->args,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments,
                     .ack = on_answer,
                     .timeout_ms = 500};
  tc_sio_send(s, &e);
}

static void on_bye(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ev;
  tc_sio_disconnect(s, ud != NULL);
}

static void on_drop_transport(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ev, (void)ud;
  tc_eio_socket_t *es = tc_sio_eio(s);
  if (es) tc_eio_close(es);
}

static int secure_only(tc_sio_socket_t *s, void *ud) {
  (void)ud;
  tc_slice_t token;
  if (tc_json_object_get(tc_sio_auth(s), "token", &token) == 1 && tc_json_string_eq(token, "ok", 2))
    return TC_SIO_NEXT;
  return tc_sio_refuse(s, "unauthorized", TC_SLICE_LIT("{\"code\":4001}"));
}

static int setup_extras(tc_sio_server_t *sio, tc_sio_nsp_t *nsp) {
  static const struct {
    const char *name;
    tc_sio_event_fn fn;
    intptr_t arg;
  } events[] = {
      {"join", on_join, 0},
      {"leave", on_leave, 0},
      {"to-room", on_broadcast, 1},
      {"to-room-all", on_broadcast, 2},
      {"to-all", on_broadcast, 3},
      {"to-all-except", on_broadcast, 4},
      {"volatile-burst", on_volatile_burst, 0},
      {"ask", on_ask, 0},
      {"bye", on_bye, 0},
      {"bye-all", on_bye, 1},
      {"drop-transport", on_drop_transport, 0},
      {"message", on_message, 0},
      {"message-with-ack", on_message_with_ack, 0},
  };
  static const tc_sio_nsp_handlers_t logged = {.on_connection = log_connection,
                                               .on_disconnect = log_disconnect};
  tc_sio_nsp_t *secure = tc_sio_of(sio, "/secure");
  tc_sio_nsp_t *custom = tc_sio_of(sio, "/custom");
  if (!secure || !custom) return TC_ENOMEM;
  tc_sio_nsp_set_handlers(nsp, &logged, NULL);
  tc_sio_nsp_set_handlers(custom, &logged, NULL);
  tc_sio_nsp_set_handlers(secure, &logged, NULL);
  int r = tc_sio_use(secure, secure_only, NULL);
  for (size_t i = 0; !r && i < sizeof events / sizeof *events; i++) {
    r = tc_sio_on(nsp, events[i].name, events[i].fn, (void *)events[i].arg);
    if (!r) r = tc_sio_on(secure, events[i].name, events[i].fn, (void *)events[i].arg);
  }
  return r;
}

static int setup_sio(app_t *app) {
  tc_sio_config_t cfg = {
      .eio = {.ping_interval_ms = PING_INTERVAL_MS,
              .ping_timeout_ms = PING_TIMEOUT_MS,
              .max_payload = MAX_PAYLOAD,
              .cors_origin = "*"},
      .connect_timeout_ms = CONNECT_TIMEOUT_MS,
      .recovery = app->recovery != 0,
      .log = &app->log,
  };
  int r = tc_sio_server_new(app->http, &cfg, &app->sio);
  if (r) return r;
  static const tc_sio_nsp_handlers_t greet = {.on_connection = on_connection};
  tc_sio_nsp_t *main_nsp = tc_sio_of(app->sio, "/");
  tc_sio_nsp_t *custom = tc_sio_of(app->sio, "/custom");
  if (!main_nsp || !custom) return TC_ENOMEM;
  tc_sio_nsp_set_handlers(main_nsp, &greet, app);
  tc_sio_nsp_set_handlers(custom, &greet, app);
  if ((r = tc_sio_on(main_nsp, "message", on_message, app))) return r;
  if ((r = tc_sio_on(main_nsp, "message-with-ack", on_message_with_ack, app))) return r;
  return app->extras ? setup_extras(app->sio, main_nsp) : 0;
}

/* ---- Process ----------------------------------------------------------------------------------
 */

static void on_grace(uv_timer_t *t) {
  app_t *app = t->data;
  tc_io_shutdown(app->io);
}

static void on_signal(tc_io_t *io, int signum, void *ud) {
  (void)io;
  app_t *app = ud;
  tc_log(&app->log, TC_LOG_INFO, "sio-conformance", "%s: shutting down",
         signum == SIGINT ? "SIGINT" : "SIGTERM");
  tc_sio_server_close(app->sio);
  tc_http_server_stop(app->http);
  /* Long-polling requests are answered by the close; anything left after this is cut. */
  uv_timer_start(&app->grace, on_grace, 1000, 0);
}

static int serve(app_t *app, const char *host, int port) {
  /* A POST may carry maxHttpBufferSize of payload plus its framing. */
  tc_http_server_config_t hcfg = {.max_body = MAX_PAYLOAD + 65536, .log = &app->log};
  tc_eio_config_t ecfg = {.path = "/engine.io/",
                          .ping_interval_ms = PING_INTERVAL_MS,
                          .ping_timeout_ms = PING_TIMEOUT_MS,
                          .max_payload = MAX_PAYLOAD,
                          .cors_origin = "*",
                          .log = &app->log};
  static const tc_eio_handlers_t echo = {.on_message = eio_on_message};
  tc_eio_server_t *eio;
  tc_io_listener_t *l = NULL;
  tc_io_config_t iocfg = {.log = &app->log};
  int r = tc_io_new(&app->loop, &iocfg, &app->io);
  if (!r) r = tc_http_server_new(app->io, &hcfg, &app->http);
  if (!r) r = tc_eio_server_new(app->http, &ecfg, &echo, app, &eio);
  if (!r) r = setup_sio(app);
  if (!r) r = tc_http_server_listen(app->http, host, port, &l);
  if (!r) r = tc_io_on_signal(app->io, on_signal, app);
  if (r) {
    tc_log(&app->log, TC_LOG_ERROR, "sio-conformance", "start-up failed: %s", tc_strerror(r));
    return 1;
  }
  tc_log(&app->log, TC_LOG_INFO, "sio-conformance", "listening on http://%s:%d", host,
         tc_io_listener_port(l));
  uv_run(&app->loop, UV_RUN_DEFAULT);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: sio-conformance [--host ADDR] [--port N] [--log-level LEVEL] [--extras]\n"
             "                       [--recovery]\n"
             "  Engine.IO echo on /engine.io/, the protocol test suite's Socket.IO server on\n"
             "  /socket.io/ (default 127.0.0.1:3000, the port the test suites use).\n");
}

int main(int argc, char **argv) {
  app_t app = {.log = {.fn = tc_log_stderr, .min_level = TC_LOG_INFO}};
  const char *host = "127.0.0.1";
  int port = 3000;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--extras") || !strcmp(argv[i], "--recovery")) {
      *(argv[i][2] == 'e' ? &app.extras : &app.recovery) = 1;
      continue;
    }
    char *end = NULL;
    long n = 0;
    if (v && !strcmp(argv[i], "--port")) {
      n = strtol(v, &end, 10);
      if (*end || n < 0 || n > 65535) goto bad;
      port = (int)n;
    } else if (v && !strcmp(argv[i], "--host")) {
      host = v;
    } else if (v && !strcmp(argv[i], "--log-level")) {
      if (tc_log_level_parse(v, &app.log.min_level)) goto bad;
    } else {
      usage(stderr);
      return 2;
    }
    i++;
    continue;
  bad:
    fprintf(stderr, "sio-conformance: bad value for %s: %s\n", argv[i], v);
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&app.loop);
  uv_timer_init(&app.loop, &app.grace);
  app.grace.data = &app;
  uv_unref((uv_handle_t *)&app.grace);
  int code = serve(&app, host, port);

  uv_close((uv_handle_t *)&app.grace, NULL);
  if (app.io) tc_io_shutdown(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  tc_http_server_free(app.http);
  tc_io_free(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&app.loop) != 0) {
    tc_log(&app.log, TC_LOG_WARN, "sio-conformance", "event loop closed with handles still open");
    code = 1;
  }
  if (code == 0) tc_log(&app.log, TC_LOG_INFO, "sio-conformance", "stopped");
  return code;
}
