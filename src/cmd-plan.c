/* azcmk plan and azcmk apply: the dry run that writes nothing, and carrying a
 * saved plan out. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "fleet.h"
#include "fleetrun.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "text.h"
#include "xalloc.h"

/* Renders the plan in the format asked for (text is the preview; FMT_JSON the
 * plan file's content). */
static char *render(const struct cmd_opts *o, const struct plan *p,
		    const struct cmk_ctx *c)
{
	struct json_object *j;
	char *text;

	switch (o->format) {
	case FMT_ARM:
		return plan_render_arm(p, c);
	case FMT_AZ:
		return plan_render_az(p);
	case FMT_TEXT:
		return plan_render_text(p, c, o->show_bodies);
	default:
		break;
	}
	j = plan_to_json(p);
	text = xasprintf("%s\n",
			 json_object_to_json_string_ext(
				 j, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return text;
}

/*
 * Writes a built plan: with --file FILE, the plan (JSON, what apply reads) or
 * the ARM template or az script asked for; on stdout, the preview or the
 * format.
 */
static int write_plan(const struct cmd_opts *o, const struct plan *p,
		      const struct cmk_ctx *c)
{
	struct cmd_opts as_json = *o;
	char *file = NULL, *shown = render(o, p, c), *err = NULL;
	int rc = EXIT_OK;

	as_json.format = FMT_JSON;
	if (o->plan_file) {
		file = o->format == FMT_ARM || o->format == FMT_AZ
			       ? xstrdup(shown)
			       : render(&as_json, p, c);
		if (!cli_write_file(o->plan_file, file, &err)) {
			cli_error("%s", err);
			rc = EXIT_ERROR;
		}
	}
	if (!o->plan_file || o->format == FMT_TEXT || o->format == FMT_JSON)
		fputs(shown, stdout);
	if (o->format == FMT_TEXT && o->plan_file && rc == EXIT_OK)
		printf(_("Plan written to %s; nothing was changed. Apply it "
			 "with: %s apply %s\n"),
		       o->plan_file, cli_program(), o->plan_file);
	else if (o->format == FMT_TEXT)
		printf(_("Nothing was changed (this is a dry run).\n"));
	else if (o->plan_file && rc == EXIT_OK)
		cli_warn(_("Written to %s; nothing was changed in Azure.\n"),
			 o->plan_file);
	free(file);
	free(shown);
	free(err);
	return rc;
}

/* azcmk plan RESOURCE: the dry run; prints the plan and, with --file FILE or
 * --format json, writes it. */
int cmd_plan(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct cmk_fetch f;
	struct plan p;
	int rc;

	memset(&f, 0, sizeof(f));
	if (argc != 1)
		return flow_mistake(
			_("plan takes one RESOURCE (an ARM id or a name)"));
	if (o->create_key && !o->vault && !o->key_uri)
		return flow_mistake(_("--create-key NAME needs --vault, the "
				      "vault to create it in"));
	if (o->key && !o->vault)
		return flow_mistake(_("--key NAME needs --vault, the vault "
				      "that holds it (or give the key's URI)"));
	if (o->vault && !o->key && !o->create_key)
		return flow_mistake(
			_("--vault needs --key NAME (the key to use) or "
			  "--create-key NAME (the key to make)"));
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	{
		struct cmd_opts only = *o;

		only.plan_only = true;
		rc = flow_build(s, &only, argv[0], &f, &p);
	}
	if (rc == EXIT_OK) {
		rc = write_plan(o, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	az_session_free(s);
	return rc;
}

/* Reads a plan file's JSON; prints why and returns NULL when it cannot. */
static struct json_object *load_json(const char *path)
{
	size_t len;
	char *err = NULL, *text = cli_read_file(path, &len, &err);
	struct json_object *j = text ? jx_parse(text, len, &err) : NULL;

	if (!j)
		cli_error(_("cannot read the plan '%s': %s"), path,
			  err ? err : "?");
	free(err);
	free(text);
	return j;
}

/* Holds a plan file's JSON to every rule of a plan; prints why when it
 * fails. */
static int load_plan(const char *path, struct json_object *j, struct plan *p)
{
	char *err = NULL;
	int rc = plan_from_json(j, p, &err) == 0 ? 0 : -1;

	if (rc != 0)
		cli_error(_("cannot read the plan '%s': %s"), path,
			  err ? err : "?");
	free(err);
	return rc;
}

/* azcmk apply PLAN: carries a saved plan out; asks first on a terminal, needs
 * --yes otherwise. */
int cmd_apply(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct json_object *j;
	struct plan p;
	int rc;

	if (argc != 1)
		return flow_mistake(_("apply takes one PLAN file (written by "
				      "azcmk plan --file FILE)"));
	if (!(j = load_json(argv[0])))
		return EXIT_ERROR;
	if (fleet_is_fleet(j)) {
		rc = fleet_apply_file(o, argv[0], j);
		json_object_put(j);
		return rc;
	}
	if (o->parallel) {
		json_object_put(j);
		return flow_mistake(
			_("--parallel applies to a fleet plan (made "
			  "by azcmk fix --all), not to one "
			  "resource's plan"));
	}
	rc = load_plan(argv[0], j, &p);
	json_object_put(j);
	if (rc != 0)
		return EXIT_ERROR;
	if (!o->yes && !isatty(0)) {
		plan_free(&p);
		return flow_mistake(_("apply changes Azure: confirm with --yes "
				      "when not on a terminal"));
	}
	if (!o->yes) {
		/* What will be done, as apply derives it from the file's typed
		 * fields (never the file's own text), before the question. */
		char *steps = plan_render_steps(&p);

		fputs(steps, stderr);
		free(steps);
	}
	if (!(s = flow_session(o))) {
		plan_free(&p);
		return EXIT_ERROR;
	}
	rc = flow_run(o, s, &p, argv[0]);
	az_session_free(s);
	plan_free(&p);
	return rc;
}
