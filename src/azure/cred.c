/* Credentials: environment (secret, certificate, federated), managed identity,
 * the Azure CLI, device code. */
/*
 * The session calls the credential through cred.h; the credential calls no
 * function of the session: it works with the struct az_cred_ctx it was made
 * with, sends its token requests through the HTTP engine (http.h) directly,
 * and hands the token a probe already got back to its maker (az_cred_pick).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64.h"
#include "cred.h"
#include "digest.h"
#include "i18n.h"
#include "jwt.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"
#include "wire.h"
#include "xalloc.h"

/* Azure CLI's public client id, which device-code sign-in uses as Microsoft's
 * own tools do. */
#define PUBLIC_CLIENT_ID "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
#define CLI_TIMEOUT_MS 13000
#define IMDS_HOST "http://169.254.169.254"
/* Where Azure Arc's agent (himds) writes its challenge keys on Linux, and their
 * size limit: azure-sdk-for-python azure/identity/_credentials/azure_arc.py
 * (_get_key_file_path, _validate_key_file). */
#define ARC_KEY_DIR "/var/opt/azcmagent/tokens"
#define ARC_KEY_MAX 4096

extern char **environ;

enum cred_kind {
	C_SECRET,
	C_CERT,
	C_FEDERATED,
	C_MI_APPSERVICE,
	C_MI_MSI_SECRET,
	C_MI_CLOUDSHELL,
	C_MI_ARC,
	C_MI_IMDS,
	C_CLI,
	C_DEVICE
};

struct az_cred {
	enum cred_kind kind;
	struct az_cred_ctx
		ctx; /* what it works with (borrowed from its maker) */
	char *client_id;
	char *secret;   /* client secret, or the certificate's password (in
			   memory only) */
	char *path;     /* certificate PEM or federated token file */
	char *endpoint; /* managed-identity endpoint */
	char *header;   /* managed-identity header value (in memory only) */
	char *refresh;  /* device code: the refresh token (in memory only) */
	char *authority;
	bool send_chain; /* certificate: x5c in the assertion's header */
};

/* Names a credential for the operator. */
const char *az_cred_name(const struct az_cred *c)
{
	static const char *const names[] = {
		N_("environment (client secret)"),
		N_("environment (client certificate)"),
		N_("environment (workload identity federation)"),
		N_("managed identity (App Service)"),
		N_("managed identity (MSI_ENDPOINT with secret)"),
		N_("managed identity (Cloud Shell)"),
		N_("managed identity (Azure Arc)"),
		N_("managed identity (IMDS)"),
		N_("Azure CLI"),
		N_("device code")
	};

	return _(names[c->kind]);
}

/* Names a credential with a stable identifier (for JSON output, never
 * translated). */
const char *az_cred_id(const struct az_cred *c)
{
	static const char *const ids[] = { "environment-secret",
					   "environment-certificate",
					   "environment-federated",
					   "managed-identity-app-service",
					   "managed-identity-msi-secret",
					   "managed-identity-cloud-shell",
					   "managed-identity-azure-arc",
					   "managed-identity-imds",
					   "azure-cli",
					   "device-code" };

	return ids[c->kind];
}

/*
 * Returns what tells this credential from another, for a token cache's key:
 * the hex SHA-256 of its kind, authority, client id, secret, file and
 * endpoint (a secret changed is another credential; no secret can be read
 * back from it). Caller frees.
 */
char *az_cred_identity(const struct az_cred *c)
{
	const char *const fields[] = { az_cred_id(c), c->authority,
				       c->client_id,  c->secret,
				       c->path,       c->endpoint,
				       c->header };

	return az_digest_fields(fields, sizeof(fields) / sizeof(fields[0]));
}

/* Overwrites a secret string and frees it. */
static void wipe(char *secret)
{
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
}

/* Frees a credential, wiping its secrets. */
void az_cred_free(struct az_cred *c)
{
	if (!c)
		return;
	wipe(c->secret);
	wipe(c->header);
	wipe(c->refresh);
	free(c->client_id);
	free(c->path);
	free(c->endpoint);
	free(c->authority);
	free(c);
}

/* Returns an environment variable, or NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Percent-encodes a form value. */
static char *enc(const char *v)
{
	char *e = curl_easy_escape(NULL, v ? v : "", 0),
	     *out = xstrdup(e ? e : "");

	curl_free(e);
	return out;
}

/* Returns the authority host: AZURE_AUTHORITY_HOST when set (https only), else
 * the cloud's. */
static char *authority(const struct az_cred_ctx *ctx, struct az_error *e)
{
	const char *a = env("AZURE_AUTHORITY_HOST");
	char *out;
	size_t n;

	if (a && !str_istarts(a, "https://")) {
		az_error_set(e,
			     _("AZURE_AUTHORITY_HOST is '%s': it must be an "
			       "https:// URL"),
			     a);
		return NULL;
	}
	out = xstrdup(a ? a : ctx->cloud->authority);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return out;
}

/* Sends one form POST to Entra ID's token or devicecode endpoint and returns
 * the request (caller frees). */
static struct az_req *entra_post(struct az_cred *c, const char *tenant,
				 const char *what, const char *form)
{
	char *url =
		xasprintf("%s/%s/oauth2/v2.0/%s", c->authority, tenant, what);
	struct az_req *r = az_req_new("POST", url);

	az_req_header(r, "Content-Type: application/x-www-form-urlencoded");
	az_req_header(r, "Accept: application/json");
	az_req_body(r, form, true);
	az_http_one(c->ctx.http, r);
	free(url);
	return r;
}

/* Reads a token answer (Entra or managed identity); false with an error for
 * anything malformed. */
static bool read_token(const struct az_req *r, struct az_token *out,
		       const char *what, struct az_error *e)
{
	const char *tok = jx_str(r->json, "access_token");
	int64_t exp = wire_parse_expiry(r->json, (int64_t)time(NULL));

	if (r->curl_code || r->status != 200) {
		az_error_from_req(e, r, what);
		return false;
	}
	if (!r->json || !tok || !*tok || exp <= 0) {
		az_error_set(e,
			     _("%s: the token answer is malformed (%s) "
			       "(request id %s)"),
			     what,
			     !r->json ? _("not JSON")
			     : !tok   ? _("it has no access_token")
				      : _("it says not when the token expires"),
			     r->client_request_id);
		return false;
	}
	out->token = xstrdup(tok);
	out->expires_on = exp;
	return true;
}

/* The most a client certificate file may hold: a key and a long chain fit
 * many times over. */
#define CERT_FILE_MAX (1 << 20)

/* A client certificate as loaded: its private key, the certificate of that
 * key (the leaf) and the whole chain, leaf first. */
struct cert_bundle {
	EVP_PKEY *key;
	X509 *leaf;             /* borrowed from chain */
	STACK_OF(X509) * chain; /* leaf first, then the issuers in file order */
};

/* Frees a loaded certificate. */
static void cert_bundle_free(struct cert_bundle *b)
{
	EVP_PKEY_free(b->key);
	sk_X509_pop_free(b->chain, X509_free);
	memset(b, 0, sizeof(*b));
}

/* Reads the certificate file whole (it holds the private key: the caller wipes
 * it); NULL with an error naming the file. */
static unsigned char *read_cert_file(const char *path, size_t *len,
				     struct az_error *e)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	size_t n;

	if (!f) {
		az_error_set(e,
			     _("cannot read the client certificate '%s' "
			       "(AZURE_CLIENT_CERTIFICATE_PATH): %s"),
			     path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(CERT_FILE_MAX + 1);
	n = fread(buf, 1, CERT_FILE_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > CERT_FILE_MAX) {
		az_error_set(e,
			     _("the client certificate '%s' "
			       "(AZURE_CLIENT_CERTIFICATE_PATH) is %s: give a "
			       "PEM or PKCS#12 (.pfx, .p12) file"),
			     path, n ? _("over 1 MiB") : _("empty"));
		OPENSSL_cleanse(buf, n);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* OpenSSL's PEM password callback: the password, never a prompt on the
 * terminal. */
static int pem_password(char *buf, int size, int rwflag, void *u)
{
	size_t n = u ? strlen(u) : 0;

	(void)rwflag;
	if (!u || n >= (size_t)size)
		return -1;
	memcpy(buf, u, n);
	return (int)n;
}

/* Says why OpenSSL failed, for a message (the last error of its queue). */
static void openssl_reason(char *why, size_t size)
{
	unsigned long code, last = 0;

	while ((code = ERR_get_error()) != 0)
		last = code;
	if (last)
		ERR_error_string_n(last, why, size);
	else
		snprintf(why, size, "%s", _("OpenSSL gave no reason"));
}

/* Puts the certificate of the key first in the chain; false when none is. */
static bool find_leaf(struct cert_bundle *b)
{
	for (int i = 0; i < sk_X509_num(b->chain); i++) {
		X509 *x = sk_X509_value(b->chain, i);

		if (X509_check_private_key(x, b->key) == 1) {
			(void)sk_X509_delete(b->chain, i);
			sk_X509_unshift(b->chain, x);
			b->leaf = x;
			return true;
		}
	}
	ERR_clear_error();
	return false;
}

/* Loads a PEM certificate file: its private key (decrypted with the password
 * when it is encrypted) and every certificate in it. */
static bool load_pem(const char *path, const unsigned char *data, size_t len,
		     const char *password, struct cert_bundle *b,
		     struct az_error *e)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	bool encrypted = strstr((const char *)data, "ENCRYPTED") != NULL;
	X509 *x;
	char why[256];

	b->key = PEM_read_bio_PrivateKey(bio, NULL, pem_password,
					 (void *)password);
	openssl_reason(why, sizeof(why));
	BIO_free(bio);
	bio = BIO_new_mem_buf(data, (int)len);
	b->chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(b->chain, x);
	ERR_clear_error();
	BIO_free(bio);
	if (!b->key && encrypted && !password)
		az_error_set(e,
			     _("the private key in the client certificate '%s' "
			       "is encrypted: set "
			       "AZURE_CLIENT_CERTIFICATE_PASSWORD to its "
			       "password"),
			     path);
	else if (!b->key && encrypted)
		az_error_set(e,
			     _("cannot decrypt the private key in the client "
			       "certificate '%s' with "
			       "AZURE_CLIENT_CERTIFICATE_PASSWORD (%s): check "
			       "the password"),
			     path, why);
	else if (!b->key)
		az_error_set(e,
			     _("the client certificate '%s' holds no private "
			       "key: give a PEM file holding the certificate "
			       "and its private key, or a PKCS#12 (.pfx, .p12) "
			       "file"),
			     path);
	return b->key != NULL;
}

/* Loads a PKCS#12 (.pfx, .p12) file with its password (none: an empty one),
 * as azure-identity's CertificateCredential does. */
static bool load_p12(const char *path, const unsigned char *data, size_t len,
		     const char *password, struct cert_bundle *b,
		     struct az_error *e)
{
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;

	if (!p12) {
		ERR_clear_error();
		az_error_set(e,
			     _("the client certificate '%s' is neither a PEM "
			       "file nor a PKCS#12 (.pfx, .p12) file"),
			     path);
		return false;
	}
	if (PKCS12_mac_present(p12) &&
	    !PKCS12_verify_mac(p12, password ? password : "", -1) &&
	    !(!password && PKCS12_verify_mac(p12, NULL, 0))) {
		ERR_clear_error();
		az_error_set(
			e,
			password ? _("cannot open the PKCS#12 file '%s' with "
				     "AZURE_CLIENT_CERTIFICATE_PASSWORD: the "
				     "password is wrong; check it")
				 : _("the PKCS#12 file '%s' is protected by a "
				     "password: set "
				     "AZURE_CLIENT_CERTIFICATE_PASSWORD to it"),
			path);
		PKCS12_free(p12);
		return false;
	}
	if (!PKCS12_parse(p12, password, &b->key, &cert, &ca)) {
		char why[256];

		openssl_reason(why, sizeof(why));
		az_error_set(e,
			     _("cannot read the PKCS#12 file '%s' (%s); a file "
			       "made with legacy encryption (RC2) can be "
			       "exported again with AES by 'openssl pkcs12'"),
			     path, why);
		PKCS12_free(p12);
		return false;
	}
	PKCS12_free(p12);
	b->chain = ca ? ca : sk_X509_new_null();
	if (cert)
		sk_X509_unshift(b->chain, cert);
	return true;
}

/*
 * Loads the client certificate: a PEM file (certificate and private key,
 * maybe encrypted) or a PKCS#12 file, told apart by a PEM header as
 * azure-identity's certificate.py does (azure-sdk-for-python,
 * azure/identity/_credentials/certificate.py: load_pem_certificate,
 * load_pkcs12_certificate), decrypted with AZURE_CLIENT_CERTIFICATE_PASSWORD.
 * The password is never part of a message.
 */
static bool load_cert(const struct az_cred *c, struct cert_bundle *b,
		      struct az_error *e)
{
	size_t len = 0;
	unsigned char *data = read_cert_file(c->path, &len, e);
	bool ok;

	memset(b, 0, sizeof(*b));
	if (!data)
		return false;
	ok = strstr((const char *)data, "-----BEGIN") &&
			     len == strlen((const char *)data)
		     ? load_pem(c->path, data, len, c->secret, b, e)
		     : load_p12(c->path, data, len, c->secret, b, e);
	OPENSSL_cleanse(data, len);
	free(data);
	if (ok && sk_X509_num(b->chain) == 0)
		az_error_set(e,
			     _("the client certificate '%s' holds a private "
			       "key but no certificate: add the certificate"),
			     c->path);
	else if (ok && !find_leaf(b))
		az_error_set(e,
			     _("no certificate in the client certificate '%s' "
			       "matches its private key: put the key's own "
			       "certificate in the file"),
			     c->path);
	if (e->message)
		cert_bundle_free(b);
	return !e->message;
}

/* Adds the x5c header, the chain as base64 DER, leaf first (RFC 7515 4.1.6),
 * as MSAL sends it for subject name and issuer sign-in. */
static void add_x5c(struct json_object *h, const struct cert_bundle *b)
{
	struct json_object *a = json_object_new_array();

	for (int i = 0; i < sk_X509_num(b->chain); i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(b->chain, i), &der);

		if (n > 0) {
			char *s = b64_encode(der, (size_t)n, false);

			json_object_array_add(a, json_object_new_string(s));
			free(s);
		}
		OPENSSL_free(der);
	}
	json_object_object_add(h, "x5c", a);
}

/* Makes the random id (jti) of a client assertion; false with an error when
 * OpenSSL's random generator fails. */
static bool assertion_id(const struct az_cred *c, char jti[UUID_STRLEN],
			 struct az_error *e)
{
	unsigned char rnd[16];
	unsigned long code;
	char why[256] = "";

	if (RAND_bytes(rnd, sizeof(rnd)) == 1) {
		uuid_format_v4(rnd, jti);
		return true;
	}
	code = ERR_get_error();
	if (code)
		ERR_error_string_n(code, why, sizeof(why));
	az_error_set(e,
		     _("cannot sign in with the client certificate '%s': "
		       "OpenSSL's random generator failed (%s); "
		       "check that the system's random source (getrandom, "
		       "/dev/urandom) works, then try again"),
		     c->path, code ? why : _("OpenSSL gave no reason"));
	return false;
}

/* Builds the signed client assertion for certificate sign-in: PS256 with an
 * x5t#S256 header, and x5c when AZURE_CLIENT_SEND_CERTIFICATE_CHAIN asks. */
static char *cert_assertion(struct az_cred *c, const char *tenant,
			    struct az_error *e)
{
	struct cert_bundle b;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char jti[UUID_STRLEN], *aud, *x5t, *jwt;
	struct json_object *h, *c2;
	int64_t now = (int64_t)time(NULL);

	if (!assertion_id(c, jti, e) || !load_cert(c, &b, e))
		return NULL;
	h = json_object_new_object();
	c2 = json_object_new_object();
	X509_digest(b.leaf, EVP_sha256(), md, &n);
	x5t = b64_encode(md, n, true);
	aud = xasprintf("%s/%s/oauth2/v2.0/token", c->authority, tenant);
	json_object_object_add(h, "alg", json_object_new_string("PS256"));
	json_object_object_add(h, "typ", json_object_new_string("JWT"));
	json_object_object_add(h, "x5t#S256", json_object_new_string(x5t));
	if (c->send_chain)
		add_x5c(h, &b);
	json_object_object_add(c2, "aud", json_object_new_string(aud));
	json_object_object_add(c2, "iss", json_object_new_string(c->client_id));
	json_object_object_add(c2, "sub", json_object_new_string(c->client_id));
	json_object_object_add(c2, "jti", json_object_new_string(jti));
	json_object_object_add(c2, "iat", json_object_new_int64(now));
	json_object_object_add(c2, "nbf", json_object_new_int64(now));
	json_object_object_add(c2, "exp", json_object_new_int64(now + 600));
	jwt = jwt_sign_header(b.key, h, c2);
	if (!jwt)
		az_error_set(e,
			     _("cannot sign the client assertion with the key "
			       "in '%s' (an RSA key is needed)"),
			     c->path);
	json_object_put(h);
	json_object_put(c2);
	free(aud);
	free(x5t);
	cert_bundle_free(&b);
	return jwt;
}

/* Reads the federated token file (re-read each time: Kubernetes refreshes it).
 */
static char *federated_token(struct az_cred *c, struct az_error *e)
{
	FILE *f = fopen(c->path, "r");
	char buf[16384];
	size_t n;

	if (!f) {
		az_error_set(e,
			     _("cannot read the federated token file '%s' "
			       "(AZURE_FEDERATED_TOKEN_FILE): %s"),
			     c->path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 &&
	       (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n == 0) {
		az_error_set(e, _("the federated token file '%s' is empty"),
			     c->path);
		return NULL;
	}
	return xstrdup(buf);
}

/* Gets a token with the client-credentials grant (secret, certificate or
 * federated assertion). */
static int client_credentials(struct az_cred *c, const char *scope,
			      const char *tenant, struct az_token *out,
			      struct az_error *e)
{
	char *proof = NULL, *form, *eid = enc(c->client_id), *esc = enc(scope),
	     *ep;
	struct az_req *r;
	bool ok;

	if (c->kind == C_SECRET) {
		ep = enc(c->secret);
		proof = xasprintf("client_secret=%s", ep);
		free(ep);
	} else {
		char *a = c->kind == C_CERT ? cert_assertion(c, tenant, e)
					    : federated_token(c, e);

		if (a) {
			ep = enc(a);
			proof = xasprintf(
				"client_assertion_type=urn%%3Aietf%%3Aparams%%"
				"3Aoauth%%3Aclient-assertion-type"
				"%%3Ajwt-bearer&client_assertion=%s",
				ep);
			free(ep);
			OPENSSL_cleanse(a, strlen(a));
			free(a);
		}
	}
	if (!proof) {
		free(eid);
		free(esc);
		return -1;
	}
	form = xasprintf(
		"grant_type=client_credentials&client_id=%s&scope=%s&%s", eid,
		esc, proof);
	r = entra_post(c, tenant, "token", form);
	ok = read_token(r, out,
			_("signing in with the environment's credential"), e);
	OPENSSL_cleanse(form, strlen(form));
	OPENSSL_cleanse(proof, strlen(proof));
	free(form);
	free(proof);
	free(eid);
	free(esc);
	az_req_free(r);
	return ok ? 0 : -1;
}

/* Builds the managed-identity request for a resource in the style of the
 * endpoint found. */
static struct az_req *mi_request(struct az_cred *c, const char *resource)
{
	char *res = enc(resource),
	     *cid = c->client_id ? enc(c->client_id) : NULL, *line;
	struct az_req *r;

	if (c->kind == C_MI_CLOUDSHELL) {
		r = az_req_new("POST", c->endpoint);
		line = cid ? xasprintf("resource=%s&client_id=%s", res, cid)
			   : xasprintf("resource=%s", res);
		az_req_body(r, line, true);
		az_req_header(
			r, "Content-Type: application/x-www-form-urlencoded");
		az_req_header(r, "Metadata: true");
		free(line);
	} else {
		const char *ver = c->kind == C_MI_APPSERVICE   ? "2019-08-01"
				  : c->kind == C_MI_MSI_SECRET ? "2017-09-01"
				  : c->kind == C_MI_ARC        ? "2020-06-01"
							       : "2018-02-01";
		const char *idp =
			c->kind == C_MI_MSI_SECRET ? "clientid" : "client_id";
		char *url = xasprintf(
			"%s%sapi-version=%s&resource=%s%s%s%s", c->endpoint,
			strchr(c->endpoint, '?') ? "&" : "?", ver, res,
			cid ? "&" : "", cid ? idp : "", cid ? "=" : "");
		line = cid ? xasprintf("%s%s", url, cid) : xstrdup(url);
		r = az_req_new("GET", line);
		free(url);
		free(line);
		line = c->kind == C_MI_APPSERVICE
			       ? xasprintf("X-IDENTITY-HEADER: %s", c->header)
		       : c->kind == C_MI_MSI_SECRET
			       ? xasprintf("secret: %s", c->header)
			       : xstrdup("Metadata: true");
		az_req_header(r, line);
		free(line);
	}
	r->allow_http = true;
	free(res);
	free(cid);
	return r;
}

/* The directory Arc's key files must be in; AZCMK_TEST_ARC_KEY_DIR replaces
 * it for azcmk's own test suite, and only there (see the manual). */
static const char *arc_key_dir(void)
{
	const char *t = env("AZCMK_TEST_ARC_KEY_DIR");

	return t ? t : ARC_KEY_DIR;
}

/* Takes the key file's path out of Arc's challenge, "Basic realm=PATH"
 * (quotes allowed); NULL when there is none. */
static char *arc_realm(const struct az_req *r)
{
	char *h = az_req_response_header(r, "WWW-Authenticate"), *p, *out;
	size_t n;

	p = h && str_istarts(h, "Basic") ? strchr(h, '=') : NULL;
	if (!p) {
		free(h);
		return NULL;
	}
	p += 1 + strspn(p + 1, " \"");
	out = xstrdup(p);
	n = strlen(out);
	while (n > 0 && strchr(" \t\r\n\"", out[n - 1]))
		out[--n] = '\0';
	free(h);
	return out;
}

/* Tells whether a key file path is one Arc's agent may name: a .key file
 * directly in the key directory. */
static bool arc_path_ok(const char *path)
{
	const char *dir = arc_key_dir(), *slash = strrchr(path, '/');
	size_t dn = strlen(dir);

	size_t bn = slash ? strlen(slash + 1) : 0;

	return slash && (size_t)(slash - path) == dn &&
	       strncmp(path, dir, dn) == 0 && bn > 4 &&
	       strcmp(slash + 1 + bn - 4, ".key") == 0;
}

/*
 * Reads Arc's key file once its path passed arc_path_ok: a regular file (no
 * symbolic link) of at most 4096 bytes, one line of printable text; NULL
 * with an error (the caller wipes and frees the key).
 */
static char *arc_read_key(const char *path, const char *shown,
			  struct az_error *e)
{
	/* O_NONBLOCK: a FIFO put in the key's place cannot hang the open
	 * (fstat then refuses it). */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	/* One byte more than the limit, to see a file that grew past it since
	 * fstat, and one for the terminator. */
	char buf[ARC_KEY_MAX + 2];
	ssize_t n = -1;
	bool printable = true;
	char *key;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size <= ARC_KEY_MAX)
		n = read(fd, buf, ARC_KEY_MAX + 1);
	else if (fd >= 0)
		errno = EINVAL;
	if (fd < 0 || n < 0) {
		az_error_set(e,
			     _("cannot read the Azure Arc key file '%s': %s; "
			       "the user running azcmk must be allowed to read "
			       "it (on Arc-enabled servers, a member of the "
			       "himds group)"),
			     shown,
			     errno == EINVAL ? _("not a regular file of at "
						 "most 4096 bytes")
					     : strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		printable = printable && buf[i] >= 0x20 && buf[i] < 0x7f;
	if (n == 0 || n > ARC_KEY_MAX || !printable) {
		az_error_set(e,
			     _("the Azure Arc key file '%s' is empty, too "
			       "large or not one line of text"),
			     shown);
		OPENSSL_cleanse(buf, sizeof(buf));
		return NULL;
	}
	key = xstrndup(buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return key;
}

/*
 * Answers Azure Arc's challenge: the 401 names a key file, which must be a
 * .key file of at most 4096 bytes in /var/opt/azcmagent/tokens (as
 * azure-identity checks, azure_arc.py _validate_key_file); the request is sent
 * again with "Authorization: Basic CONTENTS". Returns the new request, or NULL
 * with an error.
 */
static struct az_req *arc_answer(struct az_cred *c, const char *resource,
				 const struct az_req *r, struct az_error *e)
{
	char *path = arc_realm(r), *shown, *key = NULL, *line;
	struct az_req *again = NULL;

	shown = text_sanitize(path ? path : "", false);
	if (!path)
		az_error_set(e,
			     _("the Azure Arc identity endpoint answered 401 "
			       "without a 'Basic realm=' challenge (request id "
			       "%s)"),
			     r->client_request_id);
	else if (!arc_path_ok(path))
		az_error_set(e,
			     _("the Azure Arc identity endpoint named the key "
			       "file '%s', which is not a .key file in %s: "
			       "refusing to read it; check IDENTITY_ENDPOINT"),
			     shown, arc_key_dir());
	else if ((key = arc_read_key(path, shown, e)) != NULL) {
		again = mi_request(c, resource);
		line = xasprintf("Authorization: Basic %s", key);
		az_req_header(again, line);
		OPENSSL_cleanse(line, strlen(line));
		free(line);
		OPENSSL_cleanse(key, strlen(key));
		free(key);
		az_http_one(c->ctx.http, again);
	}
	free(path);
	free(shown);
	return again;
}

/* Gets a token from the managed-identity endpoint (answering Azure Arc's
 * challenge). */
static int managed_identity(struct az_cred *c, const char *scope,
			    struct az_token *out, struct az_error *e,
			    bool probe)
{
	char *resource = wire_scope_resource(scope);
	struct az_req *r, *again;
	bool ok;

	if (c->kind == C_MI_ARC && c->client_id) {
		az_error_set(e, _("Azure Arc offers only the system-assigned "
				  "managed identity: unset AZURE_CLIENT_ID"));
		free(resource);
		return -1;
	}
	r = mi_request(c, resource);
	if (probe) {
		r->no_retry = true;
		r->connect_timeout_ms = 1000;
	}
	az_http_one(c->ctx.http, r);
	if (c->kind == C_MI_ARC && !r->curl_code && r->status == 401) {
		again = arc_answer(c, resource, r, e);
		az_req_free(r);
		r = again;
	}
	ok = r && read_token(r, out,
			     _("getting a token from the managed identity"), e);
	free(resource);
	az_req_free(r);
	return ok ? 0 : -1;
}

/* Reads both pipes until EOF; false on the deadline or when the operator
 * cancels. */
static bool drain(int out_fd, int err_fd, struct sbuf *out, struct sbuf *err,
		  int64_t deadline_ms, const volatile sig_atomic_t *cancel)
{
	struct pollfd p[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	char buf[4096];
	int open = 2;

	while (open > 0) {
		struct timespec ts;
		int64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= deadline_ms || (cancel && *cancel))
			return false;
		if (poll(p, 2,
			 (int)(deadline_ms - now > 100 ? 100
						       : deadline_ms - now)) <=
		    0)
			continue;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 ||
			    !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n > 0) {
				sb_add(i ? err : out, buf, (size_t)n);
			} else {
				p[i].fd = -1;
				open--;
			}
		}
	}
	return true;
}

/* Runs a program without a shell, stdin from /dev/null, collecting stdout and
 * stderr; returns its exit status. */
static int run_program(char *const argv[], struct sbuf *out, struct sbuf *err,
		       bool *timed_out, const volatile sig_atomic_t *cancel)
{
	posix_spawn_file_actions_t fa;
	int po[2], pe[2], status = -1;
	pid_t pid;
	struct timespec ts;

	*timed_out = false;
	if (pipe2(po, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) != 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (pid > 0 && !drain(po[0], pe[0], out, err,
			      (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
				      CLI_TIMEOUT_MS,
			      cancel)) {
		*timed_out = true;
		kill(pid, SIGKILL);
	}
	close(po[0]);
	close(pe[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return pid > 0 ? -1 : 127;
}

/* Reads the CLI's expiry: expires_on (epoch, az 2.54+) or expiresOn (local time
 * "YYYY-MM-DD HH:MM:SS.ffffff"). */
static int64_t cli_expiry(struct json_object *o)
{
	int64_t on = wire_parse_expiry(o, 0);
	struct tm tm = { 0 };
	const char *s = jx_str(o, "expiresOn");

	if (on > 0 && jx_get(o, "expires_on"))
		return on;
	if (!s || sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* Words a failed `az account get-access-token`. */
static void cli_error(struct az_error *e, int rc, bool timed_out,
		      bool cancel_requested, const char *err)
{
	char *clean = text_sanitize(err, false);

	if (rc == 127)
		az_error_set(e, _("the Azure CLI ('az') is not installed or "
				  "not on PATH"));
	else if (timed_out && cancel_requested)
		az_error_set(e, _("the request was canceled"));
	else if (timed_out)
		az_error_set(
			e, _("the Azure CLI did not answer within %d seconds"),
			CLI_TIMEOUT_MS / 1000);
	else if (strstr(err, "az login") && !strstr(err, "AADSTS"))
		az_error_set(
			e, _("the Azure CLI is not signed in: run 'az login'"));
	else
		az_error_set(e,
			     _("the Azure CLI could not get a token (exit %d): "
			       "%.300s"),
			     rc, clean);
	free(clean);
}

/* Gets a token from the Azure CLI's sign-in: `az account get-access-token
 * --resource R --output json`. */
static int azure_cli(struct az_cred *c, const char *scope, const char *tenant,
		     struct az_token *out, struct az_error *e)
{
	const char *prog = c->ctx.az_command ? c->ctx.az_command : "az";
	char *resource = wire_scope_resource(scope), *err = NULL;
	char *argv[] = { (char *)prog,
			 "account",
			 "get-access-token",
			 "--resource",
			 resource,
			 "--output",
			 "json",
			 tenant && !str_ieq(tenant, "organizations")
				 ? "--tenant"
				 : NULL,
			 (char *)tenant,
			 NULL };
	struct sbuf so = SBUF_INIT, se = SBUF_INIT;
	bool timed_out;
	int rc = run_program(argv, &so, &se, &timed_out, c->ctx.cancel);
	struct json_object *o =
		rc == 0 ? jx_parse(sb_str(&so), so.len, &err) : NULL;
	const char *tok = jx_str(o, "accessToken");
	int64_t exp = o ? cli_expiry(o) : -1;

	if (rc == 0 && tok && exp > 0) {
		out->token = xstrdup(tok);
		out->expires_on = exp;
	} else if (rc == 0) {
		az_error_set(
			e, _("the Azure CLI's token answer is malformed (%s)"),
			err ? err
			    : _("it has no accessToken, or says not when the "
				"token expires"));
	} else {
		cli_error(e, rc, timed_out, c->ctx.cancel && *c->ctx.cancel,
			  sb_str(&se));
	}
	if (so.s)
		OPENSSL_cleanse(so.s, so.len);
	sb_free(&so);
	sb_free(&se);
	json_object_put(o);
	free(resource);
	free(err);
	return out->token ? 0 : -1;
}

/* Removes blanks at both ends of s, in place; returns s past its leading
 * blanks. */
static char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t\r\n");
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Opens a regular file for reading; NULL for anything else (a FIFO, which
 * would hang the read, a directory, a device) or when it cannot be opened. */
static FILE *open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
	    !(f = fdopen(fd, "r"))) {
		close(fd);
		return NULL;
	}
	return f;
}

/* Reads option of [section] from an INI file as Python's configparser does
 * (option names in any case, '=' or ':', '#' and ';' comments); NULL when
 * absent. */
static char *ini_value(const char *path, const char *section,
		       const char *option)
{
	FILE *f = open_regular(path);
	char line[1024], *out = NULL;
	bool in = false;

	while (f && fgets(line, sizeof(line), f)) {
		char *l = trim(line), *sep;

		if (*l == '[') {
			char *end = strchr(l, ']');

			in = end && (size_t)(end - l - 1) == strlen(section) &&
			     strncmp(l + 1, section, strlen(section)) == 0;
		} else if (in && *l != '#' && *l != ';' &&
			   (sep = strpbrk(l, "=:")) != NULL) {
			*sep = '\0';
			if (str_ieq(trim(l), option)) {
				free(out);
				out = xstrdup(trim(sep + 1));
			}
		}
	}
	if (f)
		fclose(f);
	return out;
}

/*
 * Returns the Azure CLI's active cloud (caller frees) as az finds it
 * (azure-cli azure/cli/core/cloud.py get_active_cloud_name: knack's config
 * value cloud.name, the environment variable AZURE_CLOUD_NAME first, then the
 * [cloud] section of $AZURE_CONFIG_DIR/config, ~/.azure/config by default,
 * _environment.py get_config_dir); NULL when none is set (az then uses
 * AzureCloud). The file is read rather than `az cloud show` run: it is the
 * plain INI file az itself reads, and reading it costs no Python start-up.
 */
char *az_cli_cloud_name(void)
{
	const char *v = env("AZURE_CLOUD_NAME"), *dir = env("AZURE_CONFIG_DIR"),
		   *home = env("HOME");
	char *path, *name;

	if (v)
		return xstrdup(v);
	if (!dir && !home)
		return NULL;
	path = dir ? xasprintf("%s/config", dir)
		   : xasprintf("%s/.azure/config", home);
	name = ini_value(path, "cloud", "name");
	free(path);
	if (name && !*name) {
		free(name);
		name = NULL;
	}
	return name;
}

/*
 * Returns the Azure CLI's default subscription, {"id", "name"}, from `az
 * account show --output json` (azure-cli _profile.py get_subscription: the
 * subscription marked isDefault in the active cloud); NULL when az has none
 * or cannot say. Run rather than azureProfile.json read: that file is az's
 * private store, and `az account show` its public answer.
 */
struct json_object *az_cli_subscription(const char *az_command,
					volatile sig_atomic_t *cancel)
{
	char *argv[] = { (char *)(az_command ? az_command : "az"),
			 "account",
			 "show",
			 "--output",
			 "json",
			 NULL };
	struct sbuf so = SBUF_INIT, se = SBUF_INIT;
	bool timed_out;
	int rc = run_program(argv, &so, &se, &timed_out, cancel);
	char *err = NULL;
	struct json_object *o = rc == 0 ? jx_parse(sb_str(&so), so.len, &err)
					: NULL,
			   *out = NULL;

	if (jx_str(o, "id") && *jx_str(o, "id")) {
		out = json_object_new_object();
		json_object_object_add(out, "id",
				       json_object_new_string(jx_str(o, "id")));
		json_object_object_add(
			out, "name",
			json_object_new_string(
				jx_str(o, "name") ? jx_str(o, "name") : ""));
	}
	json_object_put(o);
	free(err);
	sb_free(&so);
	sb_free(&se);
	return out;
}

/* Waits ms milliseconds unless canceled; false when canceled. */
static bool wait_ms(const struct az_cred *c, int64_t ms)
{
	while (ms > 0 && !az_http_canceled(c->ctx.http)) {
		struct timespec ts = { 0, (ms > 100 ? 100 : ms) * 1000000L };

		nanosleep(&ts, NULL);
		ms -= 100;
	}
	return !az_http_canceled(c->ctx.http);
}

/* Keeps the refresh token a sign-in returned (in memory only) and reads the
 * access token. */
static bool keep_tokens(struct az_cred *c, const struct az_req *r,
			struct az_token *out, const char *what,
			struct az_error *e)
{
	const char *rt = jx_str(r->json, "refresh_token");

	if (!read_token(r, out, what, e))
		return false;
	if (rt && *rt) {
		free(c->refresh);
		c->refresh = xstrdup(rt);
	}
	return true;
}

/* Polls the token endpoint for a device code until approved, declined or
 * expired. */
static int device_poll(struct az_cred *c, const char *tenant,
		       struct json_object *dc, struct az_token *out,
		       struct az_error *e)
{
	int64_t interval = jx_int(dc, "interval", 5) * 1000,
		deadline = (int64_t)time(NULL) + jx_int(dc, "expires_in", 900);
	char *code = enc(jx_str(dc, "device_code")), *form;
	int rc = -1;

	form = xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-"
			 "type%%3Adevice_code&client_id=%s&"
			 "device_code=%s",
			 PUBLIC_CLIENT_ID, code);
	for (;;) {
		struct az_req *r;
		const char *err;

		if (!wait_ms(c, interval)) {
			az_error_set(e, _("device code sign-in canceled"));
			break;
		}
		r = entra_post(c, tenant, "token", form);
		err = r->status == 400 ? jx_str(r->json, "error") : NULL;
		if (err &&
		    (str_ieq(err, "authorization_pending") ||
		     str_ieq(err, "slow_down")) &&
		    (int64_t)time(NULL) < deadline) {
			interval += str_ieq(err, "slow_down") ? 5000 : 0;
			az_req_free(r);
			continue;
		}
		if (err && str_ieq(err, "authorization_declined"))
			az_error_set(
				e,
				_("device code sign-in was declined in the "
				  "browser; run the command again to retry"));
		else if (err && (str_ieq(err, "expired_token") ||
				 str_ieq(err, "authorization_pending")))
			az_error_set(
				e,
				P_("the device code expired before sign-in "
				   "finished; run the command again and enter "
				   "the new code within %lld minute",
				   "the device code expired before sign-in "
				   "finished; "
				   "run the command again and enter the new "
				   "code within %lld minutes",
				   (unsigned long)(jx_int(dc, "expires_in",
							  900) /
						   60)),
				(long long)jx_int(dc, "expires_in", 900) / 60);
		else if (keep_tokens(c, r, out, _("device code sign-in"), e))
			rc = 0;
		az_req_free(r);
		break;
	}
	OPENSSL_cleanse(form, strlen(form));
	free(form);
	free(code);
	return rc;
}

/* Signs in with a device code: shows the code and URL, then polls; later scopes
 * use the refresh token. */
static int device_code(struct az_cred *c, const char *scope, const char *tenant,
		       struct az_token *out, struct az_error *e)
{
	char *esc, *form;
	struct az_req *r;
	int rc = -1;

	if (c->refresh) {
		char *rt = enc(c->refresh);

		esc = enc(scope);
		form = xasprintf("grant_type=refresh_token&client_id=%s&"
				 "refresh_token=%s&scope=%s%%20offline_access",
				 PUBLIC_CLIENT_ID, rt, esc);
		r = entra_post(c, tenant, "token", form);
		rc = keep_tokens(c, r, out,
				 _("renewing the device code sign-in"), e)
			     ? 0
			     : -1;
		OPENSSL_cleanse(form, strlen(form));
		free(rt);
	} else {
		esc = enc(scope);
		form = xasprintf("client_id=%s&scope=%s%%20offline_access",
				 PUBLIC_CLIENT_ID, esc);
		r = entra_post(c, tenant, "devicecode", form);
		if (r->status == 200 && jx_str(r->json, "device_code")) {
			char *msg = text_sanitize(
				jx_str(r->json, "message")
					? jx_str(r->json, "message")
					: "",
				false);

			if (c->ctx.prompt)
				c->ctx.prompt(msg, c->ctx.prompt_ctx);
			free(msg);
			rc = device_poll(c, tenant, r->json, out, e);
		} else {
			az_error_from_req(e, r,
					  _("starting device code sign-in"));
		}
	}
	az_req_free(r);
	free(form);
	free(esc);
	return rc;
}

/* Gets a token from a credential for a scope and tenant. */
int az_cred_token(struct az_cred *c, const char *scope, const char *tenant,
		  struct az_token *out, struct az_error *e)
{
	memset(out, 0, sizeof(*out));
	switch (c->kind) {
	case C_SECRET:
	case C_CERT:
	case C_FEDERATED:
		return client_credentials(c, scope, tenant, out, e);
	case C_CLI:
		return azure_cli(c, scope, tenant, out, e);
	case C_DEVICE:
		return device_code(c, scope, tenant, out, e);
	default:
		return managed_identity(c, scope, out, e, false);
	}
}

/* Makes a credential of a kind, with the authority host resolved. */
static struct az_cred *new_cred(const struct az_cred_ctx *ctx,
				enum cred_kind kind, struct az_error *e)
{
	struct az_cred *c = xcalloc(1, sizeof(*c));

	c->kind = kind;
	c->ctx = *ctx;
	c->authority = authority(ctx, e);
	if (!c->authority) {
		free(c);
		return NULL;
	}
	return c;
}

/* Makes the client-secret credential the program handed in (the session's
 * tenant signs in with it). */
static struct az_cred *given_cred(const struct az_cred_ctx *ctx,
				  struct az_error *e)
{
	struct az_cred *c = new_cred(ctx, C_SECRET, e);

	if (!c)
		return NULL;
	c->client_id = xstrdup(ctx->client_secret->client_id);
	c->secret = xstrdup(ctx->client_secret->secret);
	return c;
}

/*
 * Reads the certificate's options: AZURE_CLIENT_CERTIFICATE_PASSWORD (a copy,
 * wiped with the credential) and AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, true or 1
 * as azure-identity reads it (false or 0: off); false for another value.
 */
static bool cert_options(struct az_cred *c, struct az_error *e)
{
	const char *pw = env("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
		   *send = env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");

	c->secret = pw ? xstrdup(pw) : NULL;
	c->send_chain = send && (str_ieq(send, "true") || str_ieq(send, "1"));
	if (send && !c->send_chain && !str_ieq(send, "false") &&
	    !str_ieq(send, "0")) {
		char *shown = text_sanitize(send, false);

		az_error_set(e,
			     _("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is '%s': "
			       "use true (or 1) to send the certificate chain, "
			       "false (or 0) not to"),
			     shown);
		free(shown);
		return false;
	}
	return true;
}

/* Reads the environment credential (or takes the one handed in); NULL with
 * reason when it is not configured. */
static struct az_cred *env_cred(const struct az_cred_ctx *ctx, struct sbuf *why,
				struct az_error *e)
{
	const char *id = env("AZURE_CLIENT_ID"), *t = env("AZURE_TENANT_ID");
	const char *secret = env("AZURE_CLIENT_SECRET"),
		   *cert = env("AZURE_CLIENT_CERTIFICATE_PATH");
	const char *fed = env("AZURE_FEDERATED_TOKEN_FILE");
	struct az_cred *c;

	if (ctx->client_secret)
		return given_cred(ctx, e);
	if (!id || !t || !(secret || cert || fed)) {
		sb_printf(why, "\n  - %s",
			  _("environment: set AZURE_TENANT_ID and "
			    "AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, "
			    "AZURE_CLIENT_CERTIFICATE_PATH or "
			    "AZURE_FEDERATED_TOKEN_FILE"));
		return NULL;
	}
	if (!(c = new_cred(ctx,
			   secret ? C_SECRET
			   : cert ? C_CERT
				  : C_FEDERATED,
			   e)))
		return NULL;
	c->client_id = xstrdup(id);
	if (secret) {
		c->secret = xstrdup(secret);
	} else {
		c->path = xstrdup(cert ? cert : fed);
		if (cert && !cert_options(c, e)) {
			az_cred_free(c);
			return NULL;
		}
	}
	return c;
}

/* Reads the managed-identity configuration: App Service, Azure Arc
 * (IDENTITY_ENDPOINT with IMDS_ENDPOINT, as azure-identity tells it),
 * MSI_ENDPOINT, or IMDS. */
static struct az_cred *mi_cred(const struct az_cred_ctx *ctx,
			       struct az_error *e)
{
	const char *ie = env("IDENTITY_ENDPOINT"), *ih = env("IDENTITY_HEADER"),
		   *me = env("MSI_ENDPOINT");
	const char *ms = env("MSI_SECRET"),
		   *imds = env("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
		   *arc = env("IMDS_ENDPOINT");
	enum cred_kind kind = ie && ih    ? C_MI_APPSERVICE
			      : ie && arc ? C_MI_ARC
			      : me && ms  ? C_MI_MSI_SECRET
			      : me        ? C_MI_CLOUDSHELL
					  : C_MI_IMDS;
	struct az_cred *c = new_cred(ctx, kind, e);

	if (!c)
		return NULL;
	if (kind == C_MI_IMDS) {
		char *base = xstrdup(imds ? imds : IMDS_HOST);
		size_t n = strlen(base);

		while (n > 0 && base[n - 1] == '/')
			base[--n] = '\0';
		c->endpoint =
			xasprintf("%s/metadata/identity/oauth2/token", base);
		free(base);
	} else {
		c->endpoint = xstrdup(
			kind == C_MI_APPSERVICE || kind == C_MI_ARC ? ie : me);
	}
	c->header = kind == C_MI_APPSERVICE   ? xstrdup(ih)
		    : kind == C_MI_MSI_SECRET ? xstrdup(ms)
					      : NULL;
	c->client_id =
		env("AZURE_CLIENT_ID") ? xstrdup(env("AZURE_CLIENT_ID")) : NULL;
	return c;
}

/* Tries a credential with a Resource Manager token; on success the token goes
 * to *kept, for the maker's cache. */
static struct az_cred *tried(struct az_cred *c, struct sbuf *why,
			     const char *label, bool probe,
			     struct az_token *kept)
{
	struct az_token t = { 0 };
	struct az_error e = { 0 };
	int rc;

	if (!c)
		return NULL;
	/* A credential whose token the maker's cache still holds is picked
	 * without a probe: no `az` run, no request. */
	if (c->ctx.cached && c->ctx.cached(c, c->ctx.cached_ctx))
		return c;
	rc = c->kind == C_CLI ? azure_cli(c, c->ctx.cloud->arm_scope,
					  c->ctx.tenant, &t, &e)
			      : managed_identity(c, c->ctx.cloud->arm_scope, &t,
						 &e, probe);
	if (rc == 0) {
		*kept = t;
		return c;
	}
	sb_adds(why, "\n  - ");
	/* TRANSLATORS: one line of the list of sign-in methods tried: the
	 * method, then why it failed. */
	sb_printf(why, _("%s: %s"), label, e.message ? e.message : "?");
	az_error_clear(&e);
	az_cred_free(c);
	return NULL;
}

/* The steps of the chain, which AZURE_TOKEN_CREDENTIALS narrows. */
enum {
	STEP_ENV_SP = 1,  /* environment: client secret or certificate */
	STEP_ENV_FED = 2, /* environment: federated token file */
	STEP_MI = 4,      /* managed identity */
	STEP_CLI = 8,     /* Azure CLI */
	STEP_DEVICE = 16, /* device code */
	STEP_ALL = 31
};

/*
 * The values of AZURE_TOKEN_CREDENTIALS, as azure-identity defines them for
 * DefaultAzureCredential (azure-sdk-for-python, azure/identity/_internal
 * process_credential_exclusions; azure-sdk-for-js defaultAzureCredential.ts):
 * "dev" keeps the developer credentials, "prod" Environment, Workload Identity
 * and Managed Identity, a credential's name that one alone; trimmed, any case.
 * The steps 0: a credential azure-identity has and azcmk does not.
 */
static const struct {
	const char *name;
	unsigned steps;
} TOKEN_CREDENTIALS[] = {
	{ "dev", STEP_CLI | STEP_DEVICE },
	{ "prod", STEP_ENV_SP | STEP_ENV_FED | STEP_MI },
	{ "EnvironmentCredential", STEP_ENV_SP },
	{ "WorkloadIdentityCredential", STEP_ENV_FED },
	{ "ManagedIdentityCredential", STEP_MI },
	{ "AzureCliCredential", STEP_CLI },
	{ "VisualStudioCodeCredential", 0 },
	{ "AzurePowerShellCredential", 0 },
	{ "AzureDeveloperCliCredential", 0 },
};

/* Reads AZURE_TOKEN_CREDENTIALS into the chain's steps (all when unset); false
 * with an error for a value azcmk cannot follow. */
static bool chain_steps(unsigned *steps, struct az_error *e)
{
	const char *v = env("AZURE_TOKEN_CREDENTIALS");
	char *t, *shown;
	size_t n;
	bool known = false;

	*steps = STEP_ALL;
	if (!v)
		return true;
	v += strspn(v, " \t");
	t = xstrdup(v);
	n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	for (size_t i = 0;
	     i < sizeof(TOKEN_CREDENTIALS) / sizeof(TOKEN_CREDENTIALS[0]); i++)
		if (*t && str_ieq(t, TOKEN_CREDENTIALS[i].name)) {
			*steps = TOKEN_CREDENTIALS[i].steps;
			known = true;
		}
	shown = text_sanitize(t, false);
	if (!known)
		az_error_set(
			e,
			_("AZURE_TOKEN_CREDENTIALS is '%s', which is not a "
			  "valid value: use dev, prod, "
			  "EnvironmentCredential, "
			  "WorkloadIdentityCredential, "
			  "ManagedIdentityCredential or "
			  "AzureCliCredential, or unset it"),
			shown);
	else if (*steps == 0)
		az_error_set(e,
			     _("AZURE_TOKEN_CREDENTIALS names %s, a credential "
			       "azcmk does not have: use dev, prod, "
			       "EnvironmentCredential, "
			       "WorkloadIdentityCredential, "
			       "ManagedIdentityCredential or "
			       "AzureCliCredential, or unset it"),
			     shown);
	free(shown);
	free(t);
	return known && *steps != 0;
}

/* Notes in the list of methods tried that AZURE_TOKEN_CREDENTIALS left one
 * out. */
static void left_out(struct sbuf *why, const char *label)
{
	sb_adds(why, "\n  - ");
	/* TRANSLATORS: one line of the list of sign-in methods tried; %s is
	 * the method. */
	sb_printf(why, _("%s: left out by AZURE_TOKEN_CREDENTIALS"), label);
}

/* The environment step of the chain, within the steps allowed: its credential,
 * or NULL with why (or *e when misconfigured). */
static struct az_cred *env_step(const struct az_cred_ctx *ctx, unsigned steps,
				struct sbuf *why, struct az_error *e)
{
	struct az_cred *c;

	if (!(steps & (STEP_ENV_SP | STEP_ENV_FED))) {
		left_out(why, _("environment"));
		return NULL;
	}
	c = env_cred(ctx, why, e);
	if (c &&
	    !(steps & (c->kind == C_FEDERATED ? STEP_ENV_FED : STEP_ENV_SP))) {
		left_out(why, az_cred_name(c));
		az_cred_free(c);
		c = NULL;
	}
	return c;
}

/*
 * The credential the token cache already vouches for: managed identity, then
 * the Azure CLI, the chain's order, each only when its step is allowed. A
 * managed identity's cached token means it worked lately on this machine; the
 * Azure CLI is taken only on a token an earlier chain kept when it chose the
 * CLI (the managed identity failing then), not on one from --auth cli, which
 * says nothing of the managed identity before it. So an earlier chain's
 * choice is kept without probing IMDS (a second's wait off Azure) or running
 * az. NULL when neither has such a token (or no cache is at hand).
 */
static struct az_cred *cached_step(const struct az_cred_ctx *ctx,
				   unsigned steps)
{
	static const unsigned order[] = { STEP_MI, STEP_CLI };

	if (!ctx->cached)
		return NULL;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		/* A credential that cannot be made here is left to the
		 * chain's own steps, which say why. */
		struct az_error ignored = { 0 };
		bool (*vouches)(const struct az_cred *, void *) =
			order[i] == STEP_MI ? ctx->cached : ctx->chosen;
		struct az_cred *c;

		if (!(steps & order[i]) || !vouches)
			continue;
		c = order[i] == STEP_MI ? mi_cred(ctx, &ignored)
					: new_cred(ctx, C_CLI, &ignored);
		az_error_clear(&ignored);
		if (c && vouches(c, ctx->cached_ctx))
			return c;
		az_cred_free(c);
	}
	return NULL;
}

/* Walks the chain: environment, managed identity, Azure CLI, then device code
 * in a terminal, each unless AZURE_TOKEN_CREDENTIALS leaves it out. */
static struct az_cred *chain(const struct az_cred_ctx *ctx,
			     struct az_token *probe, struct az_error *e)
{
	struct sbuf why = SBUF_INIT;
	struct az_cred *c = NULL;
	bool explicit_mi = env("IDENTITY_ENDPOINT") || env("MSI_ENDPOINT");
	unsigned steps;

	if (!chain_steps(&steps, e))
		goto out;
	c = env_step(ctx, steps, &why, e);
	if (c || e->message)
		goto out;
	c = cached_step(ctx, steps);
	if (c)
		goto out;
	if (!(steps & STEP_MI))
		left_out(&why, _("managed identity"));
	else if ((c = tried(mi_cred(ctx, e), &why, _("managed identity"),
			    !explicit_mi, probe)) != NULL)
		goto out;
	if (!(steps & STEP_CLI))
		left_out(&why, _("Azure CLI"));
	else if ((c = tried(new_cred(ctx, C_CLI, e), &why, _("Azure CLI"),
			    false, probe)) != NULL)
		goto out;
	if (!(steps & STEP_DEVICE)) {
		left_out(&why, _("device code"));
	} else if (ctx->interactive) {
		c = new_cred(ctx, C_DEVICE, e);
		goto out;
	} else {
		sb_printf(&why, "\n  - %s",
			  _("device code: offered only in an interactive "
			    "terminal (use --auth device-code to force it)"));
	}
	az_error_set(e,
		     _("no credential found to sign in to Azure. Tried, in "
		       "order:%s"),
		     sb_str(&why));
out:
	sb_free(&why);
	return c;
}

/*
 * Chooses the credential: the one --auth names, or the first available in the
 * chain. A probe of the chain that got a Resource Manager token for ctx's
 * tenant leaves it in *probe (the caller takes it over); else probe->token is
 * NULL.
 */
struct az_cred *az_cred_pick(const struct az_cred_ctx *ctx, enum az_auth kind,
			     struct az_token *probe, struct az_error *e)
{
	struct sbuf why = SBUF_INIT;
	struct az_cred *c = NULL;

	memset(probe, 0, sizeof(*probe));
	switch (kind) {
	case AZ_AUTH_ENV:
		c = env_cred(ctx, &why, e);
		if (!c && !e->message)
			az_error_set(e,
				     _("--auth environment: the environment "
				       "has no credential:%s"),
				     sb_str(&why));
		break;
	case AZ_AUTH_MANAGED_IDENTITY:
		c = mi_cred(ctx, e);
		break;
	case AZ_AUTH_CLI:
		c = new_cred(ctx, C_CLI, e);
		break;
	case AZ_AUTH_DEVICE_CODE:
		c = new_cred(ctx, C_DEVICE, e);
		break;
	default:
		c = chain(ctx, probe, e);
	}
	sb_free(&why);
	return c;
}
