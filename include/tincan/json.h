/* tincan JSON scanning: validating, finding and unescaping in place, without building a tree.
 *
 * For code that needs a few things out of a JSON text (the event name of a Socket.IO packet) and
 * passes the rest on as text. A tree is what jansson is for; this is the part of a parser that
 * can run on every message without allocating.
 *
 * The grammar is RFC 8259's, which is also what JSON.parse accepts: any value at the top level,
 * whitespace (space, tab, CR, LF) around tokens, no comments, no trailing commas, no leading
 * zeros, strings without raw control characters. In addition the bytes of strings must be valid
 * UTF-8 (JSON.parse never sees bytes; a text that is not UTF-8 is refused here rather than
 * repaired). Escapes are checked for form only: "\ud800" (a lone surrogate) is valid JSON.
 * Nesting deeper than TC_JSON_MAX_DEPTH arrays and objects is refused with TC_E2BIG.
 *
 * Slices returned point into the caller's text. Nothing here allocates except the functions that
 * append to a tc_buf_t.
 */
#ifndef TINCAN_JSON_H
#define TINCAN_JSON_H

#include "tincan/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_JSON_MAX_DEPTH 2048

typedef enum {
  TC_JSON_INVALID = 0,
  TC_JSON_NULL,
  TC_JSON_FALSE,
  TC_JSON_TRUE,
  TC_JSON_NUMBER,
  TC_JSON_STRING,
  TC_JSON_ARRAY,
  TC_JSON_OBJECT,
} tc_json_type_t;

/* Skips leading whitespace and one value at the front of p[0..len). Returns the offset just past
 * the value (trailing whitespace is not consumed), TC_EPROTO when no valid value starts there,
 * or TC_E2BIG for nesting deeper than TC_JSON_MAX_DEPTH. */
ssize_t tc_json_skip(const uint8_t *p, size_t len);

/* 0 when p[0..len) is exactly one value with optional whitespace around it; TC_EPROTO or
 * TC_E2BIG otherwise. */
int tc_json_check(const uint8_t *p, size_t len);

/* 0 when p[0..len) is a list of values separated by commas, as between the brackets of an
 * array ("1,\"a\",{}"), or only whitespace (the empty list). *count, when not NULL, gets the
 * number of values. TC_EPROTO or TC_E2BIG otherwise. */
int tc_json_list_check(const uint8_t *p, size_t len, size_t *count);

/* The kind of value that starts v (after whitespace), judged by its first byte only. */
tc_json_type_t tc_json_type(tc_slice_t v);
/* v without JSON whitespace at either end. */
tc_slice_t tc_json_trim(tc_slice_t v);

/* Walks the members of an array or object, or the values of a list (see tc_json_list_check),
 * validating as it goes: a malformed container is reported when the walk reaches the fault. */
typedef struct tc_json_iter {
  const uint8_t *p;
  size_t len;
  size_t pos;
  int kind; /* TC_JSON_ARRAY, TC_JSON_OBJECT, or TC_JSON_INVALID for a bare list */
  int state;
} tc_json_iter_t;

/* Starts a walk over the array or object v (whitespace around it allowed). TC_EPROTO when v
 * does not start with '[' or '{'. */
int tc_json_iter_init(tc_json_iter_t *it, tc_slice_t v);
/* Starts a walk over a bare list of comma-separated values. Always 0. */
int tc_json_iter_list(tc_json_iter_t *it, tc_slice_t list);
/* The next member: 1 with *value set (and, for objects, *key set to the raw string token,
 * quotes included; key may be NULL), 0 at the end (after which the container's closing bracket
 * and nothing but whitespace after it have been checked), or TC_EPROTO / TC_E2BIG. */
int tc_json_next(tc_json_iter_t *it, tc_slice_t *key, tc_slice_t *value);
/* Where the walk stands: the offset into v of the next byte to read. After the first member's
 * comma it is the start of the rest of the members. */
static inline size_t tc_json_iter_pos(const tc_json_iter_t *it) {
  return it->pos;
}

/* The i-th value of an array (0-based): 1 and *out, 0 when it has fewer, or TC_EPROTO. */
int tc_json_array_get(tc_slice_t array, size_t i, tc_slice_t *out);
/* The i-th value of a bare list, the same way. */
int tc_json_list_get(tc_slice_t list, size_t i, tc_slice_t *out);
/* The value of key in an object: 1 and *out, 0 when absent, or TC_EPROTO. When the key appears
 * more than once the last one counts, as with JSON.parse. */
int tc_json_object_get(tc_slice_t object, const char *key, tc_slice_t *out);

/* Appends the decoded value of a string token (quotes included; whitespace around it is
 * ignored) to out as UTF-8. A lone
 * surrogate escape becomes U+FFFD. 0, TC_EPROTO (not a valid string token), TC_ENOMEM. */
int tc_json_unescape(tc_slice_t str, tc_buf_t *out);
/* Non-zero when the string token's decoded value is exactly s[0..len). Allocates nothing. */
int tc_json_string_eq(tc_slice_t str, const void *s, size_t len);
/* Appends s[0..len) as a string token, escaped as JSON.stringify does: quote, backslash and
 * control characters; everything else as is. s must be UTF-8 (TC_EINVAL otherwise). */
int tc_json_escape(tc_buf_t *out, const void *s, size_t len);

/* Reads a number token that denotes a non-negative integer ("12", "12.0") no larger than
 * 2^53 - 1. 0 and *out, or TC_EINVAL (not such a number: a fraction, a sign, an exponent). */
int tc_json_uint(tc_slice_t num, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
