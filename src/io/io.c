/* The libuv glue: listeners, connections, the shared read buffer and the once-per-turn flush. */
#include "tincan/io.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define TC_IO_LINGER_MS 2000
#define TC_IO_SENDFILE_CHUNK (1u << 20)
#define TC_IO_FALLBACK_CHUNK (64u << 10)
#define TC_IO_SPARES 8
#define TC_IO_SPARE_MIN (16u << 10)
#define TC_IO_SPARE_MAX (4u << 20)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct connect_req connect_req_t;
typedef struct tc_io_conn tc_io_conn_t;
/* An outgoing connection until it is ready: only such connections carry one. */
struct connect_req {
  uv_getaddrinfo_t gai;
  uv_connect_t conn;
  tc_io_conn_t *c; /* NULL once the connection is gone while a callback is still due */
  tc_io_tls_ctx_t *tls;
  tc_io_connect_fn on_connect;
  void *ud;
  unsigned in_flight : 1; /* libuv holds gai or conn: its callback frees the request */
  char host[256];
};

/* A file range queued for output, and the bytes queued after it. */
typedef struct tc_io_file {
  struct tc_io_file *next;
  int fd;
  uint64_t off;
  uint64_t left;
  tc_buf_t after;
} tc_io_file_t;

/* Only needed while libuv holds bytes for us (a partial write); most connections never have one. */
typedef struct tc_io_writer {
  uv_write_t req;
  tc_buf_t buf;
} tc_io_writer_t;

struct tc_io_timeouts {
  tc_io_t *io;
  uint64_t ms;
  uv_timer_t timer;
  tc_io_conn_t *head, *tail;
  struct tc_io_timeouts *next_q;
};

/* What only some connections need: held input, a partial write, files, a shutdown, TLS, an
 * outgoing connect. Allocated the first time one of them is, so that an idle plain connection
 * carries one pointer for all of it. */
typedef struct tc_io_conn_x {
  tc_buf_t in; /* bytes the handler left unconsumed; empty (and unallocated) when idle */
  tc_io_file_t *files, *files_tail;
  tc_io_writer_t *writer;
  uv_shutdown_t *sreq;
  tc__tls_t *tls;
  struct connect_req *connecting; /* outgoing, until ready or failed */
} tc_io_conn_x_t;

/* The handler's user data lives in tcp.data. */
struct tc_io_conn {
  uv_tcp_t tcp; /* first, so a handle pointer is a connection pointer */
  tc_io_t *io;
  const tc_io_handler_t *h;
  /* Queued, not yet handed to the kernel. With out_shared it borrows a tc_io_shared_t instead:
   * p is the shared object, off how much of it is sent, len how much is left, cap 0. */
  tc_buf_t out;
  tc_io_conn_x_t *x;
  /* all connections, for shutdown */
  tc_io_conn_t *prev, *next;
  /* the timeout queue this connection waits in */
  tc_io_timeouts_t *tq;
  tc_io_conn_t *tq_prev, *tq_next;
  uint64_t deadline;
  int close_err;
  unsigned tls_notified : 1;
  unsigned writing : 1;
  unsigned in_flush : 1;
  unsigned in_redeliver : 1;
  unsigned paused : 1;
  unsigned closing : 1;    /* no more reads delivered; close once output is flushed */
  unsigned shut : 1;       /* write side shut down, now draining input before the close */
  unsigned uv_closing : 1; /* uv_close issued */
  unsigned delivering : 1;
  unsigned peer_eof : 1;
  unsigned linger : 1; /* closed in answer to input: the peer may still be sending */
  unsigned out_shared : 1;
};

struct tc_io_listener {
  uv_tcp_t tcp;
  tc_io_t *io;
  tc_io_accept_fn on_accept;
  void *ud;
  tc_io_tls_ctx_t *tls;
  int port;
  tc_io_listener_t *next;
};

typedef struct tc_io_sig {
  uv_signal_t h;
  struct tc_io_sig *next;
} tc_io_sig_t;

struct tc_io {
  uv_loop_t *loop;
  tc_io_config_t cfg;
  uint8_t *rbuf;
  size_t rbuf_size;
  uv_prepare_t flush_h;
  uv_idle_t redeliver_h;
  tc_io_conn_t *conns;
  size_t nconns;
  /* connections with output to flush this turn, in the order they queued it */
  tc_io_conn_t **flushq;
  size_t nflush, capflush;
  /* connections with bytes to deliver again after a resume */
  tc_io_conn_t **redeliver;
  size_t nredeliver, capredeliver;
  tc_io_listener_t *listeners;
  tc_io_timeouts_t *linger_q;
  tc_io_sig_t *sigs;
  void (*on_signal)(tc_io_t *io, int signum, void *ud);
  void *signal_ud;
  unsigned signalled : 1;
  char peer[64];
  /* Large buffers that connections gave back: reused before malloc, so that streaming large
   * messages does not fault in fresh pages each time, while idle connections hold none. */
  tc_buf_t spares[TC_IO_SPARES];
  int nspares;
};

static void conn_flush(tc_io_conn_t *c);
static void conn_finish_close(tc_io_conn_t *c);

/* Gives a buffer back: a large one goes to the spares, a small one to malloc. */
static void io_buf_drop(tc_io_t *io, tc_buf_t *b) {
  if (b->cap >= TC_IO_SPARE_MIN && b->cap <= TC_IO_SPARE_MAX && io->nspares < TC_IO_SPARES) {
    b->off = b->len = 0;
    io->spares[io->nspares++] = *b;
    *b = (tc_buf_t){0};
    return;
  }
  tc_buf_free(b);
}

/* Like tc_buf_reserve, but an unallocated buffer that needs much first takes a spare. */
static int io_buf_reserve(tc_io_t *io, tc_buf_t *b, size_t n) {
  if (!b->p && n >= 4096 && io->nspares) *b = io->spares[--io->nspares];
  return tc_buf_reserve(b, n);
}
/* ---- borrowed output ------------------------------------------------------------------------- */

void tc_io_shared_unref(tc_io_shared_t *m) {
  if (m && --m->refs == 0) m->free(m);
}

static tc_io_shared_t *out_borrowed(const tc_io_conn_t *c) {
  return c->out_shared ? (tc_io_shared_t *)(void *)c->out.p : NULL;
}

/* Lets go of the output, borrowed or owned. */
static void out_release(tc_io_conn_t *c) {
  tc_io_shared_t *m = out_borrowed(c);
  if (m) {
    c->out = (tc_buf_t){0};
    c->out_shared = 0;
    tc_io_shared_unref(m);
    return;
  }
  io_buf_drop(c->io, &c->out);
}

/* Turns borrowed output into a copy of its own, so that more can follow it. */
static int out_own(tc_io_conn_t *c) {
  tc_io_shared_t *m = out_borrowed(c);
  if (!m) return 0;
  size_t off = c->out.off, len = c->out.len;
  c->out = (tc_buf_t){0};
  c->out_shared = 0;
  int r = io_buf_reserve(c->io, &c->out, len);
  if (!r) tc_buf_append(&c->out, m->p + off, len);
  tc_io_shared_unref(m);
  return r;
}

static tc__tls_t *conn_tls(const tc_io_conn_t *c) {
  return c->x ? c->x->tls : NULL;
}

static size_t conn_in_len(const tc_io_conn_t *c) {
  return c->x ? c->x->in.len : 0;
}

static tc_io_conn_x_t *conn_x(tc_io_conn_t *c) {
  if (!c->x) c->x = calloc(1, sizeof *c->x);
  return c->x;
}

static void on_tq_timer(uv_timer_t *t);
static void on_prepare(uv_prepare_t *h);
static void conn_deliver(tc_io_conn_t *c);

/* ---- the loop's phases ------------------------------------------------------------------------
 */

/* In the order output was queued: what one connection answers before another (a WebSocket
 * message, then a long-poll's answer) reaches the wire in that order too. */
static void schedule_flush(tc_io_conn_t *c) {
  if (c->in_flush || c->uv_closing) return;
  tc_io_t *io = c->io;
  if (io->nflush == io->capflush) {
    size_t cap = io->capflush ? io->capflush * 2 : 64;
    tc_io_conn_t **q = realloc(io->flushq, cap * sizeof *q);
    if (!q) {
      /* Output that can never be flushed: the connection cannot go on. */
      tc_io_conn_abort(c, TC_ENOMEM);
      return;
    }
    io->flushq = q;
    io->capflush = cap;
  }
  c->in_flush = 1;
  if (!io->nflush) uv_prepare_start(&io->flush_h, on_prepare);
  io->flushq[io->nflush++] = c;
}

/* "Write before sleep": every connection that queued output this turn gets one flush. Those
 * that queue more meanwhile join the end and get theirs in this pass too. Entries of
 * connections closed meanwhile were cleared. */
static void on_prepare(uv_prepare_t *h) {
  tc_io_t *io = container_of(h, tc_io_t, flush_h);
  for (size_t i = 0; i < io->nflush; i++) {
    tc_io_conn_t *c = io->flushq[i];
    if (!c) continue;
    io->flushq[i] = NULL;
    c->in_flush = 0;
    conn_flush(c);
  }
  io->nflush = 0;
  uv_prepare_stop(&io->flush_h);
}

static void on_idle(uv_idle_t *h) {
  tc_io_t *io = container_of(h, tc_io_t, redeliver_h);
  /* In the order they asked; those that ask again meanwhile wait for the next turn. Entries of
   * connections closed meanwhile were cleared. */
  size_t n = io->nredeliver;
  for (size_t i = 0; i < n; i++) {
    tc_io_conn_t *c = io->redeliver[i];
    io->redeliver[i] = NULL;
    if (!c) continue;
    c->in_redeliver = 0;
    if (!c->closing && !c->paused) conn_deliver(c);
  }
  size_t left = io->nredeliver - n;
  memmove(io->redeliver, io->redeliver + n, left * sizeof *io->redeliver);
  io->nredeliver = left;
  if (!io->nredeliver) uv_idle_stop(&io->redeliver_h);
}

int tc_io_new(uv_loop_t *loop, const tc_io_config_t *cfg, tc_io_t **out) {
  tc_io_t *io = calloc(1, sizeof *io);
  if (!io) return TC_ENOMEM;
  io->loop = loop;
  if (cfg) io->cfg = *cfg;
  if (!io->cfg.read_buffer_size) io->cfg.read_buffer_size = 64 << 10;
  if (!io->cfg.max_output) io->cfg.max_output = (size_t)64 << 20;
  io->rbuf_size = io->cfg.read_buffer_size;
  io->rbuf = malloc(io->rbuf_size);
  if (!io->rbuf) {
    free(io);
    return TC_ENOMEM;
  }
  uv_prepare_init(loop, &io->flush_h);
  uv_idle_init(loop, &io->redeliver_h);
  /* These two run only while there is output to flush or input to hand over again, and that
   * work must finish before the loop may end (a client's last close frame, say). */
  int r = tc_io_timeouts_new(io, TC_IO_LINGER_MS, &io->linger_q);
  if (r) {
    uv_close((uv_handle_t *)&io->flush_h, NULL);
    uv_close((uv_handle_t *)&io->redeliver_h, NULL);
    free(io->rbuf);
    free(io);
    return r;
  }
  *out = io;
  return 0;
}

uv_loop_t *tc_io_loop(tc_io_t *io) {
  return io->loop;
}

uint64_t tc_io_now(tc_io_t *io) {
  return uv_now(io->loop);
}

size_t tc_io_conn_count(tc_io_t *io) {
  return io->nconns;
}

static void on_handle_closed_free(uv_handle_t *h) {
  free(h->data);
}

/* For handles that sit first in the struct they belong to. */
static void on_handle_closed_free_self(uv_handle_t *h) {
  free(h);
}

void tc_io_shutdown(tc_io_t *io) {
  while (io->listeners) tc_io_listener_close(io->listeners);
  for (tc_io_conn_t *c = io->conns; c; c = c->next) tc_io_conn_abort(c, 0);
  while (io->sigs) {
    tc_io_sig_t *s = io->sigs;
    io->sigs = s->next;
    s->h.data = s;
    uv_close((uv_handle_t *)&s->h, on_handle_closed_free);
  }
}

static void on_io_handle_closed(uv_handle_t *h) {
  (void)h;
}

void tc_io_free(tc_io_t *io) {
  if (!io) return;
  /* Connections still open here were not closed through the loop: release them outright. */
  tc_io_timeouts_free(io->linger_q);
  uv_close((uv_handle_t *)&io->flush_h, on_io_handle_closed);
  uv_close((uv_handle_t *)&io->redeliver_h, on_io_handle_closed);
  uv_run(io->loop, UV_RUN_NOWAIT);
  while (io->nspares) tc_buf_free(&io->spares[--io->nspares]);
  free(io->redeliver);
  free(io->flushq);
  free(io->rbuf);
  free(io);
}

/* ---- signals ----------------------------------------------------------------------------------
 */

static void on_uv_signal(uv_signal_t *h, int signum) {
  tc_io_t *io = h->data;
  if (io->signalled) return;
  io->signalled = 1;
  if (io->on_signal) io->on_signal(io, signum, io->signal_ud);
}

int tc_io_on_signal(tc_io_t *io, void (*fn)(tc_io_t *io, int signum, void *ud), void *ud) {
  static const int signums[] = {SIGINT, SIGTERM};
  io->on_signal = fn;
  io->signal_ud = ud;
  for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
    tc_io_sig_t *s = calloc(1, sizeof *s);
    if (!s) return TC_ENOMEM;
    uv_signal_init(io->loop, &s->h);
    s->h.data = io;
    uv_signal_start(&s->h, on_uv_signal, signums[i]);
    uv_unref((uv_handle_t *)&s->h);
    s->next = io->sigs;
    io->sigs = s;
  }
  return 0;
}

/* ---- timeouts ---------------------------------------------------------------------------------
 */

static void tq_remove(tc_io_conn_t *c) {
  tc_io_timeouts_t *q = c->tq;
  if (!q) return;
  if (c->tq_prev)
    c->tq_prev->tq_next = c->tq_next;
  else
    q->head = c->tq_next;
  if (c->tq_next)
    c->tq_next->tq_prev = c->tq_prev;
  else
    q->tail = c->tq_prev;
  c->tq = NULL;
  c->tq_prev = c->tq_next = NULL;
  if (!q->head) uv_timer_stop(&q->timer);
}

static void tq_arm(tc_io_timeouts_t *q) {
  if (!q->head) return;
  uint64_t now = uv_now(q->io->loop);
  uint64_t wait = q->head->deadline > now ? q->head->deadline - now : 0;
  uv_timer_start(&q->timer, on_tq_timer, wait, 0);
}

static void on_tq_timer(uv_timer_t *t) {
  tc_io_timeouts_t *q = container_of(t, tc_io_timeouts_t, timer);
  uint64_t now = uv_now(q->io->loop);
  while (q->head && q->head->deadline <= now) {
    tc_io_conn_t *c = q->head;
    tq_remove(c);
    if (c->shut) {
      conn_finish_close(c);
    } else if (c->h && c->h->on_timeout && !c->closing) {
      c->h->on_timeout(c);
    } else {
      tc_io_conn_abort(c, TC_ETIMEDOUT);
    }
  }
  if (q->head) tq_arm(q);
}

int tc_io_timeouts_new(tc_io_t *io, uint64_t ms, tc_io_timeouts_t **out) {
  tc_io_timeouts_t *q = calloc(1, sizeof *q);
  if (!q) return TC_ENOMEM;
  q->io = io;
  q->ms = ms;
  uv_timer_init(io->loop, &q->timer);
  /* A pending deadline alone should not keep a stopping loop alive: connections do that. */
  uv_unref((uv_handle_t *)&q->timer);
  *out = q;
  return 0;
}

void tc_io_timeouts_free(tc_io_timeouts_t *q) {
  if (!q) return;
  while (q->head) tq_remove(q->head);
  q->timer.data = q;
  uv_close((uv_handle_t *)&q->timer, on_handle_closed_free);
}

void tc_io_conn_set_timeout(tc_io_conn_t *c, tc_io_timeouts_t *q) {
  if (c->tq && c->tq == q && c->tq_next == NULL) {
    /* Already the tail: only the deadline moves, order is kept. */
    c->deadline = uv_now(c->io->loop) + q->ms;
    return;
  }
  tq_remove(c);
  if (!q || c->uv_closing) return;
  c->deadline = uv_now(c->io->loop) + q->ms;
  c->tq = q;
  c->tq_prev = q->tail;
  if (q->tail)
    q->tail->tq_next = c;
  else
    q->head = c;
  q->tail = c;
  if (q->head == c) tq_arm(q);
}

/* ---- connections ------------------------------------------------------------------------------
 */

static void on_conn_closed(uv_handle_t *h) {
  tc_io_conn_t *c = (tc_io_conn_t *)h;
  tc_io_t *io = c->io;
  /* Rare enough (closed while output or a redelivery was pending) to walk the lists. */
  if (c->in_flush) {
    for (size_t i = 0; i < io->nflush; i++)
      if (io->flushq[i] == c) io->flushq[i] = NULL;
  }
  if (c->in_redeliver) {
    for (size_t i = 0; i < io->nredeliver; i++)
      if (io->redeliver[i] == c) io->redeliver[i] = NULL;
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    io->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  io->nconns--;
  tc_io_conn_x_t *x = c->x;
  if (x && x->connecting) {
    /* Never got as far as ready: the one who asked hears of the failure instead. */
    connect_req_t *cr = x->connecting;
    x->connecting = NULL;
    cr->on_connect(NULL, c->close_err ? c->close_err : TC_ECLOSED, cr->ud);
    if (cr->in_flight)
      cr->c = NULL;
    else
      free(cr);
  } else if (c->h && c->h->on_close) {
    c->h->on_close(c, c->close_err);
  }
  out_release(c);
  if (x) {
    tc__tls_free(x->tls);
    io_buf_drop(io, &x->in);
    while (x->files) {
      tc_io_file_t *f = x->files;
      x->files = f->next;
      close(f->fd);
      tc_buf_free(&f->after);
      free(f);
    }
    if (x->writer) {
      io_buf_drop(io, &x->writer->buf);
      free(x->writer);
    }
    free(x->sreq);
    free(x);
  }
  free(c);
}

static void conn_finish_close(tc_io_conn_t *c) {
  if (c->uv_closing) return;
  c->uv_closing = 1;
  c->closing = 1;
  tq_remove(c);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void tc_io_conn_abort(tc_io_conn_t *c, int err) {
  if (c->uv_closing) return;
  if (!c->closing) c->close_err = err;
  c->closing = 1;
  conn_finish_close(c);
}

static void alloc_discard(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tc_io_conn_t *c = (tc_io_conn_t *)h;
  (void)suggested;
  *buf = uv_buf_init((char *)c->io->rbuf, (unsigned)c->io->rbuf_size);
}

static void read_discard(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  if (nread < 0) conn_finish_close((tc_io_conn_t *)s);
}

/* After our write side is shut, the peer may still be sending (a body we refused): closing now
 * would make the kernel answer with a reset that can destroy the response we just sent. So read
 * and drop input until the peer closes or the linger time passes. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  tc_io_conn_t *c = req->data;
  if (status < 0 || c->peer_eof || c->uv_closing || !c->linger) {
    conn_finish_close(c);
    return;
  }
  c->shut = 1;
  tc_io_conn_set_timeout(c, c->io->linger_q);
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_discard, read_discard) < 0) conn_finish_close(c);
}

static void conn_start_shutdown(tc_io_conn_t *c) {
  if ((c->x && c->x->sreq) || c->uv_closing) return;
  tc_io_conn_x_t *x = conn_x(c);
  if (!x || !(x->sreq = calloc(1, sizeof *x->sreq))) {
    conn_finish_close(c);
    return;
  }
  x->sreq->data = c;
  if (uv_shutdown(x->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) conn_finish_close(c);
}

void tc_io_conn_close(tc_io_conn_t *c, int err) {
  if (c->closing || c->uv_closing) return;
  c->closing = 1;
  c->linger = c->delivering;
  c->close_err = err;
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (tc_io_conn_pending(c))
    schedule_flush(c);
  else
    conn_start_shutdown(c);
}

int tc_io_conn_is_closing(const tc_io_conn_t *c) {
  return c->closing;
}

static void on_write_done(uv_write_t *req, int status) {
  tc_io_writer_t *w = container_of(req, tc_io_writer_t, req);
  tc_io_conn_t *c = req->data;
  c->writing = 0;
  tc_buf_reset(&w->buf);
  if (status < 0) {
    tc_io_conn_abort(c, status == UV_ECANCELED ? c->close_err : TC_EIO);
    return;
  }
  conn_flush(c);
}

/* Hands w->buf to libuv, which writes it when the socket is writable. */
static int conn_write_async(tc_io_conn_t *c) {
  tc_io_writer_t *w = c->x->writer;
  w->req.data = c;
  uv_buf_t b = uv_buf_init((char *)tc_buf_data(&w->buf), (unsigned)w->buf.len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) < 0) return TC_EIO;
  c->writing = 1;
  return 0;
}

static int conn_ensure_writer(tc_io_conn_t *c) {
  tc_io_conn_x_t *x = conn_x(c);
  if (!x) return TC_ENOMEM;
  if (x->writer) return 0;
  x->writer = calloc(1, sizeof *x->writer);
  return x->writer ? 0 : TC_ENOMEM;
}

/* Sends the head file range. Returns 1 when the range is done, 0 when the rest waits for a
 * write to finish, or an error. */
static int conn_send_file(tc_io_conn_t *c) {
  tc_io_file_t *f = c->x->files;
  int sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock) < 0) return TC_EIO;
  while (f->left > 0) {
    off_t off = (off_t)f->off;
    size_t want = f->left < TC_IO_SENDFILE_CHUNK ? (size_t)f->left : TC_IO_SENDFILE_CHUNK;
    ssize_t n = sendfile(sock, f->fd, &off, want);
    if (n > 0) {
      f->off += (uint64_t)n;
      f->left -= (uint64_t)n;
      continue;
    }
    if (n == 0) return TC_EIO; /* the file shrank under us: the promised length cannot be met */
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return TC_EIO;
    /* The socket is full. libuv can only wait for writability through a write, so send the next
     * piece by copy and come back to sendfile when it completes. */
    int r = conn_ensure_writer(c);
    if (r) return r;
    size_t chunk = f->left < TC_IO_FALLBACK_CHUNK ? (size_t)f->left : TC_IO_FALLBACK_CHUNK;
    tc_buf_t *wb = &c->x->writer->buf;
    if ((r = tc_buf_reserve(wb, chunk))) return r;
    ssize_t got = pread(f->fd, tc_buf_tail(wb), chunk, (off_t)f->off);
    if (got <= 0) return TC_EIO;
    tc_buf_commit(wb, (size_t)got);
    f->off += (uint64_t)got;
    f->left -= (uint64_t)got;
    if ((r = conn_write_async(c))) return r;
    return 0;
  }
  return 1;
}

static void conn_pop_file(tc_io_conn_t *c) {
  tc_io_conn_x_t *x = c->x;
  tc_io_file_t *f = x->files;
  x->files = f->next;
  if (!x->files) x->files_tail = NULL;
  close(f->fd);
  /* out is empty here: the bytes queued after the file become the head of the output */
  tc_buf_free(&c->out);
  c->out = f->after;
  free(f);
}

/* TLS: turns queued plaintext, file ranges included, into ciphertext waiting for the socket
 * (which the TLS state holds, so plain connections carry no room for it). */
static int conn_encrypt(tc_io_conn_t *c) {
  tc__tls_t *tls = c->x->tls;
  if (!tc__tls_handshake_done(tls)) return 0;
  for (;;) {
    int r = tc__tls_write(tls, &c->out, tc__tls_wire(tls));
    if (r) return r;
    /* Keep at most about a socket buffer of ciphertext ahead: files are read as it drains. */
    if (!c->x->files || tc__tls_wire(tls)->len >= TC_IO_FALLBACK_CHUNK * 4) return 0;
    tc_io_file_t *f = c->x->files;
    if (f->left == 0) {
      conn_pop_file(c);
      continue;
    }
    size_t chunk = f->left < TC_IO_FALLBACK_CHUNK ? (size_t)f->left : TC_IO_FALLBACK_CHUNK;
    if ((r = tc_buf_reserve(&c->out, chunk))) return r;
    ssize_t got = pread(f->fd, tc_buf_tail(&c->out), chunk, (off_t)f->off);
    if (got <= 0) return TC_EIO;
    tc_buf_commit(&c->out, (size_t)got);
    f->off += (uint64_t)got;
    f->left -= (uint64_t)got;
  }
}

/* One send() per call: what libuv's uv_try_write does, minus the file layer's write path, and
 * with no SIGPIPE. Only called while libuv holds no write of ours. Bytes sent, or -1. */
static ssize_t conn_send(tc_io_conn_t *c, const uint8_t *p, size_t len) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0) return -1;
  for (;;) {
    ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

static int conn_has_files(const tc_io_conn_t *c) {
  return c->x && c->x->files;
}

static void conn_flush(tc_io_conn_t *c) {
  if (c->writing || c->uv_closing) return;
  tc__tls_t *tls = conn_tls(c);
  for (;;) {
    if (tls) {
      int r = conn_encrypt(c);
      if (r) {
        tc_io_conn_abort(c, r);
        return;
      }
    }
    tc_buf_t *w = tls ? tc__tls_wire(tls) : &c->out;
    if (w->len > 0) {
      tc_io_shared_t *m = tls ? NULL : out_borrowed(c);
      ssize_t n = conn_send(c, m ? m->p + w->off : tc_buf_data(w), w->len);
      if (n < 0) {
        tc_io_conn_abort(c, TC_EIO);
        return;
      }
      if (m) {
        w->off += (size_t)n;
        w->len -= (size_t)n;
      } else {
        tc_buf_consume(w, (size_t)n);
      }
      if (w->len > 0) {
        /* Hand the rest to libuv; new output keeps queueing meanwhile. */
        if (out_own(c) < 0 || conn_ensure_writer(c) < 0) {
          tc_io_conn_abort(c, TC_ENOMEM);
          return;
        }
        tc_buf_t tmp = c->x->writer->buf;
        c->x->writer->buf = *w;
        *w = tmp;
        tc_buf_reset(w);
        if (conn_write_async(c) < 0) tc_io_conn_abort(c, TC_EIO);
        return;
      }
      /* An emptied buffer goes back: an idle connection keeps nothing. */
      if (tls)
        io_buf_drop(c->io, w);
      else
        out_release(c);
      if (tls) continue;
    }
    if (tls) {
      if ((c->out.len || conn_has_files(c)) && tc__tls_handshake_done(tls)) continue;
      if (c->closing && !c->tls_notified && !c->out.len && !conn_has_files(c)) {
        c->tls_notified = 1;
        if (tc__tls_close_notify(tls, tc__tls_wire(tls)) == 0 && tc__tls_wire(tls)->len) continue;
      }
      break;
    }
    if (!conn_has_files(c)) break;
    int r = conn_send_file(c);
    if (r < 0) {
      tc_io_conn_abort(c, r);
      return;
    }
    if (r == 0) return;
    conn_pop_file(c);
  }
  if (c->x && c->x->writer && c->x->writer->buf.cap > 0) io_buf_drop(c->io, &c->x->writer->buf);
  if (c->out.p && !c->out.len) io_buf_drop(c->io, &c->out);
  if (c->closing) {
    if (!tc_io_conn_pending(c)) conn_start_shutdown(c);
    return;
  }
  if (c->h && c->h->on_drain && !tc_io_conn_pending(c)) c->h->on_drain(c);
}

int tc_io_conn_write(tc_io_conn_t *c, const void *p, size_t len) {
  if (c->closing) return TC_ECLOSED;
  tc_buf_t *b = tc_io_conn_outbuf(c);
  if (tc_io_conn_pending(c) + len > c->io->cfg.max_output) return TC_E2BIG;
  int r = tc_buf_append(b, p, len);
  if (r) return r;
  schedule_flush(c);
  return 0;
}

int tc_io_conn_write_shared(tc_io_conn_t *c, tc_io_shared_t *m) {
  if (c->closing) return TC_ECLOSED;
  if (c->out.len || c->out_shared || c->writing || m->len == 0 ||
      (c->x && (c->x->tls || c->x->files)))
    return tc_io_conn_write(c, m->p, m->len);
  if (tc_io_conn_pending(c) + m->len > c->io->cfg.max_output) return TC_E2BIG;
  /* Nothing waits to be sent: borrow the bytes instead of copying them. */
  io_buf_drop(c->io, &c->out);
  m->refs++;
  c->out = (tc_buf_t){.p = (uint8_t *)(void *)m, .len = m->len};
  c->out_shared = 1;
  schedule_flush(c);
  return 0;
}

tc_buf_t *tc_io_conn_outbuf(tc_io_conn_t *c) {
  if (c->x && c->x->files_tail) return &c->x->files_tail->after;
  if (c->out_shared && out_own(c) < 0) tc_io_conn_abort(c, TC_ENOMEM);
  /* Large answers are common right after large requests: lend a spare before malloc. */
  if (!c->out.p && c->io->nspares) c->out = c->io->spares[--c->io->nspares];
  return &c->out;
}

void tc_io_conn_wrote(tc_io_conn_t *c) {
  if (!c->closing || !c->x || c->x->sreq == NULL) schedule_flush(c);
}

int tc_io_conn_sendfile(tc_io_conn_t *c, int fd, uint64_t offset, uint64_t len) {
  if (c->closing) {
    close(fd);
    return TC_ECLOSED;
  }
  if (len == 0) {
    close(fd);
    return 0;
  }
  tc_io_conn_x_t *x = conn_x(c);
  tc_io_file_t *f = x && out_own(c) == 0 ? calloc(1, sizeof *f) : NULL;
  if (!f) {
    close(fd);
    return TC_ENOMEM;
  }
  f->fd = fd;
  f->off = offset;
  f->left = len;
  if (x->files_tail)
    x->files_tail->next = f;
  else
    x->files = f;
  x->files_tail = f;
  schedule_flush(c);
  return 0;
}

uint64_t tc_io_conn_pending(const tc_io_conn_t *c) {
  uint64_t n = c->out.len;
  const tc_io_conn_x_t *x = c->x;
  if (!x) return n;
  if (x->tls) n += tc__tls_wire(x->tls)->len;
  if (x->writer) n += x->writer->buf.len;
  for (const tc_io_file_t *f = x->files; f; f = f->next) n += f->left + f->after.len;
  return n;
}

void tc_io_conn_set_handler(tc_io_conn_t *c, const tc_io_handler_t *h, void *ud) {
  c->h = h;
  c->tcp.data = ud;
}

void *tc_io_conn_data(const tc_io_conn_t *c) {
  return c->tcp.data;
}

tc_io_t *tc_io_conn_io(const tc_io_conn_t *c) {
  return c->io;
}

int tc_io_conn_tcp_info(tc_io_conn_t *c, tc_io_tcp_info_t *out) {
  int fd;
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
    return TC_ESYS;
  *out = (tc_io_tcp_info_t){.rtt_us = ti.tcpi_rtt,
                            .rttvar_us = ti.tcpi_rttvar,
                            .snd_cwnd = ti.tcpi_snd_cwnd,
                            .snd_mss = ti.tcpi_snd_mss,
                            .total_retrans = ti.tcpi_total_retrans};
  return 0;
}

int tc_io_conn_peer_addr(tc_io_conn_t *c, struct sockaddr_storage *out) {
  int len = sizeof *out;
  return uv_tcp_getpeername(&c->tcp, (struct sockaddr *)out, &len) == 0 ? 0 : TC_ESYS;
}

const char *tc_io_conn_peer(tc_io_conn_t *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      uv_ip4_name(a, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      uv_ip6_name(a, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
  }
  snprintf(c->io->peer, sizeof c->io->peer, "%s:%d", host, port);
  return c->io->peer;
}

/* Hands held and new bytes to the handler until it stops consuming. p/len is the fresh data when it
 * sits in the shared buffer; NULL when everything is already in c->in. */
static void conn_run_handler(tc_io_conn_t *c, uint8_t *p, size_t len) {
  size_t used = 0;
  c->delivering = 1;
  while (used < len && !c->closing && !c->paused && c->h && c->h->on_data) {
    ssize_t n = c->h->on_data(c, p + used, len - used);
    if (n < 0) {
      if (n == TC_ECLOSED)
        tc_io_conn_close(c, 0);
      else
        tc_io_conn_abort(c, (int)n);
      break;
    }
    if (n == 0) break;
    used += (size_t)n;
  }
  c->delivering = 0;
  tc_io_conn_x_t *x = c->x;
  if (x && x->in.len && p == tc_buf_data(&x->in)) {
    tc_buf_consume(&x->in, used);
    if (x->in.len == 0) io_buf_drop(c->io, &x->in);
  } else if (used < len && !c->closing) {
    if (!(x = conn_x(c)) || io_buf_reserve(c->io, &x->in, len - used) < 0)
      tc_io_conn_abort(c, TC_ENOMEM);
    else
      tc_buf_append(&x->in, p + used, len - used);
  }
}

static void conn_deliver(tc_io_conn_t *c) {
  if (conn_in_len(c)) conn_run_handler(c, tc_buf_data(&c->x->in), c->x->in.len);
}

static void conn_connected(tc_io_conn_t *c);

/* TLS: ciphertext arrived in the shared buffer; plaintext joins c->in and goes to the handler. */
static void conn_tls_read(tc_io_conn_t *c, size_t n) {
  tc__tls_t *tls = c->x->tls;
  int was_done = tc__tls_handshake_done(tls);
  int r = tc__tls_read(tls, c->io->rbuf, n, &c->x->in, tc__tls_wire(tls));
  if (tc__tls_wire(tls)->len) schedule_flush(c);
  if (r == TC_ECLOSED) {
    c->peer_eof = 1;
    conn_deliver(c);
    tc_io_conn_close(c, TC_ECLOSED);
    return;
  }
  if (r) {
    tc_log(c->io->cfg.log, TC_LOG_DEBUG, "io", "%s: TLS failed", tc_io_conn_peer(c));
    tc_io_conn_abort(c, r);
    return;
  }
  if (!was_done && tc__tls_handshake_done(tls)) {
    if (c->x->connecting) conn_connected(c);
    /* Output queued before the handshake finished can go now. */
    if (tc_io_conn_pending(c)) schedule_flush(c);
  }
  if (conn_in_len(c) && !c->closing && !c->paused) conn_deliver(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tc_io_conn_t *c = (tc_io_conn_t *)h;
  (void)suggested;
  tc_io_conn_x_t *x = c->x;
  if (!x || x->in.len == 0 || x->tls) {
    *buf = uv_buf_init((char *)c->io->rbuf, (unsigned)c->io->rbuf_size);
    return;
  }
  /* A partial message is waiting: read straight behind it so it stays contiguous. */
  size_t want = x->in.len < 16384 ? 16384 : x->in.len;
  if (want > c->io->rbuf_size) want = c->io->rbuf_size;
  if (io_buf_reserve(c->io, &x->in, want) < 0) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init((char *)tc_buf_tail(&x->in), (unsigned)tc_buf_avail(&x->in));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tc_io_conn_t *c = (tc_io_conn_t *)s;
  if (nread == 0) return;
  if (nread < 0) {
    if (nread == UV_ENOBUFS) {
      tc_io_conn_abort(c, TC_ENOMEM);
      return;
    }
    c->peer_eof = 1;
    if (nread == UV_EOF)
      tc_io_conn_close(c, TC_ECLOSED);
    else
      tc_io_conn_abort(c, TC_ECLOSED);
    return;
  }
  if (conn_tls(c)) {
    conn_tls_read(c, (size_t)nread);
  } else if ((uint8_t *)buf->base == c->io->rbuf) {
    conn_run_handler(c, c->io->rbuf, (size_t)nread);
  } else {
    tc_buf_commit(&c->x->in, (size_t)nread);
    conn_deliver(c);
  }
}

void tc_io_conn_pause(tc_io_conn_t *c) {
  if (c->paused || c->closing) return;
  c->paused = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
}

void tc_io_conn_resume(tc_io_conn_t *c) {
  if (c->closing) return;
  if (c->paused) {
    c->paused = 0;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
  if (conn_in_len(c) && !c->in_redeliver && !c->delivering) {
    /* Deliver held bytes from the loop, not from inside whatever callback resumed us. */
    tc_io_t *io = c->io;
    if (io->nredeliver == io->capredeliver) {
      size_t cap = io->capredeliver ? io->capredeliver * 2 : 16;
      tc_io_conn_t **v = realloc(io->redeliver, cap * sizeof *v);
      if (!v) {
        tc_io_conn_abort(c, TC_ENOMEM);
        return;
      }
      io->redeliver = v;
      io->capredeliver = cap;
    }
    c->in_redeliver = 1;
    if (!io->nredeliver) uv_idle_start(&io->redeliver_h, on_idle);
    io->redeliver[io->nredeliver++] = c;
  }
}

/* ---- listeners --------------------------------------------------------------------------------
 */

static void conn_link(tc_io_t *io, tc_io_conn_t *c) {
  c->next = io->conns;
  if (io->conns) io->conns->prev = c;
  io->conns = c;
  io->nconns++;
}

static void on_connection(uv_stream_t *server, int status) {
  tc_io_listener_t *l = (tc_io_listener_t *)server;
  tc_io_t *io = l->io;
  if (status < 0) {
    tc_log(io->cfg.log, TC_LOG_WARN, "io", "accept failed: %s", uv_strerror(status));
    return;
  }
  tc_io_conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->io = io;
  uv_tcp_init(io->loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed_free_self);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  conn_link(io, c);
  if (l->tls && (!conn_x(c) || !(c->x->tls = tc__tls_new(l->tls, NULL)))) {
    tc_io_conn_abort(c, TC_ENOMEM);
    return;
  }
  l->on_accept(l, c, l->ud);
  if (!c->closing && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
    tc_io_conn_abort(c, TC_EIO);
}

int tc_io_listen(tc_io_t *io, const char *host, int port, tc_io_accept_fn on_accept, void *ud,
                 tc_io_listener_t **out) {
  struct sockaddr_storage ss;
  if (port < 0 || port > 65535) return TC_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return TC_EINVAL;
  tc_io_listener_t *l = calloc(1, sizeof *l);
  if (!l) return TC_ENOMEM;
  l->io = io;
  l->on_accept = on_accept;
  l->ud = ud;
  uv_tcp_init(io->loop, &l->tcp);
  int r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
  if (r < 0) {
    uv_close((uv_handle_t *)&l->tcp, on_handle_closed_free_self);
    return r == UV_EADDRINUSE ? TC_EADDRINUSE : r == UV_EACCES ? TC_EACCES : TC_ESYS;
  }
  int len = sizeof ss;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
  l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  l->next = io->listeners;
  io->listeners = l;
  if (out) *out = l;
  return 0;
}

void tc_io_listener_set_tls(tc_io_listener_t *l, tc_io_tls_ctx_t *ctx) {
  l->tls = ctx;
}

int tc_io_listener_port(const tc_io_listener_t *l) {
  return l->port;
}

void tc_io_listener_close(tc_io_listener_t *l) {
  tc_io_listener_t **pp = &l->io->listeners;
  while (*pp && *pp != l) pp = &(*pp)->next;
  if (*pp) *pp = l->next;
  uv_close((uv_handle_t *)&l->tcp, on_handle_closed_free_self);
}

/* ---- outgoing connections
 * ------------------------------------------------------------------------ */

/* Ready: the request is done with, and the one who asked gets the connection. */
static void conn_connected(tc_io_conn_t *c) {
  connect_req_t *cr = c->x->connecting;
  c->x->connecting = NULL;
  tc_io_connect_fn fn = cr->on_connect;
  void *ud = cr->ud;
  free(cr);
  fn(c, 0, ud);
}

static void on_tcp_connected(uv_connect_t *req, int status) {
  connect_req_t *cr = req->data;
  cr->in_flight = 0;
  tc_io_conn_t *c = cr->c;
  if (!c) {
    free(cr);
    return;
  }
  /* Failures go through the close, which reports them and frees the request. */
  if (status < 0 || c->uv_closing) {
    tc_io_conn_abort(c, status == UV_ECONNREFUSED ? TC_ECONNREFUSED
                        : status == UV_ETIMEDOUT  ? TC_ETIMEDOUT
                                                  : TC_EIO);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
    tc_io_conn_abort(c, TC_EIO);
    return;
  }
  if (cr->tls) {
    /* Ready once the TLS handshake completes (in conn_tls_read). */
    tc__tls_t *tls = c->x->tls = tc__tls_new(cr->tls, cr->host);
    if (!tls || tc__tls_start(tls, tc__tls_wire(tls)) < 0) {
      tc_io_conn_abort(c, TC_ETLS);
      return;
    }
    schedule_flush(c);
    return;
  }
  conn_connected(c);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res) {
  connect_req_t *cr = gai->data;
  cr->in_flight = 0;
  tc_io_conn_t *c = cr->c;
  if (!c || status < 0 || !res || c->uv_closing) {
    if (res) uv_freeaddrinfo(res);
    if (!c)
      free(cr); /* the connection was closed while we looked the name up */
    else
      tc_io_conn_abort(c, TC_ENAME);
    return;
  }
  cr->conn.data = cr;
  int r = uv_tcp_connect(&cr->conn, &c->tcp, res->ai_addr, on_tcp_connected);
  uv_freeaddrinfo(res);
  if (r < 0)
    tc_io_conn_abort(c, TC_EIO);
  else
    cr->in_flight = 1;
}

int tc_io_connect(tc_io_t *io, const char *host, int port, tc_io_tls_ctx_t *tls,
                  tc_io_connect_fn on_connect, void *ud) {
  if (port <= 0 || port > 65535 || strlen(host) >= sizeof((connect_req_t *)0)->host)
    return TC_EINVAL;
  tc_io_conn_t *c = calloc(1, sizeof *c);
  connect_req_t *cr = calloc(1, sizeof *cr);
  tc_io_conn_x_t *x = calloc(1, sizeof *x);
  if (!c || !cr || !x) {
    free(c);
    free(cr);
    free(x);
    return TC_ENOMEM;
  }
  c->x = x;
  c->io = io;
  uv_tcp_init(io->loop, &c->tcp);
  conn_link(io, c);
  cr->c = c;
  cr->tls = tls;
  cr->on_connect = on_connect;
  cr->ud = ud;
  snprintf(cr->host, sizeof cr->host, "%s", host);
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  cr->gai.data = cr;
  int r = uv_getaddrinfo(io->loop, &cr->gai, on_resolved, host, portstr, &hints);
  if (r < 0) {
    /* Said here, so not said again by the close. */
    free(cr);
    tc_io_conn_abort(c, TC_ENAME);
    return TC_ENAME;
  }
  cr->in_flight = 1;
  x->connecting = cr;
  return 0;
}
