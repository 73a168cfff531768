/* azcmk plan and azcmk apply: the dry run that writes nothing, and carrying a saved plan out. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* Prints a usage mistake with the --help hint. */
static int usage_mistake(const char *msg)
{
	cli_error("%s", msg);
	fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
	return EXIT_ERROR;
}

/*
 * Prepares the context for a key azcmk will create: refuses a name already in
 * the vault (creating it would add a version to a key others may use), and
 * otherwise records that the key does not exist yet. Key Vault answers 403,
 * not 404, for a missing key to a caller who may create keys but holds no
 * read on that name; if the caller may not create either, the create step
 * stops the apply before the save.
 */
static bool new_key(struct cmk_fetch *f, const char *name)
{
	if (f->ctx.key_status == 200) {
		cli_error(_("key '%s' already exists in vault %s: name it with --key to use it, or choose another name for "
			    "--create-key"), name, f->ctx.keyref.vault ? f->ctx.keyref.vault : "");
		return false;
	}
	f->ctx.key_status = f->ctx.versions_status = f->ctx.rotation_status = 404;
	return true;
}

/* Prints, on standard error, the warnings and notes the plan leaves as they are (nothing azcmk can fix). */
static void print_unfixed(const struct cmk_report *r)
{
	bool colour = report_colour(stderr), any = false;

	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];

		if (f->severity == SEV_BLOCKER || f->rule->fix_step != FIX_NONE)
			continue;
		if (!any)
			fprintf(stderr, _("Findings this plan does not change:\n"));
		any = true;
		report_finding(stderr, f, colour);
	}
}

/* Says when the key already protects other resources (by name): a change to the key affects them too. */
static void warn_shared(struct az_session *s, const struct cmd_opts *o, const struct cmk_fetch *f)
{
	struct az_error e = { 0 };
	struct json_object *names = cmk_key_users(s, &f->ctx.keyref, jx_str(f->resource, "id"), o->subscriptions,
						  o->nsubs, &e);
	struct sbuf b = SBUF_INIT;
	char *shown;

	for (size_t i = 0; i < jx_len(names); i++)
		sb_printf(&b, "%s%s", i ? ", " : "", json_object_get_string(jx_at(names, i)));
	shown = text_sanitize(sb_str(&b), false);
	if (b.len)
		fprintf(stderr, _("Note: key %s in vault %s already protects %s; rotating, disabling or deleting it affects "
				  "them too.\n"), f->ctx.keyref.name, f->ctx.keyref.vault, shown);
	else if (!names)
		fprintf(stderr, _("Note: whether key %s protects other resources could not be read (%s).\n"), f->ctx.keyref.name,
			e.message ? e.message : "?");
	free(shown);
	sb_free(&b);
	json_object_put(names);
	az_error_clear(&e);
}

/*
 * Tells whether the change turns the system-assigned identity off: as asked
 * (--system-identity), else, for a DICOM service given a user-assigned
 * identity, yes, as Microsoft's user-assigned DICOM template does (its key
 * setting names no identity, so with both on it could use either).
 */
bool cmd_system_off(const struct cmd_opts *o, const struct cmk_ctx *c)
{
	if (o->system_set)
		return o->system_off;
	return c->svc && c->svc->id == SVC_DICOM && c->user_identity;
}

/*
 * Warns, at plan time, of the permissions you lack for the plan's steps:
 * someone else may apply it, so it is no refusal here; apply refuses.
 */
static void warn_permissions(const struct plan *p, const struct cmk_ctx *c)
{
	char *err = NULL;

	if (!plan_preflight(p, c, NULL, &err, NULL))
		fprintf(stderr, _("Warning: %s\nApply it as someone who has them, or ask for them first.\n"), err);
	free(err);
}

/* Builds the plan for RESOURCE from the options; prints why when it cannot. Shared by plan and fix. */
int cmd_build_plan(struct az_session *s, const struct cmd_opts *o, const char *resource, struct cmk_fetch *f,
		 struct plan *p)
{
	struct cmk_target t = { resource, o->key_uri, o->vault, o->key, o->version, o->identity, o->subscriptions,
				o->nsubs, o->confirm_irreversible };
	struct plan_choices ch = { .create_key = o->create_key != NULL, .new_key_name = o->create_key,
				   .system_off = o->system_off, .allow_unknown = o->allow_unknown };
	struct az_error e = { 0 };
	struct cmk_report r;
	char *err = NULL;
	int rc;

	if (o->create_key && !o->key_uri && !o->key)
		t.key = o->create_key;
	if (cmk_fetch(s, &t, f, &e) != 0) {
		cli_error(_("cannot plan for '%s': %s"), resource, e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	f->ctx.change = true;
	if (o->create_key && !new_key(f, o->create_key))
		return EXIT_FINDINGS;
	ch.system_off = cmd_system_off(o, &f->ctx);
	f->ctx.drop_system = ch.system_off && jx_str(f->ctx.resource, "identity.principalId");
	cmk_check(&f->ctx, &r);
	rc = plan_build(&f->ctx, &r, &ch, p, &err) == 0 ? EXIT_OK : EXIT_FINDINGS;
	if (rc != EXIT_OK)
		cli_error("%s", err);
	else
		print_unfixed(&r);
	/* When this command applies the plan, apply's own check refuses it; warn only when it is not applied here. */
	if (rc == EXIT_OK && (o->plan_only || o->dry_run))
		warn_permissions(p, &f->ctx);
	if (rc == EXIT_OK && !o->create_key)
		warn_shared(s, o, f);
	free(err);
	cmk_report_free(&r);
	return rc;
}

/* Renders the plan in the format asked for (text is the preview; FMT_JSON the plan file's content). */
static char *render(const struct cmd_opts *o, const struct plan *p, const struct cmk_ctx *c)
{
	struct json_object *j;
	char *text;

	switch (o->format) {
	case FMT_ARM: return plan_render_arm(p, c);
	case FMT_AZ: return plan_render_az(p);
	case FMT_TEXT: return plan_render_text(p, c, o->show_bodies);
	default: break;
	}
	j = plan_to_json(p);
	text = xasprintf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return text;
}

/*
 * Writes a built plan: with -o FILE, the plan (JSON, what apply reads) or the
 * ARM template or az script asked for; on stdout, the preview or the format.
 */
static int write_plan(const struct cmd_opts *o, const struct plan *p, const struct cmk_ctx *c)
{
	struct cmd_opts as_json = *o;
	char *file = NULL, *shown = render(o, p, c), *err = NULL;
	int rc = EXIT_OK;

	as_json.format = FMT_JSON;
	if (o->plan_file) {
		file = o->format == FMT_ARM || o->format == FMT_AZ ? xstrdup(shown) : render(&as_json, p, c);
		if (!cli_write_file(o->plan_file, file, &err)) {
			cli_error("%s", err);
			rc = EXIT_ERROR;
		}
	}
	if (!o->plan_file || o->format == FMT_TEXT || o->format == FMT_JSON)
		fputs(shown, stdout);
	if (o->format == FMT_TEXT && o->plan_file && rc == EXIT_OK)
		printf(_("Plan written to %s; nothing was changed. Apply it with: %s apply %s\n"), o->plan_file,
		       cli_program(), o->plan_file);
	else if (o->format == FMT_TEXT)
		printf(_("Nothing was changed (this is a dry run).\n"));
	else if (o->plan_file && rc == EXIT_OK)
		fprintf(stderr, _("Written to %s; nothing was changed in Azure.\n"), o->plan_file);
	free(file);
	free(shown);
	free(err);
	return rc;
}

/* azcmk plan RESOURCE: the dry run; prints the plan and, with -o FILE or --format json, writes it. */
int cmd_plan(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct cmk_fetch f;
	struct plan p;
	int rc;

	memset(&f, 0, sizeof(f));
	if (argc != 1)
		return usage_mistake(_("plan takes one RESOURCE (an ARM id or a name)"));
	if (o->create_key && !o->vault && !o->key_uri)
		return usage_mistake(_("--create-key NAME needs --vault, the vault to create it in"));
	if (o->key && !o->vault)
		return usage_mistake(_("--key NAME needs --vault, the vault that holds it (or give the key's URI)"));
	if (o->vault && !o->key && !o->create_key)
		return usage_mistake(_("--vault needs --key NAME (the key to use) or --create-key NAME (the key to make)"));
	if (!(s = cmd_session(o)))
		return EXIT_ERROR;
	{
		struct cmd_opts only = *o;

		only.plan_only = true;
		rc = cmd_build_plan(s, &only, argv[0], &f, &p);
	}
	if (rc == EXIT_OK) {
		rc = write_plan(o, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	az_session_free(s);
	return rc;
}

/* Shows apply's progress on standard error. */
static void progress(const char *line, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

/* Asks on the terminal before writing; true when the operator types yes. */
static bool confirm(const struct plan *p)
{
	char answer[16] = "";

	fprintf(stderr, P_("Apply %zu step to %s? Type yes to go on: ", "Apply %zu steps to %s? Type yes to go on: ", p->n),
		p->n, p->resource_id);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	answer[strcspn(answer, "\r\n")] = '\0';
	return str_ieq(answer, "yes") || str_ieq(answer, _("yes"));
}

/* Reads a plan file. */
static int load_plan(const char *path, struct plan *p)
{
	size_t len;
	char *err = NULL, *text = cli_read_file(path, &len, &err);
	struct json_object *j = text ? jx_parse(text, len, &err) : NULL;
	int rc = j && plan_from_json(j, p, &err) == 0 ? 0 : -1;

	if (rc != 0)
		cli_error(_("cannot read the plan '%s': %s"), path, err ? err : "?");
	free(err);
	free(text);
	json_object_put(j);
	return rc;
}

/*
 * Tells whether apply refused before or instead of changing anything (a
 * plan outdated, locked or not azcmk's, a journal or state directory it
 * cannot trust), so that --resume is no way on.
 */
static bool refusal(const char *code)
{
	static const char *const CODES[] = { "PlanOutdated", "PlanLocked", "PlanInvalid", "JournalInvalid", "StateUnsafe",
		"NothingToResume", "PreflightFailed", NULL };

	for (int i = 0; code && CODES[i]; i++)
		if (str_ieq(code, CODES[i]))
			return true;
	return false;
}

/*
 * Carries a plan out after the confirmation (asked on a terminal, --yes
 * otherwise); plan_path is what --resume needs. Shared by apply, rotate and refresh.
 */
int cmd_run_plan(const struct cmd_opts *o, struct az_session *s, const struct plan *p, const char *plan_path)
{
	struct apply_opts ao = { NULL, o->resume, o->propagation_wait, o->access_wait, progress, NULL };
	struct az_error e = { 0 };
	int rc = EXIT_OK;

	if (!o->yes && !isatty(0))
		return usage_mistake(_("this changes Azure: confirm with --yes when not on a terminal"));
	if (!o->yes && !confirm(p)) {
		fprintf(stderr, _("Nothing was changed.\n"));
		return EXIT_ERROR;
	}
	if (cmk_apply(s, p, &ao, &e) != 0) {
		cli_error(_("apply stopped: %s"), e.message);
		if (!refusal(e.code))
			fprintf(stderr, _("Run '%s apply --resume %s' to continue from where it stopped.\n"), cli_program(),
				plan_path);
		rc = e.code && str_ieq(e.code, "VerifyFailed") ? EXIT_FINDINGS : EXIT_ERROR;
	} else {
		printf(_("Done: %s now uses key %s.\n"), p->resource_id, p->keyref.name);
	}
	az_error_clear(&e);
	return rc;
}

/* azcmk apply PLAN: carries a saved plan out; asks first on a terminal, needs --yes otherwise. */
int cmd_apply(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct plan p;
	int rc;

	if (argc != 1)
		return usage_mistake(_("apply takes one PLAN file (written by azcmk plan -o FILE)"));
	if (load_plan(argv[0], &p) != 0)
		return EXIT_ERROR;
	if (!o->yes && !isatty(0)) {
		plan_free(&p);
		return usage_mistake(_("apply changes Azure: confirm with --yes when not on a terminal"));
	}
	if (!(s = cmd_session(o))) {
		plan_free(&p);
		return EXIT_ERROR;
	}
	rc = cmd_run_plan(o, s, &p, argv[0]);
	az_session_free(s);
	plan_free(&p);
	return rc;
}
