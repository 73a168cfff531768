/* The ARM template expression language, as far as the simulator's deployments
 * need it: parsing, the functions azcmk's templates use, honest errors. */
#include "config.h"

/*
 * Grammar and functions as Microsoft documents them: "Syntax and expressions
 * in ARM templates" (learn.microsoft.com/azure/azure-resource-manager/
 * templates/template-expressions: a string in brackets is an expression,
 * "[[" escapes a literal bracket, '' a quote inside a string literal) and
 * "Template functions" (template-functions-resource, -string, -array,
 * -scope). A function the simulator does not implement is an InvalidTemplate
 * error naming it, never skipped.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "jx.h"
#include "text.h"
#include "xalloc.h"

#define MAX_ARGS 16
#define MAX_DEPTH 32

/* One expression being read: where it is, and whether functions run. */
struct ex {
	struct dctx *d;
	const char *s; /* the cursor */
	bool dry;      /* only check: names and syntax, no effects */
	int depth;
};

/* Returns a JSON string of text (taken). */
static struct json_object *str_taken(char *text)
{
	struct json_object *v = json_object_new_string(text);

	free(text);
	return v;
}

/* Tells whether an object has a key, ignoring case (its value may be null). */
static bool has_ikey(struct json_object *o, const char *key)
{
	if (!json_object_is_type(o, json_type_object))
		return false;
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		if (str_ieq(k, key))
			return true;
	}
	return false;
}

/* Records the first error of an evaluation (code and message). */
void dctx_fail(struct dctx *d, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (d->err)
		return;
	va_start(ap, fmt);
	d->err = xvasprintf(fmt, ap);
	va_end(ap);
	d->code = code;
}

static struct json_object *expr(struct ex *e);

/* Skips blanks. */
static void blank(struct ex *e)
{
	while (*e->s == ' ' || *e->s == '\t' || *e->s == '\n' || *e->s == '\r')
		e->s++;
}

/* Reads a string literal ('it''s'); NULL (and the error) when unterminated. */
static struct json_object *literal(struct ex *e)
{
	struct sbuf b = { 0 };
	struct json_object *v;

	e->s++;
	for (;;) {
		if (!*e->s) {
			sb_free(&b);
			dctx_fail(e->d, "InvalidTemplate",
				  "The language expression has an unterminated "
				  "string literal.");
			return NULL;
		}
		if (*e->s == '\'' && e->s[1] == '\'') {
			sb_add(&b, "'", 1);
			e->s += 2;
		} else if (*e->s == '\'') {
			e->s++;
			break;
		} else {
			sb_add(&b, e->s++, 1);
		}
	}
	v = json_object_new_string(b.len ? sb_str(&b) : "");
	sb_free(&b);
	return v;
}

/* Returns a value as text for concat and format: strings as they are, others
 * as JSON. */
static char *as_text(struct json_object *v)
{
	if (!v)
		return xstrdup("");
	if (json_object_is_type(v, json_type_string))
		return xstrdup(json_object_get_string(v));
	return xstrdup(json_object_to_json_string_ext(
		v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Requires a string argument; fails naming the function otherwise. */
static const char *arg_str(struct ex *e, const char *fn, struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	dctx_fail(e->d, "InvalidTemplate",
		  "The template function '%s' expects string arguments.", fn);
	return NULL;
}

/* Builds "/providers/TYPE/NAME..." from a type and its names; NULL (and the
 * error) when their counts differ. */
static char *typed_path(struct ex *e, const char *fn, const char *type,
			struct json_object **names, int n)
{
	char *t = xstrdup(type), *save = NULL, *ns = strtok_r(t, "/", &save);
	struct sbuf b = { 0 };
	int i = 0;

	sb_printf(&b, "/providers/%s", ns ? ns : "");
	for (char *seg = strtok_r(NULL, "/", &save); seg;
	     seg = strtok_r(NULL, "/", &save), i++) {
		const char *name = i < n ? arg_str(e, fn, names[i]) : NULL;

		if (!name) {
			i = -1;
			break;
		}
		sb_printf(&b, "/%s/%s", seg, name);
	}
	free(t);
	if (i != n || !ns) {
		sb_free(&b);
		dctx_fail(e->d, "InvalidTemplate",
			  "Unable to evaluate template language function "
			  "'%s': the type '%s' needs one name per segment.",
			  fn, type);
		return NULL;
	}
	return sb_steal(&b);
}

/* The resource id of a deployment's scope: its group, subscription or
 * management group. */
char *dctx_scope_id(const struct dctx *d)
{
	if (d->rg)
		return xasprintf("/subscriptions/%s/resourceGroups/%s", d->sub,
				 d->rg);
	if (d->sub)
		return xasprintf("/subscriptions/%s", d->sub);
	if (d->mg)
		return xasprintf(
			"/providers/Microsoft.Management/managementGroups/%s",
			d->mg);
	return xstrdup("");
}

/* Index of the first argument that is a resource type (has a '/'), or -1. */
static int type_index(struct json_object **a, int n)
{
	for (int i = 0; i < n; i++)
		if (json_object_is_type(a[i], json_type_string) &&
		    strchr(json_object_get_string(a[i]), '/'))
			return i;
	return -1;
}

/* resourceId([subscriptionId], [resourceGroupName], type, names...). */
static struct json_object *fn_resource_id(struct ex *e, struct json_object **a,
					  int n)
{
	int t = type_index(a, n);
	const char *sub = e->d->sub, *rg = e->d->rg;
	char *tail, *scope;
	struct json_object *v;

	if (t < 0 || t > 2) {
		dctx_fail(
			e->d, "InvalidTemplate",
			"Unable to evaluate template language function "
			"'resourceId': no resource type among its arguments.");
		return NULL;
	}
	if (t == 2)
		sub = arg_str(e, "resourceId", a[0]),
		rg = arg_str(e, "resourceId", a[1]);
	else if (t == 1)
		rg = arg_str(e, "resourceId", a[0]);
	if (!(tail = typed_path(e, "resourceId", json_object_get_string(a[t]),
				a + t + 1, n - t - 1)))
		return NULL;
	if (rg && sub)
		scope = xasprintf("/subscriptions/%s/resourceGroups/%s", sub,
				  rg);
	else if (sub)
		scope = xasprintf("/subscriptions/%s", sub);
	else
		scope = dctx_scope_id(e->d);
	v = str_taken(xasprintf("%s%s", scope, tail));
	free(scope);
	free(tail);
	return v;
}

/* subscriptionResourceId([subscriptionId], type, names...). */
static struct json_object *fn_sub_resource_id(struct ex *e,
					      struct json_object **a, int n)
{
	int t = type_index(a, n);
	const char *sub =
		t == 1 ? arg_str(e, "subscriptionResourceId", a[0]) : e->d->sub;
	char *tail;
	struct json_object *v;

	if (t < 0 || t > 1 || !sub) {
		dctx_fail(e->d, "InvalidTemplate",
			  "Unable to evaluate template language function "
			  "'subscriptionResourceId': it needs a subscription "
			  "and a resource type.");
		return NULL;
	}
	if (!(tail = typed_path(e, "subscriptionResourceId",
				json_object_get_string(a[t]), a + t + 1,
				n - t - 1)))
		return NULL;
	v = str_taken(xasprintf("/subscriptions/%s%s", sub, tail));
	free(tail);
	return v;
}

/* tenantResourceId(type, names...). */
static struct json_object *fn_tenant_resource_id(struct ex *e,
						 struct json_object **a, int n)
{
	const char *type = arg_str(e, "tenantResourceId", a[0]);
	char *tail =
		type ? typed_path(e, "tenantResourceId", type, a + 1, n - 1)
		     : NULL;
	struct json_object *v = tail ? json_object_new_string(tail) : NULL;

	free(tail);
	return v;
}

/* extensionResourceId(baseId, type, names...). */
static struct json_object *fn_ext_resource_id(struct ex *e,
					      struct json_object **a, int n)
{
	const char *base = arg_str(e, "extensionResourceId", a[0]),
		   *type = base ? arg_str(e, "extensionResourceId", a[1])
				: NULL;
	char *tail =
		type ? typed_path(e, "extensionResourceId", type, a + 2, n - 2)
		     : NULL;
	struct json_object *v =
		tail ? str_taken(xasprintf("%s%s", base, tail)) : NULL;

	free(tail);
	return v;
}

/* concat(strings...) or concat(arrays...). */
static struct json_object *fn_concat(struct ex *e, struct json_object **a,
				     int n)
{
	struct sbuf b = { 0 };
	struct json_object *v;
	bool arrays = n > 0;

	(void)e;
	for (int i = 0; i < n; i++)
		arrays = arrays && json_object_is_type(a[i], json_type_array);
	if (arrays) {
		v = json_object_new_array();
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < jx_len(a[i]); j++)
				json_object_array_add(v,
						      jx_copy(jx_at(a[i], j)));
		return v;
	}
	for (int i = 0; i < n; i++) {
		char *t = as_text(a[i]);

		sb_adds(&b, t);
		free(t);
	}
	v = json_object_new_string(b.len ? sb_str(&b) : "");
	sb_free(&b);
	return v;
}

/* format(text, args...): "{0}" is the first argument after the text. */
static struct json_object *fn_format(struct ex *e, struct json_object **a,
				     int n)
{
	const char *f = arg_str(e, "format", a[0]);
	struct sbuf b = { 0 };
	struct json_object *v;

	for (const char *p = f; p && *p; p++) {
		char *end;
		long k;

		if (*p == '{' && p[1] == '{') {
			sb_add(&b, "{", 1), p++;
		} else if (*p == '}' && p[1] == '}') {
			sb_add(&b, "}", 1), p++;
		} else if (*p == '{' && isdigit((unsigned char)p[1]) &&
			   (k = strtol(p + 1, &end, 10)) >= 0 && *end == '}' &&
			   k < n - 1) {
			char *t = as_text(a[k + 1]);

			sb_adds(&b, t);
			free(t);
			p = end;
		} else if (*p == '{') {
			sb_free(&b);
			dctx_fail(e->d, "InvalidTemplate",
				  "Unable to evaluate template language "
				  "function 'format': the placeholder in '%s' "
				  "is not one of its arguments.",
				  f);
			return NULL;
		} else {
			sb_add(&b, p, 1);
		}
	}
	v = f ? json_object_new_string(b.len ? sb_str(&b) : "") : NULL;
	sb_free(&b);
	return v;
}

/* toLower(text) and toUpper(text). */
static struct json_object *fn_case(struct ex *e, struct json_object **a,
				   bool upper)
{
	const char *s = arg_str(e, upper ? "toUpper" : "toLower", a[0]);
	char *t = s ? xstrdup(s) : NULL;
	struct json_object *v;

	if (!t)
		return NULL;
	for (char *p = t; *p; p++)
		*p = (char)(upper ? toupper((unsigned char)*p)
				  : tolower((unsigned char)*p));
	v = json_object_new_string(t);
	free(t);
	return v;
}

/* split(text, delimiter): an array of the pieces. */
static struct json_object *fn_split(struct ex *e, struct json_object **a)
{
	const char *s = arg_str(e, "split", a[0]),
		   *sep = s ? arg_str(e, "split", a[1]) : NULL;
	struct json_object *v;

	if (!sep || !*sep) {
		dctx_fail(e->d, "InvalidTemplate",
			  "Unable to evaluate template language function "
			  "'split': it needs a text and a non-empty "
			  "delimiter.");
		return NULL;
	}
	v = json_object_new_array();
	for (const char *p = s;; p += strlen(sep)) {
		const char *q = strstr(p, sep);

		json_object_array_add(
			v, json_object_new_string_len(
				   p, (int)(q ? (size_t)(q - p) : strlen(p))));
		if (!q)
			break;
		p = q;
	}
	return v;
}

/* first(x) and last(x): of an array, or the first/last character of a
 * string. */
static struct json_object *fn_end(struct ex *e, struct json_object *a,
				  bool last)
{
	if (json_object_is_type(a, json_type_array)) {
		size_t n = jx_len(a);

		return n ? jx_copy(jx_at(a, last ? n - 1 : 0))
			 : json_object_new_string("");
	}
	if (json_object_is_type(a, json_type_string)) {
		const char *s = json_object_get_string(a);
		size_t n = strlen(s);

		return json_object_new_string_len(
			n ? s + (last ? n - 1 : 0) : s, n ? 1 : 0);
	}
	dctx_fail(e->d, "InvalidTemplate",
		  "Unable to evaluate template language function '%s': it "
		  "takes an array or a string.",
		  last ? "last" : "first");
	return NULL;
}

/* parameters(name) and variables(name). */
static struct json_object *fn_lookup(struct ex *e, struct json_object *a,
				     bool var)
{
	const char *name = arg_str(e, var ? "variables" : "parameters", a);
	struct json_object *v =
		name ? jx_iget(var ? e->d->vars : e->d->params, name) : NULL;

	if (!name)
		return NULL;
	if (!v && !has_ikey(var ? e->d->vars : e->d->params, name)) {
		dctx_fail(e->d, "InvalidTemplate",
			  "The template %s '%s' is not found.",
			  var ? "variable" : "parameter", name);
		return NULL;
	}
	if (var) {
		if (e->depth > MAX_DEPTH) {
			dctx_fail(e->d, "InvalidTemplate",
				  "The template variable '%s' refers to "
				  "itself.",
				  name);
			return NULL;
		}
		return dexpr_value(e->d, v, e->depth + 1);
	}
	return jx_copy(v);
}

/* subscription(): the deployment's subscription. */
static struct json_object *fn_subscription(struct ex *e)
{
	struct json_object *o = json_object_new_object();

	if (!e->d->sub) {
		json_object_put(o);
		dctx_fail(e->d, "InvalidTemplate",
			  "The template function 'subscription' is not "
			  "expected at this deployment scope.");
		return NULL;
	}
	json_object_object_add(
		o, "id", str_taken(xasprintf("/subscriptions/%s", e->d->sub)));
	json_object_object_add(o, "subscriptionId",
			       json_object_new_string(e->d->sub));
	json_object_object_add(
		o, "tenantId",
		json_object_new_string(state_tenant(e->d->rq->sim)));
	return o;
}

/* resourceGroup(): the deployment's resource group, as ARM holds it. */
static struct json_object *fn_resource_group(struct ex *e)
{
	char *id;
	struct json_object *rg;

	if (!e->d->rg) {
		dctx_fail(e->d, "InvalidTemplate",
			  "The template function 'resourceGroup' is not "
			  "expected at this deployment scope.");
		return NULL;
	}
	id = dctx_scope_id(e->d);
	rg = state_resource(e->d->rq->sim, id);
	free(id);
	return rg ? jx_copy(rg) : json_object_new_object();
}

/* The functions the simulator evaluates, with their argument counts. */
static const struct {
	const char *name;
	int min, max;
} FUNCS[] = {
	{ "parameters", 1, 1 },
	{ "variables", 1, 1 },
	{ "concat", 1, MAX_ARGS },
	{ "format", 1, MAX_ARGS },
	{ "resourceId", 2, MAX_ARGS },
	{ "subscriptionResourceId", 2, MAX_ARGS },
	{ "tenantResourceId", 2, MAX_ARGS },
	{ "extensionResourceId", 3, MAX_ARGS },
	{ "reference", 1, 3 },
	{ "subscription", 0, 0 },
	{ "resourceGroup", 0, 0 },
	{ "toLower", 1, 1 },
	{ "toUpper", 1, 1 },
	{ "split", 2, 2 },
	{ "first", 1, 1 },
	{ "last", 1, 1 },
	{ "string", 1, 1 },
};

/* Runs a known function on evaluated arguments. */
static struct json_object *call(struct ex *e, const char *fn,
				struct json_object **a, int n)
{
	if (str_ieq(fn, "parameters") || str_ieq(fn, "variables"))
		return fn_lookup(e, a[0], str_ieq(fn, "variables"));
	if (str_ieq(fn, "concat"))
		return fn_concat(e, a, n);
	if (str_ieq(fn, "format"))
		return fn_format(e, a, n);
	if (str_ieq(fn, "resourceId"))
		return fn_resource_id(e, a, n);
	if (str_ieq(fn, "subscriptionResourceId"))
		return fn_sub_resource_id(e, a, n);
	if (str_ieq(fn, "tenantResourceId"))
		return fn_tenant_resource_id(e, a, n);
	if (str_ieq(fn, "extensionResourceId"))
		return fn_ext_resource_id(e, a, n);
	if (str_ieq(fn, "reference"))
		return deploy_reference(e->d, a, n);
	if (str_ieq(fn, "subscription"))
		return fn_subscription(e);
	if (str_ieq(fn, "resourceGroup"))
		return fn_resource_group(e);
	if (str_ieq(fn, "toLower") || str_ieq(fn, "toUpper"))
		return fn_case(e, a, str_ieq(fn, "toUpper"));
	if (str_ieq(fn, "split"))
		return fn_split(e, a);
	if (str_ieq(fn, "first") || str_ieq(fn, "last"))
		return fn_end(e, a[0], str_ieq(fn, "last"));
	dctx_fail(e->d, "InvalidTemplate",
		  "The template function '%s' is not supported by the "
		  "simulator's deployment engine.",
		  fn);
	return NULL;
}

/* Reads a function name and its arguments, then runs it (or, dry, only
 * checks it). */
static struct json_object *function(struct ex *e)
{
	char name[64];
	size_t len = 0;
	struct json_object *a[MAX_ARGS] = { 0 }, *v = NULL;
	int n = 0, known = -1;

	while ((isalnum((unsigned char)*e->s) || *e->s == '_') &&
	       len < sizeof(name) - 1)
		name[len++] = *e->s++;
	name[len] = '\0';
	blank(e);
	if (!len || *e->s != '(') {
		dctx_fail(e->d, "InvalidTemplate",
			  "The language expression is not valid at '%.40s'.",
			  e->s);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(FUNCS) / sizeof(FUNCS[0]); i++)
		if (str_ieq(name, FUNCS[i].name))
			known = (int)i;
	if (known < 0) {
		dctx_fail(e->d, "InvalidTemplate",
			  "The template function '%s' is not valid or not "
			  "supported by the simulator's deployment engine.",
			  name);
		return NULL;
	}
	e->s++;
	blank(e);
	while (*e->s != ')' && !e->d->err) {
		if (n == MAX_ARGS || !(a[n++] = expr(e)))
			break;
		blank(e);
		if (*e->s == ',')
			e->s++;
		else if (*e->s != ')')
			dctx_fail(e->d, "InvalidTemplate",
				  "The language expression is not valid: "
				  "expected ',' or ')' at '%.40s'.",
				  e->s);
	}
	if (!e->d->err && *e->s == ')') {
		e->s++;
		if (n < FUNCS[known].min || n > FUNCS[known].max)
			dctx_fail(e->d, "InvalidTemplate",
				  "The template function '%s' takes %d to %d "
				  "arguments, not %d.",
				  FUNCS[known].name, FUNCS[known].min,
				  FUNCS[known].max, n);
		else if (e->dry)
			v = json_object_new_string("");
		else if (str_ieq(name, "string"))
			v = str_taken(as_text(a[0]));
		else
			v = call(e, name, a, n);
		if (!v && !e->d->err)
			dctx_fail(e->d, "InvalidTemplate",
				  "The template function '%s' gave null, "
				  "which the simulator's evaluator does not "
				  "carry further.",
				  name);
	} else if (!e->d->err) {
		dctx_fail(e->d, "InvalidTemplate",
			  "The language expression is not valid: '%s(' is "
			  "not closed.",
			  name);
	}
	for (int i = 0; i < n; i++)
		json_object_put(a[i]);
	return e->d->err ? (json_object_put(v), NULL) : v;
}

/* Applies ".name" and "[index]" after a value. */
static struct json_object *accessors(struct ex *e, struct json_object *v)
{
	for (blank(e); v && (*e->s == '.' || *e->s == '[');) {
		struct json_object *next = NULL;

		if (*e->s == '.') {
			char name[128];
			size_t len = 0;

			e->s++;
			while ((isalnum((unsigned char)*e->s) || *e->s == '_' ||
				*e->s == '$') &&
			       len < sizeof(name) - 1)
				name[len++] = *e->s++;
			name[len] = '\0';
			next = e->dry ? json_object_new_string("")
				      : jx_copy(jx_iget(v, name));
			if (!len || (!e->dry && !has_ikey(v, name)))
				dctx_fail(e->d, "InvalidTemplate",
					  "The language expression property "
					  "'%s' doesn't exist, available "
					  "properties are those of the "
					  "value.",
					  name);
		} else {
			struct json_object *k;

			e->s++;
			k = expr(e);
			blank(e);
			if (k && *e->s == ']') {
				e->s++;
				if (e->dry)
					next = json_object_new_string("");
				else if (json_object_is_type(v,
							     json_type_array) &&
					 json_object_is_type(k, json_type_int))
					next = jx_copy(jx_at(
						v,
						(size_t)json_object_get_int64(
							k)));
				else if (json_object_is_type(k,
							     json_type_string))
					next = jx_copy(jx_iget(
						v, json_object_get_string(k)));
				if (!next && !e->dry)
					dctx_fail(e->d, "InvalidTemplate",
						  "The language expression's "
						  "index is out of range.");
			} else {
				dctx_fail(e->d, "InvalidTemplate",
					  "The language expression is not "
					  "valid: expected ']'.");
			}
			json_object_put(k);
		}
		json_object_put(v);
		if (!next && !e->d->err)
			dctx_fail(e->d, "InvalidTemplate",
				  "The language expression's value is null "
				  "there, which the simulator's evaluator does "
				  "not carry further.");
		v = e->d->err ? (json_object_put(next), NULL) : next;
		blank(e);
	}
	return v;
}

/* Reads one expression: a literal, a number, or a call with accessors. */
static struct json_object *expr(struct ex *e)
{
	struct json_object *v;

	if (++e->depth > MAX_DEPTH) {
		dctx_fail(e->d, "InvalidTemplate",
			  "The language expression nests too deep.");
		return NULL;
	}
	blank(e);
	if (*e->s == '\'') {
		v = literal(e);
	} else if (isdigit((unsigned char)*e->s) || *e->s == '-') {
		char *end;
		long long k = strtoll(e->s, &end, 10);

		v = end != e->s ? json_object_new_int64(k) : NULL;
		if (!v)
			dctx_fail(e->d, "InvalidTemplate",
				  "The language expression is not valid at "
				  "'%.40s'.",
				  e->s);
		e->s = end;
	} else {
		v = function(e);
	}
	e->depth--;
	return v ? accessors(e, v) : NULL;
}

/* Evaluates one template string: an expression in brackets, "[[" for a
 * literal bracket, or plain text. */
struct json_object *dexpr_string(struct dctx *d, const char *s, bool dry,
				 int depth)
{
	size_t n = strlen(s);
	struct ex e = { d, NULL, dry, depth };
	struct json_object *v;
	char *inner;

	if (n < 2 || s[0] != '[' || s[n - 1] != ']')
		return json_object_new_string(s);
	if (s[1] == '[')
		return json_object_new_string(s + 1);
	inner = xstrndup(s + 1, n - 2);
	e.s = inner;
	v = expr(&e);
	blank(&e);
	if (v && *e.s) {
		dctx_fail(d, "InvalidTemplate",
			  "The language expression '%s' is not valid: the "
			  "text '%.40s' follows it.",
			  s, e.s);
		json_object_put(v);
		v = NULL;
	}
	if (!v && d->err && !strstr(d->err, s)) {
		char *more = xasprintf("%s The expression is '%s'.", d->err, s);

		free(d->err);
		d->err = more;
	}
	free(inner);
	return v;
}

/* Evaluates every string of a JSON value (a new value); NULL on error. */
struct json_object *dexpr_value(struct dctx *d, struct json_object *v,
				int depth)
{
	struct json_object *out;

	if (depth > MAX_DEPTH) {
		dctx_fail(d, "InvalidTemplate", "The template nests too deep.");
		return NULL;
	}
	if (json_object_is_type(v, json_type_string))
		return dexpr_string(d, json_object_get_string(v), d->dry,
				    depth);
	if (json_object_is_type(v, json_type_array)) {
		out = json_object_new_array();
		for (size_t i = 0; i < jx_len(v) && !d->err; i++) {
			struct json_object *x =
				dexpr_value(d, jx_at(v, i), depth + 1);

			json_object_array_add(out, x);
		}
	} else if (json_object_is_type(v, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(v, k, x)
		{
			if (d->err)
				break;
			json_object_object_add(out, k,
					       dexpr_value(d, x, depth + 1));
		}
	} else {
		return jx_copy(v);
	}
	if (d->err) {
		json_object_put(out);
		return NULL;
	}
	return out;
}
