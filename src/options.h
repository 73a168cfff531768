/* The command line's options and commands: what each option sets, and which
 * commands it applies to. */
#ifndef AZ_OPTIONS_H
#define AZ_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "cmd.h"

/* One bit per command (and the wizard, which runs without one): the commands an
 * option applies to. */
enum {
	CMD_WIZARD = 1u << 0,
	CMD_LOGIN = 1u << 1,
	CMD_ACCOUNT = 1u << 2,
	CMD_CHECK = 1u << 3,
	CMD_PLAN = 1u << 4,
	CMD_APPLY = 1u << 5,
	CMD_ROTATE = 1u << 6,
	CMD_REFRESH = 1u << 7,
	CMD_AUDIT = 1u << 8,
	CMD_FIX = 1u << 9,
	CMD_HISTORY = 1u << 10,
	CMD_KEYS = 1u << 11,
	CMD_LOGOUT = 1u << 12,
	CMD_GUARD = 1u << 13,
};

/* A command: its word, its bit, what runs it, and its help (N_ texts). */
struct cmd_def {
	const char *name;
	unsigned bit;
	int (*run)(const struct cmd_opts *o, int argc, char **argv);
	const char *operands; /* "RESOURCE", or "" */
	const char *summary;  /* a line in the list of commands */
	const char *about;    /* what it does, atop its --help */
	const char *examples; /* its examples, a line each */
};

int options_parse(int argc, char **argv, const struct cmd_def *cmds,
		  size_t ncmds, struct cmd_opts *o,
		  const struct cmd_def **which);

void options_print(FILE *out, unsigned cmd);
void help_print(FILE *out, int indent, const char *text);

#endif
