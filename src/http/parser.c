/* HTTP/1.1 message head parsing (RFC 9112 sections 2-6), zero-copy and allocation-free.
 *
 * The parser makes one forward pass over the bytes. Every step checks for the end of the input
 * first, so a truncated message yields TC_EAGAIN at exactly the point where more bytes are needed,
 * and a malformed one is refused as soon as the offending byte is seen. Byte classes come from one
 * table so that each byte costs a load and a mask. */
#include "tincan/http.h"

#include <string.h>

enum {
  C_TOKEN = 1,  /* tchar (RFC 9110 5.6.2) */
  C_VALUE = 2,  /* field-vchar, SP, HTAB: also the reason-phrase alphabet */
  C_TARGET = 4, /* request-target: visible ASCII but '#', plus obs-text */
  C_HOST = 8,   /* uri-host [ ":" port ]: unreserved, sub-delims, ':', '[', ']', '%' */
};

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    2,  15, 6,  3,  15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,  /* 0x20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 6,  14, 6,  6,  /* 0x30 */
    6,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 6,  14, 7,  15, /* 0x50 */
    7,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  7,  6,  15, 0,  /* 0x70 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x80 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0x90 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xa0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xb0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xc0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xd0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xe0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  /* 0xf0 */
};

/* RFC 9112 leaves the limit to the implementation; 2^62 keeps every sum with it inside int64_t. */
#define CL_MAX ((int64_t)1 << 62)

/* What the header section says about framing and the connection, gathered while scanning. */
typedef struct fields {
  int64_t content_length;
  unsigned cl_count, te_count, host_count;
  tc_slice_t te, host;
  unsigned cl_bad : 1;
  unsigned host_bad : 1;
  unsigned conn_close : 1;
  unsigned conn_keep_alive : 1;
  unsigned conn_upgrade : 1;
  unsigned has_upgrade : 1;
  unsigned expect_continue : 1;
} fields_t;

static inline int is_ows(uint8_t c) {
  return c == ' ' || c == '\t';
}

/* First byte at or after p that is not in class `mask`. Unrolled because header values and
 * targets are the bulk of a request head. */
static inline const uint8_t *scan(const uint8_t *p, const uint8_t *end, uint8_t mask) {
  while (end - p >= 4) {
    if (!(cls[p[0]] & mask)) return p;
    if (!(cls[p[1]] & mask)) return p + 1;
    if (!(cls[p[2]] & mask)) return p + 2;
    if (!(cls[p[3]] & mask)) return p + 3;
    p += 4;
  }
  while (p < end && (cls[*p] & mask)) p++;
  return p;
}

/* Word-at-a-time helpers: non-zero when some byte of x is below n (n <= 0x80), or equals b. */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u
static inline uint64_t has_below(uint64_t x, uint64_t n) {
  return (x - ONES * n) & ~x & HIGHS;
}
static inline uint64_t has_byte(uint64_t x, uint64_t b) {
  return has_below(x ^ (ONES * b), 1);
}

/* scan() for field values, which are long (user agents, cookies) and almost never hold control
 * bytes: eight bytes are tested at once, and only a word that may hold a stop byte (usually the
 * line end) is looked at byte by byte. HTAB also stops the fast loop; the table then accepts it. */
static inline const uint8_t *scan_value(const uint8_t *p, const uint8_t *end) {
  while (end - p >= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    if (has_below(x, 0x20) | has_byte(x, 0x7f)) break;
    p += 8;
  }
  return scan(p, end, C_VALUE);
}

/* The same for the request target, which stops at SP, controls, DEL and '#'. */
static inline const uint8_t *scan_target(const uint8_t *p, const uint8_t *end) {
  while (end - p >= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    if (has_below(x, 0x21) | has_byte(x, 0x7f) | has_byte(x, '#')) break;
    p += 8;
  }
  return scan(p, end, C_TARGET);
}

/* Consumes CRLF or a bare LF. A CR not followed by LF is an error wherever it appears. */
static inline int line_end(const uint8_t **pp, const uint8_t *end) {
  const uint8_t *p = *pp;
  if (p == end) return TC_EAGAIN;
  if (*p == '\n') {
    *pp = p + 1;
    return 0;
  }
  if (*p != '\r') return TC_EPROTO;
  if (p + 1 == end) return TC_EAGAIN;
  if (p[1] != '\n') return TC_EPROTO;
  *pp = p + 2;
  return 0;
}

/* Compares a field name or list element with a lowercase literal of letters and '-'. OR-ing 0x20
 * folds case; no other byte that can occur there folds onto a letter or '-' (only CR would), so
 * the comparison stays exact. */
static inline int name_is(tc_slice_t s, const char *lit, size_t n) {
  if (s.len != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s.p[i] | 0x20) != (uint8_t)lit[i]) return 0;
  return 1;
}

/* Steps through the elements of a comma-separated list, skipping empty ones (RFC 9110 5.6.1).
 * Returns 0 when there are no more. */
static inline int next_element(const uint8_t **pp, const uint8_t *end, tc_slice_t *out) {
  const uint8_t *p = *pp;
  while (p < end && (is_ows(*p) || *p == ',')) p++;
  if (p == end) {
    *pp = p;
    return 0;
  }
  const uint8_t *s = p;
  while (p < end && *p != ',') p++;
  const uint8_t *e = p;
  while (e > s && is_ows(e[-1])) e--;
  *out = (tc_slice_t){s, (size_t)(e - s)};
  *pp = p;
  return 1;
}

static void note_connection(fields_t *f, tc_slice_t v) {
  const uint8_t *p = v.p, *end = v.p + v.len;
  tc_slice_t el;
  while (next_element(&p, end, &el)) {
    if (name_is(el, "close", 5))
      f->conn_close = 1;
    else if (name_is(el, "keep-alive", 10))
      f->conn_keep_alive = 1;
    else if (name_is(el, "upgrade", 7))
      f->conn_upgrade = 1;
  }
}

static void note_content_length(fields_t *f, tc_slice_t v) {
  int64_t n = 0;
  if (++f->cl_count > 1 || v.len == 0) {
    f->cl_bad = 1;
    return;
  }
  for (size_t i = 0; i < v.len; i++) {
    unsigned d = (unsigned)v.p[i] - '0';
    if (d > 9 || n > (CL_MAX - (int64_t)d) / 10) {
      f->cl_bad = 1;
      return;
    }
    n = n * 10 + (int64_t)d;
  }
  f->content_length = n;
}

static void note_host(fields_t *f, tc_slice_t v) {
  f->host_count++;
  f->host = v;
  for (size_t i = 0; i < v.len; i++)
    if (!(cls[v.p[i]] & C_HOST)) f->host_bad = 1;
}

/* Picks out the fields that decide framing and connection handling. Dispatching on the length
 * first keeps the common case (an unrelated header) to one switch. */
static inline void note_field(fields_t *f, tc_slice_t name, tc_slice_t v) {
  switch (name.len) {
    case 4:
      if (name_is(name, "host", 4)) note_host(f, v);
      break;
    case 6:
      if (name_is(name, "expect", 6) && tc_slice_ieq(v, "100-continue")) f->expect_continue = 1;
      break;
    case 7:
      if (name_is(name, "upgrade", 7)) f->has_upgrade = 1;
      break;
    case 10:
      if (name_is(name, "connection", 10)) note_connection(f, v);
      break;
    case 14:
      if (name_is(name, "content-length", 14)) note_content_length(f, v);
      break;
    case 17:
      if (name_is(name, "transfer-encoding", 17)) {
        f->te_count++;
        f->te = v;
      }
      break;
    default:
      break;
  }
}

/* Parses field lines from *pp through the empty line that ends the section. */
static int parse_fields(const uint8_t **pp, const uint8_t *end, tc_http_header_t *hs, size_t cap,
                        size_t *count, fields_t *f) {
  const uint8_t *p = *pp;
  size_t n = 0;
  for (;;) {
    if (p == end) return TC_EAGAIN;
    if (*p == '\r' || *p == '\n') break;
    /* A line starting with whitespace is obs-fold (or whitespace after the start line); both are
     * refused rather than unfolded. An empty name falls out here too. */
    if (!(cls[*p] & C_TOKEN)) return TC_EPROTO;
    if (n == cap) return TC_E2BIG;
    const uint8_t *name = p;
    p = scan(p + 1, end, C_TOKEN);
    if (p == end) return TC_EAGAIN;
    if (*p != ':') return TC_EPROTO;
    tc_slice_t nm = {name, (size_t)(p - name)};
    p++;
    while (p < end && is_ows(*p)) p++;
    const uint8_t *val = p;
    p = scan_value(p, end);
    const uint8_t *vend = p;
    int r = line_end(&p, end);
    if (r) return r;
    while (vend > val && is_ows(vend[-1])) vend--;
    tc_slice_t v = {val, (size_t)(vend - val)};
    hs[n].name = nm;
    hs[n].value = v;
    n++;
    note_field(f, nm, v);
  }
  int r = line_end(&p, end);
  if (r) return r;
  *pp = p;
  *count = n;
  return 0;
}

/* "HTTP/" DIGIT "." DIGIT, case-sensitive. */
static int parse_version(const uint8_t **pp, const uint8_t *end, int *major, int *minor) {
  static const char lit[] = "HTTP/";
  const uint8_t *p = *pp;
  size_t avail = (size_t)(end - p);
  size_t n = avail < 5 ? avail : 5;
  if (memcmp(p, lit, n) != 0) return TC_EPROTO;
  if (avail < 8) {
    /* Refuse a wrong prefix early; otherwise wait for the rest. */
    if (avail > 5 && (unsigned)(p[5] - '0') > 9) return TC_EPROTO;
    if (avail > 6 && p[6] != '.') return TC_EPROTO;
    return TC_EAGAIN;
  }
  if ((unsigned)(p[5] - '0') > 9 || p[6] != '.' || (unsigned)(p[7] - '0') > 9) return TC_EPROTO;
  *major = p[5] - '0';
  *minor = p[7] - '0';
  *pp = p + 8;
  return 0;
}

/* The limit bounds the bytes scanned; running out below it means "wait", at it means "too big". */
static inline const uint8_t *scan_end(const uint8_t *buf, size_t len, size_t max) {
  return buf + (max && max < len ? max : len);
}

static inline int out_of_bytes(int r, size_t len, size_t max) {
  return r == TC_EAGAIN && max && len >= max ? TC_E2BIG : r;
}

static int parse_request_line(const uint8_t **pp, const uint8_t *end, tc_http_request_t *req) {
  const uint8_t *p = *pp;
  /* RFC 9112 2.2: empty lines before the request line are ignored. */
  for (;;) {
    if (p == end) return TC_EAGAIN;
    if (*p != '\r' && *p != '\n') break;
    int r = line_end(&p, end);
    if (r) return r;
  }
  const uint8_t *m = p;
  p = scan(p, end, C_TOKEN);
  if (p == end) return TC_EAGAIN;
  if (p == m || *p != ' ') return TC_EPROTO;
  req->method = (tc_slice_t){m, (size_t)(p - m)};
  const uint8_t *t = ++p;
  p = scan_target(p, end);
  if (p == end) return TC_EAGAIN;
  if (p == t || *p != ' ') return TC_EPROTO;
  tc_slice_t target = {t, (size_t)(p - t)};
  req->target = target;
  const uint8_t *q = memchr(t, '?', target.len);
  if (q) {
    req->path = (tc_slice_t){t, (size_t)(q - t)};
    req->query = (tc_slice_t){q + 1, (size_t)(p - q - 1)};
  } else {
    req->path = target;
    req->query = (tc_slice_t){p, 0};
  }
  p++;
  int major, minor;
  int r = parse_version(&p, end, &major, &minor);
  if (r) return r;
  r = line_end(&p, end);
  if (r) return r;
  if (major != 1) {
    req->error_status = 505;
    return TC_ENOTSUP;
  }
  req->version_minor = minor > 1 ? 1 : minor;
  *pp = p;
  return 0;
}

/* Whole-section rules (RFC 9112 3.2, 6.1, 6.3). Every 400 is decided before any 501. */
static int check_request(tc_http_request_t *req, const fields_t *f) {
  int v11 = req->version_minor >= 1;
  if (f->cl_bad || (f->cl_count && f->te_count) || (f->te_count && !v11) || f->host_count > 1 ||
      f->host_bad || (v11 && f->host_count == 0)) {
    req->error_status = 400;
    return TC_EPROTO;
  }
  if (f->te_count) {
    /* Only a lone "chunked" is understood; anything else has a coding this server lacks. */
    if (f->te_count != 1 || !tc_slice_ieq(f->te, "chunked")) {
      req->error_status = 501;
      return TC_ENOTSUP;
    }
    req->chunked = 1;
  }
  req->content_length = f->cl_count ? f->content_length : -1;
  if (f->host_count) req->host = f->host;
  req->keep_alive = f->conn_close ? 0 : (f->conn_keep_alive || v11);
  req->upgrade = f->conn_upgrade && f->has_upgrade;
  /* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored. */
  req->expect_continue = f->expect_continue && v11;
  return 0;
}

ssize_t tc_http_parse_request(const uint8_t *buf, size_t len, tc_http_request_t *req,
                              size_t max_header_bytes) {
  size_t cap = req->num_headers, count = 0;
  fields_t f = {0};
  req->method = req->target = req->path = req->query = req->host = (tc_slice_t){buf, 0};
  req->version_minor = 0;
  req->content_length = -1;
  req->chunked = req->keep_alive = req->upgrade = req->expect_continue = 0;
  req->error_status = 0;
  if (!len) return TC_EAGAIN;
  const uint8_t *p = buf, *end = scan_end(buf, len, max_header_bytes);

  int r = parse_request_line(&p, end, req);
  if (!r) r = parse_fields(&p, end, req->headers, cap, &count, &f);
  r = out_of_bytes(r, len, max_header_bytes);
  if (r == TC_EAGAIN) return r;
  if (r == TC_E2BIG) {
    req->error_status = 431;
    return r;
  }
  if (r) {
    if (!req->error_status) req->error_status = 400;
    return r;
  }
  r = check_request(req, &f);
  if (r) return r;
  req->num_headers = count;
  return (ssize_t)(p - buf);
}

static int parse_status_line(const uint8_t **pp, const uint8_t *end, tc_http_response_t *res) {
  const uint8_t *p = *pp;
  int major, minor;
  int r = parse_version(&p, end, &major, &minor);
  if (r) return r;
  if (major != 1) return TC_EPROTO;
  res->version_minor = minor > 1 ? 1 : minor;
  if (p == end) return TC_EAGAIN;
  if (*p++ != ' ') return TC_EPROTO;
  int status = 0;
  for (int i = 0; i < 3; i++, p++) {
    if (p == end) return TC_EAGAIN;
    unsigned d = (unsigned)*p - '0';
    if (d > 9 || (i == 0 && d == 0)) return TC_EPROTO;
    status = status * 10 + (int)d;
  }
  res->status = status;
  if (p == end) return TC_EAGAIN;
  /* The SP before an empty reason is required by the grammar but commonly dropped. */
  if (*p == ' ') {
    const uint8_t *s = ++p;
    p = scan(p, end, C_VALUE);
    res->reason = (tc_slice_t){s, (size_t)(p - s)};
  } else {
    res->reason = (tc_slice_t){p, 0};
  }
  r = line_end(&p, end);
  if (r) return r;
  *pp = p;
  return 0;
}

ssize_t tc_http_parse_response(const uint8_t *buf, size_t len, tc_http_response_t *res,
                               size_t max_header_bytes) {
  size_t count = 0;
  fields_t f = {0};
  res->status = 0;
  res->reason = (tc_slice_t){buf, 0};
  res->version_minor = 0;
  res->content_length = -1;
  res->chunked = res->keep_alive = 0;
  if (!len) return TC_EAGAIN;
  const uint8_t *p = buf, *end = scan_end(buf, len, max_header_bytes);

  int r = parse_status_line(&p, end, res);
  if (!r) r = parse_fields(&p, end, res->headers, res->num_headers, &count, &f);
  r = out_of_bytes(r, len, max_header_bytes);
  if (r) return r;
  if (f.cl_bad || (f.cl_count && f.te_count)) return TC_EPROTO;
  if (f.te_count) {
    /* A response whose codings do not end in chunked is delimited by the connection closing. */
    const uint8_t *q = f.te.p, *te_end = f.te.p + f.te.len;
    tc_slice_t el, last = {q, 0};
    while (next_element(&q, te_end, &el)) last = el;
    res->chunked = name_is(last, "chunked", 7) ? 1 : 0;
  } else if (f.cl_count) {
    res->content_length = f.content_length;
  }
  res->keep_alive = f.conn_close ? 0 : (f.conn_keep_alive || res->version_minor >= 1);
  res->num_headers = count;
  return (ssize_t)(p - buf);
}

size_t tc_http_find_header_end(const uint8_t *buf, size_t len, size_t from) {
  size_t i = 0;
  /* Empty lines before the start line belong to no header section (see parse_request_line). */
  while (i < len) {
    if (buf[i] == '\n')
      i++;
    else if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
      i += 2;
    else
      break;
  }
  if (from > len) from = len;
  if (from > 3 && from - 3 > i) i = from - 3;
  while (i < len) {
    const uint8_t *lf = memchr(buf + i, '\n', len - i);
    if (!lf) return 0;
    size_t k = (size_t)(lf - buf) + 1;
    if (k < len && buf[k] == '\n') return k + 1;
    if (k + 1 < len && buf[k] == '\r' && buf[k + 1] == '\n') return k + 2;
    i = k;
  }
  return 0;
}

const tc_http_header_t *tc_http_header_get(const tc_http_header_t *h, size_t n, const char *name) {
  tc_slice_t want = tc_slice_str(name);
  for (size_t i = 0; i < n; i++)
    if (tc_slice_ieq_slice(h[i].name, want)) return &h[i];
  return NULL;
}

int tc_http_token_list_has(tc_slice_t value, const char *token) {
  if (!value.len) return 0;
  tc_slice_t want = tc_slice_str(token), el;
  const uint8_t *p = value.p, *end = value.p + value.len;
  while (next_element(&p, end, &el))
    if (tc_slice_ieq_slice(el, want)) return 1;
  return 0;
}

const char *tc_http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}
