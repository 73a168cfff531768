/* Credentials: the one interface through which the session gets tokens; a
 * credential never calls the session. */
#ifndef AZ_CRED_H
#define AZ_CRED_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "azerror.h"
#include "cloud.h"
#include "http.h"

/*
 * The direction: session.c calls the functions below and nothing else of
 * cred.c; cred.c calls no function of session.c. A credential is given what it
 * works with (struct az_cred_ctx) when it is made, sends its token requests
 * through the HTTP engine (http.h), and hands back the Resource Manager token
 * the chain's probe already got instead of storing it in the session's cache.
 */

/* Which credential to use; CHAIN tries them in DefaultAzureCredential's order.
 */
enum az_auth {
	AZ_AUTH_CHAIN,
	AZ_AUTH_ENV,
	AZ_AUTH_MANAGED_IDENTITY,
	AZ_AUTH_CLI,
	AZ_AUTH_DEVICE_CODE
};

/* An access token and when it expires (seconds since the epoch); token NULL:
 * none. */
struct az_token {
	char *token;
	int64_t expires_on;
};

/* A client secret handed in by the program (azcmk --demo's operator), read
 * instead of the environment's credential. */
struct az_client_secret {
	const char *client_id;
	const char *secret;
};

struct az_cred;

/* What a credential works with: all borrowed from its maker, which must keep
 * them alive as long as the credential. */
struct az_cred_ctx {
	const struct az_cloud
		*cloud; /* the authority host and the Resource Manager scope */
	struct az_http *http;   /* sends the token requests */
	const char *tenant;     /* the tenant the chain's probes sign in to */
	bool interactive;       /* device code may be offered */
	const char *az_command; /* the Azure CLI program; NULL: "az" */
	volatile sig_atomic_t *cancel;
	void (*prompt)(const char *message,
		       void *ctx); /* shows the device-code instructions */
	void *prompt_ctx;
	const struct az_client_secret
		*client_secret; /* NULL: the environment credential reads
				   AZURE_* */
	/* The maker's token cache: true when it holds a fresh Resource Manager
	 * token of c, so the chain picks c without probing it; NULL: probe. */
	bool (*cached)(const struct az_cred *c, void *ctx);
	/* The same, for a token an earlier chain kept when it chose c after
	 * the steps before c failed: only then may the chain skip them. */
	bool (*chosen)(const struct az_cred *c, void *ctx);
	void *cached_ctx;
};

struct az_cred *az_cred_pick(const struct az_cred_ctx *ctx, enum az_auth kind,
			     struct az_token *probe, struct az_error *e);
int az_cred_token(struct az_cred *c, const char *scope, const char *tenant,
		  struct az_token *out, struct az_error *e);
const char *az_cred_name(const struct az_cred *c);
const char *az_cred_id(const struct az_cred *c);
char *az_cred_identity(const struct az_cred *c);
void az_cred_free(struct az_cred *c);
char *az_cli_cloud_name(void);
struct json_object *az_cli_subscription(const char *az_command,
					volatile sig_atomic_t *cancel);

#endif
