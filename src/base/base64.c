/* Base64 (RFC 4648 section 4) with padding. The decoder is strict because its callers compare
 * or hand on what it accepts: one encoding per value keeps that unambiguous. */
#include "tincan/base.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tc_base64_encode(const uint8_t *p, size_t len, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

/* The 6-bit value of an alphabet character, or -1. Arithmetic rather than a table keeps the
 * alphabet written down in one place. */
static int b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

ssize_t tc_base64_decode(tc_slice_t in, uint8_t *out, size_t cap) {
  if (in.len % 4) return TC_EINVAL;
  if (in.len == 0) return 0;
  size_t pad = 0;
  if (in.p[in.len - 1] == '=') pad = in.p[in.len - 2] == '=' ? 2 : 1;
  size_t n = in.len / 4 * 3 - pad;
  if (n > cap) return TC_E2BIG;
  size_t o = 0;
  for (size_t i = 0; i < in.len; i += 4) {
    int last = i + 4 == in.len;
    /* Only the final quantum may carry padding; '=' anywhere else is a bad character. */
    size_t chars = last ? 4 - pad : 4;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
      int d = k < chars ? b64_value(in.p[i + k]) : 0;
      if (d < 0) return TC_EINVAL;
      v = v << 6 | (uint32_t)d;
    }
    /* Canonical form: the bits below the last whole byte must be zero. */
    if (last && pad == 1 && (v & 0xff)) return TC_EINVAL;
    if (last && pad == 2 && (v & 0xffff)) return TC_EINVAL;
    out[o++] = (uint8_t)(v >> 16);
    if (chars > 2) out[o++] = (uint8_t)(v >> 8);
    if (chars > 3) out[o++] = (uint8_t)v;
  }
  return (ssize_t)o;
}
