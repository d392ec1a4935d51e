/* permessage-deflate: negotiation both ways, the codec at every window size, frame splits,
 * decompression bombs, corrupt input and the memory an idle connection keeps. */
#include "tc_test.h"
#include "tincan/ws.h"

#include <malloc.h>
#include <stdlib.h>
#define ZLIB_CONST
#include <zlib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TC_TEST_ASAN 1
#endif

#ifdef TC_TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) {
  return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}
#endif

static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* A buffer's bytes as a slice; an untouched buffer has no storage to point into. */
static tc_slice_t bytes(const tc_buf_t *b) {
  return b->p ? (tc_slice_t){tc_buf_data(b), b->len} : (tc_slice_t){(const uint8_t *)"", 0};
}

/* ---- Negotiation ----------------------------------------------------------------------------- */

static const tc_ws_deflate_config_t cfgs[] = {
    {.enabled = 1},
    {.enabled = 1, .server_no_context_takeover = 1},
    {.enabled = 1, .client_no_context_takeover = 1},
    {.enabled = 1, .server_max_window_bits = 10},
    {.enabled = 1, .client_max_window_bits = 10},
    {.enabled = 0},
    {.enabled = 1,
     .server_no_context_takeover = 1,
     .client_no_context_takeover = 1,
     .server_max_window_bits = 8,
     .client_max_window_bits = 8},
};

typedef struct neg_case {
  const char *offer;
  int cfg;
  const char *response; /* NULL when every offer is declined */
  uint8_t smwb, cmwb;
  unsigned snct, cnct;
} neg_case_t;

#define PMD "permessage-deflate"
static const neg_case_t neg_cases[] = {
    /* Plain offers and each parameter alone. */
    {PMD, 0, PMD, 15, 15, 0, 0},
    {PMD "; client_max_window_bits", 0, PMD, 15, 15, 0, 0},
    {PMD "; client_max_window_bits=10", 0, PMD "; client_max_window_bits=10", 15, 10, 0, 0},
    {PMD "; client_max_window_bits=8", 0, PMD "; client_max_window_bits=8", 15, 8, 0, 0},
    {PMD "; server_max_window_bits=8", 0, PMD "; server_max_window_bits=8", 8, 15, 0, 0},
    {PMD "; server_max_window_bits=9", 0, PMD "; server_max_window_bits=9", 9, 15, 0, 0},
    {PMD "; server_max_window_bits=12", 0, PMD "; server_max_window_bits=12", 12, 15, 0, 0},
    {PMD "; server_max_window_bits=15", 0, PMD "; server_max_window_bits=15", 15, 15, 0, 0},
    {PMD "; server_no_context_takeover", 0, PMD "; server_no_context_takeover", 15, 15, 1, 0},
    {PMD "; client_no_context_takeover", 0, PMD "; client_no_context_takeover", 15, 15, 0, 1},
    /* The Autobahn 13.x offers. */
    {PMD "; client_no_context_takeover; client_max_window_bits", 0,
     PMD "; client_no_context_takeover", 15, 15, 0, 1},
    {PMD "; client_max_window_bits; server_max_window_bits=8", 0, PMD "; server_max_window_bits=8",
     8, 15, 0, 0},
    {PMD "; client_max_window_bits; server_max_window_bits=15", 0,
     PMD "; server_max_window_bits=15", 15, 15, 0, 0},
    {PMD "; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; "
         "server_max_window_bits=8",
     0, PMD "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8", 8,
     15, 1, 1},
    {PMD "; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9", 0,
     PMD "; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9", 9, 9,
     1, 0},
    {PMD "; client_max_window_bits=15; server_max_window_bits=15", 0,
     PMD "; server_max_window_bits=15; client_max_window_bits=15", 15, 15, 0, 0},
    /* Several offers: the first acceptable one wins. */
    {PMD "; server_max_window_bits=7, " PMD "; server_max_window_bits=9", 0,
     PMD "; server_max_window_bits=9", 9, 15, 0, 0},
    {PMD "; foo, " PMD "; client_no_context_takeover", 0, PMD "; client_no_context_takeover", 15,
     15, 0, 1},
    {PMD "; server_max_window_bits=10, " PMD "; server_max_window_bits=11", 0,
     PMD "; server_max_window_bits=10", 10, 15, 0, 0},
    {PMD "; server_no_context_takeover; server_no_context_takeover, " PMD, 0, PMD, 15, 15, 0, 0},
    {"x-webkit-deflate-frame, " PMD "; client_max_window_bits=11", 0,
     PMD "; client_max_window_bits=11", 15, 11, 0, 0},
    {"foo; a=b; c=\"d\", " PMD, 0, PMD, 15, 15, 0, 0},
    /* Quoted values, OWS, empty list elements and case. */
    {PMD "; server_max_window_bits=\"10\"", 0, PMD "; server_max_window_bits=10", 10, 15, 0, 0},
    {PMD "; client_max_window_bits=\"1\\2\"", 0, PMD "; client_max_window_bits=12", 15, 12, 0, 0},
    {" ,\t" PMD " ;\tserver_max_window_bits = 10 , ,", 0, PMD "; server_max_window_bits=10", 10, 15,
     0, 0},
    {"Permessage-Deflate; Server_No_Context_Takeover", 0, PMD "; server_no_context_takeover", 15,
     15, 1, 0},
    /* Declined: unknown, repeated and invalid parameters. */
    {PMD "; foo", 0, NULL, 0, 0, 0, 0},
    {PMD "; foo=1", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_no_context_takeover; server_no_context_takeover", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_no_context_takeover; client_no_context_takeover", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=10; server_max_window_bits=10", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits; client_max_window_bits", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=9; client_max_window_bits", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=7", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=16", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=010", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=0", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=1a", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=115", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=-9", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=7", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=16", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=010", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=\"7\"", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_no_context_takeover=1", 0, NULL, 0, 0, 0, 0},
    {PMD "; client_no_context_takeover=\"x\"", 0, NULL, 0, 0, 0, 0},
    {"permessage-deflater", 0, NULL, 0, 0, 0, 0},
    {"x-webkit-deflate-frame", 0, NULL, 0, 0, 0, 0},
    {"", 0, NULL, 0, 0, 0, 0},
    {" , ,", 0, NULL, 0, 0, 0, 0},
    /* Malformed syntax declines the whole header, even a good offer before it. */
    {PMD ";", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=\"10", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=\"\"", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=\"1 0\"", 0, NULL, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=10 11", 0, NULL, 0, 0, 0, 0},
    {PMD " x", 0, NULL, 0, 0, 0, 0},
    {PMD ", foo; bar=\"", 0, NULL, 0, 0, 0, 0},
    {PMD ", ;", 0, NULL, 0, 0, 0, 0},
    {PMD "; =1", 0, NULL, 0, 0, 0, 0},
    {"\"" PMD "\"", 0, NULL, 0, 0, 0, 0},
    /* Our configuration. */
    {PMD, 1, PMD "; server_no_context_takeover", 15, 15, 1, 0},
    {PMD, 2, PMD "; client_no_context_takeover", 15, 15, 0, 1},
    {PMD, 3, PMD "; server_max_window_bits=10", 10, 15, 0, 0},
    {PMD "; server_max_window_bits=12", 3, PMD "; server_max_window_bits=10", 10, 15, 0, 0},
    {PMD "; server_max_window_bits=9", 3, PMD "; server_max_window_bits=9", 9, 15, 0, 0},
    {PMD, 4, PMD, 15, 15, 0, 0},
    {PMD "; client_max_window_bits", 4, PMD "; client_max_window_bits=10", 15, 10, 0, 0},
    {PMD "; client_max_window_bits=12", 4, PMD "; client_max_window_bits=10", 15, 10, 0, 0},
    {PMD "; client_max_window_bits=9", 4, PMD "; client_max_window_bits=9", 15, 9, 0, 0},
    {PMD, 5, NULL, 0, 0, 0, 0},
    {PMD "; client_max_window_bits", 6,
     PMD "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; "
         "client_max_window_bits=8",
     8, 8, 1, 1},
    {PMD "; server_max_window_bits=12", 6,
     PMD "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8", 8,
     15, 1, 1},
};

static void test_negotiate_table(void) {
  for (size_t i = 0; i < sizeof neg_cases / sizeof neg_cases[0]; i++) {
    const neg_case_t *c = &neg_cases[i];
    tc_buf_t resp = {0};
    tc_ws_deflate_params_t pr = {0};
    int r = tc_ws_deflate_negotiate(tc_slice_str(c->offer), &cfgs[c->cfg], &pr, &resp);
    tc_slice_t got = bytes(&resp);
    if (!c->response) {
      TC_CHECK_EQ_INT(r, 0);
      TC_CHECK_EQ_INT(resp.len, 0);
    } else {
      TC_CHECK_EQ_INT(r, 1);
      TC_CHECK_SLICE(got, c->response);
      TC_CHECK_EQ_INT(pr.server_max_window_bits, c->smwb);
      TC_CHECK_EQ_INT(pr.client_max_window_bits, c->cmwb);
      TC_CHECK_EQ_INT(pr.server_no_context_takeover, c->snct);
      TC_CHECK_EQ_INT(pr.client_no_context_takeover, c->cnct);
    }
    if ((r == 1) != (c->response != NULL)) fprintf(stderr, "  offer: %s\n", c->offer);
    tc_buf_free(&resp);
  }
  /* NULL configuration: the defaults. The response is appended after what the buffer holds. */
  tc_buf_t resp = {0};
  tc_ws_deflate_params_t pr;
  tc_buf_append_str(&resp, "x, ");
  TC_CHECK_EQ_INT(tc_ws_deflate_negotiate(tc_slice_str(PMD), NULL, &pr, &resp), 1);
  TC_CHECK_SLICE(bytes(&resp), "x, " PMD);
  tc_buf_free(&resp);
}

static void test_offer(void) {
  tc_buf_t b = {0};
  TC_CHECK_EQ_INT(tc_ws_deflate_offer(NULL, &b), 0);
  TC_CHECK_SLICE(bytes(&b), PMD "; client_max_window_bits");
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_ws_deflate_offer(&cfgs[0], &b), 0);
  TC_CHECK_SLICE(bytes(&b), PMD "; client_max_window_bits");
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_ws_deflate_offer(&cfgs[6], &b), 0);
  TC_CHECK_SLICE(bytes(&b), PMD "; server_no_context_takeover; client_no_context_takeover; "
                                "server_max_window_bits=8; client_max_window_bits=8");
  tc_buf_reset(&b);
  TC_CHECK_EQ_INT(tc_ws_deflate_offer(&cfgs[5], &b), 0);
  TC_CHECK_EQ_INT(b.len, 0);
  tc_buf_free(&b);
}

typedef struct acc_case {
  const char *response;
  int cfg;
  int rc;
  uint8_t smwb, cmwb;
  unsigned snct, cnct;
} acc_case_t;

static const acc_case_t acc_cases[] = {
    {PMD, 0, 0, 15, 15, 0, 0},
    {" " PMD " ", 0, 0, 15, 15, 0, 0},
    {PMD "; server_no_context_takeover", 0, 0, 15, 15, 1, 0},
    {PMD "; client_no_context_takeover", 0, 0, 15, 15, 0, 1},
    {PMD "; server_max_window_bits=8", 0, 0, 8, 15, 0, 0},
    {PMD "; server_max_window_bits=15", 0, 0, 15, 15, 0, 0},
    {PMD "; server_max_window_bits=\"11\"", 0, 0, 11, 15, 0, 0},
    {PMD "; client_max_window_bits=9", 0, 0, 15, 9, 0, 0},
    {PMD "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
         "client_max_window_bits=8",
     0, 0, 9, 8, 1, 1},
    {"", 0, TC_ENOENT, 0, 0, 0, 0},
    {" ,", 0, TC_ENOENT, 0, 0, 0, 0},
    {PMD "; client_max_window_bits", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=7", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=16", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=010", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=16", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_no_context_takeover=1", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; foo", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_no_context_takeover; server_no_context_takeover", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=9; client_max_window_bits=9", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD ", " PMD, 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD ", x-foo", 0, TC_EPROTO, 0, 0, 0, 0},
    {"x-foo", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD ";", 0, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=\"9", 0, TC_EPROTO, 0, 0, 0, 0},
    /* Against what we asked for. */
    {PMD, 1, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_no_context_takeover", 1, 0, 15, 15, 1, 0},
    {PMD, 2, 0, 15, 15, 0, 1},
    {PMD, 3, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=11", 3, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; server_max_window_bits=10", 3, 0, 10, 15, 0, 0},
    {PMD "; server_max_window_bits=9", 3, 0, 9, 15, 0, 0},
    {PMD, 4, 0, 15, 10, 0, 0},
    {PMD "; client_max_window_bits=12", 4, TC_EPROTO, 0, 0, 0, 0},
    {PMD "; client_max_window_bits=9", 4, 0, 15, 9, 0, 0},
    {PMD, 5, TC_EPROTO, 0, 0, 0, 0},
};

static void test_accept_table(void) {
  for (size_t i = 0; i < sizeof acc_cases / sizeof acc_cases[0]; i++) {
    const acc_case_t *c = &acc_cases[i];
    tc_ws_deflate_params_t pr = {0};
    int r = tc_ws_deflate_accept(tc_slice_str(c->response), &cfgs[c->cfg], &pr);
    TC_CHECK_EQ_INT(r, c->rc);
    if (r != c->rc) fprintf(stderr, "  response: %s\n", c->response);
    if (r == 0 && c->rc == 0) {
      TC_CHECK_EQ_INT(pr.server_max_window_bits, c->smwb);
      TC_CHECK_EQ_INT(pr.client_max_window_bits, c->cmwb);
      TC_CHECK_EQ_INT(pr.server_no_context_takeover, c->snct);
      TC_CHECK_EQ_INT(pr.client_no_context_takeover, c->cnct);
    }
  }
}

/* Every client configuration against every server configuration: the server accepts our offer,
 * we accept its answer, and both sides end up with the same parameters. */
static void test_negotiate_pairs(void) {
  static const uint8_t bits[] = {0, 8, 9, 10, 11, 12, 13, 14, 15};
  size_t nb = sizeof bits;
  size_t mismatches = 0;
  tc_buf_t offer = {0}, resp = {0};
  for (size_t a = 0; a < 4 * nb * nb; a++) {
    tc_ws_deflate_config_t cc = {.enabled = 1};
    cc.server_no_context_takeover = a & 1;
    cc.client_no_context_takeover = (a >> 1) & 1;
    cc.server_max_window_bits = bits[(a >> 2) % nb];
    cc.client_max_window_bits = bits[(a >> 2) / nb];
    tc_buf_reset(&offer);
    TC_CHECK_EQ_INT(tc_ws_deflate_offer(&cc, &offer), 0);
    for (size_t b = 0; b < 4 * nb * nb; b++) {
      tc_ws_deflate_config_t sc = {.enabled = 1};
      sc.server_no_context_takeover = b & 1;
      sc.client_no_context_takeover = (b >> 1) & 1;
      sc.server_max_window_bits = bits[(b >> 2) % nb];
      sc.client_max_window_bits = bits[(b >> 2) / nb];
      tc_ws_deflate_params_t sp, cp;
      tc_buf_reset(&resp);
      int r1 = tc_ws_deflate_negotiate(bytes(&offer), &sc, &sp, &resp);
      int r2 = r1 == 1 ? tc_ws_deflate_accept(bytes(&resp), &cc, &cp) : -100;
      if (r1 != 1 || r2 != 0 || memcmp(&sp, &cp, sizeof sp) != 0) mismatches++;
    }
  }
  TC_CHECK_EQ_INT(mismatches, 0);
  tc_buf_free(&offer);
  tc_buf_free(&resp);
}

/* ---- Codec helpers --------------------------------------------------------------------------- */

static tc_ws_deflate_params_t mkparams(int smwb, int cmwb, int snct, int cnct) {
  tc_ws_deflate_params_t pr = {0};
  pr.server_max_window_bits = (uint8_t)smwb;
  pr.client_max_window_bits = (uint8_t)cmwb;
  pr.server_no_context_takeover = snct ? 1u : 0u;
  pr.client_no_context_takeover = cnct ? 1u : 0u;
  return pr;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

/* Sample messages of several kinds; *n gets the count. Each is malloc'd. */
enum { KINDS = 7 };
static uint8_t *make_message(int kind, size_t *len) {
  static const char *const words[] = {"tincan",   "socket",    "frame", "deflate", "window",
                                      "{\"id\":", "\"value\"", "],",    "\n",      " "};
  size_t n = kind == 6 ? 200000 : 1 + rnd() % 5000;
  uint8_t *p = malloc(n);
  size_t period = 251 + rnd() % 300;
  for (size_t i = 0; i < n;) {
    switch (kind) {
      case 0: /* text */ {
        const char *w = words[rnd() % 10];
        size_t wl = strlen(w);
        if (wl > n - i) wl = n - i;
        memcpy(p + i, w, wl);
        i += wl;
        break;
      }
      case 1: /* incompressible */
        p[i++] = (uint8_t)rnd();
        break;
      case 2: /* zeros */
        p[i++] = 0;
        break;
      case 3: /* repeats just past an 8-bit window */
      case 6:
        p[i] = i < period ? (uint8_t)rnd() : p[i - period];
        i++;
        break;
      case 4: /* short repeats */
        p[i] = i < 7 ? (uint8_t)rnd() : p[i - 7];
        i++;
        break;
      default: /* mostly random with far and near copies */
        if (i > 600 && rnd() % 4 == 0) {
          size_t dist = 1 + rnd() % 600, cl = 3 + rnd() % 40;
          for (size_t k = 0; k < cl && i < n; k++, i++) p[i] = p[i - dist];
        } else {
          p[i++] = (uint8_t)("abcdefgh"[rnd() % 8]);
        }
        break;
    }
  }
  *len = n;
  return p;
}

/* Compresses with one side and decompresses with the other, message by message. */
static void exchange(tc_ws_deflate_t *tx, tc_ws_deflate_t *rx, const uint8_t *p, size_t len) {
  tc_buf_t z = {0}, out = {0};
  TC_CHECK_EQ_INT(tc_ws_deflate_compress(tx, p, len, &z), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(rx, tc_buf_data(&z), z.len, 1, &out, len), 0);
  TC_CHECK_EQ_INT(out.len, len);
  TC_CHECK(out.len == len && (len == 0 || memcmp(tc_buf_data(&out), p, len) == 0));
  tc_buf_free(&z);
  tc_buf_free(&out);
}

/* ---- Codec tests ----------------------------------------------------------------------------- */

static void test_roundtrip_windows(void) {
  for (int bits = 8; bits <= 15; bits++) {
    for (int nct = 0; nct < 4; nct++) {
      tc_ws_deflate_params_t pr = mkparams(bits, 23 - bits, nct & 1, nct & 2);
      tc_ws_deflate_t *srv, *cli;
      TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, bits == 8 ? 1 : 0, &srv), 0);
      TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, bits == 15 ? 9 : 0, &cli), 0);
      for (int m = 0; m < 3 * KINDS; m++) {
        size_t len;
        uint8_t *msg = make_message(m % KINDS, &len);
        exchange(srv, cli, msg, len);
        exchange(cli, srv, msg, len);
        if (m % 5 == 0) exchange(srv, cli, msg, 0);
        free(msg);
      }
      tc_ws_deflate_free(srv);
      tc_ws_deflate_free(cli);
    }
  }
}

static void test_bad_params(void) {
  tc_ws_deflate_t *d = NULL;
  tc_ws_deflate_params_t pr = {15, 15, 0, 0};
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 10, &d), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, -1, &d), TC_EINVAL);
  pr.server_max_window_bits = 7;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &d), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &d), 0); /* a client never compresses with it */
  tc_ws_deflate_free(d);
  pr.client_max_window_bits = 16;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &d), TC_EINVAL);
  TC_CHECK_EQ_INT(tc_ws_deflate_new(NULL, 0, 0, &d), 0);
  tc_ws_deflate_free(d);
  tc_ws_deflate_free(NULL);
}

/* A raw inflater with a 256-byte window, given one output byte per call: zlib then checks every
 * match distance against its window alone (never against output of the same call), so any
 * distance beyond 256 fails as "invalid distance too far back". */
typedef struct win8 {
  z_stream s;
} win8_t;

static int win8_feed(win8_t *w, const uint8_t *p, size_t len, tc_buf_t *out) {
  w->s.next_in = p;
  w->s.avail_in = (uInt)len;
  for (;;) {
    uint8_t byte;
    w->s.next_out = &byte;
    w->s.avail_out = 1;
    int zr = inflate(&w->s, Z_SYNC_FLUSH);
    if (zr != Z_OK && zr != Z_BUF_ERROR) return -1;
    if (w->s.avail_out == 0)
      tc_buf_append(out, &byte, 1);
    else if (w->s.avail_in == 0)
      return 0;
  }
}

static void test_window8_distances(void) {
  z_stream probe;
  memset(&probe, 0, sizeof probe);
  /* The reason for the substitution: zlib refuses it. */
  TC_CHECK_EQ_INT(deflateInit2(&probe, 6, Z_DEFLATED, -8, 8, Z_DEFAULT_STRATEGY), Z_STREAM_ERROR);

  /* The checker itself: a 10-bit stream with 300-byte distances must fail it. */
  {
    uint8_t src[4000], dst[8000];
    for (size_t i = 0; i < sizeof src; i++) src[i] = i < 300 ? (uint8_t)rnd() : src[i - 300];
    z_stream z;
    memset(&z, 0, sizeof z);
    TC_CHECK_EQ_INT(deflateInit2(&z, 6, Z_DEFLATED, -10, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = src;
    z.avail_in = sizeof src;
    z.next_out = dst;
    z.avail_out = sizeof dst;
    TC_CHECK_EQ_INT(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t zl = sizeof dst - z.avail_out;
    deflateEnd(&z);
    win8_t w;
    memset(&w, 0, sizeof w);
    TC_CHECK_EQ_INT(inflateInit2(&w.s, -8), Z_OK);
    tc_buf_t out = {0};
    TC_CHECK_EQ_INT(win8_feed(&w, dst, zl, &out), -1);
    inflateEnd(&w.s);
    tc_buf_free(&out);
  }

  /* Our 8-bit compressor, every level of context takeover, many inputs, decoded in sequence. */
  for (int mem = 1; mem <= 9; mem += 4) {
    for (int nct = 0; nct < 2; nct++) {
      tc_ws_deflate_params_t pr = mkparams(8, 8, nct, nct);
      tc_ws_deflate_t *srv;
      TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, mem, &srv), 0);
      win8_t w;
      memset(&w, 0, sizeof w);
      TC_CHECK_EQ_INT(inflateInit2(&w.s, -8), Z_OK);
      int failures = 0;
      for (int m = 0; m < 4 * KINDS; m++) {
        size_t len;
        uint8_t *msg = make_message(m % KINDS, &len);
        tc_buf_t z = {0}, out = {0};
        TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, msg, len, &z), 0);
        tc_buf_append(&z, sync_tail, 4);
        if (nct) inflateReset(&w.s);
        if (win8_feed(&w, tc_buf_data(&z), z.len, &out) != 0 || out.len != len ||
            memcmp(tc_buf_data(&out), msg, len) != 0)
          failures++;
        free(msg);
        tc_buf_free(&z);
        tc_buf_free(&out);
      }
      TC_CHECK_EQ_INT(failures, 0);
      inflateEnd(&w.s);
      tc_ws_deflate_free(srv);
    }
  }
}

/* Two messages with context takeover; the second is split into two frames at every offset, and
 * also sent a byte per frame. */
static void test_split_frames(void) {
  tc_ws_deflate_params_t pr = {15, 15, 0, 0};
  tc_ws_deflate_t *srv;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
  size_t l1, l2;
  uint8_t *m1 = make_message(0, &l1);
  uint8_t *m2 = make_message(5, &l2);
  tc_buf_t z1 = {0}, z2 = {0};
  TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, m1, l1, &z1), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, m2, l2, &z2), 0);
  size_t bad = 0;
  tc_buf_t out = {0};
  for (size_t k = 0; k <= z2.len + 1; k++) {
    tc_ws_deflate_t *cli;
    TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &cli), 0);
    tc_buf_reset(&out);
    if (tc_ws_deflate_decompress(cli, tc_buf_data(&z1), z1.len, 1, &out, l1) != 0 || out.len != l1)
      bad++;
    tc_buf_reset(&out);
    const uint8_t *p = tc_buf_data(&z2);
    int r = 0;
    if (k <= z2.len) {
      r |= tc_ws_deflate_decompress(cli, p, k, 0, &out, l2);
      r |= tc_ws_deflate_decompress(cli, p + k, z2.len - k, 1, &out, l2);
    } else {
      for (size_t i = 0; i < z2.len; i++) r |= tc_ws_deflate_decompress(cli, p + i, 1, 0, &out, l2);
      r |= tc_ws_deflate_decompress(cli, p, 0, 1, &out, l2);
    }
    if (r || out.len != l2 || memcmp(tc_buf_data(&out), m2, l2) != 0) bad++;
    tc_ws_deflate_free(cli);
  }
  TC_CHECK_EQ_INT(bad, 0);
  free(m1);
  free(m2);
  tc_buf_free(&z1);
  tc_buf_free(&z2);
  tc_buf_free(&out);
  tc_ws_deflate_free(srv);
}

static void test_empty_messages(void) {
  tc_ws_deflate_params_t pr = {15, 15, 0, 0};
  tc_ws_deflate_t *srv, *cli;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &cli), 0);
  tc_buf_t z = {0}, out = {0};
  TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, (const uint8_t *)"", 0, &z), 0);
  TC_CHECK_EQ_INT(z.len, 1);
  TC_CHECK_EQ_INT(tc_buf_data(&z)[0], 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, tc_buf_data(&z), z.len, 1, &out, 0), 0);
  TC_CHECK_EQ_INT(out.len, 0);
  /* An empty payload, in one frame or several. */
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, NULL, 0, 1, &out, 0), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, NULL, 0, 0, &out, 0), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, NULL, 0, 1, &out, 0), 0);
  TC_CHECK_EQ_INT(out.len, 0);
  /* Empty messages between others leave the shared context intact. */
  static const char hello[] = "hello hello hello hello, tincan";
  for (int i = 0; i < 4; i++) {
    exchange(srv, cli, (const uint8_t *)hello, sizeof hello - 1);
    exchange(srv, cli, (const uint8_t *)"", 0);
    tc_buf_reset(&out);
    TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, NULL, 0, 1, &out, 10), 0);
  }
  tc_buf_free(&z);
  tc_buf_free(&out);
  tc_ws_deflate_free(srv);
  tc_ws_deflate_free(cli);
}

static void test_context_takeover_gain(void) {
  static const char msg[] = "{\"type\":\"update\",\"channel\":\"prices\",\"symbol\":\"TINCAN\","
                            "\"bid\":101.25,\"ask\":101.50,\"volume\":120000}";
  size_t len = sizeof msg - 1;
  for (int nct = 0; nct < 2; nct++) {
    tc_ws_deflate_params_t pr = mkparams(15, 15, nct, 0);
    tc_ws_deflate_t *srv, *cli;
    TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
    TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &cli), 0);
    tc_buf_t z1 = {0}, z2 = {0}, out = {0};
    TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, (const uint8_t *)msg, len, &z1), 0);
    TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, (const uint8_t *)msg, len, &z2), 0);
    if (nct) {
      TC_CHECK_EQ_INT(z2.len, z1.len);
      TC_CHECK(memcmp(tc_buf_data(&z1), tc_buf_data(&z2), z1.len) == 0);
    } else {
      TC_CHECK(z2.len * 4 < z1.len);
    }
    TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, tc_buf_data(&z1), z1.len, 1, &out, len), 0);
    TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, tc_buf_data(&z2), z2.len, 1, &out, 2 * len), 0);
    TC_CHECK_EQ_INT(out.len, 2 * len);
    TC_CHECK(memcmp(tc_buf_data(&out) + len, msg, len) == 0);
    tc_buf_free(&z1);
    tc_buf_free(&z2);
    tc_buf_free(&out);
    tc_ws_deflate_free(srv);
    tc_ws_deflate_free(cli);
  }
}

/* Raw deflate of `total` zero bytes, without the sync tail: a bomb far larger than itself. */
static void zero_bomb(size_t total, tc_buf_t *z) {
  static const uint8_t zeros[65536];
  z_stream s;
  memset(&s, 0, sizeof s);
  deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  for (size_t done = 0; done < total || s.avail_in;) {
    if (s.avail_in == 0) {
      size_t n = total - done < sizeof zeros ? total - done : sizeof zeros;
      s.next_in = (const Bytef *)zeros;
      s.avail_in = (uInt)n;
      done += n;
    }
    tc_buf_reserve(z, 65536);
    s.next_out = tc_buf_tail(z);
    s.avail_out = (uInt)tc_buf_avail(z);
    deflate(&s, done < total ? Z_NO_FLUSH : Z_SYNC_FLUSH);
    tc_buf_commit(z, tc_buf_avail(z) - s.avail_out);
  }
  tc_buf_reserve(z, 65536);
  s.next_out = tc_buf_tail(z);
  s.avail_out = (uInt)tc_buf_avail(z);
  deflate(&s, Z_SYNC_FLUSH);
  tc_buf_commit(z, tc_buf_avail(z) - s.avail_out);
  deflateEnd(&s);
  z->len -= 4;
}

static void test_bomb(void) {
  const size_t max = 16u << 20;
  tc_buf_t z = {0}, out = {0};
  zero_bomb((size_t)100 << 20, &z);
  TC_CHECK(z.len < 200000);
  tc_ws_deflate_params_t pr = {15, 15, 0, 0};
  tc_ws_deflate_t *srv;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
  /* One frame. */
  size_t before = heap_in_use();
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(srv, tc_buf_data(&z), z.len, 1, &out, max), TC_E2BIG);
  TC_CHECK(out.len <= max);
  TC_CHECK(out.cap <= max + 16384);
  /* What stays is the output (plus mmap rounding); the inflater went with the error. */
  TC_CHECK(heap_in_use() <= before + out.cap + 65536);
  /* Many frames; the bomb is noticed in the frame that passes the limit. */
  tc_buf_free(&out);
  int r = 0;
  size_t frames = 0;
  for (size_t off = 0; off < z.len && r == 0; off += 1000, frames++) {
    size_t n = z.len - off < 1000 ? z.len - off : 1000;
    r = tc_ws_deflate_decompress(srv, tc_buf_data(&z) + off, n, off + n == z.len, &out, max);
  }
  TC_CHECK_EQ_INT(r, TC_E2BIG);
  TC_CHECK(frames * 1000 < z.len);
  TC_CHECK(out.len <= max && out.cap <= max + 16384);
  /* The codec is usable again after the failure (a fresh stream: nothing was taken over). */
  tc_buf_reset(&out);
  tc_buf_reset(&z);
  zero_bomb(1000, &z);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(srv, tc_buf_data(&z), z.len, 1, &out, 999), TC_E2BIG);
  tc_buf_reset(&out);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(srv, tc_buf_data(&z), z.len, 1, &out, 1000), 0);
  TC_CHECK_EQ_INT(out.len, 1000);
  /* The limit counts what out already held. */
  tc_buf_reset(&out);
  tc_buf_append(&out, "abc", 3);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(srv, tc_buf_data(&z), z.len, 1, &out, 1002), TC_E2BIG);
  tc_buf_free(&z);
  tc_buf_free(&out);
  tc_ws_deflate_free(srv);
}

static void test_corrupt(void) {
  tc_ws_deflate_params_t pr = {15, 15, 0, 0};
  tc_ws_deflate_t *d;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &d), 0);
  tc_buf_t out = {0};
  /* A reserved block type. */
  static const uint8_t bad_type[] = {0x07, 0x00};
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, bad_type, sizeof bad_type, 1, &out, 1000), TC_EPROTO);
  /* A stored block whose length check fails. */
  static const uint8_t bad_stored[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'a'};
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, bad_stored, sizeof bad_stored, 1, &out, 1000),
                  TC_EPROTO);
  /* A message cut short inside a block. */
  tc_ws_deflate_t *srv;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
  size_t len;
  uint8_t *msg = make_message(0, &len);
  tc_buf_t z = {0};
  TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, msg, len, &z), 0);
  tc_buf_reset(&out);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, tc_buf_data(&z), z.len / 2, 1, &out, len), TC_EPROTO);
  /* Random garbage is refused, or at least never overruns the limit. */
  int refused = 0;
  for (int i = 0; i < 500; i++) {
    uint8_t junk[64];
    for (size_t k = 0; k < sizeof junk; k++) junk[k] = (uint8_t)rnd();
    tc_buf_reset(&out);
    int r = tc_ws_deflate_decompress(d, junk, sizeof junk, 1, &out, 4096);
    TC_CHECK(r == 0 || r == TC_EPROTO || r == TC_E2BIG);
    TC_CHECK(out.len <= 4096);
    refused += r == TC_EPROTO;
  }
  TC_CHECK(refused > 400);
  /* Messages ending in a final block, as senders without a sync flush make them. */
  uint8_t fin_block[256];
  size_t fl = 0;
  for (int round = 0; round < 3; round++) {
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    s.next_in = (const Bytef *)"final block final block";
    s.avail_in = 23;
    s.next_out = fin_block;
    s.avail_out = sizeof fin_block;
    TC_CHECK_EQ_INT(deflate(&s, Z_FINISH), Z_STREAM_END);
    fl = sizeof fin_block - s.avail_out;
    deflateEnd(&s);
    tc_buf_reset(&out);
    if (round == 2) {
      TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block, 3, 0, &out, 100), 0);
      TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block + 3, fl - 3, 1, &out, 100), 0);
    } else {
      TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block, fl, 1, &out, 100), 0);
    }
    TC_CHECK_SLICE(bytes(&out), "final block final block");
  }
  /* Anything after the final block in the same message is refused. */
  fin_block[fl] = 0x00;
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block, fl + 1, 1, &out, 100), TC_EPROTO);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block, fl, 0, &out, 100), 0);
  TC_CHECK_EQ_INT(tc_ws_deflate_decompress(d, fin_block, 1, 1, &out, 100), TC_EPROTO);
  /* After all that, a good message still decodes (fresh stream, no takeover needed). */
  tc_ws_deflate_params_t fresh = {15, 15, 1, 1};
  tc_ws_deflate_t *srv2;
  TC_CHECK_EQ_INT(tc_ws_deflate_new(&fresh, 1, 0, &srv2), 0);
  exchange(srv2, d, msg, len);
  free(msg);
  tc_buf_free(&z);
  tc_buf_free(&out);
  tc_ws_deflate_free(srv);
  tc_ws_deflate_free(srv2);
  tc_ws_deflate_free(d);
}

/* Without context takeover an idle codec holds no zlib state; with it, it keeps its windows. */
static void test_idle_memory(void) {
  size_t len;
  uint8_t *msg = make_message(0, &len);
  for (int nct = 0; nct < 2; nct++) {
    tc_ws_deflate_params_t pr = mkparams(15, 15, nct, nct);
    tc_ws_deflate_t *srv, *cli;
    TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 1, 0, &srv), 0);
    TC_CHECK_EQ_INT(tc_ws_deflate_new(&pr, 0, 0, &cli), 0);
    tc_buf_t z = {0}, out = {0};
    tc_buf_reserve(&z, 1 << 16);
    tc_buf_reserve(&out, 1 << 16);
    size_t before = heap_in_use();
    for (int i = 0; i < 3; i++) {
      tc_buf_reset(&z);
      tc_buf_reset(&out);
      TC_CHECK_EQ_INT(tc_ws_deflate_compress(srv, msg, len, &z), 0);
      TC_CHECK_EQ_INT(tc_ws_deflate_decompress(cli, tc_buf_data(&z), z.len, 1, &out, len), 0);
      tc_buf_reset(&z);
      TC_CHECK_EQ_INT(tc_ws_deflate_compress(cli, msg, len, &z), 0);
      TC_CHECK_EQ_INT(tc_ws_deflate_decompress(srv, tc_buf_data(&z), z.len, 1, &out, 2 * len), 0);
    }
    size_t after = heap_in_use();
    if (nct)
      TC_CHECK_EQ_INT(after, before);
    else
      TC_CHECK(after > before + 2 * 32768);
    tc_buf_free(&z);
    tc_buf_free(&out);
    tc_ws_deflate_free(srv);
    tc_ws_deflate_free(cli);
  }
  free(msg);
}

int main(void) {
  TC_RUN(test_negotiate_table);
  TC_RUN(test_offer);
  TC_RUN(test_accept_table);
  TC_RUN(test_negotiate_pairs);
  TC_RUN(test_bad_params);
  TC_RUN(test_roundtrip_windows);
  TC_RUN(test_window8_distances);
  TC_RUN(test_split_frames);
  TC_RUN(test_empty_messages);
  TC_RUN(test_context_takeover_gain);
  TC_RUN(test_bomb);
  TC_RUN(test_corrupt);
  TC_RUN(test_idle_memory);
  return tc_test_end();
}
