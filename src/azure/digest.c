/* A digest of several fields that names secrets without holding them: the
 * token cache's keys and a credential's identity. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "digest.h"
#include "xalloc.h"

/*
 * Returns the hex SHA-256 of fields (NULL counts as empty), each preceded by
 * its length so that fields cannot run together; NULL when OpenSSL cannot make
 * a digest context. Caller frees.
 */
char *az_digest_fields(const char *const *fields, size_t n)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *hex;

	if (!md)
		return NULL;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (size_t i = 0; i < n; i++) {
		size_t l = fields[i] ? strlen(fields[i]) : 0;

		EVP_DigestUpdate(md, &l, sizeof(l));
		if (l)
			EVP_DigestUpdate(md, fields[i], l);
	}
	EVP_DigestFinal_ex(md, h, &len);
	EVP_MD_CTX_free(md);
	hex = xmalloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	OPENSSL_cleanse(h, sizeof(h));
	return hex;
}
