/* Fuzzes base64 and base64url (src/core/b64.c): decoding any text, and encoding
 * then decoding any bytes. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "fuzz.h"

/* Encodes the bytes in one alphabet and checks they decode back unchanged. */
static void round_trip(const uint8_t *data, size_t size, bool url)
{
	char *text = b64_encode(data, size, url);
	size_t n = 0;
	unsigned char *back = b64_decode(text, strlen(text), &n);

	FUZZ_CHECK(back && n == size &&
		   (size == 0 || memcmp(back, data, size) == 0));
	free(back);
	free(text);
}

/* Decodes the input as text (in a block of exactly its size), then round-trips
 * it as bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size ? size : 1);
	size_t n = 0;
	unsigned char *out;

	if (size)
		memcpy(text, data, size);
	out = b64_decode(text, size, &n);
	if (out)
		FUZZ_CHECK(n <= size / 4 * 3 + 2);
	free(out);
	free(text);
	round_trip(data, size, false);
	round_trip(data, size, true);
	return 0;
}
