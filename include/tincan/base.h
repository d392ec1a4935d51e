/* tincan base: error codes, byte slices, owned buffers, logging.
 *
 * Every tincan function that can fail returns an int (or ssize_t for "bytes consumed"): zero or
 * more is success, a negative TC_E* code is failure. Nothing in tincan aborts on bad input; out of
 * memory is reported as TC_ENOMEM. Codes that go on the wire (HTTP 431, WebSocket close 1007)
 * travel in the event or result struct a core fills, never in the return value.
 *
 * No function here keeps global mutable state; all may be called from any thread on distinct
 * objects.
 */
#ifndef TINCAN_BASE_H
#define TINCAN_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINCAN_VERSION "0.1.0"

/* X(name, value, message). TC_EAGAIN means "need more bytes" in a parser and "would block" in I/O.
 */
#define TC_ERRNO_MAP(X)                                                                            \
  X(EAGAIN, -1, "need more data")                                                                  \
  X(ENOMEM, -2, "out of memory")                                                                   \
  X(EINVAL, -3, "invalid argument")                                                                \
  X(EPROTO, -4, "protocol violation")                                                              \
  X(E2BIG, -5, "too large")                                                                        \
  X(ENOTSUP, -6, "not supported")                                                                  \
  X(ENOENT, -7, "not found")                                                                       \
  X(EACCES, -8, "access refused")                                                                  \
  X(EIO, -9, "i/o error")                                                                          \
  X(ECLOSED, -10, "connection closed")                                                             \
  X(ETIMEDOUT, -11, "timed out")                                                                   \
  X(EADDRINUSE, -12, "address in use")                                                             \
  X(EBUSY, -13, "busy")                                                                            \
  X(ESYS, -14, "system error")                                                                     \
  X(ECONNREFUSED, -15, "connection refused")                                                       \
  X(ETLS, -16, "TLS failure")                                                                      \
  X(ENAME, -17, "name not resolved")

enum {
#define TC__ERR_ENUM(name, val, msg) TC_##name = (val),
  TC_ERRNO_MAP(TC__ERR_ENUM)
#undef TC__ERR_ENUM
};

/* A static string for a TC_E* code; never NULL. */
const char *tc_strerror(int err);

/* A view of bytes owned by someone else. It never frees anything. */
typedef struct tc_slice {
  const uint8_t *p;
  size_t len;
} tc_slice_t;

#define TC_SLICE_LIT(s) ((tc_slice_t){(const uint8_t *)(s), sizeof(s) - 1})
tc_slice_t tc_slice_str(const char *s);
/* Exact byte compare, and ASCII case-insensitive compare. */
int tc_slice_eq(tc_slice_t a, const char *s);
int tc_slice_ieq(tc_slice_t a, const char *s);
int tc_slice_ieq_slice(tc_slice_t a, tc_slice_t b);
/* Strips leading and trailing spaces and tabs (HTTP OWS). */
tc_slice_t tc_slice_trim(tc_slice_t s);

/* An owned, growable byte buffer. Zero-initialise it ({0}) before use; tc_buf_free releases it.
 * Bytes live in p[off .. off+len): consume advances off so that reading from the front is O(1), and
 * reserve compacts before it grows. Any call that may grow the buffer invalidates pointers into it.
 */
typedef struct tc_buf {
  uint8_t *p;
  size_t off;
  size_t len;
  size_t cap;
} tc_buf_t;

/* An unallocated buffer has p == NULL: no offset may be applied to it, even zero. */
static inline uint8_t *tc_buf_data(const tc_buf_t *b) {
  return b->p ? b->p + b->off : b->p;
}
static inline uint8_t *tc_buf_tail(const tc_buf_t *b) {
  return b->p ? b->p + b->off + b->len : b->p;
}
static inline size_t tc_buf_avail(const tc_buf_t *b) {
  return b->cap - b->off - b->len;
}
/* Ensures at least n bytes of free space at the tail. 0 or TC_ENOMEM. */
int tc_buf_reserve(tc_buf_t *b, size_t n);
int tc_buf_append(tc_buf_t *b, const void *p, size_t n);
int tc_buf_append_str(tc_buf_t *b, const char *s);
int tc_buf_append_u64(tc_buf_t *b, uint64_t v);
int tc_buf_appendf(tc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Marks n bytes written at the tail (after writing into tc_buf_tail). */
static inline void tc_buf_commit(tc_buf_t *b, size_t n) {
  b->len += n;
}
/* Drops n bytes from the front; an emptied buffer rewinds to offset 0. */
void tc_buf_consume(tc_buf_t *b, size_t n);
void tc_buf_reset(tc_buf_t *b);
/* Releases the memory; the buffer is then empty and reusable. */
void tc_buf_free(tc_buf_t *b);

/* Writes the decimal form of v to out (at least 21 bytes); returns its length. */
size_t tc_u64_to_str(uint64_t v, char *out);

/* Base64 (RFC 4648 section 4, with padding). encode writes 4*ceil(len/3) characters and a NUL to
 * out and returns the count; decode is strict (padding required, no whitespace, canonical final
 * bits) and returns the decoded length, or TC_EINVAL, or TC_E2BIG when cap is too small. */
size_t tc_base64_encode(const uint8_t *p, size_t len, char *out);
ssize_t tc_base64_decode(tc_slice_t in, uint8_t *out, size_t cap);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * Zero-initialise; feed bytes in any split. It fails at the first byte that cannot start or
 * continue a valid sequence, so a bad message is refused before it ends. */
typedef struct tc_utf8 {
  uint32_t state;
} tc_utf8_t;
/* 0 while valid so far, TC_EPROTO at the first invalid byte (the state then stays failed). */
int tc_utf8_feed(tc_utf8_t *v, const uint8_t *p, size_t len);
/* Non-zero when the input so far ends on a character boundary. */
int tc_utf8_complete(const tc_utf8_t *v);
/* Validates a whole string: 0 or TC_EPROTO. */
int tc_utf8_check(const uint8_t *p, size_t len);

/* Logging. The library holds no logger of its own: a module that logs takes a tc_logger_t in its
 * config (NULL logs nothing), and the application decides where lines go. */
typedef enum {
  TC_LOG_DEBUG = 0,
  TC_LOG_INFO,
  TC_LOG_WARN,
  TC_LOG_ERROR,
  TC_LOG_OFF
} tc_log_level_t;
typedef struct tc_logger {
  /* msg is a NUL-terminated line without newline, valid only during the call. */
  void (*fn)(const struct tc_logger *lg, tc_log_level_t level, const char *module, const char *msg);
  tc_log_level_t min_level;
  void *ud;
} tc_logger_t;

/* Parses "debug", "info", "warn", "error" or "off". 0 or TC_EINVAL. */
int tc_log_level_parse(const char *name, tc_log_level_t *out);
const char *tc_log_level_name(tc_log_level_t level);
/* Formats and hands one line to lg->fn when lg is not NULL and level >= lg->min_level. */
void tc_log(const tc_logger_t *lg, tc_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A ready-made sink: "2026-11-27T06:25:28Z info http: msg" lines on stderr. */
void tc_log_stderr(const tc_logger_t *lg, tc_log_level_t level, const char *module,
                   const char *msg);

#ifdef __cplusplus
}
#endif
#endif
