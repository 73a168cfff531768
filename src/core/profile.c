/* Service profiles: one table entry per service azcmk protects, from RULES.md's
 * per-service table. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "i18n.h"
#include "jx.h"
#include "keyref.h"
#include "profile.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

static const int DICOM_SIZES[] = { 2048, 3072, 0 };
static const int OPENAI_SIZES[] = { 2048, 0 };
static const int FOUNDRY_SIZES[] = { 2048, 3072, 4096, 0 };
static const int HEALTHBOT_SIZES[] = { 2048, 3072, 0 };

/* DICOM: the whole resource is PUT with one versioned key URL
 * (DicomServices_CreateOrUpdate, 2024-03-31). */
static const struct key_shape DICOM_SHAPE = {
	.whole = true,
	.url = "properties.encryption.customerManagedKeyEncryption."
	       "keyEncryptionKeyUrl",
	.patch_root = "properties.encryption",
};

/* The healthcare agent service: PATCH keyVaultProperties, the identity by ARM
 * id (Bots_Update, 2025-11-01). */
static const struct key_shape HEALTHBOT_SHAPE = {
	.kvp = "properties.keyVaultProperties",
	.patch_root = "properties.keyVaultProperties",
	.identity = "userIdentity",
};

/* Cognitive Services: PATCH encryption, keySource Microsoft.KeyVault, the
 * identity by client id (Accounts_Update). */
static const struct key_shape COGNITIVE_SHAPE = {
	.kvp = "properties.encryption.keyVaultProperties",
	.source = "properties.encryption.keySource",
	.patch_root = "properties.encryption",
	.identity = "identityClientId",
	.identity_client_id = true,
};

#ifdef AZCMK_TEST_HOOKS
static const int LOCKER_SIZES[] = { 2048, 3072, 4096, 0 };

/* The test locker: PATCH lockerKey, the identity by ARM id, its own names
 * (src/sim/locker.c). */
static const struct key_shape LOCKER_SHAPE = {
	.kvp = "properties.lockerKey",
	.patch_root = "properties.lockerKey",
	.identity = "identityId",
};
#endif

/* The parameters an exported template names a DICOM service's parts by: its
 * workspace, then its own name. */
static const struct template_names DICOM_NAMES = {
	"workspaceName",
	N_("The Azure Health Data Services workspace that holds the DICOM "
	   "service."),
	"dicomServiceName",
	N_("The DICOM service's name."),
};

const struct svc_profile SVC_PROFILES[] = {
	{ .id = SVC_DICOM,
	  .key = "dicom",
	  .name = N_("DICOM service"),
	  .arm_type = "Microsoft.HealthcareApis/workspaces/dicomservices",
	  .api_version = "2024-03-31",
	  .both_identities = "SystemAssigned,UserAssigned",
	  .shape = &DICOM_SHAPE,
	  .template_names = &DICOM_NAMES,
	  .version_required = true,
	  .sizes = DICOM_SIZES,
	  .size_severity = SEV_BLOCKER,
	  .docs_role = ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
	  .docs_role_note =
		  N_("The DICOM documentation names Key Vault Crypto Service "
		     "Encryption User, but its own ARM "
		     "template sample assigns Key Vault Crypto Officer, which "
		     "grants far more than the service "
		     "needs."),
	  /* "If key access is lost for more than 30 minutes, make sure you
	   * update the DICOM service to refresh the key access":
	   * learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys
	   */
	  .caution = N_(
		  "If the DICOM service ever loses the key for more than 30 "
		  "minutes, it stays unavailable after the "
		  "key is back until it is updated: run azcmk refresh then."),
	  /* Resource Health's checks by type: only the DICOM service reports
	     whether it can reach its key. */
	  .health_reports_key = true,
	  .keeps_earlier_versions = true,
	  .hsm_private_needs_uai = true,
	  .refresh_after_loss = true },
	{ .id = SVC_HEALTHBOT,
	  .key = "healthbot",
	  .name = N_("healthcare agent service"),
	  .arm_type = "Microsoft.HealthBot/healthBots",
	  .api_version = "2025-11-01",
	  .both_identities = "SystemAssigned, UserAssigned",
	  .shape = &HEALTHBOT_SHAPE,
	  .user_identity_doubtful = true,
	  .sizes = HEALTHBOT_SIZES,
	  .size_severity = SEV_WARNING,
	  .docs_role_note =
		  N_("The healthcare agent service documentation does not name "
		     "a role; azcmk proposes the "
		     "least-privileged one that grants read, wrap and unwrap."),
	  /* "Once CMK has been enabled, deleting the healthcare agent service
	   * resource will automatically revoke access to Key Vault and customer
	   * data will become inaccessible":
	   * learn.microsoft.com/azure/health-bot/cmk */
	  .caution = N_("Once the key is set, deleting this healthcare agent "
			"service resource revokes its access to the "
			"key for good, and its data can no longer be "
			"decrypted: export or back up what you need before "
			"you ever delete it."),
	  .identity_note = N_("The healthcare agent service documentation "
			      "describes the system-assigned identity only, "
			      "although its API has a userIdentity field."),
	  .cmk_since = "2021-11-11" },
	{ .id = SVC_FOUNDRY,
	  .key = "foundry",
	  .name = N_("Microsoft Foundry"),
	  .arm_type = "Microsoft.CognitiveServices/accounts",
	  .kind = "AIServices",
	  .api_version = "2025-06-01",
	  .both_identities = "SystemAssigned, UserAssigned",
	  .shape = &COGNITIVE_SHAPE,
	  .same_region = true,
	  .irreversible = true,
	  .same_vault_only = true,
	  .sizes = FOUNDRY_SIZES,
	  .size_severity = SEV_WARNING,
	  .cmk_capability = true,
	  .keeps_earlier_versions = true,
	  .docs_role = ROLE_CRYPTO_USER,
	  .docs_role_note = N_("The Foundry documentation names Key Vault "
			       "Crypto User; Key Vault Crypto Service "
			       "Encryption User grants the same read, wrap and "
			       "unwrap and nothing else."),
	  .size_note = N_("Microsoft's documents disagree: an older Foundry "
			  "page allows 2048-bit keys only, the current "
			  "one states no size.") },
	{ .id = SVC_OPENAI,
	  .key = "openai",
	  .name = N_("Azure OpenAI"),
	  .arm_type = "Microsoft.CognitiveServices/accounts",
	  .kind = "OpenAI",
	  .api_version = "2025-06-01",
	  .both_identities = "SystemAssigned, UserAssigned",
	  .shape = &COGNITIVE_SHAPE,
	  .same_region = true,
	  .user_identity_doubtful = true,
	  .sizes = OPENAI_SIZES,
	  .size_severity = SEV_BLOCKER,
	  .cmk_capability = true,
	  .docs_role_note =
		  N_("Microsoft's documents disagree for Azure OpenAI: the "
		     "OpenAI page describes legacy access "
		     "policies only, the Azure AI services page allows Azure "
		     "RBAC."),
	  .identity_note =
		  N_("Microsoft's documents disagree: the Azure OpenAI page "
		     "says only a system-assigned identity "
		     "can be used, while the API and the Azure AI services "
		     "page accept a user-assigned one.") },
#ifdef AZCMK_TEST_HOOKS
	/*
	 * A service that does not exist, in the test build only: the simulator
	 * answers for it (src/sim/locker.c), and test-apply takes it through
	 * check, plan and apply. Nothing else in azcmk names it.
	 */
	{ .id = SVC_TEST_LOCKER,
	  .key = "locker",
	  .name = "test locker",
	  .arm_type = "Azcmk.Test/lockers",
	  .api_version = "2026-01-01",
	  .both_identities = "SystemAssigned, UserAssigned",
	  .shape = &LOCKER_SHAPE,
	  .sizes = LOCKER_SIZES,
	  .size_severity = SEV_BLOCKER,
	  .docs_role = ROLE_CRYPTO_SERVICE_ENCRYPTION_USER },
#endif
};

const size_t SVC_NPROFILES = sizeof(SVC_PROFILES) / sizeof(SVC_PROFILES[0]);

/* Finds the profile of a resource by its ARM type and, for Cognitive Services,
 * its kind. */
const struct svc_profile *svc_for_resource(const char *type, const char *kind)
{
	for (size_t i = 0; i < SVC_NPROFILES; i++) {
		const struct svc_profile *p = &SVC_PROFILES[i];

		if (str_ieq(type, p->arm_type) &&
		    (!p->kind || str_ieq(kind, p->kind)))
			return p;
	}
	return NULL;
}

/* Tells whether some service azcmk protects has resources of an ARM type. */
bool svc_type_known(const char *arm_type)
{
	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if (str_ieq(arm_type, SVC_PROFILES[i].arm_type))
			return true;
	return false;
}

/*
 * Tells whether a profile is the first of the services asked (a bit per enum
 * svc_id, 0 for all) with its ARM type, so that a list names each type once.
 */
bool svc_type_first_of(const struct svc_profile *p, unsigned services)
{
	for (const struct svc_profile *q = SVC_PROFILES; q < p; q++)
		if ((!services || (services & (1u << q->id))) &&
		    str_ieq(q->arm_type, p->arm_type))
			return false;
	return true;
}

/*
 * Returns the ARM types of the services asked (a bit per enum svc_id, 0 for
 * all) as a KQL list, each once and in lower case: "'a', 'b'" (allocated).
 */
char *svc_types_kql(unsigned services)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < SVC_NPROFILES; i++) {
		const struct svc_profile *p = &SVC_PROFILES[i];
		char *low;

		if ((services && !(services & (1u << p->id))) ||
		    !svc_type_first_of(p, services))
			continue;
		low = str_lower(p->arm_type);
		sb_printf(&b, "%s'%s'", b.len ? ", " : "", low);
		free(low);
	}
	return sb_steal(&b);
}

/* Returns the services' display names, translated and joined with commas, for
 * messages (allocated). */
char *svc_names_text(void)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < SVC_NPROFILES; i++)
		sb_printf(&b, "%s%s", i ? ", " : "", _(SVC_PROFILES[i].name));
	return sb_steal(&b);
}

/* Finds a profile by its short key ("dicom" ...). */
const struct svc_profile *svc_by_key(const char *key)
{
	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if (str_ieq(key, SVC_PROFILES[i].key))
			return &SVC_PROFILES[i];
	return NULL;
}

/* Returns the api-version to read a resource of an ARM type with, or NULL for a
 * type no service has. */
const char *svc_api_version(const char *arm_type)
{
	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if (str_ieq(arm_type, SVC_PROFILES[i].arm_type))
			return SVC_PROFILES[i].api_version;
	return NULL;
}

/* Tells whether a service accepts an RSA key size. */
bool svc_size_allowed(const struct svc_profile *p, long bits)
{
	if (!p->sizes)
		return bits >= 2048;
	for (const int *s = p->sizes; *s; s++)
		if (*s == bits)
			return true;
	return false;
}

/* Returns the vault URI a resource's key setting names (borrowed), or NULL
 * (none, or a service with one key URL). */
const char *svc_key_vault_uri(const struct svc_profile *p,
			      struct json_object *r)
{
	return p->shape->kvp ? jx_str(jx_get(r, p->shape->kvp), "keyVaultUri")
			     : NULL;
}

/* Tells whether a resource already encrypts with a customer-managed key, as its
 * service says so. */
bool svc_on_cmk(const struct svc_profile *p, struct json_object *r)
{
	const struct key_shape *k = p->shape;

	if (k->url)
		return jx_str(r, k->url) != NULL;
	if (k->source)
		return str_ieq(jx_str(r, k->source), "Microsoft.KeyVault");
	return svc_key_vault_uri(p, r) != NULL;
}

/*
 * Reads the key a resource's setting names, as its service spells it (a
 * whole key URL, or the vault URI, name and version apart), as a key URI to
 * give to key_ref_parse (allocated), or NULL when no key is set.
 */
char *svc_key_uri(const struct svc_profile *p, struct json_object *r)
{
	const struct key_shape *k = p->shape;
	struct json_object *kvp = k->kvp ? jx_get(r, k->kvp) : NULL;

	if (k->url)
		return jx_str(r, k->url) ? xstrdup(jx_str(r, k->url)) : NULL;
	if (!jx_str(kvp, "keyVaultUri") || !jx_str(kvp, "keyName") ||
	    !svc_on_cmk(p, r))
		return NULL;
	return key_ref_join(jx_str(kvp, "keyVaultUri"), jx_str(kvp, "keyName"),
			    jx_str(kvp, "keyVersion"));
}

/* Tells whether some resources of the service cannot take a key (by creation
 * day, or by capability). */
bool svc_may_be_ineligible(const struct svc_profile *p)
{
	return p->cmk_since || p->cmk_capability;
}

/* Tells whether a customer-managed key, once set, can never be turned off. */
bool svc_irreversible(const struct svc_profile *p)
{
	return p->irreversible;
}

/* Tells whether a later key change must stay in the vault already in use. */
bool svc_same_vault_only(const struct svc_profile *p)
{
	return p->same_vault_only;
}

/* Tells whether the vault must be in the resource's region. */
bool svc_same_region(const struct svc_profile *p)
{
	return p->same_region;
}

/* Tells whether the key URL must name a version. */
bool svc_version_required(const struct svc_profile *p)
{
	return p->version_required;
}

/* Tells whether data encrypted before a rotation still needs the earlier key
 * versions. */
bool svc_keeps_earlier_versions(const struct svc_profile *p)
{
	return p->keeps_earlier_versions;
}

/* Tells whether the key setting names no identity, so that any identity
 * attached may be the one used. */
bool svc_identity_unnamed(const struct svc_profile *p)
{
	return !p->shape->identity;
}

/* Tells whether a Managed HSM reached only through a private endpoint needs a
 * user-assigned identity. */
bool svc_hsm_private_needs_uai(const struct svc_profile *p)
{
	return p->hsm_private_needs_uai;
}

/* Tells whether the service stays unavailable after a long key loss until saved
 * again, as Resource Health shows. */
bool svc_refresh_after_loss(const struct svc_profile *p)
{
	return p->refresh_after_loss && p->health_reports_key;
}
