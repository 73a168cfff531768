/* Fuzzes JWT decoding and signature checks (src/core/jwt.c) as the simulator
 * checks client assertions. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "jwt.h"
#include "jx.h"

static EVP_PKEY *key; /* one RSA key for every input: signature checks must
			 fail, never crash */

/* Makes the RSA key once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);

	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1 ||
	    EVP_PKEY_keygen(ctx, &key) != 1)
		abort();
	EVP_PKEY_CTX_free(ctx);
	return 0;
}

/* Decodes the input as a token and checks its signature against the key. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = fuzz_str(data, size);
	struct jwt t;

	if (jwt_decode(token, &t)) {
		FUZZ_CHECK(t.header && t.claims && t.signed_part && t.sig);
		(void)jx_str(t.header, "alg");
		(void)jx_str(t.claims, "tid");
		(void)jwt_verify(&t, key);
		jwt_free(&t);
	}
	free(token);
	return 0;
}
