#include "tincan/stun.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>
#include <zlib.h>

#define FINGERPRINT_XOR 0x5354554eu
#define MI_LEN 20
#define MI256_MAX 32

enum { STAGE_OPEN = 0, STAGE_AFTER_MI, STAGE_AFTER_MI256, STAGE_AFTER_FP };

static uint16_t rd16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static size_t pad4(size_t n) {
  return (n + 3) & ~(size_t)3;
}

const char *tc_stun_reason(int code) {
  switch (code) {
    case 300:
      return "Try Alternate";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthenticated";
    case 403:
      return "Forbidden";
    case 420:
      return "Unknown Attribute";
    case 437:
      return "Allocation Mismatch";
    case 438:
      return "Stale Nonce";
    case 440:
      return "Address Family not Supported";
    case 441:
      return "Wrong Credentials";
    case 442:
      return "Unsupported Transport Protocol";
    case 443:
      return "Peer Address Family Mismatch";
    case 486:
      return "Allocation Quota Reached";
    case 487:
      return "Role Conflict";
    case 500:
      return "Server Error";
    case 508:
      return "Insufficient Capacity";
    default:
      return NULL;
  }
}

/* Type bits: M11..M7 C1 M6..M4 C0 M3..M0. */
uint16_t tc_stun_type(uint16_t method, int cls) {
  unsigned m = method & 0xFFFu, c = (unsigned)cls & 3u;
  return (uint16_t)((m & 0x000F) | (m & 0x0070) << 1 | (m & 0x0F80) << 2 | (c & 1) << 4 |
                    (c & 2) << 7);
}

uint16_t tc_stun_type_method(uint16_t type) {
  return (uint16_t)((type & 0x000F) | (type & 0x00E0) >> 1 | (type & 0x3E00) >> 2);
}

int tc_stun_type_class(uint16_t type) {
  return (type >> 4 & 1) | (type >> 7 & 2);
}

/* ---- Recognising and framing ---------------------------------------------------------------- */

tc_stun_demux_t tc_stun_demux(const uint8_t *p, size_t len) {
  if (len == 0) return TC_STUN_DEMUX_OTHER;
  uint8_t b = p[0];
  if (b <= 3) return TC_STUN_DEMUX_STUN;
  if (b >= 16 && b <= 19) return TC_STUN_DEMUX_ZRTP;
  if (b >= 20 && b <= 63) return TC_STUN_DEMUX_DTLS;
  if (b >= 64 && b <= 79) return TC_STUN_DEMUX_TURN_CHANNEL;
  if (b >= 128 && b <= 191) return TC_STUN_DEMUX_RTP;
  return TC_STUN_DEMUX_OTHER;
}

ssize_t tc_stun_frame_len(const uint8_t *p, size_t len) {
  static const uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
  /* Judge what has arrived so far, so that a stream of something else fails at once. */
  if (len >= 1 && (p[0] & 0xC0) != 0) return TC_EPROTO;
  if (len >= 4 && (p[3] & 3) != 0) return TC_EPROTO;
  for (size_t i = 4; i < 8 && i < len; i++)
    if (p[i] != cookie[i - 4]) return TC_EPROTO;
  if (len < TC_STUN_HEADER_LEN) return TC_EAGAIN;
  return (ssize_t)(TC_STUN_HEADER_LEN + rd16(p + 2));
}

int tc_stun_is_message(const uint8_t *p, size_t len) {
  return len >= TC_STUN_HEADER_LEN && tc_stun_frame_len(p, len) == (ssize_t)len;
}

/* ---- Parsing -------------------------------------------------------------------------------- */

/* Walks the attributes, recording where the integrity attributes and FINGERPRINT are, and
 * which attributes count (RFC 8489 section 9: after MESSAGE-INTEGRITY only
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count, after MESSAGE-INTEGRITY-SHA256 only
 * FINGERPRINT). 0 or TC_EINVAL. */
static int walk_attrs(tc_stun_msg_t *m) {
  size_t off = TC_STUN_HEADER_LEN;
  while (off < m->len) {
    if (m->fingerprint_off) return TC_EINVAL; /* FINGERPRINT must be last */
    if (m->len - off < 4) return TC_EINVAL;
    uint16_t type = rd16(m->p + off), vlen = rd16(m->p + off + 2);
    if (pad4(vlen) > m->len - off - 4) return TC_EINVAL;
    if (type == TC_STUN_ATTR_FINGERPRINT) {
      if (vlen != 4) return TC_EINVAL;
      m->fingerprint_off = off;
    } else if (type == TC_STUN_ATTR_MESSAGE_INTEGRITY && !m->integrity_off &&
               !m->integrity256_off) {
      if (vlen != MI_LEN) return TC_EINVAL;
      m->integrity_off = off;
    } else if (type == TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 && !m->integrity256_off) {
      if (vlen < 16 || vlen > MI256_MAX || vlen % 4) return TC_EINVAL;
      m->integrity256_off = off;
    }
    off += 4 + pad4(vlen);
  }
  m->body_end = m->len;
  size_t firsts[3] = {m->integrity_off, m->integrity256_off, m->fingerprint_off};
  for (int i = 0; i < 3; i++)
    if (firsts[i] && firsts[i] < m->body_end) m->body_end = firsts[i];
  return 0;
}

int tc_stun_msg_parse(const uint8_t *p, size_t len, tc_stun_msg_t *m) {
  memset(m, 0, sizeof *m);
  if (!tc_stun_is_message(p, len)) return TC_EPROTO;
  uint16_t type = rd16(p);
  m->p = p;
  m->len = len;
  m->method = tc_stun_type_method(type);
  m->cls = (uint8_t)tc_stun_type_class(type);
  memcpy(m->tid, p + 8, TC_STUN_TID_LEN);
  int r = walk_attrs(m);
  if (r) {
    /* Keep the header for a 400 answer; show no attributes. */
    m->integrity_off = m->integrity256_off = m->fingerprint_off = 0;
    m->body_end = TC_STUN_HEADER_LEN;
    m->len = TC_STUN_HEADER_LEN;
  }
  return r;
}

int tc_stun_attr_next(const tc_stun_msg_t *m, size_t *pos, tc_stun_attr_t *a) {
  size_t off = *pos < TC_STUN_HEADER_LEN ? TC_STUN_HEADER_LEN : *pos;
  while (off + 4 <= m->len) {
    uint16_t type = rd16(m->p + off), vlen = rd16(m->p + off + 2);
    size_t here = off;
    off += 4 + pad4(vlen);
    if (off > m->len) break; /* not a parsed message; stay inside it anyway */
    if (here < m->body_end || here == m->integrity_off || here == m->integrity256_off ||
        here == m->fingerprint_off) {
      a->type = type;
      a->value = (tc_slice_t){m->p + here + 4, vlen};
      *pos = off;
      return 1;
    }
  }
  *pos = m->len;
  return 0;
}

int tc_stun_attr_find(const tc_stun_msg_t *m, uint16_t type, tc_stun_attr_t *a) {
  size_t pos = 0;
  while (tc_stun_attr_next(m, &pos, a))
    if (a->type == type) return 0;
  return TC_ENOENT;
}

/* Reads family, port and address; the XOR mask is applied by the caller's mask bytes (all
 * zero for the plain form). */
static int read_addr(const tc_stun_attr_t *a, const uint8_t mask[16], uint16_t port_mask,
                     struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  const uint8_t *v = a->value.p;
  if (a->value.len < 4) return TC_EPROTO;
  uint16_t port = (uint16_t)(rd16(v + 2) ^ port_mask);
  if (v[1] == 0x01 && a->value.len == 8) {
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    uint8_t ip[4];
    for (int i = 0; i < 4; i++) ip[i] = (uint8_t)(v[4 + i] ^ mask[i]);
    memcpy(&sin->sin_addr, ip, 4);
    return 0;
  }
  if (v[1] == 0x02 && a->value.len == 20) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    for (int i = 0; i < 16; i++) sin6->sin6_addr.s6_addr[i] = (uint8_t)(v[4 + i] ^ mask[i]);
    return 0;
  }
  return TC_EPROTO;
}

/* The XOR mask: the magic cookie, then the transaction id. */
static void xor_mask(const uint8_t tid[TC_STUN_TID_LEN], uint8_t mask[16]) {
  wr32(mask, TC_STUN_MAGIC_COOKIE);
  memcpy(mask + 4, tid, TC_STUN_TID_LEN);
}

int tc_stun_attr_addr(const tc_stun_attr_t *a, struct sockaddr_storage *out) {
  static const uint8_t zero[16];
  return read_addr(a, zero, 0, out);
}

int tc_stun_attr_xor_addr(const tc_stun_msg_t *m, const tc_stun_attr_t *a,
                          struct sockaddr_storage *out) {
  uint8_t mask[16];
  xor_mask(m->tid, mask);
  return read_addr(a, mask, (uint16_t)(TC_STUN_MAGIC_COOKIE >> 16), out);
}

int tc_stun_attr_error(const tc_stun_attr_t *a, int *code, tc_slice_t *reason) {
  const uint8_t *v = a->value.p;
  if (a->value.len < 4) return TC_EPROTO;
  int cls = v[2] & 7, num = v[3];
  if (cls < 3 || cls > 6 || num > 99) return TC_EPROTO;
  tc_slice_t r = {v + 4, a->value.len - 4};
  if (r.len > 763 || tc_utf8_check(r.p, r.len) != 0) return TC_EPROTO;
  *code = cls * 100 + num;
  *reason = r;
  return 0;
}

ssize_t tc_stun_attr_unknown(const tc_stun_attr_t *a, uint16_t *types, size_t cap) {
  if (a->value.len % 2) return TC_EPROTO;
  size_t n = a->value.len / 2;
  for (size_t i = 0; i < n && i < cap; i++) types[i] = rd16(a->value.p + 2 * i);
  return (ssize_t)n;
}

/* ---- Integrity and FINGERPRINT -------------------------------------------------------------- */

/* HMAC over the message up to `end` with the header's length field set to `fake_len`, as
 * RFC 8489 sections 14.5 and 14.6 define the input. 0 or TC_ENOMEM. */
static int stun_hmac(const char *digest, const uint8_t *key, size_t key_len, const uint8_t *msg,
                     size_t end, size_t fake_len, uint8_t *mac, size_t mac_cap) {
  uint8_t hdr[TC_STUN_HEADER_LEN];
  memcpy(hdr, msg, TC_STUN_HEADER_LEN);
  wr16(hdr + 2, fake_len);
  static const uint8_t empty_key[1];
  if (key_len == 0) key = empty_key; /* OpenSSL refuses a NULL key even when it is empty */
  int r = TC_ENOMEM;
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  if (ctx) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t got = 0;
    if (EVP_MAC_init(ctx, key, key_len, params) == 1 && EVP_MAC_update(ctx, hdr, sizeof hdr) == 1 &&
        EVP_MAC_update(ctx, msg + TC_STUN_HEADER_LEN, end - TC_STUN_HEADER_LEN) == 1 &&
        EVP_MAC_final(ctx, mac, &got, mac_cap) == 1)
      r = 0;
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
  return r;
}

static int check_mac(const tc_stun_msg_t *m, size_t off, const char *digest, const uint8_t *key,
                     size_t key_len) {
  if (!off) return TC_ENOENT;
  size_t vlen = rd16(m->p + off + 2);
  uint8_t mac[EVP_MAX_MD_SIZE];
  int r = stun_hmac(digest, key, key_len, m->p, off, off + 4 + vlen - TC_STUN_HEADER_LEN, mac,
                    sizeof mac);
  if (r) return r;
  return CRYPTO_memcmp(mac, m->p + off + 4, vlen) == 0 ? 0 : TC_EACCES;
}

int tc_stun_check_integrity(const tc_stun_msg_t *m, const uint8_t *key, size_t key_len) {
  return check_mac(m, m->integrity_off, "SHA1", key, key_len);
}

int tc_stun_check_integrity_sha256(const tc_stun_msg_t *m, const uint8_t *key, size_t key_len) {
  return check_mac(m, m->integrity256_off, "SHA256", key, key_len);
}

static uint32_t fingerprint(const uint8_t *p, size_t n) {
  return (uint32_t)crc32(0L, p, (uInt)n) ^ FINGERPRINT_XOR;
}

int tc_stun_check_fingerprint(const tc_stun_msg_t *m) {
  size_t off = m->fingerprint_off;
  if (!off) return TC_ENOENT;
  /* FINGERPRINT is last, so the length field already counts it as the CRC input wants. */
  return fingerprint(m->p, off) == rd32(m->p + off + 4) ? 0 : TC_EPROTO;
}

/* Digests the parts joined by ':'. Returns the digest length or TC_ENOMEM. */
static int digest_joined(const char *name, const tc_slice_t *parts, int n, uint8_t out[32]) {
  int r = TC_ENOMEM;
  EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
  EVP_MD_CTX *ctx = md ? EVP_MD_CTX_new() : NULL;
  if (ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1) {
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
      if (i > 0) ok = EVP_DigestUpdate(ctx, ":", 1) == 1;
      if (ok && parts[i].len) ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) == 1;
    }
    unsigned got = 0;
    if (ok && EVP_DigestFinal_ex(ctx, out, &got) == 1) r = (int)got;
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  return r;
}

int tc_stun_long_term_key(tc_slice_t username, tc_slice_t realm, tc_slice_t password, int algorithm,
                          uint8_t out[32]) {
  const tc_slice_t parts[3] = {username, realm, password};
  if (algorithm == TC_STUN_PASSWORD_MD5) return digest_joined("MD5", parts, 3, out);
  if (algorithm == TC_STUN_PASSWORD_SHA256) return digest_joined("SHA256", parts, 3, out);
  return TC_EINVAL;
}

int tc_stun_userhash(tc_slice_t username, tc_slice_t realm, uint8_t out[32]) {
  const tc_slice_t parts[2] = {username, realm};
  int r = digest_joined("SHA256", parts, 2, out);
  return r < 0 ? r : 0;
}

/* ---- Building ------------------------------------------------------------------------------- */

static uint8_t *msg_start(const tc_stun_builder_t *b) {
  return tc_buf_data(b->out) + b->start;
}
static size_t msg_len(const tc_stun_builder_t *b) {
  return b->out->len - b->start;
}

static int fail(tc_stun_builder_t *b, int err) {
  if (!b->err) b->err = err;
  return b->err;
}

int tc_stun_build_begin(tc_stun_builder_t *b, tc_buf_t *out, uint16_t method, int cls,
                        const uint8_t tid[TC_STUN_TID_LEN]) {
  *b = (tc_stun_builder_t){.out = out, .start = out->len, .err = 0, .stage = STAGE_OPEN};
  if (method > 0xFFF || cls < TC_STUN_REQUEST || cls > TC_STUN_ERROR) return fail(b, TC_EINVAL);
  if (tc_buf_reserve(out, TC_STUN_HEADER_LEN)) return fail(b, TC_ENOMEM);
  uint8_t *h = tc_buf_tail(out);
  wr16(h, tc_stun_type(method, cls));
  wr16(h + 2, 0);
  wr32(h + 4, TC_STUN_MAGIC_COOKIE);
  memcpy(h + 8, tid, TC_STUN_TID_LEN);
  tc_buf_commit(out, TC_STUN_HEADER_LEN);
  return 0;
}

/* Reserves room for an attribute of vlen value bytes, writes its header and zeroed padding,
 * and updates the length field; returns where the value goes, or NULL with b->err set. */
static uint8_t *attr_open(tc_stun_builder_t *b, uint16_t type, size_t vlen, int stage_needed) {
  if (b->err) return NULL;
  if (b->stage > stage_needed) {
    fail(b, TC_EINVAL);
    return NULL;
  }
  if (vlen > 0xFFFF || msg_len(b) + 4 + pad4(vlen) > TC_STUN_MAX_LEN) {
    fail(b, TC_E2BIG);
    return NULL;
  }
  if (tc_buf_reserve(b->out, 4 + pad4(vlen))) {
    fail(b, TC_ENOMEM);
    return NULL;
  }
  uint8_t *a = tc_buf_tail(b->out);
  wr16(a, type);
  wr16(a + 2, vlen);
  memset(a + 4 + vlen, 0, pad4(vlen) - vlen);
  return a + 4;
}

static void attr_close(tc_stun_builder_t *b, size_t vlen) {
  tc_buf_commit(b->out, 4 + pad4(vlen));
  wr16(msg_start(b) + 2, msg_len(b) - TC_STUN_HEADER_LEN);
}

int tc_stun_build_attr(tc_stun_builder_t *b, uint16_t type, const void *value, size_t len) {
  uint8_t *v = attr_open(b, type, len, STAGE_OPEN);
  if (!v) return b->err;
  if (len) memcpy(v, value, len);
  attr_close(b, len);
  return 0;
}

static int build_addr(tc_stun_builder_t *b, uint16_t type, const struct sockaddr *sa,
                      const uint8_t mask[16], uint16_t port_mask) {
  if (b->err) return b->err;
  uint8_t v[20] = {0};
  size_t vlen;
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    uint8_t ip[4];
    memcpy(ip, &sin->sin_addr, 4);
    v[1] = 0x01;
    wr16(v + 2, (uint16_t)(ntohs(sin->sin_port) ^ port_mask));
    for (int i = 0; i < 4; i++) v[4 + i] = (uint8_t)(ip[i] ^ mask[i]);
    vlen = 8;
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    v[1] = 0x02;
    wr16(v + 2, (uint16_t)(ntohs(sin6->sin6_port) ^ port_mask));
    for (int i = 0; i < 16; i++) v[4 + i] = (uint8_t)(sin6->sin6_addr.s6_addr[i] ^ mask[i]);
    vlen = 20;
  } else {
    return fail(b, TC_EINVAL);
  }
  return tc_stun_build_attr(b, type, v, vlen);
}

int tc_stun_build_addr(tc_stun_builder_t *b, uint16_t type, const struct sockaddr *sa) {
  static const uint8_t zero[16];
  return build_addr(b, type, sa, zero, 0);
}

int tc_stun_build_xor_addr(tc_stun_builder_t *b, uint16_t type, const struct sockaddr *sa) {
  if (b->err) return b->err;
  uint8_t mask[16];
  xor_mask(msg_start(b) + 8, mask);
  return build_addr(b, type, sa, mask, (uint16_t)(TC_STUN_MAGIC_COOKIE >> 16));
}

int tc_stun_build_error(tc_stun_builder_t *b, int code, const char *reason) {
  if (b->err) return b->err;
  if (code < 300 || code > 699) return fail(b, TC_EINVAL);
  if (!reason) reason = tc_stun_reason(code);
  size_t rlen = reason ? strlen(reason) : 0;
  if (rlen > 763) return fail(b, TC_EINVAL);
  uint8_t *v = attr_open(b, TC_STUN_ATTR_ERROR_CODE, 4 + rlen, STAGE_OPEN);
  if (!v) return b->err;
  v[0] = v[1] = 0;
  v[2] = (uint8_t)(code / 100);
  v[3] = (uint8_t)(code % 100);
  if (rlen) memcpy(v + 4, reason, rlen);
  attr_close(b, 4 + rlen);
  return 0;
}

int tc_stun_build_unknown(tc_stun_builder_t *b, const uint16_t *types, size_t n) {
  if (b->err) return b->err;
  if (n > 0xFFFF / 2) return fail(b, TC_E2BIG);
  uint8_t *v = attr_open(b, TC_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n, STAGE_OPEN);
  if (!v) return b->err;
  for (size_t i = 0; i < n; i++) wr16(v + 2 * i, types[i]);
  attr_close(b, 2 * n);
  return 0;
}

/* Appends an HMAC attribute: the length field must already count it when the HMAC runs. */
static int build_mac(tc_stun_builder_t *b, uint16_t type, const char *digest, const uint8_t *key,
                     size_t key_len, size_t mac_len, int stage_needed, int stage_after) {
  uint8_t *v = attr_open(b, type, mac_len, stage_needed);
  if (!v) return b->err;
  size_t end = msg_len(b);
  uint8_t mac[EVP_MAX_MD_SIZE];
  int r = stun_hmac(digest, key, key_len, msg_start(b), end, end + 4 + mac_len - TC_STUN_HEADER_LEN,
                    mac, sizeof mac);
  if (r) return fail(b, r);
  memcpy(v, mac, mac_len);
  attr_close(b, mac_len);
  b->stage = stage_after;
  return 0;
}

int tc_stun_build_integrity(tc_stun_builder_t *b, const uint8_t *key, size_t key_len) {
  return build_mac(b, TC_STUN_ATTR_MESSAGE_INTEGRITY, "SHA1", key, key_len, MI_LEN, STAGE_OPEN,
                   STAGE_AFTER_MI);
}

int tc_stun_build_integrity_sha256(tc_stun_builder_t *b, const uint8_t *key, size_t key_len,
                                   size_t mac_len) {
  if (b->err) return b->err;
  if (mac_len == 0) mac_len = MI256_MAX;
  if (mac_len < 16 || mac_len > MI256_MAX || mac_len % 4) return fail(b, TC_EINVAL);
  return build_mac(b, TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, "SHA256", key, key_len, mac_len,
                   STAGE_AFTER_MI, STAGE_AFTER_MI256);
}

int tc_stun_build_fingerprint(tc_stun_builder_t *b) {
  uint8_t *v = attr_open(b, TC_STUN_ATTR_FINGERPRINT, 4, STAGE_AFTER_MI256);
  if (!v) return b->err;
  size_t end = msg_len(b);
  uint8_t *msg = msg_start(b);
  wr16(msg + 2, end + 8 - TC_STUN_HEADER_LEN);
  wr32(v, fingerprint(msg, end));
  attr_close(b, 4);
  b->stage = STAGE_AFTER_FP;
  return 0;
}

ssize_t tc_stun_build_end(tc_stun_builder_t *b) {
  if (b->err) {
    if (b->out->len > b->start) b->out->len = b->start;
    return b->err;
  }
  return (ssize_t)msg_len(b);
}
