/* Fetching the context the validation core judges: the resource, its identity,
 * the vault, the key, the access. */
#ifndef AZ_FETCH_H
#define AZ_FETCH_H

#include <stddef.h>

#include "rules.h"
#include "session.h"

/* What the operator names: the resource, and optionally the key and identity to
 * use. */
struct cmk_target {
	const char
		*resource; /* ARM id, or a name unique in the subscriptions */
	const char *
		key_uri; /* https://VAULT.vault.azure.net/keys/NAME[/VERSION] */
	const char *vault; /* vault name (or URI) with key */
	const char *key;
	const char *version;
	const char *identity; /* "system", or a user-assigned identity's ARM id
				 or name */
	const char *const *subscriptions;
	size_t nsubs;
	bool confirmed;                    /* --confirm-irreversible */
	struct json_object *planned_vault; /* the vault a plan creates
					      (plan_vault_planned), judged
					      in its place while it does
					      not exist, or NULL */
	const char *vault_id; /* the named key's vault (or HSM) ARM id when
				 the caller knows it (a plan's), or NULL: it
				 is read without a lookup by name, and looked
				 up after all unless its read names the key's
				 vault */
	struct json_object *resource_read; /* the resource as the caller has
					      just read it (borrowed), or
					      NULL: it is not read again */
	/* With vault_id, what the caller expects (apply knows it): the whole
	 * fetch goes in one wave, and again the usual way when the resource
	 * read in it does not bear them out. */
	const char *principal;  /* the key identity's principal */
	const char *expect_key; /* the key the resource uses, when no key is
				   named */
	bool no_policy; /* Azure Policy is not asked about a named key's save
			   (a proof of access judges access only) */
	bool no_access; /* no identity's access is judged (apply's preflight
			   judges your permissions): with vault_id, one
			   wave without the principal, and the role
			   assignments are left unread */
};

/* The context and everything it points at. */
struct cmk_fetch {
	struct cmk_ctx ctx;
	struct json_object *resource, *uai, *vault, *key, *versions, *rotation,
		*assignments, *roles, *perms, *policy;
	struct json_object *res_perms; /* your permissions at the resource */
	struct json_object
		*denies; /* deny assignments at, above and below the vault */
	struct json_object *health; /* the resource's current Resource Health
				       availability status */
	char *uai_id; /* the user-assigned identity the key is to be used with
		       */
	bool unattached; /* the key setting names, by client id, a
			    user-assigned identity not attached (uai_id NULL)
			  */
	int round_trips; /* sequential waves of requests it took */
};

int cmk_fetch(struct az_session *s, const struct cmk_target *t,
	      struct cmk_fetch *out, struct az_error *e);
void cmk_fetch_free(struct cmk_fetch *f);
const char *cmk_fetch_vault_id(const struct cmk_fetch *f);
struct json_object *cmk_find_vaults(struct az_session *s,
				    const struct key_ref *const *keys, size_t n,
				    const char *const *subs, size_t nsubs);
void cmk_fetch_many(struct az_session *s, const struct cmk_target *t, size_t n,
		    struct cmk_fetch *out, struct az_error *e, int *rc);
struct az_req *cmk_key_users_start(struct az_session *s,
				   const struct key_ref *k,
				   const char *const *subs, size_t nsubs,
				   struct az_error *e);
struct json_object *cmk_key_users_finish(struct az_session *s, struct az_req *q,
					 const char *except, int64_t *counted,
					 struct az_error *e);
struct json_object *cmk_key_users(struct az_session *s, const struct key_ref *k,
				  const char *except, const char *const *subs,
				  size_t nsubs, int64_t *counted,
				  struct az_error *e);
int cmk_resolve_resource(struct az_session *s, const char *name,
			 const char *const *subs, size_t nsubs, char **id,
			 struct az_error *e);

#endif
