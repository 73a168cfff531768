/* The title of each plan step, derived from the plan's typed fields alone. */
#include "armid.h"
#include "i18n.h"
#include "plan.h"
#include "profile.h"
#include "text.h"
#include "xalloc.h"

#include <string.h>

/* Returns the name of the role azcmk grants by default, or the GUID of another.
 */
static const char *role_name(const char *role)
{
	return role && str_ieq(role, ROLE_CRYPTO_SERVICE_ENCRYPTION_USER)
		       ? "Key Vault Crypto Service Encryption User"
		       : (role ? role : "?");
}

/* Returns the title of the access grant: a managed HSM's local role, an
 * access policy, or a role on the vault or on the key. */
static char *grant_title(const struct plan *p, enum step_kind k,
			 const char *res, const char *vault, const char *key)
{
	if (k == STEP_ACCESS_POLICY)
		return xasprintf(_("Add an access policy on vault %s: get, "
				   "wrapKey and unwrapKey for %s"),
				 vault, res);
	if (p->keyref.hsm)
		return xasprintf(
			_("Grant %s the Managed HSM local role Managed "
			  "HSM Crypto Service Encryption User on "
			  "key %s only"),
			res, key);
	if (p->grant_vault)
		return xasprintf(
			_("Grant %s the role %s on vault %s (every key in it)"),
			res, role_name(p->role), vault);
	return xasprintf(_("Grant %s the role %s on key %s only"), res,
			 role_name(p->role), key);
}

/* Returns the title of the key creation: a new version of a key that exists,
 * or a new key. */
static char *key_title(const struct plan *p, bool new_version,
		       const char *vault, const char *key)
{
	if (new_version)
		return xasprintf(_("Create a new version of key %s (RSA, "
				   "%d bits) in vault %s"),
				 key, p->key_size, vault);
	return xasprintf(_("Create RSA key %s (%d bits) in vault %s"), key,
			 p->key_size, vault);
}

/* Returns the title of a step that touches the vault itself. */
static char *vault_title(const struct plan *p, enum step_kind k,
			 const char *vault)
{
	switch (k) {
	case STEP_CREATE_VAULT:
		return xasprintf(_("Create key vault %s in %s (Azure RBAC, "
				   "soft delete for 90 days, purge "
				   "protection)"),
				 vault,
				 p->vault_location ? p->vault_location : "?");
	case STEP_GRANT_OPERATOR:
		return xasprintf(_("Grant you (%s) Key Vault Crypto Officer on "
				   "vault %s, to create its keys, and wait "
				   "for it to take effect"),
				 p->operator_id ? p->operator_id : "?", vault);
	case STEP_ENABLE_SOFT_DELETE:
		return xasprintf(_("Turn soft delete on for vault %s"), vault);
	case STEP_ENABLE_PURGE_PROTECTION:
		return xasprintf(_("Turn purge protection on for vault %s"),
				 vault);
	default:
		return xasprintf(_("Let trusted Microsoft services through the "
				   "firewall of vault %s"),
				 vault);
	}
}

/* Returns the title of a step that changes or reads the resource. */
static char *resource_title(const struct plan *p, enum step_kind k,
			    const char *res, const char *key)
{
	switch (k) {
	case STEP_ENABLE_IDENTITY:
		return xasprintf(_("Enable the %s of %s"),
				 p->uai_id ? _("user-assigned identity")
					   : _("system-assigned identity"),
				 res);
	case STEP_WAIT_ACCESS:
		return xstrdup(_("Wait until the new access has taken effect "
				 "(Azure RBAC propagation)"));
	case STEP_SAVE_KEY:
		return xasprintf(_("Save key %s on %s (%s)"), key, res,
				 p->svc ? _(p->svc->name) : "?");
	case STEP_DISABLE_SYSTEM_IDENTITY:
		return xasprintf(
			_("Turn off the system-assigned identity of %s "
			  "(its principal and its access are gone "
			  "for good)"),
			res);
	default:
		return xasprintf(
			_("Read %s back and check every prerequisite again"),
			res);
	}
}

/*
 * Returns the title of a step of kind k in plan p, made only from the plan's
 * typed fields (the ones apply acts on), so that what a review shows is what
 * apply does, whatever a plan file's text says. new_version tells a key
 * creation that the key exists already (a new version of it). The resource
 * is named by its id's names, a child's with its parent's ("workspace/dicom"),
 * so that two DICOM services of one name in two workspaces are told apart.
 */
char *plan_step_title(const struct plan *p, enum step_kind k, bool new_version)
{
	struct armid id = { 0 };
	const char *vault = p->keyref.vault ? p->keyref.vault : "?",
		   *key = p->keyref.name ? p->keyref.name : "?", *res;
	char *out;

	res = p->resource_id && armid_parse(p->resource_id, &id) && id.full_name
		      ? id.full_name
		      : "?";
	switch (k) {
	case STEP_CREATE_KEY:
		out = key_title(p, new_version, vault, key);
		break;
	case STEP_ASSIGN_ROLE:
	case STEP_ACCESS_POLICY:
		out = grant_title(p, k, res, vault, key);
		break;
	case STEP_CREATE_VAULT:
	case STEP_GRANT_OPERATOR:
	case STEP_ENABLE_SOFT_DELETE:
	case STEP_ENABLE_PURGE_PROTECTION:
	case STEP_FIREWALL_BYPASS:
		out = vault_title(p, k, vault);
		break;
	default:
		out = resource_title(p, k, res, key);
	}
	armid_free(&id);
	return out;
}
