/* tincan HTTP/1.1: a sans-I/O parser (requests, responses, chunked bodies), static-file lookup, and
 * a server on the I/O layer with a router that other modules (WebSocket, Engine.IO) register on.
 *
 * Parsing is zero-copy: every tc_slice_t the parser returns points into the caller's buffer and is
 * valid for as long as the caller keeps those bytes unchanged. The parser allocates nothing.
 */
#ifndef TINCAN_HTTP_H
#define TINCAN_HTTP_H

#include "tincan/base.h"
#include "tincan/io.h"

#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Parser ------------------------------------------------------------------------------------
 */

typedef struct tc_http_header {
  tc_slice_t name;  /* as sent; compare with tc_slice_ieq */
  tc_slice_t value; /* leading and trailing whitespace removed */
} tc_http_header_t;

typedef struct tc_http_request {
  tc_slice_t method; /* token, case-sensitive ("GET") */
  tc_slice_t target; /* request-target as sent */
  tc_slice_t path;   /* target up to '?' (still percent-encoded) */
  tc_slice_t query;  /* after '?', without it; empty when there is none */
  int version_minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and any higher 1.x) */

  /* In: headers points to the caller's array of num_headers entries. Out: the count used. */
  tc_http_header_t *headers;
  size_t num_headers;

  /* Derived from the headers while parsing, so that the server never scans them twice. */
  int64_t content_length;  /* -1 when there is no Content-Length */
  unsigned chunked : 1;    /* Transfer-Encoding: chunked */
  unsigned keep_alive : 1; /* the version's default, overridden by Connection: close/keep-alive */
  unsigned upgrade : 1;    /* Connection lists "upgrade" and an Upgrade header is present */
  unsigned expect_continue : 1; /* Expect: 100-continue */
  tc_slice_t host;              /* the Host header value (empty for HTTP/1.0 without one) */

  /* On a parse error, the status the server should answer with: 400, 431, 501 or 505. */
  int error_status;
} tc_http_request_t;

/* Parses the request line and header section at the front of buf[0..len).
 *
 * Returns the length of the header section (through its final empty line) when it is complete,
 * TC_EAGAIN when more bytes are needed, or a negative code with req->error_status set:
 *   TC_E2BIG   431: the header section exceeds max_header_bytes, or more headers than the array
 * holds; TC_EPROTO  400: malformed request line or header; obs-fold; bare CR; whitespace before a
 * colon; both Content-Length and Transfer-Encoding; a bad or repeated Content-Length; an HTTP/1.1
 * request with no Host or with more than one; TC_ENOTSUP 501: a Transfer-Encoding other than a
 * final "chunked"; 505: an HTTP major version other than 1. A bare LF is accepted as a line end
 * (RFC 9112 section 2.2), as are empty lines before the request line. Calling again with more bytes
 * appended re-parses from the start; the caller should look for the end of the header section first
 * (tc_http_find_header_end) to stay linear. max_header_bytes 0 means no limit. req->num_headers is
 * updated only on success. */
ssize_t tc_http_parse_request(const uint8_t *buf, size_t len, tc_http_request_t *req,
                              size_t max_header_bytes);

/* Returns the length of the header section if buf[0..len) holds its end ("\r\n\r\n" or "\n\n"),
 * else 0. `from` is how many bytes an earlier call already searched (it is backed up by 3). */
size_t tc_http_find_header_end(const uint8_t *buf, size_t len, size_t from);

typedef struct tc_http_response {
  int status; /* 100..999 */
  tc_slice_t reason;
  int version_minor;
  tc_http_header_t *headers; /* in: the caller's array; num_headers in: capacity, out: count */
  size_t num_headers;
  int64_t content_length; /* -1 when absent */
  unsigned chunked : 1;
  unsigned keep_alive : 1;
} tc_http_response_t;

/* Parses a status line and header section, for clients. Returns its length, TC_EAGAIN, TC_E2BIG
 * (over max_header_bytes or too many headers) or TC_EPROTO. */
ssize_t tc_http_parse_response(const uint8_t *buf, size_t len, tc_http_response_t *res,
                               size_t max_header_bytes);

/* Finds a header by name (case-insensitive); NULL when absent. */
const tc_http_header_t *tc_http_header_get(const tc_http_header_t *h, size_t n, const char *name);
/* Non-zero when a comma-separated header value lists `token` (case-insensitive), as in
 * "Connection: keep-alive, Upgrade". */
int tc_http_token_list_has(tc_slice_t value, const char *token);

/* A resumable decoder for chunked transfer coding (RFC 9112 section 7.1). Zero-initialise it and
 * set max_body (0 means unlimited). Chunk extensions are skipped; trailer fields are read and
 * discarded. */
typedef struct tc_http_chunked {
  uint64_t max_body;
  uint64_t total;     /* decoded bytes so far */
  uint64_t remaining; /* of the current chunk */
  int state;
  unsigned line_bytes; /* bounds size lines and trailers */
  unsigned done : 1;   /* set once the last chunk and the trailer section are consumed */
} tc_http_chunked_t;

/* Feeds raw bytes and appends the decoded body to out. Returns how many bytes of in[0..len) it
 * consumed: all of them unless it finished (d->done), in which case the rest belongs to the next
 * message. Errors: TC_EPROTO (bad framing), TC_E2BIG (body over max_body: answer 413),
 * TC_ENOMEM. */
ssize_t tc_http_chunked_feed(tc_http_chunked_t *d, const uint8_t *in, size_t len, tc_buf_t *out);

/* ---- Helpers shared by the server and static files ----------------------------------------- */

/* The standard reason phrase of a status code ("Not Found"); "Unknown" for others. */
const char *tc_http_reason(int status);

/* Formats t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out (at least 30 bytes),
 * NUL-terminated; returns its length (29). */
size_t tc_http_date_format(time_t t, char *out);
/* Parses an IMF-fixdate (and the obsolete RFC 850 and asctime forms). 0 or TC_EINVAL. */
int tc_http_date_parse(tc_slice_t s, time_t *out);

/* Decodes percent-escapes of a path into out (at least in.len + 1 bytes), NUL-terminated.
 * Refuses (TC_EINVAL) a bad escape and any escape or byte that decodes to NUL. Returns the
 * decoded length. '+' is left as is: it means space only in query strings. */
ssize_t tc_http_path_decode(tc_slice_t in, char *out);

/* The media type for a file name, by extension ("text/html; charset=utf-8");
 * "application/octet-stream" when unknown. */
const char *tc_http_mime_type(const char *filename);

/* ---- Static files ---------------------------------------------------------------------------- */

typedef struct tc_http_static tc_http_static_t;

/* What a lookup found. The caller owns fd (when >= 0) and must close it, or hand it to
 * tc_io_conn_sendfile which closes it. */
typedef struct tc_http_file {
  int status; /* 200, 301 (folder without its trailing slash), 400, 403, 404 */
  int fd;     /* open for reading when status is 200 and body is NULL, else -1 */
  const uint8_t
      *body; /* for small cached files: the bytes, valid until the next lookup; else NULL */
  uint64_t size;
  time_t mtime;
  const char *mime;
  char etag[48];          /* quoted, e.g. "\"5f3a-1b2\"" */
  char last_modified[32]; /* IMF-fixdate */
  char location[512];     /* for 301: the path with its slash added (no query) */
} tc_http_file_t;

/* Opens a static root. The root must be a folder; files are served only from beneath it (a path
 * with a ".." segment, an encoded NUL, or a symlink that leads out of the root is refused).
 * 0, TC_ENOENT, TC_ENOMEM. */
int tc_http_static_new(const char *root, tc_http_static_t **out);
void tc_http_static_free(tc_http_static_t *st);

/* Resolves the raw (percent-encoded) request path to a file. A folder serves its index.html.
 * now_ms is the caller's clock, used to decide when cached metadata must be checked again.
 * Returns 0 with out->status set (the lookup itself never fails for bad input; it reports 400 or
 * 404 in out->status), or TC_ENOMEM / TC_ESYS. */
int tc_http_static_lookup(tc_http_static_t *st, tc_slice_t raw_path, uint64_t now_ms,
                          tc_http_file_t *out);

/* Non-zero when the request's If-None-Match / If-Modified-Since make the answer 304. */
int tc_http_static_not_modified(const tc_http_file_t *f, const tc_http_request_t *req);

/* ---- Server ------------------------------------------------------------------------------------
 */

typedef struct tc_http_server tc_http_server_t;
/* One request and its answer. The server handles one exchange per connection at a time; a
 * pipelined request waits until the one before it is answered. */
typedef struct tc_http_exchange tc_http_exchange_t;

typedef struct tc_http_server_config {
  size_t max_header_bytes;       /* request line + headers; over it: 431. Default 16 KiB */
  size_t max_headers;            /* over it: 431. Default 100 */
  uint64_t max_body;             /* over it: 413. Default 1 MiB */
  uint64_t request_timeout_ms;   /* first byte to whole request; over it: 408. Default 10 s */
  uint64_t keepalive_timeout_ms; /* idle time between requests before closing. Default 60 s */
  const char *static_root; /* a folder to serve GET/HEAD from when no route matches; NULL: none */
  const char *server_name; /* the Server header; default "tincan" */
  const tc_logger_t *log;
} tc_http_server_config_t;

/* A route handler. The request and its slices are valid only during the call. It must either
 * answer (tc_http_respond), defer (tc_http_defer) or take the connection (tc_http_take);
 * returning without doing any of these, or returning a negative code, answers 500. */
typedef int (*tc_http_handler_fn)(tc_http_exchange_t *x, void *ud);

int tc_http_server_new(tc_io_t *io, const tc_http_server_config_t *cfg, tc_http_server_t **out);
/* Listens on host:port; port 0 picks one (tc_io_listener_port on *out). */
int tc_http_server_listen(tc_http_server_t *srv, const char *host, int port,
                          tc_io_listener_t **out);
/* Registers fn for requests whose path equals `path`, or starts with it when prefix is non-zero.
 * Longest match wins; routes are checked before static files. Any method reaches the handler.
 * The path is copied. */
int tc_http_server_route(tc_http_server_t *srv, const char *path, int prefix, tc_http_handler_fn fn,
                         void *ud);
/* Stops accepting, closes idle connections and closes the others once their current answer is
 * out. Deferred exchanges stay open until answered. */
void tc_http_server_stop(tc_http_server_t *srv);
/* Runs fn(ud) when the server is freed: modules that register routes release their state here. */
int tc_http_server_on_free(tc_http_server_t *srv, void (*fn)(void *ud), void *ud);
tc_io_t *tc_http_server_io(const tc_http_server_t *srv);
/* Frees the server; its connections must be closed already (after stop and the loop ran). */
void tc_http_server_free(tc_http_server_t *srv);
/* Open connections that are still speaking HTTP. */
size_t tc_http_server_conn_count(const tc_http_server_t *srv);

const tc_http_request_t *tc_http_request(const tc_http_exchange_t *x);
/* The request's header section as received (request line through the empty line); valid
 * during the handler call. */
tc_slice_t tc_http_head(const tc_http_exchange_t *x);
/* The request body (decoded when chunked); valid during the handler call. */
tc_slice_t tc_http_body(const tc_http_exchange_t *x);
tc_http_server_t *tc_http_exchange_server(const tc_http_exchange_t *x);
tc_io_conn_t *tc_http_exchange_conn(const tc_http_exchange_t *x);

/* Adds a response header to the answer being built ("Name: value" is written as given). Date,
 * Server, Content-Length and Connection are added by the server. */
int tc_http_add_header(tc_http_exchange_t *x, const char *name, const char *value);
int tc_http_add_header_slice(tc_http_exchange_t *x, const char *name, tc_slice_t value);
/* Sends the answer. content_type may be NULL (no Content-Type). For HEAD the body is not sent;
 * 1xx, 204 and 304 never carry one. After this the exchange is finished and x is invalid. */
int tc_http_respond(tc_http_exchange_t *x, int status, const char *content_type, const void *body,
                    size_t len);
/* Answers with a status and a short text body ("404 Not Found"), closing the connection when
 * close is non-zero. */
int tc_http_respond_error(tc_http_exchange_t *x, int status, int close);

/* Keeps the exchange open after the handler returns, to answer later (long polling). The request
 * slices die with the handler call: copy what you need. If the connection closes first, on_abort
 * is called and x is invalid afterwards. */
void tc_http_defer(tc_http_exchange_t *x, void (*on_abort)(tc_http_exchange_t *x, void *ud),
                   void *ud);
/* Takes the connection away from HTTP (for an Upgrade). The caller must install its handler with
 * tc_io_conn_set_handler before returning from the route handler; bytes after this request go to
 * it. The caller writes its own response (for example a 101) with tc_io_conn_write. */
tc_io_conn_t *tc_http_take(tc_http_exchange_t *x);

#ifdef __cplusplus
}
#endif
#endif
