/* The audit's reads: subscriptions, one paged Resource Graph query (or ARM
 * lists), and the deep check of keys in use. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "armid.h"
#include "audit.h"
#include "fetch.h"
#include "i18n.h"
#include "jscan.h"
#include "jx.h"
#include "survey.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

#define SUBS_API "2022-12-01"
#define RG_API "2022-10-01"
#define RESOURCES_API "2021-04-01"
#define PAGE_ROWS 1000
#define MAX_GRAPH_SUBS                                                         \
	1000 /* Resource Graph takes at most this many subscriptions per query \
	      */
#define BATCH 64 /* resources read at once by the ARM fallback */

/* What one audit run carries from step to step. */
struct run {
	struct az_session *s;
	const struct survey_opts *o;
	struct audit_report *a; /* the subscriptions in scope (and deep, time):
				   what the sink's begin sees */
	const char **subs;      /* readable subscriptions in scope */
	size_t nsubs;
	struct json_object *created; /* lower-case resource id -> createdTime,
					for healthcare agent services */
	size_t seen;                 /* resources judged so far */
	const struct survey_sink *sink;
	bool begun;               /* the sink's begin was called */
	struct audit_report held; /* subscription findings, handed over after
				     the resources */
	int rc;                   /* -1 once canceled while judging rows */
};

/* Hands one resource's (or one finding's) part of the report to the sink,
 * beginning the report first. */
static void emit(struct run *r, struct audit_report *part)
{
	if (!r->begun && r->sink->begin)
		r->sink->begin(r->sink->ud, r->a);
	r->begun = true;
	r->sink->item(r->sink->ud, part);
	audit_free(part);
}

/* Hands a finding about something that could not be read to the sink
 * (subscriptions' at the end). */
static void emit_unreadable(struct run *r, const char *rule, const char *id,
			    const char *name, const char *detail)
{
	struct audit_report part = { 0 };

	if (str_ieq(rule, "subscription.readable")) {
		audit_add_unreadable(&r->held, rule, id, name, detail);
		for (size_t i = 0; i < r->a->nsubs; i++)
			if (str_ieq(r->a->subs[i].id,
				    r->held.items[r->held.n - 1].subscription))
				r->a->subs[i].readable = false;
		return;
	}
	audit_add_unreadable(&part, rule, id, name, detail);
	emit(r, &part);
}

/* Reports progress, if the caller wants it. */
static void progress(struct run *r, const char *stage)
{
	if (r->o->progress)
		r->o->progress(r->o->ud, r->nsubs, r->seen, stage);
}

/* Tells whether the operator asked for a service (all when none were named). */
static bool wanted(const struct survey_opts *o, const struct svc_profile *p)
{
	return p && (o->services == 0 || (o->services & (1u << p->id)));
}

/*
 * Runs the full check of a resource on a customer-managed key (--deep) into
 * part; what cannot be read is a resource.readable finding. -1 when canceled.
 */
static int deep_check(struct run *r, const char *id, struct audit_report *part)
{
	struct cmk_target t = { .resource = id,
				.subscriptions = r->subs,
				.nsubs = r->nsubs };
	struct az_error e = { 0 };
	struct cmk_fetch f;
	struct cmk_report rep;
	int rc = 0;

	if (cmk_fetch(r->s, &t, &f, &e) != 0) {
		rc = az_http_canceled(az_session_http(r->s)) ? -1 : 0;
		audit_add_unreadable(part, "resource.readable", id, NULL,
				     e.message);
	} else {
		f.ctx.now = r->a->generated;
		cmk_check(&f.ctx, &rep);
		audit_add_report(part, &f.ctx, &rep);
		cmk_report_free(&rep);
	}
	cmk_fetch_free(&f);
	az_error_clear(&e);
	return rc;
}

/*
 * Fills a context from the resource alone: its service, identity and the key
 * it names (k owns the key's parts; a reference off the cloud's own key
 * store hosts is left out, and the rules that need it cannot judge); returns
 * that key's URI.
 */
static char *shallow_ctx(struct run *r, const struct svc_profile *p,
			 struct json_object *res, struct cmk_ctx *c,
			 struct key_ref *k)
{
	struct key_suffixes sfx = az_session_key_suffixes(r->s);
	char *key = svc_key_uri(p, res);
	const char *why;

	memset(c, 0, sizeof(*c));
	c->svc = p;
	c->resource = res;
	c->tenant = az_session_tenant(r->s);
	c->now = r->a->generated;
	c->uai_id = cmk_default_identity(res);
	c->user_identity = c->uai_id != NULL;
	if (key && key_ref_parse(key, &sfx, k, &why))
		c->keyref = *k;
	return key;
}

/* Judges one resource from what was read (with --deep, the full check of one on
 * CMK) and hands it to the sink. */
static int judge(struct run *r, struct json_object *res)
{
	const struct svc_profile *p =
		svc_for_resource(jx_str(res, "type"), jx_str(res, "kind"));
	struct audit_report part = { 0 };
	struct cmk_ctx c;
	struct cmk_report rep;
	struct key_ref k = { 0 };
	char *key;
	int rc = 0;

	if (!wanted(r->o, p))
		return 0;
	r->seen++;
	key = shallow_ctx(r, p, res, &c, &k);
	if (r->o->deep && cmk_resource_on_cmk(&c) && jx_str(res, "id")) {
		rc = deep_check(r, jx_str(res, "id"), &part);
	} else {
		cmk_check(&c, &rep);
		audit_add_report(&part, &c, &rep);
		cmk_report_free(&rep);
	}
	audit_add_resource(&part, &c, key);
	emit(r, &part);
	free(key);
	key_ref_free(&k);
	return rc;
}

/* Returns the creation time recorded for a resource, or NULL. */
static const char *created_of(struct run *r, const char *id)
{
	char *k = str_lower(id ? id : "");
	struct json_object *v = NULL;

	json_object_object_get_ex(r->created, k, &v);
	free(k);
	return json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Judges a Resource Graph row, rebuilt as the resource ARM would return (a scan
 * callback). */
static void judge_row(struct json_object *row, void *ud)
{
	struct run *r = ud;
	struct json_object *res;

	if (r->rc != 0)
		return;
	res = audit_resource_from_row(row, created_of(r, jx_str(row, "id")));
	r->rc = judge(r, res);
	json_object_put(res);
}

/* Builds the Resource Graph query for the services asked, with the columns that
 * hold their key settings. */
static char *graph_query_text(const struct survey_opts *o)
{
	char *types = svc_types_kql(o->services), *cols = audit_graph_columns();
	char *q = xasprintf(
		"Resources | where type in~ (%s) | project id, name, type, "
		"kind, location, subscriptionId, "
		"resourceGroup, identity, provisioningState = "
		"properties.provisioningState, %s, "
		"cmkCapable = tostring(properties.capabilities) contains "
		"'CustomerManagedKey' "
		"| order by subscriptionId asc, resourceGroup asc, name asc",
		types, cols);

	free(types);
	free(cols);
	return q;
}

/* Builds one Resource Graph page request over subscriptions [from, to). */
static struct az_req *graph_page(struct run *r, const char *query, size_t from,
				 size_t to, const char *skip)
{
	struct json_object *body = json_object_new_object(),
			   *subs = json_object_new_array(),
			   *opts = json_object_new_object();
	struct az_req *q;

	for (size_t i = from; i < to; i++)
		json_object_array_add(subs, json_object_new_string(r->subs[i]));
	json_object_object_add(body, "subscriptions", subs);
	json_object_object_add(body, "query", json_object_new_string(query));
	json_object_object_add(opts, "$top", json_object_new_int(PAGE_ROWS));
	if (skip)
		json_object_object_add(opts, "$skipToken",
				       json_object_new_string(skip));
	json_object_object_add(opts, "resultFormat",
			       json_object_new_string("objectArray"));
	json_object_object_add(body, "options", opts);
	q = az_session_req(r->s, AZ_ARM, "POST",
			   "/providers/Microsoft.ResourceGraph/resources",
			   RG_API, jx_text(body));
	json_object_put(body);
	return q;
}

/*
 * Builds the ARM $filter on resource types: every service's, or (dated) only
 * those of the services asked whose resources are eligible by creation day.
 */
static char *type_filter(const struct survey_opts *o, bool dated)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < SVC_NPROFILES; i++) {
		const struct svc_profile *p = &SVC_PROFILES[i];
		/* A type named twice in the dated filter is harmless; the full
		 * one names each once. */
		if (dated ? !p->cmk_since || !wanted(o, p)
			  : !svc_type_first_of(p, 0))
			continue;
		sb_printf(&b, "%sresourceType%%20eq%%20'%s'",
			  b.len ? "%20or%20" : "", p->arm_type);
	}
	return sb_steal(&b);
}

/* Tells whether some service asked is eligible by its resources' creation day
 * (which only ARM lists give). */
static bool wants_dates(const struct survey_opts *o)
{
	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if (SVC_PROFILES[i].cmk_since && wanted(o, &SVC_PROFILES[i]))
			return true;
	return false;
}

/* Builds the request that lists a subscription's resources of some types (see
 * type_filter), with creation times. */
static struct az_req *generic_list(struct run *r, const char *sub, bool dated)
{
	char *filter = type_filter(r->o, dated);
	char *path = xasprintf(
		"/subscriptions/%s/resources?$filter=%s&$expand=createdTime",
		sub, filter);
	struct az_req *q =
		az_session_req(r->s, AZ_ARM, "GET", path, RESOURCES_API, NULL);

	free(filter);
	free(path);
	return q;
}

/* Records the creation time of one resources list item. */
static void note_created(struct json_object *item, void *ud)
{
	struct run *r = ud;
	const char *id = jx_str(item, "id"), *t = jx_str(item, "createdTime");

	if (id && t) {
		char *k = str_lower(id);

		json_object_object_add(r->created, k,
				       json_object_new_string(t));
		free(k);
	}
}

/*
 * Records the creation times the resources lists answered, following their
 * nextLinks a wave at a time (all subscriptions' next pages at once).
 */
static void created_pages(struct run *r, struct az_req **q, size_t n)
{
	struct az_req **wave = xcalloc(n ? n : 1, sizeof(*wave));
	struct az_error e = { 0 };
	size_t m = n;

	memcpy(wave, q, n * sizeof(*wave));
	for (int pages = 0; m && pages < 100; pages++) {
		size_t k = 0;

		for (size_t i = 0; i < m; i++) {
			bool ok = wave[i]->status == 200;
			char *next =
				ok ? jscan_string(wave[i]->resp_body,
						  wave[i]->resp_len, "nextLink")
				   : NULL;
			struct az_req *follow =
				next && *next
					? az_session_req(r->s, AZ_ARM, "GET",
							 next, NULL, NULL)
					: NULL;

			if (ok)
				jscan_each(wave[i]->resp_body,
					   wave[i]->resp_len, "value",
					   note_created, r);
			if (pages > 0)
				az_req_free(wave[i]);
			if (follow) {
				follow->raw_json = true;
				wave[k++] = follow;
			}
			free(next);
		}
		m = k;
		if (m && az_session_send(r->s, wave, m, &e) != 0)
			break;
	}
	for (size_t i = 0; i < m; i++)
		az_req_free(wave[i]);
	az_error_clear(&e);
	free(wave);
}

/*
 * Decides what a failed Resource Graph page means: before anything was read,
 * a refusal to fall back on ARM lists (1); later, an error (-1), since the
 * pages already judged cannot be read again without counting them twice.
 */
static int refused(struct run *r, struct az_req *q, size_t from, bool first,
		   struct az_error *e)
{
	char *what;

	if (from == 0 && first && r->seen == 0) {
		az_http_trace(
			az_session_http(r->s),
			"Resource Graph answered %ld; listing with ARM instead",
			q->status);
		return 1;
	}
	what = xasprintf("POST %s", q->url);
	az_error_from_req(e, q, what);
	free(what);
	return -1;
}

/*
 * Runs the Resource Graph query over subscriptions [from, to), page after
 * page; the first page goes with the ARM lists of the services eligible by
 * creation day (the healthcare agent service), which give their creation
 * dates. Returns 1 when Resource Graph refused (use ARM).
 */
static int graph_batch(struct run *r, const char *query, size_t from, size_t to,
		       struct az_error *e)
{
	size_t n = 1 + (wants_dates(r->o) ? to - from : 0);
	struct az_req **q = xcalloc(n, sizeof(*q));
	char *skip = NULL;
	int rc = 0;

	q[0] = graph_page(r, query, from, to, NULL);
	q[0]->raw_json = true;
	for (size_t i = 1; i < n; i++) {
		q[i] = generic_list(r, r->subs[from + i - 1], true);
		q[i]->raw_json = true;
	}
	for (bool first = true; rc == 0 && q[0]; first = false) {
		if (az_session_send(r->s, q, first ? n : 1, e) != 0) {
			rc = -1;
			break;
		}
		if (first) {
			created_pages(r, q + 1, n - 1);
			for (size_t i = 1; i < n; i++) {
				az_req_free(q[i]);
				q[i] = NULL;
			}
		}
		if (q[0]->curl_code || q[0]->status != 200 ||
		    jscan_each(q[0]->resp_body, q[0]->resp_len, "data",
			       judge_row, r) < 0) {
			rc = refused(r, q[0], from, first, e);
			break;
		}
		if ((rc = r->rc) != 0)
			az_error_set(e, _("the audit was canceled"));
		free(skip);
		skip = jscan_string(q[0]->resp_body, q[0]->resp_len,
				    "$skipToken");
		progress(r, "graph");
		az_req_free(q[0]);
		q[0] = skip ? graph_page(r, query, from, to, skip) : NULL;
		if (q[0])
			q[0]->raw_json = true;
	}
	for (size_t i = 0; i < n; i++)
		az_req_free(q[i]);
	free(q);
	free(skip);
	return rc;
}

/* Adds a finding for what a request could not read, with Azure's answer as the
 * detail. */
static void unreadable(struct run *r, const char *rule, const char *id,
		       const char *name, const struct az_req *q)
{
	struct az_error e = { 0 };
	char *what = xasprintf("GET %s", id);

	az_error_from_req(&e, q, what);
	emit_unreadable(r, rule, id, name, e.message);
	az_error_clear(&e);
	free(what);
}

/* Returns how many of n items to read from at: BATCH, or what is left. */
static size_t batch_size(size_t n, size_t at)
{
	size_t left = n - at;

	return left > BATCH ? BATCH : left;
}

/* Reads resources by id, BATCH at a time, and judges each; a refused read is a
 * resource.readable finding. */
static int read_each(struct run *r, struct json_object *items,
		     struct az_error *e)
{
	size_t n = jx_len(items);

	for (size_t at = 0; at < n; at += BATCH) {
		size_t m = batch_size(n, at);
		struct az_req *q[BATCH];

		for (size_t i = 0; i < m; i++)
			q[i] = az_session_req(
				r->s, AZ_ARM, "GET",
				jx_str(jx_at(items, at + i), "id"),
				svc_api_version(
					jx_str(jx_at(items, at + i), "type")),
				NULL);
		if (az_session_send(r->s, q, m, e) != 0) {
			for (size_t i = 0; i < m; i++)
				az_req_free(q[i]);
			return -1;
		}
		for (size_t i = 0; i < m; i++) {
			struct json_object *it = jx_at(items, at + i);

			if (q[i]->status == 200) {
				if (jx_str(it, "createdTime") &&
				    !jx_get(q[i]->json, "systemData.createdAt"))
					jx_set(q[i]->json,
					       "systemData.createdAt",
					       json_object_new_string(jx_str(
						       it, "createdTime")));
				judge(r, q[i]->json); /* canceled: the next send
							 says so */
			} else if (q[i]->status != 404) {
				unreadable(r, "resource.readable",
					   jx_str(it, "id"), jx_str(it, "name"),
					   q[i]);
			}
			az_req_free(q[i]);
		}
		progress(r, "arm");
	}
	return 0;
}

/* Orders ARM list items as Resource Graph's query does: subscription, resource
 * group, name. */
static int by_place(const void *x, const void *y)
{
	struct json_object *const *a = x, *const *b = y;
	const char *ia = jx_str(*a, "id") ? jx_str(*a, "id") : "",
		   *ib = jx_str(*b, "id") ? jx_str(*b, "id") : "";
	struct armid pa, pb;
	int c;

	if (!armid_parse(ia, &pa))
		return strcasecmp(ia, ib);
	if (!armid_parse(ib, &pb)) {
		armid_free(&pa);
		return strcasecmp(ia, ib);
	}
	c = strcasecmp(pa.subscription, pb.subscription);
	if (c == 0)
		c = strcasecmp(pa.resource_group ? pa.resource_group : "",
			       pb.resource_group ? pb.resource_group : "");
	if (c == 0)
		c = strcasecmp(pa.full_name ? pa.full_name : pa.name,
			       pb.full_name ? pb.full_name : pb.name);
	armid_free(&pa);
	armid_free(&pb);
	return c;
}

/* Lists the audited resources of every subscription with ARM, concurrently,
 * then reads and judges them. */
static int arm_lists(struct run *r, struct az_error *e)
{
	struct az_req **q = xcalloc(r->nsubs ? r->nsubs : 1, sizeof(*q));
	struct json_object *items = json_object_new_array();
	int rc;

	for (size_t i = 0; i < r->nsubs; i++)
		q[i] = generic_list(r, r->subs[i], false);
	rc = r->nsubs ? az_session_send(r->s, q, r->nsubs, e) : 0;
	for (size_t i = 0; rc == 0 && i < r->nsubs; i++) {
		struct json_object *value =
			q[i]->status == 200 ? jx_get(q[i]->json, "value")
					    : NULL;
		const char *next = q[i]->status == 200
					   ? jx_str(q[i]->json, "nextLink")
					   : NULL;
		struct json_object *rest = NULL;

		if (q[i]->status != 200) {
			char *sid = xasprintf("/subscriptions/%s", r->subs[i]);

			unreadable(r, "subscription.readable", sid, r->subs[i],
				   q[i]);
			free(sid);
		}
		for (size_t k = 0; k < jx_len(value); k++)
			json_object_array_add(items,
					      json_object_get(jx_at(value, k)));
		if (next &&
		    az_session_list(r->s, AZ_ARM, next, NULL, &rest, e) == 0) {
			for (size_t k = 0; k < jx_len(rest); k++)
				json_object_array_add(
					items, json_object_get(jx_at(rest, k)));
		} else if (next) {
			/* A list cut short is said, not passed over: the
			 * resources on the pages not read went unjudged. */
			char *sid = xasprintf("/subscriptions/%s", r->subs[i]);

			emit_unreadable(r, "subscription.readable", sid,
					r->subs[i],
					e->message ? e->message : "?");
			free(sid);
		}
		json_object_put(rest);
		az_error_clear(e);
	}
	for (size_t i = 0; i < r->nsubs; i++)
		az_req_free(q[i]);
	free(q);
	json_object_array_sort(items, by_place);
	if (rc == 0)
		rc = read_each(r, items, e);
	json_object_put(items);
	return rc;
}

/* Lists the subscriptions the signed-in principal can see, as ARM returns them,
 * into *subs. */
int cmk_list_subscriptions(struct az_session *s, struct json_object **subs,
			   struct az_error *e)
{
	return az_session_list(s, AZ_ARM, "/subscriptions", SUBS_API, subs, e);
}

/* Decides the subscriptions in scope: those asked for (each one you cannot see
 * is a finding), or all you can see. */
static int pick_subscriptions(struct run *r, struct az_error *e)
{
	struct json_object *visible = NULL;

	if (cmk_list_subscriptions(r->s, &visible, e) != 0)
		return -1;
	r->subs = xcalloc(jx_len(visible) + r->o->nsubs + 1, sizeof(*r->subs));
	for (size_t i = 0; i < jx_len(visible) && !r->o->nsubs; i++) {
		struct json_object *v = jx_at(visible, i);

		audit_add_subscription(r->a, jx_str(v, "subscriptionId"),
				       jx_str(v, "displayName"), true);
		r->subs[r->nsubs++] = r->a->subs[r->a->nsubs - 1].id;
	}
	for (size_t k = 0; k < r->o->nsubs; k++) {
		struct json_object *hit = NULL;

		for (size_t i = 0; i < jx_len(visible) && !hit; i++)
			if (str_ieq(jx_str(jx_at(visible, i), "subscriptionId"),
				    r->o->subscriptions[k]) ||
			    str_ieq(jx_str(jx_at(visible, i), "displayName"),
				    r->o->subscriptions[k]))
				hit = jx_at(visible, i);
		audit_add_subscription(r->a,
				       hit ? jx_str(hit, "subscriptionId")
					   : r->o->subscriptions[k],
				       hit ? jx_str(hit, "displayName") : "",
				       hit != NULL);
		if (hit) {
			r->subs[r->nsubs++] = r->a->subs[r->a->nsubs - 1].id;
		} else {
			char *sid = xasprintf("/subscriptions/%s",
					      r->o->subscriptions[k]);

			emit_unreadable(r, "subscription.readable", sid,
					r->o->subscriptions[k],
					_("It is not among the subscriptions "
					  "you can see."));
			free(sid);
		}
	}
	json_object_put(visible);
	return 0;
}

/* Hands the subscription findings over, after the resources, and begins the
 * report if nothing else did. */
static void finish(struct run *r)
{
	struct audit_report part = { 0 };

	for (size_t i = 0; i < r->held.n; i++) {
		part.items = xcalloc(1, sizeof(*part.items));
		part.items[0] = r->held.items[i];
		part.n = part.cap = 1;
		memset(&r->held.items[i], 0, sizeof(r->held.items[i]));
		emit(r, &part);
	}
	if (!r->begun && r->sink->begin)
		r->sink->begin(r->sink->ud, r->a);
	r->begun = true;
	audit_free(&r->held);
}

/*
 * Audits every resource of the four services in the subscriptions in scope:
 * one paged Resource Graph query (ARM lists where it is refused), the rules
 * over each resource, and with deep, the full check of each key in use.
 * Each resource goes to the sink as it is judged, in subscription, resource
 * group and name order; meta gets the subscriptions in scope.
 */
int cmk_audit_stream(struct az_session *s, const struct survey_opts *o,
		     const struct survey_sink *sink, struct audit_report *meta,
		     struct az_error *e)
{
	struct run r = { s, o,    meta,  NULL,  0, json_object_new_object(),
			 0, sink, false, { 0 }, 0 };
	char *query = graph_query_text(o);
	int rc;

	memset(meta, 0, sizeof(*meta));
	meta->deep = o->deep;
	meta->generated = o->now ? o->now : (int64_t)time(NULL);
	meta->portal = az_session_cloud(s)->portal;
	rc = pick_subscriptions(&r, e);
	progress(&r, "subscriptions");
	for (size_t from = 0; rc == 0 && from < r.nsubs;
	     from += MAX_GRAPH_SUBS) {
		size_t to = r.nsubs - from > MAX_GRAPH_SUBS
				    ? from + MAX_GRAPH_SUBS
				    : r.nsubs;

		rc = graph_batch(&r, query, from, to, e);
		if (rc == 1) {
			rc = arm_lists(&r, e);
			break;
		}
	}
	if (rc == 0 && az_http_canceled(az_session_http(s))) {
		az_error_set(e, _("the audit was canceled"));
		rc = -1;
	}
	if (rc == 0)
		finish(&r);
	audit_free(&r.held);
	free(r.subs);
	free(query);
	json_object_put(r.created);
	return rc;
}

/* Moves a part's findings and resources into the whole report. */
static void collect(void *ud, const struct audit_report *part)
{
	audit_merge(ud, (struct audit_report *)part);
}

/* Audits into a report held in memory (for the wizard and tests):
 * cmk_audit_stream, gathered and sorted. */
int cmk_audit(struct az_session *s, const struct survey_opts *o,
	      struct audit_report *out, struct az_error *e)
{
	struct audit_report meta = { 0 }, all = { 0 };
	struct survey_sink sink = { NULL, collect, &all };
	int rc = cmk_audit_stream(s, o, &sink, &meta, e);

	*out = meta;
	out->items = all.items;
	out->n = all.n;
	out->cap = all.cap;
	out->resources = all.resources;
	out->nres = all.nres;
	out->capres = all.capres;
	audit_sort(out);
	return rc;
}

/*
 * Reads every page of a Resource Graph query over subs[from..to) into items:
 * 1 with no answer to the first page (the caller falls back to ARM), 0 when
 * read whole, -1 with *e when Resource Graph stops answering, or names a page
 * already read, part way: a list cut short must not pass for a whole one.
 */
static int graph_all(struct run *r, const char *query, size_t from, size_t to,
		     struct json_object *items, struct az_error *e)
{
	char *skip = NULL, *seen = NULL;
	int rc = 1;

	for (size_t page = 0;; page++) {
		struct az_req *q = graph_page(r, query, from, to, skip);
		struct json_object *data;

		if (az_session_send(r->s, &q, 1, e) != 0) {
			rc = -1;
		} else if (q->status != 200 ||
			   !json_object_is_type(data = jx_get(q->json, "data"),
						json_type_array)) {
			rc = page == 0 ? 1 : -1;
			if (rc < 0)
				az_error_set(
					e,
					P_("Resource Graph answered %zu page "
					   "of "
					   "the list, then HTTP %ld: the list "
					   "would be incomplete, so it is not "
					   "used; try again",
					   "Resource Graph answered %zu pages "
					   "of "
					   "the list, then HTTP %ld: the list "
					   "would be incomplete, so it is not "
					   "used; try again",
					   page),
					page, q->status);
		} else {
			for (size_t k = 0; k < jx_len(data); k++)
				json_object_array_add(
					items, json_object_get(jx_at(data, k)));
			free(seen);
			seen = skip;
			skip = jx_str(q->json, "$skipToken")
				       ? xstrdup(jx_str(q->json, "$skipToken"))
				       : NULL;
			rc = 0;
			if (skip && seen && !strcmp(skip, seen)) {
				az_error_set(e, _("Resource Graph named the "
						  "same page twice in a "
						  "list (a loop): the list "
						  "would never end, so "
						  "it is not used; try again"));
				rc = -1;
			}
		}
		az_req_free(q);
		if (rc != 0 || !skip)
			break;
	}
	free(skip);
	free(seen);
	return rc;
}

/*
 * Lists the resources of one type in the subscriptions: Resource Graph, every
 * page of each batch of MAX_GRAPH_SUBS subscriptions; when it does not answer
 * at all, ARM's list in each subscription.
 */
static int list_type(struct az_session *s, const char *const *subs,
		     size_t nsubs, const char *type, const char *provider_path,
		     const char *api, struct json_object **items,
		     struct az_error *e)
{
	struct run r = { .s = s, .subs = (const char **)subs, .nsubs = nsubs };
	char *query = xasprintf("Resources | where type =~ '%s' | project id, "
				"name, type, location, subscriptionId, "
				"resourceGroup, properties | order by name asc",
				type);
	int rc = 0;

	*items = json_object_new_array();
	for (size_t from = 0; rc == 0 && from < nsubs; from += MAX_GRAPH_SUBS)
		rc = graph_all(&r, query, from,
			       nsubs - from > MAX_GRAPH_SUBS
				       ? from + MAX_GRAPH_SUBS
				       : nsubs,
			       *items, e);
	free(query);
	if (rc < 0) {
		json_object_put(*items);
		*items = NULL;
		return -1;
	}
	if (rc == 0)
		return 0;
	/* No Resource Graph: ARM's lists, each of every page. */
	az_error_clear(e);
	json_object_put(*items);
	*items = json_object_new_array();
	for (size_t i = 0; i < nsubs; i++) {
		char *path = xasprintf("/subscriptions/%s/providers/%s",
				       subs[i], provider_path);
		struct json_object *list = NULL;

		if (az_session_list(s, AZ_ARM, path, api, &list, e) == 0)
			for (size_t k = 0; k < jx_len(list); k++)
				json_object_array_add(
					*items,
					json_object_get(jx_at(list, k)));
		az_error_clear(e);
		json_object_put(list);
		free(path);
	}
	return 0;
}

/* Lists the key vaults in the subscriptions, as ARM returns them, into *vaults.
 */
int cmk_list_vaults(struct az_session *s, const char *const *subs, size_t nsubs,
		    struct json_object **vaults, struct az_error *e)
{
	return list_type(s, subs, nsubs, "microsoft.keyvault/vaults",
			 "Microsoft.KeyVault/vaults", "2024-11-01", vaults, e);
}

/* Lists the key vaults, then the Managed HSMs, in the subscriptions, as ARM
 * returns them, into *stores. */
int cmk_list_key_stores(struct az_session *s, const char *const *subs,
			size_t nsubs, struct json_object **stores,
			struct az_error *e)
{
	struct json_object *hsms = NULL;
	int rc = cmk_list_vaults(s, subs, nsubs, stores, e);

	if (rc == 0)
		rc = list_type(s, subs, nsubs, "microsoft.keyvault/managedhsms",
			       "Microsoft.KeyVault/managedHSMs", "2024-11-01",
			       &hsms, e);
	for (size_t i = 0; rc == 0 && i < jx_len(hsms); i++)
		json_object_array_add(*stores, json_object_get(jx_at(hsms, i)));
	json_object_put(hsms);
	return rc;
}

/* Lists the user-assigned managed identities in the subscriptions, as ARM
 * returns them, into *ids. */
int cmk_list_identities(struct az_session *s, const char *const *subs,
			size_t nsubs, struct json_object **ids,
			struct az_error *e)
{
	return list_type(s, subs, nsubs,
			 "microsoft.managedidentity/userassignedidentities",
			 "Microsoft.ManagedIdentity/userAssignedIdentities",
			 "2023-01-31", ids, e);
}
