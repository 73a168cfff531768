/* The wizard's fleet: the marked findings planned into one fleet as fix --all
 * plans them, its review, its apply with a live list, and the retry of what
 * failed. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetplan.h"
#include "fleetrun.h"
#include "i18n.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

#define PANEL_ROWS 3   /* the review's confirmation */
#define FAILURE_ROWS 7 /* the selected failure, whole */

/* Where the fleet screen is: planning, the review (with the typed
 * confirmation open or not), applying, or ended. */
enum phase { PH_PLANNING, PH_REVIEW, PH_CONFIRM, PH_RUNNING, PH_ENDED };

/* One resource's row while the fleet is applied (under the wizard's lock). */
struct row {
	enum fleet_row state;
	char *step, *message;
};

/* The fleet screen's state. */
struct fleetui {
	enum phase phase;
	const struct audit_finding **items; /* the marked findings (borrowed) */
	size_t nitems;
	struct cmd_opts o; /* the wizard's, with the task's cancel flag */
	struct fleet f;
	bool planned;
	char *path;   /* where the fleet is kept (apply --resume) */
	char *error;  /* why planning or apply could not start */
	char **lines; /* the review, rendered at the width wrapped_at */
	size_t nlines;
	int wrapped_at;
	struct ui_list list; /* the review's lines, or the resources' rows */
	char typed[8];
	bool retry;   /* the confirmation is for a retry of those in only */
	bool *only;   /* the plans the next apply runs */
	size_t nonly; /* how many */
	struct wizard *w;
	/* written by the task thread, under w->lock */
	struct row *rows;
	size_t ended, total, failed, stopped;
	bool stopping;
	int rc;
};

/* Frees the review's lines. */
static void drop_lines(struct fleetui *st)
{
	for (size_t i = 0; i < st->nlines; i++)
		free(st->lines[i]);
	free(st->lines);
	st->lines = NULL;
	st->nlines = 0;
	st->wrapped_at = 0;
}

/* Renders the review at width columns, as fix --all shows it, a line each. */
static void render(struct fleetui *st, int width)
{
	char *text = fleet_render_text(&st->f, width);

	drop_lines(st);
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");

		st->lines = xrealloc(st->lines,
				     (st->nlines + 1) * sizeof(*st->lines));
		st->lines[st->nlines++] = xstrndup(p, len);
		p += len + (p[len] == '\n');
	}
	free(text);
	st->wrapped_at = width;
	ui_list_reset(&st->list, st->nlines);
}

/* Plans the marked findings into one fleet and keeps it (task thread). */
static int plan_task(struct wizard *w, void *arg)
{
	struct fleetui *st = arg;
	struct fleet_request rq = { .o = &st->o, .s = w->s, .quiet = true };

	if (fleet_plan_findings(&rq, st->items, st->nitems, &st->f, NULL,
				&st->error) != 0)
		return 1;
	if (st->f.n && !(st->path = fleet_keep(&st->f, &st->error)))
		return 1;
	st->planned = true;
	return 0;
}

/* Records one resource's progress for the list (task thread). */
static void on_event(const struct fleet_event *ev, void *ctx)
{
	struct fleetui *st = ctx;

	pthread_mutex_lock(&st->w->lock);
	if (ev->index < st->f.n) {
		struct row *r = &st->rows[ev->index];

		r->state = ev->state;
		free(r->step);
		free(r->message);
		r->step = ev->step ? xstrdup(ev->step) : NULL;
		r->message = ev->message ? xstrdup(ev->message) : NULL;
	} else {
		st->stopping = true;
	}
	st->ended = ev->ended;
	st->total = ev->total;
	st->failed = ev->failed;
	st->stopped = ev->stopped;
	pthread_mutex_unlock(&st->w->lock);
}

/* Applies the plans of st->only, each in its worker process (task thread). */
static int apply_task(struct wizard *w, void *arg)
{
	struct fleetui *st = arg;
	struct fleet_hooks h = { .event = on_event,
				 .ctx = st,
				 .cancel = st->o.cancel,
				 .quiet = true,
				 .only = st->only };
	char *err = NULL;
	int rc = fleet_run(&st->o, &st->f, st->path, &h, &err);

	pthread_mutex_lock(&w->lock);
	free(st->error);
	st->error = err;
	st->rc = rc;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Frees the screen's state. */
static void fleetui_free(void *p)
{
	struct fleetui *st = p;

	drop_lines(st);
	ui_list_free(&st->list);
	for (size_t i = 0; st->rows && i < st->f.n; i++) {
		free(st->rows[i].step);
		free(st->rows[i].message);
	}
	free(st->rows);
	free(st->only);
	fleet_free(&st->f);
	free(st->items);
	free(st->path);
	free(st->error);
	free(st);
}

/* Returns a resource's name as the list shows it (allocated). */
static char *name_of(const struct plan *p)
{
	const char *slash = strrchr(p->resource_id, '/');

	return text_sanitize(slash ? slash + 1 : p->resource_id, false);
}

/* Returns a line of the review, or a resource's name (for the filter). */
static const char *line_text(void *ctx, size_t i)
{
	const struct fleetui *st = ctx;

	if (st->phase == PH_RUNNING || st->phase == PH_ENDED)
		return strrchr(st->f.plans[i].resource_id, '/');
	return st->lines[i];
}

/* Paints a line of the review. */
static void line_row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	const struct fleetui *st = ctx;

	ui_put(u, y, 0, u->cols, st->lines[i],
	       selected ? ui_attr(u, UI_A_SELECTED) : (int)A_NORMAL);
}

/* Returns the label of a row's state. */
static const char *state_label(enum fleet_row s)
{
	switch (s) {
	case FLEET_ROW_RUNNING:
		/* TRANSLATORS: a fleet row's state: at most 8 columns. */
		return _("running");
	case FLEET_ROW_DONE:
		/* TRANSLATORS: a fleet row's state: at most 8 columns. */
		return _("done");
	case FLEET_ROW_FAILED:
		/* TRANSLATORS: a fleet row's state: at most 8 columns. */
		return _("FAILED");
	case FLEET_ROW_STOPPED:
		/* TRANSLATORS: a fleet row's state: at most 8 columns. */
		return _("stopped");
	default:
		/* TRANSLATORS: a fleet row's state: at most 8 columns. */
		return _("pending");
	}
}

/* Paints one resource's row: its state, name, and where and why it failed
 * (the caller holds the lock). */
static void progress_row(struct ui *u, void *ctx, size_t i, int y,
			 bool selected)
{
	const struct fleetui *st = ctx;
	const struct row *r = &st->rows[i];
	char *name = name_of(&st->f.plans[i]),
	     *label = text_pad(state_label(r->state), 8),
	     *detail =
		     r->state == FLEET_ROW_FAILED
			     ? xasprintf(_("at %s: %s"),
					 r->step ? r->step : "-",
					 r->message ? r->message : "?")
		     : r->state == FLEET_ROW_STOPPED
			     ? xasprintf(_("after %s"), r->step ? r->step : "-")
			     : xstrdup(""),
	     *line = xasprintf(" %-30s %s", name, detail);
	int attr = r->state == FLEET_ROW_FAILED    ? UI_A_BLOCKER
		   : r->state == FLEET_ROW_DONE    ? UI_A_OK
		   : r->state == FLEET_ROW_STOPPED ? UI_A_WARNING
						   : UI_A_NORMAL;

	ui_put(u, y, 0, 1, "", A_NORMAL);
	ui_put(u, y, 1, 8, label,
	       selected ? ui_attr(u, UI_A_SELECTED) : ui_attr(u, attr));
	ui_put(u, y, 9, u->cols - 9, line, (int)A_NORMAL);
	free(name);
	free(label);
	free(detail);
	free(line);
}

/* Counts the changes that cannot be undone among the plans to apply: the
 * fleet's, or those of the plans a retry runs. */
static size_t irreversible(const struct fleetui *st)
{
	size_t n = 0;

	if (!st->retry)
		return fleet_irreversible(&st->f);
	for (size_t i = 0; i < st->f.n; i++)
		for (size_t k = 0; st->only[i] && k < st->f.plans[i].n; k++)
			n += !st->f.plans[i].steps[k].reversible;
	return n;
}

/* Paints the review: its head, the lines (scrolling), and the confirmation
 * or what to do. */
static void draw_review(struct ui *u, struct fleetui *st, int top, int rows)
{
	int last = top + rows - 1, panel = last - PANEL_ROWS + 1;

	if (st->wrapped_at != u->cols)
		render(st, u->cols);
	ui_list_draw(u, &st->list, top, panel - top, line_row, st);
	for (int y = panel; y <= last; y++)
		ui_put(u, y, 0, u->cols, "", A_NORMAL);
	if (st->phase == PH_CONFIRM) {
		char *q = xasprintf(
			P_("Apply the fleet plan to %zu resource (%zu "
			   "changes cannot be undone)? Type yes and "
			   "Enter, or Esc: %s_",
			   "Apply the fleet plan to %zu resources (%zu "
			   "changes cannot be undone)? Type yes and "
			   "Enter, or Esc: %s_",
			   st->nonly),
			st->nonly, irreversible(st), st->typed);
		ui_paragraph(u, panel, last, 1, q, ui_attr(u, UI_A_WARNING));
		free(q);
	} else if (!st->f.n) {
		ui_paragraph(u, panel, last, 1,
			     _("No marked resource can be fixed by azcmk "
			       "itself: see the skipped ones above. Esc goes "
			       "back."),
			     ui_attr(u, UI_A_BLOCKER));
	} else {
		ui_paragraph(u, panel, last, 1,
			     _("a applies the fleet (asks first); Esc goes "
			       "back to the findings."),
			     ui_attr(u, UI_A_DIM));
	}
}

/* Paints, under the list, where and why the selected resource failed, whole
 * (its row cuts it); the caller holds the lock. */
static void failure(struct ui *u, const struct fleetui *st, int y, int last)
{
	size_t i;
	const struct row *r;
	char *name, *text;

	if (!ui_list_selected(&st->list, &i) ||
	    st->rows[i].state != FLEET_ROW_FAILED)
		return;
	r = &st->rows[i];
	name = name_of(&st->f.plans[i]);
	text = xasprintf(_("%s failed: %s (at %s)"), name,
			 r->message ? r->message : "?",
			 r->step ? r->step : "-");
	ui_paragraph(u, y, last, 1, text, ui_attr(u, UI_A_BLOCKER));
	free(name);
	free(text);
}

/* Paints the apply: the summary line and a row per resource (under lock). */
static void draw_progress(struct ui *u, struct fleetui *st, int top, int rows)
{
	char *head, *tail = NULL;

	size_t n[FLEET_ROW_STOPPED + 1] = { 0 };

	pthread_mutex_lock(&st->w->lock);
	for (size_t i = 0; i < st->f.n; i++)
		n[st->rows[i].state]++;
	/* The whole fleet's counts: a retry's rows join the done ones. */
	head = xasprintf(_("Fleet plan %.8s: %zu/%zu done, %zu failed, %zu "
			   "stopped, %zu running"),
			 st->f.id, n[FLEET_ROW_DONE], st->f.n,
			 n[FLEET_ROW_FAILED], n[FLEET_ROW_STOPPED],
			 n[FLEET_ROW_RUNNING]);
	ui_put(u, top, 1, u->cols - 1, head, A_BOLD);
	ui_list_draw(u, &st->list, top + 1, rows - 2 - FAILURE_ROWS,
		     progress_row, st);
	failure(u, st, top + rows - 1 - FAILURE_ROWS, top + rows - 2);
	if (st->phase == PH_RUNNING && st->stopping)
		tail = xstrdup(_("Stopping after the steps under way (q again "
				 "cancels them)..."));
	else if (st->phase == PH_RUNNING)
		tail = xstrdup(_("Applying; q stops after the steps under "
				 "way."));
	else if (st->error)
		tail = xasprintf(_("The fleet could not start: %s"), st->error);
	else if (n[FLEET_ROW_DONE] < st->f.n)
		tail = xasprintf(_("r retries what failed or did not start; "
				   "or later: azcmk apply --resume %s"),
				 st->path);
	else
		tail = xstrdup(_("Every resource is done and verified. Esc "
				 "goes back to the findings."));
	pthread_mutex_unlock(&st->w->lock);
	ui_put(u, top + rows - 1, 1, u->cols - 1, tail,
	       st->phase == PH_ENDED &&
			       (n[FLEET_ROW_DONE] < st->f.n || st->error)
		       ? ui_attr(u, UI_A_WARNING)
		       : ui_attr(u, UI_A_DIM));
	free(head);
	free(tail);
}

/* Paints the screen for its phase. */
static void fleetui_draw(struct ui *u, void *p, int top, int rows)
{
	struct fleetui *st = p;

	for (int y = top; y < top + rows; y++)
		ui_put(u, y, 0, u->cols, "", A_NORMAL);
	if (st->phase == PH_PLANNING) {
		char *what =
			xasprintf(P_("Planning %zu marked finding into one "
				     "fleet, as azcmk fix --all does...",
				     "Planning %zu marked findings into one "
				     "fleet, as azcmk fix --all does...",
				     st->nitems),
				  st->nitems);

		ui_paragraph(u, top + 1, top + rows - 1, 2, what, A_NORMAL);
		free(what);
	} else if (!st->planned) {
		int y = ui_paragraph(u, top + 1, top + rows - 1, 2,
				     _("No fleet plan can be built:"),
				     ui_attr(u, UI_A_BLOCKER));

		ui_paragraph(u, y, top + rows - 1, 2,
			     st->error ? st->error : "?", (int)A_NORMAL);
	} else if (st->phase == PH_REVIEW || st->phase == PH_CONFIRM) {
		draw_review(u, st, top, rows);
	} else {
		draw_progress(u, st, top, rows);
	}
}

/* Says, from the rows, how many resources failed and how many stopped or
 * never started, when the fleet did not finish. */
static void unfinished(struct ui *u, struct fleetui *st)
{
	size_t failed = 0, left = 0;

	pthread_mutex_lock(&st->w->lock);
	for (size_t i = 0; st->rows && i < st->f.n; i++) {
		failed += st->rows[i].state == FLEET_ROW_FAILED;
		left += st->rows[i].state == FLEET_ROW_STOPPED ||
			st->rows[i].state == FLEET_ROW_PENDING;
	}
	pthread_mutex_unlock(&st->w->lock);
	ui_status(u, 1,
		  _("the fleet did not finish: %zu failed, %zu stopped or not "
		    "started"),
		  failed, left);
}

/* Starts the apply of the plans in st->only (after the confirmation). */
static void start_apply(struct ui *u, struct fleetui *st)
{
	for (size_t i = 0; i < st->f.n; i++)
		if (st->only[i]) {
			free(st->rows[i].step);
			free(st->rows[i].message);
			memset(&st->rows[i], 0, sizeof(st->rows[i]));
		}
	st->stopping = false;
	st->ended = st->failed = st->stopped = 0;
	st->total = st->nonly;
	free(st->error);
	st->error = NULL;
	st->o.resume = st->retry; /* a retry continues the plans' journals */
	if (st->phase != PH_RUNNING && st->phase != PH_ENDED)
		ui_list_reset(&st->list, st->f.n);
	st->phase = PH_RUNNING;
	if (!ui_task_start(u, _("applying the fleet"), apply_task, st))
		st->phase = PH_ENDED;
}

/* Handles a key of the typed confirmation: letters, Backspace, Enter (yes
 * applies), Esc. */
static int confirm_key(struct ui *u, struct fleetui *st, int ch)
{
	size_t len = strlen(st->typed);
	enum phase back = st->retry ? PH_ENDED : PH_REVIEW;

	if (ch == 27) {
		st->phase = back;
		ui_status(u, 0, _("nothing was changed"));
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (len)
			st->typed[len - 1] = '\0';
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		st->phase = back;
		if (!str_ieq(st->typed, "yes") && !str_ieq(st->typed, _("yes")))
			ui_status(u, 1,
				  _("not confirmed: nothing was changed"));
		else
			start_apply(u, st);
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(st->typed)) {
		st->typed[len] = (char)ch;
		st->typed[len + 1] = '\0';
	}
	return UI_REDRAW;
}

/* Opens the confirmation for the whole fleet (retry false) or for the plans
 * that failed or did not start (retry true); false when there are none. */
static bool ask(struct fleetui *st, bool retry)
{
	st->nonly = 0;
	for (size_t i = 0; i < st->f.n; i++) {
		st->only[i] = !retry || st->rows[i].state != FLEET_ROW_DONE;
		st->nonly += st->only[i];
	}
	if (!st->nonly)
		return false;
	st->retry = retry;
	st->typed[0] = '\0';
	st->phase = PH_CONFIRM;
	return true;
}

/* Handles a key while the fleet is applied or has ended: scroll, stop (q),
 * retry (r), back (Esc, once it ended). */
static int progress_key(struct ui *u, struct fleetui *st, enum ui_action a,
			int ch)
{
	int in;

	if (st->phase == PH_RUNNING && (a == ACT_QUIT || a == ACT_BACK)) {
		u->task.cancel = 1;
		return UI_REDRAW;
	}
	in = ui_list_key(&st->list, a, ch, u->rows - 5 - FAILURE_ROWS,
			 line_text, st);
	if (in != UI_STAY || st->phase == PH_RUNNING)
		return in;
	if (a == ACT_RELOAD) {
		if (!ask(st, true))
			ui_status(u, 0, _("nothing failed: nothing to retry"));
		return UI_REDRAW;
	}
	return a == ACT_BACK ? UI_GO_BACK : UI_STAY;
}

/* Handles a key: scroll the review, apply (a or Enter, after typing yes),
 * the progress keys, or go back to the findings. */
static int fleetui_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct fleetui *st = p;
	int in;

	if (st->phase == PH_CONFIRM)
		return confirm_key(u, st, ch);
	if (st->phase == PH_RUNNING || st->phase == PH_ENDED)
		return progress_key(u, st, a, ch);
	if (st->phase == PH_PLANNING || !st->planned)
		return a == ACT_BACK && !ui_busy(u) ? UI_GO_BACK : UI_STAY;
	in = ui_list_key(&st->list, a, ch, u->rows - 4 - PANEL_ROWS, line_text,
			 st);
	if (in != UI_STAY || st->list.filtering)
		return in;
	if ((a == ACT_APPLY || a == ACT_SELECT) && st->f.n) {
		ask(st, false);
		return UI_REDRAW;
	}
	return a == ACT_BACK ? UI_GO_BACK : UI_STAY;
}

/* Takes the end of planning or of an apply: the review, or the list with its
 * outcome. */
static void fleetui_done(struct ui *u, void *p, int rc)
{
	struct fleetui *st = p;

	if (st->phase == PH_PLANNING) {
		st->phase = PH_REVIEW;
		if (st->planned) {
			st->rows = xcalloc(st->f.n + 1, sizeof(*st->rows));
			st->only = xcalloc(st->f.n + 1, sizeof(*st->only));
		}
		if (rc != 0)
			ui_status(u, 2, _("the fleet was not planned: %s"),
				  st->error ? st->error : "?");
		return;
	}
	st->phase = PH_ENDED;
	u->wiz.audited =
		false; /* the findings are read again on the way back */
	if (rc == 0)
		ui_status(u, 0, _("the fleet is applied and verified"));
	else
		unfinished(u, st);
}

static const enum ui_action HINTS[] = { ACT_APPLY, ACT_RETRY, ACT_BACK,
					ACT_NONE };

/* The fleet screen, shown over the findings (not a step of the flow). */
static const struct wiz_step step_fleet = {
	.title = N_("Fix the marked findings as one fleet"),
	.free = fleetui_free,
	.draw = fleetui_draw,
	.key = fleetui_key,
	.done = fleetui_done,
	.hints = HINTS,
};

/* Opens the fleet screen over the findings for the n marked ones (borrowed
 * from the audit, which stays while it is open) and starts planning them. */
void ui_fleet_open(struct ui *u, const struct audit_finding **items, size_t n)
{
	struct fleetui *st = xcalloc(1, sizeof(*st));

	st->items = items;
	st->nitems = n;
	st->o = *u->wiz.o;
	st->o.cancel = &u->task.cancel;
	st->o.plan_only = false;
	st->w = &u->wiz;
	st->phase = PH_PLANNING;
	ui_aside_open(u, &step_fleet, st);
	if (!ui_task_start(u, _("planning the fleet"), plan_task, st)) {
		st->phase = PH_REVIEW;
		st->error = xstrdup(_("cannot start planning"));
	}
}
