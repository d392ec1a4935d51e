/* Small containers of the Socket.IO core: a string-keyed map (rooms, namespaces, handlers,
 * sockets by id) and the ids it hands out. */
#include "sio_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* FNV-1a: room names are short and the map only needs a fair spread. */
static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static size_t find_slot(const sio_map_t *m, const char *key, size_t klen, uint32_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const sio_map_slot_t *s = &m->slots[i];
    if (!s->key) return i;
    if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) return i;
  }
}

void *tc__sio_map_get(const sio_map_t *m, const char *key, size_t klen) {
  if (!m->count) return NULL;
  if (klen > UINT32_MAX) return NULL;
  size_t i = find_slot(m, key, klen, (uint32_t)hash_bytes(key, klen));
  return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(sio_map_t *m) {
  size_t cap = m->cap ? m->cap * 2 : 8;
  sio_map_slot_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return TC_ENOMEM;
  sio_map_t n = {slots, cap, 0};
  for (size_t i = 0; i < m->cap; i++) {
    sio_map_slot_t *s = &m->slots[i];
    if (!s->key) continue;
    size_t j = find_slot(&n, s->key, s->klen, s->hash);
    n.slots[j] = *s;
    n.count++;
  }
  free(m->slots);
  *m = n;
  return 0;
}

int tc__sio_map_put(sio_map_t *m, const char *key, size_t klen, void *val) {
  if (klen > UINT32_MAX) return TC_E2BIG;
  if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0) return TC_ENOMEM;
  uint32_t h = (uint32_t)hash_bytes(key, klen);
  size_t i = find_slot(m, key, klen, h);
  if (!m->slots[i].key) m->count++;
  m->slots[i] = (sio_map_slot_t){.key = key, .val = val, .hash = h, .klen = (uint32_t)klen};
  return 0;
}

void *tc__sio_map_del(sio_map_t *m, const char *key, size_t klen) {
  if (!m->count || klen > UINT32_MAX) return NULL;
  size_t mask = m->cap - 1;
  size_t i = find_slot(m, key, klen, (uint32_t)hash_bytes(key, klen));
  if (!m->slots[i].key) return NULL;
  void *val = m->slots[i].val;
  m->count--;
  /* Backward shift: pull later entries of the cluster into the hole when their home allows. */
  size_t j = i;
  for (;;) {
    m->slots[i].key = NULL;
    for (;;) {
      j = (j + 1) & mask;
      if (!m->slots[j].key) return val;
      size_t home = m->slots[j].hash & mask;
      /* j's entry may move to i unless its home lies cyclically in (i, j]. */
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
    }
    m->slots[i] = m->slots[j];
    i = j;
  }
}

void tc__sio_map_free(sio_map_t *m) {
  free(m->slots);
  *m = (sio_map_t){0};
}

void *tc__sio_map_next(const sio_map_t *m, size_t *i) {
  for (; *i < m->cap; (*i)++) {
    if (m->slots[*i].key) return m->slots[(*i)++].val;
  }
  return NULL;
}

/* ---- Exact-size bytes ------------------------------------------------------------------------ */

int tc__sio_bytes_set(sio_bytes_t **b, const void *p, size_t len) {
  sio_bytes_t *n = len ? malloc(sizeof *n + len) : NULL;
  if (n) {
    n->len = len;
    memcpy(n->p, p, len);
  }
  /* On failure the old bytes are gone too, as when a reset buffer fails to take the new. */
  free(*b);
  *b = n;
  return len && !n ? TC_ENOMEM : 0;
}

void tc__sio_bytes_free(sio_bytes_t **b) {
  free(*b);
  *b = NULL;
}

/* ---- Ids ------------------------------------------------------------------------------------- */

void tc__sio_random_id(char out[21]) {
  uint8_t raw[15];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
    if (r > 0) got += (size_t)r;
  }
  tc_base64_encode(raw, sizeof raw, out);
  for (int i = 0; i < 20; i++) {
    if (out[i] == '/')
      out[i] = '_';
    else if (out[i] == '+')
      out[i] = '-';
  }
  out[20] = 0;
}

static size_t yeast_encode(uint64_t v, char *out) {
  static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
  char tmp[12];
  size_t n = 0;
  do {
    tmp[n++] = alphabet[v % 64];
    v /= 64;
  } while (v > 0);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = 0;
  return n;
}

void tc__sio_offset(tc_sio_server_t *srv, char out[24]) {
  /* Wall-clock milliseconds, as Node's, so that offsets sort across restarts of a process. */
  uv_timeval64_t tv;
  uint64_t ms = 0;
  if (uv_gettimeofday(&tv) == 0) ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
  char now[12];
  yeast_encode(ms, now);
  if (strcmp(now, srv->yeast_prev) != 0) {
    srv->yeast_seed = 0;
    memcpy(srv->yeast_prev, now, sizeof now);
    memcpy(out, now, sizeof now);
    return;
  }
  size_t n = strlen(now);
  memcpy(out, now, n);
  out[n] = '.';
  yeast_encode(srv->yeast_seed++, out + n + 1);
}
