/* The simulator's admin endpoints on host sim.local: state, faults, reset, log,
 * clock and lost-access switches. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "scenario.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* Serves GET /state: the whole live tenant, secrets hidden. */
static void get_state(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *st = jx_copy(rq->sim->doc),
			   *clock = json_object_new_object();

	if (jx_get(st, "operator.clientSecret"))
		jx_set(st, "operator.clientSecret",
		       json_object_new_string("[redacted]"));
	if (jx_get(st, "operator.certificate"))
		jx_set(st, "operator.certificate",
		       json_object_new_string("[redacted]"));
	json_object_object_add(st, "principals", state_principals(rq->sim));
	json_object_object_add(clock, "now",
			       json_object_new_int64(sim_now(rq->sim)));
	json_object_object_add(clock, "offsetSeconds",
			       json_object_new_int64(rq->sim->clock_offset));
	json_object_object_add(st, "clock", clock);
	json_object_object_add(st, "faults", jx_copy(rq->sim->faults));
	resp_json(rs, 200, st);
}

/* Serves POST /faults (add one rule), GET /faults and DELETE /faults. */
static void faults(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b;
	char *err = NULL;

	if (strcmp(rq->method, "GET") == 0) {
		resp_json(rs, 200, jx_copy(rq->sim->faults));
	} else if (strcmp(rq->method, "DELETE") == 0) {
		json_object_put(rq->sim->faults);
		rq->sim->faults = json_object_new_array();
		resp_raw(rs, 204, NULL, "");
	} else if ((b = req_json(rq, rs)) != NULL) {
		if (faults_add(rq->sim, b, &err))
			resp_json(rs, 201, json_object_get(b));
		else
			resp_error(rs, 400, "InvalidFault", "%s", err);
		free(err);
	}
}

/* Serves POST /reset: the scenario as it was loaded, with a fresh clock and
 * log. */
static void reset(struct sim_req *rq, struct sim_resp *rs)
{
	char *err = NULL;

	state_free(rq->sim);
	rq->sim->clock_offset = 0;
	if (state_load(rq->sim, &err) != 0)
		resp_error(rs, 500, "ResetFailed", "%s", err);
	else
		resp_raw(rs, 204, NULL, "");
	free(err);
}

/* Serves POST /clock {"advanceSeconds": N}: moves the simulated clock forward,
 * ending the operations now due. */
static void clock_advance(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b = req_json(rq, rs), *out;

	if (!b)
		return;
	rq->sim->clock_offset += jx_int(b, "advanceSeconds", 0);
	ops_sweep(rq->sim);
	out = json_object_new_object();
	json_object_object_add(out, "now",
			       json_object_new_int64(sim_now(rq->sim)));
	resp_json(rs, 200, out);
}

/* Serves POST
 * /keys/{vault}/{key}/{disable|enable|expire|delete|recover}[?version=V]. */
static void key_switch(struct sim_req *rq, struct sim_resp *rs)
{
	char vault[128], key[128], action[16];
	const char *version = req_arg(rq, "version");
	struct json_object *vs, *v = NULL;

	if (sscanf(rq->path, "/keys/%127[^/]/%127[^/]/%15s", vault, key,
		   action) != 3 ||
	    !(vs = kv_key_versions(rq->sim, vault, key))) {
		resp_error(rs, 404, "NotFound", "No key '%s' in vault '%s'.",
			   key, vault);
		return;
	}
	for (size_t i = 0; i < jx_len(vs); i++)
		if (!version ||
		    str_ieq(jx_str(jx_at(vs, i), "version"), version))
			v = jx_at(vs, i);
	if (!v) {
		resp_error(rs, 404, "NotFound", "No version '%s' of key '%s'.",
			   version, key);
		return;
	}
	if (!jx_get(v, "attributes"))
		json_object_object_add(v, "attributes",
				       json_object_new_object());
	if (strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
		jx_set(v, "attributes.enabled",
		       json_object_new_boolean(strcmp(action, "enable") == 0));
	else if (strcmp(action, "expire") == 0)
		jx_set(v, "attributes.exp",
		       json_object_new_int64(sim_now(rq->sim) - 60));
	else if (strcmp(action, "delete") == 0 ||
		 strcmp(action, "recover") == 0)
		for (size_t i = 0; i < jx_len(vs); i++)
			json_object_object_add(
				jx_at(vs, i), "deleted",
				json_object_new_boolean(
					strcmp(action, "delete") == 0));
	else {
		resp_error(rs, 400, "BadRequest",
			   "Unknown key action '%s': use disable, enable, "
			   "expire, delete or recover.",
			   action);
		return;
	}
	resp_json(rs, 200, json_object_get(v));
}

/* Serves PUT /resources: adds (or replaces) a whole resource with no rules,
 * e.g. a policy assignment. */
static void resource_add(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b = req_json(rq, rs);

	if (!b)
		return;
	if (!str_istarts(jx_str(b, "id"), "/subscriptions/") ||
	    !jx_str(b, "type") || !jx_str(b, "name")) {
		resp_error(rs, 400, "BadRequest",
			   "A resource needs a string id starting with "
			   "/subscriptions/, a type and a name.");
		return;
	}
	state_put_resource(rq->sim, json_object_get(b));
	resp_json(rs, 200, json_object_get(b));
}

/* Serves PATCH /resources?id=ID (a merge patch applied with no rules) and
 * DELETE /resources?id=ID. */
static void resource_switch(struct sim_req *rq, struct sim_resp *rs)
{
	const char *id = req_arg(rq, "id");
	struct json_object *r = id ? state_resource(rq->sim, id) : NULL, *b;

	if (strcmp(rq->method, "PUT") == 0) {
		resource_add(rq, rs);
	} else if (!r) {
		resp_error(rs, 404, "NotFound", "No resource with id '%s'.",
			   id ? id : "");
	} else if (strcmp(rq->method, "DELETE") == 0) {
		state_del_resource(rq->sim, id);
		resp_raw(rs, 204, NULL, "");
	} else if ((b = req_json(rq, rs)) != NULL) {
		jx_merge_patch(r, b);
		resp_json(rs, 200, json_object_get(r));
	}
}

/* Serves DELETE /roleAssignments/{name}: takes an assignment away with no
 * checks. */
static void assignment_switch(struct sim_req *rq, struct sim_resp *rs,
			      const char *name)
{
	struct json_object *ras = jx_get(rq->sim->doc, "roleAssignments");

	for (size_t i = 0; i < jx_len(ras); i++)
		if (str_ieq(jx_str(jx_at(ras, i), "name"), name)) {
			json_object_array_del_idx(ras, i, 1);
			state_assignments_changed(rq->sim);
			resp_raw(rs, 204, NULL, "");
			return;
		}
	resp_error(rs, 404, "NotFound", "No role assignment named '%s'.", name);
}

/* Serves GET /log and DELETE /log. */
static void log_endpoint(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b;

	if (strcmp(rq->method, "DELETE") == 0) {
		json_object_put(rq->sim->log);
		rq->sim->log = json_object_new_array();
		resp_raw(rs, 204, NULL, "");
		return;
	}
	b = json_object_new_object();
	json_object_object_add(b, "value", jx_copy(rq->sim->log));
	resp_json(rs, 200, b);
}

/* Routes requests to sim.local. */
void admin_handle(struct sim_req *rq, struct sim_resp *rs)
{
	const char *p = rq->path, *m = rq->method;
	char name[64];

	if (strcmp(p, "/state") == 0 && strcmp(m, "GET") == 0)
		get_state(rq, rs);
	else if (strcmp(p, "/faults") == 0)
		faults(rq, rs);
	else if (strcmp(p, "/reset") == 0 && strcmp(m, "POST") == 0)
		reset(rq, rs);
	else if (strcmp(p, "/log") == 0)
		log_endpoint(rq, rs);
	else if (strcmp(p, "/clock") == 0 && strcmp(m, "POST") == 0)
		clock_advance(rq, rs);
	else if (strncmp(p, "/keys/", 6) == 0 && strcmp(m, "POST") == 0)
		key_switch(rq, rs);
	else if (strcmp(p, "/resources") == 0 &&
		 (strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0 ||
		  strcmp(m, "PUT") == 0))
		resource_switch(rq, rs);
	else if (sscanf(p, "/roleAssignments/%63[^/]", name) == 1 &&
		 strcmp(m, "DELETE") == 0)
		assignment_switch(rq, rs, name);
	else if (strcmp(p, "/health") == 0)
		resp_json(rs, 200, json_tokener_parse("{\"status\":\"ok\"}"));
	else
		resp_error(rs, 404, "NotFound", "No admin endpoint %s %s.", m,
			   p);
}
