/* The HTTP server over loopback: routes, bodies (length and chunked), pipelining, deferred
 * answers, taking a connection (Upgrade), Expect: 100-continue, timeouts and static files. */
#include "tc_test.h"
#include "tc_test_net.h"
#include "tincan/http.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct fixture {
  uv_loop_t loop;
  tc_io_t *io;
  tc_http_server_t *srv;
  int port;
  uv_timer_t later;
  tc_http_exchange_t *pending;
  int aborts;
  char root[64];
} fixture_t;

/* POST /echo answers with the body it got; the method goes in a header. */
static int on_echo(tc_http_exchange_t *x, void *ud) {
  (void)ud;
  const tc_http_request_t *req = tc_http_request(x);
  tc_http_add_header_slice(x, "X-Method", req->method);
  tc_slice_t body = tc_http_body(x);
  return tc_http_respond(x, 200, "application/octet-stream", body.p, body.len);
}

static void on_later_timer(uv_timer_t *t) {
  fixture_t *fx = t->data;
  tc_http_respond(fx->pending, 200, "text/plain", "late", 4);
  fx->pending = NULL;
}

static void on_later_abort(tc_http_exchange_t *x, void *ud) {
  (void)x;
  fixture_t *fx = ud;
  fx->aborts++;
  fx->pending = NULL;
  uv_timer_stop(&fx->later);
}

/* GET /later answers 100 ms after the handler returned, as a long poll does. */
static int on_later(tc_http_exchange_t *x, void *ud) {
  fixture_t *fx = ud;
  fx->pending = x;
  tc_http_defer(x, on_later_abort, fx);
  uv_timer_start(&fx->later, on_later_timer, 100, 0);
  return 0;
}

static ssize_t upper_on_data(tc_io_conn_t *c, uint8_t *p, size_t len) {
  char out[256];
  size_t n = len < sizeof out ? len : sizeof out;
  for (size_t i = 0; i < n; i++) out[i] = (char)((p[i] >= 'a' && p[i] <= 'z') ? p[i] - 32 : p[i]);
  tc_io_conn_write(c, out, n);
  return (ssize_t)n;
}

static void upper_on_close(tc_io_conn_t *c, int err) {
  (void)c;
  (void)err;
}

static const tc_io_handler_t upper_handler = {.on_data = upper_on_data, .on_close = upper_on_close};

/* GET /up switches the connection to a protocol that upper-cases what it gets. */
static int on_up(tc_http_exchange_t *x, void *ud) {
  (void)ud;
  tc_io_conn_t *c = tc_http_take(x);
  tc_io_conn_set_handler(c, &upper_handler, NULL);
  const char *resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n";
  return tc_io_conn_write(c, resp, strlen(resp));
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void fixture_init(fixture_t *fx, uint64_t request_timeout_ms) {
  memset(fx, 0, sizeof *fx);
  snprintf(fx->root, sizeof fx->root, "/tmp/tc_test_http_XXXXXX");
  TC_CHECK(mkdtemp(fx->root) != NULL);
  write_file(fx->root, "index.html", "<h1>home</h1>\n");
  uv_loop_init(&fx->loop);
  TC_CHECK_EQ_INT(tc_io_new(&fx->loop, NULL, &fx->io), 0);
  tc_http_server_config_t cfg = {.max_body = 1000,
                                 .request_timeout_ms = request_timeout_ms,
                                 .keepalive_timeout_ms = 300,
                                 .static_root = fx->root};
  TC_CHECK_EQ_INT(tc_http_server_new(fx->io, &cfg, &fx->srv), 0);
  tc_http_server_route(fx->srv, "/echo", 0, on_echo, fx);
  tc_http_server_route(fx->srv, "/later", 0, on_later, fx);
  tc_http_server_route(fx->srv, "/up", 0, on_up, fx);
  tc_io_listener_t *l;
  TC_CHECK_EQ_INT(tc_http_server_listen(fx->srv, "127.0.0.1", 0, &l), 0);
  fx->port = tc_io_listener_port(l);
  uv_timer_init(&fx->loop, &fx->later);
  fx->later.data = fx;
}

static void fixture_done(fixture_t *fx) {
  uv_close((uv_handle_t *)&fx->later, NULL);
  tc_http_server_stop(fx->srv);
  tc_io_shutdown(fx->io);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  TC_CHECK_EQ_INT(tc_http_server_conn_count(fx->srv), 0);
  tc_http_server_free(fx->srv);
  tc_io_free(fx->io);
  TC_CHECK_EQ_INT(uv_loop_close(&fx->loop), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx->root);
  TC_CHECK_EQ_INT(system(cmd), 0);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
  return n;
}

static void client_bodies(tc_test_client_t *tc) {
  char buf[4096];
  int fd = tc_test_connect(tc->port);
  /* Content-Length body, sent a byte at a time */
  const char *req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
  for (const char *p = req; *p; p++) {
    tc_test_send(fd, p, 1);
    if ((p - req) % 7 == 0) usleep(1000);
  }
  tc_test_recv_until(fd, buf, sizeof buf, "hello", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  TC_CHECK(strstr(buf, "X-Method: POST\r\n") != NULL);
  TC_CHECK(strstr(buf, "Content-Length: 5\r\n") != NULL);
  /* chunked body with an extension and a trailer */
  tc_test_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3;ext=1\r\nabc\r\n");
  usleep(20000);
  tc_test_send_str(fd, "4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "abcdefg", 1);
  TC_CHECK(strstr(buf, "Content-Length: 7\r\n") != NULL);
  TC_CHECK(strstr(buf, "\r\n\r\nabcdefg") != NULL);
  /* three pipelined requests in one write are answered in order */
  tc_test_send_str(fd, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                       "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "X-Method: HEAD", 1);
  TC_CHECK_EQ_INT(count(buf, "HTTP/1.1 200 OK"), 3);
  const char *g = strstr(buf, "X-Method: GET"), *p = strstr(buf, "X-Method: POST"),
             *h = strstr(buf, "X-Method: HEAD");
  TC_CHECK(g && p && h && g < p && p < h);
  TC_CHECK(strstr(buf, "xyz") != NULL);
  close(fd);

  /* Expect: 100-continue gets the interim answer before the body is sent */
  fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                       "Expect: 100-continue\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "\r\n\r\n", 1);
  TC_CHECK(strcmp(buf, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
  tc_test_send_str(fd, "ok");
  tc_test_recv_until(fd, buf, sizeof buf, "\r\n\r\nok", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0);
  close(fd);

  /* a body over max_body: 413 and the connection closes */
  fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(strncmp(buf, "HTTP/1.1 413 ", 13) == 0);
  TC_CHECK(strstr(buf, "Connection: close\r\n") != NULL);
  close(fd);
}

static void test_bodies_and_pipelining(void) {
  fixture_t fx;
  fixture_init(&fx, 2000);
  tc_test_run_client(&fx.loop, fx.port, client_bodies, &fx);
  fixture_done(&fx);
}

static void client_deferred(tc_test_client_t *tc) {
  char buf[4096];
  int fd = tc_test_connect(tc->port);
  /* the second request waits for the deferred first one */
  tc_test_send_str(fd,
                   "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "X-Method: GET", 1);
  const char *late = strstr(buf, "late"), *echo = strstr(buf, "X-Method: GET");
  TC_CHECK(late && echo && late < echo);
  close(fd);
  /* a client that leaves while its answer is deferred: the owner hears of it */
  fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "GET /later HTTP/1.1\r\nHost: t\r\n\r\n");
  usleep(30000);
  close(fd);
  usleep(30000);
}

static void test_deferred(void) {
  fixture_t fx;
  fixture_init(&fx, 2000);
  tc_test_run_client(&fx.loop, fx.port, client_deferred, &fx);
  TC_CHECK_EQ_INT(fx.aborts, 1);
  fixture_done(&fx);
}

static void client_take(tc_test_client_t *tc) {
  char buf[4096];
  int fd = tc_test_connect(tc->port);
  /* bytes after the request in the same write belong to the new protocol */
  tc_test_send_str(
      fd, "GET /up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: upper\r\n\r\nabc");
  tc_test_recv_until(fd, buf, sizeof buf, "ABC", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 101 ", 13) == 0);
  tc_test_send_str(fd, "def");
  tc_test_recv_until(fd, buf, sizeof buf, "DEF", 1);
  TC_CHECK(strcmp(buf, "DEF") == 0);
  close(fd);
}

static void test_take(void) {
  fixture_t fx;
  fixture_init(&fx, 2000);
  tc_test_run_client(&fx.loop, fx.port, client_take, &fx);
  fixture_done(&fx);
}

static void client_timeouts(tc_test_client_t *tc) {
  char buf[4096];
  /* a request that stalls: 408, then closed */
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
  size_t n = tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(n > 0 && strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
  close(fd);
  /* an idle keep-alive connection is closed quietly */
  fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  n = tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  TC_CHECK(strstr(buf, "<h1>home</h1>") != NULL);
  TC_CHECK_EQ_INT(count(buf, "HTTP/1.1"), 1);
  close(fd);
}

static void test_timeouts(void) {
  fixture_t fx;
  fixture_init(&fx, 200);
  tc_test_run_client(&fx.loop, fx.port, client_timeouts, &fx);
  fixture_done(&fx);
}

static void client_static(tc_test_client_t *tc) {
  fixture_t *fx = tc->ud;
  char buf[4096];
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "</h1>", 1);
  TC_CHECK(strstr(buf, "Content-Type: text/html") != NULL);
  const char *etag = strstr(buf, "ETag: ");
  TC_CHECK(etag != NULL);
  char tag[64] = "";
  if (etag) sscanf(etag + 6, "%63[^\r]", tag);
  char req[256];
  snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n",
           tag);
  tc_test_send_str(fd, req);
  tc_test_recv_until(fd, buf, sizeof buf, "\r\n\r\n", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 304 ", 13) == 0);
  TC_CHECK(strstr(buf, "Content-Length") == NULL);
  tc_test_send_str(fd, "DELETE /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "Allowed\n", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
  TC_CHECK(strstr(buf, "Allow: GET, HEAD\r\n") != NULL);
  tc_test_send_str(fd, "GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n");
  tc_test_recv_until(fd, buf, sizeof buf, "Request\n", 1);
  TC_CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
  tc_test_send_str(fd, "HEAD /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(strstr(buf, "Content-Length: 14\r\n") != NULL);
  TC_CHECK(strstr(buf, "<h1>") == NULL);
  close(fd);
  (void)fx;
}

static void test_static(void) {
  fixture_t fx;
  fixture_init(&fx, 2000);
  tc_test_run_client(&fx.loop, fx.port, client_static, &fx);
  fixture_done(&fx);
}

static void client_bad(tc_test_client_t *tc) {
  static const struct {
    const char *req;
    const char *status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       "400"},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "505"},
      {"GET / HTTP/1.1\r\n\r\n", "400"},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "400"},
      {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
  };
  char buf[4096];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int fd = tc_test_connect(tc->port);
    tc_test_send_str(fd, cases[i].req);
    tc_test_recv_all(fd, buf, sizeof buf);
    TC_CHECK(strncmp(buf + 9, cases[i].status, 3) == 0);
    if (strncmp(buf + 9, cases[i].status, 3) != 0)
      fprintf(stderr, "  case %zu got %.20s\n", i, buf);
    close(fd);
  }
  /* a header section over the limit, and too many headers: 431 */
  char *big = malloc(40000);
  strcpy(big, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
  memset(big + strlen(big), 'a', 20000);
  strcpy(big + 20000 + 27, "\r\n\r\n");
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, big);
  tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(strncmp(buf, "HTTP/1.1 431 ", 13) == 0);
  close(fd);
  strcpy(big, "GET / HTTP/1.1\r\nHost: t\r\n");
  for (int i = 0; i < 150; i++) sprintf(big + strlen(big), "X-%d: y\r\n", i);
  strcat(big, "\r\n");
  fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, big);
  tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK(strncmp(buf, "HTTP/1.1 431 ", 13) == 0);
  close(fd);
  free(big);
}

static void test_bad_input(void) {
  fixture_t fx;
  fixture_init(&fx, 2000);
  tc_test_run_client(&fx.loop, fx.port, client_bad, &fx);
  fixture_done(&fx);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  TC_RUN(test_bodies_and_pipelining);
  TC_RUN(test_deferred);
  TC_RUN(test_take);
  TC_RUN(test_timeouts);
  TC_RUN(test_static);
  TC_RUN(test_bad_input);
  return tc_test_end();
}
