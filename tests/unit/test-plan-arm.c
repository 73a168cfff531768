/* Unit tests of the ARM template renderer: each service, identity kind, vault
 * kind and key choice, parsed back. */
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
#include "plan.h"
#include "rules.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define P1 "1111aaaa-0000-4000-8000-000000000001"
#define P2 "2222aaaa-0000-4000-8000-000000000002"
#define C2 "2222cccc-0000-4000-8000-000000000002"
#define T1 "7777aaaa-0000-4000-8000-000000000007"
#define UAI_ID                                           \
	"/subscriptions/s/resourceGroups/ids/providers/" \
	"Microsoft.ManagedIdentity/userAssignedIdentities/uai"
#define ROLE ROLE_CRYPTO_SERVICE_ENCRYPTION_USER
#define NEW_KEY "cmk-new"
#define VAULT_P "parameters('keyVaultName')"
#define KEY_P "parameters('keyName')"
#define UAI_P "parameters('userAssignedIdentityId')"
#define VAULT_URI "https://kv1.vault.azure.net/"

/* The resource of each service as Azure returns it, read-only fields included.
 */
static const struct svc_fixture RESOURCES[] = {
	{ "openai",
	  "{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	  "Microsoft.CognitiveServices/accounts/oai\","
	  "\"name\":\"oai\",\"type\":\"Microsoft.CognitiveServices/"
	  "accounts\",\"kind\":\"OpenAI\",\"location\":\"westus3\","
	  "\"sku\":{\"name\":\"S0\"},\"etag\":\"\\\"e1\\\"\",\"tags\":{"
	  "\"note\":\"[literal]\"},"
	  "\"systemData\":{\"createdAt\":\"2023-01-01T00:00:00Z\"},"
	  "\"properties\":{\"provisioningState\":\"Succeeded\","
	  "\"endpoint\":\"https://oai.openai.azure.com/"
	  "\",\"customSubDomainName\":\"oai\","
	  "\"capabilities\":[{\"name\":\"CustomerManagedKey\"}],\"encryption\":"
	  "{\"keySource\":\"Microsoft.CognitiveServices\"}}}" },
	{ "foundry",
	  "{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	  "Microsoft.CognitiveServices/accounts/fdy\","
	  "\"name\":\"fdy\",\"type\":\"Microsoft.CognitiveServices/"
	  "accounts\",\"kind\":\"AIServices\",\"location\":\"westus3\","
	  "\"sku\":{\"name\":\"S0\"},\"tags\":{\"note\":\"[literal]\"},"
	  "\"systemData\":{\"createdAt\":\"2024-01-01T00:00:00Z\"},"
	  "\"properties\":{\"provisioningState\":\"Succeeded\",\"endpoint\":"
	  "\"https://fdy.cognitiveservices.azure.com/\","
	  "\"internalId\":\"x\",\"capabilities\":[{\"name\":"
	  "\"CustomerManagedKey\"}],\"allowProjectManagement\":true,"
	  "\"encryption\":{\"keySource\":\"Microsoft.CognitiveServices\"}}}" },
	{ "dicom",
	  "{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	  "Microsoft.HealthcareApis/workspaces/ws/dicomservices/dcm\","
	  "\"name\":\"ws/dcm\",\"type\":\"Microsoft.HealthcareApis/workspaces/"
	  "dicomservices\",\"location\":\"westus3\","
	  "\"tags\":{\"note\":\"[literal]\"},\"etag\":\"\\\"e2\\\"\","
	  "\"systemData\":{\"createdAt\":\"2024-01-01T00:00:00Z\"},"
	  "\"properties\":{\"provisioningState\":\"Succeeded\",\"serviceUrl\":"
	  "\"https://ws-dcm.dicom.azurehealthcareapis.com\","
	  "\"authenticationConfiguration\":{\"authority\":\"https://"
	  "login.microsoftonline.com/t1\"},"
	  "\"publicNetworkAccess\":\"Enabled\",\"enableDataPartitions\":false}"
	  "}" },
	{ "healthbot",
	  "{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	  "Microsoft.HealthBot/healthBots/bot\","
	  "\"name\":\"bot\",\"type\":\"Microsoft.HealthBot/"
	  "healthBots\",\"location\":\"westus3\",\"sku\":{\"name\":\"F0\"},"
	  "\"tags\":{\"note\":\"[literal]\"},\"systemData\":{\"createdAt\":"
	  "\"2023-01-01T00:00:00Z\"},"
	  "\"properties\":{\"provisioningState\":\"Succeeded\","
	  "\"botManagementPortalLink\":\"https://portal\","
	  "\"accessControlMethod\":\"BotRBAC\"}}" },
};

static const char VAULT[] =
	"{\"id\":\"/subscriptions/s/resourceGroups/g/providers/"
	"Microsoft.KeyVault/vaults/kv1\",\"name\":\"kv1\","
	"\"type\":\"Microsoft.KeyVault/"
	"vaults\",\"location\":\"westus3\",\"tags\":{\"team\":\"sec\"},"
	"\"systemData\":{\"createdAt\":\"2023-01-01T00:00:00Z\"},"
	"\"properties\":{\"tenantId\":\"" T1 "\","
	"\"sku\":{\"family\":\"A\",\"name\":\"standard\"},\"vaultUri\":\"https:"
	"//kv1.vault.azure.net/\","
	"\"provisioningState\":\"Succeeded\",\"enableSoftDelete\":true,"
	"\"softDeleteRetentionInDays\":90,"
	"\"enablePurgeProtection\":true,\"enableRbacAuthorization\":true,"
	"\"networkAcls\":{\"defaultAction\":\"Allow\",\"bypass\":\"None\","
	"\"ipRules\":[{\"value\":\"192.0.2.1\"}]},"
	"\"accessPolicies\":[{\"tenantId\":\"" T1
	"\",\"objectId\":\"someone-else\",\"permissions\":{\"keys\":[\"get\"]}}"
	"]}}";
static const char KEY[] =
	"{\"key\":{\"kid\":\"https://kv1.vault.azure.net/keys/k/"
	"v1\",\"kty\":\"RSA\",\"key_ops\":[\"wrapKey\",\"unwrapKey\"],"
	"\"n\":\"" N2048 "\"},\"attributes\":{\"enabled\":true}}";
static const char ACCESS[] =
	"[{\"properties\":{\"principalId\":\"" P1
	"\",\"scope\":\"/subscriptions/s\",\"roleDefinitionId\":\"" ROLE "\"}},"
	"{\"properties\":{\"principalId\":\"" P2
	"\",\"scope\":\"/subscriptions/s\",\"roleDefinitionId\":\"" ROLE
	"\"}}]";
static const char ROLES[] =
	"{\"" ROLE "\":{\"properties\":{\"permissions\":[{\"dataActions\":["
	"\"Microsoft.KeyVault/vaults/keys/read\","
	"\"Microsoft.KeyVault/vaults/keys/wrap/action\",\"Microsoft.KeyVault/"
	"vaults/keys/unwrap/action\"]}]}}}";

/*
 * One case: a service and switches. uai: the service uses the user-assigned
 * identity; noid: the identity is not on the resource yet; create: a new key;
 * policy: an access-policy vault; firewall, nopurge: vault fixes; crossrg: the
 * vault is in another subscription and resource group; access: the identity
 * already has access; rotate: "create" names the key already in use; sysoff:
 * the system-assigned identity is turned off once the key is saved; pin: the
 * operator pins key version v1.
 */
struct row {
	const char *svc;
	const char *opts;
};

static const struct row ROWS[] = {
	{ "openai", "" },
	{ "openai", "create firewall" },
	{ "openai", "uai noid" },
	{ "openai", "policy uai create firewall" },
	{ "openai", "crossrg create noid firewall" },
	{ "foundry", "create uai" },
	{ "foundry", "noid firewall nopurge" },
	{ "foundry", "access uai" },
	{ "dicom", "" },
	{ "dicom", "create noid" },
	{ "dicom", "uai create firewall" },
	{ "dicom", "crossrg uai policy" },
	{ "healthbot", "policy firewall" },
	{ "healthbot", "create noid policy" },
	{ "healthbot", "access" },
	{ "healthbot", "crossrg create uai" },
	{ "openai", "create rotate" },
	{ "dicom", "create rotate firewall" },
	{ "openai", "uai sysoff" },
	{ "dicom", "uai noid create sysoff" },
	{ "healthbot", "access uai sysoff" },
	{ "openai", "pin" },
	{ "healthbot", "pin uai" },
	{ "dicom", "pin" },
};

/* The context a row runs on, the plan built from it and the template parsed
 * back; all owned. */
struct fixture {
	const struct row *r;
	struct cmk_ctx c;
	struct json_object *resource, *vault, *key, *assignments, *roles,
		*perms, *rotation, *uai, *versions;
	struct plan p;
	char *text;
	struct json_object *t;
};

/* Tells whether a row has a switch. */
static bool has(const struct row *r, const char *opt)
{
	return opt_has(r->opts, opt);
}

/*
 * Tells whether a row's plan turns the system-assigned identity off: asked
 * (sysoff), or by default for a DICOM service with a user-assigned identity,
 * as azcmk plan decides (cmd_system_off).
 */
static bool sysoff(const struct row *r)
{
	return has(r, "sysoff") || (strcmp(r->svc, "dicom") == 0 &&
				    has(r, "uai") && !has(r, "keep"));
}

/* Returns the fixture resource of a service. */
static const char *resource_json(const char *svc)
{
	return svc_fixture_json(RESOURCES,
				sizeof(RESOURCES) / sizeof(RESOURCES[0]), svc);
}

/* Gives the resource the identity a row describes. */
static void set_identity(struct json_object *res, const struct row *r)
{
	const char *both = svc_by_key(r->svc)->both_identities;
	char *id;

	if (has(r, "uai") && !has(r, "noid"))
		id = xasprintf("{\"type\":\"%s\",\"principalId\":\"" P1
			       "\",\"tenantId\":\"" T1 "\","
			       "\"userAssignedIdentities\":{\"" UAI_ID
			       "\":{\"principalId\":\"" P2
			       "\",\"clientId\":\"" C2 "\"}}}",
			       both);
	else if (has(r, "noid") && !has(r, "uai"))
		id = xstrdup("{\"type\":\"None\"}");
	else
		id = xstrdup(
			"{\"type\":\"SystemAssigned\",\"principalId\":\"" P1
			"\",\"tenantId\":\"" T1 "\"}");
	json_object_object_add(res, "identity", json_tokener_parse(id));
	free(id);
}

/* Builds a row's context, plans it, renders the template and parses it back. */
static void build(struct fixture *x, const struct row *r)
{
	struct plan_choices ch = { .create_key = has(r, "create"),
				   .new_key_name =
					   has(r, "rotate") ? "k" : NEW_KEY,
				   .system_off = sysoff(r) };
	bool fresh = has(r, "create") && !has(r, "rotate");
	struct cmk_report rep;
	char *err = NULL;

	memset(x, 0, sizeof(*x));
	x->r = r;
	x->resource = json_tokener_parse(resource_json(r->svc));
	assert_non_null(x->resource);
	set_identity(x->resource, r);
	x->vault = json_tokener_parse(VAULT);
	if (has(r, "crossrg"))
		jx_set(x->vault, "id",
		       json_object_new_string("/subscriptions/s2/"
					      "resourceGroups/kvrg/providers/"
					      "Microsoft.KeyVault/vaults/kv1"));
	if (has(r, "policy"))
		jx_set(x->vault, "properties.enableRbacAuthorization",
		       json_object_new_boolean(false));
	if (has(r, "firewall"))
		jx_set(x->vault, "properties.networkAcls.defaultAction",
		       json_object_new_string("Deny"));
	if (has(r, "nopurge"))
		jx_del(x->vault, "properties.enablePurgeProtection");
	if (has(r, "hsm")) {
		jx_set(x->vault, "id",
		       json_object_new_string(
			       "/subscriptions/s/resourceGroups/g/providers/"
			       "Microsoft.KeyVault/managedHSMs/kv1"));
		jx_set(x->vault, "type",
		       json_object_new_string(
			       "Microsoft.KeyVault/managedHSMs"));
	}
	x->key = json_tokener_parse(KEY);
	x->assignments = json_tokener_parse(has(r, "access") ? ACCESS : "[]");
	if (has(r, "access") && has(r, "policy"))
		fail_msg("row %s %s: access is for RBAC vaults", r->svc,
			 r->opts);
	x->roles = json_tokener_parse(ROLES);
	x->perms = json_tokener_parse("[{\"actions\":[\"*\"]}]");
	x->rotation = json_tokener_parse(
		"{\"lifetimeActions\":[{\"action\":{\"type\":\"Rotate\"}}]}");
	x->uai = json_tokener_parse("{\"id\":\"" UAI_ID
				    "\",\"properties\":{\"principalId\":\"" P2
				    "\",\"clientId\":\"" C2 "\","
				    "\"tenantId\":\"" T1 "\"}}");
	x->versions = json_tokener_parse(
		"[{\"kid\":\"https://kv1.vault.azure.net/keys/k/v1\","
		"\"attributes\":{\"enabled\":true}}]");
	x->c = (struct cmk_ctx){
		.svc = svc_by_key(r->svc),
		.resource = x->resource,
		.change = true,
		.confirmed = true,
		.keyref.vault = "kv1",
		.keyref.vault_uri =
			has(r, "hsm") ? "https://kv1.managedhsm.azure.net/"
				      : "https://kv1.vault.azure.net/",
		.keyref.hsm = has(r, "hsm"),
		.keyref.name = fresh ? NULL : "k",
		.keyref.version = has(r, "pin") ? "v1" : NULL,
		.user_identity = has(r, "uai"),
		.uai_id = UAI_ID,
		.uai = x->uai,
		.vault = x->vault,
		.vault_status = 200,
		.key = fresh ? NULL : x->key,
		.key_status = fresh ? 404 : 200,
		.versions = x->versions,
		.versions_status = 200,
		.rotation = x->rotation,
		.rotation_status = 200,
		.assignments = x->assignments,
		.roles = x->roles,
		.operator_perms = x->perms,
		.perms_status = 200,
		.tenant = T1,
		.now = NOW,
		.drop_system = sysoff(r)
	};
	cmk_check(&x->c, &rep);
	if (plan_build(&x->c, &rep, &ch, &x->p, &err) != 0)
		fail_msg("row %s %s: %s", r->svc, r->opts, err);
	cmk_report_free(&rep);
	x->text = plan_render_arm(&x->p, &x->c);
	assert_non_null(x->text);
	x->t = json_tokener_parse(x->text);
	if (!x->t)
		fail_msg("row %s %s: not JSON:\n%s", r->svc, r->opts, x->text);
}

/* Frees a fixture. */
static void unbuild(struct fixture *x)
{
	json_object_put(x->t);
	free(x->text);
	plan_free(&x->p);
	json_object_put(x->resource);
	json_object_put(x->vault);
	json_object_put(x->key);
	json_object_put(x->assignments);
	json_object_put(x->roles);
	json_object_put(x->perms);
	json_object_put(x->rotation);
	json_object_put(x->uai);
	json_object_put(x->versions);
}

/* Returns the first resource of a type in a list, or NULL. */
static struct json_object *by_type(struct json_object *list, const char *type)
{
	for (size_t i = 0; i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "type"), type))
			return jx_at(list, i);
	return NULL;
}

/* Returns the first resource whose name starts with a prefix, or NULL. */
static struct json_object *by_name(struct json_object *list, const char *prefix)
{
	for (size_t i = 0; i < jx_len(list); i++)
		if (str_istarts(jx_str(jx_at(list, i), "name"), prefix))
			return jx_at(list, i);
	return NULL;
}

/* Tells whether a resource's dependsOn holds an entry equal to want. */
static bool depends_on(struct json_object *r, const char *want)
{
	struct json_object *deps = jx_get(r, "dependsOn");

	for (size_t i = 0; i < jx_len(deps); i++)
		if (strcmp(json_object_get_string(jx_at(deps, i)), want) == 0)
			return true;
	return false;
}

/* Returns resourceId('sub', 'rg', type, names...) as the renderer writes it,
 * with brackets; the caller frees. */
static char *rid(const struct row *r, bool vault_side, const char *type,
		 const char *names)
{
	bool cross = vault_side && has(r, "crossrg");

	return xasprintf("[resourceId('%s', '%s', '%s', %s)]",
			 cross ? "s2" : "s", cross ? "kvrg" : "g", type, names);
}

/* The plan's key name for a row. */
static const char *key_of(const struct row *r)
{
	return has(r, "create") && !has(r, "rotate") ? NEW_KEY : "k";
}

/* Returns the expression of the key's resource id, without brackets; the caller
 * frees. */
static char *key_rid(const struct row *r)
{
	char *id = rid(r, true, "Microsoft.KeyVault/vaults/keys",
		       VAULT_P ", " KEY_P);
	char *bare = xstrndup(id + 1, strlen(id) - 2);

	free(id);
	return bare;
}

/* Returns the service resource's name as the renderer writes it: by its
 * parameters. */
static const char *res_name(const struct fixture *x)
{
	return strcmp(x->r->svc, "dicom") == 0
		       ? "[concat(parameters('workspaceName'), '/', "
			 "parameters('dicomServiceName'))]"
		       : "[parameters('resourceName')]";
}

/* Returns the service resource's id as the renderer writes it, with brackets;
 * the caller frees. */
static char *res_rid(const struct fixture *x)
{
	const char *names = strcmp(x->r->svc, "dicom") == 0
				    ? "parameters('workspaceName'), "
				      "parameters('dicomServiceName')"
				    : "parameters('resourceName')";

	return rid(x->r, false, svc_by_key(x->r->svc)->arm_type, names);
}

/* The expression the renderer should give for the service's principal. */
static char *principal_expr(const struct fixture *x)
{
	char *id, *out;

	if (has(x->r, "uai"))
		return xstrdup("[reference(" UAI_P
			       ", '2023-01-31').principalId]");
	id = res_rid(x);
	out = xasprintf("[reference(%.*s, '%s', 'Full').identity.principalId]",
			(int)strlen(id) - 2, id + 1,
			svc_by_key(x->r->svc)->api_version);
	free(id);
	return out;
}

/* Checks the top-level resources and where the vault-side ones are. */
static void check_types(struct fixture *x, struct json_object *top,
			struct json_object *side)
{
	const struct row *r = x->r;
	bool grant =
		!has(r, "access") || (has(r, "create") && !has(r, "rotate"));

	assert_int_equal(by_type(top, svc_by_key(r->svc)->arm_type) != NULL,
			 has(r, "noid"));
	assert_int_equal(by_type(side, "Microsoft.KeyVault/vaults") != NULL,
			 has(r, "firewall") || has(r, "nopurge"));
	assert_int_equal(by_type(side, "Microsoft.KeyVault/vaults/keys") !=
				 NULL,
			 has(r, "create"));
	assert_int_equal(
		by_type(side, "Microsoft.Authorization/roleAssignments") !=
			NULL,
		grant && !has(r, "policy"));
	assert_int_equal(
		by_type(side, "Microsoft.KeyVault/vaults/accessPolicies") !=
			NULL,
		grant && has(r, "policy"));
	assert_int_equal(jx_has(x->t, "metadata.description"),
			 grant || has(r, "rotate"));
	assert_int_equal(strstr(jx_str(x->t, "metadata.description")
					? jx_str(x->t, "metadata.description")
					: "",
				"cannot add a version") != NULL,
			 has(r, "rotate"));
	if (has(r, "crossrg")) {
		assert_null(by_type(top, "Microsoft.KeyVault/vaults/keys"));
		assert_null(by_type(top,
				    "Microsoft.Authorization/roleAssignments"));
		assert_null(by_type(
			top, "Microsoft.KeyVault/vaults/accessPolicies"));
	}
}

/* Returns the default the template gives a parameter, or NULL when it does not
 * declare it. */
static const char *param(const struct fixture *x, const char *name)
{
	return jx_str(jx_iget(jx_get(x->t, "parameters"), name),
		      "defaultValue");
}

/* Returns the last segment of the URL of the plan's role assignment step (the
 * name apply uses), or NULL. */
static const char *apply_name(const struct fixture *x)
{
	for (size_t i = 0; i < x->p.n; i++)
		if (x->p.steps[i].kind == STEP_ASSIGN_ROLE)
			return strrchr(x->p.steps[i].url, '/') + 1;
	return NULL;
}

/*
 * Checks the role assignment's name: apply's own name (a parameter whose
 * default is the step URL's last segment, the UUID v5 of scope, principal and
 * role) when the plan knows the principal; else a guid() the description owns
 * up to.
 */
static void check_role_name(struct fixture *x, struct json_object *role)
{
	bool known = !has(x->r, "noid") || has(x->r, "uai");
	const char *name = jx_str(role, "name"),
		   *why = jx_str(x->t, "metadata.description");
	char *scope =
		xasprintf("%s/keys/%s", jx_str(x->vault, "id"), key_of(x->r));
	char *want =
		plan_assignment_name(scope, has(x->r, "uai") ? P2 : P1, ROLE);

	if (known) {
		assert_string_equal(name, "[parameters('roleAssignmentName')]");
		assert_string_equal(param(x, "roleAssignmentName"),
				    apply_name(x));
		assert_string_equal(apply_name(x), want);
	} else {
		assert_true(str_istarts(name, "[guid(") &&
			    strstr(name, ", '" ROLE "')]"));
		assert_string_equal(apply_name(x), "{{assignmentName}}");
		assert_null(param(x, "roleAssignmentName"));
	}
	assert_int_equal(strstr(why ? why : "", "named by guid()") != NULL,
			 !known);
	free(scope);
	free(want);
}

/* Checks the grant: the role at key scope for the service's principal, or the
 * access policy; and what it waits on. */
static void check_grant(struct fixture *x, struct json_object *side,
			struct json_object *save)
{
	struct json_object *role =
		by_type(side, "Microsoft.Authorization/roleAssignments");
	struct json_object *pol =
		by_type(side, "Microsoft.KeyVault/vaults/accessPolicies");
	char *who = principal_expr(x), *key = key_rid(x->r), *want;

	if (role) {
		const char *name = jx_str(role, "name");

		assert_string_equal(
			jx_str(role, "scope"),
			"[concat('Microsoft.KeyVault/vaults/', " VAULT_P
			", '/keys/', " KEY_P ")]");
		assert_string_equal(jx_str(role, "properties.roleDefinitionId"),
				    "[subscriptionResourceId('Microsoft."
				    "Authorization/roleDefinitions', '" ROLE
				    "')]");
		assert_string_equal(jx_str(role, "properties.principalId"),
				    who);
		assert_string_equal(jx_str(role, "properties.principalType"),
				    "ServicePrincipal");
		check_role_name(x, role);
		want = xasprintf(
			"[extensionResourceId(%s, "
			"'Microsoft.Authorization/roleAssignments', %.*s)]",
			key, (int)strlen(name) - 2, name + 1);
		assert_int_equal(depends_on(save, want), !has(x->r, "crossrg"));
		free(want);
		want = xasprintf("[%s]", key);
		assert_int_equal(depends_on(role, want), has(x->r, "create"));
		free(want);
	}
	if (pol) {
		struct json_object *ap =
			jx_at(jx_get(pol, "properties.accessPolicies"), 0);

		assert_string_equal(jx_str(pol, "name"),
				    "[concat(" VAULT_P ", '/add')]");
		assert_string_equal(jx_str(ap, "objectId"), who);
		assert_string_equal(jx_str(ap, "tenantId"), T1);
		assert_string_equal(jx_text(jx_get(ap, "permissions.keys")),
				    "[\"get\",\"wrapKey\",\"unwrapKey\"]");
		want = rid(x->r, true,
			   "Microsoft.KeyVault/vaults/accessPolicies",
			   VAULT_P ", 'add'");
		assert_int_equal(depends_on(save, want), !has(x->r, "crossrg"));
		free(want);
	}
	free(who);
	free(key);
}

/* Checks the vault: the current one with its access policies and network rules,
 * the fixes merged in, no read-only. */
static void check_vault(struct fixture *x, struct json_object *side,
			struct json_object *save)
{
	struct json_object *v = by_type(side, "Microsoft.KeyVault/vaults");
	struct json_object *k = by_type(side, "Microsoft.KeyVault/vaults/keys");
	char *id = rid(x->r, true, "Microsoft.KeyVault/vaults", VAULT_P);

	if (v) {
		assert_string_equal(jx_str(v, "name"), "[" VAULT_P "]");
		assert_string_equal(param(x, "keyVaultName"), "kv1");
		assert_true(json_object_equal(
			jx_get(v, "properties.accessPolicies"),
			jx_get(x->vault, "properties.accessPolicies")));
		assert_true(json_object_equal(
			jx_get(v, "properties.networkAcls.ipRules"),
			jx_get(x->vault, "properties.networkAcls.ipRules")));
		assert_true(
			json_object_equal(jx_get(v, "properties.sku"),
					  jx_get(x->vault, "properties.sku")));
		assert_true(
			jx_bool(v, "properties.enablePurgeProtection", false));
		assert_true(jx_bool(v, "properties.enableSoftDelete", false));
		assert_string_equal(jx_str(v, "properties.networkAcls.bypass"),
				    has(x->r, "firewall") ? "AzureServices"
							  : "None");
		assert_string_equal(jx_str(v, "tags.team"), "sec");
		assert_null(jx_get(v, "id"));
		assert_null(jx_get(v, "systemData"));
		assert_null(jx_get(v, "properties.vaultUri"));
		assert_null(jx_get(v, "properties.provisioningState"));
		assert_int_equal(depends_on(save, id), !has(x->r, "crossrg"));
	}
	if (k) {
		const struct svc_profile *svc = svc_by_key(x->r->svc);

		assert_string_equal(jx_str(k, "name"),
				    "[concat(" VAULT_P ", '/', " KEY_P ")]");
		assert_string_equal(param(x, "keyVaultName"), "kv1");
		assert_string_equal(param(x, "keyName"), key_of(x->r));
		assert_string_equal(jx_str(k, "apiVersion"), "2023-07-01");
		assert_string_equal(jx_str(k, "properties.kty"), "RSA");
		/* A new version keeps the 2048 bits of the key it adds to
		 * (every service accepts them); a new key gets the largest size
		 * the service allows. */
		assert_int_equal(jx_int(k, "properties.keySize", 0),
				 has(x->r, "rotate")      ? 2048
				 : svc->id == SVC_OPENAI  ? 2048
				 : svc->id == SVC_FOUNDRY ? 4096
							  : 3072);
		assert_string_equal(jx_text(jx_get(k, "properties.keyOps")),
				    "[\"wrapKey\",\"unwrapKey\"]");
		assert_int_equal(depends_on(k, id), v != NULL);
	}
	free(id);
}

/* Checks the service resource the nested deployment saves: writable fields
 * only, the key set per service. */
static void check_save(struct fixture *x, struct json_object *save)
{
	struct json_object *in =
		jx_at(jx_get(save, "properties.template.resources"), 0);
	const struct svc_profile *svc = svc_by_key(x->r->svc);
	char *key = key_rid(x->r),
	     *uri = xasprintf("[reference(%s, '2023-07-01').keyUriWithVersion]",
			      key);
	char *ver = xasprintf("[last(split(reference(%s, "
			      "'2023-07-01').keyUriWithVersion, '/'))]",
			      key);
	const char *want_ver = has(x->r, "create") ? ver
			       : has(x->r, "pin") ? "[parameters('keyVersion')]"
						  : NULL;

	assert_string_equal(jx_str(save, "properties.mode"), "Incremental");
	assert_string_equal(
		jx_str(save, "properties.expressionEvaluationOptions.scope"),
		"inner");
	assert_string_equal(jx_str(save, "properties.template.$schema"),
			    "https://schema.management.azure.com/schemas/"
			    "2019-04-01/deploymentTemplate.json#");
	assert_int_equal(jx_len(jx_get(save, "properties.template.resources")),
			 1);
	assert_string_equal(jx_str(in, "type"), svc->arm_type);
	assert_string_equal(jx_str(in, "apiVersion"), svc->api_version);
	assert_string_equal(jx_str(in, "name"), res_name(x));
	assert_string_equal(jx_str(in, "location"), "[parameters('location')]");
	assert_string_equal(param(x, "location"), "westus3");
	assert_string_equal(jx_str(in, "tags.note"), "[[literal]");
	assert_null(jx_get(in, "id"));
	assert_null(jx_get(in, "etag"));
	assert_null(jx_get(in, "systemData"));
	assert_null(jx_get(in, "properties.provisioningState"));
	assert_null(jx_get(in, "identity.principalId"));
	assert_null(jx_get(in, "properties.capabilities"));
	assert_null(jx_get(in, "properties.endpoint"));
	assert_null(jx_get(in, "properties.serviceUrl"));
	assert_null(jx_get(in, "properties.botManagementPortalLink"));
	assert_string_not_equal(jx_str(in, "identity.type"), "None");
	/* The save leaves the identity the plan ends with: user-assigned only
	 * when the system-assigned one goes. */
	if (sysoff(x->r))
		assert_string_equal(jx_str(in, "identity.type"),
				    "UserAssigned");
	else if (has(x->r, "uai") && !has(x->r, "noid"))
		assert_true(strstr(jx_str(in, "identity.type"),
				   "SystemAssigned") != NULL);
	if (has(x->r, "uai")) {
		struct json_object *uai =
			jx_iget(jx_get(in, "identity.userAssignedIdentities"),
				"[" UAI_P "]");

		assert_non_null(uai);
		assert_null(jx_iget(
			jx_get(in, "identity.userAssignedIdentities"), UAI_ID));
		assert_string_equal(param(x, "userAssignedIdentityId"), UAI_ID);
		assert_int_equal(json_object_object_length(uai), 0);
	}
	if (svc->id == SVC_DICOM) {
		const char *url = jx_str(
			in, "properties.encryption."
			    "customerManagedKeyEncryption.keyEncryptionKeyUrl");

		assert_string_equal(
			url, has(x->r, "create")
				     ? uri
				     : "[parameters('keyEncryptionKeyUrl')]");
		if (!has(x->r, "create"))
			assert_string_equal(param(x, "keyEncryptionKeyUrl"),
					    VAULT_URI "keys/k/v1");
		assert_false(
			jx_bool(in, "properties.enableDataPartitions", true));
	} else {
		struct json_object *kvp = jx_get(
			in,
			svc->id == SVC_HEALTHBOT
				? "properties.keyVaultProperties"
				: "properties.encryption.keyVaultProperties");

		assert_string_equal(jx_str(kvp, "keyName"), "[" KEY_P "]");
		assert_string_equal(param(x, "keyName"), key_of(x->r));
		assert_string_equal(jx_str(kvp, "keyVaultUri"),
				    "[parameters('keyVaultUri')]");
		assert_string_equal(param(x, "keyVaultUri"), VAULT_URI);
		if (want_ver)
			assert_string_equal(jx_str(kvp, "keyVersion"),
					    want_ver);
		else
			assert_null(jx_get(kvp, "keyVersion"));
		if (has(x->r, "pin"))
			assert_string_equal(param(x, "keyVersion"), "v1");
		if ((svc->id == SVC_FOUNDRY || svc->id == SVC_OPENAI))
			assert_string_equal(
				jx_str(in, "properties.encryption.keySource"),
				"Microsoft.KeyVault");
		if (svc->id == SVC_HEALTHBOT && has(x->r, "uai"))
			assert_string_equal(jx_str(kvp, "userIdentity"),
					    "[" UAI_P "]");
		if ((svc->id == SVC_FOUNDRY || svc->id == SVC_OPENAI) &&
		    has(x->r, "uai"))
			assert_string_equal(jx_str(kvp, "identityClientId"),
					    "[reference(" UAI_P
					    ", '2023-01-31').clientId]");
	}
	free(key);
	free(uri);
	free(ver);
}

/* Checks the identity step: the service resource at top level, the nested save
 * waiting for it. */
static void check_identity(struct fixture *x, struct json_object *top,
			   struct json_object *save)
{
	const struct svc_profile *svc = svc_by_key(x->r->svc);
	struct json_object *res = by_type(top, svc->arm_type);
	char *id = res_rid(x);

	assert_int_equal(depends_on(save, id), res != NULL);
	if (res) {
		assert_string_equal(jx_str(res, "apiVersion"),
				    svc->api_version);
		assert_string_equal(jx_str(res, "name"), res_name(x));
		assert_string_equal(jx_str(res, "location"),
				    "[parameters('location')]");
		assert_null(jx_get(res, "dependsOn"));
		assert_null(jx_get(res, "properties.provisioningState"));
		assert_null(jx_get(res,
				   "properties.encryption.keyVaultProperties"));
		assert_string_equal(jx_str(res, "identity.type"),
				    has(x->r, "uai") ? svc->both_identities
						     : "SystemAssigned");
		if (has(x->r, "uai"))
			assert_non_null(jx_iget(
				jx_get(res, "identity.userAssignedIdentities"),
				"[" UAI_P "]"));
	}
	if (!res && !jx_len(jx_get(save, "dependsOn")))
		assert_true(has(x->r, "access") && !has(x->r, "create"));
	free(id);
}

/* Checks that the parameters a template declares are exactly those its
 * resources use. */
static void check_uses(struct json_object *tmpl)
{
	struct json_object *decl = jx_get(tmpl, "parameters");
	char *text = xstrdup(jx_text(jx_get(tmpl, "resources")));

	for (const char *s = text; (s = strstr(s, "parameters('")) != NULL;
	     s++) {
		const char *name = s + strlen("parameters('"),
			   *end = strchr(name, '\'');
		char *n = xstrndup(name,
				   end ? (size_t)(end - name) : strlen(name));

		if (!jx_iget(decl, n))
			fail_msg("parameter %s is used but not declared", n);
		free(n);
	}
	json_object_object_foreach(decl, k, v)
	{
		char *ref = xasprintf("parameters('%s')", k);

		(void)v;
		if (!strstr(text, ref))
			fail_msg("parameter %s is declared but not used", k);
		free(ref);
	}
	free(text);
}

/* Checks that each nested deployment declares the parameters it uses and is
 * passed each from the template's own. */
static void check_nested_params(struct json_object *top)
{
	for (size_t i = 0; i < jx_len(top); i++) {
		struct json_object *d = jx_at(top, i),
				   *decl = jx_get(
					   d, "properties.template.parameters");
		struct json_object *pass = jx_get(d, "properties.parameters");

		if (!str_ieq(jx_str(d, "type"),
			     "Microsoft.Resources/deployments"))
			continue;
		check_uses(jx_get(d, "properties.template"));
		assert_int_equal(json_object_object_length(pass),
				 json_object_object_length(decl));
		json_object_object_foreach(decl, k, v)
		{
			char *want = xasprintf("[parameters('%s')]", k);

			assert_string_equal(jx_str(v, "type"), "string");
			assert_null(jx_get(v, "defaultValue"));
			assert_string_equal(jx_str(jx_iget(pass, k), "value"),
					    want);
			free(want);
		}
	}
}

/* Returns the template with its parameters and description left out, as text;
 * the caller frees. */
static char *body_text(const struct fixture *x)
{
	struct json_object *copy = jx_copy(x->t);
	char *text;

	json_object_object_del(copy, "parameters");
	json_object_object_del(copy, "metadata");
	text = xstrdup(jx_text(copy));
	json_object_put(copy);
	return text;
}

/*
 * Checks the parameters: each declared with a type, a description and the
 * plan's value as default; the ones a row must have there, and none of their
 * values left as literals in the resources.
 */
static void check_params(struct fixture *x)
{
	const bool dicom = strcmp(x->r->svc, "dicom") == 0,
		   made = has(x->r, "create");
	/* want: 1 declared with that default, 0 not declared, -1 either
	 * (depends on the resources the row needs). */
	const struct {
		const char *name, *value;
		int want;
	} expect[] = {
		{ "location", "westus3", 1 },
		{ "workspaceName", "ws", dicom },
		{ "dicomServiceName", "dcm", dicom },
		{ "resourceName", jx_str(x->resource, "name"), !dicom },
		{ "keyVaultName", "kv1", -1 },
		{ "keyName", key_of(x->r), !dicom || made ? 1 : -1 },
		{ "keyVaultUri", VAULT_URI, !dicom },
		{ "keyVersion", "v1", !dicom && has(x->r, "pin") },
		{ "keyEncryptionKeyUrl", VAULT_URI "keys/k/v1",
		  dicom && !made },
		{ "userAssignedIdentityId", UAI_ID, has(x->r, "uai") },
	};
	char *text = body_text(x), *quoted = xasprintf("'%s'", key_of(x->r));

	json_object_object_foreach(jx_get(x->t, "parameters"), k, v)
	{
		assert_string_equal(jx_str(v, "type"), "string");
		assert_non_null(jx_str(v, "defaultValue"));
		if (!jx_str(v, "metadata.description"))
			fail_msg("parameter %s has no description", k);
	}
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		if (expect[i].want == 0)
			assert_null(param(x, expect[i].name));
		else if (expect[i].want == 1 || param(x, expect[i].name))
			assert_string_equal(param(x, expect[i].name),
					    expect[i].value);
	}
	check_uses(x->t);
	check_nested_params(jx_get(x->t, "resources"));
	assert_null(strstr(text, UAI_ID));
	assert_null(strstr(text, VAULT_URI));
	assert_null(strstr(text, "'kv1'"));
	assert_null(strstr(text, quoted));
	free(text);
	free(quoted);
}

/* Every row: the template parses, holds the right resources, and nothing is
 * left to fill in. */
static void test_arm_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		struct fixture x;
		struct json_object *top, *side, *save, *vdep;

		build(&x, &ROWS[i]);
		print_message("row %zu: %s %s\n", i, ROWS[i].svc, ROWS[i].opts);
		if (strstr(x.text, "{{"))
			fail_msg("row %zu: a placeholder is left:\n%s", i,
				 x.text);
		assert_string_equal(
			jx_str(x.t, "$schema"),
			"https://schema.management.azure.com/schemas/"
			"2019-04-01/deploymentTemplate.json#");
		assert_string_equal(jx_str(x.t, "contentVersion"), "1.0.0.0");
		top = jx_get(x.t, "resources");
		vdep = by_name(top, "azcmk-vault-");
		side = vdep ? jx_get(vdep, "properties.template.resources")
			    : top;
		save = by_name(top, "azcmk-save-");
		assert_non_null(save);
		assert_string_equal(jx_str(save, "type"),
				    "Microsoft.Resources/deployments");
		assert_int_equal(vdep != NULL,
				 has(&ROWS[i], "crossrg") &&
					 !has(&ROWS[i], "access"));
		if (vdep) {
			char *id = xasprintf("[resourceId('s2', 'kvrg', "
					     "'Microsoft.Resources/"
					     "deployments', '%s')]",
					     jx_str(vdep, "name")),
			     *res = res_rid(&x);

			assert_int_equal(depends_on(vdep, res),
					 has(&ROWS[i], "noid"));
			free(res);
			assert_string_equal(jx_str(vdep, "subscriptionId"),
					    "s2");
			assert_string_equal(jx_str(vdep, "resourceGroup"),
					    "kvrg");
			assert_string_equal(
				jx_str(vdep,
				       "properties.expressionEvaluationOptions."
				       "scope"),
				"inner");
			assert_true(depends_on(save, id));
			free(id);
		}
		check_types(&x, top, side);
		check_grant(&x, side, save);
		check_vault(&x, side, save);
		check_save(&x, save);
		check_identity(&x, top, save);
		check_params(&x);
		unbuild(&x);
	}
}

/*
 * On a Managed HSM the grant is a local role, which no template can make:
 * the template has no ARM role assignment, creates the key as an HSM key,
 * and its description says how to grant the role.
 */
static void test_arm_hsm(void **state)
{
	static const struct row rows[] = { { "dicom", "hsm create" },
					   { "openai", "hsm noid" } };

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fixture x;
		const char *why;

		build(&x, &rows[i]);
		print_message("hsm row %zu: %s %s\n", i, rows[i].svc,
			      rows[i].opts);
		assert_null(strstr(x.text,
				   "Microsoft.Authorization/roleAssignments"));
		why = jx_str(x.t, "metadata.description");
		assert_non_null(why);
		assert_non_null(strstr(
			why,
			"A template cannot grant a Managed HSM local role"));
		assert_non_null(strstr(
			why, "--hsm-name kv1 --role \"Managed HSM Crypto "
			     "Service Encryption User\" --scope /keys/"));
		assert_int_equal(
			strstr(x.text, "Microsoft.KeyVault/managedHSMs/keys") !=
				NULL,
			has(&rows[i], "create"));
		assert_non_null(
			by_name(jx_get(x.t, "resources"), "azcmk-save-"));
		unbuild(&x);
	}
}

/* A plan whose resource id is not an ARM id gives a template that changes
 * nothing and says why. */
static void test_arm_bad_id(void **state)
{
	struct fixture x;
	struct json_object *t;
	char *keep, *text;

	(void)state;
	build(&x, &ROWS[0]);
	keep = x.p.resource_id;
	x.p.resource_id = xstrdup("not-an-arm-id");
	text = plan_render_arm(&x.p, &x.c);
	t = json_tokener_parse(text);
	assert_non_null(t);
	assert_int_equal(jx_len(jx_get(t, "resources")), 0);
	assert_non_null(
		strstr(jx_str(t, "metadata.description"), "not-an-arm-id"));
	json_object_put(t);
	free(text);
	free(x.p.resource_id);
	x.p.resource_id = keep;
	unbuild(&x);
}

/* Runs the ARM renderer's unit tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arm_table),
		cmocka_unit_test(test_arm_bad_id),
		cmocka_unit_test(test_arm_hsm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
