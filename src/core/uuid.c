/* UUID formatting: random (version 4) from given bytes, and name-based (version
 * 5). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "uuid.h"

/* Formats 16 bytes as a UUID string with the given version nibble. */
static void uuid_format(const unsigned char in[16], int version,
			char out[UUID_STRLEN])
{
	unsigned char b[16];

	memcpy(b, in, 16);
	b[6] = (unsigned char)((b[6] & 0x0f) | version << 4);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, UUID_STRLEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
		 "02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Formats random bytes (supplied by the caller) as a version 4 UUID. */
void uuid_format_v4(const unsigned char bytes[16], char out[UUID_STRLEN])
{
	uuid_format(bytes, 4, out);
}

/*
 * Derives a stable version 5 UUID from a name (SHA-1 in the URL namespace), so
 * the same scope, principal and role always give the same assignment name.
 */
void uuid_from_name(const char *name, char out[UUID_STRLEN])
{
	static const unsigned char ns_url[16] = { 0x6b, 0xa7, 0xb8, 0x11,
						  0x9d, 0xad, 0x11, 0xd1,
						  0x80, 0xb4, 0x00, 0xc0,
						  0x4f, 0xd4, 0x30, 0xc8 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
	    !EVP_DigestUpdate(ctx, ns_url, sizeof(ns_url)) ||
	    !EVP_DigestUpdate(ctx, name, strlen(name)) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen))
		memset(md, 0, sizeof(md));
	EVP_MD_CTX_free(ctx);
	uuid_format(md, 5, out);
}
