/* For the integration tests: a simulator on a scenario and a session signed in
 * as its operator. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "azenv.h"
#include "jx.h"
#include "text.h"
#include "xalloc.h"

/* Points a client at the started simulator and signs in with the operator's
 * secret (backoff 0: the engine's). */
static void sign_in(struct azenv *v, int64_t backoff_ms)
{
	struct az_session_opts o = { 0 };
	int fd;

	snprintf(v->ca, sizeof(v->ca), "/tmp/azcmk-test-ca-XXXXXX");
	fd = mkstemp(v->ca);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(st_point_client(&v->t, v->ca), 0);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
	setenv("AZURE_TENANT_ID", jx_str(v->t.doc, "tenantId"), 1);
	setenv("AZURE_CLIENT_ID", jx_str(v->t.doc, "operator.clientId"), 1);
	setenv("AZURE_CLIENT_SECRET", jx_str(v->t.doc, "operator.clientSecret"),
	       1);
	o.ca_file = v->ca;
	o.auth = AZ_AUTH_ENV;
	o.backoff_base_ms = backoff_ms;
	v->s = az_session_new(&o, &v->e);
	assert_non_null(v->s);
	assert_int_equal(az_session_sign_in(v->s, &v->e), 0);
}

/* Starts the simulator on a named scenario (with an optional JSON merge patch)
 * and signs in. */
struct azenv *azenv_start(const char *scenario, const char *merge,
			  int64_t backoff_ms)
{
	struct azenv *v = xcalloc(1, sizeof(*v));

	if (st_start(&v->t, scenario, merge) != 0)
		fail_msg("the simulator did not start on %s", scenario);
	sign_in(v, backoff_ms);
	return v;
}

/* Starts the simulator on scenario text and signs in. */
struct azenv *azenv_start_text(const char *text, int64_t backoff_ms)
{
	struct azenv *v = xcalloc(1, sizeof(*v));
	char *err = NULL;

	if (st_start_text(&v->t, text, &err) != 0)
		fail_msg("the simulator did not start: %s", err ? err : "?");
	sign_in(v, backoff_ms);
	return v;
}

/* Adds "subject|rule" to a set, the subject without a trailing slash, all in
 * lower case. */
void azenv_pair(struct json_object *set, const char *subject, const char *rule)
{
	char *k = xasprintf("%s|%s", subject ? subject : "", rule), *low;
	size_t bar = strcspn(k, "|");

	if (bar && k[bar - 1] == '/')
		memmove(k + bar - 1, k + bar, strlen(k + bar) + 1);
	low = str_lower(k);
	json_object_object_add(set, low, json_object_new_boolean(1));
	free(low);
	free(k);
}

/*
 * Compares a set of azenv_pair keys with demo-expected.json: fails the test
 * for a pair found that is not expected, and (when exact) for an expected
 * row not found, naming each; returns how many expected rows were found.
 */
size_t azenv_expected(struct json_object *got, bool exact)
{
	char *text = st_read_scenario("demo-expected.json");
	struct json_object *rows = json_tokener_parse(text),
			   *want = json_object_new_object();
	size_t missing = 0, extra = 0, found = 0;

	for (size_t i = 0; i < jx_len(rows); i++)
		azenv_pair(want, jx_str(jx_at(rows, i), "resource"),
			   jx_str(jx_at(rows, i), "rule"));
	json_object_object_foreach(want, w, wv)
	{
		(void)wv;
		if (json_object_object_get_ex(got, w, NULL))
			found++;
		else if (exact && ++missing)
			print_message("missing: %s\n", w);
	}
	json_object_object_foreach(got, g, gv)
	{
		(void)gv;
		if (!json_object_object_get_ex(want, g, NULL) && ++extra)
			print_message("unexpected: %s\n", g);
	}
	assert_int_equal(missing, 0);
	assert_int_equal(extra, 0);
	json_object_put(want);
	json_object_put(rows);
	free(text);
	return found;
}

/* Stops the simulator and the session, and removes the CA file. */
void azenv_stop(struct azenv *v)
{
	az_session_free(v->s);
	az_error_clear(&v->e);
	st_stop(&v->t);
	unlink(v->ca);
	free(v);
}

/* Counts the requests the simulator logged whose field (path, query, host)
 * contains needle, case ignored; "" counts every request that has the field.
 */
int azenv_logged(struct azenv *v, const char *field, const char *needle)
{
	struct st_resp r = { 0 };
	struct json_object *log;
	int n = 0;

	st_admin(&v->t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	for (size_t i = 0; i < jx_len(log); i++) {
		const char *f = jx_str(jx_at(log, i), field);

		n += f && strcasestr(f, needle) != NULL;
	}
	st_resp_free(&r);
	return n;
}
