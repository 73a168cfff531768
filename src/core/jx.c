/* json-c helpers: dotted paths, safe parsing with messages, merge patch. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jx.h"
#include "xalloc.h"

/* Parses JSON text of a known length; on failure returns NULL and an allocated
 * message. */
struct json_object *jx_parse(const char *text, size_t len, char **err)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *o;
	enum json_tokener_error e;
	size_t end;

	if (!tok) {
		*err = xstrdup("cannot allocate a JSON parser");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text ? text : "", (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (e == json_tokener_continue) {
		/* A bare number or literal at the end needs a delimiter to
		 * finish. */
		o = json_tokener_parse_ex(tok, " ", 1);
		e = json_tokener_get_error(tok);
		end = len;
	}
	if (e == json_tokener_continue) {
		*err = xstrdup("unexpected end of JSON text");
	} else if (e != json_tokener_success) {
		*err = xasprintf("%s at byte %zu", json_tokener_error_desc(e),
				 end);
	} else if (end < len && strspn(text + end, " \t\r\n") < len - end) {
		*err = xasprintf(
			"unexpected text after the JSON value at byte %zu",
			end);
	} else {
		*err = NULL;
		json_tokener_free(tok);
		return o;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return NULL;
}

/* Looks a key up in an object ignoring ASCII case, as ARM does for property
 * names. */
struct json_object *jx_iget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	if (json_object_object_get_ex(o, key, &v))
		return v;
	json_object_object_foreach(o, k, val)
	{
		if (strcasecmp(k, key) == 0)
			return val;
	}
	return NULL;
}

/* Follows a dotted path ("properties.encryption.keySource") through objects,
 * ignoring key case. */
struct json_object *jx_get(struct json_object *o, const char *path)
{
	char key[256];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = jx_iget(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

/* Returns the string at a path, or NULL when absent or not a string. */
const char *jx_str(struct json_object *o, const char *path)
{
	struct json_object *v = jx_get(o, path);

	return json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Returns the boolean at a path, or dflt when absent or not a boolean. */
bool jx_bool(struct json_object *o, const char *path, bool dflt)
{
	struct json_object *v = jx_get(o, path);

	return json_object_is_type(v, json_type_boolean)
		       ? json_object_get_boolean(v)
		       : dflt;
}

/* Returns the integer at a path, or dflt when absent or not a number. */
int64_t jx_int(struct json_object *o, const char *path, int64_t dflt)
{
	struct json_object *v = jx_get(o, path);

	if (json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double))
		return json_object_get_int64(v);
	return dflt;
}

/* Tells whether a path exists and is not JSON null. */
bool jx_has(struct json_object *o, const char *path)
{
	return jx_get(o, path) != NULL;
}

/* Sets the value at a dotted path, creating intermediate objects; takes
 * ownership of value. */
void jx_set(struct json_object *o, const char *path, struct json_object *value)
{
	char key[256];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		struct json_object *next;
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(key))
			goto fail;
		memcpy(key, path, n);
		key[n] = '\0';
		/* Only an object has members: a path through anything else (a
		 * server's "[]") sets nothing. */
		if (!json_object_is_type(o, json_type_object))
			goto fail;
		next = jx_iget(o, key);
		if (!json_object_is_type(next, json_type_object)) {
			next = json_object_new_object();
			json_object_object_add(o, key, next);
		}
		o = next;
		path = dot + 1;
	}
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_add(o, path, value);
		return;
	}
fail:
	json_object_put(value);
}

/* Removes the value at a dotted path, if present. */
void jx_del(struct json_object *o, const char *path)
{
	const char *dot = strrchr(path, '.');
	struct json_object *parent = o;

	if (dot) {
		char *head = xstrndup(path, (size_t)(dot - path));

		parent = jx_get(o, head);
		free(head);
		path = dot + 1;
	}
	if (json_object_is_type(parent, json_type_object))
		json_object_object_del(parent, path);
}

/* Walks body's leaves against before, member by member, calling fn for each
 * that differs. */
static void changes_under(struct json_object *body, struct json_object *before,
			  const char *prefix, jx_change_fn fn, void *ud)
{
	json_object_object_foreach(body, k, v)
	{
		char *path =
			*prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
		struct json_object *old = NULL;

		/* Walk by member, not by dotted path: keys such as identity ids
		 * hold dots and slashes. */
		if (json_object_is_type(before, json_type_object))
			json_object_object_get_ex(before, k, &old);
		if (json_object_is_type(v, json_type_object) &&
		    json_object_object_length(v))
			changes_under(v, old, path, fn, ud);
		else if (json_object_is_type(v, json_type_object) &&
			 json_object_is_type(old, json_type_object))
			; /* An empty object keeps what is there (a
			     user-assigned identity stays attached). */
		else if (!old ||
			 strcmp(jx_text(old), v ? jx_text(v) : "null") != 0)
			fn(path, old, v, ud);
		free(path);
	}
}

/*
 * Calls fn(path, before, after) once per leaf of a body (a PATCH or PUT)
 * whose value differs from what before holds: what the write changes. The
 * one walk behind the plan's review and the change history.
 */
void jx_changes(struct json_object *body, struct json_object *before,
		jx_change_fn fn, void *ud)
{
	if (json_object_is_type(body, json_type_object))
		changes_under(body, before, "", fn, ud);
}

/* Applies an RFC 7386 JSON merge patch to target in place. */
void jx_merge_patch(struct json_object *target, struct json_object *patch)
{
	if (!json_object_is_type(target, json_type_object) ||
	    !json_object_is_type(patch, json_type_object))
		return;
	json_object_object_foreach(patch, k, v)
	{
		struct json_object *cur = NULL;

		if (!v) {
			json_object_object_del(target, k);
		} else if (json_object_is_type(v, json_type_object) &&
			   json_object_object_get_ex(target, k, &cur) &&
			   json_object_is_type(cur, json_type_object)) {
			jx_merge_patch(cur, v);
		} else if (json_object_is_type(v, json_type_object)) {
			struct json_object *fresh = json_object_new_object();

			jx_merge_patch(fresh, v);
			json_object_object_add(target, k, fresh);
		} else {
			json_object_object_add(target, k, jx_copy(v));
		}
	}
}

/* Returns a deep copy (NULL stays NULL). */
struct json_object *jx_copy(struct json_object *o)
{
	struct json_object *copy = NULL;

	if (!o)
		return NULL;
	if (json_object_deep_copy(o, &copy, NULL) != 0)
		return NULL;
	return copy;
}

/* Serialises compactly with slashes unescaped; the string lives as long as the
 * object. */
const char *jx_text(struct json_object *o)
{
	return json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Returns an array's length, or 0 for anything that is not an array. */
size_t jx_len(struct json_object *array)
{
	return json_object_is_type(array, json_type_array)
		       ? json_object_array_length(array)
		       : 0;
}

/* Returns element i of an array, or NULL. */
struct json_object *jx_at(struct json_object *array, size_t i)
{
	return i < jx_len(array) ? json_object_array_get_idx(array, i) : NULL;
}

/* Tells whether an array holds a string equal to s ignoring case. */
bool jx_array_has_istr(struct json_object *array, const char *s)
{
	for (size_t i = 0; i < jx_len(array); i++) {
		const char *e = json_object_get_string(jx_at(array, i));

		if (e &&
		    json_object_is_type(jx_at(array, i), json_type_string) &&
		    strcasecmp(e, s) == 0)
			return true;
	}
	return false;
}
