/* The server side of the opening handshake: endpoints that upgrade HTTP exchanges to WebSocket,
 * as a route of their own or on behalf of another module (Engine.IO upgrades its sessions). */
#include "tc_ws_conn.h"

#include <stdlib.h>
#include <string.h>

struct tc_ws_endpoint {
  tc_ws_server_config_t cfg;
  tc_ws_conn_shared_t sh;
};
typedef tc_ws_endpoint_t ws_route_t;

static void route_free(void *ud) {
  ws_route_t *r = ud;
  tc_io_timeouts_free(r->sh.tick_q);
  tc_io_timeouts_free(r->sh.close_q);
  free(r);
}

static int refuse(tc_http_exchange_t *x, int status) {
  if (status == 426) {
    tc_http_add_header(x, "Sec-WebSocket-Version", "13");
    tc_http_add_header(x, "Upgrade", "websocket");
  }
  return tc_http_respond_error(x, status, 0);
}

int tc_ws_endpoint_accept(tc_ws_endpoint_t *rt, tc_http_exchange_t *x, void *data) {
  const tc_http_request_t *req = tc_http_request(x);
  tc_ws_upgrade_t up;
  /* A plain request (no Upgrade at all) is told what this resource speaks, as ws does. */
  if (!tc_http_header_get(req->headers, req->num_headers, "Upgrade")) return refuse(x, 426);
  if (tc_ws_upgrade_check(req, &up) < 0) return refuse(x, up.error_status);
  if (rt->cfg.check_origin && rt->cfg.check_origin(up.origin, rt->sh.ud)) return refuse(x, 403);

  const char *protocol = NULL;
  if (up.protocols.len && rt->cfg.protocols)
    protocol = tc_ws_pick_protocol(up.protocols, rt->cfg.protocols);

  tc_ws_deflate_params_t dp;
  int deflate = 0;
  tc_buf_t ext = {0};
  if (rt->cfg.deflate.enabled && up.extensions.len) {
    deflate = tc_ws_deflate_negotiate(up.extensions, &rt->cfg.deflate, &dp, &ext);
    if (deflate < 0) {
      tc_buf_free(&ext);
      return refuse(x, 500);
    }
  }

  char accept[29];
  tc_ws_accept_key(up.key, accept);
  tc_ws_conn_t *c = tc__ws_conn_new();
  if (!c) {
    tc_buf_free(&ext);
    return refuse(x, 503);
  }
  c->sh = &rt->sh;
  c->protocol = protocol;
  c->data = data;

  tc_io_conn_t *io = tc_http_take(x);
  c->io = io;
  tc_buf_t *out = tc_io_conn_outbuf(io);
  size_t resp_at = out->len;
  int r = tc_buf_append_str(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
  if (!r) r = tc_buf_append(out, accept, 28);
  if (!r && protocol) {
    r = tc_buf_append_str(out, "\r\nSec-WebSocket-Protocol: ");
    if (!r) r = tc_buf_append_str(out, protocol);
  }
  if (!r && deflate) {
    r = tc_buf_append_str(out, "\r\nSec-WebSocket-Extensions: ");
    if (!r) r = tc_buf_append(out, tc_buf_data(&ext), ext.len);
  }
  if (!r) r = tc_buf_append(out, "\r\n\r\n", 4);
  tc_buf_free(&ext);
  if (!r) r = tc__ws_conn_start(c, deflate ? &dp : NULL);
  if (r) {
    /* The connection is ours now but has no WebSocket: give it a handler that only closes. */
    free(c);
    static const tc_io_handler_t dead = {0};
    tc_io_conn_set_handler(io, &dead, NULL);
    tc_io_conn_abort(io, r);
    return 0;
  }
  if (rt->cfg.keep_handshake) {
    /* Both are still in place: the request in the input, the answer in the output queue. */
    rt->sh.hs_request = tc_http_head(x);
    rt->sh.hs_response = (tc_slice_t){tc_buf_data(out) + resp_at, out->len - resp_at};
  }
  if (rt->sh.h.on_open) rt->sh.h.on_open(c, rt->sh.ud);
  rt->sh.hs_request = rt->sh.hs_response = (tc_slice_t){NULL, 0};
  tc_io_conn_wrote(io);
  return 0;
}

static int on_upgrade(tc_http_exchange_t *x, void *ud) {
  return tc_ws_endpoint_accept(ud, x, NULL);
}

int tc_ws_endpoint_new(tc_http_server_t *srv, const tc_ws_server_config_t *cfg,
                       const tc_ws_handlers_t *h, void *ud, tc_ws_endpoint_t **out) {
  ws_route_t *rt = calloc(1, sizeof *rt);
  if (!rt) return TC_ENOMEM;
  rt->cfg = *cfg;
  rt->sh.h = *h;
  rt->sh.ud = ud;
  if (!rt->cfg.max_buffered) rt->cfg.max_buffered = (uint64_t)32 << 20;
  if (!rt->cfg.close_timeout_ms) rt->cfg.close_timeout_ms = 5000;
  rt->sh.opts = (tc_ws_conn_opts_t){
      .max_message = rt->cfg.max_message,
      .max_buffered = rt->cfg.max_buffered,
      .ping_interval_ms = rt->cfg.ping_interval_ms,
      .idle_timeout_ms = rt->cfg.idle_timeout_ms,
      .deflate_mem_level = rt->cfg.deflate.mem_level,
      .deflate_threshold = rt->cfg.deflate.threshold,
  };
  tc__ws_shared_init(&rt->sh, 0, NULL, NULL);
  tc_io_t *io = tc_http_server_io(srv);
  int r = tc_io_timeouts_new(io, rt->cfg.close_timeout_ms, &rt->sh.close_q);
  uint64_t tick = rt->cfg.ping_interval_ms;
  if (!tick || (rt->cfg.idle_timeout_ms && rt->cfg.idle_timeout_ms < tick))
    tick = rt->cfg.idle_timeout_ms;
  if (!r && tick) r = tc_io_timeouts_new(io, tick, &rt->sh.tick_q);
  if (!r) r = tc_http_server_on_free(srv, route_free, rt);
  if (r) {
    route_free(rt);
    return r;
  }
  /* From here the server owns rt and frees it. */
  *out = rt;
  return 0;
}

int tc_ws_server_route(tc_http_server_t *srv, const char *path, const tc_ws_server_config_t *cfg,
                       const tc_ws_handlers_t *h, void *ud) {
  tc_ws_endpoint_t *ep;
  int r = tc_ws_endpoint_new(srv, cfg, h, ud, &ep);
  if (r) return r;
  return tc_http_server_route(srv, path, 0, on_upgrade, ep);
}
