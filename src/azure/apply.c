/* Applying a plan through the session: locked, journalled, guarded against
 * concurrent change, resumable, verified. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "fetch.h"
#include "history.h"
#include "i18n.h"
#include "jx.h"
#include "rules.h"
#include "sbuf.h"
#include "statedir.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

/* The largest journal azcmk reads: far more than any plan writes. */
#define JOURNAL_MAX (4 * 1024 * 1024)

/* How many times a key creation is tried when its answer is lost (it looks for
 * its version before each retry). */
#define CREATE_TRIES 3

/* The state of one run: the lock, the journal, what earlier steps learned, and
 * what is done. */
struct run {
	struct az_session *s;
	const struct plan *p;
	const struct apply_opts *o;
	char *path; /* the journal */
	int lock_fd;
	FILE *journal;
	struct json_object
		*vars; /* principalId, keyVersion: validated before use */
	bool *done;    /* per step: the journal records it done */
	bool *tried;   /* per step: the journal records a start of it */
	int64_t begun; /* when the journal began */
	char *op_url;  /* an operation the journal recorded that was not seen to
			  end */
	bool op_async;
	size_t op_step;
	bool resuming;
	bool regranted; /* a resumed run made a grant again (its wait must run
			   again too) */
	struct json_object
		*claims;         /* who is signed in, for the change history */
	struct cmk_fetch *proof; /* the save step's read with its proof of
				    access, in one wave, or NULL */
#ifdef AZCMK_TEST_HOOKS
	int crash_after; /* test hook: exit after this step's write
			    (AZCMK_TEST_CRASH_AFTER) */
#endif
};

/* Reports one line of progress. */
static void say(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (!r->o->progress)
		return;
	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	r->o->progress(line, r->o->ctx);
	free(line);
}

/* Returns a step's title, fit for a terminal (a plan file is untrusted text).
 */
static char *title_of(const struct plan_step *st)
{
	return text_sanitize(st->title ? st->title : st->id, false);
}

/* Sets an error with a code that tells the caller what kind of stop it was. */
static void fail_code(struct az_error *e, const char *code)
{
	free(e->code);
	e->code = xstrdup(code);
}

/* Returns the journal file of a plan. */
char *cmk_journal_path(const struct apply_opts *o, const char *plan_id)
{
	char *name = xasprintf("%s.journal", plan_id), *path;

	path = o->journal_dir ? xasprintf("%s/%s", o->journal_dir, name)
			      : cmk_state_path(name);
	free(name);
	return path;
}

/* Appends one entry to the journal (the plan's id, the step and its kind, what
 * was learned) and syncs it. */
static void journal(struct run *r, long step, const char *event,
		    const char *extra_key, const char *extra)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "plan", json_object_new_string(r->p->id));
	json_object_object_add(e, "step", json_object_new_int64(step));
	if (step >= 0)
		json_object_object_add(
			e, "id", json_object_new_string(r->p->steps[step].id));
	json_object_object_add(e, "event", json_object_new_string(event));
	json_object_object_add(e, "time",
			       json_object_new_int64((int64_t)time(NULL)));
	if (extra_key && extra)
		json_object_object_add(e, extra_key,
				       json_object_new_string(extra));
	if (json_object_object_length(r->vars))
		json_object_object_add(e, "vars", jx_copy(r->vars));
	fprintf(r->journal, "%s\n", jx_text(e));
	fflush(r->journal);
	fsync(fileno(r->journal));
	json_object_put(e);
}

/* Takes the plan's lock for the whole run; a second apply of the same plan is
 * refused at once, naming the holder. */
static int lock_plan(struct run *r, struct az_error *e)
{
	char *path = xasprintf("%s.lock", r->path), *err = NULL, pid[32] = "";
	int fd = cmk_private_dir(path, &err)
			 ? cmk_open_private(path, O_RDWR | O_CREAT, &err)
			 : -1;
	ssize_t n;

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		az_error_set(e,
			     _("plan %s is being applied by process %s right "
			       "now (lock %s); wait for it to end, then run "
			       "apply --resume if it stopped"),
			     r->p->id, *pid ? pid : "?", path);
		fail_code(e, "PlanLocked");
		close(fd);
		fd = -1;
	} else if (fd < 0) {
		az_error_set(e, "%s", err);
		fail_code(e, "StateUnsafe");
	} else {
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
			say(r,
			    _("  (could not write this process's id into the "
			      "lock %s)"),
			    path);
	}
	free(err);
	free(path);
	r->lock_fd = fd;
	return fd >= 0 ? 0 : -1;
}

/* Takes in one valid journal entry: what is done, what was learned, an
 * operation under way. */
static void take(struct run *r, struct json_object *e)
{
	const char *ev = jx_str(e, "event");
	int64_t step = jx_int(e, "step", -1);

	if (jx_get(e, "vars"))
		jx_merge_patch(r->vars, jx_get(e, "vars"));
	if (strcmp(ev, "begin") == 0) {
		r->begun = jx_int(e, "time", 0);
	} else if (strcmp(ev, "start") == 0) {
		r->tried[step] = true;
	} else if (strcmp(ev, "done") == 0) {
		r->done[step] = true;
		if (r->op_url && r->op_step == (size_t)step) {
			free(r->op_url);
			r->op_url = NULL;
		}
	} else if (str_istarts(ev, "operation") && jx_str(e, "operation")) {
		free(r->op_url);
		r->op_url = xstrdup(jx_str(e, "operation"));
		r->op_async = strcmp(ev, "operation") == 0;
		r->op_step = (size_t)step;
	}
}

/*
 * Reads the journal and holds every line to the plan. A torn last line (no
 * newline: a crash while it was written) is the one thing tolerated; an empty,
 * garbled, foreign or forged journal is refused, naming the line.
 */
static int replay(struct run *r, const char *text, size_t len,
		  struct az_error *e)
{
	size_t line = 0;

	if (len == 0) {
		az_error_set(e,
			     _("the journal %s is empty, so what was already "
			       "done cannot be known; nothing was sent. Check "
			       "the resource with azcmk check, then move the "
			       "journal aside and plan again"),
			     r->path);
		return -1;
	}
	for (const char *p = text, *end = text + len; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char *err = NULL;
		struct json_object *en;

		if (!nl) {
			say(r, _("  the last line of the journal was cut short "
				 "by a crash; it is ignored"));
			break;
		}
		en = jx_parse(p, (size_t)(nl - p), &err);
		free(err);
		if (!en || !plan_journal_entry_ok(r->p, en, line == 0)) {
			json_object_put(en);
			az_error_set(
				e,
				_("line %zu of the journal %s is not an entry "
				  "azcmk wrote for plan %s (it was edited, or "
				  "belongs to another plan); nothing was sent. "
				  "Check the resource with azcmk check, then "
				  "move the journal aside and plan again"),
				line + 1, r->path, r->p->id);
			return -1;
		}
		take(r, en);
		json_object_put(en);
		p = nl + 1;
	}
	return 0;
}

/* Reads the existing journal (a private file, not through a link) and replays
 * it; 1 when there is none. */
static int read_journal(struct run *r, struct az_error *e)
{
	char *err = NULL, *text = NULL;
	int fd = cmk_open_private(r->path, O_RDONLY, &err), rc;
	struct stat st;

	if (fd < 0 && errno == ENOENT) {
		free(err);
		return 1;
	}
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size > JOURNAL_MAX) {
		az_error_set(e, "%s",
			     err ? err
				 : _("the journal is too large to be one azcmk "
				     "wrote"));
		free(err);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 1);
	rc = read(fd, text, (size_t)st.st_size) == st.st_size
		     ? replay(r, text, (size_t)st.st_size, e)
		     : -1;
	if (rc < 0 && !e->message)
		az_error_set(e, _("cannot read the journal %s: %s"), r->path,
			     strerror(errno));
	close(fd);
	free(text);
	return rc;
}

/* Tells whether the journal records every step of the plan as done. */
static bool finished(const struct run *r)
{
	for (size_t i = 0; i < r->p->n; i++)
		if (!r->done[i])
			return false;
	return r->p->n > 0;
}

/* Forgets what a replayed journal said (a finished journal set aside before a
 * new run). */
static void forget(struct run *r)
{
	json_object_put(r->vars);
	r->vars = json_object_new_object();
	memset(r->done, 0, r->p->n * sizeof(*r->done));
	memset(r->tried, 0, r->p->n * sizeof(*r->tried));
	free(r->op_url);
	r->op_url = NULL;
}

/* Starts a new journal atomically: a private file holding its first line,
 * renamed into place. */
static int new_journal(struct run *r, struct az_error *e)
{
	char *err = NULL,
	     *line = xasprintf("{\"plan\":\"%s\",\"step\":-1,\"event\":"
			       "\"begin\",\"time\":%lld,\"pid\":%ld}\n",
			       r->p->id, (long long)time(NULL), (long)getpid());
	int rc = cmk_write_private(r->path, line, &err) ? 0 : -1;

	if (rc != 0)
		az_error_set(e, "%s", err);
	r->begun = (int64_t)time(NULL);
	free(err);
	free(line);
	return rc;
}

/*
 * Opens the plan's journal under the lock: a new one, or the existing one to
 * resume. A plan that finished may run again (the old journal is kept as
 * PATH.1); one that stopped half-way must be resumed.
 */
static int open_journal(struct run *r, struct az_error *e)
{
	int had = read_journal(r, e), fd;
	char *err = NULL;

	if (had < 0) {
		fail_code(e, "JournalInvalid");
		return -1;
	}
	if (had == 0 && !r->o->resume && finished(r)) {
		char *kept = xasprintf("%s.1", r->path);

		if (rename(r->path, kept) != 0)
			az_error_set(e,
				     _("cannot set the finished journal %s "
				       "aside: %s"),
				     r->path, strerror(errno));
		free(kept);
		forget(r);
		had = e->message ? -1 : 1;
	} else if (had == 0 && !r->o->resume) {
		az_error_set(e,
			     _("plan %s was already started (journal %s): use "
			       "--resume to continue it"),
			     r->p->id, r->path);
	} else if (had == 1 && r->o->resume) {
		az_error_set(
			e, _("nothing to resume: plan %s has no journal at %s"),
			r->p->id, r->path);
		fail_code(e, "NothingToResume");
	}
	if (e->message || (had == 1 && new_journal(r, e) != 0))
		return -1;
	r->resuming = had == 0;
	fd = cmk_open_private(r->path, O_WRONLY | O_APPEND, &err);
	r->journal = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!r->journal) {
		az_error_set(e, _("cannot write the journal: %s"),
			     err ? err : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	free(err);
	return r->journal ? 0 : -1;
}

/* Reads an ARM resource; NULL with the error set. */
static struct json_object *read_arm(struct run *r, const char *url,
				    const char *api, struct az_error *e)
{
	struct az_req *q = az_session_req(r->s, AZ_ARM, "GET", url, api, NULL);
	struct json_object *o = az_session_call(r->s, q, e) == 0
					? json_object_get(q->json)
					: NULL;

	az_req_free(q);
	return o;
}

/* Reads the vault a plan creates: as ARM shows it, or an empty object while
 * it does not exist (a 404, and only that). */
static struct json_object *read_new_vault(struct run *r, struct az_error *e)
{
	struct az_req *q = az_session_req(r->s, AZ_ARM, "GET", r->p->vault_id,
					  PLAN_VAULT_API, NULL);
	int rc = az_session_call(r->s, q, e);
	struct json_object *o = NULL;

	if (rc == 0 && json_object_is_type(q->json, json_type_object))
		o = json_object_get(q->json);
	else if (rc != 0 && q->status == 404) {
		az_error_clear(e);
		o = json_object_new_object();
	} else if (rc == 0) {
		az_error_set(e, _("key vault %s answered with no object"),
			     r->p->vault_id);
	}
	az_req_free(q);
	return o;
}

/* Reads what a step's request is derived from: the resource or the vault it
 * changes. */
static struct json_object *read_state(struct run *r, enum step_kind k,
				      struct az_error *e)
{
	if (k == STEP_CREATE_VAULT)
		return read_new_vault(r, e);
	bool vault = k == STEP_ENABLE_SOFT_DELETE ||
		     k == STEP_ENABLE_PURGE_PROTECTION ||
		     k == STEP_FIREWALL_BYPASS || k == STEP_ACCESS_POLICY;

	if (vault)
		return read_arm(r, r->p->vault_id, PLAN_VAULT_API, e);
	if (k == STEP_ENABLE_IDENTITY || k == STEP_SAVE_KEY ||
	    k == STEP_DISABLE_SYSTEM_IDENTITY)
		return read_arm(r, r->p->resource_id, r->p->svc->api_version,
				e);
	return json_object_new_object();
}

/* Records a long-running operation in the journal before waiting for it, so a
 * resumed run can wait for it too. */
static void note_operation(struct run *r, size_t i, struct az_req *q,
			   char **url, bool *async)
{
	*url = az_session_op_url(q, async);
	if (!*url)
		return;
	/* The style lets a resume poll a Location URL the way it must be
	 * polled. */
	journal(r, (long)i, *async ? "operation" : "operation-location",
		"operation", *url);
#ifdef AZCMK_TEST_HOOKS
	if (getenv("AZCMK_TEST_CRASH_IN_OPERATION") &&
	    strtol(getenv("AZCMK_TEST_CRASH_IN_OPERATION"), NULL, 10) ==
		    (long)i + 1)
		_exit(99);
#endif
}

/* Tells whether an answer is a success. */
static bool ok_answer(const struct az_req *q)
{
	return !q->curl_code && q->status >= 200 && q->status < 300;
}

/* Tells whether the change history can take entries (a private file, not a
 * link, in a private directory made when missing), before anything is
 * written. */
static bool history_ready(char **err)
{
	char *path = cmk_history_path();
	int fd = cmk_private_dir(path, err)
			 ? cmk_open_private(path, O_WRONLY | O_APPEND | O_CREAT,
					    err)
			 : -1;

	if (fd >= 0)
		close(fd);
	free(path);
	return fd >= 0;
}

/* Appends a write to the change history: who, which plan and step, the request,
 * what changed, how it ended. */
static void record(struct run *r, size_t i, const struct step_request *rq,
		   struct json_object *before, const struct az_req *q,
		   const struct az_error *e)
{
	char when[HISTORY_TIME_LEN], *err = NULL;
	const char *name = jx_str(r->claims, "upn")
				   ? jx_str(r->claims, "upn")
				   : jx_str(r->claims, "appid");
	struct history_write w = { when,
				   jx_str(r->claims, "oid"),
				   name,
				   jx_str(r->claims, "tid"),
				   r->p->id,
				   r->p->resource_id,
				   r->p->steps[i].id,
				   rq->method,
				   q->url,
				   before,
				   rq->body,
				   ok_answer(q),
				   q->status,
				   ok_answer(q) ? NULL : e->code,
				   q->client_request_id };
	struct json_object *entry;

	history_time((int64_t)time(NULL), when);
	entry = history_entry(&w);
	if (!cmk_history_append(entry, &err))
		say(r, _("  warning: %s"), err);
	json_object_put(entry);
	free(err);
}

/* Sends a step's derived request and waits for its long-running operation;
 * returns the final answer. */
static struct az_req *send_req(struct run *r, size_t i,
			       const struct step_request *rq, bool once,
			       struct json_object *before, struct az_error *e)
{
	char *body = rq->body ? xstrdup(jx_text(rq->body)) : NULL, *op = NULL;
	struct az_req *q = az_session_req(
			      r->s,
			      rq->target == TARGET_KEYVAULT ? AZ_KEYVAULT
							    : AZ_ARM,
			      rq->method, rq->url, rq->api_version, body),
		      *fin = NULL;
	bool async = false;

	/* A write made once is still retried after a 429: Azure refuses it
	 * before doing any of it. */
	q->no_retry = once;
	q->retry_throttled = true;
	if (az_session_call(r->s, q, e) == 0 && !q->curl_code &&
	    q->status >= 200 && q->status < 300) {
		note_operation(r, i, q, &op, &async);
		if (op && (q->status == 201 || q->status == 202 || async) &&
		    az_session_wait_op(r->s, op, async, &fin, e) != 0) {
			q->status = 0;
			free(e->request_id);
			e->request_id = xstrdup(q->client_request_id);
		}
	}
	record(r, i, rq, before, q, e);
	az_req_free(fin);
	free(op);
	free(body);
	return q;
}

/* Returns the value a request writes at a step's guarded path (what "already
 * applied" looks like), or NULL. */
static struct json_object *desired(const struct plan_step *st,
				   const struct step_request *rq)
{
	return st->expect_path ? jx_get(rq->body, st->expect_path) : NULL;
}

/* Compares two JSON values by their text (NULL equals NULL). */
static bool same(struct json_object *a, struct json_object *b)
{
	return (!a && !b) || (a && b && strcmp(jx_text(a), jx_text(b)) == 0);
}

/* Tells whether every leaf of want is present in have with the same value
 * (strings compare case-insensitively). */
static bool contains(struct json_object *have, struct json_object *want)
{
	if (!want)
		return true;
	if (!have || json_object_get_type(have) != json_object_get_type(want))
		return false;
	if (json_object_is_type(want, json_type_object)) {
		json_object_object_foreach(want, k, v)
		{
			if (!contains(json_object_object_get(have, k), v))
				return false;
		}
		return true;
	}
	if (json_object_is_type(want, json_type_string))
		return str_ieq(json_object_get_string(have),
			       json_object_get_string(want));
	return same(have, want);
}

/*
 * Guards the creation of a vault: 0 to create it when none is there, 1 when
 * the vault there is the one the plan makes (region and every setting: a
 * fleet's first resource made it), -1 for any other vault of that name,
 * whatever the plan file says it expected (a PUT would rewrite someone's
 * vault: its permission model, its firewall).
 */
static int new_vault_guard(struct run *r, const struct plan_step *st,
			   struct json_object *now,
			   const struct step_request *rq, struct az_error *e)
{
	char *title;

	if (!jx_get(now, "id"))
		return 0;
	if (location_eq(jx_str(now, "location"),
			jx_str(rq->body, "location")) &&
	    contains(jx_get(now, "properties"), jx_get(rq->body, "properties")))
		return 1;
	title = title_of(st);
	az_error_set(e,
		     _("stopped before '%s': key vault %s exists and is not "
		       "the one the plan creates (its region or settings "
		       "differ); azcmk does not rewrite a vault it did not "
		       "make: make a new plan"),
		     title, r->p->vault_id);
	fail_code(e, "PlanOutdated");
	free(title);
	return -1;
}

/*
 * Compares what a step is about to change with what it expects. Returns 0
 * to write, 1 when the change is already there, -1 when someone else changed
 * it.
 */
static int guard(struct run *r, const struct plan_step *st,
		 struct json_object *now, const struct step_request *rq,
		 struct az_error *e)
{
	struct json_object *cur;

	if (st->kind == STEP_CREATE_VAULT)
		return new_vault_guard(r, st, now, rq, e);
	if (!st->expect_path)
		return 0;
	cur = jx_get(now, st->expect_path);
	if (desired(st, rq) && contains(cur, desired(st, rq)))
		return st->kind == STEP_SAVE_KEY && r->p->resave &&
				       !r->done[st - r->p->steps]
			       ? 0
			       : 1;
	if (!same(cur, st->expect)) {
		char *was = st->expect
				    ? text_sanitize(jx_text(st->expect), false)
				    : xstrdup(_("(absent)"));
		char *is = cur ? text_sanitize(jx_text(cur), false)
			       : xstrdup(_("(absent)"));
		char *title = title_of(st);

		az_error_set(e,
			     _("stopped before '%s': %s changed since the plan "
			       "was made: %s was %s, is now %s; make a new "
			       "plan"),
			     title, st->read_url, st->expect_path, was, is);
		fail_code(e, "PlanOutdated");
		free(was);
		free(is);
		free(title);
		return -1;
	}
	return 0;
}

/* Takes the principal the service uses from a read of the resource, only when
 * it is a well-formed object id. */
static void principal_from(struct run *r, struct json_object *res)
{
	const char *p = NULL;

	if (r->p->uai_id)
		p = jx_str(
			jx_iget(jx_get(res, "identity.userAssignedIdentities"),
				r->p->uai_id),
			"principalId");
	else
		p = jx_str(res, "identity.principalId");
	if (plan_var_ok("principalId", p))
		json_object_object_add(r->vars, "principalId",
				       json_object_new_string(p));
}

/* Learns the principal the service uses (once the identity exists) from a
 * fresh read of the resource. */
static int learn_principal(struct run *r, struct az_error *e)
{
	struct json_object *res =
		read_arm(r, r->p->resource_id, r->p->svc->api_version, e);

	if (!res)
		return -1;
	principal_from(r, res);
	json_object_put(res);
	return 0;
}

/* Waits out role propagation with a visible countdown. */
static int wait_access(struct run *r, struct az_error *e)
{
	int64_t left = r->o->propagation_wait_s;

	while (left > 0) {
		struct timespec ts = { 1, 0 };

		if (left % 10 == 0 || left <= 5)
			say(r,
			    _("  waiting for Azure RBAC to apply the new "
			      "access: %lld s"),
			    (long long)left);
		nanosleep(&ts, NULL);
		if (az_http_canceled(az_session_http(r->s))) {
			az_error_set(e, _("the request was canceled"));
			return -1;
		}
		left--;
	}
	return 0;
}

/* Explains a refused save with the rule it stands for. */
static void refused(struct az_error *e)
{
	const char *rule;
	char *msg = e->message ? xstrdup(e->message) : xstrdup("?");

	rule = cmk_rule_for_error(e->code, e->inner, msg);
	if (rule && cmk_rule_find(rule))
		az_error_set(e, _("%s\n  This is rule %s: %s\n  Fix: %s"), msg,
			     rule, _(cmk_rule_find(rule)->explanation),
			     _(cmk_rule_find(rule)->fix));
	free(msg);
}

/*
 * Tells whether a refused save is one that waiting for a new grant to take
 * effect may cure, whether the service refused at once or in its
 * long-running operation: an error that stands for identity.key-access
 * (Key Vault's ForbiddenByRbac, ForbiddenByPolicy or AccessDenied relayed as
 * code, inner code or a word of the message, "If role assignments ... were
 * changed recently, please observe propagation time", azurerm #27817; and
 * Cognitive Services' KeyVaultAccessForbidden, "Please grant get, wrap and
 * unwrap key permissions", ansible azure.azcollection PR #1676), or
 * UserErrorCMKKeyVaultAuthFailure, the same refusal as another provider
 * words it (azurerm #27817). A firewall refusal is never waited out.
 */
static bool propagation_error(const struct az_error *e)
{
	const char *rule = cmk_rule_for_error(e->code, e->inner, e->message);

	if (rule)
		return strcmp(rule, "identity.key-access") == 0;
	return str_ieq(e->code, "UserErrorCMKKeyVaultAuthFailure");
}

/*
 * Saves the key, its body derived from a fresh read. A refusal that a grant
 * still propagating explains (at once, or from the operation) is tried again
 * every 10 s until the bounded wait (--access-wait, default 10 minutes) runs
 * out, with the time left on the progress line.
 */
static int save_key(struct run *r, size_t i, struct json_object *now,
		    struct az_error *e)
{
	int64_t deadline = (int64_t)time(NULL) +
			   (r->o->save_retry_s > 0   ? r->o->save_retry_s
			    : r->o->save_retry_s < 0 ? 0
						     : 600);
	bool whole = r->p->svc->shape->whole;

	for (;;) {
		/* Only a whole-resource PUT is built from the resource: read it
		 * right before; a PATCH needs no read. */
		struct json_object *res =
			whole ? read_state(r, STEP_SAVE_KEY, e)
			      : json_object_get(now);
		struct step_state st = { res, NULL, r->vars };
		struct step_request rq;
		struct az_req *q;
		int rc;

		if (whole && !res)
			return -1;
		plan_request(r->p, i, &st, &rq);
		q = send_req(r, i, &rq, false, res, e);
		rc = ok_answer(q) ? 0 : -1;
		az_req_free(q);
		step_request_free(&rq);
		json_object_put(res);
		if (rc == 0 || !propagation_error(e) ||
		    (int64_t)time(NULL) >= deadline) {
			if (rc != 0)
				refused(e);
			return rc;
		}
		say(r,
		    _("  access has not reached the service yet (%s); trying "
		      "again in 10 s, %lld s left"),
		    e->code, (long long)(deadline - (int64_t)time(NULL)));
		az_error_clear(e);
		if (nanosleep(&(struct timespec){ 10, 0 }, NULL) != 0 ||
		    az_http_canceled(az_session_http(r->s))) {
			az_error_set(e, _("the request was canceled"));
			return -1;
		}
	}
}

/*
 * Looks for a version of the key made by this plan (tagged with its mark,
 * created since its journal began). Returns 1 and learns its version when
 * found, 0 when there is none, -1 when the versions could not be read.
 */
static int find_made(struct run *r, struct az_error *e)
{
	char *url = key_ref_url(&r->p->keyref, "/versions"),
	     *mark = plan_mark(r->p);
	struct json_object *items = NULL;
	int rc =
		az_session_list(r->s, AZ_KEYVAULT, url, PLAN_KV_API, &items, e);

	if (rc != 0 && e->status == 404) {
		az_error_clear(e);
		rc = 0;
	}
	for (size_t k = 0; rc == 0 && k < jx_len(items); k++) {
		struct json_object *it = jx_at(items, k);
		const char *ver =
			key_ref_version_in(&r->p->keyref, jx_str(it, "kid"));

		if (str_ieq(jx_str(it, "tags." PLAN_TAG), mark) &&
		    jx_int(it, "attributes.created", 0) >= r->begun - 5 &&
		    ver && plan_var_ok("keyVersion", ver)) {
			json_object_object_add(r->vars, "keyVersion",
					       json_object_new_string(ver));
			rc = 1;
		}
	}
	json_object_put(items);
	free(url);
	free(mark);
	return rc;
}

/*
 * Creates the key, at most once: before every attempt it looks for a version
 * this plan already made (a lost answer, a crash, a resumed run) and takes it;
 * the create itself is never retried blindly.
 */
static int create_key(struct run *r, size_t i, struct az_error *e)
{
	for (int attempt = 0; attempt < CREATE_TRIES; attempt++) {
		struct step_request rq;
		struct az_req *q;
		const char *kid, *ver;
		int found = find_made(r, e);
		bool settled, throttled;

		if (found < 0 && attempt == 0 && !r->tried[i]) {
			/* Nothing can have been made yet: a first try in a run
			 * that never started this step. */
			say(r, _("  (the key's versions cannot be read: %s)"),
			    e->message ? e->message : "?");
			az_error_clear(e);
			found = 0;
		} else if (found < 0) {
			char *why =
				e->message ? xstrdup(e->message) : xstrdup("?");

			az_error_set(
				e,
				_("cannot tell whether an earlier try already "
				  "made a version of key %s, because its "
				  "versions cannot be read (%s); nothing was "
				  "created. Grant the operator the right to "
				  "list the key's versions, or check them by "
				  "hand, then run apply --resume"),
				r->p->keyref.name, why);
			free(why);
		}
		if (found != 0) {
			if (found > 0)
				say(r,
				    _("  this plan already made version %s of "
				      "key %s; it is used, not made again"),
				    jx_str(r->vars, "keyVersion"),
				    r->p->keyref.name);
			return found > 0 ? 0 : -1;
		}
		plan_request(r->p, i, NULL, &rq);
		q = send_req(r, i, &rq, true, NULL, e);
		kid = ok_answer(q) ? jx_str(q->json, "key.kid") : NULL;
		ver = key_ref_version_in(&r->p->keyref, kid);
		if (plan_var_ok("keyVersion", ver))
			json_object_object_add(r->vars, "keyVersion",
					       json_object_new_string(ver));
		else if (kid)
			az_error_set(
				e,
				_("Key Vault answered the creation of key %s "
				  "with a key id azcmk does not accept"),
				r->p->keyref.name);
		/* A refusal (4xx but a timeout or throttling) is final; a lost
		 * answer is looked into before a retry. */
		settled = kid || (q->status >= 400 && q->status < 500 &&
				  q->status != 408 && q->status != 429);
		throttled = q->status == 429;
		az_req_free(q);
		step_request_free(&rq);
		if (settled)
			return jx_str(r->vars, "keyVersion") ? 0 : -1;
		if (attempt + 1 == CREATE_TRIES)
			break; /* the last try's error says why */
		say(r, throttled
			       ? _("  Key Vault still throttles the key "
				   "creation (429) after waiting as it asked; "
				   "looking for the version before trying "
				   "again")
			       : _("  the answer to the key creation was lost; "
				   "looking for the version before trying "
				   "again"));
		az_error_clear(e);
	}
	return -1;
}

/* Returns the version the plan saves: its own, the one a created key got, or
 * NULL (none named, or not learned yet). */
static const char *planned_version(const struct run *r)
{
	const char *ver = r->p->keyref.version;

	if (ver && strcmp(ver, "{{keyVersion}}") == 0)
		ver = plan_var_ok("keyVersion", jx_str(r->vars, "keyVersion"))
			      ? jx_str(r->vars, "keyVersion")
			      : NULL;
	return ver;
}

/* Returns the key the plan saves, with the version a created key got;
 * allocated. */
static char *planned_key(const struct run *r)
{
	return key_ref_versioned(&r->p->keyref, planned_version(r));
}

/* Tells whether the key the resource uses, as read, is the plan's: the same
 * vault, the same key and, when the plan's version is known, that version
 * (a key of the same name in another vault is another key). */
static bool uses_planned_key(const struct run *r, const struct cmk_ctx *c)
{
	struct key_ref want;
	const char *ver = planned_version(r);
	bool is;

	if (!key_ref_copy(&r->p->keyref, &want))
		return false;
	free(want.version);
	want.version = ver ? xstrdup(ver) : NULL;
	is = key_ref_is(&c->keyref, &want);
	key_ref_free(&want);
	return is;
}

/* Names the identity the plan chose for its fetches: its user-assigned one, or
 * "system" (never left to the default, which follows the key setting the
 * plan may be changing). */
static const char *apply_identity(const struct run *r)
{
	return r->p->uai_id ? r->p->uai_id : "system";
}

/* Returns the principal learned for the service's identity, or NULL. */
static const char *learned_principal(const struct run *r)
{
	const char *p = jx_str(r->vars, "principalId");

	return plan_var_ok("principalId", p) ? p : NULL;
}

/*
 * Reads what the proof of access before the save judges: the resource beside
 * the vault, the key and the assignments (one wave when the principal is
 * known; the resource as the caller has just read it otherwise).
 */
static int read_proof(struct run *r, struct json_object *now,
		      struct cmk_fetch *f, struct az_error *e)
{
	char *uri = planned_key(r);
	struct cmk_target t = { .resource = r->p->resource_id,
				.key_uri = uri,
				.identity = apply_identity(r),
				.confirmed = true,
				.vault_id = r->p->vault_id,
				.resource_read = now,
				.principal = learned_principal(r),
				.no_policy = true };
	int rc = cmk_fetch(r->s, &t, f, e);

	free(uri);
	return rc;
}

/*
 * Reads the save step's state: with its proof of access in one wave, kept for
 * prove_access, when the principal is known; the resource alone otherwise.
 */
static struct json_object *read_for_save(struct run *r, struct az_error *e)
{
	if (!learned_principal(r))
		return read_state(r, STEP_SAVE_KEY, e);
	r->proof = xcalloc(1, sizeof(*r->proof));
	if (read_proof(r, NULL, r->proof, e) != 0)
		return NULL;
	return json_object_get(r->proof->resource);
}

/* Forgets the save step's proof read. */
static void drop_proof(struct run *r)
{
	if (!r->proof)
		return;
	cmk_fetch_free(r->proof);
	free(r->proof);
	r->proof = NULL;
}

/*
 * Proves, right before the save, that the service's identity can use the key
 * (a role with the data actions, or an access policy): nothing is ever saved
 * that would point the resource at a key it cannot use.
 */
static int prove_access(struct run *r, struct json_object *now,
			struct az_error *e)
{
	struct cmk_fetch own = { 0 }, *f = r->proof ? r->proof : &own;
	int rc = r->proof ? 0 : read_proof(r, now, &own, e);

	if (rc == 0) {
		const char *principal = cmk_principal(&f->ctx);

		if (!principal ||
		    !cmk_principal_has_access(&f->ctx, principal, NULL)) {
			char *uri = planned_key(r);

			az_error_set(
				e,
				_("stopped before the save: the identity of %s "
				  "cannot use key %s yet, so nothing was "
				  "saved; grant it access (azcmk plan proposes "
				  "how), then run apply --resume"),
				r->p->resource_id, uri);
			free(uri);
			rc = -1;
		}
	}
	if (!r->proof)
		cmk_fetch_free(&own);
	return rc;
}

/*
 * Proves, right before the system-assigned identity is turned off, that the
 * service no longer needs it: the planned key is saved, the setting names the
 * user-assigned identity, and that identity can use the key. Otherwise the
 * service would lose its key, and the data with it.
 */
static int prove_user_identity(struct run *r, struct az_error *e)
{
	struct cmk_target t = { .resource = r->p->resource_id,
				.identity = apply_identity(r),
				.confirmed = true,
				.vault_id = r->p->vault_id };
	struct cmk_fetch f;
	const char *principal;
	int rc = cmk_fetch(r->s, &t, &f, e);

	if (rc != 0) {
		cmk_fetch_free(&f);
		return rc;
	}
	principal = cmk_principal(&f.ctx);
	if (!uses_planned_key(r, &f.ctx) ||
	    !cmk_setting_names_identity(&f.ctx) || !principal ||
	    !cmk_principal_has_access(&f.ctx, principal, NULL)) {
		az_error_set(e,
			     _("stopped before turning off the system-assigned "
			       "identity of %s: the resource does not use "
			       "key %s through user-assigned identity %s yet, "
			       "and without the system-assigned "
			       "identity it could lose its key; nothing was "
			       "changed by this step"),
			     r->p->resource_id, r->p->keyref.name,
			     r->p->uai_id ? r->p->uai_id : "?");
		rc = -1;
	}
	cmk_fetch_free(&f);
	return rc;
}

/*
 * Checks against Azure that the end state holds: the resource uses the
 * planned key and every prerequisite holds now. Says which part does not.
 */
static int verify(struct run *r, struct az_error *e)
{
	char *key = planned_key(r);
	/* On apply's word for the key and the principal: one wave, unless the
	 * read says otherwise. */
	struct cmk_target t = { .resource = r->p->resource_id,
				.identity = apply_identity(r),
				.vault_id = r->p->vault_id,
				.principal = learned_principal(r),
				.expect_key = key };
	struct cmk_fetch f;
	struct cmk_report rep;
	int rc = cmk_fetch(r->s, &t, &f, e);

	free(key);

	if (rc == 0) {
		cmk_check(&f.ctx, &rep);
		if (!uses_planned_key(r, &f.ctx)) {
			az_error_set(
				e,
				_("the end state does not hold: %s does not "
				  "use key %s (its key setting is not the one "
				  "planned; someone may have changed it back)"),
				r->p->resource_id, r->p->keyref.name);
			rc = -1;
		} else if (cmk_has_blocker(&rep)) {
			struct sbuf b = SBUF_INIT;

			for (size_t i = 0; i < rep.n; i++)
				if (rep.items[i].severity == SEV_BLOCKER)
					sb_printf(&b, "\n  - %s [%s]",
						  rep.items[i].message,
						  rep.items[i].rule->id);
			if (cmk_has_known_blocker(&rep))
				az_error_set(
					e,
					_("the key is saved, but the end state "
					  "does not hold: a prerequisite fails "
					  "now:%s"),
					sb_str(&b));
			else
				az_error_set(e,
					     _("the key is saved, but the end "
					       "state could not be verified: a "
					       "prerequisite "
					       "could not be judged:%s"),
					     sb_str(&b));
			sb_free(&b);
			rc = -1;
		}
		if (rc != 0)
			fail_code(e, "VerifyFailed");
		cmk_report_free(&rep);
	}
	cmk_fetch_free(&f);
	return rc;
}

/* Sends a step's request derived from the state just read, accepting an
 * existing role assignment as done. */
static int write_step(struct run *r, size_t i, struct json_object *now,
		      struct az_error *e)
{
	const struct plan_step *st = &r->p->steps[i];
	struct step_state ss = { NULL, NULL, r->vars };
	struct step_request rq;
	struct az_req *q;
	int rc;

	if (st->kind == STEP_ACCESS_POLICY || st->kind <= STEP_FIREWALL_BYPASS)
		ss.vault = now;
	if (st->kind == STEP_ENABLE_IDENTITY ||
	    st->kind == STEP_DISABLE_SYSTEM_IDENTITY)
		ss.resource = now;
	plan_request(r->p, i, &ss, &rq);
	if ((rq.url && strstr(rq.url, "{{")) ||
	    (rq.body && strstr(jx_text(rq.body), "{{"))) {
		az_error_set(e,
			     _("stopped before '%s': the service's identity "
			       "has no principal yet, so the request cannot "
			       "be made; run apply --resume once the identity "
			       "exists"),
			     st->id);
		step_request_free(&rq);
		return -1;
	}
	/* An access policy is added beside the others: the history shows the
	 * entry added, not the list replaced. */
	q = send_req(r, i, &rq, false,
		     st->kind == STEP_ACCESS_POLICY ? NULL : now, e);
	rc = ok_answer(q) ? 0 : -1;
	/* A role assignment made anew answers 201; an access policy is new when
	 * the vault did not list it. */
	if (rc == 0 && (((st->kind == STEP_ASSIGN_ROLE ||
			  st->kind == STEP_GRANT_OPERATOR) &&
			 q->status == 201) ||
			(st->kind == STEP_ACCESS_POLICY &&
			 !cmk_policy_allows(now, jx_str(r->vars, "principalId"),
					    CMK_SERVICE_KEY_PERMS))))
		r->regranted = true;
	if (rc != 0 && q->status == 409 && e->code &&
	    str_ieq(e->code, "RoleAssignmentExists")) {
		say(r, _("  the role assignment already exists"));
		az_error_clear(e);
		rc = 0;
	}
	az_req_free(q);
	step_request_free(&rq);
	if (rc == 0 && st->kind == STEP_ENABLE_IDENTITY)
		rc = learn_principal(r, e);
	return rc;
}

/*
 * Tells whether a step the journal records as done may be passed over: one
 * with no state to look at. A grant is made again (it is idempotent: a grant
 * removed since is restored), and its wait then runs again; the
 * verification always runs.
 */
static bool skip_done(const struct run *r, const struct plan_step *st)
{
	switch (st->kind) {
	case STEP_VERIFY:
	case STEP_ASSIGN_ROLE:
	case STEP_ACCESS_POLICY:
		return false;
	case STEP_WAIT_ACCESS:
		return !r->regranted;
	default:
		return !st->expect_path;
	}
}

/* Refuses to grant Key Vault Crypto Officer to the operator who made the plan
 * when someone else applies it: 0 when you are that operator. */
static int grant_is_yours(struct run *r, struct az_error *e)
{
	const char *you = jx_str(r->claims, "oid");

	if (you && str_ieq(you, r->p->operator_id))
		return 0;
	az_error_set(e,
		     _("this plan grants Key Vault Crypto Officer on vault %s "
		       "to %s, who made it, but you are signed in as %s: "
		       "apply it signed in as %s, or make a new plan"),
		     r->p->keyref.vault, r->p->operator_id, you ? you : "?",
		     r->p->operator_id);
	fail_code(e, "PlanOperatorMismatch");
	return -1;
}

/* Grants you Key Vault Crypto Officer on the vault the plan created and, when
 * the grant is new (201, not a fleet's earlier one again), waits for it. */
static int grant_operator(struct run *r, size_t i, struct json_object *now,
			  struct az_error *e)
{
	bool before = r->regranted, fresh;

	if (grant_is_yours(r, e) != 0)
		return -1;
	r->regranted = false;
	if (write_step(r, i, now, e) != 0)
		return -1;
	fresh = r->regranted;
	r->regranted |= before;
	return fresh ? wait_access(r, e) : 0;
}

/* Carries out one step whose guard has passed. */
static int do_step(struct run *r, size_t i, struct json_object *now,
		   struct az_error *e)
{
	switch (r->p->steps[i].kind) {
	case STEP_WAIT_ACCESS:
		return wait_access(r, e);
	case STEP_SAVE_KEY:
		return prove_access(r, now, e) == 0 ? save_key(r, i, now, e)
						    : -1;
	case STEP_CREATE_KEY:
		return create_key(r, i, e);
	case STEP_VERIFY:
		return verify(r, e);
	case STEP_DISABLE_SYSTEM_IDENTITY:
		if (prove_user_identity(r, e) != 0)
			return -1;
		return write_step(r, i, now, e);
	case STEP_GRANT_OPERATOR:
		return grant_operator(r, i, now, e);
	default:
		return write_step(r, i, now, e);
	}
}

/* Tells whether a provisioning state is one a resource rests in (or it has
 * none). */
static bool at_rest(const char *state)
{
	return !state || str_ieq(state, "Succeeded") ||
	       str_ieq(state, "Failed") || str_ieq(state, "Canceled");
}

/*
 * Waits, on a resumed run, for the operation the interrupted run recorded for
 * this step, or else while the resource is still busy (bounded, with progress).
 */
static int settle(struct run *r, size_t i, struct az_error *e)
{
	int64_t deadline = (int64_t)time(NULL) +
			   (r->o->save_retry_s ? r->o->save_retry_s : 600);
	struct az_req *fin = NULL;

	if (r->op_url && r->op_step == i) {
		say(r, _("  waiting for the operation the interrupted run "
			 "started"));
		if (az_session_wait_op(r->s, r->op_url, r->op_async, &fin, e) !=
		    0) {
			say(r,
			    _("  that operation did not succeed (%s); the step "
			      "is checked again"),
			    e->message ? e->message : "?");
			az_error_clear(e);
		}
		az_req_free(fin);
	}
	for (;;) {
		struct json_object *res = read_arm(r, r->p->resource_id,
						   r->p->svc->api_version, e);
		const char *state = jx_str(res, "properties.provisioningState");
		bool rest = at_rest(state);
		char *shown = rest ? NULL : text_sanitize(state, false);

		json_object_put(res);
		if (!res)
			return -1;
		if (rest)
			return 0;
		if ((int64_t)time(NULL) >= deadline ||
		    az_http_canceled(az_session_http(r->s))) {
			az_error_set(e,
				     _("%s is still busy (provisioning state "
				       "'%s'); run apply --resume again later"),
				     r->p->resource_id, shown);
			free(shown);
			return -1;
		}
		say(r,
		    _("  %s is busy (%s); waiting for it to finish (%lld s "
		      "left)"),
		    r->p->resource_id, shown,
		    (long long)(deadline - (int64_t)time(NULL)));
		free(shown);
		nanosleep(&(struct timespec){ 5, 0 }, NULL);
	}
}

/*
 * Runs one step: a step the journal records as done is skipped only when it
 * has no state to look at; otherwise the live state decides (a change undone
 * since is made again). The verification always runs.
 */
static int run_step(struct run *r, size_t i, struct az_error *e)
{
	const struct plan_step *st = &r->p->steps[i];
	char *title = title_of(st);
	struct json_object *now = NULL;
	struct step_request rq;
	int g = 0;

	if (r->done[i] && skip_done(r, st)) {
		say(r, _("%2zu. %s: already done"), i + 1, title);
		free(title);
		return 0;
	}
	say(r, _("%2zu. %s"), i + 1, title);
	free(title);
	journal(r, (long)i, "start", NULL, NULL);
	if (r->resuming && st->read_url &&
	    strcmp(st->read_url, r->p->resource_id) == 0 &&
	    settle(r, i, e) != 0)
		g = -1;
	if (g == 0 &&
	    !(now = st->kind == STEP_SAVE_KEY ? read_for_save(r, e)
					      : read_state(r, st->kind, e)))
		g = -1;
	if (g == 0) {
		struct step_state ss = { now, now, r->vars };

		plan_request(r->p, i, &ss, &rq);
		g = guard(r, st, now, &rq, e);
		step_request_free(&rq);
	}
	if (g == 1) {
		say(r, r->done[i] ? _("  already done, and still in place")
				  : _("  already in place"));
		if (st->kind == STEP_ENABLE_IDENTITY &&
		    learn_principal(r, e) != 0)
			g = -1;
	} else if (g == 0) {
		if (r->done[i] && (st->kind == STEP_ASSIGN_ROLE ||
				   st->kind == STEP_ACCESS_POLICY))
			say(r,
			    _("  done before; made again, in case it was "
			      "removed since (it changes nothing otherwise)"));
		else if (r->done[i] && st->kind == STEP_WAIT_ACCESS)
			say(r, _("  a grant was made again, so its wait runs "
				 "again"));
		else if (r->done[i])
			say(r, _("  the journal says this was done, but Azure "
				 "shows it undone now: doing it again"));
		g = do_step(r, i, now, e) == 0 ? 0 : -1;
	}
	json_object_put(now);
	drop_proof(r);
	if (g < 0) {
		journal(r, (long)i, "failed", "requestId", e->request_id);
		return -1;
	}
#ifdef AZCMK_TEST_HOOKS
	if (r->crash_after == (int)i + 1)
		_exit(99);
#endif
	journal(r, (long)i, "done", NULL, NULL);
	r->done[i] = true;
	return 0;
}

/*
 * Holds a plan that creates its vault to what this apply can stand behind,
 * before anything is written: the vault's tenant is the one signed in to,
 * its region the resource's, and the Key Vault Crypto Officer grant (when
 * not done yet) is for you. A plan file is untrusted: these are typed
 * fields a reseal could change. 0 when they hold.
 */
static int new_vault_mismatch(struct run *r, const struct cmk_ctx *c,
			      struct az_error *e)
{
	const char *tenant = az_session_tenant(r->s);

	if (!tenant || !str_ieq(tenant, r->p->vault_tenant))
		az_error_set(e,
			     _("the plan creates key vault %s for tenant %s, "
			       "but you are signed in to %s: make a new plan"),
			     r->p->keyref.vault, r->p->vault_tenant,
			     tenant ? tenant : "?");
	else if (!location_eq(r->p->vault_location,
			      jx_str(c->resource, "location")))
		az_error_set(
			e,
			_("the plan creates key vault %s in %s, not in the "
			  "region of %s: make a new plan"),
			r->p->keyref.vault, r->p->vault_location,
			r->p->resource_id);
	else if (r->p->operator_id && !r->done[1]) {
		/* The preflight's reads took a token: who it names is known. */
		if (!r->claims)
			r->claims = az_session_claims(r->s);
		return grant_is_yours(r, e);
	} else
		return 0;
	fail_code(e, "PreflightFailed");
	return -1;
}

/*
 * Judges, before the first write, the permissions the steps still to do need
 * from the signed-in operator (read live): a plan that would stop half-way
 * on a 403 is refused before it changes anything.
 */
static int preflight(struct run *r, struct az_error *e)
{
	char *key = key_ref_versioned(&r->p->keyref, NULL);
	struct json_object *planned =
		r->p->vault_location
			? plan_vault_planned(
				  r->p->vault_id, r->p->keyref.vault_uri,
				  r->p->vault_location, r->p->vault_tenant)
			: NULL;
	struct cmk_target t = { .resource = r->p->resource_id,
				.key_uri = key,
				.identity = apply_identity(r),
				.confirmed = true,
				.planned_vault = planned,
				.vault_id = r->p->vault_id,
				/* Your permissions are judged here, not
				 * Azure Policy nor the identity's access: one
				 * wave. */
				.no_policy = true,
				.no_access = true };
	struct cmk_fetch f;
	char *err = NULL, *open = NULL;
	int rc = cmk_fetch(r->s, &t, &f, e);

	/* The read names the service's principal, if it has one yet: no
	 * second read for it. */
	if (rc == 0 && !jx_str(r->vars, "principalId"))
		principal_from(r, f.resource);
	if (rc == 0 && r->p->vault_location &&
	    new_vault_mismatch(r, &f.ctx, e) != 0) {
		rc = -1;
	} else if (rc == 0 &&
		   !plan_preflight(r->p, &f.ctx, r->done, &err, &open)) {
		az_error_set(e, "%s", err);
		fail_code(e, "PreflightFailed");
		rc = -1;
	} else if (rc == 0 && open) {
		say(r,
		    _("  (your permission for these steps could not be judged "
		      "beforehand: %s)"),
		    open);
	}
	free(err);
	free(open);
	free(key);
	json_object_put(planned);
	cmk_fetch_free(&f);
	return rc;
}

/* Tells whether the caller asked the apply to stop before step i (a fleet's
 * Ctrl-C), with a resumable error. */
static bool stopped(const struct run *r, size_t i, struct az_error *e)
{
	if (!r->o->stop || !*r->o->stop || r->done[i])
		return false;
	az_error_set(e, _("stopped on request before step %zu"), i + 1);
	fail_code(e, "Stopped");
	return true;
}

/*
 * Applies a plan step by step under its lock, journalling each start,
 * operation and result. Before each write it re-reads what it changes and
 * stops if someone else changed it; it always ends by verifying against Azure.
 */
int cmk_apply(struct az_session *s, const struct plan *p,
	      const struct apply_opts *o, struct az_error *e)
{
	struct run r = { .s = s,
			 .p = p,
			 .o = o,
			 .lock_fd = -1,
			 .vars = json_object_new_object() };
	char *err = NULL;
	int rc = 0;

	r.path = cmk_journal_path(o, p->id);
	r.done = xcalloc(p->n ? p->n : 1, sizeof(*r.done));
	r.tried = xcalloc(p->n ? p->n : 1, sizeof(*r.tried));
#ifdef AZCMK_TEST_HOOKS
	r.crash_after = getenv("AZCMK_TEST_CRASH_AFTER")
				? (int)strtol(getenv("AZCMK_TEST_CRASH_AFTER"),
					      NULL, 10)
				: 0;
#endif
	if (!plan_check(p, &err)) {
		az_error_set(e, _("azcmk does not apply this plan: %s"), err);
		fail_code(e, "PlanInvalid");
		rc = -1;
	} else if (!cmk_private_dir(r.path, &err) || !history_ready(&err)) {
		az_error_set(e, "%s", err);
		fail_code(e, "StateUnsafe");
		rc = -1;
	}
	if (rc == 0)
		rc = lock_plan(&r, e) == 0 && open_journal(&r, e) == 0 ? 0 : -1;
	if (rc == 0)
		rc = preflight(&r, e);
	/* Who is signed in is known once a token was taken (preflight may
	 * have asked already). */
	if (!r.claims)
		r.claims = az_session_claims(s);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		rc = stopped(&r, i, e) ? -1 : run_step(&r, i, e);
	if (r.journal)
		fclose(r.journal);
	if (r.lock_fd >= 0)
		close(r.lock_fd);
	free(err);
	free(r.path);
	free(r.done);
	free(r.tried);
	free(r.op_url);
	json_object_put(r.vars);
	json_object_put(r.claims);
	return rc;
}
