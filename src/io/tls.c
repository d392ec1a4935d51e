/* TLS with OpenSSL over memory BIOs: ciphertext in, plaintext out and back, no sockets here. The
 * I/O layer moves the bytes; this file only turns one kind into the other. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct tc_io_tls_ctx {
  SSL_CTX *ctx;
  int server;
};

struct tc__tls {
  SSL *ssl;
  BIO *rbio;     /* ciphertext from the peer, for OpenSSL to read */
  BIO *wbio;     /* ciphertext OpenSSL wrote, for the peer */
  tc_buf_t wire; /* that ciphertext, moved out of OpenSSL, waiting for the socket */
  unsigned done : 1;
};

static int ctx_new(int server, SSL_CTX **out) {
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return TC_ENOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Partial writes and moving buffers: the memory BIOs take whatever SSL_write produces. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  *out = ctx;
  return 0;
}

int tc_io_tls_server_ctx(const char *cert_file, const char *key_file, tc_io_tls_ctx_t **out) {
  tc_io_tls_ctx_t *t = calloc(1, sizeof *t);
  if (!t) return TC_ENOMEM;
  int r = ctx_new(1, &t->ctx);
  if (r) {
    free(t);
    return r;
  }
  t->server = 1;
  if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1 ||
      SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(t->ctx) != 1) {
    ERR_clear_error();
    tc_io_tls_ctx_free(t);
    return TC_ETLS;
  }
  *out = t;
  return 0;
}

int tc_io_tls_client_ctx(int verify, const char *ca_file, tc_io_tls_ctx_t **out) {
  tc_io_tls_ctx_t *t = calloc(1, sizeof *t);
  if (!t) return TC_ENOMEM;
  int r = ctx_new(0, &t->ctx);
  if (r) {
    free(t);
    return r;
  }
  if (verify) {
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(t->ctx);
    if (ok != 1) {
      ERR_clear_error();
      tc_io_tls_ctx_free(t);
      return TC_ETLS;
    }
  } else {
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
  }
  *out = t;
  return 0;
}

void tc_io_tls_ctx_free(tc_io_tls_ctx_t *t) {
  if (!t) return;
  SSL_CTX_free(t->ctx);
  free(t);
}

tc__tls_t *tc__tls_new(tc_io_tls_ctx_t *ctx, const char *host) {
  tc__tls_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ssl = SSL_new(ctx->ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    return NULL;
  }
  /* An empty memory BIO means "no data yet", not end of file. */
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  if (ctx->server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (host && *host) {
      SSL_set_tlsext_host_name(t->ssl, host);
      /* Check the certificate names the host (when the context verifies at all). */
      SSL_set1_host(t->ssl, host);
    }
  }
  return t;
}

void tc__tls_free(tc__tls_t *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees both BIOs */
  tc_buf_free(&t->wire);
  free(t);
}

tc_buf_t *tc__tls_wire(tc__tls_t *t) {
  return &t->wire;
}

int tc__tls_handshake_done(const tc__tls_t *t) {
  return t->done;
}

/* Moves what OpenSSL wrote for the peer into wire. */
static int drain_wbio(tc__tls_t *t, tc_buf_t *wire) {
  size_t pending;
  while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
    int r = tc_buf_reserve(wire, pending);
    if (r) return r;
    int n = BIO_read(t->wbio, tc_buf_tail(wire), (int)pending);
    if (n <= 0) break;
    tc_buf_commit(wire, (size_t)n);
  }
  return 0;
}

static int handshake(tc__tls_t *t, tc_buf_t *wire) {
  if (t->done) return 0;
  int r = SSL_do_handshake(t->ssl);
  int dr = drain_wbio(t, wire);
  if (dr) return dr;
  if (r == 1) {
    t->done = 1;
    return 0;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  ERR_clear_error();
  return TC_ETLS;
}

int tc__tls_start(tc__tls_t *t, tc_buf_t *wire) {
  return handshake(t, wire);
}

int tc__tls_read(tc__tls_t *t, const uint8_t *p, size_t len, tc_buf_t *plain, tc_buf_t *wire) {
  while (len > 0) {
    int n = BIO_write(t->rbio, p, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n <= 0) return TC_ENOMEM;
    p += n;
    len -= (size_t)n;
  }
  int r = handshake(t, wire);
  if (r || !t->done) return r;
  for (;;) {
    r = tc_buf_reserve(plain, 16384);
    if (r) return r;
    size_t room = tc_buf_avail(plain) > INT32_MAX ? INT32_MAX : tc_buf_avail(plain);
    int n = SSL_read(t->ssl, tc_buf_tail(plain), (int)room);
    if (n > 0) {
      tc_buf_commit(plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    /* Renegotiation or post-handshake messages may have produced bytes for the peer. */
    int dr = drain_wbio(t, wire);
    if (dr) return dr;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return TC_ECLOSED;
    ERR_clear_error();
    return TC_ETLS;
  }
}

int tc__tls_write(tc__tls_t *t, tc_buf_t *plain, tc_buf_t *wire) {
  if (!t->done) return 0;
  while (plain->len > 0) {
    size_t chunk = plain->len > (1u << 20) ? (1u << 20) : plain->len;
    int n = SSL_write(t->ssl, tc_buf_data(plain), (int)chunk);
    if (n <= 0) {
      ERR_clear_error();
      return TC_ETLS;
    }
    tc_buf_consume(plain, (size_t)n);
  }
  return drain_wbio(t, wire);
}

int tc__tls_close_notify(tc__tls_t *t, tc_buf_t *wire) {
  if (!t->done) return 0;
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  return drain_wbio(t, wire);
}
