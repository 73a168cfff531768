/* The simulated Azure: a library used by the azcmk-sim program and by azcmk
 * --demo. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>

struct sim;

/* How to start a simulator. Zero ports mean ephemeral ports. */
struct sim_options {
	const char *scenario_text; /* the scenario as JSON text */
	size_t scenario_len;
	int https_port;
	int proxy_port;
	int identity_port;
	int latency_ms;       /* added to every request; -1 keeps the scenario's
				 setting */
	const char *log_path; /* one JSON line per request, or NULL */
};

struct sim *sim_start(const struct sim_options *opt, char **err);
void sim_ports(const struct sim *s, int *https, int *proxy, int *identity);
const char *sim_ca_pem(const struct sim *s);
void sim_operator(const struct sim *s, const char **tenant,
		  const char **client_id, const char **secret);
void sim_stop(struct sim *s);
bool sim_check_scenario(const char *text, size_t len, char **err);

#endif
