/* azcmk audit: every resource of the four services across subscriptions,
 * judged, in a table, JSON, CSV or SARIF. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "audit.h"
#include "cli.h"
#include "cmd.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "survey.h"
#include "xalloc.h"

/* Where progress goes: standard error, at most one line a second, on one line
 * when it is a terminal. */
struct meter {
	time_t last;
	bool tty;
	bool shown;
};

/* Shows how far a long audit got (subscriptions and resources seen), never on
 * standard output; quiet the first second, but at once when it starts waiting
 * for Resource Graph's query quota. */
static void on_progress(void *ud, size_t subs, size_t resources,
			const char *stage)
{
	struct meter *m = ud;
	time_t now = time(NULL);
	char *msubs;

	if (now == m->last && strcmp(stage, "quota") != 0)
		return;
	m->last = now;
	m->shown = true;
	/* TRANSLATORS: the progress line: "Auditing: 2 subscriptions, 40
	 * resources seen (reading Resource Graph)"; %s is the counted
	 * subscriptions. */
	msubs = xasprintf(P_("%zu subscription", "%zu subscriptions", subs),
			  subs);
	fprintf(stderr,
		P_("%sAuditing: %s, %zu resource seen (%s)%s",
		   "%sAuditing: %s, %zu resources seen (%s)%s", resources),
		m->tty ? "\r" : "", msubs, resources, survey_stage_text(stage),
		m->tty ? "\033[K" : "\n");
	free(msubs);
	fflush(stderr);
}

/* Maps --output to the audit's format. */
static enum audit_format format_of(enum output o)
{
	return o == OUT_JSON    ? AUDIT_JSON
	       : o == OUT_CSV   ? AUDIT_CSV
	       : o == OUT_SARIF ? AUDIT_SARIF
	       : o == OUT_TSV   ? AUDIT_TSV
				: AUDIT_TABLE;
}

/* The largest buffer a drained writer keeps for its next part. */
#define DRAIN_KEEP (64 * 1024)

/* The two outputs of an audit as it runs: the format asked for on standard
 * output, the JSON report kept for fix. */
struct outputs {
	enum audit_format format;
	bool colour;
	FILE *show; /* where the shown report goes: standard output, or NULL
		       when only the kept one is wanted (fix --all --fresh) */
	struct audit_writer shown, kept;
	FILE *keep; /* the kept report's temporary file, or NULL */
	char *keep_path, *keep_tmp;
	bool begun; /* the outputs were begun (the scope is known) */
};

/* Writes what a writer holds to its stream and empties it. */
static void drain(struct audit_writer *w, FILE *out)
{
	if (out && w->out.len)
		fwrite(w->out.s, 1, w->out.len, out);
	/* The head names every subscription (about 230 KiB at 1,000): its
	 * buffer is not kept for the parts, a few KiB each. */
	if (w->out.cap > DRAIN_KEEP)
		sb_free(&w->out);
	else
		sb_reset(&w->out);
}

/* Opens the kept report's temporary file (0600: reports name resources); NULL,
 * with a message, when it cannot. */
static FILE *open_keep(struct outputs *o)
{
	int fd;
	FILE *f = NULL;
	char *err = NULL;

	o->keep_path = cmk_state_path("last-audit.json");
	o->keep_tmp = xasprintf("%s.tmp", o->keep_path);
	if (!cmk_private_dir(o->keep_path, &err)) {
		cli_error(_("the report cannot be kept for azcmk fix: %s"),
			  err);
		free(err);
		return NULL;
	}
	unlink(o->keep_tmp);
	fd = open(o->keep_tmp,
		  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		cli_error(_("the report cannot be kept for azcmk fix: %s: %s"),
			  o->keep_tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

/* Begins both outputs once the subscriptions in scope are known. */
static void on_begin(void *ud, const struct audit_report *meta)
{
	struct outputs *o = ud;

	audit_writer_begin(&o->shown, o->format, o->colour, meta);
	audit_writer_begin(&o->kept, AUDIT_JSON, false, meta);
	o->begun = true;
	drain(&o->shown, o->show);
	drain(&o->kept, o->keep);
}

/* Writes one resource's part of the report to both outputs, at once. */
static void on_item(void *ud, const struct audit_report *part)
{
	struct outputs *o = ud;

	audit_writer_part(&o->shown, part);
	audit_writer_part(&o->kept, part);
	drain(&o->shown, o->show);
	drain(&o->kept, o->keep);
}

/*
 * Ends both outputs (why: what stopped an incomplete audit); the kept report
 * replaces the last one only when complete. A SARIF log is whole even when
 * the audit stopped before its scope was known (meta: what is known then):
 * a reader gets the run marked unsuccessful with why, not an empty file.
 * Returns whether the report was kept.
 */
static bool finish(struct outputs *o, const struct audit_report *meta,
		   const char *why)
{
	bool complete = why == NULL, kept = false;

	if (!complete && !o->begun && o->format == AUDIT_SARIF)
		audit_writer_begin(&o->shown, o->format, false, meta);
	if (complete) {
		audit_writer_end(&o->shown);
		audit_writer_end(&o->kept);
		drain(&o->shown, o->show);
		drain(&o->kept, o->keep);
	} else {
		audit_writer_abort(&o->shown, why);
		drain(&o->shown, o->show);
	}
	fflush(stdout);
	if (o->keep && fclose(o->keep) == 0 && complete) {
		kept = rename(o->keep_tmp, o->keep_path) == 0;
		if (!kept)
			cli_error(_("the report cannot be kept for azcmk fix: "
				    "%s: %s"),
				  o->keep_path, strerror(errno));
	}
	if (!complete && o->keep_tmp)
		unlink(o->keep_tmp);
	audit_writer_free(&o->shown);
	audit_writer_free(&o->kept);
	free(o->keep_path);
	free(o->keep_tmp);
	return kept;
}

/*
 * Audits the subscriptions and services o selects, each resource written as
 * soon as it is judged (to standard output unless only_kept), so that memory
 * stays flat however many there are, and keeps the JSON report as the last
 * audit's. Returns EXIT_OK or EXIT_FINDINGS (at --fail-on or above), or
 * EXIT_ERROR after saying why; *kept says whether the report was kept.
 * With only_kept, it stops before auditing when the report cannot be kept.
 */
static int run_audit(const struct cmd_opts *o, bool only_kept, bool *kept)
{
	struct meter m = { time(NULL), isatty(2) != 0, false };
	struct survey_opts so = { o->subscriptions,
				  o->nsubs,
				  o->services,
				  o->deep,
				  0,
				  cli_verbosity() >= CLI_NORMAL ? on_progress
								: NULL,
				  &m };
	struct outputs out = { format_of(o->output),
			       !only_kept && o->output == OUT_TABLE &&
				       report_colour(stdout),
			       only_kept ? NULL : stdout,
			       { 0 },
			       { 0 },
			       NULL,
			       NULL,
			       NULL,
			       false };
	struct survey_sink sink = { on_begin, on_item, &out };
	struct audit_report meta = { 0 };
	struct az_session *s;
	struct az_error e = { 0 };
	int rc;

	*kept = false;
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	out.keep = open_keep(&out);
	if (only_kept && !out.keep) {
		free(out.keep_path);
		free(out.keep_tmp);
		az_session_free(s);
		return EXIT_ERROR;
	}
	rc = cmk_audit_stream(s, &so, &sink, &meta, &e);
	if (m.shown && m.tty)
		fputs("\r\033[K", stderr);
	if (rc != 0) {
		finish(&out, &meta, e.message ? e.message : "?");
		cli_error(_("the audit stopped: %s"), e.message);
		rc = EXIT_ERROR;
	} else {
		rc = audit_writer_fails(&out.shown, o->fail_on) ? EXIT_FINDINGS
								: EXIT_OK;
		*kept = finish(&out, &meta, NULL);
	}
	audit_free(&meta);
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}

/*
 * Audits again for fix --all --fresh, with its --subscription and --service,
 * printing only progress, and keeps the report as the last audit's, as azcmk
 * audit does; 0 when it was kept, -1 after saying why.
 */
int audit_fresh(const struct cmd_opts *o)
{
	bool kept;
	int rc = run_audit(o, true, &kept);

	return rc != EXIT_ERROR && kept ? 0 : -1;
}

/*
 * azcmk audit: the report on standard output, kept for fix. Exit 0 when
 * nothing at --fail-on or above was found, 1 when something was, 2 on an
 * error.
 */
int cmd_audit(const struct cmd_opts *o, int argc, char **argv)
{
	bool kept;

	(void)argv;
	if (argc != 0) {
		cli_error(_("audit takes no argument; choose the scope with "
			    "--subscription and --service"));
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	return run_audit(o, false, &kept);
}
