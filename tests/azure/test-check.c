/* Integration tests of the check: the context fetched from the simulator and
 * the rules over it. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apply.h"
#include "azenv.h"
#include "fetch.h"
#include "http.h"
#include "jx.h"
#include "plan.h"
#include "policy-fixture.h"
#include "simtest.h"
#include "text.h"
#include "xalloc.h"

/* Checks one resource and adds "subject|rule" of every finding to got. */
static void check_into(struct azenv *v, const char *id, struct json_object *got)
{
	struct cmk_target t = { .resource = id };
	struct cmk_fetch f;
	struct cmk_report r;

	if (cmk_fetch(v->s, &t, &f, &v->e) != 0) {
		az_error_clear(&v->e);
		cmk_fetch_free(&f);
		return;
	}
	cmk_check(&f.ctx, &r);
	for (size_t i = 0; i < r.n; i++)
		azenv_pair(got, r.items[i].subject, r.items[i].rule->id);
	cmk_report_free(&r);
	cmk_fetch_free(&f);
}

/* Checking every resource of the demo tenant finds exactly what
 * demo-expected.json lists. */
static void test_demo_findings(void **state)
{
	struct azenv *v = azenv_start("demo.json", NULL, 0);
	struct json_object *got = json_object_new_object(),
			   *res = jx_get(v->t.doc, "resources");

	for (size_t i = 0; i < jx_len(res); i++) {
		const char *type = jx_str(jx_at(res, i), "type");

		if (svc_for_resource(type, jx_str(jx_at(res, i), "kind")) ||
		    str_ieq(type, "Microsoft.CognitiveServices/accounts") ||
		    str_ieq(type, "Microsoft.HealthBot/healthBots") ||
		    str_ieq(type, "Microsoft.HealthcareApis/workspaces/"
				  "dicomservices"))
			check_into(v, jx_str(jx_at(res, i), "id"), got);
	}
	azenv_expected(got, true);
	json_object_put(got);
	azenv_stop(v);
}

#define SUB "66666666-6666-4666-8666-666666666666"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-cmk-test"
#define KEY "https://kv-cmk-test.vault.azure.net/keys/cmk-test"

/* Runs a change check (a key named) and returns whether a rule failed. */
static bool change_fails(struct azenv *v, const char *resource, const char *key,
			 const char *identity, const char *rule,
			 int *round_trips)
{
	struct cmk_target t = { .resource = resource,
				.key_uri = key,
				.identity = identity };
	struct cmk_fetch f;
	struct cmk_report r;
	bool failed = false;

	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	if (round_trips)
		*round_trips = f.round_trips;
	cmk_check(&f.ctx, &r);
	for (size_t i = 0; i < r.n; i++)
		failed |= str_ieq(r.items[i].rule->id, rule);
	cmk_report_free(&r);
	cmk_fetch_free(&f);
	return failed;
}

/* Checking a change per service: by name or id, system or user identity, and
 * the blockers a fresh resource has. */
static void test_change_checks(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	int trips = 0;

	assert_true(change_fails(v, "oai-cmk-test", KEY, NULL,
				 "identity.key-access", &trips));
	/* A named key: the resource with the vault's lookup, then the vault's
	 * wave with Azure Policy's question. */
	assert_int_equal(trips, 2);
	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL,
				  "vault.purge-protection", NULL));
	assert_true(change_fails(v, "dicom-test", KEY, NULL, "key.versioned",
				 NULL));
	assert_false(change_fails(v, "dicom-test",
				  KEY "/4e070c1b76f1b2e831bf75857a09fd70", NULL,
				  "key.versioned", NULL));
	assert_true(change_fails(v, "fdy-cmk-test", KEY, NULL,
				 "resource.irreversible", NULL));
	assert_true(change_fails(
		v, RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test",
		KEY,
		RG "/providers/Microsoft.ManagedIdentity/"
		   "userAssignedIdentities/id-cmk-test",
		"identity.enabled", NULL));
	azenv_stop(v);
}

/* Fetches oai-cmk-test with its key in the vault a plan creates, kv-planned;
 * returns the vault's status and whether the planned vault was judged. */
static int fetch_planned(struct azenv *v, bool *judged)
{
	struct json_object *planned = plan_vault_planned(
		RG "/providers/Microsoft.KeyVault/vaults/kv-planned",
		"https://kv-planned.vault.azure.net/", "westus3",
		"11111111-1111-4111-8111-111111111111");
	struct cmk_target t = {
		.resource =
			RG "/providers/Microsoft.CognitiveServices/accounts/"
			   "oai-cmk-test",
		.key_uri = "https://kv-planned.vault.azure.net/keys/k1",
		.planned_vault = planned
	};
	struct cmk_fetch f;
	int status;

	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	*judged = f.vault == planned;
	status = f.ctx.vault_status;
	cmk_fetch_free(&f);
	json_object_put(planned);
	return status;
}

/*
 * A vault a plan creates is judged in its place only when the lookup
 * answered that no such vault exists; a lookup that failed says nothing,
 * and the vault stays unread (a plan must not rest on its absence).
 */
static void test_planned_vault_needs_absence(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	bool judged = false;

	(void)state;
	assert_int_equal(fetch_planned(v, &judged), 200);
	assert_true(judged);
	assert_int_equal(st_fault(&v->t, "{\"path\":\"/providers/"
					 "Microsoft.ResourceGraph/resources\","
					 "\"status\":500,\"times\":20}"),
			 201);
	assert_int_equal(st_fault(&v->t,
				  "{\"path\":\"/subscriptions/*/resources\","
				  "\"status\":500,\"times\":20}"),
			 201);
	assert_int_not_equal(fetch_planned(v, &judged), 200);
	assert_false(judged);
	/* A Resource Graph answer of 200 that is no readable table says
	 * nothing either. */
	{
		struct st_resp r;

		st_admin(&v->t, "DELETE", "/faults", NULL, &r);
		st_resp_free(&r);
	}
	assert_int_equal(st_fault(&v->t,
				  "{\"path\":\"/providers/"
				  "Microsoft.ResourceGraph/resources\","
				  "\"kind\":\"malformed\",\"times\":20}"),
			 201);
	assert_int_not_equal(fetch_planned(v, &judged), 200);
	assert_false(judged);
	azenv_stop(v);
}

/* Adds the deny policy to the simulator, enforced or not. */
static void add_policy(struct azenv *v, const char *mode)
{
	struct st_resp r;
	char *a = xasprintf(POLICY_ASSIGNMENT_FMT, mode);

	assert_int_equal(
		st_admin(&v->t, "PUT", "/resources", POLICY_DEFINITION, &r),
		200);
	st_resp_free(&r);
	assert_int_equal(st_admin(&v->t, "PUT", "/resources", a, &r), 200);
	st_resp_free(&r);
	free(a);
}

/* A named key in a vault that does not exist: the vault is missing (404), and
 * Azure Policy is still asked about the save, in a round trip of its own. */
static void test_named_key_no_vault(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	struct cmk_target t = {
		.resource = "oai-cmk-test",
		.key_uri = "https://kv-nowhere.vault.azure.net/keys/cmk-test"
	};
	struct cmk_fetch f;

	(void)state;
	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(f.ctx.vault_status, 404);
	assert_int_equal(f.ctx.policy_status, 200);
	assert_int_equal(f.round_trips, 2);
	cmk_fetch_free(&f);
	azenv_stop(v);
}

/* A deny assignment that covers the change is a policy.deny note, asked in the
 * vault's round trip (two in all); others are not. */
static void test_policy_deny(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	int trips = 0;

	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny",
				  NULL));
	add_policy(v, "Default");
	assert_true(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny",
				 &trips));
	assert_int_equal(trips, 2);
	assert_true(change_fails(v, "fdy-cmk-test", KEY, NULL, "policy.deny",
				 NULL));
	assert_false(change_fails(v, "dicom-test",
				  KEY "/4e070c1b76f1b2e831bf75857a09fd70", NULL,
				  "policy.deny", NULL));
	assert_false(
		change_fails(v, "hb-cmk-test", KEY, NULL, "policy.deny", NULL));
	add_policy(v, "DoNotEnforce");
	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny",
				  NULL));
	azenv_stop(v);
}

/* A missing resource, a resource of another kind and a bad key URI are errors,
 * worded with the name. */
static void test_errors(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	static const struct {
		const char *resource, *key, *want;
	} T[] = {
		{ "no-such-thing", NULL, "no-such-thing" },
		{ RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test", NULL,
		  "does not protect" },
		{ "oai-cmk-test",
		  "https://kv-cmk-test.vault.azure.net/secrets/x",
		  "its path is not /keys/NAME" },
		/* Another host is no vault named evil: refused before any
		   request goes there. */
		{ "oai-cmk-test", "https://evil.example.com/keys/x",
		  "is not a Key Vault or Managed HSM host" },
		{ "oai-cmk-test",
		  "https://kv-cmk-test.vault.azure.net.evil.example/keys/x",
		  "not a key azcmk can use" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct cmk_target t = { .resource = T[i].resource,
					.key_uri = T[i].key };
		struct cmk_fetch f;

		assert_int_equal(cmk_fetch(v->s, &t, &f, &v->e), -1);
		if (!strstr(v->e.message, T[i].want))
			fail_msg("'%s' not in: %s", T[i].want, v->e.message);
		cmk_fetch_free(&f);
		az_error_clear(&v->e);
	}
	azenv_stop(v);
}

#define CUSTOM_GUID "c0c0c0c0-6666-4666-8666-66666666c0c0"
#define OAI_PRINCIPAL "6666a003-6666-4666-8666-66666666a003"

#define MG "/providers/Microsoft.Management/managementGroups/mg-health"
#define VAULT RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test"

/* A custom role: where it is defined (its assignable scope), and where it is
 * assigned to the OpenAI identity. */
struct custom {
	const char *defined, *assigned;
	const char *data, *not_data, *condition;
	const char *want;
};

/*
 * Starts the simulator on minimal.json with a custom role (its data actions
 * and not-data-actions as given) assigned to the OpenAI account's identity,
 * with an ABAC condition if any, deny assignments (a JSON array) if any, and
 * ARM's lists cut to page_size items a page (0: the simulator's default).
 */
static struct azenv *with_custom_role(const struct custom *c,
				      const char *denies, int page_size)
{
	char *text = st_read_scenario("minimal.json"), *role, *ra;
	struct json_object *doc = json_tokener_parse(text), *o;
	struct azenv *v;

	/* The scenario keeps every definition under a subscription; the
	 * simulator serves it where it is assignable. */
	role = xasprintf("{\"id\":\"/subscriptions/" SUB
			 "/providers/Microsoft.Authorization/"
			 "roleDefinitions/" CUSTOM_GUID "\","
			 "\"name\":\"" CUSTOM_GUID
			 "\",\"type\":\"Microsoft.Authorization/"
			 "roleDefinitions\",\"properties\":"
			 "{\"roleName\":\"CMK key "
			 "wrapper\",\"type\":\"CustomRole\","
			 "\"assignableScopes\":[\"%s\"],"
			 "\"permissions\":[{\"actions\":[],\"notActions\":[],"
			 "\"dataActions\":[%s],\"notDataActions\":[%s]}]}}",
			 c->defined, c->data, c->not_data);
	ra = xasprintf(
		"{\"scope\":\"%s\",\"principalId\":\"" OAI_PRINCIPAL
		"\",\"roleDefinitionId\":\"" CUSTOM_GUID
		"\",\"name\":\"c1c1c1c1-6666-4666-8666-66666666c1c1\"%s%s%s}",
		c->assigned,
		c->condition ? ",\"conditionVersion\":\"2.0\",\"condition\":\""
			     : "",
		c->condition ? c->condition : "", c->condition ? "\"" : "");
	o = json_tokener_parse(role);
	assert_non_null(o);
	json_object_array_add(jx_get(doc, "resources"), o);
	o = json_tokener_parse(ra);
	assert_non_null(o);
	json_object_array_add(jx_get(doc, "roleAssignments"), o);
	if (denies) {
		o = json_tokener_parse(denies);
		assert_non_null(o);
		json_object_object_add(doc, "denyAssignments", o);
	}
	if (page_size)
		jx_set(doc, "settings.pageSize",
		       json_object_new_int(page_size));
	v = azenv_start_text(jx_text(doc), 0);
	json_object_put(doc);
	free(text);
	free(role);
	free(ra);
	return v;
}

/* Returns the verdict of a rule in a change check: "holds", "fails" or
 * "unknown". */
static const char *verdict_of(struct azenv *v, const char *resource,
			      const char *rule)
{
	struct cmk_target t = { .resource = resource, .key_uri = KEY };
	struct cmk_fetch f;
	struct cmk_report r;
	const char *got = "holds";

	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	cmk_check(&f.ctx, &r);
	for (size_t i = 0; i < r.n; i++)
		if (str_ieq(r.items[i].rule->id, rule))
			got = r.items[i].unknown ? "unknown" : "fails";
	cmk_report_free(&r);
	cmk_fetch_free(&f);
	return got;
}

/*
 * A custom role defined at the subscription is read by its own id (not at
 * the tenant root, where Azure does not find it) and judged as Azure does:
 * wildcards, not-data-actions subtracted; a condition makes it uncertain.
 */
static void test_custom_role(void **state)
{
	static const struct custom T[] = {
		{ "/subscriptions/" SUB, VAULT,
		  "\"Microsoft.KeyVault/vaults/keys/*\"", "", NULL, "holds" },
		{ "/subscriptions/" SUB, VAULT,
		  "\"Microsoft.KeyVault/vaults/keys/"
		  "read\",\"Microsoft.KeyVault/vaults/keys/wrap/action\","
		  "\"Microsoft.KeyVault/vaults/keys/unwrap/action\"",
		  "", NULL, "holds" },
		{ "/subscriptions/" SUB, VAULT,
		  "\"Microsoft.KeyVault/vaults/keys/*\"",
		  "\"Microsoft.KeyVault/vaults/keys/unwrap/action\"", NULL,
		  "fails" },
		{ "/subscriptions/" SUB, VAULT,
		  "\"Microsoft.KeyVault/vaults/secrets/*\"", "", NULL,
		  "fails" },
		{ "/subscriptions/" SUB, VAULT,
		  "\"Microsoft.KeyVault/vaults/keys/*\"", "",
		  "@Resource[Microsoft.KeyVault/vaults/keys:name] StringEquals "
		  "'cmk-test'",
		  "unknown" },
		/* Defined and assigned at a management group: inherited by the
		   vault, read at the group. */
		{ MG, MG, "\"Microsoft.KeyVault/vaults/keys/*\"", "", NULL,
		  "holds" },
		{ MG, MG, "\"Microsoft.KeyVault/*\"",
		  "\"Microsoft.KeyVault/vaults/keys/wrap/action\"", NULL,
		  "fails" },
		{ MG, VAULT, "\"Microsoft.KeyVault/vaults/keys/*\"", "", NULL,
		  "holds" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct azenv *v = with_custom_role(&T[i], NULL, 0);
		const char *got =
			verdict_of(v, "oai-cmk-test", "identity.key-access");

		if (strcmp(got, T[i].want) != 0)
			fail_msg("custom role %zu: identity.key-access %s, "
				 "wanted %s",
				 i, got, T[i].want);
		azenv_stop(v);
	}
}

/* Counts the requests the simulator logged whose path has needle. */
static int logged(struct azenv *v, const char *needle)
{
	return azenv_logged(v, "path", needle);
}

/* A custom role's definition is read once per session: a second check (an
 * audit's next resource) reuses it. */
static void test_role_memo(void **state)
{
	static const struct custom role = {
		"/subscriptions/" SUB,
		VAULT,
		"\"Microsoft.KeyVault/vaults/keys/*\"",
		"",
		NULL,
		NULL
	};
	struct azenv *v = with_custom_role(&role, NULL, 0);

	(void)state;
	assert_string_equal(
		verdict_of(v, "oai-cmk-test", "identity.key-access"), "holds");
	assert_string_equal(
		verdict_of(v, "oai-cmk-test", "identity.key-access"), "holds");
	assert_int_equal(logged(v, "/roleDefinitions/" CUSTOM_GUID), 1);
	azenv_stop(v);
}

/* A deny assignment of the keys' data actions at a scope, for a principal (or
 * Everyone), excluding some, as the scenario holds it. */
#define DENY_KEYS(scope, principal, exclude)                                   \
	"[{\"name\":\"d0d0d0d0-6666-4666-8666-66666666d0d0\","                 \
	"\"denyAssignmentName\":\"stack-lock\",\"scope\":\"" scope "\","       \
	"\"principals\":[{\"id\":\"" principal                                 \
	"\",\"type\":\"SystemDefined\"}],\"excludePrincipals\":[" exclude "]," \
	"\"permissions\":[{\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/" \
	"*\"]}]}]"
#define EVERYONE "00000000-0000-0000-0000-000000000000"

/*
 * Deny assignments are read at the vault and override the role: one that
 * may stop the identity (at the vault, a management group, for Everyone)
 * makes the verdict uncertain, naming it; one that excludes it does not.
 */
static void test_deny_assignment(void **state)
{
	static const struct {
		const char *denies, *want;
		int page_size;
	} T[] = {
		{ DENY_KEYS(VAULT, EVERYONE, ""), "unknown", 0 },
		{ DENY_KEYS(MG, OAI_PRINCIPAL, ""), "unknown", 0 },
		{ DENY_KEYS(VAULT, EVERYONE, "{\"id\":\"" OAI_PRINCIPAL "\"}"),
		  "holds", 0 },
		{ DENY_KEYS(RG "/providers/Microsoft.KeyVault/vaults/kv-other",
			    EVERYONE, ""),
		  "holds", 0 },
		/* One to a page: the deny assignment that applies comes on the
		   second page, and is read. */
		{ "[{\"name\":\"d0d0d0d0-6666-4666-8666-66666666d0d1\","
		  "\"denyAssignmentName\":\"secrets-lock\",\"scope\":"
		  "\"" VAULT "\",\"principals\":[{\"id\":\"" EVERYONE
		  "\"}],\"permissions\":[{\"dataActions\":"
		  "[\"Microsoft.KeyVault/vaults/secrets/*\"]}]},"
		  "{\"name\":\"d0d0d0d0-6666-4666-8666-66666666d0d0\","
		  "\"denyAssignmentName\":\"stack-lock\",\"scope\":\"" VAULT
		  "\",\"principals\":[{\"id\":\"" EVERYONE
		  "\"}],\"permissions\":[{\"dataActions\":[\"Microsoft."
		  "KeyVault/vaults/keys/*\"]}]}]",
		  "unknown", 1 },
	};
	static const struct custom role = {
		"/subscriptions/" SUB,
		VAULT,
		"\"Microsoft.KeyVault/vaults/keys/*\"",
		"",
		NULL,
		NULL
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct azenv *v =
			with_custom_role(&role, T[i].denies, T[i].page_size);
		const char *got =
			verdict_of(v, "oai-cmk-test", "identity.key-access");

		if (strcmp(got, T[i].want) != 0)
			fail_msg("deny assignment %zu: identity.key-access %s, "
				 "wanted %s",
				 i, got, T[i].want);
		azenv_stop(v);
	}
}

/* The challenge kv-cmk-test sends, in a fault rule. */
#define KV_CHALLENGE                                           \
	"\"wwwAuthenticate\":\"Bearer "                        \
	"authorization=\\\"https://login.microsoftonline.com/" \
	"11111111-1111-4111-8111-111111111111\\\", "           \
	"resource=\\\"https://vault.azure.net\\\"\""

/* The sign-in refused once (a credential revoked while the check runs). */
#define TOKEN_REFUSED                                    \
	"{\"method\":\"POST\",\"path\":\"*/oauth2/v2.0/" \
	"token\",\"status\":400,"                        \
	"\"body\":{\"error\":\"invalid_client\"},\"times\":1}"

/*
 * A read answered with anything but 200, 403 or 404 (Key Vault's 503 after
 * retries, malformed JSON, a 401 that a new token does not cure, 400, 409), or
 * left unanswered because signing in again failed: the rules resting on it are
 * "could not judge", never dropped (a dropped rule reads as holding).
 */
static void test_keyvault_unreadable(void **state)
{
	static const struct {
		const char *fault, *fault2, *rule, *before;
		bool granted; /* the identity holds a role on the key */
	} T[] = {
		{ "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/keys/"
		  "*\",\"status\":503}",
		  NULL, "key.enabled", "holds", false },
		{ "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/keys/"
		  "*\",\"status\":503}",
		  NULL, "key.rotation-policy", "fails", false },
		{ "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/keys/"
		  "*\",\"kind\":\"malformed\"}",
		  NULL, "key.enabled", "holds", false },
		{ "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/keys/"
		  "cmk-test\",\"status\":401,\"times\":20," KV_CHALLENGE "}",
		  NULL, "key.enabled", "holds", false },
		{ "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/keys/"
		  "cmk-test\",\"status\":400,\"code\":\"BadParameter\","
		  "\"times\":20}",
		  NULL, "key.enabled", "holds", false },
		{ "{\"method\":\"GET\",\"host\":\"management.azure.com\","
		  "\"path\":\"*/vaults/kv-cmk-test\",\"status\":409,\"code\":"
		  "\"Conflict\",\"times\":20}",
		  NULL, "vault.purge-protection", "holds", false },
		{ "{\"method\":\"GET\",\"host\":\"management.azure.com\","
		  "\"path\":\"*/vaults/kv-cmk-test\",\"status\":401,\"code\":"
		  "\"InvalidAuthenticationTokenTenant\",\"times\":20}",
		  NULL, "vault.purge-protection", "holds", false },
		{ "{\"method\":\"GET\",\"host\":\"management.azure.com\","
		  "\"path\":\"*/vaults/kv-cmk-test\",\"status\":401,\"code\":"
		  "\"ExpiredAuthenticationToken\",\"times\":1}",
		  TOKEN_REFUSED, "vault.purge-protection", "holds", false },
		{ "{\"method\":\"GET\",\"host\":\"management.azure.com\","
		  "\"path\":\"*/denyAssignments\",\"status\":401,\"code\":"
		  "\"ExpiredAuthenticationToken\",\"times\":1}",
		  TOKEN_REFUSED, "identity.key-access", "holds", true },
	};
	static const struct custom role = {
		"/subscriptions/" SUB,
		VAULT,
		"\"Microsoft.KeyVault/vaults/keys/*\"",
		"",
		NULL,
		NULL
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct azenv *v =
			T[i].granted ? with_custom_role(&role, NULL, 0)
				     : azenv_start("minimal.json", NULL, 1);
		const char *got;

		/* Signed in first: the refused sign-in is the one a 401 asks
		 * for. */
		got = verdict_of(v, "oai-cmk-test", T[i].rule);
		if (strcmp(got, T[i].before) != 0)
			fail_msg("case %zu: %s %s before the fault", i,
				 T[i].rule, got);
		assert_int_equal(st_fault(&v->t, T[i].fault), 201);
		if (T[i].fault2)
			assert_int_equal(st_fault(&v->t, T[i].fault2), 201);
		got = verdict_of(v, "oai-cmk-test", T[i].rule);
		if (strcmp(got, "unknown") != 0)
			fail_msg("case %zu: %s %s, wanted unknown", i,
				 T[i].rule, got);
		azenv_stop(v);
	}
}

/*
 * Resource Graph's lookup of the key's vault by name answers with another
 * vault (a lying or broken answer): that vault's settings are not judged as
 * the key's vault's. kv-cmk-test has purge protection off, kv-other on; the
 * rule is "could not judge", never "holds".
 */
static void test_lookup_names_other_vault(void **state)
{
	char *text = st_read_scenario("minimal.json");
	struct json_object *doc = json_tokener_parse(text), *res, *other = NULL;
	struct azenv *v;
	const char *got;

	(void)state;
	res = jx_get(doc, "resources");
	for (size_t i = 0; i < jx_len(res); i++)
		if (str_ieq(jx_str(jx_at(res, i), "id"), VAULT))
			other = jx_copy(jx_at(res, i));
	assert_non_null(other);
	for (size_t i = 0; i < jx_len(res); i++)
		if (str_ieq(jx_str(jx_at(res, i), "id"), VAULT))
			jx_set(jx_at(res, i),
			       "properties.enablePurgeProtection",
			       json_object_new_boolean(0));
	jx_set(other, "id",
	       json_object_new_string(
		       RG "/providers/Microsoft.KeyVault/vaults/kv-other"));
	jx_set(other, "name", json_object_new_string("kv-other"));
	jx_set(other, "properties.vaultUri",
	       json_object_new_string("https://kv-other.vault.azure.net/"));
	json_object_array_add(res, other);
	v = azenv_start_text(jx_text(doc), 0);
	json_object_put(doc);
	free(text);
	got = verdict_of(v, "oai-cmk-test", "vault.purge-protection");
	assert_string_equal(got, "fails");
	assert_int_equal(
		st_fault(&v->t,
			 "{\"method\":\"POST\",\"path\":\"/providers/"
			 "Microsoft.ResourceGraph/"
			 "resources\",\"requestContains\":"
			 "\"name =~ 'kv-cmk-test'\",\"status\":200,\"body\":{"
			 "\"totalRecords\":1,\"count\":1,\"resultTruncated\":"
			 "\"false\",\"data\":[{\"id\":\"" RG
			 "/providers/Microsoft.KeyVault/vaults/kv-other\"}]},"
			 "\"times\":5}"),
		201);
	got = verdict_of(v, "oai-cmk-test", "vault.purge-protection");
	assert_string_equal(got, "unknown");
	azenv_stop(v);
}

#define DICOM_ID                                                       \
	RG "/providers/Microsoft.HealthcareApis/workspaces/cmktestws/" \
	   "dicomservices/dicom-test"
#define DICOM_PRINCIPAL "6666a001-6666-4666-8666-66666666a001"
#define KEY_V2 "d6540493eed2bd7ff3d30647d1d92057"

/* Returns a rule's outcome on a resource's current setting (no change): "n/a",
 * "holds", "fails" or "unknown". */
static const char *outcome_of(struct azenv *v, const char *resource,
			      const char *rule)
{
	static const char *const names[] = { "n/a", "holds", "fails",
					     "unknown" };
	struct cmk_target t = { .resource = resource };
	struct cmk_finding f = { 0 };
	struct cmk_fetch fe;
	enum cmk_outcome got;

	if (cmk_fetch(v->s, &t, &fe, &v->e) != 0)
		fail_msg("%s", v->e.message);
	f.rule = cmk_rule_find(rule);
	assert_non_null(f.rule);
	got = cmk_judge(&fe.ctx, f.rule, &f);
	free(f.detail);
	cmk_fetch_free(&fe);
	return names[got];
}

/* Performs an admin switch of the simulator (a key, the clock), asserting it
 * took. */
static void admin(struct azenv *v, const char *path, const char *body)
{
	struct st_resp r = { 0 };

	assert_int_equal(st_admin(&v->t, "POST", path, body, &r), 200);
	st_resp_free(&r);
}

/* Puts minimal.json's DICOM service on the test key's version KEY_V2, with its
 * identity granted the key at the vault. */
static void dicom_on_key(struct json_object *doc)
{
	struct json_object *res = jx_get(doc, "resources");

	for (size_t k = 0; k < jx_len(res); k++)
		if (str_ieq(jx_str(jx_at(res, k), "id"), DICOM_ID))
			jx_set(jx_at(res, k),
			       "properties.encryption."
			       "customerManagedKeyEncryption."
			       "keyEncryptionKeyUrl",
			       json_object_new_string(KEY "/" KEY_V2));
	json_object_array_add(
		jx_get(doc, "roleAssignments"),
		json_tokener_parse(
			"{\"scope\":\"" VAULT
			"\",\"principalId\":\"" DICOM_PRINCIPAL
			"\",\"roleDefinitionId\":"
			"\"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"name\":"
			"\"d1c0d1c0-6666-4666-8666-66666666d1c0\"}"));
}

/* Saves the DICOM service again as it is (what azcmk refresh sends: the whole
 * resource, PUT). */
static void resave_dicom(struct azenv *v)
{
	struct az_req *get = az_session_req(v->s, AZ_ARM, "GET", DICOM_ID,
					    "2024-03-31", NULL),
		      *put;
	struct json_object *body;

	assert_int_equal(az_session_call(v->s, get, &v->e), 0);
	body = plan_writable(get->json);
	put = az_session_req(v->s, AZ_ARM, "PUT", DICOM_ID, "2024-03-31",
			     jx_text(body));
	assert_int_equal(az_session_call(v->s, put, &v->e), 0);
	json_object_put(body);
	az_req_free(get);
	az_req_free(put);
}

/*
 * A DICOM service on the test key, with access granted: its key is
 * disabled for a while, then enabled again. Past 30 minutes it needs a
 * refresh (Resource Health says unavailable) until it is saved again.
 */
static void test_lost_then_restored(void **state)
{
	static const struct {
		int64_t lost_for;
		const char *after_restore;
	} T[] = {
		{ 1900, "fails" },
		{ 600, "holds" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *text = st_read_scenario("minimal.json"),
		     *clock = xasprintf("{\"advanceSeconds\":%lld}",
					(long long)T[i].lost_for);
		struct json_object *doc = json_tokener_parse(text);
		struct azenv *v;

		dicom_on_key(doc);
		v = azenv_start_text(jx_text(doc), 0);
		assert_string_equal(
			outcome_of(v, DICOM_ID, "resource.refresh-needed"),
			"holds");
		admin(v, "/keys/kv-cmk-test/cmk-test/disable?version=" KEY_V2,
		      NULL);
		assert_string_equal(
			outcome_of(v, DICOM_ID, "resource.key-access-lost"),
			"fails");
		assert_string_equal(
			outcome_of(v, DICOM_ID, "resource.refresh-needed"),
			"n/a");
		admin(v, "/clock", clock);
		admin(v, "/keys/kv-cmk-test/cmk-test/enable?version=" KEY_V2,
		      NULL);
		assert_string_equal(
			outcome_of(v, DICOM_ID, "resource.key-access-lost"),
			"holds");
		if (strcmp(outcome_of(v, DICOM_ID, "resource.refresh-needed"),
			   T[i].after_restore) != 0)
			fail_msg("lost for %lld s: resource.refresh-needed is "
				 "not %s",
				 (long long)T[i].lost_for, T[i].after_restore);
		resave_dicom(v);
		assert_string_equal(
			outcome_of(v, DICOM_ID, "resource.refresh-needed"),
			"holds");
		azenv_stop(v);
		json_object_put(doc);
		free(clock);
		free(text);
	}
}

/*
 * Key Vault pages a key's versions 25 at a time, with nextLinks on
 * ":443", in no promised order: a disabled earlier version listed on the
 * second page is found, and the version in use is known by its attributes.
 */
static void test_versions_paged(void **state)
{
	char *text = st_read_scenario("minimal.json");
	struct json_object *doc = json_tokener_parse(text);
	struct json_object *vs = jx_get(doc, "keys.kv-cmk-test.cmk-test"),
			   *tmpl = jx_copy(jx_at(vs, 1));
	struct azenv *v;

	(void)state;
	for (int i = 0; i < 30; i++) {
		struct json_object *ver = jx_copy(tmpl);
		char id[33];

		snprintf(id, sizeof(id), "%032x", i + 1);
		jx_set(ver, "version", json_object_new_string(id));
		/* The 28th listed is the oldest, and disabled. */
		jx_set(ver, "attributes.created",
		       json_object_new_int64(i == 27 ? 1600000000
						     : 1700000000 + i));
		jx_set(ver, "attributes.enabled",
		       json_object_new_boolean(i != 27));
		json_object_array_add(vs, ver);
	}
	dicom_on_key(doc);
	v = azenv_start_text(jx_text(doc), 0);
	assert_string_equal(outcome_of(v, DICOM_ID, "key.earlier-versions"),
			    "fails");
	assert_true(logged(v, "/keys/cmk-test/versions") >= 2);
	azenv_stop(v);
	json_object_put(tmpl);
	json_object_put(doc);
	free(text);
}

#define MHSM                                                                  \
	"/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/" \
	"rg-prod-security/providers/"                                         \
	"Microsoft.KeyVault/managedHSMs/mhsm-ch-prod"
#define DEMO_OPERATOR "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"

/*
 * Starts the simulator on a scenario, fetches a target and judges one rule:
 * "n/a", "holds", "fails" or "unknown".
 */
static const char *judged_in(struct json_object *doc,
			     const struct cmk_target *t, const char *rule)
{
	static const char *const names[] = { "n/a", "holds", "fails",
					     "unknown" };
	struct azenv *v = azenv_start_text(jx_text(doc), 0);
	struct cmk_finding f = { .rule = cmk_rule_find(rule) };
	struct cmk_fetch fe;
	enum cmk_outcome got;

	assert_non_null(f.rule);
	if (cmk_fetch(v->s, t, &fe, &v->e) != 0)
		fail_msg("%s", v->e.message);
	got = cmk_judge(&fe.ctx, f.rule, &f);
	free(f.detail);
	cmk_fetch_free(&fe);
	azenv_stop(v);
	return names[got];
}

/*
 * Managed HSM: the operator's own local roles decide whether azcmk may grant
 * the key (an initial administrator may; Policy Administrator HSM-wide may).
 * One who cannot read the HSM's role assignments gets "could not judge", not
 * a verdict. The identity's access given on the key alone is found, though
 * the HSM-wide list does not show it (the demo's pathology service).
 */
static void test_hsm_can_assign(void **state)
{
	static const struct {
		bool admin;
		const char *extra_scope, *want;
	} T[] = {
		{ true, NULL, "holds" },
		{ false, NULL, "unknown" },
		{ false, "", "holds" },
		{ false, "/keys/other-key", "unknown" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *text = st_read_scenario("demo.json");
		struct json_object *doc = json_tokener_parse(text),
				   *res = jx_get(doc, "resources");
		struct cmk_target t = {
			.resource = "chprodimaging/dermatology",
			.key_uri = "https://mhsm-ch-prod.managedhsm.azure.net/"
				   "keys/cmk-hsm-dicom"
		};
		const char *got;

		for (size_t k = 0; k < jx_len(res); k++)
			if (str_ieq(jx_str(jx_at(res, k), "id"), MHSM) &&
			    !T[i].admin)
				jx_set(jx_at(res, k),
				       "properties.initialAdminObjectIds",
				       json_object_new_array());
		if (T[i].extra_scope) {
			char *ra = xasprintf(
				"{\"scope\":\"" MHSM
				"%s\",\"principalId\":\"" DEMO_OPERATOR "\","
				"\"roleDefinitionId\":\"4bd23610-cdcf-4971-"
				"bdee-bdc562cc28e4\",\"name\":"
				"\"7e7e7e7e-2222-4222-8222-7e7e7e7e7e7e\"}",
				T[i].extra_scope);

			json_object_array_add(jx_get(doc, "roleAssignments"),
					      json_tokener_parse(ra));
			free(ra);
		}
		got = judged_in(doc, &t, "operator.can-assign");
		if (strcmp(got, T[i].want) != 0)
			fail_msg("HSM case %zu: operator.can-assign %s, wanted "
				 "%s",
				 i, got, T[i].want);
		json_object_put(doc);
		free(text);
	}
}

#define VAULT RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test"
#define OAI_ID RG "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test"

#define OAI_PRINCIPAL "6666a003-6666-4666-8666-66666666a003"
#define OTHER_PRINCIPAL "6666a0ee-6666-4666-8666-66666666a0ee"

/* A caller's vault id, resource read, principal and key, the good and the
 * forged; what the fetch then sends and waits for. */
static const struct {
	const char *why, *vault_id, *resource_id, *principal, *expect_key;
	bool named, no_policy, no_access;
	int lookups, resource_reads, round_trips, policy_asks;
} HINTS[] = {
	{ "no hint", NULL, NULL, NULL, NULL, true, false, false, 1, 1, 2, 1 },
	{ "the vault's id: no lookup", VAULT, NULL, NULL, NULL, true, false,
	  false, 0, 1, 2, 1 },
	{ "the vault's id in other case",
	  RG "/providers/microsoft.keyvault/VAULTS/KV-CMK-TEST", NULL, NULL,
	  NULL, true, false, false, 0, 1, 2, 1 },
	{ "the vault's id and the resource just read: one wave", VAULT, OAI_ID,
	  NULL, NULL, true, false, false, 0, 0, 1, 1 },
	{ "a vault that does not exist: looked up after all",
	  RG "/providers/Microsoft.KeyVault/vaults/kv-elsewhere", NULL, NULL,
	  NULL, true, false, false, 1, 2, 4, 2 },
	/* Its "vault" read is a third read of the account. */
	{ "a resource that is not the key's vault: looked up after all", OAI_ID,
	  NULL, NULL, NULL, true, false, false, 1, 3, 4, 2 },
	{ "a read of another resource is not taken", VAULT,
	  RG "/providers/Microsoft.CognitiveServices/accounts/fdy-cmk-test",
	  NULL, NULL, true, false, false, 0, 1, 2, 1 },
	{ "the vault and the principal, no policy: one wave", VAULT, NULL,
	  OAI_PRINCIPAL, NULL, true, true, false, 0, 1, 1, 0 },
	/* The usual way is the plain one: the vault looked up by name too. */
	{ "a principal the resource does not have: read again", VAULT, NULL,
	  OTHER_PRINCIPAL, NULL, true, true, false, 1, 2, 3, 0 },
	{ "the principal with a forged vault id: read again",
	  RG "/providers/Microsoft.KeyVault/vaults/kv-elsewhere", NULL,
	  OAI_PRINCIPAL, NULL, true, true, false, 1, 2, 3, 0 },
	{ "the key in use as expected: one wave", VAULT, NULL, OAI_PRINCIPAL,
	  KEY, false, false, false, 0, 1, 1, 0 },
	/* The key in use is looked up by its vault's name: 3 round trips. */
	{ "a key the resource does not use: read again", VAULT, NULL,
	  OAI_PRINCIPAL, KEY "-other", false, false, false, 1, 2, 4, 0 },
	/* apply's preflight judges your permissions only. */
	{ "permissions only, no principal: one wave, no one's access read",
	  VAULT, NULL, NULL, NULL, true, true, true, 0, 1, 1, 0 },
};

/* Gives oai-cmk-test the key setting of a key in use, as a save leaves it. */
static void use_key(struct azenv *v)
{
	struct st_resp r;

	assert_int_equal(
		st_admin(&v->t, "PATCH", "/resources?id=" OAI_ID,
			 "{\"properties\":{\"encryption\":{\"keySource\":"
			 "\"Microsoft.KeyVault\",\"keyVaultProperties\":{"
			 "\"keyName\":\"cmk-test\",\"keyVaultUri\":"
			 "\"https://kv-cmk-test.vault.azure.net/\"}}}}",
			 &r),
		200);
	st_resp_free(&r);
}

/*
 * A vault id, a resource read, a principal and a key the caller gives (a
 * plan's, apply's) spare reads only when Azure's answers bear them out: a
 * vault id whose read is not the key's vault is looked up by name after all,
 * a read of another resource is read again, and a wave sent on the word of a
 * principal or a key the resource does not have is sent again the usual way.
 * The verdict is the same either way.
 */
static void test_fetch_hints(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);

	(void)state;
	use_key(v);
	for (size_t i = 0; i < sizeof(HINTS) / sizeof(HINTS[0]); i++) {
		struct st_resp r;
		struct json_object *read = NULL;
		struct cmk_target t = { .resource = OAI_ID,
					.key_uri = HINTS[i].named ? KEY : NULL,
					.vault_id = HINTS[i].vault_id,
					.principal = HINTS[i].principal,
					.expect_key = HINTS[i].expect_key,
					.no_policy = HINTS[i].no_policy,
					.no_access = HINTS[i].no_access };
		struct cmk_fetch f;
		int lookups, reads;

		if (HINTS[i].resource_id) {
			struct cmk_target u = { .resource =
							HINTS[i].resource_id };

			if (cmk_fetch(v->s, &u, &f, &v->e) != 0)
				fail_msg("%s", v->e.message);
			read = json_object_get(f.resource);
			cmk_fetch_free(&f);
			t.resource_read = read;
		}
		assert_int_equal(st_admin(&v->t, "DELETE", "/log", NULL, &r),
				 204);
		st_resp_free(&r);
		if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
			fail_msg("%s: %s", HINTS[i].why, v->e.message);
		lookups = logged(v, "Microsoft.ResourceGraph");
		reads = logged(v, "accounts/oai-cmk-test") -
			logged(v, "accounts/oai-cmk-test/providers");
		print_message("%s: %d lookups, %d reads, %d round trips\n",
			      HINTS[i].why, lookups, reads, f.round_trips);
		assert_int_equal(lookups, HINTS[i].lookups);
		assert_int_equal(reads, HINTS[i].resource_reads);
		assert_int_equal(f.round_trips, HINTS[i].round_trips);
		assert_int_equal(logged(v, "checkPolicyRestrictions"),
				 HINTS[i].policy_asks);
		assert_int_equal(f.ctx.vault_status, 200);
		assert_true(str_ieq(jx_str(f.vault, "id"), VAULT));
		/* What the next fetch may take as its vault id: the key's
		 * vault, as ARM answered, whatever the hint was. */
		assert_true(str_ieq(cmk_fetch_vault_id(&f), VAULT));
		assert_string_equal(jx_str(f.resource, "name"), "oai-cmk-test");
		assert_int_equal(f.ctx.key_status, 200);
		assert_string_equal(f.ctx.keyref.name, "cmk-test");
		assert_string_equal(cmk_principal(&f.ctx), OAI_PRINCIPAL);
		assert_int_equal(f.ctx.assignments_status,
				 HINTS[i].no_access ? 0 : 200);
		/* The wave sent on a wrong principal's word asked about it. */
		assert_int_equal(
			azenv_logged(v, "query",
				     "principalId eq '" OTHER_PRINCIPAL),
			HINTS[i].principal && strcmp(HINTS[i].principal,
						     OTHER_PRINCIPAL) == 0);
		cmk_fetch_free(&f);
		json_object_put(read);
	}
	azenv_stop(v);
}

/* Empties the simulator's request log. */
static void clear_log(struct azenv *v)
{
	struct st_resp r;

	assert_int_equal(st_admin(&v->t, "DELETE", "/log", NULL, &r), 204);
	st_resp_free(&r);
}

/*
 * cmk_fetch_many fetches the hinted cases of test_fetch_hints all at once and
 * gets what each gets alone: those that go in one wave go in one wave
 * together (forged hints among them), fewer waves than one after another,
 * what several read alike read once, and the others, and those whose reads
 * do not bear their hints out, the usual way after it.
 */
static void test_fetch_many(void **state)
{
	enum { MAX = sizeof(HINTS) / sizeof(HINTS[0]) };
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	struct cmk_target t[MAX];
	struct cmk_fetch f[MAX];
	struct az_error e[MAX];
	int rc[MAX], alone = 0, together;
	size_t n = 0, waves;

	(void)state;
	use_key(v);
	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < MAX; i++) {
		if (HINTS[i].resource_id)
			continue; /* a resource read is one fetch's own */
		t[n] = (struct cmk_target){ .resource = OAI_ID,
					    .key_uri =
						    HINTS[i].named ? KEY : NULL,
					    .vault_id = HINTS[i].vault_id,
					    .principal = HINTS[i].principal,
					    .expect_key = HINTS[i].expect_key,
					    .no_policy = HINTS[i].no_policy,
					    .no_access = HINTS[i].no_access };
		alone += HINTS[i].round_trips;
		n++;
	}
	clear_log(v);
	waves = az_http_waves(az_session_http(v->s));
	cmk_fetch_many(v->s, t, n, f, e, rc);
	waves = az_http_waves(az_session_http(v->s)) - waves;
	together = logged(v, "/");
	/* The same fetches one after another, for the count of requests. */
	clear_log(v);
	for (size_t i = 0; i < n; i++) {
		struct cmk_fetch g;

		if (cmk_fetch(v->s, &t[i], &g, &v->e) != 0)
			fail_msg("fetch %zu alone: %s", i, v->e.message);
		cmk_fetch_free(&g);
	}
	print_message("%zu fetches: %zu waves and %d requests together, %d "
		      "waves and %d requests alone\n",
		      n, waves, together, alone, logged(v, "/"));
	assert_true(waves < (size_t)alone);
	/* What several read alike (the vault, the key) is read once. */
	assert_true(together < logged(v, "/"));
	for (size_t i = 0; i < n; i++) {
		if (rc[i] != 0)
			fail_msg("fetch %zu: %s", i, e[i].message);
		assert_int_equal(f[i].ctx.vault_status, 200);
		assert_true(str_ieq(cmk_fetch_vault_id(&f[i]), VAULT));
		assert_string_equal(jx_str(f[i].resource, "name"),
				    "oai-cmk-test");
		assert_int_equal(f[i].ctx.key_status, 200);
		assert_string_equal(f[i].ctx.keyref.name, "cmk-test");
		assert_string_equal(cmk_principal(&f[i].ctx), OAI_PRINCIPAL);
		assert_int_equal(f[i].ctx.assignments_status,
				 t[i].no_access ? 0 : 200);
		cmk_fetch_free(&f[i]);
		az_error_clear(&e[i]);
	}
	azenv_stop(v);
}

/* Vault reads and the key's vault URI: whether the read's id may be handed to
 * the next fetch as its vault id. */
static const struct {
	const char *why, *vault, *key_vault_uri;
	bool hsm, taken;
} VAULT_IDS[] = {
	{ "the key's vault",
	  "{\"id\":\"" VAULT "\",\"properties\":{\"vaultUri\":"
	  "\"https://kv-cmk-test.vault.azure.net/\"}}",
	  "https://kv-cmk-test.vault.azure.net/", false, true },
	{ "the same URI without its slash, in capitals",
	  "{\"id\":\"" VAULT "\",\"properties\":{\"vaultUri\":"
	  "\"HTTPS://KV-CMK-TEST.VAULT.AZURE.NET\"}}",
	  "https://kv-cmk-test.vault.azure.net/", false, true },
	{ "another vault's read",
	  "{\"id\":\"" VAULT "\",\"properties\":{"
	  "\"vaultUri\":\"https://kv-other.vault.azure.net/\"}}",
	  "https://kv-cmk-test.vault.azure.net/", false, false },
	{ "a read without an id",
	  "{\"properties\":{\"vaultUri\":"
	  "\"https://kv-cmk-test.vault.azure.net/\"}}",
	  "https://kv-cmk-test.vault.azure.net/", false, false },
	{ "an HSM's read names its hsmUri, not a vaultUri",
	  "{\"id\":\"" VAULT "\",\"properties\":{\"vaultUri\":"
	  "\"https://kv-cmk-test.vault.azure.net/\"}}",
	  "https://kv-cmk-test.vault.azure.net/", true, false },
	{ "no vault read", NULL, "https://kv-cmk-test.vault.azure.net/", false,
	  false },
};

/* cmk_fetch_vault_id gives a read's vault id only when the read is the key's
 * own vault (a deep audit hands it to its next check). */
static void test_fetch_vault_id(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(VAULT_IDS) / sizeof(VAULT_IDS[0]); i++) {
		struct cmk_fetch f;
		const char *id;

		memset(&f, 0, sizeof(f));
		f.vault = VAULT_IDS[i].vault
				  ? json_tokener_parse(VAULT_IDS[i].vault)
				  : NULL;
		f.ctx.keyref.vault_uri = xstrdup(VAULT_IDS[i].key_vault_uri);
		f.ctx.keyref.hsm = VAULT_IDS[i].hsm;
		id = cmk_fetch_vault_id(&f);
		print_message("%s: %s\n", VAULT_IDS[i].why, id ? id : "none");
		if (VAULT_IDS[i].taken)
			assert_string_equal(id, VAULT);
		else
			assert_null(id);
		free(f.ctx.keyref.vault_uri);
		json_object_put(f.vault);
	}
}

/* apply's progress lines are not looked at here. */
static void quiet(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

/* Per service of minimal.json: the waves of requests (round trips waited in
 * sequence) and the requests an apply of a grant and a save sends after the
 * plan's fetch, tokens already taken. */
static const struct {
	const char *id;
	size_t waves, requests;
} APPLY_TRIPS[] = {
	/* preflight 1, grant 1, the read with the proof of access 1, save 1,
	 * poll 1, verification 1 */
	{ OAI_ID, 6, 30 },
	{ RG "/providers/Microsoft.CognitiveServices/accounts/fdy-cmk-test", 6,
	  30 },
	/* DICOM's save is a whole PUT: one more read right before it */
	{ RG "/providers/Microsoft.HealthcareApis/workspaces/cmktestws/"
	     "dicomservices/dicom-test",
	  7, 34 },
	{ RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test", 6, 30 },
};

/* Plans and applies one resource's change in process, tokens warm; returns the
 * apply's waves and requests. */
static void apply_counts(struct azenv *v, const char *id, size_t *waves,
			 size_t *requests)
{
	struct cmk_target t = { .resource = id,
				.key_uri = KEY,
				.confirmed = true };
	struct apply_opts ao = { .progress = quiet };
	struct plan_choices ch = { 0 };
	struct cmk_fetch f;
	struct cmk_report r;
	struct plan p;
	char *err = NULL;
	size_t w0, n0;

	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	f.ctx.change = true;
	cmk_check(&f.ctx, &r);
	if (plan_build(&f.ctx, &r, &ch, &p, &err) != 0)
		fail_msg("%s: %s", id, err);
	w0 = az_http_waves(az_session_http(v->s));
	n0 = (size_t)azenv_logged(v, "path", "");
	if (cmk_apply(v->s, &p, &ao, &v->e) != 0)
		fail_msg("%s: %s", id, v->e.message);
	*waves = az_http_waves(az_session_http(v->s)) - w0;
	*requests = (size_t)azenv_logged(v, "path", "") - n0;
	plan_free(&p);
	cmk_report_free(&r);
	cmk_fetch_free(&f);
}

/*
 * apply waits for as few answers in sequence as its safety allows: the
 * plan's vault id spares the lookups by name, the preflight's read gives the
 * principal, and the proof of access before the save takes the resource the
 * step has just read. A regression (or a gain) shows here, not in timings.
 */
static void test_apply_round_trips(void **state)
{
	char dir[] = "/tmp/azcmk-test-check-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("XDG_STATE_HOME", dir, 1);
	for (size_t i = 0; i < sizeof(APPLY_TRIPS) / sizeof(APPLY_TRIPS[0]);
	     i++) {
		struct azenv *v = azenv_start("minimal.json", NULL, 0);
		size_t waves, requests;

		apply_counts(v, APPLY_TRIPS[i].id, &waves, &requests);
		print_message("%s: %zu waves, %zu requests\n",
			      APPLY_TRIPS[i].id, waves, requests);
		assert_int_equal(waves, APPLY_TRIPS[i].waves);
		assert_int_equal(requests, APPLY_TRIPS[i].requests);
		azenv_stop(v);
	}
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	unsetenv("XDG_STATE_HOME");
}

/*
 * The question of a key's other users goes beside a fetch's reads: it is
 * answered by the time the fetch returns, at no wave of its own, and leaves
 * out the resource being changed by its id (Resource Graph need not know it).
 */
static void test_key_users_beside(void **state)
{
	char dir[] = "/tmp/azcmk-test-check-XXXXXX";
	const char *hb = RG "/providers/Microsoft.HealthBot/healthBots/"
			    "hb-cmk-test";
	struct key_suffixes sfx;
	struct key_ref k;
	const char *why;
	struct azenv *v;
	size_t waves, requests, w0;
	struct cmk_target t = { .resource = hb, .key_uri = KEY };
	struct cmk_fetch f;
	struct json_object *names;
	struct az_req *q;
	int64_t counted;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("XDG_STATE_HOME", dir, 1);
	v = azenv_start("minimal.json", NULL, 0);
	apply_counts(v, OAI_ID, &waves, &requests); /* oai-cmk-test uses KEY */
	sfx = az_session_key_suffixes(v->s);
	assert_true(key_ref_parse(KEY, &sfx, &k, &why));

	q = cmk_key_users_start(v->s, &k, NULL, 0, &v->e);
	assert_non_null(q);
	w0 = az_http_waves(az_session_http(v->s));
	if (cmk_fetch(v->s, &t, &f, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(az_http_waves(az_session_http(v->s)) - w0,
			 (size_t)f.round_trips);
	assert_true(az_req_done(q));
	names = cmk_key_users_finish(v->s, q, hb, &counted, &v->e);
	assert_int_equal(jx_len(names), 1);
	assert_string_equal(json_object_get_string(jx_at(names, 0)),
			    "oai-cmk-test");
	assert_int_equal(counted, -1);
	json_object_put(names);
	cmk_fetch_free(&f);

	/* An answer that gives some of the users (past its page, or cut
	 * short) says how many Resource Graph counts in all. */
	assert_int_equal(
		st_fault(&v->t,
			 "{\"path\":\"/providers/Microsoft.ResourceGraph/"
			 "resources\",\"requestContains\":"
			 "\"keyEncryptionKeyUrl\",\"status\":200,"
			 "\"times\":1,\"body\":{"
			 "\"totalRecords\":1500,\"count\":2,\"data\":[{"
			 "\"id\":\"/subscriptions/" SUB "/resourceGroups/r/"
			 "providers/Microsoft.HealthBot/healthBots/a\","
			 "\"name\":\"a\"},{\"id\":\"/subscriptions/" SUB
			 "/resourceGroups/r/providers/Microsoft.HealthBot/"
			 "healthBots/b\",\"name\":\"b\"}],"
			 "\"resultTruncated\":\"true\"}}"),
		201);
	q = cmk_key_users_start(v->s, &k, NULL, 0, &v->e);
	names = cmk_key_users_finish(v->s, q, hb, &counted, &v->e);
	assert_int_equal(jx_len(names), 2);
	assert_int_equal(counted, 1500);
	json_object_put(names);

	/* The resource being changed is not its own other user, whatever
	 * the case of its id. */
	q = cmk_key_users_start(v->s, &k, NULL, 0, &v->e);
	assert_non_null(q);
	names = cmk_key_users_finish(
		v->s, q,
		"/SUBSCRIPTIONS/" SUB "/resourcegroups/RG-CMK-TEST/providers/"
		"microsoft.cognitiveservices/accounts/OAI-CMK-TEST",
		&counted, &v->e);
	assert_non_null(names);
	assert_int_equal(jx_len(names), 0);
	json_object_put(names);

	/* A failed question is an error, not "no other user". */
	assert_int_equal(st_fault(&v->t, "{\"path\":\"/providers/"
					 "Microsoft.ResourceGraph/resources\","
					 "\"status\":400,\"times\":1}"),
			 201);
	q = cmk_key_users_start(v->s, &k, NULL, 0, &v->e);
	assert_non_null(q);
	assert_null(cmk_key_users_finish(v->s, q, hb, &counted, &v->e));
	assert_non_null(v->e.message);
	az_error_clear(&v->e);
	key_ref_free(&k);
	azenv_stop(v);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	unsetenv("XDG_STATE_HOME");
}

/* Runs the check's integration tests. */
/*
 * Managed HSM local roles, as Microsoft's table of permitted operations gives
 * them: only Crypto User and Crypto Service Encryption User may wrap and
 * unwrap. The Administrator "is not permitted to perform any key management
 * operations", the Crypto Officer only purges, recovers and exports keys
 * (learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles): granted
 * either on the key, the DICOM service's identity cannot use it.
 */
static void test_hsm_local_roles(void **state)
{
	static const struct {
		const char *role, *want;
	} T[] = {
		{ "33413926-3206-4cdd-b39a-83574fe37a17", "holds" },
		{ "21dbd100-6940-42c2-9190-5d6cb909625b", "holds" },
		{ "515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "fails" },
		{ "a290e904-7015-4bba-90c8-60543313cdb4", "fails" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *text = st_read_scenario("demo.json");
		struct json_object *doc = json_tokener_parse(text);
		struct cmk_target t = {
			.resource = "chprodimaging/dermatology",
			.key_uri = "https://mhsm-ch-prod.managedhsm.azure.net/"
				   "keys/cmk-hsm-dicom"
		};
		char *ra =
			xasprintf("{\"scope\":\"" MHSM "/keys/cmk-hsm-dicom\","
				  "\"principalId\":\"2222a003-2222-4222-8222-"
				  "22222222a003\","
				  "\"roleDefinitionId\":\"%s\",\"name\":"
				  "\"7e7e7e7e-2222-4222-8222-7e7e7e7e7e7f\"}",
				  T[i].role);
		const char *got;

		json_object_array_add(jx_get(doc, "roleAssignments"),
				      json_tokener_parse(ra));
		got = judged_in(doc, &t, "identity.key-access");
		if (strcmp(got, T[i].want) != 0)
			fail_msg("HSM role %s: identity.key-access %s, wanted "
				 "%s",
				 T[i].role, got, T[i].want);
		json_object_put(doc);
		free(text);
		free(ra);
	}
}

#define UAI_ID                                                            \
	RG "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" \
	   "id-cmk-test"
#define UAI_PRINCIPAL "6666b001-6666-4666-8666-66666666b001"
#define UAI_CLIENT "6666c001-6666-4666-8666-66666666c001"

/*
 * Starts the simulator on minimal.json with the OpenAI account on the test key
 * through both its identities, id-cmk-test attached, the key setting naming
 * the identity with client id named, and the Key Vault Crypto Service
 * Encryption User role at the vault for principal.
 */
static struct azenv *oai_both_identities(const char *named,
					 const char *principal)
{
	char *text = st_read_scenario("minimal.json"), *ra;
	struct json_object *doc = json_tokener_parse(text), *res, *oai = NULL;
	struct azenv *v;

	res = jx_get(doc, "resources");
	for (size_t i = 0; i < jx_len(res); i++)
		if (str_ieq(jx_str(jx_at(res, i), "id"), OAI_ID))
			oai = jx_at(res, i);
	assert_non_null(oai);
	jx_set(oai, "identity.type",
	       json_object_new_string("SystemAssigned, UserAssigned"));
	jx_set(oai, "identity.userAssignedIdentities",
	       json_tokener_parse("{\"" UAI_ID
				  "\":{\"principalId\":\"" UAI_PRINCIPAL
				  "\",\"clientId\":\"" UAI_CLIENT "\"}}"));
	jx_set(oai, "properties.encryption", json_object_new_object());
	jx_set(oai, "properties.encryption.keySource",
	       json_object_new_string("Microsoft.KeyVault"));
	jx_set(oai, "properties.encryption.keyVaultProperties",
	       json_tokener_parse("{\"keyName\":\"cmk-test\",\"keyVaultUri\":"
				  "\"https://kv-cmk-test.vault.azure.net/\","
				  "\"keyVersion\":\"" KEY_V2 "\"}"));
	jx_set(oai, "properties.encryption.keyVaultProperties.identityClientId",
	       json_object_new_string(named));
	ra = xasprintf("{\"scope\":\"" VAULT "\",\"principalId\":\"%s\","
		       "\"roleDefinitionId\":"
		       "\"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"name\":"
		       "\"6666e101-6666-4666-8666-66666666e101\","
		       "\"principalType\":\"ServicePrincipal\"}",
		       principal);
	json_object_array_add(jx_get(doc, "roleAssignments"),
			      json_tokener_parse(ra));
	v = azenv_start_text(jx_text(doc), 0);
	json_object_put(doc);
	free(text);
	free(ra);
	return v;
}

/*
 * The identity judged is the one the key setting names (identityClientId),
 * not the system-assigned one beside it: access held by the system-assigned
 * identity alone is no access; a client id no attached identity has leaves
 * the service without its key.
 */
static void test_identity_in_setting(void **state)
{
	static const struct {
		const char *named, *granted, *rule, *want;
	} T[] = {
		{ UAI_CLIENT, OAI_PRINCIPAL, "identity.key-access", "fails" },
		{ UAI_CLIENT, OAI_PRINCIPAL, "resource.key-access-lost",
		  "fails" },
		{ UAI_CLIENT, UAI_PRINCIPAL, "identity.key-access", "holds" },
		{ UAI_CLIENT, UAI_PRINCIPAL, "resource.key-access-lost",
		  "holds" },
		{ "6666c0ee-6666-4666-8666-66666666c0ee", OAI_PRINCIPAL,
		  "identity.enabled", "fails" },
		{ "6666c0ee-6666-4666-8666-66666666c0ee", OAI_PRINCIPAL,
		  "resource.key-access-lost", "fails" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct azenv *v = oai_both_identities(T[i].named, T[i].granted);
		const char *got = outcome_of(v, OAI_ID, T[i].rule);

		if (strcmp(got, T[i].want) != 0)
			fail_msg("case %zu: %s %s, wanted %s", i, T[i].rule,
				 got, T[i].want);
		azenv_stop(v);
	}
}

/*
 * A DICOM service with both kinds of identity on may use either: when the
 * user-assigned one is judged, the system-assigned one's access is read (its
 * own role assignments, not the chosen identity's list) and must hold too.
 * minimal.json's DICOM service on the test key, its system-assigned identity
 * granted or not; id-cmk-test attached beside it and granted.
 */
static void test_dicom_both(void **state)
{
	static const struct {
		bool sys_granted;
		const char *want;
	} T[] = {
		{ true, "holds" },
		{ false, "fails" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *text = st_read_scenario("minimal.json");
		struct json_object *doc = json_tokener_parse(text),
				   *res = jx_get(doc, "resources");
		struct cmk_target t = { .resource = DICOM_ID,
					.identity = UAI_ID };
		const char *got;

		dicom_on_key(doc);
		for (size_t k = 0; k < jx_len(res); k++)
			if (str_ieq(jx_str(jx_at(res, k), "id"), DICOM_ID)) {
				jx_set(jx_at(res, k), "identity.type",
				       json_object_new_string(
					       "SystemAssigned,UserAssigned"));
				jx_set(jx_at(res, k),
				       "identity.userAssignedIdentities",
				       json_tokener_parse("{\"" UAI_ID
							  "\":{\"principalId\":"
							  "\"" UAI_PRINCIPAL
							  "\",\"clientId\":"
							  "\"" UAI_CLIENT
							  "\"}}"));
			}
		if (!T[i].sys_granted) /* dicom_on_key's grant, taken back */
			json_object_array_del_idx(
				jx_get(doc, "roleAssignments"),
				jx_len(jx_get(doc, "roleAssignments")) - 1, 1);
		json_object_array_add(
			jx_get(doc, "roleAssignments"),
			json_tokener_parse("{\"scope\":\"" VAULT
					   "\",\"principalId\":\"" UAI_PRINCIPAL
					   "\",\"roleDefinitionId\":\"e147488a-"
					   "f6f5-4113-8e2d-b22465e65bf6\","
					   "\"name\":"
					   "\"d1c0d1c0-6666-4666-8666-"
					   "66666666d1c1\"}"));
		got = judged_in(doc, &t, "identity.dicom-both");
		if (strcmp(got, T[i].want) != 0)
			fail_msg("case %zu: identity.dicom-both %s, wanted %s",
				 i, got, T[i].want);
		json_object_put(doc);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_findings),
		cmocka_unit_test(test_change_checks),
		cmocka_unit_test(test_planned_vault_needs_absence),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_policy_deny),
		cmocka_unit_test(test_named_key_no_vault),
		cmocka_unit_test(test_custom_role),
		cmocka_unit_test(test_role_memo),
		cmocka_unit_test(test_deny_assignment),
		cmocka_unit_test(test_lost_then_restored),
		cmocka_unit_test(test_hsm_can_assign),
		cmocka_unit_test(test_versions_paged),
		cmocka_unit_test(test_keyvault_unreadable),
		cmocka_unit_test(test_lookup_names_other_vault),
		cmocka_unit_test(test_identity_in_setting),
		cmocka_unit_test(test_hsm_local_roles),
		cmocka_unit_test(test_dicom_both),
		cmocka_unit_test(test_fetch_hints),
		cmocka_unit_test(test_fetch_vault_id),
		cmocka_unit_test(test_fetch_many),
		cmocka_unit_test(test_apply_round_trips),
		cmocka_unit_test(test_key_users_beside),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
