/* Fuzzes the terminal-text rules (src/core/text.c) that every server string
 * shown to the operator goes through. */
#include "config.h"

#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "text.h"

/* Reads the terminal's rules for UTF-8, as azcmk does at start. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!setlocale(LC_ALL, "C.UTF-8"))
		setlocale(LC_ALL, "");
	return 0;
}

/* Tells whether sanitised text is free of C0 and C1 controls and DEL (newlines
 * only when kept). */
static bool clean(const char *s, bool keep_newlines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(keep_newlines && *p == '\n')) ||
		    *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return false;
	return true;
}

/* Runs one string through sanitising, measuring, fitting, breaking and the
 * small parsers of names. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *a = text_sanitize(s, false),
	     *b = text_sanitize(s, true), *low = str_lower(s);
	size_t n = strlen(s);
	int width = size ? data[0] % 100 : 0;
	char loc[16], *pad;

	FUZZ_CHECK(clean(a, false) && clean(b, true));
	FUZZ_CHECK(text_width(s) >= 0 && text_width(a) >= 0);
	FUZZ_CHECK(text_fit(s, n, width) <= n && text_break(s, n, width) <= n);
	FUZZ_CHECK(text_fit(a, strlen(a), width) <= strlen(a) &&
		   text_break(b, strlen(b), width) <= strlen(b));
	pad = text_pad(a, width);
	FUZZ_CHECK(strlen(pad) >= strlen(a));
	location_normalize(s, loc, sizeof(loc));
	FUZZ_CHECK(strlen(loc) < sizeof(loc));
	(void)location_eq(s, low);
	(void)is_uuid(s);
	(void)is_hex32(s);
	(void)str_ieq(s, low);
	(void)str_istarts(s, "https://");
	(void)str_iends(s, "/.default");
	free(pad);
	free(low);
	free(b);
	free(a);
	free(s);
	return 0;
}
