/* tincan I/O: the one layer that owns sockets, timers and signals, on libuv.
 *
 * Protocol code plugs into a connection through a tc_io_handler_t: it is handed bytes and returns
 * how many it consumed; it queues output with tc_io_conn_write, which copies. Output is flushed
 * once per loop turn with one write per connection (the loop's "before sleep" phase), so a handler
 * that answers many pipelined messages costs one syscall, not one per answer.
 *
 * Memory: an idle connection holds no read buffer. Reads land in one buffer shared by the whole
 * loop; only bytes a handler leaves unconsumed (a partial message) are copied to the connection.
 *
 * Lifetime: tc_io_conn_close marks a connection and frees it after the current callback returns,
 * so it is always safe to close from inside a handler. on_close is the last callback a connection
 * gets; its memory is released when on_close returns.
 *
 * Threads: everything here runs on the loop's thread and must be called from it.
 *
 * Signals: a peer that resets mid-write raises SIGPIPE; the application must ignore it
 * (signal(SIGPIPE, SIG_IGN)), as with libuv itself. The library does not touch process state.
 */
#ifndef TINCAN_IO_H
#define TINCAN_IO_H

#include "tincan/base.h"

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_io tc_io_t;
typedef struct tc_io_conn tc_io_conn_t;
typedef struct tc_io_listener tc_io_listener_t;
typedef struct tc_io_timeouts tc_io_timeouts_t;

typedef struct tc_io_handler {
  /* Bytes arrived. Returns how many it consumed (0..len), or a negative TC_E* code to close the
   * connection at once (queued output is still flushed first when the code is TC_ECLOSED).
   * Unconsumed bytes are kept and handed back, with whatever arrives next, on the next call.
   * While bytes remain and the handler consumed some and did not pause reading, it is called
   * again at once with the rest (so one call may handle one message). The bytes belong to the
   * I/O layer but the handler may rewrite them in place (a WebSocket unmasks there); unconsumed
   * bytes come back as the handler left them. */
  ssize_t (*on_data)(tc_io_conn_t *c, uint8_t *p, size_t len);
  /* Everything queued has been written to the socket. Optional. */
  void (*on_drain)(tc_io_conn_t *c);
  /* The deadline set with tc_io_conn_set_timeout passed. Optional: without it, the connection
   * closes with TC_ETIMEDOUT. */
  void (*on_timeout)(tc_io_conn_t *c);
  /* The connection is gone: err is 0 after a clean close by us, TC_ECLOSED when the peer closed,
   * or another code. The last callback; the handler's state must be released here. */
  void (*on_close)(tc_io_conn_t *c, int err);
} tc_io_handler_t;

typedef struct tc_io_config {
  size_t read_buffer_size; /* the shared read buffer; default 64 KiB */
  size_t max_output;       /* queued output beyond which tc_io_conn_write fails; default 64 MiB */
  const tc_logger_t *log;
} tc_io_config_t;

/* Creates the I/O context on loop (which the caller owns and runs). cfg may be NULL. */
int tc_io_new(uv_loop_t *loop, const tc_io_config_t *cfg, tc_io_t **out);
/* Closes every listener and aborts every connection (queued output is dropped). The loop must
 * run afterwards for the closes to finish;
 * tc_io_free then releases the context. */
void tc_io_shutdown(tc_io_t *io);
void tc_io_free(tc_io_t *io);
uv_loop_t *tc_io_loop(tc_io_t *io);
/* The loop's cached clock in milliseconds (uv_now), the "now" passed to sans-I/O cores. */
uint64_t tc_io_now(tc_io_t *io);
size_t tc_io_conn_count(tc_io_t *io);

/* Called once per accepted connection; set its handler (tc_io_conn_set_handler) before returning,
 * or close it. */
typedef void (*tc_io_accept_fn)(tc_io_listener_t *l, tc_io_conn_t *c, void *ud);

/* Listens on TCP host:port ("127.0.0.1", "::", "0.0.0.0"). port 0 picks one: see
 * tc_io_listener_port. 0, TC_EADDRINUSE, TC_EINVAL or TC_ESYS. */
int tc_io_listen(tc_io_t *io, const char *host, int port, tc_io_accept_fn on_accept, void *ud,
                 tc_io_listener_t **out);
int tc_io_listener_port(const tc_io_listener_t *l);
/* Stops accepting; open connections stay. */
void tc_io_listener_close(tc_io_listener_t *l);

/* Replaces the connection's handler and its user data. Bytes the old handler left unconsumed go
 * to the new one (this is how an HTTP Upgrade hands over a connection). */
void tc_io_conn_set_handler(tc_io_conn_t *c, const tc_io_handler_t *h, void *ud);
void *tc_io_conn_data(const tc_io_conn_t *c);
tc_io_t *tc_io_conn_io(const tc_io_conn_t *c);
/* The peer's address as text ("127.0.0.1:5555"), in a buffer of the I/O context that the next
 * call overwrites. */
const char *tc_io_conn_peer(tc_io_conn_t *c);

/* The peer's address. 0, or TC_ESYS when the socket has none (it is closing). */
int tc_io_conn_peer_addr(tc_io_conn_t *c, struct sockaddr_storage *out);

/* What the kernel knows of a TCP connection (Linux TCP_INFO), for tools that show it. */
typedef struct tc_io_tcp_info {
  uint32_t rtt_us;    /* smoothed round-trip time */
  uint32_t rttvar_us; /* its variation */
  uint32_t snd_cwnd;  /* congestion window, in segments */
  uint32_t snd_mss;   /* maximum segment size */
  uint32_t total_retrans;
} tc_io_tcp_info_t;
/* 0, or TC_ESYS when the kernel will not say. */
int tc_io_conn_tcp_info(tc_io_conn_t *c, tc_io_tcp_info_t *out);

/* Queues a copy of p[0..len) for sending. TC_ECLOSED after close, TC_E2BIG past max_output. */
int tc_io_conn_write(tc_io_conn_t *c, const void *p, size_t len);

/* Bytes that many connections send alike (a broadcast's frame), reference-counted. Its maker
 * sets refs to 1, p and len, and free, which tc_io_shared_unref calls when the last reference
 * goes. p[0..len) must not change while any reference is held. */
typedef struct tc_io_shared {
  size_t refs;
  const uint8_t *p;
  size_t len;
  void (*free)(struct tc_io_shared *m);
} tc_io_shared_t;
void tc_io_shared_unref(tc_io_shared_t *m);
/* Queues m's bytes, as tc_io_conn_write does. When nothing else waits to be sent, the
 * connection takes a reference instead of a copy and sends straight from m; otherwise, or once
 * more output is queued behind them, they are copied. Errors as tc_io_conn_write. */
int tc_io_conn_write_shared(tc_io_conn_t *c, tc_io_shared_t *m);
/* The output buffer itself, for serialisers that append in place; call tc_io_conn_wrote after. */
tc_buf_t *tc_io_conn_outbuf(tc_io_conn_t *c);
void tc_io_conn_wrote(tc_io_conn_t *c);
/* Queues len bytes of file fd from offset, after what is already queued. The connection takes
 * ownership of fd and closes it when sent or when the connection closes. */
int tc_io_conn_sendfile(tc_io_conn_t *c, int fd, uint64_t offset, uint64_t len);
/* Bytes queued and not yet written (buffers and files). */
uint64_t tc_io_conn_pending(const tc_io_conn_t *c);

/* Stops and restarts reading (backpressure). Resume also hands held bytes to the handler again,
 * from the loop, which is how a handler that returned 0 while busy asks for them once it is
 * ready; call it even when the connection was not paused. */
void tc_io_conn_pause(tc_io_conn_t *c);
void tc_io_conn_resume(tc_io_conn_t *c);

/* Closes after queued output is flushed (graceful, with a write-side shutdown), or at once
 * (abort, which drops queued output). err is passed to on_close. Idempotent. */
void tc_io_conn_close(tc_io_conn_t *c, int err);
void tc_io_conn_abort(tc_io_conn_t *c, int err);
int tc_io_conn_is_closing(const tc_io_conn_t *c);

/* TLS (OpenSSL 3). A context is shared by many connections and outlives them. */
typedef struct tc_io_tls_ctx tc_io_tls_ctx_t;
/* A server context from PEM files. 0, TC_ETLS (unreadable or mismatched), TC_ENOMEM. */
int tc_io_tls_server_ctx(const char *cert_file, const char *key_file, tc_io_tls_ctx_t **out);
/* A client context. verify: check the server's certificate against ca_file, or the system's
 * store when ca_file is NULL, and its name against the host connected to. */
int tc_io_tls_client_ctx(int verify, const char *ca_file, tc_io_tls_ctx_t **out);
void tc_io_tls_ctx_free(tc_io_tls_ctx_t *ctx);
/* Connections accepted from now on speak TLS; handlers only ever see plaintext. */
void tc_io_listener_set_tls(tc_io_listener_t *l, tc_io_tls_ctx_t *ctx);

/* Outgoing connections. on_connect gets the connection (set its handler there) once TCP is up
 * and, with tls, the handshake is done; or c == NULL and err (TC_ENAME, TC_ECONNREFUSED,
 * TC_ETLS, TC_ETIMEDOUT, TC_EIO). host may be a name or an address. */
typedef void (*tc_io_connect_fn)(tc_io_conn_t *c, int err, void *ud);
int tc_io_connect(tc_io_t *io, const char *host, int port, tc_io_tls_ctx_t *tls,
                  tc_io_connect_fn on_connect, void *ud);

/* UDP. A socket receives into a buffer of its own and hands each datagram to on_recv, whose
 * bytes are valid during the call only and may be rewritten in place. Sending never queues: a
 * datagram the kernel cannot take at once is dropped (TC_EAGAIN), as the network might have
 * dropped it, which every protocol over UDP already survives and which keeps a flood from
 * growing memory. A socket holds 1 MiB of buffer, to receive many datagrams per system call;
 * datagrams larger than 64 KiB are dropped unseen. */
typedef struct tc_io_udp tc_io_udp_t;
typedef void (*tc_io_udp_recv_fn)(tc_io_udp_t *u, uint8_t *p, size_t len,
                                  const struct sockaddr *from, void *ud);
/* Binds UDP host:port ("::" takes IPv4 too, as IPv4-mapped addresses); port 0 picks one. 0,
 * TC_EINVAL (bad address), TC_EADDRINUSE, TC_EACCES, TC_ESYS or TC_ENOMEM. */
int tc_io_udp_bind(tc_io_t *io, const char *host, int port, tc_io_udp_recv_fn on_recv, void *ud,
                   tc_io_udp_t **out);
int tc_io_udp_port(const tc_io_udp_t *u);
/* 0, TC_EAGAIN (dropped: the socket's send buffer is full) or TC_EIO. */
int tc_io_udp_send(tc_io_udp_t *u, const void *p, size_t len, const struct sockaddr *to);
/* Stops receiving and releases the socket (after the loop's next turn). */
void tc_io_udp_close(tc_io_udp_t *u);

/* Timeouts. A tc_io_timeouts_t is a queue of connections that all wait the same duration, so
 * arming and re-arming are O(1) (moving to the tail keeps it sorted) and one libuv timer serves
 * the whole queue. A connection waits in at most one queue at a time. */
int tc_io_timeouts_new(tc_io_t *io, uint64_t ms, tc_io_timeouts_t **out);
void tc_io_timeouts_free(tc_io_timeouts_t *q);
/* Arms (or re-arms) the connection's deadline at now + q's duration; NULL disarms. */
void tc_io_conn_set_timeout(tc_io_conn_t *c, tc_io_timeouts_t *q);

/* Calls fn once when the process gets SIGINT or SIGTERM. */
int tc_io_on_signal(tc_io_t *io, void (*fn)(tc_io_t *io, int signum, void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
