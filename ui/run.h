/* The wizard's one entry point, for the program's main: no curses and no screen
 * state, only what starts it. */
#ifndef AZ_UI_RUN_H
#define AZ_UI_RUN_H

#include <stdbool.h>

struct cmd_opts;

/* Runs the wizard (on the demo tenant when demo) until the operator quits or a
 * signal ends it; the exit status. */
int ui_run(struct cmd_opts *o, bool demo);

#endif
