/* The sans-I/O WebSocket endpoint: every input whole, byte by byte and split at every offset,
 * the way the I/O layer presents it (unconsumed bytes come back at the front, as left). */
#include "tc_test.h"
#include "tincan/ws.h"

#include <stdlib.h>

typedef struct rec {
  int n;
  int opcode[16];
  size_t len[16];
  uint8_t data[16][256];
  int pings, pongs;
} rec_t;

static void rec_message(tc_ws_t *ws, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ws;
  rec_t *r = ud;
  if (r->n < 16) {
    r->opcode[r->n] = opcode;
    r->len[r->n] = len;
    memcpy(r->data[r->n], data, len < 256 ? len : 256);
  }
  r->n++;
}

static void rec_ping(tc_ws_t *ws, const uint8_t *d, size_t n, void *ud) {
  (void)ws, (void)d, (void)n;
  ((rec_t *)ud)->pings++;
}

static void rec_pong(tc_ws_t *ws, const uint8_t *d, size_t n, void *ud) {
  (void)ws, (void)d, (void)n;
  ((rec_t *)ud)->pongs++;
}

static uint64_t seed = 12345;
static void test_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = (uint8_t)(seed >> 56);
  }
}

static const tc_ws_config_t server_cfg = {
    .cb = {.on_message = rec_message, .on_ping = rec_ping, .on_pong = rec_pong}};
static const tc_ws_config_t client_cfg = {
    .client = 1,
    .random = test_random,
    .cb = {.on_message = rec_message, .on_ping = rec_ping, .on_pong = rec_pong}};
static const tc_ws_config_t server_small_cfg = {
    .max_message = 1000,
    .cb = {.on_message = rec_message, .on_ping = rec_ping, .on_pong = rec_pong}};

static tc_ws_t *make(int client, rec_t *r, const tc_ws_deflate_params_t *dp, uint64_t max) {
  const tc_ws_config_t *cfg = client ? &client_cfg : max ? &server_small_cfg : &server_cfg;
  tc_ws_t *ws = NULL;
  TC_CHECK_EQ_INT(tc_ws_new(cfg, dp, r, &ws), 0);
  return ws;
}

/* Feeds input in pieces cut at the given offsets (ascending, ending at len). Returns the last
 * result of tc_ws_feed (TC_ECLOSED once closed). out collects what the endpoint wrote. */
static ssize_t feed_cuts(tc_ws_t *ws, const uint8_t *in, size_t len, const size_t *cuts,
                         size_t ncuts, tc_buf_t *out) {
  tc_buf_t held = {0};
  size_t at = 0;
  ssize_t r = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    tc_buf_append(&held, in + at, end - at);
    at = end;
    r = tc_ws_feed(ws, tc_buf_data(&held), held.len, out);
    if (r < 0) break;
    tc_buf_consume(&held, (size_t)r);
  }
  tc_buf_free(&held);
  return r;
}

/* Runs fn's expectations with the input whole, byte by byte, and cut once at every offset. */
typedef void (*check_fn)(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts);

static void every_split(const uint8_t *in, size_t len, check_fn fn) {
  fn(in, len, NULL, 0);
  size_t *cuts = malloc(len * sizeof *cuts);
  for (size_t i = 0; i + 1 < len; i++) cuts[i] = i + 1;
  fn(in, len, cuts, len ? len - 1 : 0);
  for (size_t i = 1; i < len; i++) fn(in, len, &i, 1);
  free(cuts);
}

/* Builds a masked (client) or plain frame. */
static size_t frame(uint8_t *out, int fin, int rsv, int opcode, const void *p, size_t n,
                    int masked) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t h = tc_ws_frame_write(out, fin, 0, opcode, n, masked ? key : NULL);
  out[0] |= (uint8_t)(rsv << 4);
  memcpy(out + h, p, n);
  if (masked) tc_ws_mask(out + h, n, key, 0);
  return h + n;
}

/* ---- valid input ---------------------------------------------------------------------------- */

static void check_rfc_hello(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts) {
  rec_t r = {0};
  tc_ws_t *ws = make(0, &r, NULL, 0);
  tc_buf_t out = {0};
  TC_CHECK(feed_cuts(ws, in, len, cuts, ncuts, &out) >= 0);
  TC_CHECK_EQ_INT(r.n, 1);
  TC_CHECK_EQ_INT(r.opcode[0], TC_WS_OP_TEXT);
  TC_CHECK(r.len[0] == 5 && memcmp(r.data[0], "Hello", 5) == 0);
  TC_CHECK_EQ_INT(out.len, 0);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

static void test_rfc_examples(void) {
  /* RFC 6455 section 5.7: a masked "Hello" from a client */
  static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  every_split(hello, sizeof hello, check_rfc_hello);

  /* and a fragmented unmasked "Hello" from a server, to a client */
  static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
  rec_t r = {0};
  tc_ws_t *ws = make(1, &r, NULL, 0);
  tc_buf_t out = {0};
  TC_CHECK(feed_cuts(ws, frag, sizeof frag, NULL, 0, &out) >= 0);
  TC_CHECK(r.n == 1 && r.len[0] == 5 && memcmp(r.data[0], "Hello", 5) == 0);
  /* an unmasked ping "Hello" gets a masked pong "Hello" */
  static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  TC_CHECK(feed_cuts(ws, ping, sizeof ping, NULL, 0, &out) >= 0);
  TC_CHECK_EQ_INT(r.pings, 1);
  tc_ws_frame_t f;
  TC_CHECK_EQ_INT(tc_ws_frame_parse(tc_buf_data(&out), out.len, &f), 6);
  TC_CHECK(f.opcode == TC_WS_OP_PONG && f.masked && f.payload_len == 5);
  tc_ws_mask(tc_buf_data(&out) + 6, 5, f.mask, 0);
  TC_CHECK(memcmp(tc_buf_data(&out) + 6, "Hello", 5) == 0);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

/* A fragmented text message with a ping between fragments, a UTF-8 character split across
 * fragments, then a 300-byte binary message (16-bit length) and a 70000-byte one (64-bit). */
static uint8_t big_in[80000];
static size_t big_len;

static void check_mixed(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts) {
  rec_t r = {0};
  tc_ws_t *ws = make(0, &r, NULL, 0);
  tc_buf_t out = {0};
  TC_CHECK(feed_cuts(ws, in, len, cuts, ncuts, &out) >= 0);
  TC_CHECK_EQ_INT(r.n, 3);
  TC_CHECK_EQ_INT(r.pings, 1);
  TC_CHECK(r.opcode[0] == TC_WS_OP_TEXT && r.len[0] == 7 &&
           memcmp(r.data[0],
                  "ab\xce\xba"
                  "cd!",
                  7) == 0);
  TC_CHECK(r.opcode[1] == TC_WS_OP_BINARY && r.len[1] == 300 &&
           r.data[1][255] == (uint8_t)(255 * 7));
  TC_CHECK(r.opcode[2] == TC_WS_OP_BINARY && r.len[2] == 70000);
  /* the pong, unmasked from a server */
  TC_CHECK(out.len == 4 && tc_buf_data(&out)[0] == 0x8a && tc_buf_data(&out)[1] == 2);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

static void test_mixed_splits(void) {
  uint8_t *p = big_in;
  p += frame(p, 0, 0, TC_WS_OP_TEXT, "ab\xce", 3, 1);
  p += frame(p, 1, 0, TC_WS_OP_PING, "pp", 2, 1);
  p += frame(p, 0, 0, TC_WS_OP_CONT,
             "\xba"
             "cd",
             3, 1);
  p += frame(p, 1, 0, TC_WS_OP_CONT, "!", 1, 1);
  uint8_t bin[300];
  for (int i = 0; i < 300; i++) bin[i] = (uint8_t)(i * 7);
  p += frame(p, 1, 0, TC_WS_OP_BINARY, bin, sizeof bin, 1);
  size_t small = (size_t)(p - big_in);
  static uint8_t large[70000];
  memset(large, 'z', sizeof large);
  p += frame(p, 1, 0, TC_WS_OP_BINARY, large, sizeof large, 1);
  big_len = (size_t)(p - big_in);
  /* every split of the small part; the large frame whole and byte by byte */
  check_mixed(big_in, big_len, NULL, 0);
  for (size_t i = 1; i < small; i++) check_mixed(big_in, big_len, &i, 1);
  size_t *cuts = malloc(big_len * sizeof *cuts);
  for (size_t i = 0; i + 1 < big_len; i++) cuts[i] = i + 1;
  check_mixed(big_in, big_len, cuts, big_len - 1);
  free(cuts);
}

/* ---- closing ----------------------------------------------------------------------------------
 */

static void test_close_handshake(void) {
  rec_t r = {0};
  tc_ws_t *ws = make(0, &r, NULL, 0);
  tc_buf_t out = {0};
  uint8_t in[64];
  size_t n = frame(in, 1, 0, TC_WS_OP_CLOSE,
                   "\x03\xe8"
                   "bye",
                   5, 1);
  TC_CHECK_EQ_INT(feed_cuts(ws, in, n, NULL, 0, &out), TC_ECLOSED);
  TC_CHECK_EQ_INT(tc_ws_state(ws), TC_WS_CLOSE_RECEIVED);
  TC_CHECK_EQ_INT(tc_ws_close_code(ws), 1000);
  TC_CHECK_SLICE(tc_ws_close_reason(ws), "bye");
  /* our answer carries the same code */
  TC_CHECK(out.len == 4 && memcmp(tc_buf_data(&out), "\x88\x02\x03\xe8", 4) == 0);
  TC_CHECK_EQ_INT(tc_ws_send(ws, TC_WS_OP_TEXT, "x", 1, &out), TC_ECLOSED);
  tc_buf_free(&out);
  tc_ws_free(ws);

  /* we close first: data still arriving is delivered, then the peer's close ends it */
  memset(&r, 0, sizeof r);
  ws = make(0, &r, NULL, 0);
  TC_CHECK_EQ_INT(tc_ws_send_close(ws, 4000, "done", &out), 0);
  TC_CHECK_EQ_INT(tc_ws_state(ws), TC_WS_CLOSE_SENT);
  TC_CHECK_EQ_INT(tc_ws_send_close(ws, 1000, NULL, &out), TC_ECLOSED);
  size_t m = frame(in, 1, 0, TC_WS_OP_TEXT, "late", 4, 1);
  m += frame(in + m, 1, 0, TC_WS_OP_CLOSE, "\x0f\xa0", 2, 1);
  out.len = 0;
  TC_CHECK_EQ_INT(feed_cuts(ws, in, m, NULL, 0, &out), TC_ECLOSED);
  TC_CHECK_EQ_INT(r.n, 1);
  TC_CHECK_EQ_INT(out.len, 0); /* no second close frame */
  TC_CHECK_EQ_INT(tc_ws_close_code(ws), 4000);
  tc_buf_free(&out);
  tc_ws_free(ws);

  /* a close frame without a code is reported as 1005 and answered without one */
  memset(&r, 0, sizeof r);
  ws = make(0, &r, NULL, 0);
  n = frame(in, 1, 0, TC_WS_OP_CLOSE, "", 0, 1);
  TC_CHECK_EQ_INT(feed_cuts(ws, in, n, NULL, 0, &out), TC_ECLOSED);
  TC_CHECK_EQ_INT(tc_ws_close_code(ws), 1005);
  TC_CHECK(out.len == 2 && memcmp(tc_buf_data(&out), "\x88\x00", 2) == 0);
  tc_buf_free(&out);
  tc_ws_free(ws);
  /* bad arguments to send_close */
  ws = make(0, &r, NULL, 0);
  TC_CHECK_EQ_INT(tc_ws_send_close(ws, 1005, NULL, &out), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_send_close(ws, 1000, "\xff", &out), TC_EINVAL);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

/* ---- failures ---------------------------------------------------------------------------------
 */

/* Feeds a server endpoint (max message 1000) and expects a failure with `code`. */
static void expect_fail(const uint8_t *in, size_t len, int code, int messages_before) {
  for (int split = 0; split < 2; split++) {
    rec_t r = {0};
    tc_ws_t *ws = make(0, &r, NULL, 1000);
    tc_buf_t out = {0};
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i + 1 < len; i++) cuts[i] = i + 1;
    ssize_t res = feed_cuts(ws, in, len, cuts, split ? len - 1 : 0, &out);
    free(cuts);
    TC_CHECK_EQ_INT(res, TC_ECLOSED);
    TC_CHECK_EQ_INT(tc_ws_state(ws), TC_WS_FAILED);
    TC_CHECK_EQ_INT(tc_ws_close_code(ws), code);
    TC_CHECK_EQ_INT(r.n, messages_before);
    /* the failure's close frame is the last thing written, with the code */
    tc_ws_frame_t f;
    uint8_t *o = tc_buf_data(&out);
    size_t at = 0;
    while (at < out.len && tc_ws_frame_parse(o + at, out.len - at, &f) > 0 &&
           f.opcode != TC_WS_OP_CLOSE)
      at += f.header_len + f.payload_len;
    TC_CHECK(at < out.len && f.opcode == TC_WS_OP_CLOSE && f.payload_len >= 2);
    if (at < out.len) TC_CHECK_EQ_INT(o[at + 2] << 8 | o[at + 3], code);
    tc_buf_free(&out);
    tc_ws_free(ws);
  }
}

static void test_failures(void) {
  uint8_t in[4096];
  size_t n;
  n = frame(in, 1, 0, TC_WS_OP_TEXT, "x", 1, 0);
  expect_fail(in, n, 1002, 0); /* unmasked client frame */
  n = frame(in, 1, 4, TC_WS_OP_TEXT, "x", 1, 1);
  expect_fail(in, n, 1002, 0); /* RSV1 without an extension */
  n = frame(in, 1, 2, TC_WS_OP_BINARY, "x", 1, 1);
  expect_fail(in, n, 1002, 0); /* RSV2 */
  n = frame(in, 1, 0, 3, "x", 1, 1);
  expect_fail(in, n, 1002, 0); /* reserved data opcode */
  n = frame(in, 1, 0, 0xb, "", 0, 1);
  expect_fail(in, n, 1002, 0); /* reserved control opcode */
  n = frame(in, 0, 0, TC_WS_OP_PING, "x", 1, 1);
  expect_fail(in, n, 1002, 0); /* fragmented ping */
  uint8_t ctl[126];
  memset(ctl, 'p', sizeof ctl);
  n = frame(in, 1, 0, TC_WS_OP_PING, ctl, 126, 1);
  expect_fail(in, n, 1002, 0); /* control frame over 125 bytes */
  n = frame(in, 1, 0, TC_WS_OP_CONT, "x", 1, 1);
  expect_fail(in, n, 1002, 0); /* continuation without a message */
  n = frame(in, 0, 0, TC_WS_OP_TEXT, "a", 1, 1);
  n += frame(in + n, 1, 0, TC_WS_OP_TEXT, "b", 1, 1);
  expect_fail(in, n, 1002, 0); /* a new message inside a fragmented one */
  n = frame(in, 1, 0, TC_WS_OP_CLOSE, "\x03", 1, 1);
  expect_fail(in, n, 1002, 0); /* close payload of one byte */
  n = frame(in, 1, 0, TC_WS_OP_CLOSE, "\x03\xed", 2, 1);
  expect_fail(in, n, 1002, 0); /* close code 1005 may not be sent */
  n = frame(in, 1, 0, TC_WS_OP_CLOSE, "\x03\xe8\xff", 3, 1);
  expect_fail(in, n, 1007, 0); /* close reason not UTF-8 */
  n = frame(in, 1, 0, TC_WS_OP_TEXT, "ok", 2, 1);
  n += frame(in + n, 1, 0, TC_WS_OP_TEXT,
             "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14, 1);
  expect_fail(in, n, 1007, 1); /* a surrogate in text */
  n = frame(in, 0, 0, TC_WS_OP_TEXT, "\xf4\x90", 2, 1);
  expect_fail(in, n, 1007, 0); /* fails fast: at the fragment, before FIN */
  n = frame(in, 1, 0, TC_WS_OP_TEXT, "\xce", 1, 1);
  expect_fail(in, n, 1007, 0); /* text ends mid-character */
  uint8_t big[1001];
  memset(big, 'a', sizeof big);
  n = frame(in, 1, 0, TC_WS_OP_BINARY, big, 1001, 1);
  expect_fail(in, n, 1009, 0); /* over max_message */
  n = frame(in, 0, 0, TC_WS_OP_BINARY, big, 600, 1);
  n += frame(in + n, 1, 0, TC_WS_OP_CONT, big, 401, 1);
  expect_fail(in, n, 1009, 0); /* over max_message across fragments */
  /* a 64-bit length with the top bit set */
  static const uint8_t huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  expect_fail(huge, sizeof huge, 1002, 0);

  /* fail fast inside one frame: the bad byte arrives before the frame is complete */
  rec_t r = {0};
  tc_ws_t *ws = make(0, &r, NULL, 0);
  tc_buf_t out = {0};
  n = frame(in, 1, 0, TC_WS_OP_TEXT,
            "abc\xff"
            "defghijklmnop",
            17, 1);
  TC_CHECK_EQ_INT(tc_ws_feed(ws, in, 10, &out), TC_ECLOSED);
  TC_CHECK_EQ_INT(tc_ws_close_code(ws), 1007);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

/* ---- sending and compression ------------------------------------------------------------------
 */

static void round_trip(const tc_ws_deflate_params_t *dp) {
  rec_t rs = {0}, rc = {0};
  tc_ws_t *srv = make(0, &rs, dp, 0), *cli = make(1, &rc, dp, 0);
  tc_buf_t wire = {0}, back = {0};
  static uint8_t msg[5000];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)("tincan "[i % 7]);
  for (int round = 0; round < 3; round++) {
    wire.len = wire.off = 0;
    TC_CHECK_EQ_INT(tc_ws_send(cli, TC_WS_OP_TEXT, msg, sizeof msg, &wire), 0);
    TC_CHECK_EQ_INT(tc_ws_send(cli, TC_WS_OP_BINARY, "tiny", 4, &wire), 0);
    TC_CHECK_EQ_INT(tc_ws_send_fragment(cli, TC_WS_OP_TEXT, "fr", 2, 0, &wire), 0);
    TC_CHECK_EQ_INT(tc_ws_send_fragment(cli, TC_WS_OP_CONT, "ag", 2, 1, &wire), 0);
    TC_CHECK_EQ_INT(tc_ws_send_ping(cli, "p", 1, &wire), 0);
    if (dp) TC_CHECK(wire.len < sizeof msg); /* the long message went compressed */
    ssize_t used = tc_ws_feed(srv, tc_buf_data(&wire), wire.len, &back);
    TC_CHECK_EQ_INT(used, (ssize_t)wire.len);
    TC_CHECK_EQ_INT(rs.n, 3 * (round + 1));
    TC_CHECK(rs.len[3 * round] == sizeof msg && memcmp(rs.data[3 * round], msg, 256) == 0);
    TC_CHECK(rs.len[3 * round + 1] == 4 && rs.opcode[3 * round + 1] == TC_WS_OP_BINARY);
    TC_CHECK(rs.len[3 * round + 2] == 4 && memcmp(rs.data[3 * round + 2], "frag", 4) == 0);
    /* the server's answers (the pong, then an echo) go back to the client */
    TC_CHECK_EQ_INT(tc_ws_send(srv, TC_WS_OP_TEXT, msg, sizeof msg, &back), 0);
    used = tc_ws_feed(cli, tc_buf_data(&back), back.len, &wire);
    TC_CHECK_EQ_INT(used, (ssize_t)back.len);
    back.len = back.off = 0;
    TC_CHECK_EQ_INT(rc.pongs, round + 1);
    TC_CHECK(rc.n == round + 1 && rc.len[round] == sizeof msg);
  }
  tc_buf_free(&wire);
  tc_buf_free(&back);
  tc_ws_free(srv);
  tc_ws_free(cli);
}

static void test_send_and_deflate(void) {
  round_trip(NULL);
  tc_ws_deflate_params_t dp = {.server_max_window_bits = 15, .client_max_window_bits = 15};
  round_trip(&dp);
  dp.server_no_context_takeover = dp.client_no_context_takeover = 1;
  round_trip(&dp);
  dp = (tc_ws_deflate_params_t){.server_max_window_bits = 8, .client_max_window_bits = 8};
  round_trip(&dp);
  /* server frames: the shortest length encodings, never masked */
  rec_t r = {0};
  tc_ws_t *ws = make(0, &r, NULL, 0);
  tc_buf_t out = {0};
  static uint8_t p[70000];
  size_t sizes[] = {0, 125, 126, 65535, 65536};
  size_t hdr[] = {2, 2, 4, 4, 10};
  for (int i = 0; i < 5; i++) {
    out.len = out.off = 0;
    TC_CHECK_EQ_INT(tc_ws_send(ws, TC_WS_OP_BINARY, p, sizes[i], &out), 0);
    tc_ws_frame_t f;
    TC_CHECK_EQ_INT(tc_ws_frame_parse(tc_buf_data(&out), out.len, &f), (ssize_t)hdr[i]);
    TC_CHECK(!f.masked && f.fin && f.payload_len == sizes[i] && out.len == hdr[i] + sizes[i]);
  }
  TC_CHECK_EQ_INT(tc_ws_send_ping(ws, p, 126, &out), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_send(ws, TC_WS_OP_PING, p, 1, &out), TC_EINVAL);
  tc_buf_free(&out);
  tc_ws_free(ws);
}

int main(void) {
  TC_RUN(test_rfc_examples);
  TC_RUN(test_mixed_splits);
  TC_RUN(test_close_handshake);
  TC_RUN(test_failures);
  TC_RUN(test_send_and_deflate);
  return tc_test_end();
}
