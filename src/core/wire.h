/* Pure rules for what crosses the wire: Azure error bodies, retries, the Key
 * Vault challenge, redaction. */
#ifndef AZ_WIRE_H
#define AZ_WIRE_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;

/* An Azure error read from a response body (ARM, Key Vault, Graph or Entra ID).
 */
struct az_wire_error {
	char *code;  /* "AuthorizationFailed", "invalid_client" ... */
	char *inner; /* Key Vault innererror.code or the first ARM detail code,
			or NULL */
	char *message; /* first line of the message, sanitised for a terminal */
	int aadsts;    /* Entra's AADSTS number, or 0 */
};

bool wire_parse_error(struct json_object *body, struct az_wire_error *out);
void wire_error_free(struct az_wire_error *e);
bool wire_status_retryable(long status);
int64_t wire_retry_after_ms(const char *retry_after, const char *retry_after_ms,
			    int64_t now);
int64_t wire_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
			double jitter01);

/* Resource Graph's per-user query quota, as one of its answers gives it. */
struct az_graph_quota {
	int64_t remaining; /* queries left in the window */
	int64_t reset_ms;  /* until the window resets */
};

int64_t wire_timespan_ms(const char *s);
bool wire_graph_quota(const char *remaining, const char *resets_after,
		      struct az_graph_quota *out);

/* A parsed WWW-Authenticate Bearer challenge. */
struct az_challenge {
	char *authorization; /* the authority URL */
	char *tenant;        /* its first path segment */
	char *scope;         /* scope= or resource + "/.default" */
	char *resource_host; /* host of the resource, to check against the
				vault's */
};

bool wire_parse_challenge(const char *header, struct az_challenge *out);
bool wire_challenge_matches(const struct az_challenge *c,
			    const char *request_host);
void wire_challenge_free(struct az_challenge *c);
char *wire_redact_form(const char *body);
char *wire_redact_json_text(const char *body);
char *wire_redact_header(const char *line);
bool wire_url_host(const char *url, char *host, unsigned hostlen, bool *https);
bool wire_same_origin(const char *url, const char *origin);
char *wire_url_escape(const char *url);
char *wire_segment_escape(const char *text);
char *wire_scope_resource(const char *scope);
struct json_object *wire_jwt_claims(const char *token);
int64_t wire_parse_expiry(struct json_object *response, int64_t now);

#endif
