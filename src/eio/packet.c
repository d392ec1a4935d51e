/* Engine.IO v4 packets: one per WebSocket message, or joined by 0x1e in an HTTP long-polling
 * payload, binary ones there as "b" + base64. Decoding follows Node's engine.io-parser, including
 * its forgiving base64 (both alphabets, stray characters skipped, '=' ends the data), because
 * clients are written against it. */
#include "eio_int.h"

#include <string.h>

#define EIO_SEPARATOR 0x1e

/* The 6-bit value of a character of either base64 alphabet (standard or URL-safe), 64 for '=',
 * and 255 for anything else. */
static uint8_t b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return (uint8_t)(c - 'A');
  if (c >= 'a' && c <= 'z') return (uint8_t)(c - 'a' + 26);
  if (c >= '0' && c <= '9') return (uint8_t)(c - '0' + 52);
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  if (c == '=') return 64;
  return 255;
}

size_t tc__eio_base64_decode_lenient(uint8_t *p, size_t len) {
  size_t o = 0;
  uint32_t acc = 0;
  unsigned n = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t v = b64_value(p[i]);
    if (v == 64) break;
    if (v == 255) continue;
    acc = acc << 6 | v;
    if (++n == 4) {
      /* The output never overtakes the input: 3 bytes out for at least 4 read. */
      p[o++] = (uint8_t)(acc >> 16);
      p[o++] = (uint8_t)(acc >> 8);
      p[o++] = (uint8_t)acc;
      acc = 0;
      n = 0;
    }
  }
  if (n == 2) {
    p[o++] = (uint8_t)(acc >> 4);
  } else if (n == 3) {
    p[o++] = (uint8_t)(acc >> 10);
    p[o++] = (uint8_t)(acc >> 2);
  }
  return o;
}

/* One text-encoded packet (a WebSocket text message, or one element of a polling payload). */
static int decode_text(uint8_t *p, size_t len, tc_eio_packet_t *out) {
  if (len == 0) return TC_EPROTO;
  if (p[0] == 'b') {
    size_t n = tc__eio_base64_decode_lenient(p + 1, len - 1);
    *out = (tc_eio_packet_t){.type = TC_EIO_MESSAGE, .binary = 1, .data = {p + 1, n}};
    return 0;
  }
  if (p[0] < '0' || p[0] > '6') return TC_EPROTO;
  *out = (tc_eio_packet_t){.type = p[0] - '0', .binary = 0, .data = {p + 1, len - 1}};
  return 0;
}

int tc_eio_decode_ws(uint8_t *p, size_t len, int binary, tc_eio_packet_t *out) {
  if (binary) {
    *out = (tc_eio_packet_t){.type = TC_EIO_MESSAGE, .binary = 1, .data = {p, len}};
    return 0;
  }
  return decode_text(p, len, out);
}

int tc_eio_decode_payload(uint8_t *p, size_t len, int (*fn)(const tc_eio_packet_t *pkt, void *ud),
                          void *ud) {
  size_t at = 0;
  for (;;) {
    uint8_t *start = p ? p + at : p;
    uint8_t *sep = len > at ? memchr(start, EIO_SEPARATOR, len - at) : NULL;
    size_t n = sep ? (size_t)(sep - start) : len - at;
    tc_eio_packet_t pkt;
    if (decode_text(start, n, &pkt) < 0) return TC_EPROTO;
    int r = fn(&pkt, ud);
    if (r) return r;
    if (!sep) return 0;
    at += n + 1;
  }
}

int tc_eio_encode_polling(tc_buf_t *out, int first, int type, int binary, const void *p,
                          size_t len) {
  if (type < TC_EIO_OPEN || type > TC_EIO_NOOP) return TC_EINVAL;
  size_t need = (first ? 0 : 1) + 1 + (binary ? (len + 2) / 3 * 4 + 1 : len);
  int r = tc_buf_reserve(out, need);
  if (r) return r;
  uint8_t *w = tc_buf_tail(out);
  if (!first) *w++ = EIO_SEPARATOR;
  if (binary) {
    *w++ = 'b';
    /* The encoder writes a NUL after the text: that is what the +1 above is for. */
    w += tc_base64_encode(p, len, (char *)w);
  } else {
    *w++ = (uint8_t)('0' + type);
    if (len) memcpy(w, p, len);
    w += len;
  }
  tc_buf_commit(out, (size_t)(w - tc_buf_tail(out)));
  return 0;
}

/* ---- UTF-8 repair ---------------------------------------------------------------------------- */

/* Node reads a polling body as UTF-8 text, which turns every ill-formed sequence into U+FFFD
 * (the WHATWG decoder: one replacement per maximal ill-formed subpart). Text messages must reach
 * the application the same way, whichever transport carried them. */
static const uint8_t replacement[3] = {0xef, 0xbf, 0xbd};

/* The length of the well-formed sequence at p[0..len), or 0 when p[0] starts an ill-formed
 * subpart; *skip is then how many bytes that subpart covers. */
static size_t utf8_seq(const uint8_t *p, size_t len, size_t *skip) {
  uint8_t b = p[0];
  size_t need;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
  } else {
    *skip = 1;
    return 0;
  }
  size_t i = 1;
  for (; i <= need; i++) {
    if (i >= len || p[i] < lo || p[i] > hi) {
      *skip = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

int tc__eio_utf8_repair(const uint8_t *p, size_t len, tc_buf_t *out) {
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    size_t skip = 0;
    size_t n;
    while (i < len && (n = utf8_seq(p + i, len - i, &skip)) > 0) i += n;
    int r = tc_buf_append(out, p + start, i - start);
    if (!r && i < len) r = tc_buf_append(out, replacement, sizeof replacement);
    if (r) return r;
    i += skip;
  }
  return 0;
}
