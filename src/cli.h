/* Command-line plumbing shared by azcmk and azcmk-sim: locale, version text,
 * messages. */
#ifndef AZ_CLI_H
#define AZ_CLI_H

#include <stdbool.h>

#include <json-c/json.h>

/* How much azcmk says on standard error besides errors: --only-show-errors,
 * the default, or --verbose (as az's levels). */
enum cli_verbosity { CLI_ERRORS_ONLY = -1, CLI_NORMAL = 0, CLI_VERBOSE = 1 };

void cli_init(const char *argv0);
const char *cli_program(void);
void cli_version(void);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_set_verbosity(enum cli_verbosity v);
enum cli_verbosity cli_verbosity(void);
bool cli_no_colour(void);
void cli_print_doc(struct json_object *doc, const char *list, bool tsv);

/* --color: unset (the environment decides), auto, always or never. */
enum cli_colour {
	CLI_COLOUR_ENV,
	CLI_COLOUR_AUTO,
	CLI_COLOUR_ALWAYS,
	CLI_COLOUR_NEVER
};
void cli_set_colour(enum cli_colour mode);
bool cli_colour(bool capable);
bool cli_parse_int(const char *text, int min, int max, int *out);
char *cli_read_file(const char *path, size_t *len, char **err);
bool cli_write_file(const char *path, const char *data, char **err);

#endif
