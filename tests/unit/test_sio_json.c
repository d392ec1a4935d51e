/* The JSON scanner: validation against the RFC 8259 grammar, walking, lookups, strings. */
#include "tc_test.h"
#include "tincan/json.h"

#include <stdlib.h>

static int check(const char *s) {
  return tc_json_check((const uint8_t *)s, strlen(s));
}

static void test_valid(void) {
  static const char *const ok[] = {
      "0",
      "-0",
      "1",
      "-1",
      "12.5",
      "1e10",
      "1E+2",
      "-3.25e-7",
      "0.0",
      "true",
      "false",
      "null",
      "\"\"",
      "\"a\"",
      "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
      "\"\\u00e9\\uD83D\\uDE00\"",
      "\"\\ud800\"", /* a lone surrogate: JSON.parse takes it */
      "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
      "[]",
      "{}",
      "[ ]",
      "{ }",
      " [1, 2 ,3] ",
      "{\"a\":1,\"b\":[true,{\"c\":null}]}",
      "[[[[[]]]]]",
      "\t\r\n 5 \n",
      "{\"\":\"\"}",
      "[\"a\",{\"_placeholder\":true,\"num\":0}]",
      "\"\x7f\"",
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    int r = check(ok[i]);
    if (r != 0) fprintf(stderr, "should be valid: %s\n", ok[i]);
    TC_CHECK_EQ_INT(r, 0);
  }
}

static void test_invalid(void) {
  static const char *const bad[] = {
      "",
      " ",
      "01",
      "-",
      "1.",
      ".5",
      "1e",
      "1e+",
      "+1",
      "0x10",
      "tru",
      "nul",
      "True",
      "NaN",
      "Infinity",
      "\"",
      "\"abc",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\u12g4\"",
      "\"a\nb\"",
      "\"\t\"",
      "[",
      "]",
      "[1,]",
      "[,1]",
      "[1 2]",
      "{\"a\"}",
      "{\"a\":}",
      "{a:1}",
      "{\"a\":1,}",
      "{,}",
      "[1]]",
      "[1] x",
      "1 2",
      "{\"a\" 1}",
      "[\"a\":1]",
      "{'a':1}",
      "/*c*/1",
      "\"\xc3\"",
      "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\xef\xbb\xbf\x31", /* a byte order mark */
      "[1,2",
      "{\"a\":[}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int r = check(bad[i]);
    if (r == 0) fprintf(stderr, "should be invalid: %s\n", bad[i]);
    TC_CHECK(r < 0);
  }
  /* An embedded NUL outside strings is not whitespace. */
  TC_CHECK(tc_json_check((const uint8_t *)"1\0", 2) < 0);
}

/* Every proper prefix of a container or string is incomplete, and so invalid: a text cut
 * anywhere is never taken for a whole one. */
static void test_prefixes(void) {
  static const char *const docs[] = {
      "[\"message\",1,\"2\",{\"3\":[true,false,null,-1.5e3]}]",
      "{\"pid\":\"a\\u00e9\\n\",\"offset\":\"x.1\",\"o\":{}}",
      "\"h\xc3\xa9llo \\uD83D\\uDE00\"",
  };
  for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
    size_t n = strlen(docs[d]);
    TC_CHECK_EQ_INT(tc_json_check((const uint8_t *)docs[d], n), 0);
    for (size_t k = 0; k < n; k++) {
      uint8_t *cut = malloc(k ? k : 1);
      memcpy(cut, docs[d], k);
      int r = tc_json_check(cut, k);
      if (r == 0) fprintf(stderr, "prefix %zu of doc %zu accepted\n", k, d);
      TC_CHECK(r < 0);
      free(cut);
    }
  }
}

/* Strings are scanned eight bytes at a time: a special byte must be seen at every position. */
static void test_string_positions(void) {
  static const char *const inserts[][2] = {
      {"\x01", "0"}, {"\x1f", "0"},     {"\xff", "0"},         {"\xc3", "0"}, {"\\x", "0"},
      {"\x7f", "1"}, {"\xc3\xa9", "1"}, {"\\n", "1"},          {"\\\"", "1"}, {"\\u00e9", "1"},
      {" ", "1"},    {"\"", "0"},       {"\xe2\x82\xac", "1"},
  };
  char buf[64];
  for (size_t k = 0; k < sizeof inserts / sizeof *inserts; k++) {
    for (size_t at = 0; at <= 20; at++) {
      int n = snprintf(buf, sizeof buf, "\"%.*s%s%.*s\"", (int)at, "abcdefghijklmnopqrstuvwxyz",
                       inserts[k][0], (int)(20 - at), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
      int r = tc_json_check((const uint8_t *)buf, (size_t)n);
      int want = inserts[k][1][0] == '1';
      if ((r == 0) != want) fprintf(stderr, "insert %zu at %zu: %d\n", k, at, r);
      TC_CHECK((r == 0) == want);
    }
  }
}

static void test_skip(void) {
  const char *s = "  {\"a\":[1,2]}, 5";
  ssize_t r = tc_json_skip((const uint8_t *)s, strlen(s));
  TC_CHECK_EQ_INT(r, 13);
  TC_CHECK_EQ_INT(tc_json_skip((const uint8_t *)"12x", 3), 2);
  TC_CHECK_EQ_INT(tc_json_skip((const uint8_t *)"truex", 5), 4);
  TC_CHECK_EQ_INT(tc_json_skip((const uint8_t *)"[1]", 2), TC_EPROTO);
}

static void test_depth(void) {
  size_t n = TC_JSON_MAX_DEPTH;
  char *s = malloc(2 * n + 2);
  memset(s, '[', n);
  memset(s + n, ']', n);
  TC_CHECK_EQ_INT(tc_json_check((const uint8_t *)s, 2 * n), 0);
  memset(s, '[', n + 1);
  memset(s + n + 1, ']', n + 1);
  TC_CHECK_EQ_INT(tc_json_check((const uint8_t *)s, 2 * n + 2), TC_E2BIG);
  /* Mixed nesting must close with the matching bracket at every level. */
  TC_CHECK(check("[{\"a\":[{}]}]") == 0);
  TC_CHECK(check("[{\"a\":[{]}]}") < 0);
  TC_CHECK(check("{\"a\":[}]") < 0);
  free(s);
}

static void test_iter(void) {
  tc_json_iter_t it;
  tc_slice_t k, v;
  const char *a = " [ 1 , \"two\" , {\"x\":[3]} ] ";
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str(a)), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 1);
  TC_CHECK_SLICE(v, "1");
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 1);
  TC_CHECK_SLICE(v, "\"two\"");
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 1);
  TC_CHECK_SLICE(v, "{\"x\":[3]}");
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 0);

  const char *o = "{ \"a\" : 1 , \"b\":{\"c\":2} }";
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str(o)), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, &k, &v), 1);
  TC_CHECK_SLICE(k, "\"a\"");
  TC_CHECK_SLICE(v, "1");
  TC_CHECK_EQ_INT(tc_json_next(&it, &k, &v), 1);
  TC_CHECK_SLICE(k, "\"b\"");
  TC_CHECK_SLICE(v, "{\"c\":2}");
  TC_CHECK_EQ_INT(tc_json_next(&it, &k, &v), 0);

  /* Faults are found when the walk reaches them. */
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("[1,x]")), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 1);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("[1] 2")), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 1);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("[] ")), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), 0);
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("5")), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("[")), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, NULL, &v), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_iter_init(&it, tc_slice_str("{\"a\"1}")), 0);
  TC_CHECK_EQ_INT(tc_json_next(&it, &k, &v), TC_EPROTO);
}

static void test_list(void) {
  size_t n = 99;
  TC_CHECK_EQ_INT(tc_json_list_check((const uint8_t *)"", 0, &n), 0);
  TC_CHECK_EQ_INT(n, 0);
  TC_CHECK_EQ_INT(tc_json_list_check((const uint8_t *)"  ", 2, &n), 0);
  TC_CHECK_EQ_INT(n, 0);
  const char *l = "1,\"2\", {\"3\":[true]} ";
  TC_CHECK_EQ_INT(tc_json_list_check((const uint8_t *)l, strlen(l), &n), 0);
  TC_CHECK_EQ_INT(n, 3);
  static const char *const bad[] = {",", "1,", ",1", "1 2", "1,,2", "[1", "]", "1]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    TC_CHECK(tc_json_list_check((const uint8_t *)bad[i], strlen(bad[i]), NULL) < 0);
  tc_slice_t v;
  TC_CHECK_EQ_INT(tc_json_list_get(tc_slice_str(l), 2, &v), 1);
  TC_CHECK_SLICE(v, "{\"3\":[true]}");
  TC_CHECK_EQ_INT(tc_json_list_get(tc_slice_str(l), 3, &v), 0);
  TC_CHECK_EQ_INT(tc_json_array_get(tc_slice_str("[4,5]"), 1, &v), 1);
  TC_CHECK_SLICE(v, "5");
}

static void test_object_get(void) {
  tc_slice_t v;
  const char *o = "{\"pid\":\"abc\",\"offset\":\"x.1\",\"pid\":\"last\",\"\\u0061\":7}";
  TC_CHECK_EQ_INT(tc_json_object_get(tc_slice_str(o), "pid", &v), 1);
  TC_CHECK_SLICE(v, "\"last\"");
  TC_CHECK_EQ_INT(tc_json_object_get(tc_slice_str(o), "a", &v), 1);
  TC_CHECK_SLICE(v, "7");
  TC_CHECK_EQ_INT(tc_json_object_get(tc_slice_str(o), "nope", &v), 0);
  TC_CHECK_EQ_INT(tc_json_object_get(tc_slice_str("[1]"), "a", &v), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_object_get(tc_slice_str("{\"a\":1,}"), "a", &v), TC_EPROTO);
}

static void test_strings(void) {
  tc_buf_t b = {0};
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("\"a\\nb\\u00e9\\uD83D\\uDE00\\/\""), &b), 0);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), "a\nb\xc3\xa9\xf0\x9f\x98\x80/");
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("\"\\ud800x\\udc00\""), &b), 0);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}), "\xef\xbf\xbdx\xef\xbf\xbd");
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("\"\\u0000\""), &b), 0);
  TC_CHECK_EQ_INT(b.len, 1);
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("\"abc"), &b), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("abc"), &b), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_json_unescape(tc_slice_str("\"a\"b\""), &b), TC_EPROTO);

  TC_CHECK(tc_json_string_eq(tc_slice_str("\"connect\""), "connect", 7));
  TC_CHECK(tc_json_string_eq(tc_slice_str("\"\\u0063onnect\""), "connect", 7));
  TC_CHECK(!tc_json_string_eq(tc_slice_str("\"connect\""), "connec", 6));
  TC_CHECK(!tc_json_string_eq(tc_slice_str("\"connec\""), "connect", 7));
  TC_CHECK(!tc_json_string_eq(tc_slice_str("7"), "7", 1));
  TC_CHECK(tc_json_string_eq(tc_slice_str("\"\""), "", 0));

  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_json_escape(&b, "a\"b\\c\n\x01\x1f\xc3\xa9/", 11), 0);
  TC_CHECK_SLICE(((tc_slice_t){tc_buf_data(&b), b.len}),
                 "\"a\\\"b\\\\c\\n\\u0001\\u001f\xc3\xa9/\"");
  TC_CHECK_EQ_INT(tc_json_escape(&b, "\xff", 1), TC_EINVAL);
  tc_buf_free(&b);
}

static void test_uint(void) {
  uint64_t v = 0;
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("0"), &v), 0);
  TC_CHECK_EQ_INT(v, 0);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("42"), &v), 0);
  TC_CHECK_EQ_INT(v, 42);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("3.000"), &v), 0);
  TC_CHECK_EQ_INT(v, 3);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("9007199254740991"), &v), 0);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("9007199254740992"), &v), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("1.5"), &v), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("-1"), &v), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("1e2"), &v), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("\"1\""), &v), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_json_uint(tc_slice_str("01"), &v), TC_EINVAL);
}

static void test_type_trim(void) {
  TC_CHECK_EQ_INT(tc_json_type(tc_slice_str("  [")), TC_JSON_ARRAY);
  TC_CHECK_EQ_INT(tc_json_type(tc_slice_str("-1")), TC_JSON_NUMBER);
  TC_CHECK_EQ_INT(tc_json_type(tc_slice_str("\"")), TC_JSON_STRING);
  TC_CHECK_EQ_INT(tc_json_type(tc_slice_str("")), TC_JSON_INVALID);
  TC_CHECK_EQ_INT(tc_json_type(tc_slice_str("x")), TC_JSON_INVALID);
  TC_CHECK_SLICE(tc_json_trim(tc_slice_str(" \t a b \r\n")), "a b");
  TC_CHECK_EQ_INT(tc_json_trim((tc_slice_t){NULL, 0}).len, 0);
}

int main(void) {
  TC_RUN(test_valid);
  TC_RUN(test_invalid);
  TC_RUN(test_prefixes);
  TC_RUN(test_string_positions);
  TC_RUN(test_skip);
  TC_RUN(test_depth);
  TC_RUN(test_iter);
  TC_RUN(test_list);
  TC_RUN(test_object_get);
  TC_RUN(test_strings);
  TC_RUN(test_uint);
  TC_RUN(test_type_trim);
  return tc_test_end();
}
