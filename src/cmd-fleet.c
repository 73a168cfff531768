/* azcmk fix --all: the audit report's selected findings planned as one fleet
 * (src/fleetplan.c), its review, its exports, then its apply. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit.h"
#include "cli.h"
#include "cmd.h"
#include "fleet.h"
#include "fleetplan.h"
#include "fleetrun.h"
#include "i18n.h"
#include "jx.h"
#include "planflow.h"
#include "statedir.h"
#include "text.h"
#include "xalloc.h"

/* What fix --all holds between its review and what follows it. */
struct fixall {
	struct az_session *s;
	struct fleet f;
	struct json_object *seen; /* for --format arm: per plan, the resource
				     and vault it was made from */
};

/* Reads the audit report (--from, or the one the last audit kept, after
 * taking it now with --fresh); prints why and returns -1 when it cannot. */
static int load_report(const struct cmd_opts *o, struct audit_report *a)
{
	char *path, *err = NULL, *text;
	struct json_object *j = NULL;
	size_t len;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	/* Never the report an earlier audit kept when this one did not end. */
	if (o->fresh && audit_fresh(o) != 0) {
		cli_error(_("the fresh audit did not end: nothing was "
			    "planned"));
		return -1;
	}
	path = o->from ? xstrdup(o->from) : cmk_state_path("last-audit.json");
	text = cli_read_file(path, &len, &err);
	if (text && (j = jx_parse(text, len, &err)) != NULL &&
	    audit_from_json(j, a, &err) == 0)
		rc = 0;
	else
		cli_error(_("cannot use the audit report '%s': %s; run '%s "
			    "audit' first, give --from FILE, or add --fresh "
			    "to audit now"),
			  path, err ? err : "?", cli_program());
	json_object_put(j);
	free(text);
	free(err);
	free(path);
	return rc;
}

/* Tells whether a finding's subscription is one --subscription names (by id,
 * or by the name the report gives it). */
static bool in_subscriptions(const struct cmd_opts *o,
			     const struct audit_report *a,
			     const struct audit_finding *f)
{
	if (!o->nsubs)
		return true;
	for (size_t k = 0; k < o->nsubs; k++) {
		if (str_ieq(f->subscription, o->subscriptions[k]))
			return true;
		for (size_t i = 0; i < a->nsubs; i++)
			if (str_ieq(a->subs[i].id, f->subscription) &&
			    str_ieq(a->subs[i].name, o->subscriptions[k]))
				return true;
	}
	return false;
}

/* Tells whether a finding passes the filters: a resource's, of --service,
 * --subscription and --resource-group when given. */
static bool selected(const struct cmd_opts *o, const struct audit_report *a,
		     const struct audit_finding *f)
{
	const struct svc_profile *svc = svc_by_key(f->service);
	bool group = !o->ngroups;

	if (!f->name || !*f->name || !f->resource_id)
		return false;
	if (o->services && (!svc || !(o->services & (1u << svc->id))))
		return false;
	for (size_t k = 0; k < o->ngroups && !group; k++)
		group = str_ieq(f->resource_group, o->groups[k]);
	return group && in_subscriptions(o, a, f);
}

/* Returns the report's findings that pass the filters (borrowed pointers,
 * allocated array); *n says how many. */
static const struct audit_finding **
selection(const struct cmd_opts *o, const struct audit_report *a, size_t *n)
{
	const struct audit_finding **items = xcalloc(a->n + 1, sizeof(*items));

	*n = 0;
	for (size_t i = 0; i < a->n; i++)
		if (selected(o, a, &a->items[i]))
			items[(*n)++] = &a->items[i];
	return items;
}

/* Returns the width the review may take: the terminal's when standard output
 * is one, else no limit. */
static int review_width(void)
{
	struct winsize ws;

	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return isatty(1) ? 80 : 0;
}

/* Writes the fleet file (--file, else the state directory, private); returns
 * its path, or NULL after saying why. */
static char *save(const struct cmd_opts *o, struct fleet *f)
{
	char *err = NULL, *path = NULL;
	bool there = o->plan_file && o->format != FMT_AZ &&
		     o->format != FMT_ARM; /* --file: the plan */

	if (there) {
		struct json_object *j = fleet_to_json(f);

		if (cli_write_file(
			    o->plan_file,
			    json_object_to_json_string_ext(
				    j, JSON_C_TO_STRING_PRETTY |
					       JSON_C_TO_STRING_NOSLASHESCAPE),
			    &err))
			path = xstrdup(o->plan_file);
		json_object_put(j);
	} else {
		path = fleet_keep(f, &err);
	}
	if (!path)
		cli_error(_("cannot write the fleet plan '%s': %s"),
			  there ? o->plan_file : _("in the state directory"),
			  err ? err : "?");
	free(err);
	return path;
}

/* Prints the review: the text (to the terminal's width), or JSON with the
 * file's path, or nothing; on standard error when the ARM template goes to
 * standard output. */
static void review(const struct cmd_opts *o, const struct fleet *f,
		   const char *path)
{
	FILE *out = o->format == FMT_ARM && !o->plan_file ? stderr : stdout;

	if (o->output == OUT_JSON) {
		struct json_object *j = fleet_review_json(f);

		json_object_object_add(j, "file", json_object_new_string(path));
		fprintf(out, "%s\n",
			json_object_to_json_string_ext(
				j, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (o->output != OUT_NONE) {
		char *text = fleet_render_text(f, review_width());

		fputs(text, out);
		free(text);
	}
	fflush(out);
	cli_warn(_("Fleet plan written to %s; apply it with: %s apply %s\n"),
		 path, cli_program(), path);
}

/* Builds the fleet from the report's selected findings, saves and reviews it;
 * returns the exit status so far (the path is *path). */
static int build_and_review(const struct cmd_opts *o, struct fixall *b,
			    char **path)
{
	struct audit_report a;
	const struct audit_finding **items;
	size_t n, count;
	int rc = EXIT_OK;

	if (load_report(o, &a) != 0)
		return EXIT_ERROR;
	items = selection(o, &a, &count);
	n = fleet_count_resources(items, count);
	if (n > FLEET_MAX) {
		cli_error(_("the report's findings name %zu resources, more "
			    "than one fleet plan holds (%d): narrow them with "
			    "--subscription, --service or --resource-group"),
			  n, FLEET_MAX);
		rc = EXIT_ERROR;
	} else if (!n) {
		cli_error(_("no finding of the audit report matches: nothing "
			    "to fix"));
		rc = EXIT_OK;
	} else if (!(b->s = flow_session(o))) {
		rc = EXIT_ERROR;
	} else {
		struct fleet_request rq = { .o = o, .s = b->s };
		char *err = NULL;

		if (fleet_plan_findings(&rq, items, count, &b->f, &b->seen,
					&err) != 0) {
			cli_error("%s", err);
			rc = EXIT_ERROR;
		} else if (!(*path = save(o, &b->f))) {
			rc = EXIT_ERROR;
		} else {
			review(o, &b->f, *path);
		}
		free(err);
	}
	free(items);
	audit_free(&a);
	return !n ? EXIT_OK : rc;
}

/* Writes the fleet as an az script to --file (the plan itself stays in the
 * state directory); returns the exit status. */
static int export_az(const struct cmd_opts *o, const struct fleet *f)
{
	char *text = plan_render_fleet_az(f->plans, f->n, f->id), *err = NULL;
	int rc = EXIT_OK;

	if (!cli_write_file(o->plan_file, text, &err) ||
	    chmod(o->plan_file, 0700) != 0) {
		cli_error(_("cannot write the az script '%s': %s"),
			  o->plan_file, err ? err : strerror(errno));
		rc = EXIT_ERROR;
	} else {
		cli_warn(_("az script written to %s; nothing was changed in "
			   "Azure.\n"),
			 o->plan_file);
	}
	free(err);
	free(text);
	return rc;
}

/* Writes the fleet as one subscription-scope ARM template, to --file or
 * standard output (the plan itself stays in the state directory); returns
 * the exit status. */
static int export_arm(const struct cmd_opts *o, const struct fixall *b)
{
	char *text = fleet_render_arm(&b->f, b->seen), *err = NULL;
	size_t len = strlen(text);
	int rc = EXIT_OK;

	/* Azure Resource Manager refuses a template over 4 MB. */
	if (len > 4 * 1024 * 1024)
		cli_warn(
			_("the template is %zu bytes, more than the 4 MB Azure "
			  "Resource Manager deploys: narrow the fleet with "
			  "--resource-group, --service or --subscription\n"),
			len);
	if (!o->plan_file) {
		fputs(text, stdout);
		fflush(stdout);
	} else if (!cli_write_file(o->plan_file, text, &err)) {
		cli_error(_("cannot write the ARM template '%s': %s"),
			  o->plan_file, err ? err : "?");
		rc = EXIT_ERROR;
	} else {
		cli_warn(_("ARM template written to %s; nothing was changed "
			   "in Azure. Deploy it with: az deployment sub create "
			   "--location LOCATION --template-file %s\n"),
			 o->plan_file, o->plan_file);
	}
	free(err);
	free(text);
	return rc;
}

/* Refuses the format fix --all cannot write: az without --file. */
static int format_mistake(const struct cmd_opts *o)
{
	if (o->format == FMT_AZ && !o->plan_file)
		return flow_mistake(_("--format az needs --file FILE, where "
				      "the script goes"));
	return EXIT_OK;
}

/*
 * Does what follows the review: says so when nothing could be planned (1),
 * writes the az script or ARM template, stops for --dry-run, or applies the
 * fleet (its workers sign in from the token cache, so this session is closed
 * first).
 */
static int after_review(const struct cmd_opts *o, struct fixall *b,
			const char *path)
{
	if (!b->f.n) {
		cli_error(_("no resource of the report can be fixed by azcmk "
			    "itself: see the skipped ones above"));
		return EXIT_FINDINGS;
	}
	if (o->format == FMT_AZ)
		return export_az(o, &b->f);
	if (o->format == FMT_ARM)
		return export_arm(o, b);
	if (o->dry_run)
		return EXIT_OK;
	az_session_free(b->s);
	b->s = NULL;
	return fleet_confirm_and_run(o, &b->f, path);
}

/* Tells whether two --create-vault values name one region, or both none. */
static bool same_region(const char *a, const char *b)
{
	const char *x = strchr(a, '='), *y = strchr(b, '=');

	if (!x || !y)
		return !x && !y;
	return x - a == y - b && strncasecmp(a, b, (size_t)(x - a)) == 0;
}

/* Tells whether two --create-vault values name one vault. */
static bool same_vault(const char *a, const char *b)
{
	const char *x = strchr(a, '='), *y = strchr(b, '=');

	return str_ieq(x ? x + 1 : a, y ? y + 1 : b);
}

/* Refuses --create-vault where it cannot work: without --vault-group or the
 * consent its purge protection needs, beside a vault or key already named,
 * or naming a region or a vault twice; EXIT_OK when it can. */
static int new_vault_mistake(const struct cmd_opts *o)
{
	if (!o->nnew_vaults)
		return o->vault_group || o->vault_sub
			       ? flow_mistake(_("--vault-group and "
						"--vault-subscription go with "
						"--create-vault"))
			       : EXIT_OK;
	if (!o->vault_group)
		return flow_mistake(_("--create-vault needs --vault-group RG, "
				      "the resource group the new vaults go "
				      "in"));
	if (o->vault || o->key || o->key_uri)
		return flow_mistake(_("--create-vault is for the regions where "
				      "no vault is ready; --vault and --key "
				      "already name where the keys go"));
	if (!o->confirm_irreversible)
		return flow_mistake(
			_("--create-vault makes vaults with purge protection, "
			  "which cannot be undone (a name stays taken for 90 "
			  "days after a delete): add --confirm-irreversible"));
	for (size_t i = 0; i < o->nnew_vaults; i++)
		for (size_t j = 0; j < i; j++)
			if (same_region(o->new_vaults[i], o->new_vaults[j]) ||
			    same_vault(o->new_vaults[i], o->new_vaults[j]))
				return flow_mistake(
					_("--create-vault names each region, "
					  "and each vault, once"));
	return EXIT_OK;
}

/* azcmk fix --all: one fleet plan for every selected finding, its review,
 * then (unless --dry-run, or an export is asked for) its apply. */
int fleet_fix_all(const struct cmd_opts *o, int argc, char **argv)
{
	struct fixall b = { 0 };
	char *path = NULL;
	int rc;

	(void)argv;
	if (argc != 0)
		return flow_mistake(_("fix --all takes no FINDING or RESOURCE: "
				      "it fixes every finding of the report "
				      "that --subscription, --service and "
				      "--resource-group select"));
	if (o->create_key)
		return flow_mistake(_("--create-key names one key: fix --all "
				      "creates a key per resource, or uses "
				      "the one --key names"));
	if ((rc = format_mistake(o)) != EXIT_OK)
		return rc;
	if (o->fresh && o->from)
		return flow_mistake(_("--fresh audits now and --from reads a "
				      "report already taken: give one of "
				      "them"));
	if (o->nvaults > 1 && o->key)
		return flow_mistake(
			_("--key NAME names a key in one --vault: "
			  "give one --vault with it, or --key URI"));
	if ((rc = new_vault_mistake(o)) != EXIT_OK)
		return rc;
	rc = build_and_review(o, &b, &path);
	if (rc == EXIT_OK && path)
		rc = after_review(o, &b, path);
	az_session_free(b.s);
	json_object_put(b.seen);
	fleet_free(&b.f);
	free(path);
	return rc;
}
