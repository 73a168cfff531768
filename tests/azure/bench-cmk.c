/* Benchmark of check and of plan + apply per service against the simulator with
 * 50 ms per answer, against the goals. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "fetch.h"
#include "http.h"
#include "jx.h"
#include "plan.h"
#include "rules.h"
#include "session.h"
#include "simtest.h"
#include "xalloc.h"

#define LATENCY_MS 50
#define CHECK_GOAL_TRIPS 3   /* check: at most 3 sequential round trips */
#define APPLY_GOAL_LATENCY 6 /* plan + apply: at most 6 x the latency */
#define RG                                                                    \
	"/subscriptions/66666666-6666-4666-8666-666666666666/resourceGroups/" \
	"rg-cmk-test"
#define KV "https://kv-cmk-test.vault.azure.net/keys/cmk-test"

/* The resources of minimal.json, one per service. */
static const struct {
	const char *service, *id;
} CASES[] = {
	{ "Azure OpenAI",
	  RG "/providers/Microsoft.CognitiveServices/accounts/oai-cmk-test" },
	{ "Microsoft Foundry",
	  RG "/providers/Microsoft.CognitiveServices/accounts/fdy-cmk-test" },
	{ "DICOM service", RG "/providers/Microsoft.HealthcareApis/workspaces/"
			      "cmktestws/dicomservices/dicom-test" },
	{ "Health Bot",
	  RG "/providers/Microsoft.HealthBot/healthBots/hb-cmk-test" },
};

/* Returns a monotonic time in milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Returns how many requests the simulator has logged. */
static size_t logged(struct simtest *t)
{
	struct st_resp r;
	size_t n;

	st_admin(t, "GET", "/log", NULL, &r);
	n = jx_len(jx_get(r.json, "value"));
	st_resp_free(&r);
	return n;
}

/* Starts the simulator with the latency on every answer and signs a session in.
 */
static struct az_session *start(struct simtest *t, const char *ca)
{
	struct az_session_opts o = { 0 };
	struct az_error e = { 0 };
	struct az_session *s;

	if (st_start(t, "minimal.json",
		     "{\"settings\":{\"latencyMs\":"
		     "50"
		     "}}") != 0) {
		fprintf(stderr, "bench-cmk: the simulator did not start\n");
		exit(1);
	}
	if (st_point_client(t, ca) != 0) {
		fprintf(stderr, "bench-cmk: cannot write %s\n", ca);
		exit(1);
	}
	o.ca_file = ca;
	o.auth = AZ_AUTH_ENV;
	s = az_session_new(&o, &e);
	if (!s || az_session_sign_in(s, &e) != 0) {
		fprintf(stderr, "bench-cmk: %s\n",
			e.message ? e.message : "no session");
		exit(1);
	}
	/* Warm the tokens (ARM and Key Vault) so the figures are those of the
	 * work, not of sign-in. */
	{
		struct cmk_target tg = { .resource = CASES[0].id,
					 .key_uri = KV };
		struct cmk_fetch f0;

		cmk_fetch(s, &tg, &f0, &e);
		cmk_fetch_free(&f0);
	}
	az_error_clear(&e);
	return s;
}

/* Does nothing with apply's progress lines. */
static void quiet(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

/* Measures azcmk check for one resource: requests, the waves fetch reports, and
 * wall time (in *wall); returns the sequential round trips, or -1 when it
 * failed. */
static int bench_check(struct simtest *t, struct az_session *s,
		       const char *service, const char *id, double *wall)
{
	struct cmk_target tg = { .resource = id, .key_uri = KV };
	struct az_error e = { 0 };
	struct cmk_fetch f;
	struct cmk_report r;
	size_t before = logged(t);
	double t0 = now_ms(), ms;
	int trips;

	if (cmk_fetch(s, &tg, &f, &e) != 0) {
		fprintf(stderr, "bench-cmk: %s: %s\n", service, e.message);
		cmk_fetch_free(&f);
		az_error_clear(&e);
		return -1;
	}
	cmk_check(&f.ctx, &r);
	ms = now_ms() - t0;
	printf("check        %-18s %3zu requests  %d sequential round trips  "
	       "%7.0f ms  (%.1f x latency)\n",
	       service, logged(t) - before, f.round_trips, ms, ms / LATENCY_MS);
	trips = f.round_trips;
	*wall = ms;
	cmk_report_free(&r);
	cmk_fetch_free(&f);
	az_error_clear(&e);
	return trips;
}

/* Measures plan + apply for one resource: requests and wall time (propagation
 * wait set to 0); returns the milliseconds, or -1 when it failed. */
static double bench_apply(struct simtest *t, struct az_session *s,
			  const char *service, const char *id, const char *dir)
{
	struct cmk_target tg = { .resource = id,
				 .key_uri = KV,
				 .confirmed = true };
	struct apply_opts ao = { .journal_dir = dir, .progress = quiet };
	struct plan_choices ch = { 0 };
	struct az_error e = { 0 };
	struct cmk_fetch f;
	struct cmk_report r;
	struct plan p;
	char *err = NULL;
	size_t before = logged(t), waves = az_http_waves(az_session_http(s));
	double t0 = now_ms(), ms;
	int rc = cmk_fetch(s, &tg, &f, &e);

	memset(&r, 0, sizeof(r));
	f.ctx.change = true;
	if (rc == 0)
		cmk_check(&f.ctx, &r);
	if (rc == 0 && plan_build(&f.ctx, &r, &ch, &p, &err) == 0) {
		rc = cmk_apply(s, &p, &ao, &e);
		plan_free(&p);
	} else {
		rc = -1;
	}
	ms = now_ms() - t0;
	if (rc != 0)
		fprintf(stderr, "bench-cmk: %s: %s\n", service,
			err ? err : e.message);
	printf("plan + apply %-18s %3zu requests  %2zu waves  %7.0f ms  (%.1f "
	       "x latency)\n",
	       service, logged(t) - before,
	       az_http_waves(az_session_http(s)) - waves, ms, ms / LATENCY_MS);
	free(err);
	cmk_report_free(&r);
	cmk_fetch_free(&f);
	az_error_clear(&e);
	return rc == 0 ? ms : -1;
}

/* Prints the goal lines: the most round trips a check took (and the slowest
 * check's wall time, which tells them too), and the longest plan + apply, each
 * with its service (failed when a run failed). */
static void report_goals(int trips, const char *trips_svc, double check_ms,
			 double ms, const char *ms_svc)
{
	printf("goal  %-7s  check, %d ms: %d sequential round trips at most "
	       "(%s), the slowest %.0f ms = %.1f x latency (goal <= %d)\n",
	       trips >= 0 && trips <= CHECK_GOAL_TRIPS ? "met" : "NOT met",
	       LATENCY_MS, trips, trips >= 0 ? trips_svc : "a run failed",
	       check_ms, check_ms / LATENCY_MS, CHECK_GOAL_TRIPS);
	printf("goal  %-7s  plan + apply after sign-in, %d ms: %.0f ms = %.1f "
	       "x "
	       "latency at most (%s) (goal <= %d x = %d ms)\n",
	       ms >= 0 && ms <= APPLY_GOAL_LATENCY * LATENCY_MS ? "met"
								: "NOT met",
	       LATENCY_MS, ms, ms / LATENCY_MS,
	       ms >= 0 ? ms_svc : "a run failed", APPLY_GOAL_LATENCY,
	       APPLY_GOAL_LATENCY * LATENCY_MS);
}

/* Runs check, then plan + apply, for each service on a fresh simulator. */
int main(void)
{
	char ca[] = "/tmp/azcmk-bench-ca-XXXXXX",
	     dir[] = "/tmp/azcmk-bench-XXXXXX";
	int fd = mkstemp(ca), worst_trips = 0;
	double worst_ms = 0, slowest_check = 0;
	const char *trips_svc = "", *ms_svc = "";

	close(fd);
	if (!mkdtemp(dir))
		return 1;
	setenv("AZURE_TENANT_ID", "11111111-1111-4111-8111-111111111111", 1);
	setenv("AZURE_CLIENT_ID", "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", 1);
	setenv("AZURE_CLIENT_SECRET", "demo-secret", 1);
	setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9", 1);
	/* Journals and the change history go in the benchmark's own directory.
	 */
	setenv("XDG_STATE_HOME", dir, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("-- simulator latency %d ms per answer, after sign-in (requests "
	       "exclude the benchmark's own)\n",
	       LATENCY_MS);
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		struct simtest t;
		struct az_session *s = start(&t, ca);
		double check_ms = 0;
		int trips = bench_check(&t, s, CASES[i].service, CASES[i].id,
					&check_ms);
		double ms =
			bench_apply(&t, s, CASES[i].service, CASES[i].id, dir);

		/* The worst of the services; a failure (-1) sticks. */
		if (worst_trips >= 0 && (trips < 0 || trips > worst_trips)) {
			worst_trips = trips;
			trips_svc = CASES[i].service;
		}
		slowest_check =
			check_ms > slowest_check ? check_ms : slowest_check;
		if (worst_ms >= 0 && (ms < 0 || ms > worst_ms)) {
			worst_ms = ms;
			ms_svc = CASES[i].service;
		}
		az_session_free(s);
		st_stop(&t);
	}
	report_goals(worst_trips, trips_svc, slowest_check, worst_ms, ms_svc);
	unlink(ca);
	{
		char *cmd = xasprintf("rm -rf %s", dir);

		if (system(cmd) != 0)
			fprintf(stderr, "bench-cmk: could not remove %s\n",
				dir);
		free(cmd);
	}
	curl_global_cleanup();
	return 0;
}
