/* Test harness: an in-process simulator and a libcurl client that reaches it
 * through its proxy. */
#ifndef SIMTEST_H
#define SIMTEST_H

#include <stdbool.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "sim.h"

#define T_TENANT_DOC "scenario"

struct simtest {
	struct sim *sim;
	int https, proxy, identity;
	char *ca;                /* CA certificate PEM */
	CURL *curl;              /* one handle, so connections are reused */
	struct json_object *doc; /* the scenario, for credentials */
};

struct st_resp {
	long status;
	CURLcode rc;
	char *body;
	struct json_object *json;
	char *headers;
};

char *st_read_scenario(const char *name);
int st_start_text(struct simtest *t, const char *text, char **err);
int st_start(struct simtest *t, const char *name, const char *merge);
void st_stop(struct simtest *t);
int st_point_client(struct simtest *t, const char *ca_path);
long st_req(struct simtest *t, const char *method, const char *url,
	    const char *token, const char *body, struct st_resp *r);
long st_req_hdr(struct simtest *t, const char *method, const char *url,
		const char *const *headers, const char *body,
		struct st_resp *r);
char *st_token(struct simtest *t, const char *scope);
char *st_header(const struct st_resp *r, const char *name);
void st_resp_free(struct st_resp *r);
const char *st_error_code(const struct st_resp *r);
long st_admin(struct simtest *t, const char *method, const char *path,
	      const char *body, struct st_resp *r);
long st_fault(struct simtest *t, const char *rule);

#endif
