/* Fleet plans: one reviewed plan per resource of many, the resources left
 * out with their reasons, and the order in which apply runs them. */
#ifndef AZ_FLEET_H
#define AZ_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"

struct json_object;

#define FLEET_FORMAT "azcmk-fleet/1"
#define FLEET_MAX 10000 /* resources in one fleet plan, planned or skipped */

/* A resource the fleet plan leaves out, and why (never silently dropped). */
struct fleet_skip {
	char *resource_id;
	char *rule;   /* the finding's rule, or "" */
	char *reason; /* translated when planned; untrusted when read */
	/* What planning it needs (set while planning, never in the file): */
	char *region; /* a new vault in this region (no vault there is ready) */
	bool confirm; /* the consent to an irreversible change */
};

/*
 * A fleet plan: each resource's own plan (each with its own digest, checked
 * as a single plan is) and the skipped ones; its id is the digest of the
 * whole file, so that no part of it can be changed after the review.
 */
struct fleet {
	char *id;
	struct plan *plans;
	size_t n, cap;
	struct fleet_skip *skipped;
	size_t nskipped, capskipped;
};

void fleet_add_plan(struct fleet *f, struct plan *p);
void fleet_skip(struct fleet *f, const char *resource_id, const char *rule,
		const char *reason);
void fleet_skip_needs(struct fleet *f, const char *region, bool confirm);
void fleet_free(struct fleet *f);
void fleet_one_region_per_new_vault(struct fleet *f, struct json_object *seen);
struct json_object *fleet_skip_json(const struct fleet_skip *s,
				    const char *id_key);
struct json_object *fleet_to_json(struct fleet *f);
int fleet_from_json(struct json_object *o, struct fleet *out, char **err);
bool fleet_is_fleet(struct json_object *o);
char *fleet_subscription(const char *resource_id);
bool fleet_shared_step(const struct plan *p, size_t s);
bool fleet_same_shared(const struct plan *a, size_t s, const struct plan *b,
		       size_t t);
char *fleet_render_text(const struct fleet *f, int width);
char *fleet_render_arm(const struct fleet *f, struct json_object *seen);
size_t fleet_irreversible(const struct fleet *f);
struct json_object *fleet_review_json(const struct fleet *f);

/* How many resources apply runs at once: in all, per vault, per subscription
 * (Key Vault and ARM throttle per vault and per subscription). */
struct fleet_limits {
	size_t parallel;
	size_t per_vault;
	size_t per_subscription;
};

/* --parallel: its default and the most it takes. */
#define FLEET_DEFAULT_PARALLEL 8
#define FLEET_MAX_PARALLEL 64
/*
 * Resources applied at once on one vault. Key Vault allows, per vault and
 * region in 10 s, 10 creations of an HSM-protected RSA key and 20 of a
 * software one, and 2,000 (HSM) or 4,000 other key transactions ("Azure Key
 * Vault service limits", Microsoft Learn,
 * https://learn.microsoft.com/azure/key-vault/general/service-limits). A
 * resource's plan creates at most one key, at its start, then reads and
 * waits (the role's propagation, the save's long-running operation): 8 at
 * once is at most 8 creations in a wave, under both creation limits. A 429
 * is retried after its Retry-After ("Azure Key Vault throttling guidance",
 * https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
 */
#define FLEET_PER_VAULT 8
/*
 * Resources applied at once that write in one subscription (a resource's own,
 * and its vault's where the role assignment or access policy is written).
 * Azure Resource Manager gives each principal, per subscription and region, a
 * token bucket of 200 writes refilled at 10 a second ("Understand how Azure
 * Resource Manager throttles requests", Microsoft Learn,
 * https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
 * A resource's plan writes at most 4 times there (its identity, the role or
 * access policy, the save, the system identity turned off; the vault's
 * shared changes once for all): 16 at once is at most 64 writes in a wave, a
 * third of the bucket, leaving the rest to the operator's other work, and
 * the plans' reads, polls and waits keep them near the refill rate.
 */
#define FLEET_PER_SUBSCRIPTION 16

struct fleet_limits fleet_limits_for(int parallel);

/* Where each resource's plan stands while the fleet is applied. */
enum fleet_state { FLEET_PENDING, FLEET_RUNNING, FLEET_ENDED };

size_t fleet_next(const struct fleet *f, const enum fleet_state *state,
		  const struct fleet_limits *l);

#endif
