/* Command-line plumbing shared by azcmk and azcmk-sim: locale, version text,
 * messages. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "text.h"
#include "tsv.h"
#include "i18n.h"
#include "sbuf.h"
#include "xalloc.h"

static const char *program = PACKAGE;
static enum cli_colour colour_mode = CLI_COLOUR_ENV; /* --color */

/*
 * Returns the build tree's catalogues (allocated) when this program runs
 * uninstalled from a build tree, else NULL: its own file, found through
 * /proc/self/exe and not argv[0], sits in a folder named src that is not
 * BINDIR, beside the po/locale that make lays out (Makefile.am, po-locale).
 * Whoever can write that tree can already rewrite the program, so trusting
 * its catalogues grants nothing more; an installed azcmk never looks there.
 */
static char *build_tree_localedir(void)
{
	char exe[PATH_MAX], *slash, *dir;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;
	size_t len;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash || slash == exe)
		return NULL;
	*slash = '\0';
	len = strlen(exe);
	if (strcmp(exe, BINDIR) == 0 || len < 4 ||
	    strcmp(exe + len - 4, "/src") != 0)
		return NULL;
	exe[len - 4] = '\0';
	dir = xasprintf("%s/po/locale", exe);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return dir;
	free(dir);
	return NULL;
}

/* Sets up the locale and message catalogue (AZCMK_LOCALEDIR overrides where,
 * for tests; an uninstalled program reads its build tree's) and the program
 * name. */
void cli_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL,
		   *dir = getenv("AZCMK_LOCALEDIR");
	char *built = dir && *dir ? NULL : build_tree_localedir();

	program = slash ? slash + 1 : (argv0 ? argv0 : PACKAGE);
	setlocale(LC_ALL, "");
	bindtextdomain(PACKAGE, dir && *dir ? dir : built ? built : LOCALEDIR);
	textdomain(PACKAGE);
	free(built);
}

/* Returns the program name used in messages. */
const char *cli_program(void)
{
	return program;
}

/* Prints the GNU-style version text. */
void cli_version(void)
{
	printf("%s (%s) %s\n", program, PACKAGE_NAME, PACKAGE_VERSION);
	printf("%s\n", _("Copyright (C) 2026 the azcmk authors."));
	printf("%s\n",
	       _("License ISC: <https://opensource.org/licenses/ISC>."));
	printf("%s\n", _("This is free software: you are free to change and "
			 "redistribute it."));
	printf("%s\n",
	       _("There is NO WARRANTY, to the extent permitted by law."));
}

/* Prints "program: message" on standard error. */
void cli_error(const char *fmt, ...)
{
	va_list ap;
	char *text, *clean;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	/* Errors quote servers and files: control characters never reach the
	 * terminal (newlines are kept). */
	clean = text_sanitize(text, true);
	fprintf(stderr, "%s: %s\n", program, clean);
	free(clean);
	free(text);
}

/* Parses a whole decimal integer within [min, max]. */
bool cli_parse_int(const char *text, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* Reads a whole file ("-" is standard input); returns NULL with a message on
 * failure. */
char *cli_read_file(const char *path, size_t *len, char **err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct sbuf b = SBUF_INIT;
	char chunk[65536];
	size_t n;

	if (!f) {
		*err = xasprintf(_("cannot open '%s': %s"), path,
				 strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sb_add(&b, chunk, n);
	if (ferror(f)) {
		*err = xasprintf(_("cannot read '%s': %s"), path,
				 strerror(errno));
		sb_free(&b);
		b.s = NULL;
	}
	if (f != stdin)
		fclose(f);
	*len = b.len;
	return b.s ? b.s : (ferror(f) ? NULL : xstrdup(""));
}

/* Writes a file atomically (a temporary file renamed over it), so readers never
 * see half of it. */
bool cli_write_file(const char *path, const char *data, char **err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	/* Private from the start (plans and scripts name resources), created
	 * anew, never through a link. */
	int fd =
		(unlink(tmp),
		 open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0600));
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	/* On disk before the rename (as cmk_write_private): a crash never
	 * leaves an empty plan where the whole one was said to be. */
	bool ok = f && fputs(data, f) >= 0 && fflush(f) == 0 && fsync(fd) == 0;

	if (fd >= 0 && !f)
		close(fd);
	if (f && fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok) {
		*err = xasprintf(_("cannot write '%s': %s"), path,
				 strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

/* How much is said on standard error besides errors (--only-show-errors,
 * --verbose). */
static enum cli_verbosity verbosity = CLI_NORMAL;

/* Sets how much is said on standard error besides errors. */
void cli_set_verbosity(enum cli_verbosity v)
{
	verbosity = v;
}

/* Returns how much is said on standard error besides errors. */
enum cli_verbosity cli_verbosity(void)
{
	return verbosity;
}

/*
 * Prints a warning or a note on standard error, as given (its own line
 * ends), with control characters replaced; nothing under --only-show-errors,
 * which az defines as "only show errors, suppressing warnings".
 */
void cli_warn(const char *fmt, ...)
{
	va_list ap;
	char *text, *clean;

	if (verbosity < CLI_NORMAL)
		return;
	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	clean = text_sanitize(text, true);
	fputs(clean, stderr);
	fflush(stderr);
	free(clean);
	free(text);
}

/*
 * Prints a command's document as every command prints it: with -o json the
 * whole of it, indented, slashes as they are; with -o tsv, as az's tsv, its
 * member list (the command's list of items) or, when list is NULL, itself.
 */
void cli_print_doc(struct json_object *doc, const char *list, bool tsv)
{
	char *text;

	if (!tsv) {
		printf("%s\n",
		       json_object_to_json_string_ext(
			       doc, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
	text = tsv_render(list ? json_object_object_get(doc, list) : doc);
	fputs(text, stdout);
	free(text);
}

/* Tells whether colour is turned off: NO_COLOR set and not empty
 * (no-color.org), or az's AZURE_CORE_NO_COLOR set to a true value (as az
 * reads its configuration: true, yes, on or 1). */
bool cli_no_colour(void)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	const char *nc = getenv("NO_COLOR"),
		   *az = getenv("AZURE_CORE_NO_COLOR");

	if (nc && *nc)
		return true;
	for (size_t i = 0; az && i < sizeof(yes) / sizeof(yes[0]); i++)
		if (str_ieq(az, yes[i]))
			return true;
	return false;
}

/* Records --color: auto, always or never, which beats the environment. */
void cli_set_colour(enum cli_colour mode)
{
	colour_mode = mode;
}

/* Tells whether to colour, on an output that can (capable): as --color says,
 * else unless NO_COLOR or AZURE_CORE_NO_COLOR turns colour off. */
bool cli_colour(bool capable)
{
	if (colour_mode == CLI_COLOUR_ALWAYS || colour_mode == CLI_COLOUR_NEVER)
		return colour_mode == CLI_COLOUR_ALWAYS;
	return capable && (colour_mode == CLI_COLOUR_AUTO || !cli_no_colour());
}
