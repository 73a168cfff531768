/* The test locker (Azcmk.Test/lockers): a service that does not exist, to prove
 * that one is a profile row. */
#include "config.h"

#include <string.h>

#include "jx.h"
#include "sim-int.h"
#include "text.h"

#define LOCKER_TYPE "Azcmk.Test/lockers"

/* Tells whether a resource type is the test locker's. */
bool locker_is(const char *type)
{
	return str_ieq(type, LOCKER_TYPE);
}

/* Returns the principal a locker's key setting uses: the user-assigned identity
 * it names, or its own. */
static const char *locker_principal(struct json_object *next,
				    struct json_object *kvp)
{
	const char *uai = jx_str(kvp, "identityId");

	if (!uai)
		return jx_str(next, "identity.principalId");
	return jx_str(
		jx_iget(jx_get(next, "identity.userAssignedIdentities"), uai),
		"principalId");
}

/*
 * Saves a PATCH of a locker, checking its key setting as Azure's services do
 * on save (lockerKey: keyVaultUri, keyName, keyVersion, identityId): a key
 * its identity cannot use is refused with 400 and nothing changes.
 */
void locker_write(struct sim_req *rq, struct sim_resp *rs,
		  struct json_object *cur, struct json_object *body, bool patch)
{
	struct json_object *next, *kvp;
	const char *why = NULL;

	if (!patch) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "The test locker takes PATCH only.");
		return;
	}
	if (!cur) {
		resp_error(rs, 404, "ResourceNotFound",
			   "The Resource '%s' was not found.", rq->path);
		return;
	}
	next = jx_copy(cur);
	jx_merge_patch(next, body);
	json_object_object_add(next, "id",
			       json_object_new_string(jx_str(cur, "id")));
	kvp = jx_get(next, "properties.lockerKey");
	if (kvp &&
	    !services_principal_can_use(rq->sim, jx_str(kvp, "keyVaultUri"),
					jx_str(kvp, "keyName"),
					locker_principal(next, kvp), &why)) {
		resp_error(rs, 400, "LockerKeyNotUsable",
			   "The locker '%s' cannot use its key: %s.",
			   jx_str(cur, "name"), why);
		json_object_put(next);
		return;
	}
	state_put_resource(rq->sim, next);
	resp_json(rs, 200, json_object_get(next));
}
