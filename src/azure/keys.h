/* Key Vault's keys as the key step and azcmk keys read them: the stores you can
 * see, a store's keys, a key's versions. */
#ifndef AZ_KEYS_H
#define AZ_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "keyref.h"
#include "session.h"

/*
 * The key stores (key vaults, then Managed HSMs) in the subscriptions, as
 * ARM returns them (name, type, location, properties.vaultUri or hsmUri...),
 * into *stores: what the key step lists and judges. Returns 0, or -1 with *e.
 */
int az_key_stores(struct az_session *s, const char *const *subs, size_t nsubs,
		  struct json_object **stores, struct az_error *e);
int az_key_stores_visible(struct az_session *s, struct json_object **stores,
			  struct az_error *e);

/*
 * Makes a reference to a key store, or to a key in it when name is not
 * NULL, from the store given as its bare name or its URI, held to the
 * session's cloud (az_session_key_suffixes). False, with *e saying why and
 * how to name it, for anything else ("https://evil.example.com/").
 */
bool az_keys_ref(struct az_session *s, const char *store, const char *name,
		 struct key_ref *out, struct az_error *e);

/*
 * Both lists below are JSON arrays of objects, in Key Vault's order, each:
 *   name      the key's name
 *   kid       az_keys_list: the key's URI without a version (what follows
 *             the newest version); az_key_versions: the version's URI
 *   version   the version; in az_keys_list the current one, or null when
 *             the key's details could not be read
 *   kty       "RSA", "RSA-HSM", "EC"...; null when unknown (always in a
 *             version list, whose items carry no key material)
 *   keySize   bits, or null when unknown
 *   enabled   true or false, or null when Key Vault's answer does not say
 *   expires   "YYYY-MM-DDTHH:MM:SSZ" (UTC), null for no expiry, or
 *             "unknown" when Key Vault gives one that is not a time
 *   created   the same, or null
 *   managed   true for a key Key Vault manages behind a certificate
 *   current   az_key_versions only: true for the version GET /keys/NAME
 *             names, false for the others, null on all when that read failed
 * name, kid and version passed the one key parser and kty is sanitized: all
 * are fit to print. An item whose kid names another store or key is left out.
 */

/*
 * Lists a key store's keys, every page, reading the first max keys' details
 * (0: all of them) and listing only those, into *keys (above). The store is
 * held to the session's cloud before any request. Returns 0, or -1 with *e
 * naming the store and saying what to do.
 */
int az_keys_list(struct az_session *s, const struct key_ref *store, size_t max,
		 struct json_object **keys, struct az_error *e);

/*
 * Lists a store's keys as az_keys_list does, every one of them, but from the
 * list alone: no key's details are read, so version, kty and keySize are
 * null. What a search for a usable key reads before it judges a few.
 */
int az_keys_list_brief(struct az_session *s, const struct key_ref *store,
		       struct json_object **keys, struct az_error *e);

/*
 * Lists a key's versions (key->version is ignored), every page, into
 * *versions (above): each version once, newest first by creation, the
 * current one marked from the key's own GET. The key is held to the session's
 * cloud before any request. Returns 0, or -1 with *e naming the key and
 * saying what to do.
 */
int az_key_versions(struct az_session *s, const struct key_ref *key,
		    struct json_object **versions, struct az_error *e);

#endif
