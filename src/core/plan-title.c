/* The title of each plan step, derived from the plan's typed fields alone. */
#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "roles.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#include <string.h>

/* Returns the name of a built-in role azcmk knows by its GUID, or a text
 * saying the GUID is not one of them (a plan file may name any role: the
 * title must not make an unknown one look like azcmk's). */
static char *role_name(const char *role)
{
	struct json_object *all = roles_builtin();
	char *out = NULL;

	for (size_t i = 0; role && i < jx_len(all) && !out; i++)
		if (str_ieq(jx_str(jx_at(all, i), "name"), role))
			out = xstrdup(
				jx_str(jx_at(all, i), "properties.roleName"));
	json_object_put(all);
	return out ? out
		   : xasprintf(_("%s (a role azcmk does not know: check it)"),
			       role ? role : "?");
}

/* Returns the last name of an ARM id, or "?". */
static const char *name_of(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;

	return slash && slash[1] ? slash + 1 : "?";
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
	char *role = role_name(p->role), *out;

	if (p->grant_vault)
		out = xasprintf(
			_("Grant %s the role %s on vault %s (every key in it)"),
			res, role, vault);
	else
		out = xasprintf(_("Grant %s the role %s on key %s only"), res,
				role, key);
	free(role);
	return out;
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

/* Returns the title of the creation of a vault: where it goes (region,
 * resource group, subscription) and how it is made. */
static char *new_vault_title(const struct plan *p, const char *vault)
{
	struct armid id = { 0 };
	bool ok = p->vault_id && armid_parse(p->vault_id, &id);
	char *out = xasprintf(
		_("Create key vault %s in %s, resource group %s of "
		  "subscription %s (Azure RBAC, soft delete for 90 days, purge "
		  "protection)"),
		vault, p->vault_location ? p->vault_location : "?",
		ok && id.resource_group ? id.resource_group : "?",
		ok && id.subscription ? id.subscription : "?");

	armid_free(&id);
	return out;
}

/* Returns the title of a step that touches the vault itself. */
static char *vault_title(const struct plan *p, enum step_kind k,
			 const char *vault)
{
	switch (k) {
	case STEP_CREATE_VAULT:
		return new_vault_title(p, vault);
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
		if (p->uai_id)
			return xasprintf(
				_("Give %s the user-assigned identity %s"), res,
				name_of(p->uai_id));
		return xasprintf(_("Enable the %s of %s"),
				 _("system-assigned identity"), res);
	case STEP_WAIT_ACCESS:
		return xstrdup(_("Wait until the new access has taken effect "
				 "(Azure RBAC propagation)"));
	case STEP_SAVE_KEY:
		if (p->uai_id)
			return xasprintf(_("Save key %s on %s (%s), reached "
					   "through identity %s"),
					 key, res,
					 p->svc ? _(p->svc->name) : "?",
					 name_of(p->uai_id));
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
 * apply does, whatever a plan file's text says. The resource
 * is named by its id's names, a child's with its parent's ("workspace/dicom"),
 * so that two DICOM services of one name in two workspaces are told apart.
 */
char *plan_step_title(const struct plan *p, enum step_kind k)
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
		out = key_title(p, p->new_version, vault, key);
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

/*
 * Returns a plan's steps as apply will carry them out, for the prompt of
 * azcmk apply: the plan's short id, its resource, and each step's title
 * derived from the typed fields, marked when it cannot be undone. Every
 * name in it comes from the file, so it is sanitized for the terminal.
 */
char *plan_render_steps(const struct plan *p)
{
	struct sbuf b = SBUF_INIT;
	char *clean;

	sb_printf(&b, _("Plan %.16s for %s (%s)\n"), p->id ? p->id : "-",
		  p->resource_id ? p->resource_id : "?",
		  p->svc ? _(p->svc->name) : "?");
	for (size_t i = 0; i < p->n; i++) {
		char *t = p->steps[i].title
				  ? xstrdup(p->steps[i].title)
				  : plan_step_title(p, p->steps[i].kind);

		sb_printf(&b, "%2zu. %s%s\n", i + 1, t,
			  p->steps[i].reversible ? "" : _(" [irreversible]"));
		free(t);
	}
	clean = text_sanitize(sb_str(&b), true);
	sb_free(&b);
	return clean;
}
