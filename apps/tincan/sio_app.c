/* Socket.IO in the tincan binary: the server, the browser client's files, the main namespace's
 * echo and benchmark events, and the chat. */
#include "sio_app.h"

#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tc_sio_app {
  tc_sio_server_t *sio;
  tc_http_static_t *client; /* the client's dist folder; NULL when it is missing */
  tc_http_server_t *http;
  const tc_logger_t *log;
};

/* What Node's server serves of its client (serveClient), minus the msgpack and ESM builds. */
static const char *const client_files[] = {
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.js",
    "socket.io.js.map",
};

/* ---- The main namespace ---------------------------------------------------------------------- */

/* echo: the same arguments, binary attachments included, back to the sender. */
static void on_echo(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_emit_t e = {.event = "echo",
                     .args = ev->args,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments};
  tc_sio_send(s, &e);
}

static void on_bench_join(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  tc_sio_join(s, "bench");
  if (ev->ack_id >= 0) tc_sio_ack(s, ev->ack_id, (tc_slice_t){0});
}

/* bench:fanout: bench:msg with the same arguments to everyone in "bench", the sender included
 * when it is there (io.to("bench").emit in Node). */
static void on_bench_fanout(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud) {
  (void)ud;
  static const char *const bench[] = {"bench"};
  tc_sio_target_t to = {.rooms = bench, .num_rooms = 1};
  tc_sio_emit_t e = {.event = "bench:msg",
                     .args = ev->args,
                     .attachments = ev->attachments,
                     .num_attachments = ev->num_attachments};
  tc_sio_broadcast(tc_sio_socket_nsp(s), &to, &e);
}

/* ---- The client's files -----------------------------------------------------------------------
 */

static int read_all(int fd, uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, p + got, n - got, (off_t)got);
    if (k <= 0) return TC_EIO;
    got += (size_t)k;
  }
  return 0;
}

/* /socket.io/socket.io.min.js and friends: exact routes, which win over the Engine.IO prefix. */
static int serve_client(tc_http_exchange_t *x, void *ud) {
  tc_sio_app_t *app = ud;
  const tc_http_request_t *req = tc_http_request(x);
  if (!tc_slice_eq(req->method, "GET") && !tc_slice_eq(req->method, "HEAD")) {
    tc_http_add_header(x, "Allow", "GET, HEAD");
    return tc_http_respond_error(x, 405, 0);
  }
  if (!app->client) return tc_http_respond_error(x, 404, 0);
  /* The route matched exactly, so the file is the last segment (an absolute-form target routes
   * the same way but has more in front). */
  size_t at = req->path.len;
  while (at > 0 && req->path.p[at - 1] != '/') at--;
  tc_slice_t name = {req->path.p + (at ? at - 1 : 0), req->path.len - (at ? at - 1 : 0)};
  tc_http_file_t f;
  uint64_t now = tc_io_now(tc_http_server_io(app->http));
  if (tc_http_static_lookup(app->client, name, now, &f) < 0)
    return tc_http_respond_error(x, 500, 0);
  if (f.status != 200) return tc_http_respond_error(x, f.status == 301 ? 404 : f.status, 0);
  tc_http_add_header(x, "ETag", f.etag);
  tc_http_add_header(x, "Last-Modified", f.last_modified);
  tc_http_add_header(x, "Cache-Control", "no-cache");
  if (tc_http_static_not_modified(&f, req)) {
    if (f.fd >= 0) close(f.fd);
    return tc_http_respond(x, 304, NULL, NULL, 0);
  }
  const char *mime = strstr(f.mime, "javascript") ? "text/javascript; charset=utf-8" : f.mime;
  if (f.body || f.fd < 0) return tc_http_respond(x, 200, mime, f.body, (size_t)f.size);
  /* A large file comes as a descriptor: read it whole (a few hundred KiB at most). */
  uint8_t *body = malloc(f.size ? (size_t)f.size : 1);
  int r = body ? read_all(f.fd, body, (size_t)f.size) : TC_ENOMEM;
  close(f.fd);
  r = r ? tc_http_respond_error(x, 500, 0) : tc_http_respond(x, 200, mime, body, (size_t)f.size);
  free(body);
  return r;
}

/* ---- Setup -------------------------------------------------------------------------------------
 */

static void app_free(void *ud) {
  tc_sio_app_t *app = ud;
  tc_http_static_free(app->client);
  free(app);
}

static int setup_main(tc_sio_server_t *sio) {
  tc_sio_nsp_t *nsp = tc_sio_of(sio, "/");
  if (!nsp) return TC_ENOMEM;
  int r = tc_sio_on(nsp, "echo", on_echo, NULL);
  if (!r) r = tc_sio_on(nsp, "bench:join", on_bench_join, NULL);
  if (!r) r = tc_sio_on(nsp, "bench:fanout", on_bench_fanout, NULL);
  return r;
}

static int setup_client(tc_sio_app_t *app, const char *client_dir) {
  char path[4096];
  int missing = tc_http_static_new(client_dir, &app->client) < 0;
  for (size_t i = 0; !missing && i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", client_dir, client_files[i]);
    missing = access(path, R_OK) != 0;
  }
  if (missing)
    tc_log(app->log, TC_LOG_WARN, "sio",
           "no Socket.IO browser client in %s (run `npm ci`): /socket.io/socket.io.min.js "
           "answers 404",
           client_dir);
  for (size_t i = 0; i < sizeof client_files / sizeof *client_files; i++) {
    snprintf(path, sizeof path, "/socket.io/%s", client_files[i]);
    int r = tc_http_server_route(app->http, path, 0, serve_client, app);
    if (r) return r;
  }
  return 0;
}

int tc_sio_app_new(tc_http_server_t *http, const char *client_dir, int recovery,
                   const tc_logger_t *log, tc_sio_app_t **out) {
  /* Nothing here reads the handshake's headers: keeping no copy saves their size per socket. */
  tc_sio_config_t cfg = {.recovery = recovery != 0, .no_handshake_copy = 1, .log = log};
  tc_sio_app_t *app = calloc(1, sizeof *app);
  if (!app) return TC_ENOMEM;
  app->http = http;
  app->log = log;
  int r = tc_sio_server_new(http, &cfg, &app->sio);
  /* Registered after the Socket.IO server, so freed after it: its last callbacks find us. */
  if (!r) r = tc_http_server_on_free(http, app_free, app);
  if (r) {
    free(app);
    return r;
  }
  *out = app;
  if ((r = setup_client(app, client_dir))) return r;
  if ((r = setup_main(app->sio))) return r;
  return tc_chat_attach(app->sio, http, log);
}

tc_sio_server_t *tc_sio_app_server(tc_sio_app_t *app) {
  return app->sio;
}

void tc_sio_app_close(tc_sio_app_t *app) {
  if (app) tc_sio_server_close(app->sio);
}
