/* A custom Azure Policy for the integration tests: deny Cognitive Services keys
 * outside the kv-central-* vaults. */
#ifndef POLICY_FIXTURE_H
#define POLICY_FIXTURE_H

#define POLICY_SUB "/subscriptions/66666666-6666-4666-8666-666666666666"
#define POLICY_DEF_ID                                                      \
	POLICY_SUB "/providers/Microsoft.Authorization/policyDefinitions/" \
		   "approved-key-vaults-only"
#define POLICY_ASSIGNMENT_ID                                               \
	POLICY_SUB "/providers/Microsoft.Authorization/policyAssignments/" \
		   "deny-unapproved-vaults"

/* The definition: effect a parameter (Audit by default), as built-in CMK
 * policies do. */
static const char POLICY_DEFINITION[] =
	"{\"id\":\"" POLICY_DEF_ID "\",\"type\":\"Microsoft.Authorization/"
	"policyDefinitions\",\"name\":\"approved-key-vaults-only\","
	"\"properties\":{\"displayName\":\"Cognitive Services keys only from "
	"approved vaults\",\"policyType\":\"Custom\","
	"\"mode\":\"Indexed\",\"parameters\":{\"effect\":{\"type\":\"String\","
	"\"defaultValue\":\"Audit\","
	"\"allowedValues\":[\"Audit\",\"Deny\",\"Disabled\"]}},\"policyRule\":{"
	"\"if\":{\"allOf\":["
	"{\"field\":\"type\",\"equals\":\"Microsoft.CognitiveServices/"
	"accounts\"},"
	"{\"field\":\"Microsoft.CognitiveServices/accounts/"
	"encryption.keySource\",\"equals\":\"Microsoft.KeyVault\"},"
	"{\"not\":{\"field\":\"Microsoft.CognitiveServices/accounts/"
	"encryption.keyVaultProperties.keyVaultUri\","
	"\"like\":\"https://"
	"kv-central-*\"}}]},\"then\":{\"effect\":\"[parameters('effect')]\"}}}"
	"}";

/* The assignment at the subscription, with the effect set to Deny; %s is the
 * enforcement mode. */
#define POLICY_ASSIGNMENT_FMT                                                  \
	"{\"id\":\"" POLICY_ASSIGNMENT_ID                                      \
	"\",\"type\":\"Microsoft.Authorization/policyAssignments\","           \
	"\"name\":\"deny-unapproved-vaults\",\"properties\":{\"displayName\":" \
	"\"Deny keys outside approved vaults\","                               \
	"\"policyDefinitionId\":\"" POLICY_DEF_ID "\",\"scope\":\"" POLICY_SUB \
	"\",\"enforcementMode\":\"%s\","                                       \
	"\"parameters\":{\"effect\":{\"value\":\"Deny\"}}}}"

#endif
