/* The audit's findings across subscriptions: collected from the rules,
 * identified, sorted and rendered. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "armid.h"
#include "audit.h"
#include "i18n.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "tsv.h"
#include "xalloc.h"

#define SCHEMA "azcmk-audit/1"
#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define INFO_URI "https://github.com/azcmk/azcmk"

/* The audit's own rules: what could not be read is a finding too. */
static const struct audit_rule {
	const char *id;
	enum severity severity;
	const char *message; /* N_() format with the name */
	const char *explanation;
	const char *fix;
} AUDIT_RULES[] = {
	{ "subscription.readable", SEV_WARNING,
	  N_("subscription %s: you cannot read it, so it was not audited"),
	  N_("The audit sees only what you may read; resources in this "
	     "subscription may use Microsoft-managed keys or "
	     "broken keys without anyone being told."),
	  N_("Ask for the Reader role on the subscription, or audit it as "
	     "someone who has it.") },
	{ "resource.readable", SEV_WARNING,
	  N_("%s: you cannot read the resource, so it was not audited"),
	  N_("The resource is listed in the subscription, but reading it was "
	     "refused, so its encryption could not be "
	     "judged."),
	  N_("Ask for the Reader role on the resource or its resource "
	     "group.") },
};

/* Finds one of the audit's own rules. */
static const struct audit_rule *audit_rule(const char *id)
{
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]);
	     i++)
		if (str_ieq(AUDIT_RULES[i].id, id))
			return &AUDIT_RULES[i];
	return NULL;
}

/* Gives the texts of one of the audit's own rules (subscription.readable,
 * resource.readable); false for others. */
bool audit_rule_text(const char *id, const char **canonical,
		     const char **explanation, const char **fix)
{
	const struct audit_rule *r = audit_rule(id);

	if (!r)
		return false;
	*canonical = r->id;
	*explanation = r->explanation;
	*fix = r->fix;
	return true;
}

/* Computes a finding's id: FNV-1a (64 bits) over rule, subject and resource,
 * ignoring case, as 16 hex digits. */
void audit_id(const char *rule, const char *subject, const char *resource,
	      char out[17])
{
	const char *parts[3] = { rule, subject, resource };
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
			h ^= (uint64_t)(unsigned char)(*p >= 'A' && *p <= 'Z'
							       ? *p + 32
							       : *p);
			h *= 0x100000001b3ull;
		}
		h ^= '|';
		h *= 0x100000001b3ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Reads subscription, resource group and name from an ARM id ("" when absent).
 */
static void id_parts(const char *id, char **sub, char **group, char **name)
{
	struct armid a;

	/* The parts come from a server's id: stripped of control characters
	 * before any output. */
	if (armid_parse(id ? id : "", &a)) {
		*sub = text_sanitize(a.subscription ? a.subscription : "",
				     false);
		*group = text_sanitize(a.resource_group ? a.resource_group : "",
				       false);
		*name = text_sanitize(a.full_name ? a.full_name
				      : a.name    ? a.name
						  : "",
				      false);
		armid_free(&a);
		return;
	}
	*sub = xstrdup(id && str_istarts(id, "/subscriptions/")
			       ? id + strlen("/subscriptions/")
			       : "");
	(*sub)[strcspn(*sub, "/")] = '\0';
	*group = xstrdup("");
	*name = xstrdup("");
}

/* Appends a finding slot and returns it, zeroed. */
static struct audit_finding *grow(struct audit_report *a)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->items = xrealloc(a->items, a->cap * sizeof(*a->items));
	}
	memset(&a->items[a->n], 0, sizeof(a->items[0]));
	return &a->items[a->n++];
}

/* Records a subscription in scope. */
void audit_add_subscription(struct audit_report *a, const char *id,
			    const char *name, bool readable)
{
	a->subs = xrealloc(a->subs, (a->nsubs + 1) * sizeof(*a->subs));
	a->subs[a->nsubs].id = xstrdup(id);
	a->subs[a->nsubs].name = text_sanitize(name ? name : "", false);
	a->subs[a->nsubs].readable = readable;
	a->nsubs++;
}

/* Records a resource the audit judged, with its encryption state. */
void audit_add_resource(struct audit_report *a, const struct cmk_ctx *c,
			const char *key_uri)
{
	struct audit_resource *r;

	if (a->nres == a->capres) {
		a->capres = a->capres ? a->capres * 2 : 64;
		a->resources = xrealloc(a->resources,
					a->capres * sizeof(*a->resources));
	}
	r = &a->resources[a->nres++];
	r->id = xstrdup(jx_str(c->resource, "id") ? jx_str(c->resource, "id")
						  : "");
	id_parts(r->id, &r->subscription, &r->resource_group, &r->name);
	r->service = c->svc->key;
	r->cmk = cmk_resource_on_cmk(c);
	r->key = key_uri ? text_sanitize(key_uri, false) : NULL;
}

/* Adds the failed rules of one resource's report. */
void audit_add_report(struct audit_report *a, const struct cmk_ctx *c,
		      const struct cmk_report *r)
{
	const char *rid =
		jx_str(c->resource, "id") ? jx_str(c->resource, "id") : "";
	char *sub, *group, *name;

	if (r->n == 0)
		return;
	/* One parse of the id for all the resource's findings. */
	id_parts(rid, &sub, &group, &name);
	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];
		struct audit_finding *o = grow(a);

		o->resource_id = xstrdup(rid);
		o->subscription = xstrdup(sub);
		o->resource_group = xstrdup(group);
		o->name = xstrdup(name);
		o->service = c->svc->key;
		o->rule = f->rule->id;
		o->severity = f->severity;
		o->unknown = f->unknown;
		o->subject = xstrdup(f->subject ? f->subject : rid);
		o->message = xstrdup(f->message);
		o->detail = f->detail ? xstrdup(f->detail) : NULL;
		o->explanation = f->rule->explanation;
		o->fix = f->rule->fix;
		audit_id(o->rule, o->subject, rid, o->id);
	}
	free(sub);
	free(group);
	free(name);
}

/*
 * Formats an audit rule's message with a name. The format comes from the
 * rule table (msgfmt --check verifies the translations keep its %s).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *audit_message(const struct audit_rule *r, const char *name)
{
	char *raw = xasprintf(_(r->message), name),
	     *clean = text_sanitize(raw, false);

	free(raw);
	return clean;
}
#pragma GCC diagnostic pop

/*
 * Adds a finding for a subscription or resource that could not be read
 * (rule: subscription.readable, resource.readable), named by name or, when
 * NULL, by the id's own name; detail says what Azure answered, or NULL.
 */
void audit_add_unreadable(struct audit_report *a, const char *rule,
			  const char *resource_id, const char *name,
			  const char *detail)
{
	const struct audit_rule *r = audit_rule(rule);
	bool sub = str_ieq(rule, "subscription.readable");
	struct audit_finding *o;

	if (!r)
		return;
	o = grow(a);
	o->resource_id = xstrdup(resource_id);
	id_parts(resource_id, &o->subscription, &o->resource_group, &o->name);
	if (sub) {
		o->resource_group[0] = '\0';
		o->name[0] = '\0';
	}
	o->service = "";
	o->rule = r->id;
	o->severity = r->severity;
	o->subject = xstrdup(resource_id);
	o->message = audit_message(r, name && *name ? name
				      : *o->name    ? o->name
						    : resource_id);
	o->detail = detail ? text_sanitize(detail, false) : NULL;
	o->explanation = r->explanation;
	o->fix = r->fix;
	audit_id(o->rule, o->subject, resource_id, o->id);
	for (size_t i = 0; sub && i < a->nsubs; i++)
		if (str_ieq(a->subs[i].id, o->subscription))
			a->subs[i].readable = false;
}

/* The longest member of properties a key setting is kept in. */
#define TOP_MAX 64

/*
 * Writes into top the member of properties that holds a service's whole key
 * setting ("encryption" for properties.encryption...); false when it has none.
 */
static bool setting_top(const struct svc_profile *p, char top[TOP_MAX])
{
	const char *root = p->shape->patch_root;
	size_t n;

	if (!root || strncmp(root, "properties.", 11) != 0)
		return false;
	root += 11;
	n = strcspn(root, ".");
	if (n == 0 || n >= TOP_MAX)
		return false;
	memcpy(top, root, n);
	top[n] = '\0';
	return true;
}

/* Tells whether no profile before the i-th keeps its key setting in the same
 * member of properties. */
static bool top_first(size_t i, const char *top)
{
	char other[TOP_MAX];

	for (size_t j = 0; j < i; j++)
		if (setting_top(&SVC_PROFILES[j], other) &&
		    strcmp(other, top) == 0)
			return false;
	return true;
}

/*
 * Returns the Resource Graph columns that carry the services' key settings,
 * each member once ("encryption = properties.encryption, ..."), for the
 * audit's query; audit_resource_from_row puts them back (allocated).
 */
char *audit_graph_columns(void)
{
	struct sbuf b = SBUF_INIT;
	char top[TOP_MAX];

	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if (setting_top(&SVC_PROFILES[i], top) && top_first(i, top))
			sb_printf(&b, "%s%s = properties.%s", b.len ? ", " : "",
				  top, top);
	return sb_steal(&b);
}

/* Returns a row's column, or NULL when absent or null (a new reference). */
static struct json_object *column(struct json_object *row, const char *name)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(row, name, &v) && v
		       ? json_object_get(v)
		       : NULL;
}

/* Adds to properties each service's key setting column (each member once),
 * and the CustomerManagedKey capability when cmkCapable says so. */
static void row_settings(struct json_object *row, struct json_object *props)
{
	char top[TOP_MAX];

	for (size_t i = 0; i < SVC_NPROFILES; i++) {
		struct json_object *v;

		if (setting_top(&SVC_PROFILES[i], top) &&
		    !json_object_object_get_ex(props, top, NULL) &&
		    (v = column(row, top)) != NULL)
			json_object_object_add(props, top, v);
	}
	if (jx_bool(row, "cmkCapable", false)) {
		struct json_object *caps = json_object_new_array(),
				   *cap = json_object_new_object();

		json_object_object_add(
			cap, "name",
			json_object_new_string("CustomerManagedKey"));
		json_object_array_add(caps, cap);
		json_object_object_add(props, "capabilities", caps);
	}
}

/*
 * Rebuilds a resource, as ARM returns it, from a Resource Graph row: id,
 * name, type, kind, location, identity, and the properties the rules read
 * (provisioningState, encryption, keyVaultProperties, and cmkCapable for the
 * CustomerManagedKey capability); for a healthcare agent service, its
 * creation time from the resources list. Nothing else of the row is taken (a
 * row's own systemData or properties are not). A new object, built member by
 * member: no path is parsed or string made per row.
 */
struct json_object *audit_resource_from_row(struct json_object *row,
					    const char *created)
{
	static const char *const keep[] = { "id",   "name",     "type",
					    "kind", "location", "identity",
					    NULL };
	struct json_object *r = json_object_new_object(),
			   *props = json_object_new_object(), *v;

	for (int i = 0; keep[i]; i++)
		if ((v = column(row, keep[i])) != NULL &&
		    (!json_object_is_type(v, json_type_string) ||
		     *json_object_get_string(v)))
			json_object_object_add(r, keep[i], v);
		else
			json_object_put(v);
	if ((v = column(row, "provisioningState")) != NULL)
		json_object_object_add(props, "provisioningState", v);
	row_settings(row, props);
	if (json_object_object_length(props))
		json_object_object_add(r, "properties", props);
	else
		json_object_put(props);
	if (created) {
		struct json_object *sys = json_object_new_object();

		json_object_object_add(sys, "createdAt",
				       json_object_new_string(created));
		json_object_object_add(r, "systemData", sys);
	}
	return r;
}

/* Orders findings by subscription, resource group, name, then severity (worst
 * first), rule and subject. */
static int by_place(const void *x, const void *y)
{
	const struct audit_finding *a = x, *b = y;
	int c;

	if ((c = strcasecmp(a->subscription, b->subscription)) != 0 ||
	    (c = strcasecmp(a->resource_group, b->resource_group)) != 0 ||
	    (c = strcasecmp(a->name, b->name)) != 0)
		return c;
	if (a->severity != b->severity)
		return (int)b->severity - (int)a->severity;
	if ((c = strcmp(a->rule, b->rule)) != 0)
		return c;
	return strcmp(a->subject, b->subject);
}

/* Orders resources by subscription, resource group and name. */
static int res_by_place(const void *x, const void *y)
{
	const struct audit_resource *a = x, *b = y;
	int c;

	if ((c = strcasecmp(a->subscription, b->subscription)) != 0 ||
	    (c = strcasecmp(a->resource_group, b->resource_group)) != 0)
		return c;
	return strcasecmp(a->name, b->name);
}

/* Sorts findings and resources by subscription, resource group and name. */
void audit_sort(struct audit_report *a)
{
	if (a->n)
		qsort(a->items, a->n, sizeof(*a->items), by_place);
	if (a->nres)
		qsort(a->resources, a->nres, sizeof(*a->resources),
		      res_by_place);
}

/* Tells whether a finding at or above a severity exists. */
bool audit_fails(const struct audit_report *a, enum severity at_least)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->items[i].severity >= at_least)
			return true;
	return false;
}

/* Moves the findings and resources of part to the end of a (part is left
 * empty). */
void audit_merge(struct audit_report *a, struct audit_report *part)
{
	for (size_t i = 0; i < part->n; i++)
		*grow(a) = part->items[i];
	for (size_t i = 0; i < part->nres; i++) {
		if (a->nres == a->capres) {
			a->capres = a->capres ? a->capres * 2 : 64;
			a->resources =
				xrealloc(a->resources,
					 a->capres * sizeof(*a->resources));
		}
		a->resources[a->nres++] = part->resources[i];
	}
	part->n = part->nres = 0;
}

/* Frees a report. */
void audit_free(struct audit_report *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct audit_finding *f = &a->items[i];

		free(f->resource_id);
		free(f->subscription);
		free(f->resource_group);
		free(f->name);
		free(f->subject);
		free(f->message);
		free(f->detail);
	}
	for (size_t i = 0; i < a->nres; i++) {
		free(a->resources[i].id);
		free(a->resources[i].subscription);
		free(a->resources[i].resource_group);
		free(a->resources[i].name);
		free(a->resources[i].key);
	}
	for (size_t i = 0; i < a->nsubs; i++) {
		free(a->subs[i].id);
		free(a->subs[i].name);
	}
	free(a->items);
	free(a->resources);
	free(a->subs);
	memset(a, 0, sizeof(*a));
}

/* Finds a finding by its id (or a unique prefix of at least 6 digits); NULL
 * when none or ambiguous. */
const struct audit_finding *audit_find(const struct audit_report *a,
				       const char *id)
{
	const struct audit_finding *hit = NULL;
	size_t len = id ? strlen(id) : 0;

	if (len < 6 || len > 16)
		return NULL;
	for (size_t i = 0; i < a->n; i++) {
		if (strncasecmp(a->items[i].id, id, len) != 0)
			continue;
		if (hit && strcmp(hit->id, a->items[i].id) != 0)
			return NULL;
		hit = &a->items[i];
	}
	return hit;
}

/* ---- rendering ---- */

/* Returns the display name of a service key, translated ("" for none). */
static const char *service_name(const char *key)
{
	const struct svc_profile *p = key && *key ? svc_by_key(key) : NULL;

	return p ? _(p->name) : "";
}

/* Returns a subscription's display name, or its id. */
static const char *sub_label(const struct audit_report *a, const char *id)
{
	for (size_t i = 0; a && i < a->nsubs; i++)
		if (str_ieq(a->subs[i].id, id) && *a->subs[i].name)
			return a->subs[i].name;
	return id;
}

/* Returns a JSON string, or null for NULL. */
static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Builds one finding as the documented JSON object. */
static struct json_object *finding_json(const struct audit_finding *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", jstr(f->id));
	json_object_object_add(o, "resourceId", jstr(f->resource_id));
	json_object_object_add(o, "subscriptionId", jstr(f->subscription));
	json_object_object_add(o, "resourceGroup", jstr(f->resource_group));
	json_object_object_add(o, "name", jstr(f->name));
	json_object_object_add(o, "service", jstr(f->service));
	json_object_object_add(o, "rule", jstr(f->rule));
	json_object_object_add(o, "severity",
			       jstr(cmk_severity_name(f->severity)));
	json_object_object_add(o, "verdict",
			       jstr(f->unknown ? "unknown" : "fails"));
	json_object_object_add(o, "subject", jstr(f->subject));
	json_object_object_add(o, "message", jstr(f->message));
	json_object_object_add(o, "detail", jstr(f->detail));
	json_object_object_add(o, "explanation", jstr(_(f->explanation)));
	json_object_object_add(o, "fix", jstr(_(f->fix)));
	return o;
}

/* Appends a JSON value on one line (spaced, slashes as they are), then frees
 * it. */
static void add_json(struct sbuf *b, struct json_object *o)
{
	sb_adds(b, json_object_to_json_string_ext(
			   o, JSON_C_TO_STRING_SPACED |
				      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Formats epoch seconds as an ISO 8601 UTC timestamp. */
static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Adds one CSV field, quoted as RFC 4180 asks when it holds a comma, a quote or
 * a line break. */
static void csv_field(struct sbuf *b, const char *s, bool last)
{
	s = s ? s : "";
	if (strpbrk(s, ",\"\r\n")) {
		sb_addc(b, '"');
		for (const char *p = s; *p; p++) {
			if (*p == '"')
				sb_addc(b, '"');
			sb_addc(b, *p);
		}
		sb_addc(b, '"');
	} else {
		sb_adds(b, s);
	}
	sb_adds(b, last ? "\r\n" : ",");
}

/* Maps a severity to a SARIF level. */
static const char *sarif_level(enum severity s)
{
	return s == SEV_BLOCKER   ? "error"
	       : s == SEV_WARNING ? "warning"
				  : "note";
}

/* Builds a SARIF text object ({"text": ...}). */
static struct json_object *sarif_text(const char *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "text", jstr(s ? s : ""));
	return o;
}

/* Returns a rule's message format with each %s shown as an ellipsis (a
 * description with no names in it). */
static char *unformat(const char *fmt)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			sb_adds(&b, "\xe2\x80\xa6");
			p++;
		} else {
			sb_addc(&b, *p);
		}
	}
	return sb_steal(&b);
}

/* Builds a SARIF reportingDescriptor for a rule. */
static struct json_object *sarif_rule(const char *id, enum severity sev,
				      const char *msg, const char *why,
				      const char *fix)
{
	struct json_object *r = json_object_new_object(),
			   *cfg = json_object_new_object(), *help;
	char *h = xasprintf("%s %s", _(why), _(fix)),
	     *short_text = unformat(_(msg));

	json_object_object_add(r, "id", jstr(id));
	json_object_object_add(r, "name", jstr(id));
	json_object_object_add(r, "shortDescription", sarif_text(short_text));
	json_object_object_add(r, "fullDescription", sarif_text(_(why)));
	help = sarif_text(h);
	json_object_object_add(r, "help", help);
	json_object_object_add(cfg, "level", jstr(sarif_level(sev)));
	json_object_object_add(r, "defaultConfiguration", cfg);
	free(short_text);
	free(h);
	return r;
}

/* Lists every rule the audit can report as SARIF reportingDescriptors; rule
 * order gives ruleIndex. */
static struct json_object *sarif_rules(void)
{
	struct json_object *rules = json_object_new_array();

	for (size_t i = 0; i < CMK_NRULES; i++)
		json_object_array_add(
			rules,
			sarif_rule(CMK_RULES[i].id, CMK_RULES[i].severity,
				   CMK_RULES[i].message,
				   CMK_RULES[i].explanation, CMK_RULES[i].fix));
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]);
	     i++)
		json_object_array_add(rules,
				      sarif_rule(AUDIT_RULES[i].id,
						 AUDIT_RULES[i].severity,
						 AUDIT_RULES[i].message,
						 AUDIT_RULES[i].explanation,
						 AUDIT_RULES[i].fix));
	return rules;
}

/* Returns a rule's index in sarif_rules(). */
static int sarif_rule_index(const char *id)
{
	for (size_t i = 0; i < CMK_NRULES; i++)
		if (str_ieq(CMK_RULES[i].id, id))
			return (int)i;
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]);
	     i++)
		if (str_ieq(AUDIT_RULES[i].id, id))
			return (int)(CMK_NRULES + i);
	return -1;
}

/*
 * Returns the resource's place in the portal as a reference relative to the
 * portal's base (allocated): "#resource" and the id, percent-encoded where a
 * fragment may not hold the character. A fragment-only reference keeps the
 * base's path when resolved (RFC 3986, 5.2.2), so SARIF viewers reach
 * https://portal.azure.com/#resource/subscriptions/...; a base ending in
 * "#resource/" would lose its fragment instead.
 */
static char *portal_ref(const char *rid)
{
	static const char keep[] = "-._~!$&'()*+,;=:@/?";
	struct sbuf b = { 0 };

	sb_adds(&b, "#resource");
	if (*rid != '/')
		sb_adds(&b, "/");
	for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p))
			sb_printf(&b, "%c", *p);
		else
			sb_printf(&b, "%%%02X", *p);
	return sb_steal(&b);
}

/* Builds one SARIF result: the rule, level, message, the resource as a
 * location, and the finding id as fingerprint. */
static struct json_object *sarif_result(const struct audit_finding *f)
{
	struct json_object *r = json_object_new_object(),
			   *loc = json_object_new_object(),
			   *phys = json_object_new_object(),
			   *art = json_object_new_object(),
			   *logical = json_object_new_object(),
			   *fp = json_object_new_object();
	const char *rid = f->resource_id;
	char *msg, *ref;

	json_object_object_add(r, "ruleId", jstr(f->rule));
	json_object_object_add(r, "ruleIndex",
			       json_object_new_int(sarif_rule_index(f->rule)));
	json_object_object_add(r, "level", jstr(sarif_level(f->severity)));
	msg = f->detail ? xasprintf("%s. %s", f->message, f->detail)
			: xstrdup(f->message);
	json_object_object_add(r, "message", sarif_text(msg));
	free(msg);
	ref = portal_ref(rid);
	json_object_object_add(art, "uri", jstr(ref));
	free(ref);
	json_object_object_add(art, "uriBaseId", jstr("AZURE"));
	json_object_object_add(phys, "artifactLocation", art);
	json_object_object_add(loc, "physicalLocation", phys);
	json_object_object_add(logical, "fullyQualifiedName", jstr(rid));
	json_object_object_add(logical, "kind", jstr("resource"));
	json_object_object_add(loc, "logicalLocations",
			       json_object_new_array());
	json_object_array_add(jx_get(loc, "logicalLocations"), logical);
	json_object_object_add(r, "locations", json_object_new_array());
	json_object_array_add(jx_get(r, "locations"), loc);
	json_object_object_add(fp, "azcmkFindingId/v1", jstr(f->id));
	json_object_object_add(r, "partialFingerprints", fp);
	return r;
}

/* ---- the streaming writer: begin, one part at a time, end ---- */

/* Writes the JSON head: schema, time, deep, and the subscriptions in scope, up
 * to the opening of the findings. */
static void json_head(struct audit_writer *w, const struct audit_report *meta)
{
	char when[32];

	iso_time(meta->generated, when);
	sb_printf(&w->out,
		  "{\n  \"schema\": \"%s\",\n  \"generatedAt\": \"%s\",\n  "
		  "\"deep\": %s,\n  \"subscriptions\": [",
		  SCHEMA, when, meta->deep ? "true" : "false");
	for (size_t i = 0; i < meta->nsubs; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "subscriptionId",
				       jstr(meta->subs[i].id));
		json_object_object_add(s, "displayName",
				       jstr(meta->subs[i].name));
		json_object_object_add(
			s, "readable",
			json_object_new_boolean(meta->subs[i].readable));
		sb_adds(&w->out, i ? ",\n    " : "\n    ");
		add_json(&w->out, s);
	}
	sb_adds(&w->out, meta->nsubs ? "\n  ],\n  \"findings\": ["
				     : "],\n  \"findings\": [");
}

/* Writes the SARIF head: the log, its one run, the tool with every rule, up to
 * the opening of the results. */
static void sarif_head(struct audit_writer *w)
{
	struct json_object *tool = json_object_new_object(),
			   *driver = json_object_new_object();
	struct json_object *base = json_object_new_object(),
			   *azure = json_object_new_object();

	json_object_object_add(driver, "name", jstr("azcmk"));
	json_object_object_add(driver, "version", jstr(PACKAGE_VERSION));
	json_object_object_add(driver, "informationUri", jstr(INFO_URI));
	json_object_object_add(driver, "rules", sarif_rules());
	json_object_object_add(tool, "driver", driver);
	json_object_object_add(azure, "uri",
			       jstr(w->meta && w->meta->portal
					    ? w->meta->portal
					    : "https://portal.azure.com/"));
	json_object_object_add(
		azure, "description",
		sarif_text("The Azure portal of the audited cloud; each "
			   "result's location is its resource there."));
	json_object_object_add(base, "AZURE", azure);
	sb_printf(&w->out,
		  "{\n  \"$schema\": \"%s\",\n  \"version\": \"2.1.0\",\n  "
		  "\"runs\": [\n    {\n      \"tool\": ",
		  SARIF_SCHEMA);
	add_json(&w->out, tool);
	sb_adds(&w->out, ",\n      \"originalUriBaseIds\": ");
	add_json(&w->out, base);
	sb_adds(&w->out, ",\n      \"results\": [");
}

/*
 * Writes the SARIF tail: the results closed, then the one invocation, with
 * when it started and whether it ran to the end (why is NULL) or stopped
 * (why says what failed, as a tool execution notification).
 */
static void sarif_end(struct audit_writer *w, const char *why)
{
	struct json_object *inv = json_object_new_object(),
			   *list = json_object_new_array();
	char when[32];

	iso_time(w->meta ? w->meta->generated : 0, when);
	json_object_object_add(inv, "executionSuccessful",
			       json_object_new_boolean(why == NULL));
	json_object_object_add(inv, "startTimeUtc", jstr(when));
	if (why) {
		struct json_object *n = json_object_new_object(),
				   *ns = json_object_new_array();

		json_object_object_add(n, "level", jstr("error"));
		json_object_object_add(n, "message", sarif_text(why));
		json_object_array_add(ns, n);
		json_object_object_add(inv, "toolExecutionNotifications", ns);
	}
	json_object_array_add(list, inv);
	sb_adds(&w->out, w->nfind ? "\n      ],\n      \"invocations\": "
				  : "],\n      \"invocations\": ");
	add_json(&w->out, list);
	sb_adds(&w->out, "\n    }\n  ]\n}\n");
}

/* Starts a writer and writes what comes before the findings (JSON head, CSV
 * header, SARIF tool and rules). */
void audit_writer_begin(struct audit_writer *w, enum audit_format f,
			bool colour, const struct audit_report *meta)
{
	static const char *const head[] = {
		"id",      "severity",       "rule",
		"service", "subscriptionId", "resourceGroup",
		"name",    "resourceId",     "subject",
		"message", "detail"
	};

	memset(w, 0, sizeof(*w));
	w->format = f;
	w->colour = colour;
	w->meta = meta;
	if (f == AUDIT_CSV)
		for (size_t i = 0; i < 11; i++)
			csv_field(&w->out, head[i], i == 10);
	else if (f == AUDIT_JSON)
		json_head(w, meta);
	else if (f == AUDIT_SARIF)
		sarif_head(w);
}

/* Remembers the table's current group (subscription, resource group, name). */
static void table_group(struct audit_writer *w, const struct audit_finding *f)
{
	free(w->sub);
	free(w->group);
	free(w->name);
	w->sub = xstrdup(f->subscription);
	w->group = xstrdup(f->resource_group);
	w->name = xstrdup(f->name);
}

/* Writes a finding's table line, under a subscription heading and a resource
 * line when they change. */
static void table_finding(struct audit_writer *w, const struct audit_finding *f)
{
	/* TRANSLATORS: the label of a prerequisite azcmk could not judge; at
	 * most 8 columns. */
	char *label = text_pad(
		f->unknown ? _("UNKNOWN") : cmk_severity_label(f->severity), 8);
	bool new_sub = !w->sub || !str_ieq(w->sub, f->subscription);

	if (new_sub) {
		const char *name = sub_label(w->meta, f->subscription);

		if (strcmp(name, f->subscription) == 0)
			sb_printf(&w->out, _("%sSubscription %s\n"),
				  w->sub ? "\n" : "", f->subscription);
		else
			sb_printf(&w->out, _("%sSubscription %s (%s)\n"),
				  w->sub ? "\n" : "", name, f->subscription);
	}
	if (*f->name && (new_sub || !str_ieq(w->group, f->resource_group) ||
			 !str_ieq(w->name, f->name)))
		sb_printf(&w->out, "  %s/%s%s%s%s\n", f->resource_group,
			  f->name, *f->service ? " (" : "",
			  service_name(f->service), *f->service ? ")" : "");
	table_group(w, f);
	sb_printf(&w->out, "    %s%s%s  %s  %s  [%s]\n",
		  w->colour ? cmk_severity_colour(f->severity) : "", label,
		  w->colour ? "\033[0m" : "", f->rule, f->message, f->id);
	free(label);
}

/* Writes one finding in the writer's format. */
static void write_finding(struct audit_writer *w, const struct audit_finding *f)
{
	const char *row[11] = { f->id,           cmk_severity_name(f->severity),
				f->rule,         f->service,
				f->subscription, f->resource_group,
				f->name,         f->resource_id,
				f->subject,      f->message,
				f->detail };

	switch (w->format) {
	case AUDIT_TABLE:
		table_finding(w, f);
		break;
	case AUDIT_CSV:
		for (size_t k = 0; k < 11; k++)
			csv_field(&w->out, row[k], k == 10);
		break;
	case AUDIT_JSON:
		sb_adds(&w->out, w->nfind ? ",\n    " : "\n    ");
		add_json(&w->out, finding_json(f));
		break;
	case AUDIT_SARIF:
		sb_adds(&w->out, w->nfind ? ",\n        " : "\n        ");
		add_json(&w->out, sarif_result(f));
		break;
	case AUDIT_TSV: {
		/* As az's -o tsv: the finding's JSON values in the order of
		 * their sorted keys, no header. */
		struct json_object *o = finding_json(f);

		tsv_row(&w->out, o);
		json_object_put(o);
		break;
	}
	}
	w->nfind++;
	w->sev[f->severity]++;
}

/* Writes a part of the report (one resource and its findings, or findings
 * alone) and counts it. */
void audit_writer_part(struct audit_writer *w, const struct audit_report *part)
{
	for (size_t i = 0; i < part->n; i++)
		write_finding(w, &part->items[i]);
	for (size_t i = 0; i < part->nres; i++) {
		w->nres++;
		w->ncmk += part->resources[i].cmk;
	}
}

/* Returns the findings counted by severity (allocated), each with its plural:
 * "3 blockers, 1 warning, 0 notes". */
char *audit_counts_text(size_t blockers, size_t warnings, size_t notes)
{
	char *b = xasprintf(P_("%zu blocker", "%zu blockers", blockers),
			    blockers),
	     *w = xasprintf(P_("%zu warning", "%zu warnings", warnings),
			    warnings),
	     *n = xasprintf(P_("%zu note", "%zu notes", notes), notes),
	     /* TRANSLATORS: the counts of blockers, warnings and notes. */
		     *all = xasprintf(_("%s, %s, %s"), b, w, n);

	free(b);
	free(w);
	free(n);
	return all;
}

/* Adds the table's closing summary. */
static void table_summary(struct audit_writer *w)
{
	size_t nsubs = w->meta ? w->meta->nsubs : 0;
	char *counts;

	if (w->nfind)
		sb_addc(&w->out, '\n');
	else
		sb_printf(&w->out, _("No findings.\n"));
	sb_printf(&w->out,
		  P_("%zu resource audited", "%zu resources audited", w->nres),
		  w->nres);
	sb_printf(&w->out,
		  P_(" in %zu subscription", " in %zu subscriptions", nsubs),
		  nsubs);
	sb_printf(&w->out,
		  _(": %zu on a customer-managed key, %zu on Microsoft-managed "
		    "keys.\n"),
		  w->ncmk, w->nres - w->ncmk);
	counts = audit_counts_text(w->sev[SEV_BLOCKER], w->sev[SEV_WARNING],
				   w->sev[SEV_NOTE]);
	/* TRANSLATORS: %s is the counts, as "3 blockers, 1 warning, 0 notes".
	 */
	sb_printf(&w->out, _("Findings: %s.\n"), counts);
	free(counts);
	if (w->meta && !w->meta->deep)
		sb_printf(&w->out,
			  _("Keys in use were not checked; run with --deep to "
			    "find keys that stopped working.\n"));
}

/* Writes what comes after the findings: the summary (table, JSON) or the
 * closing brackets (SARIF). */
void audit_writer_end(struct audit_writer *w)
{
	if (w->format == AUDIT_TABLE) {
		table_summary(w);
	} else if (w->format == AUDIT_JSON) {
		sb_printf(&w->out,
			  "%s],\n  \"summary\": {\"subscriptions\": %zu, "
			  "\"resources\": %zu, \"customerManaged\": %zu, "
			  "\"microsoftManaged\": %zu, \"findings\": %zu, "
			  "\"blocker\": %zu, \"warning\": %zu, \"note\": "
			  "%zu}\n}\n",
			  w->nfind ? "\n  " : "", w->meta ? w->meta->nsubs : 0,
			  w->nres, w->ncmk, w->nres - w->ncmk, w->nfind,
			  w->sev[SEV_BLOCKER], w->sev[SEV_WARNING],
			  w->sev[SEV_NOTE]);
	} else if (w->format == AUDIT_SARIF) {
		sarif_end(w, NULL);
	}
}

/* Ends a writer whose audit stopped before the end: SARIF closes its log
 * with the run marked unsuccessful and why; the other formats stop where
 * they are (their readers see no summary). */
void audit_writer_abort(struct audit_writer *w, const char *why)
{
	if (w->format == AUDIT_SARIF)
		sarif_end(w, why ? why : "");
}

/* Tells whether the writer wrote a finding at or above a severity. */
bool audit_writer_fails(const struct audit_writer *w, enum severity at_least)
{
	for (int s = (int)at_least; s <= SEV_BLOCKER; s++)
		if (w->sev[s])
			return true;
	return false;
}

/* Frees what the writer holds (text not yet taken, the table's group). */
void audit_writer_free(struct audit_writer *w)
{
	sb_free(&w->out);
	free(w->sub);
	free(w->group);
	free(w->name);
	memset(w, 0, sizeof(*w));
}

/* Renders a whole report held in memory in a format: the table (colour only
 * when asked), JSON, CSV, SARIF or TSV. */
char *audit_render(const struct audit_report *a, enum audit_format f,
		   bool colour)
{
	struct audit_writer w;
	char *text;

	audit_writer_begin(&w, f, colour, a);
	audit_writer_part(&w, a);
	audit_writer_end(&w);
	text = sb_steal(&w.out);
	audit_writer_free(&w);
	return text;
}

/* Reads one finding back from the report's JSON; false when a member is
 * missing. */
static bool finding_from_json(struct json_object *o, struct audit_finding *f)
{
	const char *id = jx_str(o, "id"), *rule = jx_str(o, "rule"),
		   *rid = jx_str(o, "resourceId");
	const struct cmk_rule *cr = rule ? cmk_rule_find(rule) : NULL;
	const struct audit_rule *ar = rule ? audit_rule(rule) : NULL;
	const struct svc_profile *svc =
		svc_by_key(jx_str(o, "service") ? jx_str(o, "service") : "");

	if (!id || strlen(id) != 16 || !rid || (!cr && !ar))
		return false;
	memcpy(f->id, id, 17);
	f->resource_id = xstrdup(rid);
	id_parts(rid, &f->subscription, &f->resource_group, &f->name);
	f->service = svc ? svc->key : "";
	f->rule = cr ? cr->id : ar->id;
	f->severity = cr ? cr->severity : ar->severity;
	f->subject = xstrdup(jx_str(o, "subject") ? jx_str(o, "subject") : rid);
	f->message = text_sanitize(
		jx_str(o, "message") ? jx_str(o, "message") : "", false);
	f->detail = jx_str(o, "detail")
			    ? text_sanitize(jx_str(o, "detail"), false)
			    : NULL;
	f->explanation = cr ? cr->explanation : ar->explanation;
	f->fix = cr ? cr->fix : ar->fix;
	return true;
}

/* Reads a report written with --output json (the findings; enough for azcmk
 * fix); -1 with a reason when it is not one. */
int audit_from_json(struct json_object *o, struct audit_report *out, char **err)
{
	struct json_object *list = jx_get(o, "findings");

	memset(out, 0, sizeof(*out));
	if (!str_ieq(jx_str(o, "schema"), SCHEMA) ||
	    !json_object_is_type(list, json_type_array)) {
		*err = xasprintf(_("not an azcmk audit report (expected "
				   "\"schema\": \"%s\" and a findings list)"),
				 SCHEMA);
		return -1;
	}
	for (size_t i = 0; i < jx_len(list); i++) {
		struct audit_finding f;

		memset(&f, 0, sizeof(f));
		if (!finding_from_json(jx_at(list, i), &f)) {
			*err = xasprintf(
				_("finding %zu of the report is incomplete or "
				  "names an unknown rule"),
				i + 1);
			audit_free(out);
			return -1;
		}
		*grow(out) = f;
	}
	return 0;
}
