/* Unit tests of the audit's core: finding ids, rendering (CSV quoting), reading
 * a report back, remediation defaults. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"
#include "jscan.h"
#include "jx.h"
#include "pick.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define SUB "/subscriptions/s1"
#define RES                                                             \
	SUB "/resourceGroups/g1/providers/Microsoft.CognitiveServices/" \
	    "accounts/oai"

/* Ids are 16 hex digits, stable, blind to case, and differ when the rule,
 * subject or resource does. */
static void test_ids(void **state)
{
	static const struct {
		const char *rule, *subject, *resource;
	} T[] = {
		{ "resource.cmk", RES, RES },
		{ "resource.ready", RES, RES },
		{ "resource.cmk", RES "x", RES "x" },
		{ "key.enabled", "https://kv.vault.azure.net/keys/k", RES },
	};
	char a[17], b[17], first[17];

	audit_id(T[0].rule, T[0].subject, T[0].resource, first);
	assert_int_equal(strlen(first), 16);
	audit_id("RESOURCE.CMK", RES, RES, a);
	assert_string_equal(a, first);
	for (size_t i = 1; i < sizeof(T) / sizeof(T[0]); i++) {
		audit_id(T[i].rule, T[i].subject, T[i].resource, b);
		assert_string_not_equal(b, first);
	}
}

/* Adds one finding with a message, by hand, to a report. */
static void add(struct audit_report *a, const char *rule, const char *message)
{
	struct cmk_ctx c = { .svc = svc_by_key("openai") };
	struct cmk_report r = { 0 };
	struct cmk_finding f = { cmk_rule_find(rule),
				 SEV_WARNING,
				 xstrdup(RES),
				 xstrdup(message),
				 { NULL, NULL, NULL },
				 NULL,
				 false,
				 "" };
	struct json_object *res =
		json_tokener_parse("{\"id\":\"" RES "\",\"name\":\"oai\"}");

	c.resource = res;
	r.items = &f;
	r.n = 1;
	audit_add_report(a, &c, &r);
	free(f.subject);
	free(f.message);
	json_object_put(res);
}

/* CSV fields with commas, quotes and line breaks are quoted as RFC 4180 asks;
 * each record ends in CRLF. */
static void test_csv_quoting(void **state)
{
	struct audit_report a = { 0 };
	char *csv;

	add(&a, "resource.cmk", "plain");
	add(&a, "resource.ready", "a, \"quoted\"\nline");
	csv = audit_render(&a, AUDIT_CSV, false);
	assert_non_null(strstr(csv, ",plain,\r\n"));
	assert_non_null(strstr(csv, ",\"a, \"\"quoted\"\"\nline\",\r\n"));
	assert_non_null(strstr(
		csv, "id,severity,rule,service,subscriptionId,resourceGroup,"
		     "name,resourceId,subject,message,detail\r\n"));
	free(csv);
	audit_free(&a);
}

/* The findings are counted with their plurals, not "blocker(s)". */
static void test_counts_text(void **state)
{
	static const struct {
		size_t b, w, n;
		const char *want;
	} T[] = {
		{ 0, 0, 0, "0 blockers, 0 warnings, 0 notes" },
		{ 1, 1, 1, "1 blocker, 1 warning, 1 note" },
		{ 37, 25, 2, "37 blockers, 25 warnings, 2 notes" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *got = audit_counts_text(T[i].b, T[i].w, T[i].n);

		assert_string_equal(got, T[i].want);
		free(got);
	}
}

/* Parses a SARIF log and returns its one run (the log in *log, to put). */
static struct json_object *sarif_run(const char *text, struct json_object **log)
{
	*log = json_tokener_parse(text);
	assert_non_null(*log);
	assert_int_equal(jx_len(jx_get(*log, "runs")), 1);
	return jx_at(jx_get(*log, "runs"), 0);
}

/*
 * SARIF's links resolve to the resource in the audited cloud's portal: the
 * base is the portal and each location a fragment-only reference (a base
 * ending in "#resource/" would lose its fragment when resolved), encoded
 * where a fragment may not hold the character; the invocation says whether
 * the audit ran to the end, and why not.
 */
static void test_sarif_links(void **state)
{
	static const struct {
		const char *portal, *base, *rid, *uri;
	} T[] = {
		{ NULL, "https://portal.azure.com/", RES, "#resource" RES },
		{ "https://portal.azure.us/", "https://portal.azure.us/", RES,
		  "#resource" RES },
		{ "https://portal.azure.cn/", "https://portal.azure.cn/",
		  "/subscriptions/s/resourceGroups/r g/providers/A.B/c/n#%\x01",
		  "#resource/subscriptions/s/resourceGroups/r%20g/providers/"
		  "A.B/"
		  "c/n%23%25%01" },
	};
	struct json_object *log, *run;
	struct audit_writer w;
	char *text;

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct audit_report a = { 0 };

		add(&a, "resource.cmk", "m1");
		free(a.items[0].resource_id);
		a.items[0].resource_id = xstrdup(T[i].rid);
		a.portal = T[i].portal;
		text = audit_render(&a, AUDIT_SARIF, false);
		run = sarif_run(text, &log);
		assert_string_equal(jx_str(run, "originalUriBaseIds.AZURE.uri"),
				    T[i].base);
		assert_string_equal(
			jx_str(jx_at(jx_get(jx_at(jx_get(run, "results"), 0),
					    "locations"),
				     0),
			       "physicalLocation.artifactLocation.uri"),
			T[i].uri);
		assert_true(jx_bool(jx_at(jx_get(run, "invocations"), 0),
				    "executionSuccessful", false));
		json_object_put(log);
		free(text);
		audit_free(&a);
	}
	{
		struct audit_report a = { 0 };
		struct json_object *inv;

		add(&a, "resource.cmk", "m1");
		audit_writer_begin(&w, AUDIT_SARIF, false, &a);
		audit_writer_part(&w, &a);
		audit_writer_abort(&w, "the audit stopped: Graph answered 500");
		text = sb_steal(&w.out);
		run = sarif_run(text, &log);
		inv = jx_at(jx_get(run, "invocations"), 0);
		assert_int_equal(jx_len(jx_get(run, "results")), 1);
		assert_false(jx_bool(inv, "executionSuccessful", true));
		assert_string_equal(
			jx_str(jx_at(jx_get(inv, "toolExecutionNotifications"),
				     0),
			       "message.text"),
			"the audit stopped: Graph answered 500");
		json_object_put(log);
		free(text);
		audit_writer_free(&w);
		audit_free(&a);
	}
}

/* A report reads back from its JSON; other documents and unknown rules are
 * refused with a reason. */
static void test_from_json(void **state)
{
	static const struct {
		const char *doc;
		int rc;
	} T[] = {
		{ "{\"schema\":\"azcmk-audit/1\",\"findings\":[]}", 0 },
		{ "{\"schema\":\"azcmk-plan/1\",\"findings\":[]}", -1 },
		{ "{\"schema\":\"azcmk-audit/1\"}", -1 },
		{ "{\"schema\":\"azcmk-audit/"
		  "1\",\"findings\":[{\"id\":\"0123456789abcdef\",\"rule\":"
		  "\"no.such\","
		  "\"resourceId\":\"" RES "\"}]}",
		  -1 },
		{ "{\"schema\":\"azcmk-audit/"
		  "1\",\"findings\":[{\"id\":\"0123\",\"rule\":\"resource."
		  "cmk\",\"resourceId\":\"" RES "\"}]}",
		  -1 },
	};
	struct audit_report a = { 0 }, back;
	struct json_object *j;
	char *text, *err = NULL;

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		j = json_tokener_parse(T[i].doc);
		assert_int_equal(audit_from_json(j, &back, &err), T[i].rc);
		if (T[i].rc != 0)
			assert_non_null(err);
		free(err);
		err = NULL;
		audit_free(&back);
		json_object_put(j);
	}
	add(&a, "resource.cmk", "m1");
	add(&a, "resource.ready", "m2");
	text = audit_render(&a, AUDIT_JSON, false);
	j = json_tokener_parse(text);
	assert_int_equal(audit_from_json(j, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_ptr_equal(audit_find(&back, a.items[1].id), &back.items[1]);
	assert_null(audit_find(&back, "abc"));
	assert_string_equal(back.items[0].message, "m1");
	audit_free(&back);
	audit_free(&a);
	json_object_put(j);
	free(text);
}

/* Vaults of other tenants (and regions, where the service needs its own) are
 * left out; the best comes first. */
static void test_pick_vaults(void **state)
{
	static const char VAULTS[] =
		"["
		"{\"id\":\"" SUB
		"/resourceGroups/g9/providers/Microsoft.KeyVault/vaults/"
		"far\",\"name\":\"far\",\"location\":\"westus3\","
		"\"properties\":{\"tenantId\":\"t1\"}},"
		"{\"id\":\"" SUB
		"/resourceGroups/g1/providers/Microsoft.KeyVault/vaults/"
		"near\",\"name\":\"near\",\"location\":\"West US 3\","
		"\"properties\":{\"tenantId\":\"t1\",\"enablePurgeProtection\":"
		"true}},"
		"{\"id\":\"" SUB
		"/resourceGroups/g1/providers/Microsoft.KeyVault/vaults/"
		"other\",\"name\":\"other\",\"location\":\"westus3\","
		"\"properties\":{\"tenantId\":\"t9\",\"enablePurgeProtection\":"
		"true}},"
		"{\"id\":\"" SUB
		"/resourceGroups/g1/providers/Microsoft.KeyVault/vaults/"
		"east\",\"name\":\"east\",\"location\":\"eastus\","
		"\"properties\":{\"tenantId\":\"t1\",\"enablePurgeProtection\":"
		"true}}]";
	static const struct {
		const char *svc;
		size_t n;
		const char *first;
	} T[] = {
		{ "openai", 2, "near" },
		{ "dicom", 3, "near" },
	};
	struct json_object *vaults = json_tokener_parse(VAULTS);
	struct json_object *res = json_tokener_parse(
		"{\"id\":\"" RES "\",\"location\":\"westus3\"}");
	size_t order[8];

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		size_t n = pick_vaults(svc_by_key(T[i].svc), res, "t1", vaults,
				       order, 8);

		assert_int_equal(n, T[i].n);
		assert_string_equal(jx_str(jx_at(vaults, order[0]), "name"),
				    T[i].first);
		for (size_t k = 0; k < n; k++)
			assert_string_not_equal(
				jx_str(jx_at(vaults, order[k]), "name"),
				"other");
	}
	assert_int_equal(
		pick_vaults(svc_by_key("dicom"), res, "t1", vaults, order, 1),
		1);
	assert_string_equal(jx_str(jx_at(vaults, order[0]), "name"), "near");
	json_object_put(vaults);
	json_object_put(res);
}

/* For a service that may use a vault anywhere, one in its own region comes
 * before one in its own resource group elsewhere (data residency). */
static void test_pick_vaults_region(void **state)
{
	struct json_object *vaults = json_tokener_parse(
		"[{\"id\":\"" SUB "/resourceGroups/g1/providers/"
		"Microsoft.KeyVault/vaults/east\",\"name\":\"east\","
		"\"location\":\"eastus\",\"properties\":{\"tenantId\":\"t1\","
		"\"enablePurgeProtection\":true,\"enableRbacAuthorization\":"
		"true}},{\"id\":\"/subscriptions/other/resourceGroups/g9/"
		"providers/Microsoft.KeyVault/vaults/west\",\"name\":\"west\","
		"\"location\":\"westus3\",\"properties\":{\"tenantId\":\"t1\","
		"\"enableSoftDelete\":false}}]");
	struct json_object *res = json_tokener_parse(
		"{\"id\":\"" RES "\",\"location\":\"West US 3\"}");
	static const char *const SVCS[] = { "dicom", "healthbot" };
	size_t order[2];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(pick_vaults(svc_by_key(SVCS[i]), res, "t1",
					     vaults, order, 2),
				 2);
		assert_string_equal(jx_str(jx_at(vaults, order[0]), "name"),
				    "west");
	}
	json_object_put(vaults);
	json_object_put(res);
}

/* A listed key store is told apart as Graph (lower case) or ARM writes its
 * type, and its data-plane URI read. */
static void test_key_stores(void **state)
{
	static const struct {
		const char *json;
		bool hsm;
		const char *uri;
	} T[] = {
		{ "{\"type\":\"microsoft.keyvault/"
		  "managedhsms\",\"properties\":{\"hsmUri\":\"https://"
		  "h.managedhsm.azure.net/\"}}",
		  true, "https://h.managedhsm.azure.net/" },
		{ "{\"type\":\"Microsoft.KeyVault/"
		  "managedHSMs\",\"properties\":{\"vaultUri\":\"https://"
		  "x.vault.azure.net/\"}}",
		  true, NULL },
		{ "{\"type\":\"Microsoft.KeyVault/"
		  "vaults\",\"properties\":{\"vaultUri\":\"https://"
		  "kv.vault.azure.net/\"}}",
		  false, "https://kv.vault.azure.net/" },
		{ "{}", false, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *o = json_tokener_parse(T[i].json);
		const char *uri = pick_store_uri(o);

		assert_int_equal(pick_is_hsm(o), T[i].hsm);
		if (T[i].uri)
			assert_string_equal(uri, T[i].uri);
		else
			assert_null(uri);
		json_object_put(o);
	}
}

/* A new key's name comes from the resource's (a DICOM service's own part), in
 * the characters Key Vault allows. */
static void test_key_name(void **state)
{
	static const struct {
		const char *resource, *want;
	} T[] = {
		{ "{\"name\":\"oai-ch-prod\"}", "cmk-oai-ch-prod" },
		{ "{\"name\":\"ws/dicom_one\"}", "cmk-dicom-one" },
		{ "{}", "cmk-resource" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *r = json_tokener_parse(T[i].resource);
		char *name = pick_key_name(r);

		assert_string_equal(name, T[i].want);
		free(name);
		json_object_put(r);
	}
}

/* Counts scanned elements and concatenates their "id" members. */
static void collect_ids(struct json_object *el, void *ud)
{
	struct sbuf *b = ud;

	const char *v = jx_str(el, "id") ? jx_str(el, "id")
					 : json_object_get_string(el);

	sb_printf(b, "%s;", v ? v : "");
}

/* The scanner hands over each element of a top-level list, whatever strings and
 * nesting hold; bad text is -1. */
static void test_scan(void **state)
{
	static const struct {
		const char *text, *member;
		long n;
		const char *ids;
	} T[] = {
		{ "{\"count\": 2, \"data\": [{\"id\": \"a\"}, {\"id\": \"b\", "
		  "\"x\": [1, {\"y\": \"]}\"}]}]}",
		  "data", 2, "a;b;" },
		{ "{\"s\": \"q\\\"[{\", \"data\": [ {\"id\": \"c\\\"d\"} ] }",
		  "data", 1, "c\"d;" },
		{ "{\"data\": []}", "data", 0, "" },
		{ "{\"data\": [1, \"two\", null]}", "data", 3, "1;two;;" },
		{ "{\"value\": []}", "data", -1, "" },
		{ "{\"data\": {}}", "data", -1, "" },
		{ "{\"data\": [{\"id\": }]}", "data", -1, "" },
		{ "[1, 2]", "data", -1, "" },
		{ "{\"data\": [{\"id\": \"a\"}, {\"id\"", "data", -1, "a;" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct sbuf b = SBUF_INIT;
		long n = jscan_each(T[i].text, strlen(T[i].text), T[i].member,
				    collect_ids, &b);

		if (n != T[i].n || strcmp(b.s ? b.s : "", T[i].ids) != 0)
			fail_msg("row %zu: %ld elements '%s', wanted %ld '%s'",
				 i, n, b.s ? b.s : "", T[i].n, T[i].ids);
		sb_free(&b);
	}
}

/* Joins the scanned elements' own bytes with '|'. */
static void collect_text(struct json_object *el, const char *text, size_t len,
			 void *ud)
{
	struct sbuf *b = ud;

	(void)el;
	if (b->len)
		sb_addc(b, '|');
	sb_add(b, text, len);
}

/* The scanner hands over each element's bytes exactly as the answer has them:
 * the audit holds a row by them and reads it again later. */
static void test_scan_text(void **state)
{
	static const struct {
		const char *text;
		long n;
		const char *slices;
	} T[] = {
		{ "{\"data\": [{\"id\": \"a\"}, {\"id\": \"b\", \"x\": [1, "
		  "{\"y\": \"]}\"}]}]}",
		  2,
		  "{\"id\": \"a\"}|{\"id\": \"b\", \"x\": [1, {\"y\": "
		  "\"]}\"}]}" },
		{ "{\"data\":[ {\"id\":\"c\\\"d\"} ,null,\"s\" ]}", 3,
		  "{\"id\":\"c\\\"d\"}|null|\"s\"" },
		{ "{\"data\": []}", 0, "" },
		{ "{\"data\": [{\"id\": }]}", -1, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct sbuf b = SBUF_INIT;
		long n = jscan_each_text(T[i].text, strlen(T[i].text), "data",
					 collect_text, &b);

		if (n != T[i].n || strcmp(sb_str(&b), T[i].slices) != 0)
			fail_msg("row %zu: %ld elements '%s', wanted %ld '%s'",
				 i, n, sb_str(&b), T[i].n, T[i].slices);
		sb_free(&b);
	}
}

/* A top-level string member comes back unescaped; absent or not a string is
 * NULL. */
static void test_scan_string(void **state)
{
	static const char TEXT[] =
		"{\"data\": [{\"$skipToken\": \"inner\"}], \"$skipToken\": "
		"\"a\\/b\\u0041\", \"n\": 3}";
	char *v = jscan_string(TEXT, strlen(TEXT), "$skipToken");

	assert_string_equal(v, "a/bA");
	free(v);
	assert_null(jscan_string(TEXT, strlen(TEXT), "n"));
	assert_null(jscan_string(TEXT, strlen(TEXT), "missing"));
	assert_null(jscan_string(NULL, 0, "n"));
}

/* Runs the audit core's unit tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_csv_quoting),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_sarif_links),
		cmocka_unit_test(test_counts_text),
		cmocka_unit_test(test_pick_vaults),
		cmocka_unit_test(test_pick_vaults_region),
		cmocka_unit_test(test_key_stores),
		cmocka_unit_test(test_key_name),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_scan_text),
		cmocka_unit_test(test_scan_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
