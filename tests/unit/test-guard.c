/* Unit tests of the guard policies: each service, audit and deny, subscription
 * and management group, names within Azure's limits, refused effects. */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "jx.h"
#include "profile.h"

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define MG "contoso-prod"
#define DICOM_DEF "14961b63-a1eb-4378-8725-7e84ca8db0e6"
#define BOT_DEF "4d080fa5-a6d2-4f98-ba9c-f482d0d335c0"
#define COG_DEF "67121cc7-ff39-4ab8-b7e3-95b84dab487d"
#define SCHEMA_SUB                                                \
	"https://schema.management.azure.com/schemas/2018-05-01/" \
	"subscriptionDeploymentTemplate.json#"
#define SCHEMA_MG                                                 \
	"https://schema.management.azure.com/schemas/2019-08-01/" \
	"managementGroupDeploymentTemplate.json#"

/* One request and what it must give: the definition, the effect, whether a
 * note says the built-in refuses Deny, whether guard's custom definition is
 * assigned, and AIServices' place in excludedKinds. */
static const struct {
	enum svc_id svc;
	bool deny;
	enum guard_scope scope;
	const char *guid, *effect;
	bool deny_refused;
	const char *custom;      /* the custom definition assigned, or NULL */
	int aiservices_excluded; /* 1 excluded, 0 judged, -1 no such parameter
				  */
} CASES[] = {
	{ SVC_DICOM, false, GUARD_SUBSCRIPTION, DICOM_DEF, "Audit", false, NULL,
	  -1 },
	{ SVC_DICOM, true, GUARD_SUBSCRIPTION, DICOM_DEF, "Deny", true,
	  "azcmk-cmk-dicom-deny", -1 },
	{ SVC_DICOM, true, GUARD_MANAGEMENT_GROUP, DICOM_DEF, "Deny", true,
	  "azcmk-cmk-dicom-deny", -1 },
	{ SVC_HEALTHBOT, false, GUARD_MANAGEMENT_GROUP, BOT_DEF, "Audit", false,
	  NULL, -1 },
	{ SVC_HEALTHBOT, true, GUARD_SUBSCRIPTION, BOT_DEF, "Deny", true,
	  "azcmk-cmk-healthbot-deny", -1 },
	{ SVC_FOUNDRY, false, GUARD_SUBSCRIPTION, COG_DEF, "Audit", false, NULL,
	  0 },
	{ SVC_FOUNDRY, true, GUARD_MANAGEMENT_GROUP, COG_DEF, "Deny", false,
	  NULL, 0 },
	{ SVC_OPENAI, false, GUARD_MANAGEMENT_GROUP, COG_DEF, "Audit", false,
	  NULL, 1 },
	{ SVC_OPENAI, true, GUARD_SUBSCRIPTION, COG_DEF, "Deny", false, NULL,
	  1 },
};

/* Tells whether some note of the set holds the text. */
static bool noted(const struct guard_set *s, const char *text)
{
	for (size_t i = 0; i < s->nnotes; i++)
		if (strstr(s->notes[i], text))
			return true;
	return false;
}

/* Checks the template's one resource against a case. */
static void check_arm(const struct guard_set *s, size_t i)
{
	struct json_object *t = guard_render_arm(s),
			   *r = jx_at(jx_get(t, "resources"),
				      CASES[i].custom ? 1 : 0),
			   *kinds = jx_get(r, "properties.parameters."
					      "excludedKinds.value");
	char def[160];

	if (!CASES[i].custom)
		snprintf(def, sizeof(def),
			 "/providers/Microsoft.Authorization/"
			 "policyDefinitions/%s",
			 CASES[i].guid);
	else if (CASES[i].scope == GUARD_SUBSCRIPTION)
		snprintf(def, sizeof(def),
			 "[subscriptionResourceId('Microsoft.Authorization/"
			 "policyDefinitions', '%s')]",
			 CASES[i].custom);
	else
		snprintf(def, sizeof(def),
			 "/providers/Microsoft.Management/managementGroups/" MG
			 "/providers/Microsoft.Authorization/"
			 "policyDefinitions/%s",
			 CASES[i].custom);
	assert_string_equal(jx_str(t, "$schema"),
			    CASES[i].scope == GUARD_SUBSCRIPTION ? SCHEMA_SUB
								 : SCHEMA_MG);
	assert_int_equal(jx_len(jx_get(t, "resources")),
			 CASES[i].custom ? 2 : 1);
	if (CASES[i].custom) {
		struct json_object *d = jx_at(jx_get(t, "resources"), 0);

		/* The definition first, and the assignment waits for it. */
		assert_string_equal(jx_str(d, "type"),
				    "Microsoft.Authorization/"
				    "policyDefinitions");
		assert_string_equal(jx_str(d, "name"), CASES[i].custom);
		assert_string_equal(jx_str(d, "properties.mode"), "Indexed");
		assert_string_equal(
			jx_str(d, "properties.policyRule.then.effect"),
			"[[parameters('effect')]");
		assert_string_equal(json_object_get_string(
					    jx_at(jx_get(r, "dependsOn"), 0)),
				    def);
	} else {
		assert_null(jx_get(r, "dependsOn"));
	}
	assert_string_equal(jx_str(r, "type"),
			    "Microsoft.Authorization/policyAssignments");
	assert_string_equal(jx_str(r, "apiVersion"), "2023-04-01");
	/* Where Microsoft publishes the definition, as a usable address. */
	assert_non_null(
		strstr(jx_str(r, "properties.metadata.definitionSource"),
		       "https://github.com/Azure/azure-policy/blob/"
		       "master/built-in-policies/policyDefinitions/"));
	assert_null(
		strchr(jx_str(r, "properties.metadata.definitionSource"), ' '));
	assert_string_equal(jx_str(r, "properties.policyDefinitionId"), def);
	assert_string_equal(jx_str(r, "properties.parameters.effect.value"),
			    CASES[i].effect);
	if (CASES[i].aiservices_excluded < 0)
		assert_null(kinds);
	else
		assert_int_equal(jx_array_has_istr(kinds, "AIServices"),
				 CASES[i].aiservices_excluded);
	/* OpenAI is never in excludedKinds: the built-in judges it. */
	assert_false(kinds && jx_array_has_istr(kinds, "OpenAI"));
	assert_true(strlen(jx_str(r, "name")) <=
		    (CASES[i].scope == GUARD_SUBSCRIPTION ? 64u : 24u));
	json_object_put(t);
}

/* Checks the script of a case: set -eu, the scope, one assignment with its
 * definition and effect. */
static void check_az(const struct guard_set *s, size_t i)
{
	char *az = guard_render_az(s), want[160];

	assert_non_null(strstr(az, "\nset -eu\n"));
	assert_non_null(
		strstr(az, CASES[i].scope == GUARD_SUBSCRIPTION
				   ? "scope='/subscriptions/" SUB "'\n"
				   : "scope='/providers/Microsoft.Management/"
				     "managementGroups/" MG "'\n"));
	if (CASES[i].custom) {
		snprintf(want, sizeof(want),
			 "az policy definition create --name '%s'",
			 CASES[i].custom);
		assert_non_null(strstr(az, want));
		assert_non_null(strstr(az, "--mode Indexed --rules '"));
		assert_non_null(strstr(az, CASES[i].scope == GUARD_SUBSCRIPTION
						   ? "--subscription '" SUB "'"
						   : "--management-group '" MG
						     "'"));
		snprintf(want, sizeof(want),
			 "--policy \"$scope\"'/providers/"
			 "Microsoft.Authorization/policyDefinitions/%s'",
			 CASES[i].custom);
		/* The definition is made before the assignment names it. */
		assert_true(strstr(az, want) >
			    strstr(az, "az policy definition create"));
	} else {
		snprintf(want, sizeof(want), "--policy '%s'", CASES[i].guid);
		assert_null(strstr(az, "az policy definition"));
	}
	assert_non_null(strstr(az, want));
	snprintf(want, sizeof(want), "{\"effect\":{\"value\":\"%s\"}",
		 CASES[i].effect);
	assert_non_null(strstr(az, want));
	assert_null(strstr(strstr(az, "az policy assignment create") + 1,
			   "az policy assignment create"));
	free(az);
}

/* Each service alone, audit and deny, at each scope: its built-in definition
 * with an effect it allows, or for a Deny it refuses guard's custom definition
 * with Deny, and a note saying so. */
static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		struct guard_req r = { CASES[i].scope,
				       CASES[i].scope == GUARD_SUBSCRIPTION
					       ? SUB
					       : MG,
				       1u << CASES[i].svc, CASES[i].deny };
		struct guard_set s;
		char *err = NULL;

		assert_int_equal(guard_build(GUARD_BUILTINS, GUARD_NBUILTINS,
					     &r, &s, &err),
				 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.items[0].def->guid, CASES[i].guid);
		assert_string_equal(s.items[0].effect, CASES[i].effect);
		assert_int_equal(noted(&s, "not Deny"), CASES[i].deny_refused);
		assert_int_equal(s.items[0].custom, CASES[i].custom != NULL);
		assert_false(noted(&s, "assigned with Audit"));
		check_arm(&s, i);
		check_az(&s, i);
		guard_free(&s);
	}
}

/* All four services (no --service): three assignments, one per definition,
 * Foundry and OpenAI sharing the Cognitive Services one. */
static void test_all_services(void **state)
{
	struct guard_req r = { GUARD_SUBSCRIPTION, NULL, 0, true };
	struct guard_set s;
	char *err = NULL;

	(void)state;
	assert_int_equal(
		guard_build(GUARD_BUILTINS, GUARD_NBUILTINS, &r, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_false(
		jx_array_has_istr(s.items[2].excluded_kinds, "AIServices"));
	assert_true(noted(&s, "azcmk-cmk-dicom"));
	assert_true(noted(&s, "azcmk-cmk-healthbot"));
	/* Deny for each: the two Audit-only built-ins through guard's custom
	 * definitions. */
	for (size_t i = 0; i < s.n; i++)
		assert_string_equal(s.items[i].effect, "Deny");
	assert_true(s.items[0].custom && s.items[1].custom);
	assert_false(s.items[2].custom);
	guard_free(&s);
}

/* Every built-in's assignment name fits the management group limit (24), and
 * names are distinct, so each redeploy updates the same assignments. */
static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < GUARD_NBUILTINS; i++) {
		assert_true(strlen(GUARD_BUILTINS[i].assignment) <=
			    GUARD_NAME_MAX_MANAGEMENT_GROUP);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(GUARD_BUILTINS[i].assignment,
						GUARD_BUILTINS[j].assignment);
	}
}

/* Definitions of the shapes Microsoft's do not have, to prove the rules: one
 * allowing Deny only, one allowing nothing, one with a long name. */
static const struct guard_builtin ODD[] = {
	{ "deny-only", 1u << SVC_DICOM, "00000000-0000-4000-8000-000000000001",
	  "x.json", "deny only", GUARD_ALLOWS_DENY, NULL, NULL, NULL },
	{ "nothing", 1u << SVC_HEALTHBOT,
	  "00000000-0000-4000-8000-000000000002", "y.json", "nothing", 0, NULL,
	  NULL, NULL },
	{ "a-name-of-thirty-characters-xx", 1u << SVC_OPENAI,
	  "00000000-0000-4000-8000-000000000003", "z.json", "long",
	  GUARD_ALLOWS_AUDIT, NULL, NULL, NULL },
	{ "audit-only", 1u << SVC_FOUNDRY,
	  "00000000-0000-4000-8000-000000000004", "w.json", "audit only",
	  GUARD_ALLOWS_AUDIT, NULL, NULL, NULL },
};
#define NODD (sizeof(ODD) / sizeof(ODD[0]))

/* A refused effect is never emitted: Audit refused gives no assignment (Deny
 * would be more than asked), nothing allowed gives none either; each says so.
 */
static void test_refused_effects(void **state)
{
	struct guard_req audit = { GUARD_SUBSCRIPTION, NULL, 1u << SVC_DICOM,
				   false };
	struct guard_req deny = { GUARD_SUBSCRIPTION, NULL, 1u << SVC_DICOM,
				  true };
	struct guard_req none = { GUARD_SUBSCRIPTION, NULL, 1u << SVC_HEALTHBOT,
				  true };
	struct guard_req weak = { GUARD_SUBSCRIPTION, NULL, 1u << SVC_FOUNDRY,
				  true };
	struct guard_set s;
	char *err = NULL;

	(void)state;
	assert_int_equal(guard_build(ODD, NODD, &audit, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_true(noted(&s, "does not allow Audit"));
	guard_free(&s);
	assert_int_equal(guard_build(ODD, NODD, &deny, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.items[0].effect, "Deny");
	guard_free(&s);
	assert_int_equal(guard_build(ODD, NODD, &none, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_true(noted(&s, "allows neither"));
	guard_free(&s);
	/* Audit only and no custom definition to stand in: Audit, said. */
	assert_int_equal(guard_build(ODD, NODD, &weak, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.items[0].effect, "Audit");
	assert_false(s.items[0].custom);
	assert_true(noted(&s, "assigned with Audit"));
	guard_free(&s);
}

/* A name over the scope's limit is refused at a management group (24) and
 * accepted at a subscription (64). */
static void test_name_limit(void **state)
{
	struct guard_req mg = { GUARD_MANAGEMENT_GROUP, MG, 1u << SVC_OPENAI,
				false };
	struct guard_req sub = { GUARD_SUBSCRIPTION, SUB, 1u << SVC_OPENAI,
				 false };
	struct guard_set s;
	char *err = NULL;

	(void)state;
	assert_int_equal(guard_build(ODD, NODD, &mg, &s, &err), -1);
	assert_non_null(strstr(err, "a-name-of-thirty-characters-xx"));
	free(err);
	err = NULL;
	assert_int_equal(s.n, 0);
	assert_int_equal(guard_build(ODD, NODD, &sub, &s, &err), 0);
	assert_int_equal(s.n, 1);
	guard_free(&s);
}

/* Scope targets: a subscription id is a GUID; a management group name is 1 to
 * 90 of letters, digits, -_(). and does not end in '.'; shell and path
 * characters are refused. */
static void test_targets(void **state)
{
	static const struct {
		enum guard_scope scope;
		const char *target;
		bool ok;
	} T[] = {
		{ GUARD_SUBSCRIPTION, SUB, true },
		{ GUARD_SUBSCRIPTION, "prod", false },
		{ GUARD_SUBSCRIPTION, SUB "'", false },
		{ GUARD_MANAGEMENT_GROUP, MG, true },
		{ GUARD_MANAGEMENT_GROUP, "Contoso_(EU).prod", true },
		{ GUARD_MANAGEMENT_GROUP, "", false },
		{ GUARD_MANAGEMENT_GROUP, NULL, false },
		{ GUARD_MANAGEMENT_GROUP, "prod.", false },
		{ GUARD_MANAGEMENT_GROUP, "a/b", false },
		{ GUARD_MANAGEMENT_GROUP, "x'; rm -rf ~; '", false },
		{ GUARD_MANAGEMENT_GROUP, "$(id)", false },
	};
	char long_name[92];
	struct guard_req r = { GUARD_MANAGEMENT_GROUP, long_name, 0, false };
	struct guard_set s;
	char *err = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(guard_target_valid(T[i].scope, T[i].target),
				 T[i].ok);
	memset(long_name, 'g', 91);
	long_name[91] = '\0';
	assert_false(guard_target_valid(GUARD_MANAGEMENT_GROUP, long_name));
	long_name[90] = '\0';
	assert_true(guard_target_valid(GUARD_MANAGEMENT_GROUP, long_name));
	long_name[90] = 'g';
	assert_int_equal(
		guard_build(GUARD_BUILTINS, GUARD_NBUILTINS, &r, &s, &err), -1);
	assert_non_null(strstr(err, "management group"));
	free(err);
}

/* Without --subscription the scope is the current subscription: the script
 * asks az for it, the deploy command names none. */
static void test_current_subscription(void **state)
{
	struct guard_req r = { GUARD_SUBSCRIPTION, NULL, 1u << SVC_DICOM,
			       false };
	struct guard_req named = { GUARD_SUBSCRIPTION, SUB, 1u << SVC_DICOM,
				   false };
	struct guard_set s;
	char *err = NULL, *az, *hint;

	(void)state;
	assert_null(guard_scope_id(&r));
	assert_int_equal(
		guard_build(GUARD_BUILTINS, GUARD_NBUILTINS, &r, &s, &err), 0);
	az = guard_render_az(&s);
	assert_non_null(strstr(az, "$(az account show --query id --output "
				   "tsv)"));
	assert_non_null(strstr(az, "scope=\"/subscriptions/$subscription\""));
	free(az);
	hint = guard_deploy_hint(&r);
	assert_null(strstr(hint, "--subscription"));
	free(hint);
	hint = guard_deploy_hint(&named);
	assert_non_null(strstr(hint, "--subscription " SUB));
	free(hint);
	guard_free(&s);
}

/* The deploy command is one a shell takes as it is printed: a management
 * group's name with '(' or ')' is single-quoted (unquoted, sh stops at a
 * syntax error), a plain one is left as the operator typed it. */
static void test_deploy_hint_quoted(void **state)
{
	struct guard_req odd = { GUARD_MANAGEMENT_GROUP, "Contoso_(EU).prod",
				 1u << SVC_DICOM, false };
	struct guard_req plain = { GUARD_MANAGEMENT_GROUP, "contoso-prod",
				   1u << SVC_DICOM, false };
	char *hint;

	(void)state;
	hint = guard_deploy_hint(&odd);
	assert_non_null(
		strstr(hint, "--management-group-id 'Contoso_(EU).prod' "));
	free(hint);
	hint = guard_deploy_hint(&plain);
	assert_non_null(strstr(hint, "--management-group-id contoso-prod "));
	free(hint);
}

/* The conditions of Microsoft's built-ins, as published in Azure/azure-policy
 * (built-in-policies/policyDefinitions/Healthcare APIs/
 * DICOM_Service_CMK_Enabled.json and Health Bot/
 * HealthBot_CustomerManagedKey_Audit.json, both 1.0.0). */
static const char MS_DICOM_IF[] =
	"{\"allOf\": [{\"field\": \"type\", \"equals\": "
	"\"Microsoft.HealthcareApis/workspaces/dicomservices\"}, {\"anyOf\": "
	"[{\"field\": \"Microsoft.HealthcareApis/workspaces/dicomservices/"
	"encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl\", "
	"\"exists\": \"false\"}, {\"field\": \"Microsoft.HealthcareApis/"
	"workspaces/dicomservices/encryption.customerManagedKeyEncryption."
	"keyEncryptionKeyUrl\", \"equals\": \"\"}]}]}";
static const char MS_HEALTHBOT_IF[] =
	"{\"allOf\": [{\"field\": \"type\", \"equals\": "
	"\"Microsoft.HealthBot/healthBots\"}, {\"field\": "
	"\"Microsoft.HealthBot/healthBots/keyVaultProperties.keyVaultUri\", "
	"\"exists\": \"false\"}]}";

/* What guard's Health Bot definition refuses: Microsoft's condition, or a key
 * vault URI that is empty. */
static const char AZCMK_HEALTHBOT_IF[] =
	"{\"allOf\": [{\"field\": \"type\", \"equals\": "
	"\"Microsoft.HealthBot/healthBots\"}, {\"anyOf\": [{\"field\": "
	"\"Microsoft.HealthBot/healthBots/keyVaultProperties.keyVaultUri\", "
	"\"exists\": \"false\"}, {\"field\": "
	"\"Microsoft.HealthBot/healthBots/keyVaultProperties.keyVaultUri\", "
	"\"equals\": \"\"}]}]}";

/* guard's custom definitions: the built-in's condition as Microsoft publishes
 * it (Health Bot's also refusing an empty URI, with Microsoft's whole
 * condition as one branch), mode Indexed, an effect parameter allowing Deny
 * (its default), and, in a template, the rule's expression escaped so that ARM
 * stores it as it is. */
static void test_custom_definition(void **state)
{
	static const char *const IFS[] = { MS_DICOM_IF, AZCMK_HEALTHBOT_IF };
	struct json_object *ms_bot = json_tokener_parse(MS_HEALTHBOT_IF),
			   *azcmk_bot = json_tokener_parse(AZCMK_HEALTHBOT_IF);

	/* Microsoft's test of the URI is one of the two branches. */
	assert_true(json_object_equal(
		jx_at(jx_get(ms_bot, "allOf"), 1),
		jx_at(jx_get(jx_at(jx_get(azcmk_bot, "allOf"), 1), "anyOf"),
		      0)));
	json_object_put(ms_bot);
	json_object_put(azcmk_bot);

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct guard_assignment a = { &GUARD_BUILTINS[i], "Deny", true,
					      NULL };
		struct json_object *p = guard_custom_definition(&a, false),
				   *t = guard_custom_definition(&a, true),
				   *want = json_tokener_parse(IFS[i]);

		assert_non_null(want);
		assert_true(
			json_object_equal(jx_get(p, "policyRule.if"), want));
		assert_true(
			json_object_equal(jx_get(t, "policyRule.if"), want));
		assert_string_equal(jx_str(p, "mode"), "Indexed");
		assert_string_equal(jx_str(p, "policyRule.then.effect"),
				    "[parameters('effect')]");
		assert_string_equal(jx_str(t, "policyRule.then.effect"),
				    "[[parameters('effect')]");
		assert_string_equal(jx_str(p, "parameters.effect.defaultValue"),
				    "Deny");
		assert_true(jx_array_has_istr(
			jx_get(p, "parameters.effect.allowedValues"), "Deny"));
		assert_non_null(strstr(jx_str(p, "metadata.basedOn"),
				       GUARD_BUILTINS[i].guid));
		/* Within what Azure takes: display name 128, description 512.
		 */
		assert_true(strlen(jx_str(p, "displayName")) <= 128);
		assert_true(strlen(jx_str(p, "description")) <= 512);
		json_object_put(want);
		json_object_put(t);
		json_object_put(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_all_services),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_refused_effects),
		cmocka_unit_test(test_name_limit),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_current_subscription),
		cmocka_unit_test(test_deploy_hint_quoted),
		cmocka_unit_test(test_custom_definition),
	};

	setlocale(LC_ALL, "C");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
