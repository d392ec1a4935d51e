/* The browser client bundle under the Socket.IO path (Node's serveClient): <path>socket.io.js,
 * socket.io.min.js, socket.io.esm.min.js and their source maps, read from a folder the
 * application names (a copy of socket.io-client's dist/). The msgpack build is not offered:
 * this server speaks the default parser only. */
#include "sio_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const client_files[] = {
    "socket.io.js",         "socket.io.js.map",     "socket.io.min.js",
    "socket.io.min.js.map", "socket.io.esm.min.js", "socket.io.esm.min.js.map",
};

typedef struct client_files {
  tc_http_static_t *st;
} client_files_t;

static void files_free(void *ud) {
  client_files_t *cf = ud;
  tc_http_static_free(cf->st);
  free(cf);
}

static int read_all(int fd, uint64_t size, tc_buf_t *out) {
  if (tc_buf_reserve(out, (size_t)size) < 0) return TC_ENOMEM;
  while (out->len < size) {
    ssize_t n = read(fd, tc_buf_tail(out), (size_t)size - out->len);
    if (n <= 0) return TC_EIO;
    tc_buf_commit(out, (size_t)n);
  }
  return 0;
}

static int on_client_file(tc_http_exchange_t *x, void *ud) {
  client_files_t *cf = ud;
  const tc_http_request_t *req = tc_http_request(x);
  if (!tc_slice_eq(req->method, "GET") && !tc_slice_eq(req->method, "HEAD")) {
    tc_http_add_header(x, "Allow", "GET, HEAD");
    return tc_http_respond_error(x, 405, 0);
  }
  /* The route matched the whole path: its last segment is the file's name. */
  const uint8_t *slash = req->path.p + req->path.len;
  while (slash > req->path.p && slash[-1] != '/') slash--;
  tc_slice_t name = {slash - 1, (size_t)(req->path.p + req->path.len - slash) + 1};
  tc_http_file_t f;
  uv_loop_t *loop = tc_io_loop(tc_http_server_io(tc_http_exchange_server(x)));
  if (tc_http_static_lookup(cf->st, name, uv_now(loop), &f) < 0)
    return tc_http_respond_error(x, 500, 0);
  if (f.status != 200) return tc_http_respond_error(x, f.status == 301 ? 404 : f.status, 0);
  tc_http_add_header(x, "ETag", f.etag);
  tc_http_add_header(x, "Cache-Control", "public, max-age=0");
  int map = name.len > 4 && memcmp(name.p + name.len - 4, ".map", 4) == 0;
  const char *mime =
      map ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8";
  if (tc_http_static_not_modified(&f, req)) {
    if (f.fd >= 0) close(f.fd);
    return tc_http_respond(x, 304, NULL, NULL, 0);
  }
  if (f.body || f.fd < 0) return tc_http_respond(x, 200, mime, f.body, (size_t)f.size);
  tc_buf_t b = {0};
  int r = read_all(f.fd, f.size, &b);
  close(f.fd);
  r = r ? tc_http_respond_error(x, 500, 0) : tc_http_respond(x, 200, mime, tc_buf_data(&b), b.len);
  tc_buf_free(&b);
  return r;
}

int tc__sio_serve_client(tc_http_server_t *http, const char *path, const char *dir) {
  client_files_t *cf = calloc(1, sizeof *cf);
  if (!cf) return TC_ENOMEM;
  int r = tc_http_static_new(dir, &cf->st);
  if (r) {
    free(cf);
    return r;
  }
  r = tc_http_server_on_free(http, files_free, cf);
  if (r) {
    files_free(cf);
    return r;
  }
  tc_buf_t route = {0};
  for (size_t i = 0; !r && i < sizeof client_files / sizeof *client_files; i++) {
    tc_buf_reset(&route);
    r = tc_buf_appendf(&route, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                       client_files[i]);
    if (!r) r = tc_buf_append(&route, "", 1);
    /* An exact route is longer than Engine.IO's prefix route, so it wins. */
    if (!r)
      r = tc_http_server_route(http, (const char *)tc_buf_data(&route), 0, on_client_file, cf);
  }
  tc_buf_free(&route);
  return r;
}
