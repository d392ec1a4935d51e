/* tincan WebSocket (RFC 6455) with permessage-deflate (RFC 7692).
 *
 * Three layers, each usable alone:
 *   - frames, UTF-8 and handshakes: pure functions over the caller's bytes;
 *   - tc_ws_t, the sans-I/O endpoint: bytes in, events and bytes out, for a server or a client;
 *   - tc_ws_conn_t, a WebSocket on tincan's I/O layer: server routes on the HTTP server, and
 *     client connections (ws:// and wss://).
 */
#ifndef TINCAN_WS_H
#define TINCAN_WS_H

#include "tincan/base.h"
#include "tincan/http.h"
#include "tincan/io.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  TC_WS_OP_CONT = 0x0,
  TC_WS_OP_TEXT = 0x1,
  TC_WS_OP_BINARY = 0x2,
  TC_WS_OP_CLOSE = 0x8,
  TC_WS_OP_PING = 0x9,
  TC_WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1). */
enum {
  TC_WS_CLOSE_NORMAL = 1000,
  TC_WS_CLOSE_GOING_AWAY = 1001,
  TC_WS_CLOSE_PROTOCOL = 1002,
  TC_WS_CLOSE_UNSUPPORTED = 1003,
  TC_WS_CLOSE_NO_STATUS = 1005, /* never sent: reported when a close frame had no code */
  TC_WS_CLOSE_ABNORMAL = 1006,  /* never sent: reported when the TCP connection just ended */
  TC_WS_CLOSE_INVALID_DATA = 1007,
  TC_WS_CLOSE_POLICY = 1008,
  TC_WS_CLOSE_TOO_BIG = 1009,
  TC_WS_CLOSE_EXTENSION = 1010,
  TC_WS_CLOSE_INTERNAL = 1011,
};

/* ---- Frames ------------------------------------------------------------------------------------
 */

typedef struct tc_ws_frame {
  unsigned fin : 1;
  unsigned rsv1 : 1;
  unsigned rsv2 : 1;
  unsigned rsv3 : 1;
  unsigned masked : 1;
  uint8_t opcode;
  uint8_t mask[4];
  uint64_t payload_len;
  size_t header_len;
} tc_ws_frame_t;

/* Parses a frame header at the front of p[0..len). Returns the header length (2..14), TC_EAGAIN,
 * or TC_EPROTO for a 64-bit length with its top bit set. Opcodes, reserved bits and masking are
 * judged by the endpoint, which knows the role and the negotiated extensions. */
ssize_t tc_ws_frame_parse(const uint8_t *p, size_t len, tc_ws_frame_t *f);
/* Writes a frame header with the shortest length encoding into out (at least 14 bytes); mask
 * NULL means unmasked. Returns its length. */
size_t tc_ws_frame_write(uint8_t *out, int fin, int rsv1, int opcode, uint64_t payload_len,
                         const uint8_t *mask);
/* XORs p[0..len) in place with mask, starting at mask byte `phase` (0..3): a payload unmasked in
 * pieces passes the count of bytes already done (mod 4). Works a word at a time. */
void tc_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t phase);
/* The same, from src to dst (which must not overlap). */
void tc_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                     size_t phase);
/* 0 when a close code may appear in a close frame (1000-1003, 1007-1011, 1012-1014, 3000-4999),
 * else TC_EPROTO. */
int tc_ws_close_code_check(int code);

/* ---- Handshake ---------------------------------------------------------------------------------
 */

typedef struct tc_ws_upgrade {
  tc_slice_t key;        /* Sec-WebSocket-Key, as sent */
  tc_slice_t protocols;  /* Sec-WebSocket-Protocol (comma-separated); empty when absent */
  tc_slice_t extensions; /* Sec-WebSocket-Extensions; empty when absent */
  tc_slice_t origin;     /* Origin; empty when absent */
  int error_status;      /* on failure: 400, or 426 (answer with Sec-WebSocket-Version: 13) */
} tc_ws_upgrade_t;

/* Checks an opening handshake request (RFC 6455 section 4.2.1): GET, HTTP/1.1 or later, an
 * Upgrade token list naming "websocket", a Connection token list naming "Upgrade", a key that is
 * base64 of 16 bytes, version 13. A repeated Sec-WebSocket-Protocol, Sec-WebSocket-Extensions
 * or Origin header, or more than 128 protocols, is refused with 400. 0, or TC_EPROTO with
 * out->error_status set. */
int tc_ws_upgrade_check(const tc_http_request_t *req, tc_ws_upgrade_t *out);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 characters and a NUL. */
void tc_ws_accept_key(tc_slice_t key, char out[29]);
/* The first protocol of the client's list that `supported` (NULL-terminated) names; NULL when
 * none does. */
const char *tc_ws_pick_protocol(tc_slice_t offered, const char *const *supported);

/* The client side: writes "GET path HTTP/1.1" with Host, Upgrade, Connection, the key made from
 * nonce, version 13, and the optional protocols, extensions and extra header lines
 * ("Name: value\r\n" each, or NULL). key_out gets the key, to check the answer with. */
int tc_ws_client_request(tc_buf_t *out, const char *host, const char *path, const uint8_t nonce[16],
                         const char *protocols, const char *extensions, const char *extra_headers,
                         char key_out[25]);
/* Checks the server's answer: 101, Upgrade websocket, Connection upgrade, the right accept
 * value, and a protocol among those offered (or none). On success *protocol and *extensions are
 * set (empty when absent). It does not know which extensions were offered: the caller fails the
 * connection on extensions it did not offer (tc_ws_deflate_accept does). 0 or TC_EPROTO. */
int tc_ws_client_check_response(const tc_http_response_t *res, const char key[25],
                                const char *offered_protocols, tc_slice_t *protocol,
                                tc_slice_t *extensions);

/* ---- permessage-deflate ------------------------------------------------------------------------
 */

/* The fields keep their wire meaning in both roles. A NULL config means the defaults with
 * deflate enabled; a config with enabled == 0 negotiates nothing and offers nothing. Window bits
 * outside 8-15 are clamped into it. */
typedef struct tc_ws_deflate_config {
  unsigned enabled : 1;
  /* server: always reset our compressor per message; client: ask the server to */
  unsigned server_no_context_takeover : 1;
  /* server: ask clients to reset theirs; client: reset ours, and say so in the offer */
  unsigned client_no_context_takeover : 1;
  /* server: our largest window (8-15; 0 = 15); client: below 15, ask the server for it */
  uint8_t server_max_window_bits;
  /* server: ask a client that allows it for this (0 = don't); client: our window (0 = 15) */
  uint8_t client_max_window_bits;
  int mem_level;    /* zlib memLevel for compressing, 1-9; 0 = 8 */
  size_t threshold; /* messages shorter than this are sent uncompressed; 0 = 64 bytes */
} tc_ws_deflate_config_t;

/* What both sides agreed on. Window bits are 8..15. */
typedef struct tc_ws_deflate_params {
  uint8_t server_max_window_bits;
  uint8_t client_max_window_bits;
  unsigned server_no_context_takeover : 1;
  unsigned client_no_context_takeover : 1;
} tc_ws_deflate_params_t;

/* Server: reads the client's Sec-WebSocket-Extensions offers and accepts the first acceptable
 * permessage-deflate offer (RFC 7692 section 5): offers with unknown, repeated or invalid
 * parameters are declined, and a header that breaks the RFC 6455 section 9.1 grammar anywhere is
 * declined whole. Returns 1, fills *params and appends the header value to send to response,
 * when one is accepted; 0 when none is; TC_ENOMEM. */
int tc_ws_deflate_negotiate(tc_slice_t offers, const tc_ws_deflate_config_t *cfg,
                            tc_ws_deflate_params_t *params, tc_buf_t *response);
/* Client: appends our offer ("permessage-deflate; client_max_window_bits", plus what cfg asks
 * for) to out. 0 or TC_ENOMEM. */
int tc_ws_deflate_offer(const tc_ws_deflate_config_t *cfg, tc_buf_t *out);
/* Client: checks the server's answer (its Sec-WebSocket-Extensions value) to the offer cfg
 * made: exactly one permessage-deflate element, valid parameters, and whatever we asked for
 * granted. 0 with *params set; TC_ENOENT when the answer is empty (the server declined: no
 * compression); TC_EPROTO otherwise (the client must then fail the connection). */
int tc_ws_deflate_accept(tc_slice_t response, const tc_ws_deflate_config_t *cfg,
                         tc_ws_deflate_params_t *params);

typedef struct tc_ws_deflate tc_ws_deflate_t;
/* A compressor and decompressor for one connection. zlib state is created on first use and,
 * without context takeover, released after each message, so an idle connection holds none.
 * params NULL means 15-bit windows with context takeover; mem_level 0 means 8. TC_EINVAL for
 * values out of range, TC_ENOMEM. */
int tc_ws_deflate_new(const tc_ws_deflate_params_t *params, int is_server, int mem_level,
                      tc_ws_deflate_t **out);
void tc_ws_deflate_free(tc_ws_deflate_t *d);
/* Compresses a whole message and appends it to out without the final 00 00 ff ff (an empty
 * message becomes the single byte 00). 0, TC_ENOMEM. */
int tc_ws_deflate_compress(tc_ws_deflate_t *d, const uint8_t *p, size_t len, tc_buf_t *out);
/* Decompresses one frame of a compressed message (fin on its last frame) and appends to out.
 * TC_E2BIG as soon as out->len would pass max_len (a decompression bomb stops there), TC_EPROTO
 * for corrupt or truncated data; after either the decompressor starts afresh, so the connection
 * must fail. An empty payload is an empty message. */
int tc_ws_deflate_decompress(tc_ws_deflate_t *d, const uint8_t *p, size_t len, int fin,
                             tc_buf_t *out, size_t max_len);

/* ---- The sans-I/O endpoint ----------------------------------------------------------------------
 */

typedef struct tc_ws tc_ws_t;

typedef struct tc_ws_callbacks {
  /* A whole message (TC_WS_OP_TEXT, already checked as UTF-8, or TC_WS_OP_BINARY). The bytes
   * are valid during the call only; the callee may modify them. */
  void (*on_message)(tc_ws_t *ws, int opcode, uint8_t *data, size_t len, void *ud);
  /* A ping arrived (its pong is already queued) or a pong arrived. Optional. */
  void (*on_ping)(tc_ws_t *ws, const uint8_t *data, size_t len, void *ud);
  void (*on_pong)(tc_ws_t *ws, const uint8_t *data, size_t len, void *ud);
  /* Every frame, for tools that show the wire: incoming ones once complete (the payload already
   * unmasked; the header holds the key), outgoing ones as written (masked, compressed). Optional;
   * costs nothing when unset. */
  void (*on_frame)(tc_ws_t *ws, int incoming, const uint8_t *header, size_t header_len,
                   const uint8_t *payload, size_t payload_len, void *ud);
} tc_ws_callbacks_t;

/* Settings shared by many endpoints (all connections of a route): tc_ws_new keeps a pointer to
 * it, so it must outlive them, and an endpoint stays small. */
typedef struct tc_ws_config {
  unsigned client : 1;  /* a client masks what it sends and expects unmasked frames */
  uint64_t max_message; /* decompressed; over it: close 1009. 0 means 16 MiB */
  int deflate_mem_level;
  size_t deflate_threshold; /* 0 means 64 */
  /* Fills out with n unpredictable bytes (client masks). Required for clients. */
  void (*random)(void *random_ud, uint8_t *out, size_t n);
  void *random_ud;
  tc_ws_callbacks_t cb;
} tc_ws_config_t;

typedef enum {
  TC_WS_OPEN = 0,
  TC_WS_CLOSE_SENT,     /* we sent a close frame and wait for the peer's */
  TC_WS_CLOSE_RECEIVED, /* the peer's close frame arrived and ours is queued: now close TCP */
  TC_WS_FAILED,         /* a protocol failure: a close frame with the code is queued; close TCP */
} tc_ws_state_t;

/* A new endpoint. deflate: the negotiated permessage-deflate parameters (copied), or NULL.
 * ud goes to the callbacks. */
int tc_ws_new(const tc_ws_config_t *cfg, const tc_ws_deflate_params_t *deflate, void *ud,
              tc_ws_t **out);
void tc_ws_free(tc_ws_t *ws);
tc_ws_state_t tc_ws_state(const tc_ws_t *ws);
/* The close code and reason: the peer's, or ours after a failure. 1005 / 1006 when none. The
 * reason stays valid until tc_ws_free. */
int tc_ws_close_code(const tc_ws_t *ws);
tc_slice_t tc_ws_close_reason(const tc_ws_t *ws);

/* Feeds received bytes. Automatic answers (pongs, the close reply, a failure's close frame) are
 * appended to out. Returns how many bytes it consumed. Bytes it did not consume must be presented
 * again, unchanged and at the front, with the next ones (it may have unmasked and checked a
 * prefix of them already: that is why p is writable). Returns TC_ECLOSED once the state is
 * CLOSE_RECEIVED or FAILED: send out, then close the TCP connection. Other errors: TC_ENOMEM. */
ssize_t tc_ws_feed(tc_ws_t *ws, uint8_t *p, size_t len, tc_buf_t *out);

/* Appends a whole message as one frame (compressed when negotiated and long enough). */
int tc_ws_send(tc_ws_t *ws, int opcode, const void *p, size_t len, tc_buf_t *out);
/* Appends one fragment: opcode TEXT/BINARY on the first, CONT after; fin on the last. Fragments
 * are never compressed. */
int tc_ws_send_fragment(tc_ws_t *ws, int opcode, const void *p, size_t len, int fin, tc_buf_t *out);
/* Control frames: payload at most 125 bytes (TC_EINVAL beyond). */
int tc_ws_send_ping(tc_ws_t *ws, const void *p, size_t len, tc_buf_t *out);
int tc_ws_send_pong(tc_ws_t *ws, const void *p, size_t len, tc_buf_t *out);
/* Starts the closing handshake; code 0 sends a close frame without a code. */
int tc_ws_send_close(tc_ws_t *ws, int code, const char *reason, tc_buf_t *out);

/* ---- WebSocket connections on the I/O layer
 * ------------------------------------------------------ */

typedef struct tc_ws_conn tc_ws_conn_t;

/* Application callbacks. They run on the loop thread. A connection is never freed inside one of
 * its own callbacks; after on_close it is gone. */
typedef struct tc_ws_handlers {
  /* The handshake is done; sending is allowed from here on. */
  void (*on_open)(tc_ws_conn_t *c, void *ud);
  /* A whole message; data is valid during the call only (and may be modified). */
  void (*on_message)(tc_ws_conn_t *c, int opcode, uint8_t *data, size_t len, void *ud);
  /* Queued output was written out (after tc_ws_conn_buffered went over the low mark). Optional. */
  void (*on_drain)(tc_ws_conn_t *c, void *ud);
  void (*on_pong)(tc_ws_conn_t *c, const uint8_t *data, size_t len, void *ud);
  /* Every frame crossing the wire (see tc_ws_callbacks_t.on_frame). Optional. */
  void (*on_frame)(tc_ws_conn_t *c, int incoming, const uint8_t *header, size_t header_len,
                   const uint8_t *payload, size_t payload_len, void *ud);
  /* The last callback: code is the peer's close code, ours after a failure, 1006 when TCP ended
   * without a closing handshake (for a client that never connected: 1006 with the reason). */
  void (*on_close)(tc_ws_conn_t *c, int code, tc_slice_t reason, void *ud);
} tc_ws_handlers_t;

typedef struct tc_ws_server_config {
  tc_ws_deflate_config_t deflate; /* permessage-deflate; set .enabled to offer it */
  uint64_t max_message;           /* default 16 MiB; over it: close 1009 */
  /* A send while more than this is queued (the peer does not read) fails with TC_E2BIG and
   * the connection is dropped, reported as 1008. Default 32 MiB. Reading stops while more than
   * 1 MiB is queued, so a well-behaved slow reader is slowed down, not dropped. */
  uint64_t max_buffered;
  uint64_t ping_interval_ms;    /* 0: no pings. A peer silent for two intervals is dropped (1006) */
  uint64_t idle_timeout_ms;     /* 0: none. No message for this long: close 1001 */
  uint64_t close_timeout_ms;    /* wait for the peer's close reply; default 5000 */
  const char *const *protocols; /* supported subprotocols, NULL-terminated, or NULL */
  /* Return non-zero to refuse a handshake from this Origin (answered 403). Optional. */
  int (*check_origin)(tc_slice_t origin, void *ud);
  /* Keep the handshake's bytes for on_open (tc_ws_conn_handshake), e.g. to show them. */
  unsigned keep_handshake : 1;
} tc_ws_server_config_t;

/* Serves WebSocket on `path` of the HTTP server. cfg and h are copied; ud goes to every
 * callback. */
int tc_ws_server_route(tc_http_server_t *srv, const char *path, const tc_ws_server_config_t *cfg,
                       const tc_ws_handlers_t *h, void *ud);

/* An endpoint: the same as a route, without the route, for modules that decide themselves which
 * requests to upgrade (Engine.IO upgrades its sessions). Freed with the server. */
typedef struct tc_ws_endpoint tc_ws_endpoint_t;
int tc_ws_endpoint_new(tc_http_server_t *srv, const tc_ws_server_config_t *cfg,
                       const tc_ws_handlers_t *h, void *ud, tc_ws_endpoint_t **out);
/* Answers the exchange: upgrades it (0; the connection's data is set to `data` before on_open)
 * or refuses it with the handshake's error status (400, 403, 426; also 0, as an answer was
 * given). Call from a route handler. */
int tc_ws_endpoint_accept(tc_ws_endpoint_t *ep, tc_http_exchange_t *x, void *data);

/* Sends a whole message (TC_WS_OP_TEXT or TC_WS_OP_BINARY; text must be UTF-8). TC_ECLOSED
 * once closing, TC_E2BIG past max_buffered (the connection is then dropped). */
int tc_ws_conn_send(tc_ws_conn_t *c, int opcode, const void *p, size_t len);
int tc_ws_conn_send_fragment(tc_ws_conn_t *c, int opcode, const void *p, size_t len, int fin);
/* Queues bytes that already form whole frames (unmasked, RSV1 clear, so valid with or without
 * permessage-deflate): a message framed once and sent to many connections. Errors as
 * tc_ws_conn_send. */
int tc_ws_conn_send_frames(tc_ws_conn_t *c, const void *p, size_t len);
/* The same for frames shared by many connections: the connection keeps a reference to m rather
 * than a copy when it can (tc_io_conn_write_shared). */
int tc_ws_conn_send_shared(tc_ws_conn_t *c, tc_io_shared_t *m);
int tc_ws_conn_ping(tc_ws_conn_t *c, const void *p, size_t len);
/* Starts the closing handshake; the TCP connection closes when the peer answers, or after the
 * close timeout. */
int tc_ws_conn_close(tc_ws_conn_t *c, int code, const char *reason);
/* Output queued and not yet written. */
uint64_t tc_ws_conn_buffered(const tc_ws_conn_t *c);
void tc_ws_conn_set_data(tc_ws_conn_t *c, void *data);
void *tc_ws_conn_data(const tc_ws_conn_t *c);
/* The negotiated subprotocol ("" when none) and whether permessage-deflate is on. */
const char *tc_ws_conn_protocol(const tc_ws_conn_t *c);
int tc_ws_conn_deflate(const tc_ws_conn_t *c);
tc_io_conn_t *tc_ws_conn_io(const tc_ws_conn_t *c);
/* During on_open of a route with keep_handshake: the request as received and our answer, as
 * they crossed the wire; valid until on_open sends anything, and empty after on_open. */
void tc_ws_conn_handshake(const tc_ws_conn_t *c, tc_slice_t *request, tc_slice_t *response);

/* ---- Clients
 * ------------------------------------------------------------------------------------- */

typedef struct tc_ws_client_options {
  const char *url;                /* ws://host[:port]/path or wss://...; [v6] addresses allowed */
  const char *protocols;          /* offered subprotocols, comma-separated, or NULL */
  const char *headers;            /* extra request header lines ("Name: value\r\n" each), or NULL */
  const char *origin;             /* an Origin header, or NULL */
  tc_ws_deflate_config_t deflate; /* .enabled offers permessage-deflate */
  tc_io_tls_ctx_t *tls;           /* required for wss:// (tc_io_tls_client_ctx); not owned */
  uint64_t max_message;           /* default 16 MiB */
  uint64_t max_buffered;          /* default 32 MiB, as for servers */
  uint64_t ping_interval_ms;      /* 0: none */
  uint64_t handshake_timeout_ms;  /* default 10 s */
  /* Mask keys; default: OpenSSL's CSPRNG. A load generator may pass a cheaper source. */
  void (*random)(void *ud, uint8_t *out, size_t n);
  void *random_ud;
} tc_ws_client_options_t;

/* Opens a client connection. The handlers get on_open once the server accepted the handshake,
 * or on_close with 1006 and a reason (name, refused, TLS, bad handshake) if it never opens.
 * *out (optional) is the connection, valid until on_close. Returns 0 or TC_EINVAL (bad URL,
 * wss:// without tls), TC_ENOMEM. */
int tc_ws_client_connect(tc_io_t *io, const tc_ws_client_options_t *o, const tc_ws_handlers_t *h,
                         void *ud, tc_ws_conn_t **out);

/* Splits a ws:// or wss:// URL. host is written without brackets; path includes the query and is
 * "/" when empty. 0 or TC_EINVAL. */
int tc_ws_url_parse(const char *url, int *tls, char *host, size_t host_cap, int *port, char *path,
                    size_t path_cap);

#ifdef __cplusplus
}
#endif
#endif
