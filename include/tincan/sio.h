/* tincan Socket.IO v5: namespaces, events and acknowledgements, rooms and broadcasts, binary
 * attachments and connection state recovery, on Engine.IO v4 (eio.h).
 *
 * The protocol is the README of the socketio/socket.io-protocol repository; where it is silent,
 * Node's socket.io 4.8 (with socket.io-parser and socket.io-adapter) is the behaviour to match.
 *
 * Arguments are raw JSON text. An event's arguments arrive as the text between the event name and
 * the closing bracket of the packet's array ("1,\"2\",{\"3\":[true]}" for
 * 42["message",1,"2",{"3":[true]}]), validated but not parsed, and are sent the same way: an
 * echo server passes them on without ever building a tree. Read them with the scanner of json.h
 * (tc_json_list_get, tc_json_unescape) or parse them with jansson when a tree is wanted.
 *
 * Binary data travels as attachments: the JSON holds placeholders {"_placeholder":true,"num":N}
 * where a Buffer was, and attachment N is the bytes. Incoming placeholders are checked (each
 * must name an attachment that exists); outgoing ones are the caller's to write, for example
 * with TC_SIO_PLACEHOLDER.
 *
 * Threads: everything runs on the loop thread of the HTTP server's I/O context.
 *
 * Lifetimes, in short:
 *   - a server lives as long as its HTTP server (it is freed with it);
 *   - a namespace lives as long as its server, except a child of a dynamic namespace created with
 *     cleanup_empty_child_namespaces, which goes when its last socket leaves;
 *   - a socket is valid from the first middleware call (or on_connection when there is none)
 *     until on_disconnect returns, or, for a socket that never connected, until its refusal;
 *     its memory is released on a later loop turn, so using it in the callback that
 *     disconnected it is safe;
 *   - every slice and event handed to a callback is valid during that call only;
 *   - every pointer and slice the caller passes is copied when it must outlive the call.
 */
#ifndef TINCAN_SIO_H
#define TINCAN_SIO_H

#include "tincan/base.h"
#include "tincan/eio.h"
#include "tincan/http.h"
#include "tincan/json.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's value type, for the convenience functions */

/* ---- Packets (sans-I/O) ---------------------------------------------------------------------- */

enum {
  TC_SIO_CONNECT = 0,
  TC_SIO_DISCONNECT = 1,
  TC_SIO_EVENT = 2,
  TC_SIO_ACK = 3,
  TC_SIO_CONNECT_ERROR = 4,
  TC_SIO_BINARY_EVENT = 5,
  TC_SIO_BINARY_ACK = 6,
};

#define TC_SIO_MAX_ATTACHMENTS_DEFAULT 10

/* One decoded packet. Slices point into the decoded text. */
typedef struct tc_sio_packet {
  int type;           /* TC_SIO_* */
  size_t attachments; /* binary types: how many binary messages follow */
  tc_slice_t nsp;     /* the namespace; "/" when the packet names none */
  int has_id;         /* an acknowledgement id is present */
  uint64_t id;
  tc_slice_t data; /* the JSON payload without surrounding whitespace; empty when absent */
  /* Events: the first element of the payload array as sent (a string token with its quotes, or
   * a number), and the elements after it. Acks: args is all the elements. args is a bare list
   * without brackets and without surrounding whitespace, empty when there are none. */
  tc_slice_t event;
  tc_slice_t args;
} tc_sio_packet_t;

/* Decodes the text of one Socket.IO packet (an Engine.IO message without its "4"), with the
 * rules of socket.io-parser: a known type; for binary types a count of attachments from 1 to
 * max_attachments (0 means 10) followed by "-"; an optional namespace starting with "/" and
 * ending at "," or the end; an optional acknowledgement id (decimal, below 2^64); then a payload
 * that is valid JSON of the right shape for the type: CONNECT none or an object; DISCONNECT none;
 * CONNECT_ERROR a string or an object; EVENT an array whose first element is a number or a
 * string other than the reserved names (connect, connect_error, disconnect, disconnecting,
 * newListener, removeListener); ACK an array. Returns 0, TC_EPROTO, or TC_E2BIG for too many
 * attachments. The placeholders of a binary packet are checked once its attachments are there
 * (tc_sio_placeholders_check). */
int tc_sio_packet_decode(const uint8_t *p, size_t len, size_t max_attachments,
                         tc_sio_packet_t *out);

/* Checks the placeholders of a binary packet's payload against n attachments: every object
 * whose "_placeholder" is true must have a "num" that is an integer from 0 to n - 1 (other keys
 * of such an object are not looked at). 0 or TC_EPROTO. */
int tc_sio_placeholders_check(tc_slice_t payload, size_t n);

/* Appends the packet's text: type, attachment count for binary types, namespace unless it is
 * "/" (or empty), id when has_id, then the payload: for events "[" event "," args "]", for acks
 * "[" args "]", for the other types data. Nothing is validated. 0 or TC_ENOMEM. */
int tc_sio_packet_encode(tc_buf_t *out, const tc_sio_packet_t *pkt);

/* Reassembles packets from the Engine.IO messages of one connection: a text message is a packet,
 * except a binary one, whose attachments are the binary messages that follow it. */
typedef struct tc_sio_decoder {
  size_t max_attachments; /* 0 means 10 */
  /* private: a binary packet and its attachments, allocated only while there is one */
  struct tc__sio_binary *bin;
} tc_sio_decoder_t;

typedef struct tc_sio_message {
  tc_sio_packet_t pkt;
  const tc_slice_t *attachments; /* binary packets: pkt.attachments slices, else NULL */
  size_t num_attachments;
} tc_sio_message_t;

/* Feeds one Engine.IO message. Returns 1 with *out set when a packet is complete, 0 when the
 * message was an attachment and more must follow, or an error: TC_EPROTO (a malformed packet,
 * text while attachments were expected, binary when none was, a bad placeholder), TC_E2BIG,
 * TC_ENOMEM. *out points into p for a text packet and into the decoder for a binary one, and is
 * valid until the next feed. After an error the decoder is reset. An idle decoder holds no
 * memory. */
int tc_sio_decoder_feed(tc_sio_decoder_t *d, int binary, const uint8_t *p, size_t len,
                        tc_sio_message_t *out);
void tc_sio_decoder_reset(tc_sio_decoder_t *d);

/* ---- Server ---------------------------------------------------------------------------------- */

typedef struct tc_sio_server tc_sio_server_t;
typedef struct tc_sio_nsp tc_sio_nsp_t;
typedef struct tc_sio_socket tc_sio_socket_t;

typedef struct tc_sio_config {
  /* Engine.IO settings (transports, heartbeat, maxHttpBufferSize, CORS, allow_request). Its path
   * defaults to "/socket.io/" here; its logger to log below. */
  tc_eio_config_t eio;
  /* A session that has joined no namespace this long after its handshake is closed. Default
   * 45000 ms. */
  uint64_t connect_timeout_ms;
  size_t max_attachments; /* per packet; default 10. More is a protocol error */
  /* Connection state recovery (Node's connectionStateRecovery), off by default. When on, a
   * client that lost its connection for a reason other than a deliberate disconnect gets back,
   * within recovery_max_disconnection_ms (default 120000), its id, rooms and data, and the
   * broadcasts it missed. Every event emitted without acknowledgement and not volatile then
   * carries an offset as its last argument, as Node's does. As in Node, a session stays
   * restorable after a restore until it expires; a restore is refused while a socket with its
   * id is connected. */
  unsigned recovery : 1;
  uint64_t recovery_max_disconnection_ms;
  /* Run the middlewares for a recovered socket too (Node's skipMiddlewares: false). */
  unsigned recovery_run_middlewares : 1;
  /* Remove a child of a dynamic namespace when its last socket leaves. */
  unsigned cleanup_empty_child_namespaces : 1;
  /* Do not keep a copy of the handshake's headers and query for tc_sio_header / tc_sio_query
   * (saves their size per connection). */
  unsigned no_handshake_copy : 1;
  /* A folder holding socket.io-client's dist/ files: when set, the browser client is served
   * from it at <path>socket.io.js, socket.io.min.js, socket.io.esm.min.js and their .map
   * (Node's serveClient). NULL: not served. */
  const char *client_dir;
  const tc_logger_t *log;
} tc_sio_config_t;

/* Serves Socket.IO on the HTTP server (it creates the Engine.IO server on cfg->eio.path). cfg
 * may be NULL for the defaults; it is copied, and so are the strings it points to except the
 * logger, which must outlive the server. The main namespace "/" exists from the start. The
 * server is freed with the HTTP server. 0, TC_EINVAL, TC_ENOMEM, TC_ENOENT (client_dir is not a
 * folder), or the Engine.IO server's error. */
int tc_sio_server_new(tc_http_server_t *http, const tc_sio_config_t *cfg, tc_sio_server_t **out);
/* Disconnects every socket of every namespace ("server shutting down") and closes every
 * Engine.IO session. The server keeps serving new sessions; stop the HTTP server to refuse
 * them. */
void tc_sio_server_close(tc_sio_server_t *srv);
tc_eio_server_t *tc_sio_server_eio(const tc_sio_server_t *srv);
/* Engine.IO sessions currently open (connected to any number of namespaces). */
size_t tc_sio_server_client_count(const tc_sio_server_t *srv);

/* ---- Namespaces ------------------------------------------------------------------------------ */

/* The namespace called name ("/chat"; a missing leading "/" is added), created when it does not
 * exist yet. A name that matches a dynamic namespace's pattern becomes its child. NULL on
 * TC_ENOMEM. */
tc_sio_nsp_t *tc_sio_of(tc_sio_server_t *srv, const char *name);
/* A namespace by name if it exists, without creating it. */
tc_sio_nsp_t *tc_sio_nsp_find(tc_sio_server_t *srv, const char *name);
/* Turns connection state recovery off (0) for one namespace of a server that has it on, so a
 * namespace whose messages need no replay (an echo, a benchmark) pays nothing for it: no
 * offsets, nothing stored. Node's option is server-wide; this is a tincan addition. Call before
 * sockets connect. */
void tc_sio_nsp_set_recovery(tc_sio_nsp_t *nsp, int on);

/* Decides whether a client may create the namespace name (dynamic namespaces). auth is the
 * CONNECT payload (raw JSON, "{}" when none). Non-zero allows. */
typedef int (*tc_sio_nsp_match_fn)(tc_sio_server_t *srv, const char *name, tc_slice_t auth,
                                   void *ud);

/* A dynamic namespace (Node's io.of(regex or function)): a parent whose children are created
 * when a client connects to a name it accepts. It accepts names that match the glob pattern
 * (fnmatch(3) without flags: "*" matches any characters, "/" included) when pattern is not
 * NULL, and then, when fn is not NULL, that fn allows. Parents are asked in the order they were
 * made. Handlers and middlewares registered on the parent apply to all its children (its own run
 * first, then the child's); broadcasting to the parent broadcasts to every child. The pattern is
 * copied. NULL on TC_ENOMEM or when both pattern and fn are NULL. */
tc_sio_nsp_t *tc_sio_of_dynamic(tc_sio_server_t *srv, const char *pattern, tc_sio_nsp_match_fn fn,
                                void *ud);

const char *tc_sio_nsp_name(const tc_sio_nsp_t *nsp); /* for a parent: "/_0", "/_1", ... */
tc_sio_server_t *tc_sio_nsp_server(const tc_sio_nsp_t *nsp);
/* The dynamic namespace a child was created from, or NULL. */
tc_sio_nsp_t *tc_sio_nsp_parent(const tc_sio_nsp_t *nsp);
/* Connected sockets. */
size_t tc_sio_nsp_count(const tc_sio_nsp_t *nsp);
/* A connected socket by id, or NULL. */
tc_sio_socket_t *tc_sio_nsp_socket(const tc_sio_nsp_t *nsp, const char *id);

/* What happens on a namespace. Every callback is optional. */
typedef struct tc_sio_nsp_handlers {
  /* A socket connected (after the middlewares let it through). */
  void (*on_connection)(tc_sio_socket_t *s, void *ud);
  /* A socket is leaving; its rooms are still there. reason as for on_disconnect. */
  void (*on_disconnecting)(tc_sio_socket_t *s, const char *reason, void *ud);
  /* A socket left. reason is Node's: "client namespace disconnect", "server namespace
   * disconnect", "transport close", "transport error", "ping timeout", "parse error", "forced
   * close", "forced server close", "server shutting down". The last callback for s. */
  void (*on_disconnect)(tc_sio_socket_t *s, const char *reason, void *ud);
} tc_sio_nsp_handlers_t;

/* Sets the namespace's handlers (copied) and the ud they get. */
void tc_sio_nsp_set_handlers(tc_sio_nsp_t *nsp, const tc_sio_nsp_handlers_t *h, void *ud);

/* ---- Middlewares ----------------------------------------------------------------------------- */

/* Middleware results. */
enum {
  TC_SIO_NEXT = 0,    /* let the connection through to the next middleware */
  TC_SIO_REFUSED = 1, /* returned by tc_sio_refuse */
  TC_SIO_PENDING = 2, /* the decision comes later, through tc_sio_next */
};

/* Runs for each socket connecting to the namespace, before it is connected, in the order they
 * were added. The socket can be read (id, auth, headers), given data and rooms, but it receives
 * no broadcast until connected. Return TC_SIO_NEXT, return tc_sio_refuse(...), or return
 * TC_SIO_PENDING and later call tc_sio_next exactly once. */
typedef int (*tc_sio_middleware_fn)(tc_sio_socket_t *s, void *ud);
int tc_sio_use(tc_sio_nsp_t *nsp, tc_sio_middleware_fn fn, void *ud);

/* Refuses the connection: the client gets CONNECT_ERROR {"message": message, "data": data}
 * (data is raw JSON, left out when empty or not valid JSON; message NULL or not UTF-8 becomes
 * "Refused"). Both are copied. Returns TC_SIO_REFUSED, for a middleware to return. */
int tc_sio_refuse(tc_sio_socket_t *s, const char *message, tc_slice_t data);
/* Completes a middleware that returned TC_SIO_PENDING: message NULL lets the socket through to
 * the next middleware, anything else refuses it as tc_sio_refuse does. Must be called exactly
 * once per pending middleware, even when the client has gone meanwhile (the socket is then
 * released here; check tc_sio_closed first to skip work), and before the server is freed.
 * Called from inside the middleware itself, it decides for it whatever the middleware then
 * returns (Node's next() called at once). 0, or TC_EINVAL when no middleware is pending for s. */
int tc_sio_next(tc_sio_socket_t *s, const char *message, tc_slice_t data);

/* ---- Events ---------------------------------------------------------------------------------- */

/* An event from a client, valid during the call only. */
typedef struct tc_sio_event {
  const char *name; /* unescaped and NUL-terminated; a numeric name is its JSON text */
  size_t name_len;  /* (the name may contain NUL bytes) */
  tc_slice_t args;  /* the arguments after the name: a bare JSON list, empty when none */
  const tc_slice_t *attachments; /* the binary attachments the placeholders refer to */
  size_t num_attachments;
  int64_t ack_id; /* >= 0 when the client waits for an acknowledgement: see tc_sio_ack */
} tc_sio_event_t;

typedef void (*tc_sio_event_fn)(tc_sio_socket_t *s, const tc_sio_event_t *ev, void *ud);

/* Calls fn for events called name on this namespace (and, for a dynamic namespace, its
 * children). A later registration for the same name replaces the earlier one; fn NULL removes
 * it. The name is copied. 0 or TC_ENOMEM. */
int tc_sio_on(tc_sio_nsp_t *nsp, const char *name, tc_sio_event_fn fn, void *ud);
/* Calls fn for every event, before the handler of its name (Node's onAny). NULL removes it. */
void tc_sio_on_any(tc_sio_nsp_t *nsp, tc_sio_event_fn fn, void *ud);

/* ---- Emitting -------------------------------------------------------------------------------- */

/* A reply to an acknowledged emit: the client's arguments, valid during the callback only. */
typedef struct tc_sio_reply {
  tc_slice_t args; /* a bare JSON list, empty when the client acknowledged with no arguments */
  const tc_slice_t *attachments;
  size_t num_attachments;
} tc_sio_reply_t;

/* The acknowledgement of an emit to one socket: err 0 with the reply; TC_ETIMEDOUT when the
 * emit's timeout passed first (reply NULL); TC_ECLOSED when the socket disconnected first
 * (reply NULL; s is still readable during the call). Called exactly once. */
typedef void (*tc_sio_ack_fn)(tc_sio_socket_t *s, int err, const tc_sio_reply_t *reply, void *ud);

/* Everything an emit can say. Only event is required. */
typedef struct tc_sio_emit {
  const char *event; /* UTF-8; not a reserved name (connect, connect_error, disconnect,
                        disconnecting, newListener, removeListener) */
  tc_slice_t args;   /* a bare JSON list of arguments, empty for none; checked (TC_EINVAL) */
  const tc_slice_t *attachments; /* binary attachments for the args' placeholders */
  size_t num_attachments;
  unsigned is_volatile : 1; /* dropped for a socket whose transport still has output queued */
  /* Sockets only: ask for an acknowledgement. timeout_ms 0 waits until the socket goes. */
  tc_sio_ack_fn ack;
  void *ack_ud;
  uint64_t timeout_ms;
} tc_sio_emit_t;

/* Emits an event to one socket. args as for tc_sio_emit_t. 0, TC_EINVAL (reserved name, args
 * not a JSON list, name not UTF-8), TC_ECLOSED (the socket has disconnected: the message is
 * dropped), TC_ENOMEM. */
int tc_sio_emit(tc_sio_socket_t *s, const char *event, tc_slice_t args);
/* The same with everything tc_sio_emit_t offers. When an ack is asked for and the call fails,
 * the ack callback is not called. */
int tc_sio_send(tc_sio_socket_t *s, const tc_sio_emit_t *e);
/* Emits with the arguments of a jansson array (NULL for none). Binary data cannot be expressed
 * in jansson: use tc_sio_send for attachments. */
int tc_sio_emit_json(tc_sio_socket_t *s, const char *event, const struct json_t *args);

/* Acknowledges an event (ev->ack_id) with arguments (a bare JSON list, may be empty). The second
 * acknowledgement of the same id is sent too; send one. 0, TC_EINVAL, TC_ECLOSED, TC_ENOMEM. */
int tc_sio_ack(tc_sio_socket_t *s, int64_t ack_id, tc_slice_t args);
int tc_sio_ack_bin(tc_sio_socket_t *s, int64_t ack_id, tc_slice_t args,
                   const tc_slice_t *attachments, size_t num_attachments);
int tc_sio_ack_json(tc_sio_socket_t *s, int64_t ack_id, const struct json_t *args);

/* Parses a bare list of arguments (an event's or a reply's args) into a new jansson array, for
 * code that wants a tree; the caller owns the reference (json_decref). Placeholders stay objects.
 * NULL when the text is not a valid list or memory runs out. */
struct json_t *tc_sio_args_json(tc_slice_t args);

/* A placeholder for attachment n, to write into args: TC_SIO_PLACEHOLDER "0" TC_SIO_PLACEHOLDER_END
 * gives {"_placeholder":true,"num":0}. */
#define TC_SIO_PLACEHOLDER "{\"_placeholder\":true,\"num\":"
#define TC_SIO_PLACEHOLDER_END "}"

/* ---- Broadcasting ---------------------------------------------------------------------------- */

/* Which sockets of a namespace a broadcast reaches (Node's to / except / volatile / local). */
typedef struct tc_sio_target {
  const char *const *rooms; /* sockets in any of these rooms; none: every connected socket */
  size_t num_rooms;
  const char *const *except; /* minus the sockets in any of these rooms */
  size_t num_except;
  unsigned is_volatile : 1; /* skip sockets whose transport still has output queued */
  unsigned local : 1;       /* this server only (matters once an adapter spans servers) */
} tc_sio_target_t;

/* Emits to every connected socket the target selects (to NULL: the whole namespace). The packet
 * is encoded once and its bytes shared by all recipients. e->ack must be NULL here (use
 * tc_sio_broadcast_ack). For a dynamic namespace, every child. 0, TC_EINVAL, TC_ENOMEM. */
int tc_sio_broadcast(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const tc_sio_emit_t *e);
/* The same from a socket (Node's socket.broadcast / socket.to): the sender is left out. */
int tc_sio_socket_broadcast(tc_sio_socket_t *s, const tc_sio_target_t *to, const tc_sio_emit_t *e);

/* The outcome of a broadcast with acknowledgements: err 0 when every socket reached answered,
 * TC_ETIMEDOUT when the timeout came first, TC_ECLOSED when the server went first; replies holds
 * the answers that arrived, in the order they arrived, each with all its arguments (Node's
 * responses hold the first argument of each). A socket that disconnects without answering is
 * waited for until the timeout, as in Node. Called exactly once, never from inside
 * tc_sio_broadcast_ack, and not at all when that fails. */
typedef void (*tc_sio_broadcast_ack_fn)(tc_sio_nsp_t *nsp, int err, const tc_sio_reply_t *replies,
                                        size_t num_replies, void *ud);
/* Broadcasts e (its own ack fields are ignored) asking every recipient for an acknowledgement;
 * timeout_ms must be above 0. Not for dynamic parents (TC_EINVAL). */
int tc_sio_broadcast_ack(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const tc_sio_emit_t *e,
                         uint64_t timeout_ms, tc_sio_broadcast_ack_fn fn, void *ud);

/* Calls fn for every connected socket the target selects (Node's fetchSockets). The selection
 * is made before the first call, so fn may do anything, disconnections included; a socket that
 * disconnects before its turn is skipped. */
void tc_sio_each(tc_sio_nsp_t *nsp, const tc_sio_target_t *to,
                 void (*fn)(tc_sio_socket_t *s, void *ud), void *ud);
/* Makes the selected sockets join or leave a room (socketsJoin / socketsLeave). */
int tc_sio_sockets_join(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const char *room);
void tc_sio_sockets_leave(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, const char *room);
/* Disconnects the selected sockets, as tc_sio_disconnect does (disconnectSockets). */
void tc_sio_disconnect_sockets(tc_sio_nsp_t *nsp, const tc_sio_target_t *to, int close);

/* ---- Rooms ----------------------------------------------------------------------------------- */

/* Every socket is in the room named by its id from its connection on. Names are copied.
 * 0, TC_ECLOSED (disconnected), TC_ENOMEM. Joining twice is joining once. */
int tc_sio_join(tc_sio_socket_t *s, const char *room);
int tc_sio_leave(tc_sio_socket_t *s, const char *room);
int tc_sio_in_room(const tc_sio_socket_t *s, const char *room);
/* Calls fn with each room of the socket (its id's included). */
void tc_sio_rooms(const tc_sio_socket_t *s, void (*fn)(const char *room, void *ud), void *ud);
/* Sockets in a room of the namespace (connected or not). */
size_t tc_sio_room_size(const tc_sio_nsp_t *nsp, const char *room);

/* ---- Sockets --------------------------------------------------------------------------------- */

/* Leaves the namespace: the client gets a DISCONNECT packet and the socket is disconnected with
 * "server namespace disconnect". With close non-zero the whole connection goes: every namespace
 * of the client is left that way, then the Engine.IO session is closed. Does nothing for a socket
 * that is not connected. */
void tc_sio_disconnect(tc_sio_socket_t *s, int close);

/* The socket's id: 20 characters, random, not the Engine.IO session id; restored with the
 * session after a recovery. */
const char *tc_sio_id(const tc_sio_socket_t *s);
tc_sio_nsp_t *tc_sio_socket_nsp(const tc_sio_socket_t *s);
/* The CONNECT payload (the client's auth), raw JSON; "{}" when the client sent none. */
tc_slice_t tc_sio_auth(const tc_sio_socket_t *s);
/* Non-zero when the socket's state was restored by connection state recovery. */
int tc_sio_recovered(const tc_sio_socket_t *s);
int tc_sio_connected(const tc_sio_socket_t *s);
/* Non-zero once the client's connection has gone (a pending middleware may see this). */
int tc_sio_closed(const tc_sio_socket_t *s);
/* The Engine.IO session under the socket (shared by its namespaces), or NULL once closed. */
tc_eio_socket_t *tc_sio_eio(const tc_sio_socket_t *s);
/* A header of the handshake request (case-insensitive name): 1 with *value, or 0 (absent, or
 * no_handshake_copy). The query string of the handshake request (without "?"). */
int tc_sio_header(const tc_sio_socket_t *s, const char *name, tc_slice_t *value);
tc_slice_t tc_sio_query(const tc_sio_socket_t *s);

/* Application state. user is a pointer the library never looks at: release what it points to in
 * on_disconnect. data is JSON text (copied) that connection state recovery keeps and restores
 * with the session; "" when unset. */
void tc_sio_set_user(tc_sio_socket_t *s, void *user);
void *tc_sio_user(const tc_sio_socket_t *s);
int tc_sio_set_data(tc_sio_socket_t *s, tc_slice_t json);
tc_slice_t tc_sio_data(const tc_sio_socket_t *s);

#ifdef __cplusplus
}
#endif
#endif
