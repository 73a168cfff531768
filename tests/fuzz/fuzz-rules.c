/* Fuzzes the validation core (src/core/rules.c) over every answer it judges:
 * resource, vault, key, lists, health. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jx.h"
#include "rules.h"
#include "text.h"

/*
 * The input is one JSON object whose members stand for what Azure answered:
 * resource, vault, key, versions, rotation, assignments, roles, denies,
 * health, perms, policy; "flags" (an integer) switches change, hsm, a
 * user-assigned identity and the statuses. Each rule must judge any of it
 * without crashing, leaking or reading out of bounds, and every finding must
 * have a message.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	struct json_object *in = json_tokener_parse(text);
	int64_t flags = jx_int(in, "flags", 0);
	const struct svc_profile *svc =
		&SVC_PROFILES[(uint64_t)flags % SVC_NPROFILES];
	struct cmk_ctx c;
	struct cmk_report rep;

	memset(&c, 0, sizeof(c));
	c.svc = svc;
	c.resource = jx_get(in, "resource");
	c.change = flags & 4;
	c.keyref.hsm = flags & 8;
	c.user_identity = flags & 16;
	c.drop_system = flags & 32;
	c.uai_id = jx_str(in, "uai_id");
	c.keyref.vault = "kv1";
	c.keyref.vault_uri = c.keyref.hsm ? "https://kv1.managedhsm.azure.net/"
					  : "https://kv1.vault.azure.net/";
	c.keyref.name = flags & 64 ? NULL : "k";
	c.keyref.version = (char *)(uintptr_t)jx_str(
		in, "version"); /* borrowed, never freed */
	c.vault = jx_get(in, "vault");
	c.key = jx_get(in, "key");
	c.versions = jx_get(in, "versions");
	c.rotation = jx_get(in, "rotation");
	c.assignments = jx_get(in, "assignments");
	c.roles = jx_get(in, "roles");
	c.denies = jx_get(in, "denies");
	c.health = jx_get(in, "health");
	c.operator_perms = jx_get(in, "perms");
	c.resource_perms = jx_get(in, "perms");
	c.policy_evals = jx_get(in, "policy");
	c.operator_id = (char *)(uintptr_t)jx_str(in, "operator");
	/* Each read is answered, refused, failed or malformed, by two bits of
	 * flags each. */
	{
		static const long st[] = { 200, 403, 503, CMK_READ_MALFORMED };
		long *reads[] = {
			&c.vault_status,       &c.key_status,
			&c.versions_status,    &c.rotation_status,
			&c.assignments_status, &c.roles_status,
			&c.perms_status,       &c.resource_perms_status,
			&c.policy_status,      &c.denies_status,
			&c.health_status
		};

		for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
			*reads[i] = st[((uint64_t)flags >> (8 + 2 * i)) & 3];
	}
	c.tenant = "t1";
	c.now = FUZZ_NOW;
	cmk_check(&c, &rep);
	/* A missing name is never printed as "(null)" (unless the answer itself
	 * said so). */
	for (size_t i = 0; i < rep.n; i++)
		if (!rep.items[i].message ||
		    (strstr(rep.items[i].message, "(null)") &&
		     !strstr(text, "(null)")))
			abort();
	cmk_report_free(&rep);
	json_object_put(in);
	free(text);
	return 0;
}
