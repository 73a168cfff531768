/* Shared by the unit tests: RSA moduli of known sizes, a fixed clock, and the
 * switches of table rows. */
#ifndef AZ_TEST_FIXTURE_H
#define AZ_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tests' "now": 2026-11-22 00:00:00 UTC. */
#define NOW 1795305600

/* Moduli of 2048, 3072 and 4096 bits (342, 512 and 683 base64url characters);
 * only their length matters. */
#define N2048                                                                  \
	"gAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
#define N3072                                                                  \
	"gAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEB"
#define N4096                                                                  \
	"gAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"                                     \
	"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" \
	"AQEBAQEBAQEBAQE"

/* Tells whether a space-separated list of switches holds opt as a whole word.
 */
static inline bool opt_has(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *s = opts; (s = strstr(s, opt)) != NULL; s += n)
		if ((s == opts || s[-1] == ' ') &&
		    (s[n] == '\0' || s[n] == ' '))
			return true;
	return false;
}

/* One service's fixture: its key (dicom, healthbot, foundry, openai) and a
 * resource as Azure returns it. */
struct svc_fixture {
	const char *svc, *json;
};

/* Returns the JSON of a service's fixture in a table; a table without it is a
 * broken test, which aborts. */
static inline const char *svc_fixture_json(const struct svc_fixture *table,
					   size_t n, const char *svc)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].svc, svc) == 0)
			return table[i].json;
	fprintf(stderr, "no fixture for %s\n", svc);
	abort();
}

#endif
