#include "tincan/http.h"
#include "tc_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_base[64]; /* the mkdtemp folder; the served root is g_base/root */
static char g_root[96];

static void put_file(const char *rel, const void *data, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_base, rel);
  FILE *f = fopen(path, "wb");
  TC_CHECK(f != NULL);
  if (!f) return;
  TC_CHECK(fwrite(data, 1, len, f) == len);
  fclose(f);
}

static void put_str(const char *rel, const char *s) {
  put_file(rel, s, strlen(s));
}

static void make_dir(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_base, rel);
  TC_CHECK(mkdir(path, 0755) == 0);
}

static void make_link(const char *target, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_base, rel);
  TC_CHECK(symlink(target, path) == 0);
}

static void build_tree(void) {
  strcpy(g_base, "/tmp/tc_static_XXXXXX");
  TC_CHECK(mkdtemp(g_base) != NULL);
  snprintf(g_root, sizeof g_root, "%s/root", g_base);
  make_dir("root");
  make_dir("outside");
  put_str("outside/secret.txt", "SECRET");
  put_str("root/index.html", "<h1>root</h1>");
  put_str("root/a.txt", "hello");
  put_str("root/style.css", "body{}");
  put_str("root/with space.txt", "spaced");
  make_dir("root/sub");
  put_str("root/sub/index.html", "<h1>sub</h1>");
  put_str("root/sub/b.js", "let b;");
  make_dir("root/empty");
  make_dir("root/index_is_dir");
  make_dir("root/index_is_dir/index.html");
  put_str("root/.secret", "hidden");
  make_dir("root/.git");
  put_str("root/.git/config", "hidden");
  make_link("a.txt", "root/link_in");
  make_link("sub", "root/link_dir_in");
  make_link("../outside/secret.txt", "root/link_out");
  make_link("../outside", "root/link_dir_out");
  char abs[256];
  snprintf(abs, sizeof abs, "%s/outside/secret.txt", g_base);
  make_link(abs, "root/link_abs_out");
  make_link("/proc/self/root/etc/passwd", "root/link_magic");
  char fifo[256];
  snprintf(fifo, sizeof fifo, "%s/root/fifo", g_base);
  TC_CHECK(mkfifo(fifo, 0644) == 0);
  static uint8_t big[100 * 1024];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  put_file("root/big.bin", big, sizeof big);
  put_str("root/locked.txt", "no");
  char locked[256];
  snprintf(locked, sizeof locked, "%s/root/locked.txt", g_base);
  TC_CHECK(chmod(locked, 0) == 0);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(void) {
  TC_CHECK(nftw(g_base, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static tc_http_file_t look(tc_http_static_t *st, const char *path, uint64_t now_ms) {
  tc_http_file_t f;
  memset(&f, 0xAA, sizeof f);
  int rc = tc_http_static_lookup(st, tc_slice_str(path), now_ms, &f);
  TC_CHECK_EQ_INT(rc, 0);
  return f;
}

static int status_of(tc_http_static_t *st, const char *path) {
  tc_http_file_t f = look(st, path, 0);
  if (f.fd >= 0) close(f.fd);
  if (f.status != 200) TC_CHECK(f.fd == -1 && f.body == NULL);
  return f.status;
}

static int body_is(const tc_http_file_t *f, const char *s) {
  return f->status == 200 && f->body && f->size == strlen(s) && memcmp(f->body, s, f->size) == 0;
}

static void test_new(void) {
  tc_http_static_t *st = (tc_http_static_t *)1;
  TC_CHECK_EQ_INT(tc_http_static_new("/nonexistent/tc/root", &st), TC_ENOENT);
  TC_CHECK(st == NULL);
  char file[256];
  snprintf(file, sizeof file, "%s/a.txt", g_root);
  TC_CHECK_EQ_INT(tc_http_static_new(file, &st), TC_ENOENT);
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);
  tc_http_static_free(st);
  tc_http_static_free(NULL);
}

static void test_serve(void) {
  tc_http_static_t *st;
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);

  tc_http_file_t f = look(st, "/a.txt", 0);
  TC_CHECK(body_is(&f, "hello"));
  TC_CHECK_EQ_INT(f.fd, -1);
  TC_CHECK(strcmp(f.mime, "text/plain; charset=utf-8") == 0);
  size_t el = strlen(f.etag);
  TC_CHECK(el > 4 && f.etag[0] == '"' && f.etag[el - 1] == '"' && strchr(f.etag, '-'));
  struct stat sb;
  char path[256];
  snprintf(path, sizeof path, "%s/a.txt", g_root);
  TC_CHECK(stat(path, &sb) == 0);
  TC_CHECK_EQ_INT(f.mtime, sb.st_mtim.tv_sec);
  time_t lm;
  TC_CHECK_EQ_INT(tc_http_date_parse(tc_slice_str(f.last_modified), &lm), 0);
  TC_CHECK_EQ_INT(lm, f.mtime);
  char etag[48];
  memcpy(etag, f.etag, sizeof etag);

  f = look(st, "/%61.txt", 0); /* the same file, cached under its decoded name */
  TC_CHECK(body_is(&f, "hello") && strcmp(f.etag, etag) == 0);

  f = look(st, "/", 0);
  TC_CHECK(body_is(&f, "<h1>root</h1>"));
  TC_CHECK(strcmp(f.mime, "text/html; charset=utf-8") == 0);
  f = look(st, "/sub/", 0);
  TC_CHECK(body_is(&f, "<h1>sub</h1>"));
  TC_CHECK(strcmp(f.mime, "text/html; charset=utf-8") == 0);
  f = look(st, "/sub/b.js", 0);
  TC_CHECK(body_is(&f, "let b;"));
  TC_CHECK(strcmp(f.mime, "text/javascript; charset=utf-8") == 0);
  f = look(st, "/style.css", 0);
  TC_CHECK(strcmp(f.mime, "text/css; charset=utf-8") == 0);
  f = look(st, "/with%20space.txt", 0);
  TC_CHECK(body_is(&f, "spaced"));

  /* Folders without their slash redirect, with the path as it was sent. */
  f = look(st, "/sub", 0);
  TC_CHECK_EQ_INT(f.status, 301);
  TC_CHECK(strcmp(f.location, "/sub/") == 0);
  TC_CHECK(f.fd == -1 && f.body == NULL);
  f = look(st, "/s%75b", 0);
  TC_CHECK_EQ_INT(f.status, 301);
  TC_CHECK(strcmp(f.location, "/s%75b/") == 0);
  f = look(st, "/empty", 0);
  TC_CHECK_EQ_INT(f.status, 301);
  TC_CHECK_EQ_INT(status_of(st, "/empty/"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/index_is_dir/"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/a.txt/"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/nope"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/nope/"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/sub/nope.js"), 404);

  /* Large files come as a descriptor that reads like any blocking file. */
  f = look(st, "/big.bin", 0);
  TC_CHECK_EQ_INT(f.status, 200);
  TC_CHECK(f.body == NULL && f.fd >= 0);
  TC_CHECK_EQ_INT(f.size, 100 * 1024);
  TC_CHECK(strcmp(f.mime, "application/octet-stream") == 0);
  if (f.fd >= 0) {
    uint8_t b[16];
    TC_CHECK_EQ_INT(pread(f.fd, b, sizeof b, 1000), 16);
    TC_CHECK_EQ_INT(b[3], (uint8_t)(1003 * 7));
    TC_CHECK_EQ_INT(fcntl(f.fd, F_GETFL) & O_NONBLOCK, 0);
    TC_CHECK(fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
    close(f.fd);
  }
  tc_http_static_free(st);
}

static void test_refused(void) {
  tc_http_static_t *st;
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);
  static const char *const bad[] = {
      "",
      "a.txt",
      "%2fa.txt",
      "/../outside/secret.txt",
      "/%2e%2e/outside/secret.txt",
      "/%2E%2E/outside/secret.txt",
      "/%2E./outside/secret.txt",
      "/.%2e/outside/secret.txt",
      "/..%2Foutside%2Fsecret.txt",
      "/sub/../a.txt",
      "/sub/%2e%2e/a.txt",
      "/sub/..",
      "/..",
      "/./a.txt",
      "/sub/.",
      "/a%00.txt",
      "/a.txt%00",
      "/a%zz",
      "/a%2",
      "/a%",
      "//a.txt",
      "/sub//b.js",
      "/%2Fsub/",
      "/.git/../a.txt",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int s = status_of(st, bad[i]);
    if (s != 400) fprintf(stderr, "%s -> %d\n", bad[i], s);
    TC_CHECK_EQ_INT(s, 400);
  }

  /* Longer than 4 KiB decoded, whether it arrives plain or percent-encoded. */
  static char longp[3 * 4096 + 16];
  longp[0] = '/';
  memset(longp + 1, 'a', 4096);
  longp[4097] = '\0';
  TC_CHECK_EQ_INT(status_of(st, longp), 400);
  longp[4096] = '\0'; /* exactly 4096: allowed, but no such file */
  TC_CHECK_EQ_INT(status_of(st, longp), 404);
  for (size_t i = 0; i < 4095; i++) memcpy(longp + 1 + 3 * i, "%61", 3);
  longp[1 + 3 * 4095] = '\0';
  TC_CHECK_EQ_INT(status_of(st, longp), 404);
  memcpy(longp + 1 + 3 * 4095, "a", 2);
  TC_CHECK_EQ_INT(status_of(st, longp), 400);
  memcpy(longp + 1 + 3 * 4095, "%61", 4);
  TC_CHECK_EQ_INT(status_of(st, longp), 400);

  /* Hidden names. */
  TC_CHECK_EQ_INT(status_of(st, "/.secret"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/%2esecret"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/.git/config"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/.git/"), 404);

  /* Symlinks: inside is fine, anything leading out is not found. */
  tc_http_file_t f = look(st, "/link_in", 0);
  TC_CHECK(body_is(&f, "hello"));
  f = look(st, "/link_dir_in/b.js", 0);
  TC_CHECK(body_is(&f, "let b;"));
  f = look(st, "/link_dir_in/", 0);
  TC_CHECK(body_is(&f, "<h1>sub</h1>"));
  TC_CHECK_EQ_INT(status_of(st, "/link_out"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/link_dir_out/secret.txt"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/link_abs_out"), 404);
  TC_CHECK_EQ_INT(status_of(st, "/link_magic"), 404);

  /* Not regular files: a FIFO must neither be served nor block the lookup. */
  TC_CHECK_EQ_INT(status_of(st, "/fifo"), 404);
  if (geteuid() != 0) TC_CHECK_EQ_INT(status_of(st, "/locked.txt"), 403);
  tc_http_static_free(st);
}

static void test_cache(void) {
  tc_http_static_t *st;
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);
  put_str("root/c.txt", "one");
  tc_http_file_t f = look(st, "/c.txt", 10000);
  TC_CHECK(body_is(&f, "one"));
  char etag1[48];
  memcpy(etag1, f.etag, sizeof etag1);

  /* Within the second the cached copy answers, without looking at the disk. */
  put_str("root/c.txt", "two!");
  f = look(st, "/c.txt", 10999);
  TC_CHECK(body_is(&f, "one"));
  TC_CHECK(strcmp(f.etag, etag1) == 0);
  f = look(st, "/c.txt", 11000);
  TC_CHECK(body_is(&f, "two!"));
  TC_CHECK(strcmp(f.etag, etag1) != 0);
  char etag2[48];
  memcpy(etag2, f.etag, sizeof etag2);

  /* Unchanged on recheck: same answer, and the next second starts from then. */
  f = look(st, "/c.txt", 12500);
  TC_CHECK(body_is(&f, "two!") && strcmp(f.etag, etag2) == 0);
  char path[256];
  snprintf(path, sizeof path, "%s/c.txt", g_root);
  TC_CHECK(unlink(path) == 0);
  f = look(st, "/c.txt", 13400);
  TC_CHECK(body_is(&f, "two!"));
  TC_CHECK_EQ_INT(status_of(st, "/c.txt"), 404); /* now 0: a clock that went back rechecks */
  f = look(st, "/c.txt", 13600);
  TC_CHECK_EQ_INT(f.status, 404);

  /* Grown past the small-file limit: served from a descriptor from then on. */
  put_str("root/c.txt", "small");
  f = look(st, "/c.txt", 20000);
  TC_CHECK(body_is(&f, "small"));
  static uint8_t big[70 * 1024];
  memset(big, 'x', sizeof big);
  put_file("root/c.txt", big, sizeof big);
  f = look(st, "/c.txt", 21000);
  TC_CHECK(f.status == 200 && f.body == NULL && f.fd >= 0 && f.size == sizeof big);
  if (f.fd >= 0) close(f.fd);
  tc_http_static_free(st);
}

static void test_cache_eviction(void) {
  tc_http_static_t *st;
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);
  make_dir("root/many");
  static uint8_t data[60 * 1024];
  char rel[64], url[64];
  enum { N = 300 }; /* 300 x 60 KiB is more than the cache holds */
  for (int i = 0; i < N; i++) {
    memset(data, 'a' + i % 26, sizeof data);
    snprintf(rel, sizeof rel, "root/many/%d.bin", i);
    put_file(rel, data, sizeof data);
  }
  int ok = 1;
  for (int i = 0; i < N; i++) {
    snprintf(url, sizeof url, "/many/%d.bin", i);
    tc_http_file_t f = look(st, url, 50000);
    ok &= f.status == 200 && f.body != NULL && f.size == sizeof data && f.body[0] == 'a' + i % 26;
  }
  TC_CHECK(ok);
  /* The least recently used copy is gone: a change shows at once. The newest stays cached. */
  memset(data, 'Z', sizeof data);
  put_file("root/many/0.bin", data, sizeof data);
  put_file("root/many/299.bin", data, sizeof data);
  tc_http_file_t f = look(st, "/many/0.bin", 50000);
  TC_CHECK(f.status == 200 && f.body && f.body[0] == 'Z');
  f = look(st, "/many/299.bin", 50000);
  TC_CHECK(f.status == 200 && f.body && f.body[0] == 'a' + 299 % 26);
  tc_http_static_free(st);
}

static int not_modified(const tc_http_file_t *f, const char *method, const char *h1, const char *v1,
                        const char *h2, const char *v2) {
  tc_http_header_t hs[2];
  tc_http_request_t req;
  memset(&req, 0, sizeof req);
  req.method = tc_slice_str(method);
  req.headers = hs;
  if (h1) hs[req.num_headers++] = (tc_http_header_t){tc_slice_str(h1), tc_slice_str(v1)};
  if (h2) hs[req.num_headers++] = (tc_http_header_t){tc_slice_str(h2), tc_slice_str(v2)};
  return tc_http_static_not_modified(f, &req);
}

static void test_not_modified(void) {
  tc_http_static_t *st;
  TC_CHECK_EQ_INT(tc_http_static_new(g_root, &st), 0);
  tc_http_file_t f = look(st, "/a.txt", 0);
  TC_CHECK_EQ_INT(f.status, 200);
  const char *inm = "If-None-Match", *ims = "If-Modified-Since";
  char weak[64], list[128], before[32], after[32];
  snprintf(weak, sizeof weak, "W/%s", f.etag);
  snprintf(list, sizeof list, "\"x,y\" ,W/\"zz\",  %s", f.etag);
  tc_http_date_format(f.mtime - 1, before);
  tc_http_date_format(f.mtime + 3600, after);

  TC_CHECK(!not_modified(&f, "GET", NULL, NULL, NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", inm, f.etag, NULL, NULL));
  TC_CHECK(not_modified(&f, "HEAD", "if-none-match", f.etag, NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", inm, weak, NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", inm, list, NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", inm, "*", NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", inm, "\"nope\"", inm, f.etag));
  TC_CHECK(!not_modified(&f, "GET", inm, "\"nope\"", NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", inm, "\"nope\", *", NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", inm, "nope", NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", inm, "\"unterminated", NULL, NULL));
  TC_CHECK(!not_modified(&f, "POST", inm, f.etag, NULL, NULL));
  /* If-None-Match present: If-Modified-Since is not consulted. */
  TC_CHECK(!not_modified(&f, "GET", inm, "\"nope\"", ims, after));
  TC_CHECK(!not_modified(&f, "GET", ims, after, inm, "\"nope\""));

  TC_CHECK(not_modified(&f, "GET", ims, f.last_modified, NULL, NULL));
  TC_CHECK(not_modified(&f, "GET", ims, after, NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", ims, before, NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", ims, "yesterday", NULL, NULL));
  TC_CHECK(!not_modified(&f, "GET", ims, after, ims, after));
  TC_CHECK(!not_modified(&f, "POST", ims, after, NULL, NULL));

  tc_http_file_t missing = look(st, "/nope", 0);
  TC_CHECK(!not_modified(&missing, "GET", inm, "*", NULL, NULL));
  tc_http_static_free(st);
}

int main(void) {
  build_tree();
  TC_RUN(test_new);
  TC_RUN(test_serve);
  TC_RUN(test_refused);
  TC_RUN(test_cache);
  TC_RUN(test_cache_eviction);
  TC_RUN(test_not_modified);
  remove_tree();
  return tc_test_end();
}
