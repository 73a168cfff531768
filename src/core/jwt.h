/* JSON Web Tokens: signing (RS256, PS256), decoding and verifying, with
 * OpenSSL. */
#ifndef AZ_JWT_H
#define AZ_JWT_H

#include <stdbool.h>

#include <json-c/json.h>
#include <openssl/evp.h>

struct jwt {
	struct json_object *header;
	struct json_object *claims;
	char *signed_part; /* "header.payload", the bytes the signature covers
			    */
	unsigned char *sig;
	size_t siglen;
};

char *jwt_sign(EVP_PKEY *key, const char *kid, struct json_object *claims);
char *jwt_sign_header(EVP_PKEY *key, struct json_object *header,
		      struct json_object *claims);
bool jwt_decode(const char *token, struct jwt *out);
bool jwt_verify(const struct jwt *t, EVP_PKEY *key);
void jwt_free(struct jwt *t);

#endif
