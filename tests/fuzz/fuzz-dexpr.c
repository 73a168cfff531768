/* Fuzzes the simulator's ARM template expression language (src/sim/dexpr.c):
 * every template string a deployment's caller sends is parsed by it. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "fuzz.h"
#include "jx.h"

/* The tenant of the one subscription the harness knows. */
const char *state_tenant(struct sim *s)
{
	(void)s;
	return "11111111-1111-4111-8111-111111111111";
}

/* No resource exists: resourceGroup() answers an empty object. */
struct json_object *state_resource(struct sim *s, const char *id)
{
	(void)s;
	(void)id;
	return NULL;
}

/* reference() answers the same resource for every id, with properties and an
 * identity, so accessors after it are reached. */
struct json_object *deploy_reference(struct dctx *d, struct json_object **a,
				     int n)
{
	(void)d;
	(void)a;
	(void)n;
	return json_tokener_parse("{\"keyUri\":\"https://kv/keys/k/1\","
				  "\"identity\":{\"principalId\":\"p\"},"
				  "\"list\":[1,\"two\",{\"x\":null}]}");
}

/* Evaluates the input once only checking (dry) and once for real, in a
 * resource group with a parameter and a variable; a failure must say why. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	struct sim_req rq = { 0 };
	struct json_object *vars = json_tokener_parse(
		"{\"v\":\"[concat('V-', parameters('p'))]\",\"self\":"
		"\"[variables('self')]\"}");

	for (int dry = 0; dry < 2; dry++) {
		struct dctx d = { .rq = &rq,
				  .sub = "66666666-6666-4666-8666-666666666666",
				  .rg = "rg",
				  .dry = dry };
		struct json_object *v;

		d.params = json_tokener_parse("{\"p\":\"P\",\"n\":3}");
		d.vars = vars;
		v = dexpr_string(&d, text, d.dry, 0);
		FUZZ_CHECK(v ? d.err == NULL : d.err != NULL && d.code);
		json_object_put(v);
		json_object_put(d.params);
		free(d.err);
	}
	json_object_put(vars);
	free(text);
	return 0;
}
