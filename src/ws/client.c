/* WebSocket clients: connect (TCP, TLS), the opening handshake, then the shared connection. */
#include "tc_ws_conn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tc__ws_client {
  tc_ws_conn_t *c;
  tc_ws_client_options_t o;
  tc_io_t *io;
  char host[256];
  char path[2048];
  char key[25];
  char protocol[128];
  int port;
  char *protocols, *headers, *origin;
  tc_io_timeouts_t *hs_q;
  tc_ws_conn_shared_t sh;
  size_t scanned;
  uint8_t pool[64]; /* mask keys, drawn from the CSPRNG 16 at a time */
  size_t pool_left;
  unsigned opened : 1;
};

int tc_ws_url_parse(const char *url, int *tls, char *host, size_t host_cap, int *port, char *path,
                    size_t path_cap) {
  const char *p;
  if (strncmp(url, "ws://", 5) == 0) {
    *tls = 0;
    *port = 80;
    p = url + 5;
  } else if (strncmp(url, "wss://", 6) == 0) {
    *tls = 1;
    *port = 443;
    p = url + 6;
  } else {
    return TC_EINVAL;
  }
  const char *hs = p, *he;
  if (*p == '[') {
    hs = p + 1;
    he = strchr(hs, ']');
    if (!he) return TC_EINVAL;
    p = he + 1;
  } else {
    he = p + strcspn(p, ":/?#");
    p = he;
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= host_cap) return TC_EINVAL;
  memcpy(host, hs, hl);
  host[hl] = '\0';
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v <= 0 || v > 65535) return TC_EINVAL;
    *port = (int)v;
    p = end;
  }
  if (*p == '#') p += strlen(p);
  if (*p && *p != '/' && *p != '?') return TC_EINVAL;
  size_t pl = strcspn(p, "#");
  if (pl + 2 > path_cap) return TC_EINVAL;
  if (pl == 0 || *p == '?') {
    path[0] = '/';
    memcpy(path + 1, p, pl);
    path[pl + 1] = '\0';
  } else {
    memcpy(path, p, pl);
    path[pl] = '\0';
  }
  return 0;
}

static void client_random(void *ud, uint8_t *out, size_t n) {
  struct tc__ws_client *cl = ud;
  if (cl->o.random) {
    cl->o.random(cl->o.random_ud, out, n);
    return;
  }
  if (n > sizeof cl->pool) {
    RAND_bytes(out, (int)n);
    return;
  }
  if (cl->pool_left < n) {
    RAND_bytes(cl->pool, sizeof cl->pool);
    cl->pool_left = sizeof cl->pool;
  }
  memcpy(out, cl->pool + sizeof cl->pool - cl->pool_left, n);
  cl->pool_left -= n;
}

void tc__ws_client_free(struct tc__ws_client *cl) {
  if (!cl) return;
  tc_io_timeouts_free(cl->hs_q);
  tc_io_timeouts_free(cl->sh.close_q);
  tc_io_timeouts_free(cl->sh.tick_q);
  free(cl->protocols);
  free(cl->headers);
  free(cl->origin);
  free(cl);
}

/* Failure before the connection opened: report it as an abnormal close. */
static void client_fail(struct tc__ws_client *cl, const char *why) {
  tc_ws_conn_t *c = cl->c;
  if (cl->sh.h.on_close) cl->sh.h.on_close(c, TC_WS_CLOSE_ABNORMAL, tc_slice_str(why), cl->sh.ud);
  c->client = NULL;
  tc__ws_client_free(cl);
  free(c);
}

static ssize_t hs_on_data(tc_io_conn_t *io, uint8_t *p, size_t len);
static void hs_on_timeout(tc_io_conn_t *io);
static void hs_on_close(tc_io_conn_t *io, int err);
static const tc_io_handler_t hs_handler = {
    .on_data = hs_on_data, .on_timeout = hs_on_timeout, .on_close = hs_on_close};

static void hs_on_timeout(tc_io_conn_t *io) {
  struct tc__ws_client *cl = tc_io_conn_data(io);
  cl->c->local_reason = "handshake timed out";
  tc_io_conn_abort(io, TC_ETIMEDOUT);
}

static void hs_on_close(tc_io_conn_t *io, int err) {
  struct tc__ws_client *cl = tc_io_conn_data(io);
  const char *why = cl->c->local_reason ? cl->c->local_reason : tc_strerror(err ? err : TC_ECLOSED);
  client_fail(cl, why);
}

static int hs_refuse(tc_io_conn_t *io, struct tc__ws_client *cl, const char *why) {
  cl->c->local_reason = why;
  tc_io_conn_abort(io, TC_EPROTO);
  return TC_EPROTO;
}

static ssize_t hs_on_data(tc_io_conn_t *io, uint8_t *p, size_t len) {
  struct tc__ws_client *cl = tc_io_conn_data(io);
  size_t end = tc_http_find_header_end(p, len, cl->scanned);
  if (!end) {
    cl->scanned = len;
    if (len > 16384) return hs_refuse(io, cl, "handshake answer too large");
    return 0;
  }
  tc_http_header_t hdrs[64];
  tc_http_response_t res = {.headers = hdrs, .num_headers = 64};
  if (tc_http_parse_response(p, end, &res, 16384) < 0)
    return hs_refuse(io, cl, "malformed handshake answer");
  if (res.status != 101) {
    snprintf(cl->protocol, sizeof cl->protocol, "server answered %d", res.status);
    return hs_refuse(io, cl, cl->protocol);
  }
  tc_slice_t proto, ext;
  if (tc_ws_client_check_response(&res, cl->key, cl->protocols, &proto, &ext) < 0)
    return hs_refuse(io, cl, "invalid handshake answer");
  tc_ws_deflate_params_t dp;
  int deflate = 0;
  if (ext.len) {
    if (!cl->o.deflate.enabled || tc_ws_deflate_accept(ext, &cl->o.deflate, &dp) < 0)
      return hs_refuse(io, cl, "unexpected extensions in handshake answer");
    deflate = 1;
  }
  if (proto.len >= sizeof cl->protocol) return hs_refuse(io, cl, "protocol name too long");
  memcpy(cl->protocol, proto.p, proto.len);
  cl->protocol[proto.len] = '\0';

  tc_ws_conn_t *c = cl->c;
  c->protocol = cl->protocol;
  tc_io_conn_set_timeout(io, NULL);
  if (tc__ws_conn_start(c, deflate ? &dp : NULL) < 0) return hs_refuse(io, cl, "out of memory");
  cl->opened = 1;
  if (cl->sh.h.on_open) cl->sh.h.on_open(c, cl->sh.ud);
  /* Bytes after the answer are the first frames: the io layer hands them to the new handler. */
  return (ssize_t)end;
}

static void on_connected(tc_io_conn_t *io, int err, void *ud) {
  struct tc__ws_client *cl = ud;
  if (!io) {
    client_fail(cl, tc_strerror(err));
    return;
  }
  cl->c->io = io;
  tc_io_conn_set_handler(io, &hs_handler, cl);
  tc_io_conn_set_timeout(io, cl->hs_q);
  uint8_t nonce[16];
  RAND_bytes(nonce, sizeof nonce);
  tc_buf_t ext = {0}, extra = {0};
  int r = 0;
  if (cl->o.deflate.enabled) r = tc_ws_deflate_offer(&cl->o.deflate, &ext);
  if (!r && ext.len) r = tc_buf_append(&ext, "", 1);
  if (!r && cl->origin) r = tc_buf_appendf(&extra, "Origin: %s\r\n", cl->origin);
  if (!r && cl->headers) r = tc_buf_append_str(&extra, cl->headers);
  if (!r) r = tc_buf_append(&extra, "", 1);
  /* Host carries the port unless it is the scheme's default (RFC 6455 section 4.1). */
  char hostport[300];
  int is_v6 = strchr(cl->host, ':') != NULL;
  if (cl->port == (cl->o.tls ? 443 : 80))
    snprintf(hostport, sizeof hostport, is_v6 ? "[%s]" : "%s", cl->host);
  else
    snprintf(hostport, sizeof hostport, is_v6 ? "[%s]:%d" : "%s:%d", cl->host, cl->port);
  if (!r)
    r = tc_ws_client_request(tc_io_conn_outbuf(io), hostport, cl->path, nonce, cl->protocols,
                             ext.len ? (const char *)tc_buf_data(&ext) : NULL,
                             extra.len > 1 ? (const char *)tc_buf_data(&extra) : NULL, cl->key);
  tc_buf_free(&ext);
  tc_buf_free(&extra);
  if (r) {
    cl->c->local_reason = "could not write the handshake";
    tc_io_conn_abort(io, r);
    return;
  }
  tc_io_conn_wrote(io);
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

int tc_ws_client_connect(tc_io_t *io, const tc_ws_client_options_t *o, const tc_ws_handlers_t *h,
                         void *ud, tc_ws_conn_t **out) {
  struct tc__ws_client *cl = calloc(1, sizeof *cl);
  tc_ws_conn_t *c = tc__ws_conn_new();
  if (!cl || !c) {
    free(cl);
    free(c);
    return TC_ENOMEM;
  }
  cl->o = *o;
  cl->io = io;
  int tls, port;
  int r =
      tc_ws_url_parse(o->url, &tls, cl->host, sizeof cl->host, &port, cl->path, sizeof cl->path);
  if (!r && tls && !o->tls) r = TC_EINVAL;
  if (!tls) cl->o.tls = NULL;
  cl->port = port;
  cl->o.url = NULL; /* not kept: everything needed is parsed out above */
  cl->protocols = dup_or_null(o->protocols);
  cl->headers = dup_or_null(o->headers);
  cl->origin = dup_or_null(o->origin);
  if ((o->protocols && !cl->protocols) || (o->headers && !cl->headers) ||
      (o->origin && !cl->origin))
    r = r ? r : TC_ENOMEM;
  if (!r)
    r = tc_io_timeouts_new(io, o->handshake_timeout_ms ? o->handshake_timeout_ms : 10000,
                           &cl->hs_q);
  if (!r) r = tc_io_timeouts_new(io, 5000, &cl->sh.close_q);
  if (!r && o->ping_interval_ms) r = tc_io_timeouts_new(io, o->ping_interval_ms, &cl->sh.tick_q);
  cl->sh.h = *h;
  cl->sh.ud = ud;
  cl->sh.opts = (tc_ws_conn_opts_t){
      .max_message = o->max_message,
      .max_buffered = o->max_buffered ? o->max_buffered : (uint64_t)32 << 20,
      .ping_interval_ms = o->ping_interval_ms,
      .deflate_mem_level = o->deflate.mem_level,
      .deflate_threshold = o->deflate.threshold,
  };
  tc__ws_shared_init(&cl->sh, 1, client_random, cl);
  c->sh = &cl->sh;
  c->client = cl;
  cl->c = c;
  if (r) {
    tc__ws_client_free(cl);
    free(c);
    return r;
  }
  r = tc_io_connect(io, cl->host, port, cl->o.tls, on_connected, cl);
  if (r) {
    tc__ws_client_free(cl);
    free(c);
    return r;
  }
  if (out) *out = c;
  return 0;
}
