/* Reading the arguments of the example projects' events (the chat, the call): one JSON object,
 * whose string fields are decoded, trimmed and checked the same way everywhere, and errors
 * acknowledged the same way. */
#ifndef TINCAN_APP_FIELDS_H
#define TINCAN_APP_FIELDS_H

#include "tincan/tincan.h"

/* Reads the string member `key` of the object obj into out, decoded, trimmed of leading and
 * trailing white space and checked: 1 to max characters (code points), no control characters
 * (with multiline, tabs and line breaks are allowed). NULL, or an error message for the client,
 * written to err or static. */
const char *tc_app_read_field(tc_slice_t obj, const char *key, size_t max, int multiline,
                              tc_buf_t *out, char *err, size_t errlen);

/* Non-zero when the event's first argument is an object, which is then in out. */
int tc_app_object_arg(const tc_sio_event_t *ev, tc_slice_t *out);

/* Acknowledges {error} (and code, unless it is NULL), when the client asked for an
 * acknowledgement. */
void tc_app_ack_error(tc_sio_socket_t *s, const tc_sio_event_t *ev, const char *msg,
                      const char *code);

#endif
