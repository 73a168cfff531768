/* azcmk: protect Azure service data with customer-managed keys. Entry point and command dispatch. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "cmd.h"
#include "demo.h"
#include "ui.h"
#include "i18n.h"
#include "text.h"

static volatile sig_atomic_t canceled;

/* Asks every request in flight to stop (the engine polls the flag). */
static void on_interrupt(int sig)
{
	(void)sig;
	canceled = 1;
}

/* Prints the usage text. */
static void usage(void)
{
	printf(_("Usage: %s [OPTION]...\n"
		 "  or:  %s [OPTION]... COMMAND [ARGUMENT]...\n"
		 "Without a command, the wizard opens (with --demo, on the demo tenant).\n"), cli_program(), cli_program());
	puts(_("Guide an Azure operator through protecting the data of a DICOM service, a\n"
	       "healthcare agent service, Microsoft Foundry or Azure OpenAI with a\n"
	       "customer-managed key held in Azure Key Vault or Managed HSM.\n"));
	puts(_("Commands:\n"
	       "  login                  sign in; show the tenant, principal and method\n"
	       "  account list           list the subscriptions you can see\n"
	       "  check RESOURCE         check every prerequisite of a customer-managed key\n"
	       "                         (RESOURCE: an ARM id, or a name unique in the\n"
	       "                         subscriptions)\n"
	       "  plan RESOURCE          the dry run: the changes that would protect it;\n"
	       "                         -o FILE saves the plan (or the --format chosen)\n"
	       "  apply PLAN             carry a saved plan out, journalled\n"
	       "  rotate RESOURCE        move to another version of its key: --version V,\n"
	       "                         or --new-version to create one\n"
	       "  refresh RESOURCE       save the key it uses again (e.g. DICOM after it\n"
	       "                         lost access to the key)\n"
	       "  audit                  find the resources of the four services without a\n"
	       "                         customer-managed key (or, with --deep, with a\n"
	       "                         broken one) in every subscription you can see\n"
	       "  fix FINDING|RESOURCE   plan the remedy of an audit finding (its id) or\n"
	       "                         of a resource, with sensible defaults, and apply it\n"
	       "  history                every change azcmk made: who, when, what changed;\n"
	       "                         --resource R and --since T choose\n"));
	puts(_("Options:\n"
	       "      --cloud NAME       AzureCloud (default), AzureUSGovernment or\n"
	       "                         AzureChinaCloud\n"
	       "      --tenant ID        the tenant to sign in to (default:\n"
	       "                         AZURE_TENANT_ID, else organizations)\n"
	       "      --auth METHOD      chain (default), environment, managed-identity,\n"
	       "                         cli or device-code\n"
	       "      --ca-file FILE     trust the CA certificates in FILE (default:\n"
	       "                         SSL_CERT_FILE, CURL_CA_BUNDLE, then the system's)\n"
	       "  -o, --output FORMAT    table (default) or json; audit also csv or sarif\n"
	       "      --key URI|NAME     the key (a key URI, or a name with --vault)\n"
	       "      --vault NAME       the vault of --key NAME\n"
	       "      --key-version V    the key version (default: the newest)\n"
	       "      --identity ID      system, or the user-assigned identity to use\n"
	       "                         (ARM id or name)\n"
	       "      --subscription ID  where to look for RESOURCE by name (repeatable)\n"
	       "      --confirm-irreversible\n"
	       "                         accept changes that cannot be undone\n"
	       "      --allow-unknown    check, plan: accept prerequisites azcmk could not\n"
	       "                         judge (a read failed) instead of stopping\n"
	       "      --system-identity keep|off\n"
	       "                         plan, fix: with a user-assigned --identity, keep\n"
	       "                         the system-assigned identity (default) or turn\n"
	       "                         it off once the key is saved\n"
	       "      --create-key NAME  plan: create an RSA key NAME in --vault\n"
	       "      --format FORMAT    plan: text (default), json, arm (an ARM\n"
	       "                         template) or az (an Azure CLI script)\n"
	       "      --show-bodies      plan: each request's whole body, not only a diff\n"
	       "      --yes              apply: do not ask (needed when not on a terminal)\n"
	       "      --resume           apply: continue a plan that stopped\n"
	       "      --propagation-wait S\n"
	       "                         apply: seconds to wait after granting access\n"
	       "                         (default 30)\n"
	       "      --access-wait S    apply: how long a save refused while new access\n"
	       "                         takes effect is tried again (default 600)\n"
	       "      --new-version      rotate: create a new version of the key, use it\n"
	       "      --dry-run          rotate, refresh, fix: print the plan and stop\n"
	       "      --service NAME     audit: dicom, healthbot, foundry or openai\n"
	       "                         (repeatable; default: all four)\n"
	       "      --deep             audit: also check the keys in use\n"
	       "      --fail-on LEVEL    audit: exit 1 on a blocker (default) or warning\n"
	       "      --from FILE        fix: the audit report (-o json) to read (default:\n"
	       "                         the one the last audit kept)\n"
	       "      --resource R       history: the changes of R (ARM id or name)\n"
	       "      --since T          history: changes since T (2026-12-01, a UTC\n"
	       "                         time, or an age such as 12h or 7d)\n"
	       "      --debug            trace every request on standard error, secrets\n"
	       "                         redacted\n"
	       "      --demo             run against the built-in simulated demo tenant\n"
	       "  -h, --help             display this help and exit\n"
	       "  -V, --version          output version information and exit\n"));
	printf(_("Exit status: 0 success (for check: every prerequisite holds), 1 check\n"
		 "found a blocker, audit a finding at --fail-on or above, or a plan cannot\n"
		 "be built, 2 an error or a usage mistake.\n"
		 "\nFull documentation: man %s\n"), cli_program());
}

/* Prints the usage hint after a mistake and returns the usage exit status. */
static int usage_error(void)
{
	fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
	return EXIT_ERROR;
}

/* Reads a --format value; false when it is not one azcmk writes. */
static bool parse_format(const char *text, enum plan_format *out)
{
	static const char *const names[] = { "text", "json", "arm", "az" };

	for (int i = 0; i < 4; i++)
		if (str_ieq(text, names[i])) {
			*out = (enum plan_format)i;
			return true;
		}
	return false;
}

/* Finds the command word (the first argument that is neither an option nor an option's value). */
static const char *command_word(int argc, char **argv)
{
	static const char *const with_value[] = { "--cloud", "--tenant", "--auth", "--ca-file", "--output", "-o", "--key",
		"--vault", "--key-version", "--identity", "--subscription", "--create-key", "--format", "--propagation-wait",
		"--service", "--fail-on", "--from", "--system-identity", "--resource", "--since", "--access-wait", NULL };

	for (int i = 1; i < argc; i++) {
		bool takes = false;

		if (argv[i][0] != '-')
			return argv[i];
		for (int k = 0; with_value[k]; k++)
			takes |= strcmp(argv[i], with_value[k]) == 0;
		i += takes;
	}
	return NULL;
}

/* After the word "rotate", --version V names a key version (as rotate's synopsis says): it becomes --key-version. */
static void rotate_version(int argc, char **argv, const char *cmd)
{
	static char key_version[] = "--key-version";
	bool after = false;

	for (int i = 1; i < argc; i++) {
		if (argv[i] == cmd)
			after = true;
		else if (after && strcmp(argv[i], "--version") == 0)
			argv[i] = key_version;
	}
}

/* Parses the global options; returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, struct cmd_opts *o)
{
	const char *cmd = command_word(argc, argv);
	bool plan_command = cmd && strcmp(cmd, "plan") == 0;
	bool rotate_command = cmd && strcmp(cmd, "rotate") == 0;
	bool audit_command = cmd && strcmp(cmd, "audit") == 0;
	static const struct option opts[] = {
		{ "cloud", required_argument, NULL, 1 }, { "tenant", required_argument, NULL, 2 },
		{ "auth", required_argument, NULL, 3 }, { "ca-file", required_argument, NULL, 4 },
		{ "debug", no_argument, NULL, 5 }, { "output", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 6 }, { "vault", required_argument, NULL, 7 },
		{ "key-version", required_argument, NULL, 8 }, { "identity", required_argument, NULL, 9 },
		{ "subscription", required_argument, NULL, 10 }, { "confirm-irreversible", no_argument, NULL, 11 },
		{ "create-key", required_argument, NULL, 12 }, { "format", required_argument, NULL, 13 },
		{ "yes", no_argument, NULL, 14 }, { "resume", no_argument, NULL, 15 },
		{ "propagation-wait", required_argument, NULL, 16 }, { "new-version", no_argument, NULL, 17 },
		{ "dry-run", no_argument, NULL, 18 }, { "service", required_argument, NULL, 19 },
		{ "deep", no_argument, NULL, 20 }, { "fail-on", required_argument, NULL, 21 },
		{ "from", required_argument, NULL, 22 }, { "demo", no_argument, NULL, 23 },
		{ "system-identity", required_argument, NULL, 24 }, { "resource", required_argument, NULL, 25 },
		{ "since", required_argument, NULL, 26 }, { "show-bodies", no_argument, NULL, 27 },
		{ "allow-unknown", no_argument, NULL, 28 }, { "access-wait", required_argument, NULL, 29 },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 } };
	int c;

	if (rotate_command)
		rotate_version(argc, argv, cmd);

	while ((c = getopt_long(argc, argv, "o:hV", opts, NULL)) != -1) {
		switch (c) {
		case 1: o->cloud = optarg; break;
		case 2: o->tenant = optarg; break;
		case 3:
			if (!cmd_parse_auth(optarg, &o->auth)) {
				cli_error(_("invalid --auth '%s': use chain, environment, managed-identity, cli or device-code"), optarg);
				return usage_error();
			}
			break;
		case 4: o->ca_file = optarg; break;
		case 6:
			if (str_istarts(optarg, "https://"))
				o->key_uri = optarg;
			else
				o->key = optarg;
			break;
		case 7: o->vault = optarg; break;
		case 8: o->version = optarg; break;
		case 9: o->identity = optarg; break;
		case 10:
			if (o->nsubs == sizeof(o->subscriptions) / sizeof(o->subscriptions[0])) {
				cli_error(_("too many --subscription options (at most %zu)"), o->nsubs);
				return usage_error();
			}
			o->subscriptions[o->nsubs++] = optarg;
			break;
		case 11: o->confirm_irreversible = true; break;
		case 12: o->create_key = optarg; break;
		case 13:
			if (!parse_format(optarg, &o->format)) {
				cli_error(_("invalid --format '%s': use text, json, arm or az"), optarg);
				return usage_error();
			}
			break;
		case 14: o->yes = true; break;
		case 15: o->resume = true; break;
		case 16: {
			int v;

			if (!cli_parse_int(optarg, 0, 3600, &v)) {
				cli_error(_("invalid --propagation-wait '%s': seconds from 0 to 3600"), optarg);
				return usage_error();
			}
			o->propagation_wait = v;
			break;
		}
		case 17: o->new_version = true; break;
		case 18: o->dry_run = true; break;
		case 19: {
			const struct svc_profile *p = svc_by_key(optarg);

			if (!p) {
				cli_error(_("invalid --service '%s': use dicom, healthbot, foundry or openai"), optarg);
				return usage_error();
			}
			o->services |= 1u << p->id;
			break;
		}
		case 20: o->deep = true; break;
		case 22: o->from = optarg; break;
		case 23: o->demo = true; break;
		case 24:
			if (!str_ieq(optarg, "keep") && !str_ieq(optarg, "off")) {
				cli_error(_("invalid --system-identity '%s': use keep or off"), optarg);
				return usage_error();
			}
			o->system_off = str_ieq(optarg, "off");
			o->system_set = true;
			break;
		case 21:
			if (!str_ieq(optarg, "blocker") && !str_ieq(optarg, "warning")) {
				cli_error(_("invalid --fail-on '%s': use blocker or warning"), optarg);
				return usage_error();
			}
			o->fail_on = str_ieq(optarg, "warning") ? SEV_WARNING : SEV_BLOCKER;
			break;
		case 25: o->resource = optarg; break;
		case 26: o->since = optarg; break;
		case 27: o->show_bodies = true; break;
		case 28: o->allow_unknown = true; break;
		case 29: {
			int v;

			if (!cli_parse_int(optarg, 0, 3600, &v)) {
				cli_error(_("invalid --access-wait '%s': seconds from 0 to 3600"), optarg);
				return usage_error();
			}
			o->access_wait = v ? v : -1;
			break;
		}
		case 5: o->debug = true; break;
		case 'o':
			/* For plan, -o names the file, except table and json, the output formats every command takes. */
			if (plan_command && !str_ieq(optarg, "table") && !str_ieq(optarg, "json")) {
				o->plan_file = optarg;
				break;
			}
			if (plan_command) {
				o->format = str_ieq(optarg, "json") ? FMT_JSON : FMT_TEXT;
				break;
			}
			if (audit_command && (str_ieq(optarg, "csv") || str_ieq(optarg, "sarif"))) {
				o->output = str_ieq(optarg, "csv") ? OUT_CSV : OUT_SARIF;
				break;
			}
			if (!str_ieq(optarg, "table") && !str_ieq(optarg, "json")) {
				cli_error(audit_command ? _("invalid --output '%s': use table, json, csv or sarif")
							: _("invalid --output '%s': use table or json"), optarg);
				return usage_error();
			}
			o->output = str_ieq(optarg, "json") ? OUT_JSON : OUT_TABLE;
			break;
		case 'h': usage(); return EXIT_OK;
		case 'V': cli_version(); return EXIT_OK;
		default: return usage_error();
		}
	}
	return -1;
}

/* Parses the options and runs the command. */
int main(int argc, char **argv)
{
	struct cmd_opts o = { .auth = AZ_AUTH_CHAIN, .cancel = &canceled, .propagation_wait = 30, .access_wait = 600,
				.fail_on = SEV_BLOCKER };
	struct sigaction sa;
	struct demo demo;
	char *err = NULL;
	int rc;

	cli_init(argv[0]);
	if ((rc = parse(argc, argv, &o)) >= 0)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (o.demo && demo_start(&demo, &o, &err) != 0) {
		cli_error(_("cannot start the demo tenant: %s"), err);
		free(err);
		curl_global_cleanup();
		return EXIT_ERROR;
	}
	if (optind >= argc)
		rc = ui_run(&o, o.demo);
	else if (strcmp(argv[optind], "login") == 0)
		rc = cmd_login(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "account") == 0)
		rc = cmd_account(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "check") == 0)
		rc = cmd_check(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "plan") == 0)
		rc = cmd_plan(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "apply") == 0)
		rc = cmd_apply(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "rotate") == 0)
		rc = cmd_rotate(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "refresh") == 0)
		rc = cmd_refresh(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "audit") == 0)
		rc = cmd_audit(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "fix") == 0)
		rc = cmd_fix(&o, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "history") == 0)
		rc = cmd_history(&o, argc - optind - 1, argv + optind + 1);
	else {
		cli_error(_("unknown command '%s'"), argv[optind]);
		rc = usage_error();
	}
	if (o.demo)
		demo_stop(&demo);
	curl_global_cleanup();
	return rc < 0 ? EXIT_OK : rc;
}
