/* The audit's reads: subscriptions, one paged Resource Graph query (or ARM lists), and the deep check of keys in use. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "armid.h"
#include "audit.h"
#include "fetch.h"
#include "i18n.h"
#include "jx.h"
#include "survey.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

#define SUBS_API "2022-12-01"
#define RG_API "2022-10-01"
#define RESOURCES_API "2021-04-01"
#define PAGE_ROWS 1000
#define MAX_GRAPH_SUBS 1000        /* Resource Graph takes at most this many subscriptions per query */
#define BATCH 64                   /* resources read at once by the ARM fallback */

/* What one audit run carries from step to step. */
struct run {
	struct az_session *s;
	const struct survey_opts *o;
	struct audit_report *a;
	const char **subs;             /* readable subscriptions in scope */
	size_t nsubs;
	struct json_object *created;   /* lower-case resource id -> createdTime, for healthcare agent services */
	char **deferred;               /* resources on a customer-managed key, for --deep */
	size_t ndeferred;
	size_t seen;                   /* resources judged so far */
};

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

/* Judges one resource from what was read: the shallow rules now, or the deep check later for one on CMK. */
static void judge(struct run *r, struct json_object *res)
{
	const struct svc_profile *p = svc_for_resource(jx_str(res, "type"), jx_str(res, "kind"));
	struct cmk_ctx c = { 0 };
	struct cmk_report rep;
	char *key, *vault_uri = NULL, *vault_name = NULL, *key_name = NULL, *version = NULL;

	if (!wanted(r->o, p))
		return;
	c.svc = p;
	c.resource = res;
	c.tenant = az_session_tenant(r->s);
	c.now = r->a->generated;
	r->seen++;
	c.uai_id = cmk_default_identity(res);
	c.user_identity = c.uai_id != NULL;
	key = cmk_current_key_uri(p, res);
	if (key && wire_split_key_uri(key, &vault_uri, &vault_name, &key_name, &version)) {
		c.vault_uri = vault_uri;
		c.vault_name = vault_name;
		c.key_name = key_name;
		c.key_version = version;
		c.hsm = strstr(vault_uri, ".managedhsm.") != NULL;
	}
	if (r->o->deep && cmk_resource_on_cmk(&c) && jx_str(res, "id")) {
		r->deferred = xrealloc(r->deferred, (r->ndeferred + 1) * sizeof(*r->deferred));
		r->deferred[r->ndeferred++] = xstrdup(jx_str(res, "id"));
	} else {
		cmk_check(&c, &rep);
		audit_add_report(r->a, &c, &rep);
		cmk_report_free(&rep);
	}
	audit_add_resource(r->a, &c, key);
	free(key);
	free(vault_uri);
	free(vault_name);
	free(key_name);
	free(version);
}

/* Returns the creation time recorded for a resource, or NULL. */
static const char *created_of(struct run *r, const char *id)
{
	char *k = str_lower(id ? id : "");
	struct json_object *v = NULL;

	json_object_object_get_ex(r->created, k, &v);
	free(k);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Judges a Resource Graph row, rebuilt as the resource ARM would return. */
static void judge_row(struct run *r, struct json_object *row)
{
	struct json_object *res = audit_resource_from_row(row, created_of(r, jx_str(row, "id")));

	judge(r, res);
	json_object_put(res);
}

/* Builds the Resource Graph query for the services asked. */
static char *graph_query_text(const struct survey_opts *o)
{
	bool dicom = wanted(o, &SVC_PROFILES[SVC_DICOM]), hb = wanted(o, &SVC_PROFILES[SVC_HEALTHBOT]);
	bool cog = wanted(o, &SVC_PROFILES[SVC_FOUNDRY]) || wanted(o, &SVC_PROFILES[SVC_OPENAI]);

	return xasprintf("Resources | where type in~ (%s%s%s%s%s) | project id, name, type, kind, location, subscriptionId, "
			 "resourceGroup, identity, properties | order by subscriptionId asc, resourceGroup asc, name asc",
			 dicom ? "'microsoft.healthcareapis/workspaces/dicomservices'" : "", dicom && (hb || cog) ? ", " : "",
			 hb ? "'microsoft.healthbot/healthbots'" : "", hb && cog ? ", " : "",
			 cog ? "'microsoft.cognitiveservices/accounts'" : "");
}

/* Builds one Resource Graph page request over subscriptions [from, to). */
static struct az_req *graph_page(struct run *r, const char *query, size_t from, size_t to, const char *skip)
{
	struct json_object *body = json_object_new_object(), *subs = json_object_new_array(), *opts = json_object_new_object();
	struct az_req *q;

	for (size_t i = from; i < to; i++)
		json_object_array_add(subs, json_object_new_string(r->subs[i]));
	json_object_object_add(body, "subscriptions", subs);
	json_object_object_add(body, "query", json_object_new_string(query));
	json_object_object_add(opts, "$top", json_object_new_int(PAGE_ROWS));
	if (skip)
		json_object_object_add(opts, "$skipToken", json_object_new_string(skip));
	json_object_object_add(opts, "resultFormat", json_object_new_string("objectArray"));
	json_object_object_add(body, "options", opts);
	q = az_session_req(r->s, AZ_ARM, "POST", "/providers/Microsoft.ResourceGraph/resources", RG_API, jx_text(body));
	json_object_put(body);
	return q;
}

/* Builds the request that lists a subscription's resources of the audited types, with their creation time. */
static struct az_req *generic_list(struct run *r, const char *sub, bool healthbots_only)
{
	char *path = xasprintf("/subscriptions/%s/resources?$filter=%s&$expand=createdTime", sub, healthbots_only
		? "resourceType%20eq%20'Microsoft.HealthBot/healthBots'"
		: "resourceType%20eq%20'Microsoft.HealthcareApis/workspaces/dicomservices'%20or%20resourceType%20eq%20"
		  "'Microsoft.HealthBot/healthBots'%20or%20resourceType%20eq%20'Microsoft.CognitiveServices/accounts'");
	struct az_req *q = az_session_req(r->s, AZ_ARM, "GET", path, RESOURCES_API, NULL);

	free(path);
	return q;
}

/* Records the creation times a resources list gave. */
static void note_created(struct run *r, struct json_object *items)
{
	for (size_t i = 0; i < jx_len(items); i++) {
		const char *id = jx_str(jx_at(items, i), "id"), *t = jx_str(jx_at(items, i), "createdTime");

		if (id && t) {
			char *k = str_lower(id);

			json_object_object_add(r->created, k, json_object_new_string(t));
			free(k);
		}
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
			const char *next = wave[i]->status == 200 ? jx_str(wave[i]->json, "nextLink") : NULL;
			struct az_req *follow = next && *next ? az_session_req(r->s, AZ_ARM, "GET", next, NULL, NULL) : NULL;

			if (wave[i]->status == 200)
				note_created(r, jx_get(wave[i]->json, "value"));
			if (pages > 0)
				az_req_free(wave[i]);
			if (follow)
				wave[k++] = follow;
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
static int refused(struct run *r, struct az_req *q, size_t from, bool first, struct az_error *e)
{
	char *what;

	if (from == 0 && first) {
		az_http_trace(az_session_http(r->s), "Resource Graph answered %ld; listing with ARM instead", q->status);
		return 1;
	}
	what = xasprintf("POST %s", q->url);
	az_error_from_req(e, q, what);
	free(what);
	return -1;
}

/*
 * Runs the Resource Graph query over subscriptions [from, to), page after
 * page; the first page goes with the healthcare agent services' lists, which
 * give their creation dates. Returns 1 when Resource Graph refused (use ARM).
 */
static int graph_batch(struct run *r, const char *query, size_t from, size_t to, struct az_error *e)
{
	bool hb = wanted(r->o, &SVC_PROFILES[SVC_HEALTHBOT]);
	size_t n = 1 + (hb ? to - from : 0);
	struct az_req **q = xcalloc(n, sizeof(*q));
	char *skip = NULL;
	int rc = 0;

	q[0] = graph_page(r, query, from, to, NULL);
	for (size_t i = 1; i < n; i++)
		q[i] = generic_list(r, r->subs[from + i - 1], true);
	for (bool first = true; rc == 0 && q[0]; first = false) {
		if (az_session_send(r->s, q, first ? n : 1, e) != 0) {
			rc = -1;
			break;
		}
		if (first)
			created_pages(r, q + 1, n - 1);
		if (q[0]->curl_code || q[0]->status != 200 || !json_object_is_type(jx_get(q[0]->json, "data"), json_type_array)) {
			rc = refused(r, q[0], from, first, e);
			break;
		}
		for (size_t i = 0; i < jx_len(jx_get(q[0]->json, "data")); i++)
			judge_row(r, jx_at(jx_get(q[0]->json, "data"), i));
		free(skip);
		skip = jx_str(q[0]->json, "$skipToken") ? xstrdup(jx_str(q[0]->json, "$skipToken")) : NULL;
		progress(r, "graph");
		az_req_free(q[0]);
		q[0] = skip ? graph_page(r, query, from, to, skip) : NULL;
	}
	for (size_t i = 0; i < n; i++)
		az_req_free(q[i]);
	free(q);
	free(skip);
	return rc;
}

/* Adds a finding for what a request could not read, with Azure's answer as the detail. */
static void unreadable(struct run *r, const char *rule, const char *id, const char *name, const struct az_req *q)
{
	struct az_error e = { 0 };
	char *what = xasprintf("GET %s", id);

	az_error_from_req(&e, q, what);
	audit_add_unreadable(r->a, rule, id, name, e.message);
	az_error_clear(&e);
	free(what);
}

/* Returns the api-version to read a resource with, by its type. */
static const char *api_for(const char *type)
{
	for (int i = 0; i < SVC_COUNT; i++)
		if (str_ieq(type, SVC_PROFILES[i].arm_type))
			return SVC_PROFILES[i].api_version;
	return SVC_PROFILES[SVC_OPENAI].api_version;
}

/* Returns how many of n items to read from at: BATCH, or what is left. */
static size_t batch_size(size_t n, size_t at)
{
	size_t left = n - at;

	return left > BATCH ? BATCH : left;
}

/* Reads resources by id, BATCH at a time, and judges each; a refused read is a resource.readable finding. */
static int read_each(struct run *r, struct json_object *items, struct az_error *e)
{
	size_t n = jx_len(items);

	for (size_t at = 0; at < n; at += BATCH) {
		size_t m = batch_size(n, at);
		struct az_req *q[BATCH];

		for (size_t i = 0; i < m; i++)
			q[i] = az_session_req(r->s, AZ_ARM, "GET", jx_str(jx_at(items, at + i), "id"),
					      api_for(jx_str(jx_at(items, at + i), "type")), NULL);
		if (az_session_send(r->s, q, m, e) != 0) {
			for (size_t i = 0; i < m; i++)
				az_req_free(q[i]);
			return -1;
		}
		for (size_t i = 0; i < m; i++) {
			struct json_object *it = jx_at(items, at + i);

			if (q[i]->status == 200) {
				if (jx_str(it, "createdTime") && !jx_get(q[i]->json, "systemData.createdAt"))
					jx_set(q[i]->json, "systemData.createdAt", json_object_new_string(jx_str(it, "createdTime")));
				judge(r, q[i]->json);
			} else if (q[i]->status != 404) {
				unreadable(r, "resource.readable", jx_str(it, "id"), jx_str(it, "name"), q[i]);
			}
			az_req_free(q[i]);
		}
		progress(r, "arm");
	}
	return 0;
}

/* Lists the audited resources of every subscription with ARM, concurrently, then reads and judges them. */
static int arm_lists(struct run *r, struct az_error *e)
{
	struct az_req **q = xcalloc(r->nsubs ? r->nsubs : 1, sizeof(*q));
	struct json_object *items = json_object_new_array();
	int rc;

	for (size_t i = 0; i < r->nsubs; i++)
		q[i] = generic_list(r, r->subs[i], false);
	rc = r->nsubs ? az_session_send(r->s, q, r->nsubs, e) : 0;
	for (size_t i = 0; rc == 0 && i < r->nsubs; i++) {
		struct json_object *value = q[i]->status == 200 ? jx_get(q[i]->json, "value") : NULL;
		const char *next = q[i]->status == 200 ? jx_str(q[i]->json, "nextLink") : NULL;
		struct json_object *rest = NULL;

		if (q[i]->status != 200) {
			char *sid = xasprintf("/subscriptions/%s", r->subs[i]);

			unreadable(r, "subscription.readable", sid, r->subs[i], q[i]);
			free(sid);
		}
		for (size_t k = 0; k < jx_len(value); k++)
			json_object_array_add(items, json_object_get(jx_at(value, k)));
		if (next && az_session_list(r->s, AZ_ARM, next, NULL, &rest, e) == 0)
			for (size_t k = 0; k < jx_len(rest); k++)
				json_object_array_add(items, json_object_get(jx_at(rest, k)));
		json_object_put(rest);
		az_error_clear(e);
	}
	for (size_t i = 0; i < r->nsubs; i++)
		az_req_free(q[i]);
	free(q);
	if (rc == 0)
		rc = read_each(r, items, e);
	json_object_put(items);
	return rc;
}

/* Decides the subscriptions in scope: those asked for (each one you cannot see is a finding), or all you can see. */
static int pick_subscriptions(struct run *r, struct az_error *e)
{
	struct json_object *visible = NULL;

	if (az_session_list(r->s, AZ_ARM, "/subscriptions", SUBS_API, &visible, e) != 0)
		return -1;
	r->subs = xcalloc(jx_len(visible) + r->o->nsubs + 1, sizeof(*r->subs));
	for (size_t i = 0; i < jx_len(visible) && !r->o->nsubs; i++) {
		struct json_object *v = jx_at(visible, i);

		audit_add_subscription(r->a, jx_str(v, "subscriptionId"), jx_str(v, "displayName"), true);
		r->subs[r->nsubs++] = r->a->subs[r->a->nsubs - 1].id;
	}
	for (size_t k = 0; k < r->o->nsubs; k++) {
		struct json_object *hit = NULL;

		for (size_t i = 0; i < jx_len(visible) && !hit; i++)
			if (str_ieq(jx_str(jx_at(visible, i), "subscriptionId"), r->o->subscriptions[k]) ||
			    str_ieq(jx_str(jx_at(visible, i), "displayName"), r->o->subscriptions[k]))
				hit = jx_at(visible, i);
		audit_add_subscription(r->a, hit ? jx_str(hit, "subscriptionId") : r->o->subscriptions[k],
				       hit ? jx_str(hit, "displayName") : "", hit != NULL);
		if (hit) {
			r->subs[r->nsubs++] = r->a->subs[r->a->nsubs - 1].id;
		} else {
			char *sid = xasprintf("/subscriptions/%s", r->o->subscriptions[k]);

			audit_add_unreadable(r->a, "subscription.readable", sid, r->o->subscriptions[k],
					     _("It is not among the subscriptions you can see."));
			free(sid);
		}
	}
	json_object_put(visible);
	return 0;
}

/* Runs the full check on each resource that uses a customer-managed key (--deep). */
static int deep_checks(struct run *r, struct az_error *e)
{
	for (size_t i = 0; i < r->ndeferred; i++) {
		struct cmk_target t = { .resource = r->deferred[i], .subscriptions = r->subs, .nsubs = r->nsubs };
		struct cmk_fetch f;
		struct cmk_report rep;

		if (cmk_fetch(r->s, &t, &f, e) != 0) {
			if (az_http_canceled(az_session_http(r->s))) {
				cmk_fetch_free(&f);
				return -1;
			}
			audit_add_unreadable(r->a, "resource.readable", r->deferred[i], NULL, e->message);
			az_error_clear(e);
		} else {
			f.ctx.now = r->a->generated;
			cmk_check(&f.ctx, &rep);
			audit_add_report(r->a, &f.ctx, &rep);
			cmk_report_free(&rep);
		}
		cmk_fetch_free(&f);
		progress(r, "deep");
	}
	return 0;
}

/*
 * Audits every resource of the four services in the subscriptions in scope:
 * one paged Resource Graph query (ARM lists where it is refused), the rules
 * over each resource, and with deep, the full check of each key in use.
 */
int cmk_audit(struct az_session *s, const struct survey_opts *o, struct audit_report *out, struct az_error *e)
{
	struct run r = { s, o, out, NULL, 0, json_object_new_object(), NULL, 0, 0 };
	char *query = graph_query_text(o);
	int rc;

	memset(out, 0, sizeof(*out));
	out->deep = o->deep;
	out->generated = o->now ? o->now : (int64_t)time(NULL);
	rc = pick_subscriptions(&r, e);
	progress(&r, "subscriptions");
	for (size_t from = 0; rc == 0 && from < r.nsubs; from += MAX_GRAPH_SUBS) {
		size_t to = r.nsubs - from > MAX_GRAPH_SUBS ? from + MAX_GRAPH_SUBS : r.nsubs;

		rc = graph_batch(&r, query, from, to, e);
		if (rc == 1) {
			rc = arm_lists(&r, e);
			break;
		}
	}
	if (rc == 0)
		rc = deep_checks(&r, e);
	audit_sort(out);
	for (size_t i = 0; i < r.ndeferred; i++)
		free(r.deferred[i]);
	free(r.deferred);
	free(r.subs);
	free(query);
	json_object_put(r.created);
	return rc;
}

/*
 * Lists the key vaults in the subscriptions (Resource Graph; ARM lists per
 * subscription where it is refused), as ARM returns them, into *vaults.
 */
int cmk_list_vaults(struct az_session *s, const char *const *subs, size_t nsubs, struct json_object **vaults,
		    struct az_error *e)
{
	struct run r = { s, NULL, NULL, (const char **)subs, nsubs, NULL, NULL, 0, 0 };
	struct az_req *q = graph_page(&r, "Resources | where type =~ 'microsoft.keyvault/vaults' | project id, name, type, "
				      "location, subscriptionId, resourceGroup, properties | order by name asc", 0, nsubs, NULL);
	int rc = az_session_send(s, &q, 1, e);

	*vaults = NULL;
	if (rc == 0 && q->status == 200 && json_object_is_type(jx_get(q->json, "data"), json_type_array))
		*vaults = json_object_get(jx_get(q->json, "data"));
	az_req_free(q);
	for (size_t i = 0; rc == 0 && !*vaults && i < nsubs; i++) {
		char *path = xasprintf("/subscriptions/%s/providers/Microsoft.KeyVault/vaults", subs[i]);
		struct json_object *items = NULL;

		if (i == 0)
			*vaults = json_object_new_array();
		if (az_session_list(s, AZ_ARM, path, "2024-11-01", &items, e) == 0)
			for (size_t k = 0; k < jx_len(items); k++)
				json_object_array_add(*vaults, json_object_get(jx_at(items, k)));
		az_error_clear(e);
		json_object_put(items);
		free(path);
	}
	return rc;
}
