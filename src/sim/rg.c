/* The simulated Azure Resource Graph: POST queries over the readable resources, paged with $skipToken. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "b64.h"
#include "jx.h"
#include "kql.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* What the rows of one query share: answers about subscriptions and the strings many rows repeat. */
struct rowctx {
	struct sim_req *rq;
	struct json_object *subs;    /* the request's subscription list, or NULL for every subscription */
	struct json_object *seen;    /* subscription -> whether the caller sees it */
	struct json_object *granted; /* "subscription type" -> whether a grant over the whole subscription reads it */
	struct json_object *lower;   /* text -> its lower-case json string (types, resource groups) */
	struct json_object *plain;   /* text -> its json string (subscription ids, the tenant id) */
};

/* Returns a new reference to a json string of text (lower-cased when lower), made once per query in cache. */
static struct json_object *shared_str(struct json_object *cache, const char *text, bool lower)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(cache, text, &v)) {
		char *copy = lower ? str_lower(text) : xstrdup(text);

		v = json_object_new_string(copy);
		json_object_object_add(cache, text, v);
		free(copy);
	}
	return json_object_get(v);
}

/* Adds a column to a new row under a constant name, which json-c then neither copies nor looks up. */
static void put_col(struct json_object *row, const char *name, struct json_object *v)
{
	json_object_object_add_ex(row, name, v, JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

/* Tells whether a shared column holds a string, which a row gives as "" rather than null when absent. */
static bool string_column(const char *name)
{
	return strcmp(name, "kind") == 0 || strcmp(name, "location") == 0 || strcmp(name, "managedBy") == 0;
}

/* Builds the Resource Graph row of a resource, every column filled: values are shared with the stored resource. */
static struct json_object *row_of(struct rowctx *c, struct json_object *r, const struct armid *id, const char *type)
{
	static const char *const shared[] = { "kind", "location", "sku", "plan", "properties", "tags", "identity",
					      "zones", "extendedLocation", "managedBy", NULL };
	struct json_object *row = json_object_new_object();

	put_col(row, "id", json_object_get(jx_get(r, "id")));
	put_col(row, "name", json_object_get(jx_get(r, "name")));
	put_col(row, "type", shared_str(c->lower, type ? type : "", true));
	put_col(row, "tenantId", shared_str(c->plain, state_tenant(c->rq->sim), false));
	put_col(row, "resourceGroup", shared_str(c->lower, id->resource_group ? id->resource_group : "", true));
	put_col(row, "subscriptionId", shared_str(c->plain, id->subscription, false));
	for (int i = 0; shared[i]; i++) {
		struct json_object *v = json_object_get(jx_get(r, shared[i]));

		put_col(row, shared[i], v || !string_column(shared[i]) ? v : json_object_new_string(""));
	}
	return row;
}

/* Tells whether a subscription is in the request's list (no list: every subscription). */
static bool in_scope(struct json_object *subs, const char *sub)
{
	return !json_object_is_type(subs, json_type_array) || jx_array_has_istr(subs, sub);
}

/* Tells whether the caller sees a subscription, remembering answers in seen (sub -> bool). */
static bool sub_visible(struct sim_req *rq, struct json_object *seen, const char *sub)
{
	struct json_object *v = NULL;
	bool ok;

	if (json_object_object_get_ex(seen, sub, &v))
		return json_object_get_boolean(v);
	ok = state_can_see_subscription(rq->sim, rq->oid, sub);
	json_object_object_add(seen, sub, json_object_new_boolean(ok));
	return ok;
}

/* Tells whether the caller may read resources of a type at a scope. */
static bool allows_read(struct rowctx *c, const char *scope, const char *type)
{
	char *action = xasprintf("%s/read", type);
	bool ok = state_allows(c->rq->sim, c->rq->oid, scope, action, false);

	free(action);
	return ok;
}

/*
 * Tells whether the caller may read a resource. A grant whose scope covers the whole subscription covers every
 * resource in it, so that answer is remembered per subscription and type; only when it is no does the resource's
 * own scope need asking (for grants on its group or on itself).
 */
static bool can_read(struct rowctx *c, struct json_object *r, const struct armid *id, const char *type)
{
	char key[512];
	struct json_object *v = NULL;
	int n = snprintf(key, sizeof(key), "%s %s", id->subscription, type);

	if (n > 0 && (size_t)n < sizeof(key) && !json_object_object_get_ex(c->granted, key, &v)) {
		char *scope = xasprintf("/subscriptions/%s", id->subscription);

		v = json_object_new_boolean(allows_read(c, scope, type));
		json_object_object_add(c->granted, key, v);
		free(scope);
	}
	return json_object_get_boolean(v) || allows_read(c, jx_str(r, "id"), type);
}

/* Tells whether a resource of a readable type in the query's scope is one the caller may read. */
static bool row_wanted(struct rowctx *c, struct json_object *r, const struct armid *id, const char *type)
{
	return in_scope(c->subs, id->subscription) && sub_visible(c->rq, c->seen, id->subscription) &&
	       can_read(c, r, id, type);
}

/* Collects the rows the caller may read in the requested subscriptions. */
static struct json_object *rows(struct sim_req *rq, struct json_object *subs)
{
	struct json_object *all = jx_get(rq->sim->doc, "resources"), *out = json_object_new_array();
	struct rowctx c = { rq, subs, json_object_new_object(), json_object_new_object(), json_object_new_object(),
			    json_object_new_object() };

	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);
		const char *type = jx_str(r, "type");
		struct armid id;

		if (str_ieq(type, "Microsoft.Resources/resourceGroups") || str_istarts(type, "Microsoft.Authorization/") ||
		    !armid_parse(jx_str(r, "id"), &id))
			continue;
		if (row_wanted(&c, r, &id, type))
			json_object_array_add(out, row_of(&c, r, &id, type));
		armid_free(&id);
	}
	json_object_put(c.seen);
	json_object_put(c.granted);
	json_object_put(c.lower);
	json_object_put(c.plain);
	return out;
}

/*
 * Returns the full result of a query (a new reference), computing it only when
 * the caller, query, scope or state changed since the last page was served.
 */
static struct json_object *result_of(struct sim_req *rq, struct json_object *body, char **err)
{
	struct sim *s = rq->sim;
	struct json_object *subs = jx_get(body, "subscriptions"), *all, *result;
	char *key = xasprintf("%s\n%s\n%s", rq->oid ? rq->oid : "", subs ? jx_text(subs) : "", jx_str(body, "query"));

	if (s->rg_result && s->rg_key && strcmp(key, s->rg_key) == 0 && s->rg_generation == s->generation) {
		free(key);
		return json_object_get(s->rg_result);
	}
	all = rows(rq, subs);
	result = kql_run(jx_str(body, "query"), all, err);
	json_object_put(all);
	if (result) {
		free(s->rg_key);
		json_object_put(s->rg_result);
		s->rg_key = key;
		s->rg_result = json_object_get(result);
		s->rg_generation = s->generation;
	} else {
		free(key);
	}
	return result;
}

/* Answers a query error the way Resource Graph does (BadRequest with InvalidQuery and ParserFailure). */
static void query_error(struct sim_resp *rs, const char *why)
{
	struct json_object *b = json_object_new_object(), *e = json_object_new_object(), *d = json_object_new_array();
	struct json_object *d1 = json_object_new_object(), *d2 = json_object_new_object();

	json_object_object_add(d1, "code", json_object_new_string("InvalidQuery"));
	json_object_object_add(d1, "message", json_object_new_string("Query is invalid. Please refer to the "
		"documentation for the Azure Resource Graph service and fix the error before retrying."));
	json_object_object_add(d2, "code", json_object_new_string("ParserFailure"));
	json_object_object_add(d2, "message", json_object_new_string(why));
	json_object_array_add(d, d1);
	json_object_array_add(d, d2);
	json_object_object_add(e, "code", json_object_new_string("BadRequest"));
	json_object_object_add(e, "message", json_object_new_string("Please provide below info when asking for "
		"support: the query and the x-ms-correlation-request-id of this response."));
	json_object_object_add(e, "details", d);
	json_object_object_add(b, "error", e);
	resp_json(rs, 400, b);
}

/* Reads the page start from options.$skipToken (base64 of "azsim:N") or options.$skip. */
static long page_start(struct json_object *opts)
{
	const char *tok = jx_str(opts, "$skipToken");
	size_t n;
	unsigned char *raw;
	long start = (long)jx_int(opts, "$skip", 0);

	if (tok && (raw = b64_decode(tok, strlen(tok), &n)) != NULL) {
		if (n > 6 && memcmp(raw, "azsim:", 6) == 0)
			start = strtol((const char *)raw + 6, NULL, 10);
		free(raw);
	}
	return start < 0 ? 0 : start;
}

/* Serves POST /providers/Microsoft.ResourceGraph/resources. */
void rg_handle(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b, *opts, *result, *page, *out;
	char *err = NULL;
	long start, top, total;

	if (strcmp(rq->method, "POST") != 0) {
		resp_error(rs, 405, "MethodNotAllowed", "Resource Graph queries are POST requests.");
		return;
	}
	if (!(b = req_json(rq, rs)))
		return;
	if (!jx_str(b, "query")) {
		query_error(rs, "The request needs a 'query'.");
		return;
	}
	opts = jx_get(b, "options");
	top = (long)jx_int(opts, "$top", 100);
	if (top < 1 || top > 1000) {
		resp_error(rs, 400, "BadRequest", "options.$top must be between 1 and 1000.");
		return;
	}
	result = result_of(rq, b, &err);
	if (!result) {
		query_error(rs, err);
		free(err);
		return;
	}
	start = page_start(opts);
	total = (long)jx_len(result);
	page = json_object_new_array();
	for (long i = start; i < total && i < start + top; i++)
		json_object_array_add(page, json_object_get(jx_at(result, (size_t)i)));
	out = json_object_new_object();
	json_object_object_add(out, "totalRecords", json_object_new_int64(total));
	json_object_object_add(out, "count", json_object_new_int64((int64_t)jx_len(page)));
	json_object_object_add(out, "resultTruncated", json_object_new_string("false"));
	if (start + top < total) {
		char mark[32], *tok;

		snprintf(mark, sizeof(mark), "azsim:%ld", start + top);
		tok = b64_encode(mark, strlen(mark), false);
		json_object_object_add(out, "$skipToken", json_object_new_string(tok));
		free(tok);
	}
	json_object_object_add(out, "data", page);
	json_object_object_add(out, "facets", json_object_new_array());
	json_object_put(result);
	resp_header(rs, "x-ms-user-quota-remaining", "14");
	resp_header(rs, "x-ms-user-quota-resets-after", "00:00:05");
	resp_json(rs, 200, out);
}
