/* Microsoft's own example responses (../shared/azure-api/examples) read as
 * azcmk reads them: every field it needs is there. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "profile.h"
#include "roles.h"
#include "rules.h"
#include "text.h"
#include "xalloc.h"

/* Where the examples are: AZCMK_EXAMPLES, else ../shared beside the source
 * tree. */
static char *examples_dir(void)
{
	const char *env = getenv("AZCMK_EXAMPLES"), *top = getenv("top_srcdir");

	return env && *env ? xstrdup(env)
			   : xasprintf("%s/../shared/azure-api/examples",
				       top && *top ? top : ".");
}

/* Returns an example's first successful response body (200, 201 or 202), a new
 * reference, or NULL. */
static struct json_object *example(const char *name)
{
	char *dir = examples_dir(), *path = xasprintf("%s/%s", dir, name);
	struct json_object *doc = json_object_from_file(path), *body = NULL;
	static const char *const codes[] = { "responses.200.body",
					     "responses.201.body",
					     "responses.202.body" };

	for (size_t i = 0; doc && !body && i < 3; i++)
		body = jx_get(doc, codes[i]);
	if (!doc)
		fail_msg("cannot read Microsoft's example %s", path);
	json_object_get(body);
	json_object_put(doc);
	free(path);
	free(dir);
	return body;
}

/* Reads a path through arrays (their first item), as "value.properties.scope"
 * names a list's field. */
static struct json_object *field(struct json_object *o, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;

	for (char *part = strtok_r(copy, ".", &save); part && o;
	     part = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = jx_at(o, 0);
		if (!json_object_object_get_ex(o, part, &o))
			o = NULL;
	}
	free(copy);
	return o;
}

/*
 * Each example and the fields azcmk reads from such an answer
 * (src/azure/fetch.c, src/core/rules.c, plan-req.c, survey.c): a field azcmk
 * names by another spelling than Microsoft's fails here.
 */
static const struct {
	const char *file;
	const char *fields[12];
} EXAMPLES[] = {
	{ "keyvault/getVault.json",
	  { "id", "name", "location", "properties.tenantId",
	    "properties.vaultUri", "properties.accessPolicies.objectId",
	    "properties.accessPolicies.permissions.keys",
	    "properties.publicNetworkAccess" } },
	{ "keyvault/createVaultWithNetworkAcls.json",
	  { "properties.networkAcls.defaultAction",
	    "properties.networkAcls.bypass",
	    "properties.networkAcls.ipRules" } },
	{ "keyvault/ManagedHsm_Get.json",
	  { "id", "properties.hsmUri", "properties.tenantId",
	    "properties.enablePurgeProtection",
	    "properties.initialAdminObjectIds" } },
	{ "keyvault/GetKey-example.json",
	  { "key.kid", "key.kty", "key.n", "key.key_ops", "attributes.enabled",
	    "attributes.created" } },
	{ "keyvault/GetKeyVersions-example.json",
	  { "value.kid", "value.attributes.enabled", "value.attributes.created",
	    "nextLink" } },
	{ "keyvault/GetKeyRotationPolicy-example.json",
	  { "lifetimeActions.action.type" } },
	{ "keyvault/getKey.json",
	  { "properties.keyUriWithVersion", "properties.kty" } },
	{ "keyvault/wrapKey-example.json", { "kid", "value" } },
	{ "authorization/RoleAssignments_ListForScope.json",
	  { "value.name", "value.properties.roleDefinitionId",
	    "value.properties.principalId", "value.properties.scope" } },
	{ "authorization/GetRoleDefinitionById.json",
	  { "name", "properties.permissions.actions",
	    "properties.permissions.dataActions",
	    "properties.permissions.notDataActions" } },
	{ "healthcareapis/DicomServices_Get.json",
	  { "id", "type", "identity.type", "identity.principalId",
	    "properties.provisioningState",
	    "properties.encryption.customerManagedKeyEncryption."
	    "keyEncryptionKeyUrl" } },
	{ "healthcareapis/OperationResultsGet.json", { "status" } },
	/* The healthcare agent's example has no provisioningState:
	   resource.ready takes none as ready. */
	{ "healthbot/ResourceInfoGet.json",
	  { "id", "type", "identity.type", "identity.principalId",
	    "systemData.createdAt" } },
	{ "cognitiveservices/GetAccount.json",
	  { "id", "type", "kind", "location",
	    "properties.provisioningState" } },
	{ "msi/IdentityGet.json",
	  { "id", "properties.principalId", "properties.clientId",
	    "properties.tenantId" } },
	{ "resourcegraph/ResourcesFirstPageQuery.json",
	  { "data", "$skipToken", "count" } },
	{ "resources/GetSubscriptions.json",
	  { "value.subscriptionId", "value.tenantId", "value.displayName" } },
};

/* Every example parses, and has every field azcmk reads from its kind of
 * answer. */
static void test_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(EXAMPLES) / sizeof(EXAMPLES[0]); i++) {
		struct json_object *body = example(EXAMPLES[i].file);

		if (!body)
			fail_msg("%s: no successful response body",
				 EXAMPLES[i].file);
		for (size_t k = 0; k < 12 && EXAMPLES[i].fields[k]; k++)
			if (!field(body, EXAMPLES[i].fields[k]))
				fail_msg("%s: no '%s'", EXAMPLES[i].file,
					 EXAMPLES[i].fields[k]);
		json_object_put(body);
	}
}

/* The service examples are recognised as the services azcmk protects, and the
 * key example's size is read. */
static void test_readers(void **state)
{
	static const struct {
		const char *file;
		enum svc_id svc;
	} SERVICES[] = {
		{ "healthcareapis/DicomServices_Get.json", SVC_DICOM },
		{ "healthbot/ResourceInfoGet.json", SVC_HEALTHBOT },
	};
	struct json_object *key = example("keyvault/GetKey-example.json");

	(void)state;
	for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) {
		struct json_object *r = example(SERVICES[i].file);
		const struct svc_profile *p =
			svc_for_resource(jx_str(r, "type"), jx_str(r, "kind"));

		if (!p || p->id != SERVICES[i].svc)
			fail_msg("%s: type '%s' is not recognised as its "
				 "service",
				 SERVICES[i].file, jx_str(r, "type"));
		json_object_put(r);
	}
	assert_true(cmk_key_bits(key) >= 2048);
	json_object_put(key);
	{
		/* The healthcare agent's answer without a provisioningState is
		 * ready, not blocked. */
		struct json_object *bot =
			example("healthbot/ResourceInfoGet.json");
		struct cmk_ctx c = { .svc = svc_by_key("healthbot"),
				     .resource = bot,
				     .now = 1784000000 };
		struct cmk_finding f = { .rule = cmk_rule_find(
						 "resource.ready") };

		assert_int_equal(cmk_judge(&c, f.rule, &f), OUT_HOLDS);
		free(f.detail);
		json_object_put(bot);
	}
}

/*
 * The whole check over Microsoft's DICOM service, vault, key, versions,
 * rotation policy and role assignments: every rule judges them, and each
 * finding has its message (no shape azcmk does not expect).
 */
static void test_check(void **state)
{
	struct json_object *res = example(
				   "healthcareapis/DicomServices_Get.json"),
			   *vault = example("keyvault/getVault.json");
	struct json_object *key = example("keyvault/GetKey-example.json"),
			   *vers = example(
				   "keyvault/GetKeyVersions-example.json");
	struct json_object *rot =
		example("keyvault/GetKeyRotationPolicy-example.json");
	struct json_object
		*ras = example(
			"authorization/RoleAssignments_ListForScope.json"),
		*roles = json_object_new_object();
	struct cmk_ctx c = { .svc = svc_for_resource(jx_str(res, "type"), NULL),
			     .resource = res,
			     .vault = vault,
			     .vault_status = 200,
			     .key = key,
			     .key_status = 200,
			     .versions = vers,
			     .versions_status = 200,
			     .rotation = rot,
			     .rotation_status = 200,
			     .assignments = jx_get(ras, "value"),
			     .assignments_status = 200,
			     .roles = roles,
			     .roles_status = 200,
			     .denies_status = 200,
			     .tenant = jx_str(vault, "properties.tenantId"),
			     .now = 1784000000 };
	static const struct key_suffixes sfx = { ".vault.azure.net",
						 ".managedhsm.azure.net" };
	struct cmk_report rep;
	const char *why;

	(void)state;
	assert_non_null(c.svc);
	/* The example's own vault URI goes through the one key parser, as every
	 * key reference does. */
	assert_true(key_ref_from_parts(jx_str(vault, "properties.vaultUri"),
				       "sdktestkey", NULL, &sfx, &c.keyref,
				       &why));
	assert_string_equal(c.keyref.vault, jx_str(vault, "name"));
	cmk_check(&c, &rep);
	assert_true(rep.checked > 0);
	for (size_t i = 0; i < rep.n; i++)
		if (!rep.items[i].message ||
		    strstr(rep.items[i].message, "(null)"))
			fail_msg("rule %s has no proper message",
				 rep.items[i].rule->id);
	cmk_report_free(&rep);
	key_ref_free(&c.keyref);
	json_object_put(roles);
	json_object_put(ras);
	json_object_put(rot);
	json_object_put(vers);
	json_object_put(key);
	json_object_put(vault);
	json_object_put(res);
}

/* Runs the tests over Microsoft's examples; skipped (77) where they are not
 * beside the tree, failed (99) in CI. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_readers),
		cmocka_unit_test(test_check),
	};
	char *dir = examples_dir(),
	     *probe = xasprintf("%s/keyvault/getVault.json", dir);
	FILE *f = fopen(probe, "r");

	free(probe);
	free(dir);
	if (!f) {
		const char *ci = getenv("CI");

		printf("test-examples: not run: Microsoft's examples are not "
		       "in ../shared/azure-api/examples\n");
		return ci && strcmp(ci, "true") == 0 ? 99 : 77;
	}
	fclose(f);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
