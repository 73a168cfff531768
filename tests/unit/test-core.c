/* Unit tests of the pure core helpers: ARM ids, RBAC action matching, text,
 * base64, JSON, UUIDs. */
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

#include "actions.h"
#include "armid.h"
#include "b64.h"
#include "history.h"
#include "idmap.h"
#include "keyref.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "tsv.h"
#include "uuid.h"

/* ARM ids and the parts they must parse into. */
static const struct {
	const char *id;
	bool ok;
	const char *type, *name, *full_name, *parent, *rg;
	bool collection;
} IDS[] = {
	{ "/subscriptions/s1", true, "Microsoft.Resources/subscriptions", "s1",
	  NULL, NULL, NULL, false },
	{ "/subscriptions/s1/resourceGroups/rg", true,
	  "Microsoft.Resources/resourceGroups", "rg", NULL, NULL, "rg", false },
	{ "/subscriptions/s1/resourcegroups/RG/providers/Microsoft.KeyVault/"
	  "vaults/kv",
	  true, "Microsoft.KeyVault/vaults", "kv", "kv", NULL, "RG", false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/"
	  "Microsoft.HealthcareApis/workspaces/w/dicomservices/d",
	  true, "Microsoft.HealthcareApis/workspaces/dicomservices", "d", "w/d",
	  "/subscriptions/s1/resourceGroups/rg/providers/"
	  "Microsoft.HealthcareApis/workspaces/w",
	  "rg", false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/"
	  "vaults",
	  true, "Microsoft.KeyVault/vaults", NULL, NULL, NULL, "rg", true },
	{ "/subscriptions/s1/resourceGroups/rg/providers/"
	  "Microsoft.HealthcareApis/workspaces/w/dicomservices",
	  true, "Microsoft.HealthcareApis/workspaces/dicomservices", NULL, "w",
	  "/subscriptions/s1/resourceGroups/rg/providers/"
	  "Microsoft.HealthcareApis/workspaces/w",
	  "rg", true },
	{ "/subscriptions/s1/providers/Microsoft.KeyVault/vaults", true,
	  "Microsoft.KeyVault/vaults", NULL, NULL, NULL, NULL, true },
	{ "subscriptions/s1", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "/tenants/t", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "/subscriptions/s1/bogus", false, NULL, NULL, NULL, NULL, NULL,
	  false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/NS", false, NULL, NULL,
	  NULL, NULL, NULL, false },
};

/* Compares two optional strings. */
static void assert_opt_string(const char *want, const char *got)
{
	if (!want)
		assert_null(got);
	else
		assert_string_equal(want, got);
}

/* Every id in the table parses into the expected parts, or is refused. */
static void test_armid_parse(void **state)
{
	for (size_t i = 0; i < sizeof(IDS) / sizeof(IDS[0]); i++) {
		struct armid id;
		bool ok = armid_parse(IDS[i].id, &id);

		assert_int_equal(ok, IDS[i].ok);
		if (!ok)
			continue;
		assert_opt_string(IDS[i].type, id.type);
		assert_opt_string(IDS[i].name, id.name);
		assert_opt_string(IDS[i].full_name, id.full_name);
		assert_opt_string(IDS[i].parent, id.parent);
		assert_opt_string(IDS[i].rg, id.resource_group);
		assert_int_equal(IDS[i].collection, id.collection);
		assert_string_equal(id.subscription, "s1");
		armid_free(&id);
	}
}

/* Scope containment works on whole segments, ignoring case. */
static void test_armid_within(void **state)
{
	static const struct {
		const char *id, *scope;
		bool in;
	} T[] = {
		{ "/subscriptions/s/resourceGroups/rg/providers/X/y/z",
		  "/subscriptions/s", true },
		{ "/subscriptions/s/resourceGroups/rg",
		  "/SUBSCRIPTIONS/S/resourcegroups/RG", true },
		{ "/subscriptions/s/resourceGroups/rg2",
		  "/subscriptions/s/resourceGroups/rg", false },
		{ "/subscriptions/s", "/subscriptions/s/resourceGroups/rg",
		  false },
		{ "/anything", "/", true },
		{ "/subscriptions/s/x", "/subscriptions/s/", true },
		{ NULL, "/", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(armid_within(T[i].id, T[i].scope), T[i].in);
}

/* The scope of an extension resource is what stands before its last
 * /providers/NS. */
static void test_armid_extension_scope(void **state)
{
	char *s = armid_extension_scope(
		"/subscriptions/s/resourceGroups/g/providers/"
		"Microsoft.KeyVault/vaults/v/providers/"
		"Microsoft.Authorization/roleAssignments/n",
		"Microsoft.Authorization");

	assert_string_equal(s, "/subscriptions/s/resourceGroups/g/providers/"
			       "Microsoft.KeyVault/vaults/v");
	free(s);
	s = armid_extension_scope(
		"/providers/microsoft.authorization/roleDefinitions/x",
		"Microsoft.Authorization");
	assert_string_equal(s, "");
	free(s);
	assert_null(armid_extension_scope(
		"/subscriptions/s/providers/Microsoft.AuthorizationX/y",
		"Microsoft.Authorization"));
}

/* RBAC wildcards: '*' spans anything, matching ignores case. */
static void test_action_matches(void **state)
{
	static const struct {
		const char *pattern, *action;
		bool match;
	} T[] = {
		{ "*", "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/*",
		  "Microsoft.KeyVault/vaults/keys/wrap/action", true },
		{ "Microsoft.KeyVault/vaults/keys/*",
		  "Microsoft.KeyVault/vaults/keys/unwrap/action", true },
		{ "Microsoft.KeyVault/vaults/*/read",
		  "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/*/read",
		  "Microsoft.KeyVault/vaults/keys/wrap/action", false },
		{ "*/read", "Microsoft.Resources/subscriptions/read", true },
		{ "*/read", "Microsoft.Resources/subscriptions/write", false },
		{ "microsoft.keyvault/VAULTS/keys/read",
		  "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/keys/read",
		  "Microsoft.KeyVault/vaults/keys/readX", false },
		{ "", "x", false },
		{ "a*b*c", "axxbyyc", true },
		{ "a*b*c", "axxbyy", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(az_action_matches(T[i].pattern, T[i].action),
				 T[i].match);
}

/* Permission blocks: notActions and notDataActions remove what actions grant,
 * in the same block only. */
static void test_permissions_allow(void **state)
{
	struct json_object *contributor = json_tokener_parse(
		"[{\"actions\":[\"*\"],\"notActions\":[\"Microsoft."
		"Authorization/*/Write\"],\"dataActions\":[],"
		"\"notDataActions\":[]}]");
	struct json_object *two = json_tokener_parse(
		"[{\"actions\":[],\"notActions\":[],\"dataActions\":["
		"\"Microsoft.KeyVault/vaults/keys/*\"],"
		"\"notDataActions\":[\"Microsoft.KeyVault/vaults/keys/"
		"delete\"]},"
		"{\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/"
		"delete\"]}]");

	assert_true(az_permissions_allow(
		contributor, "Microsoft.KeyVault/vaults/write", false));
	assert_false(az_permissions_allow(
		contributor, "Microsoft.Authorization/roleAssignments/write",
		false));
	assert_false(az_permissions_allow(
		contributor, "Microsoft.KeyVault/vaults/keys/read", true));
	assert_true(az_permissions_allow(
		two, "Microsoft.KeyVault/vaults/keys/wrap/action", true));
	assert_true(az_permissions_allow(
		two, "Microsoft.KeyVault/vaults/keys/delete", true));
	assert_false(az_permissions_allow(
		two, "Microsoft.KeyVault/vaults/keys/read", false));
	assert_false(az_permissions_allow(NULL, "x", false));
	json_object_put(contributor);
	json_object_put(two);
}

/* Untrusted text loses control characters and invalid UTF-8 before it reaches a
 * terminal. */
static void test_sanitize(void **state)
{
	static const struct {
		const char *in, *out;
		bool nl;
	} T[] = {
		{ "plain", "plain", false },
		{ "a\x1b[31mred", "a?[31mred", false },
		{ "line1\nline2\ttab", "line1 line2 tab", false },
		{ "line1\nline2", "line1\nline2", true },
		{ "bell\a\x7f", "bell??", false },
		{ "c1 \xc2\x9b here", "c1 ? here", false },
		{ "bad \xff\xfe utf8", "bad ?? utf8", false },
		{ "ok é ü 日本", "ok é ü 日本", false },
		{ "cr\r", "cr?", false },
		/* Bidirectional controls and separators that would reorder or
		   break a line (U+202E, U+2066, U+2069, U+200F, U+061C,
		   U+2028); other punctuation of those blocks is kept. */
		{ "kv-\xe2\x80\xae"
		  "yek",
		  "kv-?yek", false },
		{ "a\xe2\x81\xa6"
		  "b\xe2\x81\xa9"
		  "c",
		  "a?b?c", false },
		{ "rlm\xe2\x80\x8f alm\xd8\x9c", "rlm? alm?", false },
		{ "ls\xe2\x80\xa8ps\xe2\x80\xa9", "ls?ps?", true },
		{ "dash \xe2\x80\x94 ellipsis \xe2\x80\xa6 \xd8\xa8",
		  "dash \xe2\x80\x94 ellipsis \xe2\x80\xa6 \xd8\xa8", false },
		{ NULL, "", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *s = text_sanitize(T[i].in, T[i].nl);

		assert_string_equal(s, T[i].out);
		free(s);
	}
}

/* -o tsv writes what az's formatter (knack's _TsvOutput) writes for the same
 * JSON, and no value can split a line or reach the terminal as a control. */
static void test_tsv(void **state)
{
	static const struct {
		const char *json, *tsv;
	} T[] = {
		/* a list: a line per item; an object's values by sorted key */
		{ "[{\"b\":\"2\",\"a\":\"1\"},{\"a\":\"3\",\"b\":\"4\"}]",
		  "1\t2\n3\t4\n" },
		/* within a line: null None, booleans True/False, a nested
		   object nothing, a nested list its length, numbers as they are
		 */
		{ "{\"n\":null,\"t\":true,\"f\":false,\"o\":{\"x\":1},"
		  "\"l\":[1,2,3],\"i\":42}",
		  "False\t42\t3\tNone\t\tTrue\n" },
		/* anything else is one line; a boolean line is lower case */
		{ "{\"only\":\"x\"}", "x\n" },
		{ "true", "true\n" },
		{ "\"text\"", "text\n" },
		{ "[[1,\"a\"],[]]", "1\ta\n\n" },
		{ "[]", "" },
		/* keys sort by code point, as Python sorts str */
		{ "{\"b\":1,\"B\":2,\"\u00e9\":3,\"a\":4}", "2\t4\t1\t3\n" },
		/* a value from Azure cannot add a line or a column, or send an
		   escape sequence */
		{ "[{\"a\":\"x\\ty\\nz\",\"b\":\"\\u001b[2J\"}]",
		  "x y z\t?[2J\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *o = json_tokener_parse(T[i].json);
		char *out = tsv_render(o);

		assert_string_equal(out, T[i].tsv);
		free(out);
		json_object_put(o);
	}
}

/* Locations compare equal however Azure spells them. */
static void test_locations(void **state)
{
	assert_true(location_eq("West US 3", "westus3"));
	assert_true(location_eq("EASTUS", "east us"));
	assert_false(location_eq("eastus", "eastus2"));
	assert_false(location_eq(NULL, "eastus"));
}

/* Base64 and base64url round-trip, and bad input is refused. */
static void test_b64(void **state)
{
	static const char *const T[] = { "",       "f",           "fo",
					 "foo",    "foob",        "fooba",
					 "foobar", "\xff\xfe\xfd" };

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		for (int url = 0; url < 2; url++) {
			char *e = b64_encode(T[i], strlen(T[i]), url);
			size_t n;
			unsigned char *d = b64_decode(e, strlen(e), &n);

			assert_non_null(d);
			assert_int_equal(n, strlen(T[i]));
			assert_memory_equal(d, T[i], n);
			free(e);
			free(d);
		}
	}
	{
		char *e = b64_encode("foobar", 6, false);

		assert_string_equal(e, "Zm9vYmFy");
		free(e);
	}
	{
		size_t n;

		assert_null(b64_decode("a$b", 3, &n));
	}
}

/* JSON parsing reports errors with positions, and accepts scalars and trailing
 * space. */
static void test_jx_parse(void **state)
{
	static const struct {
		const char *text;
		bool ok;
	} T[] = {
		{ "{\"a\":1}", true }, { "  [1,2]  \n", true },
		{ "42", true },        { "true", true },
		{ "{\"a\":", false },  { "{} x", false },
		{ "", false },         { "[1,]", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *err = NULL;
		struct json_object *o =
			jx_parse(T[i].text, strlen(T[i].text), &err);

		assert_int_equal(o != NULL || (T[i].ok && !err), T[i].ok);
		if (!T[i].ok)
			assert_non_null(err);
		json_object_put(o);
		free(err);
	}
}

/* Paths read case-insensitively; merge patch follows RFC 7386, nested nulls
 * included. */
static void test_jx_paths_and_merge(void **state)
{
	struct json_object *o =
		json_tokener_parse("{\"Properties\":{\"encryption\":{"
				   "\"keySource\":\"x\"},\"a\":1},\"t\":[1]}");
	struct json_object *p = json_tokener_parse(
		"{\"properties\":null,\"Properties\":{\"a\":null,\"b\":{\"c\":"
		"null,\"d\":2}},\"t\":{\"n\":1}}");

	assert_string_equal(jx_str(o, "properties.Encryption.keysource"), "x");
	assert_null(jx_str(o, "properties.a"));
	assert_int_equal(jx_int(o, "properties.a", 0), 1);
	jx_set(o, "new.deep.value", json_object_new_string("v"));
	assert_string_equal(jx_str(o, "new.deep.value"), "v");
	jx_merge_patch(o, p);
	assert_false(jx_has(o, "Properties.a"));
	assert_false(jx_has(o, "Properties.b.c"));
	assert_int_equal(jx_int(o, "Properties.b.d", 0), 2);
	assert_int_equal(jx_int(o, "t.n", 0), 1);
	jx_del(o, "new.deep");
	assert_false(jx_has(o, "new.deep"));
	json_object_put(o);
	json_object_put(p);
}

/* Name-based UUIDs are stable and well formed; the format check accepts only
 * 8-4-4-4-12 hex. */
static void test_uuid(void **state)
{
	char a[UUID_STRLEN], b[UUID_STRLEN], c[UUID_STRLEN];
	unsigned char bytes[16] = { 0 };

	uuid_from_name("scope|principal|role", a);
	uuid_from_name("scope|principal|role", b);
	uuid_from_name("scope|principal|role2", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(is_uuid(a));
	assert_int_equal(a[14], '5');
	uuid_format_v4(bytes, c);
	assert_string_equal(c, "00000000-0000-4000-8000-000000000000");
	assert_false(is_uuid("00000000-0000-4000-8000-00000000000"));
	assert_false(is_uuid("0000000g-0000-4000-8000-000000000000"));
	assert_true(is_hex32("0a1b2c3d4e5f40718293a4b5c6d7e8f9"));
	assert_false(is_hex32("0a1b2c3d4e5f40718293a4b5c6d7e8f"));
}

/* The string buffer grows and formats. */
static void test_sbuf(void **state)
{
	struct sbuf b = SBUF_INIT;
	char *s;

	assert_string_equal(sb_str(&b), "");
	for (int i = 0; i < 1000; i++)
		sb_printf(&b, "%d,", i);
	sb_addc(&b, '!');
	assert_int_equal(b.len, strlen(b.s));
	assert_true(str_iends(sb_str(&b), "999,!"));
	s = sb_steal(&b);
	assert_null(b.s);
	free(s);
}

/* Line breaking in display columns: the first line's bytes for a text and a
 * width (UTF-8 locale). */
static const struct {
	const char *text;
	int width;
	size_t want;
} BREAKS[] = {
	{ "short", 10, 5 },              /* fits whole */
	{ "exactly10!", 10, 10 },        /* fits to the column */
	{ "wrap at the space", 10, 7 },  /* "wrap at" */
	{ "nospacesatallhere", 10, 10 }, /* cut hard */
	{ "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9", 7,
	  11 }, /* "été été": 7 columns in 11 bytes */
	{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3,
	  6 }, /* three é (2 bytes, 1 column each), never half of one */
	{ "\xe6\xbc\xa2\xe5\xad\x97\xe6\xbc\xa2", 5,
	  6 }, /* 漢字漢: two wide characters fit in 5 columns */
	{ "\xe6\xbc\xa2x", 1,
	  3 }, /* a wide character wider than the width still moves on */
	{ "", 5, 0 },
};

/* text_break wraps by display columns, at spaces when it can, and never cuts a
 * character. */
static void test_text_break(void **state)
{
	(void)state;
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		skip();
	for (size_t i = 0; i < sizeof(BREAKS) / sizeof(BREAKS[0]); i++) {
		size_t got = text_break(BREAKS[i].text, strlen(BREAKS[i].text),
					BREAKS[i].width);

		if (got != BREAKS[i].want)
			fail_msg("break %zu ('%s' at %d): %zu bytes, not %zu",
				 i, BREAKS[i].text, BREAKS[i].width, got,
				 BREAKS[i].want);
	}
	setlocale(LC_CTYPE, "C");
}

/* ---- the change history ---- */

/* One --since text, the time it means (now = 2026-12-04T12:00:00Z), or NULL
 * when it is refused. */
static const struct {
	const char *text, *want;
} SINCE[] = {
	{ "2026-12-01", "2026-12-01T00:00:00Z" },
	{ "2026-12-01T08:30:00Z", "2026-12-01T08:30:00Z" },
	{ "30m", "2026-12-04T11:30:00Z" },
	{ "12h", "2026-12-04T00:00:00Z" },
	{ "7d", "2026-11-27T12:00:00Z" },
	{ "0d", "2026-12-04T12:00:00Z" },
	{ "yesterday", NULL },
	{ "7w", NULL },
	{ "-3d", NULL },
	{ "2026-13-01", NULL },
	{ "2026-12-01T08:30:00", NULL },
	{ "2026-12-01x", NULL },
	{ "", NULL },
};

/* Every --since form is read to a UTC time, and anything else is refused. */
static void test_history_since(void **state)
{
	const int64_t now = 1796385600; /* 2026-12-04T12:00:00Z */

	(void)state;
	for (size_t i = 0; i < sizeof(SINCE) / sizeof(SINCE[0]); i++) {
		char out[HISTORY_TIME_LEN];
		bool ok = history_since(SINCE[i].text, now, out);

		if (ok != (SINCE[i].want != NULL) ||
		    (ok && strcmp(out, SINCE[i].want) != 0))
			fail_msg("since '%s': got %s %s", SINCE[i].text,
				 ok ? "ok" : "refused", ok ? out : "");
	}
}

/* An entry records who, what and how it ended, and exactly the fields the write
 * changes, before and after. */
static void test_history_entry(void **state)
{
	struct json_object *before = json_tokener_parse(
		"{\"properties\":{\"encryption\":{\"keySource\":"
		"\"Microsoft.CognitiveServices\"},\"other\":1},\"identity\":"
		"{\"type\":\"SystemAssigned\"}}");
	struct json_object *body = json_tokener_parse(
		"{\"properties\":{\"encryption\":{\"keySource\":"
		"\"Microsoft.KeyVault\",\"keyVaultProperties\":{\"keyName\":"
		"\"k\"}}},"
		"\"identity\":{\"type\":\"SystemAssigned\"}}");
	struct history_write w = {
		"2026-12-04T12:00:00Z",
		"oid-1",
		"ops@contoso",
		"tid-1",
		"abc",
		"/subscriptions/s/r",
		"save-key",
		"PATCH",
		"https://management.azure.com/subscriptions/s/r?api-version=1",
		before,
		body,
		true,
		200,
		NULL,
		"rid"
	};
	struct json_object *e = history_entry(&w), *c = jx_get(e, "changes"),
			   *back;
	char *text;

	assert_string_equal(jx_str(e, "target"),
			    "https://management.azure.com/subscriptions/s/r");
	assert_string_equal(jx_str(e, "outcome"), "succeeded");
	assert_string_equal(jx_str(e, "principal"), "oid-1");
	assert_int_equal(jx_len(c), 2);
	assert_string_equal(jx_str(jx_at(c, 0), "path"),
			    "properties.encryption.keySource");
	assert_string_equal(jx_str(jx_at(c, 0), "before"),
			    "Microsoft.CognitiveServices");
	assert_string_equal(jx_str(jx_at(c, 0), "after"), "Microsoft.KeyVault");
	assert_string_equal(jx_str(jx_at(c, 1), "path"),
			    "properties.encryption.keyVaultProperties.keyName");
	assert_null(jx_get(jx_at(c, 1), "before"));
	back = history_parse(jx_text(e), strlen(jx_text(e)));
	assert_non_null(back);
	assert_true(history_match(back, "/subscriptions/s/r",
				  "2026-12-01T00:00:00Z"));
	assert_true(history_match(back, "R", NULL));
	assert_false(history_match(back, "other", NULL));
	assert_false(history_match(back, NULL, "2026-12-05T00:00:00Z"));
	text = history_render(back);
	assert_non_null(strstr(text, "properties.encryption.keySource: "
				     "\"Microsoft.CognitiveServices\" -> "
				     "\"Microsoft.KeyVault\""));
	assert_non_null(strstr(text, "by ops@contoso"));
	free(text);
	json_object_put(back);
	json_object_put(e);
	json_object_put(before);
	json_object_put(body);
}

/* Lines that are not entries azcmk writes are not read as entries, and text
 * from them is sanitized when shown. */
static void test_history_parse(void **state)
{
	static const char *const BAD[] = {
		"", "[]", "{}", "not json",
		"{\"time\":\"x\",\"method\":\"PUT\","
		"\"target\":\"t\",\"outcome\":\"failed\",\"changes\":[]}"
	};
	const char *esc = "{\"time\":\"2026-12-04T12:00:00Z\",\"method\":"
			  "\"PUT\",\"target\":\"t\\u001b[2J\","
			  "\"outcome\":\"failed\",\"changes\":[{\"path\":\"a\","
			  "\"after\":\"\\u001b]0;x\\u0007\"}]}";
	struct json_object *e;
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++)
		assert_null(history_parse(BAD[i], strlen(BAD[i])));
	e = history_parse(esc, strlen(esc));
	assert_non_null(e);
	text = history_render(e);
	assert_null(strchr(text, '\033'));
	assert_null(strchr(text, '\007'));
	free(text);
	json_object_put(e);
}

static const struct key_suffixes PUBLIC = { ".vault.azure.net",
					    ".managedhsm.azure.net" };
static const struct key_suffixes USGOV = { ".vault.usgovcloudapi.net",
					   ".managedhsm.usgovcloudapi.net" };

/* Key URIs: the vault or HSM on the cloud's own suffix, /keys/NAME[/VERSION];
 * anything else refused with its reason. */
static const struct {
	const char *uri;
	const struct key_suffixes *sfx;
	const char *vault_uri, *vault, *name, *version;
	bool hsm;
	const char *why; /* a word of the reason when refused */
} KEYREFS[] = {
	{ "https://kv-health.vault.azure.net/keys/cmk-rsa", &PUBLIC,
	  "https://kv-health.vault.azure.net/", "kv-health", "cmk-rsa", NULL,
	  false, NULL },
	{ "https://KV-Health.Vault.Azure.NET:443/keys/cmk-rsa/"
	  "4e070c1b76f1b2e831bf75857a09fd70/",
	  &PUBLIC, "https://kv-health.vault.azure.net/", "kv-health", "cmk-rsa",
	  "4e070c1b76f1b2e831bf75857a09fd70", false, NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk-rsa/", &PUBLIC,
	  "https://kv-health.vault.azure.net/", "kv-health", "cmk-rsa", NULL,
	  false, NULL },
	{ "https://mhsm-prod.managedhsm.azure.net/keys/k1/abc123", &PUBLIC,
	  "https://mhsm-prod.managedhsm.azure.net/", "mhsm-prod", "k1",
	  "abc123", true, NULL },
	{ "https://kv-gov.vault.usgovcloudapi.net/keys/k", &USGOV,
	  "https://kv-gov.vault.usgovcloudapi.net/", "kv-gov", "k", NULL, false,
	  NULL },
	/* Another host is no vault, whatever its first label says. */
	{ "https://evil.example.com/keys/x", &PUBLIC, NULL, NULL, NULL, NULL,
	  false, "host" },
	{ "https://kv-gov.vault.usgovcloudapi.net/keys/k", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "host" },
	{ "https://kv-health.vault.azure.net.evil.example/keys/x", &PUBLIC,
	  NULL, NULL, NULL, NULL, false, "host" },
	{ "https://evil.example@kv-health.vault.azure.net/keys/x", &PUBLIC,
	  NULL, NULL, NULL, NULL, false, "user" },
	{ "https://kv-health.vault.azure.net:8443/keys/x", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "port" },
	{ "https://a.b.vault.azure.net/keys/x", &PUBLIC, NULL, NULL, NULL, NULL,
	  false, "vault name" },
	{ "https://kv.vault.azure.net/keys/x", &PUBLIC, NULL, NULL, NULL, NULL,
	  false, "vault name" },
	{ "https://.vault.azure.net/keys/x", &PUBLIC, NULL, NULL, NULL, NULL,
	  false, "host" },
	{ "http://kv-health.vault.azure.net/keys/x", &PUBLIC, NULL, NULL, NULL,
	  NULL, false, "https" },
	{ "kv-health.vault.azure.net/keys/x", &PUBLIC, NULL, NULL, NULL, NULL,
	  false, "https" },
	{ "https://kv-health.vault.azure.net/secrets/x", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "path" },
	{ "https://kv-health.vault.azure.net/keys/", &PUBLIC, NULL, NULL, NULL,
	  NULL, false, "key name" },
	{ "https://kv-health.vault.azure.net/keys/a/b/c", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "path" },
	{ "https://kv-health.vault.azure.net/keys/a?api-version=7.4", &PUBLIC,
	  NULL, NULL, NULL, NULL, false, "path" },
	{ "https://kv-health.vault.azure.net/keys/a#f", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "path" },
	{ "https://kv-health.vault.azure.net/keys/a_b", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "key name" },
	{ "https://kv-health.vault.azure.net/keys/a/v%2e1", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "version" },
	{ "https://kv-health.vault.azure.net/keys/..", &PUBLIC, NULL, NULL,
	  NULL, NULL, false, "key name" },
	{ NULL, &PUBLIC, NULL, NULL, NULL, NULL, false, "https" },
};

/* The one key URI parser: what it takes, what it refuses and why, and that its
 * formatter gives the URI back. */
static void test_key_ref(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(KEYREFS) / sizeof(KEYREFS[0]); i++) {
		struct key_ref k;
		const char *why = NULL;
		bool ok =
			key_ref_parse(KEYREFS[i].uri, KEYREFS[i].sfx, &k, &why);

		if (ok != (KEYREFS[i].why == NULL))
			fail_msg("key ref %zu (%s): parse gave %d (%s)", i,
				 KEYREFS[i].uri ? KEYREFS[i].uri : "(null)", ok,
				 why ? why : "");
		if (!ok) {
			assert_non_null(strstr(why, KEYREFS[i].why));
			assert_null(k.vault_uri);
			continue;
		}
		assert_string_equal(k.vault_uri, KEYREFS[i].vault_uri);
		assert_string_equal(k.vault, KEYREFS[i].vault);
		assert_string_equal(k.name, KEYREFS[i].name);
		if (KEYREFS[i].version)
			assert_string_equal(k.version, KEYREFS[i].version);
		else
			assert_null(k.version);
		assert_int_equal(k.hsm, KEYREFS[i].hsm);
		{
			char *uri = key_ref_uri(&k),
			     *vers = key_ref_url(&k, "/versions");
			struct key_ref again;

			assert_true(key_ref_parse(uri, KEYREFS[i].sfx, &again,
						  &why));
			assert_string_equal(again.vault_uri, k.vault_uri);
			assert_true(strncmp(vers, k.vault_uri,
					    strlen(k.vault_uri)) == 0);
			assert_non_null(strstr(vers, "/keys/"));
			key_ref_free(&again);
			free(uri);
			free(vers);
		}
		key_ref_free(&k);
	}
}

/* Whether a key in use is the one wanted: the vault counts, the name counts,
 * the version only when one is wanted. */
static const struct {
	const char *used, *want;
	bool is;
} KEY_IS[] = {
	{ "https://kv-a.vault.azure.net/keys/cmk",
	  "https://kv-a.vault.azure.net/keys/cmk", true },
	{ "https://KV-A.vault.azure.net/keys/CMK/v1",
	  "https://kv-a.vault.azure.net/keys/cmk", true },
	{ "https://kv-a.vault.azure.net/keys/cmk/V1",
	  "https://kv-a.vault.azure.net/keys/cmk/v1", true },
	{ "https://kv-b.vault.azure.net/keys/cmk",
	  "https://kv-a.vault.azure.net/keys/cmk", false },
	{ "https://kv-a.managedhsm.azure.net/keys/cmk",
	  "https://kv-a.vault.azure.net/keys/cmk", false },
	{ "https://kv-a.vault.azure.net/keys/cmk2",
	  "https://kv-a.vault.azure.net/keys/cmk", false },
	{ "https://kv-a.vault.azure.net/keys/cmk",
	  "https://kv-a.vault.azure.net/keys/cmk/v1", false },
	{ "https://kv-a.vault.azure.net/keys/cmk/v2",
	  "https://kv-a.vault.azure.net/keys/cmk/v1", false },
};

/* key_ref_is: the key a resource uses against the plan's. */
static void test_key_ref_is(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(KEY_IS) / sizeof(KEY_IS[0]); i++) {
		struct key_ref used, want;
		const char *why;

		assert_true(
			key_ref_parse(KEY_IS[i].used, &PUBLIC, &used, &why));
		assert_true(
			key_ref_parse(KEY_IS[i].want, &PUBLIC, &want, &why));
		if (key_ref_is(&used, &want) != KEY_IS[i].is)
			fail_msg("%s against %s: expected %d", KEY_IS[i].used,
				 KEY_IS[i].want, KEY_IS[i].is);
		key_ref_free(&used);
		key_ref_free(&want);
	}
	assert_false(key_ref_is(NULL, NULL));
}

/* A reference from parts: a vault's name or URI, a key and a version, each
 * checked; a name cannot smuggle a path. */
static void test_key_ref_parts(void **state)
{
	struct key_ref k;
	const char *why;
	char *uri;

	(void)state;
	assert_true(key_ref_from_parts("kv-health", "cmk", NULL, &PUBLIC, &k,
				       &why));
	uri = key_ref_uri(&k);
	assert_string_equal(uri, "https://kv-health.vault.azure.net/keys/cmk");
	free(uri);
	uri = key_ref_versioned(&k, "0123abcd");
	assert_string_equal(
		uri, "https://kv-health.vault.azure.net/keys/cmk/0123abcd");
	free(uri);
	key_ref_free(&k);
	assert_true(
		key_ref_from_parts("https://mhsm-prod.managedhsm.azure.net/",
				   "cmk", "v1", &PUBLIC, &k, &why));
	assert_true(k.hsm);
	assert_string_equal(k.version, "v1");
	key_ref_free(&k);
	assert_false(key_ref_from_parts("kv-health", "a/b", NULL, &PUBLIC, &k,
					&why));
	assert_false(key_ref_from_parts("kv-health", "a", "x/../y", &PUBLIC, &k,
					&why));
	assert_false(key_ref_from_parts("evil.example.com/", "a", NULL, &PUBLIC,
					&k, &why));
	assert_false(key_ref_from_parts("https://evil.example.com", "a", NULL,
					&PUBLIC, &k, &why));
	assert_null(k.vault_uri);
}

/* A kid and whether it is a version of
 * https://kv-health.vault.azure.net/keys/cmk (the version, or NULL). */
static const struct {
	const char *kid, *version;
} KIDS[] = {
	{ "https://kv-health.vault.azure.net/keys/cmk/0123abcd", "0123abcd" },
	{ "https://KV-Health.vault.azure.net/keys/CMK/0123abcd", "0123abcd" },
	/* A server's kid for another key, vault or host is no version of ours.
	 */
	{ "https://kv-health.vault.azure.net/keys/cmk2/0123abcd", NULL },
	{ "https://kv-other.vault.azure.net/keys/cmk/0123abcd", NULL },
	{ "https://kv-health.vault.azure.net.evil.example/keys/cmk/0123abcd",
	  NULL },
	{ "https://evil.example/https://kv-health.vault.azure.net/keys/cmk/"
	  "0123abcd",
	  NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk/", NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk", NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk/v1/x", NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk/../other", NULL },
	{ "https://kv-health.vault.azure.net/keys/cmk/v1?x=1", NULL },
	{ NULL, NULL },
};

/* A key's version from a kid, only when the kid names this very key. */
static void test_key_ref_version_in(void **state)
{
	struct key_ref k;
	const char *why;

	(void)state;
	assert_true(key_ref_from_parts("kv-health", "cmk", NULL, &PUBLIC, &k,
				       &why));
	for (size_t i = 0; i < sizeof(KIDS) / sizeof(KIDS[0]); i++) {
		const char *v = key_ref_version_in(&k, KIDS[i].kid);

		if ((v == NULL) != (KIDS[i].version == NULL) ||
		    (v && strcmp(v, KIDS[i].version) != 0))
			fail_msg("kid %zu (%s): got %s", i,
				 KIDS[i].kid ? KIDS[i].kid : "(null)",
				 v ? v : "(null)");
	}
	assert_null(key_ref_version_in(NULL, KIDS[0].kid));
	key_ref_free(&k);
}

/* A store alone, any known cloud, and the scopes and ids derived from a
 * reference. */
static void test_key_ref_forms(void **state)
{
	struct key_ref k, c;
	const char *why;
	char *s;

	(void)state;
	assert_true(key_ref_store("https://KV-Health.vault.azure.net", &PUBLIC,
				  &k, &why));
	assert_string_equal(k.vault_uri, "https://kv-health.vault.azure.net/");
	assert_string_equal(k.vault, "kv-health");
	assert_null(k.name);
	assert_true(key_ref_copy(&k, &c));
	assert_null(c.name);
	assert_string_equal(c.vault, "kv-health");
	key_ref_free(&c);
	key_ref_free(&k);
	assert_false(
		key_ref_store("https://evil.example.com/", &PUBLIC, &k, &why));
	assert_non_null(strstr(why, "host"));
	assert_false(key_ref_copy(&k, &c));
	/* A plan names its cloud only through its vault URI: each cloud azcmk
	 * knows, and no other host. */
	assert_true(key_ref_from_parts_any(
		"https://kv-gov.vault.usgovcloudapi.net/", "k", NULL, &k,
		&why));
	key_ref_free(&k);
	assert_true(key_ref_from_parts_any("https://kv-cn.vault.azure.cn", "k",
					   "v1", &k, &why));
	assert_string_equal(k.version, "v1");
	key_ref_free(&k);
	assert_false(key_ref_from_parts_any("https://kv-x.vault.example.net/",
					    "k", NULL, &k, &why));
	assert_true(key_ref_from_parts(
		"mhsm-prod", "cmk", NULL,
		&(struct key_suffixes){ ".vault.azure.net",
					".managedhsm.azure.net" },
		&k, &why));
	s = key_ref_arm_id(&k, "/subscriptions/s/resourceGroups/g/providers/"
			       "Microsoft.KeyVault/vaults/mhsm-prod");
	assert_string_equal(s, "/subscriptions/s/resourceGroups/g/providers/"
			       "Microsoft.KeyVault/vaults/mhsm-prod/keys/cmk");
	free(s);
	s = key_ref_local_scope(&k);
	assert_string_equal(s, "/keys/cmk");
	free(s);
	key_ref_free(&k);
	s = key_ref_join("https://kv-health.vault.azure.net", "cmk", "");
	assert_string_equal(s, "https://kv-health.vault.azure.net/keys/cmk");
	free(s);
	s = key_ref_join("https://kv-health.vault.azure.net/", "cmk", "v2");
	assert_string_equal(s, "https://kv-health.vault.azure.net/keys/cmk/v2");
	free(s);
}

/*
 * The compact id map: ids match ignoring ASCII case, a later value for an id
 * wins, absent ids give NULL, sealed or not (lookups by binary search or by
 * a scan), and many ids sharing hash buckets are all found.
 */
static void test_idmap(void **state)
{
	static const struct {
		const char *put_id, *put_value; /* NULL: none */
		const char *get_id, *want;      /* want NULL: absent */
	} rows[] = {
		{ "/subscriptions/S/resourceGroups/G/providers/Microsoft."
		  "HealthBot/healthBots/A",
		  "2024-01-02T00:00:00Z",
		  "/SUBSCRIPTIONS/s/RESOURCEGROUPS/g/providers/microsoft."
		  "healthbot/healthbots/a",
		  "2024-01-02T00:00:00Z" },
		{ "/x/B", "first", "/x/b", "second" },
		{ "/x/b", "second", "/x/B", "second" },
		{ NULL, NULL, "/x/c", NULL },
		{ NULL, NULL, "/x/b/", NULL },
		{ NULL, NULL, "", NULL },
	};
	struct idmap m = { 0 };
	char id[64], value[64];

	(void)state;
	assert_null(idmap_get(&m, "/x/b"));
	for (int sealed = 0; sealed < 2; sealed++) {
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
			if (rows[i].put_id && !sealed)
				idmap_put(&m, rows[i].put_id,
					  rows[i].put_value);
		if (sealed)
			idmap_seal(&m);
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const char *got = idmap_get(&m, rows[i].get_id);

			if (rows[i].want)
				assert_string_equal(got, rows[i].want);
			else
				assert_null(got);
		}
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "/r/%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		idmap_put(&m, id, value);
	}
	idmap_seal(&m);
	for (int i = 0; i < 5000; i += 7) {
		snprintf(id, sizeof(id), "/R/%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		assert_string_equal(idmap_get(&m, id), value);
	}
	assert_null(idmap_get(&m, "/r/5000"));
	assert_null(idmap_get(&m, NULL));
	idmap_free(&m);
}

/* Runs the core unit tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_armid_parse),
		cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_armid_within),
		cmocka_unit_test(test_armid_extension_scope),
		cmocka_unit_test(test_action_matches),
		cmocka_unit_test(test_permissions_allow),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_tsv),
		cmocka_unit_test(test_text_break),
		cmocka_unit_test(test_locations),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_jx_parse),
		cmocka_unit_test(test_jx_paths_and_merge),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_sbuf),
		cmocka_unit_test(test_history_since),
		cmocka_unit_test(test_history_entry),
		cmocka_unit_test(test_history_parse),
		cmocka_unit_test(test_key_ref),
		cmocka_unit_test(test_key_ref_parts),
		cmocka_unit_test(test_key_ref_is),
		cmocka_unit_test(test_key_ref_version_in),
		cmocka_unit_test(test_key_ref_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
