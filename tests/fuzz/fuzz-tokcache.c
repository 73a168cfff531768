/* Fuzzes the token cache's reading of its file (src/azure/tokcache.c), which
 * anyone who could write the state directory may have shaped. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jx.h"
#include "tokcache.h"

/* Tells whether a string is made only of characters from set. */
static int only(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

/* Reads the input as a cache file; every entry kept must be whole, fresh and
 * fit for an Authorization header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_bytes(data, size);
	struct json_object *t = tokcache_parse(text, size, FUZZ_NOW);

	if (t) {
		FUZZ_CHECK(json_object_is_type(t, json_type_object));
		FUZZ_CHECK(json_object_object_length(t) <=
			   TOKCACHE_MAX_ENTRIES);
		json_object_object_foreach(t, k, v)
		{
			const char *tok = jx_str(v, "token");

			FUZZ_CHECK(strlen(k) == 64 &&
				   only(k, "0123456789abcdef"));
			FUZZ_CHECK(tok && *tok &&
				   only(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					     "abcdefghijklmnopqrstuvwxyz"
					     "0123456789-._~+/="));
			FUZZ_CHECK(jx_int(v, "expires_on", 0) > FUZZ_NOW);
		}
	}
	json_object_put(t);
	free(text);
	return 0;
}
