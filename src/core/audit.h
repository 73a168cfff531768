/* The audit's findings across subscriptions: collected from the rules,
 * identified, sorted and rendered. */
#ifndef AZ_AUDIT_H
#define AZ_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "sbuf.h"

struct json_object;

/* One finding of the audit, self-contained (the context it came from is gone).
 */
struct audit_finding {
	char id[17]; /* 16 hex digits, stable across runs for the same rule,
			subject and resource */
	char *resource_id;    /* the resource (or the subscription, for
				 subscription findings) */
	char *subscription;   /* subscription id */
	char *resource_group; /* "" for subscription findings */
	char *name; /* the resource's name ("" for subscription findings) */
	const char *service; /* profile key, or "" */
	const char *rule;    /* rule id */
	enum severity severity;
	bool unknown;  /* the rule could not be judged (the message says why) */
	char *subject; /* resource id, vault URI or key URL */
	char *message; /* translated, sanitised */
	char *detail;  /* or NULL */
	const char *explanation; /* N_() text of the rule */
	const char *fix;         /* N_() text of the rule */
};

/* A resource the audit saw, with its encryption state (for the report and the
 * wizard's start screen). */
struct audit_resource {
	char *id;
	char *subscription;
	char *resource_group;
	char *name;
	const char *service;
	bool cmk;  /* on a customer-managed key */
	char *key; /* the key URI it uses, or NULL */
};

/* A subscription in scope, and whether it could be read. */
struct audit_subscription {
	char *id;
	char *name;
	bool readable;
};

struct audit_report {
	struct audit_finding *items;
	size_t n, cap;
	struct audit_resource *resources;
	size_t nres, capres;
	struct audit_subscription *subs;
	size_t nsubs;
	bool deep;
	int64_t generated;  /* epoch seconds the audit ran */
	const char *portal; /* the cloud's portal for SARIF's links; NULL: the
			       public cloud's */
};

enum audit_format {
	AUDIT_TABLE,
	AUDIT_JSON,
	AUDIT_CSV,
	AUDIT_SARIF,
	AUDIT_TSV
};

bool audit_rule_text(const char *id, const char **canonical,
		     const char **explanation, const char **fix);
void audit_id(const char *rule, const char *subject, const char *resource,
	      char out[17]);
void audit_add_subscription(struct audit_report *a, const char *id,
			    const char *name, bool readable);
void audit_add_resource(struct audit_report *a, const struct cmk_ctx *c,
			const char *key_uri);
void audit_add_report(struct audit_report *a, const struct cmk_ctx *c,
		      const struct cmk_report *r);
void audit_add_unreadable(struct audit_report *a, const char *rule,
			  const char *resource_id, const char *name,
			  const char *detail);
struct json_object *audit_resource_from_row(struct json_object *row,
					    const char *created);
char *audit_graph_columns(void);
void audit_sort(struct audit_report *a);
void audit_merge(struct audit_report *a, struct audit_report *part);
bool audit_fails(const struct audit_report *a, enum severity at_least);
void audit_free(struct audit_report *a);
char *audit_render(const struct audit_report *a, enum audit_format f,
		   bool colour);

/* Renders a report part by part as it is made: begin, parts, end; the caller
 * takes the text from out as it goes. */
struct audit_writer {
	enum audit_format format;
	bool colour;
	struct sbuf out; /* text written and not yet taken */
	const struct audit_report
		*meta; /* subscriptions in scope, deep, time */
	size_t nfind, nres, ncmk, sev[3];
	char *sub, *group, *name; /* the table's current grouping */
};

void audit_writer_begin(struct audit_writer *w, enum audit_format f,
			bool colour, const struct audit_report *meta);
void audit_writer_part(struct audit_writer *w, const struct audit_report *part);
void audit_writer_end(struct audit_writer *w);
void audit_writer_abort(struct audit_writer *w, const char *why);
char *audit_counts_text(size_t blockers, size_t warnings, size_t notes);
bool audit_writer_fails(const struct audit_writer *w, enum severity at_least);
void audit_writer_free(struct audit_writer *w);
int audit_from_json(struct json_object *o, struct audit_report *out,
		    char **err);
const struct audit_finding *audit_find(const struct audit_report *a,
				       const char *id);

#endif
