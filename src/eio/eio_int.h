/* Internal: what the Engine.IO server's files share (server.c: sessions, heartbeats, routing;
 * polling.c and websocket.c: the two transports). */
#ifndef TC_EIO_INT_H
#define TC_EIO_INT_H

#include "tincan/eio.h"

#include <stddef.h>
#include <uv.h>

/* ---- packet.c -------------------------------------------------------------------------------- */

/* Decodes base64 in place as Node does (both alphabets, other characters skipped, '=' ends the
 * data); returns the decoded length. */
size_t tc__eio_base64_decode_lenient(uint8_t *p, size_t len);
/* Appends p to out with every ill-formed UTF-8 subpart replaced by U+FFFD. 0 or TC_ENOMEM. */
int tc__eio_utf8_repair(const uint8_t *p, size_t len, tc_buf_t *out);

/* ---- timers ---------------------------------------------------------------------------------- */

/* A queue of deadlines that all have the same duration: arming appends at the tail, so the queue
 * stays sorted and arming, re-arming and disarming are O(1), and one libuv timer serves all of
 * them. A session pays for a node (32 bytes), not a timer handle. */
typedef struct eio_tq eio_tq_t;
typedef struct eio_tnode {
  struct eio_tnode *prev, *next;
  eio_tq_t *q; /* NULL when disarmed */
  uint64_t deadline;
} eio_tnode_t;

/* ---- sessions -------------------------------------------------------------------------------- */

enum { EIO_OPEN = 0, EIO_CLOSING, EIO_CLOSED };

/* An upgrade in progress: the probing WebSocket and its two timers. Allocated only while a
 * session upgrades, so that idle sessions do not carry it. */
typedef struct eio_upgrade {
  tc_eio_socket_t *s;
  tc_ws_conn_t *ws;
  eio_tnode_t timeout; /* upgrade_timeout_ms */
  eio_tnode_t check;   /* every 100 ms after the probe: a noop to a waiting GET */
  unsigned b64 : 1;
} eio_upgrade_t;

struct tc_eio_socket {
  tc_eio_server_t *srv;
  void *data;
  eio_tnode_t hb;           /* the heartbeat: next ping, pong wait, or closing wait */
  tc_ws_conn_t *ws;         /* the WebSocket transport, once it is the current one */
  tc_http_exchange_t *poll; /* the long-polling GET waiting for packets */
  eio_upgrade_t *up;
  /* Packets waiting for a GET: entries of type, flags, length and bytes (or a shared packet).
   * Allocated only while there are some (tc__eio_wq_len). */
  tc_buf_t *wq;
  char sid[21];
  uint8_t state; /* EIO_* */
  uint8_t nest;  /* calls in progress that use the socket: it is freed when the last returns */
  unsigned websocket : 1;    /* the current transport */
  unsigned ws_b64 : 1;       /* the WebSocket client asked for base64 binary (b64=1) */
  unsigned should_close : 1; /* closing: the next GET gets the close packet */
  unsigned refreshed : 1;    /* the pong wait was extended once by another packet */
  unsigned batching : 1;     /* a POST is being read: its answers go out together */
};

struct tc_eio_shared {
  tc_io_shared_t io; /* the WebSocket frame (without deflate), and the reference count */
  size_t len;        /* of the message */
  char *b64;         /* the polling form of a binary message ("b" + base64), made on first use */
  size_t b64_len;
  uint8_t hdr_len; /* of the WebSocket frame header */
  uint8_t binary;
  uint8_t frame[]; /* header, then '4' for text, then the message */
};

/* ---- the server ------------------------------------------------------------------------------ */

struct tc_eio_server {
  tc_http_server_t *http;
  tc_io_t *io;
  tc_eio_config_t cfg;
  char *path;
  char *cors; /* the origin setting, copied */
  tc_eio_handlers_t h;
  void *ud;
  tc_ws_endpoint_t *ep;
  tc_eio_socket_t **buckets;
  size_t nbuckets;
  size_t count;
  eio_tq_t *ping_q, *pong_q, *close_q, *upgrade_q, *check_q;
  tc_buf_t scratch; /* one outgoing WebSocket frame */
  tc_buf_t body;    /* one outgoing polling payload */
  tc_buf_t rx;      /* one incoming POST body, decoded in place */
  tc_buf_t fix;     /* a text message with its bad UTF-8 replaced */
  /* During a handshake's on_open: the request. */
  const tc_http_request_t *hs_req;
  tc_eio_socket_t *hs_sock;
  /* During tc_ws_endpoint_accept: what the WebSocket being accepted is for. */
  tc_eio_socket_t *accept_new;
  const tc_http_request_t *accept_req;
  eio_upgrade_t *accept_up;
  unsigned accept_opened : 1;
  unsigned cors_mode : 2; /* 0 off, 1 any ("*"), 2 one fixed origin, 3 a list */
};

/* The query parameters Engine.IO reads, percent-decoded. A value longer than its buffer is kept
 * as "too long" (len past the buffer) so that it matches nothing. */
typedef struct eio_query {
  char eio[8];
  size_t eio_len;
  char transport[16];
  size_t transport_len;
  char sid[32];
  size_t sid_len;
  unsigned b64 : 1;
} eio_query_t;

enum {
  EIO_ERR_UNKNOWN_TRANSPORT = 0,
  EIO_ERR_UNKNOWN_SID = 1,
  EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
  EIO_ERR_BAD_REQUEST = 3,
  EIO_ERR_FORBIDDEN = 4,
  EIO_ERR_UNSUPPORTED_PROTOCOL = 5,
};
enum { EIO_T_POLLING = 0, EIO_T_WEBSOCKET = 1 };

/* server.c */
const char *tc__eio_error_message(int code);
void tc__eio_tnode_arm(eio_tnode_t *n, eio_tq_t *q);
void tc__eio_tnode_stop(eio_tnode_t *n);
void tc__eio_enter(tc_eio_socket_t *s);
void tc__eio_leave(tc_eio_socket_t *s);
/* Ends the session (Node's onClose): stops its timers and upgrade, closes its transport (a
 * waiting GET gets the close packet), calls on_close. s may be freed on return. */
void tc__eio_closed(tc_eio_socket_t *s, const char *reason);
/* Closes the transport because the server closes the session: "forced close". */
void tc__eio_close_transport(tc_eio_socket_t *s);
/* A packet from the current transport (Node's onPacket). */
void tc__eio_on_packet(tc_eio_socket_t *s, const tc_eio_packet_t *pkt);
/* Queues a packet; sends it at once when the transport can take it. */
int tc__eio_send_packet(tc_eio_socket_t *s, int type, int binary, const void *p, size_t len);
/* A new session (not yet in the table) with a fresh sid; NULL on failure. */
tc_eio_socket_t *tc__eio_session_new(tc_eio_server_t *srv, int websocket);
int tc__eio_session_add(tc_eio_socket_t *s);
void tc__eio_session_free(tc_eio_socket_t *s);
/* Starts the heartbeat and calls on_open (the request is the handshake). */
void tc__eio_opened(tc_eio_socket_t *s, const tc_http_request_t *req);
/* Appends the open packet's JSON to out. */
int tc__eio_open_json(tc_eio_socket_t *s, tc_buf_t *out);
/* Verifies a request as Node does; returns -1 when it may go on (with *out the session named by
 * sid, or NULL for a handshake), else an EIO_ERR_* code. */
int tc__eio_verify(tc_eio_server_t *srv, const tc_http_request_t *req, const eio_query_t *q,
                   int upgrade, tc_eio_socket_t **out);
int tc__eio_is_v4(const eio_query_t *q);
int tc__eio_query_transport(const tc_eio_server_t *srv, const eio_query_t *q);
void tc__eio_wq_clear(tc_eio_socket_t *s);
static inline size_t tc__eio_wq_len(const tc_eio_socket_t *s) {
  return s->wq ? s->wq->len : 0;
}
/* Calls fn for each queued packet in order (shared ones as m), then empties the queue. */
int tc__eio_wq_each(tc_eio_socket_t *s,
                    int (*fn)(tc_eio_socket_t *s, int type, int binary, const uint8_t *p,
                              size_t len, tc_eio_shared_t *m, void *ud),
                    void *ud);
/* Everything queued went to the transport: on_drain, and a pending close can go on. */
void tc__eio_drained(tc_eio_socket_t *s);
const char *tc__eio_shared_b64(tc_eio_shared_t *m, size_t *len);

/* polling.c */
int tc__eio_polling_handshake(tc_eio_server_t *srv, tc_http_exchange_t *x);
int tc__eio_polling_request(tc_eio_socket_t *s, tc_http_exchange_t *x);
/* Answers the waiting GET with the queued packets and then the packet types in extra ("6",
 * "1"). Does nothing without a waiting GET. */
void tc__eio_poll_flush(tc_eio_socket_t *s, const char *extra);
/* Answers the waiting GET with extra alone, leaving the queue for the next transport. */
void tc__eio_poll_answer(tc_eio_socket_t *s, const char *extra);
void tc__eio_add_poll_headers(tc_http_exchange_t *x, const tc_http_request_t *req);

/* websocket.c */
int tc__eio_ws_init(tc_eio_server_t *srv);
int tc__eio_ws_request(tc_eio_server_t *srv, tc_http_exchange_t *x, const eio_query_t *q);
int tc__eio_ws_send(tc_eio_socket_t *s, int type, int binary, const void *p, size_t len);
int tc__eio_ws_send_shared(tc_eio_socket_t *s, tc_eio_shared_t *m);
/* Closes a WebSocket that no session uses any more (a close frame without a code, as ws does). */
void tc__eio_ws_drop(tc_ws_conn_t *c);
void tc__eio_upgrade_free(eio_upgrade_t *up, int close_ws);
void tc__eio_upgrade_timeout(eio_tnode_t *n);
void tc__eio_upgrade_check(eio_tnode_t *n);

#endif
