/* The Socket.IO server: its Engine.IO glue, namespaces (static and dynamic), the timer heap
 * that serves connect timeouts and acknowledgement timeouts, and the reaper that releases
 * sockets and clients a loop turn after they are done, so that no callback's object vanishes
 * under it. */
#include "sio_int.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define SIO_SWEEP_MS 60000

/* ---- Timers ---------------------------------------------------------------------------------- */

uint64_t tc__sio_now(const tc_sio_server_t *srv) {
  return uv_now(srv->loop);
}

static void heap_swap(tc_sio_server_t *srv, size_t a, size_t b) {
  sio_timer_t *t = srv->heap[a];
  srv->heap[a] = srv->heap[b];
  srv->heap[b] = t;
  srv->heap[a]->idx = a + 1;
  srv->heap[b]->idx = b + 1;
}

static void heap_up(tc_sio_server_t *srv, size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (srv->heap[parent]->due <= srv->heap[i]->due) break;
    heap_swap(srv, i, parent);
    i = parent;
  }
}

static void heap_down(tc_sio_server_t *srv, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < srv->nheap && srv->heap[l]->due < srv->heap[m]->due) m = l;
    if (r < srv->nheap && srv->heap[r]->due < srv->heap[m]->due) m = r;
    if (m == i) return;
    heap_swap(srv, i, m);
    i = m;
  }
}

static void on_uv_timer(uv_timer_t *h);

static void timer_reschedule(tc_sio_server_t *srv) {
  if (!srv->timer) return;
  if (!srv->nheap) {
    uv_timer_stop(srv->timer);
    return;
  }
  uint64_t now = tc__sio_now(srv), due = srv->heap[0]->due;
  uv_timer_start(srv->timer, on_uv_timer, due > now ? due - now : 0, 0);
}

void tc__sio_timer_cancel(tc_sio_server_t *srv, sio_timer_t *t) {
  if (!t->idx) return;
  size_t i = t->idx - 1;
  t->idx = 0;
  srv->nheap--;
  if (i != srv->nheap) {
    srv->heap[i] = srv->heap[srv->nheap];
    srv->heap[i]->idx = i + 1;
    heap_down(srv, i);
    heap_up(srv, i);
  }
  if (i == 0) timer_reschedule(srv);
}

void tc__sio_timer_arm(tc_sio_server_t *srv, sio_timer_t *t, uint64_t ms) {
  tc__sio_timer_cancel(srv, t);
  if (srv->nheap == srv->capheap) {
    size_t cap = srv->capheap ? srv->capheap * 2 : 16;
    sio_timer_t **h = realloc(srv->heap, cap * sizeof *h);
    /* Without room the deadline is lost; the only cost is a wait that never times out, and
     * the tables are tiny compared with what else would have failed first. */
    if (!h) return;
    srv->heap = h;
    srv->capheap = cap;
  }
  t->due = tc__sio_now(srv) + ms;
  srv->heap[srv->nheap] = t;
  t->idx = ++srv->nheap;
  heap_up(srv, srv->nheap - 1);
  if (t->idx == 1) timer_reschedule(srv);
}

static void on_uv_timer(uv_timer_t *h) {
  tc_sio_server_t *srv = h->data;
  uint64_t now = tc__sio_now(srv);
  while (srv->nheap && srv->heap[0]->due <= now) {
    sio_timer_t *t = srv->heap[0];
    tc__sio_timer_cancel(srv, t);
    t->fn(t);
  }
  timer_reschedule(srv);
}

/* ---- Reaper ---------------------------------------------------------------------------------- */

static void reap_all(tc_sio_server_t *srv) {
  while (srv->reap_sockets) {
    tc_sio_socket_t *s = srv->reap_sockets;
    srv->reap_sockets = s->reap_next;
    tc__sio_socket_free(s);
  }
  while (srv->reap_clients) {
    sio_client_t *c = srv->reap_clients;
    srv->reap_clients = c->reap_next;
    tc__sio_client_free(c);
  }
  while (srv->reap_nsps) {
    tc_sio_nsp_t *n = srv->reap_nsps;
    srv->reap_nsps = n->reap_next;
    tc__sio_nsp_free(n);
  }
}

static void on_idle(uv_idle_t *h) {
  tc_sio_server_t *srv = h->data;
  uv_idle_stop(h);
  reap_all(srv);
}

static void reaper_start(tc_sio_server_t *srv) {
  if (srv->reaper && !srv->freeing) uv_idle_start(srv->reaper, on_idle);
}

void tc__sio_reap_socket(tc_sio_socket_t *s) {
  tc_sio_server_t *srv = s->nsp->srv;
  s->reap_next = srv->reap_sockets;
  srv->reap_sockets = s;
  reaper_start(srv);
}

void tc__sio_reap_client(sio_client_t *c) {
  if (c->reaped) return;
  c->reaped = 1;
  c->reap_next = c->srv->reap_clients;
  c->srv->reap_clients = c;
  reaper_start(c->srv);
}

void tc__sio_reap_nsp(tc_sio_nsp_t *nsp) {
  nsp->reap_next = nsp->srv->reap_nsps;
  nsp->srv->reap_nsps = nsp;
  reaper_start(nsp->srv);
}

/* ---- Namespaces ------------------------------------------------------------------------------ */

static tc_sio_nsp_t *nsp_new(tc_sio_server_t *srv, const char *name, size_t len) {
  tc_sio_nsp_t *nsp = calloc(1, sizeof *nsp);
  if (!nsp) return NULL;
  nsp->srv = srv;
  nsp->adapter = &tc__sio_adapter_local;
  nsp->name = malloc(len + 1);
  if (!nsp->name) {
    free(nsp);
    return NULL;
  }
  memcpy(nsp->name, name, len);
  nsp->name[len] = 0;
  nsp->name_len = len;
  return nsp;
}

void tc__sio_nsp_free(tc_sio_nsp_t *nsp) {
  nsp->adapter->close(nsp);
  size_t i = 0;
  sio_handler_t *h;
  while ((h = tc__sio_map_next(&nsp->handlers, &i))) {
    free(h->name);
    free(h);
  }
  tc__sio_map_free(&nsp->handlers);
  tc__sio_map_free(&nsp->by_id);
  free(nsp->mws);
  free(nsp->pattern);
  free(nsp->name);
  free(nsp);
}

static tc_sio_nsp_t *nsp_create(tc_sio_server_t *srv, const char *name, size_t len,
                                tc_sio_nsp_t *parent) {
  tc_sio_nsp_t *nsp = nsp_new(srv, name, len);
  if (!nsp) return NULL;
  nsp->parent = parent;
  if (tc__sio_map_put(&srv->nsps, nsp->name, len, nsp) < 0) {
    tc__sio_nsp_free(nsp);
    return NULL;
  }
  return nsp;
}

static int parent_accepts(tc_sio_nsp_t *p, const char *name, tc_slice_t auth) {
  if (p->pattern && fnmatch(p->pattern, name, 0) != 0) return 0;
  if (p->match && !p->match(p->srv, name, auth, p->match_ud)) return 0;
  return 1;
}

/* A child of a dynamic namespace goes with its last socket, when so configured. */
void tc__sio_nsp_maybe_cleanup(tc_sio_nsp_t *nsp) {
  tc_sio_server_t *srv = nsp->srv;
  if (!nsp->parent || !srv->cfg.cleanup_empty_child_namespaces || nsp->count || nsp->pending ||
      nsp->ops || nsp->dead)
    return;
  nsp->dead = 1;
  tc__sio_map_del(&srv->nsps, nsp->name, nsp->name_len);
  tc__sio_reap_nsp(nsp);
}

void tc_sio_nsp_set_recovery(tc_sio_nsp_t *nsp, int on) {
  nsp->no_recovery = !on;
}

tc_sio_nsp_t *tc_sio_nsp_find(tc_sio_server_t *srv, const char *name) {
  if (name[0] != '/') {
    /* Node adds the slash; so does tc_sio_of. */
    size_t n = strlen(name);
    char *tmp = malloc(n + 2);
    if (!tmp) return NULL;
    tmp[0] = '/';
    memcpy(tmp + 1, name, n + 1);
    tc_sio_nsp_t *r = tc__sio_map_get(&srv->nsps, tmp, n + 1);
    free(tmp);
    return r;
  }
  return tc__sio_map_get(&srv->nsps, name, strlen(name));
}

tc_sio_nsp_t *tc_sio_of(tc_sio_server_t *srv, const char *name) {
  tc_sio_nsp_t *nsp = tc_sio_nsp_find(srv, name);
  if (nsp) return nsp;
  tc_buf_t b = {0};
  if ((name[0] != '/' && tc_buf_append(&b, "/", 1) < 0) ||
      tc_buf_append(&b, name, strlen(name) + 1) < 0) {
    tc_buf_free(&b);
    return NULL;
  }
  const char *full = (const char *)tc_buf_data(&b);
  /* Only pattern parents claim names created by the application, as only Node's regex ones
   * do: a callback needs a connecting client to judge. */
  tc_sio_nsp_t *parent = NULL;
  for (tc_sio_nsp_t *p = srv->parents; p && !parent; p = p->next_parent)
    if (p->pattern && fnmatch(p->pattern, full, 0) == 0) parent = p;
  nsp = nsp_create(srv, full, b.len - 1, parent);
  tc_buf_free(&b);
  return nsp;
}

tc_sio_nsp_t *tc__sio_nsp_for_connect(tc_sio_server_t *srv, tc_slice_t name, tc_slice_t auth) {
  tc_sio_nsp_t *nsp = tc__sio_map_get(&srv->nsps, (const char *)name.p, name.len);
  if (nsp || !srv->parents) return nsp;
  /* A name with a NUL byte cannot be matched as a C string: no dynamic namespace takes it. */
  if (memchr(name.p, 0, name.len)) return NULL;
  char *cname = malloc(name.len + 1);
  if (!cname) return NULL;
  memcpy(cname, name.p, name.len);
  cname[name.len] = 0;
  for (tc_sio_nsp_t *p = srv->parents; p; p = p->next_parent) {
    if (!parent_accepts(p, cname, auth)) continue;
    /* The callback may have created it meanwhile, as Node checks too. */
    nsp = tc__sio_map_get(&srv->nsps, cname, name.len);
    if (!nsp) nsp = nsp_create(srv, cname, name.len, p);
    break;
  }
  free(cname);
  return nsp;
}

tc_sio_nsp_t *tc_sio_of_dynamic(tc_sio_server_t *srv, const char *pattern, tc_sio_nsp_match_fn fn,
                                void *ud) {
  if (!pattern && !fn) return NULL;
  char name[32];
  int n = snprintf(name, sizeof name, "/_%u", srv->nparents);
  tc_sio_nsp_t *p = nsp_new(srv, name, (size_t)n);
  if (!p) return NULL;
  if (pattern && !(p->pattern = strdup(pattern))) {
    tc__sio_nsp_free(p);
    return NULL;
  }
  p->dynamic = 1;
  p->match = fn;
  p->match_ud = ud;
  srv->nparents++;
  if (srv->parents_tail)
    srv->parents_tail->next_parent = p;
  else
    srv->parents = p;
  srv->parents_tail = p;
  return p;
}

const char *tc_sio_nsp_name(const tc_sio_nsp_t *nsp) {
  return nsp->name;
}

tc_sio_server_t *tc_sio_nsp_server(const tc_sio_nsp_t *nsp) {
  return nsp->srv;
}

tc_sio_nsp_t *tc_sio_nsp_parent(const tc_sio_nsp_t *nsp) {
  return nsp->parent;
}

size_t tc_sio_nsp_count(const tc_sio_nsp_t *nsp) {
  if (!nsp->dynamic) return nsp->count;
  size_t n = 0, i = 0;
  tc_sio_nsp_t *c;
  while ((c = tc__sio_map_next(&nsp->srv->nsps, &i)))
    if (c->parent == nsp) n += c->count;
  return n;
}

tc_sio_socket_t *tc_sio_nsp_socket(const tc_sio_nsp_t *nsp, const char *id) {
  return tc__sio_map_get(&nsp->by_id, id, strlen(id));
}

void tc_sio_nsp_set_handlers(tc_sio_nsp_t *nsp, const tc_sio_nsp_handlers_t *h, void *ud) {
  if (h)
    nsp->h = *h;
  else
    memset(&nsp->h, 0, sizeof nsp->h);
  nsp->h_ud = ud;
}

int tc_sio_use(tc_sio_nsp_t *nsp, tc_sio_middleware_fn fn, void *ud) {
  if (!fn) return TC_EINVAL;
  sio_mw_t *m = realloc(nsp->mws, (nsp->nmws + 1) * sizeof *m);
  if (!m) return TC_ENOMEM;
  nsp->mws = m;
  m[nsp->nmws++] = (sio_mw_t){fn, ud};
  return 0;
}

const sio_mw_t *tc__sio_nsp_mw(const tc_sio_nsp_t *nsp, size_t i) {
  if (nsp->parent) {
    if (i < nsp->parent->nmws) return &nsp->parent->mws[i];
    i -= nsp->parent->nmws;
  }
  return i < nsp->nmws ? &nsp->mws[i] : NULL;
}

int tc_sio_on(tc_sio_nsp_t *nsp, const char *name, tc_sio_event_fn fn, void *ud) {
  size_t len = strlen(name);
  sio_handler_t *h = tc__sio_map_get(&nsp->handlers, name, len);
  if (!fn) {
    if (h) {
      tc__sio_map_del(&nsp->handlers, name, len);
      free(h->name);
      free(h);
    }
    return 0;
  }
  if (h) {
    h->fn = fn;
    h->ud = ud;
    return 0;
  }
  h = calloc(1, sizeof *h);
  if (!h || !(h->name = strdup(name))) {
    free(h);
    return TC_ENOMEM;
  }
  h->len = len;
  h->fn = fn;
  h->ud = ud;
  if (tc__sio_map_put(&nsp->handlers, h->name, len, h) < 0) {
    free(h->name);
    free(h);
    return TC_ENOMEM;
  }
  return 0;
}

void tc_sio_on_any(tc_sio_nsp_t *nsp, tc_sio_event_fn fn, void *ud) {
  nsp->any = fn;
  nsp->any_ud = ud;
}

const sio_handler_t *tc__sio_nsp_handler(const tc_sio_nsp_t *nsp, const char *name, size_t len) {
  const sio_handler_t *h = tc__sio_map_get(&nsp->handlers, name, len);
  if (!h && nsp->parent) h = tc__sio_map_get(&nsp->parent->handlers, name, len);
  return h;
}

/* ---- The server ------------------------------------------------------------------------------ */

static void on_sweep(sio_timer_t *t) {
  tc_sio_server_t *srv = (tc_sio_server_t *)((char *)t - offsetof(tc_sio_server_t, sweep));
  size_t i = 0;
  tc_sio_nsp_t *nsp;
  while ((nsp = tc__sio_map_next(&srv->nsps, &i))) nsp->adapter->sweep(nsp);
  tc__sio_timer_arm(srv, &srv->sweep, SIO_SWEEP_MS);
}

static void on_handle_closed(uv_handle_t *h) {
  free(h);
}

int tc__sio_server_init(uv_loop_t *loop, const tc_sio_config_t *cfg, const sio_transport_t *tr,
                        tc_sio_server_t **out) {
  tc_sio_server_t *srv = calloc(1, sizeof *srv);
  if (!srv) return TC_ENOMEM;
  if (cfg) srv->cfg = *cfg;
  tc_sio_config_t *c = &srv->cfg;
  if (!c->connect_timeout_ms) c->connect_timeout_ms = 45000;
  if (!c->max_attachments) c->max_attachments = TC_SIO_MAX_ATTACHMENTS_DEFAULT;
  if (!c->recovery_max_disconnection_ms) c->recovery_max_disconnection_ms = 120000;
  srv->loop = loop;
  srv->tr = tr;
  srv->timer = malloc(sizeof *srv->timer);
  srv->reaper = malloc(sizeof *srv->reaper);
  if (!srv->timer || !srv->reaper) {
    free(srv->timer);
    free(srv->reaper);
    free(srv);
    return TC_ENOMEM;
  }
  uv_timer_init(loop, srv->timer);
  uv_idle_init(loop, srv->reaper);
  srv->timer->data = srv;
  srv->reaper->data = srv;
  /* Deadlines and pending frees alone must not keep a stopping loop alive. */
  uv_unref((uv_handle_t *)srv->timer);
  uv_unref((uv_handle_t *)srv->reaper);
  srv->main = nsp_create(srv, "/", 1, NULL);
  if (!srv->main) {
    tc__sio_server_free(srv);
    return TC_ENOMEM;
  }
  srv->sweep.fn = on_sweep;
  if (c->recovery) tc__sio_timer_arm(srv, &srv->sweep, SIO_SWEEP_MS);
  *out = srv;
  return 0;
}

void tc__sio_server_free(tc_sio_server_t *srv) {
  srv->freeing = 1;
  reap_all(srv);
  while (srv->clients) {
    sio_client_t *c = srv->clients;
    c->conn = NULL;
    tc__sio_client_closed(c, "server shutting down");
    reap_all(srv);
    /* A socket still waiting for its middleware keeps its client: release both here. */
    if (srv->clients == c) {
      while (c->sockets) {
        tc_sio_socket_t *s = c->sockets;
        c->sockets = s->cnext;
        tc__sio_socket_fail_acks(s);
        s->nsp->adapter->del_all(s);
        tc__sio_socket_free(s);
      }
      c->busy = 0;
      c->gone = 1;
      tc__sio_client_release(c);
    }
  }
  tc__sio_bcast_ack_close_all(srv);
  reap_all(srv);
  size_t i = 0;
  tc_sio_nsp_t *nsp;
  while ((nsp = tc__sio_map_next(&srv->nsps, &i))) tc__sio_nsp_free(nsp);
  tc__sio_map_free(&srv->nsps);
  while (srv->parents) {
    tc_sio_nsp_t *p = srv->parents;
    srv->parents = p->next_parent;
    tc__sio_nsp_free(p);
  }
  free(srv->heap);
  uv_close((uv_handle_t *)srv->timer, on_handle_closed);
  uv_close((uv_handle_t *)srv->reaper, on_handle_closed);
  tc_buf_free(&srv->scratch);
  free(srv->recipients.v);
  tc_buf_free(&srv->name);
  free(srv->eio_path);
  free(srv->cors_origin);
  free(srv);
}

void tc_sio_server_close(tc_sio_server_t *srv) {
  size_t i = 0;
  tc_sio_nsp_t *nsp;
  while ((nsp = tc__sio_map_next(&srv->nsps, &i))) {
    while (nsp->first) tc__sio_socket_onclose(nsp->first, "server shutting down");
  }
  if (srv->eio) tc_eio_server_close_all(srv->eio);
}

tc_eio_server_t *tc_sio_server_eio(const tc_sio_server_t *srv) {
  return srv->eio;
}

size_t tc_sio_server_client_count(const tc_sio_server_t *srv) {
  return srv->nclients;
}

/* ---- Engine.IO glue -------------------------------------------------------------------------- */

static int eio_send(void *conn, int binary, const void *p, size_t len) {
  return tc_eio_send(conn, binary, p, len);
}

static void *eio_shared_new(int binary, const void *p, size_t len) {
  return tc_eio_shared_new(binary, p, len);
}

static void eio_shared_unref(void *m) {
  tc_eio_shared_unref(m);
}

static int eio_send_shared(void *conn, void *m) {
  return tc_eio_send_shared(conn, m);
}

static void eio_close(void *conn) {
  tc_eio_close(conn);
}

/* Node drops a volatile packet when the transport is busy writing; what the Engine.IO API
 * tells us is whether anything is still queued, which is the same question asked one step
 * earlier. */
static int eio_writable(void *conn) {
  return tc_eio_buffered(conn) == 0;
}

static const sio_transport_t eio_transport = {
    eio_send, eio_shared_new, eio_shared_unref, eio_send_shared, eio_close, eio_writable,
};

static void on_eio_open(tc_eio_socket_t *es, void *ud) {
  tc_sio_server_t *srv = ud;
  sio_client_t *c = tc__sio_client_open(srv, es, tc_eio_handshake(es));
  if (!c) {
    tc_eio_close(es);
    return;
  }
  tc_eio_set_data(es, c);
}

static void on_eio_message(tc_eio_socket_t *es, int binary, const uint8_t *data, size_t len,
                           void *ud) {
  (void)ud;
  sio_client_t *c = tc_eio_data(es);
  if (c) tc__sio_client_message(c, binary, data, len);
}

static void on_eio_close(tc_eio_socket_t *es, const char *reason, void *ud) {
  (void)ud;
  sio_client_t *c = tc_eio_data(es);
  tc_eio_set_data(es, NULL);
  if (c) tc__sio_client_closed(c, reason);
}

static void on_http_free(void *ud) {
  tc__sio_server_free(ud);
}

int tc_sio_server_new(tc_http_server_t *http, const tc_sio_config_t *cfg, tc_sio_server_t **out) {
  static const tc_sio_config_t defaults = {0};
  if (!cfg) cfg = &defaults;
  tc_sio_server_t *srv;
  uv_loop_t *loop = tc_io_loop(tc_http_server_io(http));
  int r = tc__sio_server_init(loop, cfg, &eio_transport, &srv);
  if (r) return r;
  tc_eio_config_t ec = cfg->eio;
  if (!ec.path) ec.path = "/socket.io/";
  if (!ec.log) ec.log = cfg->log;
  srv->eio_path = strdup(ec.path);
  srv->cors_origin = ec.cors_origin ? strdup(ec.cors_origin) : NULL;
  if (!srv->eio_path || (ec.cors_origin && !srv->cors_origin)) {
    tc__sio_server_free(srv);
    return TC_ENOMEM;
  }
  ec.path = srv->eio_path;
  ec.cors_origin = srv->cors_origin;
  srv->cfg.eio = ec;
  srv->cfg.client_dir = NULL; /* used here only: not kept */
  static const tc_eio_handlers_t h = {on_eio_open, on_eio_message, NULL, on_eio_close};
  r = tc_eio_server_new(http, &ec, &h, srv, &srv->eio);
  if (r) {
    tc__sio_server_free(srv);
    return r;
  }
  /* Registered after Engine.IO's, so it runs after it: Engine.IO's close callbacks still find
   * the server alive. */
  r = tc_http_server_on_free(http, on_http_free, srv);
  if (r) {
    /* The Engine.IO server is the HTTP server's now and will report closes to srv: keep srv
     * (a leak on an out-of-memory path beats a use after free). */
    return r;
  }
  /* From here srv is the HTTP server's too: a failure leaves it to be freed with it. */
  if (cfg->client_dir) {
    r = tc__sio_serve_client(http, ec.path, cfg->client_dir);
    if (r) return r;
  }
  *out = srv;
  return 0;
}
