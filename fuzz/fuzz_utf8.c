/* The incremental UTF-8 validator against a plain reference on arbitrary bytes. The first input
 * byte picks where the rest is split; the validator must fail at exactly the first byte that no
 * valid text could continue with, however the bytes are split. */
#include "tincan/base.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

/* RFC 3629 as code point ranges: the length of the longest prefix that some valid text starts
 * with, and whether that prefix ends on a character boundary. */
static size_t ref_prefix(const uint8_t *p, size_t len, int *complete) {
  unsigned need = 0, have = 0;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = p[i];
    *complete = have == need;
    if (have == need) {
      if (b < 0x80) continue;
      if (b < 0xc0) return i;
      need = b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf8 ? 4 : 0;
      if (!need) return i;
      v = b & (0x7fu >> need);
      have = 1;
    } else {
      if ((b & 0xc0) != 0x80) return i;
      v = v << 6 | (b & 0x3fu);
      have++;
    }
    unsigned rest = 6 * (need - have);
    uint32_t lo = v << rest, hi = lo | ((1u << rest) - 1);
    uint32_t min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
    uint32_t max = need == 2 ? 0x7ff : need == 3 ? 0xffff : 0x10ffff;
    if (hi < min || lo > max || (lo >= 0xd800 && hi <= 0xdfff)) return i;
    if (have == need) need = have = 0;
  }
  *complete = need == 0;
  return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const uint8_t *p = data + 1;
  size_t len = size - 1;
  size_t cut = len ? data[0] % (len + 1) : 0;
  int complete = 1;
  size_t ref = ref_prefix(p, len, &complete);

  /* Exact-size pieces, so that the word-at-a-time path cannot read past either. */
  uint8_t *a = malloc(cut ? cut : 1), *b = malloc(len - cut ? len - cut : 1);
  if (cut) memcpy(a, p, cut);
  if (len - cut) memcpy(b, p + cut, len - cut);
  tc_utf8_t v = {0};
  int r1 = tc_utf8_feed(&v, a, cut);
  int r2 = tc_utf8_feed(&v, b, len - cut);
  ASSERT(r1 == 0 || r1 == TC_EPROTO);
  ASSERT((r1 == 0) == (ref >= cut));
  ASSERT((r2 == 0) == (ref == len));
  if (ref == len)
    ASSERT(tc_utf8_complete(&v) == complete);
  else
    ASSERT(!tc_utf8_complete(&v));
  ASSERT((tc_utf8_check(p, len) == 0) == (ref == len && complete));
  free(a);
  free(b);

  /* The valid prefix passes and ends where the reference says; the next byte fails. */
  uint8_t *c = malloc(len ? len : 1);
  if (len) memcpy(c, p, len);
  tc_utf8_t w = {0};
  ASSERT(tc_utf8_feed(&w, c, ref) == 0);
  if (ref < len) {
    int pc;
    ref_prefix(c, ref, &pc);
    ASSERT(tc_utf8_complete(&w) == pc);
    ASSERT(tc_utf8_feed(&w, c + ref, 1) == TC_EPROTO);
    ASSERT(tc_utf8_feed(&w, c, 0) == TC_EPROTO);
  }
  /* Byte by byte agrees for short inputs. */
  if (len <= 64) {
    tc_utf8_t x = {0};
    size_t i = 0;
    while (i < len && tc_utf8_feed(&x, c + i, 1) == 0) i++;
    ASSERT(i == ref);
  }
  free(c);
  return 0;
}
