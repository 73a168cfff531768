/* Guard policies: the Azure Policy assignments that audit or deny resources of
 * the four services without a customer-managed key, as an ARM template or an
 * Azure CLI script. */
#ifndef AZ_GUARD_H
#define AZ_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* Where the assignments go. */
enum guard_scope { GUARD_SUBSCRIPTION, GUARD_MANAGEMENT_GROUP };

/* An effect a policy definition may allow, one bit each. */
enum {
	GUARD_ALLOWS_AUDIT = 1u << 0,
	GUARD_ALLOWS_DENY = 1u << 1,
};

/* A built-in policy definition that flags one kind of resource without a
 * customer-managed key, as Microsoft publishes it. */
struct guard_builtin {
	const char *assignment; /* the assignment's name: deterministic, at most
				   24 characters (management group limit) */
	unsigned services;      /* bits of enum svc_id it covers */
	const char *guid;    /* its name in /providers/Microsoft.Authorization/
				policyDefinitions */
	const char *source;  /* its file in github.com/Azure/azure-policy */
	const char *display; /* N_() its display name, as published */
	unsigned allows;     /* GUARD_ALLOWS_* its effect parameter takes */
	const char *const *excluded_kinds; /* the default of its excludedKinds
					      parameter (NULL-terminated), or
					      NULL when it has none */
	const char *custom;    /* when it does not allow Deny: the name of the
				  custom definition guard writes for --deny,
				  or NULL */
	const char *custom_if; /* that definition's policyRule.if (JSON): the
				  built-in's own condition */
};

extern const struct guard_builtin GUARD_BUILTINS[];
extern const size_t GUARD_NBUILTINS;

/* What guard is asked for. */
struct guard_req {
	enum guard_scope scope;
	const char *target; /* the subscription id or management group name;
			       NULL for the current subscription */
	unsigned services;  /* bits of enum svc_id (0: all four) */
	bool deny;          /* Deny rather than Audit, where allowed */
};

/* One assignment the document holds. */
struct guard_assignment {
	const struct guard_builtin *def;
	const char *effect; /* "Audit" or "Deny" */
	bool custom; /* assigns def's custom definition, not the built-in */
	struct json_object *excluded_kinds; /* the excludedKinds value, or NULL
					     */
};

/* The assignments for a request, and what the operator must be told about
 * them (translated notes). */
struct guard_set {
	struct guard_req req;
	struct guard_assignment *items;
	size_t n;
	char **notes;
	size_t nnotes;
};

#define GUARD_NAME_MAX_SUBSCRIPTION 64
#define GUARD_NAME_MAX_MANAGEMENT_GROUP 24

bool guard_target_valid(enum guard_scope scope, const char *target);
int guard_build(const struct guard_builtin *table, size_t n,
		const struct guard_req *r, struct guard_set *out, char **err);
void guard_free(struct guard_set *s);
char *guard_scope_id(const struct guard_req *r);
struct json_object *guard_custom_definition(const struct guard_assignment *a,
					    bool arm);
char *guard_deploy_hint(const struct guard_req *r);
struct json_object *guard_render_arm(const struct guard_set *s);
char *guard_render_az(const struct guard_set *s);

#endif
