/* azcmk audit: every resource of the four services across subscriptions, judged, in a table, JSON, CSV or SARIF. */
#include "config.h"

#include <errno.h>
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
#include "i18n.h"
#include "jx.h"
#include "survey.h"
#include "xalloc.h"

/* Where progress goes: standard error, at most one line a second, on one line when it is a terminal. */
struct meter {
	time_t last;
	bool tty;
	bool shown;
};

/* Shows how far a long audit got (subscriptions and resources seen), never on standard output; quiet the first second. */
static void on_progress(void *ud, size_t subs, size_t resources, const char *stage)
{
	struct meter *m = ud;
	time_t now = time(NULL);

	if (now == m->last)
		return;
	m->last = now;
	m->shown = true;
	fprintf(stderr, _("%sAuditing: %zu subscription(s), %zu resource(s) seen (%s)%s"), m->tty ? "\r" : "", subs,
		resources, stage, m->tty ? "\033[K" : "\n");
	fflush(stderr);
}

/* Maps --output to the audit's format. */
static enum audit_format format_of(enum output o)
{
	return o == OUT_JSON ? AUDIT_JSON : o == OUT_CSV ? AUDIT_CSV : o == OUT_SARIF ? AUDIT_SARIF : AUDIT_TABLE;
}

/* Keeps the report (JSON, 0600) in the state directory, for azcmk fix and the wizard. */
static void keep_report(const struct audit_report *a)
{
	char *path = cmk_state_path("last-audit.json"), *text = audit_render(a, AUDIT_JSON, false), *err = NULL;

	cmk_make_dirs(path);
	if (!cli_write_file(path, text, &err))
		cli_error(_("the report could not be kept for azcmk fix: %s"), err);
	else if (chmod(path, 0600) != 0)
		cli_error(_("cannot make '%s' private: %s"), path, strerror(errno));
	free(err);
	free(text);
	free(path);
}

/* azcmk audit: exit 0 when nothing at --fail-on or above was found, 1 when something was, 2 on an error. */
int cmd_audit(const struct cmd_opts *o, int argc, char **argv)
{
	struct meter m = { time(NULL), isatty(2) != 0, false };
	struct survey_opts so = { o->subscriptions, o->nsubs, o->services, o->deep, 0, on_progress, &m };
	struct audit_report a = { 0 };
	struct az_session *s;
	struct az_error e = { 0 };
	int rc;

	(void)argv;
	if (argc != 0) {
		cli_error(_("audit takes no argument; choose the scope with --subscription and --service"));
		fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
		return EXIT_ERROR;
	}
	if (!(s = cmd_session(o)))
		return EXIT_ERROR;
	rc = cmk_audit(s, &so, &a, &e);
	if (m.shown && m.tty)
		fputs("\r\033[K", stderr);
	if (rc != 0) {
		cli_error(_("the audit stopped: %s"), e.message);
		rc = EXIT_ERROR;
	} else {
		char *text = audit_render(&a, format_of(o->output), o->output == OUT_TABLE && report_colour(stdout));

		fputs(text, stdout);
		free(text);
		keep_report(&a);
		rc = audit_fails(&a, o->fail_on) ? EXIT_FINDINGS : EXIT_OK;
	}
	audit_free(&a);
	az_error_clear(&e);
	az_session_free(s);
	return rc;
}
