/* Shared by the fuzz harnesses: libFuzzer's entry point, copies of the input,
 * and a check that aborts. */
#ifndef AZ_FUZZ_H
#define AZ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A fixed "now" for every harness (2026-07-14), so a run replays exactly. */
#define FUZZ_NOW INT64_C(1784000000)

/* Returns the input as a C string in a block of exactly its length + 1, so a
 * read past its end is caught. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	return xstrndup((const char *)data, size);
}

/* Returns all the input's bytes (NUL bytes too) with a NUL after them, as the
 * callers' response buffers have. */
static inline char *fuzz_bytes(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Cuts a string in place at the first newline; returns what follows it, or ""
 * when there is none. */
static inline char *fuzz_cut(char *s)
{
	char *nl = strchr(s, '\n');

	if (!nl)
		return s + strlen(s);
	*nl = '\0';
	return nl + 1;
}

/* Stops the run with a message when a property every input must have does not
 * hold. */
#define FUZZ_CHECK(cond)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "%s:%d: property failed: %s\n", \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

#endif
