/* The wizard's shared types: the application, the steps' tables of callbacks, intents, actions and the task runner. */
#ifndef AZ_UI_H
#define AZ_UI_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "cmd.h"
#include "fetch.h"
#include "plan.h"

/*
 * Named actions, each bound to keys in one table: a short label for the hint
 * bar, a sentence for help (empty when the line of the action before covers it).
 */
#define UI_ACTIONS(X) \
	X(UP, N_("up"), N_("Move up or down.")) \
	X(DOWN, N_("down"), "") \
	X(PAGE_UP, N_("page up"), N_("Move a page up or down.")) \
	X(PAGE_DOWN, N_("page down"), "") \
	X(TOP, N_("first"), N_("Go to the first or the last item.")) \
	X(BOTTOM, N_("last"), "") \
	X(SELECT, N_("choose"), N_("Choose the selected item, or go on.")) \
	X(TOGGLE, N_("mark"), N_("Mark or unmark the selected item.")) \
	X(NEXT, N_("next"), N_("Go on to the next step.")) \
	X(BACK, N_("back"), N_("Go back a step; cancel what is under way; close a panel.")) \
	X(FILTER, N_("filter"), N_("Filter the list: type, then Enter (Esc clears).")) \
	X(EXPLAIN, N_("explain"), N_("Why the selected finding matters, and how to fix it.")) \
	X(SWITCH, N_("all resources"), N_("Show the findings, or every resource with its encryption.")) \
	X(RELOAD, N_("reload"), N_("Read again from Azure.")) \
	X(TYPE_URI, N_("type a key URI"), N_("Key step: type the URI of a key instead of choosing one.")) \
	X(SYSTEM_OFF, N_("system identity on/off"), N_("Identity step: drop or keep the system-assigned identity.")) \
	X(APPLY, N_("apply"), N_("Review: carry the plan out (asks first).")) \
	X(SAVE, N_("save plan"), N_("Review: save the plan for azcmk apply.")) \
	X(EXPORT_ARM, N_("ARM template"), N_("Review: export the plan as an ARM template.")) \
	X(EXPORT_AZ, N_("az script"), N_("Review: export the plan as an Azure CLI script.")) \
	X(HELP, N_("help"), N_("Show this help.")) \
	X(QUIT, N_("quit"), N_("Quit (asks first when a plan is not saved)."))

#define UI_ACTION_ENUM(name, label, text) ACT_##name,
enum ui_action { ACT_NONE, UI_ACTIONS(UI_ACTION_ENUM) ACT_COUNT };
#undef UI_ACTION_ENUM

/* What a key handler asks of the loop; the loop alone draws and moves between steps. */
enum ui_intent { UI_STAY = 0, UI_REDRAW = 1, UI_GO_NEXT = 2, UI_GO_BACK = 4, UI_QUIT = 8 };

struct ui;

/* One wizard step: a const table of callbacks over private state (any may be NULL). */
struct wiz_step {
	const char *title;                                          /* N_() */
	void *(*init)(struct ui *u);
	void (*free)(void *st);
	void (*enter)(struct ui *u, void *st);                     /* the step is shown (again) */
	void (*draw)(struct ui *u, void *st, int top, int rows);    /* paints lines [top, top + rows) */
	int (*key)(struct ui *u, void *st, enum ui_action a, int ch);
	void (*done)(struct ui *u, void *st, int rc);              /* its background task finished */
	const enum ui_action *hints;                                /* actions shown in the hint bar, ACT_NONE-ended */
};

/* A background task: the network never blocks the screen; Esc cancels it. */
struct ui_task {
	pthread_t thread;
	bool running;
	int pipe[2];                       /* the worker writes one byte when it finishes */
	int (*fn)(struct ui *u, void *arg);
	void *arg;
	int rc;
	char *label;                       /* what the spinner says */
	volatile sig_atomic_t cancel;
};

/* A subscription the operator can see, and whether it is in scope. */
struct ui_sub {
	char *id, *name, *state;
	bool chosen;
};

/* The whole application: terminal, session, model shared by the steps, and where the flow is. */
struct ui {
	struct cmd_opts *o;
	bool demo;
	bool colour;
	bool ascii;                        /* draw with ASCII only (no UTF-8 locale) */
	int rows, cols;
	struct az_session *s;              /* used by the task thread only, one task at a time */
	struct ui_task task;
	char *status;                      /* one line: the last message */
	int status_level;                  /* 0 info, 1 warning, 2 error: a lesser one never hides a graver */
	unsigned spin;
	bool help;
	bool dirty;                        /* a plan or a change is unsaved: quitting asks */
	bool quit_asked;
	/* the model */
	char *who, *tenant, *method;       /* who signed in, where, and how */
	char *device_code;                 /* device-code instructions while signing in (under lock) */
	pthread_mutex_t lock;              /* guards what the task thread writes while the screen reads */
	struct ui_sub *subs;
	size_t nsubs;
	struct audit_report audit;         /* the start screen's findings and resources */
	bool audited;
	char *resource;                    /* the resource the flow is about */
	const struct cmk_rule *finding;    /* the finding it was chosen from, or NULL (chosen from every resource) */
	struct cmk_fetch cur;              /* it as it is, with the key it uses (read by step 3) */
	bool have_cur;
	char *identity;                    /* the identity for the key: "system", or a user-assigned identity's ARM id */
	bool system_off;                   /* turn the system-assigned identity off once the key is saved */
	bool system_chosen;                /* the operator chose that with o (else DICOM decides, as plan does) */
	char *key_uri;                     /* the key chosen (with or without a version), or NULL with create_key */
	char *create_vault, *create_key;   /* or a new key to create, in that vault */
	struct cmk_fetch chg;              /* the change as chosen (read by step 5) */
	struct cmk_report rep;
	bool have_chg;
	struct plan plan;                  /* built by the review step */
	bool have_plan;
	char *apply_log;                   /* what apply reported so far (under lock) */
	bool applied;
	/* the flow */
	const struct wiz_step *const *steps;
	void **state;
	size_t nsteps, at;
};

/* app.c */
int ui_run(struct cmd_opts *o, bool demo);
void ui_status(struct ui *u, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool ui_task_start(struct ui *u, const char *label, int (*fn)(struct ui *u, void *arg), void *arg);
bool ui_busy(const struct ui *u);

/* keys.c */
enum ui_action ui_action_of(int ch);
const char *ui_action_keys(enum ui_action a);
const char *ui_action_label(enum ui_action a);
const char *ui_action_text(enum ui_action a);

/* draw.c */
void ui_draw_frame(struct ui *u, const char *title);
int ui_put(struct ui *u, int y, int x, int width, const char *text, int attr);
void ui_draw_help(struct ui *u);
void ui_draw_too_small(struct ui *u);
int ui_attr(struct ui *u, int role);
enum { UI_A_NORMAL, UI_A_TITLE, UI_A_SELECTED, UI_A_DIM, UI_A_BLOCKER, UI_A_WARNING, UI_A_NOTE, UI_A_OK, UI_A_HINT };

/* list.c: a scrolling, filterable list of lines */
struct ui_list {
	size_t n;                          /* items */
	size_t cur;                        /* the selected item (an index into items, not into the view) */
	size_t top;                        /* the first visible view row */
	char filter[128];
	bool filtering;                    /* the '/' prompt is open */
	size_t *view;                      /* the items that match the filter */
	size_t nview;
};
void ui_list_reset(struct ui_list *l, size_t n);
void ui_list_free(struct ui_list *l);
void ui_list_refilter(struct ui_list *l, const char *(*text)(void *ctx, size_t i), void *ctx);
int ui_list_key(struct ui_list *l, enum ui_action a, int ch, int rows, const char *(*text)(void *ctx, size_t i),
		void *ctx);
bool ui_list_selected(const struct ui_list *l, size_t *item);
void ui_list_draw(struct ui *u, struct ui_list *l, int top, int rows,
		  void (*row)(struct ui *u, void *ctx, size_t item, int y, bool selected), void *ctx);

/* flow.c: the choices shared by the steps, reset when an earlier choice changes */
void ui_forget_from(struct ui *u, int step);
enum { FORGET_RESOURCE = 2, FORGET_IDENTITY = 3, FORGET_KEY = 4, FORGET_CHANGE = 5, FORGET_PLAN = 7 };
int ui_paragraph(struct ui *u, int y, int last, int x, const char *text, int attr);
int ui_severity_attr(struct ui *u, enum severity s);
int ui_explanation(struct ui *u, enum severity sev, const char *message, const char *detail, const char *why,
		   const char *what, int top, int last);
const char *ui_identity_name(const char *id);
const char **ui_chosen_subs(const struct ui *u, size_t *n);

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
