/* Step 4, vault, key, version: vaults and Managed HSMs with a badge per vault
 * rule, their keys, a key's versions, or a new key. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "jx.h"
#include "keys.h"
#include "pick.h"
#include "sbuf.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

#define MAX_KEYS 60 /* the keys listed, each read in detail */

enum level { VAULTS, KEYS, VERSIONS };

/* The step's private state: where the operator is (vaults, keys, versions) and
 * what was read for each. */
struct keystep {
	enum level level;
	struct ui_list list;
	struct json_object *vaults; /* the key vaults, then the Managed HSMs, as
				       ARM lists them (az_key_stores) */
	char **badges; /* one per vault: the vault rules that fail, or "ready"
			*/
	int vault;     /* the vault chosen (index), or -1 */
	struct json_object *keys; /* the vault's keys: name, kid, kty, keySize,
				     enabled, expires (az_keys_list) */
	int key;                  /* the key chosen (index), or -1 */
	struct json_object *versions; /* the key's versions: version, kid,
					 enabled, created (az_key_versions) */
	char *error;
	char buf[512];
	bool typing; /* the key URI prompt is open */
	char typed[300];
};

/* What the list's callbacks see: the wizard (the resource and its service) and
 * this step's state. */
struct key_view {
	const struct wizard *w;
	struct keystep *st;
};

/* Lists the vaults, then the Managed HSMs, of the chosen subscriptions (task
 * thread). */
static int read_vaults(struct wizard *w, void *arg)
{
	struct keystep *st = arg;
	struct az_error e = { 0 };
	size_t n;
	const char **subs = wiz_chosen_subs(w, &n);
	int rc = az_key_stores(w->s, subs, n, &st->vaults, &e);

	if (rc != 0)
		st->error = xstrdup(e.message ? e.message : "?");
	az_error_clear(&e);
	free(subs);
	return rc;
}

/* Returns how the chosen vault is named to the key functions: its URI, else its
 * name. */
static const char *chosen_store(const struct keystep *st)
{
	struct json_object *v = jx_at(st->vaults, (size_t)st->vault);

	return pick_store_uri(v) ? pick_store_uri(v) : jx_str(v, "name");
}

/* Reads the chosen vault's keys, the first MAX_KEYS with their current
 * version's details (task thread). */
static int read_keys(struct wizard *w, void *arg)
{
	struct keystep *st = arg;
	struct az_error e = { 0 };
	struct key_ref store;
	int rc = -1;

	if (az_keys_ref(w->s, chosen_store(st), NULL, &store, &e)) {
		rc = az_keys_list(w->s, &store, MAX_KEYS, &st->keys, &e);
		key_ref_free(&store);
	}
	if (rc != 0)
		st->error = xstrdup(e.message ? e.message : "?");
	az_error_clear(&e);
	return rc;
}

/* Lists the chosen key's versions (task thread). */
static int read_versions(struct wizard *w, void *arg)
{
	struct keystep *st = arg;
	struct az_error e = { 0 };
	struct key_ref key;
	int rc = -1;

	if (az_keys_ref(w->s, chosen_store(st),
			jx_str(jx_at(st->keys, (size_t)st->key), "name"), &key,
			&e)) {
		rc = az_key_versions(w->s, &key, &st->versions, &e);
		key_ref_free(&key);
	}
	if (rc != 0)
		st->error = xstrdup(e.message ? e.message : "?");
	az_error_clear(&e);
	return rc;
}

/* Marks a vault rule's finding: ? not judged, x a blocker no plan fixes, fix
 * one it does, ! a warning. */
static const char *badge_mark(const struct cmk_finding *f)
{
	if (f->unknown)
		return "? ";
	if (f->severity != SEV_BLOCKER)
		return "! ";
	return f->rule->fix_step == FIX_NONE ? "x " : "fix ";
}

/* Judges a vault for the resource with what is known before a key is chosen;
 * the report is the caller's to free. */
static void judge_vault(struct ui *u, struct json_object *vault,
			struct cmk_report *r)
{
	struct key_suffixes sfx = az_session_key_suffixes(u->wiz.s);
	struct cmk_ctx c = u->wiz.cur.ctx;
	const char *why;

	c.change = true;
	c.vault = vault;
	c.vault_status = 200;
	if (!key_ref_store(pick_store_uri(vault), &sfx, &c.keyref, &why))
		memset(&c.keyref, 0, sizeof(c.keyref));
	c.key = NULL;
	c.key_status = 0;
	cmk_check(&c, r);
	key_ref_free(&c.keyref);
}

/* Judges a vault for the resource (the vault rules only) and returns its badge,
 * allocated. */
static char *badge(struct ui *u, struct json_object *vault)
{
	struct cmk_report r;
	struct sbuf b = SBUF_INIT;

	judge_vault(u, vault, &r);
	for (size_t i = 0; i < r.n; i++)
		if (str_istarts(r.items[i].rule->id, "vault."))
			sb_printf(&b, "%s%s%s", b.len ? " " : "",
				  badge_mark(&r.items[i]),
				  r.items[i].rule->id + strlen("vault."));
	cmk_report_free(&r);
	return b.len ? sb_steal(&b) : xstrdup(_("ready"));
}

/* Frees the badges. */
static void free_badges(struct keystep *st)
{
	for (size_t i = 0; st->badges && i < jx_len(st->vaults); i++)
		free(st->badges[i]);
	free(st->badges);
	st->badges = NULL;
}

/*
 * Tells whether the keys list ends with "create a new key": not in a
 * Managed HSM, whose keys azcmk does not create (a plan's new key is a
 * software-protected RSA key, which an HSM does not hold).
 */
static bool new_key_row(const struct keystep *st)
{
	return st->vault >= 0 &&
	       !pick_is_hsm(jx_at(st->vaults, (size_t)st->vault));
}

/* Counts a level's rows: what was read for it, plus the "new key" and
 * "newest" rows. */
static size_t level_rows(struct ui *u, const struct keystep *st, enum level lv)
{
	return lv == VAULTS ? jx_len(st->vaults)
	       : lv == KEYS
		       ? jx_len(st->keys) + (new_key_row(st) ? 1 : 0)
		       : jx_len(st->versions) +
				 (u->wiz.cur.ctx.svc->version_required ? 0 : 1);
}

/* Goes to another level and shows its list afresh, without a filter. */
static void show(struct ui *u, struct keystep *st, enum level lv)
{
	st->level = lv;
	ui_list_reset(&st->list, level_rows(u, st, lv));
}

/* Allocates the step's state. */
static void *key_init(struct ui *u)
{
	struct keystep *st = xcalloc(1, sizeof(*st));

	(void)u;
	st->vault = st->key = -1;
	return st;
}

/* Forgets what was read below the vault list. */
static void drop_keys(struct keystep *st)
{
	json_object_put(st->keys);
	json_object_put(st->versions);
	st->keys = st->versions = NULL;
	st->key = -1;
}

/* Frees the step's state. */
static void key_free(void *p)
{
	struct keystep *st = p;

	free_badges(st);
	drop_keys(st);
	json_object_put(st->vaults);
	ui_list_free(&st->list);
	free(st->error);
	free(st);
}

/* Lists the vaults the first time the step is shown. */
static void key_enter(struct ui *u, void *p)
{
	struct keystep *st = p;

	ui_list_unfilter(&st->list);
	if (st->vaults || ui_busy(u))
		return;
	free(st->error);
	st->error = NULL;
	ui_list_reset(&st->list, 0);
	ui_task_start(u, _("listing the key vaults"), read_vaults, st);
}

/* Returns the day of an ISO 8601 time (its first ten characters, YYYY-MM-DD),
 * or "-" for none; in a static buffer. */
static const char *day(const char *iso)
{
	static char out[16];

	if (iso && !strcmp(iso, "unknown"))
		return "?";
	if (!iso || strlen(iso) < 10)
		return "-";
	snprintf(out, sizeof(out), "%.10s", iso);
	return out;
}

/* Returns "enabled", "disabled", or "?" when Key Vault did not say. */
static const char *enabled_word(struct json_object *k)
{
	struct json_object *on = jx_get(k, "enabled");

	if (!json_object_is_type(on, json_type_boolean))
		return "?";
	return json_object_get_boolean(on) ? _("enabled") : _("disabled");
}

/* Describes a key as its row shows it, into st->buf. */
static void key_text(struct keystep *st, struct json_object *k)
{
	long bits = (long)jx_int(k, "keySize", 0);
	char size[24];

	snprintf(size, sizeof(size), bits ? "%ld" : "?", bits);
	snprintf(st->buf, sizeof(st->buf),
		 _(" %-26s %-8s %5s  %-9s expires %s"), jx_str(k, "name"),
		 jx_str(k, "kty") ? jx_str(k, "kty") : "?", size,
		 enabled_word(k), day(jx_str(k, "expires")));
}

/* Describes a row of the current level into st->buf and returns it. */
static const char *row_text(void *ctx, size_t i)
{
	const struct key_view *view = ctx;
	struct keystep *st = view->st;
	bool version_required = view->w->cur.ctx.svc->version_required;

	if (st->level == VAULTS) {
		struct json_object *v = jx_at(st->vaults, i);

		snprintf(st->buf, sizeof(st->buf), " %-26s %-14s %s%s",
			 jx_str(v, "name"), jx_str(v, "location"),
			 pick_is_hsm(v) ? _("[HSM] ") : "",
			 st->badges ? st->badges[i] : "");
	} else if (st->level == KEYS && i < jx_len(st->keys)) {
		key_text(st, jx_at(st->keys, i));
	} else if (st->level == KEYS) {
		char *name = pick_key_name(view->w->cur.resource);

		snprintf(st->buf, sizeof(st->buf),
			 _(" + create a new RSA key, %s"), name);
		free(name);
	} else if (!version_required && i == 0) {
		snprintf(st->buf, sizeof(st->buf), "%s",
			 _(" follow the newest version (no version in the key "
			   "URI)"));
	} else {
		struct json_object *v =
			jx_at(st->versions, i - (version_required ? 0 : 1));

		snprintf(st->buf, sizeof(st->buf), _(" %-34s %-9s created %s"),
			 jx_str(v, "version"), enabled_word(v),
			 day(jx_str(v, "created")));
	}
	return st->buf;
}

/* Returns the width of the vaults' name column: the longest name, at most 26
 * columns. */
static int name_column(const struct keystep *st)
{
	int w = 8;

	for (size_t i = 0; i < jx_len(st->vaults); i++) {
		const char *name = jx_str(jx_at(st->vaults, i), "name");
		int n = name ? text_width(name) : 0;

		w = n > w ? n : w;
	}
	return w > 26 ? 26 : w;
}

/*
 * Lays out a vault's row in the terminal's width: the badges that decide
 * the choice always show, so the name is abbreviated (with the ellipsis)
 * first; allocated.
 */
static char *vault_row(struct ui *u, const struct keystep *st, size_t i)
{
	struct json_object *v = jx_at(st->vaults, i);
	char *badges = xasprintf("%s%s", pick_is_hsm(v) ? _("[HSM] ") : "",
				 st->badges ? st->badges[i] : "");
	int room = u->cols - 17 - text_width(badges), /* the location's 14 */
		col = name_column(st);
	char *name = ui_fit(u, jx_str(v, "name"),
			    room > col ? col
			    : room < 8 ? 8
				       : room);
	char *line =
		xasprintf(" %s %-14s %s", name, jx_str(v, "location"), badges);

	free(name);
	free(badges);
	return line;
}

/* Paints one row of the current level. */
static void row(struct ui *u, void *ctx, size_t i, int y, bool selected)
{
	const struct key_view *view = ctx;
	char *text = view->st->level == VAULTS ? vault_row(u, view->st, i)
					       : xstrdup(row_text(ctx, i));

	ui_put(u, y, 0, u->cols, text,
	       selected ? ui_attr(u, UI_A_SELECTED) : (int)A_NORMAL);
	free(text);
}

/* Paints the level's heading and list, or what is being read. */
static void key_draw(struct ui *u, void *p, int top, int rows)
{
	struct keystep *st = p;
	struct key_view view = { &u->wiz, st };
	const char *vault =
		st->vault >= 0
			? jx_str(jx_at(st->vaults, (size_t)st->vault), "name")
			: "";
	char *head;

	if (ui_busy(u) || st->error || !st->vaults) {
		ui_put(u, top + 1, 2, u->cols - 4,
		       st->error ? st->error : _("Reading..."),
		       st->error ? ui_attr(u, UI_A_BLOCKER) : (int)A_NORMAL);
		ui_list_draw_pending(u, &st->list, top + rows - 1);
		return;
	}
	head = st->level == VAULTS
		       ? xstrdup(_("Vaults for the key (x: cannot, fix: plan "
				   "fixes it, !: warning, ?: unjudged):"))
	       : st->level == KEYS
		       ? xasprintf(_("Keys in %s (Enter chooses one):"), vault)
		       : xasprintf(_("Versions of the key in %s (Enter chooses "
				     "one):"),
				   vault);
	ui_put(u, top + 1, 2, u->cols - 4, head, A_BOLD);
	free(head);
	ui_list_draw(u, &st->list, top + 2, rows - (st->typing ? 4 : 2), row,
		     &view);
	if (st->typing) {
		char *prompt = xasprintf(
			_("Key URI (Enter takes it, Esc closes): %s_"),
			st->typed);

		ui_put(u, top + rows - 1, 1, u->cols - 1, prompt,
		       ui_attr(u, UI_A_WARNING));
		free(prompt);
	}
}

/*
 * Chooses the selected version (or "newest": the key's own kid, which names
 * no version) as the key, through the one key parser, and goes on.
 */
static int choose_version(struct ui *u, struct keystep *st, size_t i)
{
	struct wizard *w = &u->wiz;
	bool version_required = w->cur.ctx.svc->version_required,
	     newest = !version_required && i == 0;
	const char *kid =
		newest ? jx_str(jx_at(st->keys, (size_t)st->key), "kid")
		       : jx_str(jx_at(st->versions,
				      i - (version_required ? 0 : 1)),
				"kid");
	struct key_suffixes sfx = az_session_key_suffixes(w->s);
	const char *why = NULL;
	struct key_ref k;

	if (!key_ref_parse(kid, &sfx, &k, &why)) {
		char *shown = text_sanitize(kid ? kid : "", false);

		ui_status(u, 2,
			  _("the vault named '%s' as a key, which is not a key "
			    "azcmk can use: %s"),
			  shown, _(why));
		free(shown);
		return UI_STAY;
	}
	wiz_forget_from(w, FORGET_KEY);
	w->key_uri = key_ref_versioned(&k, newest ? NULL : k.version);
	key_ref_free(&k);
	return UI_GO_NEXT;
}

/* Tells whether a vault cannot hold the resource's key (a vault rule fails that
 * no plan fixes, such as a vault in another region), and if so says which
 * rule and why, instead of opening it. */
static bool refuse_vault(struct ui *u, struct json_object *vault)
{
	struct cmk_report r;
	const struct cmk_finding *f;

	judge_vault(u, vault, &r);
	f = cmk_unfixable(&r, "vault.");
	if (f) {
		char *msg = text_sanitize(f->message, false);

		ui_status(u, 2,
			  _("no plan can fix this, choose another vault: %s "
			    "(%s)"),
			  msg, f->rule->id);
		free(msg);
	}
	cmk_report_free(&r);
	return f != NULL;
}

/* Acts on Enter at the current level: open a vault, open a key, create one, or
 * choose a version. */
static int select_row(struct ui *u, struct keystep *st)
{
	struct wizard *w = &u->wiz;
	size_t i;

	if (!ui_list_selected(&st->list, &i))
		return UI_STAY;
	if (st->level == VAULTS && refuse_vault(u, jx_at(st->vaults, i)))
		return UI_REDRAW;
	if (st->level == VAULTS) {
		drop_keys(st);
		st->vault = (int)i;
		ui_list_reset(&st->list, 0);
		st->level = KEYS;
		ui_task_start(u, _("reading the vault's keys"), read_keys, st);
	} else if (st->level == KEYS && i == jx_len(st->keys) &&
		   new_key_row(st)) {
		wiz_forget_from(w, FORGET_KEY);
		w->create_vault = xstrdup(
			jx_str(jx_at(st->vaults, (size_t)st->vault), "name"));
		w->create_key = pick_key_name(w->cur.resource);
		return UI_GO_NEXT;
	} else if (st->level == KEYS) {
		json_object_put(st->versions);
		st->versions = NULL;
		st->key = (int)i;
		ui_list_reset(&st->list, 0);
		st->level = VERSIONS;
		ui_task_start(u, _("listing the key's versions"), read_versions,
			      st);
	} else {
		return choose_version(u, st, i);
	}
	return UI_REDRAW;
}

/* Takes a typed key URI, when it is one on the cloud's own key stores, as the
 * key; otherwise says why not. */
static int take_uri(struct ui *u, struct keystep *st)
{
	struct key_suffixes sfx = az_session_key_suffixes(
		u->wiz.s); /* the cloud, fixed at sign-in */
	struct key_ref k;
	const char *why;

	st->typing = false;
	if (!key_ref_parse(st->typed, &sfx, &k, &why)) {
		ui_status(u, 2,
			  _("'%s' is not a key azcmk can use: %s; use "
			    "https://VAULT%s/keys/NAME[/VERSION]"),
			  st->typed, _(why), sfx.vault);
		return UI_REDRAW;
	}
	wiz_forget_from(&u->wiz, FORGET_KEY);
	u->wiz.key_uri = key_ref_uri(&k);
	key_ref_free(&k);
	return UI_GO_NEXT;
}

/* Edits the typed key URI: printable characters, Backspace, Enter takes it, Esc
 * closes the prompt. */
static int uri_key(struct ui *u, struct keystep *st, int ch)
{
	size_t len = strlen(st->typed);

	if (ch == 27)
		st->typing = false;
	else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
		return take_uri(u, st);
	else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len)
		st->typed[len - 1] = '\0';
	else if (ch > 0x20 && ch < 0x7f && len + 1 < sizeof(st->typed)) {
		st->typed[len] = (char)ch;
		st->typed[len + 1] = '\0';
	}
	return UI_REDRAW;
}

/* Handles a key: move, filter, open, choose, type a key URI, go up a level
 * (Esc), or read again. */
static int key_key(struct ui *u, void *p, enum ui_action a, int ch)
{
	struct keystep *st = p;
	struct key_view view = { &u->wiz, st };
	int in;

	if (st->typing)
		return uri_key(u, st, ch);
	in = ui_list_key(&st->list, a, ch, u->rows - 6, row_text, &view);

	if (in != UI_STAY || st->list.filtering || ui_busy(u))
		return in;
	if (a == ACT_SELECT || a == ACT_NEXT)
		return select_row(u, st);
	if (a == ACT_TYPE_URI) {
		st->typing = true;
		st->typed[0] = '\0';
		return UI_REDRAW;
	}
	if (a == ACT_BACK && st->level != VAULTS) {
		free(st->error);
		st->error = NULL;
		show(u, st, st->level == VERSIONS ? KEYS : VAULTS);
		return UI_REDRAW;
	}
	if (a == ACT_RELOAD) {
		free_badges(st);
		drop_keys(st);
		json_object_put(st->vaults);
		st->vaults = NULL;
		st->vault = -1;
		key_enter(u, st);
		return UI_REDRAW;
	}
	return UI_STAY;
}

/* Returns the index of the listed vault with this name, or -1. */
static int vault_named(const struct keystep *st, const char *name)
{
	for (size_t i = 0; name && i < jx_len(st->vaults); i++)
		if (str_ieq(jx_str(jx_at(st->vaults, i), "name"), name))
			return (int)i;
	return -1;
}

/* Tells whether the chosen vault is the one whose key the resource uses now. */
static bool vault_in_use(struct ui *u, const struct keystep *st)
{
	return st->vault >= 0 && u->wiz.cur.ctx.keyref.vault &&
	       str_ieq(jx_str(jx_at(st->vaults, (size_t)st->vault), "name"),
		       u->wiz.cur.ctx.keyref.vault);
}

/*
 * Puts the cursor where the fix most likely is: on the vault, key and
 * version in use; on "create a new key" when the finding's fix is a new key;
 * for a resource on Microsoft-managed keys, on the vault pick_vaults ranks
 * best. The operator can still move anywhere.
 */
static void preselect(struct ui *u, struct keystep *st)
{
	struct wizard *w = &u->wiz;
	bool new_key = w->finding && w->finding->fix_step == FIX_CREATE_KEY;
	long at = -1;

	if (st->level == VAULTS) {
		size_t best = 0;

		at = vault_named(st, w->cur.ctx.keyref.vault);
		if (at < 0 && pick_vaults(w->cur.ctx.svc, w->cur.resource, NULL,
					  st->vaults, &best, 1) == 1)
			at = (long)best;
	} else if (st->level == KEYS && new_key && new_key_row(st)) {
		at = (long)jx_len(st->keys);
	} else if (st->level == KEYS && vault_in_use(u, st)) {
		for (size_t i = 0; i < jx_len(st->keys); i++)
			if (str_ieq(jx_str(jx_at(st->keys, i), "name"),
				    w->cur.ctx.keyref.name))
				at = (long)i;
	} else if (st->level == VERSIONS && vault_in_use(u, st) &&
		   w->cur.ctx.keyref.version) {
		size_t skip = w->cur.ctx.svc->version_required ? 0 : 1;

		for (size_t i = 0; i < jx_len(st->versions); i++)
			if (str_ieq(jx_str(jx_at(st->versions, i), "version"),
				    w->cur.ctx.keyref.version))
				at = (long)(i + skip);
	}
	if (at >= 0 && (size_t)at < st->list.n)
		ui_list_select(&st->list, (size_t)at);
}

/* Shows what the task read, at the level it was read for and through the filter
 * typed meanwhile; badges are judged by the core. */
static void key_done(struct ui *u, void *p, int rc)
{
	struct keystep *st = p;
	struct key_view view = { &u->wiz, st };

	if (rc != 0) {
		ui_status(u, 2, "%s", st->error ? st->error : "?");
		free(st->error);
		st->error = NULL;
		show(u, st,
		     st->level == VAULTS ? VAULTS
		     : st->level == KEYS ? VAULTS
					 : KEYS);
		return;
	}
	if (st->level == VAULTS) {
		free_badges(st);
		st->badges =
			xcalloc(jx_len(st->vaults) + 1, sizeof(*st->badges));
		for (size_t i = 0; i < jx_len(st->vaults); i++)
			st->badges[i] = badge(u, jx_at(st->vaults, i));
	}
	ui_list_fill(&st->list, level_rows(u, st, st->level), row_text, &view);
	preselect(u, st);
}

static const enum ui_action HINTS[] = { ACT_SELECT, ACT_TYPE_URI, ACT_FILTER,
					ACT_RELOAD, ACT_BACK,     ACT_NONE };

const struct wiz_step step_key = {
	.title = N_("Vault, key and version"),
	.init = key_init,
	.free = key_free,
	.enter = key_enter,
	.draw = key_draw,
	.key = key_key,
	.done = key_done,
	.hints = HINTS,
};
