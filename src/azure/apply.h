/* Applying a plan through the session: journalled, guarded against concurrent
 * change, resumable. */
#ifndef AZ_APPLY_H
#define AZ_APPLY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "plan.h"
#include "session.h"
#include "statedir.h"

struct apply_opts {
	const char *journal_dir;    /* NULL: $XDG_STATE_HOME/azcmk, else
				       ~/.local/state/azcmk */
	bool resume;                /* continue the plan's journal */
	int64_t propagation_wait_s; /* how long to wait after granting access
				       (default 30) */
	int64_t save_retry_s;       /* how long the save retries while access
				       propagates (0: 600; -1: no retry) */
	void (*progress)(const char *line, void *ctx);
	void *ctx;
	volatile sig_atomic_t *stop; /* when set, stop before the next step
					(the one in flight ends first) */
};

int cmk_apply(struct az_session *s, const struct plan *p,
	      const struct apply_opts *o, struct az_error *e);
char *cmk_journal_path(const struct apply_opts *o, const char *plan_id);

#endif
