/* What plan, apply, rotate, refresh and fix share, below the commands: sign in,
 * build a plan, show it, run it. */
#ifndef AZ_PLANFLOW_H
#define AZ_PLANFLOW_H

#include "cmd.h"

struct cmk_fetch;
struct plan;

int flow_mistake(const char *msg);
struct az_session *flow_session(const struct cmd_opts *o);
struct az_session *flow_session_with(const struct cmd_opts *o, bool fresh);
bool flow_system_off(const struct cmd_opts *o, const struct cmk_ctx *c);
int flow_build(struct az_session *s, const struct cmd_opts *o,
	       const char *resource, struct cmk_fetch *f, struct plan *p);
bool flow_needs_confirmation(const struct cmd_opts *o, struct cmk_fetch *f);
int flow_plan(struct az_session *s, const struct cmd_opts *o,
	      const char *resource, struct cmk_fetch *f, struct plan *p,
	      char **why);
int flow_run(const struct cmd_opts *o, struct az_session *s,
	     const struct plan *p, const char *plan_path);
int flow_show_and_run(const struct cmd_opts *o, struct az_session *s,
		      const struct plan *p, const struct cmk_ctx *c);
int flow_rotate(struct az_session *s, const struct cmd_opts *o,
		const char *resource);
int flow_refresh(struct az_session *s, const struct cmd_opts *o,
		 const char *resource);

#endif
