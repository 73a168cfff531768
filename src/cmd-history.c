/* azcmk history: the change history an auditor reads, every write azcmk made,
 * filtered by resource and time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "history.h"
#include "i18n.h"
#include "jx.h"
#include "statedir.h"
#include "xalloc.h"

/* What one listing is after, and what it found. */
struct listing {
	const char *resource;
	const char *since; /* ISO time, or NULL */
	bool json;
	bool tsv;                /* -o tsv: the entries as az's tsv */
	struct json_object *out; /* the entries (JSON output) */
	size_t shown, skipped;
};

/* Takes one line of the history: shown (or kept for JSON) when it matches,
 * counted when it is not an entry. */
static void take_line(struct listing *l, const char *line, size_t len)
{
	struct json_object *e = history_parse(line, len);
	char *text;

	if (!e) {
		l->skipped++;
		return;
	}
	if (!history_match(e, l->resource, l->since)) {
		json_object_put(e);
		return;
	}
	l->shown++;
	if (l->json) {
		json_object_array_add(l->out, e);
		return;
	}
	text = history_render(e);
	fputs(text, stdout);
	free(text);
	json_object_put(e);
}

/* Reads the history file line by line into a listing; false with *err when it
 * cannot be read. */
static bool read_history(FILE *f, struct listing *l)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) > 0)
		take_line(l, line, (size_t)n - (line[n - 1] == '\n'));
	free(line);
	return !ferror(f);
}

/* Prints what the listing found: the JSON array, or a closing line when nothing
 * matched. */
static void finish(struct listing *l, const char *path)
{
	if (l->json)
		cli_print_doc(l->out, NULL, l->tsv);
	else if (l->shown == 0)
		printf(_("No change in %s matches.\n"), path);
	if (l->skipped)
		cli_error(P_("%zu line of %s is not an entry azcmk wrote; it "
			     "was skipped",
			     "%zu lines of %s are not entries azcmk wrote; "
			     "they were skipped",
			     l->skipped),
			  l->skipped, path);
}

/* azcmk history [--resource R] [--since T] [-o json]: the writes azcmk made,
 * oldest first. */
int cmd_history(const struct cmd_opts *o, int argc, char **argv)
{
	char since[HISTORY_TIME_LEN], *path, *err = NULL;
	struct listing l = { o->resource,
			     NULL,
			     output_is_doc(o->output),
			     o->output == OUT_TSV,
			     NULL,
			     0,
			     0 };
	FILE *f;
	int fd, rc = EXIT_OK;

	(void)argv;
	if (argc != 0) {
		cli_error(_("history takes no argument; choose with --resource "
			    "and --since"));
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	if (o->since && !history_since(o->since, (int64_t)time(NULL), since)) {
		cli_error(_("invalid --since '%s': use a date (2026-12-01), a "
			    "UTC time (2026-12-01T08:00:00Z) or an age "
			    "(30m, 12h, 7d)"),
			  o->since);
		return EXIT_ERROR;
	}
	l.since = o->since ? since : NULL;
	path = cmk_history_path();
	fd = cmk_open_private(path, O_RDONLY, &err);
	if (fd < 0 && errno == ENOENT) {
		/* Nothing recorded: an empty list, which -o tsv writes as no
		 * line at all. */
		if (l.json && !l.tsv)
			printf("[]\n");
		else if (!l.json)
			printf(_("No change has been recorded yet in %s.\n"),
			       path);
	} else if (fd < 0 || !(f = fdopen(fd, "r"))) {
		cli_error("%s", err ? err : strerror(errno));
		if (fd >= 0)
			close(fd);
		rc = EXIT_ERROR;
	} else {
		l.out = json_object_new_array();
		if (!read_history(f, &l)) {
			cli_error(_("cannot read the change history '%s': %s"),
				  path, strerror(errno));
			rc = EXIT_ERROR;
		} else {
			finish(&l, path);
		}
		fclose(f);
		json_object_put(l.out);
	}
	free(err);
	free(path);
	return rc;
}
