/* The simulated Resource Graph: queries over an index of the resources' rows
 * kept per state generation, paged with $skipToken; a result is kept until a
 * write, so each later page costs its own rows. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "armid.h"
#include "b64.h"
#include "jx.h"
#include "kql.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

#define RG_KEEP                                                                \
	16 /* results kept at once; a new one replaces the least recently used \
	    */
#define RG_KEEP_SECONDS                                                      \
	600 /* a kept result unused this long, in simulated time, is dropped \
	     */

/* A query's result, kept so that the pages after the first are served from it.
 */
struct rg_kept {
	unsigned long id; /* what its $skipToken names; 0: the slot is free */
	char *key;        /* the caller, subscriptions and query it answers
			     (request_key) */
	unsigned long generation; /* the state generation it was computed at */
	int64_t valid_until;   /* the simulated time at which a role assignment
				  takes effect, changing what the caller reads */
	int64_t used;          /* when it was last served, in simulated time */
	unsigned long touched; /* the order it was last served in, for least
				  recently used */
	struct json_object *rows; /* the sorted result, or NULL once stale */
};

/* The rows of every resource as Resource Graph indexes them, built once per
 * state generation: Resource Graph answers from an index kept up to date as
 * resources change, not by reading every resource for each query. */
struct rg_entry {
	struct json_object *row; /* its row, every column filled */
	char *sub;               /* its subscription id, as its id gives it */
	char *type;              /* its type, as stored */
};

struct rg_table {
	unsigned long generation; /* the state generation it was built at */
	struct rg_entry *v;
	size_t n;
};

/* One principal's Resource Graph queries in its quota's current window. */
struct rg_use {
	char *oid;        /* the caller */
	int64_t start_ms; /* when the window opened (monotonic) */
	int used;         /* queries answered in it */
};

/* The strings many rows repeat, made once per build of the table. */
struct rowstrs {
	struct sim *sim;
	struct json_object *lower; /* text -> its lower-case json string (types,
				      resource groups) */
	struct json_object *plain; /* text -> its json string (subscription ids,
				      the tenant id) */
};

/* What deciding one query's rows shares: answers about subscriptions. */
struct rowctx {
	struct sim_req *rq;
	struct json_object *subs; /* the request's subscription list, or NULL
				     for every subscription */
	struct json_object *seen; /* subscription -> whether it is in scope and
				     the caller sees it */
	struct json_object *granted; /* "subscription type" -> whether a grant
					over the whole subscription reads it */
};

/* Returns a new reference to a json string of text (lower-cased when lower),
 * made once per query in cache. */
static struct json_object *shared_str(struct json_object *cache,
				      const char *text, bool lower)
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

/* Adds a column to a new row under a constant name, which json-c then neither
 * copies nor looks up. */
static void put_col(struct json_object *row, const char *name,
		    struct json_object *v)
{
	json_object_object_add_ex(row, name, v,
				  JSON_C_OBJECT_ADD_KEY_IS_NEW |
					  JSON_C_OBJECT_KEY_IS_CONSTANT);
}

/* Tells whether a shared column holds a string, which a row gives as "" rather
 * than null when absent. */
static bool string_column(const char *name)
{
	return strcmp(name, "kind") == 0 || strcmp(name, "location") == 0 ||
	       strcmp(name, "managedBy") == 0;
}

/* Builds the Resource Graph row of a resource, every column filled: values are
 * shared with the stored resource. */
static struct json_object *row_of(struct rowstrs *c, struct json_object *r,
				  const struct armid *id, const char *type)
{
	static const char *const shared[] = {
		"kind",      "location",   "sku",
		"plan",      "properties", "tags",
		"identity",  "zones",      "extendedLocation",
		"managedBy", NULL
	};
	struct json_object *row = json_object_new_object();

	put_col(row, "id", json_object_get(jx_get(r, "id")));
	put_col(row, "name", json_object_get(jx_get(r, "name")));
	put_col(row, "type", shared_str(c->lower, type ? type : "", true));
	put_col(row, "tenantId",
		shared_str(c->plain, state_tenant(c->sim), false));
	put_col(row, "resourceGroup",
		shared_str(c->lower,
			   id->resource_group ? id->resource_group : "", true));
	put_col(row, "subscriptionId",
		shared_str(c->plain, id->subscription, false));
	for (int i = 0; shared[i]; i++) {
		struct json_object *v = json_object_get(jx_get(r, shared[i]));

		put_col(row, shared[i],
			v || !string_column(shared[i])
				? v
				: json_object_new_string(""));
	}
	return row;
}

/* Tells whether a subscription is in the request's list (no list: every
 * subscription). */
static bool in_scope(struct json_object *subs, const char *sub)
{
	return !json_object_is_type(subs, json_type_array) ||
	       jx_array_has_istr(subs, sub);
}

/* Tells whether a subscription is in the query's scope and the caller sees
 * it, remembering answers in c->seen (sub -> bool). */
static bool sub_wanted(struct rowctx *c, const char *sub)
{
	struct json_object *v = NULL;
	bool ok;

	if (json_object_object_get_ex(c->seen, sub, &v))
		return json_object_get_boolean(v);
	ok = in_scope(c->subs, sub) &&
	     state_can_see_subscription(c->rq->sim, c->rq->oid, sub);
	json_object_object_add(c->seen, sub, json_object_new_boolean(ok));
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
 * Tells whether the caller may read a resource. A grant whose scope covers the
 * whole subscription covers every resource in it, so that answer is remembered
 * per subscription and type; only when it is no does the resource's own scope
 * need asking (for grants on its group or on itself).
 */
static bool can_read(struct rowctx *c, const struct rg_entry *e)
{
	char key[512];
	struct json_object *v = NULL;
	int n = snprintf(key, sizeof(key), "%s %s", e->sub, e->type);

	if (n > 0 && (size_t)n < sizeof(key) &&
	    !json_object_object_get_ex(c->granted, key, &v)) {
		char *scope = xasprintf("/subscriptions/%s", e->sub);

		v = json_object_new_boolean(allows_read(c, scope, e->type));
		json_object_object_add(c->granted, key, v);
		free(scope);
	}
	return json_object_get_boolean(v) ||
	       allows_read(c, jx_str(e->row, "id"), e->type);
}

/* Tells whether a resource of a readable type in the query's scope is one the
 * caller may read. */
static bool row_wanted(struct rowctx *c, const struct rg_entry *e)
{
	return sub_wanted(c, e->sub) && can_read(c, e);
}

/* Frees the table of rows. */
static void table_free(struct rg_table *t)
{
	for (size_t i = 0; t && i < t->n; i++) {
		json_object_put(t->v[i].row);
		free(t->v[i].sub);
		free(t->v[i].type);
	}
	if (t)
		free(t->v);
	free(t);
}

/* Builds the rows of every resource Resource Graph indexes (not resource
 * groups, not Microsoft.Authorization's), in the order of the list. */
static struct rg_table *table_build(struct sim *s)
{
	struct json_object *all = jx_get(s->doc, "resources");
	struct rowstrs c = { s, json_object_new_object(),
			     json_object_new_object() };
	struct rg_table *t = xcalloc(1, sizeof(*t));

	t->generation = s->generation;
	t->v = xcalloc(jx_len(all) + 1, sizeof(*t->v));
	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);
		const char *type = jx_str(r, "type");
		struct armid id;

		if (str_ieq(type, "Microsoft.Resources/resourceGroups") ||
		    str_istarts(type, "Microsoft.Authorization/") ||
		    !armid_parse(jx_str(r, "id"), &id))
			continue;
		t->v[t->n].row = row_of(&c, r, &id, type);
		t->v[t->n].sub = xstrdup(id.subscription);
		t->v[t->n++].type = xstrdup(type ? type : "");
		armid_free(&id);
	}
	json_object_put(c.lower);
	json_object_put(c.plain);
	return t;
}

/* Brings the table of rows up to the state's generation (the simulator calls
 * it once the tenant is loaded, as Resource Graph's index exists before the
 * first query). */
void rg_index(struct sim *s)
{
	if (s->rg_table && s->rg_table->generation == s->generation)
		return;
	table_free(s->rg_table);
	s->rg_table = table_build(s);
}

/* Collects the rows the caller may read in the requested subscriptions. */
static struct json_object *rows(struct sim_req *rq, struct json_object *subs)
{
	struct json_object *out = json_object_new_array();
	struct rowctx c = { rq, subs, json_object_new_object(),
			    json_object_new_object() };
	const struct rg_table *t;

	rg_index(rq->sim);
	t = rq->sim->rg_table;
	for (size_t i = 0; i < t->n; i++)
		if (row_wanted(&c, &t->v[i]))
			json_object_array_add(out,
					      json_object_get(t->v[i].row));
	json_object_put(c.seen);
	json_object_put(c.granted);
	return out;
}

/* Runs a query over the rows the caller may read now; returns its result (a new
 * array) or NULL with err set. */
static struct json_object *run_query(struct sim_req *rq,
				     struct json_object *body, char **err)
{
	struct json_object *all = rows(rq, jx_get(body, "subscriptions")),
			   *result;

	result = kql_run(jx_str(body, "query"), all, err);
	json_object_put(all);
	return result;
}

/* Returns what a later page must ask again for its $skipToken to apply: the
 * caller, the subscriptions, the query. */
static char *request_key(struct sim_req *rq, struct json_object *body)
{
	struct json_object *subs = jx_get(body, "subscriptions");

	return xasprintf("%s\n%s\n%s", rq->oid ? rq->oid : "",
			 subs ? jx_text(subs) : "", jx_str(body, "query"));
}

/* Empties a kept result's slot. */
static void kept_drop(struct rg_kept *k)
{
	free(k->key);
	json_object_put(k->rows);
	memset(k, 0, sizeof(*k));
}

/* Frees every kept result and the table of rows, when the simulator stops. */
void rg_free(struct sim *s)
{
	for (int i = 0; s->rg_kept && i < RG_KEEP; i++)
		kept_drop(&s->rg_kept[i]);
	free(s->rg_kept);
	s->rg_kept = NULL;
	table_free(s->rg_table);
	s->rg_table = NULL;
	for (size_t i = 0; i < s->nrg_use; i++)
		free(s->rg_use[i].oid);
	free(s->rg_use);
	s->rg_use = NULL;
	s->nrg_use = 0;
}

/* Tells whether a kept result went unused for longer than RG_KEEP_SECONDS of
 * simulated time. */
static bool kept_expired(const struct rg_kept *k, int64_t now)
{
	return now - k->used > RG_KEEP_SECONDS;
}

/* Tells whether a kept result still answers its query: no write and no role
 * assignment taking effect since it was computed. */
static bool kept_fresh(struct sim *s, const struct rg_kept *k)
{
	return k->rows && k->generation == s->generation &&
	       sim_now(s) < k->valid_until;
}

/*
 * Drops the expired results, and frees the rows of the stale ones (their slots
 * stay, for their $skipToken names them), making the slots on first use;
 * returns the slots.
 */
static struct rg_kept *kept_sweep(struct sim *s)
{
	int64_t now = sim_now(s);

	if (!s->rg_kept)
		s->rg_kept = xcalloc(RG_KEEP, sizeof(*s->rg_kept));
	for (int i = 0; i < RG_KEEP; i++) {
		struct rg_kept *k = &s->rg_kept[i];

		if (k->id && kept_expired(k, now)) {
			kept_drop(k);
		} else if (k->rows && !kept_fresh(s, k)) {
			json_object_put(k->rows);
			k->rows = NULL;
		}
	}
	return s->rg_kept;
}

/* Frees the rows of the kept results a write made stale, after a request that
 * may have changed the state. */
void rg_state_changed(struct sim *s)
{
	if (s->rg_kept)
		kept_sweep(s);
}

/* Sets a kept result's rows (taking a reference to result), computed now. */
static void kept_set_rows(struct sim *s, struct rg_kept *k,
			  struct json_object *result)
{
	json_object_put(k->rows);
	k->rows = json_object_get(result);
	k->generation = s->generation;
	k->valid_until = state_access_changes_at(s);
}

/* Marks a kept result as served now, for its expiry and for the least recently
 * used order. */
static void kept_touch(struct sim *s, struct rg_kept *k)
{
	k->used = sim_now(s);
	k->touched = ++s->rg_seq;
}

/* Keeps a query's result (taking key and a reference to result) in a free slot
 * or the least recently used one. */
static struct rg_kept *kept_add(struct sim *s, char *key,
				struct json_object *result)
{
	struct rg_kept *slots = kept_sweep(s), *k = &slots[0];

	for (int i = 1; i < RG_KEEP && k->id; i++)
		if (!slots[i].id || slots[i].touched < k->touched)
			k = &slots[i];
	kept_drop(k);
	k->key = key;
	kept_set_rows(s, k, result);
	k->id = ++s->rg_seq;
	kept_touch(s, k);
	return k;
}

/* Finds the kept result of a request key whose rows are fresh, or NULL. */
static struct rg_kept *kept_by_key(struct sim *s, const char *key)
{
	struct rg_kept *slots = kept_sweep(s);

	for (int i = 0; i < RG_KEEP; i++)
		if (slots[i].id && slots[i].rows &&
		    strcmp(slots[i].key, key) == 0)
			return &slots[i];
	return NULL;
}

/* Finds the unexpired kept result a $skipToken names, or NULL. */
static struct rg_kept *kept_find(struct sim *s, unsigned long id)
{
	struct rg_kept *slots = kept_sweep(s);

	for (int i = 0; i < RG_KEEP; i++)
		if (slots[i].id == id)
			return &slots[i];
	return NULL;
}

/* Returns a monotonic clock in milliseconds: a quota's window is real time,
 * whatever POST /clock did to the simulated one. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the caller's quota window, opened anew once the last one ended. */
static struct rg_use *use_of(struct sim *s, const char *oid, int64_t now)
{
	struct rg_use *u = NULL;

	for (size_t i = 0; i < s->nrg_use && !u; i++)
		if (strcmp(s->rg_use[i].oid, oid) == 0)
			u = &s->rg_use[i];
	if (!u) {
		s->rg_use = xrealloc(s->rg_use,
				     (s->nrg_use + 1) * sizeof(*s->rg_use));
		u = &s->rg_use[s->nrg_use++];
		u->oid = xstrdup(oid);
		u->start_ms = now;
		u->used = 0;
	}
	if (now - u->start_ms >= s->set.graph_quota_window_ms) {
		u->start_ms = now;
		u->used = 0;
	}
	return u;
}

/* Writes a duration as x-ms-user-quota-resets-after gives it, hh:mm:ss as in
 * Microsoft's examples ("00:00:03"): whole seconds, rounded down, so that the
 * last second of a window reads 00:00:00, the hardest case for a client. */
static void timespan(char out[32], int64_t ms)
{
	int64_t s = ms / 1000;

	snprintf(out, 32, "%02lld:%02lld:%02lld", (long long)(s / 3600),
		 (long long)(s / 60 % 60), (long long)(s % 60));
}

/*
 * Answers a refusal in Resource Graph's shape: {"error": {code, message,
 * details: [{code, message} ...]}}, the details given as code and message
 * pairs ended by NULL.
 */
static void refusal(struct sim_resp *rs, int status, const char *code,
		    const char *message, const char *const *details)
{
	struct json_object *b = json_object_new_object(),
			   *e = json_object_new_object(),
			   *d = json_object_new_array();

	for (size_t i = 0; details[i] && details[i + 1]; i += 2) {
		struct json_object *one = json_object_new_object();

		json_object_object_add(one, "code",
				       json_object_new_string(details[i]));
		json_object_object_add(one, "message",
				       json_object_new_string(details[i + 1]));
		json_object_array_add(d, one);
	}
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "details", d);
	json_object_object_add(b, "error", e);
	resp_json(rs, status, b);
}

/* Answers a throttled query with the words Resource Graph uses (RateLimiting,
 * as Azure/azure-cli-extensions#3325 quotes it), and no Retry-After: its
 * quota headers say how long to wait. */
static void throttled(struct sim_resp *rs)
{
	static const char *const details[] = {
		"RateLimiting",
		"Client application has been throttled and should not attempt "
		"to repeat the request until an amount of time has elapsed. "
		"Please see https://aka.ms/resourcegraph-throttling for help.",
		NULL
	};

	refusal(rs, 429, "RateLimiting",
		"Please provide below info when asking for support: the "
		"x-ms-correlation-request-id of this response.",
		details);
}

/*
 * Counts a query against its caller's quota and writes the quota headers
 * every answer of Resource Graph carries (Guidance for throttled requests in
 * Azure Resource Graph: x-ms-user-quota-remaining, queries left in the
 * window, and x-ms-user-quota-resets-after). With graphQuota unset, nothing
 * is counted and the headers say what Azure's default quota, 15 queries per
 * 5 seconds, says after one. False when the quota is spent: the query is
 * refused with 429.
 */
static bool quota_take(struct sim_req *rq, struct sim_resp *rs)
{
	struct sim *s = rq->sim;
	int64_t now = mono_ms();
	struct rg_use *u;
	char left[24], reset[32];

	if (s->set.graph_quota <= 0) {
		resp_header(rs, "x-ms-user-quota-remaining", "14");
		resp_header(rs, "x-ms-user-quota-resets-after", "00:00:05");
		return true;
	}
	u = use_of(s, rq->oid ? rq->oid : "", now);
	if (u->used < s->set.graph_quota)
		u->used++;
	else
		u->used = s->set.graph_quota + 1;
	snprintf(left, sizeof(left), "%d",
		 u->used > s->set.graph_quota ? 0
					      : s->set.graph_quota - u->used);
	timespan(reset, u->start_ms + s->set.graph_quota_window_ms - now);
	resp_header(rs, "x-ms-user-quota-remaining", left);
	resp_header(rs, "x-ms-user-quota-resets-after", reset);
	if (u->used <= s->set.graph_quota)
		return true;
	throttled(rs);
	return false;
}

/* Answers a query error the way Resource Graph does (BadRequest with
 * InvalidQuery and ParserFailure). */
static void query_error(struct sim_resp *rs, const char *why)
{
	const char *const details[] = {
		"InvalidQuery",
		"Query is invalid. Please refer to the documentation for the "
		"Azure Resource Graph service and fix the error before "
		"retrying.",
		"ParserFailure", why, NULL
	};

	refusal(rs, 400, "BadRequest",
		"Please provide below info when asking for support: the query "
		"and the x-ms-correlation-request-id of this response.",
		details);
}

/*
 * Answers a $skipToken that names no kept result: garbled, made by another
 * query or caller, or expired. Microsoft documents no error for this (neither
 * the 2022-10-01 REST specification and its examples nor the paging guide,
 * learn.microsoft.com/azure/governance/resource-graph/concepts/paging-results),
 * so the answer has the shape of Resource Graph's other refusals, BadRequest
 * with details, and the detail's code is the simulator's own choice.
 */
static void token_error(struct sim_resp *rs)
{
	static const char *const details[] = {
		"InvalidSkipToken",
		"The $skipToken is not one this query returned to this "
		"caller, or its result expired. Run the query again without a "
		"$skipToken.",
		NULL
	};

	refusal(rs, 400, "BadRequest",
		"The request's options.$skipToken is invalid.", details);
}

/* Reads 1 to 15 digits ending at stop into n; returns what follows stop, or
 * NULL. */
static const char *read_number(const char *p, char stop, unsigned long *n)
{
	int digits = 0;

	for (*n = 0; *p >= '0' && *p <= '9' && digits < 15; p++, digits++)
		*n = *n * 10 + (unsigned long)(*p - '0');
	return digits > 0 && *p == stop ? p + 1 : NULL;
}

/* Reads a $skipToken, base64 of "azsim:RESULT:OFFSET", into the kept result's
 * id and the page's first row. */
static bool read_token(const char *tok, unsigned long *id, long *offset)
{
	size_t n = 0;
	unsigned char *raw = b64_decode(tok, strlen(tok), &n);
	char text[48];
	const char *p = text + 6;
	unsigned long off = 0;

	if (!raw || n <= 6 || n >= sizeof(text) ||
	    memcmp(raw, "azsim:", 6) != 0) {
		free(raw);
		return false;
	}
	memcpy(text, raw, n);
	text[n] = '\0';
	free(raw);
	p = read_number(p, ':', id);
	p = p ? read_number(p, '\0', &off) : NULL;
	*offset = (long)off;
	return p && *id != 0;
}

/* Makes the $skipToken of the page that starts at offset in a kept result. */
static char *make_token(unsigned long id, long offset)
{
	char mark[64];

	snprintf(mark, sizeof(mark), "azsim:%lu:%ld", id, offset);
	return b64_encode(mark, strlen(mark), false);
}

/*
 * Serves a page after the first from the result its $skipToken names. A result
 * computed before a write is computed again and the page still starts at the
 * token's offset: Resource Graph keeps no snapshot, and Microsoft's paging
 * guide says that a resource created or deleted between pages shifts the later
 * ones (a row seen twice or missed).
 */
static struct rg_kept *kept_page(struct sim_req *rq, struct sim_resp *rs,
				 struct json_object *b, const char *tok,
				 long *start)
{
	struct sim *s = rq->sim;
	struct rg_kept *k = NULL;
	unsigned long id = 0;
	char *key = request_key(rq, b), *err = NULL;

	if (read_token(tok, &id, start) && (k = kept_find(s, id)) != NULL &&
	    strcmp(k->key, key) != 0)
		k = NULL;
	free(key);
	if (!k) {
		token_error(rs);
		return NULL;
	}
	if (!kept_fresh(s, k)) {
		struct json_object *fresh = run_query(rq, b, &err);

		if (!fresh) {
			query_error(rs, err);
			free(err);
			return NULL;
		}
		kept_set_rows(s, k, fresh);
		json_object_put(fresh);
	}
	kept_touch(s, k);
	return k;
}

/* Names a value's column type as Resource Graph's Table does (ColumnDataType,
 * resourcegraph.json 2021-03-01). */
static const char *column_type(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
		return "integer";
	case json_type_double:
		return "number";
	case json_type_boolean:
		return "boolean";
	case json_type_object:
	case json_type_array:
		return "object";
	default:
		return "string";
	}
}

/*
 * Turns a page of rows into Resource Graph's Table: columns (name, type)
 * in the first row's order, and each row as an array of its values
 * (options.resultFormat "table", resourcegraph.json 2021-03-01).
 */
static struct json_object *as_table(struct json_object *page)
{
	struct json_object *t = json_object_new_object(),
			   *cols = json_object_new_array(),
			   *table_rows = json_object_new_array();
	struct json_object *first =
		json_object_is_type(jx_at(page, 0), json_type_object)
			? jx_at(page, 0)
			: json_object_new_object();

	json_object_object_foreach(first, name, v)
	{
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(name));
		json_object_object_add(c, "type",
				       json_object_new_string(column_type(v)));
		json_object_array_add(cols, c);
	}
	for (size_t i = 0; i < jx_len(page); i++) {
		struct json_object *row = json_object_new_array();

		for (size_t j = 0; j < jx_len(cols); j++)
			json_object_array_add(
				row, json_object_get(json_object_object_get(
					     jx_at(page, i),
					     jx_str(jx_at(cols, j), "name"))));
		json_object_array_add(table_rows, row);
	}
	json_object_object_add(t, "columns", cols);
	json_object_object_add(t, "rows", table_rows);
	if (first != jx_at(page, 0))
		json_object_put(first);
	json_object_put(page);
	return t;
}

/*
 * Tells whether a page cannot be followed by the next: Resource Graph pages
 * only a result with an id column ("The query must project the id field in
 * order for pagination to work", Working with large Azure resource data
 * sets), or a fault asked for an answer cut short.
 */
static bool cut_short(const struct sim_req *rq, struct json_object *result)
{
	struct json_object *row = jx_at(result, 0);

	return rq->graph_truncated ||
	       (json_object_is_type(row, json_type_object) &&
		!jx_has(row, "id"));
}

/*
 * Answers the page of result that starts at start, with the $skipToken of the
 * next page of kept result id; a page that cannot be followed says
 * resultTruncated "true" and has no $skipToken, as Resource Graph's does when
 * more rows match than it gives.
 */
static void answer_page(struct sim_req *rq, struct sim_resp *rs,
			struct json_object *result, long start, long top,
			unsigned long id, bool table)
{
	long total = (long)jx_len(result);
	struct json_object *page = json_object_new_array(),
			   *out = json_object_new_object();
	bool more = start + top < total, cut = more && cut_short(rq, result);

	for (long i = start; i < total && i < start + top; i++)
		json_object_array_add(
			page, json_object_get(jx_at(result, (size_t)i)));
	json_object_object_add(out, "totalRecords",
			       json_object_new_int64(total));
	json_object_object_add(out, "count",
			       json_object_new_int64((int64_t)jx_len(page)));
	json_object_object_add(out, "resultTruncated",
			       json_object_new_string(cut ? "true" : "false"));
	if (more && !cut) {
		char *tok = make_token(id, start + top);

		json_object_object_add(out, "$skipToken",
				       json_object_new_string(tok));
		free(tok);
	}
	json_object_object_add(out, "data", table ? as_table(page) : page);
	json_object_object_add(out, "facets", json_object_new_array());
	resp_json(rs, 200, out);
}

/*
 * Serves a first page, starting at options.$skip: from the kept result of the
 * same caller, subscriptions and query when nothing changed since, else by
 * running the query, keeping its result when more pages follow.
 */
static void first_page(struct sim_req *rq, struct sim_resp *rs,
		       struct json_object *b, long top)
{
	char *err = NULL, *key = request_key(rq, b);
	struct rg_kept *k = kept_by_key(rq->sim, key);
	struct json_object *result =
		k ? json_object_get(k->rows) : run_query(rq, b, &err);
	long start = (long)jx_int(jx_get(b, "options"), "$skip", 0);
	unsigned long id = k ? k->id : 0;

	if (!result) {
		free(key);
		query_error(rs, err);
		free(err);
		return;
	}
	start = start < 0                      ? 0
		: start > (long)jx_len(result) ? (long)jx_len(result)
					       : start;
	if (k)
		kept_touch(rq->sim, k);
	else if (start + top < (long)jx_len(result))
		id = kept_add(rq->sim, xstrdup(key), result)->id;
	free(key);
	answer_page(
		rq, rs, result, start, top, id,
		str_ieq(jx_str(jx_get(b, "options"), "resultFormat"), "table"));
	json_object_put(result);
}

/* Notes in the request's log entry the query's scope: "tenant" with no
 * subscriptions in its body, else how many it names. */
static void note_scope(struct sim_req *rq, struct json_object *b)
{
	struct json_object *subs = jx_get(b, "subscriptions");

	if (!rq->entry)
		return;
	json_object_object_add(
		rq->entry, "graphScope",
		json_object_is_type(subs, json_type_array)
			? json_object_new_int64((int64_t)jx_len(subs))
			: json_object_new_string("tenant"));
}

/* Serves POST /providers/Microsoft.ResourceGraph/resources (under the
 * simulator's lock, as every request is). */
void rg_handle(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *b, *opts;
	const char *tok;
	long top, start = 0;

	if (strcmp(rq->method, "POST") != 0) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "Resource Graph queries are POST requests.");
		return;
	}
	if (!quota_take(rq, rs) || !(b = req_json(rq, rs)))
		return;
	note_scope(rq, b);
	if (!jx_str(b, "query")) {
		query_error(rs, "The request needs a 'query'.");
		return;
	}
	opts = jx_get(b, "options");
	top = (long)jx_int(opts, "$top", 100);
	if (top < 1 || top > 1000) {
		resp_error(rs, 400, "BadRequest",
			   "options.$top must be between 1 and 1000.");
		return;
	}
	if (jx_str(opts, "resultFormat") &&
	    !str_ieq(jx_str(opts, "resultFormat"), "table") &&
	    !str_ieq(jx_str(opts, "resultFormat"), "objectArray")) {
		resp_error(rs, 400, "BadRequest",
			   "options.resultFormat must be 'table' or "
			   "'objectArray'.");
		return;
	}
	tok = jx_str(opts, "$skipToken");
	if (!tok || !*tok) {
		first_page(rq, rs, b, top);
	} else {
		struct rg_kept *k = kept_page(rq, rs, b, tok, &start);

		if (k)
			answer_page(
				rq, rs, k->rows, start, top, k->id,
				str_ieq(jx_str(opts, "resultFormat"), "table"));
	}
}
