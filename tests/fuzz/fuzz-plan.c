/* Fuzzes reading a plan file (src/core/plan*.c) and its journal and history
 * lines: reading, deriving, rendering. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "history.h"
#include "jx.h"
#include "plan.h"

/*
 * The input is a plan file. Three optional members stand for what apply
 * reads live and are taken out before the plan is read: fuzzResource and
 * fuzzVault (the resource and vault as ARM returns them) and fuzzVars (what
 * earlier steps learned); fuzzJournal is an array of lines, each read as a
 * journal line of the plan and as a line of the change history. The id is
 * then resealed (set to the digest of the content), so mutations reach past
 * the digest check, as a forger's would.
 */
struct live {
	struct json_object *resource, *vault, *vars, *journal;
};

/* Reads each line as apply reads its journal, and as azcmk history reads its
 * file. */
static void lines(const struct plan *p, struct json_object *journal)
{
	for (size_t i = 0; i < jx_len(journal); i++) {
		const char *line = json_object_get_string(jx_at(journal, i));
		size_t n = line ? strlen(line) : 0;
		char *err = NULL;
		struct json_object *e = jx_parse(line ? line : "", n, &err), *h;

		free(err);
		if (e)
			(void)plan_journal_entry_ok(p, e, i == 0);
		json_object_put(e);
		h = history_parse(line ? line : "", n);
		if (h) {
			(void)history_match(h, p->resource_id,
					    "2026-01-01T00:00:00Z");
			free(history_render(h));
		}
		json_object_put(h);
	}
}

/* Takes a member out of the plan file, keeping a reference; NULL when absent.
 */
static struct json_object *take(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_get(jx_get(o, key));

	if (json_object_is_type(o, json_type_object))
		json_object_object_del(o, key);
	return v;
}

/* Sets a plan file's id to the digest of its content. */
static void reseal(struct json_object *o)
{
	char *id = plan_digest(o);

	if (json_object_is_type(o, json_type_object))
		json_object_object_add(o, "id", json_object_new_string(id));
	free(id);
}

/* Derives every step's request from the live state and fills its placeholders,
 * as apply does. */
static void derive(const struct plan *p, const struct live *l)
{
	struct step_state st = { l->resource, l->vault, l->vars };

	for (size_t i = 0; i < p->n; i++) {
		struct step_request q;
		char *url, *body, *title;

		plan_request(p, i, &st, &q);
		url = plan_fill(q.url, l->vars);
		body = plan_fill(q.body ? jx_text(q.body) : NULL, l->vars);
		title = plan_fill(p->steps[i].title, l->vars);
		free(title);
		free(body);
		free(url);
		step_request_free(&q);
	}
}

/* Renders the steps apply shows before asking: every title is the one the
 * typed fields derive to, and nothing but a newline is a control character
 * (the file's names reach a terminal there). */
static void steps_shown(const struct plan *p)
{
	char *steps = plan_render_steps(p);

	for (size_t i = 0; i < p->n; i++) {
		char *t = plan_step_title(p, p->steps[i].kind);

		FUZZ_CHECK(p->steps[i].title &&
			   strcmp(p->steps[i].title, t) == 0);
		free(t);
	}
	for (const char *c = steps; *c; c++)
		FUZZ_CHECK((unsigned char)*c >= 0x20 || *c == '\n');
	free(steps);
}

/* Renders the plan as text, ARM template and az script against the live state.
 */
static void render(const struct plan *p, const struct live *l)
{
	struct cmk_ctx c;

	memset(&c, 0, sizeof(c));
	c.svc = p->svc;
	c.resource = l->resource;
	c.vault = l->vault;
	c.keyref = p->keyref; /* borrowed: the plan's key, checked when the plan
				 was read */
	c.key_status = 200;
	free(plan_render_text(p, &c, false));
	free(plan_render_text(p, &c, true));
	free(plan_render_arm(p, &c));
	free(plan_render_az(p));
	free(plan_mark(p));
	(void)plan_creates_key(p);
	steps_shown(p);
}

/* Writes an accepted plan back out: resealed, it must be accepted again and
 * written the same. */
static void round_trip(const struct plan *p)
{
	struct json_object *o = plan_to_json(p), *again;
	struct plan back;
	char *err = NULL;

	reseal(o);
	if (plan_from_json(o, &back, &err) != 0) {
		fprintf(stderr,
			"a plan written by plan_to_json is refused: %s\n", err);
		abort();
	}
	again = plan_to_json(&back);
	FUZZ_CHECK(json_object_equal(o, again));
	json_object_put(again);
	plan_free(&back);
	json_object_put(o);
}

/* Reads the input as a plan file and, when azcmk accepts it, uses it every way
 * apply and the exports do. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_bytes(data, size), *err = NULL;
	struct json_object *o = jx_parse(text, size, &err);
	struct live l;
	struct plan p;

	free(err);
	err = NULL;
	l.resource = take(o, "fuzzResource");
	l.vault = take(o, "fuzzVault");
	l.vars = take(o, "fuzzVars");
	l.journal = take(o, "fuzzJournal");
	reseal(o);
	if (plan_from_json(o, &p, &err) == 0) {
		FUZZ_CHECK(p.svc && p.id && p.resource_id);
		derive(&p, &l);
		render(&p, &l);
		round_trip(&p);
		lines(&p, l.journal);
		plan_free(&p);
	} else {
		FUZZ_CHECK(err != NULL);
	}
	free(err);
	json_object_put(l.resource);
	json_object_put(l.vault);
	json_object_put(l.vars);
	json_object_put(l.journal);
	json_object_put(o);
	free(text);
	return 0;
}
