/* Step 5, assign role: whether the identity can use the key already and how,
 * what azcmk proposes, and every prerequisite. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "jx.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* The step's private state: the findings of the change, as a list, and the one
 * whose explanation is open. */
struct role {
	struct ui_list list;
	bool explain;
	char *error;
};

/* Orders the findings worst first, keeping the rules' order among equals. */
static void worst_first(struct cmk_report *r)
{
	for (size_t i = 1; i < r->n; i++) {
		struct cmk_finding f = r->items[i];
		size_t j = i;

		while (j > 0 && r->items[j - 1].severity < f.severity) {
			r->items[j] = r->items[j - 1];
			j--;
		}
		r->items[j] = f;
	}
}

/*
 * Reads everything the change needs judging (task thread): the resource,
 * the identity, the vault, the key (or, for a key to create, that its name
 * is free), the assignments and your permissions; then runs the rules. The
 * screen learns of it in role_done, on the loop's thread.
 */
static int read_change(struct wizard *w, void *arg)
{
	struct role *st = arg;
	struct cmk_target t = { .resource = w->resource,
				.key_uri = w->key_uri,
				.identity = w->identity,
				.confirmed = true };
	struct az_error e = { 0 };
	int rc;

	if (!w->key_uri) {
		t.vault = w->create_vault;
		t.key = w->create_key;
	}
	rc = cmk_fetch(w->s, &t, &w->chg, &e);
	if (rc == 0 && !w->key_uri && w->chg.ctx.key_status == 200) {
		st->error = xasprintf(_("key '%s' already exists in vault %s"),
				      w->create_key, w->create_vault);
		rc = -1;
	}
	if (rc == 0) {
		w->chg.ctx.change = true;
		w->chg.ctx.drop_system =
			w->system_off &&
			jx_str(w->chg.ctx.resource, "identity.principalId");
		if (!w->key_uri)
			w->chg.ctx.key_status = w->chg.ctx.versions_status =
				w->chg.ctx.rotation_status = 404;
		cmk_check(&w->chg.ctx, &w->rep);
		worst_first(&w->rep);
	} else {
		cmk_fetch_free(&w->chg);
		if (!st->error)
			st->error = xstrdup(e.message ? e.message : "?");
	}
	az_error_clear(&e);
	return rc;
}

/* Allocates the step's state. */
static void *role_init(struct ui *u)
{
	(void)u;
	return xcalloc(1, sizeof(struct role));
}

/* Frees the step's state. */
static void role_free(void *p)
{
	struct role *st = p;

	ui_list_free(&st->list);
	free(st->error);
	free(st);
}

/* Reads the change when it was not read for these choices yet. */
static void role_enter(struct ui *u, void *p)
{
	struct role *st = p;

	ui_list_unfilter(&st->list);
	if (u->wiz.have_chg || ui_busy(u))
		return;
	free(st->error);
	st->error = NULL;
	st->explain = false;
	ui_list_reset(&st->list, 0);
	ui_task_start(
		u, _("checking the identity's access and every prerequisite"),
		read_change, st);
}

/* Returns what the filter matches in a finding. */
static const char *finding_text(void *ctx, size_t i)
{
	struct ui *u = ctx;

	return u->wiz.rep.items[i].message;
}

/* Paints one finding of the change. */
static void finding_row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	const struct cmk_finding *f = &u->wiz.rep.items[i];
	char *label = text_pad(cmk_finding_label(f), 8);

	(void)ctx;
	ui_put(u, y, 0, 9, label,
	       selected ? ui_attr(u, UI_A_SELECTED)
			: ui_severity_attr(u, f->severity));
	ui_put(u, y, 9, u->cols - 9, f->message, (int)A_NORMAL);
	free(label);
}

/* Returns the least grant the plan makes for the key's kind of vault
 * (translated). */
static const char *grant_text(const struct cmk_ctx *c)
{
	if (c->keyref.hsm)
		return _("the Managed HSM local role Managed HSM Crypto "
			 "Service Encryption User on the key alone");
	if (jx_bool(c->vault, "properties.enableRbacAuthorization", false))
		return _("the role Key Vault Crypto Service Encryption User on "
			 "the key alone");
	return _("an access policy with get, wrapKey and unwrapKey");
}

/* Adds, where the service's documents disagree on the role, what they say to a
 * grant's text (taken); allocated. */
static char *with_role_note(const struct cmk_ctx *c, char *text)
{
	char *out;

	/* The notes are about Key Vault's roles; a Managed HSM has its own
	 * local ones. */
	if (!c->svc || !c->svc->docs_role_note || c->keyref.hsm)
		return text;
	out = xasprintf("%s %s", text, _(c->svc->docs_role_note));
	free(text);
	return out;
}

/* Describes the identity's access to the key now, and what the plan will do
 * about it (allocated). */
static char *access_text(struct ui *u)
{
	struct wizard *w = &u->wiz;
	const struct cmk_ctx *c = &w->chg.ctx;
	const char *p = cmk_principal(c);
	char *how = NULL;

	if (!w->key_uri)
		return with_role_note(
			c, xasprintf(_("The key %s is to be created in %s; the "
				       "plan then grants the identity "
				       "%s."),
				     w->create_key, w->create_vault,
				     grant_text(c)));
	if (p && c->vault && cmk_principal_has_access(c, p, &how)) {
		char *out = xasprintf(_("The identity can use the key already, "
					"through %s: nothing to grant."),
				      how);
		free(how);
		return out;
	}
	if (!p)
		return with_role_note(
			c, xasprintf(_("The identity does not exist yet: once "
				       "the plan creates it, it grants "
				       "it %s."),
				     grant_text(c)));
	return with_role_note(
		c, xasprintf(_("The identity cannot use the key yet: the plan "
			       "grants it %s, the least that "
			       "will do."),
			     grant_text(c)));
}

/*
 * Returns what the plan will do about a finding, in the words of the one
 * answer the review's plan builder gives too (plan_fix_answer), and whether
 * that is good news.
 */
static const char *plan_says(const struct ui *u, const struct cmk_finding *f,
			     bool *good)
{
	const struct wizard *w = &u->wiz;
	struct plan_choices ch = { .create_key = w->create_key != NULL,
				   .new_key_name = w->create_key,
				   .system_off = w->system_off };

	*good = false;
	switch (plan_fix_answer(&w->chg.ctx, f, &ch)) {
	case PLAN_FIXES:
		*good = true;
		return _("The plan includes this fix.");
	case PLAN_NEEDS_CONFIRMATION:
		return _("The plan can fix this only once you accept an "
			 "irreversible change: run again with "
			 "--confirm-irreversible. Until then the review builds "
			 "no plan.");
	case PLAN_NEEDS_NEW_KEY:
		return _("Only a new key fixes this: go back to the key step "
			 "and choose to create one. Until then the "
			 "review builds no plan.");
	case PLAN_CANNOT:
		return _("No plan step can fix this: it needs a person first "
			 "(see the fix above). Until then the review "
			 "builds no plan.");
	case PLAN_NOT_JUDGED:
		return _("azcmk could not judge this, so the review builds no "
			 "plan until it can: press r to read again.");
	case PLAN_NOT_NEEDED:
	default:
		return NULL;
	}
}

/* Paints the open explanation of the selected finding, and what the plan will
 * do about it. */
static void explain(struct ui *u, const struct cmk_finding *f, int top,
		    int rows)
{
	int last = top + rows - 1;
	int y = ui_explanation(u, f->severity, f->message, f->detail,
			       f->rule->explanation, f->rule->fix, top, last);
	bool good;
	const char *says = plan_says(u, f, &good);

	if (says)
		ui_paragraph(u, y + 1, last, 2, says,
			     good ? ui_attr(u, UI_A_OK)
				  : ui_severity_attr(u, SEV_BLOCKER));
}

/* Paints the access, then every finding of the change, or the open explanation.
 */
static void role_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	struct role *st = p;
	char *line, *key;
	int y = top + 1, last = top + rows - 1;
	size_t i;

	if (!w->have_chg) {
		ui_put(u, y, 2, u->cols - 4,
		       st->error ? st->error : _("Checking..."),
		       st->error ? ui_attr(u, UI_A_BLOCKER) : (int)A_NORMAL);
		ui_list_draw_pending(u, &st->list, last);
		return;
	}
	if (st->explain && ui_list_selected(&st->list, &i)) {
		explain(u, &w->rep.items[i], top, rows);
		return;
	}
	key = key_ref_uri(&w->chg.ctx.keyref);
	line = xasprintf(_("Key %s for %s"), key,
			 jx_str(w->chg.resource, "name"));
	free(key);
	y = ui_paragraph(u, y, last, 2, line, A_BOLD);
	free(line);
	line = access_text(u);
	y = ui_paragraph(u, y, last, 2, line, (int)A_NORMAL);
	free(line);
	y = ui_paragraph(u, y + 1, last, 2,
			 w->rep.n ? _("Prerequisites that fail (e explains; "
				      "the plan fixes what it can):")
				  : _("Every prerequisite that applies holds."),
			 A_BOLD);
	ui_list_draw(u, &st->list, y, last - y + 1, finding_row, u);
}

/* Handles a key: move, explain, go on (not past a blocker the plan cannot fix),
 * or read again. */
static int role_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct wizard *w = &u->wiz;
	struct role *st = p;
	int in;

	if (st->explain) {
		st->explain =
			a == ACT_BACK || a == ACT_EXPLAIN || a == ACT_SELECT
				? false
				: st->explain;
		return a == ACT_QUIT || a == ACT_HELP ? UI_STAY : UI_REDRAW;
	}
	in = ui_list_key(&st->list, a, ch, u->rows - 9, finding_text, u);
	if (in != UI_STAY || st->list.filtering || !w->have_chg)
		return in;
	if (a == ACT_EXPLAIN && st->list.nview) {
		st->explain = true;
		return UI_REDRAW;
	}
	if (a == ACT_RELOAD && !ui_busy(u)) {
		wiz_forget_from(w, FORGET_CHANGE);
		role_enter(u, st);
		return UI_REDRAW;
	}
	if (a == ACT_SELECT || a == ACT_NEXT) {
		const struct cmk_finding *f = cmk_unfixable(&w->rep, "");

		if (f) {
			ui_status(u, 2,
				  _("%s: no plan can fix this; go back and "
				    "choose otherwise"),
				  f->rule->id);
			return UI_REDRAW;
		}
		return UI_GO_NEXT;
	}
	return UI_STAY;
}

/* Shows the findings once the change is read, through any filter typed
 * meanwhile (dropped when the read fails). */
static void role_done(struct ui *u, void *p, int rc)
{
	struct role *st = p;

	if (rc != 0) {
		ui_list_unfilter(&st->list);
		ui_status(u, 2, _("cannot check the change: %s"),
			  st->error ? st->error : "?");
		return;
	}
	u->wiz.have_chg = true;
	ui_list_fill(&st->list, u->wiz.rep.n, finding_text, u);
}

static const enum ui_action HINTS[] = { ACT_SELECT, ACT_EXPLAIN, ACT_RELOAD,
					ACT_BACK, ACT_NONE };

const struct wiz_step step_role = {
	.title = N_("Assign role"),
	.init = role_init,
	.free = role_free,
	.enter = role_enter,
	.draw = role_draw,
	.key = role_key,
	.done = role_done,
	.hints = HINTS,
};
