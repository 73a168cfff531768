/* azcmk: protect Azure service data with customer-managed keys. Entry point and
 * command dispatch. */
#include "config.h"

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "cmd.h"
#include "demo.h"
#include "i18n.h"
#include "options.h"
#include "run.h"
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
		 "Without a command, the wizard opens (with --demo, on the "
		 "demo tenant).\n"),
	       cli_program(), cli_program());
	puts(_("Guide an Azure operator through protecting the data of a DICOM "
	       "service, a\n"
	       "healthcare agent service, Microsoft Foundry or Azure OpenAI "
	       "with a\n"
	       "customer-managed key held in Azure Key Vault or Managed "
	       "HSM.\n"));
	puts(_("Commands:\n"
	       "  login                  sign in; show the tenant, principal "
	       "and method\n"
	       "  account list           list the subscriptions you can see\n"
	       "  check RESOURCE         check every prerequisite of a "
	       "customer-managed key\n"
	       "                         (RESOURCE: an ARM id, or a name "
	       "unique in the\n"
	       "                         subscriptions)\n"
	       "  plan RESOURCE          the dry run: the changes that would "
	       "protect it;\n"
	       "                         -o FILE saves the plan (or the "
	       "--format chosen)\n"
	       "  apply PLAN             carry a saved plan out, journalled\n"
	       "  rotate RESOURCE        move to another version of its key: "
	       "--version V,\n"
	       "                         or --new-version to create one\n"
	       "  refresh RESOURCE       save the key it uses again (e.g. "
	       "DICOM after it\n"
	       "                         lost access to the key)\n"
	       "  audit                  find the resources of the four "
	       "services without a\n"
	       "                         customer-managed key (or, with "
	       "--deep, with a\n"
	       "                         broken one) in every subscription you "
	       "can see\n"
	       "  fix FINDING|RESOURCE   plan the remedy of an audit finding "
	       "(its id) or\n"
	       "                         of a resource, with sensible "
	       "defaults, and apply it\n"
	       "  history                every change azcmk made: who, when, "
	       "what changed;\n"
	       "                         --resource R and --since T choose\n"
	       "  keys VAULT             list the keys of a key vault or "
	       "Managed HSM (its\n"
	       "                         name or URI), or with --versions KEY, "
	       "a key's\n"
	       "                         versions\n"));
	puts(_("Options:\n"
	       "      --cloud NAME       AzureCloud (default), "
	       "AzureUSGovernment or\n"
	       "                         AzureChinaCloud\n"
	       "      --tenant ID        the tenant to sign in to (default:\n"
	       "                         AZURE_TENANT_ID, else organizations)\n"
	       "      --auth METHOD      chain (default), environment, "
	       "managed-identity,\n"
	       "                         cli or device-code\n"
	       "      --ca-file FILE     trust the CA certificates in FILE "
	       "(default:\n"
	       "                         SSL_CERT_FILE, CURL_CA_BUNDLE, then "
	       "the system's)\n"
	       "  -o, --output FORMAT    table (default) or json; audit also "
	       "csv or sarif\n"
	       "      --key URI|NAME     the key (a key URI, or a name with "
	       "--vault)\n"
	       "      --vault NAME       the vault of --key NAME\n"
	       "      --key-version V    the key version (default: the "
	       "newest)\n"
	       "      --identity ID      system, or the user-assigned identity "
	       "to use\n"
	       "                         (ARM id or name)\n"
	       "      --subscription ID  where to look for RESOURCE, or keys' "
	       "VAULT, by name\n"
	       "                         (repeatable)\n"
	       "      --confirm-irreversible\n"
	       "                         accept changes that cannot be undone\n"
	       "      --allow-unknown    check, plan: accept prerequisites "
	       "azcmk could not\n"
	       "                         judge (a read failed) instead of "
	       "stopping\n"
	       "      --system-identity keep|off\n"
	       "                         plan, fix: with a user-assigned "
	       "--identity, keep\n"
	       "                         the system-assigned identity "
	       "(default) or turn\n"
	       "                         it off once the key is saved\n"
	       "      --create-key NAME  plan: create an RSA key NAME in "
	       "--vault\n"
	       "      --format FORMAT    plan: text (default), json, arm (an "
	       "ARM\n"
	       "                         template) or az (an Azure CLI "
	       "script)\n"
	       "      --show-bodies      plan: each request's whole body, not "
	       "only a diff\n"
	       "      --yes              apply: do not ask (needed when not on "
	       "a terminal)\n"
	       "      --resume           apply: continue a plan that stopped\n"
	       "      --propagation-wait S\n"
	       "                         apply: seconds to wait after granting "
	       "access\n"
	       "                         (default 30)\n"
	       "      --access-wait S    apply: how long a save refused while "
	       "new access\n"
	       "                         takes effect is tried again (default "
	       "600)\n"
	       "      --new-version      rotate: create a new version of the "
	       "key, use it\n"
	       "      --dry-run          rotate, refresh, fix: print the plan "
	       "and stop\n"
	       "      --service NAME     audit: dicom, healthbot, foundry or "
	       "openai\n"
	       "                         (repeatable; default: all four)\n"
	       "      --deep             audit: also check the keys in use\n"
	       "      --fail-on LEVEL    audit: exit 1 on a blocker (default) "
	       "or warning\n"
	       "      --from FILE        fix: the audit report (-o json) to "
	       "read (default:\n"
	       "                         the one the last audit kept)\n"
	       "      --resource R       history: the changes of R (ARM id or "
	       "name)\n"
	       "      --since T          history: changes since T (2026-12-01, "
	       "a UTC\n"
	       "                         time, or an age such as 12h or 7d)\n"
	       "      --versions KEY     keys: list the versions of KEY, "
	       "newest first\n"
	       "      --debug            trace every request on standard "
	       "error, secrets\n"
	       "                         redacted\n"
	       "      --demo             run against the built-in simulated "
	       "demo tenant\n"
	       "  -h, --help             display this help and exit\n"
	       "  -V, --version          output version information and "
	       "exit\n"));
	printf(_("Exit status: 0 success (for check: every prerequisite "
		 "holds), 1 check\n"
		 "found a blocker, audit a finding at --fail-on or above, or a "
		 "plan cannot\n"
		 "be built, 2 an error or a usage mistake.\n"
		 "\nFull documentation: man %s\n"),
	       cli_program());
}

/* The commands, by the word that names them. */
static const struct cmd_def COMMANDS[] = {
	{ "login", CMD_LOGIN, cmd_login },
	{ "account", CMD_ACCOUNT, cmd_account },
	{ "check", CMD_CHECK, cmd_check },
	{ "plan", CMD_PLAN, cmd_plan },
	{ "apply", CMD_APPLY, cmd_apply },
	{ "rotate", CMD_ROTATE, cmd_rotate },
	{ "refresh", CMD_REFRESH, cmd_refresh },
	{ "audit", CMD_AUDIT, cmd_audit },
	{ "fix", CMD_FIX, cmd_fix },
	{ "history", CMD_HISTORY, cmd_history },
	{ "keys", CMD_KEYS, cmd_keys },
};

/* Parses the command line; returns -1 to go on, else an exit status (after
 * --help, --version or a mistake). */
static int parse(int argc, char **argv, struct cmd_opts *o,
		 const struct cmd_def **cmd)
{
	int rc = options_parse(argc, argv, COMMANDS,
			       sizeof(COMMANDS) / sizeof(COMMANDS[0]), o, cmd);

	if (rc >= 0)
		return rc;
	if (o->help) {
		usage();
		return EXIT_OK;
	}
	if (o->show_version) {
		cli_version();
		return EXIT_OK;
	}
	return -1;
}

/* Parses the options and runs the command. */
int main(int argc, char **argv)
{
	struct cmd_opts o = { .auth = AZ_AUTH_CHAIN,
			      .cancel = &canceled,
			      .propagation_wait = 30,
			      .access_wait = 600,
			      .fail_on = SEV_BLOCKER };
	const struct cmd_def *cmd = NULL;
	struct sigaction sa;
	struct demo demo;
	char *err = NULL;
	int rc;

	cli_init(argv[0]);
	if ((rc = parse(argc, argv, &o, &cmd)) >= 0)
		return rc;
	/* Machine-readable output reads the same on every machine: its
	 * messages, and the diagnostics that share their catalogue, are in
	 * English whatever the locale (LANGUAGE too is ignored under "C"). */
	if (o.output != OUT_TABLE)
		setlocale(LC_MESSAGES, "C");
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
	if (!cmd)
		rc = ui_run(&o, o.demo);
	else
		rc = cmd->run(&o, argc - optind - 1, argv + optind + 1);
	if (o.demo)
		demo_stop(&demo);
	curl_global_cleanup();
	return rc < 0 ? EXIT_OK : rc;
}
