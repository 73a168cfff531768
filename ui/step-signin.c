/* Step 1, sign-in and scope: who you are, the tenant, and which subscriptions
 * the wizard looks in. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "jx.h"
#include "session.h"
#include "survey.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

/* The step's private state: the list of subscriptions, and whether sign-in was
 * tried. */
struct signin {
	struct ui_list list;
	bool tried;
	bool failed;
	char *error; /* written by the task, shown once it is done */
};

/* Returns a claim as shown text (sanitised, allocated), or NULL. */
static char *claim(struct json_object *c, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (jx_str(c, names[i]))
			return text_sanitize(jx_str(c, names[i]), false);
	return NULL;
}

/* Records who signed in, from the token's claims (task thread). */
static void note_identity(struct wizard *w)
{
	static const char *const who[] = { "upn",         "preferred_username",
					   "unique_name", "appid",
					   "azp",         "oid",
					   NULL };
	static const char *const tid[] = { "tid", NULL };
	struct json_object *c = az_session_claims(w->s);

	free(w->who);
	free(w->tenant);
	free(w->method);
	w->who = claim(c, who);
	w->tenant = claim(c, tid);
	w->method = text_sanitize(
		az_session_method(w->s) ? az_session_method(w->s) : "", false);
	json_object_put(c);
}

/* Fills the wizard's subscriptions from the list Azure gave; those named with
 * --subscription (or all) are chosen. */
static void note_subscriptions(struct wizard *w, struct json_object *list)
{
	w->subs = xcalloc(jx_len(list) + 1, sizeof(*w->subs));
	w->nsubs = 0;
	for (size_t i = 0; i < jx_len(list); i++) {
		struct json_object *v = jx_at(list, i);
		struct wiz_sub *s = &w->subs[w->nsubs++];

		s->id = text_sanitize(jx_str(v, "subscriptionId")
					      ? jx_str(v, "subscriptionId")
					      : "",
				      false);
		s->name = text_sanitize(jx_str(v, "displayName")
						? jx_str(v, "displayName")
						: "",
					false);
		s->state = text_sanitize(
			jx_str(v, "state") ? jx_str(v, "state") : "", false);
		s->chosen = w->o->nsubs == 0;
		for (size_t k = 0; k < w->o->nsubs; k++)
			s->chosen |= str_ieq(w->o->subscriptions[k], s->id) ||
				     str_ieq(w->o->subscriptions[k], s->name);
	}
}

/* Signs in and lists the subscriptions (on the task thread). */
static int sign_in(struct wizard *w, void *arg)
{
	struct signin *st = arg;
	struct az_error e = { 0 };
	struct json_object *list = NULL;
	int rc = az_session_sign_in(w->s, &e);

	if (rc == 0)
		rc = cmk_list_subscriptions(w->s, &list, &e);
	if (rc == 0) {
		note_identity(w);
		note_subscriptions(w, list);
	} else {
		st->error =
			xstrdup(e.message ? e.message : _("signing in failed"));
	}
	json_object_put(list);
	az_error_clear(&e);
	return rc;
}

/* Starts signing in when it has not been tried (or again on demand). */
static void start(struct ui *u, struct signin *st)
{
	wiz_clear_subs(&u->wiz);
	free(st->error);
	st->error = NULL;
	st->tried = true;
	st->failed = false;
	ui_list_reset(&st->list, 0);
	ui_task_start(u, _("signing in and listing your subscriptions"),
		      sign_in, st);
}

/* Allocates the step's state. */
static void *signin_init(struct ui *u)
{
	(void)u;
	return xcalloc(1, sizeof(struct signin));
}

/* Frees the step's state. */
static void signin_free(void *p)
{
	struct signin *st = p;

	ui_list_free(&st->list);
	free(st->error);
	free(st);
}

/* Signs in the first time the step is shown. */
static void signin_enter(struct ui *u, void *p)
{
	struct signin *st = p;

	ui_list_unfilter(&st->list);
	if (!st->tried)
		start(u, st);
}

/* Returns what the filter matches for a subscription: its name and id. */
static const char *sub_text(void *ctx, size_t i)
{
	struct ui *u = ctx;
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s %s", u->wiz.subs[i].name,
		 u->wiz.subs[i].id);
	return buf;
}

/* Paints one subscription: a mark, its name, its id and state. */
static void sub_row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	const struct wiz_sub *s = &u->wiz.subs[i];
	int room = u->cols - 56; /* beside the mark, the id and the state */
	char *name = ui_fit(u, s->name, room > 36 ? 36 : room);
	char *line = xasprintf(" %s %s %s  %s", s->chosen ? "[x]" : "[ ]", name,
			       s->id, s->state);

	(void)ctx;
	free(name);
	ui_put(u, y, 0, u->cols, line,
	       selected ? ui_attr(u, UI_A_SELECTED) : (int)A_NORMAL);
	free(line);
}

/* Paints who is signed in and the subscriptions to choose from, or how sign-in
 * is going. */
static void signin_draw(struct ui *u, void *p, int top, int rows)
{
	struct wizard *w = &u->wiz;
	struct signin *st = p;
	char *line;
	int y = top;

	ui_put(u, y++, 0, u->cols, "", A_NORMAL);
	if (ui_busy(u) || !w->who) {
		pthread_mutex_lock(&w->lock);
		line = xstrdup(
			w->device_code
				? w->device_code
				: (st->error ? st->error : _("Signing in...")));
		pthread_mutex_unlock(&w->lock);
		ui_put(u, y++, 2, u->cols - 4, line,
		       st->error ? ui_attr(u, UI_A_BLOCKER) : (int)A_NORMAL);
		free(line);
		if (st->error)
			ui_put(u, y++, 2, u->cols - 4,
			       _("Press r to try again, or q to quit."),
			       A_NORMAL);
		while (y < top + rows)
			ui_put(u, y++, 0, u->cols, "", A_NORMAL);
		ui_list_draw_pending(u, &st->list, top + rows - 1);
		return;
	}
	line = xasprintf(_("Signed in as %s (%s), tenant %s."), w->who,
			 w->method ? w->method : "",
			 w->tenant ? w->tenant : "?");
	y = ui_paragraph(u, y, top + rows - 1, 2, line, (int)A_NORMAL);
	free(line);
	ui_put(u, y++, 0, u->cols, "", A_NORMAL);
	ui_put(u, y++, 2, u->cols - 4,
	       _("Subscriptions to look in (Space marks one, Enter goes on):"),
	       A_BOLD);
	ui_list_draw(u, &st->list, y, top + rows - y, sub_row, u);
}

/* Counts the chosen subscriptions. */
static size_t chosen(const struct ui *u)
{
	size_t n = 0;

	for (size_t i = 0; i < u->wiz.nsubs; i++)
		n += u->wiz.subs[i].chosen;
	return n;
}

/* Handles a key: move, mark, filter, go on (with at least one subscription), or
 * sign in again. */
static int signin_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct wizard *w = &u->wiz;
	struct signin *st = p;
	size_t i;
	int in = ui_list_key(&st->list, a, ch, u->rows - 9, sub_text, u);

	if (in != UI_STAY || st->list.filtering)
		return in;
	if (a == ACT_RELOAD && !ui_busy(u)) {
		start(u, st);
		return UI_REDRAW;
	}
	if (a == ACT_TOGGLE && ui_list_selected(&st->list, &i)) {
		w->subs[i].chosen = !w->subs[i].chosen;
		w->audited = false;
		return UI_REDRAW;
	}
	if ((a == ACT_SELECT || a == ACT_NEXT) && w->who) {
		if (chosen(u))
			return UI_GO_NEXT;
		ui_status(u, 1, _("mark at least one subscription with Space"));
		return UI_REDRAW;
	}
	return UI_STAY;
}

/* Shows the subscriptions once signed in, through any filter typed meanwhile,
 * or why signing in failed (dropping that filter). */
static void signin_done(struct ui *u, void *p, int rc)
{
	struct wizard *w = &u->wiz;
	struct signin *st = p;

	if (rc != 0) {
		st->failed = true;
		ui_list_unfilter(&st->list);
		ui_status(u, 2, _("cannot sign in: %s"),
			  st->error ? st->error : "?");
		return;
	}
	pthread_mutex_lock(&w->lock);
	free(w->device_code);
	w->device_code = NULL;
	pthread_mutex_unlock(&w->lock);
	ui_list_fill(&st->list, w->nsubs, sub_text, u);
	if (!w->nsubs)
		ui_status(u, 2, _("you can see no subscription in tenant %s"),
			  w->tenant ? w->tenant : "?");
}

static const enum ui_action HINTS[] = { ACT_TOGGLE, ACT_SELECT, ACT_FILTER,
					ACT_RELOAD, ACT_NONE };

const struct wiz_step step_signin = {
	.title = N_("Sign in and scope"),
	.init = signin_init,
	.free = signin_free,
	.enter = signin_enter,
	.draw = signin_draw,
	.key = signin_key,
	.done = signin_done,
	.hints = HINTS,
};
