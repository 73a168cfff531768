/* Fuzzes the simulator's scenario and fault-rule checks (src/sim/scenario.c),
 * the first thing it does with a file. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jx.h"
#include "scenario.h"

/* Checks a verdict's message convention: none on success, "$..." on failure. */
static void verdict(bool ok, char *err)
{
	FUZZ_CHECK(ok ? err == NULL : err != NULL && err[0] == '$');
	free(err);
}

/* Validates a document as a scenario, as a lone fault rule, and each of its
 * faults as the admin API would. */
static void validate(struct json_object *doc)
{
	struct json_object *faults = jx_get(doc, "faults");
	char *err = NULL;
	bool ok = scenario_validate(doc, &err);

	verdict(ok, err);
	err = NULL;
	ok = scenario_validate_fault(doc, "$", &err);
	verdict(ok, err);
	(void)scenario_validate(doc, NULL);
	for (size_t i = 0; i < jx_len(faults) && i < 16; i++) {
		err = NULL;
		ok = scenario_validate_fault(jx_at(faults, i), "$.faults[0]",
					     &err);
		verdict(ok, err);
	}
}

/* Parses the input as sim_check_scenario does, then validates what it holds. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_bytes(data, size), *err = NULL;
	struct json_object *doc = jx_parse(text, size, &err);

	if (doc)
		validate(doc);
	json_object_put(doc);
	free(err);
	free(text);
	return 0;
}
