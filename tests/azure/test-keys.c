/* Integration tests of the key module against the simulator: stores, keys with
 * details, versions, refusals, paging. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "azenv.h"
#include "jx.h"
#include "keys.h"
#include "text.h"
#include "xalloc.h"

#define SUB "66666666-6666-4666-8666-666666666666"
#define KV "https://kv-cmk-test.vault.azure.net/"
#define KV_ASSIGNMENT "6666e003-6666-4666-8666-66666666e003"

/* Counts the requests the simulator saw whose host and path contain these (case
 * ignored). */
static int logged(struct azenv *v, const char *host, const char *path)
{
	struct st_resp r = { 0 };
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++) {
		const char *h = jx_str(jx_at(log, i), "host"),
			   *p = jx_str(jx_at(log, i), "path");

		n += h && p && strcasestr(h, host) && strcasestr(p, path);
	}
	st_resp_free(&r);
	return n;
}

/* Returns the object of a list with this name (and, when not NULL, this
 * version), or fails the test. */
static struct json_object *named(struct json_object *list, const char *name,
				 const char *version)
{
	for (size_t i = 0; i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "name"), name) &&
		    (!version ||
		     str_ieq(jx_str(jx_at(list, i), "version"), version)))
			return jx_at(list, i);
	fail_msg("no '%s' %s in %s", name, version ? version : "",
		 jx_text(list));
	return NULL;
}

/* Adds n keys named cmk-more-NN to the minimal scenario's vault, each with one
 * version. */
static void more_keys(struct json_object *doc, int n)
{
	struct json_object *keys = jx_get(doc, "keys.kv-cmk-test");
	struct json_object *tmpl = jx_at(jx_get(keys, "cmk-test"), 0);

	for (int i = 0; i < n; i++) {
		struct json_object *one = json_object_new_array();
		char name[32];

		snprintf(name, sizeof(name), "cmk-more-%02d", i);
		json_object_array_add(one, jx_copy(tmpl));
		json_object_object_add(keys, name, one);
	}
}

/* Adds n versions to the minimal scenario's key, the last one created latest;
 * versions 0...1 to 0...n. */
static void more_versions(struct json_object *doc, int n)
{
	struct json_object *vs = jx_get(doc, "keys.kv-cmk-test.cmk-test"),
			   *tmpl = jx_copy(jx_at(vs, 0));

	for (int i = 0; i < n; i++) {
		struct json_object *ver = jx_copy(tmpl);
		char id[33];

		snprintf(id, sizeof(id), "%032x", i + 1);
		jx_set(ver, "version", json_object_new_string(id));
		jx_set(ver, "attributes.created",
		       json_object_new_int64(1700000000 + i));
		jx_set(ver, "attributes.enabled",
		       json_object_new_boolean(i != 3));
		json_object_array_add(vs, ver);
	}
	json_object_put(tmpl);
}

/* Starts the simulator on the minimal scenario changed by fn (NULL: as it is)
 * with n. */
static struct azenv *start(void (*fn)(struct json_object *doc, int n), int n)
{
	char *text = st_read_scenario("minimal.json");
	struct json_object *doc = json_tokener_parse(text);
	struct azenv *v;

	if (fn)
		fn(doc, n);
	v = azenv_start_text(jx_text(doc), 5);
	json_object_put(doc);
	free(text);
	return v;
}

/* The stores of a subscription are the ARM vaults; a store by name and by URI
 * is the same reference. */
static void test_stores(void **state)
{
	const char *subs[] = { SUB };
	struct azenv *v = start(NULL, 0);
	struct json_object *stores = NULL;
	struct key_ref a, b;

	(void)state;
	if (az_key_stores(v->s, subs, 1, &stores, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(stores), 1);
	assert_string_equal(jx_str(jx_at(stores, 0), "name"), "kv-cmk-test");
	assert_string_equal(jx_str(jx_at(stores, 0), "properties.vaultUri"),
			    KV);
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &a, &v->e));
	assert_true(az_keys_ref(v->s, "https://KV-CMK-TEST.vault.azure.net",
				NULL, &b, &v->e));
	assert_string_equal(a.vault_uri, KV);
	assert_string_equal(b.vault_uri, KV);
	assert_null(a.name);
	key_ref_free(&a);
	key_ref_free(&b);
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &a, &v->e));
	assert_string_equal(a.name, "cmk-test");
	key_ref_free(&a);
	json_object_put(stores);
	azenv_stop(v);
}

/* Adds n copies of the minimal scenario's vault (kv-many-0000...), so that its
 * subscription holds more vaults than a Resource Graph page. */
static void many_vaults(struct json_object *doc, int n)
{
	struct json_object *res = jx_get(doc, "resources"), *tmpl = NULL;

	for (size_t i = 0; !tmpl && i < jx_len(res); i++)
		if (str_ieq(jx_str(jx_at(res, i), "name"), "kv-cmk-test"))
			tmpl = jx_at(res, i);
	assert_non_null(tmpl);
	for (int i = 0; i < n; i++) {
		struct json_object *v = jx_copy(tmpl);
		char name[32], *id;

		snprintf(name, sizeof(name), "kv-many-%04d", i);
		id = xasprintf("%s/providers/Microsoft.KeyVault/vaults/%s",
			       "/subscriptions/" SUB
			       "/resourceGroups/rg-cmk-test",
			       name);
		jx_set(v, "name", json_object_new_string(name));
		jx_set(v, "id", json_object_new_string(id));
		jx_set(v, "properties.vaultUri",
		       json_object_new_string("https://example.invalid/"));
		json_object_array_add(res, v);
		free(id);
	}
}

/* A subscription with more vaults than a Resource Graph page: every page is
 * read; a list Resource Graph cuts short, or whose pages loop, is an error,
 * never a shorter list. */
static void test_stores_paged(void **state)
{
	const char *subs[] = { SUB };
	struct azenv *v = start(many_vaults, 1049);
	struct json_object *stores = NULL;
	struct st_resp r;
	/* A page that names its own next page, forever. */
	const char *loop = "{\"method\":\"POST\",\"path\":\"*ResourceGraph*\","
			   "\"status\":200,\"times\":2,\"body\":{\"data\":[],"
			   "\"$skipToken\":\"again\"}}";
	/* A first page that promises a second, then a refusal. */
	const char *cut = "{\"method\":\"POST\",\"path\":\"*ResourceGraph*\","
			  "\"status\":200,\"times\":1,\"body\":{\"data\":[],"
			  "\"$skipToken\":\"next\"}}";
	const char *refuse =
		"{\"method\":\"POST\",\"path\":\"*ResourceGraph*\","
		"\"status\":400,\"times\":1}";

	(void)state;
	if (az_key_stores(v->s, subs, 1, &stores, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(stores), 1050);
	json_object_put(stores);
	stores = NULL;
	assert_int_equal(st_fault(&v->t, loop), 201);
	assert_int_equal(az_key_stores(v->s, subs, 1, &stores, &v->e), -1);
	assert_null(stores);
	assert_non_null(strstr(v->e.message, "the same page twice"));
	az_error_clear(&v->e);
	assert_int_equal(st_admin(&v->t, "POST", "/reset", NULL, &r), 204);
	st_resp_free(&r);
	assert_int_equal(st_fault(&v->t, cut), 201);
	assert_int_equal(st_fault(&v->t, refuse), 201);
	assert_int_equal(az_key_stores(v->s, subs, 1, &stores, &v->e), -1);
	assert_null(stores);
	assert_non_null(strstr(v->e.message,
			       "then HTTP 400: the list would be incomplete"));
	azenv_stop(v);
}

/* Reads one key's current version straight from Key Vault, for the expected
 * answer. */
static char *current_version(struct azenv *v, const char *key)
{
	struct key_ref k;
	struct az_req *r;
	char *uri, *ver;

	assert_true(az_keys_ref(v->s, "kv-cmk-test", key, &k, &v->e));
	uri = key_ref_uri(&k);
	r = az_session_req(v->s, AZ_KEYVAULT, "GET", uri, "7.5", NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	ver = xstrdup(key_ref_version_in(&k, jx_str(r->json, "key.kid")));
	az_req_free(r);
	free(uri);
	key_ref_free(&k);
	return ver;
}

/* A store's keys come with their details, every page of the list read (30 more
 * keys than one page holds). */
static void test_keys(void **state)
{
	struct azenv *v = start(more_keys, 30);
	struct json_object *keys = NULL, *k;
	struct key_ref store;
	char *cur = current_version(v, "cmk-test");

	(void)state;
	assert_true(az_keys_ref(v->s, KV, NULL, &store, &v->e));
	if (az_keys_list(v->s, &store, 0, &keys, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(keys), 31);
	assert_true(logged(v, "kv-cmk-test", "/keys") >= 2 + 31);
	k = named(keys, "cmk-test", NULL);
	assert_string_equal(jx_str(k, "kid"), KV "keys/cmk-test");
	assert_string_equal(jx_str(k, "version"), cur);
	assert_string_equal(jx_str(k, "kty"), "RSA");
	assert_int_equal(jx_int(k, "keySize", 0), 2048);
	assert_true(jx_bool(k, "enabled", false));
	assert_null(jx_get(k, "expires"));
	assert_int_equal(strlen(jx_str(k, "created")),
			 strlen("2025-11-01T09:00:00Z"));
	assert_false(jx_bool(k, "managed", true));
	json_object_put(keys);
	/* At most max keys are listed, each read in detail. */
	assert_int_equal(az_keys_list(v->s, &store, 5, &keys, &v->e), 0);
	assert_int_equal(jx_len(keys), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(jx_str(jx_at(keys, i), "kty"), "RSA");
	json_object_put(keys);
	key_ref_free(&store);
	free(cur);
	azenv_stop(v);
}

/* The brief list has every key of every page from the list alone: no key's
 * details are read. */
static void test_brief(void **state)
{
	struct azenv *v = start(more_keys, 30);
	struct json_object *keys = NULL, *k;
	struct key_ref store;

	(void)state;
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &store, &v->e));
	if (az_keys_list_brief(v->s, &store, &keys, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(keys), 31);
	assert_true(logged(v, "kv-cmk-test", "/keys") >= 2);
	assert_int_equal(logged(v, "kv-cmk-test", "/keys/"), 0);
	k = named(keys, "cmk-more-07", NULL);
	assert_string_equal(jx_str(k, "kid"), KV "keys/cmk-more-07");
	assert_null(jx_get(k, "version"));
	assert_null(jx_get(k, "kty"));
	assert_null(jx_get(k, "keySize"));
	assert_true(jx_bool(k, "enabled", false));
	assert_false(jx_bool(k, "managed", true));
	json_object_put(keys);
	key_ref_free(&store);
	azenv_stop(v);
}

/* A key whose details cannot be read is listed from the list's item: no type,
 * size or version, not a failure. */
static void test_details_unread(void **state)
{
	struct azenv *v = start(NULL, 0);
	struct json_object *keys = NULL, *k;
	struct key_ref store;

	(void)state;
	assert_int_equal(st_fault(&v->t,
				  "{\"method\":\"GET\",\"path\":\"/keys/"
				  "cmk-test\",\"status\":404,\"times\":1}"),
			 201);
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &store, &v->e));
	if (az_keys_list(v->s, &store, 0, &keys, &v->e) != 0)
		fail_msg("%s", v->e.message);
	k = named(keys, "cmk-test", NULL);
	assert_string_equal(jx_str(k, "kid"), KV "keys/cmk-test");
	assert_null(jx_get(k, "kty"));
	assert_null(jx_get(k, "keySize"));
	assert_null(jx_get(k, "version"));
	assert_true(jx_bool(k, "enabled", false));
	json_object_put(keys);
	key_ref_free(&store);
	azenv_stop(v);
}

/* A key's 32 versions come over two pages (Key Vault's 25 a page), each with
 * its version, kid and dates. */
static void test_versions_paged(void **state)
{
	struct azenv *v = start(more_versions, 30);
	struct json_object *vers = NULL, *one;
	struct key_ref key;

	(void)state;
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &key, &v->e));
	if (az_key_versions(v->s, &key, &vers, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(vers), 32);
	assert_true(logged(v, "kv-cmk-test", "/keys/cmk-test/versions") >= 2);
	one = named(vers, "cmk-test", "00000000000000000000000000000004");
	assert_string_equal(jx_str(one, "kid"), KV
			    "keys/cmk-test/00000000000000000000000000000004");
	assert_false(jx_bool(one, "enabled", true));
	assert_string_equal(jx_str(one, "created"), "2023-11-14T22:13:23Z");
	assert_null(jx_get(one, "kty"));
	one = named(vers, "cmk-test", "4e070c1b76f1b2e831bf75857a09fd70");
	assert_true(jx_bool(one, "enabled", false));
	json_object_put(vers);
	/* A version in the reference is not a filter: the key's versions are
	 * listed all the same. */
	free(key.version);
	key.version = xstrdup("4e070c1b76f1b2e831bf75857a09fd70");
	assert_int_equal(az_key_versions(v->s, &key, &vers, &v->e), 0);
	assert_int_equal(jx_len(vers), 32);
	json_object_put(vers);
	key_ref_free(&key);
	azenv_stop(v);
}

/* Makes the scenario key's current version (the last one, which GET /keys/NAME
 * returns) older by creation than the version before it. */
static void current_not_newest(struct json_object *doc, int n)
{
	struct json_object *vs;

	more_versions(doc, n);
	vs = jx_get(doc, "keys.kv-cmk-test.cmk-test");
	jx_set(jx_at(vs, jx_len(vs) - 1), "attributes.created",
	       json_object_new_int64(1600000000));
}

/* Returns how many versions of a list are marked current (true). */
static int currents(struct json_object *vers)
{
	int n = 0;

	for (size_t i = 0; i < jx_len(vers); i++)
		n += jx_bool(jx_at(vers, i), "current", false);
	return n;
}

/* The current version is the one Key Vault's GET of the key names, not the
 * newest by creation; the list is ordered newest first all the same. */
static void test_versions_current(void **state)
{
	struct azenv *v = start(current_not_newest, 3);
	struct json_object *vers = NULL;
	struct key_ref key;
	char *cur = current_version(v, "cmk-test");

	(void)state;
	assert_string_equal(cur, "00000000000000000000000000000003");
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &key, &v->e));
	if (az_key_versions(v->s, &key, &vers, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(vers), 5);
	assert_int_equal(currents(vers), 1);
	assert_true(jx_bool(named(vers, "cmk-test", cur), "current", false));
	assert_string_equal(jx_str(named(vers, "cmk-test", cur), "created"),
			    "2020-09-13T12:26:40Z");
	/* Newest first by creation: the first is not the current one. */
	for (size_t i = 1; i < jx_len(vers); i++)
		assert_true(strcmp(jx_str(jx_at(vers, i - 1), "created"),
				   jx_str(jx_at(vers, i), "created")) >= 0);
	assert_false(jx_bool(jx_at(vers, 0), "current", true));
	json_object_put(vers);
	/* When the key's own GET fails, no version is called current. */
	assert_int_equal(st_fault(&v->t,
				  "{\"method\":\"GET\",\"path\":\"/keys/"
				  "cmk-test\",\"status\":403,\"times\":1}"),
			 201);
	if (az_key_versions(v->s, &key, &vers, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(vers), 5);
	for (size_t i = 0; i < jx_len(vers); i++)
		assert_null(jx_get(jx_at(vers, i), "current"));
	json_object_put(vers);
	free(cur);
	key_ref_free(&key);
	azenv_stop(v);
}

/* A server that lists one version twice shows it once; one whose nextLink
 * names a page already read is refused, not read for ever. */
static void test_versions_hostile(void **state)
{
	static const char twice[] =
		"{\"method\":\"GET\",\"path\":\"/keys/cmk-test/versions\","
		"\"status\":200,\"times\":1,\"body\":{\"value\":["
		"{\"kid\":\"" KV "keys/cmk-test/0a\",\"attributes\":"
		"{\"enabled\":true,\"created\":1700000000}},"
		"{\"kid\":\"" KV "keys/cmk-test/0a\",\"attributes\":"
		"{\"enabled\":false,\"created\":1700000000}}]}}";
	static const char loop[] =
		"{\"method\":\"GET\",\"path\":\"/keys/cmk-test/versions\","
		"\"status\":200,\"body\":{\"value\":[{\"kid\":\"" KV
		"keys/cmk-test/0a\",\"attributes\":{\"enabled\":true}}],"
		"\"nextLink\":\"" KV "keys/cmk-test/versions?api-version=7.5&"
		"$skiptoken=1\"}}";
	struct azenv *v = start(NULL, 0);
	struct json_object *vers = NULL;
	struct key_ref key;

	(void)state;
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &key, &v->e));
	assert_int_equal(st_fault(&v->t, twice), 201);
	if (az_key_versions(v->s, &key, &vers, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(jx_len(vers), 1);
	assert_true(jx_bool(jx_at(vers, 0), "enabled", false));
	json_object_put(vers);
	assert_int_equal(st_fault(&v->t, loop), 201);
	assert_int_equal(az_key_versions(v->s, &key, &vers, &v->e), -1);
	assert_null(vers);
	assert_non_null(strstr(v->e.message, "loops"));
	assert_true(logged(v, "kv-cmk-test", "/keys/cmk-test/versions") < 5);
	key_ref_free(&key);
	azenv_stop(v);
}

/* Attributes azcmk cannot read are shown as not known (null, "unknown"), never
 * as enabled or never expiring. */
static void test_odd_attributes(void **state)
{
	/* Key Vault's answers as a hostile or broken server would give them:
	 * an enabled that is a string, an expiry that is not a time. */
	static const char bundle[] =
		"{\"method\":\"GET\",\"path\":\"/keys/cmk-test\","
		"\"status\":200,\"times\":1,\"body\":{\"key\":{\"kid\":\"" KV
		"keys/cmk-test/0a\",\"kty\":\"RSA\"},\"attributes\":{"
		"\"enabled\":\"yes\",\"exp\":\"soon\"}}}";
	static const char list[] =
		"{\"method\":\"GET\",\"path\":\"/keys/cmk-test/versions\","
		"\"status\":200,\"times\":1,\"body\":{\"value\":["
		"{\"kid\":\"" KV "keys/cmk-test/0a\",\"attributes\":"
		"{\"enabled\":1,\"exp\":1.5e300}}]}}";
	struct azenv *v = start(NULL, 0);
	struct json_object *keys = NULL, *vers = NULL, *k;
	struct key_ref store, key;

	(void)state;
	assert_int_equal(st_fault(&v->t, bundle), 201);
	assert_int_equal(st_fault(&v->t, list), 201);
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &store, &v->e));
	if (az_keys_list(v->s, &store, 0, &keys, &v->e) != 0)
		fail_msg("%s", v->e.message);
	k = named(keys, "cmk-test", NULL);
	assert_null(jx_get(k, "enabled"));
	assert_string_equal(jx_str(k, "expires"), "unknown");
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &key, &v->e));
	if (az_key_versions(v->s, &key, &vers, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_null(jx_get(jx_at(vers, 0), "enabled"));
	assert_string_equal(jx_str(jx_at(vers, 0), "expires"), "unknown");
	json_object_put(keys);
	json_object_put(vers);
	key_ref_free(&store);
	key_ref_free(&key);
	azenv_stop(v);
}

/* A store or key off the cloud's key hosts is refused, with what to do, before
 * any request is made. */
static void test_off_cloud(void **state)
{
	static const struct key_suffixes china = { ".vault.azure.cn",
						   ".managedhsm.azure.cn" };
	struct key_ref evil = { 0 }, cn, k;
	struct azenv *v = start(NULL, 0);
	struct json_object *list = NULL;
	const char *why;

	(void)state;
	evil.vault_uri = xstrdup("https://evil.example.com/");
	evil.vault = xstrdup("evil");
	evil.name = xstrdup("cmk-test");
	assert_false(az_keys_ref(v->s, "https://evil.example.com/", NULL, &k,
				 &v->e));
	assert_non_null(strstr(v->e.message, "'https://evil.example.com/' is "
					     "not a key vault or Managed HSM"));
	assert_non_null(strstr(v->e.message, "https://NAME.vault.azure.net/"));
	assert_false(az_keys_ref(v->s, "kv-cmk-test", "bad/name", &k, &v->e));
	assert_non_null(
		strstr(v->e.message, "key 'bad/name' in 'kv-cmk-test'"));
	assert_int_equal(az_keys_list(v->s, &evil, 0, &list, &v->e), -1);
	assert_null(list);
	assert_non_null(strstr(v->e.message, "evil.example.com"));
	assert_int_equal(az_key_versions(v->s, &evil, &list, &v->e), -1);
	assert_null(list);
	assert_true(key_ref_store("kv-cmk-test", &china, &cn, &why));
	assert_int_equal(az_keys_list(v->s, &cn, 0, &list, &v->e), -1);
	assert_non_null(strstr(v->e.message, "kv-cmk-test.vault.azure.cn"));
	key_ref_free(&cn);
	assert_true(key_ref_from_parts("kv-cmk-test", "cmk-test", NULL, &china,
				       &cn, &why));
	assert_int_equal(az_key_versions(v->s, &cn, &list, &v->e), -1);
	key_ref_free(&cn);
	/* A store reference is no key: its versions are not listed. */
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &k, &v->e));
	assert_int_equal(az_key_versions(v->s, &k, &list, &v->e), -1);
	key_ref_free(&k);
	assert_int_equal(az_keys_list(v->s, NULL, 0, &list, &v->e), -1);
	assert_int_equal(logged(v, "", "/keys"), 0);
	key_ref_free(&evil);
	azenv_stop(v);
}

/* Drops the operator's role on the vault, its data plane held to RBAC: it then
 * has no Key Vault data action. */
static void no_vault_role(struct json_object *doc, int n)
{
	struct json_object *ras = jx_get(doc, "roleAssignments"),
			   *kept = json_object_new_array();

	(void)n;
	jx_set(doc, "settings.operatorDataPlane",
	       json_object_new_string("enforced"));
	for (size_t i = 0; i < jx_len(ras); i++)
		if (!str_ieq(jx_str(jx_at(ras, i), "name"), KV_ASSIGNMENT))
			json_object_array_add(kept,
					      json_object_get(jx_at(ras, i)));
	json_object_object_add(doc, "roleAssignments", kept);
}

/* A 403 on the list names the store (and key), keeps Azure's words and status,
 * and says what to grant. */
static void test_forbidden(void **state)
{
	struct azenv *v = start(no_vault_role, 0);
	struct json_object *list = NULL;
	struct key_ref store, key;

	(void)state;
	assert_true(az_keys_ref(v->s, "kv-cmk-test", NULL, &store, &v->e));
	assert_true(az_keys_ref(v->s, "kv-cmk-test", "cmk-test", &key, &v->e));
	assert_int_equal(az_keys_list(v->s, &store, 0, &list, &v->e), -1);
	assert_null(list);
	assert_int_equal(v->e.status, 403);
	assert_non_null(strstr(v->e.message,
			       "cannot list the keys in kv-cmk-test: GET " KV
			       "keys"));
	assert_non_null(strstr(v->e.message, "ForbiddenByRbac"));
	assert_non_null(strstr(v->e.message,
			       "Key Vault Reader or Key Vault Crypto User"));
	assert_int_equal(az_keys_list_brief(v->s, &store, &list, &v->e), -1);
	assert_null(list);
	assert_non_null(strstr(v->e.message,
			       "cannot list the keys in kv-cmk-test: GET " KV
			       "keys"));
	assert_int_equal(az_key_versions(v->s, &key, &list, &v->e), -1);
	assert_null(list);
	assert_non_null(strstr(
		v->e.message,
		"cannot list the versions of key cmk-test in kv-cmk-test: "));
	assert_non_null(
		strstr(v->e.message, "grant yourself the list permission"));
	/* A refusal by the store's firewall says so, not that a role is
	 * missing. */
	assert_int_equal(st_fault(&v->t, "{\"path\":\"/"
					 "keys\",\"status\":403,\"code\":"
					 "\"ForbiddenByFirewall\"}"),
			 201);
	assert_int_equal(az_keys_list(v->s, &store, 0, &list, &v->e), -1);
	assert_non_null(strstr(v->e.message, "firewall refused your address"));
	assert_null(strstr(v->e.message, "Key Vault Reader"));
	key_ref_free(&store);
	key_ref_free(&key);
	azenv_stop(v);
}

/* Runs the key module's integration tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stores),
		cmocka_unit_test(test_stores_paged),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_brief),
		cmocka_unit_test(test_details_unread),
		cmocka_unit_test(test_versions_paged),
		cmocka_unit_test(test_versions_current),
		cmocka_unit_test(test_versions_hostile),
		cmocka_unit_test(test_odd_attributes),
		cmocka_unit_test(test_off_cloud),
		cmocka_unit_test(test_forbidden),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
