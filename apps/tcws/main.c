/* tcws: a WebSocket client for the terminal. Lines on stdin become messages; messages go to
 * stdout, one per line.
 *
 * Exit codes: 0 after a normal close (1000, 1001 or no code); 1 when the connection or the
 * handshake failed; 2 for a usage error; 3 when the connection closed with another code or
 * without a closing handshake. */
#include "tincan/tincan.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cli {
  uv_loop_t loop;
  tc_io_t *io;
  tc_io_tls_ctx_t *tls;
  tc_ws_conn_t *c;
  int binary;
  int quiet;
  long count; /* exit after this many messages (0: no limit) */
  long received;
  int exit_code;
  int open;
  int closed;
  int stdin_done;
  tc_buf_t line;
  uv_stream_t *in;
  uv_tty_t in_tty;
  uv_pipe_t in_pipe;
  uv_fs_t in_fs;
  char fbuf[65536];
  int64_t foff;
} cli_t;

static void usage(FILE *f) {
  fprintf(f, "usage: tcws [options] ws[s]://host[:port]/path\n"
             "  -b, --binary           send stdin lines as binary messages\n"
             "  -H, --header 'N: v'    add a request header (repeatable)\n"
             "  -s, --subprotocol P    offer subprotocol P (repeatable)\n"
             "      --origin ORIGIN    send an Origin header\n"
             "      --no-deflate       do not offer permessage-deflate\n"
             "  -k, --insecure         do not verify the server's TLS certificate\n"
             "      --ca FILE          verify against this CA bundle\n"
             "  -n, --count N          exit after receiving N messages\n"
             "  -q, --quiet            print nothing but messages\n"
             "  -h, --help             this text\n"
             "exit codes: 0 normal close, 1 connect/handshake failed, 2 usage, 3 abnormal close\n");
}

static void send_line(cli_t *cli, const uint8_t *p, size_t n) {
  if (n && p[n - 1] == '\r') n--;
  if (!cli->open) return;
  int op = cli->binary ? TC_WS_OP_BINARY : TC_WS_OP_TEXT;
  if (op == TC_WS_OP_TEXT && tc_utf8_check(p, n) < 0) {
    fprintf(stderr, "tcws: skipped a line that is not UTF-8 (use --binary)\n");
    return;
  }
  tc_ws_conn_send(cli->c, op, p, n);
}

/* Splits what arrived on stdin into lines; the last partial line waits for more. */
static void feed_stdin(cli_t *cli, const char *p, size_t n) {
  tc_buf_append(&cli->line, p, n);
  uint8_t *d = tc_buf_data(&cli->line);
  size_t start = 0;
  for (size_t i = 0; i < cli->line.len; i++) {
    if (d[i] == '\n') {
      send_line(cli, d + start, i - start);
      start = i + 1;
    }
  }
  tc_buf_consume(&cli->line, start);
}

static void stdin_eof(cli_t *cli) {
  if (cli->stdin_done) return;
  cli->stdin_done = 1;
  if (cli->line.len) send_line(cli, tc_buf_data(&cli->line), cli->line.len);
  tc_buf_free(&cli->line);
  /* With --count we keep listening after stdin ends; otherwise stdin's end is ours. */
  if (cli->open && !cli->count) tc_ws_conn_close(cli->c, TC_WS_CLOSE_NORMAL, NULL);
}

static void on_stdin_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  cli_t *cli = h->data;
  (void)s;
  *b = uv_buf_init(cli->fbuf, sizeof cli->fbuf);
}

static void on_stdin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  cli_t *cli = s->data;
  if (n > 0) feed_stdin(cli, b->base, (size_t)n);
  if (n < 0) {
    uv_read_stop(s);
    stdin_eof(cli);
  }
}

/* A regular file on stdin cannot be polled: read it through the thread pool. */
static void on_file_read(uv_fs_t *req) {
  cli_t *cli = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  if (cli->closed) return;
  if (n <= 0) {
    stdin_eof(cli);
    return;
  }
  feed_stdin(cli, cli->fbuf, (size_t)n);
  cli->foff += n;
  uv_buf_t b = uv_buf_init(cli->fbuf, sizeof cli->fbuf);
  uv_fs_read(&cli->loop, &cli->in_fs, 0, &b, 1, cli->foff, on_file_read);
}

static void start_stdin(cli_t *cli) {
  uv_handle_type t = uv_guess_handle(0);
  if (t == UV_TTY) {
    uv_tty_init(&cli->loop, &cli->in_tty, 0, 1);
    cli->in = (uv_stream_t *)&cli->in_tty;
  } else if (t == UV_NAMED_PIPE || t == UV_TCP) {
    uv_pipe_init(&cli->loop, &cli->in_pipe, 0);
    uv_pipe_open(&cli->in_pipe, 0);
    cli->in = (uv_stream_t *)&cli->in_pipe;
  } else if (t == UV_FILE) {
    cli->in_fs.data = cli;
    uv_buf_t b = uv_buf_init(cli->fbuf, sizeof cli->fbuf);
    uv_fs_read(&cli->loop, &cli->in_fs, 0, &b, 1, 0, on_file_read);
    return;
  } else {
    stdin_eof(cli);
    return;
  }
  cli->in->data = cli;
  uv_read_start(cli->in, on_stdin_alloc, on_stdin_read);
}

static void on_open(tc_ws_conn_t *c, void *ud) {
  cli_t *cli = ud;
  cli->open = 1;
  if (!cli->quiet) {
    const char *p = tc_ws_conn_protocol(c);
    fprintf(stderr, "tcws: connected%s%s%s\n", *p ? " (subprotocol " : "", p, *p ? ")" : "");
  }
  start_stdin(cli);
}

static void on_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  cli_t *cli = ud;
  (void)opcode;
  fwrite(data, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  if (cli->count && ++cli->received >= cli->count) tc_ws_conn_close(c, TC_WS_CLOSE_NORMAL, NULL);
}

static void on_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  cli_t *cli = ud;
  (void)c;
  if (!cli->open) {
    fprintf(stderr, "tcws: could not connect: %.*s\n", (int)reason.len, (const char *)reason.p);
    cli->exit_code = 1;
  } else {
    int normal = code == TC_WS_CLOSE_NORMAL || code == TC_WS_CLOSE_GOING_AWAY ||
                 code == TC_WS_CLOSE_NO_STATUS;
    cli->exit_code = normal ? 0 : 3;
    if (!cli->quiet || !normal)
      fprintf(stderr, "tcws: closed %d%s%.*s\n", code, reason.len ? " " : "", (int)reason.len,
              (const char *)reason.p);
  }
  cli->open = 0;
  cli->closed = 1;
  if (cli->in && !uv_is_closing((uv_handle_t *)cli->in)) uv_close((uv_handle_t *)cli->in, NULL);
  if (!cli->in && !cli->stdin_done) uv_cancel((uv_req_t *)&cli->in_fs);
  tc_io_shutdown(cli->io);
}

static const tc_ws_handlers_t handlers = {
    .on_open = on_open, .on_message = on_message, .on_close = on_close};

static void on_signal(tc_io_t *io, int signum, void *ud) {
  cli_t *cli = ud;
  (void)io;
  (void)signum;
  if (cli->open)
    tc_ws_conn_close(cli->c, TC_WS_CLOSE_GOING_AWAY, NULL);
  else
    tc_io_shutdown(cli->io);
}

int main(int argc, char **argv) {
  static cli_t cli;
  tc_buf_t headers = {0}, protocols = {0};
  int deflate = 1, insecure = 0;
  const char *ca = NULL, *origin = NULL;
  enum { O_ORIGIN = 256, O_NO_DEFLATE, O_CA };
  static const struct option opts[] = {
      {"binary", no_argument, NULL, 'b'},
      {"header", required_argument, NULL, 'H'},
      {"subprotocol", required_argument, NULL, 's'},
      {"origin", required_argument, NULL, O_ORIGIN},
      {"no-deflate", no_argument, NULL, O_NO_DEFLATE},
      {"insecure", no_argument, NULL, 'k'},
      {"ca", required_argument, NULL, O_CA},
      {"count", required_argument, NULL, 'n'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "bH:s:kn:qh", opts, NULL)) != -1) {
    switch (ch) {
      case 'b':
        cli.binary = 1;
        break;
      case 'H':
        if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n")) {
          fprintf(stderr, "tcws: a header is 'Name: value'\n");
          goto usage_error;
        }
        tc_buf_appendf(&headers, "%s\r\n", optarg);
        break;
      case 's':
        tc_buf_appendf(&protocols, "%s%s", protocols.len ? ", " : "", optarg);
        break;
      case O_ORIGIN:
        origin = optarg;
        break;
      case O_NO_DEFLATE:
        deflate = 0;
        break;
      case 'k':
        insecure = 1;
        break;
      case O_CA:
        ca = optarg;
        break;
      case 'n':
        cli.count = strtol(optarg, NULL, 10);
        break;
      case 'q':
        cli.quiet = 1;
        break;
      case 'h':
        usage(stdout);
        tc_buf_free(&headers);
        tc_buf_free(&protocols);
        return 0;
      default:
        usage(stderr);
        goto usage_error;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    goto usage_error;
  }
  signal(SIGPIPE, SIG_IGN);
  tc_buf_append(&headers, "", 1);
  tc_buf_append(&protocols, "", 1);

  const char *url = argv[optind];
  uv_loop_init(&cli.loop);
  tc_io_new(&cli.loop, NULL, &cli.io);
  int r = 0;
  if (strncmp(url, "wss://", 6) == 0 && tc_io_tls_client_ctx(!insecure, ca, &cli.tls) < 0) {
    fprintf(stderr, "tcws: cannot set up TLS%s%s\n", ca ? " with " : "", ca ? ca : "");
    cli.exit_code = 1;
    r = TC_ETLS;
  }
  tc_ws_client_options_t o = {
      .url = url,
      .protocols = protocols.len > 1 ? (const char *)tc_buf_data(&protocols) : NULL,
      .headers = headers.len > 1 ? (const char *)tc_buf_data(&headers) : NULL,
      .origin = origin,
      .deflate = {.enabled = deflate != 0},
      .tls = cli.tls,
  };
  if (!r) r = tc_ws_client_connect(cli.io, &o, &handlers, &cli, &cli.c);
  tc_buf_free(&headers);
  tc_buf_free(&protocols);
  if (r && r != TC_ETLS) {
    fprintf(stderr, "tcws: %s: %s\n", url,
            r == TC_EINVAL ? "not a ws:// or wss:// URL" : tc_strerror(r));
    cli.exit_code = 2;
  }
  if (!r) {
    tc_io_on_signal(cli.io, on_signal, &cli);
    uv_run(&cli.loop, UV_RUN_DEFAULT);
  }
  tc_io_shutdown(cli.io);
  uv_run(&cli.loop, UV_RUN_DEFAULT);
  tc_io_free(cli.io);
  uv_run(&cli.loop, UV_RUN_DEFAULT);
  uv_loop_close(&cli.loop);
  tc_io_tls_ctx_free(cli.tls);
  tc_buf_free(&cli.line);
  return cli.exit_code;

usage_error:
  tc_buf_free(&headers);
  tc_buf_free(&protocols);
  return 2;
}
