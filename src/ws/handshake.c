/* The RFC 6455 opening handshake (section 4): checking a client's upgrade request, the accept
 * key, subprotocol choice, and the client's request and its check of the answer.
 *
 * Header fields that the request may legally repeat (Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions, RFC 6455 11.3.2 and 11.3.4) are refused when repeated: the results
 * are zero-copy slices of one value, and joining would need memory. Browsers and the common
 * libraries always send one. A repeated Sec-WebSocket-Key, Sec-WebSocket-Version or Origin is
 * refused as the RFCs require (RFC 6455 11.3.1 and 11.3.5, RFC 6454 7.3). A protocol list of
 * more than 128 names is refused too. */
#include "tincan/ws.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Non-NULL even when empty, so that callers may hand it to memcmp. */
static const tc_slice_t empty_slice = {(const uint8_t *)"", 0};

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(tc_slice_t s) {
  if (s.len == 0) return 0;
  for (size_t i = 0; i < s.len; i++)
    if (!is_tchar(s.p[i])) return 0;
  return 1;
}

/* Steps through a comma-separated list, skipping empty elements (RFC 9110 5.6.1) and trimming
 * optional whitespace around each. Returns 0 when there are no more. */
static int next_item(const uint8_t **pp, const uint8_t *end, tc_slice_t *out) {
  const uint8_t *p = *pp;
  while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
  if (p == end) {
    *pp = p;
    return 0;
  }
  const uint8_t *s = p;
  while (p < end && *p != ',') p++;
  const uint8_t *e = p;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *out = (tc_slice_t){s, (size_t)(e - s)};
  *pp = p;
  return 1;
}

static int slice_same(tc_slice_t a, tc_slice_t b) {
  return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* More than any client offers; the bound keeps the repeat check cheap on a 16 KiB header. */
#define WS_MAX_PROTOCOLS 128

/* 1#token with no repeats (RFC 6455 4.1 item 10). Protocol names compare exactly: the client
 * checks the server's choice byte for byte. */
static int protocol_list_valid(tc_slice_t v) {
  tc_slice_t seen[WS_MAX_PROTOCOLS], item;
  const uint8_t *p = v.p, *end = v.p + v.len;
  size_t count = 0;
  while (next_item(&p, end, &item)) {
    if (!is_token(item) || count == WS_MAX_PROTOCOLS) return 0;
    for (size_t i = 0; i < count; i++)
      if (slice_same(seen[i], item)) return 0;
    seen[count++] = item;
  }
  return count > 0;
}

static size_t header_count(const tc_http_header_t *h, size_t n, const char *name,
                           const tc_http_header_t **first) {
  size_t count = 0;
  tc_slice_t want = tc_slice_str(name);
  *first = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!tc_slice_ieq_slice(h[i].name, want)) continue;
    if (!count) *first = &h[i];
    count++;
  }
  return count;
}

/* Whether any instance of a list-valued header names the token: a field may be split over
 * several lines (RFC 9110 5.3). */
static int headers_list(const tc_http_header_t *h, size_t n, const char *name, const char *token) {
  tc_slice_t want = tc_slice_str(name);
  for (size_t i = 0; i < n; i++)
    if (tc_slice_ieq_slice(h[i].name, want) && tc_http_token_list_has(h[i].value, token)) return 1;
  return 0;
}

/* What Node's ws accepts: 22 base64 characters and "==", i.e. 16 bytes. Non-zero trailing bits
 * are let through, as the RFC's own example key has them. */
static int key_valid(tc_slice_t k) {
  if (k.len != 24 || k.p[22] != '=' || k.p[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++) {
    uint8_t c = k.p[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '/'))
      return 0;
  }
  return 1;
}

static int refuse(tc_ws_upgrade_t *out, int status) {
  out->error_status = status;
  return TC_EPROTO;
}

int tc_ws_upgrade_check(const tc_http_request_t *req, tc_ws_upgrade_t *out) {
  const tc_http_header_t *h = req->headers, *first;
  size_t n = req->num_headers;
  out->key = out->protocols = out->extensions = out->origin = empty_slice;
  out->error_status = 0;

  /* The order follows Node's ws, so that both answer the same status to the same request. */
  if (!tc_slice_eq(req->method, "GET") || req->version_minor < 1) return refuse(out, 400);
  if (!headers_list(h, n, "upgrade", "websocket")) return refuse(out, 400);
  if (!headers_list(h, n, "connection", "upgrade")) return refuse(out, 400);
  if (header_count(h, n, "sec-websocket-key", &first) != 1 || !key_valid(first->value))
    return refuse(out, 400);
  out->key = first->value;
  /* A missing version is answered like an unknown one: the client learns which we speak. */
  size_t versions = header_count(h, n, "sec-websocket-version", &first);
  if (versions > 1) return refuse(out, 400);
  if (versions == 0 || !tc_slice_eq(first->value, "13")) return refuse(out, 426);
  size_t count = header_count(h, n, "sec-websocket-protocol", &first);
  if (count > 1 || (count == 1 && !protocol_list_valid(first->value))) return refuse(out, 400);
  if (count) out->protocols = first->value;
  count = header_count(h, n, "sec-websocket-extensions", &first);
  if (count > 1) return refuse(out, 400);
  if (count) out->extensions = first->value;
  count = header_count(h, n, "origin", &first);
  if (count > 1) return refuse(out, 400);
  if (count) out->origin = first->value;
  return 0;
}

void tc_ws_accept_key(tc_slice_t key, char out[29]) {
  uint8_t stack[128], *buf = stack;
  size_t n = key.len + sizeof ws_guid - 1;
  out[0] = '\0';
  /* A real key is 24 bytes; only odd callers pay for the heap. */
  if (n > sizeof stack && !(buf = malloc(n))) return;
  if (key.len) memcpy(buf, key.p, key.len);
  memcpy(buf + key.len, ws_guid, sizeof ws_guid - 1);
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  /* On failure out stays empty, which no check accepts. */
  if (EVP_Digest(buf, n, digest, &dlen, EVP_sha1(), NULL) == 1 && dlen == 20)
    tc_base64_encode(digest, 20, out);
  if (buf != stack) free(buf);
}

const char *tc_ws_pick_protocol(tc_slice_t offered, const char *const *supported) {
  if (!supported || !offered.len) return NULL;
  const uint8_t *p = offered.p, *end = offered.p + offered.len;
  tc_slice_t item;
  while (next_item(&p, end, &item))
    for (size_t i = 0; supported[i]; i++)
      if (tc_slice_eq(item, supported[i])) return supported[i];
  return NULL;
}

/* ---- Client ---------------------------------------------------------------------------------- */

/* uri-host [":" port] (RFC 3986 3.2.2): unreserved, sub-delims, ':' and the brackets of an IPv6
 * literal, and '%' for its zone or an escape. */
static int host_ok(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    uint8_t c = (uint8_t)*s;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c != '\0' && strchr("-._~!$&'()*+,;=:[]%", c))))
      return 0;
  }
  return 1;
}

/* An origin-form target: visible ASCII without '#', as RFC 6455 3 forbids fragments. */
static int path_ok(const char *s) {
  if (*s != '/') return 0;
  for (; *s; s++)
    if ((uint8_t)*s <= 0x20 || (uint8_t)*s >= 0x7f || *s == '#') return 0;
  return 1;
}

/* A field value: no control characters but HTAB (RFC 9110 5.5). */
static int value_ok(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return 0;
  return 1;
}

/* Extra header lines: each "name: value\r\n", so nothing can end the section early or smuggle
 * a line in. */
static int extra_headers_ok(const char *s) {
  const uint8_t *p = (const uint8_t *)s;
  while (*p) {
    const uint8_t *name = p;
    while (is_tchar(*p)) p++;
    if (p == name || *p != ':') return 0;
    const uint8_t *v = ++p;
    while (*p && *p != '\r' && *p != '\n') p++;
    if (!value_ok(v, (size_t)(p - v)) || p[0] != '\r' || p[1] != '\n') return 0;
    p += 2;
  }
  return 1;
}

int tc_ws_client_request(tc_buf_t *out, const char *host, const char *path, const uint8_t nonce[16],
                         const char *protocols, const char *extensions, const char *extra_headers,
                         char key_out[25]) {
  if (!host || !path || !host_ok(host) || !path_ok(path)) return TC_EINVAL;
  if (protocols && *protocols && !protocol_list_valid(tc_slice_str(protocols))) return TC_EINVAL;
  if (extensions && !value_ok((const uint8_t *)extensions, strlen(extensions))) return TC_EINVAL;
  if (extra_headers && !extra_headers_ok(extra_headers)) return TC_EINVAL;
  tc_base64_encode(nonce, 16, key_out);

  size_t before = out->len;
  int r = tc_buf_appendf(out,
                         "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n",
                         path, host, key_out);
  if (!r && protocols && *protocols)
    r = tc_buf_appendf(out, "Sec-WebSocket-Protocol: %s\r\n", protocols);
  if (!r && extensions && *extensions)
    r = tc_buf_appendf(out, "Sec-WebSocket-Extensions: %s\r\n", extensions);
  if (!r && extra_headers) r = tc_buf_append_str(out, extra_headers);
  if (!r) r = tc_buf_append(out, "\r\n", 2);
  if (r) out->len = before; /* all or nothing */
  return r;
}

static int offered_list_has(const char *offered, tc_slice_t chosen) {
  tc_slice_t list = tc_slice_str(offered), item;
  const uint8_t *p = list.p, *end = list.p + list.len;
  while (next_item(&p, end, &item))
    if (slice_same(item, chosen)) return 1;
  return 0;
}

int tc_ws_client_check_response(const tc_http_response_t *res, const char key[25],
                                const char *offered_protocols, tc_slice_t *protocol,
                                tc_slice_t *extensions) {
  const tc_http_header_t *h = res->headers, *first;
  size_t n = res->num_headers;
  if (protocol) *protocol = empty_slice;
  if (extensions) *extensions = empty_slice;

  /* 101 does not exist in HTTP/1.0. */
  if (res->status != 101 || res->version_minor < 1) return TC_EPROTO;
  if (!headers_list(h, n, "upgrade", "websocket")) return TC_EPROTO;
  if (!headers_list(h, n, "connection", "upgrade")) return TC_EPROTO;
  char want[29];
  tc_ws_accept_key(tc_slice_str(key), want);
  if (strlen(want) != 28 || header_count(h, n, "sec-websocket-accept", &first) != 1 ||
      !tc_slice_eq(first->value, want))
    return TC_EPROTO;

  /* RFC 6455 4.1: the server may only choose a protocol we offered, and only one. */
  tc_slice_t chosen = empty_slice, ext = empty_slice;
  size_t count = header_count(h, n, "sec-websocket-protocol", &first);
  if (count > 1) return TC_EPROTO;
  if (count) {
    chosen = first->value;
    if (!is_token(chosen) || !offered_protocols || !offered_list_has(offered_protocols, chosen))
      return TC_EPROTO;
  }
  /* Whether the extensions were offered is for the extension's own check (for example
   * tc_ws_deflate_accept); an empty value is not a list. */
  count = header_count(h, n, "sec-websocket-extensions", &first);
  if (count > 1 || (count == 1 && first->value.len == 0)) return TC_EPROTO;
  if (count) ext = first->value;
  /* Set only on success, so that a refused answer leaves nothing to misuse. */
  if (protocol) *protocol = chosen;
  if (extensions) *extensions = ext;
  return 0;
}
