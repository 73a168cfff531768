/* Fetching the context the validation core judges: the resource, its identity,
 * the vault, the key, the access. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "armid.h"
#include "fetch.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "roles.h"
#include "sbuf.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

#define KV_API "7.5"
#define VAULT_API "2024-11-01"
#define AUTHZ_API "2022-04-01"
#define HEALTH_API "2025-05-01"
#define RG_API "2022-10-01"
#define POLICY_API "2022-03-01"

/* Escapes a value for a single-quoted KQL string. */
static char *kql_quote(const char *v)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = v; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sb_addc(&b, '\\');
		sb_addc(&b, *p);
	}
	return sb_steal(&b);
}

/* Builds a Resource Graph query request over the chosen subscriptions (all
 * visible ones when none). */
static struct az_req *graph_req(struct az_session *s, const char *query,
				const char *const *subs, size_t n)
{
	struct json_object *body = json_object_new_object(),
			   *list = json_object_new_array(),
			   *opts = json_object_new_object();
	struct az_req *r;

	for (size_t i = 0; i < n; i++)
		json_object_array_add(list, json_object_new_string(subs[i]));
	if (n)
		json_object_object_add(body, "subscriptions", list);
	else
		json_object_put(list);
	json_object_object_add(body, "query", json_object_new_string(query));
	/* Resource Graph gives 100 rows unless asked for more (Working with
	 * large Azure resource data sets): a page of 1,000, its most. */
	json_object_object_add(opts, "$top", json_object_new_int(1000));
	json_object_object_add(body, "options", opts);
	r = az_session_req(s, AZ_ARM, "POST",
			   "/providers/Microsoft.ResourceGraph/resources",
			   RG_API, jx_text(body));
	json_object_put(body);
	return r;
}

/* Runs a Resource Graph query over the chosen subscriptions (all visible ones
 * when none) and returns its rows. */
static struct json_object *graph_query(struct az_session *s, const char *query,
				       const char *const *subs, size_t n,
				       struct az_error *e)
{
	struct az_req *r = graph_req(s, query, subs, n);
	struct json_object *rows = NULL;

	if (az_session_call(s, r, e) == 0)
		rows = json_object_get(jx_get(r->json, "data"));
	az_req_free(r);
	return rows;
}

/* Appends the names of the key stores of one kind (HSMs or vaults) among keys
 * to a KQL list, quoted, each once; returns how many. */
static size_t store_names(struct sbuf *b, const struct key_ref *const *keys,
			  size_t n, bool hsm)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		bool again = false;

		for (size_t j = 0; j < i && !again; j++)
			again = keys[j]->vault &&
				keys[j]->hsm == keys[i]->hsm &&
				str_ieq(keys[j]->vault, keys[i]->vault);
		if (keys[i]->vault && keys[i]->hsm == hsm && !again) {
			char *q = kql_quote(keys[i]->vault);

			sb_printf(b, "%s'%s'", m++ ? ", " : "", q);
			free(q);
		}
	}
	return m;
}

/*
 * Looks the key vaults and managed HSMs of several keys up by name in one
 * Resource Graph query over the subscriptions. Returns the ARM ids found by
 * the lower-case URI of the key's vault (a new object; empty when the query
 * failed or found nothing). They are hints only (a cmk_target's vault_id): a
 * fetch reads the vault at the id and takes it only when the read is the
 * key's vault, else it looks the vault up again.
 */
struct json_object *cmk_find_vaults(struct az_session *s,
				    const struct key_ref *const *keys, size_t n,
				    const char *const *subs, size_t nsubs)
{
	struct json_object *found = json_object_new_object(), *rows;
	struct sbuf kv = SBUF_INIT, hsm = SBUF_INIT;
	struct az_error e = { 0 };
	size_t nkv = store_names(&kv, keys, n, false),
	       nhsm = store_names(&hsm, keys, n, true);
	char *query = xasprintf(
		"Resources | where (type =~ 'microsoft.keyvault/vaults' and "
		"name in~ (%s)) or (type =~ 'microsoft.keyvault/managedhsms' "
		"and name in~ (%s)) | project id, name, type",
		nkv ? sb_str(&kv) : "''", nhsm ? sb_str(&hsm) : "''");

	rows = (nkv + nhsm) > 0 ? graph_query(s, query, subs, nsubs, &e) : NULL;
	for (size_t i = 0; i < jx_len(rows); i++) {
		struct json_object *row = jx_at(rows, i);
		const char *id = jx_str(row, "id"), *name = jx_str(row, "name");
		bool is_hsm = str_ieq(jx_str(row, "type"),
				      "microsoft.keyvault/managedhsms");

		struct armid a;
		bool ok = id && name && armid_parse(id, &a);

		if (ok)
			armid_free(&a);
		for (size_t k = 0; ok && k < n; k++)
			if (keys[k]->vault_uri && keys[k]->hsm == is_hsm &&
			    str_ieq(keys[k]->vault, name)) {
				char *low = str_lower(keys[k]->vault_uri);

				json_object_object_add(
					found, low, json_object_new_string(id));
				free(low);
			}
	}
	json_object_put(rows);
	az_error_clear(&e);
	free(query);
	sb_free(&kv);
	sb_free(&hsm);
	return found;
}

/* Resolves a resource name (unique among the four services' resources) to its
 * ARM id. */
int cmk_resolve_resource(struct az_session *s, const char *name,
			 const char *const *subs, size_t nsubs, char **id,
			 struct az_error *e)
{
	char *q = kql_quote(name), *query, *types;
	struct json_object *rows;
	int rc = -1;

	if (str_istarts(name, "/subscriptions/")) {
		*id = xstrdup(name);
		free(q);
		return 0;
	}
	types = svc_types_kql(0);
	query = xasprintf("Resources | where type in~ (%s) and (name =~ '%s' "
			  "or name endswith '/%s') | project id",
			  types, q, q);
	free(types);
	rows = graph_query(s, query, subs, nsubs, e);
	/* A row without a string id names nothing: Graph's answer is untrusted.
	 */
	for (size_t i = jx_len(rows); rows && i-- > 0;)
		if (!jx_str(jx_at(rows, i), "id"))
			json_object_array_del_idx(rows, i, 1);
	if (rows && jx_len(rows) == 1) {
		*id = xstrdup(jx_str(jx_at(rows, 0), "id"));
		rc = 0;
	} else if (rows && jx_len(rows) == 0) {
		char *names = svc_names_text();

		az_error_set(
			e,
			_("no resource of the services azcmk protects (%s) is "
			  "named '%s' in the subscriptions you "
			  "can see; give its ARM id, or check --subscription"),
			names, name);
		free(names);
	} else if (rows) {
		az_error_set(e,
			     _("%zu resources are named '%s'; give the ARM id "
			       "of the one you mean, such as %s"),
			     jx_len(rows), name, jx_str(jx_at(rows, 0), "id"));
	}
	json_object_put(rows);
	free(query);
	free(q);
	return rc;
}

/* Takes a checked key reference into the fetch's fields (which then own its
 * strings). */
static void take_key(struct cmk_fetch *f, struct key_ref *k)
{
	f->ctx.keyref = *k;
	memset(k, 0, sizeof(*k));
}

/*
 * Decides which key is judged: the one the operator names (a change), or
 * the one in use (an audit). Every key reference goes through the one
 * parser, held to the cloud's own Key Vault and Managed HSM hosts.
 */
static int pick_key(struct az_session *s, const struct cmk_target *t,
		    struct cmk_fetch *f, struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	struct key_ref k;
	const char *why = NULL;
	char *uri = NULL;
	bool ok = true;

	if (t->key_uri) {
		ok = key_ref_parse(t->key_uri, &sfx, &k, &why);
		f->ctx.change = true;
	} else if (t->key && t->vault) {
		ok = key_ref_from_parts(t->vault, t->key, t->version, &sfx, &k,
					&why);
		f->ctx.change = true;
	} else if ((uri = svc_key_uri(f->ctx.svc, f->resource)) != NULL) {
		ok = key_ref_parse(uri, &sfx, &k, &why);
	} else {
		return 0;
	}
	if (ok) {
		take_key(f, &k);
	} else {
		char *shown = text_sanitize(t->key_uri ? t->key_uri
					    : uri      ? uri
						       : t->key,
					    false);

		az_error_set(e,
			     _("'%s' is not a key azcmk can use: %s; use "
			       "https://VAULT%s/keys/NAME[/VERSION]"),
			     shown, _(why), sfx.vault);
		free(shown);
	}
	free(uri);
	return ok ? 0 : -1;
}

/* Reads the user-assigned identity the operator names (ARM id, or a name
 * attached to the resource). */
static int pick_identity(struct az_session *s, const struct cmk_target *t,
			 struct cmk_fetch *f, struct az_error *e)
{
	struct json_object *map =
		jx_get(f->resource, "identity.userAssignedIdentities");
	const char *want = t->identity;
	struct az_req *r;

	if (!want) {
		const char *in_use = cmk_identity_in_use(
			f->ctx.svc, f->resource, &f->unattached);

		f->uai_id = in_use ? xstrdup(in_use) : NULL;
	} else if (str_ieq(want, "system")) {
		/* The system-assigned identity, as the operator says. */
	} else if (str_istarts(want, "/subscriptions/")) {
		f->uai_id = xstrdup(want);
	} else if (json_object_is_type(map, json_type_object)) {
		json_object_object_foreach(map, k, v)
		{
			(void)v;
			if (str_iends(k, want) &&
			    k[strlen(k) - strlen(want) - 1] == '/')
				f->uai_id = xstrdup(k);
		}
	}
	if (want && !str_ieq(want, "system") && !f->uai_id) {
		az_error_set(e,
			     _("no user-assigned identity '%s' is attached to "
			       "the resource; give its ARM id to attach it"),
			     want);
		return -1;
	}
	/* Only a user-assigned identity's ARM id is read (a key setting's is
	 * untrusted text). */
	if (!f->uai_id ||
	    !armid_of_type(f->uai_id,
			   "Microsoft.ManagedIdentity/userAssignedIdentities",
			   NULL))
		return 0;
	r = az_session_req(s, AZ_ARM, "GET", f->uai_id, "2023-01-31", NULL);
	if (az_session_send(s, &r, 1, e) == 0 && r->status == 200)
		f->uai = json_object_get(r->json);
	f->round_trips++;
	az_req_free(r);
	return 0;
}

/* Builds the request that asks Azure Policy whether a deny assignment refuses
 * the resource as the save leaves it. */
static struct az_req *policy_req(struct az_session *s, struct cmk_fetch *f)
{
	struct json_object *body = json_object_new_object(),
			   *details = json_object_new_object();
	struct armid a;
	struct az_req *r = NULL;
	char *path;

	if (!armid_parse(jx_str(f->resource, "id"), &a))
		return NULL;
	path = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/"
			 "Microsoft.PolicyInsights/checkPolicyRestrictions",
			 a.subscription,
			 a.resource_group ? a.resource_group : "");
	json_object_object_add(details, "resourceContent",
			       plan_after_save(&f->ctx));
	json_object_object_add(details, "apiVersion",
			       json_object_new_string(f->ctx.svc->api_version));
	json_object_object_add(body, "resourceDetails", details);
	json_object_object_add(body, "pendingFields", json_object_new_array());
	if (a.resource_group)
		r = az_session_req(s, AZ_ARM, "POST", path, POLICY_API,
				   jx_text(body));
	armid_free(&a);
	free(path);
	json_object_put(body);
	return r;
}

/*
 * Finds the vault by name with ARM lists where Resource Graph is refused: in
 * the resource's subscription, then in those named. Sets e when it is not
 * found and a list could not be read (the vault is then unreadable, not
 * missing: it may be in the subscription that did not answer).
 */
static char *find_vault_arm(struct az_session *s, struct cmk_fetch *f,
			    const struct cmk_target *t, struct az_error *e)
{
	struct armid a;
	char *id = NULL;
	bool failed = false;

	if (!armid_parse(jx_str(f->resource, "id"), &a))
		return NULL;
	for (size_t i = 0; !id && i <= t->nsubs; i++) {
		const char *sub =
			i == 0 ? a.subscription : t->subscriptions[i - 1];
		char *path = xasprintf(
			"/subscriptions/%s/"
			"resources?$filter=resourceType%%20eq%%20'%s'%%20and%%"
			"20name%%20eq%%20'%s'",
			sub,
			f->ctx.keyref.hsm ? "Microsoft.KeyVault/managedHSMs"
					  : "Microsoft.KeyVault/vaults",
			f->ctx.keyref.vault);
		struct json_object *items = NULL;

		if ((i == 0 || !str_ieq(sub, a.subscription)) &&
		    az_session_list(s, AZ_ARM, path, "2021-04-01", &items, e) !=
			    0)
			failed = true;
		else if (jx_str(jx_at(items, 0), "id"))
			id = xstrdup(jx_str(jx_at(items, 0), "id"));
		else if (jx_len(items))
			failed = true; /* an item without an id: no answer */
		az_error_clear(e);
		json_object_put(items);
		free(path);
	}
	if (!id && failed)
		az_error_set(e,
			     _("key vault %s was not found, and a subscription "
			       "would not list its key vaults (Resource Graph "
			       "refused first): it may be there"),
			     f->ctx.keyref.vault ? f->ctx.keyref.vault : "?");
	armid_free(&a);
	return id;
}

/* Builds the Resource Graph query that finds the vault's (or HSM's) ARM id by
 * its name. */
static struct az_req *vault_query_req(struct az_session *s,
				      const struct cmk_fetch *f,
				      const struct cmk_target *t)
{
	const char *type = f->ctx.keyref.hsm ? "microsoft.keyvault/managedhsms"
					     : "microsoft.keyvault/vaults";
	char *q = kql_quote(f->ctx.keyref.vault),
	     *query = xasprintf("Resources | where type =~ '%s' and name =~ "
				"'%s' | project id",
				type, q);
	struct az_req *r = graph_req(s, query, t->subscriptions, t->nsubs);

	free(query);
	free(q);
	return r;
}

/*
 * Returns a read's status for the rules: its HTTP status, or
 * CMK_READ_NO_ANSWER when none came: the connection failed, or the request was
 * left unanswered (a 401 whose new token could not be had clears the answer;
 * a retry abandoned when another request failed). Never 0, which tells the
 * rules that nothing was asked.
 */
static long answer_status(const struct az_req *r)
{
	return r->curl_code || r->status == 0 ? CMK_READ_NO_ANSWER : r->status;
}

/* Takes Azure Policy's answer about the save; a refused policy check is no
 * finding, only its status. */
static void take_policy(struct cmk_fetch *f, const struct az_req *r)
{
	if (r->status == 200) {
		f->policy = json_object_get(jx_get(
			r->json, "contentEvaluationResult.policyEvaluations"));
		f->ctx.policy_status = 200;
	} else {
		f->ctx.policy_status = answer_status(r);
	}
}

/*
 * Returns the vault's ARM id from the Resource Graph answer r (e holds the
 * error when it could not be sent); where Resource Graph refuses, ARM's lists.
 */
static char *vault_from_answer(struct az_session *s, struct cmk_fetch *f,
			       const struct cmk_target *t,
			       const struct az_req *r, struct az_error *e)
{
	struct json_object *rows = NULL;

	if (!r->curl_code && r->status == 200) {
		rows = jx_get(r->json, "data");
		/* An answer without rows, or with a row without an id, says
		 * nothing about the vault: it is unread, not missing. */
		if (!json_object_is_type(rows, json_type_array) ||
		    (jx_len(rows) && !jx_str(jx_at(rows, 0), "id"))) {
			az_error_set(
				e,
				_("Resource Graph's answer about key vault "
				  "%s has no rows azcmk can read; try "
				  "again"),
				f->ctx.keyref.vault ? f->ctx.keyref.vault
						    : "?");
			return NULL;
		}
	} else if (!e->message)
		az_error_from_req(
			e, r,
			"POST /providers/Microsoft.ResourceGraph/resources");
	if (rows && jx_str(jx_at(rows, 0), "id"))
		return xstrdup(jx_str(jx_at(rows, 0), "id"));
	if (!rows && !r->curl_code && r->status >= 400 &&
	    !az_http_canceled(az_session_http(s))) {
		az_error_clear(e);
		return find_vault_arm(s, f, t, e);
	}
	return NULL;
}

/*
 * Finds the vault's (or HSM's) ARM id by name and, for a change, asks Azure
 * Policy about the save, both at once. A refused policy check is no finding.
 */
static char *find_vault(struct az_session *s, struct cmk_fetch *f,
			const struct cmk_target *t, struct az_error *e)
{
	struct az_req *r[2] = { vault_query_req(s, f, t),
				f->ctx.change && !t->no_policy
					? policy_req(s, f)
					: NULL };
	char *id;

	/* A failed send leaves its error in e, which a refusal's fallback to
	 * ARM's lists replaces. */
	(void)az_session_send(s, r, r[1] ? 2 : 1, e);
	id = vault_from_answer(s, f, t, r[0], e);

	if (r[1])
		take_policy(f, r[1]);
	az_req_free(r[0]);
	az_req_free(r[1]);
	return id;
}

/* Returns the JSON of an answer when it is 200 (a new reference), else NULL;
 * records the status. */
static struct json_object *take(struct az_req *r, long *status)
{
	bool shaped = json_object_is_type(r->json, json_type_object);

	/* No answer, or a 200 that is not the JSON object the API documents, is
	 * not a verdict either way. */
	*status = r->status == 200 && !r->curl_code && !shaped
			  ? CMK_READ_MALFORMED
			  : answer_status(r);
	return r->status == 200 && !r->curl_code && shaped
		       ? json_object_get(r->json)
		       : NULL;
}

/* Takes a list's "value" array, with its status (a 200 without the array is
 * malformed). */
static struct json_object *take_list(struct az_req *r, long *status)
{
	struct json_object *value = jx_get(r->json, "value");
	bool shaped = json_object_is_type(value, json_type_array);

	*status = r->status == 200 && !r->curl_code && !shaped
			  ? CMK_READ_MALFORMED
			  : answer_status(r);
	return r->status == 200 && !r->curl_code && shaped
		       ? json_object_get(value)
		       : NULL;
}

/* Returns the index of the newest version by creation time (Key Vault promises
 * no order), or SIZE_MAX when none. */
static size_t newest_version(struct json_object *items)
{
	size_t best = SIZE_MAX;
	int64_t when = INT64_MIN;

	for (size_t i = 0; i < jx_len(items); i++) {
		int64_t created =
			jx_int(jx_at(items, i), "attributes.created", 0);

		if (best == SIZE_MAX || created > when) {
			best = i;
			when = created;
		}
	}
	return best;
}

/*
 * Reads the pages after the first of a list into its value array, when the
 * answer had a nextLink: on the first page's own host only (it gets the
 * token). Without every page no verdict rests on the list, so a failure
 * sets *status.
 */
static void rest_of_list(struct az_session *s, enum az_target t,
			 const char *next, const char *first_url,
			 struct json_object *value, long *status)
{
	struct json_object *rest = NULL;
	struct az_error e = { 0 };

	if (!next || !*next || !json_object_is_type(value, json_type_array))
		return;
	if (!wire_same_origin(next, first_url) ||
	    az_session_list(s, t, next, NULL, &rest, &e) != 0) {
		*status = wire_same_origin(next, first_url)
				  ? CMK_READ_NO_ANSWER
				  : CMK_READ_MALFORMED;
		az_error_clear(&e);
		return;
	}
	for (size_t i = 0; i < jx_len(rest); i++)
		json_object_array_add(value, json_object_get(jx_at(rest, i)));
	json_object_put(rest);
}

/* Takes a list's "value" array with every later page (Key Vault pages 25 to a
 * page; ARM as it likes). */
static struct json_object *take_all(struct az_session *s, struct az_req *r,
				    long *status)
{
	struct json_object *value = take_list(r, status);

	if (value)
		rest_of_list(s, r->target, jx_str(r->json, "nextLink"), r->url,
			     value, status);
	return value;
}

/*
 * Key Vault refuses to GET a disabled version (403, KeyDisabled), yet lists
 * it with its attributes: take those, so the key reads as existing but
 * disabled.
 */
static void disabled_version(struct cmk_fetch *f, struct az_req *r)
{
	struct az_wire_error we = { 0 };
	struct json_object *items = jx_get(f->versions, "value");
	bool disabled = r->status == 403 && wire_parse_error(r->json, &we) &&
			str_ieq(we.inner, "KeyDisabled");

	wire_error_free(&we);
	size_t newest = newest_version(items);

	for (size_t i = 0; disabled && i < jx_len(items); i++) {
		const char *kid = jx_str(jx_at(items, i), "kid");
		bool match = f->ctx.keyref.version
				     ? str_ieq(key_ref_version_in(
						       &f->ctx.keyref, kid),
					       f->ctx.keyref.version)
				     : i == newest;

		if (match) {
			json_object_put(f->key);
			f->key = json_object_new_object();
			json_object_object_add(
				f->key, "attributes",
				jx_copy(jx_get(jx_at(items, i), "attributes")));
			f->ctx.key_status = 200;
		}
	}
}

/*
 * Returns the request for the role assignments that could give the service's
 * principal the key: ARM's at the vault (at, above and below it), or, on a
 * Managed HSM, the HSM's own local RBAC, which ARM does not hold.
 */
static struct az_req *assignments_req(struct az_session *s,
				      const struct cmk_fetch *f,
				      const char *vault_id,
				      const char *principal)
{
	char *url =
		f->ctx.keyref.hsm
			? xasprintf("%sproviders/Microsoft.Authorization/"
				    "roleAssignments",
				    f->ctx.keyref.vault_uri)
			: xasprintf("%s/providers/Microsoft.Authorization/"
				    "roleAssignments?$filter=principalId%%20eq"
				    "%%20'%s'",
				    vault_id,
				    /* Only an object id goes in the query;
				     * any other names no one. */
				    is_uuid(principal)
					    ? principal
					    : "00000000-0000-0000-0000-"
					      "000000000000");
	struct az_req *r = az_session_req(
		s, f->ctx.keyref.hsm ? AZ_KEYVAULT : AZ_ARM, "GET", url,
		f->ctx.keyref.hsm ? KV_API : AUTHZ_API, NULL);

	free(url);
	return r;
}

/* Tells whether a principal is among those whose assignments are kept. */
static bool kept(const char *const *keep, size_t n, const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] && str_ieq(keep[i], who))
			return true;
	return false;
}

/* Tells whether an assignment of the list has this name already (the two HSM
 * lists overlap). */
static bool named_in(struct json_object *list, const char *name)
{
	for (size_t i = 0; name && i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "name"), name))
			return true;
	return false;
}

/*
 * Turns the HSM's local assignments of the service's principal and of the
 * operator into the shape the rules judge: the scope under the HSM's ARM id
 * ("/" is the HSM, "/keys/K" the key), the role by its GUID. Returns a new
 * array, each assignment once.
 */
static struct json_object *hsm_assignments(struct json_object *value,
					   const char *hsm_id,
					   const char *const *keep,
					   size_t nkeep)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(value); i++) {
		struct json_object *ra = jx_at(value, i), *o, *p;
		const char *scope = jx_str(ra, "properties.scope"),
			   *rd = jx_str(ra, "properties.roleDefinitionId");
		const char *who = jx_str(ra, "properties.principalId");
		char *full;

		if (!scope || !rd || !strrchr(rd, '/') || !who ||
		    scope[0] != '/' || named_in(out, jx_str(ra, "name")) ||
		    !kept(keep, nkeep, who))
			continue;
		full = xasprintf("%s%s", hsm_id,
				 strcmp(scope, "/") ? scope : "");
		o = json_object_new_object();
		p = json_object_new_object();
		json_object_object_add(p, "scope",
				       json_object_new_string(full));
		json_object_object_add(
			p, "roleDefinitionId",
			json_object_new_string(strrchr(rd, '/') + 1));
		json_object_object_add(p, "principalId",
				       json_object_new_string(who));
		json_object_object_add(o, "properties", p);
		json_object_object_add(o, "name", jx_copy(jx_get(ra, "name")));
		json_object_array_add(out, o);
		free(full);
	}
	return out;
}

/*
 * Joins an HSM's two lists of local assignments (HSM-wide, and the key's
 * own) into the service principal's and the operator's; a failed read of
 * either leaves the verdict open.
 */
static void hsm_local(struct az_session *s, struct cmk_fetch *f,
		      struct az_req *per_key, const char *hsm_id)
{
	struct json_object *claims = az_session_claims(s), *both, *key_list;
	const char *keep[2 + CMK_OTHERS_MAX];
	bool more;
	size_t others;
	long key_status;

	key_list = take_all(s, per_key, &key_status);
	if (f->ctx.assignments_status == 200 && key_status != 200)
		f->ctx.assignments_status = key_status;
	both = json_object_new_array();
	for (size_t i = 0; i < jx_len(f->assignments); i++)
		json_object_array_add(
			both, json_object_get(jx_at(f->assignments, i)));
	for (size_t i = 0; i < jx_len(key_list); i++)
		json_object_array_add(both,
				      json_object_get(jx_at(key_list, i)));
	/* The service's principal, the other identities it may use, and
	 * the operator: whose local assignments are judged. */
	keep[0] = cmk_principal(&f->ctx);
	keep[1] = jx_str(claims, "oid");
	others = cmk_other_principals(&f->ctx, keep + 2, &more);
	if (others)
		f->ctx.others_status = f->ctx.assignments_status;
	json_object_put(f->assignments);
	f->assignments =
		f->ctx.assignments_status == 200
			? hsm_assignments(both, hsm_id, keep, 2 + others)
			: NULL;
	json_object_put(both);
	json_object_put(key_list);
	json_object_put(claims);
}

/* What goes in the vault's wave beside its own reads. */
struct wave {
	const char *resource_id; /* the resource's ARM id */
	const char *principal;   /* whose role assignments are read */
	bool health;             /* Resource Health is asked */
	struct az_req *policy;   /* Azure Policy's question (the caller's), or
				    NULL */
	struct az_req *resource; /* the resource's read (the caller's), when it
				    goes in the same wave, or NULL */
};

/* Describes the vault's wave of a fetch whose resource is read already. */
static struct wave wave_after(const struct cmk_fetch *f, struct az_req *policy)
{
	struct wave w = { .resource_id = jx_str(f->resource, "id"),
			  .principal = cmk_principal(&f->ctx),
			  .health =
				  f->ctx.svc && f->ctx.svc->health_reports_key,
			  .policy = policy };

	return w;
}

/* The most requests a vault's wave holds: seven, the deny assignments or an
 * HSM key's assignments, Resource Health, Azure Policy and the resource. */
#define WAVE_MAX 11

/* The requests of a vault's wave (read_vault_and_key), and where each sits (0:
 * not in it). */
struct vault_wave {
	struct az_req *r[WAVE_MAX];
	size_t n, at_deny, at_health, at_keyra, at_policy, at_res;
};

/* Builds the wave that reads the vault, the key, its versions, rotation
 * policy, the identity's assignments and your permissions (and what the wave
 * adds), without sending it. */
static void vault_wave_build(struct az_session *s, const struct cmk_fetch *f,
			     const char *vault_id, const struct wave *w,
			     struct vault_wave *q)
{
	char *key = key_ref_uri(&f->ctx.keyref),
	     *vers = key_ref_url(&f->ctx.keyref, "/versions");
	char *rot = key_ref_url(&f->ctx.keyref, "/rotationpolicy");
	char *perm = xasprintf(
		"%s/providers/Microsoft.Authorization/permissions", vault_id);
	char *rperm =
		xasprintf("%s/providers/Microsoft.Authorization/permissions",
			  w->resource_id);
	/* Deny assignments at, above and below the vault (no filter): ARM's
	 * RBAC only; an HSM's local RBAC has none. */
	char *deny = xasprintf(
		"%s/providers/Microsoft.Authorization/denyAssignments",
		vault_id);
	char *health = xasprintf("%s/providers/Microsoft.ResourceHealth/"
				 "availabilityStatuses/current",
				 w->resource_id);
	char *keyra = key_ref_url(
		&f->ctx.keyref,
		"/providers/Microsoft.Authorization/roleAssignments");

	memset(q, 0, sizeof(*q));
	q->r[0] = az_session_req(s, AZ_ARM, "GET", vault_id, VAULT_API, NULL);
	q->r[1] = az_session_req(s, AZ_KEYVAULT, "GET", key, KV_API, NULL);
	q->r[2] = az_session_req(s, AZ_KEYVAULT, "GET", vers, KV_API, NULL);
	q->r[3] = az_session_req(s, AZ_KEYVAULT, "GET", rot, KV_API, NULL);
	q->r[4] = assignments_req(s, f, vault_id, w->principal);
	q->r[5] = az_session_req(s, AZ_ARM, "GET", perm, AUTHZ_API, NULL);
	q->r[6] = az_session_req(s, AZ_ARM, "GET", rperm, AUTHZ_API, NULL);
	q->n = 7;
	if (!f->ctx.keyref.hsm)
		q->r[q->at_deny = q->n++] =
			az_session_req(s, AZ_ARM, "GET", deny, AUTHZ_API, NULL);
	/* An HSM lists per-key assignments only at the key's own scope, not
	 * with the HSM-wide ones. */
	else
		q->r[q->at_keyra = q->n++] = az_session_req(
			s, AZ_KEYVAULT, "GET", keyra, KV_API, NULL);
	/* Only some services tell Resource Health whether they can reach their
	 * key (its checks by type). */
	if (w->health)
		q->r[q->at_health = q->n++] = az_session_req(
			s, AZ_ARM, "GET", health, HEALTH_API, NULL);
	/* Azure Policy's answer about the save, when the caller has it ask
	 * here: one wave. */
	if (w->policy)
		q->r[q->at_policy = q->n++] = w->policy;
	if (w->resource)
		q->r[q->at_res = q->n++] = w->resource;
	free(deny);
	free(health);
	free(keyra);
	free(rperm);
	free(key);
	free(vers);
	free(rot);
	free(perm);
}

/* Counts the vault's requests of a wave whose sign-in failed (another
 * tenant, a refused challenge) as unreadable where they went unanswered: no
 * abort. */
static void vault_wave_refused(struct vault_wave *q)
{
	for (size_t i = 1; i < q->n; i++)
		if ((i < 5 || i == q->at_keyra) &&
		    (q->r[i]->status == 401 ||
		     (q->r[i]->status == 0 && !q->r[i]->curl_code)))
			q->r[i]->status = 403;
}

/* Takes in the answers of a vault's wave that was sent. */
static void vault_wave_take(struct az_session *s, struct cmk_fetch *f,
			    const char *vault_id, const struct vault_wave *q)
{
	struct az_req *const *r = q->r;

	f->vault = take(r[0], &f->ctx.vault_status);
	f->key = take(r[1], &f->ctx.key_status);
	f->versions = take(r[2], &f->ctx.versions_status);
	f->rotation = take(r[3], &f->ctx.rotation_status);
	f->assignments = take_all(s, r[4], &f->ctx.assignments_status);
	if (f->ctx.keyref.hsm)
		hsm_local(s, f, r[q->at_keyra], vault_id);
	f->perms = take_list(r[5], &f->ctx.perms_status);
	f->res_perms = take_list(r[6], &f->ctx.resource_perms_status);
	if (q->at_deny)
		f->denies = take_all(s, r[q->at_deny], &f->ctx.denies_status);
	if (q->at_health)
		f->health = take(r[q->at_health], &f->ctx.health_status);
	if (f->versions) {
		rest_of_list(s, AZ_KEYVAULT, jx_str(f->versions, "nextLink"),
			     r[2]->url, jx_get(f->versions, "value"),
			     &f->ctx.versions_status);
		json_object_object_del(f->versions, "nextLink");
	}
	disabled_version(f, r[1]);
}

/* Takes in Azure Policy's answer, then frees a vault's wave but for the
 * requests that are the caller's (Azure Policy's question, the resource's
 * read). */
static void vault_wave_free(struct cmk_fetch *f, struct vault_wave *q)
{
	if (q->at_policy)
		take_policy(f, q->r[q->at_policy]);
	for (size_t i = 0; i < q->n; i++)
		if ((!q->at_policy || i != q->at_policy) &&
		    (!q->at_res || i != q->at_res))
			az_req_free(
				q->r[i]); /* the caller's requests stay its */
	memset(q, 0, sizeof(*q));
}

/* Reads the vault, the key, its versions, rotation policy, the identity's
 * assignments and your permissions at once (and what the wave adds). */
static int read_vault_and_key(struct az_session *s, struct cmk_fetch *f,
			      const char *vault_id, const struct wave *w,
			      struct az_error *e)
{
	struct vault_wave q;
	int rc;

	vault_wave_build(s, f, vault_id, w, &q);
	rc = az_session_send(s, q.r, q.n, e);
	if (rc != 0 && !az_http_canceled(az_session_http(s))) {
		vault_wave_refused(&q);
		az_error_clear(e);
		rc = 0;
	}
	if (rc == 0)
		vault_wave_take(s, f, vault_id, &q);
	vault_wave_free(f, &q);
	return rc;
}

/*
 * Adds a built-in role's definition to roles when azcmk knows it (saving a
 * round trip); true when it did. Custom roles are read from Azure.
 */
static bool known_role(struct json_object *roles, struct json_object *builtin,
		       const char *guid)
{
	for (size_t i = 0; i < jx_len(builtin); i++)
		if (str_ieq(jx_str(jx_at(builtin, i), "name"), guid)) {
			char *key = str_lower(guid);

			json_object_object_add(
				roles, key, json_object_get(jx_at(builtin, i)));
			free(key);
			return true;
		}
	return false;
}

/*
 * Returns the path a role definition is read at: its full id as the
 * assignment names it (a custom role lives at its subscription or management
 * group; only built-in roles can be read at the tenant root).
 */
static char *role_path(const char *rd)
{
	const char *slash = strrchr(rd, '/');

	return rd[0] == '/' ? xstrdup(rd)
			    : xasprintf("/providers/Microsoft.Authorization/"
					"roleDefinitions/%s",
					slash ? slash + 1 : rd);
}

/* Tells whether a path is already among the first n requests (each definition
 * is read once). */
static bool requested(struct az_req **r, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcasestr(r[i]->url, path))
			return true;
	return false;
}

/*
 * Adds a role definition to those the rules judge, by the GUID it was asked
 * for; false, and nothing added, when the answer names another role (a
 * server may not redefine a role it was not asked about, a built-in one
 * least of all) or that GUID is already known.
 */
static bool add_role(struct cmk_fetch *f, struct json_object *role,
		     const char *path)
{
	const char *slash = strrchr(path, '/'),
		   *want = slash ? slash + 1 : path;
	char *guid;

	if (!str_ieq(jx_str(role, "name"), want))
		return false;
	guid = str_lower(want);
	if (!json_object_object_get_ex(f->roles, guid, NULL))
		json_object_object_add(f->roles, guid, json_object_get(role));
	free(guid);
	return true;
}

/*
 * Keeps a read role definition by its GUID, and the worst status of the
 * reads (a failed read: no verdict); a definition read is memoised in the
 * session by its path, so the next resource's check does not read it again.
 */
static void keep_role(struct az_session *s, struct cmk_fetch *f,
		      struct az_req *r, const char *path)
{
	long status;
	struct json_object *role = take(r, &status);
	bool ok = role && add_role(f, role, path);
	char *guid = ok ? str_lower(jx_str(role, "name")) : NULL;

	if (role && !ok && status == 200)
		status = CMK_READ_MALFORMED;
	if (guid) {
		char *key = str_lower(path);

		json_object_object_add(az_session_memo(s), key,
				       json_object_get(role));
		free(key);
	} else if (status != 404 &&
		   (f->ctx.roles_status == 0 || f->ctx.roles_status == 200))
		f->ctx.roles_status =
			status == 200 ? CMK_READ_MALFORMED : status;
	if (guid && f->ctx.roles_status == 0)
		f->ctx.roles_status = 200;
	free(guid);
	json_object_put(role);
}

/* Takes a role definition from the session's memo when it was read before; true
 * when it was. */
static bool memo_role(struct az_session *s, struct cmk_fetch *f,
		      const char *path)
{
	char *key = str_lower(path);
	struct json_object *role = NULL;
	bool hit = json_object_object_get_ex(az_session_memo(s), key, &role) &&
		   add_role(f, role, path);

	if (hit) {
		if (f->ctx.roles_status == 0)
			f->ctx.roles_status = 200;
	}
	free(key);
	return hit;
}

/*
 * Reads, in one wave, the role assignments at the vault of the other
 * identities the service may use (cmk_other_principals: DICOM with both kinds
 * on), adding them to those judged; a failed read leaves their access
 * unjudged (others_status). An HSM's local lists hold them already
 * (hsm_local). Only when the chosen principal's were read.
 */
static int read_others(struct az_session *s, struct cmk_fetch *f,
		       const char *vault_id, struct az_error *e)
{
	const char *p[CMK_OTHERS_MAX];
	struct az_req *r[CMK_OTHERS_MAX];
	bool more;
	size_t n;
	int rc;

	n = cmk_other_principals(&f->ctx, p, &more);
	if (!n || f->ctx.keyref.hsm || !vault_id ||
	    f->ctx.assignments_status != 200)
		return 0;
	/* Only an object id goes in the query (the resource's word). */
	for (size_t i = 0; i < n; i++)
		if (!is_uuid(p[i])) {
			f->ctx.others_status = CMK_READ_MALFORMED;
			return 0;
		}
	for (size_t i = 0; i < n; i++)
		r[i] = assignments_req(s, f, vault_id, p[i]);
	rc = az_session_send(s, r, n, e);
	f->round_trips++;
	if (rc != 0 && !az_http_canceled(az_session_http(s))) {
		az_error_clear(e); /* unread, not an abort */
		rc = 0;
	}
	f->ctx.others_status = 200;
	for (size_t i = 0; i < n; i++) {
		long status;
		struct json_object *list =
			rc == 0 ? take_all(s, r[i], &status) : NULL;

		if (rc == 0 && (!list || status != 200))
			f->ctx.others_status = status;
		for (size_t k = 0; k < jx_len(list); k++)
			json_object_array_add(f->assignments,
					      json_object_get(jx_at(list, k)));
		json_object_put(list);
		az_req_free(r[i]);
	}
	return rc;
}

/* Reads the definitions of the roles the assignments name, at once, each by its
 * full id (built-in ones from azcmk's table). */
static int read_roles(struct az_session *s, struct cmk_fetch *f,
		      struct az_error *e)
{
	size_t n = jx_len(f->assignments), m = 0;
	struct az_req **r = xcalloc(n ? n : 1, sizeof(*r));
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	struct json_object *builtin = n ? roles_builtin() : NULL;
	int rc = 0;

	f->roles = json_object_new_object();
	for (size_t i = 0; i < n; i++) {
		const char *rd = jx_str(jx_at(f->assignments, i),
					"properties.roleDefinitionId");
		const char *slash = rd ? strrchr(rd, '/') : NULL;
		char *path;

		if (!rd ||
		    known_role(f->roles, builtin, slash ? slash + 1 : rd))
			continue;
		path = role_path(rd);
		if (memo_role(s, f, path))
			;
		else if (!requested(r, m, path)) {
			paths[m] = xstrdup(path);
			r[m++] = az_session_req(s, AZ_ARM, "GET", path,
						AUTHZ_API, NULL);
		}
		free(path);
	}
	if (m) {
		rc = az_session_send(s, r, m, e);
		f->round_trips++;
		/* A definition that cannot be read leaves the verdict open, not
		 * the check aborted. */
		if (rc != 0 && !az_http_canceled(az_session_http(s))) {
			az_error_clear(e);
			rc = 0;
		}
	}
	for (size_t i = 0; i < m; i++) {
		keep_role(s, f, r[i], paths[i]);
		az_req_free(r[i]);
		free(paths[i]);
	}
	json_object_put(builtin);
	free(paths);
	free(r);
	return rc;
}

/* Says that a resource is of no service azcmk protects, naming the ones it
 * does. */
static void unprotected(struct az_error *e, const char *id, const char *type,
			const char *kind)
{
	char *names = svc_names_text();

	if (kind)
		az_error_set(e,
			     _("'%s' is a %s of kind %s, which azcmk does not "
			       "protect; it protects: %s"),
			     id, type, kind, names);
	else
		az_error_set(e,
			     _("'%s' is a %s, which azcmk does not protect; it "
			       "protects: %s"),
			     id, type, names);
	free(names);
}

/* Sends r with another request beside it, in one round trip; r's transport
 * failure or HTTP error becomes an error, as az_session_call makes it. */
static int call_beside(struct az_session *s, struct az_req *r,
		       struct az_req *beside, struct az_error *e)
{
	struct az_req *both[2] = { r, beside };

	if (az_session_send(s, both, 2, e) != 0)
		return -1;
	return az_session_check(r, e);
}

/* Tells whether the caller's read of the resource can stand for a read of id:
 * an object with a type, and id's own. */
static bool read_fits(struct json_object *had, const char *id)
{
	return json_object_is_type(had, json_type_object) &&
	       jx_str(had, "type") && str_ieq(jx_str(had, "id"), id);
}

/* Builds the read of a resource of a service azcmk protects; NULL with the
 * error set for an id that is none. */
static struct az_req *resource_req(struct az_session *s, const char *id,
				   struct az_error *e)
{
	struct armid a;
	struct az_req *r;

	if (!armid_parse(id, &a)) {
		az_error_set(e, _("'%s' is not an Azure resource id"), id);
		return NULL;
	}
	if (!svc_type_known(a.type)) {
		unprotected(e, id, a.type, NULL);
		armid_free(&a);
		return NULL;
	}
	r = az_session_req(s, AZ_ARM, "GET", id, svc_api_version(a.type), NULL);
	armid_free(&a);
	return r;
}

/* Takes a read of the resource (r's answer, or the caller's read when r is
 * NULL) and learns which service it is; -1 with the error set. */
static int take_resource(struct cmk_fetch *f, struct json_object *json,
			 const char *id, const struct az_req *r,
			 struct az_error *e)
{
	if (!json_object_is_type(json, json_type_object) ||
	    !jx_str(json, "type") || !jx_str(json, "id")) {
		az_error_set(e,
			     _("Azure Resource Manager answered the read of "
			       "'%s' with a malformed resource (no id or "
			       "type; request id %s); try again, and if it "
			       "persists, report it with the request id"),
			     id, r ? r->client_request_id : "?");
		return -1;
	}
	f->resource = json_object_get(json);
	f->ctx.svc =
		svc_for_resource(jx_str(json, "type"), jx_str(json, "kind"));
	if (!f->ctx.svc) {
		unprotected(e, id, jx_str(json, "type"), jx_str(json, "kind"));
		return -1;
	}
	return 0;
}

/*
 * Reads the resource (or takes the caller's fresh read of it, sending only
 * the request beside) and learns which service it is; counts the round trip
 * it waited.
 */
static int read_resource(struct az_session *s, const struct cmk_target *t,
			 const char *id, struct cmk_fetch *f,
			 struct az_req *beside, struct az_error *e)
{
	struct az_req *r = resource_req(s, id, e);
	int rc;

	if (!r)
		return -1;
	if (read_fits(t->resource_read, id)) {
		az_req_free(r);
		rc = beside ? az_session_send(s, &beside, 1, e) : 0;
		f->round_trips += beside != NULL;
		return rc == 0 ? take_resource(f, t->resource_read, id, NULL, e)
			       : rc;
	}
	rc = beside ? call_beside(s, r, beside, e) : az_session_call(s, r, e);
	f->round_trips++;
	if (rc == 0)
		rc = take_resource(f, r->json, id, r, e);
	az_req_free(r);
	return rc;
}

/* Returns the id of the resource group an ARM id is in, or NULL. */
static char *group_of(const char *id)
{
	struct armid a;
	char *g = NULL;

	if (!id || !armid_parse(id, &a))
		return NULL;
	if (a.resource_group)
		g = xasprintf("/subscriptions/%s/resourceGroups/%s",
			      a.subscription, a.resource_group);
	armid_free(&a);
	return g;
}

/*
 * Reads what the rules judge about a vault a plan creates, which does not
 * exist yet: the operator's permissions and the deny assignments at its
 * resource group, which it will inherit, beside the resource's permissions
 * and Azure Policy's answer; the vault itself is the one planned, with no
 * key in it and no access granted yet.
 */
static int read_planned(struct az_session *s, struct cmk_fetch *f,
			const struct cmk_target *t, struct az_req *policy,
			struct az_error *e)
{
	char *group = group_of(jx_str(t->planned_vault, "id"));
	char *perm = xasprintf(
		"%s/providers/Microsoft.Authorization/permissions", group);
	char *rperm =
		xasprintf("%s/providers/Microsoft.Authorization/permissions",
			  jx_str(f->resource, "id"));
	char *deny = xasprintf(
		"%s/providers/Microsoft.Authorization/denyAssignments", group);
	struct az_req *r[4] = {
		az_session_req(s, AZ_ARM, "GET", perm, AUTHZ_API, NULL),
		az_session_req(s, AZ_ARM, "GET", rperm, AUTHZ_API, NULL),
		az_session_req(s, AZ_ARM, "GET", deny, AUTHZ_API, NULL), policy
	};
	int rc = az_session_send(s, r, policy ? 4 : 3, e);

	/* A read that fails leaves its verdict open, as for a vault that
	 * exists. */
	if (rc != 0 && !az_http_canceled(az_session_http(s))) {
		az_error_clear(e);
		rc = 0;
	}
	if (rc == 0) {
		f->vault = json_object_get(t->planned_vault);
		f->ctx.vault_status = 200;
		f->ctx.key_status = f->ctx.versions_status =
			f->ctx.rotation_status = 404;
		f->assignments = json_object_new_array();
		f->ctx.assignments_status = 200;
		f->perms = take_list(r[0], &f->ctx.perms_status);
		f->res_perms = take_list(r[1], &f->ctx.resource_perms_status);
		f->denies = take_all(s, r[2], &f->ctx.denies_status);
	}
	if (policy)
		take_policy(f, policy);
	for (size_t i = 0; i < 3; i++)
		az_req_free(r[i]);
	free(group);
	free(perm);
	free(rperm);
	free(deny);
	return rc;
}

/* Tells whether the key is in the vault the target's plan creates, which the
 * lookup answered does not exist (a lookup that failed says nothing: the vault
 * may be there, and a plan must not be built on its absence). */
static bool planned(const struct cmk_target *t, const struct cmk_fetch *f,
		    const char *vault_id)
{
	char *group = t->planned_vault
			      ? group_of(jx_str(t->planned_vault, "id"))
			      : NULL;
	bool yes = !vault_id && f->ctx.vault_status == 404 && group &&
		   f->ctx.keyref.vault_uri && !f->ctx.keyref.hsm &&
		   str_ieq(jx_str(t->planned_vault, "properties.vaultUri"),
			   f->ctx.keyref.vault_uri);

	free(group);
	return yes;
}

/* Fills the context the rules see from what was read. */
static void fill_ctx(struct az_session *s, struct cmk_fetch *f,
		     const struct cmk_target *t)
{
	struct json_object *claims = az_session_claims(s);

	f->ctx.resource = f->resource;
	f->ctx.user_identity = f->uai_id != NULL || f->unattached;
	f->ctx.uai_id = f->uai_id;
	f->ctx.uai = f->uai;
	f->ctx.vault = f->vault;
	f->ctx.key = f->key;
	f->ctx.versions = f->versions;
	f->ctx.rotation = f->rotation;
	f->ctx.assignments = f->assignments;
	f->ctx.roles = f->roles;
	f->ctx.denies = f->denies;
	f->ctx.health = f->health;
	f->ctx.operator_perms = f->perms;
	f->ctx.resource_perms = f->res_perms;
	free(f->ctx.operator_id);
	f->ctx.operator_id =
		jx_str(claims, "oid") ? xstrdup(jx_str(claims, "oid")) : NULL;
	f->ctx.policy_evals = f->policy;
	f->ctx.confirmed = t->confirmed;
	f->ctx.tenant = az_session_tenant(s);
	f->ctx.now = (int64_t)time(NULL);
	json_object_put(claims);
}

/* Compares two vault URIs, ignoring case and a trailing slash. */
static bool same_uri(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;

	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la && la == lb && strncasecmp(a, b, la) == 0;
}

/*
 * Tells whether the vault read at the caller's id is the named key's: ARM
 * answered with it, under that id, and its own URI is the key's vault. A
 * plan is untrusted: its vault id stands only when Azure says so.
 */
static bool vault_is(const struct cmk_fetch *f, const char *vault_id)
{
	const char *uri =
		jx_str(f->vault, f->ctx.keyref.hsm ? "properties.hsmUri"
						   : "properties.vaultUri");

	return f->vault && str_ieq(jx_str(f->vault, "id"), vault_id) &&
	       same_uri(uri, f->ctx.keyref.vault_uri);
}

/*
 * Forgets the reads made at a vault that is not the key's: Resource Graph's
 * lookup by name is untrusted, and a row naming another vault must not have
 * that vault's settings, assignments or permissions judged as the key's
 * vault's. They are then unread (could not judge).
 */
static void not_the_vault(struct cmk_fetch *f)
{
	struct json_object **slots[] = { &f->vault, &f->assignments, &f->perms,
					 &f->denies };
	long *status[] = { &f->ctx.vault_status, &f->ctx.assignments_status,
			   &f->ctx.perms_status, &f->ctx.denies_status };

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		struct json_object *old = *slots[i];

		*slots[i] = NULL;
		*status[i] = CMK_READ_MALFORMED;
		json_object_put(old);
	}
}

/* Fetches again, looking the vault up by name, when the vault id the caller
 * gave did not read as the key's vault; the round trips add up. */
static int refetch_unhinted(struct az_session *s, const struct cmk_target *t,
			    struct cmk_fetch *out, struct az_error *e)
{
	struct cmk_target u = *t;
	int spent = out->round_trips, rc;

	u.vault_id = NULL;
	u.principal = NULL;
	cmk_fetch_free(out);
	rc = cmk_fetch(s, &u, out, e);
	out->round_trips += spent;
	return rc;
}

/* Tells whether the key the caller names (by URI) or expects is in a managed
 * HSM, whose local assignments need the principal's read first. */
static bool hsm_key(struct az_session *s, const struct cmk_target *t)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	const char *uri = t->key_uri ? t->key_uri : t->expect_key, *why;
	struct key_ref k;
	bool hsm;

	if (!uri || !key_ref_parse(uri, &sfx, &k, &why))
		return false;
	hsm = k.hsm;
	key_ref_free(&k);
	return hsm;
}

/* Tells whether the caller's expectations let the whole fetch go in one
 * wave: the vault, the principal and the key known, nothing else to wait for
 * (a managed HSM's key goes the usual way, with the vault id still a hint).
 */
static bool one_wave(struct az_session *s, const struct cmk_target *t)
{
	bool named = t->key_uri || (t->key && t->vault);

	return t->vault_id && (t->principal || t->no_access) &&
	       !t->planned_vault && !t->resource_read &&
	       (named ? t->no_policy : !!t->expect_key) && !hsm_key(s, t);
}

/* Tells whether two key references name the same key and version. */
static bool same_key(const struct key_ref *a, const struct key_ref *b)
{
	return key_ref_is(a, b) && !a->version == !b->version;
}

/* Tells whether the resource read in the one wave bears the caller out: the
 * expected key in use (when none was named), the expected principal, the
 * vault's read the key's vault, Resource Health asked if the service tells. */
static bool borne_out(struct az_session *s, const struct cmk_target *t,
		      struct cmk_fetch *f, bool health)
{
	const char *principal = cmk_principal(&f->ctx);
	bool key_ok = true;

	if (!t->key_uri && !(t->key && t->vault)) {
		struct key_suffixes sfx = az_session_key_suffixes(s);
		char *uri = svc_key_uri(f->ctx.svc, f->resource);
		struct key_ref k;
		const char *why;

		key_ok = uri && key_ref_parse(uri, &sfx, &k, &why);
		if (key_ok) {
			key_ok = same_key(&k, &f->ctx.keyref);
			key_ref_free(&k);
		}
		free(uri);
	}
	return key_ok &&
	       (!t->principal ||
		/* Exactly: the assignments were asked for as written. */
		(principal && strcmp(principal, t->principal) == 0)) &&
	       vault_is(f, t->vault_id) &&
	       health == f->ctx.svc->health_reports_key;
}

/* A fetch in one wave (fetch_one_wave) between the building of its wave and
 * its answers. */
struct one_wave {
	struct az_req *res; /* the resource's read, in the wave */
	struct wave w;
	struct vault_wave q;
	int rc; /* 0: the wave is built, to be sent; 1: to be fetched the usual
		   way; -1: failed */
};

/*
 * Builds the wave that reads the resource beside the vault's, on the
 * caller's word for the principal and the key, without sending it (o->rc
 * says whether it is to be sent).
 */
static void one_wave_start(struct az_session *s, const struct cmk_target *t,
			   const char *id, struct cmk_fetch *f,
			   struct one_wave *o, struct az_error *e)
{
	bool named = t->key_uri || (t->key && t->vault);
	struct cmk_target u = *t;
	const struct svc_profile *guess = NULL;
	struct armid a;

	memset(o, 0, sizeof(*o));
	o->w.resource_id = id;
	o->w.principal = t->principal;
	o->res = resource_req(s, id, e);
	if (!o->res) {
		o->rc = -1;
		return;
	}
	if (!named)
		u.key_uri = t->expect_key;
	o->rc = pick_key(s, &u, f, e) == 0 ? 0 : 1;
	f->ctx.change = named;
	if (o->rc == 0 && f->ctx.keyref.hsm)
		o->rc = 1; /* an HSM's local assignments need the principal's
			      read first */
	if (o->rc == 0 && armid_parse(id, &a)) {
		guess = svc_for_resource(a.type, NULL);
		armid_free(&a);
	}
	o->w.health = guess && guess->health_reports_key;
	o->w.resource = o->res;
	if (o->rc == 0)
		vault_wave_build(s, f, t->vault_id, &o->w, &o->q);
}

/*
 * Takes in the answers of a one-wave fetch (sent: -1 when the sending was
 * canceled; refused: a sign-in for some of it failed) and judges whether the
 * resource read bears the caller out: 0, 1 when it does not (the caller
 * fetches the usual way), -1 on an error.
 */
static int one_wave_finish(struct az_session *s, const struct cmk_target *t,
			   const char *id, struct cmk_fetch *f,
			   struct one_wave *o, int sent, bool refused,
			   struct az_error *e)
{
	struct az_req *res = o->res;
	int rc = o->rc;

	if (!res)
		return -1;
	if (rc == 0) {
		rc = sent;
		if (refused)
			vault_wave_refused(&o->q);
		if (rc == 0)
			vault_wave_take(s, f, t->vault_id, &o->q);
		vault_wave_free(f, &o->q);
		f->round_trips++;
	}
	if (rc == 0 && res->status != 200)
		rc = 1; /* the usual way says what failed */
	if (rc == 0 && t->no_access && !t->principal) {
		/* Read for no one's principal: nothing may judge on it. */
		json_object_put(f->assignments);
		f->assignments = NULL;
		f->ctx.assignments_status = 0;
	}
	if (rc == 0)
		rc = take_resource(f, res->json, id, res, e) == 0 ? 0 : 1;
	if (rc == 0)
		rc = pick_identity(s, t, f, e);
	if (rc == 0) {
		fill_ctx(s, f, t);
		rc = borne_out(s, t, f, o->w.health)
			     ? read_others(s, f, t->vault_id, e)
			     : 1;
		if (rc == 0)
			rc = read_roles(s, f, e);
	}
	if (rc == 0)
		fill_ctx(s, f, t);
	if (rc == 1)
		az_error_clear(e);
	az_req_free(res);
	o->res = NULL;
	return rc;
}

/*
 * Reads the resource beside the vault's wave, on the caller's word for the
 * principal and the key: 0 when the read bears them out, 1 when it does not
 * (the caller fetches the usual way), -1 on an error.
 */
static int fetch_one_wave(struct az_session *s, const struct cmk_target *t,
			  const char *id, struct cmk_fetch *f,
			  struct az_error *e)
{
	struct one_wave o;
	bool refused = false;
	int sent = 0;

	one_wave_start(s, t, id, f, &o, e);
	if (o.rc == 0) {
		sent = az_session_send(s, o.q.r, o.q.n, e);
		/* A vault whose sign-in fails (another tenant, a refused
		 * challenge) is unreadable, not an abort. */
		if (sent != 0 && !az_http_canceled(az_session_http(s))) {
			refused = true;
			az_error_clear(e);
			sent = 0;
		}
	}
	return one_wave_finish(s, t, id, f, &o, sent, refused, e);
}

/*
 * Fetches everything the rules judge, concurrently where reads are
 * independent. A read the operator may not make is recorded (403), not fatal.
 */
int cmk_fetch(struct az_session *s, const struct cmk_target *t,
	      struct cmk_fetch *out, struct az_error *e)
{
	/* A change names its key: the vault is looked up beside the resource's
	 * read, and Azure Policy asked beside the vault's, one round trip
	 * less. */
	bool named = t->key_uri || (t->key && t->vault);
	/* A vault id the caller knows spares the lookup by name: the vault is
	 * read at once, and judged there if its read says it is the key's
	 * (the named one, or the one the resource uses). */
	bool hinted = t->vault_id && !t->planned_vault;
	struct az_req *vq = NULL, *policy = NULL;
	char *id = NULL, *vault_id = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (cmk_resolve_resource(s, t->resource, t->subscriptions, t->nsubs,
				 &id, e) != 0)
		return -1;
	if (one_wave(s, t)) {
		rc = fetch_one_wave(s, t, id, out, e);
		free(id);
		return rc == 1 ? refetch_unhinted(s, t, out, e) : rc;
	}
	if (named && (rc = pick_key(s, t, out, e)) == 0 && !hinted)
		vq = vault_query_req(s, out, t);
	if (rc == 0)
		rc = read_resource(s, t, id, out, vq, e);
	if (rc == 0)
		rc = pick_identity(s, t, out, e);
	if (rc == 0 && !named)
		rc = pick_key(s, t, out, e);
	if (rc == 0 && out->ctx.keyref.vault_uri) {
		fill_ctx(s, out, t);
		if (hinted) {
			vault_id = xstrdup(t->vault_id);
			policy = out->ctx.change && !t->no_policy
					 ? policy_req(s, out)
					 : NULL;
		} else if (vq) {
			vault_id = vault_from_answer(s, out, t, vq, e);
			policy = out->ctx.change && !t->no_policy
					 ? policy_req(s, out)
					 : NULL;
		} else {
			vault_id = find_vault(s, out, t, e);
			out->round_trips++;
		}
		if (!vault_id)
			out->ctx.vault_status = e->message ? 403 : 404;
		az_error_clear(e);
	}
	if (rc == 0 && planned(t, out, vault_id)) {
		rc = read_planned(s, out, t, policy, e);
		out->round_trips++;
		if (rc == 0)
			rc = read_roles(s, out, e);
	} else if (rc == 0 && vault_id) {
		struct wave w = wave_after(out, policy);

		rc = read_vault_and_key(s, out, vault_id, &w, e);
		out->round_trips++;
		if (rc == 0 && hinted && !vault_is(out, vault_id))
			rc = 1;
		else if (rc == 0 && out->vault && !vault_is(out, vault_id))
			not_the_vault(out);
		if (rc == 0)
			rc = read_others(s, out, vault_id, e);
		if (rc == 0)
			rc = read_roles(s, out, e);
	} else if (rc == 0 && policy) {
		/* No vault to read: Azure Policy is still asked. */
		if (az_session_send(s, &policy, 1, e) == 0)
			take_policy(out, policy);
		az_error_clear(e);
		out->round_trips++;
	}
	if (rc == 0)
		fill_ctx(s, out, t);
	az_req_free(vq);
	az_req_free(policy);
	free(id);
	free(vault_id);
	return rc == 1 ? refetch_unhinted(s, t, out, e) : rc;
}

/* Tells whether two requests read the same thing (a GET of the same URL). */
static bool same_read(const struct az_req *a, const struct az_req *b)
{
	return strcmp(a->method, "GET") == 0 && strcmp(b->method, "GET") == 0 &&
	       strcmp(a->url, b->url) == 0;
}

/*
 * Sends a wave in which several fetches may read the same thing (the vault
 * and the key they share): each read once, its answer copied to the others
 * (az_session_send_all, failed as it marks them).
 */
static int send_once(struct az_session *s, struct az_req **all, size_t n,
		     bool *failed, struct az_error *e)
{
	size_t *first = xcalloc(n, sizeof(*first)), m = 0;
	struct az_req **uniq = xcalloc(n, sizeof(*uniq));
	bool *ufailed = xcalloc(n, sizeof(*ufailed));
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < m && !same_read(uniq[j], all[i]))
			j++;
		if (j == m)
			uniq[m++] = all[i];
		first[i] = j;
	}
	rc = az_session_send_all(s, uniq, m, ufailed, e);
	for (size_t i = 0; i < n; i++) {
		failed[i] = ufailed[first[i]];
		if (all[i] != uniq[first[i]])
			az_req_copy_answer(all[i], uniq[first[i]]);
	}
	free(ufailed);
	free(uniq);
	free(first);
	return rc;
}

/*
 * Fetches several targets as cmk_fetch does, each into out[i] with its error
 * in e[i] and its result in rc[i]. Those that go in one wave (their vault id,
 * principal and key known: cmk_target) go in one wave together, in which a
 * read that cannot be signed in for holds no other back; the others, and
 * those whose reads do not bear their hints out, are fetched one after
 * another, after it.
 */
void cmk_fetch_many(struct az_session *s, const struct cmk_target *t, size_t n,
		    struct cmk_fetch *out, struct az_error *e, int *rc)
{
	size_t cap = n ? n : 1, m = 0;
	struct one_wave *o = xcalloc(cap, sizeof(*o));
	char **ids = xcalloc(cap, sizeof(*ids));
	struct az_req **all = xcalloc(cap * WAVE_MAX, sizeof(*all));
	bool *failed = xcalloc(cap * WAVE_MAX, sizeof(*failed));
	struct az_error sent_e = { 0 };
	int sent = 0;

	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		o[i].rc = 2; /* fetched on its own, after the wave */
		if (!one_wave(s, &t[i]))
			continue;
		if (cmk_resolve_resource(s, t[i].resource, t[i].subscriptions,
					 t[i].nsubs, &ids[i], &e[i]) != 0) {
			o[i].rc = -1;
			continue;
		}
		one_wave_start(s, &t[i], ids[i], &out[i], &o[i], &e[i]);
		for (size_t k = 0; o[i].rc == 0 && k < o[i].q.n; k++)
			all[m++] = o[i].q.r[k];
	}
	if (m)
		sent = send_once(s, all, m, failed, &sent_e);
	m = 0;
	for (size_t i = 0; i < n; i++) {
		bool refused = false;

		if (o[i].rc == 2) {
			rc[i] = cmk_fetch(s, &t[i], &out[i], &e[i]);
			continue;
		}
		for (size_t k = 0; o[i].rc == 0 && k < o[i].q.n; k++)
			refused |= failed[m++];
		if (o[i].rc == 0 && sent != 0)
			az_error_set(&e[i], "%s", sent_e.message);
		rc[i] = one_wave_finish(s, &t[i], ids[i], &out[i], &o[i], sent,
					refused, &e[i]);
		if (rc[i] == 1)
			rc[i] = refetch_unhinted(s, &t[i], &out[i], &e[i]);
		free(ids[i]);
	}
	az_error_clear(&sent_e);
	free(failed);
	free(all);
	free(ids);
	free(o);
}

/*
 * Returns the ARM id of the key's vault (or HSM) as the fetch read it, only
 * when ARM answered with the key's own vault at that id (borrowed), else
 * NULL: what a caller may hand the next fetch as its vault_id.
 */
const char *cmk_fetch_vault_id(const struct cmk_fetch *f)
{
	const char *id = jx_str(f->vault, "id");

	return id && vault_is(f, id) ? id : NULL;
}

/* Frees a fetched context. */
void cmk_fetch_free(struct cmk_fetch *f)
{
	struct json_object *objs[] = {
		f->resource,  f->uai,         f->vault, f->key,   f->versions,
		f->rotation,  f->assignments, f->roles, f->perms, f->policy,
		f->res_perms, f->denies,      f->health
	};

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		json_object_put(objs[i]);
	key_ref_free(&f->ctx.keyref);
	free(f->uai_id);
	free(f->ctx.operator_id);
	memset(f, 0, sizeof(*f));
}

/*
 * Starts, without waiting, the one Resource Graph query that lists the
 * resources of the four services whose key setting names this key (vault host
 * and key name): changing or disabling the key affects them too. It goes
 * beside the reads that follow (cmk_key_users_finish takes its answer); NULL
 * with *e set when it could not be sent.
 */
struct az_req *cmk_key_users_start(struct az_session *s,
				   const struct key_ref *k,
				   const char *const *subs, size_t nsubs,
				   struct az_error *e)
{
	char host[256], *under = key_ref_url(k, "/"), *qk = kql_quote(k->name),
			*qh, *qu = kql_quote(under), *query;
	bool https;
	struct az_req *q;

	if (!wire_url_host(k->vault_uri, host, sizeof(host), &https))
		snprintf(host, sizeof(host), "%s", k->vault_uri);
	qh = kql_quote(host);
	/* The resource being changed is left out by its id when the answer is
	 * read: it need not be known yet. */
	query = xasprintf(
		"Resources | where type in~ "
		"('microsoft.cognitiveservices/accounts', "
		"'microsoft.healthbot/healthbots', "
		"'microsoft.healthcareapis/workspaces/dicomservices') "
		"| where "
		"(tostring(properties.encryption.keyVaultProperties.keyName) "
		"=~ '%s' and "
		"tostring(properties.encryption.keyVaultProperties.keyVaultUri)"
		" contains '%s') "
		"or (tostring(properties.keyVaultProperties.keyName) =~ '%s' "
		"and "
		"tostring(properties.keyVaultProperties.keyVaultUri) contains "
		"'%s') "
		"or "
		"tostring(properties.encryption.customerManagedKeyEncryption."
		"keyEncryptionKeyUrl) contains "
		"'%s' | project id, name",
		qk, qh, qk, qh, qu);
	q = graph_req(s, query, subs, nsubs);
	if (az_session_kick(s, &q, 1, e) != 0) {
		az_req_free(q);
		q = NULL;
	}
	free(query);
	free(qk);
	free(qh);
	free(qu);
	free(under);
	return q;
}

/*
 * Returns how many rows Resource Graph says match when its answer gave fewer
 * (it pages past 1,000, or cut it short), else -1.
 */
static int64_t rows_beyond(struct json_object *answer)
{
	int64_t total = jx_int(answer, "totalRecords", -1);
	size_t given = jx_len(jx_get(answer, "data"));

	return total > 0 && (size_t)total > given ? total : -1;
}

/*
 * Takes the answer of cmk_key_users_start's query (waiting for it if it is
 * still under way) and frees the request: the names of the resources that use
 * the key, but the one whose id is except, as a new array (empty when none),
 * or NULL with *e set when the query failed. When the answer gave only some of
 * them, *counted is how many use the key in all (except perhaps among them),
 * else -1.
 */
struct json_object *cmk_key_users_finish(struct az_session *s, struct az_req *q,
					 const char *except, int64_t *counted,
					 struct az_error *e)
{
	struct json_object *names = NULL;
	int rc = 0;

	*counted = -1;
	while (rc == 0 && !az_req_done(q))
		rc = az_session_send_any(s, &q, 1, e);
	if (rc != 0)
		az_http_abandon(az_session_http(s), &q, 1);
	if (rc == 0 && az_session_check(q, e) == 0) {
		struct json_object *rows = jx_get(q->json, "data");

		*counted = rows_beyond(q->json);
		names = json_object_new_array();
		for (size_t i = 0; i < jx_len(rows); i++) {
			const char *id = jx_str(jx_at(rows, i), "id"),
				   *name = jx_str(jx_at(rows, i), "name");

			if (name && !(id && except && str_ieq(id, except)))
				json_object_array_add(
					names, json_object_new_string(name));
		}
	}
	az_req_free(q);
	return names;
}

/* Lists the other resources that use a key (see cmk_key_users_start), in one
 * round trip of its own. */
struct json_object *cmk_key_users(struct az_session *s, const struct key_ref *k,
				  const char *except, const char *const *subs,
				  size_t nsubs, int64_t *counted,
				  struct az_error *e)
{
	struct az_req *q = cmk_key_users_start(s, k, subs, nsubs, e);

	*counted = -1;
	return q ? cmk_key_users_finish(s, q, except, counted, e) : NULL;
}
