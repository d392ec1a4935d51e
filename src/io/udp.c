/* UDP sockets on libuv: see include/tincan/io.h. */
#include "tincan/io.h"

#include <stdlib.h>
#include <sys/socket.h>

/* libuv receives up to this many datagrams per system call (recvmmsg), each in a 64 KiB slice
 * of the buffer, so that a busy socket costs one call per batch rather than per datagram. */
#define TC_IO_UDP_BATCH 16
#define TC_IO_UDP_SLICE 65536
/* The kernel's queue for the socket: the default (about 200 KiB) overflows when the process is
 * descheduled for a moment under load, and every overflow is a lost datagram. */
#define TC_IO_UDP_RCVBUF (4 << 20)

struct tc_io_udp {
  uv_udp_t udp; /* first: a handle pointer is a socket pointer */
  tc_io_udp_recv_fn on_recv;
  void *ud;
  int port;
  uint8_t buf[TC_IO_UDP_BATCH * TC_IO_UDP_SLICE];
};

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tc_io_udp_t *u = (tc_io_udp_t *)h;
  *buf = uv_buf_init((char *)u->buf, sizeof u->buf);
}

/* As large a kernel queue as allowed: root may exceed net.core.rmem_max, others get up to it. */
static void udp_grow_rcvbuf(tc_io_udp_t *u) {
  uv_os_fd_t fd;
  int size = TC_IO_UDP_RCVBUF;
  if (uv_fileno((uv_handle_t *)&u->udp, &fd) != 0) return;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                     unsigned flags) {
  tc_io_udp_t *u = (tc_io_udp_t *)h;
  /* n == 0 with no address only says the read is over (or, after a batch, that its buffer is
   * free again: it is ours for good); errors on an unconnected UDP socket (ICMP port
   * unreachable for an earlier send) concern nobody in particular. */
  if (n <= 0 || !from || (flags & UV_UDP_PARTIAL)) return;
  /* In a batch, each datagram sits in its own slice of the buffer. */
  u->on_recv(u, (uint8_t *)buf->base, (size_t)n, from, u->ud);
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
  uv_udp_init_ex(tc_io_loop(io), &u->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
  int r = uv_udp_bind(&u->udp, (struct sockaddr *)&ss, 0);
  if (r == 0) {
    udp_grow_rcvbuf(u);
    r = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
  }
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
