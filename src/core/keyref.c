/* Key references: the one parser and the one formatter of key URIs
 * (https://VAULT.vault.azure.net/keys/NAME[/VERSION]). */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "i18n.h"
#include "keyref.h"
#include "text.h"
#include "xalloc.h"

/* Tells whether s[0..n) is made only of letters, digits and, when dash is true,
 * hyphens. */
static bool word_ok(const char *s, size_t n, bool dash)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !(dash && s[i] == '-'))
			return false;
	return true;
}

/*
 * Tells whether a vault or managed HSM name is one Azure allows: 3 to 24
 * letters, digits and hyphens, starting with a letter
 * (learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates,
 * "Vault name").
 */
static bool store_name_ok(const char *s, size_t n)
{
	return n >= 3 && n <= 24 && isalpha((unsigned char)s[0]) &&
	       word_ok(s, n, true);
}

/* Tells whether a key name is one Key Vault allows: 1 to 127 letters, digits
 * and hyphens (same page, "Object name"). */
static bool key_name_ok(const char *s, size_t n)
{
	return n >= 1 && n <= 127 && word_ok(s, n, true);
}

/* Tells whether a key version looks like one Key Vault writes (32 hexadecimal
 * digits; letters and digits accepted). */
static bool version_ok(const char *s, size_t n)
{
	return n >= 1 && n <= 64 && word_ok(s, n, false);
}

/* Finds which suffix a host (of length n) ends with: 1 a vault's, 2 an HSM's, 0
 * neither; *label gets the name's length. */
static int host_kind(const char *host, size_t n, const struct key_suffixes *sfx,
		     size_t *label)
{
	const char *const sfxs[] = { sfx ? sfx->vault : NULL,
				     sfx ? sfx->hsm : NULL };

	for (int i = 0; i < 2; i++) {
		size_t m = sfxs[i] ? strlen(sfxs[i]) : 0;

		if (m > 0 && n > m &&
		    strncasecmp(host + n - m, sfxs[i], m) == 0) {
			*label = n - m;
			return i + 1;
		}
	}
	return 0;
}

/* Fills a reference from its checked parts (the name of the store, lower-cased,
 * and where it lives). */
static void fill(struct key_ref *out, const char *store, size_t store_len,
		 bool hsm, const struct key_suffixes *sfx, const char *name,
		 size_t name_len, const char *ver, size_t ver_len)
{
	out->vault = xstrndup(store, store_len);
	for (char *p = out->vault; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	out->hsm = hsm;
	out->vault_uri = xasprintf("https://%s%s/", out->vault,
				   hsm ? sfx->hsm : sfx->vault);
	for (char *p = out->vault_uri; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	out->name = xstrndup(name, name_len);
	out->version = ver_len ? xstrndup(ver, ver_len) : NULL;
}

/* Checks the authority of a key URI (after "https://"): its store's name and
 * kind; *len gets its length. */
static const char *check_host(const char *a, const struct key_suffixes *sfx,
			      size_t *len, size_t *label, int *kind)
{
	size_t n = strcspn(a, "/?#"), host = n;
	const char *colon = memchr(a, ':', n);

	*len = n;
	if (memchr(a, '@', n) ||
	    (colon && !(a + n - colon == 4 && strncmp(colon, ":443", 4) == 0)))
		return N_(
			"its host part names a user or a port other than 443");
	if (colon)
		host = (size_t)(colon - a);
	*kind = host_kind(a, host, sfx, label);
	if (!*kind)
		return N_("its host is not a Key Vault or Managed HSM host of "
			  "the cloud in use (NAME.vault.azure.net or "
			  "NAME.managedhsm.azure.net in Azure's public cloud)");
	if (!store_name_ok(a, *label))
		return N_("its vault name is not valid: 3 to 24 letters, "
			  "digits and hyphens, starting with a letter");
	return NULL;
}

/* Checks the path of a key URI, /keys/NAME[/VERSION][/] and nothing after; sets
 * where the name and version are. */
static const char *check_path(const char *p, const char **name,
			      size_t *name_len, const char **ver,
			      size_t *ver_len)
{
	size_t n;

	if (strncasecmp(p, "/keys/", 6) != 0)
		return N_("its path is not /keys/NAME or /keys/NAME/VERSION");
	p += 6;
	n = strcspn(p, "/?#");
	*name = p;
	*name_len = n;
	*ver_len = 0;
	if (p[n] == '/' && p[n + 1] && !strchr("?#", p[n + 1])) {
		*ver = p + n + 1;
		*ver_len = strcspn(*ver, "/?#");
		p = *ver + *ver_len;
	} else {
		p += n;
	}
	if (*p == '/')
		p++;
	if (*p)
		return N_("its path is not /keys/NAME or /keys/NAME/VERSION");
	if (!key_name_ok(*name, *name_len))
		return N_("its key name is not valid: 1 to 127 letters, digits "
			  "and hyphens");
	if (*ver_len && !version_ok(*ver, *ver_len))
		return N_("its key version is not valid: letters and digits "
			  "only");
	return NULL;
}

/*
 * Parses a key URI: https, a vault or managed HSM on the cloud's own DNS
 * suffix (no user part, no port but 443), then /keys/NAME[/VERSION]. On
 * failure it returns false, allocates nothing and sets *why to the reason
 * (untranslated: give it to _()). A key URI comes from an operator, a plan
 * or a server, so nothing else is taken: "https://evil.example.com/keys/x"
 * is no vault named evil.
 */
bool key_ref_parse(const char *uri, const struct key_suffixes *sfx,
		   struct key_ref *out, const char **why)
{
	const char *name = NULL, *ver = NULL, *reason;
	size_t auth_len, label, name_len, ver_len;
	int kind = 0;

	memset(out, 0, sizeof(*out));
	if (!uri || strncasecmp(uri, "https://", 8) != 0) {
		*why = N_("it is not an https URL");
		return false;
	}
	if ((reason = check_host(uri + 8, sfx, &auth_len, &label, &kind)) !=
		    NULL ||
	    (reason = check_path(uri + 8 + auth_len, &name, &name_len, &ver,
				 &ver_len)) != NULL) {
		*why = reason;
		return false;
	}
	fill(out, uri + 8, label, kind == 2, sfx, name, name_len, ver, ver_len);
	*why = NULL;
	return true;
}

/*
 * Joins a vault URI (with or without its trailing '/'), a key name and an
 * optional version into a key URI, unchecked: what a service's setting
 * names, to give to key_ref_parse or to show in an error; allocated.
 */
char *key_ref_join(const char *vault_uri, const char *name, const char *version)
{
	const char *vu = vault_uri ? vault_uri : "";

	return xasprintf("%s%skeys/%s%s%s", vu, str_iends(vu, "/") ? "" : "/",
			 name ? name : "", version && *version ? "/" : "",
			 version && *version ? version : "");
}

/*
 * Builds a reference from its parts: a vault given as its URI or as a
 * vault's bare name, a key name and an optional version, each checked as
 * key_ref_parse checks them.
 */
bool key_ref_from_parts(const char *vault, const char *name,
			const char *version, const struct key_suffixes *sfx,
			struct key_ref *out, const char **why)
{
	char *uri, *base;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (!name || !key_name_ok(name, strlen(name))) {
		*why = N_("its key name is not valid: 1 to 127 letters, digits "
			  "and hyphens");
		return false;
	}
	if (version && *version && !version_ok(version, strlen(version))) {
		*why = N_("its key version is not valid: letters and digits "
			  "only");
		return false;
	}
	if (vault && strncasecmp(vault, "https://", 8) == 0) {
		base = xstrdup(vault);
		if (str_iends(base, "/"))
			base[strlen(base) - 1] = '\0';
	} else {
		base = xasprintf("https://%s%s", vault ? vault : "",
				 sfx && sfx->vault ? sfx->vault : "");
	}
	uri = key_ref_join(base, name, version);
	ok = key_ref_parse(uri, sfx, out, why);
	free(uri);
	free(base);
	return ok;
}

/*
 * Builds a reference to a vault or managed HSM alone (no key yet: one the
 * plan will create), given as its URI or a vault's bare name, checked as
 * key_ref_parse checks a key URI's host.
 */
bool key_ref_store(const char *vault, const struct key_suffixes *sfx,
		   struct key_ref *out, const char **why)
{
	struct key_ref k;

	memset(out, 0, sizeof(*out));
	if (!key_ref_from_parts(vault, "k", NULL, sfx, &k, why))
		return false;
	free(k.name);
	k.name = NULL;
	*out = k;
	return true;
}

/*
 * The key store suffixes of the clouds azcmk knows (public, US Government,
 * China; as cloud.c names them), for what is checked without a session:
 * a plan file names the cloud it was made in only through its vault URI.
 */
static const struct key_suffixes KNOWN[] = {
	{ ".vault.azure.net", ".managedhsm.azure.net" },
	{ ".vault.usgovcloudapi.net", ".managedhsm.usgovcloudapi.net" },
	{ ".vault.azure.cn", ".managedhsm.azure.cn" },
};

/* Builds a reference from its parts as key_ref_from_parts does, on any cloud
 * azcmk knows. */
bool key_ref_from_parts_any(const char *vault, const char *name,
			    const char *version, struct key_ref *out,
			    const char **why)
{
	for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++)
		if (key_ref_from_parts(vault, name, version, &KNOWN[i], out,
				       why))
			return true;
	return false;
}

/* Copies a reference (to owns its strings; a store alone keeps no name); false
 * when from holds none. */
bool key_ref_copy(const struct key_ref *from, struct key_ref *to)
{
	memset(to, 0, sizeof(*to));
	if (!from || !from->vault_uri)
		return false;
	to->vault_uri = xstrdup(from->vault_uri);
	to->vault = from->vault ? xstrdup(from->vault) : NULL;
	to->name = from->name ? xstrdup(from->name) : NULL;
	to->version = from->version ? xstrdup(from->version) : NULL;
	to->hsm = from->hsm;
	return true;
}

/*
 * Tells whether the key in use is the one wanted: the same vault or HSM, the
 * same key and, when want names a version, that version (a reference
 * without one wants the key whichever version is in use).
 */
bool key_ref_is(const struct key_ref *used, const struct key_ref *want)
{
	return used && want && used->vault_uri && want->vault_uri &&
	       used->name && want->name &&
	       str_ieq(used->vault_uri, want->vault_uri) &&
	       str_ieq(used->name, want->name) &&
	       (!want->version ||
		(used->version && str_ieq(used->version, want->version)));
}

/* Formats a reference as its key URI, with its version when it has one;
 * allocated. */
char *key_ref_uri(const struct key_ref *k)
{
	return key_ref_versioned(k, k->version);
}

/* Formats the key's URI with another version (none when NULL or empty);
 * allocated. */
char *key_ref_versioned(const struct key_ref *k, const char *version)
{
	return xasprintf("%skeys/%s%s%s", k->vault_uri, k->name,
			 version && *version ? "/" : "",
			 version && *version ? version : "");
}

/* Formats a URL under the key, unversioned, such as tail "/versions" or
 * "/rotationpolicy"; allocated. */
char *key_ref_url(const struct key_ref *k, const char *tail)
{
	return xasprintf("%skeys/%s%s", k->vault_uri, k->name,
			 tail ? tail : "");
}

/*
 * Formats the key's ARM id under its vault's ARM id ("{vault id}/keys/NAME"),
 * the scope of a role assignment on the key alone; allocated.
 */
char *key_ref_arm_id(const struct key_ref *k, const char *vault_id)
{
	return xasprintf("%s/keys/%s", vault_id, k->name);
}

/* Formats the key's scope inside its managed HSM ("/keys/NAME"), as local role
 * assignments name it; allocated. */
char *key_ref_local_scope(const struct key_ref *k)
{
	return xasprintf("/keys/%s", k->name);
}

/*
 * Returns the version a key identifier (a kid from Key Vault's answer) names
 * when it is a version of this very key: the key's URI, '/', then a version
 * Key Vault could have written, and nothing after; else NULL. The pointer is
 * into kid. A server's kid for another vault or key is no version of ours.
 */
const char *key_ref_version_in(const struct key_ref *k, const char *kid)
{
	char *base = k && k->vault_uri && k->name ? key_ref_url(k, "/") : NULL;
	size_t n = base ? strlen(base) : 0;
	const char *ver = NULL;

	if (base && kid && strncasecmp(kid, base, n) == 0) {
		size_t v = strlen(kid + n);

		ver = v && version_ok(kid + n, v) ? kid + n : NULL;
	}
	free(base);
	return ver;
}

/* Releases a reference's strings. */
void key_ref_free(struct key_ref *k)
{
	free(k->vault_uri);
	free(k->vault);
	free(k->name);
	free(k->version);
	memset(k, 0, sizeof(*k));
}
