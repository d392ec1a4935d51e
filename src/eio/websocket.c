/* The WebSocket transport, and the upgrade of a polling session to it: the client probes the new
 * WebSocket with "2probe", we answer "3probe" and end the waiting GET with a noop, the client
 * sends "5", and from then on the session's packets go over the WebSocket. */
#include "eio_int.h"

#include <stdlib.h>
#include <string.h>

#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* ---- sending --------------------------------------------------------------------------------- */

static void trim(tc_buf_t *b) {
  if (b->cap > (256u << 10))
    tc_buf_free(b);
  else
    tc_buf_reset(b);
}

/* One packet as one message. Without permessage-deflate a text packet is framed here, type digit
 * and all, and queued as is: one copy, no allocation once the scratch buffer has grown. */
static int ws_write(tc_eio_server_t *srv, tc_ws_conn_t *c, int b64, int type, int binary,
                    const void *p, size_t len) {
  if (binary && !b64) return tc_ws_conn_send(c, TC_WS_OP_BINARY, p, len);
  tc_buf_t *b = &srv->scratch;
  tc_buf_reset(b);
  int r;
  if (binary || tc_ws_conn_deflate(c)) {
    /* The polling form is the text form: "b" + base64, or the digit and the data. */
    r = tc_eio_encode_polling(b, 1, type, binary, p, len);
    if (!r) r = tc_ws_conn_send(c, TC_WS_OP_TEXT, tc_buf_data(b), b->len);
  } else {
    r = tc_buf_reserve(b, 14 + 1 + len);
    if (!r) {
      uint8_t *w = tc_buf_tail(b);
      size_t h = tc_ws_frame_write(w, 1, 0, TC_WS_OP_TEXT, (uint64_t)len + 1, NULL);
      w[h] = (uint8_t)('0' + type);
      if (len) memcpy(w + h + 1, p, len);
      tc_buf_commit(b, h + 1 + len);
      r = tc_ws_conn_send_frames(c, tc_buf_data(b), b->len);
    }
  }
  trim(b);
  return r;
}

int tc__eio_ws_send(tc_eio_socket_t *s, int type, int binary, const void *p, size_t len) {
  if (!s->ws) return TC_ECLOSED;
  return ws_write(s->srv, s->ws, s->ws_b64, type, binary, p, len);
}

int tc__eio_ws_send_shared(tc_eio_socket_t *s, tc_eio_shared_t *m) {
  tc_ws_conn_t *c = s->ws;
  if (!c) return TC_ECLOSED;
  if (m->binary && s->ws_b64) {
    size_t n;
    const char *form = tc__eio_shared_b64(m, &n);
    if (!form) return TC_ENOMEM;
    return tc_ws_conn_send(c, TC_WS_OP_TEXT, form, n);
  }
  size_t plen = m->len + (m->binary ? 0 : 1);
  if (tc_ws_conn_deflate(c))
    return tc_ws_conn_send(c, m->binary ? TC_WS_OP_BINARY : TC_WS_OP_TEXT, m->frame + m->hdr_len,
                           plen);
  return tc_ws_conn_send_shared(c, &m->io);
}

void tc__eio_ws_drop(tc_ws_conn_t *c) {
  tc_ws_conn_set_data(c, NULL);
  tc_ws_conn_close(c, 0, NULL);
}

/* ---- the upgrade ----------------------------------------------------------------------------- */

void tc__eio_upgrade_free(eio_upgrade_t *up, int close_ws) {
  tc__eio_tnode_stop(&up->timeout);
  tc__eio_tnode_stop(&up->check);
  if (up->s->up == up) up->s->up = NULL;
  if (close_ws && up->ws) tc__eio_ws_drop(up->ws);
  free(up);
}

void tc__eio_upgrade_timeout(eio_tnode_t *n) {
  /* The client never sent "5": the probe goes, the session stays on polling. */
  tc__eio_upgrade_free(container_of(n, eio_upgrade_t, timeout), 1);
}

void tc__eio_upgrade_check(eio_tnode_t *n) {
  eio_upgrade_t *up = container_of(n, eio_upgrade_t, check);
  tc_eio_socket_t *s = up->s;
  tc__eio_tnode_arm(&up->check, s->srv->check_q);
  if (!s->poll) return;
  tc__eio_enter(s);
  tc__eio_poll_flush(s, "6");
  tc__eio_leave(s);
}

static int flush_entry(tc_eio_socket_t *s, int type, int binary, const uint8_t *p, size_t len,
                       tc_eio_shared_t *m, void *ud) {
  (void)ud;
  if (m)
    tc__eio_ws_send_shared(s, m);
  else
    tc__eio_ws_send(s, type, binary, p, len);
  return 0;
}

static void upgrade_complete(eio_upgrade_t *up) {
  tc_eio_socket_t *s = up->s;
  tc_ws_conn_t *c = up->ws;
  int b64 = up->b64;
  up->ws = NULL;
  tc__eio_upgrade_free(up, 0);
  /* The polling transport is discarded: a GET still waiting gets the close packet, and what was
   * queued for polling goes over the WebSocket instead, in order. */
  tc__eio_poll_answer(s, "1");
  s->should_close = 0;
  s->ws = c;
  s->websocket = 1;
  s->ws_b64 = b64 != 0;
  if (tc__eio_wq_len(s)) {
    tc__eio_wq_each(s, flush_entry, NULL);
    tc__eio_drained(s);
  }
  if (s->state == EIO_CLOSING) tc__eio_closed(s, "forced close");
}

static void probe_packet(eio_upgrade_t *up, const tc_eio_packet_t *pkt) {
  tc_eio_socket_t *s = up->s;
  tc_eio_server_t *srv = s->srv;
  if (pkt && pkt->type == TC_EIO_PING && !pkt->binary && tc_slice_eq(pkt->data, "probe")) {
    ws_write(srv, up->ws, 0, TC_EIO_PONG, 0, "probe", 5);
    tc__eio_tnode_arm(&up->check, srv->check_q);
    /* Node waits for its 100 ms check to end a waiting GET; ending it now upgrades sooner. */
    if (s->poll) tc__eio_poll_flush(s, "6");
    return;
  }
  if (pkt && pkt->type == TC_EIO_UPGRADE) {
    upgrade_complete(up);
    return;
  }
  /* Anything else on a probe ends the upgrade attempt. */
  tc__eio_upgrade_free(up, 1);
}

/* ---- the endpoint's callbacks ---------------------------------------------------------------- */

static void ws_on_open(tc_ws_conn_t *c, void *ud) {
  tc_eio_server_t *srv = ud;
  tc_eio_socket_t *s = tc_ws_conn_data(c);
  if (s && s == srv->accept_new) {
    s->ws = c;
    tc_buf_t *b = &srv->body;
    tc_buf_reset(b);
    if (tc__eio_open_json(s, b) || tc__eio_session_add(s)) {
      s->ws = NULL;
      tc__eio_ws_drop(c);
      return;
    }
    srv->accept_opened = 1;
    ws_write(srv, c, 0, TC_EIO_OPEN, 0, tc_buf_data(b), b->len);
    tc__eio_opened(s, srv->accept_req);
    return;
  }
  eio_upgrade_t *up = srv->accept_up;
  if (s && up && s == up->s) {
    srv->accept_opened = 1;
    up->ws = c;
    s->up = up;
    tc__eio_tnode_arm(&up->timeout, srv->upgrade_q);
    return;
  }
  tc__eio_ws_drop(c);
}

static void ws_on_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ud;
  tc_eio_socket_t *s = tc_ws_conn_data(c);
  if (!s) return;
  tc_eio_packet_t pkt;
  int bad = tc_eio_decode_ws(data, len, opcode == TC_WS_OP_BINARY, &pkt) < 0;
  tc__eio_enter(s);
  if (s->ws == c) {
    if (!bad)
      tc__eio_on_packet(s, &pkt);
    else if (s->state == EIO_OPEN)
      tc__eio_closed(s, "parse error");
  } else if (s->up && s->up->ws == c) {
    probe_packet(s->up, bad ? NULL : &pkt);
  }
  tc__eio_leave(s);
}

static void ws_on_drain(tc_ws_conn_t *c, void *ud) {
  tc_eio_server_t *srv = ud;
  tc_eio_socket_t *s = tc_ws_conn_data(c);
  if (!s || s->ws != c || s->state != EIO_OPEN || !srv->h.on_drain) return;
  tc__eio_enter(s);
  srv->h.on_drain(s, srv->ud);
  tc__eio_leave(s);
}

static void ws_on_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  (void)reason, (void)ud;
  tc_eio_socket_t *s = tc_ws_conn_data(c);
  if (!s) return;
  if (s->ws == c) {
    s->ws = NULL;
    /* Failures (a bad frame, bad UTF-8, a message over max_payload, a peer that does not read)
     * are Node's "transport error"; a close or a dropped connection is "transport close". */
    int failed = code == TC_WS_CLOSE_PROTOCOL || code == TC_WS_CLOSE_INVALID_DATA ||
                 code == TC_WS_CLOSE_POLICY || code == TC_WS_CLOSE_TOO_BIG;
    tc__eio_closed(s, failed ? "transport error" : "transport close");
  } else if (s->up && s->up->ws == c) {
    s->up->ws = NULL;
    tc__eio_upgrade_free(s->up, 0);
  }
}

int tc__eio_ws_init(tc_eio_server_t *srv) {
  tc_ws_server_config_t cfg = {.max_message = srv->cfg.max_payload};
  if (srv->cfg.ws_deflate) {
    cfg.deflate.enabled = 1;
    /* Node's perMessageDeflate threshold. */
    cfg.deflate.threshold = 1024;
  }
  /* Without an on_drain of its own the server needs no word of drained sockets: a broadcast
   * then costs no callback per recipient once its bytes are out. */
  tc_ws_handlers_t h = {
      .on_open = ws_on_open,
      .on_message = ws_on_message,
      .on_drain = srv->h.on_drain ? ws_on_drain : NULL,
      .on_close = ws_on_close,
  };
  return tc_ws_endpoint_new(srv->http, &cfg, &h, srv, &srv->ep);
}

/* ---- requests -------------------------------------------------------------------------------- */

/* Node refuses an upgrade before the handshake with a bare 400 and the message as text. */
static int abort_upgrade(tc_http_exchange_t *x, int code) {
  const char *msg = tc__eio_error_message(code);
  tc_io_conn_t *io = tc_http_exchange_conn(x);
  if (tc_http_request(x)->keep_alive) tc_http_add_header(x, "Connection", "close");
  int r = tc_http_respond(x, 400, "text/html", msg, strlen(msg));
  tc_io_conn_close(io, 0);
  return r;
}

int tc__eio_ws_request(tc_eio_server_t *srv, tc_http_exchange_t *x, const eio_query_t *q) {
  const tc_http_request_t *req = tc_http_request(x);
  if (!srv->ep) return abort_upgrade(x, EIO_ERR_UNKNOWN_TRANSPORT);
  tc_eio_socket_t *s;
  int code = tc__eio_verify(srv, req, q, 1, &s);
  if (code >= 0) return abort_upgrade(x, code);
  /* Node completes the handshake and closes at once when the WebSocket cannot be used: polling
   * named as the transport, or a session that upgrades or has upgraded already. */
  if (tc__eio_query_transport(srv, q) != EIO_T_WEBSOCKET || (s && (s->up || s->websocket)))
    return tc_ws_endpoint_accept(srv->ep, x, NULL);
  if (s) {
    eio_upgrade_t *up = calloc(1, sizeof *up);
    if (!up) return TC_ENOMEM;
    up->s = s;
    up->b64 = q->b64;
    srv->accept_up = up;
    srv->accept_opened = 0;
    int r = tc_ws_endpoint_accept(srv->ep, x, s);
    srv->accept_up = NULL;
    if (!srv->accept_opened) free(up);
    return r;
  }
  if (!tc__eio_is_v4(q)) return abort_upgrade(x, EIO_ERR_UNSUPPORTED_PROTOCOL);
  tc_http_request_t copy = *req;
  s = tc__eio_session_new(srv, 1);
  if (!s) return TC_ENOMEM;
  s->ws_b64 = q->b64;
  srv->accept_new = s;
  srv->accept_req = &copy;
  srv->accept_opened = 0;
  int r = tc_ws_endpoint_accept(srv->ep, x, s);
  srv->accept_new = NULL;
  srv->accept_req = NULL;
  if (!srv->accept_opened) tc__eio_session_free(s);
  return r;
}
