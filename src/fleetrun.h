/* Applying a fleet plan: each resource's plan in its own worker process,
 * several at once within the per-vault and per-subscription bounds. */
#ifndef AZ_FLEETRUN_H
#define AZ_FLEETRUN_H

#include "cmd.h"
#include "fleet.h"

int fleet_confirm_and_run(const struct cmd_opts *o, const struct fleet *f,
			  const char *path);
int fleet_apply_file(const struct cmd_opts *o, const char *path,
		     struct json_object *doc);

#endif
