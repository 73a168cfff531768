/* Whether curses can draw on the terminal TERM names, asked before the wizard
 * takes it. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <term.h> /* its capability macros (lines, columns...) stay in this file */

#include "cli.h"
#include "i18n.h"
#include "text.h"
#include "ui.h"

/* Tells whether terminfo's entry for the terminal moves the cursor. */
static bool addressable(void)
{
	const char *cup = tigetstr("cup");

	return cup && cup != (const char *)-1 && tigetflag("hc") <= 0;
}

/*
 * Tells whether the wizard can draw on the terminal; when it cannot (TERM
 * unset, unknown to terminfo, or a dumb or hardcopy terminal), says so with
 * what to do instead of letting curses print its own message.
 */
bool ui_terminal_usable(void)
{
	const char *term = getenv("TERM");
	int err = 0;
	bool ok;
	char *name;

	if (!term || !*term) {
		cli_error(_("the wizard cannot start: TERM is not set; set it "
			    "to your terminal's type (for example "
			    "xterm-256color), or use the commands (azcmk "
			    "--help)"));
		return false;
	}
	ok = setupterm(NULL, 1, &err) == OK && err == 1 && addressable();
	if (cur_term)
		del_curterm(cur_term);
	if (ok)
		return true;
	name = text_sanitize(term, false);
	if (err == 1)
		cli_error(_("the wizard cannot draw on terminal type '%s': it "
			    "cannot move the cursor; set TERM to your "
			    "terminal's type (for example xterm-256color), or "
			    "use the commands (azcmk --help)"),
			  name);
	else
		cli_error(_("the wizard cannot start: terminal type '%s' is "
			    "not known to terminfo; set TERM to your "
			    "terminal's type (for example xterm-256color), "
			    "install its entry (apt-get install ncurses-term), "
			    "or use the commands (azcmk --help)"),
			  name);
	free(name);
	return false;
}
