/* Internal: the WebSocket connection shared by the server route and the client. */
#ifndef TC_WS_CONN_INTERNAL_H
#define TC_WS_CONN_INTERNAL_H

#include "tincan/ws.h"

/* What a connection needs from its server route or client options. */
typedef struct tc_ws_conn_opts {
  uint64_t max_message;
  uint64_t max_buffered;
  uint64_t ping_interval_ms;
  uint64_t idle_timeout_ms;
  int deflate_mem_level;
  size_t deflate_threshold;
} tc_ws_conn_opts_t;

struct tc_ws_conn {
  tc_io_conn_t *io;
  tc_ws_t *ws;
  const tc_ws_handlers_t *h;
  void *ud;   /* the route's or client's user data, passed to callbacks */
  void *data; /* the application's per-connection data */
  tc_ws_conn_opts_t opts;
  tc_io_timeouts_t *tick_q;  /* keepalive ticks, or NULL */
  tc_io_timeouts_t *close_q; /* waiting for the peer's close reply */
  const char *protocol;
  const char *local_reason;
  uint64_t last_rx;
  int local_code; /* set when we drop the connection ourselves */
  struct tc__ws_client *client; /* a client's own state, freed with the connection */
  tc_slice_t hs_request, hs_response; /* only during on_open, with keep_handshake */
  unsigned alive : 1;
  unsigned pinged : 1;
  unsigned read_paused : 1;
  unsigned deflate : 1;
};

extern const tc_io_handler_t tc__ws_conn_handler;

/* Creates the endpoint and installs the connection as the io connection's handler. c->io, h, ud,
 * tick_q, close_q and protocol must be set. */
int tc__ws_conn_start(tc_ws_conn_t *c, const tc_ws_conn_opts_t *o, const tc_ws_deflate_params_t *dp,
                      int client, void (*random)(void *ud, uint8_t *out, size_t n), void *rand_ud);
void tc__ws_conn_free(tc_ws_conn_t *c);
void tc__ws_client_free(struct tc__ws_client *cl);

#endif
