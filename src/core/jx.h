/* json-c helpers: dotted-path access, safe parsing with messages, merge patch.
 */
#ifndef AZ_JX_H
#define AZ_JX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct json_object *jx_parse(const char *text, size_t len, char **err);
struct json_object *jx_get(struct json_object *o, const char *path);
struct json_object *jx_iget(struct json_object *o, const char *key);
const char *jx_str(struct json_object *o, const char *path);
bool jx_bool(struct json_object *o, const char *path, bool dflt);
int64_t jx_int(struct json_object *o, const char *path, int64_t dflt);
bool jx_has(struct json_object *o, const char *path);
void jx_set(struct json_object *o, const char *path, struct json_object *value);
void jx_del(struct json_object *o, const char *path);
void jx_merge_patch(struct json_object *target, struct json_object *patch);
typedef void (*jx_change_fn)(const char *path, struct json_object *before,
			     struct json_object *after, void *ud);
void jx_changes(struct json_object *body, struct json_object *before,
		jx_change_fn fn, void *ud);
struct json_object *jx_copy(struct json_object *o);
const char *jx_text(struct json_object *o);
size_t jx_len(struct json_object *array);
struct json_object *jx_at(struct json_object *array, size_t i);
bool jx_array_has_istr(struct json_object *array, const char *s);

#endif
