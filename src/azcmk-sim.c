/* azcmk-sim: the simulated Azure as a standalone server for tests, demos and
 * any Azure client. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"
#include "sim.h"
#include "xalloc.h"

struct sim_args {
	const char *scenario;
	const char *port_file;
	const char *ca_out;
	const char *log;
	int https_port, proxy_port, identity_port, latency_ms;
	bool check_only;
};

/* Prints the usage text. */
static void usage(void)
{
	printf(_("Usage: %s --scenario FILE [OPTION]...\n"), cli_program());
	puts(_("Serve a simulated Azure tenant (Entra ID, Resource Manager, "
	       "Key Vault,\n"
	       "Managed HSM, Microsoft Graph, managed identity) on 127.0.0.1, "
	       "for tests\n"
	       "and demos.\n"));
	puts(_("  -s, --scenario FILE     the tenant to serve (JSON; '-' reads "
	       "standard input)\n"
	       "  -p, --port-file FILE    write the ports as JSON to FILE once "
	       "ready\n"
	       "  -c, --ca-out FILE       write the CA certificate (PEM) "
	       "clients must trust\n"
	       "  -l, --latency-ms N      delay every answer by N "
	       "milliseconds\n"
	       "  -L, --log FILE          append one JSON line per request "
	       "(secrets redacted)\n"
	       "      --https-port N      HTTPS port (default: ephemeral)\n"
	       "      --proxy-port N      CONNECT proxy port (default: "
	       "ephemeral)\n"
	       "      --identity-port N   managed-identity endpoint port "
	       "(default: ephemeral)\n"
	       "      --check             validate the scenario and exit\n"
	       "  -h, --help              display this help and exit\n"
	       "  -V, --version           output version information and "
	       "exit\n"));
	puts(_("The ports are printed on standard output as\n"
	       "{\"https\": N, \"proxy\": N, \"identity\": N}. Point clients "
	       "at the simulator\n"
	       "with HTTPS_PROXY=http://127.0.0.1:PROXY and trust the CA. The "
	       "server stops\n"
	       "cleanly on SIGTERM or SIGINT.\n"));
	printf(_("Exit status: 0 after a clean stop, 1 if the scenario is "
		 "invalid or a server\n"
		 "cannot start, 2 for a usage error.\n\nFull documentation: "
		 "man %s\n"),
	       cli_program());
}

/* Parses a port or delay option; exits with a usage error when it is not a
 * number in range. */
static int int_opt(const char *name, const char *text, int max)
{
	int v;

	if (!cli_parse_int(text, 0, max, &v)) {
		cli_error(_("invalid value '%s' for --%s: expected a whole "
			    "number from 0 to %d"),
			  text, name, max);
		exit(2);
	}
	return v;
}

/* Parses the command line into args; exits on --help, --version and usage
 * errors. */
static void parse_args(int argc, char **argv, struct sim_args *a)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "ca-out", required_argument, NULL, 'c' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "log", required_argument, NULL, 'L' },
		{ "https-port", required_argument, NULL, 1 },
		{ "proxy-port", required_argument, NULL, 2 },
		{ "identity-port", required_argument, NULL, 3 },
		{ "check", no_argument, NULL, 4 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:p:c:l:L:hV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			a->scenario = optarg;
			break;
		case 'p':
			a->port_file = optarg;
			break;
		case 'c':
			a->ca_out = optarg;
			break;
		case 'l':
			a->latency_ms = int_opt("latency-ms", optarg, 600000);
			break;
		case 'L':
			a->log = optarg;
			break;
		case 1:
			a->https_port = int_opt("https-port", optarg, 65535);
			break;
		case 2:
			a->proxy_port = int_opt("proxy-port", optarg, 65535);
			break;
		case 3:
			a->identity_port =
				int_opt("identity-port", optarg, 65535);
			break;
		case 4:
			a->check_only = true;
			break;
		case 'h':
			usage();
			exit(0);
		case 'V':
			cli_version();
			exit(0);
		default:
			fprintf(stderr,
				_("Try '%s --help' for more information.\n"),
				cli_program());
			exit(2);
		}
	}
	if (optind < argc || !a->scenario) {
		cli_error(
			optind < argc
				? _("unexpected argument '%s'")
				: _("no scenario given: use --scenario FILE%s"),
			optind < argc ? argv[optind] : "");
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		exit(2);
	}
}

/* Writes the CA certificate and the port file once the servers are up. */
static bool publish(const struct sim_args *a, struct sim *s)
{
	char *err = NULL, *ports;
	int https, proxy, identity;
	bool ok = true;

	sim_ports(s, &https, &proxy, &identity);
	ports = xasprintf("{\"https\": %d, \"proxy\": %d, \"identity\": %d}\n",
			  https, proxy, identity);
	if (a->ca_out && !cli_write_file(a->ca_out, sim_ca_pem(s), &err))
		ok = false;
	if (ok && a->port_file && !cli_write_file(a->port_file, ports, &err))
		ok = false;
	if (ok) {
		fputs(ports, stdout);
		fflush(stdout);
	} else {
		cli_error("%s", err);
	}
	free(err);
	free(ports);
	return ok;
}

/* Starts the simulator, waits for SIGTERM or SIGINT, and stops it. */
int main(int argc, char **argv)
{
	struct sim_args a = { .latency_ms = -1 };
	struct sim_options o = { 0 };
	struct sim *s;
	sigset_t set;
	char *text, *err = NULL;
	size_t len;
	int sig = 0;

	cli_init(argv[0]);
	parse_args(argc, argv, &a);
	if (!(text = cli_read_file(a.scenario, &len, &err))) {
		cli_error("%s", err);
		free(err);
		return 1;
	}
	if (a.check_only) {
		bool ok = sim_check_scenario(text, len, &err);

		if (!ok)
			cli_error(_("scenario '%s' is invalid: %s"), a.scenario,
				  err);
		free(err);
		free(text);
		return ok ? 0 : 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	o = (struct sim_options){
		text,         len,  a.https_port, a.proxy_port, a.identity_port,
		a.latency_ms, a.log
	};
	if (!(s = sim_start(&o, &err))) {
		cli_error(_("scenario '%s': %s"), a.scenario, err);
		free(err);
		free(text);
		return 1;
	}
	bool published = publish(&a, s);

	if (published)
		sigwait(&set, &sig);
	sim_stop(s);
	free(text);
	return published ? 0 : 1;
}
