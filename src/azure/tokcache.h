/* The token cache azcmk's processes share: access tokens in a private file of
 * the state directory. */
#ifndef AZ_TOKCACHE_H
#define AZ_TOKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cred.h"

/* What a token is for: all four must match for a cached token to be used. */
struct tokcache_key {
	const char *cloud;    /* the authority and Resource Manager host */
	const char *tenant;   /* as the session names it */
	const char *identity; /* az_cred_identity, or the Azure CLI's; for
				 the chain's choice, "chain-choice " and it */
	const char *scope;
};

#define TOKCACHE_FILE "tokens.json"
#define TOKCACHE_MAX_BYTES (1024 * 1024)
#define TOKCACHE_MAX_ENTRIES 64

bool tokcache_enabled(void);
char *tokcache_path(void);
char *tokcache_hash(const struct tokcache_key *k);
struct json_object *tokcache_parse(const char *text, size_t len, int64_t now);
bool tokcache_get(const struct tokcache_key *k, int64_t now, int64_t margin,
		  struct az_token *out, char **warn);
bool tokcache_put(const struct tokcache_key *k, const struct az_token *t,
		  int64_t now, char **warn);
int tokcache_clear(char **path, size_t *removed, char **err);
char *tokcache_cli_identity(const char *az_command);

#endif
