/* The simulated Microsoft.Authorization provider: role and deny assignments,
 * role definitions, permissions. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "armid.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

#define AUTHZ "/providers/Microsoft.Authorization"

/* Formats an epoch time as ARM's ISO 8601 UTC text (with Authorization's seven
 * fraction digits, if fraction). */
struct json_object *sim_iso_time(int64_t t, bool fraction)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf),
		 fraction ? "%Y-%m-%dT%H:%M:%S.0000000Z" : "%Y-%m-%dT%H:%M:%SZ",
		 &tm);
	return json_object_new_string(buf);
}

/* Formats an epoch time as the role assignments show it. */
static struct json_object *iso_time(int64_t t)
{
	return sim_iso_time(t, true);
}

#define MG_PREFIX "/providers/Microsoft.Management/managementGroups/"

/* Tells whether a scope is a management group's. */
static bool is_mg(const char *scope)
{
	return scope && str_istarts(scope, MG_PREFIX);
}

/*
 * Returns the "/subscriptions/{s}" prefix of a scope, or "" at tenant level
 * and at a management group (whose assignments name their role by the
 * tenant-level id, as ARM does); allocated.
 */
static char *sub_prefix(const char *scope)
{
	struct armid id;
	char *p;

	if (!armid_parse(scope, &id))
		return xstrdup("");
	p = xasprintf("/subscriptions/%s", id.subscription);
	armid_free(&id);
	return p;
}

/* Keeps a new role assignment in the state (role as a bare GUID); returns it,
 * borrowed. */
struct json_object *authz_keep(struct sim *s, const char *name,
			       const char *scope, const char *principal,
			       const char *guid)
{
	struct json_object *ra = json_object_new_object();

	json_object_object_add(ra, "name", json_object_new_string(name));
	json_object_object_add(ra, "scope", json_object_new_string(scope));
	json_object_object_add(ra, "principalId",
			       json_object_new_string(principal));
	json_object_object_add(ra, "roleDefinitionId",
			       json_object_new_string(guid));
	json_object_object_add(ra, "createdOn",
			       json_object_new_int64(sim_now(s)));
	json_object_array_add(jx_get(s->doc, "roleAssignments"), ra);
	state_assignments_changed(s);
	return ra;
}

/* Fills a role assignment's envelope: its properties (taken), id, type and
 * name. */
void authz_envelope(struct json_object *o, struct json_object *props,
		    const char *id, const char *name)
{
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(
		o, "type",
		json_object_new_string(
			"Microsoft.Authorization/roleAssignments"));
	json_object_object_add(o, "name", json_object_new_string(name));
}

/* Builds a role assignment as ARM returns it. */
static struct json_object *ra_json(struct json_object *ra)
{
	struct json_object *o = json_object_new_object(),
			   *p = json_object_new_object();
	const char *scope = jx_str(ra, "scope");
	char *prefix = sub_prefix(scope);
	char *rd = xasprintf("%s%s/roleDefinitions/%s", prefix, AUTHZ,
			     jx_str(ra, "roleDefinitionId"));
	char *id = xasprintf("%s%s/roleAssignments/%s",
			     strcmp(scope, "/") ? scope : "", AUTHZ,
			     jx_str(ra, "name"));
	int64_t created = jx_int(ra, "createdOn", 0)
				  ? jx_int(ra, "createdOn", 0)
				  : 1700000000;

	json_object_object_add(p, "roleDefinitionId",
			       json_object_new_string(rd));
	json_object_object_add(
		p, "principalId",
		json_object_new_string(jx_str(ra, "principalId")));
	json_object_object_add(
		p, "principalType",
		json_object_new_string(jx_str(ra, "principalType")
					       ? jx_str(ra, "principalType")
					       : "ServicePrincipal"));
	json_object_object_add(p, "scope", json_object_new_string(scope));
	/* An Azure ABAC condition, as the scenario gives it
	 * (RoleAssignmentProperties.condition). */
	json_object_object_add(p, "condition",
			       jx_copy(jx_get(ra, "condition")));
	json_object_object_add(p, "conditionVersion",
			       jx_copy(jx_get(ra, "conditionVersion")));
	json_object_object_add(p, "createdOn", iso_time(created));
	json_object_object_add(p, "updatedOn", iso_time(created));
	json_object_object_add(p, "delegatedManagedIdentityResourceId", NULL);
	json_object_object_add(p, "description",
			       jx_copy(jx_get(ra, "description")));
	authz_envelope(o, p, id, jx_str(ra, "name"));
	free(prefix);
	free(rd);
	free(id);
	return o;
}

/* Reads the principal a filter names: principalId eq 'x' or assignedTo('x');
 * NULL if none. */
static char *filter_principal(const char *filter)
{
	char id[64];
	const char *p;

	if (!filter)
		return NULL;
	if ((p = strcasestr(filter, "principalId eq ")) != NULL &&
	    sscanf(p + 15, " '%63[^']'", id) == 1)
		return xstrdup(id);
	if (p && sscanf(p + 15, " %63[0-9a-fA-F-]", id) == 1)
		return xstrdup(id);
	if ((p = strcasestr(filter, "assignedTo(")) != NULL &&
	    sscanf(p + 11, " '%63[^']'", id) == 1)
		return xstrdup(id);
	return NULL;
}

/* Serves GET {scope}/providers/Microsoft.Authorization/roleAssignments with its
 * filters. */
static void list_assignments(struct sim_req *rq, struct sim_resp *rs,
			     const char *scope)
{
	struct json_object *ras = jx_get(rq->sim->doc, "roleAssignments"),
			   *out = json_object_new_array();
	const char *filter = req_arg(rq, "$filter");
	bool at_scope = filter && strcasestr(filter, "atScope()");
	char *who = filter_principal(filter);

	if (filter && !at_scope && !who) {
		resp_error(rs, 400, "UnsupportedQuery",
			   "The filter '%s' is not supported. Supported "
			   "filters are "
			   "atScope(), principalId eq '{id}' and "
			   "assignedTo('{id}').",
			   filter);
		json_object_put(out);
		return;
	}
	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);
		const char *s = jx_str(ra, "scope");
		/* The simulator's management groups hold every subscription, so
		 * one is above every scope. */
		bool above = armid_within(scope, s) || is_mg(s),
		     below = armid_within(s, scope);

		if ((at_scope && !above) || (!above && !below) ||
		    (who && !str_ieq(who, jx_str(ra, "principalId"))))
			continue;
		/* A Managed HSM local role is the HSM's own (its data plane
		 * lists it), not ARM's. */
		if (hsm_local_role(rq->sim, jx_str(ra, "roleDefinitionId")))
			continue;
		json_object_array_add(out, ra_json(ra));
	}
	/* Paged like every ARM list (pageSize), so a client that reads one page
	 * misses grants. */
	arm_answer_page(rq, rs, out);
	free(who);
}

/* Builds a deny assignment as ARM returns it (DenyAssignment,
 * Microsoft.Authorization 2022-04-01). */
static struct json_object *deny_json(struct json_object *d)
{
	static const char *const KEEP[] = {
		"denyAssignmentName", "description",
		"permissions",        "scope",
		"principals",         "excludePrincipals"
	};
	struct json_object *o = json_object_new_object(),
			   *p = json_object_new_object();
	const char *scope = jx_str(d, "scope");
	char *id = xasprintf("%s%s/denyAssignments/%s",
			     strcmp(scope, "/") ? scope : "", AUTHZ,
			     jx_str(d, "name"));

	for (size_t i = 0; i < sizeof(KEEP) / sizeof(KEEP[0]); i++)
		json_object_object_add(p, KEEP[i], jx_copy(jx_get(d, KEEP[i])));
	if (!jx_get(p, "excludePrincipals"))
		json_object_object_add(p, "excludePrincipals",
				       json_object_new_array());
	json_object_object_add(p, "doNotApplyToChildScopes",
			       json_object_new_boolean(jx_bool(
				       d, "doNotApplyToChildScopes", false)));
	json_object_object_add(p, "isSystemProtected",
			       json_object_new_boolean(true));
	json_object_object_add(o, "properties", p);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(
		o, "type",
		json_object_new_string(
			"Microsoft.Authorization/denyAssignments"));
	json_object_object_add(o, "name",
			       json_object_new_string(jx_str(d, "name")));
	free(id);
	return o;
}

/* Serves GET {scope}/providers/Microsoft.Authorization/denyAssignments: at,
 * above and below the scope, or atScope(). */
static void list_denies(struct sim_req *rq, struct sim_resp *rs,
			const char *scope)
{
	struct json_object *list = jx_get(rq->sim->doc, "denyAssignments"),
			   *out = json_object_new_array();
	const char *filter = req_arg(rq, "$filter");
	bool at_scope = filter && strcasestr(filter, "atScope()");

	if (filter && !at_scope) {
		resp_error(rs, 400, "UnsupportedQuery",
			   "The filter '%s' is not supported. Supported "
			   "filters are "
			   "atScope(), denyAssignmentName eq '{name}' and "
			   "principalId eq '{id}'.",
			   filter);
		json_object_put(out);
		return;
	}
	for (size_t i = 0; i < jx_len(list); i++) {
		const char *s = jx_str(jx_at(list, i), "scope");
		bool above = armid_within(scope, s) || is_mg(s),
		     below = armid_within(s, scope);

		if (above || (below && !at_scope))
			json_object_array_add(out, deny_json(jx_at(list, i)));
	}
	arm_answer_page(rq, rs, out);
}

/* Finds an assignment by name at a scope (NULL scope: any scope). */
static struct json_object *find_by_name(struct sim *s, const char *scope,
					const char *name, size_t *at)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments");

	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);

		if (str_ieq(jx_str(ra, "name"), name) &&
		    (!scope || str_ieq(jx_str(ra, "scope"), scope))) {
			if (at)
				*at = i;
			return ra;
		}
	}
	return NULL;
}

/* Finds an assignment of the same role to the same principal at the same scope.
 */
static struct json_object *find_same(struct sim *s, const char *scope,
				     const char *principal, const char *role)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments");

	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);

		if (str_ieq(jx_str(ra, "scope"), scope) &&
		    str_ieq(jx_str(ra, "principalId"), principal) &&
		    str_ieq(jx_str(ra, "roleDefinitionId"), role))
			return ra;
	}
	return NULL;
}

/* Checks a role assignment PUT body; returns the role GUID (allocated) or NULL
 * with the error set. */
static char *check_assignment(struct sim_req *rq, struct sim_resp *rs,
			      struct json_object *body, const char *name)
{
	const char *rd = jx_str(body, "properties.roleDefinitionId"),
		   *pid = jx_str(body, "properties.principalId");
	struct json_object *role, *who;

	if (!is_uuid(name)) {
		resp_error(rs, 400, "InvalidRoleAssignmentId",
			   "The role assignment ID '%s' is not valid. The role "
			   "assignment ID must be a GUID.",
			   name);
		return NULL;
	}
	if (!rd || !pid) {
		resp_error(
			rs, 400, "InvalidRoleAssignmentRequest",
			"The role assignment needs properties.roleDefinitionId "
			"and properties.principalId.");
		return NULL;
	}
	if (!(role = state_role_definition(rq->sim, rd))) {
		char *g = role_guid(rd);

		resp_error(
			rs, 400, "RoleDefinitionDoesNotExist",
			"The specified role definition with ID '%s' does not "
			"exist.",
			g);
		free(g);
		return NULL;
	}
	json_object_put(role);
	who = state_principal(rq->sim, pid);
	if (!who && !jx_str(body, "properties.principalType")) {
		resp_error(rs, 400, "PrincipalNotFound",
			   "Principal %s does not exist in the directory %s. "
			   "Check that you "
			   "have the correct principal ID. If you are creating "
			   "this principal and then immediately "
			   "assigning a role, this error might be related to a "
			   "replication delay. In this case, set the "
			   "role assignment principalType property to a value, "
			   "such as ServicePrincipal, User, or Group. "
			   "See https://aka.ms/docs-principaltype",
			   pid, state_tenant(rq->sim));
		return NULL;
	}
	json_object_put(who);
	return role_guid(rd);
}

/* Serves PUT of a role assignment: created, repeated, or refused with 409 as
 * Azure does. */
static void put_assignment(struct sim_req *rq, struct sim_resp *rs,
			   const char *scope, const char *name)
{
	struct json_object *body = req_json(rq, rs), *same, *named, *ra;
	const char *pid;
	char *guid;

	if (!body || !(guid = check_assignment(rq, rs, body, name)))
		return;
	pid = jx_str(body, "properties.principalId");
	named = find_by_name(rq->sim, NULL, name, NULL);
	same = find_same(rq->sim, scope, pid, guid);
	if (named && named == same) {
		resp_json(rs, 200, ra_json(named));
	} else if (named) {
		resp_error(rs, 409, "RoleAssignmentUpdateNotPermitted",
			   "Tenant ID, application ID, principal ID, and "
			   "scope are not allowed to be updated.");
	} else if (same) {
		resp_error(rs, 409, "RoleAssignmentExists",
			   "The role assignment already exists.");
	} else {
		ra = authz_keep(rq->sim, name, scope, pid, guid);
		json_object_object_add(
			ra, "principalType",
			jx_copy(jx_get(body, "properties.principalType")));
		json_object_object_add(
			ra, "description",
			jx_copy(jx_get(body, "properties.description")));
		resp_json(rs, 201, ra_json(ra));
	}
	free(guid);
}

/* Serves GET, PUT and DELETE of one role assignment. */
static void one_assignment(struct sim_req *rq, struct sim_resp *rs,
			   const char *scope, const char *name)
{
	const char *m = rq->method;
	size_t at = 0;
	struct json_object *ra = find_by_name(rq->sim, scope, name, &at);
	const char *action =
		strcmp(m, "GET") == 0
			? "Microsoft.Authorization/roleAssignments/read"
		: strcmp(m, "DELETE") == 0
			? "Microsoft.Authorization/roleAssignments/delete"
			: "Microsoft.Authorization/roleAssignments/write";

	if (!arm_require(rq, rs, scope, action))
		return;
	if (strcmp(m, "PUT") == 0) {
		put_assignment(rq, rs, scope, name);
	} else if (strcmp(m, "GET") == 0) {
		if (ra)
			resp_json(rs, 200, ra_json(ra));
		else
			resp_error(rs, 404, "RoleAssignmentNotFound",
				   "The role assignment '%s' is not found.",
				   name);
	} else if (strcmp(m, "DELETE") == 0) {
		if (!ra) {
			resp_raw(rs, 204, NULL, "");
			return;
		}
		resp_json(rs, 200, ra_json(ra));
		json_object_array_del_idx(
			jx_get(rq->sim->doc, "roleAssignments"), at, 1);
		state_assignments_changed(rq->sim);
	} else {
		resp_error(rs, 405, "MethodNotAllowed",
			   "The requested resource does not support http "
			   "method '%s'.",
			   m);
	}
}

/* Returns a role definition as seen from a scope: its id under the scope's
 * subscription. */
static struct json_object *rd_json(struct json_object *role, const char *scope)
{
	struct json_object *o = jx_copy(role);
	char *prefix = sub_prefix(scope);
	char *id = xasprintf("%s%s/roleDefinitions/%s", prefix, AUTHZ,
			     jx_str(role, "name"));

	json_object_object_add(o, "id", json_object_new_string(id));
	free(prefix);
	free(id);
	return o;
}

/* Tells whether a role definition can be assigned at a scope (its
 * assignableScopes cover it). */
static bool assignable_at(struct json_object *role, const char *scope)
{
	struct json_object *scopes =
		jx_get(role, "properties.assignableScopes");

	/* The simulator's management groups hold every subscription. */
	for (size_t i = 0; i < jx_len(scopes); i++)
		if (armid_within(scope,
				 json_object_get_string(jx_at(scopes, i))) ||
		    is_mg(json_object_get_string(jx_at(scopes, i))))
			return true;
	return false;
}

/* Serves GET of role definitions: the list with roleName/type filters, or one
 * by GUID. */
static void role_definitions(struct sim_req *rq, struct sim_resp *rs,
			     const char *scope, const char *guid)
{
	struct json_object *all = state_role_definitions(rq->sim),
			   *out = json_object_new_array(), *body;
	const char *filter = req_arg(rq, "$filter");
	char name[256] = "", type[64] = "";

	if (filter && sscanf(filter, " roleName eq '%255[^']'", name) != 1 &&
	    sscanf(filter, " type eq '%63[^']'", type) != 1) {
		resp_error(rs, 400, "UnsupportedQuery",
			   "The filter '%s' is not supported.", filter);
		goto out;
	}
	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);

		if ((guid && !str_ieq(jx_str(r, "name"), guid)) ||
		    !assignable_at(r, scope[0] ? scope : "/") ||
		    (name[0] &&
		     !str_ieq(jx_str(r, "properties.roleName"), name)) ||
		    (type[0] && !str_ieq(jx_str(r, "properties.type"), type)))
			continue;
		json_object_array_add(out, rd_json(r, scope));
	}
	if (guid) {
		if (jx_len(out))
			resp_json(rs, 200, json_object_get(jx_at(out, 0)));
		else
			resp_error(
				rs, 404, "RoleDefinitionDoesNotExist",
				"The role definition '%s' could not be found.",
				guid);
		goto out;
	}
	body = json_object_new_object();
	json_object_object_add(body, "value", json_object_get(out));
	resp_json(rs, 200, body);
out:
	json_object_put(out);
	json_object_put(all);
}

/* Serves GET {scope}/providers/Microsoft.Authorization/permissions for the
 * caller. */
static void permissions(struct sim_req *rq, struct sim_resp *rs,
			const char *scope)
{
	struct json_object *body = json_object_new_object();

	json_object_object_add(
		body, "value",
		state_effective_permissions(rq->sim, rq->oid,
					    scope[0] ? scope : "/"));
	resp_json(rs, 200, body);
}

/* Routes paths under {scope}/providers/Microsoft.Authorization; returns false
 * for other paths. */
bool authz_handle(struct sim_req *rq, struct sim_resp *rs)
{
	char *scope =
		     armid_extension_scope(rq->path, "Microsoft.Authorization"),
	     name[128] = "";
	const char *rest;
	bool get = strcmp(rq->method, "GET") == 0;

	if (!scope)
		return false;
	rest = rq->path + strlen(scope) + strlen(AUTHZ);
	if (str_ieq(rest, "/roleAssignments") && get) {
		if (arm_require(rq, rs, scope[0] ? scope : "/",
				"Microsoft.Authorization/roleAssignments/read"))
			list_assignments(rq, rs, scope[0] ? scope : "/");
	} else if (sscanf(rest, "/roleAssignments/%127[^/]", name) == 1 ||
		   sscanf(rest, "/roleassignments/%127[^/]", name) == 1) {
		one_assignment(rq, rs, scope[0] ? scope : "/", name);
	} else if (sscanf(rest, "/policyDefinitions/%127[^/]", name) == 1 ||
		   sscanf(rest, "/policydefinitions/%127[^/]", name) == 1) {
		policy_definition_handle(rq, rs, scope, name, rest);
	} else if (sscanf(rest, "/policyAssignments/%127[^/]", name) == 1 ||
		   sscanf(rest, "/policyassignments/%127[^/]", name) == 1) {
		policy_assignment_handle(rq, rs, scope, name);
	} else if (str_ieq(rest, "/denyAssignments") && get) {
		if (arm_require(rq, rs, scope[0] ? scope : "/",
				"Microsoft.Authorization/denyAssignments/read"))
			list_denies(rq, rs, scope[0] ? scope : "/");
	} else if (str_ieq(rest, "/roleDefinitions") && get) {
		role_definitions(rq, rs, scope, NULL);
	} else if ((sscanf(rest, "/roleDefinitions/%127[^/]", name) == 1 ||
		    sscanf(rest, "/roledefinitions/%127[^/]", name) == 1) &&
		   get) {
		role_definitions(rq, rs, scope, name);
	} else if (str_ieq(rest, "/permissions") && get) {
		permissions(rq, rs, scope);
	} else {
		resp_error(rs, 404, "InvalidResourceType",
			   "The resource type '%s' could not be found in the "
			   "namespace "
			   "'Microsoft.Authorization'.",
			   rest);
	}
	free(scope);
	return true;
}
