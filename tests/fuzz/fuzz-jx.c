/* Fuzzes the strict JSON reader (src/core/jx.c: jx_parse) and the helpers that
 * walk what it returns. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jx.h"

/* Dotted paths the core reads from Azure answers. */
static const char *const PATHS[] = {
	"id",
	"properties.encryption.keyVaultProperties.keyName",
	"identity.type",
	"error.innererror.code",
	"value",
	"properties.capabilities",
	"nextLink",
	"a.b.c.d.e",
	"",
	".",
	"..",
	NULL
};

/* Walks a parsed value with the helpers, then copies, patches and writes it. */
static void walk(struct json_object *o)
{
	struct json_object *copy = jx_copy(o), *again;
	char *err = NULL;
	const char *text;

	for (int i = 0; PATHS[i]; i++) {
		(void)jx_get(o, PATHS[i]);
		(void)jx_str(o, PATHS[i]);
		(void)jx_int(o, PATHS[i], -1);
		(void)jx_bool(o, PATHS[i], false);
		(void)jx_has(o, PATHS[i]);
		(void)jx_array_has_istr(jx_get(o, PATHS[i]),
					"CustomerManagedKey");
	}
	(void)jx_iget(o, "ID");
	for (size_t i = 0; i < jx_len(o) && i < 64; i++)
		(void)jx_text(jx_at(o, i));
	jx_merge_patch(copy, o);
	/* A dotted path through a root that is not an object sets nothing (it
	 * used to abort in json-c). */
	jx_set(copy, "properties.encryption.keySource",
	       json_object_new_string("Microsoft.KeyVault"));
	jx_set(copy, "keySource", json_object_new_string("Microsoft.KeyVault"));
	jx_del(copy, "properties.encryption");
	text = jx_text(o);
	again = jx_parse(text, strlen(text), &err);
	FUZZ_CHECK(again != NULL);
	json_object_put(again);
	json_object_put(copy);
	free(err);
}

/* Parses the input as one JSON text; a refusal must come with a message (NULL
 * without one is JSON null). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_bytes(data, size), *err = NULL;
	struct json_object *o = jx_parse(text, size, &err);

	FUZZ_CHECK(o || err || strstr(text, "null"));
	if (o)
		walk(o);
	json_object_put(o);
	free(err);
	free(text);
	return 0;
}
