#include "tincan/http.h"
#include "tc_test.h"

#include <string.h>

static int parse(const char *s, time_t *t) {
  return tc_http_date_parse(tc_slice_str(s), t);
}

static void test_date_format(void) {
  char buf[32];
  TC_CHECK_EQ_INT(tc_http_date_format(784111777, buf), 29);
  TC_CHECK(strcmp(buf, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
  tc_http_date_format(0, buf);
  TC_CHECK(strcmp(buf, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  tc_http_date_format(-1, buf);
  TC_CHECK(strcmp(buf, "Wed, 31 Dec 1969 23:59:59 GMT") == 0);
  tc_http_date_format(951782400, buf); /* a leap day in a year divisible by 400 */
  TC_CHECK(strcmp(buf, "Tue, 29 Feb 2000 00:00:00 GMT") == 0);
  tc_http_date_format(4107542399, buf); /* 2100 is no leap year */
  TC_CHECK(strcmp(buf, "Sun, 28 Feb 2100 23:59:59 GMT") == 0);
  tc_http_date_format(4107542400, buf);
  TC_CHECK(strcmp(buf, "Mon, 01 Mar 2100 00:00:00 GMT") == 0);
  /* Out of range clamps to four-digit years rather than writing garbage. */
  TC_CHECK_EQ_INT(tc_http_date_format((time_t)INT64_MAX, buf), 29);
  TC_CHECK(strcmp(buf, "Fri, 31 Dec 9999 23:59:59 GMT") == 0);
  TC_CHECK_EQ_INT(tc_http_date_format((time_t)INT64_MIN, buf), 29);
  TC_CHECK(strcmp(buf, "Sat, 01 Jan 0000 00:00:00 GMT") == 0);
}

static void test_date_roundtrip(void) {
  char buf[32];
  time_t back;
  /* Every day for 600 years, at a changing time of day, must survive format then parse. */
  for (long long t = -2208988800LL; t < 16725225600LL; t += 86400LL * 3 + 3671) {
    tc_http_date_format((time_t)t, buf);
    if (parse(buf, &back) != 0 || back != (time_t)t) {
      TC_CHECK_EQ_INT(back, t);
      break;
    }
  }
  TC_CHECK(1);
}

static void test_date_parse_formats(void) {
  time_t t = 0;
  TC_CHECK_EQ_INT(parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777);
  t = 0;
  TC_CHECK_EQ_INT(parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777);
  t = 0;
  TC_CHECK_EQ_INT(parse("Wednesday, 09-Nov-94 08:49:37 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777 + 3 * 86400);
  t = 0;
  TC_CHECK_EQ_INT(parse("Sun Nov  6 08:49:37 1994", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777);
  t = 0;
  TC_CHECK_EQ_INT(parse("Sun Nov 16 08:49:37 1994", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777 + 10 * 86400);
  /* Surrounding whitespace is tolerated (header values usually arrive trimmed anyway). */
  TC_CHECK_EQ_INT(parse("  Sun, 06 Nov 1994 08:49:37 GMT ", &t), 0);
  TC_CHECK_EQ_INT(t, 784111777);
  /* Leap day and leap second. */
  TC_CHECK_EQ_INT(parse("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 951782400);
  TC_CHECK_EQ_INT(parse("Sat, 31 Dec 2016 23:59:60 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 1483228800);
  /* RFC 850 two-digit years: ones that look more than 50 years ahead are in the past. */
  TC_CHECK_EQ_INT(parse("Thursday, 01-Jan-99 00:00:00 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 915148800);
  TC_CHECK_EQ_INT(parse("Saturday, 01-Jan-00 00:00:00 GMT", &t), 0);
  TC_CHECK_EQ_INT(t, 946684800);
}

static void test_date_parse_invalid(void) {
  static const char *const bad[] = {
      "",
      "garbage",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 gmt",
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT ext",
      "Sun,06 Nov 1994 08:49:37 GMT ",
      "Sun, 06-Nov-1994 08:49:37 GMT",
      "Sun, 0a Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:3x GMT",
      "Sun, 06 Nov +994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 UTC",
      "Sundy, 06-Nov-94 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",
      "Sunday, 06 Nov 94 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT x",
      "Sunday, 6-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-9x 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov 06  8:49:37 1994",
      "Sun Nov  x 08:49:37 1994",
      "Sun Nov 32 08:49:37 1994",
      "Sun Nov  6 08:49:37 199x",
      "Sun  Nov 6 08:49:37 1994",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    time_t t = 12345;
    int rc = parse(bad[i], &t);
    if (rc != TC_EINVAL) fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
    TC_CHECK_EQ_INT(rc, TC_EINVAL);
    TC_CHECK_EQ_INT(t, 12345);
  }
  /* Not NUL-terminated: the parser must stay inside the slice. */
  time_t t;
  const char *s = "Sun, 06 Nov 1994 08:49:37 GMTXXXX";
  TC_CHECK_EQ_INT(tc_http_date_parse((tc_slice_t){(const uint8_t *)s, 28}, &t), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_http_date_parse((tc_slice_t){(const uint8_t *)s, 29}, &t), 0);
}

static ssize_t decode(const char *in, char *out) {
  return tc_http_path_decode(tc_slice_str(in), out);
}

static void test_path_decode(void) {
  char out[64];
  TC_CHECK_EQ_INT(decode("/a/b.html", out), 9);
  TC_CHECK(strcmp(out, "/a/b.html") == 0);
  TC_CHECK_EQ_INT(decode("/a%20b", out), 4);
  TC_CHECK(strcmp(out, "/a b") == 0);
  TC_CHECK_EQ_INT(decode("/%2e%2E/%2F", out), 5);
  TC_CHECK(strcmp(out, "/..//") == 0);
  TC_CHECK_EQ_INT(decode("/a+b", out), 4);
  TC_CHECK(strcmp(out, "/a+b") == 0);
  TC_CHECK_EQ_INT(decode("%c3%A9", out), 2);
  TC_CHECK((unsigned char)out[0] == 0xc3 && (unsigned char)out[1] == 0xa9 && out[2] == 0);
  TC_CHECK_EQ_INT(decode("", out), 0);
  TC_CHECK(out[0] == 0);
  TC_CHECK_EQ_INT(decode("%ff%80", out), 2);

  /* Bad escapes and NUL. */
  TC_CHECK_EQ_INT(decode("/a%", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a%2", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a%g0", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a%0g", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a%%41", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a% 1", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("/a%00b", out), TC_EINVAL);
  TC_CHECK_EQ_INT(decode("%00", out), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_http_path_decode((tc_slice_t){(const uint8_t *)"/a\0b", 4}, out), TC_EINVAL);
  /* The escape must not be read past the slice end. */
  TC_CHECK_EQ_INT(tc_http_path_decode((tc_slice_t){(const uint8_t *)"/%41", 3}, out), TC_EINVAL);
}

static void test_mime(void) {
  static const char *const cases[][2] = {
      {"index.html", "text/html; charset=utf-8"},
      {"/a/b/INDEX.HTM", "text/html; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"mod.mjs", "text/javascript; charset=utf-8"},
      {"data.json", "application/json"},
      {"app.js.map", "application/json"},
      {"logo.svg", "image/svg+xml"},
      {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},
      {"a.JPEG", "image/jpeg"},
      {"a.gif", "image/gif"},
      {"a.webp", "image/webp"},
      {"favicon.ico", "image/x-icon"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"README.md", "text/markdown; charset=utf-8"},
      {"m.wasm", "application/wasm"},
      {"f.woff", "font/woff"},
      {"f.woff2", "font/woff2"},
      {"v.mp4", "video/mp4"},
      {"v.webm", "video/webm"},
      {"feed.xml", "application/xml"},
      {"doc.pdf", "application/pdf"},
      {"archive.tar.gz", "application/octet-stream"},
      {"noext", "application/octet-stream"},
      {"dir.html/noext", "application/octet-stream"},
      {".html", "application/octet-stream"},
      {"trailing.", "application/octet-stream"},
      {"", "application/octet-stream"},
      {"a.htmlx", "application/octet-stream"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = tc_http_mime_type(cases[i][0]);
    if (strcmp(got, cases[i][1]) != 0) fprintf(stderr, "%s -> %s\n", cases[i][0], got);
    TC_CHECK(strcmp(got, cases[i][1]) == 0);
  }
}

int main(void) {
  TC_RUN(test_date_format);
  TC_RUN(test_date_roundtrip);
  TC_RUN(test_date_parse_formats);
  TC_RUN(test_date_parse_invalid);
  TC_RUN(test_path_decode);
  TC_RUN(test_mime);
  return tc_test_end();
}
