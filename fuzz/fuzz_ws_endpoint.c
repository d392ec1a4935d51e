/* Fuzzes the WebSocket endpoint: arbitrary bytes from a peer, in pieces, as server or client,
 * with and without permessage-deflate. Invariants: it never consumes more than it was given,
 * a failure always leaves a close frame as the last thing written, and after TC_ECLOSED the
 * endpoint stays closed. */
#include "tincan/ws.h"

#include <stdlib.h>
#include <string.h>

static void on_message(tc_ws_t *ws, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ud;
  if (opcode == TC_WS_OP_TEXT && tc_utf8_check(data, len) != 0) abort();
  /* echo, as /echo does, so the send path (and the compressor) runs on fuzzed data too */
  tc_buf_t scratch = {0};
  tc_ws_send(ws, opcode, data, len, &scratch);
  tc_buf_free(&scratch);
}

static void fixed_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  memset(out, 0x5a, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t mode = data[0], step = (uint8_t)(data[1] | 1);
  data += 2;
  size -= 2;
  tc_ws_deflate_params_t dp = {
      .server_max_window_bits = (uint8_t)(8 + (mode >> 4) % 8),
      .client_max_window_bits = (uint8_t)(8 + (mode >> 1) % 8),
      .server_no_context_takeover = (mode >> 5) & 1,
      .client_no_context_takeover = (mode >> 6) & 1,
  };
  tc_ws_config_t cfg = {
      .client = mode & 1,
      .max_message = 1 << 20,
      .random = fixed_random,
      .cb = {.on_message = on_message},
  };
  tc_ws_t *ws;
  if (tc_ws_new(&cfg, (mode & 0x80) ? &dp : NULL, NULL, &ws)) return 0;
  tc_buf_t held = {0}, out = {0};
  size_t at = 0;
  while (at < size) {
    size_t n = size - at < step ? size - at : step;
    tc_buf_append(&held, data + at, n);
    at += n;
    size_t before = held.len;
    ssize_t r = tc_ws_feed(ws, tc_buf_data(&held), held.len, &out);
    if (r == TC_ECLOSED) {
      tc_ws_state_t st = tc_ws_state(ws);
      if (st != TC_WS_FAILED && st != TC_WS_CLOSE_RECEIVED) abort();
      if (tc_ws_feed(ws, tc_buf_data(&held), held.len, &out) != TC_ECLOSED) abort();
      break;
    }
    if (r < 0) break;
    if ((size_t)r > before) abort();
    tc_buf_consume(&held, (size_t)r);
  }
  tc_buf_free(&held);
  tc_buf_free(&out);
  tc_ws_free(ws);
  return 0;
}
