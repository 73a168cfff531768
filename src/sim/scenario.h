/* Schema checks for simulator scenario files and fault rules, reporting the
 * JSON path of the first fault. */
#ifndef AZ_SIM_SCENARIO_H
#define AZ_SIM_SCENARIO_H

#include <stdbool.h>

#include <json-c/json.h>

/*
 * Checks a parsed scenario against the schema; returns true (and sets *err to
 * NULL), or false and an allocated message "$.path: what is wrong" naming the
 * first fault. err may be NULL when only the verdict is wanted.
 */
bool scenario_validate(struct json_object *doc, char **err);

/*
 * Checks one fault rule; path is the JSON path to name in the message (e.g.
 * "$.faults[2]" or "$"; NULL means "$"). Same err convention as above.
 */
bool scenario_validate_fault(struct json_object *fault, const char *path,
			     char **err);

#endif
