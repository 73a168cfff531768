/* Plans as ARM deployment templates: the same change, least-privileged, for az deployment group create. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define SCHEMA "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
#define VAULT_API "2024-11-01"
#define KEY_API "2023-07-01"
#define AUTHZ_API "2022-04-01"
#define UAI_API "2023-01-31"
#define DEPLOY_API "2022-09-01"

/* Fields Cognitive Services and Health Bot own, beyond those plan_writable drops. */
static const char *const SERVICE_READ_ONLY[] = { "properties.endpoint", "properties.endpoints", "properties.internalId",
	"properties.dateCreated", "properties.callRateLimit", "properties.quotaLimit", "properties.capabilities",
	"properties.isMigrated", "properties.skuChangeInfo", "properties.deletionDate", "properties.scheduledPurgeDate",
	"properties.abusePenalty", "properties.commitmentPlanAssociations", "properties.associatedProjects",
	"properties.botManagementPortalLink", "properties.accessControlMethod", NULL };

/* Fields the vault owns, dropped from its PUT. */
static const char *const VAULT_READ_ONLY[] = { "id", "name", "type", "systemData", "etag",
	"properties.provisioningState", "properties.vaultUri", "properties.hsmPoolResourceId",
	"properties.privateEndpointConnections", NULL };

/* What the template's resources share: where things are, and the expressions that name them. */
struct arm {
	const struct plan *p;
	const struct cmk_ctx *c;
	struct armid res, vault;
	char *res_rid, *vault_rid, *key_rid;  /* resourceId(...) expressions, without brackets */
	char *key_uri;                         /* the created key's versioned URL, as an expression */
	char *principal;                       /* the principal's object id, as an expression */
	char *seed;                            /* what names the identity in the assignment's guid() */
	char *grant;                           /* the id of the role assignment or access policy, or NULL */
	struct json_object *identity;          /* the identity step's body, or NULL */
	struct json_object *identity_off;      /* the body that turns the system-assigned identity off, or NULL */
	bool same_rg;                          /* the vault is in the resource's resource group */
	bool vault_changed, key_created;
};

/* Quotes text as a template string literal ('it''s'). */
static char *lit(const char *s)
{
	struct sbuf b = SBUF_INIT;

	sb_addc(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_addc(&b, '\'');
		sb_addc(&b, *s);
	}
	sb_addc(&b, '\'');
	return sb_steal(&b);
}

/* Returns resourceId('sub', 'group', 'type', 'name', ...) for a resource in a parsed id's resource group. */
static char *rid(const struct armid *at, const char *type, const char *names)
{
	struct sbuf b = SBUF_INIT;
	char *copy = xstrdup(names), *next = copy, *q;

	sb_adds(&b, "resourceId(");
	q = lit(at->subscription);
	sb_printf(&b, "%s, ", q);
	free(q);
	q = lit(at->resource_group);
	sb_printf(&b, "%s, ", q);
	free(q);
	q = lit(type);
	sb_adds(&b, q);
	free(q);
	for (char *name = next; name; name = next) {
		next = strchr(name, '/');
		if (next)
			*next++ = '\0';
		q = lit(name);
		sb_printf(&b, ", %s", q);
		free(q);
	}
	sb_addc(&b, ')');
	free(copy);
	return sb_steal(&b);
}

/* Returns the expression a known placeholder stands for, or NULL. */
static char *placeholder(const struct arm *a, const char *name)
{
	if (strcmp(name, "principalId") == 0)
		return xstrdup(a->principal);
	if (strcmp(name, "keyVersion") == 0 && a->key_uri)
		return xasprintf("last(split(%s, '/'))", a->key_uri);
	return NULL;
}

/* Appends one argument to a comma-separated list and frees it. */
static void arg(struct sbuf *b, int *n, char *expr)
{
	sb_printf(b, "%s%s", *n ? ", " : "", expr);
	(*n)++;
	free(expr);
}

/* Turns text holding {{placeholders}} into one template expression; NULL when it holds none azcmk knows. */
static char *fill_expr(const struct arm *a, const char *s)
{
	struct sbuf args = SBUF_INIT, run = SBUF_INIT;
	int n = 0, known = 0;
	char *out = NULL;

	while (*s) {
		const char *open = strstr(s, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
		char *name, *expr;

		if (!close) {
			sb_adds(&run, s);
			break;
		}
		sb_add(&run, s, (size_t)(open - s));
		name = xstrndup(open + 2, (size_t)(close - open - 2));
		expr = placeholder(a, name);
		free(name);
		if (expr && run.len)
			arg(&args, &n, lit(sb_str(&run)));
		if (expr)
			sb_reset(&run);
		else
			sb_add(&run, open, (size_t)(close - open + 2));
		if (expr)
			arg(&args, &n, expr);
		known += expr != NULL;
		s = close + 2;
	}
	if (run.len)
		arg(&args, &n, lit(sb_str(&run)));
	if (known)
		out = n == 1 ? xasprintf("[%s]", sb_str(&args)) : xasprintf("[concat(%s)]", sb_str(&args));
	sb_free(&args);
	sb_free(&run);
	return out;
}

/* Tells whether text is the created key's URL with the version to come (DICOM's keyEncryptionKeyUrl). */
static bool is_key_url(const struct arm *a, const char *s)
{
	char *suffix = xasprintf("/keys/%s/{{keyVersion}}", a->p->key_name ? a->p->key_name : "");
	bool yes = a->key_uri && str_iends(s, suffix) && strstr(s, "{{") == s + strlen(s) - strlen("{{keyVersion}}");

	free(suffix);
	return yes;
}

/* Returns a string as the template must hold it: placeholders as expressions, a literal "[...]" escaped as "[[...]". */
static char *arm_text(const struct arm *a, const char *s)
{
	char *expr;

	if (is_key_url(a, s))
		return xasprintf("[%s]", a->key_uri);
	if (strstr(s, "{{") && (expr = fill_expr(a, s)) != NULL)
		return expr;
	if (s[0] == '[' && str_iends(s, "]"))
		return xasprintf("[%s", s);
	return xstrdup(s);
}

/* Returns a deep copy of data for the template, every string and member name passed through arm_text. */
static struct json_object *arm_value(const struct arm *a, struct json_object *v)
{
	struct json_object *out;
	char *t;

	if (json_object_is_type(v, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(v, k, e) {
			t = arm_text(a, k);
			json_object_object_add(out, t, arm_value(a, e));
			free(t);
		}
		return out;
	}
	if (json_object_is_type(v, json_type_array)) {
		out = json_object_new_array();
		for (size_t i = 0; i < jx_len(v); i++)
			json_object_array_add(out, arm_value(a, jx_at(v, i)));
		return out;
	}
	if (!json_object_is_type(v, json_type_string))
		return jx_copy(v);
	t = arm_text(a, json_object_get_string(v));
	out = json_object_new_string(t);
	free(t);
	return out;
}

/* Adds "[expr]" to a dependsOn list (creating it); a NULL expression adds nothing. */
static void depend(struct json_object **deps, const char *expr)
{
	char *t;

	if (!expr)
		return;
	if (!*deps)
		*deps = json_object_new_array();
	t = xasprintf("[%s]", expr);
	json_object_array_add(*deps, json_object_new_string(t));
	free(t);
}

/* Starts a resource: type, apiVersion, name, and its dependsOn (taken; none when NULL). */
static struct json_object *head(const char *type, const char *api, const char *name, struct json_object *deps)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "type", json_object_new_string(type));
	json_object_object_add(r, "apiVersion", json_object_new_string(api));
	json_object_object_add(r, "name", json_object_new_string(name));
	if (deps)
		json_object_object_add(r, "dependsOn", deps);
	return r;
}

/* Adds a body's members to a resource, as template data. */
static void add_body(const struct arm *a, struct json_object *r, struct json_object *body)
{
	if (!json_object_is_type(body, json_type_object))
		return;
	json_object_object_foreach(body, k, v)
		json_object_object_add(r, k, arm_value(a, v));
}

/* Tells whether a step changes the vault itself. */
static bool vault_step(enum step_kind k)
{
	return k == STEP_ENABLE_SOFT_DELETE || k == STEP_ENABLE_PURGE_PROTECTION || k == STEP_FIREWALL_BYPASS;
}

/*
 * Returns the service resource as a whole-resource PUT: as it is now,
 * read-only fields dropped, changes merged. With the save, the identity is
 * the one the plan ends with (the system-assigned one off, when it says so).
 */
static struct json_object *service_resource(const struct arm *a, struct json_object *save)
{
	struct json_object *body = plan_writable(a->c->resource), *r;
	const char *type = jx_str(a->c->resource, "type");

	for (int i = 0; SERVICE_READ_ONLY[i]; i++)
		jx_del(body, SERVICE_READ_ONLY[i]);
	jx_merge_patch(body, save);
	jx_merge_patch(body, a->identity);
	if (save && a->identity_off)
		jx_merge_patch(body, a->identity_off);
	r = head(type ? type : a->p->svc->arm_type, a->p->svc->api_version, a->res.full_name, NULL);
	add_body(a, r, body);
	json_object_put(body);
	return r;
}

/*
 * Returns the vault as a whole-resource PUT: as it is now (access policies and
 * network rules included) without read-only fields, each vault step merged in.
 * Purge protection that is off is left out: Key Vault refuses an explicit false.
 */
static struct json_object *vault_resource(const struct arm *a)
{
	struct json_object *body = jx_copy(a->c->vault), *r;

	for (int i = 0; VAULT_READ_ONLY[i]; i++)
		jx_del(body, VAULT_READ_ONLY[i]);
	if (!jx_bool(body, "properties.enablePurgeProtection", false))
		jx_del(body, "properties.enablePurgeProtection");
	for (size_t i = 0; i < a->p->n; i++)
		if (vault_step(a->p->steps[i].kind))
			jx_merge_patch(body, a->p->steps[i].body);
	r = head(a->vault.type, VAULT_API, a->vault.full_name, NULL);
	add_body(a, r, body);
	json_object_put(body);
	return r;
}

/* Returns the key to create: RSA of the plan's size, allowed to wrap and unwrap only. */
static struct json_object *key_resource(const struct arm *a, const struct plan_step *s)
{
	struct json_object *deps = NULL, *r, *props = json_object_new_object(), *ops = jx_get(s->body, "key_ops");
	const char *kty = jx_str(s->body, "kty");
	char *type = xasprintf("%s/keys", a->vault.type);
	char *name = xasprintf("%s/%s", a->vault.full_name, a->p->key_name);

	if (a->vault_changed)
		depend(&deps, a->vault_rid);
	r = head(type, KEY_API, name, deps);
	json_object_object_add(props, "kty", json_object_new_string(kty ? kty : "RSA"));
	json_object_object_add(props, "keySize", json_object_new_int((int)jx_int(s->body, "key_size", 2048)));
	json_object_object_add(props, "keyOps", ops ? jx_copy(ops) : json_tokener_parse("[\"wrapKey\",\"unwrapKey\"]"));
	json_object_object_add(r, "properties", props);
	free(type);
	free(name);
	return r;
}

/*
 * Sets a grant's principal to the template's own expression for the service
 * identity, even where the plan knew it: the template names the identity the
 * deployment sees, and so stays right when the identity is made anew.
 */
static void principal_of(const struct arm *a, struct json_object *o, const char *member)
{
	char *expr = xasprintf("[%s]", a->principal);

	if (json_object_is_type(o, json_type_object))
		json_object_object_add(o, member, json_object_new_string(expr));
	free(expr);
}

/* Returns the role assignment at the key's scope, and records its id for the save to wait on. */
static struct json_object *role_resource(struct arm *a, const struct plan_step *s)
{
	const char *def = jx_str(s->body, "properties.roleDefinitionId"), *slash = def ? strrchr(def, '/') : NULL;
	char *role = lit(slash ? slash + 1 : ROLE_CRYPTO_SERVICE_ENCRYPTION_USER);
	char *guid = xasprintf("guid(%s, %s, %s)", a->key_rid, a->seed, role), *name = xasprintf("[%s]", guid);
	char *scope = xasprintf("%s/%s/keys/%s", a->vault.type, a->vault.full_name, a->p->key_name);
	char *roledef = xasprintf("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', %s)]", role);
	struct json_object *deps = NULL, *r, *props = arm_value(a, jx_get(s->body, "properties"));

	if (a->key_created)
		depend(&deps, a->key_rid);
	if (a->identity && a->same_rg)
		depend(&deps, a->res_rid);
	r = head("Microsoft.Authorization/roleAssignments", AUTHZ_API, name, deps);
	json_object_object_add(r, "scope", json_object_new_string(scope));
	if (!props)
		props = json_object_new_object();
	json_object_object_add(props, "roleDefinitionId", json_object_new_string(roledef));
	principal_of(a, props, "principalId");
	json_object_object_add(r, "properties", props);
	free(a->grant);
	a->grant = xasprintf("extensionResourceId(%s, 'Microsoft.Authorization/roleAssignments', %s)", a->key_rid,
			     guid);
	free(role);
	free(guid);
	free(name);
	free(scope);
	free(roledef);
	return r;
}

/* Returns the access policy addition ("vault/add"), and records its id for the save to wait on. */
static struct json_object *policy_resource(struct arm *a, const struct plan_step *s)
{
	char *type = xasprintf("%s/accessPolicies", a->vault.type), *name = xasprintf("%s/add", a->vault.full_name);
	struct json_object *deps = NULL, *r;

	if (a->vault_changed)
		depend(&deps, a->vault_rid);
	if (a->identity && a->same_rg)
		depend(&deps, a->res_rid);
	r = head(type, VAULT_API, name, deps);
	json_object_object_add(r, "properties", arm_value(a, jx_get(s->body, "properties")));
	principal_of(a, jx_at(jx_get(r, "properties.accessPolicies"), 0), "objectId");
	free(a->grant);
	a->grant = rid(&a->vault, type, name);
	free(type);
	free(name);
	return r;
}

/* Returns the vault-side resources in plan order: the vault, the new key, the grant. */
static struct json_object *vault_side(struct arm *a)
{
	struct json_object *list = json_object_new_array();
	bool vault_done = false;

	for (size_t i = 0; i < a->p->n; i++) {
		const struct plan_step *s = &a->p->steps[i];

		if (vault_step(s->kind) && !vault_done)
			json_object_array_add(list, vault_resource(a));
		vault_done |= vault_step(s->kind);
		if (s->kind == STEP_CREATE_KEY)
			json_object_array_add(list, key_resource(a, s));
		else if (s->kind == STEP_ASSIGN_ROLE && s->target == TARGET_ARM)
			json_object_array_add(list, role_resource(a, s));
		else if (s->kind == STEP_ACCESS_POLICY)
			json_object_array_add(list, policy_resource(a, s));
	}
	return list;
}

/* Returns a template holding resources (taken), with a description when one is given. */
static struct json_object *template(struct json_object *resources, const char *description)
{
	struct json_object *t = json_object_new_object();

	json_object_object_add(t, "$schema", json_object_new_string(SCHEMA));
	json_object_object_add(t, "contentVersion", json_object_new_string("1.0.0.0"));
	if (description)
		jx_set(t, "metadata.description", json_object_new_string(description));
	json_object_object_add(t, "resources", resources);
	return t;
}

/* Wraps resources (taken) in an incremental nested deployment with its own scope, run after deps (taken). */
static struct json_object *nested(const char *name, struct json_object *resources, struct json_object *deps)
{
	struct json_object *r = head("Microsoft.Resources/deployments", DEPLOY_API, name, deps);
	struct json_object *props = json_object_new_object();

	json_object_object_add(props, "mode", json_object_new_string("Incremental"));
	jx_set(props, "expressionEvaluationOptions.scope", json_object_new_string("inner"));
	json_object_object_add(props, "template", template(resources, NULL));
	json_object_object_add(r, "properties", props);
	return r;
}

/* Finds the first step of a kind, or NULL. */
static const struct plan_step *find(const struct plan *p, enum step_kind k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].kind == k)
			return &p->steps[i];
	return NULL;
}

/* Releases what arm_init made. */
static void arm_free(struct arm *a)
{
	armid_free(&a->res);
	armid_free(&a->vault);
	free(a->res_rid);
	free(a->vault_rid);
	free(a->key_rid);
	free(a->key_uri);
	free(a->principal);
	free(a->seed);
	free(a->grant);
}

/* Works out where things are and the expressions naming them; false when an id the template needs does not parse. */
static bool arm_init(struct arm *a, const struct plan *p, const struct cmk_ctx *c)
{
	const char *type = jx_str(c->resource, "type") ? jx_str(c->resource, "type") : p->svc->arm_type;
	const struct plan_step *id = find(p, STEP_ENABLE_IDENTITY), *off = find(p, STEP_DISABLE_SYSTEM_IDENTITY);
	bool needs_vault = false;

	memset(a, 0, sizeof(*a));
	a->p = p;
	a->c = c;
	for (size_t i = 0; i < p->n; i++)
		needs_vault |= p->steps[i].kind >= STEP_ENABLE_SOFT_DELETE && p->steps[i].kind <= STEP_ACCESS_POLICY;
	a->vault_changed = find(p, STEP_ENABLE_SOFT_DELETE) || find(p, STEP_ENABLE_PURGE_PROTECTION) ||
			   find(p, STEP_FIREWALL_BYPASS);
	a->key_created = find(p, STEP_CREATE_KEY) != NULL;
	a->identity = id ? id->body : NULL;
	a->identity_off = off ? off->body : NULL;
	if (!armid_parse(p->resource_id, &a->res) || !a->res.resource_group || !a->res.full_name)
		return false;
	a->res_rid = rid(&a->res, type, a->res.full_name);
	if (armid_parse(jx_str(c->vault, "id"), &a->vault) && a->vault.resource_group && a->vault.full_name &&
	    p->key_name) {
		char *keytype = xasprintf("%s/keys", a->vault.type);
		char *names = xasprintf("%s/%s", a->vault.full_name, p->key_name);

		a->vault_rid = rid(&a->vault, a->vault.type, a->vault.full_name);
		a->key_rid = rid(&a->vault, keytype, names);
		a->key_uri = xasprintf("reference(%s, '%s').keyUriWithVersion", a->key_rid, KEY_API);
		a->same_rg = str_ieq(a->vault.subscription, a->res.subscription) &&
			     str_ieq(a->vault.resource_group, a->res.resource_group);
		free(keytype);
		free(names);
	} else if (needs_vault) {
		return false;
	}
	if (p->uai_id) {
		a->seed = lit(p->uai_id);
		a->principal = xasprintf("reference(%s, '%s').principalId", a->seed, UAI_API);
	} else {
		a->seed = xstrdup(a->res_rid);
		a->principal = xasprintf("reference(%s, '%s', 'Full').identity.principalId", a->res_rid,
					 p->svc->api_version);
	}
	return true;
}

/* Places the vault-side resources: in the template itself, or in a deployment to the vault's resource group. */
static void place_vault_side(struct arm *a, struct json_object *resources, struct json_object **save_deps)
{
	struct json_object *side = vault_side(a), *deps = NULL, *d;
	char *name, *id;

	if (!jx_len(side)) {
		json_object_put(side);
	} else if (a->same_rg) {
		for (size_t i = 0; i < jx_len(side); i++)
			json_object_array_add(resources, json_object_get(jx_at(side, i)));
		json_object_put(side);
		depend(save_deps, a->vault_changed ? a->vault_rid : NULL);
		depend(save_deps, a->key_created ? a->key_rid : NULL);
		depend(save_deps, a->grant);
	} else {
		name = xasprintf("azcmk-vault-%.8s", a->p->id ? a->p->id : "plan");
		if (a->identity)
			depend(&deps, a->res_rid);
		d = nested(name, side, deps);
		json_object_object_add(d, "subscriptionId", json_object_new_string(a->vault.subscription));
		json_object_object_add(d, "resourceGroup", json_object_new_string(a->vault.resource_group));
		json_object_array_add(resources, d);
		id = rid(&a->vault, "Microsoft.Resources/deployments", name);
		depend(save_deps, id);
		free(id);
		free(name);
	}
}

/* Adds the resources: the identity, the vault side, then the save as a nested deployment that waits for them. */
static void add_resources(struct arm *a, struct json_object *resources)
{
	const struct plan_step *save = find(a->p, STEP_SAVE_KEY);
	struct json_object *deps = NULL, *inner;
	char *name;

	if (a->identity) {
		json_object_array_add(resources, service_resource(a, NULL));
		depend(&deps, a->res_rid);
	}
	place_vault_side(a, resources, &deps);
	if (!save) {
		json_object_put(deps);
		return;
	}
	inner = json_object_new_array();
	json_object_array_add(inner, service_resource(a, save->body));
	name = xasprintf("azcmk-save-%.8s", a->p->id ? a->p->id : "plan");
	json_object_array_add(resources, nested(name, inner, deps));
	free(name);
}

/* Writes what the template cannot do by itself, for its description. */
static void describe(const struct arm *a, struct sbuf *b)
{
	const char *wait = _("New access to a key can take minutes to apply; if the nested save fails with a "
			     "key-access error, deploy this template again.");
	const char *rotate = _("The key already exists and a template cannot add a version to it, so the save uses its "
			       "current version; to rotate, make the new version first (az keyvault key rotate).");
	const struct plan_step *grant = find(a->p, STEP_ASSIGN_ROLE);

	if (find(a->p, STEP_WAIT_ACCESS))
		sb_adds(b, wait);
	if (grant && grant->target == TARGET_KEYVAULT) {
		sb_adds(b, b->len ? " " : "");
		sb_printf(b, _("A template cannot grant a Managed HSM local role: grant the service's identity Managed HSM "
			       "Crypto Service Encryption User on key %s yourself (az keyvault role assignment create "
			       "--hsm-name %s --role \"Managed HSM Crypto Service Encryption User\" --scope /keys/%s "
			       "--assignee-object-id PRINCIPAL-ID --assignee-principal-type ServicePrincipal); when the "
			       "template also enables the identity, deploy it, grant, then deploy it again."),
			  a->p->key_name, a->c->vault_name ? a->c->vault_name : "?", a->p->key_name);
	}
	if (a->key_created && a->c->key_status == 200 && str_ieq(a->c->key_name, a->p->key_name))
		sb_printf(b, "%s%s", b->len ? " " : "", rotate);
}

/*
 * Renders the plan as an ARM deployment template for the service resource's
 * resource group: the identity, the vault's fixes, the new key and the grant
 * as resources, and the save as a nested deployment that waits for them.
 * When the resource or vault id is not an ARM id, the template changes
 * nothing and its description says why.
 */
char *plan_render_arm(const struct plan *p, const struct cmk_ctx *c)
{
	struct json_object *resources = json_object_new_array(), *root;
	struct sbuf why = SBUF_INIT;
	struct arm a;
	char *out;

	if (arm_init(&a, p, c)) {
		add_resources(&a, resources);
		describe(&a, &why);
	} else {
		sb_printf(&why, _("This plan cannot be written as a template: %s or its key vault has no Azure "
				  "Resource Manager id."), p->resource_id ? p->resource_id : "?");
	}
	root = template(resources, why.len ? sb_str(&why) : NULL);
	out = xasprintf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	sb_free(&why);
	arm_free(&a);
	return out;
}
