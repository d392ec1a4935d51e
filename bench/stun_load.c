/* stun_load: a UDP STUN Binding load generator for bench/stun.sh.
 *
 * N connected UDP sockets each keep K Binding requests in flight for D seconds. Every answer is
 * checked: a Binding success response, a transaction id this socket has in flight, and an
 * XOR-MAPPED-ADDRESS equal to the socket's own address (the server sees loopback traffic as it
 * is). Nothing is retransmitted: a request unanswered after 1 s counts as a loss and its slot
 * sends a fresh one, so the load stays at N x K. One thread, epoll; answers are read with
 * recvmmsg and new requests leave with sendmmsg, so a wake-up costs two calls per socket.
 *
 * Prints one JSON line: requests sent, answers, req_per_sec (good answers per second), losses,
 * bad answers, late ones (an id no longer in flight), send errors, p50/p99 round trip in us, and
 * load_cpu_busy: this program's CPU time over the run's length (near 1: it set the pace).
 * Exit status 0, or 1 for bad usage or a set-up failure. */
#include "tincan/stun.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LOSS_NS 1000000000ull /* unanswered this long: lost */
#define SWEEP_NS 50000000ull  /* how often slots are checked for losses */
#define MAX_K 64              /* in flight per socket */
#define MAX_US 1000000        /* the latency histogram's last bucket (1 us each) */
#define ANSWER_CAP 1500       /* larger answers are truncated and count as bad */
#define REQ_CAP 28            /* header + FINGERPRINT */

typedef struct slot {
  uint64_t sent_ns; /* 0: free */
  uint8_t tid[TC_STUN_TID_LEN];
  uint8_t req[REQ_CAP];
  size_t req_len;
} slot_t;

typedef struct sock {
  int fd;
  struct sockaddr_storage local;
  slot_t *slots;
} sock_t;

typedef struct load {
  int n, k, fingerprint;
  sock_t *socks;
  uint64_t rng[2];
  tc_buf_t buf;
  uint32_t *hist; /* round trips by whole microseconds, MAX_US + 1 buckets */
  uint64_t sent, answers, losses, bad, late, send_errors;
  struct mmsghdr msgs[MAX_K];
  struct iovec iov[MAX_K];
  uint8_t rx[MAX_K][ANSWER_CAP];
} load_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift128+, seeded from the kernel: ids need to be unpredictable enough not to repeat,
 * not secret, and getrandom() per request would cost more than the server's work. */
static uint64_t rng_next(load_t *l) {
  uint64_t a = l->rng[0], b = l->rng[1];
  l->rng[0] = b;
  a ^= a << 23;
  l->rng[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
  return l->rng[1] + b;
}

/* Fills a free slot with a new request at time now. */
static int slot_arm(load_t *l, slot_t *s, uint64_t now) {
  uint64_t r0 = rng_next(l), r1 = rng_next(l);
  memcpy(s->tid, &r0, 8);
  memcpy(s->tid + 8, &r1, 4);
  tc_stun_builder_t b;
  tc_buf_reset(&l->buf);
  tc_stun_build_begin(&b, &l->buf, TC_STUN_BINDING, TC_STUN_REQUEST, s->tid);
  if (l->fingerprint) tc_stun_build_fingerprint(&b);
  ssize_t len = tc_stun_build_end(&b);
  if (len < 0 || (size_t)len > sizeof s->req) return -1;
  memcpy(s->req, tc_buf_data(&l->buf), (size_t)len);
  s->req_len = (size_t)len;
  s->sent_ns = now;
  return 0;
}

/* Sends a new request from every free slot of the socket. A request the kernel refuses stays
 * armed and turns into a loss a second later, as one the network dropped would. */
static void sock_refill(load_t *l, sock_t *so, uint64_t now) {
  unsigned n = 0;
  for (int i = 0; i < l->k; i++) {
    slot_t *s = &so->slots[i];
    if (s->sent_ns || slot_arm(l, s, now)) continue;
    l->iov[n] = (struct iovec){.iov_base = s->req, .iov_len = s->req_len};
    l->msgs[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &l->iov[n], .msg_iovlen = 1}};
    n++;
  }
  unsigned done = 0;
  while (done < n) {
    int r = sendmmsg(so->fd, l->msgs + done, n - done, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += (unsigned)r;
  }
  l->sent += n;
  l->send_errors += n - done;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* One answer on socket so: frees the slot it answers and counts it as good or bad. */
static void on_answer(load_t *l, sock_t *so, const uint8_t *p, size_t len, int truncated,
                      uint64_t now) {
  tc_stun_msg_t m;
  if (tc_stun_msg_parse(p, len, &m) == TC_EPROTO) {
    l->bad++; /* no header to find its slot by; the slot will time out */
    return;
  }
  slot_t *s = NULL;
  for (int i = 0; i < l->k && !s; i++)
    if (so->slots[i].sent_ns && !memcmp(so->slots[i].tid, m.tid, TC_STUN_TID_LEN))
      s = &so->slots[i];
  if (!s) {
    l->late++;
    return;
  }
  uint64_t rtt = (now - s->sent_ns) / 1000;
  s->sent_ns = 0;
  tc_stun_attr_t a;
  struct sockaddr_storage mapped;
  if (truncated || m.len != len || m.cls != TC_STUN_SUCCESS || m.method != TC_STUN_BINDING ||
      tc_stun_check_fingerprint(&m) == TC_EPROTO ||
      tc_stun_attr_find(&m, TC_STUN_ATTR_XOR_MAPPED_ADDRESS, &a) != 0 ||
      tc_stun_attr_xor_addr(&m, &a, &mapped) != 0 || !same_addr(&mapped, &so->local)) {
    l->bad++;
    return;
  }
  l->answers++;
  l->hist[rtt > MAX_US ? MAX_US : rtt]++;
}

/* Reads every answer waiting on the socket, then refills its slots. */
static void sock_read(load_t *l, sock_t *so) {
  for (;;) {
    for (int i = 0; i < l->k; i++) {
      l->iov[i] = (struct iovec){.iov_base = l->rx[i], .iov_len = ANSWER_CAP};
      l->msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &l->iov[i], .msg_iovlen = 1}};
    }
    int r = recvmmsg(so->fd, l->msgs, (unsigned)l->k, MSG_DONTWAIT, NULL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* EAGAIN, or ECONNREFUSED for a request that met a closed port */
    uint64_t now = now_ns();
    for (int i = 0; i < r; i++)
      on_answer(l, so, l->rx[i], l->msgs[i].msg_len, !!(l->msgs[i].msg_hdr.msg_flags & MSG_TRUNC),
                now);
    if (r < l->k) break;
  }
  sock_refill(l, so, now_ns());
}

/* Frees the slots that have waited too long, counting them as losses, and refills them. */
static void sweep(load_t *l, uint64_t now) {
  for (int j = 0; j < l->n; j++) {
    sock_t *so = &l->socks[j];
    int freed = 0;
    for (int i = 0; i < l->k; i++) {
      slot_t *s = &so->slots[i];
      if (s->sent_ns && now - s->sent_ns >= LOSS_NS) {
        s->sent_ns = 0;
        l->losses++;
        freed = 1;
      }
    }
    if (freed) sock_refill(l, so, now);
  }
}

static uint64_t percentile(const load_t *l, double q) {
  if (!l->answers) return 0;
  uint64_t want = (uint64_t)((double)l->answers * q), seen = 0;
  if (want < 1) want = 1;
  for (uint64_t us = 0; us <= MAX_US; us++)
    if ((seen += l->hist[us]) >= want) return us;
  return MAX_US;
}

static int open_sockets(load_t *l, int ep, const struct addrinfo *ai) {
  for (int j = 0; j < l->n; j++) {
    sock_t *so = &l->socks[j];
    so->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof so->local;
    if (so->fd < 0 || connect(so->fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        getsockname(so->fd, (struct sockaddr *)&so->local, &len) < 0) {
      fprintf(stderr, "stun_load: socket %d: %s\n", j, strerror(errno));
      return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)j};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, so->fd, &ev) < 0) {
      fprintf(stderr, "stun_load: epoll: %s\n", strerror(errno));
      return -1;
    }
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: stun_load [-c SOCKETS] [-k IN_FLIGHT] [-d SECONDS] [-f] HOST PORT\n"
          "  -c  UDP sockets (default 64)\n"
          "  -k  requests in flight per socket, 1..%d (default 4)\n"
          "  -d  seconds of load (default 10)\n"
          "  -f  add FINGERPRINT to every request\n",
          MAX_K);
}

int main(int argc, char **argv) {
  load_t *l = calloc(1, sizeof *l);
  if (!l) return 1;
  l->n = 64;
  l->k = 4;
  double secs = 10;
  int opt;
  while ((opt = getopt(argc, argv, "c:k:d:fh")) != -1) {
    switch (opt) {
      case 'c':
        l->n = atoi(optarg);
        break;
      case 'k':
        l->k = atoi(optarg);
        break;
      case 'd':
        secs = atof(optarg);
        break;
      case 'f':
        l->fingerprint = 1;
        break;
      default:
        usage();
        return 1;
    }
  }
  if (argc - optind != 2 || l->n < 1 || l->k < 1 || l->k > MAX_K || !(secs > 0)) {
    usage();
    return 1;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *ai;
  int gr = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
  if (gr) {
    fprintf(stderr, "stun_load: %s port %s: %s\n", argv[optind], argv[optind + 1],
            gai_strerror(gr));
    return 1;
  }
  l->socks = calloc((size_t)l->n, sizeof *l->socks);
  l->hist = calloc(MAX_US + 1, sizeof *l->hist);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!l->socks || !l->hist || ep < 0 ||
      getrandom(l->rng, sizeof l->rng, 0) != (ssize_t)sizeof l->rng) {
    fprintf(stderr, "stun_load: set-up failed: %s\n", strerror(errno));
    return 1;
  }
  l->rng[0] |= 1; /* xorshift must not start from all zeros */
  for (int j = 0; j < l->n; j++) {
    l->socks[j].fd = -1;
    l->socks[j].slots = calloc((size_t)l->k, sizeof(slot_t));
    if (!l->socks[j].slots) return 1;
  }
  if (open_sockets(l, ep, ai)) return 1;
  freeaddrinfo(ai);

  uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), last_sweep = start, now = start;
  for (int j = 0; j < l->n; j++) sock_refill(l, &l->socks[j], start);
  struct epoll_event evs[256];
  while (now < end) {
    int r = epoll_wait(ep, evs, 256, 10);
    if (r < 0 && errno != EINTR) {
      fprintf(stderr, "stun_load: epoll_wait: %s\n", strerror(errno));
      return 1;
    }
    for (int i = 0; i < r; i++) sock_read(l, &l->socks[evs[i].data.u32]);
    now = now_ns();
    if (now - last_sweep >= SWEEP_NS) {
      sweep(l, now);
      last_sweep = now;
    }
  }
  double elapsed = (double)(now - start) / 1e9;
  /* Its own CPU time tells whether the load generator, rather than the server, set the pace. */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  printf("{\"sockets\":%d,\"in_flight\":%d,\"fingerprint\":%s,\"seconds\":%.3f,"
         "\"requests\":%llu,\"answers\":%llu,\"req_per_sec\":%.0f,\"losses\":%llu,"
         "\"bad\":%llu,\"late\":%llu,\"send_errors\":%llu,\"p50_us\":%llu,\"p99_us\":%llu,"
         "\"load_cpu_busy\":%.2f}\n",
         l->n, l->k, l->fingerprint ? "true" : "false", elapsed, (unsigned long long)l->sent,
         (unsigned long long)l->answers, (double)l->answers / elapsed,
         (unsigned long long)l->losses, (unsigned long long)l->bad, (unsigned long long)l->late,
         (unsigned long long)l->send_errors, (unsigned long long)percentile(l, 0.50),
         (unsigned long long)percentile(l, 0.99), cpu / elapsed);
  for (int j = 0; j < l->n; j++) {
    close(l->socks[j].fd);
    free(l->socks[j].slots);
  }
  close(ep);
  tc_buf_free(&l->buf);
  free(l->socks);
  free(l->hist);
  free(l);
  return 0;
}
