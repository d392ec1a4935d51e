/* ws_echo_client: the client side of the WebSocket conformance suite (wsconf.py client). It
 * connects to a URL with tincan's client and sends every message back with its type, text as
 * text and binary as binary, until the connection closes.
 *
 * usage: ws_echo_client [--no-deflate] [--deflate PARAMS] [--max-message BYTES] ws://host:port/path
 *   PARAMS is a comma-separated list of permessage-deflate settings for the offer:
 *   smwb=N (ask the server for server_max_window_bits=N), cmwb=N (our window, offered as
 *   client_max_window_bits=N), snct (ask for server_no_context_takeover), cnct (reset our
 *   compressor per message and offer client_no_context_takeover), or "default".
 *
 * It prints "ws_echo_client: closed CODE REASON" on stderr when the connection ends, so the suite
 * can check the code the library reports. Exit codes: 0 once an open connection closed (whatever
 * the code), 1 when it never opened, 2 for a usage error. */
#include "tincan/tincan.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo {
  uv_loop_t loop;
  tc_io_t *io;
  int opened;
  int closed;
} echo_t;

static void on_open(tc_ws_conn_t *c, void *ud) {
  echo_t *e = ud;
  e->opened = 1;
  fprintf(stderr, "ws_echo_client: open%s\n", tc_ws_conn_deflate(c) ? " (permessage-deflate)" : "");
}

static void on_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ud;
  int r = tc_ws_conn_send(c, opcode, data, len);
  /* TC_ECLOSED is normal while closing; anything else is worth seeing in the suite's output. */
  if (r < 0 && r != TC_ECLOSED)
    fprintf(stderr, "ws_echo_client: send of %zu bytes failed: %s\n", len, tc_strerror(r));
}

static void on_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  echo_t *e = ud;
  (void)c;
  e->closed = 1;
  if (e->opened)
    fprintf(stderr, "ws_echo_client: closed %d %.*s\n", code, (int)reason.len,
            (const char *)reason.p);
  else
    fprintf(stderr, "ws_echo_client: could not connect: %.*s\n", (int)reason.len,
            (const char *)reason.p);
  tc_io_shutdown(e->io);
}

static const tc_ws_handlers_t handlers = {
    .on_open = on_open, .on_message = on_message, .on_close = on_close};

static int parse_bits(const char *s, uint8_t *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 8 || v > 15) return -1;
  *out = (uint8_t)v;
  return 0;
}

/* Reads "smwb=N,cmwb=N,snct,cnct" (any subset, or "default") into cfg. 0 or -1. */
static int parse_deflate(char *spec, tc_ws_deflate_config_t *cfg) {
  cfg->enabled = 1;
  for (char *save = NULL, *item = strtok_r(spec, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    if (strcmp(item, "default") == 0) continue;
    if (strcmp(item, "snct") == 0)
      cfg->server_no_context_takeover = 1;
    else if (strcmp(item, "cnct") == 0)
      cfg->client_no_context_takeover = 1;
    else if (strncmp(item, "smwb=", 5) == 0) {
      if (parse_bits(item + 5, &cfg->server_max_window_bits)) return -1;
    } else if (strncmp(item, "cmwb=", 5) == 0) {
      if (parse_bits(item + 5, &cfg->client_max_window_bits)) return -1;
    } else {
      return -1;
    }
  }
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: ws_echo_client [--no-deflate] [--deflate smwb=N,cmwb=N,snct,cnct] "
                  "[--max-message BYTES] ws://host:port/path\n");
  return 2;
}

int main(int argc, char **argv) {
  static echo_t e;
  tc_ws_client_options_t o = {.deflate = {.enabled = 1}};
  int i;
  for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--no-deflate") == 0) {
      o.deflate.enabled = 0;
    } else if (strcmp(argv[i], "--deflate") == 0 && i + 1 < argc) {
      o.deflate = (tc_ws_deflate_config_t){0};
      if (parse_deflate(argv[++i], &o.deflate)) return usage();
    } else if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc) {
      char *end;
      unsigned long long v = strtoull(argv[++i], &end, 10);
      if (*end || v == 0) return usage();
      o.max_message = v;
    } else {
      return usage();
    }
  }
  if (i != argc - 1) return usage();
  o.url = argv[i];

  /* The suite's server drops connections on purpose; a write into one must not kill us. */
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&e.loop);
  int r = tc_io_new(&e.loop, NULL, &e.io);
  if (r) {
    fprintf(stderr, "ws_echo_client: %s\n", tc_strerror(r));
    return 1;
  }
  r = tc_ws_client_connect(e.io, &o, &handlers, &e, NULL);
  if (r) {
    fprintf(stderr, "ws_echo_client: %s: %s\n", o.url, tc_strerror(r));
    tc_io_free(e.io);
    uv_loop_close(&e.loop);
    return r == TC_EINVAL ? 2 : 1;
  }
  uv_run(&e.loop, UV_RUN_DEFAULT);
  tc_io_shutdown(e.io);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  tc_io_free(e.io);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&e.loop) != 0) fprintf(stderr, "ws_echo_client: loop still had handles\n");
  return e.opened && e.closed ? 0 : 1;
}
