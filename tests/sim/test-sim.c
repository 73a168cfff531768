/* Integration tests of the simulated Azure: every endpoint family, its errors,
 * faults and CMK refusals. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64.h"
#include "gentenant.h"
#include "jwt.h"
#include "jx.h"
#include "sbuf.h"
#include "simtest.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

#define SUB "66666666-6666-4666-8666-666666666666"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-cmk-test"
#define ARM "https://management.azure.com"
#define VAULT_ID RG "/providers/Microsoft.KeyVault/vaults/kv-cmk-test"
#define KV "https://kv-cmk-test.vault.azure.net"
#define DICOM                                                          \
	RG "/providers/Microsoft.HealthcareApis/workspaces/cmktestws/" \
	   "dicomservices/dicom-test"
#define BOT RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test"
#define OAI RG "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test"
#define FDY RG "/providers/Microsoft.CognitiveServices/accounts/fdy-cmk-test"
#define UAI                                                               \
	RG "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" \
	   "id-cmk-test"
#define KEY_V1 "4e070c1b76f1b2e831bf75857a09fd70"
#define CRYPTO_SEU "e147488a-f6f5-4113-8e2d-b22465e65bf6"
#define OAI_PRINCIPAL "6666a003-6666-4666-8666-66666666a003"
#define OAI_KEY(k)                                                    \
	"{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft." \
	"KeyVault\",\"keyVaultProperties\":"                          \
	"{\"keyName\":\"" k                                           \
	"\",\"keyVaultUri\":\"https://kv-cmk-test.vault.azure.net/\"}}}}"

struct fx {
	struct simtest t;
	char *arm;   /* ARM token */
	char *vault; /* Key Vault token */
};

/* Starts a simulator on minimal.json with an optional merge patch and fetches
 * tokens. */
static struct fx *fx_start(const char *merge)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	if (st_start(&f->t, "minimal.json", merge) != 0)
		fail_msg("the simulator did not start");
	f->arm = st_token(&f->t, "https://management.azure.com/.default");
	f->vault = st_token(&f->t, "https://vault.azure.net/.default");
	assert_non_null(f->arm);
	assert_non_null(f->vault);
	return f;
}

/* Stops a fixture. */
static void fx_stop(struct fx *f)
{
	free(f->arm);
	free(f->vault);
	st_stop(&f->t);
	free(f);
}

/* cmocka setup: the plain minimal scenario. */
static int setup(void **state)
{
	*state = fx_start(NULL);
	return 0;
}

/* cmocka teardown. */
static int teardown(void **state)
{
	fx_stop(*state);
	return 0;
}

/* Sends an ARM request to a path with api-version and returns the status. */
static long arm(struct fx *f, const char *method, const char *path,
		const char *version, const char *body, struct st_resp *r)
{
	char *url = xasprintf(ARM "%s%sapi-version=%s", path,
			      strchr(path, '?') ? "&" : "?", version);
	long s = st_req(&f->t, method, url, f->arm, body, r);

	free(url);
	return s;
}

/* Grants a principal a role at a scope through ARM, as azcmk will; asserts 201.
 */
static void grant(struct fx *f, const char *scope, const char *principal,
		  const char *role, const char *name)
{
	struct st_resp r;
	char *path = xasprintf(
		"%s/providers/Microsoft.Authorization/roleAssignments/%s",
		scope, name);
	char *body = xasprintf(
		"{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB
		"/providers/"
		"Microsoft.Authorization/roleDefinitions/"
		"%s\",\"principalId\":\"%s\","
		"\"principalType\":\"ServicePrincipal\"}}",
		role, principal);

	assert_int_equal(arm(f, "PUT", path, "2022-04-01", body, &r), 201);
	st_resp_free(&r);
	free(path);
	free(body);
}

/* ---- Entra ID ---- */

/* A wrong secret, an unknown client and a missing grant type get Entra's errors
 * with AADSTS codes. */
static void test_entra_errors(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	const char *hdr[] = { "Content-Type: application/x-www-form-urlencoded",
			      NULL };
	static const struct {
		const char *form;
		long status;
		const char *error, *aadsts;
	} T[] = {
		{ "grant_type=client_credentials&client_id=0a0a0a0a-0a0a-4a0a-"
		  "8a0a-0a0a0a0a0a0a&client_secret=nope&scope=https://"
		  "management.azure.com/.default",
		  401, "invalid_client", "AADSTS7000215" },
		{ "grant_type=client_credentials&client_id=99999999-9999-4999-"
		  "8999-999999999999&client_secret=x&scope=https://"
		  "management.azure.com/.default",
		  400, "unauthorized_client", "AADSTS700016" },
		{ "client_id=x", 400, "invalid_request", "AADSTS900144" },
		{ "grant_type=password&client_id=x", 400,
		  "unsupported_grant_type", "AADSTS70003" },
		{ "grant_type=client_credentials&client_id=0a0a0a0a-0a0a-4a0a-"
		  "8a0a-0a0a0a0a0a0a&client_secret=demo-secret&scope=https://"
		  "nowhere.example/.default",
		  400, "invalid_resource", "AADSTS500011" },
		{ "grant_type=client_credentials&client_id=0a0a0a0a-0a0a-4a0a-"
		  "8a0a-0a0a0a0a0a0a&client_secret=demo-secret&scope=https://"
		  "management.azure.com",
		  400, "invalid_scope", "AADSTS1002012" },
		{ "grant_type=client_credentials&client_id=0a0a0a0a-0a0a-4a0a-"
		  "8a0a-0a0a0a0a0a0a&scope=https://management.azure.com/"
		  ".default",
		  401, "invalid_client", "AADSTS7000218" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		st_req_hdr(&f->t, "POST",
			   "https://login.microsoftonline.com/"
			   "11111111-1111-4111-8111-111111111111/oauth2/v2.0/"
			   "token",
			   hdr, T[i].form, &r);
		assert_int_equal(r.status, T[i].status);
		assert_string_equal(st_error_code(&r), T[i].error);
		assert_non_null(strstr(jx_str(r.json, "error_description"),
				       T[i].aadsts));
		st_resp_free(&r);
	}
	st_req_hdr(&f->t, "GET",
		   "https://login.microsoftonline.com/"
		   "00000000-0000-4000-8000-000000000000/v2.0/.well-known/"
		   "openid-configuration",
		   NULL, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(
		strstr(jx_str(r.json, "error_description"), "AADSTS90002"));
	st_resp_free(&r);
}

/* Discovery endpoints answer what MSAL needs. */
static void test_entra_discovery(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	st_req(&f->t, "GET",
	       "https://login.microsoftonline.com/"
	       "11111111-1111-4111-8111-111111111111/v2.0/.well-known/"
	       "openid-configuration",
	       NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(
		jx_str(r.json, "token_endpoint"),
		"https://login.microsoftonline.com/"
		"11111111-1111-4111-8111-111111111111/oauth2/v2.0/token");
	st_resp_free(&r);
	st_req(&f->t, "GET",
	       "https://login.microsoftonline.com/common/discovery/"
	       "instance?api-version=1.1",
	       NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(jx_get(r.json, "metadata"));
	st_resp_free(&r);
}

/* Posts a form to the tenant's token or devicecode endpoint. */
static long entra_post(struct fx *f, const char *what, const char *form,
		       struct st_resp *r)
{
	const char *hdr[] = { "Content-Type: application/x-www-form-urlencoded",
			      NULL };
	char *url =
		xasprintf("https://login.microsoftonline.com/"
			  "11111111-1111-4111-8111-111111111111/oauth2/v2.0/%s",
			  what);
	long s = st_req_hdr(&f->t, "POST", url, hdr, form, r);

	free(url);
	return s;
}

/* Runs one device-code flow and returns the error of each poll until a token or
 * a final error. */
static void device_flow(const char *flow, const char *const *want)
{
	char *merge = xasprintf("{\"settings\":{\"deviceCodeFlow\":%s,"
				"\"deviceCodeInterval\":0}}",
				flow);
	struct fx *f = fx_start(merge);
	struct st_resp r;
	char *form, *dc;

	assert_int_equal(
		entra_post(
			f, "devicecode",
			"client_id=04b07795-8ddb-461a-bbee-02f9e1bf7b46&scope="
			"https://management.azure.com/"
			".default%20offline_access",
			&r),
		200);
	assert_non_null(jx_str(r.json, "user_code"));
	assert_string_equal(jx_str(r.json, "verification_uri"),
			    "https://microsoft.com/devicelogin");
	dc = xstrdup(jx_str(r.json, "device_code"));
	st_resp_free(&r);
	form = xasprintf("grant_type=urn:ietf:params:oauth:grant-type:device_"
			 "code&client_id="
			 "04b07795-8ddb-461a-bbee-02f9e1bf7b46&device_code=%s",
			 dc);
	for (int i = 0; want[i]; i++) {
		entra_post(f, "token", form, &r);
		if (strcmp(want[i], "token") == 0) {
			assert_int_equal(r.status, 200);
			assert_non_null(jx_str(r.json, "access_token"));
			assert_non_null(jx_str(r.json, "refresh_token"));
		} else {
			assert_int_equal(r.status, 400);
			assert_string_equal(st_error_code(&r), want[i]);
		}
		st_resp_free(&r);
	}
	free(form);
	free(dc);
	free(merge);
	fx_stop(f);
}

/* Device code: pending then approved; slow down; declined; expired; then the
 * code is gone. */
static void test_entra_device_code(void **state)
{
	static const char *const approve[] = { "authorization_pending",
					       "slow_down", "token",
					       "bad_verification_code", NULL };
	static const char *const declined[] = { "authorization_pending",
						"authorization_declined",
						"bad_verification_code", NULL };
	static const char *const expired[] = { "expired_token",
					       "bad_verification_code", NULL };

	device_flow("[\"authorization_pending\",\"slow_down\",\"approve\"]",
		    approve);
	device_flow("[\"authorization_pending\",\"authorization_declined\"]",
		    declined);
	device_flow("[\"expired_token\"]", expired);
}

/* A refresh token gives a token for another audience, and a bad one is refused.
 */
static void test_entra_refresh(void **state)
{
	struct fx *f =
		fx_start("{\"settings\":{\"deviceCodeFlow\":[\"approve\"]}}");
	struct st_resp r;
	char *form, *rt;

	entra_post(f, "devicecode",
		   "client_id=04b07795-8ddb-461a-bbee-02f9e1bf7b46&scope=https:"
		   "//management.azure.com/.default%20offline_access",
		   &r);
	form = xasprintf("grant_type=urn:ietf:params:oauth:grant-type:device_"
			 "code&client_id=x&device_code=%s",
			 jx_str(r.json, "device_code"));
	st_resp_free(&r);
	assert_int_equal(entra_post(f, "token", form, &r), 200);
	rt = xstrdup(jx_str(r.json, "refresh_token"));
	st_resp_free(&r);
	free(form);
	form = xasprintf("grant_type=refresh_token&client_id=x&refresh_token=%"
			 "s&scope=https://vault.azure.net/.default",
			 rt);
	assert_int_equal(entra_post(f, "token", form, &r), 200);
	assert_non_null(jx_str(r.json, "access_token"));
	st_resp_free(&r);
	entra_post(f, "token",
		   "grant_type=refresh_token&client_id=x&refresh_token=bogus&"
		   "scope=https://vault.azure.net/.default",
		   &r);
	assert_string_equal(st_error_code(&r), "invalid_grant");
	st_resp_free(&r);
	free(form);
	free(rt);
	fx_stop(f);
}

/* Makes a self-signed certificate for a fresh RSA key; returns the PEM and the
 * key. */
static char *make_cert(EVP_PKEY **key)
{
	X509 *x = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	*key = EVP_RSA_gen(2048);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, *key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"azcmk-test", -1, -1,
				   0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, *key, EVP_sha256());
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	return pem;
}

/* Returns the base64url SHA-1 thumbprint of a PEM certificate (the x5t header).
 */
static char *thumbprint_of(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	X509_digest(x, EVP_sha1(), md, &n);
	X509_free(x);
	BIO_free(bio);
	return b64_encode(md, n, true);
}

/* Builds client-assertion claims for the operator, valid from nbf for lifetime
 * seconds. */
static struct json_object *assertion_claims(const char *aud, long lifetime)
{
	struct json_object *c = json_object_new_object();
	long now = (long)time(NULL);

	json_object_object_add(c, "aud", json_object_new_string(aud));
	json_object_object_add(
		c, "iss",
		json_object_new_string("0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a"));
	json_object_object_add(
		c, "sub",
		json_object_new_string("0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a"));
	json_object_object_add(
		c, "jti",
		json_object_new_string("5b8f1f1a-0000-4000-8000-000000000001"));
	json_object_object_add(c, "nbf", json_object_new_int64(now));
	json_object_object_add(c, "exp", json_object_new_int64(now + lifetime));
	return c;
}

/* Posts a client-credentials request with an assertion; returns the status. */
static long assertion_login(struct fx *f, const char *assertion,
			    struct st_resp *r)
{
	char *form = xasprintf(
		"grant_type=client_credentials&client_id=0a0a0a0a-0a0a-4a0a-"
		"8a0a-0a0a0a0a0a0a&scope="
		"https://management.azure.com/"
		".default&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth"
		"%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s",
		assertion);
	long s = entra_post(f, "token", form, r);

	free(form);
	return s;
}

/* Certificate sign-in: the registered certificate works; another key, another
 * certificate or an expired assertion do not. */
static void test_entra_certificate(void **state)
{
	EVP_PKEY *key, *other;
	char *pem = make_cert(&key), *pem2 = make_cert(&other),
	     *x5t = thumbprint_of(pem), *x5t2 = thumbprint_of(pem2);
	struct json_object *patch = json_object_new_object(),
			   *op = json_object_new_object();
	const char *aud =
		"https://login.microsoftonline.com/"
		"11111111-1111-4111-8111-111111111111/oauth2/v2.0/token";
	struct json_object *good = assertion_claims(aud, 600),
			   *old = assertion_claims(aud, -10);
	static const struct {
		int key, print, claims;
		long status;
		const char *aadsts;
	} T[] = {
		{ 0, 0, 0, 200, NULL },
		{ 1, 0, 0, 401, "AADSTS50012" },
		{ 0, 1, 0, 401, "AADSTS700027" },
		{ 0, 0, 1, 401, "AADSTS700024" },
	};
	struct fx *f;

	json_object_object_add(op, "certificate", json_object_new_string(pem));
	json_object_object_add(patch, "operator", op);
	f = fx_start(jx_text(patch));
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct st_resp r;
		char *a = jwt_sign(T[i].key ? other : key,
				   T[i].print ? x5t2 : x5t,
				   T[i].claims ? old : good);

		assertion_login(f, a, &r);
		assert_int_equal(r.status, T[i].status);
		if (T[i].aadsts)
			assert_non_null(
				strstr(jx_str(r.json, "error_description"),
				       T[i].aadsts));
		st_resp_free(&r);
		free(a);
	}
	fx_stop(f);
	json_object_put(patch);
	json_object_put(good);
	json_object_put(old);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	free(pem);
	free(pem2);
	free(x5t);
	free(x5t2);
}

/* Makes a certificate for a fresh RSA key, issued by ca (NULL: self-signed)
 * under a common name. */
static X509 *issue_cert(EVP_PKEY **key, X509 *ca, EVP_PKEY *ca_key,
			const char *cn)
{
	X509 *x = X509_new();

	*key = EVP_RSA_gen(2048);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
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

/* Returns a certificate's PEM. */
static char *pem_of(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return pem;
}

/* Signs a PS256 assertion naming cert by x5t#S256, with x5c holding chain
 * (base64 DER; empty: no x5c; NULL: a string that is no certificate). */
static char *x5c_assertion(EVP_PKEY *key, X509 *named, X509 *const *chain,
			   struct json_object *claims)
{
	struct json_object *h = json_object_new_object(),
			   *a = json_object_new_array();
	unsigned char md[EVP_MAX_MD_SIZE], *der;
	unsigned int n = 0;
	char *x5t, *tok;

	X509_digest(named, EVP_sha256(), md, &n);
	x5t = b64_encode(md, n, true);
	json_object_object_add(h, "alg", json_object_new_string("PS256"));
	json_object_object_add(h, "x5t#S256", json_object_new_string(x5t));
	for (size_t i = 0; chain && chain[i]; i++) {
		int len;
		char *b;

		der = NULL;
		len = i2d_X509(chain[i], &der);
		b = b64_encode(der, (size_t)len, false);
		json_object_array_add(a, json_object_new_string(b));
		free(b);
		OPENSSL_free(der);
	}
	if (!chain)
		json_object_array_add(a, json_object_new_string("!"));
	if (json_object_array_length(a) > 0)
		json_object_object_add(h, "x5c", a);
	else
		json_object_put(a);
	tok = jwt_sign_header(key, h, claims);
	json_object_put(h);
	free(x5t);
	return tok;
}

/*
 * Subject name and issuer sign-in: a leaf whose subject is trusted, sent with
 * its issuer in x5c, signs in without being registered; no x5c, the leaf
 * alone, another subject, a rogue issuer, an x5c whose leaf is not the
 * certificate x5t names, a malformed x5c or another key do not.
 */
static void test_entra_x5c(void **state)
{
	EVP_PKEY *ca_key, *key, *intruder_key, *rogue_key, *reg_key;
	X509 *ca = issue_cert(&ca_key, NULL, NULL, "azcmk-test-ca"),
	     *leaf = issue_cert(&key, ca, ca_key, "azcmk-sni"),
	     *intruder = issue_cert(&intruder_key, ca, ca_key, "intruder"),
	     *rogue = issue_cert(&rogue_key, NULL, NULL, "azcmk-test-ca"),
	     *reg = issue_cert(&reg_key, NULL, NULL, "registered");
	char *ca_pem = pem_of(ca), *reg_pem = pem_of(reg), *merge;
	struct json_object *pa = json_object_new_string(reg_pem),
			   *pb = json_object_new_string(ca_pem);

	merge = xasprintf("{\"operator\":{\"certificate\":%s,"
			  "\"trustedCertificateSubjects\":[{\"subjectName\":"
			  "\"CN=azcmk-sni\",\"issuerCertificate\":%s}]}}",
			  json_object_to_json_string(pa),
			  json_object_to_json_string(pb));
	json_object_put(pa);
	json_object_put(pb);
	struct json_object *good = assertion_claims(
		"https://login.microsoftonline.com/"
		"11111111-1111-4111-8111-111111111111/oauth2/v2.0/token",
		600);
	X509 *const full[] = { leaf, ca, NULL }, *alone[] = { leaf, NULL },
		    *other[] = { intruder, ca, NULL },
		    *forged[] = { leaf, rogue, NULL }, *none[] = { NULL };
	const struct {
		EVP_PKEY *key;
		X509 *named;
		X509 *const *chain;
		long status;
		const char *aadsts;
	} T[] = {
		{ key, leaf, full, 200, NULL },
		{ key, leaf, none, 401, "AADSTS700027" },
		{ key, leaf, alone, 401, "AADSTS700027" },
		{ intruder_key, intruder, other, 401, "AADSTS700027" },
		{ key, leaf, forged, 401, "AADSTS700027" },
		{ reg_key, reg, full, 401, "x5c header" },
		{ key, leaf, NULL, 401, "x5c header" },
		{ reg_key, leaf, full, 401, "AADSTS50012" },
		{ reg_key, reg, none, 200, NULL },
	};
	struct fx *f = fx_start(merge);

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct st_resp r;
		char *a = x5c_assertion(T[i].key, T[i].named, T[i].chain, good);

		assertion_login(f, a, &r);
		if (r.status != T[i].status)
			fail_msg("case %zu: HTTP %ld: %s", i, r.status,
				 jx_str(r.json, "error_description"));
		if (T[i].aadsts)
			assert_non_null(
				strstr(jx_str(r.json, "error_description"),
				       T[i].aadsts));
		st_resp_free(&r);
		free(a);
	}
	fx_stop(f);
	json_object_put(good);
	free(merge);
	free(ca_pem);
	free(reg_pem);
	X509_free(ca);
	X509_free(leaf);
	X509_free(intruder);
	X509_free(rogue);
	X509_free(reg);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(intruder_key);
	EVP_PKEY_free(rogue_key);
	EVP_PKEY_free(reg_key);
}

/* Builds an unsigned-looking federated assertion (header.payload.sig) for an
 * issuer and subject. */
static char *federated_assertion(const char *iss, const char *sub,
				 long lifetime)
{
	struct json_object *c = json_object_new_object();
	const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"k8s\"}";
	char *h, *p, *out;
	const char *pt;

	json_object_object_add(c, "iss", json_object_new_string(iss));
	json_object_object_add(c, "sub", json_object_new_string(sub));
	json_object_object_add(
		c, "aud", json_object_new_string("api://AzureADTokenExchange"));
	json_object_object_add(
		c, "exp", json_object_new_int64((long)time(NULL) + lifetime));
	pt = jx_text(c);
	h = b64_encode(hdr, strlen(hdr), true);
	p = b64_encode(pt, strlen(pt), true);
	out = xasprintf("%s.%s.c2ln", h, p);
	free(h);
	free(p);
	json_object_put(c);
	return out;
}

/* Workload identity federation: a matching issuer and subject sign in; others
 * get AADSTS70021. */
static void test_entra_federated(void **state)
{
	struct fx *f =
		fx_start("{\"operator\":{\"federatedCredentials\":[{\"issuer\":"
			 "\"https://oidc.aks.example/x\","
			 "\"subject\":\"system:serviceaccount:ops:azcmk\"}]}}");
	struct st_resp r;
	char *good =
		federated_assertion("https://oidc.aks.example/x",
				    "system:serviceaccount:ops:azcmk", 600);
	char *bad = federated_assertion("https://oidc.aks.example/x",
					"system:serviceaccount:ops:other", 600);
	char *old = federated_assertion("https://oidc.aks.example/x",
					"system:serviceaccount:ops:azcmk", -5);

	assert_int_equal(assertion_login(f, good, &r), 200);
	st_resp_free(&r);
	assert_int_equal(assertion_login(f, bad, &r), 400);
	assert_non_null(
		strstr(jx_str(r.json, "error_description"), "AADSTS70021"));
	st_resp_free(&r);
	assert_int_equal(assertion_login(f, old, &r), 400);
	st_resp_free(&r);
	assert_int_equal(assertion_login(f, "not-a-jwt", &r), 400);
	st_resp_free(&r);
	free(good);
	free(bad);
	free(old);
	fx_stop(f);
}

#define HSM_ID RG "/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk-test"
#define HSM_SCENARIO                                                     \
	"{\"resources\":[{\"id\":\"" HSM_ID                              \
	"\",\"type\":\"Microsoft.KeyVault/"                              \
	"managedHSMs\",\"name\":\"hsm-cmk-test\","                       \
	"\"location\":\"westus3\",\"sku\":{\"family\":\"B\",\"name\":"   \
	"\"Standard_B1\"},\"properties\":{\"tenantId\":"                 \
	"\"11111111-1111-4111-8111-111111111111\",\"hsmUri\":\"https://" \
	"hsm-cmk-test.managedhsm.azure.net/\","                          \
	"\"enableSoftDelete\":true,\"enablePurgeProtection\":true,"      \
	"\"provisioningState\":\"Succeeded\"}}],"                        \
	"\"keys\":{\"hsm-cmk-test\":{\"hsm-key\":[{\"version\":"         \
	"\"0123456789abcdef0123456789abcdef\",\"kty\":\"RSA-HSM\","      \
	"\"key_size\":2048,\"key_ops\":[\"wrapKey\",\"unwrapKey\"]}]}}}"

#define HSM_RA                                                              \
	"https://hsm-cmk-test.managedhsm.azure.net/keys/hsm-key/providers/" \
	"Microsoft.Authorization/roleAssignments"
#define HSM_ROLE                                                \
	"Microsoft.KeyVault/providers/Microsoft.Authorization/" \
	"roleDefinitions/33413926-3206-4cdd-b39a-83574fe37a17"

/*
 * Managed HSM local RBAC, on the HSM's data plane: only an administrator may
 * assign; a PUT answers as PutRoleAssignments-example.json, again is 200, the
 * same grant under another name is 409; the HSM lists it, ARM does not.
 * Grants the DICOM service's identity the key.
 */
static void hsm_local_grant(struct fx *f, const char *tok)
{
	const char *body =
		"{\"properties\":{\"roleDefinitionId\":\"" HSM_ROLE "\","
		"\"principalId\":\"6666a001-6666-4666-8666-66666666a001\"}}";
	char *admins = xasprintf(
		"{\"properties\":{\"initialAdminObjectIds\":[\"%s\"]}}",
		jx_str(f->t.doc, "operator.objectId"));
	struct st_resp r;

	assert_int_equal(
		st_req(&f->t, "PUT",
		       HSM_RA
		       "/55555555-0000-4000-8000-000000000001?api-version=7.5",
		       tok, body, &r),
		403);
	st_resp_free(&r);
	assert_int_equal(
		st_admin(&f->t, "PATCH", "/resources?id=" HSM_ID, admins, &r),
		200);
	st_resp_free(&r);
	free(admins);
	assert_int_equal(
		st_req(&f->t, "PUT",
		       HSM_RA
		       "/55555555-0000-4000-8000-000000000001?api-version=7.5",
		       tok, body, &r),
		201);
	assert_string_equal(jx_str(r.json, "properties.scope"),
			    "/keys/hsm-key");
	assert_string_equal(jx_str(r.json, "properties.roleDefinitionId"),
			    HSM_ROLE);
	assert_string_equal(jx_str(r.json, "id"),
			    "/keys/hsm-key/providers/Microsoft.Authorization/"
			    "roleAssignments/"
			    "55555555-0000-4000-8000-000000000001");
	assert_string_equal(jx_str(r.json, "type"),
			    "Microsoft.Authorization/roleAssignments");
	st_resp_free(&r);
	assert_int_equal(
		st_req(&f->t, "PUT",
		       HSM_RA
		       "/55555555-0000-4000-8000-000000000001?api-version=7.5",
		       tok, body, &r),
		200);
	st_resp_free(&r);
	assert_int_equal(
		st_req(&f->t, "PUT",
		       HSM_RA
		       "/55555555-0000-4000-8000-000000000002?api-version=7.5",
		       tok, body, &r),
		409);
	assert_string_equal(jx_str(r.json, "error.code"),
			    "RoleAssignmentExists");
	st_resp_free(&r);
	/* At "/" only the HSM-wide assignments show (the initial
	 * administrator's); the key's show at its own scope. */
	assert_int_equal(st_req(&f->t, "GET",
				"https://hsm-cmk-test.managedhsm.azure.net/"
				"providers/Microsoft.Authorization/"
				"roleAssignments?api-version=7.5",
				tok, NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "value"), 0),
				   "properties.principalId"),
			    jx_str(f->t.doc, "operator.objectId"));
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "value"), 0), "properties.scope"),
		"/");
	st_resp_free(&r);
	assert_int_equal(
		st_req(&f->t, "GET", HSM_RA "?api-version=7.5", tok, NULL, &r),
		200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 2);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "value"), 1),
				   "properties.principalId"),
			    "6666a001-6666-4666-8666-66666666a001");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    HSM_ID "/providers/Microsoft.Authorization/roleAssignments",
		    "2022-04-01", NULL, &r),
		200);
	assert_null(strstr(r.body, "6666a001-6666-4666-8666-66666666a001"));
	st_resp_free(&r);
}

/* Managed HSM: the challenge has an empty body and the HSM audience; a DICOM
 * save works with an HSM local role. */
static void test_managed_hsm(void **state)
{
	struct simtest *t;
	struct fx *f = xcalloc(1, sizeof(*f));
	char *text = st_read_scenario("minimal.json"), *err = NULL, *hdr,
	     *hsm_tok, *body;
	struct json_object *doc = json_tokener_parse(text),
			   *extra = json_tokener_parse(HSM_SCENARIO);
	struct st_resp r;

	json_object_array_add(jx_get(doc, "resources"),
			      jx_copy(jx_at(jx_get(extra, "resources"), 0)));
	json_object_object_add(jx_get(doc, "keys"), "hsm-cmk-test",
			       jx_copy(jx_get(extra, "keys.hsm-cmk-test")));
	t = &f->t;
	assert_int_equal(st_start_text(t, jx_text(doc), &err), 0);
	f->arm = st_token(t, "https://management.azure.com/.default");
	hsm_tok = st_token(t, "https://managedhsm.azure.net/.default");
	assert_int_equal(st_req(t, "GET",
				"https://hsm-cmk-test.managedhsm.azure.net/"
				"keys/hsm-key?api-version=7.5",
				NULL, NULL, &r),
			 401);
	hdr = st_header(&r, "WWW-Authenticate");
	assert_non_null(
		strstr(hdr, "resource=\"https://managedhsm.azure.net\""));
	assert_string_equal(r.body, "");
	free(hdr);
	st_resp_free(&r);
	assert_int_equal(st_req(t, "GET",
				"https://hsm-cmk-test.managedhsm.azure.net/"
				"keys/hsm-key?api-version=7.5",
				hsm_tok, NULL, &r),
			 200);
	assert_string_equal(jx_str(r.json, "key.kty"), "RSA-HSM");
	st_resp_free(&r);
	hsm_local_grant(f, hsm_tok);
	arm(f, "GET", DICOM, "2024-03-31", NULL, &r);
	jx_set(r.json,
	       "properties.encryption.customerManagedKeyEncryption."
	       "keyEncryptionKeyUrl",
	       json_object_new_string(
		       "https://hsm-cmk-test.managedhsm.azure.net/keys/hsm-key/"
		       "0123456789abcdef0123456789abcdef"));
	body = xstrdup(jx_text(r.json));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", DICOM, "2024-03-31", body, &r), 202);
	st_resp_free(&r);
	free(body);
	free(hsm_tok);
	free(text);
	json_object_put(doc);
	json_object_put(extra);
	fx_stop(f);
}

/* Sends a few hundred random requests to every host; the simulator must answer
 * each and keep running. */
static void test_random_requests(void **state)
{
	static const char *const hosts[] = {
		"https://management.azure.com",
		"https://kv-cmk-test.vault.azure.net",
		"https://login.microsoftonline.com",
		"https://graph.microsoft.com", "https://sim.local"
	};
	static const char *const parts[] = {
		"/subscriptions/" SUB,
		"/resourceGroups/rg-cmk-test",
		"/providers",
		"/Microsoft.KeyVault",
		"/vaults/kv-cmk-test",
		"/keys",
		"/cmk-test",
		"/roleAssignments",
		"/x",
		"/%00",
		"/..",
		"/11111111-1111-4111-8111-111111111111",
		"/oauth2/v2.0/token",
		"/v1.0",
		"/faults",
		"/reset",
		"/Microsoft.Authorization",
		"/dicomservices",
		"?api-version=2024-11-01",
		"?$filter=atScope()",
		"/create"
	};
	static const char *const methods[] = { "GET",    "PUT",    "PATCH",
					       "POST",   "DELETE", "HEAD",
					       "OPTIONS" };
	static const char *const bodies[] = { NULL,
					      "",
					      "{",
					      "[]",
					      "null",
					      "{\"properties\":{\"x\":[1,{}]}}",
					      "grant_type=client_credentials",
					      "{\"identity\":{\"type\":7}}",
					      "{\"properties\":null}" };
	struct fx *f = *state;
	unsigned seed = 12345;

	for (int i = 0; i < 300; i++) {
		struct sbuf url = SBUF_INIT;
		struct st_resp r;
		const char *m;

		seed = seed * 1103515245u + 12345u;
		sb_adds(&url, hosts[seed % 5]);
		for (unsigned k = 0, n = seed >> 8 & 7; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			sb_adds(&url, parts[(seed >> 4) % (sizeof(parts) /
							   sizeof(parts[0]))]);
		}
		m = methods[(seed >> 12) % 7];
		if (strstr(url.s, "/reset") || strcmp(m, "HEAD") == 0) {
			sb_free(&url);
			continue;
		}
		st_req(&f->t, m, url.s, (seed >> 16) & 1 ? f->arm : f->vault,
		       bodies[(seed >> 20) % 9], &r);
		assert_true(r.rc == CURLE_OK);
		assert_true(r.status >= 200 && r.status < 600);
		st_resp_free(&r);
		sb_free(&url);
	}
	{
		struct st_resp r;

		assert_int_equal(st_admin(&f->t, "GET", "/health", NULL, &r),
				 200);
		st_resp_free(&r);
	}
}

/* ---- Resource Manager ---- */

/* Reads answer with the resource; mistakes get ARM's error codes. */
static void test_arm_reads_and_errors(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *url;

	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "value"), 0), "subscriptionId"),
		SUB);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", DICOM, "2024-03-31", NULL, &r), 200);
	assert_string_equal(
		jx_str(r.json, "type"),
		"Microsoft.HealthcareApis/workspaces/dicomservices");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", DICOM, "2019-01-01", NULL, &r), 400);
	assert_string_equal(st_error_code(&r), "NoRegisteredProviderFound");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     RG "/providers/Microsoft.KeyVault/vaults/nope",
			     "2024-11-01", NULL, &r),
			 404);
	assert_string_equal(st_error_code(&r), "ResourceNotFound");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     "/subscriptions/" SUB "/resourceGroups/nope",
			     "2021-04-01", NULL, &r),
			 404);
	assert_string_equal(st_error_code(&r), "ResourceGroupNotFound");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     "/subscriptions/"
			     "00000000-0000-4000-8000-000000000000/resources",
			     "2021-04-01", NULL, &r),
			 404);
	assert_string_equal(st_error_code(&r), "SubscriptionNotFound");
	st_resp_free(&r);
	st_req(&f->t, "GET", ARM DICOM, f->arm, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(st_error_code(&r), "MissingApiVersionParameter");
	st_resp_free(&r);
	url = xasprintf(ARM "%s?api-version=2024-03-31", DICOM);
	st_req(&f->t, "GET", url, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(st_error_code(&r), "AuthenticationFailed");
	st_resp_free(&r);
	st_req(&f->t, "GET", url, f->vault, NULL, &r);
	assert_string_equal(st_error_code(&r),
			    "InvalidAuthenticationTokenAudience");
	st_resp_free(&r);
	st_req(&f->t, "GET", url, "not.a.token", NULL, &r);
	assert_string_equal(st_error_code(&r), "InvalidAuthenticationToken");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", DICOM, "2024-03-31", "{not json", &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidRequestContent");
	st_resp_free(&r);
	assert_int_equal(arm(f, "POST", DICOM, "2024-03-31", "{}", &r), 405);
	st_resp_free(&r);
	free(url);
}

/* Tokens expire on the simulated clock. */
static void test_arm_expired_token(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(st_admin(&f->t, "POST", "/clock",
				  "{\"advanceSeconds\":4000}", &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 401);
	assert_string_equal(st_error_code(&r), "ExpiredAuthenticationToken");
	st_resp_free(&r);
}

/* Follows nextLink through every page of a list and returns how many items it
 * held. */
static size_t count_pages(struct fx *f, const char *first, const char *token,
			  size_t *pages)
{
	char *url = xstrdup(first);
	size_t items = 0;

	*pages = 0;
	while (url) {
		struct st_resp r;
		const char *next;

		assert_int_equal(st_req(&f->t, "GET", url, token, NULL, &r),
				 200);
		items += jx_len(jx_get(r.json, "value"));
		(*pages)++;
		next = jx_str(r.json, "nextLink");
		free(url);
		url = next ? xstrdup(next) : NULL;
		st_resp_free(&r);
	}
	return items;
}

/* Lists page with nextLink; $filter narrows by type; $expand adds createdTime.
 */
static void test_arm_paging_and_filter(void **state)
{
	struct fx *f = fx_start("{\"settings\":{\"pageSize\":2}}");
	struct st_resp r;
	size_t pages;

	assert_int_equal(count_pages(f,
				     ARM "/subscriptions/" SUB
					 "/resources?api-version=2021-04-01",
				     f->arm, &pages),
			 7);
	assert_int_equal(pages, 4);
	assert_int_equal(
		arm(f, "GET",
		    "/subscriptions/" SUB
		    "/resources?$filter=resourceType%20eq%20'Microsoft."
		    "CognitiveServices/accounts'&$expand=createdTime",
		    "2021-04-01", NULL, &r),
		200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 2);
	assert_null(jx_get(jx_at(jx_get(r.json, "value"), 0), "properties"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     "/subscriptions/" SUB "/resources?$filter=bogus",
			     "2021-04-01", NULL, &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidFilterInQueryString");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     RG "/providers/Microsoft.HealthcareApis/"
				"workspaces/cmktestws/dicomservices",
			     "2024-03-31", NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     "/subscriptions/" SUB
			     "/providers/Microsoft.HealthBot",
			     "2021-04-01", NULL, &r),
			 200);
	assert_string_equal(
		jx_str(jx_at(jx_get(jx_at(jx_get(r.json, "resourceTypes"), 0),
				    "apiVersions"),
			     0),
		       ""),
		"2025-11-01");
	st_resp_free(&r);
	fx_stop(f);
}

/* Purge protection and soft delete cannot be turned off; the refusal is Azure's
 * text. */
static void test_arm_vault_rules(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(
		arm(f, "PATCH", VAULT_ID, "2024-11-01",
		    "{\"properties\":{\"enablePurgeProtection\":false}}", &r),
		400);
	assert_non_null(strstr(jx_str(r.json, "error.message"),
			       "cannot be set to false"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", VAULT_ID, "2024-11-01",
			     "{\"properties\":{\"enableSoftDelete\":false}}",
			     &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", VAULT_ID, "2024-11-01",
			     "{\"properties\":{\"networkAcls\":{\"bypass\":"
			     "\"AzureServices\","
			     "\"defaultAction\":\"Deny\"}}}",
			     &r),
			 200);
	assert_string_equal(
		jx_str(r.json, "properties.networkAcls.defaultAction"), "Deny");
	assert_true(jx_bool(r.json, "properties.enablePurgeProtection", false));
	st_resp_free(&r);
}

/* ---- Template deployments ---- */

/* One template expression and what the deployment makes of it: the output's
 * value, or an error whose text (code, message or details) holds a part. */
static const struct {
	const char *expr, *value, *error;
} DEPLOY_ROWS[] = {
	{ "[concat('a', 'b', 1)]", "ab1", NULL },
	{ "[format('{0}-{1}', 'x', parameters('p'))]", "x-P", NULL },
	{ "[toLower('AbC')]", "abc", NULL },
	{ "[[notAnExpression]", "[notAnExpression]", NULL },
	{ "plain text", "plain text", NULL },
	{ "['it''s']", "it's", NULL },
	{ "[last(split('a/b/c', '/'))]", "c", NULL },
	{ "[variables('v')]", "V-P", NULL },
	{ "[resourceId('Microsoft.KeyVault/vaults/keys', 'kv', 'k')]",
	  RG "/providers/Microsoft.KeyVault/vaults/kv/keys/k", NULL },
	{ "[resourceId('" SUB "', 'rg-x', 'Microsoft.Web/sites', 's')]",
	  "/subscriptions/" SUB "/resourceGroups/rg-x/providers/Microsoft.Web/"
	  "sites/s",
	  NULL },
	{ "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
	  "'x')]",
	  "/subscriptions/" SUB "/providers/Microsoft.Authorization/"
	  "roleDefinitions/x",
	  NULL },
	{ "[extensionResourceId('/a/b', 'Microsoft.Authorization/"
	  "roleAssignments', 'n')]",
	  "/a/b/providers/Microsoft.Authorization/roleAssignments/n", NULL },
	{ "[reference(resourceId('Microsoft.CognitiveServices/accounts', "
	  "'oai-cmk-test'), '2025-06-01', 'Full').identity.principalId]",
	  OAI_PRINCIPAL, NULL },
	{ "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv-cmk-test'), "
	  "'2024-11-01').enablePurgeProtection]",
	  "true", NULL },
	{ "[resourceGroup().name]", "rg-cmk-test", NULL },
	{ "[subscription().subscriptionId]", SUB, NULL },
	{ "[utcNow()]", NULL, "'utcNow' is not valid" },
	{ "[concat('a']", NULL, "expected ',' or ')'" },
	{ "[concat('a') 'b']", NULL, "follows it" },
	{ "['open]", NULL, "unterminated" },
	{ "[resourceId('Microsoft.KeyVault/vaults/keys', 'kv')]", NULL,
	  "one name per segment" },
	{ "[parameters('nope')]", NULL, "'nope' is not found" },
	{ "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv-none'), "
	  "'2024-11-01')]",
	  NULL, "ResourceNotFound" },
	{ "[concat('a').missing]", NULL, "'missing' doesn't exist" },
};

/* The evaluator's edge cases, each through a resource group deployment's
 * output: values, escapes, ids, reference(), and honest errors. */
static void test_deploy_expressions(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(DEPLOY_ROWS) / sizeof(*DEPLOY_ROWS);
	     i++) {
		struct json_object
			*t = json_tokener_parse(
				"{\"parameters\":{\"p\":{\"type\":\"string\","
				"\"defaultValue\":\"P\"}},\"variables\":{\"v\":"
				"\"[concat('V-', "
				"parameters('p'))]\"},\"resources\":[],"
				"\"outputs\":{\"o\":{\"type\":\"string\"}}}"),
			*body = json_object_new_object();
		char *path = xasprintf(RG "/providers/Microsoft.Resources/"
					  "deployments/row%zu",
				       i);
		struct st_resp r;
		long st;

		jx_set(t, "outputs.o.value",
		       json_object_new_string(DEPLOY_ROWS[i].expr));
		jx_set(body, "properties.template", t);
		jx_set(body, "properties.mode",
		       json_object_new_string("Incremental"));
		st = arm(f, "PUT", path, "2021-04-01",
			 json_object_to_json_string(body), &r);
		if (st == 201) {
			st_resp_free(&r);
			assert_int_equal(
				arm(f, "GET", path, "2021-04-01", NULL, &r),
				200);
		}
		if (DEPLOY_ROWS[i].value) {
			struct json_object *v =
				jx_get(r.json, "properties.outputs.o.value");
			const char *got =
				json_object_is_type(v, json_type_string)
					? json_object_get_string(v)
					: json_object_to_json_string(v);

			if (!v || strcmp(got, DEPLOY_ROWS[i].value) != 0)
				fail_msg("row %zu %s: %s", i,
					 DEPLOY_ROWS[i].expr, r.body);
		} else if (!strstr(r.body, DEPLOY_ROWS[i].error) ||
			   (st != 400 &&
			    !str_ieq(jx_str(r.json,
					    "properties.provisioningState"),
				     "Failed"))) {
			fail_msg("row %zu %s: %ld %s", i, DEPLOY_ROWS[i].expr,
				 st, r.body);
		}
		st_resp_free(&r);
		json_object_put(body);
		free(path);
	}
}

/* A deployment of resources: applied through the handlers in dependsOn
 * order, answered as a long-running operation; Complete mode and an unknown
 * parameter refused; a failing resource fails it with DeploymentFailed. */
#define D1 RG "/providers/Microsoft.Resources/deployments/d1"
static void test_deploy_resources(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	const char *tmpl =
		"{\"properties\":{\"mode\":\"Incremental\",\"template\":{"
		"\"resources\":[{\"type\":\"Microsoft.ManagedIdentity/"
		"userAssignedIdentities\",\"apiVersion\":\"2023-01-31\","
		"\"name\":\"id-b\",\"location\":\"westus3\",\"dependsOn\":["
		"\"id-a\"]},{\"type\":\"Microsoft.ManagedIdentity/"
		"userAssignedIdentities\",\"apiVersion\":\"2023-01-31\","
		"\"name\":\"id-a\",\"location\":\"westus3\"}]}}}";
	char *hdr;

	assert_int_equal(arm(f, "PUT", D1, "2021-04-01", tmpl, &r), 201);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Accepted");
	hdr = st_header(&r, "Azure-AsyncOperation");
	assert_non_null(hdr);
	assert_non_null(strstr(hdr, "/deployments/d1/operationStatuses/"));
	free(hdr);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", D1, "2021-04-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", D1 "/operations", "2021-04-01", NULL, &r), 200);
	/* id-a first: id-b depends on it. */
	assert_non_null(strstr(jx_str(jx_at(jx_get(r.json, "value"), 0),
				      "properties.targetResource.id"),
			       "/id-a"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     RG "/providers/Microsoft.ManagedIdentity/"
				"userAssignedIdentities/id-b",
			     "2023-01-31", NULL, &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "POST", D1 "/validate", "2021-04-01",
			     "{\"properties\":{\"mode\":\"Complete\","
			     "\"template\":{\"resources\":[]}}}",
			     &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidDeploymentMode");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", D1, "2021-04-01",
			     "{\"properties\":{\"mode\":\"Incremental\","
			     "\"parameters\":{\"x\":{\"value\":1}},"
			     "\"template\":{\"resources\":[]}}}",
			     &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidTemplate");
	st_resp_free(&r);
	/* A nested deployment evaluated in the outer scope (the default) sees
	 * the parent's parameters. */
	assert_int_equal(
		arm(f, "PUT", D1 "-outer", "2021-04-01",
		    "{\"properties\":{\"mode\":\"Incremental\",\"template\":{"
		    "\"parameters\":{\"n\":{\"type\":\"string\","
		    "\"defaultValue\":\"id-outer\"}},\"resources\":[{\"type\":"
		    "\"Microsoft.Resources/deployments\",\"apiVersion\":"
		    "\"2022-09-01\",\"name\":\"inner\",\"properties\":{"
		    "\"mode\":\"Incremental\",\"template\":{\"resources\":[{"
		    "\"type\":\"Microsoft.ManagedIdentity/"
		    "userAssignedIdentities\",\"apiVersion\":\"2023-01-31\","
		    "\"name\":\"[parameters('n')]\",\"location\":"
		    "\"westus3\"}]}}}]}}}",
		    &r),
		201);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     RG "/providers/Microsoft.ManagedIdentity/"
				"userAssignedIdentities/id-outer",
			     "2023-01-31", NULL, &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     RG "/providers/Microsoft.Resources/deployments/"
				"inner",
			     "2021-04-01", NULL, &r),
			 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	st_resp_free(&r);
	/* A key in a vault that does not exist: the handler's 404 fails it (a
	 * second PUT of d1 is answered 200). */
	assert_int_equal(
		arm(f, "PUT", D1, "2021-04-01",
		    "{\"properties\":{\"mode\":\"Incremental\",\"template\":{"
		    "\"resources\":[{\"type\":\"Microsoft.KeyVault/vaults/"
		    "keys\",\"apiVersion\":\"2023-07-01\",\"name\":\"kv-none/"
		    "k\",\"properties\":{\"kty\":\"RSA\"}}]}}}",
		    &r),
		200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", D1, "2021-04-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Failed");
	assert_string_equal(jx_str(r.json, "properties.error.code"),
			    "DeploymentFailed");
	assert_non_null(jx_str(
		jx_at(jx_get(r.json, "properties.error.details"), 0), "code"));
	st_resp_free(&r);
}

/* ---- Authorization ---- */

/* Role assignments: created, repeated, refused as duplicates, listed, filtered,
 * deleted. */
static void test_role_assignments(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	const char *body =
		"{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB
		"/providers/Microsoft.Authorization/"
		"roleDefinitions/" CRYPTO_SEU
		"\",\"principalId\":\"" OAI_PRINCIPAL
		"\",\"principalType\":\"ServicePrincipal\"}}";
	const char *ra =
		VAULT_ID "/providers/Microsoft.Authorization/roleAssignments/";

	char *p1 = xasprintf("%s11111111-0000-4000-8000-000000000001", ra),
	     *p2 = xasprintf("%s11111111-0000-4000-8000-000000000002", ra);

	assert_int_equal(arm(f, "PUT", p1, "2022-04-01", body, &r), 201);
	assert_string_equal(jx_str(r.json, "properties.scope"), VAULT_ID);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", p1, "2022-04-01", body, &r), 200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", p2, "2022-04-01", body, &r), 409);
	assert_string_equal(st_error_code(&r), "RoleAssignmentExists");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT",
			     VAULT_ID "/providers/Microsoft.Authorization/"
				      "roleAssignments/not-a-guid",
			     "2022-04-01", body, &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidRoleAssignmentId");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", p2, "2022-04-01",
			     "{\"properties\":{\"roleDefinitionId\":\"00000000-"
			     "0000-4000-8000-000000000000\","
			     "\"principalId\":\"" OAI_PRINCIPAL "\"}}",
			     &r),
			 400);
	assert_string_equal(st_error_code(&r), "RoleDefinitionDoesNotExist");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PUT", p2, "2022-04-01",
		    "{\"properties\":{\"roleDefinitionId\":\"" CRYPTO_SEU "\","
		    "\"principalId\":\"00000000-0000-4000-8000-00000000dead\"}"
		    "}",
		    &r),
		400);
	assert_string_equal(st_error_code(&r), "PrincipalNotFound");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    VAULT_ID
		    "/providers/Microsoft.Authorization/"
		    "roleAssignments?$filter=principalId%20eq%20'" OAI_PRINCIPAL
		    "'",
		    "2022-04-01", NULL, &r),
		200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     VAULT_ID "/providers/Microsoft.Authorization/"
				      "roleAssignments?$filter=atScope()",
			     "2022-04-01", NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 5);
	st_resp_free(&r);
	assert_int_equal(arm(f, "DELETE", p1, "2022-04-01", NULL, &r), 200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", p1, "2022-04-01", NULL, &r), 404);
	st_resp_free(&r);
	free(p1);
	free(p2);
}

/* Role definitions by name and the caller's permissions at a scope. */
static void test_role_definitions_and_permissions(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(
		arm(f, "GET",
		    VAULT_ID
		    "/providers/Microsoft.Authorization/"
		    "roleDefinitions?$filter=roleName%20eq%20"
		    "'Key%20Vault%20Crypto%20Service%20Encryption%20User'",
		    "2022-04-01", NULL, &r),
		200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "value"), 0), "id"),
			    "/subscriptions/" SUB
			    "/providers/Microsoft.Authorization/"
			    "roleDefinitions/" CRYPTO_SEU);
	assert_true(jx_array_has_istr(
		jx_get(jx_at(jx_get(jx_at(jx_get(r.json, "value"), 0),
				    "properties.permissions"),
			     0),
		       "dataActions"),
		"Microsoft.KeyVault/vaults/keys/wrap/action"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET",
			     VAULT_ID
			     "/providers/Microsoft.Authorization/permissions",
			     "2022-04-01", NULL, &r),
			 200);
	/* Two roles, and the open data plane of this scenario
	 * (operatorDataPlane not enforced) said as a third block. */
	assert_int_equal(jx_len(jx_get(r.json, "value")), 3);
	assert_true(jx_array_has_istr(
		jx_get(jx_at(jx_get(r.json, "value"), 2), "dataActions"),
		"Microsoft.KeyVault/*"));
	st_resp_free(&r);
}

/* An operator who only reads gets AuthorizationFailed on writes, and
 * LinkedAuthorizationFailed on a UAI. */
static void test_operator_permissions_enforced(void **state)
{
	struct fx *f = fx_start(
		"{\"roleAssignments\":[{\"scope\":\"/subscriptions/" SUB
		"\",\"principalId\":"
		"\"0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b\",\"roleDefinitionId\":"
		"\"b24988ac-6180-42a0-ab88-20f7382dd24c\"}]}");
	struct st_resp r;
	const char *ra =
		VAULT_ID "/providers/Microsoft.Authorization/roleAssignments/"
			 "11111111-0000-4000-8000-000000000001";

	assert_int_equal(
		arm(f, "PUT", ra, "2022-04-01",
		    "{\"properties\":{\"roleDefinitionId\":\"" CRYPTO_SEU "\","
		    "\"principalId\":\"" OAI_PRINCIPAL "\"}}",
		    &r),
		403);
	assert_string_equal(st_error_code(&r), "AuthorizationFailed");
	assert_non_null(
		strstr(jx_str(r.json, "error.message"),
		       "Microsoft.Authorization/roleAssignments/write"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"a\":\"b\"}}", &r),
			 202);
	st_resp_free(&r);
	fx_stop(f);
	f = fx_start(
		"{\"roleAssignments\":[{\"scope\":\"/subscriptions/" SUB
		"\",\"principalId\":"
		"\"0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b\",\"roleDefinitionId\":"
		"\"acdd72a7-3385-48ef-bd42-f606fba81ae7\"}]}");
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"a\":\"b\"}}", &r),
			 403);
	assert_string_equal(st_error_code(&r), "AuthorizationFailed");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", OAI, "2025-06-01", NULL, &r), 200);
	st_resp_free(&r);
	fx_stop(f);
}

/* ---- Key Vault data plane ---- */

/* No token gets the 401 challenge with the vault's audience; the right token
 * then works. */
static void test_kv_challenge(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *hdr;

	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test/?api-version=7.5", NULL,
				NULL, &r),
			 401);
	hdr = st_header(&r, "WWW-Authenticate");
	assert_string_equal(hdr,
			    "Bearer "
			    "authorization=\"https://login.microsoftonline.com/"
			    "11111111-1111-4111-8111-111111111111\", "
			    "resource=\"https://vault.azure.net\"");
	assert_string_equal(st_error_code(&r), "Unauthorized");
	free(hdr);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test?api-version=7.5", f->arm,
				NULL, &r),
			 401);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "POST",
				KV "/keys/new/create?api-version=7.5", NULL, "",
				&r),
			 401);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test?api-version=7.5", f->vault,
				NULL, &r),
			 200);
	assert_true(strstr(jx_str(r.json, "key.kid"), "/keys/cmk-test/") !=
		    NULL);
	assert_string_equal(jx_str(r.json, "key.e"), "AQAB");
	assert_string_equal(jx_str(r.json, "attributes.recoveryLevel"),
			    "Recoverable");
	st_resp_free(&r);
	assert_int_equal(
		st_req(&f->t, "GET", KV "/keys/cmk-test", f->vault, NULL, &r),
		400);
	assert_string_equal(st_error_code(&r), "BadParameter");
	st_resp_free(&r);
}

/* A key version's expIn becomes exp on the simulated clock when the scenario is
 * loaded, and again when it is reset, so "expires soon" stays soon. */
static void test_kv_exp_in(void **state)
{
	struct fx *f = fx_start(
		"{\"keys\":{\"kv-cmk-test\":{\"cmk-soon\":[{\"version\":"
		"\"" KEY_V1 "\",\"kty\":\"RSA\",\"key_size\":2048,"
		"\"attributes\":{\"enabled\":true,\"expIn\":86400}}]}}}");
	struct st_resp r;

	(void)state;
	for (int round = 0; round < 2; round++) {
		int64_t now = (int64_t)time(NULL);
		int64_t exp;

		assert_int_equal(st_req(&f->t, "GET",
					KV "/keys/cmk-soon?api-version=7.5",
					f->vault, NULL, &r),
				 200);
		exp = jx_int(r.json, "attributes.exp", 0);
		assert_in_range(exp, now + 86400 - 60, now + 86400 + 60);
		assert_null(jx_get(r.json, "attributes.expIn"));
		st_resp_free(&r);
		assert_int_equal(st_admin(&f->t, "POST", "/reset", NULL, &r),
				 204);
		st_resp_free(&r);
	}
	fx_stop(f);
}

/* Versions come 25 to a page with Key Vault's nextLink, ordered by their
 * identifiers and not by creation. */
static void test_kv_versions_paged(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *next;
	size_t i;

	for (i = 0; i < 29; i++) {
		assert_int_equal(st_req(&f->t, "POST",
					KV
					"/keys/cmk-test/rotate?api-version=7.5",
					f->vault, NULL, &r),
				 200);
		st_resp_free(&r);
	}
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test/versions?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 25);
	for (i = 1; i < 25; i++)
		assert_true(strcmp(jx_str(jx_at(jx_get(r.json, "value"), i - 1),
					  "kid"),
				   jx_str(jx_at(jx_get(r.json, "value"), i),
					  "kid")) < 0);
	next = xstrdup(jx_str(r.json, "nextLink"));
	assert_non_null(
		strstr(next, ".vault.azure.net:443/keys/cmk-test/versions?"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", next, f->vault, NULL, &r), 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 31 - 25);
	assert_null(jx_str(r.json, "nextLink"));
	st_resp_free(&r);
	free(next);
}

/* Keys: create, list with paging, versions, rotate, update, rotation policy,
 * missing key, bad sizes. */
static void test_kv_keys(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	size_t pages;

	assert_int_equal(
		st_req(&f->t, "POST", KV "/keys/k3072/create?api-version=7.5",
		       f->vault, "{\"kty\":\"RSA\",\"key_size\":3072}", &r),
		200);
	assert_int_equal(strlen(jx_str(r.json, "key.n")), 512);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "POST",
				KV "/keys/bad/create?api-version=7.5", f->vault,
				"{\"kty\":\"RSA\",\"key_size\":1024}", &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "POST",
				KV "/keys/bad/create?api-version=7.5", f->vault,
				"{\"kty\":\"RSA-HSM\"}", &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(count_pages(f, KV "/keys?api-version=7.5&maxresults=1",
				     f->vault, &pages),
			 2);
	assert_int_equal(pages, 2);
	assert_int_equal(
		count_pages(
			f,
			KV
			"/keys/cmk-test/versions?api-version=7.5&maxresults=1",
			f->vault, &pages),
		2);
	assert_int_equal(st_req(&f->t, "POST",
				KV "/keys/cmk-test/rotate?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(
		count_pages(f, KV "/keys/cmk-test/versions?api-version=7.5",
			    f->vault, &pages),
		3);
	assert_int_equal(st_req(&f->t, "PATCH",
				KV "/keys/cmk-test/" KEY_V1 "?api-version=7.5",
				f->vault,
				"{\"attributes\":{\"enabled\":false}}", &r),
			 200);
	assert_false(jx_bool(r.json, "attributes.enabled", true));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test/" KEY_V1 "?api-version=7.5",
				f->vault, NULL, &r),
			 403);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV
				"/keys/cmk-test/rotationpolicy?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "lifetimeActions"), 0),
				   "action.type"),
			    "Notify");
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "PUT",
				KV
				"/keys/cmk-test/rotationpolicy?api-version=7.5",
				f->vault,
				"{\"lifetimeActions\":[{\"trigger\":{"
				"\"timeAfterCreate\":\"P90D\"},\"action\":{"
				"\"type\":\"Rotate\"}}],"
				"\"attributes\":{\"expiryTime\":\"P2Y\"}}",
				&r),
			 200);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV
				"/keys/cmk-test/rotationpolicy?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "lifetimeActions"), 0),
				   "action.type"),
			    "Rotate");
	st_resp_free(&r);
}

/* Wrap and unwrap round-trip; the value is bound to the version. */
static void test_kv_wrap(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *body;

	assert_int_equal(
		st_req(&f->t, "POST",
		       KV "/keys/cmk-test/" KEY_V1 "/wrapkey?api-version=7.5",
		       f->vault,
		       "{\"alg\":\"RSA-OAEP-256\",\"value\":\"c2VjcmV0\"}", &r),
		200);
	body = xasprintf("{\"alg\":\"RSA-OAEP-256\",\"value\":\"%s\"}",
			 jx_str(r.json, "value"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "POST",
				KV "/keys/cmk-test/" KEY_V1
				   "/unwrapkey?api-version=7.5",
				f->vault, body, &r),
			 200);
	assert_string_equal(jx_str(r.json, "value"), "c2VjcmV0");
	st_resp_free(&r);
	free(body);
}

/* Enforced data plane: RBAC 403, access-policy 403, missing-key 404 with
 * vault-level read. */
static void test_kv_authorization(void **state)
{
	struct fx *f =
		fx_start("{\"settings\":{\"operatorDataPlane\":\"enforced\"},"
			 "\"roleAssignments\":[{\"scope\":\"/subscriptions/" SUB
			 "\",\"principalId\":\"0b0b0b0b-0b0b-4b0b-8b0b-"
			 "0b0b0b0b0b0b\",\"roleDefinitionId\":"
			 "\"8e3af657-a8ff-443c-a75c-2fe8c4bcb635\"}]}");
	struct st_resp r;

	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test?api-version=7.5", f->vault,
				NULL, &r),
			 403);
	assert_string_equal(jx_str(r.json, "error.innererror.code"),
			    "ForbiddenByRbac");
	st_resp_free(&r);
	grant(f, VAULT_ID, "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b",
	      "21090545-7ca7-4776-b22c-e363652d74d2",
	      "22222222-0000-4000-8000-000000000001");
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/cmk-test?api-version=7.5", f->vault,
				NULL, &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/missing?api-version=7.5", f->vault,
				NULL, &r),
			 404);
	assert_string_equal(st_error_code(&r), "KeyNotFound");
	st_resp_free(&r);
	assert_int_equal(
		st_req(&f->t, "POST",
		       KV "/keys/cmk-test/" KEY_V1 "/wrapkey?api-version=7.5",
		       f->vault,
		       "{\"alg\":\"RSA-OAEP-256\",\"value\":\"c2VjcmV0\"}", &r),
		403);
	st_resp_free(&r);
	fx_stop(f);
}

/* The firewall refuses an address outside ipRules, and lets a listed one
 * through. */
static void test_kv_firewall(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(arm(f, "PATCH", VAULT_ID, "2024-11-01",
			     "{\"properties\":{\"networkAcls\":{"
			     "\"defaultAction\":\"Deny\","
			     "\"bypass\":\"None\",\"ipRules\":[{\"value\":\"10."
			     "1.0.0/16\"}]}}}",
			     &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", KV "/keys?api-version=7.5",
				f->vault, NULL, &r),
			 403);
	assert_string_equal(jx_str(r.json, "error.innererror.code"),
			    "ForbiddenByFirewall");
	assert_non_null(strstr(jx_str(r.json, "error.message"),
			       "Client address is not authorized"));
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PATCH", VAULT_ID, "2024-11-01",
		    "{\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":"
		    "\"127.0.0.0/8\"}]}}}",
		    &r),
		200);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", KV "/keys?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	st_resp_free(&r);
}

/* ---- The four services: identity, the CMK save, and every refusal ---- */

/* Saves Azure OpenAI with the vault's key after a role at key scope; the key is
 * persisted. */
static void test_cmk_save_openai(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	const char *body = "{\"properties\":{\"encryption\":{\"keySource\":"
			   "\"Microsoft.KeyVault\",\"keyVaultProperties\":"
			   "{\"keyName\":\"cmk-test\",\"keyVaultUri\":\"https:/"
			   "/kv-cmk-test.vault.azure.net/\"}}}}";

	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01", body, &r), 400);
	assert_string_equal(st_error_code(&r), "KeyVaultAccessForbidden");
	/* Cognitive Services' refusal has a code and no inner detail (ansible
	 * azure.azcollection PR #1676). */
	assert_null(jx_get(r.json, "error.details"));
	assert_non_null(
		strstr(jx_str(r.json, "error.message"),
		       "Please grant get, wrap and unwrap key permissions"));
	st_resp_free(&r);
	grant(f, VAULT_ID "/keys/cmk-test", OAI_PRINCIPAL, CRYPTO_SEU,
	      "33333333-0000-4000-8000-000000000001");
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01", body, &r), 202);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", OAI, "2025-06-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.encryption.keySource"),
			    "Microsoft.KeyVault");
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	st_resp_free(&r);
}

/* Returns a resource's availability state from Resource Health (allocated), and
 * its summary when asked. */
static char *health_of(struct fx *f, const char *id, char **summary)
{
	struct st_resp r;
	char *path = xasprintf("%s/providers/Microsoft.ResourceHealth/"
			       "availabilityStatuses/current",
			       id);
	char *state;

	assert_int_equal(arm(f, "GET", path, "2025-05-01", NULL, &r), 200);
	state = xstrdup(jx_str(r.json, "properties.availabilityState"));
	if (summary)
		*summary = xstrdup(jx_str(r.json, "properties.summary"));
	st_resp_free(&r);
	free(path);
	return state;
}

/* Asserts a resource's availability state. */
static void assert_health(struct fx *f, const char *id, const char *want)
{
	char *state = health_of(f, id, NULL);

	assert_string_equal(state, want);
	free(state);
}

/* Azure OpenAI on its key: Resource Health says Unavailable while the key is
 * disabled, Available once it is back. */
static void test_health_openai(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *summary, *st;

	grant(f, VAULT_ID "/keys/cmk-test", OAI_PRINCIPAL, CRYPTO_SEU,
	      "33333333-0000-4000-8000-000000000009");
	assert_int_equal(
		arm(f, "PATCH", OAI, "2025-06-01", OAI_KEY("cmk-test"), &r),
		202);
	st_resp_free(&r);
	assert_health(f, OAI, "Available");
	assert_int_equal(st_admin(&f->t, "POST",
				  "/keys/kv-cmk-test/cmk-test/disable", NULL,
				  &r),
			 200);
	st_resp_free(&r);
	st = health_of(f, OAI, &summary);
	assert_string_equal(st, "Unavailable");
	assert_non_null(strstr(summary,
			       "Azure AI services resource cannot access its "
			       "customer-managed encryption key"));
	free(st);
	free(summary);
	assert_health(f, FDY, "Available");
	assert_int_equal(st_admin(&f->t, "POST",
				  "/keys/kv-cmk-test/cmk-test/enable", NULL,
				  &r),
			 200);
	st_resp_free(&r);
	assert_health(f, OAI, "Available");
}

/* DICOM's ErrorDetails has no details: Key Vault's inner code rides in the
 * message, with the target. */
static void test_cmk_dicom_error_shape(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	struct json_object *doc;

	assert_int_equal(arm(f, "GET", DICOM, "2024-03-31", NULL, &r), 200);
	doc = json_object_get(r.json);
	st_resp_free(&r);
	jx_set(doc,
	       "properties.encryption.customerManagedKeyEncryption."
	       "keyEncryptionKeyUrl",
	       json_object_new_string(KV "/keys/cmk-test/" KEY_V1));
	assert_int_equal(arm(f, "PUT", DICOM, "2024-03-31", jx_text(doc), &r),
			 400);
	assert_null(jx_get(r.json, "error.details"));
	assert_string_equal(jx_str(r.json, "error.target"),
			    "properties.encryption");
	assert_non_null(
		strstr(jx_str(r.json, "error.message"), "(ForbiddenByRbac)"));
	st_resp_free(&r);
	json_object_put(doc);
}

/* DICOM: PATCH cannot set the key; a PUT of the whole resource with a versioned
 * URL can. */
static void test_cmk_save_dicom(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	struct json_object *doc;
	char *body;

	grant(f, VAULT_ID, "6666a001-6666-4666-8666-66666666a001", CRYPTO_SEU,
	      "33333333-0000-4000-8000-000000000002");
	assert_int_equal(arm(f, "GET", DICOM, "2024-03-31", NULL, &r), 200);
	doc = json_object_get(r.json);
	st_resp_free(&r);
	jx_set(doc,
	       "properties.encryption.customerManagedKeyEncryption."
	       "keyEncryptionKeyUrl",
	       json_object_new_string(KV "/keys/cmk-test"));
	body = xstrdup(jx_text(doc));
	assert_int_equal(arm(f, "PUT", DICOM, "2024-03-31", body, &r), 400);
	assert_string_equal(st_error_code(&r), "InvalidKeyEncryptionKeyUrl");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", DICOM, "2024-03-31", body, &r), 202);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", DICOM, "2024-03-31", NULL, &r), 200);
	assert_null(jx_get(r.json, "properties.encryption"));
	st_resp_free(&r);
	free(body);
	jx_set(doc,
	       "properties.encryption.customerManagedKeyEncryption."
	       "keyEncryptionKeyUrl",
	       json_object_new_string(KV "/keys/cmk-test/" KEY_V1));
	body = xstrdup(jx_text(doc));
	assert_int_equal(arm(f, "PUT", DICOM, "2024-03-31", body, &r), 202);
	{
		char *async = st_header(&r, "Azure-AsyncOperation");

		assert_non_null(async);
		free(async);
	}
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", DICOM, "2024-03-31", NULL, &r), 200);
	assert_non_null(strstr(
		jx_str(r.json,
		       "properties.encryption.customerManagedKeyEncryption."
		       "keyEncryptionKeyUrl"),
		KEY_V1));
	assert_string_equal(jx_str(r.json, "identity.type"), "SystemAssigned");
	st_resp_free(&r);
	json_object_put(doc);
	free(body);
}

/* Health Bot with a user-assigned identity: attach it, grant it, save
 * keyVaultProperties with userIdentity. */
static void test_cmk_save_healthbot_uai(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(
		arm(f, "PATCH", BOT, "2025-11-01",
		    "{\"identity\":{\"type\":\"SystemAssigned, UserAssigned\","
		    "\"userAssignedIdentities\":{\"" UAI "\":{}}}}",
		    &r),
		201);
	assert_non_null(jx_str(
		jx_iget(jx_get(r.json, "identity.userAssignedIdentities"), UAI),
		"principalId"));
	st_resp_free(&r);
	grant(f, VAULT_ID, "6666b001-6666-4666-8666-66666666b001", CRYPTO_SEU,
	      "33333333-0000-4000-8000-000000000003");
	assert_int_equal(
		arm(f, "PATCH", BOT, "2025-11-01",
		    "{\"properties\":{\"keyVaultProperties\":{\"keyName\":"
		    "\"cmk-test\","
		    "\"keyVaultUri\":\"https://kv-cmk-test.vault.azure.net/"
		    "\",\"userIdentity\":\"" UAI "\"}}}",
		    &r),
		201);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", BOT, "2025-11-01", NULL, &r), 200);
	assert_string_equal(
		jx_str(r.json, "properties.keyVaultProperties.userIdentity"),
		UAI);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PATCH", BOT, "2025-11-01",
		    "{\"identity\":{\"type\":\"SystemAssigned,UserAssigned\"}}",
		    &r),
		400);
	assert_string_equal(st_error_code(&r), "InvalidIdentityType");
	st_resp_free(&r);
}

/* One refusal: an admin call that breaks a rule, the resource, the body, the
 * expected code and inner detail. */
struct refusal {
	const char *name;
	const char *admin; /* admin call "METHOD /path" done first, or NULL */
	const char *admin_body;
	const char *resource;
	const char *body;
	long status;
	const char *code;
	const char *inner;
};

#define GRANT_OAI                                                            \
	"\"roleAssignments\":[{\"scope\":\"/subscriptions/" SUB              \
	"\",\"principalId\":\"0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b\","       \
	"\"roleDefinitionId\":\"8e3af657-a8ff-443c-a75c-2fe8c4bcb635\"},{"   \
	"\"scope\":\"" VAULT_ID "\",\"principalId\":\"" OAI_PRINCIPAL        \
	"\",\"roleDefinitionId\":\"" CRYPTO_SEU "\"},{\"scope\":\"" VAULT_ID \
	"\",\"principalId\":"                                                \
	"\"6666a004-6666-4666-8666-66666666a004\",\"roleDefinitionId\":"     \
	"\"" CRYPTO_SEU "\"}]"
#define BAD_KEYS                                                              \
	"\"keys\":{\"kv-cmk-test\":{"                                         \
	"\"ec\":[{\"version\":\"00000000000000000000000000000001\",\"kty\":"  \
	"\"EC\",\"crv\":\"P-256\"}],"                                         \
	"\"big\":[{\"version\":\"00000000000000000000000000000002\",\"kty\":" \
	"\"RSA\",\"key_size\":3072}],"                                        \
	"\"sig\":[{\"version\":\"00000000000000000000000000000003\",\"kty\":" \
	"\"RSA\",\"key_size\":2048,\"key_ops\":[\"sign\",\"verify\"]}]}}"
#define BOT_KEY                                                              \
	"{\"properties\":{\"keyVaultProperties\":{\"keyName\":\"cmk-test\"," \
	"\"keyVaultUri\":\"https://kv-cmk-test.vault.azure.net/\"}}}"

static const struct refusal REFUSALS[] = {
	{ "no access (Health Bot has no role)", NULL, NULL, BOT, BOT_KEY, 400,
	  "KeyVaultAccessForbidden", "ForbiddenByRbac" },
	{ "soft delete", "PATCH /resources?id=" VAULT_ID,
	  "{\"properties\":{\"enableSoftDelete\":false}}", OAI,
	  OAI_KEY("cmk-test"), 400, "KeyVaultPolicyError", NULL },
	{ "purge protection", "PATCH /resources?id=" VAULT_ID,
	  "{\"properties\":{\"enablePurgeProtection\":null}}", OAI,
	  OAI_KEY("cmk-test"), 400, "KeyVaultPolicyError", NULL },
	{ "firewall", "PATCH /resources?id=" VAULT_ID,
	  "{\"properties\":{\"networkAcls\":{\"defaultAction\":"
	  "\"Deny\",\"bypass\":\"None\"}}}",
	  OAI, OAI_KEY("cmk-test"), 400, "KeyVaultAccessForbidden",
	  "ForbiddenByFirewall" },
	{ "tenant", "PATCH /resources?id=" VAULT_ID,
	  "{\"properties\":{\"tenantId\":\"99999999-9999-4999-8999-"
	  "999999999999\"}}",
	  OAI, OAI_KEY("cmk-test"), 400, "KeyVaultTenantMismatch", NULL },
	{ "region", "PATCH /resources?id=" VAULT_ID,
	  "{\"location\":\"eastus\"}", OAI, OAI_KEY("cmk-test"), 400,
	  "KeyVaultRegionMismatch", NULL },
	{ "missing key", NULL, NULL, OAI, OAI_KEY("nope"), 400,
	  "KeyVaultKeyNotFound", "KeyNotFound" },
	{ "disabled key", "POST /keys/kv-cmk-test/cmk-test/disable", "{}", OAI,
	  OAI_KEY("cmk-test"), 400, "KeyVaultKeyDisabled", "KeyDisabled" },
	{ "expired key", "POST /keys/kv-cmk-test/cmk-test/expire", "{}", OAI,
	  OAI_KEY("cmk-test"), 400, "KeyVaultKeyExpired", "KeyExpired" },
	{ "deleted key", "POST /keys/kv-cmk-test/cmk-test/delete", "{}", OAI,
	  OAI_KEY("cmk-test"), 400, "KeyVaultKeyNotFound", "KeyNotFound" },
	{ "key type", NULL, NULL, OAI, OAI_KEY("ec"), 400, "InvalidKeyType",
	  NULL },
	{ "key size", NULL, NULL, OAI, OAI_KEY("big"), 400, "InvalidKeySize",
	  NULL },
	{ "key ops", NULL, NULL, OAI, OAI_KEY("sig"), 400,
	  "InvalidKeyOperations", NULL },
	{ "no identity", "PATCH /resources?id=" OAI, "{\"identity\":null}", OAI,
	  OAI_KEY("cmk-test"), 400, "IdentityNotFound", NULL },
	{ "no capability", "PATCH /resources?id=" OAI,
	  "{\"properties\":{\"capabilities\":[]}}", OAI, OAI_KEY("cmk-test"),
	  400, "CustomerManagedKeyNotSupported", NULL },
	{ "old bot", "PATCH /resources?id=" BOT,
	  "{\"systemData\":{\"createdAt\":\"2021-06-01T00:00:00Z\"}}", BOT,
	  BOT_KEY, 400, "CustomerManagedKeyNotSupported", NULL },
	{ "busy", "PATCH /resources?id=" OAI,
	  "{\"properties\":{\"provisioningState\":\"Updating\"}}", OAI,
	  OAI_KEY("cmk-test"), 409, "Conflict", NULL },
	{ "unknown vault", NULL, NULL, OAI,
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "KeyVault\","
	  "\"keyVaultProperties\":{\"keyName\":\"k\",\"keyVaultUri\":\"https://"
	  "nowhere.vault.azure.net/\"}}}}",
	  400, "KeyVaultNotFound", NULL },
	{ "incomplete", NULL, NULL, OAI,
	  "{\"properties\":{\"encryption\":{\"keySource\":\"Microsoft."
	  "KeyVault\"}}}",
	  400, "InvalidKeyVaultProperties", NULL },
	{ "unknown uai", NULL, NULL, OAI,
	  "{\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":"
	  "{\"" RG "/providers/Microsoft.ManagedIdentity/"
	  "userAssignedIdentities/ghost\":{}}}}",
	  400, "InvalidUserAssignedIdentity", NULL },
};

/* Every broken rule makes the save fail the way Azure fails, and nothing is
 * written (one simulator, reset per row). */
static void test_cmk_refusals(void **state)
{
	struct fx *f = fx_start("{" GRANT_OAI "," BAD_KEYS "}");
	struct st_resp r;

	assert_int_equal(
		arm(f, "PATCH", OAI, "2025-06-01", OAI_KEY("cmk-test"), &r),
		202);
	st_resp_free(&r);
	for (size_t i = 0; i < sizeof(REFUSALS) / sizeof(REFUSALS[0]); i++) {
		const struct refusal *t = &REFUSALS[i];
		const char *version = strstr(t->resource, "healthBots")
					      ? "2025-11-01"
					      : "2025-06-01";

		print_message("refusal: %s\n", t->name);
		assert_int_equal(st_admin(&f->t, "POST", "/reset", NULL, &r),
				 204);
		st_resp_free(&r);
		if (t->admin) {
			char method[8], path[512];

			sscanf(t->admin, "%7s %511s", method, path);
			st_admin(&f->t, method, path, t->admin_body, &r);
			assert_true(r.status == 200 || r.status == 204);
			st_resp_free(&r);
		}
		arm(f, "PATCH", t->resource, version, t->body, &r);
		assert_int_equal(r.status, t->status);
		assert_string_equal(st_error_code(&r), t->code);
		/* The healthcare agent service wraps each detail as a whole
		 * error (healthbot.json definitions/Error). */
		if (t->inner)
			assert_string_equal(
				jx_str(jx_at(jx_get(r.json, "error.details"),
					     0),
				       strstr(t->resource, "healthBots")
					       ? "error.code"
					       : "code"),
				t->inner);
		st_resp_free(&r);
		arm(f, "GET", t->resource, version, NULL, &r);
		assert_false(str_ieq(
			jx_str(r.json, "properties.encryption.keySource"),
			"Microsoft.KeyVault"));
		assert_null(jx_get(r.json, "properties.keyVaultProperties"));
		st_resp_free(&r);
	}
	fx_stop(f);
}

/* Foundry cannot go back to Microsoft-managed keys, nor move to another vault.
 */
static void test_cmk_foundry_one_way(void **state)
{
	struct fx *f = fx_start("{" GRANT_OAI "}");
	struct st_resp r;

	assert_int_equal(
		arm(f, "PATCH", FDY, "2025-06-01", OAI_KEY("cmk-test"), &r),
		202);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", FDY, "2025-06-01",
			     "{\"properties\":{\"encryption\":{\"keySource\":"
			     "\"Microsoft.CognitiveServices\"}}}",
			     &r),
			 400);
	assert_string_equal(st_error_code(&r),
			    "CustomerManagedKeyCannotBeReverted");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PATCH", FDY, "2025-06-01",
		    "{\"properties\":{\"encryption\":{\"keySource\":"
		    "\"Microsoft.KeyVault\","
		    "\"keyVaultProperties\":{\"keyName\":\"k\",\"keyVaultUri\":"
		    "\"https://other.vault.azure.net/\"}}}}",
		    &r),
		400);
	assert_string_equal(st_error_code(&r), "KeyVaultChangeNotAllowed");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PATCH", OAI, "2025-06-01", OAI_KEY("cmk-test"), &r),
		202);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"properties\":{\"encryption\":{\"keySource\":"
			     "\"Microsoft.CognitiveServices\"}}}",
			     &r),
			 202);
	st_resp_free(&r);
	fx_stop(f);
}

/* A new role assignment grants nothing until propagationSeconds have passed on
 * the simulated clock. */
static void test_cmk_propagation(void **state)
{
	struct fx *f = fx_start("{\"settings\":{\"propagationSeconds\":120}}");
	struct st_resp r;

	grant(f, VAULT_ID, OAI_PRINCIPAL, CRYPTO_SEU,
	      "44444444-0000-4000-8000-000000000001");
	assert_int_equal(
		arm(f, "PATCH", OAI, "2025-06-01", OAI_KEY("cmk-test"), &r),
		400);
	/* Cognitive Services' refusal has a code and no inner detail (ansible
	 * azure.azcollection PR #1676). */
	assert_null(jx_get(r.json, "error.details"));
	assert_non_null(
		strstr(jx_str(r.json, "error.message"),
		       "Please grant get, wrap and unwrap key permissions"));
	st_resp_free(&r);
	st_admin(&f->t, "POST", "/clock", "{\"advanceSeconds\":121}", &r);
	st_resp_free(&r);
	free(f->arm);
	f->arm = st_token(&f->t, "https://management.azure.com/.default");
	assert_int_equal(
		arm(f, "PATCH", OAI, "2025-06-01", OAI_KEY("cmk-test"), &r),
		202);
	st_resp_free(&r);
	fx_stop(f);
}

/* The resources the demo tenant documents as healthy on CMK
 * (tests/scenarios/README.md). */
static const char *const DEMO_HEALTHY[] = { "chprodimaging/radiology",
					    "chprodimaging/cardiology",
					    "chprodimaging/pathology",
					    "hb-ch-triage-prod",
					    "fdy-ch-prod",
					    "oai-ch-prod",
					    NULL };

/* Returns the api-version to use for one of the four services' ids. */
static const char *service_version(const char *id)
{
	if (strstr(id, "dicomservices"))
		return "2024-03-31";
	return strstr(id, "healthBots") ? "2025-11-01" : "2025-06-01";
}

/* Re-saves a resource's current key setting the way its service takes it;
 * returns the status. */
static long resave(struct fx *f, struct json_object *res)
{
	const char *type = jx_str(res, "type"), *id = jx_str(res, "id");
	struct json_object *body = json_object_new_object();
	struct st_resp r;
	long status;

	if (str_ieq(type,
		    "Microsoft.HealthcareApis/workspaces/dicomservices")) {
		json_object_put(body);
		body = jx_copy(res);
	} else if (str_ieq(type, "Microsoft.HealthBot/healthBots")) {
		jx_set(body, "properties.keyVaultProperties",
		       jx_copy(jx_get(res, "properties.keyVaultProperties")));
	} else {
		jx_set(body, "properties.encryption",
		       jx_copy(jx_get(res, "properties.encryption")));
	}
	assert_non_null(id);
	status =
		arm(f,
		    str_ieq(type,
			    "Microsoft.HealthcareApis/workspaces/dicomservices")
			    ? "PUT"
			    : "PATCH",
		    id, service_version(id), jx_text(body), &r);
	st_resp_free(&r);
	json_object_put(body);
	return status;
}

/* Returns the demo resource with a given name. */
static struct json_object *demo_resource(struct json_object *doc,
					 const char *name)
{
	struct json_object *list = jx_get(doc, "resources");

	for (size_t i = 0; i < jx_len(list); i++)
		if (str_ieq(jx_str(jx_at(list, i), "name"), name))
			return jx_at(list, i);
	return NULL;
}

/* The demo tenant and the simulator agree: healthy CMK resources re-save, those
 * that lost key access are refused. */
static void test_demo_consistency(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char *text = st_read_scenario("demo.json"),
	     *expected = st_read_scenario("demo-expected.json"), *err = NULL;
	struct json_object *doc = json_tokener_parse(text),
			   *rows = json_tokener_parse(expected);
	size_t lost = 0;

	assert_int_equal(st_start_text(&f->t, text, &err), 0);
	f->arm = st_token(&f->t, "https://management.azure.com/.default");
	for (int i = 0; DEMO_HEALTHY[i]; i++) {
		print_message("healthy: %s\n", DEMO_HEALTHY[i]);
		assert_true(resave(f, demo_resource(doc, DEMO_HEALTHY[i])) /
				    100 ==
			    2);
	}
	for (size_t i = 0; i < jx_len(rows); i++) {
		struct json_object *row = jx_at(rows, i), *r;
		struct st_resp got;

		if (!str_ieq(jx_str(row, "rule"), "resource.key-access-lost"))
			continue;
		print_message("lost: %s\n", jx_str(row, "resource"));
		assert_int_equal(arm(f, "GET", jx_str(row, "resource"),
				     service_version(jx_str(row, "resource")),
				     NULL, &got),
				 200);
		r = json_object_get(got.json);
		st_resp_free(&got);
		assert_true(resave(f, r) / 100 == 4);
		json_object_put(r);
		lost++;
	}
	assert_int_equal(lost, 10);
	json_object_put(doc);
	json_object_put(rows);
	free(text);
	free(expected);
	free(f->arm);
	st_stop(&f->t);
	free(f);
}

/* ---- Keys through Resource Manager, ARM paging, tenants and subscriptions
 * ---- */

#define ARM_KEYS VAULT_ID "/keys"
#define KEY_V2 "d6540493eed2bd7ff3d30647d1d92057"

/* Resource Manager's view of keys is the data plane's store: get, versions,
 * list, 404s and api-versions. */
static void test_arm_keys_read(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(
		arm(f, "GET", ARM_KEYS "/cmk-test", "2024-11-01", NULL, &r),
		200);
	assert_string_equal(jx_str(r.json, "type"),
			    "Microsoft.KeyVault/vaults/keys");
	assert_string_equal(jx_str(r.json, "location"), "westus3");
	assert_string_equal(jx_str(r.json, "properties.kty"), "RSA");
	assert_int_equal(jx_int(r.json, "properties.keySize", 0), 2048);
	assert_int_equal(jx_int(r.json, "properties.attributes.created", 0),
			 1777626000);
	assert_string_equal(
		jx_str(r.json, "properties.keyUri"),
		"https://kv-cmk-test.vault.azure.net:443/keys/cmk-test");
	assert_string_equal(jx_str(r.json, "properties.keyUriWithVersion"),
			    "https://kv-cmk-test.vault.azure.net:443/keys/"
			    "cmk-test/" KEY_V2);
	assert_null(jx_get(r.json, "properties.attributes.recoverableDays"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", ARM_KEYS "/cmk-test/versions/" KEY_V1,
			     "2024-11-01", NULL, &r),
			 200);
	assert_string_equal(jx_str(r.json, "name"), KEY_V1);
	assert_string_equal(jx_str(r.json, "type"),
			    "Microsoft.KeyVault/vaults/keys/versions");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", ARM_KEYS "/cmk-test/versions",
			     "2024-11-01", NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 2);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", ARM_KEYS, "2024-11-01", NULL, &r), 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	assert_null(
		jx_get(jx_at(jx_get(r.json, "value"), 0), "properties.kty"));
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", ARM_KEYS "/nosuch", "2024-11-01", NULL, &r), 404);
	assert_string_equal(st_error_code(&r), "ResourceNotFound");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    ARM_KEYS
		    "/cmk-test/versions/00000000000000000000000000000000",
		    "2024-11-01", NULL, &r),
		404);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    RG "/providers/Microsoft.KeyVault/vaults/kv-nosuch/keys",
		    "2024-11-01", NULL, &r),
		404);
	assert_string_equal(st_error_code(&r), "ResourceNotFound");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", ARM_KEYS "/cmk-test", "2018-02-14", NULL, &r),
		400);
	assert_string_equal(st_error_code(&r), "NoRegisteredProviderFound");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "DELETE", ARM_KEYS "/cmk-test", "2024-11-01", NULL, &r),
		405);
	st_resp_free(&r);
}

/* A key created through Resource Manager is in the data plane, with its
 * rotation policy; a second PUT writes nothing. */
static void test_arm_keys_create(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(
		arm(f, "PUT", ARM_KEYS "/arm-new", "2024-11-01",
		    "{\"tags\":{\"k\":\"v\"},\"properties\":{"
		    "\"kty\":\"RSA\",\"keySize\":3072,\"keyOps\":[\"wrapKey\","
		    "\"unwrapKey\"],\"rotationPolicy\":{"
		    "\"attributes\":{\"expiryTime\":\"P1Y\"},"
		    "\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":"
		    "\"P90D\"},\"action\":{\"type\":\"rotate\"}}]}}}",
		    &r),
		200);
	assert_int_equal(jx_int(r.json, "properties.keySize", 0), 3072);
	assert_string_equal(jx_str(r.json, "tags.k"), "v");
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "properties.rotationPolicy."
					    "lifetimeActions"),
			     0),
		       "action.type"),
		"rotate");
	assert_true(jx_int(r.json, "properties.attributes.created", 0) > 0);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV "/keys/arm-new?api-version=7.5", f->vault,
				NULL, &r),
			 200);
	assert_string_equal(jx_str(r.json, "key.kty"), "RSA");
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				KV
				"/keys/arm-new/rotationpolicy?api-version=7.5",
				f->vault, NULL, &r),
			 200);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "lifetimeActions"), 0),
				   "action.type"),
			    "Rotate");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", ARM_KEYS "/arm-new", "2024-11-01",
			     "{\"properties\":{\"kty\":\"EC\"}}", &r),
			 200);
	assert_string_equal(jx_str(r.json, "properties.kty"), "RSA");
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", ARM_KEYS "/arm-new/versions",
			     "2024-11-01", NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", ARM_KEYS "/arm-bad", "2024-11-01",
			     "{\"properties\":{\"kty\":\"oct\"}}", &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", ARM_KEYS "/arm-bad", "2024-11-01",
			     "{\"properties\":{}}", &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", ARM_KEYS "/arm-bad", "2024-11-01", NULL, &r),
		404);
	st_resp_free(&r);
}

/* A list with $top answers at most that many, with a nextLink that keeps $top;
 * a bad $skiptoken is refused. */
static void test_arm_paging_top(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *next;
	int pages = 1, items;

	assert_int_equal(arm(f, "GET",
			     "/subscriptions/" SUB "/resources?$top=2",
			     "2021-04-01", NULL, &r),
			 200);
	items = (int)jx_len(jx_get(r.json, "value"));
	assert_int_equal(items, 2);
	assert_non_null(strstr(jx_str(r.json, "nextLink"), "$top=2"));
	next = xstrdup(jx_str(r.json, "nextLink"));
	st_resp_free(&r);
	while (next) {
		assert_int_equal(st_req(&f->t, "GET", next, f->arm, NULL, &r),
				 200);
		assert_true(jx_len(jx_get(r.json, "value")) <= 2);
		items += (int)jx_len(jx_get(r.json, "value"));
		free(next);
		next = jx_str(r.json, "nextLink")
			       ? xstrdup(jx_str(r.json, "nextLink"))
			       : NULL;
		st_resp_free(&r);
		pages++;
	}
	assert_int_equal(items, 7);
	assert_int_equal(pages, 4);
	assert_int_equal(arm(f, "GET",
			     "/subscriptions/" SUB
			     "/resources?$top=2&$skiptoken=abc",
			     "2021-04-01", NULL, &r),
			 400);
	assert_string_equal(st_error_code(&r), "InvalidSkipToken");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    "/subscriptions/" SUB
		    "/providers/Microsoft.KeyVault/vaults?$skiptoken=-1",
		    "2024-11-01", NULL, &r),
		400);
	st_resp_free(&r);
}

/* The tenant's domains come from the user's name; a subscription's tags from
 * the scenario. */
static void test_tenant_and_subscription(void **state)
{
	struct fx *f = fx_start("{\"subscriptions\":[{\"subscriptionId\":\"" SUB
				"\",\"displayName\":\"Contoso Health Test\","
				"\"tags\":{\"env\":\"test\"}}]}");
	struct st_resp r;
	struct json_object *t;

	(void)state;
	assert_int_equal(arm(f, "GET", "/tenants", "2022-12-01", NULL, &r),
			 200);
	t = jx_at(jx_get(r.json, "value"), 0);
	assert_string_equal(jx_str(t, "defaultDomain"),
			    "contoso-health.example");
	assert_true(jx_array_has_istr(jx_get(t, "domains"),
				      "contoso-health.onmicrosoft.com"));
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions/" SUB, "2022-12-01", NULL, &r),
		200);
	assert_string_equal(jx_str(r.json, "tags.env"), "test");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "value"), 0), "tags.env"), "test");
	st_resp_free(&r);
	fx_stop(f);
}

/* Foundry projects: etag, endpoints, the first one default, the identity's
 * principal kept; no project without account. */
static void test_projects(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *principal;

	assert_int_equal(arm(f, "PUT", FDY "/projects/p1", "2025-06-01",
			     "{\"location\":\"westus3\",\"identity\":{\"type\":"
			     "\"SystemAssigned\"},\"properties\":{"
			     "\"displayName\":\"p1\"}}",
			     &r),
			 201);
	assert_string_equal(jx_str(r.json, "name"), "p1");
	assert_true(str_istarts(jx_str(r.json, "etag"), "W/\"datetime'"));
	assert_true(jx_bool(r.json, "properties.isDefault", false));
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	assert_string_equal(
		jx_str(r.json, "properties.endpoints.AI Foundry API"),
		"https://fdy-cmk-test.services.ai.azure.com/api/projects/p1");
	principal = xstrdup(jx_str(r.json, "identity.principalId"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", FDY "/projects/p2", "2025-06-01",
			     "{\"location\":\"westus3\",\"properties\":{}}",
			     &r),
			 201);
	assert_false(jx_bool(r.json, "properties.isDefault", true));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT", FDY "/projects/p1", "2025-06-01",
			     "{\"location\":\"westus3\",\"identity\":{\"type\":"
			     "\"SystemAssigned\"},\"properties\":{}}",
			     &r),
			 200);
	assert_string_equal(jx_str(r.json, "identity.principalId"), principal);
	assert_true(jx_bool(r.json, "properties.isDefault", false));
	st_resp_free(&r);
	assert_int_equal(arm(f, "PUT",
			     RG "/providers/Microsoft.CognitiveServices/"
				"accounts/nosuch/projects/p1",
			     "2025-06-01",
			     "{\"location\":\"westus3\",\"properties\":{}}",
			     &r),
			 404);
	assert_string_equal(st_error_code(&r), "ParentResourceNotFound");
	st_resp_free(&r);
	free(principal);
}

/* ---- Long-running operations ---- */

/* With lroPolls, the status URL says InProgress, then Succeeded; Location
 * answers 202 then the resource. */
static void test_lro(void **state)
{
	struct fx *f = fx_start(
		"{\"settings\":{\"lroPolls\":2,\"retryAfterSeconds\":0}}");
	struct st_resp r;
	char *async, *loc;

	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 202);
	async = st_header(&r, "Azure-AsyncOperation");
	loc = st_header(&r, "Location");
	assert_non_null(async);
	assert_non_null(loc);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", OAI, "2025-06-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Updating");
	assert_null(jx_get(r.json, "tags.x"));
	st_resp_free(&r);
	st_req(&f->t, "GET", async, f->arm, NULL, &r);
	assert_string_equal(jx_str(r.json, "status"), "InProgress");
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", loc, f->arm, NULL, &r), 202);
	st_resp_free(&r);
	st_req(&f->t, "GET", async, f->arm, NULL, &r);
	assert_string_equal(jx_str(r.json, "status"), "Succeeded");
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", loc, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "tags.x"), "1");
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	st_resp_free(&r);
	free(async);
	free(loc);
	fx_stop(f);
}

/* A DICOM write names its operationresults URL, HealthcareApis' operation
 * status: Running, then Succeeded with endTime. */
static void test_lro_dicom(void **state)
{
	struct fx *f = fx_start(
		"{\"settings\":{\"lroPolls\":1,\"retryAfterSeconds\":0}}");
	struct st_resp r;
	char *async, *loc;

	(void)state;
	assert_int_equal(arm(f, "PATCH", DICOM, "2024-03-31",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 202);
	async = st_header(&r, "Azure-AsyncOperation");
	loc = st_header(&r, "Location");
	assert_non_null(strstr(async, "/providers/Microsoft.HealthcareApis/"
				      "locations/westus3/operationresults/"));
	assert_null(loc);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", async, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "status"), "Running");
	assert_non_null(jx_str(r.json, "startTime"));
	assert_null(jx_get(r.json, "endTime"));
	assert_true(json_object_is_type(jx_get(r.json, "properties"),
					json_type_object));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", async, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "status"), "Succeeded");
	assert_true(strcmp(jx_str(r.json, "endTime"),
			   jx_str(r.json, "startTime")) >= 0);
	st_resp_free(&r);
	free(async);
	fx_stop(f);
}

/* With settings.lroHeaders "both", the healthcare agent service's update names
 * an Azure-AsyncOperation and a Location. */
static void test_lro_headers_both(void **state)
{
	struct fx *f = fx_start("{\"settings\":{\"lroHeaders\":\"both\"}}");
	struct st_resp r;
	char *async, *loc;

	(void)state;
	assert_int_equal(arm(f, "PATCH", BOT, "2025-11-01",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 201);
	async = st_header(&r, "Azure-AsyncOperation");
	loc = st_header(&r, "Location");
	assert_non_null(async);
	assert_non_null(strstr(loc, "/operationResults/"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", async, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "status"), "Succeeded");
	assert_non_null(jx_str(r.json, "endTime"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", loc, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "tags.x"), "1");
	st_resp_free(&r);
	free(async);
	free(loc);
	fx_stop(f);
}

/* An lroFail fault makes the operation end Failed, the change is not applied,
 * the resource is Failed. */
static void test_lro_failure(void **state)
{
	struct fx *f = fx_start(
		"{\"faults\":[{\"method\":\"PATCH\",\"path\":\"*/accounts/"
		"oai-cmk-test\",\"kind\":\"lroFail\",\"times\":1}]}");
	struct st_resp r;
	char *async;

	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 202);
	async = st_header(&r, "Azure-AsyncOperation");
	st_resp_free(&r);
	st_req(&f->t, "GET", async, f->arm, NULL, &r);
	assert_string_equal(jx_str(r.json, "status"), "Failed");
	assert_non_null(jx_str(r.json, "error.code"));
	st_resp_free(&r);
	arm(f, "GET", OAI, "2025-06-01", NULL, &r);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Failed");
	assert_null(jx_get(r.json, "tags.x"));
	st_resp_free(&r);
	free(async);
	fx_stop(f);
}

/* Asserts a resource's provisioning state. */
static void assert_state(struct fx *f, const char *id, const char *want)
{
	struct st_resp r;

	assert_int_equal(arm(f, "GET", id, "2025-06-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    want);
	st_resp_free(&r);
}

/* Reads a resource every 100 ms, for at most 10 s, until its provisioning state
 * is want; tells whether it was. */
static bool wait_state(struct fx *f, const char *id, const char *want)
{
	bool seen = false;

	for (int i = 0; i < 100 && !seen; i++) {
		struct st_resp r;
		struct timespec ts = { 0, 100000000 };

		arm(f, "GET", id, "2025-06-01", NULL, &r);
		seen = str_ieq(jx_str(r.json, "properties.provisioningState"),
			       want);
		st_resp_free(&r);
		if (!seen)
			nanosleep(&ts, NULL);
	}
	return seen;
}

/* Asserts what an operation's status URL answers. */
static void assert_op_status(struct fx *f, const char *async, const char *want)
{
	struct st_resp r;

	assert_int_equal(st_req(&f->t, "GET", async, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "status"), want);
	st_resp_free(&r);
}

/* An operation nobody polls ends by itself after lroSeconds, or when the clock
 * is moved past it. */
static void test_lro_unpolled(void **state)
{
	struct fx *f =
		fx_start("{\"settings\":{\"lroPolls\":3,\"lroSeconds\":3}}");
	struct st_resp r;
	char *async, *loc;

	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 202);
	async = st_header(&r, "Azure-AsyncOperation");
	loc = st_header(&r, "Location");
	st_resp_free(&r);
	assert_state(f, OAI, "Updating");
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"2\"}}", &r),
			 409);
	st_resp_free(&r);
	assert_true(wait_state(f, OAI, "Succeeded"));
	assert_op_status(f, async, "Succeeded");
	assert_int_equal(st_req(&f->t, "GET", loc, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "tags.x"), "1");
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"2\"}}", &r),
			 202);
	st_resp_free(&r);
	assert_state(f, OAI, "Updating");
	assert_int_equal(
		st_admin(&f->t, "POST", "/clock", "{\"advanceSeconds\":3}", &r),
		200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", OAI, "2025-06-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Succeeded");
	assert_string_equal(jx_str(r.json, "tags.x"), "2");
	st_resp_free(&r);
	assert_op_status(f, async, "Succeeded");
	free(async);
	free(loc);
	fx_stop(f);
}

/* A region written as a display name, in the scenario or a PUT, is answered and
 * put in URLs as ARM's programmatic name. */
static void test_region_names(void **state)
{
	struct fx *f = fx_start("{\"settings\":{\"lroPolls\":1}}");
	struct st_resp r;
	char *async;

	(void)state;
	assert_int_equal(arm(f, "PUT",
			     RG "/providers/Microsoft.ManagedIdentity/"
				"userAssignedIdentities/id-east",
			     "2023-01-31", "{\"location\":\"East US\"}", &r),
			 201);
	assert_string_equal(jx_str(r.json, "location"), "eastus");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "PUT",
		    RG
		    "/providers/Microsoft.CognitiveServices/accounts/oai-new",
		    "2025-06-01",
		    "{\"location\":\"West US "
		    "3\",\"kind\":\"OpenAI\",\"sku\":{\"name\":\"S0\"},"
		    "\"properties\":{}}",
		    &r),
		201);
	assert_string_equal(jx_str(r.json, "location"), "westus3");
	/* What the service fills in on a create, as CreateAccount.json shows
	 * it; no identity was asked for. */
	assert_string_equal(jx_str(r.json, "properties.endpoint"),
			    "https://oai-new.cognitiveservices.azure.com/");
	assert_non_null(jx_str(r.json, "systemData.createdAt"));
	assert_null(jx_get(r.json, "identity"));
	async = st_header(&r, "Azure-AsyncOperation");
	assert_non_null(strstr(async, "/locations/westus3/operationStatuses/"));
	free(async);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET",
		    RG
		    "/providers/Microsoft.CognitiveServices/accounts/oai-new",
		    "2025-06-01", NULL, &r),
		200);
	assert_string_equal(jx_str(r.json, "location"), "westus3");
	st_resp_free(&r);
	fx_stop(f);
}

/* The demo tenant's "West US 3" is read back as westus3, as every region is in
 * Azure. */
static void test_region_names_scenario(void **state)
{
	struct simtest t;
	struct st_resp r;
	char *tok;

	(void)state;
	if (st_start(&t, "demo.json", NULL) != 0)
		fail_msg("the simulator did not start");
	tok = st_token(&t, "https://management.azure.com/.default");
	assert_int_equal(
		st_req(&t, "GET",
		       ARM
		       "/subscriptions/22222222-2222-4222-8222-222222222222/"
		       "resourceGroups/"
		       "rg-prod-ai/providers/Microsoft.CognitiveServices/"
		       "accounts/fdy-ch-prod?api-version=2025-06-01",
		       tok, NULL, &r),
		200);
	assert_string_equal(jx_str(r.json, "location"), "westus3");
	st_resp_free(&r);
	free(tok);
	st_stop(&t);
}

/* An lroFail operation nobody polls ends Failed when its time is up; its status
 * URLs still answer. */
static void test_lro_unpolled_failure(void **state)
{
	struct fx *f =
		fx_start("{\"settings\":{\"lroPolls\":3,\"lroSeconds\":30},"
			 "\"faults\":[{\"method\":\"PATCH\","
			 "\"path\":\"*/accounts/"
			 "oai-cmk-test\",\"kind\":\"lroFail\",\"times\":1}]}");
	struct st_resp r;
	char *async, *loc;

	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"1\"}}", &r),
			 202);
	async = st_header(&r, "Azure-AsyncOperation");
	loc = st_header(&r, "Location");
	st_resp_free(&r);
	assert_state(f, OAI, "Updating");
	assert_int_equal(st_admin(&f->t, "POST", "/clock",
				  "{\"advanceSeconds\":25}", &r),
			 200);
	st_resp_free(&r);
	assert_state(f, OAI, "Updating");
	assert_int_equal(
		st_admin(&f->t, "POST", "/clock", "{\"advanceSeconds\":5}", &r),
		200);
	st_resp_free(&r);
	assert_int_equal(arm(f, "GET", OAI, "2025-06-01", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "properties.provisioningState"),
			    "Failed");
	assert_null(jx_get(r.json, "tags.x"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", async, f->arm, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "status"), "Failed");
	assert_non_null(jx_str(r.json, "error.code"));
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", loc, f->arm, NULL, &r), 500);
	st_resp_free(&r);
	assert_int_equal(arm(f, "PATCH", OAI, "2025-06-01",
			     "{\"tags\":{\"x\":\"2\"}}", &r),
			 202);
	st_resp_free(&r);
	free(async);
	free(loc);
	fx_stop(f);
}

/* ---- Faults ---- */

/* 429 with Retry-After for N requests, then normal; 503 with
 * x-ms-retry-after-ms. */
static void test_fault_status(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *h;

	assert_int_equal(st_admin(&f->t, "POST", "/faults",
				  "{\"method\":\"GET\",\"path\":\"/"
				  "subscriptions\",\"status\":429,"
				  "\"retryAfter\":3,\"times\":2}",
				  &r),
			 201);
	st_resp_free(&r);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r),
			429);
		h = st_header(&r, "Retry-After");
		assert_string_equal(h, "3");
		assert_string_equal(st_error_code(&r), "TooManyRequests");
		free(h);
		st_resp_free(&r);
	}
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	st_resp_free(&r);
	st_admin(&f->t, "POST", "/faults",
		 "{\"host\":\"*.vault.azure.net\",\"path\":\"/"
		 "keys*\",\"status\":503,\"retryAfterMs\":250,\"times\":1}",
		 &r);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET", KV "/keys?api-version=7.5",
				f->vault, NULL, &r),
			 503);
	h = st_header(&r, "x-ms-retry-after-ms");
	assert_string_equal(h, "250");
	free(h);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "POST", "/faults",
				  "{\"path\":\"*\",\"kind\":\"bogus\"}", &r),
			 400);
	st_resp_free(&r);
}

/* Reset, truncated and malformed answers reach the client as the transport or
 * parse errors they are. */
static void test_fault_transport(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	st_admin(&f->t, "POST", "/faults",
		 "{\"path\":\"/subscriptions\",\"kind\":\"reset\",\"times\":1}",
		 &r);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), -1);
	assert_true(r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_RECV_ERROR ||
		    r.rc == CURLE_SSL_CONNECT_ERROR);
	st_resp_free(&r);
	st_admin(&f->t, "POST", "/faults",
		 "{\"path\":\"/"
		 "subscriptions\",\"kind\":\"truncate\",\"times\":1}",
		 &r);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), -1);
	assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
	st_resp_free(&r);
	st_admin(&f->t, "POST", "/faults",
		 "{\"path\":\"/"
		 "subscriptions\",\"kind\":\"malformed\",\"times\":1}",
		 &r);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	assert_null(r.json);
	st_resp_free(&r);
	st_admin(&f->t, "POST", "/faults",
		 "{\"path\":\"/subscriptions\",\"latencyMs\":20,\"times\":1}",
		 &r);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	st_resp_free(&r);
	st_admin(&f->t, "GET", "/log", NULL, &r);
	{
		struct json_object *log = jx_get(r.json, "value");
		const char *last = jx_str(jx_at(log, jx_len(log) - 1), "fault");

		assert_string_equal(last, "latency");
	}
	st_resp_free(&r);
}

/* ---- Admin, Graph, identity endpoint, Resource Graph ---- */

/* State hides secrets; key switches and reset work; the log redacts secrets and
 * counts connections. */
static void test_admin(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(st_admin(&f->t, "GET", "/state", NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "operator.clientSecret"),
			    "[redacted]");
	assert_true(jx_len(jx_get(r.json, "resources")) == 8);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "POST",
				  "/keys/kv-cmk-test/cmk-test/bogus", "{}", &r),
			 400);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "POST",
				  "/keys/kv-cmk-test/nope/disable", "{}", &r),
			 404);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "GET", "/log", NULL, &r), 200);
	assert_null(strstr(r.body, "demo-secret"));
	assert_non_null(strstr(r.body, "\"conn\""));
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "POST", "/reset", NULL, &r), 204);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "GET", "/nothing", NULL, &r), 404);
	st_resp_free(&r);
}

/* Graph resolves principals by id and service principals by app id. */
static void test_graph(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *tok = st_token(&f->t, "https://graph.microsoft.com//.default");

	assert_int_equal(st_req(&f->t, "POST",
				"https://graph.microsoft.com/v1.0/"
				"directoryObjects/getByIds",
				tok,
				"{\"ids\":[\"" OAI_PRINCIPAL
				"\",\"0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b\","
				"\"nobody\"]}",
				&r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 2);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "value"), 0), "displayName"),
		"oai-cmk-test");
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				"https://graph.microsoft.com/v1.0/"
				"servicePrincipals?$filter=appId%20eq%20'"
				"0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a'",
				tok, NULL, &r),
			 200);
	assert_int_equal(jx_len(jx_get(r.json, "value")), 1);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				"https://graph.microsoft.com/v1.0/"
				"servicePrincipals/nobody",
				tok, NULL, &r),
			 404);
	st_resp_free(&r);
	free(tok);
}

/* Calls the plain-HTTP identity endpoint directly with one header. */
static long mi(struct fx *f, const char *method, const char *path,
	       const char *header, struct st_resp *r)
{
	char *url = xasprintf("http://127.0.0.1:%d%s", f->t.identity, path);
	const char *h[] = { header, NULL };
	long s = st_req_hdr(&f->t, method, url, h,
			    strcmp(method, "POST") == 0
				    ? "resource=https://vault.azure.net"
				    : NULL,
			    r);

	free(url);
	return s;
}

/* IMDS, App Service and Cloud Shell styles; a missing Metadata header and an
 * unknown identity are refused. */
static void test_identity_endpoint(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	mi(f, "GET",
	   "/metadata/identity/oauth2/"
	   "token?api-version=2018-02-01&resource=https://vault.azure.net",
	   "Metadata: true", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_object_is_type(jx_get(r.json, "expires_in"),
					json_type_string));
	st_resp_free(&r);
	mi(f, "GET",
	   "/metadata/identity/oauth2/"
	   "token?api-version=2018-02-01&resource=https://vault.azure.net",
	   "X-Other: 1", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jx_str(r.json, "error_description"),
			    "Required metadata header not specified");
	st_resp_free(&r);
	mi(f, "GET",
	   "/metadata/identity/oauth2/"
	   "token?api-version=2018-02-01&resource=https://"
	   "vault.azure.net&client_id="
	   "6666c001-6666-4666-8666-66666666c001",
	   "Metadata: true", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jx_str(r.json, "client_id"),
			    "6666c001-6666-4666-8666-66666666c001");
	st_resp_free(&r);
	mi(f, "GET",
	   "/metadata/identity/oauth2/"
	   "token?api-version=2018-02-01&resource=https://"
	   "vault.azure.net&client_id=nobody",
	   "Metadata: true", &r);
	assert_int_equal(r.status, 400);
	st_resp_free(&r);
	mi(f, "GET",
	   "/msi/token?api-version=2019-08-01&resource=https://"
	   "management.azure.com/",
	   "X-IDENTITY-HEADER: azsim-identity-header", &r);
	assert_int_equal(r.status, 200);
	st_resp_free(&r);
	mi(f, "GET",
	   "/msi/token?api-version=2019-08-01&resource=https://"
	   "management.azure.com/",
	   "X-IDENTITY-HEADER: wrong", &r);
	assert_int_equal(r.status, 401);
	st_resp_free(&r);
	mi(f, "POST", "/msi/token", "Metadata: true", &r);
	assert_int_equal(r.status, 200);
	st_resp_free(&r);
}

/* Resource Graph: typed query, projection, paging with $skipToken, and a parse
 * error. */
static void test_resource_graph(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	const char *q =
		"{\"subscriptions\":[\"" SUB
		"\"],\"query\":\"Resources | where type in~ "
		"('Microsoft.CognitiveServices/accounts',"
		"'microsoft.healthbot/healthbots','Microsoft.HealthcareApis/"
		"workspaces/dicomservices') | project id, name, "
		"type, properties.encryption.keySource | order by name "
		"asc\",\"options\":{\"$top\":2}}";
	char *next;

	assert_int_equal(arm(f, "POST",
			     "/providers/Microsoft.ResourceGraph/resources",
			     "2022-10-01", q, &r),
			 200);
	assert_int_equal(jx_int(r.json, "totalRecords", 0), 4);
	assert_int_equal(jx_int(r.json, "count", 0), 2);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "data"), 0), "type"),
		"microsoft.healthcareapis/workspaces/dicomservices");
	assert_string_equal(jx_str(r.json, "resultTruncated"), "false");
	next = xasprintf(
		"{\"subscriptions\":[\"" SUB
		"\"],\"query\":\"Resources | where type in~ "
		"('Microsoft.CognitiveServices/accounts',"
		"'microsoft.healthbot/healthbots','Microsoft.HealthcareApis/"
		"workspaces/dicomservices') | project id, name, "
		"type, properties.encryption.keySource | order by name "
		"asc\",\"options\":{\"$top\":2,\"$skipToken\":\"%s\"}}",
		jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "POST",
			     "/providers/Microsoft.ResourceGraph/resources",
			     "2022-10-01", next, &r),
			 200);
	assert_int_equal(jx_int(r.json, "count", 0), 2);
	assert_null(jx_get(r.json, "$skipToken"));
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 1),
				   "properties_encryption_keySource"),
			    "Microsoft.CognitiveServices");
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "POST", "/providers/Microsoft.ResourceGraph/resources",
		    "2022-10-01", "{\"query\":\"Resources | bogus\"}", &r),
		400);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "error.details"), 1), "code"),
		"ParserFailure");
	st_resp_free(&r);
	free(next);
}

/* The fixture's service resources by name, as the paging tests query them. */
#define PAGED_QUERY                                                           \
	"Resources | where type in~ "                                         \
	"('Microsoft.CognitiveServices/accounts','microsoft.healthbot/"       \
	"healthbots',"                                                        \
	"'Microsoft.HealthcareApis/workspaces/dicomservices') | project id, " \
	"name | order by name asc"

/* Posts a Resource Graph query, top rows a page, with a $skip (when skip >= 0)
 * or a $skipToken; returns the status. */
static long graph_post(struct fx *f, const char *query, int top, int skip,
		       const char *token, struct st_resp *r)
{
	char *more = token       ? xasprintf(",\"$skipToken\":\"%s\"", token)
		     : skip >= 0 ? xasprintf(",\"$skip\":%d", skip)
				 : xstrdup("");
	char *body =
		xasprintf("{\"subscriptions\":[\"" SUB
			  "\"],\"query\":\"%s\",\"options\":{\"$top\":%d%s}}",
			  query, top, more);
	long status =
		arm(f, "POST", "/providers/Microsoft.ResourceGraph/resources",
		    "2022-10-01", body, r);

	free(more);
	free(body);
	return status;
}

/* Posts a first page of top rows and returns a copy of its $skipToken, which it
 * asserts there is. */
static char *graph_token(struct fx *f, const char *query, int top)
{
	struct st_resp r;
	char *tok;

	assert_int_equal(graph_post(f, query, top, -1, NULL, &r), 200);
	assert_non_null(jx_str(r.json, "$skipToken"));
	tok = xstrdup(jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
	return tok;
}

/* Asserts a Resource Graph answer is the refusal of a $skipToken that names no
 * kept result. */
static void assert_token_refused(struct st_resp *r)
{
	assert_int_equal(r->status, 400);
	assert_string_equal(st_error_code(r), "BadRequest");
	assert_string_equal(
		jx_str(jx_at(jx_get(r->json, "error.details"), 0), "code"),
		"InvalidSkipToken");
	st_resp_free(r);
}

/* Reads an answer's x-ms-user-quota-* headers: the queries left, and the
 * reset in milliseconds, which must be written as a .NET TimeSpan. */
static long quota_of(const struct st_resp *r, int64_t *reset_ms)
{
	char *left = st_header(r, "x-ms-user-quota-remaining"),
	     *reset = st_header(r, "x-ms-user-quota-resets-after");
	long n;

	assert_non_null(left);
	assert_non_null(reset);
	*reset_ms = wire_timespan_ms(reset);
	assert_true(*reset_ms >= 0);
	n = strtol(left, NULL, 10);
	free(left);
	free(reset);
	return n;
}

/*
 * Resource Graph's per-user quota: without graphQuota every answer says what
 * Azure's default says after one query (14 left, reset in 5 s); with it, each
 * query, a page too, takes one, the headers count down, and a query past it
 * is refused 429 RateLimiting with no Retry-After until the window resets.
 */
static void test_graph_quota(void **state)
{
	struct fx *f = *state, *q;
	struct st_resp r;
	int64_t reset;
	char *ra, *tok;

	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_int_equal(quota_of(&r, &reset), 14);
	assert_int_equal(reset, 5000);
	st_resp_free(&r);
	q = fx_start("{\"settings\":{\"graphQuota\":2,"
		     "\"graphQuotaWindowMs\":400}}");
	assert_int_equal(graph_post(q, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_int_equal(quota_of(&r, &reset), 1);
	/* Whole seconds left, rounded down: less than one. */
	assert_int_equal(reset, 0);
	tok = xstrdup(jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
	assert_int_equal(graph_post(q, PAGED_QUERY, 1, -1, tok, &r), 200);
	free(tok);
	assert_int_equal(quota_of(&r, &reset), 0);
	st_resp_free(&r);
	assert_int_equal(graph_post(q, PAGED_QUERY, 1, -1, NULL, &r), 429);
	assert_string_equal(st_error_code(&r), "RateLimiting");
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "error.details"), 0), "code"),
		"RateLimiting");
	assert_int_equal(quota_of(&r, &reset), 0);
	assert_int_equal(reset, 0);
	ra = st_header(&r, "Retry-After");
	assert_null(ra);
	st_resp_free(&r);
	/* Once the window has passed, the quota is whole. */
	usleep(420 * 1000);
	assert_int_equal(graph_post(q, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_int_equal(quota_of(&r, &reset), 1);
	st_resp_free(&r);
	fx_stop(q);
}

/*
 * A result without an id column is not paged: its page says resultTruncated
 * "true" and gives no $skipToken (Working with large Azure resource data
 * sets); the graphTruncated fault cuts a pageable answer short the same way,
 * once, and the next is whole again.
 */
static void test_graph_truncated(void **state)
{
	struct fx *f = *state;
	struct st_resp r;

	assert_int_equal(graph_post(f,
				    "Resources | where type in~ "
				    "('Microsoft.CognitiveServices/accounts',"
				    "'microsoft.healthbot/healthbots') | "
				    "project name | order by name asc",
				    1, -1, NULL, &r),
			 200);
	assert_string_equal(jx_str(r.json, "resultTruncated"), "true");
	assert_null(jx_get(r.json, "$skipToken"));
	assert_true(jx_int(r.json, "totalRecords", 0) > 1);
	st_resp_free(&r);
	assert_int_equal(st_fault(&f->t, "{\"method\":\"POST\",\"path\":"
					 "\"*ResourceGraph*\",\"kind\":"
					 "\"graphTruncated\",\"times\":1}"),
			 201);
	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "resultTruncated"), "true");
	assert_null(jx_get(r.json, "$skipToken"));
	assert_int_equal(jx_int(r.json, "count", 0), 1);
	st_resp_free(&r);
	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_string_equal(jx_str(r.json, "resultTruncated"), "false");
	assert_non_null(jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
}

/* Resource Graph paging: $skipToken pages and $skip give every row once, in the
 * query's order. */
static void test_graph_paging_order(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	struct json_object *all, *seen = json_object_new_array();
	char *tok = NULL;

	assert_int_equal(graph_post(f, PAGED_QUERY, 1000, -1, NULL, &r), 200);
	all = json_object_get(jx_get(r.json, "data"));
	assert_int_equal(jx_len(all), 4);
	assert_null(jx_get(r.json, "$skipToken"));
	st_resp_free(&r);
	do {
		assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, tok, &r),
				 200);
		assert_int_equal(jx_int(r.json, "totalRecords", 0), 4);
		json_object_array_add(
			seen,
			json_object_get(jx_at(jx_get(r.json, "data"), 0)));
		free(tok);
		tok = jx_str(r.json, "$skipToken")
			      ? xstrdup(jx_str(r.json, "$skipToken"))
			      : NULL;
		st_resp_free(&r);
	} while (tok);
	assert_string_equal(jx_text(seen), jx_text(all));
	assert_int_equal(graph_post(f, PAGED_QUERY, 2, 1, NULL, &r), 200);
	assert_int_equal(jx_int(r.json, "count", 0), 2);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 0), "name"),
			    jx_str(jx_at(all, 1), "name"));
	tok = xstrdup(jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, tok, &r), 200);
	assert_int_equal(jx_int(r.json, "count", 0), 1);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 0), "name"),
			    jx_str(jx_at(all, 3), "name"));
	assert_null(jx_get(r.json, "$skipToken"));
	st_resp_free(&r);
	free(tok);
	json_object_put(seen);
	json_object_put(all);
}

/* options.resultFormat "table" answers columns and rows (resourcegraph.json
 * 2021-03-01 Table); another format is refused. */
static void test_graph_table(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
#define TABLE_QUERY(fmt)                                            \
	"{\"subscriptions\":[\"" SUB "\"],\"query\":\"" PAGED_QUERY \
	"\",\"options\":{\"$top\":3,"                               \
	"\"resultFormat\":\"" fmt "\"}}"
	const char *body = TABLE_QUERY("table");

	assert_int_equal(arm(f, "POST",
			     "/providers/Microsoft.ResourceGraph/resources",
			     "2021-03-01", body, &r),
			 200);
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "data.columns"), 0), "name"), "id");
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "data.columns"), 1), "name"),
		"name");
	assert_string_equal(
		jx_str(jx_at(jx_get(r.json, "data.columns"), 1), "type"),
		"string");
	assert_int_equal(jx_len(jx_get(r.json, "data.rows")), 3);
	assert_int_equal(jx_len(jx_at(jx_get(r.json, "data.rows"), 0)), 2);
	assert_non_null(jx_str(r.json, "$skipToken"));
	st_resp_free(&r);
	assert_int_equal(arm(f, "POST",
			     "/providers/Microsoft.ResourceGraph/resources",
			     "2021-03-01", TABLE_QUERY("csv"), &r),
			 400);
	st_resp_free(&r);
}

/*
 * Resource Graph keeps no snapshot: a $skipToken still works after a write, but
 * its page comes from the query run again at its offset, so a resource deleted
 * from an earlier page shifts the rest (one row is missed), as Microsoft's
 * paging guide describes.
 */
static void test_graph_paging_after_write(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	struct json_object *all;
	char *tok, *gone;

	assert_int_equal(graph_post(f, PAGED_QUERY, 1000, -1, NULL, &r), 200);
	all = json_object_get(jx_get(r.json, "data"));
	st_resp_free(&r);
	tok = graph_token(f, PAGED_QUERY, 2);
	gone = xstrdup(jx_str(jx_at(all, 0), "id"));
	assert_int_equal(arm(f, "DELETE", gone,
			     strstr(gone, "/dicomservices/") ? "2024-03-31"
			     : strstr(gone, "/healthBots/")  ? "2025-11-01"
							     : "2025-06-01",
			     NULL, &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, tok, &r), 200);
	assert_int_equal(jx_int(r.json, "totalRecords", 0), 3);
	assert_int_equal(jx_int(r.json, "count", 0), 1);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 0), "name"),
			    jx_str(jx_at(all, 3), "name"));
	st_resp_free(&r);
	free(gone);
	free(tok);
	json_object_put(all);
}

/* Resource Graph refuses a garbled $skipToken, another query's, an old-style
 * one and one whose result expired. */
static void test_graph_paging_bad_token(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *tok = graph_token(f, PAGED_QUERY, 1),
	     *old = b64_encode("azsim:1", 7, false);

	graph_post(f, PAGED_QUERY, 1, -1, "not a token!", &r);
	assert_token_refused(&r);
	graph_post(f, PAGED_QUERY, 1, -1, old, &r);
	assert_token_refused(&r);
	graph_post(f, PAGED_QUERY " | project name", 1, -1, tok, &r);
	assert_token_refused(&r);
	assert_int_equal(st_admin(&f->t, "POST", "/clock",
				  "{\"advanceSeconds\":590}", &r),
			 200);
	st_resp_free(&r);
	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, tok, &r), 200);
	st_resp_free(&r);
	assert_int_equal(st_admin(&f->t, "POST", "/clock",
				  "{\"advanceSeconds\":601}", &r),
			 200);
	st_resp_free(&r);
	graph_post(f, PAGED_QUERY, 1, -1, tok, &r);
	assert_token_refused(&r);
	free(old);
	free(tok);
}

/* Resource Graph keeps 16 results at most: a 17th replaces the least recently
 * used, whose $skipToken then fails. */
static void test_graph_paging_bounded(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *tok[17];

	for (int i = 0; i < 17; i++) {
		char *q = xasprintf("Resources | where name != 'q%d' | project "
				    "id, name | order by name asc",
				    i);

		tok[i] = graph_token(f, q, 1);
		free(q);
		if (i == 15) {
			assert_int_equal(
				graph_post(
					f,
					"Resources | where name != 'q0' | "
					"project id, name | order by name asc",
					1, -1, tok[0], &r),
				200);
			st_resp_free(&r);
		}
	}
	graph_post(f,
		   "Resources | where name != 'q1' | project id, name | order "
		   "by name asc",
		   1, -1, tok[1], &r);
	assert_token_refused(&r);
	for (int i = 0; i < 17; i++) {
		char *q = xasprintf("Resources | where name != 'q%d' | project "
				    "id, name | order by name asc",
				    i);

		if (i != 1) {
			assert_int_equal(graph_post(f, q, 1, -1, tok[i], &r),
					 200);
			st_resp_free(&r);
		}
		free(q);
		free(tok[i]);
	}
}

/* The id of a Health Bot the tests of kept results add; its name sorts first in
 * PAGED_QUERY. */
#define ADDED_BOT RG "/providers/Microsoft.HealthBot/healthBots/aaa-added-bot"

/* Asserts the first page of PAGED_QUERY, 2 rows, has totalRecords total and
 * starts with the row named first. */
static void assert_first_page(struct fx *f, long total, const char *first)
{
	struct st_resp r;

	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, NULL, &r), 200);
	assert_int_equal(jx_int(r.json, "totalRecords", 0), total);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 0), "name"),
			    first);
	st_resp_free(&r);
}

/*
 * A first page asked again with nothing changed is the same page; after a
 * write it is the query run again: a resource added shows on the first page
 * and in totalRecords, and on a later page through an earlier $skipToken; one
 * deleted leaves them.
 */
static void test_graph_kept_until_write(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	struct json_object *before;
	char *tok;

	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, NULL, &r), 200);
	before = json_object_get(jx_get(r.json, "data"));
	st_resp_free(&r);
	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, NULL, &r), 200);
	assert_string_equal(jx_text(jx_get(r.json, "data")), jx_text(before));
	st_resp_free(&r);
	tok = graph_token(f, PAGED_QUERY, 2);
	assert_int_equal(
		st_admin(&f->t, "PUT", "/resources",
			 "{\"id\":\"" ADDED_BOT "\",\"type\":\"Microsoft."
			 "HealthBot/healthBots\",\"name\":\"aaa-added-bot\","
			 "\"location\":\"westus3\",\"properties\":{}}",
			 &r),
		200);
	st_resp_free(&r);
	assert_first_page(f, 5, "aaa-added-bot");
	assert_int_equal(graph_post(f, PAGED_QUERY, 2, -1, tok, &r), 200);
	assert_int_equal(jx_int(r.json, "totalRecords", 0), 5);
	assert_string_equal(jx_str(jx_at(jx_get(r.json, "data"), 0), "name"),
			    jx_str(jx_at(before, 1), "name"));
	st_resp_free(&r);
	assert_int_equal(
		st_admin(&f->t, "DELETE", "/resources?id=" ADDED_BOT, NULL, &r),
		204);
	st_resp_free(&r);
	assert_first_page(f, 4, jx_str(jx_at(before, 0), "name"));
	free(tok);
	json_object_put(before);
}

/* An assignment of the operator, role role at scope, taking effect at at (0:
 * from the start). */
#define OPERATOR_ROLE(scope, role, name, at)                             \
	"{\"scope\":\"" scope "\",\"principalId\":\"0b0b0b0b-0b0b-4b0b-" \
	"8b0b-0b0b0b0b0b0b\",\"roleDefinitionId\":\"" role               \
	"\",\"name\":\"" name                                            \
	"\",\"principalType\":\"ServicePrincipal\",\"createdOn\":" at "}"

/*
 * A kept result lasts only until a role assignment takes effect, which time
 * alone does, with no write: the operator, Owner of two resources, reads two
 * rows; once its Reader assignment on the subscription starts, the same
 * first page reads all four. (Skipped when the simulator starts so slowly,
 * e.g. under valgrind, that the assignment is in effect before the first
 * query.)
 */
static void test_graph_kept_until_access(void **state)
{
#define OWNER "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define READER "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	int64_t at = (int64_t)time(NULL) + 4;
	char *merge = xasprintf(
		"{\"roleAssignments\":[" OPERATOR_ROLE(
			BOT, OWNER, "6666e101-6666-4666-8666-66666666e101",
			"0") "," OPERATOR_ROLE(OAI, OWNER,
					       "6666e102-6666-4666-8666-"
					       "66666666e102",
					       "0") "," OPERATOR_ROLE("/subscri"
								      "ptions"
								      "/" SUB,
								      READER,
								      "6666e103"
								      "-6666-"
								      "4666-"
								      "8666-"
								      "66666666"
								      "e103",
								      "%lld") "]}",
		(long long)at);
	struct fx *f = fx_start(merge);
	struct st_resp r;
	long total;

	(void)state;
	free(merge);
	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, NULL, &r), 200);
	total = (long)jx_int(r.json, "totalRecords", 0);
	st_resp_free(&r);
	if ((int64_t)time(NULL) >= at) {
		fx_stop(f);
		skip();
	}
	assert_int_equal(total, 2);
	while ((int64_t)time(NULL) <= at) {
		struct timespec ts = { 0, 100000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(graph_post(f, PAGED_QUERY, 1, -1, NULL, &r), 200);
	assert_int_equal(jx_int(r.json, "totalRecords", 0), 4);
	st_resp_free(&r);
	fx_stop(f);
#undef OWNER
#undef READER
}

/* ---- A generated tenant ---- */

#define GEN_RESOURCES 200
#define GEN_SUBS 4
#define GEN_HIDDEN_SUB "70007000-7000-4000-8000-700070007000"
#define AUDIT_QUERY                                                          \
	"Resources | where type in~ "                                        \
	"('microsoft.healthcareapis/workspaces/dicomservices', "             \
	"'microsoft.healthbot/healthbots', "                                 \
	"'microsoft.cognitiveservices/accounts') | project id, name, type, " \
	"kind, "                                                             \
	"location, subscriptionId, resourceGroup, identity, properties "     \
	"| order by subscriptionId asc, resourceGroup asc, name asc"
#define BOT_FILTER                                                     \
	"/resources?$filter=resourceType%20eq%20'Microsoft.HealthBot/" \
	"healthBots'&$expand=createdTime"

/* Starts a simulator on a generated tenant of nres resources over GEN_SUBS,
 * plus an unreadable subscription. */
static struct fx *fx_generated_n(size_t nres, struct gen_counts *counts)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char *text = gen_tenant(nres, GEN_SUBS, true, counts), *err = NULL;

	assert_non_null(text);
	if (st_start_text(&f->t, text, &err) != 0)
		fail_msg("the generated tenant did not load: %s", err);
	f->arm = st_token(&f->t, "https://management.azure.com/.default");
	assert_non_null(f->arm);
	free(text);
	return f;
}

/* Starts a simulator on a generated tenant (GEN_RESOURCES over GEN_SUBS, plus
 * an unreadable subscription). */
static struct fx *fx_generated(struct gen_counts *counts)
{
	return fx_generated_n(GEN_RESOURCES, counts);
}

/* Posts one page of a Resource Graph query over every subscription, adding its
 * rows to all; returns the next $skipToken or NULL. */
static char *query_page(struct fx *f, const char *query, int top,
			const char *skip, struct json_object *all)
{
	struct st_resp r;
	char *tok = skip ? xasprintf(",\"$skipToken\":\"%s\"", skip)
			 : xstrdup(""),
	     *next;
	char *body = xasprintf("{\"query\":\"%s\",\"options\":{\"$top\":%d%s}}",
			       query, top, tok);
	struct json_object *data;

	assert_int_equal(arm(f, "POST",
			     "/providers/Microsoft.ResourceGraph/resources",
			     "2022-10-01", body, &r),
			 200);
	data = jx_get(r.json, "data");
	assert_true(jx_len(data) <= (size_t)top);
	for (size_t i = 0; i < jx_len(data); i++)
		json_object_array_add(all, json_object_get(jx_at(data, i)));
	next = jx_str(r.json, "$skipToken")
		       ? xstrdup(jx_str(r.json, "$skipToken"))
		       : NULL;
	st_resp_free(&r);
	free(body);
	free(tok);
	return next;
}

/* Pages the audit's Resource Graph query top rows at a time; returns every row
 * seen, in order. */
static struct json_object *audit_rows(struct fx *f, int top)
{
	struct json_object *all = json_object_new_array();
	char *skip = query_page(f, AUDIT_QUERY, top, NULL, all);

	while (skip) {
		char *next = query_page(f, AUDIT_QUERY, top, skip, all);

		free(skip);
		skip = next;
	}
	return all;
}

/* Orders two rows by subscriptionId, resourceGroup and name, ordinally, as the
 * audit query asks. */
static int audit_order(struct json_object *a, struct json_object *b)
{
	static const char *const keys[] = { "subscriptionId", "resourceGroup",
					    "name" };
	int c = 0;

	for (size_t k = 0; k < 3 && c == 0; k++)
		c = strcmp(jx_str(a, keys[k]), jx_str(b, keys[k]));
	return c;
}

/* The Resource Graph query sees every readable generated resource once, sorted,
 * whatever the page size. */
static void test_generated_graph(void **state)
{
	static const int tops[] = { 1000, 50, 7 };
	struct gen_counts c;
	struct fx *f = fx_generated(&c);
	struct json_object *first = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		struct json_object *rows = audit_rows(f, tops[i]);

		assert_int_equal(jx_len(rows), c.resources);
		for (size_t k = 0; k < jx_len(rows); k++) {
			assert_string_not_equal(
				jx_str(jx_at(rows, k), "subscriptionId"),
				GEN_HIDDEN_SUB);
			assert_true(k == 0 || audit_order(jx_at(rows, k - 1),
							  jx_at(rows, k)) < 0);
		}
		if (first)
			assert_string_equal(jx_text(rows), jx_text(first));
		json_object_put(first);
		first = rows;
	}
	json_object_put(first);
	fx_stop(f);
}

/* A query over every generated resource, ordered by id, that pages at the same
 * time as the audit's. */
#define ID_QUERY "Resources | project id, name, type | order by id asc"

/* Tells whether rows are in strictly increasing ordinal order of id: none
 * doubled. */
static bool ids_increase(struct json_object *rows)
{
	for (size_t k = 1; k < jx_len(rows); k++)
		if (strcmp(jx_str(jx_at(rows, k - 1), "id"),
			   jx_str(jx_at(rows, k), "id")) >= 0)
			return false;
	return true;
}

/*
 * At 10,000 resources (1,000 under valgrind), two queries paged in turns each
 * get every row once, in order, from their own kept result; the audit's
 * paged again gives the same rows.
 */
static void test_generated_graph_interleaved(void **state)
{
	const char *queries[2] = { AUDIT_QUERY, ID_QUERY };
	struct gen_counts c;
	struct fx *f =
		fx_generated_n(getenv("AZCMK_TEST_QUICK") ? 1000 : 10000, &c);
	struct json_object *rows[2] = { json_object_new_array(),
					json_object_new_array() },
			   *again;
	char *skip[2] = { query_page(f, queries[0], 1000, NULL, rows[0]),
			  query_page(f, queries[1], 1000, NULL, rows[1]) };

	(void)state;
	while (skip[0] || skip[1])
		for (int i = 0; i < 2; i++)
			if (skip[i]) {
				char *next = query_page(f, queries[i], 1000,
							skip[i], rows[i]);

				free(skip[i]);
				skip[i] = next;
			}
	assert_int_equal(jx_len(rows[0]), c.resources);
	for (size_t k = 1; k < jx_len(rows[0]); k++)
		assert_true(audit_order(jx_at(rows[0], k - 1),
					jx_at(rows[0], k)) < 0);
	assert_true(jx_len(rows[1]) > c.resources);
	assert_true(ids_increase(rows[1]));
	assert_null(jx_get(jx_at(rows[1], 0), "properties"));
	again = audit_rows(f, 1000);
	assert_string_equal(jx_text(again), jx_text(rows[0]));
	json_object_put(again);
	json_object_put(rows[0]);
	json_object_put(rows[1]);
	fx_stop(f);
}

/* Lists every resource of a subscription through the generic list, following
 * nextLink; returns their ids in order. */
static struct json_object *sub_ids(struct fx *f, const char *sub)
{
	char *url = xasprintf(ARM "/subscriptions/%s/resources?api-version="
				  "2021-04-01",
			      sub);
	struct json_object *ids = json_object_new_array();

	while (url) {
		struct st_resp r;
		struct json_object *v;

		assert_int_equal(st_req(&f->t, "GET", url, f->arm, NULL, &r),
				 200);
		v = jx_get(r.json, "value");
		for (size_t i = 0; i < jx_len(v); i++)
			json_object_array_add(
				ids, json_object_new_string(
					     jx_str(jx_at(v, i), "id")));
		free(url);
		url = jx_str(r.json, "nextLink")
			      ? xstrdup(jx_str(r.json, "nextLink"))
			      : NULL;
		st_resp_free(&r);
	}
	return ids;
}

/* Returns the ids of the scenario's resources a generic list of a subscription
 * shows (not its groups nor authorization objects), in the scenario's order.
 */
static struct json_object *scenario_ids(struct json_object *scenario,
					const char *sub)
{
	struct json_object *all = jx_get(scenario, "resources"),
			   *ids = json_object_new_array();
	char *prefix = xasprintf("/subscriptions/%s/", sub);

	for (size_t i = 0; i < jx_len(all); i++) {
		const char *id = jx_str(jx_at(all, i), "id"),
			   *type = jx_str(jx_at(all, i), "type");

		if (str_istarts(id, prefix) &&
		    !str_ieq(type, "Microsoft.Resources/resourceGroups") &&
		    !str_istarts(type, "Microsoft.Authorization/"))
			json_object_array_add(ids, json_object_new_string(id));
	}
	free(prefix);
	return ids;
}

/* Returns the type of the scenario's resource of an id. */
static const char *scenario_type(struct json_object *scenario, const char *id)
{
	struct json_object *all = jx_get(scenario, "resources");

	for (size_t i = 0; i < jx_len(all); i++)
		if (strcmp(jx_str(jx_at(all, i), "id"), id) == 0)
			return jx_str(jx_at(all, i), "type");
	fail_msg("no resource %s in the scenario", id);
	return NULL;
}

/* Adds a resource through the admin endpoint (or replaces the one of its id);
 * asserts 200. */
static void admin_put(struct fx *f, const char *id, const char *type,
		      const char *name)
{
	struct st_resp r;
	char *body = xasprintf("{\"id\":\"%s\",\"type\":\"%s\","
			       "\"name\":\"%s\",\"location\":\"westus3\","
			       "\"tags\":{\"replaced\":\"yes\"}}",
			       id, type, name);

	assert_int_equal(st_admin(&f->t, "PUT", "/resources", body, &r), 200);
	st_resp_free(&r);
	free(body);
}

/* Deletes a resource through the admin endpoint; asserts 204. */
static void admin_delete(struct fx *f, const char *id)
{
	struct st_resp r;
	char *path = xasprintf("/resources?id=%s", id);

	assert_int_equal(st_admin(&f->t, "DELETE", path, NULL, &r), 204);
	st_resp_free(&r);
	free(path);
}

/*
 * A subscription's generic list gives exactly its resources, in the tenant's
 * order, and stays so through writes: a resource added shows in its
 * subscription's list only, at the end; one replaced keeps its place, once;
 * one deleted is gone.
 */
static void test_generated_sub_lists(void **state)
{
	struct gen_counts c;
	struct fx *f = fx_generated(&c);
	char *text = gen_tenant(GEN_RESOURCES, GEN_SUBS, true, NULL);
	struct json_object *scenario = json_tokener_parse(text),
			   *subs = jx_get(scenario, "subscriptions"), *want[2],
			   *got;
	const char *sub[2] = { jx_str(jx_at(subs, 0), "subscriptionId"),
			       jx_str(jx_at(subs, 1), "subscriptionId") };
	char *added = xasprintf("/subscriptions/%s/resourceGroups/rg-added/"
				"providers/Microsoft.HealthBot/healthBots/"
				"hb-added",
				sub[0]);

	(void)state;
	for (size_t i = 0; i < GEN_SUBS; i++) {
		const char *id = jx_str(jx_at(subs, i), "subscriptionId");
		struct json_object *w = scenario_ids(scenario, id);

		got = sub_ids(f, id);
		assert_true(jx_len(w) > 0);
		assert_string_equal(jx_text(got), jx_text(w));
		json_object_put(got);
		json_object_put(w);
	}
	want[0] = scenario_ids(scenario, sub[0]);
	want[1] = scenario_ids(scenario, sub[1]);
	admin_put(f, added, "Microsoft.HealthBot/healthBots", "hb-added");
	json_object_array_add(want[0], json_object_new_string(added));
	for (int i = 0; i < 2; i++) {
		got = sub_ids(f, sub[i]);
		assert_string_equal(jx_text(got), jx_text(want[i]));
		json_object_put(got);
	}
	admin_put(f, json_object_get_string(jx_at(want[1], 1)),
		  scenario_type(scenario,
				json_object_get_string(jx_at(want[1], 1))),
		  "replaced");
	got = sub_ids(f, sub[1]);
	assert_string_equal(jx_text(got), jx_text(want[1]));
	json_object_put(got);
	admin_delete(f, added);
	admin_delete(f, json_object_get_string(jx_at(want[1], 0)));
	json_object_array_del_idx(want[0], jx_len(want[0]) - 1, 1);
	json_object_array_del_idx(want[1], 0, 1);
	for (int i = 0; i < 2; i++) {
		got = sub_ids(f, sub[i]);
		assert_string_equal(jx_text(got), jx_text(want[i]));
		json_object_put(got);
		json_object_put(want[i]);
	}
	free(added);
	json_object_put(scenario);
	free(text);
	fx_stop(f);
}

/* Collects the creation time of every Health Bot by lower-case id, through the
 * audit's generic lists. */
static struct json_object *bot_created(struct fx *f)
{
	struct json_object *out = json_object_new_object(), *subs;
	struct st_resp r;

	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	subs = jx_get(r.json, "value");
	assert_int_equal(jx_len(subs), GEN_SUBS);
	for (size_t i = 0; i < jx_len(subs); i++) {
		char *path = xasprintf("/subscriptions/%s%s",
				       jx_str(jx_at(subs, i), "subscriptionId"),
				       BOT_FILTER);
		struct st_resp l;

		assert_int_equal(arm(f, "GET", path, "2021-04-01", NULL, &l),
				 200);
		assert_null(jx_get(l.json, "nextLink"));
		for (size_t k = 0; k < jx_len(jx_get(l.json, "value")); k++) {
			struct json_object *bot =
				jx_at(jx_get(l.json, "value"), k);
			char *id = str_lower(jx_str(bot, "id"));

			json_object_object_add(
				out, id,
				json_object_get(jx_get(bot, "createdTime")));
			free(id);
		}
		st_resp_free(&l);
		free(path);
	}
	st_resp_free(&r);
	return out;
}

/* Tells whether a Resource Graph row of the audit query could take a
 * customer-managed key. */
static bool row_eligible(struct json_object *row, struct json_object *created)
{
	const char *type = jx_str(row, "type");
	struct json_object *caps = jx_get(row, "properties.capabilities"),
			   *when = NULL;
	char *id = str_lower(jx_str(row, "id"));
	bool ok = true;

	if (strcmp(type, "microsoft.healthbot/healthbots") == 0) {
		assert_true(json_object_object_get_ex(created, id, &when));
		ok = strcmp(json_object_get_string(when), "2021-11-11") >= 0;
	} else if (strcmp(type, "microsoft.cognitiveservices/accounts") == 0) {
		ok = false;
		for (size_t i = 0; i < jx_len(caps); i++)
			ok |= str_ieq(jx_str(jx_at(caps, i), "name"),
				      "CustomerManagedKey");
	}
	free(id);
	return ok;
}

/* Tells whether a Resource Graph row of the audit query is on a
 * customer-managed key. */
static bool row_on_cmk(struct json_object *row)
{
	return jx_str(row, "properties.encryption.customerManagedKeyEncryption."
			   "keyEncryptionKeyUrl") ||
	       jx_str(row, "properties.keyVaultProperties.keyName") ||
	       str_ieq(jx_str(row, "properties.encryption.keySource"),
		       "Microsoft.KeyVault");
}

/* Adds the shallow-audit findings of one row, by the rules gentenant.h counts
 * by. */
static void count_row(struct json_object *row, struct json_object *created,
		      struct gen_counts *seen)
{
	bool foundry = str_ieq(jx_str(row, "kind"), "AIServices");
	const char *idt = jx_str(row, "identity.type");

	seen->per_rule[GR_READY] +=
		strcmp(jx_str(row, "properties.provisioningState"),
		       "Succeeded") != 0;
	if (!row_eligible(row, created)) {
		seen->per_rule[GR_ELIGIBLE]++;
	} else if (row_on_cmk(row)) {
		seen->per_rule[GR_SAME_VAULT] += foundry;
	} else {
		seen->per_rule[GR_CMK]++;
		seen->per_rule[GR_IDENTITY_ENABLED] +=
			!idt || str_ieq(idt, "None");
		seen->per_rule[GR_IRREVERSIBLE] += foundry;
	}
	seen->per_rule[GR_IDENTITY_ALLOWED] +=
		str_ieq(idt, "UserAssigned") &&
		str_ieq(jx_str(row, "kind"), "OpenAI");
}

/* The findings the generator promises are the ones the simulator's answers
 * give, and each rule but one fires. */
static void test_generated_findings(void **state)
{
	struct gen_counts c, seen = { 0, { 0 } };
	struct fx *f = fx_generated(&c);
	struct json_object *rows = audit_rows(f, 1000),
			   *created = bot_created(f);

	(void)state;
	for (size_t i = 0; i < jx_len(rows); i++)
		count_row(jx_at(rows, i), created, &seen);
	for (int r = 0; r < GR_N; r++) {
		assert_int_equal(seen.per_rule[r], c.per_rule[r]);
		assert_true(r == GR_IDENTITY_ALLOWED ? c.per_rule[r] == 0
						     : c.per_rule[r] > 0);
	}
	json_object_put(rows);
	json_object_put(created);
	fx_stop(f);
}

/* ---- Robustness and the proxy ---- */

/* Sends raw bytes to a port and returns the first line of the answer. */
static char *raw(int port, const char *request)
{
	CURL *c = curl_easy_init();
	char *url = xasprintf("telnet://127.0.0.1:%d", port), buf[256] = "";
	size_t n = 0;
	curl_socket_t fd;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd);
	curl_easy_send(c, request, strlen(request), &n);
	for (int i = 0; i < 200 && curl_easy_recv(c, buf, sizeof(buf) - 1,
						  &n) == CURLE_AGAIN;
	     i++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	curl_easy_cleanup(c);
	free(url);
	*strchrnul(buf, '\r') = '\0';
	return xstrdup(buf);
}

/* The proxy refuses hosts it does not serve (like a failed DNS lookup) and
 * anything but CONNECT. */
static void test_proxy(void **state)
{
	struct fx *f = *state;
	char *line;
	struct st_resp r;

	line = raw(f->t.proxy, "CONNECT example.com:443 HTTP/1.1\r\nHost: "
			       "example.com:443\r\n\r\n");
	assert_string_equal(line, "HTTP/1.1 502 Bad Gateway");
	free(line);
	line = raw(f->t.proxy,
		   "CONNECT novault.vault.azure.net:443 HTTP/1.1\r\n\r\n");
	assert_string_equal(line, "HTTP/1.1 502 Bad Gateway");
	free(line);
	line = raw(f->t.proxy,
		   "GET http://management.azure.com/ HTTP/1.1\r\n\r\n");
	assert_string_equal(line, "HTTP/1.1 405 Method Not Allowed");
	free(line);
	line = raw(f->t.proxy, "garbage\r\n\r\n");
	assert_string_equal(line, "HTTP/1.1 400 Bad Request");
	free(line);
	assert_int_equal(
		st_req(&f->t, "GET",
		       "https://kv-cmk-test.vault.azure.net/?api-version=7.5",
		       f->vault, NULL, &r),
		404);
	st_resp_free(&r);
}

/* Huge headers, unknown paths and odd methods get errors, never a crash. */
static void test_robustness(void **state)
{
	struct fx *f = *state;
	struct st_resp r;
	char *big = xmalloc(300000), *hdr;
	const char *hdrs[2];

	memset(big, 'a', 299999);
	big[299999] = '\0';
	hdr = xasprintf("X-Big: %s", big);
	hdrs[0] = hdr;
	hdrs[1] = NULL;
	st_req_hdr(&f->t, "GET", ARM "/subscriptions?api-version=2022-12-01",
		   hdrs, NULL, &r);
	assert_true(r.status == 431 || r.status == 413 || r.rc != CURLE_OK);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/nonsense/path", "2021-04-01", NULL, &r), 404);
	st_resp_free(&r);
	assert_int_equal(arm(f, "BREW",
			     "/subscriptions/" SUB
			     "/resourceGroups/rg-cmk-test",
			     "2021-04-01", NULL, &r),
			 405);
	st_resp_free(&r);
	assert_int_equal(st_req(&f->t, "GET",
				"https://graph.microsoft.com/v1.0/me", NULL,
				NULL, &r),
			 401);
	st_resp_free(&r);
	assert_int_equal(
		arm(f, "GET", "/subscriptions", "2022-12-01", NULL, &r), 200);
	st_resp_free(&r);
	free(big);
	free(hdr);
}

/* A scenario that breaks the schema is refused with the JSON path of the fault.
 */
static void test_bad_scenarios(void **state)
{
	static const struct {
		const char *text, *path;
	} T[] = {
		{ "{", "not valid JSON" },
		{ "[]", "$" },
		{ "{\"tenantId\":\"x\"}", "$.tenantId" },
		{ "{\"tenantId\":\"11111111-1111-4111-8111-111111111111\","
		  "\"operator\":{\"clientId\":\"11111111-1111-4111-8111-"
		  "111111111111\","
		  "\"objectId\":\"11111111-1111-4111-8111-111111111111\"},"
		  "\"subscriptions\":[{\"subscriptionId\":\"22222222-2222-4222-"
		  "8222-222222222222\","
		  "\"displayName\":\"s\"}],\"resources\":[{\"id\":\"/"
		  "subscriptions/22222222-2222-4222-8222-222222222222/"
		  "resourceGroups/g\","
		  "\"type\":\"Microsoft.KeyVault/vaults\",\"name\":\"g\"}]}",
		  "$.resources[0].type" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct simtest t;
		char *err = NULL;

		assert_int_equal(st_start_text(&t, T[i].text, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, T[i].path));
		free(err);
	}
}

/* Runs the simulator integration tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entra_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_entra_discovery, setup,
						teardown),
		cmocka_unit_test(test_entra_device_code),
		cmocka_unit_test(test_entra_refresh),
		cmocka_unit_test(test_entra_certificate),
		cmocka_unit_test(test_entra_x5c),
		cmocka_unit_test(test_entra_federated),
		cmocka_unit_test(test_managed_hsm),
		cmocka_unit_test_setup_teardown(test_random_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arm_reads_and_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_arm_expired_token, setup,
						teardown),
		cmocka_unit_test(test_arm_paging_and_filter),
		cmocka_unit_test_setup_teardown(test_arm_vault_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deploy_expressions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deploy_resources, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_role_assignments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_role_definitions_and_permissions, setup, teardown),
		cmocka_unit_test(test_operator_permissions_enforced),
		cmocka_unit_test_setup_teardown(test_kv_challenge, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kv_keys, setup, teardown),
		cmocka_unit_test(test_kv_exp_in),
		cmocka_unit_test_setup_teardown(test_kv_versions_paged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kv_wrap, setup, teardown),
		cmocka_unit_test(test_kv_authorization),
		cmocka_unit_test_setup_teardown(test_kv_firewall, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmk_save_openai, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_health_openai, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmk_dicom_error_shape,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmk_save_dicom, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmk_save_healthbot_uai,
						setup, teardown),
		cmocka_unit_test(test_cmk_refusals),
		cmocka_unit_test(test_cmk_foundry_one_way),
		cmocka_unit_test(test_cmk_propagation),
		cmocka_unit_test(test_demo_consistency),
		cmocka_unit_test(test_lro),
		cmocka_unit_test(test_lro_failure),
		cmocka_unit_test(test_lro_dicom),
		cmocka_unit_test(test_lro_headers_both),
		cmocka_unit_test(test_lro_unpolled),
		cmocka_unit_test(test_lro_unpolled_failure),
		cmocka_unit_test(test_region_names),
		cmocka_unit_test_setup_teardown(test_arm_keys_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arm_keys_create, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arm_paging_top, setup,
						teardown),
		cmocka_unit_test(test_tenant_and_subscription),
		cmocka_unit_test_setup_teardown(test_projects, setup, teardown),
		cmocka_unit_test(test_region_names_scenario),
		cmocka_unit_test_setup_teardown(test_fault_status, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_transport, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_graph, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_endpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resource_graph, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_graph_quota, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_graph_truncated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_graph_paging_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_graph_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_graph_paging_after_write,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_graph_paging_bad_token,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_graph_paging_bounded,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_graph_kept_until_write,
						setup, teardown),
		cmocka_unit_test(test_graph_kept_until_access),
		cmocka_unit_test(test_generated_graph),
		cmocka_unit_test(test_generated_graph_interleaved),
		cmocka_unit_test(test_generated_sub_lists),
		cmocka_unit_test(test_generated_findings),
		cmocka_unit_test_setup_teardown(test_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_robustness, setup,
						teardown),
		cmocka_unit_test(test_bad_scenarios),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
