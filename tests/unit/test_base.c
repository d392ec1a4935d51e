/* Buffers, slices, error strings and log levels. */
#include "tc_test.h"
#include "tincan/base.h"

#include <stdlib.h>

static void test_buf(void) {
  tc_buf_t b = {0};
  TC_CHECK_EQ_INT(tc_buf_append_str(&b, "hello"), 0);
  TC_CHECK_EQ_INT(tc_buf_append_u64(&b, 12345678901234ULL), 0);
  TC_CHECK_EQ_INT(tc_buf_appendf(&b, "-%d-%s", 7, "x"), 0);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), "hello12345678901234-7-x");
  tc_buf_consume(&b, 5);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), "12345678901234-7-x");
  /* growing after a consume compacts instead of losing the front */
  size_t before = b.len;
  for (int i = 0; i < 1000; i++) TC_CHECK_EQ_INT(tc_buf_append(&b, "abcdefgh", 8), 0);
  TC_CHECK_EQ_INT(b.len, before + 8000);
  TC_CHECK(memcmp(tc_buf_data(&b), "12345678901234-7-x", 18) == 0);
  tc_buf_consume(&b, b.len + 10);
  TC_CHECK_EQ_INT(b.len, 0);
  TC_CHECK_EQ_INT(b.off, 0);
  TC_CHECK_EQ_INT(tc_buf_reserve(&b, (size_t)-1), TC_ENOMEM);
  tc_buf_free(&b);
  TC_CHECK(b.p == NULL && b.cap == 0);
  char num[21];
  TC_CHECK_EQ_INT(tc_u64_to_str(0, num), 1);
  TC_CHECK(strcmp(num, "0") == 0);
  TC_CHECK_EQ_INT(tc_u64_to_str(UINT64_MAX, num), 20);
  TC_CHECK(strcmp(num, "18446744073709551615") == 0);
}

static void test_slice(void) {
  tc_slice_t s = tc_slice_str("  Keep-Alive \t");
  tc_slice_t t = tc_slice_trim(s);
  TC_CHECK_SLICE(t, "Keep-Alive");
  TC_CHECK(tc_slice_ieq(t, "keep-alive"));
  TC_CHECK(!tc_slice_eq(t, "keep-alive"));
  TC_CHECK(tc_slice_eq(t, "Keep-Alive"));
  TC_CHECK(!tc_slice_ieq(t, "keep-aliv"));
  TC_CHECK(tc_slice_trim(tc_slice_str("   ")).len == 0);
  TC_CHECK(tc_slice_eq(TC_SLICE_LIT(""), ""));
}

static void test_errors_and_levels(void) {
  TC_CHECK(strcmp(tc_strerror(TC_EAGAIN), "need more data") == 0);
  TC_CHECK(strcmp(tc_strerror(TC_ENOMEM), "out of memory") == 0);
  TC_CHECK(strcmp(tc_strerror(-999), "unknown error") == 0);
  tc_log_level_t l;
  TC_CHECK_EQ_INT(tc_log_level_parse("warn", &l), 0);
  TC_CHECK_EQ_INT(l, TC_LOG_WARN);
  TC_CHECK_EQ_INT(tc_log_level_parse("loud", &l), TC_EINVAL);
  TC_CHECK(strcmp(tc_log_level_name(TC_LOG_ERROR), "error") == 0);
}

static int lines;
static void count_sink(const tc_logger_t *lg, tc_log_level_t level, const char *module,
                       const char *msg) {
  (void)lg;
  (void)level;
  TC_CHECK(strcmp(module, "m") == 0);
  TC_CHECK(strcmp(msg, "n=3") == 0);
  lines++;
}

static void test_log(void) {
  tc_logger_t lg = {.fn = count_sink, .min_level = TC_LOG_INFO};
  tc_log(&lg, TC_LOG_DEBUG, "m", "n=%d", 3);
  tc_log(&lg, TC_LOG_INFO, "m", "n=%d", 3);
  tc_log(NULL, TC_LOG_ERROR, "m", "n=%d", 3);
  TC_CHECK_EQ_INT(lines, 1);
}

int main(void) {
  TC_RUN(test_buf);
  TC_RUN(test_slice);
  TC_RUN(test_errors_and_levels);
  TC_RUN(test_log);
  return tc_test_end();
}
