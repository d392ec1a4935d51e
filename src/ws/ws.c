/* The sans-I/O WebSocket endpoint: frames in, messages and replies out (RFC 6455 sections 5-7). */
#include "tincan/ws.h"

#include <stdlib.h>
#include <string.h>

#define TC_WS_DEFAULT_MAX_MESSAGE ((uint64_t)16 << 20)
#define TC_WS_DEFAULT_THRESHOLD 64

/* A message assembled from fragments, or inflated: only while there is one. */
typedef struct ws_msg {
  tc_buf_t buf;
  size_t checked; /* bytes of buf already UTF-8 checked (inflated text) */
} ws_msg_t;

struct tc_ws {
  const tc_ws_config_t *cfg;
  void *ud;
  tc_ws_deflate_t *deflate;
  char *reason; /* allocated when a close arrives: idle connections carry no room for it */

  /* The frame at the front of the caller's bytes: its header is judged and `done` bytes of its
   * payload are already unmasked and checked in place. */
  tc_ws_frame_t f;
  uint64_t done;

  uint64_t msg_raw; /* wire bytes of the message in progress so far */
  ws_msg_t *msg;
  tc_utf8_t utf8;
  uint16_t close_code;
  uint8_t state; /* tc_ws_state_t */
  uint8_t reason_len;
  uint8_t msg_opcode; /* 0 when no message is in progress */
  unsigned msg_compressed : 1;
  unsigned in_frame : 1;
};

static uint64_t max_message(const tc_ws_t *ws) {
  return ws->cfg->max_message ? ws->cfg->max_message : TC_WS_DEFAULT_MAX_MESSAGE;
}

static ws_msg_t *msg_get(tc_ws_t *ws) {
  if (!ws->msg) ws->msg = calloc(1, sizeof *ws->msg);
  return ws->msg;
}

static void msg_free(tc_ws_t *ws) {
  if (!ws->msg) return;
  tc_buf_free(&ws->msg->buf);
  free(ws->msg);
  ws->msg = NULL;
}

size_t tc__ws_size(void) {
  return sizeof(tc_ws_t);
}

int tc__ws_init(tc_ws_t *ws, const tc_ws_config_t *cfg, const tc_ws_deflate_params_t *deflate,
                void *ud) {
  if (cfg->client && !cfg->random) return TC_EINVAL;
  *ws = (tc_ws_t){.cfg = cfg};
  ws->ud = ud;
  ws->close_code = TC_WS_CLOSE_ABNORMAL;
  if (deflate)
    return tc_ws_deflate_new(deflate, !cfg->client, cfg->deflate_mem_level, &ws->deflate);
  return 0;
}

void tc__ws_fini(tc_ws_t *ws) {
  tc_ws_deflate_free(ws->deflate);
  msg_free(ws);
  free(ws->reason);
}

int tc_ws_new(const tc_ws_config_t *cfg, const tc_ws_deflate_params_t *deflate, void *ud,
              tc_ws_t **out) {
  tc_ws_t *ws = malloc(sizeof *ws);
  if (!ws) return TC_ENOMEM;
  int r = tc__ws_init(ws, cfg, deflate, ud);
  if (r) {
    free(ws);
    return r;
  }
  *out = ws;
  return 0;
}

void tc_ws_free(tc_ws_t *ws) {
  if (!ws) return;
  tc__ws_fini(ws);
  free(ws);
}

tc_ws_state_t tc_ws_state(const tc_ws_t *ws) {
  return ws->state;
}

int tc_ws_close_code(const tc_ws_t *ws) {
  return ws->close_code;
}

tc_slice_t tc_ws_close_reason(const tc_ws_t *ws) {
  return (tc_slice_t){(const uint8_t *)(ws->reason ? ws->reason : ""), ws->reason_len};
}

/* ---- sending ------------------------------------------------------------------------------------
 */

/* Appends one frame. Client frames are masked with a fresh key; the payload is copied once. */
static int put_frame(tc_ws_t *ws, int fin, int rsv1, int opcode, const void *p, size_t len,
                     tc_buf_t *out) {
  int r = tc_buf_reserve(out, len + 14);
  if (r) return r;
  uint8_t *dst = tc_buf_tail(out);
  size_t h;
  if (ws->cfg->client) {
    uint8_t mask[4];
    ws->cfg->random(ws->cfg->random_ud, mask, 4);
    h = tc_ws_frame_write(dst, fin, rsv1, opcode, len, mask);
    tc_ws_mask_copy(dst + h, p, len, mask, 0);
  } else {
    h = tc_ws_frame_write(dst, fin, rsv1, opcode, len, NULL);
    if (len) memcpy(dst + h, p, len);
  }
  tc_buf_commit(out, h + len);
  if (ws->cfg->cb.on_frame) ws->cfg->cb.on_frame(ws, 0, dst, h, dst + h, len, ws->ud);
  return 0;
}

/* Compresses straight into out behind room for the largest header, then closes the gap: no
 * scratch buffer per connection. */
static int put_compressed(tc_ws_t *ws, int opcode, const void *p, size_t len, tc_buf_t *out) {
  size_t start = out->len;
  int r = tc_buf_reserve(out, 14);
  if (r) return r;
  tc_buf_commit(out, 14);
  r = tc_ws_deflate_compress(ws->deflate, p, len, out);
  if (r) {
    out->len = start;
    return r;
  }
  size_t clen = out->len - start - 14;
  uint8_t hdr[14], mask[4];
  if (ws->cfg->client) ws->cfg->random(ws->cfg->random_ud, mask, 4);
  size_t h = tc_ws_frame_write(hdr, 1, 1, opcode, clen, ws->cfg->client ? mask : NULL);
  uint8_t *base = tc_buf_data(out) + start;
  memmove(base + h, base + 14, clen);
  memcpy(base, hdr, h);
  if (ws->cfg->client) tc_ws_mask(base + h, clen, mask, 0);
  out->len = start + h + clen;
  if (ws->cfg->cb.on_frame) ws->cfg->cb.on_frame(ws, 0, base, h, base + h, clen, ws->ud);
  return 0;
}

int tc_ws_send(tc_ws_t *ws, int opcode, const void *p, size_t len, tc_buf_t *out) {
  if (ws->state != TC_WS_OPEN) return TC_ECLOSED;
  if (opcode != TC_WS_OP_TEXT && opcode != TC_WS_OP_BINARY) return TC_EINVAL;
  size_t threshold =
      ws->cfg->deflate_threshold ? ws->cfg->deflate_threshold : TC_WS_DEFAULT_THRESHOLD;
  if (ws->deflate && len >= threshold) return put_compressed(ws, opcode, p, len, out);
  return put_frame(ws, 1, 0, opcode, p, len, out);
}

int tc_ws_send_fragment(tc_ws_t *ws, int opcode, const void *p, size_t len, int fin,
                        tc_buf_t *out) {
  if (ws->state != TC_WS_OPEN) return TC_ECLOSED;
  if (opcode != TC_WS_OP_TEXT && opcode != TC_WS_OP_BINARY && opcode != TC_WS_OP_CONT)
    return TC_EINVAL;
  return put_frame(ws, fin, 0, opcode, p, len, out);
}

static int put_control(tc_ws_t *ws, int opcode, const void *p, size_t len, tc_buf_t *out) {
  if (len > 125) return TC_EINVAL;
  return put_frame(ws, 1, 0, opcode, p, len, out);
}

int tc_ws_send_ping(tc_ws_t *ws, const void *p, size_t len, tc_buf_t *out) {
  if (ws->state != TC_WS_OPEN) return TC_ECLOSED;
  return put_control(ws, TC_WS_OP_PING, p, len, out);
}

int tc_ws_send_pong(tc_ws_t *ws, const void *p, size_t len, tc_buf_t *out) {
  if (ws->state != TC_WS_OPEN) return TC_ECLOSED;
  return put_control(ws, TC_WS_OP_PONG, p, len, out);
}

static int put_close(tc_ws_t *ws, int code, const char *reason, size_t rlen, tc_buf_t *out) {
  uint8_t payload[125];
  size_t n = 0;
  if (code) {
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (rlen > 123) rlen = 123;
    if (rlen) memcpy(payload + 2, reason, rlen);
    n = 2 + rlen;
  }
  return put_control(ws, TC_WS_OP_CLOSE, payload, n, out);
}

int tc_ws_send_close(tc_ws_t *ws, int code, const char *reason, tc_buf_t *out) {
  if (ws->state != TC_WS_OPEN) return TC_ECLOSED;
  if (code && tc_ws_close_code_check(code) < 0) return TC_EINVAL;
  size_t rlen = reason ? strlen(reason) : 0;
  if (rlen > 123 || (rlen && tc_utf8_check((const uint8_t *)reason, rlen) < 0)) return TC_EINVAL;
  int r = put_close(ws, code, reason, rlen, out);
  if (r) return r;
  ws->state = TC_WS_CLOSE_SENT;
  return 0;
}

/* ---- receiving ----------------------------------------------------------------------------------
 */

static void set_reason(tc_ws_t *ws, const char *s, size_t n) {
  if (n > 123) n = 123;
  if (!ws->reason && !(ws->reason = malloc(124))) return;
  memcpy(ws->reason, s, n);
  ws->reason[n] = '\0';
  ws->reason_len = (uint8_t)n;
}

/* _Fail the WebSocket Connection_ (section 7.1.7): say why in a close frame, if we still may. */
static ssize_t fail(tc_ws_t *ws, int code, const char *why, tc_buf_t *out) {
  if (ws->state == TC_WS_OPEN) put_close(ws, code, why, strlen(why), out);
  ws->state = TC_WS_FAILED;
  ws->close_code = (uint16_t)code;
  set_reason(ws, why, strlen(why));
  msg_free(ws);
  return TC_ECLOSED;
}

static void message_reset(tc_ws_t *ws) {
  ws->msg_opcode = 0;
  ws->msg_compressed = 0;
  ws->msg_raw = 0;
  ws->utf8.state = 0;
  /* An idle connection keeps no message buffer. */
  msg_free(ws);
}

/* Judges a new frame header against the role, the extensions and the message in progress. */
static ssize_t check_header(tc_ws_t *ws, const tc_ws_frame_t *f, tc_buf_t *out) {
  int control = f->opcode & 0x8;
  if (f->rsv2 || f->rsv3) return fail(ws, TC_WS_CLOSE_PROTOCOL, "reserved bits set", out);
  if (f->rsv1 && (!ws->deflate || control || f->opcode == TC_WS_OP_CONT))
    return fail(ws, TC_WS_CLOSE_PROTOCOL, "reserved bit 1 set", out);
  if (f->masked == (unsigned)ws->cfg->client)
    return fail(ws, TC_WS_CLOSE_PROTOCOL, ws->cfg->client ? "masked frame" : "unmasked frame", out);
  if (control) {
    if (f->opcode > TC_WS_OP_PONG) return fail(ws, TC_WS_CLOSE_PROTOCOL, "reserved opcode", out);
    if (!f->fin) return fail(ws, TC_WS_CLOSE_PROTOCOL, "fragmented control frame", out);
    if (f->payload_len > 125) return fail(ws, TC_WS_CLOSE_PROTOCOL, "control frame too long", out);
    return 0;
  }
  if (f->opcode > TC_WS_OP_BINARY) return fail(ws, TC_WS_CLOSE_PROTOCOL, "reserved opcode", out);
  if (f->opcode == TC_WS_OP_CONT && !ws->msg_opcode)
    return fail(ws, TC_WS_CLOSE_PROTOCOL, "continuation without a message", out);
  if (f->opcode != TC_WS_OP_CONT && ws->msg_opcode)
    return fail(ws, TC_WS_CLOSE_PROTOCOL, "new message inside a fragmented one", out);
  uint64_t limit = max_message(ws);
  /* Compressed bytes can exceed the plain size a little for data that does not compress. */
  if (f->rsv1 || ws->msg_compressed) limit += limit / 64 + 64;
  if (f->payload_len > limit || ws->msg_raw + f->payload_len > limit)
    return fail(ws, TC_WS_CLOSE_TOO_BIG, "message too big", out);
  if (f->opcode != TC_WS_OP_CONT) {
    ws->msg_opcode = f->opcode;
    ws->msg_compressed = f->rsv1;
    ws->utf8.state = 0;
  }
  ws->msg_raw += f->payload_len;
  return 0;
}

static ssize_t on_close_frame(tc_ws_t *ws, const uint8_t *p, size_t len, tc_buf_t *out) {
  int code = TC_WS_CLOSE_NO_STATUS;
  if (len == 1) return fail(ws, TC_WS_CLOSE_PROTOCOL, "close frame of one byte", out);
  if (len >= 2) {
    code = p[0] << 8 | p[1];
    if (tc_ws_close_code_check(code) < 0)
      return fail(ws, TC_WS_CLOSE_PROTOCOL, "invalid close code", out);
    if (tc_utf8_check(p + 2, len - 2) < 0)
      return fail(ws, TC_WS_CLOSE_INVALID_DATA, "close reason is not UTF-8", out);
  }
  ws->close_code = (uint16_t)code;
  set_reason(ws, (const char *)p + (len >= 2 ? 2 : 0), len >= 2 ? len - 2 : 0);
  if (ws->state == TC_WS_OPEN) {
    /* Answer with the same code, as endpoints usually do (section 5.5.1). */
    put_close(ws, code == TC_WS_CLOSE_NO_STATUS ? 0 : code, NULL, 0, out);
  }
  ws->state = TC_WS_CLOSE_RECEIVED;
  return TC_ECLOSED;
}

static ssize_t on_control(tc_ws_t *ws, uint8_t *p, size_t len, tc_buf_t *out) {
  switch (ws->f.opcode) {
    case TC_WS_OP_PING:
      /* A ping that arrives after our close frame needs no answer: we send nothing more. */
      if (ws->state == TC_WS_OPEN) put_control(ws, TC_WS_OP_PONG, p, len, out);
      if (ws->cfg->cb.on_ping) ws->cfg->cb.on_ping(ws, p, len, ws->ud);
      return 0;
    case TC_WS_OP_PONG:
      if (ws->cfg->cb.on_pong) ws->cfg->cb.on_pong(ws, p, len, ws->ud);
      return 0;
    default:
      return on_close_frame(ws, p, len, out);
  }
}

static void deliver(tc_ws_t *ws, int opcode, uint8_t *p, size_t len) {
  if (ws->state != TC_WS_OPEN && ws->state != TC_WS_CLOSE_SENT) return;
  if (ws->cfg->cb.on_message) ws->cfg->cb.on_message(ws, opcode, p, len, ws->ud);
}

/* A complete data frame whose payload is unmasked (and, uncompressed text, checked). */
static ssize_t on_data_frame(tc_ws_t *ws, uint8_t *p, size_t len, tc_buf_t *out) {
  int fin = ws->f.fin;
  ws_msg_t *m = ws->msg;
  if (ws->msg_compressed) {
    if (!(m = msg_get(ws))) return TC_ENOMEM;
    int r = tc_ws_deflate_decompress(ws->deflate, p, len, fin, &m->buf, max_message(ws));
    if (r == TC_E2BIG) return fail(ws, TC_WS_CLOSE_TOO_BIG, "message too big", out);
    if (r == TC_ENOMEM) return TC_ENOMEM;
    if (r < 0) return fail(ws, TC_WS_CLOSE_INVALID_DATA, "invalid compressed data", out);
    if (ws->msg_opcode == TC_WS_OP_TEXT && m->buf.len > m->checked) {
      if (tc_utf8_feed(&ws->utf8, tc_buf_data(&m->buf) + m->checked, m->buf.len - m->checked) < 0)
        return fail(ws, TC_WS_CLOSE_INVALID_DATA, "invalid UTF-8", out);
      m->checked = m->buf.len;
    }
  } else if (fin && (!m || m->buf.len == 0) && ws->msg_raw == len) {
    /* A whole message in one frame: hand it over where it lies, without a copy. */
  } else {
    if (!m && !(m = msg_get(ws))) return TC_ENOMEM;
    int r = tc_buf_append(&m->buf, p, len);
    if (r) return r;
  }
  if (!fin) return 0;
  if (ws->msg_opcode == TC_WS_OP_TEXT && !tc_utf8_complete(&ws->utf8))
    return fail(ws, TC_WS_CLOSE_INVALID_DATA, "invalid UTF-8", out);
  int opcode = ws->msg_opcode;
  if (m && (ws->msg_compressed || m->buf.len))
    deliver(ws, opcode, tc_buf_data(&m->buf), m->buf.len);
  else
    deliver(ws, opcode, p, len);
  message_reset(ws);
  return 0;
}

ssize_t tc_ws_feed(tc_ws_t *ws, uint8_t *p, size_t len, tc_buf_t *out) {
  size_t used = 0;
  while (ws->state == TC_WS_OPEN || ws->state == TC_WS_CLOSE_SENT) {
    uint8_t *at = p + used;
    size_t left = len - used;
    if (!ws->in_frame) {
      ssize_t h = tc_ws_frame_parse(at, left, &ws->f);
      if (h == TC_EAGAIN) break;
      if (h < 0) return fail(ws, TC_WS_CLOSE_PROTOCOL, "invalid frame length", out);
      ssize_t r = check_header(ws, &ws->f, out);
      if (r < 0) return r;
      ws->in_frame = 1;
      ws->done = 0;
    }
    tc_ws_frame_t *f = &ws->f;
    uint8_t *payload = at + f->header_len;
    uint64_t have = left - f->header_len;
    if (have > f->payload_len) have = f->payload_len;
    if (have > ws->done) {
      size_t n = (size_t)(have - ws->done);
      if (f->masked) tc_ws_mask(payload + ws->done, n, f->mask, (size_t)(ws->done & 3));
      /* Plain text is checked as it arrives, so a bad byte fails the connection at once. */
      if (!(f->opcode & 0x8) && ws->msg_opcode == TC_WS_OP_TEXT && !ws->msg_compressed &&
          tc_utf8_feed(&ws->utf8, payload + ws->done, n) < 0)
        return fail(ws, TC_WS_CLOSE_INVALID_DATA, "invalid UTF-8", out);
      ws->done = have;
    }
    if (ws->done < f->payload_len) break;
    size_t plen = (size_t)f->payload_len;
    ws->in_frame = 0;
    used += f->header_len + plen;
    if (ws->cfg->cb.on_frame) ws->cfg->cb.on_frame(ws, 1, at, f->header_len, payload, plen, ws->ud);
    ssize_t r = (f->opcode & 0x8) ? on_control(ws, payload, plen, out)
                                  : on_data_frame(ws, payload, plen, out);
    if (r < 0) return r;
  }
  if (ws->state == TC_WS_CLOSE_RECEIVED || ws->state == TC_WS_FAILED) return TC_ECLOSED;
  return (ssize_t)used;
}
