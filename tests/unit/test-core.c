/* Unit tests of the pure core helpers: ARM ids, RBAC action matching, text, base64, JSON, UUIDs. */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "actions.h"
#include "armid.h"
#include "b64.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"

/* ARM ids and the parts they must parse into. */
static const struct {
	const char *id;
	bool ok;
	const char *type, *name, *full_name, *parent, *rg;
	bool collection;
} IDS[] = {
	{ "/subscriptions/s1", true, "Microsoft.Resources/subscriptions", "s1", NULL, NULL, NULL, false },
	{ "/subscriptions/s1/resourceGroups/rg", true, "Microsoft.Resources/resourceGroups", "rg", NULL, NULL, "rg", false },
	{ "/subscriptions/s1/resourcegroups/RG/providers/Microsoft.KeyVault/vaults/kv", true,
	  "Microsoft.KeyVault/vaults", "kv", "kv", NULL, "RG", false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/w/dicomservices/d", true,
	  "Microsoft.HealthcareApis/workspaces/dicomservices", "d", "w/d",
	  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/w", "rg", false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults", true, "Microsoft.KeyVault/vaults",
	  NULL, NULL, NULL, "rg", true },
	{ "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/w/dicomservices", true,
	  "Microsoft.HealthcareApis/workspaces/dicomservices", NULL, "w",
	  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/w", "rg", true },
	{ "/subscriptions/s1/providers/Microsoft.KeyVault/vaults", true, "Microsoft.KeyVault/vaults", NULL, NULL, NULL,
	  NULL, true },
	{ "subscriptions/s1", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "/tenants/t", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "/subscriptions/s1/bogus", false, NULL, NULL, NULL, NULL, NULL, false },
	{ "/subscriptions/s1/resourceGroups/rg/providers/NS", false, NULL, NULL, NULL, NULL, NULL, false },
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
	static const struct { const char *id, *scope; bool in; } T[] = {
		{ "/subscriptions/s/resourceGroups/rg/providers/X/y/z", "/subscriptions/s", true },
		{ "/subscriptions/s/resourceGroups/rg", "/SUBSCRIPTIONS/S/resourcegroups/RG", true },
		{ "/subscriptions/s/resourceGroups/rg2", "/subscriptions/s/resourceGroups/rg", false },
		{ "/subscriptions/s", "/subscriptions/s/resourceGroups/rg", false },
		{ "/anything", "/", true },
		{ "/subscriptions/s/x", "/subscriptions/s/", true },
		{ NULL, "/", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(armid_within(T[i].id, T[i].scope), T[i].in);
}

/* The scope of an extension resource is what stands before its last /providers/NS. */
static void test_armid_extension_scope(void **state)
{
	char *s = armid_extension_scope("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/providers/"
					"Microsoft.Authorization/roleAssignments/n", "Microsoft.Authorization");

	assert_string_equal(s, "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v");
	free(s);
	s = armid_extension_scope("/providers/microsoft.authorization/roleDefinitions/x", "Microsoft.Authorization");
	assert_string_equal(s, "");
	free(s);
	assert_null(armid_extension_scope("/subscriptions/s/providers/Microsoft.AuthorizationX/y", "Microsoft.Authorization"));
}

/* RBAC wildcards: '*' spans anything, matching ignores case. */
static void test_action_matches(void **state)
{
	static const struct { const char *pattern, *action; bool match; } T[] = {
		{ "*", "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/keys/wrap/action", true },
		{ "Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keys/unwrap/action", true },
		{ "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/wrap/action", false },
		{ "*/read", "Microsoft.Resources/subscriptions/read", true },
		{ "*/read", "Microsoft.Resources/subscriptions/write", false },
		{ "microsoft.keyvault/VAULTS/keys/read", "Microsoft.KeyVault/vaults/keys/read", true },
		{ "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/readX", false },
		{ "", "x", false },
		{ "a*b*c", "axxbyyc", true },
		{ "a*b*c", "axxbyy", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(az_action_matches(T[i].pattern, T[i].action), T[i].match);
}

/* Permission blocks: notActions and notDataActions remove what actions grant, in the same block only. */
static void test_permissions_allow(void **state)
{
	struct json_object *contributor = json_tokener_parse(
		"[{\"actions\":[\"*\"],\"notActions\":[\"Microsoft.Authorization/*/Write\"],\"dataActions\":[],"
		"\"notDataActions\":[]}]");
	struct json_object *two = json_tokener_parse(
		"[{\"actions\":[],\"notActions\":[],\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/*\"],"
		"\"notDataActions\":[\"Microsoft.KeyVault/vaults/keys/delete\"]},"
		"{\"dataActions\":[\"Microsoft.KeyVault/vaults/keys/delete\"]}]");

	assert_true(az_permissions_allow(contributor, "Microsoft.KeyVault/vaults/write", false));
	assert_false(az_permissions_allow(contributor, "Microsoft.Authorization/roleAssignments/write", false));
	assert_false(az_permissions_allow(contributor, "Microsoft.KeyVault/vaults/keys/read", true));
	assert_true(az_permissions_allow(two, "Microsoft.KeyVault/vaults/keys/wrap/action", true));
	assert_true(az_permissions_allow(two, "Microsoft.KeyVault/vaults/keys/delete", true));
	assert_false(az_permissions_allow(two, "Microsoft.KeyVault/vaults/keys/read", false));
	assert_false(az_permissions_allow(NULL, "x", false));
	json_object_put(contributor);
	json_object_put(two);
}

/* Untrusted text loses control characters and invalid UTF-8 before it reaches a terminal. */
static void test_sanitize(void **state)
{
	static const struct { const char *in, *out; bool nl; } T[] = {
		{ "plain", "plain", false },
		{ "a\x1b[31mred", "a?[31mred", false },
		{ "line1\nline2\ttab", "line1 line2 tab", false },
		{ "line1\nline2", "line1\nline2", true },
		{ "bell\a\x7f", "bell??", false },
		{ "c1 \xc2\x9b here", "c1 ? here", false },
		{ "bad \xff\xfe utf8", "bad ?? utf8", false },
		{ "ok é ü 日本", "ok é ü 日本", false },
		{ "cr\r", "cr?", false },
		{ NULL, "", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *s = text_sanitize(T[i].in, T[i].nl);

		assert_string_equal(s, T[i].out);
		free(s);
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
	static const char *const T[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd" };

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

/* JSON parsing reports errors with positions, and accepts scalars and trailing space. */
static void test_jx_parse(void **state)
{
	static const struct { const char *text; bool ok; } T[] = {
		{ "{\"a\":1}", true }, { "  [1,2]  \n", true }, { "42", true }, { "true", true },
		{ "{\"a\":", false }, { "{} x", false }, { "", false }, { "[1,]", false },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *err = NULL;
		struct json_object *o = jx_parse(T[i].text, strlen(T[i].text), &err);

		assert_int_equal(o != NULL || (T[i].ok && !err), T[i].ok);
		if (!T[i].ok)
			assert_non_null(err);
		json_object_put(o);
		free(err);
	}
}

/* Paths read case-insensitively; merge patch follows RFC 7386, nested nulls included. */
static void test_jx_paths_and_merge(void **state)
{
	struct json_object *o = json_tokener_parse("{\"Properties\":{\"encryption\":{\"keySource\":\"x\"},\"a\":1},\"t\":[1]}");
	struct json_object *p = json_tokener_parse("{\"properties\":null,\"Properties\":{\"a\":null,\"b\":{\"c\":null,\"d\":2}},\"t\":{\"n\":1}}");

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

/* Name-based UUIDs are stable and well formed; the format check accepts only 8-4-4-4-12 hex. */
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

/* Line breaking in display columns: the first line's bytes for a text and a width (UTF-8 locale). */
static const struct {
	const char *text;
	int width;
	size_t want;
} BREAKS[] = {
	{ "short", 10, 5 },                                   /* fits whole */
	{ "exactly10!", 10, 10 },                             /* fits to the column */
	{ "wrap at the space", 10, 7 },                       /* "wrap at" */
	{ "nospacesatallhere", 10, 10 },                      /* cut hard */
	{ "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9", 7, 11 }, /* "été été": 7 columns in 11 bytes */
	{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3, 6 },  /* three é (2 bytes, 1 column each), never half of one */
	{ "\xe6\xbc\xa2\xe5\xad\x97\xe6\xbc\xa2", 5, 6 }, /* 漢字漢: two wide characters fit in 5 columns */
	{ "\xe6\xbc\xa2x", 1, 3 },                          /* a wide character wider than the width still moves on */
	{ "", 5, 0 },
};

/* text_break wraps by display columns, at spaces when it can, and never cuts a character. */
static void test_text_break(void **state)
{
	(void)state;
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		skip();
	for (size_t i = 0; i < sizeof(BREAKS) / sizeof(BREAKS[0]); i++) {
		size_t got = text_break(BREAKS[i].text, strlen(BREAKS[i].text), BREAKS[i].width);

		if (got != BREAKS[i].want)
			fail_msg("break %zu ('%s' at %d): %zu bytes, not %zu", i, BREAKS[i].text, BREAKS[i].width, got,
				 BREAKS[i].want);
	}
	setlocale(LC_CTYPE, "C");
}

/* Runs the core unit tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_armid_parse),
		cmocka_unit_test(test_armid_within),
		cmocka_unit_test(test_armid_extension_scope),
		cmocka_unit_test(test_action_matches),
		cmocka_unit_test(test_permissions_allow),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_text_break),
		cmocka_unit_test(test_locations),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_jx_parse),
		cmocka_unit_test(test_jx_paths_and_merge),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_sbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
