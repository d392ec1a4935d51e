#include "tincan/base.h"

#include <string.h>

static inline uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

tc_slice_t tc_slice_str(const char *s) {
  return (tc_slice_t){(const uint8_t *)s, strlen(s)};
}

int tc_slice_eq(tc_slice_t a, const char *s) {
  size_t n = strlen(s);
  return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

int tc_slice_ieq_slice(tc_slice_t a, tc_slice_t b) {
  if (a.len != b.len) return 0;
  for (size_t i = 0; i < a.len; i++)
    if (lower(a.p[i]) != lower(b.p[i])) return 0;
  return 1;
}

int tc_slice_ieq(tc_slice_t a, const char *s) {
  return tc_slice_ieq_slice(a, tc_slice_str(s));
}

tc_slice_t tc_slice_trim(tc_slice_t s) {
  while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
    s.p++;
    s.len--;
  }
  while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t')) s.len--;
  return s;
}
