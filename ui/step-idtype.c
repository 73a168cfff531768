/* Step 6, identity type: which identity the service will use for the key, as
 * the save will set it. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "jx.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* Paints the identity the service will use, how the save names it, and what the
 * documents say about it. */
static void idtype_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	const struct cmk_ctx *c = &w->chg.ctx;
	int y = top + 1, last = top + rows - 1;
	char *line;

	(void)p;
	if (!w->have_chg)
		return;
	line = c->user_identity ? xasprintf(_("%s will use its user-assigned "
					      "identity %s for the key."),
					    jx_str(w->chg.resource, "name"),
					    wiz_identity_name(c->uai_id))
				: xasprintf(_("%s will use its system-assigned "
					      "identity for the key."),
					    jx_str(w->chg.resource, "name"));
	y = ui_paragraph(u, y, last, 2, line, A_BOLD);
	free(line);
	line = c->user_identity
		       ? xasprintf(_("The save names it in the key settings "
				     "(%s), and keeps the identity type %s."),
				   c->svc->shape->identity
					   ? c->svc->shape->identity
					   : "identity",
				   c->svc->both_identities)
		       : xstrdup(_("The save leaves the user-assigned fields "
				   "out, so the service uses the "
				   "system-assigned identity."));
	y = ui_paragraph(u, y + 1, last, 2, line, (int)A_NORMAL);
	free(line);
	if (w->system_off && c->user_identity &&
	    jx_str(w->chg.resource, "identity.principalId"))
		y = ui_paragraph(u, y + 1, last, 2,
				 _("Once the key is saved, the plan turns the "
				   "system-assigned identity "
				   "off: its principal, and any access granted "
				   "to it, are gone for good."),
				 ui_attr(u, UI_A_WARNING));
	for (size_t i = 0; i < w->rep.n; i++)
		if (str_ieq(w->rep.items[i].rule->id, "identity.allowed")) {
			y = ui_paragraph(
				u, y + 1, last, 2, w->rep.items[i].message,
				ui_severity_attr(u, w->rep.items[i].severity));
			if (w->rep.items[i].detail)
				y = ui_paragraph(u, y, last, 2,
						 w->rep.items[i].detail,
						 (int)A_NORMAL);
		}
	ui_paragraph(u, y + 1, last, 2,
		     _("Enter goes on to the review; Esc goes back, and step 3 "
		       "chooses another identity."),
		     ui_attr(u, UI_A_DIM));
}

/* Handles a key: go on to the review. */
static int idtype_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	(void)p;
	(void)ch;
	return (a == ACT_SELECT || a == ACT_NEXT) && u->wiz.have_chg
		       ? UI_GO_NEXT
		       : UI_STAY;
}

static const enum ui_action HINTS[] = { ACT_SELECT, ACT_BACK, ACT_NONE };

const struct wiz_step step_idtype = {
	.title = N_("Identity type"),
	.draw = idtype_draw,
	.key = idtype_key,
	.hints = HINTS,
};
