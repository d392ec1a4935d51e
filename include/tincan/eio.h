/* tincan Engine.IO v4: the transport under Socket.IO. HTTP long-polling and WebSocket, the upgrade
 * from one to the other, heartbeats, and a sans-I/O packet codec.
 *
 * The protocol is the README of the socketio/engine.io-protocol repository; where it is silent,
 * Node's engine.io 6.6 is the behaviour to match.
 *
 * Threads: everything runs on the loop thread. A socket is never freed inside one of its own
 * callbacks; after on_close it is gone.
 */
#ifndef TINCAN_EIO_H
#define TINCAN_EIO_H

#include "tincan/base.h"
#include "tincan/http.h"
#include "tincan/ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Packets (sans-I/O)
 * -------------------------------------------------------------------------- */

enum {
  TC_EIO_OPEN = 0,
  TC_EIO_CLOSE = 1,
  TC_EIO_PING = 2,
  TC_EIO_PONG = 3,
  TC_EIO_MESSAGE = 4,
  TC_EIO_UPGRADE = 5,
  TC_EIO_NOOP = 6,
};

typedef struct tc_eio_packet {
  int type;        /* TC_EIO_* */
  int binary;      /* a binary message (WebSocket binary frame, or "b" + base64 when polling) */
  tc_slice_t data; /* text after the type digit; for binary: the decoded bytes (see below) */
} tc_eio_packet_t;

/* Decodes one packet from a WebSocket message. Text: type digit then data, or "b" + base64 (a
 * client that forces base64) for a binary message, decoded in place, which is why p is writable.
 * Binary: a message packet whose data is the whole frame. 0 or TC_EPROTO. The slice points into
 * p. Base64 is read as Node reads it: both alphabets, other characters skipped, '=' ends it. */
int tc_eio_decode_ws(uint8_t *p, size_t len, int binary, tc_eio_packet_t *out);

/* Splits an HTTP long-polling payload (packets separated by 0x1e). Calls fn for each packet in
 * order; binary packets ("b" + base64) are decoded in place, which is why p is writable. Stops
 * at the first malformed packet with TC_EPROTO, or when fn returns non-zero (that value). */
int tc_eio_decode_payload(uint8_t *p, size_t len, int (*fn)(const tc_eio_packet_t *pkt, void *ud),
                          void *ud);

/* Appends one packet in the polling payload form ("b" + base64 for binary), preceded by 0x1e
 * when out already holds a packet of this payload (first says whether it is the first). */
int tc_eio_encode_polling(tc_buf_t *out, int first, int type, int binary, const void *p,
                          size_t len);

/* ---- Server -------------------------------------------------------------------------------------
 */

typedef struct tc_eio_server tc_eio_server_t;
typedef struct tc_eio_socket tc_eio_socket_t;

typedef struct tc_eio_handlers {
  /* A new session completed its handshake. */
  void (*on_open)(tc_eio_socket_t *s, void *ud);
  /* A message packet. data is valid during the call only. */
  void (*on_message)(tc_eio_socket_t *s, int binary, const uint8_t *data, size_t len, void *ud);
  /* Everything queued so far has been handed to the transport. Optional. */
  void (*on_drain)(tc_eio_socket_t *s, void *ud);
  /* The session ended. reason is Node's: "transport close", "transport error", "ping timeout",
   * "parse error", "forced close", "server shutting down". The last callback. tc_eio_close gives
   * "forced close"; tc_eio_server_close_all and freeing the HTTP server give "server shutting
   * down"; a close packet from the client gives "transport close" (over WebSocket too, where
   * Node ignores it until the ping timeout). */
  void (*on_close)(tc_eio_socket_t *s, const char *reason, void *ud);
} tc_eio_handlers_t;

typedef struct tc_eio_config {
  const char *path;            /* default "/engine.io/" (Socket.IO uses "/socket.io/") */
  uint64_t ping_interval_ms;   /* default 25000 */
  uint64_t ping_timeout_ms;    /* default 20000 */
  uint64_t upgrade_timeout_ms; /* default 10000 */
  /* maxHttpBufferSize: default 1000000 bytes. A larger POST gets 413 (the session stays), a
   * larger WebSocket message closes with 1009. The HTTP server's max_body must be at least this,
   * or it refuses such POSTs itself (and closes their connection). */
  uint64_t max_payload;
  unsigned no_polling : 1; /* transports: both by default */
  unsigned no_websocket : 1;
  unsigned ws_deflate : 1; /* permessage-deflate on the WebSocket transport (off, as Node) */
  /* CORS: NULL or "" off; "*" any origin; else a comma-separated list of allowed origins. As
   * Node's cors middleware: "*" is sent as "*" (credentialed browser requests then fail: list
   * the origins instead), a single origin is sent as is, and from a list the request's Origin
   * is sent back when listed. Preflights (OPTIONS) get 204. */
  const char *cors_origin;
  unsigned cors_credentials : 1;
  /* Return 0 to allow a new session's first request, non-zero to refuse it with 403
   * {"code":4,"message":"Forbidden"}. Optional. */
  int (*allow_request)(const tc_http_request_t *req, void *ud);
  const tc_logger_t *log;
} tc_eio_config_t;

/* Serves Engine.IO on cfg->path of the HTTP server (every path under it, as Node). cfg and h are
 * copied; cfg NULL means the defaults. Freed with the HTTP server: sessions still open then are
 * closed with "server shutting down". */
int tc_eio_server_new(tc_http_server_t *http, const tc_eio_config_t *cfg,
                      const tc_eio_handlers_t *h, void *ud, tc_eio_server_t **out);
size_t tc_eio_server_count(const tc_eio_server_t *srv);
/* Closes every session ("server shutting down"). */
void tc_eio_server_close_all(tc_eio_server_t *srv);

/* A message packet shared by many sockets (a broadcast): its encodings are made once and
 * reference-counted, so a broadcast to 10,000 sockets writes the same bytes 10,000 times
 * without encoding them 10,000 times. */
typedef struct tc_eio_shared tc_eio_shared_t;
tc_eio_shared_t *tc_eio_shared_new(int binary, const void *p, size_t len);
void tc_eio_shared_unref(tc_eio_shared_t *m);

/* Queues a message packet: over WebSocket it is written at once; over polling it goes with the
 * waiting GET, or the next one (what the packets of one POST make the application send goes out
 * in one answer). TC_ECLOSED once the session is closing. */
int tc_eio_send(tc_eio_socket_t *s, int binary, const void *p, size_t len);
int tc_eio_send_shared(tc_eio_socket_t *s, tc_eio_shared_t *m);
/* Closes the session: over polling, after what is queued, with a close packet in the next GET
 * (within 30 s); over WebSocket with a close frame at once (as Node, no close packet). */
void tc_eio_close(tc_eio_socket_t *s);

const char *tc_eio_id(const tc_eio_socket_t *s);        /* the sid */
const char *tc_eio_transport(const tc_eio_socket_t *s); /* "polling" or "websocket" */
/* The first request of the session (its handshake), valid during on_open only. */
const tc_http_request_t *tc_eio_handshake(const tc_eio_socket_t *s);
void tc_eio_set_data(tc_eio_socket_t *s, void *data);
void *tc_eio_data(const tc_eio_socket_t *s);
uint64_t tc_eio_buffered(const tc_eio_socket_t *s);

#ifdef __cplusplus
}
#endif
#endif
