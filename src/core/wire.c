/* Pure rules for what crosses the wire: Azure error bodies, retries, the Key
 * Vault challenge, redaction. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jwt.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

/* Form fields and JSON keys whose values are secrets or tokens, never shown. */
static const char *const SECRET_NAMES[] = { "client_secret",
					    "client_assertion",
					    "assertion",
					    "refresh_token",
					    "access_token",
					    "id_token",
					    "device_code",
					    "code",
					    "password",
					    "accessToken",
					    "refreshToken",
					    "secret",
					    NULL };

/* Tells whether a field or key name holds a secret. */
static bool secret_name(const char *name, size_t len)
{
	for (int i = 0; SECRET_NAMES[i]; i++)
		if (strlen(SECRET_NAMES[i]) == len &&
		    strncasecmp(SECRET_NAMES[i], name, len) == 0)
			return true;
	return false;
}

/* Returns the first line of a text, sanitised for a terminal (Entra appends
 * trace lines). */
static char *first_line(const char *text)
{
	size_t n = strcspn(text ? text : "", "\r\n");
	char *line = xstrndup(text ? text : "", n),
	     *clean = text_sanitize(line, false);

	free(line);
	return clean;
}

/* Reads the AADSTS number at the start of an Entra error description. */
static int aadsts_of(const char *desc)
{
	int n = 0;

	return desc && sscanf(desc, "AADSTS%d", &n) == 1 ? n : 0;
}

/*
 * Returns the inner code of an error object: Key Vault's innererror.code
 * (KeyVaultError, REST 7.5 common.json), else the first detail's code, as
 * Resource Manager's ErrorDetail writes it (common-types v3) or as the
 * healthcare agent service wraps it ({"error":{...}} per detail, healthbot.json
 * definitions/Error); NULL when none.
 */
static const char *inner_code(struct json_object *err)
{
	struct json_object *first = jx_at(jx_get(err, "details"), 0);

	if (jx_str(err, "innererror.code"))
		return jx_str(err, "innererror.code");
	return jx_str(first, "code") ? jx_str(first, "code")
				     : jx_str(first, "error.code");
}

/* Reads an error from ARM ({"error":{code,message,details}}), Key Vault
 * (innererror), Graph or Entra ({"error":"x"}). */
bool wire_parse_error(struct json_object *body, struct az_wire_error *out)
{
	struct json_object *err = jx_get(body, "error");

	memset(out, 0, sizeof(*out));
	if (json_object_is_type(err, json_type_string)) {
		const char *desc = jx_str(body, "error_description");

		out->code = text_sanitize(json_object_get_string(err), false);
		out->message =
			first_line(desc ? desc : json_object_get_string(err));
		out->aadsts = aadsts_of(desc);
		return true;
	}
	if (!json_object_is_type(err, json_type_object) || !jx_str(err, "code"))
		return false;
	out->code = text_sanitize(jx_str(err, "code"), false);
	out->message = first_line(jx_str(err, "message"));
	if (inner_code(err))
		out->inner = text_sanitize(inner_code(err), false);
	return true;
}

/* Releases a parsed error. */
void wire_error_free(struct az_wire_error *e)
{
	free(e->code);
	free(e->inner);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

/* Tells whether an HTTP status is worth retrying: 408, 429, 500, 502, 503, 504.
 */
bool wire_status_retryable(long status)
{
	return status == 408 || status == 429 || status == 500 ||
	       status == 502 || status == 503 || status == 504;
}

/* Parses an HTTP-date (RFC 7231 IMF-fixdate, years 1970 to 9999) into epoch
 * seconds; -1 when it is not one. */
static int64_t http_date(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int d, y, h, mi, sec;
	const char *m;
	struct tm tm = { 0 };

	if (sscanf(s, "%*3s, %d %3s %d %d:%d:%d GMT", &d, mon, &y, &h, &mi,
		   &sec) != 6 ||
	    !(m = strstr(months, mon)) || (m - months) % 3 || d < 1 || d > 31 ||
	    y < 1970 || y > 9999 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return -1;
	tm.tm_mday = d;
	tm.tm_mon = (int)(m - months) / 3;
	tm.tm_year = y - 1900;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

/*
 * Returns how long a server asked to wait, in milliseconds (at most
 * INT64_MAX): x-ms-retry-after-ms first, then Retry-After as seconds or an
 * HTTP-date; -1 when neither is usable.
 */
int64_t wire_retry_after_ms(const char *retry_after, const char *retry_after_ms,
			    int64_t now)
{
	char *end;
	long long v;

	if (retry_after_ms && *retry_after_ms) {
		v = strtoll(retry_after_ms, &end, 10);
		if (*end == '\0' && v >= 0)
			return v;
	}
	if (!retry_after || !*retry_after)
		return -1;
	v = strtoll(retry_after, &end, 10);
	if (end != retry_after && *end == '\0')
		return v < 0 ? -1 : v > INT64_MAX / 1000 ? INT64_MAX : v * 1000;
	v = http_date(retry_after);
	if (v < 0)
		return -1;
	return v > now ? (v - now) * 1000 : 0;
}

/* Reads 1 to max decimal digits at *p into *v, moving *p past them. */
static bool read_digits(const char **p, int max, long long *v)
{
	int n = 0;

	*v = 0;
	while (n < max && **p >= '0' && **p <= '9') {
		*v = *v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n > 0;
}

/*
 * Returns a duration written as .NET writes a TimeSpan ("[d.]hh:mm:ss" with
 * an optional fraction of up to 7 digits), as Resource Graph's
 * x-ms-user-quota-resets-after gives it ("00:00:03"), in milliseconds; -1
 * when it is not one. Days are capped at 24, longer than any quota window.
 */
int64_t wire_timespan_ms(const char *s)
{
	long long d = 0, h, m, sec, frac = 0;
	const char *p = s, *colon = s ? strchr(s, ':') : NULL,
		   *dot = s ? strchr(s, '.') : NULL;

	if (!colon)
		return -1;
	/* A dot before the first colon ends the days. */
	if (dot && dot < colon) {
		if (!read_digits(&p, 2, &d) || p != dot || d > 24)
			return -1;
		p = dot + 1;
	}
	if (!read_digits(&p, 2, &h) || *p++ != ':' || h > 23 ||
	    !read_digits(&p, 2, &m) || *p++ != ':' || m > 59 ||
	    !read_digits(&p, 2, &sec) || sec > 59)
		return -1;
	if (*p == '.') {
		const char *f = ++p;

		if (!read_digits(&p, 7, &frac))
			return -1;
		for (long i = (long)(p - f); i < 3; i++)
			frac *= 10;
		for (long i = (long)(p - f); i > 3; i--)
			frac /= 10;
	}
	if (*p)
		return -1;
	return (((d * 24 + h) * 60 + m) * 60 + sec) * 1000 + frac;
}

/*
 * Reads Resource Graph's per-user query quota from an answer's headers:
 * x-ms-user-quota-remaining (queries left in the window) and
 * x-ms-user-quota-resets-after (how long until the window resets), as
 * Microsoft's "Guidance for throttled requests in Azure Resource Graph"
 * describes them. False, out untouched, unless both are well formed.
 */
bool wire_graph_quota(const char *remaining, const char *resets_after,
		      struct az_graph_quota *out)
{
	const char *p = remaining;
	long long left;
	int64_t reset = wire_timespan_ms(resets_after);

	if (!p || !read_digits(&p, 9, &left) || *p || reset < 0)
		return false;
	out->remaining = left;
	out->reset_ms = reset;
	return true;
}

/* Exponential backoff with jitter: base * 2^attempt scaled by 0.5..1.5, capped
 * at max. */
int64_t wire_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
			double jitter01)
{
	double d = (double)base_ms;

	for (int i = 0; i < attempt && d < (double)max_ms; i++)
		d *= 2;
	d *= 0.5 + (jitter01 < 0 ? 0 : jitter01 > 1 ? 1 : jitter01);
	return d > (double)max_ms ? max_ms : (int64_t)d;
}

/* Copies the value of k="v" (or k=v) at p into an allocated string; NULL when
 * its quote is never closed. */
static char *param_value(const char *p)
{
	size_t n;

	while (*p == ' ')
		p++;
	if (*p != '"')
		return xstrndup(p, strcspn(p, ", "));
	n = strcspn(p + 1, "\"");
	return p[n + 1] == '"' ? xstrndup(p + 1, n) : NULL;
}

/* Returns the length of the value at p: a quoted string with its quotes (the
 * rest when unclosed), or up to a comma. */
static size_t value_len(const char *p)
{
	size_t n;

	if (*p != '"')
		return strcspn(p, ",");
	n = strcspn(p + 1, "\"");
	return p[n + 1] == '"' ? n + 2 : n + 1;
}

/* Finds key= in a challenge's parameter list (keys compared ignoring case);
 * NULL when absent. */
static char *challenge_param(const char *params, const char *key)
{
	size_t k = strlen(key);

	for (const char *p = params; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, key, k) == 0 && p[k] == '=')
			return param_value(p + k + 1);
		p += strcspn(p, "=");
		if (*p == '=') {
			p++;
			while (*p == ' ')
				p++;
			p += value_len(p);
		}
	}
	return NULL;
}

/* Returns the host of an https URL ("https://vault.azure.net/x" gives
 * "vault.azure.net"), allocated. */
static char *host_of(const char *url)
{
	char host[256];
	bool https;

	return wire_url_host(url, host, sizeof(host), &https) ? xstrdup(host)
							      : NULL;
}

/*
 * Parses `Bearer authorization="https://login.../TENANT",
 * resource="https://vault.azure.net"` (or scope=); false leaves nothing
 * allocated in out.
 */
bool wire_parse_challenge(const char *header, struct az_challenge *out)
{
	char *resource, *scope;

	memset(out, 0, sizeof(*out));
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	out->authorization = challenge_param(header + 7, "authorization");
	if (!out->authorization)
		out->authorization =
			challenge_param(header + 7, "authorization_uri");
	resource = challenge_param(header + 7, "resource");
	scope = challenge_param(header + 7, "scope");
	if (!out->authorization || (!resource && !scope)) {
		free(resource);
		free(scope);
		wire_challenge_free(out);
		return false;
	}
	{
		const char *path = strstr(out->authorization, "://");
		const char *seg = path ? strchr(path + 3, '/') : NULL;

		out->tenant = seg && seg[1]
				      ? xstrndup(seg + 1, strcspn(seg + 1, "/"))
				      : NULL;
	}
	out->scope =
		scope ? xstrdup(scope) : xasprintf("%s/.default", resource);
	/* The host checked is the one of the scope the token is asked for; a
	 * resource naming another is refused. */
	out->resource_host = host_of(out->scope);
	if (out->resource_host && resource && scope) {
		char *other = host_of(resource);

		if (!other || strcasecmp(other, out->resource_host) != 0) {
			free(out->resource_host);
			out->resource_host = NULL;
		}
		free(other);
	}
	free(resource);
	free(scope);
	if (!out->resource_host)
		wire_challenge_free(out);
	return out->resource_host != NULL;
}

/* Tells whether the vault being called lies under the challenge's resource
 * ("kv.vault.azure.net" under "vault.azure.net"). */
bool wire_challenge_matches(const struct az_challenge *c,
			    const char *request_host)
{
	size_t n = strlen(request_host),
	       m = c->resource_host ? strlen(c->resource_host) : 0;

	return m > 0 && n > m + 1 && request_host[n - m - 1] == '.' &&
	       strcasecmp(request_host + n - m, c->resource_host) == 0;
}

/* Releases a parsed challenge. */
void wire_challenge_free(struct az_challenge *c)
{
	free(c->authorization);
	free(c->tenant);
	free(c->scope);
	free(c->resource_host);
	memset(c, 0, sizeof(*c));
}

/* Returns a form body with every secret field's value replaced by [redacted].
 */
char *wire_redact_form(const char *body)
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = body ? body : ""; *p;) {
		size_t n = strcspn(p, "&"), k = strcspn(p, "=&");

		if (k < n && secret_name(p, k)) {
			sb_add(&b, p, k + 1);
			sb_adds(&b, "[redacted]");
		} else {
			sb_add(&b, p, n);
		}
		p += n;
		if (*p == '&')
			sb_addc(&b, *p++);
	}
	return sb_steal(&b);
}

/* Redacts secret members of a parsed JSON value in place, at any depth. */
static void redact_json(struct json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < jx_len(o); i++)
			redact_json(jx_at(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, v)
	{
		if (secret_name(k, strlen(k)) && v)
			json_object_object_add(
				o, k, json_object_new_string("[redacted]"));
		else
			redact_json(v);
	}
}

/* Returns JSON text with secret members redacted; text that is not JSON is
 * shown only by its length. */
char *wire_redact_json_text(const char *body)
{
	char *err = NULL, *out;
	struct json_object *o =
		jx_parse(body ? body : "", body ? strlen(body) : 0, &err);

	if (!o) {
		free(err);
		return xasprintf("[%zu bytes that are not JSON]",
				 body ? strlen(body) : 0);
	}
	redact_json(o);
	out = xstrdup(jx_text(o));
	json_object_put(o);
	return out;
}

/* Returns a header line with the credential of Authorization (and similar)
 * headers hidden. */
char *wire_redact_header(const char *line)
{
	static const char *const hidden[] = { "authorization:",
					      "x-identity-header:", "secret:",
					      "proxy-authorization:", NULL };

	for (int i = 0; hidden[i]; i++)
		if (str_istarts(line, hidden[i])) {
			const char *v = line + strlen(hidden[i]);
			const char *sp = strchr(v + strspn(v, " "), ' ');

			if (str_istarts(v + strspn(v, " "), "Bearer") && sp)
				return xasprintf("%.*s [redacted]",
						 (int)(sp - line), line);
			return xasprintf("%.*s [redacted]",
					 (int)strlen(hidden[i]), line);
		}
	return xstrdup(line);
}

/* Splits the scheme and host of a URL; false when it is not http(s). */
bool wire_url_host(const char *url, char *host, unsigned hostlen, bool *https)
{
	const char *p;
	size_t n;

	if (!url || hostlen == 0)
		return false;
	if (str_istarts(url, "https://"))
		*https = true;
	else if (str_istarts(url, "http://"))
		*https = false;
	else
		return false;
	p = url + (*https ? 8 : 7);
	n = *p == '[' ? strcspn(p, "]") + 1 : strcspn(p, "/:?#");
	if (*p == '[' && p[n - 1] != ']')
		return false;
	if (n == 0 || n >= hostlen)
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return true;
}

/*
 * Returns the length of an https URL's authority (after "https://") with an
 * explicit default port left out: Key Vault writes its nextLinks as
 * "https://VAULT.vault.azure.net:443/...", the same origin as without it.
 */
static size_t authority_len(const char *p)
{
	size_t n = strcspn(p, "/?#");

	if (n > 4 && strncmp(p + n - 4, ":443", 4) == 0)
		n -= 4;
	return n;
}

/*
 * Tells whether a URL is https with exactly the authority (host and port,
 * no user part) of origin: where a token meant for origin may be sent. A
 * polling URL, a nextLink or a journalled operation comes from outside.
 */
bool wire_same_origin(const char *url, const char *origin)
{
	size_t a, b;

	if (!url || !origin || !str_istarts(url, "https://") ||
	    !str_istarts(origin, "https://"))
		return false;
	url += 8;
	origin += 8;
	a = authority_len(url);
	b = authority_len(origin);
	return a > 0 && a == b && strncasecmp(url, origin, a) == 0;
}

/* Tells whether a byte may stand in a URL as it is (RFC 3986 unreserved,
 * reserved, and '%' before two hex digits). */
static bool url_byte_ok(const char *p)
{
	unsigned char c = (unsigned char)*p;

	if (c == '%')
		return isxdigit((unsigned char)p[1]) &&
		       isxdigit((unsigned char)p[2]);
	return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

/* Returns text with each byte keep refuses percent-encoded; NULL when it holds
 * a control character. */
static char *escape_bytes(const char *text, bool (*keep)(const char *p))
{
	struct sbuf b = SBUF_INIT;

	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f) {
			sb_free(&b);
			return NULL;
		}
		if (keep(p))
			sb_addc(&b, *p);
		else
			sb_printf(&b, "%%%02X", c);
	}
	return sb_steal(&b);
}

/*
 * Returns a URL from a server (a polling URL, a nextLink) with every byte
 * a URL may not hold percent-encoded ("locations/west us 3/..." becomes
 * "west%20us%203", RFC 3986 section 2.1), escapes already there kept; NULL
 * when it holds a control character, which no URL from Azure has.
 */
char *wire_url_escape(const char *url)
{
	return url ? escape_bytes(url, url_byte_ok) : NULL;
}

/* Tells whether the byte at p is one of RFC 3986's unreserved ones. */
static bool unreserved(const char *p)
{
	unsigned char c = (unsigned char)*p;

	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~", c));
}

/*
 * Returns one path segment from a server's text (a subscription id, a resource
 * group's name) with every byte but RFC 3986's unreserved ones
 * percent-encoded, so that it stays one segment ("a/../b" becomes
 * "a%2F..%2Fb"); NULL when it is empty, "." or "..", or holds a control
 * character.
 */
char *wire_segment_escape(const char *text)
{
	if (!text || !*text || strcmp(text, ".") == 0 ||
	    strcmp(text, "..") == 0)
		return NULL;
	return escape_bytes(text, unreserved);
}

/* Turns a v2 scope ("https://vault.azure.net/.default") into a v1 resource
 * ("https://vault.azure.net"). */
char *wire_scope_resource(const char *scope)
{
	char *r = xstrdup(scope ? scope : "");

	if (str_iends(r, "/.default"))
		r[strlen(r) - strlen("/.default")] = '\0';
	return r;
}

/* Decodes a JWT's claims without verifying it (to say who signed in); NULL when
 * it is not a JWT. */
struct json_object *wire_jwt_claims(const char *token)
{
	struct jwt t;
	struct json_object *claims;

	if (!jwt_decode(token, &t))
		return NULL;
	claims = json_object_get(t.claims);
	jwt_free(&t);
	return claims;
}

/* Reads a number that may be a JSON number or a numeric string; -1 when it is
 * neither. */
static int64_t number_of(struct json_object *v)
{
	char *end;
	long long n;

	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_string))
		return -1;
	n = strtoll(json_object_get_string(v), &end, 10);
	return end != json_object_get_string(v) && *end == '\0' ? n : -1;
}

/* Returns now + seconds (seconds >= 0), saturated at INT64_MAX where the sum
 * would overflow. */
static int64_t add_seconds(int64_t now, int64_t seconds)
{
	return now > 0 && seconds > INT64_MAX - now ? INT64_MAX : now + seconds;
}

/*
 * Returns a token's expiry (epoch seconds) from a positive expires_on, else
 * now + expires_in (at most INT64_MAX, whatever the server says); -1 when
 * there is neither.
 */
int64_t wire_parse_expiry(struct json_object *response, int64_t now)
{
	int64_t on = number_of(jx_get(response, "expires_on")),
		in = number_of(jx_get(response, "expires_in"));

	if (on > 0)
		return on;
	return in >= 0 ? add_seconds(now, in) : -1;
}
