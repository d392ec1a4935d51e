#include "eio/eio_int.h"
#include "tc_test.h"

#include <stdlib.h>

/* ---- helpers --------------------------------------------------------------------------------- */

typedef struct got {
  int n;
  tc_eio_packet_t pkt[16];
  char data[16][64]; /* a copy of each packet's data */
  int stop_at;       /* return non-zero (7) at this packet, or -1 */
} got_t;

static int collect(const tc_eio_packet_t *pkt, void *ud) {
  got_t *g = ud;
  if (g->n < 16) {
    g->pkt[g->n] = *pkt;
    size_t n = pkt->data.len < 63 ? pkt->data.len : 63;
    if (n) memcpy(g->data[g->n], pkt->data.p, n);
    g->data[g->n][n] = 0;
  }
  return g->n++ == g->stop_at ? 7 : 0;
}

/* Decodes a heap copy of exactly len bytes, so that reading past the payload is caught. */
static int decode(const char *payload, size_t len, got_t *g) {
  memset(g, 0, sizeof *g);
  g->stop_at = -1;
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, payload, len);
  int r = tc_eio_decode_payload(copy, len, collect, g);
  free(copy);
  return r;
}

static int decode_ws_str(const char *s, int binary, tc_eio_packet_t *out, char *data) {
  size_t len = strlen(s);
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, s, len);
  int r = tc_eio_decode_ws(copy, len, binary, out);
  if (r == 0) {
    memcpy(data, out->data.p, out->data.len);
    data[out->data.len] = 0;
    out->data.p = (const uint8_t *)data;
  }
  free(copy);
  return r;
}

/* ---- WebSocket messages ---------------------------------------------------------------------- */

static void test_ws_text_types(void) {
  static const char *const msgs[] = {"0{\"sid\":\"x\"}", "1", "2", "2probe", "3probe",
                                     "4hello",           "4", "5", "6",      "4h\xc3\xa9llo"};
  static const int types[] = {0, 1, 2, 2, 3, 4, 4, 5, 6, 4};
  static const char *const data[] = {"{\"sid\":\"x\"}", "", "", "probe", "probe",
                                     "hello",           "", "", "",      "h\xc3\xa9llo"};
  for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
    tc_eio_packet_t p;
    char d[64];
    TC_CHECK_EQ_INT(decode_ws_str(msgs[i], 0, &p, d), 0);
    TC_CHECK_EQ_INT(p.type, types[i]);
    TC_CHECK_EQ_INT(p.binary, 0);
    TC_CHECK_SLICE(p.data, data[i]);
  }
}

static void test_ws_malformed(void) {
  static const char *const bad[] = {"", "7", "9x", "a", "abc", "/", ":", "\x1e", " 4", "B4", "-1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    tc_eio_packet_t p;
    char d[64];
    TC_CHECK_EQ_INT(decode_ws_str(bad[i], 0, &p, d), TC_EPROTO);
  }
}

static void test_ws_binary(void) {
  uint8_t frame[5] = {'4', 0, 1, 0xff, 0x1e};
  tc_eio_packet_t p;
  TC_CHECK_EQ_INT(tc_eio_decode_ws(frame, sizeof frame, 1, &p), 0);
  TC_CHECK_EQ_INT(p.type, TC_EIO_MESSAGE);
  TC_CHECK_EQ_INT(p.binary, 1);
  /* The whole frame is the message: a binary frame has no type byte. */
  TC_CHECK(p.data.p == frame && p.data.len == 5);
  TC_CHECK_EQ_INT(tc_eio_decode_ws(frame, 0, 1, &p), 0);
  TC_CHECK_EQ_INT(p.data.len, 0);
  TC_CHECK_EQ_INT(tc_eio_decode_ws(NULL, 0, 1, &p), 0);
  TC_CHECK_EQ_INT(tc_eio_decode_ws(NULL, 0, 0, &p), TC_EPROTO);
}

static void test_ws_base64_text(void) {
  /* A client that forces base64 sends binary as "b" + base64 in a text frame. */
  tc_eio_packet_t p;
  char d[64];
  TC_CHECK_EQ_INT(decode_ws_str("bAQIDBA==", 0, &p, d), 0);
  TC_CHECK_EQ_INT(p.type, TC_EIO_MESSAGE);
  TC_CHECK_EQ_INT(p.binary, 1);
  TC_CHECK(p.data.len == 4 && !memcmp(p.data.p, "\x01\x02\x03\x04", 4));
  TC_CHECK_EQ_INT(decode_ws_str("b", 0, &p, d), 0);
  TC_CHECK_EQ_INT(p.binary, 1);
  TC_CHECK_EQ_INT(p.data.len, 0);
}

/* ---- base64 as Node reads it ----------------------------------------------------------------- */

static void test_base64_lenient(void) {
  /* Each input with what Node's Buffer.from(s, "base64") gives, as hex. */
  static const char *const cases[][2] = {
      {"AQIDBA==", "01020304"},
      {"AQIDBA", "01020304"},
      {"AQID BA==", "01020304"},
      {"A!QIDBA==", "01020304"},
      {"AQ==IDBA", "01"},
      {"AQIDBA=", "01020304"},
      {"-_-_", "fbffbf"},
      {"+/+/", "fbffbf"},
      {"AQ=D", "01"},
      {"A", ""},
      {"AB", "00"},
      {"ABC", "0010"},
      {"ABCD=", "001083"},
      {"=ABC", ""},
      {"AQ=ID", "01"},
      {"A===", ""},
      {"AB=C=D", "00"},
      {"QUJD\nRA==", "41424344"},
      {"%%%", ""},
      {"A=QID", ""},
      {"AB=CD", "00"},
      {"ABC=D", "0010"},
      {"ABCDE", "001083"},
      {"ABCDEF==GH", "00108310"},
      {"AB\xc3\xa9"
       "CD",
       "001083"},
      {"", ""},
      {"AQ ID-_", "010203fb"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t len = strlen(cases[i][0]);
    uint8_t *buf = malloc(len ? len : 1);
    if (len) memcpy(buf, cases[i][0], len);
    size_t n = tc__eio_base64_decode_lenient(buf, len);
    char hex[64] = {0};
    for (size_t k = 0; k < n && k < 30; k++) snprintf(hex + 2 * k, 3, "%02x", buf[k]);
    TC_CHECK_SLICE(((tc_slice_t){(const uint8_t *)hex, strlen(hex)}), cases[i][1]);
    free(buf);
  }
}

/* ---- polling payloads ------------------------------------------------------------------------ */

static void test_payload_whole(void) {
  got_t g;
  TC_CHECK_EQ_INT(decode("4hello", 6, &g), 0);
  TC_CHECK_EQ_INT(g.n, 1);
  TC_CHECK_EQ_INT(g.pkt[0].type, TC_EIO_MESSAGE);
  TC_CHECK(!strcmp(g.data[0], "hello"));

  const char *three = "4test1\x1e"
                      "4test2\x1e"
                      "4test3";
  TC_CHECK_EQ_INT(decode(three, strlen(three), &g), 0);
  TC_CHECK_EQ_INT(g.n, 3);
  TC_CHECK(!strcmp(g.data[0], "test1") && !strcmp(g.data[1], "test2") &&
           !strcmp(g.data[2], "test3"));

  const char *mixed = "4hello\x1e"
                      "bAQIDBA==\x1e"
                      "2\x1e"
                      "3\x1e"
                      "1\x1e"
                      "6\x1e"
                      "b";
  TC_CHECK_EQ_INT(decode(mixed, strlen(mixed), &g), 0);
  TC_CHECK_EQ_INT(g.n, 7);
  TC_CHECK_EQ_INT(g.pkt[1].binary, 1);
  TC_CHECK(g.pkt[1].data.len == 4 && !memcmp(g.data[1], "\x01\x02\x03\x04", 4));
  TC_CHECK_EQ_INT(g.pkt[2].type, TC_EIO_PING);
  TC_CHECK_EQ_INT(g.pkt[3].type, TC_EIO_PONG);
  TC_CHECK_EQ_INT(g.pkt[4].type, TC_EIO_CLOSE);
  TC_CHECK_EQ_INT(g.pkt[5].type, TC_EIO_NOOP);
  TC_CHECK(g.pkt[6].binary && g.pkt[6].data.len == 0);

  /* Text may hold anything but the separator, including NUL and bytes over 0x7f. */
  const char nul[] = "4a\0b\x1e"
                     "4\xff";
  TC_CHECK_EQ_INT(decode(nul, sizeof nul - 1, &g), 0);
  TC_CHECK_EQ_INT(g.n, 2);
  TC_CHECK_EQ_INT(g.pkt[0].data.len, 3);
  TC_CHECK_EQ_INT(g.pkt[1].data.len, 1);
}

static void test_payload_malformed(void) {
  got_t g;
  /* Node splits first and stops at the first packet it cannot read: the ones before it count. */
  static const struct {
    const char *p;
    int delivered;
  } cases[] = {
      {"", 0},
      {"abc", 0},
      {"\x1e", 0},
      {"4a\x1e", 1},
      {"\x1e"
       "4a",
       0},
      {"4a\x1e\x1e"
       "4b",
       1},
      {"4a\x1e"
       "9",
       1},
      {"4a\x1e"
       "4b\x1e"
       "x",
       2},
      {"7", 0},
      {" 4a", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    TC_CHECK_EQ_INT(decode(cases[i].p, strlen(cases[i].p), &g), TC_EPROTO);
    TC_CHECK_EQ_INT(g.n, cases[i].delivered);
  }
  TC_CHECK_EQ_INT(tc_eio_decode_payload(NULL, 0, collect, &g), TC_EPROTO);
}

static void test_payload_stop(void) {
  got_t g;
  memset(&g, 0, sizeof g);
  g.stop_at = 1;
  char p[] = "4a\x1e"
             "4b\x1e"
             "4c";
  TC_CHECK_EQ_INT(tc_eio_decode_payload((uint8_t *)p, strlen(p), collect, &g), 7);
  TC_CHECK_EQ_INT(g.n, 2);
}

/* Every prefix of a payload (the same bytes cut short) decodes to a prefix of its packets, the
 * last one maybe cut, or fails at a cut packet; never reads past the end. */
static void test_payload_prefixes(void) {
  const char *full = "0{\"x\":1}\x1e"
                     "4hello\x1e"
                     "bAQIDBA==\x1e"
                     "2\x1e"
                     "4\xc3\xa9\x1e"
                     "6";
  size_t len = strlen(full);
  got_t all;
  TC_CHECK_EQ_INT(decode(full, len, &all), 0);
  TC_CHECK_EQ_INT(all.n, 6);
  for (size_t k = 0; k <= len; k++) {
    got_t g;
    int r = decode(full, k, &g);
    TC_CHECK(r == 0 || r == TC_EPROTO);
    TC_CHECK(g.n <= all.n);
    for (int i = 0; i + 1 < g.n; i++) {
      TC_CHECK_EQ_INT(g.pkt[i].type, all.pkt[i].type);
      TC_CHECK(g.pkt[i].data.len == all.pkt[i].data.len &&
               !memcmp(g.data[i], all.data[i], g.pkt[i].data.len));
    }
    if (r == 0 && g.n) TC_CHECK(g.pkt[g.n - 1].type == all.pkt[g.n - 1].type);
  }
}

static void test_encode_polling(void) {
  tc_buf_t b = {0};
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 1, TC_EIO_MESSAGE, 0, "hello", 5), 0);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, TC_EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4), 0);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, TC_EIO_PING, 0, NULL, 0), 0);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, TC_EIO_MESSAGE, 1, NULL, 0), 0);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, TC_EIO_MESSAGE, 1, "\xff\xfe", 2), 0);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, TC_EIO_OPEN, 0, "{}", 2), 0);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), "4hello\x1e"
                                                         "bAQIDBA==\x1e"
                                                         "2\x1e"
                                                         "b\x1e"
                                                         "b//4=\x1e"
                                                         "0{}");
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, 7, 0, NULL, 0), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, 0, -1, 0, NULL, 0), TC_EINVAL);
  tc_buf_free(&b);
}

/* Encoded, then decoded: the same packets come back, whatever the bytes (binary ones of every
 * length mod 3, text without the separator). */
static void test_round_trip(void) {
  uint32_t x = 12345;
  for (int round = 0; round < 200; round++) {
    tc_buf_t b = {0};
    uint8_t data[8][40];
    size_t lens[8];
    int types[8], bins[8];
    int n = 1 + round % 8;
    for (int i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      bins[i] = (x >> 8) & 1;
      types[i] = bins[i] ? TC_EIO_MESSAGE : (int)((x >> 9) % 7);
      lens[i] = (x >> 12) % 40;
      for (size_t k = 0; k < lens[i]; k++) {
        x = x * 1103515245u + 12345u;
        data[i][k] = (uint8_t)(x >> 16);
        if (!bins[i] && data[i][k] == 0x1e) data[i][k] = 'x';
      }
      TC_CHECK_EQ_INT(tc_eio_encode_polling(&b, i == 0, types[i], bins[i], data[i], lens[i]), 0);
    }
    got_t g;
    TC_CHECK_EQ_INT(decode((const char *)tc_buf_data(&b), b.len, &g), 0);
    TC_CHECK_EQ_INT(g.n, n);
    for (int i = 0; i < n && i < g.n; i++) {
      TC_CHECK_EQ_INT(g.pkt[i].type, types[i]);
      TC_CHECK_EQ_INT(g.pkt[i].binary, bins[i]);
      TC_CHECK(g.pkt[i].data.len == lens[i] && !memcmp(g.data[i], data[i], lens[i]));
    }
    tc_buf_free(&b);
  }
}

/* ---- UTF-8 as Node reads a polling body ------------------------------------------------------ */

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *n) {
  *n = 0;
  for (; hex[0] && hex[1]; hex += 2) {
    unsigned v;
    sscanf(hex, "%2x", &v);
    out[(*n)++] = (uint8_t)v;
  }
}

static void test_utf8_repair(void) {
  /* Each input with Node's Buffer.toString("utf8") re-encoded, as hex. */
  static const char *const cases[][2] = {
      {"41", "41"},
      {"ff", "efbfbd"},
      {"c080", "efbfbdefbfbd"},
      {"c2", "efbfbd"},
      {"c241", "efbfbd41"},
      {"e282", "efbfbd"},
      {"e282ac", "e282ac"},
      {"e08080", "efbfbdefbfbdefbfbd"},
      {"eda080", "efbfbdefbfbdefbfbd"},
      {"f09080", "efbfbd"},
      {"f0908080", "f0908080"},
      {"f4908080", "efbfbdefbfbdefbfbdefbfbd"},
      {"f580", "efbfbdefbfbd"},
      {"e228a1", "efbfbd28efbfbd"},
      {"8080", "efbfbdefbfbd"},
      {"f0808080", "efbfbdefbfbdefbfbdefbfbd"},
      {"e180e18080", "efbfbde18080"},
      {"c3a9ff41", "c3a9efbfbd41"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint8_t in[16], want[32];
    size_t nin, nwant;
    hex_to_bytes(cases[i][0], in, &nin);
    hex_to_bytes(cases[i][1], want, &nwant);
    tc_buf_t out = {0};
    TC_CHECK_EQ_INT(tc__eio_utf8_repair(in, nin, &out), 0);
    TC_CHECK(out.len == nwant && (nwant == 0 || !memcmp(tc_buf_data(&out), want, nwant)));
    if (out.len) TC_CHECK_EQ_INT(tc_utf8_check(tc_buf_data(&out), out.len), 0);
    tc_buf_free(&out);
  }
}

/* ---- shared packets -------------------------------------------------------------------------- */

static void test_shared(void) {
  tc_eio_shared_t *m = tc_eio_shared_new(0, "hi", 2);
  TC_CHECK(m != NULL);
  /* A text message is framed once: FIN + text, length 3, then "4hi". */
  TC_CHECK_EQ_INT(m->hdr_len, 2);
  TC_CHECK(!memcmp(m->frame,
                   "\x81\x03"
                   "4hi",
                   5));
  tc_eio_shared_unref(m);

  uint8_t big[70000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
  m = tc_eio_shared_new(1, big, sizeof big);
  TC_CHECK(m != NULL);
  TC_CHECK_EQ_INT(m->hdr_len, 10);
  TC_CHECK(m->frame[0] == 0x82 && m->frame[1] == 127);
  TC_CHECK(!memcmp(m->frame + 10, big, sizeof big));
  TC_CHECK(m->io.p == m->frame && m->io.len == 10 + sizeof big);
  size_t n;
  const char *b64 = tc__eio_shared_b64(m, &n);
  TC_CHECK(b64 && n == 1 + (sizeof big + 2) / 3 * 4 && b64[0] == 'b');
  TC_CHECK(tc__eio_shared_b64(m, &n) == b64);
  m->io.refs++;
  tc_eio_shared_unref(m);
  tc_eio_shared_unref(m);
  tc_eio_shared_unref(NULL);

  m = tc_eio_shared_new(0, NULL, 0);
  TC_CHECK(m && !memcmp(m->frame,
                        "\x81\x01"
                        "4",
                        3));
  tc_eio_shared_unref(m);
}

int main(void) {
  TC_RUN(test_ws_text_types);
  TC_RUN(test_ws_malformed);
  TC_RUN(test_ws_binary);
  TC_RUN(test_ws_base64_text);
  TC_RUN(test_base64_lenient);
  TC_RUN(test_payload_whole);
  TC_RUN(test_payload_malformed);
  TC_RUN(test_payload_stop);
  TC_RUN(test_payload_prefixes);
  TC_RUN(test_encode_polling);
  TC_RUN(test_round_trip);
  TC_RUN(test_utf8_repair);
  TC_RUN(test_shared);
  return tc_test_end();
}
