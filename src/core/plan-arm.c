/* Plans as parameterised ARM templates: the same change, least-privileged, for
 * az deployment group create. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "i18n.h"
#include "jx.h"
#include "plan-arm.h"
#include "plan.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define SCHEMA                                                    \
	"https://schema.management.azure.com/schemas/2019-04-01/" \
	"deploymentTemplate.json#"
#define VAULT_API "2024-11-01"
#define KEY_API "2023-07-01"
#define AUTHZ_API "2022-04-01"
#define UAI_API "2023-01-31"
#define DEPLOY_API "2022-09-01"

/* Fields Cognitive Services and Health Bot own, beyond those plan_writable
 * drops. */
static const char *const SERVICE_READ_ONLY[] = {
	"properties.endpoint",
	"properties.endpoints",
	"properties.internalId",
	"properties.dateCreated",
	"properties.callRateLimit",
	"properties.quotaLimit",
	"properties.capabilities",
	"properties.isMigrated",
	"properties.skuChangeInfo",
	"properties.deletionDate",
	"properties.scheduledPurgeDate",
	"properties.abusePenalty",
	"properties.commitmentPlanAssociations",
	"properties.associatedProjects",
	"properties.botManagementPortalLink",
	"properties.accessControlMethod",
	NULL
};

/* Fields the vault owns, dropped from its PUT. */
static const char *const VAULT_READ_ONLY[] = {
	"id",
	"name",
	"type",
	"systemData",
	"etag",
	"properties.provisioningState",
	"properties.vaultUri",
	"properties.hsmPoolResourceId",
	"properties.privateEndpointConnections",
	NULL
};

/* The template's parameters, in the order the template declares them. */
enum param {
	P_LOCATION,
	P_PARENT,
	P_CHILD,
	P_RESOURCE,
	P_VAULT,
	P_VAULT_URI,
	P_KEY,
	P_VERSION,
	P_KEY_URL,
	P_UAI,
	P_ASSIGNMENT,
	P_COUNT
};

/* Each parameter's name and what it is, for its description in the template. */
static const struct {
	const char *name, *about;
} PARAMS[P_COUNT] = {
	[P_LOCATION] = { "location", N_("The service's region.") },
	/* P_PARENT and P_CHILD: a child resource's parts, named by its
	   profile's template_names */
	[P_RESOURCE] = { "resourceName", N_("The service resource's name.") },
	[P_VAULT] = { "keyVaultName",
		      N_("The key vault or managed HSM that holds the key.") },
	[P_VAULT_URI] = { "keyVaultUri", N_("The URI of the key vault named by "
					    "keyVaultName.") },
	[P_KEY] = { "keyName", N_("The key's name.") },
	[P_VERSION] = { "keyVersion", N_("The key version the service uses.") },
	[P_KEY_URL] = { "keyEncryptionKeyUrl",
			N_("The URL of the key version the service uses, in "
			   "the vault named by "
			   "keyVaultName.") },
	[P_UAI] = { "userAssignedIdentityId",
		    N_("The resource id of the user-assigned identity that "
		       "reaches the key.") },
	[P_ASSIGNMENT] = { "roleAssignmentName",
			   N_("The role assignment's name, the one azcmk apply "
			      "gives it, so that "
			      "the template and apply never make the same "
			      "grant twice; deploying "
			      "for another key or identity, pass a new "
			      "GUID.") },
};

/* What the template's resources share: where things are, and the expressions
 * that name them. */
struct arm {
	const struct plan *p;
	const struct cmk_ctx *c;
	struct armid res, vault;
	char *param[P_COUNT]; /* each parameter's default (the plan's value), or
				 NULL when unused */
	char *res_name, *vault_arg,
		*key_arg; /* the service's name; the vault's and key's names as
			     expressions */
	char *res_rid, *vault_rid,
		*key_rid; /* resourceId(...) expressions, without brackets */
	char *key_uri;   /* the created key's versioned URL, as an expression */
	char *principal; /* the principal's object id, as an expression */
	char *seed;  /* what names the identity in the assignment's guid() */
	char *grant; /* the id of the role assignment or access policy, or NULL
		      */
	struct json_object *identity; /* the identity step's body, or NULL */
	struct json_object
		*identity_off; /* the body that turns the system-assigned
				  identity off, or NULL */
	bool same_rg; /* the vault is in the resource's resource group */
	bool guessed; /* the role assignment is named by guid(), not as apply
			 names it */
	bool vault_changed, key_created;
	bool vault_elsewhere; /* the vault's own fixes are made outside this
				 template (a fleet makes them once) */
};

/* Quotes text as a template string literal ('it''s'). */
char *plan_arm_literal(const char *s)
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

/* Returns resourceId('sub', 'group', 'type', args) for a resource in a parsed
 * id's resource group. */
static char *rid(const struct armid *at, const char *type, const char *args)
{
	char *sub = plan_arm_literal(at->subscription),
	     *group = plan_arm_literal(at->resource_group),
	     *t = plan_arm_literal(type);
	char *out =
		xasprintf("resourceId(%s, %s, %s, %s)", sub, group, t, args);

	free(sub);
	free(group);
	free(t);
	return out;
}

/* Returns the name segments of "a/b" quoted as arguments: 'a', 'b'. */
static char *lits(const char *names)
{
	struct sbuf b = SBUF_INIT;
	char *copy = xstrdup(names), *next = copy;

	for (char *name = next; name; name = next) {
		char *q;

		next = strchr(name, '/');
		if (next)
			*next++ = '\0';
		q = plan_arm_literal(name);
		sb_printf(&b, "%s%s", name == copy ? "" : ", ", q);
		free(q);
	}
	free(copy);
	return sb_steal(&b);
}

/* Returns a parameter's name: the table's, or for a child resource's parts, its
 * service profile's. */
static const char *param_name(const struct arm *a, enum param k)
{
	const struct template_names *t = a->p->svc->template_names;

	if (k == P_PARENT || k == P_CHILD)
		return !t ? "" : k == P_PARENT ? t->parent : t->child;
	return PARAMS[k].name;
}

/* Returns what a parameter is (N_() text), for its description in the template.
 */
static const char *param_about(const struct arm *a, enum param k)
{
	const struct template_names *t = a->p->svc->template_names;

	if (k == P_PARENT || k == P_CHILD)
		return !t              ? ""
		       : k == P_PARENT ? t->parent_about
				       : t->child_about;
	return PARAMS[k].about;
}

/* Returns the expression parameters('name') of a parameter. */
static char *pref(const struct arm *a, enum param k)
{
	return xasprintf("parameters('%s')", param_name(a, k));
}

/* Returns the template string "[parameters('name')]" that stands for a
 * parameter. */
static char *pref_str(const char *name)
{
	return xasprintf("[parameters('%s')]", name);
}

/* Offers a plan value as a parameter's default; tells whether the parameter now
 * stands for that value. */
static bool offer(struct arm *a, enum param k, const char *value)
{
	if (!value || !*value || value[0] == '[' || strstr(value, "{{"))
		return false;
	if (!a->param[k])
		a->param[k] = xstrdup(value);
	return strcmp(a->param[k], value) == 0;
}

/* Returns the expression standing for a plan value: its parameter, or the value
 * quoted when it cannot be one. */
static char *param_or_lit(struct arm *a, enum param k, const char *value)
{
	return offer(a, k, value) ? pref(a, k) : plan_arm_literal(value);
}

/* Replaces the literal string at a path with a reference to a parameter, whose
 * default it becomes. */
static void swap(struct arm *a, struct json_object *o, const char *path,
		 enum param k)
{
	char *ref;

	if (!offer(a, k, jx_str(o, path)))
		return;
	ref = pref_str(param_name(a, k));
	jx_set(o, path, json_object_new_string(ref));
	free(ref);
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

/* Turns text holding {{placeholders}} into one template expression; NULL when
 * it holds none azcmk knows. */
static char *fill_expr(const struct arm *a, const char *s)
{
	struct sbuf args = SBUF_INIT, run = SBUF_INIT;
	int n = 0, known = 0;
	char *out = NULL;

	while (*s) {
		const char *open = strstr(s, "{{"),
			   *close = open ? strstr(open + 2, "}}") : NULL;
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
			arg(&args, &n, plan_arm_literal(sb_str(&run)));
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
		arg(&args, &n, plan_arm_literal(sb_str(&run)));
	if (known)
		out = n == 1 ? xasprintf("[%s]", sb_str(&args))
			     : xasprintf("[concat(%s)]", sb_str(&args));
	sb_free(&args);
	sb_free(&run);
	return out;
}

/* Tells whether text is the created key's URL with the version to come (DICOM's
 * keyEncryptionKeyUrl). */
static bool is_key_url(const struct arm *a, const char *s)
{
	char *want = a->p->keyref.name ? key_ref_versioned(&a->p->keyref,
							   "{{keyVersion}}")
				       : NULL;
	bool yes = a->key_uri && want && str_ieq(s, want);

	free(want);
	return yes;
}

/* Returns a string as the template must hold it: placeholders as expressions, a
 * literal "[...]" escaped as "[[...]". */
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

/* Returns a deep copy of data for the template, every string and member name
 * passed through arm_text. */
static struct json_object *arm_value(const struct arm *a, struct json_object *v)
{
	struct json_object *out;
	char *t;

	if (json_object_is_type(v, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(v, k, e)
		{
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

/* Adds "[expr]" to a dependsOn list (creating it); a NULL expression adds
 * nothing. */
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

/* Starts a resource: type, apiVersion, name, and its dependsOn (taken; none
 * when NULL). */
static struct json_object *head(const char *type, const char *api,
				const char *name, struct json_object *deps)
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
static void add_body(const struct arm *a, struct json_object *r,
		     struct json_object *body)
{
	if (!json_object_is_type(body, json_type_object))
		return;
	json_object_object_foreach(body, k, v)
		json_object_object_add(r, k, arm_value(a, v));
}

/* Tells whether a step changes the vault itself. */
static bool vault_step(enum step_kind k)
{
	return k == STEP_CREATE_VAULT || k == STEP_ENABLE_SOFT_DELETE ||
	       k == STEP_ENABLE_PURGE_PROTECTION || k == STEP_FIREWALL_BYPASS;
}

/* Names the plan's user-assigned identity by its parameter in a resource's
 * identity map. */
static void swap_identity(struct arm *a, struct json_object *r)
{
	struct json_object *map = jx_get(r, "identity.userAssignedIdentities");
	char *key = NULL;

	if (!a->p->uai_id || !json_object_is_type(map, json_type_object))
		return;
	json_object_object_foreach(map, k, e)
	{
		(void)e;
		if (!key && str_ieq(k, a->p->uai_id))
			key = xstrdup(k);
	}
	if (key && offer(a, P_UAI, a->p->uai_id)) {
		struct json_object *v =
			json_object_get(json_object_object_get(map, key));
		char *ref = pref_str(PARAMS[P_UAI].name);

		json_object_object_del(map, key);
		json_object_object_add(map, ref, v);
		free(ref);
	}
	free(key);
}

/* Puts parameters in a save's key setting: vault, key, version and identity
 * (its client id read from it). */
static void swap_key_setting(struct arm *a, struct json_object *kvp)
{
	if (!json_object_is_type(kvp, json_type_object))
		return;
	swap(a, kvp, "keyVaultUri", P_VAULT_URI);
	swap(a, kvp, "keyName", P_KEY);
	swap(a, kvp, "keyVersion", P_VERSION);
	swap(a, kvp, "userIdentity", P_UAI);
	if (jx_str(kvp, "identityClientId") && offer(a, P_UAI, a->p->uai_id)) {
		char *client = xasprintf(
			"[reference(parameters('%s'), '%s').clientId]",
			PARAMS[P_UAI].name, UAI_API);

		json_object_object_add(kvp, "identityClientId",
				       json_object_new_string(client));
		free(client);
	}
}

/* Puts the template's parameters in a service resource: its region, identity
 * and, in the save, the key. */
static void service_params(struct arm *a, struct json_object *r, bool save)
{
	swap(a, r, "location", P_LOCATION);
	swap_identity(a, r);
	if (!save)
		return;
	swap(a, r,
	     "properties.encryption.customerManagedKeyEncryption."
	     "keyEncryptionKeyUrl",
	     P_KEY_URL);
	swap_key_setting(a, jx_get(r, "properties.keyVaultProperties"));
	swap_key_setting(a,
			 jx_get(r, "properties.encryption.keyVaultProperties"));
}

/*
 * Returns the service resource as a whole-resource PUT: as it is now,
 * read-only fields dropped, changes merged. With the save, the identity is
 * the one the plan ends with (the system-assigned one off, when it says so).
 */
static struct json_object *service_resource(struct arm *a,
					    struct json_object *save)
{
	struct json_object *body = plan_writable(a->c->resource), *r;
	const char *type = jx_str(a->c->resource, "type");

	for (int i = 0; SERVICE_READ_ONLY[i]; i++)
		jx_del(body, SERVICE_READ_ONLY[i]);
	jx_merge_patch(body, save);
	jx_merge_patch(body, a->identity);
	if (save && a->identity_off)
		jx_merge_patch(body, a->identity_off);
	r = head(type ? type : a->p->svc->arm_type, a->p->svc->api_version,
		 a->res_name, NULL);
	add_body(a, r, body);
	service_params(a, r, save != NULL);
	json_object_put(body);
	return r;
}

/*
 * Returns the vault as a whole-resource PUT: as it is now (access policies and
 * network rules included) without read-only fields, each vault step merged in.
 * Purge protection that is off is left out: Key Vault refuses an explicit
 * false. The vault steps of every plan given are merged in.
 */
static struct json_object *vault_put(const struct arm *a,
				     const struct plan *const *plans, size_t n,
				     const char *name)
{
	struct json_object *body = jx_copy(a->c->vault), *r;

	for (int i = 0; VAULT_READ_ONLY[i]; i++)
		jx_del(body, VAULT_READ_ONLY[i]);
	if (!jx_bool(body, "properties.enablePurgeProtection", false))
		jx_del(body, "properties.enablePurgeProtection");
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < plans[k]->n; i++)
			if (vault_step(plans[k]->steps[i].kind))
				jx_merge_patch(body, plans[k]->steps[i].body);
	r = head(a->vault.type, VAULT_API, name, NULL);
	add_body(a, r, body);
	json_object_put(body);
	return r;
}

/* Returns the vault's PUT with this plan's vault steps merged in, named by
 * its parameter. */
static struct json_object *vault_resource(const struct arm *a)
{
	char *name = xasprintf("[%s]", a->vault_arg);
	struct json_object *r = vault_put(a, &a->p, 1, name);

	free(name);
	return r;
}

/* Returns the key to create: RSA of the plan's size, allowed to wrap and unwrap
 * only. */
static struct json_object *key_resource(const struct arm *a,
					const struct plan_step *s)
{
	struct json_object *deps = NULL, *r, *props = json_object_new_object(),
			   *ops = jx_get(s->body, "key_ops");
	const char *kty = jx_str(s->body, "kty");
	char *type = xasprintf("%s/keys", a->vault.type);
	char *name =
		xasprintf("[concat(%s, '/', %s)]", a->vault_arg, a->key_arg);

	if (a->vault_changed)
		depend(&deps, a->vault_rid);
	r = head(type, KEY_API, name, deps);
	json_object_object_add(props, "kty",
			       json_object_new_string(kty ? kty : "RSA"));
	json_object_object_add(
		props, "keySize",
		json_object_new_int((int)jx_int(s->body, "key_size", 2048)));
	json_object_object_add(
		props, "keyOps",
		ops ? jx_copy(ops)
		    : json_tokener_parse("[\"wrapKey\",\"unwrapKey\"]"));
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
static void principal_of(const struct arm *a, struct json_object *o,
			 const char *member)
{
	char *expr = xasprintf("[%s]", a->principal);

	if (json_object_is_type(o, json_type_object))
		json_object_object_add(o, member, json_object_new_string(expr));
	free(expr);
}

/*
 * Returns the role assignment's name as an expression: the name apply gives
 * it (the last segment of the step's URL) when the plan knows the principal,
 * else a guid() of the key, the identity and the role.
 */
static char *assignment_name(struct arm *a, const struct plan_step *s,
			     const char *role)
{
	const char *last = s->url ? strrchr(s->url, '/') : NULL;

	if (last && plan_var_ok("assignmentName", last + 1) &&
	    offer(a, P_ASSIGNMENT, last + 1))
		return pref(a, P_ASSIGNMENT);
	a->guessed = true;
	return xasprintf("guid(%s, %s, %s)",
			 a->p->grant_vault ? a->vault_rid : a->key_rid, a->seed,
			 role);
}

/* Returns the role assignment at the key's scope (the vault's with
 * --grant-scope vault), and records its id for the save to wait on. */
static struct json_object *role_resource(struct arm *a,
					 const struct plan_step *s)
{
	const char *def = jx_str(s->body, "properties.roleDefinitionId"),
		   *slash = def ? strrchr(def, '/') : NULL;
	char *role = plan_arm_literal(
		slash ? slash + 1 : ROLE_CRYPTO_SERVICE_ENCRYPTION_USER);
	char *id = assignment_name(a, s, role), *name = xasprintf("[%s]", id);
	char *scope =
		a->p->grant_vault
			? xasprintf("[concat('%s/', %s)]", a->vault.type,
				    a->vault_arg)
			: xasprintf("[concat('%s/', %s, '/keys/', %s)]",
				    a->vault.type, a->vault_arg, a->key_arg);
	char *roledef = xasprintf("[subscriptionResourceId('Microsoft."
				  "Authorization/roleDefinitions', %s)]",
				  role);
	struct json_object *deps = NULL, *r,
			   *props = arm_value(a, jx_get(s->body, "properties"));

	if (a->key_created)
		depend(&deps, a->key_rid);
	if (a->identity && a->same_rg)
		depend(&deps, a->res_rid);
	r = head("Microsoft.Authorization/roleAssignments", AUTHZ_API, name,
		 deps);
	json_object_object_add(r, "scope", json_object_new_string(scope));
	if (!props)
		props = json_object_new_object();
	json_object_object_add(props, "roleDefinitionId",
			       json_object_new_string(roledef));
	principal_of(a, props, "principalId");
	json_object_object_add(r, "properties", props);
	free(a->grant);
	a->grant = xasprintf("extensionResourceId(%s, "
			     "'Microsoft.Authorization/roleAssignments', %s)",
			     a->p->grant_vault ? a->vault_rid : a->key_rid, id);
	free(role);
	free(id);
	free(name);
	free(scope);
	free(roledef);
	return r;
}

/* Returns the access policy addition ("vault/add"), and records its id for the
 * save to wait on. */
static struct json_object *policy_resource(struct arm *a,
					   const struct plan_step *s)
{
	char *type = xasprintf("%s/accessPolicies", a->vault.type),
	     *name = xasprintf("[concat(%s, '/add')]", a->vault_arg);
	char *args = xasprintf("%s, 'add'", a->vault_arg);
	struct json_object *deps = NULL, *r;

	if (a->vault_changed)
		depend(&deps, a->vault_rid);
	if (a->identity && a->same_rg)
		depend(&deps, a->res_rid);
	r = head(type, VAULT_API, name, deps);
	json_object_object_add(r, "properties",
			       arm_value(a, jx_get(s->body, "properties")));
	principal_of(a, jx_at(jx_get(r, "properties.accessPolicies"), 0),
		     "objectId");
	free(a->grant);
	a->grant = rid(&a->vault, type, args);
	free(type);
	free(name);
	free(args);
	return r;
}

/* Returns the vault-side resources in plan order: the vault, the new key, the
 * grant. */
static struct json_object *vault_side(struct arm *a)
{
	struct json_object *list = json_object_new_array();
	bool vault_done = false;

	for (size_t i = 0; i < a->p->n; i++) {
		const struct plan_step *s = &a->p->steps[i];

		if (vault_step(s->kind) && !vault_done && !a->vault_elsewhere)
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

/* Tells whether template text uses a parameter. */
static bool uses(const struct arm *a, const char *text, enum param k)
{
	char *ref = pref(a, k);
	bool yes = strstr(text, ref) != NULL;

	free(ref);
	return yes;
}

/*
 * Returns the parameters resources use: at the top level declared with the
 * plan's value as default and what each is; in a nested template bare, their
 * values passed on by the deployment that holds it.
 */
static struct json_object *declarations(const struct arm *a,
					struct json_object *resources, bool top)
{
	const char *text = json_object_to_json_string_ext(
		resources, JSON_C_TO_STRING_PLAIN);
	struct json_object *decl = json_object_new_object(), *d;

	for (int k = 0; k < P_COUNT; k++) {
		if (!a->param[k] || !uses(a, text, (enum param)k))
			continue;
		d = json_object_new_object();
		json_object_object_add(d, "type",
				       json_object_new_string("string"));
		if (top) {
			json_object_object_add(
				d, "defaultValue",
				json_object_new_string(a->param[k]));
			jx_set(d, "metadata.description",
			       json_object_new_string(
				       _(param_about(a, (enum param)k))));
		}
		json_object_object_add(decl, param_name(a, (enum param)k), d);
	}
	return decl;
}

/* Returns the values a nested deployment passes on: each parameter its template
 * declares, from its own. */
static struct json_object *passes(struct json_object *decl)
{
	struct json_object *out = json_object_new_object();

	json_object_object_foreach(decl, k, v)
	{
		struct json_object *pass = json_object_new_object();
		char *ref = pref_str(k);

		(void)v;
		json_object_object_add(pass, "value",
				       json_object_new_string(ref));
		json_object_object_add(out, k, pass);
		free(ref);
	}
	return out;
}

/* Returns a template holding parameters and resources (both taken), with a
 * description when one is given. */
static struct json_object *template(struct json_object *params,
				    struct json_object *resources,
				    const char *description)
{
	struct json_object *t = json_object_new_object();

	json_object_object_add(t, "$schema", json_object_new_string(SCHEMA));
	json_object_object_add(t, "contentVersion",
			       json_object_new_string("1.0.0.0"));
	if (description)
		jx_set(t, "metadata.description",
		       json_object_new_string(description));
	if (params && json_object_object_length(params))
		json_object_object_add(t, "parameters", params);
	else
		json_object_put(params);
	json_object_object_add(t, "resources", resources);
	return t;
}

/*
 * Wraps resources (taken) in an incremental nested deployment with its own
 * scope, run after deps (taken), passing on the parameters they use.
 */
static struct json_object *nested(const struct arm *a, const char *name,
				  struct json_object *resources,
				  struct json_object *deps)
{
	struct json_object *r =
		head("Microsoft.Resources/deployments", DEPLOY_API, name, deps);
	struct json_object *props = json_object_new_object(),
			   *decl = declarations(a, resources, false);

	json_object_object_add(props, "mode",
			       json_object_new_string("Incremental"));
	jx_set(props, "expressionEvaluationOptions.scope",
	       json_object_new_string("inner"));
	if (json_object_object_length(decl))
		json_object_object_add(props, "parameters", passes(decl));
	json_object_object_add(props, "template",
			       template(decl, resources, NULL));
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
	for (int k = 0; k < P_COUNT; k++)
		free(a->param[k]);
	free(a->res_name);
	free(a->vault_arg);
	free(a->key_arg);
	free(a->res_rid);
	free(a->vault_rid);
	free(a->key_rid);
	free(a->key_uri);
	free(a->principal);
	free(a->seed);
	free(a->grant);
}

/*
 * Names the service resource by its parameters: a child resource by its
 * parent's and its own (as its profile's template names them: the DICOM
 * service's workspace and name), else by the resource's own name.
 */
static void name_resource(struct arm *a, const char *type)
{
	const char *full = a->res.full_name, *slash = strchr(full, '/');
	char *ws = slash ? xstrndup(full, (size_t)(slash - full)) : NULL, *args;

	if (a->p->svc->template_names && slash && !strchr(slash + 1, '/') &&
	    offer(a, P_PARENT, ws) && offer(a, P_CHILD, slash + 1)) {
		args = xasprintf("parameters('%s'), parameters('%s')",
				 param_name(a, P_PARENT),
				 param_name(a, P_CHILD));
		a->res_name = xasprintf(
			"[concat(parameters('%s'), '/', parameters('%s'))]",
			param_name(a, P_PARENT), param_name(a, P_CHILD));
	} else if (!slash && offer(a, P_RESOURCE, full)) {
		args = pref(a, P_RESOURCE);
		a->res_name = xasprintf("[%s]", args);
	} else {
		args = lits(full);
		a->res_name = xstrdup(full);
	}
	a->res_rid = rid(&a->res, type, args);
	free(args);
	free(ws);
}

/* Names the vault and key by their parameters; false when the plan has no vault
 * with an ARM id, or no key. */
static bool name_vault(struct arm *a)
{
	char *keytype, *args;

	if (!armid_parse(jx_str(a->c->vault, "id"), &a->vault) ||
	    !a->vault.resource_group || !a->vault.full_name ||
	    !a->p->keyref.name)
		return false;
	keytype = xasprintf("%s/keys", a->vault.type);
	a->vault_arg = param_or_lit(a, P_VAULT, a->vault.full_name);
	a->key_arg = param_or_lit(a, P_KEY, a->p->keyref.name);
	args = xasprintf("%s, %s", a->vault_arg, a->key_arg);
	a->vault_rid = rid(&a->vault, a->vault.type, a->vault_arg);
	a->key_rid = rid(&a->vault, keytype, args);
	a->key_uri = xasprintf("reference(%s, '%s').keyUriWithVersion",
			       a->key_rid, KEY_API);
	a->same_rg = str_ieq(a->vault.subscription, a->res.subscription) &&
		     str_ieq(a->vault.resource_group, a->res.resource_group);
	free(keytype);
	free(args);
	return true;
}

/* Sets the expressions for the service's identity: its principal, and what
 * names it in the assignment's guid(). */
static void name_identity(struct arm *a)
{
	const struct plan *p = a->p;

	if (p->uai_id) {
		a->seed = param_or_lit(a, P_UAI, p->uai_id);
		a->principal = xasprintf("reference(%s, '%s').principalId",
					 a->seed, UAI_API);
	} else {
		a->seed = xstrdup(a->res_rid);
		a->principal = xasprintf(
			"reference(%s, '%s', 'Full').identity.principalId",
			a->res_rid, p->svc->api_version);
	}
}

/* Works out where things are and the expressions naming them; false when an id
 * the template needs does not parse. */
static bool arm_init(struct arm *a, const struct plan *p,
		     const struct cmk_ctx *c)
{
	const char *type = jx_str(c->resource, "type")
				   ? jx_str(c->resource, "type")
				   : p->svc->arm_type;
	const struct plan_step *id = find(p, STEP_ENABLE_IDENTITY),
			       *off = find(p, STEP_DISABLE_SYSTEM_IDENTITY);
	bool needs_vault = false;

	memset(a, 0, sizeof(*a));
	a->p = p;
	a->c = c;
	for (size_t i = 0; i < p->n; i++)
		needs_vault |= (p->steps[i].kind >= STEP_ENABLE_SOFT_DELETE &&
				p->steps[i].kind <= STEP_ACCESS_POLICY) ||
			       p->steps[i].kind == STEP_CREATE_VAULT;
	a->vault_changed = find(p, STEP_CREATE_VAULT) ||
			   find(p, STEP_ENABLE_SOFT_DELETE) ||
			   find(p, STEP_ENABLE_PURGE_PROTECTION) ||
			   find(p, STEP_FIREWALL_BYPASS);
	a->key_created = find(p, STEP_CREATE_KEY) != NULL;
	a->identity = id ? id->body : NULL;
	a->identity_off = off ? off->body : NULL;
	if (!armid_parse(p->resource_id, &a->res) || !a->res.resource_group ||
	    !a->res.full_name)
		return false;
	name_resource(a, type);
	if (!name_vault(a) && needs_vault)
		return false;
	name_identity(a);
	return true;
}

/* Places the vault-side resources: in the template itself, or in a deployment
 * to the vault's resource group. */
static void place_vault_side(struct arm *a, struct json_object *resources,
			     struct json_object **save_deps)
{
	struct json_object *side = vault_side(a), *deps = NULL, *d;
	char *name, *id, *args;

	if (!jx_len(side)) {
		json_object_put(side);
	} else if (a->same_rg) {
		for (size_t i = 0; i < jx_len(side); i++)
			json_object_array_add(resources,
					      json_object_get(jx_at(side, i)));
		json_object_put(side);
		depend(save_deps, a->vault_changed ? a->vault_rid : NULL);
		depend(save_deps, a->key_created ? a->key_rid : NULL);
		depend(save_deps, a->grant);
	} else {
		name = xasprintf("azcmk-vault-%.8s",
				 a->p->id ? a->p->id : "plan");
		if (a->identity)
			depend(&deps, a->res_rid);
		d = nested(a, name, side, deps);
		json_object_object_add(
			d, "subscriptionId",
			json_object_new_string(a->vault.subscription));
		json_object_object_add(
			d, "resourceGroup",
			json_object_new_string(a->vault.resource_group));
		json_object_array_add(resources, d);
		args = plan_arm_literal(name);
		id = rid(&a->vault, "Microsoft.Resources/deployments", args);
		depend(save_deps, id);
		free(id);
		free(args);
		free(name);
	}
}

/* Adds the resources: the identity, the vault side, then the save as a nested
 * deployment that waits for them. */
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
	json_object_array_add(resources, nested(a, name, inner, deps));
	free(name);
}

/* Writes what the template cannot do by itself, for its description. */
static void describe(const struct arm *a, struct sbuf *b)
{
	const char *wait = _("New access to a key can take minutes to apply; "
			     "if the nested save fails with a "
			     "key-access error, deploy this template again.");
	const char *rotate = _("The key already exists and a template cannot "
			       "add a version to it, so the save uses its "
			       "current version; to rotate, make the new "
			       "version first (az keyvault key rotate).");
	const struct plan_step *grant = find(a->p, STEP_ASSIGN_ROLE);

	if (find(a->p, STEP_WAIT_ACCESS))
		sb_adds(b, wait);
	if (grant && grant->target == TARGET_KEYVAULT) {
		char *scope = key_ref_local_scope(&a->p->keyref);

		sb_adds(b, b->len ? " " : "");
		sb_printf(b,
			  _("A template cannot grant a Managed HSM local role: "
			    "grant the service's identity Managed HSM "
			    "Crypto Service Encryption User on key %s yourself "
			    "(az keyvault role assignment create "
			    "--hsm-name %s --role \"Managed HSM Crypto Service "
			    "Encryption User\" --scope %s "
			    "--assignee-object-id PRINCIPAL-ID "
			    "--assignee-principal-type ServicePrincipal); when "
			    "the "
			    "template also enables the identity, deploy it, "
			    "grant, then deploy it again."),
			  a->p->keyref.name,
			  a->p->keyref.vault ? a->p->keyref.vault : "?", scope);
		free(scope);
	}
	if (a->key_created && a->c->key_status == 200 &&
	    str_ieq(a->c->keyref.name, a->p->keyref.name))
		sb_printf(b, "%s%s", b->len ? " " : "", rotate);
	if (a->guessed)
		sb_printf(
			b, "%s%s", b->len ? " " : "",
			_("The role assignment is named by guid() when "
			  "deployed, not as "
			  "azcmk apply names it, because the service's "
			  "principal is not "
			  "known until the deployment makes its identity: "
			  "deploy this "
			  "template or apply the plan, not both (the same "
			  "grant under "
			  "another name is refused as RoleAssignmentExists)."));
}

/* Returns the plan's template as JSON; with vault_elsewhere, without the
 * vault's own fixes (and nothing in it waits for them). */
static struct json_object *arm_template(const struct plan *p,
					const struct cmk_ctx *c,
					bool vault_elsewhere)
{
	struct json_object *resources = json_object_new_array(), *root;
	struct sbuf why = SBUF_INIT;
	struct arm a;

	if (arm_init(&a, p, c)) {
		a.vault_elsewhere = vault_elsewhere;
		a.vault_changed &= !vault_elsewhere;
		add_resources(&a, resources);
		describe(&a, &why);
	} else {
		sb_printf(&why,
			  _("This plan cannot be written as a template: %s or "
			    "its key vault has no Azure "
			    "Resource Manager id."),
			  p->resource_id ? p->resource_id : "?");
	}
	root = template(declarations(&a, resources, true), resources,
			why.len ? sb_str(&why) : NULL);
	sb_free(&why);
	arm_free(&a);
	return root;
}

/*
 * Renders the plan as an ARM deployment template for the service resource's
 * resource group: the identity, the vault's fixes, the new key and the grant
 * as resources, and the save as a nested deployment that waits for them;
 * the names, region, key and identity as parameters whose defaults are the
 * plan's values. When the resource or vault id is not an ARM id, the
 * template changes nothing and its description says why.
 */
char *plan_render_arm(const struct plan *p, const struct cmk_ctx *c)
{
	struct json_object *root = arm_template(p, c, false);
	char *out = xasprintf(
		"%s\n", json_object_to_json_string_ext(
				root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(root);
	return out;
}

/* Returns the plan's template for a fleet, which fixes the vault itself once:
 * the resource group template of plan_render_arm without the vault's PUT. */
struct json_object *plan_arm_template(const struct plan *p,
				      const struct cmk_ctx *c)
{
	return arm_template(p, c, true);
}

/*
 * Returns the one PUT of a vault that several plans change (as c read it,
 * every plan's vault steps merged in), named literally, for a template
 * deployed to the vault's resource group; NULL when the vault has no ARM id.
 */
struct json_object *plan_arm_vault_fix(const struct plan *const *plans,
				       size_t n, const struct cmk_ctx *c)
{
	struct json_object *r = NULL;
	struct arm a;

	if (n && arm_init(&a, plans[0], c) && a.vault_rid && c->vault)
		r = vault_put(&a, plans, n, a.vault.full_name);
	arm_free(&a);
	return r;
}
