/* The one HTTP engine of azcmk: libcurl multi, connection reuse, retries,
 * cancellation, a redacted trace. */
#ifndef AZ_HTTP_H
#define AZ_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct az_http;

/* How the engine behaves; zero values take the defaults noted. */
struct az_http_opts {
	const char *ca_file; /* trusted CAs; NULL: SSL_CERT_FILE,
				CURL_CA_BUNDLE, then the system's */
	FILE *trace; /* --debug: a redacted trace of every attempt, or NULL */
	bool trace_brief; /* --verbose: only each attempt's request line and
			     status */
	int max_retries;  /* retries after the first attempt (default 4; -1 for
			     none) */
	int64_t backoff_base_ms; /* first backoff (default 800) */
	int64_t backoff_max_ms; /* longest wait between attempts (default 60000)
				 */
	long connect_timeout_ms;  /* default 10000 */
	int64_t max_answer_bytes; /* the largest answer body read (default 64
				     MiB): a larger one fails the request */
	long timeout_ms;          /* a whole attempt (default 120000) */
	volatile sig_atomic_t
		*cancel;   /* set non-zero to cancel everything under way */
	const char *proxy; /* borrowed: every https request through it, NO_PROXY
			      aside; NULL: libcurl's */
};

/* One request and, after az_http_run, its response. */
struct az_req {
	const char *method;
	char *url;
	struct curl_slist *headers;
	char *body;
	bool form; /* body is x-www-form-urlencoded (its secrets are hidden in
		      the trace) */
	bool allow_http;      /* plain http, for a loopback or link-local
				 managed-identity endpoint */
	bool no_retry;        /* one attempt only (probes) */
	bool retry_throttled; /* with no_retry: a 429 (refused before any
				 work) is still retried after Retry-After */
	bool raw_json;     /* leave a 2xx body unparsed (json NULL): the caller
			      scans it (large lists) */
	bool graph_quota;  /* a Resource Graph query: it counts against the
			      caller's query quota, and waits while that is
			      spent */
	int target;        /* the session's: which token the request carries */
	bool reauthorized; /* the session's: a 401 was already answered once */
	bool rechallenged; /* the session's: a vault's 401 that named another
			      tenant or scope than its token's was answered */
	bool authorized;   /* the session's: its token was added (streamed
			      sends) */
	long connect_timeout_ms;    /* 0: the engine's */
	char client_request_id[37]; /* sent as x-ms-client-request-id; quote it
				       in errors */

	long status;   /* 0 when no HTTP answer came */
	int curl_code; /* CURLE_OK or the transport failure */
	char curl_error[256];
	char *resp_body;
	size_t resp_len;
	char *resp_headers;       /* raw header block of the last answer */
	struct json_object *json; /* the body, when it is JSON */
	int attempts;
	bool canceled;
	const char *curl_option; /* a libcurl option the engine could not set
				    ("CURLOPT_URL"): nothing was sent */
	bool no_random; /* OpenSSL's random generator failed: the request was
			   stopped */

	void *priv; /* the engine's */
};

struct az_http *az_http_new(const struct az_http_opts *o, char **err);
void az_http_free(struct az_http *h);
struct az_req *az_req_new(const char *method, const char *url);
void az_req_header(struct az_req *r, const char *line);
void az_req_body(struct az_req *r, const char *body, bool form);
void az_req_clear_response(struct az_req *r);
void az_req_copy_answer(struct az_req *to, const struct az_req *from);
void az_req_free(struct az_req *r);
char *az_req_response_header(const struct az_req *r, const char *name);
int az_http_run(struct az_http *h, struct az_req **reqs, size_t n);
int az_http_one(struct az_http *h, struct az_req *r);
size_t az_http_waves(const struct az_http *h);
int az_http_run_any(struct az_http *h, struct az_req **reqs, size_t n);
bool az_req_done(const struct az_req *r);
int64_t az_http_graph_wait_ms(struct az_http *h);
void az_http_kick(struct az_http *h, struct az_req **reqs, size_t n);
void az_http_abandon(struct az_http *h, struct az_req **reqs, size_t n);
bool az_http_canceled(const struct az_http *h);
void az_http_trace(struct az_http *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
