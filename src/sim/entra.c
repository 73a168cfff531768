/* The simulated Microsoft Entra ID: discovery, the token endpoint with every
 * grant azcmk uses, bearer checks. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64.h"
#include "jwt.h"
#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

#define CLIENT_ASSERTION_TYPE \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define FEDERATION_AUDIENCE "api://AzureADTokenExchange"

/* The token audiences the simulator serves, by the kind of host that accepts
 * them. */
static const struct {
	const char *resource;
	enum host_kind kind;
} AUDIENCES[] = {
	{ "https://management.azure.com", HOST_ARM },
	{ "https://management.core.windows.net", HOST_ARM },
	{ "https://management.usgovcloudapi.net", HOST_ARM },
	{ "https://management.core.usgovcloudapi.net", HOST_ARM },
	{ "https://management.chinacloudapi.cn", HOST_ARM },
	{ "https://management.core.chinacloudapi.cn", HOST_ARM },
	{ "https://vault.azure.net", HOST_VAULT },
	{ "https://vault.usgovcloudapi.net", HOST_VAULT },
	{ "https://vault.azure.cn", HOST_VAULT },
	{ "https://managedhsm.azure.net", HOST_HSM },
	{ "https://managedhsm.usgovcloudapi.net", HOST_HSM },
	{ "https://managedhsm.azure.cn", HOST_HSM },
	{ "https://graph.microsoft.com", HOST_GRAPH },
	{ "https://graph.microsoft.us", HOST_GRAPH },
	{ "https://microsoftgraph.chinacloudapi.cn", HOST_GRAPH },
};

/* Classifies an audience or scope ("https://vault.azure.net/.default"); returns
 * the canonical resource or NULL. */
const char *entra_audience_kind(const char *aud, enum host_kind *kind)
{
	char *a = xstrdup(aud ? aud : "");
	size_t n;
	const char *hit = NULL;

	if (str_iends(a, "/.default"))
		a[strlen(a) - strlen("/.default")] = '\0';
	n = strlen(a);
	while (n > 0 && a[n - 1] == '/')
		a[--n] = '\0';
	for (size_t i = 0; i < sizeof(AUDIENCES) / sizeof(AUDIENCES[0]) && !hit;
	     i++)
		if (str_ieq(a, AUDIENCES[i].resource)) {
			hit = AUDIENCES[i].resource;
			*kind = AUDIENCES[i].kind;
		}
	free(a);
	return hit;
}

/* Mints an access token for a principal and audience, signed with the
 * simulator's key. */
char *entra_mint(struct sim *s, const char *oid, const char *appid,
		 const char *audience, bool user)
{
	struct json_object *c = json_object_new_object();
	int64_t now = sim_now(s);
	char *iss = xasprintf("https://sts.windows.net/%s/", state_tenant(s)),
	     *tok, uti[23];
	EVP_PKEY *key = tls_token_key(&s->tls);

	json_object_object_add(c, "aud", json_object_new_string(audience));
	json_object_object_add(c, "iss", json_object_new_string(iss));
	json_object_object_add(c, "iat", json_object_new_int64(now));
	json_object_object_add(c, "nbf", json_object_new_int64(now));
	json_object_object_add(
		c, "exp", json_object_new_int64(now + s->set.token_lifetime));
	json_object_object_add(c, "appid",
			       json_object_new_string(appid ? appid : oid));
	json_object_object_add(c, "idtyp",
			       json_object_new_string(user ? "user" : "app"));
	json_object_object_add(c, "oid", json_object_new_string(oid));
	json_object_object_add(c, "sub", json_object_new_string(oid));
	json_object_object_add(c, "tid",
			       json_object_new_string(state_tenant(s)));
	/* Entra's token identifier, unique per token ("uti" in Microsoft's
	 * access token claims reference): two tokens minted in the same
	 * second for the same caller differ, as Entra's do. */
	sim_random_hex(uti, sizeof(uti) / 2);
	json_object_object_add(c, "uti", json_object_new_string(uti));
	json_object_object_add(c, "ver", json_object_new_string("1.0"));
	tok = jwt_sign(key, s->tls.token_kid, c);
	json_object_put(c);
	free(iss);
	return tok;
}

/*
 * Verifies a bearer token for a kind of host. Returns NULL and the claims, or
 * an error code ("AuthenticationFailed", "InvalidAuthenticationToken",
 * "ExpiredAuthenticationToken", "InvalidAuthenticationTokenAudience",
 * "InvalidAuthenticationTokenTenant") with an allocated message.
 */
const char *entra_verify(struct sim *s, const char *authz, enum host_kind want,
			 struct json_object **claims, char **msg)
{
	struct jwt t;
	enum host_kind kind = HOST_UNKNOWN;
	const char *code = NULL;

	*claims = NULL;
	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0) {
		*msg = xstrdup("Authentication failed. The 'Authorization' "
			       "header is missing.");
		return "AuthenticationFailed";
	}
	if (!jwt_decode(authz + 7, &t) ||
	    !jwt_verify(&t, tls_token_key(&s->tls))) {
		if (t.claims)
			jwt_free(&t);
		*msg = xstrdup("The access token is invalid: its signature or "
			       "format could not be verified.");
		return "InvalidAuthenticationToken";
	}
	if (jx_int(t.claims, "exp", 0) <= sim_now(s)) {
		code = "ExpiredAuthenticationToken";
		*msg = xasprintf("The access token expiry UTC time is earlier "
				 "than current UTC time (exp %lld, now %lld).",
				 (long long)jx_int(t.claims, "exp", 0),
				 (long long)sim_now(s));
	} else if (!entra_audience_kind(jx_str(t.claims, "aud"), &kind) ||
		   kind != want) {
		code = "InvalidAuthenticationTokenAudience";
		*msg = xasprintf(
			"The access token has been obtained for wrong audience "
			"or resource '%s'.",
			jx_str(t.claims, "aud") ? jx_str(t.claims, "aud") : "");
	} else {
		*claims = json_object_get(t.claims);
	}
	jwt_free(&t);
	return code;
}

/* Checks the bearer token of an ARM or Graph request; on failure fills the 401
 * and returns false. */
bool entra_check_bearer(struct sim_req *rq, struct sim_resp *rs,
			enum host_kind want)
{
	char *msg = NULL;
	const char *code =
		entra_verify(rq->sim, req_header(rq, "Authorization"), want,
			     &rq->claims, &msg);
	char *challenge;

	if (!code) {
		rq->oid = jx_str(rq->claims, "oid");
		return true;
	}
	resp_error(rs, 401, code, "%s", msg);
	challenge = xasprintf(
		"Bearer authorization_uri=\"https://login.windows.net/\", "
		"error=\"invalid_token\", "
		"error_description=\"%s\"",
		code);
	resp_header(rs, "WWW-Authenticate", challenge);
	free(challenge);
	free(msg);
	return false;
}

/* Returns a decoded value of an application/x-www-form-urlencoded body,
 * allocated, or NULL. */
static char *form_get(const char *body, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = body; p && *p;
	     p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct sbuf v = SBUF_INIT;

		if (len <= klen || strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		for (size_t i = klen + 1; i < len; i++) {
			unsigned int c;

			if (p[i] == '+')
				sb_addc(&v, ' ');
			else if (p[i] == '%' && i + 2 < len + 1 &&
				 sscanf(p + i + 1, "%2x", &c) == 1) {
				sb_addc(&v, (char)c);
				i += 2;
			} else
				sb_addc(&v, p[i]);
		}
		return sb_steal(&v);
	}
	return NULL;
}

/* Answers a token-endpoint error in Entra's shape, with the AADSTS code in text
 * and list. */
static void aad_error(struct sim_resp *rs, int status, const char *error,
		      int aadsts, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void aad_error(struct sim_resp *rs, int status, const char *error,
		      int aadsts, const char *fmt, ...)
{
	struct json_object *b = json_object_new_object(),
			   *codes = json_object_new_array();
	char trace[37], stamp[32], *text, *desc, *uri;
	time_t now = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	sim_random_uuid(trace);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", gmtime(&now));
	desc = xasprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: "
			 "%s\r\nTimestamp: %s",
			 aadsts, text, trace, trace, stamp);
	uri = xasprintf("https://login.microsoftonline.com/error?code=%d",
			aadsts);
	json_object_array_add(codes, json_object_new_int(aadsts));
	json_object_object_add(b, "error", json_object_new_string(error));
	json_object_object_add(b, "error_description",
			       json_object_new_string(desc));
	json_object_object_add(b, "error_codes", codes);
	json_object_object_add(b, "timestamp", json_object_new_string(stamp));
	json_object_object_add(b, "trace_id", json_object_new_string(trace));
	json_object_object_add(b, "correlation_id",
			       json_object_new_string(trace));
	json_object_object_add(b, "error_uri", json_object_new_string(uri));
	resp_json(rs, status, b);
	free(text);
	free(desc);
	free(uri);
}

/* Answers a successful token request. */
static void token_ok(struct sim_req *rq, struct sim_resp *rs, const char *oid,
		     const char *appid, const char *resource, bool user,
		     const char *scope, bool offline)
{
	struct sim *s = rq->sim;
	struct json_object *b = json_object_new_object();
	char *tok = entra_mint(s, oid, appid, resource, user);

	json_object_object_add(b, "token_type",
			       json_object_new_string("Bearer"));
	json_object_object_add(b, "expires_in",
			       json_object_new_int(s->set.token_lifetime));
	json_object_object_add(b, "ext_expires_in",
			       json_object_new_int(s->set.token_lifetime));
	if (scope)
		json_object_object_add(b, "scope",
				       json_object_new_string(scope));
	json_object_object_add(b, "access_token", json_object_new_string(tok));
	if (offline) {
		struct json_object *g = json_object_new_object();
		char rt[65];

		sim_random_hex(rt, 32);
		json_object_object_add(g, "type",
				       json_object_new_string("refresh"));
		json_object_object_add(g, "oid", json_object_new_string(oid));
		json_object_object_add(g, "appid",
				       json_object_new_string(appid));
		json_object_object_add(g, "user",
				       json_object_new_boolean(user));
		json_object_object_add(s->grants, rt, g);
		json_object_object_add(b, "refresh_token",
				       json_object_new_string(rt));
	}
	resp_json(rs, 200, b);
	free(tok);
}

/* Splits a scope list into the one resource it names and whether offline_access
 * was asked. */
static const char *scope_resource(struct sim_resp *rs, const char *scope,
				  bool need_default, bool *offline,
				  const char *tenant)
{
	char *copy = xstrdup(scope ? scope : ""), *save = NULL, *hit = NULL;
	const char *resource = NULL;
	enum host_kind kind;
	int count = 0;

	*offline = false;
	for (char *w = strtok_r(copy, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		if (str_ieq(w, "offline_access")) {
			*offline = true;
		} else if (!str_ieq(w, "openid") && !str_ieq(w, "profile")) {
			count++;
			hit = w;
		}
	}
	if (count != 1)
		aad_error(rs, 400, "invalid_scope", 70011,
			  "The provided request must include a 'scope' input "
			  "parameter "
			  "naming exactly one resource. The scope '%s' is not "
			  "valid.",
			  scope ? scope : "");
	else if (need_default && !str_iends(hit, "/.default"))
		aad_error(
			rs, 400, "invalid_scope", 1002012,
			"The provided value for scope %s is not valid. Client "
			"credential flows must have a scope value with "
			"/.default suffixed to the resource identifier "
			"(application ID URI).",
			hit);
	else if (!(resource = entra_audience_kind(hit, &kind)))
		aad_error(
			rs, 400, "invalid_resource", 500011,
			"The resource principal named %s was not found in the "
			"tenant named %s.",
			hit, tenant);
	free(copy);
	return resource;
}

/* Computes a certificate thumbprint (SHA-1 or SHA-256 of the DER) as base64url.
 */
static char *thumbprint(X509 *cert, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	X509_digest(cert, md, d, &n);
	return b64_encode(d, n, true);
}

/* Loads a PEM certificate from a string. */
static X509 *load_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	return cert;
}

/* Checks the claims every client assertion must carry: iss, sub, aud, nbf and
 * exp. */
static bool assertion_claims_ok(struct sim_req *rq, struct jwt *t,
				const char *client_id, const char *tenant)
{
	char *aud =
		xasprintf("https://%s/%s/oauth2/v2.0/token", rq->host, tenant);
	struct json_object *a = jx_get(t->claims, "aud");
	bool aud_ok = json_object_is_type(a, json_type_array)
			      ? jx_array_has_istr(a, aud)
			      : str_ieq(json_object_get_string(a), aud);
	int64_t now = sim_now(rq->sim);
	bool ok = aud_ok && str_ieq(jx_str(t->claims, "iss"), client_id) &&
		  str_ieq(jx_str(t->claims, "sub"), client_id) &&
		  jx_int(t->claims, "exp", 0) > now &&
		  jx_int(t->claims, "nbf", 0) <= now + 300;

	free(aud);
	return ok;
}

/*
 * Decodes the assertion's x5c header (RFC 7515 4.1.6: base64 DER, leaf
 * first); NULL when there is none, or, with *bad set, when it is not an array
 * of certificates.
 */
static STACK_OF(X509) * x5c_chain(const struct jwt *t, bool *bad)
{
	struct json_object *a = jx_get(t->header, "x5c");
	STACK_OF(X509) * chain;

	*bad = false;
	if (!a)
		return NULL;
	*bad = !json_object_is_type(a, json_type_array) || jx_len(a) == 0;
	chain = sk_X509_new_null();
	for (size_t i = 0; !*bad && i < jx_len(a); i++) {
		const char *b64 = json_object_get_string(jx_at(a, i));
		size_t n = 0;
		unsigned char *der =
			b64 ? b64_decode(b64, strlen(b64), &n) : NULL;
		const unsigned char *p = der;
		X509 *x = der ? d2i_X509(NULL, &p, (long)n) : NULL;

		*bad = !x || p != der + n;
		if (x)
			sk_X509_push(chain, x);
		free(der);
	}
	if (*bad) {
		sk_X509_pop_free(chain, X509_free);
		return NULL;
	}
	return chain;
}

/* Tells whether an x5c chain is sound: its first certificate is the one the
 * header's x5t or x5t#S256 names, and each is signed by the next. */
static bool x5c_sound(STACK_OF(X509) * chain, const char *x5t,
		      const char *x5t256)
{
	X509 *leaf = sk_X509_value(chain, 0);
	char *s1 = thumbprint(leaf, EVP_sha1()),
	     *s256 = thumbprint(leaf, EVP_sha256());
	bool ok = (x5t && strcmp(x5t, s1) == 0) ||
		  (x5t256 && strcmp(x5t256, s256) == 0);

	for (int i = 0; ok && i + 1 < sk_X509_num(chain); i++)
		ok = X509_verify(sk_X509_value(chain, i),
				 X509_get0_pubkey(
					 sk_X509_value(chain, i + 1))) == 1;
	free(s1);
	free(s256);
	return ok;
}

/* Tells whether a certificate was issued by (or is) the PEM issuer
 * certificate. */
static bool issued_by(X509 *x, const char *issuer_pem)
{
	X509 *ca = issuer_pem ? load_cert(issuer_pem) : NULL;
	bool ok = ca && (X509_cmp(x, ca) == 0 ||
			 X509_verify(x, X509_get0_pubkey(ca)) == 1);

	X509_free(ca);
	return ok;
}

/*
 * Tells whether an x5c chain is trusted by subject name and issuer, as an
 * application's trustedCertificateSubjects make it in Entra ID: the leaf's
 * subject (RFC 2253) is one listed, and the chain leads to that entry's issuer
 * certificate; the leaf alone never trusts itself.
 */
static bool sni_trusted(struct sim *s, STACK_OF(X509) * chain)
{
	struct json_object *subjects =
		jx_get(s->doc, "operator.trustedCertificateSubjects");
	X509 *last = sk_X509_value(chain, sk_X509_num(chain) - 1);
	BIO *bio = BIO_new(BIO_s_mem());
	char *name = NULL, *data;
	long n;
	bool ok = false;

	X509_NAME_print_ex(bio, X509_get_subject_name(sk_X509_value(chain, 0)),
			   0, XN_FLAG_RFC2253);
	n = BIO_get_mem_data(bio, &data);
	name = xstrndup(data, (size_t)n);
	BIO_free(bio);
	for (size_t i = 0;
	     !ok && sk_X509_num(chain) > 1 && i < jx_len(subjects); i++) {
		struct json_object *e = jx_at(subjects, i);

		ok = str_ieq(jx_str(e, "subjectName"), name) &&
		     issued_by(last, jx_str(e, "issuerCertificate"));
	}
	free(name);
	return ok;
}

/* Picks the certificate an assertion is checked against: the operator's
 * registered one when x5t names it, else a leaf trusted by subject name. */
static X509 *signing_cert(struct sim_req *rq, STACK_OF(X509) * chain,
			  const char *x5t, const char *x5t256)
{
	const char *pem = jx_str(rq->sim->doc, "operator.certificate");
	X509 *cert = pem ? load_cert(pem) : NULL;
	char *s1 = cert ? thumbprint(cert, EVP_sha1()) : NULL,
	     *s256 = cert ? thumbprint(cert, EVP_sha256()) : NULL;
	bool registered = cert && ((x5t && strcmp(x5t, s1) == 0) ||
				   (x5t256 && strcmp(x5t256, s256) == 0));

	free(s1);
	free(s256);
	if (registered)
		return cert;
	X509_free(cert);
	if (chain && sni_trusted(rq->sim, chain))
		return X509_dup(sk_X509_value(chain, 0));
	return NULL;
}

/* Validates a certificate-signed client assertion against the operator's
 * registered certificate, or its x5c chain against the trusted subjects. */
static bool cert_assertion_ok(struct sim_req *rq, struct sim_resp *rs,
			      struct jwt *t, const char *client_id,
			      const char *tenant)
{
	const char *x5t = jx_str(t->header, "x5t"),
		   *x5t256 = jx_str(t->header, "x5t#S256");
	bool bad, ok = false;
	STACK_OF(X509) *chain = x5c_chain(t, &bad);
	X509 *cert = NULL;

	if (bad || (chain && !x5c_sound(chain, x5t, x5t256)))
		aad_error(rs, 401, "invalid_client", 700027,
			  "Client assertion failed signature validation. "
			  "[Reason - The x5c header is not a chain whose first "
			  "certificate is the one x5t names.]");
	else if (!(cert = signing_cert(rq, chain, x5t, x5t256)))
		aad_error(rs, 401, "invalid_client", 700027,
			  "The certificate with identifier used to sign the "
			  "client "
			  "assertion is not registered on application. [Reason "
			  "- The key was not found.]");
	else if (!jwt_verify(t, X509_get0_pubkey(cert)))
		aad_error(rs, 401, "invalid_client", 50012,
			  "Client assertion contains an invalid signature.");
	else if (!assertion_claims_ok(rq, t, client_id, tenant))
		aad_error(rs, 401, "invalid_client", 700024,
			  "Client assertion is not within its valid time "
			  "range, or "
			  "its audience, issuer or subject is wrong.");
	else
		ok = true;
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

/* Validates a federated (workload identity) assertion against the operator's
 * federated credentials. */
static bool federated_ok(struct sim_req *rq, struct sim_resp *rs, struct jwt *t)
{
	struct json_object *creds =
		jx_get(rq->sim->doc, "operator.federatedCredentials");
	struct json_object *aud = jx_get(t->claims, "aud");
	bool aud_ok = json_object_is_type(aud, json_type_array)
			      ? jx_array_has_istr(aud, FEDERATION_AUDIENCE)
			      : str_ieq(json_object_get_string(aud),
					FEDERATION_AUDIENCE);

	if (jx_int(t->claims, "exp", 0) <= sim_now(rq->sim)) {
		aad_error(
			rs, 400, "invalid_client", 700024,
			"Client assertion is not within its valid time range.");
		return false;
	}
	for (size_t i = 0; aud_ok && i < jx_len(creds); i++) {
		struct json_object *c = jx_at(creds, i);

		if (str_ieq(jx_str(c, "issuer"), jx_str(t->claims, "iss")) &&
		    str_ieq(jx_str(c, "subject"), jx_str(t->claims, "sub")))
			return true;
	}
	aad_error(rs, 400, "invalid_client", 70021,
		  "No matching federated identity record found for presented "
		  "assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.",
		  jx_str(t->claims, "iss") ? jx_str(t->claims, "iss") : "",
		  jx_str(t->claims, "sub") ? jx_str(t->claims, "sub") : "");
	return false;
}

/* Authenticates a confidential client by secret, certificate assertion or
 * federated assertion. */
static bool client_authenticated(struct sim_req *rq, struct sim_resp *rs,
				 const char *body, const char *client_id,
				 const char *tenant)
{
	char *secret = form_get(body, "client_secret"),
	     *assertion = form_get(body, "client_assertion");
	char *atype = form_get(body, "client_assertion_type");
	const char *want = jx_str(rq->sim->doc, "operator.clientSecret");
	bool ok = false;
	struct jwt t;

	if (secret) {
		ok = want && strcmp(secret, want) == 0;
		if (!ok)
			aad_error(rs, 401, "invalid_client", 7000215,
				  "Invalid client secret provided. Ensure the "
				  "secret "
				  "being sent in the request is the client "
				  "secret value, not the client secret ID, "
				  "for a secret added to app '%s'.",
				  client_id);
	} else if (assertion &&
		   (!atype || strcmp(atype, CLIENT_ASSERTION_TYPE) != 0)) {
		aad_error(rs, 400, "invalid_request", 50027,
			  "The client_assertion_type must be '%s'.",
			  CLIENT_ASSERTION_TYPE);
	} else if (assertion && !jwt_decode(assertion, &t)) {
		aad_error(rs, 400, "invalid_client", 50027,
			  "The client assertion is not a valid JWT.");
	} else if (assertion) {
		ok = (jx_has(t.header, "x5t") || jx_has(t.header, "x5t#S256"))
			     ? cert_assertion_ok(rq, rs, &t, client_id, tenant)
			     : federated_ok(rq, rs, &t);
		jwt_free(&t);
	} else {
		aad_error(rs, 401, "invalid_client", 7000218,
			  "The request body must contain the following "
			  "parameter: "
			  "'client_assertion' or 'client_secret'.");
	}
	free(secret);
	free(assertion);
	free(atype);
	return ok;
}

/* Serves grant_type=client_credentials for the operator's application. */
static void grant_client_credentials(struct sim_req *rq, struct sim_resp *rs,
				     const char *body, const char *tenant)
{
	char *client_id = form_get(body, "client_id"),
	     *scope = form_get(body, "scope");
	const char *op_client = jx_str(rq->sim->doc, "operator.clientId"),
		   *resource;
	bool offline;

	if (!client_id)
		aad_error(rs, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: "
			  "'client_id'.");
	else if (!str_ieq(client_id, op_client))
		aad_error(rs, 400, "unauthorized_client", 700016,
			  "Application with identifier '%s' was not found in "
			  "the directory '%s'.",
			  client_id, tenant);
	else if (client_authenticated(rq, rs, body, client_id, tenant) &&
		 (resource = scope_resource(rs, scope, true, &offline,
					    tenant)) != NULL)
		token_ok(rq, rs, jx_str(rq->sim->doc, "operator.objectId"),
			 op_client, resource, false, NULL, false);
	free(client_id);
	free(scope);
}

/* Returns the object id that signs in interactively: the scenario's user, or
 * else the operator. */
static const char *interactive_oid(struct sim *s, bool *user)
{
	*user = jx_str(s->doc, "user.objectId") != NULL;
	return *user ? jx_str(s->doc, "user.objectId")
		     : jx_str(s->doc, "operator.objectId");
}

/* Serves POST /{tenant}/oauth2/v2.0/devicecode. */
static void device_code(struct sim_req *rq, struct sim_resp *rs,
			const char *tenant)
{
	const char *body = sb_str(&rq->body);
	char *client_id = form_get(body, "client_id"),
	     *scope = form_get(body, "scope"), dc[49], uc[10], *msg;
	struct json_object *g, *b;
	bool offline;
	int64_t interval = jx_int(jx_get(rq->sim->doc, "settings"),
				  "deviceCodeInterval", 5);

	if (!client_id || !scope_resource(rs, scope, false, &offline, tenant)) {
		if (!client_id)
			aad_error(rs, 400, "invalid_request", 900144,
				  "The request body must contain the following "
				  "parameter: 'client_id'.");
		free(client_id);
		free(scope);
		return;
	}
	sim_random_hex(dc, 24);
	sim_random_hex(uc, 4);
	for (char *p = uc; *p; p++)
		*p = (char)(*p >= 'a' ? *p - 'a' + 'K' : *p - '0' + 'A');
	g = json_object_new_object();
	json_object_object_add(g, "type", json_object_new_string("device"));
	json_object_object_add(g, "client_id",
			       json_object_new_string(client_id));
	json_object_object_add(g, "scope", json_object_new_string(scope));
	json_object_object_add(g, "expires",
			       json_object_new_int64(sim_now(rq->sim) + 900));
	json_object_object_add(g, "step", json_object_new_int(0));
	json_object_object_add(rq->sim->grants, dc, g);
	msg = xasprintf("To sign in, use a web browser to open the page "
			"https://microsoft.com/devicelogin and enter "
			"the code %s to authenticate.",
			uc);
	b = json_object_new_object();
	json_object_object_add(b, "user_code", json_object_new_string(uc));
	json_object_object_add(b, "device_code", json_object_new_string(dc));
	json_object_object_add(
		b, "verification_uri",
		json_object_new_string("https://microsoft.com/devicelogin"));
	json_object_object_add(b, "expires_in", json_object_new_int(900));
	json_object_object_add(b, "interval", json_object_new_int64(interval));
	json_object_object_add(b, "message", json_object_new_string(msg));
	resp_json(rs, 200, b);
	free(msg);
	free(client_id);
	free(scope);
}

/* Returns what the scenario's device-code script says for this poll, advancing
 * it. */
static const char *device_step(struct sim *s, struct json_object *g)
{
	struct json_object *flow =
		jx_get(jx_get(s->doc, "settings"), "deviceCodeFlow");
	int64_t step = jx_int(g, "step", 0);
	size_t n = jx_len(flow);

	json_object_object_add(g, "step", json_object_new_int64(step + 1));
	if (n == 0)
		return step == 0 ? "authorization_pending" : "approve";
	return json_object_get_string(
		jx_at(flow, (size_t)step < n ? (size_t)step : n - 1));
}

/* Serves a device-code poll: pending, slow down, declined, expired, or the
 * tokens. */
static void grant_device(struct sim_req *rq, struct sim_resp *rs,
			 const char *body)
{
	char *dc = form_get(body, "device_code");
	struct json_object *g = NULL;
	const char *step, *resource;
	bool offline, user;
	char *scope;

	if (!dc || !json_object_object_get_ex(rq->sim->grants, dc, &g) ||
	    !str_ieq(jx_str(g, "type"), "device")) {
		aad_error(rs, 400, "bad_verification_code", 70018,
			  "Invalid verification code.");
		free(dc);
		return;
	}
	step = jx_int(g, "expires", 0) <= sim_now(rq->sim)
		       ? "expired_token"
		       : device_step(rq->sim, g);
	if (strcmp(step, "authorization_pending") == 0)
		aad_error(rs, 400, "authorization_pending", 70016,
			  "OAuth 2.0 device flow error. Authorization is "
			  "pending. Continue polling.");
	else if (strcmp(step, "slow_down") == 0)
		aad_error(rs, 400, "slow_down", 70016,
			  "OAuth 2.0 device flow error. Polling too fast: slow "
			  "down.");
	else if (strcmp(step, "authorization_declined") == 0)
		aad_error(rs, 400, "authorization_declined", 70000,
			  "The user declined the authorization request.");
	else if (strcmp(step, "expired_token") == 0)
		aad_error(rs, 400, "expired_token", 70019,
			  "Verification code expired.");
	else {
		const char *oid = interactive_oid(rq->sim, &user);

		scope = xstrdup(jx_str(g, "scope"));
		resource = scope_resource(rs, scope, false, &offline,
					  state_tenant(rq->sim));
		if (resource)
			token_ok(rq, rs, oid, jx_str(g, "client_id"), resource,
				 user, scope, offline);
		free(scope);
	}
	if (strcmp(step, "approve") == 0 ||
	    strcmp(step, "expired_token") == 0 ||
	    strcmp(step, "authorization_declined") == 0)
		json_object_object_del(rq->sim->grants, dc);
	free(dc);
}

/* Serves grant_type=refresh_token: a new access token and a new refresh token.
 */
static void grant_refresh(struct sim_req *rq, struct sim_resp *rs,
			  const char *body)
{
	char *rt = form_get(body, "refresh_token"),
	     *scope = form_get(body, "scope");
	struct json_object *g = NULL;
	const char *resource;
	bool offline;

	if (!rt || !json_object_object_get_ex(rq->sim->grants, rt, &g) ||
	    !str_ieq(jx_str(g, "type"), "refresh"))
		aad_error(rs, 400, "invalid_grant", 70000,
			  "The provided value for the input parameter "
			  "'refresh_token' is not valid.");
	else if ((resource = scope_resource(rs, scope, false, &offline,
					    state_tenant(rq->sim))) != NULL)
		token_ok(rq, rs, jx_str(g, "oid"), jx_str(g, "appid"), resource,
			 jx_bool(g, "user", false), scope, true);
	free(rt);
	free(scope);
}

/* Serves POST /{tenant}/oauth2/v2.0/token by grant type. */
static void token_endpoint(struct sim_req *rq, struct sim_resp *rs,
			   const char *tenant)
{
	const char *body = sb_str(&rq->body);
	char *grant = form_get(body, "grant_type");

	if (!grant)
		aad_error(rs, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: "
			  "'grant_type'.");
	else if (strcmp(grant, "client_credentials") == 0)
		grant_client_credentials(rq, rs, body, tenant);
	else if (strcmp(grant, DEVICE_GRANT) == 0)
		grant_device(rq, rs, body);
	else if (strcmp(grant, "refresh_token") == 0)
		grant_refresh(rq, rs, body);
	else
		aad_error(rs, 400, "unsupported_grant_type", 70003,
			  "The app requested an unsupported grant type '%s'.",
			  grant);
	free(grant);
}

/* Serves MSAL's instance discovery, which it asks even of well-known hosts. */
static void instance_discovery(struct sim_req *rq, struct sim_resp *rs)
{
	char *tde =
		xasprintf("https://%s/%s/v2.0/.well-known/openid-configuration",
			  rq->host, state_tenant(rq->sim));
	const char *text = "{\"metadata\":[{\"preferred_network\":\"login."
			   "microsoftonline.com\","
			   "\"preferred_cache\":\"login.windows.net\","
			   "\"aliases\":[\"login.microsoftonline.com\","
			   "\"login.windows.net\",\"login.microsoft.com\","
			   "\"sts.windows.net\"]}]}";
	struct json_object *b = json_tokener_parse(text);

	json_object_object_add(b, "tenant_discovery_endpoint",
			       json_object_new_string(tde));
	json_object_object_add(b, "api-version", json_object_new_string("1.1"));
	resp_json(rs, 200, b);
	free(tde);
}

/* Serves the OpenID configuration of the tenant. */
static void openid_configuration(struct sim_req *rq, struct sim_resp *rs,
				 const char *tenant)
{
	struct json_object *b = json_object_new_object();
	char *base = xasprintf("https://%s/%s", rq->host, tenant);
	char *v;

	v = xasprintf("%s/oauth2/v2.0/token", base);
	json_object_object_add(b, "token_endpoint", json_object_new_string(v));
	free(v);
	v = xasprintf("%s/oauth2/v2.0/authorize", base);
	json_object_object_add(b, "authorization_endpoint",
			       json_object_new_string(v));
	free(v);
	v = xasprintf("%s/oauth2/v2.0/devicecode", base);
	json_object_object_add(b, "device_authorization_endpoint",
			       json_object_new_string(v));
	free(v);
	v = xasprintf("https://%s/%s/v2.0", rq->host, tenant);
	json_object_object_add(b, "issuer", json_object_new_string(v));
	free(v);
	v = xasprintf("%s/discovery/v2.0/keys", base);
	json_object_object_add(b, "jwks_uri", json_object_new_string(v));
	free(v);
	json_object_object_add(b, "tenant_region_scope",
			       json_object_new_string("NA"));
	json_object_object_add(b, "cloud_instance_name",
			       json_object_new_string("microsoftonline.com"));
	resp_json(rs, 200, b);
	free(base);
}

/* Tells whether a path's tenant segment names this tenant (or a multi-tenant
 * alias). */
static bool tenant_ok(struct sim *s, const char *t)
{
	return str_ieq(t, state_tenant(s)) || str_ieq(t, "organizations") ||
	       str_ieq(t, "common");
}

/* Routes requests to login.microsoftonline.com and its sovereign twins. */
void entra_handle(struct sim_req *rq, struct sim_resp *rs)
{
	const char *p = rq->path + (rq->path[0] == '/');
	const char *slash = strchr(p, '/');
	char *tenant = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
	const char *rest = slash ? slash : "";
	bool post = strcmp(rq->method, "POST") == 0;

	if (strcmp(rest, "/discovery/instance") == 0)
		instance_discovery(rq, rs);
	else if (!tenant_ok(rq->sim, tenant))
		aad_error(rs, 400, "invalid_request", 90002,
			  "Tenant '%s' not found. Check to make sure you have "
			  "the "
			  "correct tenant ID and are signing into the correct "
			  "cloud.",
			  tenant);
	else if (strcmp(rest, "/v2.0/.well-known/openid-configuration") == 0 ||
		 strcmp(rest, "/.well-known/openid-configuration") == 0)
		openid_configuration(rq, rs,
				     str_ieq(tenant, "common")
					     ? state_tenant(rq->sim)
					     : tenant);
	else if (post && strcmp(rest, "/oauth2/v2.0/token") == 0)
		token_endpoint(rq, rs, state_tenant(rq->sim));
	else if (post && strcmp(rest, "/oauth2/v2.0/devicecode") == 0)
		device_code(rq, rs, state_tenant(rq->sim));
	else
		aad_error(rs, strcmp(rq->method, "GET") && !post ? 405 : 404,
			  "invalid_request", 900561,
			  "The endpoint '%s %s' is not served here.",
			  rq->method, rq->path);
	free(tenant);
}
