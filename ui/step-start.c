/* Step 2, start: the audit's findings in the chosen subscriptions, or every
 * resource with its encryption state. */
#include "config.h"

#include <curses.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "survey.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* The step's private state: which view, its list, and the finding whose
 * explanation is open. */
struct start {
	bool resources; /* the view: every resource, or the findings */
	struct ui_list list;
	bool explain; /* the selected finding's explanation is open */
	char *error;
	char buf[1024]; /* the filter's text of one row */
	bool *marks;    /* the findings marked for one fleet (by index) */
	size_t nmarks;  /* the size of marks (the audit's findings) */
};

/* What the list's callbacks see: the wizard's findings and resources, and this
 * step's state. */
struct start_view {
	const struct wizard *w;
	struct start *st;
};

static void unmark(struct start *st, size_t n);

/* Notes how far the audit got for the busy line (on the task thread): what it
 * does now and the resources judged. */
static void audit_progress(void *ud, size_t subs, size_t resources,
			   const char *stage)
{
	struct wizard *w = ud;
	/* TRANSLATORS: the wizard's busy line while it audits, e.g. "reading
	 * Resource Graph (40 resources seen)"; %s is what the audit does now.
	 * With the spinner and " (Esc cancels)" it fits in 80 columns. */
	char *note = xasprintf(P_("%s (%zu resource seen)",
				  "%s (%zu resources seen)", resources),
			       survey_stage_text(stage), resources);

	(void)subs; /* the operator chose them on this screen */
	pthread_mutex_lock(&w->lock);
	free(w->task_note);
	w->task_note = note;
	pthread_mutex_unlock(&w->lock);
}

/* Audits the chosen subscriptions (on the task thread). */
static int run_audit(struct wizard *w, void *arg)
{
	struct start *st = arg;
	struct survey_opts so = { .progress = audit_progress, .ud = w };
	const char **subs = wiz_chosen_subs(w, &so.nsubs);
	struct az_error e = { 0 };
	int rc;

	so.subscriptions = subs;
	/* The deep checks too: a key that was lost shows only when the keys in
	 * use are read. */
	so.deep = true;
	audit_free(&w->audit);
	rc = cmk_audit(w->s, &so, &w->audit, &e);
	if (rc != 0)
		st->error = xstrdup(e.message ? e.message : "?");
	az_error_clear(&e);
	free(subs);
	return rc;
}

/* Starts the audit of the chosen subscriptions. */
static void start_audit(struct ui *u, struct start *st)
{
	free(st->error);
	st->error = NULL;
	st->explain = false;
	ui_list_reset(&st->list, 0);
	unmark(st, 0);
	ui_task_start(u, _("auditing the chosen subscriptions"), run_audit, st);
}

/* Allocates the step's state. */
static void *start_init(struct ui *u)
{
	(void)u;
	return xcalloc(1, sizeof(struct start));
}

/* Frees the step's state. */
static void start_free(void *p)
{
	struct start *st = p;

	ui_list_free(&st->list);
	free(st->error);
	free(st->marks);
	free(st);
}

/* Audits when shown with a scope that was not audited yet. */
static void start_enter(struct ui *u, void *p)
{
	ui_list_unfilter(&((struct start *)p)->list);
	if (!u->wiz.audited)
		start_audit(u, p);
}

/* Returns what the filter matches in a row: the names, rule, severity and
 * message. */
static const char *row_text(void *ctx, size_t i)
{
	const struct start_view *v = ctx;
	struct start *st = v->st;

	if (st->resources) {
		const struct audit_resource *r = &v->w->audit.resources[i];

		snprintf(st->buf, sizeof(st->buf), "%s %s %s %s", r->name,
			 r->resource_group, r->service,
			 r->cmk ? "cmk" : "microsoft");
	} else {
		const struct audit_finding *f = &v->w->audit.items[i];

		snprintf(st->buf, sizeof(st->buf), "%s %s %s %s %s",
			 cmk_severity_name(f->severity), f->rule, f->name,
			 f->resource_group, f->message);
	}
	return st->buf;
}

/*
 * Paints one row: a finding (severity, then the message) or a resource (name,
 * service, encryption). The selection shows on the severity label only, so
 * moving in the list rewrites a few cells, not two whole lines.
 */
static void row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	struct wizard *w = &u->wiz;
	const struct start *st = ((const struct start_view *)ctx)->st;
	char *line;

	if (st->resources) {
		const struct audit_resource *r = &w->audit.resources[i];
		const struct svc_profile *p = svc_by_key(r->service);

		line = xasprintf("  %-32s %-24s %s", r->name,
				 p ? _(p->name) : r->service,
				 r->cmk ? _("customer-managed")
					: _("Microsoft-managed"));
		ui_put(u, y, 0, u->cols, line,
		       selected ? ui_attr(u, UI_A_SELECTED) : (int)A_NORMAL);
	} else {
		const struct audit_finding *f = &w->audit.items[i];
		char *label = text_pad(cmk_severity_label(f->severity), 8);

		line = xasprintf(" %s", f->message);
		ui_put(u, y, 0, 9, label,
		       selected ? ui_attr(u, UI_A_SELECTED)
				: ui_severity_attr(u, f->severity));
		/* The mark column: marked findings are fixed as one fleet. */
		if (i < st->nmarks && st->marks[i])
			ui_put(u, y, 8, 1, "*", A_BOLD);
		ui_put(u, y, 9, u->cols - 9, line, (int)A_NORMAL);
		free(label);
	}
	free(line);
}

/* Paints the open explanation of the selected finding: what failed, why it
 * matters, what to do. */
static void explanation(struct ui *u, const struct audit_finding *f, int top,
			int rows)
{
	int last = top + rows - 1;
	int y = ui_explanation(u, f->severity, f->message, f->detail,
			       f->explanation, f->fix, top, last);
	char *id = xasprintf(_("Finding %s, rule %s, on %s"), f->id, f->rule,
			     f->resource_id);

	ui_paragraph(u, y + 1, last, 2, id, ui_attr(u, UI_A_DIM));
	free(id);
}

/* Counts the marked findings. */
static size_t marked(const struct start *st)
{
	size_t n = 0;

	for (size_t i = 0; i < st->nmarks; i++)
		n += st->marks[i];
	return n;
}

/* Forgets every mark, for n findings (a new audit). */
static void unmark(struct start *st, size_t n)
{
	free(st->marks);
	st->marks = xcalloc(n + 1, sizeof(*st->marks));
	st->nmarks = n;
}

/* Tells whether a finding can be marked: it names a resource. */
static bool markable(const struct audit_finding *f)
{
	return *f->service && f->resource_id && *f->resource_id;
}

/* Space: marks or unmarks the selected finding; a marks every finding the
 * filter shows. */
static int mark(struct ui *u, struct start *st, bool all)
{
	const struct audit_report *a = &u->wiz.audit;
	size_t i;

	if (st->nmarks != a->n)
		unmark(st, a->n);
	if (all) {
		for (size_t r = 0; r < st->list.nview; r++)
			st->marks[st->list.view[r]] |=
				markable(&a->items[st->list.view[r]]);
	} else if (ui_list_selected(&st->list, &i)) {
		if (markable(&a->items[i]))
			st->marks[i] = !st->marks[i];
		else
			ui_status(u, 1,
				  _("this finding is about a subscription, "
				    "not a resource: it cannot be marked"));
	}
	return UI_REDRAW;
}

/* Opens the fleet of the marked findings (over this step). */
static int fix_marked(struct ui *u, struct start *st)
{
	const struct audit_finding **items =
		xcalloc(st->nmarks + 1, sizeof(*items));
	size_t n = 0;

	for (size_t i = 0; i < st->nmarks; i++)
		if (st->marks[i])
			items[n++] = &u->wiz.audit.items[i];
	ui_fleet_open(u, items, n);
	return UI_REDRAW;
}

/* Paints the summary line, then the findings or the resources, or the open
 * explanation. */
static void start_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	struct start *st = p;
	struct start_view view = { w, st };
	size_t i, cmk = 0, sev[3] = { 0 };
	char *line, *counts;

	if (ui_busy(u) || !w->audited) {
		ui_put(u, top, 0, u->cols, "", A_NORMAL);
		ui_put(u, top + 1, 2, u->cols - 4,
		       st->error ? st->error : _("Auditing..."),
		       st->error ? ui_attr(u, UI_A_BLOCKER) : (int)A_NORMAL);
		for (int y = top + 2; y < top + rows; y++)
			ui_put(u, y, 0, u->cols, "", A_NORMAL);
		ui_list_draw_pending(u, &st->list, top + rows - 1);
		return;
	}
	if (st->explain && !st->resources && ui_list_selected(&st->list, &i)) {
		explanation(u, &w->audit.items[i], top, rows);
		return;
	}
	for (i = 0; i < w->audit.nres; i++)
		cmk += w->audit.resources[i].cmk;
	for (i = 0; i < w->audit.n; i++)
		sev[w->audit.items[i].severity]++;
	counts = audit_counts_text(sev[SEV_BLOCKER], sev[SEV_WARNING],
				   sev[SEV_NOTE]);
	line = st->resources
		       ? xasprintf(_("Every resource: %zu, %zu of them on a "
				     "customer-managed key"),
				   w->audit.nres, cmk)
		       /* TRANSLATORS: %s is the counts, as "3 blockers, 1
			* warning, 0 notes"; then the resources judged. */
		       : xasprintf(P_("Findings: %s, in %zu resource",
				      "Findings: %s, in %zu resources",
				      w->audit.nres),
				   counts, w->audit.nres);
	ui_put(u, top, 1, u->cols - 1, line, A_BOLD);
	free(line);
	free(counts);
	ui_list_draw(u, &st->list, top + 1, rows - 1, row, &view);
	if (marked(st))
		u->note = xasprintf(
			P_("%zu finding marked: Enter fixes it as a fleet, "
			   "Space unmarks",
			   "%zu findings marked: Enter fixes them as one "
			   "fleet, Space unmarks",
			   marked(st)),
			marked(st));
}

/* Takes the selected row's resource as the one the flow is about, and goes on.
 */
static int choose(struct ui *u, struct start *st)
{
	struct wizard *w = &u->wiz;
	size_t i;
	const char *id;

	if (!ui_list_selected(&st->list, &i))
		return UI_STAY;
	id = st->resources ? w->audit.resources[i].id
			   : w->audit.items[i].resource_id;
	if (!st->resources && !*w->audit.items[i].service) {
		ui_status(u, 1,
			  _("this finding is about a subscription, not a "
			    "resource: choose a resource"));
		return UI_REDRAW;
	}
	if (!w->resource || strcmp(w->resource, id) != 0) {
		wiz_forget_from(w, FORGET_RESOURCE);
		free(w->resource);
		w->resource = xstrdup(id);
	}
	/* The later steps preselect what this finding's fix needs (the key in
	 * use, or a new one). */
	w->finding =
		st->resources ? NULL : cmk_rule_find(w->audit.items[i].rule);
	return UI_GO_NEXT;
}

/* Handles a key: move, filter, switch between findings and resources, explain,
 * choose, audit again. */
static int start_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct wizard *w = &u->wiz;
	struct start *st = p;
	struct start_view view = { w, st };
	int in;

	if (st->explain) {
		if (a == ACT_SELECT || a == ACT_NEXT) {
			st->explain = false;
			return choose(u, st);
		}
		if (a == ACT_BACK || a == ACT_EXPLAIN) {
			st->explain = false;
			return UI_REDRAW;
		}
		return a == ACT_QUIT || a == ACT_HELP ? UI_STAY : UI_REDRAW;
	}
	in = ui_list_key(&st->list, a, ch, u->rows - 5, row_text, &view);
	if (in != UI_STAY || st->list.filtering || !w->audited)
		return in;
	if (a == ACT_SWITCH) {
		st->resources = !st->resources;
		ui_list_reset(&st->list,
			      st->resources ? w->audit.nres : w->audit.n);
		return UI_REDRAW;
	}
	if (a == ACT_EXPLAIN && !st->resources && st->list.nview) {
		st->explain = true;
		return UI_REDRAW;
	}
	if ((a == ACT_TOGGLE || a == ACT_APPLY) && !st->resources &&
	    st->list.nview)
		return mark(u, st, a == ACT_APPLY); /* a: mark all */
	if ((a == ACT_SELECT || a == ACT_NEXT) && marked(st))
		return fix_marked(u, st);
	if ((a == ACT_SELECT || a == ACT_NEXT) && st->list.nview)
		return choose(u, st);
	if (a == ACT_RELOAD && !ui_busy(u)) {
		w->audited = false;
		start_audit(u, st);
		return UI_REDRAW;
	}
	return UI_STAY;
}

/* Shows the findings once the audit is done, through any filter typed
 * meanwhile, or why it stopped (dropping that filter). */
static void start_done(struct ui *u, void *p, int rc)
{
	struct wizard *w = &u->wiz;
	struct start *st = p;
	struct start_view view = { w, st };

	if (rc != 0) {
		ui_list_unfilter(&st->list);
		ui_status(u, 2, _("the audit stopped: %s"),
			  st->error ? st->error : "?");
		return;
	}
	w->audited = true;
	unmark(st, w->audit.n);
	ui_list_fill(&st->list, st->resources ? w->audit.nres : w->audit.n,
		     row_text, &view);
	if (!w->audit.n)
		ui_status(u, 0,
			  _("no findings: every resource in scope uses a "
			    "customer-managed key that works"));
}

static const enum ui_action HINTS[] = { ACT_SELECT, ACT_EXPLAIN, ACT_SWITCH,
					ACT_FILTER, ACT_RELOAD,  ACT_BACK,
					ACT_NONE };

const struct wiz_step step_start = {
	.title = N_("Findings and resources"),
	.init = start_init,
	.free = start_free,
	.enter = start_enter,
	.draw = start_draw,
	.key = start_key,
	.done = start_done,
	.hints = HINTS,
};
