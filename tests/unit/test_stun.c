#include "tc_test.h"
#include "tincan/stun.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/un.h>

/* ---- Vectors ---------------------------------------------------------------------------------
 * RFC 5769 sections 2.1 to 2.4, as printed there; RFC 8489 appendix B.1 as corrected by
 * erratum 6268. */

static const char V21[] = "000100582112a442b7e7a701bc34d686fa87dfae"
                          "802200105354554e207465737420636c69656e74"
                          "002400046e0001ff"
                          "80290008932ff9b151263b36"
                          "000600096576746a3a68367659202020"
                          "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
                          "80280004e57a3bcf";
static const char V22[] = "0101003c2112a442b7e7a701bc34d686fa87dfae"
                          "8022000b7465737420766563746f7220"
                          "002000080001a147e112a643"
                          "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
                          "80280004c07d4c96";
static const char V23[] = "010100482112a442b7e7a701bc34d686fa87dfae"
                          "8022000b7465737420766563746f7220"
                          "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
                          "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
                          "80280004c8fb0b4c";
static const char V24[] = "000100602112a44278ad3433c6ad72c029da412e"
                          "00060012e3839ee38388e383aae38383e382afe382b90000"
                          "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473"
                          "41"
                          "0014000b6578616d706c652e6f726700"
                          "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666";
static const char VB1[] = "000100902112a44278ad3433c6ad72c029da412e"
                          "001e0020"
                          "4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704"
                          "00150029"
                          "6f624d61744a6f73324141414366"
                          "2f2f3439396b39353464364f4c33346f4c39465354767936347341000000"
                          "0014000b6578616d706c652e6f726700"
                          "001d000400020000"
                          "001c0020"
                          "b5c7bf005b6c52a21c51c5e892f81924136296cb927c43149309278cc6518e65";

static const char PASSWORD[] = "VOkJxbRl1RmTxUk/WvJxBt";
/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 */
static const char USERNAME_24[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf"
                                  "\xe3\x82\xb9";

/* Hex (spaces allowed) to a heap buffer of exactly the decoded length, so that reading past a
 * message is caught. */
static uint8_t *unhex(const char *h, size_t *len) {
  size_t n = 0;
  uint8_t *out = malloc(strlen(h) / 2 + 1);
  int half = -1;
  for (const char *c = h; *c; c++) {
    int v;
    if (*c >= '0' && *c <= '9')
      v = *c - '0';
    else if (*c >= 'a' && *c <= 'f')
      v = *c - 'a' + 10;
    else
      continue;
    if (half < 0) {
      half = v;
    } else {
      out[n++] = (uint8_t)(half << 4 | v);
      half = -1;
    }
  }
  uint8_t *exact = malloc(n ? n : 1);
  memcpy(exact, out, n);
  free(out);
  *len = n;
  return exact;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  if (n) memcpy(c, p, n);
  return c;
}

static struct sockaddr_in v4addr(const char *ip, uint16_t port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  inet_pton(AF_INET, ip, &s.sin_addr);
  return s;
}

static struct sockaddr_in6 v6addr(const char *ip, uint16_t port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &s.sin6_addr);
  return s;
}

static int same_addr(const struct sockaddr_storage *got, const struct sockaddr *want) {
  if (got->ss_family != want->sa_family) return 0;
  if (want->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)got, *b = (const void *)want;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *a = (const void *)got, *b = (const void *)want;
  return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

/* ---- Types and demultiplexing --------------------------------------------------------------- */

static void test_types(void) {
  static const struct {
    uint16_t method;
    int cls;
    uint16_t type;
  } cases[] = {
      {TC_STUN_BINDING, TC_STUN_REQUEST, 0x0001},
      {TC_STUN_BINDING, TC_STUN_INDICATION, 0x0011},
      {TC_STUN_BINDING, TC_STUN_SUCCESS, 0x0101},
      {TC_STUN_BINDING, TC_STUN_ERROR, 0x0111},
      {TC_STUN_ALLOCATE, TC_STUN_REQUEST, 0x0003},
      {TC_STUN_ALLOCATE, TC_STUN_ERROR, 0x0113},
      {TC_STUN_SEND, TC_STUN_INDICATION, 0x0016},
      {TC_STUN_DATA, TC_STUN_INDICATION, 0x0017},
      {TC_STUN_CHANNEL_BIND, TC_STUN_SUCCESS, 0x0109},
      {0xFFF, TC_STUN_ERROR, 0x3FFF},
      {0x080, TC_STUN_REQUEST, 0x0200},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TC_CHECK_EQ_INT(tc_stun_type(cases[i].method, cases[i].cls), cases[i].type);
    TC_CHECK_EQ_INT(tc_stun_type_method(cases[i].type), cases[i].method);
    TC_CHECK_EQ_INT(tc_stun_type_class(cases[i].type), cases[i].cls);
  }
  int bad = 0;
  for (unsigned m = 0; m <= 0xFFF; m++)
    for (int c = 0; c < 4; c++) {
      uint16_t t = tc_stun_type((uint16_t)m, c);
      bad += t > 0x3FFF || tc_stun_type_method(t) != m || tc_stun_type_class(t) != c;
    }
  TC_CHECK_EQ_INT(bad, 0);
  TC_CHECK(strcmp(tc_stun_reason(420), "Unknown Attribute") == 0);
  TC_CHECK(strcmp(tc_stun_reason(401), "Unauthenticated") == 0);
  TC_CHECK(tc_stun_reason(499) == NULL);
}

static void test_demux(void) {
  static const struct {
    uint8_t b;
    tc_stun_demux_t want;
  } cases[] = {
      {0, TC_STUN_DEMUX_STUN},          {3, TC_STUN_DEMUX_STUN},          {4, TC_STUN_DEMUX_OTHER},
      {15, TC_STUN_DEMUX_OTHER},        {16, TC_STUN_DEMUX_ZRTP},         {19, TC_STUN_DEMUX_ZRTP},
      {20, TC_STUN_DEMUX_DTLS},         {22, TC_STUN_DEMUX_DTLS},         {63, TC_STUN_DEMUX_DTLS},
      {64, TC_STUN_DEMUX_TURN_CHANNEL}, {79, TC_STUN_DEMUX_TURN_CHANNEL}, {80, TC_STUN_DEMUX_OTHER},
      {127, TC_STUN_DEMUX_OTHER},       {128, TC_STUN_DEMUX_RTP},         {191, TC_STUN_DEMUX_RTP},
      {192, TC_STUN_DEMUX_OTHER},       {255, TC_STUN_DEMUX_OTHER},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    TC_CHECK_EQ_INT(tc_stun_demux(&cases[i].b, 1), cases[i].want);
  TC_CHECK_EQ_INT(tc_stun_demux(NULL, 0), TC_STUN_DEMUX_OTHER);

  size_t n;
  uint8_t *v = unhex(V21, &n);
  TC_CHECK(tc_stun_is_message(v, n));
  TC_CHECK(!tc_stun_is_message(v, n - 4));
  TC_CHECK(!tc_stun_is_message(v, 19));
  v[4] ^= 1;
  TC_CHECK(!tc_stun_is_message(v, n));
  free(v);
}

/* ---- RFC 5769 ------------------------------------------------------------------------------- */

static void test_rfc5769_request(void) {
  size_t n;
  uint8_t *v = unhex(V21, &n);
  TC_CHECK_EQ_INT(n, 108);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(v, n, &m), 0);
  TC_CHECK_EQ_INT(m.method, TC_STUN_BINDING);
  TC_CHECK_EQ_INT(m.cls, TC_STUN_REQUEST);
  TC_CHECK(memcmp(m.tid, v + 8, 12) == 0);
  static const uint16_t order[] = {TC_STUN_ATTR_SOFTWARE,          TC_STUN_ATTR_PRIORITY,
                                   TC_STUN_ATTR_ICE_CONTROLLED,    TC_STUN_ATTR_USERNAME,
                                   TC_STUN_ATTR_MESSAGE_INTEGRITY, TC_STUN_ATTR_FINGERPRINT};
  size_t pos = 0, i = 0;
  tc_stun_attr_t a;
  while (tc_stun_attr_next(&m, &pos, &a)) {
    TC_CHECK(i < 6 && a.type == order[i]);
    i++;
  }
  TC_CHECK_EQ_INT(i, 6);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), 0);
  TC_CHECK_SLICE(a.value, "STUN test client");
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_USERNAME, &a), 0);
  TC_CHECK_SLICE(a.value, "evtj:h6vY");
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_REALM, &a), TC_ENOENT);

  TC_CHECK_EQ_INT(tc_stun_check_fingerprint(&m), 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, (const uint8_t *)PASSWORD, strlen(PASSWORD)), 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", 22),
                  TC_EACCES);
  TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, (const uint8_t *)PASSWORD, 22), TC_ENOENT);

  /* Every flipped bit outside the padding breaks the parse, the FINGERPRINT or the integrity. */
  int undetected = 0;
  for (size_t k = 0; k < n * 8; k++) {
    size_t byte = k / 8; /* padding too: MESSAGE-INTEGRITY covers it */
    v[byte] ^= (uint8_t)(1u << (k % 8));
    tc_stun_msg_t w;
    int ok = tc_stun_msg_parse(v, n, &w) == 0 && w.method == TC_STUN_BINDING &&
             w.cls == TC_STUN_REQUEST && tc_stun_check_fingerprint(&w) == 0 &&
             tc_stun_check_integrity(&w, (const uint8_t *)PASSWORD, 22) == 0;
    undetected += ok;
    v[byte] ^= (uint8_t)(1u << (k % 8));
  }
  TC_CHECK_EQ_INT(undetected, 0);
  free(v);
}

/* Rebuilds a 2.2/2.3 response from its fields; the RFC pads SOFTWARE with a space where the
 * builder writes zero (padding may hold anything), so the space goes in before the hashes. */
static void rebuild_response(const uint8_t *want, size_t n, const struct sockaddr *mapped) {
  tc_buf_t out = {0};
  tc_buf_append(&out, "pre", 3);
  tc_stun_builder_t b;
  TC_CHECK_EQ_INT(tc_stun_build_begin(&b, &out, TC_STUN_BINDING, TC_STUN_SUCCESS, want + 8), 0);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, TC_STUN_ATTR_SOFTWARE, "test vector", 11), 0);
  tc_buf_data(&out)[3 + 20 + 4 + 11] = ' ';
  TC_CHECK_EQ_INT(tc_stun_build_xor_addr(&b, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, mapped), 0);
  TC_CHECK_EQ_INT(tc_stun_build_integrity(&b, (const uint8_t *)PASSWORD, 22), 0);
  TC_CHECK_EQ_INT(tc_stun_build_fingerprint(&b), 0);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), n);
  TC_CHECK_EQ_INT(out.len, 3 + n);
  TC_CHECK(out.len == 3 + n && memcmp(tc_buf_data(&out), "pre", 3) == 0 &&
           memcmp(tc_buf_data(&out) + 3, want, n) == 0);
  tc_buf_free(&out);
}

static void check_response(const char *hex, const struct sockaddr *mapped) {
  size_t n;
  uint8_t *v = unhex(hex, &n);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(v, n, &m), 0);
  TC_CHECK_EQ_INT(m.method, TC_STUN_BINDING);
  TC_CHECK_EQ_INT(m.cls, TC_STUN_SUCCESS);
  TC_CHECK_EQ_INT(tc_stun_check_fingerprint(&m), 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, (const uint8_t *)PASSWORD, 22), 0);
  tc_stun_attr_t a;
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), 0);
  TC_CHECK_SLICE(a.value, "test vector");
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
  struct sockaddr_storage ss;
  TC_CHECK_EQ_INT(tc_stun_attr_xor_addr(&m, &a, &ss), 0);
  TC_CHECK(same_addr(&ss, mapped));
  rebuild_response(v, n, mapped);
  free(v);
}

static void test_rfc5769_responses(void) {
  struct sockaddr_in a4 = v4addr("192.0.2.1", 32853);
  struct sockaddr_in6 a6 = v6addr("2001:db8:1234:5678:11:2233:4455:6677", 32853);
  check_response(V22, (struct sockaddr *)&a4);
  check_response(V23, (struct sockaddr *)&a6);
}

static void test_rfc5769_long_term(void) {
  size_t n;
  uint8_t *v = unhex(V24, &n);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(v, n, &m), 0);
  tc_stun_attr_t user, realm, nonce;
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_USERNAME, &user), 0);
  TC_CHECK_SLICE(user.value, USERNAME_24);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_REALM, &realm), 0);
  TC_CHECK_SLICE(realm.value, "example.org");
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_NONCE, &nonce), 0);
  TC_CHECK_SLICE(nonce.value, "f//499k954d6OL34oL9FSTvy64sA");
  TC_CHECK_EQ_INT(tc_stun_check_fingerprint(&m), TC_ENOENT);

  /* The password is "The<U+00AD>M<U+00AA>tr<U+2168>" before SASLprep. */
  uint8_t key[32];
  TC_CHECK_EQ_INT(tc_stun_long_term_key(user.value, realm.value, TC_SLICE_LIT("TheMatrIX"),
                                        TC_STUN_PASSWORD_MD5, key),
                  16);
  uint8_t md5[16];
  char joined[64];
  int jl = snprintf(joined, sizeof joined, "%s:example.org:TheMatrIX", USERNAME_24);
  EVP_Digest(joined, (size_t)jl, md5, NULL, EVP_md5(), NULL);
  TC_CHECK(memcmp(key, md5, 16) == 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, key, 16), 0);
  TC_CHECK_EQ_INT(tc_stun_long_term_key(user.value, realm.value, TC_SLICE_LIT("TheMatrix"),
                                        TC_STUN_PASSWORD_MD5, key),
                  16);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, key, 16), TC_EACCES);
  TC_CHECK_EQ_INT(tc_stun_long_term_key(user.value, realm.value, TC_SLICE_LIT("x"), 3, key),
                  TC_EINVAL);

  /* The builder writes the same bytes (this vector pads with zeros). */
  tc_stun_long_term_key(user.value, realm.value, TC_SLICE_LIT("TheMatrIX"), TC_STUN_PASSWORD_MD5,
                        key);
  tc_buf_t out = {0};
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, &out, TC_STUN_BINDING, TC_STUN_REQUEST, m.tid);
  tc_stun_build_attr(&b, TC_STUN_ATTR_USERNAME, user.value.p, user.value.len);
  tc_stun_build_attr(&b, TC_STUN_ATTR_NONCE, nonce.value.p, nonce.value.len);
  tc_stun_build_attr(&b, TC_STUN_ATTR_REALM, realm.value.p, realm.value.len);
  tc_stun_build_integrity(&b, key, 16);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), n);
  TC_CHECK(out.len == n && memcmp(tc_buf_data(&out), v, n) == 0);
  tc_buf_free(&out);
  free(v);
}

/* RFC 8489 B.1: MESSAGE-INTEGRITY-SHA256 under the SHA-256 long-term key, and USERHASH. */
static void test_rfc8489_b1(void) {
  size_t n;
  uint8_t *v = unhex(VB1, &n);
  TC_CHECK_EQ_INT(n, 164);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(v, n, &m), 0);
  tc_stun_attr_t a;
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_USERHASH, &a), 0);
  uint8_t hash[32];
  tc_slice_t user = tc_slice_str(USERNAME_24), realm = TC_SLICE_LIT("example.org");
  TC_CHECK_EQ_INT(tc_stun_userhash(user, realm, hash), 0);
  TC_CHECK(a.value.len == 32 && memcmp(a.value.p, hash, 32) == 0);
  uint8_t key[32];
  TC_CHECK_EQ_INT(
      tc_stun_long_term_key(user, realm, TC_SLICE_LIT("TheMatrIX"), TC_STUN_PASSWORD_SHA256, key),
      32);
  TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, key, 32), 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, key, 32), TC_ENOENT);
  key[0] ^= 1;
  TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, key, 32), TC_EACCES);
  free(v);
}

/* ---- Integrity and FINGERPRINT beyond the vectors ------------------------------------------- */

/* HMAC-SHA256 of msg[0..end) with the length field set to `fake`, computed here the long way. */
static void ref_hmac256(const uint8_t *msg, size_t end, size_t fake, const uint8_t *key,
                        size_t klen, uint8_t out[32]) {
  uint8_t *copy = dup_exact(msg, end);
  copy[2] = (uint8_t)(fake >> 8);
  copy[3] = (uint8_t)fake;
  unsigned olen = 0;
  HMAC(EVP_sha256(), key, (int)klen, copy, end, out, &olen);
  free(copy);
}

static void test_integrity_sha256(void) {
  static const uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  static const uint8_t key[] = "some key";
  for (size_t mac = 0; mac <= 32; mac += 4) {
    tc_buf_t out = {0};
    tc_stun_builder_t b;
    tc_stun_build_begin(&b, &out, TC_STUN_BINDING, TC_STUN_REQUEST, tid);
    tc_stun_build_attr(&b, TC_STUN_ATTR_SOFTWARE, "abc", 3);
    tc_stun_build_integrity(&b, key, 8);
    int r = tc_stun_build_integrity_sha256(&b, key, 8, mac);
    tc_stun_build_fingerprint(&b);
    ssize_t len = tc_stun_build_end(&b);
    if (mac != 0 && mac < 16) {
      TC_CHECK_EQ_INT(r, TC_EINVAL);
      TC_CHECK_EQ_INT(len, TC_EINVAL);
      TC_CHECK_EQ_INT(out.len, 0);
      tc_buf_free(&out);
      continue;
    }
    size_t want = mac ? mac : 32;
    TC_CHECK_EQ_INT(len, 20 + 8 + 24 + 4 + want + 8);
    tc_stun_msg_t m;
    TC_CHECK_EQ_INT(tc_stun_msg_parse(tc_buf_data(&out), out.len, &m), 0);
    TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, key, 8), 0);
    TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, key, 8), 0);
    TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, key, 7), TC_EACCES);
    TC_CHECK_EQ_INT(tc_stun_check_fingerprint(&m), 0);
    uint8_t ref[32];
    ref_hmac256(m.p, m.integrity256_off, m.integrity256_off + 4 + want - 20, key, 8, ref);
    TC_CHECK(memcmp(ref, m.p + m.integrity256_off + 4, want) == 0);
    tc_buf_free(&out);
  }
}

/* Attributes after the integrity attributes are ignored, and the HMAC input ends at them. */
static void test_ignored_after_integrity(void) {
  static const uint8_t tid[12] = {0};
  tc_buf_t out = {0};
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, &out, TC_STUN_BINDING, TC_STUN_REQUEST, tid);
  tc_stun_build_attr(&b, TC_STUN_ATTR_USERNAME, "u", 1);
  tc_stun_build_integrity(&b, (const uint8_t *)"k", 1);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), 20 + 8 + 24);
  /* Appended by hand: a SOFTWARE (ignored), a second MESSAGE-INTEGRITY (ignored), then a
   * MESSAGE-INTEGRITY-SHA256 (counts, whatever its value). */
  static const uint8_t tail[] = {0x80, 0x22, 0,  1,  'x', 0,  0,    0,    0x00, 0x08, 0,  20, 1,
                                 2,    3,    4,  5,  6,   7,  8,    9,    10,   11,   12, 13, 14,
                                 15,   16,   17, 18, 19,  20, 0x00, 0x1c, 0,    16,   0,  0,  0,
                                 0,    0,    0,  0,  0,   0,  0,    0,    0,    0,    0,  0,  0};
  tc_buf_append(&out, tail, sizeof tail);
  uint8_t *p = tc_buf_data(&out);
  p[2] = (uint8_t)((out.len - 20) >> 8);
  p[3] = (uint8_t)(out.len - 20);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(p, out.len, &m), 0);
  TC_CHECK_EQ_INT(m.integrity_off, 28);
  TC_CHECK_EQ_INT(m.integrity256_off, 20 + 8 + 24 + 8 + 24);
  TC_CHECK_EQ_INT(tc_stun_check_integrity(&m, (const uint8_t *)"k", 1), 0);
  TC_CHECK_EQ_INT(tc_stun_check_integrity_sha256(&m, (const uint8_t *)"k", 1), TC_EACCES);
  tc_stun_attr_t a;
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), TC_ENOENT);
  size_t pos = 0, count = 0;
  while (tc_stun_attr_next(&m, &pos, &a)) count++;
  TC_CHECK_EQ_INT(count, 3); /* USERNAME, MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 */
  tc_buf_free(&out);
}

/* ---- Builder ------------------------------------------------------------------------------ */

static void test_builder_rules(void) {
  static const uint8_t tid[12] = {9};
  tc_buf_t out = {0};
  tc_buf_append(&out, "keep", 4);
  tc_stun_builder_t b;

  TC_CHECK_EQ_INT(tc_stun_build_begin(&b, &out, 0x1000, TC_STUN_REQUEST, tid), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_begin(&b, &out, 1, 4, tid), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_EINVAL);
  TC_CHECK_EQ_INT(out.len, 4);

  /* Nothing but FINGERPRINT after MESSAGE-INTEGRITY-SHA256; the error sticks and the partial
   * message goes. */
  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_integrity_sha256(&b, (const uint8_t *)"", 0, 0), 0);
  TC_CHECK_EQ_INT(tc_stun_build_integrity(&b, (const uint8_t *)"", 0), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_fingerprint(&b), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_EINVAL);
  TC_CHECK_EQ_INT(out.len, 4);

  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_fingerprint(&b), 0);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, TC_STUN_ATTR_SOFTWARE, "x", 1), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_EINVAL);
  TC_CHECK_EQ_INT(out.len, 4);

  /* Size limits: the largest message fits, one more word does not. */
  uint8_t *big = calloc(1, 65536);
  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, 0x8fff, big, 65536), TC_E2BIG);
  tc_stun_build_end(&b);
  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, 0x8fff, big, 65528), 0);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, 0x8fff, big, 1), TC_E2BIG);
  tc_stun_build_end(&b);
  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, 0x8fff, big, 65524), 0);
  TC_CHECK_EQ_INT(tc_stun_build_attr(&b, 0x8fff, big, 0), 0);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_STUN_MAX_LEN);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(tc_buf_data(&out) + 4, out.len - 4, &m), 0);
  TC_CHECK_EQ_INT(tc_stun_frame_len(tc_buf_data(&out) + 4, out.len - 4), TC_STUN_MAX_LEN);
  out.len = 4;
  free(big);

  struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = ""};
  tc_stun_build_begin(&b, &out, 1, TC_STUN_REQUEST, tid);
  TC_CHECK_EQ_INT(tc_stun_build_xor_addr(&b, TC_STUN_ATTR_XOR_PEER_ADDRESS, (void *)&un),
                  TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_build_end(&b), TC_EINVAL);
  tc_stun_build_begin(&b, &out, 1, TC_STUN_ERROR, tid);
  TC_CHECK_EQ_INT(tc_stun_build_error(&b, 299, NULL), TC_EINVAL);
  tc_stun_build_end(&b);
  TC_CHECK_EQ_INT(out.len, 4);
  TC_CHECK(memcmp(tc_buf_data(&out), "keep", 4) == 0);
  tc_buf_free(&out);
}

static void test_addresses(void) {
  static const uint8_t tid[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
  struct sockaddr_in a4 = v4addr("203.0.113.45", 51234);
  struct sockaddr_in6 a6 = v6addr("2001:db8::1", 443);
  struct sockaddr_in6 mapped = v6addr("::ffff:192.0.2.7", 3478);
  const struct sockaddr *all[] = {(void *)&a4, (void *)&a6, (void *)&mapped};
  for (int x = 0; x < 2; x++) {
    tc_buf_t out = {0};
    tc_stun_builder_t b;
    tc_stun_build_begin(&b, &out, TC_STUN_ALLOCATE, TC_STUN_SUCCESS, tid);
    for (int i = 0; i < 3; i++) {
      if (x)
        tc_stun_build_xor_addr(&b, TC_STUN_ATTR_XOR_RELAYED_ADDRESS, all[i]);
      else
        tc_stun_build_addr(&b, TC_STUN_ATTR_ALTERNATE_SERVER, all[i]);
    }
    TC_CHECK_EQ_INT(tc_stun_build_end(&b), 20 + 12 + 24 + 24);
    tc_stun_msg_t m;
    TC_CHECK_EQ_INT(tc_stun_msg_parse(tc_buf_data(&out), out.len, &m), 0);
    size_t pos = 0;
    tc_stun_attr_t a;
    for (int i = 0; i < 3; i++) {
      TC_CHECK_EQ_INT(tc_stun_attr_next(&m, &pos, &a), 1);
      struct sockaddr_storage ss;
      TC_CHECK_EQ_INT(x ? tc_stun_attr_xor_addr(&m, &a, &ss) : tc_stun_attr_addr(&a, &ss), 0);
      TC_CHECK(same_addr(&ss, all[i]));
    }
    /* The plain form carries the address as is. */
    if (!x) TC_CHECK(memcmp(tc_buf_data(&out) + 28, &a4.sin_addr, 4) == 0);
    tc_buf_free(&out);
  }
  /* Families and lengths that do not go together. */
  static const uint8_t bad[][20] = {{0, 1, 0, 1}, {0, 2, 0, 1}, {0, 3, 0, 1}};
  static const size_t bad_len[] = {20, 8, 8};
  tc_stun_msg_t m = {0};
  for (int i = 0; i < 3; i++) {
    tc_stun_attr_t a = {.type = 1, .value = {bad[i], bad_len[i]}};
    struct sockaddr_storage ss;
    TC_CHECK_EQ_INT(tc_stun_attr_addr(&a, &ss), TC_EPROTO);
    TC_CHECK_EQ_INT(tc_stun_attr_xor_addr(&m, &a, &ss), TC_EPROTO);
  }
  tc_stun_attr_t shrt = {.type = 1, .value = {bad[0], 3}};
  struct sockaddr_storage ss;
  TC_CHECK_EQ_INT(tc_stun_attr_addr(&shrt, &ss), TC_EPROTO);
}

static void test_error_and_unknown(void) {
  static const uint8_t tid[12] = {0};
  static const uint16_t types[] = {0x0003, 0x7fff, 0x0024};
  tc_buf_t out = {0};
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, &out, TC_STUN_BINDING, TC_STUN_ERROR, tid);
  tc_stun_build_error(&b, 420, NULL);
  tc_stun_build_unknown(&b, types, 3);
  tc_stun_build_error(&b, 699, "custom reason");
  tc_stun_build_error(&b, 300, "");
  TC_CHECK(tc_stun_build_end(&b) > 0);
  tc_stun_msg_t m;
  TC_CHECK_EQ_INT(tc_stun_msg_parse(tc_buf_data(&out), out.len, &m), 0);
  size_t pos = 0;
  tc_stun_attr_t a;
  int code;
  tc_slice_t reason;
  tc_stun_attr_next(&m, &pos, &a);
  TC_CHECK_EQ_INT(tc_stun_attr_error(&a, &code, &reason), 0);
  TC_CHECK_EQ_INT(code, 420);
  TC_CHECK_SLICE(reason, "Unknown Attribute");
  tc_stun_attr_next(&m, &pos, &a);
  uint16_t got[2];
  TC_CHECK_EQ_INT(tc_stun_attr_unknown(&a, got, 2), 3);
  TC_CHECK(got[0] == 0x0003 && got[1] == 0x7fff);
  tc_stun_attr_next(&m, &pos, &a);
  TC_CHECK_EQ_INT(tc_stun_attr_error(&a, &code, &reason), 0);
  TC_CHECK_EQ_INT(code, 699);
  TC_CHECK_SLICE(reason, "custom reason");
  tc_stun_attr_next(&m, &pos, &a);
  TC_CHECK_EQ_INT(tc_stun_attr_error(&a, &code, &reason), 0);
  TC_CHECK_EQ_INT(code, 300);
  TC_CHECK_EQ_INT(reason.len, 0);
  tc_buf_free(&out);

  static const uint8_t e1[] = {0, 0, 2, 0}, e2[] = {0, 0, 4, 100}, e3[] = {0, 0, 4, 0, 0xff},
                       e4[] = {0, 0, 7, 0}, e5[] = {0, 0, 4};
  const tc_stun_attr_t bad[] = {
      {9, {e1, 4}}, {9, {e2, 4}}, {9, {e3, 5}}, {9, {e4, 4}}, {9, {e5, 3}}};
  for (size_t i = 0; i < 5; i++)
    TC_CHECK_EQ_INT(tc_stun_attr_error(&bad[i], &code, &reason), TC_EPROTO);
  tc_stun_attr_t odd = {10, {e3, 3}};
  TC_CHECK_EQ_INT(tc_stun_attr_unknown(&odd, got, 2), TC_EPROTO);
}

/* ---- Malformed input ------------------------------------------------------------------------ */

static const uint8_t TID[12] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
                                0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac};

/* Builds a request of the given method and class with optional raw attribute bytes. */
static size_t make_msg(uint8_t *buf, uint16_t method, int cls, const uint8_t *attrs, size_t alen) {
  uint16_t t = tc_stun_type(method, cls);
  buf[0] = (uint8_t)(t >> 8);
  buf[1] = (uint8_t)t;
  buf[2] = (uint8_t)(alen >> 8);
  buf[3] = (uint8_t)alen;
  buf[4] = 0x21;
  buf[5] = 0x12;
  buf[6] = 0xa4;
  buf[7] = 0x42;
  memcpy(buf + 8, TID, 12);
  if (alen) memcpy(buf + 20, attrs, alen);
  return 20 + alen;
}

static void test_parse_malformed(void) {
  static const struct {
    const char *name;
    uint8_t attrs[36];
    size_t len;
  } einval[] = {
      {"overrun", {0x80, 0x22, 0, 5, 'a', 'b', 'c', 'd'}, 8},
      {"MI 19", {0, 8, 0, 19}, 24},
      {"MI256 12", {0, 0x1c, 0, 12}, 16},
      {"MI256 18", {0, 0x1c, 0, 18}, 24},
      {"FP 5", {0x80, 0x28, 0, 5}, 12},
      {"FP not last", {0x80, 0x28, 0, 4, 0, 0, 0, 0, 0x80, 0x22, 0, 0}, 12},
  };
  for (size_t i = 0; i < sizeof einval / sizeof einval[0]; i++) {
    uint8_t *p = malloc(20 + einval[i].len);
    size_t n = make_msg(p, TC_STUN_BINDING, TC_STUN_REQUEST, einval[i].attrs, einval[i].len);
    tc_stun_msg_t m;
    int r = tc_stun_msg_parse(p, n, &m);
    if (r != TC_EINVAL) fprintf(stderr, "case %s\n", einval[i].name);
    TC_CHECK_EQ_INT(r, TC_EINVAL);
    TC_CHECK_EQ_INT(m.method, TC_STUN_BINDING);
    TC_CHECK_EQ_INT(m.cls, TC_STUN_REQUEST);
    TC_CHECK_EQ_INT(m.tid[11], 0xac);
    size_t pos = 0;
    tc_stun_attr_t a;
    TC_CHECK_EQ_INT(tc_stun_attr_next(&m, &pos, &a), 0);
    free(p);
  }

  /* Not STUN at all. */
  size_t n;
  uint8_t *v = unhex(V21, &n);
  tc_stun_msg_t m;
  for (int k = 0; k < 4; k++) {
    uint8_t *c = dup_exact(v, n);
    if (k == 0) c[0] |= 0x40;
    if (k == 1) c[6] ^= 0x10;
    if (k == 2) c[3] += 4;
    if (k == 3) c[3] += 1;
    TC_CHECK_EQ_INT(tc_stun_msg_parse(c, n, &m), TC_EPROTO);
    free(c);
  }
  TC_CHECK_EQ_INT(tc_stun_msg_parse(v, n + 0 - 4, &m), TC_EPROTO);
  free(v);
}

/* Every truncation of every vector is refused without reading past it, whether the length field
 * still says the full size or is rewritten to match what is left. */
static void test_truncations(void) {
  const char *vectors[] = {V21, V22, V23, V24, VB1};
  struct sockaddr_in from = v4addr("198.51.100.1", 1000);
  for (size_t i = 0; i < 5; i++) {
    size_t n;
    uint8_t *v = unhex(vectors[i], &n);
    for (size_t k = 0; k < n; k++) {
      tc_stun_msg_t m;
      uint8_t *c = dup_exact(v, k);
      TC_CHECK_EQ_INT(tc_stun_msg_parse(c, k, &m), TC_EPROTO);
      tc_buf_t out = {0};
      TC_CHECK_EQ_INT(tc_stun_server_handle(NULL, c, k, (struct sockaddr *)&from, &out), 0);
      TC_CHECK_EQ_INT(out.len, 0);
      if (k >= 20 && k % 4 == 0) {
        c[2] = (uint8_t)((k - 20) >> 8);
        c[3] = (uint8_t)(k - 20);
        int r = tc_stun_msg_parse(c, k, &m);
        TC_CHECK(r == 0 || r == TC_EINVAL);
        if (r == 0) {
          (void)tc_stun_check_fingerprint(&m);
          (void)tc_stun_check_integrity(&m, (const uint8_t *)PASSWORD, 22);
          size_t pos = 0;
          tc_stun_attr_t a;
          while (tc_stun_attr_next(&m, &pos, &a)) TC_CHECK(a.value.p + a.value.len <= c + k);
        }
        r = tc_stun_server_handle(NULL, c, k, (struct sockaddr *)&from, &out);
        TC_CHECK(r == 0 || r == 1);
        TC_CHECK(out.len <= k + TC_STUN_MAX_GROWTH);
      }
      tc_buf_free(&out);
      free(c);
    }
    free(v);
  }
}

/* ---- Framing over TCP ----------------------------------------------------------------------- */

/* Cuts messages from a stream fed in two pieces split at `cut`, as a reader would. */
static int cut_stream(const uint8_t *s, size_t n, size_t cut, const size_t *lens, size_t count) {
  uint8_t *buf = malloc(n);
  size_t have = 0, fed = 0, done = 0, ok = 1;
  for (int piece = 0; piece < 2 && ok; piece++) {
    size_t take = piece == 0 ? cut : n - cut;
    memcpy(buf + have, s + fed, take);
    have += take;
    fed += take;
    for (;;) {
      uint8_t *exact = dup_exact(buf, have);
      ssize_t r = tc_stun_frame_len(exact, have);
      free(exact);
      if (r == TC_EAGAIN || (r > 0 && (size_t)r > have)) break;
      ok = r > 0 && done < count && (size_t)r == lens[done] &&
           memcmp(buf, s + fed - have, (size_t)r) == 0;
      if (!ok) break;
      memmove(buf, buf + r, have - (size_t)r);
      have -= (size_t)r;
      done++;
    }
  }
  free(buf);
  return ok && done == count && have == 0;
}

static void test_frame_len(void) {
  const char *vectors[] = {V21, V22, V23, V24, VB1};
  tc_buf_t stream = {0};
  size_t lens[5];
  for (int i = 0; i < 5; i++) {
    uint8_t *v = unhex(vectors[i], &lens[i]);
    tc_buf_append(&stream, v, lens[i]);
    /* Every prefix of a header waits for more; the full header gives the length. */
    for (size_t k = 0; k < 20; k++) {
      uint8_t *c = dup_exact(v, k);
      TC_CHECK_EQ_INT(tc_stun_frame_len(c, k), TC_EAGAIN);
      free(c);
    }
    for (size_t k = 20; k <= lens[i]; k++) TC_CHECK_EQ_INT(tc_stun_frame_len(v, k), lens[i]);
    free(v);
  }
  const uint8_t *s = tc_buf_data(&stream);
  int failed = 0;
  for (size_t cut = 0; cut <= stream.len; cut++) failed += !cut_stream(s, stream.len, cut, lens, 5);
  TC_CHECK_EQ_INT(failed, 0);
  /* One byte at a time. */
  uint8_t *acc = malloc(stream.len);
  size_t have = 0, msgs = 0;
  for (size_t i = 0; i < stream.len; i++) {
    acc[have++] = s[i];
    ssize_t r = tc_stun_frame_len(acc, have);
    TC_CHECK(r == TC_EAGAIN || r > 0);
    if (r > 0 && (size_t)r == have) {
      TC_CHECK_EQ_INT(r, lens[msgs]);
      msgs++;
      have = 0;
    }
  }
  TC_CHECK_EQ_INT(msgs, 5);
  free(acc);
  tc_buf_free(&stream);

  /* Not STUN, known before 20 bytes. */
  static const uint8_t http[] = "GET / HTTP/1.1\r\n";
  TC_CHECK_EQ_INT(tc_stun_frame_len(http, 1), TC_EPROTO);
  static const uint8_t chan[] = {0x40, 0x00, 0x00, 0x04};
  TC_CHECK_EQ_INT(tc_stun_frame_len(chan, 4), TC_EPROTO);
  static const uint8_t odd[] = {0x00, 0x01, 0x00, 0x05};
  TC_CHECK_EQ_INT(tc_stun_frame_len(odd, 3), TC_EAGAIN);
  TC_CHECK_EQ_INT(tc_stun_frame_len(odd, 4), TC_EPROTO);
  static const uint8_t nocookie[] = {0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x43};
  TC_CHECK_EQ_INT(tc_stun_frame_len(nocookie, 7), TC_EAGAIN);
  TC_CHECK_EQ_INT(tc_stun_frame_len(nocookie, 8), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_stun_frame_len(NULL, 0), TC_EAGAIN);
}

/* ---- The Binding responder ------------------------------------------------------------------ */

/* Runs the responder on a heap copy and checks the invariants every answer keeps. Returns the
 * handler's result; *m describes the response (pointing into out). */
static int serve(const tc_stun_server_cfg_t *cfg, const uint8_t *req, size_t len,
                 const struct sockaddr *from, tc_buf_t *out, tc_stun_msg_t *m) {
  uint8_t *c = dup_exact(req, len);
  tc_buf_reset(out);
  int r = tc_stun_server_handle(cfg, c, len, from, out);
  free(c);
  if (r != 1) {
    TC_CHECK_EQ_INT(out->len, 0);
    return r;
  }
  TC_CHECK(out->len <= len + TC_STUN_MAX_GROWTH);
  TC_CHECK_EQ_INT(tc_stun_msg_parse(tc_buf_data(out), out->len, m), 0);
  TC_CHECK_EQ_INT(m->method, TC_STUN_BINDING);
  TC_CHECK(m->cls == TC_STUN_SUCCESS || m->cls == TC_STUN_ERROR);
  TC_CHECK(memcmp(m->tid, req + 8, 12) == 0);
  TC_CHECK_EQ_INT(tc_stun_check_fingerprint(m), 0);
  TC_CHECK_EQ_INT(m->integrity_off, 0);
  return r;
}

static void check_mapped(const tc_stun_msg_t *m, const struct sockaddr *want) {
  tc_stun_attr_t a;
  struct sockaddr_storage ss;
  TC_CHECK_EQ_INT(m->cls, TC_STUN_SUCCESS);
  TC_CHECK_EQ_INT(tc_stun_attr_find(m, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
  TC_CHECK_EQ_INT(tc_stun_attr_xor_addr(m, &a, &ss), 0);
  TC_CHECK(same_addr(&ss, want));
  TC_CHECK_EQ_INT(tc_stun_attr_find(m, TC_STUN_ATTR_MAPPED_ADDRESS, &a), TC_ENOENT);
}

static void check_error(const tc_stun_msg_t *m, int want) {
  tc_stun_attr_t a;
  int code = 0;
  tc_slice_t reason;
  TC_CHECK_EQ_INT(m->cls, TC_STUN_ERROR);
  TC_CHECK_EQ_INT(tc_stun_attr_find(m, TC_STUN_ATTR_ERROR_CODE, &a), 0);
  TC_CHECK_EQ_INT(tc_stun_attr_error(&a, &code, &reason), 0);
  TC_CHECK_EQ_INT(code, want);
  TC_CHECK_SLICE(reason, tc_stun_reason(want));
}

static void test_server_success(void) {
  const tc_stun_server_cfg_t cfg = {.software = "tincan"};
  struct sockaddr_in a4 = v4addr("198.51.100.23", 40000);
  struct sockaddr_in6 a6 = v6addr("2001:db8:1::42", 50000);
  struct sockaddr_in6 m4 = v6addr("::ffff:203.0.113.9", 61000);
  struct sockaddr_in want_m4 = v4addr("203.0.113.9", 61000);
  uint8_t req[64];
  size_t n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, NULL, 0);
  tc_buf_t out = {0};
  tc_stun_msg_t m;
  tc_stun_attr_t a;

  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a4, &out, &m), 1);
  check_mapped(&m, (struct sockaddr *)&a4);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), 0);
  TC_CHECK_SLICE(a.value, "tincan");
  TC_CHECK_EQ_INT(out.len, 20 + 12 + 12 + 8);

  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a6, &out, &m), 1);
  check_mapped(&m, (struct sockaddr *)&a6);
  TC_CHECK_EQ_INT(out.len, 20 + 24 + 12 + 8);

  TC_CHECK_EQ_INT(serve(NULL, req, n, (struct sockaddr *)&m4, &out, &m), 1);
  check_mapped(&m, (struct sockaddr *)&want_m4);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), TC_ENOENT);
  TC_CHECK_EQ_INT(out.len, 20 + 12 + 8);

  /* USERNAME and MESSAGE-INTEGRITY without server credentials: ignored, answered. The
   * comprehension-optional ones and those after MESSAGE-INTEGRITY too. */
  tc_buf_t r = {0};
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, &r, TC_STUN_BINDING, TC_STUN_REQUEST, TID);
  tc_stun_build_attr(&b, TC_STUN_ATTR_USERNAME, "alice", 5);
  tc_stun_build_attr(&b, TC_STUN_ATTR_ICE_CONTROLLING, "12345678", 8);
  tc_stun_build_attr(&b, 0xC001, "x", 1);
  tc_stun_build_integrity(&b, (const uint8_t *)"secret", 6);
  tc_stun_build_integrity_sha256(&b, (const uint8_t *)"secret", 6, 16);
  tc_stun_build_fingerprint(&b);
  TC_CHECK(tc_stun_build_end(&b) > 0);
  TC_CHECK_EQ_INT(serve(&cfg, tc_buf_data(&r), r.len, (struct sockaddr *)&a4, &out, &m), 1);
  check_mapped(&m, (struct sockaddr *)&a4);
  /* An unknown comprehension-required type after MESSAGE-INTEGRITY is ignored as well. */
  static const uint8_t after[] = {0x7f, 0x00, 0x00, 0x00};
  tc_buf_t r2 = {0};
  tc_stun_build_begin(&b, &r2, TC_STUN_BINDING, TC_STUN_REQUEST, TID);
  tc_stun_build_integrity(&b, (const uint8_t *)"k", 1);
  tc_stun_build_end(&b);
  tc_buf_append(&r2, after, 4);
  tc_buf_data(&r2)[3] += 4;
  TC_CHECK_EQ_INT(serve(&cfg, tc_buf_data(&r2), r2.len, (struct sockaddr *)&a4, &out, &m), 1);
  check_mapped(&m, (struct sockaddr *)&a4);
  tc_buf_free(&r2);

  /* A response is appended after what out already holds. */
  tc_buf_t keep = {0};
  tc_buf_append(&keep, "head", 4);
  TC_CHECK_EQ_INT(tc_stun_server_handle(NULL, req, n, (struct sockaddr *)&a4, &keep), 1);
  TC_CHECK(memcmp(tc_buf_data(&keep), "head", 4) == 0);
  TC_CHECK(tc_stun_is_message(tc_buf_data(&keep) + 4, keep.len - 4));
  tc_buf_free(&keep);

  /* A source of another family is the caller's mistake. */
  struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = ""};
  TC_CHECK_EQ_INT(tc_stun_server_handle(NULL, req, n, (struct sockaddr *)&un, &out), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_stun_server_handle(NULL, req, n, NULL, &out), TC_EINVAL);
  tc_buf_free(&r);
  tc_buf_free(&out);
}

static void test_server_errors(void) {
  const tc_stun_server_cfg_t cfg = {.software = "tincan"};
  struct sockaddr_in a4 = v4addr("198.51.100.23", 40000);
  uint8_t req[128];
  tc_buf_t out = {0};
  tc_stun_msg_t m;
  tc_stun_attr_t a;

  /* 420, listing each unknown comprehension-required type once. */
  static const uint8_t unk[] = {0x00, 0x03, 0x00, 0x04, 0,   0, 0, 6, /* CHANGE-REQUEST */
                                0x7f, 0xff, 0x00, 0x00,               /* unknown */
                                0x80, 0x55, 0x00, 0x00,               /* optional: ignored */
                                0x7f, 0xff, 0x00, 0x01, 1,   0, 0, 0, /* same type again */
                                0x00, 0x06, 0x00, 0x01, 'u', 0, 0, 0};
  size_t n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, unk, sizeof unk);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a4, &out, &m), 1);
  check_error(&m, 420);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_UNKNOWN_ATTRIBUTES, &a), 0);
  uint16_t types[4];
  TC_CHECK_EQ_INT(tc_stun_attr_unknown(&a, types, 4), 2);
  TC_CHECK(types[0] == 0x0003 && types[1] == 0x7fff);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), TC_ENOENT);

  /* The RFC 5769 request carries PRIORITY, an ICE attribute a plain server does not know. */
  size_t vn;
  uint8_t *v = unhex(V21, &vn);
  TC_CHECK_EQ_INT(serve(&cfg, v, vn, (struct sockaddr *)&a4, &out, &m), 1);
  check_error(&m, 420);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_UNKNOWN_ATTRIBUTES, &a), 0);
  TC_CHECK_EQ_INT(tc_stun_attr_unknown(&a, types, 4), 1);
  TC_CHECK_EQ_INT(types[0], TC_STUN_ATTR_PRIORITY);
  /* With its FINGERPRINT broken it is not answered at all. */
  v[30] ^= 1;
  TC_CHECK_EQ_INT(serve(&cfg, v, vn, (struct sockaddr *)&a4, &out, &m), 0);
  free(v);

  /* 400 for attributes that do not fit the message. */
  static const uint8_t overrun[] = {0x80, 0x22, 0x00, 0x09, 'a', 'b', 'c', 'd'};
  n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, overrun, sizeof overrun);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a4, &out, &m), 1);
  check_error(&m, 400);
  static const uint8_t fp_not_last[] = {0x80, 0x28, 0, 4, 1, 2, 3, 4, 0x80, 0x22, 0, 0};
  n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, fp_not_last, sizeof fp_not_last);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a4, &out, &m), 1);
  check_error(&m, 400);
  static const uint8_t short_mi[] = {0x00, 0x08, 0x00, 0x04, 1, 2, 3, 4};
  n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, short_mi, sizeof short_mi);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, (struct sockaddr *)&a4, &out, &m), 1);
  check_error(&m, 400);
  tc_buf_free(&out);
}

static void test_server_drops(void) {
  const tc_stun_server_cfg_t cfg = {.software = "tincan"};
  struct sockaddr_in6 a6 = v6addr("2001:db8::5", 5000);
  const struct sockaddr *from = (struct sockaddr *)&a6;
  uint8_t req[64];
  tc_buf_t out = {0};
  tc_stun_msg_t m;

  /* Indications, responses, other methods (RFC 8489 section 6.3: discarded). */
  static const int classes[] = {TC_STUN_INDICATION, TC_STUN_SUCCESS, TC_STUN_ERROR};
  for (int i = 0; i < 3; i++) {
    size_t n = make_msg(req, TC_STUN_BINDING, classes[i], NULL, 0);
    TC_CHECK_EQ_INT(serve(&cfg, req, n, from, &out, &m), 0);
  }
  static const uint16_t methods[] = {0x000, 0x002, TC_STUN_ALLOCATE, TC_STUN_REFRESH, 0xFFF};
  for (int i = 0; i < 5; i++) {
    size_t n = make_msg(req, methods[i], TC_STUN_REQUEST, NULL, 0);
    TC_CHECK_EQ_INT(serve(&cfg, req, n, from, &out, &m), 0);
  }
  /* Even a malformed request of another method is not answered. */
  static const uint8_t overrun[] = {0x80, 0x22, 0x00, 0x09, 'a', 'b', 'c', 'd'};
  size_t n = make_msg(req, TC_STUN_ALLOCATE, TC_STUN_REQUEST, overrun, sizeof overrun);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, from, &out, &m), 0);

  /* RFC 3489 (no magic cookie), a length that disagrees with the datagram, garbage. */
  n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, NULL, 0);
  req[4] = 0;
  TC_CHECK_EQ_INT(serve(&cfg, req, n, from, &out, &m), 0);
  n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, NULL, 0);
  TC_CHECK_EQ_INT(serve(&cfg, req, n + 4, from, &out, &m), 0);
  static const uint8_t dtls[] = {0x16, 0xfe, 0xfd, 0,    0, 0, 0, 0, 0, 0, 0, 0,
                                 0,    0,    0x40, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  TC_CHECK_EQ_INT(serve(&cfg, dtls, sizeof dtls, from, &out, &m), 0);
  TC_CHECK_EQ_INT(serve(&cfg, (const uint8_t *)"", 0, from, &out, &m), 0);
  uint8_t junk[200];
  uint32_t x = 12345;
  int answered = 0;
  for (int round = 0; round < 2000; round++) {
    size_t len = (size_t)(x % sizeof junk);
    for (size_t i = 0; i < len; i++) {
      x = x * 1103515245u + 12345u;
      junk[i] = (uint8_t)(x >> 16);
    }
    answered += serve(&cfg, junk, len, from, &out, &m) != 0;
  }
  TC_CHECK_EQ_INT(answered, 0);
  tc_buf_free(&out);
}

/* The response never outgrows the request by more than TC_STUN_MAX_GROWTH, whatever SOFTWARE
 * the server was given; a 20-byte request shows the worst case. */
static void test_server_amplification(void) {
  char soft[200];
  struct sockaddr_in a4 = v4addr("192.0.2.200", 1);
  struct sockaddr_in6 a6 = v6addr("2001:db8::ffff:1", 65535);
  const struct sockaddr *froms[] = {(void *)&a4, (void *)&a6};
  uint8_t req[256];
  tc_buf_t out = {0};
  tc_stun_msg_t m;
  tc_stun_attr_t a;
  for (size_t sl = 0; sl < sizeof soft; sl++) {
    memset(soft, 'S', sl);
    soft[sl] = 0;
    const tc_stun_server_cfg_t cfg = {.software = soft};
    for (int f = 0; f < 2; f++) {
      size_t n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, NULL, 0);
      TC_CHECK_EQ_INT(serve(&cfg, req, n, froms[f], &out, &m), 1);
      TC_CHECK(out.len <= 20 + TC_STUN_MAX_GROWTH);
      int has = tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a) == 0;
      if (sl > 0 && sl <= 20) TC_CHECK(has);
      if (sl > (f ? 28u : 40u)) TC_CHECK(!has);
      /* The worst error case: one 4-byte unknown attribute. */
      static const uint8_t unk[] = {0x7f, 0xfe, 0, 0};
      n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, unk, 4);
      TC_CHECK_EQ_INT(serve(&cfg, req, n, froms[f], &out, &m), 1);
      check_error(&m, 420);
      TC_CHECK(out.len <= 24 + TC_STUN_MAX_GROWTH);
      has = tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a) == 0;
      if (sl > 0 && sl <= 20) TC_CHECK(has);
    }
  }
  /* A larger request leaves room for a longer SOFTWARE; invalid values are never sent. */
  memset(soft, 'S', 100);
  soft[100] = 0;
  const tc_stun_server_cfg_t cfg = {.software = soft};
  uint8_t pad[120] = {0x80, 0x55, 0, 116};
  size_t n = make_msg(req, TC_STUN_BINDING, TC_STUN_REQUEST, pad, sizeof pad);
  TC_CHECK_EQ_INT(serve(&cfg, req, n, froms[0], &out, &m), 1);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), 0);
  static const tc_stun_server_cfg_t bad_utf8 = {.software = "caf\xc3"};
  TC_CHECK_EQ_INT(serve(&bad_utf8, req, n, froms[0], &out, &m), 1);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), TC_ENOENT);
  char many[300];
  memset(many, 'S', 128);
  many[128] = 0;
  const tc_stun_server_cfg_t too_long = {.software = many};
  TC_CHECK_EQ_INT(serve(&too_long, req, n, froms[0], &out, &m), 1);
  TC_CHECK_EQ_INT(tc_stun_attr_find(&m, TC_STUN_ATTR_SOFTWARE, &a), TC_ENOENT);
  tc_buf_free(&out);
}

int main(void) {
  TC_RUN(test_types);
  TC_RUN(test_demux);
  TC_RUN(test_rfc5769_request);
  TC_RUN(test_rfc5769_responses);
  TC_RUN(test_rfc5769_long_term);
  TC_RUN(test_rfc8489_b1);
  TC_RUN(test_integrity_sha256);
  TC_RUN(test_ignored_after_integrity);
  TC_RUN(test_builder_rules);
  TC_RUN(test_addresses);
  TC_RUN(test_error_and_unknown);
  TC_RUN(test_parse_malformed);
  TC_RUN(test_truncations);
  TC_RUN(test_frame_len);
  TC_RUN(test_server_success);
  TC_RUN(test_server_errors);
  TC_RUN(test_server_drops);
  TC_RUN(test_server_amplification);
  return tc_test_end();
}
