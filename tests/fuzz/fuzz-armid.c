/* Fuzzes ARM id parsing and comparison (src/core/armid.c): input is an id, a
 * newline, then a scope or provider. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "fuzz.h"

/* Parses an id and checks that what comes back is whole. */
static void parse(const char *id)
{
	struct armid a;

	if (!armid_parse(id, &a))
		return;
	FUZZ_CHECK(a.subscription && a.type);
	FUZZ_CHECK(a.collection || a.name);
	if (a.parent)
		FUZZ_CHECK(armid_within(a.parent, "/subscriptions"));
	armid_free(&a);
}

/* Runs the id and the second line through every armid function. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *id = fuzz_str(data, size), *other = fuzz_cut(id), *s;

	parse(id);
	parse(other);
	(void)armid_within(id, id);
	(void)armid_within(id, other);
	(void)armid_within(other, id);
	free(armid_provider_type(id));
	free(armid_extension_scope(id, other));
	s = armid_extension_scope(id, "Microsoft.Authorization");
	if (s)
		FUZZ_CHECK(strlen(s) < strlen(id));
	free(s);
	free(id);
	return 0;
}
