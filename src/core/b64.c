/* Base64 and base64url encoding and decoding (RFC 4648). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "xalloc.h"

static const char STD[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes bytes; url selects the URL alphabet without padding (as JWTs use). */
char *b64_encode(const void *data, size_t len, bool url)
{
	const unsigned char *p = data;
	const char *abc = url ? URL : STD;
	char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 |
			     (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);

		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		if (i + 1 < len)
			*o++ = abc[v >> 6 & 63];
		else if (!url)
			*o++ = '=';
		if (i + 2 < len)
			*o++ = abc[v & 63];
		else if (!url)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Returns the 6-bit value of a character in either alphabet, or -1. */
static int b64_value(char c)
{
	const char *p;

	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	p = c ? strchr(STD, c) : NULL;
	return p ? (int)(p - STD) : -1;
}

/* Decodes either alphabet, padded or not; returns NULL on a bad character. */
unsigned char *b64_decode(const char *text, size_t len, size_t *outlen)
{
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned v = 0;
	int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int d;

		if (text[i] == '=')
			break;
		d = b64_value(text[i]);
		if (d < 0) {
			free(out);
			return NULL;
		}
		v = v << 6 | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	*outlen = n;
	out[n] = '\0';
	return out;
}
