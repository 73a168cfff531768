/* Unit tests of the wire rules: error bodies, retry timing, Key Vault
 * challenges, redaction, tokens. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "wire.h"

/* Error bodies of each service and what must be read from them. */
static void test_parse_error(void **state)
{
	static const struct {
		const char *body, *code, *inner, *message;
		int aadsts;
	} T[] = {
		{ "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":"
		  "\"The client 'x' ...\"}}",
		  "AuthorizationFailed", NULL, "The client 'x' ...", 0 },
		{ "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is "
		  "not authorized.\\r\\nCaller: oid=1\","
		  "\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}",
		  "Forbidden", "ForbiddenByRbac", "Caller is not authorized.",
		  0 },
		{ "{\"error\":{\"code\":\"KeyVaultAccessForbidden\","
		  "\"message\":\"m\",\"details\":[{\"code\":"
		  "\"ForbiddenByFirewall\"}]}}",
		  "KeyVaultAccessForbidden", "ForbiddenByFirewall", "m", 0 },
		/* The healthcare agent service wraps each detail as a whole
		   error (healthbot.json definitions/Error). */
		{ "{\"error\":{\"code\":\"BadRequest\",\"message\":\"m\","
		  "\"details\":[{\"error\":{\"code\":\"ForbiddenByRbac\","
		  "\"message\":\"d\"}}],\"additionalInfo\":[]}}",
		  "BadRequest", "ForbiddenByRbac", "m", 0 },
		/* The DICOM service's ErrorDetails: code, message and target,
		   no details. */
		{ "{\"error\":{\"code\":\"BadRequest\",\"message\":\"m\","
		  "\"target\":\"properties.encryption\"}}",
		  "BadRequest", NULL, "m", 0 },
		{ "{\"error\":\"invalid_client\",\"error_description\":"
		  "\"AADSTS7000215: Invalid client secret provided.\\r\\n"
		  "Trace ID: 1\"}",
		  "invalid_client", NULL,
		  "AADSTS7000215: Invalid client secret provided.", 7000215 },
		{ "{\"error\":{\"code\":\"X\",\"message\":\"evil\\u001b[2J "
		  "text\"}}",
		  "X", NULL, "evil?[2J text", 0 },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *o = json_tokener_parse(T[i].body);
		struct az_wire_error e;

		assert_true(wire_parse_error(o, &e));
		assert_string_equal(e.code, T[i].code);
		if (T[i].inner)
			assert_string_equal(e.inner, T[i].inner);
		else
			assert_null(e.inner);
		assert_string_equal(e.message, T[i].message);
		assert_int_equal(e.aadsts, T[i].aadsts);
		wire_error_free(&e);
		json_object_put(o);
	}
	{
		struct az_wire_error e;
		struct json_object *o = json_tokener_parse("{\"value\":[]}");

		assert_false(wire_parse_error(o, &e));
		assert_false(wire_parse_error(NULL, &e));
		json_object_put(o);
	}
}

/* Retry-After in seconds or as a date, x-ms-retry-after-ms first; and which
 * statuses are retried. */
static void test_retry_after(void **state)
{
	int64_t now = 1784000000;

	assert_int_equal(wire_retry_after_ms("3", NULL, now), 3000);
	assert_int_equal(wire_retry_after_ms("0", NULL, now), 0);
	assert_int_equal(wire_retry_after_ms("3", "250", now), 250);
	assert_int_equal(wire_retry_after_ms(NULL, "x", now), -1);
	assert_int_equal(wire_retry_after_ms("soon", NULL, now), -1);
	assert_int_equal(wire_retry_after_ms("-5", NULL, now), -1);
	assert_int_equal(wire_retry_after_ms(NULL, NULL, now), -1);
	assert_int_equal(wire_retry_after_ms("Tue, 14 Jul 2026 04:53:30 GMT",
					     NULL, 1784004800),
			 10000);
	assert_int_equal(wire_retry_after_ms("Tue, 14 Jul 2026 04:53:30 GMT",
					     NULL, 1784004900),
			 0);
	for (long s = 100; s < 600; s++)
		assert_int_equal(wire_status_retryable(s),
				 s == 408 || s == 429 || s == 500 || s == 502 ||
					 s == 503 || s == 504);
}

/* Resource Graph's quota headers: a .NET TimeSpan for the reset, a count for
 * what is left; anything else is not read. */
static void test_graph_quota(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} spans[] = {
		{ "00:00:05", 5000 },
		{ "00:00:00", 0 },
		{ "00:01:03", 63000 },
		{ "1:02:03", 3723000 },
		{ "00:00:03.5", 3500 },
		{ "00:00:03.1234567", 3123 },
		{ "1.00:00:01", 86401000 },
		{ "24.23:59:59", 2159999000 },
		{ "25.00:00:00", -1 },
		{ "00:00:60", -1 },
		{ "00:60:00", -1 },
		{ "24:00:00", -1 },
		{ "-00:00:05", -1 },
		{ "00:00:05 ", -1 },
		{ "00:00", -1 },
		{ "5", -1 },
		{ "", -1 },
		{ "00:00:03.", -1 },
		{ "00:00:03.12345678", -1 },
		{ "1.2.00:00:01", -1 },
		{ "a0:00:01", -1 },
		{ "000:00:01", -1 },
	};
	struct az_graph_quota q = { 99, 99 };

	(void)state;
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
		assert_int_equal(wire_timespan_ms(spans[i].in), spans[i].ms);
	assert_int_equal(wire_timespan_ms(NULL), -1);
	assert_true(wire_graph_quota("14", "00:00:05", &q));
	assert_int_equal(q.remaining, 14);
	assert_int_equal(q.reset_ms, 5000);
	assert_true(wire_graph_quota("0", "00:00:02", &q));
	assert_int_equal(q.remaining, 0);
	assert_int_equal(q.reset_ms, 2000);
	/* Half a quota is no quota: q is left as it was. */
	assert_false(wire_graph_quota("3", NULL, &q));
	assert_false(wire_graph_quota(NULL, "00:00:01", &q));
	assert_false(wire_graph_quota("-1", "00:00:01", &q));
	assert_false(wire_graph_quota("1x", "00:00:01", &q));
	assert_false(wire_graph_quota("", "00:00:01", &q));
	assert_false(wire_graph_quota("1234567890", "00:00:01", &q));
	assert_false(wire_graph_quota("3", "soon", &q));
	assert_int_equal(q.remaining, 0);
	assert_int_equal(q.reset_ms, 2000);
}

/* Retry-After values at the edges (huge seconds, dates out of range) saturate
 * or are refused, never overflow. */
static void test_retry_after_extremes(void **state)
{
	static const struct {
		const char *ra, *ra_ms;
		int64_t want;
	} T[] = {
		{ "9223372036854775807", NULL, INT64_MAX },
		{ "99999999999999999999", NULL, INT64_MAX },
		{ "9223372036854776", NULL, INT64_MAX },
		{ "9223372036854775", NULL, INT64_C(9223372036854775000) },
		{ NULL, "9223372036854775807", INT64_MAX },
		{ "Tue, 14 Jul 2147483647 04:53:30 GMT", NULL, -1 },
		{ "Tue, 14 Jul -2147483648 04:53:30 GMT", NULL, -1 },
		{ "Tue, 14 Jul 1969 04:53:30 GMT", NULL, -1 },
		{ "Tue, 32 Jul 2026 04:53:30 GMT", NULL, -1 },
		{ "Tue, 0 Jul 2026 04:53:30 GMT", NULL, -1 },
		{ "Tue, 14 Jul 2026 24:00:00 GMT", NULL, -1 },
		{ "Tue, 14 Jul 2026 04:60:00 GMT", NULL, -1 },
		{ "Tue, 14 Jul 2026 04:53:61 GMT", NULL, -1 },
		{ "Tue, 14 Jul 2026 04:-1:00 GMT", NULL, -1 },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", NULL,
		  (INT64_C(253402300799) - 1784000000) * 1000 },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++)
		assert_int_equal(
			wire_retry_after_ms(T[i].ra, T[i].ra_ms, 1784000000),
			T[i].want);
}

/* Backoff doubles from the base, stays within 0.5x..1.5x, and never passes the
 * cap. */
static void test_backoff(void **state)
{
	assert_int_equal(wire_backoff_ms(0, 800, 60000, 0.5), 800);
	assert_int_equal(wire_backoff_ms(1, 800, 60000, 0.5), 1600);
	assert_int_equal(wire_backoff_ms(2, 800, 60000, 0.0), 1600);
	assert_int_equal(wire_backoff_ms(2, 800, 60000, 1.0), 4800);
	assert_int_equal(wire_backoff_ms(30, 800, 60000, 1.0), 60000);
	assert_true(wire_backoff_ms(3, 100, 60000, 0.25) >= 400 &&
		    wire_backoff_ms(3, 100, 60000, 0.25) <= 1200);
}

/* Challenges: both spellings of the authority, resource or scope, and the
 * domain check. */
static void test_challenge(void **state)
{
	struct az_challenge c;

	assert_true(wire_parse_challenge(
		"Bearer "
		"authorization=\"https://login.microsoftonline.com/t1\", "
		"resource=\"https://vault.azure.net\"",
		&c));
	assert_string_equal(c.tenant, "t1");
	assert_string_equal(c.scope, "https://vault.azure.net/.default");
	assert_true(wire_challenge_matches(&c, "kv-prod.vault.azure.net"));
	assert_false(wire_challenge_matches(&c, "vault.azure.net"));
	assert_false(
		wire_challenge_matches(&c, "kv.vault.azure.net.evil.example"));
	assert_false(wire_challenge_matches(&c, "kvvault.azure.net"));
	wire_challenge_free(&c);
	assert_true(wire_parse_challenge(
		"Bearer "
		"authorization_uri=\"https://login.windows.net/NewTenant/\", "
		"scope=\"https://managedhsm.azure.net/.default\"",
		&c));
	assert_string_equal(c.tenant, "NewTenant");
	assert_string_equal(c.scope, "https://managedhsm.azure.net/.default");
	assert_true(wire_challenge_matches(&c, "hsm1.managedhsm.azure.net"));
	wire_challenge_free(&c);
	assert_true(wire_parse_challenge(
		"Bearer authorization=\"https://login.microsoftonline.com/t\", "
		"resource=\"https://evil.example.net\"",
		&c));
	assert_false(wire_challenge_matches(&c, "kv.vault.azure.net"));
	wire_challenge_free(&c);
	/* The host checked is the scope's: a resource naming the attacker's
	 * domain beside ARM's scope is refused. */
	assert_false(wire_parse_challenge(
		"Bearer "
		"authorization=\"https://login.microsoftonline.com/t1\", "
		"resource=\"https://"
		"evil.example\", "
		"scope=\"https://management.azure.com/.default\"",
		&c));
	assert_true(wire_parse_challenge(
		"Bearer "
		"authorization=\"https://login.microsoftonline.com/t1\", "
		"scope=\"https://"
		"management.azure.com/.default\"",
		&c));
	assert_false(wire_challenge_matches(&c, "kv.evil.example"));
	wire_challenge_free(&c);
	assert_false(wire_parse_challenge("Basic realm=x", &c));
	assert_false(wire_parse_challenge(
		"Bearer resource=\"https://vault.azure.net\"", &c));
	assert_false(wire_parse_challenge(NULL, &c));
}

/* Malformed challenges (unterminated quotes, C1; no usable resource) are
 * refused, reading nothing past the end. */
static void test_challenge_malformed(void **state)
{
	static const struct {
		const char *header, *tenant, *scope;
	} T[] = {
		{ "Bearer resource=\"https://vault.azure.net", NULL, NULL },
		{ "Bearer "
		  "au\xd9thorization=\"https://login.microsoftonline.com/05",
		  NULL, NULL },
		{ "Bearer authorization=\"https://login.microsoftonline.com/t1",
		  NULL, NULL },
		{ "Bearer "
		  "authorization=\"https://login.microsoftonline.com/t1\", "
		  "resource=\"https://vault.azure.net",
		  NULL, NULL },
		{ "Bearer resource=\"https://vault.azure.net\", "
		  "authorization=\"https://login.microsoftonline.com/t1",
		  NULL, NULL },
		{ "Bearer authorization=\"", NULL, NULL },
		{ "Bearer authorization=", NULL, NULL },
		{ "Bearer x=\"", NULL, NULL },
		{ "Bearer \"", NULL, NULL },
		{ "Bearer =", NULL, NULL },
		{ "Bearer "
		  "authorization=\"https://login.microsoftonline.com/t1\", "
		  "resource=\"vault\"",
		  NULL, NULL },
		{ "Bearer "
		  "authorization=\"https://login.microsoftonline.com/t1\", "
		  "scope=\"ftp://x/.default\"",
		  NULL, NULL },
		{ "Bearer resource=\"https://vault.azure.net\", "
		  "authorization=\"https://login.microsoftonline.com/t1\"",
		  "t1", "https://vault.azure.net/.default" },
		{ "Bearer realm=\"\", "
		  "authorization=https://login.windows.net/t2 "
		  ",scope=\"https://managedhsm.azure.net/.default\"",
		  "t2", "https://managedhsm.azure.net/.default" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *h =
			strdup(T[i].header); /* on the heap, sized exactly, so a
						read past its end is caught */
		struct az_challenge c;

		assert_int_equal(wire_parse_challenge(h, &c),
				 T[i].scope != NULL);
		if (T[i].scope) {
			assert_string_equal(c.tenant, T[i].tenant);
			assert_string_equal(c.scope, T[i].scope);
			wire_challenge_free(&c);
		}
		free(h); /* a refused challenge holds nothing to free (the leak
			    checkers see to that) */
	}
}

/* Secrets never survive redaction, in forms, JSON bodies and headers. */
static void test_redaction(void **state)
{
	static const struct {
		char *(*fn)(const char *);
		const char *in, *out;
	} T[] = {
		{ wire_redact_form,
		  "grant_type=client_credentials&client_id=a&client_secret="
		  "s3cret&scope=x",
		  "grant_type=client_credentials&client_id=a&client_secret=["
		  "redacted]&scope=x" },
		{ wire_redact_form,
		  "client_assertion=eyJ.x.y&device_code=dc&refresh_token=rt",
		  "client_assertion=[redacted]&device_code=[redacted]&refresh_"
		  "token=[redacted]" },
		{ wire_redact_json_text,
		  "{\"access_token\":\"eyJhb\",\"expires_in\":3599,\"nested\":{"
		  "\"refresh_token\":\"r\"}}",
		  "{\"access_token\":\"[redacted]\",\"expires_in\":3599,"
		  "\"nested\":{\"refresh_token\":\"[redacted]\"}}" },
		{ wire_redact_json_text,
		  "{\"accessToken\":\"t\",\"tokenType\":\"Bearer\"}",
		  "{\"accessToken\":\"[redacted]\",\"tokenType\":\"Bearer\"}" },
		{ wire_redact_json_text, "not json access_token=x",
		  "[23 bytes that are not JSON]" },
		{ wire_redact_header, "Authorization: Bearer eyJ0eXAi.abc.def",
		  "Authorization: Bearer [redacted]" },
		{ wire_redact_header, "X-IDENTITY-HEADER: hush",
		  "X-IDENTITY-HEADER: [redacted]" },
		{ wire_redact_header, "Content-Type: application/json",
		  "Content-Type: application/json" },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		char *got = T[i].fn(T[i].in);

		assert_string_equal(got, T[i].out);
		free(got);
	}
}

/* Hosts come out of URLs in lower case; only http(s) is understood. */
static void test_url_host(void **state)
{
	char host[64];
	bool https;

	assert_true(wire_url_host("https://KV-Prod.vault.azure.net:443/keys?x",
				  host, sizeof(host), &https));
	assert_string_equal(host, "kv-prod.vault.azure.net");
	assert_true(https);
	assert_true(wire_url_host("http://127.0.0.1:8080/msi/token", host,
				  sizeof(host), &https));
	assert_false(https);
	assert_true(wire_url_host("http://[::1]:8080/msi", host, sizeof(host),
				  &https));
	assert_string_equal(host, "[::1]");
	assert_false(
		wire_url_host("http://[::1/x", host, sizeof(host), &https));
	assert_false(wire_url_host("ftp://x", host, sizeof(host), &https));
	assert_false(
		wire_url_host("https:///nohost", host, sizeof(host), &https));
}

/* One URL, the origin it is held to, and whether a token for that origin may go
 * there. */
static const struct {
	const char *url, *origin;
	bool same;
} ORIGINS[] = {
	{ "https://management.azure.com/subscriptions/s/providers/X/"
	  "operationStatuses/1?api-version=1",
	  "https://management.azure.com", true },
	{ "https://MANAGEMENT.azure.com/x", "https://management.azure.com",
	  true },
	{ "https://kv.vault.azure.net/keys/k/versions?$skiptoken=a",
	  "https://kv.vault.azure.net/keys/k/versions?api=7.5", true },
	{ "http://management.azure.com/x", "https://management.azure.com",
	  false },
	{ "https://management.azure.com.evil.example/x",
	  "https://management.azure.com", false },
	{ "https://evil.example@management.azure.com/x",
	  "https://management.azure.com", false },
	{ "https://management.azure.com:8443/x", "https://management.azure.com",
	  false },
	/* Key Vault's nextLinks name the default port: the same origin. */
	{ "https://kv.vault.azure.net:443/keys/k/"
	  "versions?$skiptoken=a&maxresults=25",
	  "https://kv.vault.azure.net/keys/k", true },
	{ "https://kv.vault.azure.net/keys",
	  "https://kv.vault.azure.net:443/keys", true },
	{ "https://kv.vault.azure.net:4430/keys",
	  "https://kv.vault.azure.net/keys", false },
	{ "https://kv.vault.azure.net:443@evil.example/keys",
	  "https://kv.vault.azure.net/keys", false },
	{ "https://other.vault.azure.net/keys",
	  "https://kv.vault.azure.net/keys", false },
	{ "/subscriptions/s", "https://management.azure.com", false },
	{ "https://", "https://", false },
	{ NULL, "https://management.azure.com", false },
};

/* A token goes only to https on exactly its origin's host and port: never a
 * look-alike, a user part or a port. */
static void test_same_origin(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ORIGINS) / sizeof(ORIGINS[0]); i++)
		if (wire_same_origin(ORIGINS[i].url, ORIGINS[i].origin) !=
		    ORIGINS[i].same)
			fail_msg("origin %zu: %s against %s", i,
				 ORIGINS[i].url ? ORIGINS[i].url : "(null)",
				 ORIGINS[i].origin);
}

static const struct {
	const char *url, *want;
} ESCAPES[] = {
	{ "https://management.azure.com/subscriptions/s/providers/P/locations/"
	  "westus3/operationStatuses/1?api-version=1",
	  "https://management.azure.com/subscriptions/s/providers/P/locations/"
	  "westus3/operationStatuses/1?api-version=1" },
	/* A region's display name in a polling URL, as a server may write it.
	 */
	{ "https://management.azure.com/s/locations/west us "
	  "3/operationResults/1",
	  "https://management.azure.com/s/locations/west%20us%203/"
	  "operationResults/1" },
	/* Escapes already there are kept; a lone '%' is escaped. */
	{ "https://kv.vault.azure.net:443/keys?$skiptoken=a%2Fb&x=100%",
	  "https://kv.vault.azure.net:443/keys?$skiptoken=a%2Fb&x=100%25" },
	{ "https://h/a\"b<c>d\\e^f`g{h|i}j",
	  "https://h/a%22b%3Cc%3Ed%5Ce%5Ef%60g%7Bh%7Ci%7Dj" },
	{ "https://h/r\xc3\xa9gion", "https://h/r%C3%A9gion" },
	{ "", "" },
	/* A control character is refused, never escaped: no URL from Azure
	   holds one. */
	{ "https://management.azure.com/x\r\nHost: evil", NULL },
	{ "https://management.azure.com/x\ty", NULL },
	{ "https://management.azure.com/x\x7f", NULL },
	{ NULL, NULL },
};

/* A URL from a server is percent-encoded where it must be, and refused when it
 * holds a control character. */
static void test_url_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ESCAPES) / sizeof(ESCAPES[0]); i++) {
		char *got = wire_url_escape(ESCAPES[i].url);

		if ((got == NULL) != (ESCAPES[i].want == NULL) ||
		    (got && strcmp(got, ESCAPES[i].want) != 0))
			fail_msg("escape %zu: got %s, want %s", i,
				 got ? got : "(null)",
				 ESCAPES[i].want ? ESCAPES[i].want : "(null)");
		free(got);
	}
}

/* A server's name made one path segment: unreserved bytes kept, every other
 * escaped, and what cannot be a segment refused. */
static void test_segment_escape(void **state)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
		{ "70017001-7001-4001-8001-700170017001",
		  "70017001-7001-4001-8001-700170017001" },
		{ "rg-Prod_1.(eu)~", "rg-Prod_1.%28eu%29~" },
		{ "a/../b", "a%2F..%2Fb" },
		{ "x?api-version=1#f", "x%3Fapi-version%3D1%23f" },
		{ "50%", "50%25" },
		{ "r\xc3\xa9gion", "r%C3%A9gion" },
		{ "...", "..." },
		{ ".", NULL },
		{ "..", NULL },
		{ "", NULL },
		{ NULL, NULL },
		{ "a\r\nHost: evil", NULL },
		{ "a\x7f", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *got = wire_segment_escape(rows[i].text);

		if ((got == NULL) != (rows[i].want == NULL) ||
		    (got && strcmp(got, rows[i].want) != 0))
			fail_msg("segment %zu: got %s, want %s", i,
				 got ? got : "(null)",
				 rows[i].want ? rows[i].want : "(null)");
		free(got);
	}
}

/* Tokens: claims decoded without verification; expiry from expires_on or
 * expires_in, numbers or strings. */
static void test_tokens(void **state)
{
	struct json_object *c = wire_jwt_claims(
		"eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0MSIsIm9pZCI6Im8xIn0.sig");
	struct json_object *a = json_tokener_parse("{\"expires_in\":3599}");
	struct json_object *b = json_tokener_parse(
		"{\"expires_on\":\"1800000000\",\"expires_in\":\"3599\"}");
	struct json_object *d = json_tokener_parse("{\"expires_in\":\"soon\"}");
	char *res = wire_scope_resource("https://vault.azure.net/.default");

	assert_string_equal(jx_str(c, "tid"), "t1");
	assert_null(wire_jwt_claims("opaque-token"));
	assert_int_equal(wire_parse_expiry(a, 1000), 4599);
	assert_int_equal(wire_parse_expiry(b, 1000), 1800000000);
	assert_int_equal(wire_parse_expiry(d, 1000), -1);
	assert_string_equal(res, "https://vault.azure.net");
	free(res);
	json_object_put(c);
	json_object_put(a);
	json_object_put(b);
	json_object_put(d);
}

/* Expiry from extreme or negative numbers (C2) saturates instead of
 * overflowing; a negative expires_on is ignored. */
static void test_expiry_extremes(void **state)
{
	static const struct {
		const char *body;
		int64_t now, want;
	} T[] = {
		{ "{\"expires_in\":9223372036854775807}", 1000, INT64_MAX },
		{ "{\"expires_in\":\"9223372036854775807\"}", 1000, INT64_MAX },
		{ "{\"expires_in\":9223372036854774808}", 1000, INT64_MAX },
		{ "{\"expires_in\":9223372036854774807}", 1000, INT64_MAX },
		{ "{\"expires_in\":18446744073709551615}", 1000, INT64_MAX },
		{ "{\"expires_in\":\"99999999999999999999\"}", 1000,
		  INT64_MAX },
		{ "{\"expires_in\":3599}", INT64_MAX, INT64_MAX },
		{ "{\"expires_in\":3599}", INT64_MAX - 3598, INT64_MAX },
		{ "{\"expires_in\":3599}", INT64_MIN, INT64_MIN + 3599 },
		{ "{\"expires_in\":-1}", 1000, -1 },
		{ "{\"expires_in\":-9223372036854775808}", 1000, -1 },
		{ "{\"expires_in\":\"-99999999999999999999\"}", 1000, -1 },
		{ "{\"expires_on\":-5,\"expires_in\":3599}", 1000, 4599 },
		{ "{\"expires_on\":-9223372036854775808}", 1000, -1 },
		{ "{\"expires_on\":\"-9223372036854775808\",\"expires_in\":"
		  "\"60\"}",
		  1000, 1060 },
		{ "{\"expires_on\":9223372036854775807,\"expires_in\":"
		  "9223372036854775807}",
		  1000, INT64_MAX },
		{ "{\"expires_on\":\"99999999999999999999\"}", 1000,
		  INT64_MAX },
		{ "{\"expires_on\":1e300,\"expires_in\":1e300}", 1000, -1 },
	};

	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]); i++) {
		struct json_object *o = json_tokener_parse(T[i].body);

		assert_non_null(o);
		assert_int_equal(wire_parse_expiry(o, T[i].now), T[i].want);
		json_object_put(o);
	}
}

/* Runs the wire unit tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_retry_after_extremes),
		cmocka_unit_test(test_graph_quota),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_challenge_malformed),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_url_host),
		cmocka_unit_test(test_same_origin),
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_segment_escape),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_expiry_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
