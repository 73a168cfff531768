/* Azure RBAC action matching: wildcards, notActions, and permission blocks. */
#include "config.h"

#include <ctype.h>
#include <json-c/json.h>

#include "actions.h"

/* Matches an action against a pattern where '*' spans any characters, ignoring
 * case. */
bool az_action_matches(const char *pattern, const char *action)
{
	const char *star = NULL, *resume = NULL;

	while (*action) {
		if (*pattern == '*') {
			star = pattern++;
			resume = action;
		} else if (tolower((unsigned char)*pattern) ==
			   tolower((unsigned char)*action)) {
			pattern++;
			action++;
		} else if (star) {
			pattern = star + 1;
			action = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/* Tells whether any string in a JSON array of patterns matches the action. */
static bool any_matches(struct json_object *patterns, const char *action)
{
	size_t n = json_object_is_type(patterns, json_type_array)
			   ? json_object_array_length(patterns)
			   : 0;

	for (size_t i = 0; i < n; i++) {
		const char *p = json_object_get_string(
			json_object_array_get_idx(patterns, i));

		if (p && az_action_matches(p, action))
			return true;
	}
	return false;
}

/*
 * Tells whether a role's permission blocks grant an action: some block lists
 * it (wildcards allowed) and that same block does not exclude it. Data actions
 * are checked against dataActions and notDataActions.
 */
bool az_permissions_allow(struct json_object *permissions, const char *action,
			  bool data)
{
	size_t n = json_object_is_type(permissions, json_type_array)
			   ? json_object_array_length(permissions)
			   : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *block = json_object_array_get_idx(
					   permissions, i),
				   *yes = NULL, *no = NULL;

		json_object_object_get_ex(
			block, data ? "dataActions" : "actions", &yes);
		json_object_object_get_ex(
			block, data ? "notDataActions" : "notActions", &no);
		if (any_matches(yes, action) && !any_matches(no, action))
			return true;
	}
	return false;
}
