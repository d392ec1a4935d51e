#include "tincan/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tc_strerror(int err) {
  switch (err) {
#define TC__ERR_STR(name, val, msg)                                                                \
  case TC_##name:                                                                                  \
    return msg;
    TC_ERRNO_MAP(TC__ERR_STR)
#undef TC__ERR_STR
    default:
      return err >= 0 ? "success" : "unknown error";
  }
}

int tc_buf_reserve(tc_buf_t *b, size_t n) {
  if (b->cap - b->off - b->len >= n) return 0;
  /* Reclaim consumed space first: a buffer read from the front should not grow forever. */
  if (b->off > 0 && b->cap - b->len >= n) {
    memmove(b->p, b->p + b->off, b->len);
    b->off = 0;
    return 0;
  }
  if (n > SIZE_MAX / 2 - b->len) return TC_ENOMEM;
  size_t want = b->len + n;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < want) cap *= 2;
  uint8_t *p = malloc(cap);
  if (!p) return TC_ENOMEM;
  if (b->len) memcpy(p, b->p + b->off, b->len);
  free(b->p);
  b->p = p;
  b->off = 0;
  b->cap = cap;
  return 0;
}

int tc_buf_append(tc_buf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  int r = tc_buf_reserve(b, n);
  if (r) return r;
  memcpy(tc_buf_tail(b), p, n);
  b->len += n;
  return 0;
}

int tc_buf_append_str(tc_buf_t *b, const char *s) {
  return tc_buf_append(b, s, strlen(s));
}

size_t tc_u64_to_str(uint64_t v, char *out) {
  char tmp[21];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
  return n;
}

int tc_buf_append_u64(tc_buf_t *b, uint64_t v) {
  char tmp[21];
  size_t n = tc_u64_to_str(v, tmp);
  return tc_buf_append(b, tmp, n);
}

int tc_buf_appendf(tc_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return TC_EINVAL;
  int r = tc_buf_reserve(b, (size_t)n + 1);
  if (r) return r;
  va_start(ap, fmt);
  vsnprintf((char *)tc_buf_tail(b), (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void tc_buf_consume(tc_buf_t *b, size_t n) {
  if (n >= b->len) {
    b->off = 0;
    b->len = 0;
    return;
  }
  b->off += n;
  b->len -= n;
}

void tc_buf_reset(tc_buf_t *b) {
  b->off = 0;
  b->len = 0;
}

void tc_buf_free(tc_buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->off = b->len = b->cap = 0;
}
