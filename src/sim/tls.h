/* The simulator's certificates: a CA made at start, a server certificate for
 * Azure's host names, a token-signing key. */
#ifndef SIM_TLS_H
#define SIM_TLS_H

#include <openssl/evp.h>

struct sim_tls {
	char *ca_pem;        /* the CA certificate clients trust */
	char *cert_pem;      /* the server certificate, signed by the CA */
	char *key_pem;       /* the server certificate's private key */
	EVP_PKEY *token_key; /* RSA key that signs access tokens, made on first
				use */
	char token_kid[48];  /* the key id put in token headers */
};

int tls_init(struct sim_tls *t, char **err);
EVP_PKEY *tls_token_key(struct sim_tls *t);
void tls_free(struct sim_tls *t);

#endif
