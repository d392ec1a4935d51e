/* The HTTP long-polling transport: a GET waits (deferred) until there are packets for it, a POST
 * carries the client's packets. Status codes, headers and bodies are Node's engine.io's. */
#include "eio_int.h"

#include <string.h>

static const char payload_type[] = "text/plain; charset=UTF-8";

void tc__eio_add_poll_headers(tc_http_exchange_t *x, const tc_http_request_t *req) {
  /* Node's headers() for polling answers: the IE one, then no caching. */
  const tc_http_header_t *ua = tc_http_header_get(req->headers, req->num_headers, "User-Agent");
  if (ua && (memmem(ua->value.p, ua->value.len, ";MSIE", 5) ||
             memmem(ua->value.p, ua->value.len, "Trident/", 8)))
    tc_http_add_header(x, "X-XSS-Protection", "0");
  tc_http_add_header(x, "cache-control", "no-store");
}

/* ---- answering the GET ----------------------------------------------------------------------- */

static int encode_entry(tc_eio_socket_t *s, int type, int binary, const uint8_t *p, size_t len,
                        tc_eio_shared_t *m, void *ud) {
  tc_buf_t *b = &s->srv->body;
  int first = *(int *)ud;
  *(int *)ud = 0;
  if (!m) return tc_eio_encode_polling(b, first, type, binary, p, len);
  const void *form = m->frame + m->hdr_len;
  size_t n = m->len + 1;
  if (m->binary && !(form = tc__eio_shared_b64(m, &n))) return TC_ENOMEM;
  int r = first ? 0 : tc_buf_append(b, "\x1e", 1);
  if (!r) r = tc_buf_append(b, form, n);
  return r;
}

static void respond(tc_http_exchange_t *x, const tc_buf_t *b) {
  tc_http_respond(x, 200, payload_type, tc_buf_data(b), b->len);
}

/* The large scratch buffers are kept for reuse only while they stay moderate. */
static void trim(tc_buf_t *b) {
  if (b->cap > (256u << 10))
    tc_buf_free(b);
  else
    tc_buf_reset(b);
}

void tc__eio_poll_flush(tc_eio_socket_t *s, const char *extra) {
  tc_http_exchange_t *x = s->poll;
  if (!x) return;
  tc_buf_t *b = &s->srv->body;
  tc_buf_reset(b);
  int had = tc__eio_wq_len(s) > 0;
  int first = 1;
  int r = tc__eio_wq_each(s, encode_entry, &first);
  for (const char *e = extra; !r && e && *e; e++) {
    r = tc_eio_encode_polling(b, first, *e - '0', 0, NULL, 0);
    first = 0;
  }
  s->poll = NULL;
  if (r) {
    tc_http_respond(x, 500, NULL, NULL, 0);
    trim(b);
    tc__eio_closed(s, "transport error");
    return;
  }
  respond(x, b);
  trim(b);
  if (had) tc__eio_drained(s);
}

void tc__eio_poll_answer(tc_eio_socket_t *s, const char *extra) {
  tc_http_exchange_t *x = s->poll;
  if (!x) return;
  s->poll = NULL;
  tc_buf_t *b = &s->srv->body;
  tc_buf_reset(b);
  int first = 1;
  for (const char *e = extra; *e; e++, first = 0)
    tc_eio_encode_polling(b, first, *e - '0', 0, NULL, 0);
  respond(x, b);
}

/* The GET's connection went away while it waited: Node calls that a transport error. */
static void on_poll_abort(tc_http_exchange_t *x, void *ud) {
  tc_eio_socket_t *s = ud;
  if (s->poll != x) return;
  s->poll = NULL;
  tc__eio_closed(s, "transport error");
}

static int on_get(tc_eio_socket_t *s, tc_http_exchange_t *x) {
  if (s->poll) {
    /* Two GETs at once: Node closes the session (the first GET gets the close packet) and
     * refuses the second with an empty 400. */
    tc__eio_closed(s, "transport error");
    return tc_http_respond(x, 400, NULL, NULL, 0);
  }
  tc__eio_add_poll_headers(x, tc_http_request(x));
  s->poll = x;
  tc__eio_enter(s);
  if (tc__eio_wq_len(s)) {
    tc__eio_poll_flush(s, NULL);
  } else if (s->should_close) {
    tc__eio_poll_answer(s, "61");
    tc__eio_closed(s, "forced close");
  }
  if (s->poll == x) tc_http_defer(x, on_poll_abort, s);
  tc__eio_leave(s);
  return 0;
}

/* ---- reading the POST ------------------------------------------------------------------------ */

static int on_post_packet(const tc_eio_packet_t *pkt, void *ud) {
  tc_eio_socket_t *s = ud;
  if (s->state == EIO_CLOSED) return 1;
  if (pkt->type == TC_EIO_CLOSE) {
    /* The client leaves: a waiting GET ends with a noop, and the session closes. */
    tc__eio_poll_flush(s, "6");
    tc__eio_closed(s, "transport close");
    return 1;
  }
  if (pkt->type != TC_EIO_MESSAGE || pkt->binary ||
      tc_utf8_check(pkt->data.p, pkt->data.len) == 0) {
    tc__eio_on_packet(s, pkt);
    return 0;
  }
  /* Node reads the body as text: ill-formed UTF-8 arrives as U+FFFD. */
  tc_buf_t *fix = &s->srv->fix;
  tc_buf_reset(fix);
  if (tc__eio_utf8_repair(pkt->data.p, pkt->data.len, fix)) return TC_ENOMEM;
  tc_eio_packet_t copy = *pkt;
  copy.data = (tc_slice_t){tc_buf_data(fix), fix->len};
  tc__eio_on_packet(s, &copy);
  if (fix->cap > (256u << 10)) tc_buf_free(fix);
  return 0;
}

static int on_post(tc_eio_socket_t *s, tc_http_exchange_t *x) {
  tc_eio_server_t *srv = s->srv;
  const tc_http_request_t *req = tc_http_request(x);
  const tc_http_header_t *ct = tc_http_header_get(req->headers, req->num_headers, "Content-Type");
  if (ct && tc_slice_eq(ct->value, "application/octet-stream")) {
    /* Binary bodies belong to protocol 3: Node fails the transport. */
    tc__eio_closed(s, "transport error");
    return tc_http_respond(x, 400, NULL, NULL, 0);
  }
  tc_slice_t body = tc_http_body(x);
  if (body.len > srv->cfg.max_payload) {
    /* Node answers 413 and keeps the session. */
    return tc_http_respond(x, 413, NULL, NULL, 0);
  }
  tc__eio_add_poll_headers(x, req);
  tc_buf_t *rx = &srv->rx;
  tc_buf_reset(rx);
  if (tc_buf_append(rx, body.p, body.len)) return TC_ENOMEM;

  tc__eio_enter(s);
  s->batching = 1;
  int r = tc_eio_decode_payload(tc_buf_data(rx), rx->len, on_post_packet, s);
  s->batching = 0;
  trim(rx);
  int failed = 0;
  if (r == TC_EPROTO && s->state == EIO_OPEN) {
    tc__eio_closed(s, "parse error");
    failed = 1;
  } else if (r < 0 && r != TC_EPROTO && s->state != EIO_CLOSED) {
    tc__eio_closed(s, "transport error");
    failed = 1;
  }
  /* What the packets made the application send goes out in one answer. */
  if (s->state != EIO_CLOSED && s->poll && tc__eio_wq_len(s)) tc__eio_poll_flush(s, NULL);
  tc__eio_leave(s);
  if (failed) {
    /* Node destroys the POST's connection here; an empty 400 says the same more politely. */
    return tc_http_respond(x, 400, NULL, NULL, 0);
  }
  return tc_http_respond(x, 200, "text/html", "ok", 2);
}

int tc__eio_polling_request(tc_eio_socket_t *s, tc_http_exchange_t *x) {
  const tc_http_request_t *req = tc_http_request(x);
  if (tc_slice_eq(req->method, "GET")) return on_get(s, x);
  if (tc_slice_eq(req->method, "POST")) return on_post(s, x);
  return tc_http_respond(x, 500, NULL, NULL, 0);
}

/* ---- the handshake --------------------------------------------------------------------------- */

int tc__eio_polling_handshake(tc_eio_server_t *srv, tc_http_exchange_t *x) {
  /* The request outlives the answer in this copy, for on_open. */
  tc_http_request_t req = *tc_http_request(x);
  tc_eio_socket_t *s = tc__eio_session_new(srv, 0);
  if (!s) return TC_ENOMEM;
  tc_buf_t *b = &srv->body;
  tc_buf_reset(b);
  int r = tc_buf_append(b, "0", 1);
  if (!r) r = tc__eio_open_json(s, b);
  if (!r) r = tc__eio_session_add(s);
  if (r) {
    tc__eio_session_free(s);
    return r;
  }
  tc__eio_add_poll_headers(x, &req);
  tc_http_respond(x, 200, payload_type, tc_buf_data(b), b->len);
  /* As in Node, the open packet goes out alone; what on_open sends waits for the next GET. */
  tc__eio_opened(s, &req);
  return 0;
}
