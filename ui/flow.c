/* The choices the steps share: forgetting what a changed choice invalidates, and small drawing helpers. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "ui.h"
#include "text.h"
#include "xalloc.h"

/* Forgets every choice made at or after a step (the resource, the identity, the key, the change, the plan). */
void ui_forget_from(struct ui *u, int step)
{
	if (step <= FORGET_RESOURCE && u->have_cur) {
		cmk_fetch_free(&u->cur);
		u->have_cur = false;
	}
	if (step <= FORGET_IDENTITY) {
		free(u->identity);
		u->identity = NULL;
		u->system_off = false;
		u->system_chosen = false;
	}
	if (step <= FORGET_KEY) {
		free(u->key_uri);
		free(u->create_vault);
		free(u->create_key);
		u->key_uri = u->create_vault = u->create_key = NULL;
	}
	if (step <= FORGET_CHANGE && u->have_chg) {
		cmk_report_free(&u->rep);
		cmk_fetch_free(&u->chg);
		u->have_chg = false;
	}
	if (step <= FORGET_PLAN && u->have_plan) {
		plan_free(&u->plan);
		u->have_plan = false;
		u->dirty = false;
		u->applied = false;
	}
}

/* Paints a paragraph wrapped at spaces from (y, x) up to line last; returns the next free line. */
int ui_paragraph(struct ui *u, int y, int last, int x, const char *text, int attr)
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
 * failed and its detail, why it matters, what to do; returns the next free line.
 */
int ui_explanation(struct ui *u, enum severity sev, const char *message, const char *detail, const char *why,
		   const char *what, int top, int last)
{
	int y = ui_paragraph(u, top + 1, last, 2, message, ui_severity_attr(u, sev));

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
	return ui_attr(u, s == SEV_BLOCKER ? UI_A_BLOCKER : s == SEV_WARNING ? UI_A_WARNING : UI_A_NOTE);
}

/* Returns the ids of the subscriptions in scope (an allocated array, NULL-ended; the ids are borrowed) and their count. */
const char **ui_chosen_subs(const struct ui *u, size_t *n)
{
	const char **subs = xcalloc(u->nsubs + 1, sizeof(*subs));

	*n = 0;
	for (size_t i = 0; i < u->nsubs; i++)
		if (u->subs[i].chosen)
			subs[(*n)++] = u->subs[i].id;
	return subs;
}

/* Returns the name part of an ARM id (after the last slash), or the whole text. */
const char *ui_identity_name(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;

	return slash ? slash + 1 : id ? id : "";
}
