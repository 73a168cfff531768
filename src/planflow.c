/* What plan, apply, rotate, refresh and fix share, below the commands: sign in,
 * build a plan, show it, run it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "cli.h"
#include "fetch.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* Prints a usage mistake with the --help hint and returns the usage exit
 * status. */
int flow_mistake(const char *msg)
{
	cli_error("%s", msg);
	fprintf(stderr, _("Try '%s --help' for more information.\n"),
		cli_program());
	return EXIT_ERROR;
}

/* Shows the device-code instructions (Entra's own words, already made
 * terminal-safe). */
static void prompt(const char *message, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "%s\n", message);
	fflush(stderr);
}

/* Says why the token cache was not used (its file was refused or damaged). */
static void cache_warn(const char *message, void *ctx)
{
	(void)ctx;
	cli_error(_("warning: %s"), message);
}

/*
 * Creates the session the options describe, sharing tokens through the token
 * cache (fresh: taking none from it); prints the error and returns NULL on
 * failure.
 */
struct az_session *flow_session_with(const struct cmd_opts *o, bool fresh)
{
	struct az_session_opts so = { 0 };
	struct az_error e = { 0 };
	struct az_session *s;

	so.cloud = o->cloud;
	so.tenant = o->tenant;
	so.auth = o->auth;
	so.interactive = isatty(0) && isatty(2);
	so.ca_file = o->ca_file;
	so.proxy = o->proxy;
	so.client_secret = o->client_secret;
	so.trace = o->debug || o->verbose ? stderr : NULL;
	so.trace_brief = o->verbose && !o->debug;
	so.cancel = o->cancel;
	so.prompt = prompt;
	so.persist_tokens = true;
	so.fresh_tokens = fresh;
	so.warn = cache_warn;
	s = az_session_new(&so, &e);
	if (!s)
		cli_error("%s", e.message);
	az_error_clear(&e);
	return s;
}

/* Creates the session the options describe, using the token cache; prints the
 * error and returns NULL on failure. */
struct az_session *flow_session(const struct cmd_opts *o)
{
	return flow_session_with(o, false);
}

/*
 * Prepares the context for a key azcmk will create: refuses a name already in
 * the vault (creating it would add a version to a key others may use), and
 * otherwise records that the key does not exist yet. Key Vault answers 403,
 * not 404, for a missing key to a caller who may create keys but holds no
 * read on that name; if the caller may not create either, the create step
 * stops the apply before the save. False with *why.
 */
static bool new_key(struct cmk_fetch *f, const char *name, char **why)
{
	if (f->ctx.key_status == 200) {
		*why = xasprintf(
			_("key '%s' already exists in vault %s: name "
			  "it with --key to use it, or choose another "
			  "name for --create-key"),
			name, f->ctx.keyref.vault ? f->ctx.keyref.vault : "");
		return false;
	}
	f->ctx.key_status = f->ctx.versions_status = f->ctx.rotation_status =
		404;
	return true;
}

/* Prints, on standard error, the warnings and notes the plan leaves as they are
 * (nothing azcmk can fix). */
static void print_unfixed(const struct cmk_report *r)
{
	bool colour = report_colour(stderr), any = false;

	if (cli_verbosity() < CLI_NORMAL)
		return;

	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];

		if (f->severity == SEV_BLOCKER || f->rule->fix_step != FIX_NONE)
			continue;
		if (!any)
			fprintf(stderr,
				_("Findings this plan does not change:\n"));
		any = true;
		report_finding(stderr, f, colour);
	}
}

/* The question of a key's other users, asked beside the plan's reads. */
struct shared_ask {
	struct key_ref key; /* the key it asks about */
	struct az_req *q;   /* under way, or NULL */
};

/*
 * Starts asking which resources use the key the options name by URI, beside
 * the plan's reads (one round trip less); otherwise asks nothing yet. Signs in
 * first: -1 with *e when that fails (so that a failing sign-in is not tried
 * again by the reads).
 */
static int shared_start(struct az_session *s, const struct cmd_opts *o,
			struct shared_ask *a, struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	const char *why;

	memset(a, 0, sizeof(*a));
	if (o->create_key || !o->key_uri ||
	    !key_ref_parse(o->key_uri, &sfx, &a->key, &why))
		return 0;
	if (az_session_sign_in(s, e) != 0) {
		key_ref_free(&a->key);
		memset(a, 0, sizeof(*a));
		return -1;
	}
	a->q = cmk_key_users_start(s, &a->key, o->subscriptions, o->nsubs, e);
	az_error_clear(e); /* asked again after the reads */
	return 0;
}

/* Drops a question not taken (the plan failed). */
static void shared_drop(struct az_session *s, struct shared_ask *a)
{
	if (a->q) {
		az_http_abandon(az_session_http(s), &a->q, 1);
		az_req_free(a->q);
	}
	if (a->key.name)
		key_ref_free(&a->key);
	memset(a, 0, sizeof(*a));
}

/* Takes the other users of the fetched key: the answer asked beside the reads
 * when it was about the same key (vault and name), else asked now; *counted as
 * cmk_key_users_finish sets it. */
static struct json_object *shared_take(struct az_session *s,
				       const struct cmd_opts *o,
				       const struct cmk_fetch *f,
				       struct shared_ask *a, int64_t *counted,
				       struct az_error *e)
{
	const struct key_ref *k = &f->ctx.keyref;
	const char *id = jx_str(f->resource, "id");
	struct json_object *names;

	if (a->q && k->vault_uri && k->name &&
	    str_ieq(a->key.vault_uri, k->vault_uri) &&
	    str_ieq(a->key.name, k->name)) {
		names = cmk_key_users_finish(s, a->q, id, counted, e);
		a->q = NULL;
	} else {
		names = cmk_key_users(s, k, id, o->subscriptions, o->nsubs,
				      counted, e);
	}
	shared_drop(s, a);
	return names;
}

/* The other users of a key named in the note, the rest counted. */
#define SHARED_NAMED 10

/*
 * Writes the other users of a key for the note: the first SHARED_NAMED names,
 * then how many more, or, when Resource Graph gave only some of them (counted
 * >= 0), how many it counts in all.
 */
static void shared_names(struct sbuf *b, struct json_object *names,
			 int64_t counted)
{
	size_t n = jx_len(names);

	for (size_t i = 0; i < n && i < SHARED_NAMED; i++)
		sb_printf(b, "%s%s", i ? ", " : "",
			  json_object_get_string(jx_at(names, i)));
	if (counted >= 0)
		/* TRANSLATORS: ends the list of resources a key protects,
		 * when Resource Graph gave only some of them. */
		sb_printf(b,
			  P_(" and more (Resource Graph counts %lld resource "
			     "using the key)",
			     " and more (Resource Graph counts %lld resources "
			     "using the key)",
			     (unsigned long)counted),
			  (long long)counted);
	else if (n > SHARED_NAMED)
		sb_printf(b,
			  P_(" and %zu other", " and %zu others",
			     n - SHARED_NAMED),
			  n - SHARED_NAMED);
}

/* Says when the key already protects other resources (by name): a change to the
 * key affects them too. */
static void warn_shared(struct az_session *s, const struct cmd_opts *o,
			const struct cmk_fetch *f, struct shared_ask *a)
{
	struct az_error e = { 0 };
	int64_t counted = -1;
	struct json_object *names = shared_take(s, o, f, a, &counted, &e);
	struct sbuf b = SBUF_INIT;
	char *shown;

	if (jx_len(names))
		shared_names(&b, names, counted);
	shown = text_sanitize(sb_str(&b), false);
	if (b.len)
		cli_warn(_("Note: key %s in vault %s already protects %s; "
			   "rotating, disabling or deleting it affects "
			   "them too.\n"),
			 f->ctx.keyref.name, f->ctx.keyref.vault, shown);
	else if (names && counted > 1)
		/* Counted, but no name given: still said (one alone may be the
		 * resource being changed). */
		cli_warn(P_("Note: key %s in vault %s already protects %lld "
			    "resource, as Resource Graph counts them; "
			    "rotating, disabling or deleting it affects it "
			    "too.\n",
			    "Note: key %s in vault %s already protects %lld "
			    "resources, as Resource Graph counts them; "
			    "rotating, disabling or deleting it affects them "
			    "too.\n",
			    (unsigned long)counted),
			 f->ctx.keyref.name, f->ctx.keyref.vault,
			 (long long)counted);
	else if (!names)
		cli_warn(
			_("Note: whether key %s protects other resources could "
			  "not be read (%s).\n"),
			f->ctx.keyref.name, e.message ? e.message : "?");
	free(shown);
	sb_free(&b);
	json_object_put(names);
	az_error_clear(&e);
}

/*
 * Tells whether the change turns the system-assigned identity off: as asked
 * (--system-identity), else, for a service whose key setting names no
 * identity (DICOM) given a user-assigned one, yes, as Microsoft's
 * user-assigned DICOM template does (with both on it could use either).
 */
bool flow_system_off(const struct cmd_opts *o, const struct cmk_ctx *c)
{
	if (o->system_set)
		return o->system_off;
	return c->svc && !c->svc->shape->identity && c->user_identity;
}

/*
 * Warns, at plan time, of the permissions you lack for the plan's steps:
 * someone else may apply it, so it is no refusal here; apply refuses.
 */
static void warn_permissions(const struct plan *p, const struct cmk_ctx *c)
{
	char *err = NULL;

	if (!plan_preflight(p, c, NULL, &err, NULL))
		cli_warn(_("Warning: %s\nApply it as someone who has them, or "
			   "ask for them first.\n"),
			 err);
	free(err);
}

/* Returns the plan choices the options make. */
static struct plan_choices choices_of(const struct cmd_opts *o)
{
	struct plan_choices ch = { .create_key = o->create_key != NULL,
				   .new_key_name = o->create_key,
				   .system_off = o->system_off,
				   .allow_unknown = o->allow_unknown,
				   .grant_vault = o->grant_vault,
				   .vault_location = jx_str(o->planned_vault,
							    "location") };

	return ch;
}

/*
 * Builds the plan for RESOURCE from the options, saying nothing: on failure
 * *why says what failed (EXIT_ERROR: a read; EXIT_FINDINGS: no plan can be
 * made). *r is the report the plan answers (free it with cmk_report_free
 * when the answer is EXIT_OK or EXIT_FINDINGS).
 */
static int plan_quietly(struct az_session *s, const struct cmd_opts *o,
			const char *resource, struct cmk_fetch *f,
			struct plan *p, struct cmk_report *r, char **why)
{
	struct cmk_target t = { .resource = resource,
				.key_uri = o->key_uri,
				.vault = o->vault,
				.key = o->key,
				.version = o->version,
				.identity = o->identity,
				.subscriptions = o->subscriptions,
				.nsubs = o->nsubs,
				.confirmed = o->confirm_irreversible,
				.planned_vault = o->planned_vault };
	struct plan_choices ch = choices_of(o);
	struct az_error e = { 0 };

	memset(r, 0, sizeof(*r));
	if (o->create_key && !o->key_uri && !o->key)
		t.key = o->create_key;
	if (cmk_fetch(s, &t, f, &e) != 0) {
		*why = xasprintf(_("cannot plan for '%s': %s"), resource,
				 e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	f->ctx.change = true;
	if (o->create_key && !new_key(f, o->create_key, why))
		return EXIT_FINDINGS;
	ch.system_off = flow_system_off(o, &f->ctx);
	f->ctx.drop_system = ch.system_off &&
			     jx_str(f->ctx.resource, "identity.principalId");
	cmk_check(&f->ctx, r);
	return plan_build(&f->ctx, r, &ch, p, why) == 0 ? EXIT_OK
							: EXIT_FINDINGS;
}

/* Builds the plan for RESOURCE from the options without a word (fix --all):
 * on failure *why says why. */
int flow_plan(struct az_session *s, const struct cmd_opts *o,
	      const char *resource, struct cmk_fetch *f, struct plan *p,
	      char **why)
{
	struct cmk_report r;
	int rc = plan_quietly(s, o, resource, f, p, &r, why);

	cmk_report_free(&r);
	return rc;
}

/*
 * Tells whether a plan flow_plan refused with these options (f as it read
 * it) would be built with the consent to irreversible changes, that is,
 * whether --confirm-irreversible alone stands in its way; no request is made.
 */
bool flow_needs_confirmation(const struct cmd_opts *o, struct cmk_fetch *f)
{
	struct plan_choices ch = choices_of(o);
	struct cmk_report r;
	struct plan p;
	char *why = NULL;
	bool was = f->ctx.confirmed, yes;

	if (o->confirm_irreversible || !f->ctx.resource)
		return false;
	ch.system_off = flow_system_off(o, &f->ctx);
	f->ctx.confirmed = true;
	cmk_check(&f->ctx, &r);
	yes = plan_build(&f->ctx, &r, &ch, &p, &why) == 0;
	plan_free(&p);
	f->ctx.confirmed = was;
	cmk_report_free(&r);
	free(why);
	return yes;
}

/* Builds the plan for RESOURCE from the options; prints why when it cannot.
 * Shared by plan and fix. */
int flow_build(struct az_session *s, const struct cmd_opts *o,
	       const char *resource, struct cmk_fetch *f, struct plan *p)
{
	struct cmk_report r;
	struct shared_ask ask;
	struct az_error e = { 0 };
	char *err = NULL;
	int rc;

	if (shared_start(s, o, &ask, &e) != 0) {
		cli_error(_("cannot plan for '%s': %s"), resource, e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	rc = plan_quietly(s, o, resource, f, p, &r, &err);
	if (rc != EXIT_OK) {
		shared_drop(s, &ask);
		cli_error("%s", err ? err : "?");
		free(err);
		cmk_report_free(&r);
		return rc;
	}
	print_unfixed(&r);
	/* When this command applies the plan, apply's own check refuses it;
	 * warn only when it is not applied here. */
	if (o->plan_only || o->dry_run)
		warn_permissions(p, &f->ctx);
	if (!o->create_key)
		warn_shared(s, o, f, &ask);
	shared_drop(s, &ask);
	cmk_report_free(&r);
	return rc;
}

/* Shows apply's progress on standard error. */
static void progress(const char *line, void *ctx)
{
	(void)ctx;
	if (cli_verbosity() >= CLI_NORMAL)
		fprintf(stderr, "%s\n", line);
}

/* Asks on the terminal before writing; true when the operator types yes. */
static bool confirm(const struct plan *p)
{
	char answer[16] = "", *res = text_sanitize(p->resource_id, false);

	fprintf(stderr,
		P_("Apply %zu step to %s? Type yes to go on: ",
		   "Apply %zu steps to %s? Type yes to go on: ", p->n),
		p->n, res);
	free(res);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	answer[strcspn(answer, "\r\n")] = '\0';
	return str_ieq(answer, "yes") || str_ieq(answer, _("yes"));
}

/*
 * Tells whether apply refused before or instead of changing anything (a
 * plan outdated, locked or not azcmk's, a journal or state directory it
 * cannot trust), so that --resume is no way on.
 */
static bool refusal(const char *code)
{
	static const char *const CODES[] = {
		"PlanOutdated",    "PlanLocked",  "PlanInvalid",
		"JournalInvalid",  "StateUnsafe", "NothingToResume",
		"PreflightFailed", NULL
	};

	for (int i = 0; code && CODES[i]; i++)
		if (str_ieq(code, CODES[i]))
			return true;
	return false;
}

/*
 * Carries a plan out after the confirmation (asked on a terminal, --yes
 * otherwise); plan_path is what --resume needs. Shared by apply, rotate and
 * refresh.
 */
int flow_run(const struct cmd_opts *o, struct az_session *s,
	     const struct plan *p, const char *plan_path)
{
	struct apply_opts ao = { .resume = o->resume,
				 .propagation_wait_s = o->propagation_wait,
				 .save_retry_s = o->access_wait,
				 .progress = progress };
	struct az_error e = { 0 };
	int rc = EXIT_OK;

	if (!o->yes && !isatty(0))
		return flow_mistake(_("this changes Azure: confirm with --yes "
				      "when not on a terminal"));
	if (!o->yes && !confirm(p)) {
		fprintf(stderr, _("Nothing was changed.\n"));
		return EXIT_ERROR;
	}
	if (cmk_apply(s, p, &ao, &e) != 0) {
		cli_error(_("apply stopped: %s"), e.message);
		if (!refusal(e.code))
			fprintf(stderr,
				_("Run '%s apply --resume %s' to continue from "
				  "where it stopped.\n"),
				cli_program(), plan_path);
		rc = e.code && str_ieq(e.code, "VerifyFailed") ? EXIT_FINDINGS
							       : EXIT_ERROR;
	} else {
		char *res = text_sanitize(p->resource_id, false),
		     *key = text_sanitize(p->keyref.name, false);

		printf(_("Done: %s now uses key %s.\n"), res, key);
		free(res);
		free(key);
	}
	az_error_clear(&e);
	return rc;
}

/* Reads the resource and the key it uses now; fails when it uses none. */
static int current(struct az_session *s, const struct cmd_opts *o,
		   const char *resource, struct cmk_fetch *f)
{
	struct cmk_target t = { .resource = resource,
				.subscriptions = o->subscriptions,
				.nsubs = o->nsubs };
	struct az_error e = { 0 };

	if (cmk_fetch(s, &t, f, &e) != 0) {
		cli_error(_("cannot read '%s': %s"), resource, e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	if (!f->ctx.keyref.name) {
		cli_error(_("'%s' does not use a customer-managed key yet: "
			    "protect it first with '%s plan'"),
			  resource, cli_program());
		return EXIT_FINDINGS;
	}
	return EXIT_OK;
}

/* Builds the plan for the chosen key URI and choices; prints why when it
 * cannot. */
static int build(struct az_session *s, const struct cmd_opts *o, const char *id,
		 const char *key_uri, const struct plan_choices *ch,
		 struct cmk_fetch *f, struct plan *p)
{
	struct cmk_target t = { .resource = id,
				.key_uri = key_uri,
				.identity = o->identity,
				.confirmed = o->confirm_irreversible };
	struct az_error e = { 0 };
	struct cmk_report r;
	char *err = NULL;
	int rc;

	if (cmk_fetch(s, &t, f, &e) != 0) {
		cli_error(_("cannot plan for '%s': %s"), id, e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	f->ctx.change = true;
	cmk_check(&f->ctx, &r);
	rc = plan_build(&f->ctx, &r, ch, p, &err) == 0 ? EXIT_OK
						       : EXIT_FINDINGS;
	if (rc != EXIT_OK)
		cli_error("%s", err);
	free(err);
	cmk_report_free(&r);
	return rc;
}

/* Keeps the plan beside its journal, so that --resume has a file to continue
 * from; returns its path or NULL. */
static char *keep_plan(const struct plan *p)
{
	char *err = NULL, *path = cmk_keep_plan(p, &err);

	if (!path)
		cli_error("%s", err);
	free(err);
	return path;
}

/* Shows the plan; with --dry-run stops there, otherwise keeps it and carries it
 * out. Shared by rotate, refresh and fix. */
int flow_show_and_run(const struct cmd_opts *o, struct az_session *s,
		      const struct plan *p, const struct cmk_ctx *c)
{
	char *text = plan_render_text(p, c, o->show_bodies), *path;
	int rc;

	fputs(text, stdout);
	free(text);
	if (o->dry_run) {
		printf(_("Nothing was changed (this is a dry run).\n"));
		return EXIT_OK;
	}
	if (!(path = keep_plan(p)))
		return EXIT_ERROR;
	rc = flow_run(o, s, p, path);
	free(path);
	return rc;
}

/* Returns the key URI (allocated) of the current key at another version, or
 * versionless when version is NULL. */
static char *key_at(const struct cmk_fetch *f, const char *version)
{
	return key_ref_versioned(&f->ctx.keyref, version);
}

/* Plans the move to a version (NULL: versionless) of the key in use, shows it
 * and, unless --dry-run, runs it. */
static int plan_and_run(struct az_session *s, const struct cmd_opts *o,
			const struct cmk_fetch *cur, const char *version,
			const struct plan_choices *ch)
{
	char *uri = key_at(cur, version);
	struct cmk_fetch f;
	struct plan p;
	int rc = build(s, o, jx_str(cur->resource, "id"), uri, ch, &f, &p);

	if (rc == EXIT_OK) {
		rc = flow_show_and_run(o, s, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	free(uri);
	return rc;
}

/* Moves a resource to another version of its key (--version V, or
 * --new-version) with a signed-in session. */
int flow_rotate(struct az_session *s, const struct cmd_opts *o,
		const char *resource)
{
	struct plan_choices ch = { 0 };
	struct cmk_fetch cur;
	int rc = current(s, o, resource, &cur);

	if (rc == EXIT_OK && o->version && cur.ctx.keyref.version &&
	    str_ieq(cur.ctx.keyref.version, o->version)) {
		cli_error(_("'%s' already uses version %s of key %s"), resource,
			  o->version, cur.ctx.keyref.name);
		rc = EXIT_FINDINGS;
	}
	if (rc == EXIT_OK) {
		ch.create_key = o->new_version;
		ch.new_key_name = cur.ctx.keyref.name;
		ch.versionless = o->new_version && !cur.ctx.keyref.version &&
				 !cur.ctx.svc->version_required;
		rc = plan_and_run(s, o, &cur, o->version, &ch);
	}
	cmk_fetch_free(&cur);
	return rc;
}

/* Saves the key a resource uses again, with whatever its prerequisites need
 * first, with a signed-in session. */
int flow_refresh(struct az_session *s, const struct cmd_opts *o,
		 const char *resource)
{
	struct plan_choices ch = { .resave = true };
	struct cmk_fetch cur;
	int rc = current(s, o, resource, &cur);

	if (rc == EXIT_OK)
		rc = plan_and_run(s, o, &cur, cur.ctx.keyref.version, &ch);
	cmk_fetch_free(&cur);
	return rc;
}
