/* az's tab-separated output (-o tsv), value for value as az's own formatter. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "text.h"
#include "tsv.h"
#include "xalloc.h"

/*
 * The rules are those of az's formatter, knack's _TsvOutput
 * (knack/output.py, as Debian's python3-knack ships it for az 2.45): a result
 * that is a list gives one line per item, anything else one line; an
 * object's values come in the order of its sorted keys, a list's in its
 * order; within a line a nested object is written as nothing (so that columns
 * stay aligned), a nested list as its length, null as "None", a boolean as
 * "True" or "False" (Python's str()); a boolean that is a whole line is
 * "true" or "false". Unlike az, each value is made safe for a terminal: tabs
 * and line breaks become spaces and control characters '?', so a value from
 * Azure can neither split a line nor reach the terminal as a control.
 */

/* Orders object members by key, as Python's sorted() orders str keys (code
 * points: UTF-8 byte order). */
static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes one value inside a line: knack's _dump_obj. */
static void cell(struct sbuf *b, struct json_object *v)
{
	char *clean;

	switch (json_object_get_type(v)) {
	case json_type_null:
		sb_adds(b, "None");
		return;
	case json_type_object:
		return;
	case json_type_array:
		sb_printf(b, "%zu", jx_len(v));
		return;
	case json_type_boolean:
		sb_adds(b, json_object_get_boolean(v) ? "True" : "False");
		return;
	default:
		clean = text_sanitize(json_object_get_string(v), false);
		sb_adds(b, clean);
		free(clean);
	}
}

/* Writes an object's values in the order of its sorted keys. */
static void object_cells(struct sbuf *b, struct json_object *o)
{
	size_t n = (size_t)json_object_object_length(o), k = 0;
	const char **keys = xcalloc(n + 1, sizeof(*keys));

	json_object_object_foreach(o, key, val)
	{
		(void)val;
		keys[k++] = key;
	}
	qsort(keys, k, sizeof(*keys), by_key);
	for (size_t i = 0; i < k; i++) {
		if (i)
			sb_addc(b, '\t');
		cell(b, json_object_object_get(o, keys[i]));
	}
	free(keys);
}

/* Writes one line: knack's _dump_row. */
void tsv_row(struct sbuf *b, struct json_object *row)
{
	if (json_object_is_type(row, json_type_object)) {
		object_cells(b, row);
	} else if (json_object_is_type(row, json_type_array)) {
		for (size_t i = 0; i < jx_len(row); i++) {
			if (i)
				sb_addc(b, '\t');
			cell(b, jx_at(row, i));
		}
	} else if (json_object_is_type(row, json_type_boolean)) {
		sb_adds(b, json_object_get_boolean(row) ? "true" : "false");
	} else {
		cell(b, row);
	}
	sb_addc(b, '\n');
}

/* Returns a result as az's -o tsv writes it: a line per item of a list, else
 * one line; allocated. */
char *tsv_render(struct json_object *result)
{
	struct sbuf b = SBUF_INIT;

	if (json_object_is_type(result, json_type_array))
		for (size_t i = 0; i < jx_len(result); i++)
			tsv_row(&b, jx_at(result, i));
	else
		tsv_row(&b, result);
	return sb_steal(&b);
}
