/* Step 3, enable identity: the resource's managed identities, and which one is
 * to reach the key (enabled or attached). */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "jx.h"
#include "survey.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* One choice: the system-assigned identity, or a user-assigned one (attached
 * already or not). */
struct choice {
	char *id; /* "system", or the ARM id */
	char *label;
	bool attached; /* on the resource now (for system: enabled) */
};

/* The step's private state: the choices and their list. */
struct identity {
	struct choice *c;
	size_t n;
	struct ui_list list;
	struct json_object *uais; /* user-assigned identities in the
				     subscriptions (task result) */
	struct cmk_report rep; /* the rules over the resource as it is, judged
				  once it is read */
	char *error;
};

/*
 * Reads the resource (and the key it uses) and the user-assigned identities
 * it could attach (task thread); the screen learns of it in identity_done.
 */
static int read_resource(struct wizard *w, void *arg)
{
	struct identity *st = arg;
	struct cmk_target t = { .resource = w->resource };
	struct az_error e = { 0 };
	int rc = cmk_fetch(w->s, &t, &w->cur, &e);

	if (rc == 0) {
		size_t n;
		const char **subs = wiz_chosen_subs(w, &n);

		if (cmk_list_identities(w->s, subs, n, &st->uais, &e) != 0)
			az_error_clear(&e);
		free(subs);
	} else {
		cmk_fetch_free(&w->cur);
		st->error = xstrdup(e.message ? e.message : "?");
	}
	az_error_clear(&e);
	return rc;
}

/* Frees the choices. */
static void clear_choices(struct identity *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->c[i].id);
		free(st->c[i].label);
	}
	free(st->c);
	st->c = NULL;
	st->n = 0;
}

/* Adds a choice. */
static void add(struct identity *st, const char *id, char *label, bool attached)
{
	st->c = xrealloc(st->c, (st->n + 1) * sizeof(*st->c));
	st->c[st->n].id = xstrdup(id);
	st->c[st->n].label = label;
	st->c[st->n].attached = attached;
	st->n++;
}

/* Returns what the filter matches for a choice. */
static const char *choice_text(void *ctx, size_t i)
{
	return ((struct identity *)ctx)->c[i].label;
}

/* Builds the choices (system-assigned, the attached user-assigned identities,
 * then those in the same region), through any filter typed meanwhile. */
static void build(struct ui *u, struct identity *st)
{
	struct json_object *res = u->wiz.cur.resource,
			   *map = jx_get(res,
					 "identity.userAssignedIdentities");
	const char *pid = jx_str(res, "identity.principalId");

	clear_choices(st);
	add(st, "system",
	    pid ? xstrdup(_("System-assigned identity: on"))
		: xstrdup(_("System-assigned identity: off; the plan turns it "
			    "on")),
	    pid != NULL);
	if (json_object_is_type(map, json_type_object)) {
		json_object_object_foreach(map, k, v)
		{
			(void)v;
			add(st, k,
			    xasprintf(_("User-assigned identity %s: attached"),
				      wiz_identity_name(k)),
			    true);
		}
	}
	for (size_t i = 0; i < jx_len(st->uais); i++) {
		const char *id = jx_str(jx_at(st->uais, i), "id");

		if (id && !jx_iget(map, id) &&
		    location_eq(jx_str(jx_at(st->uais, i), "location"),
				jx_str(res, "location")))
			add(st, id,
			    xasprintf(_("User-assigned identity %s: not "
					"attached; the plan attaches it"),
				      wiz_identity_name(id)),
			    false);
	}
	ui_list_fill(&st->list, st->n, choice_text, st);
}

/* Allocates the step's state. */
static void *identity_init(struct ui *u)
{
	(void)u;
	return xcalloc(1, sizeof(struct identity));
}

/* Frees the step's state. */
static void identity_free(void *p)
{
	struct identity *st = p;

	clear_choices(st);
	ui_list_free(&st->list);
	cmk_report_free(&st->rep);
	json_object_put(st->uais);
	free(st->error);
	free(st);
}

/* Reads the resource when it was not read yet. */
static void identity_enter(struct ui *u, void *p)
{
	struct identity *st = p;

	ui_list_unfilter(&st->list);
	if (u->wiz.have_cur)
		return;
	free(st->error);
	st->error = NULL;
	json_object_put(st->uais);
	st->uais = NULL;
	clear_choices(st);
	ui_list_reset(&st->list, 0);
	ui_task_start(u, _("reading the resource and its identities"),
		      read_resource, st);
}

/* Paints one choice, marked when it is the one chosen. */
static void choice_row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	struct identity *st = ctx;
	bool mine = u->wiz.identity && str_ieq(u->wiz.identity, st->c[i].id);
	bool going = u->wiz.system_off && st->c[i].attached &&
		     str_ieq(st->c[i].id, "system");
	char *line =
		xasprintf(" %s %s", mine ? "(*)" : "( )",
			  going ? _("System-assigned identity: on; the plan "
				    "turns it off once the key is saved")
				: st->c[i].label);

	ui_put(u, y, 0, u->cols, line,
	       selected ? ui_attr(u, UI_A_SELECTED) : (int)A_NORMAL);
	free(line);
}

/* Paints the resource's rules that are about it and its identity, under the
 * list. */
static int identity_rules(struct ui *u, const struct cmk_report *r, int y,
			  int last)
{
	for (size_t i = 0; i < r->n && y <= last; i++)
		if (str_istarts(r->items[i].rule->id, "identity.") ||
		    str_ieq(r->items[i].rule->id, "resource.ready") ||
		    str_ieq(r->items[i].rule->id, "resource.eligible"))
			y = ui_paragraph(
				u, y, last, 2, r->items[i].message,
				ui_severity_attr(u, r->items[i].severity));
	return y;
}

/* Paints the resource, its identities to choose from, and the identity rules
 * that fail. */
static void identity_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	struct identity *st = p;
	int y = top + 1, last = top + rows - 1;
	char *line;

	if (!w->have_cur) {
		ui_put(u, y, 2, u->cols - 4,
		       st->error ? st->error : _("Reading the resource..."),
		       st->error ? ui_attr(u, UI_A_BLOCKER) : (int)A_NORMAL);
		ui_list_draw_pending(u, &st->list, last);
		return;
	}
	line = xasprintf(_("%s (%s), in %s"), jx_str(w->cur.resource, "name"),
			 _(w->cur.ctx.svc->name),
			 jx_str(w->cur.resource, "location"));
	y = ui_paragraph(u, y, last, 2, line, A_BOLD);
	free(line);
	if (w->cur.ctx.keyref.name) {
		line = xasprintf(_("It uses key %s in vault %s now."),
				 w->cur.ctx.keyref.name,
				 w->cur.ctx.keyref.vault);
		y = ui_paragraph(u, y, last, 2, line, (int)A_NORMAL);
		free(line);
	}
	y = ui_paragraph(
		u, y + 1, last, 2,
		_("The identity that is to reach the key (Enter chooses it):"),
		A_BOLD);
	ui_list_draw(u, &st->list, y,
		     (int)st->n + 1 < last - y - 3 ? (int)st->n + 1
						   : last - y - 3,
		     choice_row, st);
	identity_rules(u, &st->rep, last - 2, last);
}

/* Tells whether the resource has a blocker no plan can fix (not ready, not
 * eligible); sets the status if so. */
static bool blocked(struct ui *u, const struct identity *st)
{
	const struct cmk_finding *f = cmk_unfixable(&st->rep, "resource.");

	if (f)
		ui_status(u, 2, "%s", f->message);
	return f != NULL;
}

/*
 * Decides, for a DICOM service given a user-assigned identity, what azcmk
 * plan decides: its key setting names no identity, so the system-assigned
 * one goes once the key is saved, unless the operator chose with o.
 */
static void dicom_default(struct ui *u, const struct identity *st, size_t i)
{
	struct wizard *w = &u->wiz;
	bool uai = !str_ieq(st->c[i].id, "system");

	if (w->system_chosen || !uai || !w->cur.ctx.svc ||
	    w->cur.ctx.svc->shape->identity || !st->n || !st->c[0].attached)
		return;
	if (!w->system_off) {
		w->system_off = true;
		wiz_forget_from(w, FORGET_CHANGE);
		ui_status(u, 0, "%s",
			  _("DICOM names no identity in its key setting: the "
			    "system-assigned identity goes once "
			    "the key is saved (o keeps it)."));
	}
}

/*
 * Turns the plan's "system-assigned identity off" choice on or off. It can
 * only go when a user-assigned identity reaches the key, which the plan
 * checks; here the operator is told what to choose next.
 */
static int toggle_system(struct ui *u, const struct identity *st)
{
	struct wizard *w = &u->wiz;

	if (!st->n || !st->c[0].attached) {
		ui_status(u, 1,
			  _("The system-assigned identity is off already; it "
			    "stays off unless chosen."));
		return UI_REDRAW;
	}
	w->system_off = !w->system_off;
	w->system_chosen = true;
	wiz_forget_from(w, FORGET_CHANGE);
	if (w->system_off)
		ui_status(u, 0, "%s",
			  _("The system-assigned identity goes once the key is "
			    "saved; choose a user-assigned one."));
	else
		ui_status(u, 0, "%s",
			  _("The system-assigned identity stays on."));
	return UI_REDRAW;
}

/* Handles a key: move, choose the identity and go on, turn the system-assigned
 * identity off or on, or read again. */
static int identity_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct wizard *w = &u->wiz;
	struct identity *st = p;
	size_t i;
	int in = ui_list_key(&st->list, a, ch, 8, choice_text, st);

	if (in != UI_STAY || st->list.filtering)
		return in;
	if (a == ACT_RELOAD && !ui_busy(u)) {
		wiz_forget_from(w, FORGET_RESOURCE);
		identity_enter(u, st);
		return UI_REDRAW;
	}
	if (a == ACT_SYSTEM_OFF && w->have_cur)
		return toggle_system(u, st);
	if ((a == ACT_SELECT || a == ACT_NEXT) && w->have_cur &&
	    ui_list_selected(&st->list, &i)) {
		if (blocked(u, st))
			return UI_REDRAW;
		if (w->system_off && str_ieq(st->c[i].id, "system")) {
			/* The identity that reaches the key cannot be the one
			 * the plan turns off. */
			w->system_off = false;
			wiz_forget_from(w, FORGET_CHANGE);
			ui_status(u, 0, "%s",
				  _("The system-assigned identity stays on: it "
				    "is the one to reach the key."));
		}
		if (!w->identity || !str_ieq(w->identity, st->c[i].id)) {
			wiz_forget_from(w, FORGET_CHANGE);
			free(w->identity);
			w->identity = xstrdup(st->c[i].id);
		}
		dicom_default(u, st, i);
		return UI_GO_NEXT;
	}
	return UI_STAY;
}

/* Shows the choices once the resource is read, through any filter typed
 * meanwhile (dropped when the read fails); the one in use (or the
 * system-assigned one) comes selected when the filter shows it. */
static void identity_done(struct ui *u, void *p, int rc)
{
	struct wizard *w = &u->wiz;
	struct identity *st = p;
	const char *def;

	if (rc != 0) {
		ui_list_unfilter(&st->list);
		ui_status(u, 2, _("cannot read '%s': %s"), w->resource,
			  st->error ? st->error : "?");
		return;
	}
	w->have_cur = true;
	cmk_report_free(&st->rep);
	cmk_check(&w->cur.ctx, &st->rep);
	build(u, st);
	def = w->cur.uai_id ? w->cur.uai_id : "system";
	for (size_t i = 0; i < st->n; i++)
		if (str_ieq(st->c[i].id, w->identity ? w->identity : def))
			ui_list_select(&st->list, i);
}

static const enum ui_action HINTS[] = { ACT_SELECT, ACT_SYSTEM_OFF, ACT_RELOAD,
					ACT_BACK, ACT_NONE };

const struct wiz_step step_identity = {
	.title = N_("Enable identity"),
	.init = identity_init,
	.free = identity_free,
	.enter = identity_enter,
	.draw = identity_draw,
	.key = identity_key,
	.done = identity_done,
	.hints = HINTS,
};
