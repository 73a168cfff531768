/* The change history: one entry per write azcmk makes, built, read, filtered
 * and shown here; the file is the caller's. */
#ifndef AZ_HISTORY_H
#define AZ_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define HISTORY_TIME_LEN 21 /* "2026-12-04T16:50:00Z" and its NUL */

/* One write, as apply saw it. */
struct history_write {
	const char *time;      /* ISO 8601 UTC */
	const char *principal; /* the signed-in principal's object id */
	const char
		*principal_name; /* its user name or application id, or NULL */
	const char *tenant;
	const char *plan;     /* the plan's id */
	const char *resource; /* the resource the plan protects */
	const char *step;     /* the step's kind */
	const char *method;
	const char *target;         /* the request's URL */
	struct json_object *before; /* what the write changes, as read before it
				       (NULL: nothing read) */
	struct json_object *body;   /* what was sent, or NULL */
	bool ok;
	long status;
	const char *error; /* Azure's error code, or NULL */
	const char *request_id;
};

void history_time(int64_t t, char out[HISTORY_TIME_LEN]);
struct json_object *history_entry(const struct history_write *w);
struct json_object *history_parse(const char *line, size_t len);
bool history_since(const char *text, int64_t now, char out[HISTORY_TIME_LEN]);
bool history_match(struct json_object *e, const char *resource,
		   const char *since);
char *history_render(struct json_object *e);

#endif
