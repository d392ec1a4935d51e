/* The I/O layer against real loopback sockets: partial messages, pipelined input, pause/resume,
 * ordered buffer+file output, close from inside a callback, and timeouts. */
#include "tc_test.h"
#include "tc_test_net.h"
#include "tincan/io.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fixture {
  uv_loop_t loop;
  tc_io_t *io;
  tc_io_listener_t *l;
  tc_io_timeouts_t *tq;
  int closes;
  int timeouts;
  int last_err;
  int pause_next; /* pause after the next line, resume from a timer */
  uv_timer_t resume_timer;
  tc_io_conn_t *paused;
  char file_path[64];
  tc_io_shared_t *small, *big; /* for the shared-output commands */
  int shared_frees;
} fixture_t;

static void on_resume(uv_timer_t *t);

/* A line protocol: each "\n"-terminated line is answered. "quit" closes from inside on_data,
 * "file" answers with a header, the file and a trailer, "sleep" arms a timeout. */
static ssize_t line_on_data(tc_io_conn_t *c, uint8_t *p, size_t len) {
  fixture_t *fx = tc_io_conn_data(c);
  const uint8_t *nl = memchr(p, '\n', len);
  if (!nl) return 0; /* a partial line waits for more bytes */
  size_t n = (size_t)(nl - p) + 1;
  if (n == 5 && memcmp(p, "quit", 4) == 0) {
    tc_io_conn_write(c, "bye\n", 4);
    tc_io_conn_close(c, 0);
    return (ssize_t)n;
  }
  if (n == 5 && memcmp(p, "file", 4) == 0) {
    int fd = open(fx->file_path, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    tc_io_conn_write(c, "<", 1);
    tc_io_conn_sendfile(c, fd, 0, (uint64_t)st.st_size);
    tc_io_conn_write(c, ">\n", 2);
    return (ssize_t)n;
  }
  /* Shared bytes: borrowed when nothing waits, copied behind other output, in order. */
  if (n == 8 && memcmp(p, "s:mixed", 7) == 0) {
    tc_io_conn_write_shared(c, fx->small);
    tc_io_conn_write(c, "|", 1);
    tc_io_conn_write_shared(c, fx->small);
    return (ssize_t)n;
  }
  if (n == 6 && memcmp(p, "s:one", 5) == 0) {
    tc_io_conn_write_shared(c, fx->small);
    return (ssize_t)n;
  }
  if (n == 6 && memcmp(p, "s:big", 5) == 0) {
    tc_io_conn_write_shared(c, fx->big);
    tc_io_conn_write_shared(c, fx->small);
    return (ssize_t)n;
  }
  if (n == 6 && memcmp(p, "s:bye", 5) == 0) {
    tc_io_conn_write_shared(c, fx->big);
    tc_io_conn_abort(c, 0);
    return (ssize_t)n;
  }
  if (n == 6 && memcmp(p, "sleep", 5) == 0) {
    tc_io_conn_set_timeout(c, fx->tq);
    return (ssize_t)n;
  }
  tc_io_conn_write(c, "echo:", 5);
  tc_io_conn_write(c, p, n);
  if (fx->pause_next) {
    fx->pause_next = 0;
    fx->paused = c;
    tc_io_conn_pause(c);
    uv_timer_start(&fx->resume_timer, on_resume, 30, 0);
  }
  return (ssize_t)n;
}

static void line_on_timeout(tc_io_conn_t *c) {
  fixture_t *fx = tc_io_conn_data(c);
  fx->timeouts++;
  tc_io_conn_write(c, "timeout\n", 8);
}

static void line_on_close(tc_io_conn_t *c, int err) {
  fixture_t *fx = tc_io_conn_data(c);
  fx->closes++;
  fx->last_err = err;
}

static const tc_io_handler_t line_handler = {
    .on_data = line_on_data, .on_timeout = line_on_timeout, .on_close = line_on_close};

static void on_accept(tc_io_listener_t *l, tc_io_conn_t *c, void *ud) {
  (void)l;
  tc_io_conn_set_handler(c, &line_handler, ud);
}

static void on_resume(uv_timer_t *t) {
  fixture_t *fx = t->data;
  tc_io_conn_resume(fx->paused);
}

static void fixture_init(fixture_t *fx) {
  memset(fx, 0, sizeof *fx);
  uv_loop_init(&fx->loop);
  TC_CHECK_EQ_INT(tc_io_new(&fx->loop, NULL, &fx->io), 0);
  TC_CHECK_EQ_INT(tc_io_listen(fx->io, "127.0.0.1", 0, on_accept, fx, &fx->l), 0);
  TC_CHECK_EQ_INT(tc_io_timeouts_new(fx->io, 100, &fx->tq), 0);
  uv_timer_init(&fx->loop, &fx->resume_timer);
  fx->resume_timer.data = fx;
}

static void fixture_done(fixture_t *fx) {
  tc_io_timeouts_free(fx->tq);
  uv_close((uv_handle_t *)&fx->resume_timer, NULL);
  tc_io_shutdown(fx->io);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  tc_io_free(fx->io);
  TC_CHECK_EQ_INT(uv_loop_close(&fx->loop), 0);
}

static void client_lines(tc_test_client_t *tc) {
  int fd = tc_test_connect(tc->port);
  /* one line split over three writes, then three lines in one write */
  tc_test_send_str(fd, "hel");
  usleep(20000);
  tc_test_send_str(fd, "lo");
  usleep(20000);
  tc_test_send_str(fd, "\na\nb\nc\n");
  char buf[256];
  tc_test_recv_until(fd, buf, sizeof buf, "echo:", 4);
  TC_CHECK(strcmp(buf, "echo:hello\necho:a\necho:b\necho:c\n") == 0);
  tc_test_send_str(fd, "quit\n");
  size_t n = tc_test_recv_all(fd, buf, sizeof buf);
  TC_CHECK_EQ_INT(n, 4);
  TC_CHECK(memcmp(buf, "bye\n", 4) == 0);
  close(fd);
}

static void test_partial_and_pipelined(void) {
  fixture_t fx;
  fixture_init(&fx);
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_lines, &fx);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.closes, 1);
  TC_CHECK_EQ_INT(fx.last_err, 0);
  fixture_done(&fx);
}

static void client_pause(tc_test_client_t *tc) {
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "one\ntwo\nthree\n");
  char buf[256];
  tc_test_recv_until(fd, buf, sizeof buf, "echo:", 3);
  TC_CHECK(strcmp(buf, "echo:one\necho:two\necho:three\n") == 0);
  close(fd);
}

static void test_pause_resume(void) {
  fixture_t fx;
  fixture_init(&fx);
  fx.pause_next = 1;
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_pause, &fx);
  fixture_done(&fx);
}

static void client_file(tc_test_client_t *tc) {
  fixture_t *fx = tc->ud;
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "file\nx\n");
  /* read slowly at first so the socket fills and the copy path is taken */
  usleep(200000);
  FILE *f = fopen(fx->file_path, "rb");
  fseek(f, 0, SEEK_END);
  size_t size = (size_t)ftell(f);
  rewind(f);
  char *want = malloc(size + 16);
  want[0] = '<';
  TC_CHECK_EQ_INT(fread(want + 1, 1, size, f), size);
  fclose(f);
  memcpy(want + 1 + size, ">\necho:x\n", 9);
  size_t total = size + 10;
  char *got = malloc(total);
  size_t n = 0;
  while (n < total) {
    ssize_t r = recv(fd, got + n, total - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  TC_CHECK_EQ_INT(n, total);
  TC_CHECK(memcmp(got, want, total) == 0);
  free(got);
  free(want);
  close(fd);
}

static void test_sendfile_order(void) {
  fixture_t fx;
  fixture_init(&fx);
  snprintf(fx.file_path, sizeof fx.file_path, "/tmp/tc_test_io_XXXXXX");
  int fd = mkstemp(fx.file_path);
  /* 8 MiB: larger than the socket buffers, so sendfile meets a full socket */
  char block[4096];
  for (int i = 0; i < 2048; i++) {
    for (size_t j = 0; j < sizeof block; j++) block[j] = (char)('a' + (i + (int)j) % 26);
    TC_CHECK_EQ_INT(write(fd, block, sizeof block), sizeof block);
  }
  close(fd);
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_file, &fx);
  unlink(fx.file_path);
  fixture_done(&fx);
}

/* ---- shared output -----------------------------------------------------------------------------
 */

#define BIG_LEN (8u << 20)

typedef struct shared_bytes {
  tc_io_shared_t m;
  fixture_t *fx;
  uint8_t data[];
} shared_bytes_t;

static void shared_free(tc_io_shared_t *m) {
  shared_bytes_t *b = (shared_bytes_t *)(void *)m;
  b->fx->shared_frees++;
  free(b);
}

static tc_io_shared_t *shared_make(fixture_t *fx, size_t len, char base) {
  shared_bytes_t *b = malloc(sizeof *b + len);
  for (size_t i = 0; i < len; i++) b->data[i] = (uint8_t)(base + (char)(i % 26));
  b->fx = fx;
  b->m = (tc_io_shared_t){.refs = 1, .p = b->data, .len = len, .free = shared_free};
  return &b->m;
}

static void recv_exact(int fd, uint8_t *buf, size_t len) {
  size_t n = 0;
  while (n < len) {
    ssize_t r = recv(fd, buf + n, len - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  TC_CHECK_EQ_INT(n, len);
}

static void client_shared(tc_test_client_t *tc) {
  fixture_t *fx = tc->ud;
  const tc_io_shared_t *s = fx->small, *b = fx->big;
  int fd = tc_test_connect(tc->port);
  uint8_t *got = malloc(BIG_LEN + 256);
  tc_test_send_str(fd, "s:mixed\n");
  recv_exact(fd, got, 2 * s->len + 1);
  TC_CHECK(!memcmp(got, s->p, s->len) && got[s->len] == '|' &&
           !memcmp(got + s->len + 1, s->p, s->len));
  tc_test_send_str(fd, "s:one\n");
  recv_exact(fd, got, s->len);
  TC_CHECK(!memcmp(got, s->p, s->len));
  /* Read late, so the big one is only partly sent and the rest copied. */
  tc_test_send_str(fd, "s:big\n");
  usleep(200000);
  recv_exact(fd, got, b->len + s->len);
  TC_CHECK(!memcmp(got, b->p, b->len) && !memcmp(got + b->len, s->p, s->len));
  /* Gone with the bytes still borrowed: the reference goes with it. */
  tc_test_send_str(fd, "s:bye\n");
  usleep(100000);
  close(fd);
  free(got);
}

static void test_shared_output(void) {
  fixture_t fx;
  fixture_init(&fx);
  fx.small = shared_make(&fx, 100, 'a');
  fx.big = shared_make(&fx, BIG_LEN, 'A');
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_shared, &fx);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.closes, 1);
  TC_CHECK_EQ_INT(fx.small->refs, 1);
  TC_CHECK_EQ_INT(fx.big->refs, 1);
  tc_io_shared_unref(fx.small);
  tc_io_shared_unref(fx.big);
  TC_CHECK_EQ_INT(fx.shared_frees, 2);
  fixture_done(&fx);
}

static void client_timeout(tc_test_client_t *tc) {
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "sleep\n");
  char buf[64];
  tc_test_recv_until(fd, buf, sizeof buf, "timeout\n", 1);
  TC_CHECK(strcmp(buf, "timeout\n") == 0);
  close(fd);
}

static void test_timeout(void) {
  fixture_t fx;
  fixture_init(&fx);
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_timeout, &fx);
  TC_CHECK_EQ_INT(fx.timeouts, 1);
  fixture_done(&fx);
}

static void client_reset(tc_test_client_t *tc) {
  /* Peers that vanish mid-message, some with a reset, must only cost their own connection. */
  for (int i = 0; i < 50; i++) {
    int fd = tc_test_connect(tc->port);
    tc_test_send_str(fd, "partial line without end");
    if (i % 2) {
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
  }
  int fd = tc_test_connect(tc->port);
  tc_test_send_str(fd, "still\n");
  char buf[64];
  tc_test_recv_until(fd, buf, sizeof buf, "\n", 1);
  TC_CHECK(strcmp(buf, "echo:still\n") == 0);
  close(fd);
  usleep(100000);
}

static void test_abrupt_disconnects(void) {
  fixture_t fx;
  fixture_init(&fx);
  tc_test_run_client(&fx.loop, tc_io_listener_port(fx.l), client_reset, &fx);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  TC_CHECK_EQ_INT(fx.closes, 51);
  TC_CHECK_EQ_INT(tc_io_conn_count(fx.io), 0);
  fixture_done(&fx);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  TC_RUN(test_partial_and_pipelined);
  TC_RUN(test_pause_resume);
  TC_RUN(test_sendfile_order);
  TC_RUN(test_shared_output);
  TC_RUN(test_timeout);
  TC_RUN(test_abrupt_disconnects);
  return tc_test_end();
}
