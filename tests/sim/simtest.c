/* Test harness: an in-process simulator and a libcurl client that reaches it
 * through its proxy. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jx.h"
#include "sbuf.h"
#include "simtest.h"
#include "xalloc.h"

/* Reads tests/scenarios/NAME from the source tree (top_srcdir in the
 * environment, else "."). */
char *st_read_scenario(const char *name)
{
	const char *top = getenv("top_srcdir");
	char *path = xasprintf("%s/tests/scenarios/%s", top ? top : ".", name);
	FILE *f = fopen(path, "rb");
	struct sbuf b = SBUF_INIT;
	char buf[65536];
	size_t n;

	if (!f) {
		fprintf(stderr, "simtest: cannot open %s\n", path);
		free(path);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&b, buf, n);
	fclose(f);
	free(path);
	return sb_steal(&b);
}

/* Starts a simulator on ephemeral ports from scenario text; returns 0 or -1
 * with a message. */
int st_start_text(struct simtest *t, const char *text, char **err)
{
	struct sim_options o = { text, strlen(text), 0, 0, 0, -1, NULL };

	memset(t, 0, sizeof(*t));
	t->sim = sim_start(&o, err);
	if (!t->sim)
		return -1;
	sim_ports(t->sim, &t->https, &t->proxy, &t->identity);
	t->ca = xstrdup(sim_ca_pem(t->sim));
	t->doc = json_tokener_parse(text);
	t->curl = curl_easy_init();
	return 0;
}

/* Starts a simulator on a named scenario, with an optional JSON merge patch
 * applied first. */
int st_start(struct simtest *t, const char *name, const char *merge)
{
	char *text = st_read_scenario(name), *err = NULL;
	int rc;

	if (!text)
		return -1;
	if (merge) {
		struct json_object *doc = json_tokener_parse(text),
				   *patch = json_tokener_parse(merge);

		jx_merge_patch(doc, patch);
		free(text);
		text = xstrdup(jx_text(doc));
		json_object_put(doc);
		json_object_put(patch);
	}
	rc = st_start_text(t, text, &err);
	if (rc)
		fprintf(stderr, "simtest: %s\n", err);
	free(err);
	free(text);
	return rc;
}

/* Points a client at the simulator: writes its CA to ca_path and sets
 * HTTPS_PROXY; -1 when the file cannot be written. */
int st_point_client(struct simtest *t, const char *ca_path)
{
	FILE *f = fopen(ca_path, "w");
	char proxy[64];
	int rc = f && fputs(t->ca, f) >= 0 ? 0 : -1;

	if (f && fclose(f) != 0)
		rc = -1;
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", t->proxy);
	setenv("HTTPS_PROXY", proxy, 1);
	return rc;
}

/* Stops the simulator and frees the client. */
void st_stop(struct simtest *t)
{
	if (t->curl)
		curl_easy_cleanup(t->curl);
	sim_stop(t->sim);
	json_object_put(t->doc);
	free(t->ca);
	memset(t, 0, sizeof(*t));
}

/* Collects a response body. */
static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	sb_add(cls, data, size * n);
	return size * n;
}

/* Sends a request with extra header lines (HTTPS through the proxy, HTTP
 * directly); fills r (caller frees). */
long st_req_hdr(struct simtest *t, const char *method, const char *url,
		const char *const *headers, const char *body, struct st_resp *r)
{
	struct curl_blob ca = { t->ca, strlen(t->ca), CURL_BLOB_COPY };
	struct sbuf b = SBUF_INIT, h = SBUF_INIT;
	struct curl_slist *list = NULL;
	char *proxy = xasprintf("http://127.0.0.1:%d", t->proxy), *err = NULL;

	memset(r, 0, sizeof(*r));
	for (int i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	curl_easy_reset(t->curl);
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	if (strncmp(url, "https://", 8) == 0)
		curl_easy_setopt(t->curl, CURLOPT_PROXY, proxy);
	else
		curl_easy_setopt(t->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(t->curl, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(t->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, on_body);
	curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT, 30L);
	if (body) {
		curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body));
	}
	r->rc = curl_easy_perform(t->curl);
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = sb_steal(&b);
	r->headers = sb_steal(&h);
	r->json = jx_parse(r->body, strlen(r->body), &err);
	free(err);
	curl_slist_free_all(list);
	free(proxy);
	return r->rc == CURLE_OK ? r->status : -1;
}

/* Sends a request with an optional bearer token and JSON body. */
long st_req(struct simtest *t, const char *method, const char *url,
	    const char *token, const char *body, struct st_resp *r)
{
	char *auth =
		token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	const char *hdrs[] = { "Content-Type: application/json", auth, NULL };
	long rc = st_req_hdr(t, method, url, hdrs, body, r);

	free(auth);
	return rc;
}

/* Gets a token for a scope with the operator's client secret; NULL on failure.
 */
char *st_token(struct simtest *t, const char *scope)
{
	struct st_resp r;
	char *url = xasprintf(
		"https://login.microsoftonline.com/%s/oauth2/v2.0/token",
		jx_str(t->doc, "tenantId"));
	char *esc = curl_easy_escape(t->curl, scope, 0);
	char *form = xasprintf("grant_type=client_credentials&client_id=%s&"
			       "client_secret=%s&scope=%s",
			       jx_str(t->doc, "operator.clientId"),
			       jx_str(t->doc, "operator.clientSecret"), esc);
	const char *hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL
	};
	char *tok = NULL;

	if (st_req_hdr(t, "POST", url, hdrs, form, &r) == 200 &&
	    jx_str(r.json, "access_token"))
		tok = xstrdup(jx_str(r.json, "access_token"));
	st_resp_free(&r);
	curl_free(esc);
	free(form);
	free(url);
	return tok;
}

/* Returns a response header's value (first match, case-insensitive), allocated,
 * or NULL. */
char *st_header(const struct st_resp *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = r->headers; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *end = strpbrk(v, "\r\n");

			while (*v == ' ')
				v++;
			return xstrndup(v, end ? (size_t)(end - v) : strlen(v));
		}
	}
	return NULL;
}

/* Returns error.code of a JSON error body (or the Entra "error" string), or "".
 */
const char *st_error_code(const struct st_resp *r)
{
	const char *c = jx_str(r->json, "error.code");

	if (!c &&
	    json_object_is_type(jx_get(r->json, "error"), json_type_string))
		c = jx_str(r->json, "error");
	return c ? c : "";
}

/* Calls an admin endpoint on sim.local. */
long st_admin(struct simtest *t, const char *method, const char *path,
	      const char *body, struct st_resp *r)
{
	char *url = xasprintf("https://sim.local%s", path);
	long rc = st_req(t, method, url, NULL, body, r);

	free(url);
	return rc;
}

/* Adds a fault rule through the admin endpoint; returns the HTTP status (201
 * when taken). */
long st_fault(struct simtest *t, const char *rule)
{
	struct st_resp r;
	long rc = st_admin(t, "POST", "/faults", rule, &r);

	st_resp_free(&r);
	return rc;
}

/* Frees a response. */
void st_resp_free(struct st_resp *r)
{
	free(r->body);
	free(r->headers);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}
