/* The Azure session: the cloud, a credential, tokens per audience, and every
 * call azcmk makes to Azure. */
/*
 * The session calls the credential only through cred.h (az_cred_pick, then
 * az_cred_token, az_cred_name, az_cred_id, az_cred_free) and the credential
 * never calls the session: it is given a struct az_cred_ctx, and the token its
 * probe got comes back from az_cred_pick into the session's cache.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cred.h"
#include "i18n.h"
#include "jx.h"
#include "session.h"
#include "text.h"
#include "tokcache.h"
#include "wire.h"
#include "xalloc.h"

#define RENEW_MARGIN                                             \
	300 /* renew a token this many seconds before it expires \
	     */
#define MAX_PAGES 10000
#define LRO_TIMEOUT 3600

struct tok_entry {
	char *scope, *tenant;
	struct az_token t;
};

struct chal_entry {
	char *host, *scope, *tenant;
};

struct az_session {
	struct az_session_opts o;
	const struct az_cloud *cloud;
	struct az_http *http;
	char *tenant;
	struct az_cred *cred;
	struct tok_entry *toks;
	size_t ntoks;
	struct chal_entry *chal;
	size_t nchal;
	struct json_object *memo; /* answers that do not change within a run
				     (role definitions), by path */
	bool persist;             /* tokens shared through the token cache */
	bool read_cache;          /* and taken from it */
	char *cloud_key;          /* the cloud, in the token cache's keys */
	char *identity; /* the credential's, in the token cache's keys (NULL:
			   its tokens are not shared) */
	bool warned;    /* the token cache's trouble was told once */
	bool by_mark;   /* the chain took the Azure CLI on its own mark */
};

/* Finds the session's cloud: --cloud, else with --auth cli the Azure CLI's
 * active cloud, else AzureCloud; false with an error for an unknown one. */
static bool cli_cloud(struct az_session *s, struct az_error *e)
{
	char *az = !s->o.cloud && s->o.auth == AZ_AUTH_CLI ? az_cli_cloud_name()
							   : NULL;

	s->cloud = az_cloud_find(s->o.cloud ? s->o.cloud : az);
	if (!s->cloud && az) {
		char *shown = text_sanitize(az, false);

		az_error_set(e,
			     _("the Azure CLI's active cloud is '%s' (az cloud "
			       "show), which azcmk does not know: give --cloud "
			       "with one of %s"),
			     shown, az_cloud_names());
		free(shown);
	} else if (!s->cloud) {
		az_error_set(e, _("unknown cloud '%s': use one of %s"),
			     s->o.cloud, az_cloud_names());
	}
	free(az);
	return s->cloud != NULL;
}

/* With --auth cli, the Azure CLI's default subscription ({"id", "name"},
 * caller puts it); NULL with another method or when az has none. */
struct json_object *az_session_cli_subscription(struct az_session *s)
{
	return s->o.auth == AZ_AUTH_CLI
		       ? az_cli_subscription(s->o.az_command, s->o.cancel)
		       : NULL;
}

/* Creates a session; nothing is sent until the first call. */
struct az_session *az_session_new(const struct az_session_opts *o,
				  struct az_error *e)
{
	struct az_session *s = xcalloc(1, sizeof(*s));
	struct az_http_opts ho = { 0 };
	const char *tenant = o->tenant ? o->tenant : getenv("AZURE_TENANT_ID");
	char *err = NULL;

	s->o = *o;
	if (!cli_cloud(s, e)) {
		free(s);
		return NULL;
	}
	s->tenant = xstrdup(tenant && *tenant ? tenant : "organizations");
	/* The demo signs in to its simulator as its own operator: its tokens
	 * never go to the cache real sign-ins share. */
	s->persist =
		o->persist_tokens && !o->client_secret && tokcache_enabled();
	s->read_cache = s->persist && !o->fresh_tokens;
	s->cloud_key = xasprintf("%s %s %s", s->cloud->name,
				 s->cloud->authority, s->cloud->arm);
	ho.ca_file = o->ca_file;
	ho.trace = o->trace;
	ho.trace_brief = o->trace_brief;
	ho.cancel = o->cancel;
	ho.max_retries = o->max_retries;
	ho.max_answer_bytes = o->max_answer_bytes;
	ho.backoff_base_ms = o->backoff_base_ms;
	ho.proxy = o->proxy;
	s->http = az_http_new(&ho, &err);
	if (!s->http) {
		az_error_set(e, "%s", err);
		free(err);
		free(s->cloud_key);
		free(s->tenant);
		free(s);
		return NULL;
	}
	return s;
}

/* Frees a session, its tokens and its connections. */
void az_session_free(struct az_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntoks; i++) {
		free(s->toks[i].scope);
		free(s->toks[i].tenant);
		free(s->toks[i].t.token);
	}
	for (size_t i = 0; i < s->nchal; i++) {
		free(s->chal[i].host);
		free(s->chal[i].scope);
		free(s->chal[i].tenant);
	}
	free(s->toks);
	free(s->chal);
	az_cred_free(s->cred);
	az_http_free(s->http);
	json_object_put(s->memo);
	free(s->cloud_key);
	free(s->identity);
	free(s->tenant);
	free(s);
}

/*
 * Returns the session's memo of answers that do not change within a run,
 * by lower-case path (borrowed; created empty on first use): a role
 * definition read for one resource is not read again for the next.
 */
struct json_object *az_session_memo(struct az_session *s)
{
	if (!s->memo)
		s->memo = json_object_new_object();
	return s->memo;
}

/* Returns the session's cloud. */
const struct az_cloud *az_session_cloud(const struct az_session *s)
{
	return s->cloud;
}

/* Returns the DNS suffixes of the session's cloud's key stores, for
 * key_ref_parse. */
struct key_suffixes az_session_key_suffixes(const struct az_session *s)
{
	struct key_suffixes k = { s->cloud->kv_suffix, s->cloud->hsm_suffix };

	return k;
}

/* Returns the session's HTTP engine. */
struct az_http *az_session_http(struct az_session *s)
{
	return s->http;
}

/* Returns the tenant the session signs in to. */
const char *az_session_tenant(const struct az_session *s)
{
	return s->tenant;
}

/* Names the credential in use ("environment (client secret)" ...), or NULL
 * before sign-in. */
const char *az_session_method(const struct az_session *s)
{
	return s->cred ? az_cred_name(s->cred) : NULL;
}

/* Names the credential in use with a stable identifier for machine-readable
 * output, or NULL before sign-in. */
const char *az_session_method_id(const struct az_session *s)
{
	return s->cred ? az_cred_id(s->cred) : NULL;
}

/* Finds a cached token entry for a scope and tenant. */
static struct tok_entry *tok_find(struct az_session *s, const char *scope,
				  const char *tenant)
{
	for (size_t i = 0; i < s->ntoks; i++)
		if (str_ieq(s->toks[i].scope, scope) &&
		    str_ieq(s->toks[i].tenant, tenant))
			return &s->toks[i];
	return NULL;
}

/* Stores a token in the cache (taking it over), e.g. the one a credential probe
 * already fetched. */
static void keep_token(struct az_session *s, const char *scope,
		       const char *tenant, struct az_token *tok)
{
	struct tok_entry *t;

	tenant = tenant ? tenant : s->tenant;
	t = tok_find(s, scope, tenant);
	if (!t) {
		s->toks = xrealloc(s->toks, (s->ntoks + 1) * sizeof(*s->toks));
		t = &s->toks[s->ntoks++];
		t->scope = xstrdup(scope);
		t->tenant = xstrdup(tenant);
	} else {
		free(t->t.token);
	}
	t->t = *tok;
	tok->token = NULL;
}

/* Tells the operator once why the token cache was not used (takes warn
 * over). */
static void cache_warning(struct az_session *s, char *warn)
{
	if (warn && !s->warned) {
		s->warned = true;
		if (s->o.warn)
			s->o.warn(warn, s->o.prompt_ctx);
		else if (s->o.trace)
			fprintf(s->o.trace, "* %s\n", warn);
	}
	free(warn);
}

/* Returns a credential's identity in the token cache's keys (the Azure CLI's
 * is who az signs in as), or NULL when its tokens are not shared. */
static char *cred_identity(const struct az_session *s, const struct az_cred *c)
{
	if (!s->persist)
		return NULL;
	if (!strcmp(az_cred_id(c), "azure-cli"))
		return tokcache_cli_identity(s->o.az_command);
	/* A managed identity is the machine's: a home directory shared between
	 * machines must not hand one machine's token to another. */
	if (!strncmp(az_cred_id(c), "managed-identity", 16)) {
		char host[256] = "", *id = az_cred_identity(c), *both;

		gethostname(host, sizeof(host) - 1);
		both = id ? xasprintf("%s %s", id, host) : NULL;
		free(id);
		return both;
	}
	return az_cred_identity(c);
}

/* Takes a fresh token for a credential's identity from the token cache into
 * the session's; false when it has none. */
static bool disk_get(struct az_session *s, const char *identity,
		     const char *scope, const char *tenant)
{
	struct tokcache_key k = { s->cloud_key, tenant, identity, scope };
	struct az_token t;
	char *warn = NULL;
	bool found =
		s->read_cache && identity &&
		tokcache_get(&k, (int64_t)time(NULL), RENEW_MARGIN, &t, &warn);

	cache_warning(s, warn);
	if (!found)
		return false;
	if (s->o.trace)
		fprintf(s->o.trace,
			"* the token for %s comes from the token "
			"cache\n",
			scope);
	keep_token(s, scope, tenant, &t);
	return true;
}

/* Writes a token the credential just got to the token cache. */
static void disk_put(struct az_session *s, const char *scope,
		     const char *tenant, const struct az_token *t)
{
	struct tokcache_key k = { s->cloud_key, tenant, s->identity, scope };
	char *warn = NULL;

	if (s->identity)
		tokcache_put(&k, t, (int64_t)time(NULL), &warn);
	cache_warning(s, warn);
}

/* For the chain: whether the token cache holds a fresh Resource Manager token
 * of c, which is then picked without a probe. */
static bool chain_cached(const struct az_cred *c, void *ctx)
{
	struct az_session *s = ctx;
	char *id = cred_identity(s, c);
	bool found = disk_get(s, id, s->cloud->arm_scope, s->tenant);

	free(id);
	return found;
}

/* Returns the identity under which a chain's choice of c is kept in the
 * token cache, apart from c's own tokens (NULL: not shared). */
static char *chain_mark(const struct az_session *s, const struct az_cred *c)
{
	char *id = cred_identity(s, c),
	     *mark = id ? xasprintf("chain-choice %s", id) : NULL;

	free(id);
	return mark;
}

/* For the chain: whether an earlier chain chose c after the steps before it
 * failed, and its token is still fresh; then c is picked without those steps'
 * probes. */
static bool chain_chosen(const struct az_cred *c, void *ctx)
{
	struct az_session *s = ctx;
	char *mark = chain_mark(s, c), *warn = NULL;
	struct tokcache_key k = { s->cloud_key, s->tenant, mark,
				  s->cloud->arm_scope };
	struct az_token t;
	bool found = mark && tokcache_get(&k, (int64_t)time(NULL), RENEW_MARGIN,
					  &t, &warn);

	/* The mark only says the chain chose c: c's tokens come from its own
	 * entries, which a token Azure refused does not outlive. */
	if (found)
		free(t.token);
	cache_warning(s, warn);
	s->by_mark = found;
	free(mark);
	return found;
}

/* Marks in the token cache that the chain chose the Azure CLI (the managed
 * identity before it failed), with the Resource Manager token it holds, so
 * the next chain skips the managed identity's probe while that token lasts. */
static void mark_chain_choice(struct az_session *s)
{
	struct tok_entry *t = tok_find(s, s->cloud->arm_scope, s->tenant);
	char *mark, *warn = NULL;

	if (s->o.auth != AZ_AUTH_CHAIN || s->by_mark || !t ||
	    strcmp(az_cred_id(s->cred), "azure-cli") != 0)
		return;
	mark = chain_mark(s, s->cred);
	if (mark) {
		struct tokcache_key k = { s->cloud_key, s->tenant, mark,
					  s->cloud->arm_scope };

		tokcache_put(&k, &t->t, (int64_t)time(NULL), &warn);
	}
	cache_warning(s, warn);
	free(mark);
}

/* Chooses the credential (trying the chain when asked) once; a token its probe
 * got goes to the caches, and the chain's choice of the Azure CLI is marked. */
static int ensure_cred(struct az_session *s, struct az_error *e)
{
	struct az_cred_ctx ctx = {
		.cloud = s->cloud,
		.http = s->http,
		.tenant = s->tenant,
		.interactive = s->o.interactive,
		.az_command = s->o.az_command,
		.cancel = s->o.cancel,
		.prompt = s->o.prompt,
		.prompt_ctx = s->o.prompt_ctx,
		.client_secret = s->o.client_secret,
	};
	struct az_token probe;

	if (s->cred)
		return 0;
	if (s->read_cache) {
		ctx.cached = chain_cached;
		ctx.chosen = chain_chosen;
		ctx.cached_ctx = s;
	}
	s->cred = az_cred_pick(&ctx, s->o.auth, &probe, e);
	if (s->cred)
		s->identity = cred_identity(s, s->cred);
	if (probe.token) {
		disk_put(s, s->cloud->arm_scope, s->tenant, &probe);
		keep_token(s, s->cloud->arm_scope, NULL, &probe);
	}
	if (s->cred)
		mark_chain_choice(s);
	return s->cred ? 0 : -1;
}

/*
 * Returns the fresh token for a scope and tenant the session holds, or takes
 * one from the token cache (unless Azure refused the session's); NULL when
 * neither has one (only the credential can give it).
 */
static struct tok_entry *held_token(struct az_session *s, const char *scope,
				    const char *tenant)
{
	struct tok_entry *t = tok_find(s, scope, tenant);

	if (t && t->t.expires_on - RENEW_MARGIN > (int64_t)time(NULL))
		return t;
	if ((!t || t->t.expires_on >= 0) &&
	    disk_get(s, s->identity, scope, tenant))
		return tok_find(s, scope, tenant);
	return NULL;
}

/*
 * Returns a token for a scope (renewed before it expires); tenant NULL means
 * the session's. The session's own tokens come first, then the token cache's
 * (unless Azure refused that token), then the credential's, which the cache
 * then keeps.
 */
int az_session_token(struct az_session *s, const char *scope,
		     const char *tenant, const char **token, struct az_error *e)
{
	struct tok_entry *t;
	struct az_token fresh = { 0 };

	tenant = tenant ? tenant : s->tenant;
	if (ensure_cred(s, e) != 0)
		return -1;
	if ((t = held_token(s, scope, tenant)) != NULL) {
		*token = t->t.token;
		return 0;
	}
	if (az_cred_token(s->cred, scope, tenant, &fresh, e) != 0)
		return -1;
	disk_put(s, scope, tenant, &fresh);
	keep_token(s, scope, tenant, &fresh);
	*token = tok_find(s, scope, tenant)->t.token;
	return 0;
}

/* Forgets a cached token, so the next call fetches a new one (after a 401):
 * expiry -1 also keeps the token cache's copy from coming back. */
static void tok_drop(struct az_session *s, const char *scope,
		     const char *tenant)
{
	struct tok_entry *t = tok_find(s, scope, tenant ? tenant : s->tenant);

	if (t)
		t->t.expires_on = -1;
}

/* Signs in: chooses the credential and gets a Resource Manager token. */
int az_session_sign_in(struct az_session *s, struct az_error *e)
{
	const char *tok;

	return az_session_token(s, s->cloud->arm_scope, NULL, &tok, e);
}

/* Returns the claims of the Resource Manager token (who signed in), or NULL. */
struct json_object *az_session_claims(struct az_session *s)
{
	struct tok_entry *t = tok_find(s, s->cloud->arm_scope, s->tenant);

	return t ? wire_jwt_claims(t->t.token) : NULL;
}

/* Builds a request: ARM and Graph paths are joined to the cloud's endpoint; the
 * api-version is added. */
struct az_req *az_session_req(struct az_session *s, enum az_target t,
			      const char *method, const char *path,
			      const char *api_version, const char *body)
{
	const char *base = t == AZ_ARM     ? s->cloud->arm
			   : t == AZ_GRAPH ? s->cloud->graph
					   : "";
	bool absolute =
		str_istarts(path, "https://") || str_istarts(path, "http://");
	char *joined = absolute ? xstrdup(path) : xasprintf("%s%s", base, path);
	char *url = wire_url_escape(joined);
	struct az_req *r;

	/* A URL with a control character goes on unescaped, for authorize() to
	 * refuse with a clear error. */
	if (url)
		free(joined);
	else
		url = joined;

	if (api_version && !strstr(url, "api-version=")) {
		char *u = xasprintf("%s%capi-version=%s", url,
				    strchr(url, '?') ? '&' : '?', api_version);

		free(url);
		url = u;
	}
	r = az_req_new(method, url);
	r->target = t;
	/* Every query counts against the caller's Resource Graph quota, each
	 * page of one too (Guidance for throttled requests in Azure Resource
	 * Graph, "Pagination"). */
	r->graph_quota = t == AZ_ARM &&
			 str_istarts(path, "/providers/Microsoft.ResourceGraph/"
					   "resources");
	az_req_header(r, "Accept: application/json");
	if (body) {
		az_req_header(r, "Content-Type: application/json");
		az_req_body(r, body, false);
	}
	free(url);
	return r;
}

/* Finds the cached Key Vault challenge for a host. */
static struct chal_entry *chal_find(struct az_session *s, const char *host)
{
	for (size_t i = 0; i < s->nchal; i++)
		if (str_ieq(s->chal[i].host, host))
			return &s->chal[i];
	return NULL;
}

/* Replaces (or adds) an Authorization header on a request. */
static void set_bearer(struct az_req *r, const char *token)
{
	struct curl_slist *kept = NULL;
	char *line = xasprintf("Authorization: Bearer %s", token);

	for (struct curl_slist *l = r->headers; l; l = l->next)
		if (!str_istarts(l->data, "Authorization:"))
			kept = curl_slist_append(kept, l->data);
	curl_slist_free_all(r->headers);
	r->headers = curl_slist_append(kept, line);
	free(line);
}

/* Tells whether a string holds a control character (a URL that wire_url_escape
 * refused). */
static bool has_control(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Returns the data-plane scope a host of this cloud's vaults (or HSMs) takes a
 * token of, or NULL for any other host. */
static const char *data_scope(const struct az_session *s, const char *host)
{
	const struct az_cloud *c = s->cloud;

	if (str_iends(host, c->kv_suffix))
		return c->kv_scope;
	return c->hsm_suffix && str_iends(host, c->hsm_suffix) ? c->hsm_scope
							       : NULL;
}

/*
 * Finds the token a vault whose challenge is not known yet is sent at once: a
 * fresh one of the cloud's Key Vault (or Managed HSM) scope in the session's
 * tenant that the session or the token cache already holds; false when there
 * is none (the request then goes bare and meets the challenge). The vault
 * answers 401 with its challenge if it is another tenant's, or the token is
 * stale (see vault_401): one round trip less per command in the usual case,
 * and never a token but that scope's, never to any other host.
 */
static bool held_data_token(struct az_session *s, const char *host,
			    const char **tok)
{
	const char *scope = data_scope(s, host);
	struct tok_entry *t = scope ? held_token(s, scope, s->tenant) : NULL;

	if (!t)
		return false;
	*tok = t->t.token;
	if (s->o.trace)
		fprintf(s->o.trace,
			"* %s: its challenge is not known yet; the Key Vault "
			"token held for tenant %s goes at once\n",
			host, s->tenant);
	return true;
}

/* Adds the token a request needs; a Key Vault request whose vault's challenge
 * is not known goes with the token already held, else bare. */
static int authorize(struct az_session *s, struct az_req *r, struct az_error *e)
{
	char host[256];
	bool https;
	const char *tok;
	struct chal_entry *c;

	/*
	 * An ARM or Graph token goes only to that service's own host: a path or
	 * URL that came from a server (a nextLink, an id) and names another
	 * host once joined ("https://management.azure.com.evil.example/x", or a
	 * user part before "@") is refused here, where every request gets its
	 * token.
	 */
	if (has_control(r->url)) {
		char *shown = text_sanitize(r->url, false);

		az_error_set(e,
			     _("refused to send a request to '%s': its URL "
			       "holds a control character, which no answer "
			       "from Azure has; no token was sent"),
			     shown);
		free(shown);
		return -1;
	}
	if ((r->target == AZ_ARM || r->target == AZ_GRAPH) &&
	    !wire_same_origin(r->url, r->target == AZ_ARM ? s->cloud->arm
							  : s->cloud->graph)) {
		az_error_set(e,
			     _("refused to send a request to '%s': it is not "
			       "on %s, so no token was sent"),
			     r->url,
			     r->target == AZ_ARM ? s->cloud->arm
						 : s->cloud->graph);
		return -1;
	}
	switch (r->target) {
	case AZ_ARM:
		if (az_session_token(s, s->cloud->arm_scope, NULL, &tok, e) !=
		    0)
			return -1;
		break;
	case AZ_GRAPH:
		if (az_session_token(s, s->cloud->graph_scope, NULL, &tok, e) !=
		    0)
			return -1;
		break;
	case AZ_KEYVAULT:
		if (!wire_url_host(r->url, host, sizeof(host), &https))
			return 0;
		if ((c = chal_find(s, host))) {
			if (az_session_token(s, c->scope, c->tenant, &tok, e) !=
			    0)
				return -1;
		} else if (!https || !held_data_token(s, host, &tok)) {
			return 0;
		}
		break;
	default:
		return 0;
	}
	set_bearer(r, tok);
	return 0;
}

/*
 * Tells whether a challenge asks for the token of this cloud's Key Vault
 * (for a vault) or Managed HSM (for an HSM): only such a token is ever sent
 * to a data-plane host, whatever scope a server names.
 */
static bool cloud_data_scope(const struct az_session *s, const char *host,
			     const char *scope)
{
	const char *own = data_scope(s, host);

	return own && str_ieq(scope, own);
}

/* Learns a vault's challenge from a 401; refuses one whose resource is not the
 * vault's domain. */
static int learn_challenge(struct az_session *s, struct az_req *r,
			   struct az_error *e)
{
	char *hdr = az_req_response_header(r, "WWW-Authenticate"), host[256];
	struct az_challenge c;
	struct chal_entry *ce;
	bool https;

	if (!hdr || !wire_parse_challenge(hdr, &c) ||
	    !wire_url_host(r->url, host, sizeof(host), &https)) {
		free(hdr);
		return 1;
	}
	free(hdr);
	if (!wire_challenge_matches(&c, host) ||
	    !cloud_data_scope(s, host, c.scope)) {
		az_error_set(e,
			     _("refusing the sign-in challenge of key vault "
			       "'%s': it names the resource '%s', which is "
			       "not the vault's domain (a misconfigured proxy "
			       "or a spoofed server?) (request id %s)"),
			     host, c.resource_host, r->client_request_id);
		wire_challenge_free(&c);
		return -1;
	}
	if (!(ce = chal_find(s, host))) {
		s->chal = xrealloc(s->chal, (s->nchal + 1) * sizeof(*s->chal));
		ce = &s->chal[s->nchal++];
		ce->host = xstrdup(host);
	} else {
		free(ce->scope);
		free(ce->tenant);
	}
	ce->scope = c.scope;
	ce->tenant = c.tenant ? c.tenant : xstrdup(s->tenant);
	c.scope = c.tenant = NULL;
	wire_challenge_free(&c);
	return 0;
}

/* Tells whether a request carried a token. */
static bool has_bearer(const struct az_req *r)
{
	for (const struct curl_slist *l = r->headers; l; l = l->next)
		if (str_istarts(l->data, "Authorization:"))
			return true;
	return false;
}

/* Returns the token a request carries (after "Bearer "), or NULL. */
static const char *bearer_of(const struct az_req *r)
{
	for (const struct curl_slist *l = r->headers; l; l = l->next)
		if (str_istarts(l->data, "Authorization: Bearer "))
			return l->data + strlen("Authorization: Bearer ");
	return NULL;
}

/*
 * Answers a vault's 401: learns its challenge. When the challenge is the one
 * the refused token was got for (the known challenge's, else the one
 * held_data_token sent it for), forgets that token (revoked, or a stale one
 * from the token cache) so a new one is asked for, unless another request
 * refused with it has had it renewed already; otherwise says the vault moved
 * the request to another tenant or scope (*moved).
 */
static int vault_401(struct az_session *s, struct az_req *r, bool *moved,
		     struct az_error *e)
{
	char host[256], *scope = NULL, *tenant = NULL;
	struct chal_entry *c;
	struct tok_entry *t;
	const char *sent = bearer_of(r);
	bool https;
	int rc;

	*moved = false;
	if (!wire_url_host(r->url, host, sizeof(host), &https))
		host[0] = '\0';
	else if ((c = chal_find(s, host))) {
		scope = xstrdup(c->scope);
		tenant = xstrdup(c->tenant);
	} else if (data_scope(s, host)) {
		scope = xstrdup(data_scope(s, host));
		tenant = xstrdup(s->tenant);
	}
	rc = learn_challenge(s, r, e);
	c = rc == 0 ? chal_find(s, host) : NULL;
	if (c && scope && sent &&
	    !(str_ieq(c->scope, scope) && str_ieq(c->tenant, tenant)))
		*moved = true;
	else if (c && scope && sent && (t = tok_find(s, scope, tenant)) &&
		 t->t.token && strcmp(t->t.token, sent) == 0)
		tok_drop(s, scope, tenant);
	free(scope);
	free(tenant);
	return rc;
}

/*
 * Prepares a 401'd request for one more try: a fresh token, or the vault's
 * challenge. A request sent bare to a vault learns its challenge first; one
 * that carried a token is answered once (twice when the vault first moved it
 * to another tenant).
 */
static int answer_401(struct az_session *s, struct az_req *r,
		      struct az_error *e)
{
	int rc;

	if (r->target == AZ_KEYVAULT && !has_bearer(r)) {
		rc = learn_challenge(s, r, e);
		if (rc != 0)
			return rc;
	} else if (r->reauthorized) {
		return 1;
	} else if (r->target == AZ_ARM || r->target == AZ_GRAPH) {
		r->reauthorized = true;
		tok_drop(s,
			 r->target == AZ_ARM ? s->cloud->arm_scope
					     : s->cloud->graph_scope,
			 NULL);
	} else if (r->target == AZ_KEYVAULT) {
		bool moved;

		rc = vault_401(s, r, &moved, e);
		if (rc != 0)
			return rc;
		/* A vault that names another tenant than the held token's is
		 * answered with that tenant's token once before the count. */
		if (moved && !r->rechallenged)
			r->rechallenged = true;
		else
			r->reauthorized = true;
	} else {
		return 1;
	}
	az_req_clear_response(r);
	return authorize(s, r, e);
}

/*
 * Sends requests concurrently with their tokens, answering 401s: a new token
 * once, and a vault's challenge (which a request sent bare meets first, then
 * perhaps a refused token), so at most two more rounds.
 */
int az_session_send(struct az_session *s, struct az_req **reqs, size_t n,
		    struct az_error *e)
{
	struct az_req **again = xcalloc(n ? n : 1, sizeof(*again)),
		      **cur = reqs;
	size_t m = n;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = authorize(s, reqs[i], e);
	if (rc == 0 && az_http_run(s->http, reqs, n) != 0) {
		az_error_set(e, _("the request was canceled"));
		rc = -1;
	}
	for (int round = 0; rc == 0 && round < 2 && m; round++) {
		size_t k = m;

		/* again[] is filled in place: its i-th entry is read before
		 * any write past m <= i. */
		m = 0;
		for (size_t i = 0; i < k && rc == 0; i++) {
			struct az_req *r = cur[i];
			int a = r->status == 401 ? answer_401(s, r, e) : 1;

			if (a < 0)
				rc = -1;
			else if (a == 0)
				again[m++] = r;
		}
		cur = again;
		if (rc == 0 && m && az_http_run(s->http, again, m) != 0) {
			az_error_set(e, _("the request was canceled"));
			rc = -1;
		}
	}
	free(again);
	return rc;
}

/* Keeps the first of several errors in e, and forgets the others. */
static void keep_first(struct az_error *e, struct az_error *one)
{
	if (!e->message) {
		*e = *one; /* e takes its strings */
		memset(one, 0, sizeof(*one));
	}
	az_error_clear(one);
}

/*
 * Sends requests as az_session_send does, but a request whose token, or the
 * answer to whose 401, cannot be had does not hold the others back: it is
 * marked in failed (e keeps the first such error) and left as it was, and the
 * others go on. Several reads that do not depend on each other (one vault of
 * another tenant among them) go in one wave this way. -1 only when canceled.
 */
int az_session_send_all(struct az_session *s, struct az_req **reqs, size_t n,
			bool *failed, struct az_error *e)
{
	struct az_req **go = xcalloc(n ? n : 1, sizeof(*go));
	size_t *at = xcalloc(n ? n : 1, sizeof(*at)), m = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		struct az_error one = { 0 };

		failed[i] = authorize(s, reqs[i], &one) != 0;
		keep_first(e, &one);
		if (!failed[i]) {
			at[m] = i;
			go[m++] = reqs[i];
		}
	}
	for (int round = 0; round < 3 && m; round++) {
		size_t k = m;

		if (az_http_run(s->http, go, m) != 0) {
			az_error_set(e, _("the request was canceled"));
			rc = -1;
			break;
		}
		if (round == 2)
			break; /* at most two more rounds, as az_session_send */
		/* go[] and at[] are filled in place: entry i is read before
		 * any write past m <= i. */
		m = 0;
		for (size_t i = 0; i < k; i++) {
			struct az_error one = { 0 };
			int a = go[i]->status == 401
					? answer_401(s, go[i], &one)
					: 1;

			failed[at[i]] |= a < 0;
			keep_first(e, &one);
			if (a == 0) {
				at[m] = at[i];
				go[m++] = go[i];
			}
		}
	}
	free(go);
	free(at);
	return rc;
}

/* Gives new requests their tokens and starts sending them without waiting for
 * an answer; az_session_send_any takes them up. */
int az_session_kick(struct az_session *s, struct az_req **reqs, size_t n,
		    struct az_error *e)
{
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->authorized)
			continue;
		reqs[i]->authorized = true;
		if (authorize(s, reqs[i], e) != 0)
			return -1;
	}
	az_http_kick(s->http, reqs, n);
	return 0;
}

/*
 * Sends requests as az_session_send does, but returns as soon as one or more
 * have their final answer (az_req_done); the others stay under way, and the
 * next call must name them again, with any new ones (each gets its token on
 * the first call that names it). A 401 is answered as az_session_send does.
 */
int az_session_send_any(struct az_session *s, struct az_req **reqs, size_t n,
			struct az_error *e)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->authorized)
			continue;
		reqs[i]->authorized = true;
		if (authorize(s, reqs[i], e) != 0)
			return -1;
	}
	while (!any) {
		if (az_http_run_any(s->http, reqs, n) != 0) {
			az_error_set(e, _("the request was canceled"));
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			int a = az_req_done(reqs[i]) && reqs[i]->status == 401
					? answer_401(s, reqs[i], e)
					: 1;

			if (a < 0)
				return -1;
			any |= a > 0 && az_req_done(reqs[i]);
		}
	}
	return 0;
}

/* Sends one request; a transport failure or an HTTP error answer becomes an
 * error. */
int az_session_call(struct az_session *s, struct az_req *r, struct az_error *e)
{
	if (az_session_send(s, &r, 1, e) != 0)
		return -1;
	return az_session_check(r, e);
}

/* Turns a sent request's transport failure or HTTP error answer into an error
 * naming it; 0 for a 2xx answer. */
int az_session_check(const struct az_req *r, struct az_error *e)
{
	char *what;

	if (!r->curl_code && r->status >= 200 && r->status < 300)
		return 0;
	what = xasprintf("%s %s", r->method, r->url);
	az_error_from_req(e, r, what);
	free(what);
	return -1;
}

/* Reads every page of a list ({"value": [...], "nextLink": ...}) into one
 * array. */
int az_session_list(struct az_session *s, enum az_target t, const char *path,
		    const char *api_version, struct json_object **items,
		    struct az_error *e)
{
	/* A first page given as a whole URL (a nextLink) is held to ARM's or
	 * Graph's own host where its token is attached. */
	struct az_req *r = az_session_req(s, t, "GET", path, api_version, NULL);
	struct json_object *read = json_object_new_object();
	int pages = 0, rc = 0;

	*items = json_object_new_array();
	while (r) {
		struct json_object *value;
		const char *next;

		rc = az_session_call(s, r, e);
		value = rc == 0 ? jx_get(r->json, "value") : NULL;
		if (rc == 0 && !json_object_is_type(value, json_type_array)) {
			az_error_set(e,
				     _("GET %s: the answer has no 'value' list "
				       "(request id %s)"),
				     r->url, r->client_request_id);
			rc = -1;
		}
		for (size_t i = 0; rc == 0 && i < jx_len(value); i++)
			json_object_array_add(*items,
					      json_object_get(jx_at(value, i)));
		next = rc == 0 ? jx_str(r->json, "nextLink") : NULL;
		/* A list that never ends is not read to an end: refused, not
		 * taken as complete. */
		if (next && *next && ++pages >= MAX_PAGES) {
			az_error_set(e,
				     _("GET %s: more than %d pages; refusing "
				       "to read on"),
				     path, MAX_PAGES);
			rc = -1;
			next = NULL;
		}
		json_object_object_add(read, r->url, NULL);
		/* A nextLink that names a page already read would loop, each
		 * lap adding the same items again: refused, not taken as
		 * complete. */
		if (next && *next &&
		    json_object_object_get_ex(read, next, NULL)) {
			az_error_set(e,
				     _("GET %s: the next page is one already "
				       "read, so the list loops; refusing to "
				       "read on"),
				     path);
			rc = -1;
			next = NULL;
		}
		/* A next page goes to the list's own host or not at all: it
		 * would be sent this list's token. */
		if (next && *next && !wire_same_origin(next, r->url)) {
			az_error_set(
				e,
				_("refused to follow the next page of %s at "
				  "'%s': it is not on the list's own host, so "
				  "no token was sent"),
				path, next);
			rc = -1;
			next = NULL;
		}
		{
			struct az_req *following =
				next && *next ? az_session_req(s, t, "GET",
							       next, NULL, NULL)
					      : NULL;

			az_req_free(r);
			r = following;
		}
	}
	json_object_put(read);
	if (rc != 0) {
		json_object_put(*items);
		*items = NULL;
	}
	return rc;
}

/* Sleeps for ms milliseconds in small steps, stopping early on cancel; false
 * when canceled. */
static bool nap(struct az_session *s, int64_t ms)
{
	while (ms > 0 && !az_http_canceled(s->http)) {
		int64_t step = ms > 100 ? 100 : ms;
		struct timespec ts = { 0, (long)step * 1000000L };

		nanosleep(&ts, NULL);
		ms -= step;
	}
	return !az_http_canceled(s->http);
}

/* Reads how long an in-progress answer asks the poller to wait (default 2 s).
 */
static int64_t poll_delay(const struct az_req *r)
{
	char *ra = az_req_response_header(r, "Retry-After"),
	     *ms = az_req_response_header(r, "x-ms-retry-after-ms");
	int64_t d = wire_retry_after_ms(ra, ms, (int64_t)time(NULL));

	free(ra);
	free(ms);
	return d < 0 ? 2000 : d > 60000 ? 60000 : d;
}

/* Tells whether an operation status is terminal; sets failed for Failed and
 * Canceled. */
static bool terminal(const char *status, bool *failed)
{
	*failed = str_ieq(status, "Failed") || str_ieq(status, "Canceled");
	return *failed || str_ieq(status, "Succeeded");
}

/* Words a failed long-running operation from its status body. */
static void op_failed(struct az_error *e, const struct az_req *p)
{
	struct az_wire_error w;
	bool parsed = wire_parse_error(p->json, &w);
	char *status = text_sanitize(
		jx_str(p->json, "status") ? jx_str(p->json, "status") : "?",
		false);

	az_error_set(e,
		     _("the operation ended with status %s: %s (%s) (request "
		       "id %s)"),
		     status, parsed && w.message ? w.message : "",
		     parsed && w.code ? w.code : "?", p->client_request_id);
	free(e->code);
	free(e->inner);
	/* The operation's error may carry the service's refusal as a detail or
	 * an inner error. */
	e->code = parsed ? w.code : NULL;
	e->inner = parsed ? w.inner : NULL;
	if (parsed) {
		w.code = w.inner = NULL;
		wire_error_free(&w);
	}
	free(status);
}

/*
 * Tells whether a polling URL may be sent the ARM token: https on the
 * cloud's own Resource Manager host, nothing else (a polling URL comes from
 * a server's header, or from a journal on disk), and no control character;
 * az_session_req percent-encodes what else a URL may not hold.
 */
bool az_session_arm_url(const struct az_session *s, const char *url)
{
	return wire_same_origin(url, az_session_cloud(s)->arm) &&
	       !has_control(url);
}

/*
 * Polls a long-running operation at url to its end: an Azure-AsyncOperation
 * status (async) or a Location URL that answers 202 while it runs. *final
 * gets the last answer when the operation succeeded.
 */
int az_session_wait_op(struct az_session *s, const char *url, bool async,
		       struct az_req **final, struct az_error *e)
{
	int64_t delay = 0, deadline = (int64_t)time(NULL) + LRO_TIMEOUT;
	bool failed;

	*final = NULL;
	if (!az_session_arm_url(s, url)) {
		char *shown = text_sanitize(url ? url : "", false);

		az_error_set(e,
			     _("refused to poll the operation at '%s': it is "
			       "not on %s, so no token was sent"),
			     shown, az_session_cloud(s)->arm);
		free(shown);
		return -1;
	}
	for (;;) {
		struct az_req *p;

		if (!nap(s, delay) || (int64_t)time(NULL) > deadline) {
			az_error_set(
				e,
				_("gave up waiting for the operation at '%s'"),
				url);
			return -1;
		}
		p = az_session_req(s, AZ_ARM, "GET", url, NULL, NULL);
		if (az_session_call(s, p, e) != 0) {
			az_req_free(p);
			return -1;
		}
		if (async ? terminal(jx_str(p->json, "status"), &failed)
			  : p->status != 202) {
			if (async && failed) {
				op_failed(e, p);
				az_req_free(p);
				return -1;
			}
			*final = p;
			return 0;
		}
		delay = poll_delay(p);
		az_req_free(p);
	}
}

/* Returns the URL to poll for a write's long-running operation
 * (Azure-AsyncOperation first, else Location), or NULL. */
char *az_session_op_url(const struct az_req *initial, bool *async)
{
	char *url = az_req_response_header(initial, "Azure-AsyncOperation");

	*async = url != NULL;
	if (!url && (initial->status == 201 || initial->status == 202))
		url = az_req_response_header(initial, "Location");
	return url;
}

/* Waits for the long-running operation a write started, if it started one. */
int az_session_wait(struct az_session *s, struct az_req *initial,
		    struct az_req **final, struct az_error *e)
{
	bool async;
	char *url = az_session_op_url(initial, &async);
	int rc = 0;

	*final = NULL;
	if (url &&
	    (initial->status == 201 || initial->status == 202 || async)) {
		rc = az_session_wait_op(s, url, async, final, e);
		if (rc != 0 && !e->request_id)
			e->request_id = xstrdup(initial->client_request_id);
	}
	free(url);
	return rc;
}
