/* Fuzzes percent-decoding, HTTP date parsing, and static-file lookup against a small fixed tree.
 * The lookup must never serve anything from outside its root (the tree holds symlinks that lead
 * out), never answer 200 for a path with a ".." segment, and never produce a redirect that could
 * leave the site. */
#include "tincan/http.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "tc-outside-secret"

static char g_base[64];
static tc_http_static_t *g_st;
static uint64_t g_now_ms;
static struct stat g_secret;

static void put(const char *rel, const char *data) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", g_base, rel);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fputs(data, f);
  fclose(f);
}

static void sub(const char *rel, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_base, rel);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void cleanup(void) {
  tc_http_static_free(g_st);
  g_st = NULL;
  nftw(g_base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char p[256], q[256];
  strcpy(g_base, "/tmp/tc_fuzz_path_XXXXXX");
  if (!mkdtemp(g_base)) abort();
  static const char *const dirs[] = {"root", "outside", "root/sub", "root/empty", "root/.git"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    sub(dirs[i], p, sizeof p);
    if (mkdir(p, 0755) != 0) abort();
  }
  put("outside/secret.txt", SECRET);
  put("root/index.html", "<h1>root</h1>");
  put("root/a.txt", "hello");
  put("root/sub/index.html", "<h1>sub</h1>");
  put("root/sub/b.css", "b{}");
  put("root/.hidden", "hidden");
  put("root/.git/config", "hidden");
  static const char *const links[][2] = {
      {"a.txt", "root/link_in"},
      {"sub", "root/link_dir_in"},
      {"../outside/secret.txt", "root/link_out"},
      {"../outside", "root/link_dir_out"},
      {"../../outside/secret.txt", "root/sub/link_up"},
      {"../a.txt", "root/sub/link_back"},
      {"/proc/self/root/etc/passwd", "root/link_magic"},
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    sub(links[i][1], p, sizeof p);
    if (symlink(links[i][0], p) != 0) abort();
  }
  sub("outside/secret.txt", q, sizeof q);
  sub("root/link_abs", p, sizeof p);
  if (symlink(q, p) != 0 || stat(q, &g_secret) != 0) abort();
  sub("root/fifo", p, sizeof p);
  if (mkfifo(p, 0644) != 0) abort();
  sub("root", p, sizeof p);
  if (tc_http_static_new(p, &g_st) != 0) abort();
  atexit(cleanup);
  return 0;
}

static int has_dot_dot(const char *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    int starts = i == 0 || p[i - 1] == '/';
    int ends = i + 2 == n || (i + 2 < n && p[i + 2] == '/');
    if (starts && ends && p[i] == '.' && p[i + 1] == '.') return 1;
  }
  return 0;
}

static void check_decode(tc_slice_t in) {
  char *out = malloc(in.len + 1);
  if (!out) return;
  ssize_t n = tc_http_path_decode(in, out);
  if (n >= 0 && ((size_t)n > in.len || out[n] != '\0' || strlen(out) != (size_t)n)) abort();
  free(out);
}

static void check_date(tc_slice_t in) {
  time_t t, back;
  if (tc_http_date_parse(in, &t) != 0) return;
  char buf[32];
  if (tc_http_date_format(t, buf) != 29) abort();
  /* Whatever parses lies in the four-digit years, so formatting and parsing again is exact. */
  if (tc_http_date_parse(tc_slice_str(buf), &back) != 0 || back != t) abort();
}

static void check_served(const tc_http_file_t *f) {
  if (f->body) {
    if (f->fd != -1) abort();
    if (f->size == sizeof SECRET - 1 && memcmp(f->body, SECRET, f->size) == 0) abort();
    return;
  }
  struct stat sb;
  if (f->fd < 0 || fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) abort();
  if (sb.st_dev == g_secret.st_dev && sb.st_ino == g_secret.st_ino) abort();
}

static void check_lookup(tc_slice_t in) {
  tc_http_file_t f;
  g_now_ms += 300; /* every few inputs, cached entries are checked again */
  if (tc_http_static_lookup(g_st, in, g_now_ms, &f) != 0) return;
  char *dec = malloc(in.len + 1);
  if (!dec) abort();
  ssize_t n = tc_http_path_decode(in, dec);
  switch (f.status) {
    case 200:
      if (n < 0 || has_dot_dot(dec, (size_t)n) || !f.mime || f.etag[0] != '"') abort();
      check_served(&f);
      break;
    case 301:
      if (f.fd != -1 || f.body || f.location[0] != '/' || f.location[1] == '/') abort();
      for (const char *c = f.location; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '\\') abort();
      break;
    case 400:
    case 403:
    case 404:
      if (f.fd != -1 || f.body) abort();
      break;
    default:
      abort();
  }
  if (n < 0 && f.status != 400) abort();
  if (f.fd >= 0) close(f.fd);
  free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tc_slice_t in = {data, size};
  check_decode(in);
  check_date(in);
  check_lookup(in);
  return 0;
}
