/* The kernel's floor under a broadcast: what one 40-byte send() to each of N loopback TCP
 * connections costs the sender in CPU time, with nothing else around it (no event loop, no
 * framing, no bookkeeping). A reader process on the other CPU drains every connection, and the
 * sender waits for it after each round, so that one broadcast is in flight at a time, as with
 * `tcload --fanout -k 1`. A server's CPU per delivery cannot go below this figure on the same
 * machine, however little work of its own it does.
 *
 *   send_floor [CONNECTIONS (1000)] [ROUNDS (2000)]
 *
 * Prints one line: the sender's user and system CPU time per send, in microseconds. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double us(struct timeval a, struct timeval b) {
  return (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_usec - a.tv_usec);
}

/* Drains every connection, and writes one byte to ack per round's worth of bytes. */
static void reader(const int *fds, int n, long rounds, int ack) {
  pin(1);
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < n; i++) {
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fds[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0) die("epoll_ctl");
  }
  long per_round = (long)n * 40, want = per_round * rounds, got = 0, mark = per_round;
  struct epoll_event ev[256];
  char buf[4096];
  while (got < want) {
    int k = epoll_wait(ep, ev, 256, -1);
    for (int j = 0; j < k; j++) {
      ssize_t r = read(ev[j].data.fd, buf, sizeof buf);
      if (r > 0) got += r;
    }
    for (; got >= mark && mark <= want; mark += per_round) {
      char c = 0;
      if (write(ack, &c, 1) != 1) die("write");
    }
  }
  _exit(0);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  long rounds = argc > 2 ? atol(argv[2]) : 2000;
  if (n < 1 || rounds < 1) {
    fprintf(stderr, "usage: send_floor [CONNECTIONS] [ROUNDS]\n");
    return 2;
  }
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4096) < 0 ||
      getsockname(l, (struct sockaddr *)&a, &alen) < 0)
    die("listen");
  int *cl = calloc((size_t)n, sizeof *cl), *sv = calloc((size_t)n, sizeof *sv);
  if (!cl || !sv) die("calloc");
  for (int i = 0; i < n; i++) {
    cl[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (cl[i] < 0 || connect(cl[i], (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    if ((sv[i] = accept(l, NULL, NULL)) < 0) die("accept");
    setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int ack[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ack) < 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) reader(cl, n, rounds, ack[1]);
  pin(0);
  char msg[40];
  memset(msg, 'x', sizeof msg);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  for (long k = 0; k < rounds; k++) {
    for (int i = 0; i < n; i++) send(sv[i], msg, sizeof msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    char c;
    if (read(ack[0], &c, 1) != 1) die("read");
  }
  getrusage(RUSAGE_SELF, &r1);
  double sends = (double)n * (double)rounds;
  printf("send floor: %d connections x %ld rounds: user %.3f us, system %.3f us per send\n", n,
         rounds, us(r0.ru_utime, r1.ru_utime) / sends, us(r0.ru_stime, r1.ru_stime) / sends);
  waitpid(pid, NULL, 0);
  return 0;
}
