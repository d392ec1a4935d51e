#include "tc_test.h"
#include "tincan/http.h"

#include <stdlib.h>

#define BIG 65536
#define NH 64

/* Each parse runs on a heap copy of exactly len bytes so that any read past the end is caught. */
static ssize_t parse_copy(const char *s, size_t len, tc_http_request_t *req, tc_http_header_t *hs,
                          size_t cap, size_t max, uint8_t **copy) {
  uint8_t *b = malloc(len ? len : 1);
  memcpy(b, s, len);
  memset(req, 0x5a, sizeof *req);
  req->headers = hs;
  req->num_headers = cap;
  ssize_t r = tc_http_parse_request(b, len, req, max);
  *copy = b;
  return r;
}

static int slice_same(tc_slice_t a, const uint8_t *abase, tc_slice_t b, const uint8_t *bbase) {
  return a.len == b.len && a.p - abase == b.p - bbase;
}

/* Parses s whole, then every shorter prefix (which must want more bytes), then checks that the
 * end finder agrees. Returns the whole parse in *req / hs, pointing into *keep (caller frees). */
static ssize_t parse_valid(const char *s, size_t len, tc_http_request_t *req, tc_http_header_t *hs,
                           uint8_t **keep) {
  ssize_t r = parse_copy(s, len, req, hs, NH, BIG, keep);
  TC_CHECK(r > 0);
  if (r <= 0) {
    fprintf(stderr, "  input: %.*s (r=%zd status=%d)\n", (int)len, s, r, req->error_status);
    return r;
  }
  TC_CHECK_EQ_INT(tc_http_find_header_end(*keep, len, 0), r);
  for (size_t k = 0; k < (size_t)r; k++) {
    tc_http_request_t q;
    tc_http_header_t qh[NH];
    uint8_t *b;
    ssize_t rk = parse_copy(s, k, &q, qh, NH, BIG, &b);
    if (rk != TC_EAGAIN) {
      TC_CHECK_EQ_INT(rk, TC_EAGAIN);
      fprintf(stderr, "  prefix %zu of: %.*s\n", k, (int)len, s);
      free(b);
      break;
    }
    TC_CHECK_EQ_INT(tc_http_find_header_end(b, k, 0), 0);
    free(b);
  }
  /* Incremental end finding, growing by one byte and resuming where the last call stopped. */
  size_t found = 0;
  for (size_t k = 0; k <= len && !found; k++)
    found = tc_http_find_header_end(*keep, k, k ? k - 1 : 0);
  TC_CHECK_EQ_INT(found, r);
  /* The exact section, and a limit equal to its size, give the same answer. */
  tc_http_request_t q;
  tc_http_header_t qh[NH];
  uint8_t *b;
  ssize_t r2 = parse_copy(s, (size_t)r, &q, qh, NH, (size_t)r, &b);
  TC_CHECK_EQ_INT(r2, r);
  if (r2 == r) {
    TC_CHECK(slice_same(q.method, b, req->method, *keep));
    TC_CHECK(slice_same(q.target, b, req->target, *keep));
    TC_CHECK(slice_same(q.path, b, req->path, *keep));
    TC_CHECK(slice_same(q.query, b, req->query, *keep));
    TC_CHECK(slice_same(q.host, b, req->host, *keep));
    TC_CHECK_EQ_INT(q.num_headers, req->num_headers);
    for (size_t i = 0; i < q.num_headers && i < NH; i++) {
      TC_CHECK(slice_same(qh[i].name, b, hs[i].name, *keep));
      TC_CHECK(slice_same(qh[i].value, b, hs[i].value, *keep));
    }
    TC_CHECK_EQ_INT(q.content_length, req->content_length);
    TC_CHECK_EQ_INT(q.version_minor, req->version_minor);
    TC_CHECK_EQ_INT(q.chunked, req->chunked);
    TC_CHECK_EQ_INT(q.keep_alive, req->keep_alive);
    TC_CHECK_EQ_INT(q.upgrade, req->upgrade);
    TC_CHECK_EQ_INT(q.expect_continue, req->expect_continue);
  }
  free(b);
  return r;
}

#define VALID(lit, req, hs, keep) parse_valid(lit, sizeof(lit) - 1, req, hs, keep)

/* An invalid input gives its error whole, and every prefix gives either EAGAIN or that error. */
static void check_invalid_n(const char *s, size_t len, int err, int status, int line) {
  tc_http_request_t q;
  tc_http_header_t qh[NH];
  uint8_t *b;
  ssize_t r = parse_copy(s, len, &q, qh, NH, BIG, &b);
  free(b);
  if (r != err || q.error_status != status) {
    tc_test_failures++;
    fprintf(stderr, "line %d: got %zd/%d, expected %d/%d for: %.*s\n", line, r, q.error_status, err,
            status, (int)len, s);
  }
  tc_test_checks++;
  for (size_t k = 0; k < len; k++) {
    ssize_t rk = parse_copy(s, k, &q, qh, NH, BIG, &b);
    free(b);
    if (rk != TC_EAGAIN && (rk != err || q.error_status != status)) {
      tc_test_failures++;
      fprintf(stderr, "line %d: prefix %zu gave %zd/%d\n", line, k, rk, q.error_status);
      break;
    }
  }
}

#define INVALID(lit, err, status) check_invalid_n(lit, sizeof(lit) - 1, err, status, __LINE__)
#define BAD(lit) INVALID(lit, TC_EPROTO, 400)

static void test_simple_get(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  const char s[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\n"
                   "X-Pad: \t spaced  value \t\r\n\r\n";
  ssize_t r = VALID(s, &req, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(s) - 1);
  TC_CHECK_SLICE(req.method, "GET");
  TC_CHECK_SLICE(req.target, "/index.html");
  TC_CHECK_SLICE(req.path, "/index.html");
  TC_CHECK_SLICE(req.query, "");
  TC_CHECK_EQ_INT(req.version_minor, 1);
  TC_CHECK_EQ_INT(req.num_headers, 3);
  TC_CHECK_SLICE(hs[0].name, "Host");
  TC_CHECK_SLICE(hs[0].value, "example.com");
  TC_CHECK_SLICE(hs[1].name, "X-Empty");
  TC_CHECK_SLICE(hs[1].value, "");
  TC_CHECK_SLICE(hs[2].value, "spaced  value");
  TC_CHECK_SLICE(req.host, "example.com");
  TC_CHECK_EQ_INT(req.content_length, -1);
  TC_CHECK_EQ_INT(req.chunked, 0);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  TC_CHECK_EQ_INT(req.upgrade, 0);
  TC_CHECK_EQ_INT(req.expect_continue, 0);
  TC_CHECK_EQ_INT(req.error_status, 0);
  for (size_t i = 0; i < req.num_headers; i++) {
    TC_CHECK(hs[i].name.p >= b && hs[i].name.p + hs[i].name.len <= b + r);
    TC_CHECK(hs[i].value.p >= b && hs[i].value.p + hs[i].value.len <= b + r);
  }
  free(b);
}

static void test_targets(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.path, "/a/b");
  TC_CHECK_SLICE(req.query, "x=1&y=%20");
  free(b);
  VALID("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.path, "/a");
  TC_CHECK_SLICE(req.query, "");
  free(b);
  VALID("GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.path, "/a");
  TC_CHECK_SLICE(req.query, "b?c");
  free(b);
  VALID("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.method, "OPTIONS");
  TC_CHECK_SLICE(req.path, "*");
  free(b);
  VALID("GET http://h.example/p?q HTTP/1.1\r\nHost: h.example\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.path, "http://h.example/p");
  TC_CHECK_SLICE(req.query, "q");
  free(b);
  VALID("CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.target, "h.example:443");
  free(b);
  /* Methods are any token, case-sensitive. */
  VALID("m-S.e_a~rch! /x HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.method, "m-S.e_a~rch!");
  free(b);
  /* Raw UTF-8 in a target is tolerated; the path decoder sees it as is. */
  VALID("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.path, "/caf\xc3\xa9");
  free(b);
}

static void test_request_line_errors(void) {
  BAD("GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /  HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD(" GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/1.1\t\r\nHost: h\r\n\r\n");
  BAD("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GE\x80T / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD(" / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /\r\nHost: h\r\n\r\n");
  BAD("GET / \r\nHost: h\r\n\r\n");
  BAD("GET\r\n\r\n");
  BAD("GET / HTTP/1.1\rHost: h\r\n\r\n");
  BAD("GET / HTTP/1.1\r\r\n\r\n");
  BAD("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("\r\n\rGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  BAD("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n");
}

static void test_versions(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("GET / HTTP/1.0\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.version_minor, 0);
  TC_CHECK_EQ_INT(req.keep_alive, 0);
  TC_CHECK_EQ_INT(req.host.len, 0);
  TC_CHECK_EQ_INT(req.num_headers, 0);
  free(b);
  VALID("GET / HTTP/1.9\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.version_minor, 1);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  free(b);
  INVALID("GET / HTTP/2.0\r\nHost: h\r\n\r\n", TC_ENOTSUP, 505);
  INVALID("GET / HTTP/0.9\r\n\r\n", TC_ENOTSUP, 505);
  INVALID("GET / HTTP/9.1\r\nHost: h\r\n\r\n", TC_ENOTSUP, 505);
  BAD("GET / HTTP/1.10\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/11.1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/2\r\nHost: h\r\n\r\n");
  BAD("GET / http/1.1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTPS/1.1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/1.x\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/x.1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/1,1\r\nHost: h\r\n\r\n");
  BAD("GET / HTTP/\r\n\r\n");
  BAD("GET / FOO\r\n\r\n");
}

static void test_line_ends(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  ssize_t r = VALID("GET / HTTP/1.1\nHost: h\nA: 1\n\n", &req, hs, &b);
  TC_CHECK_EQ_INT(r, 29);
  TC_CHECK_EQ_INT(req.num_headers, 2);
  TC_CHECK_SLICE(hs[1].value, "1");
  free(b);
  r = VALID("GET / HTTP/1.1\r\nHost: h\nA: 1\r\n\n", &req, hs, &b);
  TC_CHECK_EQ_INT(r, 31);
  TC_CHECK_SLICE(hs[0].value, "h");
  free(b);
  r = VALID("GET / HTTP/1.1\nHost: h\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(r, 25);
  free(b);
  /* Empty lines before the request line are skipped and counted in the length. */
  r = VALID("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(r, 31);
  TC_CHECK_SLICE(req.method, "GET");
  free(b);
  r = VALID("\n\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(r, 31);
  free(b);
  /* Pipelining: the first request's length, leaving the second alone. */
  const char two[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  r = parse_copy(two, sizeof(two) - 1, &req, hs, NH, BIG, &b);
  TC_CHECK_EQ_INT(r, 28);
  TC_CHECK_SLICE(req.path, "/1");
  free(b);
}

static void test_header_errors(void) {
  BAD("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX\x80: 1\r\n\r\n");
  /* obs-fold, with either whitespace, and whitespace after the request line. */
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n");
  BAD("GET / HTTP/1.1\r\n Host: h\r\n\r\n");
  BAD("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n");
  /* Control characters in values: everything but HTAB, and DEL. */
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fz\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0z\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1bz\r\n\r\n");
  /* Bare CR anywhere in the header section. */
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\r\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\r\n\r\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\r\n\rX");
  BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A\r: ab\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: h\r\n\rX-A: ab\r\n\r\n");
}

static void test_header_values(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("GET / HTTP/1.1\r\nHost: h\r\nX-Tab: a\tb\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\n"
        "X-Ws:   \t  \r\nX-Vis: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\r\n"
        "!#$%&'*+-.^_`|~09azAZ: token\r\n\r\n",
        &req, hs, &b);
  TC_CHECK_EQ_INT(req.num_headers, 6);
  TC_CHECK_SLICE(hs[1].value, "a\tb");
  TC_CHECK_SLICE(hs[2].value, "\xc3\xa9t\xc3\xa9");
  TC_CHECK_SLICE(hs[3].value, "");
  TC_CHECK_SLICE(hs[4].value, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
  TC_CHECK_SLICE(hs[5].name, "!#$%&'*+-.^_`|~09azAZ");
  free(b);
}

static void test_content_length(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.content_length, 0);
  free(b);
  VALID("POST / HTTP/1.1\r\nHost: h\r\ncontent-LENGTH:  007 \r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.content_length, 7);
  free(b);
  VALID("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387904\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.content_length, (int64_t)1 << 62);
  free(b);
  VALID("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0004611686018427387904\r\n\r\n", &req, hs,
        &b);
  TC_CHECK_EQ_INT(req.content_length, (int64_t)1 << 62);
  free(b);
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387905\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
  BAD("POST / HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  /* Request smuggling: both framings, in either order, in either version. */
  BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
  BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n");
  BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
}

static void test_transfer_encoding(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.chunked, 1);
  TC_CHECK_EQ_INT(req.content_length, -1);
  free(b);
  VALID("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding:  ChUnKeD \t\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.chunked, 1);
  free(b);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TC_ENOTSUP,
          501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", TC_ENOTSUP,
          501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", TC_ENOTSUP, 501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", TC_ENOTSUP, 501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", TC_ENOTSUP,
          501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", TC_ENOTSUP, 501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", TC_ENOTSUP, 501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
          "Transfer-Encoding: chunked\r\n\r\n",
          TC_ENOTSUP, 501);
  INVALID("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
          "Transfer-Encoding: chunked\r\n\r\n",
          TC_ENOTSUP, 501);
  BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  BAD("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n");
}

static void test_host(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  BAD("GET / HTTP/1.1\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
  BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n");
  BAD("GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n");
  VALID("GET / HTTP/1.1\r\nHOST:  [::1]:8080 \r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.host, "[::1]:8080");
  free(b);
  /* RFC 9110 7.2: an empty Host is what a client sends when the target has no authority. */
  VALID("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.host.len, 0);
  free(b);
  VALID("GET / HTTP/1.0\r\nHost: www.example.org:80\r\n\r\n", &req, hs, &b);
  TC_CHECK_SLICE(req.host, "www.example.org:80");
  free(b);
}

static void test_connection(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 0);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  free(b);
  VALID("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  free(b);
  VALID("GET / HTTP/1.0\r\nConnection: x, keep-alive , y\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  free(b);
  VALID("GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 0);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: CLOSE\r\n\r\n", &req,
        hs, &b);
  TC_CHECK_EQ_INT(req.keep_alive, 0);
  free(b);
  VALID(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
      &req, hs, &b);
  TC_CHECK_EQ_INT(req.upgrade, 1);
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: ,,upgrade,,\r\n\r\n", &req,
        hs, &b);
  TC_CHECK_EQ_INT(req.upgrade, 1);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.upgrade, 0);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.upgrade, 0);
  free(b);
  VALID("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgraded\r\n\r\n", &req, hs,
        &b);
  TC_CHECK_EQ_INT(req.upgrade, 0);
  free(b);
}

static void test_expect(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  VALID("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", &req, hs,
        &b);
  TC_CHECK_EQ_INT(req.expect_continue, 1);
  free(b);
  VALID("PUT / HTTP/1.1\r\nHost: h\r\nexpect:  100-Continue \r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.expect_continue, 1);
  free(b);
  VALID("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.expect_continue, 0);
  free(b);
  VALID("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &req, hs, &b);
  TC_CHECK_EQ_INT(req.expect_continue, 0);
  free(b);
}

static void test_limits(void) {
  tc_http_request_t req;
  tc_http_header_t hs[4];
  uint8_t *b;
  const char s[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  size_t n = sizeof(s) - 1;
  /* A limit equal to the section size is enough; one less is 431, complete or not. */
  TC_CHECK_EQ_INT(parse_copy(s, n, &req, hs, 4, n, &b), n);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n, &req, hs, 4, n - 1, &b), TC_E2BIG);
  TC_CHECK_EQ_INT(req.error_status, 431);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n - 1, &req, hs, 4, n - 1, &b), TC_E2BIG);
  TC_CHECK_EQ_INT(req.error_status, 431);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n - 2, &req, hs, 4, n - 1, &b), TC_EAGAIN);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, 10, &req, hs, 4, 10, &b), TC_E2BIG);
  free(b);
  /* A syntax error inside the limit is still a 400. */
  TC_CHECK_EQ_INT(parse_copy("GET  / HTTP/1.1\r\n", 17, &req, hs, 4, 8, &b), TC_EPROTO);
  TC_CHECK_EQ_INT(req.error_status, 400);
  free(b);
  /* A stream of empty lines counts against the limit. */
  TC_CHECK_EQ_INT(parse_copy("\r\n\r\n\r\n\r\n", 8, &req, hs, 4, 8, &b), TC_E2BIG);
  free(b);
  /* A limit of 0 means none. */
  TC_CHECK_EQ_INT(parse_copy(s, n, &req, hs, 4, 0, &b), n);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n - 1, &req, hs, 4, 0, &b), TC_EAGAIN);
  free(b);
  /* Header count: exactly the array's size fits, one more is 431 even before the end. */
  TC_CHECK_EQ_INT(parse_copy(s, n, &req, hs, 3, BIG, &b), n);
  TC_CHECK_EQ_INT(req.num_headers, 3);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n, &req, hs, 2, BIG, &b), TC_E2BIG);
  TC_CHECK_EQ_INT(req.error_status, 431);
  free(b);
  TC_CHECK_EQ_INT(parse_copy(s, n - 5, &req, hs, 2, BIG, &b), TC_E2BIG);
  free(b);
  TC_CHECK_EQ_INT(parse_copy("GET / HTTP/1.0\r\n\r\n", 18, &req, NULL, 0, BIG, &b), 18);
  TC_CHECK_EQ_INT(req.num_headers, 0);
  free(b);
  TC_CHECK_EQ_INT(parse_copy("GET / HTTP/1.0\r\nA: b\r\n\r\n", 24, &req, NULL, 0, BIG, &b),
                  TC_E2BIG);
  free(b);
  /* No bytes at all. */
  req.headers = hs;
  req.num_headers = 4;
  TC_CHECK_EQ_INT(tc_http_parse_request(NULL, 0, &req, BIG), TC_EAGAIN);
  TC_CHECK_EQ_INT(tc_http_find_header_end(NULL, 0, 0), 0);
  /* The array's size is left alone when the parse is not complete, so a retry can reuse it. */
  TC_CHECK_EQ_INT(parse_copy(s, n - 1, &req, hs, 4, BIG, &b), TC_EAGAIN);
  TC_CHECK_EQ_INT(req.num_headers, 4);
  free(b);
}

static void test_realistic(void) {
  tc_http_request_t req;
  tc_http_header_t hs[NH];
  uint8_t *b;
  const char browser[] =
      "GET /static/app.js?v=1.2.3 HTTP/1.1\r\n"
      "Host: localhost:8080\r\n"
      "Connection: keep-alive\r\n"
      "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
      "sec-ch-ua-mobile: ?0\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36\r\n"
      "sec-ch-ua-platform: \"Linux\"\r\n"
      "Accept: */*\r\n"
      "Sec-Fetch-Site: same-origin\r\n"
      "Sec-Fetch-Mode: no-cors\r\n"
      "Sec-Fetch-Dest: script\r\n"
      "Referer: http://localhost:8080/\r\n"
      "Accept-Encoding: gzip, deflate, br, zstd\r\n"
      "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
      "Cookie: session=abc123; theme=dark; _ga=GA1.1.123456789.1700000000\r\n"
      "If-None-Match: \"5f3a-1b2\"\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
      "\r\n";
  ssize_t r = VALID(browser, &req, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(browser) - 1);
  TC_CHECK_EQ_INT(req.num_headers, 16);
  TC_CHECK_SLICE(req.path, "/static/app.js");
  TC_CHECK_SLICE(req.query, "v=1.2.3");
  TC_CHECK_SLICE(req.host, "localhost:8080");
  TC_CHECK_EQ_INT(req.keep_alive, 1);
  const tc_http_header_t *h = tc_http_header_get(hs, req.num_headers, "cookie");
  TC_CHECK(h != NULL);
  if (h) TC_CHECK_SLICE(h->value, "session=abc123; theme=dark; _ga=GA1.1.123456789.1700000000");
  free(b);

  const char post[] = "POST /api/items HTTP/1.1\r\n"
                      "Host: api.example.com\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: 27\r\n"
                      "Accept: application/json\r\n"
                      "\r\n"
                      "{\"name\":\"widget\",\"qty\":42}\n";
  r = VALID(post, &req, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(post) - 1 - 27);
  TC_CHECK_EQ_INT(req.content_length, 27);
  TC_CHECK_SLICE(req.method, "POST");
  TC_CHECK(b[r] == '{');
  free(b);

  const char ws[] = "GET /chat HTTP/1.1\r\n"
                    "Host: server.example.com\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Origin: http://example.com\r\n"
                    "Sec-WebSocket-Protocol: chat, superchat\r\n"
                    "Sec-WebSocket-Version: 13\r\n"
                    "\r\n";
  r = VALID(ws, &req, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(ws) - 1);
  TC_CHECK_EQ_INT(req.upgrade, 1);
  TC_CHECK_EQ_INT(req.num_headers, 7);
  h = tc_http_header_get(hs, req.num_headers, "SEC-WEBSOCKET-KEY");
  TC_CHECK(h != NULL);
  if (h) TC_CHECK_SLICE(h->value, "dGhlIHNhbXBsZSBub25jZQ==");
  h = tc_http_header_get(hs, req.num_headers, "upgrade");
  TC_CHECK(h && tc_http_token_list_has(h->value, "WebSocket"));
  free(b);

  const char chunked[] = "POST /upload HTTP/1.1\r\n"
                         "Host: h\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Expect: 100-continue\r\n"
                         "\r\n"
                         "5\r\nhello\r\n0\r\n\r\n";
  r = VALID(chunked, &req, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(chunked) - 1 - 15);
  TC_CHECK_EQ_INT(req.chunked, 1);
  TC_CHECK_EQ_INT(req.expect_continue, 1);
  free(b);
}

static size_t find(const char *s, size_t from) {
  return tc_http_find_header_end((const uint8_t *)s, strlen(s), from);
}

static void test_find_header_end(void) {
  TC_CHECK_EQ_INT(find("", 0), 0);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\n", 0), 0);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\n\r", 0), 0);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\n\r\n", 0), 18);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\n\n", 0), 16);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\n\r\n", 0), 17);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\n\n", 0), 17);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\nA: b\r\n\r\nbody\r\n\r\n", 0), 24);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\nA: b\r\n\r\n", 20), 24);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\nA: b\r\n\r\n", 24), 24);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\nA: b\r\n\r\n", 1000), 24);
  TC_CHECK_EQ_INT(find("\r\n\r\n", 0), 0);
  TC_CHECK_EQ_INT(find("\n\n\n", 0), 0);
  TC_CHECK_EQ_INT(find("\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0), 22);
  TC_CHECK_EQ_INT(find("\r\n\r\nGET / HTTP/1.1\r\n\r\n", 4), 22);
  TC_CHECK_EQ_INT(find("GET / HTTP/1.1\r\n\r\r\n", 0), 0);
  TC_CHECK_EQ_INT(find("a\nb\nc\r\nd\r\n\r\n", 0), 12);
  /* A long section fed in pieces: each call resumes where the last one stopped. */
  char big[4096];
  size_t n = 0;
  n += (size_t)snprintf(big + n, sizeof big - n, "GET / HTTP/1.1\r\n");
  for (int i = 0; i < 100; i++) n += (size_t)snprintf(big + n, sizeof big - n, "X-%d: v\r\n", i);
  big[n++] = '\r';
  big[n++] = '\n';
  for (size_t step = 1; step < 7; step++) {
    size_t got = 0, from = 0, k;
    for (k = step; k <= n && !got; k += step) {
      got = tc_http_find_header_end((const uint8_t *)big, k, from);
      from = k;
    }
    if (!got) got = tc_http_find_header_end((const uint8_t *)big, n, from);
    TC_CHECK_EQ_INT(got, n);
  }
}

static void test_helpers(void) {
  tc_http_header_t hs[3] = {
      {TC_SLICE_LIT("Content-Type"), TC_SLICE_LIT("text/plain")},
      {TC_SLICE_LIT("X-A"), TC_SLICE_LIT("1")},
      {TC_SLICE_LIT("x-a"), TC_SLICE_LIT("2")},
  };
  TC_CHECK(tc_http_header_get(hs, 3, "content-type") == &hs[0]);
  TC_CHECK(tc_http_header_get(hs, 3, "X-a") == &hs[1]);
  TC_CHECK(tc_http_header_get(hs, 3, "X-B") == NULL);
  TC_CHECK(tc_http_header_get(hs, 3, "Content-Typ") == NULL);
  TC_CHECK(tc_http_header_get(NULL, 0, "X-A") == NULL);

  TC_CHECK(tc_http_token_list_has(TC_SLICE_LIT("keep-alive, Upgrade"), "upgrade"));
  TC_CHECK(tc_http_token_list_has(TC_SLICE_LIT("keep-alive, Upgrade"), "Keep-Alive"));
  TC_CHECK(tc_http_token_list_has(TC_SLICE_LIT("  upgrade\t"), "upgrade"));
  TC_CHECK(tc_http_token_list_has(TC_SLICE_LIT(",,upgrade,,"), "upgrade"));
  TC_CHECK(tc_http_token_list_has(TC_SLICE_LIT("a ,\tb , c"), "b"));
  TC_CHECK(!tc_http_token_list_has(TC_SLICE_LIT("upgrades"), "upgrade"));
  TC_CHECK(!tc_http_token_list_has(TC_SLICE_LIT("xupgrade"), "upgrade"));
  TC_CHECK(!tc_http_token_list_has(TC_SLICE_LIT("up grade"), "upgrade"));
  TC_CHECK(!tc_http_token_list_has(TC_SLICE_LIT(""), "upgrade"));
  TC_CHECK(!tc_http_token_list_has((tc_slice_t){NULL, 0}, "upgrade"));
  TC_CHECK(!tc_http_token_list_has(TC_SLICE_LIT(" , ,"), ""));

  static const struct {
    int code;
    const char *phrase;
  } reasons[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {411, "Length Required"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"},
      {426, "Upgrade Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
      {0, "Unknown"},
      {299, "Unknown"},
      {-1, "Unknown"},
      {1000, "Unknown"},
  };
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
    const char *got = tc_http_reason(reasons[i].code);
    TC_CHECK(got != NULL && strcmp(got, reasons[i].phrase) == 0);
  }
}

/* ---- responses ---- */

static ssize_t parse_res(const char *s, size_t len, tc_http_response_t *res, tc_http_header_t *hs,
                         size_t cap, size_t max, uint8_t **copy) {
  uint8_t *b = malloc(len ? len : 1);
  memcpy(b, s, len);
  memset(res, 0x5a, sizeof *res);
  res->headers = hs;
  res->num_headers = cap;
  ssize_t r = tc_http_parse_response(b, len, res, max);
  *copy = b;
  return r;
}

static ssize_t res_valid(const char *s, size_t len, tc_http_response_t *res, tc_http_header_t *hs,
                         uint8_t **keep) {
  ssize_t r = parse_res(s, len, res, hs, NH, BIG, keep);
  TC_CHECK(r > 0);
  if (r <= 0) {
    fprintf(stderr, "  response: %.*s (r=%zd)\n", (int)len, s, r);
    return r;
  }
  TC_CHECK_EQ_INT(tc_http_find_header_end(*keep, len, 0), r);
  for (size_t k = 0; k < (size_t)r; k++) {
    tc_http_response_t q;
    tc_http_header_t qh[NH];
    uint8_t *b;
    ssize_t rk = parse_res(s, k, &q, qh, NH, BIG, &b);
    free(b);
    if (rk != TC_EAGAIN) {
      TC_CHECK_EQ_INT(rk, TC_EAGAIN);
      fprintf(stderr, "  prefix %zu of: %.*s\n", k, (int)len, s);
      break;
    }
  }
  return r;
}

#define RES_VALID(lit, res, hs, keep) res_valid(lit, sizeof(lit) - 1, res, hs, keep)

static void res_invalid_n(const char *s, size_t len, int err, int line) {
  tc_http_response_t q;
  tc_http_header_t qh[NH];
  uint8_t *b;
  ssize_t r = parse_res(s, len, &q, qh, NH, BIG, &b);
  free(b);
  tc_test_checks++;
  if (r != err) {
    tc_test_failures++;
    fprintf(stderr, "line %d: got %zd, expected %d for: %.*s\n", line, r, err, (int)len, s);
  }
  for (size_t k = 0; k < len; k++) {
    ssize_t rk = parse_res(s, k, &q, qh, NH, BIG, &b);
    free(b);
    if (rk != TC_EAGAIN && rk != err) {
      tc_test_failures++;
      fprintf(stderr, "line %d: prefix %zu gave %zd\n", line, k, rk);
      break;
    }
  }
}

#define RES_BAD(lit) res_invalid_n(lit, sizeof(lit) - 1, TC_EPROTO, __LINE__)

static void test_response(void) {
  tc_http_response_t res;
  tc_http_header_t hs[NH];
  uint8_t *b;
  const char ws[] = "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                    "\r\n";
  ssize_t r = RES_VALID(ws, &res, hs, &b);
  TC_CHECK_EQ_INT(r, sizeof(ws) - 1);
  TC_CHECK_EQ_INT(res.status, 101);
  TC_CHECK_SLICE(res.reason, "Switching Protocols");
  TC_CHECK_EQ_INT(res.version_minor, 1);
  TC_CHECK_EQ_INT(res.num_headers, 3);
  TC_CHECK_SLICE(hs[2].value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  TC_CHECK_EQ_INT(res.content_length, -1);
  TC_CHECK_EQ_INT(res.keep_alive, 1);
  free(b);

  RES_VALID("HTTP/1.1 200 \r\nContent-Length: 12\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.status, 200);
  TC_CHECK_SLICE(res.reason, "");
  TC_CHECK_EQ_INT(res.content_length, 12);
  free(b);
  RES_VALID("HTTP/1.1 204\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.status, 204);
  TC_CHECK_EQ_INT(res.reason.len, 0);
  free(b);
  RES_VALID("HTTP/1.0 404 Not \t Found \xc3\xa9\nConnection: keep-alive\n\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.status, 404);
  TC_CHECK_SLICE(res.reason, "Not \t Found \xc3\xa9");
  TC_CHECK_EQ_INT(res.version_minor, 0);
  TC_CHECK_EQ_INT(res.keep_alive, 1);
  free(b);
  RES_VALID("HTTP/1.0 200 OK\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.keep_alive, 0);
  free(b);
  RES_VALID("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.keep_alive, 0);
  free(b);
  RES_VALID("HTTP/1.1 999 Whatever\r\nTransfer-Encoding: chunked\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.status, 999);
  TC_CHECK_EQ_INT(res.chunked, 1);
  free(b);
  RES_VALID("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.chunked, 1);
  free(b);
  RES_VALID("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.chunked, 0);
  TC_CHECK_EQ_INT(res.content_length, -1);
  free(b);
  RES_VALID("HTTP/1.5 100 Continue\r\n\r\n", &res, hs, &b);
  TC_CHECK_EQ_INT(res.version_minor, 1);
  free(b);

  RES_BAD("HTTP/2.0 200 OK\r\n\r\n");
  RES_BAD("HTTP/1.1 099 Low\r\n\r\n");
  RES_BAD("HTTP/1.1 20 Short\r\n\r\n");
  RES_BAD("HTTP/1.1 2000 Long\r\n\r\n");
  RES_BAD("HTTP/1.1 2x0 OK\r\n\r\n");
  RES_BAD("HTTP/1.1  200 OK\r\n\r\n");
  RES_BAD("HTTP/1.1\t200 OK\r\n\r\n");
  RES_BAD("HTTP/1.1 200 O\x01K\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\rX\r\n\r\n");
  RES_BAD("http/1.1 200 OK\r\n\r\n");
  RES_BAD("\r\nHTTP/1.1 200 OK\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\r\nA : b\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
  RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");

  const char s[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
  size_t n = sizeof(s) - 1;
  TC_CHECK_EQ_INT(parse_res(s, n, &res, hs, 2, n, &b), n);
  free(b);
  TC_CHECK_EQ_INT(parse_res(s, n, &res, hs, 2, n - 1, &b), TC_E2BIG);
  free(b);
  TC_CHECK_EQ_INT(parse_res(s, n, &res, hs, 1, BIG, &b), TC_E2BIG);
  free(b);
}

int main(void) {
  TC_RUN(test_simple_get);
  TC_RUN(test_targets);
  TC_RUN(test_request_line_errors);
  TC_RUN(test_versions);
  TC_RUN(test_line_ends);
  TC_RUN(test_header_errors);
  TC_RUN(test_header_values);
  TC_RUN(test_content_length);
  TC_RUN(test_transfer_encoding);
  TC_RUN(test_host);
  TC_RUN(test_connection);
  TC_RUN(test_expect);
  TC_RUN(test_limits);
  TC_RUN(test_realistic);
  TC_RUN(test_find_header_end);
  TC_RUN(test_helpers);
  TC_RUN(test_response);
  return tc_test_end();
}
