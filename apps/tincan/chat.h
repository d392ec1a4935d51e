/* The chat: rooms, nicknames, presence, typing and history on the Socket.IO namespace /chat. The
 * page is web/chat/; the contract it speaks is web/chat/README.md. */
#ifndef TINCAN_APP_CHAT_H
#define TINCAN_APP_CHAT_H

#include "tincan/tincan.h"

/* Limits, in characters (Unicode code points) after trimming, and in rooms. */
#define TC_CHAT_MAX_NAME 32
#define TC_CHAT_MAX_ROOM 64
#define TC_CHAT_MAX_TEXT 2000
#define TC_CHAT_HISTORY 50
#define TC_CHAT_MAX_ROOMS 1000

/* Serves the chat on the namespace /chat of sio. Every room and its history live in memory;
 * they are freed with the HTTP server, which must be the one sio runs on (and sio must have been
 * made before this call, so that its sockets are gone by the time the chat is freed).
 * 0 or TC_ENOMEM. */
int tc_chat_attach(tc_sio_server_t *sio, tc_http_server_t *http, const tc_logger_t *log);

#endif
