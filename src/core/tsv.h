/* az's tab-separated output (-o tsv), value for value as az's own formatter. */
#ifndef AZ_TSV_H
#define AZ_TSV_H

#include <json-c/json.h>

#include "sbuf.h"

void tsv_row(struct sbuf *b, struct json_object *row);
char *tsv_render(struct json_object *result);

#endif
