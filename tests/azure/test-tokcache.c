/* Integration tests of the token cache against the simulator: reuse, expiry,
 * keys, permissions, damage, logout and concurrent writers. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jx.h"
#include "sbuf.h"
#include "session.h"
#include "simtest.h"
#include "tokcache.h"
#include "xalloc.h"

#define TENANT "11111111-1111-4111-8111-111111111111"
#define CLIENT "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a"
#define OPERATOR "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
#define SIGN_IN "/oauth2/v2.0/token"

static char workdir[64];

/* A running simulator, the state directory and the last session. */
struct env {
	struct simtest t;
	char ca[128], state[160], cache[192];
	struct az_session *s;
	struct az_error e;
	struct sbuf warned; /* what the session said of the token cache */
	const char *az;     /* the Azure CLI program, for --auth cli */
	const char *tenant;
	bool fresh; /* ask the credential, not the cache (azcmk login) */
};

/* Clears every credential variable, so each test says exactly what it uses. */
static void clear_env(void)
{
	static const char *const vars[] = { "AZURE_TENANT_ID",
					    "AZURE_CLIENT_ID",
					    "AZURE_CLIENT_SECRET",
					    "AZURE_CLIENT_CERTIFICATE_PATH",
					    "AZURE_FEDERATED_TOKEN_FILE",
					    "IDENTITY_ENDPOINT",
					    "IDENTITY_HEADER",
					    "MSI_ENDPOINT",
					    "MSI_SECRET",
					    "AZURE_AUTHORITY_HOST",
					    "AZURE_CONFIG_DIR",
					    NULL };

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
}

/* Uses the operator's client secret from the environment. */
static void use_secret(const char *client, const char *secret)
{
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", client, 1);
	setenv("AZURE_CLIENT_SECRET", secret, 1);
}

/* Starts the simulator and gives the test a fresh, private state directory. */
static struct env *env_start(void)
{
	struct env *v = xcalloc(1, sizeof(*v));
	static int n;

	clear_env();
	if (st_start(&v->t, "minimal.json", NULL) != 0)
		fail_msg("the simulator did not start");
	snprintf(v->ca, sizeof(v->ca), "%s/ca-%d.pem", workdir, v->t.https);
	assert_int_equal(st_point_client(&v->t, v->ca), 0);
	snprintf(v->state, sizeof(v->state), "%s/state-%d", workdir, n++);
	assert_int_equal(mkdir(v->state, 0700), 0);
	setenv("XDG_STATE_HOME", v->state, 1);
	snprintf(v->cache, sizeof(v->cache), "%s/azcmk/%s", v->state,
		 TOKCACHE_FILE);
	use_secret(CLIENT, "demo-secret");
	return v;
}

/* Collects what the session says of the token cache. */
static void on_warn(const char *message, void *ctx)
{
	struct env *v = ctx;

	sb_printf(&v->warned, "%s\n", message);
}

/* Makes a session that shares its tokens through the token cache. */
static struct az_session *session(struct env *v, enum az_auth auth)
{
	struct az_session_opts o = { 0 };

	o.auth = auth;
	o.tenant = v->tenant;
	o.ca_file = v->ca;
	o.max_retries = 1;
	o.backoff_base_ms = 5;
	o.az_command = v->az;
	o.persist_tokens = true;
	o.fresh_tokens = v->fresh;
	o.warn = on_warn;
	o.prompt_ctx = v;
	az_session_free(v->s);
	az_error_clear(&v->e);
	v->s = az_session_new(&o, &v->e);
	assert_non_null(v->s);
	return v->s;
}

/* Stops everything a test started and removes its state directory. */
static void env_stop(struct env *v)
{
	char *cmd = xasprintf("rm -rf '%s'", v->state);

	az_session_free(v->s);
	az_error_clear(&v->e);
	st_stop(&v->t);
	unlink(v->ca);
	sb_free(&v->warned);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(v);
}

/* Counts logged requests whose path contains needle. */
static int log_count(struct env *v, const char *needle)
{
	struct st_resp r;
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++)
		if (strstr(jx_str(jx_at(log, i), "path"), needle))
			n++;
	st_resp_free(&r);
	return n;
}

/* Signs in with a new session and asserts who signed in. */
static void sign_in_as(struct env *v, enum az_auth auth, const char *oid)
{
	struct json_object *c;

	session(v, auth);
	if (az_session_sign_in(v->s, &v->e) != 0)
		fail_msg("sign-in failed: %s", v->e.message);
	c = az_session_claims(v->s);
	assert_string_equal(jx_str(c, "oid"), oid);
	json_object_put(c);
}

/* Signs in with a new session and asserts the operator signed in. */
static void sign_in(struct env *v, enum az_auth auth)
{
	sign_in_as(v, auth, OPERATOR);
}

/* Asserts a new session's sign-in fails (the token cache did not answer). */
static void sign_in_fails(struct env *v, enum az_auth auth)
{
	session(v, auth);
	assert_int_equal(az_session_sign_in(v->s, &v->e), -1);
}

/* Reads the cache file (NULL when missing). */
static struct json_object *read_cache(struct env *v)
{
	char *err = NULL;
	struct json_object *j = NULL;
	FILE *f = fopen(v->cache, "r");
	char buf[65536];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	j = jx_parse(buf, n, &err);
	free(err);
	return j;
}

/* Writes text as the cache file, private. */
static void write_cache(struct env *v, const char *text, size_t len)
{
	FILE *f = fopen(v->cache, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(v->cache, 0600), 0);
}

/* Sets every entry's expiry in the cache file to when. */
static void set_expiry(struct env *v, int64_t when)
{
	struct json_object *j = read_cache(v);
	const char *text;

	assert_non_null(j);
	json_object_object_foreach(jx_get(j, "tokens"), k, e)
	{
		(void)k;
		json_object_object_add(e, "expires_on",
				       json_object_new_int64(when));
	}
	text = json_object_to_json_string(j);
	write_cache(v, text, strlen(text));
	json_object_put(j);
}

/* Asserts the cache file is a private file holding n tokens. */
static void assert_cache(struct env *v, size_t n)
{
	struct stat st;
	struct json_object *j = read_cache(v);

	assert_int_equal(lstat(v->cache, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(j);
	assert_int_equal(jx_int(j, "version", 0), 1);
	assert_int_equal(json_object_object_length(jx_get(j, "tokens")), n);
	json_object_put(j);
}

/* Asserts the cache file names neither the tenant, the client nor the
 * secret: its keys are digests. */
static void assert_cache_names_nothing(struct env *v)
{
	struct json_object *j = read_cache(v);
	const char *text = json_object_to_json_string(j);

	assert_null(strstr(text, TENANT));
	assert_null(strstr(text, CLIENT));
	assert_null(strstr(text, "demo-secret"));
	assert_null(strstr(text, "management.azure.com"));
	json_object_put(j);
}

/* A second session (another process's) uses the cached token: no sign-in
 * request; the file is 0600 and names no one; a fresh session signs in. */
static void test_reuse(void **state)
{
	struct env *v = env_start();

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 1);
	assert_cache(v, 1);
	assert_cache_names_nothing(v);
	sign_in(v, AZ_AUTH_CHAIN);
	sign_in(v, AZ_AUTH_ENV);
	assert_int_equal(log_count(v, SIGN_IN), 1);
	assert_int_equal(v->warned.len, 0);
	/* azcmk login asks the credential, and the cache keeps its token. */
	v->fresh = true;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	v->fresh = false;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	assert_cache(v, 1);
	env_stop(v);
}

/* A token within the renewal margin, or past its expiry, is not used: the
 * next session signs in and writes the new one. */
static void test_expiry(void **state)
{
	struct env *v = env_start();

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	set_expiry(v, (int64_t)time(NULL) + 60);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	assert_cache(v, 1);
	set_expiry(v, (int64_t)time(NULL) - 10);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 3);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 3);
	env_stop(v);
}

/* Another tenant, client, secret or scope never gets the cached token. */
static void test_other_key(void **state)
{
	struct env *v = env_start();
	const char *tok;

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 1);
	v->tenant = "22222222-2222-4222-8222-222222222222";
	sign_in_fails(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	v->tenant = NULL;
	use_secret("0d0d0d0d-0d0d-4d0d-8d0d-0d0d0d0d0d0d", "demo-secret");
	sign_in_fails(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 3);
	use_secret(CLIENT, "wrong");
	sign_in_fails(v, AZ_AUTH_CHAIN);
	assert_non_null(strstr(v->e.message, "AADSTS7000215"));
	assert_int_equal(log_count(v, SIGN_IN), 4);
	use_secret(CLIENT, "demo-secret");
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 4);
	assert_int_equal(az_session_token(v->s,
					  "https://vault.azure.net/"
					  ".default",
					  NULL, &tok, &v->e),
			 0);
	assert_int_equal(log_count(v, SIGN_IN), 5);
	assert_cache(v, 2);
	env_stop(v);
}

/* A cache file others can read, a link, or in a directory others can write
 * is not trusted (the operator is told) and a private one replaces it. */
static void test_permissions(void **state)
{
	struct env *v = env_start();
	char *dir = xasprintf("%s/azcmk", v->state),
	     *copy = xasprintf("%s/copy.json", v->state);

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(chmod(v->cache, 0644), 0);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	assert_non_null(strstr(sb_str(&v->warned), "not a private file"));
	assert_cache(v, 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);

	/* A link to a good cache file is not followed. */
	assert_int_equal(rename(v->cache, copy), 0);
	assert_int_equal(symlink(copy, v->cache), 0);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 3);
	assert_cache(v, 1);

	/* A state directory others can write: nothing read, nothing written. */
	assert_int_equal(chmod(dir, 0777), 0);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 4);
	assert_non_null(strstr(sb_str(&v->warned), "can be written by other"));
	assert_int_equal(chmod(dir, 0700), 0);

	/* Another user's file (only root can make one here). */
	if (geteuid() == 0) {
		assert_int_equal(chown(v->cache, 65534, 65534), 0);
		sign_in(v, AZ_AUTH_CHAIN);
		assert_int_equal(log_count(v, SIGN_IN), 5);
		assert_cache(v, 1);
	} else {
		print_message("(another user's cache file: needs root, not "
			      "run)\n");
	}
	free(dir);
	free(copy);
	env_stop(v);
}

/* Takes the one key of the cache file (caller frees). */
static char *only_key(struct env *v)
{
	struct json_object *j = read_cache(v);
	char *key = NULL;

	json_object_object_foreach(jx_get(j, "tokens"), k, e)
	{
		(void)e;
		key = xstrdup(k);
	}
	json_object_put(j);
	assert_non_null(key);
	return key;
}

/* Returns a copy of text with its "@K" (if any) replaced by key. */
static char *with_key(const char *text, const char *key)
{
	const char *at = strstr(text, "@K");

	if (!at)
		return xstrdup(text);
	return xasprintf("%.*s%s%s", (int)(at - text), text, key, at + 2);
}

/* Cache files that are damaged or hostile; @K stands for the key of the
 * operator's token. */
static const char *const BAD[] = {
	"{not json",
	"",
	"[1,2,3]",
	"{\"version\":2,\"tokens\":{}}",
	"{\"version\":1,\"tokens\":[]}",
	"{\"version\":1,\"tokens\":{\"@K\":\"eyJ\"}}",
	"{\"version\":1,\"tokens\":{\"@K\":{\"token\":5,"
	"\"expires_on\":4102444800}}}",
	"{\"version\":1,\"tokens\":{\"@K\":{\"token\":\"eyJ\","
	"\"expires_on\":\"4102444800\"}}}",
	"{\"version\":1,\"tokens\":{\"@K\":{\"token\":\"eyJ\\r\\nX-"
	"Evil: "
	"1\",\"expires_on\":4102444800}}}",
	"{\"version\":1,\"tokens\":{\"@K\":{\"token\":\"\","
	"\"expires_on\":4102444800}}}",
};

/* A damaged or hostile cache file (not JSON, wrong types, a token that would
 * inject a header, too large) is ignored and replaced, never trusted. */
static void test_corrupt(void **state)
{
	struct env *v = env_start();
	char *key;
	int expected = 1;
	size_t big = TOKCACHE_MAX_BYTES + 10;
	char *huge = xmalloc(big);

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	key = only_key(v);

	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		char *text = with_key(BAD[i], key);

		write_cache(v, text, strlen(text));
		sign_in(v, AZ_AUTH_CHAIN);
		assert_int_equal(log_count(v, SIGN_IN), ++expected);
		assert_cache(v, 1);
		free(text);
	}
	assert_non_null(strstr(sb_str(&v->warned), "damaged"));
	memset(huge, ' ', big);
	write_cache(v, huge, big);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), ++expected);
	assert_cache(v, 1);
	free(huge);
	free(key);
	env_stop(v);
}

/* tokcache_clear (azcmk logout) removes the file and says how many tokens it
 * held; the next session signs in; a second clear finds none. */
static void test_logout(void **state)
{
	struct env *v = env_start();
	char *path = NULL, *err = NULL;
	size_t n = 99;
	const char *tok;

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(az_session_token(v->s,
					  "https://vault.azure.net/"
					  ".default",
					  NULL, &tok, &v->e),
			 0);
	assert_int_equal(tokcache_clear(&path, &n, &err), 1);
	assert_string_equal(path, v->cache);
	assert_int_equal(n, 2);
	assert_null(err);
	assert_int_not_equal(access(v->cache, F_OK), 0);
	free(path);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 3);
	az_session_free(v->s);
	v->s = NULL;
	assert_int_equal(tokcache_clear(&path, &n, &err), 1);
	free(path);
	assert_int_equal(tokcache_clear(&path, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(err);
	free(path);
	env_stop(v);
}

/* azcmk logout does not reach through a state directory that is a link (as
 * another user could plant where XDG_STATE_HOME is shared): the file it names
 * elsewhere stays, and the error says why. */
static void test_logout_link(void **state)
{
	char *base = xasprintf("%s/logout-link", workdir),
	     *elsewhere = xasprintf("%s/elsewhere", base),
	     *victim = xasprintf("%s/" TOKCACHE_FILE, elsewhere),
	     *dir = xasprintf("%s/azcmk", base), *path = NULL, *err = NULL;
	size_t n = 99;
	FILE *f;

	(void)state;
	assert_int_equal(mkdir(base, 0700), 0);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("not azcmk's\n", f);
	fclose(f);
	assert_int_equal(symlink(elsewhere, dir), 0);
	setenv("XDG_STATE_HOME", base, 1);
	assert_int_equal(tokcache_clear(&path, &n, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "not a directory"));
	assert_int_equal(access(victim, F_OK), 0);
	assert_int_equal(n, 0);
	free(path);
	free(err);
	unlink(dir);
	unlink(victim);
	rmdir(elsewhere);
	rmdir(base);
	free(base);
	free(elsewhere);
	free(victim);
	free(dir);
}

/* Without XDG_STATE_HOME or HOME there is no cache, so logout removes
 * nothing: not a tokens.json under the working directory, which azcmk
 * neither wrote nor reads. */
static void test_logout_no_home(void **state)
{
	char *base = xasprintf("%s/logout-no-home", workdir),
	     *file = xasprintf("%s/.local/state/azcmk/" TOKCACHE_FILE, base),
	     *home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL,
	     *xdg = getenv("XDG_STATE_HOME") ? xstrdup(getenv("XDG_STATE_HOME"))
					     : NULL,
	     *path = NULL, *err = NULL, *cmd, cwd[512];
	size_t n = 99;
	int rc;
	FILE *f;

	(void)state;
	cmd = xasprintf("mkdir -p '%s/.local/state/azcmk'", base);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("{}", f);
	fclose(f);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(base), 0);
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	rc = tokcache_clear(&path, &n, &err);
	assert_int_equal(chdir(cwd), 0);
	if (home)
		setenv("HOME", home, 1);
	if (xdg)
		setenv("XDG_STATE_HOME", xdg, 1);
	assert_int_equal(rc, 0);
	assert_null(err);
	assert_int_equal(n, 0);
	assert_int_equal(access(file, F_OK), 0);
	cmd = xasprintf("rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(path);
	free(file);
	free(base);
	free(home);
	free(xdg);
}

/* Writes n tokens under keys of its own (who) into the cache. */
static void put_many(const char *who, int n)
{
	for (int i = 0; i < n; i++) {
		char scope[64], *warn = NULL;
		struct tokcache_key k = { "cloud", TENANT, who, scope };
		struct az_token t = { "eyJ.a.b", (int64_t)time(NULL) + 3600 };

		snprintf(scope, sizeof(scope), "scope-%d", i);
		if (!tokcache_put(&k, &t, (int64_t)time(NULL), &warn))
			fail_msg("put failed: %s", warn ? warn : "?");
		free(warn);
	}
}

/* Two processes writing at once lose none of each other's tokens and leave
 * a whole file. */
static void test_concurrent_writers(void **state)
{
	char dir[160], cache[192], *cmd;
	pid_t pid[2];
	int status;
	struct json_object *j;
	struct stat st;
	size_t len;
	char *text;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/state-writers", workdir);
	snprintf(cache, sizeof(cache), "%s/azcmk/%s", dir, TOKCACHE_FILE);
	assert_int_equal(mkdir(dir, 0700), 0);
	setenv("XDG_STATE_HOME", dir, 1);
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			put_many(i ? "writer-b" : "writer-a", 30);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(lstat(cache, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = xmalloc((size_t)st.st_size + 1);
	f = fopen(cache, "r");
	assert_non_null(f);
	len = fread(text, 1, (size_t)st.st_size, f);
	fclose(f);
	j = tokcache_parse(text, len, (int64_t)time(NULL));
	assert_non_null(j);
	assert_int_equal(json_object_object_length(j), 60);
	json_object_put(j);
	free(text);
	cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* Writes an executable fake `az` that counts its runs and prints a token. */
static void fake_az(const char *path, const char *count, const char *token)
{
	FILE *f = fopen(path, "w");

	fprintf(f,
		"#!/bin/sh\necho run >> '%s'\ncat <<'EOF'\n"
		"{\"accessToken\":\"%s\",\"expires_on\":%lld}\nEOF\n",
		count, token, (long long)time(NULL) + 3000);
	fclose(f);
	chmod(path, 0755);
}

/* Counts the lines of a file (the fake az's runs). */
static int lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* Writes the Azure CLI's profile (who az signs in as). */
static void az_profile(const char *dir, const char *user)
{
	char *path = xasprintf("%s/azureProfile.json", dir);
	FILE *f = fopen(path, "w");

	fprintf(f, "{\"subscriptions\":[{\"user\":{\"name\":\"%s\"}}]}", user);
	fclose(f);
	free(path);
}

/* The Azure CLI runs once while its token is fresh, through the chain too;
 * again once az signs in as someone else; never without a profile. */
static void test_azure_cli(void **state)
{
	struct env *v = env_start();
	char *az = xasprintf("%s/az", v->state),
	     *count = xasprintf("%s/az-runs", v->state),
	     *cfg = xasprintf("%s/azure", v->state),
	     *tok = st_token(&v->t, "https://management.azure.com/.default");

	(void)state;
	clear_env();
	assert_int_equal(mkdir(cfg, 0700), 0);
	setenv("AZURE_CONFIG_DIR", cfg, 1);
	fake_az(az, count, tok);
	v->az = az;
	az_profile(cfg, "dana@contoso");
	sign_in(v, AZ_AUTH_CLI);
	sign_in(v, AZ_AUTH_CLI);
	assert_int_equal(lines(count), 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_string_equal(az_session_method(v->s), "Azure CLI");
	assert_int_equal(lines(count), 1);
	az_profile(cfg, "lee@contoso");
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(lines(count), 2);
	sign_in(v, AZ_AUTH_CLI);
	assert_int_equal(lines(count), 2);
	unsetenv("AZURE_CONFIG_DIR");
	setenv("AZURE_CONFIG_DIR", v->ca, 1); /* no profile there */
	sign_in(v, AZ_AUTH_CLI);
	sign_in(v, AZ_AUTH_CLI);
	assert_int_equal(lines(count), 4);
	unsetenv("AZURE_CONFIG_DIR");
	free(az);
	free(count);
	free(cfg);
	free(tok);
	env_stop(v);
}

/* Replaces every token in the cache file with one Azure refuses (a revoked
 * token, or one from another simulator). */
static void spoil_tokens(struct env *v)
{
	struct json_object *j = read_cache(v);
	const char *text;

	assert_non_null(j);
	json_object_object_foreach(jx_get(j, "tokens"), k, e)
	{
		(void)k;
		json_object_object_add(e, "token",
				       json_object_new_string("eyJ.revoked.x"));
	}
	text = json_object_to_json_string(j);
	write_cache(v, text, strlen(text));
	json_object_put(j);
}

/* Gets a key from the test vault; true when it was read. */
static bool read_key(struct env *v)
{
	struct az_req *r = az_session_req(v->s, AZ_KEYVAULT, "GET",
					  "https://kv-cmk-test.vault.azure.net/"
					  "keys/cmk-test",
					  "7.5", NULL);
	bool ok = az_session_call(v->s, r, &v->e) == 0 &&
		  jx_str(r->json, "key.kty");

	az_req_free(r);
	return ok;
}

/* A cached token that Resource Manager or Key Vault refuses (401) is
 * replaced by a new one in the same run, and in the cache, so the next run
 * does not stumble on it again. */
static void test_refused_token(void **state)
{
	struct env *v = env_start();
	struct az_req *r;

	(void)state;
	sign_in(v, AZ_AUTH_CHAIN);
	assert_true(read_key(v));
	assert_int_equal(log_count(v, SIGN_IN), 2);
	assert_cache(v, 2);
	spoil_tokens(v);
	session(v, AZ_AUTH_CHAIN);
	if (!read_key(v))
		fail_msg("a refused vault token was not replaced: %s",
			 v->e.message);
	r = az_session_req(v->s, AZ_ARM, "GET", "/subscriptions", "2022-12-01",
			   NULL);
	if (az_session_call(v->s, r, &v->e) != 0)
		fail_msg("a refused ARM token was not replaced: %s",
			 v->e.message);
	az_req_free(r);
	assert_int_equal(log_count(v, SIGN_IN), 4);
	session(v, AZ_AUTH_CHAIN);
	assert_true(read_key(v));
	assert_int_equal(log_count(v, SIGN_IN), 4);
	env_stop(v);
}

/* Lists the subscriptions through Resource Manager; fails the test when the
 * call fails. */
static void list_subscriptions(struct env *v)
{
	struct az_req *r = az_session_req(v->s, AZ_ARM, "GET", "/subscriptions",
					  "2022-12-01", NULL);

	if (az_session_call(v->s, r, &v->e) != 0)
		fail_msg("listing subscriptions failed: %s", v->e.message);
	az_req_free(r);
}

/* The chain keeps its order through the cache: a token the Azure CLI got
 * for an explicit --auth cli does not make a later chain skip the managed
 * identity before it; when the chain itself fell to the Azure CLI, the next
 * chain takes it again without probing the managed identity or running az. */
static void test_chain_order(void **state)
{
	struct env *v = env_start();
	char *az = xasprintf("%s/az", v->state),
	     *count = xasprintf("%s/az-runs", v->state),
	     *cfg = xasprintf("%s/azure", v->state),
	     *tok = st_token(&v->t, "https://management.azure.com/.default"),
	     url[128], *path = NULL, *err = NULL;
	size_t n = 0;

	(void)state;
	clear_env();
	assert_int_equal(mkdir(cfg, 0700), 0);
	setenv("AZURE_CONFIG_DIR", cfg, 1);
	fake_az(az, count, tok);
	v->az = az;
	az_profile(cfg, "dana@contoso");
	sign_in(v, AZ_AUTH_CLI);
	assert_int_equal(lines(count), 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->t.identity);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", url, 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_string_equal(az_session_method_id(v->s),
			    "managed-identity-imds");
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 1);

	/* Without a managed identity the chain falls to the Azure CLI, and the
	 * next chain goes there at once, though the managed identity is back
	 * (the cache emptied first: it holds the managed identity's token). */
	assert_int_equal(tokcache_clear(&path, &n, &err), 1);
	free(path);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
	az_profile(cfg, "lee@contoso");
	sign_in(v, AZ_AUTH_CHAIN);
	assert_string_equal(az_session_method_id(v->s), "azure-cli");
	assert_int_equal(lines(count), 2);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", url, 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_string_equal(az_session_method_id(v->s), "azure-cli");
	assert_int_equal(lines(count), 2);
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 1);

	/* A chain choosing on its mark takes the CLI's own tokens: once one
	 * Azure refused is replaced, the next run does not meet it again. */
	spoil_tokens(v);
	session(v, AZ_AUTH_CHAIN);
	list_subscriptions(v);
	assert_int_equal(lines(count), 3);
	session(v, AZ_AUTH_CHAIN);
	list_subscriptions(v);
	assert_int_equal(lines(count), 3);
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 1);
	unsetenv("AZURE_CONFIG_DIR");
	free(az);
	free(count);
	free(cfg);
	free(tok);
	env_stop(v);
}

/* A managed identity's token is reused, the chain picking it without a
 * probe; a user-assigned identity (another client id) signs in as itself. */
static void test_managed_identity(void **state)
{
	struct env *v = env_start();
	char url[128];

	(void)state;
	clear_env();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->t.identity);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", url, 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 1);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_string_equal(az_session_method_id(v->s),
			    "managed-identity-imds");
	sign_in(v, AZ_AUTH_MANAGED_IDENTITY);
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 1);
	setenv("AZURE_CLIENT_ID", "6666c001-6666-4666-8666-66666666c001", 1);
	sign_in_as(v, AZ_AUTH_MANAGED_IDENTITY,
		   "6666b001-6666-4666-8666-66666666b001");
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 2);
	sign_in_as(v, AZ_AUTH_CHAIN, "6666b001-6666-4666-8666-66666666b001");
	assert_int_equal(log_count(v, "/metadata/identity/oauth2/token"), 2);
	unsetenv("AZURE_CLIENT_ID");
	assert_cache(v, 2);
	env_stop(v);
}

/* The demo's operator (a client secret the program hands in) never reads or
 * writes the token cache. */
static void test_demo_not_cached(void **state)
{
	struct env *v = env_start();
	struct az_session_opts o = { 0 };
	struct az_client_secret op = { CLIENT, "demo-secret" };

	(void)state;
	o.ca_file = v->ca;
	o.persist_tokens = true;
	o.client_secret = &op;
	v->s = az_session_new(&o, &v->e);
	assert_int_equal(az_session_sign_in(v->s, &v->e), 0);
	assert_int_not_equal(access(v->cache, F_OK), 0);
	env_stop(v);
}

/* Without XDG_STATE_HOME or HOME there is no cache: no tokens are written
 * under the working directory. */
static void test_no_home(void **state)
{
	struct env *v = env_start();
	char *home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL, cwd[512],
	     *stray;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(v->state), 0);
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	sign_in(v, AZ_AUTH_CHAIN);
	sign_in(v, AZ_AUTH_CHAIN);
	assert_int_equal(log_count(v, SIGN_IN), 2);
	stray = xasprintf("%s/.local", v->state);
	assert_int_not_equal(access(stray, F_OK), 0);
	assert_int_equal(chdir(cwd), 0);
	if (home)
		setenv("HOME", home, 1);
	free(home);
	free(stray);
	env_stop(v);
}

/* Makes a private working directory for files the tests write. */
static int group_setup(void **state)
{
	(void)state;
	snprintf(workdir, sizeof(workdir), "/tmp/azcmk-tok-XXXXXX");
	if (!mkdtemp(workdir))
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* Removes the working directory. */
static int group_teardown(void **state)
{
	(void)state;
	rmdir(workdir);
	return 0;
}

/* Runs the token cache's tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_logout),
		cmocka_unit_test(test_logout_link),
		cmocka_unit_test(test_logout_no_home),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_azure_cli),
		cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_managed_identity),
		cmocka_unit_test(test_refused_token),
		cmocka_unit_test(test_demo_not_cached),
		cmocka_unit_test(test_no_home),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
