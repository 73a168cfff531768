/* The simulated Microsoft Graph: the directory lookups role tools make
 * (getByIds, service principals, me). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* Builds a directory object as Graph returns it. */
static struct json_object *graph_object(struct sim *s, struct json_object *p)
{
	struct json_object *o = json_object_new_object();
	const char *type = jx_str(p, "type");

	json_object_object_add(
		o, "@odata.type",
		json_object_new_string(
			str_ieq(type, "User") ? "#microsoft.graph.user"
			: str_ieq(type, "Group")
				? "#microsoft.graph.group"
				: "#microsoft.graph.servicePrincipal"));
	json_object_object_add(o, "id",
			       json_object_new_string(jx_str(p, "objectId")));
	json_object_object_add(
		o, "displayName",
		json_object_new_string(jx_str(p, "displayName")));
	if (str_ieq(type, "User")) {
		const char *upn =
			str_ieq(jx_str(p, "objectId"),
				jx_str(s->doc, "user.objectId"))
				? jx_str(s->doc, "user.userPrincipalName")
				: NULL;

		json_object_object_add(
			o, "userPrincipalName",
			json_object_new_string(upn ? upn
						   : jx_str(p, "objectId")));
	} else if (!str_ieq(type, "Group")) {
		const char *app = jx_str(p, "appId") ? jx_str(p, "appId")
						     : jx_str(p, "objectId");
		struct json_object *names = json_object_new_array();

		json_object_array_add(names, json_object_new_string(app));
		json_object_object_add(o, "appId", json_object_new_string(app));
		json_object_object_add(o, "servicePrincipalNames", names);
		json_object_object_add(
			o, "servicePrincipalType",
			json_object_new_string(
				str_ieq(jx_str(p, "objectId"),
					jx_str(s->doc, "operator.objectId"))
					? "Application"
					: "ManagedIdentity"));
	}
	return o;
}

/* Answers {"value": [...]} with Graph's context annotation. */
static void graph_list(struct sim_resp *rs, struct json_object *items,
		       const char *context)
{
	struct json_object *b = json_object_new_object();

	json_object_object_add(b, "@odata.context",
			       json_object_new_string(context));
	json_object_object_add(b, "value", items);
	resp_json(rs, 200, b);
}

/* Serves POST /v1.0/directoryObjects/getByIds. */
static void get_by_ids(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b = req_json(rq, rs), *ids, *all, *out;

	if (!b)
		return;
	if (!json_object_is_type(ids = jx_get(b, "ids"), json_type_array)) {
		resp_error(rs, 400, "Request_BadRequest",
			   "The request needs an 'ids' array.");
		return;
	}
	all = state_principals(rq->sim);
	out = json_object_new_array();
	for (size_t i = 0; i < jx_len(ids); i++)
		for (size_t j = 0; j < jx_len(all); j++)
			if (str_ieq(json_object_get_string(jx_at(ids, i)),
				    jx_str(jx_at(all, j), "objectId"))) {
				json_object_array_add(
					out,
					graph_object(rq->sim, jx_at(all, j)));
				break;
			}
	json_object_put(all);
	graph_list(
		rs, out,
		"https://graph.microsoft.com/v1.0/$metadata#directoryObjects");
}

/* Serves GET /v1.0/servicePrincipals?$filter=appId eq 'x' or
 * servicePrincipalNames/any(c:c eq 'x'). */
static void service_principals(struct sim_req *rq, struct sim_resp *rs)
{
	const char *filter = req_arg(rq, "$filter");
	char want[128] = "";
	struct json_object *all, *out;

	if (filter && sscanf(filter, "appId eq '%127[^']'", want) != 1 &&
	    sscanf(filter, "servicePrincipalNames/any(c:c eq '%127[^']')",
		   want) != 1) {
		resp_error(rs, 400, "Request_UnsupportedQuery",
			   "Unsupported query: %s", filter);
		return;
	}
	all = state_principals(rq->sim);
	out = json_object_new_array();
	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *p = jx_at(all, i);
		const char *app = jx_str(p, "appId") ? jx_str(p, "appId")
						     : jx_str(p, "objectId");

		if (str_ieq(jx_str(p, "type"), "ServicePrincipal") &&
		    (!want[0] || str_ieq(app, want)))
			json_object_array_add(out, graph_object(rq->sim, p));
	}
	json_object_put(all);
	graph_list(
		rs, out,
		"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals");
}

/* Serves GET of one directory object, or /me. */
static void one_object(struct sim_req *rq, struct sim_resp *rs, const char *id)
{
	struct json_object *p = state_principal(rq->sim, id);

	if (!p) {
		resp_error(rs, 404, "Request_ResourceNotFound",
			   "Resource '%s' does not exist or one of its queried "
			   "reference-property objects are not present.",
			   id);
		return;
	}
	resp_json(rs, 200, graph_object(rq->sim, p));
	json_object_put(p);
}

/* Routes requests to graph.microsoft.com. */
void graph_handle(struct sim_req *rq, struct sim_resp *rs)
{
	char id[64];

	if (!entra_check_bearer(rq, rs, HOST_GRAPH))
		return;
	if (strcmp(rq->method, "POST") == 0 &&
	    str_ieq(rq->path, "/v1.0/directoryObjects/getByIds"))
		get_by_ids(rq, rs);
	else if (strcmp(rq->method, "GET") == 0 &&
		 str_ieq(rq->path, "/v1.0/servicePrincipals"))
		service_principals(rq, rs);
	else if (strcmp(rq->method, "GET") == 0 &&
		 str_ieq(rq->path, "/v1.0/me"))
		one_object(rq, rs, rq->oid);
	else if (strcmp(rq->method, "GET") == 0 &&
		 (sscanf(rq->path, "/v1.0/servicePrincipals/%63[^/]", id) ==
			  1 ||
		  sscanf(rq->path, "/v1.0/directoryObjects/%63[^/]", id) == 1 ||
		  sscanf(rq->path, "/v1.0/users/%63[^/]", id) == 1))
		one_object(rq, rs, id);
	else
		resp_error(rs, 400, "BadRequest",
			   "Resource not found for the segment '%s'.",
			   rq->path);
}
