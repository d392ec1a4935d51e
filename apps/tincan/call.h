/* The call: signaling for WebRTC calls on the Socket.IO namespace /call, and the ICE servers the
 * page should use at GET /api/ice-servers. The page is web/call/; the contract it speaks is
 * web/call/README.md. The media itself never passes through tincan. */
#ifndef TINCAN_APP_CALL_H
#define TINCAN_APP_CALL_H

#include "tincan/tincan.h"

/* Limits, in characters (Unicode code points) after trimming, and in bytes. */
#define TC_CALL_MAX_NAME 32
#define TC_CALL_MAX_ROOM 64
#define TC_CALL_MAX_SDP 65536
#define TC_CALL_MAX_CANDIDATE 4096
#define TC_CALL_DEFAULT_LIMIT 6

typedef struct tc_call_config {
  size_t limit;                   /* participants per room; 0 means TC_CALL_DEFAULT_LIMIT */
  int stun_port;                  /* tincan's own STUN server, 0 when there is none */
  const char *const *ice_servers; /* more ICE server URLs for the page, after tincan's own */
  size_t num_ice_servers;
  const char *default_host; /* the STUN host when a request names none (HTTP/1.0) */
} tc_call_config_t;

/* Serves the call's signaling on the namespace /call of sio (made with sio before this call, so
 * that its sockets are gone by the time the call is freed, with http) and the route
 * /api/ice-servers on http. cfg's strings must outlive the server. 0 or TC_ENOMEM. */
int tc_call_attach(tc_sio_server_t *sio, tc_http_server_t *http, const tc_call_config_t *cfg,
                   const tc_logger_t *log);

#endif
