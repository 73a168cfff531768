/* Fuzzes reading a fleet plan file (src/core/fleet.c) and everything done with
 * one that azcmk accepts: its review, its az script, its scheduling. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "fuzz.h"
#include "jx.h"
#include "plan.h"

/* Sets a plan file's (or a fleet file's) id to the digest of its content. */
static void reseal(struct json_object *o)
{
	char *id = plan_digest(o);

	if (json_object_is_type(o, json_type_object))
		json_object_object_add(o, "id", json_object_new_string(id));
	free(id);
}

/* Reseals each inner plan, then the fleet, so that mutations reach past both
 * digest checks, as a forger's would. */
static void reseal_all(struct json_object *o)
{
	struct json_object *plans = jx_get(o, "plans");

	for (size_t i = 0; i < jx_len(plans); i++)
		reseal(jx_at(plans, i));
	reseal(o);
}

/* Schedules the fleet as apply does: start what fleet_next allows, end the
 * oldest running one, until every plan has ended. */
static void schedule(const struct fleet *f)
{
	enum fleet_state *st = xcalloc(f->n + 1, sizeof(*st));
	struct fleet_limits l = { 3, 2, 2 };
	size_t ended = 0, guard = 0;

	while (ended < f->n && guard++ < 4 * f->n + 4) {
		size_t i = fleet_next(f, st, &l), r;

		if (i < f->n) {
			FUZZ_CHECK(st[i] == FLEET_PENDING);
			st[i] = FLEET_RUNNING;
			continue;
		}
		for (r = 0; r < f->n && st[r] != FLEET_RUNNING; r++)
			;
		FUZZ_CHECK(r <
			   f->n); /* nothing may start only while some run */
		st[r] = FLEET_ENDED;
		ended++;
	}
	FUZZ_CHECK(ended == f->n);
	free(st);
}

/*
 * Writes an accepted fleet back out: resealed (a plan read back need not
 * write the very bytes it was read from, as fuzz-plan.c says of one plan), it
 * must be accepted again, with the same resources in the same order.
 */
static void round_trip(struct fleet *f)
{
	struct json_object *o = fleet_to_json(f);
	struct fleet back;
	char *err = NULL;

	reseal_all(o);
	if (fleet_from_json(o, &back, &err) != 0) {
		fprintf(stderr,
			"a fleet written by fleet_to_json is refused: %s\n",
			err);
		abort();
	}
	FUZZ_CHECK(back.n == f->n && back.nskipped == f->nskipped);
	for (size_t i = 0; i < f->n; i++)
		FUZZ_CHECK(strcmp(back.plans[i].resource_id,
				  f->plans[i].resource_id) == 0);
	fleet_free(&back);
	json_object_put(o);
}

/* Reads the input as a fleet file and, when azcmk accepts it, reviews,
 * exports, schedules and rewrites it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_bytes(data, size), *err = NULL;
	struct json_object *o = jx_parse(text, size, &err);
	struct fleet f;

	free(err);
	err = NULL;
	reseal_all(o);
	if (fleet_from_json(o, &f, &err) == 0) {
		struct json_object *r = fleet_review_json(&f);

		FUZZ_CHECK(f.id && f.n > 0);
		free(fleet_render_text(&f, 80));
		free(fleet_render_text(&f, 0));
		free(plan_render_fleet_az(f.plans, f.n, f.id));
		(void)fleet_irreversible(&f);
		json_object_put(r);
		schedule(&f);
		round_trip(&f);
		fleet_free(&f);
	} else {
		FUZZ_CHECK(err != NULL);
	}
	free(err);
	json_object_put(o);
	free(text);
	return 0;
}
