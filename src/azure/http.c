/* The one HTTP engine of azcmk: libcurl multi, connection reuse, retries,
 * cancellation, a redacted trace. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "http.h"
#include "i18n.h"
#include "jx.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"
#include "wire.h"
#include "xalloc.h"

struct az_http {
	CURLM *multi;  /* one multi handle: its connection pool is shared by
			  every request */
	CURLSH *share; /* DNS and TLS session cache */
	struct az_http_opts o;
	char *ca_file;
	size_t waves; /* blocking runs so far: the round trips in sequence */
	/* Resource Graph's per-user query quota, as its last answer gave it. */
	struct {
		bool known;   /* an answer gave it, and its window is open */
		int64_t left; /* queries left in the window then */
		int64_t reset_at; /* when the window resets (mono_ms) */
		int inflight;     /* queries under way */
	} quota;
};

/* The largest answer read by default: a Resource Graph page of 1,000 rows or
 * an ARM list page is a few MiB at most, so anything past this is a fault or
 * an attack, refused before it can exhaust memory. */
#define MAX_ANSWER_BYTES ((int64_t)64 << 20)
/* The most reserved at once on an announced length: past it the buffer grows
 * as the bytes come, so a length a server announces and never sends costs
 * little. */
#define MAX_RESERVE ((curl_off_t)4 << 20)

/* The engine's per-request state. */
struct req_state {
	CURL *easy;
	struct sbuf body, headers;
	curl_off_t max_answer; /* the engine's bound on an answer's body */
	bool too_large;        /* the answer passed it */
	int64_t due_ms;        /* when the next attempt may start */
	bool running, done;
	bool held; /* waiting for Resource Graph's quota (traced once) */
	double started_ms;
};

/* Returns a monotonic clock in milliseconds. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Picks the CA bundle: the option, then REQUESTS_CA_BUNDLE (which the Azure
 * CLI, through Python's requests, reads first), then SSL_CERT_FILE, then
 * CURL_CA_BUNDLE; NULL keeps libcurl's default.
 */
static const char *pick_ca(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = getenv("REQUESTS_CA_BUNDLE");
	if (env && *env)
		return env;
	env = getenv("SSL_CERT_FILE");
	if (env && *env)
		return env;
	env = getenv("CURL_CA_BUNDLE");
	return env && *env ? env : NULL;
}

/* Sets up the connection pool: a shared DNS and TLS session cache, HTTP/2
 * multiplexing; NULL, or what failed. */
static char *setup_pool(struct az_http *h)
{
	static const curl_lock_data shared[] = { CURL_LOCK_DATA_DNS,
						 CURL_LOCK_DATA_SSL_SESSION };
	const char *option = "CURLMOPT_PIPELINING";
	CURLMcode mc;

	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		CURLSHcode sc =
			curl_share_setopt(h->share, CURLSHOPT_SHARE, shared[i]);

		if (sc != CURLSHE_OK)
			return xasprintf(
				_("cannot set up libcurl's connection pool: %s "
				  "(curl says: %s); update or reinstall "
				  "libcurl"),
				"CURLSHOPT_SHARE", curl_share_strerror(sc));
	}
	mc = curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
			       (long)CURLPIPE_MULTIPLEX);
	/* Azure's hosts speak HTTP/2 and multiplex on one connection; over
	 * HTTP/1.1 each request in flight needs its own: 32 lets an audit's
	 * creation lists and its page go at once. */
	if (mc == CURLM_OK) {
		option = "CURLMOPT_MAX_HOST_CONNECTIONS";
		mc = curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				       32L);
	}
	if (mc != CURLM_OK)
		return xasprintf(_("cannot set up libcurl's connection pool: "
				   "%s (curl says: %s); update or reinstall "
				   "libcurl"),
				 option, curl_multi_strerror(mc));
	return NULL;
}

/* Creates the engine; NULL with *err saying what failed. */
struct az_http *az_http_new(const struct az_http_opts *o, char **err)
{
	struct az_http *h = xcalloc(1, sizeof(*h));
	const char *ca;

	*err = NULL;
	if (o)
		h->o = *o;
	if (h->o.max_retries == 0)
		h->o.max_retries = 4;
	if (h->o.max_answer_bytes <= 0)
		h->o.max_answer_bytes = MAX_ANSWER_BYTES;
	if (h->o.max_retries < 0)
		h->o.max_retries = 0;
	h->o.backoff_base_ms =
		h->o.backoff_base_ms ? h->o.backoff_base_ms : 800;
	h->o.backoff_max_ms = h->o.backoff_max_ms ? h->o.backoff_max_ms : 60000;
	h->o.connect_timeout_ms =
		h->o.connect_timeout_ms ? h->o.connect_timeout_ms : 10000;
	h->o.timeout_ms = h->o.timeout_ms ? h->o.timeout_ms : 120000;
	ca = pick_ca(h->o.ca_file);
	h->ca_file = ca ? xstrdup(ca) : NULL;
	h->multi = curl_multi_init();
	h->share = curl_share_init();
	if (!h->multi || !h->share)
		*err = xstrdup(_("cannot initialise libcurl"));
	else
		*err = setup_pool(h);
	if (*err) {
		az_http_free(h);
		return NULL;
	}
	return h;
}

/* Frees the engine and its connection pool. */
void az_http_free(struct az_http *h)
{
	if (!h)
		return;
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->share)
		curl_share_cleanup(h->share);
	free(h->ca_file);
	free(h);
}

/* Stops a request for good because OpenSSL's random generator failed, keeping
 * OpenSSL's reason. */
static void random_failed(struct az_req *r)
{
	unsigned long why = ERR_get_error();

	r->no_random = true;
	r->curl_code = CURLE_FAILED_INIT;
	if (why)
		ERR_error_string_n(why, r->curl_error, sizeof(r->curl_error));
	else
		snprintf(r->curl_error, sizeof(r->curl_error), "%s",
			 _("OpenSSL gave no reason"));
}

/* Makes a request with a fresh client request id; without one (no randomness)
 * it fails unsent when run. */
struct az_req *az_req_new(const char *method, const char *url)
{
	struct az_req *r = xcalloc(1, sizeof(*r));
	unsigned char b[16];

	r->method = method;
	r->url = xstrdup(url);
	if (RAND_bytes(b, sizeof(b)) == 1)
		uuid_format_v4(b, r->client_request_id);
	else
		random_failed(r);
	r->priv = xcalloc(1, sizeof(struct req_state));
	return r;
}

/* Adds a header line ("Name: value"). */
void az_req_header(struct az_req *r, const char *line)
{
	r->headers = curl_slist_append(r->headers, line);
}

/* Sets the body; form marks x-www-form-urlencoded content. */
void az_req_body(struct az_req *r, const char *body, bool form)
{
	free(r->body);
	r->body = body ? xstrdup(body) : NULL;
	r->form = form;
}

/* Forgets a previous response so the request can be sent again. */
void az_req_clear_response(struct az_req *r)
{
	struct req_state *st = r->priv;

	free(r->resp_body);
	free(r->resp_headers);
	json_object_put(r->json);
	r->resp_body = r->resp_headers = NULL;
	r->json = NULL;
	r->resp_len = 0;
	r->status = 0;
	r->curl_code = 0;
	r->curl_error[0] = '\0';
	r->curl_option = NULL;
	r->attempts = 0;
	r->canceled = false;
	sb_free(&st->body);
	sb_free(&st->headers);
	st->done = st->running = st->held = false;
	st->due_ms = 0;
}

/*
 * Gives a request that was not sent the answer another got to the same
 * request (a read asked twice in one wave): the status, the transport
 * failure, the headers and the body, parsed anew, so that neither's
 * reader changes what the other reads.
 */
void az_req_copy_answer(struct az_req *to, const struct az_req *from)
{
	struct req_state *st = to->priv;

	az_req_clear_response(to);
	/* An error then quotes the request id Azure saw. */
	memcpy(to->client_request_id, from->client_request_id,
	       sizeof(to->client_request_id));
	to->status = from->status;
	to->curl_code = from->curl_code;
	memcpy(to->curl_error, from->curl_error, sizeof(to->curl_error));
	to->curl_option = from->curl_option;
	to->attempts = from->attempts;
	to->canceled = from->canceled;
	to->resp_len = from->resp_body ? from->resp_len : 0;
	if (from->resp_body) {
		to->resp_body = xmalloc(from->resp_len + 1);
		memcpy(to->resp_body, from->resp_body, from->resp_len);
		to->resp_body[from->resp_len] = '\0';
	}
	to->resp_headers =
		from->resp_headers ? xstrdup(from->resp_headers) : NULL;
	to->json = from->json ? jx_copy(from->json) : NULL;
	st->done = true;
}

/* Frees a request and its response. */
void az_req_free(struct az_req *r)
{
	struct req_state *st;

	if (!r)
		return;
	st = r->priv;
	az_req_clear_response(r);
	if (st->easy)
		curl_easy_cleanup(st->easy);
	free(st);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->body);
	free(r);
}

/* Returns a response header's value (last answer, first match), allocated, or
 * NULL. */
char *az_req_response_header(const struct az_req *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = r->resp_headers; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *end;

			v += strspn(v, " \t");
			end = v + strcspn(v, "\r\n");
			return xstrndup(v, (size_t)(end - v));
		}
	}
	return NULL;
}

/* Writes one trace line (only with --debug). */
void az_http_trace(struct az_http *h, const char *fmt, ...)
{
	va_list ap;

	if (!h->o.trace)
		return;
	fputs("azcmk: ", h->o.trace);
	va_start(ap, fmt);
	vfprintf(h->o.trace, fmt, ap);
	va_end(ap);
	fputc('\n', h->o.trace);
	fflush(h->o.trace);
}

/* Tells whether the caller asked to cancel. */
bool az_http_canceled(const struct az_http *h)
{
	return h->o.cancel && *h->o.cancel;
}

/* Collects body bytes: room for the whole answer is made at once when its
 * length is announced, and an answer past the engine's bound stops the
 * transfer. */
static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
	struct req_state *st = cls;
	curl_off_t len = -1;

	if ((curl_off_t)(st->body.len + size * n) > st->max_answer) {
		st->too_large = true;
		return 0;
	}
	if (st->body.cap == 0 &&
	    curl_easy_getinfo(st->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			      &len) == CURLE_OK &&
	    len > 0 && len <= st->max_answer)
		sb_reserve(&st->body,
			   (size_t)(len < MAX_RESERVE ? len : MAX_RESERVE));
	sb_add(&st->body, p, size * n);
	return size * n;
}

/* Keeps only the last answer's headers (a proxy's CONNECT answer or a 100 come
 * first). */
static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct sbuf *b = cls;

	if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		sb_reset(b);
	sb_add(b, p, size * n);
	return size * n;
}

/* Aborts a transfer in flight when the caller cancels. */
static int on_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	const struct az_http *h = cls;

	return az_http_canceled(h) ? 1 : 0;
}

/* Tells whether a URL may be sent: https always, http only to a loopback or
 * link-local host when allowed. */
static bool url_allowed(const struct az_req *r)
{
	char host[256];
	bool https;

	if (!wire_url_host(r->url, host, sizeof(host), &https))
		return false;
	if (https)
		return true;
	return r->allow_http &&
	       (strcmp(host, "127.0.0.1") == 0 ||
		strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
		strcmp(host, "169.254.169.254") == 0);
}

/* Prints the request in the trace, secrets hidden. */
static void trace_request(struct az_http *h, struct az_req *r)
{
	if (!h->o.trace)
		return;
	az_http_trace(h, "> %s %s (attempt %d, x-ms-client-request-id %s)",
		      r->method, r->url, r->attempts, r->client_request_id);
	if (h->o.trace_brief)
		return;
	for (struct curl_slist *l = r->headers; l; l = l->next) {
		char *line = wire_redact_header(l->data);

		az_http_trace(h, ">   %s", line);
		free(line);
	}
	if (r->body && *r->body) {
		char *body = r->form ? wire_redact_form(r->body)
				     : wire_redact_json_text(r->body);
		az_http_trace(h, ">   %s", body);
		free(body);
	}
}

/* Prints the answer in the trace, secrets hidden. */
static void trace_response(struct az_http *h, struct az_req *r, double ms)
{
	struct req_state *st = r->priv;

	if (!h->o.trace)
		return;
	if (r->curl_code) {
		az_http_trace(h, "< transport error %d: %s (%.0f ms)",
			      r->curl_code, r->curl_error, ms);
		return;
	}
	az_http_trace(h, "< %ld (%.0f ms)", r->status, ms);
	if (h->o.trace_brief)
		return;
	for (const char *p = sb_str(&st->headers); *p;
	     p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
		char *line = xstrndup(p, strcspn(p, "\r\n"));

		if (*line && strncmp(line, "HTTP/", 5) != 0) {
			char *red = wire_redact_header(line),
			     *clean = text_sanitize(red, false);

			az_http_trace(h, "<   %s", clean);
			free(red);
			free(clean);
		}
		free(line);
	}
	if (st->body.len) {
		char *body = wire_redact_json_text(sb_str(&st->body)),
		     *clean = text_sanitize(body, false);

		az_http_trace(h, "<   %s", clean);
		free(body);
		free(clean);
	}
}

/* One libcurl option for set_options: which, its name for messages, and its
 * value by the type it takes. */
struct easy_opt {
	CURLoption id;
	const char *name;
	enum { OPT_LONG, OPT_OFF, OPT_PTR, OPT_WRITE, OPT_XFER } type;
	long l;
	curl_off_t off;
	const void *p;
	curl_write_callback write;
	curl_xferinfo_callback xfer;
	bool skip;     /* not wanted for this request */
	bool optional; /* a preference: libcurl may refuse it (traced) and the
			  request goes on */
};

#define OPT_L(o, v)                       \
	{                                 \
		o, #o, OPT_LONG, .l = (v) \
	}
#define OPT_P(o, v)                      \
	{                                \
		o, #o, OPT_PTR, .p = (v) \
	}

/* Sets options on an easy handle in order, stopping at the first that fails
 * (its name in *failed). */
static CURLcode set_options(struct az_http *h, CURL *e,
			    const struct easy_opt *o, size_t n,
			    const char **failed)
{
	for (size_t i = 0; i < n; i++) {
		CURLcode rc = o[i].skip ? CURLE_OK
			      : o[i].type == OPT_LONG
				      ? curl_easy_setopt(e, o[i].id, o[i].l)
			      : o[i].type == OPT_OFF
				      ? curl_easy_setopt(e, o[i].id, o[i].off)
			      : o[i].type == OPT_PTR
				      ? curl_easy_setopt(e, o[i].id, o[i].p)
			      : o[i].type == OPT_WRITE
				      ? curl_easy_setopt(e, o[i].id, o[i].write)
				      : curl_easy_setopt(e, o[i].id, o[i].xfer);

		if (rc != CURLE_OK && o[i].optional) {
			az_http_trace(h,
				      "  libcurl refused %s (%s): going on "
				      "without it",
				      o[i].name, curl_easy_strerror(rc));
		} else if (rc != CURLE_OK) {
			*failed = o[i].name;
			return rc;
		}
	}
	return CURLE_OK;
}

/* Sets every option of one attempt; the first that fails is named in *failed.
 */
static CURLcode request_options(struct az_http *h, struct az_req *r,
				const char **failed)
{
	struct req_state *st = r->priv;
	const struct easy_opt o[] = {
		OPT_P(CURLOPT_URL, r->url),
		OPT_P(CURLOPT_CUSTOMREQUEST, r->method),
		OPT_P(CURLOPT_HTTPHEADER, r->headers),
		OPT_P(CURLOPT_PROTOCOLS_STR,
		      r->allow_http ? "http,https" : "https"),
		{ CURLOPT_NOPROXY, "CURLOPT_NOPROXY", OPT_PTR, .p = "*",
		  .skip = !r->allow_http },
		/* A proxy handed in (azcmk --demo) carries every https request;
		   "" lets no NO_PROXY entry go around it. */
		{ CURLOPT_PROXY, "CURLOPT_PROXY", OPT_PTR, .p = h->o.proxy,
		  .skip = !h->o.proxy || r->allow_http },
		{ CURLOPT_NOPROXY, "CURLOPT_NOPROXY", OPT_PTR, .p = "",
		  .skip = !h->o.proxy || r->allow_http },
		OPT_L(CURLOPT_SSL_VERIFYPEER, 1L),
		OPT_L(CURLOPT_SSL_VERIFYHOST, 2L),
		{ CURLOPT_CAINFO, "CURLOPT_CAINFO", OPT_PTR, .p = h->ca_file,
		  .skip = !h->ca_file },
		/* HTTP/2 is a preference: a libcurl built without it speaks
		   HTTP/1.1, as before this check. */
		{ CURLOPT_HTTP_VERSION, "CURLOPT_HTTP_VERSION", OPT_LONG,
		  .l = (long)CURL_HTTP_VERSION_2TLS, .optional = true },
		OPT_P(CURLOPT_SHARE, h->share),
		OPT_L(CURLOPT_NOSIGNAL, 1L),
		OPT_L(CURLOPT_TCP_NODELAY, 1L),
		/* libcurl's smallest: a request body is a few KiB of JSON, and
		 * the 64 KiB default, per transfer, was a fifth of an audit's
		 * heap with 31 lists in flight. */
		OPT_L(CURLOPT_UPLOAD_BUFFERSIZE, 16384L),
		OPT_P(CURLOPT_ERRORBUFFER, r->curl_error),
		OPT_L(CURLOPT_CONNECTTIMEOUT_MS,
		      r->connect_timeout_ms ? r->connect_timeout_ms
					    : h->o.connect_timeout_ms),
		OPT_L(CURLOPT_TIMEOUT_MS, h->o.timeout_ms),
		{ CURLOPT_WRITEFUNCTION, "CURLOPT_WRITEFUNCTION", OPT_WRITE,
		  .write = on_data },
		OPT_P(CURLOPT_WRITEDATA, st),
		{ CURLOPT_MAXFILESIZE_LARGE, "CURLOPT_MAXFILESIZE_LARGE",
		  OPT_OFF, .off = st->max_answer },
		{ CURLOPT_HEADERFUNCTION, "CURLOPT_HEADERFUNCTION", OPT_WRITE,
		  .write = on_header },
		OPT_P(CURLOPT_HEADERDATA, &st->headers),
		OPT_L(CURLOPT_NOPROGRESS, 0L),
		{ CURLOPT_XFERINFOFUNCTION, "CURLOPT_XFERINFOFUNCTION",
		  OPT_XFER, .xfer = on_progress },
		OPT_P(CURLOPT_XFERINFODATA, h),
		OPT_P(CURLOPT_PRIVATE, r),
		OPT_P(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION),
		{ CURLOPT_POSTFIELDS, "CURLOPT_POSTFIELDS", OPT_PTR,
		  .p = r->body, .skip = !r->body },
		{ CURLOPT_POSTFIELDSIZE, "CURLOPT_POSTFIELDSIZE", OPT_LONG,
		  .l = r->body ? (long)strlen(r->body) : 0, .skip = !r->body },
	};

	return set_options(h, st->easy, o, sizeof(o) / sizeof(o[0]), failed);
}

/* Prepares the easy handle for one attempt; false (the request failed,
 * r->curl_option saying why) when it cannot. */
static bool setup_easy(struct az_http *h, struct az_req *r)
{
	struct req_state *st = r->priv;
	char *rid =
		xasprintf("x-ms-client-request-id: %s", r->client_request_id);
	bool has_rid = false;
	CURLcode rc;

	if (!st->easy)
		st->easy = curl_easy_init();
	if (!st->easy) {
		free(rid);
		r->curl_option = "curl_easy_init";
		r->curl_code = CURLE_FAILED_INIT;
		snprintf(r->curl_error, sizeof(r->curl_error), "%s",
			 curl_easy_strerror(CURLE_FAILED_INIT));
		return false;
	}
	curl_easy_reset(st->easy);
	st->max_answer = (curl_off_t)h->o.max_answer_bytes;
	st->too_large = false;
	for (struct curl_slist *l = r->headers; l; l = l->next)
		has_rid |= str_istarts(l->data, "x-ms-client-request-id:");
	if (!has_rid)
		r->headers = curl_slist_append(r->headers, rid);
	free(rid);
	sb_free(&st->body);
	sb_free(&st->headers);
	rc = request_options(h, r, &r->curl_option);
	if (rc == CURLE_OK)
		return true;
	r->curl_code = (int)rc;
	snprintf(r->curl_error, sizeof(r->curl_error), "%s",
		 curl_easy_strerror(rc));
	return false;
}

/* Ends a request the engine could not prepare: not sent, not retried;
 * curl_error says why. */
static void stop_unsent(struct az_http *h, struct az_req *r)
{
	struct req_state *st = r->priv;

	st->done = true;
	st->running = false;
	az_http_trace(h, "< not sent to %s: %s: %s", r->url,
		      r->no_random ? "RAND_bytes" : r->curl_option,
		      r->curl_error);
}

/* Starts one attempt of a request (or stops it unsent when it cannot be
 * prepared). */
static void start(struct az_http *h, struct az_req *r)
{
	struct req_state *st = r->priv;
	CURLMcode mc;

	r->attempts++;
	if (r->no_random) {
		r->curl_code = CURLE_FAILED_INIT;
		stop_unsent(h, r);
		return;
	}
	r->curl_error[0] = '\0';
	r->curl_option = NULL;
	if (!setup_easy(h, r)) {
		stop_unsent(h, r);
		return;
	}
	trace_request(h, r);
	mc = curl_multi_add_handle(h->multi, st->easy);
	if (mc != CURLM_OK) {
		/* Not added, it would wait for an end that never comes. */
		r->curl_code = CURLE_FAILED_INIT;
		r->curl_option = "curl_multi_add_handle";
		snprintf(r->curl_error, sizeof(r->curl_error), "%s",
			 curl_multi_strerror(mc));
		stop_unsent(h, r);
		return;
	}
	st->running = true;
	st->held = false;
	if (r->graph_quota)
		h->quota.inflight++;
	st->started_ms = (double)mono_ms();
}

/* What a reset in whole seconds ("00:00:03", as Microsoft shows it) may have
 * rounded away: up to one more second. Counted, so that a query held for the
 * window does not go a little early and meet a 429 (a retry spent), and so that
 * "00:00:00" is not taken as over, which would lose the count of the queries
 * still under way. */
#define QUOTA_LAST_SECOND_MS 1000

/*
 * Takes in the query quota a Resource Graph answer gives in its headers, if it
 * gives one (a window longer than the engine's longest wait counts as that
 * long: a server cannot park the engine for hours).
 */
static void note_quota(struct az_http *h, const struct az_req *r)
{
	char *left = az_req_response_header(r, "x-ms-user-quota-remaining"),
	     *reset = az_req_response_header(r, "x-ms-user-quota-resets-after");
	struct az_graph_quota q;

	if (wire_graph_quota(left, reset, &q)) {
		int64_t now = mono_ms(),
			wait = q.reset_ms % 1000
				       ? q.reset_ms
				       : q.reset_ms + QUOTA_LAST_SECOND_MS,
			at = now + (wait > h->o.backoff_max_ms
					    ? h->o.backoff_max_ms
					    : wait);

		/* Within a window the count only goes down: answers taken in
		 * out of the order Resource Graph counted them keep the
		 * lowest, and the later reset. More left and a reset past
		 * the window's (and the second it may round away) is the
		 * next window, taken as it is. */
		if (h->quota.known && now < h->quota.reset_at &&
		    !(q.remaining > h->quota.left &&
		      at > h->quota.reset_at + QUOTA_LAST_SECOND_MS)) {
			q.remaining = q.remaining < h->quota.left
					      ? q.remaining
					      : h->quota.left;
			at = at > h->quota.reset_at ? at : h->quota.reset_at;
		}
		h->quota.known = true;
		h->quota.left = q.remaining;
		h->quota.reset_at = at;
	}
	free(left);
	free(reset);
}

/*
 * Returns when the next Resource Graph query may start: at once (0) while the
 * quota is unknown or has room for it beside those under way, else when its
 * window resets.
 */
static int64_t quota_due(struct az_http *h, int64_t now)
{
	if (!h->quota.known)
		return 0;
	if (now >= h->quota.reset_at) {
		h->quota.known = false;
		return 0;
	}
	return h->quota.left - h->quota.inflight > 0 ? 0 : h->quota.reset_at;
}

/* Tells whether a transport failure may succeed on another attempt. */
static bool transport_retryable(int code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Returns how long to wait before retrying, or -1 when the answer is final. */
static int64_t retry_delay(struct az_http *h, struct az_req *r)
{
	char *ra, *ra_ms;
	int64_t wait;
	unsigned char rnd;

	if ((r->no_retry && !(r->retry_throttled && r->status == 429)) ||
	    r->attempts > h->o.max_retries || az_http_canceled(h))
		return -1;
	if (r->curl_code ? !transport_retryable(r->curl_code)
			 : !wire_status_retryable(r->status))
		return -1;
	ra = az_req_response_header(r, "Retry-After");
	ra_ms = az_req_response_header(r, "x-ms-retry-after-ms");
	wait = wire_retry_after_ms(ra, ra_ms, (int64_t)time(NULL));
	free(ra);
	free(ra_ms);
	/* Resource Graph throttles by its quota headers, not Retry-After (its
	 * 429 asks to wait "until an amount of time has elapsed": Guidance
	 * for throttled requests in Azure Resource Graph; Azure/azure-cli-
	 * extensions#3325): the retry waits for the window to reset, or, with
	 * no window open, backs off as any other. */
	if (wait < 0 && r->status == 429 && r->graph_quota) {
		int64_t now = mono_ms(), due = quota_due(h, now);

		if (due > now)
			wait = due - now;
	}
	if (wait < 0) {
		/* The backoff's jitter comes from OpenSSL or not at all:
		 * without it the request stops here. */
		if (RAND_bytes(&rnd, 1) != 1) {
			random_failed(r);
			az_http_trace(h, "  not retrying: RAND_bytes: %s",
				      r->curl_error);
			return -1;
		}
		wait = wire_backoff_ms(r->attempts - 1, h->o.backoff_base_ms,
				       h->o.backoff_max_ms, rnd / 255.0);
	}
	return wait > h->o.backoff_max_ms * 5 ? h->o.backoff_max_ms * 5 : wait;
}

/* Records the outcome of an attempt, then either finishes the request or
 * schedules a retry. */
static void finish_attempt(struct az_http *h, struct az_req *r, CURLcode code)
{
	struct req_state *st = r->priv;
	char *err = NULL;
	int64_t wait;

	curl_multi_remove_handle(h->multi, st->easy);
	st->running = false;
	if (r->graph_quota && h->quota.inflight > 0)
		h->quota.inflight--;
	r->curl_code = (int)code;
	r->status = 0;
	if (code == CURLE_OK)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (st->too_large || code == CURLE_FILESIZE_EXCEEDED)
		snprintf(r->curl_error, sizeof(r->curl_error),
			 _("the answer is larger than %lld bytes, more than "
			   "any answer Azure gives: it was not read"),
			 (long long)st->max_answer);
	free(r->resp_headers);
	r->resp_headers = xstrdup(sb_str(&st->headers));
	if (r->graph_quota)
		note_quota(h, r);
	trace_response(h, r, (double)mono_ms() - st->started_ms);
	if (code == CURLE_ABORTED_BY_CALLBACK)
		r->canceled = true;
	wait = retry_delay(h, r);
	if (wait >= 0) {
		az_http_trace(h, "  retrying in %lld ms", (long long)wait);
		st->due_ms = mono_ms() + wait;
		return;
	}
	st->done = true;
	if (st->too_large || code == CURLE_FILESIZE_EXCEEDED)
		sb_free(&st->body); /* a refused answer is not parsed */
	free(r->resp_body);
	r->resp_len = st->body.len;
	r->resp_body = sb_steal(&st->body);
	json_object_put(r->json);
	r->json = r->resp_len && !(r->raw_json && r->status >= 200 &&
				   r->status < 300)
			  ? jx_parse(r->resp_body, r->resp_len, &err)
			  : NULL;
	free(err);
}

/* Returns when a request's next attempt may start: when its retry is due, and
 * for a Resource Graph query, once the quota has room (traced once). */
static int64_t due_at(struct az_http *h, struct az_req *r, int64_t now)
{
	struct req_state *st = r->priv;
	int64_t q = r->graph_quota ? quota_due(h, now) : 0;

	if (q <= st->due_ms || q <= now)
		return st->due_ms;
	if (!st->held)
		az_http_trace(h,
			      "  %s %s waits %lld ms: Resource Graph's query "
			      "quota is spent until its window resets",
			      r->method, r->url, (long long)(q - now));
	st->held = true;
	return q;
}

/* Starts every request whose time has come; returns how long until the next one
 * is due (or -1). */
static long start_due(struct az_http *h, struct az_req **reqs, size_t n)
{
	int64_t now = mono_ms(), next = -1;

	for (size_t i = 0; i < n; i++) {
		struct req_state *st = reqs[i]->priv;
		int64_t due;

		if (st->done || st->running)
			continue;
		due = due_at(h, reqs[i], now);
		if (due <= now)
			start(h, reqs[i]);
		else if (next < 0 || due - now < next)
			next = due - now;
	}
	return (long)next;
}

/* Collects the transfers that ended. */
static void reap(struct az_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct az_req *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		finish_attempt(h, r, m->data.result);
	}
}

/* Tells whether every request is done. */
static bool all_done(struct az_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((struct req_state *)reqs[i]->priv)->done)
			return false;
	return true;
}

/* Marks every unfinished request as canceled and detaches it. */
static void cancel_all(struct az_http *h, struct az_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct req_state *st = reqs[i]->priv;

		if (st->done)
			continue;
		if (st->running) {
			curl_multi_remove_handle(h->multi, st->easy);
			if (reqs[i]->graph_quota && h->quota.inflight > 0)
				h->quota.inflight--;
		}
		st->running = false;
		st->done = true;
		reqs[i]->canceled = true;
		reqs[i]->curl_code = CURLE_ABORTED_BY_CALLBACK;
		snprintf(reqs[i]->curl_error, sizeof(reqs[i]->curl_error),
			 "canceled");
	}
}

/* Refuses requests that are not https (or allowed plain http) before anything
 * is sent. */
static void refuse_insecure(struct az_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct req_state *st = reqs[i]->priv;

		if (!st->done && !url_allowed(reqs[i])) {
			st->done = true;
			reqs[i]->curl_code = CURLE_UNSUPPORTED_PROTOCOL;
			snprintf(reqs[i]->curl_error,
				 sizeof(reqs[i]->curl_error),
				 "refused to send to a URL that is not https");
		}
	}
}

/* Tells whether one of the requests is done. */
static bool any_done(struct az_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((struct req_state *)reqs[i]->priv)->done)
			return true;
	return false;
}

/*
 * Runs requests concurrently over shared connections, retrying each as the
 * server asks, until all (or, with any, one of them) finished; those still
 * under way go on at the next call that names them. -1 when canceled.
 */
static int run_until(struct az_http *h, struct az_req **reqs, size_t n,
		     bool any)
{
	int running = 0;

	refuse_insecure(reqs, n);
	while (any ? !any_done(reqs, n) : !all_done(reqs, n)) {
		long next = start_due(h, reqs, n),
		     wait = next < 0 || next > 100 ? 100 : next;

		if (az_http_canceled(h)) {
			cancel_all(h, reqs, n);
			return -1;
		}
		curl_multi_perform(h->multi, &running);
		reap(h);
		if (any ? !any_done(reqs, n) : !all_done(reqs, n))
			curl_multi_poll(h->multi, NULL, 0,
					(int)(wait > 0 ? wait : 1), NULL);
	}
	return az_http_canceled(h) ? -1 : 0;
}

/*
 * Runs requests concurrently over shared connections, retrying each as the
 * server asks; returns 0 when all finished (well or not), -1 when canceled.
 */
int az_http_run(struct az_http *h, struct az_req **reqs, size_t n)
{
	h->waves += n > 0;
	return run_until(h, reqs, n, false);
}

/* Returns how many waves of requests (az_http_run, each waiting for all its
 * answers) this engine has run: the round trips a caller waited in sequence,
 * which tests and benchmarks count. */
size_t az_http_waves(const struct az_http *h)
{
	return h->waves;
}

/*
 * Runs requests as az_http_run does, but returns as soon as one of them is
 * done (az_req_done); the others stay under way, and every later call must
 * name them until they are done or abandoned.
 */
int az_http_run_any(struct az_http *h, struct az_req **reqs, size_t n)
{
	return run_until(h, reqs, n, true);
}

/* Starts the requests that are due and sends what can be sent now, without
 * waiting for any answer (az_http_run_any takes them up). */
void az_http_kick(struct az_http *h, struct az_req **reqs, size_t n)
{
	int running = 0;

	refuse_insecure(reqs, n);
	start_due(h, reqs, n);
	curl_multi_perform(h->multi, &running);
	reap(h);
}

/* Returns how long a Resource Graph query started now would wait for the
 * query quota to reset (0: it would go at once). */
int64_t az_http_graph_wait_ms(struct az_http *h)
{
	int64_t now = mono_ms(), due = quota_due(h, now);

	return due > now ? due - now : 0;
}

/* Tells whether a request has its final answer (or failed for good). */
bool az_req_done(const struct az_req *r)
{
	return ((const struct req_state *)r->priv)->done;
}

/* Stops the requests still under way (they end canceled), so that they can be
 * freed. */
void az_http_abandon(struct az_http *h, struct az_req **reqs, size_t n)
{
	cancel_all(h, reqs, n);
}

/* Runs one request. */
int az_http_one(struct az_http *h, struct az_req *r)
{
	return az_http_run(h, &r, 1);
}
