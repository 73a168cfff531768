/* Drawing: the frame (title, status, hints), text in display columns,
 * paragraphs, explanations, help, "too small". */
#include "config.h"

#include <curses.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "i18n.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* Returns the curses attribute of a role: colour pairs when colour is on, else
 * reverse and bold. */
int ui_attr(struct ui *u, int role)
{
	static const int mono[] = {
		[UI_A_NORMAL] = A_NORMAL,    [UI_A_TITLE] = A_REVERSE,
		[UI_A_SELECTED] = A_REVERSE, [UI_A_DIM] = A_DIM,
		[UI_A_BLOCKER] = A_BOLD,     [UI_A_WARNING] = A_BOLD,
		[UI_A_NOTE] = A_NORMAL,      [UI_A_OK] = A_NORMAL,
		[UI_A_HINT] = A_REVERSE
	};

	if (!u->colour || role == UI_A_NORMAL || role == UI_A_SELECTED)
		return mono[role];
	return (int)COLOR_PAIR(role) |
	       (role == UI_A_BLOCKER || role == UI_A_TITLE ? A_BOLD : 0);
}

/* Returns the display columns of a wide string (a character curses cannot
 * measure counts as one). */
static int wide_width(const wchar_t *ws)
{
	int used = 0;

	for (; *ws; ws++) {
		int w = wcwidth(*ws);

		used += w < 0 ? 1 : w;
	}
	return used;
}

/* Keeps what a row of a list paints while it is the selected one, and whether
 * any of it was cut, for the "whole line" key. */
static void note_row(struct ui *u, const char *clean, bool cut)
{
	char *more;

	if (!u->in_selected_row)
		return;
	more = xasprintf("%s%s", u->row_text ? u->row_text : "", clean);
	free(u->row_text);
	u->row_text = more;
	u->row_cut |= cut;
}

/*
 * Writes text at (y, x) in at most width display columns (wide characters
 * counted as two, control characters replaced), padding with spaces to
 * width; text that does not fit ends with an ellipsis ("..." in ASCII mode)
 * instead of being cut silently. Returns the columns used.
 */
int ui_put(struct ui *u, int y, int x, int width, const char *text, int attr)
{
	char *clean = text_sanitize(text ? text : "", false);
	size_t n = strlen(clean) + 1;
	wchar_t *ws = xcalloc(n, sizeof(*ws));
	const wchar_t *dots = u->ascii ? L"..." : L"\u2026";
	int used = 0, k = 0, room = width;
	bool cut;

	if (mbstowcs(ws, clean, n) == (size_t)-1)
		for (size_t i = 0; i < n; i++)
			ws[i] = (unsigned char)clean[i] < 0x80
					? (wchar_t)clean[i]
					: L'?';
	cut = wide_width(ws) > width;
	if (cut && width > wide_width(dots))
		room = width - wide_width(dots);
	for (; ws[k]; k++) {
		int w = wcwidth(ws[k]);

		w = w < 0 ? 1 : w;
		if (used + w > room)
			break;
		used += w;
	}
	attrset(attr);
	mvaddnwstr(y, x, ws, k);
	if (cut && room < width) {
		addwstr(dots);
		used += wide_width(dots);
	}
	for (int i = used; i < width; i++)
		addch(' ');
	attrset(A_NORMAL);
	note_row(u, clean, cut);
	free(ws);
	free(clean);
	return used;
}

/*
 * Returns text in exactly width display columns: padded with spaces, or
 * abbreviated with the ellipsis when it is longer (allocated); a cut in the
 * selected row of a list is kept for the "whole line" key.
 */
char *ui_fit(struct ui *u, const char *text, int width)
{
	char *clean = text_sanitize(text ? text : "", false), *cut, *out;
	const char *dots = u->ascii ? "..." : "\xe2\x80\xa6";
	int room = width - text_width(dots);

	if (text_width(clean) <= width || room < 1) {
		out = text_pad(clean, width);
		free(clean);
		return out;
	}
	cut = xasprintf("%.*s%s", (int)text_fit(clean, strlen(clean), room),
			clean, dots);
	out = text_pad(cut, width);
	if (u->in_selected_row) {
		char *more = xasprintf("%s\n%s", u->row_full ? u->row_full : "",
				       clean);

		free(u->row_full);
		u->row_full = more;
	}
	free(cut);
	free(clean);
	return out;
}

/* Paints a paragraph wrapped at spaces from (y, x) up to line last; returns the
 * next free line. */
int ui_paragraph(struct ui *u, int y, int last, int x, const char *text,
		 int attr)
{
	int width = u->cols - x - 2;
	const char *p = text ? text : "";

	while (*p && y <= last && width > 0) {
		size_t cut = text_break(p, strcspn(p, "\n"), width);
		char *part;

		part = xstrndup(p, cut);
		ui_put(u, y++, x, width, part, attr);
		free(part);
		p += cut;
		while (*p == ' ' || *p == '\n')
			p++;
	}
	return y;
}

/*
 * Paints a finding's explanation from line top + 1 up to line last: what
 * failed and its detail, why it matters, what to do; returns the next free
 * line.
 */
int ui_explanation(struct ui *u, enum severity sev, const char *message,
		   const char *detail, const char *why, const char *what,
		   int top, int last)
{
	int y = ui_paragraph(u, top + 1, last, 2, message,
			     ui_severity_attr(u, sev));

	if (detail)
		y = ui_paragraph(u, y, last, 2, detail, (int)A_NORMAL);
	y = ui_paragraph(u, y + 1, last, 2, _("Why it matters:"), A_BOLD);
	y = ui_paragraph(u, y, last, 4, _(why), (int)A_NORMAL);
	y = ui_paragraph(u, y, last, 2, _("What to do:"), A_BOLD);
	return ui_paragraph(u, y, last, 4, _(what), (int)A_NORMAL);
}

/* Returns the attribute of a severity. */
int ui_severity_attr(struct ui *u, enum severity s)
{
	return ui_attr(u, s == SEV_BLOCKER   ? UI_A_BLOCKER
			  : s == SEV_WARNING ? UI_A_WARNING
					     : UI_A_NOTE);
}

/* Builds the hint bar's text from the step's actions and the table of keys. */
static char *hints(const enum ui_action *acts)
{
	static const enum ui_action always[] = { ACT_HELP, ACT_QUIT, ACT_NONE };
	char *out = xstrdup("");

	for (int pass = 0; pass < 2; pass++)
		for (const enum ui_action *a = pass ? always : acts;
		     a && *a != ACT_NONE; a++) {
			char *keys = xstrndup(ui_action_keys(*a),
					      strcspn(ui_action_keys(*a), " "));
			char *next =
				xasprintf("%s%s%s %s", out, *out ? "  " : "",
					  keys, ui_action_label(*a));

			free(keys);

			free(out);
			out = next;
		}
	return out;
}

/* Returns the busy line's words: how far the task got when it says, else its
 * label (allocated). */
static char *busy_label(struct ui *u)
{
	char *label;

	pthread_mutex_lock(&u->wiz.lock);
	label = xstrdup(u->wiz.task_note ? u->wiz.task_note : u->task.label);
	pthread_mutex_unlock(&u->wiz.lock);
	return label;
}

/* Paints the title bar (the step, its number, DEMO), the status line and the
 * hint bar. */
void ui_draw_frame(struct ui *u, const char *title)
{
	const struct wiz_step *st = u->aside ? u->aside : u->steps[u->at];
	void *state = u->aside ? u->aside_st : u->state[u->at];
	char *left =
		xasprintf(" azcmk%s  %s", u->wiz.demo ? " [DEMO]" : "", title);
	char *right = xasprintf(_("step %zu of %zu "), u->at + 1, u->nsteps);
	char *bar = hints(st->hints_now && state ? st->hints_now(state)
						 : st->hints);
	static const char spin_utf8[][4] = { "|", "/", "-", "\\" };
	int rw = (int)strlen(right);

	ui_put(u, 0, 0, u->cols - rw, left, ui_attr(u, UI_A_TITLE));
	ui_put(u, 0, u->cols - rw, rw, right, ui_attr(u, UI_A_TITLE));
	if (ui_busy(u)) {
		char *label = busy_label(u),
		     *line = xasprintf(_("%s %s (Esc cancels)"),
				       spin_utf8[u->spin % 4], label);

		ui_put(u, u->rows - 2, 0, u->cols, line,
		       ui_attr(u, UI_A_NORMAL));
		free(line);
		free(label);
	} else {
		ui_put(u, u->rows - 2, 0, u->cols, u->status ? u->status : "",
		       ui_attr(u, u->status_level >= 2   ? UI_A_BLOCKER
				  : u->status_level == 1 ? UI_A_WARNING
							 : UI_A_NORMAL));
	}
	ui_put(u, u->rows - 1, 0, u->cols, bar, ui_attr(u, UI_A_HINT));
	free(left);
	free(right);
	free(bar);
}

/* Paints the help generated from the key table, over the step. */
void ui_draw_help(struct ui *u)
{
	int y = 1;

	ui_put(u, y++, 2, u->cols - 4, _("Keys (any key closes this help):"),
	       A_BOLD);
	for (int a = ACT_NONE + 1; a < ACT_COUNT && y < u->rows - 2; a++) {
		char *line;

		if (!*ui_action_text((enum ui_action)a))
			continue;
		line = xasprintf("  %-12s %s",
				 ui_action_keys((enum ui_action)a),
				 ui_action_text((enum ui_action)a));
		ui_put(u, y++, 2, u->cols - 4, line, A_NORMAL);
		free(line);
	}
	while (y < u->rows - 2)
		ui_put(u, y++, 0, u->cols, "", A_NORMAL);
}

/* Paints the whole text of the selected line, cut off in the list, over the
 * step. */
void ui_draw_whole(struct ui *u)
{
	for (int y = 1; y < u->rows - 2; y++)
		ui_put(u, y, 0, u->cols, "", A_NORMAL);
	ui_put(u, 2, 2, u->cols - 4, _("The whole line (any key closes it):"),
	       A_BOLD);
	ui_paragraph(u, 4, u->rows - 3, 2, u->whole ? u->whole : "", A_NORMAL);
}

/* Paints the "terminal too small" screen: what the size is and what it needs.
 */
void ui_draw_too_small(struct ui *u)
{
	char *need = xasprintf(
		_("The terminal is %dx%d; azcmk needs at least %dx%d."),
		u->cols, u->rows, UI_MIN_COLS, UI_MIN_ROWS);

	erase();
	mvaddnstr(0, 0, need, u->cols > 0 ? u->cols : 0);
	if (u->rows > 1)
		mvaddnstr(1, 0, _("Enlarge the window, or press q to quit."),
			  u->cols > 0 ? u->cols : 0);
	free(need);
}
