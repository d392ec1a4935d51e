#include "tc_test.h"
#include "tincan/ws.h"

#include <stdlib.h>

#define NH 32

/* ---- Parsing helpers ------------------------------------------------------------------------- */

/* A parsed request (or response) that owns a heap copy of its bytes, so slices stay valid. */
typedef struct parsed {
  uint8_t *bytes;
  tc_http_header_t hs[NH];
  tc_http_request_t req;
  tc_http_response_t res;
  ssize_t r;
} parsed_t;

/* Parses the whole text, after checking that every shorter prefix (an exact heap copy each:
 * byte-by-byte arrival, or a split at that offset) asks for more bytes. */
static void parse_request(const char *text, parsed_t *out) {
  size_t len = strlen(text);
  for (size_t k = 0; k < len; k++) {
    uint8_t *part = malloc(k ? k : 1);
    memcpy(part, text, k);
    tc_http_header_t hs[NH];
    tc_http_request_t req = {0};
    req.headers = hs;
    req.num_headers = NH;
    ssize_t r = tc_http_parse_request(part, k, &req, 0);
    free(part);
    if (r != TC_EAGAIN) {
      TC_CHECK_EQ_INT(r, TC_EAGAIN);
      fprintf(stderr, "  prefix %zu of:\n%s\n", k, text);
      break;
    }
  }
  out->bytes = malloc(len);
  memcpy(out->bytes, text, len);
  memset(&out->req, 0, sizeof out->req);
  out->req.headers = out->hs;
  out->req.num_headers = NH;
  out->r = tc_http_parse_request(out->bytes, len, &out->req, 0);
}

static void parse_response(const char *text, parsed_t *out) {
  size_t len = strlen(text);
  for (size_t k = 0; k < len; k++) {
    uint8_t *part = malloc(k ? k : 1);
    memcpy(part, text, k);
    tc_http_header_t hs[NH];
    tc_http_response_t res = {0};
    res.headers = hs;
    res.num_headers = NH;
    ssize_t r = tc_http_parse_response(part, k, &res, 0);
    free(part);
    if (r != TC_EAGAIN) {
      TC_CHECK_EQ_INT(r, TC_EAGAIN);
      break;
    }
  }
  out->bytes = malloc(len);
  memcpy(out->bytes, text, len);
  memset(&out->res, 0, sizeof out->res);
  out->res.headers = out->hs;
  out->res.num_headers = NH;
  out->r = tc_http_parse_response(out->bytes, len, &out->res, 0);
}

/* Runs the upgrade check on a request text; returns 0 or the error status. The slices in *u
 * point into p->bytes, which the caller frees. */
static int upgrade_keep(const char *text, tc_ws_upgrade_t *u, parsed_t *p, int line) {
  parse_request(text, p);
  int status = -1;
  if (p->r != (ssize_t)strlen(text)) {
    TC_CHECK_EQ_INT(p->r, strlen(text));
    fprintf(stderr, "  (request at line %d does not parse)\n", line);
  } else {
    memset(u, 0x5a, sizeof *u);
    int r = tc_ws_upgrade_check(&p->req, u);
    TC_CHECK(r == 0 || r == TC_EPROTO);
    TC_CHECK_EQ_INT(r == 0, u->error_status == 0);
    status = r == 0 ? 0 : u->error_status;
    TC_CHECK(status == 0 || status == 400 || status == 426);
    /* Slices are never NULL, even when empty. */
    TC_CHECK(u->key.p && u->protocols.p && u->extensions.p && u->origin.p);
  }
  return status;
}

static int upgrade(const char *text, tc_ws_upgrade_t *u, int line) {
  parsed_t p;
  int status = upgrade_keep(text, u, &p, line);
  free(p.bytes);
  return status;
}

/* ---- Accept key ------------------------------------------------------------------------------ */

static void test_accept_key(void) {
  char out[29];
  tc_ws_accept_key(TC_SLICE_LIT("dGhlIHNhbXBsZSBub25jZQ=="), out);
  TC_CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
  tc_ws_accept_key(TC_SLICE_LIT("x3JJHMbDL1EzLkh9GBhXDw=="), out);
  TC_CHECK(strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0);
  tc_ws_accept_key(TC_SLICE_LIT("AQIDBAUGBwgJCgsMDQ4PEC=="), out);
  TC_CHECK(strcmp(out, "OfS0wDaT5NoxF2gqm7Zj2YtetzM=") == 0);
  tc_ws_accept_key((tc_slice_t){(const uint8_t *)"", 0}, out);
  TC_CHECK(strcmp(out, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=") == 0);
  /* A key longer than any real one takes the other buffer path. */
  char big[201];
  memset(big, 'A', 200);
  big[200] = 0;
  tc_ws_accept_key(tc_slice_str(big), out);
  TC_CHECK(strcmp(out, "epQuepyJZUpkXo4+7CeEEfXbmv8=") == 0);
  /* The key is used as sent, not decoded: a different spelling gives a different answer. */
  tc_ws_accept_key(TC_SLICE_LIT("dGhlIHNhbXBsZSBub25jZQ"), out);
  TC_CHECK(strlen(out) == 28 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0);
}

/* ---- Server: the upgrade check --------------------------------------------------------------- */

static const char chrome[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static const char firefox[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: websocket\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "\r\n";

static const char lowercase[] = "GET /socket HTTP/1.1\r\n"
                                "host: example.com\r\n"
                                "upgrade: WebSocket\r\n"
                                "connection: upgrade\r\n"
                                "sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
                                "sec-websocket-version: 13\r\n"
                                "sec-websocket-protocol: v1.json.example\r\n"
                                "\r\n";

static void test_upgrade_valid(void) {
  tc_ws_upgrade_t u;
  parsed_t p;
  TC_CHECK_EQ_INT(upgrade_keep(chrome, &u, &p, __LINE__), 0);
  TC_CHECK_SLICE(u.key, "dGhlIHNhbXBsZSBub25jZQ==");
  TC_CHECK_SLICE(u.origin, "http://localhost:8080");
  TC_CHECK_SLICE(u.extensions, "permessage-deflate; client_max_window_bits");
  TC_CHECK_EQ_INT(u.protocols.len, 0);
  free(p.bytes);

  TC_CHECK_EQ_INT(upgrade_keep(firefox, &u, &p, __LINE__), 0);
  TC_CHECK_SLICE(u.key, "x3JJHMbDL1EzLkh9GBhXDw==");
  TC_CHECK_SLICE(u.protocols, "chat, superchat");
  TC_CHECK_SLICE(u.extensions, "permessage-deflate");
  free(p.bytes);

  TC_CHECK_EQ_INT(upgrade_keep(lowercase, &u, &p, __LINE__), 0);
  TC_CHECK_SLICE(u.key, "AQIDBAUGBwgJCgsMDQ4PEA==");
  TC_CHECK_SLICE(u.protocols, "v1.json.example");
  TC_CHECK_EQ_INT(u.origin.len, 0);
  TC_CHECK_EQ_INT(u.extensions.len, 0);
  free(p.bytes);
}

/* A request made of the minimal valid lines, with one line left out and up to two added. */
static const char *const base_lines[] = {
    "Host: example.com",         "Upgrade: websocket",
    "Connection: Upgrade",       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
};

static int variant(const char *start, const char *drop, const char *add1, const char *add2,
                   int line) {
  char text[2048];
  size_t n = (size_t)snprintf(text, sizeof text, "%s\r\n", start ? start : "GET / HTTP/1.1");
  for (size_t i = 0; i < sizeof base_lines / sizeof base_lines[0]; i++) {
    if (drop && strncmp(base_lines[i], drop, strlen(drop)) == 0) continue;
    n += (size_t)snprintf(text + n, sizeof text - n, "%s\r\n", base_lines[i]);
  }
  if (add1) n += (size_t)snprintf(text + n, sizeof text - n, "%s\r\n", add1);
  if (add2) n += (size_t)snprintf(text + n, sizeof text - n, "%s\r\n", add2);
  snprintf(text + n, sizeof text - n, "\r\n");
  tc_ws_upgrade_t u;
  return upgrade(text, &u, line);
}

#define V(start, drop, add1, add2) variant((start), (drop), (add1), (add2), __LINE__)

static void test_upgrade_invalid(void) {
  TC_CHECK_EQ_INT(V(NULL, NULL, NULL, NULL), 0);
  /* Method and version */
  TC_CHECK_EQ_INT(V("POST / HTTP/1.1", NULL, NULL, NULL), 400);
  TC_CHECK_EQ_INT(V("get / HTTP/1.1", NULL, NULL, NULL), 400);
  TC_CHECK_EQ_INT(V("HEAD / HTTP/1.1", NULL, NULL, NULL), 400);
  TC_CHECK_EQ_INT(V("GET / HTTP/1.0", NULL, NULL, NULL), 400);
  TC_CHECK_EQ_INT(V("GET / HTTP/1.0", "Host", NULL, NULL), 400);
  TC_CHECK_EQ_INT(V("GET / HTTP/1.9", NULL, NULL, NULL), 0);
  /* Upgrade */
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", NULL, NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade: h2c", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade: websocket/13", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade: websockets", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade:", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade: h2c, WEBSOCKET", NULL), 0);
  TC_CHECK_EQ_INT(V(NULL, "Upgrade", "Upgrade: h2c", "Upgrade: websocket"), 0);
  /* Connection */
  TC_CHECK_EQ_INT(V(NULL, "Connection", NULL, NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Connection", "Connection: keep-alive", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Connection", "Connection: Upgrades", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Connection", "Connection: close", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, "Connection", "Connection: keep-alive, Upgrade", NULL), 0);
  TC_CHECK_EQ_INT(V(NULL, "Connection", "Connection: keep-alive", "Connection: upgrade"), 0);
  /* Key */
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Key", NULL, NULL), 400);
  static const char *const bad_keys[] = {
      "Sec-WebSocket-Key:",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-==",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ_==",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ.==",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSB ub25jZQ==",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=a",
      "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",     /* 17 bytes */
      "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* 20 bytes */
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
  };
  for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
    int st = V(NULL, "Sec-WebSocket-Key", bad_keys[i], NULL);
    if (st != 400) fprintf(stderr, "  accepted \"%s\"\n", bad_keys[i]);
    TC_CHECK_EQ_INT(st, 400);
  }
  TC_CHECK_EQ_INT(V(NULL, NULL, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, NULL, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==", NULL), 400);
  /* Like Node's ws: 22 characters and "==", trailing bits unchecked (the RFC's own example). */
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC==", NULL),
                  0);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: ++++////++++////0000zz==", NULL),
                  0);
  TC_CHECK_EQ_INT(
      V(NULL, "Sec-WebSocket-Key", "sec-websocket-key:   AQIDBAUGBwgJCgsMDQ4PEA==  ", NULL), 0);
  /* Version: anything but 13 is 426; a repeat is malformed */
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8", NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", NULL, NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version:", NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 013", NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 25", NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8", NULL), 426);
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13 ", NULL), 0);
  TC_CHECK_EQ_INT(V(NULL, NULL, "Sec-WebSocket-Version: 13", NULL), 400);
  TC_CHECK_EQ_INT(V(NULL, NULL, "Sec-WebSocket-Version: 8", NULL), 400);
  /* The key is judged before the version, as in ws. */
  TC_CHECK_EQ_INT(V(NULL, "Sec-WebSocket-", "Sec-WebSocket-Version: 8", NULL), 400);
  /* Origin and extensions may not repeat */
  TC_CHECK_EQ_INT(V(NULL, NULL, "Origin: http://a.example", "Origin: http://b.example"), 400);
  TC_CHECK_EQ_INT(V(NULL, NULL, "Origin: http://a.example", NULL), 0);
  TC_CHECK_EQ_INT(V(NULL, NULL, "Sec-WebSocket-Extensions: permessage-deflate",
                    "Sec-WebSocket-Extensions: x-webkit-deflate-frame"),
                  400);
}

static void test_upgrade_protocols(void) {
  static const struct {
    const char *line;
    int status;
  } cases[] = {
      {"Sec-WebSocket-Protocol: chat", 0},
      {"Sec-WebSocket-Protocol: chat, superchat", 0},
      {"Sec-WebSocket-Protocol: chat,superchat", 0},
      {"Sec-WebSocket-Protocol: chat ,\tsuperchat", 0},
      {"Sec-WebSocket-Protocol: chat,,superchat", 0},
      {"Sec-WebSocket-Protocol: chat, Chat", 0}, /* distinct: names compare exactly */
      {"Sec-WebSocket-Protocol: v10.stomp, v11.stomp, mqtt, wamp.2.json", 0},
      {"Sec-WebSocket-Protocol: !#$%&'*+-.^_`|~09AZaz", 0},
      {"Sec-WebSocket-Protocol:", 400},
      {"Sec-WebSocket-Protocol: ,", 400},
      {"Sec-WebSocket-Protocol: chat, chat", 400},
      {"Sec-WebSocket-Protocol: a, b, c, b", 400},
      {"Sec-WebSocket-Protocol: ch at", 400},
      {"Sec-WebSocket-Protocol: chat, sup/er", 400},
      {"Sec-WebSocket-Protocol: chat;q=1", 400},
      {"Sec-WebSocket-Protocol: \"chat\"", 400},
      {"Sec-WebSocket-Protocol: (chat)", 400},
      {"Sec-WebSocket-Protocol: chat@x", 400},
      {"Sec-WebSocket-Protocol: caf\xc3\xa9", 400},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = V(NULL, NULL, cases[i].line, NULL);
    if (st != cases[i].status) fprintf(stderr, "  \"%s\" -> %d\n", cases[i].line, st);
    TC_CHECK_EQ_INT(st, cases[i].status);
  }
  /* Up to 128 names; a longer list is refused. */
  char line[1024];
  size_t n = (size_t)snprintf(line, sizeof line, "Sec-WebSocket-Protocol: p0");
  for (int i = 1; i < 128; i++) n += (size_t)snprintf(line + n, sizeof line - n, ",p%d", i);
  TC_CHECK_EQ_INT(V(NULL, NULL, line, NULL), 0);
  snprintf(line + n, sizeof line - n, ",p128");
  TC_CHECK_EQ_INT(V(NULL, NULL, line, NULL), 400);
  /* Repeated: refused rather than joined (the slice is one value). */
  TC_CHECK_EQ_INT(
      V(NULL, NULL, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: superchat"), 400);
}

static void test_pick_protocol(void) {
  static const char *const sup[] = {"superchat", "chat", NULL};
  static const char *const only_x[] = {"x", NULL};
  static const char *const none[] = {NULL};
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("chat, superchat"), sup) == sup[1]);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("superchat, chat"), sup) == sup[0]);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("other ,\t chat"), sup) == sup[1]);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT(",,chat,,"), sup) == sup[1]);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("chat, superchat"), only_x) == NULL);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("chat"), none) == NULL);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("chat"), NULL) == NULL);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT(""), sup) == NULL);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("Chat, SUPERCHAT"), sup) == NULL);
  TC_CHECK(tc_ws_pick_protocol(TC_SLICE_LIT("cha, chatt, superchat"), sup) == sup[0]);
  /* Straight from a parsed request. */
  tc_ws_upgrade_t u;
  parsed_t p;
  TC_CHECK_EQ_INT(upgrade_keep(firefox, &u, &p, __LINE__), 0);
  TC_CHECK(tc_ws_pick_protocol(u.protocols, sup) == sup[1]);
  free(p.bytes);
  TC_CHECK_EQ_INT(upgrade_keep(chrome, &u, &p, __LINE__), 0);
  TC_CHECK(tc_ws_pick_protocol(u.protocols, sup) == NULL);
  free(p.bytes);
}

/* ---- Client ---------------------------------------------------------------------------------- */

static const uint8_t sample_nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                         'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};

static void test_client_request(void) {
  tc_buf_t b = {0};
  char key[25];
  TC_CHECK_EQ_INT(
      tc_ws_client_request(&b, "example.com", "/chat", sample_nonce, NULL, NULL, NULL, key), 0);
  TC_CHECK(strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0);
  static const char want1[] =
      "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  TC_CHECK_EQ_INT(b.len, strlen(want1));
  TC_CHECK(b.len == strlen(want1) && memcmp(tc_buf_data(&b), want1, b.len) == 0);

  /* Appends after what is already there. */
  size_t before = b.len;
  TC_CHECK_EQ_INT(tc_ws_client_request(&b, "[::1]:8080", "/ws?x=1", sample_nonce, "chat, superchat",
                                       "permessage-deflate; client_max_window_bits",
                                       "Origin: http://example.com\r\nCookie: a=b; c=d\r\n", key),
                  0);
  static const char want2[] =
      "GET /ws?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
      "Origin: http://example.com\r\nCookie: a=b; c=d\r\n\r\n";
  TC_CHECK(memcmp(tc_buf_data(&b), want1, before) == 0);
  TC_CHECK_EQ_INT(b.len - before, strlen(want2));
  TC_CHECK(b.len - before == strlen(want2) &&
           memcmp(tc_buf_data(&b) + before, want2, strlen(want2)) == 0);

  /* What we send passes our own server check. */
  tc_ws_upgrade_t u;
  parsed_t p;
  TC_CHECK_EQ_INT(upgrade_keep(want2, &u, &p, __LINE__), 0);
  TC_CHECK_SLICE(u.key, "dGhlIHNhbXBsZSBub25jZQ==");
  TC_CHECK_SLICE(u.protocols, "chat, superchat");
  TC_CHECK_SLICE(u.origin, "http://example.com");
  free(p.bytes);

  /* Empty optional strings are left out like NULL ones. */
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_ws_client_request(&b, "example.com", "/chat", sample_nonce, "", "", "", key),
                  0);
  TC_CHECK(b.len == strlen(want1) && memcmp(tc_buf_data(&b), want1, b.len) == 0);

  /* Bad arguments change nothing. */
  static const struct {
    const char *host, *path, *protocols, *extensions, *extra;
  } bad[] = {
      {"", "/", NULL, NULL, NULL},
      {"a b", "/", NULL, NULL, NULL},
      {"a\r\nX: y", "/", NULL, NULL, NULL},
      {"a", "", NULL, NULL, NULL},
      {"a", "chat", NULL, NULL, NULL},
      {"a", "/a b", NULL, NULL, NULL},
      {"a", "/chat#frag", NULL, NULL, NULL},
      {"user@a", "/", NULL, NULL, NULL},
      {"a/b", "/", NULL, NULL, NULL},
      {"a\"b", "/", NULL, NULL, NULL},
      {"a", "/\r\n", NULL, NULL, NULL},
      {"a", "/", "a b", NULL, NULL},
      {"a", "/", "chat, chat", NULL, NULL},
      {"a", "/", "chat\r\nX: y", NULL, NULL},
      {"a", "/", ",", NULL, NULL},
      {"a", "/", NULL, "permessage-deflate\r\nX: y", NULL},
      {"a", "/", NULL, NULL, "X-A: b"},
      {"a", "/", NULL, NULL, "X-A: b\n"},
      {"a", "/", NULL, NULL, "X-A: b\r\n\r\n"},
      {"a", "/", NULL, NULL, "no colon\r\n"},
      {"a", "/", NULL, NULL, ": empty name\r\n"},
      {"a", "/", NULL, NULL, "X-A: b\rc\r\n"},
      {"a", "/", NULL, NULL, "X-A: b\rX-B: c\r\n"},
      {"a", "/", NULL, NULL, "X-A: b\r"},
      {"a", "/", NULL, NULL, "X-A: b\r\nX-B\r\n"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_buf_reset(&b);
    tc_buf_append_str(&b, "keep");
    int r = tc_ws_client_request(&b, bad[i].host, bad[i].path, sample_nonce, bad[i].protocols,
                                 bad[i].extensions, bad[i].extra, key);
    TC_CHECK_EQ_INT(r, TC_EINVAL);
    if (r != TC_EINVAL) fprintf(stderr, "  bad case %zu accepted\n", i);
    TC_CHECK(b.len == 4 && memcmp(tc_buf_data(&b), "keep", 4) == 0);
  }
  tc_buf_free(&b);
}

static int check_response(const char *text, const char *key, const char *offered,
                          tc_slice_t *protocol, tc_slice_t *extensions) {
  parsed_t p;
  parse_response(text, &p);
  int r = 1;
  if (p.r != (ssize_t)strlen(text)) {
    TC_CHECK_EQ_INT(p.r, strlen(text));
  } else {
    r = tc_ws_client_check_response(&p.res, key, offered, protocol, extensions);
    TC_CHECK(r == 0 || r == TC_EPROTO);
    /* The same answer without the out-parameters. */
    TC_CHECK_EQ_INT(tc_ws_client_check_response(&p.res, key, offered, NULL, NULL), r);
  }
  /* The slices would dangle once the copy is freed: keep only their contents' lengths. */
  free(p.bytes);
  return r;
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
#define STATUS101 "HTTP/1.1 101 Switching Protocols\r\n"
#define UPG "Upgrade: websocket\r\n"
#define CONN "Connection: Upgrade\r\n"

static void test_client_check(void) {
  tc_slice_t proto, ext;
  /* Good answers */
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "\r\n", KEY, NULL, &proto, &ext), 0);
  TC_CHECK_EQ_INT(proto.len, 0);
  TC_CHECK_EQ_INT(ext.len, 0);
  TC_CHECK(proto.p != NULL && ext.p != NULL);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "\r\n", KEY, "chat", &proto, &ext), 0);
  TC_CHECK_EQ_INT(check_response("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                                 "connection: keep-alive, upgrade\r\n"
                                 "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  0);
  TC_CHECK_EQ_INT(
      check_response("HTTP/1.1 101 \r\n" UPG CONN ACCEPT "\r\n", KEY, NULL, &proto, &ext), 0);
  {
    /* With a chosen protocol and extensions: check the slices while the bytes live. */
    static const char text[] = STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: chat\r\n"
                                                         "Sec-WebSocket-Extensions: "
                                                         "permessage-deflate\r\n\r\n";
    parsed_t p;
    parse_response(text, &p);
    TC_CHECK_EQ_INT(p.r, strlen(text));
    TC_CHECK_EQ_INT(tc_ws_client_check_response(&p.res, KEY, "superchat, chat", &proto, &ext), 0);
    TC_CHECK_SLICE(proto, "chat");
    TC_CHECK_SLICE(ext, "permessage-deflate");
    free(p.bytes);
  }
  /* Wrong or missing accept */
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN "\r\n", KEY, NULL, &proto, &ext), TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN
                                 "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(
      check_response(STATUS101 UPG CONN "Sec-WebSocket-Accept:\r\n\r\n", KEY, NULL, &proto, &ext),
      TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN "Sec-WebSocket-Accept: " KEY "\r\n\r\n", KEY,
                                 NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT ACCEPT "\r\n", KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "\r\n", "x3JJHMbDL1EzLkh9GBhXDw==", NULL,
                                 &proto, &ext),
                  TC_EPROTO);
  /* Upgrade and Connection */
  TC_CHECK_EQ_INT(check_response(STATUS101 CONN ACCEPT "\r\n", KEY, NULL, &proto, &ext), TC_EPROTO);
  TC_CHECK_EQ_INT(
      check_response(STATUS101 "Upgrade: h2c\r\n" CONN ACCEPT "\r\n", KEY, NULL, &proto, &ext),
      TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG ACCEPT "\r\n", KEY, NULL, &proto, &ext), TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG "Connection: keep-alive\r\n" ACCEPT "\r\n", KEY,
                                 NULL, &proto, &ext),
                  TC_EPROTO);
}

static void test_client_check_protocols(void) {
  tc_slice_t proto, ext;
  /* Protocols the client did not offer */
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: chat\r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: chat\r\n\r\n",
                                 KEY, "", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT
                                 "Sec-WebSocket-Protocol: superchat\r\n\r\n",
                                 KEY, "chat", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: Chat\r\n\r\n",
                                 KEY, "chat", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: cha\r\n\r\n",
                                 KEY, "chat", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT
                                 "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
                                 KEY, "chat, superchat", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol:\r\n\r\n", KEY,
                                 "chat", &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(
      check_response(STATUS101 UPG CONN ACCEPT
                     "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
                     KEY, "chat", &proto, &ext),
      TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Protocol: chat\r\n\r\n",
                                 KEY, "superchat ,chat", &proto, &ext),
                  0);
  /* Extensions: one header with a value */
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT "Sec-WebSocket-Extensions:\r\n\r\n", KEY,
                                 NULL, &proto, &ext),
                  TC_EPROTO);
  TC_CHECK_EQ_INT(check_response(STATUS101 UPG CONN ACCEPT
                                 "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                                 KEY, NULL, &proto, &ext),
                  TC_EPROTO);
  /* A refused answer reports no protocol, even when the protocol itself was fine. */
  TC_CHECK_EQ_INT(
      check_response(STATUS101 UPG CONN ACCEPT
                     "Sec-WebSocket-Protocol: chat\r\n"
                     "Sec-WebSocket-Extensions: a\r\nSec-WebSocket-Extensions: b\r\n\r\n",
                     KEY, "chat", &proto, &ext),
      TC_EPROTO);
  TC_CHECK(proto.len == 0 && ext.len == 0);
  /* Not a 101 */
  static const char *const statuses[] = {"HTTP/1.1 200 OK\r\n",
                                         "HTTP/1.1 400 Bad Request\r\n",
                                         "HTTP/1.1 426 Upgrade Required\r\n",
                                         "HTTP/1.1 302 Found\r\n",
                                         "HTTP/1.1 100 Continue\r\n",
                                         "HTTP/1.0 101 Switching Protocols\r\n"};
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
    char text[512];
    snprintf(text, sizeof text, "%s" UPG CONN ACCEPT "\r\n", statuses[i]);
    TC_CHECK_EQ_INT(check_response(text, KEY, NULL, &proto, &ext), TC_EPROTO);
  }
}

/* The whole exchange: our client request, our server check and answer, our client check. */
static void test_round_trip(void) {
  uint32_t x = 1;
  static const char *const sup[] = {"b", "wamp.2.json", NULL};
  for (int iter = 0; iter < 200; iter++) {
    uint8_t nonce[16];
    for (int i = 0; i < 16; i++) {
      x = x * 1103515245u + 12345u;
      nonce[i] = (uint8_t)(x >> 16);
    }
    tc_buf_t req = {0};
    char key[25];
    const char *offer = iter % 3 == 0 ? NULL : iter % 3 == 1 ? "a, b" : "wamp.2.json, x";
    TC_CHECK_EQ_INT(tc_ws_client_request(&req, "h", "/", nonce, offer, NULL, NULL, key), 0);
    TC_CHECK_EQ_INT(strlen(key), 24);
    tc_http_header_t hs[NH];
    tc_http_request_t r = {0};
    r.headers = hs;
    r.num_headers = NH;
    TC_CHECK_EQ_INT(tc_http_parse_request(tc_buf_data(&req), req.len, &r, 0), req.len);
    tc_ws_upgrade_t u;
    TC_CHECK_EQ_INT(tc_ws_upgrade_check(&r, &u), 0);
    char accept[29];
    tc_ws_accept_key(u.key, accept);
    const char *chosen = tc_ws_pick_protocol(u.protocols, sup);
    TC_CHECK_EQ_INT(chosen != NULL, offer != NULL);
    char text[512];
    int n = snprintf(text, sizeof text, STATUS101 UPG CONN "Sec-WebSocket-Accept: %s\r\n", accept);
    if (chosen)
      n += snprintf(text + n, sizeof text - (size_t)n, "Sec-WebSocket-Protocol: %s\r\n", chosen);
    snprintf(text + n, sizeof text - (size_t)n, "\r\n");
    tc_slice_t proto, ext;
    TC_CHECK_EQ_INT(check_response(text, key, offer, &proto, &ext), 0);
    tc_buf_free(&req);
  }
}

int main(void) {
  TC_RUN(test_accept_key);
  TC_RUN(test_upgrade_valid);
  TC_RUN(test_upgrade_invalid);
  TC_RUN(test_upgrade_protocols);
  TC_RUN(test_pick_protocol);
  TC_RUN(test_client_request);
  TC_RUN(test_client_check);
  TC_RUN(test_client_check_protocols);
  TC_RUN(test_round_trip);
  return tc_test_end();
}
