/* Socket.IO internals shared by the files of src/sio: the server, its clients (one per Engine.IO
 * session), namespaces, sockets, the in-memory adapter (rooms, broadcasts, recovery store), and
 * the small containers they use (a string map, a timer heap).
 *
 * The core does not call Engine.IO directly but through sio_transport_t, so that unit tests can
 * drive it with a fake transport and no network. */
#ifndef TC_SIO_INT_H
#define TC_SIO_INT_H

#include "tincan/sio.h"

#include <uv.h>

typedef struct sio_client sio_client_t;
typedef struct sio_room sio_room_t;
typedef struct sio_member sio_member_t;
typedef struct sio_ack sio_ack_t;
typedef struct sio_bcast_ack sio_bcast_ack_t;
typedef struct sio_store sio_store_t;

/* ---- Containers ------------------------------------------------------------------------------ */

/* A map from byte strings to pointers; the keys belong to the values (they must stay put while
 * the entry exists). Open addressing with linear probing and backward-shift deletion. */
typedef struct sio_map_slot {
  const char *key;
  void *val;
  uint32_t hash; /* the low half of the key's hash: enough for caps up to 2^32 */
  uint32_t klen;
} sio_map_slot_t;

typedef struct sio_map {
  sio_map_slot_t *slots;
  size_t cap; /* a power of two, or 0 */
  size_t count;
} sio_map_t;

void *tc__sio_map_get(const sio_map_t *m, const char *key, size_t klen);
int tc__sio_map_put(sio_map_t *m, const char *key, size_t klen, void *val); /* replaces */
void *tc__sio_map_del(sio_map_t *m, const char *key, size_t klen);
void tc__sio_map_free(sio_map_t *m);
/* Iteration: *i starts at 0; returns the next value or NULL. Deleting while iterating is not
 * allowed. */
void *tc__sio_map_next(const sio_map_t *m, size_t *i);

/* A growable list of sockets. */
typedef struct sio_sockvec {
  tc_sio_socket_t **v;
  size_t n, cap;
} sio_sockvec_t;

/* A deadline in the server's heap; embedded in whatever waits. */
typedef struct sio_timer {
  uint64_t due;
  size_t idx; /* position in the heap + 1; 0 when not armed */
  void (*fn)(struct sio_timer *t);
} sio_timer_t;

/* ---- Transport ------------------------------------------------------------------------------- */

typedef struct sio_transport {
  int (*send)(void *conn, int binary, const void *p, size_t len);
  void *(*shared_new)(int binary, const void *p, size_t len);
  void (*shared_unref)(void *m);
  int (*send_shared)(void *conn, void *m);
  void (*close)(void *conn);
  /* Non-zero when a message would be written now rather than queued (volatile emits). */
  int (*writable)(void *conn);
} sio_transport_t;

/* ---- Objects --------------------------------------------------------------------------------- */

typedef struct sio_handler {
  char *name;
  size_t len;
  tc_sio_event_fn fn;
  void *ud;
} sio_handler_t;

typedef struct sio_mw {
  tc_sio_middleware_fn fn;
  void *ud;
} sio_mw_t;

struct tc_sio_nsp {
  tc_sio_server_t *srv;
  char *name;
  size_t name_len;
  tc_sio_nsp_t *parent;      /* for a child of a dynamic namespace */
  tc_sio_nsp_t *next_parent; /* the server's list of dynamic namespaces */
  char *pattern;             /* dynamic: the glob, or NULL */
  tc_sio_nsp_match_fn match; /* dynamic: the callback, or NULL */
  void *match_ud;
  unsigned dynamic : 1;
  unsigned dead : 1;
  unsigned no_recovery : 1; /* this namespace opted out of the server's recovery */

  tc_sio_nsp_handlers_t h;
  void *h_ud;
  sio_map_t handlers; /* event name -> sio_handler_t */
  tc_sio_event_fn any;
  void *any_ud;
  sio_mw_t *mws;
  size_t nmws;

  /* Connected sockets, in connection order, and by id. */
  tc_sio_socket_t *first, *last;
  sio_map_t by_id;
  size_t count;
  size_t pending;       /* sockets still connecting (middlewares) */
  size_t ops;           /* broadcasts waiting for acknowledgements */
  uint64_t next_ack_id; /* Node's nsp._ids: shared by every emit of the namespace */

  /* The adapter, and the in-memory one's state: rooms, and with recovery the sessions and
   * recent packets. */
  const struct sio_adapter_ops *adapter;
  sio_map_t rooms; /* name -> sio_room_t */
  sio_store_t *store;
  tc_sio_nsp_t *reap_next;
};

enum { SOCK_NEW = 0, SOCK_CONNECTED, SOCK_DONE };

/* Bytes kept with their length in one allocation of their own size; a NULL pointer to one
 * means none. */
typedef struct sio_bytes {
  size_t len;
  uint8_t p[];
} sio_bytes_t;

/* Replaces *b with a copy of p[0..len) (NULL when len is 0). 0, or TC_ENOMEM with *b NULL. */
int tc__sio_bytes_set(sio_bytes_t **b, const void *p, size_t len);
void tc__sio_bytes_free(sio_bytes_t **b);
static inline tc_slice_t tc__sio_bytes_slice(const sio_bytes_t *b) {
  return b ? (tc_slice_t){b->p, b->len} : (tc_slice_t){NULL, 0};
}

/* A refusal waiting to be sent: the message, then its JSON data. */
typedef struct sio_refusal {
  size_t data_len;
  char *msg;
  uint8_t data[];
} sio_refusal_t;

struct sio_member {
  sio_room_t *room; /* NULL for the socket's own room (see own_room) */
  tc_sio_socket_t *s;
  sio_member_t *rprev, *rnext; /* in the room */
  sio_member_t *snext;         /* in the socket's list */
};

struct tc_sio_socket {
  tc_sio_nsp_t *nsp;
  sio_client_t *client;
  tc_sio_socket_t *cnext;         /* the client's sockets */
  tc_sio_socket_t *nprev, *nnext; /* the namespace's connected sockets */
  sio_member_t *rooms;
  sio_ack_t *acks;
  /* Ids are 20 characters (tc__sio_random_id), or a kept session's, which came from one. */
  char id[21];
  char pid[21]; /* "" without recovery */
  uint8_t state;
  unsigned recovered : 1;
  unsigned mw_pending : 1;
  unsigned in_mw : 1;      /* a middleware is running: the socket must survive its client's close */
  unsigned restoring : 1;  /* the adapter is looking its session up */
  unsigned early_next : 1; /* tc_sio_next was called inside the middleware */
  unsigned early_refused : 1;
  unsigned refused : 1;
  unsigned in_own_room : 1; /* own_room is in the room named by id (see adapter.c) */
  uint32_t mw_next;         /* index of the next middleware to run, across parent and own */
  sio_bytes_t *auth;        /* none means "{}" */
  sio_bytes_t *data;
  void *user;
  sio_refusal_t *err;
  uint64_t mark;  /* broadcast de-duplication: the generation that reached it last */
  uint64_t xmark; /* the generation that excluded it */
  tc_sio_socket_t *reap_next;
  /* Its membership of the room named by its own id, which every connected socket has: kept
   * here, and the room itself not kept at all, as the namespace's by_id map finds it. */
  sio_member_t own_room;
};

#define SIO_MW_DONE UINT32_MAX

struct sio_client {
  tc_sio_server_t *srv;
  void *conn; /* NULL once the transport is closed */
  sio_client_t *prev, *next;
  tc_sio_socket_t *sockets; /* connected and connecting */
  tc_sio_decoder_t dec;
  sio_timer_t connect_timer;
  sio_bytes_t *hs;      /* the handshake: query, then (name, value) pairs, each length-prefixed */
  unsigned closing : 1; /* no more output, no more input */
  unsigned gone : 1;    /* the transport reported its close */
  unsigned reaped : 1;
  uint32_t busy; /* sockets waiting for a middleware or a restore: they keep the client alive */
  sio_client_t *reap_next;
};

struct sio_room {
  char *name;
  size_t len;
  sio_member_t *head;
  size_t count;
};

struct sio_ack {
  uint64_t id;
  tc_sio_socket_t *s;
  sio_ack_t *next; /* the socket's list */
  tc_sio_ack_fn fn;
  void *ud;
  sio_timer_t timer;
  sio_bcast_ack_t *op;      /* a broadcast's, instead of fn */
  sio_ack_t *oprev, *onext; /* the broadcast's entries */
};

struct sio_bcast_ack {
  tc_sio_nsp_t *nsp;
  tc_sio_broadcast_ack_fn fn;
  void *ud;
  sio_timer_t timer;
  sio_ack_t *entries; /* the answers still expected */
  size_t expected;
  struct reply_copy *copies; /* the answers received, copied */
  size_t nreplies, capreplies;
  sio_bcast_ack_t *prev, *next; /* the server's list */
};

struct tc_sio_server {
  tc_sio_config_t cfg;
  char *eio_path;
  char *cors_origin;
  tc_eio_server_t *eio;
  const sio_transport_t *tr;
  uv_loop_t *loop;
  sio_map_t nsps;
  tc_sio_nsp_t *main;
  tc_sio_nsp_t *parents, *parents_tail;
  unsigned nparents;
  sio_client_t *clients;
  size_t nclients;
  sio_bcast_ack_t *ops;
  uint64_t generation; /* broadcast de-duplication */

  uv_timer_t *timer;
  sio_timer_t **heap;
  size_t nheap, capheap;
  sio_timer_t sweep; /* recovery: drops expired sessions and packets */

  uv_idle_t *reaper;
  sio_client_t *reap_clients;
  tc_sio_socket_t *reap_sockets;
  tc_sio_nsp_t *reap_nsps;

  tc_buf_t scratch;         /* encoding of one packet at a time */
  sio_sockvec_t recipients; /* a broadcast's, kept for the next one (empty while in use) */
  tc_buf_t name;            /* the unescaped name of the event being dispatched */
  char yeast_prev[16];
  uint64_t yeast_seed;
  unsigned freeing : 1;
};

/* ---- server.c -------------------------------------------------------------------------------- */

/* The core without Engine.IO (tests): loop and transport are the caller's. */
int tc__sio_server_init(uv_loop_t *loop, const tc_sio_config_t *cfg, const sio_transport_t *tr,
                        tc_sio_server_t **out);
void tc__sio_server_free(tc_sio_server_t *srv);
uint64_t tc__sio_now(const tc_sio_server_t *srv);
void tc__sio_timer_arm(tc_sio_server_t *srv, sio_timer_t *t, uint64_t ms);
void tc__sio_timer_cancel(tc_sio_server_t *srv, sio_timer_t *t);
void tc__sio_reap_socket(tc_sio_socket_t *s);
void tc__sio_reap_client(sio_client_t *c);
void tc__sio_reap_nsp(tc_sio_nsp_t *nsp);
/* Random ids (Node's base64id: 15 random bytes, base64 with '-' and '_'). out: 21 bytes. */
void tc__sio_random_id(char out[21]);
/* An offset for recovery (Node's yeast: the time in base 64, a counter within a millisecond). */
void tc__sio_offset(tc_sio_server_t *srv, char out[24]);
/* Finds or creates the namespace a client asks for, dynamic ones included; NULL when refused. */
tc_sio_nsp_t *tc__sio_nsp_for_connect(tc_sio_server_t *srv, tc_slice_t name, tc_slice_t auth);
void tc__sio_nsp_free(tc_sio_nsp_t *nsp);
/* Removes a child of a dynamic namespace that nothing uses any more, when so configured. */
void tc__sio_nsp_maybe_cleanup(tc_sio_nsp_t *nsp);
/* The middlewares of a namespace in order (the parent's first): the i-th, or NULL. */
const sio_mw_t *tc__sio_nsp_mw(const tc_sio_nsp_t *nsp, size_t i);
const sio_handler_t *tc__sio_nsp_handler(const tc_sio_nsp_t *nsp, const char *name, size_t len);

/* Serves the browser client's files from dir under path (serve_client.c). */
int tc__sio_serve_client(tc_http_server_t *http, const char *path, const char *dir);

/* ---- client.c -------------------------------------------------------------------------------- */

sio_client_t *tc__sio_client_open(tc_sio_server_t *srv, void *conn,
                                  const tc_http_request_t *handshake);
void tc__sio_client_message(sio_client_t *c, int binary, const uint8_t *p, size_t len);
void tc__sio_client_closed(sio_client_t *c, const char *reason);
/* Node's Client.close: closes the transport, the sockets going with "forced server close". */
void tc__sio_client_close(sio_client_t *c);
/* Hands encoded text (and attachments) to the client's transport; dropped once it closes. */
int tc__sio_client_write(sio_client_t *c, const tc_buf_t *text, const tc_slice_t *atts, size_t n);
void tc__sio_client_free(sio_client_t *c);
/* Unlinks a client whose transport is gone once no socket waits for a middleware. */
void tc__sio_client_release(sio_client_t *c);

/* ---- socket.c -------------------------------------------------------------------------------- */

/* Node's Socket._onclose: the socket leaves everything, the handlers hear of it. */
void tc__sio_socket_onclose(tc_sio_socket_t *s, const char *reason);
void tc__sio_socket_free(tc_sio_socket_t *s);
/* A socket that never connected leaves for good (refused, or its client went). */
void tc__sio_socket_drop(tc_sio_socket_t *s);
/* Fails the socket's pending acknowledgements (TC_ECLOSED) and forgets broadcast ones. */
void tc__sio_socket_fail_acks(tc_sio_socket_t *s);
void tc__sio_socket_dispatch(tc_sio_socket_t *s, const tc_sio_message_t *m);
void tc__sio_socket_onack(tc_sio_socket_t *s, const tc_sio_message_t *m);
void tc__sio_socket_run_middlewares(tc_sio_socket_t *s);
/* Encodes the head of a packet for the socket's namespace into srv->scratch (reset first). */
int tc__sio_encode_head(tc_sio_server_t *srv, int type, size_t natt, const tc_sio_nsp_t *nsp,
                        int64_t id);
/* Appends '[' name (escaped) [',' args] [',' "offset"] ']' to srv->scratch. */
int tc__sio_encode_event_body(tc_sio_server_t *srv, const char *event, tc_slice_t args,
                              const char *offset);
/* Checks what an emit asks for: 0 or TC_EINVAL. */
int tc__sio_emit_check(const tc_sio_emit_t *e);

/* ---- adapter.c ------------------------------------------------------------------------------- */

/* The adapter of a namespace (Node's Adapter): where its rooms live, which sockets a target
 * selects, how a broadcast reaches them, and where sessions wait for recovery. The in-memory one
 * (Node's Adapter with SessionAwareAdapter) is the only one so far. A cluster adapter, speaking
 * the protocol of Node's @socket.io/redis-adapter, would wrap it: keep the local index by calling
 * through to it, publish each broadcast with its {rooms, except, flags} to the other servers
 * unless flags.local, deliver what they publish with the local broadcast, and keep sessions
 * where every server can find them (restore_session completes through done, later if need be).
 * Sockets are identified by their id on the wire; locally the index holds the sockets. */
typedef struct sio_adapter_ops {
  int (*add_all)(tc_sio_socket_t *s, const char *const *rooms, size_t n);
  int (*del)(tc_sio_socket_t *s, const char *room);
  void (*del_all)(tc_sio_socket_t *s);
  /* Calls fn for each connected socket the target selects, each once (Node's apply, which
   * fetchSockets, addSockets, delSockets and disconnectSockets are made of). */
  void (*apply)(tc_sio_nsp_t *nsp, const tc_sio_target_t *t,
                void (*fn)(tc_sio_socket_t *s, void *ud), void *ud);
  /* Encodes once, keeps plain events for recovery (appending their offset), writes to every
   * selected socket. ack_id >= 0 with op: broadcastWithAck, op counting the recipients. */
  int (*broadcast)(tc_sio_nsp_t *nsp, const tc_sio_target_t *t, const tc_sio_emit_t *e,
                   int64_t ack_id, sio_bcast_ack_t *op);
  void (*persist_session)(tc_sio_socket_t *s);
  /* Looks the session up; when found and recent, s takes its id, pid, rooms and data and gets
   * what it missed, and done(s, 1); otherwise done(s, 0); done(s, TC_ENOMEM) on failure. */
  void (*restore_session)(tc_sio_socket_t *s, const char *pid, const char *offset,
                          void (*done)(tc_sio_socket_t *s, int restored));
  void (*sweep)(tc_sio_nsp_t *nsp); /* drops expired sessions and packets */
  void (*close)(tc_sio_nsp_t *nsp);
} sio_adapter_ops_t;

extern const sio_adapter_ops_t tc__sio_adapter_local;

/* The local room index, which every adapter keeps. */
int tc__sio_rooms_has(const tc_sio_socket_t *s, const char *room);
/* The name of the room a membership is of. */
const char *tc__sio_member_name(const sio_member_t *m);

typedef struct sio_session {
  char sid[21];
  char pid[21];
  char **rooms;
  size_t nrooms;
  tc_buf_t data;
  uint64_t disconnected_at;
} sio_session_t;

/* Broadcasts with acknowledgements: an answer arrived; a recipient went; register one. */
void tc__sio_bcast_ack_reply(sio_ack_t *a, const tc_sio_reply_t *reply);
void tc__sio_bcast_ack_forget(sio_ack_t *a);
void tc__sio_bcast_ack_register(sio_bcast_ack_t *op, tc_sio_socket_t *s, uint64_t id);
/* Completes every pending one with TC_ECLOSED (the server is going). */
void tc__sio_bcast_ack_close_all(tc_sio_server_t *srv);

/* Connection state recovery applies to this namespace: the server's setting, unless the
 * namespace opted out (tc_sio_nsp_set_recovery). A child of a dynamic namespace follows its
 * parent. */
static inline int tc__sio_nsp_recovery(const tc_sio_nsp_t *nsp) {
  const tc_sio_nsp_t *n = nsp->parent ? nsp->parent : nsp;
  return nsp->srv->cfg.recovery && !n->no_recovery && !nsp->no_recovery;
}

#endif
