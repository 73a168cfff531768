/* Planning one fleet from a given set of audit findings: the one core that
 * fix --all and the wizard's fleet both call. */
#ifndef AZ_FLEETPLAN_H
#define AZ_FLEETPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "cmd.h"
#include "fleet.h"

struct json_object;

/* What a fleet is planned with: the options (--vault, --key, --parallel and
 * the cancel flag), the session that reads, and whether planning may say how
 * far it came on the terminal (never while the wizard holds it). */
struct fleet_request {
	const struct cmd_opts *o;
	struct az_session *s;
	bool quiet; /* no progress line; planning workers' output discarded */
};

int fleet_plan_findings(const struct fleet_request *rq,
			const struct audit_finding *const *items, size_t n,
			struct fleet *out, struct json_object **seen,
			char **err);
char *fleet_keep(struct fleet *f, char **err);
size_t fleet_count_resources(const struct audit_finding *const *items,
			     size_t n);

#endif
