/* Unit tests of the validation core: each rule holds, fails or does not apply,
 * on JSON fixtures. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "jx.h"
#include "rules.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define VAULT_ID                                                          \
	"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/" \
	"vaults/kv1"
#define UAI_ID                                         \
	"/subscriptions/s/resourceGroups/g/providers/" \
	"Microsoft.ManagedIdentity/userAssignedIdentities/uai"

static const char RESOURCE[] =
	"{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	"Microsoft.CognitiveServices/accounts/oai\",\"name\":\"oai\","
	"\"type\":\"Microsoft.CognitiveServices/"
	"accounts\",\"kind\":\"OpenAI\",\"location\":\"West US 3\","
	"\"identity\":{\"type\":\"SystemAssigned, "
	"UserAssigned\",\"principalId\":\"p1\",\"tenantId\":\"t1\","
	"\"userAssignedIdentities\":{\"" UAI_ID
	"\":{\"principalId\":\"p2\",\"clientId\":\"c2\"}}},"
	"\"systemData\":{\"createdAt\":\"2023-01-01T00:00:00Z\"},"
	"\"properties\":{\"provisioningState\":\"Succeeded\",\"capabilities\":["
	"{\"name\":\"CustomerManagedKey\"}],"
	"\"encryption\":{\"keySource\":\"Microsoft.KeyVault\","
	"\"keyVaultProperties\":{\"keyName\":\"k\","
	"\"keyVaultUri\":\"https://kv1.vault.azure.net/\"}}}}";
static const char VAULT[] =
	"{\"id\":\"" VAULT_ID "\",\"name\":\"kv1\",\"location\":\"westus3\","
	"\"properties\":{\"tenantId\":\"t1\","
	"\"enableSoftDelete\":true,\"enablePurgeProtection\":true,"
	"\"enableRbacAuthorization\":true,"
	"\"networkAcls\":{\"defaultAction\":\"Allow\",\"bypass\":\"None\"},"
	"\"accessPolicies\":[{\"objectId\":\"p1\","
	"\"permissions\":{\"keys\":[\"get\",\"wrapKey\",\"unwrapKey\"]}}]}}";
static const char KEY[] =
	"{\"key\":{\"kid\":\"https://kv1.vault.azure.net/keys/k/"
	"v1\",\"kty\":\"RSA\",\"key_ops\":[\"wrapKey\",\"unwrapKey\"],"
	"\"n\":\"" N2048 "\"},\"attributes\":{\"enabled\":true}}";
static const char ASSIGNMENTS[] =
	"[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID
	"\",\"roleDefinitionId\":\"/subscriptions/s/providers/"
	"Microsoft.Authorization/roleDefinitions/"
	"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"createdOn\":\"2024-01-01T00:"
	"00:00Z\"}},"
	"{\"properties\":{\"principalId\":\"p2\",\"scope\":\"/subscriptions/"
	"s\",\"roleDefinitionId\":\"12338af0-0e69-4776-bea7-57ae8d297424\","
	"\"createdOn\":\"2024-01-01T00:00:00Z\"}}]";
static const char ROLES[] =
	"{\"e147488a-f6f5-4113-8e2d-b22465e65bf6\":{\"properties\":{"
	"\"permissions\":[{\"dataActions\":["
	"\"Microsoft.KeyVault/vaults/keys/read\",\"Microsoft.KeyVault/vaults/"
	"keys/wrap/action\","
	"\"Microsoft.KeyVault/vaults/keys/unwrap/action\"]}]}},"
	"\"12338af0-0e69-4776-bea7-57ae8d297424\":{\"properties\":{"
	"\"permissions\":[{\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/"
	"*\"],"
	"\"notDataActions\":[\"Microsoft.KeyVault/vaults/keys/delete\"]}]}},"
	"\"21090545-7ca7-4776-b22c-e363652d74d2\":{\"properties\":{"
	"\"permissions\":[{\"dataActions\":[\"Microsoft.KeyVault/vaults/*/"
	"read\"]}]}}}";

/* Only the user-assigned identity (p2) can use the key. */
#define ONLY_P2                                                          \
	"[{\"properties\":{\"principalId\":\"p2\",\"scope\":\"" VAULT_ID \
	"\",\"roleDefinitionId\":\"/subscriptions/s/providers/"          \
	"Microsoft.Authorization/roleDefinitions/"                       \
	"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}]"
/* Only the system-assigned identity (p1) can use the key. */
#define ONLY_P1                                                          \
	"[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID \
	"\",\"roleDefinitionId\":\"/subscriptions/s/providers/"          \
	"Microsoft.Authorization/roleDefinitions/"                       \
	"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}]"
/* p1's only grant carries a condition (Azure ABAC); then the same with a plain
 * grant beside it. */
#define ABAC_GRANT                                                      \
	"{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID \
	"\",\"roleDefinitionId\":\"/subscriptions/s/providers/"         \
	"Microsoft.Authorization/roleDefinitions/"                      \
	"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"condition\":\"((!("   \
	"ActionMatches"                                                 \
	"{'Microsoft.KeyVault/vaults/keys/unwrap/"                      \
	"action'})))\",\"conditionVersion\":\"2.0\"}}"
#define ABAC_ONLY "[" ABAC_GRANT "]"
#define ABAC_AND_PLAIN                                                       \
	"[" ABAC_GRANT ",{\"properties\":{\"principalId\":\"p1\",\"scope\":" \
	"\"/subscriptions/s\",\"roleDefinitionId\":"                         \
	"\"/subscriptions/s/providers/Microsoft.Authorization/"              \
	"roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}]"
/* p1 holds the custom role c0c0... (defined at the subscription) at the
 * subscription's scope. */
#define CUSTOM_ROLE "c0c0c0c0-0000-4000-8000-00000000c0c0"
#define CUSTOM(allow, deny)                                                    \
	"[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"/subscriptions/" \
	"s\",\"roleDefinitionId\":\"/subscriptions/s/"                         \
	"providers/Microsoft.Authorization/roleDefinitions/" CUSTOM_ROLE       \
	"\",\"customActions\":[\"" allow "\"],"                                \
	"\"customNotActions\":[\"" deny "\"]}}]"

/* A built-in role (Key Vault Crypto Service Encryption User) held by p1 at
 * another scope. */
#define GRANT_AT(scope)                                               \
	"[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" scope \
	"\",\"roleDefinitionId\":\"/providers/"                       \
	"Microsoft.Authorization/roleDefinitions/"                    \
	"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}]"
#define MG "/providers/Microsoft.Management/managementGroups/mg-health"
/* A deny assignment at a scope, for principals, excluding some, denying some
 * data actions (or actions). */
#define DENY(scope, principals, exclude, perms, child)                      \
	"[{\"name\":\"d1\",\"properties\":{\"denyAssignmentName\":\"stack-" \
	"lock\",\"scope\":\"" scope "\","                                   \
	"\"principals\":[" principals "],\"excludePrincipals\":[" exclude   \
	"],\"permissions\":[" perms "],"                                    \
	"\"doNotApplyToChildScopes\":" child "}}]"
#define P1 "{\"id\":\"p1\",\"type\":\"ServicePrincipal\"}"
#define EVERYONE                                                     \
	"{\"id\":\"00000000-0000-0000-0000-000000000000\",\"type\":" \
	"\"SystemDefined\"}"
#define A_GROUP "{\"id\":\"g7\",\"type\":\"Group\"}"
#define KEYS_DENIED "{\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/*\"]}"
#define SECRETS_DENIED \
	"{\"dataActions\":[\"Microsoft.KeyVault/vaults/secrets/*\"]}"
#define WRITES_DENIED        \
	"{\"actions\":[\"*/" \
	"write\"],\"notActions\":[\"Microsoft.Authorization/*\"]}"
/* Access-policy vaults: p1's only entry is compound (it names an application
 * too). */
#define COMPOUND(app)                                         \
	"{\"properties\":{\"enableRbacAuthorization\":false," \
	"\"accessPolicies\":[{\"objectId\":\"p1\"," app       \
	"\"permissions\":{\"keys\":[\"get\",\"wrapKey\",\"unwrapKey\"]}}]}}"

/* A vault (a Managed HSM with "hsm") with public traffic disabled and a private
 * endpoint. */
#define HSM_PRIVATE                                                          \
	"{\"properties\":{\"publicNetworkAccess\":\"Disabled\","             \
	"\"privateEndpointConnections\":[{\"id\":\"pe1\","                   \
	"\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":" \
	"\"Approved\"}}}]}}"
#define HSM_PENDING                                                          \
	"{\"properties\":{\"publicNetworkAccess\":\"Disabled\","             \
	"\"privateEndpointConnections\":[{\"id\":\"pe1\","                   \
	"\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":" \
	"\"Pending\"}}}]}}"
/* A DICOM service on the fixture's key, pinned to v1. */
#define DICOM_CMK                                                             \
	"{\"properties\":{\"encryption\":{\"customerManagedKeyEncryption\":{" \
	"\"keyEncryptionKeyUrl\":"                                            \
	"\"https://kv1.vault.azure.net/keys/k/v1\"}}}}"
/* The key's versions: v0 (enabled or not), v1 (the one in use), v2 (enabled or
 * not). */
#define VERSIONS(v0, v2)                                             \
	"{\"value\":[{\"kid\":\"https://kv1.vault.azure.net/keys/k/" \
	"v0\",\"attributes\":{\"enabled\":" v0 ",\"created\":100}}," \
	"{\"kid\":\"https://kv1.vault.azure.net/keys/k/"             \
	"v1\",\"attributes\":{\"enabled\":true,\"created\":200}},"   \
	"{\"kid\":\"https://kv1.vault.azure.net/keys/k/"             \
	"v2\",\"attributes\":{\"enabled\":" v2 ",\"created\":300}}]}"

static const char POLICY_DENY[] =
	"[{\"policyInfo\":{\"policyDefinitionId\":\"/subscriptions/s/providers/"
	"Microsoft.Authorization/policyDefinitions/d\","
	"\"policyAssignmentId\":\"/subscriptions/s/providers/"
	"Microsoft.Authorization/policyAssignments/deny-cmk\"},"
	"\"evaluationResult\":\"NonCompliant\",\"evaluationDetails\":{}}]";
static const char POLICY_OK[] =
	"[{\"policyInfo\":{\"policyAssignmentId\":\"/subscriptions/s/providers/"
	"Microsoft.Authorization/policyAssignments/a\"},"
	"\"evaluationResult\":\"Compliant\"}]";

/* One case: a service, patches to the fixture, switches, the rule and its
 * expected outcome. */
struct row {
	const char *svc;      /* profile key */
	const char *resource; /* merge patch, or NULL */
	const char *vault;
	const char *key;
	const char *assignments; /* replaces the list, or NULL */
	const char *opts; /* switches: change deny compliant policy403 uai
			     key404 key403 vault403 norotation rotation rot404
			     nokey perms-none */
	const char *rule;
	enum cmk_outcome want;
};

static const struct row ROWS[] = {
	/* vault rules */
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.soft-delete",
	  OUT_HOLDS },
	{ "openai", NULL, "{\"properties\":{\"enableSoftDelete\":false}}", NULL,
	  NULL, "", "vault.soft-delete", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "vault403", "vault.soft-delete",
	  OUT_NA },
	{ "openai", NULL, "{\"properties\":{\"enablePurgeProtection\":null}}",
	  NULL, NULL, "", "vault.purge-protection", OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, NULL, "", "vault.purge-protection",
	  OUT_HOLDS },
	{ "openai", NULL, "{\"properties\":{\"tenantId\":\"t9\"}}", NULL, NULL,
	  "", "vault.same-tenant", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.same-tenant",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.same-region",
	  OUT_HOLDS },
	{ "foundry", NULL, "{\"location\":\"eastus\"}", NULL, NULL, "",
	  "vault.same-region", OUT_FAILS },
	{ "dicom", NULL, "{\"location\":\"eastus\"}", NULL, NULL, "",
	  "vault.same-region", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.firewall", OUT_HOLDS },
	{ "openai", NULL,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\"}}}",
	  NULL, NULL, "", "vault.firewall", OUT_FAILS },
	{ "openai", NULL,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\","
	  "\"bypass\":\"AzureServices\"}}}",
	  NULL, NULL, "", "vault.firewall", OUT_HOLDS },
	{ "openai", NULL,
	  "{\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}", NULL, NULL,
	  "", "vault.firewall", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.readable", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "key403", "vault.readable",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "vault403", "vault.readable",
	  OUT_FAILS },
	/* key rules */
	{ "openai", NULL, NULL, NULL, NULL, "", "key.exists", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "key404", "key.exists", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "key403", "key.exists", OUT_NA },
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":false}}", NULL,
	  "", "key.enabled", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "key404", "key.enabled", OUT_NA },
	/* Key Vault's answer must say the key is enabled for "holds": absent,
	   a string or a number is "could not judge", and so is an expiry or
	   start that is not a time (a string, a fraction, zero, past 9999). */
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":null}}", NULL, "",
	  "key.enabled", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":\"true\"}}", NULL,
	  "", "key.enabled", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":1}}", NULL, "",
	  "key.enabled", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":\"1700000000\"}}",
	  NULL, "", "key.active", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":1700000000.5}}", NULL,
	  "", "key.active", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"nbf\":0}}", NULL, "",
	  "key.active", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":253402300800}}", NULL,
	  "", "key.active", OUT_UNKNOWN },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":\"soon\"}}", NULL, "",
	  "key.expiring", OUT_NA },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":1700000000}}", NULL,
	  "", "key.active", OUT_FAILS },
	{ "openai", NULL, NULL, "{\"attributes\":{\"nbf\":1900000000}}", NULL,
	  "", "key.active", OUT_FAILS },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":1900000000}}", NULL,
	  "", "key.active", OUT_HOLDS },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":1796000000}}", NULL,
	  "", "key.expiring", OUT_FAILS },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":1900000000}}", NULL,
	  "", "key.expiring", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "", "key.expiring", OUT_NA },
	{ "openai", NULL, NULL, "{\"key\":{\"kty\":\"EC\",\"n\":null}}", NULL,
	  "", "key.type", OUT_FAILS },
	{ "openai", NULL, NULL, "{\"key\":{\"kty\":\"RSA-HSM\"}}", NULL, "",
	  "key.type", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "", "key.size", OUT_HOLDS },
	{ "openai", NULL, NULL, "{\"key\":{\"n\":\"" N3072 "\"}}", NULL, "",
	  "key.size", OUT_FAILS },
	{ "dicom", NULL, NULL, "{\"key\":{\"n\":\"" N3072 "\"}}", NULL, "",
	  "key.size", OUT_HOLDS },
	{ "foundry", NULL, NULL, "{\"key\":{\"n\":\"" N4096 "\"}}", NULL, "",
	  "key.size", OUT_HOLDS },
	{ "openai", NULL, NULL, "{\"key\":{\"key_ops\":[\"sign\",\"verify\"]}}",
	  NULL, "", "key.ops", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "key.ops", OUT_HOLDS },
	{ "dicom", NULL, NULL, NULL, NULL, "", "key.versioned", OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, NULL, "version", "key.versioned",
	  OUT_HOLDS },
	{ "dicom", NULL, NULL, NULL, NULL, "nokey", "key.versioned", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "rot404", "key.rotation-policy",
	  OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "key404", "key.type", OUT_NA },
	{ "openai", NULL, NULL, "{\"key\":{\"key_ops\":null}}", NULL, "",
	  "key.ops", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "vault403", "vault.same-tenant",
	  OUT_NA },
	{ "openai", NULL,
	  "{\"properties\":{\"enableRbacAuthorization\":false}}", NULL, NULL,
	  "", "identity.propagation", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "rotation", "key.rotation-policy",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "norotation", "key.rotation-policy",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "key.enabled", OUT_HOLDS },
	/* identity rules */
	{ "openai", NULL, NULL, NULL, NULL, "", "identity.enabled", OUT_HOLDS },
	{ "openai", "{\"identity\":{\"principalId\":null}}", NULL, NULL, NULL,
	  "", "identity.enabled", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "uai", "identity.enabled",
	  OUT_HOLDS },
	{ "openai", "{\"identity\":{\"userAssignedIdentities\":null}}", NULL,
	  NULL, NULL, "uai", "identity.enabled", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "uai", "identity.allowed",
	  OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, NULL, "uai", "identity.allowed",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "", "identity.allowed", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, "[]", "", "identity.key-access",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "uai", "identity.key-access",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL,
	  "[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID
	  "\",\"roleDefinitionId\":"
	  "\"21090545-7ca7-4776-b22c-e363652d74d2\"}}]",
	  "", "identity.key-access", OUT_FAILS },
	{ "openai", NULL, NULL, NULL,
	  "[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID
	  "/keys/other\","
	  "\"roleDefinitionId\":\"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}]",
	  "", "identity.key-access", OUT_FAILS },
	{ "openai", NULL,
	  "{\"properties\":{\"enableRbacAuthorization\":false}}", NULL, "[]",
	  "", "identity.key-access", OUT_HOLDS },
	{ "openai", NULL,
	  "{\"properties\":{\"enableRbacAuthorization\":false,"
	  "\"accessPolicies\":[]}}",
	  NULL, NULL, "", "identity.key-access", OUT_FAILS },
	{ "openai", NULL, NULL, NULL,
	  "[{\"properties\":{\"principalId\":\"p1\",\"scope\":\"" VAULT_ID
	  "\",\"roleDefinitionId\":"
	  "\"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"createdOn\":\"2026-11-"
	  "22T00:00:00Z\"}}]",
	  "", "identity.propagation", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "identity.propagation",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, "[]", "", "operator.can-assign",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, "[]", "perms-none", "operator.can-assign",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "perms-none", "operator.can-assign",
	  OUT_NA },
	/* resource rules */
	{ "openai", NULL, NULL, NULL, NULL, "", "resource.eligible",
	  OUT_HOLDS },
	{ "openai",
	  "{\"properties\":{\"capabilities\":[{\"name\":\"VirtualNetworks\"}]}"
	  "}",
	  NULL, NULL, NULL, "", "resource.eligible", OUT_FAILS },
	{ "healthbot",
	  "{\"type\":\"Microsoft.HealthBot/"
	  "healthBots\",\"systemData\":{\"createdAt\":\"2021-06-01T00:00:00Z\"}"
	  "}",
	  NULL, NULL, NULL, "", "resource.eligible", OUT_FAILS },
	{ "healthbot", "{\"type\":\"Microsoft.HealthBot/healthBots\"}", NULL,
	  NULL, NULL, "", "resource.eligible", OUT_HOLDS },
	/* No creation time in the read: eligibility cannot be told (as the
	   audit says when its list did not give it). */
	{ "healthbot",
	  "{\"type\":\"Microsoft.HealthBot/healthBots\",\"systemData\":null}",
	  NULL, NULL, NULL, "", "resource.eligible", OUT_UNKNOWN },
	{ "dicom", NULL, NULL, NULL, NULL, "", "resource.eligible", OUT_NA },
	{ "openai", "{\"properties\":{\"provisioningState\":\"Updating\"}}",
	  NULL, NULL, NULL, "", "resource.ready", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "resource.ready", OUT_HOLDS },
	{ "foundry",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "change", "resource.irreversible", OUT_FAILS },
	{ "foundry", NULL, NULL, NULL, NULL, "change", "resource.irreversible",
	  OUT_NA },
	{ "foundry",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "change confirmed", "resource.irreversible",
	  OUT_HOLDS },
	{ "openai",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "change", "resource.irreversible", OUT_NA },
	{ "foundry",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "", "resource.irreversible", OUT_FAILS },
	{ "foundry", NULL, NULL, NULL, NULL, "change", "resource.same-vault",
	  OUT_HOLDS },
	{ "foundry", NULL, NULL, NULL, NULL, "", "resource.same-vault",
	  OUT_FAILS },
	{ "openai", NULL,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\"}}}",
	  NULL, NULL, "", "resource.key-access-lost", OUT_FAILS },
	{ "openai", NULL, NULL, "{\"key\":{\"kty\":\"EC\"}}", NULL, "",
	  "resource.key-access-lost", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, "[]", "key403",
	  "resource.key-access-lost", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "key403 vault403",
	  "resource.key-access-lost", OUT_NA },
	{ "foundry",
	  "{\"properties\":{\"encryption\":{\"keyVaultProperties\":{"
	  "\"keyVaultUri\":\"https://other.vault.azure.net/\"}}}}",
	  NULL, NULL, NULL, "change", "resource.same-vault", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "resource.cmk", OUT_HOLDS },
	{ "openai",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "", "resource.cmk", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "change", "resource.cmk", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "", "resource.key-access-lost",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":false}}", NULL,
	  "", "resource.key-access-lost", OUT_FAILS },
	/* A key whose answer does not say it is enabled, or gives an expiry
	   that is not a time, has not earned "still works". */
	{ "openai", NULL, NULL, "{\"attributes\":{\"enabled\":\"yes\"}}", NULL,
	  "", "resource.key-access-lost", OUT_NA },
	{ "openai", NULL, NULL, "{\"attributes\":{\"exp\":\"never\"}}", NULL,
	  "", "resource.key-access-lost", OUT_NA },
	{ "openai", NULL, NULL, NULL, "[]", "", "resource.key-access-lost",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "key404",
	  "resource.key-access-lost", OUT_FAILS },
	{ "openai",
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "CognitiveServices\"}}}",
	  NULL, NULL, NULL, "", "resource.key-access-lost", OUT_NA },
	/* Azure Policy, as checkPolicyRestrictions answered for the content
	   after the save */
	{ "openai", NULL, NULL, NULL, NULL, "change", "policy.deny",
	  OUT_HOLDS },
	{ "dicom", NULL, NULL, NULL, NULL, "change deny", "policy.deny",
	  OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "change compliant", "policy.deny",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "change deny policy403",
	  "policy.deny", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "deny", "policy.deny", OUT_NA },
	/* Could not judge: a read failed (after retries), a malformed answer, a
	   conditional grant. Never "holds". */
	{ "openai", NULL, NULL, NULL, NULL, "key503", "key.enabled",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "key503", "key.exists",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "key503", "vault.readable",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "key503",
	  "resource.key-access-lost", OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "keymalformed", "key.size",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "rotmalformed",
	  "key.rotation-policy", OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "vault-noanswer", "vault.firewall",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "vault-noanswer",
	  "identity.key-access", OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "assign429", "identity.key-access",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "roles403", "identity.key-access",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "roles403", "key.enabled",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, NULL, "perms500 change",
	  "operator.can-assign", OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, NULL, "policy503 change", "policy.deny",
	  OUT_UNKNOWN },
	/* DICOM names no identity in its key setting: with both on, both must
	   reach the key, unless the change drops one. */
	{ "dicom", NULL, NULL, NULL, NULL, "uai", "identity.dicom-both",
	  OUT_HOLDS },
	{ "dicom", NULL, NULL, NULL, ONLY_P2, "uai", "identity.dicom-both",
	  OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, ONLY_P2, "uai dropsys",
	  "identity.dicom-both", OUT_NA },
	{ "dicom", NULL, NULL, NULL, ONLY_P2, "", "identity.dicom-both",
	  OUT_NA },
	{ "dicom", NULL, NULL, NULL, ONLY_P1, "uai", "identity.dicom-both",
	  OUT_HOLDS },
	/* ABAC: a grant under a condition azcmk cannot evaluate is uncertain,
	   never "holds". */
	{ "openai", NULL, NULL, NULL, ABAC_ONLY, "", "identity.key-access",
	  OUT_UNKNOWN },
	{ "openai", NULL, NULL, NULL, ABAC_AND_PLAIN, "", "identity.key-access",
	  OUT_HOLDS },
	/* Custom roles: wildcards, data actions subtracted by notDataActions,
	   any scope above the key. */
	{ "openai", NULL, NULL, NULL,
	  CUSTOM("Microsoft.KeyVault/vaults/keys/*", ""), "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL,
	  CUSTOM("microsoft.keyvault/VAULTS/keys/*", ""), "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL,
	  CUSTOM("Microsoft.KeyVault/vaults/keys/*",
		 "Microsoft.KeyVault/vaults/keys/unwrap/action"),
	  "", "identity.key-access", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, CUSTOM("Microsoft.KeyVault/*", ""), "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL,
	  CUSTOM("Microsoft.KeyVault/vaults/secrets/*", ""), "",
	  "identity.key-access", OUT_FAILS },
	/* Networks: a perimeter overrides the bypass; the bypass itself is not
	   promised to these services. */
	{ "openai", NULL,
	  "{\"properties\":{\"publicNetworkAccess\":\"SecuredByPerimeter\"}}",
	  NULL, NULL, "", "vault.perimeter", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.perimeter", OUT_HOLDS },
	{ "openai", NULL,
	  "{\"properties\":{\"publicNetworkAccess\":\"SecuredByPerimeter\","
	  "\"networkAcls\":{\"bypass\":"
	  "\"AzureServices\"}}}",
	  NULL, NULL, "", "vault.firewall", OUT_NA },
	{ "dicom", NULL,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\","
	  "\"bypass\":\"AzureServices\"}}}",
	  NULL, NULL, "", "vault.trusted-bypass", OUT_FAILS },
	{ "healthbot", NULL,
	  "{\"properties\":{\"publicNetworkAccess\":\"Disabled\","
	  "\"networkAcls\":{\"bypass\":"
	  "\"AzureServices\"}}}",
	  NULL, NULL, "", "vault.trusted-bypass", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, NULL, "", "vault.trusted-bypass",
	  OUT_HOLDS },
	{ "openai", NULL,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\","
	  "\"bypass\":\"None\"}}}",
	  NULL, NULL, "", "vault.trusted-bypass", OUT_HOLDS },
	/* Earlier versions: one older than the version in use is disabled; a
	   newer one does not count. */
	{ "dicom", NULL, NULL, NULL, NULL, "oldoff", "key.earlier-versions",
	  OUT_FAILS },
	{ "foundry", NULL, NULL, NULL, NULL, "oldoff", "key.earlier-versions",
	  OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, NULL, "", "key.earlier-versions",
	  OUT_HOLDS },
	{ "dicom", NULL, NULL, "{\"attributes\":{\"created\":200}}", NULL,
	  "newoff", "key.earlier-versions", OUT_HOLDS },
	{ "dicom", NULL, NULL, "{\"attributes\":{\"created\":200}}", NULL,
	  "oldoff", "key.earlier-versions", OUT_FAILS },
	{ "dicom", NULL, NULL, NULL, NULL, "oldoff versions503",
	  "key.earlier-versions", OUT_UNKNOWN },
	{ "dicom", NULL, NULL, NULL, NULL, "oldoff key404",
	  "key.earlier-versions", OUT_NA },
	/* An earlier version whose answer does not say whether it is enabled
	   (a string, null): "could not judge", never "holds". */
	{ "dicom", NULL, NULL, NULL, NULL, "oldodd", "key.earlier-versions",
	  OUT_UNKNOWN },
	{ "dicom", NULL, NULL, NULL, NULL, "oldnull", "key.earlier-versions",
	  OUT_UNKNOWN },
	/* Versions not listed (refused, or not the documented list): "could not
	   judge", never "holds". */
	{ "dicom", NULL, NULL, NULL, NULL, "versions403",
	  "key.earlier-versions", OUT_UNKNOWN },
	{ "dicom", NULL, NULL, NULL, NULL, "versions-object",
	  "key.earlier-versions", OUT_UNKNOWN },
	/* DICOM with a Managed HSM reached only by a private endpoint: a
	   user-assigned identity is a must. */
	{ "dicom", NULL, HSM_PRIVATE, NULL, NULL, "hsm",
	  "identity.dicom-hsm-private", OUT_FAILS },
	{ "dicom", NULL, HSM_PRIVATE, NULL, NULL, "hsm uai",
	  "identity.dicom-hsm-private", OUT_HOLDS },
	{ "dicom", NULL, HSM_PRIVATE, NULL, NULL, "",
	  "identity.dicom-hsm-private", OUT_NA },
	{ "dicom", NULL, HSM_PENDING, NULL, NULL, "hsm",
	  "identity.dicom-hsm-private", OUT_NA },
	{ "dicom", NULL,
	  "{\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}", NULL, NULL,
	  "hsm", "identity.dicom-hsm-private", OUT_NA },
	/* After lost access: a DICOM service whose key is back but Resource
	   Health says unavailable needs a refresh. */
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "unavailable",
	  "resource.refresh-needed", OUT_FAILS },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "", "resource.refresh-needed",
	  OUT_HOLDS },
	{ "dicom", DICOM_CMK, NULL, "{\"attributes\":{\"enabled\":false}}",
	  NULL, "unavailable", "resource.refresh-needed", OUT_NA },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "unavailable change",
	  "resource.refresh-needed", OUT_NA },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "unavailable health503",
	  "resource.refresh-needed", OUT_UNKNOWN },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "unavailable health404",
	  "resource.refresh-needed", OUT_NA },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "nostate",
	  "resource.refresh-needed", OUT_UNKNOWN },
	{ "dicom", DICOM_CMK, NULL, NULL, NULL, "healthunknown",
	  "resource.refresh-needed", OUT_UNKNOWN },
	{ "dicom", NULL, NULL, NULL, NULL, "unavailable",
	  "resource.refresh-needed", OUT_NA },
	{ "openai", NULL, NULL, NULL, NULL, "unavailable",
	  "resource.refresh-needed", OUT_NA },
	/* Inherited scopes: a management group is above the vault (ARM listed
	   it there); another key is not. */
	{ "openai", NULL, NULL, NULL, GRANT_AT(MG), "", "identity.key-access",
	  OUT_HOLDS },
	{ "openai", NULL, NULL, NULL,
	  GRANT_AT("/subscriptions/s/resourceGroups/g"), "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, GRANT_AT(VAULT_ID "/keys/k"), "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, NULL, NULL, GRANT_AT(VAULT_ID "/keys/other"), "",
	  "identity.key-access", OUT_FAILS },
	{ "openai", NULL, NULL, NULL, GRANT_AT("/subscriptions/s2"), "",
	  "identity.key-access", OUT_FAILS },
	/* Compound access policy entries give access only through the
	   application they name. */
	{ "openai", NULL, COMPOUND(""), NULL, NULL, "", "identity.key-access",
	  OUT_HOLDS },
	{ "openai", NULL, COMPOUND("\"applicationId\":\"\","), NULL, NULL, "",
	  "identity.key-access", OUT_HOLDS },
	{ "openai", NULL, COMPOUND("\"applicationId\":\"a9\","), NULL, NULL, "",
	  "identity.key-access", OUT_UNKNOWN },
};

/* A row with the deny assignments read at the vault. */
struct deny_row {
	struct row r;
	const char *denies;
};

static const struct deny_row DENY_ROWS[] = {
	/* Deny assignments override roles: one that may apply is uncertain,
	   never "holds". */
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_UNKNOWN },
	  DENY(VAULT_ID, P1, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_UNKNOWN },
	  DENY(MG, EVERYONE, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_UNKNOWN },
	  DENY(VAULT_ID, A_GROUP, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_HOLDS },
	  DENY(VAULT_ID, EVERYONE, P1, KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_HOLDS },
	  DENY(VAULT_ID, P1, "", SECRETS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_HOLDS },
	  DENY(VAULT_ID, P1, "", KEYS_DENIED, "true") },
	{ { "openai", NULL, NULL, NULL, NULL, "", "identity.key-access",
	    OUT_HOLDS },
	  DENY(VAULT_ID "/keys/other", P1, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, "[]", "", "identity.key-access",
	    OUT_FAILS },
	  DENY(VAULT_ID, P1, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, NULL, NULL, "deny403", "identity.key-access",
	    OUT_UNKNOWN },
	  NULL },
	{ { "openai", NULL, NULL, NULL, NULL, "deny400", "identity.key-access",
	    OUT_UNKNOWN },
	  NULL },
	{ { "openai", NULL, COMPOUND(""), NULL, NULL, "deny403",
	    "identity.key-access", OUT_HOLDS },
	  NULL },
	/* A resource on its key: a deny assignment makes its loss uncertain
	   (key-access says so), not "lost". */
	{ { "openai", NULL, NULL, NULL, NULL, "", "resource.key-access-lost",
	    OUT_NA },
	  DENY(VAULT_ID, P1, "", KEYS_DENIED, "false") },
	{ { "openai", NULL, NULL, "{\"attributes\":{\"enabled\":false}}", NULL,
	    "", "resource.key-access-lost", OUT_FAILS },
	  DENY(VAULT_ID, P1, "", KEYS_DENIED, "false") },
	/* The operator's grant of access: a deny assignment may take the role's
	   permission away. */
	{ { "openai", NULL, NULL, NULL, "[]", "change", "operator.can-assign",
	    OUT_UNKNOWN },
	  DENY("/subscriptions/s", "{\"id\":\"op1\"}", "",
	       "{\"actions\":[\"Microsoft.Authorization/*\"]}", "false") },
	{ { "openai", NULL, NULL, NULL, "[]", "change", "operator.can-assign",
	    OUT_HOLDS },
	  DENY(VAULT_ID, EVERYONE, "", WRITES_DENIED, "false") },
	/* The grant is written at the key's scope: a deny there counts too. */
	{ { "openai", NULL, NULL, NULL, "[]", "change", "operator.can-assign",
	    OUT_UNKNOWN },
	  DENY(VAULT_ID "/keys/k", "{\"id\":\"op1\"}", "",
	       "{\"actions\":[\"Microsoft.Authorization/*\"]}", "false") },
	{ { "openai", NULL, NULL, NULL, "[]", "change", "operator.can-assign",
	    OUT_HOLDS },
	  DENY("/subscriptions/s", "{\"id\":\"op1\"}", "",
	       "{\"dataActions\":[\"*\"]}", "false") },
};

/* The fixture a row runs on; everything is owned and freed after the row. */
struct fixture {
	struct cmk_ctx c;
	struct json_object *resource, *vault, *key, *assignments, *roles,
		*perms, *rotation, *uai, *policy, *denies, *versions, *health;
};

/* Parses a fixture part and applies a row's merge patch to it. */
static struct json_object *part(const char *base, const char *patch)
{
	struct json_object *o = json_tokener_parse(base);

	if (patch) {
		struct json_object *p = json_tokener_parse(patch);

		assert_non_null(p);
		jx_merge_patch(o, p);
		json_object_put(p);
	}
	return o;
}

/* Copies the non-empty strings of an array of patterns. */
static struct json_object *patterns(struct json_object *list)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(list); i++)
		if (*json_object_get_string(jx_at(list, i)))
			json_object_array_add(out,
					      json_object_get(jx_at(list, i)));
	return out;
}

/* Defines the custom role a row's assignment describes (customActions,
 * customNotActions) among the roles read. */
static void add_custom_role(struct fixture *x)
{
	for (size_t i = 0; i < jx_len(x->assignments); i++) {
		struct json_object *ra = jx_get(jx_at(x->assignments, i),
						"properties"),
				   *role, *block;

		if (!jx_get(ra, "customActions"))
			continue;
		role = json_object_new_object();
		block = json_object_new_object();
		json_object_object_add(block, "dataActions",
				       patterns(jx_get(ra, "customActions")));
		json_object_object_add(
			block, "notDataActions",
			patterns(jx_get(ra, "customNotActions")));
		jx_set(role, "properties.permissions", json_object_new_array());
		json_object_array_add(jx_get(role, "properties.permissions"),
				      block);
		jx_set(role, "properties.type",
		       json_object_new_string("CustomRole"));
		json_object_object_add(x->roles, CUSTOM_ROLE, role);
	}
}

/* Builds the context of a row, with the deny assignments read at the vault
 * (NULL: none). */
static void build_with(struct fixture *x, const struct row *r,
		       const char *denies)
{
	const char *o = r->opts;

	memset(x, 0, sizeof(*x));
	x->resource = part(RESOURCE, r->resource);
	x->vault = part(VAULT, r->vault);
	x->key = part(KEY, r->key);
	x->assignments = json_tokener_parse(r->assignments ? r->assignments
							   : ASSIGNMENTS);
	x->roles = json_tokener_parse(ROLES);
	x->perms = json_tokener_parse(opt_has(o, "perms-none")
					      ? "[{\"actions\":[\"*/read\"]}]"
					      : "[{\"actions\":[\"*\"]}]");
	x->rotation = json_tokener_parse(
		opt_has(o, "norotation") ? "{\"lifetimeActions\":[{\"action\":{"
					   "\"type\":\"Notify\"}}]}"
					 : "{\"lifetimeActions\":[{\"action\":{"
					   "\"type\":\"Rotate\"}}]}");
	x->uai =
		json_tokener_parse("{\"properties\":{\"principalId\":\"p2\","
				   "\"clientId\":\"c2\",\"tenantId\":\"t1\"}}");
	x->policy = json_tokener_parse(opt_has(o, "deny")        ? POLICY_DENY
				       : opt_has(o, "compliant") ? POLICY_OK
								 : "[]");
	x->c = (struct cmk_ctx){
		.svc = svc_by_key(r->svc),
		.resource = x->resource,
		.change = opt_has(o, "change"),
		.confirmed = opt_has(o, "confirmed"),
		.keyref.vault = "kv1",
		.keyref.vault_uri = "https://kv1.vault.azure.net/",
		.keyref.name = opt_has(o, "nokey") ? NULL : "k",
		.keyref.version = opt_has(o, "version") ? "v1" : NULL,
		.user_identity = opt_has(o, "uai"),
		.uai_id = UAI_ID,
		.uai = x->uai,
		.vault = x->vault,
		.vault_status = opt_has(o, "vault403") ? 403 : 200,
		.key = x->key,
		.key_status = opt_has(o, "key404")         ? 404
			      : opt_has(o, "key403")       ? 403
			      : opt_has(o, "key503")       ? 503
			      : opt_has(o, "keymalformed") ? CMK_READ_MALFORMED
							   : 200,
		.versions_status = 200,
		.rotation = x->rotation,
		.assignments = x->assignments,
		.rotation_status = opt_has(o, "rot404") ? 404
				   : opt_has(o, "rotmalformed")
					   ? CMK_READ_MALFORMED
					   : 200,
		.assignments_status = opt_has(o, "assign429") ? 429 : 200,
		.roles_status = opt_has(o, "roles403") ? 403 : 200,
		.roles = x->roles,
		.operator_perms = x->perms,
		.perms_status = opt_has(o, "perms500") ? 500 : 200,
		.tenant = "t1",
		.now = NOW,
		.policy_evals = x->policy,
		.policy_status = opt_has(o, "policy403")   ? 403
				 : opt_has(o, "policy503") ? 503
							   : 200
	};
	x->c.drop_system = opt_has(o, "dropsys");
	x->c.keyref.hsm = opt_has(o, "hsm");
	x->denies = json_tokener_parse(denies ? denies : "[]");
	x->c.denies = x->denies;
	x->c.denies_status = opt_has(o, "deny403")   ? 403
			     : opt_has(o, "deny400") ? 400
						     : 200;
	x->c.operator_id = xstrdup("op1");
	/* v0 (created 100) before the version in use, v1; v2 (created 300)
	 * after it. */
	x->versions = json_tokener_parse(
		opt_has(o, "oldoff")            ? VERSIONS("false", "true")
		: opt_has(o, "oldodd")          ? VERSIONS("\"yes\"", "true")
		: opt_has(o, "oldnull")         ? VERSIONS("null", "true")
		: opt_has(o, "newoff")          ? VERSIONS("true", "false")
		: opt_has(o, "versions-object") ? "{\"value\":{}}"
						: VERSIONS("true", "true"));
	x->c.versions = x->versions;
	x->c.versions_status = opt_has(o, "versions503")   ? 503
			       : opt_has(o, "versions403") ? 403
							   : 200;
	x->health = json_tokener_parse(
		opt_has(o, "unavailable")
			? "{\"properties\":{\"availabilityState\":"
			  "\"Unavailable\","
			  "\"summary\":\"lost its key\"}}"
		: opt_has(o, "nostate") ? "{\"properties\":{}}"
		: opt_has(o, "healthunknown")
			? "{\"properties\":{\"availabilityState\":\"Unknown\"}}"
			: "{\"properties\":{\"availabilityState\":"
			  "\"Available\"}}");
	x->c.health = x->health;
	x->c.health_status = opt_has(o, "health503")   ? 503
			     : opt_has(o, "health404") ? 404
						       : 200;
	if (opt_has(o, "vault-noanswer"))
		x->c.vault_status = CMK_READ_NO_ANSWER;
	add_custom_role(x);
}

/* Builds the context of a row. */
static void build(struct fixture *x, const struct row *r)
{
	build_with(x, r, NULL);
}

/* Frees a fixture. */
static void unbuild(struct fixture *x)
{
	json_object_put(x->resource);
	json_object_put(x->vault);
	json_object_put(x->key);
	json_object_put(x->assignments);
	json_object_put(x->roles);
	json_object_put(x->perms);
	json_object_put(x->rotation);
	json_object_put(x->uai);
	json_object_put(x->policy);
	json_object_put(x->denies);
	json_object_put(x->versions);
	json_object_put(x->health);
	free(x->c.operator_id);
}

/* Every row: the rule gives the expected outcome on the fixture. */
static void test_rule_table(void **state)
{
	static const char *const names[] = { "n/a", "holds", "fails",
					     "could not judge" };

	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct row *r = &ROWS[i];
		const struct cmk_rule *rule = cmk_rule_find(r->rule);
		struct cmk_finding f = { rule,
					 rule ? rule->severity : SEV_NOTE,
					 NULL,
					 NULL,
					 { NULL, NULL, NULL },
					 NULL,
					 false,
					 "" };
		struct fixture x;
		enum cmk_outcome got;

		assert_non_null(rule);
		build(&x, r);
		got = cmk_rule_applies(rule, x.c.svc)
			      ? cmk_judge(&x.c, rule, &f)
			      : OUT_NA;
		if (got != r->want)
			fail_msg("row %zu (%s, %s, %s): %s, wanted %s", i,
				 r->svc, r->rule, r->opts, names[got],
				 names[r->want]);
		free(f.detail);
		unbuild(&x);
	}
}

/* Deny assignments: each row's rule gives the expected outcome with the deny
 * assignments the row reads. */
static void test_deny_table(void **state)
{
	static const char *const names[] = { "n/a", "holds", "fails",
					     "could not judge" };

	for (size_t i = 0; i < sizeof(DENY_ROWS) / sizeof(DENY_ROWS[0]); i++) {
		const struct row *r = &DENY_ROWS[i].r;
		const struct cmk_rule *rule = cmk_rule_find(r->rule);
		struct cmk_finding f = {
			rule, rule->severity, NULL, NULL, { NULL, NULL, NULL },
			NULL, false,          ""
		};
		struct fixture x;
		enum cmk_outcome got;

		build_with(&x, r, DENY_ROWS[i].denies);
		got = cmk_judge(&x.c, rule, &f);
		if (got != r->want)
			fail_msg("deny row %zu (%s, %s): %s, wanted %s", i,
				 r->rule, r->opts, names[got], names[r->want]);
		/* An uncertain verdict names the deny assignment (or the read)
		 * it rests on. */
		if (got == OUT_UNKNOWN && DENY_ROWS[i].denies &&
		    (!f.detail || !strstr(f.detail, "stack-lock")))
			fail_msg("deny row %zu: detail '%s' does not name the "
				 "deny assignment",
				 i, f.detail ? f.detail : "");
		free(f.detail);
		unbuild(&x);
	}
}

/* Every rule of the table is exercised by some row, holding and failing. */
static void test_every_rule_covered(void **state)
{
	for (size_t k = 0; k < CMK_NRULES; k++) {
		bool holds = false, fails = false;

		for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
			holds |= str_ieq(ROWS[i].rule, CMK_RULES[k].id) &&
				 ROWS[i].want == OUT_HOLDS;
			fails |= str_ieq(ROWS[i].rule, CMK_RULES[k].id) &&
				 ROWS[i].want == OUT_FAILS;
		}
		if (!holds || !fails)
			fail_msg("rule %s lacks a row that %s", CMK_RULES[k].id,
				 holds ? "fails" : "holds");
	}
}

/* The report names the thing that failed with its real name, and sorts out
 * blockers. */
static void test_report_messages(void **state)
{
	struct row r = { "openai",
			 NULL,
			 "{\"properties\":{\"enablePurgeProtection\":null}}",
			 "{\"attributes\":{\"exp\":1796000000}}",
			 NULL,
			 "",
			 NULL,
			 OUT_NA };
	struct fixture x;
	struct cmk_report rep;
	bool purge = false, expiring = false;

	build(&x, &r);
	cmk_check(&x.c, &rep);
	for (size_t i = 0; i < rep.n; i++) {
		if (str_ieq(rep.items[i].rule->id, "vault.purge-protection")) {
			purge = true;
			assert_string_equal(
				rep.items[i].message,
				"vault kv1: purge protection is off");
			assert_string_equal(rep.items[i].subject,
					    "https://kv1.vault.azure.net/");
		}
		if (str_ieq(rep.items[i].rule->id, "key.expiring")) {
			expiring = true;
			assert_int_equal(rep.items[i].severity, SEV_WARNING);
			assert_string_equal(
				rep.items[i].subject,
				"https://kv1.vault.azure.net/keys/k");
		}
	}
	assert_true(purge && expiring);
	assert_true(cmk_has_blocker(&rep));
	assert_true(rep.checked > rep.n);
	cmk_report_free(&rep);
	unbuild(&x);
}

/* The key-size severity follows the service: a blocker for OpenAI and DICOM, a
 * warning for others. */
static void test_size_severity(void **state)
{
	static const struct {
		const char *svc;
		enum severity sev;
	} T[] = {
		{ "openai", SEV_BLOCKER },
		{ "dicom", SEV_BLOCKER },
		{ "healthbot", SEV_WARNING },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct row r = { T[i].svc, NULL,
				 NULL,     "{\"key\":{\"n\":\"" N4096 "\"}}",
				 NULL,     "version",
				 NULL,     OUT_NA };
		struct fixture x;
		const struct cmk_rule *rule = cmk_rule_find("key.size");
		struct cmk_finding f = {
			rule, rule->severity, NULL, NULL, { NULL, NULL, NULL },
			NULL, false,          ""
		};

		build(&x, &r);
		assert_int_equal(rule->check(&x.c, &f), OUT_FAILS);
		assert_int_equal(f.severity, T[i].sev);
		free(f.detail);
		unbuild(&x);
	}
}

/* Azure's refusals of a save map back to the rules they stand for. */
static void test_error_mapping(void **state)
{
	static const struct {
		const char *code, *inner, *msg, *rule;
	} T[] = {
		{ "KeyVaultAccessForbidden", "ForbiddenByFirewall", NULL,
		  "vault.firewall" },
		{ "KeyVaultAccessForbidden", "ForbiddenByRbac", NULL,
		  "identity.key-access" },
		{ "KeyVaultPolicyError", NULL,
		  "Keyvault policy recoverable is not set",
		  "vault.soft-delete" },
		{ "KeyVaultPolicyError", NULL,
		  "Keyvault policy purge protection is not set",
		  "vault.purge-protection" },
		{ "KeyVaultRegionMismatch", NULL, NULL, "vault.same-region" },
		{ "InvalidKeySize", NULL, NULL, "key.size" },
		{ "CustomerManagedKeyNotSupported", NULL, NULL,
		  "resource.eligible" },
		/* The operator may not write the resource: Azure's message
		   names the action; no rule says more. */
		{ "AuthorizationFailed", NULL,
		  "does not have authorization to perform action", NULL },
		{ "RequestDisallowedByPolicy", NULL,
		  "Resource 'oai' was disallowed by policy.", "policy.deny" },
		{ "SomethingElse", NULL, NULL, NULL },
		/* Key Vault's codes as services relay them: inner code, code,
		   or words of the message. */
		{ "Forbidden", "ForbiddenByRbac",
		  "Caller is not authorized to perform action on resource.",
		  "identity.key-access" },
		{ "Forbidden", "ForbiddenByPolicy", NULL,
		  "identity.key-access" },
		{ "Forbidden", "AccessDenied", NULL, "identity.key-access" },
		{ "ForbiddenByRbac", NULL,
		  "[ForbiddenByRbac (Forbidden)] Caller is not authorized",
		  "identity.key-access" },
		{ "BadRequest", NULL,
		  "Operation failed. InnerError={\"code\":\"ForbiddenByRbac\"}",
		  "identity.key-access" },
		{ "UserErrorCMKKeyVaultAuthFailure", NULL,
		  "Key Vault said ForbiddenByPolicy.", "identity.key-access" },
		{ "Forbidden", "ForbiddenByConnection", NULL,
		  "vault.firewall" },
		{ "InternalError", NULL,
		  "Client address is not authorized and caller is not a "
		  "trusted service "
		  "(ForbiddenByFirewall); ForbiddenByRbac",
		  "vault.firewall" },
		{ "KeyNotFound", NULL,
		  "A key with (name/id) cmk was not found in this key vault.",
		  "key.exists" },
		{ "Forbidden", "KeyDisabled",
		  "Operation unwrapKey is not allowed on a disabled key.",
		  "key.enabled" },
		/* A longer name that only contains a code is not that code. */
		{ "BadRequest", NULL, "NotForbiddenByRbacReally", NULL },
		{ "Forbidden", NULL, "403 Forbidden", NULL },
		{ "Conflict", NULL, NULL, "resource.ready" },
		{ NULL, NULL, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		const char *got =
			cmk_rule_for_error(T[i].code, T[i].inner, T[i].msg);

		if (T[i].rule)
			assert_string_equal(got, T[i].rule);
		else
			assert_null(got);
	}
}

/*
 * Which rule applies to which service, frozen as the service masks said it
 * before the profile's capabilities replaced them: a rule not listed applies
 * to all four.  Letters: d DICOM, h healthcare agent, f Foundry, o OpenAI.
 */
static void test_rule_services(void **state)
{
	static const struct {
		const char *rule, *services;
	} T[] = {
		{ "resource.eligible", "hfo" },
		{ "resource.irreversible", "f" },
		{ "resource.same-vault", "f" },
		{ "vault.same-region", "fo" },
		{ "key.versioned", "d" },
		{ "key.earlier-versions", "df" },
		{ "identity.dicom-both", "d" },
		{ "identity.dicom-hsm-private", "d" },
		{ "resource.refresh-needed", "d" },
	};
	static const struct {
		char letter;
		const char *key;
	} S[] = { { 'd', "dicom" },
		  { 'h', "healthbot" },
		  { 'f', "foundry" },
		  { 'o', "openai" } };

	(void)state;
	for (size_t r = 0; r < CMK_NRULES; r++) {
		const char *want = "dhfo";

		for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
			if (strcmp(T[i].rule, CMK_RULES[r].id) == 0)
				want = T[i].services;
		for (size_t s = 0; s < sizeof(S) / sizeof(S[0]); s++) {
			bool got = cmk_rule_applies(&CMK_RULES[r],
						    svc_by_key(S[s].key));

			if (got != (strchr(want, S[s].letter) != NULL))
				fail_msg("rule %s for %s: applies is %d",
					 CMK_RULES[r].id, S[s].key, got);
		}
	}
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_non_null(cmk_rule_find(T[i].rule));
}

/* Profiles: found by type and kind, sizes per service. */
static void test_profiles(void **state)
{
	assert_int_equal(
		svc_for_resource("microsoft.cognitiveservices/accounts",
				 "OpenAI")
			->id,
		SVC_OPENAI);
	assert_int_equal(
		svc_for_resource("Microsoft.CognitiveServices/accounts",
				 "AIServices")
			->id,
		SVC_FOUNDRY);
	assert_null(svc_for_resource("Microsoft.CognitiveServices/accounts",
				     "Face"));
	assert_int_equal(
		svc_for_resource(
			"Microsoft.HealthcareApis/workspaces/dicomservices",
			NULL)
			->id,
		SVC_DICOM);
	assert_true(svc_size_allowed(svc_by_key("dicom"), 3072));
	assert_false(svc_size_allowed(svc_by_key("dicom"), 4096));
	assert_false(svc_size_allowed(svc_by_key("openai"), 3072));
	assert_true(svc_size_allowed(svc_by_key("healthbot"), 3072));
	assert_false(svc_size_allowed(svc_by_key("healthbot"), 4096));
	assert_false(svc_size_allowed(svc_by_key("healthbot"), 1024));
}

/* Runs the validation core's unit tests. */
/*
 * DICOM with its system-assigned identity and six user-assigned ones, one of
 * them judged: more others than azcmk judges (CMK_OTHERS_MAX) leave
 * identity.dicom-both unjudged, never holding on the ones it saw; with fewer,
 * the one without access fails it.
 */
static void test_dicom_many_identities(void **state)
{
	static const struct {
		int others; /* user-assigned identities beside the judged one */
		enum cmk_outcome want;
	} T[] = { { 5, OUT_UNKNOWN }, { 2, OUT_FAILS } };

	(void)state;
	for (size_t t = 0; t < sizeof(T) / sizeof(T[0]); t++) {
		struct fixture x;
		struct row r = { "dicom",
				 NULL,
				 NULL,
				 NULL,
				 NULL,
				 "",
				 "identity.dicom-both",
				 OUT_FAILS };
		struct sbuf b = SBUF_INIT;
		struct json_object *map = json_object_new_object();
		struct cmk_finding f = { 0 };

		build(&x, &r);
		for (int i = 0; i <= T[t].others; i++) {
			char *id = xasprintf(UAI_ID "%d", i);
			struct json_object *v = json_object_new_object();

			json_object_object_add(
				v, "principalId",
				json_object_new_string_len(&"pabcdefg"[i], 1));
			json_object_object_add(map, id, v);
			free(id);
		}
		json_object_object_add(jx_get(x.resource, "identity"),
				       "userAssignedIdentities", map);
		/* All may use the key but the last one. */
		sb_adds(&b, "[{\"properties\":{\"principalId\":\"p1\","
			    "\"scope\":\"" VAULT_ID "\",\"roleDefinitionId\":"
			    "\"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}");
		for (int i = 0; i < T[t].others; i++)
			sb_printf(&b,
				  ",{\"properties\":{\"principalId\":\"%c\","
				  "\"scope\":\"" VAULT_ID
				  "\",\"roleDefinitionId\""
				  ":\"e147488a-f6f5-4113-8e2d-b22465e65bf6\"}}",
				  "pabcdefg"[i]);
		sb_adds(&b, "]");
		json_object_put(x.assignments);
		x.assignments = json_tokener_parse(sb_str(&b));
		x.c.assignments = x.assignments;
		x.c.user_identity = true;
		x.c.uai_id = UAI_ID "0"; /* principal "p" */
		x.c.uai = NULL;
		x.c.others_status = 200;
		f.rule = cmk_rule_find("identity.dicom-both");
		assert_int_equal(cmk_judge(&x.c, f.rule, &f), T[t].want);
		free(f.detail);
		sb_free(&b);
		unbuild(&x);
	}
}

/* The identity a resource uses for its key when none is named, by service and
 * resource (table). */
static void test_identity_in_use(void **state)
{
#define UA                                             \
	"/subscriptions/s/resourceGroups/g/providers/" \
	"Microsoft.ManagedIdentity/userAssignedIdentities/"
	static const struct {
		const char *svc, *resource, *want;
		bool unattached;
	} T[] = {
		/* Cognitive Services: identityClientId names it by client id.
		 */
		{ "openai",
		  "{\"identity\":{\"principalId\":\"p0\","
		  "\"userAssignedIdentities\":"
		  "{\"" UA "a\":{\"principalId\":\"pa\",\"clientId\":\"CA\"}}},"
		  "\"properties\":{\"encryption\":{\"keyVaultProperties\":"
		  "{\"identityClientId\":\"ca\"}}}}",
		  UA "a", false },
		{ "foundry",
		  "{\"identity\":{\"principalId\":\"p0\","
		  "\"userAssignedIdentities\":"
		  "{\"" UA "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}},"
		  "\"properties\":{\"encryption\":{\"keyVaultProperties\":"
		  "{\"identityClientId\":\"cx\"}}}}",
		  NULL, true },
		{ "openai",
		  "{\"identity\":{\"principalId\":\"p0\","
		  "\"userAssignedIdentities\":"
		  "{\"" UA "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}},"
		  "\"properties\":{\"encryption\":{\"keyVaultProperties\":"
		  "{\"identityClientId\":\"\"}}}}",
		  NULL, false },
		{ "openai",
		  "{\"identity\":{\"userAssignedIdentities\":"
		  "{\"" UA
		  "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}}}",
		  UA "a", false },
		/* The healthcare agent service: userIdentity by ARM id, matched
		 * in any case; one not attached is still the one it names. */
		{ "healthbot",
		  "{\"identity\":{\"principalId\":\"p0\","
		  "\"userAssignedIdentities\":"
		  "{\"" UA "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}},"
		  "\"properties\":{\"keyVaultProperties\":{\"userIdentity\":\""
		  "/SUBSCRIPTIONS/s/resourceGroups/g/providers/"
		  "Microsoft.ManagedIdentity/userAssignedIdentities/A\"}}}",
		  UA "a", false },
		{ "healthbot",
		  "{\"identity\":{\"principalId\":\"p0\"},"
		  "\"properties\":{\"keyVaultProperties\":{\"userIdentity\":"
		  "\"" UA "b\"}}}",
		  UA "b", false },
		/* On its key with no identity named: the system-assigned one,
		 * even when off ("omit for system-assigned"). */
		{ "openai",
		  "{\"identity\":{\"userAssignedIdentities\":"
		  "{\"" UA "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}},"
		  "\"properties\":{\"encryption\":{\"keySource\":"
		  "\"Microsoft.KeyVault\",\"keyVaultProperties\":{\"keyName\":"
		  "\"k\",\"keyVaultUri\":\"https://kv1.vault.azure.net/\"}}}}",
		  NULL, false },
		/* DICOM names none: the system-assigned one when it is on. */
		{ "dicom",
		  "{\"identity\":{\"principalId\":\"p0\","
		  "\"userAssignedIdentities\":"
		  "{\"" UA
		  "a\":{\"principalId\":\"pa\",\"clientId\":\"ca\"}}}}",
		  NULL, false },
	};
#undef UA

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *res = json_tokener_parse(T[i].resource);
		bool unattached = !T[i].unattached;
		const char *got;

		assert_non_null(res);
		got = cmk_identity_in_use(svc_by_key(T[i].svc), res,
					  &unattached);
		if (!T[i].want ? got != NULL
			       : !got || strcmp(got, T[i].want) != 0)
			fail_msg("case %zu: %s, wanted %s", i,
				 got ? got : "(system)",
				 T[i].want ? T[i].want : "(system)");
		assert_int_equal(unattached, T[i].unattached);
		json_object_put(res);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_identity_in_use),
		cmocka_unit_test(test_dicom_many_identities),
		cmocka_unit_test(test_deny_table),
		cmocka_unit_test(test_every_rule_covered),
		cmocka_unit_test(test_report_messages),
		cmocka_unit_test(test_size_severity),
		cmocka_unit_test(test_error_mapping),
		cmocka_unit_test(test_rule_services),
		cmocka_unit_test(test_profiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
