/* Fuzzes the streaming reader of large answers (src/core/jscan.c): list members
 * element by element, string members. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jscan.h"
#include "jx.h"

/* Touches one element as the audit's row callback would: it is written out and
 * its id read. */
static void element(struct json_object *el, void *ud)
{
	size_t *count = ud;

	(void)jx_text(el);
	(void)jx_str(el, "id");
	(*count)++;
}

/* Checks that an element's own bytes read back as the element (what the
 * audit's held rows rely on). */
static void element_text(struct json_object *el, const char *text, size_t len,
			 void *ud)
{
	char *copy = strndup(text, len);
	struct json_object *again = copy ? json_tokener_parse(copy) : NULL;

	(void)ud;
	/* Compared as written (json_object_equal holds NaN unequal to
	 * itself). */
	FUZZ_CHECK(!copy ||
		   strcmp(json_object_to_json_string_ext(
				  el, JSON_C_TO_STRING_PLAIN),
			  json_object_to_json_string_ext(
				  again, JSON_C_TO_STRING_PLAIN)) == 0);
	json_object_put(again);
	free(copy);
}

/* Scans one page for the members paging reads (value, data, nextLink,
 * $skipToken) and one it lacks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Callers pass response bodies with a NUL after them (http.c), as
	 * fuzz_bytes does. */
	char *s = fuzz_bytes(data, size);
	static const char *const LISTS[] = { "value", "data", "", NULL };
	static const char *const STRINGS[] = { "nextLink", "$skipToken",
					       "@odata.nextLink", NULL };
	static const char *const SCALARS[] = { "totalRecords", "count",
					       "resultTruncated", NULL };

	for (int i = 0; LISTS[i]; i++) {
		size_t count = 0;
		long n = jscan_each(s, size, LISTS[i], element, &count);

		FUZZ_CHECK(n == -1 || (n >= 0 && (size_t)n == count));
		FUZZ_CHECK(jscan_each_text(s, size, LISTS[i], element_text,
					   NULL) == n);
	}
	for (int i = 0; STRINGS[i]; i++) {
		char *str = jscan_string(s, size, STRINGS[i]);
		struct json_object *v = jscan_value(s, size, STRINGS[i]);

		/* A string read either way is the same string. */
		FUZZ_CHECK(!str ||
			   (json_object_is_type(v, json_type_string) &&
			    strcmp(str, json_object_get_string(v)) == 0));
		free(str);
		json_object_put(v);
	}
	for (int i = 0; SCALARS[i]; i++)
		json_object_put(jscan_value(s, size, SCALARS[i]));
	free(s);
	return 0;
}
