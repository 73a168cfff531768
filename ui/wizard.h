/* What the wizard knows, apart from any screen: options, session, who signed
 * in, findings, and the choices made. */
#ifndef AZ_WIZARD_H
#define AZ_WIZARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "cmd.h"
#include "fetch.h"
#include "plan.h"

struct az_session;

/* A subscription the operator can see, and whether it is in scope. */
struct wiz_sub {
	char *id, *name, *state;
	bool chosen;
};

/*
 * The wizard's data, with no curses type: what was read from Azure and what
 * the operator chose, shared by the steps. Background tasks get this alone
 * (never the screen); what the screen reads while a task writes is under lock.
 */
struct wizard {
	struct cmd_opts *o;
	bool demo; /* against the embedded simulated tenant */
	struct az_session
		*s; /* used by the task thread only, one task at a time */
	pthread_mutex_t lock; /* guards what the task thread writes while the
				 screen reads */
	char *who, *tenant, *method; /* who signed in, where, and how */
	char *device_code; /* device-code instructions while signing in (under
			      lock) */
	struct wiz_sub *subs;
	size_t nsubs;
	struct audit_report audit; /* the start step's findings and resources */
	bool audited;
	char *resource;                 /* the resource the flow is about */
	const struct cmk_rule *finding; /* the finding it was chosen from, or
					   NULL (chosen from every resource) */
	struct cmk_fetch
		cur; /* it as it is, with the key it uses (read by step 3) */
	bool have_cur;
	char *identity;  /* the identity for the key: "system", or a
			    user-assigned identity's ARM id */
	bool system_off; /* turn the system-assigned identity off once the key
			    is saved */
	bool system_chosen; /* the operator chose that with o (else DICOM
			       decides, as plan does) */
	char *key_uri; /* the key chosen (with or without a version), or NULL
			  with create_key */
	char *create_vault,
		*create_key;  /* or a new key to create, in that vault */
	struct cmk_fetch chg; /* the change as chosen (read by step 5) */
	struct cmk_report rep;
	bool have_chg;
	struct plan plan; /* built by the review step */
	bool have_plan;
	bool dirty;      /* a plan or a change is unsaved: quitting asks */
	char *apply_log; /* what apply reported so far (under lock) */
	char *task_note; /* how far the background task got, for the busy
			    line, or NULL (under lock) */
	bool applied;
};

/* The choices in the flow's order (the steps' indices): forgetting one forgets
 * those after it. */
enum {
	FORGET_RESOURCE = 2,
	FORGET_IDENTITY = 3,
	FORGET_KEY = 4,
	FORGET_CHANGE = 5,
	FORGET_PLAN = 7
};

void wiz_forget_from(struct wizard *w, int step);
const char **wiz_chosen_subs(const struct wizard *w, size_t *n);
void wiz_clear_subs(struct wizard *w);
const char *wiz_identity_name(const char *id);
void wiz_free(struct wizard *w);

#endif
