/* The chunked decoder on arbitrary bytes. The first input byte picks where to split the rest
 * (after every occurrence of that byte), the second a body limit. Fed whole, in those pieces, and
 * byte by byte, the decoder must give the same verdict, consume the same bytes and produce the
 * same body, never more than it consumed nor over the limit. */
#include "tincan/http.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

typedef struct run {
  ssize_t err;
  size_t consumed;
  int done;
  tc_buf_t body;
} run_t;

/* Feeds the input in pieces; split < 0 means whole, 256 means byte by byte. */
static void feed(const uint8_t *in, size_t len, uint64_t max_body, int split, run_t *out) {
  tc_http_chunked_t d = {0};
  d.max_body = max_body;
  memset(out, 0, sizeof *out);
  size_t start = 0;
  do {
    size_t stop = len;
    if (split == 256) {
      if (len) stop = start + 1;
    } else if (split >= 0) {
      const uint8_t *c = memchr(in + start, split, len - start);
      if (c) stop = (size_t)(c - in) + 1;
    }
    size_t n = stop - start;
    /* Each piece is its own allocation so that a read past it is caught. */
    uint8_t *piece = malloc(n ? n : 1);
    if (n) memcpy(piece, in + start, n);
    ssize_t r = tc_http_chunked_feed(&d, piece, n, &out->body);
    free(piece);
    if (r < 0) {
      ASSERT(r == TC_EPROTO || r == TC_E2BIG);
      out->err = r;
      /* Errors stick. */
      ASSERT(tc_http_chunked_feed(&d, (const uint8_t *)"0\r\n\r\n", 5, &out->body) == r);
      break;
    }
    ASSERT((size_t)r <= n);
    ASSERT(d.done || (size_t)r == n);
    out->consumed += (size_t)r;
    if (d.done) {
      ASSERT(tc_http_chunked_feed(&d, (const uint8_t *)"5", 1, &out->body) == 0);
      break;
    }
    start = stop;
  } while (start < len);
  out->done = d.done;
  ASSERT(d.total == out->body.len);
  ASSERT(out->body.len <= out->consumed || out->err);
  ASSERT(max_body == 0 || d.total <= max_body);
}

static void same(const run_t *a, const run_t *b) {
  ASSERT(a->err == b->err && a->done == b->done);
  if (!a->err) ASSERT(a->consumed == b->consumed);
  /* Even after an error: every data byte before the offending one was delivered. */
  ASSERT(a->body.len == b->body.len);
  ASSERT(a->body.len == 0 ||
         memcmp(tc_buf_data(&a->body), tc_buf_data(&b->body), a->body.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int split = data[0];
  uint64_t max_body = data[1] == 0 ? 0 : (uint64_t)data[1] * 8;
  const uint8_t *in = data + 2;
  size_t len = size - 2;

  run_t whole, pieces, bytes;
  feed(in, len, max_body, -1, &whole);
  feed(in, len, max_body, split, &pieces);
  feed(in, len, max_body, 256, &bytes);
  same(&whole, &pieces);
  same(&whole, &bytes);
  if (whole.done) ASSERT(whole.consumed >= 3); /* "0\n\n" is the shortest message */
  tc_buf_free(&whole.body);
  tc_buf_free(&pieces.body);
  tc_buf_free(&bytes.body);
  return 0;
}
