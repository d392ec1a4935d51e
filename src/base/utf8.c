/* Incremental UTF-8 validation after RFC 3629 section 4, with an ASCII fast path. */
#include "tincan/base.h"

#include <string.h>

/* state: 0 on a character boundary; else the continuation bytes still due (bits 0-1) and the
 * range the next one must fall in (lo in bits 8-15, hi in bits 16-23). */
#define UTF8_FAILED 0xffffffffu
#define UTF8_STATE(n, lo, hi) ((uint32_t)(n) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

static uint32_t utf8_start(uint8_t b) {
  if (b < 0x80) return 0;
  if (b < 0xc2) return UTF8_FAILED; /* a stray continuation, or an overlong 2-byte lead */
  if (b < 0xe0) return UTF8_STATE(1, 0x80, 0xbf);
  if (b == 0xe0) return UTF8_STATE(2, 0xa0, 0xbf); /* no overlongs */
  if (b == 0xed) return UTF8_STATE(2, 0x80, 0x9f); /* no surrogates */
  if (b < 0xf0) return UTF8_STATE(2, 0x80, 0xbf);
  if (b == 0xf0) return UTF8_STATE(3, 0x90, 0xbf); /* no overlongs */
  if (b < 0xf4) return UTF8_STATE(3, 0x80, 0xbf);
  if (b == 0xf4) return UTF8_STATE(3, 0x80, 0x8f); /* nothing above U+10FFFF */
  return UTF8_FAILED;
}

int tc_utf8_feed(tc_utf8_t *v, const uint8_t *p, size_t len) {
  uint32_t st = v->state;
  if (st == UTF8_FAILED) return TC_EPROTO;
  size_t i = 0;
  while (i < len) {
    if (st == 0) {
      /* Text is mostly ASCII: skip it eight bytes at a time. */
      while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      while (i < len && p[i] < 0x80) i++;
      if (i == len) break;
      st = utf8_start(p[i++]);
      if (st == UTF8_FAILED) break;
      continue;
    }
    uint8_t b = p[i++];
    uint8_t lo = (uint8_t)(st >> 8), hi = (uint8_t)(st >> 16);
    if (b < lo || b > hi) {
      st = UTF8_FAILED;
      break;
    }
    uint32_t left = (st & 3) - 1;
    st = left ? UTF8_STATE(left, 0x80, 0xbf) : 0;
  }
  v->state = st;
  return st == UTF8_FAILED ? TC_EPROTO : 0;
}

int tc_utf8_complete(const tc_utf8_t *v) {
  return v->state == 0;
}

int tc_utf8_check(const uint8_t *p, size_t len) {
  tc_utf8_t v = {0};
  if (tc_utf8_feed(&v, p, len) < 0) return TC_EPROTO;
  return tc_utf8_complete(&v) ? 0 : TC_EPROTO;
}
