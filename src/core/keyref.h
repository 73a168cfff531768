/* A customer-managed key's reference: the vault or managed HSM on the cloud's
 * own DNS suffix, the key, its version. */
#ifndef AZ_KEYREF_H
#define AZ_KEYREF_H

#include <stdbool.h>

/* The DNS suffixes a cloud's key stores live under, such as ".vault.azure.net"
 * and ".managedhsm.azure.net". */
struct key_suffixes {
	const char *vault;
	const char *hsm;
};

struct key_ref {
	char *vault_uri; /* "https://NAME.vault.azure.net/", always ending in
			    '/' */
	char *vault;     /* the vault's or HSM's name */
	char *name;    /* the key's name; NULL in a reference to the store alone
			  (key_ref_store) */
	char *version; /* NULL when the reference names no version */
	bool hsm;      /* a managed HSM, not a vault */
};

bool key_ref_parse(const char *uri, const struct key_suffixes *sfx,
		   struct key_ref *out, const char **why);
char *key_ref_join(const char *vault_uri, const char *name,
		   const char *version);
bool key_ref_from_parts(const char *vault, const char *name,
			const char *version, const struct key_suffixes *sfx,
			struct key_ref *out, const char **why);
bool key_ref_from_parts_any(const char *vault, const char *name,
			    const char *version, struct key_ref *out,
			    const char **why);
bool key_ref_store(const char *vault, const struct key_suffixes *sfx,
		   struct key_ref *out, const char **why);
bool key_ref_copy(const struct key_ref *from, struct key_ref *to);
bool key_ref_is(const struct key_ref *used, const struct key_ref *want);
char *key_ref_uri(const struct key_ref *k);
char *key_ref_url(const struct key_ref *k, const char *tail);
char *key_ref_versioned(const struct key_ref *k, const char *version);
char *key_ref_arm_id(const struct key_ref *k, const char *vault_id);
char *key_ref_local_scope(const struct key_ref *k);
const char *key_ref_version_in(const struct key_ref *k, const char *kid);
void key_ref_free(struct key_ref *k);

#endif
