/* Request and response head parsing on arbitrary bytes, with the invariants the server relies on:
 * lengths stay inside the input and the limit, slices point into the parsed section, a success
 * is stable under truncation and limits, and the end finder agrees with the parser. */
#include "tincan/http.h"

#include <stdlib.h>
#include <string.h>

#define NH 16

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

static void in_section(tc_slice_t s, const uint8_t *buf, size_t len) {
  if (s.len == 0) return;
  ASSERT(s.p >= buf && s.p <= buf + len && s.len <= (size_t)(buf + len - s.p));
}

static ssize_t request(const uint8_t *buf, size_t len, size_t max, tc_http_request_t *req,
                       tc_http_header_t *hs) {
  memset(req, 0, sizeof *req);
  req->headers = hs;
  req->num_headers = NH;
  return tc_http_parse_request(buf, len, req, max);
}

static void check_request(const uint8_t *data, size_t size, size_t max) {
  tc_http_header_t hs[NH];
  tc_http_request_t req;
  ssize_t r = request(data, size, max, &req, hs);
  size_t end = tc_http_find_header_end(data, size, 0);
  if (r == TC_EAGAIN) {
    ASSERT(max == 0 || size < max);
    ASSERT(req.num_headers == NH);
    ASSERT(end == 0);
    return;
  }
  if (r < 0) {
    ASSERT((r == TC_EPROTO && req.error_status == 400) ||
           (r == TC_E2BIG && req.error_status == 431) ||
           (r == TC_ENOTSUP && (req.error_status == 501 || req.error_status == 505)));
    return;
  }
  size_t n = (size_t)r;
  ASSERT(n <= size && (max == 0 || n <= max));
  ASSERT(end == n);
  ASSERT(req.error_status == 0);
  ASSERT(req.num_headers <= NH);
  ASSERT(req.method.len > 0 && req.target.len > 0);
  ASSERT(req.version_minor == 0 || req.version_minor == 1);
  ASSERT(req.content_length >= -1 && req.content_length <= ((int64_t)1 << 62));
  ASSERT(!(req.chunked && req.content_length >= 0));
  ASSERT(req.version_minor == 1 || (!req.chunked && !req.expect_continue));
  in_section(req.method, data, n);
  in_section(req.target, data, n);
  in_section(req.path, data, n);
  in_section(req.query, data, n);
  in_section(req.host, data, n);
  ASSERT(req.path.p == req.target.p && req.path.len <= req.target.len);
  ASSERT(req.path.len == req.target.len || req.path.len + 1 + req.query.len == req.target.len);
  for (size_t i = 0; i < req.num_headers; i++) {
    ASSERT(hs[i].name.len > 0);
    in_section(hs[i].name, data, n);
    in_section(hs[i].value, data, n);
    ASSERT(memchr(hs[i].value.p, '\n', hs[i].value.len) == NULL);
  }

  /* The exact section, with the limit at its size, parses the same; one byte less wants more. */
  uint8_t *copy = malloc(n);
  memcpy(copy, data, n);
  tc_http_header_t hs2[NH];
  tc_http_request_t again;
  ASSERT(request(copy, n, n, &again, hs2) == r);
  ASSERT(again.num_headers == req.num_headers && again.content_length == req.content_length);
  ASSERT(again.keep_alive == req.keep_alive && again.upgrade == req.upgrade);
  ASSERT(request(copy, n - 1, 0, &again, hs2) == TC_EAGAIN);
  ASSERT(tc_http_find_header_end(copy, n - 1, 0) == 0);
  free(copy);

  /* Resuming the end search from any earlier point finds the same end. */
  for (size_t from = 0; from <= n; from += 1 + from / 4) {
    ASSERT(tc_http_find_header_end(data, from, 0) == 0 || from == n);
    ASSERT(tc_http_find_header_end(data, size, from) == n);
  }
}

static void check_response(const uint8_t *data, size_t size, size_t max) {
  tc_http_header_t hs[NH];
  tc_http_response_t res;
  memset(&res, 0, sizeof res);
  res.headers = hs;
  res.num_headers = NH;
  ssize_t r = tc_http_parse_response(data, size, &res, max);
  if (r == TC_EAGAIN) {
    ASSERT(max == 0 || size < max);
    return;
  }
  if (r < 0) {
    ASSERT(r == TC_EPROTO || r == TC_E2BIG);
    return;
  }
  size_t n = (size_t)r;
  ASSERT(n <= size && (max == 0 || n <= max));
  ASSERT(tc_http_find_header_end(data, size, 0) == n);
  ASSERT(res.status >= 100 && res.status <= 999);
  ASSERT(res.num_headers <= NH);
  ASSERT(res.content_length >= -1 && !(res.chunked && res.content_length >= 0));
  in_section(res.reason, data, n);
  for (size_t i = 0; i < res.num_headers; i++) {
    in_section(hs[i].name, data, n);
    in_section(hs[i].value, data, n);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_request(data, size, 0);
  check_request(data, size, 64);
  check_response(data, size, 0);
  check_response(data, size, 64);

  /* Resuming from any point where a shorter search found nothing gives the one-shot answer. */
  size_t a = tc_http_find_header_end(data, size, 0);
  ASSERT(a <= size);
  for (size_t from = 1; from <= size; from += 1 + from / 3)
    if (tc_http_find_header_end(data, from, 0) == 0)
      ASSERT(tc_http_find_header_end(data, size, from) == a);
  if (size > 0) {
    tc_slice_t v = {data, size};
    (void)tc_http_token_list_has(v, "upgrade");
    (void)tc_http_reason((int)data[0] * 4);
  }
  return 0;
}
