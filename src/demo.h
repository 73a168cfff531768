/* azcmk --demo: the simulated demo tenant started as an azcmk-sim process on
 * loopback, and azcmk pointed at it. */
#ifndef AZ_DEMO_H
#define AZ_DEMO_H

#include <sys/types.h>

#include "cred.h"

struct cmd_opts;

/* The running demo tenant, and what the options borrow from it until demo_stop.
 */
struct demo {
	pid_t pid;         /* the azcmk-sim process, or 0 */
	int out_fd;        /* its standard output, kept open until it stops */
	char ca_path[256]; /* the simulator's CA certificate, removed on stop */
	char proxy[64];    /* the simulator's proxy, "http://127.0.0.1:PORT" */
	char *tenant, *client_id,
		*secret; /* the demo operator's, copied from the scenario */
	struct az_client_secret operator; /* points at client_id and secret */
};

int demo_start(struct demo *d, struct cmd_opts *o, char **err);
void demo_stop(struct demo *d);

#endif
