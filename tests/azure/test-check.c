/* Integration tests of the check: the context fetched from the simulator and the rules over it. */
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

#include "azenv.h"
#include "fetch.h"
#include "jx.h"
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

/* Checking every resource of the demo tenant finds exactly what demo-expected.json lists. */
static void test_demo_findings(void **state)
{
	struct azenv *v = azenv_start("demo.json", NULL, 0);
	struct json_object *got = json_object_new_object(), *res = jx_get(v->t.doc, "resources");

	for (size_t i = 0; i < jx_len(res); i++) {
		const char *type = jx_str(jx_at(res, i), "type");

		if (svc_for_resource(type, jx_str(jx_at(res, i), "kind")) ||
		    str_ieq(type, "Microsoft.CognitiveServices/accounts") || str_ieq(type, "Microsoft.HealthBot/healthBots") ||
		    str_ieq(type, "Microsoft.HealthcareApis/workspaces/dicomservices"))
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
static bool change_fails(struct azenv *v, const char *resource, const char *key, const char *identity, const char *rule,
			 int *round_trips)
{
	struct cmk_target t = { .resource = resource, .key_uri = key, .identity = identity };
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

/* Checking a change per service: by name or id, system or user identity, and the blockers a fresh resource has. */
static void test_change_checks(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	int trips = 0;

	assert_true(change_fails(v, "oai-cmk-test", KEY, NULL, "identity.key-access", &trips));
	assert_true(trips <= 4);
	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL, "vault.purge-protection", NULL));
	assert_true(change_fails(v, "dicom-test", KEY, NULL, "key.versioned", NULL));
	assert_false(change_fails(v, "dicom-test", KEY "/4e070c1b76f1b2e831bf75857a09fd70", NULL, "key.versioned", NULL));
	assert_true(change_fails(v, "fdy-cmk-test", KEY, NULL, "resource.irreversible", NULL));
	assert_true(change_fails(v, RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test", KEY,
				 RG "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk-test", "identity.enabled", NULL));
	azenv_stop(v);
}

/* Adds the deny policy to the simulator, enforced or not. */
static void add_policy(struct azenv *v, const char *mode)
{
	struct st_resp r;
	char *a = xasprintf(POLICY_ASSIGNMENT_FMT, mode);

	assert_int_equal(st_admin(&v->t, "PUT", "/resources", POLICY_DEFINITION, &r), 200);
	st_resp_free(&r);
	assert_int_equal(st_admin(&v->t, "PUT", "/resources", a, &r), 200);
	st_resp_free(&r);
	free(a);
}

/* A deny assignment that covers the change is a policy.deny note, in the same round trips; others are not. */
static void test_policy_deny(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	int trips = 0;

	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny", NULL));
	add_policy(v, "Default");
	assert_true(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny", &trips));
	assert_true(trips <= 3);
	assert_true(change_fails(v, "fdy-cmk-test", KEY, NULL, "policy.deny", NULL));
	assert_false(change_fails(v, "dicom-test", KEY "/4e070c1b76f1b2e831bf75857a09fd70", NULL, "policy.deny", NULL));
	assert_false(change_fails(v, "hb-cmk-test", KEY, NULL, "policy.deny", NULL));
	add_policy(v, "DoNotEnforce");
	assert_false(change_fails(v, "oai-cmk-test", KEY, NULL, "policy.deny", NULL));
	azenv_stop(v);
}

/* A missing resource, a resource of another kind and a bad key URI are errors, worded with the name. */
static void test_errors(void **state)
{
	struct azenv *v = azenv_start("minimal.json", NULL, 0);
	static const struct { const char *resource, *key, *want; } T[] = {
		{ "no-such-thing", NULL, "no-such-thing" },
		{ RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test", NULL, "does not protect" },
		{ "oai-cmk-test", "https://kv-cmk-test.vault.azure.net/secrets/x", "not a key URI" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct cmk_target t = { .resource = T[i].resource, .key_uri = T[i].key };
		struct cmk_fetch f;

		assert_int_equal(cmk_fetch(v->s, &t, &f, &v->e), -1);
		if (!strstr(v->e.message, T[i].want))
			fail_msg("'%s' not in: %s", T[i].want, v->e.message);
		cmk_fetch_free(&f);
		az_error_clear(&v->e);
	}
	azenv_stop(v);
}

/* Runs the check's integration tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_findings),
		cmocka_unit_test(test_change_checks),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_policy_deny),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
