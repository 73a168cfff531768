/* Plans: the ordered changes that protect a resource with a customer-managed key, as data. */
#ifndef AZ_PLAN_H
#define AZ_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

struct json_object;

enum step_kind {
	STEP_ENABLE_IDENTITY, STEP_ENABLE_SOFT_DELETE, STEP_ENABLE_PURGE_PROTECTION, STEP_FIREWALL_BYPASS,
	STEP_CREATE_KEY, STEP_ASSIGN_ROLE, STEP_ACCESS_POLICY, STEP_WAIT_ACCESS, STEP_SAVE_KEY, STEP_VERIFY,
	STEP_DISABLE_SYSTEM_IDENTITY,      /* after the save: the user-assigned identity alone reaches the key */
};
#define STEP_KIND_COUNT (STEP_DISABLE_SYSTEM_IDENTITY + 1)

/* Where a step's request goes. */
enum step_target { TARGET_ARM, TARGET_KEYVAULT, TARGET_NONE };

/*
 * One change. URL and body may hold {{principalId}} (the service identity's
 * object id, known once the identity exists) and {{keyVersion}} (the version
 * a created key gets); apply fills them in.
 */
struct plan_step {
	enum step_kind kind;
	const char *id;                /* stable name: "enable-identity", "save-key" ... */
	char *title;                   /* what it does, translated */
	const char *method;
	char *url;                     /* ARM path, or a full Key Vault URL */
	const char *api_version;
	enum step_target target;
	struct json_object *body;      /* NULL for none */
	char *expect_path;             /* a property to re-read before writing ... */
	struct json_object *expect;    /* ... and the value the plan was built on (NULL: absent) */
	char *read_url;                /* what to re-read for that comparison (ARM path) */
	bool reversible;
	int depends;                   /* index of the step it needs first, or -1 */
};

/* The operator's choices beyond the key and identity. */
struct plan_choices {
	bool create_key;               /* create a new key (name below) instead of using one */
	const char *new_key_name;
	const char *role;              /* role GUID to assign (default: Crypto Service Encryption User) */
	bool versionless;              /* with create_key on an existing key: keep the resource on the versionless URI */
	bool resave;                   /* save even when the setting is already there (azcmk refresh) */
	bool system_off;               /* turn the system-assigned identity off once the key is saved (user-assigned) */
};

struct plan {
	char *id;                      /* stable id: hash of resource, key and identity */
	char *resource_id;
	const struct svc_profile *svc;
	char *vault_uri;
	char *key_name;
	char *key_version;
	char *uai_id;
	char *uai_client_id;
	bool resave;                   /* the save runs even when the setting is already there */
	struct plan_step *steps;
	size_t n;
};

int plan_build(const struct cmk_ctx *c, const struct cmk_report *r, const struct plan_choices *ch, struct plan *out,
	       char **err);
void plan_free(struct plan *p);
struct json_object *plan_to_json(const struct plan *p);
int plan_from_json(struct json_object *o, struct plan *out, char **err);
char *plan_render_text(const struct plan *p, const struct cmk_ctx *c);
char *plan_render_arm(const struct plan *p, const struct cmk_ctx *c);
char *plan_render_az(const struct plan *p);
char *plan_fill(const char *text, struct json_object *vars);
struct json_object *plan_save_body(const struct svc_profile *svc, struct json_object *resource, const char *vault_uri,
				   const char *key, const char *version, const char *uai_id, const char *uai_client);
struct json_object *plan_writable(struct json_object *resource);
struct json_object *plan_after_save(const struct cmk_ctx *c);
const char *plan_step_name(enum step_kind k);

#endif
