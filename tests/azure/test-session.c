/* Integration tests of the session layer against the simulator: credentials,
 * retries, challenges, paging, LROs. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "b64.h"
#include "jwt.h"
#include "jx.h"
#include "sbuf.h"
#include "session.h"
#include "simtest.h"
#include "text.h"
#include "xalloc.h"

#define TENANT "11111111-1111-4111-8111-111111111111"
#define CLIENT "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a"
#define OPERATOR "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
#define SUB "66666666-6666-4666-8666-666666666666"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-cmk-test"
#define HB RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test"
#define OAI RG "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test"
#define KV "https://kv-cmk-test.vault.azure.net"

static char workdir[64];

/* A running simulator, its CA in a file, and the environment pointed at it. */
struct env {
	struct simtest t;
	char ca[128];
	struct az_session *s;
	struct az_error e;
	FILE *trace;
	volatile sig_atomic_t cancel;
};

/* Clears every credential variable, so each test says exactly what it uses. */
static void clear_env(void)
{
	static const char *const vars[] = {
		"AZURE_TENANT_ID",
		"AZURE_CLIENT_ID",
		"AZURE_CLIENT_SECRET",
		"AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_FEDERATED_TOKEN_FILE",
		"IDENTITY_ENDPOINT",
		"IDENTITY_HEADER",
		"MSI_ENDPOINT",
		"MSI_SECRET",
		"AZURE_AUTHORITY_HOST",
		"http_proxy",
		"HTTP_PROXY",
		"ALL_PROXY",
		"all_proxy",
		"NO_PROXY",
		"no_proxy",
		"SSL_CERT_FILE",
		"CURL_CA_BUNDLE",
		"REQUESTS_CA_BUNDLE",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
		"AZURE_TOKEN_CREDENTIALS",
		"IMDS_ENDPOINT",
		"AZCMK_TEST_ARC_KEY_DIR",
		"AZURE_CONFIG_DIR",
		NULL
	};

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	/* The Azure CLI's configuration is never the developer's ~/.azure. */
	setenv("AZURE_CONFIG_DIR", "/nonexistent/azcmk-test-az-config", 1);
	unsetenv("AZURE_CLOUD_NAME");
	/* Never let a test reach the real IMDS address: point it at a closed
	 * loopback port. */
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
}

/* Starts the simulator on minimal.json (with an optional merge patch) and
 * points the environment at it. */
static struct env *env_start(const char *merge)
{
	struct env *v = xcalloc(1, sizeof(*v));

	clear_env();
	if (st_start(&v->t, "minimal.json", merge) != 0)
		fail_msg("the simulator did not start");
	snprintf(v->ca, sizeof(v->ca), "%s/ca-%d.pem", workdir, v->t.https);
	assert_int_equal(st_point_client(&v->t, v->ca), 0);
	return v;
}

/* Uses the operator's client secret from the environment. */
static void use_secret(const char *secret)
{
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	setenv("AZURE_CLIENT_SECRET", secret, 1);
}

/* Makes a session for the simulator with fast retries. */
static struct az_session *session(struct env *v, enum az_auth auth,
				  const char *cloud)
{
	struct az_session_opts o = { 0 };

	o.cloud = cloud;
	o.auth = auth;
	o.ca_file = v->ca;
	o.trace = v->trace;
	o.cancel = &v->cancel;
	o.max_retries = 3;
	o.backoff_base_ms = 5;
	az_session_free(v->s);
	az_error_clear(&v->e);
	v->s = az_session_new(&o, &v->e);
	assert_non_null(v->s);
	return v->s;
}

/* Stops everything a test started. */
static void env_stop(struct env *v)
{
	az_session_free(v->s);
	az_error_clear(&v->e);
	st_stop(&v->t);
	unlink(v->ca);
	free(v);
}

/* Adds a fault through the admin endpoint. */
static void fault(struct env *v, const char *rule)
{
	assert_int_equal(st_fault(&v->t, rule), 201);
}

/* Counts logged requests whose path contains needle (and, if given, with a
 * status). */
static int log_count(struct env *v, const char *needle, long status)
{
	struct st_resp r;
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++)
		if (strstr(jx_str(jx_at(log, i), "path"), needle) &&
		    (!status || jx_int(jx_at(log, i), "status", 0) == status))
			n++;
	st_resp_free(&r);
	return n;
}

/* Signs in and asserts the principal is the one expected. */
static void assert_signed_in_as(struct env *v, const char *oid)
{
	struct json_object *c;

	if (az_session_sign_in(v->s, &v->e) != 0)
		fail_msg("sign-in failed: %s", v->e.message);
	c = az_session_claims(v->s);
	assert_string_equal(jx_str(c, "oid"), oid);
	json_object_put(c);
}

/* Asserts sign-in fails with a message containing text. */
static void assert_sign_in_fails(struct env *v, const char *text)
{
	assert_int_equal(az_session_sign_in(v->s, &v->e), -1);
	if (!strstr(v->e.message, text))
		fail_msg("'%s' not in: %s", text, v->e.message);
}

/* ---- credentials ---- */

/* Client secret from the environment; a wrong secret quotes Entra's AADSTS code
 * and the request id. */
static void test_env_secret(void **state)
{
	struct env *v = env_start(NULL);

	use_secret("demo-secret");
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s),
			    "environment (client secret)");
	use_secret("wrong");
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_sign_in_fails(v, "AADSTS7000215");
	assert_non_null(strstr(v->e.message, "request id"));
	env_stop(v);
}

/* Writes a self-signed certificate and its key into one PEM file; returns the
 * certificate PEM. */
static char *write_cert_file(const char *path)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *x = X509_new();
	FILE *f = fopen(path, "w");
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"ops", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	PEM_write_X509(f, x);
	fclose(f);
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	return pem;
}

/* Certificate from the environment (PS256, x5t#S256); an unregistered
 * certificate is refused. */
static void test_env_certificate(void **state)
{
	char path[128], other[128], *pem, *merge;
	struct json_object *p = json_object_new_object();
	struct env *v;

	snprintf(path, sizeof(path), "%s/cert.pem", workdir);
	snprintf(other, sizeof(other), "%s/other.pem", workdir);
	pem = write_cert_file(path);
	free(write_cert_file(other));
	jx_set(p, "operator.certificate", json_object_new_string(pem));
	merge = xstrdup(jx_text(p));
	v = env_start(merge);
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", path, 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s),
			    "environment (client certificate)");
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", other, 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, "AADSTS700027");
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/cert.pem", 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, "/nonexistent/cert.pem");
	env_stop(v);
	json_object_put(p);
	free(merge);
	free(pem);
	unlink(path);
	unlink(other);
}

/* Makes a certificate for a fresh RSA key under a common name, issued by ca
 * (NULL: self-signed). */
static X509 *issue_cert(EVP_PKEY **key, X509 *ca, EVP_PKEY *ca_key,
			const char *cn)
{
	X509 *x = X509_new();

	*key = EVP_RSA_gen(2048);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 3);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, *key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca)
				   : X509_get_subject_name(x));
	X509_sign(x, ca ? ca_key : *key, EVP_sha256());
	return x;
}

/* Writes a PKCS#12 file of key, leaf and issuer under a password. */
static void write_p12(const char *path, EVP_PKEY *key, X509 *leaf, X509 *ca,
		      const char *password)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12;
	FILE *f = fopen(path, "wb");

	sk_X509_push(cas, ca);
	p12 = PKCS12_create(password, "azcmk", key, leaf, cas, 0, 0, 0, 0, 0);
	assert_non_null(p12);
	i2d_PKCS12_fp(f, p12);
	fclose(f);
	PKCS12_free(p12);
	sk_X509_free(cas);
}

/* Writes a PEM file of key (encrypted with AES-256 under password), leaf and
 * issuer. */
static void write_encrypted_pem(const char *path, EVP_PKEY *key, X509 *leaf,
				X509 *ca, const char *password)
{
	FILE *f = fopen(path, "w");

	PEM_write_X509(f, ca);
	PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), NULL, 0, NULL,
			     (void *)password);
	PEM_write_X509(f, leaf);
	fclose(f);
}

/* Asserts sign-in with the certificate at path fails saying text (naming the
 * file when the file is at fault) and never showing the password. */
static void assert_cert_refused(struct env *v, const char *path,
				const char *text, bool names_file)
{
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", path, 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, text);
	if (names_file)
		assert_non_null(strstr(v->e.message, path));
	assert_null(strstr(v->e.message, "pfx-Passw0rd"));
}

/*
 * A PKCS#12 file and an encrypted PEM, opened with
 * AZURE_CLIENT_CERTIFICATE_PASSWORD; with AZURE_CLIENT_SEND_CERTIFICATE_CHAIN
 * the assertion carries x5c, which subject name and issuer sign-in needs (the
 * simulator trusts CN=azcmk-sni from the test CA; the leaf is not registered).
 * A wrong or missing password, another file, a bad flag: clear refusals.
 */
static void test_env_certificate_protected(void **state)
{
	EVP_PKEY *ca_key, *key;
	X509 *ca = issue_cert(&ca_key, NULL, NULL, "azcmk-test-ca"),
	     *leaf = issue_cert(&key, ca, ca_key, "azcmk-sni");
	BIO *bio = BIO_new(BIO_s_mem());
	struct json_object *p = json_object_new_object(),
			   *subj = json_object_new_object(),
			   *list = json_object_new_array();
	char p12[128], pem[128], junk[128], *data, *merge;
	long n = (PEM_write_bio_X509(bio, ca), BIO_get_mem_data(bio, &data));
	struct env *v;
	FILE *f;

	json_object_object_add(subj, "subjectName",
			       json_object_new_string("CN=azcmk-sni"));
	json_object_object_add(subj, "issuerCertificate",
			       json_object_new_string_len(data, (int)n));
	json_object_array_add(list, subj);
	jx_set(p, "operator.trustedCertificateSubjects", list);
	merge = xstrdup(jx_text(p));
	snprintf(p12, sizeof(p12), "%s/client.pfx", workdir);
	snprintf(pem, sizeof(pem), "%s/client-enc.pem", workdir);
	snprintf(junk, sizeof(junk), "%s/client.junk", workdir);
	write_p12(p12, key, leaf, ca, "pfx-Passw0rd");
	write_encrypted_pem(pem, key, leaf, ca, "pfx-Passw0rd");
	f = fopen(junk, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	v = env_start(merge);
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-Passw0rd", 1);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true", 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", p12, 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_signed_in_as(v, OPERATOR);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "1", 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", pem, 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_cert_refused(v, junk, "neither a PEM file nor a PKCS#12", true);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "false", 1);
	assert_cert_refused(v, p12, "AADSTS700027", false);
	setenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "maybe", 1);
	assert_cert_refused(v, p12,
			    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is "
			    "'maybe'",
			    false);
	unsetenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN");
	setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong", 1);
	assert_cert_refused(v, p12, "the password is wrong", true);
	assert_cert_refused(v, pem, "cannot decrypt the private key", true);
	unsetenv("AZURE_CLIENT_CERTIFICATE_PASSWORD");
	assert_cert_refused(v, p12, "set AZURE_CLIENT_CERTIFICATE_PASSWORD",
			    true);
	assert_cert_refused(v, pem,
			    "is encrypted: set "
			    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
			    true);
	env_stop(v);
	unlink(p12);
	unlink(pem);
	unlink(junk);
	json_object_put(p);
	free(merge);
	BIO_free(bio);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

/* Writes a federated token file for an issuer and subject. */
static void write_federated(const char *path, const char *sub)
{
	struct json_object *c = json_object_new_object();
	const char *hdr = "{\"alg\":\"RS256\"}", *pt;
	char *h, *p;
	FILE *f = fopen(path, "w");

	json_object_object_add(
		c, "iss", json_object_new_string("https://oidc.example/x"));
	json_object_object_add(c, "sub", json_object_new_string(sub));
	json_object_object_add(
		c, "aud", json_object_new_string("api://AzureADTokenExchange"));
	json_object_object_add(
		c, "exp", json_object_new_int64((int64_t)time(NULL) + 600));
	pt = jx_text(c);
	h = b64_encode(hdr, strlen(hdr), true);
	p = b64_encode(pt, strlen(pt), true);
	fprintf(f, "%s.%s.c2ln\n", h, p);
	fclose(f);
	free(h);
	free(p);
	json_object_put(c);
}

/* Workload identity federation: the token file is the assertion; a foreign
 * subject gets AADSTS70021. */
static void test_env_federated(void **state)
{
	struct env *v = env_start(
		"{\"operator\":{\"federatedCredentials\":[{\"issuer\":\"https:/"
		"/oidc.example/x\","
		"\"subject\":\"system:serviceaccount:ops:azcmk\"}]}}");
	char path[128];

	snprintf(path, sizeof(path), "%s/fed.jwt", workdir);
	write_federated(path, "system:serviceaccount:ops:azcmk");
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", path, 1);
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_signed_in_as(v, OPERATOR);
	write_federated(path, "system:serviceaccount:ops:intruder");
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_sign_in_fails(v, "AADSTS70021");
	unlink(path);
	env_stop(v);
}

/* Managed identity: IMDS, App Service and Cloud Shell styles; AZURE_CLIENT_ID
 * picks a user-assigned identity. */
static void test_managed_identity(void **state)
{
	struct env *v = env_start(NULL);
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->t.identity);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", url, 1);
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s), "managed identity (IMDS)");
	assert_string_equal(az_session_method_id(v->s),
			    "managed-identity-imds");
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token", 200),
			 1);
	setenv("AZURE_CLIENT_ID", "6666c001-6666-4666-8666-66666666c001", 1);
	session(v, AZ_AUTH_MANAGED_IDENTITY, NULL);
	assert_signed_in_as(v, "6666b001-6666-4666-8666-66666666b001");
	unsetenv("AZURE_CLIENT_ID");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/msi/token",
		 v->t.identity);
	setenv("IDENTITY_ENDPOINT", url, 1);
	setenv("IDENTITY_HEADER", "azsim-identity-header", 1);
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s),
			    "managed identity (App Service)");
	setenv("IDENTITY_HEADER", "wrong", 1);
	session(v, AZ_AUTH_MANAGED_IDENTITY, NULL);
	assert_sign_in_fails(v, "HTTP 401");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	setenv("MSI_ENDPOINT", url, 1);
	session(v, AZ_AUTH_MANAGED_IDENTITY, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s),
			    "managed identity (Cloud Shell)");
	env_stop(v);
}

/* Removes the files in a directory, then the directory. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char *f;

		if (de->d_name[0] == '.')
			continue;
		f = xasprintf("%s/%s", dir, de->d_name);
		unlink(f);
		free(f);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Starts the simulator as Azure Arc's agent writing its keys in dir (naming
 * realm instead in its challenges, when given), and points the environment at
 * it. */
static struct env *arc_start(const char *dir, const char *realm)
{
	struct json_object *p = json_object_new_object();
	struct env *v;
	char url[128];

	jx_set(p, "settings.arcKeyDirectory", json_object_new_string(dir));
	if (realm)
		jx_set(p, "settings.arcChallengePath",
		       json_object_new_string(realm));
	v = env_start(jx_text(p));
	json_object_put(p);
	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%d/metadata/identity/oauth2/token",
		 v->t.identity);
	setenv("IDENTITY_ENDPOINT", url, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->t.identity);
	setenv("IMDS_ENDPOINT", url, 1);
	setenv("AZCMK_TEST_ARC_KEY_DIR", dir, 1);
	return v;
}

/* Asserts Azure Arc sign-in refuses the key file the challenge names. */
static void assert_arc_refused(const char *dir, const char *realm,
			       const char *text)
{
	struct env *v = arc_start(dir, realm);

	session(v, AZ_AUTH_CHAIN, NULL);
	assert_sign_in_fails(v, text);
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token", 200),
			 0);
	env_stop(v);
}

/*
 * Azure Arc: IDENTITY_ENDPOINT with IMDS_ENDPOINT; the first request gets a
 * 401 naming a key file, whose contents answer it. A key file outside the key
 * directory, not .key, over 4096 bytes or a symbolic link is never read, the
 * production directory stays /var/opt/azcmagent/tokens, and a user-assigned
 * identity is refused as azure-identity refuses it.
 */
static void test_managed_identity_arc(void **state)
{
	char dir[128], *big, *link, *escape;
	struct env *v;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/arc-tokens", workdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	v = arc_start(dir, NULL);
	session(v, AZ_AUTH_CHAIN, NULL);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s),
			    "managed identity (Azure Arc)");
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token", 401),
			 1);
	setenv("AZURE_CLIENT_ID", "6666c001-6666-4666-8666-66666666c001", 1);
	session(v, AZ_AUTH_MANAGED_IDENTITY, NULL);
	assert_sign_in_fails(v, "only the system-assigned");
	env_stop(v);
	v = arc_start(dir, NULL);
	unsetenv("AZCMK_TEST_ARC_KEY_DIR");
	session(v, AZ_AUTH_MANAGED_IDENTITY, NULL);
	assert_sign_in_fails(v, "which is not a .key file in "
				"/var/opt/azcmagent/tokens");
	env_stop(v);
	big = xasprintf("%s/big.key", dir);
	link = xasprintf("%s/link.key", dir);
	escape = xasprintf("%s/../escape.key", dir);
	f = fopen(big, "w");
	for (int i = 0; i < 5000; i++)
		fputc('k', f);
	fclose(f);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	assert_arc_refused(dir, "/etc/passwd", "which is not a .key file");
	assert_arc_refused(dir, escape, "which is not a .key file");
	assert_arc_refused(dir, big, "at most 4096 bytes");
	assert_arc_refused(dir, link, "cannot read the Azure Arc key file");
	remove_dir(dir);
	free(big);
	free(link);
	free(escape);
}

/* Writes an executable fake `az` that prints body on stdout (or err on stderr
 * with status). */
static void fake_az(const char *path, const char *out, const char *err,
		    int status)
{
	FILE *f = fopen(path, "w");

	fprintf(f, "#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n", out ? out : "");
	if (err)
		fprintf(f, "echo '%s' >&2\n", err);
	fprintf(f, "exit %d\n", status);
	fclose(f);
	chmod(path, 0755);
}

/* The Azure CLI credential: expires_on or expiresOn, not signed in, missing,
 * malformed output. */
static void test_azure_cli(void **state)
{
	struct env *v = env_start(NULL);
	struct az_session_opts o = { 0 };
	char az[128],
		*tok = st_token(&v->t, "https://management.azure.com/.default"),
		*out;
	const char *got;

	snprintf(az, sizeof(az), "%s/az", workdir);
	o.auth = AZ_AUTH_CLI;
	o.ca_file = v->ca;
	o.az_command = az;
	out = xasprintf("{\"accessToken\":\"%s\",\"expires_on\":%lld,"
			"\"tokenType\":\"Bearer\"}",
			tok, (long long)time(NULL) + 3000);
	fake_az(az, out, NULL, 0);
	v->s = az_session_new(&o, &v->e);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s), "Azure CLI");
	free(out);
	out = xasprintf("{\"accessToken\":\"%s\",\"expiresOn\":\"2099-01-01 "
			"00:00:00.000000\"}",
			tok);
	fake_az(az, out, NULL, 0);
	az_session_free(v->s);
	v->s = az_session_new(&o, &v->e);
	assert_int_equal(az_session_token(v->s,
					  "https://vault.azure.net/.default",
					  NULL, &got, &v->e),
			 0);
	fake_az(az, "", "ERROR: Please run 'az login' to setup account.", 1);
	az_session_free(v->s);
	v->s = az_session_new(&o, &v->e);
	assert_sign_in_fails(v, "az login");
	fake_az(az, "{\"nothing\":1}", NULL, 0);
	az_session_free(v->s);
	v->s = az_session_new(&o, &v->e);
	assert_sign_in_fails(v, "malformed");
	o.az_command = "/nonexistent/az";
	az_session_free(v->s);
	v->s = az_session_new(&o, &v->e);
	assert_sign_in_fails(v, "not installed");
	unlink(az);
	free(out);
	free(tok);
	env_stop(v);
}

/* Makes a session whose chain finds the fake Azure CLI az, the simulator's
 * IMDS and whatever credential the environment holds. */
static void chain_session(struct env *v, enum az_auth auth, const char *az)
{
	struct az_session_opts o = { 0 };

	o.auth = auth;
	o.ca_file = v->ca;
	o.az_command = az;
	o.max_retries = 1;
	o.backoff_base_ms = 5;
	az_session_free(v->s);
	az_error_clear(&v->e);
	v->s = az_session_new(&o, &v->e);
	assert_non_null(v->s);
}

/* Signs in under AZURE_TOKEN_CREDENTIALS=value and asserts the credential
 * used. */
static void assert_picks(struct env *v, const char *value, enum az_auth auth,
			 const char *az, const char *method)
{
	setenv("AZURE_TOKEN_CREDENTIALS", value, 1);
	chain_session(v, auth, az);
	assert_signed_in_as(v, OPERATOR);
	assert_string_equal(az_session_method(v->s), method);
}

/* Asserts the chain under AZURE_TOKEN_CREDENTIALS=value fails with text. */
static void assert_refuses(struct env *v, const char *value, const char *az,
			   const char *text)
{
	setenv("AZURE_TOKEN_CREDENTIALS", value, 1);
	chain_session(v, AZ_AUTH_CHAIN, az);
	assert_sign_in_fails(v, text);
}

/* AZURE_TOKEN_CREDENTIALS narrows the chain as azure-identity's
 * DefaultAzureCredential does (dev, prod, one credential's name, any case);
 * an invalid value is refused; an explicit --auth is not narrowed. */
static void test_token_credentials(void **state)
{
	struct env *v = env_start(NULL);
	char az[128], url[128],
		*tok = st_token(&v->t, "https://management.azure.com/.default"),
		*out;

	snprintf(az, sizeof(az), "%s/az", workdir);
	out = xasprintf("{\"accessToken\":\"%s\",\"expires_on\":%lld}", tok,
			(long long)time(NULL) + 3000);
	fake_az(az, out, NULL, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->t.identity);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", url, 1);
	use_secret("demo-secret");
	assert_picks(v, "dev", AZ_AUTH_CHAIN, az, "Azure CLI");
	assert_picks(v, " PROD ", AZ_AUTH_CHAIN, az,
		     "environment (client secret)");
	assert_picks(v, "ManagedIdentityCredential", AZ_AUTH_CHAIN, az,
		     "managed identity (IMDS)");
	assert_picks(v, "azureclicredential", AZ_AUTH_CHAIN, az, "Azure CLI");
	assert_picks(v, "dev", AZ_AUTH_ENV, az, "environment (client secret)");
	assert_refuses(v, "WorkloadIdentityCredential", az,
		       "environment (client secret): left out by "
		       "AZURE_TOKEN_CREDENTIALS");
	assert_non_null(strstr(v->e.message, "Azure CLI: left out"));
	assert_refuses(v, "laptop", az,
		       "AZURE_TOKEN_CREDENTIALS is 'laptop', which is not a "
		       "valid value");
	assert_refuses(v, "AzurePowerShellCredential", az,
		       "azcmk does not have");
	unsetenv("AZURE_CLIENT_SECRET");
	assert_picks(v, "prod", AZ_AUTH_CHAIN, az, "managed identity (IMDS)");
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
	assert_refuses(v, "prod", az, "Azure CLI: left out");
	unlink(az);
	free(out);
	free(tok);
	env_stop(v);
}

/* Collects the device-code instructions shown to the operator. */
static void collect(const char *message, void *ctx)
{
	sb_adds(ctx, message);
}

/* Device code: shown, polled until approved, then a second audience through the
 * refresh token. */
static void run_device(const char *flow, const char *expect_error)
{
	char *merge = xasprintf("{\"settings\":{\"deviceCodeFlow\":%s,"
				"\"deviceCodeInterval\":0}}",
				flow);
	struct env *v = env_start(merge);
	struct az_session_opts o = { 0 };
	struct sbuf shown = SBUF_INIT;
	const char *tok;

	o.auth = AZ_AUTH_DEVICE_CODE;
	o.tenant = TENANT;
	o.ca_file = v->ca;
	o.prompt = collect;
	o.prompt_ctx = &shown;
	v->s = az_session_new(&o, &v->e);
	if (expect_error) {
		assert_sign_in_fails(v, expect_error);
	} else {
		assert_signed_in_as(v, "0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c");
		assert_int_equal(
			az_session_token(v->s,
					 "https://vault.azure.net/.default",
					 NULL, &tok, &v->e),
			0);
		assert_int_equal(log_count(v, "/oauth2/v2.0/devicecode", 200),
				 1);
	}
	assert_non_null(
		strstr(sb_str(&shown), "https://microsoft.com/devicelogin"));
	sb_free(&shown);
	free(merge);
	env_stop(v);
}

/* Device code: approved after pending and slow_down; expired; declined. */
static void test_device_code(void **state)
{
	run_device("[\"authorization_pending\",\"slow_down\",\"approve\"]",
		   NULL);
	run_device("[\"authorization_pending\",\"expired_token\"]", "expired");
	run_device("[\"authorization_declined\"]", "declined");
}

/* A token endpoint answering malformed JSON is reported as such, not crashed
 * on. */
static void test_malformed_token_response(void **state)
{
	struct env *v = env_start(NULL);

	fault(v, "{\"path\":\"*/oauth2/v2.0/"
		 "token\",\"kind\":\"malformed\",\"times\":1}");
	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, "malformed");
	env_stop(v);
}

/* With nothing configured and no terminal, the error lists every method tried
 * and how to enable it. */
static void test_no_credential(void **state)
{
	struct env *v = env_start(NULL);
	struct az_session_opts o = { 0 };

	o.ca_file = v->ca;
	o.az_command = "/nonexistent/az";
	v->s = az_session_new(&o, &v->e);
	assert_sign_in_fails(v, "no credential found");
	assert_non_null(strstr(v->e.message, "AZURE_CLIENT_SECRET"));
	assert_non_null(strstr(v->e.message, "managed identity"));
	assert_non_null(strstr(v->e.message, "Azure CLI"));
	assert_non_null(strstr(v->e.message, "--auth device-code"));
	env_stop(v);
}

/* ---- the HTTP engine through the session ---- */

/* Sends a GET to an ARM path and returns the request (caller frees). */
static struct az_req *arm_get(struct env *v, const char *path, int *rc)
{
	struct az_req *r =
		az_session_req(v->s, AZ_ARM, "GET", path, "2022-12-01", NULL);

	*rc = az_session_call(v->s, r, &v->e);
	return r;
}

/* Each retry path ends in success: 429 with Retry-After, 503 with
 * x-ms-retry-after-ms, reset, truncated body. */
static void test_retries(void **state)
{
	static const char *const faults[] = {
		"{\"path\":\"/"
		"subscriptions\",\"status\":429,\"retryAfter\":0,\"times\":2}",
		"{\"path\":\"/"
		"subscriptions\",\"status\":503,\"retryAfterMs\":10,\"times\":"
		"2}",
		"{\"path\":\"/subscriptions\",\"kind\":\"reset\",\"times\":2}",
		"{\"path\":\"/"
		"subscriptions\",\"kind\":\"truncate\",\"times\":2}",
	};
	struct env *v = env_start(NULL);

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		int rc;
		struct az_req *r;

		fault(v, faults[i]);
		r = arm_get(v, "/subscriptions", &rc);
		if (rc != 0)
			fail_msg("%s: %s", faults[i], v->e.message);
		/* libcurl itself retries once on a reused connection that turns
		 * out dead, so a reset may cost one less. */
		assert_true(r->attempts == 3 ||
			    (strstr(faults[i], "reset") && r->attempts == 2));
		assert_int_equal(r->status, 200);
		az_req_free(r);
		{
			struct st_resp left;

			st_admin(&v->t, "GET", "/faults", NULL, &left);
			assert_int_equal(jx_len(left.json), 0);
			st_resp_free(&left);
		}
	}
	env_stop(v);
}

/* Throttled past the retries: the error says so, with the request id. */
static void test_throttled_past_retries(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;
	int rc;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	fault(v,
	      "{\"path\":\"/subscriptions\",\"status\":429,\"retryAfter\":0}");
	r = arm_get(v, "/subscriptions", &rc);
	assert_int_equal(rc, -1);
	assert_int_equal(r->attempts, 4);
	assert_non_null(strstr(v->e.message, "throttling"));
	assert_non_null(strstr(v->e.message, r->client_request_id));
	az_req_free(r);
	env_stop(v);
}

/* An expired token gets one re-authentication on 401, then the call succeeds.
 */
static void test_reauth_on_401(void **state)
{
	struct env *v = env_start(NULL);
	struct st_resp adm;
	struct az_req *r;
	int rc;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	az_req_free(arm_get(v, "/subscriptions", &rc));
	fault(v, "{\"host\":\"management.azure.com\",\"path\":\"/"
		 "subscriptions\",\"status\":401,\"code\":"
		 "\"ExpiredAuthenticationToken\",\"times\":1}");
	r = arm_get(v, "/subscriptions", &rc);
	assert_int_equal(rc, 0);
	az_req_free(r);
	assert_int_equal(log_count(v, "/oauth2/v2.0/token", 200), 2);
	st_admin(&v->t, "GET", "/health", NULL, &adm);
	st_resp_free(&adm);
	env_stop(v);
}

/*
 * Streamed sends: az_session_send_any returns as each request ends, the slow
 * one last, while the others go on; a request started with az_session_kick is
 * taken up by the next call; a 401 is answered with a new token on the way.
 */
static void test_send_any(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *q[3], *slow, *order[3];
	size_t n = 0, done = 0;
	int rc;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	az_req_free(arm_get(v, "/subscriptions", &rc));
	/* The slow answer waits 5 s: the other two (one through a 401, a new
	 * token and a retry) must end first even under valgrind on a loaded
	 * machine, where 400 ms once was not enough. */
	fault(v, "{\"path\":\"/subscriptions/" SUB
		 "\",\"latencyMs\":5000,\"times\":1}");
	fault(v, "{\"host\":\"management.azure.com\",\"path\":\"/"
		 "subscriptions\",\"status\":401,\"code\":"
		 "\"ExpiredAuthenticationToken\",\"times\":1}");
	slow = az_session_req(v->s, AZ_ARM, "GET", "/subscriptions/" SUB,
			      "2022-12-01", NULL);
	q[n++] = slow;
	assert_int_equal(az_session_kick(v->s, q, n, &v->e), 0);
	q[n++] = az_session_req(v->s, AZ_ARM, "GET", "/subscriptions",
				"2022-12-01", NULL);
	q[n++] = az_session_req(v->s, AZ_ARM, "GET", "/tenants", "2022-12-01",
				NULL);
	while (n) {
		size_t k = 0;

		assert_int_equal(az_session_send_any(v->s, q, n, &v->e), 0);
		for (size_t i = 0; i < n; i++)
			if (az_req_done(q[i]))
				order[done++] = q[i];
			else
				q[k++] = q[i];
		assert_true(k < n);
		n = k;
	}
	assert_int_equal(done, 3);
	assert_ptr_equal(order[2], slow);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(order[i]->status, 200);
		az_req_free(order[i]);
	}
	assert_int_equal(log_count(v, "/oauth2/v2.0/token", 200), 2);
	env_stop(v);
}

/* Key Vault: one challenge round trip per vault, then tokens go direct; a
 * mismatched challenge is refused. */
static void test_keyvault_challenge(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	for (int i = 0; i < 3; i++) {
		r = az_session_req(v->s, AZ_KEYVAULT, "GET",
				   KV "/keys/cmk-test", "7.5", NULL);
		if (az_session_call(v->s, r, &v->e) != 0)
			fail_msg("%s", v->e.message);
		assert_string_equal(jx_str(r->json, "key.kty"), "RSA");
		az_req_free(r);
	}
	assert_int_equal(log_count(v, "/keys/cmk-test", 401), 1);
	session(v, AZ_AUTH_ENV, NULL);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":1,"
		 "\"wwwAuthenticate\":\"Bearer "
		 "authorization=\\\"https://login.microsoftonline.com/" TENANT
		 "\\\", "
		 "resource=\\\"https://evil.example.net\\\"\"}");
	r = az_session_req(v->s, AZ_KEYVAULT, "GET", KV "/keys/cmk-test", "7.5",
			   NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), -1);
	assert_non_null(strstr(v->e.message, "refusing the sign-in challenge"));
	az_req_free(r);
	env_stop(v);
}

/* The sign-in challenge kv-cmk-test sends (the simulator's own, as a fault). */
#define KV_CHALLENGE(resource)                                                 \
	"\"wwwAuthenticate\":\"Bearer "                                        \
	"authorization=\\\"https://login.microsoftonline.com/" TENANT "\\\", " \
	"resource=\\\"" resource "\\\"\""

/* The challenge of a vault of another tenant. */
#define OTHER_TENANT "44444444-4444-4444-8444-444444444444"
#define KV_OTHER_CHALLENGE                                                  \
	"\"wwwAuthenticate\":\"Bearer "                                     \
	"authorization=\\\"https://login.microsoftonline.com/" OTHER_TENANT \
	"\\\", resource=\\\"https://vault.azure.net\\\"\""

/* Sends one request to kv-cmk-test's key; returns az_session_call's answer. */
static int kv_get(struct env *v)
{
	struct az_req *r = az_session_req(v->s, AZ_KEYVAULT, "GET",
					  KV "/keys/cmk-test", "7.5", NULL);
	int rc = az_session_call(v->s, r, &v->e);

	if (rc == 0)
		assert_string_equal(jx_str(r->json, "key.kty"), "RSA");
	az_req_free(r);
	return rc;
}

/* Takes the session's Key Vault token (as a command that read another vault
 * before, or the token cache, would hold it), with no challenge known. */
static void hold_kv_token(struct env *v)
{
	const char *tok;

	session(v, AZ_AUTH_ENV, NULL);
	if (az_session_token(v->s, "https://vault.azure.net/.default", NULL,
			     &tok, &v->e) != 0)
		fail_msg("%s", v->e.message);
}

/*
 * A vault whose challenge is not known yet is sent the Key Vault token the
 * session already holds, with no bare round trip first; a 401 to it (the token
 * revoked) has it renewed and the request answered once; a challenge that
 * names another domain is still refused; no host but a vault's gets it.
 */
static void test_keyvault_held_token(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;
	int tokens;

	(void)state;
	use_secret("demo-secret");
	hold_kv_token(v);
	if (kv_get(v) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(log_count(v, "/keys/cmk-test", 401), 0);
	assert_int_equal(log_count(v, "/keys/cmk-test", 200), 1);

	hold_kv_token(v);
	tokens = log_count(v, "/oauth2/v2.0/token", 200);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":1," KV_CHALLENGE(
			 "https://vault.azure.net") "}");
	if (kv_get(v) != 0)
		fail_msg("%s", v->e.message);
	assert_int_equal(log_count(v, "/keys/cmk-test", 401), 1);
	assert_int_equal(log_count(v, "/oauth2/v2.0/token", 200), tokens + 1);

	/* Three requests refused with the same revoked token: one new token,
	 * not one each. */
	hold_kv_token(v);
	tokens = log_count(v, "/oauth2/v2.0/token", 200);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":3," KV_CHALLENGE(
			 "https://vault.azure.net") "}");
	{
		struct az_req *q[3];

		for (size_t i = 0; i < 3; i++)
			q[i] = az_session_req(v->s, AZ_KEYVAULT, "GET",
					      KV "/keys/cmk-test", "7.5", NULL);
		assert_int_equal(az_session_send(v->s, q, 3, &v->e), 0);
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(q[i]->status, 200);
			az_req_free(q[i]);
		}
	}
	assert_int_equal(log_count(v, "/oauth2/v2.0/token", 200), tokens + 1);

	/* A vault of another tenant: its challenge is learned and that
	 * tenant's token asked for (the simulator knows no such tenant: the
	 * sign-in error is the answer), after one 401. */
	hold_kv_token(v);
	tokens = log_count(v, "/keys/cmk-test", 401);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":9," KV_OTHER_CHALLENGE "}");
	assert_int_equal(kv_get(v), -1);
	assert_non_null(strstr(v->e.message, OTHER_TENANT));
	assert_int_equal(log_count(v, "/keys/cmk-test", 401), tokens + 1);
	assert_int_equal(log_count(v, "/" OTHER_TENANT "/oauth2/v2.0/token", 0),
			 1);
	az_error_clear(&v->e);
	{
		struct st_resp none;

		assert_int_equal(
			st_admin(&v->t, "DELETE", "/faults", NULL, &none), 204);
		st_resp_free(&none);
	}

	hold_kv_token(v);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":1," KV_CHALLENGE(
			 "https://evil.example.net") "}");
	assert_int_equal(kv_get(v), -1);
	assert_non_null(strstr(v->e.message, "refusing the sign-in challenge"));
	az_error_clear(&v->e);

	r = az_session_req(
		v->s, AZ_KEYVAULT, "GET",
		"https://kv-cmk-test.vault.example.net/keys/cmk-test", "7.5",
		NULL);
	az_session_send(v->s, &r, 1, &v->e);
	for (const struct curl_slist *l = r->headers; l; l = l->next)
		assert_null(strcasestr(l->data, "Authorization"));
	az_req_free(r);
	env_stop(v);
}

/* Paging follows nextLink over more than 5,000 items. */
static void test_paging(void **state)
{
	struct env *v = xcalloc(1, sizeof(*v));
	char *text = st_read_scenario("minimal.json"), *err = NULL;
	struct json_object *doc = json_tokener_parse(text),
			   *list = jx_get(doc, "resources"), *items = NULL;

	for (int i = 0; i < 5000; i++) {
		char *id = xasprintf(RG "/providers/Microsoft.ManagedIdentity/"
					"userAssignedIdentities/uai%04d",
				     i);
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "id", json_object_new_string(id));
		json_object_object_add(
			r, "type",
			json_object_new_string("Microsoft.ManagedIdentity/"
					       "userAssignedIdentities"));
		json_object_object_add(
			r, "name",
			json_object_new_string(strrchr(id, '/') + 1));
		json_object_object_add(r, "location",
				       json_object_new_string("westus3"));
		json_object_array_add(list, r);
		free(id);
	}
	clear_env();
	assert_int_equal(st_start_text(&v->t, jx_text(doc), &err), 0);
	snprintf(v->ca, sizeof(v->ca), "%s/ca-page.pem", workdir);
	assert_int_equal(st_point_client(&v->t, v->ca), 0);
	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	assert_int_equal(az_session_list(v->s, AZ_ARM,
					 "/subscriptions/" SUB "/resources",
					 "2021-04-01", &items, &v->e),
			 0);
	assert_int_equal(jx_len(items), 5007);
	assert_true(log_count(v, "/resources", 200) >= 51);
	json_object_put(items);
	/* A page handed over as a whole URL on another host is refused before
	 * any token is sent. */
	assert_int_equal(
		az_session_list(
			v->s, AZ_ARM,
			"https://evil.example/subscriptions?$skiptoken=x", NULL,
			&items, &v->e),
		-1);
	assert_null(items);
	assert_non_null(strstr(v->e.message, "no token was sent"));
	az_error_clear(&v->e);
	json_object_put(doc);
	free(text);
	env_stop(v);
}

/* The healthcare agent service's create (Bots_Create, PUT) names an
 * Azure-AsyncOperation only: the wait follows it. */
static void lro_async_only(struct env *v)
{
	struct az_req *r, *done = NULL;

	r = az_session_req(v->s, AZ_ARM, "PUT", HB "-new", "2025-11-01",
			   "{\"location\":\"westus3\",\"sku\":{\"name\":\"F0\"}"
			   ",\"properties\":{}}");
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	assert_int_equal(r->status, 201);
	assert_null(strcasestr(r->resp_headers, "\nLocation:"));
	assert_non_null(strcasestr(r->resp_headers, "Azure-AsyncOperation:"));
	if (az_session_wait(v->s, r, &done, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_string_equal(jx_str(done->json, "status"), "Succeeded");
	az_req_free(done);
	az_req_free(r);
}

/* A polling URL that names its region as "west us 3" is percent-encoded and
 * followed; one with a control character is refused. */
static void lro_display_region(struct env *v)
{
	struct az_req *r, *done = NULL;
	char *url, *at;

	r = az_session_req(v->s, AZ_ARM, "PATCH", OAI, "2025-06-01",
			   "{\"tags\":{\"a\":\"4\"}}");
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	url = az_req_response_header(r, "Azure-AsyncOperation");
	at = strstr(url, "/locations/westus3/");
	assert_non_null(at);
	*at = '\0';
	{
		char *spaced = xasprintf("%s/locations/west us 3/%s", url,
					 at + strlen("/locations/westus3/"));

		if (az_session_wait_op(v->s, spaced, true, &done, &v->e) != 0)
			fail_msg("%s", v->e.message);
		assert_non_null(strstr(done->url, "/locations/west%20us%203/"));
		az_req_free(done);
		free(spaced);
		spaced = xasprintf("%s/locations/west\r\nHost: evil/%s", url,
				   at + strlen("/locations/westus3/"));
		assert_int_equal(
			az_session_wait_op(v->s, spaced, true, &done, &v->e),
			-1);
		assert_non_null(strstr(v->e.message, "no token was sent"));
		assert_null(strchr(v->e.message, '\r'));
		az_error_clear(&v->e);
		free(spaced);
	}
	free(url);
	az_req_free(r);
}

/*
 * A 401 whose answer fails in a later round of az_session_send_all (a vault of
 * another tenant, whose sign-in the simulator refuses): that request alone is
 * marked failed (no answer kept), after one 401 and no resending, with the
 * sign-in's error;
 * the requests beside it are answered.
 */
static void send_all_later_401(struct env *v)
{
	struct az_req *r[3];
	bool failed[3] = { true, true, true };
	int refused;

	hold_kv_token(v);
	refused = log_count(v, "/keys/cmk-test", 401);
	fault(v, "{\"host\":\"kv-cmk-test.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":401,\"times\":9," KV_OTHER_CHALLENGE "}");
	r[0] = az_session_req(v->s, AZ_ARM, "GET", OAI, "2025-06-01", NULL);
	r[1] = az_session_req(v->s, AZ_KEYVAULT, "GET", KV "/keys/cmk-test",
			      "7.5", NULL);
	r[2] = az_session_req(v->s, AZ_ARM, "GET", OAI, "2025-06-01", NULL);
	assert_int_equal(az_session_send_all(v->s, r, 3, failed, &v->e), 0);
	assert_false(failed[0]);
	assert_true(failed[1]);
	assert_false(failed[2]);
	assert_int_equal(r[0]->status, 200);
	/* Its 401 was let go for the new token it could not get. */
	assert_int_equal(r[1]->status, 0);
	assert_int_equal(r[2]->status, 200);
	assert_non_null(v->e.message);
	assert_non_null(strstr(v->e.message, OTHER_TENANT));
	assert_int_equal(log_count(v, "/keys/cmk-test", 401), refused + 1);
	az_error_clear(&v->e);
	for (size_t i = 0; i < 3; i++)
		az_req_free(r[i]);
}

/*
 * az_session_send_all sends several requests at once, and one that cannot
 * have its token (a URL with a control character: refused before a token
 * goes) holds no other back, where az_session_send stops at it: it alone is
 * marked failed and left unsent, and the error says why.
 */
static void test_send_all(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r[3];
	bool failed[3] = { true, false, true };

	(void)state;
	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	r[0] = az_session_req(v->s, AZ_ARM, "GET", OAI, "2025-06-01", NULL);
	r[1] = az_session_req(v->s, AZ_ARM, "GET", OAI "\r\nHost: evil.example",
			      "2025-06-01", NULL);
	r[2] = az_session_req(v->s, AZ_ARM, "GET", OAI, "2025-06-01", NULL);
	assert_int_equal(az_session_send_all(v->s, r, 3, failed, &v->e), 0);
	assert_false(failed[0]);
	assert_true(failed[1]);
	assert_false(failed[2]);
	assert_int_equal(r[0]->status, 200);
	assert_int_equal(r[1]->status, 0);
	assert_int_equal(r[2]->status, 200);
	assert_non_null(strstr(v->e.message, "no token was sent"));
	az_error_clear(&v->e);
	for (size_t i = 0; i < 3; i++)
		az_req_clear_response(r[i]);
	/* The same three through az_session_send: the third is not sent. */
	assert_int_equal(az_session_send(v->s, r, 3, &v->e), -1);
	assert_int_equal(r[2]->status, 0);
	az_error_clear(&v->e);
	for (size_t i = 0; i < 3; i++)
		az_req_free(r[i]);
	send_all_later_401(v);
	env_stop(v);
}

/* Long-running operations: one that succeeds after polls, one that fails with
 * the operation's error. */
static void test_lro(void **state)
{
	struct env *v = env_start(
		"{\"settings\":{\"lroPolls\":2,\"retryAfterSeconds\":0}}");
	struct az_req *r, *done = NULL;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	r = az_session_req(v->s, AZ_ARM, "PATCH", OAI, "2025-06-01",
			   "{\"tags\":{\"a\":\"1\"}}");
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	assert_int_equal(r->status, 202);
	if (az_session_wait(v->s, r, &done, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_string_equal(jx_str(done->json, "status"), "Succeeded");
	az_req_free(done);
	az_req_free(r);
	fault(v, "{\"method\":\"PATCH\",\"path\":\"*/accounts/"
		 "oai-cmk-test\",\"kind\":\"lroFail\",\"times\":1}");
	r = az_session_req(v->s, AZ_ARM, "PATCH", OAI, "2025-06-01",
			   "{\"tags\":{\"a\":\"2\"}}");
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	assert_int_equal(az_session_wait(v->s, r, &done, &v->e), -1);
	assert_non_null(strstr(v->e.message, "Failed"));
	az_req_free(r);
	/*
	 * The healthcare agent service's update names a Location only (201,
	 * final state via location, as Bots_Update in its REST spec): the wait
	 * follows it to the end, with the region's name in the URL.
	 */
	r = az_session_req(v->s, AZ_ARM, "PATCH", HB, "2025-11-01",
			   "{\"tags\":{\"a\":\"3\"}}");
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	assert_int_equal(r->status, 201);
	assert_null(strcasestr(r->resp_headers, "Azure-AsyncOperation:"));
	assert_non_null(strcasestr(r->resp_headers,
				   "/locations/westus3/operationResults/"));
	if (az_session_wait(v->s, r, &done, &v->e) != 0)
		fail_msg("%s", v->e.message);
	assert_string_equal(jx_str(done->json, "tags.a"), "3");
	az_req_free(done);
	az_req_free(r);
	lro_async_only(v);
	lro_display_region(v);
	env_stop(v);
}

/* Sets the cancel flag after a short delay, as Esc or Ctrl-C would. */
static void *cancel_soon(void *arg)
{
	struct timespec ts = { 0, 200000000 };

	nanosleep(&ts, NULL);
	*(volatile sig_atomic_t *)arg = 1;
	return NULL;
}

/* A request in flight is canceled promptly. */
static void test_cancel(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;
	pthread_t th;
	struct timespec a, b;
	int rc;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	az_req_free(arm_get(v, "/subscriptions", &rc));
	fault(v,
	      "{\"path\":\"/subscriptions\",\"latencyMs\":5000,\"times\":1}");
	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_create(&th, NULL, cancel_soon, (void *)&v->cancel);
	r = arm_get(v, "/subscriptions", &rc);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(th, NULL);
	assert_int_equal(rc, -1);
	assert_true(r->canceled);
	assert_non_null(strstr(v->e.message, "canceled"));
	assert_true(b.tv_sec - a.tv_sec < 3);
	az_req_free(r);
	env_stop(v);
}

/* A server certificate from an untrusted CA is refused, and so is any http://
 * URL. */
static void test_tls_and_http_refused(void **state)
{
	struct env *v = env_start(NULL);
	struct az_session_opts o = { 0 };
	struct az_req *r;

	use_secret("demo-secret");
	o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	o.auth = AZ_AUTH_ENV;
	o.max_retries = -1;
	v->s = az_session_new(&o, &v->e);
	assert_sign_in_fails(v, "could not be verified");
	session(v, AZ_AUTH_ENV, NULL);
	/* Plain http is not ARM's origin: refused before a token is attached,
	 * and never sent. */
	r = az_session_req(v->s, AZ_ARM, "GET",
			   "http://management.azure.com/subscriptions",
			   "2022-12-01", NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), -1);
	assert_non_null(strstr(v->e.message, "no token was sent"));
	assert_int_equal(r->attempts, 0);
	az_req_free(r);
	az_error_clear(&v->e);
	/* A server's string joined to ARM's host, naming another host, is
	 * refused the same way. */
	r = az_session_req(v->s, AZ_ARM, "GET", ".evil.example/x", "2022-12-01",
			   NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), -1);
	assert_non_null(strstr(v->e.message, "no token was sent"));
	assert_int_equal(r->attempts, 0);
	az_req_free(r);
	az_error_clear(&v->e);
	r = az_session_req(v->s, AZ_ARM, "GET", "@evil.example/x", "2022-12-01",
			   NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), -1);
	assert_int_equal(r->attempts, 0);
	az_req_free(r);
	env_stop(v);
}

/* The proxy refusing a host, and an unreachable proxy, are each worded plainly.
 */
static void test_unreachable_and_proxy(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	r = az_session_req(v->s, AZ_KEYVAULT, "GET",
			   "https://no-such-vault.vault.azure.net/keys", "7.5",
			   NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), -1);
	assert_non_null(strstr(v->e.message, "proxy refused"));
	az_req_free(r);
	setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, "cannot reach");
	env_stop(v);
}

/* The --debug trace shows requests and answers but never the secret, a token or
 * an assertion. */
static void test_trace_redacted(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *r;
	const char *arm_tok, *kv_tok;
	char *arm_copy, *kv_copy, buf[1 << 16];
	size_t n;

	use_secret("demo-secret");
	v->trace = tmpfile();
	session(v, AZ_AUTH_ENV, NULL);
	r = az_session_req(v->s, AZ_KEYVAULT, "GET", KV "/keys/cmk-test", "7.5",
			   NULL);
	assert_int_equal(az_session_call(v->s, r, &v->e), 0);
	az_req_free(r);
	assert_int_equal(
		az_session_token(v->s, "https://management.azure.com/.default",
				 NULL, &arm_tok, &v->e),
		0);
	arm_copy = xstrdup(arm_tok);
	assert_int_equal(az_session_token(v->s,
					  "https://vault.azure.net/.default",
					  NULL, &kv_tok, &v->e),
			 0);
	kv_copy = xstrdup(kv_tok);
	rewind(v->trace);
	n = fread(buf, 1, sizeof(buf) - 1, v->trace);
	buf[n] = '\0';
	assert_true(n > 500);
	assert_non_null(strstr(buf, "client_secret=[redacted]"));
	assert_non_null(strstr(buf, "Authorization: Bearer [redacted]"));
	assert_null(strstr(buf, "demo-secret"));
	assert_null(strstr(buf, kv_copy));
	assert_null(strstr(buf, arm_copy + strlen(arm_copy) - 40));
	fclose(v->trace);
	free(arm_copy);
	free(kv_copy);
	env_stop(v);
}

/* Independent requests run concurrently over reused connections, at most 32
 * to a host (the simulator speaks HTTP/1.1: one per request in flight). */
static void test_concurrent(void **state)
{
	struct env *v = env_start(NULL);
	struct az_req *reqs[48];
	struct st_resp r;
	struct json_object *log;
	int before, conns[256] = { 0 }, distinct = 0;

	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, NULL);
	assert_int_equal(az_session_sign_in(v->s, &v->e), 0);
	st_admin(&v->t, "GET", "/log", NULL, &r);
	before = (int)jx_len(jx_get(r.json, "value"));
	st_resp_free(&r);
	for (int i = 0; i < 48; i++)
		reqs[i] = az_session_req(
			v->s, AZ_ARM, "GET", i % 2 ? OAI : "/subscriptions",
			i % 2 ? "2025-06-01" : "2022-12-01", NULL);
	assert_int_equal(az_session_send(v->s, reqs, 48, &v->e), 0);
	for (int i = 0; i < 48; i++) {
		assert_int_equal(reqs[i]->status, 200);
		az_req_free(reqs[i]);
	}
	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = (size_t)before; i < jx_len(log); i++) {
		int64_t c = jx_int(jx_at(log, i), "conn", 0) % 256;

		distinct += !conns[c];
		conns[c] = 1;
	}
	assert_true(distinct <= 32);
	st_resp_free(&r);
	env_stop(v);
}

/* Adds a fault answering GET path with 200 and a JSON body of exactly len
 * bytes ({"value":"xx…"}), sent chunked (no length) when asked. */
static void big_answer(struct env *v, const char *path, size_t len,
		       bool chunked)
{
	struct sbuf rule = SBUF_INIT;

	sb_printf(&rule,
		  "{\"path\":\"%s\",\"status\":200,%s\"body\":{\"value\":\"",
		  path, chunked ? "\"kind\":\"chunked\"," : "");
	for (size_t i = 0; i < len - strlen("{\"value\":\"\"}"); i++)
		sb_addc(&rule, 'x');
	sb_adds(&rule, "\"}}");
	fault(v, sb_str(&rule));
	sb_free(&rule);
}

/* Sends GET path; returns the request, answered. */
static struct az_req *get(struct env *v, const char *path)
{
	struct az_req *r =
		az_session_req(v->s, AZ_ARM, "GET", path, "2022-12-01", NULL);

	az_error_clear(&v->e);
	az_session_call(v->s, r, &v->e);
	return r;
}

/* An answer larger than the engine's bound fails its request at once, saying
 * so, without a retry, whether its length was announced or it came chunked;
 * one of exactly the bound is read whole. */
static void test_answer_bound(void **state)
{
	static const struct {
		const char *path;
		size_t len;
		bool chunked, refused;
	} rows[] = {
		{ "/subscriptions/at-bound", 16384, false, false },
		{ "/subscriptions/over-bound", 16385, false, true },
		{ "/subscriptions/chunked-at-bound", 16384, true, false },
		{ "/subscriptions/chunked-over", 16385, true, true },
		{ "/subscriptions/chunked-far-over", 200000, true, true },
	};
	struct env *v = env_start(NULL);
	struct az_session_opts o = { 0 };

	use_secret("demo-secret");
	o.auth = AZ_AUTH_ENV;
	o.ca_file = v->ca;
	o.max_retries = 3;
	o.backoff_base_ms = 5;
	o.max_answer_bytes = 16384;
	v->s = az_session_new(&o, &v->e);
	assert_non_null(v->s);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		big_answer(v, rows[i].path, rows[i].len, rows[i].chunked);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct az_req *r = get(v, rows[i].path);

		if (rows[i].refused) {
			assert_int_not_equal(r->curl_code, 0);
			assert_non_null(v->e.message);
			assert_non_null(strstr(v->e.message,
					       "larger than 16384 bytes"));
			assert_null(r->json);
			assert_int_equal(r->resp_len, 0);
		} else {
			assert_int_equal(r->curl_code, 0);
			assert_int_equal(r->status, 200);
			assert_int_equal(r->resp_len, rows[i].len);
			assert_non_null(r->json);
		}
		assert_int_equal(r->attempts, 1);
		az_req_free(r);
	}
	env_stop(v);
}

/* Clouds: names are known; US Government works end to end; AZURE_AUTHORITY_HOST
 * must be https. */
static void test_clouds(void **state)
{
	struct env *v = env_start(NULL);
	struct json_object *subs = NULL;

	assert_non_null(az_cloud_find("azurecloud"));
	assert_string_equal(az_cloud_find("AzureChinaCloud")->kv_suffix,
			    ".vault.azure.cn");
	assert_null(az_cloud_find("Mars"));
	use_secret("demo-secret");
	session(v, AZ_AUTH_ENV, "AzureUSGovernment");
	assert_int_equal(az_session_list(v->s, AZ_ARM, "/subscriptions",
					 "2022-12-01", &subs, &v->e),
			 0);
	assert_int_equal(jx_len(subs), 1);
	json_object_put(subs);
	assert_int_equal(log_count(v, "/oauth2/v2.0/token", 200), 1);
	setenv("AZURE_AUTHORITY_HOST", "http://login.example", 1);
	session(v, AZ_AUTH_ENV, NULL);
	assert_sign_in_fails(v, "must be an https:// URL");
	env_stop(v);
}

/* Makes a private working directory for files the tests write. */
static int group_setup(void **state)
{
	snprintf(workdir, sizeof(workdir), "/tmp/azcmk-test-XXXXXX");
	if (!mkdtemp(workdir))
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* Removes the working directory. */
static int group_teardown(void **state)
{
	rmdir(workdir);
	return 0;
}

/* Runs the session layer's integration tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_secret),
		cmocka_unit_test(test_env_certificate),
		cmocka_unit_test(test_env_certificate_protected),
		cmocka_unit_test(test_env_federated),
		cmocka_unit_test(test_managed_identity),
		cmocka_unit_test(test_managed_identity_arc),
		cmocka_unit_test(test_azure_cli),
		cmocka_unit_test(test_token_credentials),
		cmocka_unit_test(test_device_code),
		cmocka_unit_test(test_malformed_token_response),
		cmocka_unit_test(test_no_credential),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_throttled_past_retries),
		cmocka_unit_test(test_reauth_on_401),
		cmocka_unit_test(test_send_any),
		cmocka_unit_test(test_keyvault_challenge),
		cmocka_unit_test(test_keyvault_held_token),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_lro),
		cmocka_unit_test(test_send_all),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_tls_and_http_refused),
		cmocka_unit_test(test_unreachable_and_proxy),
		cmocka_unit_test(test_trace_redacted),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_answer_bound),
		cmocka_unit_test(test_clouds),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
