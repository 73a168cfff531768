/* Step 7, review and save: the plan with its diffs and irreversible marks;
 * apply it, save it, or export it. */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apply.h"
#include "cli.h"
#include "i18n.h"
#include "jx.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

#define LOG_ROWS 6

/* Continuation lines of a wrapped plan line start under the text of the diff
 * lines. */
#define WRAP_INDENT "         "

/* The step's private state: the plan's text as wrapped lines, the typed
 * confirmation, and the apply's outcome. */
struct review {
	char *text;   /* the plan as text, as the renderer wrote it */
	char **lines; /* ... wrapped to the width it was last drawn at */
	bool *warn;   /* the line belongs to an irreversible step's title */
	size_t n;
	int wrapped_at; /* the width of that wrapping (0: not wrapped yet) */
	struct ui_list list;
	char *error;     /* why no plan could be built */
	bool confirming; /* the "type yes" prompt is open */
	char typed[8];
	char *apply_error;
	char *plan_path; /* where the plan was kept (for apply --resume) */
};

/* Frees the wrapped lines (the plan's text stays). */
static void drop_wrapped(struct review *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->lines[i]);
	free(st->lines);
	free(st->warn);
	st->lines = NULL;
	st->warn = NULL;
	st->n = 0;
	st->wrapped_at = 0;
}

/* Frees the plan's text and lines. */
static void drop_lines(struct review *st)
{
	drop_wrapped(st);
	free(st->text);
	st->text = NULL;
}

/* Adds one wrapped line. */
static void add_line(struct review *st, char *line, bool warn)
{
	st->lines = xrealloc(st->lines, (st->n + 1) * sizeof(*st->lines));
	st->warn = xrealloc(st->warn, (st->n + 1) * sizeof(*st->warn));
	st->lines[st->n] = line;
	st->warn[st->n++] = warn;
}

/* Tells whether a line of the plan's text is the title ("N. ...") of a step
 * that cannot be undone. */
static bool irreversible_title(const char *line, const struct plan *plan)
{
	char *end;
	long k = strtol(line, &end, 10);

	return end != line && *end == '.' && k >= 1 && (size_t)k <= plan->n &&
	       !plan->steps[k - 1].reversible;
}

/*
 * Returns where a line of the plan ends at width columns: at a space, unless
 * the word after it is too long for any line (a URL, a JSON body), which is
 * then cut where the line is full.
 */
static size_t plan_cut(const char *p, size_t len, int width, int rest)
{
	size_t cut = text_break(p, len, width), word = cut, end;
	char *w;
	int ww;

	if (cut >= len)
		return cut;
	while (word < len && p[word] == ' ')
		word++;
	end = word + strcspn(p + word, " \n");
	w = xstrndup(p + word, (end < len ? end : len) - word);
	ww = text_width(w);
	free(w);
	return ww > rest ? text_fit(p, len, width) : cut;
}

/*
 * Wraps the plan's text to width display columns for the scrolling list, so
 * that no URL or diff is cut: continuation lines are indented under the text.
 */
static void wrap_lines(struct review *st, int width, const struct plan *plan)
{
	int rest = width - (int)strlen(WRAP_INDENT) > 20
			   ? width - (int)strlen(WRAP_INDENT)
			   : width;

	drop_wrapped(st);
	for (const char *p = st->text; p && *p;) {
		size_t len = strcspn(p, "\n"),
		       cut = plan_cut(p, len, width, rest);
		bool warn = irreversible_title(p, plan);

		add_line(st, xstrndup(p, cut), warn);
		for (size_t at = cut; at < len;) {
			size_t more;

			while (at < len && p[at] == ' ')
				at++;
			if (at == len)
				break;
			more = plan_cut(p + at, len - at, rest, rest);
			add_line(st,
				 xasprintf(WRAP_INDENT "%.*s", (int)more,
					   p + at),
				 warn);
			at += more;
		}
		p += len + (p[len] == '\n');
	}
	st->wrapped_at = width;
	ui_list_reset(&st->list, st->n);
}

/* Keeps the plan's text; it is wrapped when drawn. */
static void set_lines(struct review *st, const char *text)
{
	drop_lines(st);
	st->text = xstrdup(text);
}

/* Builds the plan from the change and the choices; on failure keeps why. */
static void build(struct ui *u, struct review *st)
{
	struct wizard *w = &u->wiz;
	struct plan_choices ch = { .create_key = w->create_key != NULL,
				   .new_key_name = w->create_key,
				   .system_off = w->system_off };
	char *err = NULL, *text;

	free(st->error);
	st->error = NULL;
	if (plan_build(&w->chg.ctx, &w->rep, &ch, &w->plan, &err) != 0) {
		st->error = err;
		drop_lines(st);
		return;
	}
	w->have_plan = true;
	w->dirty = true;
	text = plan_render_text(&w->plan, &w->chg.ctx, false);
	set_lines(st, text);
	free(text);
}

/* Allocates the step's state. */
static void *review_init(struct ui *u)
{
	(void)u;
	return xcalloc(1, sizeof(struct review));
}

/* Frees the step's state. */
static void review_free(void *p)
{
	struct review *st = p;

	drop_lines(st);
	ui_list_free(&st->list);
	free(st->error);
	free(st->apply_error);
	free(st->plan_path);
	free(st);
}

/* Builds the plan when there is none for the current choices. */
static void review_enter(struct ui *u, void *p)
{
	struct review *st = p;

	st->confirming = false;
	ui_list_unfilter(&st->list);
	if (!u->wiz.have_plan && u->wiz.have_chg)
		build(u, st);
}

/* Returns a line of the plan (for the filter). */
static const char *line_text(void *ctx, size_t i)
{
	return ((struct review *)ctx)->lines[i];
}

/* Paints one line of the plan, irreversible steps marked. */
static void line_row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	const struct review *st = ctx;

	ui_put(u, y, 0, u->cols, st->lines[i],
	       selected      ? ui_attr(u, UI_A_SELECTED)
	       : st->warn[i] ? ui_attr(u, UI_A_WARNING)
			     : (int)A_NORMAL);
}

/* Counts the plan's irreversible steps. */
static size_t irreversible(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += !p->steps[i].reversible;
	return n;
}

/* Paints the bottom panel: the typed confirmation, or what apply reported. */
static void panel(struct ui *u, struct review *st, int y, int last)
{
	struct wizard *w = &u->wiz;
	char *log;

	if (st->confirming) {
		char *q = xasprintf(_("Apply %zu steps (%zu irreversible) to "
				      "%s? Type yes and Enter, or Esc: %s_"),
				    w->plan.n, irreversible(&w->plan),
				    jx_str(w->chg.resource, "name"), st->typed);

		ui_paragraph(u, y, last, 1, q, ui_attr(u, UI_A_WARNING));
		free(q);
		return;
	}
	pthread_mutex_lock(&w->lock);
	log = xstrdup(w->apply_log ? w->apply_log : "");
	pthread_mutex_unlock(&w->lock);
	{
		const char *p = log;
		int lines = 0;

		for (const char *q = log; *q; q++)
			lines += *q == '\n';
		while (lines > last - y + 1 && (p = strchr(p, '\n')) != NULL) {
			p++;
			lines--;
		}
		ui_paragraph(u, y, last, 1, p ? p : "", (int)A_NORMAL);
	}
	free(log);
}

/* Paints the plan (scrolling), its summary, and the confirmation or apply
 * panel. */
static void review_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	struct review *st = p;
	int last = top + rows - 1, panel_top = last - LOG_ROWS + 1;
	char *head;

	if (st->error || !w->have_plan) {
		int y = ui_paragraph(u, top + 1, last, 2,
				     _("No plan can be built:"),
				     ui_attr(u, UI_A_BLOCKER));

		ui_paragraph(
			u, y, last, 2,
			st->error ? st->error
				  : _("go back and finish the earlier steps"),
			(int)A_NORMAL);
		return;
	}
	head = xasprintf(_("Plan %.8s: %zu steps, %zu of them irreversible"),
			 w->plan.id, w->plan.n, irreversible(&w->plan));
	ui_put(u, top, 1, u->cols - 1, head, A_BOLD);
	free(head);
	if (st->wrapped_at != u->cols)
		wrap_lines(st, u->cols, &w->plan);
	ui_list_draw(u, &st->list, top + 1, panel_top - top - 1, line_row, st);
	panel(u, st, panel_top, last);
}

/* Records one line of apply's progress (task thread), for the panel. */
static void on_progress(const char *line, void *ctx)
{
	struct wizard *w = ctx;
	char *clean = text_sanitize(line, false);

	pthread_mutex_lock(&w->lock);
	{
		char *joined = xasprintf(
			"%s%s\n", w->apply_log ? w->apply_log : "", clean);

		free(w->apply_log);
		w->apply_log = joined;
	}
	pthread_mutex_unlock(&w->lock);
	free(clean);
}

/* Carries the plan out (task thread), journalled like azcmk apply. */
static int run_apply(struct wizard *w, void *arg)
{
	struct review *st = arg;
	struct apply_opts ao = { .propagation_wait_s = w->o->propagation_wait,
				 .save_retry_s = w->o->access_wait,
				 .progress = on_progress,
				 .ctx = w };
	struct az_error e = { 0 };
	int rc = cmk_apply(w->s, &w->plan, &ao, &e);

	if (rc != 0)
		st->apply_error = xstrdup(e.message ? e.message : "?");
	az_error_clear(&e);
	return rc;
}

/* Writes text to a file with a mode; false with a status message when it
 * cannot. */
static bool write_out(struct ui *u, const char *path, const char *text,
		      mode_t mode)
{
	char *err = NULL;
	bool ok = cli_write_file(path, text, &err) && chmod(path, mode) == 0;

	if (!ok)
		ui_status(u, 2, _("cannot write '%s': %s"), path,
			  err ? err : strerror(errno));
	free(err);
	return ok;
}

/* Keeps the plan beside its journal (0600), for azcmk apply and --resume;
 * returns its path, or NULL with a status. */
static char *keep_plan(struct ui *u)
{
	char *err = NULL, *path = cmk_keep_plan(&u->wiz.plan, &err);

	if (!path)
		ui_status(u, 2, "%s", err);
	free(err);
	return path;
}

/* Exports the plan as an ARM template or an az script in the current directory,
 * and says where. */
static void export(struct ui *u, bool arm)
{
	struct wizard *w = &u->wiz;
	char *text = arm ? plan_render_arm(&w->plan, &w->chg.ctx)
			 : plan_render_az(&w->plan);
	char *path = xasprintf(
		arm ? "azcmk-%.8s-template.json" : "azcmk-%.8s.sh", w->plan.id);

	if (text && write_out(u, path, text, arm ? 0644 : 0755))
		ui_status(u, 0,
			  arm ? _("ARM template written to %s")
			      : _("az script written to %s"),
			  path);
	else if (!text)
		ui_status(u, 2, _("this plan cannot be exported in that form"));
	free(text);
	free(path);
}

/* Handles a key of the typed confirmation: letters, Backspace, Enter (yes
 * applies), Esc. */
static int confirm_key(struct ui *u, struct review *st, int ch)
{
	struct wizard *w = &u->wiz;
	size_t len = strlen(st->typed);

	if (ch == 27) {
		st->confirming = false;
		ui_status(u, 0, _("nothing was changed"));
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (len)
			st->typed[len - 1] = '\0';
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		st->confirming = false;
		if (!str_ieq(st->typed, "yes") &&
		    !str_ieq(st->typed, _("yes"))) {
			ui_status(u, 1,
				  _("not confirmed: nothing was changed"));
			return UI_REDRAW;
		}
		free(st->plan_path);
		st->plan_path = keep_plan(u);
		free(st->apply_error);
		st->apply_error = NULL;
		pthread_mutex_lock(&w->lock);
		free(w->apply_log);
		w->apply_log = NULL;
		pthread_mutex_unlock(&w->lock);
		if (st->plan_path)
			ui_task_start(u, _("applying the plan"), run_apply, st);
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(st->typed)) {
		st->typed[len] = (char)ch;
		st->typed[len + 1] = '\0';
	}
	return UI_REDRAW;
}

/* Handles a key: scroll, apply (after typing yes), save, export, or go back. */
static int review_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct review *st = p;
	int in;

	if (st->confirming)
		return confirm_key(u, st, ch);
	in = ui_list_key(&st->list, a, ch, u->rows - 4 - LOG_ROWS, line_text,
			 st);
	if (in != UI_STAY || st->list.filtering || !u->wiz.have_plan ||
	    ui_busy(u))
		return in;
	switch (a) {
	case ACT_APPLY:
		if (u->wiz.applied) {
			ui_status(u, 0, _("the plan was applied already"));
			return UI_REDRAW;
		}
		st->confirming = true;
		st->typed[0] = '\0';
		return UI_REDRAW;
	case ACT_SAVE:
		free(st->plan_path);
		if ((st->plan_path = keep_plan(u)) != NULL) {
			u->wiz.dirty = false;
			ui_status(u, 0,
				  _("plan saved to %s; apply it with: azcmk "
				    "apply %s"),
				  st->plan_path, st->plan_path);
		}
		return UI_REDRAW;
	case ACT_EXPORT_ARM:
	case ACT_EXPORT_AZ:
		export(u, a == ACT_EXPORT_ARM);
		return UI_REDRAW;
	default:
		return UI_STAY;
	}
}

/* Reports how apply ended: done and verified, or where it stopped and how to
 * resume. */
static void review_done(struct ui *u, void *p, int rc)
{
	struct wizard *w = &u->wiz;
	struct review *st = p;

	if (rc == 0) {
		w->applied = true;
		w->dirty = false;
		w->audited = false;
		ui_status(u, 0, _("done: %s now uses key %s, verified"),
			  jx_str(w->chg.resource, "name"), w->plan.keyref.name);
		return;
	}
	ui_status(
		u, 2,
		_("apply stopped: %s; continue with: azcmk apply --resume %s"),
		st->apply_error ? st->apply_error : "?",
		st->plan_path ? st->plan_path : "PLAN");
}

static const enum ui_action HINTS[] = { ACT_APPLY,     ACT_SAVE, ACT_EXPORT_ARM,
					ACT_EXPORT_AZ, ACT_BACK, ACT_NONE };

const struct wiz_step step_review = {
	.title = N_("Review and save"),
	.init = review_init,
	.free = review_free,
	.enter = review_enter,
	.draw = review_draw,
	.key = review_key,
	.done = review_done,
	.hints = HINTS,
};
