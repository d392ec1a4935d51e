#include "tc_test.h"
#include "tincan/base.h"

#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static ssize_t decode_str(const char *s, uint8_t *out, size_t cap) {
  return tc_base64_decode(tc_slice_str(s), out, cap);
}

static void test_rfc4648_vectors(void) {
  static const char *const vec[][2] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
    char enc[16];
    memset(enc, 'x', sizeof enc);
    size_t n = tc_base64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), enc);
    TC_CHECK_EQ_INT(n, strlen(vec[i][1]));
    TC_CHECK(strcmp(enc, vec[i][1]) == 0);

    uint8_t dec[16];
    ssize_t d = decode_str(vec[i][1], dec, strlen(vec[i][0]));
    TC_CHECK_EQ_INT(d, strlen(vec[i][0]));
    TC_CHECK(d < 0 || memcmp(dec, vec[i][0], (size_t)d) == 0);
  }
}

static void test_known_values(void) {
  char enc[64];
  static const uint8_t all_ff[3] = {0xff, 0xff, 0xff};
  tc_base64_encode(all_ff, 3, enc);
  TC_CHECK(strcmp(enc, "////") == 0);
  static const uint8_t mixed[3] = {0xfb, 0xef, 0xbe};
  tc_base64_encode(mixed, 3, enc);
  TC_CHECK(strcmp(enc, "++++") == 0);
  /* The RFC 6455 example nonce "the sample nonce". */
  tc_base64_encode((const uint8_t *)"the sample nonce", 16, enc);
  TC_CHECK(strcmp(enc, "dGhlIHNhbXBsZSBub25jZQ==") == 0);
  static const uint8_t seq[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  tc_base64_encode(seq, 16, enc);
  TC_CHECK(strcmp(enc, "AQIDBAUGBwgJCgsMDQ4PEA==") == 0);
}

static void test_invalid(void) {
  static const char *const bad[] = {
      "Z",        "Zg",       "Zg=",
      "Zm9vY", /* not a multiple of 4 */
      "====",     "Z===",     "=Zg=",
      "Z=g=",                                             /* misplaced padding */
      "Zg==Zg==", "Zm8=Zm9v", "Zm9v====",                 /* padding before the end */
      "Zh==",     "Zm9=",     "AQIDBAUGBwgJCgsMDQ4PEC==", /* non-zero trailing bits */
      "Zm 9",     "Zm9v\n",   " Zm9",
      "Zm9v\r\n", /* whitespace */
      "Zm-v",     "Zm_v",     "Zm.v",
      "Zm9\x80", /* not in the alphabet */
  };
  uint8_t out[64];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ssize_t r = decode_str(bad[i], out, sizeof out);
    if (r != TC_EINVAL) fprintf(stderr, "accepted \"%s\"\n", bad[i]);
    TC_CHECK_EQ_INT(r, TC_EINVAL);
  }
  /* An embedded NUL is just another bad byte. */
  TC_CHECK_EQ_INT(tc_base64_decode((tc_slice_t){(const uint8_t *)"Zm\0v", 4}, out, sizeof out),
                  TC_EINVAL);
  /* Every byte outside the alphabet, in every position of a quantum. */
  for (int c = 0; c < 256; c++) {
    if (c && strchr(alphabet, c)) continue;
    for (int pos = 0; pos < 4; pos++) {
      uint8_t q[4] = {'Q', 'U', 'J', 'D'};
      q[pos] = (uint8_t)c;
      if (c == '=' && pos >= 2) continue; /* could be padding; covered below */
      TC_CHECK_EQ_INT(tc_base64_decode((tc_slice_t){q, 4}, out, sizeof out), TC_EINVAL);
    }
  }
}

static void test_too_small(void) {
  uint8_t out[8];
  TC_CHECK_EQ_INT(decode_str("Zm9v", out, 2), TC_E2BIG);
  TC_CHECK_EQ_INT(decode_str("Zm9v", out, 3), 3);
  TC_CHECK_EQ_INT(decode_str("Zm8=", out, 1), TC_E2BIG);
  TC_CHECK_EQ_INT(decode_str("Zm8=", out, 2), 2);
  TC_CHECK_EQ_INT(decode_str("Zg==", out, 0), TC_E2BIG);
  TC_CHECK_EQ_INT(decode_str("", NULL, 0), 0);
}

/* Every final quantum with padding: canonical exactly when the unused bits are zero. */
static void test_canonical_padding(void) {
  uint8_t out[4];
  for (int a = 0; a < 64; a++) {
    for (int b = 0; b < 64; b++) {
      char q[5] = {alphabet[a], alphabet[b], '=', '=', 0};
      ssize_t r = decode_str(q, out, sizeof out);
      if ((b & 15) == 0) {
        TC_CHECK_EQ_INT(r, 1);
        if (r == 1) TC_CHECK_EQ_INT(out[0], a << 2 | b >> 4);
      } else {
        TC_CHECK_EQ_INT(r, TC_EINVAL);
      }
      for (int c = 0; c < 64; c++) {
        char t[5] = {alphabet[a], alphabet[b], alphabet[c], '=', 0};
        r = decode_str(t, out, sizeof out);
        TC_CHECK_EQ_INT(r, (c & 3) == 0 ? 2 : TC_EINVAL);
      }
    }
  }
}

static void test_round_trip(void) {
  uint8_t in[300], dec[300];
  char enc[404];
  uint32_t x = 12345;
  for (size_t len = 0; len <= sizeof in; len++) {
    for (size_t i = 0; i < len; i++) {
      x = x * 1103515245u + 12345u;
      in[i] = (uint8_t)(x >> 16);
    }
    size_t n = tc_base64_encode(in, len, enc);
    TC_CHECK_EQ_INT(n, (len + 2) / 3 * 4);
    TC_CHECK_EQ_INT(strlen(enc), n);
    ssize_t d = tc_base64_decode((tc_slice_t){(const uint8_t *)enc, n}, dec, len);
    TC_CHECK_EQ_INT(d, len);
    TC_CHECK(d < 0 || memcmp(in, dec, len) == 0);
    if (len)
      TC_CHECK_EQ_INT(tc_base64_decode((tc_slice_t){(const uint8_t *)enc, n}, dec, len - 1),
                      TC_E2BIG);
  }
  /* Every single byte value, alone and after two others. */
  for (int c = 0; c < 256; c++) {
    uint8_t three[3] = {0x00, 0xff, (uint8_t)c};
    for (size_t off = 0; off < 3; off++) {
      tc_base64_encode(three + off, 3 - off, enc);
      ssize_t d = decode_str(enc, dec, 3);
      TC_CHECK_EQ_INT(d, 3 - off);
      TC_CHECK(d < 0 || memcmp(dec, three + off, 3 - off) == 0);
    }
  }
}

int main(void) {
  TC_RUN(test_rfc4648_vectors);
  TC_RUN(test_known_values);
  TC_RUN(test_invalid);
  TC_RUN(test_too_small);
  TC_RUN(test_canonical_padding);
  TC_RUN(test_round_trip);
  return tc_test_end();
}
