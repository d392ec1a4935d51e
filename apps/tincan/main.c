/* tincan: the server binary. It owns the process-wide state (signals, the logger) that the library
 * leaves to applications. */
#include "tincan/tincan.h"

#include "call.h"
#include "notes.h"
#include "sio_app.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TINCAN_DEFAULT_WEB
#define TINCAN_DEFAULT_WEB "web"
#endif
#ifndef TINCAN_DEFAULT_NOTES
#define TINCAN_DEFAULT_NOTES "docs/notes"
#endif
#ifndef TINCAN_DEFAULT_SIO_CLIENT
#define TINCAN_DEFAULT_SIO_CLIENT "node_modules/socket.io-client/dist"
#endif

/* The STUN port (RFC 8489 section 9) unless --stun-port says otherwise. */
#define DEFAULT_STUN_PORT 3478
/* --ice-server may be given this many times. */
#define MAX_ICE_SERVERS 8

/* Connections still open this long after SIGINT/SIGTERM are cut, so the process exits in time. */
#define SHUTDOWN_GRACE_MS 4000

typedef struct app {
  uv_loop_t loop;
  tc_logger_t log;
  tc_io_t *io;
  tc_http_server_t *http;
  tc_io_tls_ctx_t *tls;
  tc_sio_app_t *sio; /* Socket.IO: /socket.io/, the echo and the chat */
  uv_timer_t grace;
  const char *notes; /* the learning notes' folder, served at /notes/ */
  int no_recovery;   /* Socket.IO connection state recovery off (for benchmarks) */
  tc_stun_service_t *stun;
  int stun_port; /* -1: none; 0: any free port */
  int stun_port_given;
  tc_call_config_t call;
  const char *ice_servers[MAX_ICE_SERVERS];
} app_t;

/* /echo: every message comes back with its type, text as text and binary as binary. */
static void echo_on_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  (void)ud;
  tc_ws_conn_send(c, opcode, data, len);
}

/* Appends s as a JSON string. */
static void json_string(tc_buf_t *b, tc_slice_t s) {
  tc_buf_append(b, "\"", 1);
  for (size_t i = 0; i < s.len; i++) {
    uint8_t ch = s.p[i];
    if (ch == '"' || ch == '\\') {
      char e[2] = {'\\', (char)ch};
      tc_buf_append(b, e, 2);
    } else if (ch < 0x20) {
      tc_buf_appendf(b, "\\u%04x", ch);
    } else {
      tc_buf_append(b, &ch, 1);
    }
  }
  tc_buf_append(b, "\"", 1);
}

/* Query flags of /echo that the WebSocket demo and the notes use to show the wire. */
enum { ECHO_FRAMES = 1, ECHO_REPORTING = 2 };

/* Non-zero when the request line's query has the parameter `name` (with or without a value). */
static int query_has(tc_slice_t head, const char *name) {
  const uint8_t *eol = memchr(head.p, '\n', head.len);
  size_t line = eol ? (size_t)(eol - head.p) : head.len;
  const uint8_t *q = memchr(head.p, '?', line);
  if (!q) return 0;
  const uint8_t *end = memchr(q, ' ', line - (size_t)(q - head.p));
  if (!end) return 0;
  size_t n = strlen(name);
  for (const uint8_t *p = q + 1; p < end;) {
    const uint8_t *amp = memchr(p, '&', (size_t)(end - p));
    const uint8_t *stop = amp ? amp : end;
    size_t k = (size_t)(stop - p);
    if ((k == n || (k > n && p[n] == '=')) && memcmp(p, name, n) == 0) return 1;
    p = stop + 1;
  }
  return 0;
}

static void hex_append(tc_buf_t *b, const uint8_t *p, size_t n, const uint8_t *mask) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    uint8_t v = mask ? (uint8_t)(p[i] ^ mask[i & 3]) : p[i];
    char two[3] = {digits[v >> 4], digits[v & 15], i + 1 < n ? ' ' : '\0'};
    tc_buf_append(b, two, i + 1 < n ? 3 : 2);
  }
}

/* /echo?frames: after each frame, a text message describing it as it crossed the wire. */
static void echo_on_frame(tc_ws_conn_t *c, int incoming, const uint8_t *header, size_t hlen,
                          const uint8_t *payload, size_t plen, void *ud) {
  (void)ud;
  uintptr_t flags = (uintptr_t)tc_ws_conn_data(c);
  if (!(flags & ECHO_FRAMES) || (flags & ECHO_REPORTING)) return;
  tc_ws_frame_t f;
  if (tc_ws_frame_parse(header, hlen, &f) < 0) return;
  /* Nothing may follow our close frame (RFC 6455 section 5.5.1), not even its report. */
  if (!incoming && f.opcode == TC_WS_OP_CLOSE) return;
  size_t shown = plen < 256 ? plen : 256;
  tc_buf_t b = {0};
  tc_buf_appendf(&b,
                 "{\"type\":\"frame\",\"dir\":\"%s\",\"fin\":%d,\"rsv1\":%d,\"opcode\":%d,"
                 "\"masked\":%d,\"mask\":\"",
                 incoming ? "in" : "out", f.fin, f.rsv1, f.opcode, f.masked);
  if (f.masked) hex_append(&b, f.mask, 4, NULL);
  tc_buf_appendf(&b, "\",\"length\":%zu,\"header\":\"", plen);
  hex_append(&b, header, hlen, NULL);
  tc_buf_append_str(&b, "\",\"payload\":\"");
  /* Incoming payloads were unmasked in place: mask them again to show the wire bytes. */
  hex_append(&b, payload, shown, incoming && f.masked ? f.mask : NULL);
  tc_buf_appendf(&b, "\",\"truncated\":%d", shown < plen);
  /* The kernel's view of the same connection: a figure the TCP note points at. */
  tc_io_tcp_info_t ti;
  if (tc_io_conn_tcp_info(tc_ws_conn_io(c), &ti) == 0)
    tc_buf_appendf(&b, ",\"tcp\":{\"rtt_us\":%u,\"rttvar_us\":%u,\"cwnd\":%u,\"mss\":%u}",
                   ti.rtt_us, ti.rttvar_us, ti.snd_cwnd, ti.snd_mss);
  tc_buf_append(&b, "}", 1);
  tc_ws_conn_set_data(c, (void *)(flags | ECHO_REPORTING));
  tc_ws_conn_send(c, TC_WS_OP_TEXT, tc_buf_data(&b), b.len);
  tc_ws_conn_set_data(c, (void *)flags);
  tc_buf_free(&b);
}

/* /echo?handshake: the first message shows the opening handshake as it crossed the wire, for
 * the WebSocket demo page (a browser's script cannot see those headers itself). */
static void echo_on_open(tc_ws_conn_t *c, void *ud) {
  (void)ud;
  tc_slice_t req, resp;
  tc_ws_conn_handshake(c, &req, &resp);
  if (!req.len) return;
  int frames = query_has(req, "frames");
  if (query_has(req, "handshake")) {
    tc_buf_t b = {0};
    tc_buf_append_str(&b, "{\"type\":\"handshake\",\"request\":");
    json_string(&b, req);
    tc_buf_append_str(&b, ",\"response\":");
    json_string(&b, resp);
    tc_buf_append_str(&b, ",\"extensions\":");
    json_string(&b, tc_slice_str(tc_ws_conn_deflate(c) ? "permessage-deflate" : ""));
    tc_buf_append(&b, "}", 1);
    tc_ws_conn_send(c, TC_WS_OP_TEXT, tc_buf_data(&b), b.len);
    tc_buf_free(&b);
  }
  if (frames) tc_ws_conn_set_data(c, (void *)(uintptr_t)ECHO_FRAMES);
}

static const tc_ws_handlers_t echo_handlers = {
    .on_open = echo_on_open, .on_message = echo_on_message, .on_frame = echo_on_frame};

static void usage(FILE *f) {
  fprintf(f,
          "usage: tincan [options]\n"
          "  --host ADDR            address to listen on (default 127.0.0.1)\n"
          "  --port N               TCP port (default 8080; 0 picks a free one)\n"
          "  --web DIR              folder of static files (default %s)\n"
          "  --notes DIR            Markdown notes served at /notes/ (default %s)\n"
          "  --log-level LEVEL      debug, info, warn, error or off (default info)\n"
          "  --request-timeout MS   time allowed to send a whole request (default 10000)\n"
          "  --header-limit BYTES   largest request header section (default 16384)\n"
          "  --body-limit BYTES     largest request body (default 1048576)\n"
          "  --tls-cert FILE        serve HTTPS and wss:// with this PEM certificate chain\n"
          "  --tls-key FILE         and this PEM private key\n"
          "  --no-recovery          Socket.IO without connection state recovery (the chat then\n"
          "                         cannot replay what a dropped client missed)\n"
          "  --stun-port N          STUN server port, UDP and TCP (default 3478; 0 picks a free\n"
          "                         one)\n"
          "  --no-stun              no STUN server\n"
          "  --ice-server URL       another ICE server for the call page (stun: or turn: URL),\n"
          "                         after tincan's own STUN server; up to 8 times\n"
          "  --call-limit N         participants per call room (default 6)\n"
          "  --help                 this text\n"
          "  --version              the version\n",
          TINCAN_DEFAULT_WEB, TINCAN_DEFAULT_NOTES);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (!*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static void on_grace_timeout(uv_timer_t *t) {
  app_t *app = t->data;
  tc_log(&app->log, TC_LOG_WARN, "tincan", "closing %zu connections that did not finish in time",
         tc_io_conn_count(app->io));
  tc_io_shutdown(app->io);
}

static void on_signal(tc_io_t *io, int signum, void *ud) {
  (void)io;
  app_t *app = ud;
  tc_log(&app->log, TC_LOG_INFO, "tincan", "%s: shutting down",
         signum == SIGINT ? "SIGINT" : "SIGTERM");
  tc_sio_app_close(app->sio);
  tc_stun_service_close(app->stun);
  app->stun = NULL;
  tc_http_server_stop(app->http);
  uv_timer_start(&app->grace, on_grace_timeout, SHUTDOWN_GRACE_MS, 0);
}

/* The STUN server on UDP and TCP. A port given on the command line must be had; the default one
 * may be taken by another STUN server on this machine, which costs only tincan's own. Non-zero
 * when start-up must stop. */
static int start_stun(app_t *app, const char *host) {
  if (app->stun_port < 0) return 0;
  tc_stun_service_config_t cfg = {.host = host,
                                  .port = app->stun_port,
                                  .udp = 1,
                                  .tcp = 1,
                                  .software = "tincan/" TINCAN_VERSION,
                                  .log = &app->log};
  int r = tc_stun_service_new(app->io, &cfg, &app->stun);
  if (r) {
    int fatal = app->stun_port_given || r != TC_EADDRINUSE;
    tc_log(&app->log, fatal ? TC_LOG_ERROR : TC_LOG_WARN, "tincan",
           "cannot run the STUN server on %s port %d: %s%s", host, app->stun_port, tc_strerror(r),
           fatal ? "" : " (going on without it; --stun-port picks another port)");
    return fatal;
  }
  int bracket = strchr(host, ':') != NULL;
  tc_log(&app->log, TC_LOG_INFO, "tincan", "STUN server on udp and tcp %s%s%s:%d",
         bracket ? "[" : "", host, bracket ? "]" : "", tc_stun_service_port(app->stun));
  return 0;
}

/* Sets everything up and runs the loop until a signal stops it. Returns the exit code; the caller
 * releases whatever was made, whether or not start-up got through. */
static int serve(app_t *app, const char *host, int port, const tc_http_server_config_t *hcfg,
                 const char *tls_cert, const char *tls_key) {
  tc_io_config_t iocfg = {.log = &app->log};
  int r = tc_io_new(&app->loop, &iocfg, &app->io);
  if (!r) r = tc_http_server_new(app->io, hcfg, &app->http);
  tc_ws_server_config_t echo_cfg = {.deflate = {.enabled = 1}, .keep_handshake = 1};
  if (!r) r = tc_ws_server_route(app->http, "/echo", &echo_cfg, &echo_handlers, app);
  if (!r)
    r = tc_sio_app_new(app->http, TINCAN_DEFAULT_SIO_CLIENT, !app->no_recovery, &app->log,
                       &app->sio);
  if (r) {
    tc_log(&app->log, TC_LOG_ERROR, "tincan", "start-up failed: %s", tc_strerror(r));
    return 1;
  }
  /* The server works without its notes; a missing folder only costs the /notes/ pages. */
  if ((r = tc_notes_route(app->http, app->notes, &app->log)))
    tc_log(&app->log, TC_LOG_WARN, "tincan", "notes folder %s: %s", app->notes, tc_strerror(r));
  if (tls_cert && (r = tc_io_tls_server_ctx(tls_cert, tls_key, &app->tls))) {
    tc_log(&app->log, TC_LOG_ERROR, "tincan", "TLS certificate %s / key %s: %s", tls_cert, tls_key,
           tc_strerror(r));
    return 1;
  }
  tc_io_listener_t *l;
  r = tc_http_server_listen(app->http, host, port, &l);
  if (r) {
    tc_log(&app->log, TC_LOG_ERROR, "tincan", "cannot listen on %s:%d: %s", host, port,
           tc_strerror(r));
    return 1;
  }
  if (app->tls) tc_io_listener_set_tls(l, app->tls);
  if (start_stun(app, host)) return 1;
  app->call.stun_port = app->stun ? tc_stun_service_port(app->stun) : 0;
  app->call.default_host = host;
  if ((r = tc_call_attach(tc_sio_app_server(app->sio), app->http, &app->call, &app->log))) {
    tc_log(&app->log, TC_LOG_ERROR, "tincan", "start-up failed: %s", tc_strerror(r));
    return 1;
  }
  tc_io_on_signal(app->io, on_signal, app);
  int bracket = strchr(host, ':') != NULL;
  tc_log(&app->log, TC_LOG_INFO, "tincan", "tincan %s listening on %s://%s%s%s:%d, serving %s",
         TINCAN_VERSION, app->tls ? "https" : "http", bracket ? "[" : "", host, bracket ? "]" : "",
         tc_io_listener_port(l), hcfg->static_root);
  uv_run(&app->loop, UV_RUN_DEFAULT);
  return 0;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  const char *web = TINCAN_DEFAULT_WEB;
  uint64_t port = 8080;
  tc_http_server_config_t hcfg = {0};
  app_t app = {.log = {.fn = tc_log_stderr, .min_level = TC_LOG_INFO},
               .notes = TINCAN_DEFAULT_NOTES,
               .stun_port = DEFAULT_STUN_PORT};
  app.call.ice_servers = app.ice_servers;

  const char *tls_cert = NULL, *tls_key = NULL;
  enum {
    O_HOST = 256,
    O_PORT,
    O_WEB,
    O_LOG,
    O_REQ_TIMEOUT,
    O_HDR_LIMIT,
    O_BODY_LIMIT,
    O_CERT,
    O_KEY,
    O_NOTES,
    O_NO_RECOVERY,
    O_STUN_PORT,
    O_NO_STUN,
    O_ICE_SERVER,
    O_CALL_LIMIT
  };
  static const struct option opts[] = {
      {"host", required_argument, NULL, O_HOST},
      {"port", required_argument, NULL, O_PORT},
      {"web", required_argument, NULL, O_WEB},
      {"log-level", required_argument, NULL, O_LOG},
      {"request-timeout", required_argument, NULL, O_REQ_TIMEOUT},
      {"header-limit", required_argument, NULL, O_HDR_LIMIT},
      {"body-limit", required_argument, NULL, O_BODY_LIMIT},
      {"tls-cert", required_argument, NULL, O_CERT},
      {"tls-key", required_argument, NULL, O_KEY},
      {"notes", required_argument, NULL, O_NOTES},
      {"no-recovery", no_argument, NULL, O_NO_RECOVERY},
      {"stun-port", required_argument, NULL, O_STUN_PORT},
      {"no-stun", no_argument, NULL, O_NO_STUN},
      {"ice-server", required_argument, NULL, O_ICE_SERVER},
      {"call-limit", required_argument, NULL, O_CALL_LIMIT},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  int ch;
  uint64_t v;
  while ((ch = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
    switch (ch) {
      case O_HOST:
        host = optarg;
        break;
      case O_PORT:
        if (parse_u64(optarg, 0, 65535, &port)) goto bad_value;
        break;
      case O_WEB:
        web = optarg;
        break;
      case O_LOG:
        if (tc_log_level_parse(optarg, &app.log.min_level)) goto bad_value;
        break;
      case O_REQ_TIMEOUT:
        if (parse_u64(optarg, 1, 86400000, &hcfg.request_timeout_ms)) goto bad_value;
        break;
      case O_HDR_LIMIT:
        if (parse_u64(optarg, 256, 1 << 24, &v)) goto bad_value;
        hcfg.max_header_bytes = (size_t)v;
        break;
      case O_BODY_LIMIT:
        if (parse_u64(optarg, 1, (uint64_t)1 << 40, &hcfg.max_body)) goto bad_value;
        break;
      case O_CERT:
        tls_cert = optarg;
        break;
      case O_KEY:
        tls_key = optarg;
        break;
      case O_NOTES:
        app.notes = optarg;
        break;
      case O_NO_RECOVERY:
        app.no_recovery = 1;
        break;
      case O_STUN_PORT:
        if (parse_u64(optarg, 0, 65535, &v)) goto bad_value;
        app.stun_port = (int)v;
        app.stun_port_given = 1;
        break;
      case O_NO_STUN:
        app.stun_port = -1;
        break;
      case O_ICE_SERVER:
        if (strncmp(optarg, "stun:", 5) && strncmp(optarg, "turn:", 5) &&
            strncmp(optarg, "turns:", 6))
          goto bad_value;
        if (app.call.num_ice_servers == MAX_ICE_SERVERS) goto bad_value;
        app.ice_servers[app.call.num_ice_servers++] = optarg;
        break;
      case O_CALL_LIMIT:
        if (parse_u64(optarg, 2, 1000, &v)) goto bad_value;
        app.call.limit = (size_t)v;
        break;
      case 'h':
        usage(stdout);
        return 0;
      case 'V':
        printf("tincan %s\n", TINCAN_VERSION);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
    continue;
  bad_value:
    fprintf(stderr, "tincan: bad value for --%s: %s\n", opts[ch - O_HOST].name, optarg);
    return 2;
  }
  if (!tls_cert != !tls_key) {
    fprintf(stderr, "tincan: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "tincan: unexpected argument: %s\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  /* A peer that resets while we write is normal; it must cost that connection, not the process. */
  signal(SIGPIPE, SIG_IGN);

  char web_real[PATH_MAX];
  if (!realpath(web, web_real)) {
    tc_log(&app.log, TC_LOG_ERROR, "tincan", "web folder %s: not found", web);
    return 1;
  }
  hcfg.static_root = web_real;
  hcfg.log = &app.log;
  hcfg.server_name = "tincan/" TINCAN_VERSION;

  uv_loop_init(&app.loop);
  uv_timer_init(&app.loop, &app.grace);
  app.grace.data = &app;
  uv_unref((uv_handle_t *)&app.grace);
  int code = serve(&app, host, (int)port, &hcfg, tls_cert, tls_key);

  uv_close((uv_handle_t *)&app.grace, NULL);
  tc_stun_service_close(app.stun);
  if (app.io) tc_io_shutdown(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  tc_http_server_free(app.http);
  tc_io_free(app.io);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&app.loop) != 0)
    tc_log(&app.log, TC_LOG_WARN, "tincan", "event loop closed with handles still open");
  tc_io_tls_ctx_free(app.tls);
  if (code == 0) tc_log(&app.log, TC_LOG_INFO, "tincan", "stopped");
  return code;
}
