/* The simulated tenant's state: loading a scenario, finding resources,
 * principals, roles and access. */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "armid.h"
#include "jx.h"
#include "scenario.h"
#include "sim-int.h"
#include "text.h"
#include "uuid.h"
#include "xalloc.h"

/* Returns the array at key, creating an empty one when absent. */
static struct json_object *ensure_array(struct json_object *doc,
					const char *key)
{
	struct json_object *a = jx_get(doc, key);

	if (!json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(doc, key, a);
	}
	return a;
}

/* Returns the trailing GUID of a role definition id (or the GUID itself),
 * allocated. */
char *role_guid(const char *id)
{
	const char *slash = strrchr(id, '/');

	return str_lower(slash ? slash + 1 : id);
}

/*
 * Turns each key version's expIn (seconds from now) into exp on the simulated
 * clock, so that a scenario's "expires soon" key stays so on any date the
 * simulator is started or reset.
 */
static void resolve_key_expiry(struct sim *s)
{
	json_object_object_foreach(jx_get(s->doc, "keys"), vault, keys)
	{
		(void)vault;
		json_object_object_foreach(keys, name, versions)
		{
			(void)name;
			for (size_t i = 0; i < jx_len(versions); i++) {
				struct json_object *a = jx_get(
					jx_at(versions, i), "attributes");
				struct json_object *in = jx_get(a, "expIn");

				if (!in)
					continue;
				json_object_object_add(
					a, "exp",
					json_object_new_int64(
						sim_now(s) +
						json_object_get_int64(in)));
				json_object_object_del(a, "expIn");
			}
		}
	}
}

/* Gives every scenario role assignment a stable name, a bare role GUID and a
 * creation time. */
static void normalize_assignments(struct json_object *doc)
{
	struct json_object *ras = ensure_array(doc, "roleAssignments");

	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);
		char *guid = role_guid(jx_str(ra, "roleDefinitionId"));

		if (!jx_str(ra, "name")) {
			char *key = xasprintf("%s|%s|%s", jx_str(ra, "scope"),
					      jx_str(ra, "principalId"), guid);
			char name[UUID_STRLEN];

			uuid_from_name(key, name);
			json_object_object_add(ra, "name",
					       json_object_new_string(name));
			free(key);
		}
		json_object_object_add(ra, "roleDefinitionId",
				       json_object_new_string(guid));
		if (!jx_has(ra, "createdOn"))
			json_object_object_add(ra, "createdOn",
					       json_object_new_int64(0));
		free(guid);
	}
}

/* The time a long-running operation takes when lroSeconds is absent: its polls,
 * Retry-After (at least 1 s) apart. */
static int64_t lro_seconds_default(const struct sim_settings *set)
{
	return (int64_t)set->lro_polls *
	       (set->retry_after > 0 ? set->retry_after : 1);
}

/* Reads the settings with their defaults. */
static void read_settings(struct sim *s)
{
	struct json_object *st = jx_get(s->doc, "settings");

	s->set.latency_ms = (int)jx_int(st, "latencyMs", 0);
	s->set.propagation_seconds = (int)jx_int(st, "propagationSeconds", 0);
	s->set.lro_polls = (int)jx_int(st, "lroPolls", 0);
	s->set.refuse_in_operation = jx_bool(st, "refuseInOperation", false);
	s->set.lro_headers_both = str_ieq(jx_str(st, "lroHeaders"), "both");
	s->set.retry_after = (int)jx_int(st, "retryAfterSeconds", 1);
	s->set.lro_seconds = jx_has(st, "lroSeconds")
				     ? jx_int(st, "lroSeconds", 0)
				     : lro_seconds_default(&s->set);
	s->set.token_lifetime = (int)jx_int(st, "tokenLifetimeSeconds", 3599);
	s->set.page_size = (int)jx_int(st, "pageSize", 100);
	s->set.graph_quota = (int)jx_int(st, "graphQuota", 0);
	s->set.graph_quota_window_ms =
		(int)jx_int(st, "graphQuotaWindowMs", 5000);
	s->set.identity_header = jx_str(st, "identityHeader")
					 ? jx_str(st, "identityHeader")
					 : "azsim-identity-header";
	s->set.arc_key_dir = jx_str(st, "arcKeyDirectory");
	s->set.arc_realm = jx_str(st, "arcChallengePath");
	s->set.client_ip =
		jx_str(st, "clientIp") ? jx_str(st, "clientIp") : "127.0.0.1";
	s->set.operator_data_plane_enforced =
		str_ieq(jx_str(st, "operatorDataPlane"), "enforced");
}

/*
 * Writes a resource's region as ARM answers it, the programmatic name
 * ("West US 3" becomes "westus3"), whatever the scenario or a PUT spelled:
 * the names `az account list-locations` gives as "name" are the ones
 * resources carry in Azure, and the ones polling URLs and ids are built from.
 */
void state_normalize_location(struct json_object *res)
{
	char loc[64];

	if (!json_object_is_type(jx_get(res, "location"), json_type_string))
		return;
	location_normalize(jx_str(res, "location"), loc, sizeof(loc));
	if (strcmp(loc, jx_str(res, "location")) != 0)
		json_object_object_add(res, "location",
				       json_object_new_string(loc));
}

/* Returns the lower-case subscription id a resource id starts with
 * ("/subscriptions/{id}/..."), allocated, or NULL for an id under none. */
static char *subscription_key(const char *id)
{
	static const char prefix[] = "/subscriptions/";
	size_t n;
	char *key;

	if (!str_istarts(id, prefix))
		return NULL;
	id += sizeof(prefix) - 1;
	n = strcspn(id, "/");
	if (n == 0)
		return NULL;
	key = xasprintf("%.*s", (int)n, id);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return key;
}

/* Returns the array of a resource's subscription in the per-subscription
 * index, made when make is set; NULL for a resource under no subscription. */
static struct json_object *sub_list(struct sim *s, const char *id, bool make)
{
	char *key = subscription_key(id);
	struct json_object *list = NULL;

	if (key && !json_object_object_get_ex(s->by_sub, key, &list) && make) {
		list = json_object_new_array();
		json_object_object_add(s->by_sub, key, list);
	}
	free(key);
	return list;
}

/* Returns the position of a resource object in an array, or -1. */
static long position_of(struct json_object *list, const struct json_object *r)
{
	for (size_t i = 0; i < jx_len(list); i++)
		if (jx_at(list, i) == r)
			return (long)i;
	return -1;
}

/* Indexes resources by lower-case id and by subscription, their regions written
 * as ARM writes them. */
static void build_index(struct sim *s)
{
	struct json_object *res = ensure_array(s->doc, "resources");

	s->index = json_object_new_object();
	s->by_sub = json_object_new_object();
	for (size_t i = 0; i < jx_len(res); i++) {
		struct json_object *r = jx_at(res, i),
				   *in_sub = sub_list(s, jx_str(r, "id"), true);
		char *key = str_lower(jx_str(r, "id"));

		state_normalize_location(r);
		json_object_object_add(s->index, key, json_object_get(r));
		if (in_sub)
			json_object_array_add(in_sub, json_object_get(r));
		free(key);
	}
}

/*
 * Returns the resources a list at scope must look through (a borrowed array, in
 * the order of the tenant's list, or NULL for none): those of the scope's
 * subscription, from the index kept in step with every write, so that a list
 * of one subscription does not scan the whole tenant; every resource for a
 * scope above the subscriptions.
 */
struct json_object *state_resources_under(struct sim *s, const char *scope)
{
	char *key = subscription_key(scope);
	struct json_object *list = NULL;

	if (!key)
		return jx_get(s->doc, "resources");
	json_object_object_get_ex(s->by_sub, key, &list);
	free(key);
	return list;
}

/* Parses and checks the scenario and builds the live state; returns 0 or -1
 * with a message. */
int state_load(struct sim *s, char **err)
{
	struct json_object *faults;

	s->doc = jx_parse(s->scenario_text, s->scenario_len, err);
	if (!s->doc) {
		char *m = xasprintf("the scenario is not valid JSON: %s", *err);

		free(*err);
		*err = m;
		return -1;
	}
	if (!scenario_validate(s->doc, err))
		return -1;
	ensure_array(s->doc, "principals");
	if (!json_object_is_type(jx_get(s->doc, "keys"), json_type_object))
		json_object_object_add(s->doc, "keys",
				       json_object_new_object());
	normalize_assignments(s->doc);
	resolve_key_expiry(s);
	build_index(s);
	state_refresh_roles(s);
	read_settings(s);
	s->ops = json_object_new_object();
	s->pending = json_object_new_object();
	s->next_due = INT64_MAX;
	s->grants = json_object_new_object();
	s->log = json_object_new_array();
	s->faults = json_object_new_array();
	s->health = json_object_new_object();
	s->deployments = json_object_new_object();
	faults = ensure_array(s->doc, "faults");
	for (size_t i = 0; i < jx_len(faults); i++)
		faults_add(s, jx_at(faults, i), err);
	return 0;
}

/* Releases the live state (not the scenario text). */
void state_free(struct sim *s)
{
	json_object_put(s->doc);
	json_object_put(s->index);
	json_object_put(s->by_sub);
	json_object_put(s->ops);
	json_object_put(s->pending);
	json_object_put(s->grants);
	json_object_put(s->log);
	json_object_put(s->faults);
	json_object_put(s->roles);
	json_object_put(s->ra_index);
	s->ra_index = s->ra_indexed = NULL;
	json_object_put(s->health);
	json_object_put(s->deployments);
	s->deployments = NULL;
	s->doc = s->index = s->by_sub = s->ops = s->pending = s->grants =
		s->log = s->faults = s->roles = s->health = NULL;
}

/* Returns the scenario's tenant id. */
const char *state_tenant(struct sim *s)
{
	return jx_str(s->doc, "tenantId");
}

/* Finds a resource by id, ignoring case; NULL when absent. */
struct json_object *state_resource(struct sim *s, const char *id)
{
	char *key = str_lower(id);
	struct json_object *r = NULL;
	size_t n = strlen(key);

	while (n > 1 && key[n - 1] == '/')
		key[--n] = '\0';
	json_object_object_get_ex(s->index, key, &r);
	free(key);
	return r;
}

/* Adds or replaces a resource (takes ownership), keeping the list order for
 * replacements. */
void state_put_resource(struct sim *s, struct json_object *res)
{
	struct json_object *list = jx_get(s->doc, "resources");
	struct json_object *old = state_resource(s, jx_str(res, "id"));
	struct json_object *in_sub = sub_list(s, jx_str(res, "id"), true);
	char *key = str_lower(jx_str(res, "id"));
	long at = old ? position_of(in_sub, old) : -1;

	state_normalize_location(res);
	if (in_sub && at >= 0)
		json_object_array_put_idx(in_sub, (size_t)at,
					  json_object_get(res));
	else if (in_sub)
		json_object_array_add(in_sub, json_object_get(res));
	at = old ? position_of(list, old) : -1;
	if (at >= 0)
		json_object_array_put_idx(list, (size_t)at, res);
	else
		json_object_array_add(list, res);
	json_object_object_add(s->index, key, json_object_get(res));
	free(key);
}

/* Removes a resource by id. */
void state_del_resource(struct sim *s, const char *id)
{
	struct json_object *list = jx_get(s->doc, "resources");
	struct json_object *old = state_resource(s, id), *in_sub;
	char *key;
	long at;

	if (!old)
		return;
	in_sub = sub_list(s, jx_str(old, "id"), false);
	at = position_of(in_sub, old);
	if (at >= 0)
		json_object_array_del_idx(in_sub, (size_t)at, 1);
	key = str_lower(jx_str(old, "id"));
	json_object_object_del(s->index, key);
	free(key);
	at = position_of(list, old);
	if (at >= 0)
		json_object_array_del_idx(list, (size_t)at, 1);
}

/* Finds a key vault (or a managed HSM) by its name. */
struct json_object *state_vault_by_name(struct sim *s, const char *name,
					bool hsm)
{
	struct json_object *list = jx_get(s->doc, "resources");
	const char *type = hsm ? "Microsoft.KeyVault/managedHSMs"
			       : "Microsoft.KeyVault/vaults";

	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *r = jx_at(list, i);

		if (str_ieq(jx_str(r, "type"), type) &&
		    str_ieq(jx_str(r, "name"), name))
			return r;
	}
	return NULL;
}

/* Rebuilds the role table: the built-in definitions, then custom roles from the
 * resources. */
void state_refresh_roles(struct sim *s)
{
	struct json_object *builtin = roles_builtin(),
			   *list = jx_get(s->doc, "resources");

	json_object_put(s->roles);
	s->roles = json_object_new_object();
	for (size_t i = 0; i < jx_len(builtin); i++) {
		char *guid = str_lower(jx_str(jx_at(builtin, i), "name"));

		json_object_object_add(s->roles, guid,
				       json_object_get(jx_at(builtin, i)));
		free(guid);
	}
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *r = jx_at(list, i);
		char *guid;

		if (!str_ieq(jx_str(r, "type"),
			     "Microsoft.Authorization/roleDefinitions") ||
		    !jx_str(r, "name"))
			continue;
		guid = role_guid(jx_str(r, "name"));
		json_object_object_add(s->roles, guid, json_object_get(r));
		free(guid);
	}
	json_object_put(builtin);
}

/* Returns a new array of every role definition. */
struct json_object *state_role_definitions(struct sim *s)
{
	struct json_object *all = json_object_new_array();

	json_object_object_foreach(s->roles, k, v)
	{
		(void)k;
		json_object_array_add(all, json_object_get(v));
	}
	return all;
}

/* Finds a role definition by full id or GUID; returns a new reference or NULL.
 */
struct json_object *state_role_definition(struct sim *s, const char *id_or_guid)
{
	char *guid = role_guid(id_or_guid ? id_or_guid : "");
	struct json_object *hit = NULL;

	json_object_object_get_ex(s->roles, guid, &hit);
	free(guid);
	return json_object_get(hit);
}

/* Makes a principal record {objectId, type, displayName, appId}. */
static struct json_object *principal(const char *oid, const char *type,
				     const char *name, const char *appid)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "objectId", json_object_new_string(oid));
	json_object_object_add(p, "type", json_object_new_string(type));
	json_object_object_add(p, "displayName",
			       json_object_new_string(name ? name : oid));
	if (appid)
		json_object_object_add(p, "appId",
				       json_object_new_string(appid));
	return p;
}

/* Adds the managed identities that resources carry to a principal list. */
static void add_resource_principals(struct sim *s, struct json_object *out)
{
	struct json_object *list = jx_get(s->doc, "resources");

	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *r = jx_at(list, i);
		const char *sp = jx_str(r, "identity.principalId");

		if (sp)
			json_object_array_add(
				out, principal(sp, "ServicePrincipal",
					       jx_str(r, "name"), NULL));
		if (str_ieq(jx_str(r, "type"), "Microsoft.ManagedIdentity/"
					       "userAssignedIdentities") &&
		    jx_str(r, "properties.principalId"))
			json_object_array_add(
				out,
				principal(jx_str(r, "properties.principalId"),
					  "ServicePrincipal", jx_str(r, "name"),
					  jx_str(r, "properties.clientId")));
	}
}

/* Returns every principal the directory knows: operator, user, listed ones,
 * managed identities. */
struct json_object *state_principals(struct sim *s)
{
	struct json_object *out = json_object_new_array(),
			   *op = jx_get(s->doc, "operator");
	struct json_object *user = jx_get(s->doc, "user"),
			   *listed = jx_get(s->doc, "principals");

	json_object_array_add(out, principal(jx_str(op, "objectId"),
					     "ServicePrincipal",
					     jx_str(op, "displayName"),
					     jx_str(op, "clientId")));
	if (user)
		json_object_array_add(
			out, principal(jx_str(user, "objectId"), "User",
				       jx_str(user, "displayName"), NULL));
	for (size_t i = 0; i < jx_len(listed); i++)
		json_object_array_add(
			out, principal(jx_str(jx_at(listed, i), "objectId"),
				       jx_str(jx_at(listed, i), "type"),
				       jx_str(jx_at(listed, i), "displayName"),
				       jx_str(jx_at(listed, i), "appId")));
	add_resource_principals(s, out);
	return out;
}

/* Finds one principal by object id; returns a new reference or NULL. */
struct json_object *state_principal(struct sim *s, const char *object_id)
{
	struct json_object *all = state_principals(s), *hit = NULL;

	for (size_t i = 0; i < jx_len(all) && !hit; i++)
		if (str_ieq(jx_str(jx_at(all, i), "objectId"), object_id))
			hit = json_object_get(jx_at(all, i));
	json_object_put(all);
	return hit;
}

/* Tells whether an assignment's scope covers a target (management groups cover
 * the whole tenant). */
bool state_scope_covers(const char *assignment_scope, const char *target)
{
	if (str_istarts(assignment_scope,
			"/providers/Microsoft.Management/managementGroups"))
		return true;
	return armid_within(target, assignment_scope);
}

/* Tells whether an assignment has taken effect (new ones wait out
 * propagationSeconds). */
static bool assignment_effective(struct sim *s, struct json_object *ra)
{
	return jx_int(ra, "createdOn", 0) + s->set.propagation_seconds <=
	       sim_now(s);
}

/* Returns the first time after now at which a role assignment takes effect
 * (INT64_MAX: none waits): until then, with no write, access stays as it is. */
int64_t state_access_changes_at(struct sim *s)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments");
	int64_t now = sim_now(s), first = INT64_MAX;

	for (size_t i = 0; i < jx_len(ras); i++) {
		int64_t at = jx_int(jx_at(ras, i), "createdOn", 0) +
			     s->set.propagation_seconds;

		if (at > now && at < first)
			first = at;
	}
	return first;
}

/* Records that the role assignments changed (one added, taken away or
 * replaced), so that the index by principal is built again. */
void state_assignments_changed(struct sim *s)
{
	s->ra_changes++;
}

/* Tells whether the index by principal still describes the role assignments:
 * the same list, length, state generation and changes recorded. */
static bool ra_index_fresh(const struct sim *s, struct json_object *ras)
{
	return s->ra_index && s->ra_indexed == ras &&
	       s->ra_indexed_len == jx_len(ras) &&
	       s->ra_indexed_gen == s->generation &&
	       s->ra_indexed_changes == s->ra_changes;
}

/* Returns the index key of a scope: its lower-case subscription id, or "" for
 * a scope above every subscription (the root, a management group). */
static char *scope_key(const char *scope)
{
	char *key = subscription_key(scope ? scope : "");

	return key ? key : xstrdup("");
}

/* Adds the role assignment at position pos of the list to the index: under
 * its principal, under the key of its scope. */
static void ra_index_add(struct json_object *index, struct json_object *ra,
			 size_t pos)
{
	const char *oid = jx_str(ra, "principalId");
	char *who = str_lower(oid ? oid : ""),
	     *where = scope_key(jx_str(ra, "scope"));
	struct json_object *by_scope = NULL, *list = NULL;

	if (!json_object_object_get_ex(index, who, &by_scope)) {
		by_scope = json_object_new_object();
		json_object_object_add(index, who, by_scope);
	}
	if (!json_object_object_get_ex(by_scope, where, &list)) {
		list = json_object_new_array();
		json_object_object_add(by_scope, where, list);
	}
	json_object_array_add(list, json_object_new_int64((int64_t)pos));
	free(who);
	free(where);
}

/* Makes the index of the role assignments by lower-case principal id, then by
 * the subscription of their scope. */
static void ra_index_build(struct sim *s, struct json_object *ras)
{
	json_object_put(s->ra_index);
	s->ra_index = json_object_new_object();
	for (size_t i = 0; i < jx_len(ras); i++)
		ra_index_add(s->ra_index, jx_at(ras, i), i);
	s->ra_indexed = ras;
	s->ra_indexed_len = jx_len(ras);
	s->ra_indexed_gen = s->generation;
	s->ra_indexed_changes = s->ra_changes;
}

/*
 * Finds the positions in the list of the role assignments of a principal that
 * may concern a scope (borrowed; NULL: none), each in the list's order: at[0]
 * those above every subscription, at[1] those in the scope's subscription. The
 * index is made again whenever the list may have changed: an audit's reads ask
 * once per resource, and scanning every assignment each time made them
 * quadratic in the tenant's size.
 */
static void assignments_of(struct sim *s, const char *oid, const char *scope,
			   struct json_object *at[2])
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments"),
			   *by_scope = NULL;
	char *who = str_lower(oid), *where = scope_key(scope);

	if (!ra_index_fresh(s, ras))
		ra_index_build(s, ras);
	at[0] = at[1] = NULL;
	if (json_object_object_get_ex(s->ra_index, who, &by_scope)) {
		json_object_object_get_ex(by_scope, "", &at[0]);
		if (*where)
			json_object_object_get_ex(by_scope, where, &at[1]);
	}
	free(who);
	free(where);
}

/* Returns the next position of the two lists of assignments_of, in the list's
 * order (SIZE_MAX: none left), moving past it. */
static size_t ra_next(struct json_object *at[2], size_t *i, size_t *j)
{
	int64_t a = *i < jx_len(at[0]) ? json_object_get_int64(jx_at(at[0], *i))
				       : INT64_MAX,
		b = *j < jx_len(at[1]) ? json_object_get_int64(jx_at(at[1], *j))
				       : INT64_MAX;

	if (a == INT64_MAX && b == INT64_MAX)
		return SIZE_MAX;
	if (a < b) {
		(*i)++;
		return (size_t)a;
	}
	(*j)++;
	return (size_t)b;
}

/* Calls fn for each effective role assignment of a principal that covers scope.
 */
static void each_grant(struct sim *s, const char *oid, const char *scope,
		       void (*fn)(struct json_object *role, void *ctx),
		       void *ctx)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments"), *at[2];
	size_t i = 0, j = 0, pos;

	assignments_of(s, oid, scope, at);
	while ((pos = ra_next(at, &i, &j)) != SIZE_MAX) {
		struct json_object *ra = jx_at(ras, pos), *role;

		if (!str_ieq(jx_str(ra, "principalId"), oid) ||
		    !state_scope_covers(jx_str(ra, "scope"), scope) ||
		    !assignment_effective(s, ra))
			continue;
		role = state_role_definition(s, jx_str(ra, "roleDefinitionId"));
		if (role)
			fn(role, ctx);
		json_object_put(role);
	}
}

struct allow_ctx {
	const char *action;
	bool data;
	bool allowed;
};

/* Records whether one role grants the action being checked. */
static void allow_one(struct json_object *role, void *ctx)
{
	struct allow_ctx *c = ctx;

	c->allowed |= az_permissions_allow(
		jx_get(role, "properties.permissions"), c->action, c->data);
}

/* Tells whether a deny assignment's principal list names a principal (or, if
 * everyone, Everyone: the all-zero id). */
static bool names_principal(struct json_object *list, const char *oid,
			    bool everyone)
{
	for (size_t i = 0; i < jx_len(list); i++) {
		const char *id = jx_str(jx_at(list, i), "id");

		if (str_ieq(id, oid) ||
		    (everyone &&
		     str_ieq(id, "00000000-0000-0000-0000-000000000000")))
			return true;
	}
	return false;
}

/*
 * Tells whether a deny assignment stops a principal's action at a scope. As
 * Azure does, a deny assignment wins over every role assignment; it covers
 * its scope and, unless doNotApplyToChildScopes, everything below it.
 */
bool state_denied(struct sim *s, const char *oid, const char *scope,
		  const char *action, bool data)
{
	struct json_object *list = jx_get(s->doc, "denyAssignments");

	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *d = jx_at(list, i);
		const char *at = jx_str(d, "scope");
		bool covers = jx_bool(d, "doNotApplyToChildScopes", false)
				      ? str_ieq(at, scope)
				      : state_scope_covers(at, scope);

		if (covers &&
		    names_principal(jx_get(d, "principals"), oid, true) &&
		    !names_principal(jx_get(d, "excludePrincipals"), oid,
				     false) &&
		    az_permissions_allow(jx_get(d, "permissions"), action,
					 data))
			return true;
	}
	return false;
}

/* Tells whether a principal may perform an action (or data action) at a scope
 * through RBAC. */
bool state_allows(struct sim *s, const char *oid, const char *scope,
		  const char *action, bool data)
{
	struct allow_ctx c = { action, data, false };

	if (!oid)
		return false;
	each_grant(s, oid, scope, allow_one, &c);
	return c.allowed && !state_denied(s, oid, scope, action, data);
}

/* Appends one role's permission blocks to an array. */
static void collect_one(struct json_object *role, void *ctx)
{
	struct json_object *perms = jx_get(role, "properties.permissions");

	for (size_t i = 0; i < jx_len(perms); i++)
		json_object_array_add(ctx, jx_copy(jx_at(perms, i)));
}

/* Returns the permission blocks a principal holds at a scope (for the
 * permissions API). */
struct json_object *state_effective_permissions(struct sim *s, const char *oid,
						const char *scope)
{
	struct json_object *out = json_object_new_array();

	if (oid)
		each_grant(s, oid, scope, collect_one, out);
	/* Where the scenario lets the operator and user through the data plane
	 * (operatorDataPlane open), say so. */
	if (oid && !s->set.operator_data_plane_enforced &&
	    (str_ieq(oid, jx_str(s->doc, "operator.objectId")) ||
	     str_ieq(oid, jx_str(s->doc, "user.objectId"))))
		json_object_array_add(
			out,
			json_tokener_parse("{\"actions\":[],\"notActions\":[],"
					   "\"dataActions\":"
					   "[\"Microsoft.KeyVault/"
					   "*\"],\"notDataActions\":[]}"));
	return out;
}

/* Tells whether a principal has any role in, above or below a subscription. */
bool state_can_see_subscription(struct sim *s, const char *oid, const char *sub)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments"),
			   *at[2] = { NULL, NULL };
	char *sub_scope = xasprintf("/subscriptions/%s", sub);
	size_t i = 0, j = 0, pos;
	bool seen = false;

	if (oid)
		assignments_of(s, oid, sub_scope, at);
	while (!seen && (pos = ra_next(at, &i, &j)) != SIZE_MAX) {
		struct json_object *ra = jx_at(ras, pos);
		const char *scope = jx_str(ra, "scope");

		seen = str_ieq(jx_str(ra, "principalId"), oid) &&
		       (state_scope_covers(scope, sub_scope) ||
			armid_within(scope, sub_scope));
	}
	free(sub_scope);
	return seen;
}
