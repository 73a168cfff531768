/* The simulated Azure Resource Manager: subscriptions, providers, resource
 * lists and resource CRUD. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "armid.h"
#include "jx.h"
#include "sbuf.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* The api-versions ARM accepts per resource type (others accept any version).
 */
static const struct {
	const char *type;
	const char *versions;
} API_VERSIONS[] = {
	{ "Microsoft.HealthcareApis/workspaces",
	  "2021-06-01-preview,2021-11-01,2022-05-15,2022-06-01,2022-10-01-"
	  "preview,2022-12-01,2023-02-28,2023-06-01-preview,2023-09-06,2023-11-"
	  "01,2023-12-01,2024-03-01,2024-03-31,2025-03-01-preview,2025-04-01-"
	  "preview" },
	{ "Microsoft.HealthcareApis/workspaces/dicomservices",
	  "2021-06-01-preview,2021-11-01,2022-05-15,2022-06-01,2022-10-01-"
	  "preview,2022-12-01,2023-02-28,2023-06-01-preview,2023-09-06,2023-11-"
	  "01,2023-12-01,2024-03-01,2024-03-31,2025-03-01-preview,2025-04-01-"
	  "preview" },
	{ "Microsoft.CognitiveServices/accounts",
	  "2017-04-18,2021-04-30,2021-10-01,2022-03-01,2022-10-01,2022-12-01,"
	  "2023-05-01,2023-10-01-preview,2024-04-01-preview,2024-10-01,2025-04-"
	  "01-preview,2025-06-01,2025-09-01,2026-05-01" },
	{ "Microsoft.HealthBot/healthBots",
	  "2020-10-20,2020-12-08,2021-06-10,2021-08-24,2022-08-08,2023-05-01,"
	  "2024-02-01,2025-05-25,2025-11-01" },
	{ "Microsoft.KeyVault/vaults",
	  "2015-06-01,2016-10-01,2018-02-14,2019-09-01,2021-10-01,2022-07-01,"
	  "2023-02-01,2023-07-01,2024-11-01,2025-05-01,2026-02-01" },
	{ "Microsoft.KeyVault/managedHSMs",
	  "2021-10-01,2022-07-01,2023-02-01,2023-07-01,2024-11-01,2025-05-01,"
	  "2026-02-01" },
	/* Keys through Resource Manager: vaults' since 2019-09-01 (keys.json),
	   managed HSMs' since 2023-02-01 (keysManagedHsm.json). */
	{ "Microsoft.KeyVault/vaults/keys",
	  "2019-09-01,2021-10-01,2022-07-01,2023-02-01,2023-07-01,2024-11-01,"
	  "2025-05-01,2026-02-01" },
	{ "Microsoft.KeyVault/vaults/keys/versions",
	  "2019-09-01,2021-10-01,2022-07-01,2023-02-01,2023-07-01,2024-11-01,"
	  "2025-05-01,2026-02-01" },
	{ "Microsoft.KeyVault/managedHSMs/keys",
	  "2023-02-01,2023-07-01,2024-11-01,2025-05-01,2026-02-01" },
	{ "Microsoft.KeyVault/managedHSMs/keys/versions",
	  "2023-02-01,2023-07-01,2024-11-01,2025-05-01,2026-02-01" },
	{ "Microsoft.ManagedIdentity/userAssignedIdentities",
	  "2018-11-30,2021-09-30-preview,2022-01-31-preview,2023-01-31,2023-07-"
	  "31-preview,2024-11-30,2025-01-31-preview,2025-05-31-preview,2026-04-"
	  "30,2026-05-31" },
};

/* Returns the accepted versions for a type, or NULL when any version is
 * accepted. */
static const char *versions_for(const char *type)
{
	for (size_t i = 0; i < sizeof(API_VERSIONS) / sizeof(API_VERSIONS[0]);
	     i++)
		if (str_ieq(type, API_VERSIONS[i].type))
			return API_VERSIONS[i].versions;
	return NULL;
}

/* Refuses an api-version the type does not have, with ARM's
 * NoRegisteredProviderFound; true when fine. */
static bool api_version_ok(struct sim_req *rq, struct sim_resp *rs,
			   const char *type, const char *location)
{
	const char *v = req_arg(rq, "api-version"), *list = versions_for(type);
	char *pattern;
	bool ok;

	if (!list)
		return true;
	pattern = xasprintf(",%s,", v);
	{
		char *hay = xasprintf(",%s,", list);

		ok = strcasestr(hay, pattern) != NULL;
		free(hay);
	}
	free(pattern);
	if (!ok) {
		char *spaced = xstrdup(list);

		resp_error(rs, 400, "NoRegisteredProviderFound",
			   "No registered resource provider found for location "
			   "'%s' and API version '%s' for type '%s'. The "
			   "supported api-versions are '%s'. The supported "
			   "locations are 'eastus, westus, westus3, "
			   "westeurope, northeurope'.",
			   location ? location : "westus3", v, type, spaced);
		free(spaced);
	}
	return ok;
}

/* Requires the caller to hold an ARM action at a scope; fills a 403
 * AuthorizationFailed when not. */
bool arm_require(struct sim_req *rq, struct sim_resp *rs, const char *scope,
		 const char *action)
{
	if (state_allows(rq->sim, rq->oid, scope, action, false))
		return true;
	resp_error(rs, 403, "AuthorizationFailed",
		   "The client '%s' with object id '%s' does not have "
		   "authorization to "
		   "perform action '%s' over scope '%s' or the scope is "
		   "invalid. If access was recently granted, "
		   "please refresh your credentials.",
		   rq->oid, rq->oid, action, scope);
	return false;
}

/* Finds a subscription of the scenario by GUID. */
struct json_object *arm_subscription(struct sim *s, const char *sub)
{
	struct json_object *subs = jx_get(s->doc, "subscriptions");

	for (size_t i = 0; i < jx_len(subs); i++)
		if (str_ieq(jx_str(jx_at(subs, i), "subscriptionId"), sub))
			return jx_at(subs, i);
	return NULL;
}

/* Builds a subscription as ARM lists it. */
static struct json_object *subscription_json(struct sim *s,
					     struct json_object *sub)
{
	struct json_object *o = json_object_new_object(),
			   *pol = json_object_new_object();
	char *id =
		xasprintf("/subscriptions/%s", jx_str(sub, "subscriptionId"));
	const char *tid = jx_str(sub, "tenantId") ? jx_str(sub, "tenantId")
						  : state_tenant(s);

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "authorizationSource",
			       json_object_new_string("RoleBased"));
	json_object_object_add(o, "managedByTenants", json_object_new_array());
	json_object_object_add(
		o, "subscriptionId",
		json_object_new_string(jx_str(sub, "subscriptionId")));
	json_object_object_add(o, "tenantId", json_object_new_string(tid));
	json_object_object_add(
		o, "displayName",
		json_object_new_string(jx_str(sub, "displayName")));
	json_object_object_add(
		o, "state",
		json_object_new_string(jx_str(sub, "state")
					       ? jx_str(sub, "state")
					       : "Enabled"));
	json_object_object_add(pol, "locationPlacementId",
			       json_object_new_string("Public_2014-09-01"));
	json_object_object_add(pol, "quotaId",
			       json_object_new_string("PayAsYouGo_2014-09-01"));
	json_object_object_add(pol, "spendingLimit",
			       json_object_new_string("Off"));
	json_object_object_add(o, "subscriptionPolicies", pol);
	if (json_object_is_type(jx_get(sub, "tags"), json_type_object))
		json_object_object_add(o, "tags", jx_copy(jx_get(sub, "tags")));
	free(id);
	return o;
}

/* Returns "&name=value" (value percent-encoded) for a query argument of the
 * request, or "" when absent. */
static char *query_part(struct sim_req *rq, const char *name)
{
	const char *v = req_arg(rq, name);
	struct sbuf b = SBUF_INIT;

	if (!v)
		return xstrdup("");
	sb_printf(&b, "&%s=", name);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (isalnum(*p) || strchr("-._~'/(),", *p))
			sb_addc(&b, (char)*p);
		else
			sb_printf(&b, "%%%02X", *p);
	}
	return sb_steal(&b);
}

/* Returns the page size of a list: settings.pageSize, or the request's $top
 * when that is smaller. */
static long page_size(struct sim_req *rq)
{
	const char *top = req_arg(rq, "$top");
	long size = rq->sim->set.page_size, t = top ? strtol(top, NULL, 10) : 0;

	return t > 0 && t < size ? t : size;
}

/*
 * Reads the request's $skiptoken, the decimal offset of the page's first item
 * as the simulator writes it in a nextLink (capped at n); false for a token
 * it did not write.
 */
static bool read_skiptoken(struct sim_req *rq, long n, long *skip)
{
	const char *tok = req_arg(rq, "$skiptoken");
	size_t digits = tok ? strspn(tok, "0123456789") : 0;

	*skip = 0;
	if (!tok)
		return true;
	if (digits == 0 || digits > 9 || tok[digits] != '\0')
		return false;
	*skip = strtol(tok, NULL, 10);
	if (*skip > n)
		*skip = n;
	return true;
}

/* Returns the nextLink of the page that starts at skip: the request's path,
 * api-version, $filter, $expand, $top. */
static char *next_link(struct sim_req *rq, long skip)
{
	char *filter = query_part(rq, "$filter"),
	     *expand = query_part(rq, "$expand"), *top = query_part(rq, "$top");
	char *next =
		xasprintf("https://%s%s?api-version=%s%s%s%s&$skiptoken=%ld",
			  rq->host, rq->path, req_arg(rq, "api-version"),
			  filter, expand, top, skip);

	free(filter);
	free(expand);
	free(top);
	return next;
}

/*
 * Answers a list (items taken) a page at a time, {"value": [...]} with a
 * nextLink when more follow, in pages of settings.pageSize or at most $top
 * items as Key Vault's list with $top answers (listVaultBySubscription.json),
 * build (if set) making each item shown.
 */
static void
answer_built(struct sim_req *rq, struct sim_resp *rs, struct json_object *items,
	     struct json_object *(*build)(struct json_object *, const char *),
	     const char *arg)
{
	struct json_object *body, *page;
	long skip, size = page_size(rq), n = (long)jx_len(items);

	/* Microsoft documents no wording for a bad $skiptoken: the code and
	 * message are the simulator's own. */
	if (!read_skiptoken(rq, n, &skip)) {
		json_object_put(items);
		resp_error(rs, 400, "InvalidSkipToken",
			   "The skip token '%s' is not valid.",
			   req_arg(rq, "$skiptoken"));
		return;
	}
	body = json_object_new_object();
	page = json_object_new_array();
	for (long i = skip; i < n && i < skip + size; i++)
		json_object_array_add(
			page, build ? build(jx_at(items, (size_t)i), arg)
				    : json_object_get(jx_at(items, (size_t)i)));
	json_object_object_add(body, "value", page);
	if (skip + size < n) {
		char *next = next_link(rq, skip + size);

		json_object_object_add(body, "nextLink",
				       json_object_new_string(next));
		free(next);
	}
	json_object_put(items);
	resp_json(rs, 200, body);
}

/* Answers a list whose items are shown as they are (items taken), a page at a
 * time (see answer_built). */
void arm_answer_page(struct sim_req *rq, struct sim_resp *rs,
		     struct json_object *items)
{
	answer_built(rq, rs, items, NULL, NULL);
}

/* Serves GET /subscriptions: those where the caller holds any role. */
static void list_subscriptions(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *subs = jx_get(rq->sim->doc, "subscriptions"),
			   *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(subs); i++)
		if (state_can_see_subscription(
			    rq->sim, rq->oid,
			    jx_str(jx_at(subs, i), "subscriptionId")))
			json_object_array_add(
				out,
				subscription_json(rq->sim, jx_at(subs, i)));
	arm_answer_page(rq, rs, out);
}

/* Adds the domain of a user principal name ("ops@contoso.com") to a list of
 * domains, once. */
static void add_upn_domain(struct json_object *domains, const char *upn)
{
	const char *at = upn ? strrchr(upn, '@') : NULL;
	char *d;

	/* A guest's name (alice_fabrikam.com#EXT#@contoso.onmicrosoft.com) ends
	 * in this tenant's domain too. */
	if (!at || !at[1])
		return;
	d = str_lower(at + 1);
	if (!jx_array_has_istr(domains, d))
		json_object_array_add(domains, json_object_new_string(d));
	free(d);
}

/*
 * Returns the tenant's verified domains (a new array), derived from the
 * scenario, which names no domain of its own: those of the user's and the
 * principals' user principal names, the user's first, for a UPN's domain is
 * one the tenant verified and the user's is the likeliest default; and an
 * initial "<name>.onmicrosoft.com" domain, which every Entra tenant has, named
 * after the first domain's first label, or "azsim" and the tenant id's first
 * eight digits when no UPN names a domain.
 */
static struct json_object *tenant_domains(struct sim *s)
{
	struct json_object *domains = json_object_new_array(),
			   *ps = jx_get(s->doc, "principals");
	bool initial = false;

	add_upn_domain(domains, jx_str(s->doc, "user.userPrincipalName"));
	for (size_t i = 0; i < jx_len(ps); i++)
		add_upn_domain(domains,
			       jx_str(jx_at(ps, i), "userPrincipalName"));
	for (size_t i = 0; i < jx_len(domains); i++)
		initial |= str_iends(json_object_get_string(jx_at(domains, i)),
				     ".onmicrosoft.com");
	if (!initial) {
		const char *first =
			jx_len(domains)
				? json_object_get_string(jx_at(domains, 0))
				: NULL;
		char *name = first ? xasprintf("%.*s.onmicrosoft.com",
					       (int)strcspn(first, "."), first)
				   : xasprintf("azsim%.8s.onmicrosoft.com",
					       state_tenant(s));

		json_object_array_add(domains, json_object_new_string(name));
		free(name);
	}
	return domains;
}

/* Serves GET /tenants: the scenario's tenant, with domains derived as
 * tenant_domains says. */
static void list_tenants(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *t = json_object_new_object(),
			   *list = json_object_new_array(), *body;
	struct json_object *domains = tenant_domains(rq->sim);
	char *id = xasprintf("/tenants/%s", state_tenant(rq->sim));

	json_object_object_add(t, "id", json_object_new_string(id));
	json_object_object_add(t, "tenantId",
			       json_object_new_string(state_tenant(rq->sim)));
	json_object_object_add(t, "tenantCategory",
			       json_object_new_string("Home"));
	json_object_object_add(t, "countryCode", json_object_new_string("US"));
	json_object_object_add(t, "displayName",
			       json_object_new_string("Simulated tenant"));
	json_object_object_add(t, "defaultDomain",
			       json_object_new_string(json_object_get_string(
				       jx_at(domains, 0))));
	json_object_object_add(t, "domains", domains);
	json_object_object_add(t, "tenantType", json_object_new_string("AAD"));
	json_object_array_add(list, t);
	body = json_object_new_object();
	json_object_object_add(body, "value", list);
	resp_json(rs, 200, body);
	free(id);
}

/* Reverses an array in place (ARM lists api-versions newest first). */
static void reverse(struct json_object *a)
{
	size_t n = jx_len(a);

	for (size_t i = 0; i < n / 2; i++) {
		struct json_object *x = json_object_get(jx_at(a, i)),
				   *y = json_object_get(jx_at(a, n - 1 - i));

		json_object_array_put_idx(a, i, y);
		json_object_array_put_idx(a, n - 1 - i, x);
	}
}

/* Serves GET /subscriptions/{s}/providers/{namespace}: registration and
 * api-versions per type. */
static void provider_metadata(struct sim_req *rq, struct sim_resp *rs,
			      const char *sub, const char *ns)
{
	struct json_object *body = json_object_new_object(),
			   *types = json_object_new_array();
	char *id = xasprintf("/subscriptions/%s/providers/%s", sub, ns);

	for (size_t i = 0; i < sizeof(API_VERSIONS) / sizeof(API_VERSIONS[0]);
	     i++) {
		struct json_object *t, *vers;
		char *list, *save = NULL;

		if (!str_istarts(API_VERSIONS[i].type, ns) ||
		    API_VERSIONS[i].type[strlen(ns)] != '/')
			continue;
		t = json_object_new_object();
		vers = json_object_new_array();
		list = xstrdup(API_VERSIONS[i].versions);
		for (char *v = strtok_r(list, ",", &save); v;
		     v = strtok_r(NULL, ",", &save))
			json_object_array_add(vers, json_object_new_string(v));
		reverse(vers);
		json_object_object_add(
			t, "resourceType",
			json_object_new_string(API_VERSIONS[i].type +
					       strlen(ns) + 1));
		json_object_object_add(
			t, "locations",
			json_tokener_parse(
				"[\"West US 3\",\"East US\",\"West Europe\"]"));
		json_object_object_add(t, "apiVersions", vers);
		json_object_array_add(types, t);
		free(list);
	}
	json_object_object_add(body, "id", json_object_new_string(id));
	json_object_object_add(body, "namespace", json_object_new_string(ns));
	json_object_object_add(body, "registrationState",
			       json_object_new_string("Registered"));
	json_object_object_add(body, "resourceTypes", types);
	resp_json(rs, 200, body);
	free(id);
}

/* Returns the action that reads a resource type. */
static char *read_action(const char *type)
{
	if (str_ieq(type, "Microsoft.Resources/resourceGroups"))
		return xstrdup("Microsoft.Resources/subscriptions/"
			       "resourceGroups/read");
	return xasprintf("%s/read", type);
}

/* Tells whether the caller may read a resource. */
static bool can_read(struct sim_req *rq, struct json_object *r)
{
	char *action = read_action(jx_str(r, "type"));
	bool ok =
		state_allows(rq->sim, rq->oid, jx_str(r, "id"), action, false);

	free(action);
	return ok;
}

/* One $filter atom ("resourceType eq 'X'", "substringof('x', name)"), and
 * whether "or" follows it. */
struct fatom {
	char field[64], op[8], value[512];
	bool substring;
	bool or_after;
};

/* A $filter parsed once per request: atoms joined by "and" / "or" ("and" binds
 * tighter). */
struct filter {
	struct fatom *atoms;
	size_t n;
};

/* Parses one atom; false when it is not one the simulator understands. */
static bool parse_atom(const char *text, struct fatom *a)
{
	static const char *const fields[] = {
		"resourceType",         "name",          "location",
		"identity/principalId", "resourceGroup", NULL
	};
	bool known = false;

	memset(a, 0, sizeof(*a));
	if (sscanf(text, " substringof ( '%511[^']' , %63[a-zA-Z/] )", a->value,
		   a->field) == 2) {
		a->substring = true;
		return true;
	}
	if (sscanf(text, " %63[a-zA-Z/] %7s '%511[^']'", a->field, a->op,
		   a->value) != 3 ||
	    (!str_ieq(a->op, "eq") && !str_ieq(a->op, "ne")))
		return false;
	for (int i = 0; fields[i]; i++)
		known |= str_ieq(a->field, fields[i]);
	return known;
}

/* Parses a $filter into atoms; false when part of it is not understood. */
static bool filter_parse(const char *text, struct filter *f)
{
	char *copy = xstrdup(text), *p = copy;
	bool ok = true;

	memset(f, 0, sizeof(*f));
	while (ok) {
		char *next_or = strcasestr(p, " or "),
		     *next_and = strcasestr(p, " and ");
		char *cut = next_or && (!next_and || next_or < next_and)
				    ? next_or
				    : next_and;
		bool is_or = cut && cut == next_or;

		if (cut)
			*cut = '\0';
		while (*p == '(' || *p == ' ')
			p++;
		for (char *e = p + strlen(p);
		     e > p && (e[-1] == ')' && !strchr(p, '(')); e--)
			e[-1] = '\0';
		f->atoms = xrealloc(f->atoms, (f->n + 1) * sizeof(*f->atoms));
		ok = parse_atom(p, &f->atoms[f->n]);
		f->atoms[f->n++].or_after = is_or;
		if (!cut)
			break;
		p = cut + (is_or ? 4 : 5);
	}
	free(copy);
	return ok;
}

/* Evaluates one parsed atom on a resource. */
static bool atom_holds(struct json_object *r, const struct fatom *a)
{
	const char *v = NULL;
	bool hit;

	if (a->substring)
		return strcasestr(jx_str(r, "name") ? jx_str(r, "name") : "",
				  a->value) != NULL;
	if (str_ieq(a->field, "resourceGroup")) {
		struct armid id;

		if (!armid_parse(jx_str(r, "id"), &id))
			return str_ieq(a->op, "ne");
		hit = str_ieq(id.resource_group, a->value);
		armid_free(&id);
	} else {
		v = str_ieq(a->field, "resourceType") ? jx_str(r, "type")
		    : str_ieq(a->field, "name")       ? jx_str(r, "name")
		    : str_ieq(a->field, "location")
			    ? jx_str(r, "location")
			    : jx_str(r, "identity.principalId");
		hit = str_ieq(v, a->value);
	}
	return str_ieq(a->op, "ne") ? !hit : hit;
}

/* Evaluates a parsed $filter on a resource: any group of "and"-joined atoms
 * holding. */
static bool filter_holds(struct json_object *r, const struct filter *f)
{
	bool all = true;

	for (size_t i = 0; i < f->n; i++) {
		all = all && atom_holds(r, &f->atoms[i]);
		if (f->atoms[i].or_after || i + 1 == f->n) {
			if (all)
				return true;
			all = true;
		}
	}
	return false;
}

/* Builds a resource as the generic list returns it: no properties, extras on
 * $expand. */
static struct json_object *generic_item(struct json_object *r,
					const char *expand)
{
	static const char *const keep[] = { "id",
					    "name",
					    "type",
					    "location",
					    "kind",
					    "sku",
					    "identity",
					    "tags",
					    "managedBy",
					    "plan",
					    "extendedLocation",
					    NULL };
	struct json_object *o = json_object_new_object();
	const char *created = jx_str(r, "systemData.createdAt");

	for (int i = 0; keep[i]; i++)
		if (jx_get(r, keep[i]))
			json_object_object_add(o, keep[i],
					       jx_copy(jx_get(r, keep[i])));
	if (expand && strcasestr(expand, "createdTime") && created)
		json_object_object_add(o, "createdTime",
				       json_object_new_string(created));
	if (expand && strcasestr(expand, "changedTime"))
		json_object_object_add(
			o, "changedTime",
			json_object_new_string(
				jx_str(r, "systemData.lastModifiedAt")
					? jx_str(r, "systemData.lastModifiedAt")
					: (created ? created
						   : "2024-01-01T00:00:00Z")));
	if (expand && strcasestr(expand, "provisioningState") &&
	    jx_str(r, "properties.provisioningState"))
		json_object_object_add(
			o, "provisioningState",
			json_object_new_string(
				jx_str(r, "properties.provisioningState")));
	return o;
}

/* Serves GET /subscriptions/{s}[/resourceGroups/{g}]/resources with $filter and
 * $expand. */
static void list_generic(struct sim_req *rq, struct sim_resp *rs,
			 const char *scope)
{
	struct json_object *all = state_resources_under(rq->sim, scope), *out;
	const char *filter = req_arg(rq, "$filter"),
		   *expand = req_arg(rq, "$expand");
	struct filter f = { NULL, 0 };

	/* An empty $filter (az resource list --subscription S sends one)
	 * filters nothing, as ARM answers it. */
	if (filter && !filter[strspn(filter, " ")])
		filter = NULL;
	if (filter && !filter_parse(filter, &f)) {
		free(f.atoms);
		resp_error(rs, 400, "InvalidFilterInQueryString",
			   "The $filter '%s' is not supported.", filter);
		return;
	}
	out = json_object_new_array();
	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);
		const char *type = jx_str(r, "type");

		if (!armid_within(jx_str(r, "id"), scope) ||
		    str_ieq(jx_str(r, "id"), scope) ||
		    str_ieq(type, "Microsoft.Resources/resourceGroups") ||
		    str_istarts(type, "Microsoft.Authorization/"))
			continue;
		if ((!filter || filter_holds(r, &f)) && can_read(rq, r))
			json_object_array_add(out, json_object_get(r));
	}
	free(f.atoms);
	answer_built(rq, rs, out, generic_item, expand);
}

/* Serves a typed list: vaults, accounts, dicomservices of a workspace, resource
 * groups. */
static void list_typed(struct sim_req *rq, struct sim_resp *rs,
		       const struct armid *id, const char *scope)
{
	struct json_object *all = state_resources_under(rq->sim, scope),
			   *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);

		if (str_ieq(jx_str(r, "type"), id->type) &&
		    armid_within(jx_str(r, "id"), scope) && can_read(rq, r))
			json_object_array_add(out, json_object_get(r));
	}
	arm_answer_page(rq, rs, out);
}

/* Answers 404 for a missing resource the way ARM words it. */
void arm_not_found(struct sim_resp *rs, const struct armid *id)
{
	if (str_ieq(id->type, "Microsoft.Resources/resourceGroups"))
		resp_error(rs, 404, "ResourceGroupNotFound",
			   "Resource group '%s' could not be found.", id->name);
	else
		resp_error(rs, 404, "ResourceNotFound",
			   "The Resource '%s/%s' under resource group '%s' was "
			   "not found. "
			   "For more details please go to "
			   "https://aka.ms/ARMResourceNotFoundFix",
			   id->type, id->full_name ? id->full_name : "",
			   id->resource_group ? id->resource_group : "");
}

/* Returns the Key Vault DNS suffix that goes with the ARM host of the request.
 */
const char *arm_vault_suffix(struct sim_req *rq, bool hsm)
{
	if (strstr(rq->host, "usgovcloudapi"))
		return hsm ? "managedhsm.usgovcloudapi.net"
			   : "vault.usgovcloudapi.net";
	if (strstr(rq->host, "chinacloudapi"))
		return hsm ? "managedhsm.azure.cn" : "vault.azure.cn";
	return hsm ? "managedhsm.azure.net" : "vault.azure.net";
}

/*
 * Returns the systemData of a write by the caller now (allocated): old's
 * creation kept, or the caller's as creator; a signed-in user writes as a
 * User, anyone else as an Application.
 */
struct json_object *arm_system_data(struct sim_req *rq, struct json_object *old)
{
	struct json_object *sd = json_object_is_type(old, json_type_object)
					 ? jx_copy(old)
					 : json_object_new_object();
	const char *who = rq->oid ? rq->oid : "";
	const char *kind = str_ieq(jx_str(rq->claims, "idtyp"), "user")
				   ? "User"
				   : "Application";

	if (!jx_has(sd, "createdAt")) {
		json_object_object_add(sd, "createdBy",
				       json_object_new_string(who));
		json_object_object_add(sd, "createdByType",
				       json_object_new_string(kind));
		json_object_object_add(sd, "createdAt",
				       sim_iso_time(sim_now(rq->sim), true));
	}
	json_object_object_add(sd, "lastModifiedBy",
			       json_object_new_string(who));
	json_object_object_add(sd, "lastModifiedByType",
			       json_object_new_string(kind));
	json_object_object_add(sd, "lastModifiedAt",
			       sim_iso_time(sim_now(rq->sim), true));
	return sd;
}

/* Tells whether a type is a key vault or a managed HSM. */
static bool is_vault_type(const char *type)
{
	return str_ieq(type, "Microsoft.KeyVault/vaults") ||
	       str_ieq(type, "Microsoft.KeyVault/managedHSMs");
}

/*
 * Fills what Key Vault answers on every PUT of a vault or HSM, as
 * createVaultWithNetworkAcls.json shows it: tags ({} when none are given)
 * and systemData (the creation kept from cur).
 */
static void fill_vault_put(struct sim_req *rq, struct json_object *next,
			   struct json_object *cur)
{
	if (!json_object_is_type(jx_get(next, "tags"), json_type_object))
		json_object_object_add(next, "tags", json_object_new_object());
	json_object_object_add(next, "systemData",
			       arm_system_data(rq, jx_get(cur, "systemData")));
}

/* Fills the fields ARM owns when a vault, HSM or user-assigned identity is
 * created. */
static void fill_created(struct sim_req *rq, struct json_object *res,
			 const struct armid *id)
{
	char guid[37];
	bool hsm = str_ieq(id->type, "Microsoft.KeyVault/managedHSMs");

	if (is_vault_type(id->type)) {
		char *uri = xasprintf("https://%s.%s/", id->name,
				      arm_vault_suffix(rq, hsm));
		jx_set(res, hsm ? "properties.hsmUri" : "properties.vaultUri",
		       json_object_new_string(uri));
		free(uri);
		if (!jx_has(res, "properties.enableSoftDelete"))
			jx_set(res, "properties.enableSoftDelete",
			       json_object_new_boolean(1));
		if (!jx_has(res, "properties.tenantId"))
			jx_set(res, "properties.tenantId",
			       json_object_new_string(state_tenant(rq->sim)));
	} else if (str_ieq(id->type, "Microsoft.ManagedIdentity/"
				     "userAssignedIdentities")) {
		sim_random_uuid(guid);
		jx_set(res, "properties.principalId",
		       json_object_new_string(guid));
		sim_random_uuid(guid);
		jx_set(res, "properties.clientId",
		       json_object_new_string(guid));
		jx_set(res, "properties.tenantId",
		       json_object_new_string(state_tenant(rq->sim)));
	}
}

/* Refuses the vault changes Azure refuses: turning purge protection or soft
 * delete off. */
static bool vault_patch_ok(struct sim_resp *rs, struct json_object *cur,
			   struct json_object *body)
{
	struct json_object *pp =
		jx_get(body, "properties.enablePurgeProtection");
	struct json_object *sd = jx_get(body, "properties.enableSoftDelete");

	if (pp && !json_object_get_boolean(pp)) {
		resp_error(rs, 400, "BadRequest",
			   "The property \"enablePurgeProtection\" cannot be "
			   "set to false. "
			   "Enabling the purge protection for a vault is an "
			   "irreversible action.");
		return false;
	}
	if (sd && !json_object_get_boolean(sd) &&
	    jx_bool(cur, "properties.enableSoftDelete", true)) {
		resp_error(rs, 400, "BadRequest",
			   "The property \"enableSoftDelete\" cannot be set to "
			   "false. "
			   "Enabling the soft delete for a vault is an "
			   "irreversible action.");
		return false;
	}
	return true;
}

/* Applies a PATCH to a non-service resource: a merge, with arrays such as
 * accessPolicies replaced. */
static void plain_patch(struct sim_req *rq, struct sim_resp *rs,
			struct json_object *cur, struct json_object *body,
			const struct armid *id)
{
	struct json_object *next = jx_copy(cur);

	if (str_ieq(id->type, "Microsoft.KeyVault/vaults") ||
	    str_ieq(id->type, "Microsoft.KeyVault/managedHSMs")) {
		if (!vault_patch_ok(rs, cur, body)) {
			json_object_put(next);
			return;
		}
	}
	jx_merge_patch(next, body);
	json_object_object_add(next, "id",
			       json_object_new_string(jx_str(cur, "id")));
	if (!policy_allows_write(rq, rs, next)) {
		json_object_put(next);
		return;
	}
	state_put_resource(rq->sim, next);
	resp_json(rs, 200, json_object_get(next));
}

/*
 * Makes a Cognitive Services etag, W/"datetime'<ISO 8601, ':' escaped>'", as
 * CreateProject.json writes it: now, with the request's number as the
 * fraction of a second so that two writes in one second differ.
 */
static char *cognitive_etag(struct sim_req *rq)
{
	struct json_object *t = sim_iso_time(sim_now(rq->sim), false);
	const char *text = json_object_get_string(t);
	struct sbuf b = SBUF_INIT;

	sb_adds(&b, "W/\"datetime'");
	for (const char *p = text; *p && *p != 'Z'; p++) {
		if (*p == ':')
			sb_adds(&b, "%3A");
		else
			sb_addc(&b, *p);
	}
	sb_printf(&b, ".%07luZ'\"", rq->sim->req_seq % 10000000UL);
	json_object_put(t);
	return sb_steal(&b);
}

/* Completes a project's identity: the system-assigned principal (kept across
 * writes), the user-assigned ones' ids. */
static void project_identity(struct sim_req *rq, struct json_object *next,
			     struct json_object *cur)
{
	struct json_object *id = jx_get(next, "identity"),
			   *uais = jx_get(id, "userAssignedIdentities");
	const char *type = jx_str(id, "type");

	if (type && strcasestr(type, "SystemAssigned"))
		sim_system_principal(rq, id,
				     jx_str(cur, "identity.principalId"));
	if (!type || !strcasestr(type, "UserAssigned") ||
	    !json_object_is_type(uais, json_type_object))
		return;
	json_object_object_foreach(uais, uid, val)
	{
		struct json_object *uai = state_resource(rq->sim, uid),
				   *v = json_object_new_object();

		(void)val;
		if (jx_str(uai, "properties.principalId"))
			json_object_object_add(
				v, "principalId",
				json_object_new_string(
					jx_str(uai, "properties.principalId")));
		if (jx_str(uai, "properties.clientId"))
			json_object_object_add(
				v, "clientId",
				json_object_new_string(
					jx_str(uai, "properties.clientId")));
		json_object_object_add(uais, uid, v);
	}
}

/* Tells whether the account a project id lies in has a project other than it.
 */
static bool account_has_project(struct sim *s, const char *account,
				const char *project)
{
	struct json_object *all = jx_get(s->doc, "resources");

	for (size_t i = 0; i < jx_len(all); i++) {
		struct json_object *r = jx_at(all, i);

		if (str_ieq(jx_str(r, "type"),
			    "Microsoft.CognitiveServices/accounts/projects") &&
		    !str_ieq(jx_str(r, "id"), project) &&
		    armid_within(jx_str(r, "id"), account))
			return true;
	}
	return false;
}

/*
 * Returns a project's endpoints (allocated): the OpenAI ones CreateProject.json
 * (2025-09-01) shows, on the account's subdomain (customSubDomainName, else
 * its name), and the Foundry project API the Foundry portal shows for it.
 */
static struct json_object *project_endpoints(struct sim *s,
					     const struct armid *id)
{
	static const char *const openai[] = {
		"OpenAI Language Model Instance API", "OpenAI Dall-E API",
		"OpenAI Sora API"
	};
	struct json_object *eps = json_object_new_object(),
			   *acct = state_resource(s, id->parent);
	const char *sub =
		jx_str(acct, "properties.customSubDomainName")
			? jx_str(acct, "properties.customSubDomainName")
			: strrchr(id->parent, '/') + 1;
	char *oai = xasprintf("https://%s.openai.azure.com/", sub);
	char *fdy =
		xasprintf("https://%s.services.ai.azure.com/api/projects/%s",
			  sub, id->name);

	json_object_object_add(eps, "AI Foundry API",
			       json_object_new_string(fdy));
	for (size_t i = 0; i < sizeof(openai) / sizeof(openai[0]); i++)
		json_object_object_add(eps, openai[i],
				       json_object_new_string(oai));
	free(oai);
	free(fdy);
	return eps;
}

/*
 * Fills what Cognitive Services answers for a Foundry project it creates or
 * replaces, as CreateProject.json (2025-09-01) shows it: its own name (not
 * "account/project"), a new etag, provisioningState, endpoints, isDefault
 * (the account's first project) and the identity's principal.
 */
static void fill_project(struct sim_req *rq, struct json_object *next,
			 struct json_object *cur, const struct armid *id)
{
	char *etag = cognitive_etag(rq);

	json_object_object_add(next, "name", json_object_new_string(id->name));
	json_object_object_add(next, "etag", json_object_new_string(etag));
	jx_set(next, "properties.provisioningState",
	       json_object_new_string("Succeeded"));
	jx_set(next, "properties.endpoints", project_endpoints(rq->sim, id));
	jx_set(next, "properties.isDefault",
	       json_object_new_boolean(
		       cur ? jx_bool(cur, "properties.isDefault", false)
			   : !account_has_project(rq->sim, id->parent,
						  rq->path)));
	project_identity(rq, next, cur);
	free(etag);
}

/* Tells whether a PUT's parent resource is missing, answering ARM's 404
 * ParentResourceNotFound (projects only). */
static bool parent_missing(struct sim_req *rq, struct sim_resp *rs,
			   const struct armid *id)
{
	if (!str_ieq(id->type,
		     "Microsoft.CognitiveServices/accounts/projects") ||
	    !id->parent || state_resource(rq->sim, id->parent))
		return false;
	resp_error(rs, 404, "ParentResourceNotFound",
		   "Can not perform requested operation on nested resource. "
		   "Parent "
		   "resource '%s' not found.",
		   strrchr(id->parent, '/') + 1);
	return true;
}

/* Fills the fields ARM and the resource provider own on a PUT: at creation, and
 * on every write of some types. */
static void fill_put(struct sim_req *rq, struct json_object *next,
		     struct json_object *cur, const struct armid *id)
{
	if (cur && jx_get(cur, "properties.principalId") &&
	    str_ieq(id->type,
		    "Microsoft.ManagedIdentity/userAssignedIdentities"))
		jx_set(next, "properties", jx_copy(jx_get(cur, "properties")));
	else if (!cur)
		fill_created(rq, next, id);
	if (is_vault_type(id->type))
		fill_vault_put(rq, next, cur);
	else if (str_ieq(id->type,
			 "Microsoft.CognitiveServices/accounts/projects"))
		fill_project(rq, next, cur, id);
}

/* Refuses a new vault whose name another vault has, anywhere: vault names
 * are global (their URI is NAME.vault.azure.net). The code and text are
 * those Azure answers (VaultAlreadyExists, 409). */
static bool vault_name_taken(struct sim_req *rq, struct sim_resp *rs,
			     const struct json_object *cur,
			     const struct armid *id)
{
	bool hsm = str_ieq(id->type, "Microsoft.KeyVault/managedHSMs");

	if (cur || !is_vault_type(id->type) ||
	    !state_vault_by_name(rq->sim, id->name, hsm))
		return false;
	resp_error(rs, 409, "VaultAlreadyExists",
		   "The vault name '%s' is already in use. Vault names are "
		   "globally unique so it is possible that the name is already "
		   "taken.",
		   id->name);
	return true;
}

/* Applies a PUT to a non-service resource: create or replace, keeping the
 * fields ARM owns. */
static void plain_put(struct sim_req *rq, struct sim_resp *rs,
		      struct json_object *cur, struct json_object *body,
		      const struct armid *id)
{
	struct json_object *next;

	if ((cur && is_vault_type(id->type) &&
	     !vault_patch_ok(rs, cur, body)) ||
	    vault_name_taken(rq, rs, cur, id) || parent_missing(rq, rs, id))
		return;
	next = jx_copy(body);
	json_object_object_add(
		next, "id",
		json_object_new_string(cur ? jx_str(cur, "id") : rq->path));
	json_object_object_add(next, "name",
			       json_object_new_string(id->full_name
							      ? id->full_name
							      : id->name));
	json_object_object_add(
		next, "type",
		json_object_new_string(cur ? jx_str(cur, "type") : id->type));
	fill_put(rq, next, cur, id);
	if (!policy_allows_write(rq, rs, next)) {
		json_object_put(next);
		return;
	}
	state_put_resource(rq->sim, next);
	if (str_ieq(id->type, "Microsoft.Authorization/roleDefinitions"))
		state_refresh_roles(rq->sim);
	resp_json(rs, cur ? 200 : 201, json_object_get(next));
}

/* Serves PUT .../vaults/{v}/accessPolicies/{add|replace|remove}. */
static void access_policies(struct sim_req *rq, struct sim_resp *rs,
			    const struct armid *id)
{
	struct json_object *vault = state_resource(rq->sim, id->parent), *body,
			   *list, *given;
	const char *op = id->name;

	if (!vault)
		return arm_not_found(rs, id);
	if (!(body = req_json(rq, rs)))
		return;
	given = jx_get(body, "properties.accessPolicies");
	if (!json_object_is_type(given, json_type_array) ||
	    !(str_ieq(op, "add") || str_ieq(op, "replace") ||
	      str_ieq(op, "remove"))) {
		resp_error(rs, 400, "BadRequest",
			   "The access policy operation '%s' needs "
			   "properties.accessPolicies "
			   "and one of add, replace or remove.",
			   op);
		return;
	}
	list = jx_get(vault, "properties.accessPolicies");
	if (!json_object_is_type(list, json_type_array)) {
		list = json_object_new_array();
		jx_set(vault, "properties.accessPolicies", list);
	}
	for (size_t i = 0; i < jx_len(given); i++) {
		struct json_object *e = jx_at(given, i), *hit = NULL;

		for (size_t j = 0; j < jx_len(list) && !hit; j++)
			if (str_ieq(jx_str(jx_at(list, j), "objectId"),
				    jx_str(e, "objectId")))
				hit = jx_at(list, j);
		if (str_ieq(op, "remove") && hit) {
			for (size_t j = 0; j < jx_len(list); j++)
				if (jx_at(list, j) == hit)
					json_object_array_del_idx(list, j, 1);
		} else if (str_ieq(op, "replace") || !hit) {
			if (hit)
				for (size_t j = 0; j < jx_len(list); j++)
					if (jx_at(list, j) == hit)
						json_object_array_del_idx(list,
									  j, 1);
			json_object_array_add(list, jx_copy(e));
		} else {
			struct json_object *keys = jx_get(hit,
							  "permissions.keys"),
					   *add = jx_get(e, "permissions.keys");

			if (!keys) {
				keys = json_object_new_array();
				jx_set(hit, "permissions.keys", keys);
			}
			for (size_t k = 0; k < jx_len(add); k++)
				if (!jx_array_has_istr(keys,
						       json_object_get_string(
							       jx_at(add, k))))
					json_object_array_add(
						keys, jx_copy(jx_at(add, k)));
		}
	}
	{
		struct json_object *out = jx_copy(body);

		json_object_object_add(out, "id",
				       json_object_new_string(rq->path));
		json_object_object_add(
			out, "type",
			json_object_new_string(
				"Microsoft.KeyVault/vaults/accessPolicies"));
		resp_json(rs, 200, out);
	}
}

/* Returns the write action for a resource type. */
static char *write_action(const struct armid *id, const char *verb)
{
	if (str_ieq(id->type, "Microsoft.KeyVault/vaults/accessPolicies"))
		return xstrdup("Microsoft.KeyVault/vaults/accessPolicy/write");
	if (str_ieq(id->type, "Microsoft.Resources/resourceGroups"))
		return xasprintf(
			"Microsoft.Resources/subscriptions/resourceGroups/%s",
			verb);
	return xasprintf("%s/%s", id->type, verb);
}

/* Serves GET, PUT, PATCH and DELETE on one resource. */
static void one_resource(struct sim_req *rq, struct sim_resp *rs,
			 const struct armid *id)
{
	struct json_object *cur = state_resource(rq->sim, rq->path), *body;
	const char *m = rq->method;
	bool get = strcmp(m, "GET") == 0;
	char *action =
		get ? read_action(id->type)
		    : write_action(id, strcmp(m, "DELETE") == 0 ? "delete"
								: "write");

	if (!arm_require(rq, rs, rq->path, action))
		goto out;
	if (!api_version_ok(rq, rs, id->type,
			    cur ? jx_str(cur, "location") : NULL))
		goto out;
	if (str_ieq(id->type, "Microsoft.KeyVault/vaults/accessPolicies") &&
	    strcmp(m, "PUT") == 0) {
		access_policies(rq, rs, id);
	} else if (get) {
		if (cur)
			resp_json(rs, 200, json_object_get(cur));
		else
			arm_not_found(rs, id);
	} else if (strcmp(m, "DELETE") == 0) {
		if (cur)
			resp_json(rs, 200, json_object_get(cur)),
				state_del_resource(rq->sim, rq->path);
		else
			resp_raw(rs, 204, NULL, "");
	} else if (strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0) {
		resp_error(rs, 405, "MethodNotAllowed",
			   "The requested resource does not support http "
			   "method '%s'.",
			   m);
	} else if ((body = req_json(rq, rs)) != NULL) {
		bool patch = strcmp(m, "PATCH") == 0;

		if (services_is_service(id->type))
			services_write(rq, rs, cur, body, patch);
		else if (locker_is(id->type))
			locker_write(rq, rs, cur, body, patch);
		else if (patch && !cur)
			arm_not_found(rs, id);
		else if (patch)
			plain_patch(rq, rs, cur, body, id);
		else
			plain_put(rq, rs, cur, body, id);
	}
out:
	free(action);
}

/* Serves keys through Resource Manager after ARM's own checks, the caller's
 * action and the api-version (kv.c answers). */
static void arm_keys(struct sim_req *rq, struct sim_resp *rs,
		     const struct armid *id)
{
	char *action = strcmp(rq->method, "GET") == 0
			       ? read_action(id->type)
			       : write_action(id, "write");

	if (arm_require(rq, rs, rq->path, action) &&
	    api_version_ok(rq, rs, id->type, NULL))
		kv_arm_keys(rq, rs, id);
	free(action);
}

/* Checks that the subscription exists and the resource group (if any) too, for
 * paths below them. */
static bool parents_exist(struct sim_req *rq, struct sim_resp *rs,
			  const struct armid *id)
{
	char *rg;
	bool ok = true;

	if (!arm_subscription(rq->sim, id->subscription)) {
		resp_error(rs, 404, "SubscriptionNotFound",
			   "The subscription '%s' could not be found.",
			   id->subscription);
		return false;
	}
	if (!id->resource_group ||
	    (str_ieq(id->type, "Microsoft.Resources/resourceGroups") &&
	     !id->collection))
		return true;
	rg = xasprintf("/subscriptions/%s/resourceGroups/%s", id->subscription,
		       id->resource_group);
	if (!state_resource(rq->sim, rg) &&
	    state_allows(
		    rq->sim, rq->oid, rg,
		    "Microsoft.Resources/subscriptions/resourceGroups/read",
		    false)) {
		resp_error(rs, 404, "ResourceGroupNotFound",
			   "Resource group '%s' could not be found.",
			   id->resource_group);
		ok = false;
	}
	free(rg);
	return ok;
}

/*
 * Serves POST /subscriptions/{s}/providers/Microsoft.KeyVault/
 * checkNameAvailability: whether a vault name is free in all of Azure, as
 * Microsoft's checkVaultNameAvailability.json example (2024-11-01) and the
 * CheckNameAvailabilityResult definition answer it (nameAvailable, and when
 * not: reason AlreadyExists or AccountNameInvalid, message).
 */
static void check_vault_name(struct sim_req *rq, struct sim_resp *rs)
{
	struct json_object *body = req_json(rq, rs), *out;
	const char *name = jx_str(body, "name");

	if (!body)
		return;
	if (!name ||
	    !str_ieq(jx_str(body, "type"), "Microsoft.KeyVault/vaults")) {
		resp_error(rs, 400, "InvalidRequestContent",
			   "The request content must name a vault (name) of "
			   "type Microsoft.KeyVault/vaults.");
		return;
	}
	out = json_object_new_object();
	if (!state_vault_by_name(rq->sim, name, false)) {
		json_object_object_add(out, "nameAvailable",
				       json_object_new_boolean(true));
	} else {
		char *msg = xasprintf(
			"The vault name '%s' is already in use. Vault names "
			"are "
			"globally unique so it is possible that the name is "
			"already taken.",
			name);

		json_object_object_add(out, "nameAvailable",
				       json_object_new_boolean(false));
		json_object_object_add(out, "reason",
				       json_object_new_string("AlreadyExists"));
		json_object_object_add(out, "message",
				       json_object_new_string(msg));
		free(msg);
	}
	resp_json(rs, 200, out);
}

/* Serves paths below /subscriptions/{s} that are not Authorization or operation
 * paths. */
static void subscription_paths(struct sim_req *rq, struct sim_resp *rs)
{
	char *copy = xstrdup(rq->path), *seg[8] = { 0 }, *save = NULL;
	int n = 0;
	struct armid id;

	for (char *t = strtok_r(copy, "/", &save); t && n < 8;
	     t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	if (n == 2 && strcmp(rq->method, "GET") == 0) {
		struct json_object *sub = arm_subscription(rq->sim, seg[1]);

		if (!sub ||
		    !state_can_see_subscription(rq->sim, rq->oid, seg[1]))
			resp_error(rs, 404, "SubscriptionNotFound",
				   "The subscription '%s' could not be found.",
				   seg[1]);
		else
			resp_json(rs, 200, subscription_json(rq->sim, sub));
	} else if (n == 4 && str_ieq(seg[2], "providers") &&
		   strcmp(rq->method, "GET") == 0) {
		provider_metadata(rq, rs, seg[1], seg[3]);
	} else if (n == 5 && str_ieq(seg[2], "providers") &&
		   str_ieq(seg[3], "Microsoft.KeyVault") &&
		   str_ieq(seg[4], "checkNameAvailability") &&
		   strcmp(rq->method, "POST") == 0) {
		check_vault_name(rq, rs);
	} else if ((n == 3 || n == 5) && str_ieq(seg[n - 1], "resources")) {
		char *scope =
			n == 3 ? xasprintf("/subscriptions/%s", seg[1])
			       : xasprintf(
					 "/subscriptions/%s/resourceGroups/%s",
					 seg[1], seg[3]);

		if (!arm_subscription(rq->sim, seg[1]))
			resp_error(rs, 404, "SubscriptionNotFound",
				   "The subscription '%s' could not be found.",
				   seg[1]);
		else if (arm_require(rq, rs, scope,
				     "Microsoft.Resources/subscriptions/"
				     "resources/read"))
			list_generic(rq, rs, scope);
		free(scope);
	} else if (!armid_parse(rq->path, &id)) {
		resp_error(rs, 400, "InvalidResourceType",
			   "The resource path '%s' is not valid.", rq->path);
	} else {
		if (parents_exist(rq, rs, &id)) {
			if (kv_arm_key_type(id.type)) {
				arm_keys(rq, rs, &id);
			} else if (id.collection) {
				char *scope =
					id.parent ? xstrdup(id.parent)
					: id.resource_group
						? xasprintf("/subscriptions/%s/"
							    "resourceGroups/%s",
							    id.subscription,
							    id.resource_group)
						: xasprintf("/subscriptions/%s",
							    id.subscription);

				if (strcmp(rq->method, "GET") != 0)
					resp_error(rs, 405, "MethodNotAllowed",
						   "The collection '%s' "
						   "supports GET only.",
						   rq->path);
				else
					list_typed(rq, rs, &id, scope);
				free(scope);
			} else {
				one_resource(rq, rs, &id);
			}
		}
		armid_free(&id);
	}
	free(copy);
}

/* Tells whether a path is a long-running operation's status URL, giving the
 * operation id and whether it is a Location URL. */
static const char *operation_id(const char *path, bool *location)
{
	/*
	 * An operationResults URL is a Location URL (202, then the resource),
	 * except HealthcareApis', which is its operation status:
	 * OperationResults_Get answers an OperationResultsDescription
	 * (OperationResultsGet.json) and DicomServices_Patch.json names that
	 * URL as the Azure-AsyncOperation.
	 */
	const char *p;

	if ((p = strcasestr(path, "/operationStatuses/")) != NULL) {
		*location = false;
		return p + strlen("/operationStatuses/");
	}
	if ((p = strcasestr(path, "/operationResults/")) != NULL) {
		*location = !strcasestr(
			path, "/providers/Microsoft.HealthcareApis/locations/");
		return p + strlen("/operationResults/");
	}
	return NULL;
}

/* Routes a request to management.azure.com (and its sovereign twins). */
void arm_handle(struct sim_req *rq, struct sim_resp *rs)
{
	if (entra_check_bearer(rq, rs, HOST_ARM))
		arm_route(rq, rs);
}

/* Routes a signed-in request (or a deployment's internal one) to its
 * handler. */
void arm_route(struct sim_req *rq, struct sim_resp *rs)
{
	const char *opid;
	bool location = false;

	if ((opid = operation_id(rq->path, &location)) != NULL) {
		ops_handle(rq, rs, opid, location);
	} else if (!req_arg(rq, "api-version")) {
		resp_error(rs, 400, "MissingApiVersionParameter",
			   "The api-version query parameter (?api-version=) is "
			   "required for all requests.");
	} else if (strcmp(rq->path, "/subscriptions") == 0 ||
		   strcmp(rq->path, "/subscriptions/") == 0) {
		list_subscriptions(rq, rs);
	} else if (strcmp(rq->path, "/tenants") == 0) {
		list_tenants(rq, rs);
	} else if (str_istarts(
			   rq->path,
			   "/providers/Microsoft.ResourceGraph/resources")) {
		rg_handle(rq, rs);
	} else if (strcasestr(rq->path, "/providers/Microsoft.PolicyInsights/"
					"checkPolicyRestrictions")) {
		policy_check_restrictions(rq, rs);
	} else if (health_handle(rq, rs) || deploy_handle(rq, rs)) {
		return;
	} else if (authz_handle(rq, rs)) {
		return;
	} else if (str_istarts(rq->path, "/subscriptions/")) {
		subscription_paths(rq, rs);
	} else {
		resp_error(rs, 404, "InvalidResourceType",
			   "The resource path '%s' is not served.", rq->path);
	}
}
