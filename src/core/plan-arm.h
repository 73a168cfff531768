/* The pieces of a plan's ARM template that a fleet's template is made of. */
#ifndef AZ_PLAN_ARM_H
#define AZ_PLAN_ARM_H

#include <stddef.h>

#include "plan.h"

struct json_object;

struct json_object *plan_arm_template(const struct plan *p,
				      const struct cmk_ctx *c);
char *plan_arm_literal(const char *s);
struct json_object *plan_arm_vault_fix(const struct plan *const *plans,
				       size_t n, const struct cmk_ctx *c);

#endif
