/* Base64 and base64url encoding and decoding (RFC 4648). */
#ifndef AZ_B64_H
#define AZ_B64_H

#include <stdbool.h>
#include <stddef.h>

char *b64_encode(const void *data, size_t len, bool url);
unsigned char *b64_decode(const char *text, size_t len, size_t *outlen);

#endif
