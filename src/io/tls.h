/* Internal: TLS as a byte transformer between the socket and a connection's handler. */
#ifndef TC_IO_TLS_H
#define TC_IO_TLS_H

#include "tincan/io.h"

typedef struct tc__tls tc__tls_t;

/* host: for clients, the name sent as SNI and checked against the certificate. */
tc__tls_t *tc__tls_new(tc_io_tls_ctx_t *ctx, const char *host);
void tc__tls_free(tc__tls_t *t);
int tc__tls_handshake_done(const tc__tls_t *t);
/* Ciphertext waiting for the socket, owned by the TLS state. */
tc_buf_t *tc__tls_wire(tc__tls_t *t);
/* Client: writes the ClientHello to wire. */
int tc__tls_start(tc__tls_t *t, tc_buf_t *wire);
/* Takes ciphertext from the peer; appends plaintext to plain and any bytes for the peer to wire.
 * 0, TC_ECLOSED (the peer sent close_notify), TC_ETLS, TC_ENOMEM. */
int tc__tls_read(tc__tls_t *t, const uint8_t *p, size_t len, tc_buf_t *plain, tc_buf_t *wire);
/* Encrypts all of plain (once the handshake is done) into wire. */
int tc__tls_write(tc__tls_t *t, tc_buf_t *plain, tc_buf_t *wire);
int tc__tls_close_notify(tc__tls_t *t, tc_buf_t *wire);

#endif
