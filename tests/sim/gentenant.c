/* A deterministic generator of large simulator tenants, with the findings a
 * shallow audit must report on them. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gentenant.h"
#include "sbuf.h"
#include "xalloc.h"

/*
 * Layout. Readable subscription number s (1..nsubs) has the prefix 0x7000 + s,
 * repeated as in 2222...: s = 1 is 70017001-7001-4001-8001-700170017001; the
 * unreadable one is number 0, 70007000-7000-4000-8000-700070007000. Inside a
 * subscription a GUID's 5th hex digit says what it is, as in
 * tests/scenarios/README.md: a for a system-assigned principal (counted by the
 * resource's number in its subscription, e.g. 7001a009-7001-4001-8001-
 * 70017001a009; past 4095 the prefix's second copy in the last group holds the
 * count's upper digits), e for a role-assignment name. Each readable
 * subscription has 10 resource groups rg-gSS-00..09, an RBAC vault kv-gen-SS in
 * rg-gSS-00 with soft delete and purge protection and four keys (cmk-dicom,
 * cmk-bot, cmk-foundry, cmk-openai; RSA 2048, two versions each), and Reader
 * for the operator and for the device-code user. Service resource i is service
 * i % 4 (DICOM, Health Bot, Foundry, OpenAI), in subscription (i / 4) % nsubs +
 * 1 and group (i / (4 * nsubs)) % 10, named dicom-NNNNN (in workspace wsSSgGG),
 * hb-NNNNN, fdy-NNNNN or oai-NNNNN after i.
 *
 * The mix, by index: i % 97 == 11 is not ready (Updating or Failed,
 * alternately); i % 47 == 5 is not eligible (a Health Bot created in 2021, an
 * account without the CustomerManagedKey capability; DICOM is always eligible);
 * an eligible i % 3 == 0 is on a customer-managed key (pinned current version
 * in its subscription's vault, system-assigned identity); the others are on
 * Microsoft-managed keys, without any identity when i % 19 == 7, else with a
 * system-assigned one. The unreadable subscription holds one plain resource per
 * service.
 */

#define TENANT "11111111-1111-4111-8111-111111111111"
#define OPERATOR_OID "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
#define USER_OID "0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c"
#define READER "acdd72a7-3385-48ef-bd42-f606fba81ae7"
#define LOCATION "westus3"
#define GROUPS 10
#define HIDDEN 4 /* service resources in the unreadable subscription */
#define MAX_SUBS 0xfff
#define GUID_LEN 37
#define VERSIONS 2 /* versions of each key; resources pin the last */

enum svc { SVC_DICOM, SVC_BOT, SVC_FOUNDRY, SVC_OPENAI, SVC_N };

/* Per service: name prefix and the key a customer-managed key uses. */
static const struct svcdef {
	const char *prefix, *key;
} SVC[SVC_N] = {
	{ "dicom", "cmk-dicom" },
	{ "hb", "cmk-bot" },
	{ "fdy", "cmk-foundry" },
	{ "oai", "cmk-openai" },
};

/* What the generator decided for one service resource. */
struct res {
	size_t index; /* global index: name and mix */
	enum svc svc;
	unsigned sub; /* subscription number: 0 the unreadable one, 1..nsubs
			 readable */
	unsigned group;
	size_t n;          /* the resource's number in its subscription, for its
			      principal's GUID */
	const char *state; /* provisioningState */
	bool eligible, cmk, identity;
	char name[64]; /* the ARM name: workspace/service for DICOM */
	char id[256];
};

/* One generation: the text being written and what has been emitted. */
struct gen {
	struct sbuf b;
	size_t nres, nsubs, total; /* total counts the unreadable subscription's
				      resources */
	bool unreadable;
	bool *ws;   /* workspaces emitted, by sub * GROUPS + group */
	bool comma; /* a comma is due before the next array element */
};

/* Returns the 16-bit GUID prefix of a subscription number. */
static unsigned prefix(unsigned sub)
{
	return (0x7000u + sub) & 0xffffu;
}

/* Writes the id of a subscription: its prefix repeated in GUID form. */
static void sub_id(unsigned sub, char out[GUID_LEN])
{
	unsigned p = prefix(sub);

	snprintf(out, GUID_LEN, "%04x%04x-%04x-4%03x-8%03x-%04x%04x%04x", p, p,
		 p, p & 0xfffu, p & 0xfffu, p, p, p);
}

/* Writes the id of generated subscription number sub (1 to nsubs), for tests
 * that name subscriptions. */
void gen_subscription_id(unsigned sub, char out[37])
{
	sub_id(sub, out);
}

/* Writes a GUID of a kind (a principal, e role assignment) and counter inside a
 * subscription. */
static void sub_guid(unsigned sub, char kind, size_t n, char out[GUID_LEN])
{
	unsigned p = prefix(sub), lo = (unsigned)(n & 0xfffu);
	unsigned hi = n < 0x1000 ? p : (unsigned)((n >> 12) & 0xffffu);

	snprintf(out, GUID_LEN, "%04x%c%03x-%04x-4%03x-8%03x-%04x%04x%c%03x", p,
		 kind, lo, p, p & 0xfffu, p & 0xfffu, p, hi, kind, lo);
}

/* Returns the 64-bit FNV-1a hash of a string from a starting value. */
static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Writes 32 hexadecimal digits derived from a seed, as a key version. */
static void hex32(const char *seed, char out[33])
{
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64,
		 fnv(seed, 0xcbf29ce484222325ULL),
		 fnv(seed, 0x84222325cbf29ce4ULL));
}

/* Writes the version of key k (0-based version v) in a subscription's vault. */
static void key_version(unsigned sub, const char *key, int v, char out[33])
{
	char seed[64];

	snprintf(seed, sizeof(seed), "kv-gen-%02u/%s/%d", sub, key, v);
	hex32(seed, out);
}

/* Fills in a resource's ARM name and id from its service, subscription, group
 * and index. */
static void res_names(struct res *r)
{
	char sub[GUID_LEN];

	sub_id(r->sub, sub);
	if (r->svc == SVC_DICOM) {
		snprintf(r->name, sizeof(r->name), "ws%02ug%02u/dicom-%05zu",
			 r->sub, r->group, r->index);
		snprintf(r->id, sizeof(r->id),
			 "/subscriptions/%s/resourceGroups/rg-g%02u-%02u/"
			 "providers/"
			 "Microsoft.HealthcareApis/workspaces/ws%02ug%02u/"
			 "dicomservices/dicom-%05zu",
			 sub, r->sub, r->group, r->sub, r->group, r->index);
		return;
	}
	snprintf(r->name, sizeof(r->name), "%s-%05zu", SVC[r->svc].prefix,
		 r->index);
	snprintf(r->id, sizeof(r->id),
		 "/subscriptions/%s/resourceGroups/rg-g%02u-%02u/providers/%s/"
		 "%s",
		 sub, r->sub, r->group,
		 r->svc == SVC_BOT ? "Microsoft.HealthBot/healthBots"
				   : "Microsoft.CognitiveServices/accounts",
		 r->name);
}

/* Decides resource i: where it lives and its mix (the unreadable subscription's
 * resources are plain). */
static void res_of(const struct gen *g, size_t i, struct res *r)
{
	size_t q = i / (SVC_N * g->nsubs);

	memset(r, 0, sizeof(*r));
	r->index = i;
	r->svc = (enum svc)(i % SVC_N);
	r->state = "Succeeded";
	r->eligible = r->identity = true;
	if (i >= g->nres) {
		r->n = i - g->nres + 1;
	} else {
		r->sub = (unsigned)((i / SVC_N) % g->nsubs) + 1;
		r->group = (unsigned)(q % GROUPS);
		r->n = q * SVC_N + r->svc + 1;
		if (i % 97 == 11)
			r->state = (i / 97) % 2 ? "Failed" : "Updating";
		r->eligible = r->svc == SVC_DICOM || i % 47 != 5;
		r->cmk = r->eligible && i % 3 == 0;
		r->identity = r->cmk || i % 19 != 7;
	}
	res_names(r);
}

/* Adds one resource's findings under the shallow-audit rules. */
static void count(const struct res *r, struct gen_counts *c)
{
	c->resources++;
	if (strcmp(r->state, "Succeeded") != 0)
		c->per_rule[GR_READY]++;
	if (!r->eligible) {
		c->per_rule[GR_ELIGIBLE]++;
	} else if (r->cmk) {
		c->per_rule[GR_SAME_VAULT] += r->svc == SVC_FOUNDRY;
	} else {
		c->per_rule[GR_CMK]++;
		c->per_rule[GR_IDENTITY_ENABLED] += !r->identity;
		c->per_rule[GR_IRREVERSIBLE] += r->svc == SVC_FOUNDRY;
	}
}

/* Starts an array element: a comma after the first. */
static void elem(struct gen *g)
{
	if (g->comma)
		sb_addc(&g->b, ',');
	g->comma = true;
}

/* Opens a top-level array member. */
static void open_array(struct gen *g, const char *key)
{
	sb_printf(&g->b, ",\"%s\":[", key);
	g->comma = false;
}

/* Writes the tenant, the operator and the device-code user, as in minimal.json.
 */
static void emit_head(struct gen *g)
{
	sb_adds(&g->b,
		"{\"tenantId\":\"" TENANT
		"\",\"operator\":{\"clientId\":\"0a0a0a0a-0a0a-4a0a-8a0a-"
		"0a0a0a0a0a0a\","
		"\"objectId\":\"" OPERATOR_OID
		"\",\"clientSecret\":\"demo-secret\",\"displayName\":\"azcmk-"
		"demo-operator\"},"
		"\"user\":{\"objectId\":\"" USER_OID
		"\",\"userPrincipalName\":\"operator@contoso-health.example\","
		"\"displayName\":\"Dana Whitfield\"}");
}

/* Writes one principal. */
static void emit_principal(struct gen *g, const char *oid, const char *type,
			   const char *name)
{
	elem(g);
	sb_printf(
		&g->b,
		"{\"objectId\":\"%s\",\"type\":\"%s\",\"displayName\":\"%s\"}",
		oid, type, name);
}

/* Writes the principals: the operator, the user and every system-assigned
 * identity. */
static void emit_principals(struct gen *g)
{
	open_array(g, "principals");
	emit_principal(g, OPERATOR_OID, "ServicePrincipal",
		       "azcmk-demo-operator");
	emit_principal(g, USER_OID, "User", "Dana Whitfield");
	for (size_t i = 0; i < g->total; i++) {
		struct res r;
		char oid[GUID_LEN];

		res_of(g, i, &r);
		if (!r.identity)
			continue;
		sub_guid(r.sub, 'a', r.n, oid);
		emit_principal(g, oid, "ServicePrincipal", r.name);
	}
	sb_addc(&g->b, ']');
}

/* Writes the subscriptions: the readable ones, then the unreadable one when
 * asked. */
static void emit_subscriptions(struct gen *g)
{
	char id[GUID_LEN];

	open_array(g, "subscriptions");
	for (unsigned s = 1; s <= g->nsubs; s++) {
		sub_id(s, id);
		elem(g);
		sb_printf(&g->b,
			  "{\"subscriptionId\":\"%s\",\"displayName\":"
			  "\"Contoso Health Generated %02u\"}",
			  id, s);
	}
	if (g->unreadable) {
		sub_id(0, id);
		elem(g);
		sb_printf(&g->b,
			  "{\"subscriptionId\":\"%s\",\"displayName\":"
			  "\"Contoso Health Hidden\"}",
			  id);
	}
	sb_addc(&g->b, ']');
}

/* Writes a resource group of a subscription. */
static void emit_group(struct gen *g, unsigned sub, unsigned group)
{
	char id[GUID_LEN];

	sub_id(sub, id);
	elem(g);
	sb_printf(&g->b,
		  "{\"id\":\"/subscriptions/%s/resourceGroups/"
		  "rg-g%02u-%02u\",\"type\":\"Microsoft.Resources/"
		  "resourceGroups\",\"name\":\"rg-g%02u-%02u\",\"location\":"
		  "\"" LOCATION "\",\"properties\":"
		  "{\"provisioningState\":\"Succeeded\"},\"tags\":{"
		  "\"environment\":\"generated\"}}",
		  id, sub, group, sub, group);
}

/* Writes systemData with one author and one date for creation and last change.
 */
static void emit_system_data(struct gen *g, const char *who, const char *when)
{
	sb_printf(&g->b,
		  "\"systemData\":{\"createdBy\":\"%s@contoso-health.example\","
		  "\"createdByType\":\"User\","
		  "\"createdAt\":\"%s\",\"lastModifiedBy\":\"%s@contoso-health."
		  "example\",\"lastModifiedByType\":\"User\","
		  "\"lastModifiedAt\":\"%s\"}",
		  who, when, who, when);
}

/* Writes a subscription's RBAC vault, with soft delete and purge protection, in
 * its first group. */
static void emit_vault(struct gen *g, unsigned sub)
{
	char id[GUID_LEN];

	sub_id(sub, id);
	elem(g);
	sb_printf(&g->b,
		  "{\"id\":\"/subscriptions/%s/resourceGroups/rg-g%02u-00/"
		  "providers/Microsoft.KeyVault/vaults/"
		  "kv-gen-%02u\",\"type\":\"Microsoft.KeyVault/"
		  "vaults\",\"name\":\"kv-gen-%02u\",\"location\":\"" LOCATION
		  "\",\"tags\":{\"environment\":\"generated\"},",
		  id, sub, sub, sub);
	emit_system_data(g, "platform", "2024-02-12T09:14:00.0000000Z");
	sb_printf(&g->b,
		  ",\"properties\":{\"sku\":{\"family\":\"A\",\"name\":"
		  "\"standard\"},\"tenantId\":\"" TENANT "\","
		  "\"accessPolicies\":[],\"enabledForDeployment\":false,"
		  "\"enabledForDiskEncryption\":false,"
		  "\"enabledForTemplateDeployment\":false,\"enableSoftDelete\":"
		  "true,\"softDeleteRetentionInDays\":90,"
		  "\"enableRbacAuthorization\":true,\"enablePurgeProtection\":"
		  "true,\"vaultUri\":\"https://kv-gen-%02u.vault."
		  "azure.net/"
		  "\",\"provisioningState\":\"Succeeded\","
		  "\"publicNetworkAccess\":\"Enabled\",\"networkAcls\":"
		  "{\"bypass\":\"AzureServices\",\"defaultAction\":\"Allow\","
		  "\"ipRules\":[],\"virtualNetworkRules\":[]}}}",
		  sub);
}

/* Writes a DICOM workspace. */
static void emit_workspace(struct gen *g, unsigned sub, unsigned group)
{
	char id[GUID_LEN];

	sub_id(sub, id);
	elem(g);
	sb_printf(
		&g->b,
		"{\"id\":\"/subscriptions/%s/resourceGroups/rg-g%02u-%02u/"
		"providers/Microsoft.HealthcareApis/"
		"workspaces/ws%02ug%02u\",\"type\":\"Microsoft.HealthcareApis/"
		"workspaces\",\"name\":\"ws%02ug%02u\","
		"\"location\":\"" LOCATION
		"\",\"properties\":{\"provisioningState\":\"Succeeded\","
		"\"publicNetworkAccess\":"
		"\"Enabled\"},",
		id, sub, group, sub, group, sub, group);
	emit_system_data(g, "imaging-admin", "2023-09-18T14:02:11.5530120Z");
	sb_addc(&g->b, '}');
}

/* Writes the opening members every service resource has: id, type, name,
 * location. */
static void emit_res_head(struct gen *g, const struct res *r, const char *type)
{
	elem(g);
	sb_printf(&g->b,
		  "{\"id\":\"%s\",\"type\":\"%s\",\"name\":\"%s\",\"location\":"
		  "\"" LOCATION "\",",
		  r->id, type, r->name);
}

/* Writes an etag derived from the resource id. */
static void emit_etag(struct gen *g, const struct res *r)
{
	uint64_t h = fnv(r->id, 0xcbf29ce484222325ULL);

	sb_printf(&g->b,
		  "\"etag\":\"\\\"%08" PRIx64 "-0000-0100-0000-%012" PRIx64
		  "\\\"\",",
		  h >> 32, h & (uint64_t)0xffffffffffff);
}

/* Writes the system-assigned identity of a resource that has one. */
static void emit_identity(struct gen *g, const struct res *r)
{
	char oid[GUID_LEN];

	if (!r->identity)
		return;
	sub_guid(r->sub, 'a', r->n, oid);
	sb_printf(&g->b,
		  "\"identity\":{\"type\":\"SystemAssigned\",\"principalId\":"
		  "\"%s\",\"tenantId\":\"" TENANT "\"},",
		  oid);
}

/* Writes a DICOM service, on a versioned key URL when on a customer-managed
 * key. */
static void emit_dicom(struct gen *g, const struct res *r)
{
	const char *svc = strchr(r->name, '/') + 1;
	char host[64];

	snprintf(host, sizeof(host),
		 "ws%02ug%02u-%s.dicom.azurehealthcareapis.com", r->sub,
		 r->group, svc);
	emit_res_head(g, r,
		      "Microsoft.HealthcareApis/workspaces/dicomservices");
	emit_etag(g, r);
	sb_adds(&g->b, "\"tags\":{\"service\":\"imaging\"},");
	emit_identity(g, r);
	sb_printf(&g->b,
		  "\"properties\":{\"provisioningState\":\"%s\",\"serviceUrl\":"
		  "\"https://%s\","
		  "\"authenticationConfiguration\":{\"authority\":\"https://"
		  "login.microsoftonline.com/" TENANT "\","
		  "\"audiences\":[\"https://"
		  "dicom.healthcareapis.azure.com\",\"https://"
		  "%s\"]},\"corsConfiguration\":"
		  "{\"origins\":[],\"headers\":[],\"methods\":[],"
		  "\"allowCredentials\":false},\"publicNetworkAccess\":"
		  "\"Enabled\",\"eventState\":\"Disabled\","
		  "\"enableDataPartitions\":false",
		  r->state, host, host);
	if (r->cmk) {
		char ver[33];

		key_version(r->sub, SVC[SVC_DICOM].key, VERSIONS - 1, ver);
		sb_printf(
			&g->b,
			",\"encryption\":{\"customerManagedKeyEncryption\":{"
			"\"keyEncryptionKeyUrl\":"
			"\"https://kv-gen-%02u.vault.azure.net/keys/%s/%s\"}}",
			r->sub, SVC[SVC_DICOM].key, ver);
	}
	sb_adds(&g->b, "},");
	emit_system_data(g, "imaging-admin", "2024-01-22T10:41:09.1200000Z");
	sb_addc(&g->b, '}');
}

/* Writes a Health Bot: created before 2021-11-11 when not eligible, with
 * keyVaultProperties on a CMK. */
static void emit_bot(struct gen *g, const struct res *r)
{
	emit_res_head(g, r, "Microsoft.HealthBot/healthBots");
	sb_adds(&g->b, "\"tags\":{\"service\":\"patient-engagement\"},\"sku\":{"
		       "\"name\":\"C0\"},");
	emit_identity(g, r);
	sb_printf(&g->b,
		  "\"properties\":{\"provisioningState\":\"%s\","
		  "\"botManagementPortalLink\":"
		  "\"https://us.healthbot.microsoft.com/account/"
		  "%s\",\"accessControlMethod\":\"BotRBAC\"",
		  r->state, r->name);
	if (r->cmk) {
		char ver[33];

		key_version(r->sub, SVC[SVC_BOT].key, VERSIONS - 1, ver);
		sb_printf(&g->b,
			  ",\"keyVaultProperties\":{\"keyName\":\"%s\","
			  "\"keyVaultUri\":\"https://kv-gen-%02u.vault."
			  "azure.net/\",\"keyVersion\":\"%s\"}",
			  SVC[SVC_BOT].key, r->sub, ver);
	}
	sb_adds(&g->b, "},");
	emit_system_data(g, "bots-admin",
			 r->eligible ? "2023-03-01T10:00:00.0000000Z"
				     : "2021-06-01T09:30:00.0000000Z");
	sb_addc(&g->b, '}');
}

/* Writes an account's capabilities: CustomerManagedKey only when eligible. */
static void emit_capabilities(struct gen *g, const struct res *r)
{
	sb_printf(&g->b,
		  "\"capabilities\":[{\"name\":\"VirtualNetworks\"},%s{"
		  "\"name\":\"MaxFineTuneCount\",\"value\":"
		  "\"500\"},{\"name\":\"TrustedServices\",\"value\":"
		  "\"Microsoft.CognitiveServices,Microsoft."
		  "MachineLearningServices,Microsoft.Search\"}],",
		  r->eligible ? "{\"name\":\"CustomerManagedKey\"}," : "");
}

/* Writes an account's encryption: Microsoft-managed, or the pinned key of its
 * subscription's vault. */
static void emit_encryption(struct gen *g, const struct res *r)
{
	char ver[33];

	if (!r->cmk) {
		sb_adds(&g->b, "\"encryption\":{\"keySource\":\"Microsoft."
			       "CognitiveServices\"}");
		return;
	}
	key_version(r->sub, SVC[r->svc].key, VERSIONS - 1, ver);
	sb_printf(&g->b,
		  "\"encryption\":{\"keySource\":\"Microsoft.KeyVault\","
		  "\"keyVaultProperties\":{\"keyName\":\"%s\","
		  "\"keyVersion\":\"%s\",\"keyVaultUri\":\"https://"
		  "kv-gen-%02u.vault.azure.net/\"}}",
		  SVC[r->svc].key, ver, r->sub);
}

/* Writes a Cognitive Services account: kind AIServices (Foundry) or OpenAI. */
static void emit_account(struct gen *g, const struct res *r)
{
	bool foundry = r->svc == SVC_FOUNDRY;

	emit_res_head(g, r, "Microsoft.CognitiveServices/accounts");
	sb_printf(&g->b,
		  "\"sku\":{\"name\":\"S0\"},\"kind\":\"%s\",\"tags\":{"
		  "\"service\":\"ai\"},",
		  foundry ? "AIServices" : "OpenAI");
	emit_etag(g, r);
	emit_identity(g, r);
	sb_printf(&g->b,
		  "\"properties\":{\"provisioningState\":\"%s\",\"endpoint\":"
		  "\"https://%s.%s/\","
		  "\"customSubDomainName\":\"%s\",",
		  r->state, r->name,
		  foundry ? "cognitiveservices.azure.com" : "openai.azure.com",
		  r->name);
	emit_capabilities(g, r);
	sb_printf(&g->b,
		  "\"publicNetworkAccess\":\"Enabled\",\"dateCreated\":\"2025-"
		  "03-14T16:20:05Z\",%s",
		  foundry ? "\"allowProjectManagement\":true," : "");
	emit_encryption(g, r);
	sb_adds(&g->b, "},");
	emit_system_data(g, "ai-platform", "2025-03-14T16:20:05.0000000Z");
	sb_addc(&g->b, '}');
}

/* Writes one service resource, preceded by its workspace the first time a DICOM
 * service needs it. */
static void emit_service(struct gen *g, const struct res *r)
{
	bool *ws = &g->ws[r->sub * GROUPS + r->group];

	switch (r->svc) {
	case SVC_DICOM:
		if (!*ws)
			emit_workspace(g, r->sub, r->group);
		*ws = true;
		emit_dicom(g, r);
		break;
	case SVC_BOT:
		emit_bot(g, r);
		break;
	default:
		emit_account(g, r);
		break;
	}
}

/* Writes the resources: groups and vaults, then every service resource; counts
 * the readable ones. */
static void emit_resources(struct gen *g, struct gen_counts *c)
{
	open_array(g, "resources");
	for (unsigned s = 1; s <= g->nsubs; s++) {
		for (unsigned k = 0; k < GROUPS; k++)
			emit_group(g, s, k);
		emit_vault(g, s);
	}
	if (g->unreadable)
		emit_group(g, 0, 0);
	for (size_t i = 0; i < g->total; i++) {
		struct res r;

		res_of(g, i, &r);
		emit_service(g, &r);
		if (i < g->nres)
			count(&r, c);
	}
	sb_addc(&g->b, ']');
}

/* Writes one RSA 2048 wrap/unwrap key with its versions, a year apart; first
 * says no comma is due. */
static void emit_key(struct gen *g, unsigned sub, const char *key, bool first)
{
	sb_printf(&g->b, "%s\"%s\":[", first ? "" : ",", key);
	for (int v = 0; v < VERSIONS; v++) {
		char ver[33];
		long created = 1714899600L + 31536000L * v;

		key_version(sub, key, v, ver);
		sb_printf(&g->b,
			  "%s{\"version\":\"%s\",\"kty\":\"RSA\",\"key_size\":"
			  "2048,\"key_ops\":[\"wrapKey\","
			  "\"unwrapKey\"],\"attributes\":{\"enabled\":true,"
			  "\"created\":%ld,\"updated\":%ld,\"recoveryLevel\":"
			  "\"Recoverable\"}}",
			  v ? "," : "", ver, created, created);
	}
	sb_addc(&g->b, ']');
}

/* Writes the keys of every readable subscription's vault, one per service. */
static void emit_keys(struct gen *g)
{
	sb_adds(&g->b, ",\"keys\":{");
	for (unsigned s = 1; s <= g->nsubs; s++) {
		sb_printf(&g->b, "%s\"kv-gen-%02u\":{", s > 1 ? "," : "", s);
		for (int k = 0; k < SVC_N; k++)
			emit_key(g, s, SVC[k].key, k == 0);
		sb_addc(&g->b, '}');
	}
	sb_addc(&g->b, '}');
}

/* Writes Reader on each readable subscription for the operator and for the
 * device-code user. */
static void emit_assignments(struct gen *g)
{
	open_array(g, "roleAssignments");
	for (unsigned s = 1; s <= g->nsubs; s++) {
		char sub[GUID_LEN], op[GUID_LEN], user[GUID_LEN];

		sub_id(s, sub);
		sub_guid(s, 'e', 1, op);
		sub_guid(s, 'e', 2, user);
		elem(g);
		sb_printf(&g->b,
			  "{\"scope\":\"/subscriptions/"
			  "%s\",\"principalId\":\"" OPERATOR_OID
			  "\",\"roleDefinitionId\":"
			  "\"" READER "\",\"name\":\"%s\",\"principalType\":"
			  "\"ServicePrincipal\"}",
			  sub, op);
		elem(g);
		sb_printf(&g->b,
			  "{\"scope\":\"/subscriptions/"
			  "%s\",\"principalId\":\"" USER_OID
			  "\",\"roleDefinitionId\":"
			  "\"" READER
			  "\",\"name\":\"%s\",\"principalType\":\"User\"}",
			  sub, user);
	}
	sb_addc(&g->b, ']');
}

/* Builds a generated tenant and its expected shallow-audit findings; see
 * gentenant.h. */
char *gen_tenant(size_t nres, size_t nsubs, bool unreadable,
		 struct gen_counts *counts)
{
	struct gen g = { SBUF_INIT,  nres,
			 nsubs,      nres + (unreadable ? HIDDEN : 0),
			 unreadable, NULL,
			 false };
	struct gen_counts local;

	if (nsubs == 0 || nsubs > MAX_SUBS)
		return NULL;
	if (!counts)
		counts = &local;
	memset(counts, 0, sizeof(*counts));
	g.ws = xcalloc((nsubs + 1) * GROUPS, sizeof(*g.ws));
	emit_head(&g);
	emit_principals(&g);
	emit_subscriptions(&g);
	emit_resources(&g, counts);
	emit_keys(&g);
	emit_assignments(&g);
	sb_adds(&g.b, ",\"settings\":{\"latencyMs\":0,\"propagationSeconds\":0,"
		      "\"lroPolls\":0},\"faults\":[]}");
	free(g.ws);
	return sb_steal(&g.b);
}
