/* The simulated Key Vault and Managed HSM data plane: the 401 challenge,
 * firewall, access checks, keys. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <openssl/evp.h>

#include "armid.h"
#include "b64.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* One data-plane operation: its RBAC data actions (vault, HSM) and
 * access-policy permission. */
struct kv_op {
	const char *kv_action;
	const char *hsm_action;
	const char *policy;
	const char *verb;
};

static const struct kv_op OP_LIST = {
	"Microsoft.KeyVault/vaults/keys/read",
	"Microsoft.KeyVault/managedHsm/keys/read/action", "list", "list"
};
static const struct kv_op OP_GET = {
	"Microsoft.KeyVault/vaults/keys/read",
	"Microsoft.KeyVault/managedHsm/keys/read/action", "get", "get"
};
static const struct kv_op OP_CREATE = {
	"Microsoft.KeyVault/vaults/keys/create/action",
	"Microsoft.KeyVault/managedHsm/keys/create", "create", "create"
};
static const struct kv_op OP_ROTATE = {
	"Microsoft.KeyVault/vaults/keys/rotate/action",
	"Microsoft.KeyVault/managedHsm/keys/rotate/action", "rotate", "rotate"
};
static const struct kv_op OP_UPDATE = {
	"Microsoft.KeyVault/vaults/keys/update/action",
	"Microsoft.KeyVault/managedHsm/keys/write/action", "update", "update"
};
static const struct kv_op OP_GETPOL = {
	"Microsoft.KeyVault/vaults/keyrotationpolicies/read",
	"Microsoft.KeyVault/managedHsm/keys/read/action", "getrotationpolicy",
	"getrotationpolicy"
};
static const struct kv_op OP_SETPOL = {
	"Microsoft.KeyVault/vaults/keyrotationpolicies/write",
	"Microsoft.KeyVault/managedHsm/keys/write/action", "setrotationpolicy",
	"setrotationpolicy"
};
static const struct kv_op OP_WRAP = {
	"Microsoft.KeyVault/vaults/keys/wrap/action",
	"Microsoft.KeyVault/managedHsm/keys/wrap/action", "wrapKey", "wrapKey"
};
static const struct kv_op OP_UNWRAP = {
	"Microsoft.KeyVault/vaults/keys/unwrap/action",
	"Microsoft.KeyVault/managedHsm/keys/unwrap/action", "unwrapKey",
	"unwrapKey"
};
static const struct kv_op OP_DELETE = {
	"Microsoft.KeyVault/vaults/keys/delete",
	"Microsoft.KeyVault/managedHsm/keys/delete", "delete", "delete"
};

/* The request's vault context. */
struct kv_ctx {
	struct sim_req *rq;
	struct sim_resp *rs;
	struct json_object *vault;
	bool hsm;
	const char *name;
};

/* Returns the versions array of a key in a vault, or NULL. */
struct json_object *kv_key_versions(struct sim *s, const char *vault,
				    const char *key)
{
	struct json_object *keys = jx_iget(jx_get(s->doc, "keys"), vault);

	return json_object_is_type(jx_iget(keys, key), json_type_array)
		       ? jx_iget(keys, key)
		       : NULL;
}

/* Returns the newest version of a key, or NULL. */
struct json_object *kv_current_version(struct sim *s, const char *vault,
				       const char *key)
{
	struct json_object *v = kv_key_versions(s, vault, key);

	return jx_len(v) ? jx_at(v, jx_len(v) - 1) : NULL;
}

/* Answers a data-plane error {"error":{"code","message","innererror"}}. */
static void kv_error(struct sim_resp *rs, int status, const char *code,
		     const char *inner, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void kv_error(struct sim_resp *rs, int status, const char *code,
		     const char *inner, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	resp_error(rs, status, code, "%s", msg);
	if (inner) {
		struct json_object *ie = json_object_new_object();

		json_object_object_add(ie, "code",
				       json_object_new_string(inner));
		json_object_object_add(jx_get(rs->json, "error"), "innererror",
				       ie);
	}
	free(msg);
}

/* Answers the 401 challenge that tells a client where to get a token. */
static void challenge(struct kv_ctx *c, const char *tenant, const char *why)
{
	const char *dot = strchr(c->rq->host, '.');
	char *hdr =
		xasprintf("Bearer "
			  "authorization=\"https://login.microsoftonline.com/"
			  "%s\", resource=\"https://%s\"",
			  tenant, dot ? dot + 1 : c->rq->host);

	if (c->hsm)
		resp_raw(c->rs, 401, NULL, "");
	else
		kv_error(c->rs, 401, "Unauthorized", NULL, "%s", why);
	resp_header(c->rs, "WWW-Authenticate", hdr);
	free(hdr);
}

/* Checks the bearer token; answers the challenge when it is missing or not for
 * this vault. */
static bool authenticate(struct kv_ctx *c)
{
	const char *vt = jx_str(c->vault, "properties.tenantId");
	const char *tenant = vt ? vt : state_tenant(c->rq->sim);
	char *msg = NULL;
	const char *code = entra_verify(
		c->rq->sim, req_header(c->rq, "Authorization"),
		c->hsm ? HOST_HSM : HOST_VAULT, &c->rq->claims, &msg);

	if (!req_header(c->rq, "Authorization")) {
		challenge(
			c, tenant,
			"AKV10000: Request is missing a Bearer or PoP token.");
	} else if (code) {
		challenge(c, tenant,
			  str_ieq(code, "ExpiredAuthenticationToken")
				  ? "AKV10022: Invalid audience or the "
				    "token has expired."
				  : "AKV10022: Invalid audience, signature or "
				    "token.");
	} else if (!str_ieq(jx_str(c->rq->claims, "tid"), tenant)) {
		challenge(c, tenant,
			  "AKV10032: Invalid issuer: the token's tenant is not "
			  "the key vault's tenant.");
	} else {
		c->rq->oid = jx_str(c->rq->claims, "oid");
		free(msg);
		return true;
	}
	free(msg);
	return false;
}

/* Tells whether an address lies in an ipRules entry ("1.2.3.4" or
 * "1.2.3.0/24"). */
static bool ip_in_rule(const char *ip, const char *rule)
{
	struct in_addr a, r;
	char net[64];
	int bits = 32;
	uint32_t mask;

	if (!rule || sscanf(rule, "%63[^/]/%d", net, &bits) < 1 ||
	    inet_pton(AF_INET, net, &r) != 1 ||
	    inet_pton(AF_INET, ip, &a) != 1 || bits < 0 || bits > 32)
		return false;
	mask = bits == 0 ? 0 : htonl(0xffffffffu << (32 - bits));
	return (a.s_addr & mask) == (r.s_addr & mask);
}

/* Tells whether the caller is an Azure service's managed identity (a trusted
 * service for the firewall). */
static bool trusted_caller(struct sim *s, const char *oid)
{
	struct json_object *list = jx_get(s->doc, "resources");

	for (size_t i = 0; oid && i < jx_len(list); i++) {
		struct json_object *r = jx_at(list, i);

		if (str_ieq(jx_str(r, "identity.principalId"), oid) ||
		    (str_ieq(jx_str(r, "type"), "Microsoft.ManagedIdentity/"
						"userAssignedIdentities") &&
		     str_ieq(jx_str(r, "properties.principalId"), oid)))
			return true;
	}
	return false;
}

/* Applies the vault firewall to the caller; answers 403 ForbiddenByFirewall
 * when it blocks. */
static bool firewall(struct kv_ctx *c)
{
	struct json_object *acl = jx_get(c->vault, "properties.networkAcls"),
			   *rules = jx_get(acl, "ipRules");
	const char *ip = c->rq->sim->set.client_ip,
		   *bypass = jx_str(acl, "bypass");
	const char *pna = jx_str(c->vault, "properties.publicNetworkAccess");
	/* A network security perimeter in enforced mode overrides the
	 * trusted-services bypass (Key Vault's network docs). */
	bool perimeter = str_ieq(pna, "SecuredByPerimeter");
	bool disabled = str_ieq(pna, "Disabled") || perimeter;
	bool deny = str_ieq(jx_str(acl, "defaultAction"), "Deny");
	bool trusted = !perimeter && bypass &&
		       strcasestr(bypass, "AzureServices") &&
		       trusted_caller(c->rq->sim, c->rq->oid);

	if ((!disabled && !deny) || trusted)
		return true;
	for (size_t i = 0; !disabled && i < jx_len(rules); i++)
		if (ip_in_rule(ip, jx_str(jx_at(rules, i), "value")))
			return true;
	if (disabled)
		kv_error(c->rs, 403, "Forbidden", "ForbiddenByFirewall",
			 "Public network access is disabled and request is "
			 "not from a trusted service nor via an approved "
			 "private link.\r\nCaller: oid=%s\r\nVault: %s;"
			 "location=%s",
			 c->rq->oid, c->name, jx_str(c->vault, "location"));
	else
		kv_error(c->rs, 403, "Forbidden", "ForbiddenByFirewall",
			 "Client address is not authorized and caller is "
			 "not a trusted service.\r\nClient address: "
			 "%s\r\nCaller: oid=%s\r\nVault: %s;location=%s",
			 ip, c->rq->oid, c->name, jx_str(c->vault, "location"));
	return false;
}

/* Tells whether the caller's access policy lists a key permission. */
static bool policy_allows(struct kv_ctx *c, const char *perm)
{
	struct json_object *list =
		jx_get(c->vault, "properties.accessPolicies");

	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *p = jx_at(list, i),
				   *keys = jx_get(p, "permissions.keys");

		if (str_ieq(jx_str(p, "objectId"), c->rq->oid) &&
		    (jx_array_has_istr(keys, perm) ||
		     jx_array_has_istr(keys, "all")))
			return true;
	}
	return false;
}

/* Tells whether a key has been deleted (every version carries the mark). */
static bool key_deleted(struct json_object *versions)
{
	return jx_len(versions) == 0 ||
	       jx_bool(jx_at(versions, jx_len(versions) - 1), "deleted", false);
}

/*
 * Tells whether the scenario leaves the operator's (or signed-in user's) data
 * plane open: then they hold rights on every key that exists and may create
 * keys, but a request naming a missing key is judged by RBAC as usual.
 */
static bool operator_exempt(struct kv_ctx *c, const struct kv_op *op,
			    const char *key)
{
	struct sim *s = c->rq->sim;
	struct json_object *vs = key ? kv_key_versions(s, c->name, key) : NULL;

	if (s->set.operator_data_plane_enforced ||
	    !(str_ieq(c->rq->oid, jx_str(s->doc, "operator.objectId")) ||
	      str_ieq(c->rq->oid, jx_str(s->doc, "user.objectId"))))
		return false;
	return !key || op == &OP_CREATE || (vs && !key_deleted(vs));
}

/* Authorises an operation by RBAC (or HSM local RBAC) or by access policy;
 * answers 403 when refused. */
static bool authorize(struct kv_ctx *c, const struct kv_op *op, const char *key)
{
	bool rbac = c->hsm ||
		    jx_bool(c->vault, "properties.enableRbacAuthorization",
			    false),
	     ok;
	const char *action = c->hsm ? op->hsm_action : op->kv_action;
	char *scope;

	if (operator_exempt(c, op, key))
		return true;
	scope = key ? xasprintf("%s/keys/%s", jx_str(c->vault, "id"), key)
		    : xstrdup(jx_str(c->vault, "id"));
	ok = rbac ? state_allows(c->rq->sim, c->rq->oid, scope, action, true)
		  : policy_allows(c, op->policy);

	if (!ok && rbac)
		kv_error(c->rs, 403, "Forbidden", "ForbiddenByRbac",
			 "Caller is not authorized to perform action on "
			 "resource.\r\nIf role assignments, deny assignments "
			 "or role definitions were changed recently, "
			 "please observe propagation time.\r\nCaller: "
			 "oid=%s\r\nAction: '%s'\r\nResource: '%s'\r\n"
			 "Assignment: (not found)\r\nDenyAssignmentId: "
			 "null\r\nDecisionReason: 'DeniedWithNoValidRBAC' "
			 "\r\nVault: %s;location=%s\r\n",
			 c->rq->oid, action, scope, c->name,
			 jx_str(c->vault, "location"));
	else if (!ok)
		kv_error(c->rs, 403, "Forbidden", "ForbiddenByPolicy",
			 "The user, group or application 'oid=%s;iss="
			 "https://sts.windows.net/%s/' does not have keys %s "
			 "permission on key vault '%s;location=%s'. "
			 "For help resolving this issue, please see "
			 "https://go.microsoft.com/fwlink/?linkid=2125287",
			 c->rq->oid, state_tenant(c->rq->sim), op->verb,
			 c->name, jx_str(c->vault, "location"));
	free(scope);
	return ok;
}

/* Returns the recovery level the vault's deletion settings give its keys. */
static const char *recovery_level(struct json_object *vault)
{
	bool sd = jx_bool(vault, "properties.enableSoftDelete", true);
	bool pp = jx_bool(vault, "properties.enablePurgeProtection", false);
	bool custom =
		jx_int(vault, "properties.softDeleteRetentionInDays", 90) < 90;

	if (!sd)
		return "Purgeable";
	if (custom)
		return pp ? "CustomizedRecoverable"
			  : "CustomizedRecoverable+Purgeable";
	return pp ? "Recoverable" : "Recoverable+Purgeable";
}

/* Derives a stable public modulus for a key version (the simulator keeps no
 * private keys). */
static char *modulus(const char *kid, int64_t bits)
{
	size_t n = (size_t)(bits > 0 && bits <= 8192 ? bits : 2048) / 8,
	       have = 0;
	unsigned char *buf = xmalloc(n + 32), md[32];
	unsigned int mdlen;
	char *out;

	for (unsigned i = 0; have < n; i++) {
		char *seed = xasprintf("%s#%u", kid, i);

		EVP_Digest(seed, strlen(seed), md, &mdlen, EVP_sha256(), NULL);
		memcpy(buf + have, md, mdlen);
		have += mdlen;
		free(seed);
	}
	buf[0] |= 0x80;
	buf[n - 1] |= 1;
	out = b64_encode(buf, n, true);
	free(buf);
	return out;
}

/* Returns "https://host/keys/name[/version]". */
static char *kid_of(struct kv_ctx *c, const char *key, const char *version)
{
	return version ? xasprintf("https://%s/keys/%s/%s", c->rq->host, key,
				   version)
		       : xasprintf("https://%s/keys/%s", c->rq->host, key);
}

/* Builds the attributes of a version as the data plane shows them. */
static struct json_object *attributes(struct kv_ctx *c, struct json_object *v)
{
	struct json_object *a = jx_copy(jx_get(v, "attributes"));

	if (!a)
		a = json_object_new_object();
	if (!jx_has(a, "enabled"))
		json_object_object_add(a, "enabled",
				       json_object_new_boolean(1));
	json_object_object_add(
		a, "recoveryLevel",
		json_object_new_string(recovery_level(c->vault)));
	json_object_object_add(
		a, "recoverableDays",
		json_object_new_int64(jx_int(
			c->vault, "properties.softDeleteRetentionInDays", 90)));
	if (!jx_has(a, "exportable"))
		json_object_object_add(a, "exportable",
				       json_object_new_boolean(0));
	return a;
}

/* Builds a KeyBundle for one version. */
static struct json_object *bundle(struct kv_ctx *c, const char *key,
				  struct json_object *v)
{
	struct json_object *b = json_object_new_object(),
			   *k = json_object_new_object();
	char *kid = kid_of(c, key, jx_str(v, "version"));
	const char *kty = jx_str(v, "kty");

	json_object_object_add(k, "kid", json_object_new_string(kid));
	json_object_object_add(k, "kty", json_object_new_string(kty));
	json_object_object_add(
		k, "key_ops",
		jx_get(v, "key_ops")
			? jx_copy(jx_get(v, "key_ops"))
			: json_tokener_parse(
				  "[\"encrypt\",\"decrypt\",\"sign\","
				  "\"verify\",\"wrapKey\",\"unwrapKey\"]"));
	if (str_istarts(kty, "RSA")) {
		char *n = modulus(kid, jx_int(v, "key_size", 2048));

		json_object_object_add(k, "n", json_object_new_string(n));
		json_object_object_add(k, "e", json_object_new_string("AQAB"));
		free(n);
	} else if (str_istarts(kty, "EC")) {
		json_object_object_add(
			k, "crv",
			json_object_new_string(
				jx_str(v, "crv") ? jx_str(v, "crv") : "P-256"));
	}
	json_object_object_add(b, "key", k);
	json_object_object_add(b, "attributes", attributes(c, v));
	if (jx_get(v, "tags"))
		json_object_object_add(b, "tags", jx_copy(jx_get(v, "tags")));
	free(kid);
	return b;
}

/* Answers 404 KeyNotFound the way Key Vault words it. */
static void key_not_found(struct kv_ctx *c, const char *key)
{
	kv_error(c->rs, 404, "KeyNotFound", NULL,
		 "A key with (name/id) %s was not found in this key vault. If "
		 "you "
		 "recently deleted this key you may be able to recover it "
		 "using the correct recovery command. For help "
		 "resolving this issue, please see "
		 "https://go.microsoft.com/fwlink/?linkid=2125182",
		 key);
}

/* Finds a live version (NULL version: the newest); answers 404 when there is
 * none. */
static struct json_object *find_version(struct kv_ctx *c, const char *key,
					const char *version)
{
	struct json_object *vs = kv_key_versions(c->rq->sim, c->name, key);

	if (!vs || key_deleted(vs)) {
		key_not_found(c, key);
		return NULL;
	}
	if (!version || !*version)
		return jx_at(vs, jx_len(vs) - 1);
	for (size_t i = 0; i < jx_len(vs); i++)
		if (str_ieq(jx_str(jx_at(vs, i), "version"), version))
			return jx_at(vs, i);
	key_not_found(c, key);
	return NULL;
}

/* Answers one page of items with Key Vault's nextLink (explicit :443,
 * $skiptoken, maxresults). */
static void kv_page(struct kv_ctx *c, struct json_object *items)
{
	const char *max = req_arg(c->rq, "maxresults"),
		   *tok = req_arg(c->rq, "$skiptoken");
	long size = max ? strtol(max, NULL, 10) : 25,
	     skip = tok ? strtol(tok, NULL, 10) : 0, n = (long)jx_len(items);
	struct json_object *body = json_object_new_object(),
			   *page = json_object_new_array();

	if (size < 1 || size > 25) {
		json_object_put(page);
		json_object_put(body);
		json_object_put(items);
		kv_error(c->rs, 400, "BadParameter", NULL,
			 "The parameter maxresults must be between 1 and 25.");
		return;
	}
	for (long i = skip < 0 ? 0 : skip; i < n && i < skip + size; i++)
		json_object_array_add(page,
				      json_object_get(jx_at(items, (size_t)i)));
	json_object_object_add(body, "value", page);
	if (skip + size < n) {
		char *next = xasprintf(
			"https://"
			"%s:443%s?api-version=%s&$skiptoken=%ld&maxresults=%ld",
			c->rq->host, c->rq->path, req_arg(c->rq, "api-version"),
			skip + size, size);

		json_object_object_add(body, "nextLink",
				       json_object_new_string(next));
		free(next);
	} else {
		json_object_object_add(body, "nextLink", NULL);
	}
	json_object_put(items);
	resp_json(c->rs, 200, body);
}

/* Makes a KeyItem (kid, attributes, tags). */
static struct json_object *item(struct kv_ctx *c, const char *key,
				struct json_object *v, bool with_version)
{
	struct json_object *o = json_object_new_object();
	char *kid = kid_of(c, key, with_version ? jx_str(v, "version") : NULL);

	json_object_object_add(o, "kid", json_object_new_string(kid));
	json_object_object_add(o, "attributes", attributes(c, v));
	if (jx_get(v, "tags"))
		json_object_object_add(o, "tags", jx_copy(jx_get(v, "tags")));
	free(kid);
	return o;
}

/* Serves GET /keys. */
static void list_keys(struct kv_ctx *c)
{
	struct json_object *keys = jx_iget(jx_get(c->rq->sim->doc, "keys"),
					   c->name),
			   *out = json_object_new_array();

	if (json_object_is_type(keys, json_type_object)) {
		json_object_object_foreach(keys, name, versions)
		{
			if (!key_deleted(versions))
				json_object_array_add(
					out, item(c, name,
						  jx_at(versions,
							jx_len(versions) - 1),
						  false));
		}
	}
	kv_page(c, out);
}

/* Orders two version items by their kid, that is by the version's random
 * identifier. */
static int by_kid(const void *a, const void *b)
{
	return strcmp(jx_str(*(struct json_object *const *)a, "kid"),
		      jx_str(*(struct json_object *const *)b, "kid"));
}

/*
 * Serves GET /keys/{name}/versions, in the order of the versions' random
 * identifiers, not of their creation: Key Vault promises no order ("Get Key
 * Versions - List keys in the specified vault", REST 7.4), so a client must
 * choose the current version by its attributes, never by its place.
 */
static void list_versions(struct kv_ctx *c, const char *key)
{
	struct json_object *vs = kv_key_versions(c->rq->sim, c->name, key),
			   *out;

	if (!vs || key_deleted(vs))
		return key_not_found(c, key);
	out = json_object_new_array();
	for (size_t i = 0; i < jx_len(vs); i++)
		json_object_array_add(out, item(c, key, jx_at(vs, i), true));
	json_object_array_sort(out, by_kid);
	kv_page(c, out);
}

/* Serves GET /keys/{name}[/{version}]; a disabled version is refused as Key
 * Vault refuses it. */
static void get_key(struct kv_ctx *c, const char *key, const char *version)
{
	struct json_object *v = find_version(c, key, version);

	if (!v)
		return;
	if (!jx_bool(v, "attributes.enabled", true))
		kv_error(c->rs, 403, "Forbidden", "KeyDisabled",
			 "Operation get is not allowed on a disabled key.");
	else
		resp_json(c->rs, 200, bundle(c, key, v));
}

/* Checks KeyCreateParameters; returns an error message (allocated) or NULL. */
static char *create_params_error(struct kv_ctx *c, struct json_object *b)
{
	const char *kty = jx_str(b, "kty");
	int64_t size = jx_int(b, "key_size", 2048);

	if (!kty)
		return xstrdup("The property 'kty' is required.");
	if (!str_ieq(kty, "RSA") && !str_ieq(kty, "RSA-HSM") &&
	    !str_ieq(kty, "EC") && !str_ieq(kty, "EC-HSM") &&
	    !(c->hsm && str_ieq(kty, "oct-HSM")))
		return xasprintf("The key type '%s' is not supported.", kty);
	if (str_istarts(kty, "RSA") && size != 2048 && size != 3072 &&
	    size != 4096)
		return xasprintf("The RSA key size %lld is not supported: use "
				 "2048, 3072 or 4096.",
				 (long long)size);
	if (!c->hsm && str_iends(kty, "-HSM") &&
	    !str_ieq(jx_str(c->vault, "properties.sku.name"), "premium"))
		return xasprintf("The key type '%s' needs a premium key vault.",
				 kty);
	return NULL;
}

/*
 * Appends a new version made from a template (kty, key_size, crv, key_ops,
 * attributes, tags) to a key, creating the key; returns the version.
 */
static struct json_object *store_version(struct kv_ctx *c, const char *key,
					 struct json_object *tmpl)
{
	struct json_object *keys = jx_get(c->rq->sim->doc, "keys"),
			   *vault_keys = jx_iget(keys, c->name), *vs, *v;
	struct json_object *attrs = jx_copy(jx_get(tmpl, "attributes"));
	char version[33];
	int64_t now = sim_now(c->rq->sim);

	if (!vault_keys) {
		vault_keys = json_object_new_object();
		json_object_object_add(keys, c->name, vault_keys);
	}
	if (!(vs = jx_iget(vault_keys, key)) || key_deleted(vs)) {
		vs = json_object_new_array();
		json_object_object_add(vault_keys, key, vs);
	}
	sim_random_hex(version, 16);
	v = json_object_new_object();
	json_object_object_add(v, "version", json_object_new_string(version));
	json_object_object_add(v, "kty",
			       json_object_new_string(jx_str(tmpl, "kty")));
	if (str_istarts(jx_str(tmpl, "kty"), "RSA"))
		json_object_object_add(
			v, "key_size",
			json_object_new_int64(jx_int(tmpl, "key_size", 2048)));
	if (jx_get(tmpl, "crv"))
		json_object_object_add(v, "crv", jx_copy(jx_get(tmpl, "crv")));
	if (jx_get(tmpl, "key_ops"))
		json_object_object_add(v, "key_ops",
				       jx_copy(jx_get(tmpl, "key_ops")));
	if (!attrs)
		attrs = json_object_new_object();
	json_object_object_add(attrs, "created", json_object_new_int64(now));
	json_object_object_add(attrs, "updated", json_object_new_int64(now));
	json_object_object_add(v, "attributes", attrs);
	if (jx_get(tmpl, "tags"))
		json_object_object_add(v, "tags",
				       jx_copy(jx_get(tmpl, "tags")));
	json_object_array_add(vs, v);
	return v;
}

/* Appends a new version to a key (creating the key) and answers its bundle. */
static void add_version(struct kv_ctx *c, const char *key,
			struct json_object *tmpl)
{
	resp_json(c->rs, 200, bundle(c, key, store_version(c, key, tmpl)));
}

/* Serves POST /keys/{name}/create. */
static void create_key(struct kv_ctx *c, const char *key)
{
	struct json_object *b;
	char *err;

	if (!(b = req_json(c->rq, c->rs)))
		return;
	if ((err = create_params_error(c, b)) != NULL) {
		kv_error(c->rs, 400, "BadParameter", NULL, "%s", err);
		free(err);
		return;
	}
	add_version(c, key, b);
}

/* Serves POST /keys/{name}/rotate: a new version like the newest one. */
static void rotate_key(struct kv_ctx *c, const char *key)
{
	struct json_object *v = find_version(c, key, NULL), *tmpl;

	if (!v)
		return;
	tmpl = jx_copy(v);
	jx_del(tmpl, "attributes.exp");
	jx_del(tmpl, "attributes.nbf");
	json_object_object_add(
		jx_get(tmpl, "attributes") ? jx_get(tmpl, "attributes") : tmpl,
		"enabled", json_object_new_boolean(1));
	add_version(c, key, tmpl);
	json_object_put(tmpl);
}

/* Serves PATCH /keys/{name}/{version}: attributes, key_ops and tags. */
static void update_key(struct kv_ctx *c, const char *key, const char *version)
{
	struct json_object *v = find_version(c, key, version), *b;

	if (!v || !(b = req_json(c->rq, c->rs)))
		return;
	if (!jx_get(v, "attributes"))
		json_object_object_add(v, "attributes",
				       json_object_new_object());
	jx_merge_patch(jx_get(v, "attributes"), jx_get(b, "attributes"));
	jx_set(v, "attributes.updated",
	       json_object_new_int64(sim_now(c->rq->sim)));
	if (jx_get(b, "key_ops"))
		json_object_object_add(v, "key_ops",
				       jx_copy(jx_get(b, "key_ops")));
	if (jx_get(b, "tags"))
		json_object_object_add(v, "tags", jx_copy(jx_get(b, "tags")));
	resp_json(c->rs, 200, bundle(c, key, v));
}

/* Makes the rotation policy Key Vault keeps from a PUT body, with its times
 * stamped and its default Notify action. */
static struct json_object *stored_policy(struct kv_ctx *c,
					 struct json_object *body,
					 struct json_object *old)
{
	struct json_object *pol = jx_copy(body),
			   *acts = jx_get(pol, "lifetimeActions");
	int64_t now = sim_now(c->rq->sim);
	bool notify = false;

	/*
	 * Key Vault stamps attributes.created (kept from the policy replaced)
	 * and .updated, as GetKeyRotationPolicy-example.json (REST 7.5) shows,
	 * and adds a Notify action 30 days before expiry to a policy without
	 * one, as the service's answers recorded by Azure/azure-sdk-for-js show
	 * (keyvault-keys,
	 * recording_updatekeyrotationpolicy_supports_creating_a_new_rotation_policy_and_fetching_it.json,
	 * service 1.9.576.1: a PUT of one Rotate action is answered with that
	 * action and the Notify one).
	 */
	if (!json_object_is_type(jx_get(pol, "attributes"), json_type_object))
		json_object_object_add(pol, "attributes",
				       json_object_new_object());
	jx_set(pol, "attributes.created",
	       json_object_new_int64(jx_int(old, "attributes.created", now)));
	jx_set(pol, "attributes.updated", json_object_new_int64(now));
	if (!json_object_is_type(acts, json_type_array)) {
		acts = json_object_new_array();
		json_object_object_add(pol, "lifetimeActions", acts);
	}
	for (size_t i = 0; i < jx_len(acts); i++)
		notify |= str_ieq(jx_str(jx_at(acts, i), "action.type"),
				  "Notify");
	if (!notify)
		json_object_array_add(
			acts,
			json_tokener_parse(
				"{\"trigger\":{\"timeBeforeExpiry\":\"P30D\"},"
				"\"action\":{\"type\":\"Notify\"}}"));
	return pol;
}

/* Returns a key's rotation policy (the one on its newest version that has one),
 * or NULL. */
static struct json_object *current_policy(struct json_object *vs)
{
	struct json_object *pol = NULL;

	for (size_t i = 0; i < jx_len(vs); i++)
		pol = jx_get(jx_at(vs, i), "rotationPolicy")
			      ? jx_get(jx_at(vs, i), "rotationPolicy")
			      : pol;
	return pol;
}

/* Stores a rotation policy from a PUT body on a key's newest version, with its
 * id; returns it (borrowed). */
static struct json_object *put_policy(struct kv_ctx *c, struct json_object *vs,
				      struct json_object *body, const char *id)
{
	struct json_object *pol = stored_policy(c, body, current_policy(vs));

	json_object_object_add(pol, "id", json_object_new_string(id));
	json_object_object_add(jx_at(vs, jx_len(vs) - 1), "rotationPolicy",
			       pol);
	return pol;
}

/* Serves GET and PUT /keys/{name}/rotationpolicy (stored on the newest
 * version). */
static void rotation_policy(struct kv_ctx *c, const char *key, bool put)
{
	struct json_object *vs = kv_key_versions(c->rq->sim, c->name, key),
			   *pol = NULL, *b;
	char *id = xasprintf("https://%s/keys/%s/rotationpolicy", c->rq->host,
			     key);

	if (!vs || key_deleted(vs)) {
		key_not_found(c, key);
	} else if (put) {
		if ((b = req_json(c->rq, c->rs)) != NULL)
			resp_json(c->rs, 200,
				  json_object_get(put_policy(c, vs, b, id)));
	} else {
		pol = current_policy(vs);
		pol = pol ? jx_copy(pol)
			  : json_tokener_parse(
				    "{\"lifetimeActions\":[{\"trigger\":{"
				    "\"timeBeforeExpiry\":"
				    "\"P30D\"},\"action\":{\"type\":\"Notify\"}"
				    "}],\"attributes\":{}}");
		json_object_object_add(pol, "id", json_object_new_string(id));
		resp_json(c->rs, 200, pol);
	}
	free(id);
}

/* Serves wrapkey and unwrapkey: a reversible transform tied to the version (no
 * real cryptography). */
static void wrap(struct kv_ctx *c, const char *key, const char *version,
		 bool unwrap)
{
	struct json_object *v = find_version(c, key, version), *b;
	const char *val;
	unsigned char *raw;
	size_t len;
	char *res = NULL, *tag;

	if (!v || !(b = req_json(c->rq, c->rs)))
		return;
	if (!jx_bool(v, "attributes.enabled", true) ||
	    (jx_int(v, "attributes.exp", 0) &&
	     jx_int(v, "attributes.exp", 0) <= sim_now(c->rq->sim))) {
		kv_error(c->rs, 403, "Forbidden",
			 jx_bool(v, "attributes.enabled", true) ? "KeyExpired"
								: "KeyDisabled",
			 "Operation %s is not allowed on a %s key.",
			 unwrap ? "unwrapKey" : "wrapKey",
			 jx_bool(v, "attributes.enabled", true) ? "expired"
								: "disabled");
		return;
	}
	if (!(val = jx_str(b, "value")) || !jx_str(b, "alg") ||
	    !(raw = b64_decode(val, strlen(val), &len))) {
		kv_error(c->rs, 400, "BadParameter", NULL,
			 "The request needs 'alg' and a base64url 'value'.");
		return;
	}
	tag = xasprintf("azsim:%s:", jx_str(v, "version"));
	if (!unwrap) {
		char *joined = xasprintf("%s%.*s", tag, (int)len, raw);

		res = b64_encode(joined, strlen(tag) + len, true);
		free(joined);
	} else if (len >= strlen(tag) && memcmp(raw, tag, strlen(tag)) == 0) {
		res = b64_encode(raw + strlen(tag), len - strlen(tag), true);
	}
	if (res) {
		char *kid = kid_of(c, key, jx_str(v, "version"));
		struct json_object *out = json_object_new_object();

		json_object_object_add(out, "kid", json_object_new_string(kid));
		json_object_object_add(out, "value",
				       json_object_new_string(res));
		resp_json(c->rs, 200, out);
		free(kid);
	} else {
		kv_error(c->rs, 400, "BadParameter", NULL,
			 "The value was not wrapped by this key version.");
	}
	free(tag);
	free(res);
	free(raw);
}

/* Serves DELETE /keys/{name}: the key goes to the deleted state. */
static void delete_key(struct kv_ctx *c, const char *key)
{
	struct json_object *vs = kv_key_versions(c->rq->sim, c->name, key), *v;

	if (!vs || key_deleted(vs))
		return key_not_found(c, key);
	for (size_t i = 0; i < jx_len(vs); i++)
		json_object_object_add(jx_at(vs, i), "deleted",
				       json_object_new_boolean(1));
	v = bundle(c, key, jx_at(vs, jx_len(vs) - 1));
	json_object_object_add(v, "deletedDate",
			       json_object_new_int64(sim_now(c->rq->sim)));
	resp_json(c->rs, 200, v);
}

/* Routes /keys/... by method and shape, after checking permission for the
 * operation. */
static void keys_route(struct kv_ctx *c, const char *rest)
{
	char key[128] = "", part[128] = "", op[32] = "";
	int n = sscanf(rest, "/keys/%127[^/]/%127[^/]/%31[^/]", key, part, op);
	const char *m = c->rq->method;
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;

	if (strcmp(rest, "/keys") == 0 || strcmp(rest, "/keys/") == 0) {
		if (get && authorize(c, &OP_LIST, NULL))
			list_keys(c);
	} else if (n >= 1 && (n == 1 || !part[0]) && get) {
		if (authorize(c, &OP_GET, key))
			get_key(c, key, NULL);
	} else if (n == 2 && get && str_ieq(part, "versions")) {
		if (authorize(c, &OP_LIST, key))
			list_versions(c, key);
	} else if (n == 2 && post && str_ieq(part, "create")) {
		if (authorize(c, &OP_CREATE, key))
			create_key(c, key);
	} else if (n == 2 && post && str_ieq(part, "rotate")) {
		if (authorize(c, &OP_ROTATE, key))
			rotate_key(c, key);
	} else if (n == 2 && str_ieq(part, "rotationpolicy") &&
		   (get || strcmp(m, "PUT") == 0)) {
		if (authorize(c, get ? &OP_GETPOL : &OP_SETPOL, key))
			rotation_policy(c, key, !get);
	} else if (n == 2 && get) {
		if (authorize(c, &OP_GET, key))
			get_key(c, key, part);
	} else if (n >= 1 && strcmp(m, "PATCH") == 0) {
		if (authorize(c, &OP_UPDATE, key))
			update_key(c, key, part);
	} else if (n == 3 && post &&
		   (str_ieq(op, "wrapkey") || str_ieq(op, "unwrapkey"))) {
		if (authorize(c, str_ieq(op, "wrapkey") ? &OP_WRAP : &OP_UNWRAP,
			      key))
			wrap(c, key, part, str_ieq(op, "unwrapkey"));
	} else if (n == 1 && strcmp(m, "DELETE") == 0) {
		if (authorize(c, &OP_DELETE, key))
			delete_key(c, key);
	} else {
		kv_error(c->rs, strcmp(m, "GET") && !post ? 405 : 400,
			 "BadParameter", NULL,
			 "The operation %s %s is not supported.", m, rest);
	}
}

/* ---- Keys through Resource Manager: Microsoft.KeyVault/vaults/keys and
 * managedHSMs/keys, from the same store ---- */

/* A request on keys through Resource Manager: the vault or HSM, and the names
 * its path gives. */
struct armkey {
	struct kv_ctx c;
	const struct armid *id;
	char *names; /* the id's full name split in place: vault, key, version
		      */
	const char *key;     /* NULL for the list of keys */
	const char *version; /* NULL unless one version is named */
	bool versions;       /* the path is under .../versions */
};

/* Tells whether an ARM type is keys or key versions of a vault or managed HSM.
 */
bool kv_arm_key_type(const char *type)
{
	static const char *const types[] = {
		"Microsoft.KeyVault/vaults/keys",
		"Microsoft.KeyVault/vaults/keys/versions",
		"Microsoft.KeyVault/managedHSMs/keys",
		"Microsoft.KeyVault/managedHSMs/keys/versions", NULL
	};

	for (int i = 0; types[i]; i++)
		if (str_ieq(type, types[i]))
			return true;
	return false;
}

/* Returns the id of the vault or HSM an ARM key path lies in (allocated). */
static char *armkey_vault_id(const struct armid *id, const char *vault,
			     bool hsm)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/"
			 "Microsoft.KeyVault/%s/%s",
			 id->subscription,
			 id->resource_group ? id->resource_group : "",
			 hsm ? "managedHSMs" : "vaults", vault);
}

/* Splits the names of an ARM key path and finds its vault; false (404 answered)
 * when the vault does not exist. */
static bool armkey_open(struct sim_req *rq, struct sim_resp *rs,
			const struct armid *id, struct armkey *k)
{
	bool hsm = str_istarts(id->type, "Microsoft.KeyVault/managedHSMs/");
	char *save = NULL, *vault_id;
	struct armid vid;

	memset(k, 0, sizeof(*k));
	k->id = id;
	k->names = xstrdup(id->full_name ? id->full_name : "");
	k->c = (struct kv_ctx){ rq, rs, NULL, hsm,
				strtok_r(k->names, "/", &save) };
	k->key = strtok_r(NULL, "/", &save);
	k->version = strtok_r(NULL, "/", &save);
	k->versions = str_iends(id->type, "/versions");
	vault_id = armkey_vault_id(id, k->c.name ? k->c.name : "", hsm);
	k->c.vault = state_resource(rq->sim, vault_id);
	if (!k->c.vault && armid_parse(vault_id, &vid)) {
		arm_not_found(rs, &vid);
		armid_free(&vid);
	} else if (!k->c.vault) {
		resp_error(rs, 404, "ResourceNotFound",
			   "The Resource '%s' was not found.", vault_id);
	}
	free(vault_id);
	if (k->c.vault)
		k->c.name = jx_str(k->c.vault, "name");
	return k->c.vault != NULL;
}

/* Returns a key URI as Resource Manager shows it, "https://{vault
 * host}:443/keys/{key}[/{version}]" (allocated). */
static char *arm_key_uri(const struct armkey *k, const char *key,
			 const char *version)
{
	const char *suffix = arm_vault_suffix(k->c.rq, k->c.hsm);

	return version ? xasprintf("https://%s.%s:443/keys/%s/%s", k->c.name,
				   suffix, key, version)
		       : xasprintf("https://%s.%s:443/keys/%s", k->c.name,
				   suffix, key);
}

/* Converts a stored (data-plane) rotation policy to Resource Manager's: no id,
 * action types in lower case. */
static struct json_object *arm_policy(struct json_object *stored)
{
	struct json_object *p = jx_copy(stored),
			   *acts = jx_get(p, "lifetimeActions");

	json_object_object_del(p, "id");
	for (size_t i = 0; i < jx_len(acts); i++) {
		char *t = str_lower(
			jx_str(jx_at(acts, i), "action.type")
				? jx_str(jx_at(acts, i), "action.type")
				: "");

		jx_set(jx_at(acts, i), "action.type",
		       json_object_new_string(t));
		free(t);
	}
	return p;
}

/* Adds what Resource Manager shows of a version's key material: kty, keyOps,
 * keySize (RSA), curveName (EC). */
static void arm_key_material(struct json_object *p, struct json_object *v)
{
	const char *kty = jx_str(v, "kty");

	json_object_object_add(p, "kty",
			       json_object_new_string(kty ? kty : "RSA"));
	json_object_object_add(
		p, "keyOps",
		jx_get(v, "key_ops")
			? jx_copy(jx_get(v, "key_ops"))
			: json_tokener_parse(
				  "[\"encrypt\",\"decrypt\",\"sign\","
				  "\"verify\",\"wrapKey\",\"unwrapKey\"]"));
	if (str_istarts(kty, "RSA"))
		json_object_object_add(
			p, "keySize",
			json_object_new_int64(jx_int(v, "key_size", 2048)));
	else if (str_istarts(kty, "EC"))
		json_object_object_add(
			p, "curveName",
			json_object_new_string(
				jx_str(v, "crv") ? jx_str(v, "crv") : "P-256"));
}

/*
 * Builds a key's properties as Resource Manager shows them (keys.json
 * 2024-11-01, KeyProperties): attributes as the data plane keeps them (Unix
 * seconds; no recoverableDays, which ARM does not have), keyUri, and when
 * asked the key material, keyUriWithVersion and the rotation policy.
 */
static struct json_object *arm_key_props(struct armkey *k, const char *key,
					 struct json_object *v, bool full,
					 bool with_version,
					 struct json_object *policy)
{
	struct json_object *p = json_object_new_object(),
			   *a = attributes(&k->c, v);
	char *uri = arm_key_uri(k, key, NULL);

	json_object_object_del(a, "recoverableDays");
	json_object_object_add(p, "attributes", a);
	if (full)
		arm_key_material(p, v);
	json_object_object_add(p, "keyUri", json_object_new_string(uri));
	free(uri);
	if (with_version) {
		uri = arm_key_uri(k, key, jx_str(v, "version"));
		json_object_object_add(p, "keyUriWithVersion",
				       json_object_new_string(uri));
		free(uri);
	}
	if (policy)
		json_object_object_add(p, "rotationPolicy", arm_policy(policy));
	return p;
}

/* Wraps properties (taken) in the key resource: id, name, type, location
 * (vaults only, as the examples show), tags. */
static struct json_object *arm_key_resource(struct armkey *k, const char *key,
					    struct json_object *v, bool version,
					    struct json_object *props)
{
	struct json_object *o = json_object_new_object();
	char *id = version ? xasprintf("%s/keys/%s/versions/%s",
				       jx_str(k->c.vault, "id"), key,
				       jx_str(v, "version"))
			   : xasprintf("%s/keys/%s", jx_str(k->c.vault, "id"),
				       key);
	char *type = xasprintf("%s/keys%s", jx_str(k->c.vault, "type"),
			       version ? "/versions" : "");

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(
		o, "name",
		json_object_new_string(version ? jx_str(v, "version") : key));
	json_object_object_add(o, "type", json_object_new_string(type));
	if (!k->c.hsm && jx_str(k->c.vault, "location"))
		json_object_object_add(
			o, "location",
			json_object_new_string(jx_str(k->c.vault, "location")));
	if (jx_get(v, "tags"))
		json_object_object_add(o, "tags", jx_copy(jx_get(v, "tags")));
	json_object_object_add(o, "properties", props);
	free(id);
	free(type);
	return o;
}

/* Returns a live key's versions, or NULL after answering Resource Manager's 404
 * for it. */
static struct json_object *arm_versions(struct armkey *k)
{
	struct json_object *vs =
		kv_key_versions(k->c.rq->sim, k->c.name, k->key);

	if (vs && !key_deleted(vs))
		return vs;
	arm_not_found(k->c.rs, k->id);
	return NULL;
}

/* Serves GET .../keys/{key}: the newest version, with its material, URIs and
 * rotation policy. */
static void arm_key_get(struct armkey *k)
{
	struct json_object *vs = arm_versions(k), *v;

	if (!vs)
		return;
	v = jx_at(vs, jx_len(vs) - 1);
	resp_json(k->c.rs, 200,
		  arm_key_resource(k, k->key, v, false,
				   arm_key_props(k, k->key, v, true, true,
						 current_policy(vs))));
}

/* Serves GET .../keys/{key}/versions/{version}. */
static void arm_version_get(struct armkey *k)
{
	struct json_object *vs = arm_versions(k);

	for (size_t i = 0; vs && i < jx_len(vs); i++) {
		struct json_object *v = jx_at(vs, i);

		if (str_ieq(jx_str(v, "version"), k->version)) {
			resp_json(k->c.rs, 200,
				  arm_key_resource(k, k->key, v, true,
						   arm_key_props(k, k->key, v,
								 true, true,
								 NULL)));
			return;
		}
	}
	if (vs)
		arm_not_found(k->c.rs, k->id);
}

/* Serves GET .../keys: each live key's newest version, its attributes and
 * keyUri (listKeys.json), paged as ARM pages. */
static void arm_key_list(struct armkey *k)
{
	struct json_object *keys = jx_iget(jx_get(k->c.rq->sim->doc, "keys"),
					   k->c.name),
			   *out = json_object_new_array();

	if (json_object_is_type(keys, json_type_object)) {
		json_object_object_foreach(keys, name, vs)
		{
			struct json_object *v =
				key_deleted(vs) ? NULL
						: jx_at(vs, jx_len(vs) - 1);

			if (v)
				json_object_array_add(
					out,
					arm_key_resource(
						k, name, v, false,
						arm_key_props(k, name, v, false,
							      false, NULL)));
		}
	}
	arm_answer_page(k->c.rq, k->c.rs, out);
}

/* Serves GET .../keys/{key}/versions: attributes, keyUri and keyUriWithVersion
 * of each (listKeyVersions.json). */
static void arm_version_list(struct armkey *k)
{
	struct json_object *vs = arm_versions(k), *out;

	if (!vs)
		return;
	out = json_object_new_array();
	for (size_t i = 0; i < jx_len(vs); i++)
		json_object_array_add(
			out,
			arm_key_resource(k, k->key, jx_at(vs, i), true,
					 arm_key_props(k, k->key, jx_at(vs, i),
						       false, true, NULL)));
	arm_answer_page(k->c.rq, k->c.rs, out);
}

/* Converts Resource Manager's KeyCreateParameters to the data plane's key
 * template (allocated). */
static struct json_object *arm_template(struct json_object *body)
{
	struct json_object *t = json_object_new_object(),
			   *p = jx_get(body, "properties");
	static const char *const map[][2] = { { "kty", "kty" },
					      { "keySize", "key_size" },
					      { "curveName", "crv" },
					      { "keyOps", "key_ops" },
					      { "attributes", "attributes" } };

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (jx_get(p, map[i][0]))
			json_object_object_add(t, map[i][1],
					       jx_copy(jx_get(p, map[i][0])));
	jx_del(t, "attributes.created");
	jx_del(t, "attributes.updated");
	jx_del(t, "attributes.recoveryLevel");
	if (jx_get(body, "tags"))
		json_object_object_add(t, "tags",
				       jx_copy(jx_get(body, "tags")));
	return t;
}

/* Converts Resource Manager's rotation policy to the data plane's (action types
 * capitalised), allocated. */
static struct json_object *dataplane_policy(struct json_object *arm)
{
	struct json_object *p = jx_copy(arm),
			   *acts = jx_get(p, "lifetimeActions");

	for (size_t i = 0; i < jx_len(acts); i++) {
		const char *t = jx_str(jx_at(acts, i), "action.type");

		jx_set(jx_at(acts, i), "action.type",
		       json_object_new_string(str_ieq(t, "rotate") ? "Rotate"
								   : "Notify"));
	}
	return p;
}

/* Creates a key's first version from a PUT's template and policy; false with
 * 400 answered when Key Vault refuses it. */
static bool arm_create(struct armkey *k, struct json_object *body)
{
	struct json_object *tmpl = arm_template(body),
			   *pol = jx_get(body, "properties.rotationPolicy");
	char *err = create_params_error(&k->c, tmpl);
	bool ok = err == NULL;

	if (!ok) {
		resp_error(k->c.rs, 400, "BadRequest", "%s", err);
		free(err);
	} else {
		store_version(&k->c, k->key, tmpl);
		if (json_object_is_type(pol, json_type_object)) {
			struct json_object *dp = dataplane_policy(pol);
			char *id = xasprintf(
				"https://%s.%s/keys/%s/rotationpolicy",
				k->c.name, arm_vault_suffix(k->c.rq, k->c.hsm),
				k->key);

			put_policy(&k->c,
				   kv_key_versions(k->c.rq->sim, k->c.name,
						   k->key),
				   dp, id);
			json_object_put(dp);
			free(id);
		}
	}
	json_object_put(tmpl);
	return ok;
}

/*
 * Serves PUT .../keys/{key} (Keys_CreateIfNotExist): creates the key's first
 * version when the key does not exist, and answers the key (200) either way;
 * an existing key is returned without any write, as the operation's
 * description in keys.json says.
 */
static void arm_key_put(struct armkey *k)
{
	struct json_object *body = req_json(k->c.rq, k->c.rs), *vs;

	if (!body)
		return;
	vs = kv_key_versions(k->c.rq->sim, k->c.name, k->key);
	if ((vs && !key_deleted(vs)) || arm_create(k, body))
		arm_key_get(k);
}

/* Serves keys through Resource Manager (after ARM's own checks in arm.c):
 * lists, one key or version, create. */
void kv_arm_keys(struct sim_req *rq, struct sim_resp *rs,
		 const struct armid *id)
{
	struct armkey k;
	bool get = strcmp(rq->method, "GET") == 0;

	if (armkey_open(rq, rs, id, &k)) {
		if (get && !k.key)
			arm_key_list(&k);
		else if (get && k.versions && !k.version)
			arm_version_list(&k);
		else if (get && k.versions)
			arm_version_get(&k);
		else if (get)
			arm_key_get(&k);
		else if (strcmp(rq->method, "PUT") == 0 && k.key && !k.versions)
			arm_key_put(&k);
		else
			resp_error(rs, 405, "MethodNotAllowed",
				   "The requested resource does not support "
				   "http method '%s'.",
				   rq->method);
	}
	free(k.names);
}

/* Routes a request to {vault}.vault.azure.net or {hsm}.managedhsm.azure.net. */
void kv_handle(struct sim_req *rq, struct sim_resp *rs)
{
	struct kv_ctx c = { rq, rs, NULL, rq->kind == HOST_HSM, rq->dataplane };

	c.vault = state_vault_by_name(rq->sim, rq->dataplane, c.hsm);
	if (!c.vault) {
		kv_error(rs, 404, "VaultNotFound", NULL,
			 "No key vault is reachable at '%s'.", rq->host);
		return;
	}
	if (!authenticate(&c) || !firewall(&c))
		return;
	if (!req_arg(rq, "api-version")) {
		kv_error(rs, 400, "BadParameter", NULL,
			 "The api-version query parameter is required.");
		return;
	}
	if (c.hsm && hsm_rbac_handle(rq, rs, c.vault))
		return;
	if (str_istarts(rq->path, "/keys"))
		keys_route(&c, rq->path);
	else
		kv_error(rs, 404, "NotFound", NULL,
			 "The path '%s' is not served by this simulated key "
			 "vault.",
			 rq->path);
}
