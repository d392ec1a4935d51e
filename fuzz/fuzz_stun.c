/* STUN on arbitrary bytes: the input is parsed as a datagram, every attribute decoded, the
 * message rebuilt with the builder and parsed again; it is framed as a TCP stream; and the
 * Binding responder answers it from a fixed IPv4 and a fixed IPv6 source, within its bound. */
#include "tincan/stun.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

static const uint8_t KEY[] = "VOkJxbRl1RmTxUk/WvJxBt";

static int inside(const tc_slice_t *s, const uint8_t *p, size_t len) {
  return s->p >= p && s->len <= len && (size_t)(s->p - p) <= len - s->len;
}

static void decode_attr(const tc_stun_msg_t *m, const tc_stun_attr_t *a) {
  struct sockaddr_storage ss;
  int code;
  tc_slice_t reason;
  uint16_t types[8];
  switch (a->type) {
    case TC_STUN_ATTR_MAPPED_ADDRESS:
    case TC_STUN_ATTR_ALTERNATE_SERVER:
      if (tc_stun_attr_addr(a, &ss) == 0)
        ASSERT(ss.ss_family == AF_INET ? a->value.len == 8 : a->value.len == 20);
      break;
    case TC_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case TC_STUN_ATTR_XOR_PEER_ADDRESS:
    case TC_STUN_ATTR_XOR_RELAYED_ADDRESS:
      if (tc_stun_attr_xor_addr(m, a, &ss) == 0)
        ASSERT(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
      break;
    case TC_STUN_ATTR_ERROR_CODE:
      if (tc_stun_attr_error(a, &code, &reason) == 0) {
        ASSERT(code >= 300 && code <= 699);
        ASSERT(inside(&reason, a->value.p, a->value.len));
      }
      break;
    case TC_STUN_ATTR_UNKNOWN_ATTRIBUTES: {
      ssize_t n = tc_stun_attr_unknown(a, types, 8);
      ASSERT(n == TC_EPROTO || (size_t)n == a->value.len / 2);
      break;
    }
    default:
      break;
  }
}

/* Rebuilds the attributes that count (integrity attributes recomputed with KEY) and checks the
 * copy parses to the same sequence. */
static void rebuild(const tc_stun_msg_t *m) {
  tc_buf_t out = {0};
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, &out, m->method, m->cls, m->tid);
  size_t pos = 0, count = 0;
  tc_stun_attr_t a;
  while (tc_stun_attr_next(m, &pos, &a)) {
    count++;
    if (a.type == TC_STUN_ATTR_MESSAGE_INTEGRITY)
      tc_stun_build_integrity(&b, KEY, 22);
    else if (a.type == TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
      tc_stun_build_integrity_sha256(&b, KEY, 22, a.value.len);
    else if (a.type == TC_STUN_ATTR_FINGERPRINT)
      tc_stun_build_fingerprint(&b);
    else
      tc_stun_build_attr(&b, a.type, a.value.p, a.value.len);
  }
  ssize_t len = tc_stun_build_end(&b);
  ASSERT(len > 0 && (size_t)len <= m->len);
  tc_stun_msg_t c;
  ASSERT(tc_stun_msg_parse(tc_buf_data(&out), out.len, &c) == 0);
  ASSERT(c.method == m->method && c.cls == m->cls && memcmp(c.tid, m->tid, 12) == 0);
  size_t p1 = 0, p2 = 0, again = 0;
  tc_stun_attr_t x, y;
  while (tc_stun_attr_next(m, &p1, &x)) {
    ASSERT(tc_stun_attr_next(&c, &p2, &y) == 1);
    ASSERT(x.type == y.type && x.value.len == y.value.len);
    int hashed = x.type == TC_STUN_ATTR_MESSAGE_INTEGRITY ||
                 x.type == TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
                 x.type == TC_STUN_ATTR_FINGERPRINT;
    ASSERT(hashed || x.value.len == 0 || memcmp(x.value.p, y.value.p, x.value.len) == 0);
    again++;
  }
  ASSERT(again == count && tc_stun_attr_next(&c, &p2, &y) == 0);
  if (c.integrity_off) ASSERT(tc_stun_check_integrity(&c, KEY, 22) == 0);
  if (c.integrity256_off) ASSERT(tc_stun_check_integrity_sha256(&c, KEY, 22) == 0);
  if (c.fingerprint_off) ASSERT(tc_stun_check_fingerprint(&c) == 0);
  tc_buf_free(&out);
}

static void check_parse(const uint8_t *data, size_t size) {
  tc_stun_msg_t m;
  int r = tc_stun_msg_parse(data, size, &m);
  ASSERT(r == 0 || r == TC_EPROTO || r == TC_EINVAL);
  ASSERT((r != TC_EPROTO) == (tc_stun_is_message(data, size) != 0));
  if (r == TC_EPROTO) return;
  ASSERT(m.method <= 0xFFF && m.cls <= 3 && memcmp(m.tid, data + 8, 12) == 0);
  if (r == TC_EINVAL) return;
  size_t pos = 0;
  tc_stun_attr_t a;
  while (tc_stun_attr_next(&m, &pos, &a)) {
    ASSERT(inside(&a.value, data, size) && a.value.p >= data + 24);
    decode_attr(&m, &a);
  }
  int f = tc_stun_check_fingerprint(&m);
  ASSERT(f == 0 || f == TC_EPROTO || (f == TC_ENOENT && !m.fingerprint_off));
  int i = tc_stun_check_integrity(&m, KEY, 22);
  ASSERT(i == 0 || i == TC_EACCES || (i == TC_ENOENT && !m.integrity_off));
  i = tc_stun_check_integrity_sha256(&m, KEY, 22);
  ASSERT(i == 0 || i == TC_EACCES || (i == TC_ENOENT && !m.integrity256_off));
  rebuild(&m);
}

/* Framing agrees with the header, and a verdict of "not STUN" never changes with more bytes. */
static void check_frame(const uint8_t *data, size_t size) {
  ssize_t whole = tc_stun_frame_len(data, size);
  if (size >= 20 && whole > 0) ASSERT((size_t)whole == 20 + ((size_t)data[2] << 8 | data[3]));
  ASSERT(tc_stun_is_message(data, size) == (size >= 20 && whole == (ssize_t)size));
  size_t upto = size < 24 ? size : 24;
  for (size_t k = 0; k <= upto; k++) {
    ssize_t r = tc_stun_frame_len(data, k);
    ASSERT(r == TC_EAGAIN || r == TC_EPROTO || (k >= 20 && r >= 20));
    if (r == TC_EPROTO) ASSERT(whole == TC_EPROTO);
  }
  (void)tc_stun_demux(data, size);
}

static void check_server(const uint8_t *data, size_t size, const struct sockaddr *from) {
  static const tc_stun_server_cfg_t cfg = {.software = "tincan fuzz"};
  tc_buf_t out = {0};
  tc_buf_append(&out, "x", 1);
  int r = tc_stun_server_handle(&cfg, data, size, from, &out);
  ASSERT(r == 0 || r == 1);
  if (r == 0) {
    ASSERT(out.len == 1);
  } else {
    const uint8_t *resp = tc_buf_data(&out) + 1;
    size_t len = out.len - 1;
    ASSERT(len <= size + TC_STUN_MAX_GROWTH);
    tc_stun_msg_t m;
    ASSERT(tc_stun_msg_parse(resp, len, &m) == 0);
    ASSERT(m.method == TC_STUN_BINDING && (m.cls == TC_STUN_SUCCESS || m.cls == TC_STUN_ERROR));
    ASSERT(memcmp(m.tid, data + 8, 12) == 0);
    ASSERT(tc_stun_check_fingerprint(&m) == 0);
    tc_stun_attr_t a;
    if (m.cls == TC_STUN_SUCCESS) {
      struct sockaddr_storage ss;
      ASSERT(tc_stun_attr_find(&m, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, &a) == 0);
      ASSERT(tc_stun_attr_xor_addr(&m, &a, &ss) == 0);
    } else {
      int code;
      tc_slice_t reason;
      ASSERT(tc_stun_attr_find(&m, TC_STUN_ATTR_ERROR_CODE, &a) == 0);
      ASSERT(tc_stun_attr_error(&a, &code, &reason) == 0);
      ASSERT(code == 400 || code == 420);
    }
  }
  tc_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_parse(data, size);
  check_frame(data, size);

  struct sockaddr_in a4;
  memset(&a4, 0, sizeof a4);
  a4.sin_family = AF_INET;
  a4.sin_port = htons(54321);
  inet_pton(AF_INET, "198.51.100.7", &a4.sin_addr);
  struct sockaddr_in6 a6;
  memset(&a6, 0, sizeof a6);
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(3478);
  inet_pton(AF_INET6, "2001:db8::7", &a6.sin6_addr);
  check_server(data, size, (const struct sockaddr *)&a4);
  check_server(data, size, (const struct sockaddr *)&a6);
  return 0;
}
