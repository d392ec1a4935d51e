/* Loopback helpers for tests of the I/O layer and the servers on it: the loop runs on the main
 * thread, a scripted client runs on another with plain blocking sockets, and stops the loop when
 * it is done. */
#ifndef TC_TEST_NET_H
#define TC_TEST_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

typedef struct tc_test_client {
  uv_loop_t *loop;
  uv_async_t done;
  pthread_t thread;
  int port;
  void (*fn)(struct tc_test_client *tc);
  void *ud;
} tc_test_client_t;

static inline int tc_test_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline void tc_test_send(int fd, const void *p, size_t len) {
  const char *c = p;
  while (len) {
    ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
    if (n <= 0) return;
    c += n;
    len -= (size_t)n;
  }
}

static inline void tc_test_send_str(int fd, const char *s) {
  tc_test_send(fd, s, strlen(s));
}

/* Reads until the peer closes, the timeout passes or max bytes arrived; returns the count. */
static inline size_t tc_test_recv_all(int fd, char *buf, size_t max) {
  size_t got = 0;
  while (got < max) {
    ssize_t n = recv(fd, buf + got, max - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got < max) buf[got] = '\0';
  return got;
}

/* Reads until `needle` has appeared `count` times in what was received (or timeout/close). */
static inline size_t tc_test_recv_until(int fd, char *buf, size_t max, const char *needle,
                                        int count) {
  size_t got = 0;
  while (got + 1 < max) {
    ssize_t n = recv(fd, buf + got, max - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = '\0';
    int seen = 0;
    for (const char *p = buf; (p = memmem(p, (size_t)(buf + got - p), needle, strlen(needle))); p++)
      seen++;
    if (seen >= count) break;
  }
  buf[got] = '\0';
  return got;
}

static void tc__test_client_done(uv_async_t *a) {
  tc_test_client_t *tc = a->data;
  uv_close((uv_handle_t *)&tc->done, NULL);
  uv_stop(tc->loop);
}

static void *tc__test_client_main(void *arg) {
  tc_test_client_t *tc = arg;
  tc->fn(tc);
  uv_async_send(&tc->done);
  return NULL;
}

/* Runs fn on a client thread while the loop serves; returns when fn has finished. */
static inline void tc_test_run_client(uv_loop_t *loop, int port, void (*fn)(tc_test_client_t *),
                                      void *ud) {
  tc_test_client_t tc = {.loop = loop, .port = port, .fn = fn, .ud = ud};
  uv_async_init(loop, &tc.done, tc__test_client_done);
  tc.done.data = &tc;
  pthread_create(&tc.thread, NULL, tc__test_client_main, &tc);
  uv_run(loop, UV_RUN_DEFAULT);
  pthread_join(tc.thread, NULL);
  /* let closes started by the stop finish */
  uv_run(loop, UV_RUN_NOWAIT);
}

#endif
