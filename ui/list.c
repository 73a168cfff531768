/* A scrolling list with a selection and a '/' filter, shared by every step that
 * shows a list. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "i18n.h"
#include "ui.h"
#include "xalloc.h"

/* Empties a list and gives it n items, none filtered out, for a list shown
 * afresh (another screen or level; ui_list_fill refills the same one). */
void ui_list_reset(struct ui_list *l, size_t n)
{
	free(l->view);
	memset(l, 0, sizeof(*l));
	l->n = n;
	l->view = xcalloc(n ? n : 1, sizeof(*l->view));
	for (size_t i = 0; i < n; i++)
		l->view[i] = i;
	l->nview = n;
}

/* Gives a list the n items that were read for it, keeping the filter (and its
 * prompt, when open) that the operator typed while they were read, and selects
 * the first item that matches it. */
void ui_list_fill(struct ui_list *l, size_t n,
		  const char *(*text)(void *ctx, size_t i), void *ctx)
{
	char filter[sizeof(l->filter)];
	bool filtering = l->filtering;

	memcpy(filter, l->filter, sizeof(filter));
	ui_list_reset(l, n);
	memcpy(l->filter, filter, sizeof(filter));
	l->filtering = filtering;
	ui_list_refilter(l, text, ctx);
}

/* Selects an item when the filter shows it; false when it does not (the
 * selection stays). */
bool ui_list_select(struct ui_list *l, size_t item)
{
	for (size_t r = 0; r < l->nview; r++)
		if (l->view[r] == item) {
			l->cur = item;
			return true;
		}
	return false;
}

/* Clears the filter, keeping the selection: each screen is shown without the
 * filter it had when it was left. */
void ui_list_unfilter(struct ui_list *l)
{
	l->filter[0] = '\0';
	l->filtering = false;
	for (size_t i = 0; i < l->n; i++)
		l->view[i] = i;
	l->nview = l->n;
	l->top = 0;
}

/* Frees what a list holds. */
void ui_list_free(struct ui_list *l)
{
	free(l->view);
	memset(l, 0, sizeof(*l));
}

/* Recomputes which items match the filter (ignoring case), keeping the
 * selection when it still shows. */
void ui_list_refilter(struct ui_list *l,
		      const char *(*text)(void *ctx, size_t i), void *ctx)
{
	size_t keep = l->cur;
	bool kept = false;

	l->nview = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *t = text(ctx, i);

		if (!l->filter[0] || (t && strcasestr(t, l->filter))) {
			kept |= i == keep;
			l->view[l->nview++] = i;
		}
	}
	if (!kept)
		l->cur = l->nview ? l->view[0] : 0;
	l->top = 0;
}

/* Returns the view row of the selected item (0 when it is filtered out). */
static size_t row_of(const struct ui_list *l)
{
	for (size_t r = 0; r < l->nview; r++)
		if (l->view[r] == l->cur)
			return r;
	return 0;
}

/* Moves the selection by delta rows (clamped) and scrolls it into a window of
 * rows. */
static void list_move(struct ui_list *l, long delta, int rows)
{
	long r = (long)row_of(l) + delta;

	if (!l->nview)
		return;
	r = r < 0 ? 0 : r >= (long)l->nview ? (long)l->nview - 1 : r;
	l->cur = l->view[r];
	if ((size_t)r < l->top)
		l->top = (size_t)r;
	if (rows > 0 && (size_t)r >= l->top + (size_t)rows)
		l->top = (size_t)r - (size_t)rows + 1;
}

/* Turns a page, as less does: the window and the selection move by a page
 * (less one line, kept in sight) in the direction of pages (-1 or 1). */
static void list_page(struct ui_list *l, long pages, int rows)
{
	long page = rows > 1 ? rows - 1 : 1, top = (long)l->top + pages * page,
	     max = (long)l->nview - (rows > 0 ? rows : 1);

	top = top > max ? max : top;
	l->top = top < 0 ? 0 : (size_t)top;
	list_move(l, pages * page, rows);
}

/* Edits the filter while its prompt is open: printable keys add, Backspace
 * removes, Enter and Esc close. */
static int filter_key(struct ui_list *l, int ch,
		      const char *(*text)(void *ctx, size_t i), void *ctx)
{
	size_t len = strlen(l->filter);

	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		l->filtering = false;
	} else if (ch == 27) {
		l->filtering = false;
		l->filter[0] = '\0';
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (len)
			l->filter[len - 1] = '\0';
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(l->filter)) {
		l->filter[len] = (char)ch;
		l->filter[len + 1] = '\0';
	} else {
		return UI_STAY;
	}
	ui_list_refilter(l, text, ctx);
	return UI_REDRAW;
}

/* Handles a key for a list of rows visible lines; returns UI_REDRAW when it
 * moved, UI_STAY otherwise. */
int ui_list_key(struct ui_list *l, enum ui_action a, int ch, int rows,
		const char *(*text)(void *ctx, size_t i), void *ctx)
{
	if (l->filtering)
		return filter_key(l, ch, text, ctx);
	switch (a) {
	case ACT_UP:
		list_move(l, -1, rows);
		break;
	case ACT_DOWN:
		list_move(l, 1, rows);
		break;
	case ACT_PAGE_UP:
		list_page(l, -1, rows);
		break;
	case ACT_PAGE_DOWN:
		list_page(l, 1, rows);
		break;
	case ACT_TOP:
		list_move(l, -(long)l->n, rows);
		break;
	case ACT_BOTTOM:
		list_move(l, (long)l->n, rows);
		break;
	case ACT_FILTER:
		l->filtering = true;
		break;
	default:
		return UI_STAY;
	}
	return UI_REDRAW;
}

/* Tells which item is selected; false when the list (or the filtered view) is
 * empty. */
bool ui_list_selected(const struct ui_list *l, size_t *item)
{
	if (!l->nview)
		return false;
	*item = l->cur;
	return true;
}

/* Paints the selected row, keeping its whole text in u->whole when some of it
 * was cut to fit. */
static void selected_row(struct ui *u, void *ctx, size_t item, int y,
			 void (*row)(struct ui *u, void *ctx, size_t item,
				     int y, bool selected))
{
	free(u->row_text);
	free(u->row_full);
	u->row_text = u->row_full = NULL;
	u->row_cut = false;
	u->in_selected_row = true;
	row(u, ctx, item, y, true);
	u->in_selected_row = false;
	free(u->whole);
	u->whole = NULL;
	if (u->row_cut || u->row_full)
		u->whole = xasprintf("%s%s", u->row_text ? u->row_text : "",
				     u->row_full ? u->row_full : "");
	free(u->row_text);
	free(u->row_full);
	u->row_text = u->row_full = NULL;
}

/* Paints the visible rows through the step's row painter, then the filter line
 * when there is one. */
void ui_list_draw(struct ui *u, struct ui_list *l, int top, int rows,
		  void (*row)(struct ui *u, void *ctx, size_t item, int y,
			      bool selected),
		  void *ctx)
{
	int list_rows = l->filtering || l->filter[0] ? rows - 1 : rows;
	size_t sel = row_of(l);

	if (list_rows > 0 && sel >= l->top + (size_t)list_rows)
		l->top = sel - (size_t)list_rows + 1;
	for (int y = 0; y < list_rows; y++) {
		size_t r = l->top + (size_t)y;

		if (r < l->nview && l->view[r] == l->cur)
			selected_row(u, ctx, l->view[r], top + y, row);
		else if (r < l->nview)
			row(u, ctx, l->view[r], top + y, false);
		else
			ui_put(u, top + y, 0, u->cols, "", A_NORMAL);
	}
	if (list_rows < rows) {
		char *line =
			xasprintf(_("/%s%s  (%zu of %zu shown)"), l->filter,
				  l->filtering ? "_" : "", l->nview, l->n);

		ui_put(u, top + rows - 1, 0, u->cols, line,
		       ui_attr(u, UI_A_DIM));
		free(line);
	}
	if (!l->nview && rows > 0)
		ui_put(u, top, 2, u->cols - 2,
		       l->n ? _("Nothing matches the filter.")
			    : _("Nothing to show."),
		       ui_attr(u, UI_A_DIM));
}

/* Paints, on row y, the filter the operator typed while the list's items are
 * being read (a task is under way), when there is one. */
void ui_list_draw_pending(struct ui *u, const struct ui_list *l, int y)
{
	char *line;

	if (!ui_busy(u) || (!l->filtering && !l->filter[0]))
		return;
	line = xasprintf(_("/%s%s  (the list is still being read)"), l->filter,
			 l->filtering ? "_" : "");
	ui_put(u, y, 0, u->cols, line, ui_attr(u, UI_A_DIM));
	free(line);
}
