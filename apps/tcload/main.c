/* tcload: a WebSocket load generator. N connections each keep K messages of S bytes in flight
 * against an echo endpoint for D seconds, then one JSON line reports throughput and round trips.
 * With --idle it only opens the connections and holds them (for memory per connection).
 *
 * --sio speaks Socket.IO over Engine.IO's WebSocket transport instead: it waits for the open
 * packet 0{...}, connects to the main namespace with 40, answers pings 2 with 3, and sends
 * 42["echo","<S bytes>"], expecting the same event back.
 *
 * --sio --fanout measures broadcast instead: every connection but the first emits
 * 42["bench:join"] to join the room "bench"; the first emits 42["bench:fanout","<S bytes>"],
 * which the server broadcasts to the room as bench:msg, keeping K broadcasts in flight. It reports
 * deliveries per second (one broadcast to a room of N-1 is N-1 deliveries). */
#include "tincan/tincan.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_US 200000 /* round trips are counted per microsecond up to 200 ms */

typedef struct load load_t;

typedef struct lconn {
  load_t *ld;
  tc_ws_conn_t *c;
  uint64_t *sent_at; /* ring of K send times, oldest first */
  unsigned head, count;
  int open;
  int sio_state; /* --sio: 0 waits for the open packet, 1 for the namespace, 2 ready */
} lconn_t;

struct load {
  uv_loop_t loop;
  tc_io_t *io;
  tc_io_tls_ctx_t *tls;
  const char *url;
  long conns, inflight, size, seconds, ramp;
  int binary, deflate, idle, quiet, sio, fanout;
  uint64_t fan_sent;      /* --fanout: broadcasts the sender emitted */
  uint64_t fan_delivered; /* and bench:msg deliveries seen, measured or not */
  uint8_t *payload;
  size_t payload_len; /* the whole message: S bytes, or the Socket.IO packet around them */
  lconn_t *lc;
  long started, opened, failed, closed, errors;
  int measuring, stopping;
  uint64_t t0, t1;
  uint64_t msgs, bytes;
  uint64_t *hist;
  uint64_t hist_over;
  uint64_t rng;
  uv_timer_t timer;
};

static void xorshift_random(void *ud, uint8_t *out, size_t n) {
  load_t *ld = ud;
  while (n) {
    ld->rng ^= ld->rng << 13;
    ld->rng ^= ld->rng >> 7;
    ld->rng ^= ld->rng << 17;
    size_t k = n < 8 ? n : 8;
    memcpy(out, &ld->rng, k);
    out += k;
    n -= k;
  }
}

static void send_one(lconn_t *l) {
  load_t *ld = l->ld;
  unsigned slot = (l->head + l->count) % (unsigned)ld->inflight;
  l->sent_at[slot] = uv_hrtime();
  l->count++;
  tc_ws_conn_send(l->c, ld->binary && !ld->sio ? TC_WS_OP_BINARY : TC_WS_OP_TEXT, ld->payload,
                  ld->payload_len);
}

static void start_more(load_t *ld);

/* The connection is ready for load: WebSocket open, or (--sio) the namespace joined. */
static void ready(lconn_t *l) {
  load_t *ld = l->ld;
  l->open = 1;
  ld->opened++;
  if (ld->fanout) {
    if (l != &ld->lc[0]) tc_ws_conn_send(l->c, TC_WS_OP_TEXT, "42[\"bench:join\"]", 16);
  } else if (!ld->idle && !ld->stopping) {
    for (long i = 0; i < ld->inflight; i++) send_one(l);
  }
  start_more(ld);
}

/* --fanout: the sender keeps K broadcasts in flight; one counts as done when as many deliveries
 * as there are receivers have arrived. */
static void fan_pump(load_t *ld) {
  lconn_t *sender = &ld->lc[0];
  uint64_t receivers = ld->opened > 1 ? (uint64_t)ld->opened - 1 : 1;
  while (ld->measuring && !ld->stopping && sender->open &&
         ld->fan_sent - ld->fan_delivered / receivers < (uint64_t)ld->inflight) {
    ld->fan_sent++;
    tc_ws_conn_send(sender->c, TC_WS_OP_TEXT, ld->payload, ld->payload_len);
  }
}

static void on_open(tc_ws_conn_t *c, void *ud) {
  lconn_t *l = ud;
  l->c = c;
  if (!l->ld->sio) ready(l);
}

/* --sio: the Engine.IO and Socket.IO handshakes and heartbeats. Returns 1 when the message was
 * one of those, not an echo. */
static int sio_control(lconn_t *l, const uint8_t *data, size_t len) {
  if (len == 1 && data[0] == '2') {
    tc_ws_conn_send(l->c, TC_WS_OP_TEXT, "3", 1);
    return 1;
  }
  if (l->sio_state == 0 && len && data[0] == '0') {
    l->sio_state = 1;
    tc_ws_conn_send(l->c, TC_WS_OP_TEXT, "40", 2);
    return 1;
  }
  if (l->sio_state == 1 && len >= 2 && data[0] == '4' && data[1] == '0') {
    l->sio_state = 2;
    ready(l);
    return 1;
  }
  if (l->sio_state < 2) l->ld->errors++;
  return l->sio_state < 2;
}

static void on_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  lconn_t *l = ud;
  load_t *ld = l->ld;
  (void)c;
  if (ld->sio && sio_control(l, data, len)) return;
  if (ld->fanout) {
    static const char msg[] = "42[\"bench:msg\"";
    if (len < sizeof msg - 1 || memcmp(data, msg, sizeof msg - 1) != 0) {
      ld->errors++;
      return;
    }
    ld->fan_delivered++;
    if (ld->measuring) {
      ld->msgs++;
      ld->bytes += len;
    }
    fan_pump(ld);
    return;
  }
  int want_op = ld->binary && !ld->sio ? TC_WS_OP_BINARY : TC_WS_OP_TEXT;
  if (len != ld->payload_len || opcode != want_op ||
      (ld->sio && memcmp(data, ld->payload, len) != 0))
    ld->errors++;
  if (l->count == 0) {
    ld->errors++;
    return;
  }
  uint64_t rtt = (uv_hrtime() - l->sent_at[l->head]) / 1000;
  l->head = (l->head + 1) % (unsigned)ld->inflight;
  l->count--;
  if (ld->measuring) {
    ld->msgs++;
    ld->bytes += len;
    if (rtt < HIST_US)
      ld->hist[rtt]++;
    else
      ld->hist_over++;
  }
  if (!ld->stopping) send_one(l);
}

static void on_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  lconn_t *l = ud;
  load_t *ld = l->ld;
  (void)c;
  if (!l->open) {
    ld->failed++;
    if (!ld->quiet && ld->failed <= 3)
      fprintf(stderr, "tcload: connect failed: %.*s\n", (int)reason.len, (const char *)reason.p);
    start_more(ld);
  } else if (!ld->stopping) {
    ld->errors++;
    if (!ld->quiet) fprintf(stderr, "tcload: connection closed early (%d)\n", code);
  }
  l->open = 0;
  ld->closed++;
}

static const tc_ws_handlers_t handlers = {
    .on_open = on_open, .on_message = on_message, .on_close = on_close};

/* Keeps at most `ramp` handshakes under way, so a listen backlog never overflows. */
static void start_more(load_t *ld) {
  while (ld->started < ld->conns && ld->started - ld->opened - ld->failed < ld->ramp) {
    lconn_t *l = &ld->lc[ld->started++];
    l->ld = ld;
    tc_ws_client_options_t o = {
        .url = ld->url,
        .deflate = {.enabled = ld->deflate != 0},
        .tls = ld->tls,
        .random = xorshift_random,
        .random_ud = ld,
        .handshake_timeout_ms = 30000,
    };
    if (tc_ws_client_connect(ld->io, &o, &handlers, l, NULL) < 0) {
      ld->failed++;
      ld->closed++;
    }
  }
}

static uint64_t percentile(load_t *ld, double q) {
  uint64_t total = ld->msgs, want = (uint64_t)((double)total * q), seen = 0;
  for (uint64_t i = 0; i < HIST_US; i++) {
    seen += ld->hist[i];
    if (seen > want) return i;
  }
  return HIST_US;
}

static void finish(load_t *ld) {
  for (long i = 0; i < ld->started; i++)
    if (ld->lc[i].open) tc_ws_conn_close(ld->lc[i].c, TC_WS_CLOSE_NORMAL, NULL);
}

static void on_tick(uv_timer_t *t) {
  load_t *ld = t->data;
  uint64_t now = uv_hrtime();
  if (!ld->measuring && !ld->stopping) {
    /* Measure once every connection is up (or has failed), or after 30 s of trying. */
    if (ld->opened + ld->failed >= ld->conns || now - ld->t0 > 30000000000ull) {
      ld->measuring = 1;
      ld->t0 = now;
      if (ld->fanout) fan_pump(ld);
    }
    return;
  }
  if (ld->measuring && now - ld->t0 >= (uint64_t)ld->seconds * 1000000000ull) {
    ld->measuring = 0;
    ld->stopping = 1;
    ld->t1 = now;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    finish(ld);
  }
}

static void on_signal(tc_io_t *io, int signum, void *ud) {
  (void)io;
  (void)signum;
  load_t *ld = ud;
  if (ld->measuring) ld->t0 = uv_hrtime() - (uint64_t)ld->seconds * 1000000000ull;
}

static void usage(FILE *f) {
  fprintf(f, "usage: tcload [options] ws[s]://host:port/path\n"
             "  -c N   connections (default 100)\n"
             "  -k K   messages in flight per connection (default 1)\n"
             "  -s S   payload bytes (default 32)\n"
             "  -d D   seconds to measure (default 10)\n"
             "  -b     binary messages (default text)\n"
             "  --deflate   offer permessage-deflate\n"
             "  --idle      only open the connections and hold them for D seconds\n"
             "  --ramp R    handshakes under way at once (default 200)\n"
             "  --insecure  do not verify TLS certificates\n"
             "  --sio       Socket.IO: 42[\"echo\",\"<S bytes>\"] to the main namespace; a URL\n"
             "              without a path gets /socket.io/?EIO=4&transport=websocket\n"
             "  --fanout    Socket.IO broadcast: N-1 clients join room \"bench\", one emits\n"
             "              bench:fanout (K in flight); reports deliveries_per_sec\n"
             "prints one JSON line: msgs_per_sec, mb_per_sec, p50_us, p99_us, ...\n");
}

int main(int argc, char **argv) {
  static load_t ld = {.conns = 100, .inflight = 1, .size = 32, .seconds = 10, .ramp = 200};
  int insecure = 0;
  enum { O_DEFLATE = 256, O_IDLE, O_RAMP, O_INSECURE, O_SIO, O_FANOUT };
  static const struct option opts[] = {
      {"deflate", no_argument, NULL, O_DEFLATE}, {"idle", no_argument, NULL, O_IDLE},
      {"sio", no_argument, NULL, O_SIO},         {"fanout", no_argument, NULL, O_FANOUT},
      {"ramp", required_argument, NULL, O_RAMP}, {"insecure", no_argument, NULL, O_INSECURE},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "c:k:s:d:bqh", opts, NULL)) != -1) {
    switch (ch) {
      case 'c':
        ld.conns = strtol(optarg, NULL, 10);
        break;
      case 'k':
        ld.inflight = strtol(optarg, NULL, 10);
        break;
      case 's':
        ld.size = strtol(optarg, NULL, 10);
        break;
      case 'd':
        ld.seconds = strtol(optarg, NULL, 10);
        break;
      case 'b':
        ld.binary = 1;
        break;
      case 'q':
        ld.quiet = 1;
        break;
      case O_DEFLATE:
        ld.deflate = 1;
        break;
      case O_IDLE:
        ld.idle = 1;
        break;
      case O_RAMP:
        ld.ramp = strtol(optarg, NULL, 10);
        break;
      case O_FANOUT:
        ld.fanout = 1;
        ld.sio = 1;
        break;
      case O_SIO:
        ld.sio = 1;
        break;
      case O_INSECURE:
        insecure = 1;
        break;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (optind != argc - 1 || ld.conns < 1 || ld.inflight < 1 || ld.inflight > 4096 || ld.size < 0 ||
      ld.seconds < 1 || ld.ramp < 1) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  ld.url = argv[optind];
  ld.rng = uv_hrtime() | 1;
  ld.payload = malloc((size_t)ld.size + 32);
  ld.lc = calloc((size_t)ld.conns, sizeof *ld.lc);
  ld.hist = calloc(HIST_US, sizeof *ld.hist);
  uint64_t *rings = calloc((size_t)(ld.conns * ld.inflight), sizeof *rings);
  if (!ld.payload || !ld.lc || !ld.hist || !rings) return 1;
  for (long i = 0; i < ld.size; i++)
    ld.payload[i] = (uint8_t)(ld.binary ? (i * 131) & 0xff : 'a' + i % 26);
  ld.payload_len = (size_t)ld.size;
  char url_buf[512];
  if (ld.sio) {
    /* 42["echo","abc..."]: letters need no JSON escaping */
    const char *head = ld.fanout ? "42[\"bench:fanout\",\"" : "42[\"echo\",\"";
    size_t hl = strlen(head);
    memcpy(ld.payload, head, hl);
    for (long i = 0; i < ld.size; i++) ld.payload[hl + (size_t)i] = (uint8_t)('a' + i % 26);
    memcpy(ld.payload + hl + ld.size, "\"]", 2);
    ld.payload_len = hl + (size_t)ld.size + 2;
    const char *rest = strstr(ld.url, "://");
    if (rest && !strchr(rest + 3, '/')) {
      snprintf(url_buf, sizeof url_buf, "%s/socket.io/?EIO=4&transport=websocket", ld.url);
      ld.url = url_buf;
    }
  }
  for (long i = 0; i < ld.conns; i++) ld.lc[i].sent_at = rings + i * ld.inflight;

  uv_loop_init(&ld.loop);
  tc_io_new(&ld.loop, NULL, &ld.io);
  if (strncmp(ld.url, "wss://", 6) == 0 && tc_io_tls_client_ctx(!insecure, NULL, &ld.tls) < 0)
    return 1;
  tc_io_on_signal(ld.io, on_signal, &ld);
  uv_timer_init(&ld.loop, &ld.timer);
  ld.timer.data = &ld;
  ld.t0 = uv_hrtime();
  uv_timer_start(&ld.timer, on_tick, 10, 10);
  start_more(&ld);
  uv_run(&ld.loop, UV_RUN_DEFAULT);
  tc_io_shutdown(ld.io);
  uv_run(&ld.loop, UV_RUN_DEFAULT);
  tc_io_free(ld.io);
  uv_run(&ld.loop, UV_RUN_DEFAULT);
  uv_loop_close(&ld.loop);
  tc_io_tls_ctx_free(ld.tls);

  double secs = ld.t1 > ld.t0 ? (double)(ld.t1 - ld.t0) / 1e9 : 0;
  printf("{\"mode\":\"%s\",\"url\":\"%s\",\"connections\":%ld,\"connected\":%ld,\"inflight\":%ld,"
         "\"size\":%ld,\"binary\":%s,\"seconds\":%.3f,\"messages\":%llu,\"msgs_per_sec\":%.0f,"
         "\"mb_per_sec\":%.2f,\"p50_us\":%llu,\"p99_us\":%llu,\"errors\":%ld,\"failed\":%ld,"
         "\"deliveries_per_sec\":%.0f}\n",
         ld.fanout ? "sio-fanout"
         : ld.sio  ? "sio"
                   : "ws",
         ld.url, ld.conns, ld.opened, ld.inflight, ld.size, ld.binary ? "true" : "false", secs,
         (unsigned long long)ld.msgs, secs > 0 ? (double)ld.msgs / secs : 0,
         secs > 0 ? (double)ld.bytes / secs / 1e6 : 0,
         (unsigned long long)(ld.msgs && !ld.fanout ? percentile(&ld, 0.5) : 0),
         (unsigned long long)(ld.msgs && !ld.fanout ? percentile(&ld, 0.99) : 0), ld.errors,
         ld.failed, ld.fanout && secs > 0 ? (double)ld.msgs / secs : 0);
  free(rings);
  free(ld.payload);
  free(ld.lc);
  free(ld.hist);
  return ld.opened ? 0 : 1;
}
