/* Applying a fleet plan: each resource's plan runs in a worker process of its
 * own (its own session, journal and verification), several at once within
 * the fleet's bounds; a failure stops that resource only. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
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
	size_t total; /* the plans to run (all, or those hooks->only names) */
	size_t ended, failed, stopped; /* failed counts the stopped too */
	time_t start;
	const struct fleet_hooks *h;
	volatile sig_atomic_t *cancel;
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

/* Tells the hooks where plan i stands (index (size_t)-1: the fleet is
 * stopping), with the step and Azure's words made fit for a terminal. */
static void emit(const struct runner *r, size_t i, enum fleet_row state)
{
	const struct result *res = i < r->f->n ? &r->res[i] : NULL;
	char *step = res && res->step ? text_sanitize(res->step, false) : NULL,
	     *msg = res && res->message ? text_one_line(res->message) : NULL;
	struct fleet_event ev = { .index = i,
				  .state = state,
				  .step = step,
				  .message = msg,
				  .ended = r->ended,
				  .total = r->total,
				  .failed = r->failed,
				  .stopped = r->stopped };

	if (r->ended)
		ev.left_s =
			(long)((time(NULL) - r->start) *
			       (long)(r->total - r->ended) / (long)r->ended);
	if (r->h->event)
		r->h->event(&ev, r->h->ctx);
	free(step);
	free(msg);
}

/* Records that plan i could not even start, and why. */
static void cannot_start(struct runner *r, size_t i, const char *why)
{
	r->state[i] = FLEET_ENDED;
	r->res[i].message = xstrdup(why);
	r->ended++;
	r->failed++;
	emit(r, i, FLEET_ROW_FAILED);
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
		/* In the wizard, nothing may reach its screen. */
		if (r->h->quiet && (!freopen("/dev/null", "w", stdout) ||
				    !freopen("/dev/null", "w", stderr)))
			_exit(1);
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
	emit(r, i, FLEET_ROW_RUNNING);
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
	emit(r, i,
	     r->res[i].ok                         ? FLEET_ROW_DONE
	     : str_ieq(r->res[i].code, "Stopped") ? FLEET_ROW_STOPPED
						  : FLEET_ROW_FAILED);
}

/* Returns a resource's name, fit for the terminal (allocated). */
static char *shown_name(const struct plan *p)
{
	const char *slash = strrchr(p->resource_id, '/');

	return text_sanitize(slash ? slash + 1 : p->resource_id, false);
}

/* Clears the command line's progress line (on a terminal's stderr). */
static void clear_progress(void)
{
	if (isatty(2) && cli_verbosity() >= CLI_NORMAL) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* Redraws the command line's overall progress line in place, on a terminal's
 * stderr only. */
static void draw_progress(const struct fleet_event *ev)
{
	if (!isatty(2) || cli_verbosity() < CLI_NORMAL)
		return;
	fputs("\r\033[K", stderr);
	fprintf(stderr,
		_("%zu/%zu resources ended, %zu failed, about %ld s left"),
		ev->ended, ev->total, ev->failed - ev->stopped, ev->left_s);
	fflush(stderr);
}

/* The command line's progress: how each resource ended, a line each on
 * standard output (with the count and the time left), the overall line
 * redrawn on a terminal, and the stop. */
static void cli_event(const struct fleet_event *ev, void *ctx)
{
	const struct fleet *f = ctx;
	char *name = ev->index < f->n ? shown_name(&f->plans[ev->index]) : NULL;

	clear_progress();
	if (!name) {
		fprintf(stderr, _("Stopping: the resources being applied stop "
				  "after their current step (Ctrl-C again "
				  "cancels it).\n"));
	} else if (ev->state == FLEET_ROW_DONE) {
		printf(_("[%zu/%zu] done    %s (about %ld s left)\n"),
		       ev->ended, ev->total, name, ev->left_s);
	} else if (ev->state == FLEET_ROW_STOPPED) {
		printf(_("[%zu/%zu] stopped %s after %s\n"), ev->ended,
		       ev->total, name, ev->step ? ev->step : "-");
	} else if (ev->state == FLEET_ROW_FAILED && ev->step && *ev->step) {
		printf(_("[%zu/%zu] FAILED  %s at %s: %s\n"), ev->ended,
		       ev->total, name, ev->step,
		       ev->message ? ev->message : "?");
	} else if (ev->state == FLEET_ROW_FAILED) {
		/* Refused before any step: apply's preflight, or sign-in. */
		printf(_("[%zu/%zu] FAILED  %s before its first step: %s\n"),
		       ev->ended, ev->total, name,
		       ev->message ? ev->message : "?");
	}
	fflush(stdout);
	draw_progress(ev);
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
	if (r->cancel && *r->cancel) {
		*r->cancel = 0;
		if (!*asked)
			emit(r, (size_t)-1, FLEET_ROW_STOPPED);
		stop_workers(r, *asked ? SIGUSR1 : SIGTERM);
		*asked = true;
	}
	return *asked;
}

/* Collects worker i, whose pipe said it answered or ended: its answer,
 * then its exit status (unknown when it cannot be waited for). */
static void finish(struct runner *r, size_t i)
{
	int status = 0;
	pid_t got;

	while ((got = waitpid(r->pid[i], &status, 0)) < 0 && errno == EINTR)
		;
	if (got < 0) {
		close(r->fd[i]);
		cannot_start(r, i,
			     _("how its worker ended is unknown; its "
			       "journal says how far it came: run "
			       "apply --resume"));
		return;
	}
	collect(r, i, status);
}

/*
 * Waits up to a quarter of a second for a worker to answer or end (its
 * pipe), then collects those that did: the caller sees a stop request at
 * least that often. False when none is running.
 */
static bool reap(struct runner *r)
{
	struct pollfd *p = xcalloc(r->f->n + 1, sizeof(*p));
	size_t *at = xcalloc(r->f->n + 1, sizeof(*at)), k = 0;
	int n;

	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_RUNNING) {
			p[k].fd = r->fd[i];
			p[k].events = POLLIN;
			at[k++] = i;
		}
	n = k ? poll(p, k, 250) : 0;
	for (size_t j = 0; n > 0 && j < k; j++)
		if (p[j].revents)
			finish(r, at[j]);
	free(p);
	free(at);
	return k > 0;
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

	while (r->ended < r->total) {
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
	size_t done = r->ended - r->failed, left = r->total - r->ended;

	clear_progress();
	printf(_("Fleet plan %.8s: %zu done, %zu failed, %zu stopped, %zu "
		 "skipped, %zu not started.\n"),
	       r->f->id, done, r->failed - r->stopped, r->stopped,
	       r->f->nskipped, left);
	for (size_t i = 0; i < r->f->n; i++)
		if (r->state[i] == FLEET_ENDED && !r->res[i].ok &&
		    !str_ieq(r->res[i].code, "Stopped")) {
			char *name = shown_name(&r->f->plans[i]),
			     *step = r->res[i].step && *r->res[i].step
					     ? text_one_line(r->res[i].step)
					     : NULL,
			     *msg = text_one_line(r->res[i].message
							  ? r->res[i].message
							  : "?");

			if (step)
				printf(_("  failed: %s at %s: %s\n"), name,
				       step, msg);
			else
				printf(_("  failed: %s before its first step: "
					 "%s\n"),
				       name, msg);
			free(name);
			free(step);
			free(msg);
		}
	/* The hint follows the summary in a log that takes both streams. */
	fflush(stdout);
	if (r->failed || left)
		fprintf(stderr,
			_("Run '%s apply --resume %s' to finish what is "
			  "left.\n"),
			cli_program(), r->path);
	return r->failed || left ? EXIT_ERROR : EXIT_OK;
}

/* Tells whether one of the fleet's plans keeps its key in a managed HSM. */
static bool any_hsm(const struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->plans[i].keyref.hsm)
			return true;
	return false;
}

/* Signs in once before the workers start, and gets the tokens of every
 * scope the fleet's plans use (Key Vault, and managed HSM when one holds a
 * key), so that the workers find them in the cache instead of each signing
 * in; false with why in *err. */
static bool warm(const struct cmd_opts *o, const struct fleet *f, char **err)
{
	struct az_session *s = flow_session(o);
	struct az_error e = { 0 };
	const char *tok;
	bool ok = s && az_session_sign_in(s, &e) == 0 &&
		  az_session_token(s, az_session_cloud(s)->kv_scope, NULL, &tok,
				   &e) == 0 &&
		  (!any_hsm(f) ||
		   az_session_token(s, az_session_cloud(s)->hsm_scope, NULL,
				    &tok, &e) == 0);

	if (!ok)
		*err = xasprintf(_("cannot sign in: %s"),
				 e.message ? e.message : "?");
	az_error_clear(&e);
	az_session_free(s);
	return ok;
}

/*
 * Applies the fleet's plans (those h->only names, else all) after signing in
 * once; false with why in *err when it could not start. The runner's records
 * stay for the caller (free them with forget).
 */
static bool run(struct runner *r, char **err)
{
	const struct cmd_opts *o = r->o;
	struct sigaction hup = { 0 }, old_hup;
	size_t n = r->f->n;

	r->l = fleet_limits_for(o->parallel);
	r->cancel = r->h->cancel ? r->h->cancel : o->cancel;
	r->state = xcalloc(n + 1, sizeof(*r->state));
	r->pid = xcalloc(n + 1, sizeof(*r->pid));
	r->fd = xcalloc(n + 1, sizeof(*r->fd));
	r->res = xcalloc(n + 1, sizeof(*r->res));
	for (size_t i = 0; i < n; i++) {
		bool in = !r->h->only || r->h->only[i];

		r->state[i] = in ? FLEET_PENDING : FLEET_ENDED;
		r->total += in;
	}
	if (!warm(o, r->f, err))
		return false;
	/* Workers are waited for, whatever SIGCHLD disposition was inherited;
	 * on the command line a hang-up stops the fleet as Ctrl-C does (the
	 * wizard handles its own signals). */
	signal(SIGCHLD, SIG_DFL);
	if (!r->h->quiet) {
		parent_cancel = r->cancel;
		hup.sa_handler = on_parent_hangup;
		sigaction(SIGHUP, &hup, &old_hup);
	}
	r->start = time(NULL);
	run_all(r);
	if (!r->h->quiet)
		sigaction(SIGHUP, &old_hup, NULL);
	return true;
}

/* Frees a runner's records. */
static void forget(struct runner *r)
{
	for (size_t i = 0; r->res && i < r->f->n; i++) {
		free(r->res[i].step);
		free(r->res[i].message);
		free(r->res[i].code);
	}
	free(r->state);
	free(r->pid);
	free(r->fd);
	free(r->res);
}

/*
 * Applies a fleet with progress told to the hooks and nothing printed (the
 * wizard's way); returns the exit status, with why in *err when it could not
 * start.
 */
int fleet_run(const struct cmd_opts *o, const struct fleet *f, const char *path,
	      const struct fleet_hooks *h, char **err)
{
	struct runner r = { .o = o, .f = f, .path = path, .h = h };
	int rc = EXIT_ERROR;

	if (run(&r, err))
		rc = r.failed || r.ended < r.total ? EXIT_ERROR : EXIT_OK;
	forget(&r);
	return rc;
}

/* Applies every resource's plan of the fleet, progress on the terminal;
 * returns the exit status. */
static int run_fleet(const struct cmd_opts *o, const struct fleet *f,
		     const char *path)
{
	struct fleet_hooks h = { .event = cli_event, .ctx = (void *)f };
	struct runner r = { .o = o, .f = f, .path = path, .h = &h };
	char *err = NULL;
	int rc = EXIT_ERROR;

	if (run(&r, &err))
		rc = summary(&r);
	else
		cli_error("%s", err);
	free(err);
	forget(&r);
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
