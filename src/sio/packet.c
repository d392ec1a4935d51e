/* The Socket.IO packet codec (socket.io-parser's format) and the reassembly of binary packets
 * from the Engine.IO messages that carry their attachments. */
#include "tincan/sio.h"

#include <stdlib.h>
#include <string.h>

#define RESERVED(s)                                                                                \
  { s, sizeof s - 1 }
static const struct {
  const char *name;
  size_t len;
} reserved_events[] = {
    RESERVED("connect"),       RESERVED("connect_error"), RESERVED("disconnect"),
    RESERVED("disconnecting"), RESERVED("newListener"),   RESERVED("removeListener"),
};

static int is_reserved_event(tc_slice_t name_token) {
  /* The longest reserved name has 14 characters, each at most 6 bytes escaped: anything longer
   * cannot be one, and most names are decided here without decoding. */
  if (name_token.len > 2 + 14 * 6) return 0;
  for (size_t i = 0; i < sizeof reserved_events / sizeof *reserved_events; i++)
    if (tc_json_string_eq(name_token, reserved_events[i].name, reserved_events[i].len)) return 1;
  return 0;
}

static inline int is_digit(uint8_t c) {
  return c >= '0' && c <= '9';
}

/* The elements of an array payload: first element and the rest for events, all for acks. */
static int split_array(tc_slice_t data, int event, tc_sio_packet_t *out) {
  tc_json_iter_t it;
  if (tc_json_iter_init(&it, data) < 0 || it.kind != TC_JSON_ARRAY) return TC_EPROTO;
  tc_slice_t v, first = {0};
  size_t rest = 0, end = 0;
  size_t n = 0;
  int r;
  while ((r = tc_json_next(&it, NULL, &v)) == 1) {
    if (n == 0) {
      first = v;
      rest = (size_t)(v.p + v.len - data.p);
    }
    end = (size_t)(v.p + v.len - data.p);
    n++;
  }
  if (r < 0) return r;
  if (event) {
    if (n == 0) return TC_EPROTO;
    tc_json_type_t t = tc_json_type(first);
    if (t != TC_JSON_NUMBER && (t != TC_JSON_STRING || is_reserved_event(first))) return TC_EPROTO;
    out->event = first;
    if (n > 1) {
      /* After the first value: whitespace, the comma, then the rest up to the last value. */
      while (data.p[rest] != ',') rest++;
      out->args = tc_json_trim((tc_slice_t){data.p + rest + 1, end - rest - 1});
    }
  } else if (n > 0) {
    size_t start = (size_t)(tc_json_trim(data).p - data.p) + 1;
    out->args = tc_json_trim((tc_slice_t){data.p + start, end - start});
  }
  return 0;
}

static int check_payload(tc_sio_packet_t *out) {
  tc_slice_t d = out->data;
  switch (out->type) {
    case TC_SIO_CONNECT:
      if (!d.len) return 0;
      return tc_json_type(d) == TC_JSON_OBJECT ? tc_json_check(d.p, d.len) : TC_EPROTO;
    case TC_SIO_DISCONNECT:
      return d.len ? TC_EPROTO : 0;
    case TC_SIO_CONNECT_ERROR: {
      tc_json_type_t t = tc_json_type(d);
      if (t != TC_JSON_OBJECT && t != TC_JSON_STRING) return TC_EPROTO;
      return tc_json_check(d.p, d.len);
    }
    case TC_SIO_EVENT:
    case TC_SIO_BINARY_EVENT:
      return d.len ? split_array(d, 1, out) : TC_EPROTO;
    default: /* acks */
      return d.len ? split_array(d, 0, out) : TC_EPROTO;
  }
}

int tc_sio_packet_decode(const uint8_t *p, size_t len, size_t max_attachments,
                         tc_sio_packet_t *out) {
  memset(out, 0, sizeof *out);
  out->nsp = TC_SLICE_LIT("/");
  if (len == 0 || p[0] < '0' || p[0] > '6') return TC_EPROTO;
  out->type = p[0] - '0';
  size_t i = 1;
  if (out->type == TC_SIO_BINARY_EVENT || out->type == TC_SIO_BINARY_ACK) {
    size_t start = i, n = 0;
    if (max_attachments == 0) max_attachments = TC_SIO_MAX_ATTACHMENTS_DEFAULT;
    for (; i < len && is_digit(p[i]); i++) {
      n = n * 10 + (size_t)(p[i] - '0');
      if (n > max_attachments) {
        /* Keep reading the digits: only the form decides between the two errors. */
        n = max_attachments + 1;
      }
    }
    if (i == start || i >= len || p[i] != '-' || n < 1) return TC_EPROTO;
    if (n > max_attachments) return TC_E2BIG;
    out->attachments = n;
    i++;
  }
  if (i < len && p[i] == '/') {
    size_t start = i;
    while (i < len && p[i] != ',') i++;
    out->nsp = (tc_slice_t){p + start, i - start};
    if (i < len) i++;
  }
  if (i < len && is_digit(p[i])) {
    uint64_t id = 0;
    for (; i < len && is_digit(p[i]); i++) {
      uint64_t d = (uint64_t)(p[i] - '0');
      if (id > (UINT64_MAX - d) / 10) return TC_EPROTO;
      id = id * 10 + d;
    }
    out->has_id = 1;
    out->id = id;
  }
  out->data = tc_json_trim((tc_slice_t){p + i, len - i});
  if (i < len && out->data.len == 0) return TC_EPROTO; /* JSON.parse("  ") fails too */
  return check_payload(out);
}

/* ---- Placeholders ---------------------------------------------------------------------------- */

/* One open container of the walk. An object is a placeholder when its last "_placeholder" is
 * true; its "num" is then judged, and faults found inside it do not count, since Node replaces
 * such an object whole without looking into it. */
typedef struct {
  tc_json_iter_t it;
  tc_slice_t num;
  unsigned placeholder : 1;
  unsigned inner_fault : 1;
} ph_frame_t;

static int placeholder_num_ok(tc_slice_t num, size_t n) {
  uint64_t v;
  return num.len && tc_json_uint(num, &v) == 0 && v < n;
}

int tc_sio_placeholders_check(tc_slice_t payload, size_t n) {
  size_t cap = 8, depth = 0;
  ph_frame_t *st = malloc(cap * sizeof *st);
  if (!st) return TC_ENOMEM;
  int result = TC_EPROTO;
  memset(&st[0], 0, sizeof st[0]);
  if (tc_json_iter_init(&st[0].it, payload) < 0) goto out;
  depth = 1;
  while (depth > 0) {
    ph_frame_t *f = &st[depth - 1];
    tc_slice_t key, val;
    int r = tc_json_next(&f->it, f->it.kind == TC_JSON_OBJECT ? &key : NULL, &val);
    if (r < 0) goto out;
    if (r == 0) {
      int fault = f->placeholder ? !placeholder_num_ok(f->num, n) : f->inner_fault;
      depth--;
      if (depth == 0) {
        result = fault ? TC_EPROTO : 0;
        break;
      }
      if (fault) st[depth - 1].inner_fault = 1;
      continue;
    }
    if (f->it.kind == TC_JSON_OBJECT) {
      if (tc_json_string_eq(key, "_placeholder", 12))
        f->placeholder = val.len == 4 && memcmp(val.p, "true", 4) == 0;
      else if (tc_json_string_eq(key, "num", 3))
        f->num = tc_json_type(val) == TC_JSON_NUMBER ? val : (tc_slice_t){0};
    }
    tc_json_type_t t = tc_json_type(val);
    if (t != TC_JSON_ARRAY && t != TC_JSON_OBJECT) continue;
    if (depth == cap) {
      ph_frame_t *g = realloc(st, 2 * cap * sizeof *st);
      if (!g) {
        result = TC_ENOMEM;
        goto out;
      }
      st = g;
      cap *= 2;
    }
    memset(&st[depth], 0, sizeof st[depth]);
    tc_json_iter_init(&st[depth].it, val);
    depth++;
  }
out:
  free(st);
  return result;
}

/* ---- Encoding -------------------------------------------------------------------------------- */

int tc_sio_packet_encode(tc_buf_t *out, const tc_sio_packet_t *pkt) {
  char head[2] = {(char)('0' + pkt->type), 0};
  int r = tc_buf_append(out, head, 1);
  int binary = pkt->type == TC_SIO_BINARY_EVENT || pkt->type == TC_SIO_BINARY_ACK;
  if (!r && binary) {
    r = tc_buf_append_u64(out, pkt->attachments);
    if (!r) r = tc_buf_append(out, "-", 1);
  }
  if (!r && pkt->nsp.len && !tc_slice_eq(pkt->nsp, "/")) {
    r = tc_buf_append(out, pkt->nsp.p, pkt->nsp.len);
    if (!r) r = tc_buf_append(out, ",", 1);
  }
  if (!r && pkt->has_id) r = tc_buf_append_u64(out, pkt->id);
  if (r) return r;
  switch (pkt->type) {
    case TC_SIO_EVENT:
    case TC_SIO_BINARY_EVENT:
      r = tc_buf_append(out, "[", 1);
      if (!r && pkt->event.len) r = tc_buf_append(out, pkt->event.p, pkt->event.len);
      if (!r && pkt->args.len) {
        r = tc_buf_append(out, ",", 1);
        if (!r) r = tc_buf_append(out, pkt->args.p, pkt->args.len);
      }
      return r ? r : tc_buf_append(out, "]", 1);
    case TC_SIO_ACK:
    case TC_SIO_BINARY_ACK:
      r = tc_buf_append(out, "[", 1);
      if (!r && pkt->args.len) r = tc_buf_append(out, pkt->args.p, pkt->args.len);
      return r ? r : tc_buf_append(out, "]", 1);
    default:
      return pkt->data.len ? tc_buf_append(out, pkt->data.p, pkt->data.len) : 0;
  }
}

/* ---- Reassembly ------------------------------------------------------------------------------ */

/* A binary packet: its text copied, its attachments as they come. */
struct tc__sio_binary {
  tc_sio_packet_t pkt;
  tc_buf_t text;
  tc_buf_t bins;
  size_t nbins;
  tc_slice_t *atts;
  size_t offs[]; /* attachments + 1 */
};

void tc_sio_decoder_reset(tc_sio_decoder_t *d) {
  struct tc__sio_binary *b = d->bin;
  if (!b) return;
  tc_buf_free(&b->text);
  tc_buf_free(&b->bins);
  free(b->atts);
  free(b);
  d->bin = NULL;
}

/* Moves a packet's slices from one copy of its text to another. */
static tc_slice_t rebase(tc_slice_t s, const uint8_t *from, const uint8_t *to) {
  if (!s.len) return s;
  return (tc_slice_t){to + (s.p - from), s.len};
}

static int start_binary(tc_sio_decoder_t *d, const tc_sio_packet_t *pkt, const uint8_t *p,
                        size_t len) {
  size_t n = pkt->attachments;
  struct tc__sio_binary *b = calloc(1, sizeof *b + (n + 1) * sizeof b->offs[0]);
  if (!b) return TC_ENOMEM;
  d->bin = b;
  b->pkt = *pkt;
  if (tc_buf_append(&b->text, p, len) < 0) return TC_ENOMEM;
  b->atts = malloc(n * sizeof *b->atts);
  if (!b->atts) return TC_ENOMEM;
  const uint8_t *to = tc_buf_data(&b->text);
  tc_sio_packet_t *k = &b->pkt;
  k->nsp = k->nsp.p >= p && k->nsp.p < p + len ? rebase(k->nsp, p, to) : k->nsp;
  k->data = rebase(k->data, p, to);
  k->event = rebase(k->event, p, to);
  k->args = rebase(k->args, p, to);
  b->offs[0] = 0;
  b->nbins = 0;
  return 0;
}

static int finish_binary(struct tc__sio_binary *b, tc_sio_message_t *out) {
  size_t n = b->pkt.attachments;
  const uint8_t *base = tc_buf_data(&b->bins);
  for (size_t i = 0; i < n; i++) {
    size_t lo = b->offs[i], hi = b->offs[i + 1];
    b->atts[i] = (tc_slice_t){base ? base + lo : base, hi - lo};
  }
  int r = tc_sio_placeholders_check(b->pkt.data, n);
  if (r < 0) return r;
  /* The packet stays in the decoder, readable, until the next feed releases it. */
  out->pkt = b->pkt;
  out->attachments = b->atts;
  out->num_attachments = n;
  return 1;
}

int tc_sio_decoder_feed(tc_sio_decoder_t *d, int binary, const uint8_t *p, size_t len,
                        tc_sio_message_t *out) {
  struct tc__sio_binary *b = d->bin;
  int waiting = b != NULL && b->nbins < b->pkt.attachments;
  int r;
  if (!waiting && b) tc_sio_decoder_reset(d); /* release the previous binary packet */
  if (binary) {
    if (!waiting) {
      r = TC_EPROTO;
      goto fail;
    }
    r = tc_buf_append(&b->bins, p, len);
    if (r < 0) goto fail;
    b->offs[++b->nbins] = b->bins.len;
    if (b->nbins < b->pkt.attachments) return 0;
    r = finish_binary(b, out);
    if (r < 0) goto fail;
    return 1;
  }
  if (waiting) {
    r = TC_EPROTO;
    goto fail;
  }
  tc_sio_packet_t pkt;
  r = tc_sio_packet_decode(p, len, d->max_attachments, &pkt);
  if (r < 0) goto fail;
  if (pkt.type == TC_SIO_BINARY_EVENT || pkt.type == TC_SIO_BINARY_ACK) {
    r = start_binary(d, &pkt, p, len);
    if (r < 0) goto fail;
    return 0;
  }
  out->pkt = pkt;
  out->attachments = NULL;
  out->num_attachments = 0;
  return 1;
fail:
  tc_sio_decoder_reset(d);
  return r;
}
