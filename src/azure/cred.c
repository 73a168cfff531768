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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64.h"
#include "cred.h"
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

extern char **environ;

enum cred_kind {
	C_SECRET,
	C_CERT,
	C_FEDERATED,
	C_MI_APPSERVICE,
	C_MI_MSI_SECRET,
	C_MI_CLOUDSHELL,
	C_MI_IMDS,
	C_CLI,
	C_DEVICE
};

struct az_cred {
	enum cred_kind kind;
	struct az_cred_ctx
		ctx; /* what it works with (borrowed from its maker) */
	char *client_id;
	char *secret;   /* client secret (in memory only) */
	char *path;     /* certificate PEM or federated token file */
	char *endpoint; /* managed-identity endpoint */
	char *header;   /* managed-identity header value (in memory only) */
	char *refresh;  /* device code: the refresh token (in memory only) */
	char *authority;
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
					   "managed-identity-imds",
					   "azure-cli",
					   "device-code" };

	return ids[c->kind];
}

/* Adds a field to a digest, with its length so that fields cannot run
 * together. */
static void digest_field(EVP_MD_CTX *md, const char *v)
{
	size_t n = v ? strlen(v) : 0;

	EVP_DigestUpdate(md, &n, sizeof(n));
	if (n)
		EVP_DigestUpdate(md, v, n);
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
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *hex;

	if (!md)
		return NULL;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		digest_field(md, fields[i]);
	EVP_DigestFinal_ex(md, h, &n);
	EVP_MD_CTX_free(md);
	hex = xmalloc(2 * n + 1);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	OPENSSL_cleanse(h, sizeof(h));
	return hex;
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

/* Loads a PEM file holding a certificate and its private key. */
static bool load_pem(const char *path, X509 **cert, EVP_PKEY **key,
		     struct az_error *e)
{
	FILE *f = fopen(path, "r");

	*cert = NULL;
	*key = NULL;
	if (!f) {
		az_error_set(e,
			     _("cannot read the client certificate '%s' "
			       "(AZURE_CLIENT_CERTIFICATE_PATH): %s"),
			     path, strerror(errno));
		return false;
	}
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	rewind(f);
	*cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!*cert || !*key) {
		az_error_set(e,
			     _("the client certificate '%s' must be a PEM file "
			       "holding both the certificate and its "
			       "unencrypted private key"),
			     path);
		X509_free(*cert);
		EVP_PKEY_free(*key);
		return false;
	}
	return true;
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
 * x5t#S256 header. */
static char *cert_assertion(struct az_cred *c, const char *tenant,
			    struct az_error *e)
{
	X509 *cert;
	EVP_PKEY *key;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char jti[UUID_STRLEN], *aud, *x5t, *jwt;
	struct json_object *h = json_object_new_object(),
			   *c2 = json_object_new_object();
	int64_t now = (int64_t)time(NULL);

	if (!assertion_id(c, jti, e) || !load_pem(c->path, &cert, &key, e)) {
		json_object_put(h);
		json_object_put(c2);
		return NULL;
	}
	X509_digest(cert, EVP_sha256(), md, &n);
	x5t = b64_encode(md, n, true);
	aud = xasprintf("%s/%s/oauth2/v2.0/token", c->authority, tenant);
	json_object_object_add(h, "alg", json_object_new_string("PS256"));
	json_object_object_add(h, "typ", json_object_new_string("JWT"));
	json_object_object_add(h, "x5t#S256", json_object_new_string(x5t));
	json_object_object_add(c2, "aud", json_object_new_string(aud));
	json_object_object_add(c2, "iss", json_object_new_string(c->client_id));
	json_object_object_add(c2, "sub", json_object_new_string(c->client_id));
	json_object_object_add(c2, "jti", json_object_new_string(jti));
	json_object_object_add(c2, "iat", json_object_new_int64(now));
	json_object_object_add(c2, "nbf", json_object_new_int64(now));
	json_object_object_add(c2, "exp", json_object_new_int64(now + 600));
	jwt = jwt_sign_header(key, h, c2);
	if (!jwt)
		az_error_set(e,
			     _("cannot sign the client assertion with the key "
			       "in '%s' (an RSA key is needed)"),
			     c->path);
	json_object_put(h);
	json_object_put(c2);
	free(aud);
	free(x5t);
	X509_free(cert);
	EVP_PKEY_free(key);
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

/* Gets a token from the managed-identity endpoint. */
static int managed_identity(struct az_cred *c, const char *scope,
			    struct az_token *out, struct az_error *e,
			    bool probe)
{
	char *resource = wire_scope_resource(scope);
	struct az_req *r = mi_request(c, resource);
	bool ok;

	if (probe) {
		r->no_retry = true;
		r->connect_timeout_ms = 1000;
	}
	az_http_one(c->ctx.http, r);
	ok = read_token(r, out, _("getting a token from the managed identity"),
			e);
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
	if (secret)
		c->secret = xstrdup(secret);
	else
		c->path = xstrdup(cert ? cert : fed);
	return c;
}

/* Reads the managed-identity configuration: App Service, MSI_ENDPOINT, or IMDS.
 */
static struct az_cred *mi_cred(const struct az_cred_ctx *ctx,
			       struct az_error *e)
{
	const char *ie = env("IDENTITY_ENDPOINT"), *ih = env("IDENTITY_HEADER"),
		   *me = env("MSI_ENDPOINT");
	const char *ms = env("MSI_SECRET"),
		   *imds = env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
	enum cred_kind kind = ie && ih   ? C_MI_APPSERVICE
			      : me && ms ? C_MI_MSI_SECRET
			      : me       ? C_MI_CLOUDSHELL
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
		c->endpoint = xstrdup(kind == C_MI_APPSERVICE ? ie : me);
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

/* Walks the chain: environment, managed identity, Azure CLI, then device code
 * in a terminal. */
static struct az_cred *chain(const struct az_cred_ctx *ctx,
			     struct az_token *probe, struct az_error *e)
{
	struct sbuf why = SBUF_INIT;
	struct az_cred *c = env_cred(ctx, &why, e);
	bool explicit_mi = env("IDENTITY_ENDPOINT") || env("MSI_ENDPOINT");

	if (c || e->message)
		goto out;
	if ((c = tried(mi_cred(ctx, e), &why, _("managed identity"),
		       !explicit_mi, probe)) != NULL)
		goto out;
	c = new_cred(ctx, C_CLI, e);
	if ((c = tried(c, &why, _("Azure CLI"), false, probe)) != NULL)
		goto out;
	if (ctx->interactive) {
		c = new_cred(ctx, C_DEVICE, e);
		goto out;
	}
	sb_printf(&why, "\n  - %s",
		  _("device code: offered only in an interactive terminal (use "
		    "--auth device-code to force it)"));
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
