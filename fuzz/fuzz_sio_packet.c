/* Socket.IO packets on arbitrary bytes: the input is a stream of Engine.IO messages for the
 * reassembling decoder (a flag byte, bit 0 binary; a length byte; the bytes). Every packet that
 * decodes is re-encoded, decodes again to the same fields, and has well-formed parts. */
#include "tincan/sio.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

static int slice_eq(tc_slice_t a, tc_slice_t b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void check_packet(const tc_sio_packet_t *p) {
  ASSERT(p->type >= 0 && p->type <= 6);
  ASSERT(p->nsp.len >= 1 && p->nsp.p[0] == '/');
  ASSERT(memchr(p->nsp.p, ',', p->nsp.len) == NULL);
  if (p->data.len) ASSERT(tc_json_check(p->data.p, p->data.len) == 0);
  ASSERT(tc_json_list_check(p->args.p, p->args.len, NULL) == 0);
  if (p->type == TC_SIO_EVENT || p->type == TC_SIO_BINARY_EVENT) {
    tc_json_type_t t = tc_json_type(p->event);
    ASSERT(t == TC_JSON_STRING || t == TC_JSON_NUMBER);
  }
  tc_buf_t b = {0};
  ASSERT(tc_sio_packet_encode(&b, p) == 0);
  tc_sio_packet_t q;
  ASSERT(tc_sio_packet_decode(tc_buf_data(&b), b.len, p->attachments ? p->attachments : 1, &q) ==
         0);
  ASSERT(q.type == p->type && q.attachments == p->attachments && q.has_id == p->has_id);
  ASSERT(!p->has_id || q.id == p->id);
  ASSERT(slice_eq(q.nsp, p->nsp) && slice_eq(q.event, p->event) && slice_eq(q.args, p->args));
  tc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tc_sio_packet_t whole;
  if (tc_sio_packet_decode(data, size, 0, &whole) == 0) check_packet(&whole);

  tc_sio_decoder_t d = {0};
  size_t i = 0;
  if (size > 0) d.max_attachments = data[i++] % 16;
  while (i + 2 <= size) {
    int binary = data[i] & 1;
    size_t n = data[i + 1];
    i += 2;
    if (n > size - i) n = size - i;
    /* A copy of exactly the message, so that reads past it are caught. */
    uint8_t *m = malloc(n ? n : 1);
    memcpy(m, data + i, n);
    i += n;
    tc_sio_message_t msg;
    int r = tc_sio_decoder_feed(&d, binary, m, n, &msg);
    if (r == 1) {
      check_packet(&msg.pkt);
      ASSERT(msg.num_attachments == msg.pkt.attachments);
      if (msg.num_attachments) {
        ASSERT(tc_sio_placeholders_check(msg.pkt.data, msg.num_attachments) == 0);
        for (size_t k = 0; k < msg.num_attachments; k++)
          if (msg.attachments[k].len) ASSERT(msg.attachments[k].p != NULL);
      }
    }
    free(m);
  }
  tc_sio_decoder_reset(&d);
  return 0;
}
