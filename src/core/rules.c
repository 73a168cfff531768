/* The validation core: every prerequisite of RULES.md as a rule over a context
 * of facts read from Azure. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "actions.h"
#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "rules.h"
#include "sbuf.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

#define ALL NULL
#define DAY 86400

/* ---- facts shared by several rules ---- */

/* Returns the name to show for the resource. */
static const char *res_name(const struct cmk_ctx *c)
{
	const char *n = jx_str(c->resource, "name");

	return n ? n : "?";
}

/* Returns the key's name as shown in messages ("vault/key"). */
static const char *key_label(const struct cmk_ctx *c)
{
	return c->keyref.name ? c->keyref.name : "?";
}

/* Tells whether the resource already encrypts with a customer-managed key. */
bool cmk_resource_on_cmk(const struct cmk_ctx *c)
{
	return svc_on_cmk(c->svc, c->resource);
}

/* Returns the principal (object id) the service uses for the key, or NULL when
 * it has none. */
const char *cmk_principal(const struct cmk_ctx *c)
{
	struct json_object *map =
		jx_get(c->resource, "identity.userAssignedIdentities");

	if (!c->user_identity)
		return jx_str(c->resource, "identity.principalId");
	if (c->uai && jx_str(c->uai, "properties.principalId"))
		return jx_str(c->uai, "properties.principalId");
	return jx_str(jx_iget(map, c->uai_id ? c->uai_id : ""), "principalId");
}

/*
 * Tells whether the key setting saved on the resource names the chosen
 * user-assigned identity (DICOM has no such field: any attached one may serve).
 */
bool cmk_setting_names_identity(const struct cmk_ctx *c)
{
	const struct key_shape *k = c->svc->shape;
	const char *want = k->identity_client_id
				   ? jx_str(c->uai, "properties.clientId")
				   : c->uai_id;

	if (!c->user_identity || !c->uai_id)
		return false;
	if (!k->identity)
		return true;
	return want &&
	       str_ieq(jx_str(jx_get(c->resource, k->kvp), k->identity), want);
}

/*
 * Lists the principals of the other identities a service whose key setting
 * names none (DICOM) may use besides the user-assigned one judged: with its
 * system-assigned identity on beside it, any of them may serve (RULES.md:
 * "both"), so each must reach the key. CMK_OTHERS_MAX at most; returns how
 * many (borrowed from the resource), *more set when there were more.
 *
 * Not yet when the system-assigned identity is the one judged: a plan grants
 * one identity only, so a key it creates would fail the user-assigned ones
 * at once; until plans grant every identity the service may use, that
 * direction is left to identity.key-access alone.
 */
size_t cmk_other_principals(const struct cmk_ctx *c, const char **out,
			    bool *more)
{
	const char *chosen = cmk_principal(c),
		   *sys = jx_str(c->resource, "identity.principalId");
	struct json_object *map =
		jx_get(c->resource, "identity.userAssignedIdentities");
	size_t n = 0;

	*more = false;
	if (!c->svc || c->svc->shape->identity || !c->user_identity)
		return 0;
	/* The user-assigned identity chosen (attached, or to be by the plan)
	 * leaves the system-assigned one, when on, beside it. */
	if (sys)
		out[n++] = sys;
	if (!json_object_is_type(map, json_type_object))
		return n;
	json_object_object_foreach(map, id, v)
	{
		const char *p = jx_str(v, "principalId");

		(void)id;
		if (!p || (chosen && str_ieq(p, chosen)))
			continue;
		if (n == CMK_OTHERS_MAX)
			*more = true;
		else
			out[n++] = p;
	}
	return n;
}

/*
 * Returns the user-assigned identity a resource uses for its key by default:
 * NULL (the system-assigned one) unless it has no system-assigned identity
 * and exactly one user-assigned identity, whose ARM id it returns (borrowed).
 */
static const char *only_user_identity(struct json_object *resource)
{
	struct json_object *map =
		jx_get(resource, "identity.userAssignedIdentities");
	const char *only = NULL;

	if (jx_str(resource, "identity.principalId") ||
	    !json_object_is_type(map, json_type_object) ||
	    json_object_object_length(map) != 1)
		return NULL;
	json_object_object_foreach(map, k, v)
	{
		(void)v;
		only = k;
	}
	return only;
}

/*
 * Returns the user-assigned identity the resource's saved key setting names
 * (Cognitive Services' identityClientId, the healthcare agent service's
 * userIdentity), or NULL when it names none: "the client ID (GUID) of the
 * user-assigned identity to use; omit for system-assigned"
 * (azure-api/REFERENCE-ARM.md). By client id, the ARM id of the attached
 * identity that has it, or *unattached when none has; by ARM id, the attached
 * identity's own spelling of it, else the id as the setting gives it
 * (borrowed).
 */
static const char *named_user_identity(const struct svc_profile *svc,
				       struct json_object *resource,
				       bool *unattached)
{
	const struct key_shape *k = svc ? svc->shape : NULL;
	struct json_object *map =
		jx_get(resource, "identity.userAssignedIdentities");
	const char *named =
		k && k->identity && k->kvp
			? jx_str(jx_get(resource, k->kvp), k->identity)
			: NULL;

	if (!named || !*named)
		return NULL;
	if (json_object_is_type(map, json_type_object)) {
		json_object_object_foreach(map, id, v)
		{
			if (k->identity_client_id
				    ? str_ieq(jx_str(v, "clientId"), named)
				    : str_ieq(id, named))
				return id;
		}
	}
	*unattached = k->identity_client_id;
	return k->identity_client_id ? NULL : named;
}

/*
 * Returns the user-assigned identity a resource uses for its key when the
 * operator names none (borrowed), or NULL for the system-assigned one: the one
 * its key setting names, else the only one it has when it has no
 * system-assigned identity. *unattached is set when the setting names, by
 * client id, an identity not attached to the resource: then no principal can
 * be judged.
 */
const char *cmk_identity_in_use(const struct svc_profile *svc,
				struct json_object *resource, bool *unattached)
{
	const char *named;

	*unattached = false;
	named = named_user_identity(svc, resource, unattached);
	if (named || *unattached)
		return named;
	/* On its key, a setting that could name an identity and names none
	 * means the system-assigned one ("omit for system-assigned"). */
	if (svc && svc->shape->identity && svc_on_cmk(svc, resource))
		return NULL;
	return only_user_identity(resource);
}

/* Returns the ARM scope of the key ("{vault id}/keys/{name}"), allocated, or
 * NULL. */
static char *key_scope(const struct cmk_ctx *c)
{
	const char *vid = jx_str(c->vault, "id");

	return vid && c->keyref.name ? key_ref_arm_id(&c->keyref, vid) : NULL;
}

/*
 * Tells whether an assignment's scope covers the key. The assignments were
 * listed at the vault (ARM lists those at, above and below it), so one at a
 * management group is above the vault: ARM resolved the hierarchy, which an
 * ARM id does not show ("Role assignments for a management group... are
 * inherited by subscriptions":
 * learn.microsoft.com/azure/role-based-access-control/scope-overview).
 */
static bool covers_key(const char *key, const char *ra_scope)
{
	return armid_within(key, ra_scope) ||
	       (ra_scope &&
		str_istarts(
			ra_scope,
			"/providers/Microsoft.Management/managementGroups/"));
}

/* Tells whether a deny assignment's principal list names a principal, Everyone
 * (the all-zero id) or a group, when loose. */
static bool deny_names(struct json_object *list, const char *principal,
		       bool loose)
{
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *p = jx_at(list, i);

		/* azcmk cannot see group membership: a denied group may hold
		 * the principal. */
		if (str_ieq(jx_str(p, "id"), principal) ||
		    (loose &&
		     (str_ieq(jx_str(p, "id"),
			      "00000000-0000-0000-0000-000000000000") ||
		      str_ieq(jx_str(p, "type"), "Group"))))
			return true;
	}
	return false;
}

/*
 * Finds a deny assignment, among those read at the vault, that may stop a
 * principal's action at a scope; NULL when none. Deny assignments win over
 * every role assignment ("Deny assignments take precedence over role
 * assignments":
 * learn.microsoft.com/azure/role-based-access-control/deny-assignments), cover
 * their scope and, unless doNotApplyToChildScopes, what is below it.
 */
static struct json_object *deny_for(const struct cmk_ctx *c,
				    const char *principal, const char *scope,
				    const char *action, bool data)
{
	for (size_t i = 0; principal && i < jx_len(c->denies); i++) {
		struct json_object *d = jx_at(c->denies, i);
		const char *at = jx_str(d, "properties.scope");
		bool covers =
			jx_bool(d, "properties.doNotApplyToChildScopes", false)
				? str_ieq(at, scope)
				: covers_key(scope, at);

		if (covers &&
		    deny_names(jx_get(d, "properties.principals"), principal,
			       true) &&
		    !deny_names(jx_get(d, "properties.excludePrincipals"),
				principal, false) &&
		    az_permissions_allow(jx_get(d, "properties.permissions"),
					 action, data))
			return d;
	}
	return NULL;
}

/* Describes a deny assignment that may stop an action, for a finding's detail;
 * allocated. */
static char *deny_text(struct json_object *d)
{
	const char *name = jx_str(d, "properties.denyAssignmentName"),
		   *scope = jx_str(d, "properties.scope");

	return xasprintf(_("the deny assignment '%s' at '%s' may refuse it, "
			   "and a deny assignment overrides every role "
			   "assignment: azcmk cannot tell whether it applies "
			   "to this principal (directly, as Everyone or "
			   "through a group). Ask whoever manages it (a "
			   "managed application or a deployment stack) to "
			   "exclude this principal"),
			 name                ? name
			 : jx_str(d, "name") ? jx_str(d, "name")
					     : "?",
			 scope ? scope : "?");
}

/* Tells whether a role assignment's role grants a data action. */
static bool role_allows(const struct cmk_ctx *c, struct json_object *ra,
			const char *action)
{
	const char *rd = jx_str(ra, "properties.roleDefinitionId");
	const char *slash = rd ? strrchr(rd, '/') : NULL;
	char *guid = str_lower(slash ? slash + 1 : (rd ? rd : ""));
	struct json_object *role = jx_iget(c->roles, guid);

	free(guid);
	return role &&
	       az_permissions_allow(jx_get(role, "properties.permissions"),
				    action, true);
}

/*
 * Finds an assignment of the principal, covering the key, that grants the
 * action; NULL when none. An assignment with a condition (Azure ABAC) is
 * taken only when conditional is set: azcmk cannot evaluate a condition.
 */
static struct json_object *grant_for(const struct cmk_ctx *c,
				     const char *principal, const char *scope,
				     const char *action, bool conditional)
{
	for (size_t i = 0; i < jx_len(c->assignments); i++) {
		struct json_object *ra = jx_at(c->assignments, i);
		const char *cond = jx_str(ra, "properties.condition");

		if (str_ieq(jx_str(ra, "properties.principalId"), principal) &&
		    (conditional || !cond || !*cond) &&
		    covers_key(scope, jx_str(ra, "properties.scope")) &&
		    role_allows(c, ra, action))
			return ra;
	}
	return NULL;
}

/*
 * Tells whether a vault's access policies give a principal every key
 * permission listed (NULL-terminated; "all" gives them all): 1 by an entry
 * of its own, -1 only by a compound entry (one that also names an
 * applicationId, and so grants the principal only through that application:
 * AccessPolicyEntry.applicationId, "Application ID of the client making
 * request on behalf of a principal", Microsoft.KeyVault 2024-11-01), 0 not.
 */
static int policy_grant(struct json_object *vault, const char *principal,
			const char *const *perms)
{
	struct json_object *list = jx_get(vault, "properties.accessPolicies");
	int best = 0;

	for (size_t i = 0; principal && i < jx_len(list); i++) {
		struct json_object *keys =
			jx_get(jx_at(list, i), "permissions.keys");
		const char *app = jx_str(jx_at(list, i), "applicationId");
		bool ok = jx_array_has_istr(keys, "all");

		for (const char *const *p = perms;
		     !ok && *p && jx_array_has_istr(keys, *p); p++)
			ok = !p[1];
		if (ok &&
		    str_ieq(jx_str(jx_at(list, i), "objectId"), principal)) {
			if (!app || !*app)
				return 1;
			best = -1;
		}
	}
	return best;
}

/*
 * Tells whether a vault's access policies surely give a principal every key
 * permission listed. The one reading of access policies: the rules, apply
 * and the preflight use it.
 */
bool cmk_policy_allows(struct json_object *vault, const char *principal,
		       const char *const *perms)
{
	return policy_grant(vault, principal, perms) == 1;
}

/* The key permissions a service's identity needs in an access policy. */
const char *const CMK_SERVICE_KEY_PERMS[] = { "get", "wrapKey", "unwrapKey",
					      NULL };

/* Tells whether the vault authorises data access by RBAC (Managed HSM always
 * does). */
static bool vault_rbac(const struct cmk_ctx *c)
{
	return c->keyref.hsm ||
	       jx_bool(c->vault, "properties.enableRbacAuthorization", false);
}

/* Judges a principal's use of the key by Azure RBAC (roles, conditions, deny
 * assignments), as cmk_access_of says. */
static int rbac_access(const struct cmk_ctx *c, const char *principal,
		       const char *scope, char **how)
{
	static const char *const kv[] = {
		"Microsoft.KeyVault/vaults/keys/read",
		"Microsoft.KeyVault/vaults/keys/wrap/action",
		"Microsoft.KeyVault/vaults/keys/unwrap/action"
	};
	static const char *const hsm[] = {
		"Microsoft.KeyVault/managedHsm/keys/read/action",
		"Microsoft.KeyVault/managedHsm/keys/wrap/action",
		"Microsoft.KeyVault/managedHsm/keys/unwrap/action"
	};
	struct json_object *ra = NULL, *cond = NULL, *deny = NULL;
	bool ok = true, maybe = true;

	for (int i = 0; i < 3 && (ok || maybe); i++) {
		struct json_object *any =
			maybe ? grant_for(c, principal, scope,
					  c->keyref.hsm ? hsm[i] : kv[i], true)
			      : NULL;

		ok = ok && (ra = grant_for(c, principal, scope,
					   c->keyref.hsm ? hsm[i] : kv[i],
					   false)) != NULL;
		maybe = any != NULL;
		if (any && jx_str(any, "properties.condition") &&
		    *jx_str(any, "properties.condition"))
			cond = any;
	}
	for (int i = 0;
	     i < 3 && !c->keyref.hsm && (ok || (maybe && cond)) && !deny; i++)
		deny = deny_for(c, principal, scope, kv[i], true);
	if (deny && how)
		*how = deny_text(deny);
	else if (ok && how)
		*how = xasprintf(_("a role assignment at '%s'"),
				 jx_str(ra, "properties.scope"));
	else if (!ok && maybe && cond && how)
		*how = xasprintf(
			_("the role assignment at '%s' grants it only under a "
			  "condition (Azure ABAC), which "
			  "azcmk cannot evaluate: check that the condition "
			  "lets this identity wrap and unwrap "
			  "the key"),
			jx_str(cond, "properties.scope"));
	return deny ? -1 : ok ? 1 : maybe && cond ? -1 : 0;
}

/*
 * Judges whether a principal can read, wrap and unwrap the key: by what
 * roles grant (data actions, wildcards, any scope above the key), or by an
 * access policy on access-policy vaults. Returns 1 when it can, 0 when it
 * cannot, -1 when it cannot be told: only a grant with a condition (Azure
 * ABAC) or a compound access policy entry would give it, or a deny
 * assignment may take it away (how then names that one). how gets a
 * description of the grant.
 */
int cmk_access_of(const struct cmk_ctx *c, const char *principal, char **how)
{
	char *scope = key_scope(c);
	int access = 0;

	if (principal && scope && !vault_rbac(c)) {
		access = policy_grant(c->vault, principal,
				      CMK_SERVICE_KEY_PERMS);
		if (access && how)
			*how = xstrdup(
				access > 0 ? _("an access policy with get, "
					       "wrapKey and unwrapKey")
					   : _("only a compound access policy "
					       "entry (one that also names an "
					       "application) gives "
					       "get, wrapKey and unwrapKey, "
					       "and it applies only when that "
					       "application acts for "
					       "the identity: add an entry for "
					       "the identity alone"));
	} else if (principal && scope) {
		access = rbac_access(c, principal, scope, how);
	}
	free(scope);
	return access;
}

/* Tells whether a principal can surely read, wrap and unwrap the key (a
 * conditional grant does not count). */
bool cmk_principal_has_access(const struct cmk_ctx *c, const char *principal,
			      char **how)
{
	return cmk_access_of(c, principal, how) == 1;
}

/* Returns the key size in bits from the JWK modulus (or key_size), or 0 when
 * unknown. */
static long key_bits(struct json_object *key)
{
	const char *n = jx_str(key, "key.n");
	size_t len = n ? strlen(n) : 0;

	if (!n)
		return (long)jx_int(key, "key.key_size", 0);
	return (long)((len / 4) * 3 + (len % 4 == 2   ? 1
				       : len % 4 == 3 ? 2
						      : 0)) *
	       8;
}

/* Reads an ARM timestamp ("2026-11-22T13:05:00.123Z") as epoch seconds; 0 when
 * absent or malformed. */
static int64_t iso_epoch(const char *s)
{
	struct tm tm = { 0 };

	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* Tells whether the vault and key were read (so vault and key rules can be
 * judged). */
static bool vault_read(const struct cmk_ctx *c)
{
	return c->vault_status == 200 && c->vault;
}

/* Tells whether the key version in question was read. */
static bool key_read(const struct cmk_ctx *c)
{
	return c->key_status == 200 && c->key;
}

/* ---- the rules, in RULES.md order ---- */

/* vault.soft-delete */
static enum cmk_outcome r_soft_delete(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	if (!vault_read(c))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	return jx_bool(c->vault, "properties.enableSoftDelete", true)
		       ? OUT_HOLDS
		       : OUT_FAILS;
}

/* vault.purge-protection */
static enum cmk_outcome r_purge_protection(const struct cmk_ctx *c,
					   struct cmk_finding *f)
{
	if (!vault_read(c))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	return jx_bool(c->vault, "properties.enablePurgeProtection",
		       c->keyref.hsm)
		       ? OUT_HOLDS
		       : OUT_FAILS;
}

/* vault.same-tenant: the vault's tenant is the service identity's. */
static enum cmk_outcome r_same_tenant(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	const char *vt = jx_str(c->vault, "properties.tenantId");
	const char *it = c->user_identity
				 ? jx_str(c->uai, "properties.tenantId")
				 : jx_str(c->resource, "identity.tenantId");

	if (!vault_read(c) || !vt)
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	f->arg[1] = vt;
	f->arg[2] = it ? it : c->tenant;
	return !f->arg[2] || str_ieq(vt, f->arg[2]) ? OUT_HOLDS : OUT_FAILS;
}

/* vault.same-region (Foundry, OpenAI). */
static enum cmk_outcome r_same_region(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	if (!vault_read(c))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	f->arg[1] = jx_str(c->vault, "location");
	f->arg[2] = jx_str(c->resource, "location");
	return location_eq(f->arg[1], f->arg[2]) ? OUT_HOLDS : OUT_FAILS;
}

/* vault.firewall: open to the public, or trusted Azure services may pass. */
static enum cmk_outcome r_firewall(const struct cmk_ctx *c,
				   struct cmk_finding *f)
{
	const char *def =
		jx_str(c->vault, "properties.networkAcls.defaultAction");
	const char *pna = jx_str(c->vault, "properties.publicNetworkAccess");
	const char *bypass = jx_str(c->vault, "properties.networkAcls.bypass");
	bool open =
		!str_ieq(pna, "Disabled") && (!def || str_ieq(def, "Allow"));

	/* A perimeter overrides the bypass: vault.perimeter judges it, as no
	 * bypass fixes it. */
	if (!vault_read(c) || str_ieq(pna, "SecuredByPerimeter"))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	return open || (bypass && strcasestr(bypass, "AzureServices"))
		       ? OUT_HOLDS
		       : OUT_FAILS;
}

/* Tells whether the vault is closed to the public network (firewall default
 * Deny, or public access off). */
static bool vault_restricted(const struct cmk_ctx *c)
{
	const char *def =
		jx_str(c->vault, "properties.networkAcls.defaultAction");
	const char *pna = jx_str(c->vault, "properties.publicNetworkAccess");

	return (pna && !str_ieq(pna, "Enabled")) ||
	       (def && !str_ieq(def, "Allow"));
}

/*
 * vault.trusted-bypass: the service reaches a restricted vault only through
 * the trusted-services bypass, which Key Vault does not promise it. The
 * service documents ask for the bypass (DICOM, Azure OpenAI, Foundry), yet
 * Key Vault's list of trusted services names none of these services and
 * says "Microsoft services that aren't in that table don't bypass the
 * firewall today, even when the option is enabled"
 * (learn.microsoft.com/azure/key-vault/general/overview-vnet-service-endpoints#trusted-services);
 * the healthcare agent service's documents say nothing of networks, and it
 * supports no Private Link (its security baseline).
 */
static enum cmk_outcome r_trusted_bypass(const struct cmk_ctx *c,
					 struct cmk_finding *f)
{
	const char *bypass = jx_str(c->vault, "properties.networkAcls.bypass");
	const char *pna = jx_str(c->vault, "properties.publicNetworkAccess");

	if (!vault_read(c) || c->keyref.hsm ||
	    str_ieq(pna, "SecuredByPerimeter"))
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = c->keyref.vault;
	return vault_restricted(c) && bypass &&
			       strcasestr(bypass, "AzureServices")
		       ? OUT_FAILS
		       : OUT_HOLDS;
}

/* vault.perimeter: no network security perimeter in enforced mode, which
 * overrides the trusted-services bypass. */
static enum cmk_outcome r_perimeter(const struct cmk_ctx *c,
				    struct cmk_finding *f)
{
	if (!vault_read(c))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	return str_ieq(jx_str(c->vault, "properties.publicNetworkAccess"),
		       "SecuredByPerimeter")
		       ? OUT_FAILS
		       : OUT_HOLDS;
}

/* vault.readable: the operator could read the vault and the key (no 403). */
static enum cmk_outcome r_readable(const struct cmk_ctx *c,
				   struct cmk_finding *f)
{
	if (!c->keyref.vault)
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	if (c->vault_status == 403 || c->vault_status == 404)
		f->detail = xstrdup(
			_("The vault was not found among the resources you can "
			  "read: it may not exist, or "
			  "reading it through Azure Resource Manager needs a "
			  "role with Microsoft.KeyVault/vaults/read, "
			  "such as Reader, on the vault or above."));
	else if (c->key_status == 403 || c->versions_status == 403)
		f->detail = xstrdup(
			vault_rbac(c)
				? _("Reading keys needs a Key Vault role with "
				    "Microsoft.KeyVault/vaults/keys/read, such "
				    "as Key Vault "
				    "Reader or Key Vault Crypto Officer, on "
				    "the key or the vault.")
				: _("Reading keys needs an access policy for "
				    "you with the key permissions get and "
				    "list."));
	return f->detail ? OUT_FAILS : OUT_HOLDS;
}

/* key.exists: the key (and pinned version) exists and is not deleted. */
static enum cmk_outcome r_key_exists(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	if (!c->keyref.name || (c->key_status != 200 && c->key_status != 404))
		return OUT_NA;
	f->arg[0] = key_label(c);
	f->arg[1] = c->keyref.vault;
	return c->key_status == 200 ? OUT_HOLDS : OUT_FAILS;
}

/* key.enabled */
static enum cmk_outcome r_key_enabled(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	bool on;

	if (!key_read(c))
		return OUT_NA;
	f->arg[0] = key_label(c);
	if (cmk_key_flag(c->key, "attributes.enabled", &on) != CMK_ATTR_READ) {
		f->detail = xstrdup(_("Key Vault's answer does not say whether "
				      "the key is enabled (attributes.enabled "
				      "is missing or not true or false)."));
		return OUT_UNKNOWN;
	}
	return on ? OUT_HOLDS : OUT_FAILS;
}

/* Reads a key's validity window; false, with f->detail saying so, when Key
 * Vault's answer gives a bound azcmk cannot read. */
static bool key_window(const struct cmk_ctx *c, struct cmk_finding *f,
		       int64_t *nbf, int64_t *exp)
{
	if (cmk_key_time(c->key, "attributes.nbf", nbf) != CMK_ATTR_BAD &&
	    cmk_key_time(c->key, "attributes.exp", exp) != CMK_ATTR_BAD)
		return true;
	f->detail = xstrdup(_("Key Vault's answer gives the key a start or "
			      "expiry date that is not a time (attributes.nbf "
			      "or attributes.exp)."));
	return false;
}

/* key.active: not before its start date, not past its expiry. */
static enum cmk_outcome r_key_active(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	int64_t nbf, exp;

	if (!key_read(c))
		return OUT_NA;
	f->arg[0] = key_label(c);
	f->arg[1] = _("not yet valid");
	if (!key_window(c, f, &nbf, &exp))
		return OUT_UNKNOWN;
	if (exp && exp <= c->now)
		f->arg[1] = _("expired");
	return (nbf && nbf > c->now) || (exp && exp <= c->now) ? OUT_FAILS
							       : OUT_HOLDS;
}

/* key.expiring: expires within 30 days. */
static enum cmk_outcome r_key_expiring(const struct cmk_ctx *c,
				       struct cmk_finding *f)
{
	int64_t exp;

	/* An unreadable expiry is key.active's "could not judge", not this
	 * one's. */
	if (!key_read(c) ||
	    cmk_key_time(c->key, "attributes.exp", &exp) != CMK_ATTR_READ ||
	    exp <= c->now)
		return OUT_NA;
	f->arg[0] = key_label(c);
	{
		long long days = (long long)((exp - c->now) / DAY);

		f->detail =
			days < 1 ? xstrdup(_("It expires in less than a day."))
				 : xasprintf(P_("It expires in %lld day.",
						"It expires in %lld days.",
						(unsigned long)days),
					     days);
	}
	return exp - c->now <= 30 * DAY ? OUT_FAILS : OUT_HOLDS;
}

/* key.type: RSA or RSA-HSM. */
static enum cmk_outcome r_key_type(const struct cmk_ctx *c,
				   struct cmk_finding *f)
{
	const char *kty = jx_str(c->key, "key.kty");

	if (!key_read(c) || !jx_get(c->key, "key"))
		return OUT_NA;
	f->arg[0] = key_label(c);
	f->arg[1] = kty ? kty : "?";
	return str_ieq(kty, "RSA") || str_ieq(kty, "RSA-HSM") ? OUT_HOLDS
							      : OUT_FAILS;
}

/* key.size: the service accepts the key's size (blocker or warning per
 * service). */
static enum cmk_outcome r_key_size(const struct cmk_ctx *c,
				   struct cmk_finding *f)
{
	long b = key_bits(c->key);

	if (!key_read(c) || !str_istarts(jx_str(c->key, "key.kty"), "RSA") ||
	    b == 0)
		return OUT_NA;
	snprintf(f->number, sizeof(f->number), "%ld", b);
	f->arg[0] = key_label(c);
	f->arg[1] = f->number;
	f->arg[2] = _(c->svc->name);
	f->severity = c->svc->size_severity;
	if (c->svc->size_note)
		f->detail = xstrdup(_(c->svc->size_note));
	return svc_size_allowed(c->svc, b) ? OUT_HOLDS : OUT_FAILS;
}

/* key.ops: wrapKey and unwrapKey allowed. */
static enum cmk_outcome r_key_ops(const struct cmk_ctx *c,
				  struct cmk_finding *f)
{
	struct json_object *ops = jx_get(c->key, "key.key_ops");

	if (!key_read(c) || !jx_get(c->key, "key") || !ops)
		return OUT_NA;
	f->arg[0] = key_label(c);
	return jx_array_has_istr(ops, "wrapKey") &&
			       jx_array_has_istr(ops, "unwrapKey")
		       ? OUT_HOLDS
		       : OUT_FAILS;
}

/* key.versioned (DICOM): the key URL names a version. */
static enum cmk_outcome r_key_versioned(const struct cmk_ctx *c,
					struct cmk_finding *f)
{
	if (!c->keyref.name)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = key_label(c);
	return c->keyref.version ? OUT_HOLDS : OUT_FAILS;
}

/*
 * key.earlier-versions: no version older than the one in use is disabled.
 * The DICOM documents: "Always make sure to keep existing keys enabled when
 * adding new keys because they're still needed to access the data that was
 * encrypted with them"
 * (learn.microsoft.com/azure/healthcare-apis/dicom/customer-managed-keys);
 * Foundry's: "Existing data remains encrypted with the previous key unless
 * reprocessed"
 * (learn.microsoft.com/azure/ai-foundry/concepts/encryption-keys-portal). Key
 * Vault deletes no single version: only the whole key.
 */
static enum cmk_outcome r_earlier_versions(const struct cmk_ctx *c,
					   struct cmk_finding *f)
{
	struct json_object *items = jx_get(c->versions, "value");
	const char *current =
		key_ref_version_in(&c->keyref, jx_str(c->key, "key.kid"));
	int64_t born = jx_int(c->key, "attributes.created", 0);
	struct sbuf off = SBUF_INIT, unread = SBUF_INIT;
	bool off_found;

	if (!c->keyref.name || !key_read(c) || !current)
		return OUT_NA;
	f->arg[0] = key_label(c);
	/* No list (refused, not found, not the documented shape): nothing was
	 * earned, so no "holds". */
	if (c->versions_status != 200 ||
	    !json_object_is_type(items, json_type_array)) {
		f->detail =
			xstrdup(_("the key's versions could not be listed: "
				  "grant yourself the list permission on keys "
				  "(Key Vault Reader or Key Vault Crypto User, "
				  "or an access policy with list)"));
		return OUT_UNKNOWN;
	}
	for (size_t i = 0; i < jx_len(items); i++) {
		struct json_object *it = jx_at(items, i);
		const char *v =
			key_ref_version_in(&c->keyref, jx_str(it, "kid"));
		int64_t created = jx_int(it, "attributes.created", 0);
		bool on = true;

		if (!v || str_ieq(v, current) ||
		    (born && created && created >= born))
			continue;
		if (cmk_key_flag(it, "attributes.enabled", &on) !=
		    CMK_ATTR_READ)
			sb_printf(&unread, "%s%s", unread.len ? ", " : "", v);
		else if (!on)
			sb_printf(&off, "%s%s", off.len ? ", " : "", v);
	}
	off_found = off.len > 0;
	if (off_found)
		f->detail = xasprintf(_("disabled: %s"), off.s);
	else if (unread.len)
		f->detail = xasprintf(_("Key Vault's list does not say whether "
					"these versions are enabled: %s"),
				      unread.s);
	sb_free(&off);
	sb_free(&unread);
	return off_found ? OUT_FAILS : f->detail ? OUT_UNKNOWN : OUT_HOLDS;
}

/* key.rotation-policy: the key rotates itself. */
static enum cmk_outcome r_rotation_policy(const struct cmk_ctx *c,
					  struct cmk_finding *f)
{
	struct json_object *acts = jx_get(c->rotation, "lifetimeActions");
	bool rotates = false;

	if (c->rotation_status != 200)
		return OUT_NA;
	for (size_t i = 0; i < jx_len(acts); i++)
		rotates |= str_ieq(jx_str(jx_at(acts, i), "action.type"),
				   "Rotate");
	f->arg[0] = key_label(c);
	return rotates ? OUT_HOLDS : OUT_FAILS;
}

/* identity.enabled: the chosen identity exists on the resource. */
static enum cmk_outcome r_identity_enabled(const struct cmk_ctx *c,
					   struct cmk_finding *f)
{
	f->arg[0] = res_name(c);
	if (c->user_identity && !c->uai_id) {
		const struct key_shape *k = c->svc->shape;

		f->arg[1] = _("user-assigned identity its key setting names");
		f->detail = xasprintf(
			_("The key setting names the identity with client id "
			  "%s, and no identity attached to the resource has "
			  "it: the service cannot reach its key. Attach that "
			  "identity, or choose one with --identity."),
			k->kvp && k->identity
				? jx_str(jx_get(c->resource, k->kvp),
					 k->identity)
				: "?");
		return OUT_FAILS;
	}
	if (c->user_identity) {
		f->arg[1] = c->uai_id;
		return jx_iget(jx_get(c->resource,
				      "identity.userAssignedIdentities"),
			       c->uai_id ? c->uai_id : "")
			       ? OUT_HOLDS
			       : OUT_FAILS;
	}
	f->arg[1] = _("system-assigned identity");
	return jx_str(c->resource, "identity.principalId") ? OUT_HOLDS
							   : OUT_FAILS;
}

/* identity.allowed: the service accepts this kind of identity (documents
 * disagree for some). */
static enum cmk_outcome r_identity_allowed(const struct cmk_ctx *c,
					   struct cmk_finding *f)
{
	if (!c->user_identity)
		return OUT_NA;
	f->arg[0] = _(c->svc->name);
	if (!c->svc->user_identity_doubtful)
		return OUT_HOLDS;
	f->detail = c->svc->identity_note ? xstrdup(_(c->svc->identity_note))
					  : NULL;
	return OUT_FAILS;
}

/* identity.key-access: the identity can read, wrap and unwrap the key. */
static enum cmk_outcome r_key_access(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	const char *p = cmk_principal(c);
	char *how = NULL;
	int access;

	if (!vault_read(c) || !p || !c->keyref.name)
		return OUT_NA;
	access = cmk_access_of(c, p, &how);
	f->arg[0] = res_name(c);
	f->arg[1] = key_label(c);
	f->arg[2] = c->keyref.vault;
	f->detail = how;
	return access > 0 ? OUT_HOLDS : access < 0 ? OUT_UNKNOWN : OUT_FAILS;
}

/* Returns the ARM id of the user-assigned identity with this principal on the
 * resource (borrowed), or NULL. */
static const char *identity_of(const struct cmk_ctx *c, const char *principal)
{
	struct json_object *map =
		jx_get(c->resource, "identity.userAssignedIdentities");

	if (!json_object_is_type(map, json_type_object))
		return NULL;
	json_object_object_foreach(map, id, v)
	{
		if (str_ieq(jx_str(v, "principalId"), principal))
			return id;
	}
	return NULL;
}

/*
 * identity.dicom-both: a DICOM service names no identity in its key setting,
 * so with a user-assigned identity and its system-assigned one both on, it
 * may use any of them: each other one must be able to use the key too
 * (unless the change turns the system-assigned one off, as Microsoft's
 * user-assigned DICOM template does by setting the identity type to
 * UserAssigned alone). Their assignments must have been read.
 */
static enum cmk_outcome r_dicom_both(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	const char *sys = jx_str(c->resource, "identity.principalId"),
		   *others[CMK_OTHERS_MAX];
	bool more;
	size_t n = cmk_other_principals(c, others, &more);
	enum cmk_outcome out = OUT_NA;

	if (!vault_read(c) || !c->keyref.name)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = key_label(c);
	if (more) {
		f->detail = xasprintf(_("it has more than %d other identities; "
					"azcmk judges that many at most"),
				      CMK_OTHERS_MAX);
		return OUT_UNKNOWN;
	}
	for (size_t i = 0; i < n && out != OUT_FAILS; i++) {
		int access;

		if (c->drop_system && str_ieq(others[i], sys))
			continue;
		if (c->others_status != 0 && c->others_status != 200) {
			free(f->detail);
			f->detail = xstrdup(
				_("the role assignments of its other "
				  "identities could not be read; retry when "
				  "Azure answers"));
			return OUT_UNKNOWN;
		}
		access = cmk_access_of(c, others[i], NULL);
		if (access == 0) {
			const char *uai = identity_of(c, others[i]);

			free(f->detail);
			f->detail =
				uai ? xasprintf(_("The identity that cannot "
						  "is user-assigned "
						  "identity %s."),
						uai)
				    : NULL;
			out = OUT_FAILS;
		} else if (access < 0 || out == OUT_UNKNOWN) {
			out = OUT_UNKNOWN;
		} else {
			out = OUT_HOLDS;
		}
	}
	return out;
}

/*
 * identity.dicom-hsm-private: "When using a managed HSM, if the vault has
 * disabled public traffic and has a private endpoint, a user-assigned
 * managed identity must be used with the DICOM service"
 * (learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys).
 */
static enum cmk_outcome r_dicom_hsm_private(const struct cmk_ctx *c,
					    struct cmk_finding *f)
{
	bool closed = str_ieq(
		jx_str(c->vault, "properties.publicNetworkAccess"), "Disabled");
	struct json_object *pes =
		jx_get(c->vault, "properties.privateEndpointConnections");
	bool approved = false;

	/* Only an approved connection is a way in; a pending or rejected one is
	 * not. */
	for (size_t i = 0; i < jx_len(pes); i++)
		approved |= str_ieq(
			jx_str(jx_at(pes, i),
			       "properties.privateLinkServiceConnectionState."
			       "status"),
			"Approved");
	if (!c->keyref.hsm || !vault_read(c) || !closed || !approved)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = c->keyref.vault;
	return c->user_identity ? OUT_HOLDS : OUT_FAILS;
}

/* identity.propagation: an assignment that grants access may be too new to have
 * taken effect. */
static enum cmk_outcome r_propagation(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	const char *p = cmk_principal(c);
	int64_t window = c->propagation_window ? c->propagation_window : 600;
	char *scope = key_scope(c);
	bool fresh = false;

	if (!p || !scope || !vault_rbac(c)) {
		free(scope);
		return OUT_NA;
	}
	for (size_t i = 0; i < jx_len(c->assignments); i++) {
		struct json_object *ra = jx_at(c->assignments, i);
		int64_t created = iso_epoch(jx_str(ra, "properties.createdOn"));

		fresh |= str_ieq(jx_str(ra, "properties.principalId"), p) &&
			 created && c->now - created < window &&
			 covers_key(scope, jx_str(ra, "properties.scope"));
	}
	free(scope);
	f->arg[0] = res_name(c);
	return fresh ? OUT_FAILS : OUT_HOLDS;
}

/*
 * operator.can-assign on a Managed HSM: the operator holds a local role that
 * may create role assignments (Administrator, Crypto Officer or Policy
 * Administrator:
 * learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles), HSM-wide
 * ("/", "/keys") or on the key. ARM's permissions do not count here.
 */
static enum cmk_outcome hsm_can_assign(const struct cmk_ctx *c,
				       struct cmk_finding *f)
{
	static const char action[] =
		"Microsoft.KeyVault/managedHsm/roleAssignments/write/action";
	const char *p = cmk_principal(c);
	char *scope = key_scope(c);
	enum cmk_outcome out = OUT_NA;

	if (vault_read(c) && p && scope && c->operator_id &&
	    !cmk_principal_has_access(c, p, NULL)) {
		f->arg[0] = c->keyref.vault;
		f->arg[1] = action;
		out = grant_for(c, c->operator_id, scope, action, false)
			      ? OUT_HOLDS
		      : grant_for(c, c->operator_id, scope, action, true)
			      ? OUT_UNKNOWN
			      : OUT_FAILS;
	}
	free(scope);
	return out;
}

/* operator.can-assign: the operator may grant the identity access (judged only
 * where access is missing). */
static enum cmk_outcome r_can_assign(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	const char *p = cmk_principal(c);
	const char *action =
		vault_rbac(c) ? "Microsoft.Authorization/roleAssignments/write"
			      : "Microsoft.KeyVault/vaults/accessPolicy/write";
	struct json_object *deny;

	if (c->keyref.hsm)
		return hsm_can_assign(c, f);
	if (!vault_read(c) || c->perms_status != 200 || !p ||
	    cmk_principal_has_access(c, p, NULL))
		return OUT_NA;
	f->arg[0] = c->keyref.vault;
	f->arg[1] = action;
	if (!az_permissions_allow(c->operator_perms, action, false))
		return OUT_FAILS;
	/* The permissions API lists what roles give; a deny assignment can
	 * still take it away. */
	{
		/* The grant is written at the key's scope (or the vault's): a
		 * deny there or above may refuse it. */
		char *scope = key_scope(c);

		deny = deny_for(c, c->operator_id,
				scope ? scope : jx_str(c->vault, "id"), action,
				false);
		free(scope);
	}
	f->detail = deny ? deny_text(deny) : NULL;
	return deny ? OUT_UNKNOWN : OUT_HOLDS;
}

/* resource.eligible: Health Bot made after 2021-11-11; Cognitive account with
 * the CustomerManagedKey capability. */
static enum cmk_outcome r_eligible(const struct cmk_ctx *c,
				   struct cmk_finding *f)
{
	struct json_object *caps =
		jx_get(c->resource, "properties.capabilities");
	const char *created = jx_str(c->resource, "systemData.createdAt");
	bool cap = false;

	f->arg[0] = res_name(c);
	if (c->svc->cmk_since) {
		if (!created && c->created_unread) {
			f->detail = xstrdup(c->created_unread);
			return OUT_UNKNOWN;
		}
		/* Eligibility rests on the creation day alone: a read without
		 * it leaves the rule unjudged, as the audit's does. */
		if (!created) {
			f->detail = xasprintf(
				_("its creation time (systemData.createdAt) "
				  "was not in Azure's answer, so whether it "
				  "was created on or after %s cannot be told; "
				  "audit again, and if it persists, check the "
				  "resource in the Azure portal"),
				c->svc->cmk_since);
			return OUT_UNKNOWN;
		}
		f->detail = xasprintf(_("It was created on %.10s."), created);
		return strcmp(created, c->svc->cmk_since) >= 0 ? OUT_HOLDS
							       : OUT_FAILS;
	}
	for (size_t i = 0; i < jx_len(caps); i++)
		cap |= str_ieq(jx_str(jx_at(caps, i), "name"),
			       "CustomerManagedKey");
	return cap ? OUT_HOLDS : OUT_FAILS;
}

/* resource.ready: provisioning has succeeded. */
static enum cmk_outcome r_ready(const struct cmk_ctx *c, struct cmk_finding *f)
{
	const char *st = jx_str(c->resource, "properties.provisioningState");

	f->arg[0] = res_name(c);
	f->arg[1] = st ? st : "?";
	return !st || str_ieq(st, "Succeeded") ? OUT_HOLDS : OUT_FAILS;
}

/* resource.irreversible (Foundry): turning CMK on cannot be undone. */
static enum cmk_outcome r_irreversible(const struct cmk_ctx *c,
				       struct cmk_finding *f)
{
	if (cmk_resource_on_cmk(c))
		return OUT_NA;
	f->arg[0] = res_name(c);
	return c->confirmed ? OUT_HOLDS : OUT_FAILS;
}

/* resource.same-vault (Foundry): a key change stays in the vault already in
 * use. */
static enum cmk_outcome r_same_vault(const struct cmk_ctx *c,
				     struct cmk_finding *f)
{
	const char *cur = svc_key_vault_uri(c->svc, c->resource);
	char a[256], b[256];
	bool https;

	if (!cmk_resource_on_cmk(c) || !cur || !c->keyref.vault_uri)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = cur;
	if (!c->change) {
		f->severity = SEV_NOTE;
		return OUT_FAILS;
	}
	if (!wire_url_host(cur, a, sizeof(a), &https) ||
	    !wire_url_host(c->keyref.vault_uri, b, sizeof(b), &https))
		return OUT_NA;
	return strcmp(a, b) == 0 ? OUT_HOLDS : OUT_FAILS;
}

/* resource.cmk (audit): the resource uses a customer-managed key, not
 * Microsoft-managed keys. */
static enum cmk_outcome r_cmk(const struct cmk_ctx *c, struct cmk_finding *f)
{
	if (c->change)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = _(c->svc->name);
	return cmk_resource_on_cmk(c) ? OUT_HOLDS : OUT_FAILS;
}

/* policy.deny: no Azure Policy assignment with the deny effect refuses the
 * resource as the save leaves it. */
static enum cmk_outcome r_policy_deny(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	struct json_object *evals = c->policy_evals;
	struct sbuf names = SBUF_INIT;

	if (!c->change || c->policy_status != 200)
		return OUT_NA;
	for (size_t i = 0; i < jx_len(evals); i++) {
		const char *id = jx_str(jx_at(evals, i),
					"policyInfo.policyAssignmentId");
		const char *slash = id ? strrchr(id, '/') : NULL;

		if (!str_ieq(jx_str(jx_at(evals, i), "evaluationResult"),
			     "NonCompliant"))
			continue;
		sb_printf(&names, "%s'%s'", names.len ? ", " : "",
			  slash ? slash + 1 : "?");
	}
	f->arg[0] = res_name(c);
	if (!names.len) {
		sb_free(&names);
		return OUT_HOLDS;
	}
	f->detail = xasprintf(_("Denying assignments: %s."), sb_str(&names));
	sb_free(&names);
	return OUT_FAILS;
}

/* Names what stops the service from using its key now, or NULL when nothing
 * does (or nothing could be judged). */
static const char *why_unusable(const struct cmk_ctx *c, bool *judged)
{
	const char *p = cmk_principal(c), *kty = jx_str(c->key, "key.kty");
	struct json_object *ops = jx_get(c->key, "key.key_ops");
	int64_t nbf, exp;
	bool on;
	struct cmk_finding scratch = { 0 };
	int access;

	*judged = vault_read(c) || c->key_status == 200 ||
		  c->key_status == 404 || !p;
	if (!p)
		return _("the resource has no managed identity");
	if (vault_read(c) && r_perimeter(c, &scratch) == OUT_FAILS)
		return _("the vault's network security perimeter refuses Azure "
			 "services");
	if (vault_read(c) && r_firewall(c, &scratch) == OUT_FAILS)
		return _("the vault's firewall blocks Azure services");
	if (vault_read(c) && r_same_tenant(c, &scratch) == OUT_FAILS)
		return _("the vault belongs to another tenant");
	access = vault_read(c) ? cmk_access_of(c, p, NULL) : 1;
	if (access == 0)
		return _("its identity has no access to the key");
	if (c->key_status == 404)
		return _("the key no longer exists");
	if (!key_read(c))
		return NULL;
	/* An answer that does not say whether the key is enabled or when it
	 * is valid leaves no verdict: key.enabled and key.active say why. */
	if (cmk_key_flag(c->key, "attributes.enabled", &on) != CMK_ATTR_READ ||
	    !key_window(c, &scratch, &nbf, &exp)) {
		free(scratch.detail);
		*judged = false;
		return NULL;
	}
	if (!on)
		return _("the key is disabled");
	if ((nbf && nbf > c->now) || (exp && exp <= c->now))
		return _("the key is expired or not yet valid");
	if (kty && !str_ieq(kty, "RSA") && !str_ieq(kty, "RSA-HSM"))
		return _("the key is not an RSA key");
	if (ops && (!jx_array_has_istr(ops, "wrapKey") ||
		    !jx_array_has_istr(ops, "unwrapKey")))
		return _("the key does not allow wrapKey and unwrapKey");
	/* Access only a condition or a deny assignment makes uncertain:
	 * identity.key-access says so; no verdict here. */
	if (access < 0)
		*judged = false;
	return NULL;
}

/* resource.key-access-lost: the key in use still works for the service. */
static enum cmk_outcome r_access_lost(const struct cmk_ctx *c,
				      struct cmk_finding *f)
{
	bool judged;
	const char *why;

	if (c->change || !cmk_resource_on_cmk(c))
		return OUT_NA;
	why = why_unusable(c, &judged);
	if (!judged)
		return OUT_NA;
	f->arg[0] = res_name(c);
	f->arg[1] = key_label(c);
	if (why)
		f->detail = xasprintf(_("Because %s."), why);
	return why ? OUT_FAILS : OUT_HOLDS;
}

/*
 * resource.refresh-needed: a DICOM service whose key is usable again is
 * available again. After more than 30 minutes without its key it "continues
 * to be unavailable even when key access is restored" until it is updated
 * (learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys);
 * its Resource Health checks "Can the DICOM service access the
 * customer-managed encryption key?"
 * (learn.microsoft.com/azure/service-health/resource-health-checks-resource-types).
 */
static enum cmk_outcome r_refresh_needed(const struct cmk_ctx *c,
					 struct cmk_finding *f)
{
	const char *state = jx_str(c->health, "properties.availabilityState");
	const char *summary = jx_str(c->health, "properties.summary");
	bool judged;

	/* A save refreshes anyway; a key lost now is resource.key-access-lost's
	 * to say. */
	if (c->change || !cmk_resource_on_cmk(c) || c->health_status != 200 ||
	    why_unusable(c, &judged) || !judged)
		return OUT_NA;
	f->arg[0] = res_name(c);
	if (!state) {
		f->detail = xstrdup(
			_("Resource Health gave no availability state"));
		return OUT_UNKNOWN;
	}
	if (str_ieq(state, "Available"))
		return OUT_HOLDS;
	f->detail =
		summary ? xasprintf(_("Resource Health: %s"), summary) : NULL;
	/* Degraded or Unknown is not "available": it says nothing either way
	 * about a refresh. */
	if (!str_ieq(state, "Unavailable")) {
		free(f->detail);
		f->detail = xasprintf(
			_("Resource Health reports %s, not Available: check "
			  "the service before relying on "
			  "its key"),
			state);
		return OUT_UNKNOWN;
	}
	return OUT_FAILS;
}

/* ---- the table ---- */

const struct cmk_rule CMK_RULES[] = {
	{ "resource.eligible", svc_may_be_ineligible, SEV_BLOCKER, r_eligible,
	  N_("%s cannot use a customer-managed key"),
	  N_("Healthcare agent service resources created before November 11, "
	     "2021 cannot use a customer-managed key, and "
	     "a Cognitive Services account can only when its capabilities "
	     "include CustomerManagedKey. Azure refuses the "
	     "save otherwise."),
	  N_("None within this resource: create a new one and move the "
	     "workload, or keep Microsoft-managed keys."),
	  FIX_NONE, 0 },
	{ "resource.ready", ALL, SEV_BLOCKER, r_ready,
	  N_("%s is not ready (provisioning state %s)"),
	  N_("Azure refuses changes while another operation is in progress or "
	     "after one failed."),
	  N_("Wait until the provisioning state is Succeeded, then try again."),
	  FIX_NONE, 0 },
	{ "resource.cmk", ALL, SEV_WARNING, r_cmk,
	  N_("%s (%s) encrypts its data with Microsoft-managed keys"),
	  N_("With Microsoft-managed keys you cannot revoke access to the "
	     "data, rotate the key on your schedule, or prove "
	     "key custody to an auditor; many policies require a "
	     "customer-managed key."),
	  N_("Protect it with a customer-managed key: azcmk plan, then azcmk "
	     "apply, or the wizard."),
	  FIX_NONE, 0 },
	{ "resource.irreversible", svc_irreversible, SEV_WARNING,
	  r_irreversible,
	  N_("%s: switching to a customer-managed key cannot be undone"),
	  N_("Once a Foundry resource uses a customer-managed key it cannot go "
	     "back to Microsoft-managed keys, and the key "
	     "must then stay available for as long as the resource exists."),
	  N_("Type the confirmation azcmk asks for, or pass "
	     "--confirm-irreversible."),
	  FIX_CONFIRM, 0 },
	{ "resource.same-vault", svc_same_vault_only, SEV_BLOCKER, r_same_vault,
	  N_("%s: the new key must stay in the key vault already in use (%s)"),
	  N_("A Foundry resource can change its key only to another key in the "
	     "same vault; Azure refuses a move to another "
	     "vault."),
	  N_("Choose a key in the vault already in use."), FIX_NONE, 0 },
	{ "identity.enabled", ALL, SEV_BLOCKER, r_identity_enabled,
	  N_("%s: the %s is not enabled on the resource"),
	  N_("The service reaches the key with its managed identity; without "
	     "it, the save fails and no access can be "
	     "granted."),
	  N_("Enable the system-assigned identity or attach the user-assigned "
	     "identity (azcmk can do it as a plan step)."),
	  FIX_ENABLE_IDENTITY, 0 },
	{ "identity.allowed", ALL, SEV_WARNING, r_identity_allowed,
	  N_("%s: a user-assigned identity for the key is not what every "
	     "Microsoft document allows"),
	  N_("Where the documents disagree, a user-assigned identity may be "
	     "refused now or in a later release."),
	  N_("Prefer the system-assigned identity unless you have confirmed "
	     "that the service accepts this one."),
	  FIX_NONE, 0 },
	{ "vault.readable", ALL, SEV_BLOCKER, r_readable,
	  N_("vault %s: you cannot read it or its keys"),
	  N_("azcmk can check the key and its vault only with read access; "
	     "without it, nothing about the key can be "
	     "verified before the save."),
	  N_("Ask for the role named here, or run azcmk as someone who has "
	     "it."),
	  FIX_NONE, NEED_VAULT | NEED_KEY },
	{ "vault.soft-delete", ALL, SEV_BLOCKER, r_soft_delete,
	  N_("vault %s: soft delete is off"),
	  N_("Without soft delete a deleted key is gone at once, and the data "
	     "encrypted with it goes with it. Azure refuses the "
	     "save (\"Keyvault policy recoverable is not set\")."),
	  N_("Turn soft delete on (azcmk can do it as a plan step); it cannot "
	     "be turned off again."),
	  FIX_ENABLE_SOFT_DELETE, NEED_VAULT },
	{ "vault.purge-protection", ALL, SEV_BLOCKER, r_purge_protection,
	  N_("vault %s: purge protection is off"),
	  N_("Without purge protection a deleted key can be purged before its "
	     "retention ends, making the data unreadable "
	     "for good. Azure refuses the save."),
	  N_("Turn purge protection on (azcmk can do it as a plan step). It is "
	     "irreversible, so it needs a typed "
	     "confirmation or --confirm-irreversible."),
	  FIX_ENABLE_PURGE_PROTECTION, NEED_VAULT },
	{ "vault.same-tenant", ALL, SEV_BLOCKER, r_same_tenant,
	  N_("vault %s belongs to tenant %s, not to %s"),
	  N_("The service's identity can only get tokens in its own tenant, so "
	     "it cannot use a key in another tenant's "
	     "vault."),
	  N_("Choose a vault in the resource's tenant."), FIX_NONE,
	  NEED_VAULT },
	{ "vault.same-region", svc_same_region, SEV_BLOCKER, r_same_region,
	  N_("vault %s is in %s, but the resource is in %s"),
	  N_("Foundry and Azure OpenAI require the key vault to be in the same "
	     "region as the resource; Azure refuses "
	     "the save."),
	  N_("Choose a vault in the resource's region."), FIX_NONE,
	  NEED_VAULT },
	{ "vault.firewall", ALL, SEV_BLOCKER, r_firewall,
	  N_("vault %s: its firewall blocks Azure services"),
	  N_("Behind a firewall, only trusted Microsoft services may reach the "
	     "vault, and only when the firewall lets "
	     "them bypass it; otherwise the service cannot unwrap its key and "
	     "the save fails with ForbiddenByFirewall."),
	  N_("Let trusted Microsoft services bypass the firewall "
	     "(networkAcls.bypass = AzureServices); azcmk can do it."),
	  FIX_FIREWALL_BYPASS, NEED_VAULT },
	{ "vault.perimeter", ALL, SEV_BLOCKER, r_perimeter,
	  N_("vault %s is secured by a network security perimeter"),
	  N_("In a network security perimeter in enforced mode, even trusted "
	     "Microsoft services are refused unless an "
	     "access rule of the perimeter admits them: the service cannot "
	     "unwrap its key."),
	  N_("Ask the perimeter's owner for an access rule that admits the "
	     "service, or choose a vault outside the "
	     "perimeter."),
	  FIX_NONE, NEED_VAULT },
	{ "vault.trusted-bypass", ALL, SEV_WARNING, r_trusted_bypass,
	  N_("%s would reach vault %s only through the trusted-services "
	     "bypass"),
	  N_("Microsoft's documents disagree: the service's own pages ask for "
	     "the bypass, but Key Vault's list of "
	     "trusted services does not name Azure Health Data Services, the "
	     "healthcare agent service or Azure AI "
	     "services, and says services not listed do not bypass the "
	     "firewall. If the service cannot pass, it cannot "
	     "unwrap its key and its data becomes unreadable."),
	  N_("After the save, confirm that the service still reads its data "
	     "(azcmk check, and the service's Resource "
	     "Health); or keep the key in a vault the service reaches without "
	     "the bypass."),
	  FIX_NONE, NEED_VAULT },
	{ "key.exists", ALL, SEV_BLOCKER, r_key_exists,
	  N_("key %s does not exist in vault %s"),
	  N_("A missing or deleted key cannot protect anything; if the service "
	     "used it, its data is unreadable until "
	     "the key is recovered."),
	  N_("Choose another key, create one, or recover the deleted key."),
	  FIX_CREATE_KEY, NEED_KEY },
	{ "key.enabled", ALL, SEV_BLOCKER, r_key_enabled,
	  N_("key %s is disabled"),
	  N_("A disabled key cannot wrap or unwrap: the save fails, and a "
	     "service already using it cannot read its data."),
	  N_("Enable the key, or choose another."), FIX_NONE, NEED_KEY },
	{ "key.active", ALL, SEV_BLOCKER, r_key_active, N_("key %s is %s"),
	  N_("Outside its activation and expiry dates a key cannot be used, so "
	     "the service could not read its data."),
	  N_("Choose another version, or create a new one."), FIX_NEW_VERSION,
	  NEED_KEY },
	{ "key.expiring", ALL, SEV_WARNING, r_key_expiring,
	  N_("key %s expires within 30 days"),
	  N_("When the key expires the service loses access to its data unless "
	     "a new version is in place."),
	  N_("Rotate to a new version (azcmk rotate), or set a rotation "
	     "policy."),
	  FIX_NEW_VERSION, NEED_KEY },
	{ "key.type", ALL, SEV_BLOCKER, r_key_type,
	  N_("key %s is of type %s; the service needs RSA or RSA-HSM"),
	  N_("The services wrap their data keys with RSA; other key types are "
	     "refused."),
	  N_("Create an RSA key (azcmk can create one)."), FIX_CREATE_KEY,
	  NEED_KEY },
	{ "key.size", ALL, SEV_BLOCKER, r_key_size,
	  N_("key %s has %s bits, which %s does not accept"),
	  N_("A key size the service does not support is refused at save time, "
	     "or may be in a later release."),
	  N_("Create a key of an accepted size (azcmk creates the largest one "
	     "the service's rules allow)."),
	  FIX_CREATE_KEY, NEED_KEY },
	{ "key.ops", ALL, SEV_BLOCKER, r_key_ops,
	  N_("key %s does not allow wrapKey and unwrapKey"),
	  N_("The service wraps its data keys with this key; without those "
	     "operations the save is refused."),
	  N_("Create a key that allows wrapKey and unwrapKey."), FIX_CREATE_KEY,
	  NEED_KEY },
	{ "key.versioned", svc_version_required, SEV_BLOCKER, r_key_versioned,
	  N_("%s: the key URL of %s names no version"),
	  N_("The DICOM service needs the full versioned key URL; it does not "
	     "follow new versions by itself."),
	  N_("Pin the current version (azcmk does it when it builds the "
	     "plan)."),
	  FIX_PIN_VERSION, 0 },
	{ "key.earlier-versions", svc_keeps_earlier_versions, SEV_WARNING,
	  r_earlier_versions, N_("key %s: an earlier version is disabled"),
	  N_("Data the service encrypted before the key was last rotated may "
	     "still need an earlier version; Key Vault "
	     "cannot unwrap with a disabled version, so that data cannot be "
	     "read until the version is enabled again."),
	  N_("Enable the earlier versions again (az keyvault key "
	     "set-attributes --version V --enabled true), and keep "
	     "them enabled for as long as data encrypted with them may exist."),
	  FIX_NONE, NEED_KEY | NEED_VERSIONS },
	{ "key.rotation-policy", ALL, SEV_NOTE, r_rotation_policy,
	  N_("key %s has no rotation policy"),
	  N_("Without a rotation policy the key is rotated only by hand, and "
	     "an expiry can catch you out."),
	  N_("Set a rotation policy on the key."), FIX_NONE,
	  NEED_KEY | NEED_ROTATION },
	{ "identity.key-access", ALL, SEV_BLOCKER, r_key_access,
	  N_("%s cannot use key %s in vault %s"),
	  N_("The service's identity needs read, wrap and unwrap on the key "
	     "(by a role's data actions, or an access "
	     "policy with get, wrapKey and unwrapKey on access-policy vaults); "
	     "otherwise the save fails, and a service "
	     "already using the key stops working."),
	  N_("Grant access: azcmk proposes Key Vault Crypto Service Encryption "
	     "User at the key's scope, or an access "
	     "policy on access-policy vaults."),
	  FIX_GRANT_ACCESS,
	  NEED_VAULT | NEED_ASSIGNMENTS | NEED_ROLES | NEED_DENIES },
	{ "identity.dicom-both", svc_identity_unnamed, SEV_BLOCKER,
	  r_dicom_both,
	  N_("%s keeps its system-assigned identity beside the user-assigned "
	     "one, and that identity cannot use key %s"),
	  N_("A DICOM service's key setting names no identity, so with both "
	     "kinds of identity on it may use either "
	     "(Microsoft's user-assigned DICOM template sets the identity type "
	     "to UserAssigned alone). If it uses one "
	     "that cannot reach the key, the data becomes unreadable after the "
	     "save."),
	  N_("Let azcmk turn the system-assigned identity off once the key is "
	     "saved (the default with a user-assigned "
	     "identity, or --system-identity off), or grant the "
	     "system-assigned identity access to the key too."),
	  FIX_NONE, NEED_VAULT | NEED_ASSIGNMENTS | NEED_ROLES | NEED_DENIES },
	{ "identity.dicom-hsm-private", svc_hsm_private_needs_uai, SEV_BLOCKER,
	  r_dicom_hsm_private,
	  N_("%s would use its system-assigned identity to reach Managed HSM "
	     "%s, which only a private endpoint reaches"),
	  N_("Microsoft's DICOM documents: with a Managed HSM that has public "
	     "traffic disabled and a private endpoint, "
	     "the DICOM service must use a user-assigned managed identity; "
	     "with its system-assigned one it cannot "
	     "reach the key."),
	  N_("Choose a user-assigned identity for the key (--identity, or the "
	     "wizard's identity step), or open the "
	     "HSM's public network access."),
	  FIX_NONE, NEED_VAULT },
	{ "identity.propagation", ALL, SEV_WARNING, r_propagation,
	  N_("%s: its role assignment may not have taken effect yet"),
	  N_("Azure RBAC can take several minutes to apply a new assignment; "
	     "saving earlier fails with ForbiddenByRbac."),
	  N_("Wait and re-check access before saving; azcmk does this with a "
	     "visible countdown."),
	  FIX_WAIT_PROPAGATION, NEED_ASSIGNMENTS },
	{ "operator.can-assign", ALL, SEV_BLOCKER, r_can_assign,
	  N_("vault %s: you cannot grant access (missing permission %s)"),
	  N_("Granting the identity access needs a role that can write role "
	     "assignments at the vault (Owner, User Access "
	     "Administrator or Role Based Access Control Administrator), or "
	     "that can write access policies."),
	  N_("Ask someone with one of those roles to grant the access, or to "
	     "give you the role."),
	  FIX_NONE,
	  NEED_VAULT | NEED_ASSIGNMENTS | NEED_ROLES | NEED_PERMS |
		  NEED_DENIES },
	{ "resource.key-access-lost", ALL, SEV_BLOCKER, r_access_lost,
	  N_("%s has lost the use of its key %s"),
	  N_("The service can no longer wrap or unwrap with its key: requests "
	     "start failing once its cached key runs out "
	     "(the DICOM service answers 500 and needs a re-save after more "
	     "than 30 minutes without access)."),
	  N_("Restore what broke (the findings above say what), then refresh: "
	     "azcmk refresh."),
	  FIX_RESAVE,
	  NEED_VAULT | NEED_KEY | NEED_ASSIGNMENTS | NEED_ROLES | NEED_DENIES },
	{ "resource.refresh-needed", svc_refresh_after_loss, SEV_BLOCKER,
	  r_refresh_needed,
	  N_("%s is unavailable although its key is usable again"),
	  N_("A DICOM service that lost its key for more than 30 minutes stays "
	     "unavailable, even once the key is back, "
	     "until it is updated; Azure Resource Health reports it "
	     "unavailable."),
	  N_("Refresh it: azcmk refresh saves the same key setting again."),
	  FIX_RESAVE,
	  NEED_VAULT | NEED_KEY | NEED_ASSIGNMENTS | NEED_ROLES | NEED_DENIES |
		  NEED_HEALTH },
	{ "policy.deny", ALL, SEV_NOTE, r_policy_deny,
	  N_("%s: an Azure Policy assignment denies the planned change"),
	  N_("An assignment with the deny effect makes Azure refuse the save "
	     "with RequestDisallowedByPolicy, whatever "
	     "azcmk or the portal does. Azure Policy judged the resource as "
	     "the save would leave it."),
	  N_("Ask the assignment's owner for an exemption for this resource, "
	     "or choose a key and identity the policy "
	     "allows."),
	  FIX_NONE, NEED_POLICY },
};

const size_t CMK_NRULES = sizeof(CMK_RULES) / sizeof(CMK_RULES[0]);

/* Tells whether a rule applies to a service: to all, or to those whose profile
 * has its capability. */
bool cmk_rule_applies(const struct cmk_rule *r, const struct svc_profile *p)
{
	return !r->applies || r->applies(p);
}

/* Finds a rule by its id. */
const struct cmk_rule *cmk_rule_find(const char *id)
{
	for (size_t i = 0; i < CMK_NRULES; i++)
		if (str_ieq(CMK_RULES[i].id, id))
			return &CMK_RULES[i];
	return NULL;
}

/* Returns the label of a severity for tables (translated). */
const char *cmk_severity_label(enum severity s)
{
	/* TRANSLATORS: severity labels of findings; keep them at most 8
	 * columns. */
	return s == SEV_BLOCKER   ? _("BLOCKER")
	       : s == SEV_WARNING ? _("WARNING")
				  : _("NOTE");
}

/* Returns the terminal escape sequence that colours a severity (red, yellow,
 * cyan). */
const char *cmk_severity_colour(enum severity s)
{
	return s == SEV_BLOCKER   ? "\033[1;31m"
	       : s == SEV_WARNING ? "\033[33m"
				  : "\033[36m";
}

/* Names a severity (stable, for JSON). */
const char *cmk_severity_name(enum severity s)
{
	return s == SEV_BLOCKER   ? "blocker"
	       : s == SEV_WARNING ? "warning"
				  : "note";
}

/* Returns the subject a finding is about: the vault, the key, or the resource.
 */
static char *subject_of(const struct cmk_ctx *c, const struct cmk_rule *r)
{
	if (str_istarts(r->id, "vault.") ||
	    str_ieq(r->id, "operator.can-assign"))
		return xstrdup(c->keyref.vault_uri ? c->keyref.vault_uri : "");
	if (str_istarts(r->id, "key.") && !str_ieq(r->id, "key.versioned") &&
	    c->keyref.vault_uri && c->keyref.name)
		return key_ref_versioned(&c->keyref, NULL);
	return xstrdup(jx_str(c->resource, "id") ? jx_str(c->resource, "id")
						 : "");
}

/*
 * Formats a finding's message from the rule's text and the names its check
 * gave. The format comes from the rule table (msgfmt --check verifies the
 * translations keep its %s), never from outside.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *format_message(const struct cmk_finding *f)
{
	const char *a0 = f->arg[0] ? f->arg[0] : "?",
		   *a1 = f->arg[1] ? f->arg[1] : "?",
		   *a2 = f->arg[2] ? f->arg[2] : "?";
	char *raw = xasprintf(_(f->rule->message), a0, a1, a2),
	     *clean = text_sanitize(raw, false);

	free(raw);
	return clean;
}
#pragma GCC diagnostic pop

/* Keeps only resource.eligible and resource.ready when the resource cannot use
 * a customer-managed key at all. */
static void prune_ineligible(struct cmk_report *out)
{
	bool ineligible = false;
	size_t k = 0;

	for (size_t i = 0; i < out->n; i++)
		ineligible |=
			str_ieq(out->items[i].rule->id, "resource.eligible") &&
			!out->items[i].unknown;
	if (!ineligible)
		return;
	for (size_t i = 0; i < out->n; i++) {
		struct cmk_finding *f = &out->items[i];

		if (str_ieq(f->rule->id, "resource.eligible") ||
		    str_ieq(f->rule->id, "resource.ready")) {
			out->items[k++] = *f;
			continue;
		}
		free(f->subject);
		free(f->message);
		free(f->detail);
	}
	out->n = k;
}

/*
 * Tells whether a read got no usable answer: none at all, a malformed one, or
 * any status the rules give no meaning to. Only 200 (read), 403 (you may not
 * read it), 404 (it is not there) and 0 (not asked) are answers; a 401 (a
 * token of another tenant, a sign-in that failed again), 400, 409, 429 or 5xx
 * leaves the rules that rest on the read unjudged, never passing.
 */
bool cmk_read_failed(long status)
{
	return status != 0 && status != 200 && status != 403 && status != 404;
}

/* Describes a failed read's status for a person: "HTTP 503", "a malformed
 * answer", "no answer". */
static char *status_text(long status)
{
	if (status == CMK_READ_MALFORMED)
		return xstrdup(_("a malformed answer"));
	if (status == CMK_READ_NO_ANSWER)
		return xstrdup(_("no answer"));
	return xasprintf(_("HTTP %ld"), status);
}

/* Names what read i of unread_cause's list was about: the vault, the key or
 * the resource (looked up only when that read failed: every rule of every
 * resource asks). */
static const char *unread_name(const struct cmk_ctx *c, size_t i)
{
	switch (i) {
	case 0:
	case 5:
	case 7:
		return c->keyref.vault;
	case 1:
	case 2:
	case 8:
		return c->keyref.name;
	default:
		return jx_str(c->resource, "name");
	}
}

/* Returns why a rule's inputs do not allow a verdict (the first read it needs
 * that failed), or NULL. */
static char *unread_cause(const struct cmk_ctx *c, unsigned needs)
{
	const long st[] = { c->vault_status,    c->key_status,
			    c->rotation_status, c->assignments_status,
			    c->roles_status,    c->perms_status,
			    c->policy_status,   c->denies_status,
			    c->versions_status, c->health_status };
	static const char *const what[] = {
		N_("the vault %s could not be read (%s); retry when Azure "
		   "answers"),
		N_("key %s could not be read (%s); retry when Key Vault "
		   "answers"),
		N_("the rotation policy of key %s could not be read (%s); "
		   "retry when Key Vault answers"),
		N_("the role assignments of %s could not be read (%s); retry, "
		   "or grant yourself Reader on the vault"),
		N_("a role definition that %s's assignments name could not be "
		   "read (%s); retry, or grant yourself Reader "
		   "where the role is defined"),
		N_("your permissions on vault %s could not be read (%s); retry "
		   "when Azure answers"),
		N_("Azure Policy could not be asked about %s (%s); retry when "
		   "Azure answers"),
		N_("the deny assignments at vault %s could not be read (%s); "
		   "retry, or grant yourself Reader on the vault"),
		N_("the versions of key %s could not be read (%s); retry when "
		   "Key Vault answers"),
		N_("Resource Health could not be asked about %s (%s); retry "
		   "when Azure answers"),
	};
	/* A role definition, deny list or HSM's local assignments azcmk may not
	 * read (403) leave what is granted unknown too. */
	/*
	 * Deny assignments stop ARM's RBAC only: access policies and an HSM's
	 * local roles do not rest on them. Any answer but 200 leaves them
	 * unknown (0: the context's maker did not ask, as a hand-built one in a
	 * test).
	 */
	if (c->keyref.hsm || !vault_rbac(c))
		needs &= ~(unsigned)NEED_DENIES;
	/* Resource Health speaks of the key in use: a change is not judged on
	 * it (resource.refresh-needed), so its refusal stops nothing. */
	if (c->change)
		needs &= ~(unsigned)NEED_HEALTH;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if ((needs & (1u << i)) &&
		    (cmk_read_failed(st[i]) ||
		     ((1u << i) == NEED_DENIES && st[i] != 200 && st[i] != 0) ||
		     (((1u << i) == NEED_ROLES || (1u << i) == NEED_DENIES ||
		       ((1u << i) == NEED_ASSIGNMENTS && c->keyref.hsm)) &&
		      st[i] == 403))) {
			char *how = status_text(st[i]), *out;
			const char *name = unread_name(c, i);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			out = xasprintf(_(what[i]), name ? name : "?", how);
#pragma GCC diagnostic pop
			free(how);
			return out;
		}
	return NULL;
}

/* Fills a finding that could not be judged: its message says so, and why. */
static void not_judged(struct cmk_finding *f, char *cause)
{
	char *raw = xasprintf(_("could not judge this: %s"),
			      cause ? cause
				    : _("the answer did not allow a verdict"));

	f->unknown = true;
	f->message = text_sanitize(raw, false);
	free(raw);
	free(cause);
	free(f->detail);
	f->detail = NULL;
}

/*
 * Judges one rule: not at all when a read it rests on failed (OUT_UNKNOWN,
 * f->detail saying which), else by its check.
 */
enum cmk_outcome cmk_judge(const struct cmk_ctx *c, const struct cmk_rule *r,
			   struct cmk_finding *f)
{
	char *cause = unread_cause(c, r->needs);

	if (cause) {
		free(f->detail);
		f->detail = cause;
		return OUT_UNKNOWN;
	}
	return r->check(c, f);
}

/* Runs one rule and adds its finding to the report when it fails or could not
 * be judged. */
static void run_rule(const struct cmk_ctx *c, const struct cmk_rule *r,
		     struct cmk_report *out)
{
	struct cmk_finding f = { .rule = r, .severity = r->severity };
	enum cmk_outcome o = cmk_judge(c, r, &f);

	if (o != OUT_NA)
		out->checked++;
	if (o != OUT_FAILS && o != OUT_UNKNOWN) {
		free(f.detail);
		return;
	}
	f.subject = subject_of(c, r);
	if (o == OUT_UNKNOWN) {
		not_judged(&f, f.detail ? xstrdup(f.detail) : NULL);
		out->unknown++;
	} else {
		f.message = format_message(&f);
	}
	/* The names served the message; they point into the context and into f,
	 * so the report keeps none. */
	memset(f.arg, 0, sizeof(f.arg));
	if (f.detail) {
		char *clean = text_sanitize(f.detail, false);

		free(f.detail);
		f.detail = clean;
	}
	out->items = xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
	out->items[out->n++] = f;
}

/*
 * Runs every rule that applies to the service; the report keeps the failed
 * ones and those that could not be judged (which never count as holding).
 */
void cmk_check(const struct cmk_ctx *c, struct cmk_report *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < CMK_NRULES; i++)
		if (cmk_rule_applies(&CMK_RULES[i], c->svc))
			run_rule(c, &CMK_RULES[i], out);
	prune_ineligible(out);
}

/* Frees a report. */
void cmk_report_free(struct cmk_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].subject);
		free(r->items[i].message);
		free(r->items[i].detail);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/*
 * Returns the first blocker that no plan step can fix, among the rules whose
 * id starts with prefix ("" for any), or NULL: what stops a flow outright.
 */
const struct cmk_finding *cmk_unfixable(const struct cmk_report *r,
					const char *prefix)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].severity == SEV_BLOCKER &&
		    r->items[i].rule->fix_step == FIX_NONE &&
		    str_istarts(r->items[i].rule->id, prefix))
			return &r->items[i];
	return NULL;
}

/* Tells whether any finding blocks the save. */
bool cmk_has_blocker(const struct cmk_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].severity == SEV_BLOCKER)
			return true;
	return false;
}

/* Tells whether a blocker surely fails (one that could not be judged does not
 * count here). */
bool cmk_has_known_blocker(const struct cmk_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].severity == SEV_BLOCKER && !r->items[i].unknown)
			return true;
	return false;
}

/* Returns the label a finding shows in tables: its severity, or UNKNOWN when it
 * could not be judged. */
const char *cmk_finding_label(const struct cmk_finding *f)
{
	/* TRANSLATORS: the label of a prerequisite azcmk could not judge; at
	 * most 8 columns. */
	return f->unknown ? _("UNKNOWN") : cmk_severity_label(f->severity);
}

/* Returns the size in bits of a key as Key Vault returns it (0 when unknown).
 */
long cmk_key_bits(struct json_object *key)
{
	return key_bits(key);
}

/*
 * Reads a key's boolean attribute (attributes.enabled of a key bundle or a
 * listed item). Key Vault's KeyAttributes declare enabled a boolean
 * (azure-rest-api-specs, keyvault data-plane keys.json); one absent or of
 * another type is not taken as either answer.
 */
enum cmk_attr cmk_key_flag(struct json_object *key, const char *path, bool *out)
{
	struct json_object *v = jx_get(key, path);

	*out = false;
	if (!v)
		return CMK_ATTR_ABSENT;
	if (!json_object_is_type(v, json_type_boolean))
		return CMK_ATTR_BAD;
	*out = json_object_get_boolean(v);
	return CMK_ATTR_READ;
}

/*
 * Reads a key's time attribute (attributes.exp, nbf, created): Unix seconds,
 * an integer as KeyAttributes declare it ("format": "unixtime"); absent is no
 * bound, anything else (a string, a fraction, zero or less, past year 9999)
 * is not a time azcmk can judge by.
 */
enum cmk_attr cmk_key_time(struct json_object *key, const char *path,
			   int64_t *out)
{
	struct json_object *v = jx_get(key, path);
	int64_t t;

	*out = 0;
	if (!v)
		return CMK_ATTR_ABSENT;
	if (!json_object_is_type(v, json_type_int))
		return CMK_ATTR_BAD;
	t = json_object_get_int64(v);
	if (t <= 0 || t > CMK_TIME_MAX)
		return CMK_ATTR_BAD;
	*out = t;
	return CMK_ATTR_READ;
}

/*
 * Key Vault's own refusals, which a service relays when it cannot use the
 * key, as the error's code, inner code or words of its message
 * ("[ForbiddenByRbac (Forbidden)] Caller is not authorized", "InnerError=
 * {\"code\":\"ForbiddenByRbac\"}"). Sources: ForbiddenByFirewall and
 * AccessDenied, learn.microsoft.com/azure/key-vault/general/common-error-codes
 * and .../private-link-diagnostics; ForbiddenByRbac and ForbiddenByPolicy,
 * the KeyVaultError innererror of Key Vault's REST spec (7.5 common.json)
 * as services relay it (hashicorp/terraform-provider-azurerm #27817,
 * pulumi/pulumi-azure-native #890); ForbiddenByConnection, Key Vault's
 * answer when public access is disabled and no private link is approved;
 * KeyNotFound, Microsoft's own SDK recordings of the live service
 * (Azure/azure-sdk-for-js keyvault-keys); KeyDisabled, Key Vault's inner
 * code for "Operation ... is not allowed on a disabled key"
 * (Azure/azure-sdk-for-python #45342). The firewall comes first: a
 * message may name it beside a generic Forbidden.
 */
static const struct {
	const char *code, *rule;
} KV_CODES[] = {
	{ "ForbiddenByFirewall", "vault.firewall" },
	{ "ForbiddenByConnection", "vault.firewall" },
	{ "ForbiddenByRbac", "identity.key-access" },
	{ "ForbiddenByPolicy", "identity.key-access" },
	{ "AccessDenied", "identity.key-access" },
	{ "KeyNotFound", "key.exists" },
	{ "KeyDisabled", "key.enabled" },
};

/*
 * Codes that neither Resource Manager nor Key Vault documents for these
 * services: Microsoft publishes no error code for a refused customer-managed
 * key on the DICOM service, the healthcare agent service or Cognitive
 * Services (their REST specs have no error examples, and their documents
 * name symptoms only, such as Foundry's "Key store not found" and "Key
 * version not supported"). Some are other providers' codes that a service
 * may relay (KeyVaultAccessForbidden, Compute's; KeyVaultPolicyError,
 * Storage's); the rest are azcmk-sim's own wording (azcmk-sim(1),
 * CUSTOMER-MANAGED KEY ERRORS). They are matched when seen; a code not
 * here explains nothing, and the operator sees Azure's own message.
 */
static const struct {
	const char *code, *rule;
} OTHER_CODES[] = {
	{ "KeyVaultAccessForbidden", "identity.key-access" },
	{ "KeyVaultTenantMismatch", "vault.same-tenant" },
	{ "KeyVaultRegionMismatch", "vault.same-region" },
	{ "KeyVaultKeyNotFound", "key.exists" },
	{ "KeyVaultKeyDisabled", "key.enabled" },
	{ "KeyVaultKeyExpired", "key.active" },
	{ "InvalidKeyType", "key.type" },
	{ "InvalidKeySize", "key.size" },
	{ "InvalidKeyOperations", "key.ops" },
	{ "InvalidKeyEncryptionKeyUrl", "key.versioned" },
	{ "IdentityNotFound", "identity.enabled" },
	{ "CustomerManagedKeyNotSupported", "resource.eligible" },
	{ "KeyVaultChangeNotAllowed", "resource.same-vault" },
};

/* Tells whether text holds word as a whole word (not inside a longer name). */
static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text ? strcasestr(text, word) : NULL; p;
	     p = strcasestr(p + 1, word)) {
		bool start = p == text || !isalnum((unsigned char)p[-1]);

		if (start && !isalnum((unsigned char)p[n]))
			return true;
	}
	return false;
}

/* Finds the rule a Key Vault code relayed in the code, the inner code or the
 * message stands for, or NULL. */
static const char *kv_rule(const char *code, const char *inner,
			   const char *message)
{
	for (size_t i = 0; i < sizeof(KV_CODES) / sizeof(KV_CODES[0]); i++)
		if (str_ieq(inner, KV_CODES[i].code) ||
		    str_ieq(code, KV_CODES[i].code) ||
		    has_word(message, KV_CODES[i].code))
			return KV_CODES[i].rule;
	return NULL;
}

/*
 * Maps an error Azure answered a save with (code, inner code, message) back
 * to the rule it stands for, or NULL: first Resource Manager's documented
 * RequestDisallowedByPolicy (403, before the service sees the request;
 * learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-policy-requestdisallowedbypolicy),
 * then Key Vault's codes wherever they appear, then the codes no document
 * gives for these services. AuthorizationFailed on a save means the operator
 * may not write the resource, which no rule covers: Azure's message, which
 * names the action, says more than a rule would.
 */
const char *cmk_rule_for_error(const char *code, const char *inner,
			       const char *message)
{
	const char *rule;

	if (str_ieq(code, "RequestDisallowedByPolicy"))
		return "policy.deny";
	if (str_ieq(code, "Conflict"))
		return "resource.ready"; /* 409 while another operation on the
					    resource runs */
	if ((rule = kv_rule(code, inner, message)) != NULL)
		return rule;
	for (size_t i = 0;
	     code && i < sizeof(OTHER_CODES) / sizeof(OTHER_CODES[0]); i++)
		if (str_ieq(code, OTHER_CODES[i].code))
			return OTHER_CODES[i].rule;
	if (str_ieq(code, "KeyVaultPolicyError"))
		return message && strcasestr(message, "purge")
			       ? "vault.purge-protection"
			       : "vault.soft-delete";
	return NULL;
}
