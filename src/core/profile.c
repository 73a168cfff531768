/* Service profiles: one table entry per service azcmk protects, from RULES.md's per-service table. */
#include "config.h"

#include <stddef.h>

#include "i18n.h"
#include "jx.h"
#include "keyref.h"
#include "profile.h"
#include "text.h"
#include "xalloc.h"

static const int DICOM_SIZES[] = { 2048, 3072, 0 };
static const int OPENAI_SIZES[] = { 2048, 0 };
static const int FOUNDRY_SIZES[] = { 2048, 3072, 4096, 0 };
static const int HEALTHBOT_SIZES[] = { 2048, 3072, 0 };

/* DICOM: the whole resource is PUT with one versioned key URL (DicomServices_CreateOrUpdate, 2024-03-31). */
static const struct key_shape DICOM_SHAPE = {
	.whole = true, .url = "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",
	.patch_root = "properties.encryption",
};

/* The healthcare agent service: PATCH keyVaultProperties, the identity by ARM id (Bots_Update, 2025-11-01). */
static const struct key_shape HEALTHBOT_SHAPE = {
	.kvp = "properties.keyVaultProperties", .patch_root = "properties.keyVaultProperties", .identity = "userIdentity",
};

/* Cognitive Services: PATCH encryption, keySource Microsoft.KeyVault, the identity by client id (Accounts_Update). */
static const struct key_shape COGNITIVE_SHAPE = {
	.kvp = "properties.encryption.keyVaultProperties", .source = "properties.encryption.keySource",
	.patch_root = "properties.encryption", .identity = "identityClientId", .identity_client_id = true,
};

const struct svc_profile SVC_PROFILES[SVC_COUNT] = {
	{ .id = SVC_DICOM, .key = "dicom", .name = N_("DICOM service"),
	  .arm_type = "Microsoft.HealthcareApis/workspaces/dicomservices", .api_version = "2024-03-31",
	  .both_identities = "SystemAssigned,UserAssigned", .shape = &DICOM_SHAPE, .version_required = true,
	  .sizes = DICOM_SIZES, .size_severity = SEV_BLOCKER, .docs_role = ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
	  .docs_role_note = N_("The DICOM documentation names Key Vault Crypto Service Encryption User, but its own ARM "
			       "template sample assigns Key Vault Crypto Officer, which grants far more than the service "
			       "needs."),
	  /* "If key access is lost for more than 30 minutes, make sure you update the DICOM service to refresh the key
	   * access": learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys */
	  .caution = N_("If the DICOM service ever loses the key for more than 30 minutes, it stays unavailable after the "
			"key is back until it is updated: run azcmk refresh then."),
	  /* Resource Health's checks by type: only the DICOM service reports whether it can reach its key. */
	  .health_reports_key = true },
	{ .id = SVC_HEALTHBOT, .key = "healthbot", .name = N_("healthcare agent service"),
	  .arm_type = "Microsoft.HealthBot/healthBots", .api_version = "2025-11-01",
	  .both_identities = "SystemAssigned, UserAssigned", .shape = &HEALTHBOT_SHAPE, .user_identity_doubtful = true,
	  .sizes = HEALTHBOT_SIZES, .size_severity = SEV_WARNING,
	  .docs_role_note = N_("The healthcare agent service documentation does not name a role; azcmk proposes the "
			       "least-privileged one that grants read, wrap and unwrap."),
	  /* "Once CMK has been enabled, deleting the healthcare agent service resource will automatically revoke access
	   * to Key Vault and customer data will become inaccessible": learn.microsoft.com/azure/health-bot/cmk */
	  .caution = N_("Once the key is set, deleting this healthcare agent service resource revokes its access to the "
			"key for good, and its data can no longer be decrypted: export or back up what you need before "
			"you ever delete it."),
	  .identity_note = N_("The healthcare agent service documentation describes the system-assigned identity only, "
			      "although its API has a userIdentity field."),
	  .cmk_since = "2021-11-11" },
	{ .id = SVC_FOUNDRY, .key = "foundry", .name = N_("Microsoft Foundry"),
	  .arm_type = "Microsoft.CognitiveServices/accounts", .kind = "AIServices", .api_version = "2025-06-01",
	  .both_identities = "SystemAssigned, UserAssigned", .shape = &COGNITIVE_SHAPE, .same_region = true,
	  .irreversible = true, .same_vault_only = true, .sizes = FOUNDRY_SIZES, .size_severity = SEV_WARNING,
	  .docs_role = ROLE_CRYPTO_USER,
	  .docs_role_note = N_("The Foundry documentation names Key Vault Crypto User; Key Vault Crypto Service "
			       "Encryption User grants the same read, wrap and unwrap and nothing else."),
	  .size_note = N_("Microsoft's documents disagree: an older Foundry page allows 2048-bit keys only, the current "
			  "one states no size.") },
	{ .id = SVC_OPENAI, .key = "openai", .name = N_("Azure OpenAI"),
	  .arm_type = "Microsoft.CognitiveServices/accounts", .kind = "OpenAI", .api_version = "2025-06-01",
	  .both_identities = "SystemAssigned, UserAssigned", .shape = &COGNITIVE_SHAPE, .same_region = true,
	  .user_identity_doubtful = true, .sizes = OPENAI_SIZES, .size_severity = SEV_BLOCKER,
	  .docs_role_note = N_("Microsoft's documents disagree for Azure OpenAI: the OpenAI page describes legacy access "
			       "policies only, the Azure AI services page allows Azure RBAC."),
	  .identity_note = N_("Microsoft's documents disagree: the Azure OpenAI page says only a system-assigned identity "
			      "can be used, while the API and the Azure AI services page accept a user-assigned one.") },
};

/* Finds the profile of a resource by its ARM type and, for Cognitive Services, its kind. */
const struct svc_profile *svc_for_resource(const char *type, const char *kind)
{
	for (int i = 0; i < SVC_COUNT; i++) {
		const struct svc_profile *p = &SVC_PROFILES[i];

		if (str_ieq(type, p->arm_type) && (!p->kind || str_ieq(kind, p->kind)))
			return p;
	}
	return NULL;
}

/* Finds a profile by its short key ("dicom" ...). */
const struct svc_profile *svc_by_key(const char *key)
{
	for (int i = 0; i < SVC_COUNT; i++)
		if (str_ieq(key, SVC_PROFILES[i].key))
			return &SVC_PROFILES[i];
	return NULL;
}

/* Returns the api-version to read a resource of an ARM type with (the Cognitive Services one for unknown types). */
const char *svc_api_version(const char *arm_type)
{
	for (int i = 0; i < SVC_COUNT; i++)
		if (str_ieq(arm_type, SVC_PROFILES[i].arm_type))
			return SVC_PROFILES[i].api_version;
	return SVC_PROFILES[SVC_OPENAI].api_version;
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

/* Returns the vault URI a resource's key setting names (borrowed), or NULL (none, or a service with one key URL). */
const char *svc_key_vault_uri(const struct svc_profile *p, struct json_object *r)
{
	return p->shape->kvp ? jx_str(jx_get(r, p->shape->kvp), "keyVaultUri") : NULL;
}

/* Tells whether a resource already encrypts with a customer-managed key, as its service says so. */
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
	if (!jx_str(kvp, "keyVaultUri") || !jx_str(kvp, "keyName") || !svc_on_cmk(p, r))
		return NULL;
	return key_ref_join(jx_str(kvp, "keyVaultUri"), jx_str(kvp, "keyName"), jx_str(kvp, "keyVersion"));
}
