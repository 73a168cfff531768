/* The simulated Microsoft.Resources/deployments: ARM template deployments at
 * resource group, subscription and management group scope. */
#include "config.h"

/*
 * Shapes from azure-rest-api-specs, specification/resources/resource-manager/
 * Microsoft.Resources/stable/2021-04-01/resources.json (the api-version az
 * 2.45 sends): Deployments_CreateOrUpdate (PUT .../deployments/{name}, 201
 * with provisioningState Accepted, PutDeploymentResourceGroup.json),
 * Deployments_Get (DeploymentExtended: properties.provisioningState, outputs,
 * outputResources, error), Deployments_Validate (POST .../validate, 200 or
 * 400 with a DeploymentValidateResult's error) and DeploymentOperations_List
 * (GetDeploymentOperations.json). The PUT is a long-running operation whose
 * Azure-AsyncOperation URL is the deployment's id plus
 * /operationStatuses/{id} (async-operations.md), with Retry-After.
 *
 * Every resource of a template goes through the simulator's own handlers
 * (arm_route) as an internal request made by the deployment's caller: the
 * same authorization, policy denials, validation and long-running operations
 * as a direct PUT; the engine waits for each operation to end, as ARM's does.
 * Resources are applied one at a time in an order dependsOn allows; the first
 * failure stops the deployment (ARM goes on with independent ones), which then
 * fails with DeploymentFailed and the resource's error in its details.
 * Incremental mode only.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "armid.h"
#include "deploy.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define DEPLOY_NS "/providers/Microsoft.Resources/deployments"
#define DEPLOY_TYPE "Microsoft.Resources/deployments"
#define FAILED_MSG                                                        \
	"At least one resource deployment operation failed. Please list " \
	"deployment operations for details. Please see "                  \
	"https://aka.ms/arm-deployment-operations for usage details."
#define MAX_NEST 8

/* One deployment to run: where, what, and the context its expressions see
 * with expressionEvaluationOptions scope outer. */
struct drun {
	const char *id, *name, *sub, *rg, *mg, *location;
	struct json_object *props; /* properties: template, parameters, mode */
	struct dctx *outer;        /* set: evaluate in this context */
	int nest;
};

static struct json_object *run(struct sim_req *rq, const struct drun *r);

/* Makes a JSON string and frees the text. */
static struct json_object *taken(char *text)
{
	struct json_object *v = json_object_new_string(text);

	free(text);
	return v;
}

/* Builds an {code, message} error object. */
static struct json_object *error_of(const char *code, const char *msg)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	return e;
}

/* Sends a request through the simulator's ARM handlers as the deployment's
 * caller; fills irs (the caller frees it with resp_free). */
static void inner(struct dctx *d, const char *method, const char *path,
		  const char *api, struct json_object *body,
		  struct sim_resp *irs)
{
	struct sim_req irq = { 0 };

	irq.sim = d->rq->sim;
	irq.method = method;
	irq.path = path;
	irq.host = d->rq->host;
	irq.kind = HOST_ARM;
	irq.claims = d->rq->claims;
	irq.oid = d->rq->oid;
	irq.conn_id = d->rq->conn_id;
	irq.iargs = json_object_new_object();
	json_object_object_add(irq.iargs, "api-version",
			       json_object_new_string(api ? api : ""));
	if (body)
		sb_adds(&irq.body, json_object_to_json_string_ext(
					   body, JSON_C_TO_STRING_PLAIN));
	irs->spoil = FAULT_STATUS;
	arm_route(&irq, irs);
	sb_free(&irq.body);
	json_object_put(irq.json);
	json_object_put(irq.iargs);
}

/* Returns the id of the long-running operation a response started, or NULL. */
static char *started_operation(const struct sim_resp *rs)
{
	for (int i = 0; i < rs->nheaders; i++) {
		const char *v = rs->hvalue[i], *p;

		if (!str_ieq(rs->hname[i], "Azure-AsyncOperation") &&
		    !str_ieq(rs->hname[i], "Location"))
			continue;
		if ((p = strcasestr(v, "/operationStatuses/")) ||
		    (p = strcasestr(v, "/operationResults/"))) {
			char id[64] = "";

			if (sscanf(strchr(p + 1, '/') + 1, "%63[^/?]", id) == 1)
				return xstrdup(id);
		}
	}
	return NULL;
}

/* Waits for what a write started, as ARM's engine polls it: ends the
 * operation now; returns its error (new), or NULL when it succeeded. */
static struct json_object *wait_operation(struct dctx *d,
					  const struct sim_resp *rs)
{
	char *opid = started_operation(rs);
	struct json_object *op = opid ? ops_finish_now(d->rq->sim, opid) : NULL;

	free(opid);
	if (!op || !jx_bool(op, "failed", false))
		return NULL;
	if (jx_get(op, "error"))
		return jx_copy(jx_get(op, "error"));
	return error_of("InternalServerError",
			"The operation failed (the simulator was asked to "
			"fail it).");
}

/* Records one deployment operation: the resource, its status and error. */
static void record_op(struct dctx *d, const char *id, const char *type,
		      int status, struct json_object *err)
{
	struct json_object *op, *p, *t, *msg;
	char opid[37];

	if (!d->ops)
		return;
	op = json_object_new_object();
	p = json_object_new_object();
	t = json_object_new_object();
	msg = json_object_new_object();
	sim_random_uuid(opid);
	json_object_object_add(op, "operationId", json_object_new_string(opid));
	json_object_object_add(p, "provisioningOperation",
			       json_object_new_string("Create"));
	json_object_object_add(
		p, "provisioningState",
		json_object_new_string(err ? "Failed" : "Succeeded"));
	json_object_object_add(p, "timestamp",
			       sim_iso_time(sim_now(d->rq->sim), true));
	json_object_object_add(p, "duration", json_object_new_string("PT0S"));
	json_object_object_add(p, "trackingId", json_object_new_string(opid));
	json_object_object_add(
		p, "statusCode",
		json_object_new_string(status == 201   ? "Created"
				       : status == 202 ? "Accepted"
				       : status < 300  ? "OK"
				       : status == 403 ? "Forbidden"
				       : status == 404 ? "NotFound"
				       : status == 409 ? "Conflict"
						       : "BadRequest"));
	if (err)
		json_object_object_add(msg, "error", jx_copy(err));
	else
		json_object_object_add(msg, "status",
				       json_object_new_string("OK"));
	json_object_object_add(p, "statusMessage", msg);
	json_object_object_add(t, "id", json_object_new_string(id));
	json_object_object_add(t, "resourceType", json_object_new_string(type));
	json_object_object_add(p, "targetResource", t);
	json_object_object_add(op, "properties", p);
	json_object_array_add(d->ops, op);
}

/* Fails the deployment with a resource's error (taken). */
static void fail_with(struct dctx *d, struct json_object *err)
{
	if (!d->inner)
		d->inner = err;
	else
		json_object_put(err);
	dctx_fail(d, "DeploymentFailed", FAILED_MSG);
}

/* The id of a resource a template declares, from its scope, type and name;
 * NULL (and the error) when the name's segments do not fit the type. */
static char *declared_id(struct dctx *d, const char *type, const char *name,
			 const char *scope)
{
	char *base, *t = xstrdup(type), *n = xstrdup(name), *ts = NULL,
		    *ns = NULL, *tseg, *nseg;
	struct sbuf b = { 0 };
	bool ok = true;

	if (scope && scope[0] == '/')
		base = xstrdup(scope);
	else if (scope) {
		char *s = dctx_scope_id(d);

		base = xasprintf("%s/providers/%s", s, scope);
		free(s);
	} else if (str_ieq(type, "Microsoft.Resources/resourceGroups") &&
		   d->sub) {
		base = xasprintf("/subscriptions/%s/resourceGroups/%s", d->sub,
				 name);
		free(t), free(n);
		return base;
	} else {
		base = dctx_scope_id(d);
	}
	sb_printf(&b, "%s/providers/%s", base, strtok_r(t, "/", &ts));
	for (tseg = strtok_r(NULL, "/", &ts), nseg = strtok_r(n, "/", &ns);
	     tseg && nseg;
	     tseg = strtok_r(NULL, "/", &ts), nseg = strtok_r(NULL, "/", &ns))
		sb_printf(&b, "/%s/%s", tseg, nseg);
	ok = !tseg && !nseg && strchr(type, '/') != NULL;
	free(base), free(t), free(n);
	if (!ok) {
		sb_free(&b);
		dctx_fail(d, "InvalidTemplate",
			  "The template resource '%s' for type '%s' has an "
			  "incorrect segment length: a nested resource type "
			  "needs as many names as types.",
			  name, type);
		return NULL;
	}
	return sb_steal(&b);
}

/* Evaluates a string member of a resource at run time; NULL when absent. */
static char *member(struct dctx *d, struct json_object *res, const char *key)
{
	struct json_object *raw = jx_iget(res, key), *v;
	char *out = NULL;

	if (!raw)
		return NULL;
	v = dexpr_value(d, raw, 0);
	if (json_object_is_type(v, json_type_string))
		out = xstrdup(json_object_get_string(v));
	else if (v)
		dctx_fail(d, "InvalidTemplate",
			  "The template resource's '%s' must be a string.",
			  key);
	json_object_put(v);
	return out;
}

/* Works out each resource's id, type and apiVersion (d->heads); false on an
 * error. */
static bool read_heads(struct dctx *d, struct json_object *resources)
{
	d->heads = json_object_new_array();
	for (size_t i = 0; i < jx_len(resources) && !d->err; i++) {
		struct json_object *res = jx_at(resources, i),
				   *h = json_object_new_object();
		char *type = member(d, res, "type"),
		     *name = member(d, res, "name"),
		     *scope = member(d, res, "scope"), *sub = NULL, *rg = NULL,
		     *id = NULL;

		json_object_array_add(d->heads, h);
		if (jx_iget(res, "copy") || jx_iget(res, "condition"))
			dctx_fail(d, "InvalidTemplate",
				  "The template resource '%s' uses copy or "
				  "condition, which the simulator's deployment "
				  "engine does not support.",
				  name ? name : "?");
		else if (!type || !name || !jx_str(res, "apiVersion"))
			dctx_fail(d, "InvalidTemplate",
				  "Template resource %zu lacks its type, name "
				  "or apiVersion.",
				  i + 1);
		if (!d->err && str_ieq(type, DEPLOY_TYPE)) {
			sub = member(d, res, "subscriptionId");
			rg = member(d, res, "resourceGroup");
		}
		if (!d->err && (sub || rg)) {
			struct dctx t = *d;

			t.sub = sub ? sub : d->sub;
			t.rg = rg;
			t.mg = NULL;
			id = declared_id(&t, type, name, NULL);
			if (t.err)
				d->err = t.err, d->code = t.code;
		} else if (!d->err) {
			id = declared_id(d, type, name, scope);
		}
		if (id) {
			json_object_object_add(h, "id", taken(id));
			json_object_object_add(h, "type",
					       json_object_new_string(type));
			json_object_object_add(h, "name",
					       json_object_new_string(name));
			json_object_object_add(
				h, "apiVersion",
				jx_copy(jx_iget(res, "apiVersion")));
			if (sub)
				json_object_object_add(
					h, "sub", json_object_new_string(sub));
			if (rg)
				json_object_object_add(
					h, "rg", json_object_new_string(rg));
		}
		free(type), free(name), free(scope), free(sub), free(rg);
	}
	return !d->err;
}

/* Finds the resource a dependsOn entry names: by id, by name, or by
 * "type/name"; -1 when none. */
static long find_head(struct dctx *d, const char *ref)
{
	for (size_t i = 0; i < jx_len(d->heads); i++) {
		struct json_object *h = jx_at(d->heads, i);
		char *tn = xasprintf("%s/%s", jx_str(h, "type"),
				     jx_str(h, "name"));
		bool hit = str_ieq(ref, jx_str(h, "id")) ||
			   str_ieq(ref, jx_str(h, "name")) || str_ieq(ref, tn);

		free(tn);
		if (hit)
			return (long)i;
	}
	return -1;
}

/* Applies one ordinary resource through the ARM handlers. */
static void put_resource(struct dctx *d, struct json_object *res,
			 struct json_object *h)
{
	static const char *const TEMPLATE_ONLY[] = {
		"type",           "apiVersion",    "name",
		"dependsOn",      "scope",         "comments",
		"subscriptionId", "resourceGroup", "metadata"
	};
	struct json_object *body = dexpr_value(d, res, 0), *err = NULL;
	struct sim_resp irs = { 0 };

	if (!body)
		return;
	for (size_t i = 0; i < sizeof(TEMPLATE_ONLY) / sizeof(*TEMPLATE_ONLY);
	     i++)
		json_object_object_del(body, TEMPLATE_ONLY[i]);
	inner(d, "PUT", jx_str(h, "id"), jx_str(h, "apiVersion"), body, &irs);
	json_object_put(body);
	if (irs.status >= 400)
		err = jx_get(irs.json, "error")
			      ? jx_copy(jx_get(irs.json, "error"))
			      : error_of("BadRequest",
					 "The resource provider refused the "
					 "request.");
	else
		err = wait_operation(d, &irs);
	record_op(d, jx_str(h, "id"), jx_str(h, "type"), irs.status, err);
	if (err)
		fail_with(d, err);
	resp_free(&irs);
}

/* Runs a nested Microsoft.Resources/deployments resource at its target. */
static void nested(struct dctx *d, struct json_object *res,
		   struct json_object *h, int nest)
{
	struct json_object *raw = jx_copy(res), *tmpl, *ev, *err;
	struct drun r = { 0 };
	bool outer;

	tmpl = jx_copy(jx_get(raw, "properties.template"));
	jx_del(raw, "properties.template");
	ev = dexpr_value(d, raw, 0);
	json_object_put(raw);
	if (!ev) {
		json_object_put(tmpl);
		return;
	}
	if (tmpl)
		jx_set(ev, "properties.template", tmpl);
	outer = !str_ieq(jx_str(ev, "properties.expressionEvaluationOptions."
				    "scope"),
			 "inner");
	r.id = jx_str(h, "id");
	r.name = jx_str(h, "name");
	r.sub = jx_str(h, "sub") ? jx_str(h, "sub") : d->sub;
	r.rg = jx_str(h, "sub") && !jx_str(h, "rg") ? NULL
	       : jx_str(h, "rg")                    ? jx_str(h, "rg")
						    : d->rg;
	r.mg = r.sub ? NULL : d->mg;
	r.location = jx_str(ev, "location");
	r.props = jx_get(ev, "properties");
	r.outer = outer ? d : NULL;
	r.nest = nest + 1;
	err = run(d->rq, &r);
	record_op(d, r.id, DEPLOY_TYPE, err ? 400 : 201, err);
	if (err)
		fail_with(d, err);
	json_object_put(ev);
}

/* Applies resource i after the resources it depends on. */
static void apply_at(struct dctx *d, struct json_object *resources, size_t i,
		     int nest)
{
	struct json_object *res = jx_at(resources, i), *h = jx_at(d->heads, i),
			   *deps = jx_iget(res, "dependsOn");

	if (jx_bool(h, "done", false) || d->err)
		return;
	if (jx_bool(h, "visiting", false)) {
		dctx_fail(d, "InvalidTemplate",
			  "Circular dependency detected on resource '%s'.",
			  jx_str(h, "id"));
		return;
	}
	json_object_object_add(h, "visiting", json_object_new_boolean(1));
	for (size_t k = 0; k < jx_len(deps) && !d->err; k++) {
		struct json_object *ref = dexpr_value(d, jx_at(deps, k), 0);
		long j = ref ? find_head(d, json_object_get_string(ref)) : -1;

		if (ref && j < 0)
			dctx_fail(d, "InvalidTemplate",
				  "The resource '%s' is not defined in the "
				  "template.",
				  json_object_get_string(ref));
		else if (ref)
			apply_at(d, resources, (size_t)j, nest);
		json_object_put(ref);
	}
	if (d->err)
		return;
	if (str_ieq(jx_str(h, "type"), DEPLOY_TYPE))
		nested(d, res, h, nest);
	else
		put_resource(d, res, h);
	json_object_object_add(h, "done", json_object_new_boolean(1));
}

/* reference(resourceId, [apiVersion], ['Full']): the resource as a GET
 * answers it now, through the ARM handlers; its properties unless 'Full'. */
struct json_object *deploy_reference(struct dctx *d, struct json_object **a,
				     int n)
{
	const char *id = json_object_get_string(a[0]),
		   *api = n > 1 ? json_object_get_string(a[1]) : NULL;
	bool full = n > 2 && str_ieq(json_object_get_string(a[2]), "Full");
	struct sim_resp irs = { 0 };
	struct json_object *v = NULL;
	long j = id ? find_head(d, id) : -1;

	if (!id || id[0] != '/') {
		dctx_fail(d, "InvalidTemplate",
			  "The template function 'reference' needs a resource "
			  "id here (the simulator does not resolve '%s').",
			  id ? id : "");
		return NULL;
	}
	if (!api && j >= 0)
		api = jx_str(jx_at(d->heads, (size_t)j), "apiVersion");
	if (!api) {
		dctx_fail(d, "InvalidTemplate",
			  "The template function 'reference' needs an "
			  "apiVersion for '%s', which the template does not "
			  "deploy.",
			  id);
		return NULL;
	}
	inner(d, "GET", id, api, NULL, &irs);
	if (irs.status != 200 || !irs.json)
		fail_with(d, jx_get(irs.json, "error")
				     ? jx_copy(jx_get(irs.json, "error"))
				     : error_of("ResourceNotFound", id));
	else if (full || !jx_get(irs.json, "properties"))
		v = json_object_get(irs.json);
	else
		v = jx_copy(jx_get(irs.json, "properties"));
	resp_free(&irs);
	return v;
}

/* Binds the template's parameters to the values given, then defaults;
 * false (and the error) when one is missing or unknown. */
static bool bind_params(struct dctx *d, struct json_object *tmpl,
			struct json_object *given)
{
	struct json_object *decl = jx_get(tmpl, "parameters");

	d->params = json_object_new_object();
	if (given && !json_object_is_type(given, json_type_object)) {
		dctx_fail(d, "InvalidTemplate",
			  "The deployment's parameters must be an object.");
		return false;
	}
	if (decl && !json_object_is_type(decl, json_type_object)) {
		dctx_fail(d, "InvalidTemplate",
			  "The template's parameters must be an object.");
		return false;
	}
	if (given) {
		json_object_object_foreach(given, gk, gv)
		{
			(void)gv;
			if (!jx_iget(decl, gk)) {
				dctx_fail(d, "InvalidTemplate",
					  "The template parameters '%s' in the "
					  "parameters file are not valid; they "
					  "are not "
					  "present in the original template "
					  "and can "
					  "therefore not be provided at "
					  "deployment "
					  "time.",
					  gk);
				return false;
			}
			if (!jx_get(gv, "value")) {
				dctx_fail(d, "InvalidTemplate",
					  "The value of parameter '%s' must be "
					  "given "
					  "as {\"value\": ...}; Key Vault "
					  "references "
					  "are not supported by the simulator.",
					  gk);
				return false;
			}
		}
	}
	if (decl) {
		json_object_object_foreach(decl, k, p)
		{
			struct json_object *g = jx_get(jx_iget(given, k),
						       "value"),
					   *v;

			if (g)
				v = jx_copy(g);
			else if (jx_get(p, "defaultValue"))
				v = dexpr_value(d, jx_get(p, "defaultValue"),
						0);
			else {
				dctx_fail(d, "InvalidTemplate",
					  "Deployment template validation "
					  "failed: 'The "
					  "value for the template parameter "
					  "'%s' is "
					  "not provided.'",
					  k);
				return false;
			}
			if (!v)
				return false;
			json_object_object_add(d->params, k, v);
		}
	}
	return true;
}

/* Checks a template before anything is deployed: its shape, and that every
 * expression in it parses and names functions the simulator knows. */
static bool check_template(struct dctx *d, struct json_object *tmpl, int depth)
{
	struct json_object *res = jx_get(tmpl, "resources"), *v;
	bool was = d->dry;

	if (!json_object_is_type(tmpl, json_type_object)) {
		dctx_fail(d, "InvalidTemplate",
			  "The deployment needs properties.template, a JSON "
			  "object (templateLink is not supported by the "
			  "simulator).");
		return false;
	}
	if (res && !json_object_is_type(res, json_type_array)) {
		dctx_fail(d, "InvalidTemplate",
			  "The template's resources must be an array "
			  "(languageVersion 2.0 symbolic names are not "
			  "supported by the simulator).");
		return false;
	}
	if (depth > MAX_NEST) {
		dctx_fail(d, "InvalidTemplate",
			  "The template nests deployments too deep.");
		return false;
	}
	d->dry = true;
	v = dexpr_value(d, tmpl, 0);
	d->dry = was;
	json_object_put(v);
	return !d->err;
}

/* Gives an output's type as ARM reports it (String, Int, Bool, Array,
 * Object). */
static const char *output_type(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
		return "Int";
	case json_type_boolean:
		return "Bool";
	case json_type_array:
		return "Array";
	case json_type_object:
		return "Object";
	default:
		return "String";
	}
}

/* Evaluates the template's outputs. */
static struct json_object *outputs(struct dctx *d, struct json_object *tmpl)
{
	struct json_object *out = json_object_new_object(),
			   *list = jx_get(tmpl, "outputs");

	if (!json_object_is_type(list, json_type_object))
		return out;
	json_object_object_foreach(list, k, o)
	{
		struct json_object *v = dexpr_value(d, jx_get(o, "value"), 0),
				   *e = json_object_new_object();

		if (!v) {
			json_object_put(e);
			dctx_fail(d, "InvalidTemplate",
				  "The template output '%s' has no value.", k);
			break;
		}
		json_object_object_add(e, "type",
				       json_object_new_string(output_type(v)));
		json_object_object_add(e, "value", v);
		json_object_object_add(out, k, e);
	}
	return out;
}

/* Returns a stable hash of a template, as a decimal string (templateHash). */
static struct json_object *template_hash(struct json_object *tmpl)
{
	const char *t =
		json_object_to_json_string_ext(tmpl, JSON_C_TO_STRING_PLAIN);
	unsigned long long h = 1469598103934665603ULL;
	char buf[32];

	for (; t && *t; t++)
		h = (h ^ (unsigned char)*t) * 1099511628211ULL;
	snprintf(buf, sizeof(buf), "%llu", h % 10000000000000000000ULL);
	return json_object_new_string(buf);
}

/* Returns the parameters as ARM echoes them: type and value. */
static struct json_object *echo_params(struct json_object *params)
{
	struct json_object *out = json_object_new_object();

	if (!json_object_is_type(params, json_type_object))
		return out;
	json_object_object_foreach(params, k, v)
	{
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "type",
				       json_object_new_string(output_type(v)));
		json_object_object_add(e, "value", jx_copy(v));
		json_object_object_add(out, k, e);
	}
	return out;
}

/* Builds a deployment's record: DeploymentExtended, with its state. */
static struct json_object *record(struct sim_req *rq, const struct drun *r,
				  struct dctx *d, const char *state)
{
	struct json_object *o = json_object_new_object(),
			   *p = json_object_new_object();
	char cid[37];

	sim_random_uuid(cid);
	json_object_object_add(o, "id", json_object_new_string(r->id));
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "type", json_object_new_string(DEPLOY_TYPE));
	if (r->location)
		json_object_object_add(o, "location",
				       json_object_new_string(r->location));
	json_object_object_add(p, "templateHash",
			       template_hash(jx_get(r->props, "template")));
	json_object_object_add(p, "parameters", echo_params(d->params));
	json_object_object_add(p, "mode",
			       json_object_new_string("Incremental"));
	json_object_object_add(p, "provisioningState",
			       json_object_new_string(state));
	json_object_object_add(p, "timestamp",
			       sim_iso_time(sim_now(rq->sim), true));
	json_object_object_add(p, "duration", json_object_new_string("PT0S"));
	json_object_object_add(p, "correlationId", json_object_new_string(cid));
	json_object_object_add(p, "providers", json_object_new_array());
	json_object_object_add(p, "dependencies", json_object_new_array());
	json_object_object_add(o, "properties", p);
	return o;
}

/* Keeps a deployment's record and operations, by lower-case id. */
static void keep(struct sim *s, const char *id, struct json_object *dep,
		 struct json_object *ops, const char *opid)
{
	struct json_object *k = json_object_new_object();
	char *key = str_lower(id);

	json_object_object_add(k, "deployment", dep);
	json_object_object_add(k, "operations", ops);
	if (opid)
		json_object_object_add(k, "opid", json_object_new_string(opid));
	json_object_object_add(s->deployments, key, k);
	free(key);
}

/* Prepares a deployment's context: its scope, parameters and the checks that
 * come before anything changes; false (d->err set) when it is invalid. */
static bool prepare(struct sim_req *rq, const struct drun *r, struct dctx *d)
{
	struct json_object *tmpl = jx_get(r->props, "template");

	d->rq = rq;
	d->sub = r->sub;
	d->rg = r->rg;
	d->mg = r->mg;
	if (!str_ieq(jx_str(r->props, "mode"), "Incremental")) {
		dctx_fail(d, "InvalidDeploymentMode",
			  "The deployment mode '%s' is not supported by the "
			  "simulator: deploy in Incremental mode.",
			  jx_str(r->props, "mode") ? jx_str(r->props, "mode")
						   : "(none)");
		return false;
	}
	if (!check_template(d, tmpl, r->nest))
		return false;
	if (r->outer) {
		d->params = jx_copy(r->outer->params);
		d->vars = r->outer->vars;
		return true;
	}
	d->vars = jx_get(tmpl, "variables");
	return bind_params(d, tmpl, jx_get(r->props, "parameters"));
}

/* Frees a context's owned parts. */
static void dctx_free(struct dctx *d)
{
	json_object_put(d->params);
	json_object_put(d->heads);
	json_object_put(d->inner);
	free(d->err);
}

/* Applies a prepared template; fills the record's outputs or error; returns
 * the deployment's error (new) or NULL. */
static struct json_object *apply(struct dctx *d, const struct drun *r,
				 struct json_object *dep)
{
	struct json_object *tmpl = jx_get(r->props, "template"),
			   *res = jx_get(tmpl, "resources"), *err = NULL,
			   *out = NULL;

	if (read_heads(d, res))
		for (size_t i = 0; i < jx_len(res) && !d->err; i++)
			apply_at(d, res, i, r->nest);
	if (!d->err)
		out = outputs(d, tmpl);
	if (d->err) {
		err = error_of(d->code ? d->code : "InvalidTemplate", d->err);
		if (str_ieq(d->code, "DeploymentFailed")) {
			json_object_object_add(err, "details",
					       json_object_new_array());
			json_object_array_add(
				jx_get(err, "details"),
				d->inner ? json_object_get(d->inner)
					 : error_of("Failed", d->err));
		}
		jx_set(dep, "properties.error", jx_copy(err));
		jx_set(dep, "properties.provisioningState",
		       json_object_new_string("Failed"));
		json_object_put(out);
	} else {
		jx_set(dep, "properties.outputs", out);
		jx_set(dep, "properties.provisioningState",
		       json_object_new_string("Succeeded"));
	}
	{
		struct json_object *ids = json_object_new_array();

		for (size_t i = 0; i < jx_len(d->heads); i++)
			if (jx_bool(jx_at(d->heads, i), "done", false)) {
				struct json_object *o =
					json_object_new_object();

				json_object_object_add(
					o, "id",
					jx_copy(jx_get(jx_at(d->heads, i),
						       "id")));
				json_object_array_add(ids, o);
			}
		jx_set(dep, "properties.outputResources", ids);
	}
	return err;
}

/* Checks a deployment's target: its resource group exists and the caller
 * may deploy there; returns the error (new) or NULL. */
static struct json_object *target_error(struct sim_req *rq,
					const struct drun *r)
{
	char *scope, *msg;
	struct json_object *err = NULL;

	if (r->rg)
		scope = xasprintf("/subscriptions/%s/resourceGroups/%s", r->sub,
				  r->rg);
	else if (r->sub)
		scope = xasprintf("/subscriptions/%s", r->sub);
	else
		scope = xasprintf(
			"/providers/Microsoft.Management/managementGroups/%s",
			r->mg);
	if (!state_allows(rq->sim, rq->oid, scope, DEPLOY_TYPE "/write",
			  false)) {
		msg = xasprintf("The client '%s' with object id '%s' does not "
				"have authorization to perform action "
				"'" DEPLOY_TYPE "/write' over scope '%s' or "
				"the scope is invalid.",
				rq->oid, rq->oid, scope);
		err = error_of("AuthorizationFailed", msg);
		free(msg);
	} else if (r->rg && !state_resource(rq->sim, scope)) {
		msg = xasprintf("Resource group '%s' could not be found.",
				r->rg);
		err = error_of("ResourceGroupNotFound", msg);
		free(msg);
	}
	free(scope);
	return err;
}

/* Runs a (nested) deployment at once and keeps its record; returns its error
 * (new) or NULL. */
static struct json_object *run(struct sim_req *rq, const struct drun *r)
{
	struct dctx d = { 0 };
	struct json_object *ops = json_object_new_array(), *dep, *err;

	if (r->nest > MAX_NEST) {
		json_object_put(ops);
		return error_of("InvalidTemplate",
				"The template nests deployments too deep.");
	}
	if ((err = target_error(rq, r)) != NULL) {
		json_object_put(ops);
		return err;
	}
	d.ops = ops;
	if (!prepare(rq, r, &d)) {
		err = error_of(d.code, d.err);
		dctx_free(&d);
		json_object_put(ops);
		return err;
	}
	dep = record(rq, r, &d, "Running");
	err = apply(&d, r, dep);
	keep(rq->sim, r->id, dep, ops, NULL);
	dctx_free(&d);
	return err;
}

/* The parts of a deployments path: its scope and the deployment's name, and
 * what follows the name ("", "/validate", "/operations"). */
struct dpath {
	char *scope, *name, *sub, *rg, *mg;
	const char *rest;
};

/* Parses a .../providers/Microsoft.Resources/deployments/... path; false when
 * it is not one. */
static bool parse_path(const char *path, struct dpath *p)
{
	const char *at = strcasestr(path, DEPLOY_NS), *n;
	char sub[64] = "", rg[128] = "", mg[128] = "", tail;
	size_t mark = strlen(DEPLOY_NS);
	int used = 0;

	memset(p, 0, sizeof(*p));
	/* DeploymentOperations_List at a resource group has no provider:
	 * /subscriptions/{s}/resourcegroups/{g}/deployments/{name}/operations
	 * (resources.json 2021-04-01). */
	if (!at &&
	    sscanf(path,
		   "/subscriptions/%63[^/]/%*[rR]esource%*[gG]roups/"
		   "%127[^/]/deployments/%n",
		   sub, rg, &used) == 2 &&
	    used > 0) {
		at = path + used - strlen("/deployments/");
		mark = strlen("/deployments");
	}
	if (!at || (at[mark] != '/' && at[mark]))
		return false;
	p->scope = xstrndup(path, (size_t)(at - path));
	n = at + mark + (at[mark] == '/');
	p->rest = strchr(n, '/') ? strchr(n, '/') : n + strlen(n);
	p->name = xstrndup(n, (size_t)(p->rest - n));
	if (sscanf(p->scope, "/subscriptions/%63[^/]/resourceGroups/%127[^/]%c",
		   sub, rg, &tail) == 2 ||
	    sscanf(p->scope, "/subscriptions/%63[^/]/resourcegroups/%127[^/]%c",
		   sub, rg, &tail) == 2)
		p->sub = xstrdup(sub), p->rg = xstrdup(rg);
	else if (sscanf(p->scope, "/subscriptions/%63[^/]%c", sub, &tail) == 1)
		p->sub = xstrdup(sub);
	else if (sscanf(p->scope,
			"/providers/Microsoft.Management/managementGroups/"
			"%127[^/]%c",
			mg, &tail) == 1)
		p->mg = xstrdup(mg);
	return true;
}

/* Frees a parsed path. */
static void dpath_free(struct dpath *p)
{
	free(p->scope), free(p->name), free(p->sub), free(p->rg), free(p->mg);
}

/* Returns the kept deployment at an id, or NULL. */
static struct json_object *kept(struct sim *s, const char *id)
{
	char *key = str_lower(id);
	struct json_object *k = jx_iget(s->deployments, key);

	free(key);
	return k;
}

/* Tells whether a kept deployment's operation is still under way. */
static bool running(struct sim *s, struct json_object *k)
{
	struct json_object *op = NULL;

	return jx_str(k, "opid") &&
	       json_object_object_get_ex(s->ops, jx_str(k, "opid"), &op) &&
	       !jx_bool(op, "done", false);
}

/* Returns a kept deployment as GET answers it: Running while its operation
 * has not ended. */
static struct json_object *shown(struct sim *s, struct json_object *k)
{
	struct json_object *dep = jx_copy(jx_get(k, "deployment"));

	if (running(s, k)) {
		jx_set(dep, "properties.provisioningState",
		       json_object_new_string("Running"));
		jx_del(dep, "properties.outputs");
		jx_del(dep, "properties.error");
	}
	return dep;
}

/* Checks the scope exists: the subscription, the resource group; false
 * (answered) when not. */
static bool scope_ok(struct sim_req *rq, struct sim_resp *rs,
		     const struct dpath *p)
{
	if (!p->sub && !p->mg) {
		resp_error(rs, 400, "InvalidDeploymentScope",
			   "The simulator deploys at resource group, "
			   "subscription and management group scope, not at "
			   "'%s'.",
			   p->scope[0] ? p->scope : "/");
		return false;
	}
	if (p->sub && !arm_subscription(rq->sim, p->sub)) {
		resp_error(rs, 404, "SubscriptionNotFound",
			   "The subscription '%s' could not be found.", p->sub);
		return false;
	}
	if (p->rg && !state_resource(rq->sim, p->scope)) {
		resp_error(rs, 404, "ResourceGroupNotFound",
			   "Resource group '%s' could not be found.", p->rg);
		return false;
	}
	return true;
}

/* Fills a drun from a request's path and body. */
static void drun_of(const struct dpath *p, struct json_object *body,
		    const char *id, struct drun *r)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->name = p->name;
	r->sub = p->sub;
	r->rg = p->rg;
	r->mg = p->mg;
	r->location = jx_str(body, "location");
	r->props = jx_get(body, "properties");
}

/* Validates a deployment request without running it; false (answered 400)
 * when invalid. */
static bool validate(struct sim_req *rq, struct sim_resp *rs,
		     const struct drun *r, struct dctx *d)
{
	bool ok;

	if (!r->rg && !r->location) {
		resp_error(rs, 400, "InvalidDeploymentLocation",
			   "The deployment '%s' at this scope needs a "
			   "location.",
			   r->name);
		return false;
	}
	ok = prepare(rq, r, d);
	if (!ok)
		resp_error(rs, 400, d->code, "%s", d->err);
	return ok;
}

/* Starts the deployment's long-running operation (already finished, for the
 * work is done; it answers Running while lroPolls says so) and adds its
 * status headers. */
static char *start_op(struct sim_req *rq, struct sim_resp *rs, const char *id,
		      struct json_object *err)
{
	struct sim *s = rq->sim;
	struct json_object *op = json_object_new_object();
	int64_t now = sim_now(s);
	char opid[37], num[16], *url;
	bool lro = s->set.lro_polls > 0;

	sim_random_uuid(opid);
	json_object_object_add(op, "resourceId", json_object_new_string(id));
	json_object_object_add(op, "pollsLeft",
			       json_object_new_int(s->set.lro_polls));
	json_object_object_add(op, "failed",
			       json_object_new_boolean(err != NULL));
	json_object_object_add(op, "startTime", json_object_new_int64(now));
	json_object_object_add(
		op, "endTime",
		json_object_new_int64(now > INT64_MAX - s->set.lro_seconds
					      ? INT64_MAX
					      : now + s->set.lro_seconds));
	if (err)
		json_object_object_add(op, "error", jx_copy(err));
	if (!lro) {
		json_object_object_add(op, "done", json_object_new_boolean(1));
		json_object_object_add(op, "finishedAt",
				       json_object_new_int64(now));
	}
	json_object_object_add(s->ops, opid, op);
	if (lro)
		ops_track(s, opid, op);
	url = xasprintf("https://%s%s/operationStatuses/%s?api-version=%s",
			rq->host, id, opid, req_arg(rq, "api-version"));
	resp_header(rs, "Azure-AsyncOperation", url);
	free(url);
	snprintf(num, sizeof(num), "%d", s->set.retry_after);
	resp_header(rs, "Retry-After", num);
	return xstrdup(opid);
}

/*
 * Quotes the bare property names of a deployment's body. The Azure CLI sends
 * its template unquoted: azure-cli's JsonCTemplatePolicy (command_modules/
 * resource/custom.py, az 2.45) appends ', template:' and the file's text to
 * the JSON it made, and Resource Manager's lenient JSON reader accepts a bare
 * name; json-c does not, so the body is mended before it is parsed.
 */
static void mend_bare_names(struct sim_req *rq)
{
	const char *t = sb_str(&rq->body);
	struct sbuf b = { 0 };
	bool in_str = false, key_pos = false;

	for (size_t i = 0; i < rq->body.len; i++) {
		char c = t[i];

		if (in_str) {
			sb_addc(&b, c);
			if (c == '\\' && i + 1 < rq->body.len)
				sb_addc(&b, t[++i]);
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (key_pos &&
		    (isalpha((unsigned char)c) || c == '_' || c == '$')) {
			size_t j = i;

			while (j < rq->body.len &&
			       (isalnum((unsigned char)t[j]) || t[j] == '_' ||
				t[j] == '$'))
				j++;
			sb_printf(&b, "\"%.*s\"", (int)(j - i), t + i);
			i = j - 1;
			key_pos = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		if (c == '{' || c == ',')
			key_pos = true;
		else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			key_pos = false;
		sb_addc(&b, c);
	}
	sb_free(&rq->body);
	rq->body = b;
}

/* Serves PUT .../deployments/{name}: validates, runs the template, answers
 * 201 Accepted with the operation to poll. */
static void put_deployment(struct sim_req *rq, struct sim_resp *rs,
			   const struct dpath *p)
{
	struct json_object *body = req_json(rq, rs), *k, *err, *dep, *out;
	char *id = xasprintf("%s%s/%s", p->scope, DEPLOY_NS, p->name), *opid;
	struct drun r;
	struct dctx d = { 0 };
	bool existed, ok;

	if (!body)
		goto done;
	k = kept(rq->sim, id);
	if (k && running(rq->sim, k)) {
		resp_error(rs, 409, "DeploymentActive",
			   "Unable to edit or replace deployment '%s': "
			   "previous deployment is still active (state: "
			   "Running).",
			   p->name);
		goto done;
	}
	existed = k != NULL;
	drun_of(p, body, id, &r);
	ok = validate(rq, rs, &r, &d);
	dctx_free(&d);
	if (!ok)
		goto done;
	err = run(rq, &r);
	k = kept(rq->sim, id);
	opid = start_op(rq, rs, id, err);
	json_object_object_add(k, "opid", json_object_new_string(opid));
	free(opid);
	json_object_put(err);
	dep = jx_get(k, "deployment");
	out = jx_copy(dep);
	jx_set(out, "properties.provisioningState",
	       json_object_new_string("Accepted"));
	jx_del(out, "properties.outputs");
	jx_del(out, "properties.error");
	jx_del(out, "properties.outputResources");
	resp_json(rs, existed ? 200 : 201, out);
done:
	free(id);
}

/* Serves POST .../deployments/{name}/validate (Deployments_Validate): the
 * deployment as it would be, Succeeded, or 400 with the template's error. */
static void validate_deployment(struct sim_req *rq, struct sim_resp *rs,
				const struct dpath *p)
{
	struct json_object *body = req_json(rq, rs);
	char *id;
	struct drun r;
	struct dctx d = { 0 };

	if (!body)
		return;
	id = xasprintf("%s%s/%s", p->scope, DEPLOY_NS, p->name);
	drun_of(p, body, id, &r);
	if (validate(rq, rs, &r, &d))
		resp_json(rs, 200, record(rq, &r, &d, "Succeeded"));
	dctx_free(&d);
	free(id);
}

/* Serves GET .../deployments/{name}/operations. */
static void list_operations(struct sim_req *rq, struct sim_resp *rs,
			    struct json_object *k, const char *id)
{
	struct json_object *ops = jx_copy(jx_get(k, "operations")),
			   *out = json_object_new_object();

	for (size_t i = 0; i < jx_len(ops); i++) {
		struct json_object *o = jx_at(ops, i);

		json_object_object_add(
			o, "id",
			taken(xasprintf("%s/operations/%s", id,
					jx_str(o, "operationId"))));
	}
	(void)rq;
	json_object_object_add(out, "value", ops);
	resp_json(rs, 200, out);
}

/* Routes a request below .../providers/Microsoft.Resources/deployments; false
 * when the path is not one. */
bool deploy_handle(struct sim_req *rq, struct sim_resp *rs)
{
	struct dpath p;
	char *id;
	struct json_object *k;
	bool get = strcmp(rq->method, "GET") == 0;

	if (!parse_path(rq->path, &p))
		return false;
	if (rq->conn && rq->body.len)
		mend_bare_names(rq);
	id = xasprintf("%s%s/%s", p.scope, DEPLOY_NS, p.name);
	k = kept(rq->sim, id);
	if (!scope_ok(rq, rs, &p) ||
	    !arm_require(rq, rs, p.scope[0] ? p.scope : "/",
			 get ? DEPLOY_TYPE "/read" : DEPLOY_TYPE "/write"))
		;
	else if (!*p.name && get)
		resp_error(rs, 405, "MethodNotAllowed",
			   "The simulator does not list deployments.");
	else if (!*p.rest && strcmp(rq->method, "PUT") == 0)
		put_deployment(rq, rs, &p);
	else if (str_ieq(p.rest, "/validate") &&
		 strcmp(rq->method, "POST") == 0)
		validate_deployment(rq, rs, &p);
	else if (!k && (get || strcmp(rq->method, "HEAD") == 0))
		resp_error(rs, 404, "DeploymentNotFound",
			   "Deployment '%s' could not be found.", p.name);
	else if (!*p.rest && get)
		resp_json(rs, 200, shown(rq->sim, k));
	else if (str_ieq(p.rest, "/operations") && get)
		list_operations(rq, rs, k, id);
	else
		resp_error(rs, 405, "MethodNotAllowed",
			   "The simulator's deployments do not serve %s '%s' "
			   "(what-if, cancel, export and delete are not "
			   "simulated).",
			   rq->method, rq->path);
	free(id);
	dpath_free(&p);
	return true;
}
