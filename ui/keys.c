/* The key table: which keys do which named action; help and the hint bar are
 * generated from it. */
#include "config.h"

#include <curses.h>

#include "i18n.h"
#include "ui.h"

/* One binding: a key, its action, and how help names the keys of that action.
 */
struct binding {
	int ch;
	enum ui_action act;
};

static const struct binding BINDINGS[] = {
	{ KEY_UP, ACT_UP },
	{ 'k', ACT_UP },
	{ KEY_DOWN, ACT_DOWN },
	{ 'j', ACT_DOWN },
	{ KEY_PPAGE, ACT_PAGE_UP },
	{ KEY_NPAGE, ACT_PAGE_DOWN },
	{ KEY_HOME, ACT_TOP },
	{ 'g', ACT_TOP },
	{ KEY_END, ACT_BOTTOM },
	{ 'G', ACT_BOTTOM },
	{ '\n', ACT_SELECT },
	{ '\r', ACT_SELECT },
	{ KEY_ENTER, ACT_SELECT },
	{ ' ', ACT_TOGGLE },
	{ '\t', ACT_NEXT },
	{ 27, ACT_BACK },
	{ KEY_BACKSPACE, ACT_BACK },
	{ 127, ACT_BACK },
	{ 8, ACT_BACK },
	{ '/', ACT_FILTER },
	{ 'f', ACT_WHOLE },
	{ 'e', ACT_EXPLAIN },
	{ 'v', ACT_SWITCH },
	{ 'r', ACT_RELOAD },
	{ 'u', ACT_TYPE_URI },
	{ 'o', ACT_SYSTEM_OFF },
	{ 'a', ACT_APPLY },
	{ 's', ACT_SAVE },
	{ 't', ACT_EXPORT_ARM },
	{ 'z', ACT_EXPORT_AZ },
	{ 'w', ACT_GRANT_SCOPE },
	{ 'n', ACT_NEW_VAULT },
	{ 'i', ACT_ALLOW_IRREVERSIBLE },
	{ '?', ACT_HELP },
	{ 'q', ACT_QUIT },
};

/* The keys of each action as help shows them (not translated: they are key
 * names). */
static const char *const KEY_NAMES[ACT_COUNT] = {
	[ACT_UP] = "Up Down k j",
	[ACT_DOWN] = "Down j",
	[ACT_PAGE_UP] = "PgUp PgDn",
	[ACT_PAGE_DOWN] = "PgDn",
	[ACT_TOP] = "Home End g G",
	[ACT_BOTTOM] = "End G",
	[ACT_SELECT] = "Enter",
	[ACT_TOGGLE] = "Space a",
	[ACT_NEXT] = "Tab",
	[ACT_BACK] = "Esc Bksp",
	[ACT_FILTER] = "/",
	[ACT_WHOLE] = "f",
	[ACT_EXPLAIN] = "e",
	[ACT_SWITCH] = "v",
	[ACT_RELOAD] = "r",
	[ACT_TYPE_URI] = "u",
	[ACT_SYSTEM_OFF] = "o",
	[ACT_APPLY] = "a",
	[ACT_SAVE] = "s t z",
	[ACT_EXPORT_ARM] = "t",
	[ACT_EXPORT_AZ] = "z",
	[ACT_RETRY] = "r",
	[ACT_GRANT_SCOPE] = "w",
	[ACT_NEW_VAULT] = "n i",
	[ACT_ALLOW_IRREVERSIBLE] = "i",
	[ACT_HELP] = "?",
	[ACT_QUIT] = "q",
};

#define UI_ACTION_LABEL(name, label, text) [ACT_##name] = label,
static const char *const LABELS[ACT_COUNT] = { UI_ACTIONS(UI_ACTION_LABEL) };
#undef UI_ACTION_LABEL
#define UI_ACTION_TEXT(name, label, text) [ACT_##name] = text,
static const char *const TEXTS[ACT_COUNT] = { UI_ACTIONS(UI_ACTION_TEXT) };
#undef UI_ACTION_TEXT

/* Returns the action a key is bound to, or ACT_NONE. */
enum ui_action ui_action_of(int ch)
{
	for (size_t i = 0; i < sizeof(BINDINGS) / sizeof(BINDINGS[0]); i++)
		if (BINDINGS[i].ch == ch)
			return BINDINGS[i].act;
	return ACT_NONE;
}

/* Returns the keys of an action, as help and the hint bar name them. */
const char *ui_action_keys(enum ui_action a)
{
	return a > ACT_NONE && a < ACT_COUNT && KEY_NAMES[a] ? KEY_NAMES[a]
							     : "";
}

/* Returns an action's short label for the hint bar, translated. */
const char *ui_action_label(enum ui_action a)
{
	return a > ACT_NONE && a < ACT_COUNT && LABELS[a] ? _(LABELS[a]) : "";
}

/* Returns what an action does, as help says it, translated. */
const char *ui_action_text(enum ui_action a)
{
	return a > ACT_NONE && a < ACT_COUNT && TEXTS[a] && *TEXTS[a]
		       ? _(TEXTS[a])
		       : "";
}
