/* Schema checks for simulator scenario files and fault rules, reporting the
 * JSON path of the first fault. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "jx.h"
#include "sbuf.h"
#include "scenario.h"
#include "text.h"
#include "xalloc.h"

/* The state of one validation: where we are in the document and the first fault
 * found. */
struct vctx {
	struct sbuf path;         /* JSON path of the value being checked, e.g.
				     "$.resources[3]" */
	struct json_object *root; /* the whole scenario for cross-references;
				     NULL for a lone fault */
	char *err; /* the first fault as "path: message", or NULL */
};

struct type;

/* One member of an object: its key, whether it must be present, and the type of
 * its value. */
struct field {
	const char *key;
	bool required;
	const struct type *type;
};

/*
 * A declarative description of acceptable JSON values. check_value applies the
 * parts in this order: ok (shape, range, format, choices), fields, items,
 * unique, name and values, then check.
 */
struct type {
	const char *what; /* noun phrase after "expected"; NULL for choices */
	bool (*ok)(const struct type *t,
		   struct json_object *v); /* shape predicate */
	int64_t min,
		max; /* integer bounds; minimum length of strings and arrays */
	bool (*fmt)(const char *s); /* extra test on string values, or NULL */
	const char *const
		*choices; /* allowed strings for is_choice, NULL-terminated */
	const struct field
		*fields;          /* object members, terminated by a NULL key */
	bool closed;              /* refuse object members not in fields */
	const struct type *items; /* type of every array element */
	const char *unique;       /* element member whose string must not repeat
				     (ignoring case) */
	bool (*name)(struct vctx *c,
		     const char *key); /* check on every object member name */
	const struct type *values;     /* type of every object member value */
	bool (*check)(struct vctx *c,
		      struct json_object *v); /* extra rule, run last */
};

/* Records the first fault as "path: message" and returns false, so callers can
 * return its result. */
static bool fail(struct vctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool fail(struct vctx *c, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (c->err)
		return false;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->err = xasprintf("%s: %s", sb_str(&c->path), msg);
	free(msg);
	return false;
}

/* Returns s as a JSON string literal that is safe to print on a terminal. */
static char *quote(const char *s)
{
	struct json_object *j = json_object_new_string(s);
	char *q = text_sanitize(jx_text(j), false);

	json_object_put(j);
	return q;
}

/* Tells whether a member name can follow a dot in a JSON path without quoting.
 */
static bool is_ident(const char *k)
{
	if (!isalpha((unsigned char)*k) && *k != '_')
		return false;
	while (*++k)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return false;
	return true;
}

/* Appends a member name to the path (".key" or ["key"]); returns the old length
 * for path_pop. */
static size_t path_key(struct vctx *c, const char *key)
{
	size_t mark = c->path.len;
	char *q;

	if (is_ident(key)) {
		sb_printf(&c->path, ".%s", key);
		return mark;
	}
	q = quote(key);
	sb_printf(&c->path, "[%s]", q);
	free(q);
	return mark;
}

/* Appends an array index to the path; returns the old length for path_pop. */
static size_t path_index(struct vctx *c, size_t i)
{
	size_t mark = c->path.len;

	sb_printf(&c->path, "[%zu]", i);
	return mark;
}

/* Cuts the path back to a length returned by path_key or path_index. */
static void path_pop(struct vctx *c, size_t mark)
{
	c->path.len = mark;
	c->path.s[mark] = '\0';
}

/* Returns the string value of an object member (exact key), or NULL when absent
 * or not a string. */
static const char *member_str(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_object_get(o, key);

	return json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Tells whether a NULL-terminated list holds s exactly. */
static bool in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Tells whether a NULL-terminated list holds s ignoring case. */
static bool in_list_icase(const char *const *list, const char *s)
{
	for (; s && *list; list++)
		if (str_ieq(*list, s))
			return true;
	return false;
}

/* ---- string formats ---- */

/* Tells whether s holds a PEM certificate header. */
static bool has_cert_header(const char *s)
{
	return strstr(s, "-----BEGIN CERTIFICATE-----") != NULL;
}

/* Tells whether s starts with "/subscriptions/", ignoring case. */
static bool starts_subscriptions(const char *s)
{
	return str_istarts(s, "/subscriptions/");
}

/* The prefix of a built-in policy definition's id: tenant-level, the one
 * resource a scenario may hold outside a subscription. */
#define BUILTIN_POLICY "/providers/Microsoft.Authorization/policyDefinitions/"

/* Tells whether s is a resource id: below a subscription, or a built-in
 * policy definition's. */
static bool is_resource_id(const char *s)
{
	return starts_subscriptions(s) ||
	       (str_istarts(s, BUILTIN_POLICY) && s[strlen(BUILTIN_POLICY)] &&
		!strchr(s + strlen(BUILTIN_POLICY), '/'));
}

/* Tells whether s is a role assignment scope: the root, a subscription path or
 * a management group path. */
static bool is_scope(const char *s)
{
	return strcmp(s, "/") == 0 || str_istarts(s, "/subscriptions/") ||
	       str_istarts(s,
			   "/providers/Microsoft.Management/managementGroups/");
}

/* Tells whether s is a role definition UUID or an id ending in
 * "/roleDefinitions/{UUID}". */
static bool is_role_definition(const char *s)
{
	static const char tail[] = "/roleDefinitions/";
	size_t n = strlen(s), t = sizeof(tail) - 1;

	if (is_uuid(s))
		return true;
	return n >= t + 36 && is_uuid(s + n - 36) &&
	       str_istarts(s + n - 36 - t, tail);
}

/* ---- shape predicates ---- */

/* Accepts strings at least min bytes long that pass the type's format test, if
 * any. */
static bool is_string(const struct type *t, struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       json_object_get_string_len(v) >= t->min &&
	       (!t->fmt || t->fmt(json_object_get_string(v)));
}

/* Accepts one of the type's choices, compared exactly. */
static bool is_choice(const struct type *t, struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       in_list(t->choices, json_object_get_string(v));
}

/* Accepts JSON integers (not fractions) within the type's bounds. */
static bool is_int_range(const struct type *t, struct json_object *v)
{
	return json_object_is_type(v, json_type_int) &&
	       json_object_get_int64(v) >= t->min &&
	       json_object_get_int64(v) <= t->max;
}

/* Accepts arrays with at least min elements. */
static bool is_array(const struct type *t, struct json_object *v)
{
	return json_object_is_type(v, json_type_array) &&
	       (int64_t)json_object_array_length(v) >= t->min;
}

/* Accepts objects. */
static bool is_object(const struct type *t, struct json_object *v)
{
	(void)t;
	return json_object_is_type(v, json_type_object);
}

/* Accepts an object or an array: a JSON body a fault answers with. */
static bool is_body(const struct type *t, struct json_object *v)
{
	(void)t;
	return json_object_is_type(v, json_type_object) ||
	       json_object_is_type(v, json_type_array);
}

/* Accepts true and false. */
static bool is_bool(const struct type *t, struct json_object *v)
{
	(void)t;
	return json_object_is_type(v, json_type_boolean);
}

/* ---- reporting ---- */

/* Appends a NULL-terminated list of strings joined by ", ". */
static void join_list(struct sbuf *b, const char *const *list)
{
	for (const char *const *p = list; *p; p++)
		sb_printf(b, "%s%s", p == list ? "" : ", ", *p);
}

/* Appends the keys of a field list joined by ", ". */
static void join_fields(struct sbuf *b, const struct field *fields)
{
	for (const struct field *f = fields; f->key; f++)
		sb_printf(b, "%s%s", f == fields ? "" : ", ", f->key);
}

/* Reports a value that does not fit its type, prefixed (e.g. "missing; ") and
 * naming what was expected. */
static bool fail_expected(struct vctx *c, const char *prefix,
			  const struct type *t)
{
	struct sbuf b = SBUF_INIT;

	if (t->what) {
		sb_adds(&b, t->what);
	} else {
		sb_adds(&b, "one of ");
		join_list(&b, t->choices);
	}
	fail(c, "%sexpected %s", prefix, sb_str(&b));
	sb_free(&b);
	return false;
}

/* Returns the edit distance between two short strings ignoring case; long
 * strings count as far apart. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), row[65];

	if (n > 64 || m > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= m; j++)
		row[j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t up = row[j];
			size_t best =
				diag + (tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]));

			best = up + 1 < best ? up + 1 : best;
			row[j] = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
			diag = up;
		}
	}
	return row[m];
}

/* Returns the field a mistyped key probably meant (same letters in another
 * case, or two edits away), or NULL. */
static const struct field *near_field(const struct field *fields,
				      const char *key)
{
	for (const struct field *f = fields; f->key; f++)
		if (str_ieq(f->key, key) ||
		    (strlen(key) > 3 && edit_distance(f->key, key) <= 2))
			return f;
	return NULL;
}

/* Reports a member that a closed object does not allow, suggesting the key it
 * was probably meant to be. */
static bool fail_unknown(struct vctx *c, const char *key,
			 const struct field *fields)
{
	const struct field *near = near_field(fields, key);
	struct sbuf b = SBUF_INIT;
	size_t mark = path_key(c, key);

	if (near) {
		sb_printf(&b, "did you mean %s?", near->key);
	} else {
		sb_adds(&b, "expected one of ");
		join_fields(&b, fields);
	}
	fail(c, "unknown key; %s", sb_str(&b));
	sb_free(&b);
	path_pop(c, mark);
	return false;
}

/* ---- the walker ---- */

static bool check_value(struct vctx *c, struct json_object *v,
			const struct type *t);

/* Tells whether a field list names key exactly. */
static bool has_field(const struct field *fields, const char *key)
{
	for (const struct field *f = fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return true;
	return false;
}

/* Refuses object members that the field list does not name. */
static bool check_known(struct vctx *c, struct json_object *o,
			const struct field *fields)
{
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (!has_field(fields, key))
			return fail_unknown(c, key, fields);
	}
	return true;
}

/* Checks one member of an object; null counts as absent for optional members.
 */
static bool check_field(struct vctx *c, struct json_object *o,
			const struct field *f)
{
	struct json_object *v = NULL;
	bool present = json_object_object_get_ex(o, f->key, &v);
	size_t mark = path_key(c, f->key);
	bool ok = true;

	if (!present && f->required)
		ok = fail_expected(c, "missing; ", f->type);
	else if (present && (v || f->required))
		ok = check_value(c, v, f->type);
	path_pop(c, mark);
	return ok;
}

/* Checks the members of an object against a field list, in list order. */
static bool check_fields(struct vctx *c, struct json_object *o,
			 const struct type *t)
{
	if (t->closed && !check_known(c, o, t->fields))
		return false;
	for (const struct field *f = t->fields; f->key; f++)
		if (!check_field(c, o, f))
			return false;
	return true;
}

/* Checks every element of an array against one type. */
static bool check_items(struct vctx *c, struct json_object *a,
			const struct type *t)
{
	for (size_t i = 0; i < jx_len(a); i++) {
		size_t mark = path_index(c, i);
		bool ok = check_value(c, jx_at(a, i), t);

		path_pop(c, mark);
		if (!ok)
			return false;
	}
	return true;
}

/* Refuses an array whose elements repeat a string member, ignoring case. */
static bool check_unique(struct vctx *c, struct json_object *a, const char *key)
{
	struct json_object *seen = json_object_new_object(), *prev;
	bool ok = true;

	for (size_t i = 0; ok && i < jx_len(a); i++) {
		const char *s = member_str(jx_at(a, i), key);
		char *low = str_lower(s ? s : "");
		size_t mark = c->path.len;

		if (json_object_object_get_ex(seen, low, &prev)) {
			path_index(c, i);
			path_key(c, key);
			ok = fail(c,
				  "duplicates %.*s[%d].%s (compared ignoring "
				  "case)",
				  (int)mark, c->path.s,
				  json_object_get_int(prev), key);
			path_pop(c, mark);
		} else {
			json_object_object_add(seen, low,
					       json_object_new_int((int)i));
		}
		free(low);
	}
	json_object_put(seen);
	return ok;
}

/* Checks the name and value of every member of an object. */
static bool check_members(struct vctx *c, struct json_object *o,
			  const struct type *t)
{
	json_object_object_foreach(o, key, val)
	{
		size_t mark = path_key(c, key);
		bool ok = (!t->name || t->name(c, key)) &&
			  (!t->values || check_value(c, val, t->values));

		path_pop(c, mark);
		if (!ok)
			return false;
	}
	return true;
}

/* Checks a value against a type; on failure the context holds the message. */
static bool check_value(struct vctx *c, struct json_object *v,
			const struct type *t)
{
	if (!t->ok(t, v))
		return fail_expected(c, "", t);
	if (t->fields && !check_fields(c, v, t))
		return false;
	if (t->items && !check_items(c, v, t->items))
		return false;
	if (t->unique && !check_unique(c, v, t->unique))
		return false;
	if ((t->name || t->values) && !check_members(c, v, t))
		return false;
	return !t->check || t->check(c, v);
}

/* ---- cross-references and rules that span members ---- */

/* Tells whether the first segment of rest (up to '/') is a subscriptionId
 * listed in $.subscriptions. */
static bool subscription_listed(struct vctx *c, const char *rest)
{
	struct json_object *subs =
		json_object_object_get(c->root, "subscriptions");
	char *seg = xstrndup(rest, strcspn(rest, "/"));
	bool found = false;

	for (size_t i = 0; !found && i < jx_len(subs); i++)
		found = str_ieq(member_str(jx_at(subs, i), "subscriptionId"),
				seg);
	free(seg);
	return found;
}

/* Reports a resource id whose subscription is not in $.subscriptions. */
static bool fail_subscription(struct vctx *c, const char *rest)
{
	char *seg = xstrndup(rest, strcspn(rest, "/"));
	char *q = quote(seg);

	fail(c,
	     "expected a string starting with /subscriptions/ and a "
	     "subscriptionId listed in $.subscriptions, "
	     "but %s is not listed",
	     q);
	free(q);
	free(seg);
	return false;
}

/* Returns where the last "/providers/" of an id starts, or NULL. */
static const char *last_providers(const char *id)
{
	const char *last = NULL;

	for (const char *p = id; (p = strcasestr(p, "/providers/")) != NULL;
	     p++)
		last = p;
	return last;
}

/*
 * Returns the type an id names (allocated), or NULL when armid_parse refuses
 * it. armid_parse reads an extension id
 * (".../vaults/kv/providers/Microsoft.Authorization/ roleAssignments/x") as
 * type ".../vaults/providers/roleAssignments", so the type of such an id is
 * taken from its last provider part instead.
 */
static char *id_type(const char *id, bool *collection)
{
	const char *last = last_providers(id);
	char *tail = NULL, *type = NULL;
	struct armid a;

	if (!armid_parse(id, &a))
		return NULL;
	if (last && last != strcasestr(id, "/providers/")) {
		armid_free(&a);
		tail = xasprintf("/subscriptions/x%s", last);
		if (!armid_parse(tail, &a)) {
			free(tail);
			return NULL;
		}
	}
	type = a.type;
	a.type = NULL;
	*collection = a.collection;
	armid_free(&a);
	free(tail);
	return type;
}

/* Checks a resource id: no empty segments, a listed subscription, one resource
 * that armid_parse understands. */
static bool check_resource_id(struct vctx *c, struct json_object *v)
{
	const char *id = json_object_get_string(v);
	const char *rest = id + strlen("/subscriptions/");
	bool collection = false;
	char *type;

	if (strstr(id, "//") || str_iends(id, "/"))
		return fail(c, "expected a resource id without empty segments "
			       "or a trailing slash");
	if (str_istarts(id, BUILTIN_POLICY))
		return true;
	if (!subscription_listed(c, rest))
		return fail_subscription(c, rest);
	type = id_type(id, &collection);
	if (!type)
		return fail(c, "expected a resource id such as "
			       "/subscriptions/{id}/resourceGroups/{group}"
			       "/providers/{namespace}/{type}/{name}");
	free(type);
	return !collection ||
	       fail(c, "expected the id of one resource, not of a collection");
}

/* Checks that a resource's type is the one its id names (ignoring case). */
static bool check_resource_type(struct vctx *c, struct json_object *r)
{
	bool collection;
	char *type = id_type(member_str(r, "id"), &collection), *q;
	size_t mark;

	if (!type || str_ieq(member_str(r, "type"), type)) {
		free(type); /* no type is not reached: the id has been checked
			       already */
		return true;
	}
	mark = path_key(c, "type");
	q = quote(type);
	fail(c, "expected %s, the type its id names", q);
	free(q);
	free(type);
	path_pop(c, mark);
	return false;
}

/* Checks that a key's attributes give its expiry once: as exp or as expIn. */
static bool check_exp_once(struct vctx *c, struct json_object *a)
{
	size_t mark;
	bool ok;

	if (!json_object_object_get_ex(a, "exp", NULL) ||
	    !json_object_object_get_ex(a, "expIn", NULL))
		return true;
	mark = path_key(c, "expIn");
	ok = fail(c, "expected exp or expIn, not both");
	path_pop(c, mark);
	return ok;
}

/* The resource types whose names may appear in $.keys. */
static const char *const VAULT_TYPES[] = { "Microsoft.KeyVault/vaults",
					   "Microsoft.KeyVault/managedHSMs",
					   NULL };

/* Checks that a member name of $.keys is the name of a vault or managed HSM in
 * $.resources. */
static bool vault_known(struct vctx *c, const char *name)
{
	struct json_object *rs = json_object_object_get(c->root, "resources");
	char *q;

	for (size_t i = 0; i < jx_len(rs); i++)
		if (str_ieq(member_str(jx_at(rs, i), "name"), name) &&
		    in_list_icase(VAULT_TYPES,
				  member_str(jx_at(rs, i), "type")))
			return true;
	q = quote(name);
	fail(c,
	     "expected the name of a Microsoft.KeyVault/vaults or "
	     "Microsoft.KeyVault/managedHSMs resource "
	     "in $.resources, but none is named %s",
	     q);
	free(q);
	return false;
}

/* Checks a key name against ^[0-9a-zA-Z-]{1,127}$. */
static bool key_name_ok(struct vctx *c, const char *name)
{
	static const char allowed[] = "0123456789abcdefghijklmnopqrstuvwxyzABCD"
				      "EFGHIJKLMNOPQRSTUVWXYZ-";
	size_t n = strlen(name);

	if (n >= 1 && n <= 127 && strspn(name, allowed) == n)
		return true;
	return fail(
		c,
		"expected a key name of 1 to 127 letters, digits and hyphens");
}

/* The member each fault kind cannot do without. */
static const struct {
	const char *kind, *key, *what;
} FAULT_NEEDS[] = {
	{ "status", "status", "an integer from 100 to 599" },
	{ "latency", "latencyMs", "an integer >= 0" },
};

/* Checks the rules between a fault's members: something to do, and what its
 * kind needs. */
static bool check_fault_rules(struct vctx *c, struct json_object *f)
{
	const char *kind = member_str(f, "kind");
	bool ok = true;

	if (!kind && !json_object_object_get(f, "status") &&
	    !json_object_object_get(f, "latencyMs"))
		return fail(
			c,
			"expected at least one of status, latencyMs or kind");
	for (size_t i = 0;
	     kind && i < sizeof(FAULT_NEEDS) / sizeof(FAULT_NEEDS[0]); i++) {
		if (strcmp(kind, FAULT_NEEDS[i].kind) == 0 &&
		    !json_object_object_get(f, FAULT_NEEDS[i].key)) {
			size_t mark = path_key(c, FAULT_NEEDS[i].key);

			ok = fail(c, "missing; expected %s because kind is %s",
				  FAULT_NEEDS[i].what, kind);
			path_pop(c, mark);
		}
	}
	return ok;
}

/* ---- the schema ---- */

static const struct type T_STR = { .what = "a string", .ok = is_string };
static const struct type T_NESTR = { .what = "a non-empty string",
				     .ok = is_string,
				     .min = 1 };
static const struct type T_UUID = { .what = "a UUID string",
				    .ok = is_string,
				    .fmt = is_uuid };
static const struct type T_BOOL = { .what = "true or false", .ok = is_bool };
static const struct type T_OBJ = { .what = "an object", .ok = is_object };
static const struct type T_INT = { .what = "an integer",
				   .ok = is_int_range,
				   .min = INT64_MIN,
				   .max = INT64_MAX };
static const struct type T_INT0 = { .what = "an integer >= 0",
				    .ok = is_int_range,
				    .min = 0,
				    .max = INT64_MAX };
static const struct type T_INT1 = { .what = "an integer >= 1",
				    .ok = is_int_range,
				    .min = 1,
				    .max = INT64_MAX };
static const struct type T_PAGE = { .what = "an integer from 1 to 1000",
				    .ok = is_int_range,
				    .min = 1,
				    .max = 1000 };
static const struct type T_STATUS = { .what = "an integer from 100 to 599",
				      .ok = is_int_range,
				      .min = 100,
				      .max = 599 };
static const struct type T_TAGS = { .what = "an object of strings",
				    .ok = is_object,
				    .values = &T_STR };
static const struct type T_STRS = { .what = "an array of strings",
				    .ok = is_array,
				    .items = &T_STR };

/* operator, user, managed identity */

static const struct type T_CERT = {
	.what = "a PEM string containing -----BEGIN CERTIFICATE-----",
	.ok = is_string,
	.fmt = has_cert_header
};
static const struct field F_FEDCRED[] = {
	{ "issuer", true, &T_NESTR },
	{ "subject", true, &T_NESTR },
	{ "audiences", false, &T_STRS },
	{ NULL, false, NULL },
};
static const struct type T_FEDCRED = { .what = "an object",
				       .ok = is_object,
				       .fields = F_FEDCRED,
				       .closed = true };
static const struct type T_FEDCREDS = { .what = "an array of objects",
					.ok = is_array,
					.items = &T_FEDCRED };
static const struct field F_SNI[] = {
	{ "subjectName", true, &T_NESTR },
	{ "issuerCertificate", true, &T_CERT },
	{ NULL, false, NULL },
};
static const struct type T_SNI = { .what = "an object",
				   .ok = is_object,
				   .fields = F_SNI,
				   .closed = true };
static const struct type T_SNIS = { .what = "an array of objects",
				    .ok = is_array,
				    .items = &T_SNI };
static const struct field F_OPERATOR[] = {
	{ "clientId", true, &T_UUID },
	{ "objectId", true, &T_UUID },
	{ "clientSecret", false, &T_STR },
	{ "displayName", false, &T_STR },
	{ "certificate", false, &T_CERT },
	{ "federatedCredentials", false, &T_FEDCREDS },
	{ "trustedCertificateSubjects", false, &T_SNIS },
	{ NULL, false, NULL },
};
static const struct type T_OPERATOR = { .what = "an object",
					.ok = is_object,
					.fields = F_OPERATOR,
					.closed = true };
static const struct field F_USER[] = {
	{ "objectId", true, &T_UUID },
	{ "userPrincipalName", true, &T_NESTR },
	{ "displayName", false, &T_STR },
	{ NULL, false, NULL },
};
static const struct type T_USER = { .what = "an object",
				    .ok = is_object,
				    .fields = F_USER,
				    .closed = true };
static const struct field F_MI[] = {
	{ "objectId", true, &T_UUID },
	{ "clientId", true, &T_UUID },
	{ NULL, false, NULL },
};
static const struct type T_MI = { .what = "an object",
				  .ok = is_object,
				  .fields = F_MI,
				  .closed = true };

/* principals and subscriptions */

static const char *const PRINCIPAL_TYPES[] = { "ServicePrincipal", "User",
					       "Group", NULL };
static const struct type T_PRINCIPAL_TYPE = { .ok = is_choice,
					      .choices = PRINCIPAL_TYPES };
static const struct field F_PRINCIPAL[] = {
	{ "objectId", true, &T_UUID },
	{ "type", true, &T_PRINCIPAL_TYPE },
	{ "displayName", false, &T_STR },
	{ "appId", false, &T_UUID },
	{ NULL, false, NULL },
};
static const struct type T_PRINCIPAL = { .what = "an object",
					 .ok = is_object,
					 .fields = F_PRINCIPAL };
static const struct type T_PRINCIPALS = { .what = "an array of objects",
					  .ok = is_array,
					  .items = &T_PRINCIPAL };
static const struct field F_SUBSCRIPTION[] = {
	{ "subscriptionId", true, &T_UUID }, { "displayName", true, &T_STR },
	{ "state", false, &T_STR },          { "tenantId", false, &T_UUID },
	{ "tags", false, &T_TAGS },          { NULL, false, NULL },
};
static const struct type T_SUBSCRIPTION = { .what = "an object",
					    .ok = is_object,
					    .fields = F_SUBSCRIPTION };
static const struct type T_SUBSCRIPTIONS = {
	.what = "a non-empty array of objects",
	.ok = is_array,
	.min = 1,
	.items = &T_SUBSCRIPTION,
	.unique = "subscriptionId"
};

/* resources */

static const struct type T_RESOURCE_ID = {
	.what = "a string starting with /subscriptions/ (or a built-in policy "
		"definition's id)",
	.ok = is_string,
	.fmt = is_resource_id,
	.check = check_resource_id
};
static const struct field F_IDENTITY[] = { { "type", false, &T_STR },
					   { NULL, false, NULL } };
static const struct type T_IDENTITY = { .what = "an object",
					.ok = is_object,
					.fields = F_IDENTITY };
static const struct field F_SYSTEM_DATA[] = { { "createdAt", false, &T_STR },
					      { NULL, false, NULL } };
static const struct type T_SYSTEM_DATA = { .what = "an object",
					   .ok = is_object,
					   .fields = F_SYSTEM_DATA };
static const struct field F_RESOURCE[] = {
	{ "id", true, &T_RESOURCE_ID },
	{ "type", true, &T_NESTR },
	{ "name", true, &T_NESTR },
	{ "location", false, &T_STR },
	{ "kind", false, &T_STR },
	{ "identity", false, &T_IDENTITY },
	{ "properties", false, &T_OBJ },
	{ "systemData", false, &T_SYSTEM_DATA },
	{ "tags", false, &T_TAGS },
	{ "sku", false, &T_OBJ },
	{ NULL, false, NULL },
};
static const struct type T_RESOURCE = { .what = "an object",
					.ok = is_object,
					.fields = F_RESOURCE,
					.check = check_resource_type };
static const struct type T_RESOURCES = { .what = "an array of objects",
					 .ok = is_array,
					 .items = &T_RESOURCE,
					 .unique = "id" };

/* keys */

static const char *const KEY_TYPES[] = { "RSA", "RSA-HSM", "EC", "EC-HSM",
					 "oct", "oct-HSM", NULL };
static const char *const KEY_OPS[] = { "encrypt", "decrypt", "sign",
				       "verify",  "wrapKey", "unwrapKey",
				       "import",  "export",  NULL };
static const struct type T_KTY = { .ok = is_choice, .choices = KEY_TYPES };
static const struct type T_KEY_OP = { .ok = is_choice, .choices = KEY_OPS };
static const struct type T_KEY_OPS = { .what = "an array of key operations",
				       .ok = is_array,
				       .items = &T_KEY_OP };
static const struct type T_VERSION = { .what = "32 hexadecimal digits",
				       .ok = is_string,
				       .fmt = is_hex32 };
static const struct type T_EXP_IN = {
	.what = "seconds from now, within 100 years either way",
	.ok = is_int_range,
	.min = -3155760000,
	.max = 3155760000
};
static const struct field F_ATTRIBUTES[] = {
	{ "enabled", false, &T_BOOL },      { "created", false, &T_INT },
	{ "updated", false, &T_INT },       { "nbf", false, &T_INT },
	{ "exp", false, &T_INT },           { "expIn", false, &T_EXP_IN },
	{ "recoveryLevel", false, &T_STR }, { NULL, false, NULL },
};
static const struct type T_ATTRIBUTES = { .what = "an object",
					  .ok = is_object,
					  .fields = F_ATTRIBUTES,
					  .check = check_exp_once };
static const struct field F_KEY_VERSION[] = {
	{ "version", true, &T_VERSION },
	{ "kty", true, &T_KTY },
	{ "key_size", false, &T_INT1 },
	{ "crv", false, &T_STR },
	{ "key_ops", false, &T_KEY_OPS },
	{ "attributes", false, &T_ATTRIBUTES },
	{ "tags", false, &T_TAGS },
	{ "deleted", false, &T_BOOL },
	{ NULL, false, NULL },
};
static const struct type T_KEY_VERSION = { .what = "an object",
					   .ok = is_object,
					   .fields = F_KEY_VERSION };
static const struct type T_KEY_VERSIONS = {
	.what = "a non-empty array of key versions",
	.ok = is_array,
	.min = 1,
	.items = &T_KEY_VERSION,
	.unique = "version"
};
static const struct type T_VAULT_KEYS = {
	.what = "an object mapping key names to arrays of versions",
	.ok = is_object,
	.name = key_name_ok,
	.values = &T_KEY_VERSIONS
};
static const struct type T_KEYS = {
	.what = "an object mapping vault or managed HSM names to keys",
	.ok = is_object,
	.name = vault_known,
	.values = &T_VAULT_KEYS
};

/* role assignments */

static const char *const ASSIGNEE_TYPES[] = { "ServicePrincipal", "User",
					      "Group", "ForeignGroup", NULL };
static const struct type T_SCOPE = {
	.what = "\"/\" or a string starting with /subscriptions/ or "
		"/providers/Microsoft.Management/managementGroups/",
	.ok = is_string,
	.fmt = is_scope
};
static const struct type T_ROLE_DEFINITION = {
	.what = "a UUID or a string ending in /roleDefinitions/{UUID}",
	.ok = is_string,
	.fmt = is_role_definition
};
static const struct type T_ASSIGNEE_TYPE = { .ok = is_choice,
					     .choices = ASSIGNEE_TYPES };
static const struct field F_ASSIGNMENT[] = {
	{ "scope", true, &T_SCOPE },
	{ "principalId", true, &T_UUID },
	{ "roleDefinitionId", true, &T_ROLE_DEFINITION },
	{ "name", false, &T_UUID },
	{ "principalType", false, &T_ASSIGNEE_TYPE },
	{ "createdOn", false, &T_INT },
	{ "condition", false, &T_STR },
	{ "conditionVersion", false, &T_STR },
	{ NULL, false, NULL },
};
static const struct type T_ASSIGNMENT = { .what = "an object",
					  .ok = is_object,
					  .fields = F_ASSIGNMENT };
static const struct type T_ASSIGNMENTS = { .what = "an array of objects",
					   .ok = is_array,
					   .items = &T_ASSIGNMENT };

/* deny assignments (DenyAssignment, Microsoft.Authorization 2022-04-01): only
 * Azure makes them (managed apps, deployment stacks) */

static const struct field F_DENY_PRINCIPAL[] = {
	{ "id", true, &T_UUID },
	{ "type", false, &T_STR },
	{ NULL, false, NULL },
};
static const struct type T_DENY_PRINCIPAL = { .what = "an object",
					      .ok = is_object,
					      .fields = F_DENY_PRINCIPAL };
static const struct type T_DENY_PRINCIPALS = { .what = "an array of objects",
					       .ok = is_array,
					       .items = &T_DENY_PRINCIPAL };
static const struct field F_DENY_PERMISSION[] = {
	{ "actions", false, &T_STRS },
	{ "notActions", false, &T_STRS },
	{ "dataActions", false, &T_STRS },
	{ "notDataActions", false, &T_STRS },
	{ NULL, false, NULL },
};
static const struct type T_DENY_PERMISSION = { .what = "an object",
					       .ok = is_object,
					       .fields = F_DENY_PERMISSION };
static const struct type T_DENY_PERMISSIONS = {
	.what = "a non-empty array of objects",
	.ok = is_array,
	.min = 1,
	.items = &T_DENY_PERMISSION
};
static const struct field F_DENY[] = {
	{ "name", true, &T_UUID },
	{ "scope", true, &T_SCOPE },
	{ "denyAssignmentName", true, &T_STR },
	{ "principals", true, &T_DENY_PRINCIPALS },
	{ "excludePrincipals", false, &T_DENY_PRINCIPALS },
	{ "permissions", true, &T_DENY_PERMISSIONS },
	{ "doNotApplyToChildScopes", false, &T_BOOL },
	{ "description", false, &T_STR },
	{ NULL, false, NULL },
};
static const struct type T_DENY = { .what = "an object",
				    .ok = is_object,
				    .fields = F_DENY,
				    .closed = true };
static const struct type T_DENIES = { .what = "an array of objects",
				      .ok = is_array,
				      .items = &T_DENY };

/* settings */

static const char *const DEVICE_STEPS[] = {
	"authorization_pending", "slow_down", "authorization_declined",
	"expired_token",         "approve",   NULL
};
static const struct type T_DEVICE_STEP = { .ok = is_choice,
					   .choices = DEVICE_STEPS };
static const struct type T_DEVICE_STEPS = {
	.what = "an array of device code answers",
	.ok = is_array,
	.items = &T_DEVICE_STEP
};
static const char *const DATA_PLANE_MODES[] = { "open", "enforced", NULL };
static const char *const LRO_HEADER_MODES[] = { "declared", "both", NULL };
static const struct type T_LRO_HEADERS = { .ok = is_choice,
					   .choices = LRO_HEADER_MODES };
static const struct type T_DATA_PLANE = { .ok = is_choice,
					  .choices = DATA_PLANE_MODES };
static const struct field F_SETTINGS[] = {
	{ "latencyMs", false, &T_INT0 },
	{ "propagationSeconds", false, &T_INT0 },
	{ "lroPolls", false, &T_INT0 },
	{ "lroSeconds", false, &T_INT0 },
	{ "refuseInOperation", false, &T_BOOL },
	{ "lroHeaders", false, &T_LRO_HEADERS },
	{ "retryAfterSeconds", false, &T_INT0 },
	{ "tokenLifetimeSeconds", false, &T_INT1 },
	{ "pageSize", false, &T_PAGE },
	{ "graphQuota", false, &T_INT1 },
	{ "graphQuotaWindowMs", false, &T_INT1 },
	{ "identityHeader", false, &T_STR },
	{ "arcKeyDirectory", false, &T_NESTR },
	{ "arcChallengePath", false, &T_NESTR },
	{ "deviceCodeFlow", false, &T_DEVICE_STEPS },
	{ "clientIp", false, &T_STR },
	{ "deviceCodeInterval", false, &T_INT0 },
	{ "operatorDataPlane", false, &T_DATA_PLANE },
	{ NULL, false, NULL },
};
static const struct type T_SETTINGS = { .what = "an object",
					.ok = is_object,
					.fields = F_SETTINGS,
					.closed = true };

/* faults */

static const char *const METHODS[] = { "GET",   "HEAD",   "POST",    "PUT",
				       "PATCH", "DELETE", "OPTIONS", "CONNECT",
				       "TRACE", "*",      NULL };
static const char *const FAULT_KINDS[] = {
	"status",  "reset",   "truncate",       "malformed", "latency",
	"lroFail", "chunked", "graphTruncated", NULL
};
static const struct type T_METHOD = { .ok = is_choice, .choices = METHODS };
static const struct type T_BODY = { .what = "a JSON object or array",
				    .ok = is_body };
static const struct type T_FAULT_KIND = { .ok = is_choice,
					  .choices = FAULT_KINDS };
static const struct field F_FAULT[] = {
	{ "method", false, &T_METHOD },
	{ "host", false, &T_NESTR },
	{ "path", true, &T_NESTR },
	{ "status", false, &T_STATUS },
	{ "retryAfter", false, &T_INT0 },
	{ "retryAfterMs", false, &T_INT0 },
	{ "times", false, &T_INT1 },
	{ "latencyMs", false, &T_INT0 },
	{ "kind", false, &T_FAULT_KIND },
	{ "code", false, &T_STR },
	{ "message", false, &T_STR },
	{ "wwwAuthenticate", false, &T_STR },
	{ "body", false, &T_BODY },
	{ "requestContains", false, &T_NESTR },
	{ NULL, false, NULL },
};
static const struct type T_FAULT = { .what = "an object",
				     .ok = is_object,
				     .fields = F_FAULT,
				     .closed = true,
				     .check = check_fault_rules };
static const struct type T_FAULTS = { .what = "an array of objects",
				      .ok = is_array,
				      .items = &T_FAULT };

/* the whole scenario: subscriptions must come before resources, and resources
 * before keys */

static const struct field F_SCENARIO[] = {
	{ "tenantId", true, &T_UUID },
	{ "operator", true, &T_OPERATOR },
	{ "user", false, &T_USER },
	{ "managedIdentity", false, &T_MI },
	{ "principals", false, &T_PRINCIPALS },
	{ "subscriptions", true, &T_SUBSCRIPTIONS },
	{ "resources", false, &T_RESOURCES },
	{ "keys", false, &T_KEYS },
	{ "roleAssignments", false, &T_ASSIGNMENTS },
	{ "denyAssignments", false, &T_DENIES },
	{ "settings", false, &T_SETTINGS },
	{ "faults", false, &T_FAULTS },
	{ NULL, false, NULL },
};
static const struct type T_SCENARIO = { .what = "an object",
					.ok = is_object,
					.fields = F_SCENARIO,
					.closed = true };

/* ---- entry points ---- */

/* Runs one validation from a starting path and hands back the verdict and
 * message. */
static bool validate(struct json_object *v, const struct type *t,
		     const char *path, struct json_object *root, char **err)
{
	struct vctx c = { SBUF_INIT, root, NULL };
	bool ok;

	sb_adds(&c.path, path ? path : "$");
	ok = check_value(&c, v, t);
	sb_free(&c.path);
	if (err)
		*err = c.err;
	else
		free(c.err);
	return ok;
}

/* Checks a parsed scenario against the schema, naming the first fault by its
 * JSON path. */
bool scenario_validate(struct json_object *doc, char **err)
{
	return validate(doc, &T_SCENARIO, "$", doc, err);
}

/* Checks one fault rule, naming the first fault by its JSON path below path. */
bool scenario_validate_fault(struct json_object *fault, const char *path,
			     char **err)
{
	return validate(fault, &T_FAULT, path, NULL, err);
}
