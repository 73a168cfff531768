/* Reading one member of a large JSON answer without building the whole tree: a
 * list element by element, or a string. */
#ifndef AZ_JSCAN_H
#define AZ_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

typedef void (*jscan_fn)(struct json_object *element, void *ud);
/* Like jscan_fn, with the element's own bytes in the answer. */
typedef void (*jscan_text_fn)(struct json_object *element, const char *text,
			      size_t len, void *ud);

long jscan_each(const char *s, size_t n, const char *member, jscan_fn fn,
		void *ud);
long jscan_each_text(const char *s, size_t n, const char *member,
		     jscan_text_fn fn, void *ud);
char *jscan_string(const char *s, size_t n, const char *member);
struct json_object *jscan_value(const char *s, size_t n, const char *member);

#endif
