/* azcmk keys: a key vault's or Managed HSM's keys, or one key's versions, as a
 * table or as JSON. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "cmd.h"
#include "i18n.h"
#include "jx.h"
#include "keys.h"
#include "pick.h"
#include "planflow.h"
#include "sbuf.h"
#include "survey.h"
#include "text.h"
#include "xalloc.h"

#define MAX_NAMED 5 /* the stores named when none has the name asked for */
#define MAX_COLS 5  /* the columns of the widest table */

/* Adds to ids the id of each visible subscription --subscription names (id or
 * name); false at the first unseen. */
static bool named_subs(const struct cmd_opts *o, struct json_object *visible,
		       struct json_object *ids, struct az_error *e)
{
	for (size_t k = 0; k < o->nsubs; k++) {
		struct json_object *hit = NULL;

		/* An entry without a string id is no subscription to look in.
		 */
		for (size_t i = 0; i < jx_len(visible) && !hit; i++)
			if (!jx_str(jx_at(visible, i), "subscriptionId"))
				continue;
			else if (str_ieq(jx_str(jx_at(visible, i),
						"subscriptionId"),
					 o->subscriptions[k]) ||
				 str_ieq(jx_str(jx_at(visible, i),
						"displayName"),
					 o->subscriptions[k]))
				hit = jx_at(visible, i);
		if (!hit) {
			char *shown = text_sanitize(o->subscriptions[k], false);

			az_error_set(e,
				     _("subscription '%s' is not one you can "
				       "see: check it with '%s account list'"),
				     shown, cli_program());
			free(shown);
			return false;
		}
		json_object_array_add(ids, json_object_new_string(jx_str(
						   hit, "subscriptionId")));
	}
	return true;
}

/*
 * Lists the ids of the subscriptions to look in (--subscription, else every
 * one you can see) into *ids: 0, -1 when the read failed, 1 when
 * --subscription names one you cannot see (*e says so).
 */
static int scope(struct az_session *s, const struct cmd_opts *o,
		 struct json_object **ids, struct az_error *e)
{
	struct json_object *visible = NULL;
	int rc = cmk_list_subscriptions(s, &visible, e);

	*ids = json_object_new_array();
	for (size_t i = 0; rc == 0 && !o->nsubs && i < jx_len(visible); i++)
		if (jx_str(jx_at(visible, i), "subscriptionId"))
			json_object_array_add(
				*ids,
				json_object_new_string(jx_str(
					jx_at(visible, i), "subscriptionId")));
	if (rc == 0 && !named_subs(o, visible, *ids, e))
		rc = 1;
	json_object_put(visible);
	return rc;
}

/* Returns the listed store of this name (ignoring case), or NULL. */
static struct json_object *store_named(struct json_object *stores,
				       const char *name)
{
	for (size_t i = 0; i < jx_len(stores); i++)
		if (str_ieq(jx_str(jx_at(stores, i), "name"), name))
			return jx_at(stores, i);
	return NULL;
}

/* Says that no store you can see has the name asked for, naming a few that do
 * exist and what to do. */
static void not_found(struct az_session *s, const char *name,
		      struct json_object *stores, struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	struct sbuf b = SBUF_INIT;
	char *shown = text_sanitize(name, false), *there;

	for (size_t i = 0; i < jx_len(stores) && i < MAX_NAMED; i++) {
		char *one =
			text_sanitize(jx_str(jx_at(stores, i), "name"), false);

		sb_printf(&b, "%s%s", i ? ", " : "", one);
		free(one);
	}
	if (jx_len(stores) > MAX_NAMED)
		sb_adds(&b, ", ...");
	there = b.len ? xasprintf(_("those there: %s"), sb_str(&b))
		      : xstrdup(_("there is none"));
	az_error_set(e,
		     _("no key vault or Managed HSM named '%s' in the "
		       "subscriptions you can see (%s): check the name "
		       "or --subscription, or give the store's URI "
		       "(https://%s%s/) if you may read its keys but not "
		       "see it"),
		     shown, there, shown, sfx.vault ? sfx.vault : "");
	free(there);
	free(shown);
	sb_free(&b);
}

/* Says that the store could not be looked up (a read of Resource Manager
 * failed), and how to do without. */
static void lookup_failed(struct az_session *s, const char *name,
			  struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	char *said = xstrdup(e->message ? e->message : "?"),
	     *shown = text_sanitize(name, false);

	az_error_set(e,
		     _("cannot look for the key vault or Managed HSM '%s': %s; "
		       "give its URI (https://%s%s/) instead"),
		     shown, said, shown, sfx.vault ? sfx.vault : "");
	free(shown);
	free(said);
}

/* Looks the store of this name up among those in the subscriptions and makes a
 * reference to it; false with *e. */
static bool look_up(struct az_session *s, const struct cmd_opts *o,
		    const char *name, struct key_ref *out, struct az_error *e)
{
	struct json_object *ids = NULL, *stores = NULL, *hit;
	const char **subs = NULL;
	bool ok = false;
	int rc = scope(s, o, &ids, e);

	if (rc == 0 && jx_len(ids)) {
		subs = xcalloc(jx_len(ids), sizeof(*subs));
		for (size_t i = 0; i < jx_len(ids); i++)
			subs[i] = json_object_get_string(jx_at(ids, i));
		rc = az_key_stores(s, subs, jx_len(ids), &stores, e);
	}
	if (rc == 0 && (hit = store_named(stores, name)) != NULL)
		ok = az_keys_ref(s,
				 pick_store_uri(hit) ? pick_store_uri(hit)
						     : jx_str(hit, "name"),
				 NULL, out, e);
	else if (rc == 0)
		not_found(s, name, stores, e);
	else if (rc < 0)
		lookup_failed(s, name, e);
	free(subs);
	json_object_put(stores);
	json_object_put(ids);
	return ok;
}

/* Makes a reference to the store VAULT names: its URI as given, else the store
 * of that name you can see. */
static bool find_store(struct az_session *s, const struct cmd_opts *o,
		       const char *vault, struct key_ref *out,
		       struct az_error *e)
{
	if (str_istarts(vault, "https://"))
		return az_keys_ref(s, vault, NULL, out, e);
	return look_up(s, o, vault, out, e);
}

/* Prints one table row, each cell padded to its column's display width, without
 * trailing spaces. */
static void print_row(const char *const *cells, const int *widths, int n)
{
	struct sbuf b = SBUF_INIT;

	for (int i = 0; i < n; i++) {
		char *padded = text_pad(cells[i], widths[i]);

		sb_printf(&b, "%s%s", i ? "  " : "", padded);
		free(padded);
	}
	while (b.len && b.s[b.len - 1] == ' ')
		b.s[--b.len] = '\0';
	printf("%s\n", sb_str(&b));
	sb_free(&b);
}

/* Prints a table: a header, then rows of sanitized cells (n columns each), the
 * columns sized to fit. */
static void print_table(const char *const *head, char ***rows, size_t nrows,
			int n)
{
	int widths[MAX_COLS];

	for (int k = 0; k < n; k++) {
		widths[k] = text_width(head[k]);
		for (size_t i = 0; i < nrows; i++)
			widths[k] = text_width(rows[i][k]) > widths[k]
					    ? text_width(rows[i][k])
					    : widths[k];
	}
	print_row(head, widths, n);
	for (size_t i = 0; i < nrows; i++)
		print_row((const char *const *)rows[i], widths, n);
}

/* Returns a cell: the server's text made safe for the terminal, or dflt when
 * there is none; allocated. */
static char *cell(const char *text, const char *dflt)
{
	return text_sanitize(text ? text : dflt, false);
}

/* Returns the ENABLED cell of a key or version: yes, no, or ? when Key Vault
 * did not say; allocated. */
static char *enabled_cell(struct json_object *k)
{
	struct json_object *on = jx_get(k, "enabled");

	if (!json_object_is_type(on, json_type_boolean))
		return xstrdup("?");
	return xstrdup(json_object_get_boolean(on) ? _("yes") : _("no"));
}

/* Returns the EXPIRES cell: the time, "never" for none, or ? when Key Vault
 * gave one that is not a time; allocated. */
static char *expires_cell(struct json_object *k)
{
	const char *exp = jx_str(k, "expires");

	if (!exp)
		return xstrdup(_("never"));
	return cell(strcmp(exp, "unknown") ? exp : "?", "");
}

/* Returns the CURRENT cell of a version: yes, nothing, or ? when the key's
 * own read failed and no version can be named current; allocated. */
static char *current_cell(struct json_object *v)
{
	struct json_object *cur = jx_get(v, "current");

	if (!json_object_is_type(cur, json_type_boolean))
		return xstrdup("?");
	return xstrdup(json_object_get_boolean(cur) ? _("yes") : "");
}

/* Frees a table's rows of n cells. */
static void free_rows(char ***rows, size_t nrows, int n)
{
	for (size_t i = 0; i < nrows; i++) {
		for (int k = 0; k < n; k++)
			free(rows[i][k]);
		free(rows[i]);
	}
	free(rows);
}

/* Returns a key's type and size as a cell ("RSA 2048", "EC", or "?" when its
 * details could not be read). */
static char *type_cell(struct json_object *k)
{
	char *kty = cell(jx_str(k, "kty"), "?"), *out;

	if (jx_int(k, "keySize", 0) <= 0)
		return kty;
	out = xasprintf("%s %lld", kty, (long long)jx_int(k, "keySize", 0));
	free(kty);
	return out;
}

/* Prints a store's keys as text: what the store is and how many keys it holds,
 * then a table of them. */
static void print_keys(const struct key_ref *store, struct json_object *keys)
{
	size_t n = jx_len(keys);
	char ***rows = xcalloc(n + 1, sizeof(*rows)),
	     *name = cell(store->vault, "?"),
	     *uri = cell(store->vault_uri, "?");

	if (store->hsm)
		printf(P_("Managed HSM %s (%s) holds %zu key.\n",
			  "Managed HSM %s (%s) holds %zu keys.\n", n),
		       name, uri, n);
	else
		printf(P_("Key vault %s (%s) holds %zu key.\n",
			  "Key vault %s (%s) holds %zu keys.\n", n),
		       name, uri, n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *k = jx_at(keys, i);

		rows[i] = xcalloc(MAX_COLS, sizeof(**rows));
		rows[i][0] = cell(jx_str(k, "name"), "?");
		rows[i][1] = type_cell(k);
		rows[i][2] = enabled_cell(k);
		rows[i][3] = expires_cell(k);
		rows[i][4] = cell(jx_str(k, "version"), "?");
	}
	if (n) {
		/* TRANSLATORS: column headers of "azcmk keys VAULT"; the
		 * columns are sized to fit them. */
		const char *head[] = { _("NAME"), _("TYPE"), _("ENABLED"),
				       _("EXPIRES"), _("CURRENT VERSION") };

		print_table(head, rows, n, 5);
	}
	free_rows(rows, n, MAX_COLS);
	free(name);
	free(uri);
}

/* Prints a key's versions as text, newest first, the current one marked. */
static void print_versions(const struct key_ref *key,
			   struct json_object *versions)
{
	/* TRANSLATORS: column headers of "azcmk keys VAULT --versions KEY"; the
	 * columns are sized to fit them. */
	const char *head[] = { _("VERSION"), _("ENABLED"), _("CREATED"),
			       _("EXPIRES"), _("CURRENT") };
	size_t n = jx_len(versions);
	char ***rows = xcalloc(n + 1, sizeof(*rows)),
	     *name = cell(key->name, "?"), *store = cell(key->vault, "?");

	if (key->hsm)
		printf(P_("Key %s in Managed HSM %s has %zu version, the "
			  "newest first.\n",
			  "Key %s in Managed HSM %s has %zu versions, the "
			  "newest first.\n",
			  n),
		       name, store, n);
	else
		printf(P_("Key %s in key vault %s has %zu version, the newest "
			  "first.\n",
			  "Key %s in key vault %s has %zu versions, the newest "
			  "first.\n",
			  n),
		       name, store, n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = jx_at(versions, i);

		rows[i] = xcalloc(MAX_COLS, sizeof(**rows));
		rows[i][0] = cell(jx_str(v, "version"), "?");
		rows[i][1] = enabled_cell(v);
		rows[i][2] = cell(jx_str(v, "created"), "?");
		rows[i][3] = expires_cell(v);
		rows[i][4] = current_cell(v);
	}
	print_table(head, rows, n, 5);
	free_rows(rows, n, MAX_COLS);
	free(name);
	free(store);
}

/* Returns the JSON description of a store: its name, URI and kind ("vault" or
 * "managedHsm"). */
static struct json_object *store_json(const struct key_ref *store)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(store->vault));
	json_object_object_add(o, "uri",
			       json_object_new_string(store->vault_uri));
	json_object_object_add(
		o, "kind",
		json_object_new_string(store->hsm ? "managedHsm" : "vault"));
	return o;
}

/* Prints a store's keys as JSON: {store, keys}, each key as keys.h describes
 * it. */
static void print_keys_json(const struct key_ref *store,
			    struct json_object *keys, enum output out)
{
	struct json_object *doc = json_object_new_object();

	json_object_object_add(doc, "store", store_json(store));
	json_object_object_add(doc, "keys", json_object_get(keys));
	cli_print_doc(doc, "keys", out == OUT_TSV);
	json_object_put(doc);
}

/* Prints a key's versions as JSON: {store, key, versions}, each {version, kid,
 * enabled, created, expires, current}. */
static void print_versions_json(const struct key_ref *key,
				struct json_object *versions, enum output out)
{
	static const char *const fields[] = { "version", "kid",     "enabled",
					      "created", "expires", "current" };
	struct json_object *doc = json_object_new_object(),
			   *list = json_object_new_array();

	for (size_t i = 0; i < jx_len(versions); i++) {
		struct json_object *v = json_object_new_object();

		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
			json_object_object_add(
				v, fields[f],
				jx_copy(jx_get(jx_at(versions, i), fields[f])));
		json_object_array_add(list, v);
	}
	json_object_object_add(doc, "store", store_json(key));
	json_object_object_add(doc, "key", json_object_new_string(key->name));
	json_object_object_add(doc, "versions", list);
	cli_print_doc(doc, "versions", out == OUT_TSV);
	json_object_put(doc);
}

/* Orders keys by name, ignoring case (then exactly), for a listing that does
 * not move between runs. */
static int by_name(const void *a, const void *b)
{
	const char *x = jx_str(*(struct json_object *const *)a, "name");
	const char *y = jx_str(*(struct json_object *const *)b, "name");
	int c = strcasecmp(x ? x : "", y ? y : "");

	return c ? c : strcmp(x ? x : "", y ? y : "");
}

/* Adds, after a failure to list, what to do when Key Vault said the store or
 * key does not exist. */
static void hint_missing(struct az_error *e, const struct key_ref *store,
			 const char *key)
{
	char *said;

	if (e->status != 404)
		return;
	said = xstrdup(e->message ? e->message : "?");
	if (key)
		az_error_set(e,
			     _("%s; see the keys it holds with '%s keys %s'"),
			     said, cli_program(), store->vault);
	else
		az_error_set(e,
			     _("%s; check the name or URI of the key vault or "
			       "Managed HSM"),
			     said);
	free(said);
}

/* Lists a store's keys and prints them; an exit status. */
static int list_keys(struct az_session *s, const struct cmd_opts *o,
		     const struct key_ref *store)
{
	struct json_object *keys = NULL;
	struct az_error e = { 0 };
	int rc = EXIT_OK;

	if (az_keys_list(s, store, 0, &keys, &e) != 0) {
		hint_missing(&e, store, NULL);
		cli_error("%s", e.message);
		rc = EXIT_ERROR;
	} else {
		json_object_array_sort(keys, by_name);
		if (output_is_doc(o->output))
			print_keys_json(store, keys, o->output);
		else
			print_keys(store, keys);
	}
	json_object_put(keys);
	az_error_clear(&e);
	return rc;
}

/* Lists a key's versions and prints them, newest first; an exit status. */
static int list_versions(struct az_session *s, const struct cmd_opts *o,
			 const struct key_ref *store, const char *name)
{
	struct json_object *versions = NULL;
	struct az_error e = { 0 };
	struct key_ref key = { 0 };
	int rc = EXIT_ERROR;

	if (!az_keys_ref(s, store->vault_uri, name, &key, &e)) {
		cli_error("%s", e.message);
	} else if (az_key_versions(s, &key, &versions, &e) != 0) {
		hint_missing(&e, store, name);
		cli_error("%s", e.message);
	} else if (jx_len(versions) == 0) {
		/* Every key has a version: a list without one is a key that
		 * does not exist. */
		cli_error(_("key %s was not found in %s; see the keys it holds "
			    "with '%s keys %s'"),
			  key.name, key.vault, cli_program(), key.vault);
	} else {
		if (output_is_doc(o->output))
			print_versions_json(&key, versions, o->output);
		else
			print_versions(&key, versions);
		rc = EXIT_OK;
	}
	json_object_put(versions);
	key_ref_free(&key);
	az_error_clear(&e);
	return rc;
}

/* azcmk keys VAULT [--versions KEY]: a store's keys, or a key's versions; exit
 * 0, or 2 on an error. */
int cmd_keys(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	struct az_error e = { 0 };
	struct key_ref store = { 0 };
	int rc;

	if (argc != 1)
		return flow_mistake(_("keys takes one VAULT: the name of a key "
				      "vault or Managed HSM, or its URI"));
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	if (!find_store(s, o, argv[0], &store, &e)) {
		cli_error("%s", e.message ? e.message : "?");
		rc = EXIT_ERROR;
	} else if (o->versions_of) {
		rc = list_versions(s, o, &store, o->versions_of);
	} else {
		rc = list_keys(s, o, &store);
	}
	key_ref_free(&store);
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}
