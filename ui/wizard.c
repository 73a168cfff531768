/* The wizard's data apart from the screen: forgetting what a changed choice
 * invalidates, the scope, freeing it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "wizard.h"
#include "xalloc.h"

/* Forgets every choice made at or after a step (the resource, the identity, the
 * key, the change, the plan). */
void wiz_forget_from(struct wizard *w, int step)
{
	if (step <= FORGET_RESOURCE && w->have_cur) {
		cmk_fetch_free(&w->cur);
		w->have_cur = false;
	}
	if (step <= FORGET_IDENTITY) {
		free(w->identity);
		w->identity = NULL;
		w->system_off = false;
		w->system_chosen = false;
	}
	if (step <= FORGET_KEY) {
		free(w->key_uri);
		free(w->create_vault);
		free(w->create_key);
		w->key_uri = w->create_vault = w->create_key = NULL;
	}
	if (step <= FORGET_CHANGE && w->have_chg) {
		cmk_report_free(&w->rep);
		cmk_fetch_free(&w->chg);
		w->have_chg = false;
	}
	if (step <= FORGET_PLAN && w->have_plan) {
		plan_free(&w->plan);
		w->have_plan = false;
		w->dirty = false;
		w->applied = false;
	}
}

/* Returns the ids of the subscriptions in scope (an allocated, NULL-ended array
 * of borrowed ids) and their count. */
const char **wiz_chosen_subs(const struct wizard *w, size_t *n)
{
	const char **subs = xcalloc(w->nsubs + 1, sizeof(*subs));

	*n = 0;
	for (size_t i = 0; i < w->nsubs; i++)
		if (w->subs[i].chosen)
			subs[(*n)++] = w->subs[i].id;
	return subs;
}

/* Forgets the subscriptions that were listed. */
void wiz_clear_subs(struct wizard *w)
{
	for (size_t i = 0; i < w->nsubs; i++) {
		free(w->subs[i].id);
		free(w->subs[i].name);
		free(w->subs[i].state);
	}
	free(w->subs);
	w->subs = NULL;
	w->nsubs = 0;
}

/* Returns the name part of an ARM id (after the last slash), or the whole text.
 */
const char *wiz_identity_name(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;

	return slash ? slash + 1 : id ? id : "";
}

/* Frees what the wizard read and chose, and its session. */
void wiz_free(struct wizard *w)
{
	wiz_clear_subs(w);
	audit_free(&w->audit);
	wiz_forget_from(w, 0);
	free(w->apply_log);
	free(w->task_note);
	free(w->who);
	free(w->tenant);
	free(w->method);
	free(w->device_code);
	free(w->resource);
	az_session_free(w->s);
	pthread_mutex_destroy(&w->lock);
}
