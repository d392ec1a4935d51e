/* The RFC 6455 frame header codec and payload masking. */
#include "tincan/ws.h"

#include <string.h>

ssize_t tc_ws_frame_parse(const uint8_t *p, size_t len, tc_ws_frame_t *f) {
  if (len < 2) return TC_EAGAIN;
  f->fin = (p[0] & 0x80) != 0;
  f->rsv1 = (p[0] & 0x40) != 0;
  f->rsv2 = (p[0] & 0x20) != 0;
  f->rsv3 = (p[0] & 0x10) != 0;
  f->opcode = p[0] & 0x0f;
  f->masked = (p[1] & 0x80) != 0;
  uint64_t plen = p[1] & 0x7f;
  size_t need = 2;
  if (plen == 126) {
    need += 2;
  } else if (plen == 127) {
    need += 8;
  }
  if (f->masked) need += 4;
  if (len < need) return TC_EAGAIN;
  size_t at = 2;
  if (plen == 126) {
    plen = (uint64_t)p[2] << 8 | p[3];
    at = 4;
  } else if (plen == 127) {
    plen = 0;
    for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
    if (plen >> 63) return TC_EPROTO;
    at = 10;
  }
  if (f->masked)
    memcpy(f->mask, p + at, 4);
  else
    memset(f->mask, 0, 4);
  f->payload_len = plen;
  f->header_len = need;
  return (ssize_t)need;
}

size_t tc_ws_frame_write(uint8_t *out, int fin, int rsv1, int opcode, uint64_t payload_len,
                         const uint8_t *mask) {
  size_t n = 2;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
  uint8_t m = mask ? 0x80 : 0;
  if (payload_len < 126) {
    out[1] = (uint8_t)(m | payload_len);
  } else if (payload_len <= 0xffff) {
    out[1] = m | 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    n = 4;
  } else {
    out[1] = m | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* The mask as one 64-bit word, rotated so that it lines up with `phase`. */
static uint64_t mask_word(const uint8_t mask[4], size_t phase) {
  uint8_t m8[8];
  for (int i = 0; i < 8; i++) m8[i] = mask[(phase + (size_t)i) & 3];
  uint64_t w;
  memcpy(&w, m8, 8);
  return w;
}

void tc_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t phase) {
  phase &= 3;
  size_t i = 0;
  /* Byte by byte until p is 8-aligned, then whole words: the payload may start anywhere. */
  while (i < len && ((uintptr_t)(p + i) & 7)) {
    p[i] ^= mask[(phase + i) & 3];
    i++;
  }
  uint64_t w = mask_word(mask, phase + i);
  for (; i + 32 <= len; i += 32) {
    uint64_t a, b, c, d;
    memcpy(&a, p + i, 8);
    memcpy(&b, p + i + 8, 8);
    memcpy(&c, p + i + 16, 8);
    memcpy(&d, p + i + 24, 8);
    a ^= w;
    b ^= w;
    c ^= w;
    d ^= w;
    memcpy(p + i, &a, 8);
    memcpy(p + i + 8, &b, 8);
    memcpy(p + i + 16, &c, 8);
    memcpy(p + i + 24, &d, 8);
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t a;
    memcpy(&a, p + i, 8);
    a ^= w;
    memcpy(p + i, &a, 8);
  }
  for (; i < len; i++) p[i] ^= mask[(phase + i) & 3];
}

void tc_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                     size_t phase) {
  phase &= 3;
  uint64_t w = mask_word(mask, phase);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t a;
    memcpy(&a, src + i, 8);
    a ^= w;
    memcpy(dst + i, &a, 8);
  }
  for (; i < len; i++) dst[i] = src[i] ^ mask[(phase + i) & 3];
}

int tc_ws_close_code_check(int code) {
  if (code >= 1000 && code <= 1003) return 0;
  if (code >= 1007 && code <= 1014) return 0;
  if (code >= 3000 && code <= 4999) return 0;
  return TC_EPROTO;
}
