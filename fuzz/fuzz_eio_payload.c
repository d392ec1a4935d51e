/* Engine.IO packets on arbitrary bytes: the input is read as a polling payload and as a
 * WebSocket message (text and binary); every packet that decodes must encode back to a payload
 * that decodes to the same packets, and text repaired the way Node reads it must be valid UTF-8
 * and left alone when it already was. */
#include "eio/eio_int.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

typedef struct pkts {
  tc_buf_t re; /* the packets encoded again */
  size_t n;
  int stop_at;
} pkts_t;

static int on_packet(const tc_eio_packet_t *pkt, void *ud) {
  pkts_t *k = ud;
  ASSERT(pkt->type >= TC_EIO_OPEN && pkt->type <= TC_EIO_NOOP);
  ASSERT(!pkt->binary || pkt->type == TC_EIO_MESSAGE);
  ASSERT(pkt->data.len == 0 || pkt->data.p != NULL);
  /* Text never holds the separator: the payload was split on it. */
  if (!pkt->binary) ASSERT(!pkt->data.len || !memchr(pkt->data.p, 0x1e, pkt->data.len));
  ASSERT(tc_eio_encode_polling(&k->re, k->n == 0, pkt->type, pkt->binary, pkt->data.p,
                               pkt->data.len) == 0);
  return k->n++ == (size_t)k->stop_at ? 1 : 0;
}

typedef struct cmp {
  const uint8_t *p; /* the first encoding, decoded again, must give the same encoding */
  tc_buf_t re;
  size_t n;
} cmp_t;

static int on_again(const tc_eio_packet_t *pkt, void *ud) {
  cmp_t *c = ud;
  ASSERT(tc_eio_encode_polling(&c->re, c->n++ == 0, pkt->type, pkt->binary, pkt->data.p,
                               pkt->data.len) == 0);
  return 0;
}

static void check_payload(const uint8_t *data, size_t size, int stop_at) {
  uint8_t *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  pkts_t k = {.stop_at = stop_at};
  int r = tc_eio_decode_payload(copy, size, on_packet, &k);
  ASSERT(r == 0 || r == TC_EPROTO || r == 1);
  if (r == 1) ASSERT(k.n == (size_t)stop_at + 1);
  if (k.n) {
    /* Re-encoded, the packets read back as themselves. */
    uint8_t *again = malloc(k.re.len);
    memcpy(again, tc_buf_data(&k.re), k.re.len);
    cmp_t c = {0};
    ASSERT(tc_eio_decode_payload(again, k.re.len, on_again, &c) == 0);
    ASSERT(c.n == k.n && c.re.len == k.re.len &&
           !memcmp(tc_buf_data(&c.re), tc_buf_data(&k.re), k.re.len));
    tc_buf_free(&c.re);
    free(again);
  }
  tc_buf_free(&k.re);
  free(copy);
}

static void check_ws(const uint8_t *data, size_t size, int binary) {
  uint8_t *copy = malloc(size ? size : 1);
  if (size) memcpy(copy, data, size);
  tc_eio_packet_t pkt;
  int r = tc_eio_decode_ws(copy, size, binary, &pkt);
  if (binary) ASSERT(r == 0 && pkt.binary && pkt.data.len == size);
  if (!binary && r == 0) {
    ASSERT(size > 0);
    if (data[0] == 'b')
      ASSERT(pkt.binary && pkt.data.len <= (size - 1) / 4 * 3 + 2);
    else
      ASSERT(pkt.type == data[0] - '0' && pkt.data.len == size - 1);
  }
  if (!binary && r < 0) ASSERT(size == 0 || ((data[0] < '0' || data[0] > '6') && data[0] != 'b'));
  free(copy);
}

static void check_utf8(const uint8_t *data, size_t size) {
  tc_buf_t out = {0};
  ASSERT(tc__eio_utf8_repair(data, size, &out) == 0);
  ASSERT(out.len == 0 || tc_utf8_check(tc_buf_data(&out), out.len) == 0);
  if (tc_utf8_check(data, size) == 0)
    ASSERT(out.len == size && (!size || !memcmp(tc_buf_data(&out), data, size)));
  /* Repairing repaired text changes nothing. */
  tc_buf_t twice = {0};
  ASSERT(tc__eio_utf8_repair(tc_buf_data(&out), out.len, &twice) == 0);
  ASSERT(twice.len == out.len &&
         (!out.len || !memcmp(tc_buf_data(&twice), tc_buf_data(&out), out.len)));
  tc_buf_free(&twice);
  tc_buf_free(&out);
}

static void check_base64(const uint8_t *data, size_t size) {
  /* Whatever base64 we write, the lenient reader reads back exactly. */
  char *enc = malloc((size + 2) / 3 * 4 + 1);
  size_t n = tc_base64_encode(data, size, enc);
  size_t m = tc__eio_base64_decode_lenient((uint8_t *)enc, n);
  ASSERT(m == size && (!size || !memcmp(enc, data, size)));
  free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_payload(data, size, -1);
  check_payload(data, size, size ? data[0] % 4 : 0);
  check_ws(data, size, 0);
  check_ws(data, size, 1);
  check_utf8(data, size);
  check_base64(data, size);
  return 0;
}
