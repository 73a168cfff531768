/* The simulator's certificates: a CA made at start, a server certificate for
 * Azure's host names, a token-signing key. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "b64.h"
#include "tls.h"
#include "xalloc.h"

/* Every name the server answers for, in all three public clouds, plus the admin
 * host. */
static const char SERVER_NAMES[] =
	"DNS:login.microsoftonline.com,DNS:login.microsoftonline.us,DNS:login."
	"chinacloudapi.cn,"
	"DNS:login.windows.net,DNS:sts.windows.net,"
	"DNS:management.azure.com,DNS:management.usgovcloudapi.net,DNS:"
	"management.chinacloudapi.cn,"
	"DNS:*.vault.azure.net,DNS:*.vault.usgovcloudapi.net,DNS:*.vault.azure."
	"cn,"
	"DNS:*.managedhsm.azure.net,DNS:*.managedhsm.usgovcloudapi.net,DNS:*."
	"managedhsm.azure.cn,"
	"DNS:graph.microsoft.com,DNS:graph.microsoft.us,DNS:microsoftgraph."
	"chinacloudapi.cn,"
	"DNS:sim.local,DNS:localhost,IP:127.0.0.1";

/* Makes a fresh P-256 key: fast to generate, accepted by every TLS stack we
 * meet. */
static EVP_PKEY *new_ec_key(void)
{
	return EVP_EC_gen("P-256");
}

/* Adds one X.509v3 extension given in OpenSSL's configuration syntax. */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

/* Fills the fields every certificate shares: serial, validity, subject name;
 * NULL without a random serial. */
static X509 *new_cert(EVP_PKEY *key, const char *cn)
{
	X509 *cert;
	unsigned char serial[16];
	BIGNUM *bn;

	if (RAND_bytes(serial, sizeof(serial)) != 1)
		return NULL;
	cert = X509_new();
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	X509_set_version(cert, 2);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
	X509_set_pubkey(cert, key);
	X509_NAME_add_entry_by_txt(
		X509_get_subject_name(cert), "O", MBSTRING_ASC,
		(const unsigned char *)"azcmk-sim", -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
				   MBSTRING_ASC, (const unsigned char *)cn, -1,
				   -1, 0);
	return cert;
}

/* Serialises a certificate or a private key to an allocated PEM string. */
static char *to_pem(X509 *cert, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	if (cert)
		PEM_write_bio_X509(bio, cert);
	else
		PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &data);
	pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return pem;
}

/* Makes the self-signed CA certificate. */
static X509 *make_ca(EVP_PKEY *key)
{
	X509 *ca = new_cert(key, "azcmk-sim test CA (not for production)");

	if (!ca)
		return NULL;
	X509_set_issuer_name(ca, X509_get_subject_name(ca));
	if (add_ext(ca, ca, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") ||
	    add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
	    !X509_sign(ca, key, EVP_sha256())) {
		X509_free(ca);
		return NULL;
	}
	return ca;
}

/* Makes the server certificate for every simulated host, signed by the CA. */
static X509 *make_server(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
	X509 *cert = new_cert(key, "management.azure.com");

	if (!cert)
		return NULL;
	X509_set_issuer_name(cert, X509_get_subject_name(ca));
	if (add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(cert, ca, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment") ||
	    add_ext(cert, ca, NID_ext_key_usage, "serverAuth") ||
	    add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") ||
	    add_ext(cert, ca, NID_subject_alt_name, SERVER_NAMES) ||
	    !X509_sign(cert, ca_key, EVP_sha256())) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Returns OpenSSL's reason for the last failure, or a stand-in when it gave
 * none. */
static const char *openssl_reason(void)
{
	const char *why = ERR_reason_error_string(ERR_get_error());

	return why ? why : "OpenSSL gave no reason";
}

/*
 * Generates the CA, the server certificate and (once per process) the
 * token-signing key; returns 0, or -1 with an allocated message.
 */
int tls_init(struct sim_tls *t, char **err)
{
	EVP_PKEY *ca_key = new_ec_key(), *key = new_ec_key();
	X509 *ca = NULL, *cert = NULL;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (ca_key && key)
		ca = make_ca(ca_key);
	if (ca)
		cert = make_server(key, ca, ca_key);
	if (cert) {
		t->ca_pem = to_pem(ca, NULL);
		t->cert_pem = to_pem(cert, NULL);
		t->key_pem = to_pem(NULL, key);
		rc = 0;
	} else {
		*err = xasprintf("cannot make the simulator's certificates: %s",
				 openssl_reason());
	}
	if (rc == 0 && !tls_token_key(t)) {
		*err = xasprintf(
			"cannot make the simulator's token-signing key: %s",
			openssl_reason());
		tls_free(t);
		rc = -1;
	}
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return rc;
}

static pthread_once_t token_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *process_token_key;
static char process_token_kid[48];

/*
 * Makes the process's token-signing key: RSA generation is slow, so
 * simulators in one process share it. Left NULL when the key or its random
 * id cannot be made (tls_init then refuses to start).
 */
static void make_token_key(void)
{
	unsigned char id[12];
	char *kid;

	process_token_key = EVP_RSA_gen(2048);
	if (process_token_key && RAND_bytes(id, sizeof(id)) != 1) {
		EVP_PKEY_free(process_token_key);
		process_token_key = NULL;
	}
	if (!process_token_key)
		return;
	kid = b64_encode(id, sizeof(id), true);
	snprintf(process_token_kid, sizeof(process_token_kid), "%s", kid);
	free(kid);
}

/* Returns the RSA key that signs access tokens, generated once per process on
 * first use; NULL when it could not be. */
EVP_PKEY *tls_token_key(struct sim_tls *t)
{
	pthread_once(&token_once, make_token_key);
	if (!t->token_key && process_token_key) {
		EVP_PKEY_up_ref(process_token_key);
		t->token_key = process_token_key;
		snprintf(t->token_kid, sizeof(t->token_kid), "%s",
			 process_token_kid);
	}
	return t->token_key;
}

/* Releases the certificates and keys. */
void tls_free(struct sim_tls *t)
{
	free(t->ca_pem);
	free(t->cert_pem);
	free(t->key_pem);
	EVP_PKEY_free(t->token_key);
	memset(t, 0, sizeof(*t));
}
