/* Fuzzes the audit reading Resource Graph pages (src/core/audit.c, jscan.c):
 * rows, findings, rendered reports. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fuzz.h"
#include "jscan.h"
#include "jx.h"
#include "keyref.h"
#include "rules.h"
#include "text.h"
#include "wire.h"

/* The report the rows add to, and the rows seen. */
struct run {
	struct audit_report all;
	size_t rows;
};

/* Judges one rebuilt resource as the shallow audit does (src/azure/survey.c
 * judge) and keeps its findings. */
static void judge(struct run *r, struct json_object *res)
{
	const struct svc_profile *p =
		svc_for_resource(jx_str(res, "type"), jx_str(res, "kind"));
	struct audit_report part = { 0 };
	static const struct key_suffixes sfx = { ".vault.azure.net",
						 ".managedhsm.azure.net" };
	struct key_ref k = { 0 };
	const char *why;
	char *key;
	struct cmk_ctx c;
	struct cmk_report rep;

	if (!p)
		return;
	key = svc_key_uri(p, res);
	memset(&c, 0, sizeof(c));
	c.svc = p;
	c.resource = res;
	c.tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
	c.now = FUZZ_NOW;
	c.uai_id = cmk_identity_in_use(p, res, &c.user_identity);
	c.user_identity |= c.uai_id != NULL;
	if (key && key_ref_parse(key, &sfx, &k, &why))
		c.keyref = k;
	cmk_check(&c, &rep);
	audit_add_report(&part, &c, &rep);
	cmk_report_free(&rep);
	audit_add_resource(&part, &c, key);
	audit_merge(&r->all, &part);
	audit_free(&part);
	free(key);
	key_ref_free(&k);
}

/* Rebuilds a row as the resource ARM would return (every other one with a
 * creation time) and judges it. */
static void row(struct json_object *el, void *ud)
{
	struct run *r = ud;
	struct json_object *res = audit_resource_from_row(
		el, r->rows++ % 2 ? "2021-11-12T00:00:00Z" : NULL);

	if (r->rows == 1 && jx_str(el, "subscriptionId"))
		audit_add_subscription(&r->all, jx_str(el, "subscriptionId"),
				       jx_str(el, "name"), true);
	judge(r, res);
	json_object_put(res);
}

/* Renders the report in every format; the JSON one must read back (as azcmk fix
 * reads it) with every finding. */
static void render(struct audit_report *a)
{
	static const enum audit_format formats[] = { AUDIT_TABLE, AUDIT_CSV,
						     AUDIT_SARIF };
	char *json = audit_render(a, AUDIT_JSON, false), *err = NULL;
	struct json_object *o = jx_parse(json, strlen(json), &err);
	struct audit_report back;

	FUZZ_CHECK(o != NULL);
	FUZZ_CHECK(audit_from_json(o, &back, &err) == 0 && back.n == a->n);
	audit_free(&back);
	json_object_put(o);
	free(json);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char *text = audit_render(a, formats[i], i == 0);

		if (formats[i] == AUDIT_SARIF) {
			o = jx_parse(text, strlen(text), &err);
			FUZZ_CHECK(o != NULL);
			json_object_put(o);
		}
		free(text);
	}
	(void)audit_fails(a, SEV_WARNING);
}

/* Reads the input as one Resource Graph page, judges its rows, renders the
 * report, and reads it as a saved report. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Callers pass response bodies with a NUL after them (http.c), as
	 * fuzz_bytes does. */
	char *page = fuzz_bytes(data, size), *skip, *err = NULL;
	struct run r;
	struct json_object *o;
	struct audit_report saved;

	memset(&r, 0, sizeof(r));
	r.all.generated = FUZZ_NOW;
	if (jscan_each(page, size, "data", row, &r) >= 0) {
		audit_sort(&r.all);
		render(&r.all);
	}
	skip = jscan_string(page, size, "$skipToken");
	free(skip);
	audit_free(&r.all);
	o = jx_parse(page, size, &err);
	free(err);
	err = NULL;
	if (o && audit_from_json(o, &saved, &err) == 0) {
		(void)audit_find(&saved, "000000");
		audit_free(&saved);
	}
	free(err);
	json_object_put(o);
	free(page);
	return 0;
}
