#include "tc_test.h"
#include "tincan/ws.h"

#include <stdint.h>
#include <stdlib.h>

/* Parses a heap copy of exactly len bytes, so that reading past the input is caught. */
static ssize_t parse_exact(const uint8_t *p, size_t len, tc_ws_frame_t *f) {
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, p, len);
  ssize_t r = tc_ws_frame_parse(copy, len, f);
  free(copy);
  return r;
}

/* Builds a header by hand, independently of tc_ws_frame_write. enc: 0 = 7-bit, 16, 64. */
static size_t build(uint8_t *out, uint8_t b0, int enc, uint64_t len, const uint8_t *mask) {
  size_t n = 2;
  out[0] = b0;
  uint8_t m = mask ? 0x80 : 0;
  if (enc == 0) {
    out[1] = (uint8_t)(m | len);
  } else if (enc == 16) {
    out[1] = (uint8_t)(m | 126);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    n = 4;
  } else {
    out[1] = (uint8_t)(m | 127);
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (8 * (7 - i)));
    n = 10;
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* Checks a header: the full header parses (alone and with payload after it), every shorter prefix
 * wants more. */
static void check_header(const uint8_t *h, size_t hlen, uint8_t b0, uint64_t len,
                         const uint8_t *mask) {
  tc_ws_frame_t f;
  for (size_t k = 0; k < hlen; k++) TC_CHECK_EQ_INT(parse_exact(h, k, &f), TC_EAGAIN);
  uint8_t buf[32];
  memcpy(buf, h, hlen);
  memset(buf + hlen, 0xee, sizeof buf - hlen);
  for (size_t extra = 0; extra <= 5; extra++) {
    memset(&f, 0x5a, sizeof f);
    TC_CHECK_EQ_INT(parse_exact(buf, hlen + extra, &f), hlen);
    TC_CHECK_EQ_INT(f.header_len, hlen);
    TC_CHECK_EQ_INT(f.fin, (b0 >> 7) & 1);
    TC_CHECK_EQ_INT(f.rsv1, (b0 >> 6) & 1);
    TC_CHECK_EQ_INT(f.rsv2, (b0 >> 5) & 1);
    TC_CHECK_EQ_INT(f.rsv3, (b0 >> 4) & 1);
    TC_CHECK_EQ_INT(f.opcode, b0 & 15);
    TC_CHECK_EQ_INT(f.masked, mask != NULL);
    TC_CHECK(f.payload_len == len);
    if (mask) TC_CHECK(memcmp(f.mask, mask, 4) == 0);
  }
}

static void test_parse_lengths(void) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  static const struct {
    uint64_t len;
    int enc;
    size_t hlen;
  } cases[] = {
      {0, 0, 2},
      {1, 0, 2},
      {125, 0, 2},
      {126, 16, 4},
      {127, 16, 4},
      {65535, 16, 4},
      {65536, 64, 10},
      {1ull << 32, 64, 10},
      {(1ull << 32) - 1, 64, 10},
      {(1ull << 63) - 1, 64, 10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int masked = 0; masked <= 1; masked++) {
      uint8_t h[14];
      size_t n = build(h, 0x82, cases[i].enc, cases[i].len, masked ? mask : NULL);
      TC_CHECK_EQ_INT(n, cases[i].hlen + (masked ? 4 : 0));
      check_header(h, n, 0x82, cases[i].len, masked ? mask : NULL);
    }
  }
  /* Longer encodings than needed are reported as sent: judging them is the endpoint's call. */
  uint8_t h[14];
  size_t n = build(h, 0x81, 16, 5, NULL);
  check_header(h, n, 0x81, 5, NULL);
  n = build(h, 0x81, 64, 200, mask);
  check_header(h, n, 0x81, 200, mask);
}

static void test_parse_bits(void) {
  static const uint8_t mask[4] = {1, 2, 3, 4};
  for (int b0 = 0; b0 < 256; b0++) {
    uint8_t h[14];
    size_t n = build(h, (uint8_t)b0, 0, 7, (b0 & 1) ? mask : NULL);
    check_header(h, n, (uint8_t)b0, 7, (b0 & 1) ? mask : NULL);
  }
}

static void test_parse_top_bit(void) {
  static const uint64_t bad[] = {1ull << 63, (1ull << 63) + 1, UINT64_MAX};
  static const uint8_t mask[4] = {9, 9, 9, 9};
  tc_ws_frame_t f;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (int masked = 0; masked <= 1; masked++) {
      uint8_t h[14];
      size_t n = build(h, 0x82, 64, bad[i], masked ? mask : NULL);
      TC_CHECK_EQ_INT(parse_exact(h, n, &f), TC_EPROTO);
      for (size_t k = 0; k < n; k++) TC_CHECK_EQ_INT(parse_exact(h, k, &f), TC_EAGAIN);
    }
  }
}

/* RFC 6455 section 5.7. */
static void test_rfc_examples(void) {
  tc_ws_frame_t f;
  static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  TC_CHECK_EQ_INT(parse_exact(hello, sizeof hello, &f), 2);
  TC_CHECK(f.fin && f.opcode == TC_WS_OP_TEXT && !f.masked && f.payload_len == 5);

  uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  TC_CHECK_EQ_INT(parse_exact(masked, sizeof masked, &f), 6);
  TC_CHECK(f.masked && f.payload_len == 5);
  tc_ws_mask(masked + 6, 5, f.mask, 0);
  TC_CHECK(memcmp(masked + 6, "Hello", 5) == 0);

  static const uint8_t frag1[] = {0x01, 0x03, 'H', 'e', 'l'}, frag2[] = {0x80, 0x02, 'l', 'o'};
  TC_CHECK_EQ_INT(parse_exact(frag1, sizeof frag1, &f), 2);
  TC_CHECK(!f.fin && f.opcode == TC_WS_OP_TEXT && f.payload_len == 3);
  TC_CHECK_EQ_INT(parse_exact(frag2, sizeof frag2, &f), 2);
  TC_CHECK(f.fin && f.opcode == TC_WS_OP_CONT && f.payload_len == 2);

  static const uint8_t ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
  TC_CHECK_EQ_INT(parse_exact(ping, sizeof ping, &f), 2);
  TC_CHECK(f.opcode == TC_WS_OP_PING);
  uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  TC_CHECK_EQ_INT(parse_exact(pong, sizeof pong, &f), 6);
  TC_CHECK(f.opcode == TC_WS_OP_PONG && f.masked);
  tc_ws_mask(pong + 6, 5, f.mask, 0);
  TC_CHECK(memcmp(pong + 6, "Hello", 5) == 0);

  static const uint8_t b256[] = {0x82, 0x7e, 0x01, 0x00};
  TC_CHECK_EQ_INT(parse_exact(b256, sizeof b256, &f), 4);
  TC_CHECK(f.payload_len == 256 && f.opcode == TC_WS_OP_BINARY);
  static const uint8_t b64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
  TC_CHECK_EQ_INT(parse_exact(b64k, sizeof b64k, &f), 10);
  TC_CHECK(f.payload_len == 65536);

  /* The writer produces the same bytes. */
  uint8_t out[14];
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 1, 0, TC_WS_OP_TEXT, 5, NULL), 2);
  TC_CHECK(memcmp(out, hello, 2) == 0);
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 1, 0, TC_WS_OP_TEXT, 5, masked + 2), 6);
  TC_CHECK(memcmp(out, masked, 6) == 0);
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 0, 0, TC_WS_OP_TEXT, 3, NULL), 2);
  TC_CHECK(memcmp(out, frag1, 2) == 0);
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 1, 0, TC_WS_OP_BINARY, 256, NULL), 4);
  TC_CHECK(memcmp(out, b256, 4) == 0);
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 1, 0, TC_WS_OP_BINARY, 65536, NULL), 10);
  TC_CHECK(memcmp(out, b64k, 10) == 0);
  /* permessage-deflate's "Hello" (RFC 7692 7.2.3.1) sets RSV1. */
  TC_CHECK_EQ_INT(tc_ws_frame_write(out, 1, 1, TC_WS_OP_TEXT, 7, NULL), 2);
  TC_CHECK(out[0] == 0xc1 && out[1] == 0x07);
}

static void test_write_round_trip(void) {
  static const uint64_t lens[] = {0,
                                  1,
                                  124,
                                  125,
                                  126,
                                  127,
                                  255,
                                  256,
                                  65534,
                                  65535,
                                  65536,
                                  65537,
                                  1u << 24,
                                  1ull << 32,
                                  (1ull << 32) + 7,
                                  (1ull << 63) - 1};
  static const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    for (int bits = 0; bits < 4; bits++) {
      for (int op = 0; op < 16; op++) {
        int fin = bits & 1, rsv1 = (bits >> 1) & 1;
        for (int masked = 0; masked <= 1; masked++) {
          uint8_t out[14];
          memset(out, 0xcc, sizeof out);
          size_t n = tc_ws_frame_write(out, fin, rsv1, op, lens[i], masked ? mask : NULL);
          size_t want = (lens[i] < 126 ? 2 : lens[i] <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
          TC_CHECK_EQ_INT(n, want);
          uint8_t b0 = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
          check_header(out, n, b0, lens[i], masked ? mask : NULL);
        }
      }
    }
  }
  /* Only the low four bits of the opcode are written; fin and rsv1 are truth values. */
  uint8_t out[14];
  tc_ws_frame_write(out, 7, 9, 0x31, 3, NULL);
  TC_CHECK_EQ_INT(out[0], 0xc1);
}

/* ---- Masking --------------------------------------------------------------------------------- */

static void ref_mask(uint8_t *p, size_t len, const uint8_t m[4], size_t phase) {
  for (size_t i = 0; i < len; i++) p[i] ^= m[(phase + i) % 4];
}

static void fill(uint8_t *p, size_t len, uint32_t seed) {
  for (size_t i = 0; i < len; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (uint8_t)(seed >> 24);
  }
}

static void test_mask_vs_reference(void) {
  static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  /* Eight spare bytes on both sides catch a write outside [p, p + len). */
  _Alignas(8) uint8_t buf[8 + 8 + 100 + 8], want[sizeof buf], orig[sizeof buf];
  for (size_t len = 0; len <= 100; len++) {
    for (size_t phase = 0; phase < 4; phase++) {
      for (size_t align = 0; align < 8; align++) {
        fill(orig, sizeof orig, (uint32_t)(len * 131 + phase * 7 + align));
        memcpy(buf, orig, sizeof buf);
        memcpy(want, orig, sizeof want);
        tc_ws_mask(buf + 8 + align, len, mask, phase);
        ref_mask(want + 8 + align, len, mask, phase);
        TC_CHECK(memcmp(buf, want, sizeof buf) == 0);
        tc_ws_mask(buf + 8 + align, len, mask, phase);
        TC_CHECK(memcmp(buf, orig, sizeof buf) == 0);
      }
    }
  }
  /* Exact-size heap buffers: no access outside the payload. */
  for (size_t len = 0; len <= 100; len++) {
    uint8_t *p = malloc(len ? len : 1), *q = malloc(len ? len : 1);
    fill(p, len, (uint32_t)len);
    memcpy(q, p, len);
    tc_ws_mask(p, len, mask, len % 4);
    ref_mask(q, len, mask, len % 4);
    TC_CHECK(len == 0 || memcmp(p, q, len) == 0);
    free(p);
    free(q);
  }
}

static void test_mask_copy_vs_reference(void) {
  static const uint8_t mask[4] = {0xa1, 0x00, 0xff, 0x5c};
  _Alignas(8) uint8_t src[8 + 100 + 8], dst[8 + 8 + 100 + 8], want[sizeof dst];
  for (size_t len = 0; len <= 100; len++) {
    for (size_t phase = 0; phase < 4; phase++) {
      for (size_t sa = 0; sa < 8; sa++) {
        for (size_t da = 0; da < 8; da++) {
          fill(src, sizeof src, (uint32_t)(len + 1000 * phase + 17 * sa));
          memset(dst, 0x77, sizeof dst);
          memset(want, 0x77, sizeof want);
          tc_ws_mask_copy(dst + 8 + da, src + sa, len, mask, phase);
          memcpy(want + 8 + da, src + sa, len);
          ref_mask(want + 8 + da, len, mask, phase);
          TC_CHECK(memcmp(dst, want, sizeof dst) == 0);
        }
      }
    }
  }
  for (size_t len = 0; len <= 100; len++) {
    uint8_t *s = malloc(len ? len : 1), *d = malloc(len ? len : 1), *w = malloc(len ? len : 1);
    fill(s, len, (uint32_t)len * 3);
    memcpy(w, s, len);
    ref_mask(w, len, mask, 3);
    tc_ws_mask_copy(d, s, len, mask, 3);
    TC_CHECK(len == 0 || memcmp(d, w, len) == 0);
    free(s);
    free(d);
    free(w);
  }
}

/* A payload unmasked in three pieces, the phase carried as bytes done mod 4, matches one pass. */
static void test_mask_pieces(void) {
  static const uint8_t mask[4] = {0x01, 0x80, 0x7f, 0xfe};
  enum { N = 70 };
  uint8_t orig[N], want[N], got[N], copy[N];
  fill(orig, N, 99);
  memcpy(want, orig, N);
  ref_mask(want, N, mask, 0);
  for (size_t i = 0; i <= N; i++) {
    for (size_t j = i; j <= N; j++) {
      memcpy(got, orig, N);
      tc_ws_mask(got, i, mask, 0);
      tc_ws_mask(got + i, j - i, mask, i % 4);
      tc_ws_mask(got + j, N - j, mask, j % 4);
      TC_CHECK(memcmp(got, want, N) == 0);
      tc_ws_mask_copy(copy, orig, i, mask, 0);
      tc_ws_mask_copy(copy + i, orig + i, j - i, mask, i % 4);
      tc_ws_mask_copy(copy + j, orig + j, N - j, mask, j % 4);
      TC_CHECK(memcmp(copy, want, N) == 0);
    }
  }
}

static void test_mask_large(void) {
  static const uint8_t mask[4] = {0x55, 0xaa, 0x0f, 0xf0};
  size_t n = 1 << 16;
  uint8_t *a = malloc(n + 8), *b = malloc(n + 8);
  fill(a, n + 8, 5);
  for (size_t off = 0; off < 8; off++) {
    memcpy(b, a, n + 8);
    tc_ws_mask(b + off, n, mask, off % 4);
    ref_mask(b + off, n, mask, off % 4);
    TC_CHECK(memcmp(a, b, n + 8) == 0);
  }
  free(a);
  free(b);
}

static void test_close_codes(void) {
  int wrong = 0;
  for (int code = -2; code <= 70000; code++) {
    int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                (code >= 3000 && code <= 4999);
    int r = tc_ws_close_code_check(code);
    if (r != (valid ? 0 : TC_EPROTO) && wrong++ < 5) fprintf(stderr, "  close code %d\n", code);
  }
  TC_CHECK_EQ_INT(wrong, 0);
  /* The codes the Autobahn suite sends (7.7 valid, 7.9 invalid). */
  static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                           1010, 1011, 3000, 3999, 4000, 4999};
  static const int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    TC_CHECK_EQ_INT(tc_ws_close_code_check(ok[i]), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    TC_CHECK_EQ_INT(tc_ws_close_code_check(bad[i]), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_ws_close_code_check(TC_WS_CLOSE_NO_STATUS), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_ws_close_code_check(TC_WS_CLOSE_ABNORMAL), TC_EPROTO);
}

int main(void) {
  TC_RUN(test_parse_lengths);
  TC_RUN(test_parse_bits);
  TC_RUN(test_parse_top_bit);
  TC_RUN(test_rfc_examples);
  TC_RUN(test_write_round_trip);
  TC_RUN(test_mask_vs_reference);
  TC_RUN(test_mask_copy_vs_reference);
  TC_RUN(test_mask_pieces);
  TC_RUN(test_mask_large);
  TC_RUN(test_close_codes);
  return tc_test_end();
}
