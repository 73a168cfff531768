/* azcmk rotate and azcmk refresh: move a protected resource to another key version, or save its key again. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "apply.h"
#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "text.h"
#include "xalloc.h"

/* Reports a usage mistake and returns the usage exit status. */
static int mistake(const char *msg)
{
	cli_error("%s", msg);
	fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
	return EXIT_ERROR;
}

/* Reads the resource and the key it uses now; fails when it uses none. */
static int current(struct az_session *s, const struct cmd_opts *o, const char *resource, struct cmk_fetch *f)
{
	struct cmk_target t = { .resource = resource, .subscriptions = o->subscriptions, .nsubs = o->nsubs };
	struct az_error e = { 0 };

	if (cmk_fetch(s, &t, f, &e) != 0) {
		cli_error(_("cannot read '%s': %s"), resource, e.message);
		az_error_clear(&e);
		return EXIT_ERROR;
	}
	if (!f->ctx.keyref.name) {
		cli_error(_("'%s' does not use a customer-managed key yet: protect it first with '%s plan'"), resource,
			  cli_program());
		return EXIT_FINDINGS;
	}
	return EXIT_OK;
}

/* Builds the plan for the chosen key URI and choices; prints why when it cannot. */
static int build(struct az_session *s, const struct cmd_opts *o, const char *id, const char *key_uri,
		 const struct plan_choices *ch, struct cmk_fetch *f, struct plan *p)
{
	struct cmk_target t = { .resource = id, .key_uri = key_uri, .identity = o->identity,
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
	rc = plan_build(&f->ctx, &r, ch, p, &err) == 0 ? EXIT_OK : EXIT_FINDINGS;
	if (rc != EXIT_OK)
		cli_error("%s", err);
	free(err);
	cmk_report_free(&r);
	return rc;
}

/* Keeps the plan beside its journal, so that --resume has a file to continue from; returns its path or NULL. */
static char *keep_plan(const struct plan *p)
{
	char *err = NULL, *path = cmk_keep_plan(p, &err);

	if (!path)
		cli_error("%s", err);
	free(err);
	return path;
}

/* Shows the plan; with --dry-run stops there, otherwise keeps it and carries it out. Shared by rotate, refresh and fix. */
int cmd_show_and_run(const struct cmd_opts *o, struct az_session *s, const struct plan *p, const struct cmk_ctx *c)
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
	rc = cmd_run_plan(o, s, p, path);
	free(path);
	return rc;
}

/* Returns the key URI (allocated) of the current key at another version, or versionless when version is NULL. */
static char *key_at(const struct cmk_fetch *f, const char *version)
{
	return key_ref_versioned(&f->ctx.keyref, version);
}

/* Plans the move to a version (NULL: versionless) of the key in use, shows it and, unless --dry-run, runs it. */
static int plan_and_run(struct az_session *s, const struct cmd_opts *o, const struct cmk_fetch *cur,
			const char *version, const struct plan_choices *ch)
{
	char *uri = key_at(cur, version);
	struct cmk_fetch f;
	struct plan p;
	int rc = build(s, o, jx_str(cur->resource, "id"), uri, ch, &f, &p);

	if (rc == EXIT_OK) {
		rc = cmd_show_and_run(o, s, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	free(uri);
	return rc;
}

/* Moves a resource to another version of its key (--version V, or --new-version) with a signed-in session. */
int cmd_rotate_with(struct az_session *s, const struct cmd_opts *o, const char *resource)
{
	struct plan_choices ch = { 0 };
	struct cmk_fetch cur;
	int rc = current(s, o, resource, &cur);

	if (rc == EXIT_OK && o->version && cur.ctx.keyref.version && str_ieq(cur.ctx.keyref.version, o->version)) {
		cli_error(_("'%s' already uses version %s of key %s"), resource, o->version, cur.ctx.keyref.name);
		rc = EXIT_FINDINGS;
	}
	if (rc == EXIT_OK) {
		ch.create_key = o->new_version;
		ch.new_key_name = cur.ctx.keyref.name;
		ch.versionless = o->new_version && !cur.ctx.keyref.version && !cur.ctx.svc->version_required;
		rc = plan_and_run(s, o, &cur, o->version, &ch);
	}
	cmk_fetch_free(&cur);
	return rc;
}

/* azcmk rotate RESOURCE (--version V | --new-version): moves the resource to another version of its key. */
int cmd_rotate(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	int rc;

	if (argc != 1)
		return mistake(_("rotate takes one RESOURCE (an ARM id or a name)"));
	if (!o->version == !o->new_version)
		return mistake(_("rotate needs either --version V (an existing version) or --new-version"));
	if (!(s = cmd_session(o)))
		return EXIT_ERROR;
	rc = cmd_rotate_with(s, o, argv[0]);
	az_session_free(s);
	return rc;
}

/* Saves the key a resource uses again, with whatever its prerequisites need first, with a signed-in session. */
int cmd_refresh_with(struct az_session *s, const struct cmd_opts *o, const char *resource)
{
	struct plan_choices ch = { .resave = true };
	struct cmk_fetch cur;
	int rc = current(s, o, resource, &cur);

	if (rc == EXIT_OK)
		rc = plan_and_run(s, o, &cur, cur.ctx.keyref.version, &ch);
	cmk_fetch_free(&cur);
	return rc;
}

/* azcmk refresh RESOURCE: saves the key the resource uses again (DICOM after losing key access, for one). */
int cmd_refresh(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	int rc;

	if (argc != 1)
		return mistake(_("refresh takes one RESOURCE (an ARM id or a name)"));
	if (!(s = cmd_session(o)))
		return EXIT_ERROR;
	rc = cmd_refresh_with(s, o, argv[0]);
	az_session_free(s);
	return rc;
}
