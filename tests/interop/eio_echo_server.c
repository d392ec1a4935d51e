/* An Engine.IO echo server on the public API, for the interop tests: every message comes back
 * as it came (text as text, binary as binary) on /engine.io/, with the settings of the
 * engine.io-protocol test suite (pingInterval 300, pingTimeout 200, maxHttpBufferSize 1000000,
 * CORS "*").
 *
 * usage: eio_echo_server [PORT] [--cors ORIGINS] [--credentials] [--max-payload N]
 *          [--ping-interval MS] [--ping-timeout MS] [--upgrade-timeout MS] [--no-polling]
 *          [--no-websocket] [--deflate] [--forbid-header NAME]
 *
 * Text messages starting with "__" are commands instead of echoes, so that tests can make the
 * server act: "__close" closes the session, "__burst N" sends N numbered messages at once,
 * "__broadcast TEXT" sends TEXT to every session as one shared packet, "__count" answers the
 * number of sessions, "__binary N" sends N bytes 0, 1, 2... as a binary message, and
 * "__later MS TEXT" sends TEXT after MS milliseconds. Every on_close is logged to stderr as
 * "close SID REASON", and on_open as "open SID TRANSPORT". */
#include "tincan/eio.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conn {
  tc_eio_socket_t *s;
  struct conn *prev, *next;
} conn_t;

typedef struct later {
  uv_timer_t t;
  struct app *app;
  char sid[32];
  size_t len;
  char text[];
} later_t;

typedef struct app {
  uv_loop_t loop;
  tc_io_t *io;
  tc_http_server_t *http;
  tc_eio_server_t *eio;
  conn_t *conns;
  uv_timer_t grace;
  const char *forbid_header;
} app_t;

static void on_open(tc_eio_socket_t *s, void *ud) {
  app_t *app = ud;
  conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    tc_eio_close(s);
    return;
  }
  c->s = s;
  c->next = app->conns;
  if (app->conns) app->conns->prev = c;
  app->conns = c;
  tc_eio_set_data(s, c);
  fprintf(stderr, "open %s %s\n", tc_eio_id(s), tc_eio_transport(s));
}

static void on_close(tc_eio_socket_t *s, const char *reason, void *ud) {
  app_t *app = ud;
  conn_t *c = tc_eio_data(s);
  fprintf(stderr, "close %s %s\n", tc_eio_id(s), reason);
  if (!c) return;
  if (c->prev)
    c->prev->next = c->next;
  else
    app->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void later_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_later(uv_timer_t *t) {
  later_t *l = t->data;
  for (conn_t *c = l->app->conns; c; c = c->next) {
    if (!strcmp(tc_eio_id(c->s), l->sid)) {
      tc_eio_send(c->s, 0, l->text, l->len);
      break;
    }
  }
  uv_close((uv_handle_t *)t, later_closed);
}

/* Numbers in commands are read from a NUL-terminated copy: the message is not terminated. */
static long number_at(const char *cmd, size_t len, size_t at, size_t *end) {
  char num[24];
  size_t n = 0;
  while (at + n < len && n < sizeof num - 1 && cmd[at + n] >= '0' && cmd[at + n] <= '9') {
    num[n] = cmd[at + n];
    n++;
  }
  num[n] = 0;
  if (end) *end = at + n;
  return atol(num);
}

static void command(app_t *app, tc_eio_socket_t *s, const char *cmd, size_t len) {
  char buf[64];
  if (len == 7 && !memcmp(cmd, "__close", 7)) {
    tc_eio_close(s);
  } else if (len > 8 && !memcmp(cmd, "__burst ", 8)) {
    long n = number_at(cmd, len, 8, NULL);
    for (long i = 0; i < n; i++) {
      int k = snprintf(buf, sizeof buf, "burst %ld", i);
      tc_eio_send(s, 0, buf, (size_t)k);
    }
  } else if (len > 12 && !memcmp(cmd, "__broadcast ", 12)) {
    tc_eio_shared_t *m = tc_eio_shared_new(0, cmd + 12, len - 12);
    for (conn_t *c = app->conns; c && m; c = c->next) tc_eio_send_shared(c->s, m);
    tc_eio_shared_unref(m);
  } else if (len > 9 && !memcmp(cmd, "__binary ", 9)) {
    size_t n = (size_t)number_at(cmd, len, 9, NULL);
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)i;
    tc_eio_shared_t *m = tc_eio_shared_new(1, b, n);
    if (m) tc_eio_send_shared(s, m);
    tc_eio_shared_unref(m);
    free(b);
  } else if (len == 7 && !memcmp(cmd, "__count", 7)) {
    int k = snprintf(buf, sizeof buf, "count %zu", tc_eio_server_count(app->eio));
    tc_eio_send(s, 0, buf, (size_t)k);
  } else if (len > 8 && !memcmp(cmd, "__later ", 8)) {
    size_t at;
    long ms = number_at(cmd, len, 8, &at);
    at++;
    if (at > len) at = len;
    later_t *l = calloc(1, sizeof *l + len - at + 1);
    l->app = app;
    snprintf(l->sid, sizeof l->sid, "%s", tc_eio_id(s));
    l->len = len - at;
    memcpy(l->text, cmd + at, l->len);
    uv_timer_init(&app->loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, on_later, (uint64_t)(ms > 0 ? ms : 0), 0);
  } else {
    tc_eio_send(s, 0, cmd, len);
  }
}

static void on_message(tc_eio_socket_t *s, int binary, const uint8_t *data, size_t len, void *ud) {
  if (!binary && len >= 2 && data[0] == '_' && data[1] == '_') {
    command(ud, s, (const char *)data, len);
    return;
  }
  tc_eio_send(s, binary, data, len);
}

static int allow(const tc_http_request_t *req, void *ud) {
  app_t *app = ud;
  if (!app->forbid_header) return 0;
  return tc_http_header_get(req->headers, req->num_headers, app->forbid_header) != NULL;
}

static void on_grace(uv_timer_t *t) {
  app_t *app = t->data;
  tc_io_shutdown(app->io);
}

static void on_signal(tc_io_t *io, int signum, void *ud) {
  (void)io, (void)signum;
  app_t *app = ud;
  tc_eio_server_close_all(app->eio);
  tc_http_server_stop(app->http);
  uv_timer_start(&app->grace, on_grace, 2000, 0);
}

int main(int argc, char **argv) {
  app_t app = {0};
  int port = 0;
  tc_eio_config_t cfg = {
      .path = "/engine.io/",
      .ping_interval_ms = 300,
      .ping_timeout_ms = 200,
      .max_payload = 1000000,
      .cors_origin = "*",
      .allow_request = allow,
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--cors"))
      cfg.cors_origin = v, i++;
    else if (!strcmp(a, "--credentials"))
      cfg.cors_credentials = 1;
    else if (!strcmp(a, "--max-payload"))
      cfg.max_payload = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--ping-interval"))
      cfg.ping_interval_ms = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--ping-timeout"))
      cfg.ping_timeout_ms = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--upgrade-timeout"))
      cfg.upgrade_timeout_ms = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--no-polling"))
      cfg.no_polling = 1;
    else if (!strcmp(a, "--no-websocket"))
      cfg.no_websocket = 1;
    else if (!strcmp(a, "--deflate"))
      cfg.ws_deflate = 1;
    else if (!strcmp(a, "--forbid-header"))
      app.forbid_header = v, i++;
    else
      port = atoi(a);
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&app.loop);
  uv_timer_init(&app.loop, &app.grace);
  app.grace.data = &app;
  uv_unref((uv_handle_t *)&app.grace);

  /* The HTTP body limit must not cut POSTs below Engine.IO's own limit (it answers 413 itself). */
  tc_http_server_config_t hcfg = {.max_body = cfg.max_payload + 65536};
  static const tc_eio_handlers_t h = {
      .on_open = on_open, .on_message = on_message, .on_close = on_close};
  tc_io_listener_t *l = NULL;
  int r = tc_io_new(&app.loop, NULL, &app.io);
  if (!r) r = tc_http_server_new(app.io, &hcfg, &app.http);
  if (!r) r = tc_eio_server_new(app.http, &cfg, &h, &app, &app.eio);
  if (!r) r = tc_http_server_listen(app.http, "127.0.0.1", port, &l);
  if (!r) r = tc_io_on_signal(app.io, on_signal, &app);
  int code = 0;
  if (r) {
    fprintf(stderr, "eio_echo_server: start-up failed: %s\n", tc_strerror(r));
    code = 1;
  } else {
    fprintf(stderr, "listening on http://127.0.0.1:%d\n", tc_io_listener_port(l));
    uv_run(&app.loop, UV_RUN_DEFAULT);
  }
  uv_close((uv_handle_t *)&app.grace, NULL);
  if (app.io) tc_io_shutdown(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  tc_http_server_free(app.http);
  tc_io_free(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&app.loop) != 0) {
    fprintf(stderr, "eio_echo_server: loop closed with handles open\n");
    code = 1;
  }
  return code;
}
