/* WebSocket connections on the I/O layer: keepalive pings, the idle timeout, a peer that never
 * reads, and the client library against the server route, all over loopback. */
#include "tc_test.h"
#include "tc_test_net.h"
#include "tincan/ws.h"

#include <signal.h>
#include <stdio.h>

typedef struct fixture {
  uv_loop_t loop;
  tc_io_t *io;
  tc_http_server_t *srv;
  int port;
  int opens, closes, last_code, pongs, messages, drains;
  uv_timer_t stop;
} fixture_t;

static void srv_open(tc_ws_conn_t *c, void *ud) {
  (void)c;
  ((fixture_t *)ud)->opens++;
}

static void srv_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  fixture_t *fx = ud;
  fx->messages++;
  /* "flood" makes the server send until its queue limit trips (the peer does not read) */
  if (len == 5 && memcmp(data, "flood", 5) == 0) {
    static uint8_t chunk[1 << 16];
    while (tc_ws_conn_send(c, TC_WS_OP_BINARY, chunk, sizeof chunk) == 0) {
    }
    return;
  }
  tc_ws_conn_send(c, opcode, data, len);
}

static void srv_pong(tc_ws_conn_t *c, const uint8_t *d, size_t n, void *ud) {
  (void)c, (void)d, (void)n;
  ((fixture_t *)ud)->pongs++;
}

static void srv_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  (void)c, (void)reason;
  fixture_t *fx = ud;
  fx->closes++;
  fx->last_code = code;
}

static const tc_ws_handlers_t srv_handlers = {
    .on_open = srv_open, .on_message = srv_message, .on_pong = srv_pong, .on_close = srv_close};

static void fixture_init(fixture_t *fx) {
  memset(fx, 0, sizeof *fx);
  uv_loop_init(&fx->loop);
  TC_CHECK_EQ_INT(tc_io_new(&fx->loop, NULL, &fx->io), 0);
  TC_CHECK_EQ_INT(tc_http_server_new(fx->io, NULL, &fx->srv), 0);
  tc_ws_server_config_t ping = {.ping_interval_ms = 100};
  tc_ws_server_config_t idle = {.idle_timeout_ms = 150};
  tc_ws_server_config_t small = {.max_buffered = 1 << 20};
  TC_CHECK_EQ_INT(tc_ws_server_route(fx->srv, "/ping", &ping, &srv_handlers, fx), 0);
  TC_CHECK_EQ_INT(tc_ws_server_route(fx->srv, "/idle", &idle, &srv_handlers, fx), 0);
  TC_CHECK_EQ_INT(tc_ws_server_route(fx->srv, "/small", &small, &srv_handlers, fx), 0);
  tc_io_listener_t *l;
  TC_CHECK_EQ_INT(tc_http_server_listen(fx->srv, "127.0.0.1", 0, &l), 0);
  fx->port = tc_io_listener_port(l);
}

static void fixture_done(fixture_t *fx) {
  tc_http_server_stop(fx->srv);
  tc_io_shutdown(fx->io);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  tc_http_server_free(fx->srv);
  tc_io_free(fx->io);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  TC_CHECK_EQ_INT(uv_loop_close(&fx->loop), 0);
}

/* A raw client: the handshake, then nothing (or one masked text frame). */
static int raw_open(int port, const char *path) {
  int fd = tc_test_connect(port);
  char req[256];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
           path);
  tc_test_send_str(fd, req);
  char buf[512];
  tc_test_recv_until(fd, buf, sizeof buf, "\r\n\r\n", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 101 ", 13) == 0);
  return fd;
}

static void raw_send_text(int fd, const char *s) {
  uint8_t f[140];
  static const uint8_t key[4] = {1, 2, 3, 4};
  size_t n = strlen(s);
  size_t h = tc_ws_frame_write(f, 1, 0, TC_WS_OP_TEXT, n, key);
  memcpy(f + h, s, n);
  tc_ws_mask(f + h, n, key, 0);
  tc_test_send(fd, f, h + n);
}

static void client_silent(tc_test_client_t *tc) {
  /* never answers pings: dropped after about two intervals */
  int fd = raw_open(tc->port, "/ping");
  char buf[256];
  size_t n = tc_test_recv_all(fd, buf, sizeof buf);
  /* what came were pings (0x89 0x00), then the connection ended */
  TC_CHECK(n >= 2 && (uint8_t)buf[0] == 0x89);
  close(fd);
  /* silent for the idle timeout: closed with 1001 */
  fd = raw_open(tc->port, "/idle");
  n = tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(n >= 4 && (uint8_t)buf[0] == 0x88 && (uint8_t)buf[2] == 0x03 && (uint8_t)buf[3] == 0xe9);
  close(fd);
}

static void test_keepalive(void) {
  fixture_t fx;
  fixture_init(&fx);
  tc_test_run_client(&fx.loop, fx.port, client_silent, &fx);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.opens, 2);
  TC_CHECK_EQ_INT(fx.closes, 2);
  fixture_done(&fx);
}

static void client_no_read(tc_test_client_t *tc) {
  int fd = raw_open(tc->port, "/small");
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  raw_send_text(fd, "flood");
  usleep(300000);
  close(fd);
  usleep(50000);
}

static void test_peer_never_reads(void) {
  fixture_t fx;
  fixture_init(&fx);
  tc_test_run_client(&fx.loop, fx.port, client_no_read, &fx);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.closes, 1);
  TC_CHECK_EQ_INT(fx.last_code, TC_WS_CLOSE_POLICY);
  fixture_done(&fx);
}

/* The client library against the server route, in one loop: messages both ways, a ping, and
 * the closing handshake started by the client. */
typedef struct cl_state {
  fixture_t *fx;
  int got, code, opened;
} cl_state_t;

static void cl_open(tc_ws_conn_t *c, void *ud) {
  cl_state_t *st = ud;
  st->opened = 1;
  tc_ws_conn_send(c, TC_WS_OP_TEXT, "one", 3);
  tc_ws_conn_send(c, TC_WS_OP_BINARY, "\x00\x01", 2);
  tc_ws_conn_ping(c, "x", 1);
}

static void cl_message(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud) {
  cl_state_t *st = ud;
  st->got++;
  if (st->got == 1) TC_CHECK(opcode == TC_WS_OP_TEXT && len == 3 && memcmp(data, "one", 3) == 0);
  if (st->got == 2) {
    TC_CHECK(opcode == TC_WS_OP_BINARY && len == 2);
    tc_ws_conn_close(c, 4000, "bye");
  }
}

static void cl_close(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud) {
  (void)c, (void)reason;
  cl_state_t *st = ud;
  st->code = code;
  uv_stop(&st->fx->loop);
}

static const tc_ws_handlers_t cl_handlers = {
    .on_open = cl_open, .on_message = cl_message, .on_close = cl_close};

static void test_client_library(void) {
  fixture_t fx;
  fixture_init(&fx);
  cl_state_t st = {.fx = &fx};
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ping", fx.port);
  tc_ws_client_options_t o = {.url = url, .deflate = {.enabled = 1}};
  TC_CHECK_EQ_INT(tc_ws_client_connect(fx.io, &o, &cl_handlers, &st, NULL), 0);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  TC_CHECK(st.opened);
  TC_CHECK_EQ_INT(st.got, 2);
  TC_CHECK_EQ_INT(st.code, 4000);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.messages, 2);
  /* a bad URL and a refused connection */
  o.url = "http://127.0.0.1/";
  TC_CHECK_EQ_INT(tc_ws_client_connect(fx.io, &o, &cl_handlers, &st, NULL), TC_EINVAL);
  o.url = "wss://127.0.0.1/";
  TC_CHECK_EQ_INT(tc_ws_client_connect(fx.io, &o, &cl_handlers, &st, NULL), TC_EINVAL);
  o.url = "ws://127.0.0.1:1/";
  st = (cl_state_t){.fx = &fx};
  TC_CHECK_EQ_INT(tc_ws_client_connect(fx.io, &o, &cl_handlers, &st, NULL), 0);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  TC_CHECK(!st.opened);
  TC_CHECK_EQ_INT(st.code, TC_WS_CLOSE_ABNORMAL);
  fixture_done(&fx);
}

static void test_url_parse(void) {
  int tls, port;
  char host[64], path[64];
  TC_CHECK_EQ_INT(tc_ws_url_parse("ws://example.com/chat?x=1", &tls, host, sizeof host, &port, path,
                                  sizeof path),
                  0);
  TC_CHECK(!tls && port == 80 && strcmp(host, "example.com") == 0 &&
           strcmp(path, "/chat?x=1") == 0);
  TC_CHECK_EQ_INT(
      tc_ws_url_parse("wss://[::1]:8443", &tls, host, sizeof host, &port, path, sizeof path), 0);
  TC_CHECK(tls && port == 8443 && strcmp(host, "::1") == 0 && strcmp(path, "/") == 0);
  TC_CHECK_EQ_INT(tc_ws_url_parse("ws://h?q", &tls, host, sizeof host, &port, path, sizeof path),
                  0);
  TC_CHECK(strcmp(path, "/?q") == 0);
  TC_CHECK_EQ_INT(tc_ws_url_parse("http://h/", &tls, host, sizeof host, &port, path, sizeof path),
                  TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_url_parse("ws://:80/", &tls, host, sizeof host, &port, path, sizeof path),
                  TC_EINVAL);
  TC_CHECK_EQ_INT(
      tc_ws_url_parse("ws://h:99999/", &tls, host, sizeof host, &port, path, sizeof path),
      TC_EINVAL);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  TC_RUN(test_url_parse);
  TC_RUN(test_keepalive);
  TC_RUN(test_peer_never_reads);
  TC_RUN(test_client_library);
  return tc_test_end();
}
