/* Plans: the ordered changes that protect a resource with a customer-managed
 * key, as data. */
#ifndef AZ_PLAN_H
#define AZ_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

struct json_object;

enum step_kind {
	STEP_ENABLE_IDENTITY,
	STEP_ENABLE_SOFT_DELETE,
	STEP_ENABLE_PURGE_PROTECTION,
	STEP_FIREWALL_BYPASS,
	STEP_CREATE_KEY,
	STEP_ASSIGN_ROLE,
	STEP_ACCESS_POLICY,
	STEP_WAIT_ACCESS,
	STEP_SAVE_KEY,
	STEP_VERIFY,
	STEP_DISABLE_SYSTEM_IDENTITY, /* after the save: the user-assigned
					 identity alone reaches the key */
	STEP_CREATE_VAULT,   /* first of all: the key vault the new key goes in
				(fix --all --create-vault) */
	STEP_GRANT_OPERATOR, /* then, where you could not otherwise, let you
				create keys there (Key Vault Crypto Officer on
				the new vault) */
};
#define STEP_KIND_COUNT (STEP_GRANT_OPERATOR + 1)

/* Where a step's request goes. */
enum step_target { TARGET_ARM, TARGET_KEYVAULT, TARGET_NONE };

#define PLAN_FORMAT "azcmk-plan/2"
#define PLAN_KV_API "7.5"
#define PLAN_VAULT_API "2024-11-01"
#define PLAN_AUTHZ_API "2022-04-01"
#define PLAN_TAG                                                          \
	"azcmk-plan" /* the tag a key version made by a plan carries (its \
			plan_mark) */

/*
 * One change. Its method, URL and body are what plan_request derives from the
 * step's kind and the plan's typed fields with the state read when the plan
 * was made (for the review and the exports); apply derives them again from
 * live state and never sends what a plan file says. URL and body may hold
 * {{principalId}}, {{assignmentName}} and {{keyVersion}} where the value is
 * not known until apply learns it.
 */
struct plan_step {
	enum step_kind kind;
	const char *id; /* stable name: "enable-identity", "save-key" ... */
	char *title;    /* what it does, translated */
	const char *method;
	char *url; /* ARM path, or a full Key Vault URL */
	const char *api_version;
	enum step_target target;
	struct json_object *body; /* NULL for none */
	char *expect_path;        /* a property to re-read before writing ... */
	struct json_object *expect; /* ... and the value the plan was built on
				       (NULL: absent) */
	char *read_url; /* what to re-read for that comparison (ARM path) */
	bool reversible;
	int depends; /* index of the step it needs first, or -1 */
};

/* What the plan does about a finding, with the operator's choices. */
enum plan_answer {
	PLAN_FIXES,      /* a step fixes it */
	PLAN_NOT_NEEDED, /* nothing to fix for the plan to go on (a warning, a
			    note) */
	PLAN_NEEDS_CONFIRMATION, /* a step fixes it once the irreversible change
				    is confirmed */
	PLAN_NEEDS_NEW_KEY,      /* only a new key fixes it */
	PLAN_CANNOT,             /* no step can: a person must fix it first */
	PLAN_NOT_JUDGED, /* it could not be judged: no plan until it is (or it
			    is accepted) */
};

/* The operator's choices beyond the key and identity. */
struct plan_choices {
	bool create_key; /* create a new key (name below) instead of using one
			  */
	const char *new_key_name;
	const char *role; /* role GUID to assign (default: Crypto Service
			     Encryption User) */
	bool versionless; /* with create_key on an existing key: keep the
			     resource on the versionless URI */
	bool resave;      /* save even when the setting is already there (azcmk
			     refresh) */
	bool system_off;  /* turn the system-assigned identity off once the key
			     is saved (user-assigned) */
	bool allow_unknown; /* go on past blockers that could not be judged */
	bool grant_vault;   /* grant the role on the whole vault, not the key
			       (vaults with Azure RBAC) */
	const char *vault_location; /* create the context's vault, the one
				       plan_vault_planned describes, in this
				       region (NULL: it exists) */
};

struct plan {
	char *id; /* the digest of the plan's content (plan_digest) */
	char *resource_id;
	const struct svc_profile *svc;
	char *vault_id;        /* the vault's or managed HSM's ARM id */
	struct key_ref keyref; /* the key (owned); its version may be
				  "{{keyVersion}}", the key the plan creates */
	char *uai_id;
	char *uai_client_id;
	char *role; /* role GUID granted at key scope (vaults with Azure RBAC),
		       or NULL */
	bool grant_vault; /* the role is granted on the vault, not the key */
	char *vault_location; /* the plan creates its vault in this region, */
	char *vault_tenant;   /* ... for this tenant (NULL: it exists) */
	char *operator_id;    /* who is granted Key Vault Crypto Officer on the
				 new vault (grant-operator), or NULL */
	int key_size;         /* RSA size of the key the plan creates, or 0 */
	bool new_version;     /* the key it creates exists: a new version of it
			       */
	bool resave; /* the save runs even when the setting is already there */
	struct plan_step *steps;
	size_t n;
};

enum plan_answer plan_fix_answer(const struct cmk_ctx *c,
				 const struct cmk_finding *f,
				 const struct plan_choices *ch);
int plan_build(const struct cmk_ctx *c, const struct cmk_report *r,
	       const struct plan_choices *ch, struct plan *out, char **err);
void plan_free(struct plan *p);
struct json_object *plan_to_json(const struct plan *p);
int plan_from_json(struct json_object *o, struct plan *out, char **err);
char *plan_render_text(const struct plan *p, const struct cmk_ctx *c,
		       bool bodies);
char *plan_render_arm(const struct plan *p, const struct cmk_ctx *c);
char *plan_render_az(const struct plan *p);
char *plan_render_fleet_az(const struct plan *plans, size_t n,
			   const char *fleet_id);
char *plan_fill(const char *text, struct json_object *vars);
struct json_object *plan_save_body(const struct svc_profile *svc,
				   struct json_object *resource,
				   const struct key_ref *k, const char *version,
				   const char *uai_id, const char *uai_client);
struct json_object *plan_writable(struct json_object *resource);
struct json_object *plan_after_save(const struct cmk_ctx *c);
const char *plan_step_name(enum step_kind k);
char *plan_step_title(const struct plan *p, enum step_kind k);
char *plan_render_steps(const struct plan *p);

/* Live state a step's request is derived from: what was read, and what earlier
 * steps learned. */
struct step_state {
	struct json_object *resource; /* the resource as read now, or NULL */
	struct json_object
		*vault; /* the vault or HSM (ARM) as read now, or NULL */
	struct json_object
		*vars; /* principalId, keyVersion: used only when well formed */
};

/* One request of a step, derived from its kind and the plan's typed fields. */
struct step_request {
	const char *method; /* NULL: the step sends nothing */
	char *url; /* ARM path, or a full Key Vault or managed HSM URL */
	const char *api_version;
	enum step_target target;
	struct json_object *body; /* NULL for none */
};

void plan_request(const struct plan *p, size_t i, const struct step_state *st,
		  struct step_request *out);
void step_request_free(struct step_request *r);
struct json_object *plan_identity(const struct plan *p,
				  struct json_object *resource,
				  bool keep_system);
bool plan_check(const struct plan *p, char **err);
bool plan_creates_key(const struct plan *p);
char *plan_digest(struct json_object *plan_json);
char *plan_mark(const struct plan *p);
char *plan_assignment_name(const char *scope, const char *principal,
			   const char *role);
bool plan_var_ok(const char *name, const char *value);
bool plan_key_name_ok(const char *name);
bool plan_journal_entry_ok(const struct plan *p, struct json_object *e,
			   bool first);
bool plan_preflight(const struct plan *p, const struct cmk_ctx *c,
		    const bool *done, char **err, char **unjudged);
struct json_object *plan_vault_body(const char *location, const char *tenant);
struct json_object *plan_vault_planned(const char *vault_id,
				       const char *vault_uri,
				       const char *location,
				       const char *tenant);
bool plan_vault_name_ok(const char *name);
int plan_may(const struct plan *p, const struct cmk_ctx *c, enum step_kind k);
const char *plan_guard_path(const struct plan *p, enum step_kind k,
			    const char **read_url);

#endif
