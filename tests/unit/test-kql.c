/* Unit tests for the simulator's KQL subset (src/sim/kql.c): a query table,
 * output shapes and a fuzz loop. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "kql.h"
#include "sbuf.h"
#include "xalloc.h"

#define SUB \
	"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
#define DICOM                                                              \
	SUB "rg-health/providers/Microsoft.HealthcareApis/workspaces/ws1/" \
	    "dicomservices/dicom1"
#define BOT SUB "rg-health/providers/Microsoft.HealthBot/healthBots/bot1"
#define OAI SUB "rg-ai/providers/Microsoft.CognitiveServices/accounts/oai1"
#define AIS SUB "rg-ai/providers/Microsoft.CognitiveServices/accounts/ais1"
#define KV1 SUB "rg-keys/providers/Microsoft.KeyVault/vaults/kv1"
#define KV2 SUB "rg-keys/providers/Microsoft.KeyVault/vaults/kv2"
#define ST SUB "rg-logs/providers/Microsoft.Storage/storageAccounts/stlogs"
#define FHIR                                                               \
	SUB "rg-health/providers/Microsoft.HealthcareApis/workspaces/ws1/" \
	    "fhirservices/fhir1"

/* The fixed inventory every query runs over, in this order. */
static const char rows_json[] =
	"["
	"{\"id\":\"" DICOM "\",\"name\":\"dicom1\",\"type\":\"microsoft."
	"healthcareapis/workspaces/dicomservices\","
	" \"kind\":null,\"location\":\"westeurope\",\"resourceGroup\":\"rg-"
	"health\",\"tags\":{},"
	" \"identity\":{\"type\":\"UserAssigned\"},\"properties\":{"
	"\"provisioningState\":\"Succeeded\","
	" \"encryption\":{\"customerManagedKeyEncryption\":{"
	"\"keyEncryptionKeyUrl\":\"https://kv1.vault.azure.net/keys/k1\"}}}},"
	"{\"id\":\"" BOT "\",\"name\":\"bot1\",\"type\":\"microsoft.healthbot/"
	"healthbots\",\"location\":\"eastus\","
	" \"resourceGroup\":\"rg-health\",\"sku\":{\"name\":\"F0\"},\"tags\":{"
	"\"env\":\"Prod\"},\"properties\":{}},"
	"{\"id\":\"" OAI "\",\"name\":\"oai1\",\"type\":\"microsoft."
	"cognitiveservices/accounts\",\"kind\":\"OpenAI\","
	" \"location\":\"swedencentral\",\"resourceGroup\":\"rg-ai\",\"sku\":{"
	"\"name\":\"S0\"},"
	" \"tags\":{\"env\":\"prod\",\"owner\":\"ai-team\"},\"properties\":{"
	"\"encryption\":{\"keySource\":\"Microsoft.KeyVault\","
	" \"keyVaultProperties\":{\"keyName\":\"k2\",\"keyVaultUri\":\"https://"
	"kv1.vault.azure.net/\"}}}},"
	"{\"id\":\"" AIS "\",\"name\":\"ais1\",\"type\":\"microsoft."
	"cognitiveservices/accounts\",\"kind\":\"AIServices\","
	" \"location\":\"eastus\",\"resourceGroup\":\"rg-ai\",\"sku\":{"
	"\"name\":\"S0\"},"
	" \"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	"CognitiveServices\"}}},"
	"{\"id\":\"" KV1 "\",\"name\":\"kv1\",\"type\":\"microsoft.keyvault/"
	"vaults\",\"location\":\"westeurope\","
	" \"resourceGroup\":\"rg-keys\",\"tags\":{\"env\":\"prod\"},\"zones\":["
	"\"1\",\"2\"],"
	" \"properties\":{\"enableSoftDelete\":true,\"enablePurgeProtection\":"
	"true,\"softDeleteRetentionInDays\":90}},"
	"{\"id\":\"" KV2 "\",\"name\":\"kv2\",\"type\":\"microsoft.keyvault/"
	"vaults\",\"location\":\"westeurope\","
	" \"resourceGroup\":\"rg-keys\",\"properties\":{\"enableSoftDelete\":"
	"true,\"enablePurgeProtection\":false,"
	" \"softDeleteRetentionInDays\":7}},"
	"{\"id\":\"" ST "\",\"name\":\"stlogs\",\"type\":\"microsoft.storage/"
	"storageaccounts\",\"kind\":\"StorageV2\","
	" \"location\":\"eastus\",\"resourceGroup\":\"rg-logs\",\"properties\":"
	"{\"encryption\":{\"keySource\":\"Microsoft.Storage\"}}},"
	"{\"id\":\"" FHIR "\",\"name\":\"fhir1\",\"type\":\"microsoft."
	"healthcareapis/workspaces/fhirservices\","
	" \"kind\":\"fhir-R4\",\"location\":\"westeurope\",\"resourceGroup\":"
	"\"rg-health\",\"properties\":{}}"
	"]";

struct kql_case {
	const char *query;
	size_t count;      /* rows expected */
	const char *first; /* id of the first row, or NULL not to check it */
	bool error;        /* the query must be refused */
};

/* Queries, expected row counts and first ids. */
static const struct kql_case cases[] = {
	/* tables and limits */
	{ "Resources", 8, DICOM, false },
	{ "resources", 8, DICOM, false },
	{ "RESOURCES | take 3", 3, DICOM, false },
	{ "Resources | limit 0", 0, NULL, false },
	{ "Resources | limit 100", 8, DICOM, false },
	{ "Resources\n// a comment\n| where name == 'kv1'\n\t| project id", 1,
	  KV1, false },
	/* equality */
	{ "Resources | where type == 'microsoft.keyvault/vaults'", 2, KV1,
	  false },
	{ "Resources | where type == 'Microsoft.KeyVault/vaults'", 0, NULL,
	  false },
	{ "Resources | where type =~ 'Microsoft.KeyVault/vaults'", 2, KV1,
	  false },
	{ "Resources | where type != 'microsoft.keyvault/vaults'", 6, DICOM,
	  false },
	{ "Resources | where kind !~ 'OPENAI'", 7, DICOM, false },
	{ "Resources | where name == \"bot1\"", 1, BOT, false },
	{ "Resources | where 'kv2' == name", 1, KV2, false },
	{ "Resources | where name == 'it\\'s'", 0, NULL, false },
	{ "Resources | where name == @'kv1'", 1, KV1, false },
	/* in-lists */
	{ "Resources | where kind in ('OpenAI', 'AIServices')", 2, OAI, false },
	{ "Resources | where type in ('Microsoft.CognitiveServices/Accounts')",
	  0, NULL, false },
	{ "Resources | where type in~ ('Microsoft.CognitiveServices/Accounts', "
	  "'MICROSOFT.HEALTHBOT/healthbots')",
	  3, BOT, false },
	{ "Resources | where kind !in ('OpenAI', 'AIServices')", 6, DICOM,
	  false },
	{ "Resources | where kind !in~ ('openai', 'aiservices', 'storagev2')",
	  5, DICOM, false },
	{ "Resources | where properties.softDeleteRetentionInDays in (7, 30)",
	  1, KV2, false },
	/* string operators */
	{ "Resources | where type contains 'HEALTHCARE'", 2, DICOM, false },
	{ "Resources | where type !contains 'healthcare'", 6, BOT, false },
	{ "Resources | where type contains_cs 'HEALTHCARE'", 0, NULL, false },
	{ "Resources | where name startswith 'KV'", 2, KV1, false },
	{ "Resources | where name !startswith 'kv'", 6, DICOM, false },
	{ "Resources | where type endswith 'SERVICES'", 2, DICOM, false },
	{ "Resources | where type !endswith 'services'", 6, BOT, false },
	{ "Resources | where id has 'healthbots'", 1, BOT, false },
	{ "Resources | where type has 'vault'", 0, NULL, false },
	{ "Resources | where type has 'vaults'", 2, KV1, false },
	{ "Resources | where type !has 'vaults'", 6, DICOM, false },
	{ "Resources | where "
	  "properties.encryption.keyVaultProperties.keyVaultUri has "
	  "'vault.azure.net'",
	  1, OAI, false },
	/* paths, emptiness, literals */
	{ "Resources | where properties.encryption.keySource == "
	  "'Microsoft.KeyVault'",
	  1, OAI, false },
	{ "Resources | where properties['encryption']['keySource'] =~ "
	  "'microsoft.keyvault'",
	  1, OAI, false },
	{ "Resources | where properties.encryption['keySource'] startswith "
	  "'microsoft.'",
	  3, OAI, false },
	{ "Resources | where zones[0] == '1'", 1, KV1, false },
	{ "Resources | where zones[-1] == '2'", 1, KV1, false },
	{ "Resources | where zones[5] == '2'", 0, NULL, false },
	{ "Resources | where isnotempty(properties.encryption.keySource)", 3,
	  OAI, false },
	{ "Resources | where isempty(kind)", 4, DICOM, false },
	{ "Resources | where isnull(zones)", 7, DICOM, false },
	{ "Resources | where isnotnull(zones)", 1, KV1, false },
	{ "Resources | where isnull(kind)", 0, NULL, false },
	{ "Resources | where kind == ''", 4, DICOM, false },
	{ "Resources | where isnull(plan)", 8, DICOM, false },
	{ "Resources | where properties.enablePurgeProtection == true", 1, KV1,
	  false },
	{ "Resources | where properties.enablePurgeProtection == False", 1, KV2,
	  false },
	{ "Resources | where properties.enablePurgeProtection", 1, KV1, false },
	{ "Resources | where properties.softDeleteRetentionInDays < 30", 1, KV2,
	  false },
	{ "Resources | where properties.softDeleteRetentionInDays >= 90.0", 1,
	  KV1, false },
	{ "Resources | where properties.softDeleteRetentionInDays == 90", 1,
	  KV1, false },
	{ "Resources | where properties.softDeleteRetentionInDays == '7'", 1,
	  KV2, false },
	{ "Resources | where properties.softDeleteRetentionInDays > -1", 2, KV1,
	  false },
	{ "Resources | where tags.env == 'prod'", 2, OAI, false },
	{ "Resources | where tags.env =~ 'prod'", 3, BOT, false },
	{ "Resources | where tags.env != 'prod'", 6, DICOM, false },
	{ "Resources | where sku == '{\"name\":\"F0\"}'", 1, BOT, false },
	/* functions and logic */
	{ "Resources | where not(type == 'microsoft.keyvault/vaults')", 6,
	  DICOM, false },
	{ "Resources | where not(properties.enablePurgeProtection)", 1, KV2,
	  false },
	{ "Resources | where tolower(kind) == 'openai'", 1, OAI, false },
	{ "Resources | where toupper(name) == 'KV2'", 1, KV2, false },
	{ "Resources | where tostring(properties.enableSoftDelete) == 'true'",
	  2, KV1, false },
	{ "Resources | where array_length(zones) == 2", 1, KV1, false },
	{ "Resources | where (kind == 'OpenAI' or kind == 'AIServices') and "
	  "location == 'eastus'",
	  1, AIS, false },
	{ "Resources | where kind == 'OpenAI' or kind == 'AIServices' and "
	  "location == 'westeurope'",
	  1, OAI, false },
	{ "Resources | where type =~ 'microsoft.keyvault/vaults' and "
	  "properties.enableSoftDelete == true"
	  " and properties.enablePurgeProtection == false",
	  1, KV2, false },
	{ "resources | WHERE kind == 'OpenAI' OR name == 'kv2'", 2, OAI,
	  false },
	{ "Resources | where type == 'microsoft.keyvault/vaults' | where name "
	  "== 'kv2'",
	  1, KV2, false },
	/* project, extend, project-away */
	{ "Resources | project name, kind | where name == 'bot1'", 1, NULL,
	  false },
	{ "Resources | project id, properties.encryption.keySource"
	  " | where isnotempty(properties_encryption_keySource)",
	  3, OAI, false },
	{ "Resources | project id, ks = "
	  "tostring(properties.encryption.keySource) | where ks endswith "
	  "'storage'",
	  1, ST, false },
	{ "Resources | extend ks = tostring(properties.encryption.keySource) | "
	  "where ks == 'Microsoft.Storage'",
	  1, ST, false },
	{ "Resources | extend a = name, b = a | where b == 'kv1'", 1, KV1,
	  false },
	{ "Resources | project-away properties, tags | where name == 'kv1'", 1,
	  KV1, false },
	/* order by */
	{ "Resources | order by name asc", 8, AIS, false },
	{ "Resources | order by name", 8, ST, false },
	{ "Resources | sort by location asc, name desc | take 1", 1, ST,
	  false },
	{ "Resources | order by properties.softDeleteRetentionInDays asc | "
	  "take 1",
	  1, DICOM, false },
	{ "Resources | order by properties.softDeleteRetentionInDays asc nulls "
	  "last",
	  8, KV2, false },
	{ "Resources | order by properties.softDeleteRetentionInDays desc", 8,
	  KV1, false },
	{ "Resources | order by properties.softDeleteRetentionInDays desc "
	  "nulls first",
	  8, DICOM, false },
	{ "Resources | where isnotempty(kind) | order by tolower(kind) asc", 4,
	  AIS, false },
	/* summarize */
	{ "Resources | summarize count()", 1, NULL, false },
	{ "Resources | where name == 'nothing' | summarize count()", 1, NULL,
	  false },
	{ "Resources | summarize count() by type", 6, NULL, false },
	{ "Resources | summarize count() by type, location", 7, NULL, false },
	{ "Resources | summarize n = count() by tostring(tags.env)", 3, NULL,
	  false },
	{ "Resources | summarize by kind", 5, NULL, false },
	{ "Resources | summarize count() by t = type | where count > 1 and t "
	  "has 'vaults'",
	  1, NULL, false },
	{ "Resources | summarize count() by type | where count > 1 | project "
	  "type",
	  2, NULL, false },
	{ "Resources | summarize c = count() by rg = resourceGroup | order by "
	  "c desc | take 1",
	  1, NULL, false },
	{ "Resources | where name == 'nothing' | summarize count() by type", 0,
	  NULL, false },
	{ "Resources | summarize count() by properties.enableSoftDelete", 2,
	  NULL, false },
	{ "Resources | project id, type | summarize count() by type | "
	  "summarize count()",
	  1, NULL, false },
	/* errors */
	{ "Servers", 0, NULL, true },
	{ "ResourceContainers | take 1", 0, NULL, true },
	{ "", 0, NULL, true },
	{ "   ", 0, NULL, true },
	{ "| where name == 'x'", 0, NULL, true },
	{ "Resources |", 0, NULL, true },
	{ "Resources | where", 0, NULL, true },
	{ "Resources | where name == 'abc", 0, NULL, true },
	{ "Resources | where name == \"abc", 0, NULL, true },
	{ "Resources | where name == 'a\\qb'", 0, NULL, true },
	{ "Resources | where name ==", 0, NULL, true },
	{ "Resources | where name == 'a' extra", 0, NULL, true },
	{ "Resources | where name == 'a' == 'b'", 0, NULL, true },
	{ "Resources | summarize", 0, NULL, true },
	{ "Resources | summarize count", 0, NULL, true },
	{ "Resources | summarize count(", 0, NULL, true },
	{ "Resources | summarize count(name)", 0, NULL, true },
	{ "Resources | summarize sum(name)", 0, NULL, true },
	{ "Resources | summarize name", 0, NULL, true },
	{ "Resources | summarize count() by", 0, NULL, true },
	{ "Resources | summarize count() by type,", 0, NULL, true },
	{ "Resources | summarize count() by nosuch", 0, NULL, true },
	{ "Resources | summarize count() by count()", 0, NULL, true },
	{ "Resources | summarize count(), count()", 0, NULL, true },
	{ "Resources | summarize type = count() by type", 0, NULL, true },
	{ "Resources | summarize count() by type, type", 0, NULL, true },
	{ "Resources | summarize by = count()", 0, NULL, true },
	{ "Resources | summarize count() by and = type", 0, NULL, true },
	{ "Resources | summarize count() extra", 0, NULL, true },
	{ "Resources | summarize count() by type | where name == 'x'", 0, NULL,
	  true },
	{ "Resources | summarize count() by type | where count == 'x' and", 0,
	  NULL, true },
	{ "Resources | where count() > 1", 0, NULL, true },
	{ "Resources | project-rename n = name", 0, NULL, true },
	{ "Resources | take -1", 0, NULL, true },
	{ "Resources | take 'x'", 0, NULL, true },
	{ "Resources | take 1.5", 0, NULL, true },
	{ "Resources | take 99999999999999999999999", 0, NULL, true },
	{ "Resources | where nosuchcolumn == 1", 0, NULL, true },
	{ "Resources | where Name == 'kv1'", 0, NULL, true },
	{ "Resources | project name | where id == 'x'", 0, NULL, true },
	{ "Resources | project-away properties | where properties.x == 1", 0,
	  NULL, true },
	{ "Resources | project-away nosuch", 0, NULL, true },
	{ "Resources | where tolower(name)", 0, NULL, true },
	{ "Resources | where name", 0, NULL, true },
	{ "Resources | where name.first == 'x'", 0, NULL, true },
	{ "Resources | extend n = tostring(name) | where n['x'] == 'x'", 0,
	  NULL, true },
	{ "Resources | where name == 'a' and 5", 0, NULL, true },
	{ "Resources | where frobnicate(name)", 0, NULL, true },
	{ "Resources | where tolower(name, 1) == 'a'", 0, NULL, true },
	{ "Resources | where name in ()", 0, NULL, true },
	{ "Resources | where name in 'a'", 0, NULL, true },
	{ "Resources | where zones[ == 1", 0, NULL, true },
	{ "Resources | where properties. == 1", 0, NULL, true },
	{ "Resources | order name", 0, NULL, true },
	{ "Resources | order by name nulls sometimes", 0, NULL, true },
	{ "Resources | project name, name", 0, NULL, true },
	{ "Resources | extend and = 1", 0, NULL, true },
	{ "Resources | where x = 1", 0, NULL, true },
	{ "Resources | where properties.a > 1e999", 0, NULL, true },
	{ "Resources # where", 0, NULL, true },
	{ "@@@", 0, NULL, true },
	{ "Resources | where "
	  "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
	  "("
	  "name == 'x'",
	  0, NULL, true },
};

/* Parses the fixed inventory. */
static struct json_object *load_rows(void)
{
	struct json_object *rows = json_tokener_parse(rows_json);

	assert_non_null(rows);
	assert_int_equal(jx_len(rows), 8);
	return rows;
}

/* Compares two possibly-NULL strings. */
static bool same_text(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Runs one table case and checks its outcome. */
static void check_case(struct json_object *rows, const struct kql_case *c)
{
	char *err = NULL;
	struct json_object *out = kql_run(c->query, rows, &err);

	if (c->error) {
		if (out || !err)
			fail_msg("query should fail: %s", c->query);
		free(err);
		return;
	}
	if (!out || err)
		fail_msg("query failed: %s: %s", c->query,
			 err ? err : "(no message)");
	if (jx_len(out) != c->count)
		fail_msg("query %s: %zu rows, expected %zu", c->query,
			 jx_len(out), c->count);
	if (c->first && !same_text(jx_str(jx_at(out, 0), "id"), c->first))
		fail_msg("query %s: first id %s", c->query,
			 jx_str(jx_at(out, 0), "id"));
	json_object_put(out);
}

/* Every table case gives the expected rows or error. */
static void test_table(void **state)
{
	struct json_object *rows = load_rows();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(rows, &cases[i]);
	json_object_put(rows);
}

/* Runs a query over the fixed inventory that must succeed, and returns its
 * rows. */
static struct json_object *run_ok(const char *query)
{
	struct json_object *rows = load_rows();
	char *err = NULL;
	struct json_object *out = kql_run(query, rows, &err);

	if (!out || err)
		fail_msg("query failed: %s: %s", query,
			 err ? err : "(no message)");
	json_object_put(rows);
	return out;
}

/* Runs a query that must fail and returns its message (the caller frees it). */
static char *error_of(const char *query)
{
	struct json_object *rows = load_rows();
	char *err = NULL;
	struct json_object *out = kql_run(query, rows, &err);

	assert_null(out);
	assert_non_null(err);
	json_object_put(rows);
	return err;
}

/* Error messages name their kind and the byte position, as Resource Graph does.
 */
static void test_error_messages(void **state)
{
	static const struct {
		const char *query;
		const char *needles[3];
	} msgs[] = {
		{ "Servers | take 1",
		  { "SemanticError", "unknown table", "at position 0" } },
		{ "Resources | where name == 'abc",
		  { "ParserFailure", "unterminated string",
		    "at position 26" } },
		{ "Resources | join (Resources) on id",
		  { "ParserFailure", "'join'", "at position 12" } },
		{ "Resources | summarize max(name)",
		  { "SemanticError", "'max'", "at position 22" } },
		{ "Resources | where \x01 == 1",
		  { "ParserFailure", "0x01", "at position 18" } },
		{ "Resources | where Name == 'x'",
		  { "SemanticError", "'Name'", "at position 18" } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		char *e = error_of(msgs[i].query);

		for (size_t k = 0; k < 3; k++)
			if (!strstr(e, msgs[i].needles[k]))
				fail_msg(
					"query %s: message \"%s\" lacks \"%s\"",
					msgs[i].query, e, msgs[i].needles[k]);
		free(e);
	}
}

/* project names flattened paths with underscores and keeps json types. */
static void test_project_shape(void **state)
{
	struct json_object *out = run_ok(
		"Resources | where name == 'kv1' | project id, properties,"
		" properties.softDeleteRetentionInDays, z = zones, "
		"tags['env'], zones[1],"
		" tolower(name), nothing = properties.missing.deeper");
	struct json_object *row;

	(void)state;
	assert_int_equal(jx_len(out), 1);
	row = jx_at(out, 0);
	assert_int_equal(json_object_object_length(row), 8);
	assert_string_equal(jx_str(row, "id"), KV1);
	assert_true(json_object_is_type(jx_get(row, "properties"),
					json_type_object));
	assert_true(jx_bool(row, "properties.enablePurgeProtection", false));
	assert_true(json_object_is_type(
		jx_get(row, "properties_softDeleteRetentionInDays"),
		json_type_int));
	assert_int_equal(jx_int(row, "properties_softDeleteRetentionInDays", 0),
			 90);
	assert_true(json_object_is_type(jx_get(row, "z"), json_type_array));
	assert_int_equal(jx_len(jx_get(row, "z")), 2);
	assert_string_equal(jx_str(row, "tags_env"), "prod");
	assert_string_equal(jx_str(row, "zones_1"), "2");
	assert_string_equal(jx_str(row, "Column1"), "kv1");
	assert_true(json_object_object_get_ex(row, "nothing", NULL));
	assert_null(jx_get(row, "nothing"));
	json_object_put(out);
}

/* summarize counts rows per distinct key, names keys as Resource Graph does,
 * and counts no rows as 0. */
static void test_summarize_shape(void **state)
{
	struct json_object *out =
		run_ok("Resources | where type =~ 'microsoft.keyvault/vaults'"
		       " | summarize count() by "
		       "tostring(properties.enablePurgeProtection), location");
	struct json_object *row;

	(void)state;
	assert_int_equal(jx_len(out), 2);
	row = jx_at(out, 0);
	assert_int_equal(json_object_object_length(row), 3);
	assert_string_equal(jx_str(row, "properties_enablePurgeProtection"),
			    "true");
	assert_string_equal(jx_str(row, "location"), "westeurope");
	assert_true(json_object_is_type(jx_get(row, "count"), json_type_int));
	assert_int_equal(jx_int(row, "count", 0), 1);
	json_object_put(out);
	out = run_ok("Resources | summarize n = count() by type | order by n "
		     "desc | take 1");
	assert_int_equal(jx_int(jx_at(out, 0), "n", 0), 2);
	json_object_put(out);
	out = run_ok("Resources | where name == 'nothing' | summarize count()");
	assert_int_equal(jx_len(out), 1);
	assert_int_equal(json_object_object_length(jx_at(out, 0)), 1);
	assert_int_equal(jx_int(jx_at(out, 0), "count", -1), 0);
	json_object_put(out);
	out = run_ok("Resources | summarize count()");
	assert_int_equal(jx_int(jx_at(out, 0), "count", 0), 8);
	json_object_put(out);
}

/* Rows come out with every Resources column: "" for a missing string, null for
 * a missing value. */
static void test_full_rows(void **state)
{
	struct json_object *out = run_ok("Resources | where name == 'bot1'");
	struct json_object *row;

	(void)state;
	assert_int_equal(jx_len(out), 1);
	row = jx_at(out, 0);
	assert_int_equal(json_object_object_length(row), 16);
	assert_string_equal(jx_str(row, "kind"), "");
	assert_string_equal(jx_str(row, "managedBy"), "");
	assert_true(json_object_object_get_ex(row, "plan", NULL));
	assert_null(jx_get(row, "plan"));
	assert_string_equal(jx_str(row, "sku.name"), "F0");
	json_object_put(out);
}

/* extend adds columns, project-away removes them, and the rest of each row is
 * kept. */
static void test_extend_away_shape(void **state)
{
	struct json_object *out = run_ok("Resources | where kind == 'OpenAI' | "
					 "extend cmk = properties.encryption,"
					 " n = 1 | project-away tags, sku");
	struct json_object *row;

	(void)state;
	assert_int_equal(jx_len(out), 1);
	row = jx_at(out, 0);
	assert_string_equal(jx_str(row, "cmk.keySource"), "Microsoft.KeyVault");
	assert_int_equal(jx_int(row, "n", 0), 1);
	assert_string_equal(jx_str(row, "name"), "oai1");
	assert_false(json_object_object_get_ex(row, "tags", NULL));
	assert_false(json_object_object_get_ex(row, "sku", NULL));
	json_object_put(out);
}

/* Orders rows and returns their names joined with spaces (the caller frees it).
 */
static char *names_of(const char *query)
{
	struct json_object *out = run_ok(query);
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < jx_len(out); i++)
		sb_printf(&b, "%s%s", i ? " " : "",
			  jx_str(jx_at(out, i), "name"));
	json_object_put(out);
	return sb_steal(&b);
}

/* Sorting is stable, honours several keys and places nulls as KQL does. */
static void test_order(void **state)
{
	static const char *const orders[][2] = {
		{ "Resources | order by name asc",
		  "ais1 bot1 dicom1 fhir1 kv1 kv2 oai1 stlogs" },
		{ "Resources | sort by location asc, name desc",
		  "stlogs bot1 ais1 oai1 kv2 kv1 fhir1 dicom1" },
		{ "Resources | order by kind desc",
		  "fhir1 stlogs oai1 ais1 dicom1 bot1 kv1 kv2" },
		{ "Resources | order by properties.softDeleteRetentionInDays "
		  "asc | take 3",
		  "dicom1 bot1 oai1" },
		{ "Resources | order by properties.softDeleteRetentionInDays | "
		  "take 3",
		  "kv1 kv2 dicom1" },
		{ "Resources | where isnotempty(kind) | order by tolower(kind) "
		  "asc | limit 2",
		  "ais1 fhir1" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		char *names = names_of(orders[i][0]);

		if (strcmp(names, orders[i][1]) != 0)
			fail_msg("query %s: got \"%s\"", orders[i][0], names);
		free(names);
	}
}

/* The input rows are never modified, and results do not share memory with them.
 */
static void test_rows_untouched(void **state)
{
	static const char *const queries[] = {
		"Resources | extend name = 'x', properties = 1 | project-away "
		"id",
		"Resources | project p = properties | order by tostring(p) asc",
		"Resources | where tostring(properties) contains 'x' | take 2",
		"Resources | summarize count() by type, properties",
	};
	struct json_object *rows = load_rows();
	char *before = xstrdup(jx_text(rows));

	(void)state;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		char *err = NULL;
		struct json_object *out = kql_run(queries[i], rows, &err);

		assert_null(err);
		assert_non_null(out);
		if (jx_len(out))
			json_object_object_add(jx_at(out, 0), "scribble",
					       json_object_new_int(1));
		json_object_put(out);
	}
	assert_string_equal(before, jx_text(rows));
	free(before);
	json_object_put(rows);
}

/* Bad arguments give an error, and a NULL err is allowed. */
static void test_bad_arguments(void **state)
{
	struct json_object *rows = load_rows();
	struct json_object *obj = json_object_new_object();
	char *err = NULL;

	(void)state;
	assert_null(kql_run(NULL, rows, &err));
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_null(kql_run("Resources", obj, &err));
	assert_non_null(err);
	free(err);
	assert_null(kql_run("Resources | bogus", rows, NULL));
	json_object_put(obj);
	json_object_put(rows);
}

/* A small linear congruential generator, so the fuzz inputs are the same on
 * every run. */
static uint32_t lcg(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*state >> 33);
}

/* Fragments of KQL that let random queries reach deep into the parser. */
static const char *const fragments[] = {
	"Resources",
	"resources",
	" | ",
	"|",
	"where ",
	"project ",
	"extend ",
	"order by ",
	"sort by ",
	"take ",
	"limit ",
	"project-away ",
	"name",
	"kind",
	"properties",
	"zones",
	"tags",
	".",
	".x",
	"[",
	"]",
	"[0]",
	"[-1]",
	"['a']",
	"'",
	"\"",
	"\\",
	"'kv1'",
	"\"x\"",
	"@'",
	"(",
	")",
	",",
	"==",
	"!=",
	"=~",
	"!~",
	"<",
	">=",
	" in ",
	" in~ ",
	" !in ",
	" !in~ ",
	" contains ",
	" !has ",
	" startswith ",
	" endswith_cs ",
	" and ",
	" or ",
	"not(",
	"isnull(",
	"isnotempty(",
	"tolower(",
	"tostring(",
	"array_length(",
	"summarize ",
	"count()",
	"count(",
	" by ",
	"0",
	"-",
	"42",
	"1e309",
	"3.5",
	"99999999999999999999",
	"true",
	"false",
	"=",
	"a = ",
	" asc",
	" desc",
	" nulls first",
	" nulls last",
	"//",
	"\n",
	" ",
	"~",
	"!",
	"\x01",
	"\xff",
	"\xc3\xa9",
};

/* Builds one pseudo-random query out of fragments and random bytes. */
static char *random_query(uint64_t *state)
{
	struct sbuf b = SBUF_INIT;
	size_t n = 1 + lcg(state) % 24;
	size_t nfrag = sizeof(fragments) / sizeof(fragments[0]);

	if (lcg(state) % 2)
		sb_adds(&b, "Resources | ");
	for (size_t i = 0; i < n; i++) {
		uint32_t r = lcg(state);

		if (r % 5 == 0)
			sb_addc(&b, (char)(1 + (r >> 8) % 255));
		else
			sb_adds(&b, fragments[(r >> 8) % nfrag]);
	}
	return sb_steal(&b);
}

/* Copies a table query with a few random edits: a fragment inserted, a byte
 * changed, or a cut. */
static char *mutated_query(uint64_t *state)
{
	const char *q =
		cases[lcg(state) % (sizeof(cases) / sizeof(cases[0]))].query;
	struct sbuf b = SBUF_INIT;
	size_t len = strlen(q), at = len ? lcg(state) % len : 0;
	uint32_t how = lcg(state) % 4;

	sb_add(&b, q, at);
	if (how == 0)
		sb_adds(&b, fragments[lcg(state) % (sizeof(fragments) /
						    sizeof(fragments[0]))]);
	else if (how == 1)
		sb_addc(&b, (char)(1 + lcg(state) % 255));
	if (how != 3)
		sb_adds(&b, q + at + (how == 1 && at < len));
	return sb_steal(&b);
}

/* Random queries never crash and always give exactly one of a result and an
 * error. */
static void test_fuzz(void **state)
{
	struct json_object *rows = load_rows();
	uint64_t seed = 20240611;
	size_t ok = 0;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		char *q = i % 2 ? mutated_query(&seed) : random_query(&seed);
		char *err = NULL;
		struct json_object *out = kql_run(q, rows, &err);

		if ((out == NULL) == (err == NULL))
			fail_msg("query %d gave %s: %s", i,
				 out ? "both" : "neither", q);
		ok += out != NULL;
		json_object_put(out);
		free(err);
		free(q);
	}
	assert_true(ok > 0);
	json_object_put(rows);
}

/* Runs the tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_project_shape),
		cmocka_unit_test(test_full_rows),
		cmocka_unit_test(test_summarize_shape),
		cmocka_unit_test(test_extend_away_shape),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_rows_untouched),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
