/* lws_echo: a libwebsockets echo server, the C reference that bench/ws_echo.sh measures tincan
 * against. Every message comes back whole, text as text and binary as binary, on any path.
 * One service thread, no permessage-deflate, UTF-8 of text checked (as tincan and ws do).
 *
 *   lws_echo [PORT]   (0 or nothing: the kernel picks one; prints "listening on PORT")
 *
 * Built by the benchmark with `cc lws_echo.c $(pkg-config --cflags --libs libwebsockets)`;
 * it is not part of the project build. */
#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this many bytes queued for one connection, stop reading from it until they drain: a
 * client that never reads must not grow the server without bound. */
#define QUEUE_HIGH (4u << 20)

typedef struct msg {
  struct msg *next;
  size_t len, cap;
  int binary;
  unsigned char buf[]; /* LWS_PRE bytes that lws_write fills with the frame header, then data */
} msg_t;

typedef struct session {
  msg_t *head, *tail; /* whole messages waiting to be echoed, oldest first */
  msg_t *rx;          /* the message being assembled from RECEIVE chunks */
  size_t queued;      /* bytes in head..tail */
  int paused;         /* reading stopped by QUEUE_HIGH */
} session_t;

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

/* Appends len bytes to the message under assembly, growing it geometrically; hint is how much
 * more of the current frame lws says is still to come, so one allocation usually fits. */
static int rx_append(session_t *s, const void *in, size_t len, size_t hint, int binary) {
  msg_t *m = s->rx;
  size_t need = (m ? m->len : 0) + len;
  if (!m || need > m->cap) {
    size_t cap = m ? m->cap * 2 : 0;
    if (cap < need + hint) cap = need + hint;
    if (cap < 64) cap = 64;
    msg_t *grown = realloc(m, sizeof *m + LWS_PRE + cap);
    if (!grown) return -1;
    if (!m) {
      grown->next = NULL;
      grown->len = 0;
      grown->binary = binary;
    }
    grown->cap = cap;
    s->rx = m = grown;
  }
  if (len) memcpy(m->buf + LWS_PRE + m->len, in, len);
  m->len += len;
  return 0;
}

static void queue_push(struct lws *wsi, session_t *s, msg_t *m) {
  m->next = NULL;
  if (s->tail)
    s->tail->next = m;
  else
    s->head = m;
  s->tail = m;
  s->queued += m->len;
  if (!s->paused && s->queued > QUEUE_HIGH) {
    s->paused = 1;
    lws_rx_flow_control(wsi, 0);
  }
  lws_callback_on_writable(wsi);
}

/* Writes queued messages until the queue is empty or lws had to keep part of one back; lws
 * then owns the rest and calls WRITEABLE again once it has gone out. */
static int flush(struct lws *wsi, session_t *s) {
  while (s->head) {
    msg_t *m = s->head;
    int r = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    if (r < 0) return -1;
    s->head = m->next;
    if (!s->head) s->tail = NULL;
    s->queued -= m->len;
    free(m);
    if (lws_partial_buffered(wsi)) break;
  }
  if (s->paused && s->queued < QUEUE_HIGH / 2) {
    s->paused = 0;
    lws_rx_flow_control(wsi, 1);
  }
  if (s->head) lws_callback_on_writable(wsi);
  return 0;
}

static void session_free(session_t *s) {
  while (s->head) {
    msg_t *m = s->head;
    s->head = m->next;
    free(m);
  }
  s->tail = NULL;
  free(s->rx);
  s->rx = NULL;
}

static int echo_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
  session_t *s = user;
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      memset(s, 0, sizeof *s);
      return 0;
    case LWS_CALLBACK_RECEIVE: {
      size_t more = lws_remaining_packet_payload(wsi);
      if (rx_append(s, in, len, more, lws_frame_is_binary(wsi))) return -1;
      if (lws_is_final_fragment(wsi) && !more) {
        msg_t *m = s->rx;
        s->rx = NULL;
        queue_push(wsi, s, m);
      }
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return flush(wsi, s);
    case LWS_CALLBACK_CLOSED:
      if (s) session_free(s);
      return 0;
    default:
      return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static const struct lws_protocols protocols[] = {
    /* The first protocol takes connections that name none. rx_buffer_size is the most one
     * RECEIVE hands over, allocated per connection; tx_packet_size lets a 64 KiB echo leave in
     * one send() instead of rx_buffer_size pieces. */
    {.name = "echo",
     .callback = echo_cb,
     .per_session_data_size = sizeof(session_t),
     .rx_buffer_size = 4096,
     .tx_packet_size = 65536 + 64},
    {.name = NULL},
};

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  info.count_threads = 1;
  info.pt_serv_buf_size = 65536; /* one per service thread: how much each read() may take */
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
  /* info.extensions stays NULL: no permessage-deflate. */

  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) {
    fprintf(stderr, "lws_echo: lws_create_context failed\n");
    return 1;
  }
  struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
  int bound = vh ? lws_get_vhost_listen_port(vh) : port;
  printf("lws_echo %s listening on %d\n", lws_get_library_version(), bound);
  fflush(stdout);

  while (!stopping)
    if (lws_service(ctx, 0) < 0) break;
  lws_context_destroy(ctx);
  return 0;
}
