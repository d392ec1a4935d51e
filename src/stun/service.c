/* The STUN server on the I/O layer: one UDP socket and one TCP listener on the same port, both
 * answered by the sans-I/O responder (tc_stun_server_handle). See include/tincan/stun.h. */
#include "tincan/stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A TCP client that sends nothing for this long is closed (RFC 8489 section 6.2.2 asks servers to
 * keep a connection open for at least ten seconds after a request, so clients can reuse it). */
#define TCP_IDLE_MS 30000
/* UDP sockets at most: one per local address when the host is a wildcard. */
#define MAX_UDP 16

typedef struct stun_conn {
  struct stun_conn *prev, *next;
  tc_stun_service_t *svc;
  tc_io_conn_t *c;
  struct sockaddr_storage peer;
} stun_conn_t;

struct tc_stun_service {
  tc_io_t *io;
  tc_stun_server_cfg_t cfg;
  const tc_logger_t *log;
  tc_io_udp_t *udp[MAX_UDP]; /* one per address served */
  size_t nudp;
  tc_io_listener_t *tcp;
  tc_io_timeouts_t *idle;
  stun_conn_t *conns;
  tc_buf_t out; /* one response at a time; kept to save an allocation per datagram */
  int port;
  unsigned closed : 1;
};

static void svc_free(tc_stun_service_t *svc) {
  tc_io_timeouts_free(svc->idle);
  tc_buf_free(&svc->out);
  free(svc);
}

/* ---- UDP ------------------------------------------------------------------------------------ */

static void on_datagram(tc_io_udp_t *u, uint8_t *p, size_t len, const struct sockaddr *from,
                        void *ud) {
  tc_stun_service_t *svc = ud;
  tc_buf_reset(&svc->out);
  if (tc_stun_server_handle(&svc->cfg, p, len, from, &svc->out) == 1)
    tc_io_udp_send(u, tc_buf_data(&svc->out), svc->out.len, from);
}

/* ---- TCP ------------------------------------------------------------------------------------ */

/* Messages follow one another on the stream, each as long as its header says (RFC 8489 section
 * 6.2.2: no framing of its own). Bytes that cannot begin a STUN message end the connection: there
 * is no way to find the next message after them. */
static ssize_t tcp_on_data(tc_io_conn_t *c, uint8_t *p, size_t len) {
  stun_conn_t *sc = tc_io_conn_data(c);
  tc_stun_service_t *svc = sc->svc;
  size_t used = 0;
  while (used < len) {
    ssize_t n = tc_stun_frame_len(p + used, len - used);
    if (n == TC_EAGAIN || (n > 0 && (size_t)n > len - used)) break;
    if (n < 0) {
      tc_log(svc->log, TC_LOG_DEBUG, "stun", "%s: not STUN, closing", tc_io_conn_peer(c));
      return TC_ECLOSED;
    }
    tc_buf_reset(&svc->out);
    if (tc_stun_server_handle(&svc->cfg, p + used, (size_t)n, (struct sockaddr *)&sc->peer,
                              &svc->out) == 1 &&
        tc_io_conn_write(c, tc_buf_data(&svc->out), svc->out.len) < 0)
      return TC_ECLOSED;
    used += (size_t)n;
  }
  tc_io_conn_set_timeout(c, svc->idle);
  return (ssize_t)used;
}

static void tcp_on_close(tc_io_conn_t *c, int err) {
  (void)err;
  stun_conn_t *sc = tc_io_conn_data(c);
  tc_stun_service_t *svc = sc->svc;
  if (sc->prev)
    sc->prev->next = sc->next;
  else
    svc->conns = sc->next;
  if (sc->next) sc->next->prev = sc->prev;
  free(sc);
  if (svc->closed && !svc->conns) svc_free(svc);
}

static const tc_io_handler_t tcp_handler = {.on_data = tcp_on_data, .on_close = tcp_on_close};

static void on_accept(tc_io_listener_t *l, tc_io_conn_t *c, void *ud) {
  (void)l;
  tc_stun_service_t *svc = ud;
  stun_conn_t *sc = calloc(1, sizeof *sc);
  if (!sc || tc_io_conn_peer_addr(c, &sc->peer) < 0) {
    free(sc);
    tc_io_conn_abort(c, TC_ENOMEM);
    return;
  }
  sc->svc = svc;
  sc->c = c;
  sc->next = svc->conns;
  if (svc->conns) svc->conns->prev = sc;
  svc->conns = sc;
  tc_io_conn_set_handler(c, &tcp_handler, sc);
  tc_io_conn_set_timeout(c, svc->idle);
}

/* ---- Service -------------------------------------------------------------------------------- */

static int is_wildcard(const char *host) {
  return !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* The addresses to bind UDP on. For a wildcard host, each address of the machine's interfaces
 * that it covers: a UDP answer leaves from the address its socket is bound to, and one sent from
 * a wildcard socket leaves from whichever address the route picks, which on a machine with more
 * than one need not be the address the request came to; a NAT in front of the client then drops
 * it. (TCP has no such problem: answers go back on the connection.) Interfaces that appear after
 * start-up are not served. Returns the count (at least 1: host itself when nothing fits). */
static size_t udp_hosts(const char *host, char (*out)[INET6_ADDRSTRLEN], size_t cap) {
  size_t n = 0;
  uv_interface_address_t *ifs;
  int count;
  if (is_wildcard(host) && uv_interface_addresses(&ifs, &count) == 0) {
    int v6 = strchr(host, ':') != NULL;
    for (int i = 0; i < count && n < cap; i++) {
      char name[INET6_ADDRSTRLEN];
      if (ifs[i].address.address4.sin_family == AF_INET) {
        uv_ip4_name(&ifs[i].address.address4, name, sizeof name);
      } else if (v6 && ifs[i].address.address6.sin6_family == AF_INET6 &&
                 !IN6_IS_ADDR_LINKLOCAL(&ifs[i].address.address6.sin6_addr)) {
        /* Link-local addresses would need their interface's scope; browsers do not use them
         * for STUN servers. */
        uv_ip6_name(&ifs[i].address.address6, name, sizeof name);
      } else {
        continue;
      }
      size_t j = 0;
      while (j < n && strcmp(out[j], name)) j++;
      if (j == n) memcpy(out[n++], name, sizeof name);
    }
    uv_free_interface_addresses(ifs, count);
  }
  if (!n) snprintf(out[n++], INET6_ADDRSTRLEN, "%s", host);
  return n;
}

static void close_udp(tc_stun_service_t *svc) {
  for (size_t i = 0; i < svc->nudp; i++) tc_io_udp_close(svc->udp[i]);
  svc->nudp = 0;
}

/* Binds UDP on every address of udp_hosts, all on one port (0: any), then TCP on host and that
 * port. With port 0 another program may hold that port for one of them: then a few more tries,
 * each with a fresh port. */
static int bind_all(tc_stun_service_t *svc, const tc_stun_service_config_t *cfg) {
  char hosts[MAX_UDP][INET6_ADDRSTRLEN];
  size_t nhosts = cfg->udp ? udp_hosts(cfg->host, hosts, MAX_UDP) : 0;
  int r = 0;
  for (int attempt = 0; attempt < (cfg->port ? 1 : 8); attempt++) {
    int port = cfg->port;
    for (size_t i = 0; i < nhosts && r == 0; i++) {
      r = tc_io_udp_bind(svc->io, hosts[i], port, on_datagram, svc, &svc->udp[svc->nudp]);
      if (r == 0 && !port) port = tc_io_udp_port(svc->udp[svc->nudp]);
      if (r == 0) svc->nudp++;
    }
    if (r == 0 && cfg->tcp) r = tc_io_listen(svc->io, cfg->host, port, on_accept, svc, &svc->tcp);
    if (r == 0) {
      svc->port = svc->tcp ? tc_io_listener_port(svc->tcp) : port;
      return 0;
    }
    close_udp(svc);
    if (r != TC_EADDRINUSE) break;
    r = 0;
  }
  return r ? r : TC_EADDRINUSE;
}

int tc_stun_service_new(tc_io_t *io, const tc_stun_service_config_t *cfg, tc_stun_service_t **out) {
  if (!cfg->udp && !cfg->tcp) return TC_EINVAL;
  tc_stun_service_t *svc = calloc(1, sizeof *svc);
  if (!svc) return TC_ENOMEM;
  svc->io = io;
  svc->log = cfg->log;
  svc->cfg = (tc_stun_server_cfg_t){.software = cfg->software};
  int r = tc_io_timeouts_new(io, TCP_IDLE_MS, &svc->idle);
  if (!r) r = bind_all(svc, cfg);
  if (r) {
    svc_free(svc);
    return r;
  }
  *out = svc;
  return 0;
}

int tc_stun_service_port(const tc_stun_service_t *svc) {
  return svc->port;
}

void tc_stun_service_close(tc_stun_service_t *svc) {
  if (!svc || svc->closed) return;
  svc->closed = 1;
  close_udp(svc);
  if (svc->tcp) tc_io_listener_close(svc->tcp);
  svc->tcp = NULL;
  if (!svc->conns) {
    svc_free(svc);
    return;
  }
  /* Each connection's close comes back through tcp_on_close; the last one frees the service. */
  for (stun_conn_t *sc = svc->conns; sc; sc = sc->next) tc_io_conn_abort(sc->c, 0);
}
