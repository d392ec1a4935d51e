/* The opening handshake on arbitrary bytes: read as a client's request (the server check and
 * protocol choice), as a server's answer (the client check), and as arguments for the client
 * request, whose output must pass the server check. */
#include "tincan/ws.h"

#include <stdlib.h>
#include <string.h>

#define NH 32

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

static const char sample_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static void in_input(tc_slice_t s, const uint8_t *buf, size_t len) {
  ASSERT(s.p != NULL);
  if (s.len == 0) return;
  ASSERT(s.p >= buf && s.p + s.len <= buf + len);
}

static int is_b64(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

static void as_request(const uint8_t *data, size_t size) {
  tc_http_header_t hs[NH];
  tc_http_request_t req;
  memset(&req, 0, sizeof req);
  req.headers = hs;
  req.num_headers = NH;
  if (tc_http_parse_request(data, size, &req, 0) < 0) return;
  tc_ws_upgrade_t u;
  int r = tc_ws_upgrade_check(&req, &u);
  in_input(u.key, data, size);
  in_input(u.protocols, data, size);
  in_input(u.extensions, data, size);
  in_input(u.origin, data, size);
  if (r) {
    ASSERT(r == TC_EPROTO && (u.error_status == 400 || u.error_status == 426));
    return;
  }
  ASSERT(u.error_status == 0);
  ASSERT(tc_slice_eq(req.method, "GET") && req.version_minor >= 1);
  ASSERT(u.key.len == 24 && u.key.p[22] == '=' && u.key.p[23] == '=');
  for (size_t i = 0; i < 22; i++) ASSERT(is_b64(u.key.p[i]));
  char accept[29];
  tc_ws_accept_key(u.key, accept);
  ASSERT(strlen(accept) == 28);

  static const char *const sup[] = {"chat", "superchat", "mqtt", "v1.json", NULL};
  const char *chosen = tc_ws_pick_protocol(u.protocols, sup);
  if (chosen) {
    /* The choice is one of ours and appears in the client's list. */
    int ours = 0;
    for (size_t i = 0; sup[i]; i++) ours |= sup[i] == chosen;
    ASSERT(ours);
    ASSERT(u.protocols.len >= strlen(chosen));
    /* Our answer to this request passes our own client check. */
    char text[256];
    int n = snprintf(text, sizeof text,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     accept, chosen);
    ASSERT(n > 0 && (size_t)n < sizeof text);
    char key[25], *offered = malloc(u.protocols.len + 1);
    memcpy(key, u.key.p, 24);
    key[24] = 0;
    memcpy(offered, u.protocols.p, u.protocols.len);
    offered[u.protocols.len] = 0;
    tc_http_header_t rh[NH];
    tc_http_response_t res;
    memset(&res, 0, sizeof res);
    res.headers = rh;
    res.num_headers = NH;
    ASSERT(tc_http_parse_response((const uint8_t *)text, (size_t)n, &res, 0) == n);
    tc_slice_t proto, ext;
    ASSERT(tc_ws_client_check_response(&res, key, offered, &proto, &ext) == 0);
    ASSERT(tc_slice_eq(proto, chosen) && ext.len == 0);
    free(offered);
  }
}

static void as_response(const uint8_t *data, size_t size) {
  tc_http_header_t hs[NH];
  tc_http_response_t res;
  memset(&res, 0, sizeof res);
  res.headers = hs;
  res.num_headers = NH;
  if (tc_http_parse_response(data, size, &res, 0) < 0) return;
  static const char *const offers[] = {NULL, "", "chat", "chat, superchat", " ,superchat,,"};
  for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
    tc_slice_t proto, ext;
    int r = tc_ws_client_check_response(&res, sample_key, offers[i], &proto, &ext);
    in_input(proto, data, size);
    in_input(ext, data, size);
    if (r) {
      ASSERT(r == TC_EPROTO && proto.len == 0 && ext.len == 0);
      continue;
    }
    ASSERT(res.status == 101);
    if (proto.len) {
      int chat = tc_slice_eq(proto, "chat"), superchat = tc_slice_eq(proto, "superchat");
      ASSERT((chat && (i == 2 || i == 3)) || (superchat && (i == 3 || i == 4)));
    }
    ASSERT(tc_ws_client_check_response(&res, sample_key, offers[i], NULL, NULL) == 0);
  }
}

/* NUL-separated fields of the input: host, path, protocols, extensions, extra headers. */
static void as_client_args(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1);
  memcpy(copy, data, size);
  copy[size] = 0;
  const char *field[5] = {"example.com", "/", NULL, NULL, NULL};
  char *s = copy, *end = copy + size;
  for (int i = 0; i < 5 && s <= end; i++) {
    field[i] = s;
    s += strlen(s) + 1;
  }
  uint8_t nonce[16] = {0};
  memcpy(nonce, data, size < 16 ? size : 16);
  tc_buf_t out = {0};
  char key[25];
  tc_buf_append_str(&out, "x");
  int r = tc_ws_client_request(&out, field[0], field[1], nonce, field[2], field[3], field[4], key);
  if (r) {
    ASSERT(r == TC_EINVAL && out.len == 1);
  } else {
    ASSERT(strlen(key) == 24);
    const uint8_t *req_p = tc_buf_data(&out) + 1;
    size_t req_len = out.len - 1;
    /* Nothing the caller passes can end the header section early. */
    ASSERT(tc_http_find_header_end(req_p, req_len, 0) == req_len);
    tc_http_header_t hs[NH + 8];
    tc_http_request_t req;
    memset(&req, 0, sizeof req);
    req.headers = hs;
    req.num_headers = NH + 8;
    ssize_t pr = tc_http_parse_request(req_p, req_len, &req, 0);
    if (!field[4] || !*field[4]) {
      /* Without extra lines, what we send is what our server accepts. */
      ASSERT(pr == (ssize_t)req_len);
      tc_ws_upgrade_t u;
      ASSERT(tc_ws_upgrade_check(&req, &u) == 0);
      ASSERT(u.key.len == 24 && memcmp(u.key.p, key, 24) == 0);
      ASSERT(tc_slice_eq(tc_slice_trim(req.host), field[0]) || pr < 0);
    }
  }
  tc_buf_free(&out);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_request(data, size);
  as_response(data, size);
  if (size < 4096) as_client_args(data, size);
  if (size > 0) {
    char out[29];
    tc_ws_accept_key((tc_slice_t){data, size}, out);
    ASSERT(strlen(out) == 28);
    const char *const sup[] = {"a", "chat", NULL};
    const char *c = tc_ws_pick_protocol((tc_slice_t){data, size}, sup);
    ASSERT(c == NULL || c == sup[0] || c == sup[1]);
  }
  return 0;
}
