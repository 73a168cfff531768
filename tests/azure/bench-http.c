/* Benchmark of the session layer's engine against the simulator: throughput and
 * TLS handshakes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jx.h"
#include "session.h"
#include "simtest.h"
#include "xalloc.h"

/* Returns a monotonic time in milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Counts the distinct connections (TLS handshakes) among log entries from index
 * `from` on. */
static int handshakes(struct simtest *t, size_t from, size_t *total)
{
	struct st_resp r;
	struct json_object *log;
	int64_t seen[4096];
	int n = 0;

	st_admin(t, "GET", "/log", NULL, &r);
	log = jx_get(r.json, "value");
	*total = jx_len(log);
	for (size_t i = from; i < jx_len(log); i++) {
		int64_t c = jx_int(jx_at(log, i), "conn", 0);
		bool dup = false;

		for (int k = 0; k < n && !dup; k++)
			dup = seen[k] == c;
		if (!dup && n < 4096)
			seen[n++] = c;
	}
	st_resp_free(&r);
	return n;
}

/* Times n sequential GETs and reports requests/s and the handshakes they
 * needed. */
static void sequential(struct simtest *t, struct az_session *s, int n)
{
	struct az_error e = { 0 };
	size_t before, after;
	double t0;

	handshakes(t, 0, &before);
	t0 = now_ms();
	for (int i = 0; i < n; i++) {
		struct az_req *r = az_session_req(
			s, AZ_ARM, "GET", "/subscriptions", "2022-12-01", NULL);

		if (az_session_call(s, r, &e) != 0)
			fprintf(stderr, "bench-http: %s\n", e.message);
		az_req_free(r);
	}
	printf("sequential GET through the engine   %4d requests  %8.1f "
	       "requests/s  %d TLS handshake(s) per %d requests\n",
	       n, n / ((now_ms() - t0) / 1000.0), handshakes(t, before, &after),
	       n);
	az_error_clear(&e);
}

/* Times batches of concurrent GETs. */
static void concurrent(struct az_session *s, int batches, int width)
{
	struct az_error e = { 0 };
	struct az_req **reqs = xcalloc((size_t)width, sizeof(*reqs));
	double t0 = now_ms();

	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < width; i++)
			reqs[i] = az_session_req(s, AZ_ARM, "GET",
						 "/subscriptions", "2022-12-01",
						 NULL);
		az_session_send(s, reqs, (size_t)width, &e);
		for (int i = 0; i < width; i++)
			az_req_free(reqs[i]);
	}
	printf("concurrent GET, %2d at a time         %4d requests  %8.1f "
	       "requests/s\n",
	       width, batches * width,
	       batches * width / ((now_ms() - t0) / 1000.0));
	free(reqs);
	az_error_clear(&e);
}

/* Starts a simulator (with latency_ms on every answer) and points a session at
 * it. */
static struct az_session *start_sim(struct simtest *t, int latency_ms,
				    char *ca_path)
{
	char *text = st_read_scenario("minimal.json"), *err = NULL, *scen;
	struct json_object *doc = json_tokener_parse(text);
	struct az_session_opts o = { 0 };
	struct az_error e = { 0 };

	jx_set(doc, "settings.latencyMs", json_object_new_int(latency_ms));
	scen = xstrdup(jx_text(doc));
	json_object_put(doc);
	if (st_start_text(t, scen, &err) != 0) {
		fprintf(stderr, "bench-http: %s\n", err);
		exit(1);
	}
	if (st_point_client(t, ca_path) != 0) {
		fprintf(stderr, "bench-http: cannot write %s\n", ca_path);
		exit(1);
	}
	o.ca_file = ca_path;
	o.auth = AZ_AUTH_ENV;
	free(text);
	free(scen);
	return az_session_new(&o, &e);
}

/* Runs the engine benchmarks: with no latency, then with 50 ms per answer. */
int main(void)
{
	char ca[] = "/tmp/azcmk-bench-ca-XXXXXX";
	int fd = mkstemp(ca);
	struct simtest t;
	struct az_error e = { 0 };

	close(fd);
	setenv("AZURE_TENANT_ID", "11111111-1111-4111-8111-111111111111", 1);
	setenv("AZURE_CLIENT_ID", "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", 1);
	setenv("AZURE_CLIENT_SECRET", "demo-secret", 1);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int latency = 0; latency <= 50; latency += 50) {
		struct az_session *s = start_sim(&t, latency, ca);

		printf("-- simulator latency %d ms\n", latency);
		az_session_sign_in(s, &e);
		sequential(&t, s, 100);
		concurrent(s, 10, 20);
		az_session_free(s);
		st_stop(&t);
	}
	unlink(ca);
	az_error_clear(&e);
	return 0;
}
