/* Applying a fleet plan: each resource's plan in its own worker process,
 * several at once within the per-vault and per-subscription bounds. */
#ifndef AZ_FLEETRUN_H
#define AZ_FLEETRUN_H

#include <signal.h>

#include "cmd.h"
#include "fleet.h"

/* Where one resource of a fleet being applied stands, as progress says it. */
enum fleet_row {
	FLEET_ROW_PENDING,
	FLEET_ROW_RUNNING,
	FLEET_ROW_DONE,
	FLEET_ROW_FAILED,
	FLEET_ROW_STOPPED
};

/* One progress event: a resource started or ended (index, state, the step it
 * failed at and Azure's words, both fit for a terminal), or, with index
 * (size_t)-1, the fleet is stopping; with the fleet's counts so far. */
struct fleet_event {
	size_t index;
	enum fleet_row state;
	const char *step;    /* sanitized, or NULL */
	const char *message; /* sanitized, one line, or NULL */
	size_t ended, total, failed, stopped;
	long left_s; /* the time left, estimated, in seconds */
};

/* Who hears a fleet's progress and how it runs: the command line prints it,
 * the wizard draws it. */
struct fleet_hooks {
	void (*event)(const struct fleet_event *ev, void *ctx);
	void *ctx;
	volatile sig_atomic_t *cancel; /* a stop request (else o->cancel) */
	bool quiet;       /* workers' output discarded, signals left alone */
	const bool *only; /* run only these plans (NULL: all) */
};

int fleet_run(const struct cmd_opts *o, const struct fleet *f, const char *path,
	      const struct fleet_hooks *h, char **err);
int fleet_confirm_and_run(const struct cmd_opts *o, const struct fleet *f,
			  const char *path);
int fleet_apply_file(const struct cmd_opts *o, const char *path,
		     struct json_object *doc);

#endif
