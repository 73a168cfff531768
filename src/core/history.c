/* The change history: one entry per write azcmk makes, built, read, filtered
 * and shown here; the file is the caller's. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "i18n.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* Formats a time (seconds since the epoch) as ISO 8601 UTC,
 * "2026-12-04T16:50:00Z". */
void history_time(int64_t t, char out[HISTORY_TIME_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    strftime(out, HISTORY_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, HISTORY_TIME_LEN, "1970-01-01T00:00:00Z");
}

/* Adds a string member when it is set. */
static void put(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

/* Appends one {path, before, after} to the list of changes. */
static void add_change(const char *path, struct json_object *before,
		       struct json_object *after, void *list)
{
	struct json_object *c = json_object_new_object();

	put(c, "path", path);
	json_object_object_add(c, "before", jx_copy(before));
	json_object_object_add(c, "after", jx_copy(after));
	json_object_array_add(list, c);
}

/* Returns the URL of a request without its query (the api-version), as the
 * history names what was written. */
static char *without_query(const char *url)
{
	return xstrndup(url ? url : "", strcspn(url ? url : "", "?"));
}

/*
 * Builds the history entry of one write: when, who (principal and tenant),
 * which plan and step, the request (method and resource, never a body's
 * secret: azcmk's bodies hold none), the fields it changes before and
 * after, and the outcome.
 */
struct json_object *history_entry(const struct history_write *w)
{
	struct json_object *e = json_object_new_object(),
			   *list = json_object_new_array();
	char *target = without_query(w->target);

	put(e, "time", w->time);
	put(e, "principal", w->principal);
	put(e, "principalName", w->principal_name);
	put(e, "tenant", w->tenant);
	put(e, "plan", w->plan);
	put(e, "resource", w->resource);
	put(e, "step", w->step);
	put(e, "method", w->method);
	put(e, "target", target);
	jx_changes(w->body, w->before, add_change, list);
	json_object_object_add(e, "changes", list);
	put(e, "outcome", w->ok ? "succeeded" : "failed");
	if (w->status)
		json_object_object_add(e, "status",
				       json_object_new_int64(w->status));
	put(e, "error", w->error);
	put(e, "requestId", w->request_id);
	free(target);
	return e;
}

/* Reads one line of the history; NULL when it is not an entry azcmk writes. */
struct json_object *history_parse(const char *line, size_t len)
{
	char *err = NULL;
	struct json_object *e = jx_parse(line, len, &err);

	free(err);
	if (!json_object_is_type(e, json_type_object) || !jx_str(e, "time") ||
	    strlen(jx_str(e, "time")) != 20 || !jx_str(e, "method") ||
	    !jx_str(e, "target") || !jx_str(e, "outcome") ||
	    !json_object_is_type(jx_get(e, "changes"), json_type_array)) {
		json_object_put(e);
		return NULL;
	}
	return e;
}

/*
 * Reads --since: a date (2026-12-01), a UTC time (2026-12-01T08:00:00Z) or
 * an age before now (30m, 12h, 7d). Fills out with the ISO time; false when
 * the text is none of these.
 */
bool history_since(const char *text, int64_t now, char out[HISTORY_TIME_LEN])
{
	int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
	char unit = 0, end = 0;

	if (sscanf(text, "%d%c%c", &n, &unit, &end) == 2 && n >= 0 &&
	    n <= 100000 && strchr("mhd", unit) && unit) {
		history_time(now - (int64_t)n * (unit == 'm'   ? 60
						 : unit == 'h' ? 3600
							       : 86400),
			     out);
		return true;
	}
	if (strlen(text) == 10 &&
	    sscanf(text, "%4d-%2d-%2d%c", &y, &mo, &d, &end) == 3) {
		snprintf(out, HISTORY_TIME_LEN, "%04d-%02d-%02dT00:00:00Z", y,
			 mo, d);
		return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
	}
	if (strlen(text) == 20 && sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%c", &y,
					 &mo, &d, &h, &mi, &s, &end) == 6) {
		snprintf(out, HISTORY_TIME_LEN,
			 "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
		return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 &&
		       mi < 60 && s < 61;
	}
	return false;
}

/* Returns the last segment of an ARM id or URL path. */
static const char *last_name(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;

	return slash ? slash + 1 : id ? id : "";
}

/* Tells whether an entry is about a resource (its ARM id or its name) and no
 * older than since (ISO, or NULL). */
bool history_match(struct json_object *e, const char *resource,
		   const char *since)
{
	const char *res = jx_str(e, "resource"), *target = jx_str(e, "target");

	if (since && strcmp(jx_str(e, "time"), since) < 0)
		return false;
	if (!resource)
		return true;
	return str_ieq(res, resource) || str_ieq(last_name(res), resource) ||
	       str_ieq(target, resource) ||
	       (target && str_istarts(target, resource) &&
		target[strlen(resource)] == '/');
}

/* Appends a JSON value as one line of text, sanitized (values came from servers
 * and files). */
static void value(struct sbuf *b, struct json_object *v)
{
	char *t = text_sanitize(v ? jx_text(v) : _("(absent)"), false);

	sb_adds(b, t);
	free(t);
}

/* Renders an entry for a person: when, outcome, request, who, and one line per
 * change. */
char *history_render(struct json_object *e)
{
	struct sbuf b = SBUF_INIT;
	struct json_object *list = jx_get(e, "changes");
	char *head = xasprintf("%s  %s  %s %s", jx_str(e, "time"),
			       str_ieq(jx_str(e, "outcome"), "succeeded")
				       ? _("succeeded")
				       : _("failed"),
			       jx_str(e, "method"), jx_str(e, "target"));
	char *clean = text_sanitize(head, false), *who;

	sb_printf(&b, "%s\n", clean);
	free(clean);
	free(head);
	who = text_sanitize(jx_str(e, "principalName")
				    ? jx_str(e, "principalName")
			    : jx_str(e, "principal") ? jx_str(e, "principal")
						     : "?",
			    false);
	clean = text_sanitize(jx_str(e, "step") ? jx_str(e, "step") : "?",
			      false);
	sb_printf(&b, _("    step %s of plan %.16s, by %s in tenant %s"), clean,
		  jx_str(e, "plan") ? jx_str(e, "plan") : "?", who,
		  jx_str(e, "tenant") ? jx_str(e, "tenant") : "?");
	if (jx_str(e, "error"))
		sb_printf(&b, _(" (error %s)"), jx_str(e, "error"));
	sb_addc(&b, '\n');
	free(clean);
	free(who);
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *c = jx_at(list, i);

		clean = text_sanitize(
			jx_str(c, "path") ? jx_str(c, "path") : "?", false);
		sb_printf(&b, "      %s: ", clean);
		value(&b, jx_get(c, "before"));
		sb_adds(&b, " -> ");
		value(&b, jx_get(c, "after"));
		sb_addc(&b, '\n');
		free(clean);
	}
	return sb_steal(&b);
}
