/* Fuzzes the wire rules (src/core/wire.c): the first byte picks the parser, the
 * rest is what the server sent. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "jx.h"
#include "keyref.h"
#include "text.h"
#include "rules.h"
#include "wire.h"

/* An error body as ARM, Key Vault, Graph or Entra ID return it. */
static void error_body(const char *text)
{
	char *err = NULL;
	struct json_object *o = jx_parse(text, strlen(text), &err);
	struct az_wire_error e;

	if (wire_parse_error(o, &e)) {
		FUZZ_CHECK(e.code && e.message &&
			   !strpbrk(e.message, "\r\n\x1b") &&
			   !strpbrk(e.code, "\r\n\x1b"));
		FUZZ_CHECK(!e.inner || !strpbrk(e.inner, "\r\n\x1b"));
		/* A refusal maps to a rule azcmk has, or to none. */
		{
			const char *rule =
				cmk_rule_for_error(e.code, e.inner, e.message);

			FUZZ_CHECK(!rule || cmk_rule_find(rule) != NULL);
		}
		wire_error_free(&e);
	}
	json_object_put(o);
	free(err);
}

/* Retry-After (seconds or an HTTP-date) and x-ms-retry-after-ms, one per line.
 */
static void retry_after(char *text)
{
	char *ms = fuzz_cut(text);

	FUZZ_CHECK(wire_retry_after_ms(text, ms, FUZZ_NOW) >= -1);
	FUZZ_CHECK(wire_retry_after_ms(text, NULL, FUZZ_NOW) >= -1);
	FUZZ_CHECK(wire_retry_after_ms(NULL, ms, 0) >= -1);
}

/* Resource Graph's quota headers, remaining and resets-after, one per line: a
 * quota read is never negative, and its window never longer than 25 days. */
static void graph_quota(char *text)
{
	char *reset = fuzz_cut(text);
	struct az_graph_quota q = { -7, -7 };
	int64_t ms = wire_timespan_ms(reset);

	FUZZ_CHECK(ms >= -1 && ms < 25LL * 24 * 3600 * 1000);
	if (wire_graph_quota(text, reset, &q))
		FUZZ_CHECK(q.remaining >= 0 && q.reset_ms == ms);
	else
		FUZZ_CHECK(q.remaining == -7 && q.reset_ms == -7);
}

/* A redaction: the result is a new string, whatever the input. */
static void redact(char *(*fn)(const char *), const char *text)
{
	char *out = fn(text);

	FUZZ_CHECK(out != NULL);
	free(out);
}

/* A Key Vault WWW-Authenticate challenge, checked against a vault host. */
static void challenge(const char *text)
{
	struct az_challenge c;

	if (!wire_parse_challenge(text, &c))
		return;
	FUZZ_CHECK(c.authorization && c.scope && c.resource_host);
	/* The host checked against the vault is the one of the scope the token
	 * is asked for. */
	{
		char host[256];
		bool https;

		FUZZ_CHECK(wire_url_host(c.scope, host, sizeof(host), &https) &&
			   strcasecmp(host, c.resource_host) == 0);
	}
	(void)wire_challenge_matches(&c, "kv-prod.vault.azure.net");
	(void)wire_challenge_matches(&c, "");
	wire_challenge_free(&c);
}

/* An escaped URL holds only URL bytes, keeps the origin of the one it came
 * from, and escaping it again changes nothing. */
static void url_escape(const char *text)
{
	char *e = wire_url_escape(text), *again;

	if (!e)
		return;
	for (const char *p = e; *p; p++)
		FUZZ_CHECK((unsigned char)*p > 0x20 &&
			   (unsigned char)*p < 0x7f &&
			   !strchr("\"<>\\^`{|}", *p));
	FUZZ_CHECK(wire_same_origin(e, "https://management.azure.com") ==
		   wire_same_origin(text, "https://management.azure.com"));
	again = wire_url_escape(e);
	FUZZ_CHECK(again && strcmp(again, e) == 0);
	free(again);
	free(e);
}

/* A URL's host, into a small buffer and a large one. */
static void url_host(const char *text)
{
	char small[8], host[256];
	bool https;

	if (wire_url_host(text, small, sizeof(small), &https))
		FUZZ_CHECK(strlen(small) > 0 && strlen(small) < sizeof(small));
	if (wire_url_host(text, host, sizeof(host), &https))
		FUZZ_CHECK(strlen(host) > 0 && strlen(host) < sizeof(host));
	/* A URL is always its own origin when it may carry a token at all, and
	 * never a look-alike's. */
	if (wire_same_origin(text, text))
		FUZZ_CHECK(strncasecmp(text, "https://", 8) == 0);
	FUZZ_CHECK(!wire_same_origin(text, "https://management.azure.com") ||
		   strncasecmp(text + 8, "management.azure.com", 20) == 0);
	/* The same host means nothing but a path, a query, a fragment or the
	 * default port follows the host. */
	if (wire_same_origin(text, "https://management.azure.com")) {
		const char *rest = text + 28;

		if (strncmp(rest, ":443", 4) == 0)
			rest += 4;
		FUZZ_CHECK(!*rest || *rest == '/' || *rest == '?' ||
			   *rest == '#');
	}
	url_escape(text);
}

/* A key URI through the one parser: what it takes is on the cloud's key store
 * hosts and formats back to itself. */
static void key_uri(const char *text)
{
	static const struct key_suffixes sfx = { ".vault.azure.net",
						 ".managedhsm.azure.net" };
	struct key_ref k, again;
	static const struct key_ref ours = {
		"https://kv-health.vault.azure.net/", "kv-health", "cmk", NULL,
		false
	};
	const char *why, *ver = key_ref_version_in(&ours, text);
	char *uri;

	/* A kid a server sends is a version of our key only when it is our
	 * key's URI, '/', then a version. */
	if (ver) {
		FUZZ_CHECK(
			strncasecmp(
				text,
				"https://kv-health.vault.azure.net/keys/cmk/",
				43) == 0 &&
			ver == text + 43 && *ver && !strchr(ver, '/') &&
			!strchr(ver, '?'));
	}
	if (!key_ref_parse(text, &sfx, &k, &why)) {
		FUZZ_CHECK(why != NULL && k.vault_uri == NULL);
		return;
	}
	FUZZ_CHECK(k.vault_uri && k.vault && k.name && *k.name);
	FUZZ_CHECK(str_iends(k.vault_uri, k.hsm ? ".managedhsm.azure.net/"
						: ".vault.azure.net/"));
	uri = key_ref_uri(&k);
	FUZZ_CHECK(key_ref_parse(uri, &sfx, &again, &why) &&
		   strcmp(again.vault_uri, k.vault_uri) == 0 &&
		   strcmp(again.name, k.name) == 0);
	key_ref_free(&again);
	free(uri);
	key_ref_free(&k);
}

/* A token answer's expiry, at the fixed time and at the edges of the clock. */
static void expiry(const char *text)
{
	char *err = NULL;
	struct json_object *o = jx_parse(text, strlen(text), &err);

	FUZZ_CHECK(wire_parse_expiry(o, FUZZ_NOW) >= -1);
	(void)wire_parse_expiry(o, INT64_MAX);
	(void)wire_parse_expiry(o, 0);
	json_object_put(o);
	free(err);
}

/* A token's claims read without verification, and a scope turned into a
 * resource. */
static void token(const char *text)
{
	char *r = wire_scope_resource(text);

	json_object_put(wire_jwt_claims(text));
	free(r);
}

/* Backoff from bytes: attempt, base, cap and jitter, all within what the
 * session passes. */
static void backoff(const uint8_t *d, size_t n)
{
	int attempt = n > 0 ? d[0] % 64 : 0;
	int64_t base = n > 2 ? (d[1] << 8 | d[2]) * 10 : 800,
		max = n > 4 ? (int64_t)(d[3] << 8 | d[4]) * 100 : 60000;
	double jitter = n > 5 ? d[5] / 255.0 : 0.5;
	int64_t ms = wire_backoff_ms(attempt, base, max, jitter);

	FUZZ_CHECK(ms >= 0 && ms <= max);
	(void)wire_status_retryable(n > 7 ? (long)(d[6] << 8 | d[7]) : 0);
}

/* Runs one input through the parser its first byte picks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	text = fuzz_str(data + 1, size - 1);
	switch (data[0] % 12) {
	case 0:
		error_body(text);
		break;
	case 1:
		retry_after(text);
		break;
	case 2:
		redact(wire_redact_form, text);
		break;
	case 3:
		redact(wire_redact_json_text, text);
		break;
	case 4:
		redact(wire_redact_header, text);
		break;
	case 5:
		challenge(text);
		break;
	case 6:
		url_host(text);
		break;
	case 7:
		key_uri(text);
		break;
	case 8:
		expiry(text);
		break;
	case 9:
		token(text);
		break;
	case 10:
		graph_quota(text);
		break;
	default:
		backoff(data + 1, size - 1);
		break;
	}
	free(text);
	return 0;
}
