/* Service profiles: one table entry per service azcmk protects, from RULES.md's per-service table. */
#ifndef AZ_PROFILE_H
#define AZ_PROFILE_H

#include <stdbool.h>

struct json_object;

enum svc_id { SVC_DICOM, SVC_HEALTHBOT, SVC_FOUNDRY, SVC_OPENAI, SVC_COUNT };

/* How the service takes a key. */
enum save_style {
	SAVE_PUT_WHOLE,        /* PUT the whole resource (DICOM: PATCH takes only tags and identity) */
	SAVE_PATCH_KVP,        /* PATCH properties.keyVaultProperties (Health Bot) */
	SAVE_PATCH_ENCRYPTION, /* PATCH properties.encryption (Cognitive Services) */
};

enum severity { SEV_NOTE, SEV_WARNING, SEV_BLOCKER };

struct svc_profile {
	enum svc_id id;
	const char *key;              /* "dicom", "healthbot", "foundry", "openai" (command line, JSON) */
	const char *name;             /* N_() display name */
	const char *arm_type;
	const char *kind;             /* Cognitive Services kind, or NULL */
	const char *api_version;
	const char *both_identities;  /* the identity type string with both kinds */
	enum save_style save;
	bool version_required;        /* the key URL must name a version */
	bool same_region;             /* the vault must be in the resource's region */
	bool irreversible;            /* CMK cannot be turned off again */
	bool same_vault_only;         /* a later key change must stay in the same vault */
	bool user_identity_doubtful;  /* documents disagree on user-assigned identities */
	const int *sizes;             /* allowed RSA sizes (0-terminated), or NULL: any of 2048 and up */
	enum severity size_severity;  /* how bad a size outside the list is */
	const char *docs_role;        /* the role the service's documents name (GUID), or NULL */
	const char *docs_role_note;   /* N_() note where the documents disagree on the role, or NULL */
	const char *caution;          /* N_() what the operator must know before the key is saved, or NULL */
};

extern const struct svc_profile SVC_PROFILES[SVC_COUNT];

const struct svc_profile *svc_for_resource(const char *type, const char *kind);
const struct svc_profile *svc_by_key(const char *key);
bool svc_size_allowed(const struct svc_profile *p, long bits);
const char *svc_api_version(const char *arm_type);
char *svc_key_uri(const struct svc_profile *p, struct json_object *r);

#define ROLE_CRYPTO_SERVICE_ENCRYPTION_USER "e147488a-f6f5-4113-8e2d-b22465e65bf6"
#define ROLE_CRYPTO_USER "12338af0-0e69-4776-bea7-57ae8d297424"
#define ROLE_CRYPTO_OFFICER "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
#define ROLE_HSM_CRYPTO_SERVICE_ENCRYPTION_USER "33413926-3206-4cdd-b39a-83574fe37a17"

#endif
