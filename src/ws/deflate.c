/* permessage-deflate (RFC 7692): offer/response negotiation and the per-connection codec.
 *
 * The Sec-WebSocket-Extensions grammar is RFC 6455 section 9.1: a comma list of extensions, each a
 * token followed by ";"-separated parameters whose values are tokens or quoted-strings. */
#define ZLIB_CONST
#include "tincan/ws.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- Header parsing ------------------------------------------------------------------------- */

typedef struct cursor {
  const uint8_t *p;
  size_t len;
  size_t i;
} cursor_t;

typedef struct ext_param {
  tc_slice_t name;
  tc_slice_t value; /* raw: for a quoted value, the bytes between the quotes, still escaped */
  int has_value;
  int quoted;
} ext_param_t;

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(cursor_t *c) {
  while (c->i < c->len && (c->p[c->i] == ' ' || c->p[c->i] == '\t')) c->i++;
}

/* 1 with a non-empty token, else 0 (nothing consumed). */
static int read_token(cursor_t *c, tc_slice_t *out) {
  size_t start = c->i;
  while (c->i < c->len && is_tchar(c->p[c->i])) c->i++;
  *out = (tc_slice_t){c->p + start, c->i - start};
  return out->len > 0;
}

/* A quoted-string whose unescaped content must itself be a token (RFC 6455 section 9.1). */
static int read_quoted(cursor_t *c, tc_slice_t *out) {
  size_t start = ++c->i;
  size_t chars = 0;
  while (c->i < c->len && c->p[c->i] != '"') {
    if (c->p[c->i] == '\\') c->i++;
    if (c->i >= c->len || !is_tchar(c->p[c->i])) return 0;
    c->i++;
    chars++;
  }
  if (c->i >= c->len || chars == 0) return 0;
  *out = (tc_slice_t){c->p + start, c->i - start};
  c->i++; /* closing quote */
  return 1;
}

/* Moves to the next extension, skipping empty list elements. 1 with its name, 0 at the end of
 * the header, TC_EPROTO for bad syntax. */
static int next_ext(cursor_t *c, tc_slice_t *name) {
  for (;;) {
    skip_ows(c);
    if (c->i >= c->len) return 0;
    if (c->p[c->i] != ',') break;
    c->i++;
  }
  return read_token(c, name) ? 1 : TC_EPROTO;
}

/* The next parameter of the current extension. 1 with it, 0 when the extension ends (the comma
 * is consumed), TC_EPROTO for bad syntax. */
static int next_param(cursor_t *c, ext_param_t *pm) {
  skip_ows(c);
  if (c->i >= c->len) return 0;
  if (c->p[c->i] == ',') {
    c->i++;
    return 0;
  }
  if (c->p[c->i] != ';') return TC_EPROTO;
  c->i++;
  skip_ows(c);
  memset(pm, 0, sizeof *pm);
  if (!read_token(c, &pm->name)) return TC_EPROTO;
  skip_ows(c);
  if (c->i >= c->len || c->p[c->i] != '=') return 1;
  c->i++;
  skip_ows(c);
  pm->has_value = 1;
  if (c->i < c->len && c->p[c->i] == '"') {
    pm->quoted = 1;
    return read_quoted(c, &pm->value) ? 1 : TC_EPROTO;
  }
  return read_token(c, &pm->value) ? 1 : TC_EPROTO;
}

/* Window bits: a plain decimal 8..15 without leading zeros, quoted or not. 0 when invalid. */
static int parse_bits(const ext_param_t *pm) {
  int v = 0, digits = 0;
  for (size_t i = 0; i < pm->value.len; i++) {
    uint8_t ch = pm->value.p[i];
    if (pm->quoted && ch == '\\') ch = pm->value.p[++i]; /* read_quoted guarantees a next byte */
    if (ch < '0' || ch > '9' || (digits == 0 && ch == '0') || ++digits > 2) return 0;
    v = v * 10 + (ch - '0');
  }
  return v >= 8 && v <= 15 ? v : 0;
}

/* The parameters of one permessage-deflate element; a window-bits field is 0 when absent. */
typedef struct pmd {
  unsigned server_nct : 1;
  unsigned client_nct : 1;
  unsigned has_cmwb : 1;
  uint8_t smwb;
  uint8_t cmwb; /* 0 with has_cmwb: client_max_window_bits without a value */
} pmd_t;

/* 1 when the parameter is valid and new, 0 otherwise. A response must give every window-bits
 * parameter a value (RFC 7692 section 7.1.2.2: only an offer may send a bare
 * client_max_window_bits). */
static int pmd_apply(pmd_t *o, const ext_param_t *pm, int response) {
  if (tc_slice_ieq(pm->name, "server_no_context_takeover")) {
    if (o->server_nct || pm->has_value) return 0;
    o->server_nct = 1;
  } else if (tc_slice_ieq(pm->name, "client_no_context_takeover")) {
    if (o->client_nct || pm->has_value) return 0;
    o->client_nct = 1;
  } else if (tc_slice_ieq(pm->name, "server_max_window_bits")) {
    if (o->smwb || !pm->has_value) return 0;
    o->smwb = (uint8_t)parse_bits(pm);
    if (!o->smwb) return 0;
  } else if (tc_slice_ieq(pm->name, "client_max_window_bits")) {
    if (o->has_cmwb || (response && !pm->has_value)) return 0;
    o->has_cmwb = 1;
    if (pm->has_value) {
      o->cmwb = (uint8_t)parse_bits(pm);
      if (!o->cmwb) return 0;
    }
  } else {
    return 0;
  }
  return 1;
}

/* Reads the parameters of the current element to its end. 1 when all were valid, 0 when one was
 * not (the rest are still consumed), TC_EPROTO for bad syntax. */
static int pmd_parse(cursor_t *c, pmd_t *o, int response) {
  ext_param_t pm;
  int ok = 1, r;
  memset(o, 0, sizeof *o);
  while ((r = next_param(c, &pm)) == 1)
    if (ok && !pmd_apply(o, &pm, response)) ok = 0;
  return r < 0 ? r : ok;
}

/* Skips the parameters of an element we do not interpret. 0 or TC_EPROTO. */
static int skip_params(cursor_t *c) {
  ext_param_t pm;
  int r;
  while ((r = next_param(c, &pm)) == 1) {
  }
  return r;
}

static uint8_t cfg_bits(uint8_t v, uint8_t absent) {
  if (v == 0) return absent;
  return v < 8 ? 8 : v > 15 ? 15 : v;
}

static int append_bits(tc_buf_t *b, const char *name, unsigned bits) {
  int r = tc_buf_append_str(b, name);
  if (!r) r = tc_buf_append_u64(b, bits);
  return r;
}

/* ---- Negotiation ---------------------------------------------------------------------------- */

static int write_response(const pmd_t *o, const tc_ws_deflate_config_t *cfg,
                          tc_ws_deflate_params_t *params, tc_buf_t *out) {
  uint8_t ours = cfg ? cfg_bits(cfg->server_max_window_bits, 15) : 15;
  uint8_t client_cap = cfg ? cfg_bits(cfg->client_max_window_bits, 0) : 0;
  tc_ws_deflate_params_t pr = {0};
  pr.server_no_context_takeover = o->server_nct || (cfg && cfg->server_no_context_takeover);
  pr.client_no_context_takeover = o->client_nct || (cfg && cfg->client_no_context_takeover);
  pr.server_max_window_bits = o->smwb && o->smwb < ours ? o->smwb : ours;
  /* The client's own value is a promise we may only tighten (RFC 7692 section 7.1.2.2). */
  uint8_t cmwb = 0;
  if (o->has_cmwb) cmwb = client_cap && (!o->cmwb || client_cap < o->cmwb) ? client_cap : o->cmwb;
  pr.client_max_window_bits = cmwb ? cmwb : 15;

  size_t mark = out->len;
  int r = tc_buf_append_str(out, "permessage-deflate");
  if (!r && pr.server_no_context_takeover)
    r = tc_buf_append_str(out, "; server_no_context_takeover");
  if (!r && pr.client_no_context_takeover)
    r = tc_buf_append_str(out, "; client_no_context_takeover");
  if (!r && (o->smwb || ours < 15))
    r = append_bits(out, "; server_max_window_bits=", pr.server_max_window_bits);
  if (!r && cmwb) r = append_bits(out, "; client_max_window_bits=", cmwb);
  if (r) {
    out->len = mark;
    return r;
  }
  *params = pr;
  return 1;
}

int tc_ws_deflate_negotiate(tc_slice_t offers, const tc_ws_deflate_config_t *cfg,
                            tc_ws_deflate_params_t *params, tc_buf_t *response) {
  if (cfg && !cfg->enabled) return 0;
  cursor_t c = {offers.p, offers.len, 0};
  pmd_t chosen = {0}, o;
  int found = 0, r;
  tc_slice_t name;
  /* The whole header is read before answering: one malformed byte anywhere declines it all. */
  while ((r = next_ext(&c, &name)) == 1) {
    if (!tc_slice_ieq(name, "permessage-deflate")) {
      r = skip_params(&c);
      if (r < 0) return 0;
      continue;
    }
    r = pmd_parse(&c, &o, 0);
    if (r < 0) return 0;
    if (r == 1 && !found) {
      chosen = o;
      found = 1;
    }
  }
  if (r < 0 || !found) return 0;
  return write_response(&chosen, cfg, params, response);
}

int tc_ws_deflate_offer(const tc_ws_deflate_config_t *cfg, tc_buf_t *out) {
  if (cfg && !cfg->enabled) return 0;
  size_t mark = out->len;
  uint8_t smwb = cfg ? cfg_bits(cfg->server_max_window_bits, 15) : 15;
  uint8_t cmwb = cfg ? cfg_bits(cfg->client_max_window_bits, 0) : 0;
  int r = tc_buf_append_str(out, "permessage-deflate");
  if (!r && cfg && cfg->server_no_context_takeover)
    r = tc_buf_append_str(out, "; server_no_context_takeover");
  if (!r && cfg && cfg->client_no_context_takeover)
    r = tc_buf_append_str(out, "; client_no_context_takeover");
  if (!r && smwb < 15) r = append_bits(out, "; server_max_window_bits=", smwb);
  /* Always allow the server to limit our window: it costs us nothing and saves it memory. */
  if (!r) r = tc_buf_append_str(out, "; client_max_window_bits");
  if (!r && cmwb) r = append_bits(out, "=", cmwb);
  if (r) out->len = mark;
  return r;
}

int tc_ws_deflate_accept(tc_slice_t response, const tc_ws_deflate_config_t *cfg,
                         tc_ws_deflate_params_t *params) {
  cursor_t c = {response.p, response.len, 0};
  tc_slice_t name;
  pmd_t o;
  int r = next_ext(&c, &name);
  if (r == 0) return TC_ENOENT;
  if (r < 0 || (cfg && !cfg->enabled) || !tc_slice_ieq(name, "permessage-deflate"))
    return TC_EPROTO;
  if (pmd_parse(&c, &o, 1) != 1) return TC_EPROTO;
  if (next_ext(&c, &name) != 0) return TC_EPROTO; /* we offered one element; one answer */

  uint8_t asked_smwb = cfg ? cfg_bits(cfg->server_max_window_bits, 15) : 15;
  uint8_t asked_cmwb = cfg ? cfg_bits(cfg->client_max_window_bits, 0) : 0;
  /* Accepting a request means echoing it (RFC 7692 sections 7.1.1.1 and 7.1.2.1). */
  if (cfg && cfg->server_no_context_takeover && !o.server_nct) return TC_EPROTO;
  if (asked_smwb < 15 && (!o.smwb || o.smwb > asked_smwb)) return TC_EPROTO;
  if (asked_cmwb && o.cmwb > asked_cmwb) return TC_EPROTO;

  tc_ws_deflate_params_t pr = {0};
  pr.server_no_context_takeover = o.server_nct;
  pr.client_no_context_takeover = o.client_nct || (cfg && cfg->client_no_context_takeover);
  pr.server_max_window_bits = o.smwb ? o.smwb : 15;
  pr.client_max_window_bits = o.cmwb ? o.cmwb : asked_cmwb ? asked_cmwb : 15;
  *params = pr;
  return 0;
}

/* ---- The codec ------------------------------------------------------------------------------ */

/* What a message ends with after Z_SYNC_FLUSH, stripped on the wire (RFC 7692 section 7.2.1). */
static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* The smallest output reservation; tc_buf_reserve doubles capacity from there. */
#define OUT_CHUNK 16384
/* Spare room past deflateBound for the sync-flush marker, so one deflate call usually suffices. */
#define DEFLATE_SLACK 16

struct tc_ws_deflate {
  z_stream tx;
  z_stream rx;
  int tx_bits;
  int mem_level;
  unsigned tx_live : 1; /* tx holds zlib state */
  unsigned rx_live : 1;
  unsigned tx_reset : 1; /* no context takeover on our side: a fresh compressor per message */
  unsigned rx_reset : 1; /* the peer's side */
  unsigned rx_any : 1;   /* the message being received has had payload bytes */
  unsigned rx_ended : 1; /* and its deflate stream already ended with a BFINAL block */
};

static int check_bits(uint8_t bits, int *out) {
  if (bits == 0) bits = 15;
  if (bits < 8 || bits > 15) return TC_EINVAL;
  /* zlib refuses a raw deflater with an 8-bit window. With 9 bits it still never emits a distance
   * beyond 512 - MIN_LOOKAHEAD (262) = 250 bytes, so a 256-byte window decodes its output. */
  *out = bits == 8 ? 9 : bits;
  return 0;
}

int tc_ws_deflate_new(const tc_ws_deflate_params_t *params, int is_server, int mem_level,
                      tc_ws_deflate_t **out) {
  static const tc_ws_deflate_params_t defaults = {15, 15, 0, 0};
  int bits;
  if (!params) params = &defaults;
  if (mem_level == 0) mem_level = 8;
  if (mem_level < 1 || mem_level > 9) return TC_EINVAL;
  if (check_bits(is_server ? params->server_max_window_bits : params->client_max_window_bits,
                 &bits))
    return TC_EINVAL;
  tc_ws_deflate_t *d = calloc(1, sizeof *d);
  if (!d) return TC_ENOMEM;
  d->tx_bits = bits;
  d->mem_level = mem_level;
  d->tx_reset = is_server ? params->server_no_context_takeover : params->client_no_context_takeover;
  d->rx_reset = is_server ? params->client_no_context_takeover : params->server_no_context_takeover;
  *out = d;
  return 0;
}

static void tx_release(tc_ws_deflate_t *d) {
  if (d->tx_live) deflateEnd(&d->tx);
  d->tx_live = 0;
}

static void rx_release(tc_ws_deflate_t *d) {
  if (d->rx_live) inflateEnd(&d->rx);
  d->rx_live = 0;
  d->rx_any = 0;
  d->rx_ended = 0;
}

void tc_ws_deflate_free(tc_ws_deflate_t *d) {
  if (!d) return;
  tx_release(d);
  rx_release(d);
  free(d);
}

static int zerr(int zr) {
  return zr == Z_MEM_ERROR ? TC_ENOMEM : zr == Z_DATA_ERROR ? TC_EPROTO : TC_ESYS;
}

/* Runs the deflater over all input and a sync flush, writing straight into out. */
static int deflate_run(z_stream *s, const uint8_t *p, size_t len, tc_buf_t *out) {
  for (;;) {
    if (s->avail_in == 0 && len) {
      uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
      s->next_in = p;
      s->avail_in = n;
      p += n;
      len -= n;
    }
    int flush = len ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    if (tc_buf_avail(out) == 0 && tc_buf_reserve(out, OUT_CHUNK)) return TC_ENOMEM;
    size_t room = tc_buf_avail(out);
    uInt cap = room > UINT_MAX ? UINT_MAX : (uInt)room;
    s->next_out = tc_buf_tail(out);
    s->avail_out = cap;
    int zr = deflate(s, flush);
    tc_buf_commit(out, cap - s->avail_out);
    if (zr != Z_OK && zr != Z_BUF_ERROR) return zerr(zr);
    if (flush == Z_SYNC_FLUSH && s->avail_in == 0 && (s->avail_out != 0 || zr == Z_BUF_ERROR))
      return 0;
  }
}

int tc_ws_deflate_compress(tc_ws_deflate_t *d, const uint8_t *p, size_t len, tc_buf_t *out) {
  /* An empty stored block: valid whatever the compressor's state, and zlib would refuse a second
   * sync flush without input anyway. */
  static const uint8_t empty_block = 0x00;
  if (len == 0) return tc_buf_append(out, &empty_block, 1);
  if (!d->tx_live) {
    memset(&d->tx, 0, sizeof d->tx);
    int zr = deflateInit2(&d->tx, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -d->tx_bits, d->mem_level,
                          Z_DEFAULT_STRATEGY);
    if (zr != Z_OK) return zerr(zr);
    d->tx_live = 1;
  }
  size_t mark = out->len;
  uLong bound = deflateBound(&d->tx, len > UINT_MAX ? UINT_MAX : (uLong)len);
  int r = tc_buf_reserve(out, bound + DEFLATE_SLACK);
  if (!r) r = deflate_run(&d->tx, p, len, out);
  if (!r && (out->len - mark < 5 || memcmp(tc_buf_tail(out) - 4, sync_tail, 4) != 0)) r = TC_ESYS;
  if (r) {
    /* The compressor's state no longer matches what the peer has seen: start over. */
    out->len = mark;
    tx_release(d);
    return r;
  }
  out->len -= 4;
  if (d->tx_reset) tx_release(d);
  return 0;
}

/* Inflates p[0..len) into out, never letting out->len pass max_len: when out is full, a one-byte
 * probe tells whether the stream has more to give. */
static int inflate_run(tc_ws_deflate_t *d, const uint8_t *p, size_t len, tc_buf_t *out,
                       size_t max_len) {
  z_stream *s = &d->rx;
  for (;;) {
    if (s->avail_in == 0 && len) {
      uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
      s->next_in = p;
      s->avail_in = n;
      p += n;
      len -= n;
    }
    if (d->rx_ended) return s->avail_in || len ? TC_EPROTO : 0;
    size_t room = out->len < max_len ? max_len - out->len : 0;
    uint8_t probe;
    if (room && tc_buf_avail(out) == 0 && tc_buf_reserve(out, room < OUT_CHUNK ? room : OUT_CHUNK))
      return TC_ENOMEM;
    size_t avail = room ? tc_buf_avail(out) : 1;
    if (room && avail > room) avail = room;
    uInt cap = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
    s->next_out = room ? tc_buf_tail(out) : &probe;
    s->avail_out = cap;
    int zr = inflate(s, Z_SYNC_FLUSH);
    size_t produced = cap - s->avail_out;
    if (produced && !room) return TC_E2BIG;
    tc_buf_commit(out, produced);
    if (zr == Z_STREAM_END) {
      d->rx_ended = 1;
      continue;
    }
    if (zr == Z_BUF_ERROR) {
      if (s->avail_in == 0 && len == 0) return 0;
      if (!produced) return TC_EPROTO; /* cannot happen with input and room; never spin */
    } else if (zr != Z_OK) {
      return zerr(zr);
    }
    if (s->avail_in == 0 && len == 0 && s->avail_out != 0) return 0;
  }
}

int tc_ws_deflate_decompress(tc_ws_deflate_t *d, const uint8_t *p, size_t len, int fin,
                             tc_buf_t *out, size_t max_len) {
  int r = 0;
  if (len) {
    if (!d->rx_live) {
      memset(&d->rx, 0, sizeof d->rx);
      /* The largest window decodes whatever window the peer chose. */
      int zr = inflateInit2(&d->rx, -15);
      if (zr != Z_OK) return zerr(zr);
      d->rx_live = 1;
    }
    d->rx_any = 1;
    r = inflate_run(d, p, len, out, max_len);
  }
  if (!r && fin && d->rx_any && !d->rx_ended) {
    r = inflate_run(d, sync_tail, sizeof sync_tail, out, max_len);
    /* A whole message leaves the inflater between blocks; anywhere else it was cut short. */
    if (!r && !(d->rx.data_type & 128)) r = TC_EPROTO;
  }
  if (r) {
    rx_release(d);
    return r;
  }
  if (fin) {
    if (d->rx_reset || !d->rx_live) {
      rx_release(d);
    } else if (d->rx_ended) {
      /* The peer ended its stream; its next message starts a new one. */
      inflateReset(&d->rx);
    }
    d->rx_any = 0;
    d->rx_ended = 0;
  }
  return 0;
}
