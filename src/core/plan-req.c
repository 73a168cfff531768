/* What each plan step sends, derived from its kind and the plan's typed fields
 * alone; the plan's digest and checks. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "actions.h"
#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"
#include "xalloc.h"

#define AUTHZ_PROVIDER "/providers/Microsoft.Authorization/roleAssignments/"

/*
 * The order steps take in a plan (a rank per kind); a plan whose steps are
 * out of this order, or repeat a kind, was not written by plan_build.
 */
static const int RANK[STEP_KIND_COUNT] = {
	[STEP_CREATE_VAULT] = 0,
	[STEP_GRANT_OPERATOR] = 1,
	[STEP_ENABLE_IDENTITY] = 2,
	[STEP_ENABLE_SOFT_DELETE] = 3,
	[STEP_ENABLE_PURGE_PROTECTION] = 4,
	[STEP_FIREWALL_BYPASS] = 5,
	[STEP_CREATE_KEY] = 6,
	[STEP_ASSIGN_ROLE] = 7,
	[STEP_ACCESS_POLICY] = 7,
	[STEP_WAIT_ACCESS] = 8,
	[STEP_SAVE_KEY] = 9,
	[STEP_DISABLE_SYSTEM_IDENTITY] = 10,
	[STEP_VERIFY] = 11,
};

/*
 * Returns the body of the PUT that creates a key vault as the Conformity
 * rule's first remediation step asks: Azure RBAC, soft delete kept 90 days,
 * purge protection, standard SKU, in the region and tenant given (the
 * Vaults_CreateOrUpdate body of Microsoft's createVault.json example,
 * azure-rest-api-specs keyvault/resource-manager, 2024-11-01).
 */
struct json_object *plan_vault_body(const char *location, const char *tenant)
{
	struct json_object *b = json_object_new_object();

	jx_set(b, "location", json_object_new_string(location ? location : ""));
	jx_set(b, "properties.tenantId",
	       json_object_new_string(tenant ? tenant : ""));
	jx_set(b, "properties.sku.family", json_object_new_string("A"));
	jx_set(b, "properties.sku.name", json_object_new_string("standard"));
	jx_set(b, "properties.enableRbacAuthorization",
	       json_object_new_boolean(true));
	jx_set(b, "properties.enableSoftDelete", json_object_new_boolean(true));
	jx_set(b, "properties.softDeleteRetentionInDays",
	       json_object_new_int(90));
	jx_set(b, "properties.enablePurgeProtection",
	       json_object_new_boolean(true));
	return b;
}

/* Returns the vault a plan creates as ARM will show it once made: the
 * body, its id, name, type and URI (what the rules judge before it exists). */
struct json_object *plan_vault_planned(const char *vault_id,
				       const char *vault_uri,
				       const char *location, const char *tenant)
{
	struct json_object *v = plan_vault_body(location, tenant);
	const char *name = vault_id ? strrchr(vault_id, '/') : NULL;

	jx_set(v, "id", json_object_new_string(vault_id ? vault_id : ""));
	jx_set(v, "name", json_object_new_string(name ? name + 1 : ""));
	jx_set(v, "type", json_object_new_string("Microsoft.KeyVault/vaults"));
	jx_set(v, "properties.vaultUri",
	       json_object_new_string(vault_uri ? vault_uri : ""));
	jx_set(v, "properties.publicNetworkAccess",
	       json_object_new_string("Enabled"));
	return v;
}

/* Tells whether a name is one Key Vault takes for a vault: 3 to 24 letters,
 * digits and dashes, a letter first, no dash last, no two dashes in a row. */
bool plan_vault_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 3 || n > 24 || !isalpha((unsigned char)name[0]) ||
	    name[n - 1] == '-' || strstr(name, "--"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return false;
	return true;
}

/* Tells whether a region name has the shape ARM gives them ("westeurope"). */
static bool region_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]))
			return false;
	return n > 0 && n <= 40;
}

/* Tells whether a value a step learns at apply time has the shape it must have
 * before it goes into a URL or body. */
bool plan_var_ok(const char *name, const char *value)
{
	if (!value)
		return false;
	if (strcmp(name, "principalId") == 0 ||
	    strcmp(name, "assignmentName") == 0)
		return is_uuid(value);
	if (strcmp(name, "keyVersion") == 0)
		return plan_key_name_ok(value);
	return false;
}

/* Derives the grant of Key Vault Crypto Officer on the vault the plan creates
 * to the operator who planned it (its principal type left for Azure to
 * find: the operator may be a user or an application). */
static void operator_request(const struct plan *p, struct step_request *out)
{
	struct armid a;
	char *role = armid_parse(p->vault_id, &a)
			     ? xasprintf("/subscriptions/%s/providers/"
					 "Microsoft.Authorization/"
					 "roleDefinitions/" ROLE_CRYPTO_OFFICER,
					 a.subscription)
			     : NULL;
	char *name = plan_assignment_name(p->vault_id, p->operator_id,
					  ROLE_CRYPTO_OFFICER);

	if (role)
		armid_free(&a);
	out->method = "PUT";
	out->url = xasprintf("%s" AUTHZ_PROVIDER "%s", p->vault_id, name);
	out->api_version = PLAN_AUTHZ_API;
	out->target = TARGET_ARM;
	out->body = json_object_new_object();
	jx_set(out->body, "properties.roleDefinitionId",
	       json_object_new_string(role ? role : ""));
	jx_set(out->body, "properties.principalId",
	       json_object_new_string(p->operator_id ? p->operator_id : ""));
	free(role);
	free(name);
}

/* Returns a learned value when it is well formed, else NULL (a placeholder
 * stays in its place). */
static const char *var(const struct step_state *st, const char *name)
{
	const char *v = st && st->vars ? jx_str(st->vars, name) : NULL;

	return plan_var_ok(name, v) ? v : NULL;
}

/* Tells whether a key or key-version name is one Key Vault could have made: 1
 * to 127 letters, digits and dashes. */
bool plan_key_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 127)
		return false;
	return strspn(name, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
			    "OPQRSTUVWXYZ-") == n;
}

/* Returns the deterministic role-assignment name for a scope, principal and
 * role (a UUID v5 of the three). */
char *plan_assignment_name(const char *scope, const char *principal,
			   const char *role)
{
	char *seed = xasprintf("%s|%s|%s", scope, principal, role),
	     name[UUID_STRLEN];

	uuid_from_name(seed, name);
	free(seed);
	return xstrdup(name);
}

/*
 * Builds the identity the resource should have: what it has now plus the
 * plan's user-assigned identity, keeping the system-assigned identity when
 * keep_system is set and the resource has it (or no user-assigned one is
 * chosen).
 */
struct json_object *plan_identity(const struct plan *p,
				  struct json_object *resource,
				  bool keep_system)
{
	struct json_object *id = json_object_new_object(),
			   *map = json_object_new_object();
	struct json_object *cur =
		jx_get(resource, "identity.userAssignedIdentities");
	bool sys = keep_system &&
		   (jx_str(resource, "identity.principalId") || !p->uai_id);

	if (json_object_is_type(cur, json_type_object)) {
		json_object_object_foreach(cur, k, v)
		{
			(void)v;
			json_object_object_add(map, k,
					       json_object_new_object());
		}
	}
	if (p->uai_id && !jx_iget(map, p->uai_id))
		json_object_object_add(map, p->uai_id,
				       json_object_new_object());
	json_object_object_add(
		id, "type",
		json_object_new_string(sys && json_object_object_length(map)
					       ? p->svc->both_identities
				       : sys ? "SystemAssigned"
					     : "UserAssigned"));
	if (json_object_object_length(map))
		json_object_object_add(id, "userAssignedIdentities", map);
	else
		json_object_put(map);
	return id;
}

/* Returns a body of the form {"identity": ...}. */
static struct json_object *identity_body(const struct plan *p,
					 struct json_object *resource,
					 bool keep_system)
{
	struct json_object *b = json_object_new_object();

	json_object_object_add(b, "identity",
			       plan_identity(p, resource, keep_system));
	return b;
}

/* Returns the firewall body: the vault's network rules as they are now, with
 * trusted Microsoft services let through. */
static struct json_object *firewall_body(struct json_object *vault)
{
	struct json_object *acls = jx_copy(
				   jx_get(vault, "properties.networkAcls")),
			   *b = json_object_new_object();

	if (!json_object_is_type(acls, json_type_object)) {
		json_object_put(acls);
		acls = json_object_new_object();
	}
	json_object_object_add(acls, "bypass",
			       json_object_new_string("AzureServices"));
	jx_set(b, "properties.networkAcls", acls);
	return b;
}

/* Returns the body that creates the key: RSA of the plan's size, wrap and
 * unwrap only, tagged with the plan's mark. */
static struct json_object *create_body(const struct plan *p)
{
	struct json_object *b = json_object_new_object(),
			   *tags = json_object_new_object();
	char *mark = plan_mark(p);

	json_object_object_add(b, "kty", json_object_new_string("RSA"));
	json_object_object_add(b, "key_size", json_object_new_int(p->key_size));
	json_object_object_add(
		b, "key_ops",
		json_tokener_parse("[\"wrapKey\",\"unwrapKey\"]"));
	json_object_object_add(tags, PLAN_TAG, json_object_new_string(mark));
	json_object_object_add(b, "tags", tags);
	free(mark);
	return b;
}

/* Fills the role assignment (ARM or Managed HSM): its URL, named as apply names
 * it, and its body. */
static void grant_request(const struct plan *p, const struct step_state *st,
			  struct step_request *out)
{
	const char *principal = var(st, "principalId");
	char *scope, *name, *role_id;
	struct armid a;

	if (p->keyref.hsm) {
		scope = key_ref_url(&p->keyref, NULL);
		role_id = xstrdup(
			"Microsoft.KeyVault/providers/Microsoft.Authorization/"
			"roleDefinitions"
			"/" ROLE_HSM_CRYPTO_SERVICE_ENCRYPTION_USER);
		out->target = TARGET_KEYVAULT;
		out->api_version = PLAN_KV_API;
	} else {
		scope = p->grant_vault
				? xstrdup(p->vault_id)
				: key_ref_arm_id(&p->keyref, p->vault_id);
		role_id = armid_parse(p->vault_id, &a)
				  ? xasprintf("/subscriptions/%s/providers/"
					      "Microsoft.Authorization/"
					      "roleDefinitions/%s",
					      a.subscription, p->role)
				  : NULL;
		if (role_id)
			armid_free(&a);
		out->api_version = PLAN_AUTHZ_API;
	}
	name = principal
		       ? plan_assignment_name(
				 scope, principal,
				 p->keyref.hsm
					 ? ROLE_HSM_CRYPTO_SERVICE_ENCRYPTION_USER
					 : p->role)
		       : xstrdup("{{assignmentName}}");
	out->method = "PUT";
	out->url = xasprintf("%s" AUTHZ_PROVIDER "%s", scope, name);
	out->body = json_object_new_object();
	jx_set(out->body, "properties.roleDefinitionId",
	       json_object_new_string(role_id ? role_id : ""));
	jx_set(out->body, "properties.principalId",
	       json_object_new_string(principal ? principal
						: "{{principalId}}"));
	if (!p->keyref.hsm)
		jx_set(out->body, "properties.principalType",
		       json_object_new_string("ServicePrincipal"));
	free(scope);
	free(name);
	free(role_id);
}

/* Fills the access policy that lets the service's principal get, wrap and
 * unwrap keys. */
static void policy_request(const struct plan *p, const struct step_state *st,
			   struct step_request *out)
{
	const char *principal = var(st, "principalId"),
		   *tenant =
			   st ? jx_str(st->vault, "properties.tenantId") : NULL;
	struct json_object *e = json_object_new_object(),
			   *list = json_object_new_array();

	json_object_object_add(
		e, "objectId",
		json_object_new_string(principal ? principal
						 : "{{principalId}}"));
	jx_set(e, "permissions.keys",
	       json_tokener_parse("[\"get\",\"wrapKey\",\"unwrapKey\"]"));
	json_object_object_add(e, "tenantId",
			       json_object_new_string(tenant && is_uuid(tenant)
							      ? tenant
							      : ""));
	json_object_array_add(list, e);
	out->method = "PUT";
	out->url = xasprintf("%s/accessPolicies/add", p->vault_id);
	out->api_version = PLAN_VAULT_API;
	out->body = json_object_new_object();
	jx_set(out->body, "properties.accessPolicies", list);
}

/* Fills the save of the key on the resource: the body per service, with the
 * version learned if the plan makes one. */
static void save_request(const struct plan *p, const struct step_state *st,
			 struct step_request *out)
{
	const char *ver = p->keyref.version;
	struct json_object *res;

	if (ver && strcmp(ver, "{{keyVersion}}") == 0 && var(st, "keyVersion"))
		ver = var(st, "keyVersion");
	out->method = p->svc->shape->whole ? "PUT" : "PATCH";
	out->url = xstrdup(p->resource_id);
	out->api_version = p->svc->api_version;
	res = st && st->resource ? json_object_get(st->resource)
				 : json_object_new_object();
	out->body = plan_save_body(p->svc, res, &p->keyref, ver, p->uai_id,
				   p->uai_client_id);
	json_object_put(res);
}

/* Fills a PATCH of the vault with a fixed body. */
static void vault_patch(const struct plan *p, const char *body,
			struct step_request *out)
{
	out->method = "PATCH";
	out->url = xstrdup(p->vault_id);
	out->api_version = PLAN_VAULT_API;
	out->body = json_tokener_parse(body);
}

/*
 * Derives what step i of the plan sends from its kind, the plan's typed
 * fields and the live state (the resource and vault as read now, the values
 * learned so far). Nothing of a step's own method, URL or body in a plan file
 * is used: this is the only place a request of a plan is made.
 */
void plan_request(const struct plan *p, size_t i, const struct step_state *st,
		  struct step_request *out)
{
	struct json_object *res = st ? st->resource : NULL;

	memset(out, 0, sizeof(*out));
	out->target = TARGET_ARM;
	switch (p->steps[i].kind) {
	case STEP_ENABLE_IDENTITY:
	case STEP_DISABLE_SYSTEM_IDENTITY:
		out->method = "PATCH";
		out->url = xstrdup(p->resource_id);
		out->api_version = p->svc->api_version;
		out->body = identity_body(
			p, res, p->steps[i].kind == STEP_ENABLE_IDENTITY);
		break;
	case STEP_ENABLE_SOFT_DELETE:
		vault_patch(p, "{\"properties\":{\"enableSoftDelete\":true}}",
			    out);
		break;
	case STEP_ENABLE_PURGE_PROTECTION:
		vault_patch(p,
			    "{\"properties\":{\"enablePurgeProtection\":true}}",
			    out);
		break;
	case STEP_FIREWALL_BYPASS:
		vault_patch(p, "{}", out);
		json_object_put(out->body);
		out->body = firewall_body(st ? st->vault : NULL);
		break;
	case STEP_CREATE_KEY:
		out->method = "POST";
		out->url = key_ref_url(&p->keyref, "/create");
		out->api_version = PLAN_KV_API;
		out->target = TARGET_KEYVAULT;
		out->body = create_body(p);
		break;
	case STEP_ASSIGN_ROLE:
		grant_request(p, st, out);
		break;
	case STEP_GRANT_OPERATOR:
		operator_request(p, out);
		break;
	case STEP_CREATE_VAULT:
		out->method = "PUT";
		out->url = xstrdup(p->vault_id);
		out->api_version = PLAN_VAULT_API;
		out->body = plan_vault_body(p->vault_location, p->vault_tenant);
		break;
	case STEP_ACCESS_POLICY:
		policy_request(p, st, out);
		break;
	case STEP_SAVE_KEY:
		save_request(p, st, out);
		break;
	case STEP_VERIFY:
		out->method = "GET";
		out->url = xstrdup(p->resource_id);
		out->api_version = p->svc->api_version;
		break;
	case STEP_WAIT_ACCESS:
	default:
		out->target = TARGET_NONE;
		break;
	}
}

/* Frees what plan_request filled. */
void step_request_free(struct step_request *r)
{
	free(r->url);
	json_object_put(r->body);
	memset(r, 0, sizeof(*r));
}

/* Returns the mark a key version made by this plan carries: a UUID of what the
 * plan changes, stable across re-plans. */
char *plan_mark(const struct plan *p)
{
	char *seed = xasprintf("azcmk-create|%s|%s|%s", p->resource_id,
			       p->keyref.vault_uri, p->keyref.name),
	     id[UUID_STRLEN];

	uuid_from_name(seed, id);
	free(seed);
	return xstrdup(id);
}

/* Appends a JSON value with object members in sorted order (a canonical text
 * for the digest). */
static void canonical(struct sbuf *b, struct json_object *o);

/* Compares two object member names for qsort. */
static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends an object's members in sorted order. */
static void canonical_object(struct sbuf *b, struct json_object *o)
{
	size_t n = (size_t)json_object_object_length(o), k = 0;
	const char **names = xcalloc(n ? n : 1, sizeof(*names));

	json_object_object_foreach(o, name, v)
	{
		(void)v;
		names[k++] = name;
	}
	qsort(names, n, sizeof(*names), by_name);
	sb_addc(b, '{');
	for (size_t i = 0; i < n; i++) {
		struct json_object *key = json_object_new_string(names[i]);

		sb_printf(b, "%s%s:", i ? "," : "",
			  json_object_to_json_string_ext(
				  key, JSON_C_TO_STRING_PLAIN));
		json_object_put(key);
		canonical(b, json_object_object_get(o, names[i]));
	}
	sb_addc(b, '}');
	free(names);
}

/* Appends a JSON value with object members in sorted order (a canonical text
 * for the digest). */
static void canonical(struct sbuf *b, struct json_object *o)
{
	if (json_object_is_type(o, json_type_object)) {
		canonical_object(b, o);
	} else if (json_object_is_type(o, json_type_array)) {
		sb_addc(b, '[');
		for (size_t i = 0; i < jx_len(o); i++) {
			if (i)
				sb_addc(b, ',');
			canonical(b, jx_at(o, i));
		}
		sb_addc(b, ']');
	} else {
		sb_adds(b,
			o ? json_object_to_json_string_ext(
				    o, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE)
			  : "null");
	}
}

/*
 * Returns the digest of a plan file's content: SHA-256, in hex, of its
 * canonical JSON without the "id" member. A plan's id is this digest, so a
 * plan edited after it was written no longer matches its id.
 */
char *plan_digest(struct json_object *plan_json)
{
	struct sbuf b = SBUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct json_object *copy = jx_copy(plan_json);
	char *hex;

	if (json_object_is_type(copy, json_type_object))
		json_object_object_del(copy, "id");
	canonical(&b, copy);
	json_object_put(copy);
	if (!EVP_Digest(sb_str(&b), b.len, md, &n, EVP_sha256(), NULL))
		n = 0;
	sb_free(&b);
	hex = xcalloc(2 * n + 1, 1);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/*
 * Tells whether the plan's key is on the vault or HSM its vault id names,
 * going through the one key parser (on any cloud azcmk knows).
 */
static bool key_on_vault(const struct plan *p, const char *vault_name)
{
	struct key_ref k = { 0 };
	const char *why;
	bool ok = p->keyref.vault_uri &&
		  key_ref_from_parts_any(p->keyref.vault_uri, p->keyref.name,
					 NULL, &k, &why);

	ok = ok && str_ieq(k.vault, vault_name) && k.hsm == p->keyref.hsm;
	key_ref_free(&k);
	return ok;
}

/* Checks the plan's typed fields: the resource, vault, key, version, identity
 * and role each of the right shape. */
static bool fields_ok(const struct plan *p, bool creates, char **err)
{
	struct armid v;
	bool ok;

	if (!armid_of_type(p->resource_id, p->svc->arm_type, NULL)) {
		*err = xasprintf(_("its resource is not a %s id"),
				 _(p->svc->name));
		return false;
	}
	if (!armid_of_type(p->vault_id,
			   p->keyref.hsm ? "Microsoft.KeyVault/managedHSMs"
					 : "Microsoft.KeyVault/vaults",
			   &v)) {
		*err = xstrdup(_("its vault is not the ARM id of a key vault "
				 "or managed HSM"));
		return false;
	}
	ok = key_on_vault(p, v.name);
	armid_free(&v);
	if (!ok) {
		*err = xstrdup(_("its vault URI is not the https address of "
				 "the vault it names"));
		return false;
	}
	if (!plan_key_name_ok(p->keyref.name) ||
	    (p->keyref.version && !plan_key_name_ok(p->keyref.version) &&
	     !(creates && strcmp(p->keyref.version, "{{keyVersion}}") == 0))) {
		*err = xstrdup(_("its key name or version is not one Key Vault "
				 "could have made"));
		return false;
	}
	if ((p->uai_id &&
	     !armid_of_type(p->uai_id,
			    "Microsoft.ManagedIdentity/userAssignedIdentities",
			    NULL)) ||
	    (p->uai_client_id && !is_uuid(p->uai_client_id)) ||
	    (!p->keyref.hsm && !is_uuid(p->role)) ||
	    (p->keyref.hsm && p->grant_vault) ||
	    (p->grant_vault &&
	     !str_ieq(p->role, ROLE_CRYPTO_SERVICE_ENCRYPTION_USER)) ||
	    (creates && p->key_size != 2048 && p->key_size != 3072 &&
	     p->key_size != 4096)) {
		*err = xstrdup(
			_("its identity, role or key size is not well formed"));
		return false;
	}
	if ((p->vault_location &&
	     (p->keyref.hsm || !creates || !region_ok(p->vault_location) ||
	      !is_uuid(p->vault_tenant) ||
	      !plan_vault_name_ok(p->keyref.vault))) ||
	    (p->operator_id &&
	     (!p->vault_location || !is_uuid(p->operator_id)))) {
		*err = xstrdup(
			_("the key vault it creates is not well formed"));
		return false;
	}
	return true;
}

/* Checks the step list: known kinds in plan order, none twice, a save and a
 * final verification. */
static bool steps_ok(const struct plan *p, char **err)
{
	int last = -1;
	bool save = false;

	for (size_t i = 0; i < p->n; i++) {
		enum step_kind k = p->steps[i].kind;

		if (RANK[k] <= last ||
		    (k == STEP_CREATE_VAULT) != (i == 0 && p->vault_location) ||
		    (k == STEP_GRANT_OPERATOR) !=
			    (i == 1 && p->operator_id != NULL) ||
		    (k == STEP_CREATE_VAULT && p->steps[i].expect) ||
		    (k == STEP_ACCESS_POLICY && p->keyref.hsm) ||
		    (k == STEP_DISABLE_SYSTEM_IDENTITY && !p->uai_id) ||
		    (p->keyref.hsm && k >= STEP_ENABLE_SOFT_DELETE &&
		     k <= STEP_FIREWALL_BYPASS)) {
			*err = xasprintf(_("step %zu (%s) is not where a plan "
					   "may have it"),
					 i + 1, plan_step_name(k));
			return false;
		}
		last = RANK[k];
		save |= k == STEP_SAVE_KEY;
	}
	if (p->vault_location &&
	    (p->n == 0 || p->steps[0].kind != STEP_CREATE_VAULT)) {
		*err = xstrdup(_("it names a key vault to create but has no "
				 "step that creates it"));
		return false;
	}
	if (!save || p->n == 0 || p->steps[p->n - 1].kind != STEP_VERIFY) {
		*err = xstrdup(_("it does not save a key and end with the "
				 "verification"));
		return false;
	}
	return true;
}

/* Tells whether the plan creates a key. */
bool plan_creates_key(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].kind == STEP_CREATE_KEY)
			return true;
	return false;
}

/*
 * Checks a plan as apply will hold it: typed fields of the right shape and
 * steps in the order and of the kinds a plan may have. Returns false with
 * *err saying what is wrong.
 */
bool plan_check(const struct plan *p, char **err)
{
	return fields_ok(p, plan_creates_key(p), err) && steps_ok(p, err);
}

/* Tells whether every member of a journal line's vars is a known name with a
 * well-formed value. */
static bool vars_ok(struct json_object *vars)
{
	if (!vars)
		return true;
	if (!json_object_is_type(vars, json_type_object))
		return false;
	json_object_object_foreach(vars, k, v)
	{
		if (!json_object_is_type(v, json_type_string) ||
		    !plan_var_ok(k, json_object_get_string(v)))
			return false;
	}
	return true;
}

/*
 * Checks one journal entry against its plan: the plan's id, a known event,
 * well-formed learned values, and (but for the first line, which begins the
 * journal) a step of the plan named by its kind. A journal is untrusted
 * input: anything else was not written by azcmk apply for this plan.
 */
bool plan_journal_entry_ok(const struct plan *p, struct json_object *e,
			   bool first)
{
	static const char *const EVENTS[] = {
		"start", "operation", "operation-location",
		"done",  "failed",    NULL
	};
	const char *ev = jx_str(e, "event");
	int64_t step = jx_int(e, "step", -2);
	bool known = false;

	if (!json_object_is_type(e, json_type_object) || !jx_str(e, "plan") ||
	    !p->id || strcmp(jx_str(e, "plan"), p->id) != 0 || !ev ||
	    !vars_ok(jx_get(e, "vars")))
		return false;
	if (first || strcmp(ev, "begin") == 0)
		return first && strcmp(ev, "begin") == 0 && step == -1;
	for (int i = 0; EVENTS[i]; i++)
		known |= strcmp(ev, EVENTS[i]) == 0;
	if (str_istarts(ev, "operation") && !jx_str(e, "operation"))
		return false;
	return known && step >= 0 && (size_t)step < p->n && jx_str(e, "id") &&
	       strcmp(jx_str(e, "id"), p->steps[step].id) == 0;
}

/* The permission a step needs from the operator: the action, on the vault or on
 * the resource, control or data plane. */
struct need {
	enum step_kind kind;
	const char *action; /* NULL: writing the resource itself (its type's
			       write action) */
	bool vault, data;
	const char *who; /* N_() who usually holds it */
};

static const struct need NEEDS[] = {
	{ STEP_GRANT_OPERATOR, "Microsoft.Authorization/roleAssignments/write",
	  true, false,
	  N_("an Owner, User Access Administrator or Role Based Access Control "
	     "Administrator of the resource group") },
	{ STEP_CREATE_VAULT, "Microsoft.KeyVault/vaults/write", true, false,
	  N_("a Key Vault Contributor, Contributor or Owner of the resource "
	     "group") },
	{ STEP_ENABLE_IDENTITY, NULL, false, false,
	  N_("a Contributor or Owner of the resource") },
	{ STEP_ENABLE_SOFT_DELETE, "Microsoft.KeyVault/vaults/write", true,
	  false, N_("a Key Vault Contributor or Owner of the vault") },
	{ STEP_ENABLE_PURGE_PROTECTION, "Microsoft.KeyVault/vaults/write", true,
	  false, N_("a Key Vault Contributor or Owner of the vault") },
	{ STEP_FIREWALL_BYPASS, "Microsoft.KeyVault/vaults/write", true, false,
	  N_("a Key Vault Contributor or Owner of the vault") },
	{ STEP_CREATE_KEY, "Microsoft.KeyVault/vaults/keys/create/action", true,
	  true,
	  N_("a Key Vault Crypto Officer or Key Vault Administrator of the "
	     "vault") },
	{ STEP_ASSIGN_ROLE, "Microsoft.Authorization/roleAssignments/write",
	  true, false,
	  N_("an Owner, User Access Administrator or Role Based Access Control "
	     "Administrator of the vault") },
	{ STEP_ACCESS_POLICY, "Microsoft.KeyVault/vaults/accessPolicies/write",
	  true, false, N_("a Key Vault Contributor or Owner of the vault") },
	{ STEP_SAVE_KEY, NULL, false, false,
	  N_("a Contributor or Owner of the resource") },
	{ STEP_DISABLE_SYSTEM_IDENTITY, NULL, false, false,
	  N_("a Contributor or Owner of the resource") },
};

/*
 * Judges one need: 1 when the operator's permissions allow it, 0 when they
 * do not, -1 when they could not be read or azcmk cannot judge it here (a
 * managed HSM's local roles). action (size n) gets the action judged.
 */
static int allowed(const struct plan *p, const struct cmk_ctx *c,
		   const struct need *need, char *action, size_t n)
{
	struct json_object *perms =
		need->vault ? c->operator_perms : c->resource_perms;
	long status = need->vault ? c->perms_status : c->resource_perms_status;

	if (need->action)
		snprintf(action, n, "%s", need->action);
	else
		snprintf(action, n, "%s/write", p->svc->arm_type);
	if (need->vault && p->keyref.hsm)
		return -1;
	if (need->kind == STEP_CREATE_KEY &&
	    !jx_bool(c->vault, "properties.enableRbacAuthorization", false)) {
		snprintf(action, n, "%s",
			 _("the key permission create in an access policy"));
		return c->vault ? cmk_policy_allows(c->vault, c->operator_id,
						    (const char *const[]){
							    "create", NULL })
				: -1;
	}
	/* The plan's own grant on the vault it creates lets you make keys. */
	if (need->kind == STEP_CREATE_KEY && p->operator_id)
		return 1;
	if (status != 200)
		return -1;
	return az_permissions_allow(perms, action, need->data) ? 1 : 0;
}

/* Returns the need of a step kind, or NULL when it writes nothing. */
static const struct need *need_of(enum step_kind k)
{
	for (size_t i = 0; i < sizeof(NEEDS) / sizeof(NEEDS[0]); i++)
		if (NEEDS[i].kind == k)
			return &NEEDS[i];
	return NULL;
}

/* Tells whether the operator may take a step of a kind on the plan's vault
 * or resource: 1 yes, 0 no, -1 not judged. */
int plan_may(const struct plan *p, const struct cmk_ctx *c, enum step_kind k)
{
	const struct need *need = need_of(k);
	char action[200];

	return need ? allowed(p, c, need, action, sizeof(action)) : 1;
}

/*
 * Judges, before the first write, every permission the plan's steps need
 * from the operator, so that a plan never stops half-way on a 403. Returns
 * false when one is missing, with *err naming each missing permission, its
 * step and who could grant it. Steps done (done[i], when done is not NULL)
 * need nothing more. *unjudged (when not NULL) gets the steps whose
 * permission could not be judged, or NULL.
 */
bool plan_preflight(const struct plan *p, const struct cmk_ctx *c,
		    const bool *done, char **err, char **unjudged)
{
	struct sbuf missing = SBUF_INIT, open = SBUF_INIT;

	for (size_t i = 0; i < p->n; i++) {
		const struct need *need =
			done && done[i] ? NULL : need_of(p->steps[i].kind);
		char action[200];
		int ok = need ? allowed(p, c, need, action, sizeof(action)) : 1;

		if (ok == 0 && need->vault)
			sb_printf(&missing,
				  _("\n  - step %zu (%s) needs %s on the "
				    "vault; ask %s"),
				  i + 1, plan_step_name(need->kind), action,
				  _(need->who));
		else if (ok == 0)
			sb_printf(&missing,
				  _("\n  - step %zu (%s) needs %s on the "
				    "resource; ask %s"),
				  i + 1, plan_step_name(need->kind), action,
				  _(need->who));
		else if (ok < 0)
			sb_printf(&open, "%s%s", open.len ? ", " : "",
				  plan_step_name(need->kind));
	}
	bool ok = missing.len == 0;

	*err = ok ? NULL
		  : xasprintf(_("this plan would stop half-way: you lack a "
				"permission it needs, so nothing was "
				"changed:%s"),
			      sb_str(&missing));
	if (unjudged)
		*unjudged = open.len ? xstrdup(sb_str(&open)) : NULL;
	sb_free(&missing);
	sb_free(&open);
	return ok;
}
