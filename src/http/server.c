/* The HTTP/1.1 server: connection state, routing, responses, static files. */
#include "tincan/http.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Above this much queued output a connection stops reading requests until the peer catches up, so
 * a client that pipelines without reading cannot make us queue without bound. */
#define TC_HTTP_OUTPUT_HIGH (1u << 20)

typedef struct http_route {
  char *path;
  size_t len;
  int prefix;
  tc_http_handler_fn fn;
  void *ud;
} http_route_t;

typedef struct http_conn http_conn_t;

struct tc_http_exchange {
  tc_http_server_t *srv;
  http_conn_t *hc;
  tc_http_request_t req;
  tc_slice_t raw_head;
  tc_slice_t body;
  tc_buf_t hdrs; /* extra response headers, "Name: value\r\n" each */
  void (*on_abort)(tc_http_exchange_t *x, void *ud);
  void *abort_ud;
  unsigned head : 1;
  unsigned keep_alive : 1;
  unsigned active : 1;
  unsigned responded : 1;
  unsigned deferred : 1;
  unsigned taken : 1;
};

struct http_conn {
  tc_io_conn_t *c;
  tc_http_server_t *srv;
  http_conn_t *prev, *next;
  size_t scanned;  /* bytes already searched for the end of the header section */
  size_t head_len; /* the header section's length once found */
  int64_t body_len;
  tc_http_chunked_t *chunk; /* only while a chunked body arrives */
  size_t raw_used;          /* chunked bytes fed so far */
  tc_buf_t body;            /* the decoded chunked body */
  tc_http_exchange_t x;
  unsigned in_request : 1; /* the first byte of a request arrived */
  unsigned busy : 1;       /* a deferred exchange is outstanding */
  unsigned sent_continue : 1;
  unsigned throttled : 1;
};

struct tc_http_server {
  tc_io_t *io;
  tc_http_server_config_t cfg;
  tc_http_static_t *st;
  http_route_t *routes;
  size_t nroutes;
  tc_http_header_t *hbuf; /* parse scratch, max_headers entries */
  http_conn_t *conns;
  size_t nconns;
  tc_io_listener_t **listeners;
  size_t nlisteners;
  tc_io_timeouts_t *req_q;
  tc_io_timeouts_t *idle_q;
  time_t date_sec;
  char date[32];
  struct http_cleanup {
    void (*fn)(void *ud);
    void *ud;
  } * cleanups;
  size_t ncleanups;
  unsigned stopping : 1;
};

static ssize_t hc_on_data(tc_io_conn_t *c, uint8_t *p, size_t len);
static void hc_on_drain(tc_io_conn_t *c);
static void hc_on_timeout(tc_io_conn_t *c);
static void hc_on_close(tc_io_conn_t *c, int err);

static const tc_io_handler_t http_handler = {
    .on_data = hc_on_data,
    .on_drain = hc_on_drain,
    .on_timeout = hc_on_timeout,
    .on_close = hc_on_close,
};

/* ---- server ------------------------------------------------------------------------------------
 */

int tc_http_server_new(tc_io_t *io, const tc_http_server_config_t *cfg, tc_http_server_t **out) {
  tc_http_server_t *srv = calloc(1, sizeof *srv);
  if (!srv) return TC_ENOMEM;
  srv->io = io;
  if (cfg) srv->cfg = *cfg;
  if (!srv->cfg.max_header_bytes) srv->cfg.max_header_bytes = 16384;
  if (!srv->cfg.max_headers) srv->cfg.max_headers = 100;
  if (!srv->cfg.max_body) srv->cfg.max_body = 1 << 20;
  if (!srv->cfg.request_timeout_ms) srv->cfg.request_timeout_ms = 10000;
  if (!srv->cfg.keepalive_timeout_ms) srv->cfg.keepalive_timeout_ms = 60000;
  if (!srv->cfg.server_name) srv->cfg.server_name = "tincan";
  int r = TC_ENOMEM;
  srv->hbuf = calloc(srv->cfg.max_headers, sizeof *srv->hbuf);
  if (!srv->hbuf) goto fail;
  if ((r = tc_io_timeouts_new(io, srv->cfg.request_timeout_ms, &srv->req_q))) goto fail;
  if ((r = tc_io_timeouts_new(io, srv->cfg.keepalive_timeout_ms, &srv->idle_q))) goto fail;
  if (srv->cfg.static_root && (r = tc_http_static_new(srv->cfg.static_root, &srv->st))) goto fail;
  *out = srv;
  return 0;
fail:
  tc_http_server_free(srv);
  return r;
}

int tc_http_server_on_free(tc_http_server_t *srv, void (*fn)(void *ud), void *ud) {
  struct http_cleanup *c = realloc(srv->cleanups, (srv->ncleanups + 1) * sizeof *c);
  if (!c) return TC_ENOMEM;
  srv->cleanups = c;
  c[srv->ncleanups++] = (struct http_cleanup){fn, ud};
  return 0;
}

tc_io_t *tc_http_server_io(const tc_http_server_t *srv) {
  return srv->io;
}

void tc_http_server_free(tc_http_server_t *srv) {
  if (!srv) return;
  for (size_t i = 0; i < srv->ncleanups; i++) srv->cleanups[i].fn(srv->cleanups[i].ud);
  free(srv->cleanups);
  for (size_t i = 0; i < srv->nroutes; i++) free(srv->routes[i].path);
  free(srv->routes);
  free(srv->hbuf);
  free(srv->listeners);
  tc_io_timeouts_free(srv->req_q);
  tc_io_timeouts_free(srv->idle_q);
  tc_http_static_free(srv->st);
  free(srv);
}

size_t tc_http_server_conn_count(const tc_http_server_t *srv) {
  return srv->nconns;
}

int tc_http_server_route(tc_http_server_t *srv, const char *path, int prefix, tc_http_handler_fn fn,
                         void *ud) {
  http_route_t *r = realloc(srv->routes, (srv->nroutes + 1) * sizeof *r);
  if (!r) return TC_ENOMEM;
  srv->routes = r;
  char *copy = strdup(path);
  if (!copy) return TC_ENOMEM;
  srv->routes[srv->nroutes++] =
      (http_route_t){.path = copy, .len = strlen(path), .prefix = prefix, .fn = fn, .ud = ud};
  return 0;
}

static void on_accept(tc_io_listener_t *l, tc_io_conn_t *c, void *ud) {
  (void)l;
  tc_http_server_t *srv = ud;
  http_conn_t *hc = calloc(1, sizeof *hc);
  if (!hc || srv->stopping) {
    free(hc);
    tc_io_conn_abort(c, TC_ENOMEM);
    return;
  }
  hc->c = c;
  hc->srv = srv;
  hc->next = srv->conns;
  if (srv->conns) srv->conns->prev = hc;
  srv->conns = hc;
  srv->nconns++;
  tc_io_conn_set_handler(c, &http_handler, hc);
  tc_io_conn_set_timeout(c, srv->idle_q);
}

int tc_http_server_listen(tc_http_server_t *srv, const char *host, int port,
                          tc_io_listener_t **out) {
  tc_io_listener_t **ls = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof *ls);
  if (!ls) return TC_ENOMEM;
  srv->listeners = ls;
  tc_io_listener_t *l;
  int r = tc_io_listen(srv->io, host, port, on_accept, srv, &l);
  if (r) return r;
  srv->listeners[srv->nlisteners++] = l;
  if (out) *out = l;
  return 0;
}

static void hc_unlink(http_conn_t *hc) {
  tc_http_server_t *srv = hc->srv;
  if (hc->prev)
    hc->prev->next = hc->next;
  else
    srv->conns = hc->next;
  if (hc->next) hc->next->prev = hc->prev;
  srv->nconns--;
}

static void hc_free(http_conn_t *hc) {
  hc_unlink(hc);
  free(hc->chunk);
  tc_buf_free(&hc->body);
  tc_buf_free(&hc->x.hdrs);
  free(hc);
}

void tc_http_server_stop(tc_http_server_t *srv) {
  srv->stopping = 1;
  for (size_t i = 0; i < srv->nlisteners; i++) tc_io_listener_close(srv->listeners[i]);
  srv->nlisteners = 0;
  for (http_conn_t *hc = srv->conns; hc; hc = hc->next) {
    /* An idle keep-alive connection is closed now; one mid-request finishes its answer first. */
    if (!hc->in_request && !hc->busy) tc_io_conn_close(hc->c, 0);
  }
}

/* ---- responses ---------------------------------------------------------------------------------
 */

tc_http_server_t *tc_http_exchange_server(const tc_http_exchange_t *x) {
  return x->srv;
}

tc_io_conn_t *tc_http_exchange_conn(const tc_http_exchange_t *x) {
  return x->hc->c;
}

const tc_http_request_t *tc_http_request(const tc_http_exchange_t *x) {
  return &x->req;
}

tc_slice_t tc_http_head(const tc_http_exchange_t *x) {
  return x->raw_head;
}

tc_slice_t tc_http_body(const tc_http_exchange_t *x) {
  return x->body;
}

int tc_http_add_header_slice(tc_http_exchange_t *x, const char *name, tc_slice_t value) {
  /* A CR or LF in a value would let a caller's data inject headers: refuse it. */
  for (size_t i = 0; i < value.len; i++)
    if (value.p[i] == '\r' || value.p[i] == '\n' || value.p[i] == 0) return TC_EINVAL;
  int r = tc_buf_append_str(&x->hdrs, name);
  if (!r) r = tc_buf_append(&x->hdrs, ": ", 2);
  if (!r) r = tc_buf_append(&x->hdrs, value.p, value.len);
  if (!r) r = tc_buf_append(&x->hdrs, "\r\n", 2);
  return r;
}

int tc_http_add_header(tc_http_exchange_t *x, const char *name, const char *value) {
  return tc_http_add_header_slice(x, name, tc_slice_str(value));
}

static const char *server_date(tc_http_server_t *srv) {
  time_t now = time(NULL);
  if (now != srv->date_sec) {
    srv->date_sec = now;
    tc_http_date_format(now, srv->date);
  }
  return srv->date;
}

static int status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

/* Writes the status line and headers. length < 0 means no Content-Length (1xx, 204, 304 without
 * one). */
static int write_head(tc_http_exchange_t *x, int status, const char *content_type, int64_t length) {
  tc_http_server_t *srv = x->srv;
  tc_buf_t *b = tc_io_conn_outbuf(x->hc->c);
  int r = tc_buf_append(b, "HTTP/1.1 ", 9);
  if (!r) r = tc_buf_append_u64(b, (uint64_t)status);
  if (!r) r = tc_buf_append(b, " ", 1);
  if (!r) r = tc_buf_append_str(b, tc_http_reason(status));
  if (!r) r = tc_buf_append(b, "\r\nServer: ", 10);
  if (!r) r = tc_buf_append_str(b, srv->cfg.server_name);
  if (!r) r = tc_buf_append(b, "\r\nDate: ", 8);
  if (!r) r = tc_buf_append_str(b, server_date(srv));
  if (!r) r = tc_buf_append(b, "\r\n", 2);
  if (!r && content_type) {
    r = tc_buf_append(b, "Content-Type: ", 14);
    if (!r) r = tc_buf_append_str(b, content_type);
    if (!r) r = tc_buf_append(b, "\r\n", 2);
  }
  if (!r && length >= 0) {
    r = tc_buf_append(b, "Content-Length: ", 16);
    if (!r) r = tc_buf_append_u64(b, (uint64_t)length);
    if (!r) r = tc_buf_append(b, "\r\n", 2);
  }
  if (!r && status >= 200) {
    if (!x->keep_alive)
      r = tc_buf_append_str(b, "Connection: close\r\n");
    else if (x->req.version_minor == 0)
      r = tc_buf_append_str(b, "Connection: keep-alive\r\n");
  }
  if (!r && x->hdrs.len) r = tc_buf_append(b, tc_buf_data(&x->hdrs), x->hdrs.len);
  if (!r) r = tc_buf_append(b, "\r\n", 2);
  tc_buf_free(&x->hdrs);
  return r;
}

static void hc_request_done(http_conn_t *hc);

/* The exchange is answered: decide between keep-alive and close, and resume a deferred one. */
static void exchange_finish(tc_http_exchange_t *x) {
  http_conn_t *hc = x->hc;
  x->responded = 1;
  x->active = 0;
  tc_io_conn_wrote(hc->c);
  if (!x->keep_alive || hc->srv->stopping) {
    tc_io_conn_close(hc->c, 0);
    return;
  }
  if (x->deferred) {
    x->deferred = 0;
    hc->busy = 0;
    hc_request_done(hc);
    if (!hc->throttled) tc_io_conn_resume(hc->c);
  }
}

int tc_http_respond(tc_http_exchange_t *x, int status, const char *content_type, const void *body,
                    size_t len) {
  if (!x->active) return TC_EINVAL;
  if (tc_io_conn_is_closing(x->hc->c)) {
    x->active = 0;
    x->responded = 1;
    return TC_ECLOSED;
  }
  int with_body = status_has_body(status);
  int r = write_head(x, status, content_type, with_body ? (int64_t)len : -1);
  if (!r && with_body && !x->head && len) r = tc_buf_append(tc_io_conn_outbuf(x->hc->c), body, len);
  if (r) {
    tc_io_conn_abort(x->hc->c, r);
    x->active = 0;
    x->responded = 1;
    return r;
  }
  if (status < 200) {
    /* Interim answers (100, and 101 through tc_http_take) do not finish the exchange. */
    tc_io_conn_wrote(x->hc->c);
    return 0;
  }
  exchange_finish(x);
  return 0;
}

int tc_http_respond_error(tc_http_exchange_t *x, int status, int close) {
  char body[96];
  int n = snprintf(body, sizeof body, "%d %s\n", status, tc_http_reason(status));
  if (close) x->keep_alive = 0;
  return tc_http_respond(x, status, "text/plain; charset=utf-8", body, (size_t)n);
}

void tc_http_defer(tc_http_exchange_t *x, void (*on_abort)(tc_http_exchange_t *x, void *ud),
                   void *ud) {
  x->deferred = 1;
  x->on_abort = on_abort;
  x->abort_ud = ud;
}

tc_io_conn_t *tc_http_take(tc_http_exchange_t *x) {
  x->taken = 1;
  return x->hc->c;
}

/* ---- static files ------------------------------------------------------------------------------
 */

static void serve_static(tc_http_exchange_t *x, tc_slice_t path) {
  tc_http_server_t *srv = x->srv;
  if (!srv->st) {
    tc_http_respond_error(x, 404, 0);
    return;
  }
  if (!x->head && !tc_slice_eq(x->req.method, "GET")) {
    tc_http_add_header(x, "Allow", "GET, HEAD");
    tc_http_respond_error(x, 405, 0);
    return;
  }
  tc_http_file_t f;
  if (tc_http_static_lookup(srv->st, path, tc_io_now(srv->io), &f) < 0) {
    tc_http_respond_error(x, 500, 0);
    return;
  }
  if (f.status == 301) {
    tc_http_add_header(x, "Location", f.location);
    tc_http_respond_error(x, 301, 0);
    return;
  }
  if (f.status != 200) {
    tc_http_respond_error(x, f.status, 0);
    return;
  }
  tc_http_add_header(x, "ETag", f.etag);
  tc_http_add_header(x, "Last-Modified", f.last_modified);
  if (tc_http_static_not_modified(&f, &x->req)) {
    if (f.fd >= 0) close(f.fd);
    tc_http_respond(x, 304, NULL, NULL, 0);
    return;
  }
  if (f.body || x->head || f.size == 0) {
    if (f.fd >= 0) close(f.fd);
    if (x->head) {
      /* HEAD announces the length a GET would send. */
      if (write_head(x, 200, f.mime, (int64_t)f.size) < 0) tc_io_conn_abort(x->hc->c, TC_ENOMEM);
      exchange_finish(x);
      return;
    }
    tc_http_respond(x, 200, f.mime, f.body, (size_t)f.size);
    return;
  }
  if (write_head(x, 200, f.mime, (int64_t)f.size) < 0) {
    close(f.fd);
    tc_io_conn_abort(x->hc->c, TC_ENOMEM);
    return;
  }
  tc_io_conn_sendfile(x->hc->c, f.fd, 0, f.size);
  exchange_finish(x);
}

/* ---- requests ----------------------------------------------------------------------------------
 */

/* The path used for routing: an absolute-form target ("http://host/p") routes as "/p". */
static tc_slice_t route_path(const tc_http_request_t *req) {
  tc_slice_t p = req->path;
  if (p.len && p.p[0] != '/') {
    const uint8_t *scheme = memchr(p.p, ':', p.len);
    if (scheme && (size_t)(p.p + p.len - scheme) > 3 && scheme[1] == '/' && scheme[2] == '/') {
      const uint8_t *start = scheme + 3, *end = p.p + p.len;
      const uint8_t *slash = memchr(start, '/', (size_t)(end - start));
      if (!slash) return TC_SLICE_LIT("/");
      return (tc_slice_t){slash, (size_t)(end - slash)};
    }
  }
  return p;
}

static const http_route_t *find_route(tc_http_server_t *srv, tc_slice_t path) {
  const http_route_t *best = NULL;
  for (size_t i = 0; i < srv->nroutes; i++) {
    const http_route_t *r = &srv->routes[i];
    if (path.len < r->len || memcmp(path.p, r->path, r->len) != 0) continue;
    if (!r->prefix && path.len != r->len) continue;
    if (!best || r->len > best->len) best = r;
  }
  return best;
}

/* Answers a request we could not parse, and closes: after a framing error nothing that follows
 * on this connection can be trusted to be a request. */
static ssize_t fail_request(http_conn_t *hc, int status) {
  tc_http_exchange_t *x = &hc->x;
  memset(&x->req, 0, sizeof x->req);
  x->req.version_minor = 1;
  x->srv = hc->srv;
  x->hc = hc;
  x->active = 1;
  x->head = 0;
  x->keep_alive = 0;
  tc_buf_reset(&x->hdrs);
  tc_log(hc->srv->cfg.log, TC_LOG_INFO, "http", "%s: refused a request: %d %s",
         tc_io_conn_peer(hc->c), status, tc_http_reason(status));
  tc_http_respond_error(x, status, 1);
  tc_io_conn_close(hc->c, 0);
  return TC_ECLOSED;
}

static void hc_request_done(http_conn_t *hc) {
  hc->scanned = 0;
  hc->head_len = 0;
  hc->body_len = 0;
  hc->in_request = 0;
  hc->sent_continue = 0;
  hc->raw_used = 0;
  free(hc->chunk);
  hc->chunk = NULL;
  tc_buf_free(&hc->body);
  if (!tc_io_conn_is_closing(hc->c)) tc_io_conn_set_timeout(hc->c, hc->srv->idle_q);
}

static int parse_head(http_conn_t *hc, const uint8_t *p) {
  tc_http_request_t *req = &hc->x.req;
  memset(req, 0, sizeof *req);
  req->headers = hc->srv->hbuf;
  req->num_headers = hc->srv->cfg.max_headers;
  ssize_t n = tc_http_parse_request(p, hc->head_len, req, hc->srv->cfg.max_header_bytes);
  if (n < 0) return req->error_status ? req->error_status : 400;
  return 0;
}

/* Runs the handler for a complete request whose header section is head. */
static ssize_t dispatch(http_conn_t *hc, size_t total, tc_slice_t head, tc_slice_t body) {
  tc_http_server_t *srv = hc->srv;
  tc_http_exchange_t *x = &hc->x;
  x->srv = srv;
  x->hc = hc;
  x->raw_head = head;
  x->body = body;
  x->active = 1;
  x->responded = x->deferred = x->taken = 0;
  x->on_abort = NULL;
  x->head = tc_slice_eq(x->req.method, "HEAD") != 0;
  x->keep_alive = x->req.keep_alive && !srv->stopping;
  tc_buf_reset(&x->hdrs);
  tc_io_conn_set_timeout(hc->c, NULL);

  tc_slice_t path = route_path(&x->req);
  const http_route_t *route = find_route(srv, path);
  int r = 0;
  if (route)
    r = route->fn(x, route->ud);
  else
    serve_static(x, path);

  if (x->taken) {
    if (tc_io_conn_data(hc->c) == hc) {
      tc_io_conn_abort(hc->c, TC_EINVAL);
      return TC_EINVAL;
    }
    hc_free(hc);
    return (ssize_t)total;
  }
  if (x->active && !x->deferred) {
    tc_log(srv->cfg.log, TC_LOG_ERROR, "http", "handler for %.*s gave no answer (%s)",
           (int)path.len, (const char *)path.p, tc_strerror(r));
    tc_http_respond_error(x, 500, 1);
  } else if (x->active && x->deferred) {
    /* Keep reading while the answer is pending, so that a client that leaves is noticed (a long
     * poll must learn of it); what it pipelines meanwhile is held, within limits. */
    hc->busy = 1;
    return (ssize_t)total;
  }
  if (tc_io_conn_is_closing(hc->c)) return (ssize_t)total;
  hc_request_done(hc);
  if (tc_io_conn_pending(hc->c) > TC_HTTP_OUTPUT_HIGH) {
    hc->throttled = 1;
    tc_io_conn_pause(hc->c);
  }
  return (ssize_t)total;
}

/* Called with everything received since the start of the current request. */
static ssize_t hc_on_data(tc_io_conn_t *c, uint8_t *p, size_t len) {
  http_conn_t *hc = tc_io_conn_data(c);
  tc_http_server_t *srv = hc->srv;
  if (hc->busy) {
    if (len > srv->cfg.max_header_bytes + srv->cfg.max_body) tc_io_conn_pause(c);
    return 0;
  }
  if (!hc->in_request) {
    hc->in_request = 1;
    tc_io_conn_set_timeout(c, srv->req_q);
  }
  int parsed = 0;
  if (!hc->head_len) {
    size_t end = tc_http_find_header_end(p, len, hc->scanned);
    if (!end) {
      if (len > srv->cfg.max_header_bytes) return fail_request(hc, 431);
      /* Catch a bad request line early rather than waiting for a header end that never comes. */
      if (hc->scanned == 0) {
        tc_http_request_t req = {.headers = srv->hbuf, .num_headers = srv->cfg.max_headers};
        ssize_t n = tc_http_parse_request(p, len, &req, srv->cfg.max_header_bytes);
        if (n < 0 && n != TC_EAGAIN)
          return fail_request(hc, req.error_status ? req.error_status : 400);
      }
      hc->scanned = len;
      return 0;
    }
    hc->head_len = end;
    int status = parse_head(hc, p);
    if (status) return fail_request(hc, status);
    parsed = 1;
    const tc_http_request_t *req = &hc->x.req;
    if (req->content_length > 0 && (uint64_t)req->content_length > srv->cfg.max_body)
      return fail_request(hc, 413);
    hc->body_len = req->content_length > 0 ? req->content_length : 0;
    if (req->chunked) {
      hc->chunk = calloc(1, sizeof *hc->chunk);
      if (!hc->chunk) return TC_ENOMEM;
      hc->chunk->max_body = srv->cfg.max_body;
    }
    if (req->expect_continue && (hc->body_len > 0 || req->chunked) && len == end) {
      tc_io_conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
      hc->sent_continue = 1;
    }
  }

  size_t total;
  tc_slice_t body = {NULL, 0};
  if (hc->chunk) {
    size_t at = hc->head_len + hc->raw_used;
    ssize_t n = tc_http_chunked_feed(hc->chunk, p + at, len - at, &hc->body);
    if (n == TC_E2BIG) return fail_request(hc, 413);
    if (n < 0) return fail_request(hc, n == TC_ENOMEM ? 500 : 400);
    hc->raw_used += (size_t)n;
    if (!hc->chunk->done) {
      /* The raw form may be far larger than the body (tiny chunks); bound it too. */
      if (hc->raw_used > 2 * srv->cfg.max_body + 65536) return fail_request(hc, 413);
      return 0;
    }
    total = hc->head_len + hc->raw_used;
    body = (tc_slice_t){tc_buf_data(&hc->body), hc->body.len};
  } else {
    total = hc->head_len + (size_t)hc->body_len;
    if (len < total) return 0;
    body = (tc_slice_t){p + hc->head_len, (size_t)hc->body_len};
  }
  /* The bytes may have moved since the header was first parsed: the slices must point here. */
  if (!parsed) parse_head(hc, p);
  return dispatch(hc, total, (tc_slice_t){p, hc->head_len}, body);
}

static void hc_on_drain(tc_io_conn_t *c) {
  http_conn_t *hc = tc_io_conn_data(c);
  if (hc->throttled) {
    hc->throttled = 0;
    if (!hc->busy) tc_io_conn_resume(c);
  }
}

static void hc_on_timeout(tc_io_conn_t *c) {
  http_conn_t *hc = tc_io_conn_data(c);
  if (hc->in_request && !hc->busy) {
    fail_request(hc, 408);
    return;
  }
  tc_io_conn_close(c, 0);
}

static void hc_on_close(tc_io_conn_t *c, int err) {
  (void)err;
  http_conn_t *hc = tc_io_conn_data(c);
  if (hc->busy && hc->x.active && hc->x.on_abort) {
    hc->x.active = 0;
    hc->x.on_abort(&hc->x, hc->x.abort_ud);
  }
  hc_free(hc);
}
