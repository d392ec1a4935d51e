/* tincan STUN (RFC 8489, and the RFC 5389 clients it stays compatible with).
 *
 * Two layers, both sans-I/O:
 *   - the message codec: header checks, attribute iteration, a builder that appends to a
 *     tc_buf_t the caller owns, the address, error and integrity attributes, and the helpers a
 *     transport needs (framing over TCP, telling STUN from other protocols on a shared port);
 *   - the Binding responder: one pure function from a request datagram and its source address
 *     to the response to send, for a public STUN server.
 * TURN and ICE build on the codec: it knows their methods and attribute numbers but leaves
 * their meaning to them.
 *
 * Nothing here keeps state, reads the clock or draws random numbers: transaction ids come from
 * the caller. Every function may be called from any thread on distinct objects.
 */
#ifndef TINCAN_STUN_H
#define TINCAN_STUN_H

#include "tincan/base.h"
#include "tincan/io.h"

#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_STUN_MAGIC_COOKIE 0x2112A442u
#define TC_STUN_HEADER_LEN 20
#define TC_STUN_TID_LEN 12
/* The largest message: the 16-bit length field counts whole 4-byte words after the header. */
#define TC_STUN_MAX_LEN (TC_STUN_HEADER_LEN + 65532)

/* Message classes (RFC 8489 section 5). */
enum {
  TC_STUN_REQUEST = 0,
  TC_STUN_INDICATION = 1,
  TC_STUN_SUCCESS = 2,
  TC_STUN_ERROR = 3,
};

/* Methods: Binding (RFC 8489) and the TURN methods (RFC 8656). */
enum {
  TC_STUN_BINDING = 0x001,
  TC_STUN_ALLOCATE = 0x003,
  TC_STUN_REFRESH = 0x004,
  TC_STUN_SEND = 0x006,
  TC_STUN_DATA = 0x007,
  TC_STUN_CREATE_PERMISSION = 0x008,
  TC_STUN_CHANNEL_BIND = 0x009,
};

/* Attribute types. Types below 0x8000 are comprehension-required: an agent that does not know
 * one must not act on the message as if it were absent. */
enum {
  /* RFC 8489 */
  TC_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
  TC_STUN_ATTR_USERNAME = 0x0006,
  TC_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
  TC_STUN_ATTR_ERROR_CODE = 0x0009,
  TC_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
  TC_STUN_ATTR_REALM = 0x0014,
  TC_STUN_ATTR_NONCE = 0x0015,
  TC_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
  TC_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
  TC_STUN_ATTR_USERHASH = 0x001E,
  TC_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
  TC_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
  TC_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
  TC_STUN_ATTR_SOFTWARE = 0x8022,
  TC_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
  TC_STUN_ATTR_FINGERPRINT = 0x8028,
  /* RFC 8656 (TURN) */
  TC_STUN_ATTR_CHANNEL_NUMBER = 0x000C,
  TC_STUN_ATTR_LIFETIME = 0x000D,
  TC_STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
  TC_STUN_ATTR_DATA = 0x0013,
  TC_STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
  TC_STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
  TC_STUN_ATTR_EVEN_PORT = 0x0018,
  TC_STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
  TC_STUN_ATTR_DONT_FRAGMENT = 0x001A,
  TC_STUN_ATTR_RESERVATION_TOKEN = 0x0022,
  TC_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
  TC_STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
  TC_STUN_ATTR_ICMP = 0x8004,
  /* RFC 8445 (ICE) */
  TC_STUN_ATTR_PRIORITY = 0x0024,
  TC_STUN_ATTR_USE_CANDIDATE = 0x0025,
  TC_STUN_ATTR_ICE_CONTROLLED = 0x8029,
  TC_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* Error codes (RFC 8489 section 14.8, RFC 8656 section 18, RFC 8445 section 7.3.1.1). */
enum {
  TC_STUN_ERR_TRY_ALTERNATE = 300,
  TC_STUN_ERR_BAD_REQUEST = 400,
  TC_STUN_ERR_UNAUTHENTICATED = 401,
  TC_STUN_ERR_FORBIDDEN = 403,
  TC_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
  TC_STUN_ERR_ALLOCATION_MISMATCH = 437,
  TC_STUN_ERR_STALE_NONCE = 438,
  TC_STUN_ERR_ADDRESS_FAMILY = 440,
  TC_STUN_ERR_WRONG_CREDENTIALS = 441,
  TC_STUN_ERR_UNSUPPORTED_TRANSPORT = 442,
  TC_STUN_ERR_PEER_ADDRESS_FAMILY = 443,
  TC_STUN_ERR_ALLOCATION_QUOTA = 486,
  TC_STUN_ERR_ROLE_CONFLICT = 487,
  TC_STUN_ERR_SERVER_ERROR = 500,
  TC_STUN_ERR_INSUFFICIENT_CAPACITY = 508,
};

/* Password algorithms for the long-term credential mechanism (RFC 8489 section 18.5). */
enum {
  TC_STUN_PASSWORD_MD5 = 0x0001,
  TC_STUN_PASSWORD_SHA256 = 0x0002,
};

/* The reason phrase the RFCs recommend for a code, as a static string; NULL for a code no RFC
 * above defines. */
const char *tc_stun_reason(int code);

/* The 14-bit message type from a method (0..0xFFF) and a class (TC_STUN_REQUEST..ERROR), and
 * back: the class bits sit between the method bits (RFC 8489 section 5). */
uint16_t tc_stun_type(uint16_t method, int cls);
uint16_t tc_stun_type_method(uint16_t type);
int tc_stun_type_class(uint16_t type);

/* ---- Recognising and framing ------------------------------------------------------------------
 */

/* What the first byte of a datagram on a port shared by STUN, DTLS and media says it carries
 * (RFC 7983 section 7). */
typedef enum {
  TC_STUN_DEMUX_OTHER = 0,    /* no protocol of RFC 7983: drop it */
  TC_STUN_DEMUX_STUN,         /* 0..3 */
  TC_STUN_DEMUX_ZRTP,         /* 16..19 */
  TC_STUN_DEMUX_DTLS,         /* 20..63 */
  TC_STUN_DEMUX_TURN_CHANNEL, /* 64..79: TURN ChannelData */
  TC_STUN_DEMUX_RTP,          /* 128..191: RTP or RTCP */
} tc_stun_demux_t;

/* Classifies p[0..len) by its first byte; an empty datagram is TC_STUN_DEMUX_OTHER. A first
 * byte in the STUN range only says "try STUN": tc_stun_is_message, and a FINGERPRINT check
 * where the usage requires one, decide. */
tc_stun_demux_t tc_stun_demux(const uint8_t *p, size_t len);

/* Non-zero when p[0..len) is exactly one STUN message by its header: the first two bits are 0,
 * the magic cookie is there, and the length field is a multiple of 4 with 20 + length == len.
 * Attributes are not looked at. */
int tc_stun_is_message(const uint8_t *p, size_t len);

/* For STUN alone over a TCP or TLS stream: the length of the message at the front of
 * p[0..len), header included (20 + the length field), even when fewer bytes than that have
 * arrived yet. TC_EAGAIN while fewer than 20 bytes are there and those that are could start a
 * message; TC_EPROTO as soon as the bytes cannot be STUN (first two bits not 0, a length that
 * is not a multiple of 4, no magic cookie), even before 20 bytes have arrived. The stream is
 * then not STUN and should be closed. TURN's ChannelData frames are not STUN to this function.
 */
ssize_t tc_stun_frame_len(const uint8_t *p, size_t len);

/* ---- Parsing -----------------------------------------------------------------------------------
 */

/* A parsed message: a view of the caller's bytes, valid as long as they are. */
typedef struct tc_stun_msg {
  const uint8_t *p;             /* the whole message, header first */
  size_t len;                   /* 20 + the length field */
  uint16_t method;              /* 0..0xFFF */
  uint8_t cls;                  /* TC_STUN_REQUEST..TC_STUN_ERROR */
  uint8_t tid[TC_STUN_TID_LEN]; /* the transaction id */
  /* Offsets from p of the attribute headers of MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and
   * FINGERPRINT; 0 when the message has none that counts. */
  size_t integrity_off;
  size_t integrity256_off;
  size_t fingerprint_off;
  /* Where the attributes the integrity attributes cover end: the first of the three above, or
   * len. */
  size_t body_end;
} tc_stun_msg_t;

/* One attribute; the value points into the message and excludes the padding. */
typedef struct tc_stun_attr {
  uint16_t type;
  tc_slice_t value;
} tc_stun_attr_t;

/* Parses the datagram (or TCP frame) p[0..len) as one STUN message. Returns:
 *   0          a well-formed message;
 *   TC_EPROTO  not a STUN message (tc_stun_is_message fails): drop it without an answer;
 *   TC_EINVAL  the header is a STUN header but the attributes are malformed: an attribute runs
 *              past the end, MESSAGE-INTEGRITY is not 20 bytes, MESSAGE-INTEGRITY-SHA256 is not
 *              16..32 bytes in steps of 4, FINGERPRINT is not 4 bytes or is not the last
 *              attribute. m then holds the header fields (method, class, transaction id),
 *              enough to answer a request with 400, and no attributes (m->len is 20).
 * Padding bytes may hold anything. Attributes after MESSAGE-INTEGRITY other than
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and attributes after MESSAGE-INTEGRITY-SHA256 other
 * than FINGERPRINT, are ignored as RFC 8489 section 9 requires: iteration skips them. Integrity
 * and FINGERPRINT values are not checked here; see tc_stun_check_*. */
int tc_stun_msg_parse(const uint8_t *p, size_t len, tc_stun_msg_t *m);

/* Iterates a message that tc_stun_msg_parse accepted (returned 0). Set *pos to 0 before the
 * first call. Returns 1 and fills *a with the next attribute that counts, 0 after the last. */
int tc_stun_attr_next(const tc_stun_msg_t *m, size_t *pos, tc_stun_attr_t *a);
/* The first attribute of a type that counts: 0, or TC_ENOENT when there is none. */
int tc_stun_attr_find(const tc_stun_msg_t *m, uint16_t type, tc_stun_attr_t *a);

/* MAPPED-ADDRESS and ALTERNATE-SERVER form: fills *out with a sockaddr_in or sockaddr_in6
 * (everything else zero). 0, or TC_EPROTO for an unknown family or a wrong length. */
int tc_stun_attr_addr(const tc_stun_attr_t *a, struct sockaddr_storage *out);
/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS: the same, unmasked with the magic
 * cookie and, for IPv6, the transaction id of m. */
int tc_stun_attr_xor_addr(const tc_stun_msg_t *m, const tc_stun_attr_t *a,
                          struct sockaddr_storage *out);
/* ERROR-CODE: *code is 300..699, *reason the phrase (UTF-8, checked). 0 or TC_EPROTO. */
int tc_stun_attr_error(const tc_stun_attr_t *a, int *code, tc_slice_t *reason);
/* UNKNOWN-ATTRIBUTES: writes up to cap types to types and returns how many the attribute lists
 * (which may exceed cap), or TC_EPROTO for an odd length. */
ssize_t tc_stun_attr_unknown(const tc_stun_attr_t *a, uint16_t *types, size_t cap);

/* ---- Integrity and FINGERPRINT -----------------------------------------------------------------
 */

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1) against key[0..key_len): the short-term key is the
 * password after OpaqueString (RFC 8265) or SASLprep, which is the caller's business; the
 * long-term key comes from tc_stun_long_term_key. 0 when it matches, TC_ENOENT when the message
 * has none, TC_EACCES when it does not match, TC_ENOMEM. Comparison takes constant time. */
int tc_stun_check_integrity(const tc_stun_msg_t *m, const uint8_t *key, size_t key_len);
/* The same for MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, possibly truncated to 16..28 bytes: the
 * bytes present are compared). */
int tc_stun_check_integrity_sha256(const tc_stun_msg_t *m, const uint8_t *key, size_t key_len);
/* Checks FINGERPRINT (CRC-32 of the message before it, XOR 0x5354554e). 0 when it matches,
 * TC_ENOENT when there is none, TC_EPROTO when it does not match. */
int tc_stun_check_fingerprint(const tc_stun_msg_t *m);

/* The long-term credential key (RFC 8489 section 9.2.2): MD5 or SHA-256 of
 * "username:realm:password", with the three already processed as the RFC asks (OpaqueString
 * for realm and password; SASLprep for RFC 5389 peers). algorithm is TC_STUN_PASSWORD_MD5 or
 * TC_STUN_PASSWORD_SHA256. Writes the key to out and returns its length (16 or 32), or
 * TC_EINVAL for another algorithm, TC_ENOMEM. TURN servers compute it once per user. */
int tc_stun_long_term_key(tc_slice_t username, tc_slice_t realm, tc_slice_t password, int algorithm,
                          uint8_t out[32]);
/* USERHASH (RFC 8489 section 14.4): SHA-256 of "username:realm". 0 or TC_ENOMEM. */
int tc_stun_userhash(tc_slice_t username, tc_slice_t realm, uint8_t out[32]);

/* ---- Building ----------------------------------------------------------------------------------
 */

/* Appends one message to a buffer the caller owns. Each call appends one attribute (padding it
 * with zeros) and keeps the header's length field right, so the bytes form a valid message
 * after every call. The first failure sticks: later calls do nothing and return it, and
 * tc_stun_build_end reports it and removes the partial message, so a caller may make all its
 * calls and check once. After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
 * may follow, after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, after FINGERPRINT nothing
 * (TC_EINVAL). Fields are private. */
typedef struct tc_stun_builder {
  tc_buf_t *out;
  size_t start; /* where the message starts, counted from tc_buf_data(out) */
  int err;
  int stage;
} tc_stun_builder_t;

/* Starts a message with the 20-byte header at the end of out. method 0..0xFFF, cls
 * TC_STUN_REQUEST..TC_STUN_ERROR, else TC_EINVAL. tid is the caller's: 96 random bits for a
 * new request, the request's id for a response. 0, TC_EINVAL, TC_ENOMEM. */
int tc_stun_build_begin(tc_stun_builder_t *b, tc_buf_t *out, uint16_t method, int cls,
                        const uint8_t tid[TC_STUN_TID_LEN]);
/* Any attribute from its value. TC_E2BIG when the message would pass TC_STUN_MAX_LEN. */
int tc_stun_build_attr(tc_stun_builder_t *b, uint16_t type, const void *value, size_t len);
/* A transport address in MAPPED-ADDRESS form (MAPPED-ADDRESS, ALTERNATE-SERVER) or XOR form
 * (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS). sa is a sockaddr_in or
 * sockaddr_in6, written as given (an IPv4-mapped IPv6 address stays IPv6), else TC_EINVAL. */
int tc_stun_build_addr(tc_stun_builder_t *b, uint16_t type, const struct sockaddr *sa);
int tc_stun_build_xor_addr(tc_stun_builder_t *b, uint16_t type, const struct sockaddr *sa);
/* ERROR-CODE: code 300..699; reason NULL uses tc_stun_reason(code) (or nothing for a code it
 * does not know). A reason longer than 763 bytes is TC_EINVAL. */
int tc_stun_build_error(tc_stun_builder_t *b, int code, const char *reason);
/* UNKNOWN-ATTRIBUTES listing n types (at most 32766). */
int tc_stun_build_unknown(tc_stun_builder_t *b, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY over everything so far, with the key described at tc_stun_check_integrity.
 */
int tc_stun_build_integrity(tc_stun_builder_t *b, const uint8_t *key, size_t key_len);
/* MESSAGE-INTEGRITY-SHA256, truncated to mac_len bytes (16..32 in steps of 4; 0 means 32).
 * Truncation is only for usages that allow it. */
int tc_stun_build_integrity_sha256(tc_stun_builder_t *b, const uint8_t *key, size_t key_len,
                                   size_t mac_len);
/* FINGERPRINT; nothing may follow it. */
int tc_stun_build_fingerprint(tc_stun_builder_t *b);
/* Finishes: returns the message's length (it starts at tc_buf_data(out) + b->start), or the
 * first error, in which case out is back to what it held before tc_stun_build_begin. */
ssize_t tc_stun_build_end(tc_stun_builder_t *b);

/* ---- The Binding responder ---------------------------------------------------------------------
 */

/* A response is never more than TC_STUN_MAX_GROWTH bytes longer than the request it answers,
 * so the server cannot be used to amplify traffic sent with a forged source address beyond
 * that. A success response holds 52 bytes at most before SOFTWARE (header 20,
 * XOR-MAPPED-ADDRESS 24 for IPv6, FINGERPRINT 8) and an error response 40 bytes more than its
 * request at most (420 with UNKNOWN-ATTRIBUTES, each listed type having taken at least 4 bytes of
 * the request); SOFTWARE is added only when it fits within the bound, which a value of up to 20
 * bytes always does. */
#define TC_STUN_MAX_GROWTH 64

typedef struct tc_stun_server_cfg {
  /* The SOFTWARE value sent in responses: NUL-terminated UTF-8 of fewer than 128 characters
   * (else it is never sent). NULL sends none. */
  const char *software;
} tc_stun_server_cfg_t;

/* Answers one STUN datagram (or one TCP frame cut with tc_stun_frame_len) that arrived from
 * `from` (a sockaddr_in or sockaddr_in6; an IPv4-mapped IPv6 address is reported as the IPv4
 * address it is). cfg may be NULL (no SOFTWARE). Returns 1 with the response appended to out,
 * 0 when nothing must be sent (out untouched), TC_EINVAL for a `from` of another family,
 * TC_ENOMEM (out untouched). What gets which answer, following RFC 8489 section 6.3:
 *   - not a STUN message, no magic cookie (RFC 3489 clients are not served), a method other
 *     than Binding, an indication, a response, or a FINGERPRINT that does not match: nothing;
 *   - a Binding request whose attributes are malformed (tc_stun_msg_parse's TC_EINVAL): 400;
 *   - a Binding request with comprehension-required attributes RFC 8489 does not define: 420
 *     with UNKNOWN-ATTRIBUTES (the first 16 distinct types);
 *   - any other Binding request: a success response with XOR-MAPPED-ADDRESS.
 * Every response carries SOFTWARE (see TC_STUN_MAX_GROWTH) and FINGERPRINT, never
 * MESSAGE-INTEGRITY: a server without credentials ignores USERNAME and MESSAGE-INTEGRITY, which
 * RFC 8489 defines, as known but unexpected attributes. */
int tc_stun_server_handle(const tc_stun_server_cfg_t *cfg, const uint8_t *req, size_t len,
                          const struct sockaddr *from, tc_buf_t *out);

/* ---- The STUN server on the I/O layer -----------------------------------------------------------
 */

/* A STUN server on one port for UDP and TCP (RFC 8489 section 6.2), answering with
 * tc_stun_server_handle. Over TCP, messages follow each other on the stream; bytes that cannot be
 * STUN close the connection, and so does 30 s without a request. */
typedef struct tc_stun_service tc_stun_service_t;

typedef struct tc_stun_service_config {
  /* Address to bind ("127.0.0.1", "::", "0.0.0.0"). For a wildcard, UDP binds each local
   * address it covers (as found at start-up, up to 16), so that answers leave from the address
   * the request came to; TCP binds the wildcard. */
  const char *host;
  int port;             /* 0 picks one free for both UDP and TCP */
  unsigned udp : 1;     /* serve UDP */
  unsigned tcp : 1;     /* serve TCP */
  const char *software; /* the SOFTWARE attribute's value, or NULL */
  const tc_logger_t *log;
} tc_stun_service_config_t;

/* Binds and starts serving. cfg's strings must outlive the service. 0, TC_EINVAL (bad address,
 * or neither transport), TC_EADDRINUSE, TC_EACCES, TC_ESYS or TC_ENOMEM. */
int tc_stun_service_new(tc_io_t *io, const tc_stun_service_config_t *cfg, tc_stun_service_t **out);
/* The port both transports listen on. */
int tc_stun_service_port(const tc_stun_service_t *svc);
/* Stops listening, closes the TCP connections and frees the service once they are gone. Must
 * come before the tc_io_t it runs on is freed. NULL is ignored. */
void tc_stun_service_close(tc_stun_service_t *svc);

#ifdef __cplusplus
}
#endif
#endif
