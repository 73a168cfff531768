/* Parsing and comparing Azure Resource Manager resource ids. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "armid.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define MAX_SEGMENTS 32

/* Splits a path on '/' into at most max non-empty segments, in place; returns
 * the count or -1. */
static int split(char *p, char **seg, int max)
{
	int n = 0;

	for (char *tok = p; tok && *tok;) {
		char *slash = strchr(tok, '/');

		if (slash)
			*slash = '\0';
		if (*tok) {
			if (n == max)
				return -1;
			seg[n++] = tok;
		}
		tok = slash ? slash + 1 : NULL;
	}
	return n;
}

/* Joins segments first..last (inclusive) after base with '/'. */
static char *join(const char *base, char **seg, int first, int last)
{
	struct sbuf b = SBUF_INIT;

	sb_adds(&b, base);
	for (int i = first; i <= last; i++)
		sb_printf(&b, "/%s", seg[i]);
	return sb_steal(&b);
}

/*
 * Fills the provider part from the segments after "providers": the namespace,
 * then type/name pairs, perhaps ending with a lone type (a collection).
 */
static bool parse_provider(char **seg, int n, struct armid *out,
			   const char *base)
{
	struct sbuf type = SBUF_INIT, names = SBUF_INIT;
	int pairs = (n - 1) / 2;
	char *prefix;

	if (n < 2)
		return false;
	out->collection = (n - 1) % 2 == 1;
	sb_adds(&type, seg[0]);
	for (int i = 1; i < n; i += 2) {
		sb_printf(&type, "/%s", seg[i]);
		if (i + 1 < n)
			sb_printf(&names, "%s%s", names.len ? "/" : "",
				  seg[i + 1]);
	}
	out->type = sb_steal(&type);
	out->full_name = names.len ? sb_steal(&names) : NULL;
	sb_free(&names);
	out->name = out->collection ? NULL : xstrdup(seg[2 * pairs]);
	prefix = xasprintf("%s/providers/%s", base, seg[0]);
	if (out->collection && pairs >= 1)
		out->parent = join(prefix, seg, 1, 2 * pairs);
	else if (!out->collection && pairs >= 2)
		out->parent = join(prefix, seg, 1, 2 * pairs - 2);
	free(prefix);
	return true;
}

/*
 * Parses "/subscriptions/S[/resourceGroups/G[/providers/NS/T/N[/T2/N2]...]]".
 * Segment names are matched ignoring case. Returns false for anything else.
 */
bool armid_parse(const char *id, struct armid *out)
{
	char *copy, *seg[MAX_SEGMENTS];
	int n, i = 0;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	if (!id || id[0] != '/')
		return false;
	copy = xstrdup(id);
	n = split(copy, seg, MAX_SEGMENTS);
	if (n < 2 || strcasecmp(seg[0], "subscriptions") != 0) {
		free(copy);
		return false;
	}
	out->subscription = xstrdup(seg[1]);
	i = 2;
	if (i + 1 < n && strcasecmp(seg[i], "resourceGroups") == 0) {
		out->resource_group = xstrdup(seg[i + 1]);
		i += 2;
	} else if (i < n && strcasecmp(seg[i], "resourceGroups") == 0) {
		out->type = xstrdup("Microsoft.Resources/resourceGroups");
		out->collection = true;
		i++;
	}
	if (i < n && strcasecmp(seg[i], "providers") == 0) {
		char *base =
			out->resource_group
				? xasprintf(
					  "/subscriptions/%s/resourceGroups/%s",
					  out->subscription,
					  out->resource_group)
				: xasprintf("/subscriptions/%s",
					    out->subscription);

		ok = parse_provider(seg + i + 1, n - i - 1, out, base);
		free(base);
	} else if (i < n && !out->type) {
		ok = false;
	} else if (!out->type) {
		out->type =
			xstrdup(out->resource_group
					? "Microsoft.Resources/resourceGroups"
					: "Microsoft.Resources/subscriptions");
		out->name = xstrdup(out->resource_group ? out->resource_group
							: out->subscription);
	}
	free(copy);
	if (!ok)
		armid_free(out);
	return ok;
}

/* Releases the parts of a parsed id. */
void armid_free(struct armid *id)
{
	free(id->subscription);
	free(id->resource_group);
	free(id->type);
	free(id->name);
	free(id->full_name);
	free(id->parent);
	memset(id, 0, sizeof(*id));
}

/* Tells whether id equals scope or lies below it, comparing whole segments
 * ignoring case. */
bool armid_within(const char *id, const char *scope)
{
	size_t n;

	if (!id || !scope)
		return false;
	while (*scope == '/' && scope[1] == '/')
		scope++;
	n = strlen(scope);
	while (n > 0 && scope[n - 1] == '/')
		n--;
	if (n == 0)
		return true;
	if (strncasecmp(id, scope, n) != 0)
		return false;
	return id[n] == '\0' || id[n] == '/';
}

/* Returns the namespace of a full type ("Microsoft.KeyVault/vaults" gives
 * "Microsoft.KeyVault"). */
char *armid_provider_type(const char *type)
{
	const char *slash = strchr(type, '/');

	return slash ? xstrndup(type, (size_t)(slash - type)) : xstrdup(type);
}

/*
 * For an extension path such as
 * "{scope}/providers/Microsoft.Authorization/roleAssignments/x", returns the
 * scope before the last "/providers/{provider}" (case-insensitive), or NULL.
 */
char *armid_extension_scope(const char *path, const char *provider)
{
	char *needle = xasprintf("/providers/%s", provider);
	const char *hit = NULL;
	size_t m = strlen(needle);

	for (const char *p = path; (p = strcasestr(p, needle)) != NULL; p += m)
		if (p[m] == '/' || p[m] == '\0')
			hit = p;
	free(needle);
	return hit ? xstrndup(path, (size_t)(hit - path)) : NULL;
}

/* Tells whether an id is an ARM id of the given type (case-insensitive), naming
 * one resource, with no control character; its parts go in *keep when asked
 * (free them with armid_free). */
bool armid_of_type(const char *id, const char *type, struct armid *keep)
{
	struct armid a = { 0 };
	/* An id with a control character (or a bidirectional override) is no
	 * id Azure gave: it could only reach a terminal. */
	char *clean = text_sanitize(id, false);
	bool ok = id && strcmp(clean, id) == 0 && armid_parse(id, &a) &&
		  !a.collection && a.subscription && a.name &&
		  str_ieq(a.type, type);

	free(clean);

	if (ok && keep)
		*keep = a;
	else
		armid_free(&a);
	return ok;
}
