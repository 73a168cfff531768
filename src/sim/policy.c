/* The simulated Azure Policy: deny assignments refuse writes, and
 * checkPolicyRestrictions reports them in advance. */
#include "config.h"

/*
 * Policy definitions and assignments are scenario resources of type
 * Microsoft.Authorization/policyDefinitions and .../policyAssignments at a
 * subscription or resource-group scope; the REST API writes assignments and
 * custom definitions (at a subscription or a management group) as well. Only
 * the "deny" effect is enforced, as checkPolicyRestrictions evaluates only deny
 * policies. The condition language is the part a CMK policy uses: allOf, anyOf,
 * not; field with equals, notEquals, like, notLike, in, notIn, exists,
 * contains, notContains; "[parameters('name')]" for values and the effect.
 * Aliases
 * ("Microsoft.CognitiveServices/accounts/encryption.keySource") read the
 * property under "properties"; "type", "name", "kind", "location", "id" and
 * "identity.type" read the resource itself. A condition the simulator does
 * not know never matches.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "armid.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

#define ASSIGNMENT_TYPE "Microsoft.Authorization/policyAssignments"
#define DEFINITION_TYPE "Microsoft.Authorization/policyDefinitions"

/* What a condition is evaluated against: the resource, the assignment and the
 * definition. */
struct pctx {
	struct json_object *res, *assignment, *definition;
};

/* Resolves "[parameters('x')]" from the assignment, then the definition's
 * default; other values as they are. */
static struct json_object *param(const struct pctx *p, struct json_object *v)
{
	const char *s = json_object_is_type(v, json_type_string)
				? json_object_get_string(v)
				: NULL;
	char name[128];
	struct json_object *given;

	if (!s || sscanf(s, "[parameters('%127[^']')]", name) != 1)
		return v;
	given = jx_iget(jx_get(p->assignment, "properties.parameters"), name);
	if (given && jx_get(given, "value"))
		return jx_get(given, "value");
	return jx_get(
		jx_iget(jx_get(p->definition, "properties.parameters"), name),
		"defaultValue");
}

/* Reads a policy field (alias or resource field) from the resource; NULL when
 * absent. */
static struct json_object *field(const struct pctx *p, const char *f)
{
	const char *type = jx_str(p->res, "type");
	size_t tl = type ? strlen(type) : 0;

	if (tl && strncasecmp(f, type, tl) == 0 && f[tl] == '/') {
		char *path = xasprintf("properties.%s", f + tl + 1);
		struct json_object *v = jx_get(p->res, path);

		free(path);
		return v;
	}
	return jx_get(p->res, f);
}

/* Matches Azure Policy's "like": one or more '*' wildcards, ignoring case. */
static bool like(const char *s, const char *pat)
{
	if (!*pat)
		return !*s;
	if (*pat == '*')
		return like(s, pat + 1) || (*s && like(s + 1, pat));
	return *s &&
	       tolower((unsigned char)*s) == tolower((unsigned char)*pat) &&
	       like(s + 1, pat + 1);
}

/* Compares a field's value with a condition value, ignoring case for strings.
 */
static bool same(struct json_object *a, struct json_object *b)
{
	if (json_object_is_type(a, json_type_string) &&
	    json_object_is_type(b, json_type_string))
		return str_ieq(json_object_get_string(a),
			       json_object_get_string(b));
	if (!a || !b)
		return !a && !b;
	return str_ieq(
		json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
		json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
}

/* Tells whether a list (array) holds a value. */
static bool listed(struct json_object *list, struct json_object *v)
{
	for (size_t i = 0; i < jx_len(list); i++)
		if (same(jx_at(list, i), v))
			return true;
	return false;
}

/* Tells whether a field value contains a string (substring of a string, or an
 * element of an array). */
static bool holds(struct json_object *v, struct json_object *needle)
{
	const char *n = json_object_get_string(needle);

	if (json_object_is_type(v, json_type_array))
		return listed(v, needle);
	return v && n && strcasestr(json_object_get_string(v), n) != NULL;
}

/* Evaluates one "field" condition; -1 when its operator is not known. */
static int field_cond(const struct pctx *p, struct json_object *c)
{
	struct json_object *v = field(p, jx_str(c, "field")), *t;
	const char *s = json_object_is_type(v, json_type_string)
				? json_object_get_string(v)
				: "";

	if ((t = param(p, jx_get(c, "equals"))) && jx_has(c, "equals"))
		return same(v, t);
	if ((t = param(p, jx_get(c, "notEquals"))) && jx_has(c, "notEquals"))
		return !same(v, t);
	if ((t = param(p, jx_get(c, "like"))) && jx_has(c, "like"))
		return like(s, json_object_get_string(t));
	if ((t = param(p, jx_get(c, "notLike"))) && jx_has(c, "notLike"))
		return !like(s, json_object_get_string(t));
	if ((t = param(p, jx_get(c, "in"))) && jx_has(c, "in"))
		return listed(t, v);
	if ((t = param(p, jx_get(c, "notIn"))) && jx_has(c, "notIn"))
		return !listed(t, v);
	if ((t = param(p, jx_get(c, "contains"))) && jx_has(c, "contains"))
		return holds(v, t);
	if ((t = param(p, jx_get(c, "notContains"))) &&
	    jx_has(c, "notContains"))
		return !holds(v, t);
	/* "exists" takes true or false, as a boolean or a string ("false", as
	 * Microsoft's DICOM and Health Bot definitions write it: json-c would
	 * read any non-empty string as true). */
	if ((t = param(p, jx_get(c, "exists"))) && jx_has(c, "exists"))
		return (v != NULL) ==
		       (json_object_is_type(t, json_type_string)
				? str_ieq(json_object_get_string(t), "true")
				: json_object_get_boolean(t));
	return -1;
}

/* Evaluates a condition tree; -1 when part of it is not understood. */
static int cond(const struct pctx *p, struct json_object *c, int depth)
{
	bool all;

	if (depth > 32 || !json_object_is_type(c, json_type_object))
		return -1;
	if (jx_has(c, "not")) {
		int v = cond(p, jx_get(c, "not"), depth + 1);

		return v < 0 ? -1 : !v;
	}
	all = jx_has(c, "allOf");
	if (all || jx_has(c, "anyOf")) {
		struct json_object *list = jx_get(c, all ? "allOf" : "anyOf");

		for (size_t i = 0; i < jx_len(list); i++) {
			int v = cond(p, jx_at(list, i), depth + 1);

			if (v < 0)
				return -1;
			if (v != all)
				return v;
		}
		return all;
	}
	return jx_has(c, "field") ? field_cond(p, c) : -1;
}

/* Finds the definition an assignment names among the scenario's resources. */
static struct json_object *definition_of(struct sim *s, struct json_object *a)
{
	const char *id = jx_str(a, "properties.policyDefinitionId");

	return id && str_ieq(jx_str(state_resource(s, id), "type"),
			     DEFINITION_TYPE)
		       ? state_resource(s, id)
		       : NULL;
}

/* Returns the scope of an assignment: its properties.scope, or the part of its
 * id before /providers/. */
static char *assignment_scope(struct json_object *a)
{
	const char *scope = jx_str(a, "properties.scope"),
		   *id = jx_str(a, "id");
	const char *cut =
		id ? strcasestr(id, "/providers/" ASSIGNMENT_TYPE "/") : NULL;

	if (scope)
		return xstrdup(scope);
	return cut ? xstrndup(id, (size_t)(cut - id)) : NULL;
}

/* Tells whether an assignment applies to a resource: in scope, not excluded,
 * enforced. */
static bool applies(struct json_object *a, const char *res_id)
{
	char *scope = assignment_scope(a);
	struct json_object *not = jx_get(a, "properties.notScopes");
	/* An assignment at a management group covers the whole simulated
	 * tenant, as a role assignment there does. */
	bool in = scope && state_scope_covers(scope, res_id) &&
		  !str_ieq(jx_str(a, "properties.enforcementMode"),
			   "DoNotEnforce");

	for (size_t i = 0; in && i < jx_len(not ); i++)
		in = !armid_within(res_id,
				   json_object_get_string(jx_at(not, i)));
	free(scope);
	return in;
}

/* Tells whether one assignment denies the resource as it would be after a
 * write. */
static bool denies(struct sim *s, struct json_object *a,
		   struct json_object *res)
{
	struct pctx p = { res, a, definition_of(s, a) };
	struct json_object *effect;

	if (!p.definition || !applies(a, jx_str(res, "id")))
		return false;
	effect = param(
		&p, jx_get(p.definition, "properties.policyRule.then.effect"));
	return str_ieq(json_object_get_string(effect), "deny") &&
	       cond(&p, jx_get(p.definition, "properties.policyRule.if"), 0) ==
		       1;
}

/* Returns the assignments that deny the resource (a new array, empty when
 * none). */
struct json_object *policy_denials(struct sim *s, struct json_object *res)
{
	struct json_object *all = jx_get(s->doc, "resources"),
			   *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *a = jx_at(all, i);

		if (str_ieq(jx_str(a, "type"), ASSIGNMENT_TYPE) &&
		    denies(s, a, res))
			json_object_array_add(out, json_object_get(a));
	}
	return out;
}

/* Describes an assignment's policy as checkPolicyRestrictions and
 * PolicyViolation details name it. */
static struct json_object *policy_info(struct json_object *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "policyDefinitionId",
			       json_object_new_string(jx_str(
				       a, "properties.policyDefinitionId")));
	json_object_object_add(o, "policyAssignmentId",
			       json_object_new_string(jx_str(a, "id")));
	return o;
}

/*
 * Refuses a write that a deny assignment forbids, the way ARM does (403
 * RequestDisallowedByPolicy with PolicyViolation details); true when allowed.
 */
bool policy_allows_write(struct sim_req *rq, struct sim_resp *rs,
			 struct json_object *next)
{
	struct json_object *deny = policy_denials(rq->sim, next), *info, *ai,
			   *a, *err;

	if (jx_len(deny) == 0) {
		json_object_put(deny);
		return true;
	}
	a = jx_at(deny, 0);
	resp_error(
		rs, 403, "RequestDisallowedByPolicy",
		"Resource '%s' was disallowed by policy. Policy identifiers: "
		"'[{\"policyAssignment\":{\"name\":\"%s\",\"id\":\"%s\"},"
		"\"policyDefinition\":{\"name\":\"%s\",\"id\":\"%s\"}}]'.",
		jx_str(next, "name"),
		jx_str(a, "properties.displayName")
			? jx_str(a, "properties.displayName")
			: jx_str(a, "name"),
		jx_str(a, "id"), jx_str(definition_of(rq->sim, a), "name"),
		jx_str(a, "properties.policyDefinitionId"));
	err = jx_get(rs->json, "error");
	json_object_object_add(err, "target",
			       json_object_new_string(jx_str(next, "name")));
	info = policy_info(a);
	json_object_object_add(info, "policyAssignmentName",
			       json_object_new_string(jx_str(a, "name")));
	json_object_object_add(info, "policyDefinitionEffect",
			       json_object_new_string("deny"));
	ai = json_object_new_object();
	json_object_object_add(ai, "type",
			       json_object_new_string("PolicyViolation"));
	json_object_object_add(ai, "info", info);
	json_object_object_add(err, "additionalInfo", json_object_new_array());
	json_object_array_add(jx_get(err, "additionalInfo"), ai);
	json_object_put(deny);
	return false;
}

/* Builds the resource the check is about: the content given, with an id inside
 * the scope when it has none. */
static struct json_object *content_of(struct json_object *details,
				      const char *scope)
{
	struct json_object *res = jx_copy(jx_get(details, "resourceContent"));
	const char *id = jx_str(res, "id");

	if (!id || !armid_within(id, scope)) {
		char *made = xasprintf(
			"%s/providers/%s/%s", scope,
			jx_str(res, "type") ? jx_str(res, "type") : "unknown",
			jx_str(res, "name") ? jx_str(res, "name") : "pending");

		json_object_object_add(res, "id", json_object_new_string(made));
		free(made);
	}
	return res;
}

/*
 * Serves POST {subscription or resource
 * group}/providers/Microsoft.PolicyInsights/ checkPolicyRestrictions: the deny
 * assignments the given content breaks.
 */
void policy_check_restrictions(struct sim_req *rq, struct sim_resp *rs)
{
	const char *cut = strcasestr(
		rq->path,
		"/providers/Microsoft.PolicyInsights/checkPolicyRestrictions");
	char *scope = xstrndup(rq->path, (size_t)(cut - rq->path));
	struct json_object *body, *res, *deny, *evals = json_object_new_array(),
					       *out, *cer;

	if (strcmp(rq->method, "POST") != 0) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "checkPolicyRestrictions supports POST only.");
	} else if (arm_require(rq, rs, scope,
			       "Microsoft.PolicyInsights/"
			       "checkPolicyRestrictions/read") &&
		   (body = req_json(rq, rs)) != NULL) {
		if (!json_object_is_type(
			    jx_get(body, "resourceDetails.resourceContent"),
			    json_type_object)) {
			resp_error(
				rs, 400, "InvalidRequestContent",
				"The request content must have "
				"resourceDetails.resourceContent, an object.");
		} else {
			res = content_of(jx_get(body, "resourceDetails"),
					 scope);
			deny = policy_denials(rq->sim, res);
			for (size_t i = 0; i < jx_len(deny); i++) {
				struct json_object *e =
					json_object_new_object();

				json_object_object_add(
					e, "policyInfo",
					policy_info(jx_at(deny, i)));
				json_object_object_add(
					e, "evaluationResult",
					json_object_new_string("NonCompliant"));
				json_object_object_add(
					e, "evaluationDetails",
					json_object_new_object());
				json_object_array_add(evals, e);
			}
			out = json_object_new_object();
			cer = json_object_new_object();
			json_object_object_add(cer, "policyEvaluations",
					       json_object_get(evals));
			json_object_object_add(out, "fieldRestrictions",
					       json_object_new_array());
			json_object_object_add(out, "contentEvaluationResult",
					       cer);
			resp_json(rs, 200, out);
			json_object_put(deny);
			json_object_put(res);
		}
	}
	json_object_put(evals);
	free(scope);
}

/* Answers a DELETE of a policy resource as ARM does (200 with it, or 204 when
 * there was none) and takes it away. */
static void answer_delete(struct sim_req *rq, struct sim_resp *rs,
			  struct json_object *cur, const char *id)
{
	if (cur)
		resp_json(rs, 200, json_object_get(cur));
	else
		resp_raw(rs, 204, NULL, "");
	state_del_resource(rq->sim, id);
}

/*
 * Serves GET, PUT and DELETE on a policy assignment at a scope
 * (PolicyAssignments_Create/Get/Delete, azure-rest-api-specs
 * Microsoft.Authorization/stable/2023-04-01/policyAssignments.json): PUT
 * needs properties.policyDefinitionId and answers 201 with the assignment,
 * its id, name, type and properties.scope; the deny engine then reads it as
 * it reads the scenario's.
 */
bool policy_assignment_handle(struct sim_req *rq, struct sim_resp *rs,
			      const char *scope, const char *name)
{
	char *id =
		xasprintf("%s/providers/" ASSIGNMENT_TYPE "/%s", scope, name);
	struct json_object *cur = state_resource(rq->sim, id), *body, *next;
	bool get = strcmp(rq->method, "GET") == 0;

	if (!arm_require(rq, rs, scope[0] ? scope : "/",
			 get ? ASSIGNMENT_TYPE "/read"
			 : strcmp(rq->method, "DELETE") == 0
				 ? ASSIGNMENT_TYPE "/delete"
				 : ASSIGNMENT_TYPE "/write"))
		;
	else if (get && cur)
		resp_json(rs, 200, json_object_get(cur));
	else if (get)
		resp_error(rs, 404, "PolicyAssignmentNotFound",
			   "The policy assignment '%s' is not found.", name);
	else if (strcmp(rq->method, "DELETE") == 0)
		answer_delete(rq, rs, cur, id);
	else if (strcmp(rq->method, "PUT") != 0) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "The requested resource does not support http "
			   "method '%s'.",
			   rq->method);
	} else if ((body = req_json(rq, rs)) != NULL) {
		if (!jx_str(body, "properties.policyDefinitionId")) {
			resp_error(rs, 400, "InvalidRequestContent",
				   "The policy assignment '%s' needs "
				   "properties.policyDefinitionId.",
				   name);
		} else {
			next = jx_copy(body);
			json_object_object_add(next, "id",
					       json_object_new_string(id));
			json_object_object_add(next, "name",
					       json_object_new_string(name));
			json_object_object_add(
				next, "type",
				json_object_new_string(ASSIGNMENT_TYPE));
			jx_set(next, "properties.scope",
			       json_object_new_string(scope[0] ? scope : "/"));
			state_put_resource(rq->sim, next);
			resp_json(rs, cur ? 200 : 201, json_object_get(next));
		}
	}
	free(id);
	return true;
}

/*
 * Serves GET of a policy definition (PolicyDefinitions_Get at a subscription,
 * PolicyDefinitions_GetBuiltIn at the tenant: policyDefinitions.json
 * 2021-06-01): the scenario's definition at that id, or 404
 * PolicyDefinitionNotFound. A name is one path segment: a whole definition id
 * given as the name (az 2.45 sends "--policy /providers/..." so, %2F-encoded)
 * names no definition.
 */
static void definition_get(struct sim_req *rq, struct sim_resp *rs,
			   const char *scope, const char *name,
			   const char *rest)
{
	char *id =
		xasprintf("%s/providers/" DEFINITION_TYPE "/%s", scope, name);
	struct json_object *def = state_resource(rq->sim, id);
	bool one = strlen(rest) == strlen("/policyDefinitions/") + strlen(name);

	if (one && def && str_ieq(jx_str(def, "type"), DEFINITION_TYPE))
		resp_json(rs, 200, json_object_get(def));
	else
		resp_error(rs, 404, "PolicyDefinitionNotFound",
			   "The policy definition '%s' could not be found.",
			   one ? name : rest + strlen("/policyDefinitions/"));
	free(id);
}

/* Tells whether a scope is one where a custom definition may be written: a
 * subscription or a management group, not below. */
static bool definition_scope(const char *scope)
{
	static const char *const PREFIXES[] = {
		"/subscriptions/",
		"/providers/Microsoft.Management/managementGroups/"
	};

	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(PREFIXES[i]);

		if (strncasecmp(scope, PREFIXES[i], n) == 0 && scope[n] &&
		    !strchr(scope + n, '/'))
			return true;
	}
	return false;
}

/*
 * Checks a custom definition's rule as ARM does before storing it: an "if"
 * and a "then" with an effect, which, when it is "[parameters('x')]", names
 * a parameter the definition declares. False with the error answered.
 */
static bool definition_valid(struct sim_resp *rs, const char *name,
			     struct json_object *props)
{
	struct json_object *rule = jx_get(props, "policyRule");
	const char *effect = jx_str(rule, "then.effect");
	char pname[128];

	if (!json_object_is_type(jx_get(rule, "if"), json_type_object) ||
	    !effect) {
		resp_error(rs, 400, "InvalidPolicyRule",
			   "The policy definition '%s' rule is invalid: it "
			   "needs an 'if' condition and a 'then' effect.",
			   name);
		return false;
	}
	if (sscanf(effect, "[parameters('%127[^']')]", pname) == 1 &&
	    !jx_iget(jx_get(props, "parameters"), pname)) {
		resp_error(rs, 400, "UndefinedPolicyParameter",
			   "The policy definition '%s' rule has a reference "
			   "to the undefined parameter '%s'.",
			   name, pname);
		return false;
	}
	return true;
}

/*
 * Serves a policy definition at a scope: GET as definition_get; PUT and
 * DELETE of a custom definition at a subscription or a management group
 * (PolicyDefinitions_CreateOrUpdate[AtManagementGroup] and _Delete[...],
 * azure-rest-api-specs Microsoft.Authorization/policy/stable/2023-04-01,
 * examples createOrUpdatePolicyDefinition.json, deletePolicyDefinition.json):
 * PUT answers 201 with the definition, its id, type, name and
 * properties.policyType Custom; the deny engine then reads it. A built-in
 * (tenant scope) is not written.
 */
void policy_definition_handle(struct sim_req *rq, struct sim_resp *rs,
			      const char *scope, const char *name,
			      const char *rest)
{
	bool one = strlen(rest) == strlen("/policyDefinitions/") + strlen(name);
	char *id;
	struct json_object *cur, *body, *next;

	if (strcmp(rq->method, "GET") == 0) {
		definition_get(rq, rs, scope, name, rest);
		return;
	}
	if (!one || !definition_scope(scope) ||
	    (strcmp(rq->method, "PUT") != 0 &&
	     strcmp(rq->method, "DELETE") != 0)) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "The requested resource does not support http "
			   "method '%s'.",
			   rq->method);
		return;
	}
	id = xasprintf("%s/providers/" DEFINITION_TYPE "/%s", scope, name);
	cur = state_resource(rq->sim, id);
	if (!arm_require(rq, rs, scope,
			 strcmp(rq->method, "DELETE") == 0
				 ? DEFINITION_TYPE "/delete"
				 : DEFINITION_TYPE "/write"))
		;
	else if (strcmp(rq->method, "DELETE") == 0)
		answer_delete(rq, rs, cur, id);
	else if ((body = req_json(rq, rs)) != NULL &&
		 definition_valid(rs, name, jx_get(body, "properties"))) {
		next = json_object_new_object();
		json_object_object_add(next, "id", json_object_new_string(id));
		json_object_object_add(next, "type",
				       json_object_new_string(DEFINITION_TYPE));
		json_object_object_add(next, "name",
				       json_object_new_string(name));
		json_object_object_add(next, "properties",
				       jx_copy(jx_get(body, "properties")));
		jx_set(next, "properties.policyType",
		       json_object_new_string("Custom"));
		state_put_resource(rq->sim, next);
		resp_json(rs, 201, json_object_get(next));
	}
	free(id);
}
