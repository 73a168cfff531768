/* The wizard's screen: the application (the wizard's data and the screen's
 * state), steps, intents, actions, tasks. */
#ifndef AZ_UI_H
#define AZ_UI_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "run.h"
#include "wizard.h"

/*
 * Named actions, each bound to keys in one table: a short label for the hint
 * bar, a sentence for help (empty when the line of the action before covers
 * it).
 */
#define UI_ACTIONS(X)                                                         \
	X(UP, N_("up"), N_("Move up or down."))                               \
	X(DOWN, N_("down"), "")                                               \
	X(PAGE_UP, N_("page up"), N_("Move a page up or down."))              \
	X(PAGE_DOWN, N_("page down"), "")                                     \
	X(TOP, N_("first"), N_("Go to the first or the last item."))          \
	X(BOTTOM, N_("last"), "")                                             \
	/* TRANSLATORS: key bar, at most 6 columns; see "resources". */       \
	X(SELECT, N_("choose"), N_("Choose the selected item, or go on."))    \
	/* TRANSLATORS: a key-bar label: at most 8 columns. */                \
	X(TOGGLE, N_("mark"),                                                 \
	  N_("Mark or unmark the selected item (a: all findings shown)."))    \
	X(NEXT, N_("next"), N_("Go on to the next step."))                    \
	/* TRANSLATORS: key bar, at most 6 columns; see "resources". */       \
	X(BACK, N_("back"),                                                   \
	  N_("Go back a step; cancel what is under way; close a panel."))     \
	/* TRANSLATORS: key bar, at most 6 columns; see "resources". */       \
	X(FILTER, N_("filter"),                                               \
	  N_("Filter the list: type, then Enter (Esc clears)."))              \
	X(WHOLE, N_("whole line"),                                            \
	  N_("Show the whole of the selected line when it is cut off."))      \
	/* TRANSLATORS: key bar (why it matters), at most 6 columns. */       \
	X(EXPLAIN, N_("why"),                                                 \
	  N_("Why the selected finding matters, and how to fix it."))         \
	/* TRANSLATORS: key bar, at most 9 columns; the findings' eight       \
	   labels (choose why resources filter reload back help quit) must    \
	   total at most 44 columns, for the bar to fit 80 columns. */        \
	X(SWITCH, N_("resources"),                                            \
	  N_("Show the findings, or every resource with its encryption."))    \
	/* TRANSLATORS: key bar, at most 6 columns; see "resources". */       \
	X(RELOAD, N_("reload"),                                               \
	  N_("Read again from Azure; on a fleet, retry what failed."))        \
	/* TRANSLATORS: a key-bar label: at most 15 columns. */               \
	X(TYPE_URI, N_("type a key URI"),                                     \
	  N_("Key step: type the URI of a key instead of choosing one."))     \
	/* TRANSLATORS: a key-bar label: at most 22 columns. */               \
	X(SYSTEM_OFF, N_("system identity on/off"),                           \
	  N_("Identity step: drop or keep the system-assigned identity."))    \
	/* TRANSLATORS: key bar; apply, save plan, ARM template and az        \
	   script, the review's four labels, total at most 36 columns. */     \
	X(APPLY, N_("apply"), N_("Review: carry the plan out (asks first).")) \
	X(SAVE, N_("save plan"),                                              \
	  N_("Review: save the plan, or export it (ARM template, az)."))      \
	X(EXPORT_ARM, N_("ARM template"), "")                                 \
	X(EXPORT_AZ, N_("az script"), "")                                     \
	/* TRANSLATORS: a key-bar label: at most 8 columns. */                \
	X(RETRY, N_("retry"), "")                                             \
	/* TRANSLATORS: key bar; scope, new vault, irreversible, apply and    \
	   back, the fleet review's labels, total at most 44 columns. */      \
	X(GRANT_SCOPE, N_("scope"),                                           \
	  N_("Fleet review: grant on each key or on the whole vault."))       \
	X(NEW_VAULT, N_("new vault"),                                         \
	  N_("Fleet review: create vaults; allow irreversible changes."))     \
	X(ALLOW_IRREVERSIBLE, N_("irreversible"), "")                         \
	/* TRANSLATORS: a key-bar label on every step: at most 4 columns. */  \
	X(HELP, N_("help"), N_("Show this help."))                            \
	/* TRANSLATORS: a key-bar label on every step: at most 6 columns. */  \
	X(QUIT, N_("quit"), N_("Quit (asks first when a plan is not saved)."))

#define UI_ACTION_ENUM(name, label, text) ACT_##name,
enum ui_action { ACT_NONE, UI_ACTIONS(UI_ACTION_ENUM) ACT_COUNT };
#undef UI_ACTION_ENUM

/* What a key handler asks of the loop; the loop alone draws and moves between
 * steps. */
enum ui_intent {
	UI_STAY = 0,
	UI_REDRAW = 1,
	UI_GO_NEXT = 2,
	UI_GO_BACK = 4,
	UI_QUIT = 8
};

struct ui;

/* One wizard step: a const table of callbacks over private state (any may be
 * NULL). */
struct wiz_step {
	const char *title; /* N_() */
	void *(*init)(struct ui *u);
	void (*free)(void *st);
	void (*enter)(struct ui *u, void *st); /* the step is shown (again) */
	void (*draw)(struct ui *u, void *st, int top,
		     int rows); /* paints lines [top, top + rows) */
	int (*key)(struct ui *u, void *st, enum ui_action a, int ch);
	void (*done)(struct ui *u, void *st,
		     int rc); /* its background task finished */
	const enum ui_action
		*hints; /* actions shown in the hint bar, ACT_NONE-ended */
	/* the hint bar's actions as the step's state has them, or NULL: then
	 * hints */
	const enum ui_action *(*hints_now)(void *st);
};

/* A background task: the network never blocks the screen; Esc cancels it. */
struct ui_task {
	pthread_t thread;
	bool running;
	int pipe[2]; /* the worker writes one byte when it finishes */
	int (*fn)(struct wizard *w,
		  void *arg); /* sees the wizard's data, never the screen */
	void *arg;
	int rc;
	char *label; /* what the spinner says */
	volatile sig_atomic_t cancel;
};

/*
 * The application: the wizard's data (wiz, no curses type) and the screen's
 * state (the terminal, the status line, help, the task runner, the steps).
 */
struct ui {
	struct wizard wiz; /* what the wizard knows and what was chosen */
	/* the screen */
	bool colour;
	bool ascii; /* draw with ASCII only (no UTF-8 locale) */
	int rows, cols;
	struct ui_task task;
	char *status;     /* one line: the last message */
	int status_level; /* 0 info, 1 warning, 2 error: a lesser one never
			     hides a graver */
	unsigned spin;
	bool help;
	bool quit_asked;
	/* the selected row of a list, as painted: its text, and whether it was
	   cut to fit (then whole keeps it for the "whole line" key) */
	bool in_selected_row;
	char *row_text;
	char *row_full; /* names ui_fit abbreviated in it, a line each */
	bool row_cut;
	char *whole;     /* the selected line's text when it was cut, or NULL */
	bool show_whole; /* that text is shown over the step */
	/* a screen shown over the flow's step (the fleet), with its state */
	const struct wiz_step *aside;
	void *aside_st;
	char *note; /* a step's standing line for the status row, this frame */
	/* the flow */
	const struct wiz_step *const *steps;
	void **state;
	size_t nsteps, at;
};

/* terminal.c */
bool ui_terminal_usable(void);

/* app.c (ui_run, the entry point, is declared in run.h) */
void ui_status(struct ui *u, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool ui_task_start(struct ui *u, const char *label,
		   int (*fn)(struct wizard *w, void *arg), void *arg);
bool ui_busy(const struct ui *u);
void ui_aside_open(struct ui *u, const struct wiz_step *s, void *st);

/* fleet.c */
void ui_fleet_open(struct ui *u, const struct audit_finding **items, size_t n);

/* keys.c */
enum ui_action ui_action_of(int ch);
const char *ui_action_keys(enum ui_action a);
const char *ui_action_label(enum ui_action a);
const char *ui_action_text(enum ui_action a);

/* draw.c */
void ui_draw_frame(struct ui *u, const char *title);
int ui_put(struct ui *u, int y, int x, int width, const char *text, int attr);
char *ui_fit(struct ui *u, const char *text, int width);
void ui_draw_help(struct ui *u);
void ui_draw_whole(struct ui *u);
void ui_draw_too_small(struct ui *u);
int ui_attr(struct ui *u, int role);
int ui_paragraph(struct ui *u, int y, int last, int x, const char *text,
		 int attr);
int ui_severity_attr(struct ui *u, enum severity s);
int ui_explanation(struct ui *u, enum severity sev, const char *message,
		   const char *detail, const char *why, const char *what,
		   int top, int last);
enum {
	UI_A_NORMAL,
	UI_A_TITLE,
	UI_A_SELECTED,
	UI_A_DIM,
	UI_A_BLOCKER,
	UI_A_WARNING,
	UI_A_NOTE,
	UI_A_OK,
	UI_A_HINT
};

/* list.c: a scrolling, filterable list of lines */
struct ui_list {
	size_t n;   /* items */
	size_t cur; /* the selected item (an index into items, not into the
		       view) */
	size_t top; /* the first visible view row */
	char filter[128];
	bool filtering; /* the '/' prompt is open */
	size_t *view;   /* the items that match the filter */
	size_t nview;
};
void ui_list_reset(struct ui_list *l, size_t n);
void ui_list_fill(struct ui_list *l, size_t n,
		  const char *(*text)(void *ctx, size_t i), void *ctx);
bool ui_list_select(struct ui_list *l, size_t item);
void ui_list_free(struct ui_list *l);
void ui_list_unfilter(struct ui_list *l);
void ui_list_refilter(struct ui_list *l,
		      const char *(*text)(void *ctx, size_t i), void *ctx);
int ui_list_key(struct ui_list *l, enum ui_action a, int ch, int rows,
		const char *(*text)(void *ctx, size_t i), void *ctx);
bool ui_list_selected(const struct ui_list *l, size_t *item);
void ui_list_draw(struct ui *u, struct ui_list *l, int top, int rows,
		  void (*row)(struct ui *u, void *ctx, size_t item, int y,
			      bool selected),
		  void *ctx);
void ui_list_draw_pending(struct ui *u, const struct ui_list *l, int y);

/* the steps */
extern const struct wiz_step step_signin;
extern const struct wiz_step step_start;
extern const struct wiz_step step_identity;
extern const struct wiz_step step_key;
extern const struct wiz_step step_role;
extern const struct wiz_step step_idtype;
extern const struct wiz_step step_review;

#define UI_MIN_COLS 80
#define UI_MIN_ROWS 24

#endif
