/* The simulated managed-identity endpoint (plain HTTP): IMDS, App Service,
 * Cloud Shell and Azure Arc styles. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* Answers an identity-endpoint error {"error","error_description"}. */
static void mi_error(struct sim_resp *rs, int status, const char *error,
		     const char *desc)
{
	struct json_object *b = json_object_new_object();

	json_object_object_add(b, "error", json_object_new_string(error));
	json_object_object_add(b, "error_description",
			       json_object_new_string(desc));
	resp_json(rs, status, b);
}

/* Returns a form field of a POST body (Cloud Shell sends resource=...),
 * allocated. */
static char *form_field(const char *body, const char *key)
{
	char *pat = xasprintf("%s=", key), *p = strstr(body, pat), *out = NULL;

	if (p && (p == body || p[-1] == '&')) {
		const char *v = p + strlen(pat);
		struct sbuf b = SBUF_INIT;

		for (; *v && *v != '&'; v++) {
			unsigned c;

			if (*v == '%' && sscanf(v + 1, "%2x", &c) == 1) {
				sb_addc(&b, (char)c);
				v += 2;
			} else {
				sb_addc(&b, *v == '+' ? ' ' : *v);
			}
		}
		out = sb_steal(&b);
	}
	free(pat);
	return out;
}

/* Finds the identity a request names by client id, object id or resource id;
 * NULL = not found. */
static bool pick_identity(struct sim_req *rq, const char **oid,
			  const char **client)
{
	static const char *const keys[] = { "client_id",  "clientid",
					    "object_id",  "principal_id",
					    "msi_res_id", "mi_res_id",
					    NULL };
	struct json_object *mi = jx_get(rq->sim->doc, "managedIdentity"),
			   *list = jx_get(rq->sim->doc, "resources");
	const char *want = NULL;

	for (int i = 0; keys[i] && !want; i++)
		want = req_arg(rq, keys[i]);
	*oid = mi ? jx_str(mi, "objectId")
		  : jx_str(rq->sim->doc, "operator.objectId");
	*client = mi ? jx_str(mi, "clientId")
		     : jx_str(rq->sim->doc, "operator.clientId");
	if (!want || str_ieq(want, *oid) || str_ieq(want, *client))
		return true;
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *r = jx_at(list, i);

		if (str_ieq(jx_str(r, "type"), "Microsoft.ManagedIdentity/"
					       "userAssignedIdentities") &&
		    (str_ieq(jx_str(r, "properties.clientId"), want) ||
		     str_ieq(jx_str(r, "properties.principalId"), want) ||
		     str_ieq(jx_str(r, "id"), want))) {
			*oid = jx_str(r, "properties.principalId");
			*client = jx_str(r, "properties.clientId");
			return true;
		}
	}
	return false;
}

/* Answers a token in the managed-identity shape (numbers as strings, as IMDS
 * sends them). */
static void mi_token(struct sim_req *rq, struct sim_resp *rs,
		     const char *resource, const char *oid, const char *client)
{
	struct sim *s = rq->sim;
	struct json_object *b = json_object_new_object();
	char *tok = entra_mint(s, oid, client, resource, false), num[32];
	int64_t now = sim_now(s);

	json_object_object_add(b, "access_token", json_object_new_string(tok));
	json_object_object_add(b, "refresh_token", json_object_new_string(""));
	snprintf(num, sizeof(num), "%d", s->set.token_lifetime);
	json_object_object_add(b, "expires_in", json_object_new_string(num));
	json_object_object_add(b, "ext_expires_in",
			       json_object_new_string(num));
	snprintf(num, sizeof(num), "%lld",
		 (long long)(now + s->set.token_lifetime));
	json_object_object_add(b, "expires_on", json_object_new_string(num));
	snprintf(num, sizeof(num), "%lld", (long long)now);
	json_object_object_add(b, "not_before", json_object_new_string(num));
	json_object_object_add(b, "resource", json_object_new_string(resource));
	json_object_object_add(b, "token_type",
			       json_object_new_string("Bearer"));
	json_object_object_add(b, "client_id", json_object_new_string(client));
	resp_json(rs, 200, b);
	free(tok);
}

/*
 * Answers Azure Arc's challenge as himds does: a fresh secret in a new .key
 * file of the key directory, named by "WWW-Authenticate: Basic realm=PATH"
 * on a 401 (learn.microsoft.com/azure/azure-arc/servers/managed-identity-
 * authentication); the secret is kept among the grants for the retry.
 */
static void arc_challenge(struct sim_req *rq, struct sim_resp *rs)
{
	struct sim *s = rq->sim;
	char name[33], secret[65], *path;
	int fd;

	sim_random_hex(name, 16);
	sim_random_hex(secret, 32);
	path = xasprintf("%s/%s.key", s->set.arc_key_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0 ||
	    write(fd, secret, strlen(secret)) != (ssize_t)strlen(secret)) {
		mi_error(rs, 500, "internal_error",
			 "The Arc agent cannot write its key file.");
	} else {
		char *grant = xasprintf("arc:%s", secret), *realm;

		json_object_object_add(s->grants, grant,
				       json_object_new_boolean(1));
		free(grant);
		realm = xasprintf("Basic realm=%s",
				  s->set.arc_realm ? s->set.arc_realm : path);
		mi_error(rs, 401, "unauthorized",
			 "Use the key in the file the challenge names.");
		resp_header(rs, "WWW-Authenticate", realm);
		free(realm);
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

/* Checks an Azure Arc request: the api-version himds serves and, after the
 * challenge, "Authorization: Basic SECRET" with a secret it gave. */
static bool arc_ok(struct sim_req *rq, struct sim_resp *rs)
{
	const char *ver = req_arg(rq, "api-version"),
		   *auth = req_header(rq, "Authorization"),
		   *meta = req_header(rq, "Metadata");
	char *grant;
	bool ok;

	if (!meta || strcmp(meta, "true") != 0) {
		mi_error(rs, 400, "invalid_request",
			 "Required metadata header not specified");
		return false;
	}
	if (!ver || !(strcmp(ver, "2020-06-01") == 0 ||
		      strcmp(ver, "2019-11-01") == 0)) {
		mi_error(rs, 400, "invalid_request",
			 "Azure Arc serves api-version 2020-06-01 or "
			 "2019-11-01.");
		return false;
	}
	if (!auth) {
		arc_challenge(rq, rs);
		return false;
	}
	grant = xasprintf("arc:%s", str_istarts(auth, "Basic ")
					    ? auth + strlen("Basic ")
					    : "");
	ok = jx_has(rq->sim->grants, grant);
	free(grant);
	if (!ok)
		mi_error(rs, 401, "unauthorized",
			 "The key is not one the Arc agent gave.");
	return ok;
}

/* Answers a managed-identity token request once its style's checks passed
 * (Arc's challenge aside). */
static void identity_answer(struct sim_req *rq, struct sim_resp *rs)
{
	const char *hdr = req_header(rq, "X-IDENTITY-HEADER")
				  ? req_header(rq, "X-IDENTITY-HEADER")
				  : req_header(rq, "secret");
	const char *meta = req_header(rq, "Metadata"), *oid, *client;
	char *resource = req_arg(rq, "resource")
				 ? xstrdup(req_arg(rq, "resource"))
				 : form_field(sb_str(&rq->body), "resource");
	enum host_kind kind;

	if (hdr ? strcmp(hdr, rq->sim->set.identity_header) != 0
		: !(meta && strcmp(meta, "true") == 0))
		mi_error(rs, hdr ? 401 : 400, "invalid_request",
			 hdr ? "The identity header is not valid."
			     : "Required metadata header not specified");
	else if (!resource)
		mi_error(rs, 400, "invalid_request",
			 "Required query variable 'resource' is missing");
	else if (!entra_audience_kind(resource, &kind))
		mi_error(rs, 400, "invalid_resource",
			 "AADSTS500011: The resource principal was not found "
			 "in the tenant.");
	else if (!pick_identity(rq, &oid, &client))
		mi_error(rs, 400, "invalid_request", "Identity not found");
	else
		mi_token(rq, rs, resource, oid, client);
	free(resource);
}

/* Serves a managed-identity token request in any of the styles Azure hosts use.
 */
void identity_handle(struct sim_req *rq, struct sim_resp *rs)
{
	bool secret_header =
		req_header(rq, "X-IDENTITY-HEADER") || req_header(rq, "secret");

	if (!secret_header && rq->sim->set.arc_key_dir && !arc_ok(rq, rs))
		return;
	identity_answer(rq, rs);
}
