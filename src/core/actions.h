/* Azure RBAC action matching: wildcards, notActions, and permission blocks. */
#ifndef AZ_ACTIONS_H
#define AZ_ACTIONS_H

#include <stdbool.h>

struct json_object;

bool az_action_matches(const char *pattern, const char *action);
bool az_permissions_allow(struct json_object *permissions, const char *action,
			  bool data);

#endif
