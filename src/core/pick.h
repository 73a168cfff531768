/* Sensible defaults for a remediation: which vault to look in first for a
 * compliant key, and a new key's name. */
#ifndef AZ_PICK_H
#define AZ_PICK_H

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"

struct json_object;

size_t pick_vaults(const struct svc_profile *svc, struct json_object *resource,
		   const char *tenant, struct json_object *vaults,
		   size_t *order, size_t max);
char *pick_key_name(struct json_object *resource);
bool pick_is_hsm(struct json_object *store);
const char *pick_store_uri(struct json_object *store);

#endif
