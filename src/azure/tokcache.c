/* The token cache azcmk's processes share: access tokens in a private file of
 * the state directory. */
/*
 * The file, tokens.json in the state directory, is the only place tokens are
 * written, and only this file reads or writes it:
 *
 *   {"version": 1, "tokens": {"<key>": {"token": "...", "expires_on": N}}}
 *
 * <key> is the SHA-256 of the cloud, tenant, credential identity and scope
 * (tokcache_hash), so the file names no tenant or client and a token is never
 * handed to another tenant, client, secret, cloud or scope. The file is read
 * only when it is a regular file of this user that no one else can read or
 * write (0600) in a private state directory; anything else is refused,
 * ignored and replaced at the next write. A file that is not JSON, too large,
 * or whose entries have the wrong shape loses those entries, never more.
 * Writers hold tokens.lock (flock) while they read, merge and write the file
 * anew (a temporary file renamed over it), so concurrent processes never lose
 * or tear each other's entries.
 *
 * Only access tokens are kept: no credential azcmk has keeps a refresh token
 * beyond its process (device code keeps its own in memory).
 *
 * The Azure CLI: its own cache (msal_token_cache.json in AZURE_CONFIG_DIR) is
 * not read. It is MSAL's internal format, which az changes between versions
 * and encrypts on some systems; it holds the refresh tokens of every account
 * az knows, which azcmk would have to load to find one access token; the
 * account az would pick follows from azureProfile.json's default subscription
 * and az's own rules; and az writes it under msal-extensions' own lock.
 * Instead the token az returns goes into this cache, keyed by a digest of
 * azureProfile.json (tokcache_cli_identity): az runs at most once per scope
 * while that token is fresh, and again after az login, az logout or az account
 * set change who az signs in as.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "digest.h"
#include "i18n.h"
#include "jx.h"
#include "statedir.h"
#include "text.h"
#include "tokcache.h"
#include "xalloc.h"

#define MAX_TOKEN 16384

/* Tells whether there is a home for the cache: XDG_STATE_HOME or HOME set (a
 * state directory relative to the working directory would scatter tokens). */
bool tokcache_enabled(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	return (xdg && *xdg) || (home && *home);
}

/* Returns the path of the token cache file. */
char *tokcache_path(void)
{
	return cmk_state_path(TOKCACHE_FILE);
}

/* Returns the key of a token in the file: the digest of what it is for. */
char *tokcache_hash(const struct tokcache_key *k)
{
	char *tenant = str_lower(k->tenant ? k->tenant : ""),
	     *scope = str_lower(k->scope ? k->scope : "");
	const char *const fields[] = { "azcmk-token-v1", k->cloud, tenant,
				       k->identity, scope };
	char *h = az_digest_fields(fields, sizeof(fields) / sizeof(fields[0]));

	free(tenant);
	free(scope);
	return h;
}

/* Tells whether a string is a key: 64 lower-case hex digits. */
static bool is_key(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') ||
		      (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* Tells whether a token may go into an Authorization header: the characters
 * of a JWT or an opaque bearer token, nothing else (no line break). */
static bool is_token(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || strchr("-._~+/=", s[n])))
			return false;
	return n > 0 && n <= MAX_TOKEN;
}

/* Returns a copy of an entry if it has the right shape and is not expired,
 * else NULL. */
static struct json_object *valid_entry(const char *key, struct json_object *v,
				       int64_t now)
{
	struct json_object *tok = jx_get(v, "token"),
			   *exp = jx_get(v, "expires_on"), *out;

	if (!is_key(key) || !json_object_is_type(v, json_type_object) ||
	    !json_object_is_type(tok, json_type_string) ||
	    !json_object_is_type(exp, json_type_int) ||
	    !is_token(json_object_get_string(tok)) ||
	    json_object_get_int64(exp) <= now)
		return NULL;
	out = json_object_new_object();
	json_object_object_add(out, "token", json_object_get(tok));
	json_object_object_add(out, "expires_on", json_object_get(exp));
	return out;
}

/*
 * Reads the text of a cache file into a fresh table of its valid, unexpired
 * entries (key: {token, expires_on}); NULL when the text is not a cache file
 * at all (not JSON, too large, another version). Nothing in the text is
 * trusted: each entry is checked and copied.
 */
struct json_object *tokcache_parse(const char *text, size_t len, int64_t now)
{
	char *err = NULL;
	struct json_object *doc, *tokens, *out = NULL;

	if (len > TOKCACHE_MAX_BYTES || !(doc = jx_parse(text, len, &err))) {
		free(err);
		return NULL;
	}
	tokens = jx_get(doc, "tokens");
	if (json_object_is_type(doc, json_type_object) &&
	    jx_int(doc, "version", 0) == 1 &&
	    json_object_is_type(tokens, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(tokens, k, v)
		{
			struct json_object *e = valid_entry(k, v, now);

			if (e && json_object_object_length(out) <
					 TOKCACHE_MAX_ENTRIES)
				json_object_object_add(out, k, e);
			else
				json_object_put(e);
		}
	}
	json_object_put(doc);
	return out;
}

/* Sets *warn once (the first reason wins); takes msg over. */
static void warn_once(char **warn, char *msg)
{
	if (warn && !*warn)
		*warn = msg;
	else
		free(msg);
}

/* Tells whether an open cache file may be trusted: a regular file of this
 * user that no one else can read or write; else says why in *warn. */
static bool trusted(int fd, const char *path, char **warn)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == geteuid() && !(st.st_mode & 077) &&
	    st.st_size <= TOKCACHE_MAX_BYTES)
		return true;
	warn_once(warn,
		  xasprintf(_("the token cache '%s' is not a private file of "
			      "this user (it must be a regular file, mode "
			      "0600, at most 1 MiB): its tokens are not used, "
			      "and it is replaced at the next sign-in; run "
			      "'azcmk logout' to remove it"),
			    path));
	return false;
}

/* Reads a whole descriptor (at most the cache's size limit and one byte). */
static char *slurp(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	ssize_t r;

	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n > TOKCACHE_MAX_BYTES)
			break;
		if (n == cap) {
			char *bigger = xmalloc(cap * 2);

			memcpy(bigger, buf, n);
			OPENSSL_cleanse(buf, n);
			free(buf);
			buf = bigger;
			cap *= 2;
		}
	}
	*len = n;
	return buf;
}

/*
 * Loads the cache file's valid entries, or NULL: missing (silently), not
 * trusted or not a cache file (with *warn saying so). The state directory
 * must be private.
 */
static struct json_object *load(const char *path, int64_t now, char **warn)
{
	char *err = NULL, *text;
	size_t len;
	int fd;
	struct json_object *t;

	if (!cmk_private_dir(path, &err)) {
		warn_once(warn, err);
		return NULL;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			warn_once(warn, xasprintf(_("cannot read the token "
						    "cache '%s': %s; its "
						    "tokens are not used"),
						  path, strerror(errno)));
		return NULL;
	}
	if (!trusted(fd, path, warn)) {
		close(fd);
		return NULL;
	}
	text = slurp(fd, &len);
	close(fd);
	t = tokcache_parse(text, len, now);
	OPENSSL_cleanse(text, len);
	free(text);
	if (!t)
		warn_once(warn, xasprintf(_("the token cache '%s' is damaged "
					    "(not a cache file of this "
					    "azcmk): its tokens are not used, "
					    "and it is replaced at the next "
					    "sign-in"),
					  path));
	return t;
}

/*
 * Finds a cached token for k that is still good margin seconds from now;
 * true with out->token set (caller frees). *warn (caller frees) says why a
 * cache file was not used.
 */
bool tokcache_get(const struct tokcache_key *k, int64_t now, int64_t margin,
		  struct az_token *out, char **warn)
{
	char *path = tokcache_path(), *key = tokcache_hash(k);
	struct json_object *t = load(path, now, warn), *e;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (t && key && json_object_object_get_ex(t, key, &e) &&
	    jx_int(e, "expires_on", 0) - margin > now) {
		out->token = xstrdup(jx_str(e, "token"));
		out->expires_on = jx_int(e, "expires_on", 0);
		found = true;
	}
	json_object_put(t);
	free(key);
	free(path);
	return found;
}

/* Opens and locks the cache's lock file; -1 with *err on failure. */
static int lock_cache(char **err)
{
	char *path = cmk_state_path(TOKCACHE_FILE ".lock");
	int fd = cmk_private_dir(path, err)
			 ? cmk_open_private(path, O_RDWR | O_CREAT, err)
			 : -1;

	if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
		*err = xasprintf(_("cannot lock '%s': %s"), path,
				 strerror(errno));
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* Drops the entry that expires first, to keep the table within its limit. */
static void drop_oldest(struct json_object *t)
{
	const char *oldest = NULL;
	int64_t when = 0;

	json_object_object_foreach(t, k, v)
	{
		int64_t e = jx_int(v, "expires_on", 0);

		if (!oldest || e < when) {
			oldest = k;
			when = e;
		}
	}
	if (oldest)
		json_object_object_del(t, oldest);
}

/* Writes a table as the cache file (a new private file renamed over it). */
static bool save(const char *path, struct json_object *t, char **err)
{
	struct json_object *doc = json_object_new_object();
	const char *text;
	bool ok;

	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "tokens", json_object_get(t));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	ok = cmk_write_private(path, text, err);
	OPENSSL_cleanse((void *)text, strlen(text));
	json_object_put(doc);
	return ok;
}

/*
 * Adds (or replaces) the token for k in the cache file, under its lock, with
 * the file's other valid entries; a file not trusted or damaged is replaced.
 * False with *warn (caller frees) when nothing could be written.
 */
bool tokcache_put(const struct tokcache_key *k, const struct az_token *t,
		  int64_t now, char **warn)
{
	char *path = tokcache_path(), *key = tokcache_hash(k), *err = NULL;
	int lock = lock_cache(&err);
	struct json_object *table = NULL;
	bool ok = false;

	if (lock >= 0 && key && t->token && is_token(t->token) &&
	    t->expires_on > now) {
		struct json_object *e = json_object_new_object();

		table = load(path, now, warn);
		if (!table)
			table = json_object_new_object();
		json_object_object_add(e, "token",
				       json_object_new_string(t->token));
		json_object_object_add(e, "expires_on",
				       json_object_new_int64(t->expires_on));
		json_object_object_add(table, key, e);
		while (json_object_object_length(table) > TOKCACHE_MAX_ENTRIES)
			drop_oldest(table);
		ok = save(path, table, &err);
	}
	if (err)
		warn_once(warn, err);
	json_object_put(table);
	if (lock >= 0)
		close(lock);
	free(key);
	free(path);
	return ok;
}

/*
 * Removes the cache file (for azcmk logout), under its lock, only from a
 * private state directory (never through a link); *path (caller frees) names
 * it and *removed counts the tokens it held (0 when it could not be read).
 * Returns 1 when removed, 0 when there was none, -1 with *err.
 */
int tokcache_clear(char **path, size_t *removed, char **err)
{
	struct stat st;
	struct json_object *t;
	char *warn = NULL;
	int lock, rc = 0;

	*path = tokcache_path();
	*removed = 0;
	/* Without a home there is no cache: a file the working directory
	 * holds there is not azcmk's. */
	if (!tokcache_enabled() || lstat(*path, &st) != 0)
		return 0;
	/* Through a state directory that is a link or another user's, the
	 * file is not azcmk's: nothing is removed there. */
	if (!cmk_private_dir(*path, err))
		return -1;
	/* Removing needs no lock, so a lock that cannot be had is no error;
	 * held, it keeps a writer from putting a file back half-way. */
	lock = lock_cache(err);
	free(*err);
	*err = NULL;
	t = load(*path, 0, &warn);
	*removed = t ? (size_t)json_object_object_length(t) : 0;
	json_object_put(t);
	free(warn);
	if (unlink(*path) == 0)
		rc = 1;
	else if (errno != ENOENT) {
		*err = xasprintf(_("cannot remove the token cache '%s': %s"),
				 *path, strerror(errno));
		rc = -1;
	}
	if (lock >= 0)
		close(lock);
	return rc;
}

/*
 * Returns the identity of the Azure CLI's sign-in: a digest of the program,
 * its configuration directory (AZURE_CONFIG_DIR, else ~/.azure) and its
 * azureProfile.json, which az login, az logout and az account set rewrite.
 * NULL when az has no profile there (then nothing of az is cached).
 */
char *tokcache_cli_identity(const char *az_command)
{
	const char *cfg = getenv("AZURE_CONFIG_DIR"), *home = getenv("HOME");
	char *dir = cfg && *cfg ? xstrdup(cfg)
				: xasprintf("%s/.azure", home ? home : "."),
	     *path = xasprintf("%s/azureProfile.json", dir), *text = NULL,
	     *id = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	size_t len = 0;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size <= TOKCACHE_MAX_BYTES)
		text = slurp(fd, &len);
	if (fd >= 0)
		close(fd);
	if (text && len > 0 && len <= TOKCACHE_MAX_BYTES) {
		const char *const fields[] = { "azure-cli",
					       az_command ? az_command : "az",
					       dir, text };

		text[len] = '\0';
		id = az_digest_fields(fields,
				      sizeof(fields) / sizeof(fields[0]));
	}
	free(text);
	free(path);
	free(dir);
	return id;
}
