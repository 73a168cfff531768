/* A failure of the session layer, worded for the operator: what failed, the
 * name of the thing, what to do. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "azerror.h"
#include "i18n.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

/* Frees an error's text. */
void az_error_clear(struct az_error *e)
{
	if (!e)
		return;
	free(e->message);
	free(e->code);
	free(e->inner);
	free(e->request_id);
	memset(e, 0, sizeof(*e));
}

/* Sets an error's message (replacing any earlier one). */
void az_error_set(struct az_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	free(e->message);
	va_start(ap, fmt);
	e->message = xvasprintf(fmt, ap);
	va_end(ap);
}

/* Returns the host of a request's URL, for messages. */
static void host_for(const struct az_req *r, char *host, size_t len)
{
	bool https;

	if (!wire_url_host(r->url, host, (unsigned)len, &https))
		snprintf(host, len, "%s", r->url);
}

/* Words a transport failure: unreachable, TLS, proxy, refused as not https, or
 * stopped before it was sent. */
static void transport_error(struct az_error *e, const struct az_req *r,
			    const char *what, const char *host)
{
	char *detail = text_sanitize(r->curl_error[0]
					     ? r->curl_error
					     : curl_easy_strerror(r->curl_code),
				     false);

	if (r->no_random)
		az_error_set(e,
			     _("%s: stopped the request to '%s': OpenSSL's "
			       "random generator failed (%s); check that the "
			       "system's random source (getrandom, "
			       "/dev/urandom) works, then try again"),
			     what, host, detail);
	else if (r->curl_option)
		az_error_set(e,
			     _("%s: cannot set up the HTTPS request to '%s': "
			       "%s (curl says: %s); nothing was sent: "
			       "update or reinstall libcurl (azcmk needs 7.85 "
			       "or newer, with TLS)"),
			     what, host, r->curl_option, detail);
	else if (r->curl_code == CURLE_UNSUPPORTED_PROTOCOL)
		az_error_set(e,
			     _("%s: refused to send a request to '%s': azcmk "
			       "talks to Azure only over https"),
			     what, r->url);
	else if (strstr(detail, "CONNECT tunnel failed") ||
		 r->curl_code == CURLE_COULDNT_RESOLVE_PROXY)
		az_error_set(e,
			     _("%s: the proxy refused the connection to '%s' "
			       "(%s); check HTTPS_PROXY and NO_PROXY "
			       "(request id %s)"),
			     what, host, detail, r->client_request_id);
	else if (r->curl_code == CURLE_PEER_FAILED_VERIFICATION ||
		 r->curl_code == CURLE_SSL_CACERT_BADFILE ||
		 r->curl_code == CURLE_SSL_CERTPROBLEM)
		az_error_set(e,
			     _("%s: the TLS certificate of '%s' could not be "
			       "verified (%s); if a proxy inspects TLS, "
			       "give its CA with --ca-file or SSL_CERT_FILE "
			       "(request id %s)"),
			     what, host, detail, r->client_request_id);
	else if (r->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
		 r->curl_code == CURLE_COULDNT_CONNECT ||
		 r->curl_code == CURLE_OPERATION_TIMEDOUT)
		az_error_set(e,
			     _("%s: cannot reach '%s' (%s); check the network, "
			       "DNS and proxy settings (request id %s)"),
			     what, host, detail, r->client_request_id);
	else
		az_error_set(e,
			     P_("%s: the connection to '%s' failed after %d "
				"attempt (%s) (request id %s)",
				"%s: the connection to '%s' failed after %d "
				"attempts (%s) (request id %s)",
				(unsigned long)r->attempts),
			     what, host, r->attempts, detail,
			     r->client_request_id);
	free(detail);
}

/* Words an HTTP error answer, with Azure's code and message, and what to do for
 * throttling. */
static void http_error(struct az_error *e, const struct az_req *r,
		       const char *what, const char *host)
{
	struct az_wire_error we;
	bool parsed = wire_parse_error(r->json, &we);

	if (r->status == 429)
		az_error_set(
			e,
			P_("%s: Azure is throttling requests to '%s' (HTTP "
			   "429) and still was after %d attempt; wait "
			   "a minute and try again (request id %s)",
			   "%s: Azure is throttling requests to '%s' (HTTP "
			   "429) "
			   "and still was after %d attempts; wait a minute and "
			   "try again (request id %s)",
			   (unsigned long)r->attempts),
			what, host, r->attempts, r->client_request_id);
	else if (parsed && we.inner)
		az_error_set(e, _("%s: %s (%s/%s, HTTP %ld) (request id %s)"),
			     what, we.message, we.code, we.inner, r->status,
			     r->client_request_id);
	else if (parsed)
		az_error_set(e, _("%s: %s (%s, HTTP %ld) (request id %s)"),
			     what, we.message, we.code, r->status,
			     r->client_request_id);
	else
		az_error_set(e, _("%s: '%s' answered HTTP %ld (request id %s)"),
			     what, host, r->status, r->client_request_id);
	if (parsed) {
		free(e->code);
		free(e->inner);
		e->code = xstrdup(we.code);
		e->inner = we.inner ? xstrdup(we.inner) : NULL;
		wire_error_free(&we);
	}
}

/* Fills an error from a failed request: what failed, Azure's words, the request
 * id. */
void az_error_from_req(struct az_error *e, const struct az_req *r,
		       const char *what)
{
	char host[256];

	if (!e)
		return;
	host_for(r, host, sizeof(host));
	free(e->request_id);
	e->request_id = xstrdup(r->client_request_id);
	e->status = r->status;
	if (r->canceled)
		az_error_set(e, _("%s: canceled"), what);
	else if (r->curl_code)
		transport_error(e, r, what, host);
	else
		http_error(e, r, what, host);
}
