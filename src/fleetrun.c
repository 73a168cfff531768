/* Applying a fleet plan: each resource's plan runs in a worker process of its
 * own (its own session, journal and verification), several at once within
 * the fleet's bounds; a failure stops that resource only. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "apply.h"
#include "cli.h"
#include "fleetrun.h"
#include "i18n.h"
#include "jx.h"
#include "planflow.h"
#include "text.h"
#include "xalloc.h"

#define DEFAULT_PARALLEL 8
#define PER_VAULT 4      /* Key Vault throttles per vault */
#define MAX_RESULT 3072  /* a worker's answer, in bytes (below PIPE_BUF) */
#define MAX_MESSAGE 2048 /* of which its error message */

/* How one resource's plan ended. */
struct result {
	bool ok;
	char *step;    /* the step it was at, or NULL */
	char *message; /* what failed (untrusted: Azure's words), or NULL */
	char *code;    /* apply's error code, or NULL */
};

/* The fleet being applied. */
struct runner {
	const struct cmd_opts *o;
	const struct fleet *f;
	const char *path;
	struct fleet_limits l;
	enum fleet_state *state;
	pid_t *pid;
	int *fd;
	struct result *res;
	size_t ended, failed, stopped; /* failed counts the stopped too */
	time_t start;
};

/* A worker's view of its own run: the step it is at, for its answer. */
struct worker {
	char *step;
	char *name; /* the resource's, fit for the terminal */
	bool verbose;
};

static char *shown_name(const struct plan *p);

static volatile sig_atomic_t worker_stop;
static volatile sig_atomic_t *worker_cancel;

/*
 * A worker's SIGINT, SIGTERM or SIGHUP (from the terminal, the parent or
 * whoever stops the process group): stop before the next step. Only the
 * parent's SIGUSR1, sent when the operator insists, cancels the request in
 * flight, so that no write is cut off by a signal sent once.
 */
static void on_worker_signal(int sig)
{
	if (sig == SIGUSR1 && worker_cancel)
		*worker_cancel = 1;
	worker_stop = 1;
}

static volatile sig_atomic_t *parent_cancel;

/* The parent's SIGHUP during a fleet: a stop request, as Ctrl-C is. */
static void on_parent_hangup(int sig)
{
	(void)sig;
	if (parent_cancel)
		*parent_cancel = 1;
}

/* Keeps the step a worker is at (apply's numbered lines), and shows every
 * line with --verbose. */
static void worker_progress(const char *line, void *ctx)
{
	struct worker *w = ctx;
	size_t lead = strspn(line, " ");

	if (lead <= 1 && isdigit((unsigned char)line[lead])) {
		free(w->step);
		w->step = xstrndup(line + lead, MAX_MESSAGE / 4);
	}
	if (w->verbose) {
		char *clean = text_sanitize(line, false);

		fprintf(stderr, "%s: %s\n", w->name, clean);
		free(clean);
	}
}

/* Tells whether a plan has a journal to resume (it began before). */
static bool has_journal(const struct plan *p)
{
	struct apply_opts where = { 0 }; /* the state directory's journals */
	char *path = cmk_journal_path(&where, p->id);
	bool yes = access(path, F_OK) == 0;

	free(path);
	return yes;
}

/* Writes a worker's answer to the parent: one JSON object, bounded. */
static void tell_parent(int fd, int rc, const struct worker *w,
			const struct az_error *e)
{
	struct json_object *j = json_object_new_object();
	size_t keep = MAX_MESSAGE, len, off = 0;
	const char *text;

	json_object_object_add(j, "ok", json_object_new_boolean(rc == 0));
	if (w->step)
		json_object_object_add(j, "step",
				       json_object_new_string(w->step));
	if (e->code)
		json_object_object_add(j, "code",
				       json_object_new_string(e->code));
	/* Escapes can make the message longer: shorten it until the answer
	 * fits in one pipe write. */
	do {
		char *msg = e->message ? xstrndup(e->message, keep) : NULL;

		if (msg)
			json_object_object_add(j, "message",
					       json_object_new_string(msg));
		free(msg);
		text = json_object_to_json_string_ext(
			j, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE);
		keep /= 2;
	} while (strlen(text) >= MAX_RESULT && keep > 0);
	len = strlen(text) < MAX_RESULT ? strlen(text) : 0;
	while (off < len) {
		ssize_t k = write(fd, text + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	json_object_put(j);
}

/* Runs one resource's plan in a worker process; returns its exit status. */
static int work(const struct cmd_opts *o, const struct plan *p, int fd)
{
	struct sigaction sa = { 0 };
	struct worker w = { NULL, shown_name(p), o->verbose || o->debug };
	struct apply_opts ao = { .resume = o->resume && has_journal(p),
				 .propagation_wait_s = o->propagation_wait,
				 .save_retry_s = o->access_wait,
				 .progress = worker_progress,
				 .ctx = &w,
				 .stop = &worker_stop };
	struct az_error e = { 0 };
	struct az_session *s;
	int rc = -1;

	sa.sa_handler = on_worker_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	worker_cancel = o->cancel;
	/* Eight workers must not each prompt for a device code on one
	 * terminal: the parent signed in, the token cache serves them. */
	if (!freopen("/dev/null", "r", stdin))
		clearerr(stdin);
	if ((s = flow_session(o)) != NULL)
		rc = cmk_apply(s, p, &ao, &e);
	else
		az_error_set(&e, _("cannot sign in"));
	tell_parent(fd, rc, &w, &e);
	az_session_free(s);
	az_error_clear(&e);
	free(w.step);
	free(w.name);
	return rc == 0 ? 0 : 1;
}

/* Records that plan i could not even start, and why. */
static void cannot_start(struct runner *r, size_t i, const char *why)
{
	r->state[i] = FLEET_ENDED;
	r->res[i].message = xstrdup(why);
	r->ended++;
	r->failed++;
}

/* Starts plan i in a worker process with a pipe for its answer. */
static void spawn(struct runner *r, size_t i)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds) != 0) {
		cannot_start(r, i, strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(work(r->o, &r->f->plans[i], fds[1]));
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		cannot_start(r, i, strerror(errno));
		return;
	}
	r->pid[i] = pid;
	r->fd[i] = fds[0];
	r->state[i] = FLEET_RUNNING;
}

/* Reads a worker's answer (it has ended, so all of it is in the pipe). */
static void collect(struct runner *r, size_t i, int status)
{
	char buf[MAX_RESULT + 1];
	size_t len = 0;
	ssize_t k;
	struct json_object *j;
	char *err = NULL;

	while (len < MAX_RESULT &&
	       ((k = read(r->fd[i], buf + len, MAX_RESULT - len)) > 0 ||
		(k < 0 && errno == EINTR)))
		len += k > 0 ? (size_t)k : 0;
	buf[len] = '\0';
	close(r->fd[i]);
	j = jx_parse(buf, len, &err);
	free(err);
	r->res[i].ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		       jx_bool(j, "ok", false);
	r->res[i].step = jx_str(j, "step") ? xstrdup(jx_str(j, "step")) : NULL;
	r->res[i].code = jx_str(j, "code") ? xstrdup(jx_str(j, "code")) : NULL;
	if (jx_str(j, "message"))
		r->res[i].message = xstrdup(jx_str(j, "message"));
	else if (!r->res[i].ok && WIFSIGNALED(status))
		r->res[i].message = xasprintf(
			_("its worker process was killed by signal %d before "
			  "it answered; its journal says how far it came"),
			WTERMSIG(status));
	else if (!r->res[i].ok)
		r->res[i].message = xasprintf(
			_("its worker process ended (exit %d) before it "
			  "answered; its journal says how far it came"),
			WEXITSTATUS(status));
	json_object_put(j);
	r->state[i] = FLEET_ENDED;
	r->ended++;
	r->failed += !r->res[i].ok;
	r->stopped += !r->res[i].ok && str_ieq(r->res[i].code, "Stopped");
}

/* Returns a resource's name, fit for the terminal (allocated). */
static char *shown_name(const struct plan *p)
{
	const char *slash = strrchr(p->resource_id, '/');

	return text_sanitize(slash ? slash + 1 : p->resource_id, false);
}

/* Says how one resource ended, with the count and the time left. */
static void report(const struct runner *r, size_t i)
{
	char *name = shown_name(&r->f->plans[i]);
	long left =
		r->ended ? (long)((time(NULL) - r->start) *
				  (long)(r->f->n - r->ended) / (long)r->ended)
			 : 0;

	if (r->res[i].ok) {
		printf(_("[%zu/%zu] done    %s (about %ld s left)\n"), r->ended,
		       r->f->n, name, left);
	} else {
		char *step = text_sanitize(
			     r->res[i].step ? r->res[i].step : "-", false),
		     *msg = text_one_line(r->res[i].message ? r->res[i].message
							    : "?");

		if (str_ieq(r->res[i].code, "Stopped"))
			printf(_("[%zu/%zu] stopped %s after %s\n"), r->ended,
			       r->f->n, name, step);
		else
			printf(_("[%zu/%zu] FAILED  %s at %s: %s\n"), r->ended,
			       r->f->n, name, step, msg);
		free(step);
		free(msg);
	}
	fflush(stdout);
	free(name);
}

/* Asks every running worker to stop before its next step (SIGTERM), or, when
 * the operator insists, to cancel the request in flight (SIGUSR1). */
static void stop_workers(struct runner *r, int sig)
{
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_RUNNING)
			kill(r->pid[i], sig);
}

/* Tells whether the operator asked to stop (Ctrl-C, SIGTERM, a hang-up);
 * passes the first request on as "stop after the step", the next as
 * "cancel". */
static bool stopping(struct runner *r, bool *asked)
{
	if (r->o->cancel && *r->o->cancel) {
		*r->o->cancel = 0;
		if (!*asked)
			fprintf(stderr,
				_("Stopping: the resources being applied stop "
				  "after their current step (Ctrl-C again "
				  "cancels it).\n"));
		stop_workers(r, *asked ? SIGUSR1 : SIGTERM);
		*asked = true;
	}
	return *asked;
}

/* Ends every running worker's record when its end cannot be learned (no child
 * left to wait for): failed, pointing at its journal. */
static void lost(struct runner *r)
{
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_RUNNING) {
			close(r->fd[i]);
			cannot_start(r, i,
				     _("how its worker ended is unknown; its "
				       "journal says how far it came: run "
				       "apply --resume"));
			report(r, i);
		}
}

/* Waits for one worker to end and reports it; false when none is running. */
static bool reap(struct runner *r)
{
	int status;
	pid_t pid = waitpid(-1, &status, 0);

	if (pid < 0 && errno == ECHILD)
		lost(r);
	if (pid < 0)
		return errno == EINTR;
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_RUNNING && r->pid[i] == pid) {
			collect(r, i, status);
			report(r, i);
		}
	return true;
}

/* Tells whether a worker is running. */
static bool any_running(const struct runner *r)
{
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_RUNNING)
			return true;
	return false;
}

/* Runs the fleet: starts what the limits allow, reaps, until all ended or a
 * stop leaves the rest unstarted. */
static void run_all(struct runner *r)
{
	bool asked = false;

	while (r->ended < r->f->n) {
		size_t i;

		while (!stopping(r, &asked) &&
		       (i = fleet_next(r->f, r->state, &r->l)) < r->f->n)
			spawn(r, i);
		if (!any_running(r) || !reap(r))
			break;
	}
	while (any_running(r) && reap(r))
		stopping(r, &asked);
}

/* Prints the end: done, failed (with the step and Azure's words), skipped and
 * not started; returns the exit status. */
static int summary(const struct runner *r)
{
	size_t done = r->ended - r->failed, left = r->f->n - r->ended;

	printf(_("Fleet plan %.8s: %zu done, %zu failed, %zu stopped, %zu "
		 "skipped, %zu not started.\n"),
	       r->f->id, done, r->failed - r->stopped, r->stopped,
	       r->f->nskipped, left);
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_ENDED && !r->res[i].ok &&
		    !str_ieq(r->res[i].code, "Stopped")) {
			char *name = shown_name(&r->f->plans[i]),
			     *msg = text_one_line(r->res[i].message
							  ? r->res[i].message
							  : "?");

			printf(_("  failed: %s: %s\n"), name, msg);
			free(name);
			free(msg);
		}
	if (r->failed || left)
		fprintf(stderr,
			_("Run '%s apply --resume %s' to finish what is "
			  "left.\n"),
			cli_program(), r->path);
	return r->failed || left ? EXIT_ERROR : EXIT_OK;
}

/* Signs in once before the workers start, so that they find the tokens in
 * the cache instead of each signing in. */
static bool warm(const struct cmd_opts *o)
{
	struct az_session *s = flow_session(o);
	struct az_error e = { 0 };
	const char *tok;
	bool ok = s && az_session_sign_in(s, &e) == 0 &&
		  az_session_token(s, az_session_cloud(s)->kv_scope, NULL, &tok,
				   &e) == 0;

	if (s && !ok)
		cli_error(_("cannot sign in: %s"), e.message ? e.message : "?");
	az_error_clear(&e);
	az_session_free(s);
	return ok;
}

/* Applies every resource's plan of the fleet; returns the exit status. */
static int run_fleet(const struct cmd_opts *o, const struct fleet *f,
		     const char *path)
{
	struct runner r = { .o = o, .f = f, .path = path };
	struct sigaction hup = { 0 }, old_hup;
	int rc;

	r.l.parallel = o->parallel > 0 ? (size_t)o->parallel : DEFAULT_PARALLEL;
	r.l.per_vault = r.l.parallel < PER_VAULT ? r.l.parallel : PER_VAULT;
	r.l.per_subscription = r.l.parallel;
	if (!warm(o))
		return EXIT_ERROR;
	/* Workers are waited for, whatever SIGCHLD disposition was inherited;
	 * a hang-up stops the fleet as Ctrl-C does. */
	signal(SIGCHLD, SIG_DFL);
	parent_cancel = o->cancel;
	hup.sa_handler = on_parent_hangup;
	sigaction(SIGHUP, &hup, &old_hup);
	r.state = xcalloc(f->n, sizeof(*r.state));
	r.pid = xcalloc(f->n, sizeof(*r.pid));
	r.fd = xcalloc(f->n, sizeof(*r.fd));
	r.res = xcalloc(f->n, sizeof(*r.res));
	r.start = time(NULL);
	run_all(&r);
	rc = summary(&r);
	sigaction(SIGHUP, &old_hup, NULL);
	for (size_t i = 0; i < f->n; i++) {
		free(r.res[i].step);
		free(r.res[i].message);
		free(r.res[i].code);
	}
	free(r.state);
	free(r.pid);
	free(r.fd);
	free(r.res);
	return rc;
}

/* Asks on the terminal before the fleet changes Azure; true when the
 * operator types yes. */
static bool confirm(const struct fleet *f)
{
	char answer[16] = "";

	fprintf(stderr,
		P_("Apply the fleet plan to %zu resource (%zu changes cannot "
		   "be undone)? Type yes to go on: ",
		   "Apply the fleet plan to %zu resources (%zu changes cannot "
		   "be undone)? Type yes to go on: ",
		   f->n),
		f->n, fleet_irreversible(f));
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	answer[strcspn(answer, "\r\n")] = '\0';
	return str_ieq(answer, "yes") || str_ieq(answer, _("yes"));
}

/*
 * Carries a reviewed fleet plan out after the confirmation (asked on a
 * terminal, --yes otherwise); path is what --resume needs.
 */
int fleet_confirm_and_run(const struct cmd_opts *o, const struct fleet *f,
			  const char *path)
{
	if (!o->yes && !isatty(0))
		return flow_mistake(_("this changes Azure: confirm with --yes "
				      "when not on a terminal"));
	if (!o->yes && !confirm(f)) {
		fprintf(stderr, _("Nothing was changed.\n"));
		return EXIT_ERROR;
	}
	return run_fleet(o, f, path);
}

/*
 * azcmk apply FLEETPLAN: reads the fleet plan back under every rule a plan
 * file meets (its digest, each resource's plan), shows its review on a
 * terminal, then applies it.
 */
int fleet_apply_file(const struct cmd_opts *o, const char *path,
		     struct json_object *doc)
{
	struct fleet f;
	char *err = NULL;
	int rc;

	if (fleet_from_json(doc, &f, &err) != 0) {
		cli_error(_("cannot read the fleet plan '%s': %s"), path,
			  err ? err : "?");
		free(err);
		return EXIT_ERROR;
	}
	if (!o->yes && isatty(0)) {
		/* What is asked about is shown first, on the terminal even
		 * when standard output goes elsewhere. */
		char *text = fleet_render_text(&f, 80);

		fputs(text, isatty(1) ? stdout : stderr);
		free(text);
	}
	rc = fleet_confirm_and_run(o, &f, path);
	fleet_free(&f);
	return rc;
}
