/* Benchmark of the simulator on a generated 10,000-resource tenant: load,
 * latency, concurrency, the audit's queries. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gentenant.h"
#include "jx.h"
#include "sbuf.h"
#include "simtest.h"
#include "xalloc.h"

#define RESOURCES 10000
#define SUBS 20
#define CONCURRENT 50
#define ARM "https://management.azure.com"
/* Resource 2 of the generated tenant: a Foundry account in the first
 * subscription's first group. */
#define ONE_RESOURCE                                               \
	ARM "/subscriptions/70017001-7001-4001-8001-700170017001/" \
	    "resourceGroups/rg-g01-00/providers/"                  \
	    "Microsoft.CognitiveServices/accounts/"                \
	    "fdy-00002?api-version=2025-06-01"
/* The audit's one Resource Graph query over the four services. */
#define AUDIT_QUERY                                                          \
	"Resources | where type in~ "                                        \
	"('microsoft.healthcareapis/workspaces/dicomservices', "             \
	"'microsoft.healthbot/healthbots', "                                 \
	"'microsoft.cognitiveservices/accounts') | project id, name, type, " \
	"kind, "                                                             \
	"location, subscriptionId, resourceGroup, identity, properties "     \
	"| order by subscriptionId asc, resourceGroup asc, name asc"
/* Another query over every resource, which an audit of something else might
 * page at the same time. */
#define OTHER_QUERY \
	"Resources | project id, name, type, location | order by id asc"
/* The audit's generic list of one subscription's Health Bots, with their
 * creation times. */
#define BOT_LIST                                                         \
	"/resources?$filter=resourceType%20eq%20%27Microsoft.HealthBot%" \
	"2FhealthBots%27&$expand=createdTime"                            \
	"&api-version=2021-04-01"

/* Returns a monotonic time in milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Times N sequential GETs of one resource over one reused connection. */
static void bench_sequential(struct simtest *t, const char *token, int n)
{
	double start = now_ms(), total;
	struct st_resp r;
	int ok = 0;

	for (int i = 0; i < n; i++) {
		ok += st_req(t, "GET", ONE_RESOURCE, token, NULL, &r) == 200;
		st_resp_free(&r);
	}
	total = now_ms() - start;
	printf("sequential GET of one resource   %6d requests  %8.3f "
	       "ms/request  (%d ok)\n",
	       n, total / n, ok);
}

/* Times CONCURRENT connections each doing per_conn GETs at once through curl
 * multi. */
static void bench_concurrent(struct simtest *t, const char *token, int per_conn)
{
	CURLM *m = curl_multi_init();
	CURL *h[CONCURRENT];
	struct curl_slist *hdr = NULL;
	struct curl_blob ca = { t->ca, strlen(t->ca), CURL_BLOB_COPY };
	char *proxy = xasprintf("http://127.0.0.1:%d", t->proxy),
	     *auth = xasprintf("Authorization: Bearer %s", token);
	int left[CONCURRENT], running = 0, done = 0;
	double start = now_ms(), total;
	FILE *devnull = fopen("/dev/null", "w");

	hdr = curl_slist_append(hdr, auth);
	for (int i = 0; i < CONCURRENT; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL,
				 "https://management.azure.com/"
				 "subscriptions?api-version=2022-12-01");
		curl_easy_setopt(h[i], CURLOPT_PROXY, proxy);
		curl_easy_setopt(h[i], CURLOPT_CAINFO_BLOB, &ca);
		curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h[i], CURLOPT_WRITEDATA, devnull);
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
		left[i] = per_conn;
		curl_multi_add_handle(m, h[i]);
	}
	do {
		CURLMsg *msg;
		int q;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &q)) != NULL) {
			intptr_t i;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&i);
			done++;
			curl_multi_remove_handle(m, msg->easy_handle);
			if (--left[i] > 0)
				curl_multi_add_handle(m, msg->easy_handle);
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running || done < CONCURRENT * per_conn);
	total = now_ms() - start;
	printf("%d concurrent connections        %6d requests  %8.3f ms wall, "
	       "%.0f requests/s\n",
	       CONCURRENT, done, total, done / (total / 1000.0));
	for (int i = 0; i < CONCURRENT; i++)
		curl_easy_cleanup(h[i]);
	curl_multi_cleanup(m);
	curl_slist_free_all(hdr);
	fclose(devnull);
	free(proxy);
	free(auth);
}

/* Posts one page of a query, top rows a page; returns its rows and hands back
 * the next $skipToken (or NULL). */
static long graph_page(struct simtest *t, const char *token, const char *query,
		       int top, char **skip)
{
	struct st_resp r;
	char *tok = *skip ? xasprintf(",\"$skipToken\":\"%s\"", *skip)
			  : xstrdup("");
	char *body = xasprintf("{\"query\":\"%s\",\"options\":{\"$top\":%d%s}}",
			       query, top, tok);
	long rows;

	st_req(t, "POST",
	       ARM "/providers/Microsoft.ResourceGraph/"
		   "resources?api-version=2022-10-01",
	       token, body, &r);
	rows = (long)jx_int(r.json, "count", 0);
	free(*skip);
	*skip = jx_str(r.json, "$skipToken")
			? xstrdup(jx_str(r.json, "$skipToken"))
			: NULL;
	st_resp_free(&r);
	free(body);
	free(tok);
	return rows;
}

/* Makes the simulator's state change (a clock step of 0 s is a write), so that
 * the next query runs again rather than coming from a kept result. */
static void state_write(struct simtest *t)
{
	struct st_resp r;

	st_admin(t, "POST", "/clock", "{\"advanceSeconds\":0}", &r);
	st_resp_free(&r);
}

/* Times the audit's Resource Graph query, top rows a page: the first page
 * (which runs the query), then the rest. */
static void bench_graph(struct simtest *t, const char *token, int top)
{
	double start, first;
	char *skip = NULL;
	int pages = 1;
	long rows;

	state_write(t);
	start = now_ms();
	rows = graph_page(t, token, AUDIT_QUERY, top, &skip);

	first = now_ms() - start;
	while (skip && pages < 200) {
		rows += graph_page(t, token, AUDIT_QUERY, top, &skip);
		pages++;
	}
	printf("Resource Graph audit query, %4d rows a page %4d pages  first "
	       "%8.3f ms, then %7.3f ms/page  (%ld rows)\n",
	       top, pages, first,
	       pages > 1 ? (now_ms() - start - first) / (pages - 1) : 0.0,
	       rows);
	free(skip);
}

/*
 * The goal of issue 13: a page of the audit's query over the 10k-row tenant,
 * Resource Graph's default 100 rows, costs <= 5 ms after the first, whatever
 * the tenant's size. Times the first page after a write (which runs the
 * query), the later ones (from the kept result), and the same first page
 * asked again with no write between.
 */
static void bench_graph_goal(struct simtest *t, const char *token)
{
	double start, first, later, again;
	char *skip = NULL;
	int pages = 0;

	state_write(t);
	start = now_ms();
	graph_page(t, token, AUDIT_QUERY, 100, &skip);
	first = now_ms() - start;
	start = now_ms();
	while (skip && pages < 50) {
		graph_page(t, token, AUDIT_QUERY, 100, &skip);
		pages++;
	}
	later = pages ? (now_ms() - start) / pages : 0.0;
	free(skip);
	skip = NULL;
	start = now_ms();
	graph_page(t, token, AUDIT_QUERY, 100, &skip);
	again = now_ms() - start;
	free(skip);
	printf("simulator: a Resource Graph page at 10k rows  first %7.3f ms, "
	       "later %6.3f ms/page (%d pages), same query again %6.3f ms  "
	       "(goal: later <= 5 ms)\n",
	       first, later, pages, again);
	printf("goal  %-7s  simulator, a Resource Graph page at 10k rows: "
	       "%.3f ms per later page (goal <= 5 ms)\n",
	       pages > 0 && later <= 5.0 ? "met" : "NOT met", later);
}

/* Times two queries paged at once, 100 rows a page, taking turns: each later
 * page must come from its own result. */
static void bench_graph_interleaved(struct simtest *t, const char *token)
{
	const char *queries[2] = { AUDIT_QUERY, OTHER_QUERY };
	char *skip[2] = { NULL, NULL };
	long rows = graph_page(t, token, queries[0], 100, &skip[0]) +
		    graph_page(t, token, queries[1], 100, &skip[1]);
	double start = now_ms();
	int pages = 0;

	while ((skip[0] || skip[1]) && pages < 40) {
		for (int i = 0; i < 2; i++)
			if (skip[i]) {
				rows += graph_page(t, token, queries[i], 100,
						   &skip[i]);
				pages++;
			}
	}
	printf("Resource Graph, two queries taking turns        %4d later "
	       "pages %7.3f ms/page  (%ld rows)\n",
	       pages, pages ? (now_ms() - start) / pages : 0.0, rows);
	free(skip[0]);
	free(skip[1]);
}

/* Lists one subscription's Health Bots the way the audit does, following
 * nextLink; returns the bots seen. */
static long list_bots(struct simtest *t, const char *token, const char *sub)
{
	char *url = xasprintf(ARM "/subscriptions/%s%s", sub, BOT_LIST);
	long n = 0;

	while (url) {
		struct st_resp r;
		const char *next;

		st_req(t, "GET", url, token, NULL, &r);
		n += (long)jx_len(jx_get(r.json, "value"));
		next = jx_str(r.json, "nextLink");
		free(url);
		url = next ? xstrdup(next) : NULL;
		st_resp_free(&r);
	}
	return n;
}

/* Times the generic Health Bot list of every subscription the operator sees. */
static void bench_generic(struct simtest *t, const char *token)
{
	struct st_resp r;
	struct json_object *subs;
	double start;
	long bots = 0;

	st_req(t, "GET", ARM "/subscriptions?api-version=2022-12-01", token,
	       NULL, &r);
	subs = jx_get(r.json, "value");
	start = now_ms();
	for (size_t i = 0; i < jx_len(subs); i++)
		bots += list_bots(t, token,
				  jx_str(jx_at(subs, i), "subscriptionId"));
	printf("Health Bot lists, %zu subscriptions %4s         %8.3f "
	       "ms/subscription  (%ld bots listed of %d)\n",
	       jx_len(subs), "",
	       (now_ms() - start) / (double)(jx_len(subs) ? jx_len(subs) : 1),
	       bots, (RESOURCES + 2) / 4);
	st_resp_free(&r);
}

/* Prints the findings a shallow audit must report on the generated tenant. */
static void print_counts(const struct gen_counts *c)
{
	static const char *const names[GR_N] = {
		"resource.cmk",          "identity.enabled",
		"resource.eligible",     "resource.ready",
		"resource.irreversible", "resource.same-vault",
		"identity.allowed"
	};

	printf("generated tenant: %zu service resources in %d subscriptions "
	       "(+1 unreadable); expected findings:",
	       c->resources, SUBS);
	for (int i = 0; i < GR_N; i++)
		printf(" %s %zu%s", names[i], c->per_rule[i],
		       i + 1 < GR_N ? "," : "\n");
}

/* Times the simulator alone loading the scenario (parse, schema check, indexes)
 * and starting, then stops it. */
static void bench_load(const char *text)
{
	struct sim_options o = { text, strlen(text), 0, 0, 0, -1, NULL };
	char *err = NULL;
	double start = now_ms();
	struct sim *s = sim_start(&o, &err);

	printf("simulator load and start          %8.3f ms%s%s\n",
	       now_ms() - start, s ? "" : "  FAILED: ", s ? "" : err);
	if (s)
		sim_stop(s);
	free(err);
}

/* Runs the benchmarks and prints one line per measurement. */
int main(void)
{
	struct simtest t;
	struct gen_counts counts;
	double start = now_ms();
	char *text = gen_tenant(RESOURCES, SUBS, true, &counts), *err = NULL,
	     *token;

	printf("generate %d resources (%zu bytes) %8.3f ms\n", RESOURCES,
	       strlen(text), now_ms() - start);
	print_counts(&counts);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bench_load(text);
	start = now_ms();
	if (st_start_text(&t, text, &err) != 0) {
		fprintf(stderr, "bench-sim: %s\n", err);
		return 1;
	}
	printf("test harness start (sim + client) %8.3f ms\n",
	       now_ms() - start);
	token = st_token(&t, "https://management.azure.com/.default");
	bench_sequential(&t, token, 1000);
	bench_concurrent(&t, token, 20);
	bench_graph_goal(&t, token);
	bench_graph(&t, token, 1000);
	bench_graph(&t, token, 100);
	bench_graph_interleaved(&t, token);
	bench_generic(&t, token);
	free(token);
	st_stop(&t);
	free(text);
	return 0;
}
