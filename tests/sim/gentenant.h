/* A deterministic generator of large simulator tenants, with the findings a
 * shallow audit must report on them. */
#ifndef GENTENANT_H
#define GENTENANT_H

#include <stdbool.h>
#include <stddef.h>

/* The shallow-audit rules the generator counts, one finding per resource and
 * rule. */
enum gen_rule {
	GR_CMK,
	GR_IDENTITY_ENABLED,
	GR_ELIGIBLE,
	GR_READY,
	GR_IRREVERSIBLE,
	GR_SAME_VAULT,
	GR_IDENTITY_ALLOWED,
	GR_N
};

struct gen_counts {
	size_t resources;   /* service resources the operator can read */
	size_t per_rule[8]; /* indexed by enum gen_rule */
};

/*
 * Builds a scenario with nres service resources across nsubs readable
 * subscriptions (plus, when unreadable, one more subscription the operator has
 * no role in); returns the JSON text (malloc'd) and the findings a shallow
 * audit must report. Returns NULL when nsubs is 0 or above 4095. counts may be
 * NULL.
 */
char *gen_tenant(size_t nres, size_t nsubs, bool unreadable,
		 struct gen_counts *counts);
void gen_subscription_id(unsigned sub, char out[37]);

#endif
