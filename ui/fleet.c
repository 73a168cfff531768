/* The wizard's fleet: the marked findings planned into one fleet as fix --all
 * plans them, its review with fix --all's choices (grant scope, new vaults,
 * irreversible changes), its apply with a live list, and the retry of what
 * failed. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "fleetplan.h"
#include "plan.h"
#include "fleetrun.h"
#include "i18n.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

#define FAILURE_ROWS 7 /* the selected failure, whole */
#define FORM_MAX 8     /* regions the new-vault form names a vault for */
#define REGION_MAX 48  /* a region name, with its NUL */

/* Where the fleet screen is: planning, the review (with the typed
 * confirmation or the new-vault form open or not), applying, or ended. */
enum phase {
	PH_PLANNING,
	PH_REVIEW,
	PH_CONFIRM,
	PH_VAULTS,
	PH_RUNNING,
	PH_ENDED
};

/* The new-vault form: a vault name per region where no vault is ready, the
 * resource group and subscription they go in, and the typed consent to their
 * purge protection (as --create-vault, --vault-group, --vault-subscription
 * and --confirm-irreversible). */
struct vform {
	size_t n;
	char region[FORM_MAX][REGION_MAX];
	char name[FORM_MAX][25]; /* a vault name: at most 24 characters */
	char group[91];          /* a resource group: at most 90 */
	char sub[37];            /* a subscription id, or empty */
	char yes[8];
	size_t at;   /* the field being typed in: names, group, sub, yes */
	char *error; /* why the form was refused, or NULL */
};

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
	bool retry;    /* the confirmation is for a retry of those in only */
	bool allowing; /* the confirmation allows irreversible changes */
	struct fleet next; /* the fleet being planned, kept once it is built */
	char *next_path;
	struct cmd_opts was; /* the options before the planning under way */
	bool from_form;      /* that planning came from the new-vault form */
	struct vform form;
	char **kept; /* the strings the options point to */
	size_t nkept;
	enum ui_action hints[8]; /* the hint bar, as the state has it */
	int panel_rows; /* the review's panel, as last drawn, with its gap */
	bool *only;     /* the plans the next apply runs */
	size_t nonly;   /* how many */
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

/* Plans the marked findings into one fleet with the options in effect and
 * keeps it, beside the fleet reviewed so far (task thread). */
static int plan_task(struct wizard *w, void *arg)
{
	struct fleetui *st = arg;
	struct fleet_request rq = { .o = &st->o, .s = w->s, .quiet = true };

	free(st->error);
	st->error = NULL;
	if (fleet_plan_findings(&rq, st->items, st->nitems, &st->next, NULL,
				&st->error) != 0)
		return 1;
	if (st->next.n && !(st->next_path = fleet_keep(&st->next, &st->error)))
		return 1;
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
	fleet_free(&st->next);
	free(st->next_path);
	free(st->form.error);
	for (size_t i = 0; i < st->nkept; i++)
		free(st->kept[i]);
	free(st->kept);
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

static bool region_ok(const char *r);

/* Counts the skipped resources that wait for a new vault (region true) or
 * for the consent to an irreversible change. */
static size_t waiting(const struct fleet *f, bool region)
{
	size_t n = 0;

	/* Only a region the form can offer counts (a region name read from
	 * Azure that is not well formed is never offered). */
	for (size_t i = 0; i < f->nskipped; i++)
		n += region ? f->skipped[i].region != NULL &&
				      region_ok(f->skipped[i].region)
			    : f->skipped[i].confirm;
	return n;
}

/* Counts the plans whose vault keeps access policies: they get an access
 * policy, vault-wide anyway, whatever the grant scope. */
static size_t by_policy(const struct fleet *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		for (size_t k = 0; k < f->plans[i].n; k++)
			n += f->plans[i].steps[k].kind == STEP_ACCESS_POLICY;
	return n;
}

/* Returns the subscription the fleet's new vaults go in, as its plans say
 * (allocated; what --vault-subscription names when no plan creates one). */
static char *new_vault_sub(const struct fleetui *st)
{
	for (size_t i = 0; i < st->f.n; i++)
		for (size_t k = 0; k < st->f.plans[i].n; k++)
			if (st->f.plans[i].steps[k].kind == STEP_CREATE_VAULT)
				return fleet_subscription(
					st->f.plans[i].vault_id);
	return xstrdup(st->o.vault_sub ? st->o.vault_sub : "?");
}

/* Returns the choices the fleet is planned with, as a sentence (allocated). */
static char *choices_text(const struct fleetui *st)
{
	char *vaults = xstrdup(""), *text, *more;

	for (size_t i = 0; i < st->o.nnew_vaults; i++) {
		char *next = xasprintf("%s%s%s", vaults, i ? ", " : "",
				       strchr(st->o.new_vaults[i], '=') + 1);

		free(vaults);
		vaults = next;
	}
	char *sub = *vaults ? new_vault_sub(st) : NULL;

	more = *vaults ? xasprintf(_(" New vaults, in group %s of subscription "
				     "%s: %s."),
				   st->o.vault_group, sub, vaults)
		       : xstrdup("");
	free(sub);
	text = xasprintf(
		_("Grant scope: %s (w: %s). Consent to irreversible "
		  "changes: %s.%s"),
		st->o.grant_vault ? _("the whole vault") : _("each key"),
		st->o.grant_vault ? _("each key") : _("the whole vault"),
		st->o.confirm_irreversible ? _("given") : _("not given"), more);
	free(vaults);
	free(more);
	return text;
}

/* Returns what the fleet's choices leave out and the keys that change them
 * (allocated; "" when nothing). */
static char *notes_text(const struct fleetui *st)
{
	size_t vault = waiting(&st->f, true), irrev = waiting(&st->f, false),
	       policy = st->o.grant_vault ? by_policy(&st->f) : 0;
	char *a = policy ? xasprintf(P_("%zu resource's vault uses access "
					"policies, which are vault-wide: "
					"it gets an access policy. ",
					"%zu resources' vaults use access "
					"policies, which are vault-wide: "
					"they get an access policy. ",
					policy),
				     policy)
			 : xstrdup("");
	char *b = vault ? xasprintf(P_("%zu skipped as no vault in its region "
				       "is ready: n creates one. ",
				       "%zu skipped as no vault in their "
				       "region is ready: n creates one. ",
				       vault),
				    vault)
			: xstrdup("");
	char *c = irrev ? xasprintf(P_("%zu skipped as it needs a change that "
				       "cannot be undone: i allows it. ",
				       "%zu skipped as they need a change "
				       "that cannot be undone: i allows it. ",
				       irrev),
				    irrev)
			: xstrdup("");
	char *text = xasprintf("%s%s%s", a, b, c);

	free(a);
	free(b);
	free(c);
	return text;
}

/* The review's panel: up to three paragraphs, each with its attribute. */
struct panel {
	char *text[3];
	int attr[3];
	size_t n;
};

/* Adds a paragraph to the panel (it takes text). */
static void panel_add(struct panel *pn, char *text, int attr)
{
	if (*text && pn->n < 3) {
		pn->text[pn->n] = text;
		pn->attr[pn->n++] = attr;
	} else {
		free(text);
	}
}

/* Fills the panel: the confirmation open, or the choices in effect, what they
 * leave out, and what to do. */
static void panel_fill(struct ui *u, const struct fleetui *st, struct panel *pn)
{
	size_t n = st->allowing ? waiting(&st->f, false) : st->nonly;

	memset(pn, 0, sizeof(*pn));
	if (st->phase == PH_CONFIRM && st->allowing)
		panel_add(pn,
			  xasprintf(P_("Allow the changes that cannot be "
				       "undone which %zu skipped resource "
				       "needs, and plan again? Type yes and "
				       "Enter, or Esc: %s_",
				       "Allow the changes that cannot be "
				       "undone which %zu skipped resources "
				       "need, and plan again? Type yes and "
				       "Enter, or Esc: %s_",
				       n),
				    n, st->typed),
			  ui_attr(u, UI_A_WARNING));
	else if (st->phase == PH_CONFIRM)
		panel_add(pn,
			  xasprintf(P_("Apply the fleet plan to %zu resource "
				       "(%zu changes cannot be undone)? Type "
				       "yes and Enter, or Esc: %s_",
				       "Apply the fleet plan to %zu resources "
				       "(%zu changes cannot be undone)? Type "
				       "yes and Enter, or Esc: %s_",
				       n),
				    n, irreversible(st), st->typed),
			  ui_attr(u, UI_A_WARNING));
	if (st->phase == PH_CONFIRM)
		return;
	panel_add(pn, choices_text(st), A_BOLD);
	panel_add(pn, notes_text(st), ui_attr(u, UI_A_WARNING));
	if (!st->f.n)
		panel_add(pn,
			  xstrdup(_("No marked resource can be fixed by azcmk "
				    "itself: see the skipped ones above. Esc "
				    "goes back.")),
			  ui_attr(u, UI_A_BLOCKER));
	else
		panel_add(pn,
			  xstrdup(_("a applies the fleet (asks first); Esc "
				    "goes back to the findings.")),
			  ui_attr(u, UI_A_DIM));
}

/* Counts the lines ui_paragraph wraps text into from column x. */
static int wrapped(const struct ui *u, int x, const char *text)
{
	int width = u->cols - x - 2, n = 0;

	for (const char *p = text; *p && width > 0; n++) {
		p += text_break(p, strcspn(p, "\n"), width);
		while (*p == ' ' || *p == '\n')
			p++;
	}
	return n;
}

/* Paints the review: its lines (scrolling) and, under them, the panel, as
 * tall as its paragraphs (at most half the screen). */
static void draw_review(struct ui *u, struct fleetui *st, int top, int rows)
{
	int last = top + rows - 1, height = 0, y;
	struct panel pn;

	panel_fill(u, st, &pn);
	for (size_t i = 0; i < pn.n; i++)
		height += wrapped(u, 1, pn.text[i]);
	height = height < rows / 2 ? height : rows / 2;
	st->panel_rows = height + 1;
	if (st->wrapped_at != u->cols)
		render(st, u->cols);
	y = last - height + 1;
	ui_list_draw(u, &st->list, top, y - 1 - top, line_row, st);
	for (int k = y - 1; k <= last; k++)
		ui_put(u, k, 0, u->cols, "", A_NORMAL);
	for (size_t i = 0; i < pn.n; i++) {
		y = ui_paragraph(u, y, last, 1, pn.text[i], pn.attr[i]);
		free(pn.text[i]);
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

/* Paints one field of the new-vault form: its label, then what is typed
 * (or, when nothing is, what empty means), selected when it is the one being
 * typed in. */
static int form_field(struct ui *u, int y, int cols, const char *label,
		      const char *text, const char *empty, bool at)
{
	char *padded = text_pad(label, cols),
	     *shown = at ? xasprintf("%s_", text)
			 : xstrdup(*text || !empty ? text : empty);

	ui_put(u, y, 2, cols, padded, A_NORMAL);
	ui_put(u, y, 2 + cols, u->cols - 3 - cols, shown,
	       at      ? ui_attr(u, UI_A_SELECTED)
	       : *text ? (int)A_NORMAL
		       : ui_attr(u, UI_A_DIM));
	free(padded);
	free(shown);
	return y + 1;
}

/* Returns the label of the form's field i (allocated). */
static char *form_label(const struct vform *v, size_t i)
{
	if (i < v->n)
		return xasprintf(_("Vault in %s"), v->region[i]);
	return xstrdup(i == v->n       ? _("Resource group")
		       : i == v->n + 1 ? _("Subscription")
				       : _("Type yes to confirm"));
}

/* Returns the columns of the form's labels: the widest and two more, at
 * most half the screen. */
static int form_label_cols(const struct ui *u, const struct vform *v)
{
	int cols = 0;

	for (size_t i = 0; i < v->n + 3; i++) {
		char *label = form_label(v, i);
		int w = text_width(label) + 2;

		cols = w > cols ? w : cols;
		free(label);
	}
	return cols < u->cols / 2 ? cols : u->cols / 2;
}

/* Paints the new-vault form: a name per region, the group, the subscription,
 * why it asks for yes, the typed yes, why it was refused, and its keys. */
static void draw_form(struct ui *u, const struct fleetui *st, int top, int rows)
{
	const struct vform *v = &st->form;
	const char *keys = _("Tab, Up, Down: next field; Enter: check and plan "
			     "again; Esc: close, nothing changed.");
	int y = top + 1, last = top + rows - 1, cols = form_label_cols(u, v),
	    foot = last - wrapped(u, 1, keys) + 1;
	char *label;

	y = ui_paragraph(u, y, last, 1,
			 _("Create a key vault where none is ready (fix "
			   "--all --create-vault):"),
			 A_BOLD) +
	    1;
	for (size_t i = 0; i < v->n + 2; i++) {
		label = form_label(v, i);
		y = form_field(u, y, cols, label,
			       i < v->n    ? v->name[i]
			       : i == v->n ? v->group
					   : v->sub,
			       i == v->n + 1
				       ? _("(empty: the first resource's)")
				       : NULL,
			       v->at == i);
		free(label);
	}
	y = ui_paragraph(u, y + 1, last, 1,
			 _("Each vault has Azure RBAC, soft delete for 90 "
			   "days and purge protection, which cannot be "
			   "undone: the vault and its name stay for 90 days "
			   "after a delete. You may be granted Key Vault "
			   "Crypto Officer on it to create its keys. Your "
			   "yes also allows the fleet's other changes that "
			   "cannot be undone, as --confirm-irreversible "
			   "does."),
			 ui_attr(u, UI_A_WARNING));
	label = form_label(v, v->n + 2);
	y = form_field(u, y, cols, label, v->yes, NULL, v->at == v->n + 2) + 1;
	free(label);
	if (v->error)
		ui_paragraph(u, y, foot - 1, 1, v->error,
			     ui_attr(u, UI_A_BLOCKER));
	ui_paragraph(u, foot, last, 1, keys, ui_attr(u, UI_A_DIM));
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
	} else if (st->phase == PH_VAULTS) {
		draw_form(u, st, top, rows);
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

/* Plans the fleet again with the options now in effect (st->was holds those
 * before); from_form when the new-vault form asked for it. */
static void replan(struct ui *u, struct fleetui *st, bool from_form)
{
	st->from_form = from_form;
	st->phase = PH_PLANNING;
	if (!ui_task_start(u, _("planning the fleet"), plan_task, st)) {
		st->o = st->was;
		st->phase = from_form ? PH_VAULTS : PH_REVIEW;
	}
}

/* Allows the irreversible changes (typed yes) and plans again. */
static void allow_irreversible(struct ui *u, struct fleetui *st)
{
	st->was = st->o;
	st->o.confirm_irreversible = true;
	replan(u, st, false);
}

/* Switches the grant scope between each key and the whole vault, and plans
 * again. */
static int switch_scope(struct ui *u, struct fleetui *st)
{
	st->was = st->o;
	st->o.grant_vault = !st->o.grant_vault;
	replan(u, st, false);
	return UI_REDRAW;
}

/* The i key: asks for yes before irreversible changes are allowed; once they
 * are, no longer allows them (nor the new vaults, which need them). */
static int irreversible_key(struct ui *u, struct fleetui *st)
{
	if (st->o.confirm_irreversible) {
		st->was = st->o;
		st->o.confirm_irreversible = false;
		st->o.nnew_vaults = 0;
		st->o.vault_group = st->o.vault_sub = NULL;
		replan(u, st, false);
	} else if (!waiting(&st->f, false)) {
		ui_status(u, 0,
			  _("no resource of the fleet waits for a change that "
			    "cannot be undone"));
	} else {
		st->retry = false;
		st->allowing = true;
		st->typed[0] = '\0';
		st->phase = PH_CONFIRM;
	}
	return UI_REDRAW;
}

/* Keeps a string the options point to until the screen closes; returns it. */
static const char *keep(struct fleetui *st, char *s)
{
	st->kept = xrealloc(st->kept, (st->nkept + 1) * sizeof(*st->kept));
	st->kept[st->nkept++] = s;
	return s;
}

/* Writes into out (size bytes) a name Key Vault takes for a new vault in
 * region: kv-cmk-REGION, cut to 24 characters. */
static void suggest_name(char *out, size_t size, const char *region)
{
	size_t len;

	snprintf(out, size, "kv-cmk-%s", region);
	len = strlen(out);
	while (len && (out[len - 1] == '-' || !plan_vault_name_ok(out)))
		out[--len] = '\0';
	if (!plan_vault_name_ok(out))
		snprintf(out, size, "kv-cmk-new");
}

/* Returns the resource group of a resource id, or "" (allocated). */
static char *group_of(const char *id)
{
	const char *g = strstr(id ? id : "", "/resourceGroups/");
	const char *name = g ? g + strlen("/resourceGroups/") : "";

	return xstrndup(name, strcspn(name, "/"));
}

/*
 * Tells whether text is a resource group name ARM takes: 1 to 90 letters,
 * digits, underscores, hyphens, periods and parentheses, not ending in a
 * period (azure-rest-api-specs, common-types resource-management
 * ResourceGroupNameParameter: pattern ^[-\w\._\(\)]+$, 1 to 90; "period
 * (except at end)"). The form types ASCII only, so Unicode letters, which
 * ARM also takes, are not offered.
 */
static bool group_ok(const char *g)
{
	size_t n = strlen(g);

	if (!n || n > 90 || g[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("_-.()", g[i]) && !(g[i] >= '0' && g[i] <= '9') &&
		    !((g[i] | 0x20) >= 'a' && (g[i] | 0x20) <= 'z'))
			return false;
	return true;
}

/* Tells whether a region, as read from Azure, has the shape ARM gives region
 * names (lower-case letters and digits), so that it can be shown and sent. */
static bool region_ok(const char *r)
{
	size_t n = strlen(r);

	for (size_t i = 0; i < n; i++)
		if (!(r[i] >= 'a' && r[i] <= 'z') &&
		    !(r[i] >= '0' && r[i] <= '9'))
			return false;
	return n > 0 && n < REGION_MAX;
}

/* Fills the new-vault form from the skipped resources that wait for a vault
 * in a well-formed region: a suggested name per region, the first one's
 * group; false when none. */
static bool fill_form(struct fleetui *st)
{
	struct vform *v = &st->form;

	v->n = 0;
	for (size_t i = 0; i < st->f.nskipped && v->n < FORM_MAX; i++) {
		const struct fleet_skip *k = &st->f.skipped[i];
		size_t j = 0;

		while (k->region && j < v->n &&
		       !str_ieq(v->region[j], k->region))
			j++;
		if (!k->region || j < v->n || !region_ok(k->region))
			continue;
		snprintf(v->region[v->n], sizeof(v->region[0]), "%s",
			 k->region);
		suggest_name(v->name[v->n], sizeof(v->name[0]), k->region);
		if (!*v->group) {
			char *g = group_of(k->resource_id);

			if (group_ok(g))
				snprintf(v->group, sizeof(v->group), "%s", g);
			free(g);
		}
		v->n++;
	}
	v->at = 0;
	v->yes[0] = '\0';
	free(v->error);
	v->error = NULL;
	return v->n > 0;
}

/* Returns why the form cannot be planned, as fix --all would refuse its
 * options (allocated), or NULL. */
static char *form_mistake(const struct vform *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (!plan_vault_name_ok(v->name[i]))
			return xasprintf(
				_("'%s' is not a key vault name: use 3 to 24 "
				  "letters, digits and dashes, starting with "
				  "a letter"),
				v->name[i]);
	if (!group_ok(v->group))
		return xstrdup(_("name the resource group the new vaults go "
				 "in (it must exist: az group create)"));
	if (*v->sub && !is_uuid(v->sub))
		return xasprintf(_("'%s' is not a subscription id: give one, "
				   "or leave it empty for the first "
				   "resource's"),
				 v->sub);
	if (!str_ieq(v->yes, "yes") && !str_ieq(v->yes, _("yes")))
		return xstrdup(_("type yes to confirm the purge protection "
				 "of the new vaults, which cannot be undone"));
	return NULL;
}

/* Tells whether the form names a vault for the region of a --create-vault
 * value REGION=NAME. */
static bool in_form(const struct vform *v, const char *value)
{
	size_t len = strcspn(value, "=");

	for (size_t i = 0; i < v->n; i++)
		if (strlen(v->region[i]) == len &&
		    strncasecmp(v->region[i], value, len) == 0)
			return true;
	return false;
}

/* Fills out (room for 16) with the new vaults: those given before for other
 * regions, then the form's; returns how many, or 0 with why in v->error
 * when a name is given twice. */
static size_t form_vaults(struct fleetui *st, const char **out)
{
	struct vform *v = &st->form;
	size_t n = 0;

	for (size_t i = 0; i < st->o.nnew_vaults && n + v->n < 16; i++)
		if (!in_form(v, st->o.new_vaults[i]))
			out[n++] = st->o.new_vaults[i];
	for (size_t i = 0; i < v->n; i++)
		out[n++] =
			keep(st, xasprintf("%s=%s", v->region[i], v->name[i]));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (str_ieq(strchr(out[i], '=') + 1,
				    strchr(out[j], '=') + 1)) {
				v->error = xasprintf(
					_("%s is named for two regions: each "
					  "new vault needs a name of its own"),
					strchr(out[i], '=') + 1);
				return 0;
			}
	return n;
}

/* Takes the form: checks it, then plans again with its vaults (beside those
 * given before for other regions), group and subscription, irreversible
 * changes allowed (as --create-vault needs). */
static int take_form(struct ui *u, struct fleetui *st)
{
	struct vform *v = &st->form;
	const char *vaults[16];
	size_t n;

	free(v->error);
	v->error = form_mistake(v);
	if (v->error || !(n = form_vaults(st, vaults)))
		return UI_REDRAW;
	st->was = st->o;
	memcpy(st->o.new_vaults, vaults, n * sizeof(*vaults));
	st->o.nnew_vaults = n;
	st->o.vault_group = keep(st, xstrdup(v->group));
	st->o.vault_sub = *v->sub ? keep(st, xstrdup(v->sub)) : NULL;
	st->o.confirm_irreversible = true;
	replan(u, st, true);
	return UI_REDRAW;
}

/* Returns the field of the form being typed in, and its size. */
static char *form_at(struct vform *v, size_t *size)
{
	if (v->at < v->n) {
		*size = sizeof(v->name[0]);
		return v->name[v->at];
	}
	*size = v->at == v->n       ? sizeof(v->group)
		: v->at == v->n + 1 ? sizeof(v->sub)
				    : sizeof(v->yes);
	return v->at == v->n ? v->group : v->at == v->n + 1 ? v->sub : v->yes;
}

/* Handles a key of the new-vault form: type, Backspace, Tab or Down and
 * Shift-Tab or Up between fields, Enter takes it, Esc closes it. */
static int form_key(struct ui *u, struct fleetui *st, int ch)
{
	struct vform *v = &st->form;
	size_t fields = v->n + 3, size, len;
	char *text = form_at(v, &size);

	len = strlen(text);
	if (ch == 27) {
		st->phase = PH_REVIEW;
		ui_status(u, 0, _("no vault is created: nothing was changed"));
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		return take_form(u, st);
	} else if (ch == '\t' || ch == KEY_DOWN) {
		v->at = (v->at + 1) % fields;
	} else if (ch == KEY_BTAB || ch == KEY_UP) {
		v->at = (v->at + fields - 1) % fields;
	} else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len) {
		text[len - 1] = '\0';
	} else if (ch > 0x20 && ch < 0x7f && len + 1 < size) {
		text[len] = (char)ch;
		text[len + 1] = '\0';
	}
	return UI_REDRAW;
}

/* The n key: opens the new-vault form for the regions where no vault is
 * ready. */
static int vault_key(struct ui *u, struct fleetui *st)
{
	if (!fill_form(st))
		ui_status(u, 0,
			  _("no skipped resource waits for a vault: there is "
			    "none to create"));
	else
		st->phase = PH_VAULTS;
	return UI_REDRAW;
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
		else if (st->allowing)
			allow_irreversible(u, st);
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
	st->allowing = false;
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
	if (st->phase == PH_VAULTS)
		return form_key(u, st, ch);
	if (st->phase == PH_RUNNING || st->phase == PH_ENDED)
		return progress_key(u, st, a, ch);
	if (st->phase == PH_PLANNING || !st->planned)
		return a == ACT_BACK && !ui_busy(u) ? UI_GO_BACK : UI_STAY;
	in = ui_list_key(&st->list, a, ch, u->rows - 3 - st->panel_rows,
			 line_text, st);
	if (in != UI_STAY || st->list.filtering)
		return in;
	if ((a == ACT_APPLY || a == ACT_SELECT) && st->f.n) {
		ask(st, false);
		return UI_REDRAW;
	}
	if (a == ACT_GRANT_SCOPE)
		return switch_scope(u, st);
	if (a == ACT_NEW_VAULT)
		return vault_key(u, st);
	if (a == ACT_ALLOW_IRREVERSIBLE)
		return irreversible_key(u, st);
	return a == ACT_BACK ? UI_GO_BACK : UI_STAY;
}

/* Takes the fleet just planned in place of the one reviewed so far. */
static void take_next(struct fleetui *st)
{
	fleet_free(&st->f);
	free(st->path);
	free(st->rows);
	free(st->only);
	st->f = st->next;
	memset(&st->next, 0, sizeof(st->next));
	st->path = st->next_path;
	st->next_path = NULL;
	st->rows = xcalloc(st->f.n + 1, sizeof(*st->rows));
	st->only = xcalloc(st->f.n + 1, sizeof(*st->only));
	st->wrapped_at = 0; /* rendered again */
	st->planned = true;
}

/* Takes the end of planning: the new review; or, when planning again failed,
 * the review as it was with its options (and the form, if it asked, with
 * why). */
static void planned(struct ui *u, struct fleetui *st, int rc)
{
	bool again = st->planned;

	st->phase = PH_REVIEW;
	if (rc == 0) {
		take_next(st);
		if (again)
			ui_status(u, 0, _("the fleet is planned again"));
		return;
	}
	fleet_free(&st->next);
	free(st->next_path);
	st->next_path = NULL;
	if (!again) {
		ui_status(u, 2, _("the fleet was not planned: %s"),
			  st->error ? st->error : "?");
		return;
	}
	st->o = st->was;
	if (st->from_form) {
		free(st->form.error);
		st->form.error = xasprintf(
			_("not planned: %s. Change the fields above and press "
			  "Enter, or Esc."),
			st->error ? st->error : "?");
		st->phase = PH_VAULTS;
	} else {
		ui_status(u, 2,
			  _("the fleet was not planned again, and is as "
			    "before: %s"),
			  st->error ? st->error : "?");
	}
}

/* Takes the end of planning or of an apply: the review, or the list with its
 * outcome. */
static void fleetui_done(struct ui *u, void *p, int rc)
{
	struct fleetui *st = p;

	if (st->phase == PH_PLANNING) {
		planned(u, st, rc);
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

/* Returns the hint bar's actions for the phase: in the review, the keys of
 * fix --all's choices that apply, and apply when there is a plan. */
static const enum ui_action *fleetui_hints(void *p)
{
	struct fleetui *st = p;
	size_t n = 0;

	if (st->phase == PH_RUNNING || st->phase == PH_ENDED)
		return HINTS + 1;
	if (st->phase == PH_REVIEW && st->planned) {
		st->hints[n++] = ACT_GRANT_SCOPE;
		if (waiting(&st->f, true))
			st->hints[n++] = ACT_NEW_VAULT;
		if (waiting(&st->f, false) || st->o.confirm_irreversible)
			st->hints[n++] = ACT_ALLOW_IRREVERSIBLE;
		if (st->f.n)
			st->hints[n++] = ACT_APPLY;
	}
	st->hints[n++] = ACT_BACK;
	st->hints[n] = ACT_NONE;
	return st->hints;
}

/* The fleet screen, shown over the findings (not a step of the flow). */
static const struct wiz_step step_fleet = {
	.title = N_("Fix the marked findings as one fleet"),
	.free = fleetui_free,
	.draw = fleetui_draw,
	.key = fleetui_key,
	.done = fleetui_done,
	.hints = HINTS,
	.hints_now = fleetui_hints,
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
	/* The wizard's own choices for the fleet: fix --all's defaults. */
	st->o.grant_vault = false;
	st->o.confirm_irreversible = false;
	st->o.nnew_vaults = 0;
	st->o.vault_group = st->o.vault_sub = NULL;
	st->w = &u->wiz;
	st->phase = PH_PLANNING;
	ui_aside_open(u, &step_fleet, st);
	if (!ui_task_start(u, _("planning the fleet"), plan_task, st)) {
		st->phase = PH_REVIEW;
		st->error = xstrdup(_("cannot start planning"));
	}
}
