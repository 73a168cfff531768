/* Plans: the ordered changes that protect a resource with a customer-managed key, as data. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"
#include "xalloc.h"

#define KV_API "7.5"
#define VAULT_API "2024-11-01"
#define AUTHZ_API "2022-04-01"

static const char *const STEP_NAMES[] = { "enable-identity", "enable-soft-delete", "enable-purge-protection",
	"firewall-bypass", "create-key", "assign-role", "access-policy", "wait-access", "save-key", "verify",
	"disable-system-identity" };
_Static_assert(sizeof(STEP_NAMES) / sizeof(STEP_NAMES[0]) == STEP_KIND_COUNT, "one name per step kind");

/* Returns a step kind's stable name. */
const char *plan_step_name(enum step_kind k)
{
	return STEP_NAMES[k];
}

/* Adds a step and returns it for the caller to fill. */
static struct plan_step *add(struct plan *p, enum step_kind kind, const char *method, char *url, const char *api,
			     enum step_target target, struct json_object *body)
{
	struct plan_step *s;

	p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
	s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->id = STEP_NAMES[kind];
	s->method = method;
	s->url = url;
	s->api_version = api;
	s->target = target;
	s->body = body;
	s->reversible = true;
	s->depends = -1;
	return s;
}

/* Records what a step expects to find before it writes: the value at path when the plan was built. */
static void expect(struct plan_step *s, const char *read_url, struct json_object *now, const char *path)
{
	s->read_url = xstrdup(read_url);
	s->expect_path = xstrdup(path);
	s->expect = jx_copy(jx_get(now, path));
}

/* Tells whether a rule failed in the report. */
static bool failed(const struct cmk_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (str_ieq(r->items[i].rule->id, id))
			return true;
	return false;
}

/* Tells whether the plan can fix a failed rule with the operator's choices. */
static bool fixable(const struct cmk_ctx *c, const struct cmk_finding *f, const struct plan_choices *ch)
{
	switch (f->rule->fix_step) {
	case FIX_ENABLE_SOFT_DELETE:
	case FIX_FIREWALL_BYPASS:
	case FIX_ENABLE_IDENTITY:
	case FIX_PIN_VERSION:
	case FIX_WAIT_PROPAGATION:
	case FIX_GRANT_ACCESS:
		return true;
	case FIX_ENABLE_PURGE_PROTECTION:
	case FIX_CONFIRM:
		return c->confirmed;
	case FIX_CREATE_KEY:
		return ch->create_key;
	default:
		return false;
	}
}

/* Checks that every blocker can be fixed by the plan; otherwise explains what stops it. */
static bool plan_possible(const struct cmk_ctx *c, const struct cmk_report *r, const struct plan_choices *ch, char **err)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];
		bool needs = f->severity == SEV_BLOCKER || f->rule->fix_step == FIX_CONFIRM;
		bool key_rule = str_istarts(f->rule->id, "key.") && ch->create_key;

		if (!needs || key_rule || fixable(c, f, ch))
			continue;
		sb_printf(&b, "\n  - %s [%s]", f->message, f->rule->id);
		if (f->rule->fix_step == FIX_ENABLE_PURGE_PROTECTION || f->rule->fix_step == FIX_CONFIRM)
			sb_printf(&b, " %s", _("(irreversible: confirm with --confirm-irreversible)"));
		else if (f->rule->fix_step == FIX_CREATE_KEY)
			sb_printf(&b, " %s", _("(or let azcmk create a key: --create-key NAME)"));
	}
	bool ok = b.len == 0;

	if (!ok)
		*err = xasprintf(_("cannot build a plan; fix these first:%s"), sb_str(&b));
	sb_free(&b);
	return ok;
}

/*
 * Builds the identity the resource should have: its current one plus the
 * chosen one, with the system-assigned identity unless keep_system is false.
 */
static struct json_object *wanted_identity(const struct cmk_ctx *c, bool keep_system)
{
	struct json_object *id = json_object_new_object(), *map = json_object_new_object();
	struct json_object *cur = jx_get(c->resource, "identity.userAssignedIdentities");
	bool sys = keep_system && (jx_str(c->resource, "identity.principalId") || !c->user_identity);

	if (json_object_is_type(cur, json_type_object)) {
		json_object_object_foreach(cur, k, v) {
			(void)v;
			json_object_object_add(map, k, json_object_new_object());
		}
	}
	if (c->user_identity)
		json_object_object_add(map, c->uai_id, json_object_new_object());
	json_object_object_add(id, "type", json_object_new_string(
		sys && json_object_object_length(map) ? c->svc->both_identities : sys ? "SystemAssigned" : "UserAssigned"));
	if (json_object_object_length(map))
		json_object_object_add(id, "userAssignedIdentities", map);
	else
		json_object_put(map);
	return id;
}

/* Adds the vault fixes: soft delete, purge protection, firewall bypass. */
static void vault_steps(struct plan *p, const struct cmk_ctx *c, const struct cmk_report *r)
{
	const char *vid = jx_str(c->vault, "id");
	struct json_object *b;
	struct plan_step *s;

	if (failed(r, "vault.soft-delete")) {
		b = json_tokener_parse("{\"properties\":{\"enableSoftDelete\":true}}");
		s = add(p, STEP_ENABLE_SOFT_DELETE, "PATCH", xstrdup(vid), VAULT_API, TARGET_ARM, b);
		s->title = xasprintf(_("Turn soft delete on for vault %s"), c->vault_name);
		s->reversible = false;
		expect(s, vid, c->vault, "properties.enableSoftDelete");
	}
	if (failed(r, "vault.purge-protection")) {
		b = json_tokener_parse("{\"properties\":{\"enablePurgeProtection\":true}}");
		s = add(p, STEP_ENABLE_PURGE_PROTECTION, "PATCH", xstrdup(vid), VAULT_API, TARGET_ARM, b);
		s->title = xasprintf(_("Turn purge protection on for vault %s"), c->vault_name);
		s->reversible = false;
		expect(s, vid, c->vault, "properties.enablePurgeProtection");
	}
	if (failed(r, "vault.firewall")) {
		struct json_object *acls = jx_copy(jx_get(c->vault, "properties.networkAcls"));

		if (!acls)
			acls = json_object_new_object();
		json_object_object_add(acls, "bypass", json_object_new_string("AzureServices"));
		b = json_object_new_object();
		jx_set(b, "properties.networkAcls", acls);
		s = add(p, STEP_FIREWALL_BYPASS, "PATCH", xstrdup(vid), VAULT_API, TARGET_ARM, b);
		s->title = xasprintf(_("Let trusted Microsoft services through the firewall of vault %s"), c->vault_name);
		expect(s, vid, c->vault, "properties.networkAcls.bypass");
	}
}

/* Returns the largest RSA size the service's rules allow (3072 when they name none). */
static int largest_size(const struct svc_profile *svc)
{
	int best = 2048;

	for (const int *s = svc->sizes; s && *s; s++)
		best = *s > best ? *s : best;
	return svc->sizes ? best : 3072;
}

/*
 * Returns the size of the key to create: a new version keeps the size of the
 * key it adds to when the service accepts it (other resources may use that key
 * too); a new key gets the largest size the service allows.
 */
static int new_size(const struct cmk_ctx *c)
{
	long now = c->key_status == 200 ? cmk_key_bits(c->key) : 0;

	for (const int *s = c->svc->sizes; now && s && *s; s++)
		if (*s == now)
			return (int)now;
	return now && !c->svc->sizes && now >= 2048 ? (int)now : largest_size(c->svc);
}

/* Adds the key creation step; the new version becomes {{keyVersion}}. */
static void key_step(struct plan *p, const struct cmk_ctx *c, const struct plan_choices *ch)
{
	struct json_object *b = json_object_new_object();
	struct plan_step *s;
	int size = new_size(c);

	json_object_object_add(b, "kty", json_object_new_string("RSA"));
	json_object_object_add(b, "key_size", json_object_new_int(size));
	json_object_object_add(b, "key_ops", json_tokener_parse("[\"wrapKey\",\"unwrapKey\"]"));
	s = add(p, STEP_CREATE_KEY, "POST", xasprintf("%skeys/%s/create", c->vault_uri, ch->new_key_name), KV_API,
		TARGET_KEYVAULT, b);
	if (c->key_status == 200)
		s->title = xasprintf(_("Create a new version of key %s (RSA, %d bits) in vault %s"), ch->new_key_name, size,
				     c->vault_name);
	else
		s->title = xasprintf(_("Create RSA key %s (%d bits) in vault %s"), ch->new_key_name, size, c->vault_name);
	s->reversible = false;
	free(p->key_name);
	p->key_name = xstrdup(ch->new_key_name);
	free(p->key_version);
	p->key_version = ch->versionless && !c->svc->version_required ? NULL : xstrdup("{{keyVersion}}");
}

/*
 * Adds the grant on a Managed HSM: its local role Managed HSM Crypto Service
 * Encryption User on the key alone, through the HSM's own data plane (ARM
 * holds no local role); the name is derived at apply time, as for ARM.
 */
static struct plan_step *hsm_grant_step(struct plan *p, const struct cmk_ctx *c)
{
	struct json_object *b = json_object_new_object();
	struct plan_step *s;

	jx_set(b, "properties.roleDefinitionId", json_object_new_string("Microsoft.KeyVault/providers/Microsoft.Authorization/"
								       "roleDefinitions/" ROLE_HSM_CRYPTO_SERVICE_ENCRYPTION_USER));
	jx_set(b, "properties.principalId", json_object_new_string("{{principalId}}"));
	s = add(p, STEP_ASSIGN_ROLE, "PUT", xasprintf("%s%skeys/%s/providers/Microsoft.Authorization/roleAssignments/"
						     "{{assignmentName}}", c->vault_uri, str_iends(c->vault_uri, "/") ? "" : "/",
						     p->key_name), KV_API, TARGET_KEYVAULT, b);
	s->title = xasprintf(_("Grant %s the Managed HSM local role Managed HSM Crypto Service Encryption User on key %s "
			       "only"), jx_str(c->resource, "name"), p->key_name);
	return s;
}

/* Adds the access grant: a role at key scope (name derived at apply time) or an access policy. */
static void grant_step(struct plan *p, const struct cmk_ctx *c, const struct plan_choices *ch, int after)
{
	const char *vid = jx_str(c->vault, "id");
	struct armid a;
	struct plan_step *s;
	struct json_object *b;
	const char *role = ch->role ? ch->role : ROLE_CRYPTO_SERVICE_ENCRYPTION_USER;

	if (c->hsm) {
		s = hsm_grant_step(p, c);
	} else if (!jx_bool(c->vault, "properties.enableRbacAuthorization", false)) {
		b = json_tokener_parse("{\"properties\":{\"accessPolicies\":[{\"objectId\":\"{{principalId}}\","
				       "\"permissions\":{\"keys\":[\"get\",\"wrapKey\",\"unwrapKey\"]}}]}}");
		jx_set(jx_at(jx_get(b, "properties.accessPolicies"), 0), "tenantId",
		       json_object_new_string(jx_str(c->vault, "properties.tenantId") ? jx_str(c->vault, "properties.tenantId") : ""));
		s = add(p, STEP_ACCESS_POLICY, "PUT", xasprintf("%s/accessPolicies/add", vid), VAULT_API, TARGET_ARM, b);
		s->title = xasprintf(_("Add an access policy on vault %s: get, wrapKey and unwrapKey for %s"), c->vault_name,
				     jx_str(c->resource, "name"));
	} else {
		b = json_object_new_object();
		if (armid_parse(vid, &a)) {
			char *rd = xasprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s",
					     a.subscription, role);

			jx_set(b, "properties.roleDefinitionId", json_object_new_string(rd));
			free(rd);
			armid_free(&a);
		}
		jx_set(b, "properties.principalId", json_object_new_string("{{principalId}}"));
		jx_set(b, "properties.principalType", json_object_new_string("ServicePrincipal"));
		s = add(p, STEP_ASSIGN_ROLE, "PUT", xasprintf("%s/keys/%s/providers/Microsoft.Authorization/roleAssignments/"
							     "{{assignmentName}}", vid, p->key_name), AUTHZ_API, TARGET_ARM, b);
		s->title = xasprintf(_("Grant %s the role %s on key %s only"), jx_str(c->resource, "name"),
				     str_ieq(role, ROLE_CRYPTO_SERVICE_ENCRYPTION_USER) ? "Key Vault Crypto Service Encryption User"
											 : role, p->key_name);
	}
	s->depends = after;
}

/* Fields the DICOM service owns, dropped from the body of a whole-resource PUT. */
static const char *const READ_ONLY[] = { "id", "name", "type", "systemData", "etag", "properties.provisioningState",
	"properties.serviceUrl", "properties.authenticationConfiguration", "properties.privateEndpointConnections",
	"properties.eventState", "identity.principalId", "identity.tenantId", NULL };

/* Returns a copy of a resource without the fields the service owns, for the body of a whole-resource PUT. */
struct json_object *plan_writable(struct json_object *resource)
{
	struct json_object *b = jx_copy(resource), *map = jx_get(resource, "identity.userAssignedIdentities");

	for (int i = 0; READ_ONLY[i]; i++)
		jx_del(b, READ_ONLY[i]);
	if (json_object_is_type(map, json_type_object)) {
		json_object_object_foreach(jx_get(b, "identity.userAssignedIdentities"), k, v) {
			(void)v;
			json_object_object_add(jx_get(b, "identity.userAssignedIdentities"), k, json_object_new_object());
		}
	}
	return b;
}

/*
 * Builds the body that sets the key, per service: the whole DICOM resource with
 * the versioned key URL (read-only fields dropped); Health Bot's
 * keyVaultProperties; Cognitive Services' encryption.
 */
struct json_object *plan_save_body(const struct svc_profile *svc, struct json_object *resource, const char *vault_uri,
				   const char *key, const char *version, const char *uai_id, const char *uai_client)
{
	struct json_object *b, *kvp = json_object_new_object();

	if (svc->save == SAVE_PUT_WHOLE) {
		char *url = xasprintf("%s%skeys/%s/%s", vault_uri, str_iends(vault_uri, "/") ? "" : "/", key, version);

		b = plan_writable(resource);
		jx_set(b, "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl", json_object_new_string(url));
		free(url);
		json_object_put(kvp);
		return b;
	}
	json_object_object_add(kvp, "keyName", json_object_new_string(key));
	if (version)
		json_object_object_add(kvp, "keyVersion", json_object_new_string(version));
	json_object_object_add(kvp, "keyVaultUri", json_object_new_string(vault_uri));
	b = json_object_new_object();
	if (svc->save == SAVE_PATCH_KVP) {
		if (uai_id)
			json_object_object_add(kvp, "userIdentity", json_object_new_string(uai_id));
		jx_set(b, "properties.keyVaultProperties", kvp);
	} else {
		if (uai_client)
			json_object_object_add(kvp, "identityClientId", json_object_new_string(uai_client));
		jx_set(b, "properties.encryption.keySource", json_object_new_string("Microsoft.KeyVault"));
		jx_set(b, "properties.encryption.keyVaultProperties", kvp);
	}
	return b;
}

/*
 * Returns the resource as it will be once the key is saved (a new object):
 * the save body merged over the resource, with a system-assigned identity
 * when the plan is to enable one. Azure Policy judges this content.
 */
struct json_object *plan_after_save(const struct cmk_ctx *c)
{
	struct json_object *after = jx_copy(c->resource), *b;
	const char *type = jx_str(c->resource, "identity.type");

	if (!c->vault_uri || !c->key_name)
		return after;
	b = plan_save_body(c->svc, c->resource, c->vault_uri, c->key_name, c->key_version ? c->key_version : "",
			   c->user_identity ? c->uai_id : NULL, c->user_identity ? jx_str(c->uai, "properties.clientId") : NULL);
	jx_merge_patch(after, b);
	json_object_put(b);
	if (!c->user_identity && (!type || str_ieq(type, "None")))
		jx_set(after, "identity.type", json_object_new_string("SystemAssigned"));
	return after;
}

/* Returns the property path that holds the key setting, per service. */
static const char *key_path(const struct svc_profile *svc)
{
	return svc->save == SAVE_PUT_WHOLE ? "properties.encryption"
	       : svc->save == SAVE_PATCH_KVP ? "properties.keyVaultProperties" : "properties.encryption";
}

/* Adds the save of the key on the resource. */
static void save_step(struct plan *p, const struct cmk_ctx *c)
{
	const char *rid = jx_str(c->resource, "id");
	struct json_object *b = plan_save_body(c->svc, c->resource, c->vault_uri, p->key_name, p->key_version, p->uai_id,
					       p->uai_client_id);
	struct plan_step *s = add(p, STEP_SAVE_KEY, c->svc->save == SAVE_PUT_WHOLE ? "PUT" : "PATCH", xstrdup(rid),
				  c->svc->api_version, TARGET_ARM, b);

	s->title = xasprintf(_("Save key %s on %s (%s)"), p->key_name, jx_str(c->resource, "name"), _(c->svc->name));
	s->reversible = !c->svc->irreversible;
	expect(s, rid, c->resource, key_path(c->svc));
}

/* Adds the verification that ends every plan. */
static void verify_step(struct plan *p, const struct cmk_ctx *c)
{
	struct plan_step *s = add(p, STEP_VERIFY, "GET", xstrdup(p->resource_id), c->svc->api_version, TARGET_ARM, NULL);

	s->title = xasprintf(_("Read %s back and check every prerequisite again"), jx_str(c->resource, "name"));
}

/*
 * Puts the identity the plan enables into a whole-resource save body, so the
 * PUT does not take it away again (apply rebuilds this body from a fresh read;
 * exported scripts and templates use it as it is).
 */
static void carry_identity(struct plan_step *save, struct json_object *identity_body)
{
	json_object_object_add(save->body, "identity", jx_copy(jx_get(identity_body, "identity")));
}

/* Returns the version to put in the plan: the one chosen, or the current one when the service needs a version. */
static char *plan_version(const struct cmk_ctx *c)
{
	const char *kid = jx_str(c->key, "key.kid"), *slash = kid ? strrchr(kid, '/') : NULL;

	if (c->key_version)
		return xstrdup(c->key_version);
	return c->svc->version_required && slash ? xstrdup(slash + 1) : NULL;
}

/* Derives the plan's id from what it changes, so the same plan has the same journal. */
static char *plan_id(const struct plan *p)
{
	struct sbuf b = SBUF_INIT;
	char *seed, id[UUID_STRLEN];

	for (size_t i = 0; i < p->n; i++)
		sb_printf(&b, "|%s=%s", p->steps[i].id, p->steps[i].expect ? jx_text(p->steps[i].expect) : "");
	seed = xasprintf("%s|%s|%s|%s|%s%s%s", p->resource_id, p->vault_uri, p->key_name,
			 p->key_version ? p->key_version : "", p->uai_id ? p->uai_id : "system", p->resave ? "|resave" : "",
			 sb_str(&b));
	sb_free(&b);

	uuid_from_name(seed, id);
	free(seed);
	return xstrdup(id);
}

/*
 * Checks that the system-assigned identity may be turned off: only when a
 * user-assigned identity is the one that reaches the key.
 */
static bool system_off_possible(const struct cmk_ctx *c, char **err)
{
	if (!c->user_identity || !c->uai_id) {
		*err = xasprintf(_("cannot build a plan: the system-assigned identity of %s is the one that would reach the "
				   "key, so it cannot be turned off; choose a user-assigned identity (--identity)"),
				 jx_str(c->resource, "name"));
		return false;
	}
	return true;
}

/*
 * Adds the step that turns the system-assigned identity off, after the save:
 * the identity the save left (what it expects) without the system-assigned
 * part. Irreversible: its principal, and every grant made to it, are gone.
 */
static void system_off_step(struct plan *p, const struct cmk_ctx *c, int identity_step)
{
	struct json_object *body = json_object_new_object(), *before;
	struct plan_step *s;

	json_object_object_add(body, "identity", wanted_identity(c, false));
	s = add(p, STEP_DISABLE_SYSTEM_IDENTITY, "PATCH", xstrdup(p->resource_id), c->svc->api_version, TARGET_ARM, body);
	s->title = xasprintf(_("Turn off the system-assigned identity of %s (its principal and its access are gone for "
			       "good)"), jx_str(c->resource, "name"));
	s->reversible = false;
	before = identity_step >= 0 ? p->steps[identity_step].body : c->resource;
	expect(s, p->resource_id, before, "identity.type");
	s->depends = (int)p->n - 2;     /* the save, just before it */
}

/*
 * Builds the ordered plan for the context's key and identity: identity,
 * vault fixes, key, access, wait, save, verify. Refuses (with the reasons)
 * when a blocker cannot be fixed by a step or needs a confirmation.
 */
int plan_build(const struct cmk_ctx *c, const struct cmk_report *r, const struct plan_choices *ch, struct plan *out,
	       char **err)
{
	bool grant;
	/* Turning the system-assigned identity off needs a step only when the resource has one. */
	bool drop_system = ch->system_off && jx_str(c->resource, "identity.principalId");
	int identity_step = -1;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (!c->vault_uri || (!c->key_name && !ch->create_key)) {
		*err = xstrdup(_("cannot build a plan: name the key (--key URI, or --vault and --key), or let azcmk create one"));
		return -1;
	}
	if (!plan_possible(c, r, ch, err))
		return -1;
	grant = failed(r, "identity.key-access") || failed(r, "identity.enabled") || (ch->create_key && c->key_status != 200);
	if (drop_system && !system_off_possible(c, err))
		return -1;
	out->svc = c->svc;
	out->resource_id = xstrdup(jx_str(c->resource, "id"));
	out->vault_uri = xstrdup(c->vault_uri);
	out->key_name = xstrdup(c->key_name ? c->key_name : ch->new_key_name);
	out->key_version = plan_version(c);
	out->uai_id = c->user_identity && c->uai_id ? xstrdup(c->uai_id) : NULL;
	out->resave = ch->resave;
	out->uai_client_id = c->uai && jx_str(c->uai, "properties.clientId") ? xstrdup(jx_str(c->uai, "properties.clientId"))
									       : NULL;
	if (failed(r, "identity.enabled")) {
		struct plan_step *s = add(out, STEP_ENABLE_IDENTITY, "PATCH", xstrdup(out->resource_id), c->svc->api_version,
					  TARGET_ARM, json_object_new_object());

		json_object_object_add(s->body, "identity", wanted_identity(c, true));
		s->title = xasprintf(_("Enable the %s of %s"), c->user_identity ? _("user-assigned identity")
										  : _("system-assigned identity"),
				     jx_str(c->resource, "name"));
		expect(s, out->resource_id, c->resource, "identity.type");
		identity_step = 0;
	}
	vault_steps(out, c, r);
	if (ch->create_key)
		key_step(out, c, ch);
	if (grant) {
		grant_step(out, c, ch, identity_step);
		add(out, STEP_WAIT_ACCESS, NULL, NULL, NULL, TARGET_NONE, NULL)->title =
			xstrdup(_("Wait until the new access has taken effect (Azure RBAC propagation)"));
	}
	save_step(out, c);
	if (identity_step >= 0 && c->svc->save == SAVE_PUT_WHOLE)
		carry_identity(&out->steps[out->n - 1], out->steps[identity_step].body);
	if (drop_system)
		system_off_step(out, c, identity_step);
	verify_step(out, c);
	out->id = plan_id(out);
	return 0;
}

/* Frees a plan. */
void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->steps[i].title);
		free(p->steps[i].url);
		free(p->steps[i].expect_path);
		free(p->steps[i].read_url);
		json_object_put(p->steps[i].body);
		json_object_put(p->steps[i].expect);
	}
	free(p->steps);
	free(p->id);
	free(p->resource_id);
	free(p->vault_uri);
	free(p->key_name);
	free(p->key_version);
	free(p->uai_id);
	free(p->uai_client_id);
	memset(p, 0, sizeof(*p));
}

/* Adds a string member when the value is set. */
static void add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

/* Serialises a plan (the file azcmk plan -o writes and azcmk apply reads). */
struct json_object *plan_to_json(const struct plan *p)
{
	struct json_object *o = json_object_new_object(), *steps = json_object_new_array();

	json_object_object_add(o, "format", json_object_new_string("azcmk-plan/1"));
	add_str(o, "id", p->id);
	add_str(o, "resource", p->resource_id);
	add_str(o, "service", p->svc->key);
	add_str(o, "vaultUri", p->vault_uri);
	add_str(o, "keyName", p->key_name);
	add_str(o, "keyVersion", p->key_version);
	add_str(o, "userAssignedIdentity", p->uai_id);
	add_str(o, "userAssignedClientId", p->uai_client_id);
	if (p->resave)
		json_object_object_add(o, "resave", json_object_new_boolean(true));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		struct json_object *j = json_object_new_object();

		add_str(j, "step", s->id);
		add_str(j, "title", s->title);
		add_str(j, "method", s->method);
		add_str(j, "url", s->url);
		add_str(j, "apiVersion", s->api_version);
		add_str(j, "target", s->target == TARGET_KEYVAULT ? "keyvault" : s->target == TARGET_ARM ? "arm" : "none");
		json_object_object_add(j, "body", jx_copy(s->body));
		add_str(j, "read", s->read_url);
		add_str(j, "expectPath", s->expect_path);
		json_object_object_add(j, "expect", jx_copy(s->expect));
		json_object_object_add(j, "reversible", json_object_new_boolean(s->reversible));
		json_object_object_add(j, "dependsOn", json_object_new_int(s->depends));
		json_object_array_add(steps, j);
	}
	json_object_object_add(o, "steps", steps);
	return o;
}

/* Returns the API version a step of this kind is sent with (the plan file does not carry it: azcmk decides). */
static const char *step_api(enum step_kind k, const struct svc_profile *svc)
{
	switch (k) {
	case STEP_ASSIGN_ROLE: return AUTHZ_API;
	case STEP_ENABLE_SOFT_DELETE:
	case STEP_ENABLE_PURGE_PROTECTION:
	case STEP_FIREWALL_BYPASS:
	case STEP_ACCESS_POLICY: return VAULT_API;
	case STEP_CREATE_KEY: return KV_API;
	case STEP_WAIT_ACCESS: return NULL;
	default: return svc->api_version;
	}
}

/* Returns a copy of a string member, or NULL. */
static char *dup_str(struct json_object *o, const char *k)
{
	return jx_str(o, k) ? xstrdup(jx_str(o, k)) : NULL;
}

/* Finds a step kind by its stable name; -1 when unknown. */
static int kind_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(STEP_NAMES) / sizeof(STEP_NAMES[0]); i++)
		if (strcmp(name, STEP_NAMES[i]) == 0)
			return (int)i;
	return -1;
}

/* Reads one step back; false when it is not one of ours. */
static bool step_from_json(struct json_object *j, struct plan_step *s)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH", "POST", "DELETE", NULL };
	int k = kind_of(jx_str(j, "step"));
	const char *m = jx_str(j, "method");

	memset(s, 0, sizeof(*s));
	if (k < 0)
		return false;
	s->kind = (enum step_kind)k;
	s->id = STEP_NAMES[k];
	for (int i = 0; m && methods[i]; i++)
		if (strcmp(m, methods[i]) == 0)
			s->method = methods[i];
	if (m && !s->method)
		return false;
	s->title = dup_str(j, "title");
	s->url = dup_str(j, "url");
	s->api_version = str_ieq(jx_str(j, "target"), "keyvault") ? KV_API : NULL;
	s->target = str_ieq(jx_str(j, "target"), "keyvault") ? TARGET_KEYVAULT : str_ieq(jx_str(j, "target"), "arm")
		    ? TARGET_ARM : TARGET_NONE;
	s->body = jx_copy(jx_get(j, "body"));
	s->read_url = dup_str(j, "read");
	s->expect_path = dup_str(j, "expectPath");
	s->expect = jx_copy(jx_get(j, "expect"));
	s->reversible = jx_bool(j, "reversible", true);
	s->depends = (int)jx_int(j, "dependsOn", -1);
	return s->method || s->kind == STEP_WAIT_ACCESS;
}

/* Reads a plan file back; refuses anything that is not a well-formed azcmk plan. */
int plan_from_json(struct json_object *o, struct plan *out, char **err)
{
	struct json_object *steps = jx_get(o, "steps");

	memset(out, 0, sizeof(*out));
	if (!str_ieq(jx_str(o, "format"), "azcmk-plan/1") || !jx_str(o, "resource") || !svc_by_key(jx_str(o, "service")) ||
	    !json_object_is_type(steps, json_type_array)) {
		*err = xstrdup(_("this is not an azcmk plan (format azcmk-plan/1)"));
		return -1;
	}
	out->svc = svc_by_key(jx_str(o, "service"));
	out->id = dup_str(o, "id");
	out->resource_id = dup_str(o, "resource");
	out->vault_uri = dup_str(o, "vaultUri");
	out->key_name = dup_str(o, "keyName");
	out->key_version = dup_str(o, "keyVersion");
	out->uai_id = dup_str(o, "userAssignedIdentity");
	out->uai_client_id = dup_str(o, "userAssignedClientId");
	out->resave = jx_bool(o, "resave", false);
	out->steps = xcalloc(jx_len(steps) ? jx_len(steps) : 1, sizeof(*out->steps));
	for (size_t i = 0; i < jx_len(steps); i++) {
		if (!step_from_json(jx_at(steps, i), &out->steps[i])) {
			out->n = i + 1;
			*err = xasprintf(_("step %zu of the plan is not one azcmk knows"), i + 1);
			plan_free(out);
			return -1;
		}
		out->steps[i].api_version = out->steps[i].target == TARGET_KEYVAULT ? KV_API
					    : step_api(out->steps[i].kind, out->svc);
		out->n = i + 1;
	}
	return 0;
}

/* Replaces {{name}} placeholders with values from vars (unknown ones stay as they are). */
char *plan_fill(const char *text, struct json_object *vars)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = text ? text : ""; *p;) {
		const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
		char *name;

		if (!close) {
			sb_adds(&b, p);
			break;
		}
		/* A stray "{{" before a placeholder is text: the placeholder opens at the last "{{" before "}}". */
		for (const char *again; (again = strstr(open + 2, "{{")) != NULL && again < close;)
			open = again;
		sb_add(&b, p, (size_t)(open - p));
		name = xstrndup(open + 2, (size_t)(close - open - 2));
		sb_adds(&b, jx_str(vars, name) ? jx_str(vars, name) : "");
		if (!jx_str(vars, name))
			sb_add(&b, open, (size_t)(close - open + 2));
		free(name);
		p = close + 2;
	}
	return sb_steal(&b);
}

/* Appends one "path: before -> after" line per leaf of a body, against what is there now. */
static void diff_leaves(struct sbuf *b, struct json_object *body, struct json_object *now, const char *prefix)
{
	json_object_object_foreach(body, k, v) {
		char *path = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
		struct json_object *old = NULL;

		/* Walk by member, not by dotted path: keys such as identity ids hold dots and slashes. */
		if (json_object_is_type(now, json_type_object))
			json_object_object_get_ex(now, k, &old);
		if (json_object_is_type(v, json_type_object) && json_object_object_length(v)) {
			diff_leaves(b, v, old, path);
		} else if (json_object_is_type(v, json_type_object) && json_object_is_type(old, json_type_object)) {
			/* An empty object keeps what is there (a user-assigned identity stays attached). */
		} else {
			char *before = old ? text_sanitize(jx_text(old), false) : xstrdup(_("(absent)"));
			char *after = text_sanitize(v ? jx_text(v) : "null", false);

			if (!old || strcmp(jx_text(old), v ? jx_text(v) : "null") != 0)
				sb_printf(b, "       %s: %s -> %s\n", path, before, after);
			free(before);
			free(after);
		}
		free(path);
	}
}

/* Renders the plan for a person: each step with method, URL, irreversible mark, and a before -> after diff. */
char *plan_render_text(const struct plan *p, const struct cmk_ctx *c)
{
	struct sbuf b = SBUF_INIT;

	sb_printf(&b, _("Plan %s for %s (%s)\n"), p->id, p->resource_id, _(p->svc->name));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		struct json_object *now = s->kind <= STEP_FIREWALL_BYPASS && s->kind != STEP_ENABLE_IDENTITY ? c->vault : c->resource;
		struct json_object *after_identity = NULL;

		/* Turning the system-assigned identity off is judged against the identity the earlier step leaves. */
		if (s->kind == STEP_DISABLE_SYSTEM_IDENTITY && i > 0 && p->steps[0].kind == STEP_ENABLE_IDENTITY) {
			now = after_identity = jx_copy(c->resource);
			jx_merge_patch(after_identity, p->steps[0].body);
		}

		sb_printf(&b, "%2zu. %s%s\n", i + 1, s->title, s->reversible ? "" : _(" [irreversible]"));
		if (s->method)
			sb_printf(&b, "       %s %s\n", s->method, s->url);
		if (s->body && (s->kind == STEP_SAVE_KEY || s->kind <= STEP_FIREWALL_BYPASS ||
				s->kind == STEP_DISABLE_SYSTEM_IDENTITY))
			diff_leaves(&b, s->body, now, "");
		else if (s->body)
			sb_printf(&b, "       %s\n", jx_text(s->body));
		json_object_put(after_identity);
	}
	return sb_steal(&b);
}
