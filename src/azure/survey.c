/* The audit's reads: subscriptions, one paged Resource Graph query (or ARM
 * lists), and the deep check of keys in use. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "armid.h"
#include "audit.h"
#include "fetch.h"
#include "i18n.h"
#include "idmap.h"
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
/* Creation lists read beside a Resource Graph page: each in a subscription of
 * its own, so Resource Manager's per-subscription throttling is not pressed;
 * with the page, within the engine's 32 connections to a host. */
#define MAX_LISTS 31
/* Rows held waiting on creation lists before the next page waits for them: one
 * page's worth (two held 1 MiB more at 1,000 subscriptions, for no time). */
#define HOLD_ROWS PAGE_ROWS
#define MAX_LIST_PAGES 100 /* pages read of one creation list */
/* Pages of one Resource Graph query read at most (10 million rows): past it the
 * answer loops or never ends, and the audit stops. */
#define MAX_GRAPH_PAGES 10000
/* Resources the lists read ahead of their rows may name at once, beyond the
 * next subscription's, which is always read ahead: each costs about 200 bytes
 * kept and 1 KiB of answer while its list is under way (2,000 raised the
 * audit's peak by 1.2 MiB at 10,000 resources in 20 subscriptions). */
#define AHEAD_ENTRIES 500
/* Deep checks read ahead in one wave at most (each about ten requests), among
 * the next DEEP_SCAN rows held. */
#define DEEP_WAVE 16
#define DEEP_SCAN 64

/*
 * One subscription's ARM resources list of the services eligible by creation
 * day, read page after page beside Resource Graph's: the creation times of
 * its rows that wait on it.
 */
struct dated {
	char *sub;            /* the scope after /subscriptions/: "{id}", or
				 "{id}/resourceGroups/{name}" */
	struct idmap created; /* id -> createdTime */
	bool started;         /* its first page was asked for */
	bool busy;            /* a page of it is under way */
	char *next;           /* the page to ask for next, or NULL */
	int pages;            /* pages read */
	char *failed; /* why it could not be read (its rows cannot be judged),
			 or NULL */
	bool denied;  /* ARM refused the subscription's list (403): its rows
			 wait on their resource group's list instead */
	int64_t expected; /* how many resources Resource Graph counted there
			     (read ahead of its rows), else 0 */
	bool ahead;       /* read ahead, and no row has reached it yet */
};

/* A subscription with resources that wait on a creation list, and how many
 * Resource Graph counted there: the census read beside the first page. */
struct census {
	char *sub;
	int64_t n;
};

/* A Resource Graph row not yet judged: it, or a row before it, waits on a
 * creation list. Kept as its JSON text, a third of its parsed size. */
struct held {
	char *text;
	bool dated; /* it waits on its creation list itself */
	bool deep;  /* it is checked in full (deep_row, asked once) */
};

/* A deep check's read, made ahead of its row's turn in a wave of several
 * (read_ahead_deep), or when its turn came. */
struct deep_read {
	char *id; /* the resource's */
	struct cmk_fetch f;
	struct az_error e;
	int rc;
};

/* What one audit run carries from step to step. */
struct run {
	struct az_session *s;
	const struct survey_opts *o;
	struct audit_report *a; /* the subscriptions in scope (and deep, time):
				   what the sink's begin sees */
	const char **subs;      /* readable subscriptions in scope */
	size_t nsubs;
	struct dated **dated; /* the creation lists kept: of the subscriptions
				 whose rows wait on them, in order */
	size_t ndated;
	struct held *rows; /* Resource Graph rows not yet handed to the sink, in
			      order, from hhead */
	size_t hhead, nheld, capheld;
	struct census *census; /* the subscriptions whose creation lists are
				  read ahead of their rows, in Resource Graph's
				  order, from cnext */
	size_t ncensus, cnext;
	char *last_sub; /* the subscription of the last row taken in */
	struct json_object *reached; /* the lower-case ids of the subscriptions
					rows have come from */
	struct json_object *scope;   /* the lower-case ids of the batch's
					subscriptions: rows of others are left
					out */
	bool tenant;                 /* the query is asked at tenant scope */
	bool rows_done;              /* the batch's last page was taken in */
	bool foreign; /* a subscription listed is of another tenant */
	size_t seen;  /* resources judged so far */
	const struct survey_sink *sink;
	bool begun;                 /* the sink's begin was called */
	struct audit_report held;   /* subscription findings, handed over after
				       the resources */
	struct json_object *vaults; /* deep checks: the ARM id each key vault
				       (or HSM) was read at, by its URI in
				       lower case */
	struct deep_read *pre; /* deep checks read ahead of their rows' turn */
	size_t npre;
	int rc; /* -1 once canceled while judging rows */
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

/* Says what an audit's progress stage stands for, translated (an unknown
 * stage as it is). */
const char *survey_stage_text(const char *stage)
{
	static const struct {
		const char *stage, *text;
	} T[] = {
		{ "subscriptions", N_("listing the subscriptions") },
		{ "graph", N_("reading Resource Graph") },
		{ "quota", N_("waiting for Resource Graph's query quota") },
		{ "arm", N_("listing with Resource Manager") },
		{ "deep", N_("checking the keys in use") },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		if (strcmp(T[i].stage, stage) == 0)
			return _(T[i].text);
	return stage;
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

/* Finds the audit's entry for a key's vault (looked up by its whole text, in
 * lower case: a URI's dots are no path): true when there is one, with *id the
 * ARM id to hand on, or NULL when a check found that its hint did not hold. */
static bool vault_entry(const struct run *r, const struct key_ref *k,
			struct json_object **id)
{
	char *low = k->vault_uri ? str_lower(k->vault_uri) : NULL;
	bool known = low && r->vaults &&
		     json_object_object_get_ex(r->vaults, low, id);

	free(low);
	return known;
}

/* Returns the ARM id a deep check read the vault of a key reference at (or a
 * lookup found it at), or NULL when none did; borrowed until the next
 * note_vault. */
static const char *vault_seen(const struct run *r, const struct key_ref *k)
{
	struct json_object *id = NULL;

	return vault_entry(r, k, &id) &&
			       json_object_is_type(id, json_type_string)
		       ? json_object_get_string(id)
		       : NULL;
}

/* Notes the ARM id at which a deep check read its key's vault, when ARM
 * answered with that very vault; else that no id is to be handed on for it
 * (a lookup's hint that a check did not bear out is not tried again). */
static void note_vault(struct run *r, const struct cmk_fetch *f)
{
	const char *id = cmk_fetch_vault_id(f);
	char *low;

	if (!f->ctx.keyref.vault_uri)
		return;
	if (!r->vaults)
		r->vaults = json_object_new_object();
	low = str_lower(f->ctx.keyref.vault_uri);
	json_object_object_add(r->vaults, low,
			       id ? json_object_new_string(id) : NULL);
	free(low);
}

/* Fills a deep check's target: the resource, and on the word of the resource
 * as listed (c, and the key it names) the identity's principal, the key and
 * the id an earlier check read that key's vault at. */
static void deep_target(const struct run *r, const char *id,
			const struct cmk_ctx *c, const char *key,
			struct cmk_target *t)
{
	memset(t, 0, sizeof(*t));
	t->resource = id;
	t->subscriptions = r->subs;
	t->nsubs = r->nsubs;
	t->vault_id = vault_seen(r, &c->keyref);
	t->principal = cmk_principal(c);
	t->expect_key = key;
	/* Resource Graph's word: only a well-formed object id is asked for. */
	if (!is_uuid(t->principal))
		t->principal = NULL;
}

/* Returns where the read made ahead for a resource's deep check is kept, or
 * r->npre when there is none. */
static size_t deep_find(const struct run *r, const char *id)
{
	size_t i = 0;

	while (i < r->npre && strcmp(r->pre[i].id, id) != 0)
		i++;
	return i;
}

/* Takes the read made ahead for a resource's deep check into *d, when there is
 * one. */
static bool deep_taken(struct run *r, const char *id, struct deep_read *d)
{
	size_t i = deep_find(r, id);

	if (i == r->npre)
		return false;
	*d = r->pre[i];
	r->pre[i] = r->pre[--r->npre];
	return true;
}

/* Tells whether a resource's deep check was read ahead. */
static bool deep_ahead(const struct run *r, const char *id)
{
	return deep_find(r, id) < r->npre;
}

/* Frees what a deep check read. */
static void deep_read_free(struct deep_read *d)
{
	free(d->id);
	cmk_fetch_free(&d->f);
	az_error_clear(&d->e);
	memset(d, 0, sizeof(*d));
}

/*
 * Runs the full check of a resource on a customer-managed key (--deep) into
 * part, from the read made ahead for it or else one made now; what cannot be
 * read is a resource.readable finding. -1 when canceled. c is the context
 * judged from the resource as listed, and key the key it names (deep_target).
 */
static int deep_check(struct run *r, const char *id, const struct cmk_ctx *c,
		      const char *key, struct audit_report *part)
{
	struct deep_read d = { 0 };
	struct cmk_report rep;
	int rc = 0;

	if (!deep_taken(r, id, &d)) {
		struct cmk_target t;

		deep_target(r, id, c, key, &t);
		d.rc = cmk_fetch(r->s, &t, &d.f, &d.e);
		if (d.rc == 0)
			note_vault(r, &d.f);
	}
	if (d.rc != 0) {
		rc = az_http_canceled(az_session_http(r->s)) ? -1 : 0;
		audit_add_unreadable(part, "resource.readable", id, NULL,
				     d.e.message);
	} else {
		d.f.ctx.now = r->a->generated;
		cmk_check(&d.f.ctx, &rep);
		audit_add_report(part, &d.f.ctx, &rep);
		cmk_report_free(&rep);
	}
	deep_read_free(&d);
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
	c->uai_id = cmk_identity_in_use(p, res, &c->user_identity);
	c->user_identity |= c->uai_id != NULL;
	if (key && key_ref_parse(key, &sfx, k, &why))
		c->keyref = *k;
	return key;
}

/*
 * Judges one resource from what was read (with --deep, the full check of one on
 * CMK) into part; undated says why its creation time could not be read, or is
 * NULL. Leaves part empty for a service not asked for.
 */
static int judge_part(struct run *r, struct json_object *res,
		      const char *undated, struct audit_report *part)
{
	const struct svc_profile *p =
		svc_for_resource(jx_str(res, "type"), jx_str(res, "kind"));
	struct cmk_ctx c;
	struct cmk_report rep;
	struct key_ref k = { 0 };
	char *key;
	int rc = 0;

	if (!wanted(r->o, p))
		return 0;
	r->seen++;
	key = shallow_ctx(r, p, res, &c, &k);
	c.created_unread = undated;
	if (r->o->deep && cmk_resource_on_cmk(&c) && jx_str(res, "id")) {
		rc = deep_check(r, jx_str(res, "id"), &c, key, part);
	} else {
		cmk_check(&c, &rep);
		audit_add_report(part, &c, &rep);
		cmk_report_free(&rep);
	}
	audit_add_resource(part, &c, key);
	free(key);
	key_ref_free(&k);
	return rc;
}

/* Judges one resource read with ARM and hands it to the sink. */
static int judge(struct run *r, struct json_object *res)
{
	struct audit_report part = { 0 };
	int rc = judge_part(r, res, NULL, &part);

	if (part.nres || part.n)
		emit(r, &part);
	audit_free(&part);
	return rc;
}

/* Returns the creation time a subscription's list gave for a resource, or
 * NULL. */
static const char *created_of(const struct dated *d, const char *id)
{
	return idmap_get(&d->created, id);
}

/*
 * Judges a Resource Graph row into part, rebuilt as the resource ARM would
 * return, with the creation time its subscription's list gave (d, for the
 * services eligible by creation day; else NULL), or why that list could not
 * be read.
 */
static void judge_row(struct run *r, struct json_object *row,
		      const struct dated *d, struct audit_report *part)
{
	const char *created = d ? created_of(d, jx_str(row, "id")) : NULL,
		   *undated = NULL;
	struct json_object *res;

	if (r->rc != 0)
		return;
	/* A list read (perhaps ahead of the row) that does not name the
	 * resource leaves its date unknown, never a pass. */
	if (d && !created)
		undated = d->failed ? d->failed
				    : _("its subscription's list of resources "
					"did not name it (created or deleted "
					"while the audit ran?); audit again");
	res = audit_resource_from_row(row, created);
	r->rc = judge_part(r, res, undated, part);
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

/*
 * Builds the census query: how many resources of the services asked that are
 * eligible by creation day each subscription holds (by type: a service that
 * shared its type with another would only have more lists read ahead); NULL
 * when no such service is asked.
 */
static char *census_query_text(const struct survey_opts *o)
{
	struct sbuf b = SBUF_INIT;
	char *q;

	for (size_t i = 0; i < SVC_NPROFILES; i++) {
		const struct svc_profile *p = &SVC_PROFILES[i];
		char *low;

		if (!p->cmk_since || !wanted(o, p))
			continue;
		low = str_lower(p->arm_type);
		sb_printf(&b, "%s'%s'", b.len ? ", " : "", low);
		free(low);
	}
	q = b.len ? xasprintf("Resources | where type in~ (%s) | summarize n "
			      "= count() by subscriptionId | order by "
			      "subscriptionId asc",
			      sb_str(&b))
		  : NULL;
	sb_free(&b);
	return q;
}

/* Builds one Resource Graph page request over subscriptions [from, to), or,
 * while r->tenant is set, at tenant scope. */
static struct az_req *graph_page(struct run *r, const char *query, size_t from,
				 size_t to, const char *skip)
{
	struct json_object *body = json_object_new_object(),
			   *opts = json_object_new_object();
	struct az_req *q;

	/* At tenant scope, Resource Graph reads every subscription the caller
	 * may see: subscriptions is optional in QueryRequest, and the
	 * "Basic tenant query" example (ResourcesTenantBasicQuery.json)
	 * sends the query alone (resourcegraph.json 2022-10-01). Without
	 * options.allowPartialScopes, a tenant past Resource Graph's limit of
	 * subscriptions is refused rather than answered in part, and the
	 * audit then asks by subscription. */
	if (!r->tenant) {
		struct json_object *subs = json_object_new_array();

		for (size_t i = from; i < to; i++)
			json_object_array_add(
				subs, json_object_new_string(r->subs[i]));
		json_object_object_add(body, "subscriptions", subs);
	}
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

/* Records the creation time of one resources list item (a scan callback). */
static void note_created(struct json_object *item, void *ud)
{
	struct dated *d = ud;
	const char *id = jx_str(item, "id"), *t = jx_str(item, "createdTime");

	if (id && t)
		idmap_put(&d->created, id, t);
}

/*
 * Tells whether a row is of a service asked that is eligible by creation day
 * (the healthcare agent service): Resource Graph does not give that date, so
 * the row waits on its subscription's ARM resources list ($expand=createdTime).
 * Resource Graph's rows have no systemData, and its creation time is "not a
 * common property across resource types" (Microsoft's Azure PowerShell team,
 * https://github.com/Azure/azure-powershell/issues/18457); the tables it
 * documents (resources: id, name, type, kind, location, properties, ...)
 * name no creation time either.
 */
static bool needs_date(const struct run *r, struct json_object *row)
{
	const struct svc_profile *p =
		svc_for_resource(jx_str(row, "type"), jx_str(row, "kind"));

	return wanted(r->o, p) && p->cmk_since;
}

/* Finds the creation list of a subscription among those kept, or NULL. */
static struct dated *dated_find(const struct run *r, const char *sub)
{
	for (size_t i = 0; i < r->ndated; i++)
		if (str_ieq(r->dated[i]->sub, sub))
			return r->dated[i];
	return NULL;
}

/* Returns the creation list of a subscription, noting a new one to be read
 * when none is kept. */
static struct dated *dated_for(struct run *r, const char *sub)
{
	struct dated *d = dated_find(r, sub);

	if (d)
		return d;
	d = xcalloc(1, sizeof(*d));
	d->sub = xstrdup(sub);
	r->dated = xrealloc(r->dated, (r->ndated + 1) * sizeof(*r->dated));
	r->dated[r->ndated++] = d;
	return d;
}

/* Frees a creation list. */
static void dated_free(struct dated *d)
{
	free(d->sub);
	idmap_free(&d->created);
	free(d->next);
	free(d->failed);
	free(d);
}

/* Tells whether a creation list has been read to its end, or failed. */
static bool dated_done(const struct dated *d)
{
	return d->started && !d->next && !d->busy;
}

/* Tells whether a creation list's scope is in the subscription sub. */
static bool in_sub(const struct dated *d, const char *sub)
{
	size_t n = strlen(sub);

	return str_istarts(d->sub, sub) &&
	       (d->sub[n] == '\0' || d->sub[n] == '/');
}

/*
 * Returns the creation list that stands for the rows whose subscription or
 * resource group cannot be a path segment (empty, "..", a control character):
 * never read, it says why their creation dates are unknown.
 */
static struct dated *dated_unnamable(struct run *r)
{
	struct dated *d = dated_for(r, "");

	if (!d->failed) {
		d->failed = xstrdup(
			_("Resource Graph gave it a subscription or resource "
			  "group that cannot be a name in a Resource Manager "
			  "path, so its creation date cannot be asked for"));
		d->started = true;
	}
	return d;
}

/*
 * Returns the creation list a row waits on, noting it to be read when new: its
 * subscription's, or where ARM refused that one (the operator reads only some
 * resource groups), its resource group's.
 */
static struct dated *dated_of_row(struct run *r, struct json_object *row)
{
	char *sub = wire_segment_escape(jx_str(row, "subscriptionId")),
	     *group = NULL, *scope = NULL;
	struct dated *d = sub ? dated_for(r, sub) : NULL;

	if (d && d->denied &&
	    (group = wire_segment_escape(jx_str(row, "resourceGroup"))))
		scope = xasprintf("%s/resourceGroups/%s", sub, group);
	if (d && d->denied)
		d = scope ? dated_for(r, scope) : NULL;
	free(sub);
	free(group);
	free(scope);
	return d ? d : dated_unnamable(r);
}

/* Notes the resource group lists that the held rows of subscriptions ARM
 * refused to list wait on. */
static void rescope(struct run *r)
{
	for (size_t i = r->hhead; i < r->nheld; i++) {
		struct json_object *row =
			r->rows[i].dated ? json_tokener_parse(r->rows[i].text)
					 : NULL;

		if (row)
			dated_of_row(r, row);
		json_object_put(row);
	}
}

/*
 * Frees the creation lists read to the end that come before the one of the
 * subscription sub (rows come ordered by subscription: no row of theirs is
 * left to judge; a stray one would have its list read again).
 */
static void retire(struct run *r, const char *sub)
{
	char *key = wire_segment_escape(sub);
	size_t k = 0;

	/* A list read ahead waits for its rows, whatever comes before it. */
	while (k < r->ndated && dated_done(r->dated[k]) &&
	       !r->dated[k]->ahead && !in_sub(r->dated[k], key ? key : ""))
		dated_free(r->dated[k++]);
	free(key);
	/* Nothing freed, nothing to move (and no array yet, perhaps: memmove
	 * must not see NULL, even for no bytes). */
	if (k == 0)
		return;
	memmove(r->dated, r->dated + k, (r->ndated - k) * sizeof(*r->dated));
	r->ndated -= k;
}

/* Counts the resources whose creation times the lists kept hold, or will
 * once read (as the census counted them). */
static int64_t kept_entries(const struct run *r)
{
	int64_t n = 0;

	for (size_t i = 0; i < r->ndated; i++) {
		int64_t have = (int64_t)r->dated[i]->created.n;

		n += r->dated[i]->expected > have ? r->dated[i]->expected
						  : have;
	}
	return n;
}

/*
 * Notes ahead the creation lists of the subscriptions the census named that
 * no row has reached yet, in its order: always the next one, and more while
 * the lists kept hold fewer than AHEAD_ENTRIES resources (MAX_LISTS lists
 * ahead at most), until the last page is in. Their rows then find the dates
 * read instead of waiting a round trip or two at each subscription.
 */
static void read_ahead(struct run *r)
{
	while (!r->rows_done && r->cnext < r->ncensus) {
		const struct census *c = &r->census[r->cnext];
		size_t ahead = 0;
		char *low, *key;
		bool came;

		for (size_t i = 0; i < r->ndated; i++)
			ahead += r->dated[i]->ahead;
		if (ahead >= MAX_LISTS ||
		    (ahead > 0 && kept_entries(r) >= AHEAD_ENTRIES))
			return;
		/* A subscription rows came from already (before the census
		 * did) has its list read, or retired: never again. */
		low = str_lower(c->sub);
		came = r->reached &&
		       json_object_object_get_ex(r->reached, low, NULL);
		free(low);
		key = wire_segment_escape(c->sub);
		if (!came && key && !dated_find(r, key)) {
			struct dated *d = dated_for(r, key);

			d->expected = c->n;
			d->ahead = true;
		}
		free(key);
		r->cnext++;
	}
}

/*
 * Follows the rows' subscription (once per subscription): it is noted as
 * reached, and the census's subscriptions up to it need nothing read ahead
 * any more.
 */
static void census_reached(struct run *r, const char *sub)
{
	struct dated *d;
	char *k;

	if (!sub || (r->last_sub && str_ieq(r->last_sub, sub)))
		return;
	k = wire_segment_escape(sub);
	if (k && (d = dated_find(r, k)) != NULL)
		d->ahead = false;
	free(k);
	free(r->last_sub);
	r->last_sub = xstrdup(sub);
	if (!r->reached)
		r->reached = json_object_new_object();
	k = str_lower(sub);
	json_object_object_add(r->reached, k, json_object_new_boolean(1));
	free(k);
	for (size_t i = r->cnext; i < r->ncensus; i++)
		if (str_ieq(r->census[i].sub, sub)) {
			r->cnext = i + 1;
			return;
		}
}

/*
 * Tells whether a row is one the deep audit checks in full: a service asked,
 * with an id, on a customer-managed key as listed (judge_part's test).
 */
static bool deep_row(const struct run *r, struct json_object *row)
{
	const struct svc_profile *p =
		svc_for_resource(jx_str(row, "type"), jx_str(row, "kind"));
	struct json_object *res;
	bool on;

	if (!r->o->deep || !wanted(r->o, p) || !jx_str(row, "id"))
		return false;
	res = audit_resource_from_row(row, NULL);
	on = svc_on_cmk(p, res);
	json_object_put(res);
	return on;
}

/* A held row whose deep check is read ahead: the resource as listed, the
 * context judged from it and the key it names. */
struct ahead {
	struct json_object *res;
	struct cmk_ctx c;
	struct key_ref k;
	char *key;
};

/* Keeps a deep check's read for its row's turn (taking what f and e hold). */
static void keep_read(struct run *r, const char *id, const struct cmk_fetch *f,
		      const struct az_error *e, int rc)
{
	struct deep_read *d;

	r->pre = xrealloc(r->pre, (r->npre + 1) * sizeof(*r->pre));
	d = &r->pre[r->npre++];
	d->id = xstrdup(id);
	d->f = *f;
	d->e = *e;
	d->rc = rc;
	if (rc == 0)
		note_vault(r, f);
}

/* Finds the held rows, from the next one on, whose deep checks are to be read
 * ahead (DEEP_WAVE at most, among DEEP_SCAN rows); returns how many. */
static size_t deep_ahead_rows(struct run *r, struct ahead *v)
{
	size_t n = 0;

	for (size_t i = r->hhead;
	     i < r->nheld && i - r->hhead < DEEP_SCAN && n < DEEP_WAVE; i++) {
		struct json_object *row;
		const struct svc_profile *p;

		if (!r->rows[i].deep)
			continue;
		row = json_tokener_parse(r->rows[i].text);
		p = svc_for_resource(jx_str(row, "type"), jx_str(row, "kind"));
		if (row && !deep_ahead(r, jx_str(row, "id"))) {
			memset(&v[n], 0, sizeof(v[n]));
			v[n].res = audit_resource_from_row(row, NULL);
			v[n].key =
				shallow_ctx(r, p, v[n].res, &v[n].c, &v[n].k);
			n++;
		}
		json_object_put(row);
	}
	return n;
}

/* Tells whether the audit has an entry for a key's vault: an id to hand on,
 * or none, a check having found that its hint did not hold. */
static bool vault_known(const struct run *r, const struct key_ref *k)
{
	struct json_object *id;

	return vault_entry(r, k, &id);
}

/* Looks up at once, as hints for their checks (cmk_find_vaults), the vaults
 * of the keys read ahead that the audit knows nothing of yet. */
static void find_vaults_ahead(struct run *r, const struct ahead *v, size_t n)
{
	const struct key_ref *keys[DEEP_WAVE];
	struct json_object *found;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].c.keyref.vault_uri && !vault_known(r, &v[i].c.keyref))
			keys[m++] = &v[i].c.keyref;
	if (!m)
		return;
	found = cmk_find_vaults(r->s, keys, m, r->subs, r->nsubs);
	if (!r->vaults)
		r->vaults = json_object_new_object();
	json_object_object_foreach(found, uri, id)
		json_object_object_add(r->vaults, uri, json_object_get(id));
	json_object_put(found);
}

/*
 * Reads ahead the deep checks of the next held rows, so that they go in one
 * wave rather than one after another: the vaults no check has read yet are
 * looked up at once; a check whose vault was not found is fetched alone (the
 * usual way says what is wrong); then all the others at once
 * (cmk_fetch_many), each in the usual way when its reads do not bear out
 * what its row and the lookup said.
 */
static void read_ahead_deep(struct run *r)
{
	struct ahead v[DEEP_WAVE];
	struct cmk_target t[DEEP_WAVE];
	struct cmk_fetch f[DEEP_WAVE];
	struct az_error e[DEEP_WAVE];
	char *hint[DEEP_WAVE]; /* the wave's vault ids, its own: a check read
				  alone meanwhile may replace the memo's */
	int rc[DEEP_WAVE];
	size_t n = deep_ahead_rows(r, v), m = 0, at[DEEP_WAVE];
	bool sent;

	progress(r, "deep");
	find_vaults_ahead(r, v, n);
	for (size_t i = 0; i < n && !az_http_canceled(az_session_http(r->s));
	     i++) {
		const char *id = jx_str(v[i].res, "id");

		deep_target(r, id, &v[i].c, v[i].key, &t[m]);
		if (t[m].vault_id) {
			hint[m] = xstrdup(t[m].vault_id);
			t[m].vault_id = hint[m];
			at[m++] = i;
			continue;
		}
		memset(&e[0], 0, sizeof(e[0]));
		rc[0] = cmk_fetch(r->s, &t[m], &f[0], &e[0]);
		keep_read(r, id, &f[0], &e[0], rc[0]);
	}
	memset(e, 0, sizeof(e));
	sent = m && !az_http_canceled(az_session_http(r->s));
	if (sent)
		cmk_fetch_many(r->s, t, m, f, e, rc);
	for (size_t j = 0; j < m; j++) {
		if (sent)
			keep_read(r, jx_str(v[at[j]].res, "id"), &f[j], &e[j],
				  rc[j]);
		free(hint[j]);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		key_ref_free(&v[i].k);
		json_object_put(v[i].res);
	}
}

/*
 * Judges a Resource Graph row and hands it to the sink, with the creation
 * list it waited on (d), if any.
 */
static void write_row(struct run *r, struct json_object *row,
		      const struct dated *d)
{
	struct audit_report part = { 0 };

	judge_row(r, row, d, &part);
	if (part.nres || part.n)
		emit(r, &part);
	audit_free(&part);
}

/* Tells whether a row is of one of the batch's subscriptions. */
static bool in_batch(const struct run *r, struct json_object *row)
{
	const char *id = jx_str(row, "subscriptionId");
	char *sub = str_lower(id ? id : "");
	bool in = json_object_object_get_ex(r->scope, sub, NULL);

	free(sub);
	return in;
}

/*
 * Takes in a Resource Graph row (a scan callback): judged and handed to the
 * sink at once, unless it needs a creation date still being read (its list
 * is noted to be read) or a row before it waits; then held. A row of a
 * subscription not in the batch is left out: at tenant scope, one not
 * audited; else one Resource Graph had no business giving.
 */
static void hold_row(struct json_object *row, const char *text, size_t len,
		     void *ud)
{
	struct run *r = ud;
	struct dated *d;
	bool deep;

	if (!in_batch(r, row))
		return;
	census_reached(r, jx_str(row, "subscriptionId"));
	d = needs_date(r, row) ? dated_of_row(r, row) : NULL;
	deep = deep_row(r, row);

	/* A row checked in full waits, so that its check goes in one wave
	 * with the next ones' (drain, read_ahead_deep). */
	if (r->hhead == r->nheld && (!d || dated_done(d)) && !deep) {
		if (d)
			retire(r, jx_str(row, "subscriptionId")
					  ? jx_str(row, "subscriptionId")
					  : "");
		write_row(r, row, d);
		return;
	}
	if (r->nheld == r->capheld) {
		r->capheld = r->capheld ? r->capheld * 2 : PAGE_ROWS;
		r->rows = xrealloc(r->rows, r->capheld * sizeof(*r->rows));
	}
	/* The row's own bytes, not written again from the parsed row: the
	 * same parser read them once already. */
	r->rows[r->nheld].text = xstrndup(text, len);
	r->rows[r->nheld].deep = deep;
	r->rows[r->nheld++].dated = d != NULL;
}

/*
 * Judges the held rows and hands them to the sink in order, up to the first
 * whose creation list is still being read (so the sink sees them in Resource
 * Graph's order), and forgets them.
 */
static void drain(struct run *r)
{
	while (r->hhead < r->nheld) {
		struct held *h = &r->rows[r->hhead];
		struct json_object *row = json_tokener_parse(h->text);
		struct dated *d = row && h->dated ? dated_of_row(r, row) : NULL;

		if (d && !dated_done(d)) {
			json_object_put(row);
			break;
		}
		if (d)
			retire(r, jx_str(row, "subscriptionId")
					  ? jx_str(row, "subscriptionId")
					  : "");
		if (row && r->rc == 0 && h->deep &&
		    !deep_ahead(r, jx_str(row, "id")))
			read_ahead_deep(r);
		if (row)
			write_row(r, row, d);
		json_object_put(row);
		free(h->text);
		r->hhead++;
	}
	/* Nothing written, nothing to move (and no array yet, perhaps: memmove
	 * must not see NULL, even for no bytes). */
	if (r->hhead == 0)
		return;
	memmove(r->rows, r->rows + r->hhead,
		(r->nheld - r->hhead) * sizeof(*r->rows));
	r->nheld -= r->hhead;
	r->hhead = 0;
}

/* Forgets the rows still held and every creation list (the batch ended or
 * failed). */
static void release(struct run *r)
{
	for (size_t i = r->hhead; i < r->nheld; i++)
		free(r->rows[i].text);
	free(r->rows);
	r->rows = NULL;
	r->hhead = r->nheld = r->capheld = 0;
	for (size_t i = 0; i < r->ndated; i++)
		dated_free(r->dated[i]);
	free(r->dated);
	r->dated = NULL;
	r->ndated = 0;
	for (size_t i = 0; i < r->ncensus; i++)
		free(r->census[i].sub);
	free(r->census);
	r->census = NULL;
	r->ncensus = r->cnext = 0;
	free(r->last_sub);
	r->last_sub = NULL;
	json_object_put(r->reached);
	r->reached = NULL;
}

/* Where a batch of Resource Graph pages stands. */
struct batch {
	const char *query;
	size_t from, to; /* its subscriptions */
	bool first;      /* no page has been read yet */
	bool paging;     /* a page is under way */
	bool more;       /* a page is left to ask for */
	char *skip;      /* the next page's token, or NULL after the last */
	long rows;       /* rows its pages gave so far */
	int pages;       /* pages taken in */
	struct json_object *tokens; /* the $skipTokens its pages gave, as a set
				     */
	int64_t counted; /* the rows its first page said match, or -1 */
	int rc;          /* 1: Resource Graph refused; -1: failed */
};

/* A request under way: a Resource Graph page (d NULL), the census, or a page
 * of a creation list. */
struct flight {
	struct az_req *q;
	struct dated *d;
	bool census;
};

/* Adds to f the requests for the next pages of the creation lists not under
 * way, in the order their subscriptions came, up to max in all; returns how
 * many f holds now. */
static size_t start_lists(struct run *r, struct flight *f, size_t n, size_t max)
{
	read_ahead(r);
	for (size_t i = 0; i < r->ndated && n < max; i++) {
		struct dated *d = r->dated[i];

		if (d->busy || dated_done(d))
			continue;
		f[n].q = d->started ? az_session_req(r->s, AZ_ARM, "GET",
						     d->next, NULL, NULL)
				    : generic_list(r, d->sub, true);
		f[n].q->raw_json = true;
		f[n].d = d;
		f[n].census = false;
		d->started = d->busy = true;
		free(d->next);
		d->next = NULL;
		n++;
	}
	return n;
}

/*
 * Takes in one page of a creation list: its times and the next page to read,
 * or why it could not be read (its rows cannot be judged); true when ARM
 * refused a subscription's list, whose rows then wait on their resource
 * groups' lists.
 */
static bool list_answer(struct dated *d, const struct az_req *q)
{
	struct az_error e = { 0 };
	char *what;

	d->busy = false;
	if (!q->curl_code && q->status == 200) {
		jscan_each(q->resp_body, q->resp_len, "value", note_created, d);
		idmap_seal(&d->created);
		d->next = jscan_string(q->resp_body, q->resp_len, "nextLink");
		if (d->next && (!*d->next || ++d->pages >= MAX_LIST_PAGES)) {
			free(d->next);
			d->next = NULL;
		}
		return false;
	}
	if (q->status == 403 && !strchr(d->sub, '/')) {
		d->denied = true;
		return true;
	}
	what = xasprintf("GET %s", q->url);
	az_error_from_req(&e, q, what);
	free(d->failed);
	d->failed = xasprintf(
		_("the creation dates in /subscriptions/%s could not be read "
		  "(%s)"),
		d->sub, e.message ? e.message : "?");
	az_error_clear(&e);
	free(what);
	return false;
}
/* What the census's rows are checked against: the batch's subscriptions. */
struct census_scan {
	struct run *r;
	struct json_object *subs; /* lower-case subscription id -> its index in
				     r->subs */
};

/*
 * Takes in one row of the census (a scan callback): a subscription of the
 * batch and its count. The answer only says what to read ahead, and only
 * for a subscription azcmk listed itself: the list is asked for with that
 * one's id, never with text from the answer.
 */
static void note_census(struct json_object *row, void *ud)
{
	struct census_scan *c = ud;
	struct run *r = c->r;
	const char *sub = jx_str(row, "subscriptionId");
	int64_t n = jx_int(row, "n", 0);
	struct json_object *at = NULL;
	char *k;

	if (!sub || n <= 0)
		return;
	/* A list is read to MAX_LIST_PAGES pages of 1,000 at most. */
	n = n > MAX_LIST_PAGES * 1000 ? MAX_LIST_PAGES * 1000 : n;
	k = str_lower(sub);
	if (json_object_object_get_ex(c->subs, k, &at)) {
		r->census = xrealloc(r->census,
				     (r->ncensus + 1) * sizeof(*r->census));
		r->census[r->ncensus].sub =
			xstrdup(r->subs[json_object_get_int(at)]);
		r->census[r->ncensus++].n = n;
		/* Counted once: a subscription named twice is read ahead
		 * once. */
		json_object_object_del(c->subs, k);
	}
	free(k);
}

/*
 * Takes in the census's answer, read beside the first page: the subscriptions
 * of the batch whose rows will wait on creation lists, in Resource Graph's
 * order. Without it (refused, or an answer that cannot be read), the lists
 * are asked for as their rows come, as they always can be.
 */
static void census_answer(struct run *r, const struct az_req *q,
			  const struct batch *b)
{
	struct census_scan c = { r, json_object_new_object() };

	if (r->rows_done) {
		json_object_put(c.subs);
		return;
	}
	if (q->curl_code || q->status != 200) {
		az_http_trace(az_session_http(r->s),
			      "Resource Graph answered %ld to the census; "
			      "creation lists are read as their rows come",
			      q->status);
		json_object_put(c.subs);
		return;
	}
	for (size_t i = b->from; i < b->to; i++) {
		char *k = str_lower(r->subs[i]);

		json_object_object_add(c.subs, k, json_object_new_int((int)i));
		free(k);
	}
	if (jscan_each(q->resp_body, q->resp_len, "data", note_census, &c) <
	    0) {
		for (size_t i = 0; i < r->ncensus; i++)
			free(r->census[i].sub);
		r->ncensus = 0;
	}
	json_object_put(c.subs);
}

/*
 * Decides what a failed Resource Graph page means: before anything was read,
 * a refusal to fall back on ARM lists (1); later, an error (-1), since the
 * pages already judged cannot be read again without counting them twice.
 */
static int refused(struct run *r, const struct az_req *q, size_t from,
		   bool first, struct az_error *e)
{
	char *what;

	if (from == 0 && first && r->seen == 0) {
		az_http_trace(az_session_http(r->s),
			      r->tenant
				      ? "Resource Graph answered %ld at tenant "
					"scope; asking by subscription"
				      : "Resource Graph answered %ld; listing "
					"with ARM instead",
			      q->status);
		return 1;
	}
	what = xasprintf("POST %s", q->url);
	az_error_from_req(e, q, what);
	free(what);
	return -1;
}

/*
 * Takes a $skipToken into the set of those a query's pages gave: false when it
 * was given before (the pages loop, A to B to A as well as A to A) or when
 * pages already reach MAX_GRAPH_PAGES, so that no answer can page forever.
 */
static bool token_new(struct json_object *seen, const char *token, size_t pages)
{
	if (pages >= MAX_GRAPH_PAGES ||
	    json_object_object_get_ex(seen, token, NULL))
		return false;
	json_object_object_add(seen, token, NULL);
	return true;
}

/* Tells whether Resource Graph's resultTruncated says "true" (a string in its
 * specification; a boolean taken too). */
static bool says_truncated(struct json_object *v)
{
	return json_object_is_type(v, json_type_string)
		       ? strcasecmp(json_object_get_string(v), "true") == 0
		       : json_object_is_type(v, json_type_boolean) &&
				 json_object_get_boolean(v);
}

/* Takes a list's element and keeps nothing (a scan callback: only the count
 * jscan_each_text returns is wanted). */
static void count_row(struct json_object *row, const char *text, size_t len,
		      void *ud)
{
	(void)row;
	(void)text;
	(void)len;
	(void)ud;
}

/* Reads a Resource Graph answer's top-level number member (as an integer,
 * saturated), or -1. */
static int64_t page_int(const struct az_req *q, const char *member)
{
	struct json_object *v = jscan_value(q->resp_body, q->resp_len, member);
	int64_t n = json_object_is_type(v, json_type_int) ||
				    (json_object_is_type(v, json_type_double) &&
				     isfinite(json_object_get_double(v)))
			    ? json_object_get_int64(v)
			    : -1;

	json_object_put(v);
	return n;
}

/*
 * Tells whether a Resource Graph page with no $skipToken left rows out, so
 * that the resources it did not give would go unjudged: it says
 * resultTruncated "true" (Resource Graph does when it cannot page, and then
 * gives no $skipToken: "Working with large Azure resource data sets"), or,
 * the only page, counts fewer rows than it says match.
 */
static bool cut_short(const struct az_req *q, bool first)
{
	struct json_object *t =
		jscan_value(q->resp_body, q->resp_len, "resultTruncated");
	bool cut = says_truncated(t);
	int64_t count = page_int(q, "count"),
		total = page_int(q, "totalRecords");

	json_object_put(t);
	return cut || (first && count >= 0 && total > count);
}

/*
 * Judges pages that ended (no $skipToken, nothing said truncated) short of
 * the count their first page gave: without a snapshot, resources deleted
 * between pages account for a few, said in the trace (0); more than a page's
 * worth, or a hundredth, is an answer that stopped early, and the resources
 * it never gave would go unjudged (-1).
 */
static int ended_short(struct run *r, const struct batch *b, struct az_error *e)
{
	int64_t missing = b->counted - b->rows,
		room = b->counted / 100 > PAGE_ROWS ? b->counted / 100
						    : PAGE_ROWS;

	if (missing <= room) {
		az_http_trace(az_session_http(r->s),
			      "Resource Graph's pages gave %ld rows; its first "
			      "counted %lld (resources deleted while the audit "
			      "ran?)",
			      b->rows, (long long)b->counted);
		return 0;
	}
	az_error_set(e,
		     _("Resource Graph's pages ended after %ld rows where its "
		       "first page counted %lld, with no way to read the "
		       "rest, so the resources it left out were not judged; "
		       "audit again"),
		     b->rows, (long long)b->counted);
	return -1;
}

/*
 * Refuses a page cut short: the first, before anything was judged, falls back
 * as a refusal does (1: by subscription, then ARM lists); a later one fails
 * the audit (-1), since the resources it left out cannot be judged.
 */
static int cut_refused(struct run *r, const struct az_req *q,
		       const struct batch *b, struct az_error *e)
{
	int64_t total = page_int(q, "totalRecords");

	if (b->from == 0 && b->first && r->seen == 0) {
		az_http_trace(az_session_http(r->s),
			      "Resource Graph cut its first page short "
			      "(resultTruncated, no $skipToken); %s",
			      r->tenant ? "asking by subscription"
					: "listing with ARM instead");
		return 1;
	}
	if (total > b->rows)
		az_error_set(e,
			     _("Resource Graph cut its answer short: it gave "
			       "%ld rows of the %lld that match and no way to "
			       "read the rest, so the resources it left out "
			       "were not judged; audit again, or name fewer "
			       "subscriptions with --subscription"),
			     b->rows, (long long)total);
	else
		az_error_set(e,
			     _("Resource Graph cut its answer short after %ld "
			       "rows (resultTruncated) and gave no way to read "
			       "the rest, so the resources it left out were "
			       "not judged; audit again, or name fewer "
			       "subscriptions with --subscription"),
			     b->rows);
	return -1;
}

/* Asks for the next Resource Graph page, when one is left and not too many
 * rows wait, and starts sending it at once. */
static void next_page(struct run *r, struct flight *f, size_t *n,
		      struct batch *b, struct az_error *e)
{
	struct az_req *q;

	if (b->rc != 0 || b->paging || !b->more ||
	    r->nheld - r->hhead >= HOLD_ROWS)
		return;
	/* A page held back by Resource Graph's query quota says so, or the
	 * audit would seem stuck for the seconds its window has left. */
	if (az_http_graph_wait_ms(az_session_http(r->s)) > 0)
		progress(r, "quota");
	q = graph_page(r, b->query, b->from, b->to, b->skip);
	q->raw_json = true;
	f[*n].q = q;
	f[*n].census = false;
	f[(*n)++].d = NULL;
	b->paging = true;
	if (az_session_kick(r->s, &q, 1, e) != 0)
		b->rc = -1;
}

/*
 * Takes in a Resource Graph page that has its answer: the next page is asked
 * for as soon as its skipToken is read, then its rows are judged (or held)
 * while that one is under way.
 */
static void land_page(struct run *r, struct flight *f, size_t *n, size_t p,
		      struct batch *b, struct az_error *e)
{
	const struct az_req *q = f[p].q;
	char *skip;
	bool again;

	b->paging = false;
	if (q->curl_code || q->status != 200) {
		b->rc = refused(r, q, b->from, b->first, e);
		return;
	}
	skip = jscan_string(q->resp_body, q->resp_len, "$skipToken");
	again = skip && !token_new(b->tokens, skip, (size_t)b->pages + 1);
	free(b->skip);
	b->skip = skip;
	b->more = b->skip != NULL;
	if (again) {
		az_error_set(e,
			     _("Resource Graph named the same page again, or "
			       "gave more than %d pages of 1000 rows for one "
			       "query (a loop): the audit stops rather than "
			       "judge rows twice; audit again"),
			     MAX_GRAPH_PAGES);
		b->rc = -1;
		return;
	}
	if (!b->more && cut_short(q, b->first)) {
		long got = jscan_each_text(q->resp_body, q->resp_len, "data",
					   count_row, NULL);

		b->rows += got > 0 ? got : 0;
		b->rc = cut_refused(r, q, b, e);
		return;
	}
	b->pages++;
	next_page(r, f, n, b, e);
	if (b->rc == 0) {
		long got = jscan_each_text(q->resp_body, q->resp_len, "data",
					   hold_row, r);

		if (got < 0)
			b->rc = refused(r, q, b->from, b->first, e);
		else
			b->rows += got;
	}
	if (b->first)
		b->counted = page_int(q, "totalRecords");
	if (b->rc == 0 && !b->more && b->counted > b->rows)
		b->rc = ended_short(r, b, e);
	/* Past the last page, only lists rows named are left to read. */
	r->rows_done = !b->more;
	b->first = false;
	if (b->rc == 0)
		progress(r, "graph");
}

/*
 * Takes in the requests of f that have their answer (Resource Graph's page,
 * creation lists' pages), frees them and keeps the others in f; returns how
 * many are left (b->rc says when the page failed).
 */
static size_t land(struct run *r, struct flight *f, size_t n, struct batch *b,
		   struct az_error *e)
{
	bool denied = false;
	size_t k = 0, m = n;

	const struct az_req *landed = NULL;

	for (size_t i = 0; i < m && b->rc == 0; i++)
		if (!f[i].d && !f[i].census && az_req_done(f[i].q)) {
			landed = f[i].q;
			land_page(r, f, &n, i, b, e);
			break;
		}
	for (size_t i = 0; i < n; i++) {
		/* The next page, asked for while this one was taken in, may
		 * have its answer already: it is landed next time. */
		if (!az_req_done(f[i].q) ||
		    (!f[i].d && !f[i].census && f[i].q != landed)) {
			f[k++] = f[i];
			continue;
		}
		if (f[i].census)
			census_answer(r, f[i].q, b);
		else if (f[i].d)
			denied |= list_answer(f[i].d, f[i].q);
		az_req_free(f[i].q);
	}
	if (denied)
		rescope(r);
	return k;
}

/* Returns the lower-case ids of subscriptions [from, to), as a set. */
static struct json_object *scope_of(const struct run *r, size_t from, size_t to)
{
	struct json_object *set = json_object_new_object();

	for (size_t i = from; i < to; i++) {
		char *k = str_lower(r->subs[i]);

		json_object_object_add(set, k, json_object_new_boolean(1));
		free(k);
	}
	return set;
}

/*
 * Runs the Resource Graph query over subscriptions [from, to), page after
 * page, each asked for as soon as the previous one's skipToken is known (and
 * while fewer than HOLD_ROWS rows wait). Beside the pages, up to MAX_LISTS
 * pages of the creation lists of the subscriptions whose rows need one (the
 * healthcare agent service's) are under way, each replaced as it ends, in the
 * order those rows came. Rows are judged in order as soon as nothing before
 * them waits: only a healthcare agent service's row waits on a list (its own
 * subscription's), and the rows after it only for the report's order. The
 * census, beside the first page, names the subscriptions with such rows, so
 * that their lists are read ahead of them (read_ahead).
 * first is the first page, already under way at tenant scope (r->tenant set),
 * or NULL. Returns 1 when Resource Graph refused (use ARM).
 */
static int graph_batch(struct run *r, const char *query, size_t from, size_t to,
		       struct az_req *first, struct az_error *e)
{
	struct flight f[3 + MAX_LISTS];
	struct az_req *q[3 + MAX_LISTS];
	struct batch b = { .query = query,
			   .from = from,
			   .to = to,
			   .first = true,
			   .more = true,
			   .counted = -1,
			   .tokens = json_object_new_object() };
	char *census = census_query_text(r->o);
	size_t n = 0;

	r->scope = scope_of(r, from, to);
	r->rows_done = false;
	if (first) {
		f[n].q = first;
		f[n].d = NULL;
		f[n++].census = false;
		b.paging = true;
	}

	while (b.rc == 0) {
		next_page(r, f, &n, &b, e);
		/* The census goes once the first page is on its way, so that
		 * it does not delay that page (either answer may come first:
		 * rows note their own lists, and the census what is left). */
		if (census) {
			f[n].q = graph_page(r, census, from, to, NULL);
			f[n].q->raw_json = true;
			f[n].d = NULL;
			f[n++].census = true;
			free(census);
			census = NULL;
		}
		n = start_lists(r, f, n, MAX_LISTS + b.paging);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			q[i] = f[i].q;
		if (az_session_send_any(r->s, q, n, e) != 0) {
			b.rc = -1;
			break;
		}
		n = land(r, f, n, &b, e);
		if (b.rc == 0)
			drain(r);
		if (b.rc == 0 && (b.rc = r->rc) != 0)
			az_error_set(e, _("the audit was canceled"));
	}
	for (size_t i = 0; i < n; i++)
		q[i] = f[i].q;
	az_http_abandon(az_session_http(r->s), q, n);
	for (size_t i = 0; i < n; i++)
		az_req_free(q[i]);
	release(r);
	free(b.skip);
	json_object_put(b.tokens);
	free(census);
	json_object_put(r->scope);
	r->scope = NULL;
	return b.rc;
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
	struct json_object *visible = NULL, *claims;
	const char *tid;

	if (cmk_list_subscriptions(r->s, &visible, e) != 0)
		return -1;
	claims = az_session_claims(r->s);
	tid = jx_str(claims, "tid");
	r->subs = xcalloc(jx_len(visible) + r->o->nsubs + 1, sizeof(*r->subs));
	for (size_t i = 0; i < jx_len(visible) && !r->o->nsubs; i++) {
		struct json_object *v = jx_at(visible, i);

		/* One of another tenant (delegated, as with Azure
		 * Lighthouse): Resource Graph's tenant scope is not shown to
		 * cover it, so the query names its subscriptions. */
		r->foreign |= !tid || !str_ieq(jx_str(v, "tenantId"), tid);
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
	json_object_put(claims);
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
 * Starts the query's first page at tenant scope before the subscriptions are
 * listed, so that the two answers take one round trip together: with no
 * --subscription the audit covers every subscription the caller sees, which
 * Resource Graph reads at tenant scope. NULL when subscriptions were named,
 * or when it cannot be sent (the list then says why).
 */
static struct az_req *tenant_first_page(struct run *r, const char *query)
{
	struct az_error e = { 0 };
	struct az_req *q;

	if (r->o->nsubs)
		return NULL;
	r->tenant = true;
	q = graph_page(r, query, 0, 0, NULL);
	r->tenant = false;
	q->raw_json = true;
	if (az_session_kick(r->s, &q, 1, &e) != 0) {
		az_http_abandon(az_session_http(r->s), &q, 1);
		az_req_free(q);
		q = NULL;
	}
	az_error_clear(&e);
	return q;
}

/*
 * Runs the query at tenant scope with its first page already under way,
 * keeping the rows of the subscriptions audited: 0 when done, -1 on an
 * error, 1 when Resource Graph refused that scope (ask by subscription).
 */
static int tenant_batch(struct run *r, const char *query, struct az_req *first,
			struct az_error *e)
{
	int rc;

	r->tenant = true;
	rc = graph_batch(r, query, 0, r->nsubs, first, e);
	r->tenant = false;
	return rc;
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
	struct run r = { .s = s, .o = o, .a = meta, .sink = sink };
	char *query = graph_query_text(o);
	struct az_req *early;
	bool done = false;
	int rc;

	memset(meta, 0, sizeof(*meta));
	meta->deep = o->deep;
	meta->generated = o->now ? o->now : (int64_t)time(NULL);
	meta->portal = az_session_cloud(s)->portal;
	early = tenant_first_page(&r, query);
	rc = pick_subscriptions(&r, e);
	progress(&r, "subscriptions");
	/* Past Resource Graph's 1,000 subscriptions a query, the batches are
	 * asked by subscription. */
	if (early && rc == 0 && r.nsubs > 0 && r.nsubs <= MAX_GRAPH_SUBS &&
	    !r.foreign) {
		rc = tenant_batch(&r, query, early, e);
		done = rc != 1;
		rc = rc == 1 ? 0 : rc;
	} else if (early) {
		az_http_abandon(az_session_http(s), &early, 1);
		az_req_free(early);
	}
	for (size_t from = 0; rc == 0 && !done && from < r.nsubs;
	     from += MAX_GRAPH_SUBS) {
		size_t to = r.nsubs - from > MAX_GRAPH_SUBS
				    ? from + MAX_GRAPH_SUBS
				    : r.nsubs;

		rc = graph_batch(&r, query, from, to, NULL, e);
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
	json_object_put(r.vaults);
	for (size_t i = 0; i < r.npre; i++)
		deep_read_free(&r.pre[i]);
	free(r.pre);
	free(r.subs);
	free(query);
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
	char *skip = NULL;
	struct json_object *seen = json_object_new_object();
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
			free(skip);
			skip = jx_str(q->json, "$skipToken")
				       ? xstrdup(jx_str(q->json, "$skipToken"))
				       : NULL;
			rc = 0;
			if (!skip && says_truncated(jx_get(
					     q->json, "resultTruncated"))) {
				az_error_set(e, _("Resource Graph cut the list "
						  "short (resultTruncated): "
						  "it would be incomplete, so "
						  "it is not used; try again"));
				rc = -1;
			} else if (skip && !token_new(seen, skip, page + 1)) {
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
	json_object_put(seen);
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
