/* Service profiles: one table entry per service azcmk protects, from RULES.md's
 * per-service table. */
#ifndef AZ_PROFILE_H
#define AZ_PROFILE_H

#include <stdbool.h>

struct json_object;

/* Each profile's index in SVC_PROFILES; loop with SVC_NPROFILES, as a test
 * build holds one more row. */
enum svc_id {
	SVC_DICOM,
	SVC_HEALTHBOT,
	SVC_FOUNDRY,
	SVC_OPENAI,
#ifdef AZCMK_TEST_HOOKS
	SVC_TEST_LOCKER, /* a test-only service: proof that a service is its
			    profile row (tests/azure/test-apply.c) */
#endif
	SVC_COUNT
};

/*
 * How a service holds its key setting, from its REST spec: what the rules
 * read, the plan writes, and the exports and apply send. Every JSON path
 * about the key or its identity is here, nowhere else.
 */
struct key_shape {
	bool whole; /* the save PUTs the whole resource (DICOM: its PATCH takes
		       only tags and identity); else it PATCHes patch_root */
	const char *url;    /* the key as one versioned key URL, or NULL */
	const char *kvp;    /* the object holding keyVaultUri, keyName and
			       keyVersion, or NULL */
	const char *source; /* the member that says "Microsoft.KeyVault" when
			       the key is the customer's, or NULL */
	const char *patch_root; /* what a PATCH sends: the smallest object
				   holding the whole setting */
	const char
		*identity;       /* the member of kvp naming the user-assigned
				    identity, or NULL (any attached one    serves) */
	bool identity_client_id; /* that member holds the identity's client id,
				    not its ARM id */
};

/* How an exported ARM template names a child resource's parts, as template
 * parameters. */
struct template_names {
	const char *parent,
		*parent_about; /* "workspaceName", and N_() what it is */
	const char *child,
		*child_about; /* "dicomServiceName", and N_() what it is */
};

enum severity { SEV_NOTE, SEV_WARNING, SEV_BLOCKER };

struct svc_profile {
	enum svc_id id;
	const char *key;  /* "dicom", "healthbot", "foundry", "openai" (command
			     line, JSON) */
	const char *name; /* N_() display name */
	const char *arm_type;
	const char *kind; /* Cognitive Services kind, or NULL */
	const char *api_version;
	const char
		*both_identities; /* the identity type string with both kinds */
	const struct key_shape *shape;
	const struct template_names *
		template_names; /* a child resource's parameters in an exported
				   template, or NULL: the resource's own name */
	bool version_required;  /* the key URL must name a version */
	bool same_region;       /* the vault must be in the resource's region */
	bool irreversible;      /* CMK cannot be turned off again */
	bool same_vault_only; /* a later key change must stay in the same vault
			       */
	bool user_identity_doubtful; /* documents disagree on user-assigned
					identities */
	const int *sizes; /* allowed RSA sizes (0-terminated), or NULL: any of
			     2048 and up */
	enum severity size_severity; /* how bad a size outside the list is */
	const char *docs_role; /* the role the service's documents name (GUID),
				  or NULL */
	const char *docs_role_note; /* N_() note where the documents disagree on
				       the role, or NULL */
	const char *caution; /* N_() what the operator must know before the key
				is saved, or NULL */
	const char *size_note;     /* N_() where the documents disagree on key
				      sizes, or NULL */
	const char *identity_note; /* N_() where they disagree on user-assigned
				      identities, or NULL */
	const char *cmk_since; /* resources created before this day (YYYY-MM-DD)
				  cannot take a key; NULL: the capability
				  CustomerManagedKey says */
	bool health_reports_key; /* Resource Health says whether the service can
				    reach its key */
	bool cmk_capability; /* the capability CustomerManagedKey says whether a
				resource can take a key */
	bool keeps_earlier_versions; /* data encrypted before a rotation still
					needs the earlier key versions */
	bool hsm_private_needs_uai;  /* a Managed HSM reached only by a private
					endpoint needs a user-assigned identity
				      */
	bool refresh_after_loss;     /* after losing its key for long, it stays
					unavailable until its setting is saved     again
				      */
};

extern const struct svc_profile SVC_PROFILES[];
extern const size_t SVC_NPROFILES;

const struct svc_profile *svc_for_resource(const char *type, const char *kind);
const struct svc_profile *svc_by_key(const char *key);
bool svc_type_known(const char *arm_type);
bool svc_type_first_of(const struct svc_profile *p, unsigned services);
char *svc_types_kql(unsigned services);
char *svc_names_text(void);
bool svc_size_allowed(const struct svc_profile *p, long bits);
const char *svc_api_version(const char *arm_type);
char *svc_key_uri(const struct svc_profile *p, struct json_object *r);
bool svc_on_cmk(const struct svc_profile *p, struct json_object *r);
const char *svc_key_vault_uri(const struct svc_profile *p,
			      struct json_object *r);

/* Capability tests: which rules apply to a service (the rule table names one
 * each). */
bool svc_may_be_ineligible(const struct svc_profile *p);
bool svc_irreversible(const struct svc_profile *p);
bool svc_same_vault_only(const struct svc_profile *p);
bool svc_same_region(const struct svc_profile *p);
bool svc_version_required(const struct svc_profile *p);
bool svc_keeps_earlier_versions(const struct svc_profile *p);
bool svc_identity_unnamed(const struct svc_profile *p);
bool svc_hsm_private_needs_uai(const struct svc_profile *p);
bool svc_refresh_after_loss(const struct svc_profile *p);

#define ROLE_CRYPTO_SERVICE_ENCRYPTION_USER \
	"e147488a-f6f5-4113-8e2d-b22465e65bf6"
#define ROLE_CRYPTO_USER "12338af0-0e69-4776-bea7-57ae8d297424"
#define ROLE_CRYPTO_OFFICER "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
#define ROLE_HSM_CRYPTO_SERVICE_ENCRYPTION_USER \
	"33413926-3206-4cdd-b39a-83574fe37a17"

#endif
