/* Plans: the ordered changes that protect a resource with a customer-managed
 * key, as data. */
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

static const char *const STEP_NAMES[] = { "enable-identity",
					  "enable-soft-delete",
					  "enable-purge-protection",
					  "firewall-bypass",
					  "create-key",
					  "assign-role",
					  "access-policy",
					  "wait-access",
					  "save-key",
					  "verify",
					  "disable-system-identity",
					  "create-vault",
					  "grant-operator" };
_Static_assert(sizeof(STEP_NAMES) / sizeof(STEP_NAMES[0]) == STEP_KIND_COUNT,
	       "one name per step kind");

/* Returns a step kind's stable name. */
const char *plan_step_name(enum step_kind k)
{
	return STEP_NAMES[k];
}

/* Tells whether a step of this kind can be undone (a DICOM or Health Bot key
 * setting cannot). */
static bool reversible(enum step_kind k, const struct svc_profile *svc)
{
	switch (k) {
	case STEP_ENABLE_SOFT_DELETE:
	case STEP_ENABLE_PURGE_PROTECTION:
	case STEP_CREATE_KEY:
	case STEP_DISABLE_SYSTEM_IDENTITY:
	case STEP_CREATE_VAULT: /* with purge protection: its name is held for
				   90 days after a delete */
		return false;
	case STEP_GRANT_OPERATOR:
		return true;
	case STEP_SAVE_KEY:
		return !svc->irreversible;
	default:
		return true;
	}
}

/* Adds a step of a kind and returns it for the caller to title; its request is
 * derived once the plan is whole. */
static struct plan_step *add(struct plan *p, enum step_kind kind)
{
	struct plan_step *s;

	p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
	s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->id = STEP_NAMES[kind];
	s->reversible = reversible(kind, p->svc);
	s->depends = -1;
	return s;
}

/* Returns the property path that holds the key setting, per service. */
static const char *key_path(const struct svc_profile *svc)
{
	return svc->shape->patch_root;
}

/*
 * Returns the property a step of this kind re-reads before it writes (and
 * sets *read_url to what holds it), or NULL when it guards nothing.
 */
const char *plan_guard_path(const struct plan *p, enum step_kind k,
			    const char **read_url)
{
	*read_url = (k <= STEP_FIREWALL_BYPASS && k != STEP_ENABLE_IDENTITY) ||
				    k == STEP_CREATE_VAULT
			    ? p->vault_id
			    : p->resource_id;
	switch (k) {
	case STEP_CREATE_VAULT:
		/* A vault already there must be the one the plan makes. */
		return "properties";
	case STEP_ENABLE_IDENTITY:
	case STEP_DISABLE_SYSTEM_IDENTITY:
		return "identity.type";
	case STEP_ENABLE_SOFT_DELETE:
		return "properties.enableSoftDelete";
	case STEP_ENABLE_PURGE_PROTECTION:
		return "properties.enablePurgeProtection";
	case STEP_FIREWALL_BYPASS:
		return "properties.networkAcls.bypass";
	case STEP_SAVE_KEY:
		return key_path(p->svc);
	default:
		*read_url = NULL;
		return NULL;
	}
}

/* Records what a step expects to find before it writes: the value at its
 * guarded path in now. */
static void expect(const struct plan *p, struct plan_step *s,
		   struct json_object *now)
{
	const char *read_url, *path = plan_guard_path(p, s->kind, &read_url);

	free(s->read_url);
	free(s->expect_path);
	json_object_put(s->expect);
	s->read_url = path && read_url ? xstrdup(read_url) : NULL;
	s->expect_path = path ? xstrdup(path) : NULL;
	s->expect = path ? jx_copy(jx_get(now, path)) : NULL;
}

/* Tells whether a rule surely failed in the report (one that could not be
 * judged is no reason for a step). */
static bool failed(const struct cmk_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (str_ieq(r->items[i].rule->id, id) && !r->items[i].unknown)
			return true;
	return false;
}

/* Tells whether the plan can fix a failed rule with the operator's choices. */
static bool fixable(const struct cmk_ctx *c, const struct cmk_finding *f,
		    const struct plan_choices *ch)
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

/*
 * Answers "will the plan fix this finding?" with the operator's choices:
 * the one answer the plan builder and the wizard's screens both give, so a
 * screen never promises what the review then refuses.
 */
enum plan_answer plan_fix_answer(const struct cmk_ctx *c,
				 const struct cmk_finding *f,
				 const struct plan_choices *ch)
{
	bool needs =
		f->severity == SEV_BLOCKER || f->rule->fix_step == FIX_CONFIRM;

	if (f->unknown)
		return f->severity == SEV_BLOCKER && !ch->allow_unknown
			       ? PLAN_NOT_JUDGED
			       : PLAN_NOT_NEEDED;
	if (str_istarts(f->rule->id, "key.") && ch->create_key)
		return PLAN_FIXES;
	if (fixable(c, f, ch))
		return f->rule->fix_step == FIX_NONE ? PLAN_NOT_NEEDED
						     : PLAN_FIXES;
	if (!needs)
		return PLAN_NOT_NEEDED;
	if (f->rule->fix_step == FIX_ENABLE_PURGE_PROTECTION ||
	    f->rule->fix_step == FIX_CONFIRM)
		return PLAN_NEEDS_CONFIRMATION;
	return f->rule->fix_step == FIX_CREATE_KEY ? PLAN_NEEDS_NEW_KEY
						   : PLAN_CANNOT;
}

/* Checks that every blocker can be fixed by the plan; otherwise explains what
 * stops it. */
static bool plan_possible(const struct cmk_ctx *c, const struct cmk_report *r,
			  const struct plan_choices *ch, char **err)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < r->n; i++) {
		const struct cmk_finding *f = &r->items[i];
		enum plan_answer a = plan_fix_answer(c, f, ch);

		if (a == PLAN_FIXES || a == PLAN_NOT_NEEDED)
			continue;
		sb_printf(&b, "\n  - %s [%s]", f->message, f->rule->id);
		if (a == PLAN_NOT_JUDGED)
			sb_printf(&b, " %s",
				  _("(or accept it with --allow-unknown)"));
		else if (a == PLAN_NEEDS_CONFIRMATION)
			sb_printf(&b, " %s",
				  _("(irreversible: confirm with "
				    "--confirm-irreversible)"));
		else if (a == PLAN_NEEDS_NEW_KEY)
			sb_printf(&b, " %s",
				  _("(or let azcmk create a key: --create-key "
				    "NAME)"));
	}
	bool ok = b.len == 0;

	if (!ok)
		*err = xasprintf(_("cannot build a plan; fix these first:%s"),
				 sb_str(&b));
	sb_free(&b);
	return ok;
}

/* Adds the vault fixes: soft delete, purge protection, firewall bypass. */
static void vault_steps(struct plan *p, const struct cmk_report *r)
{
	if (failed(r, "vault.soft-delete"))
		add(p, STEP_ENABLE_SOFT_DELETE);
	if (failed(r, "vault.purge-protection"))
		add(p, STEP_ENABLE_PURGE_PROTECTION);
	if (failed(r, "vault.firewall"))
		add(p, STEP_FIREWALL_BYPASS);
}

/* Returns the largest RSA size the service's rules allow (3072 when they name
 * none). */
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
	return now && !c->svc->sizes && now >= 2048 ? (int)now
						    : largest_size(c->svc);
}

/* Adds the key creation step; the new version becomes {{keyVersion}}. */
static void key_step(struct plan *p, const struct cmk_ctx *c,
		     const struct plan_choices *ch)
{
	add(p, STEP_CREATE_KEY);
	p->key_size = new_size(c);
	p->new_version = c->key_status == 200;
	free(p->keyref.name);
	p->keyref.name = xstrdup(ch->new_key_name);
	free(p->keyref.version);
	p->keyref.version = ch->versionless && !c->svc->version_required
				    ? NULL
				    : xstrdup("{{keyVersion}}");
}

/*
 * Adds the access grant: on a managed HSM its local role Managed HSM Crypto
 * Service Encryption User on the key alone (ARM holds no local role); on a
 * vault with Azure RBAC a role at key scope; else an access policy.
 */
static void grant_step(struct plan *p, const struct cmk_ctx *c, int after)
{
	bool policy =
		!c->keyref.hsm &&
		!jx_bool(c->vault, "properties.enableRbacAuthorization", false);

	add(p, policy ? STEP_ACCESS_POLICY : STEP_ASSIGN_ROLE)->depends = after;
}

/* Fields the DICOM service owns, dropped from the body of a whole-resource PUT.
 */
static const char *const READ_ONLY[] = {
	"id",
	"name",
	"type",
	"systemData",
	"etag",
	"properties.provisioningState",
	"properties.serviceUrl",
	"properties.authenticationConfiguration",
	"properties.privateEndpointConnections",
	"properties.eventState",
	"identity.principalId",
	"identity.tenantId",
	NULL
};

/* Returns a copy of a resource without the fields the service owns, for the
 * body of a whole-resource PUT. */
struct json_object *plan_writable(struct json_object *resource)
{
	struct json_object *b = jx_copy(resource),
			   *map = jx_get(resource,
					 "identity.userAssignedIdentities");

	for (int i = 0; READ_ONLY[i]; i++)
		jx_del(b, READ_ONLY[i]);
	if (json_object_is_type(map, json_type_object)) {
		json_object_object_foreach(
			jx_get(b, "identity.userAssignedIdentities"), k, v)
		{
			(void)v;
			json_object_object_add(
				jx_get(b, "identity.userAssignedIdentities"), k,
				json_object_new_object());
		}
	}
	return b;
}

/*
 * Builds the body that sets the key, as the service's key shape says: the
 * whole resource (read-only fields dropped) or only the setting; the key as
 * one versioned URL or as vault URI, name and version; the identity by ARM id
 * or client id (DICOM: the whole resource with a versioned key URL; the
 * healthcare agent's keyVaultProperties; Cognitive Services' encryption).
 */
struct json_object *plan_save_body(const struct svc_profile *svc,
				   struct json_object *resource,
				   const struct key_ref *k, const char *version,
				   const char *uai_id, const char *uai_client)
{
	const struct key_shape *shape = svc->shape;
	const char *uai = shape->identity_client_id ? uai_client : uai_id;
	struct json_object *b = shape->whole ? plan_writable(resource)
					     : json_object_new_object(),
			   *kvp;

	if (shape->url) {
		char *url = key_ref_versioned(k, version);

		jx_set(b, shape->url, json_object_new_string(url));
		free(url);
	}
	if (shape->source)
		jx_set(b, shape->source,
		       json_object_new_string("Microsoft.KeyVault"));
	if (!shape->kvp)
		return b;
	kvp = json_object_new_object();
	json_object_object_add(kvp, "keyName", json_object_new_string(k->name));
	if (version)
		json_object_object_add(kvp, "keyVersion",
				       json_object_new_string(version));
	json_object_object_add(kvp, "keyVaultUri",
			       json_object_new_string(k->vault_uri));
	if (shape->identity && uai)
		json_object_object_add(kvp, shape->identity,
				       json_object_new_string(uai));
	jx_set(b, shape->kvp, kvp);
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

	if (!c->keyref.vault_uri || !c->keyref.name)
		return after;
	b = plan_save_body(c->svc, c->resource, &c->keyref,
			   c->keyref.version ? c->keyref.version : "",
			   c->user_identity ? c->uai_id : NULL,
			   c->user_identity
				   ? jx_str(c->uai, "properties.clientId")
				   : NULL);
	jx_merge_patch(after, b);
	json_object_put(b);
	if (!c->user_identity && (!type || str_ieq(type, "None")))
		jx_set(after, "identity.type",
		       json_object_new_string("SystemAssigned"));
	return after;
}

/* Adds the save of the key on the resource. */
static void save_step(struct plan *p)
{
	add(p, STEP_SAVE_KEY);
}

/* Adds the verification that ends every plan. */
static void verify_step(struct plan *p)
{
	add(p, STEP_VERIFY);
}

/* Returns the version to put in the plan: the one chosen, or the current one
 * when the service needs a version. */
static char *plan_version(const struct cmk_ctx *c)
{
	const char *current =
		key_ref_version_in(&c->keyref, jx_str(c->key, "key.kid"));

	if (c->keyref.version)
		return xstrdup(c->keyref.version);
	return c->svc->version_required && current ? xstrdup(current) : NULL;
}

/*
 * Checks that the system-assigned identity may be turned off: only when a
 * user-assigned identity is the one that reaches the key.
 */
static bool system_off_possible(const struct cmk_ctx *c, char **err)
{
	if (!c->user_identity || !c->uai_id) {
		*err = xasprintf(
			_("cannot build a plan: the system-assigned identity "
			  "of %s is the one that would reach the "
			  "key, so it cannot be turned off; choose a "
			  "user-assigned identity (--identity)"),
			jx_str(c->resource, "name"));
		return false;
	}
	return true;
}

/*
 * Adds the step that turns the system-assigned identity off, after the save.
 * Irreversible: its principal, and every grant made to it, are gone.
 */
static void system_off_step(struct plan *p)
{
	struct plan_step *s = add(p, STEP_DISABLE_SYSTEM_IDENTITY);

	s->depends = (int)p->n - 2; /* the save, just before it */
}

/*
 * Fills every step's request from the plan's typed fields and the state read
 * for the plan (the same derivation apply makes from live state), and what
 * each step expects to find. The resource is projected through the identity
 * step, so the save and the identity change after it show what they will send.
 */
static void derive_all(struct plan *p, const struct cmk_ctx *c)
{
	struct json_object *projected = jx_copy(c->resource),
			   *vars = json_object_new_object();
	struct step_state st = { projected, c->vault, vars };

	if (cmk_principal(c))
		json_object_object_add(
			vars, "principalId",
			json_object_new_string(cmk_principal(c)));
	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->steps[i];
		struct step_request q;

		plan_request(p, i, &st, &q);
		s->method = q.method;
		s->url = q.url;
		s->api_version = q.api_version;
		s->target = q.target;
		s->body = q.body;
		/* A vault the plan creates is absent when the plan is made. */
		expect(p, s,
		       s->kind == STEP_CREATE_VAULT ? NULL
		       : s->kind <= STEP_FIREWALL_BYPASS &&
				       s->kind != STEP_ENABLE_IDENTITY
			       ? c->vault
			       : projected);
		if (s->kind == STEP_ENABLE_IDENTITY)
			jx_merge_patch(projected, s->body);
	}
	json_object_put(projected);
	json_object_put(vars);
}

/* Sets the plan's id: the digest of its content. */
static void seal(struct plan *p)
{
	struct json_object *j = plan_to_json(p);

	free(p->id);
	p->id = plan_digest(j);
	json_object_put(j);
}

/* Fills the plan's typed fields from the context and the operator's choices. */
static void plan_fields(struct plan *out, const struct cmk_ctx *c,
			const struct plan_choices *ch)
{
	out->svc = c->svc;
	out->resource_id = xstrdup(jx_str(c->resource, "id"));
	out->vault_id =
		jx_str(c->vault, "id") ? xstrdup(jx_str(c->vault, "id")) : NULL;
	key_ref_copy(&c->keyref, &out->keyref);
	if (!out->keyref.name && ch->new_key_name)
		out->keyref.name = xstrdup(ch->new_key_name);
	free(out->keyref.version);
	out->keyref.version = plan_version(c);
	out->uai_id = c->user_identity && c->uai_id ? xstrdup(c->uai_id) : NULL;
	out->resave = ch->resave;
	/* An access policy is vault-wide anyway; a managed HSM's local role is
	 * refused at vault scope by plan_build. */
	out->vault_location =
		ch->vault_location ? xstrdup(ch->vault_location) : NULL;
	out->vault_tenant =
		ch->vault_location && c->tenant ? xstrdup(c->tenant) : NULL;
	out->grant_vault =
		ch->grant_vault && !c->keyref.hsm &&
		jx_bool(c->vault, "properties.enableRbacAuthorization", false);
	out->role =
		c->keyref.hsm
			? NULL
			: xstrdup(ch->role
					  ? ch->role
					  : ROLE_CRYPTO_SERVICE_ENCRYPTION_USER);
	/* The client id names the user-assigned identity in the key setting;
	 * with the system-assigned one, none. */
	out->uai_client_id =
		out->uai_id && jx_str(c->uai, "properties.clientId")
			? xstrdup(jx_str(c->uai, "properties.clientId"))
			: NULL;
}

/*
 * Adds the creation of the plan's vault and, where the permissions you hold
 * on its resource group do not let you create keys in it (an Owner's do
 * not: a vault with Azure RBAC gives its creator no access to its keys),
 * the grant of Key Vault Crypto Officer on it to you.
 */
static void new_vault_steps(struct plan *p, const struct cmk_ctx *c)
{
	add(p, STEP_CREATE_VAULT);
	if (plan_may(p, c, STEP_CREATE_KEY) != 1 && c->operator_id) {
		p->operator_id = xstrdup(c->operator_id);
		add(p, STEP_GRANT_OPERATOR);
	}
}

/*
 * Tells whether the plan may create its vault: a key vault (not a managed
 * HSM), with a key the plan creates, and the operator's consent to purge
 * protection, which cannot be undone; else says why in *err.
 */
static bool new_vault_possible(const struct cmk_ctx *c,
			       const struct plan_choices *ch, char **err)
{
	if (c->keyref.hsm || !ch->create_key)
		*err = xasprintf(_("cannot build a plan: a vault azcmk creates "
				   "is a key vault with a new key in it"));
	else if (!c->tenant)
		*err = xasprintf(_("cannot build a plan: the tenant you are "
				   "signed in to is not known, and a new key "
				   "vault needs it"));
	else if (!c->confirmed)
		*err = xasprintf(
			_("cannot build a plan: creating key vault %s turns "
			  "purge protection on, which cannot be undone (its "
			  "name stays taken for 90 days after a delete); "
			  "confirm with --confirm-irreversible"),
			c->keyref.vault ? c->keyref.vault : "?");
	return *err == NULL;
}

/*
 * Builds the ordered plan for the context's key and identity: identity,
 * vault fixes, key, access, wait, save, verify. Refuses (with the reasons)
 * when a blocker cannot be fixed by a step or needs a confirmation.
 */
int plan_build(const struct cmk_ctx *c, const struct cmk_report *r,
	       const struct plan_choices *ch, struct plan *out, char **err)
{
	bool grant;
	/* Turning the system-assigned identity off needs a step only when the
	 * resource has one. */
	bool drop_system =
		ch->system_off && jx_str(c->resource, "identity.principalId");
	int identity_step = -1;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (!c->keyref.vault_uri || (!c->keyref.name && !ch->create_key)) {
		*err = xstrdup(
			_("cannot build a plan: name the key (--key URI, or "
			  "--vault and --key), or let azcmk create one"));
		return -1;
	}
	if (c->user_identity && !c->uai_id) {
		*err = xasprintf(
			_("cannot build a plan: the key setting of %s names a "
			  "user-assigned identity by a client id that no "
			  "identity attached to it has; attach that identity, "
			  "or choose one with --identity"),
			jx_str(c->resource, "name"));
		return -1;
	}
	if (!plan_possible(c, r, ch, err))
		return -1;
	grant = failed(r, "identity.key-access") ||
		failed(r, "identity.enabled") ||
		(ch->create_key && c->key_status != 200);
	if (drop_system && !system_off_possible(c, err))
		return -1;
	if (ch->vault_location && !new_vault_possible(c, ch, err))
		return -1;
	if (ch->grant_vault && c->keyref.hsm) {
		*err = xasprintf(
			_("cannot build a plan: managed HSM %s grants its "
			  "local "
			  "role on a key only; leave out --grant-scope vault"),
			c->keyref.vault ? c->keyref.vault : "?");
		return -1;
	}
	plan_fields(out, c, ch);
	if (ch->vault_location)
		new_vault_steps(out, c);
	if (failed(r, "identity.enabled")) {
		add(out, STEP_ENABLE_IDENTITY);
		identity_step = (int)out->n - 1;
	}
	vault_steps(out, r);
	if (ch->create_key)
		key_step(out, c, ch);
	if (grant) {
		grant_step(out, c, identity_step);
		add(out, STEP_WAIT_ACCESS);
	}
	save_step(out);
	if (drop_system)
		system_off_step(out);
	verify_step(out);
	for (size_t i = 0; i < out->n; i++)
		out->steps[i].title = plan_step_title(out, out->steps[i].kind);
	derive_all(out, c);
	if (!plan_check(out, err)) {
		char *why = *err;

		*err = xasprintf(_("cannot build a plan: %s"), why);
		free(why);
		plan_free(out);
		return -1;
	}
	seal(out);
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
	free(p->vault_id);
	key_ref_free(&p->keyref);
	free(p->uai_id);
	free(p->uai_client_id);
	free(p->role);
	free(p->vault_location);
	free(p->vault_tenant);
	free(p->operator_id);
	memset(p, 0, sizeof(*p));
}

/* Adds a string member when the value is set. */
static void add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

/* Serialises one step: its kind, title and expectation, and for the reader the
 * request it derives to. */
static struct json_object *step_to_json(const struct plan_step *s)
{
	struct json_object *j = json_object_new_object();

	add_str(j, "step", s->id);
	add_str(j, "title", s->title);
	add_str(j, "method", s->method);
	add_str(j, "url", s->url);
	add_str(j, "apiVersion", s->api_version);
	add_str(j, "target",
		s->target == TARGET_KEYVAULT ? "keyvault"
		: s->target == TARGET_ARM    ? "arm"
					     : "none");
	json_object_object_add(j, "body", jx_copy(s->body));
	add_str(j, "read", s->read_url);
	add_str(j, "expectPath", s->expect_path);
	json_object_object_add(j, "expect", jx_copy(s->expect));
	json_object_object_add(j, "reversible",
			       json_object_new_boolean(s->reversible));
	json_object_object_add(j, "dependsOn", json_object_new_int(s->depends));
	return j;
}

/* Serialises a plan (the file azcmk plan --file writes and azcmk apply reads).
 */
struct json_object *plan_to_json(const struct plan *p)
{
	struct json_object *o = json_object_new_object(),
			   *steps = json_object_new_array();

	json_object_object_add(o, "format",
			       json_object_new_string(PLAN_FORMAT));
	add_str(o, "id", p->id);
	add_str(o, "resource", p->resource_id);
	add_str(o, "service", p->svc->key);
	add_str(o, "vault", p->vault_id);
	add_str(o, "vaultUri", p->keyref.vault_uri);
	add_str(o, "keyName", p->keyref.name);
	add_str(o, "keyVersion", p->keyref.version);
	add_str(o, "userAssignedIdentity", p->uai_id);
	add_str(o, "userAssignedClientId", p->uai_client_id);
	add_str(o, "role", p->role);
	if (p->vault_location) {
		struct json_object *v = json_object_new_object();

		add_str(v, "location", p->vault_location);
		add_str(v, "tenantId", p->vault_tenant);
		add_str(v, "operator", p->operator_id);
		json_object_object_add(o, "createVault", v);
	}
	if (p->grant_vault)
		add_str(o, "grantScope", "vault");
	if (p->key_size)
		json_object_object_add(o, "keySize",
				       json_object_new_int(p->key_size));
	if (p->resave)
		json_object_object_add(o, "resave",
				       json_object_new_boolean(true));
	if (p->new_version)
		json_object_object_add(o, "newKeyVersion",
				       json_object_new_boolean(true));
	for (size_t i = 0; i < p->n; i++)
		json_object_array_add(steps, step_to_json(&p->steps[i]));
	json_object_object_add(o, "steps", steps);
	return o;
}

/* Returns a copy of a string member, or NULL. */
static char *dup_str(struct json_object *o, const char *k)
{
	return jx_str(o, k) ? xstrdup(jx_str(o, k)) : NULL;
}

/* Finds a step kind by its stable name; -1 when unknown. */
static int kind_of(const char *name)
{
	for (size_t i = 0;
	     name && i < sizeof(STEP_NAMES) / sizeof(STEP_NAMES[0]); i++)
		if (strcmp(name, STEP_NAMES[i]) == 0)
			return (int)i;
	return -1;
}

/* Reads one step back: its kind, title and the value it expects; false when the
 * kind is not one of ours. */
static bool step_from_json(const struct plan *p, struct json_object *j,
			   struct plan_step *s)
{
	int k = kind_of(jx_str(j, "step"));
	const char *read_url, *path;

	memset(s, 0, sizeof(*s));
	if (k < 0)
		return false;
	s->kind = (enum step_kind)k;
	s->id = STEP_NAMES[k];
	s->title = plan_step_title(p, s->kind);
	s->reversible = reversible(s->kind, p->svc);
	s->depends = (int)jx_int(j, "dependsOn", -1);
	path = plan_guard_path(p, s->kind, &read_url);
	s->read_url = path && read_url ? xstrdup(read_url) : NULL;
	s->expect_path = path ? xstrdup(path) : NULL;
	s->expect = path ? jx_copy(jx_get(j, "expect")) : NULL;
	return true;
}

/* Reads the plan's typed fields; false when the file is not a plan of this
 * format. */
static bool fields_from_json(struct json_object *o, struct plan *out)
{
	if (!str_ieq(jx_str(o, "format"), PLAN_FORMAT) ||
	    !jx_str(o, "resource") || !svc_by_key(jx_str(o, "service")) ||
	    !json_object_is_type(jx_get(o, "steps"), json_type_array) ||
	    !jx_str(o, "id"))
		return false;
	out->svc = svc_by_key(jx_str(o, "service"));
	out->id = dup_str(o, "id");
	out->resource_id = dup_str(o, "resource");
	out->vault_id = dup_str(o, "vault");
	out->uai_id = dup_str(o, "userAssignedIdentity");
	out->uai_client_id = dup_str(o, "userAssignedClientId");
	out->role = dup_str(o, "role");
	out->key_size = (int)jx_int(o, "keySize", 0);
	out->resave = jx_bool(o, "resave", false);
	out->new_version = jx_bool(o, "newKeyVersion", false);
	out->grant_vault = str_ieq(jx_str(o, "grantScope"), "vault");
	out->vault_location = dup_str(o, "createVault.location");
	out->vault_tenant = dup_str(o, "createVault.tenantId");
	out->operator_id = dup_str(o, "createVault.operator");
	if (jx_get(o, "createVault") &&
	    (!out->vault_location || !out->vault_tenant))
		return false;
	/* The scope is "key" (the default, also when absent) or "vault". */
	return !jx_get(o, "grantScope") || out->grant_vault ||
	       str_ieq(jx_str(o, "grantScope"), "key");
}

/*
 * Reads the plan's key through the one key parser: a vault or managed HSM
 * URI on a cloud azcmk knows, a key name and a version Key Vault could have
 * made, or "{{keyVersion}}" for the key the plan creates. A plan file is
 * untrusted input; anything else is refused with the reason.
 */
static bool key_from_json(struct json_object *o, struct plan *out, char **err)
{
	const char *ver = jx_str(o, "keyVersion"), *why = NULL;
	bool pending = ver && strcmp(ver, "{{keyVersion}}") == 0;

	if (!jx_str(o, "vaultUri") ||
	    !key_ref_from_parts_any(jx_str(o, "vaultUri"), jx_str(o, "keyName"),
				    pending ? NULL : ver, &out->keyref, &why) ||
	    (ver && !*ver)) {
		*err = xasprintf(_("azcmk does not apply this plan: its key is "
				   "not one azcmk can use: %s"),
				 why ? _(why) : _("it names no vault"));
		key_ref_free(&out->keyref);
		return false;
	}
	if (pending)
		out->keyref.version = xstrdup(ver);
	return true;
}

/*
 * Checks that what a step of the file says it sends is what its kind derives
 * to; a plan asking any other method or URL was not written by azcmk plan.
 */
static bool request_matches(const struct plan *p, size_t i,
			    struct json_object *j, char **err)
{
	struct json_object *vars = json_object_new_object(),
			   *body = jx_get(j, "body");
	const char *principal = jx_str(body, "properties.principalId");
	struct step_state st = { NULL, NULL, vars };
	struct step_request q;
	bool ok;

	if (!principal)
		principal = jx_str(
			jx_at(jx_get(body, "properties.accessPolicies"), 0),
			"objectId");
	if (plan_var_ok("principalId", principal))
		json_object_object_add(vars, "principalId",
				       json_object_new_string(principal));
	plan_request(p, i, &st, &q);
	ok = (!q.method && !jx_str(j, "method") && !jx_str(j, "url")) ||
	     (q.method && jx_str(j, "method") && jx_str(j, "url") &&
	      strcmp(q.method, jx_str(j, "method")) == 0 &&
	      strcmp(q.url, jx_str(j, "url")) == 0);
	if (!ok) {
		char *said = text_sanitize(
			jx_str(j, "url") ? jx_str(j, "url") : "", false);

		*err = xasprintf(
			_("step %zu (%s) asks for %s %s, but a step of that "
			  "kind may only send %s %s: the plan was "
			  "not written this way by azcmk plan; make a new "
			  "plan"),
			i + 1, plan_step_name(p->steps[i].kind),
			jx_str(j, "method") ? jx_str(j, "method") : "-", said,
			q.method ? q.method : "-", q.url ? q.url : "-");
		free(said);
	}
	step_request_free(&q);
	json_object_put(vars);
	return ok;
}

/* Checks the plan's id against the digest of its content. */
static bool digest_matches(struct json_object *o, const struct plan *p,
			   char **err)
{
	char *d = plan_digest(o);
	bool ok = p->id && strcmp(d, p->id) == 0;

	if (!ok)
		*err = xstrdup(_("the plan was changed after azcmk plan wrote "
				 "it (its content no longer matches its id); a "
				 "plan is applied only as it was reviewed: "
				 "make a new plan with azcmk plan"));
	free(d);
	return ok;
}

/*
 * Reads a plan file back and holds it to what azcmk plan writes: the format,
 * the digest, typed fields of the right shape, steps in plan order, and each
 * step's request the one its kind derives to. The steps' method, URL and body
 * are then the derived ones, never the file's.
 */
int plan_from_json(struct json_object *o, struct plan *out, char **err)
{
	struct json_object *steps = jx_get(o, "steps");
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!fields_from_json(o, out)) {
		*err = str_istarts(jx_str(o, "format"), "azcmk-plan/") &&
				       !str_ieq(jx_str(o, "format"),
						PLAN_FORMAT)
			       ? xstrdup(_("this plan was written by another "
					   "version of azcmk; make it again "
					   "with azcmk plan"))
			       : xasprintf(_("this is not an azcmk plan "
					     "(format %s)"),
					   PLAN_FORMAT);
		plan_free(out);
		return -1;
	}
	if (!key_from_json(o, out, err)) {
		plan_free(out);
		return -1;
	}
	out->steps =
		xcalloc(jx_len(steps) ? jx_len(steps) : 1, sizeof(*out->steps));
	for (size_t i = 0; rc == 0 && i < jx_len(steps); i++, out->n = i)
		if (!step_from_json(out, jx_at(steps, i), &out->steps[i])) {
			*err = xasprintf(_("step %zu of the plan is not one "
					   "azcmk knows"),
					 i + 1);
			rc = -1;
		}
	if (rc == 0 && !digest_matches(o, out, err))
		rc = -1;
	if (rc == 0 && !plan_check(out, err)) {
		char *why = *err;

		*err = xasprintf(_("azcmk does not apply this plan: %s"), why);
		free(why);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < out->n; i++) {
		struct step_request q;

		if (!request_matches(out, i, jx_at(steps, i), err)) {
			rc = -1;
			break;
		}
		/* The body is kept for the exports only (no review of a file
		 * shows it): apply derives every body again from live state,
		 * and the title was derived from the typed fields above. */
		plan_request(out, i, NULL, &q);
		out->steps[i].method = q.method;
		out->steps[i].url = dup_str(
			jx_at(steps, i),
			"url"); /* equal to the derived one, checked above */
		out->steps[i].api_version = q.api_version;
		out->steps[i].target = q.target;
		out->steps[i].body = jx_copy(jx_get(jx_at(steps, i), "body"));
		free(q.url);
		json_object_put(q.body);
	}
	if (rc != 0)
		plan_free(out);
	return rc;
}

/* Replaces {{name}} placeholders with values from vars (unknown ones stay as
 * they are). */
char *plan_fill(const char *text, struct json_object *vars)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = text ? text : ""; *p;) {
		const char *open = strstr(p, "{{"),
			   *close = open ? strstr(open + 2, "}}") : NULL;
		char *name;

		if (!close) {
			sb_adds(&b, p);
			break;
		}
		/* A stray "{{" before a placeholder is text: the placeholder
		 * opens at the last "{{" before "}}". */
		for (const char *again;
		     (again = strstr(open + 2, "{{")) != NULL && again < close;)
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

/* Appends one "path: before -> after" line to the review (values sanitized:
 * they may come from Azure). */
static void diff_line(const char *path, struct json_object *old,
		      struct json_object *v, void *b)
{
	char *before = old ? text_sanitize(jx_text(old), false)
			   : xstrdup(_("(absent)"));
	char *after = text_sanitize(v ? jx_text(v) : "null", false);

	sb_printf(b, "       %s: %s -> %s\n", path, before, after);
	free(before);
	free(after);
}

/* Tells whether a plan has a step of a kind. */
static bool has_step(const struct plan *p, enum step_kind k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].kind == k)
			return true;
	return false;
}

/* Adds what the operator should know before applying: where the documents
 * disagree on the role, the service's caution. */
static void plan_render_notes(const struct plan *p, struct sbuf *b)
{
	if (p->svc->docs_role_note && !p->keyref.hsm &&
	    (has_step(p, STEP_ASSIGN_ROLE) || has_step(p, STEP_ACCESS_POLICY)))
		sb_printf(b, _("Note: %s\n"), _(p->svc->docs_role_note));
	if (p->svc->caution && has_step(p, STEP_SAVE_KEY))
		sb_printf(b, _("Caution: %s\n"), _(p->svc->caution));
}

/*
 * Renders the plan for a person: each step with method, URL, irreversible
 * mark, and a before -> after diff (with bodies, also the whole body sent).
 */
char *plan_render_text(const struct plan *p, const struct cmk_ctx *c,
		       bool bodies)
{
	struct sbuf b = SBUF_INIT;

	/* The first 16 digits of the digest name the plan for a person, as a
	 * short commit hash does. */
	char *res = text_sanitize(p->resource_id, false);

	sb_printf(&b, _("Plan %.16s for %s (%s)\n"), p->id, res,
		  _(p->svc->name));
	free(res);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		struct json_object *now =
			s->kind <= STEP_FIREWALL_BYPASS &&
					s->kind != STEP_ENABLE_IDENTITY
				? c->vault
				: c->resource;
		struct json_object *after_identity = NULL;

		/* Turning the system-assigned identity off is judged against
		 * the identity the earlier step leaves. */
		for (size_t k = 0;
		     s->kind == STEP_DISABLE_SYSTEM_IDENTITY && k < i; k++)
			if (p->steps[k].kind == STEP_ENABLE_IDENTITY &&
			    !after_identity) {
				now = after_identity = jx_copy(c->resource);
				jx_merge_patch(after_identity,
					       p->steps[k].body);
			}

		char *title = text_sanitize(s->title ? s->title : s->id, false);

		sb_printf(&b, "%2zu. %s%s\n", i + 1, title,
			  s->reversible ? "" : _(" [irreversible]"));
		free(title);
		if (s->method)
			sb_printf(&b, "       %s %s\n", s->method, s->url);
		if (s->body && (s->kind == STEP_SAVE_KEY ||
				s->kind <= STEP_FIREWALL_BYPASS ||
				s->kind == STEP_DISABLE_SYSTEM_IDENTITY))
			jx_changes(s->body, now, diff_line, &b);
		if (s->body &&
		    (bodies || !(s->kind == STEP_SAVE_KEY ||
				 s->kind <= STEP_FIREWALL_BYPASS ||
				 s->kind == STEP_DISABLE_SYSTEM_IDENTITY))) {
			char *body = text_sanitize(jx_text(s->body), false);

			sb_printf(&b, "       %s\n", body);
			free(body);
		}
		json_object_put(after_identity);
	}
	plan_render_notes(p, &b);
	return sb_steal(&b);
}
