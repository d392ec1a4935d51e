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

/* What all connections of one server route (or one client) share: kept once, not per
 * connection, so that an idle connection stays small. */
typedef struct tc_ws_conn_shared {
  tc_ws_config_t wcfg; /* the endpoints' settings (tc__ws_shared_init) */
  tc_ws_handlers_t h;
  void *ud; /* the route's or client's user data, passed to callbacks */
  tc_ws_conn_opts_t opts;
  tc_io_timeouts_t *tick_q;           /* keepalive ticks, or NULL */
  tc_io_timeouts_t *close_q;          /* waiting for the peer's close reply */
  tc_slice_t hs_request, hs_response; /* only during an on_open, with keep_handshake */
} tc_ws_conn_shared_t;

/* Allocated with its endpoint behind it (tc__ws_conn_new), so that a connection is one block. */
struct tc_ws_conn {
  tc_io_conn_t *io;
  tc_ws_t *ws; /* the endpoint behind the struct, once started; NULL before */
  tc_ws_conn_shared_t *sh;
  void *data; /* the application's per-connection data */
  const char *protocol;
  const char *local_reason;
  struct tc__ws_client *client; /* a client's own state, freed with the connection */
  uint64_t last_rx;
  int local_code; /* set when we drop the connection ourselves */
  unsigned alive : 1;
  unsigned pinged : 1;
  unsigned read_paused : 1;
  unsigned deflate : 1;
};

/* The endpoint without an allocation of its own (ws.c): its size, and setting it up and
 * tearing it down in memory the caller provides (tc_ws_new's errors). */
size_t tc__ws_size(void);
int tc__ws_init(tc_ws_t *ws, const tc_ws_config_t *cfg, const tc_ws_deflate_params_t *deflate,
                void *ud);
void tc__ws_fini(tc_ws_t *ws);

/* A zeroed connection with room for its endpoint; released with free() until started, and with
 * tc__ws_conn_free after. NULL when out of memory. */
tc_ws_conn_t *tc__ws_conn_new(void);

/* Fills sh->wcfg from sh->opts (set opts first). */
void tc__ws_shared_init(tc_ws_conn_shared_t *sh, int client,
                        void (*random)(void *ud, uint8_t *out, size_t n), void *rand_ud);
/* Creates the endpoint and installs the connection as the io connection's handler. c->io, c->sh
 * and c->protocol must be set. */
int tc__ws_conn_start(tc_ws_conn_t *c, const tc_ws_deflate_params_t *dp);
void tc__ws_conn_free(tc_ws_conn_t *c);
void tc__ws_client_free(struct tc__ws_client *cl);

#endif
