/* Integration tests of plan and apply, driving the azcmk program against the
 * simulator. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jx.h"
#include "plan.h"
#include "policy-fixture.h"
#include "sbuf.h"
#include "simtest.h"
#include "text.h"
#include "xalloc.h"

#define SUB "66666666-6666-4666-8666-666666666666"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-cmk-test"
#define KV "https://kv-cmk-test.vault.azure.net/keys/cmk-test"
#define UAI                                                               \
	RG "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" \
	   "id-cmk-test"
#define OAI RG "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test"

/* The end of azcmk()'s argument list, typed so the variadic call is well
 * defined. */
#define END ((char *)NULL)

static char dir[64];

/* A simulator, its CA file, and a place for plans, journals and output. */
struct env {
	struct simtest t;
	char ca[128], plan[128], out[128];
};

/* Names the files of a started simulator's run and writes its CA certificate.
 */
static void env_files(struct env *v)
{
	FILE *f;

	snprintf(v->ca, sizeof(v->ca), "%s/ca.pem", dir);
	snprintf(v->plan, sizeof(v->plan), "%s/plan.json", dir);
	snprintf(v->out, sizeof(v->out), "%s/out.txt", dir);
	f = fopen(v->ca, "w");
	if (!f || fputs(v->t.ca, f) < 0)
		fail_msg("cannot write %s", v->ca);
	fclose(f);
}

/* Starts the simulator on a scenario (with an optional merge patch). */
static struct env *env_start(const char *scenario, const char *merge)
{
	struct env *v = xcalloc(1, sizeof(*v));

	if (st_start(&v->t, scenario, merge) != 0)
		fail_msg("the simulator did not start");
	env_files(v);
	return v;
}

/* Stops the simulator and clears the journals. */
static void env_stop(struct env *v)
{
	char *cmd = xasprintf("rm -rf %s/state", dir);

	if (system(cmd) != 0)
		print_message("could not clear %s/state\n", dir);
	free(cmd);
	st_stop(&v->t);
	free(v);
}

/* Runs azcmk with arguments (NULL-terminated) against the simulator; output
 * goes to v->out; returns the exit status. */
static int azcmk(struct env *v, const char *crash_after, ...)
{
	const char *top = getenv("top_builddir");
	/* The test hooks live only in a test build of azcmk; the release
	 * program has none. */
	/* "" runs the test build with no hook armed (it alone knows the test
	 * locker). */
	char *prog = xasprintf("%s/%s", top ? top : ".",
			       crash_after ? "tests/azure/azcmk-hooks"
					   : "src/azcmk"),
	     *proxy = xasprintf("http://127.0.0.1:%d", v->t.proxy);
	char *state = xasprintf("%s/state", dir), *argv[32];
	va_list ap;
	int n = 0, status;
	pid_t pid;

	argv[n++] = prog;
	argv[n++] = "--ca-file";
	argv[n++] = v->ca;
	va_start(ap, crash_after);
	for (char *a; (a = va_arg(ap, char *)) != NULL && n < 30;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		FILE *o = freopen(v->out, "w", stdout);

		if (!o || dup2(fileno(stdout), 2) < 0)
			_exit(98);
		setenv("HTTPS_PROXY", proxy, 1);
		setenv("XDG_STATE_HOME", state, 1);
		setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST",
		       "http://127.0.0.1:9", 1);
		setenv("AZURE_TENANT_ID", jx_str(v->t.doc, "tenantId"), 1);
		setenv("AZURE_CLIENT_ID", jx_str(v->t.doc, "operator.clientId"),
		       1);
		setenv("AZURE_CLIENT_SECRET",
		       jx_str(v->t.doc, "operator.clientSecret"), 1);
		setenv("LANG", "C", 1);
		if (crash_after && !*crash_after)
			;
		else if (crash_after && strncmp(crash_after, "op:", 3) == 0)
			setenv("AZCMK_TEST_CRASH_IN_OPERATION", crash_after + 3,
			       1);
		else if (crash_after)
			setenv("AZCMK_TEST_CRASH_AFTER", crash_after, 1);
		execv(prog, argv);
		_exit(97);
	}
	waitpid(pid, &status, 0);
	free(prog);
	free(proxy);
	free(state);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int step_number(struct env *v, const char *kind);

/*
 * Skips a long test under valgrind (make check-valgrind sets
 * AZCMK_TEST_QUICK): the plain and sanitizer runs cover it, and valgrind
 * looks for leaks, which the other tests exercise on the same paths.
 */
#define SKIP_WHEN_QUICK()                                                     \
	do {                                                                  \
		if (getenv("AZCMK_TEST_QUICK")) {                             \
			print_message(                                        \
				"skipped under valgrind (AZCMK_TEST_QUICK): " \
				"long, covered by the other runs\n");         \
			skip();                                               \
		}                                                             \
	} while (0)

/* Returns the output of the last run (allocated). */
static char *output(struct env *v)
{
	FILE *f = fopen(v->out, "r");
	char *buf = xcalloc(1, 1 << 16);

	if (f) {
		size_t n = fread(buf, 1, (1 << 16) - 1, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* Asserts the last run's output contains text. */
static void assert_output(struct env *v, const char *text)
{
	char *o = output(v);

	if (!strstr(o, text))
		fail_msg("'%s' not in output:\n%s", text, o);
	free(o);
}

/* Asserts the last run's output does not contain text. */
static void assert_not_output(struct env *v, const char *text)
{
	char *o = output(v);

	if (strstr(o, text))
		fail_msg("'%s' should not be in output:\n%s", text, o);
	free(o);
}

/* Reads a resource from the simulator's state. */
static struct json_object *state_resource(struct env *v, const char *id)
{
	struct st_resp r;
	struct json_object *found = NULL, *list;

	st_admin(&v->t, "GET", "/state", NULL, &r);
	list = jx_get(r.json, "resources");
	for (size_t i = 0; i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "id"), id))
			found = json_object_get(jx_at(list, i));
	st_resp_free(&r);
	return found;
}

/* Counts the requests the simulator logged with a method whose path contains
 * needle. */
static int writes(struct env *v, const char *method, const char *needle)
{
	struct st_resp r;
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++) {
		struct json_object *e = jx_at(log, i);

		if (str_ieq(jx_str(e, "method"), method) &&
		    strstr(jx_str(e, "path"), needle) &&
		    jx_int(e, "status", 0) < 300)
			n++;
	}
	st_resp_free(&r);
	return n;
}

/* Plans and applies one change; asserts both succeed. */
static void plan_apply(struct env *v, const char *resource, const char *key,
		       const char *extra, const char *extra2)
{
	int rc = azcmk(v, NULL, "plan", resource, "--key", key, "--file",
		       v->plan, extra, extra2, END);

	if (rc != 0) {
		char *o = output(v);

		fail_msg("plan exited %d:\n%s", rc, o);
	}
	rc = azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
		   v->plan, END);
	if (rc != 0) {
		char *o = output(v);

		fail_msg("apply exited %d:\n%s", rc, o);
	}
}

/* The key setting of a resource, per service, as text. */
static const char *key_setting(struct json_object *r)
{
	const char *k =
		jx_str(r, "properties.encryption.customerManagedKeyEncryption."
			  "keyEncryptionKeyUrl");

	if (!k)
		k = jx_str(r, "properties.keyVaultProperties.keyName");
	if (!k)
		k = jx_str(r,
			   "properties.encryption.keyVaultProperties.keyName");
	return k ? k : "";
}

/* The four services end to end: plan, apply, and the key in the simulator's
 * state. */
static void test_four_services(void **state)
{
	static const struct {
		const char *name, *id, *key, *extra, *extra2, *want;
	} T[] = {
		{ "openai",
		  RG "/providers/Microsoft.CognitiveServices/accounts/"
		     "oai-cmk-test",
		  KV, NULL, NULL, "cmk-test" },
		{ "foundry",
		  RG "/providers/Microsoft.CognitiveServices/accounts/"
		     "fdy-cmk-test",
		  KV, "--confirm-irreversible", NULL, "cmk-test" },
		{ "dicom",
		  RG "/providers/Microsoft.HealthcareApis/workspaces/cmktestws/"
		     "dicomservices/dicom-test",
		  KV, NULL, NULL, KV "/d6540493eed2bd7ff3d30647d1d92057" },
		{ "healthbot (user-assigned)",
		  RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test",
		  KV, "--identity", UAI, "cmk-test" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct env *v = env_start("minimal.json", NULL);
		struct json_object *r;

		print_message("service: %s\n", T[i].name);
		plan_apply(v, T[i].id, T[i].key, T[i].extra, T[i].extra2);
		assert_output(v, "now uses key cmk-test");
		r = state_resource(v, T[i].id);
		assert_string_equal(key_setting(r), T[i].want);
		assert_string_equal(jx_str(r, "properties.provisioningState"),
				    "Succeeded");
		if (T[i].extra2)
			assert_string_equal(
				jx_str(r, "properties.keyVaultProperties."
					  "userIdentity"),
				UAI);
		json_object_put(r);
		assert_int_equal(
			writes(v, "PUT",
			       "/keys/cmk-test/providers/"
			       "Microsoft.Authorization/roleAssignments/"),
			1);
		env_stop(v);
	}
}

#define LOCKER RG "/providers/Azcmk.Test/lockers/lk-cmk-test"
#define LOCKER_OID "6666a0ff-6666-4666-8666-66666666a0ff"

/* Starts the simulator on minimal.json with the test locker, a service only the
 * test build of azcmk knows. */
static struct env *env_start_locker(void)
{
	char *text = st_read_scenario("minimal.json"), *err = NULL;
	struct json_object *doc = json_tokener_parse(text);
	struct json_object *locker = json_tokener_parse(
		"{\"id\": \"" LOCKER "\", \"type\": \"Azcmk.Test/lockers\", "
		"\"name\": \"lk-cmk-test\", "
		"\"location\": \"westus3\", \"identity\": {\"type\": "
		"\"SystemAssigned\", \"principalId\": \"" LOCKER_OID
		"\", \"tenantId\": \"11111111-1111-4111-8111-111111111111\"}, "
		"\"properties\": {\"provisioningState\": \"Succeeded\"}}");
	struct json_object *principal = json_tokener_parse(
		"{\"objectId\": \"" LOCKER_OID "\", \"type\": "
		"\"ServicePrincipal\", \"displayName\": \"lk-cmk-test\"}");
	struct env *v = xcalloc(1, sizeof(*v));

	json_object_array_add(jx_get(doc, "resources"), locker);
	json_object_array_add(jx_get(doc, "principals"), principal);
	if (st_start_text(&v->t, jx_text(doc), &err) != 0)
		fail_msg("the simulator did not start: %s", err ? err : "?");
	json_object_put(doc);
	free(text);
	env_files(v);
	return v;
}

/*
 * A fifth service is its profile row: the test locker (src/core/profile.c,
 * test build only) and its simulator handler (src/sim/locker.c) go through
 * check, plan and apply with no other code knowing it, and the key it ends
 * with is the one asked, reached by the role azcmk granted.
 */
static void test_fifth_service(void **state)
{
	struct env *v = env_start_locker();
	struct json_object *r;
	int rc;

	(void)state;
	/* Before: Microsoft-managed keys, and the locker's identity cannot use
	 * the key. */
	rc = azcmk(v, "", "check", LOCKER, "--key", KV, END);
	assert_int_not_equal(rc, 0);
	assert_output(v, "identity.key-access");
	assert_output(v, "lk-cmk-test");
	/* The release build knows no such service, and says which it protects.
	 */
	rc = azcmk(v, NULL, "check", LOCKER, "--key", KV, END);
	assert_int_not_equal(rc, 0);
	assert_output(v, "does not protect");
	rc = azcmk(v, "", "plan", LOCKER, "--key", KV, "--file", v->plan, END);
	assert_int_equal(rc, 0);
	rc = azcmk(v, "", "--yes", "--propagation-wait", "0", "apply", v->plan,
		   END);
	if (rc != 0)
		fail_msg("apply exited %d:\n%s", rc, output(v));
	assert_output(v, "now uses key cmk-test");
	r = state_resource(v, LOCKER);
	assert_string_equal(jx_str(r, "properties.lockerKey.keyName"),
			    "cmk-test");
	assert_string_equal(jx_str(r, "properties.lockerKey.keyVaultUri"),
			    "https://kv-cmk-test.vault.azure.net/");
	json_object_put(r);
	assert_int_equal(writes(v, "PUT",
				"/keys/cmk-test/providers/"
				"Microsoft.Authorization/roleAssignments/"),
			 1);
	assert_int_equal(writes(v, "PATCH", "/lockers/lk-cmk-test"), 1);
	/* After: the same check holds. */
	rc = azcmk(v, "", "check", LOCKER, END);
	if (rc != 0)
		fail_msg("check after apply exited %d:\n%s", rc, output(v));
	env_stop(v);
}

/* An access-policy vault gets an access policy instead of a role. */
static void test_access_policy_vault(void **state)
{
	struct env *v = env_start("access-policy.json", NULL);
	const char *id = RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test";
	struct json_object *r;

	plan_apply(v, id, KV, NULL, NULL);
	assert_int_equal(writes(v, "PUT", "/accessPolicies/add"), 1);
	assert_int_equal(writes(v, "PUT", "/roleAssignments/"), 0);
	r = state_resource(v, id);
	assert_string_equal(key_setting(r), "cmk-test");
	json_object_put(r);
	env_stop(v);
}

/* Applies an admin change to the simulator (no rules). */
static void admin(struct env *v, const char *method, const char *path,
		  const char *body)
{
	struct st_resp r;

	st_admin(&v->t, method, path, body, &r);
	assert_true(r.status == 200 || r.status == 204);
	st_resp_free(&r);
}

/* A missing identity, purge protection off and a key to create: fixed by one
 * plan once confirmed. */
static void test_fixes_in_plan(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id = RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test";
	struct json_object *r;
	int rc;

	admin(v, "PATCH",
	      "/resources?id=" RG
	      "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test",
	      "{\"identity\":null}");
	admin(v, "PATCH",
	      "/resources?id=" RG
	      "/providers/Microsoft.KeyVault/vaults/kv-cmk-test",
	      "{\"properties\":{\"enablePurgeProtection\":null}}");
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--vault",
			       "kv-cmk-test", "--create-key", "cmk-new",
			       "--file", v->plan, END),
			 1);
	assert_output(v, "--confirm-irreversible");
	assert_int_equal(writes(v, "PATCH", "/"), 0);
	rc = azcmk(v, NULL, "plan", "oai-cmk-test", "--vault", "kv-cmk-test",
		   "--create-key", "cmk-new", "--confirm-irreversible",
		   "--file", v->plan, END);
	assert_int_equal(rc, 0);
	assert_output(v, "[irreversible]");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "apply", v->plan, END),
			 0);
	r = state_resource(v, id);
	assert_string_equal(key_setting(r), "cmk-new");
	assert_non_null(jx_str(r, "identity.principalId"));
	json_object_put(r);
	r = state_resource(v, RG
			   "/providers/Microsoft.KeyVault/vaults/kv-cmk-test");
	assert_true(jx_bool(r, "properties.enablePurgeProtection", false));
	json_object_put(r);
	env_stop(v);
}

/* A blocker the plan cannot fix (the vault in another region) stops the plan
 * before anything is written. */
static void test_blocker_before_writes(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	unlink(v->plan);
	admin(v, "PATCH",
	      "/resources?id=" RG
	      "/providers/Microsoft.KeyVault/vaults/kv-cmk-test",
	      "{\"location\":\"eastus\"}");
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--file", v->plan, END),
			 1);
	assert_output(v, "vault.same-region");
	assert_int_equal(writes(v, "PUT", "/"), 0);
	assert_int_equal(writes(v, "PATCH", "/"), 0);
	assert_int_equal(access(v->plan, F_OK), -1);
	env_stop(v);
}

/* A save Azure refuses (the key disabled after planning) is reported with the
 * rule it stands for. */
static void test_refused_save_mapped(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	unlink(v->plan);
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--file", v->plan, END),
			 0);
	admin(v, "POST", "/keys/kv-cmk-test/cmk-test/disable", "{}");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "apply", v->plan, END),
			 2);
	assert_output(v, "rule key.enabled");
	assert_output(v, "--resume");
	env_stop(v);
}

/* A deny policy shows in the plan as a note, and the save Azure Policy refuses
 * maps back to policy.deny. */
static void test_policy_refusal(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *a = xasprintf(POLICY_ASSIGNMENT_FMT, "Default");
	struct json_object *r;

	admin(v, "PUT", "/resources", POLICY_DEFINITION);
	admin(v, "PUT", "/resources", a);
	unlink(v->plan);
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--file", v->plan, END),
			 0);
	assert_output(v, "deny-unapproved-vaults");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "apply", v->plan, END),
			 2);
	assert_output(v, "rule policy.deny");
	assert_output(v, "RequestDisallowedByPolicy");
	r = state_resource(
		v, RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test");
	assert_string_equal(key_setting(r), "");
	json_object_put(r);
	free(a);
	env_stop(v);
}

/* Removes the audit's progress lines, which share the output file with the
 * report here (stderr is stdout). */
static void drop_progress(char *text)
{
	char *p;

	while ((p = strstr(text, "Auditing: ")) != NULL) {
		char *end = strchr(p, '\n');

		memmove(p, end ? end + 1 : p + strlen(p),
			strlen(end ? end + 1 : p + strlen(p)) + 1);
	}
}

/* Returns the id of the finding of a rule on a resource in the last run's JSON
 * audit report (allocated), or NULL. */
static char *finding_id(struct env *v, const char *rule, const char *name)
{
	char *text = output(v), *id = NULL;
	struct json_object *j, *list;

	drop_progress(text);
	j = json_tokener_parse(text);
	list = jx_get(j, "findings");

	for (size_t i = 0; !id && i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "rule"), rule) &&
		    str_ieq(jx_str(jx_at(list, i), "name"), name))
			id = xstrdup(jx_str(jx_at(list, i), "id"));
	json_object_put(j);
	free(text);
	return id;
}

/* An audit finding fixed by its id: a compliant key chosen, the plan applied,
 * the finding gone; bad ids refused. */
static void test_fix_finding(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id = RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test";
	char *fid;
	struct json_object *r;

	assert_int_equal(azcmk(v, NULL, "audit", "-o", "json", END), 0);
	fid = finding_id(v, "resource.cmk", "oai-cmk-test");
	assert_non_null(fid);
	assert_int_equal(azcmk(v, NULL, "--dry-run", "fix", "dicom-test", END),
			 0);
	assert_output(v, "Chosen: the existing key "
			 "https://kv-cmk-test.vault.azure.net/keys/cmk-test");
	assert_output(v, "dry run");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "fix", fid, END),
			 0);
	assert_output(v, "Chosen: the existing key "
			 "https://kv-cmk-test.vault.azure.net/keys/cmk-test");
	r = state_resource(v, id);
	assert_string_equal(key_setting(r), "cmk-test");
	json_object_put(r);
	assert_int_equal(azcmk(v, NULL, "audit", "-o", "json", END), 0);
	free(fid);
	assert_null(finding_id(v, "resource.cmk", "oai-cmk-test"));
	admin(v, "POST", "/keys/kv-cmk-test/cmk-test/expire", "{}");
	assert_int_equal(azcmk(v, NULL, "audit", "--deep", "-o", "json", END),
			 1);
	fid = finding_id(v, "key.active", "oai-cmk-test");
	assert_non_null(fid);
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "fix", fid, END),
			 0);
	assert_output(
		v, "Chosen: a new RSA version of the key in use (key.active)");
	free(fid);
	assert_int_equal(azcmk(v, NULL, "audit", "--deep", "-o", "json", END),
			 0);
	assert_null(finding_id(v, "key.active", "oai-cmk-test"));
	assert_int_equal(azcmk(v, NULL, "fix", "oai-cmk-test", END), 0);
	assert_output(v, "nothing to fix");
	assert_int_equal(azcmk(v, NULL, "fix", "0123456789abcdef", END), 2);
	assert_output(v, "no finding '0123456789abcdef'");
	env_stop(v);
}

/* Someone else changing the resource between plan and apply is detected, and
 * nothing is overwritten. */
static void test_concurrent_change(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id = RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test";
	struct json_object *r;

	unlink(v->plan);
	assert_int_equal(
		azcmk(v, NULL, "plan", id, "--key", KV, "--file", v->plan, END),
		0);
	admin(v, "PATCH",
	      "/resources?id=" RG
	      "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test",
	      "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	      "KeyVault\",\"keyVaultProperties\":"
	      "{\"keyName\":\"someone-elses\",\"keyVaultUri\":\"https://"
	      "kv-cmk-test.vault.azure.net/\"}}}}");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "apply", v->plan, END),
			 2);
	assert_output(v, "changed since the plan was made");
	r = state_resource(v, id);
	assert_string_equal(key_setting(r), "someone-elses");
	json_object_put(r);
	env_stop(v);
}

/* Removes every role assignment at a scope ending in suffix (someone taking
 * access away). */
static void revoke_at(struct env *v, const char *suffix)
{
	struct st_resp r;
	struct json_object *list;

	st_admin(&v->t, "GET", "/state", NULL, &r);
	list = jx_get(r.json, "roleAssignments");
	for (size_t i = 0; i < jx_len(list); i++) {
		const char *scope = jx_str(jx_at(list, i), "scope"),
			   *name = jx_str(jx_at(list, i), "name");

		if (scope && name && str_iends(scope, suffix)) {
			char *path = xasprintf("/roleAssignments/%s", name);

			admin(v, "DELETE", path, NULL);
			free(path);
		}
	}
	st_resp_free(&r);
}

/* Access taken away after the plan was made: apply proves access before the
 * save and writes nothing. */
static void test_access_proven_before_save(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id = RG
		"/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test";
	struct json_object *r;

	plan_apply(v, id, KV, NULL, NULL);
	admin(v, "PATCH",
	      "/resources?id=" RG
	      "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test",
	      "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	      "CognitiveServices\",\"keyVaultProperties\":null}}}");
	unlink(v->plan);
	assert_int_equal(
		azcmk(v, NULL, "plan", id, "--key", KV, "--file", v->plan, END),
		0);
	assert_output(v, "Save key cmk-test");
	revoke_at(v, "/keys/cmk-test");
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "apply", v->plan, END),
			 2);
	assert_output(v, "stopped before the save");
	assert_int_equal(writes(v, "PATCH", "/accounts/oai-cmk-test"), 1);
	r = state_resource(v, id);
	assert_string_equal(key_setting(r), "");
	json_object_put(r);
	env_stop(v);
}

#define DICOM                                                          \
	RG "/providers/Microsoft.HealthcareApis/workspaces/cmktestws/" \
	   "dicomservices/dicom-test"

/* Returns the version at the end of the DICOM service's key URL (allocated). */
static char *dicom_version(struct env *v)
{
	struct json_object *r = state_resource(v, DICOM);
	const char *url = key_setting(r), *slash = strrchr(url, '/');
	char *ver = xstrdup(slash ? slash + 1 : "");

	json_object_put(r);
	return ver;
}

/* rotate --new-version makes a version and moves DICOM to it; rotate --version
 * goes back; mistakes are refused. */
static void test_rotate(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *first, *second, *third;

	plan_apply(v, DICOM, KV, NULL, NULL);
	first = dicom_version(v);
	assert_int_equal(azcmk(v, NULL, "rotate", DICOM, END), 2);
	assert_output(v, "--new-version");
	assert_int_equal(azcmk(v, NULL, "rotate", DICOM, "--new-version",
			       "--dry-run", END),
			 0);
	assert_output(v, "dry run");
	assert_output(v, "new version of key cmk-test (RSA, 2048 bits)");
	{
		char *cmd = xasprintf("rm -rf %s/state", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(writes(v, "POST", "/create"), 0);
	assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
			       "rotate", DICOM, "--new-version", END),
			 0);
	assert_int_equal(writes(v, "POST", "/create"), 1);
	second = dicom_version(v);
	assert_string_not_equal(first, second);
	assert_int_equal(strlen(second), 32);
	assert_int_equal(azcmk(v, NULL, "--yes", "rotate", DICOM, "--version",
			       first, END),
			 0);
	third = dicom_version(v);
	assert_string_equal(third, first);
	assert_int_equal(azcmk(v, NULL, "--yes", "rotate", DICOM, "--version",
			       first, END),
			 1);
	assert_output(v, "already uses version");
	free(first);
	free(second);
	free(third);
	env_stop(v);
}

/* refresh saves the same key again, even twice; --dry-run writes nothing; a
 * resource without CMK is refused. */
static void test_refresh(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	int n;

	assert_int_equal(azcmk(v, NULL, "--yes", "refresh", DICOM, END), 1);
	assert_output(v, "does not use a customer-managed key yet");
	plan_apply(v, DICOM, KV, NULL, NULL);
	n = writes(v, "PUT", "/dicomservices/");
	assert_int_equal(azcmk(v, NULL, "refresh", DICOM, "--dry-run", END), 0);
	assert_int_equal(writes(v, "PUT", "/dicomservices/"), n);
	assert_int_equal(azcmk(v, NULL, "--yes", "refresh", DICOM, END), 0);
	assert_int_equal(writes(v, "PUT", "/dicomservices/"), n + 1);
	assert_int_equal(azcmk(v, NULL, "--yes", "refresh", DICOM, END), 0);
	assert_int_equal(writes(v, "PUT", "/dicomservices/"), n + 2);
	env_stop(v);
}

/* The exported formats: an az script and an ARM template, written with -o;
 * nothing is changed in Azure. */
static void test_export_formats(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *o;

	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--format", "az", "--file", v->plan, END),
			 0);
	o = xstrdup(v->out);
	snprintf(v->out, sizeof(v->out), "%s", v->plan);
	assert_output(v, "#!/bin/sh");
	assert_output(v, "az rest --method put");
	assert_output(v, "e147488a-f6f5-4113-8e2d-b22465e65bf6");
	snprintf(v->out, sizeof(v->out), "%s", o);
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--format", "arm", END),
			 0);
	assert_output(v, "deploymentTemplate.json#");
	assert_output(v, "Microsoft.Authorization/roleAssignments");
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--key", KV,
			       "--format", "yaml", END),
			 2);
	assert_output(v, "invalid --format");
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--vault",
			       "kv-cmk-test", END),
			 2);
	assert_output(v, "--vault needs --key");
	assert_int_equal(azcmk(v, NULL, "plan", "oai-cmk-test", "--create-key",
			       "k", END),
			 2);
	assert_output(v, "--create-key NAME needs --vault");
	assert_int_equal(writes(v, "PUT", "/"), 0);
	assert_int_equal(writes(v, "PATCH", "/"), 0);
	free(o);
	env_stop(v);
}

/* Killed after each step's write, then resumed: the end state is right and no
 * change was made twice. */
static void test_crash_and_resume(void **state)
{
	const char *id =
		RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test";

	(void)state;
	SKIP_WHEN_QUICK();
	for (int k = 1; k <= 5; k++) {
		struct env *v = env_start("minimal.json", NULL);
		struct json_object *r;
		char at[8];
		int rc;

		snprintf(at, sizeof(at), "%d", k);
		print_message("crash after step %d\n", k);
		unlink(v->plan);
		assert_int_equal(azcmk(v, NULL, "plan", id, "--key", KV,
				       "--identity", UAI, "--file", v->plan,
				       END),
				 0);
		rc = azcmk(v, at, "--yes", "--propagation-wait", "0", "apply",
			   v->plan, END);
		assert_true(rc == 99 || rc == 0);
		assert_int_equal(azcmk(v, NULL, "--yes", "--propagation-wait",
				       "0", "apply", v->plan, END),
				 2);
		assert_output(v, "--resume");
		rc = azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			   "0", "apply", v->plan, END);
		if (rc != 0) {
			char *o = output(v);

			fail_msg("resume after step %d exited %d:\n%s", k, rc,
				 o);
		}
		r = state_resource(v, id);
		assert_string_equal(key_setting(r), "cmk-test");
		assert_non_null(jx_iget(
			jx_get(r, "identity.userAssignedIdentities"), UAI));
		json_object_put(r);
		assert_int_equal(writes(v, "PATCH", "/healthBots/hb-cmk-test"),
				 2);
		assert_true(writes(v, "PUT", "/roleAssignments/") <= 2);
		env_stop(v);
	}
}

/* Runs azcmk, failing the test with its output unless it exits with want. */
static void expect_exit(struct env *v, int got, int want, const char *what)
{
	if (got != want) {
		char *o = output(v);

		fail_msg("%s exited %d, not %d:\n%s", what, got, want, o);
	}
}

/* With a user-assigned identity, --system-identity off turns the
 * system-assigned one off after the save, per service. */
static void test_system_identity_off(void **state)
{
	static const struct {
		const char *name, *id, *extra;
	} T[] = {
		{ "openai",
		  RG "/providers/Microsoft.CognitiveServices/accounts/"
		     "oai-cmk-test",
		  NULL },
		{ "foundry",
		  RG "/providers/Microsoft.CognitiveServices/accounts/"
		     "fdy-cmk-test",
		  "--confirm-irreversible" },
		{ "dicom", DICOM, NULL },
		{ "healthbot",
		  RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test",
		  NULL },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct env *v = env_start("minimal.json", NULL);
		struct json_object *r;

		print_message("service: %s\n", T[i].name);
		unlink(v->plan);
		expect_exit(v,
			    azcmk(v, NULL, "plan", T[i].id, "--key", KV,
				  "--identity", UAI, "--system-identity", "off",
				  "--file", v->plan, T[i].extra, END),
			    0, "plan");
		assert_output(v, "Turn off the system-assigned identity");
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--propagation-wait", "0",
				  "apply", v->plan, END),
			    0, "apply");
		r = state_resource(v, T[i].id);
		assert_string_equal(jx_str(r, "identity.type"), "UserAssigned");
		assert_null(jx_get(r, "identity.principalId"));
		assert_non_null(jx_iget(
			jx_get(r, "identity.userAssignedIdentities"), UAI));
		assert_true(strstr(key_setting(r), "cmk-test") != NULL);
		assert_string_equal(jx_str(r, "properties.provisioningState"),
				    "Succeeded");
		json_object_put(r);
		env_stop(v);
	}
}

/* Turning off the system-assigned identity is refused when it is the one that
 * would reach the key. */
static void test_system_identity_off_refused(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id =
		RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test";

	expect_exit(v,
		    azcmk(v, NULL, "plan", id, "--key", KV, "--system-identity",
			  "off", END),
		    1, "plan");
	assert_output(v,
		      "cannot be turned off; choose a user-assigned identity");
	expect_exit(v,
		    azcmk(v, NULL, "plan", id, "--key", KV, "--system-identity",
			  "maybe", END),
		    2, "plan");
	assert_output(v, "invalid --system-identity 'maybe': use keep or off");
	assert_int_equal(writes(v, "PATCH", "/"), 0);
	env_stop(v);
}

/*
 * Access revoked after the save, before the system-assigned identity goes:
 * a resumed apply grants it again, proves the user-assigned identity can use
 * the key, and only then turns the system-assigned identity off.
 */
static void test_system_identity_off_proven(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	const char *id =
		RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test";
	struct json_object *r;
	struct st_resp sr;
	bool granted = false;

	(void)state;
	unlink(v->plan);
	expect_exit(v,
		    azcmk(v, NULL, "plan", id, "--key", KV, "--identity", UAI,
			  "--system-identity", "off", "--file", v->plan, END),
		    0, "plan");
	/* enable-identity, assign-role, wait-access, save-key: stop after the
	 * fourth. */
	expect_exit(v,
		    azcmk(v, "4", "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    99, "apply");
	revoke_at(v, "/keys/cmk-test");
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    0, "resumed apply");
	assert_output(v, "made again, in case it was removed since");
	assert_output(v, "Done:");
	r = state_resource(v, id);
	assert_string_equal(jx_str(r, "identity.type"), "UserAssigned");
	json_object_put(r);
	st_admin(&v->t, "GET", "/state", NULL, &sr);
	for (size_t i = 0; i < jx_len(jx_get(sr.json, "roleAssignments")); i++)
		granted |= str_iends(
			jx_str(jx_at(jx_get(sr.json, "roleAssignments"), i),
			       "scope"),
			"/keys/cmk-test");
	st_resp_free(&sr);
	assert_true(granted);
	env_stop(v);
}

#define HSM_ID RG "/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk-test"
#define HSM_KEY "https://hsm-cmk-test.managedhsm.azure.net/keys/hsm-key"

/* Starts the simulator on minimal.json with a Managed HSM (the operator its
 * initial administrator) and an RSA-HSM key. */
static struct env *env_start_hsm(void)
{
	struct env *v = xcalloc(1, sizeof(*v));
	char *text = st_read_scenario("minimal.json"), *err = NULL, *hsm;
	struct json_object *doc = json_tokener_parse(text);

	hsm = xasprintf(
		"{\"id\":\"" HSM_ID "\",\"type\":\"Microsoft.KeyVault/"
		"managedHSMs\",\"name\":\"hsm-cmk-test\","
		"\"location\":\"westus3\",\"sku\":{\"family\":\"B\",\"name\":"
		"\"Standard_B1\"},\"properties\":"
		"{\"tenantId\":\"%s\",\"initialAdminObjectIds\":[\"%s\"],"
		"\"hsmUri\":"
		"\"https://hsm-cmk-test.managedhsm.azure.net/"
		"\",\"enableSoftDelete\":true,"
		"\"enablePurgeProtection\":true,\"provisioningState\":"
		"\"Succeeded\"}}",
		jx_str(doc, "tenantId"), jx_str(doc, "operator.objectId"));
	json_object_array_add(jx_get(doc, "resources"),
			      json_tokener_parse(hsm));
	json_object_object_add(
		jx_get(doc, "keys"), "hsm-cmk-test",
		json_tokener_parse("{\"hsm-key\":[{\"version\":"
				   "\"0123456789abcdef0123456789abcdef\","
				   "\"kty\":\"RSA-HSM\","
				   "\"key_size\":2048,\"key_ops\":[\"wrapKey\","
				   "\"unwrapKey\"]}]}"));
	if (st_start_text(&v->t, jx_text(doc), &err) != 0)
		fail_msg("the simulator did not start: %s", err ? err : "?");
	env_files(v);
	json_object_put(doc);
	free(text);
	free(hsm);
	return v;
}

/*
 * A key in a Managed HSM: check sees no access (ARM holds no local role),
 * the plan grants the HSM's local role on the key through its data plane,
 * apply saves, and check then finds every prerequisite holding.
 */
static void test_managed_hsm_grant(void **state)
{
	struct env *v = env_start_hsm();
	struct st_resp r;
	struct json_object *res, *ras;
	int local = 0;

	expect_exit(v,
		    azcmk(v, NULL, "check", DICOM, "--key",
			  HSM_KEY "/0123456789abcdef0123456789abcdef", END),
		    1, "check");
	assert_output(v, "identity.key-access");
	unlink(v->plan);
	expect_exit(v,
		    azcmk(v, NULL, "plan", DICOM, "--key",
			  HSM_KEY "/0123456789abcdef0123456789abcdef", "--file",
			  v->plan, END),
		    0, "plan");
	assert_output(v, "the Managed HSM local role Managed HSM Crypto "
			 "Service Encryption User on key hsm-key only");
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply");
	res = state_resource(v, DICOM);
	assert_string_equal(key_setting(res),
			    HSM_KEY "/0123456789abcdef0123456789abcdef");
	st_admin(&v->t, "GET", "/state", NULL, &r);
	ras = jx_get(r.json, "roleAssignments");
	for (size_t i = 0; i < jx_len(ras); i++)
		local += str_ieq(jx_str(jx_at(ras, i), "scope"),
				 HSM_ID "/keys/hsm-key") &&
			 str_ieq(jx_str(jx_at(ras, i), "roleDefinitionId"),
				 "33413926-3206-4cdd-b39a-83574fe37a17") &&
			 str_ieq(jx_str(jx_at(ras, i), "principalId"),
				 jx_str(res, "identity.principalId"));
	assert_int_equal(local, 1);
	st_resp_free(&r);
	json_object_put(res);
	assert_int_equal(writes(v, "PUT",
				"/keys/hsm-key/providers/"
				"Microsoft.Authorization/roleAssignments/"),
			 1);
	expect_exit(v, azcmk(v, NULL, "check", DICOM, END), 0,
		    "check after apply");
	env_stop(v);
}

/* ---- Apply that cannot be tricked, doubled or fooled ---- */

#define VAULT_ID RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test"

/* Reads a JSON file (the plan); fails the test when it cannot. */
static struct json_object *read_json(const char *path)
{
	struct json_object *o = json_object_from_file(path);

	if (!o)
		fail_msg("cannot read %s", path);
	return o;
}

/* Writes a JSON value over a file. */
static void write_json(const char *path, struct json_object *o)
{
	if (json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY) != 0)
		fail_msg("cannot write %s", path);
}

/* Returns the path of a file of the plan's in the state directory (".journal",
 * ".journal.lock"). */
static char *plan_file(struct env *v, const char *suffix)
{
	struct json_object *p = read_json(v->plan);
	char *path =
		xasprintf("%s/state/azcmk/%s%s", dir, jx_str(p, "id"), suffix);

	json_object_put(p);
	return path;
}

/* Makes the state directory the runs use (private, as azcmk makes it). */
static void make_state_dir(void)
{
	char *a = xasprintf("%s/state", dir),
	     *b = xasprintf("%s/state/azcmk", dir);

	mkdir(a, 0700);
	mkdir(b, 0700);
	free(a);
	free(b);
}

/* Writes text over a file (or appends it). */
static void put_text(const char *path, const char *text, bool append)
{
	FILE *f = fopen(path, append ? "a" : "w");

	if (!f || fputs(text, f) < 0)
		fail_msg("cannot write %s", path);
	fclose(f);
}

/*
 * Counts the writes the simulator logged, whatever their answer: PUT, PATCH,
 * DELETE, and POSTs to Key Vault keys (reads by POST, such as sign-in,
 * Resource Graph and Azure Policy's check, change nothing).
 */
static int all_writes(struct env *v)
{
	struct st_resp r;
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++) {
		const char *m = jx_str(jx_at(log, i), "method"),
			   *path = jx_str(jx_at(log, i), "path");

		n += str_ieq(m, "PUT") || str_ieq(m, "PATCH") ||
		     str_ieq(m, "DELETE") ||
		     (str_ieq(m, "POST") && path && strstr(path, "/keys/"));
	}
	st_resp_free(&r);
	return n;
}

/*
 * A hand-edited plan is refused before anything is sent: the reviewer's
 * DELETE of the vault that holds the keys, as written, and with the id forged
 * to match (a derived request does not come from the file).
 */
static void test_tampered_plan_refused(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	struct json_object *p, *vault;
	char *id;
	int before;

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV, "--file",
			       v->plan, END),
			 0);
	p = read_json(v->plan);
	jx_set(jx_at(jx_get(p, "steps"), 0), "method",
	       json_object_new_string("DELETE"));
	jx_set(jx_at(jx_get(p, "steps"), 0), "url",
	       json_object_new_string(VAULT_ID));
	jx_set(jx_at(jx_get(p, "steps"), 0), "title",
	       json_object_new_string("Harmless \033]8;;x\033\\title"));
	write_json(v->plan, p);
	before = all_writes(v);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply of an edited plan");
	assert_output(v, "changed after azcmk plan wrote it");
	id = plan_digest(p);
	jx_set(p, "id", json_object_new_string(id));
	write_json(v->plan, p);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply of a re-sealed edited plan");
	assert_output(v, "asks for DELETE");
	assert_int_equal(all_writes(v), before);
	vault = state_resource(v, VAULT_ID);
	assert_non_null(vault);
	json_object_put(vault);
	assert_not_output(v, "\033");
	free(id);
	json_object_put(p);
	env_stop(v);
}

/* Makes a plan file claim to create its (existing) vault: a create-vault step
 * first, with the region and tenant given, and the file resealed; with
 * expect, the step also claims the vault's current properties. */
static void claim_new_vault(struct env *v, const char *region,
			    struct json_object *expect, const char *operator)
{
	struct json_object *p = read_json(v->plan), *steps = jx_get(p, "steps"),
			   *s = json_object_new_object(),
			   *all = json_object_new_array();
	char *id;

	jx_set(p, "createVault.location", json_object_new_string(region));
	jx_set(p, "createVault.tenantId",
	       json_object_new_string("11111111-1111-4111-8111-111111111111"));
	jx_set(s, "step", json_object_new_string("create-vault"));
	jx_set(s, "title", json_object_new_string("Create key vault"));
	jx_set(s, "method", json_object_new_string("PUT"));
	jx_set(s, "url", json_object_new_string(jx_str(p, "vault")));
	if (expect)
		jx_set(s, "expect", jx_copy(expect));
	json_object_array_add(all, s);
	if (operator) {
		struct json_object *g = json_object_new_object();
		char *name = plan_assignment_name(jx_str(p, "vault"), operator,
						  ROLE_CRYPTO_OFFICER);
		char *url = xasprintf("%s/providers/Microsoft.Authorization/"
				      "roleAssignments/%s",
				      jx_str(p, "vault"), name);

		jx_set(p, "createVault.operator",
		       json_object_new_string(operator));
		jx_set(g, "step", json_object_new_string("grant-operator"));
		jx_set(g, "method", json_object_new_string("PUT"));
		jx_set(g, "url", json_object_new_string(url));
		json_object_array_add(all, g);
		free(name);
		free(url);
	}
	for (size_t i = 0; i < jx_len(steps); i++)
		json_object_array_add(all, jx_copy(jx_at(steps, i)));
	jx_set(p, "steps", all);
	id = plan_digest(p);
	jx_set(p, "id", json_object_new_string(id));
	write_json(v->plan, p);
	free(id);
	json_object_put(p);
}

/*
 * A resealed plan that claims to create a vault which exists is never a way
 * to rewrite it: apply stops before the PUT when the vault there is not the
 * one such a plan makes (here: access policies, not Azure RBAC), refuses a
 * create-vault step that claims to expect anything, a vault the plan would
 * put in another region than its resource's, and a grant of Key Vault
 * Crypto Officer to someone other than the one applying, before any write.
 */
static void test_new_vault_never_rewrites(void **state)
{
	struct env *v = env_start("access-policy.json", NULL);
	struct json_object *vault = state_resource(v, VAULT_ID);
	int before;

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "k-new", "--file", v->plan, END),
			 0);
	claim_new_vault(v, "westus3", NULL, NULL);
	before = all_writes(v);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    2, "apply of a plan creating a vault that exists");
	assert_output(v, "is not the one the plan creates");
	assert_int_equal(all_writes(v), before);
	json_object_put(vault);
	vault = state_resource(v, VAULT_ID);
	assert_false(
		jx_bool(vault, "properties.enableRbacAuthorization", true));
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "k-new", "--file", v->plan, END),
			 0);
	claim_new_vault(v, "westus3", jx_get(vault, "properties"), NULL);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply of a create-vault step that claims an expectation");
	assert_output(v, "is not where a plan may have it");
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "k-new", "--file", v->plan, END),
			 0);
	claim_new_vault(v, "eastus", NULL, NULL);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply of a new vault in another region");
	assert_output(v, "not in the region of");
	/* A grant of Key Vault Crypto Officer for someone else than you. */
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "k-new", "--file", v->plan, END),
			 0);
	claim_new_vault(v, "westus3", NULL,
			"0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c");
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply of a grant for another operator");
	assert_output(v, "who made it, but you are signed in as");
	assert_int_equal(all_writes(v), before);
	json_object_put(vault);
	env_stop(v);
}

/*
 * Resume always ends by verifying against Azure: a finished plan whose key
 * setting was reverted is made again; with the key disabled too it stops,
 * saying what does not hold, and never prints "Done".
 */
static void test_resume_verifies(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	struct json_object *r;
	const char *revert = "{\"properties\":{\"encryption\":{\"keySource\":"
			     "\"Microsoft.CognitiveServices\","
			     "\"keyVaultProperties\":null}}}";
	char *path = xasprintf("/resources?id=%s", OAI);

	(void)state;
	plan_apply(v, OAI, KV, NULL, NULL);
	admin(v, "PATCH", path, revert);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    0, "resume after a revert");
	assert_output(v, "Azure shows it undone now");
	assert_output(v, "Done:");
	r = state_resource(v, OAI);
	assert_string_equal(key_setting(r), "cmk-test");
	json_object_put(r);

	admin(v, "POST", "/keys/kv-cmk-test/cmk-test/disable", NULL);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    1, "resume with the key disabled");
	assert_output(v, "the end state does not hold");
	assert_not_output(v, "Done:");
	admin(v, "PATCH", path, revert);
	assert_int_not_equal(azcmk(v, NULL, "--yes", "--resume",
				   "--propagation-wait", "0", "apply", v->plan,
				   END),
			     0);
	assert_not_output(v, "Done:");
	/* The key back, but the grant removed since and the setting reverted:
	 * resume grants again, saves, verifies. */
	admin(v, "POST", "/keys/kv-cmk-test/cmk-test/enable", NULL);
	revoke_at(v, "/keys/cmk-test");
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    0, "resume after the grant was removed");
	assert_output(v, "Done:");
	r = state_resource(v, OAI);
	assert_string_equal(key_setting(r), "cmk-test");
	json_object_put(r);
	free(path);
	env_stop(v);
}

/* One journal that --resume must refuse, and the words of the refusal. */
static const struct {
	const char *name, *text;
	bool append;
	const char *want;
} BAD_JOURNALS[] = {
	{ "empty", "", false, "is empty" },
	{ "garbage", "this is not json\n", false, "line 1 of the journal" },
	{ "binary", "\001\002\377\n", false, "line 1 of the journal" },
	{ "foreign plan",
	  "{\"plan\":\"0000\",\"step\":-1,\"event\":\"begin\",\"time\":1}\n",
	  false, "line 1 of the journal" },
	{ "step out of the plan",
	  "{\"plan\":\"PLAN\",\"step\":99,\"id\":\"verify\",\"event\":\"done\","
	  "\"time\":1}\n",
	  true, "line 2 of the journal" },
	{ "step of another kind",
	  "{\"plan\":\"PLAN\",\"step\":0,\"id\":\"verify\",\"event\":\"done\","
	  "\"time\":1}\n",
	  true, "line 2 of the journal" },
	{ "forged version",
	  "{\"plan\":\"PLAN\",\"step\":0,\"id\":\"STEP\",\"event\":\"done\","
	  "\"time\":1,\"vars\":"
	  "{\"keyVersion\":\"../../evil\"}}\n",
	  true, "line 2 of the journal" },
};

/* Returns text with PLAN and STEP replaced by the plan's id and its first
 * step's kind. */
static char *subst(const char *text, const char *plan, const char *step)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = text; *p;) {
		if (strncmp(p, "PLAN", 4) == 0) {
			sb_adds(&b, plan);
			p += 4;
		} else if (strncmp(p, "STEP", 4) == 0) {
			sb_adds(&b, step);
			p += 4;
		} else {
			sb_addc(&b, *p++);
		}
	}
	return sb_str(&b)[0] ? sb_steal(&b) : xstrdup("");
}

/* An empty, garbled, foreign or forged journal is refused by --resume, naming
 * the file, and nothing is sent. */
static void test_journal_refused(void **state)
{
	(void)state;
	SKIP_WHEN_QUICK();
	for (size_t i = 0; i < sizeof(BAD_JOURNALS) / sizeof(BAD_JOURNALS[0]);
	     i++) {
		struct env *v = env_start("minimal.json", NULL);
		struct json_object *p;
		char *journal, *text;
		int before;

		print_message("journal: %s\n", BAD_JOURNALS[i].name);
		assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV,
				       "--file", v->plan, END),
				 0);
		p = read_json(v->plan);
		journal = plan_file(v, ".journal");
		if (BAD_JOURNALS[i].append) {
			/* A real beginning, then the forged line. */
			char *begin =
				xasprintf("{\"plan\":\"%s\",\"step\":-1,"
					  "\"event\":\"begin\",\"time\":1}\n",
					  jx_str(p, "id"));

			make_state_dir();
			put_text(journal, begin, false);
			free(begin);
		} else {
			make_state_dir();
		}
		text = subst(BAD_JOURNALS[i].text, jx_str(p, "id"),
			     jx_str(jx_at(jx_get(p, "steps"), 0), "step"));
		put_text(journal, text, BAD_JOURNALS[i].append);
		chmod(journal, 0600);
		before = all_writes(v);
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--resume", "apply",
				  v->plan, END),
			    2, BAD_JOURNALS[i].name);
		assert_output(v, BAD_JOURNALS[i].want);
		assert_output(v, journal);
		assert_int_equal(all_writes(v), before);
		free(text);
		free(journal);
		json_object_put(p);
		env_stop(v);
	}
}

/* A last line torn by a crash is the one damage a journal may have: the resume
 * goes on and ends verified. */
static void test_torn_journal_line(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *journal;

	(void)state;
	plan_apply(v, OAI, KV, NULL, NULL);
	journal = plan_file(v, ".journal");
	put_text(journal, "{\"plan\":\"", true);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    0, "resume with a torn last line");
	assert_output(v, "cut short by a crash");
	assert_output(v, "Done:");
	free(journal);
	env_stop(v);
}

/* While one apply holds a plan's lock, a second apply or --resume of it exits 2
 * at once, naming the holder. */
static void test_one_apply_at_a_time(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *lock;
	int fd, before;

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV, "--file",
			       v->plan, END),
			 0);
	lock = plan_file(v, ".journal.lock");
	make_state_dir();
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	before = all_writes(v);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply while another holds the lock");
	assert_output(v, "being applied by process 4242");
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "apply", v->plan, END),
		    2, "resume while locked");
	assert_output(v, "being applied by process 4242");
	assert_int_equal(all_writes(v), before);
	close(fd);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply once unlocked");
	free(lock);
	env_stop(v);
}

/* Returns the index (from 1) of a step of a kind in the written plan, or 0. */
static int step_number(struct env *v, const char *kind)
{
	struct json_object *p = read_json(v->plan), *steps = jx_get(p, "steps");
	int n = 0;

	for (size_t i = 0; i < jx_len(steps) && !n; i++)
		if (str_ieq(jx_str(jx_at(steps, i), "step"), kind))
			n = (int)i + 1;
	json_object_put(p);
	return n;
}

/*
 * Killed while a long-running write is in flight (the operation recorded,
 * not yet finished), a resume waits for that operation and ends verified,
 * without writing again: for each service whose save is long-running.
 */
static void test_kill_during_operation(void **state)
{
	static const char *const IDS[] = { OAI, DICOM };

	(void)state;
	SKIP_WHEN_QUICK();
	for (size_t i = 0; i < sizeof(IDS) / sizeof(IDS[0]); i++) {
		struct env *v = env_start("minimal.json",
					  "{\"settings\":{\"lroPolls\":3,"
					  "\"retryAfterSeconds\":1}}");
		const char *path = strrchr(IDS[i], '/');
		char at[16], *journal;
		struct json_object *r;
		int n;

		unlink(v->plan);
		assert_int_equal(azcmk(v, NULL, "plan", IDS[i], "--key", KV,
				       "--file", v->plan, END),
				 0);
		n = step_number(v, "save-key");
		assert_true(n > 0);
		snprintf(at, sizeof(at), "op:%d", n);
		expect_exit(v,
			    azcmk(v, at, "--yes", "--propagation-wait", "0",
				  "apply", v->plan, END),
			    99, "kill mid-save");
		journal = plan_file(v, ".journal");
		{
			char *cmd = xasprintf(
				"grep -q '\"event\":\"operation' '%s'",
				journal);

			assert_int_equal(system(cmd), 0);
			free(cmd);
		}
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--resume",
				  "--propagation-wait", "0", "apply", v->plan,
				  END),
			    0, "resume after a kill mid-save");
		assert_output(v, "waiting for the operation the interrupted "
				 "run started");
		r = state_resource(v, IDS[i]);
		assert_non_null(strstr(key_setting(r), "cmk-test"));
		assert_string_equal(jx_str(r, "properties.provisioningState"),
				    "Succeeded");
		json_object_put(r);
		assert_int_equal(
			writes(v, str_istarts(path, "/dicom") ? "PUT" : "PATCH",
			       path),
			1);
		free(journal);
		env_stop(v);
	}
}

/* Returns how many versions a key has in the simulator's state. */
static size_t key_versions(struct env *v, const char *vault, const char *key)
{
	struct st_resp r;
	size_t n;

	st_admin(&v->t, "GET", "/state", NULL, &r);
	n = jx_len(jx_iget(jx_iget(jx_get(r.json, "keys"), vault), key));
	st_resp_free(&r);
	return n;
}

/* Killed after the key creation was sent but before it was journalled, a resume
 * finds that version: never two. */
static void test_create_key_once(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char at[8];
	int n;

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "newk", "--file", v->plan, END),
			 0);
	n = step_number(v, "create-key");
	assert_true(n > 0);
	snprintf(at, sizeof(at), "%d", n);
	expect_exit(v,
		    azcmk(v, at, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    99, "kill after create");
	assert_int_equal(key_versions(v, "kv-cmk-test", "newk"), 1);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "--propagation-wait",
			  "0", "apply", v->plan, END),
		    0, "resume after the key creation");
	assert_output(v, "this plan already made version");
	assert_int_equal(key_versions(v, "kv-cmk-test", "newk"), 1);
	assert_int_equal(writes(v, "POST", "/keys/newk/create"), 1);
	env_stop(v);
}

/* The answer to a key creation is lost after Key Vault made the version: apply
 * finds it instead of making a second. */
static void test_create_key_answer_lost(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "newk", "--file", v->plan, END),
			 0);
	assert_int_equal(st_fault(&v->t,
				  "{\"host\":\"kv-cmk-test.vault.azure.net\","
				  "\"path\":\"*/keys/newk/create\","
				  "\"kind\":\"truncate\",\"times\":1}"),
			 201);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply with the creation's answer lost");
	assert_output(v, "this plan already made version");
	assert_int_equal(key_versions(v, "kv-cmk-test", "newk"), 1);
	env_stop(v);
}

/* Key Vault throttles the key creation four times (more than apply's own
 * tries): each 429 is retried after its Retry-After, and one version is made.
 */
static void test_create_key_throttled(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "newk", "--file", v->plan, END),
			 0);
	assert_int_equal(st_fault(&v->t,
				  "{\"host\":\"kv-cmk-test.vault.azure.net\","
				  "\"path\":\"*/keys/newk/create\","
				  "\"status\":429,\"retryAfterMs\":20,"
				  "\"times\":4}"),
			 201);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply with the key creation throttled");
	assert_not_output(v, "the answer to the key creation was lost");
	assert_int_equal(writes(v, "POST", "/keys/newk/create"), 1);
	assert_int_equal(key_versions(v, "kv-cmk-test", "newk"), 1);
	env_stop(v);
}

/* Key Vault throttles the key creation for good: apply stops there and says
 * so, with nothing created. */
static void test_create_key_throttled_for_good(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--vault", "kv-cmk-test",
			       "--create-key", "newk", "--file", v->plan, END),
			 0);
	assert_int_equal(st_fault(&v->t,
				  "{\"host\":\"kv-cmk-test.vault.azure.net\","
				  "\"path\":\"*/keys/newk/create\","
				  "\"status\":429,\"retryAfterMs\":1}"),
			 201);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    2, "apply with the key creation always throttled");
	assert_output(v, "Azure is throttling requests to");
	assert_int_equal(writes(v, "POST", "/keys/newk/create"), 0);
	env_stop(v);
}

/*
 * Killed while each long-running write of a longer plan is in flight (the
 * identity turned on, the save, the system-assigned identity turned off),
 * a resume waits for that operation and ends with the plan's end state.
 */
static void test_kill_during_each_operation(void **state)
{
	static const char *const KINDS[] = { "enable-identity", "save-key",
					     "disable-system-identity" };

	(void)state;
	SKIP_WHEN_QUICK();
	for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
		struct env *v = env_start("minimal.json",
					  "{\"settings\":{\"lroPolls\":3,"
					  "\"retryAfterSeconds\":1}}");
		struct json_object *r;
		char at[16];
		int n;

		print_message("kill during %s\n", KINDS[i]);
		unlink(v->plan);
		expect_exit(v,
			    azcmk(v, NULL, "plan", OAI, "--vault",
				  "kv-cmk-test", "--create-key", "newk",
				  "--identity", UAI, "--system-identity", "off",
				  "--confirm-irreversible", "--file", v->plan,
				  END),
			    0, "plan");
		n = step_number(v, KINDS[i]);
		if (n == 0) {
			env_stop(v);
			fail_msg("the plan has no %s step", KINDS[i]);
		}
		snprintf(at, sizeof(at), "op:%d", n);
		expect_exit(v,
			    azcmk(v, at, "--yes", "--propagation-wait", "0",
				  "apply", v->plan, END),
			    99, KINDS[i]);
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--resume",
				  "--propagation-wait", "0", "apply", v->plan,
				  END),
			    0, "resume");
		assert_output(v, "Done:");
		r = state_resource(v, OAI);
		assert_string_equal(key_setting(r), "newk");
		assert_string_equal(jx_str(r, "identity.type"), "UserAssigned");
		json_object_put(r);
		assert_int_equal(key_versions(v, "kv-cmk-test", "newk"), 1);
		env_stop(v);
	}
}

/* A journal that is a symbolic link, and a state directory others can write,
 * are refused before anything is sent. */
static void test_state_files_refused(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *journal, *target = xasprintf("%s/elsewhere", dir),
		       *sd = xasprintf("%s/state/azcmk", dir);
	struct stat st;
	int before;

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV, "--file",
			       v->plan, END),
			 0);
	/* A plan names resources: it is written private. */
	assert_int_equal(stat(v->plan, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	before = all_writes(v);
	journal = plan_file(v, ".journal");
	make_state_dir();
	put_text(target, "precious\n", false);
	assert_int_equal(symlink(target, journal), 0);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--resume", "apply", v->plan, END),
		    2, "resume through a symlink");
	assert_output(v, "symbolic link");
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 9);
	unlink(journal);
	assert_int_equal(chmod(sd, 0777), 0);
	expect_exit(v, azcmk(v, NULL, "--yes", "apply", v->plan, END), 2,
		    "apply in a 0777 state directory");
	assert_output(v, "can be written by other users");
	assert_int_equal(all_writes(v), before);
	assert_int_equal(chmod(sd, 0700), 0);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply once private");
	assert_int_equal(stat(journal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(journal);
	free(target);
	free(sd);
	env_stop(v);
}

/* Every write apply makes is in the change history, with who, what changed and
 * how it ended, failures too. */
static void test_history(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	struct json_object *list, *save = NULL;
	char *o, *hist = xasprintf("%s/state/azcmk/history.jsonl", dir);
	struct stat st;

	(void)state;
	expect_exit(v, azcmk(v, NULL, "history", END), 0,
		    "history before any change");
	assert_output(v, "No change has been recorded yet");
	plan_apply(v, OAI, KV, NULL, NULL);
	expect_exit(v, azcmk(v, NULL, "history", "-o", "json", END), 0,
		    "history -o json");
	o = output(v);
	list = json_tokener_parse(o);
	free(o);
	assert_true(json_object_is_type(list, json_type_array));
	for (size_t i = 0; i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "step"), "save-key"))
			save = jx_at(list, i);
	assert_non_null(save);
	assert_string_equal(jx_str(save, "outcome"), "succeeded");
	assert_string_equal(jx_str(save, "method"), "PATCH");
	assert_string_equal(jx_str(save, "resource"), OAI);
	assert_string_equal(jx_str(save, "principal"),
			    jx_str(v->t.doc, "operator.objectId"));
	assert_string_equal(jx_str(save, "tenant"),
			    jx_str(v->t.doc, "tenantId"));
	assert_true(jx_len(jx_get(save, "changes")) > 0);
	json_object_put(list);
	expect_exit(v,
		    azcmk(v, NULL, "history", "--resource", "oai-cmk-test",
			  "--since", "1h", END),
		    0, "history filtered");
	assert_output(v, "step save-key of plan");
	assert_output(
		v, "properties.encryption.keySource: "
		   "\"Microsoft.CognitiveServices\" -> \"Microsoft.KeyVault\"");
	expect_exit(v,
		    azcmk(v, NULL, "history", "--resource",
			  "nothing-by-this-name", END),
		    0, "history of another");
	assert_output(v, "No change in");
	expect_exit(v,
		    azcmk(v, NULL, "history", "--since", "last tuesday", END),
		    2, "history --since bogus");
	assert_output(v, "invalid --since");
	assert_int_equal(stat(hist, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A history that is a link is refused before any write, like the
	 * journal. */
	unlink(hist);
	assert_int_equal(symlink("/dev/null", hist), 0);
	unlink(v->plan);
	assert_int_equal(
		azcmk(v, NULL, "plan",
		      RG
		      "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test",
		      "--key", KV, "--file", v->plan, END),
		0);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    2, "apply, history a link");
	assert_output(v, "symbolic link");
	free(hist);
	env_stop(v);
}

/* A write Azure refuses is in the history too, with its error. */
static void test_history_failure(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV, "--file",
			       v->plan, END),
			 0);
	assert_int_equal(st_fault(&v->t,
				  "{\"method\":\"PATCH\",\"path\":\"*oai-cmk-"
				  "test\",\"status\":400,"
				  "\"code\":\"InvalidRequest\",\"times\":1}"),
			 201);
	assert_int_not_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
				   "apply", v->plan, END),
			     0);
	expect_exit(v, azcmk(v, NULL, "history", END), 0,
		    "history after a failure");
	assert_output(v, "failed  PATCH");
	assert_output(v, "(error InvalidRequest)");
	env_stop(v);
}

/*
 * A prerequisite that could not be judged (Key Vault answering 503 after its
 * retries) is shown as UNKNOWN and never counted as holding: check exits 1
 * unless --allow-unknown, and a plan is refused unless it too is given.
 */
static void test_unknown_verdicts(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *o;

	(void)state;
	plan_apply(v, OAI, KV, NULL, NULL);
	expect_exit(v, azcmk(v, NULL, "check", OAI, END), 0,
		    "check, all holding");
	assert_int_equal(st_fault(&v->t,
				  "{\"host\":\"kv-cmk-test.vault.azure.net\","
				  "\"path\":\"/keys/*\",\"status\":503}"),
			 201);
	expect_exit(v, azcmk(v, NULL, "check", OAI, "--key", KV, END), 1,
		    "check, Key Vault down");
	assert_output(v, "UNKNOWN");
	assert_output(v, "could not judge this: key cmk-test could not be read "
			 "(HTTP 503)");
	assert_output(v, "--allow-unknown");
	expect_exit(
		v, azcmk(v, NULL, "check", OAI, "--key", KV, "-o", "json", END),
		1, "check -o json, Key Vault down");
	assert_output(v, "\"verdict\": \"unknown\"");
	expect_exit(v,
		    azcmk(v, NULL, "check", OAI, "--key", KV, "--allow-unknown",
			  END),
		    0, "check --allow-unknown");
	unlink(v->plan);
	expect_exit(v,
		    azcmk(v, NULL, "plan",
			  RG "/providers/Microsoft.CognitiveServices/accounts/"
			     "fdy-cmk-test",
			  "--key", KV, "--confirm-irreversible", "--file",
			  v->plan, END),
		    1, "plan, Key Vault down");
	assert_output(v, "could not judge this");
	o = output(v);
	assert_null(strstr(o, "(null)"));
	free(o);
	env_stop(v);
}

/*
 * A plan that would stop half-way (you may not create the key) is refused by
 * apply before its first write, naming the permission and who could grant
 * it; plan itself warns. The reviewer's case: the identity was turned on,
 * then the key creation met 403.
 */
static void test_preflight_refusal(void **state)
{
	/* Key Vault enforces your data-plane roles, as in Azure (the demo
	 * tenant does too). */
	struct env *v = env_start(
		"minimal.json",
		"{\"settings\":{\"operatorDataPlane\":\"enforced\"}}");
	struct st_resp sr;
	struct json_object *list;
	int before;

	(void)state;
	/* Take away your Key Vault Administrator role on the vault: no more key
	 * creation. */
	st_admin(&v->t, "GET", "/state", NULL, &sr);
	list = jx_get(sr.json, "roleAssignments");
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *ra = jx_at(list, i);

		if (str_ieq(jx_str(ra, "principalId"),
			    jx_str(v->t.doc, "operator.objectId")) &&
		    str_iends(jx_str(ra, "roleDefinitionId"),
			      "00482a5a-887f-4fb3-b363-3b7fe8e74483")) {
			char *path = xasprintf("/roleAssignments/%s",
					       jx_str(ra, "name"));

			admin(v, "DELETE", path, NULL);
			free(path);
		}
	}
	st_resp_free(&sr);
	expect_exit(v,
		    azcmk(v, NULL, "plan", DICOM, "--vault", "kv-cmk-test",
			  "--create-key", "newk", "--file", v->plan, END),
		    0, "plan");
	assert_output(v, "Warning: this plan would stop half-way");
	before = all_writes(v);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    2, "apply");
	assert_output(
		v, "(create-key) needs "
		   "Microsoft.KeyVault/vaults/keys/create/action on the vault");
	assert_output(v, "Key Vault Crypto Officer");
	assert_int_equal(all_writes(v), before);
	env_stop(v);
}

/*
 * While a new grant propagates, the service refuses the save in its own
 * words (Cognitive Services: KeyVaultAccessForbidden, no inner code) at once
 * or in its long-running operation: apply tries again within --access-wait,
 * showing the time left, and stops at once with --access-wait 0.
 */
static void test_access_wait(void **state)
{
	static const char *const SETTINGS[] = {
		"{\"settings\":{\"propagationSeconds\":4}}",
		"{\"settings\":{\"propagationSeconds\":4,\"refuseInOperation\":"
		"true,\"lroPolls\":1,\"retryAfterSeconds\":1}}",
	};

	(void)state;
	SKIP_WHEN_QUICK();
	for (size_t i = 0; i < sizeof(SETTINGS) / sizeof(SETTINGS[0]); i++) {
		struct env *v = env_start("minimal.json", SETTINGS[i]);
		struct json_object *r;

		print_message("refused %s\n",
			      i ? "by the operation" : "at once");
		assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV,
				       "--file", v->plan, END),
				 0);
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--propagation-wait", "0",
				  "--access-wait", "120", "apply", v->plan,
				  END),
			    0, "apply while access propagates");
		assert_output(
			v, "access has not reached the service yet "
			   "(KeyVaultAccessForbidden); trying again in 10 s");
		assert_output(v, " s left");
		r = state_resource(v, OAI);
		assert_string_equal(key_setting(r), "cmk-test");
		json_object_put(r);
		env_stop(v);
	}
	{
		struct env *v = env_start("minimal.json", SETTINGS[0]);

		assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV,
				       "--file", v->plan, END),
				 0);
		expect_exit(v,
			    azcmk(v, NULL, "--yes", "--propagation-wait", "0",
				  "--access-wait", "0", "apply", v->plan, END),
			    2, "apply with --access-wait 0");
		assert_output(v, "KeyVaultAccessForbidden");
		env_stop(v);
	}
}

/*
 * Returns a fault rule that answers the next key users query of Resource Graph
 * (the one that names keyEncryptionKeyUrl, not the plan's other queries) with
 * n healthcare agent services named u0, u1 ..., and, when total >= 0, a
 * totalRecords of total with resultTruncated "true" (static buffer).
 */
static const char *shared_answer(int n, int total)
{
	static char rule[8192];
	struct sbuf b = SBUF_INIT;

	for (int i = 0; i < n; i++)
		sb_printf(&b,
			  "%s{\"id\":\"" RG
			  "/providers/Microsoft.HealthBot/healthBots/u%d\","
			  "\"name\":\"u%d\"}",
			  i ? "," : "", i, i);
	snprintf(rule, sizeof(rule),
		 "{\"path\":\"/providers/Microsoft.ResourceGraph/"
		 "resources\",\"requestContains\":\"keyEncryptionKeyUrl\","
		 "\"status\":200,\"times\":1,\"body\":{"
		 "\"totalRecords\":%d,\"count\":%d,\"data\":[%s],"
		 "\"resultTruncated\":\"%s\"}}",
		 total >= 0 ? total : n, n, sb_str(&b),
		 total >= 0 ? "true" : "false");
	sb_free(&b);
	return rule;
}

/* Plans the healthcare agent service on the shared key with the fault rule
 * answering its key users query; the plan must succeed. */
static void plan_shared(struct env *v, const char *rule, const char *what)
{
	assert_int_equal(st_fault(&v->t, rule), 201);
	expect_exit(v,
		    azcmk(v, NULL, "plan",
			  RG "/providers/Microsoft.HealthBot/healthBots/"
			     "hb-cmk-test",
			  "--key", KV, END),
		    0, what);
}

/* fix honours the operator's choices: the key named (--key), the vault named
 * (--vault), and says so. */
static void test_fix_honours_choices(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	expect_exit(v,
		    azcmk(v, NULL, "fix", OAI, "--key", KV, "--dry-run", END),
		    0, "fix --key");
	assert_output(v, "Chosen: the key you named.");
	assert_output(v, "Save key cmk-test on oai-cmk-test");
	expect_exit(v,
		    azcmk(v, NULL, "fix", OAI, "--vault", "kv-cmk-test",
			  "--create-key", "mine", "--dry-run", END),
		    0, "fix --vault --create-key");
	assert_output(v, "Create RSA key mine");
	expect_exit(v,
		    azcmk(v, NULL, "fix", OAI, "--vault", "kv-nowhere",
			  "--dry-run", END),
		    1, "fix --vault unknown");
	assert_output(v, "vault kv-nowhere is not ready to hold the key of "
			 "oai-cmk-test");
	/* A key that already protects another resource is named as such, with
	 * that resource. */
	plan_apply(v, OAI, KV, NULL, NULL);
	unlink(v->plan);
	expect_exit(
		v,
		azcmk(v, NULL, "plan",
		      RG
		      "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test",
		      "--key", KV, END),
		0, "plan with a shared key");
	assert_output(v, "Note: key cmk-test in vault kv-cmk-test already "
			 "protects oai-cmk-test");
	/* Twelve other users: ten named, then the count of the rest. */
	plan_shared(v, shared_answer(12, -1), "plan with a key of many users");
	assert_output(v, "already protects u0, u1, u2, u3, u4, u5, u6, u7, u8, "
			 "u9 and 2 others;");
	/* Some of 1,500 (Resource Graph's answer cut short): counted. */
	plan_shared(v, shared_answer(3, 1500), "plan with a key of 1500 users");
	assert_output(v, "already protects u0, u1, u2 and more (Resource "
			 "Graph counts 1500 resources using the key);");
	/* Counted, none named: still said. */
	plan_shared(v, shared_answer(0, 1500),
		    "plan with a key of users not named");
	assert_output(v, "already protects 1500 resources, as Resource Graph "
			 "counts them;");
	env_stop(v);
}

/*
 * A DICOM service names no identity in its key setting: given a user-assigned
 * identity, the plan turns the system-assigned one off (as Microsoft's
 * user-assigned DICOM template sets the type to UserAssigned alone); asked
 * to keep it, both must reach the key, and check and plan say when the
 * system-assigned one cannot.
 */
static void test_dicom_identities(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	struct json_object *r;

	(void)state;
	expect_exit(v,
		    azcmk(v, NULL, "plan", DICOM, "--key",
			  KV "/4e070c1b76f1b2e831bf75857a09fd70", "--identity",
			  UAI, "--system-identity", "keep", "--file", v->plan,
			  END),
		    1, "plan keeping both identities");
	assert_output(v, "identity.dicom-both");
	expect_exit(v,
		    azcmk(v, NULL, "check", DICOM, "--key",
			  KV "/4e070c1b76f1b2e831bf75857a09fd70", "--identity",
			  UAI, "--system-identity", "keep", END),
		    1, "check keeping both identities");
	assert_output(v, "keeps its system-assigned identity beside the "
			 "user-assigned one");
	unlink(v->plan);
	expect_exit(v,
		    azcmk(v, NULL, "plan", DICOM, "--key",
			  KV "/4e070c1b76f1b2e831bf75857a09fd70", "--identity",
			  UAI, "--file", v->plan, END),
		    0, "plan with a user-assigned identity");
	assert_true(step_number(v, "disable-system-identity") > 0);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "apply");
	r = state_resource(v, DICOM);
	assert_string_equal(jx_str(r, "identity.type"), "UserAssigned");
	json_object_put(r);
	expect_exit(v, azcmk(v, NULL, "check", DICOM, END), 0,
		    "check afterwards");
	env_stop(v);
}

/* A malformed resource from Resource Manager is an error that says so, never
 * "is a (null)". */
static void test_malformed_resource(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *o;

	(void)state;
	assert_int_equal(st_fault(&v->t,
				  "{\"method\":\"GET\",\"path\":\"*/accounts/"
				  "oai-cmk-test\",\"kind\":\"malformed\"}"),
			 201);
	expect_exit(v, azcmk(v, NULL, "check", OAI, END), 2,
		    "check of a malformed resource");
	o = output(v);
	assert_null(strstr(o, "(null)"));
	free(o);
	env_stop(v);
}

/* The release program has no test hook: the crash variable does nothing there.
 */
static void test_hooks_not_in_release(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(azcmk(v, NULL, "plan", OAI, "--key", KV, "--file",
			       v->plan, END),
			 0);
	setenv("AZCMK_TEST_CRASH_AFTER", "1", 1);
	expect_exit(v,
		    azcmk(v, NULL, "--yes", "--propagation-wait", "0", "apply",
			  v->plan, END),
		    0, "release apply");
	unsetenv("AZCMK_TEST_CRASH_AFTER");
	assert_output(v, "Done:");
	env_stop(v);
}

/* Escape sequences in a key name and an error message from the server never
 * reach the terminal. */
static void test_server_text_sanitized(void **state)
{
	struct env *v = env_start("minimal.json", NULL);
	char *path = xasprintf("/resources?id=%s", OAI), *o;

	(void)state;
	plan_apply(v, OAI, KV, NULL, NULL);
	admin(v, "PATCH", path,
	      "{\"properties\":{\"encryption\":{\"keyVaultProperties\":{"
	      "\"keyName\":"
	      "\"k\\u001b[2Jey\\u001b]8;;http://x\\u0007\"}}}}");
	azcmk(v, NULL, "check", OAI, END);
	o = output(v);
	assert_null(strchr(o, '\033'));
	assert_null(strchr(o, '\007'));
	free(o);
	st_fault(&v->t, "{\"host\":\"management.azure.com\",\"path\":\"*oai-"
			"cmk-test*\",\"status\":400,"
			"\"code\":\"Bad\\u001b[31m\",\"message\":\"evil "
			"\\u001b]0;title\\u0007 text\"}");
	azcmk(v, NULL, "check", OAI, END);
	o = output(v);
	assert_null(strchr(o, '\033'));
	free(o);
	free(path);
	env_stop(v);
}

/* Makes the working directory. */
static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/azcmk-apply-XXXXXX");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return mkdtemp(dir) ? 0 : -1;
}

/* Removes the working directory. */
static int group_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

/*
 * Starts the simulator on minimal.json with the Azure OpenAI account on the
 * test key through the user-assigned identity its setting names (granted at
 * the vault), its system-assigned identity granted on the key too.
 */
static struct env *env_start_oai_both(void)
{
	char *text = st_read_scenario("minimal.json"), *err = NULL;
	struct json_object *doc = json_tokener_parse(text),
			   *res = jx_get(doc, "resources"), *oai = NULL;
	struct env *v = xcalloc(1, sizeof(*v));

	for (size_t i = 0; i < jx_len(res); i++)
		if (str_ieq(jx_str(jx_at(res, i), "id"), OAI))
			oai = jx_at(res, i);
	assert_non_null(oai);
	jx_set(oai, "identity.type",
	       json_object_new_string("SystemAssigned, UserAssigned"));
	jx_set(oai, "identity.userAssignedIdentities",
	       json_tokener_parse(
		       "{\"" UAI "\":{\"principalId\":\"6666b001-6666-4666-"
		       "8666-66666666b001\",\"clientId\":\"6666c001-6666-4666-"
		       "8666-66666666c001\"}}"));
	jx_set(oai, "properties.encryption",
	       json_tokener_parse(
		       "{\"keySource\":\"Microsoft.KeyVault\","
		       "\"keyVaultProperties\":{\"keyName\":\"cmk-test\","
		       "\"keyVaultUri\":\"https://kv-cmk-test.vault.azure.net/"
		       "\","
		       "\"identityClientId\":\"6666c001-6666-4666-8666-"
		       "66666666c001\"}}"));
	json_object_array_add(
		jx_get(doc, "roleAssignments"),
		json_tokener_parse(
			"{\"scope\":\"" RG
			"/providers/Microsoft.KeyVault/vaults/"
			"kv-cmk-test\",\"principalId\":\"6666b001-6666-4666-"
			"8666-"
			"66666666b001\",\"roleDefinitionId\":\"e147488a-f6f5-"
			"4113-8e2d-b22465e65bf6\",\"name\":\"6666e101-6666-"
			"4666-"
			"8666-66666666e101\",\"principalType\":"
			"\"ServicePrincipal\"}"));
	json_object_array_add(
		jx_get(doc, "roleAssignments"),
		json_tokener_parse(
			"{\"scope\":\"" RG
			"/providers/Microsoft.KeyVault/vaults/"
			"kv-cmk-test/keys/"
			"cmk-test\",\"principalId\":\"6666a003-"
			"6666-4666-8666-66666666a003\",\"roleDefinitionId\":"
			"\"e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"name\":"
			"\"6666e102-6666-4666-8666-66666666e102\","
			"\"principalType\":\"ServicePrincipal\"}"));
	if (st_start_text(&v->t, jx_text(doc), &err) != 0)
		fail_msg("the simulator did not start: %s", err ? err : "?");
	json_object_put(doc);
	free(text);
	env_files(v);
	return v;
}

/*
 * A plan that moves an account from the user-assigned identity its key
 * setting names to its system-assigned one: apply judges the identity the
 * plan chose, not the one the setting names now. The system-assigned
 * identity's access taken away after planning, the proof before the save
 * stops the apply and nothing is saved.
 */
static void test_apply_judges_planned_identity(void **state)
{
	struct env *v = env_start_oai_both();
	struct json_object *r;

	(void)state;
	expect_exit(v,
		    azcmk(v, NULL, "plan", OAI, "--key",
			  KV "/4e070c1b76f1b2e831bf75857a09fd70", "--identity",
			  "system", "--file", v->plan, END),
		    0, "plan moving to the system-assigned identity");
	revoke_at(v, "/keys/cmk-test");
	assert_int_not_equal(azcmk(v, NULL, "--yes", "--propagation-wait", "0",
				   "--access-wait", "0", "apply", v->plan, END),
			     0);
	assert_output(v, "stopped before the save");
	r = state_resource(v, OAI);
	assert_string_equal(jx_str(r,
				   "properties.encryption.keyVaultProperties."
				   "identityClientId"),
			    "6666c001-6666-4666-8666-66666666c001");
	json_object_put(r);
	env_stop(v);
}

/*
 * Resource Health refusing for good (409, its provider not registered in the
 * subscription): a plan, which resource.refresh-needed does not judge, is not
 * stopped by it.
 */
static void test_health_refused_plan(void **state)
{
	struct env *v = env_start("minimal.json", NULL);

	(void)state;
	assert_int_equal(
		st_fault(&v->t, "{\"method\":\"GET\",\"path\":\"*/"
				"availabilityStatuses/current\",\"status\":409,"
				"\"code\":\"MissingSubscriptionRegistration\","
				"\"times\":50}"),
		201);
	expect_exit(v,
		    azcmk(v, NULL, "plan", DICOM, "--key",
			  KV "/4e070c1b76f1b2e831bf75857a09fd70", "--identity",
			  UAI, "--file", v->plan, END),
		    0, "plan with Resource Health refused");
	env_stop(v);
}

/* Runs the plan and apply integration tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_services),
		cmocka_unit_test(test_apply_judges_planned_identity),
		cmocka_unit_test(test_health_refused_plan),
		cmocka_unit_test(test_fifth_service),
		cmocka_unit_test(test_access_policy_vault),
		cmocka_unit_test(test_fixes_in_plan),
		cmocka_unit_test(test_blocker_before_writes),
		cmocka_unit_test(test_refused_save_mapped),
		cmocka_unit_test(test_concurrent_change),
		cmocka_unit_test(test_policy_refusal),
		cmocka_unit_test(test_fix_finding),
		cmocka_unit_test(test_crash_and_resume),
		cmocka_unit_test(test_access_proven_before_save),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_refresh),
		cmocka_unit_test(test_export_formats),
		cmocka_unit_test(test_system_identity_off),
		cmocka_unit_test(test_system_identity_off_refused),
		cmocka_unit_test(test_system_identity_off_proven),
		cmocka_unit_test(test_managed_hsm_grant),
		cmocka_unit_test(test_tampered_plan_refused),
		cmocka_unit_test(test_new_vault_never_rewrites),
		cmocka_unit_test(test_resume_verifies),
		cmocka_unit_test(test_journal_refused),
		cmocka_unit_test(test_torn_journal_line),
		cmocka_unit_test(test_one_apply_at_a_time),
		cmocka_unit_test(test_kill_during_operation),
		cmocka_unit_test(test_create_key_once),
		cmocka_unit_test(test_create_key_answer_lost),
		cmocka_unit_test(test_create_key_throttled),
		cmocka_unit_test(test_create_key_throttled_for_good),
		cmocka_unit_test(test_kill_during_each_operation),
		cmocka_unit_test(test_state_files_refused),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_history_failure),
		cmocka_unit_test(test_unknown_verdicts),
		cmocka_unit_test(test_malformed_resource),
		cmocka_unit_test(test_dicom_identities),
		cmocka_unit_test(test_fix_honours_choices),
		cmocka_unit_test(test_access_wait),
		cmocka_unit_test(test_preflight_refusal),
		cmocka_unit_test(test_hooks_not_in_release),
		cmocka_unit_test(test_server_text_sanitized),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
