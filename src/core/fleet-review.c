/* The review of a fleet plan: counts per change kind, the resources grouped by
 * subscription and vault, the irreversible changes marked, and the skipped
 * ones with their reasons; as text that fits the terminal, and as JSON. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "fleet.h"
#include "i18n.h"
#include "jx.h"
#include "profile.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define ELLIPSIS "\xe2\x80\xa6"

/* What each kind of step does, counted in the review. */
static const char *const KIND_TEXT[STEP_KIND_COUNT] = {
	[STEP_ENABLE_IDENTITY] = N_("turn a managed identity on"),
	[STEP_ENABLE_SOFT_DELETE] = N_("turn soft delete on (per vault)"),
	[STEP_ENABLE_PURGE_PROTECTION] =
		N_("turn purge protection on (per vault)"),
	[STEP_FIREWALL_BYPASS] =
		N_("let trusted services through a vault's firewall"),
	[STEP_CREATE_KEY] = N_("create an RSA key"),
	[STEP_ASSIGN_ROLE] = N_("grant a role on a key"),
	[STEP_ACCESS_POLICY] = N_("add an access policy"),
	[STEP_WAIT_ACCESS] = N_("wait for new access to take effect"),
	[STEP_SAVE_KEY] = N_("save the key on the resource"),
	[STEP_VERIFY] = N_("read back and check again"),
	[STEP_DISABLE_SYSTEM_IDENTITY] =
		N_("turn the system-assigned identity off"),
	[STEP_CREATE_VAULT] = N_("create a key vault (per vault)"),
	[STEP_GRANT_OPERATOR] =
		N_("let you create keys in a new vault (per vault)"),
};

/* One resource's place in the review's order. */
struct row {
	char *sub;
	const char *vault;
	const char *name;
	size_t i;
};

/* Returns the last segment of an ARM id (its name). */
static const char *last_name(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;

	return slash ? slash + 1 : id ? id : "";
}

/* Orders rows by subscription, vault, then resource name, without case. */
static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcasecmp(x->sub, y->sub);

	if (!c)
		c = strcasecmp(x->vault, y->vault);
	if (!c)
		c = strcasecmp(x->name, y->name);
	return c;
}

/* Returns the fleet's resources in review order (free with rows_free). */
static struct row *rows_of(const struct fleet *f)
{
	struct row *r = xcalloc(f->n ? f->n : 1, sizeof(*r));

	for (size_t i = 0; i < f->n; i++) {
		r[i].sub = fleet_subscription(f->plans[i].resource_id);
		r[i].vault = f->plans[i].vault_id ? f->plans[i].vault_id : "";
		r[i].name = last_name(f->plans[i].resource_id);
		r[i].i = i;
	}
	qsort(r, f->n, sizeof(*r), row_cmp);
	return r;
}

/* Frees rows_of's answer. */
static void rows_free(struct row *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].sub);
	free(r);
}

/* Tells whether step s of plan i repeats a shared step an earlier plan on the
 * same vault makes (counted once). */
static bool repeated(const struct fleet *f, size_t i, size_t s)
{
	if (!fleet_shared_step(&f->plans[i], s))
		return false;
	for (size_t j = 0; j < i; j++)
		for (size_t t = 0; t < f->plans[j].n; t++)
			if (fleet_same_shared(&f->plans[i], s, &f->plans[j], t))
				return true;
	return false;
}

/* Counts the changes per kind (a shared step once per vault), and the
 * irreversible ones, in all and per kind (per_irrev, when not NULL). */
static void count(const struct fleet *f, size_t *per_kind, size_t *irrev,
		  size_t *per_irrev)
{
	memset(per_kind, 0, STEP_KIND_COUNT * sizeof(*per_kind));
	if (per_irrev)
		memset(per_irrev, 0, STEP_KIND_COUNT * sizeof(*per_irrev));
	*irrev = 0;
	for (size_t i = 0; i < f->n; i++)
		for (size_t s = 0; s < f->plans[i].n; s++) {
			const struct plan_step *st = &f->plans[i].steps[s];

			if (repeated(f, i, s))
				continue;
			per_kind[st->kind]++;
			*irrev += !st->reversible;
			if (per_irrev)
				per_irrev[st->kind] += !st->reversible;
		}
}

/* Tells how many of a plan's steps cannot be undone. */
static size_t irreversible(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += !p->steps[i].reversible;
	return n;
}

/* Adds one line, sanitised and cut to width with an ellipsis. */
static void line(struct sbuf *b, int width, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line(struct sbuf *b, int width, const char *fmt, ...)
{
	va_list ap;
	char *raw, *clean;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	clean = text_sanitize(raw, false);
	if (width > 3 && text_width(clean) > width) {
		/* "…" where the locale shows it in one column, else "...". */
		const char *more = text_width(ELLIPSIS) == 1 ? ELLIPSIS : "...";

		size_t n = text_fit(clean, strlen(clean),
				    width - text_width(more));
		sb_add(b, clean, n);
		sb_adds(b, more);
	} else {
		sb_adds(b, clean);
	}
	sb_addc(b, '\n');
	free(raw);
	free(clean);
}

/* Tells whether a plan grants its role on the whole vault (--grant-scope
 * vault), not on the key. */
static bool grants_vault(const struct plan *p)
{
	for (size_t s = 0; p->grant_vault && s < p->n; s++)
		if (p->steps[s].kind == STEP_ASSIGN_ROLE)
			return true;
	return false;
}

/* Counts the role grants on a whole vault (--grant-scope vault), a shared
 * one once: the review tells them from grants on a key. */
static size_t vault_grants(const struct fleet *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		for (size_t s = 0; s < f->plans[i].n; s++)
			n += f->plans[i].steps[s].kind == STEP_ASSIGN_ROLE &&
			     f->plans[i].grant_vault && !repeated(f, i, s);
	return n;
}

/* Adds the fleet's totals: resources, skipped, and the changes per kind. */
static void totals(struct sbuf *b, const struct fleet *f, int width)
{
	size_t per_kind[STEP_KIND_COUNT], per_irrev[STEP_KIND_COUNT], irrev;

	count(f, per_kind, &irrev, per_irrev);
	line(b, width,
	     P_("Fleet plan %.8s: %zu resource to protect, %zu skipped",
		"Fleet plan %.8s: %zu resources to protect, %zu skipped", f->n),
	     f->id ? f->id : "-", f->n, f->nskipped);
	line(b, width,
	     P_("Changes, all resources together (%zu cannot be undone):",
		"Changes, all resources together (%zu cannot be undone):",
		irrev),
	     irrev);
	size_t vg = vault_grants(f);

	/* A role on a whole vault reaches every key in it: its own line. */
	per_kind[STEP_ASSIGN_ROLE] -= vg;
	if (vg)
		line(b, width, "  %5zu  %s", vg,
		     _("grant a role on a whole vault (every key in it)"));
	for (int k = 0; k < STEP_KIND_COUNT; k++)
		if (per_kind[k] && per_irrev[k])
			line(b, width, _("  %5zu  %s (cannot be undone: %zu)"),
			     per_kind[k], _(KIND_TEXT[k]), per_irrev[k]);
		else if (per_kind[k])
			line(b, width, "  %5zu  %s", per_kind[k],
			     _(KIND_TEXT[k]));
}

/* Adds one resource's line: its name, service, key and steps, marked "!" when
 * a step cannot be undone. */
static void resource_line(struct sbuf *b, const struct plan *p, int width)
{
	size_t irrev = irreversible(p);
	const char *svc = p->svc ? _(p->svc->name) : "?";

	if (plan_creates_key(p))
		line(b, width,
		     P_("   %s %s (%s): new key %s, %zu step",
			"   %s %s (%s): new key %s, %zu steps", p->n),
		     irrev ? "!" : " ", last_name(p->resource_id), svc,
		     p->keyref.name ? p->keyref.name : "?", p->n);
	else
		line(b, width,
		     P_("   %s %s (%s): key %s, %zu step",
			"   %s %s (%s): key %s, %zu steps", p->n),
		     irrev ? "!" : " ", last_name(p->resource_id), svc,
		     p->keyref.name ? p->keyref.name : "?", p->n);
}

/* Under a vault's heading, says for how many of its resources the role goes
 * on the whole vault rather than on their key. */
static void whole_vault_note(struct sbuf *b, const struct fleet *f,
			     const struct row *r, size_t i, int width)
{
	size_t n = 0;

	for (size_t j = i; j < f->n && !strcasecmp(r[j].sub, r[i].sub) &&
			   !strcasecmp(r[j].vault, r[i].vault);
	     j++)
		n += grants_vault(&f->plans[r[j].i]);
	if (n)
		line(b, width,
		     P_("     (%zu of them gets its role on the whole vault, "
			"every key in it)",
			"     (%zu of them get their role on the whole vault, "
			"every key in it)",
			n),
		     n);
}

/* Adds the resources, grouped by subscription, then by vault. */
static void groups(struct sbuf *b, const struct fleet *f, int width)
{
	struct row *r = rows_of(f);

	for (size_t i = 0; i < f->n; i++) {
		if (!i || strcasecmp(r[i].sub, r[i - 1].sub))
			line(b, width, _("Subscription %s:"), r[i].sub);
		if (!i || strcasecmp(r[i].sub, r[i - 1].sub) ||
		    strcasecmp(r[i].vault, r[i - 1].vault)) {
			line(b, width, _(" vault %s:"), last_name(r[i].vault));
			whole_vault_note(b, f, r, i, width);
		}
		resource_line(b, &f->plans[r[i].i], width);
	}
	rows_free(r, f->n);
}

/* Adds the skipped resources, each with its rule and reason. */
static void skipped(struct sbuf *b, const struct fleet *f, int width)
{
	if (!f->nskipped)
		return;
	line(b, width,
	     P_("Skipped, with the reason (%zu resource):",
		"Skipped, with the reason (%zu resources):", f->nskipped),
	     f->nskipped);
	for (size_t i = 0; i < f->nskipped; i++) {
		char *why = text_one_line(f->skipped[i].reason);

		line(b, width, "  %s [%s]: %s",
		     last_name(f->skipped[i].resource_id),
		     *f->skipped[i].rule ? f->skipped[i].rule : "-", why);
		free(why);
	}
}

/* Counts the fleet's changes that cannot be undone, a vault's shared step
 * once, as the review does. */
size_t fleet_irreversible(const struct fleet *f)
{
	size_t per_kind[STEP_KIND_COUNT], irrev;

	count(f, per_kind, &irrev, NULL);
	return irrev;
}

/*
 * Returns the review of a fleet plan as text whose lines fit width columns
 * (0: no limit): the totals, the resources by subscription and vault ("!"
 * marks one with a change that cannot be undone), the skipped ones.
 */
char *fleet_render_text(const struct fleet *f, int width)
{
	struct sbuf b = SBUF_INIT;
	bool any = false;

	totals(&b, f, width);
	groups(&b, f, width);
	skipped(&b, f, width);
	for (size_t i = 0; i < f->n && !any; i++)
		any = irreversible(&f->plans[i]) > 0;
	if (any)
		line(&b, width, "%s",
		     _("'!' marks a resource with a change that cannot be "
		       "undone; 'azcmk plan RESOURCE' shows one resource's "
		       "steps."));
	return sb_steal(&b);
}

/* Returns one resource of the review, as JSON. */
static struct json_object *resource_json(const struct plan *p)
{
	struct json_object *o = json_object_new_object(),
			   *irrev = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_string(p->resource_id));
	json_object_object_add(o, "plan", json_object_new_string(p->id));
	json_object_object_add(
		o, "service",
		json_object_new_string(p->svc ? p->svc->key : ""));
	json_object_object_add(
		o, "vault",
		json_object_new_string(p->vault_id ? p->vault_id : ""));
	json_object_object_add(
		o, "key",
		json_object_new_string(p->keyref.name ? p->keyref.name : ""));
	json_object_object_add(o, "createsKey",
			       json_object_new_boolean(plan_creates_key(p)));
	json_object_object_add(
		o, "grantScope",
		json_object_new_string(grants_vault(p) ? "vault" : "key"));
	json_object_object_add(o, "steps", json_object_new_int((int)p->n));
	for (size_t i = 0; i < p->n; i++)
		if (!p->steps[i].reversible)
			json_object_array_add(
				irrev, json_object_new_string(p->steps[i].id));
	json_object_object_add(o, "irreversible", irrev);
	return o;
}

/*
 * Returns the review as JSON, with stable names: the fleet's id, the changes
 * per step kind, the resources in review order (with their subscription),
 * and the skipped ones with their rule and reason.
 */
struct json_object *fleet_review_json(const struct fleet *f)
{
	struct json_object *o = json_object_new_object(),
			   *kinds = json_object_new_object(),
			   *res = json_object_new_array(),
			   *skip = json_object_new_array();
	size_t per_kind[STEP_KIND_COUNT], irrev;
	struct row *r = rows_of(f);

	count(f, per_kind, &irrev, NULL);
	json_object_object_add(o, "fleet",
			       json_object_new_string(f->id ? f->id : ""));
	for (int k = 0; k < STEP_KIND_COUNT; k++)
		if (per_kind[k])
			json_object_object_add(
				kinds, plan_step_name((enum step_kind)k),
				json_object_new_int((int)per_kind[k]));
	json_object_object_add(o, "changes", kinds);
	json_object_object_add(o, "irreversibleChanges",
			       json_object_new_int((int)irrev));
	for (size_t i = 0; i < f->n; i++) {
		struct json_object *one = resource_json(&f->plans[r[i].i]);

		json_object_object_add(one, "subscription",
				       json_object_new_string(r[i].sub));
		json_object_array_add(res, one);
	}
	for (size_t i = 0; i < f->nskipped; i++)
		json_object_array_add(skip,
				      fleet_skip_json(&f->skipped[i], "id"));
	json_object_object_add(o, "resources", res);
	json_object_object_add(o, "skipped", skip);
	rows_free(r, f->n);
	return o;
}
