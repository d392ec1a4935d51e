/* Static files: maps a request path to a regular file beneath a root folder, and keeps small files
 * in memory.
 *
 * Containment does not rest on string checks alone: every open is made relative to a descriptor of
 * the root with openat2(RESOLVE_BENEATH), so the kernel refuses a symlink or a rename race that
 * would lead out. Kernels without openat2 fall back to comparing realpath() of the opened file with
 * the root and checking that it names the same inode as the descriptor.
 *
 * A tc_http_static_t is not thread-safe: one per event loop. */
#include "tincan/http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TC_STATIC_MAX_PATH 4096 /* decoded bytes */
#define TC_STATIC_INDEX "index.html"
#define TC_STATIC_SMALL_FILE (64 * 1024)
#define TC_STATIC_CACHE_BUDGET ((size_t)16 * 1024 * 1024)
#define TC_STATIC_RECHECK_MS 1000
#define TC_STATIC_MIN_BUCKETS 64

/* What tells a cached copy from the file on disk now. */
typedef struct file_id {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim;
  struct timespec ctim;
} file_id_t;

typedef struct entry {
  struct entry *hnext;       /* hash chain */
  struct entry *prev, *next; /* recency list, most recent first */
  uint64_t hash;
  uint64_t checked_ms; /* when the file was last compared with the disk */
  size_t cost;         /* bytes counted against the budget */
  uint8_t *data;
  file_id_t id;
  const char *mime;
  char etag[48];
  char last_modified[32];
  size_t key_len;
  char key[]; /* the decoded path, NUL-terminated */
} entry_t;

struct tc_http_static {
  int root_fd;
  int beneath; /* 1 while openat2 works; 0 after ENOSYS: use the realpath check */
  char *root_real;
  size_t root_real_len;
  entry_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
  size_t cost;
  entry_t *mru, *lru;
};

/* ---- Cache ----------------------------------------------------------------------------------- */

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: keys are names of files that exist, not floods */
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)k[i]) * 0x100000001b3ULL;
  return h;
}

static entry_t *cache_find(const tc_http_static_t *st, uint64_t h, const char *key, size_t n) {
  for (entry_t *e = st->buckets[h & (st->nbuckets - 1)]; e; e = e->hnext)
    if (e->hash == h && e->key_len == n && memcmp(e->key, key, n) == 0) return e;
  return NULL;
}

static void list_unlink(tc_http_static_t *st, entry_t *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    st->mru = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    st->lru = e->prev;
  e->prev = e->next = NULL;
}

static void list_push_front(tc_http_static_t *st, entry_t *e) {
  e->prev = NULL;
  e->next = st->mru;
  if (st->mru)
    st->mru->prev = e;
  else
    st->lru = e;
  st->mru = e;
}

static void cache_touch(tc_http_static_t *st, entry_t *e) {
  if (st->mru == e) return;
  list_unlink(st, e);
  list_push_front(st, e);
}

static void cache_remove(tc_http_static_t *st, entry_t *e) {
  entry_t **pp = &st->buckets[e->hash & (st->nbuckets - 1)];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  list_unlink(st, e);
  st->count--;
  st->cost -= e->cost;
  free(e->data);
  free(e);
}

/* Doubling is best effort: without memory the chains just grow longer. */
static void cache_grow(tc_http_static_t *st) {
  size_t n = st->nbuckets * 2;
  entry_t **b = calloc(n, sizeof *b);
  if (!b) return;
  for (size_t i = 0; i < st->nbuckets; i++) {
    entry_t *e = st->buckets[i];
    while (e) {
      entry_t *next = e->hnext;
      e->hnext = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(st->buckets);
  st->buckets = b;
  st->nbuckets = n;
}

/* Reads exactly n bytes from the start of fd; 0, or -1 when the file came up short. */
static int read_all(int fd, uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, p + got, n - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void fill_from_entry(const entry_t *e, tc_http_file_t *out) {
  out->status = 200;
  out->fd = -1;
  out->body = e->data;
  out->size = (uint64_t)e->id.size;
  out->mtime = e->id.mtim.tv_sec;
  out->mime = e->mime;
  memcpy(out->etag, e->etag, sizeof out->etag);
  memcpy(out->last_modified, e->last_modified, sizeof out->last_modified);
}

/* Copies the file behind fd into a new entry. Returns the entry, or NULL when the file could not
 * be read whole (it changed under us: serve it from the descriptor this time); *oom is set when
 * memory ran out. */
static entry_t *cache_store(tc_http_static_t *st, const char *key, size_t key_len, uint64_t h,
                            int fd, const file_id_t *id, const tc_http_file_t *meta,
                            uint64_t now_ms, int *oom) {
  size_t size = (size_t)id->size;
  entry_t *e = malloc(sizeof *e + key_len + 1);
  uint8_t *data = malloc(size ? size : 1); /* a non-NULL body marks a cached answer */
  if (!e || !data) {
    free(e);
    free(data);
    *oom = 1;
    return NULL;
  }
  if (read_all(fd, data, size) != 0) {
    free(e);
    free(data);
    return NULL;
  }
  memset(e, 0, sizeof *e);
  e->hash = h;
  e->checked_ms = now_ms;
  e->cost = sizeof *e + key_len + 1 + size;
  e->data = data;
  e->id = *id;
  e->mime = meta->mime;
  memcpy(e->etag, meta->etag, sizeof e->etag);
  memcpy(e->last_modified, meta->last_modified, sizeof e->last_modified);
  e->key_len = key_len;
  memcpy(e->key, key, key_len);
  e->key[key_len] = '\0';

  while (st->lru && st->cost + e->cost > TC_STATIC_CACHE_BUDGET) cache_remove(st, st->lru);
  if (st->count >= st->nbuckets) cache_grow(st);
  entry_t **b = &st->buckets[h & (st->nbuckets - 1)];
  e->hnext = *b;
  *b = e;
  list_push_front(st, e);
  st->count++;
  st->cost += e->cost;
  return e;
}

/* ---- Opening files beneath the root --------------------------------------------------------- */

static int path_within(const char *path, const char *root, size_t root_len) {
  if (root_len == 1 && root[0] == '/') return 1;
  return strncmp(path, root, root_len) == 0 && (path[root_len] == '\0' || path[root_len] == '/');
}

/* The fallback: open, then make sure that what was opened lies beneath the root. Comparing the
 * inode of the resolved name with the descriptor closes the race of a symlink swapped between the
 * open and the realpath. Returns an fd or a negative errno. */
static int open_checked(const tc_http_static_t *st, const char *rel, int flags) {
  int fd = openat(st->root_fd, rel, flags);
  if (fd < 0) return -errno;
  size_t rl = strlen(rel);
  char *full = malloc(st->root_real_len + rl + 2);
  if (!full) {
    close(fd);
    return -ENOMEM;
  }
  memcpy(full, st->root_real, st->root_real_len);
  full[st->root_real_len] = '/';
  memcpy(full + st->root_real_len + 1, rel, rl + 1);
  char *real = realpath(full, NULL);
  int err = errno;
  free(full);
  if (!real) {
    close(fd);
    return err == ENOMEM ? -ENOMEM : -ENOENT;
  }
  struct stat a, b;
  int ok = path_within(real, st->root_real, st->root_real_len) && stat(real, &a) == 0 &&
           fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  free(real);
  if (!ok) {
    close(fd);
    return -EXDEV;
  }
  return fd;
}

/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
#define TC_STATIC_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

static long try_openat2(int dirfd, const char *rel, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

static int open_beneath(tc_http_static_t *st, const char *rel) {
  /* EAGAIN: the kernel saw a concurrent rename while resolving ".." inside a symlink. */
  for (int tries = 0; st->beneath && tries < 4; tries++) {
    long fd = try_openat2(st->root_fd, rel, TC_STATIC_OPEN_FLAGS);
    if (fd >= 0) return (int)fd;
    if (errno == ENOSYS)
      st->beneath = 0;
    else if (errno != EAGAIN && errno != EINTR)
      return -errno;
  }
  if (st->beneath) return -EAGAIN;
  return open_checked(st, rel, TC_STATIC_OPEN_FLAGS);
}

static int status_for_errno(int e, tc_http_file_t *out) {
  switch (e) {
    case ENOMEM:
      return TC_ENOMEM;
    case EMFILE:
    case ENFILE:
    case EIO:
    case EAGAIN:
    case EINTR:
    case EBADF:
      return TC_ESYS;
    case EACCES:
    case EPERM:
      out->status = 403;
      return 0;
    default: /* ENOENT, ENOTDIR, ELOOP, EXDEV (led out of the root), ENAMETOOLONG, ... */
      out->status = 404;
      return 0;
  }
}

/* The raw path with its slash added, for a 301. Bytes that have no business in a header, and the
 * backslash (which browsers read as '/', making "/\host" a link to another site), are escaped. */
static void set_redirect(tc_slice_t raw, tc_http_file_t *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0, cap = sizeof out->location;
  for (size_t i = 0; i < raw.len; i++) {
    uint8_t c = raw.p[i];
    if (c > 0x20 && c < 0x7f && c != '\\') {
      if (n + 1 >= cap) goto too_long;
      out->location[n++] = (char)c;
    } else {
      if (n + 3 >= cap) goto too_long;
      out->location[n++] = '%';
      out->location[n++] = hex[c >> 4];
      out->location[n++] = hex[c & 15];
    }
  }
  if (n + 2 > cap) goto too_long;
  out->location[n++] = '/';
  out->location[n] = '\0';
  out->status = 301;
  return;
too_long:
  out->location[0] = '\0';
  out->status = 404;
}

/* Checks a decoded path: 0 when it may name a file, else the status to answer with. Dot segments
 * and empty segments are malformed (400); other names starting with '.' are hidden (404). */
static int check_segments(const char *p, size_t n) {
  int status = 0;
  for (size_t i = 1; i <= n;) {
    size_t s = i;
    while (i < n && p[i] != '/') i++;
    size_t len = i - s;
    if (len == 0 && i < n) return 400; /* "//" */
    if (len > 0 && p[s] == '.') {
      if (len == 1 || (len == 2 && p[s + 1] == '.')) return 400;
      status = 404;
    }
    i++;
  }
  return status;
}

/* Opens what the decoded path names. On 200, *fd_out and *sb describe a regular file. `path` has
 * room for "index.html" after its n bytes. */
static int open_target(tc_http_static_t *st, char *path, size_t n, tc_slice_t raw,
                       tc_http_file_t *out, int *fd_out, struct stat *sb) {
  int folder = path[n - 1] == '/';
  if (folder) memcpy(path + n, TC_STATIC_INDEX, sizeof TC_STATIC_INDEX);
  int fd = open_beneath(st, path + 1);
  path[n] = '\0';
  if (fd < 0) return status_for_errno(-fd, out);
  if (fstat(fd, sb) != 0) {
    int e = errno;
    close(fd);
    return status_for_errno(e, out);
  }
  if (S_ISDIR(sb->st_mode) && !folder) {
    close(fd);
    set_redirect(raw, out);
    return 0;
  }
  if (!S_ISREG(sb->st_mode)) {
    close(fd);
    out->status = 404;
    return 0;
  }
  out->status = 200;
  *fd_out = fd;
  return 0;
}

static file_id_t file_id_of(const struct stat *sb) {
  file_id_t id;
  memset(&id, 0, sizeof id);
  id.dev = sb->st_dev;
  id.ino = sb->st_ino;
  id.size = sb->st_size;
  id.mtim = sb->st_mtim;
  id.ctim = sb->st_ctim;
  return id;
}

static int file_id_eq(const file_id_t *a, const file_id_t *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
         a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* A strong validator: any write moves the mtime (to the nanosecond on current file systems), and a
 * file replaced by rename has a new inode. */
static void make_etag(const file_id_t *id, char *out, size_t cap) {
  uint64_t ns = (uint64_t)id->mtim.tv_sec * 1000000000u + (uint64_t)id->mtim.tv_nsec;
  uint64_t size = (uint64_t)id->size, ino = (uint64_t)id->ino;
  int n = snprintf(out, cap, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", ns, size, ino);
  if (n < 0 || (size_t)n >= cap) {
    /* Only absurd values get here; fold the inode into the time so that it still fits. */
    uint64_t mix = ns ^ (ino * 0x9e3779b97f4a7c15ULL);
    snprintf(out, cap, "\"%" PRIx64 "-%" PRIx64 "\"", mix, size);
  }
}

/* ---- Public ---------------------------------------------------------------------------------- */

int tc_http_static_new(const char *root, tc_http_static_t **out) {
  *out = NULL;
  tc_http_static_t *st = calloc(1, sizeof *st);
  if (!st) return TC_ENOMEM;
  st->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (st->root_fd < 0) {
    free(st);
    return errno == ENOMEM ? TC_ENOMEM : TC_ENOENT;
  }
  st->root_real = realpath(root, NULL);
  if (!st->root_real) {
    int err = errno == ENOMEM ? TC_ENOMEM : TC_ENOENT;
    tc_http_static_free(st);
    return err;
  }
  st->nbuckets = TC_STATIC_MIN_BUCKETS;
  st->buckets = calloc(st->nbuckets, sizeof *st->buckets);
  if (!st->buckets) {
    tc_http_static_free(st);
    return TC_ENOMEM;
  }
  st->root_real_len = strlen(st->root_real);
#ifdef TC_HTTP_STATIC_NO_OPENAT2
  st->beneath = 0; /* lets the tests exercise the fallback on kernels that have openat2 */
#else
  /* Probe once: a seccomp filter may refuse openat2 with EPERM rather than ENOSYS. */
  long fd = try_openat2(st->root_fd, ".", O_PATH | O_CLOEXEC);
  st->beneath = fd >= 0;
  if (fd >= 0) close((int)fd);
#endif
  *out = st;
  return 0;
}

void tc_http_static_free(tc_http_static_t *st) {
  if (!st) return;
  while (st->mru) cache_remove(st, st->mru);
  free(st->buckets);
  free(st->root_real);
  if (st->root_fd >= 0) close(st->root_fd);
  free(st);
}

int tc_http_static_lookup(tc_http_static_t *st, tc_slice_t raw_path, uint64_t now_ms,
                          tc_http_file_t *out) {
  out->status = 400;
  out->fd = -1;
  out->body = NULL;
  out->size = 0;
  out->mtime = 0;
  out->mime = NULL;
  out->etag[0] = out->last_modified[0] = out->location[0] = '\0';

  /* Room for the longest raw path that can decode to the limit, plus "index.html". */
  char path[3 * TC_STATIC_MAX_PATH + sizeof TC_STATIC_INDEX];
  if (raw_path.len == 0 || raw_path.p[0] != '/' || raw_path.len > 3 * TC_STATIC_MAX_PATH) return 0;
  ssize_t dn = tc_http_path_decode(raw_path, path);
  if (dn < 0 || dn > TC_STATIC_MAX_PATH) return 0;
  size_t n = (size_t)dn;
  int bad = check_segments(path, n);
  if (bad) {
    out->status = bad;
    return 0;
  }

  uint64_t h = hash_key(path, n);
  entry_t *e = cache_find(st, h, path, n);
  if (e && now_ms >= e->checked_ms && now_ms - e->checked_ms < TC_STATIC_RECHECK_MS) {
    cache_touch(st, e);
    fill_from_entry(e, out);
    return 0;
  }

  int fd = -1;
  struct stat sb;
  int rc = open_target(st, path, n, raw_path, out, &fd, &sb);
  if (rc < 0) return rc;
  if (out->status != 200) {
    if (e) cache_remove(st, e);
    return 0;
  }
  file_id_t id = file_id_of(&sb);
  if (e && file_id_eq(&e->id, &id)) {
    close(fd);
    e->checked_ms = now_ms;
    cache_touch(st, e);
    fill_from_entry(e, out);
    return 0;
  }
  if (e) cache_remove(st, e);

  out->size = (uint64_t)sb.st_size;
  out->mtime = sb.st_mtim.tv_sec;
  out->mime = tc_http_mime_type(path[n - 1] == '/' ? TC_STATIC_INDEX : path);
  make_etag(&id, out->etag, sizeof out->etag);
  tc_http_date_format(out->mtime, out->last_modified);

  if (sb.st_size <= TC_STATIC_SMALL_FILE) {
    int oom = 0;
    e = cache_store(st, path, n, h, fd, &id, out, now_ms, &oom);
    if (e || oom) close(fd);
    if (oom) {
      out->status = 404;
      return TC_ENOMEM;
    }
    if (e) {
      fill_from_entry(e, out);
      return 0;
    }
  }
  /* Served by sendfile or reads that should block like any regular file read. */
  if (fcntl(fd, F_SETFL, 0) != 0) {
    close(fd);
    return TC_ESYS;
  }
  out->fd = fd;
  return 0;
}

/* Weak comparison (RFC 9110 section 8.8.3.2) of each entity-tag in an If-None-Match list with
 * ours. A malformed list matches nothing, which only costs a full answer. */
static int etag_list_matches(tc_slice_t v, const char *etag) {
  size_t elen = strlen(etag), i = 0;
  v = tc_slice_trim(v);
  const uint8_t *p = v.p;
  if (v.len == 1 && p[0] == '*') return 1;
  while (i < v.len) {
    while (i < v.len && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) i++;
    if (i == v.len) break;
    if (v.len - i >= 2 && p[i] == 'W' && p[i + 1] == '/') i += 2;
    if (i == v.len || p[i] != '"') return 0;
    size_t start = i++;
    while (i < v.len && p[i] != '"') i++;
    if (i == v.len) return 0;
    i++;
    if (i - start == elen && memcmp(p + start, etag, elen) == 0) return 1;
    while (i < v.len && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i < v.len && p[i] != ',') return 0;
  }
  return 0;
}

int tc_http_static_not_modified(const tc_http_file_t *f, const tc_http_request_t *req) {
  if (f->status != 200 || f->etag[0] == '\0') return 0;
  /* Other methods that fail If-None-Match get 412, which static files never answer. */
  if (req->method.len && !tc_slice_eq(req->method, "GET") && !tc_slice_eq(req->method, "HEAD"))
    return 0;
  int has_inm = 0, ims_count = 0;
  tc_slice_t ims = {NULL, 0};
  for (size_t i = 0; i < req->num_headers; i++) {
    const tc_http_header_t *hd = &req->headers[i];
    if (tc_slice_ieq(hd->name, "If-None-Match")) {
      has_inm = 1;
      if (etag_list_matches(hd->value, f->etag)) return 1;
    } else if (tc_slice_ieq(hd->name, "If-Modified-Since")) {
      ims = hd->value;
      ims_count++;
    }
  }
  /* RFC 9110 section 13.2.2: If-None-Match decides alone when present; If-Modified-Since is
   * ignored unless it holds exactly one valid date. */
  if (has_inm || ims_count != 1) return 0;
  time_t since;
  if (tc_http_date_parse(ims, &since) != 0) return 0;
  return f->mtime <= since;
}
