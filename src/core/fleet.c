/* Fleet plans: many resources' plans in one digest-sealed file, its review,
 * and the order in which apply may run them. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet.h"
#include "i18n.h"
#include "jx.h"
#include "profile.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define MAX_RULE 128    /* a skipped resource's rule id, in bytes */
#define MAX_REASON 2048 /* a skipped resource's reason, in bytes */
#define MAX_ID 1024     /* a resource id, in bytes */

/* Adds a resource's plan to the fleet; the fleet owns it from now on (*p is
 * emptied). */
void fleet_add_plan(struct fleet *f, struct plan *p)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->plans = xrealloc(f->plans, f->cap * sizeof(*f->plans));
	}
	f->plans[f->n++] = *p;
	memset(p, 0, sizeof(*p));
}

/* Returns a copy of text cut to at most max bytes, at a UTF-8 character's
 * start, so that what the fleet writes it can read back. */
static char *cut(const char *text, size_t max)
{
	size_t n = text ? strlen(text) : 0;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	return xstrndup(text ? text : "", n);
}

/* Records a resource the fleet leaves out, with the finding's rule and why
 * (each cut to what a fleet file may hold). */
void fleet_skip(struct fleet *f, const char *resource_id, const char *rule,
		const char *reason)
{
	struct fleet_skip *s;

	if (f->nskipped == f->capskipped) {
		f->capskipped = f->capskipped ? 2 * f->capskipped : 16;
		f->skipped = xrealloc(f->skipped,
				      f->capskipped * sizeof(*f->skipped));
	}
	s = &f->skipped[f->nskipped++];
	s->resource_id = cut(resource_id, MAX_ID);
	s->rule = cut(rule, MAX_RULE);
	s->reason = cut(reason, MAX_REASON);
	s->region = NULL;
	s->confirm = false;
}

/* Records what the last skipped resource needs to be planned: a new vault in
 * region (or NULL), or the consent to an irreversible change. */
void fleet_skip_needs(struct fleet *f, const char *region, bool confirm)
{
	struct fleet_skip *s;

	if (!f->nskipped)
		return;
	s = &f->skipped[f->nskipped - 1];
	free(s->region);
	s->region = region && *region ? cut(region, MAX_RULE) : NULL;
	s->confirm = confirm;
}

/* Moves plan i to the skipped list with a reason, keeping the others' order
 * (and that of what each was made from, seen, when given). */
static void unplan(struct fleet *f, struct json_object *seen, size_t i,
		   const char *reason)
{
	if (seen && i < jx_len(seen))
		json_object_array_del_idx(seen, i, 1);
	fleet_skip(f, f->plans[i].resource_id, "resource.cmk", reason);
	plan_free(&f->plans[i]);
	memmove(&f->plans[i], &f->plans[i + 1],
		(f->n - i - 1) * sizeof(*f->plans));
	f->n--;
}

/*
 * Keeps each vault the fleet creates in one region: the first plan to
 * create a vault decides its region, and a later plan that would create the
 * same vault in another region is skipped, saying how to name one there
 * (one --create-vault NAME serves the first region that needs a vault);
 * seen, when given, holds what each plan was made from, in the same order.
 */
void fleet_one_region_per_new_vault(struct fleet *f, struct json_object *seen)
{
	for (size_t i = 0; i < f->n;) {
		const struct plan *p = &f->plans[i];
		char *why = NULL;

		for (size_t j = 0; p->vault_location && !why && j < i; j++)
			if (f->plans[j].vault_location &&
			    str_ieq(f->plans[j].vault_id, p->vault_id) &&
			    !str_ieq(f->plans[j].vault_location,
				     p->vault_location))
				why = xasprintf(
					_("the new key vault %s is planned in "
					  "%s; name one for %s with "
					  "--create-vault %s=NAME"),
					p->keyref.vault,
					f->plans[j].vault_location,
					p->vault_location, p->vault_location);
		if (why)
			unplan(f, seen, i, why);
		else
			i++;
		free(why);
	}
}

/* Frees a fleet's plans, skipped list and id. */
void fleet_free(struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		plan_free(&f->plans[i]);
	for (size_t i = 0; i < f->nskipped; i++) {
		free(f->skipped[i].resource_id);
		free(f->skipped[i].rule);
		free(f->skipped[i].reason);
		free(f->skipped[i].region);
	}
	free(f->plans);
	free(f->skipped);
	free(f->id);
	memset(f, 0, sizeof(*f));
}

/* Returns one skipped resource as JSON, its id under id_key ("resource" in
 * the fleet file, "id" in the review). */
struct json_object *fleet_skip_json(const struct fleet_skip *s,
				    const char *id_key)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, id_key,
			       json_object_new_string(s->resource_id));
	json_object_object_add(o, "rule", json_object_new_string(s->rule));
	json_object_object_add(o, "reason", json_object_new_string(s->reason));
	return o;
}

/* Returns the skipped list as the fleet file holds it. */
static struct json_object *skipped_json(const struct fleet *f)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < f->nskipped; i++)
		json_object_array_add(
			a, fleet_skip_json(&f->skipped[i], "resource"));
	return a;
}

/*
 * Returns the fleet file's content and sets the fleet's id to its digest
 * (SHA-256 of the canonical JSON without "id", as for a single plan).
 */
struct json_object *fleet_to_json(struct fleet *f)
{
	struct json_object *o = json_object_new_object(),
			   *plans = json_object_new_array();

	json_object_object_add(o, "format",
			       json_object_new_string(FLEET_FORMAT));
	for (size_t i = 0; i < f->n; i++)
		json_object_array_add(plans, plan_to_json(&f->plans[i]));
	json_object_object_add(o, "plans", plans);
	json_object_object_add(o, "skipped", skipped_json(f));
	free(f->id);
	f->id = plan_digest(o);
	json_object_object_add(o, "id", json_object_new_string(f->id));
	return o;
}

/* Tells whether a JSON document says it is a fleet plan (of any version). */
bool fleet_is_fleet(struct json_object *o)
{
	return str_istarts(jx_str(o, "format"), "azcmk-fleet/");
}

/* Reads a string member no longer than max bytes; NULL when absent, not a
 * string, or too long. */
static const char *bounded(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v = jx_get(o, key);

	if (!v || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) > max)
		return NULL;
	return json_object_get_string(v);
}

/* Reads the skipped list back; false with *err for an entry of the wrong
 * shape. */
static bool skipped_from_json(struct json_object *a, struct fleet *out,
			      char **err)
{
	if (a && !json_object_is_type(a, json_type_array)) {
		*err = xstrdup(_("its skipped list is not a list"));
		return false;
	}
	for (size_t i = 0; i < jx_len(a); i++) {
		struct json_object *s = jx_at(a, i);
		const char *id = bounded(s, "resource", MAX_ID),
			   *rule = bounded(s, "rule", MAX_RULE),
			   *why = bounded(s, "reason", MAX_REASON);

		if (!id || !rule || !why || !*id) {
			*err = xasprintf(_("skipped resource %zu is not one "
					   "azcmk wrote"),
					 i + 1);
			return false;
		}
		fleet_skip(out, id, rule, why);
	}
	return true;
}

/* Reads each resource's plan back, each held to every rule of a single
 * plan. */
static bool plans_from_json(struct json_object *a, struct fleet *out,
			    char **err)
{
	if (!a || !json_object_is_type(a, json_type_array) || !jx_len(a)) {
		*err = xstrdup(_("it holds no resource's plan"));
		return false;
	}
	for (size_t i = 0; i < jx_len(a); i++) {
		struct plan p;
		char *why = NULL;

		if (plan_from_json(jx_at(a, i), &p, &why) != 0) {
			*err = xasprintf(_("the plan of resource %zu: %s"),
					 i + 1, why ? why : "?");
			free(why);
			return false;
		}
		fleet_add_plan(out, &p);
	}
	return true;
}

/* Compares two strings for qsort, without case. */
static int icmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	for (; *x && *y; x++, y++) {
		int cx = *x >= 'A' && *x <= 'Z' ? *x + 32 : *x,
		    cy = *y >= 'A' && *y <= 'Z' ? *y + 32 : *y;

		if (cx != cy)
			return cx - cy;
	}
	return (unsigned char)*x - (unsigned char)*y;
}

/* Finds a resource named twice in the fleet (planned or skipped), or NULL:
 * two plans for one resource would race each other. */
static const char *twice(const struct fleet *f)
{
	size_t n = f->n + f->nskipped;
	const char **ids = xcalloc(n ? n : 1, sizeof(*ids)), *dup = NULL;

	for (size_t i = 0; i < f->n; i++)
		ids[i] = f->plans[i].resource_id;
	for (size_t i = 0; i < f->nskipped; i++)
		ids[f->n + i] = f->skipped[i].resource_id;
	qsort(ids, n, sizeof(*ids), icmp);
	for (size_t i = 1; i < n && !dup; i++)
		if (str_ieq(ids[i - 1], ids[i]))
			dup = ids[i];
	free(ids);
	return dup;
}

/* Holds the file's format and digest; false with *err. */
static bool sealed(struct json_object *o, char **err)
{
	const char *id = jx_str(o, "id");
	char *d;
	bool ok;

	if (!str_ieq(jx_str(o, "format"), FLEET_FORMAT)) {
		*err = fleet_is_fleet(o)
			       ? xstrdup(_("this fleet plan was written by "
					   "another version of azcmk; make it "
					   "again with azcmk fix --all"))
			       : xasprintf(_("this is not an azcmk fleet plan "
					     "(format %s)"),
					   FLEET_FORMAT);
		return false;
	}
	d = plan_digest(o);
	ok = id && strcmp(id, d) == 0;
	if (!ok)
		*err = xstrdup(_("the fleet plan was changed after azcmk wrote "
				 "it (its content no longer matches its id); "
				 "a plan is applied only as it was reviewed: "
				 "make a new one with azcmk fix --all"));
	free(d);
	return ok;
}

/*
 * Reads a fleet file back and holds it to what azcmk writes: its format, its
 * digest, each resource's plan to every rule of a single plan, at most
 * FLEET_MAX resources, none named twice.
 */
int fleet_from_json(struct json_object *o, struct fleet *out, char **err)
{
	const char *dup;
	bool ok;

	memset(out, 0, sizeof(*out));
	ok = sealed(o, err);
	if (ok && jx_len(jx_get(o, "plans")) + jx_len(jx_get(o, "skipped")) >
			  FLEET_MAX) {
		*err = xasprintf(_("it names more than %d resources"),
				 FLEET_MAX);
		ok = false;
	}
	ok = ok && plans_from_json(jx_get(o, "plans"), out, err) &&
	     skipped_from_json(jx_get(o, "skipped"), out, err);
	if (ok && (dup = twice(out)) != NULL) {
		char *clean = text_sanitize(dup, false);

		*err = xasprintf(_("it names %s twice"), clean);
		free(clean);
		ok = false;
	}
	if (!ok) {
		fleet_free(out);
		return -1;
	}
	out->id = xstrdup(jx_str(o, "id"));
	return 0;
}

/* Returns the subscription id of an ARM id (allocated; "" when it names
 * none). */
char *fleet_subscription(const char *resource_id)
{
	const char *p = "/subscriptions/";

	if (!str_istarts(resource_id, p))
		return xstrdup("");
	resource_id += strlen(p);
	return xstrndup(resource_id, strcspn(resource_id, "/"));
}

/*
 * Tells whether step s of a plan changes what other resources on its vault
 * use, so that the fleet makes it once, before the others: the vault's
 * creation and your grant on it, its soft delete, purge protection and
 * firewall, and a role on the whole vault
 * (--grant-scope vault) for a user-assigned identity several resources share.
 */
bool fleet_shared_step(const struct plan *p, size_t s)
{
	enum step_kind k = p->steps[s].kind;

	return k == STEP_CREATE_VAULT || k == STEP_GRANT_OPERATOR ||
	       k == STEP_ENABLE_SOFT_DELETE ||
	       k == STEP_ENABLE_PURGE_PROTECTION || k == STEP_FIREWALL_BYPASS ||
	       (k == STEP_ASSIGN_ROLE && p->grant_vault && p->uai_id);
}

/* Tells whether step s of plan a and step t of plan b make the same shared
 * change: the same kind on the same vault, for a role the same identity and
 * role. */
bool fleet_same_shared(const struct plan *a, size_t s, const struct plan *b,
		       size_t t)
{
	enum step_kind k = a->steps[s].kind;

	if (!fleet_shared_step(a, s) || !fleet_shared_step(b, t) ||
	    k != b->steps[t].kind || !str_ieq(a->vault_id, b->vault_id))
		return false;
	if (k == STEP_CREATE_VAULT || k == STEP_GRANT_OPERATOR)
		return str_ieq(a->vault_location, b->vault_location) &&
		       str_ieq(a->vault_tenant, b->vault_tenant) &&
		       str_ieq(a->operator_id, b->operator_id);
	return k != STEP_ASSIGN_ROLE ||
	       (str_ieq(a->uai_id, b->uai_id) && str_ieq(a->role, b->role));
}

/* Tells whether a plan changes its vault for every resource there. */
static bool has_shared(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (fleet_shared_step(p, i))
			return true;
	return false;
}

/* Tells whether a plan writes through Azure Resource Manager in subscription
 * sub: its resource's (identity, the save) or its vault's (the role
 * assignment or access policy, the vault's own changes). */
static bool writes_in(const struct plan *p, const char *sub)
{
	char *x = fleet_subscription(p->resource_id),
	     *y = fleet_subscription(p->vault_id);
	bool in = *sub && (str_ieq(x, sub) || str_ieq(y, sub));

	free(x);
	free(y);
	return in;
}

/* Tells whether plan i may start now: the limits in all, per vault and per
 * subscription (its resource's, and its vault's when another), given the
 * running ones. */
static bool fits(const struct fleet *f, size_t i, const size_t *running,
		 size_t nrun, const struct fleet_limits *l)
{
	const struct plan *p = &f->plans[i];
	char *own = fleet_subscription(p->resource_id),
	     *keys = fleet_subscription(p->vault_id);
	size_t vault = 0, sub = 0, key_sub = 0,
	       cap = l->per_subscription ? l->per_subscription : 1;
	bool other = *keys && !str_ieq(own, keys);

	for (size_t r = 0; r < nrun; r++) {
		const struct plan *q = &f->plans[running[r]];

		vault += str_ieq(q->vault_id, p->vault_id);
		sub += writes_in(q, own);
		key_sub += other && writes_in(q, keys);
	}
	free(own);
	free(keys);
	return vault < (l->per_vault ? l->per_vault : 1) && sub < cap &&
	       key_sub < cap;
}

/*
 * Returns the bounds of a fleet's apply for --parallel n (0: the default):
 * n at once in all, at most FLEET_PER_VAULT on one vault and
 * FLEET_PER_SUBSCRIPTION writing in one subscription (see fleet.h for the
 * limits of Azure's they come from).
 */
struct fleet_limits fleet_limits_for(int n)
{
	struct fleet_limits l;

	l.parallel = n > 0 ? (size_t)n : FLEET_DEFAULT_PARALLEL;
	l.per_vault =
		l.parallel < FLEET_PER_VAULT ? l.parallel : FLEET_PER_VAULT;
	l.per_subscription = l.parallel < FLEET_PER_SUBSCRIPTION
				     ? l.parallel
				     : FLEET_PER_SUBSCRIPTION;
	return l;
}

/* Tells whether plan i waits for an earlier plan that changes the same
 * vault (its shared steps go first) and has not ended. */
static bool behind_leader(const struct fleet *f, size_t i,
			  const enum fleet_state *state)
{
	for (size_t j = 0; j < i; j++)
		if (str_ieq(f->plans[j].vault_id, f->plans[i].vault_id) &&
		    has_shared(&f->plans[j]))
			return state[j] != FLEET_ENDED;
	return false;
}

/*
 * Returns the next plan apply may start, or f->n when none may now: the
 * first pending one within the limits (at most l->parallel at once, per vault
 * and per subscription), where the first plan that changes a vault for
 * everyone (soft delete, purge protection, its firewall) has ended before
 * the others on that vault start.
 */
size_t fleet_next(const struct fleet *f, const enum fleet_state *state,
		  const struct fleet_limits *l)
{
	size_t cap = l->parallel ? l->parallel : 1, nrun = 0, next = f->n;
	size_t *running = xcalloc(cap + 1, sizeof(*running));

	for (size_t i = 0; i < f->n; i++)
		if (state[i] == FLEET_RUNNING) {
			if (nrun == cap) {
				free(running);
				return f->n;
			}
			running[nrun++] = i;
		}
	for (size_t i = 0; i < f->n && next == f->n && nrun < cap; i++)
		if (state[i] == FLEET_PENDING && fits(f, i, running, nrun, l) &&
		    !behind_leader(f, i, state))
			next = i;
	free(running);
	return next;
}
