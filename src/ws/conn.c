/* WebSocket connections on the I/O layer: the server's upgrade route, keepalive, backpressure. */
#include "tc_ws_conn.h"

#include <stdlib.h>
#include <string.h>

/* Above this much queued output we stop reading: a peer that sends without reading our answers
 * is slowed to the pace it reads at. */
#define TC_WS_READ_PAUSE_AT (1u << 20)

static void wsc_on_message(tc_ws_t *ws, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ws;
  tc_ws_conn_t *c = ud;
  if (c->sh->h.on_message) c->sh->h.on_message(c, opcode, data, len, c->sh->ud);
}

static void wsc_on_pong(tc_ws_t *ws, const uint8_t *data, size_t len, void *ud) {
  (void)ws;
  tc_ws_conn_t *c = ud;
  if (c->sh->h.on_pong) c->sh->h.on_pong(c, data, len, c->sh->ud);
}

static void wsc_on_frame(tc_ws_t *ws, int incoming, const uint8_t *header, size_t header_len,
                         const uint8_t *payload, size_t payload_len, void *ud) {
  (void)ws;
  tc_ws_conn_t *c = ud;
  c->sh->h.on_frame(c, incoming, header, header_len, payload, payload_len, c->sh->ud);
}

static const tc_io_handler_t wsc_handler, wsc_handler_drain;

/* The I/O layer's word that output drained is only needed while reading is paused or when the
 * application wants it: otherwise the handler without on_drain spares a call per flush, which
 * a broadcast to thousands of connections would pay thousands of times. */
static void wsc_set_handler(tc_ws_conn_t *c) {
  int drain = c->read_paused || c->sh->h.on_drain;
  tc_io_conn_set_handler(c->io, drain ? &wsc_handler_drain : &wsc_handler, c);
}

static ssize_t wsc_on_data(tc_io_conn_t *io, uint8_t *p, size_t len) {
  tc_ws_conn_t *c = tc_io_conn_data(io);
  c->alive = 1;
  c->last_rx = tc_io_now(tc_io_conn_io(io));
  ssize_t n = tc_ws_feed(c->ws, p, len, tc_io_conn_outbuf(io));
  tc_io_conn_wrote(io);
  if (n < 0) return n == TC_ECLOSED ? TC_ECLOSED : n;
  if (!c->read_paused && tc_io_conn_pending(io) > TC_WS_READ_PAUSE_AT) {
    c->read_paused = 1;
    wsc_set_handler(c);
    tc_io_conn_pause(io);
  }
  return n;
}

static void wsc_on_drain(tc_io_conn_t *io) {
  tc_ws_conn_t *c = tc_io_conn_data(io);
  if (c->read_paused) {
    c->read_paused = 0;
    wsc_set_handler(c);
    tc_io_conn_resume(io);
  }
  if (c->sh->h.on_drain && !tc_io_conn_is_closing(io)) c->sh->h.on_drain(c, c->sh->ud);
}

/* Arms the next keepalive tick, if the route wants pings or an idle limit. */
static void wsc_arm_tick(tc_ws_conn_t *c) {
  if (c->sh->tick_q) tc_io_conn_set_timeout(c->io, c->sh->tick_q);
}

static void wsc_on_timeout(tc_io_conn_t *io) {
  tc_ws_conn_t *c = tc_io_conn_data(io);
  if (tc_ws_state(c->ws) != TC_WS_OPEN) {
    /* The peer never answered our close frame. */
    tc_io_conn_abort(io, TC_ETIMEDOUT);
    return;
  }
  const tc_ws_conn_opts_t *o = &c->sh->opts;
  uint64_t now = tc_io_now(tc_io_conn_io(io));
  if (o->idle_timeout_ms && now - c->last_rx >= o->idle_timeout_ms) {
    tc_ws_conn_close(c, TC_WS_CLOSE_GOING_AWAY, "idle timeout");
    return;
  }
  if (o->ping_interval_ms) {
    if (!c->alive && c->pinged) {
      tc_io_conn_abort(io, TC_ETIMEDOUT);
      return;
    }
    c->alive = 0;
    c->pinged = 1;
    tc_ws_send_ping(c->ws, NULL, 0, tc_io_conn_outbuf(io));
    tc_io_conn_wrote(io);
  }
  wsc_arm_tick(c);
}

static void wsc_on_close(tc_io_conn_t *io, int err) {
  (void)err;
  tc_ws_conn_t *c = tc_io_conn_data(io);
  int code = c->local_code ? c->local_code : tc_ws_close_code(c->ws);
  tc_slice_t reason = c->local_code ? tc_slice_str(c->local_reason) : tc_ws_close_reason(c->ws);
  if (c->sh->h.on_close) c->sh->h.on_close(c, code, reason, c->sh->ud);
  tc__ws_conn_free(c);
}

static const tc_io_handler_t wsc_handler = {
    .on_data = wsc_on_data,
    .on_timeout = wsc_on_timeout,
    .on_close = wsc_on_close,
};
static const tc_io_handler_t wsc_handler_drain = {
    .on_data = wsc_on_data,
    .on_drain = wsc_on_drain,
    .on_timeout = wsc_on_timeout,
    .on_close = wsc_on_close,
};

void tc__ws_shared_init(tc_ws_conn_shared_t *sh, int client,
                        void (*random)(void *ud, uint8_t *out, size_t n), void *rand_ud) {
  sh->wcfg = (tc_ws_config_t){
      .client = client != 0,
      .max_message = sh->opts.max_message,
      .deflate_mem_level = sh->opts.deflate_mem_level,
      .deflate_threshold = sh->opts.deflate_threshold,
      .random = random,
      .random_ud = rand_ud,
      .cb = {.on_message = wsc_on_message, .on_pong = wsc_on_pong},
  };
  if (sh->h.on_frame) sh->wcfg.cb.on_frame = wsc_on_frame;
}

tc_ws_conn_t *tc__ws_conn_new(void) {
  return calloc(1, sizeof(tc_ws_conn_t) + tc__ws_size());
}

int tc__ws_conn_start(tc_ws_conn_t *c, const tc_ws_deflate_params_t *dp) {
  tc_ws_t *ws = (tc_ws_t *)(void *)(c + 1);
  int r = tc__ws_init(ws, &c->sh->wcfg, dp, c);
  if (r) return r;
  c->ws = ws;
  c->deflate = dp != NULL;
  c->last_rx = tc_io_now(tc_io_conn_io(c->io));
  wsc_set_handler(c);
  wsc_arm_tick(c);
  return 0;
}

void tc__ws_conn_free(tc_ws_conn_t *c) {
  tc__ws_client_free(c->client);
  if (c->ws) tc__ws_fini(c->ws);
  free(c);
}

/* ---- sending ------------------------------------------------------------------------------------
 */

/* Refuses to queue more once the peer has left max_buffered unread: it is dropped rather than
 * let us queue without bound. One message over the mark is still accepted, so a single large
 * message never fails on its own. */
static int wsc_check_queue(tc_ws_conn_t *c) {
  if (tc_io_conn_is_closing(c->io)) return TC_ECLOSED;
  if (tc_io_conn_pending(c->io) <= c->sh->opts.max_buffered) return 0;
  c->local_code = TC_WS_CLOSE_POLICY;
  c->local_reason = "send queue full";
  tc_io_conn_abort(c->io, TC_E2BIG);
  return TC_E2BIG;
}

static int wsc_after_send(tc_ws_conn_t *c, int r) {
  if (r == 0) tc_io_conn_wrote(c->io);
  return r;
}

int tc_ws_conn_send(tc_ws_conn_t *c, int opcode, const void *p, size_t len) {
  int q = wsc_check_queue(c);
  if (q) return q;
  return wsc_after_send(c, tc_ws_send(c->ws, opcode, p, len, tc_io_conn_outbuf(c->io)));
}

int tc_ws_conn_send_fragment(tc_ws_conn_t *c, int opcode, const void *p, size_t len, int fin) {
  int q = wsc_check_queue(c);
  if (q) return q;
  return wsc_after_send(c,
                        tc_ws_send_fragment(c->ws, opcode, p, len, fin, tc_io_conn_outbuf(c->io)));
}

int tc_ws_conn_send_frames(tc_ws_conn_t *c, const void *p, size_t len) {
  if (tc_ws_state(c->ws) != TC_WS_OPEN) return TC_ECLOSED;
  int q = wsc_check_queue(c);
  if (q) return q;
  return tc_io_conn_write(c->io, p, len);
}

int tc_ws_conn_send_shared(tc_ws_conn_t *c, tc_io_shared_t *m) {
  if (tc_ws_state(c->ws) != TC_WS_OPEN) return TC_ECLOSED;
  int q = wsc_check_queue(c);
  if (q) return q;
  return tc_io_conn_write_shared(c->io, m);
}

int tc_ws_conn_ping(tc_ws_conn_t *c, const void *p, size_t len) {
  if (tc_io_conn_is_closing(c->io)) return TC_ECLOSED;
  return wsc_after_send(c, tc_ws_send_ping(c->ws, p, len, tc_io_conn_outbuf(c->io)));
}

int tc_ws_conn_close(tc_ws_conn_t *c, int code, const char *reason) {
  if (tc_io_conn_is_closing(c->io)) return TC_ECLOSED;
  int r = tc_ws_send_close(c->ws, code, reason, tc_io_conn_outbuf(c->io));
  if (r) return r;
  tc_io_conn_wrote(c->io);
  tc_io_conn_set_timeout(c->io, c->sh->close_q);
  return 0;
}

uint64_t tc_ws_conn_buffered(const tc_ws_conn_t *c) {
  return tc_io_conn_pending(c->io);
}

void tc_ws_conn_set_data(tc_ws_conn_t *c, void *data) {
  c->data = data;
}

void *tc_ws_conn_data(const tc_ws_conn_t *c) {
  return c->data;
}

const char *tc_ws_conn_protocol(const tc_ws_conn_t *c) {
  return c->protocol ? c->protocol : "";
}

int tc_ws_conn_deflate(const tc_ws_conn_t *c) {
  return c->deflate;
}

void tc_ws_conn_handshake(const tc_ws_conn_t *c, tc_slice_t *request, tc_slice_t *response) {
  *request = c->sh->hs_request;
  *response = c->sh->hs_response;
}

tc_io_conn_t *tc_ws_conn_io(const tc_ws_conn_t *c) {
  return c->io;
}
