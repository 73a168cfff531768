/* JSON Web Tokens for the simulator: minting access tokens and checking client assertions. */
#ifndef SIM_JWT_H
#define SIM_JWT_H

#include <stdbool.h>

#include <json-c/json.h>
#include <openssl/evp.h>

struct jwt {
	struct json_object *header;
	struct json_object *claims;
	char *signed_part;           /* "header.payload", the bytes the signature covers */
	unsigned char *sig;
	size_t siglen;
};

char *jwt_sign(EVP_PKEY *key, const char *kid, struct json_object *claims);
bool jwt_decode(const char *token, struct jwt *out);
bool jwt_verify(const struct jwt *t, EVP_PKEY *key);
void jwt_free(struct jwt *t);

#endif
