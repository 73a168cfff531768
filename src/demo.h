/* azcmk --demo: the simulated demo tenant started in-process on loopback, and azcmk pointed at it. */
#ifndef AZ_DEMO_H
#define AZ_DEMO_H

struct sim;
struct cmd_opts;

struct demo {
	struct sim *sim;
	char ca_path[256];    /* the simulator's CA certificate, removed on stop */
};

int demo_start(struct demo *d, struct cmd_opts *o, char **err);
void demo_stop(struct demo *d);

#endif
