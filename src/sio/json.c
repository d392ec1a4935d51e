/* JSON scanning without a tree: one pass, no recursion, no allocation. The nesting stack is a
 * bit per level (array or object), so the deepest accepted text costs 256 bytes of stack. */
#include "tincan/json.h"

#include <string.h>

static inline int is_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline size_t skip_ws(const uint8_t *p, size_t len, size_t pos) {
  while (pos < len && is_ws(p[pos])) pos++;
  return pos;
}

static inline int hex_val(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex4(const uint8_t *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hex_val(p[i]);
    if (h < 0) return -1;
    v = (v << 4) | (uint32_t)h;
  }
  *out = v;
  return 0;
}

/* Non-zero when any of the 8 bytes of w needs a look of its own inside a string: a control
 * character, a quote, a backslash, or a byte of a multi-byte character. A false alarm is
 * possible after a byte that is special itself (borrows), never a miss. */
static inline uint64_t string_special8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  uint64_t ctl = (w - ones * 0x20) & ~w;
  uint64_t quote = (q - ones) & ~q;
  uint64_t bslash = (b - ones) & ~b;
  return (w | ctl | quote | bslash) & high;
}

/* p[pos] is the opening quote. Returns the offset past the closing quote. */
static ssize_t scan_string(const uint8_t *p, size_t len, size_t pos) {
  size_t i = pos + 1;
  for (;;) {
    /* Plain text goes eight bytes at a time: most strings are mostly plain. */
    while (len - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (string_special8(w)) break;
      i += 8;
    }
    if (i >= len) return TC_EPROTO;
    uint8_t c = p[i];
    if (c == '"') return (ssize_t)(i + 1);
    if (c == '\\') {
      if (i + 1 >= len) return TC_EPROTO;
      switch (p[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          i += 2;
          break;
        case 'u': {
          uint32_t u;
          if (len - i < 6 || hex4(p + i + 2, &u) < 0) return TC_EPROTO;
          i += 6;
          break;
        }
        default:
          return TC_EPROTO;
      }
      continue;
    }
    if (c < 0x20) return TC_EPROTO;
    if (c < 0x80) {
      i++;
      continue;
    }
    /* A maximal run of non-ASCII bytes holds whole characters when the text is valid. */
    size_t j = i;
    while (j < len && p[j] >= 0x80) j++;
    if (tc_utf8_check(p + i, j - i) < 0) return TC_EPROTO;
    i = j;
  }
}

static size_t skip_digits(const uint8_t *p, size_t len, size_t i) {
  while (i < len && p[i] >= '0' && p[i] <= '9') i++;
  return i;
}

static ssize_t scan_number(const uint8_t *p, size_t len, size_t pos) {
  size_t i = pos;
  if (p[i] == '-') i++;
  if (i >= len) return TC_EPROTO;
  if (p[i] == '0')
    i++;
  else if (p[i] >= '1' && p[i] <= '9')
    i = skip_digits(p, len, i + 1);
  else
    return TC_EPROTO;
  if (i < len && p[i] == '.') {
    size_t j = skip_digits(p, len, i + 1);
    if (j == i + 1) return TC_EPROTO;
    i = j;
  }
  if (i < len && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < len && (p[i] == '+' || p[i] == '-')) i++;
    size_t j = skip_digits(p, len, i);
    if (j == i) return TC_EPROTO;
    i = j;
  }
  return (ssize_t)i;
}

static ssize_t scan_literal(const uint8_t *p, size_t len, size_t pos, const char *lit, size_t n) {
  if (len - pos < n || memcmp(p + pos, lit, n) != 0) return TC_EPROTO;
  return (ssize_t)(pos + n);
}

/* A value that is not a container. */
static ssize_t scan_scalar(const uint8_t *p, size_t len, size_t pos) {
  switch (p[pos]) {
    case '"':
      return scan_string(p, len, pos);
    case 't':
      return scan_literal(p, len, pos, "true", 4);
    case 'f':
      return scan_literal(p, len, pos, "false", 5);
    case 'n':
      return scan_literal(p, len, pos, "null", 4);
    default:
      if (p[pos] == '-' || (p[pos] >= '0' && p[pos] <= '9')) return scan_number(p, len, pos);
      return TC_EPROTO;
  }
}

/* An object key and its colon: returns the offset after the colon. */
static ssize_t scan_key(const uint8_t *p, size_t len, size_t pos) {
  pos = skip_ws(p, len, pos);
  if (pos >= len || p[pos] != '"') return TC_EPROTO;
  ssize_t r = scan_string(p, len, pos);
  if (r < 0) return r;
  pos = skip_ws(p, len, (size_t)r);
  if (pos >= len || p[pos] != ':') return TC_EPROTO;
  return (ssize_t)(pos + 1);
}

typedef struct {
  uint8_t bits[TC_JSON_MAX_DEPTH / 8];
  size_t depth;
} nest_t;

static inline int nest_top_is_object(const nest_t *n) {
  size_t d = n->depth - 1;
  return (n->bits[d >> 3] >> (d & 7)) & 1;
}

static inline void nest_push(nest_t *n, int object) {
  size_t d = n->depth++;
  if (object)
    n->bits[d >> 3] = (uint8_t)(n->bits[d >> 3] | (1u << (d & 7)));
  else
    n->bits[d >> 3] = (uint8_t)(n->bits[d >> 3] & ~(1u << (d & 7)));
}

/* After a complete value: closes the containers that end here. Returns the offset where the next
 * value starts (after a comma, and after the key for objects) with n->depth > 0, or the offset
 * past the outermost value with n->depth == 0. */
static ssize_t after_value(const uint8_t *p, size_t len, size_t pos, nest_t *n) {
  while (n->depth > 0) {
    pos = skip_ws(p, len, pos);
    if (pos >= len) return TC_EPROTO;
    int obj = nest_top_is_object(n);
    if (p[pos] == ',') return obj ? scan_key(p, len, pos + 1) : (ssize_t)(pos + 1);
    if (p[pos] != (obj ? '}' : ']')) return TC_EPROTO;
    n->depth--;
    pos++;
  }
  return (ssize_t)pos;
}

ssize_t tc_json_skip(const uint8_t *p, size_t len) {
  nest_t n;
  n.depth = 0;
  size_t pos = 0;
  for (;;) {
    pos = skip_ws(p, len, pos);
    if (pos >= len) return TC_EPROTO;
    uint8_t c = p[pos];
    ssize_t r;
    if (c == '[' || c == '{') {
      if (n.depth == TC_JSON_MAX_DEPTH) return TC_E2BIG;
      nest_push(&n, c == '{');
      size_t q = skip_ws(p, len, pos + 1);
      if (q < len && p[q] == (c == '{' ? '}' : ']')) {
        n.depth--;
        r = (ssize_t)(q + 1);
      } else {
        if (c == '[') {
          pos = q;
          continue;
        }
        r = scan_key(p, len, q);
        if (r < 0) return r;
        pos = (size_t)r;
        continue;
      }
    } else {
      r = scan_scalar(p, len, pos);
      if (r < 0) return r;
    }
    r = after_value(p, len, (size_t)r, &n);
    if (r < 0 || n.depth == 0) return r;
    pos = (size_t)r;
  }
}

int tc_json_check(const uint8_t *p, size_t len) {
  ssize_t r = tc_json_skip(p, len);
  if (r < 0) return (int)r;
  return skip_ws(p, len, (size_t)r) == len ? 0 : TC_EPROTO;
}

int tc_json_list_check(const uint8_t *p, size_t len, size_t *count) {
  tc_json_iter_t it;
  tc_json_iter_list(&it, (tc_slice_t){p, len});
  size_t n = 0;
  tc_slice_t v;
  int r;
  while ((r = tc_json_next(&it, NULL, &v)) == 1) n++;
  if (r < 0) return r;
  if (count) *count = n;
  return 0;
}

tc_slice_t tc_json_trim(tc_slice_t v) {
  size_t a = 0, b = v.len;
  while (a < b && is_ws(v.p[a])) a++;
  while (b > a && is_ws(v.p[b - 1])) b--;
  return (tc_slice_t){v.p ? v.p + a : v.p, b - a};
}

tc_json_type_t tc_json_type(tc_slice_t v) {
  size_t i = skip_ws(v.p, v.len, 0);
  if (i >= v.len) return TC_JSON_INVALID;
  switch (v.p[i]) {
    case 'n':
      return TC_JSON_NULL;
    case 'f':
      return TC_JSON_FALSE;
    case 't':
      return TC_JSON_TRUE;
    case '"':
      return TC_JSON_STRING;
    case '[':
      return TC_JSON_ARRAY;
    case '{':
      return TC_JSON_OBJECT;
    default:
      return (v.p[i] == '-' || (v.p[i] >= '0' && v.p[i] <= '9')) ? TC_JSON_NUMBER : TC_JSON_INVALID;
  }
}

/* ---- Iteration ------------------------------------------------------------------------------- */

enum { IT_FIRST = 0, IT_MORE, IT_DONE };

int tc_json_iter_init(tc_json_iter_t *it, tc_slice_t v) {
  size_t i = skip_ws(v.p, v.len, 0);
  if (i >= v.len || (v.p[i] != '[' && v.p[i] != '{')) return TC_EPROTO;
  it->p = v.p;
  it->len = v.len;
  it->pos = i + 1;
  it->kind = v.p[i] == '[' ? TC_JSON_ARRAY : TC_JSON_OBJECT;
  it->state = IT_FIRST;
  return 0;
}

int tc_json_iter_list(tc_json_iter_t *it, tc_slice_t list) {
  it->p = list.p;
  it->len = list.len;
  it->pos = 0;
  it->kind = TC_JSON_INVALID;
  it->state = IT_FIRST;
  return 0;
}

/* The container ends at pos (its closing bracket): nothing but whitespace may follow. */
static int iter_finish(tc_json_iter_t *it, size_t pos) {
  if (it->kind != TC_JSON_INVALID) pos++;
  pos = skip_ws(it->p, it->len, pos);
  if (pos != it->len) return TC_EPROTO;
  it->pos = pos;
  it->state = IT_DONE;
  return 0;
}

int tc_json_next(tc_json_iter_t *it, tc_slice_t *key, tc_slice_t *value) {
  if (it->state == IT_DONE) return 0;
  const uint8_t *p = it->p;
  size_t len = it->len;
  size_t pos = skip_ws(p, len, it->pos);
  if (it->kind == TC_JSON_INVALID) {
    if (pos == len) return iter_finish(it, pos);
  } else if (pos < len && p[pos] == (it->kind == TC_JSON_OBJECT ? '}' : ']')) {
    return iter_finish(it, pos);
  }
  if (pos >= len) return TC_EPROTO;
  if (it->state == IT_MORE) {
    if (p[pos] != ',') return TC_EPROTO;
    pos = skip_ws(p, len, pos + 1);
  }
  if (it->kind == TC_JSON_OBJECT) {
    if (pos >= len || p[pos] != '"') return TC_EPROTO;
    ssize_t r = scan_string(p, len, pos);
    if (r < 0) return (int)r;
    if (key) *key = (tc_slice_t){p + pos, (size_t)r - pos};
    pos = skip_ws(p, len, (size_t)r);
    if (pos >= len || p[pos] != ':') return TC_EPROTO;
    pos = skip_ws(p, len, pos + 1);
  }
  ssize_t r = tc_json_skip(p + pos, len - pos);
  if (r < 0) return (int)r;
  *value = (tc_slice_t){p + pos, (size_t)r};
  it->pos = pos + (size_t)r;
  it->state = IT_MORE;
  return 1;
}

static int nth(tc_json_iter_t *it, size_t i, tc_slice_t *out) {
  tc_slice_t v;
  int r;
  size_t n = 0;
  while ((r = tc_json_next(it, NULL, &v)) == 1) {
    if (n++ == i) {
      *out = v;
      return 1;
    }
  }
  return r;
}

int tc_json_array_get(tc_slice_t array, size_t i, tc_slice_t *out) {
  tc_json_iter_t it;
  if (tc_json_iter_init(&it, array) < 0 || it.kind != TC_JSON_ARRAY) return TC_EPROTO;
  return nth(&it, i, out);
}

int tc_json_list_get(tc_slice_t list, size_t i, tc_slice_t *out) {
  tc_json_iter_t it;
  tc_json_iter_list(&it, list);
  return nth(&it, i, out);
}

int tc_json_object_get(tc_slice_t object, const char *key, tc_slice_t *out) {
  tc_json_iter_t it;
  if (tc_json_iter_init(&it, object) < 0 || it.kind != TC_JSON_OBJECT) return TC_EPROTO;
  tc_slice_t k, v;
  int r, found = 0;
  size_t klen = strlen(key);
  while ((r = tc_json_next(&it, &k, &v)) == 1) {
    if (tc_json_string_eq(k, key, klen)) {
      *out = v;
      found = 1;
    }
  }
  return r < 0 ? r : found;
}

/* ---- Strings --------------------------------------------------------------------------------- */

static size_t utf8_put(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | (cp >> 6));
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | (cp >> 12));
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | (cp >> 18));
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes one escape at p[*i] (the backslash) of a validated string ending at end. */
static size_t decode_escape(const uint8_t *p, size_t *i, size_t end, uint8_t out[4]) {
  uint8_t c = p[*i + 1];
  *i += 2;
  switch (c) {
    case 'b':
      out[0] = '\b';
      return 1;
    case 'f':
      out[0] = '\f';
      return 1;
    case 'n':
      out[0] = '\n';
      return 1;
    case 'r':
      out[0] = '\r';
      return 1;
    case 't':
      out[0] = '\t';
      return 1;
    case 'u':
      break;
    default:
      out[0] = c;
      return 1;
  }
  uint32_t u, lo;
  hex4(p + *i, &u);
  *i += 4;
  if (u >= 0xD800 && u <= 0xDBFF && end - *i >= 6 && p[*i] == '\\' && p[*i + 1] == 'u' &&
      hex4(p + *i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
    *i += 6;
    return utf8_put(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00), out);
  }
  if (u >= 0xD800 && u <= 0xDFFF) u = 0xFFFD;
  return utf8_put(u, out);
}

static int string_token_ok(tc_slice_t str) {
  return str.len >= 2 && str.p[0] == '"' && scan_string(str.p, str.len, 0) == (ssize_t)str.len;
}

int tc_json_unescape(tc_slice_t str, tc_buf_t *out) {
  str = tc_json_trim(str);
  if (!string_token_ok(str)) return TC_EPROTO;
  size_t end = str.len - 1, i = 1;
  if (tc_buf_reserve(out, end - 1) < 0) return TC_ENOMEM;
  while (i < end) {
    size_t j = i;
    while (j < end && str.p[j] != '\\') j++;
    if (j > i && tc_buf_append(out, str.p + i, j - i) < 0) return TC_ENOMEM;
    i = j;
    if (i < end) {
      uint8_t u[4];
      size_t n = decode_escape(str.p, &i, end, u);
      if (tc_buf_append(out, u, n) < 0) return TC_ENOMEM;
    }
  }
  return 0;
}

int tc_json_string_eq(tc_slice_t str, const void *s, size_t len) {
  str = tc_json_trim(str);
  if (!string_token_ok(str)) return 0;
  const uint8_t *b = s;
  size_t end = str.len - 1, i = 1, k = 0;
  while (i < end) {
    if (str.p[i] != '\\') {
      if (k >= len || b[k] != str.p[i]) return 0;
      i++;
      k++;
      continue;
    }
    uint8_t u[4];
    size_t n = decode_escape(str.p, &i, end, u);
    if (len - k < n || memcmp(b + k, u, n) != 0) return 0;
    k += n;
  }
  return k == len;
}

int tc_json_escape(tc_buf_t *out, const void *s, size_t len) {
  const uint8_t *p = s;
  if (tc_utf8_check(p, len) < 0) return TC_EINVAL;
  if (tc_buf_reserve(out, len + 2) < 0 || tc_buf_append(out, "\"", 1) < 0) return TC_ENOMEM;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && p[j] >= 0x20 && p[j] != '"' && p[j] != '\\') j++;
    if (j > i && tc_buf_append(out, p + i, j - i) < 0) return TC_ENOMEM;
    if (j == len) break;
    char esc[7];
    size_t n = 2;
    esc[0] = '\\';
    switch (p[j]) {
      case '"':
        esc[1] = '"';
        break;
      case '\\':
        esc[1] = '\\';
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default: {
        static const char hx[] = "0123456789abcdef";
        memcpy(esc + 1, "u00", 3);
        esc[4] = hx[p[j] >> 4];
        esc[5] = hx[p[j] & 15];
        n = 6;
      }
    }
    if (tc_buf_append(out, esc, n) < 0) return TC_ENOMEM;
    i = j + 1;
  }
  return tc_buf_append(out, "\"", 1) < 0 ? TC_ENOMEM : 0;
}

int tc_json_uint(tc_slice_t num, uint64_t *out) {
  tc_slice_t t = tc_json_trim(num);
  size_t i = 0;
  uint64_t v = 0;
  if (t.len == 0 || scan_number(t.p, t.len, 0) != (ssize_t)t.len) return TC_EINVAL;
  if (t.p[0] == '-') return TC_EINVAL;
  for (; i < t.len && t.p[i] >= '0' && t.p[i] <= '9'; i++) {
    v = v * 10 + (uint64_t)(t.p[i] - '0');
    if (v > ((uint64_t)1 << 53) - 1) return TC_EINVAL;
  }
  if (i < t.len && t.p[i] == '.') {
    for (i++; i < t.len && t.p[i] == '0'; i++) {
    }
  }
  if (i != t.len) return TC_EINVAL;
  *out = v;
  return 0;
}
