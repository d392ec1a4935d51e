/* permessage-deflate on arbitrary bytes. The first input byte picks the frame splits (after every
 * occurrence of that byte) and the codec parameters; the rest is used three ways:
 *   - as a compressed message, decompressed whole and in frames: same verdict, same bytes, never
 *     past the 1 MiB limit, and the codec still decodes a good message afterwards;
 *   - as a Sec-WebSocket-Extensions offer and as a response: an accepted offer's answer must be
 *     accepted by a client, with both sides agreeing on the parameters;
 *   - as messages to compress: the peer gets them back, and an 8-bit window is checked with a
 *     strict 256-byte inflater. */
#define ZLIB_CONST
#include "tincan/ws.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ASSERT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

#define MAX_OUT ((size_t)1 << 20)

static tc_ws_deflate_params_t mkparams(int smwb, int cmwb, int snct, int cnct) {
  tc_ws_deflate_params_t pr = {0};
  pr.server_max_window_bits = (uint8_t)smwb;
  pr.client_max_window_bits = (uint8_t)cmwb;
  pr.server_no_context_takeover = snct ? 1u : 0u;
  pr.client_no_context_takeover = cnct ? 1u : 0u;
  return pr;
}

/* Decompresses one message, whole (split < 0) or in frames ending after each `split` byte. Each
 * frame is its own allocation so that a read past it is caught. */
static int inflate_msg(tc_ws_deflate_t *d, const uint8_t *in, size_t len, int split,
                       tc_buf_t *out) {
  size_t start = 0;
  for (;;) {
    size_t stop = len;
    if (split >= 0) {
      const uint8_t *c = start < len ? memchr(in + start, split, len - start) : NULL;
      if (c) stop = (size_t)(c - in) + 1;
    }
    size_t n = stop - start;
    uint8_t *piece = malloc(n ? n : 1);
    if (n) memcpy(piece, in + start, n);
    int r = tc_ws_deflate_decompress(d, piece, n, stop == len, out, MAX_OUT);
    free(piece);
    ASSERT(out->len <= MAX_OUT);
    if (r) {
      ASSERT(r == TC_EPROTO || r == TC_E2BIG);
      return r;
    }
    if (stop == len) return 0;
    start = stop;
  }
}

static void check_decompress(const uint8_t *in, size_t len, int split) {
  tc_ws_deflate_params_t pr = mkparams(15, 15, 0, 1);
  tc_ws_deflate_t *a, *b;
  ASSERT(tc_ws_deflate_new(&pr, 1, 0, &a) == 0);
  ASSERT(tc_ws_deflate_new(&pr, 1, 0, &b) == 0);
  tc_buf_t oa = {0}, ob = {0};
  int ra = inflate_msg(a, in, len, -1, &oa);
  int rb = inflate_msg(b, in, len, split, &ob);
  ASSERT(ra == rb);
  if (ra == 0) ASSERT(oa.len == ob.len && (oa.len == 0 || !memcmp(oa.p, ob.p, oa.len)));

  /* Whatever happened, the next message decodes: the client resets its context per message. */
  static const char good[] = "tincan tincan tincan websocket";
  tc_ws_deflate_t *cli;
  ASSERT(tc_ws_deflate_new(&pr, 0, 0, &cli) == 0);
  tc_buf_t z = {0};
  ASSERT(tc_ws_deflate_compress(cli, (const uint8_t *)good, sizeof good - 1, &z) == 0);
  tc_buf_reset(&ob);
  ASSERT(tc_ws_deflate_decompress(b, z.p, z.len, 1, &ob, 100) == 0);
  ASSERT(ob.len == sizeof good - 1 && !memcmp(ob.p, good, ob.len));
  tc_buf_free(&z);
  tc_buf_free(&oa);
  tc_buf_free(&ob);
  tc_ws_deflate_free(a);
  tc_ws_deflate_free(b);
  tc_ws_deflate_free(cli);
}

static void check_negotiate(const uint8_t *in, size_t len, int sel) {
  tc_ws_deflate_config_t sc = {.enabled = 1};
  sc.server_no_context_takeover = sel & 1 ? 1u : 0u;
  sc.client_no_context_takeover = sel & 2 ? 1u : 0u;
  sc.server_max_window_bits = (uint8_t)((sel >> 2) & 15);
  sc.client_max_window_bits = (uint8_t)((sel >> 4) & 15);
  tc_slice_t s = {in, len};
  tc_buf_t resp = {0};
  tc_ws_deflate_params_t sp, cp;
  int r = tc_ws_deflate_negotiate(s, &sc, &sp, &resp);
  ASSERT(r == 0 || r == 1);
  if (r == 1) {
    ASSERT(sp.server_max_window_bits >= 8 && sp.server_max_window_bits <= 15);
    ASSERT(sp.client_max_window_bits >= 8 && sp.client_max_window_bits <= 15);
    ASSERT(tc_ws_deflate_accept((tc_slice_t){resp.p, resp.len}, NULL, &cp) == 0);
    ASSERT(!memcmp(&sp, &cp, sizeof sp));
  } else {
    ASSERT(resp.len == 0);
  }
  r = tc_ws_deflate_accept(s, NULL, &cp);
  ASSERT(r == 0 || r == TC_EPROTO || r == TC_ENOENT);
  if (r == 0) {
    ASSERT(cp.server_max_window_bits >= 8 && cp.server_max_window_bits <= 15);
    ASSERT(cp.client_max_window_bits >= 8 && cp.client_max_window_bits <= 15);
  }
  tc_buf_free(&resp);
}

/* A raw inflater with a 256-byte window fed one output byte per call: zlib then checks every
 * distance against the window alone. 0 when p decodes to want. */
static int win8_decode(z_stream *w, const uint8_t *p, size_t len, const uint8_t *want,
                       size_t want_len) {
  w->next_in = p;
  w->avail_in = (uInt)len;
  size_t got = 0;
  for (;;) {
    uint8_t byte;
    w->next_out = &byte;
    w->avail_out = 1;
    int zr = inflate(w, Z_SYNC_FLUSH);
    if (zr != Z_OK && zr != Z_BUF_ERROR) return -1;
    if (w->avail_out == 0) {
      if (got >= want_len || want[got] != byte) return -1;
      got++;
    } else if (w->avail_in == 0) {
      return got == want_len ? 0 : -1;
    }
  }
}

/* The input, cut after each `split` byte, as a series of messages from server to client. */
static void check_roundtrip(const uint8_t *in, size_t len, int split, int sel) {
  int bits = 8 + (sel & 7);
  tc_ws_deflate_params_t pr = mkparams(bits, 8 + ((sel >> 3) & 7), sel & 64, sel & 128);
  tc_ws_deflate_t *srv, *cli;
  ASSERT(tc_ws_deflate_new(&pr, 1, 1 + (sel % 9), &srv) == 0);
  ASSERT(tc_ws_deflate_new(&pr, 0, 0, &cli) == 0);
  z_stream w;
  memset(&w, 0, sizeof w);
  if (bits == 8) ASSERT(inflateInit2(&w, -8) == Z_OK);
  tc_buf_t z = {0}, out = {0};
  size_t start = 0;
  for (;;) {
    const uint8_t *c = start < len ? memchr(in + start, split, len - start) : NULL;
    size_t stop = c ? (size_t)(c - in) + 1 : len;
    const uint8_t *msg = in + start;
    size_t n = stop - start;
    tc_buf_reset(&z);
    tc_buf_reset(&out);
    ASSERT(tc_ws_deflate_compress(srv, msg, n, &z) == 0);
    ASSERT(z.len >= 1);
    ASSERT(tc_ws_deflate_decompress(cli, z.p, z.len, 1, &out, n) == 0);
    ASSERT(out.len == n && (n == 0 || !memcmp(out.p, msg, n)));
    if (bits == 8 && n) {
      static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
      if (pr.server_no_context_takeover) inflateReset(&w);
      ASSERT(tc_buf_append(&z, tail, 4) == 0);
      ASSERT(win8_decode(&w, z.p, z.len, msg, n) == 0);
    }
    if (stop == len) break;
    start = stop;
  }
  if (bits == 8) inflateEnd(&w);
  tc_buf_free(&z);
  tc_buf_free(&out);
  tc_ws_deflate_free(srv);
  tc_ws_deflate_free(cli);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int split = data[0];
  const uint8_t *in = data + 1;
  size_t len = size - 1;
  check_decompress(in, len, split);
  check_negotiate(in, len, split);
  check_roundtrip(in, len, split, split);
  return 0;
}
