/* Frame headers and masking on arbitrary bytes: the input is read as a stream of frames, each
 * header checked against its bytes, rewritten and reparsed, and each payload masked in ways that
 * must all agree. */
#include "tincan/ws.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

/* The header length the first bytes announce, or 0 when even that is not known yet. */
static size_t announced(const uint8_t *p, size_t len) {
  if (len < 2) return 0;
  size_t n = 2 + ((p[1] & 0x80) ? 4 : 0);
  if ((p[1] & 0x7f) == 126) n += 2;
  if ((p[1] & 0x7f) == 127) n += 8;
  return n;
}

static void check_header(const uint8_t *p, size_t len, const tc_ws_frame_t *f, size_t n) {
  ASSERT(n >= 2 && n <= 14 && n <= len && f->header_len == n && n == announced(p, len));
  ASSERT(f->fin == (p[0] >> 7) && f->rsv1 == ((p[0] >> 6) & 1));
  ASSERT(f->rsv2 == ((p[0] >> 5) & 1) && f->rsv3 == ((p[0] >> 4) & 1));
  ASSERT(f->opcode == (p[0] & 15) && f->masked == (p[1] >> 7));
  ASSERT(f->payload_len >> 63 == 0);
  if (f->masked) ASSERT(memcmp(f->mask, p + n - 4, 4) == 0);
  uint64_t l7 = p[1] & 0x7f;
  if (l7 < 126) ASSERT(f->payload_len == l7);

  /* Rewritten with the shortest encoding, it parses to the same frame. */
  uint8_t out[14];
  size_t w = tc_ws_frame_write(out, f->fin, f->rsv1, f->opcode, f->payload_len,
                               f->masked ? f->mask : NULL);
  tc_ws_frame_t g;
  ASSERT(tc_ws_frame_parse(out, w, &g) == (ssize_t)w);
  ASSERT(g.fin == f->fin && g.rsv1 == f->rsv1 && !g.rsv2 && !g.rsv3 && g.opcode == f->opcode);
  ASSERT(g.masked == f->masked && g.payload_len == f->payload_len);
  ASSERT(!g.masked || memcmp(g.mask, f->mask, 4) == 0);
  ASSERT(w <= n);
  /* A minimal header without RSV2/RSV3 comes back byte for byte. */
  int minimal =
      (l7 < 126) || (l7 == 126 && f->payload_len >= 126) || (l7 == 127 && f->payload_len > 0xffff);
  if (minimal && !f->rsv2 && !f->rsv3) ASSERT(w == n && memcmp(out, p, n) == 0);
  for (size_t k = 0; k < w; k++) ASSERT(tc_ws_frame_parse(out, k, &g) == TC_EAGAIN);
}

/* Unmasks a payload three ways (in place, copied, in two pieces) and masks it back. */
static void check_mask(const uint8_t *payload, size_t len, const uint8_t mask[4], size_t cut) {
  uint8_t *a = malloc(len ? len : 1), *b = malloc(len ? len : 1), *c = malloc(len ? len : 1);
  if (len) memcpy(a, payload, len);
  tc_ws_mask(a, len, mask, 0);
  for (size_t i = 0; i < len; i++) ASSERT(a[i] == (payload[i] ^ mask[i & 3]));
  tc_ws_mask_copy(b, payload, len, mask, 0);
  ASSERT(len == 0 || memcmp(a, b, len) == 0);
  if (cut > len) cut = len;
  if (len) memcpy(c, payload, len);
  tc_ws_mask(c, cut, mask, 0);
  tc_ws_mask(c + cut, len - cut, mask, cut % 4);
  ASSERT(len == 0 || memcmp(a, c, len) == 0);
  tc_ws_mask_copy(c, payload, cut, mask, 0);
  tc_ws_mask_copy(c + cut, payload + cut, len - cut, mask, cut);
  ASSERT(len == 0 || memcmp(a, c, len) == 0);
  tc_ws_mask(a, len, mask, 0);
  ASSERT(len == 0 || memcmp(a, payload, len) == 0);
  free(a);
  free(b);
  free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (off < size) {
    const uint8_t *p = data + off;
    size_t len = size - off;
    tc_ws_frame_t f;
    ssize_t r = tc_ws_frame_parse(p, len, &f);
    if (r == TC_EAGAIN) {
      size_t need = announced(p, len);
      ASSERT(need == 0 || len < need);
      break;
    }
    if (r == TC_EPROTO) {
      ASSERT((p[1] & 0x7f) == 127 && (p[2] & 0x80));
      break;
    }
    ASSERT(r > 0);
    size_t n = (size_t)r;
    check_header(p, len, &f, n);
    size_t plen = f.payload_len < len - n ? (size_t)f.payload_len : len - n;
    const uint8_t other[4] = {p[0], p[1], 0x5a, 0xa5};
    check_mask(p + n, plen, f.masked ? f.mask : other, p[0] % (plen + 1));
    off += n + plen;
  }

  /* The first bytes as writer arguments: every length the format allows. */
  if (size >= 13) {
    uint64_t plen = 0;
    for (int i = 0; i < 8; i++) plen = plen << 8 | data[1 + i];
    plen >>= data[0] & 63;
    plen &= ~(1ull << 63);
    uint8_t out[14];
    int masked = data[0] >> 7;
    size_t w = tc_ws_frame_write(out, data[0] & 1, (data[0] >> 1) & 1, data[0] >> 2, plen,
                                 masked ? data + 9 : NULL);
    tc_ws_frame_t g;
    ASSERT(tc_ws_frame_parse(out, w, &g) == (ssize_t)w && g.payload_len == plen);
    ASSERT(g.masked == masked && g.opcode == ((data[0] >> 2) & 15));
    ASSERT(w == (plen < 126 ? 2u : plen <= 0xffff ? 4u : 10u) + (masked ? 4u : 0u));
  }
  if (size > 0) (void)tc_ws_close_code_check((int)data[0] << 8 | (size > 1 ? data[1] : 0));
  return 0;
}
