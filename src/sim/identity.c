/* The simulated managed-identity endpoint (plain HTTP): IMDS, App Service and
 * Cloud Shell styles. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Serves a managed-identity token request in any of the styles Azure hosts use.
 */
void identity_handle(struct sim_req *rq, struct sim_resp *rs)
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
