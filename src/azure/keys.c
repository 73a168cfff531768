/* Key Vault's keys as the key step and azcmk keys read them: the stores, a
 * store's keys and details, a key's versions. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "i18n.h"
#include "jx.h"
#include "keys.h"
#include "plan.h"
#include "rules.h"
#include "survey.h"
#include "text.h"
#include "xalloc.h"

/* Key Vault's data-plane API version: the one the plan's own Key Vault requests
 * use. */
#define KEYS_API PLAN_KV_API

/* Lists the key stores through the survey's lister of resources by type
 * (Resource Graph, else ARM's lists). */
int az_key_stores(struct az_session *s, const char *const *subs, size_t nsubs,
		  struct json_object **stores, struct az_error *e)
{
	return cmk_list_key_stores(s, subs, nsubs, stores, e);
}

/*
 * Lists the key stores in every subscription the signed-in principal can see
 * (a central key subscription is common: a resource's key need not live in
 * its own subscription), one Resource Graph query for them all.
 */
int az_key_stores_visible(struct az_session *s, struct json_object **stores,
			  struct az_error *e)
{
	struct json_object *subs = NULL;
	const char **ids;
	size_t n = 0;
	int rc;

	*stores = NULL;
	if (cmk_list_subscriptions(s, &subs, e) != 0)
		return -1;
	ids = xcalloc(jx_len(subs) + 1, sizeof(*ids));
	for (size_t i = 0; i < jx_len(subs); i++)
		if (jx_str(jx_at(subs, i), "subscriptionId"))
			ids[n++] = jx_str(jx_at(subs, i), "subscriptionId");
	rc = n ? cmk_list_key_stores(s, ids, n, stores, e) : 0;
	if (rc == 0 && !*stores)
		*stores = json_object_new_array();
	free(ids);
	json_object_put(subs);
	return rc;
}

/* Says why a store (and key, when name is not NULL) is not one azcmk can use,
 * and how to name one. */
static void refuse(struct az_session *s, const char *store, const char *name,
		   const char *why, struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	char *shown = text_sanitize(store ? store : "", false),
	     *key = name ? text_sanitize(name, false) : NULL;

	if (key)
		az_error_set(e,
			     _("key '%s' in '%s' is not one azcmk can use: %s; "
			       "name the vault NAME or https://NAME%s/ "
			       "and the key by its name"),
			     key, shown, why ? _(why) : "?",
			     sfx.vault ? sfx.vault : "");
	else
		az_error_set(e,
			     _("'%s' is not a key vault or Managed HSM azcmk "
			       "can use: %s; name it NAME or https://NAME%s/"),
			     shown, why ? _(why) : "?",
			     sfx.vault ? sfx.vault : "");
	free(shown);
	free(key);
}

/* Makes a reference to a store, or to a key in it, held to the session's cloud;
 * false with *e. */
bool az_keys_ref(struct az_session *s, const char *store, const char *name,
		 struct key_ref *out, struct az_error *e)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	const char *why = NULL;

	if (name ? key_ref_from_parts(store, name, NULL, &sfx, out, &why)
		 : key_ref_store(store, &sfx, out, &why))
		return true;
	refuse(s, store, name, why, e);
	return false;
}

/* Holds a given reference to the session's cloud by making it again from its
 * parts (a key's name too when key). */
static bool on_cloud(struct az_session *s, const struct key_ref *ref, bool key,
		     struct key_ref *out, struct az_error *e)
{
	const char *name = key ? (ref && ref->name ? ref->name : "") : NULL;

	return az_keys_ref(s, ref ? ref->vault_uri : NULL, name, out, e);
}

/* Returns the URL of a store's list of keys: its URI, which ends in '/', then
 * "keys"; allocated. */
static char *keys_url(const struct key_ref *store)
{
	return xasprintf("%skeys", store->vault_uri);
}

/* Tells whether a refusal came from the store's network rules rather than from
 * permissions. */
static bool by_network(const struct az_error *e)
{
	const char *codes[] = { e->code, e->inner };

	for (size_t i = 0; i < 2; i++)
		if (codes[i] && (strcasestr(codes[i], "Firewall") ||
				 strcasestr(codes[i], "Connection")))
			return true;
	return false;
}

/* Returns what to do about a refused list (after Azure's words), or "" when
 * Azure's words say it. */
static const char *list_hint(const struct az_error *e,
			     const struct key_ref *store)
{
	if (e->status != 403)
		return "";
	if (by_network(e))
		return _("; its firewall refused your address: allow it there, "
			 "or run azcmk from a network it allows");
	if (store->hsm)
		return _("; grant yourself the list permission on keys (the "
			 "local role Managed HSM Crypto User)");
	return _("; grant yourself the list permission on keys (Key Vault "
		 "Reader or Key Vault Crypto User, or an access "
		 "policy with list)");
}

/* Rewords a failed read for the operator: which store (and key) was read,
 * Azure's words, and what to do. */
static void failed(struct az_error *e, const struct key_ref *at, bool versions)
{
	char *said = xstrdup(e->message ? e->message : "?");

	if (versions)
		az_error_set(
			e, _("cannot list the versions of key %s in %s: %s%s"),
			at->name, at->vault, said, list_hint(e, at));
	else
		az_error_set(e, _("cannot list the keys in %s: %s%s"),
			     at->vault, said, list_hint(e, at));
	free(said);
}

/* Returns epoch seconds as an ISO 8601 UTC time (a new JSON string), or NULL
 * (JSON null) for none. */
static struct json_object *when(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char out[32];

	if (t == 0 || !gmtime_r(&tt, &tm) ||
	    !strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return json_object_new_string(out);
}

/* Returns whether Key Vault said the key is enabled (a new JSON boolean), or
 * NULL (JSON null) when its answer does not say. */
static struct json_object *enabled_of(struct json_object *said)
{
	bool on;

	return cmk_key_flag(said, "attributes.enabled", &on) == CMK_ATTR_READ
		       ? json_object_new_boolean(on)
		       : NULL;
}

/* Returns a key's expiry as keys.h describes it: a time, NULL for none, or
 * "unknown" when Key Vault's answer gives one that is not a time. */
static struct json_object *expiry_of(struct json_object *said)
{
	int64_t t;

	switch (cmk_key_time(said, "attributes.exp", &t)) {
	case CMK_ATTR_ABSENT:
		return NULL;
	case CMK_ATTR_READ:
		return when(t);
	default:
		return json_object_new_string("unknown");
	}
}

/* Returns a key's creation time, or NULL (JSON null) when none can be read. */
static struct json_object *created_of(struct json_object *said)
{
	int64_t t;

	return cmk_key_time(said, "attributes.created", &t) == CMK_ATTR_READ
		       ? when(t)
		       : NULL;
}

/* Adds a string member, or null for none. */
static void add_str(struct json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key,
			       value ? json_object_new_string(value) : NULL);
}

/*
 * Describes one key or version (as keys.h says) from what Key Vault said of
 * it, a key bundle when its details were read, else the listed item;
 * kid_version is the version its kid names (NULL: none), version the one to
 * report.
 */
static struct json_object *describe(const struct key_ref *k,
				    const char *kid_version,
				    const char *version,
				    struct json_object *said)
{
	struct json_object *o = json_object_new_object();
	char *kid = key_ref_versioned(k, kid_version);
	char *kty = jx_str(said, "key.kty")
			    ? text_sanitize(jx_str(said, "key.kty"), false)
			    : NULL;
	long bits = cmk_key_bits(said);

	add_str(o, "name", k->name);
	add_str(o, "kid", kid);
	add_str(o, "version", version);
	add_str(o, "kty", kty);
	json_object_object_add(o, "keySize",
			       bits > 0 ? json_object_new_int64(bits) : NULL);
	json_object_object_add(o, "enabled", enabled_of(said));
	json_object_object_add(o, "expires", expiry_of(said));
	json_object_object_add(o, "created", created_of(said));
	json_object_object_add(
		o, "managed",
		json_object_new_boolean(jx_bool(said, "managed", false)));
	free(kid);
	free(kty);
	return o;
}

/* Parses a listed kid as a key of this very store, through the one key parser;
 * false (nothing kept) otherwise. */
static bool key_in(const struct key_ref *store, const struct key_suffixes *sfx,
		   const char *kid, struct key_ref *k)
{
	const char *why;

	if (!key_ref_parse(kid, sfx, k, &why))
		return false;
	if (str_ieq(k->vault_uri, store->vault_uri))
		return true;
	key_ref_free(k);
	return false;
}

/* The first keys of a store's list, each with its listed item and the request
 * that reads its details. */
struct batch {
	struct key_ref *refs;
	struct json_object **items; /* borrowed from the list */
	struct az_req **q;
	size_t n;
};

/* Takes up to max of a list's keys (0: all) that are keys of the store, with a
 * GET of each one's details when asked. */
static void take(struct az_session *s, const struct key_ref *store,
		 struct json_object *items, size_t max, bool details,
		 struct batch *b)
{
	struct key_suffixes sfx = az_session_key_suffixes(s);
	size_t cap = max && max < jx_len(items) ? max : jx_len(items);

	b->refs = xcalloc(cap + 1, sizeof(*b->refs));
	b->items = xcalloc(cap + 1, sizeof(*b->items));
	b->q = xcalloc(cap + 1, sizeof(*b->q));
	for (size_t i = 0; i < jx_len(items) && b->n < cap; i++)
		if (key_in(store, &sfx, jx_str(jx_at(items, i), "kid"),
			   &b->refs[b->n])) {
			char *uri = key_ref_versioned(&b->refs[b->n], NULL);

			b->q[b->n] =
				details ? az_session_req(s, AZ_KEYVAULT, "GET",
							 uri, KEYS_API, NULL)
					: NULL;
			b->items[b->n++] = jx_at(items, i);
			free(uri);
		}
}

/* Describes each key of a batch from its details (when read), else from its
 * listed item; frees the batch. */
static void describe_batch(struct batch *b, bool sent, struct json_object *out)
{
	for (size_t i = 0; i < b->n; i++) {
		struct az_req *q = b->q[i];
		bool got = sent && q && q->status == 200 && q->json;
		struct json_object *said = got ? q->json : b->items[i];

		if (sent)
			json_object_array_add(
				out,
				describe(&b->refs[i], NULL,
					 got ? key_ref_version_in(
						       &b->refs[i],
						       jx_str(said, "key.kid"))
					     : NULL,
					 said));
		az_req_free(q);
		key_ref_free(&b->refs[i]);
	}
	free(b->refs);
	free(b->items);
	free(b->q);
}

/* Lists a store's keys (every page), the first max, with their details when
 * asked; -1 with *e naming the store. */
static int list_keys(struct az_session *s, const struct key_ref *store,
		     size_t max, bool details, struct json_object **keys,
		     struct az_error *e)
{
	struct json_object *items = NULL;
	struct batch b = { 0 };
	struct key_ref at;
	char *url;
	int rc;

	*keys = NULL;
	if (!on_cloud(s, store, false, &at, e))
		return -1;
	url = keys_url(&at);
	rc = az_session_list(s, AZ_KEYVAULT, url, KEYS_API, &items, e);
	if (rc == 0) {
		take(s, &at, items, max, details, &b);
		rc = b.n && details ? az_session_send(s, b.q, b.n, e) : 0;
		*keys = rc == 0 ? json_object_new_array() : NULL;
		describe_batch(&b, rc == 0, *keys);
	}
	if (rc != 0)
		failed(e, &at, false);
	json_object_put(items);
	free(url);
	key_ref_free(&at);
	return rc;
}

/* Lists a store's keys (every page) with the first max keys' details; -1 with
 * *e naming the store. */
int az_keys_list(struct az_session *s, const struct key_ref *store, size_t max,
		 struct json_object **keys, struct az_error *e)
{
	return list_keys(s, store, max, true, keys, e);
}

/* Lists a store's keys (every page) from the list alone, no key's details read;
 * -1 with *e naming the store. */
int az_keys_list_brief(struct az_session *s, const struct key_ref *store,
		       struct json_object **keys, struct az_error *e)
{
	return list_keys(s, store, 0, false, keys, e);
}

/* Orders versions newest first (by creation, one without a date last), then by
 * version, so that a listing does not move between runs: Key Vault promises
 * no order. */
static int newest_first(const void *a, const void *b)
{
	struct json_object *x = *(struct json_object *const *)a,
			   *y = *(struct json_object *const *)b;
	const char *cx = jx_str(x, "created"), *cy = jx_str(y, "created");
	const char *vx = jx_str(x, "version"), *vy = jx_str(y, "version");
	int c = cx && cy ? strcmp(cy, cx) : (cy != NULL) - (cx != NULL);

	return c ? c : strcmp(vx ? vx : "", vy ? vy : "");
}

/*
 * Returns the key's current version as Key Vault itself names it: the kid of
 * GET /keys/NAME, which "retrieves the latest version" (Key Vault's Get Key
 * operation), not a guess from creation dates; NULL when it cannot be read.
 */
static char *current_version(struct az_session *s, const struct key_ref *at)
{
	char *uri = key_ref_versioned(at, NULL), *v = NULL;
	struct az_req *q =
		az_session_req(s, AZ_KEYVAULT, "GET", uri, KEYS_API, NULL);
	struct az_error e = { 0 };

	if (az_session_call(s, q, &e) == 0) {
		const char *named =
			key_ref_version_in(at, jx_str(q->json, "key.kid"));

		v = named ? xstrdup(named) : NULL;
	}
	az_error_clear(&e);
	az_req_free(q);
	free(uri);
	return v;
}

/* Describes the listed versions of a key, each once (a version a server lists
 * twice is shown once), newest first, the current one marked. */
static struct json_object *versions_of(const struct key_ref *at,
				       struct json_object *items,
				       const char *current)
{
	struct json_object *out = json_object_new_array(),
			   *seen = json_object_new_array();

	for (size_t i = 0; i < jx_len(items); i++) {
		const char *v =
			key_ref_version_in(at, jx_str(jx_at(items, i), "kid"));
		struct json_object *d;

		if (!v || jx_array_has_istr(seen, v))
			continue;
		json_object_array_add(seen, json_object_new_string(v));
		d = describe(at, v, v, jx_at(items, i));
		json_object_object_add(
			d, "current",
			current ? json_object_new_boolean(str_ieq(v, current))
				: NULL);
		json_object_array_add(out, d);
	}
	json_object_put(seen);
	json_object_array_sort(out, newest_first);
	return out;
}

/* Lists a key's versions (every page) and which is current; -1 with *e naming
 * the key and its store. */
int az_key_versions(struct az_session *s, const struct key_ref *key,
		    struct json_object **versions, struct az_error *e)
{
	struct json_object *items = NULL;
	struct key_ref at;
	char *url;
	int rc;

	*versions = NULL;
	if (!on_cloud(s, key, true, &at, e))
		return -1;
	url = key_ref_url(&at, "/versions");
	rc = az_session_list(s, AZ_KEYVAULT, url, KEYS_API, &items, e);
	if (rc == 0) {
		char *current = current_version(s, &at);

		*versions = versions_of(&at, items, current);
		free(current);
	} else {
		failed(e, &at, true);
	}
	json_object_put(items);
	free(url);
	key_ref_free(&at);
	return rc;
}
