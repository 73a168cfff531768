/* The command line's options: one table saying what each option sets and which
 * commands it means something to. */
#include "config.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleet.h"
#include "i18n.h"
#include "options.h"
#include "plan.h"
#include "text.h"
#include "xalloc.h"

/* The commands that sign in (every one but history, which reads only what azcmk
 * kept, and guard, which only writes a template or a script). */
#define SIGNED                                                         \
	(CMD_WIZARD | CMD_LOGIN | CMD_ACCOUNT | CMD_CHECK | CMD_PLAN | \
	 CMD_APPLY | CMD_ROTATE | CMD_REFRESH | CMD_AUDIT | CMD_FIX |  \
	 CMD_KEYS)
/* Every command that reads Azure or what azcmk kept, and the wizard (the
 * global options' commands; logout and guard take none of them). */
#define EVERY (SIGNED | CMD_HISTORY)
/* The commands that choose a key and judge it before a change. */
#define KEYED (CMD_CHECK | CMD_PLAN | CMD_FIX)
/* The commands that carry a plan out. */
#define RUNS (CMD_APPLY | CMD_ROTATE | CMD_REFRESH | CMD_FIX)

/* Prints the --help hint after a usage mistake and returns the usage exit
 * status. */
static int hint(void)
{
	fprintf(stderr, _("Try '%s --help' for more information.\n"),
		cli_program());
	return EXIT_ERROR;
}

/* Reports a usage mistake (msg allocated, already translated) and returns the
 * usage exit status. */
static int mistake(char *msg)
{
	cli_error("%s", msg);
	free(msg);
	return hint();
}

/* --auth METHOD. */
static int set_auth(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (!cmd_parse_auth(v, &o->auth))
		return mistake(xasprintf(
			_("invalid --auth '%s': use chain, environment, "
			  "managed-identity, cli or device-code"),
			v));
	return 0;
}

/* --key URI|NAME: a key URI, or a key's name in --vault. */
static int set_key(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (str_istarts(v, "https://"))
		o->key_uri = v;
	else
		o->key = v;
	return 0;
}

/* --subscription ID (repeatable). */
static int set_subscription(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (o->nsubs ==
	    sizeof(o->subscriptions) / sizeof(o->subscriptions[0])) {
		cli_error(_("too many --subscription options (at most %zu)"),
			  o->nsubs);
		return hint();
	}
	o->subscriptions[o->nsubs++] = v;
	return 0;
}

/* --format FORMAT (plan). */
static int set_format(struct cmd_opts *o, const char *v, unsigned cmd)
{
	static const char *const names[] = { "text", "json", "arm", "az" };

	(void)cmd;
	for (int i = 0; i < 4; i++)
		if (str_ieq(v, names[i])) {
			o->format = (enum plan_format)i;
			return 0;
		}
	return mistake(xasprintf(
		_("invalid --format '%s': use text, json, arm or az"), v));
}

/* --format FORMAT (guard): arm or az only. */
static int set_guard_format(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (!str_ieq(v, "arm") && !str_ieq(v, "az"))
		return mistake(xasprintf(
			_("invalid --format '%s' for guard: use arm or az"),
			v));
	o->format = str_ieq(v, "az") ? FMT_AZ : FMT_ARM;
	return 0;
}

/* --propagation-wait S. */
static int set_propagation_wait(struct cmd_opts *o, const char *v, unsigned cmd)
{
	int n;

	(void)cmd;
	if (!cli_parse_int(v, 0, 3600, &n))
		return mistake(xasprintf(_("invalid --propagation-wait '%s': "
					   "seconds from 0 to 3600"),
					 v));
	o->propagation_wait = n;
	return 0;
}

/* --access-wait S (0: a refused save is not tried again). */
static int set_access_wait(struct cmd_opts *o, const char *v, unsigned cmd)
{
	int n;

	(void)cmd;
	if (!cli_parse_int(v, 0, 3600, &n))
		return mistake(xasprintf(
			_("invalid --access-wait '%s': seconds from 0 to 3600"),
			v));
	o->access_wait = n ? n : -1;
	return 0;
}

/* --service NAME (repeatable). */
static int set_service(struct cmd_opts *o, const char *v, unsigned cmd)
{
	const struct svc_profile *p = svc_by_key(v);

	(void)cmd;
	if (!p)
		return mistake(xasprintf(_("invalid --service '%s': use dicom, "
					   "healthbot, foundry or openai"),
					 v));
	o->services |= 1u << p->id;
	return 0;
}

/* --vault NAME: once, but for fix --all, which takes one per region. */
static int set_vault(struct cmd_opts *o, const char *v, unsigned cmd)
{
	if (o->nvaults && cmd != CMD_FIX)
		return mistake(xstrdup(_("--vault is given once (only fix "
					 "--all takes one per region)")));
	if (o->nvaults == sizeof(o->vaults) / sizeof(o->vaults[0])) {
		cli_error(_("too many --vault options (at most %zu)"),
			  o->nvaults);
		return hint();
	}
	o->vault = o->vault ? o->vault : v;
	o->vaults[o->nvaults++] = v;
	return 0;
}

/* --create-vault [REGION=]NAME (fix --all, repeatable): a vault name Key
 * Vault takes, for one region or, without one, for the first that needs it. */
static int set_new_vault(struct cmd_opts *o, const char *v, unsigned cmd)
{
	const char *eq = strchr(v, '=');

	(void)cmd;
	if (!plan_vault_name_ok(eq ? eq + 1 : v) || eq == v)
		return mistake(xasprintf(
			_("invalid --create-vault '%s': use NAME or "
			  "REGION=NAME, NAME of 3 to 24 letters, digits and "
			  "dashes, starting with a letter"),
			v));
	if (o->nnew_vaults ==
	    sizeof(o->new_vaults) / sizeof(o->new_vaults[0])) {
		cli_error(_("too many --create-vault options (at most %zu)"),
			  o->nnew_vaults);
		return hint();
	}
	o->new_vaults[o->nnew_vaults++] = v;
	return 0;
}

/* --resource-group RG (fix --all, repeatable). */
static int set_group(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (o->ngroups == sizeof(o->groups) / sizeof(o->groups[0])) {
		cli_error(_("too many --resource-group options (at most %zu)"),
			  o->ngroups);
		return hint();
	}
	o->groups[o->ngroups++] = v;
	return 0;
}

/* --parallel N (apply of a fleet plan, fix --all). */
static int set_parallel(struct cmd_opts *o, const char *v, unsigned cmd)
{
	int n;

	(void)cmd;
	if (!cli_parse_int(v, 1, FLEET_MAX_PARALLEL, &n))
		return mistake(xasprintf(_("invalid --parallel '%s': use a "
					   "number from 1 to %d (at most %d "
					   "run at once on one vault, %d in "
					   "one subscription)"),
					 v, FLEET_MAX_PARALLEL, FLEET_PER_VAULT,
					 FLEET_PER_SUBSCRIPTION));
	o->parallel = n;
	return 0;
}

/* --fail-on LEVEL. */
static int set_fail_on(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (!str_ieq(v, "blocker") && !str_ieq(v, "warning"))
		return mistake(xasprintf(
			_("invalid --fail-on '%s': use blocker or warning"),
			v));
	o->fail_on = str_ieq(v, "warning") ? SEV_WARNING : SEV_BLOCKER;
	return 0;
}

/* --system-identity keep|off. */
static int set_system_identity(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (!str_ieq(v, "keep") && !str_ieq(v, "off"))
		return mistake(xasprintf(
			_("invalid --system-identity '%s': use keep or off"),
			v));
	o->system_off = str_ieq(v, "off");
	o->system_set = true;
	return 0;
}

/* --grant-scope key|vault. */
static int set_grant_scope(struct cmd_opts *o, const char *v, unsigned cmd)
{
	(void)cmd;
	if (!str_ieq(v, "key") && !str_ieq(v, "vault"))
		return mistake(xasprintf(
			_("invalid --grant-scope '%s': use key or vault"), v));
	o->grant_vault = str_ieq(v, "vault");
	return 0;
}

/* --color auto|always|never (beats NO_COLOR and AZURE_CORE_NO_COLOR). */
static int set_color(struct cmd_opts *o, const char *v, unsigned cmd)
{
	static const char *const names[] = { "auto", "always", "never" };

	(void)o;
	(void)cmd;
	for (int i = 0; i < 3; i++)
		if (str_ieq(v, names[i])) {
			cli_set_colour((enum cli_colour)(CLI_COLOUR_AUTO + i));
			return 0;
		}
	return mistake(xasprintf(
		_("invalid --color '%s': use auto, always or never"), v));
}

/* -o, --output: a format, never a file (plan saves with --file). */
static int set_output(struct cmd_opts *o, const char *v, unsigned cmd)
{
	bool table = str_ieq(v, "table"), json = str_ieq(v, "json"),
	     tsv = str_ieq(v, "tsv");

	if (str_ieq(v, "none"))
		o->output = OUT_NONE;
	else if (cmd == CMD_PLAN && !table && !json)
		return mistake(xasprintf(
			_("invalid --output '%s' for plan: use table, json or "
			  "none; to save the plan to a file, use --file %s"),
			v, v));
	else if (cmd == CMD_PLAN)
		o->format = json ? FMT_JSON : FMT_TEXT;
	else if (cmd == CMD_FIX && !table && !json)
		return mistake(xasprintf(
			_("invalid --output '%s' for fix: use table, json or "
			  "none"),
			v));
	else if (cmd == CMD_AUDIT && (str_ieq(v, "csv") || str_ieq(v, "sarif")))
		o->output = str_ieq(v, "csv") ? OUT_CSV : OUT_SARIF;
	else if (!table && !json && !tsv)
		return mistake(xasprintf(
			cmd == CMD_AUDIT
				? _("invalid --output '%s': use table, json, "
				    "tsv, csv, sarif or none")
				: _("invalid --output '%s': use table, json, "
				    "tsv or none"),
			v));
	else
		o->output = json ? OUT_JSON : tsv ? OUT_TSV : OUT_TABLE;
	return 0;
}

/*
 * Takes az's default output, AZURE_CORE_OUTPUT, where it names a format the
 * command writes: json (and az's jsonc), tsv (not plan's), table or none;
 * az's others (yaml, yamlc) leave azcmk's table. An -o given on the command
 * line wins.
 */
static void default_output(struct cmd_opts *o, unsigned cmd)
{
	const char *v = getenv("AZURE_CORE_OUTPUT");
	bool json = v && (str_ieq(v, "json") || str_ieq(v, "jsonc"));

	if (v && str_ieq(v, "none"))
		o->output = OUT_NONE;
	if (v && str_ieq(v, "tsv") && cmd != CMD_PLAN && cmd != CMD_FIX)
		o->output = OUT_TSV;
	if (!json)
		return;
	if (cmd == CMD_PLAN)
		o->format = FMT_JSON;
	else
		o->output = OUT_JSON;
}

/* Where a flag's bool or a plain value's string is kept in struct cmd_opts. */
#define FLAG(field) offsetof(struct cmd_opts, field)
#define TEXT(field) offsetof(struct cmd_opts, field)

/* What one option is: its name, its value, what it sets, and the commands it
 * applies to. */
struct opt_def {
	const char *name;
	int letter; /* its short form, or 0 */
	enum { O_FLAG, O_TEXT, O_CALL, O_HELP, O_VERSION } kind;
	size_t field; /* O_FLAG: the bool; O_TEXT: the const char * */
	int (*set)(struct cmd_opts *o, const char *v, unsigned cmd);
	unsigned commands;
	const char *arg;  /* its value's name in the help, or NULL */
	const char *help; /* what it does (N_), for --help */
};

/*
 * Every option, where it applies. rotate's --version V names a key version
 * (as its synopsis says); everywhere else --version prints azcmk's.
 */
static const struct opt_def OPTS[] = {
	{ "cloud", 0, O_TEXT, TEXT(cloud), NULL, EVERY, "NAME",
	  N_("AzureCloud (default), AzureUSGovernment or AzureChinaCloud") },
	{ "tenant", 0, O_TEXT, TEXT(tenant), NULL, EVERY, "ID",
	  N_("the tenant to sign in to (default: AZURE_TENANT_ID, else "
	     "organizations)") },
	{ "auth", 0, O_CALL, 0, set_auth, EVERY, "METHOD",
	  N_("chain (default), environment, managed-identity, cli or "
	     "device-code") },
	{ "ca-file", 0, O_TEXT, TEXT(ca_file), NULL, EVERY, "FILE",
	  N_("trust the CA certificates in FILE (default: SSL_CERT_FILE, "
	     "CURL_CA_BUNDLE, then the system's)") },
	{ "debug", 0, O_FLAG, FLAG(debug), NULL, EVERY, NULL,
	  N_("trace every request on standard error, secrets redacted") },
	{ "verbose", 0, O_FLAG, FLAG(verbose), NULL, EVERY & ~CMD_WIZARD, NULL,
	  N_("say each request and its answer's status on standard error") },
	{ "only-show-errors", 0, O_FLAG, FLAG(only_show_errors), NULL,
	  (EVERY | CMD_GUARD) & ~CMD_WIZARD, NULL,
	  N_("on standard error, only errors: no warning, note or "
	     "progress") },
	{ "color", 0, O_CALL, 0, set_color, EVERY, "WHEN",
	  N_("colour: auto (when the terminal has colours), always or never; "
	     "beats NO_COLOR") },
	{ "demo", 0, O_FLAG, FLAG(demo), NULL, EVERY, NULL,
	  N_("run against the built-in simulated demo tenant") },
	{ "output", 'o', O_CALL, 0, set_output,
	  CMD_LOGIN | CMD_LOGOUT | CMD_ACCOUNT | CMD_CHECK | CMD_PLAN |
		  CMD_AUDIT | CMD_HISTORY | CMD_KEYS | CMD_FIX,
	  "FORMAT",
	  N_("table (default), json, tsv (as az's), or none to print "
	     "nothing (the exit status tells); audit also csv or sarif; "
	     "plan table, json or none; fix --all table (the review) or "
	     "json") },
	{ "file", 0, O_TEXT, TEXT(plan_file), NULL, CMD_PLAN, "FILE",
	  N_("save the plan to FILE for azcmk apply (or, with --format arm "
	     "or az, the template or the script)") },
	{ "file", 0, O_TEXT, TEXT(plan_file), NULL, CMD_FIX, "FILE",
	  N_("with --all: save the fleet plan to FILE (default: in the "
	     "state directory) for azcmk apply") },
	{ "all", 0, O_FLAG, FLAG(all), NULL, CMD_FIX, NULL,
	  N_("fix every finding of the audit report at once: one fleet "
	     "plan, one review, one apply") },
	{ "create-vault", 0, O_CALL, 0, set_new_vault, CMD_FIX, "[REGION=]NAME",
	  N_("with --all: where no key vault is ready in a region, plan one "
	     "named NAME there (Azure RBAC, soft delete, purge protection; "
	     "needs --vault-group and --confirm-irreversible; repeatable, "
	     "one per region)") },
	{ "vault-group", 0, O_TEXT, TEXT(vault_group), NULL, CMD_FIX, "RG",
	  N_("with --create-vault: the resource group the new vaults go in") },
	{ "vault-subscription", 0, O_TEXT, TEXT(vault_sub), NULL, CMD_FIX, "ID",
	  N_("with --create-vault: the subscription of the new vaults "
	     "(default: the first resource's)") },
	{ "resource-group", 0, O_CALL, 0, set_group, CMD_FIX, "RG",
	  N_("with --all: only the findings in resource group RG "
	     "(repeatable)") },
	{ "parallel", 0, O_CALL, 0, set_parallel, CMD_APPLY | CMD_FIX, "N",
	  N_("a fleet plan: how many resources are applied at once (1 to "
	     "64, default 8; whatever N, at most 8 on one vault and 16 "
	     "writing in one subscription)") },
	{ "key", 0, O_CALL, 0, set_key, KEYED, "URI|NAME",
	  N_("the key (a key URI, or a name with --vault)") },
	{ "vault", 0, O_CALL, 0, set_vault, KEYED, "NAME",
	  N_("the vault of --key NAME; fix --all: where the new keys go "
	     "(repeatable, one per region)") },
	{ "key-version", 0, O_TEXT, TEXT(version), NULL, KEYED, "V",
	  N_("the key version (default: the newest)") },
	{ "identity", 0, O_TEXT, TEXT(identity), NULL,
	  KEYED | CMD_ROTATE | CMD_REFRESH, "ID",
	  N_("system, or the user-assigned identity to use (ARM id or "
	     "name)") },
	{ "subscription", 0, O_CALL, 0, set_subscription,
	  SIGNED & ~(CMD_LOGIN | CMD_ACCOUNT | CMD_APPLY), "ID",
	  N_("where to look for RESOURCE, or keys' VAULT, by name; audit: "
	     "the subscriptions to audit (repeatable)") },
	{ "subscription", 0, O_CALL, 0, set_subscription, CMD_GUARD, "ID",
	  N_("assign at this subscription (default: the current one: the "
	     "deployment's, or az's)") },
	{ "management-group", 0, O_TEXT, TEXT(management_group), NULL,
	  CMD_GUARD, "NAME", N_("assign at this management group instead") },
	{ "deny", 0, O_FLAG, FLAG(deny), NULL, CMD_GUARD, NULL,
	  N_("deny such resources, with a custom definition where the "
	     "built-in one does not allow it (default: audit them)") },
	{ "confirm-irreversible", 0, O_FLAG, FLAG(confirm_irreversible), NULL,
	  KEYED | CMD_ROTATE | CMD_REFRESH, NULL,
	  N_("accept changes that cannot be undone") },
	{ "allow-unknown", 0, O_FLAG, FLAG(allow_unknown), NULL, KEYED, NULL,
	  N_("accept prerequisites azcmk could not judge (a read failed) "
	     "instead of stopping") },
	{ "system-identity", 0, O_CALL, 0, set_system_identity, KEYED,
	  "keep|off",
	  N_("with a user-assigned --identity, keep the system-assigned "
	     "identity (default) or turn it off once the key is saved") },
	{ "grant-scope", 0, O_CALL, 0, set_grant_scope, CMD_PLAN | CMD_FIX,
	  "key|vault",
	  N_("on a vault with Azure RBAC, grant the role on the key alone "
	     "(default) or on the whole vault (one grant a shared "
	     "--identity can use for every key there)") },
	{ "create-key", 0, O_TEXT, TEXT(create_key), NULL, CMD_PLAN | CMD_FIX,
	  "NAME", N_("create an RSA key NAME in --vault") },
	{ "format", 0, O_CALL, 0, set_format, CMD_PLAN, "FORMAT",
	  N_("text (default), json, arm (an ARM template) or az (an Azure "
	     "CLI script)") },
	{ "format", 0, O_CALL, 0, set_format, CMD_FIX, "FORMAT",
	  N_("with --all and --file: json (default: the fleet plan azcmk "
	     "apply reads) or az (an Azure CLI script, one function per "
	     "resource)") },
	{ "format", 0, O_CALL, 0, set_guard_format, CMD_GUARD, "FORMAT",
	  N_("arm (default: an ARM template) or az (an Azure CLI script)") },
	{ "show-bodies", 0, O_FLAG, FLAG(show_bodies), NULL,
	  CMD_PLAN | CMD_ROTATE | CMD_REFRESH | CMD_FIX, NULL,
	  N_("each request's whole body, not only a diff") },
	{ "yes", 0, O_FLAG, FLAG(yes), NULL, RUNS, NULL,
	  N_("do not ask (needed when not on a terminal)") },
	{ "resume", 0, O_FLAG, FLAG(resume), NULL, CMD_APPLY, NULL,
	  N_("continue a plan that stopped") },
	{ "propagation-wait", 0, O_CALL, 0, set_propagation_wait,
	  RUNS | CMD_WIZARD, "S",
	  N_("seconds to wait after granting access (default 30)") },
	{ "access-wait", 0, O_CALL, 0, set_access_wait, RUNS | CMD_WIZARD, "S",
	  N_("how long a save refused while new access takes effect is tried "
	     "again, in seconds (default 600)") },
	{ "new-version", 0, O_FLAG, FLAG(new_version), NULL, CMD_ROTATE, NULL,
	  N_("create a new version of the key, and use it") },
	{ "version", 0, O_TEXT, TEXT(version), NULL, CMD_ROTATE, "V",
	  N_("the key version to move to") },
	{ "dry-run", 0, O_FLAG, FLAG(dry_run), NULL,
	  CMD_ROTATE | CMD_REFRESH | CMD_FIX, NULL,
	  N_("print the plan and stop") },
	{ "service", 0, O_CALL, 0, set_service, CMD_AUDIT | CMD_GUARD | CMD_FIX,
	  "NAME",
	  N_("dicom, healthbot, foundry or openai (repeatable; default: all "
	     "four)") },
	{ "deep", 0, O_FLAG, FLAG(deep), NULL, CMD_AUDIT, NULL,
	  N_("also check the keys in use") },
	{ "fail-on", 0, O_CALL, 0, set_fail_on, CMD_AUDIT, "LEVEL",
	  N_("exit 1 on a blocker (default) or a warning") },
	{ "from", 0, O_TEXT, TEXT(from), NULL, CMD_FIX, "FILE",
	  N_("the audit report (-o json) to read (default: the one the last "
	     "audit kept)") },
	{ "fresh", 0, O_FLAG, FLAG(fresh), NULL, CMD_FIX, NULL,
	  N_("with --all: audit now, as azcmk audit with the same "
	     "--subscription and --service, keep that report as the last "
	     "audit's, and plan from it (not with --from)") },
	{ "resource", 0, O_TEXT, TEXT(resource), NULL, CMD_HISTORY, "R",
	  N_("the changes of R (ARM id or name)") },
	{ "since", 0, O_TEXT, TEXT(since), NULL, CMD_HISTORY, "T",
	  N_("changes since T (2026-12-01, a UTC time, or an age such as 12h "
	     "or 7d)") },
	{ "versions", 0, O_TEXT, TEXT(versions_of), NULL, CMD_KEYS, "KEY",
	  N_("list the versions of KEY, newest first") },
	{ "help", 'h', O_HELP, 0, NULL, EVERY | CMD_LOGOUT | CMD_GUARD, NULL,
	  N_("display this help and exit") },
	{ "version", 'V', O_VERSION, 0, NULL,
	  (EVERY | CMD_LOGOUT | CMD_GUARD) & ~CMD_ROTATE, NULL,
	  N_("output version information and exit") },
};

#define NOPTS (sizeof(OPTS) / sizeof(OPTS[0]))

/* Returns the commands that take -o, as OPTS says. */
static unsigned output_commands(void)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (OPTS[i].letter == 'o')
			return OPTS[i].commands;
	return 0;
}

/* Finds the definition of a long option as a command sees it (rotate's
 * --version is its own). */
static const struct opt_def *find_long(const char *name, size_t len,
				       unsigned cmd)
{
	const struct opt_def *any = NULL;

	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(OPTS[i].name) == len &&
		    strncmp(OPTS[i].name, name, len) == 0) {
			if (OPTS[i].commands & cmd)
				return &OPTS[i];
			any = any ? any : &OPTS[i];
		}
	return any;
}

/* Tells whether a word of the command line is an option that takes the next
 * word as its value. */
static bool takes_next(const char *word, unsigned cmd)
{
	const struct opt_def *d = NULL;

	if (strncmp(word, "--", 2) == 0 && word[2] && !strchr(word, '='))
		d = find_long(word + 2, strlen(word + 2), cmd);
	else if (word[0] == '-' && word[1] && word[1] != '-' && !word[2])
		for (size_t i = 0; i < NOPTS && !d; i++)
			d = OPTS[i].letter == word[1] ? &OPTS[i] : NULL;
	return d && (d->kind == O_TEXT || d->kind == O_CALL);
}

/* Finds the command word: the first argument that is neither an option nor an
 * option's value. */
static const char *command_word(int argc, char **argv, int *at)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (argv[i][0] != '-' || !argv[i][1]) {
			*at = i;
			return argv[i];
		}
		i += takes_next(argv[i], CMD_WIZARD) ? 1 : 0;
	}
	*at = -1;
	return NULL;
}

/* Builds getopt's table for one command: each name once, as that command sees
 * it; index is into OPTS. */
static struct option *getopt_table(unsigned cmd, size_t *index)
{
	struct option *t = calloc(NOPTS + 1, sizeof(*t));
	size_t n = 0;

	if (!t)
		abort();
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *d =
			find_long(OPTS[i].name, strlen(OPTS[i].name), cmd);

		if (d != &OPTS[i])
			continue;
		t[n].name = d->name;
		t[n].has_arg = d->kind == O_TEXT || d->kind == O_CALL
				       ? required_argument
				       : no_argument;
		t[n].val = 256 + (int)n;
		index[n++] = i;
	}
	return t;
}

/* Sets what one option given on the command line sets; -1 to go on, else an
 * exit status. */
static int apply_opt(const struct opt_def *d, const char *arg, unsigned cmd,
		     const char *cmd_name, struct cmd_opts *o)
{
	if (!(d->commands & cmd)) {
		char *what = cmd_name ? xasprintf(_("azcmk %s"), cmd_name)
				      : xstrdup(_("the wizard"));

		cli_error(_("option --%s does not apply to %s"), d->name, what);
		free(what);
		return hint();
	}
	switch (d->kind) {
	case O_FLAG:
		*(bool *)((char *)o + d->field) = true;
		return -1;
	case O_TEXT:
		*(const char **)((char *)o + d->field) = arg;
		return -1;
	case O_CALL:
		return d->set(o, arg, cmd) == 0 ? -1 : EXIT_ERROR;
	case O_HELP:
		o->help = true;
		return -1;
	case O_VERSION:
		o->show_version = true;
		return -1;
	}
	return -1;
}

/*
 * Parses the command line for the command it names (found first, so that
 * each option is read as that command reads it), sets o and *cmd_at (the
 * index of the command word, or -1 for the wizard); returns -1 to go on,
 * else an exit status. An option that means nothing to the command is a
 * usage mistake, not silently ignored.
 */
int options_parse(int argc, char **argv, const struct cmd_def *cmds,
		  size_t ncmds, struct cmd_opts *o,
		  const struct cmd_def **which)
{
	int at, c, rc = -1;
	const char *word = command_word(argc, argv, &at);
	unsigned cmd = CMD_WIZARD;
	size_t index[NOPTS];
	struct option *table;

	*which = NULL;
	for (size_t i = 0; word && i < ncmds; i++)
		if (strcmp(cmds[i].name, word) == 0)
			*which = &cmds[i];
	if (word && !*which) {
		cli_error(_("unknown command '%s'"), word);
		return hint();
	}
	if (*which)
		cmd = (*which)->bit;
	if (output_commands() & cmd)
		default_output(o, cmd);
	table = getopt_table(cmd, index);
	while (rc < 0 &&
	       (c = getopt_long(argc, argv, "o:hV", table, NULL)) != -1) {
		const struct opt_def *d = NULL;

		if (c >= 256)
			d = &OPTS[index[c - 256]];
		for (size_t i = 0; c < 256 && i < NOPTS && !d; i++)
			d = OPTS[i].letter == c ? &OPTS[i] : NULL;
		rc = d ? apply_opt(d, optarg, cmd,
				   *which ? (*which)->name : NULL, o)
		       : hint();
	}
	free(table);
	return rc;
}

/* Prints text wrapped at 79 display columns: the first line from where the
 * cursor is (column indent), the others indented by indent columns; a
 * newline in text starts a new line. */
void help_print(FILE *out, int indent, const char *text)
{
	const char *p = text;
	bool first = true;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p), take;

		take = n ? text_break(p, n, 79 - indent) : 0;
		if (!first && take)
			fprintf(out, "%*s", indent, "");
		while (take && p[take - 1] == ' ')
			take--;
		fprintf(out, "%.*s\n", (int)take, p);
		p += take;
		while (*p == ' ')
			p++;
		if (*p == '\n')
			p++;
		first = false;
	}
}

/* Tells whether an option applies to every command (the global options). */
static bool global(const struct opt_def *d)
{
	return d->kind == O_HELP || d->kind == O_VERSION ||
	       (d->commands & EVERY) == EVERY;
}

/* Prints one option: its names and value's name, then its help from column
 * 25 (on the next line when the names reach it). */
static void option_line(FILE *out, const struct opt_def *d)
{
	char *left =
		xasprintf("  %c%c%s--%s%s%s", d->letter ? '-' : ' ',
			  d->letter ? d->letter : ' ', d->letter ? ", " : "  ",
			  d->name, d->arg ? " " : "", d->arg ? d->arg : "");
	int w = text_width(left);

	fputs(left, out);
	if (w >= 24)
		fprintf(out, "\n%25s", "");
	else
		fprintf(out, "%*s", 25 - w, "");
	help_print(out, 25, _(d->help));
	free(left);
}

/* Prints the options a command takes, its own first and then the global ones;
 * for the wizard (CMD_WIZARD), every option it takes under one heading. */
void options_print(FILE *out, unsigned cmd)
{
	bool own = false;

	if (cmd == CMD_WIZARD) {
		fputs(_("Options (of the wizard, and global):\n"), out);
		for (size_t i = 0; i < NOPTS; i++)
			if (OPTS[i].commands & cmd)
				option_line(out, &OPTS[i]);
		return;
	}
	for (size_t i = 0; i < NOPTS; i++)
		if ((OPTS[i].commands & cmd) && !global(&OPTS[i])) {
			if (!own)
				fputs(_("Options:\n"), out);
			own = true;
			option_line(out, &OPTS[i]);
		}
	fputs(own ? _("\nGlobal options:\n") : _("Global options:\n"), out);
	for (size_t i = 0; i < NOPTS; i++)
		if ((OPTS[i].commands & cmd) && global(&OPTS[i]))
			option_line(out, &OPTS[i]);
}
