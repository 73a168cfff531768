/* The wizard's application: the terminal, one loop over keys, signals and the
 * background task, and the flow. */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "cli.h"
#include "i18n.h"
#include "session.h"
#include "text.h"
#include "ui.h"
#include "xalloc.h"

#define SPIN_MS 120

/* The steps of the flow, in the portal's order. */
static const struct wiz_step *const STEPS[] = { &step_signin,   &step_start,
						&step_identity, &step_key,
						&step_role,     &step_idtype,
						&step_review };

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_signal;

/*
 * Held by the screen's loop except while it waits in poll(): the task thread
 * forks workers (fleet planning and apply), and a fork must never copy the
 * loop in the middle of curses, gettext or stdio, whose locks the child
 * would then find taken for good. pthread_atfork takes it around each fork
 * made by another thread.
 */
static pthread_mutex_t loop_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_t loop_thread;
static _Thread_local bool fork_holds;
static bool atfork_set;

/* Before a fork from another thread: waits until the loop is in poll(). */
static void fork_prepare(void)
{
	fork_holds = !pthread_equal(pthread_self(), loop_thread);
	if (fork_holds)
		pthread_mutex_lock(&loop_busy);
}

/* After a fork, in the parent and in the child: lets the loop go on. */
static void fork_done(void)
{
	if (fork_holds)
		pthread_mutex_unlock(&loop_busy);
	fork_holds = false;
}

/* Notes a signal for the loop (only async-signal-safe work here). */
static void on_signal(int sig)
{
	char b = (char)sig;
	ssize_t w;

	got_signal = sig;
	w = write(sig_pipe[1], &b, 1);
	(void)w;
}

static struct sigaction curses_winch; /* ncurses' own SIGWINCH handler */

/* Passes a resize on to ncurses, and wakes the loop through the self-pipe: a
 * resize that comes between reading keys and waiting is not lost. */
static void on_winch(int sig)
{
	char b = 0;
	ssize_t w;

	if (!(curses_winch.sa_flags & SA_SIGINFO) &&
	    curses_winch.sa_handler != SIG_DFL &&
	    curses_winch.sa_handler != SIG_IGN && curses_winch.sa_handler)
		curses_winch.sa_handler(sig);
	w = write(sig_pipe[1], &b, 1);
	(void)w;
}

/* Empties a non-blocking pipe of the bytes that woke the loop. */
static void drain(int fd)
{
	char b[16];
	ssize_t r;

	do
		r = read(fd, b, sizeof(b));
	while (r > 0);
}

/* Puts on_winch in front of ncurses' SIGWINCH handler (after initscr). */
static void catch_resize(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, &curses_winch);
}

static int saved_stderr = -1;

/* Sends standard error to a private file while curses holds the terminal, so
 * that no message (of planning, or of a fleet's workers) breaks the screen. */
static void hold_stderr(void)
{
	char *path = cmk_state_path("wizard-stderr.log"), *err = NULL;
	int fd = cmk_private_dir(path, &err)
			 ? cmk_open_private(path, O_WRONLY | O_CREAT | O_TRUNC,
					    &err)
			 : -1;

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY);
	fflush(stderr);
	if (fd >= 0 && (saved_stderr = dup(2)) >= 0)
		dup2(fd, 2);
	if (fd >= 0)
		close(fd);
	free(err);
	free(path);
}

/* Restores the terminal if curses still holds it (at every exit, once), and
 * standard error with it. */
static void restore_terminal(void)
{
	if (!isendwin())
		endwin();
	if (saved_stderr >= 0) {
		fflush(stderr);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

/* Installs the handlers of the signals that end the wizard: Ctrl-C, SSH hanging
 * up, termination. */
static bool catch_signals(void)
{
	struct sigaction sa;

	if (pipe(sig_pipe) != 0)
		return false;
	fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return true;
}

/* Sets the status line; a lesser message does not replace a graver one until a
 * key is pressed. */
void ui_status(struct ui *u, int level, const char *fmt, ...)
{
	va_list ap;
	char *raw;

	if (u->status && level < u->status_level)
		return;
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	free(u->status);
	u->status = text_sanitize(raw, false);
	u->status_level = level;
	free(raw);
}

/* Tells whether a background task is under way. */
bool ui_busy(const struct ui *u)
{
	return u->task.running;
}

/* Runs a task's function on the worker thread, then tells the loop through the
 * pipe. */
static void *task_main(void *arg)
{
	struct ui *u = arg;
	char b = 1;
	ssize_t w;

	u->task.rc = u->task.fn(&u->wiz, u->task.arg);
	w = write(u->task.pipe[1], &b, 1);
	(void)w;
	return NULL;
}

/* Starts fn(&u->wiz, arg) in the background with a spinner label; false when a
 * task is already running. */
bool ui_task_start(struct ui *u, const char *label,
		   int (*fn)(struct wizard *w, void *arg), void *arg)
{
	if (u->task.running)
		return false;
	u->task.fn = fn;
	u->task.arg = arg;
	u->task.cancel = 0;
	free(u->task.label);
	u->task.label = xstrdup(label);
	pthread_mutex_lock(&u->wiz.lock);
	free(u->wiz.task_note); /* the last task's progress is not this one's */
	u->wiz.task_note = NULL;
	pthread_mutex_unlock(&u->wiz.lock);
	u->task.running =
		pthread_create(&u->task.thread, NULL, task_main, u) == 0;
	if (!u->task.running)
		ui_status(u, 2, _("cannot start the background task '%s'"),
			  label);
	return u->task.running;
}

/* Returns the screen shown: the one over the flow (the fleet), or the step. */
static const struct wiz_step *shown(const struct ui *u)
{
	return u->aside ? u->aside : u->steps[u->at];
}

/* Returns the state of the screen shown. */
static void *shown_st(const struct ui *u)
{
	return u->aside ? u->aside_st : u->state[u->at];
}

/* Shows a screen over the flow's step (it owns st) until it goes back. */
void ui_aside_open(struct ui *u, const struct wiz_step *s, void *st)
{
	u->aside = s;
	u->aside_st = st;
}

/* Closes the screen over the flow and shows the step again. */
static void aside_close(struct ui *u)
{
	if (u->aside && u->aside->free)
		u->aside->free(u->aside_st);
	u->aside = NULL;
	u->aside_st = NULL;
	if (u->steps[u->at]->enter)
		u->steps[u->at]->enter(u, u->state[u->at]);
}

/* Collects a finished task and tells its screen; returns the intent to
 * redraw. */
static int task_finished(struct ui *u)
{
	char b;
	ssize_t r = read(u->task.pipe[0], &b, 1);

	(void)r;
	pthread_join(u->task.thread, NULL);
	u->task.running = false;
	u->task.cancel = 0;
	if (shown(u)->done)
		shown(u)->done(u, shown_st(u), u->task.rc);
	return UI_REDRAW;
}

/* Stops a running task: asks it to cancel and waits for it (the engine polls
 * the flag). */
static void task_stop(struct ui *u)
{
	if (!u->task.running)
		return;
	u->task.cancel = 1;
	pthread_join(u->task.thread, NULL);
	u->task.running = false;
}

/* Shows the device-code instructions on the sign-in step (called on the worker
 * thread). */
static void device_prompt(const char *message, void *ctx)
{
	struct wizard *w = ctx;
	char *copy = text_sanitize(message, true);

	pthread_mutex_lock(&w->lock);
	free(w->device_code);
	w->device_code = copy;
	pthread_mutex_unlock(&w->lock);
}

/* Creates the session the options describe, with the wizard's cancel flag and
 * device-code prompt. */
static bool make_session(struct ui *u)
{
	struct wizard *w = &u->wiz;
	struct az_session_opts so = { 0 };
	struct az_error e = { 0 };
	char *trace = w->o->debug ? cmk_state_path("wizard-debug.log") : NULL;

	so.cloud = w->o->cloud;
	so.tenant = w->o->tenant;
	so.auth = w->o->auth;
	so.interactive = true;
	so.ca_file = w->o->ca_file;
	so.proxy = w->o->proxy;
	so.client_secret = w->o->client_secret;
	if (trace) {
		char *err = NULL;
		int fd = cmk_private_dir(trace, &err)
				 ? cmk_open_private(
					   trace, O_WRONLY | O_CREAT | O_TRUNC,
					   &err)
				 : -1;

		/* The trace is private (0600, not through a link); without one
		 * the wizard goes on untraced. */
		so.trace = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (fd >= 0 && !so.trace)
			close(fd);
		free(err);
	}
	so.cancel = &u->task.cancel;
	so.prompt = device_prompt;
	so.prompt_ctx = w;
	so.persist_tokens = true; /* the token cache's trouble: --debug only */
	w->s = az_session_new(&so, &e);
	if (!w->s)
		cli_error("%s", e.message);
	az_error_clear(&e);
	free(trace);
	return w->s != NULL;
}

/* Takes the terminal: no echo, keys as they come, Esc quickly, colours unless
 * --color=never, NO_COLOR (without --color) or monochrome. */
static void take_terminal(struct ui *u)
{
	initscr();
	catch_resize();
	atexit(restore_terminal);
	set_escdelay(25);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	u->colour = has_colors() && cli_colour(true);
	if (u->colour) {
		start_color();
		use_default_colors();
		init_pair(UI_A_TITLE, COLOR_WHITE, COLOR_BLUE);
		init_pair(UI_A_DIM, COLOR_CYAN, -1);
		init_pair(UI_A_BLOCKER, COLOR_RED, -1);
		init_pair(UI_A_WARNING, COLOR_YELLOW, -1);
		init_pair(UI_A_NOTE, COLOR_CYAN, -1);
		init_pair(UI_A_OK, COLOR_GREEN, -1);
		init_pair(UI_A_HINT, COLOR_BLACK, COLOR_WHITE);
	}
	u->ascii = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	getmaxyx(stdscr, u->rows, u->cols);
}

/* Paints the step; when its selected line was cut, says on a quiet status line
 * which key shows all of it. */
static void draw_step(struct ui *u, const struct wiz_step *st)
{
	free(u->whole);
	free(u->note);
	u->whole = u->note = NULL;
	st->draw(u, shown_st(u), 1, u->rows - 3);
	if (u->note && !u->status && !ui_busy(u))
		ui_put(u, u->rows - 2, 0, u->cols, u->note, A_BOLD);
	else if (u->whole && !u->status && !ui_busy(u))
		ui_put(u, u->rows - 2, 0, u->cols,
		       /* TRANSLATORS: at most 80 columns; f is the key. */
		       _("f shows the whole of the selected line"),
		       ui_attr(u, UI_A_DIM));
}

/* Paints the whole screen from the state (curses sends only what changed): the
 * step, help, or "too small". */
static void draw(struct ui *u)
{
	const struct wiz_step *st = shown(u);

	getmaxyx(stdscr, u->rows, u->cols);
	erase();
	if (u->cols < UI_MIN_COLS || u->rows < UI_MIN_ROWS) {
		ui_draw_too_small(u);
	} else {
		ui_draw_frame(u, _(st->title));
		if (u->help)
			ui_draw_help(u);
		else if (u->show_whole)
			ui_draw_whole(u);
		else
			draw_step(u, st);
	}
	refresh();
}

/* Moves to another step and lets it know it is shown. */
static void go(struct ui *u, size_t to)
{
	u->at = to;
	if (u->steps[to]->enter)
		u->steps[to]->enter(u, u->state[to]);
}

/* Acts on a key: help, cancel, quit, or the step's own handling; returns the
 * intents. */
static int on_key(struct ui *u, int ch)
{
	enum ui_action a = ui_action_of(ch);
	int in;

	free(u->status);
	u->status = NULL;
	u->status_level = 0;
	if (u->help || u->show_whole) {
		u->help = u->show_whole = false;
		return UI_REDRAW;
	}
	if (u->cols < UI_MIN_COLS || u->rows < UI_MIN_ROWS)
		return a == ACT_QUIT ? UI_QUIT : UI_STAY;
	if (a == ACT_BACK && ui_busy(u)) {
		u->task.cancel = 1;
		return UI_REDRAW;
	}
	in = shown(u)->key(u, shown_st(u), a, ch);
	if (in & (UI_REDRAW | UI_GO_NEXT | UI_GO_BACK | UI_QUIT))
		u->quit_asked = false;
	if (in != UI_STAY || a == ACT_NONE)
		return in;
	if (a == ACT_HELP) {
		u->help = true;
		return UI_REDRAW;
	}
	if (a == ACT_WHOLE && u->whole) {
		u->show_whole = true;
		return UI_REDRAW;
	}
	if (a == ACT_QUIT && u->wiz.dirty && !u->quit_asked) {
		u->quit_asked = true;
		ui_status(u, 1,
			  _("the plan is not saved: press q again to quit "
			    "without it"));
		return UI_REDRAW;
	}
	return a == ACT_QUIT ? UI_QUIT : a == ACT_BACK ? UI_GO_BACK : UI_STAY;
}

/* Carries out the intents of a key or an event; false when the wizard is to
 * end. */
static bool act(struct ui *u, int in)
{
	if (in & UI_QUIT)
		return false;
	if (u->aside) {
		if ((in & UI_GO_BACK) && !ui_busy(u))
			aside_close(u);
		return true;
	}
	if ((in & UI_GO_NEXT) && u->at + 1 < u->nsteps && !ui_busy(u))
		go(u, u->at + 1);
	else if ((in & UI_GO_BACK) && u->at > 0 && !ui_busy(u))
		go(u, u->at - 1);
	return true;
}

/*
 * Waits for a key, a signal (a resize interrupts the wait too) or the task,
 * then handles what came, reading every pending key; false when the wizard
 * is to end.
 */
static bool wait_and_handle(struct ui *u)
{
	struct pollfd fds[3] = { { 0, POLLIN, 0 },
				 { sig_pipe[0], POLLIN, 0 },
				 { u->task.pipe[0], POLLIN, 0 } };
	int n, ch;

	pthread_mutex_unlock(&loop_busy);
	n = poll(fds, 3, ui_busy(u) ? SPIN_MS : -1);
	pthread_mutex_lock(&loop_busy);

	if (n < 0 && errno != EINTR)
		return false;
	if (got_signal == SIGINT && u->aside && ui_busy(u)) {
		/* Ctrl-C while the fleet runs: stop after the steps under way
		 * (again: cancel them), as the command line's does. */
		got_signal = 0;
		u->task.cancel = 1;
	}
	if (got_signal)
		return false;
	if (n == 0)
		u->spin++;
	if (n > 0 && (fds[1].revents & POLLIN))
		drain(sig_pipe[0]); /* resizes: getch returns KEY_RESIZE */
	if (n > 0 && (fds[2].revents & POLLIN) && !act(u, task_finished(u)))
		return false;
	if (n > 0 && (fds[0].revents & (POLLHUP | POLLERR)) &&
	    !(fds[0].revents & POLLIN))
		return false;
	while ((ch = getch()) != ERR)
		if (ch != KEY_RESIZE && !act(u, on_key(u, ch)))
			return false;
	return true;
}

/* Frees the application: the steps' state, the screen's, and the wizard's data
 * with its session. */
static void ui_free(struct ui *u)
{
	if (u->aside && u->aside->free)
		u->aside->free(u->aside_st);
	for (size_t i = 0; i < u->nsteps; i++)
		if (u->steps[i]->free)
			u->steps[i]->free(u->state[i]);
	free(u->state);
	free(u->note);
	free(u->status);
	free(u->whole);
	free(u->row_text);
	free(u->row_full);
	free(u->task.label);
	wiz_free(&u->wiz);
	close(u->task.pipe[0]);
	close(u->task.pipe[1]);
}

/*
 * Runs the wizard until the operator quits or a signal ends it; the
 * terminal is restored on every path. Returns the exit status.
 */
int ui_run(struct cmd_opts *o, bool demo)
{
	struct ui u = { 0 };
	int sig;

	u.wiz.o = o;
	u.wiz.demo = demo;
	pthread_mutex_init(&u.wiz.lock, NULL);
	if (!isatty(0) || !isatty(1)) {
		cli_error(_("the wizard needs a terminal; use the commands "
			    "(azcmk --help) in scripts"));
		return EXIT_ERROR;
	}
	if (!ui_terminal_usable())
		return EXIT_ERROR;
	if (pipe(u.task.pipe) != 0 || !catch_signals() || !make_session(&u))
		return EXIT_ERROR;
	u.steps = STEPS;
	u.nsteps = sizeof(STEPS) / sizeof(STEPS[0]);
	u.state = xcalloc(u.nsteps, sizeof(*u.state));
	take_terminal(&u);
	hold_stderr();
	for (size_t i = 0; i < u.nsteps; i++)
		u.state[i] = u.steps[i]->init ? u.steps[i]->init(&u) : NULL;
	go(&u, 0);
	loop_thread = pthread_self();
	if (!atfork_set)
		atfork_set =
			pthread_atfork(fork_prepare, fork_done, fork_done) == 0;
	pthread_mutex_lock(&loop_busy);
	do
		draw(&u);
	while (wait_and_handle(&u));
	/* The task may be forking: it needs the loop out of its way. */
	pthread_mutex_unlock(&loop_busy);
	task_stop(&u);
	restore_terminal();
	sig = got_signal;
	ui_free(&u);
	if (sig == SIGHUP || sig == SIGTERM || sig == SIGINT)
		fprintf(stderr, _("azcmk: stopped by a signal; a plan being "
				  "applied can be continued with 'azcmk apply "
				  "--resume PLAN'\n"));
	return sig ? 128 + sig : EXIT_OK;
}
