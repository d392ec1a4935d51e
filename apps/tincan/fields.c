/* Event arguments of the example projects: see fields.h. */
#include "fields.h"

#include <stdio.h>
#include <string.h>

static int is_space(uint8_t ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Checks decoded text: no control characters (C0 except, in multi-line text, tab and line
 * breaks; DEL; C1), and a length of 1 to max code points once trimmed, which it is in place.
 * NULL, or what is wrong. The decoder already guarantees UTF-8. */
static const char *check_text(tc_buf_t *b, size_t max, int multiline) {
  const uint8_t *p = tc_buf_data(b);
  size_t n = b->len, start = 0, chars = 0;
  while (start < n && is_space(p[start])) start++;
  while (n > start && is_space(p[n - 1])) n--;
  if (n == start) return "is empty";
  for (size_t i = start; i < n; i++) {
    uint8_t ch = p[i];
    int line = ch == '\n' || ch == '\r' || ch == '\t';
    if ((ch < 0x20 && !(multiline && line)) || ch == 0x7f) return "has a control character";
    if (ch == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
      return "has a control character";
    if ((ch & 0xc0) != 0x80) chars++;
  }
  if (chars > max) return "is too long";
  tc_buf_consume(b, start);
  b->len = n - start;
  return NULL;
}

const char *tc_app_read_field(tc_slice_t obj, const char *key, size_t max, int multiline,
                              tc_buf_t *out, char *err, size_t errlen) {
  tc_slice_t v;
  int r = tc_json_object_get(obj, key, &v);
  if (r < 0) return "malformed arguments";
  if (r == 0 || tc_json_type(v) != TC_JSON_STRING) {
    snprintf(err, errlen, "%s must be a string", key);
    return err;
  }
  tc_buf_reset(out);
  if (tc_json_unescape(v, out) < 0) return "out of memory";
  const char *why = check_text(out, max, multiline);
  if (why) {
    if (!strcmp(why, "is too long"))
      snprintf(err, errlen, "%s is too long (at most %zu characters)", key, max);
    else
      snprintf(err, errlen, "%s %s", key, why);
    return err;
  }
  return NULL;
}

int tc_app_object_arg(const tc_sio_event_t *ev, tc_slice_t *out) {
  return tc_json_list_get(ev->args, 0, out) == 1 && tc_json_type(*out) == TC_JSON_OBJECT;
}

void tc_app_ack_error(tc_sio_socket_t *s, const tc_sio_event_t *ev, const char *msg,
                      const char *code) {
  if (ev->ack_id < 0) return;
  tc_buf_t b = {0};
  tc_buf_append_str(&b, "{\"error\":");
  tc_json_escape(&b, msg, strlen(msg));
  if (code) tc_buf_appendf(&b, ",\"code\":\"%s\"", code);
  tc_buf_append_str(&b, "}");
  tc_sio_ack(s, ev->ack_id, (tc_slice_t){tc_buf_data(&b), b.len});
  tc_buf_free(&b);
}
