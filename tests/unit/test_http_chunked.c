#include "tc_test.h"
#include "tincan/http.h"

#include <stdlib.h>

typedef struct result {
  ssize_t err;     /* 0 or the error code */
  size_t consumed; /* total over all feeds */
  int done;
  tc_buf_t body;
} result_t;

/* Feeds in[0..len) in pieces ending at the given cut points (ascending, each < len), each piece a
 * heap copy of its exact size. Stops at the first error or once the decoder is done. */
static result_t feed_cuts(const uint8_t *in, size_t len, uint64_t max_body, const size_t *cuts,
                          size_t ncuts) {
  result_t res = {0};
  tc_http_chunked_t d = {0};
  d.max_body = max_body;
  size_t start = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t stop = i < ncuts ? cuts[i] : len;
    size_t n = stop - start;
    uint8_t *piece = malloc(n ? n : 1);
    memcpy(piece, in + start, n);
    ssize_t r = tc_http_chunked_feed(&d, piece, n, &res.body);
    free(piece);
    if (r < 0) {
      res.err = r;
      break;
    }
    if (!d.done && (size_t)r != n) {
      res.err = 1; /* not done, yet not everything consumed: a contract breach */
      break;
    }
    res.consumed += (size_t)r;
    if (d.done) break;
    start = stop;
  }
  res.done = d.done;
  if (!res.err) TC_CHECK_EQ_INT(d.total, res.body.len);
  return res;
}

static int same(const result_t *a, const result_t *b) {
  return a->err == b->err && a->done == b->done && (a->err || a->consumed == b->consumed) &&
         a->body.len == b->body.len &&
         (a->body.len == 0 ||
          memcmp(tc_buf_data(&a->body), tc_buf_data(&b->body), a->body.len) == 0);
}

/* Whole, then split at every offset into two pieces, then at every pair into three, then byte by
 * byte: all must agree. */
static result_t decode(const char *s, size_t len, uint64_t max_body, int line) {
  const uint8_t *in = (const uint8_t *)s;
  result_t whole = feed_cuts(in, len, max_body, NULL, 0);
  int bad = 0;
  for (size_t i = 0; i <= len && !bad; i++) {
    result_t r = feed_cuts(in, len, max_body, &i, 1);
    if (!same(&r, &whole)) {
      fprintf(stderr, "line %d: split at %zu differs (err %zd vs %zd)\n", line, i, r.err,
              whole.err);
      bad = 1;
    }
    tc_buf_free(&r.body);
  }
  for (size_t i = 0; i <= len && !bad && len <= 200; i++) {
    for (size_t j = i; j <= len && !bad; j++) {
      size_t cuts[2] = {i, j};
      result_t r = feed_cuts(in, len, max_body, cuts, 2);
      if (!same(&r, &whole)) {
        fprintf(stderr, "line %d: split at %zu,%zu differs\n", line, i, j);
        bad = 1;
      }
      tc_buf_free(&r.body);
    }
  }
  size_t *cuts = malloc((len + 1) * sizeof *cuts);
  for (size_t i = 0; i < len; i++) cuts[i] = i + 1;
  result_t r = feed_cuts(in, len, max_body, cuts, len ? len - 1 : 0);
  free(cuts);
  if (!bad && !same(&r, &whole)) {
    fprintf(stderr, "line %d: byte-by-byte differs\n", line);
    bad = 1;
  }
  tc_buf_free(&r.body);
  tc_test_checks++;
  if (bad) tc_test_failures++;
  return whole;
}

static void expect_body(const char *s, size_t len, const char *body, size_t body_len,
                        size_t consumed, int line) {
  result_t r = decode(s, len, 0, line);
  tc_test_checks++;
  if (r.err || !r.done || r.consumed != consumed || r.body.len != body_len ||
      (body_len && memcmp(tc_buf_data(&r.body), body, body_len) != 0)) {
    tc_test_failures++;
    fprintf(stderr, "line %d: err %zd done %d consumed %zu (want %zu) body %zu (want %zu)\n", line,
            r.err, r.done, r.consumed, consumed, r.body.len, body_len);
  }
  tc_buf_free(&r.body);
}

static void expect_err(const char *s, size_t len, uint64_t max_body, ssize_t err, int line) {
  result_t r = decode(s, len, max_body, line);
  tc_test_checks++;
  if (r.err != err) {
    tc_test_failures++;
    fprintf(stderr, "line %d: err %zd, expected %zd\n", line, r.err, err);
  }
  tc_buf_free(&r.body);
}

#define BODY(in, out)                                                                              \
  expect_body(in, sizeof(in) - 1, out, sizeof(out) - 1, sizeof(in) - 1, __LINE__)
#define BAD(in) expect_err(in, sizeof(in) - 1, 0, TC_EPROTO, __LINE__)

static void test_valid(void) {
  BODY("0\r\n\r\n", "");
  BODY("5\r\nhello\r\n0\r\n\r\n", "hello");
  BODY("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
  BODY("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
  BODY("00005\r\nhello\r\n000\r\n\r\n", "hello");
  BODY("000000000000000A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
  BODY("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n");
  /* Chunk data is opaque: framing bytes inside it mean nothing. */
  BODY("7\r\n0\r\n\r\n\x00\xff\r\n0\r\n\r\n", "0\r\n\r\n\x00\xff");
  /* Bare LF everywhere. */
  BODY("5\nhello\n0\n\n", "hello");
  BODY("5\r\nhello\n0\nX: y\n\r\n", "hello");
  /* Extensions, with BWS before ';' and quoted values. */
  BODY("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello");
  BODY("5 ; a=b ;c=\"q;x y\"\r\nhello\r\n0\t;z\r\n\r\n", "hello");
  BODY("5;\xc3\xa9=\x80\r\nhello\r\n0\r\n\r\n", "hello");
  /* Trailers are read and dropped. */
  BODY("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other:\tvalue \xc3\xa9\r\n\r\n", "hello");
}

static void test_rest_is_left(void) {
  const char in[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  expect_body(in, sizeof(in) - 1, "abc", 3, 13, __LINE__);
  const char in2[] = "0\n\nX";
  expect_body(in2, sizeof(in2) - 1, "", 0, 3, __LINE__);

  tc_http_chunked_t d = {0};
  tc_buf_t out = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)in, sizeof(in) - 1, &out), 13);
  TC_CHECK(d.done);
  TC_CHECK_EQ_INT(d.total, 3);
  /* Once done, further bytes are not for this decoder. */
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)"5\r\n", 3, &out), 0);
  TC_CHECK_EQ_INT(out.len, 3);
  tc_buf_free(&out);
}

static void test_invalid(void) {
  BAD("\r\n");
  BAD("\n");
  BAD("g\r\n");
  BAD("-5\r\nhello\r\n");
  BAD("+5\r\nhello\r\n");
  BAD("0x5\r\nhello\r\n");
  BAD(" 5\r\nhello\r\n");
  BAD(";x\r\n");
  BAD("5\rhello\r\n");
  BAD("5\r\r\nhello\r\n");
  BAD("5 \r\nhello\r\n0\r\n\r\n");
  BAD("5 x\r\nhello\r\n");
  BAD("5x\r\nhello\r\n");
  /* 17 hex digits, even with leading zeros, and an overflowing size. */
  BAD("00000000000000005\r\nhello\r\n");
  BAD("10000000000000000\r\n");
  /* Data not followed by a line end. */
  BAD("5\r\nhelloX\r\n0\r\n\r\n");
  BAD("5\r\nhello\rX0\r\n\r\n");
  BAD("5\r\nhello\r\r\n0\r\n\r\n");
  BAD("5\r\nhello0\r\n\r\n");
  /* Control characters and bare CR in extensions. */
  BAD("5;a\x01\r\nhello\r\n");
  BAD("5;a\x7f\r\nhello\r\n");
  BAD("5;a\rb\r\nhello\r\n");
  BAD("5;a\0\r\nhello\r\n");
  /* Trailers: obs-fold, control characters, bare CR. */
  BAD("0\r\nX: a\r\n b\r\n\r\n");
  BAD("0\r\n\tX: a\r\n\r\n");
  BAD("0\r\nX: a\x01\r\n\r\n");
  BAD("0\r\nX: a\rb\r\n\r\n");
  BAD("0\r\n\rX\r\n");
  BAD("0\r\nX: a\r\n\rX");
}

static void test_bounds(void) {
  /* A size line of up to 4 KiB is fine; beyond that it is refused. */
  size_t n = 5000;
  char *in = malloc(n + 64);
  memcpy(in, "1;", 2);
  memset(in + 2, 'x', 4091);
  size_t k = 2 + 4091;
  memcpy(in + k, "\r\na\r\n0\r\n\r\n", 10);
  k += 10;
  result_t r = feed_cuts((const uint8_t *)in, k, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, 0);
  TC_CHECK(r.done);
  TC_CHECK_EQ_INT(r.body.len, 1);
  tc_buf_free(&r.body);
  memcpy(in, "1;", 2);
  memset(in + 2, 'x', 4200);
  memcpy(in + 4202, "\r\na\r\n0\r\n\r\n", 10);
  r = feed_cuts((const uint8_t *)in, 4212, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, TC_EPROTO);
  tc_buf_free(&r.body);
  /* Endless extensions are refused without waiting for the line end. */
  memset(in + 2, 'x', 4500);
  r = feed_cuts((const uint8_t *)in, 4502, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, TC_EPROTO);
  tc_buf_free(&r.body);
  /* Endless whitespace before ';' too. */
  in[0] = '1';
  memset(in + 1, ' ', 4500);
  r = feed_cuts((const uint8_t *)in, 4501, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, TC_EPROTO);
  tc_buf_free(&r.body);
  free(in);

  /* Trailers: 8 KiB in all. */
  n = 20000;
  in = malloc(n);
  memcpy(in, "0\r\n", 3);
  k = 3;
  for (int i = 0; i < 100; i++) k += (size_t)snprintf(in + k, n - k, "X-T%02d: %060d\r\n", i, i);
  memcpy(in + k, "\r\n", 2);
  k += 2;
  r = feed_cuts((const uint8_t *)in, k, 0, NULL, 0); /* 100 * 69 = 6900 bytes */
  TC_CHECK_EQ_INT(r.err, 0);
  TC_CHECK(r.done);
  TC_CHECK_EQ_INT(r.consumed, k);
  tc_buf_free(&r.body);
  k -= 2;
  for (int i = 100; i < 130; i++) k += (size_t)snprintf(in + k, n - k, "X-T%02d: %060d\r\n", i, i);
  memcpy(in + k, "\r\n", 2);
  k += 2;
  r = feed_cuts((const uint8_t *)in, k, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, TC_EPROTO);
  tc_buf_free(&r.body);
  /* One endless trailer line. */
  memset(in + 3, 'x', 10000);
  r = feed_cuts((const uint8_t *)in, 10003, 0, NULL, 0);
  TC_CHECK_EQ_INT(r.err, TC_EPROTO);
  tc_buf_free(&r.body);
  free(in);
}

static void test_max_body(void) {
  const char in[] = "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
  result_t r = decode(in, sizeof(in) - 1, 8, __LINE__);
  TC_CHECK_EQ_INT(r.err, 0);
  TC_CHECK_EQ_INT(r.body.len, 8);
  tc_buf_free(&r.body);
  expect_err(in, sizeof(in) - 1, 7, TC_E2BIG, __LINE__);
  expect_err(in, sizeof(in) - 1, 4, TC_E2BIG, __LINE__);
  /* Refused as soon as the size is known, before any of the data arrives. */
  tc_http_chunked_t d = {.max_body = 1000};
  tc_buf_t out = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)"ffffffffffffffff\r\n", 18, &out),
                  TC_E2BIG);
  /* Errors stick. */
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)"0\r\n\r\n", 5, &out), TC_E2BIG);
  TC_CHECK_EQ_INT(out.len, 0);
  /* Without a limit a huge size is accepted and its data awaited. */
  tc_http_chunked_t u = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&u, (const uint8_t *)"ffffffffffffffff\r\nab", 20, &out),
                  20);
  TC_CHECK_EQ_INT(u.remaining, UINT64_MAX - 2);
  TC_CHECK_EQ_INT(u.total, 2);
  TC_CHECK(!u.done);
  tc_buf_free(&out);
}

static void test_misc(void) {
  /* Sticky protocol errors. */
  tc_http_chunked_t d = {0};
  tc_buf_t out = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)"z", 1, &out), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&d, (const uint8_t *)"0\r\n\r\n", 5, &out), TC_EPROTO);
  /* Empty feeds are harmless. */
  tc_http_chunked_t e = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&e, NULL, 0, &out), 0);
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&e, (const uint8_t *)"3\r\nabc", 6, &out), 6);
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&e, NULL, 0, &out), 0);
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&e, (const uint8_t *)"\r\n0\r\n\r\n", 7, &out), 7);
  TC_CHECK(e.done);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&out), out.len}), "abc");
  /* A NULL output checks the framing and counts, but keeps nothing. */
  tc_http_chunked_t f = {0};
  TC_CHECK_EQ_INT(tc_http_chunked_feed(&f, (const uint8_t *)"3\r\nabc\r\n0\r\n\r\n", 13, NULL), 13);
  TC_CHECK(f.done);
  TC_CHECK_EQ_INT(f.total, 3);
  tc_buf_free(&out);
  /* A large body in many chunks, compared with its source. */
  size_t n = 300000;
  uint8_t *src = malloc(n);
  for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 131 + (i >> 8));
  tc_buf_t enc = {0};
  for (size_t off = 0, c = 1; off < n; off += c, c = c * 3 + 7) {
    if (c > n - off) c = n - off;
    tc_buf_appendf(&enc, "%zx\r\n", c);
    tc_buf_append(&enc, src + off, c);
    tc_buf_append_str(&enc, "\r\n");
  }
  tc_buf_append_str(&enc, "0\r\n\r\n");
  size_t cuts[64], nc = 0;
  for (size_t at = 1; at < enc.len && nc < 64; at = at * 2 + 3) cuts[nc++] = at;
  result_t r = feed_cuts(tc_buf_data(&enc), enc.len, 0, cuts, nc);
  TC_CHECK_EQ_INT(r.err, 0);
  TC_CHECK(r.done);
  TC_CHECK_EQ_INT(r.consumed, enc.len);
  TC_CHECK(r.body.len == n && memcmp(tc_buf_data(&r.body), src, n) == 0);
  tc_buf_free(&r.body);
  tc_buf_free(&enc);
  free(src);
}

int main(void) {
  TC_RUN(test_valid);
  TC_RUN(test_rest_is_left);
  TC_RUN(test_invalid);
  TC_RUN(test_bounds);
  TC_RUN(test_max_body);
  TC_RUN(test_misc);
  return tc_test_end();
}
