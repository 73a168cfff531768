/* Benchmark of azcmk audit over generated tenants (10,000 resources by default)
 * with 50 ms per answer: time, requests, peak RSS, against the goals. */
#include "config.h"

/*
 * The simulator and azcmk run as their own processes, so that azcmk's peak
 * RSS (wait4) is its own: a child forked from a process holding the tenant
 * would count the parent's pages until it execs.
 */

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gentenant.h"
#include "jx.h"
#include "xalloc.h"

#define LATENCY_MS 50
#define PEAK_GOAL_KIB (16 * 1024) /* peak RSS goal at every size: 16 MiB */
#define FLAT_GOAL \
	1.25 /* "flat in N": the largest peak within 1.25 x the smallest */
#define MAX_SIZES 8
#define PAGE_ROWS 1000 /* Resource Graph rows per page ($top) */
#define ARM_PAGE \
	1000 /* items per page of an ARM resources list, as Azure pages it */
#define DIR_TEMPLATE "/tmp/azcmk-bench-audit-XXXXXX"

/* Returns a monotonic time in milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Returns the Resource Graph quota the simulator enforces (queries per 5 s,
 * BENCH_GRAPH_QUOTA; Azure's default is 15), or 0 for none. */
static int graph_quota(void)
{
	const char *q = getenv("BENCH_GRAPH_QUOTA");
	char *end = NULL;
	long n = q ? strtol(q, &end, 10) : 0;

	return q && *q && !*end && n > 0 && n < 1000000 ? (int)n : 0;
}

/* Tells whether the audits are deep (BENCH_DEEP=1): each resource on a
 * customer-managed key checked in full. */
static bool deep(void)
{
	const char *d = getenv("BENCH_DEEP");

	return d && strcmp(d, "1") == 0;
}

/* Writes the generated tenant, with ARM's page size, to dir/tenant.json; false
 * on failure. */
static bool write_tenant(const char *dir, size_t nres, size_t nsubs)
{
	char *text = gen_tenant(nres, nsubs, true, NULL),
	     *path = xasprintf("%s/tenant.json", dir);
	struct json_object *doc = json_tokener_parse(text);
	FILE *f = fopen(path, "w");
	bool ok = f && doc;

	if (ok) {
		jx_set(doc, "settings.pageSize", json_object_new_int(ARM_PAGE));
		if (graph_quota() > 0)
			jx_set(doc, "settings.graphQuota",
			       json_object_new_int(graph_quota()));
		ok = fputs(json_object_to_json_string_ext(
				   doc, JSON_C_TO_STRING_PLAIN),
			   f) >= 0;
	}
	if (f)
		ok &= fclose(f) == 0;
	json_object_put(doc);
	free(text);
	free(path);
	return ok;
}

/*
 * Writes the tenant from a child process, so that this one stays small: a
 * process forked from one that held the tenant would count its pages.
 */
static bool write_tenant_apart(const char *dir, size_t nres, size_t nsubs)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(write_tenant(dir, nres, nsubs) ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Counts the lines of a file (the simulator's request log: one line per
 * request). */
static size_t lines(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;

	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* Counts the requests of the simulator's log answered 429. */
static size_t throttled(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "\"status\":429") != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Starts azcmk-sim on the tenant with a latency; returns its pid, with the
 * proxy port from its port file, or -1. */
static pid_t start_sim(const char *top, const char *dir, int latency,
		       int *proxy)
{
	char ms[16];
	char *prog = xasprintf("%s/src/azcmk-sim", top),
	     *scen = xasprintf("%s/tenant.json", dir);
	char *ports = xasprintf("%s/ports.json", dir),
	     *ca = xasprintf("%s/ca.pem", dir), *log = xasprintf("%s/log", dir);
	pid_t pid;

	snprintf(ms, sizeof(ms), "%d", latency);
	unlink(ports);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { prog,  "--scenario",   scen, "--port-file",
				 ports, "--ca-out",     ca,   "--log",
				 log,   "--latency-ms", ms,   NULL };

		if (!freopen("/dev/null", "w", stdout))
			_exit(98);
		execv(prog, argv);
		_exit(97);
	}
	*proxy = 0;
	for (int i = 0; pid > 0 && i < 600 && !*proxy; i++) {
		struct json_object *p = json_object_from_file(ports);

		*proxy = (int)jx_int(p, "proxy", 0);
		json_object_put(p);
		if (!*proxy)
			usleep(50000);
	}
	free(prog);
	free(scen);
	free(ports);
	free(ca);
	free(log);
	return *proxy ? pid : -1;
}

/* Runs azcmk audit -o json (or, with login, azcmk login) against the
 * simulator; returns its exit status and fills its resource usage. */
static int run_azcmk(const char *top, const char *dir, int proxy_port,
		     bool login, struct rusage *ru)
{
	char *prog = xasprintf("%s/src/azcmk", top),
	     *proxy = xasprintf("http://127.0.0.1:%d", proxy_port);
	char *ca = xasprintf("%s/ca.pem", dir);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = { prog, "--ca-file", ca,       "audit",
				 "-o", "json",      "--deep", NULL };
		char *login_argv[] = { prog, "--ca-file", ca, "login", NULL };

		if (!freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(98);
		if (!deep())
			argv[6] = NULL; /* no --deep */
		setenv("HTTPS_PROXY", proxy, 1);
		setenv("XDG_STATE_HOME", dir, 1);
		setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST",
		       "http://127.0.0.1:9", 1);
		setenv("AZURE_TENANT_ID",
		       "11111111-1111-4111-8111-111111111111", 1);
		setenv("AZURE_CLIENT_ID",
		       "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", 1);
		setenv("AZURE_CLIENT_SECRET", "demo-secret", 1);
		execv(prog, login ? login_argv : argv);
		_exit(97);
	}
	wait4(pid, &status, 0, ru);
	free(prog);
	free(proxy);
	free(ca);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The requests the last measured run's simulator answered 429. */
static size_t last_throttled;

/*
 * Runs one audit against a simulator of its own with a latency; fills the
 * wall time, requests and peak RSS; returns its exit. Signed in (warm), the
 * token is first put in azcmk's token cache by azcmk login, as an operator's
 * earlier command leaves it; else the audit signs in itself.
 */
static int measure(const char *top, const char *dir, int latency, bool warm,
		   double *ms, size_t *requests, struct rusage *ru)
{
	char *log = xasprintf("%s/log", dir);
	int proxy = 0, rc = -1;
	pid_t sim = start_sim(top, dir, latency, &proxy);
	struct rusage lr;

	if (sim > 0 && (!warm || run_azcmk(top, dir, proxy, true, &lr) == 0)) {
		size_t before = lines(log);
		double t0 = now_ms();

		rc = run_azcmk(top, dir, proxy, false, ru);
		*ms = now_ms() - t0;
		*requests = lines(log) - before;
		last_throttled = throttled(log);
	}
	if (sim > 0) {
		kill(sim, SIGTERM);
		waitpid(sim, NULL, 0);
	}
	free(log);
	return rc;
}

/* One size of tenant and what was measured on it. */
struct size {
	size_t resources, subscriptions;
	double ms, ms0; /* wall time with 50 ms per answer, and with none,
			   signed in already */
	double cold;    /* wall time with 50 ms per answer, signing in */
	size_t requests, cold_requests;
	long peak_kib;    /* azcmk's peak RSS with 50 ms per answer */
	size_t throttled; /* under BENCH_GRAPH_QUOTA: requests answered 429 */
	int rc;
};

/* Returns how many times the Resource Graph paging limit (one round trip per
 * page of PAGE_ROWS) the audit may take: 2 with a thousand subscriptions or
 * more (one ARM list each where Resource Graph has no answer), else 1.5. */
static double goal_factor(const struct size *z)
{
	return z->subscriptions >= 1000 ? 2.0 : 1.5;
}

/*
 * Measures one size: the audit with 50 ms per answer signing in, then signed
 * in already, with 50 ms per answer and with none, whose difference is the
 * time spent on the network (the simulator's and azcmk's own work being the
 * rest); returns false when a run failed.
 */
static bool run_size(const char *top, struct size *z)
{
	char dir[] = DIR_TEMPLATE, *cmd;
	struct rusage ru, ru0, ruc;
	size_t req0 = 0;

	z->rc = -1;
	if (!mkdtemp(dir) ||
	    !write_tenant_apart(dir, z->resources, z->subscriptions)) {
		fprintf(stderr,
			"bench-audit: cannot write a generated tenant in %s\n",
			dir);
		return false;
	}
	if (graph_quota() > 0 || deep()) {
		/* Under the quota, the figure is the pacing; deep, the checks'
		 * waves: one run. */
		z->rc = measure(top, dir, LATENCY_MS, true, &z->ms,
				&z->requests, &ru);
		z->peak_kib = ru.ru_maxrss;
		z->throttled = last_throttled;
		cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-audit: could not remove %s\n",
				dir);
		free(cmd);
		return z->rc == 0 || z->rc == 1;
	}
	z->rc = measure(top, dir, LATENCY_MS, false, &z->cold,
			&z->cold_requests, &ruc);
	if (z->rc == 0 || z->rc == 1)
		z->rc = measure(top, dir, LATENCY_MS, true, &z->ms,
				&z->requests, &ru);
	if (z->rc == 0 || z->rc == 1)
		z->rc = measure(top, dir, 0, true, &z->ms0, &req0, &ru0);
	z->peak_kib =
		ru.ru_maxrss > ruc.ru_maxrss ? ru.ru_maxrss : ruc.ru_maxrss;
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-audit: could not remove %s\n", dir);
	free(cmd);
	return z->rc == 0 || z->rc == 1;
}

/*
 * Prints one size's figures under Resource Graph's quota: the time the quota
 * alone imposes (every query past the first window's waits for the next) and
 * the time taken, with the throttled requests, which pacing keeps at none.
 */
static void report_quota(const struct size *z)
{
	size_t pages = (z->resources + PAGE_ROWS - 1) / PAGE_ROWS,
	       queries = pages + 1, /* and the census */
		windows = (queries - 1) / (size_t)graph_quota();

	printf("quota  audit %zu resources in %zu subscriptions under a "
	       "Resource Graph quota of %d queries per 5 s, %d ms, signed "
	       "in: %.0f ms, %zu requests, %zu throttled (429), peak RSS "
	       "%.2f MiB; the quota alone: %zu queries, %zu windows = at "
	       "least %zu ms\n",
	       z->resources, z->subscriptions, graph_quota(), LATENCY_MS, z->ms,
	       z->requests, z->throttled, (double)z->peak_kib / 1024.0, queries,
	       windows, windows * 5000);
}

/* Prints one size's figures of a deep audit (a figure, not a goal: the checks
 * of keys in use add their waves to the paging). */
static void report_deep(const struct size *z)
{
	printf("deep   audit --deep, %zu resources in %zu subscriptions, %d "
	       "ms, signed in: %.0f ms, %zu requests, peak RSS %.2f MiB, exit "
	       "%d\n",
	       z->resources, z->subscriptions, LATENCY_MS, z->ms, z->requests,
	       (double)z->peak_kib / 1024.0, z->rc);
}

/* Prints one size's figures and its goal line: wall time against the paging
 * limit, and the peak RSS. */
static void report_size(const struct size *z)
{
	size_t pages = (z->resources + PAGE_ROWS - 1) / PAGE_ROWS,
	       limit = pages * LATENCY_MS;
	double f = goal_factor(z), mib = (double)z->peak_kib / 1024.0;
	bool met = z->ms <= f * (double)limit && z->peak_kib <= PEAK_GOAL_KIB;

	printf("audit %6zu resources in %4zu subscriptions  %4zu requests "
	       "(sign-in included)  %7.0f ms  peak RSS %.2f MiB  exit %d\n",
	       z->resources, z->subscriptions, z->cold_requests, z->cold, mib,
	       z->rc);
	printf("             signed in already (the token cache holds the "
	       "token, as after any command): %zu requests  %.0f ms\n",
	       z->requests, z->ms);
	printf("             without latency %.0f ms (the simulator's and "
	       "azcmk's own work); on the network %.0f ms, about %.0f round "
	       "trips\n",
	       z->ms0, z->ms - z->ms0, (z->ms - z->ms0) / LATENCY_MS);
	printf("goal  %-7s  audit, %zu resources in %zu subscriptions, %d ms, "
	       "signed in: %.0f ms = %.2f x the paging limit (%zu pages x %d "
	       "ms = %zu "
	       "ms), peak RSS %.2f MiB (goal <= %.1f x = %.0f ms, <= %d "
	       "MiB)\n",
	       met ? "met" : "NOT met", z->resources, z->subscriptions,
	       LATENCY_MS, z->ms, z->ms / (double)limit, pages, LATENCY_MS,
	       limit, mib, f, f * (double)limit, PEAK_GOAL_KIB / 1024);
}

/* Prints the goal line of the peak RSS over every size: within the bound, and
 * flat in the number of resources. */
static void report_peak(const struct size *z, size_t n)
{
	long lo = LONG_MAX, hi = 0;

	for (size_t i = 0; i < n; i++) {
		lo = z[i].peak_kib < lo ? z[i].peak_kib : lo;
		hi = z[i].peak_kib > hi ? z[i].peak_kib : hi;
	}
	printf("goal  %-7s  audit peak memory at every size: %.2f to %.2f "
	       "MiB, largest / smallest %.2f (goal <= %d MiB, flat: <= "
	       "%.2f)\n",
	       hi <= PEAK_GOAL_KIB && (double)hi <= FLAT_GOAL * (double)lo
		       ? "met"
		       : "NOT met",
	       (double)lo / 1024.0, (double)hi / 1024.0,
	       lo > 0 ? (double)hi / (double)lo : 0.0, PEAK_GOAL_KIB / 1024,
	       FLAT_GOAL);
}

/* Reads the sizes from the arguments, RESOURCES:SUBSCRIPTIONS each (none:
 * 10000:20); returns how many, or 0 after a message on a bad one. */
static size_t parse_sizes(int argc, char **argv, struct size *z)
{
	size_t n = 0;

	if (argc < 2) {
		z[0] = (struct size){ .resources = 10000, .subscriptions = 20 };
		return 1;
	}
	for (int i = 1; i < argc && n < MAX_SIZES; i++, n++) {
		unsigned long r = 0, s = 0;
		char end = 0;

		if (sscanf(argv[i], "%lu:%lu%c", &r, &s, &end) != 2 || !r ||
		    !s || s > 4095) {
			fprintf(stderr,
				"bench-audit: size '%s' is not "
				"RESOURCES:SUBSCRIPTIONS (1 to 4095 "
				"subscriptions), e.g. 10000:20\n",
				argv[i]);
			return 0;
		}
		z[n] = (struct size){ .resources = r, .subscriptions = s };
	}
	return n;
}

/* Runs the benchmark at each size given as RESOURCES:SUBSCRIPTIONS (up to
 * MAX_SIZES), then the goal of the peak memory over them all. */
int main(int argc, char **argv)
{
	const char *top = getenv("top_builddir") ? getenv("top_builddir") : ".";
	struct size z[MAX_SIZES];
	size_t n = parse_sizes(argc, argv, z);
	bool ok = n > 0;

	printf("-- audit -o json, simulator latency %d ms per answer, ARM "
	       "lists "
	       "paged by %d; the Resource Graph paging limit is one round trip "
	       "per %d rows\n",
	       LATENCY_MS, ARM_PAGE, PAGE_ROWS);
	fflush(stdout); /* before the forks: a child's freopen would flush it */
	for (size_t i = 0; i < n; i++) {
		ok &= run_size(top, &z[i]);
		if (graph_quota() > 0)
			report_quota(&z[i]);
		else if (deep())
			report_deep(&z[i]);
		else
			report_size(&z[i]);
		fflush(stdout);
	}
	if (n > 0 && graph_quota() == 0 && !deep())
		report_peak(z, n);
	return ok ? 0 : 1;
}
