/* Socket.IO in the tincan binary: the server on /socket.io/, the official browser client served
 * from the same path, the main namespace's echo and benchmark events, and the chat (chat.h). */
#ifndef TINCAN_APP_SIO_APP_H
#define TINCAN_APP_SIO_APP_H

#include "tincan/tincan.h"

typedef struct tc_sio_app tc_sio_app_t;

/* Serves Socket.IO on /socket.io/ of http with connection state recovery as asked (on by
 * default in tincan: the chat relies on it; a benchmark turns it off to compare with a Node
 * server without it) and CORS off (the pages are served from the same origin). Namespace "/"
 * answers `echo` by emitting `echo` with the same arguments to the sender, joins the room "bench"
 * on `bench:join`, and emits `bench:msg` with the arguments of `bench:fanout` to that room. /chat
 * is the chat.
 *
 * client_dir is the dist folder of the socket.io-client npm package: its socket.io.min.js and
 * socket.io.js (and their source maps) are served at /socket.io/NAME, as Node's server does.
 * When it lacks them, those paths answer 404 and a warning is logged.
 *
 * Everything is freed with the HTTP server. 0, or the error of the first part that failed. */
int tc_sio_app_new(tc_http_server_t *http, const char *client_dir, int recovery,
                   const tc_logger_t *log, tc_sio_app_t **out);

/* Disconnects every client (at shutdown, so that long-polling requests end at once). */
void tc_sio_app_close(tc_sio_app_t *app);
/* The Socket.IO server, for more namespaces. */
tc_sio_server_t *tc_sio_app_server(tc_sio_app_t *app);

#endif
