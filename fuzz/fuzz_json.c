/* The JSON scanner on arbitrary bytes: validation must agree with jansson wherever both are
 * defined, every walk must agree with the validator, and every string token found must decode
 * and compare equal to its own decoding. */
#include "tincan/json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

/* jansson differs on purpose where JavaScript does: lone surrogate escapes (valid here) and
 * numbers out of a double's range. Inputs that may hold either are compared one way only. */
static int jansson_comparable(const uint8_t *p, size_t len) {
  if (len > 300) return 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] == '\\' || p[i] == 'e' || p[i] == 'E') return 0;
  return 1;
}

static void check_strings(tc_slice_t v, int depth);

static void walk(tc_slice_t v, int depth) {
  tc_json_iter_t it;
  ASSERT(tc_json_iter_init(&it, v) == 0);
  tc_slice_t k, e;
  int r;
  size_t n = 0;
  while ((r = tc_json_next(&it, &k, &e)) == 1) {
    ASSERT(tc_json_check(e.p, e.len) == 0);
    if (it.kind == TC_JSON_OBJECT) check_strings(k, depth);
    check_strings(e, depth);
    n++;
  }
  ASSERT(r == 0);
  if (it.kind == TC_JSON_ARRAY && n) {
    tc_slice_t last;
    ASSERT(tc_json_array_get(v, n - 1, &last) == 1);
    ASSERT(tc_json_array_get(v, n, &last) == 0);
  }
}

static void check_strings(tc_slice_t v, int depth) {
  tc_json_type_t t = tc_json_type(v);
  if (t == TC_JSON_STRING) {
    tc_buf_t b = {0};
    ASSERT(tc_json_unescape(v, &b) == 0);
    ASSERT(tc_json_string_eq(v, tc_buf_data(&b), b.len));
    ASSERT(tc_utf8_check(tc_buf_data(&b), b.len) == 0);
    /* Escaped again it is a valid token with the same value. */
    tc_buf_t c = {0};
    ASSERT(tc_json_escape(&c, tc_buf_data(&b), b.len) == 0);
    tc_slice_t cs = {tc_buf_data(&c), c.len};
    ASSERT(tc_json_check(cs.p, cs.len) == 0 && tc_json_string_eq(cs, tc_buf_data(&b), b.len));
    tc_buf_free(&b);
    tc_buf_free(&c);
  } else if ((t == TC_JSON_ARRAY || t == TC_JSON_OBJECT) && depth < 64) {
    walk(v, depth + 1);
  } else if (t == TC_JSON_NUMBER) {
    uint64_t u;
    (void)tc_json_uint(v, &u);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t len) {
  int check = tc_json_check(p, len);
  int ok = check == 0;
  ssize_t skipped = tc_json_skip(p, len);
  ASSERT(!ok || (skipped > 0 && (size_t)skipped <= len));

  json_error_t err;
  json_t *j = json_loadb((const char *)p, len,
                         JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
  /* jansson stops at a NUL byte outside strings; JSON.parse does not. */
  if (j && !memchr(p, 0, len)) ASSERT(ok);
  if (ok && jansson_comparable(p, len)) ASSERT(j != NULL);
  json_decref(j);

  tc_slice_t all = {p, len};
  if (ok) {
    check_strings(all, 0);
    tc_slice_t v;
    (void)tc_json_object_get(all, "a", &v);
  } else {
    /* A walk over an invalid container must fail somewhere, never claim success. */
    tc_json_iter_t it;
    if (tc_json_iter_init(&it, all) == 0) {
      tc_slice_t k, e;
      int r;
      while ((r = tc_json_next(&it, &k, &e)) == 1) {
      }
      /* (Only the depth limit is counted per value, so a walk may pass it by one level.) */
      ASSERT(r < 0 || check == TC_E2BIG);
    }
  }
  size_t count;
  int lok = tc_json_list_check(p, len, &count) == 0;
  if (ok) ASSERT(lok && count == 1);
  return 0;
}
