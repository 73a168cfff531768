/* The non-interactive commands and the options they share. */
#ifndef AZ_CMD_H
#define AZ_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "rules.h"
#include "session.h"

struct json_object;

/* Exit statuses: 0 success, 1 findings (check, audit), 2 an error or a usage
 * mistake (keys: 0 or 2). */
enum { EXIT_OK = 0, EXIT_FINDINGS = 1, EXIT_ERROR = 2 };

enum output { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_SARIF, OUT_NONE, OUT_TSV };

/* Tells whether an output is the command's document (JSON, or its list as
 * TSV) rather than text. */
static inline bool output_is_doc(enum output o)
{
	return o == OUT_JSON || o == OUT_TSV;
}

/* What azcmk plan writes: the text preview, the plan (JSON), an ARM template or
 * an az script. */
enum plan_format { FMT_TEXT, FMT_JSON, FMT_ARM, FMT_AZ };

/* The global options every command takes. */
struct cmd_opts {
	const char *cloud;
	const char *tenant;
	enum az_auth auth;
	const char *ca_file;
	bool debug;
	bool verbose;          /* --verbose: a line per request on stderr */
	bool only_show_errors; /* --only-show-errors: no warning, note or
				  progress on stderr */
	enum output output;
	volatile sig_atomic_t *cancel;
	const char *key_uri;    /* --key as a URI */
	const char *key;        /* --key as a name (with --vault) */
	const char *vault;      /* --vault (the first, when repeated) */
	const char *vaults[16]; /* fix --all: every --vault, one per region */
	size_t nvaults;
	const char *version;
	const char *identity;
	const char *subscriptions[32];
	size_t nsubs;
	bool confirm_irreversible;
	bool system_off; /* plan, fix: --system-identity off */
	struct json_object *planned_vault; /* fix --all: the vault the plan
					      creates for this resource
					      (plan_vault_planned), or NULL */
	bool grant_vault; /* plan, fix: --grant-scope vault (the role on the
			     whole vault, not the key) */
	bool system_set;  /* --system-identity was given (keep or off) */
	const char *create_key;   /* plan: create a key of this name */
	const char *plan_file;    /* plan: --file FILE */
	enum plan_format format;  /* plan: --format */
	bool yes;                 /* apply: do not ask */
	bool resume;              /* apply: continue the journal */
	int64_t propagation_wait; /* apply: seconds to wait after granting
				     access */
	int64_t access_wait;      /* apply: how long a save refused while access
				     propagates is retried (-1: not) */
	bool new_version;         /* rotate: create a new key version */
	bool dry_run;      /* rotate, refresh, fix: print the plan and stop */
	unsigned services; /* audit: bit per enum svc_id (0: all) */
	bool deep;         /* audit: check the keys in use */
	enum severity fail_on; /* audit: exit 1 from this severity up */
	const char *from;      /* fix: the audit report to read */
	bool fresh; /* fix --all: audit now, keep it as the last audit, and
		       plan from it */
	bool all;   /* fix --all: every finding, one fleet plan */
	const char *groups[32]; /* fix --all: --resource-group (repeatable) */
	const char *new_vaults[16]; /* fix --all: --create-vault [REGION=]NAME
				       (repeatable) */
	size_t nnew_vaults;
	const char *vault_group; /* fix --all: --vault-group RG */
	const char *vault_sub;   /* fix --all: --vault-subscription ID */
	size_t ngroups;
	int parallel; /* a fleet's apply: resources at once (0: the default) */
	bool demo;    /* run against the built-in demo tenant */
	const char *proxy; /* --demo: the simulator's proxy, for every request
			      (not an option) */
	const struct az_client_secret
		*client_secret; /* --demo: its operator's credential (not an
				   option) */
	const char *resource;   /* history: only the changes of this resource */
	const char *since;      /* history: only the changes since this time */
	const char *versions_of; /* keys: list this key's versions, not the
				    store's keys */
	bool show_bodies;   /* plan: each request's whole body, not only what it
			       changes */
	bool allow_unknown; /* check, plan: accept prerequisites that could not
			       be judged */
	bool deny; /* guard: Deny rather than Audit, where the definition allows
		      it */
	const char *management_group; /* guard: assign at this management
					 group */
	bool plan_only; /* the plan is not applied by this command (azcmk plan)
			 */
	bool help;      /* --help: print the usage and stop */
	bool show_version; /* --version (but after rotate): print the version
			      and stop */
};

int cmd_login(const struct cmd_opts *o, int argc, char **argv);
int cmd_logout(const struct cmd_opts *o, int argc, char **argv);
int cmd_account(const struct cmd_opts *o, int argc, char **argv);
bool cmd_parse_auth(const char *text, enum az_auth *out);
int cmd_check(const struct cmd_opts *o, int argc, char **argv);
int cmd_plan(const struct cmd_opts *o, int argc, char **argv);
int cmd_apply(const struct cmd_opts *o, int argc, char **argv);
int cmd_rotate(const struct cmd_opts *o, int argc, char **argv);
int cmd_refresh(const struct cmd_opts *o, int argc, char **argv);
int cmd_audit(const struct cmd_opts *o, int argc, char **argv);
int audit_fresh(const struct cmd_opts *o);
int cmd_fix(const struct cmd_opts *o, int argc, char **argv);
int cmd_history(const struct cmd_opts *o, int argc, char **argv);
int cmd_keys(const struct cmd_opts *o, int argc, char **argv);
int cmd_guard(const struct cmd_opts *o, int argc, char **argv);
/* cmd-fix.c, for fix --all (cmd-fleet.c) */
struct az_session;
struct az_error;
struct cmk_fetch;
int fix_key_stores(struct az_session *s, const struct cmd_opts *o,
		   struct json_object **stores, struct az_error *e);
char *fix_new_key_vault(struct az_session *s, const struct cmd_opts *o,
			const struct cmk_fetch *cur, struct json_object *stores,
			char **why);
/* cmd-fleet.c: fix --all */
int fleet_fix_all(const struct cmd_opts *o, int argc, char **argv);
/* report.c: findings as text */
bool report_colour(FILE *out);
void report_finding(FILE *out, const struct cmk_finding *f, bool colour);

#endif
