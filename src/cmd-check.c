/* azcmk check: fetch the context of a resource and run every rule of the
 * validation core over it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "text.h"
#include "xalloc.h"

/* Prints the report as text, blockers first. */
static void print_report(const struct cmk_fetch *f, const struct cmk_report *r)
{
	bool colour = report_colour(stdout);
	char *name = text_sanitize(jx_str(f->resource, "id"), false);

	printf(_("%s (%s)\n"), name, _(f->ctx.svc->name));
	if (f->ctx.keyref.name) {
		/* The key's name and version come from the server: never raw to
		 * the terminal. */
		char *key = key_ref_uri(&f->ctx.keyref),
		     *shown = text_sanitize(key, false);

		printf(_("key: %s\n"), shown);
		free(shown);
		free(key);
	}
	for (int sev = SEV_BLOCKER; sev >= SEV_NOTE; sev--)
		for (size_t i = 0; i < r->n; i++)
			if ((int)r->items[i].severity == sev)
				report_finding(stdout, &r->items[i], colour);
	if (r->n == 0 && r->checked == 1)
		printf(_("The one prerequisite that applies holds.\n"));
	else if (r->n == 0 && r->checked > 1)
		printf(P_("All %zu prerequisites that apply hold.\n",
			  "All %zu prerequisites that apply hold.\n",
			  r->checked),
		       r->checked);
	else if (r->n == 0)
		printf(_("No prerequisite applies: azcmk could not judge this "
			 "resource.\n"));
	free(name);
}

/* Prints the report as JSON: the resource, the key, and findings with rule,
 * severity, message, explanation, fix; with -o tsv, a line per finding. */
static void print_json(const struct cmk_fetch *f, const struct cmk_report *r,
		       enum output out)
{
	struct json_object *o = json_object_new_object(),
			   *list = json_object_new_array();

	json_object_object_add(
		o, "resource",
		json_object_new_string(jx_str(f->resource, "id")));
	json_object_object_add(o, "service",
			       json_object_new_string(f->ctx.svc->key));
	json_object_object_add(o, "change",
			       json_object_new_boolean(f->ctx.change));
	json_object_object_add(o, "checked",
			       json_object_new_int64((int64_t)r->checked));
	for (size_t i = 0; i < r->n; i++) {
		struct json_object *x = json_object_new_object();
		const struct cmk_finding *fi = &r->items[i];

		json_object_object_add(x, "rule",
				       json_object_new_string(fi->rule->id));
		json_object_object_add(x, "severity",
				       json_object_new_string(cmk_severity_name(
					       fi->severity)));
		json_object_object_add(
			x, "verdict",
			json_object_new_string(fi->unknown ? "unknown"
							   : "fails"));
		json_object_object_add(x, "subject",
				       json_object_new_string(fi->subject));
		json_object_object_add(x, "message",
				       json_object_new_string(fi->message));
		json_object_object_add(
			x, "detail",
			fi->detail ? json_object_new_string(fi->detail) : NULL);
		json_object_object_add(
			x, "explanation",
			json_object_new_string(_(fi->rule->explanation)));
		json_object_object_add(
			x, "fix", json_object_new_string(_(fi->rule->fix)));
		json_object_array_add(list, x);
	}
	json_object_object_add(o, "findings", list);
	cli_print_doc(o, "findings", out == OUT_TSV);
	json_object_put(o);
}

/* Builds the fetch target from the options and the RESOURCE argument. */
static void target_of(const struct cmd_opts *o, const char *resource,
		      struct cmk_target *t)
{
	memset(t, 0, sizeof(*t));
	t->resource = resource;
	t->key_uri = o->key_uri;
	t->key = o->key;
	t->vault = o->vault;
	t->version = o->version;
	t->identity = o->identity;
	t->subscriptions = o->subscriptions;
	t->nsubs = o->nsubs;
	t->confirmed = o->confirm_irreversible;
}

/*
 * Returns check's exit status: 1 when a blocker fails, or when one could not
 * be judged (an unknown is never counted as holding) unless --allow-unknown.
 */
static int verdict(const struct cmd_opts *o, const struct cmk_report *r)
{
	size_t open = 0;

	for (size_t i = 0; i < r->n; i++)
		open += r->items[i].unknown &&
			r->items[i].severity == SEV_BLOCKER;
	if (open && !output_is_doc(o->output))
		cli_warn(P_("%zu prerequisite could not be judged, so azcmk "
			    "does not count it as holding; retry, or "
			    "accept it with --allow-unknown\n",
			    "%zu prerequisites could not be judged, so azcmk "
			    "does not count them as holding; retry, or "
			    "accept them with --allow-unknown\n",
			    open),
			 open);
	if (cmk_has_known_blocker(r))
		return EXIT_FINDINGS;
	return open && !o->allow_unknown ? EXIT_FINDINGS : EXIT_OK;
}

/* azcmk check RESOURCE: exit 0 when every prerequisite holds, 1 on a blocker or
 * one not judged, 2 on an error. */
int cmd_check(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct az_error e = { 0 };
	struct cmk_target t;
	struct cmk_fetch f;
	struct cmk_report r;
	int rc;

	if (argc != 1 || (o->key && !o->vault) ||
	    (o->vault && !o->key && !o->key_uri)) {
		cli_error(argc != 1 ? _("check takes one RESOURCE (an ARM id "
					"or a name)")
				    : _("--key NAME needs --vault, and --vault "
					"needs --key"));
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	target_of(o, argv[0], &t);
	if (cmk_fetch(s, &t, &f, &e) != 0) {
		cli_error(_("cannot check '%s': %s"), argv[0], e.message);
		rc = EXIT_ERROR;
	} else {
		/* A change is judged as the plan would make it: with or without
		 * the system-assigned identity. */
		f.ctx.drop_system =
			f.ctx.change && flow_system_off(o, &f.ctx) &&
			jx_str(f.ctx.resource, "identity.principalId");
		cmk_check(&f.ctx, &r);
		if (output_is_doc(o->output))
			print_json(&f, &r, o->output);
		else
			print_report(&f, &r);
		rc = verdict(o, &r);
		cmk_report_free(&r);
	}
	cmk_fetch_free(&f);
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}
