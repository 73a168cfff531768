/* Managed HSM local RBAC in the simulator: role assignments served by the HSM's
 * data plane, not by ARM. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

#define AUTHZ_PATH "/providers/Microsoft.Authorization/roleAssignments"
#define LOCAL_ROLE_PREFIX                                       \
	"Microsoft.KeyVault/providers/Microsoft.Authorization/" \
	"roleDefinitions/"

/*
 * Tells whether a role is a Managed HSM local role (its data actions are on
 * managedHsm): such assignments live in the HSM, and ARM does not list them.
 */
bool hsm_local_role(struct sim *s, const char *role)
{
	struct json_object *def = state_role_definition(s, role),
			   *perms = jx_get(def, "properties.permissions");
	bool local = false;

	for (size_t i = 0; i < jx_len(perms); i++) {
		struct json_object *da = jx_get(jx_at(perms, i), "dataActions");

		for (size_t k = 0; k < jx_len(da); k++)
			local |= str_istarts(
				json_object_get_string(jx_at(da, k)),
				"Microsoft.KeyVault/managedHsm/");
	}
	json_object_put(def);
	return local;
}

/* Turns a local scope ("/", "/keys", "/keys/NAME") into the ARM-style scope the
 * state keeps; NULL if not one. */
static char *arm_scope(const char *hsm_id, const char *local)
{
	if (!*local || strcmp(local, "/") == 0)
		return xstrdup(hsm_id);
	if (str_ieq(local, "/keys") || (str_istarts(local, "/keys/") &&
					local[6] && !strchr(local + 6, '/')))
		return xasprintf("%s%s", hsm_id, local);
	return NULL;
}

/* Turns a kept ARM-style scope under the HSM into its local scope (allocated).
 */
static char *local_scope(const char *hsm_id, const char *scope)
{
	const char *rest = scope + strlen(hsm_id);

	return xstrdup(*rest ? rest : "/");
}

/* Builds an assignment as the HSM returns it (PutRoleAssignments-example.json's
 * shape). */
static struct json_object *local_json(const char *hsm_id,
				      struct json_object *ra)
{
	struct json_object *o = json_object_new_object(),
			   *p = json_object_new_object();
	char *scope = local_scope(hsm_id, jx_str(ra, "scope"));
	char *rd = xasprintf(LOCAL_ROLE_PREFIX "%s",
			     jx_str(ra, "roleDefinitionId"));
	char *id =
		xasprintf("%s" AUTHZ_PATH "/%s",
			  strcmp(scope, "/") ? scope : "", jx_str(ra, "name"));

	json_object_object_add(p, "roleDefinitionId",
			       json_object_new_string(rd));
	json_object_object_add(
		p, "principalId",
		json_object_new_string(jx_str(ra, "principalId")));
	json_object_object_add(p, "scope", json_object_new_string(scope));
	authz_envelope(o, p, id, jx_str(ra, "name"));
	free(scope);
	free(rd);
	free(id);
	return o;
}

/* Tells whether the caller may manage the role assignments at a scope: an
 * initial administrator, or a local role there or above. */
static bool may(struct sim_req *rq, struct json_object *hsm, const char *scope,
		const char *action)
{
	struct json_object *admins =
		jx_get(hsm, "properties.initialAdminObjectIds");

	return jx_array_has_istr(admins, rq->oid) ||
	       state_allows(rq->sim, rq->oid, scope, action, true);
}

/* Tells whether a kept scope is HSM-wide: the HSM itself ("/") or "/keys". */
static bool hsm_wide(const char *hsm_id, const char *scope)
{
	const char *rest =
		str_istarts(scope, hsm_id) ? scope + strlen(hsm_id) : NULL;

	return rest && (!*rest || str_ieq(rest, "/keys"));
}

/*
 * Adds the HSM's initial administrators as the Managed HSM Administrator
 * assignments at "/" that activating the HSM gives them.
 */
static void add_initial_admins(struct json_object *out, struct json_object *hsm,
			       const char *hsm_id)
{
	struct json_object *admins =
		jx_get(hsm, "properties.initialAdminObjectIds");

	for (size_t i = 0; i < jx_len(admins); i++) {
		struct json_object *ra = json_object_new_object();

		json_object_object_add(ra, "scope",
				       json_object_new_string(hsm_id));
		json_object_object_add(ra, "principalId",
				       json_object_get(jx_at(admins, i)));
		json_object_object_add(
			ra, "roleDefinitionId",
			json_object_new_string(
				"a290e904-7015-4bba-90c8-60543313cdb4"));
		json_object_object_add(ra, "name",
				       json_object_get(jx_at(admins, i)));
		json_object_array_add(out, local_json(hsm_id, ra));
		json_object_put(ra);
	}
}

/*
 * Serves GET of the assignments at a scope, as the HSM does: at "/" or
 * "/keys" only the HSM-wide ones ("the list command only lists all the role
 * assignments at the top level and does not show role assignments at
 * individual key level":
 * learn.microsoft.com/azure/key-vault/managed-hsm/role-management); at
 * "/keys/NAME" those of that key and the HSM-wide ones above it.
 */
static void list_local(struct sim_req *rq, struct sim_resp *rs,
		       struct json_object *hsm, const char *hsm_id,
		       const char *scope)
{
	struct json_object *ras = jx_get(rq->sim->doc, "roleAssignments"),
			   *out = json_object_new_array(), *body;
	bool top = hsm_wide(hsm_id, scope);

	add_initial_admins(out, hsm, hsm_id);
	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);
		const char *s = jx_str(ra, "scope");

		if (s && armid_within(s, hsm_id) &&
		    (hsm_wide(hsm_id, s) || (!top && str_ieq(s, scope))) &&
		    hsm_local_role(rq->sim, jx_str(ra, "roleDefinitionId")))
			json_object_array_add(out, local_json(hsm_id, ra));
	}
	body = json_object_new_object();
	json_object_object_add(body, "value", out);
	resp_json(rs, 200, body);
}

/* Finds an assignment kept under the HSM by name, or of the same role to the
 * same principal at a scope. */
static struct json_object *find(struct sim *s, const char *hsm_id,
				const char *name, const char *scope,
				const char *principal, const char *role)
{
	struct json_object *ras = jx_get(s->doc, "roleAssignments");

	for (size_t i = 0; i < jx_len(ras); i++) {
		struct json_object *ra = jx_at(ras, i);
		const char *sc = jx_str(ra, "scope");

		if (!sc || !armid_within(sc, hsm_id))
			continue;
		if (name ? str_ieq(jx_str(ra, "name"), name)
			 : str_ieq(sc, scope) &&
				    str_ieq(jx_str(ra, "principalId"),
					    principal) &&
				    str_ieq(jx_str(ra, "roleDefinitionId"),
					    role))
			return ra;
	}
	return NULL;
}

/* Serves PUT of an assignment: a local role to a principal at a scope; 409 when
 * it exists under another name. */
static void put_local(struct sim_req *rq, struct sim_resp *rs,
		      const char *hsm_id, const char *scope, const char *name)
{
	struct json_object *body = req_json(rq, rs), *ra;
	const char *rd = jx_str(body, "properties.roleDefinitionId"),
		   *pid = jx_str(body, "properties.principalId");
	char *guid;

	if (!body)
		return;
	if (!is_uuid(name) || !rd || !pid) {
		resp_error(rs, 400, "BadParameter",
			   "The role assignment '%s' needs a GUID name, "
			   "properties.roleDefinitionId "
			   "and properties.principalId.",
			   name);
		return;
	}
	guid = role_guid(rd);
	if (!hsm_local_role(rq->sim, guid)) {
		resp_error(rs, 400, "RoleDefinitionNotFound",
			   "The role definition '%s' is not a Managed HSM "
			   "local role.",
			   rd);
	} else if ((ra = find(rq->sim, hsm_id, name, NULL, NULL, NULL)) !=
		   NULL) {
		if (str_ieq(jx_str(ra, "scope"), scope) &&
		    str_ieq(jx_str(ra, "principalId"), pid) &&
		    str_ieq(jx_str(ra, "roleDefinitionId"), guid))
			resp_json(rs, 200, local_json(hsm_id, ra));
		else
			resp_error(rs, 409, "RoleAssignmentUpdateNotPermitted",
				   "The role assignment '%s' exists with other "
				   "properties.",
				   name);
	} else if (find(rq->sim, hsm_id, NULL, scope, pid, guid)) {
		resp_error(rs, 409, "RoleAssignmentExists",
			   "The role assignment already exists.");
	} else {
		ra = authz_keep(rq->sim, name, scope, pid, guid);
		json_object_object_add(
			ra, "principalType",
			json_object_new_string("ServicePrincipal"));
		resp_json(rs, 201, local_json(hsm_id, ra));
	}
	free(guid);
}

/*
 * Serves
 * {hsm}/{scope}/providers/Microsoft.Authorization/roleAssignments[/NAME]: list
 * (GET) and create (PUT). Returns false when the path is not one of these.
 */
bool hsm_rbac_handle(struct sim_req *rq, struct sim_resp *rs,
		     struct json_object *hsm)
{
	const char *path = rq->path, *at = strcasestr(path, AUTHZ_PATH),
		   *hsm_id = jx_str(hsm, "id");
	const char *name = at ? at + strlen(AUTHZ_PATH) : NULL;
	char *local, *scope;
	bool get = strcmp(rq->method, "GET") == 0;

	if (!at || !hsm_id || (*name && *name != '/'))
		return false;
	while (*path == '/' && path + 1 < at && path[1] == '/')
		path++;
	local = xstrndup(path, (size_t)(at - path));
	scope = arm_scope(hsm_id, local);
	name = *name ? name + 1 : NULL;
	if (!scope) {
		resp_error(rs, 400, "BadParameter",
			   "The scope '%s' is not one of /, /keys or "
			   "/keys/{name}.",
			   local);
	} else if (!may(rq, hsm, scope,
			get ? "Microsoft.KeyVault/managedHsm/roleAssignments/"
			      "read/action"
			    : "Microsoft.KeyVault/managedHsm/roleAssignments/"
			      "write/action")) {
		resp_error(rs, 403, "Forbidden",
			   "Caller is not authorized to manage the role "
			   "assignments of %s.",
			   jx_str(hsm, "name"));
	} else if (get && !name) {
		list_local(rq, rs, hsm, hsm_id, scope);
	} else if (strcmp(rq->method, "PUT") == 0 && name && *name) {
		put_local(rq, rs, hsm_id, scope, name);
	} else {
		resp_error(rs, 405, "BadParameter",
			   "The operation %s is not supported on role "
			   "assignments.",
			   rq->method);
	}
	free(local);
	free(scope);
	return true;
}
