/* Chunked transfer coding decoder (RFC 9112 section 7.1).
 *
 * A state machine that takes one byte at a time for the framing, so that input may be split
 * anywhere, and copies chunk data in bulk. Size lines and trailers are bounded so that a peer
 * cannot make the decoder read forever without producing body bytes. */
#include "tincan/http.h"

enum {
  S_SIZE_FIRST = 0, /* the first hex digit of a chunk-size */
  S_SIZE,           /* more hex digits, or what may follow them */
  S_SIZE_WS,        /* BWS after the size: only more of it or ';' may follow */
  S_EXT,            /* chunk extensions, skipped up to the line end */
  S_SIZE_LF,        /* CR seen at the end of a size line */
  S_DATA,
  S_DATA_END, /* the CRLF that closes chunk data */
  S_DATA_LF,
  S_TRAILER,      /* start of a trailer line, or the final empty line */
  S_TRAILER_LINE, /* inside a trailer field, discarded */
  S_TRAILER_LF,   /* CR seen at the end of a trailer field */
  S_END_LF,       /* CR of the final empty line */
  S_DONE,
  S_ERR_PROTO,
  S_ERR_BIG,
};

/* A size line is digits plus extensions; nothing legitimate comes near this. */
#define SIZE_LINE_MAX 4096u
/* The whole trailer section, all fields together. */
#define TRAILER_MAX 8192u
/* 16 hex digits fill a uint64_t; more would overflow. */
#define SIZE_DIGITS_MAX 16u

static inline int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Bytes allowed inside a chunk extension or a trailer field: HTAB, SP, VCHAR, obs-text. */
static inline int is_text(uint8_t c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static ssize_t fail(tc_http_chunked_t *d, int err) {
  d->state = err == TC_E2BIG ? S_ERR_BIG : S_ERR_PROTO;
  return err;
}

/* The size line is complete: start the chunk's data, or the trailer after the last chunk. */
static int size_line_done(tc_http_chunked_t *d) {
  d->line_bytes = 0;
  if (d->remaining == 0) {
    d->state = S_TRAILER;
    return 0;
  }
  if (d->max_body && d->remaining > d->max_body - d->total) return TC_E2BIG;
  d->state = S_DATA;
  return 0;
}

/* One framing byte (anything but chunk data). Returns 0 or a negative code. */
static int step(tc_http_chunked_t *d, uint8_t c) {
  switch (d->state) {
    case S_SIZE_FIRST:
    case S_SIZE: {
      int h = hex_value(c);
      if (h >= 0) {
        if (d->line_bytes >= SIZE_DIGITS_MAX) return TC_EPROTO;
        d->line_bytes++;
        d->remaining = (d->remaining << 4) | (uint64_t)h;
        d->state = S_SIZE;
        return 0;
      }
      if (d->state == S_SIZE_FIRST) return TC_EPROTO;
      if (c == '\n') return size_line_done(d);
      if (c == '\r') {
        d->state = S_SIZE_LF;
      } else if (c == ';') {
        d->state = S_EXT;
      } else if (c == ' ' || c == '\t') {
        d->state = S_SIZE_WS;
      } else {
        return TC_EPROTO;
      }
      d->line_bytes++;
      return 0;
    }
    case S_SIZE_WS:
      if (c == ';')
        d->state = S_EXT;
      else if (c != ' ' && c != '\t')
        return TC_EPROTO;
      if (++d->line_bytes > SIZE_LINE_MAX) return TC_EPROTO;
      return 0;
    case S_EXT:
      if (c == '\n') return size_line_done(d);
      if (c == '\r')
        d->state = S_SIZE_LF;
      else if (!is_text(c))
        return TC_EPROTO;
      if (++d->line_bytes > SIZE_LINE_MAX) return TC_EPROTO;
      return 0;
    case S_SIZE_LF:
      if (c != '\n') return TC_EPROTO;
      return size_line_done(d);
    case S_DATA_END:
    case S_DATA_LF:
      /* CRLF closes the data; a bare LF is accepted as a line end. */
      if (c == '\r' && d->state == S_DATA_END) {
        d->state = S_DATA_LF;
        return 0;
      }
      if (c != '\n') return TC_EPROTO;
      d->state = S_SIZE_FIRST;
      return 0;
    case S_TRAILER:
      if (c == '\r') {
        d->state = S_END_LF;
        return 0;
      }
      if (c == '\n') {
        d->state = S_DONE;
        return 0;
      }
      /* Whitespace at the start of a field line is obs-fold, refused here as in headers. */
      if (c == ' ' || c == '\t' || !is_text(c)) return TC_EPROTO;
      d->state = S_TRAILER_LINE;
      break;
    case S_TRAILER_LINE:
      if (c == '\r')
        d->state = S_TRAILER_LF;
      else if (c == '\n')
        d->state = S_TRAILER;
      else if (!is_text(c))
        return TC_EPROTO;
      break;
    case S_TRAILER_LF:
      if (c != '\n') return TC_EPROTO;
      d->state = S_TRAILER;
      break;
    case S_END_LF:
      if (c != '\n') return TC_EPROTO;
      d->state = S_DONE;
      return 0;
    default:
      return TC_EPROTO;
  }
  /* Only trailer bytes get here. */
  if (++d->line_bytes > TRAILER_MAX) return TC_EPROTO;
  return 0;
}

ssize_t tc_http_chunked_feed(tc_http_chunked_t *d, const uint8_t *in, size_t len, tc_buf_t *out) {
  if (d->state == S_ERR_PROTO) return TC_EPROTO;
  if (d->state == S_ERR_BIG) return TC_E2BIG;
  if (d->done) return 0;
  size_t i = 0;
  while (i < len) {
    if (d->state == S_DATA) {
      size_t n = len - i;
      if ((uint64_t)n > d->remaining) n = (size_t)d->remaining;
      /* A NULL out discards the body while still checking its framing. */
      if (out) {
        int r = tc_buf_append(out, in + i, n);
        if (r) return r;
      }
      i += n;
      d->total += n;
      d->remaining -= n;
      if (d->remaining == 0) d->state = S_DATA_END;
      continue;
    }
    int r = step(d, in[i++]);
    if (r) return fail(d, r);
    if (d->state == S_DONE) {
      d->done = 1;
      break;
    }
  }
  return (ssize_t)i;
}
