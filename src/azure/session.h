/* The Azure session: the cloud, a credential, tokens per audience, and every
 * call azcmk makes to Azure. */
#ifndef AZ_SESSION_H
#define AZ_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "azerror.h"
#include "cloud.h"
#include "cred.h"
#include "http.h"
#include "keyref.h"

/* What a request is sent to, and so which token it carries. */
enum az_target { AZ_NOAUTH, AZ_ARM, AZ_KEYVAULT, AZ_GRAPH };

struct az_session_opts {
	const char *cloud;  /* NULL: AzureCloud */
	const char *tenant; /* --tenant; else AZURE_TENANT_ID; else
			       "organizations" */
	enum az_auth auth;
	bool interactive; /* device code may be offered */
	const char *ca_file;
	FILE *trace;      /* --debug, --verbose */
	bool trace_brief; /* --verbose: each request's first line and its
			     answer's status, no header or body */
	volatile sig_atomic_t *cancel;
	void (*prompt)(const char *message,
		       void *ctx); /* shows the device-code instructions */
	void *prompt_ctx;
	const char *az_command;   /* the Azure CLI program; NULL: "az" */
	int max_retries;          /* 0: the engine's default */
	int64_t max_answer_bytes; /* 0: the engine's default */
	int64_t backoff_base_ms;  /* 0: the engine's default */
	const char *proxy; /* every request through it, whatever HTTPS_PROXY and
			      NO_PROXY say; NULL: theirs */
	const struct az_client_secret
		*client_secret; /* signs in instead of the environment's
				   AZURE_*; NULL: those */
	bool persist_tokens;    /* share tokens with azcmk's other processes
				   through the token cache (tokcache.h); never
				   with client_secret (the demo's operator) */
	bool fresh_tokens; /* with persist_tokens: ask the credential, not the
			      token cache, which then keeps the new tokens
			      (azcmk login proves that sign-in works) */
	void (*warn)(const char *message,
		     void *ctx); /* says why the token cache was not used,
				    with prompt_ctx; NULL: --debug only */
};

struct az_session;

struct az_session *az_session_new(const struct az_session_opts *o,
				  struct az_error *e);
void az_session_free(struct az_session *s);
const struct az_cloud *az_session_cloud(const struct az_session *s);
struct key_suffixes az_session_key_suffixes(const struct az_session *s);
struct az_http *az_session_http(struct az_session *s);
int az_session_sign_in(struct az_session *s, struct az_error *e);
const char *az_session_method(const struct az_session *s);
const char *az_session_method_id(const struct az_session *s);
struct json_object *az_session_cli_subscription(struct az_session *s);
struct json_object *az_session_claims(struct az_session *s);
int az_session_token(struct az_session *s, const char *scope,
		     const char *tenant, const char **token,
		     struct az_error *e);
struct az_req *az_session_req(struct az_session *s, enum az_target t,
			      const char *method, const char *path,
			      const char *api_version, const char *body);
int az_session_send(struct az_session *s, struct az_req **reqs, size_t n,
		    struct az_error *e);
int az_session_send_all(struct az_session *s, struct az_req **reqs, size_t n,
			bool *failed, struct az_error *e);
int az_session_kick(struct az_session *s, struct az_req **reqs, size_t n,
		    struct az_error *e);
int az_session_send_any(struct az_session *s, struct az_req **reqs, size_t n,
			struct az_error *e);
int az_session_call(struct az_session *s, struct az_req *r, struct az_error *e);
int az_session_check(const struct az_req *r, struct az_error *e);
struct json_object *az_session_memo(struct az_session *s);
int az_session_list(struct az_session *s, enum az_target t, const char *path,
		    const char *api_version, struct json_object **items,
		    struct az_error *e);
int az_session_wait(struct az_session *s, struct az_req *initial,
		    struct az_req **final, struct az_error *e);
int az_session_wait_op(struct az_session *s, const char *url, bool async,
		       struct az_req **final, struct az_error *e);
char *az_session_op_url(const struct az_req *initial, bool *async);
bool az_session_arm_url(const struct az_session *s, const char *url);
const char *az_session_tenant(const struct az_session *s);

#endif
