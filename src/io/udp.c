/* UDP sockets on libuv: see include/tincan/io.h. */
#include "tincan/io.h"

#include <stdlib.h>

#define TC_IO_UDP_BUF 65536

struct tc_io_udp {
  uv_udp_t udp; /* first: a handle pointer is a socket pointer */
  tc_io_udp_recv_fn on_recv;
  void *ud;
  int port;
  uint8_t buf[TC_IO_UDP_BUF];
};

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tc_io_udp_t *u = (tc_io_udp_t *)h;
  *buf = uv_buf_init((char *)u->buf, sizeof u->buf);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                     unsigned flags) {
  (void)buf;
  tc_io_udp_t *u = (tc_io_udp_t *)h;
  /* n == 0 with no address only says the read is over; errors on an unconnected UDP socket
   * (ICMP port unreachable for an earlier send) concern nobody in particular. */
  if (n <= 0 || !from || (flags & UV_UDP_PARTIAL)) return;
  u->on_recv(u, u->buf, (size_t)n, from, u->ud);
}

static void udp_closed(uv_handle_t *h) {
  free(h);
}

int tc_io_udp_bind(tc_io_t *io, const char *host, int port, tc_io_udp_recv_fn on_recv, void *ud,
                   tc_io_udp_t **out) {
  struct sockaddr_storage ss;
  if (port < 0 || port > 65535) return TC_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return TC_EINVAL;
  tc_io_udp_t *u = calloc(1, sizeof *u);
  if (!u) return TC_ENOMEM;
  u->on_recv = on_recv;
  u->ud = ud;
  uv_udp_init(tc_io_loop(io), &u->udp);
  int r = uv_udp_bind(&u->udp, (struct sockaddr *)&ss, 0);
  if (r == 0) r = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
  if (r < 0) {
    uv_close((uv_handle_t *)&u->udp, udp_closed);
    return r == UV_EADDRINUSE ? TC_EADDRINUSE : r == UV_EACCES ? TC_EACCES : TC_ESYS;
  }
  int len = sizeof ss;
  uv_udp_getsockname(&u->udp, (struct sockaddr *)&ss, &len);
  u->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  *out = u;
  return 0;
}

int tc_io_udp_port(const tc_io_udp_t *u) {
  return u->port;
}

int tc_io_udp_send(tc_io_udp_t *u, const void *p, size_t len, const struct sockaddr *to) {
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
  int r = uv_udp_try_send(&u->udp, &b, 1, to);
  if (r >= 0) return 0;
  return r == UV_EAGAIN || r == UV_ENOBUFS ? TC_EAGAIN : TC_EIO;
}

void tc_io_udp_close(tc_io_udp_t *u) {
  if (u) uv_close((uv_handle_t *)&u->udp, udp_closed);
}
