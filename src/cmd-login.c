/* azcmk login and azcmk account list: sign in through the session layer and say
 * who you are. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "survey.h"
#include "text.h"
#include "tokcache.h"
#include "xalloc.h"

/* The --auth values and what they select. */
static const struct {
	const char *name;
	enum az_auth auth;
} AUTHS[] = {
	{ "chain", AZ_AUTH_CHAIN },
	{ "environment", AZ_AUTH_ENV },
	{ "managed-identity", AZ_AUTH_MANAGED_IDENTITY },
	{ "cli", AZ_AUTH_CLI },
	{ "device-code", AZ_AUTH_DEVICE_CODE },
};

/* Parses an --auth value. */
bool cmd_parse_auth(const char *text, enum az_auth *out)
{
	for (size_t i = 0; i < sizeof(AUTHS) / sizeof(AUTHS[0]); i++)
		if (str_ieq(text, AUTHS[i].name)) {
			*out = AUTHS[i].auth;
			return true;
		}
	return false;
}

/* Returns the first claim present among names, sanitised, or NULL. */
static char *claim(struct json_object *c, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (jx_str(c, names[i]))
			return text_sanitize(jx_str(c, names[i]), false);
	return NULL;
}

/* Prints the Azure CLI's default subscription under who signed in (--auth
 * cli). */
static void print_cli_subscription(struct json_object *sub)
{
	char *id, *name;

	if (!sub)
		return;
	id = text_sanitize(jx_str(sub, "id"), false);
	name = text_sanitize(jx_str(sub, "name"), false);
	/* TRANSLATORS: aligned with the "tenant:" line above; %s are the
	 * subscription's name and id. */
	printf(_("  subscription: %s (%s), the Azure CLI's default\n"), name,
	       id);
	free(id);
	free(name);
}

/* Prints who signed in, as text or JSON. */
static void print_identity(const struct cmd_opts *o, struct az_session *s,
			   struct json_object *c)
{
	static const char *const tid[] = { "tid", NULL },
				 *const oid[] = { "oid", NULL },
				 *const app[] = { "appid", "azp", NULL };
	static const char *const upn[] = { "upn", "preferred_username",
					   "unique_name", NULL };
	char *t = claim(c, tid), *p = claim(c, oid), *a = claim(c, app),
	     *u = claim(c, upn);
	struct json_object *sub = az_session_cli_subscription(s);

	if (output_is_doc(o->output)) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(
			j, "cloud",
			json_object_new_string(az_session_cloud(s)->name));
		json_object_object_add(j, "tenantId",
				       t ? json_object_new_string(t) : NULL);
		json_object_object_add(j, "objectId",
				       p ? json_object_new_string(p) : NULL);
		json_object_object_add(j, "applicationId",
				       a ? json_object_new_string(a) : NULL);
		json_object_object_add(j, "userPrincipalName",
				       u ? json_object_new_string(u) : NULL);
		json_object_object_add(
			j, "method",
			json_object_new_string(az_session_method_id(s)));
		json_object_object_add(j, "subscription", json_object_get(sub));
		cli_print_doc(j, NULL, o->output == OUT_TSV);
		json_object_put(j);
	} else {
		printf(_("Signed in to %s with %s.\n"),
		       az_session_cloud(s)->name, az_session_method(s));
		/* TRANSLATORS: these three lines are printed under each other:
		 * keep their values aligned. */
		printf(_("  tenant:      %s\n"), t ? t : "?");
		if (u)
			printf(_("  user:        %s (object id %s)\n"), u,
			       p ? p : "?");
		else
			printf(_("  principal:   %s (application id %s)\n"),
			       p ? p : "?", a ? a : "?");
		print_cli_subscription(sub);
	}
	json_object_put(sub);
	free(t);
	free(p);
	free(a);
	free(u);
}

/* azcmk login: tries the chain (or --auth) and prints tenant, principal and
 * method. */
int cmd_login(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct az_error e = { 0 };
	int rc = EXIT_OK;

	if (argc > 0) {
		cli_error(_("login takes no arguments (got '%s')"), argv[0]);
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	/* login proves that sign-in works: it asks the credential, and the
	 * token cache keeps what it got for the commands that follow. */
	if (!(s = flow_session_with(o, true)))
		return EXIT_ERROR;
	if (az_session_sign_in(s, &e) != 0) {
		cli_error(_("cannot sign in: %s"), e.message);
		rc = EXIT_ERROR;
	} else {
		struct json_object *claims = az_session_claims(s);

		print_identity(o, s, claims);
		json_object_put(claims);
	}
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}

/* Prints what logout did as a document: the cache's path, whether it was
 * there, and how many tokens went with it. */
static void print_logout_doc(const struct cmd_opts *o, const char *path,
			     bool removed, size_t tokens)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "tokenCache", json_object_new_string(path));
	json_object_object_add(j, "removed", json_object_new_boolean(removed));
	json_object_object_add(j, "tokens",
			       json_object_new_int64((int64_t)tokens));
	cli_print_doc(j, NULL, o->output == OUT_TSV);
	json_object_put(j);
}

/* azcmk logout: removes the token cache and says what it removed. */
int cmd_logout(const struct cmd_opts *o, int argc, char **argv)
{
	char *path = NULL, *err = NULL;
	size_t n = 0;
	int rc;

	if (argc > 0) {
		cli_error(_("logout takes no arguments (got '%s')"), argv[0]);
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	rc = tokcache_clear(&path, &n, &err);
	if (rc < 0)
		cli_error("%s", err);
	else if (output_is_doc(o->output))
		print_logout_doc(o, path, rc > 0, n);
	else if (o->output != OUT_NONE) {
		/* The path comes from the environment (XDG_STATE_HOME, HOME):
		 * no control character of it reaches the terminal. */
		char *shown = text_sanitize(path, false);

		if (rc == 0)
			printf(_("No token cache at '%s': nothing to "
				 "remove.\n"),
			       shown);
		else
			printf(P_("Removed the token cache '%s' (%zu token).\n",
				  "Removed the token cache '%s' (%zu "
				  "tokens).\n",
				  n),
			       shown, n);
		free(shown);
	}
	free(path);
	free(err);
	return rc < 0 ? EXIT_ERROR : EXIT_OK;
}

/* Prints one table row, each cell padded to its column's display width. */
static void print_row(const char *const *cells, const int *widths, int n)
{
	for (int i = 0; i < n; i++) {
		char *cell = i + 1 < n ? text_pad(cells[i], widths[i])
				       : xstrdup(cells[i]);

		printf("%s%s", cell, i + 1 < n ? "  " : "\n");
		free(cell);
	}
}

/* Prints subscriptions as a table aligned in display columns (names may hold
 * any script). */
static void print_subscriptions(struct json_object *subs)
{
	static const char *const keys[] = { "displayName", "subscriptionId",
					    "state", "tenantId" };
	/* TRANSLATORS: column headers of "account list"; the columns are sized
	 * to fit them. */
	const char *head[] = { _("NAME"), _("SUBSCRIPTION ID"), _("STATE"),
			       _("TENANT") };
	int widths[4];
	char *cells[4];

	for (int k = 0; k < 4; k++)
		widths[k] = text_width(head[k]);
	for (size_t i = 0; i < jx_len(subs); i++)
		for (int k = 0; k < 4; k++) {
			char *c = text_sanitize(jx_str(jx_at(subs, i), keys[k]),
						false);

			widths[k] = text_width(c) > widths[k] ? text_width(c)
							      : widths[k];
			free(c);
		}
	print_row(head, widths, 4);
	for (size_t i = 0; i < jx_len(subs); i++) {
		for (int k = 0; k < 4; k++)
			cells[k] = text_sanitize(
				jx_str(jx_at(subs, i), keys[k]), false);
		print_row((const char *const *)cells, widths, 4);
		for (int k = 0; k < 4; k++)
			free(cells[k]);
	}
}

/* Prints subscriptions as a JSON array of {subscriptionId, displayName, state,
 * tenantId}. */
static void print_subscriptions_json(struct json_object *subs,
				     enum output output)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(subs); i++) {
		struct json_object *s = jx_at(subs, i),
				   *o = json_object_new_object();
		static const char *const keys[] = { "subscriptionId",
						    "displayName", "state",
						    "tenantId", NULL };

		for (int k = 0; keys[k]; k++)
			json_object_object_add(o, keys[k],
					       jx_copy(jx_get(s, keys[k])));
		json_object_array_add(out, o);
	}
	cli_print_doc(out, NULL, output == OUT_TSV);
	json_object_put(out);
}

/* azcmk account list: the subscriptions the signed-in principal can see. */
int cmd_account(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct az_error e = { 0 };
	struct json_object *subs = NULL;
	int rc = EXIT_OK;

	if (argc != 1 || strcmp(argv[0], "list") != 0) {
		cli_error(_("usage: %s account list [--output "
			    "table|json|tsv|none]"),
			  cli_program());
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	if (cmk_list_subscriptions(s, &subs, &e) != 0) {
		cli_error(_("cannot list subscriptions: %s"), e.message);
		rc = EXIT_ERROR;
	} else if (output_is_doc(o->output)) {
		print_subscriptions_json(subs, o->output);
	} else {
		print_subscriptions(subs);
	}
	json_object_put(subs);
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}
