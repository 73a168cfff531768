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

const struct svc_profile SVC_PROFILES[SVC_COUNT] = {
	{ SVC_DICOM, "dicom", N_("DICOM service"), "Microsoft.HealthcareApis/workspaces/dicomservices", NULL, "2024-03-31",
	  "SystemAssigned,UserAssigned", SAVE_PUT_WHOLE, true, false, false, false, false, DICOM_SIZES, SEV_BLOCKER,
	  ROLE_CRYPTO_SERVICE_ENCRYPTION_USER,
	  N_("The DICOM documentation names Key Vault Crypto Service Encryption User, but its own ARM template sample "
	     "assigns Key Vault Crypto Officer, which grants far more than the service needs."),
	  /* "If key access is lost for more than 30 minutes, make sure you update the DICOM service to refresh the key
	   * access": learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys */
	  N_("If the DICOM service ever loses the key for more than 30 minutes, it stays unavailable after the key is "
	     "back until it is updated: run azcmk refresh then.") },
	{ SVC_HEALTHBOT, "healthbot", N_("healthcare agent service"), "Microsoft.HealthBot/healthBots", NULL, "2025-11-01",
	  "SystemAssigned, UserAssigned", SAVE_PATCH_KVP, false, false, false, false, true, HEALTHBOT_SIZES, SEV_WARNING, NULL,
	  N_("The healthcare agent service documentation does not name a role; azcmk proposes the least-privileged one "
	     "that grants read, wrap and unwrap."),
	  /* "Once CMK has been enabled, deleting the healthcare agent service resource will automatically revoke access
	   * to Key Vault and customer data will become inaccessible": learn.microsoft.com/azure/health-bot/cmk */
	  N_("Once the key is set, deleting this healthcare agent service resource revokes its access to the key for "
	     "good, and its data can no longer be decrypted: export or back up what you need before you ever delete "
	     "it.") },
	{ SVC_FOUNDRY, "foundry", N_("Microsoft Foundry"), "Microsoft.CognitiveServices/accounts", "AIServices", "2025-06-01",
	  "SystemAssigned, UserAssigned", SAVE_PATCH_ENCRYPTION, false, true, true, true, false, FOUNDRY_SIZES, SEV_WARNING,
	  ROLE_CRYPTO_USER,
	  N_("The Foundry documentation names Key Vault Crypto User; Key Vault Crypto Service Encryption User grants "
	     "the same read, wrap and unwrap and nothing else."), NULL },
	{ SVC_OPENAI, "openai", N_("Azure OpenAI"), "Microsoft.CognitiveServices/accounts", "OpenAI", "2025-06-01",
	  "SystemAssigned, UserAssigned", SAVE_PATCH_ENCRYPTION, false, true, false, false, true, OPENAI_SIZES, SEV_BLOCKER,
	  NULL,
	  N_("Microsoft's documents disagree for Azure OpenAI: the OpenAI page describes legacy access policies only, "
	     "the Azure AI services page allows Azure RBAC."), NULL },
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

/*
 * Reads the key a resource's setting names, as its service spells it (a
 * whole key URL, or the vault URI, name and version apart), as a key URI to
 * give to key_ref_parse (allocated), or NULL when no key is set.
 */
char *svc_key_uri(const struct svc_profile *p, struct json_object *r)
{
	const char *path = p->save == SAVE_PATCH_KVP ? "properties.keyVaultProperties"
			   : "properties.encryption.keyVaultProperties";
	struct json_object *kvp = jx_get(r, path);
	const char *vu = jx_str(kvp, "keyVaultUri");

	if (p->save == SAVE_PUT_WHOLE) {
		const char *u = jx_str(r, "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl");

		return u ? xstrdup(u) : NULL;
	}
	if (!vu || !jx_str(kvp, "keyName") || (p->save == SAVE_PATCH_ENCRYPTION &&
	    !str_ieq(jx_str(r, "properties.encryption.keySource"), "Microsoft.KeyVault")))
		return NULL;
	return key_ref_join(vu, jx_str(kvp, "keyName"), jx_str(kvp, "keyVersion"));
}
