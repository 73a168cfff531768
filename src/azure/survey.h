/* The audit's reads across subscriptions, judged by the validation core into an
 * audit report. */
#ifndef AZ_SURVEY_H
#define AZ_SURVEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "session.h"

/* What to audit, and whom to tell how far it got. */
struct survey_opts {
	const char *const *subscriptions; /* ids or display names; none: every
					     subscription you can see */
	size_t nsubs;
	unsigned services; /* bit per enum svc_id; 0: all four */
	bool deep;   /* check the keys in use, not only whether CMK is on */
	int64_t now; /* the clock, epoch seconds (0: now) */
	/* How far it got: subscriptions, resources judged, and what it does
	 * now: "subscriptions", "graph", "quota", "arm" or "deep"
	 * (survey_stage_text says it in words). */
	void (*progress)(void *ud, size_t subscriptions, size_t resources,
			 const char *stage);
	void *ud;
};

/* Where the audit's results go as they are judged: begin once the subscriptions
 * are known, then one part at a time. */
struct survey_sink {
	void (*begin)(void *ud, const struct audit_report *meta);
	void (*item)(
		void *ud,
		const struct audit_report *part); /* one resource and its
						     findings, or one finding */
	void *ud;
};

const char *survey_stage_text(const char *stage);
int cmk_audit_stream(struct az_session *s, const struct survey_opts *o,
		     const struct survey_sink *sink, struct audit_report *meta,
		     struct az_error *e);
int cmk_list_subscriptions(struct az_session *s, struct json_object **subs,
			   struct az_error *e);
int cmk_list_vaults(struct az_session *s, const char *const *subs, size_t nsubs,
		    struct json_object **vaults, struct az_error *e);
int cmk_list_key_stores(struct az_session *s, const char *const *subs,
			size_t nsubs, struct json_object **stores,
			struct az_error *e);
int cmk_list_identities(struct az_session *s, const char *const *subs,
			size_t nsubs, struct json_object **ids,
			struct az_error *e);
int cmk_audit(struct az_session *s, const struct survey_opts *o,
	      struct audit_report *out, struct az_error *e);

#endif
