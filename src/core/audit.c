/* The audit's findings across subscriptions: collected from the rules, identified, sorted and rendered. */
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
#include "xalloc.h"

#define SCHEMA "azcmk-audit/1"
#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define INFO_URI "https://github.com/azcmk/azcmk"

/* The audit's own rules: what could not be read is a finding too. */
static const struct audit_rule {
	const char *id;
	enum severity severity;
	const char *message;         /* N_() format with the name */
	const char *explanation;
	const char *fix;
} AUDIT_RULES[] = {
	{ "subscription.readable", SEV_WARNING, N_("subscription %s: you cannot read it, so it was not audited"),
	  N_("The audit sees only what you may read; resources in this subscription may use Microsoft-managed keys or "
	     "broken keys without anyone being told."),
	  N_("Ask for the Reader role on the subscription, or audit it as someone who has it.") },
	{ "resource.readable", SEV_WARNING, N_("%s: you cannot read the resource, so it was not audited"),
	  N_("The resource is listed in the subscription, but reading it was refused, so its encryption could not be "
	     "judged."),
	  N_("Ask for the Reader role on the resource or its resource group.") },
};

/* Finds one of the audit's own rules. */
static const struct audit_rule *audit_rule(const char *id)
{
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]); i++)
		if (str_ieq(AUDIT_RULES[i].id, id))
			return &AUDIT_RULES[i];
	return NULL;
}

/* Computes a finding's id: FNV-1a (64 bits) over rule, subject and resource, ignoring case, as 16 hex digits. */
void audit_id(const char *rule, const char *subject, const char *resource, char out[17])
{
	const char *parts[3] = { rule, subject, resource };
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
			h ^= (uint64_t)(unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			h *= 0x100000001b3ull;
		}
		h ^= '|';
		h *= 0x100000001b3ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Reads subscription, resource group and name from an ARM id ("" when absent). */
static void id_parts(const char *id, char **sub, char **group, char **name)
{
	struct armid a;

	if (armid_parse(id ? id : "", &a)) {
		*sub = xstrdup(a.subscription ? a.subscription : "");
		*group = xstrdup(a.resource_group ? a.resource_group : "");
		*name = xstrdup(a.full_name ? a.full_name : a.name ? a.name : "");
		armid_free(&a);
		return;
	}
	*sub = xstrdup(id && str_istarts(id, "/subscriptions/") ? id + strlen("/subscriptions/") : "");
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
void audit_add_subscription(struct audit_report *a, const char *id, const char *name, bool readable)
{
	a->subs = xrealloc(a->subs, (a->nsubs + 1) * sizeof(*a->subs));
	a->subs[a->nsubs].id = xstrdup(id);
	a->subs[a->nsubs].name = text_sanitize(name ? name : "", false);
	a->subs[a->nsubs].readable = readable;
	a->nsubs++;
}

/* Records a resource the audit judged, with its encryption state. */
void audit_add_resource(struct audit_report *a, const struct cmk_ctx *c, const char *key_uri)
{
	struct audit_resource *r;

	if (a->nres == a->capres) {
		a->capres = a->capres ? a->capres * 2 : 64;
		a->resources = xrealloc(a->resources, a->capres * sizeof(*a->resources));
	}
	r = &a->resources[a->nres++];
	r->id = xstrdup(jx_str(c->resource, "id") ? jx_str(c->resource, "id") : "");
	id_parts(r->id, &r->subscription, &r->resource_group, &r->name);
	r->service = c->svc->key;
	r->cmk = cmk_resource_on_cmk(c);
	r->key = key_uri ? text_sanitize(key_uri, false) : NULL;
}

/* Adds the failed rules of one resource's report. */
void audit_add_report(struct audit_report *a, const struct cmk_ctx *c, const struct cmk_report *r)
{
	const char *rid = jx_str(c->resource, "id") ? jx_str(c->resource, "id") : "";

	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];
		struct audit_finding *o = grow(a);

		o->resource_id = xstrdup(rid);
		id_parts(rid, &o->subscription, &o->resource_group, &o->name);
		o->service = c->svc->key;
		o->rule = f->rule->id;
		o->severity = f->severity;
		o->subject = xstrdup(f->subject ? f->subject : rid);
		o->message = xstrdup(f->message);
		o->detail = f->detail ? xstrdup(f->detail) : NULL;
		o->explanation = f->rule->explanation;
		o->fix = f->rule->fix;
		audit_id(o->rule, o->subject, rid, o->id);
	}
}

/*
 * Formats an audit rule's message with a name. The format comes from the
 * rule table (msgfmt --check verifies the translations keep its %s).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *audit_message(const struct audit_rule *r, const char *name)
{
	char *raw = xasprintf(_(r->message), name), *clean = text_sanitize(raw, false);

	free(raw);
	return clean;
}
#pragma GCC diagnostic pop

/*
 * Adds a finding for a subscription or resource that could not be read
 * (rule: subscription.readable, resource.readable), named by name or, when
 * NULL, by the id's own name; detail says what Azure answered, or NULL.
 */
void audit_add_unreadable(struct audit_report *a, const char *rule, const char *resource_id, const char *name,
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
	o->message = audit_message(r, name && *name ? name : *o->name ? o->name : resource_id);
	o->detail = detail ? text_sanitize(detail, false) : NULL;
	o->explanation = r->explanation;
	o->fix = r->fix;
	audit_id(o->rule, o->subject, resource_id, o->id);
	for (size_t i = 0; sub && i < a->nsubs; i++)
		if (str_ieq(a->subs[i].id, o->subscription))
			a->subs[i].readable = false;
}

/*
 * Rebuilds a resource, as ARM returns it, from a Resource Graph row (id, name,
 * type, kind, location, identity, properties) and, for a healthcare agent
 * service, its creation time from the resources list. A new object.
 */
struct json_object *audit_resource_from_row(struct json_object *row, const char *created)
{
	static const char *const keep[] = { "id", "name", "type", "kind", "location", "identity", "properties", NULL };
	struct json_object *r = json_object_new_object();

	for (int i = 0; keep[i]; i++) {
		struct json_object *v = jx_get(row, keep[i]);

		if (v && !json_object_is_type(v, json_type_null) && !(json_object_is_type(v, json_type_string) &&
		    !*json_object_get_string(v)))
			json_object_object_add(r, keep[i], json_object_get(v));
	}
	if (created)
		jx_set(r, "systemData.createdAt", json_object_new_string(created));
	return r;
}

/* Orders findings by subscription, resource group, name, then severity (worst first), rule and subject. */
static int by_place(const void *x, const void *y)
{
	const struct audit_finding *a = x, *b = y;
	int c;

	if ((c = strcasecmp(a->subscription, b->subscription)) != 0 || (c = strcasecmp(a->resource_group, b->resource_group)) != 0 ||
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

	if ((c = strcasecmp(a->subscription, b->subscription)) != 0 || (c = strcasecmp(a->resource_group, b->resource_group)) != 0)
		return c;
	return strcasecmp(a->name, b->name);
}

/* Sorts findings and resources by subscription, resource group and name. */
void audit_sort(struct audit_report *a)
{
	if (a->n)
		qsort(a->items, a->n, sizeof(*a->items), by_place);
	if (a->nres)
		qsort(a->resources, a->nres, sizeof(*a->resources), res_by_place);
}

/* Tells whether a finding at or above a severity exists. */
bool audit_fails(const struct audit_report *a, enum severity at_least)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->items[i].severity >= at_least)
			return true;
	return false;
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

/* Finds a finding by its id (or a unique prefix of at least 6 digits); NULL when none or ambiguous. */
const struct audit_finding *audit_find(const struct audit_report *a, const char *id)
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
	for (size_t i = 0; i < a->nsubs; i++)
		if (str_ieq(a->subs[i].id, id) && *a->subs[i].name)
			return a->subs[i].name;
	return id;
}

/* Counts findings of a severity. */
static size_t count_sev(const struct audit_report *a, enum severity s)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n; i++)
		n += a->items[i].severity == s;
	return n;
}

/* Adds the table's closing summary. */
static void table_summary(struct sbuf *b, const struct audit_report *a)
{
	size_t cmk = 0;

	for (size_t i = 0; i < a->nres; i++)
		cmk += a->resources[i].cmk;
	sb_printf(b, P_("%zu resource audited", "%zu resources audited", a->nres), a->nres);
	sb_printf(b, P_(" in %zu subscription", " in %zu subscriptions", a->nsubs), a->nsubs);
	sb_printf(b, _(": %zu on a customer-managed key, %zu on Microsoft-managed keys.\n"), cmk, a->nres - cmk);
	sb_printf(b, _("Findings: %zu blocker(s), %zu warning(s), %zu note(s).\n"), count_sev(a, SEV_BLOCKER),
		  count_sev(a, SEV_WARNING), count_sev(a, SEV_NOTE));
	if (!a->deep)
		sb_printf(b, _("Keys in use were not checked; run with --deep to find keys that stopped working.\n"));
}

/* Renders the findings grouped by subscription, then resource group and name, one finding per line. */
static char *render_table(const struct audit_report *a, bool colour)
{
	struct sbuf b = SBUF_INIT;
	const char *sub = NULL, *grp = NULL, *name = NULL;

	for (size_t i = 0; i < a->n; i++) {
		const struct audit_finding *f = &a->items[i];
		char *label = text_pad(cmk_severity_label(f->severity), 8);

		if (!sub || !str_ieq(sub, f->subscription)) {
			if (strcmp(sub_label(a, f->subscription), f->subscription) == 0)
				sb_printf(&b, _("%sSubscription %s\n"), sub ? "\n" : "", f->subscription);
			else
				sb_printf(&b, _("%sSubscription %s (%s)\n"), sub ? "\n" : "", sub_label(a, f->subscription),
					  f->subscription);
			grp = name = NULL;
		}
		if (!grp || !str_ieq(grp, f->resource_group) || !name || !str_ieq(name, f->name)) {
			if (*f->name)
				sb_printf(&b, "  %s/%s%s%s%s\n", f->resource_group, f->name, *f->service ? " (" : "",
					  service_name(f->service), *f->service ? ")" : "");
		}
		sub = f->subscription;
		grp = f->resource_group;
		name = f->name;
		sb_printf(&b, "    %s%s%s  %s  %s  [%s]\n", colour ? cmk_severity_colour(f->severity) : "", label,
			  colour ? "\033[0m" : "", f->rule, f->message, f->id);
		free(label);
	}
	if (a->n)
		sb_addc(&b, '\n');
	else
		sb_printf(&b, _("No findings.\n"));
	table_summary(&b, a);
	return sb_steal(&b);
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
	json_object_object_add(o, "severity", jstr(cmk_severity_name(f->severity)));
	json_object_object_add(o, "subject", jstr(f->subject));
	json_object_object_add(o, "message", jstr(f->message));
	json_object_object_add(o, "detail", jstr(f->detail));
	json_object_object_add(o, "explanation", jstr(_(f->explanation)));
	json_object_object_add(o, "fix", jstr(_(f->fix)));
	return o;
}

/* Formats epoch seconds as an ISO 8601 UTC timestamp. */
static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Builds the documented JSON report: schema, time, subscriptions, resources, summary and findings. */
static struct json_object *report_json(const struct audit_report *a)
{
	struct json_object *o = json_object_new_object(), *subs = json_object_new_array(), *res = json_object_new_array(),
			   *list = json_object_new_array(), *sum = json_object_new_object();
	char when[32];

	iso_time(a->generated, when);
	json_object_object_add(o, "schema", jstr(SCHEMA));
	json_object_object_add(o, "generatedAt", jstr(when));
	json_object_object_add(o, "deep", json_object_new_boolean(a->deep));
	for (size_t i = 0; i < a->nsubs; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "subscriptionId", jstr(a->subs[i].id));
		json_object_object_add(s, "displayName", jstr(a->subs[i].name));
		json_object_object_add(s, "readable", json_object_new_boolean(a->subs[i].readable));
		json_object_array_add(subs, s);
	}
	for (size_t i = 0; i < a->nres; i++) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "id", jstr(a->resources[i].id));
		json_object_object_add(r, "service", jstr(a->resources[i].service));
		json_object_object_add(r, "encryption", jstr(a->resources[i].cmk ? "customer-managed" : "microsoft-managed"));
		json_object_object_add(r, "key", jstr(a->resources[i].key));
		json_object_array_add(res, r);
	}
	for (size_t i = 0; i < a->n; i++)
		json_object_array_add(list, finding_json(&a->items[i]));
	json_object_object_add(sum, "subscriptions", json_object_new_int64((int64_t)a->nsubs));
	json_object_object_add(sum, "resources", json_object_new_int64((int64_t)a->nres));
	json_object_object_add(sum, "findings", json_object_new_int64((int64_t)a->n));
	for (int s = SEV_NOTE; s <= SEV_BLOCKER; s++)
		json_object_object_add(sum, cmk_severity_name((enum severity)s),
				       json_object_new_int64((int64_t)count_sev(a, (enum severity)s)));
	json_object_object_add(o, "subscriptions", subs);
	json_object_object_add(o, "resources", res);
	json_object_object_add(o, "summary", sum);
	json_object_object_add(o, "findings", list);
	return o;
}

/* Adds one CSV field, quoted as RFC 4180 asks when it holds a comma, a quote or a line break. */
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

/* Renders the findings as CSV with a header row (RFC 4180, CRLF line ends). */
static char *render_csv(const struct audit_report *a)
{
	static const char *const head[] = { "id", "severity", "rule", "service", "subscriptionId", "resourceGroup", "name",
					    "resourceId", "subject", "message", "detail" };
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < 11; i++)
		csv_field(&b, head[i], i == 10);
	for (size_t i = 0; i < a->n; i++) {
		const struct audit_finding *f = &a->items[i];
		const char *row[] = { f->id, cmk_severity_name(f->severity), f->rule, f->service, f->subscription,
				      f->resource_group, f->name, f->resource_id, f->subject, f->message, f->detail };

		for (size_t k = 0; k < 11; k++)
			csv_field(&b, row[k], k == 10);
	}
	return sb_steal(&b);
}

/* Maps a severity to a SARIF level. */
static const char *sarif_level(enum severity s)
{
	return s == SEV_BLOCKER ? "error" : s == SEV_WARNING ? "warning" : "note";
}

/* Builds a SARIF text object ({"text": ...}). */
static struct json_object *sarif_text(const char *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "text", jstr(s ? s : ""));
	return o;
}

/* Returns a rule's message format with each %s shown as an ellipsis (a description with no names in it). */
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
static struct json_object *sarif_rule(const char *id, enum severity sev, const char *msg, const char *why, const char *fix)
{
	struct json_object *r = json_object_new_object(), *cfg = json_object_new_object(), *help;
	char *h = xasprintf("%s %s", _(why), _(fix)), *short_text = unformat(_(msg));

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

/* Lists every rule the audit can report as SARIF reportingDescriptors; rule order gives ruleIndex. */
static struct json_object *sarif_rules(void)
{
	struct json_object *rules = json_object_new_array();

	for (size_t i = 0; i < CMK_NRULES; i++)
		json_object_array_add(rules, sarif_rule(CMK_RULES[i].id, CMK_RULES[i].severity, CMK_RULES[i].message,
							CMK_RULES[i].explanation, CMK_RULES[i].fix));
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]); i++)
		json_object_array_add(rules, sarif_rule(AUDIT_RULES[i].id, AUDIT_RULES[i].severity, AUDIT_RULES[i].message,
							AUDIT_RULES[i].explanation, AUDIT_RULES[i].fix));
	return rules;
}

/* Returns a rule's index in sarif_rules(). */
static int sarif_rule_index(const char *id)
{
	for (size_t i = 0; i < CMK_NRULES; i++)
		if (str_ieq(CMK_RULES[i].id, id))
			return (int)i;
	for (size_t i = 0; i < sizeof(AUDIT_RULES) / sizeof(AUDIT_RULES[0]); i++)
		if (str_ieq(AUDIT_RULES[i].id, id))
			return (int)(CMK_NRULES + i);
	return -1;
}

/* Builds one SARIF result: the rule, level, message, the resource as a location, and the finding id as fingerprint. */
static struct json_object *sarif_result(const struct audit_finding *f)
{
	struct json_object *r = json_object_new_object(), *loc = json_object_new_object(), *phys = json_object_new_object(),
			   *art = json_object_new_object(), *logical = json_object_new_object(), *fp = json_object_new_object();
	const char *rid = f->resource_id;
	char *msg;

	json_object_object_add(r, "ruleId", jstr(f->rule));
	json_object_object_add(r, "ruleIndex", json_object_new_int(sarif_rule_index(f->rule)));
	json_object_object_add(r, "level", jstr(sarif_level(f->severity)));
	msg = f->detail ? xasprintf("%s. %s", f->message, f->detail) : xstrdup(f->message);
	json_object_object_add(r, "message", sarif_text(msg));
	free(msg);
	json_object_object_add(art, "uri", jstr(*rid == '/' ? rid + 1 : rid));
	json_object_object_add(art, "uriBaseId", jstr("AZURE"));
	json_object_object_add(phys, "artifactLocation", art);
	json_object_object_add(loc, "physicalLocation", phys);
	json_object_object_add(logical, "fullyQualifiedName", jstr(rid));
	json_object_object_add(logical, "kind", jstr("resource"));
	json_object_object_add(loc, "logicalLocations", json_object_new_array());
	json_object_array_add(jx_get(loc, "logicalLocations"), logical);
	json_object_object_add(r, "locations", json_object_new_array());
	json_object_array_add(jx_get(r, "locations"), loc);
	json_object_object_add(fp, "azcmkFindingId/v1", jstr(f->id));
	json_object_object_add(r, "partialFingerprints", fp);
	return r;
}

/* Builds the SARIF 2.1.0 log: one run, azcmk as the tool with every rule, a result per finding. */
static struct json_object *report_sarif(const struct audit_report *a)
{
	struct json_object *log = json_object_new_object(), *run = json_object_new_object(), *tool = json_object_new_object(),
			   *driver = json_object_new_object(), *results = json_object_new_array(), *base = json_object_new_object(),
			   *azure = json_object_new_object();

	json_object_object_add(driver, "name", jstr("azcmk"));
	json_object_object_add(driver, "version", jstr(PACKAGE_VERSION));
	json_object_object_add(driver, "informationUri", jstr(INFO_URI));
	json_object_object_add(driver, "rules", sarif_rules());
	json_object_object_add(tool, "driver", driver);
	json_object_object_add(run, "tool", tool);
	json_object_object_add(azure, "uri", jstr("https://portal.azure.com/#resource/"));
	json_object_object_add(base, "AZURE", azure);
	json_object_object_add(run, "originalUriBaseIds", base);
	for (size_t i = 0; i < a->n; i++)
		json_object_array_add(results, sarif_result(&a->items[i]));
	json_object_object_add(run, "results", results);
	json_object_object_add(log, "$schema", jstr(SARIF_SCHEMA));
	json_object_object_add(log, "version", jstr("2.1.0"));
	json_object_object_add(log, "runs", json_object_new_array());
	json_object_array_add(jx_get(log, "runs"), run);
	return log;
}

/* Renders the report in a format: the table (colour only when asked), JSON, CSV or SARIF. */
char *audit_render(const struct audit_report *a, enum audit_format f, bool colour)
{
	struct json_object *o;
	char *text;

	if (f == AUDIT_TABLE)
		return render_table(a, colour);
	if (f == AUDIT_CSV)
		return render_csv(a);
	o = f == AUDIT_SARIF ? report_sarif(a) : report_json(a);
	text = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

/* Reads one finding back from the report's JSON; false when a member is missing. */
static bool finding_from_json(struct json_object *o, struct audit_finding *f)
{
	const char *id = jx_str(o, "id"), *rule = jx_str(o, "rule"), *rid = jx_str(o, "resourceId");
	const struct cmk_rule *cr = rule ? cmk_rule_find(rule) : NULL;
	const struct audit_rule *ar = rule ? audit_rule(rule) : NULL;
	const struct svc_profile *svc = svc_by_key(jx_str(o, "service") ? jx_str(o, "service") : "");

	if (!id || strlen(id) != 16 || !rid || (!cr && !ar))
		return false;
	memcpy(f->id, id, 17);
	f->resource_id = xstrdup(rid);
	id_parts(rid, &f->subscription, &f->resource_group, &f->name);
	f->service = svc ? svc->key : "";
	f->rule = cr ? cr->id : ar->id;
	f->severity = cr ? cr->severity : ar->severity;
	f->subject = xstrdup(jx_str(o, "subject") ? jx_str(o, "subject") : rid);
	f->message = text_sanitize(jx_str(o, "message") ? jx_str(o, "message") : "", false);
	f->detail = jx_str(o, "detail") ? text_sanitize(jx_str(o, "detail"), false) : NULL;
	f->explanation = cr ? cr->explanation : ar->explanation;
	f->fix = cr ? cr->fix : ar->fix;
	return true;
}

/* Reads a report written with --output json (the findings; enough for azcmk fix); -1 with a reason when it is not one. */
int audit_from_json(struct json_object *o, struct audit_report *out, char **err)
{
	struct json_object *list = jx_get(o, "findings");

	memset(out, 0, sizeof(*out));
	if (!str_ieq(jx_str(o, "schema"), SCHEMA) || !json_object_is_type(list, json_type_array)) {
		*err = xasprintf(_("not an azcmk audit report (expected \"schema\": \"%s\" and a findings list)"), SCHEMA);
		return -1;
	}
	for (size_t i = 0; i < jx_len(list); i++) {
		struct audit_finding f;

		memset(&f, 0, sizeof(f));
		if (!finding_from_json(jx_at(list, i), &f)) {
			*err = xasprintf(_("finding %zu of the report is incomplete or names an unknown rule"), i + 1);
			audit_free(out);
			return -1;
		}
		*grow(out) = f;
	}
	return 0;
}
