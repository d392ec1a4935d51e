#include "tincan/stun.h"

#include <string.h>

#define MAX_UNKNOWN 16

/* The comprehension-required attributes RFC 8489 defines. A Binding server without credentials
 * knows them all, and ignores those it does not expect (section 6.3); any other type below
 * 0x8000, including RFC 3489's CHANGE-REQUEST, gets a 420, which is how RFC 5780 clients learn
 * that a server does not do NAT behaviour discovery. */
static int known_required(uint16_t type) {
  switch (type) {
    case TC_STUN_ATTR_MAPPED_ADDRESS:
    case TC_STUN_ATTR_USERNAME:
    case TC_STUN_ATTR_MESSAGE_INTEGRITY:
    case TC_STUN_ATTR_ERROR_CODE:
    case TC_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case TC_STUN_ATTR_REALM:
    case TC_STUN_ATTR_NONCE:
    case TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case TC_STUN_ATTR_PASSWORD_ALGORITHM:
    case TC_STUN_ATTR_USERHASH:
    case TC_STUN_ATTR_XOR_MAPPED_ADDRESS:
      return 1;
    default:
      return 0;
  }
}

/* Collects up to MAX_UNKNOWN distinct unknown comprehension-required types; returns the count.
 */
static size_t collect_unknown(const tc_stun_msg_t *m, uint16_t types[MAX_UNKNOWN]) {
  size_t n = 0, pos = 0;
  tc_stun_attr_t a;
  while (n < MAX_UNKNOWN && tc_stun_attr_next(m, &pos, &a)) {
    if (a.type >= 0x8000 || known_required(a.type)) continue;
    size_t i = 0;
    while (i < n && types[i] != a.type) i++;
    if (i == n) types[n++] = a.type;
  }
  return n;
}

/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the client sent from an IPv4
 * address and expects to learn that one. */
static int peer_address(const struct sockaddr *from, struct sockaddr_storage *peer) {
  memset(peer, 0, sizeof *peer);
  if (!from) return TC_EINVAL;
  if (from->sa_family == AF_INET) {
    memcpy(peer, from, sizeof(struct sockaddr_in));
    return 0;
  }
  if (from->sa_family != AF_INET6) return TC_EINVAL;
  const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)from;
  if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
    memcpy(peer, from, sizeof(struct sockaddr_in6));
    return 0;
  }
  struct sockaddr_in *sin = (struct sockaddr_in *)peer;
  sin->sin_family = AF_INET;
  sin->sin_port = sin6->sin6_port;
  memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
  return 0;
}

/* The SOFTWARE value's length when cfg has a usable one, else 0. */
static size_t software_len(const tc_stun_server_cfg_t *cfg) {
  if (!cfg || !cfg->software) return 0;
  const uint8_t *s = (const uint8_t *)cfg->software;
  size_t len = strlen(cfg->software), chars = 0;
  if (len > 763 || tc_utf8_check(s, len) != 0) return 0;
  for (size_t i = 0; i < len; i++) chars += (s[i] & 0xC0) != 0x80;
  return chars < 128 ? len : 0;
}

/* Adds SOFTWARE when it keeps the response within the growth bound, then FINGERPRINT, and
 * finishes. 1 or TC_ENOMEM. */
static int finish(const tc_stun_server_cfg_t *cfg, tc_stun_builder_t *b, size_t req_len) {
  size_t slen = software_len(cfg);
  size_t so_far = b->out->len - b->start;
  size_t limit = req_len + TC_STUN_MAX_GROWTH;
  size_t need = so_far + 8 + 4 + ((slen + 3) & ~(size_t)3);
  if (slen && need <= limit) tc_stun_build_attr(b, TC_STUN_ATTR_SOFTWARE, cfg->software, slen);
  tc_stun_build_fingerprint(b);
  ssize_t r = tc_stun_build_end(b);
  return r < 0 ? (int)r : 1;
}

static int respond_error(const tc_stun_server_cfg_t *cfg, const tc_stun_msg_t *m, size_t req_len,
                         int code, const uint16_t *unknown, size_t n, tc_buf_t *out) {
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, out, m->method, TC_STUN_ERROR, m->tid);
  tc_stun_build_error(&b, code, NULL);
  if (n) tc_stun_build_unknown(&b, unknown, n);
  return finish(cfg, &b, req_len);
}

static int respond_success(const tc_stun_server_cfg_t *cfg, const tc_stun_msg_t *m, size_t req_len,
                           const struct sockaddr_storage *peer, tc_buf_t *out) {
  tc_stun_builder_t b;
  tc_stun_build_begin(&b, out, m->method, TC_STUN_SUCCESS, m->tid);
  tc_stun_build_xor_addr(&b, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, (const struct sockaddr *)peer);
  return finish(cfg, &b, req_len);
}

int tc_stun_server_handle(const tc_stun_server_cfg_t *cfg, const uint8_t *req, size_t len,
                          const struct sockaddr *from, tc_buf_t *out) {
  struct sockaddr_storage peer;
  if (peer_address(from, &peer)) return TC_EINVAL;
  tc_stun_msg_t m;
  int r = tc_stun_msg_parse(req, len, &m);
  if (r == TC_EPROTO) return 0;
  /* Section 6.3: an unsupported method, or a class nobody waits for, is discarded silently;
   * a Binding indication is a keepalive that needs no answer. */
  if (m.cls != TC_STUN_REQUEST || m.method != TC_STUN_BINDING) return 0;
  if (r == TC_EINVAL) return respond_error(cfg, &m, len, TC_STUN_ERR_BAD_REQUEST, NULL, 0, out);
  /* A bad FINGERPRINT suggests another protocol's bytes: discard rather than answer. */
  if (tc_stun_check_fingerprint(&m) == TC_EPROTO) return 0;
  uint16_t unknown[MAX_UNKNOWN];
  size_t n = collect_unknown(&m, unknown);
  if (n) return respond_error(cfg, &m, len, TC_STUN_ERR_UNKNOWN_ATTRIBUTE, unknown, n, out);
  return respond_success(cfg, &m, len, &peer, out);
}
