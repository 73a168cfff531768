/* Sensible defaults for a remediation: which vault to look in first for a
 * compliant key, and a new key's name. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "armid.h"
#include "jx.h"
#include "pick.h"
#include "text.h"
#include "xalloc.h"

/* Tells whether a vault can hold the service's key at all: same tenant, and
 * same region where the service needs it. */
static bool usable(const struct svc_profile *svc, struct json_object *resource,
		   const char *tenant, struct json_object *v)
{
	const char *vt = jx_str(v, "properties.tenantId");

	if (tenant && vt && !str_ieq(vt, tenant))
		return false;
	return !svc->same_region ||
	       location_eq(jx_str(v, "location"), jx_str(resource, "location"));
}

/* Scores a vault: what the plan would not have to change, and how close it is
 * to the resource. Its region weighs most: a key beside the data keeps both
 * in one geography (data residency) and one region's outage from reaching
 * the other, even for the services that do not require it. */
static int score(struct json_object *resource, struct json_object *v)
{
	struct armid r, k;
	const char *def = jx_str(v, "properties.networkAcls.defaultAction");
	const char *bypass = jx_str(v, "properties.networkAcls.bypass");
	int s = 0;

	s += jx_bool(v, "properties.enablePurgeProtection", false) ? 4 : 0;
	s += jx_bool(v, "properties.enableSoftDelete", true) ? 2 : 0;
	/* Open networks first: the trusted-services bypass is not promised to
	 * these services (vault.trusted-bypass). */
	s += !def || str_ieq(def, "Allow")                   ? 2
	     : bypass && strcasestr(bypass, "AzureServices") ? 1
							     : 0;
	s += jx_bool(v, "properties.enableRbacAuthorization", false) ? 1 : 0;
	s += location_eq(jx_str(v, "location"), jx_str(resource, "location"))
		     ? 16
		     : 0;
	if (armid_parse(jx_str(resource, "id"), &r)) {
		if (armid_parse(jx_str(v, "id"), &k)) {
			s += str_ieq(r.subscription, k.subscription) ? 2 : 0;
			s += str_ieq(r.subscription, k.subscription) &&
					     str_ieq(r.resource_group,
						     k.resource_group)
				     ? 3
				     : 0;
			armid_free(&k);
		}
		armid_free(&r);
	}
	return s;
}

/*
 * Orders the vaults that could hold the resource's key, best first, into
 * order (indexes into vaults; the best max of all); returns how many. Other
 * tenants' vaults, and other regions' where the service needs its region, are
 * left out.
 */
size_t pick_vaults(const struct svc_profile *svc, struct json_object *resource,
		   const char *tenant, struct json_object *vaults,
		   size_t *order, size_t max)
{
	size_t n = 0;
	int *scores = xcalloc(max ? max : 1, sizeof(*scores));

	for (size_t i = 0; i < jx_len(vaults) && max; i++) {
		struct json_object *v = jx_at(vaults, i);
		size_t at = n;
		int sc;

		if (!usable(svc, resource, tenant, v))
			continue;
		sc = score(resource, v);
		while (at > 0 && scores[at - 1] < sc)
			at--;
		if (at == max)
			continue;
		if (n == max)
			n--;
		memmove(order + at + 1, order + at, (n - at) * sizeof(*order));
		memmove(scores + at + 1, scores + at,
			(n - at) * sizeof(*scores));
		scores[at] = sc;
		order[at] = i;
		n++;
	}
	free(scores);
	return n;
}

/* Returns the name for a new key of the resource: "cmk-" and its name (a DICOM
 * service's own part), letters, digits and dashes. */
char *pick_key_name(struct json_object *resource)
{
	const char *name = jx_str(resource, "name"),
		   *slash = name ? strrchr(name, '/') : NULL;
	char *out = xasprintf("cmk-%s", slash  ? slash + 1
					: name ? name
					       : "resource");

	for (char *p = out; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			*p = '-';
	if (strlen(out) > 127)
		out[127] = '\0';
	return out;
}

/* Tells whether a listed key store (as Resource Graph or ARM lists it) is a
 * Managed HSM, not a key vault. */
bool pick_is_hsm(struct json_object *store)
{
	return str_ieq(jx_str(store, "type"), "Microsoft.KeyVault/managedHSMs");
}

/* Returns a listed key store's data-plane URI: a vault's vaultUri, a Managed
 * HSM's hsmUri; NULL when absent. */
const char *pick_store_uri(struct json_object *store)
{
	return jx_str(store, pick_is_hsm(store) ? "properties.hsmUri"
						: "properties.vaultUri");
}
