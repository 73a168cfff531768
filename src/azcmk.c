/* azcmk: protect Azure service data with customer-managed keys. Entry point and
 * command dispatch. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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
#include "xalloc.h"

static volatile sig_atomic_t canceled;

/* Asks every request in flight to stop (the engine polls the flag). */
static void on_interrupt(int sig)
{
	(void)sig;
	canceled = 1;
}

/* The commands, by the word that names them, with their help. */
static const struct cmd_def COMMANDS[] = {
	{ "login", CMD_LOGIN, cmd_login, "",
	  N_("sign in; show the tenant, principal and method"),
	  N_("Sign in with the method --auth chooses and show who is signed "
	     "in: the tenant, the principal and the method that worked. "
	     "Every other command signs in the same way by itself; login "
	     "checks that it works."),
	  N_("azcmk login\n"
	     "azcmk --auth device-code --tenant contoso.onmicrosoft.com "
	     "login") },
	{ "logout", CMD_LOGOUT, cmd_logout, "",
	  N_("forget the tokens azcmk keeps between runs"),
	  N_("Remove the token cache: the access tokens azcmk keeps in its "
	     "state directory so that its next runs need not sign in again, "
	     "and say what was removed. The next command signs in afresh. "
	     "Exit 0 also when there was none. The Azure CLI stays signed in "
	     "(az logout signs it out)."),
	  N_("azcmk logout") },
	{ "account", CMD_ACCOUNT, cmd_account, "list",
	  N_("list the subscriptions you can see"),
	  N_("List the subscriptions the signed-in principal can see, with "
	     "their state and tenant."),
	  N_("azcmk account list -o json") },
	{ "check", CMD_CHECK, cmd_check, "RESOURCE",
	  N_("check every prerequisite of a customer-managed key"),
	  N_("Check every prerequisite of a customer-managed key on RESOURCE "
	     "(an ARM id, or a name unique in the subscriptions you can see), "
	     "with the key it uses or the one --key names, and say why each "
	     "failing one matters. Nothing is changed. Exit 0 when every "
	     "prerequisite holds, 1 when one fails."),
	  N_("azcmk check dicom-prod\n"
	     "azcmk check oai-summaries --key cmk-openai --vault kv-prod-ai") },
	{ "plan", CMD_PLAN, cmd_plan, "RESOURCE",
	  N_("the dry run: the changes that would protect it"),
	  N_("Build the plan that would protect RESOURCE with the key: every "
	     "request, in order, with what it changes. Nothing is changed; "
	     "--file FILE saves the plan for azcmk apply, and --format exports "
	     "it "
	     "as an ARM template or an Azure CLI script."),
	  N_("azcmk plan dicom-prod --key cmk-dicom --vault kv-prod --file "
	     "dicom.plan\n"
	     "azcmk plan dicom-prod --key cmk-dicom --vault kv-prod --format "
	     "arm") },
	{ "apply", CMD_APPLY, cmd_apply, "PLAN",
	  N_("carry a saved plan out, journalled"),
	  N_("Carry out a plan saved by azcmk plan, or a fleet plan saved by "
	     "azcmk fix --all, after checking that it was not edited and that "
	     "Azure still matches it. Each step is journalled, so a plan that "
	     "stopped continues with --resume, and each change is verified "
	     "before it is called done. A fleet plan's resources are applied "
	     "in parallel (--parallel N)."),
	  N_("azcmk apply dicom.plan\n"
	     "azcmk apply --resume --yes dicom.plan\n"
	     "azcmk apply --parallel 4 fleet.json") },
	{ "rotate", CMD_ROTATE, cmd_rotate, "RESOURCE",
	  N_("move to another version of its key"),
	  N_("Move RESOURCE to another version of the key it uses: --version "
	     "V, or --new-version to create one; the plan is shown and "
	     "applied as apply does."),
	  N_("azcmk rotate dicom-prod --new-version\n"
	     "azcmk rotate dicom-prod --version "
	     "0123456789abcdef0123456789abcdef --dry-run") },
	{ "refresh", CMD_REFRESH, cmd_refresh, "RESOURCE",
	  N_("save the key it uses again (e.g. DICOM after it lost access)"),
	  N_("Save the key setting of RESOURCE again, unchanged: a DICOM "
	     "service that lost access to its key for more than 30 minutes "
	     "stays unavailable until then, even once access is back."),
	  N_("azcmk refresh dicom-prod") },
	{ "audit", CMD_AUDIT, cmd_audit, "",
	  N_("find the resources without a customer-managed key"),
	  N_("Find the resources of the four services without a "
	     "customer-managed key (or, with --deep, with one that stopped "
	     "working) in every subscription you can see, or in those "
	     "--subscription names. Exit 1 when a finding is at --fail-on or "
	     "above; the last report is kept for azcmk fix."),
	  N_("azcmk audit\n"
	     "azcmk audit --deep -o sarif --fail-on warning > azcmk.sarif") },
	{ "fix", CMD_FIX, cmd_fix, "FINDING|RESOURCE",
	  N_("plan the remedy of an audit finding or a resource, and apply it"),
	  N_("Plan the remedy of an audit finding (its id, from the last "
	     "audit or --from) or of a resource, with sensible defaults, show "
	     "it, and apply it once you agree. With --all, one fleet plan for "
	     "every finding the filters select, one review, one parallel "
	     "apply; what cannot be fixed is listed with its reason."),
	  N_("azcmk fix bb5e942e7ab3f896\n"
	     "azcmk fix dicom-prod --dry-run\n"
	     "azcmk fix --all --service openai --dry-run") },
	{ "history", CMD_HISTORY, cmd_history, "",
	  N_("every change azcmk made: who, when, what changed"),
	  N_("List every change azcmk made from this machine: who made it, "
	     "when, and what changed, from the journals it keeps. Nothing is "
	     "asked of Azure."),
	  N_("azcmk history --since 7d\n"
	     "azcmk history --resource dicom-prod -o json") },
	{ "keys", CMD_KEYS, cmd_keys, "VAULT",
	  N_("list the keys of a key vault or Managed HSM"),
	  N_("List the keys of a key vault or Managed HSM (its name or URI) "
	     "with their type, size, state and expiry, or with --versions KEY "
	     "the versions of a key, newest first."),
	  N_("azcmk keys kv-prod\n"
	     "azcmk keys kv-prod --versions cmk-dicom -o json") },
	{ "guard", CMD_GUARD, cmd_guard, "",
	  N_("keep it fixed: Azure Policy against resources without a key"),
	  N_("Write the Azure Policy assignments that report (or, with "
	     "--deny, refuse) resources of the four services without a "
	     "customer-managed key, using Microsoft's built-in policy "
	     "definitions, as an ARM template or an Azure CLI script, at a "
	     "subscription or a management group. Where a built-in definition "
	     "does not allow Deny (DICOM, healthcare agent service), --deny "
	     "writes a custom definition with its rule and effect Deny, and "
	     "assigns it; a note says so. Nothing is asked of "
	     "Azure: guard needs no sign-in and no network; deploy what it "
	     "writes."),
	  N_("azcmk guard > guard.json\n"
	     "azcmk guard --deny --service openai --service foundry --format "
	     "az > guard.sh\n"
	     "azcmk guard --management-group contoso-prod > guard-mg.json") },
};

#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

/* Prints the usage of azcmk: its commands and the wizard's options. */
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
	fputs(_("Commands (azcmk COMMAND --help tells one):\n"), stdout);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char *left = xasprintf("  %s%s%s", COMMANDS[i].name,
				       *COMMANDS[i].operands ? " " : "",
				       COMMANDS[i].operands);
		int w = text_width(left);

		fputs(left, stdout);
		if (w >= 24)
			printf("\n%25s", "");
		else
			printf("%*s", 25 - w, "");
		help_print(stdout, 25, _(COMMANDS[i].summary));
		free(left);
	}
	putchar('\n');
	options_print(stdout, CMD_WIZARD);
	printf(_("\nExit status: 0 success (for check: every prerequisite "
		 "holds), 1 check\n"
		 "found a blocker, audit a finding at --fail-on or above, or a "
		 "plan cannot\n"
		 "be built, 2 an error or a usage mistake.\n"
		 "\nFull documentation: man %s\n"),
	       cli_program());
}

/* Prints one command's help: its synopsis, what it does, its options, the
 * global ones, and examples. */
static void command_usage(const struct cmd_def *c)
{
	const char *ex = _(c->examples);

	printf(_("Usage: %s %s [OPTION]...%s%s\n"), cli_program(), c->name,
	       *c->operands ? " " : "", c->operands);
	help_print(stdout, 0, _(c->about));
	putchar('\n');
	options_print(stdout, c->bit);
	fputs(_("\nExamples:\n"), stdout);
	while (*ex) {
		size_t n = strcspn(ex, "\n");

		printf("  %.*s\n", (int)n, ex);
		ex += n + (ex[n] == '\n');
	}
	printf(_("\nFull documentation: man %s (COMMANDS, %s)\n"),
	       cli_program(), c->name);
}

/* Parses the command line; returns -1 to go on, else an exit status (after
 * --help, --version or a mistake). */
static int parse(int argc, char **argv, struct cmd_opts *o,
		 const struct cmd_def **cmd)
{
	int rc = options_parse(argc, argv, COMMANDS, NCOMMANDS, o, cmd);

	if (rc >= 0)
		return rc;
	if (o->help) {
		if (*cmd)
			command_usage(*cmd);
		else
			usage();
		return EXIT_OK;
	}
	if (o->show_version) {
		cli_version();
		return EXIT_OK;
	}
	return -1;
}

/*
 * Keeps answers of a MiB (a Resource Graph page) out of the heap: glibc maps
 * each allocation over this size on its own and gives it back when freed, but
 * by default raises the bound after the first such free, after which those
 * answers stay in the heap's high water for the rest of the run.
 */
static void keep_big_buffers_apart(void)
{
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
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

	keep_big_buffers_apart();
	cli_init(argv[0]);
	if ((rc = parse(argc, argv, &o, &cmd)) >= 0)
		return rc;
	if (o.verbose && o.only_show_errors) {
		cli_error(_("--verbose and --only-show-errors say opposite "
			    "things: choose one"));
		return EXIT_ERROR;
	}
	cli_set_verbosity(o.only_show_errors ? CLI_ERRORS_ONLY
			  : o.verbose        ? CLI_VERBOSE
					     : CLI_NORMAL);
	/* Machine-readable output reads the same on every machine: its
	 * messages, and the diagnostics that share their catalogue, are in
	 * English whatever the locale (LANGUAGE too is ignored under "C"). */
	if (o.output != OUT_TABLE && o.output != OUT_NONE)
		setlocale(LC_MESSAGES, "C");
	/* -o none: nothing on standard output, as az's; the exit status and
	 * standard error still tell. */
	if (o.output == OUT_NONE && !freopen("/dev/null", "w", stdout)) {
		cli_error(_("cannot send standard output to /dev/null: %s"),
			  strerror(errno));
		return EXIT_ERROR;
	}
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
