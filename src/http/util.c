/* HTTP helpers shared by the server and static files: HTTP dates, path decoding, media types. */
#include "tincan/http.h"

#include <string.h>
#include <time.h>

static const char k_wkday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const k_weekday[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char k_month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The range of years that have four digits: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TC_DATE_MIN (-62167219200LL)
#define TC_DATE_MAX 253402300799LL

/* Proleptic Gregorian calendar date of a day count relative to 1970-01-01. Done by hand because
 * gmtime_r takes glibc's time-zone lock even for UTC, and the server formats a date every second.
 */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *mday) {
  int64_t z = days + 719468; /* days since 0000-03-01: leap days then fall at the end of a year */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *mday = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static char *put2(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
  return p + 2;
}

size_t tc_http_date_format(time_t t, char *out) {
  long long s = (long long)t;
  if (s < TC_DATE_MIN) s = TC_DATE_MIN;
  if (s > TC_DATE_MAX) s = TC_DATE_MAX;
  long long days = s / 86400, secs = s % 86400;
  if (secs < 0) {
    secs += 86400;
    days--;
  }
  int64_t year;
  unsigned month, mday;
  civil_from_days(days, &year, &month, &mday);
  long long wd = (days + 4) % 7; /* 1970-01-01 was a Thursday */
  if (wd < 0) wd += 7;

  char *p = out;
  memcpy(p, k_wkday[wd], 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  p = put2(p, mday);
  *p++ = ' ';
  memcpy(p, k_month[month - 1], 3);
  p += 3;
  *p++ = ' ';
  p = put2(p, (unsigned)(year / 100));
  p = put2(p, (unsigned)(year % 100));
  *p++ = ' ';
  p = put2(p, (unsigned)(secs / 3600));
  *p++ = ':';
  p = put2(p, (unsigned)(secs / 60 % 60));
  *p++ = ':';
  p = put2(p, (unsigned)(secs % 60));
  memcpy(p, " GMT", 5);
  return (size_t)(p + 4 - out);
}

/* Exactly n ASCII digits. */
static int digits(const uint8_t *p, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return 0;
}

/* Names are case-sensitive (RFC 9110 section 5.6.7). */
static int month_index(const uint8_t *p) {
  for (int i = 0; i < 12; i++)
    if (memcmp(p, k_month[i], 3) == 0) return i;
  return -1;
}

static int wkday_index(const uint8_t *p) {
  for (int i = 0; i < 7; i++)
    if (memcmp(p, k_wkday[i], 3) == 0) return i;
  return -1;
}

/* "hh:mm:ss" */
static int parse_clock(const uint8_t *p, struct tm *tm) {
  if (p[2] != ':' || p[5] != ':') return -1;
  if (digits(p, 2, &tm->tm_hour) || digits(p + 3, 2, &tm->tm_min) || digits(p + 6, 2, &tm->tm_sec))
    return -1;
  return 0;
}

static int is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Checks the fields (tm_year holds the full year here) and converts them. */
static int finish_date(struct tm *tm, int year, time_t *out) {
  static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1) return TC_EINVAL;
  int last = mdays[tm->tm_mon] + (tm->tm_mon == 1 && is_leap(year));
  if (tm->tm_mday > last) return TC_EINVAL;
  /* 60 is a leap second; timegm carries it into the next minute. */
  if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60) return TC_EINVAL;
  tm->tm_year = year - 1900;
  tm->tm_isdst = 0;
  time_t t = timegm(tm);
  /* Four-digit years always fit a 64-bit time_t; only a 32-bit one can overflow. */
  if (sizeof(time_t) < 8 && t == (time_t)-1) return TC_EINVAL;
  *out = t;
  return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(const uint8_t *p, time_t *out) {
  struct tm tm = {0};
  int year;
  if (wkday_index(p) < 0 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
      p[16] != ' ' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
    return TC_EINVAL;
  if (digits(p + 5, 2, &tm.tm_mday) || digits(p + 12, 4, &year) || parse_clock(p + 17, &tm))
    return TC_EINVAL;
  tm.tm_mon = month_index(p + 8);
  return finish_date(&tm, year, out);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT" */
static int parse_rfc850(tc_slice_t s, time_t *out) {
  const uint8_t *comma = memchr(s.p, ',', s.len);
  if (!comma) return TC_EINVAL;
  size_t nlen = (size_t)(comma - s.p);
  int wd = -1;
  for (int i = 0; i < 7; i++)
    if (strlen(k_weekday[i]) == nlen && memcmp(s.p, k_weekday[i], nlen) == 0) wd = i;
  if (wd < 0 || s.len - nlen != 24) return TC_EINVAL;
  const uint8_t *p = comma + 1; /* " 06-Nov-94 08:49:37 GMT" */
  struct tm tm = {0};
  int yy;
  if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || p[19] != ' ' ||
      memcmp(p + 20, "GMT", 3) != 0)
    return TC_EINVAL;
  if (digits(p + 1, 2, &tm.tm_mday) || digits(p + 8, 2, &yy) || parse_clock(p + 11, &tm))
    return TC_EINVAL;
  tm.tm_mon = month_index(p + 4);
  /* RFC 9110 section 5.6.7: a two-digit year more than 50 years in the future means the most
   * recent past year with those digits. */
  struct tm now;
  time_t tnow = time(NULL);
  int cur = gmtime_r(&tnow, &now) ? now.tm_year + 1900 : 2000;
  int year = cur - cur % 100 + yy;
  if (year > cur + 50) year -= 100;
  return finish_date(&tm, year, out);
}

/* "Sun Nov  6 08:49:37 1994" */
static int parse_asctime(const uint8_t *p, time_t *out) {
  struct tm tm = {0};
  int year;
  if (wkday_index(p) < 0 || p[3] != ' ' || p[7] != ' ' || p[10] != ' ' || p[19] != ' ')
    return TC_EINVAL;
  if (p[8] == ' ') {
    if (digits(p + 9, 1, &tm.tm_mday)) return TC_EINVAL;
  } else if (digits(p + 8, 2, &tm.tm_mday)) {
    return TC_EINVAL;
  }
  if (parse_clock(p + 11, &tm) || digits(p + 20, 4, &year)) return TC_EINVAL;
  tm.tm_mon = month_index(p + 4);
  return finish_date(&tm, year, out);
}

int tc_http_date_parse(tc_slice_t s, time_t *out) {
  s = tc_slice_trim(s);
  if (s.len == 29 && s.p[3] == ',') return parse_imf(s.p, out);
  if (s.len == 24 && s.p[3] == ' ') return parse_asctime(s.p, out);
  if (s.len >= 30 && s.len <= 33) return parse_rfc850(s, out);
  return TC_EINVAL;
}

static int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

ssize_t tc_http_path_decode(tc_slice_t in, char *out) {
  size_t n = 0;
  for (size_t i = 0; i < in.len; i++) {
    uint8_t c = in.p[i];
    if (c == '%') {
      if (in.len - i < 3) return TC_EINVAL;
      int hi = hex_value(in.p[i + 1]), lo = hex_value(in.p[i + 2]);
      if (hi < 0 || lo < 0) return TC_EINVAL;
      c = (uint8_t)(hi << 4 | lo);
      i += 2;
    }
    /* A NUL would cut the name short at the system call and so serve a different file. */
    if (c == 0) return TC_EINVAL;
    out[n++] = (char)c;
  }
  out[n] = '\0';
  return (ssize_t)n;
}

typedef struct mime_entry {
  const char *ext;
  const char *type;
} mime_entry_t;

static const mime_entry_t k_mime[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"xml", "application/xml"},
    {"pdf", "application/pdf"},
};

const char *tc_http_mime_type(const char *filename) {
  const char *name = strrchr(filename, '/');
  name = name ? name + 1 : filename;
  const char *dot = strrchr(name, '.');
  if (dot && dot != name) {
    const char *ext = dot + 1;
    size_t n = strlen(ext);
    for (size_t i = 0; i < sizeof k_mime / sizeof k_mime[0]; i++)
      if (tc_slice_ieq((tc_slice_t){(const uint8_t *)ext, n}, k_mime[i].ext)) return k_mime[i].type;
  }
  return "application/octet-stream";
}
