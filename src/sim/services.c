/* The four CMK services in the simulator: identity changes, key checks Azure
 * makes on save, long-running operations. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "armid.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

enum svc { SVC_NONE, SVC_DICOM, SVC_HEALTHBOT, SVC_COGNITIVE };

/* A key reference read from a resource, whatever the service's field names. */
struct keyref {
	char *vault_host; /* "kv-prod.vault.azure.net" */
	char *key;
	char *version;          /* NULL: follow the newest */
	const char *uai_client; /* Cognitive Services identityClientId */
	const char *uai_id;     /* Health Bot userIdentity */
};

/* Says which service a resource type is. */
/* Gives an identity its system-assigned principal: the one it had (kept across
 * writes) or a new one, and the tenant. */
void sim_system_principal(struct sim_req *rq, struct json_object *id,
			  const char *old)
{
	char guid[37];

	if (!old)
		sim_random_uuid(guid);
	json_object_object_add(id, "principalId",
			       json_object_new_string(old ? old : guid));
	json_object_object_add(id, "tenantId",
			       json_object_new_string(state_tenant(rq->sim)));
}

static enum svc svc_of(const char *type)
{
	if (str_ieq(type, "Microsoft.HealthcareApis/workspaces/dicomservices"))
		return SVC_DICOM;
	if (str_ieq(type, "Microsoft.HealthBot/healthBots"))
		return SVC_HEALTHBOT;
	if (str_ieq(type, "Microsoft.CognitiveServices/accounts"))
		return SVC_COGNITIVE;
	return SVC_NONE;
}

/* Tells whether writes to a type go through the service rules here. */
bool services_is_service(const char *type)
{
	return svc_of(type) != SVC_NONE;
}

/* Releases a key reference. */
static void keyref_free(struct keyref *k)
{
	free(k->vault_host);
	free(k->key);
	free(k->version);
	memset(k, 0, sizeof(*k));
}

/* Splits "https://host[:443]/keys/name[/version]" into its parts; false when
 * malformed. */
static bool parse_key_url(const char *url, struct keyref *k)
{
	char host[256], name[128], version[64] = "";
	int n;

	if (!url || sscanf(url, "https://%255[^/:]%*[:0-9]/keys/%127[^/]%n",
			   host, name, &n) < 2) {
		if (!url || sscanf(url, "https://%255[^/]/keys/%127[^/]%n",
				   host, name, &n) < 2)
			return false;
	}
	if (url[n] == '/')
		sscanf(url + n + 1, "%63[^/?]", version);
	k->vault_host = str_lower(host);
	k->key = xstrdup(name);
	k->version = version[0] ? xstrdup(version) : NULL;
	return true;
}

/* Reads the vault host from a vault URI ("https://kv.vault.azure.net/"). */
static char *vault_host_of(const char *uri)
{
	char host[256];

	if (!uri || sscanf(uri, "https://%255[^/:]", host) != 1)
		return NULL;
	return str_lower(host);
}

/*
 * Reads the key a resource points at. Returns 1 with the reference, 0 when
 * the resource uses Microsoft-managed keys, -1 when the reference is malformed.
 */
static int read_keyref(enum svc svc, struct json_object *r, struct keyref *k)
{
	struct json_object *kvp;

	memset(k, 0, sizeof(*k));
	if (svc == SVC_DICOM) {
		const char *url = jx_str(
			r, "properties.encryption.customerManagedKeyEncryption."
			   "keyEncryptionKeyUrl");

		return !url ? 0 : parse_key_url(url, k) ? 1 : -1;
	}
	if (svc == SVC_COGNITIVE) {
		if (!str_ieq(jx_str(r, "properties.encryption.keySource"),
			     "Microsoft.KeyVault"))
			return 0;
		kvp = jx_get(r, "properties.encryption.keyVaultProperties");
		k->uai_client = jx_str(kvp, "identityClientId");
	} else {
		kvp = jx_get(r, "properties.keyVaultProperties");
		if (!kvp)
			return 0;
		k->uai_id = jx_str(kvp, "userIdentity");
	}
	k->vault_host = vault_host_of(jx_str(kvp, "keyVaultUri"));
	k->key =
		jx_str(kvp, "keyName") ? xstrdup(jx_str(kvp, "keyName")) : NULL;
	k->version = jx_str(kvp, "keyVersion") && *jx_str(kvp, "keyVersion")
			     ? xstrdup(jx_str(kvp, "keyVersion"))
			     : NULL;
	return k->vault_host && k->key ? 1 : -1;
}

/*
 * Answers a refused save in the service's own error shape, as its REST spec
 * declares it: the DICOM service's ErrorDetails has code, message and target
 * and no details (healthcareapis models.tsp), so an inner code rides in the
 * message; the healthcare agent service's Error wraps each detail as a whole
 * error (healthbot.json 2025-11-01, definitions/Error); Cognitive Services
 * answers common-types v3 ErrorResponse, details as ErrorDetail
 * (cognitiveservices.json 2025-09-01). Microsoft's examples hold no error
 * body for these services; the codes are the simulator's (azcmk-sim(1)).
 */
static void refuse(enum svc svc, struct sim_resp *rs, int status,
		   const char *code, const char *inner, const char *target,
		   const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void refuse(enum svc svc, struct sim_resp *rs, int status,
		   const char *code, const char *inner, const char *target,
		   const char *fmt, ...)
{
	struct json_object *err;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (inner && svc == SVC_DICOM)
		resp_error(rs, status, code, "%s (%s)", msg, inner);
	else
		resp_error(rs, status, code, "%s", msg);
	err = jx_get(rs->json, "error");
	if (target)
		json_object_object_add(err, "target",
				       json_object_new_string(target));
	if (inner && svc != SVC_DICOM) {
		struct json_object *d = json_object_new_object(),
				   *details = json_object_new_array();

		json_object_object_add(d, "code",
				       json_object_new_string(inner));
		json_object_object_add(d, "message",
				       json_object_new_string(msg));
		if (svc == SVC_HEALTHBOT) {
			struct json_object *wrap = json_object_new_object();

			json_object_object_add(wrap, "error", d);
			d = wrap;
		}
		json_object_array_add(details, d);
		json_object_object_add(err, "details", details);
	}
	free(msg);
}

/* The identity type strings a service accepts (compared ignoring case). */
static bool type_allowed(enum svc svc, const char *t)
{
	static const char *const common[] = { "None", "SystemAssigned",
					      "UserAssigned", NULL };

	for (int i = 0; common[i]; i++)
		if (str_ieq(t, common[i]))
			return true;
	return str_ieq(t, svc == SVC_DICOM ? "SystemAssigned,UserAssigned"
					   : "SystemAssigned, UserAssigned");
}

/* Fills userAssignedIdentities values from the identity resources; false (error
 * set) for unknown ones. */
static bool fill_uais(struct sim_req *rq, struct sim_resp *rs,
		      struct json_object *map, struct json_object *cur_map)
{
	json_object_object_foreach(map, id, val)
	{
		struct json_object *uai = state_resource(rq->sim, id), *v;

		(void)val;
		if (!uai ||
		    !str_ieq(jx_str(uai, "type"), "Microsoft.ManagedIdentity/"
						  "userAssignedIdentities")) {
			refuse(SVC_NONE, rs, 400, "InvalidUserAssignedIdentity",
			       NULL, "identity.userAssignedIdentities",
			       "The user-assigned identity '%s' was not found.",
			       id);
			return false;
		}
		if (!jx_iget(cur_map, id) &&
		    !state_allows(rq->sim, rq->oid, id,
				  "Microsoft.ManagedIdentity/"
				  "userAssignedIdentities/assign/action",
				  false)) {
			refuse(SVC_NONE, rs, 403, "LinkedAuthorizationFailed",
			       NULL, NULL,
			       "The client '%s' does not have permission "
			       "to perform action "
			       "'Microsoft.ManagedIdentity/"
			       "userAssignedIdentities/assign/action' on the "
			       "linked scope '%s'.",
			       rq->oid, id);
			return false;
		}
		v = json_object_new_object();
		json_object_object_add(v, "principalId",
				       json_object_new_string(jx_str(
					       uai, "properties.principalId")));
		json_object_object_add(v, "clientId",
				       json_object_new_string(jx_str(
					       uai, "properties.clientId")));
		json_object_object_add(map, id, v);
	}
	return true;
}

/* Merges a PATCH's userAssignedIdentities into the current map: null removes an
 * entry. */
static struct json_object *merge_uais(struct json_object *cur,
				      struct json_object *req)
{
	struct json_object *out = json_object_new_object();

	if (json_object_is_type(cur, json_type_object)) {
		json_object_object_foreach(cur, k, v)
			json_object_object_add(out, k, jx_copy(v));
	}
	if (json_object_is_type(req, json_type_object)) {
		json_object_object_foreach(req, k2, v2)
		{
			if (v2)
				json_object_object_add(
					out, k2, json_object_new_object());
			else
				json_object_object_del(out, k2);
		}
	}
	return out;
}

/* Builds the identity a write asks for: principals made or kept, UAIs resolved;
 * false with error set. */
static bool apply_identity(struct sim_req *rq, struct sim_resp *rs,
			   enum svc svc, struct json_object *next,
			   struct json_object *cur, struct json_object *req,
			   bool patch)
{
	struct json_object *cur_id = jx_get(cur, "identity"),
			   *id = json_object_new_object(), *map = NULL;
	const char *type = req ? jx_str(req, "type")
			       : (patch ? jx_str(cur_id, "type") : "None");
	bool sys, user;

	if (!type)
		type = req && jx_get(req, "userAssignedIdentities")
			       ? "UserAssigned"
			       : "None";
	if (!type_allowed(svc, type)) {
		json_object_put(id);
		refuse(svc, rs, 400, "InvalidIdentityType", NULL,
		       "identity.type",
		       "The identity type '%s' is not supported "
		       "by this resource type. Supported: None, "
		       "SystemAssigned, UserAssigned, %s.",
		       type,
		       svc == SVC_DICOM ? "SystemAssigned,UserAssigned"
					: "SystemAssigned, UserAssigned");
		return false;
	}
	sys = strcasestr(type, "SystemAssigned") != NULL;
	user = strcasestr(type, "UserAssigned") != NULL;
	json_object_object_add(
		id, "type",
		json_object_new_string(
			sys && user ? (svc == SVC_DICOM
					       ? "SystemAssigned,UserAssigned"
					       : "SystemAssigned, UserAssigned")
			: sys       ? "SystemAssigned"
			: user      ? "UserAssigned"
				    : "None"));
	if (sys)
		sim_system_principal(rq, id, jx_str(cur_id, "principalId"));
	if (user) {
		struct json_object *cur_map =
			jx_get(cur_id, "userAssignedIdentities");
		struct json_object *req_map =
			req ? jx_get(req, "userAssignedIdentities") : NULL;

		map = patch ? merge_uais(cur_map, req_map)
			    : merge_uais(NULL, req_map);
		if (json_object_object_length(map) == 0) {
			json_object_put(map);
			json_object_put(id);
			refuse(svc, rs, 400, "InvalidIdentity", NULL,
			       "identity.userAssignedIdentities",
			       "The identity type "
			       "'%s' needs at least one entry in "
			       "userAssignedIdentities.",
			       type);
			return false;
		}
		json_object_object_add(id, "userAssignedIdentities", map);
		if (!fill_uais(rq, rs, map, cur_map)) {
			json_object_put(id);
			return false;
		}
	}
	/* A resource created without an identity has none (Bots_Create's 201
	 * example has no identity). */
	if (!sys && !user && !req && !cur_id) {
		json_object_put(id);
		return true;
	}
	json_object_object_add(next, "identity", id);
	return true;
}

/* Finds the vault (or HSM) a key reference names. */
static struct json_object *vault_of(struct sim *s, const struct keyref *k,
				    bool *hsm)
{
	const char *dot = strchr(k->vault_host, '.');
	char *name = xstrndup(k->vault_host, dot ? (size_t)(dot - k->vault_host)
						 : strlen(k->vault_host));
	struct json_object *v;

	*hsm = strstr(k->vault_host, ".managedhsm.") != NULL;
	v = state_vault_by_name(s, name, *hsm);
	free(name);
	return v;
}

/* Returns the principals the service may use for key access: the chosen one, or
 * every attached one for DICOM. */
static struct json_object *candidates(enum svc svc, struct json_object *next,
				      const struct keyref *k)
{
	struct json_object *out = json_object_new_array(),
			   *uais = jx_get(next,
					  "identity.userAssignedIdentities");
	const char *sys = jx_str(next, "identity.principalId");

	if (json_object_is_type(uais, json_type_object)) {
		json_object_object_foreach(uais, id, v)
		{
			bool chosen =
				(k->uai_client && str_ieq(jx_str(v, "clientId"),
							  k->uai_client)) ||
				(k->uai_id && str_ieq(id, k->uai_id));

			if ((chosen || svc == SVC_DICOM) &&
			    jx_str(v, "principalId"))
				json_object_array_add(
					out, json_object_new_string(
						     jx_str(v, "principalId")));
		}
	}
	if (sys && !k->uai_client && !k->uai_id)
		json_object_array_add(out, json_object_new_string(sys));
	return out;
}

/* Tells whether an access policy grants a principal get, wrapKey and unwrapKey
 * on keys. */
static bool policy_grants(struct json_object *vault, const char *oid)
{
	struct json_object *list = jx_get(vault, "properties.accessPolicies");

	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *p = jx_at(list, i),
				   *keys = jx_get(p, "permissions.keys");
		bool all = jx_array_has_istr(keys, "all");

		if (str_ieq(jx_str(p, "objectId"), oid) &&
		    (all || (jx_array_has_istr(keys, "get") &&
			     jx_array_has_istr(keys, "wrapKey") &&
			     jx_array_has_istr(keys, "unwrapKey"))))
			return true;
	}
	return false;
}

/* Tells whether a principal can read, wrap and unwrap a key, by RBAC, HSM local
 * RBAC or access policy. */
static bool principal_has_access(struct sim *s, struct json_object *vault,
				 bool hsm, const char *key, const char *oid)
{
	static const char *const kv_actions[] = {
		"Microsoft.KeyVault/vaults/keys/read",
		"Microsoft.KeyVault/vaults/keys/wrap/action",
		"Microsoft.KeyVault/vaults/keys/unwrap/action"
	};
	static const char *const hsm_actions[] = {
		"Microsoft.KeyVault/managedHsm/keys/read/action",
		"Microsoft.KeyVault/managedHsm/keys/wrap/action",
		"Microsoft.KeyVault/managedHsm/keys/unwrap/action"
	};
	char *scope;
	bool ok = true;

	if (!hsm &&
	    !jx_bool(vault, "properties.enableRbacAuthorization", false))
		return policy_grants(vault, oid);
	scope = xasprintf("%s/keys/%s", jx_str(vault, "id"), key);
	for (int i = 0; i < 3 && ok; i++)
		ok = state_allows(s, oid, scope,
				  hsm ? hsm_actions[i] : kv_actions[i], true);
	free(scope);
	return ok;
}

/* Tells whether a vault's network rules stop a trusted Azure service. */
static bool firewall_blocks(struct json_object *vault)
{
	const char *pna = jx_str(vault, "properties.publicNetworkAccess");
	const char *def = jx_str(vault, "properties.networkAcls.defaultAction");
	const char *bypass = jx_str(vault, "properties.networkAcls.bypass");
	bool closed = str_ieq(pna, "Disabled") || str_ieq(def, "Deny");

	/* A network security perimeter in enforced mode overrides the bypass.
	 */
	return str_ieq(pna, "SecuredByPerimeter") ||
	       (closed && !(bypass && strcasestr(bypass, "AzureServices")));
}

/* Checks the vault's own settings against what a CMK needs; false with the
 * refusal set. */
static bool vault_ok(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
		     struct json_object *next, struct json_object *vault,
		     const char *target)
{
	const char *vt = jx_str(vault, "properties.tenantId"),
		   *name = jx_str(vault, "name");

	if (vt && !str_ieq(vt, state_tenant(rq->sim)))
		refuse(svc, rs, 400, "KeyVaultTenantMismatch", NULL, target,
		       "The key vault '%s' belongs to tenant '%s', not "
		       "to the resource's tenant '%s'.",
		       name, vt, state_tenant(rq->sim));
	else if (svc == SVC_COGNITIVE && !location_eq(jx_str(vault, "location"),
						      jx_str(next, "location")))
		refuse(svc, rs, 400, "KeyVaultRegionMismatch", NULL, target,
		       "The key vault '%s' is in '%s' but the account is "
		       "in '%s': the key vault must be in the same region as "
		       "the account.",
		       name, jx_str(vault, "location"),
		       jx_str(next, "location"));
	else if (!jx_bool(vault, "properties.enableSoftDelete", true))
		refuse(svc, rs, 400, "KeyVaultPolicyError", NULL, target,
		       "Keyvault policy recoverable is not set: key vault "
		       "'%s' must have soft delete enabled.",
		       name);
	else if (!jx_bool(vault, "properties.enablePurgeProtection", false))
		refuse(svc, rs, 400, "KeyVaultPolicyError", NULL, target,
		       "Keyvault policy purge protection is not set: key "
		       "vault '%s' must have purge protection enabled.",
		       name);
	else if (firewall_blocks(vault))
		refuse(svc, rs, 400, "KeyVaultAccessForbidden",
		       "ForbiddenByFirewall", target,
		       "Forbidden: Client address is not "
		       "authorized and caller is not a trusted service. Vault: "
		       "%s;location=%s",
		       name, jx_str(vault, "location"));
	else
		return true;
	return false;
}

/* Returns the key version a reference names (or the newest), or NULL. */
static struct json_object *key_version(struct sim *s, const char *vault,
				       const struct keyref *k)
{
	struct json_object *versions = kv_key_versions(s, vault, k->key);

	if (!k->version)
		return kv_current_version(s, vault, k->key);
	for (size_t i = 0; i < jx_len(versions); i++)
		if (str_ieq(jx_str(jx_at(versions, i), "version"), k->version))
			return jx_at(versions, i);
	return NULL;
}

/*
 * Tells whether a principal can use a key named by its vault URI and name
 * (the newest version): the vault and the enabled key exist and the principal
 * may read, wrap and unwrap it. Says why not in *why. For a service whose
 * handler lives outside this file (locker.c).
 */
bool services_principal_can_use(struct sim *s, const char *vault_uri,
				const char *key, const char *oid,
				const char **why)
{
	struct keyref k = { .vault_host = vault_host_of(vault_uri),
			    .key = key ? xstrdup(key) : NULL };
	struct json_object *vault, *ver;
	bool hsm = false, ok = false;

	if (!k.vault_host || !k.key)
		*why = "the key setting names no vault URI or key name";
	else if (!(vault = vault_of(s, &k, &hsm)))
		*why = "the vault does not exist";
	else if (!(ver = key_version(s, jx_str(vault, "name"), &k)) ||
		 !jx_bool(ver, "attributes.enabled", true))
		*why = "the key does not exist or is disabled";
	else if (!oid || !principal_has_access(s, vault, hsm, k.key, oid))
		*why = "the identity cannot read, wrap and unwrap the key";
	else
		ok = true;
	keyref_free(&k);
	return ok;
}

/* Tells whether a key size is accepted by a service (OpenAI: 2048 only; DICOM:
 * 2048 or 3072). */
static bool size_ok(enum svc svc, struct json_object *next, int64_t size)
{
	if (svc == SVC_DICOM)
		return size == 2048 || size == 3072;
	if (svc == SVC_COGNITIVE && str_ieq(jx_str(next, "kind"), "OpenAI"))
		return size == 2048;
	return size >= 2048;
}

/* Checks the key itself: exists, enabled, active, RSA, allowed size, wrap and
 * unwrap; false with the refusal set. */
static bool key_ok(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
		   struct json_object *next, struct json_object *vault,
		   const struct keyref *k, const char *target)
{
	struct json_object *v = key_version(rq->sim, jx_str(vault, "name"), k),
			   *ops;
	const char *kty;
	int64_t now = sim_now(rq->sim), exp, nbf;

	if (!v || jx_bool(v, "deleted", false)) {
		refuse(svc, rs, 400, "KeyVaultKeyNotFound", "KeyNotFound",
		       target,
		       "A key with (name/id) %s%s%s was not found "
		       "in key vault '%s'.",
		       k->key, k->version ? "/" : "",
		       k->version ? k->version : "", jx_str(vault, "name"));
		return false;
	}
	kty = jx_str(v, "kty");
	ops = jx_get(v, "key_ops");
	exp = jx_int(v, "attributes.exp", 0);
	nbf = jx_int(v, "attributes.nbf", 0);
	if (!jx_bool(v, "attributes.enabled", true))
		refuse(svc, rs, 400, "KeyVaultKeyDisabled", "KeyDisabled",
		       target, "The key '%s' in key vault '%s' is disabled.",
		       k->key, jx_str(vault, "name"));
	else if ((exp && exp <= now) || (nbf && nbf > now))
		refuse(svc, rs, 400, "KeyVaultKeyExpired", "KeyExpired", target,
		       "The key '%s' in key vault '%s' is expired or "
		       "not yet valid.",
		       k->key, jx_str(vault, "name"));
	else if (!str_ieq(kty, "RSA") && !str_ieq(kty, "RSA-HSM"))
		refuse(svc, rs, 400, "InvalidKeyType", NULL, target,
		       "The key '%s' has type '%s'; only RSA and RSA-HSM keys "
		       "can be used.",
		       k->key, kty ? kty : "");
	else if (!size_ok(svc, next, jx_int(v, "key_size", 2048)))
		refuse(svc, rs, 400, "InvalidKeySize", NULL, target,
		       "The key '%s' has size %lld, which this service does "
		       "not "
		       "accept.",
		       k->key, (long long)jx_int(v, "key_size", 2048));
	else if (jx_get(v, "key_ops") && (!jx_array_has_istr(ops, "wrapKey") ||
					  !jx_array_has_istr(ops, "unwrapKey")))
		refuse(svc, rs, 400, "InvalidKeyOperations", NULL, target,
		       "The key '%s' does not allow wrapKey and unwrapKey.",
		       k->key);
	else
		return true;
	return false;
}

/* Checks that one of the service's identities can use the key; false with the
 * refusal set. */
static bool access_ok(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
		      struct json_object *next, struct json_object *vault,
		      bool hsm, const struct keyref *k, const char *target)
{
	struct json_object *who = candidates(svc, next, k);
	bool rbac = hsm ||
		    jx_bool(vault, "properties.enableRbacAuthorization", false),
	     ok = false;

	for (size_t i = 0; i < jx_len(who) && !ok; i++)
		ok = principal_has_access(
			rq->sim, vault, hsm, k->key,
			json_object_get_string(jx_at(who, i)));
	if (jx_len(who) == 0)
		refuse(svc, rs, 400, "IdentityNotFound", NULL, "identity",
		       "The resource has no managed identity that can be "
		       "used for the key: enable the system-assigned identity "
		       "or attach the user-assigned identity the "
		       "key settings name.");
	else if (!ok && svc == SVC_COGNITIVE)
		/* Cognitive Services' own words (ansible azure.azcollection PR
		 * #1676): a code and no inner detail. */
		refuse(svc, rs, 400, "KeyVaultAccessForbidden", NULL, target,
		       "Unable to access key vault resource '%s' to "
		       "enable encryption at rest. Please grant get, wrap and "
		       "unwrap key permissions to the identity of "
		       "the account.",
		       jx_str(vault, "properties.vaultUri")
			       ? jx_str(vault, "properties.vaultUri")
			       : "");
	else if (!ok && rbac)
		refuse(svc, rs, 400, "KeyVaultAccessForbidden",
		       "ForbiddenByRbac", target,
		       "Forbidden: Caller is not authorized "
		       "to perform action on resource. If role assignments "
		       "were changed recently, please observe "
		       "propagation time. Action: "
		       "'Microsoft.KeyVault/vaults/keys/wrap/action' Key: '%s' "
		       "Vault: %s",
		       k->key, jx_str(vault, "name"));
	else if (!ok)
		refuse(svc, rs, 400, "KeyVaultAccessForbidden",
		       "ForbiddenByPolicy", target,
		       "Forbidden: The managed identity "
		       "does not have keys get, wrapKey and unwrapKey "
		       "permissions on key vault '%s'.",
		       jx_str(vault, "name"));
	json_object_put(who);
	return ok;
}

/* Checks whether the resource may use CMK at all (Health Bot age, Cognitive
 * capability). */
static bool eligible(struct sim_resp *rs, enum svc svc,
		     struct json_object *next)
{
	const char *created = jx_str(next, "systemData.createdAt");
	struct json_object *caps = jx_get(next, "properties.capabilities");
	bool cmk_cap = false;

	if (svc == SVC_HEALTHBOT && created &&
	    strcmp(created, "2021-11-11") < 0) {
		refuse(svc, rs, 400, "CustomerManagedKeyNotSupported", NULL,
		       NULL,
		       "Customer-managed keys are supported only "
		       "for healthcare agent service resources created after "
		       "November 11, 2021.");
		return false;
	}
	for (size_t i = 0; i < jx_len(caps); i++)
		cmk_cap |= str_ieq(jx_str(jx_at(caps, i), "name"),
				   "CustomerManagedKey");
	if (svc == SVC_COGNITIVE && !cmk_cap) {
		refuse(svc, rs, 400, "CustomerManagedKeyNotSupported", NULL,
		       NULL,
		       "The account '%s' does not have the "
		       "CustomerManagedKey capability.",
		       jx_str(next, "name"));
		return false;
	}
	return true;
}

/* Checks Foundry's one-way rules: no return to Microsoft-managed keys, no move
 * to another vault. */
static bool transition_ok(struct sim_resp *rs, enum svc svc,
			  struct json_object *cur, struct json_object *next,
			  int now_cmk, const struct keyref *k)
{
	struct keyref old;
	bool ok = true;

	if (svc != SVC_COGNITIVE || !cur ||
	    !str_ieq(jx_str(next, "kind"), "AIServices") ||
	    read_keyref(svc, cur, &old) != 1)
		return true;
	if (now_cmk == 0) {
		refuse(svc, rs, 400, "CustomerManagedKeyCannotBeReverted", NULL,
		       "properties.encryption",
		       "Encryption with a "
		       "customer-managed key cannot be reverted to "
		       "Microsoft-managed keys for this account.");
		ok = false;
	} else if (!str_ieq(old.vault_host, k->vault_host)) {
		refuse(svc, rs, 400, "KeyVaultChangeNotAllowed", NULL,
		       "properties.encryption",
		       "The key can be changed only "
		       "to another key in the key vault already in use ('%s').",
		       old.vault_host);
		ok = false;
	}
	keyref_free(&old);
	return ok;
}

/* Runs every check Azure makes when a resource is saved with a customer-managed
 * key. */
static bool cmk_ok(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
		   struct json_object *cur, struct json_object *next)
{
	const char *target =
		svc == SVC_DICOM ? "properties.encryption"
		: svc == SVC_HEALTHBOT
			? "properties.keyVaultProperties"
			: "properties.encryption.keyVaultProperties";
	struct keyref k;
	int has = read_keyref(svc, next, &k);
	struct json_object *vault;
	bool hsm = false, ok = false;

	if (has < 0)
		refuse(svc, rs, 400, "InvalidKeyVaultProperties", NULL, target,
		       "The key reference is incomplete: it needs the "
		       "key vault URI and the key name.");
	else if (!transition_ok(rs, svc, cur, next, has, &k))
		;
	else if (has == 0)
		ok = true;
	else if (svc == SVC_DICOM && !k.version)
		refuse(svc, rs, 400, "InvalidKeyEncryptionKeyUrl", NULL, target,
		       "The key encryption key URL must name a key "
		       "version.");
	else if (!eligible(rs, svc, next))
		;
	else if (!(vault = vault_of(rq->sim, &k, &hsm)))
		refuse(svc, rs, 400, "KeyVaultNotFound", NULL, target,
		       "The key vault '%s' could not be reached.",
		       k.vault_host);
	else
		ok = vault_ok(rq, rs, svc, next, vault, target) &&
		     key_ok(rq, rs, svc, next, vault, &k, target) &&
		     access_ok(rq, rs, svc, next, vault, hsm, &k, target);
	keyref_free(&k);
	return ok;
}

/*
 * Tells whether a service on a customer-managed key can use it now, for
 * Resource Health: what running needs (the vault reachable, the key there,
 * enabled and active, the identity's access), not what a save checks.
 */
bool services_key_usable(struct sim *s, struct json_object *r)
{
	enum svc svc = svc_of(jx_str(r, "type"));
	struct sim_req rq = { .sim = s };
	struct sim_resp rs = { 0 };
	struct keyref k;
	int has = read_keyref(svc, r, &k);
	struct json_object *vault = has > 0 ? vault_of(s, &k, &(bool){ false })
					    : NULL,
			   *v;
	bool hsm = vault && strstr(k.vault_host, ".managedhsm.") != NULL,
	     ok = has == 0;
	int64_t now = sim_now(s);

	v = vault ? key_version(s, jx_str(vault, "name"), &k) : NULL;
	if (v && !firewall_blocks(vault) && !jx_bool(v, "deleted", false) &&
	    jx_bool(v, "attributes.enabled", true) &&
	    !(jx_int(v, "attributes.exp", 0) &&
	      jx_int(v, "attributes.exp", 0) <= now) &&
	    jx_int(v, "attributes.nbf", 0) <= now)
		ok = access_ok(&rq, &rs, svc, r, vault, hsm, &k, NULL);
	json_object_put(rs.json);
	free(rs.raw);
	keyref_free(&k);
	return ok;
}

/* Copies the fields a service owns from the current resource into a PUT body.
 */
static void keep_owned(enum svc svc, struct json_object *next,
		       struct json_object *cur)
{
	static const char *const owned[] = {
		"systemData",
		"properties.provisioningState",
		"properties.serviceUrl",
		"properties.authenticationConfiguration",
		"properties.endpoint",
		"properties.endpoints",
		"properties.capabilities",
		"properties.dateCreated",
		"properties.internalId",
		"properties.botManagementPortalLink",
		"properties.accessControlMethod",
		"properties.eventState",
		"etag",
		NULL
	};

	(void)svc;
	for (int i = 0; owned[i]; i++) {
		jx_del(next, owned[i]);
		if (cur && jx_get(cur, owned[i]))
			jx_set(next, owned[i], jx_copy(jx_get(cur, owned[i])));
	}
}

/* Returns a DICOM service's URL,
 * https://{workspace}-{service}.dicom.azurehealthcareapis.com; allocated. */
static char *dicom_url(const char *id, const char *name)
{
	const char *ws = id ? strcasestr(id, "/workspaces/") : NULL;
	size_t n = ws ? strcspn(ws + strlen("/workspaces/"), "/") : 0;

	return xasprintf("https://%.*s%s%s.dicom.azurehealthcareapis.com",
			 (int)n, ws ? ws + strlen("/workspaces/") : "",
			 n ? "-" : "", name);
}

/*
 * Fills what the DICOM service sets on a service it creates, as
 * DicomServices_Create.json shows it: eventState Disabled and the
 * authenticationConfiguration its data plane checks tokens against, the
 * tenant's authority and, as audiences, the resource Microsoft's DICOM
 * documentation has clients ask tokens for and the service's own URL (the
 * example's azurehealthcareapis.com values are placeholders).
 */
static void fill_dicom(struct sim_req *rq, struct json_object *next,
		       const char *url)
{
	struct json_object *auth = json_object_new_object(),
			   *aud = json_object_new_array();
	char *authority = xasprintf("https://login.microsoftonline.com/%s",
				    state_tenant(rq->sim));

	json_object_array_add(
		aud, json_object_new_string(
			     "https://dicom.healthcareapis.azure.com"));
	json_object_array_add(aud, json_object_new_string(url));
	json_object_object_add(auth, "authority",
			       json_object_new_string(authority));
	json_object_object_add(auth, "audiences", aud);
	jx_set(next, "properties.authenticationConfiguration", auth);
	jx_set(next, "properties.eventState",
	       json_object_new_string("Disabled"));
	free(authority);
}

/*
 * Fills in what a service sets on a resource it creates, as Microsoft's
 * create examples show it: systemData (Bots_Create, ResourceCreationPut.json),
 * the healthcare agent service's botManagementPortalLink, the DICOM
 * service's serviceUrl, authentication and event state (fill_dicom) and a
 * Cognitive Services account's endpoint (CreateAccount.json).
 */
static void fill_created(struct sim_req *rq, enum svc svc,
			 struct json_object *next)
{
	const char *name = jx_str(next, "name") ? jx_str(next, "name") : "";
	char *url = NULL;

	json_object_object_add(next, "systemData", arm_system_data(rq, NULL));
	if (svc == SVC_HEALTHBOT)
		url = xasprintf("https://us.healthbot.microsoft.com/account/%s",
				name);
	else if (svc == SVC_DICOM)
		url = dicom_url(jx_str(next, "id"), name);
	else if (svc == SVC_COGNITIVE)
		url = xasprintf("https://%s.cognitiveservices.azure.com/",
				name);
	if (url)
		jx_set(next,
		       svc == SVC_HEALTHBOT
			       ? "properties.botManagementPortalLink"
		       : svc == SVC_DICOM ? "properties.serviceUrl"
					  : "properties.endpoint",
		       json_object_new_string(url));
	if (svc == SVC_DICOM)
		fill_dicom(rq, next, url);
	free(url);
}

/* Builds the resource a PATCH asks for, by the service's own merge rules. */
static struct json_object *patched(enum svc svc, struct json_object *cur,
				   struct json_object *body)
{
	struct json_object *next = jx_copy(cur), *b = jx_copy(body);

	jx_del(b, "identity");
	if (svc == SVC_DICOM) {
		if (jx_get(b, "tags"))
			json_object_object_add(next, "tags",
					       jx_copy(jx_get(b, "tags")));
		json_object_put(b);
		return next;
	}
	if (svc == SVC_COGNITIVE && jx_get(b, "properties.encryption"))
		jx_del(next, "properties.encryption");
	if (svc == SVC_HEALTHBOT && jx_get(b, "properties.keyVaultProperties"))
		jx_del(next, "properties.keyVaultProperties");
	jx_del(b, "properties.capabilities");
	jx_del(b, "properties.provisioningState");
	jx_merge_patch(next, b);
	json_object_put(b);
	return next;
}

/* Builds the resource a PUT asks for: the body, with the ids and service-owned
 * fields kept. */
static struct json_object *replaced(struct sim_req *rq, enum svc svc,
				    struct json_object *cur,
				    struct json_object *body)
{
	struct json_object *next = jx_copy(body);
	struct armid id;

	json_object_object_add(
		next, "id",
		json_object_new_string(cur ? jx_str(cur, "id") : rq->path));
	if (armid_parse(rq->path, &id)) {
		json_object_object_add(
			next, "name",
			json_object_new_string(cur ? jx_str(cur, "name")
						   : id.name));
		json_object_object_add(
			next, "type",
			json_object_new_string(cur ? jx_str(cur, "type")
						   : id.type));
		armid_free(&id);
	}
	keep_owned(svc, next, cur);
	if (!cur)
		fill_created(rq, svc, next);
	return next;
}

/* Gives a new etag and the provisioning state to a resource being written. */
static void stamp(struct json_object *next, const char *state)
{
	char etag[48], hex[33];

	sim_random_hex(hex, 16);
	snprintf(etag, sizeof(etag), "\"%.8s-%.4s-%.4s-%.4s-%.12s\"", hex,
		 hex + 8, hex + 12, hex + 16, hex + 20);
	if (jx_get(next, "etag"))
		json_object_object_add(next, "etag",
				       json_object_new_string(etag));
	jx_set(next, "properties.provisioningState",
	       json_object_new_string(state));
}

/* Returns the resource provider namespace of an id (for operation URLs). */
static char *namespace_of(const char *type)
{
	return armid_provider_type(type);
}

/*
 * Adds the long-running operation's headers as each service's REST spec
 * declares them. The healthcare agent service's update (Bots_Update, PATCH)
 * answers 201 with a Location only, final state via location, and its
 * create (Bots_Create, PUT) with an Azure-AsyncOperation only
 * (specification/healthbot/.../stable/2025-11-01/healthbot.json); with
 * settings.lroHeaders "both", its update also names an Azure-AsyncOperation,
 * as Microsoft's example of it shows (ResourceUpdatePatch.json). The DICOM
 * service names its operationresults URL, its operation status, as the
 * Azure-AsyncOperation (DicomServices_Patch.json) and no Location, for that
 * URL answers no resource. Cognitive Services sends both.
 */
static void add_status_headers(struct sim_req *rq, struct sim_resp *rs,
			       struct json_object *next, const char *opid,
			       bool patch)
{
	enum svc svc = svc_of(jx_str(next, "type"));
	bool bot = svc == SVC_HEALTHBOT, dicom = svc == SVC_DICOM;
	char *ns = namespace_of(jx_str(next, "type")), *sub = NULL, *url,
	     num[16], loc[64];
	struct armid id;

	location_normalize(jx_str(next, "location") ? jx_str(next, "location")
						    : "westus3",
			   loc, sizeof(loc));
	if (armid_parse(jx_str(next, "id"), &id)) {
		sub = xstrdup(id.subscription);
		armid_free(&id);
	}
	if (!bot || !patch || rq->sim->set.lro_headers_both) {
		url = xasprintf("https://%s/subscriptions/%s/providers/%s/"
				"locations/%s/%s/%s?api-version=%s",
				rq->host, sub ? sub : "", ns, loc,
				dicom ? "operationresults"
				      : "operationStatuses",
				opid, req_arg(rq, "api-version"));
		resp_header(rs, "Azure-AsyncOperation", url);
		free(url);
	}
	if ((!bot || patch) && !dicom) {
		url = xasprintf(
			"https://%s/subscriptions/%s/providers/%s/locations/%s/"
			"operationResults/%s?api-version=%s",
			rq->host, sub ? sub : "", ns, loc, opid,
			req_arg(rq, "api-version"));
		resp_header(rs, "Location", url);
		free(url);
	}
	snprintf(num, sizeof(num), "%d", rq->sim->set.retry_after);
	resp_header(rs, "Retry-After", num);
	free(sub);
	free(ns);
}

/* Returns the time an operation started at now ends by itself: now plus
 * lroSeconds, without overflowing. */
static int64_t end_time(const struct sim *s, int64_t now)
{
	return now > INT64_MAX - s->set.lro_seconds ? INT64_MAX
						    : now + s->set.lro_seconds;
}

/* Adds an operation to the pending set and brings the next due time forward
 * when it ends sooner. */
void ops_track(struct sim *s, const char *opid, struct json_object *op)
{
	int64_t end = jx_int(op, "endTime", 0);

	json_object_object_add(s->pending, opid, json_object_get(op));
	if (end < s->next_due)
		s->next_due = end;
}

/* Records a long-running operation (already ended when lro is false) and adds
 * its status URLs to the response. */
static void start_operation(struct sim_req *rq, struct sim_resp *rs,
			    struct json_object *next, bool lro, bool failed,
			    bool patch)
{
	struct json_object *op = json_object_new_object();
	int64_t now = sim_now(rq->sim);
	char opid[37];

	sim_random_uuid(opid);
	json_object_object_add(op, "resourceId",
			       json_object_new_string(jx_str(next, "id")));
	json_object_object_add(op, "pollsLeft",
			       json_object_new_int(rq->sim->set.lro_polls));
	json_object_object_add(op, "failed", json_object_new_boolean(failed));
	json_object_object_add(op, "startTime", json_object_new_int64(now));
	json_object_object_add(op, "endTime",
			       json_object_new_int64(end_time(rq->sim, now)));
	if (rq->sim->set.lro_polls > 0 && !failed)
		json_object_object_add(op, "pending", jx_copy(next));
	if (failed && rq->op_error)
		json_object_object_add(op, "error", jx_copy(rq->op_error));
	if (!lro) {
		json_object_object_add(op, "done", json_object_new_boolean(1));
		json_object_object_add(op, "finishedAt",
				       json_object_new_int64(now));
	}
	json_object_object_add(rq->sim->ops, opid, op);
	if (lro)
		ops_track(rq->sim, opid, op);
	add_status_headers(rq, rs, next, opid, patch);
}

/* Commits a write (at once when lroPolls is 0) and answers as the long-running
 * operation it always is in Azure. */
static void commit(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
		   struct json_object *cur, struct json_object *next,
		   bool patch)
{
	bool lro = rq->sim->set.lro_polls > 0 || rq->lro_fail;

	stamp(next, lro ? (cur ? "Updating" : "Creating") : "Succeeded");
	if (!lro) {
		state_put_resource(rq->sim, json_object_get(next));
	} else {
		struct json_object *shown = jx_copy(cur ? cur : next);

		jx_set(shown, "properties.provisioningState",
		       json_object_new_string(cur ? "Updating" : "Creating"));
		state_put_resource(rq->sim, shown);
	}
	start_operation(rq, rs, next, lro, rq->lro_fail, patch);
	resp_json(rs, !cur || (svc == SVC_HEALTHBOT && patch) ? 201 : 202,
		  next);
}

/*
 * Accepts a save the service refuses (202), and fails its long-running
 * operation with the refusal instead: some services report a key they cannot
 * use only when the operation ends (refuseInOperation).
 */
static int refuse_later(struct sim_req *rq, struct sim_resp *rs, enum svc svc,
			struct json_object *cur, struct json_object *next,
			bool patch)
{
	rq->op_error = jx_copy(jx_get(rs->json, "error"));
	json_object_put(rs->json);
	rs->json = NULL;
	rs->status = 0;
	rq->lro_fail = true;
	commit(rq, rs, svc, cur, next, patch);
	json_object_put(rq->op_error);
	rq->op_error = NULL;
	return 0;
}

/* Serves PUT and PATCH on a DICOM service, Health Bot or Cognitive Services
 * account. */
int services_write(struct sim_req *rq, struct sim_resp *rs,
		   struct json_object *cur, struct json_object *body,
		   bool patch)
{
	enum svc svc = svc_of(cur ? jx_str(cur, "type") : "");
	struct json_object *next;
	struct armid id;

	if (!cur && armid_parse(rq->path, &id)) {
		svc = svc_of(id.type);
		armid_free(&id);
	}
	if (!cur && patch) {
		resp_error(rs, 404, "ResourceNotFound",
			   "The Resource '%s' was not found.", rq->path);
		return -1;
	}
	if (cur &&
	    !str_ieq(jx_str(cur, "properties.provisioningState"),
		     "Succeeded") &&
	    !str_ieq(jx_str(cur, "properties.provisioningState"), "Failed") &&
	    jx_has(cur, "properties.provisioningState")) {
		resp_error(rs, 409, "Conflict",
			   "The resource '%s' is busy (provisioning state "
			   "'%s'); retry when it has "
			   "finished.",
			   jx_str(cur, "name"),
			   jx_str(cur, "properties.provisioningState"));
		return -1;
	}
	if (!patch && !jx_str(body, "location")) {
		resp_error(rs, 400, "LocationRequired",
			   "The location property is required for this "
			   "definition.");
		return -1;
	}
	next = patch ? patched(svc, cur, body) : replaced(rq, svc, cur, body);
	state_normalize_location(next);
	if (!apply_identity(rq, rs, svc, next, cur, jx_get(body, "identity"),
			    patch)) {
		json_object_put(next);
		return -1;
	}
	/* Azure Policy judges the request in ARM, before the resource provider
	 * checks the key: a deny policy refuses even a malformed key URL. */
	if (!policy_allows_write(rq, rs, next)) {
		json_object_put(next);
		return -1;
	}
	if (!cmk_ok(rq, rs, svc, cur, next)) {
		if (cur && rq->sim->set.refuse_in_operation &&
		    rs->status == 400)
			return refuse_later(rq, rs, svc, cur, next, patch);
		json_object_put(next);
		return -1;
	}
	/* A DICOM save with a key it can use refreshes its key access (Resource
	 * Health's "update the DICOM service"). */
	if (svc == SVC_DICOM && jx_str(next, "id"))
		health_refreshed(rq->sim, jx_str(next, "id"));
	commit(rq, rs, svc, cur, next, patch);
	return 0;
}

/* Ends an operation, when its time was up or now if a poll ends it sooner:
 * commits its change or marks it Failed. */
static void finish_operation(struct sim *s, const char *opid,
			     struct json_object *op)
{
	struct json_object *pending = jx_get(op, "pending"),
			   *res = state_resource(s, jx_str(op, "resourceId"));
	int64_t now = sim_now(s), due = jx_int(op, "endTime", now);

	/* The change does not touch a resource deleted since; the operation
	 * stays answerable. */
	if (jx_bool(op, "failed", false)) {
		if (res)
			jx_set(res, "properties.provisioningState",
			       json_object_new_string("Failed"));
	} else if (pending && res) {
		jx_set(pending, "properties.provisioningState",
		       json_object_new_string("Succeeded"));
		state_put_resource(s, json_object_get(pending));
	}
	json_object_object_del(op, "pending");
	json_object_object_add(op, "done", json_object_new_boolean(1));
	json_object_object_add(op, "finishedAt",
			       json_object_new_int64(due < now ? due : now));
	json_object_object_del(s->pending, opid);
	s->generation++;
}

/* Ends every pending operation whose time is up, polled or not; O(1) until the
 * earliest one is due. */
void ops_sweep(struct sim *s)
{
	int64_t now = sim_now(s), next = INT64_MAX;
	struct json_object *due;

	if (!s->pending || now < s->next_due)
		return;
	due = json_object_new_array();
	json_object_object_foreach(s->pending, opid, op)
	{
		int64_t end = jx_int(op, "endTime", 0);

		if (end <= now)
			json_object_array_add(due,
					      json_object_new_string(opid));
		else if (end < next)
			next = end;
	}
	for (size_t i = 0; i < jx_len(due); i++) {
		const char *id = json_object_get_string(jx_at(due, i));

		finish_operation(s, id, json_object_object_get(s->pending, id));
	}
	json_object_put(due);
	s->next_due = next;
}

/* Ends an operation now, as Resource Manager's deployment engine waits for
 * it; returns the operation (borrowed), or NULL when there is none. */
struct json_object *ops_finish_now(struct sim *s, const char *opid)
{
	struct json_object *op = NULL;

	if (!json_object_object_get_ex(s->ops, opid, &op))
		return NULL;
	if (!jx_bool(op, "done", false))
		finish_operation(s, opid, op);
	return op;
}

/*
 * Builds an operation's status body in ARM's Azure-AsyncOperation shape
 * (async-operations.md), id, name, status, startTime, endTime once ended and
 * error when failed, its times from the simulated clock.
 */
static struct json_object *status_body(struct sim_req *rq,
				       struct json_object *op, const char *id)
{
	struct json_object *body = json_object_new_object();
	bool done = jx_bool(op, "done", false),
	     failed = jx_bool(op, "failed", false);
	/*
	 * HealthcareApis answers its OperationResultsDescription
	 * (OperationResultsGet.json): with properties, and Running for an
	 * operation in progress, for its status enum has no InProgress.
	 */
	bool hca = strcasestr(rq->path,
			      "/providers/Microsoft.HealthcareApis/") != NULL;

	json_object_object_add(body, "id", json_object_new_string(rq->path));
	json_object_object_add(body, "name", json_object_new_string(id));
	json_object_object_add(
		body, "status",
		json_object_new_string(!done ? (hca ? "Running" : "InProgress")
				       : failed ? "Failed"
						: "Succeeded"));
	json_object_object_add(body, "startTime",
			       sim_iso_time(jx_int(op, "startTime", 0), true));
	if (done)
		json_object_object_add(
			body, "endTime",
			sim_iso_time(jx_int(op, "finishedAt",
					    jx_int(op, "startTime", 0)),
				     true));
	if (hca)
		json_object_object_add(body, "properties",
				       json_object_new_object());
	if (failed && done && jx_get(op, "error"))
		json_object_object_add(body, "error",
				       jx_copy(jx_get(op, "error")));
	else if (failed && done)
		json_object_object_add(
			body, "error",
			json_tokener_parse(
				"{\"code\":\"InternalServerError\",\"message\":"
				"\"The operation failed (the simulator was "
				"asked to fail it).\"}"));
	return body;
}

/* Serves the status URLs of a long-running operation (Azure-AsyncOperation and
 * Location). */
void ops_handle(struct sim_req *rq, struct sim_resp *rs, const char *opid,
		bool location)
{
	char id[64] = "";
	struct json_object *op = NULL;
	int64_t left;

	sscanf(opid, "%63[^/?]", id);
	if (!json_object_object_get_ex(rq->sim->ops, id, &op)) {
		resp_error(rs, 404, "OperationNotFound",
			   "The operation '%s' was not found.", id);
		return;
	}
	left = jx_int(op, "pollsLeft", 0);
	if (left > 0 && !jx_bool(op, "done", false)) {
		char num[16];

		json_object_object_add(op, "pollsLeft",
				       json_object_new_int64(left - 1));
		snprintf(num, sizeof(num), "%d", rq->sim->set.retry_after);
		resp_header(rs, "Retry-After", num);
	} else if (!jx_bool(op, "done", false)) {
		finish_operation(rq->sim, id, op);
	}
	if (location) {
		struct json_object *res =
			state_resource(rq->sim, jx_str(op, "resourceId"));

		if (!jx_bool(op, "done", false))
			resp_raw(rs, 202, NULL, "");
		else if (jx_bool(op, "failed", false) && jx_get(op, "error"))
			resp_error(rs, 400, jx_str(op, "error.code"), "%s",
				   jx_str(op, "error.message"));
		else if (jx_bool(op, "failed", false))
			resp_error(rs, 500, "InternalServerError",
				   "The operation failed (the simulator was "
				   "asked to fail it).");
		else
			resp_json(rs, 200, json_object_get(res));
		return;
	}
	resp_json(rs, 200, status_body(rq, op, id));
}
