/* Benchmark of azcmk audit over a generated tenant of 10,000 resources with 50
 * ms per answer: time, requests, peak RSS. */
#include "config.h"

/*
 * The simulator and azcmk run as their own processes, so that azcmk's peak
 * RSS (wait4) is its own: a child forked from a process holding the tenant
 * would count the parent's pages until it execs.
 */

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
#define RESOURCES 10000  /* the default; the first argument sets it */
#define SUBSCRIPTIONS 20 /* the default; the second argument sets it */
#define PAGE_ROWS 1000   /* Resource Graph rows per page ($top) */
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

/* The size of the tenant: resources and subscriptions. */
static size_t nres = RESOURCES, nsubs = SUBSCRIPTIONS;

/* Writes the generated tenant, with ARM's page size, to dir/tenant.json; false
 * on failure. */
static bool write_tenant(const char *dir)
{
	char *text = gen_tenant(nres, nsubs, true, NULL),
	     *path = xasprintf("%s/tenant.json", dir);
	struct json_object *doc = json_tokener_parse(text);
	FILE *f = fopen(path, "w");
	bool ok = f && doc;

	if (ok) {
		jx_set(doc, "settings.pageSize", json_object_new_int(ARM_PAGE));
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
static bool write_tenant_apart(const char *dir)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(write_tenant(dir) ? 0 : 1);
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

/* Runs azcmk audit -o json against the simulator; returns its exit status and
 * fills its resource usage. */
static int run_audit(const char *top, const char *dir, int proxy_port,
		     struct rusage *ru)
{
	char *prog = xasprintf("%s/src/azcmk", top),
	     *proxy = xasprintf("http://127.0.0.1:%d", proxy_port);
	char *ca = xasprintf("%s/ca.pem", dir);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = { prog, "--ca-file", ca,  "audit",
				 "-o", "json",      NULL };

		if (!freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(98);
		setenv("HTTPS_PROXY", proxy, 1);
		setenv("XDG_STATE_HOME", dir, 1);
		setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST",
		       "http://127.0.0.1:9", 1);
		setenv("AZURE_TENANT_ID",
		       "11111111-1111-4111-8111-111111111111", 1);
		setenv("AZURE_CLIENT_ID",
		       "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", 1);
		setenv("AZURE_CLIENT_SECRET", "demo-secret", 1);
		execv(prog, argv);
		_exit(97);
	}
	wait4(pid, &status, 0, ru);
	free(prog);
	free(proxy);
	free(ca);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs one audit against a simulator with a latency; fills the wall time,
 * requests and peak RSS; returns its exit. */
static int measure(const char *top, const char *dir, int latency, double *ms,
		   size_t *requests, struct rusage *ru)
{
	char *log = xasprintf("%s/log", dir);
	int proxy = 0, rc = -1;
	pid_t sim = start_sim(top, dir, latency, &proxy);
	size_t before = lines(log);
	double t0 = now_ms();

	if (sim > 0) {
		rc = run_audit(top, dir, proxy, ru);
		*ms = now_ms() - t0;
		*requests = lines(log) - before;
		kill(sim, SIGTERM);
		waitpid(sim, NULL, 0);
	}
	free(log);
	return rc;
}

/*
 * Runs the benchmark: the audit with 50 ms per answer, and with none, whose
 * difference is the time spent on the network (the simulator's and azcmk's
 * own work being the rest), against the goals of the audit. Arguments:
 * [resources [subscriptions]] (default 10000 20).
 */
int main(int argc, char **argv)
{
	const char *top = getenv("top_builddir") ? getenv("top_builddir") : ".";
	char dir[] = DIR_TEMPLATE, *cmd;
	size_t requests = 0, req0 = 0, pages;
	struct rusage ru, ru0;
	double ms = 0, ms0 = 0;
	int rc;

	if (argc > 1)
		nres = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		nsubs = strtoul(argv[2], NULL, 10);
	if (nres == 0 || nsubs == 0 || nsubs > 4095) {
		fprintf(stderr, "usage: bench-audit [resources [subscriptions "
				"(1 to 4095)]]\n");
		return 2;
	}
	pages = (nres + PAGE_ROWS - 1) / PAGE_ROWS;
	if (!mkdtemp(dir) || !write_tenant_apart(dir)) {
		fprintf(stderr,
			"bench-audit: cannot write a generated tenant in %s\n",
			dir);
		return 1;
	}
	rc = measure(top, dir, LATENCY_MS, &ms, &requests, &ru);
	if (rc == 0 || rc == 1)
		rc = measure(top, dir, 0, &ms0, &req0, &ru0);
	printf("-- audit of %zu resources in %zu subscriptions, simulator "
	       "latency %d ms per answer, ARM lists paged by %d\n",
	       nres, nsubs, LATENCY_MS, ARM_PAGE);
	printf("audit        %zu requests (sign-in included)  %7.0f ms  peak "
	       "RSS %.1f MB  exit %d; azcmk's CPU %.0f ms\n",
	       requests, ms, (double)ru.ru_maxrss / 1024.0, rc,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) /
			       1000.0);
	printf("             without latency %.0f ms (the simulator's and "
	       "azcmk's own work); on the network %.0f ms, about "
	       "%.0f round trips\n",
	       ms0, ms - ms0, (ms - ms0) / LATENCY_MS);
	printf("             Resource Graph paging limit: %zu pages x %d ms = "
	       "%zu ms; network / limit = %.2f, "
	       "wall / limit = %.2f (goals: <= 2, wall <= 2000 ms, <= 16 MB)\n",
	       pages, LATENCY_MS, pages * LATENCY_MS,
	       (ms - ms0) / (double)(pages * LATENCY_MS),
	       ms / (double)(pages * LATENCY_MS));
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-audit: could not remove %s\n", dir);
	free(cmd);
	return rc == 0 || rc == 1 ? 0 : 1;
}
