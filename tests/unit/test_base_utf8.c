#include "tc_test.h"
#include "tincan/base.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- A reference validator ------------------------------------------------------------------- */

/* RFC 3629 stated as code point ranges, judged one byte at a time: a prefix is acceptable while
 * some completion of its last sequence could still give a valid scalar value. Returns the length
 * of the longest acceptable prefix (len when all of it is) and whether that prefix ends on a
 * character boundary. Written independently of the library's table of lead bytes. */
static size_t ref_prefix(const uint8_t *p, size_t len, int *complete) {
  unsigned need = 0, have = 0;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = p[i];
    *complete = have == need;
    if (have == need) {
      if (b < 0x80) continue;
      if (b < 0xc0) return i;
      need = b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf8 ? 4 : 0;
      if (!need) return i;
      v = b & (0x7fu >> need);
      have = 1;
    } else {
      if ((b & 0xc0) != 0x80) return i;
      v = v << 6 | (b & 0x3fu);
      have++;
    }
    unsigned rest = 6 * (need - have);
    uint32_t lo = v << rest, hi = lo | ((1u << rest) - 1);
    uint32_t min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
    uint32_t max = need == 2 ? 0x7ff : need == 3 ? 0xffff : 0x10ffff;
    if (hi < min || lo > max) return i;
    if (lo >= 0xd800 && hi <= 0xdfff) return i;
    if (have == need) need = have = 0;
  }
  *complete = need == 0;
  return len;
}

/* Encodes a scalar value the plain way. */
static size_t encode_cp(uint32_t c, uint8_t *out) {
  if (c < 0x80) {
    out[0] = (uint8_t)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (uint8_t)(0xc0 | c >> 6);
    out[1] = (uint8_t)(0x80 | (c & 0x3f));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (uint8_t)(0xe0 | c >> 12);
    out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
    out[2] = (uint8_t)(0x80 | (c & 0x3f));
    return 3;
  }
  out[0] = (uint8_t)(0xf0 | c >> 18);
  out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
  out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
  out[3] = (uint8_t)(0x80 | (c & 0x3f));
  return 4;
}

/* ---- Feeding helpers ------------------------------------------------------------------------- */

/* Feeds p[0..len) in pieces ending at cuts[], each piece a heap copy of its exact size so that a
 * read past a piece is caught. Returns the offset of the piece whose feed failed first (its start
 * index), or -1; *complete gets tc_utf8_complete at the end. */
static long feed_cuts(const uint8_t *p, size_t len, const size_t *cuts, size_t ncuts, int *complete,
                      size_t *fail_piece_end) {
  tc_utf8_t v = {0};
  size_t start = 0;
  long failed = -1;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t stop = i < ncuts ? cuts[i] : len;
    size_t n = stop - start;
    uint8_t *piece = malloc(n ? n : 1);
    if (n) memcpy(piece, p + start, n);
    int r = tc_utf8_feed(&v, piece, n);
    free(piece);
    TC_CHECK(r == 0 || r == TC_EPROTO);
    if (r && failed < 0) {
      failed = (long)start;
      *fail_piece_end = stop;
    }
    if (failed >= 0) TC_CHECK_EQ_INT(r, TC_EPROTO); /* once failed, always failed */
    start = stop;
  }
  *complete = tc_utf8_complete(&v);
  return failed;
}

/* Checks one input against an expected first bad byte (-1: none) and final boundary state, fed
 * whole, split at every offset, at every pair of offsets (short inputs) and byte by byte. */
static void check_bytes(const uint8_t *p, size_t len, long fail_at, int complete, int line) {
  int failures_before = tc_test_failures;
  int ref_complete;
  size_t ref = ref_prefix(p, len, &ref_complete);
  TC_CHECK_EQ_INT(fail_at < 0 ? (long)len : fail_at, (long)ref);
  if (fail_at < 0) TC_CHECK_EQ_INT(complete, ref_complete);

  int c;
  size_t piece_end;
  long f = feed_cuts(p, len, NULL, 0, &c, &piece_end);
  TC_CHECK_EQ_INT(f < 0, fail_at < 0);
  if (fail_at < 0)
    TC_CHECK_EQ_INT(c, complete);
  else
    TC_CHECK(!c);
  TC_CHECK_EQ_INT(tc_utf8_check(p, len), fail_at < 0 && complete ? 0 : TC_EPROTO);

  /* Fail fast: the prefix before the bad byte is fine, the bad byte is not. */
  if (fail_at >= 0) {
    tc_utf8_t v = {0};
    int pc;
    ref_prefix(p, (size_t)fail_at, &pc);
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, p, (size_t)fail_at), 0);
    TC_CHECK_EQ_INT(tc_utf8_complete(&v), pc);
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, p + fail_at, 1), TC_EPROTO);
    TC_CHECK(!tc_utf8_complete(&v));
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, (const uint8_t *)"a", 1), TC_EPROTO);
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, NULL, 0), TC_EPROTO);
  }

  for (size_t i = 0; i <= len; i++) {
    f = feed_cuts(p, len, &i, 1, &c, &piece_end);
    TC_CHECK_EQ_INT(f < 0, fail_at < 0);
    /* The piece that fails is the one holding the bad byte. */
    if (f >= 0) TC_CHECK((size_t)f <= (size_t)fail_at && (size_t)fail_at < piece_end);
    if (fail_at < 0) TC_CHECK_EQ_INT(c, complete);
    if (len <= 24) {
      for (size_t j = i; j <= len; j++) {
        size_t cuts[2] = {i, j};
        f = feed_cuts(p, len, cuts, 2, &c, &piece_end);
        TC_CHECK_EQ_INT(f < 0, fail_at < 0);
        if (fail_at < 0) TC_CHECK_EQ_INT(c, complete);
      }
    }
  }

  tc_utf8_t v = {0};
  long first_bad = -1;
  for (size_t i = 0; i < len; i++) {
    if (tc_utf8_feed(&v, p + i, 1) && first_bad < 0) first_bad = (long)i;
  }
  TC_CHECK_EQ_INT(first_bad, fail_at);
  if (tc_test_failures != failures_before) fprintf(stderr, "  (case at line %d)\n", line);
}

#define VALID(s) check_bytes((const uint8_t *)(s), sizeof(s) - 1, -1, 1, __LINE__)
#define PARTIAL(s) check_bytes((const uint8_t *)(s), sizeof(s) - 1, -1, 0, __LINE__)
#define BAD(s, at) check_bytes((const uint8_t *)(s), sizeof(s) - 1, (at), 0, __LINE__)

/* ---- Markus Kuhn's UTF-8 decoder stress test ------------------------------------------------- */

static void test_kuhn_valid(void) {
  VALID("");
  VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"); /* 1: kosme */
  /* 2.1 first sequence of each length */
  check_bytes((const uint8_t *)"\0", 1, -1, 1, __LINE__);
  VALID("\xc2\x80");
  VALID("\xe0\xa0\x80");
  VALID("\xf0\x90\x80\x80");
  /* 2.2 last sequence of each length allowed by RFC 3629 */
  VALID("\x7f");
  VALID("\xdf\xbf");
  VALID("\xef\xbf\xbf");
  VALID("\xf4\x8f\xbf\xbf");
  /* 2.3 other boundaries */
  VALID("\xed\x9f\xbf");     /* U+D7FF */
  VALID("\xee\x80\x80");     /* U+E000 */
  VALID("\xef\xbf\xbd");     /* U+FFFD */
  VALID("\xf0\x9f\x98\x80"); /* U+1F600 */
  VALID("\xf3\xbf\xbf\xbf"); /* U+FFFFF */
  VALID("\xf4\x80\x80\x80"); /* U+100000 */
  /* 5.3 noncharacters are valid scalar values */
  VALID("\xef\xbf\xbe");
  VALID("\xef\xb7\x90");
  VALID("\xef\xb7\xaf");
  VALID("\xf4\x8f\xbf\xbe");
  VALID("Hello, \xe4\xb8\x96\xe7\x95\x8c! \xf0\x9f\x8e\x89 caf\xc3\xa9");
}

static void test_kuhn_invalid(void) {
  /* 2.1 / 2.2: five- and six-byte forms, and four-byte forms above U+10FFFF */
  BAD("\xf8\x88\x80\x80\x80", 0);
  BAD("\xfc\x84\x80\x80\x80\x80", 0);
  BAD("\xf7\xbf\xbf\xbf", 0);
  BAD("\xfb\xbf\xbf\xbf\xbf", 0);
  BAD("\xfd\xbf\xbf\xbf\xbf\xbf", 0);
  BAD("\xf4\x90\x80\x80", 1); /* U+110000 */
  BAD("\xf5\x80\x80\x80", 0);
  /* 3.1 unexpected continuation bytes */
  BAD("\x80", 0);
  BAD("\xbf", 0);
  BAD("\x80\xbf", 0);
  BAD("\x80\xbf\x80", 0);
  BAD("a\x80", 1);
  BAD("\xc2\x80\x80", 2);
  BAD("\xe0\xa0\x80\xbf", 3);
  for (int c = 0x80; c <= 0xbf; c++) {
    uint8_t s[3] = {'x', (uint8_t)c, 'y'};
    check_bytes(s, 3, 1, 0, __LINE__);
  }
  /* 3.2 lonely start characters followed by a space */
  for (int c = 0xc0; c <= 0xff; c++) {
    uint8_t s[2] = {(uint8_t)c, ' '};
    long at = (c >= 0xc2 && c <= 0xf4) ? 1 : 0;
    check_bytes(s, 2, at, 0, __LINE__);
  }
  /* 3.3 sequences with the last continuation byte missing */
  BAD("\xc0", 0);
  BAD("\xe0\x80", 1);
  BAD("\xf0\x80\x80", 1);
  BAD("\xf8\x80\x80\x80", 0);
  BAD("\xfc\x80\x80\x80\x80", 0);
  PARTIAL("\xdf");
  PARTIAL("\xef\xbf");
  BAD("\xf7\xbf\xbf", 0);
  BAD("\xfb\xbf\xbf\xbf", 0);
  BAD("\xfd\xbf\xbf\xbf\xbf", 0);
  PARTIAL("\xc2");
  PARTIAL("\xe0\xa0");
  PARTIAL("\xf0\x90\x80");
  PARTIAL("\xf4\x8f\xbf");
  PARTIAL("abc\xe2\x82");
  /* ... and followed by something that is not a continuation */
  BAD("\xdf"
      "a",
      1);
  BAD("\xef\xbf"
      "a",
      2);
  BAD("\xf4\x8f\xbf"
      "a",
      3);
  BAD("\xe2\x82\xc2\xa2", 2);
  /* 3.4 concatenation of the incomplete sequences */
  BAD("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf", 0);
  BAD("\xdf\xef\xbf", 1);
  /* 3.5 impossible bytes */
  BAD("\xfe", 0);
  BAD("\xff", 0);
  BAD("\xfe\xfe\xff\xff", 0);
  BAD("ab\xff", 2);
  /* 4.1 overlong slash */
  BAD("\xc0\xaf", 0);
  BAD("\xe0\x80\xaf", 1);
  BAD("\xf0\x80\x80\xaf", 1);
  BAD("\xf8\x80\x80\x80\xaf", 0);
  BAD("\xfc\x80\x80\x80\x80\xaf", 0);
  /* 4.2 maximum overlongs */
  BAD("\xc1\xbf", 0);
  BAD("\xe0\x9f\xbf", 1);
  BAD("\xf0\x8f\xbf\xbf", 1);
  BAD("\xf8\x87\xbf\xbf\xbf", 0);
  BAD("\xfc\x83\xbf\xbf\xbf\xbf", 0);
  /* 4.3 overlong NUL */
  BAD("\xc0\x80", 0);
  BAD("\xe0\x80\x80", 1);
  BAD("\xf0\x80\x80\x80", 1);
  BAD("\xf8\x80\x80\x80\x80", 0);
  BAD("\xfc\x80\x80\x80\x80\x80", 0);
  /* 5.1 single UTF-16 surrogates */
  BAD("\xed\xa0\x80", 1);
  BAD("\xed\xad\xbf", 1);
  BAD("\xed\xae\x80", 1);
  BAD("\xed\xaf\xbf", 1);
  BAD("\xed\xb0\x80", 1);
  BAD("\xed\xbe\x80", 1);
  BAD("\xed\xbf\xbf", 1);
  /* 5.2 paired surrogates */
  BAD("\xed\xa0\x80\xed\xb0\x80", 1);
  BAD("\xed\xa0\x80\xed\xbf\xbf", 1);
  BAD("\xed\xaf\xbf\xed\xb0\x80", 1);
  BAD("\xed\xaf\xbf\xed\xbf\xbf", 1);
}

/* Every lead byte with every possible second byte: the first table a fail-fast validator needs. */
static void test_all_two_byte_prefixes(void) {
  for (int a = 0; a < 256; a++) {
    for (int b = 0; b < 256; b++) {
      uint8_t s[2] = {(uint8_t)a, (uint8_t)b};
      int c;
      size_t ref = ref_prefix(s, 2, &c);
      tc_utf8_t v = {0};
      int r = tc_utf8_feed(&v, s, 2);
      TC_CHECK_EQ_INT(r == 0, ref == 2);
      if (r == 0) TC_CHECK_EQ_INT(tc_utf8_complete(&v), c);
      tc_utf8_t w = {0};
      int r0 = tc_utf8_feed(&w, s, 1);
      int r1 = tc_utf8_feed(&w, s + 1, 1);
      TC_CHECK_EQ_INT(r0 == 0, ref >= 1);
      TC_CHECK_EQ_INT(r1 == 0, ref == 2);
    }
  }
}

/* Every scalar value encodes to something valid; every surrogate encoding is refused. */
static void test_all_code_points(void) {
  uint32_t wrong = 0;
  for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
    uint8_t s[4];
    size_t n = encode_cp(cp, s);
    int want = (cp >= 0xd800 && cp <= 0xdfff) ? TC_EPROTO : 0;
    if (tc_utf8_check(s, n) != want && wrong++ < 5) fprintf(stderr, "  U+%04X\n", (unsigned)cp);
  }
  TC_CHECK_EQ_INT(wrong, 0);
}

/* ---- Autobahn TestSuite section 6 ------------------------------------------------------------ */

static void test_autobahn(void) {
  /* 6.2: a valid message, split anywhere (check_bytes splits everywhere) */
  VALID("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!");
  /* 6.3: kosme-edited with a surrogate */
  BAD("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 12);
  /* 6.4.1-4: fail fast at the second byte of F4 90 80 80, before the message ends */
  static const uint8_t m[] = {0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
                              0xf4, 0x90, 0x80, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64};
  check_bytes(m, sizeof m, 12, 0, __LINE__);
  {
    /* As the suite sends it: three frames, the middle one holding only F4 90 80 80. */
    tc_utf8_t v = {0};
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, m, 11), 0);
    TC_CHECK(tc_utf8_complete(&v));
    TC_CHECK_EQ_INT(tc_utf8_feed(&v, m + 11, 4), TC_EPROTO);
    tc_utf8_t w = {0};
    TC_CHECK_EQ_INT(tc_utf8_feed(&w, m, 12), 0);
    TC_CHECK(!tc_utf8_complete(&w));
    TC_CHECK_EQ_INT(tc_utf8_feed(&w, m + 12, 1), TC_EPROTO);
  }
  /* 6.5: valid messages of each sequence length */
  VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
  VALID("\xf0\x90\x80\x80");
  VALID("\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf");
  /* 6.6: every prefix of kosme; the short ones end mid-character */
  static const uint8_t kosme[] = {0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5};
  static const int boundary[] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1};
  for (size_t n = 0; n <= sizeof kosme; n++) check_bytes(kosme, n, -1, boundary[n], __LINE__);
  /* 6.12-6.21 are the Kuhn cases above; 6.22: noncharacters in every plane */
  for (uint32_t plane = 0; plane <= 0x10; plane++) {
    uint8_t s[8];
    size_t n = encode_cp(plane << 16 | 0xfffe, s);
    n += encode_cp(plane << 16 | 0xffff, s + n);
    check_bytes(s, n, -1, 1, __LINE__);
  }
  VALID("\xef\xbf\xb9\xef\xbf\xba\xef\xbf\xbb\xef\xbf\xbc\xef\xbf\xbd"); /* 6.23 specials */
}

/* ---- The ASCII fast path --------------------------------------------------------------------- */

/* ASCII of every length up to 100 with a bad byte (or a valid multi-byte character) at every
 * position: the eight-byte skip must stop exactly where the non-ASCII byte is. */
static void test_ascii_runs(void) {
  static const struct {
    const char *ins;
    size_t len;
    long fail; /* relative to the insertion point; -1: valid */
  } ins[] = {
      {"\x80", 1, 0},
      {"\xff", 1, 0},
      {"\xc0\x80", 2, 0},
      {"\xc3\xa9", 2, -1},
      {"\xe2\x82\xac", 3, -1},
      {"\xed\xa0\x80", 3, 1},
      {"\xf0\x9f\x98\x80", 4, -1},
      {"\xf4\x90\x80\x80", 4, 1},
  };
  uint8_t buf[128];
  for (size_t len = 0; len <= 100; len++) {
    for (size_t k = 0; k < sizeof ins / sizeof ins[0]; k++) {
      for (size_t pos = 0; pos <= len; pos++) {
        size_t n = 0;
        for (size_t i = 0; i < pos; i++) buf[n++] = (uint8_t)('a' + i % 26);
        memcpy(buf + n, ins[k].ins, ins[k].len);
        n += ins[k].len;
        for (size_t i = pos; i < len; i++) buf[n++] = (uint8_t)('A' + i % 26);
        long fail = ins[k].fail < 0 ? -1 : (long)pos + ins[k].fail;
        int c;
        size_t ref = ref_prefix(buf, n, &c);
        TC_CHECK_EQ_INT(ref, fail < 0 ? (long)n : fail);
        uint8_t *copy = malloc(n);
        memcpy(copy, buf, n);
        tc_utf8_t v = {0};
        TC_CHECK_EQ_INT(tc_utf8_feed(&v, copy, n), fail < 0 ? 0 : TC_EPROTO);
        if (fail >= 0) {
          tc_utf8_t w = {0};
          TC_CHECK_EQ_INT(tc_utf8_feed(&w, copy, (size_t)fail), 0);
          TC_CHECK_EQ_INT(tc_utf8_feed(&w, copy + fail, n - (size_t)fail), TC_EPROTO);
        }
        /* Every split of the shorter runs. */
        if (len <= 40) {
          for (size_t cut = 0; cut <= n; cut++) {
            size_t pe;
            long f = feed_cuts(copy, n, &cut, 1, &c, &pe);
            TC_CHECK_EQ_INT(f < 0, fail < 0);
          }
        }
        free(copy);
      }
    }
  }
  /* Long valid ASCII, at every starting alignment. */
  uint8_t *big = malloc(4096 + 8);
  for (size_t i = 0; i < 4096 + 8; i++) big[i] = (uint8_t)(' ' + i % 95);
  for (size_t a = 0; a < 8; a++) TC_CHECK_EQ_INT(tc_utf8_check(big + a, 4096), 0);
  big[4096 + 7] = 0x80;
  for (size_t a = 0; a < 8; a++) TC_CHECK_EQ_INT(tc_utf8_check(big + a, 4096 + 8 - a), TC_EPROTO);
  free(big);
}

/* Every split of a mixed valid string, including three-piece splits (check_bytes). */
static void test_splits(void) {
  VALID("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xf4\x8f\xbf\xbf\xed\x9f\xbf");
  VALID("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
  VALID("0123456789abcdef\xc3\xa9"
        "0123456789abcdef\xe2\x82\xac"
        "0123456789abcdef");
}

/* ---- Random comparison with the reference ---------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 32);
}

/* Bytes drawn so that valid sequences and near misses both come up often. */
static uint8_t interesting_byte(void) {
  static const uint8_t pick[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
                                 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff};
  uint32_t r = rnd();
  if (r % 4 == 0) return (uint8_t)(r >> 8);
  if (r % 4 == 1) return (uint8_t)(0x80 | ((r >> 8) & 0x3f));
  return pick[(r >> 8) % sizeof pick];
}

static void test_random(void) {
  uint8_t buf[96];
  int mismatches = 0;
  for (int iter = 0; iter < 100000 && mismatches < 10; iter++) {
    size_t len = rnd() % sizeof buf;
    uint32_t mode = rnd() % 3;
    if (mode == 0) {
      for (size_t i = 0; i < len; i++) buf[i] = interesting_byte();
    } else {
      /* A valid string of random code points, then (mode 2) one byte changed. */
      size_t n = 0;
      while (n + 4 <= len) {
        uint32_t cp;
        switch (rnd() % 4) {
          case 0:
            cp = rnd() % 0x80;
            break;
          case 1:
            cp = 0x80 + rnd() % 0x780;
            break;
          case 2:
            cp = 0x800 + rnd() % 0xf800;
            break;
          default:
            cp = 0x10000 + rnd() % 0x100000;
            break;
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        n += encode_cp(cp, buf + n);
      }
      len = n;
      if (mode == 2 && len) buf[rnd() % len] = interesting_byte();
    }
    int rc;
    size_t ref = ref_prefix(buf, len, &rc);
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, buf, len);
    tc_utf8_t v = {0};
    size_t cut = len ? rnd() % (len + 1) : 0;
    int r1 = tc_utf8_feed(&v, copy, cut);
    int r2 = tc_utf8_feed(&v, copy + cut, len - cut);
    int ok = (r1 == 0) == (ref >= cut) && (r2 == 0) == (ref == len) &&
             (ref < len || tc_utf8_complete(&v) == rc) &&
             (tc_utf8_check(copy, len) == 0) == (ref == len && rc);
    /* The exact failure point: the valid prefix passes, one more byte fails. */
    if (ref < len) {
      tc_utf8_t w = {0};
      ok = ok && tc_utf8_feed(&w, copy, ref) == 0 && tc_utf8_feed(&w, copy + ref, 1) == TC_EPROTO;
    }
    free(copy);
    TC_CHECK(ok);
    if (!ok) {
      mismatches++;
      fprintf(stderr, "  mismatch, len %zu ref %zu:", len, ref);
      for (size_t i = 0; i < len; i++) fprintf(stderr, " %02x", buf[i]);
      fprintf(stderr, "\n");
    }
  }
}

int main(void) {
  TC_RUN(test_kuhn_valid);
  TC_RUN(test_kuhn_invalid);
  TC_RUN(test_all_two_byte_prefixes);
  TC_RUN(test_all_code_points);
  TC_RUN(test_autobahn);
  TC_RUN(test_ascii_runs);
  TC_RUN(test_splits);
  TC_RUN(test_random);
  return tc_test_end();
}
