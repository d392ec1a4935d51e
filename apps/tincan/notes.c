/* The learning notes at /notes/: Markdown rendered with cmark, kept until its file changes.
 *
 * The notes are part of the repository, so raw HTML in them (inline SVG diagrams) is trusted and
 * passed through. A request only ever chooses a file by a name made of [a-z0-9-], so no path can
 * leave the folder, and only files that exist are ever cached. */
#include "notes.h"

#include <cmark.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOTES_PREFIX "/notes/"
#define NOTE_NAME_MAX 64
/* A note is a ten-minute read: a megabyte is far beyond any of them. */
#define NOTE_FILE_MAX ((size_t)1 << 20)
/* More files than the folder will ever hold: past it, pages are rendered but not kept. */
#define NOTES_CACHE_MAX 256
/* The index page is the folder's README, which repository browsers show for the folder too. */
#define INDEX_NAME "README"
#define CMARK_OPTS (CMARK_OPT_UNSAFE | CMARK_OPT_VALIDATE_UTF8)

typedef struct note {
  char name[NOTE_NAME_MAX + 1];
  /* The file the rendering was made from; any change renders it again. */
  int64_t mtime_ns;
  uint64_t size, ino, dev;
  char *title;   /* the first level-1 heading as plain text; NULL when there is none */
  tc_buf_t body; /* HTML */
  char **order;  /* the index only: the notes it links to, in order */
  size_t norder;
} note_t;

typedef struct notes {
  char *dir;
  const tc_logger_t *log;
  note_t **notes; /* pointers, so that a note stays put while the array grows */
  size_t n, cap;
} notes_t;

/* ---- names and text ------------------------------------------------------------------------ */

static int name_ok(const uint8_t *p, size_t len) {
  if (len == 0 || len > NOTE_NAME_MAX) return 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}

static int html_escape(tc_buf_t *b, const char *s, size_t len) {
  int r = 0;
  for (size_t i = 0; i < len && !r; i++) {
    switch (s[i]) {
      case '&':
        r = tc_buf_append_str(b, "&amp;");
        break;
      case '<':
        r = tc_buf_append_str(b, "&lt;");
        break;
      case '>':
        r = tc_buf_append_str(b, "&gt;");
        break;
      case '"':
        r = tc_buf_append_str(b, "&quot;");
        break;
      case '\'':
        r = tc_buf_append_str(b, "&#39;");
        break;
      default:
        r = tc_buf_append(b, s + i, 1);
    }
  }
  return r;
}

static char *dup_n(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (!d) return NULL;
  if (len) memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* The plain text of an inline subtree (a heading): text and code spans, breaks as spaces. */
static int node_text(cmark_node *root, tc_buf_t *out) {
  cmark_iter *it = cmark_iter_new(root);
  if (!it) return TC_ENOMEM;
  int r = 0;
  cmark_event_type ev;
  while (!r && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node *n = cmark_iter_get_node(it);
    cmark_node_type t = cmark_node_get_type(n);
    if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE) {
      const char *lit = cmark_node_get_literal(n);
      if (lit) r = tc_buf_append_str(out, lit);
    } else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK) {
      r = tc_buf_append(out, " ", 1);
    }
  }
  cmark_iter_free(it);
  return r;
}

/* How many entries of a '\n'-terminated list equal p[0..len). */
static size_t list_count(const tc_buf_t *list, const uint8_t *p, size_t len) {
  size_t n = 0;
  const uint8_t *s = tc_buf_data(list), *end = s ? s + list->len : s;
  while (s && s < end) {
    const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
    if ((size_t)(nl - s) == len && memcmp(s, p, len) == 0) n++;
    s = nl + 1;
  }
  return n;
}

static int list_add(tc_buf_t *list, const uint8_t *p, size_t len) {
  int r = tc_buf_append(list, p, len);
  return r ? r : tc_buf_append(list, "\n", 1);
}

/* A heading's id, as repository browsers make them, so that "#the-frame" links work in both:
 * lower case, spaces to dashes, punctuation dropped; the n-th repeat of an id gets "-n". bases
 * and ids list what earlier headings produced, so a page of thousands of headings stays fast. */
static int heading_id(const tc_buf_t *text, tc_buf_t *bases, tc_buf_t *ids, tc_buf_t *out) {
  const uint8_t *p = tc_buf_data(text);
  int r = 0;
  for (size_t i = 0; i < text->len && !r; i++) {
    uint8_t c = p[i];
    if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
    if (c == ' ') c = '-';
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80)
      r = tc_buf_append(out, &c, 1);
  }
  /* A heading of punctuation only still needs an id that is not empty. */
  if (!r && out->len == 0) r = tc_buf_append_str(out, "section");
  if (r) return r;
  size_t base = out->len;
  size_t k = list_count(bases, tc_buf_data(out), base);
  if ((r = list_add(bases, tc_buf_data(out), base))) return r;
  /* A suffix can still collide with a heading that really is called "x-1": count on. */
  while (k || list_count(ids, tc_buf_data(out), out->len)) {
    out->len = base;
    if ((r = tc_buf_appendf(out, "-%zu", k ? k : 1))) return r;
    if (!list_count(ids, tc_buf_data(out), out->len)) break;
    k++;
  }
  return list_add(ids, tc_buf_data(out), out->len);
}

/* ---- rendering ----------------------------------------------------------------------------- */

/* A relative link to "X.md" (with an optional "#fragment") becomes a link to the page "X"
 * ("README.md" to the index, "./"). Returns the new URL (malloc'd) and, when the target is a
 * note, its name in *target (malloc'd); NULL for links left alone. */
static char *rewrite_url(const char *url, char **target) {
  *target = NULL;
  if (!url || !*url || url[0] == '/' || url[0] == '#' || strchr(url, ':')) return NULL;
  const char *hash = strchr(url, '#');
  size_t plen = hash ? (size_t)(hash - url) : strlen(url);
  if (plen < 4 || memcmp(url + plen - 3, ".md", 3) != 0) return NULL;
  size_t nlen = plen - 3;
  const char *frag = hash ? hash : "";
  int index = nlen == sizeof INDEX_NAME - 1 && memcmp(url, INDEX_NAME, nlen) == 0;
  if (!index && !name_ok((const uint8_t *)url, nlen)) return NULL;
  size_t flen = strlen(frag);
  char *out = malloc(nlen + flen + 3);
  if (!out) return NULL;
  if (index) {
    memcpy(out, "./", 2);
    memcpy(out + 2, frag, flen + 1);
  } else {
    memcpy(out, url, nlen);
    memcpy(out + nlen, frag, flen + 1);
    if (!(*target = dup_n(url, nlen))) {
      free(out);
      return NULL;
    }
  }
  return out;
}

/* Remembers a note the index links to, once, in the order of first mention. */
static int order_add(note_t *n, char *name) {
  for (size_t i = 0; i < n->norder; i++) {
    if (strcmp(n->order[i], name) == 0) {
      free(name);
      return 0;
    }
  }
  char **o = realloc(n->order, (n->norder + 1) * sizeof *o);
  if (!o) {
    free(name);
    return TC_ENOMEM;
  }
  n->order = o;
  n->order[n->norder++] = name;
  return 0;
}

/* Pass one over the tree: links are rewritten, headings collected. */
static int scan_tree(note_t *n, cmark_node *doc, cmark_node ***heads, size_t *nheads) {
  cmark_iter *it = cmark_iter_new(doc);
  if (!it) return TC_ENOMEM;
  int r = 0;
  size_t cap = 0;
  int is_index = strcmp(n->name, INDEX_NAME) == 0;
  cmark_event_type ev;
  while (!r && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node *node = cmark_iter_get_node(it);
    cmark_node_type t = cmark_node_get_type(node);
    if (t == CMARK_NODE_LINK) {
      char *target;
      char *url = rewrite_url(cmark_node_get_url(node), &target);
      if (url && !cmark_node_set_url(node, url)) r = TC_ENOMEM;
      free(url);
      if (!r && target && is_index)
        r = order_add(n, target);
      else
        free(target);
    } else if (t == CMARK_NODE_HEADING) {
      if (*nheads == cap) {
        cap = cap ? cap * 2 : 16;
        cmark_node **h = realloc(*heads, cap * sizeof *h);
        if (!h) {
          r = TC_ENOMEM;
          break;
        }
        *heads = h;
      }
      (*heads)[(*nheads)++] = node;
    }
  }
  cmark_iter_free(it);
  return r;
}

/* Pass two: each heading becomes a block that writes it with its id, and the first level-1
 * heading gives the page its title. */
static int give_ids(note_t *n, cmark_node **heads, size_t nheads) {
  tc_buf_t text = {0}, id = {0}, bases = {0}, ids = {0}, tag = {0};
  int r = 0;
  for (size_t i = 0; i < nheads && !r; i++) {
    cmark_node *h = heads[i];
    int level = cmark_node_get_heading_level(h);
    text.len = id.len = tag.len = 0;
    r = node_text(h, &text);
    if (!r) r = heading_id(&text, &bases, &ids, &id);
    if (!r && level == 1 && !n->title) {
      tc_slice_t t = tc_slice_trim((tc_slice_t){tc_buf_data(&text), text.len});
      if (!(n->title = dup_n((const char *)t.p, t.len))) r = TC_ENOMEM;
    }
    if (!r) r = tc_buf_appendf(&tag, "<h%d id=\"", level);
    if (!r) r = html_escape(&tag, (const char *)tc_buf_data(&id), id.len);
    if (!r) r = tc_buf_append(&tag, "\">", 3); /* with its NUL, for cmark */
    if (r) break;
    char close[8];
    snprintf(close, sizeof close, "</h%d>", level);
    cmark_node *blk = cmark_node_new(CMARK_NODE_CUSTOM_BLOCK);
    if (!blk || !cmark_node_set_on_enter(blk, (const char *)tc_buf_data(&tag)) ||
        !cmark_node_set_on_exit(blk, close) || !cmark_node_insert_before(h, blk)) {
      if (blk) cmark_node_free(blk);
      r = TC_ENOMEM;
      break;
    }
    cmark_node *child;
    while ((child = cmark_node_first_child(h)) && cmark_node_append_child(blk, child)) {
    }
    cmark_node_free(h);
  }
  tc_buf_free(&text);
  tc_buf_free(&id);
  tc_buf_free(&bases);
  tc_buf_free(&ids);
  tc_buf_free(&tag);
  return r;
}

static void note_clear(note_t *n) {
  free(n->title);
  n->title = NULL;
  tc_buf_free(&n->body);
  for (size_t i = 0; i < n->norder; i++) free(n->order[i]);
  free(n->order);
  n->order = NULL;
  n->norder = 0;
}

static int note_render(note_t *n, const char *text, size_t len) {
  note_clear(n);
  cmark_node *doc = cmark_parse_document(text, len, CMARK_OPTS);
  if (!doc) return TC_ENOMEM;
  cmark_node **heads = NULL;
  size_t nheads = 0;
  int r = scan_tree(n, doc, &heads, &nheads);
  if (!r) r = give_ids(n, heads, nheads);
  free(heads);
  char *html = r ? NULL : cmark_render_html(doc, CMARK_OPTS);
  cmark_node_free(doc);
  if (!r && !html) r = TC_ENOMEM;
  if (!r) r = tc_buf_append_str(&n->body, html);
  free(html);
  if (r) note_clear(n);
  return r;
}

/* ---- the cache ----------------------------------------------------------------------------- */

static note_t *note_find(notes_t *nt, const char *name) {
  for (size_t i = 0; i < nt->n; i++)
    if (strcmp(nt->notes[i]->name, name) == 0) return nt->notes[i];
  return NULL;
}

static void note_free(note_t *n) {
  if (!n) return;
  note_clear(n);
  free(n);
}

/* A cache entry for name: the existing one, a new one kept in the cache, or (cache full) a new
 * one that *temp says the caller must free. */
static note_t *note_slot(notes_t *nt, const char *name, int *temp) {
  *temp = 0;
  note_t *n = note_find(nt, name);
  if (n) return n;
  if (!(n = calloc(1, sizeof *n))) return NULL;
  memcpy(n->name, name, strlen(name) + 1);
  n->mtime_ns = -1;
  if (nt->n >= NOTES_CACHE_MAX) {
    *temp = 1;
    return n;
  }
  if (nt->n == nt->cap) {
    size_t cap = nt->cap ? nt->cap * 2 : 16;
    note_t **a = realloc(nt->notes, cap * sizeof *a);
    if (!a) {
      free(n);
      return NULL;
    }
    nt->notes = a;
    nt->cap = cap;
  }
  nt->notes[nt->n++] = n;
  return n;
}

static int read_all(int fd, size_t size, char **out) {
  char *buf = malloc(size + 1);
  if (!buf) return TC_ENOMEM;
  size_t got = 0;
  while (got < size) {
    ssize_t k = read(fd, buf + got, size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  if (got != size) {
    free(buf);
    return TC_EIO;
  }
  buf[size] = '\0';
  *out = buf;
  return 0;
}

/* Finds the note, rendering it when it is new or its file changed. *temp as for note_slot.
 * TC_ENOENT when there is no such note, TC_E2BIG, TC_EIO, TC_ENOMEM. */
static int note_get(notes_t *nt, const char *name, note_t **out, int *temp) {
  char path[PATH_MAX];
  int len = snprintf(path, sizeof path, "%s/%s.md", nt->dir, name);
  if (len < 0 || (size_t)len >= sizeof path) return TC_ENOENT;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT || errno == ELOOP ? TC_ENOENT : TC_EIO;
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    r = TC_ENOENT;
  else if ((uint64_t)st.st_size > NOTE_FILE_MAX)
    r = TC_E2BIG;
  note_t *n = r ? NULL : note_slot(nt, name, temp);
  if (!r && !n) r = TC_ENOMEM;
  int64_t mtime = r ? 0 : (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  if (!r && (n->mtime_ns != mtime || n->size != (uint64_t)st.st_size ||
             n->ino != (uint64_t)st.st_ino || n->dev != (uint64_t)st.st_dev)) {
    char *text = NULL;
    r = read_all(fd, (size_t)st.st_size, &text);
    if (!r) r = note_render(n, text, (size_t)st.st_size);
    free(text);
    /* A failed rendering is not kept: the next request tries again. */
    n->mtime_ns = r ? -1 : mtime;
    n->size = (uint64_t)st.st_size;
    n->ino = (uint64_t)st.st_ino;
    n->dev = (uint64_t)st.st_dev;
  }
  close(fd);
  if (r && n && *temp) note_free(n);
  if (!r) *out = n;
  return r;
}

/* ---- pages --------------------------------------------------------------------------------- */

static int put_title(tc_buf_t *b, const note_t *n) {
  const char *t = n->title ? n->title : n->name;
  return html_escape(b, t, strlen(t));
}

/* "Previous" and "next" along the index's order. A note the index does not list gets none. */
static int put_pager(notes_t *nt, const note_t *n, tc_buf_t *b) {
  if (strcmp(n->name, INDEX_NAME) == 0) return 0;
  note_t *idx;
  int temp;
  if (note_get(nt, INDEX_NAME, &idx, &temp) < 0) return 0;
  int r = 0;
  for (size_t i = 0; i < idx->norder && !r; i++) {
    if (strcmp(idx->order[i], n->name) != 0) continue;
    r = tc_buf_append_str(b, "<nav class=\"pager\" aria-label=\"Notes\">\n");
    const char *side[2] = {i > 0 ? idx->order[i - 1] : NULL,
                           i + 1 < idx->norder ? idx->order[i + 1] : NULL};
    static const char *const label[2] = {"prev", "next"};
    static const char *const word[2] = {"Previous", "Next"};
    for (int k = 0; k < 2 && !r; k++) {
      note_t *o;
      int otemp;
      if (!side[k] || note_get(nt, side[k], &o, &otemp) < 0) continue;
      r = tc_buf_appendf(b, "<a class=\"%s\" rel=\"%s\" href=\"%s\"><span>%s</span> ", label[k],
                         label[k], o->name, word[k]);
      if (!r) r = put_title(b, o);
      if (!r) r = tc_buf_append_str(b, "</a>\n");
      if (otemp) note_free(o);
    }
    if (!r) r = tc_buf_append_str(b, "<a class=\"all\" href=\"./\">All notes</a>\n</nav>\n");
    break;
  }
  if (temp) note_free(idx);
  return r;
}

static int page_build(notes_t *nt, const note_t *n, tc_buf_t *b) {
  int index = strcmp(n->name, INDEX_NAME) == 0;
  int r =
      tc_buf_append_str(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                           "<meta name=\"viewport\" content=\"width=device-width, "
                           "initial-scale=1\">\n<title>");
  if (!r) r = put_title(b, n);
  if (!r) r = tc_buf_append_str(b, index ? " · tincan" : " · tincan notes");
  if (!r)
    r = tc_buf_append_str(b, "</title>\n<link rel=\"icon\" href=\"data:,\">\n"
                             "<link rel=\"stylesheet\" href=\"../style.css\">\n"
                             "<link rel=\"stylesheet\" href=\"../notes.css\">\n</head>\n"
                             "<body class=\"notes\">\n<header>\n<nav class=\"crumbs\">"
                             "<a href=\"../\">tincan</a>");
  if (!r && !index) r = tc_buf_append_str(b, " / <a href=\"./\">notes</a>");
  if (!r) r = tc_buf_append_str(b, "</nav>\n</header>\n<main>\n<article>\n");
  if (!r) r = tc_buf_append(b, tc_buf_data(&n->body), n->body.len);
  if (!r) r = tc_buf_append_str(b, "</article>\n");
  if (!r) r = put_pager(nt, n, b);
  if (!r)
    r = tc_buf_appendf(b,
                       "</main>\n<footer>\nThis page is <code>docs/notes/%s.md</code>, rendered "
                       "from Markdown by tincan with cmark (<code>apps/tincan/notes.c</code>).\n"
                       "</footer>\n</body>\n</html>\n",
                       n->name);
  return r;
}

/* FNV-1a: the validator only has to change when the page does. */
static void page_etag(const tc_buf_t *b, char out[24]) {
  uint64_t h = 14695981039346656037ull;
  const uint8_t *p = tc_buf_data(b);
  for (size_t i = 0; i < b->len; i++) h = (h ^ p[i]) * 1099511628211ull;
  snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

static int serve_note(tc_http_exchange_t *x, notes_t *nt, const char *name) {
  note_t *n;
  int temp;
  int r = note_get(nt, name, &n, &temp);
  if (r == TC_ENOENT) return tc_http_respond_error(x, 404, 0);
  if (r < 0) {
    tc_log(nt->log, TC_LOG_ERROR, "notes", "%s.md: %s", name, tc_strerror(r));
    return tc_http_respond_error(x, 500, 0);
  }
  tc_buf_t page = {0};
  r = page_build(nt, n, &page);
  if (temp) note_free(n);
  if (r) {
    tc_buf_free(&page);
    return tc_http_respond_error(x, 500, 0);
  }
  char etag[24];
  page_etag(&page, etag);
  const tc_http_request_t *req = tc_http_request(x);
  const tc_http_header_t *inm = tc_http_header_get(req->headers, req->num_headers, "if-none-match");
  tc_http_add_header(x, "ETag", etag);
  tc_http_add_header(x, "Cache-Control", "no-cache");
  if (inm && tc_http_token_list_has(inm->value, etag))
    r = tc_http_respond(x, 304, NULL, NULL, 0);
  else
    r = tc_http_respond(x, 200, "text/html; charset=utf-8", tc_buf_data(&page), page.len);
  tc_buf_free(&page);
  return r;
}

static int redirect(tc_http_exchange_t *x, const char *to, size_t len) {
  tc_http_add_header_slice(x, "Location", (tc_slice_t){(const uint8_t *)to, len});
  return tc_http_respond_error(x, 301, 0);
}

static int on_notes(tc_http_exchange_t *x, void *ud) {
  notes_t *nt = ud;
  const tc_http_request_t *req = tc_http_request(x);
  if (!tc_slice_eq(req->method, "GET") && !tc_slice_eq(req->method, "HEAD")) {
    tc_http_add_header(x, "Allow", "GET, HEAD");
    return tc_http_respond_error(x, 405, 0);
  }
  tc_slice_t path = req->path;
  if (path.len == sizeof NOTES_PREFIX - 2)
    return redirect(x, NOTES_PREFIX, sizeof NOTES_PREFIX - 1);
  /* The route matched the prefix, so the path starts with it. */
  const uint8_t *rest = path.p + (sizeof NOTES_PREFIX - 1);
  size_t len = path.len - (sizeof NOTES_PREFIX - 1);
  if (len == 0) return serve_note(x, nt, INDEX_NAME);
  /* "/notes/x.md", as a link copied from the repository would have it: the page is "x". */
  if (len > 3 && memcmp(rest + len - 3, ".md", 3) == 0 && name_ok(rest, len - 3))
    return redirect(x, (const char *)path.p, path.len - 3);
  if (!name_ok(rest, len)) return tc_http_respond_error(x, 404, 0);
  char name[NOTE_NAME_MAX + 1];
  memcpy(name, rest, len);
  name[len] = '\0';
  return serve_note(x, nt, name);
}

static void notes_free(void *ud) {
  notes_t *nt = ud;
  for (size_t i = 0; i < nt->n; i++) note_free(nt->notes[i]);
  free(nt->notes);
  free(nt->dir);
  free(nt);
}

int tc_notes_route(tc_http_server_t *srv, const char *dir, const tc_logger_t *log) {
  char real[PATH_MAX];
  struct stat st;
  if (!realpath(dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) return TC_ENOENT;
  notes_t *nt = calloc(1, sizeof *nt);
  if (!nt || !(nt->dir = strdup(real))) {
    free(nt);
    return TC_ENOMEM;
  }
  nt->log = log;
  int r = tc_http_server_on_free(srv, notes_free, nt);
  if (r) {
    notes_free(nt);
    return r;
  }
  /* From here the server owns nt. "/notes" without its slash is sent to "/notes/". */
  r = tc_http_server_route(srv, NOTES_PREFIX, 1, on_notes, nt);
  if (!r) r = tc_http_server_route(srv, "/notes", 0, on_notes, nt);
  return r;
}
