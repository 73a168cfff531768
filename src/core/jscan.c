/* Reading one member of a large JSON answer without building the whole tree: a
 * list element by element, or a string. */
#include "config.h"

/*
 * A Resource Graph page of 1,000 rows costs several megabytes as a json-c
 * tree; the audit needs one row at a time. The scanner walks the top-level
 * object's members, skipping values by matching brackets outside strings,
 * and hands json-c only the slice of one element (or one member's value).
 * Malformed text ends the walk: the caller sees fewer elements, or none.
 */

#include <string.h>

#include "jscan.h"
#include "xalloc.h"

/* Skips white space from i; returns the next index. */
static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Returns the index just past the string that starts at i (a quote), or n when
 * it does not end. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* Returns the index just past the value that starts at i, or n when it does not
 * end. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return n;
	if (s[i] == '"')
		return skip_string(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']')
			i++;
		return i;
	}
	for (; i < n; i++) {
		if (s[i] == '"')
			i = skip_string(s, n, i) - 1;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i + 1;
	}
	return n;
}

/* Parses the slice [from, to) as one JSON value (NULL for null); *ok is false
 * when it is not one. */
static struct json_object *parse_slice(const char *s, size_t from, size_t to,
				       bool *ok)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *v =
		json_tokener_parse_ex(tok, s + from, (int)(to - from));

	if (!v && json_tokener_get_error(tok) == json_tokener_continue)
		v = json_tokener_parse_ex(tok, "", -1);
	*ok = json_tokener_get_error(tok) == json_tokener_success && to > from;
	json_tokener_free(tok);
	return v;
}

/* Finds a top-level member's value; sets its start and end; false when absent
 * or the text is not an object. */
static bool find_member(const char *s, size_t n, const char *member,
			size_t *start, size_t *end)
{
	size_t i = skip_ws(s, n, 0), mlen = strlen(member);

	if (i >= n || s[i] != '{')
		return false;
	for (i = skip_ws(s, n, i + 1); i < n && s[i] == '"';) {
		size_t key_end = skip_string(s, n, i), v;
		bool match = key_end - i - 2 == mlen &&
			     memcmp(s + i + 1, member, mlen) == 0;

		i = skip_ws(s, n, key_end);
		if (i >= n || s[i] != ':')
			return false;
		v = skip_ws(s, n, i + 1);
		i = skip_value(s, n, v);
		if (match) {
			*start = v;
			*end = i;
			return i <= n;
		}
		i = skip_ws(s, n, i);
		if (i < n && s[i] == ',')
			i = skip_ws(s, n, i + 1);
	}
	return false;
}

/*
 * Calls fn for each element of the top-level member (an array), each parsed
 * on its own and freed after (NULL for a null element), with the element's
 * bytes (text, len: valid while s is); returns how many elements there were,
 * or -1 when the member is absent, not a list, or malformed.
 */
long jscan_each_text(const char *s, size_t n, const char *member,
		     jscan_text_fn fn, void *ud)
{
	size_t start, end, i;
	long count = 0;

	if (!s || !find_member(s, n, member, &start, &end) || start >= end ||
	    s[start] != '[')
		return -1;
	for (i = skip_ws(s, end, start + 1); i < end && s[i] != ']';) {
		size_t e = skip_value(s, end, i);
		bool ok;
		struct json_object *el = parse_slice(s, i, e, &ok);

		if (!ok) {
			json_object_put(el);
			return -1;
		}
		fn(el, s + i, e - i, ud);
		json_object_put(el);
		count++;
		i = skip_ws(s, end, e);
		if (i < end && s[i] == ',')
			i = skip_ws(s, end, i + 1);
	}
	return count;
}

/* Hands jscan_each's callback an element without its text. */
struct plain {
	jscan_fn fn;
	void *ud;
};

/* Calls the plain callback (a jscan_text_fn). */
static void call_plain(struct json_object *el, const char *text, size_t len,
		       void *ud)
{
	struct plain *p = ud;

	(void)text;
	(void)len;
	p->fn(el, p->ud);
}

/* Calls fn for each element of the top-level member (see jscan_each_text). */
long jscan_each(const char *s, size_t n, const char *member, jscan_fn fn,
		void *ud)
{
	struct plain p = { fn, ud };

	return jscan_each_text(s, n, member, call_plain, &p);
}

/* Returns a top-level member's value, parsed whatever it is (a new reference;
 * meant for scalars), or NULL when absent, null or not JSON. */
struct json_object *jscan_value(const char *s, size_t n, const char *member)
{
	size_t start, end;
	struct json_object *v;
	bool ok;

	if (!s || !find_member(s, n, member, &start, &end) || start >= end)
		return NULL;
	v = parse_slice(s, start, end, &ok);
	if (!ok) {
		json_object_put(v);
		return NULL;
	}
	return v;
}

/* Returns a top-level member's string value (allocated), or NULL when absent or
 * not a string. */
char *jscan_string(const char *s, size_t n, const char *member)
{
	size_t start, end;
	struct json_object *v;
	char *out = NULL;
	bool ok;

	if (!s || !find_member(s, n, member, &start, &end) || start >= end ||
	    s[start] != '"')
		return NULL;
	v = parse_slice(s, start, end, &ok);
	if (json_object_is_type(v, json_type_string))
		out = xstrdup(json_object_get_string(v));
	json_object_put(v);
	return out;
}
