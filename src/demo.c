/* azcmk --demo: the simulated demo tenant started in-process on loopback, and
 * azcmk pointed at it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "demo.h"
#include "i18n.h"
#include "sim/sim.h" /* the one azcmk source that includes the simulator: --demo starts it in-process */
#include "xalloc.h"

/* The demo tenant (tests/scenarios/demo.json), built in by build-aux/embed.sh.
 */
extern const char demo_scenario[];
extern const size_t demo_scenario_len;

/* Writes the simulator's CA certificate to a private temporary file; false with
 * a message when it cannot. */
static bool write_ca(struct demo *d, char **err)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR")
				  ? getenv("TMPDIR")
				  : "/tmp";
	const char *pem = sim_ca_pem(d->sim);
	size_t len = strlen(pem);
	int fd;

	snprintf(d->ca_path, sizeof(d->ca_path), "%s/azcmk-demo-ca-XXXXXX",
		 tmp);
	fd = mkstemp(d->ca_path);
	if (fd < 0 || write(fd, pem, len) != (ssize_t)len) {
		*err = xasprintf(
			_("cannot write the demo's certificate to '%s': %s"),
			d->ca_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(d->ca_path);
		}
		d->ca_path[0] = '\0';
		return false;
	}
	close(fd);
	return true;
}

/*
 * Points the options at the simulator: its proxy, its CA and the demo
 * operator's credential go to the session through them, never through the
 * environment, which the simulator's threads, already running, may read.
 */
static void point_at(struct demo *d, struct cmd_opts *o)
{
	const char *tenant, *client_id, *secret;
	int https, port, identity;

	sim_ports(d->sim, &https, &port, &identity);
	snprintf(d->proxy, sizeof(d->proxy), "http://127.0.0.1:%d", port);
	/* Copies: the scenario's strings belong to the simulator, whose
	 * requests may change its document. */
	sim_operator(d->sim, &tenant, &client_id, &secret);
	d->tenant = xstrdup(tenant ? tenant : "");
	d->client_id = xstrdup(client_id ? client_id : "");
	d->secret = xstrdup(secret ? secret : "");
	d->operator.client_id = d->client_id;
	d->operator.secret = d->secret;
	o->proxy = d->proxy;
	o->client_secret = &d->operator;
	o->ca_file = d->ca_path;
	o->auth = AZ_AUTH_ENV;
	o->cloud = NULL;
	o->tenant = d->tenant;
}

/*
 * Starts the demo tenant on loopback and points the options at it; -1 with
 * a message when the simulator cannot start. The options borrow from *d
 * until demo_stop.
 */
int demo_start(struct demo *d, struct cmd_opts *o, char **err)
{
	struct sim_options so = { demo_scenario, demo_scenario_len, 0, 0, 0, -1,
				  NULL };

	memset(d, 0, sizeof(*d));
	d->sim = sim_start(&so, err);
	if (!d->sim)
		return -1;
	if (!write_ca(d, err)) {
		sim_stop(d->sim);
		d->sim = NULL;
		return -1;
	}
	point_at(d, o);
	return 0;
}

/* Stops the demo tenant and removes its certificate file. */
void demo_stop(struct demo *d)
{
	if (d->sim)
		sim_stop(d->sim);
	if (d->ca_path[0])
		unlink(d->ca_path);
	free(d->tenant);
	free(d->client_id);
	free(d->secret);
	memset(d, 0, sizeof(*d));
}
