/* JSON Web Tokens: signing (RS256, PS256), decoding and verifying, with
 * OpenSSL. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>

#include "b64.h"
#include "jwt.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* Signs data with RS256 (PKCS#1 v1.5) or PS256 (PSS, salt = digest length);
 * returns base64url or NULL. */
static char *sign(EVP_PKEY *key, const char *data, bool pss)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char sig[1024];
	size_t n = sizeof(sig);
	char *out = NULL;

	if (ctx &&
	    EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) == 1 &&
	    (!pss ||
	     (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) ==
		      1)) &&
	    EVP_DigestSign(ctx, sig, &n, (const unsigned char *)data,
			   strlen(data)) == 1)
		out = b64_encode(sig, n, true);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* Signs claims under a header that names the algorithm (RS256 or PS256); NULL
 * when signing fails. */
char *jwt_sign_header(EVP_PKEY *key, struct json_object *header,
		      struct json_object *claims)
{
	struct sbuf b = SBUF_INIT;
	const char *ht = jx_text(header), *pt;
	char *h = b64_encode(ht, strlen(ht), true), *p, *sig;

	pt = jx_text(claims);
	p = b64_encode(pt, strlen(pt), true);
	sb_printf(&b, "%s.%s", h, p);
	sig = sign(key, sb_str(&b), str_ieq(jx_str(header, "alg"), "PS256"));
	free(h);
	free(p);
	if (!sig) {
		sb_free(&b);
		return NULL;
	}
	sb_printf(&b, ".%s", sig);
	free(sig);
	return sb_steal(&b);
}

/* Mints an RS256 token with x5t and kid set to kid (as Entra ID's tokens
 * carry). */
char *jwt_sign(EVP_PKEY *key, const char *kid, struct json_object *claims)
{
	struct json_object *hdr = json_object_new_object();
	char *tok;

	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "x5t", json_object_new_string(kid));
	json_object_object_add(hdr, "kid", json_object_new_string(kid));
	tok = jwt_sign_header(key, hdr, claims);
	json_object_put(hdr);
	return tok;
}

/* Decodes one base64url JSON segment of a token. */
static struct json_object *segment(const char *s, size_t n)
{
	size_t len;
	unsigned char *raw = b64_decode(s, n, &len);
	struct json_object *o;
	char *err = NULL;

	if (!raw)
		return NULL;
	o = jx_parse((const char *)raw, len, &err);
	free(raw);
	free(err);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* Splits and decodes a compact JWS; returns false for anything malformed. */
bool jwt_decode(const char *token, struct jwt *out)
{
	const char *d1, *d2;

	memset(out, 0, sizeof(*out));
	if (!token || !(d1 = strchr(token, '.')) ||
	    !(d2 = strchr(d1 + 1, '.')) || strchr(d2 + 1, '.'))
		return false;
	out->header = segment(token, (size_t)(d1 - token));
	out->claims = segment(d1 + 1, (size_t)(d2 - d1 - 1));
	out->sig = b64_decode(d2 + 1, strlen(d2 + 1), &out->siglen);
	out->signed_part = xstrndup(token, (size_t)(d2 - token));
	if (!out->header || !out->claims || !out->sig) {
		jwt_free(out);
		return false;
	}
	return true;
}

/* Checks the signature with RS256 or PS256 as the header says; other algorithms
 * fail. */
bool jwt_verify(const struct jwt *t, EVP_PKEY *key)
{
	const char *alg = jx_str(t->header, "alg");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false, pss = alg && strcmp(alg, "PS256") == 0;

	if (!ctx || !alg || (!pss && strcmp(alg, "RS256") != 0))
		goto out;
	if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1)
		goto out;
	if (pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, t->sig, t->siglen,
			      (const unsigned char *)t->signed_part,
			      strlen(t->signed_part)) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Releases a decoded token. */
void jwt_free(struct jwt *t)
{
	json_object_put(t->header);
	json_object_put(t->claims);
	free(t->sig);
	free(t->signed_part);
	memset(t, 0, sizeof(*t));
}
