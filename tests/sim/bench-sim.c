/* Benchmark of the simulator: per-request latency, 50 concurrent connections, a 10,000-resource tenant. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jx.h"
#include "sbuf.h"
#include "simtest.h"
#include "xalloc.h"

#define RESOURCES 10000
#define SUBS 20
#define CONCURRENT 50

/* Returns a monotonic time in milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Appends one Cognitive Services account to a generated scenario. */
static void add_account(struct sbuf *b, int i)
{
	sb_printf(b, "%s{\"id\":\"/subscriptions/%08x-0000-4000-8000-000000000000/resourceGroups/rg%d/providers/"
		  "Microsoft.CognitiveServices/accounts/acct%05d\",\"type\":\"Microsoft.CognitiveServices/accounts\","
		  "\"name\":\"acct%05d\",\"location\":\"westus3\",\"kind\":\"%s\",\"sku\":{\"name\":\"S0\"},"
		  "\"identity\":{\"type\":\"SystemAssigned\",\"principalId\":\"%08x-1111-4111-8111-111111111111\"},"
		  "\"properties\":{\"provisioningState\":\"Succeeded\",\"capabilities\":[{\"name\":\"CustomerManagedKey\"}],"
		  "\"encryption\":{\"keySource\":\"Microsoft.CognitiveServices\"}}}",
		  i ? "," : "", i % SUBS, i % 7, i, i, i % 2 ? "OpenAI" : "AIServices", i);
}

/* Generates a tenant of RESOURCES accounts across SUBS subscriptions, the operator Owner on each. */
static char *big_scenario(void)
{
	struct sbuf b = SBUF_INIT;

	sb_adds(&b, "{\"tenantId\":\"11111111-1111-4111-8111-111111111111\",\"operator\":{\"clientId\":"
		"\"33333333-3333-4333-8333-333333333333\",\"clientSecret\":\"s\",\"objectId\":\"44444444-4444-4444-8444-444444444444\"},"
		"\"subscriptions\":[");
	for (int s = 0; s < SUBS; s++)
		sb_printf(&b, "%s{\"subscriptionId\":\"%08x-0000-4000-8000-000000000000\",\"displayName\":\"sub %d\"}", s ? "," : "", s, s);
	sb_adds(&b, "],\"resources\":[");
	for (int i = 0; i < RESOURCES; i++)
		add_account(&b, i);
	for (int s = 0; s < SUBS; s++)
		for (int g = 0; g < 7; g++)
			sb_printf(&b, ",{\"id\":\"/subscriptions/%08x-0000-4000-8000-000000000000/resourceGroups/rg%d\","
				  "\"type\":\"Microsoft.Resources/resourceGroups\",\"name\":\"rg%d\",\"location\":\"westus3\"}", s, g, g);
	sb_adds(&b, "],\"roleAssignments\":[");
	for (int s = 0; s < SUBS; s++)
		sb_printf(&b, "%s{\"scope\":\"/subscriptions/%08x-0000-4000-8000-000000000000\",\"principalId\":"
			  "\"44444444-4444-4444-8444-444444444444\",\"roleDefinitionId\":\"8e3af657-a8ff-443c-a75c-2fe8c4bcb635\"}",
			  s ? "," : "", s);
	sb_adds(&b, "]}");
	return sb_steal(&b);
}

/* Times N sequential GETs of one resource over one reused connection. */
static void bench_sequential(struct simtest *t, const char *token, int n)
{
	double start = now_ms(), total;
	struct st_resp r;
	int ok = 0;

	for (int i = 0; i < n; i++) {
		ok += st_req(t, "GET", "https://management.azure.com/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/"
			     "rg0/providers/Microsoft.CognitiveServices/accounts/acct00000?api-version=2025-06-01", token, NULL, &r) == 200;
		st_resp_free(&r);
	}
	total = now_ms() - start;
	printf("sequential GET of one resource   %6d requests  %8.3f ms/request  (%d ok)\n", n, total / n, ok);
}

/* Times CONCURRENT connections each doing per_conn GETs at once through curl multi. */
static void bench_concurrent(struct simtest *t, const char *token, int per_conn)
{
	CURLM *m = curl_multi_init();
	CURL *h[CONCURRENT];
	struct curl_slist *hdr = NULL;
	struct curl_blob ca = { t->ca, strlen(t->ca), CURL_BLOB_COPY };
	char *proxy = xasprintf("http://127.0.0.1:%d", t->proxy), *auth = xasprintf("Authorization: Bearer %s", token);
	int left[CONCURRENT], running = 0, done = 0;
	double start = now_ms(), total;
	FILE *devnull = fopen("/dev/null", "w");

	hdr = curl_slist_append(hdr, auth);
	for (int i = 0; i < CONCURRENT; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL, "https://management.azure.com/subscriptions?api-version=2022-12-01");
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
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&i);
			done++;
			curl_multi_remove_handle(m, msg->easy_handle);
			if (--left[i] > 0)
				curl_multi_add_handle(m, msg->easy_handle);
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running || done < CONCURRENT * per_conn);
	total = now_ms() - start;
	printf("%d concurrent connections        %6d requests  %8.3f ms wall, %.0f requests/s\n", CONCURRENT, done, total,
	       done / (total / 1000.0));
	for (int i = 0; i < CONCURRENT; i++)
		curl_easy_cleanup(h[i]);
	curl_multi_cleanup(m);
	curl_slist_free_all(hdr);
	fclose(devnull);
	free(proxy);
	free(auth);
}

/* Times paging all 10,000 resources through Resource Graph, 1000 at a time. */
static void bench_graph(struct simtest *t, const char *token)
{
	double start = now_ms();
	char *skip = NULL;
	int pages = 0;
	long rows = 0;

	for (;;) {
		struct st_resp r;
		char *tok = skip ? xasprintf(",\"$skipToken\":\"%s\"", skip) : xstrdup("");
		char *body = xasprintf("{\"query\":\"Resources | where type =~ 'microsoft.cognitiveservices/accounts' | project id, "
				       "kind, properties.encryption.keySource\",\"options\":{\"$top\":1000%s}}", tok);

		st_req(t, "POST", "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01",
		       token, body, &r);
		rows += jx_int(r.json, "count", 0);
		free(skip);
		skip = jx_str(r.json, "$skipToken") ? xstrdup(jx_str(r.json, "$skipToken")) : NULL;
		st_resp_free(&r);
		free(body);
		free(tok);
		if (++pages >= 100 || !skip)
			break;
	}
	printf("Resource Graph, %d resources     %6d pages     %8.3f ms/page  (%ld rows)\n", RESOURCES, pages,
	       (now_ms() - start) / pages, rows);
}

/* Runs the benchmarks and prints one line per measurement. */
int main(void)
{
	struct simtest t;
	char *text = big_scenario(), *err = NULL, *token;
	double start = now_ms();

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (st_start_text(&t, text, &err) != 0) {
		fprintf(stderr, "bench-sim: %s\n", err);
		return 1;
	}
	printf("start with %d resources            %8.3f ms\n", RESOURCES, now_ms() - start);
	token = st_token(&t, "https://management.azure.com/.default");
	bench_sequential(&t, token, 1000);
	bench_concurrent(&t, token, 20);
	bench_graph(&t, token);
	free(token);
	st_stop(&t);
	free(text);
	return 0;
}
