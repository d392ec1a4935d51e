/* The unit-test harness: one header, no registration magic. A test file defines functions
 * `static void test_x(void)`, and main() runs them with TC_RUN(test_x) and returns tc_test_end().
 */
#ifndef TC_TEST_H
#define TC_TEST_H

#include <stdio.h>
#include <string.h>

static int tc_test_failures;
static int tc_test_checks;

#define TC_CHECK(cond)                                                                             \
  do {                                                                                             \
    tc_test_checks++;                                                                              \
    if (!(cond)) {                                                                                 \
      tc_test_failures++;                                                                          \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

#define TC_CHECK_EQ_INT(a, b)                                                                      \
  do {                                                                                             \
    long long tc__a = (long long)(a), tc__b = (long long)(b);                                      \
    tc_test_checks++;                                                                              \
    if (tc__a != tc__b) {                                                                          \
      tc_test_failures++;                                                                          \
      fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, tc__a,   \
              #b, tc__b);                                                                          \
    }                                                                                              \
  } while (0)

/* Compares a slice (or any p/len pair) with a C string. */
#define TC_CHECK_SLICE(s, str)                                                                     \
  do {                                                                                             \
    tc_test_checks++;                                                                              \
    if ((s).len != strlen(str) || memcmp((s).p, (str), (s).len) != 0) {                            \
      tc_test_failures++;                                                                          \
      fprintf(stderr, "%s:%d: %s is \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #s,          \
              (int)(s).len, (const char *)(s).p, (str));                                           \
    }                                                                                              \
  } while (0)

#define TC_RUN(fn)                                                                                 \
  do {                                                                                             \
    int tc__before = tc_test_failures;                                                             \
    fn();                                                                                          \
    fprintf(stderr, "%s %s\n", tc_test_failures == tc__before ? "ok  " : "FAIL", #fn);             \
  } while (0)

static inline int tc_test_end(void) {
  fprintf(stderr, "%d checks, %d failed\n", tc_test_checks, tc_test_failures);
  return tc_test_failures ? 1 : 0;
}

#endif
