/* Applying a plan through the session: journalled, guarded against concurrent change, resumable. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "fetch.h"
#include "i18n.h"
#include "jx.h"
#include "rules.h"
#include "sbuf.h"
#include "text.h"
#include "uuid.h"
#include "wire.h"
#include "xalloc.h"

/* The state of one run: the journal, what earlier steps learned, and what is done. */
struct run {
	struct az_session *s;
	const struct plan *p;
	const struct apply_opts *o;
	FILE *journal;
	struct json_object *vars;         /* principalId, keyVersion, assignmentName */
	struct json_object *done;         /* step index -> true */
	int64_t started;                  /* when the step being resumed was started, or 0 */
	int crash_after;                  /* test hook: exit after this step's write (AZCMK_TEST_CRASH_AFTER) */
};

/* Reports one line of progress. */
static void say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

/* Returns the journal file of a plan. */
char *cmk_journal_path(const struct apply_opts *o, const char *plan_id)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (o->journal_dir)
		return xasprintf("%s/%s.journal", o->journal_dir, plan_id);
	if (xdg && *xdg)
		return xasprintf("%s/azcmk/%s.journal", xdg, plan_id);
	return xasprintf("%s/.local/state/azcmk/%s.journal", home ? home : ".", plan_id);
}

/* Returns the path of a file in azcmk's state directory ($XDG_STATE_HOME/azcmk, else ~/.local/state/azcmk). */
char *cmk_state_path(const char *name)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (xdg && *xdg)
		return xasprintf("%s/azcmk/%s", xdg, name);
	return xasprintf("%s/.local/state/azcmk/%s", home ? home : ".", name);
}

/*
 * Keeps a plan beside its journal, as $XDG_STATE_HOME/azcmk/ID.plan.json
 * (mode 0600 from the start: plans name resources), for apply and --resume;
 * returns its path, or NULL with *err saying why.
 */
char *cmk_keep_plan(const struct plan *p, char **err)
{
	char *name = xasprintf("%s.plan.json", p->id), *path = cmk_state_path(name);
	struct json_object *j = plan_to_json(p);
	const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text), done = 0;
	int fd;

	cmk_make_dirs(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	while (fd >= 0 && done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (fd < 0 || done < len || fchmod(fd, 0600) != 0) {
		*err = xasprintf(_("cannot keep the plan in '%s': %s"), path, strerror(errno));
		free(path);
		path = NULL;
	}
	if (fd >= 0)
		close(fd);
	json_object_put(j);
	free(name);
	return path;
}

/* Creates the directories above a file (mode 0700: journals name resources). */
void cmk_make_dirs(const char *file)
{
	char *d = xstrdup(file);

	for (char *p = d + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(d, 0700);
			*p = '/';
		}
	free(d);
}

/* Appends one entry to the journal and flushes it to disk. */
static void journal(struct run *r, size_t step, const char *event, const char *request_id)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "step", json_object_new_int64((int64_t)step));
	json_object_object_add(e, "id", json_object_new_string(r->p->steps[step].id));
	json_object_object_add(e, "event", json_object_new_string(event));
	json_object_object_add(e, "time", json_object_new_int64((int64_t)time(NULL)));
	if (request_id)
		json_object_object_add(e, "requestId", json_object_new_string(request_id));
	json_object_object_add(e, "vars", jx_copy(r->vars));
	fprintf(r->journal, "%s\n", jx_text(e));
	fflush(r->journal);
	fsync(fileno(r->journal));
	json_object_put(e);
}

/* Reads an existing journal: which steps are done, the variables learned, when the last start was. */
static void replay(struct run *r, FILE *f)
{
	char line[65536];

	while (fgets(line, sizeof(line), f)) {
		char *err = NULL;
		struct json_object *e = jx_parse(line, strlen(line), &err);
		char key[32];

		free(err);
		if (!e)
			continue;
		snprintf(key, sizeof(key), "%lld", (long long)jx_int(e, "step", -1));
		if (jx_get(e, "vars"))
			jx_merge_patch(r->vars, jx_get(e, "vars"));
		if (str_ieq(jx_str(e, "event"), "done"))
			json_object_object_add(r->done, key, json_object_new_boolean(1));
		if (str_ieq(jx_str(e, "event"), "start"))
			r->started = jx_int(e, "time", 0);
		json_object_put(e);
	}
}

/* Tells whether a replayed journal records every step of the plan as done. */
static bool journal_finished(struct run *r)
{
	return r->p->n > 0 && (size_t)json_object_object_length(r->done) >= r->p->n;
}

/*
 * Opens the plan's journal: a new one, or the existing one to resume. A plan
 * that finished may run again (the old journal is kept as PATH.1); one that
 * stopped half-way must be resumed.
 */
static int open_journal(struct run *r, struct az_error *e)
{
	char *path = cmk_journal_path(r->o, r->p->id);
	FILE *old = fopen(path, "r");
	int rc = 0;

	if (old && !r->o->resume) {
		replay(r, old);
		fclose(old);
		old = NULL;
		if (journal_finished(r)) {
			char *kept = xasprintf("%s.1", path);

			json_object_put(r->done);
			json_object_put(r->vars);
			r->done = json_object_new_object();
			r->vars = json_object_new_object();
			r->started = 0;
			if (rename(path, kept) != 0)
				az_error_set(e, _("cannot set the finished journal %s aside: %s"), path, strerror(errno));
			free(kept);
			rc = e->message ? -1 : 0;
		} else {
			old = fopen(path, "r");
		}
	}
	if (rc == 0 && old && !r->o->resume) {
		az_error_set(e, _("plan %s was already started (journal %s): use --resume to continue it"), r->p->id, path);
		rc = -1;
	} else if (!old && r->o->resume) {
		az_error_set(e, _("nothing to resume: plan %s has no journal at %s"), r->p->id, path);
		rc = -1;
	}
	if (old && rc == 0 && r->o->resume)
		replay(r, old);
	if (old)
		fclose(old);
	if (rc == 0) {
		cmk_make_dirs(path);
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		r->journal = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (fd >= 0 && !r->journal)
			close(fd);
		if (!r->journal) {
			az_error_set(e, _("cannot write the journal %s: %s"), path, strerror(errno));
			rc = -1;
		}
	}
	free(path);
	return rc;
}

/* Tells whether a step is already done according to the journal. */
static bool is_done(struct run *r, size_t i)
{
	char key[32];

	snprintf(key, sizeof(key), "%zu", i);
	return json_object_object_get_ex(r->done, key, NULL);
}

/* Sends one request (placeholders filled) and waits for its long-running operation; returns the final answer. */
static struct az_req *send_step(struct run *r, const struct plan_step *st, struct json_object *body, struct az_error *e)
{
	char *url = plan_fill(st->url, r->vars), *text = body ? plan_fill(jx_text(body), r->vars) : NULL;
	struct az_req *q = az_session_req(r->s, st->target == TARGET_KEYVAULT ? AZ_KEYVAULT : AZ_ARM, st->method, url,
					  st->api_version, text), *fin = NULL;

	if (az_session_call(r->s, q, e) == 0 && (q->status == 201 || q->status == 202) &&
	    az_session_wait(r->s, q, &fin, e) != 0) {
		q->status = 0;
		free(e->request_id);
		e->request_id = xstrdup(q->client_request_id);
	}
	az_req_free(fin);
	free(url);
	free(text);
	return q;
}

/* Reads a resource (ARM) for the guard or for the identity; NULL with the error set. */
static struct json_object *read_arm(struct run *r, const char *url, const char *api, struct az_error *e)
{
	struct az_req *q = az_session_req(r->s, AZ_ARM, "GET", url, api, NULL);
	struct json_object *o = az_session_call(r->s, q, e) == 0 ? json_object_get(q->json) : NULL;

	az_req_free(q);
	return o;
}

/* Returns the value a step writes at its guarded path (what "already applied" looks like), or NULL. */
static struct json_object *desired(const struct plan_step *st)
{
	return st->expect_path ? jx_get(st->body, st->expect_path) : NULL;
}

/* Compares two JSON values by their text (NULL equals NULL). */
static bool same(struct json_object *a, struct json_object *b)
{
	return (!a && !b) || (a && b && strcmp(jx_text(a), jx_text(b)) == 0);
}

/* Tells whether every leaf of want is present in have with the same value (strings compare case-insensitively). */
static bool contains(struct json_object *have, struct json_object *want)
{
	if (!want)
		return true;
	if (!have || json_object_get_type(have) != json_object_get_type(want))
		return false;
	if (json_object_is_type(want, json_type_object)) {
		json_object_object_foreach(want, k, v) {
			if (!contains(json_object_object_get(have, k), v))
				return false;
		}
		return true;
	}
	if (json_object_is_type(want, json_type_string))
		return str_ieq(json_object_get_string(have), json_object_get_string(want));
	return same(have, want);
}

/*
 * Re-reads what a step is about to change. Returns 0 to write, 1 when the
 * change is already there (a resumed run), -1 when someone else changed it.
 */
static int guard(struct run *r, const struct plan_step *st, struct az_error *e)
{
	struct json_object *now, *cur, *wanted;
	char *want;
	int rc = 0;

	if (!st->read_url || !st->expect_path)
		return 0;
	if (!(now = read_arm(r, st->read_url, st->api_version, e)))
		return -1;
	cur = jx_get(now, st->expect_path);
	want = desired(st) ? plan_fill(jx_text(desired(st)), r->vars) : NULL;
	wanted = want ? json_tokener_parse(want) : NULL;
	free(want);
	if (wanted && contains(cur, wanted))
		rc = st->kind == STEP_SAVE_KEY && r->p->resave ? 0 : 1;
	else if (!same(cur, st->expect)) {
		char *was = st->expect ? text_sanitize(jx_text(st->expect), false) : xstrdup(_("(absent)"));
		char *is = cur ? text_sanitize(jx_text(cur), false) : xstrdup(_("(absent)"));

		az_error_set(e, _("stopped before '%s': %s changed since the plan was made: %s was %s, is now %s; make a new "
				  "plan"), st->title, st->read_url, st->expect_path, was, is);
		free(e->code);
		e->code = xstrdup("PlanOutdated");
		free(was);
		free(is);
		rc = -1;
	}
	json_object_put(wanted);
	json_object_put(now);
	return rc;
}

/* Learns the principal the service uses (after the identity exists) into the variables. */
static int learn_principal(struct run *r, struct az_error *e)
{
	struct json_object *res = read_arm(r, r->p->resource_id, r->p->svc->api_version, e);
	const char *p = NULL;

	if (!res)
		return -1;
	if (r->p->uai_id)
		p = jx_str(jx_iget(jx_get(res, "identity.userAssignedIdentities"), r->p->uai_id), "principalId");
	else
		p = jx_str(res, "identity.principalId");
	if (p)
		json_object_object_add(r->vars, "principalId", json_object_new_string(p));
	json_object_put(res);
	return 0;
}

/* Derives the deterministic role-assignment name from scope, principal and role. */
static void assignment_name(struct run *r, const struct plan_step *st)
{
	char *scope = plan_fill(st->url, r->vars), *cut = strstr(scope, "/providers/Microsoft.Authorization");
	const char *role = jx_str(st->body, "properties.roleDefinitionId");
	char *seed, name[UUID_STRLEN];

	if (cut)
		*cut = '\0';
	seed = xasprintf("%s|%s|%s", scope, jx_str(r->vars, "principalId"), role ? strrchr(role, '/') + 1 : "");
	uuid_from_name(seed, name);
	json_object_object_add(r->vars, "assignmentName", json_object_new_string(name));
	free(seed);
	free(scope);
}

/* Waits out role propagation with a visible countdown. */
static int wait_access(struct run *r, struct az_error *e)
{
	int64_t left = r->o->propagation_wait_s;

	while (left > 0) {
		struct timespec ts = { 1, 0 };

		if (left % 10 == 0 || left <= 5)
			say(r, _("  waiting for Azure RBAC to apply the new access: %lld s"), (long long)left);
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

	rule = cmk_rule_for_error(e->code, strstr(msg, "ForbiddenByFirewall") ? "ForbiddenByFirewall"
				  : strstr(msg, "ForbiddenByPolicy") ? "ForbiddenByPolicy" : strstr(msg, "ForbiddenByRbac")
				  ? "ForbiddenByRbac" : NULL, msg);
	if (rule && cmk_rule_find(rule))
		az_error_set(e, _("%s\n  This is rule %s: %s\n  Fix: %s"), msg, rule, _(cmk_rule_find(rule)->explanation),
			     _(cmk_rule_find(rule)->fix));
	free(msg);
}

/* Tells whether a refused save is one that waiting for role propagation may cure. */
static bool propagation_error(const struct az_error *e)
{
	return e->message && (strstr(e->message, "ForbiddenByRbac") || strstr(e->message, "ForbiddenByPolicy")) &&
	       e->code && str_ieq(e->code, "KeyVaultAccessForbidden");
}

/* Saves the key: the DICOM body is rebuilt from a fresh read; access errors are retried while RBAC propagates. */
static int save_key(struct run *r, const struct plan_step *st, struct az_error *e)
{
	int64_t deadline = (int64_t)time(NULL) + (r->o->save_retry_s ? r->o->save_retry_s : 600);
	struct json_object *body = json_object_get(st->body);

	for (;;) {
		struct az_req *q;
		int rc;

		if (r->p->svc->save == SAVE_PUT_WHOLE) {
			struct json_object *res = read_arm(r, r->p->resource_id, r->p->svc->api_version, e);
			char *ver = plan_fill(r->p->key_version, r->vars);

			if (!res) {
				json_object_put(body);
				return -1;
			}
			json_object_put(body);
			body = plan_save_body(r->p->svc, res, r->p->vault_uri, r->p->key_name, ver, r->p->uai_id, r->p->uai_client_id);
			free(ver);
			json_object_put(res);
		}
		q = send_step(r, st, body, e);
		rc = !q->curl_code && q->status >= 200 && q->status < 300 ? 0 : -1;
		az_req_free(q);
		if (rc == 0 || !propagation_error(e) || (int64_t)time(NULL) >= deadline) {
			if (rc != 0)
				refused(e);
			json_object_put(body);
			return rc;
		}
		say(r, _("  access has not reached the service yet; trying again in 10 s"));
		az_error_clear(e);
		if (nanosleep(&(struct timespec){ 10, 0 }, NULL) != 0 || az_http_canceled(az_session_http(r->s))) {
			json_object_put(body);
			az_error_set(e, _("the request was canceled"));
			return -1;
		}
	}
}

/* Creates the key; on a resumed run, a key made after the step started is taken instead of making another. */
static int create_key(struct run *r, const struct plan_step *st, struct az_error *e)
{
	char *url = xasprintf("%skeys/%s", r->p->vault_uri, r->p->key_name);
	struct az_req *q = az_session_req(r->s, AZ_KEYVAULT, "GET", url, "7.5", NULL);
	const char *kid;
	int rc = 0;

	if (r->started && az_session_send(r->s, &q, 1, e) == 0 && q->status == 200 &&
	    jx_int(q->json, "attributes.created", 0) >= r->started - 5) {
		kid = jx_str(q->json, "key.kid");
	} else {
		az_req_free(q);
		q = send_step(r, st, st->body, e);
		kid = q->status == 200 ? jx_str(q->json, "key.kid") : NULL;
		rc = kid ? 0 : -1;
	}
	if (kid && strrchr(kid, '/'))
		json_object_object_add(r->vars, "keyVersion", json_object_new_string(strrchr(kid, '/') + 1));
	az_req_free(q);
	free(url);
	return rc;
}

/*
 * Proves, right before the save, that the service's identity can use the key
 * (a role with the data actions, or an access policy): nothing is ever saved
 * that would point the resource at a key it cannot use.
 */
static int prove_access(struct run *r, struct az_error *e)
{
	char *ver = r->p->key_version ? plan_fill(r->p->key_version, r->vars) : NULL;
	char *uri = xasprintf("%s%skeys/%s%s%s", r->p->vault_uri, str_iends(r->p->vault_uri, "/") ? "" : "/",
			      r->p->key_name, ver ? "/" : "", ver ? ver : "");
	struct cmk_target t = { .resource = r->p->resource_id, .key_uri = uri, .identity = r->p->uai_id, .confirmed = true };
	struct cmk_fetch f;
	char *how = NULL;
	int rc = cmk_fetch(r->s, &t, &f, e);

	if (rc == 0) {
		const char *principal = cmk_principal(&f.ctx);

		if (!principal || !cmk_principal_has_access(&f.ctx, principal, &how)) {
			az_error_set(e, _("stopped before the save: the identity of %s cannot use key %s yet, so nothing was "
					  "saved; grant it access (azcmk plan proposes how), then run apply --resume"),
				     r->p->resource_id, uri);
			rc = -1;
		}
	}
	free(how);
	cmk_fetch_free(&f);
	free(uri);
	free(ver);
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
	struct cmk_target t = { .resource = r->p->resource_id, .identity = r->p->uai_id, .confirmed = true };
	struct cmk_fetch f;
	const char *principal;
	int rc = cmk_fetch(r->s, &t, &f, e);

	if (rc != 0) {
		cmk_fetch_free(&f);
		return rc;
	}
	principal = cmk_principal(&f.ctx);
	if (!f.key_name || !str_ieq(f.key_name, r->p->key_name) || !cmk_setting_names_identity(&f.ctx) || !principal ||
	    !cmk_principal_has_access(&f.ctx, principal, NULL)) {
		az_error_set(e, _("stopped before turning off the system-assigned identity of %s: the resource does not use "
				  "key %s through user-assigned identity %s yet, and without the system-assigned "
				  "identity it could lose its key; nothing was changed by this step"), r->p->resource_id,
			     r->p->key_name, r->p->uai_id ? r->p->uai_id : "?");
		rc = -1;
	}
	cmk_fetch_free(&f);
	return rc;
}

/* Checks the saved key is what the plan set, and that every prerequisite holds now. */
static int verify(struct run *r, struct az_error *e)
{
	struct cmk_target t = { .resource = r->p->resource_id, .identity = r->p->uai_id };
	struct cmk_fetch f;
	struct cmk_report rep;
	int rc = cmk_fetch(r->s, &t, &f, e);

	if (rc == 0) {
		cmk_check(&f.ctx, &rep);
		if (!f.key_name || !str_ieq(f.key_name, r->p->key_name)) {
			az_error_set(e, _("the save did not stick: %s does not use key %s"), r->p->resource_id, r->p->key_name);
			rc = -1;
		} else if (cmk_has_blocker(&rep)) {
			struct sbuf b = SBUF_INIT;

			for (size_t i = 0; i < rep.n; i++)
				if (rep.items[i].severity == SEV_BLOCKER)
					sb_printf(&b, "\n  - %s [%s]", rep.items[i].message, rep.items[i].rule->id);
			az_error_set(e, _("the key is saved, but a prerequisite fails now:%s"), sb_str(&b));
			sb_free(&b);
			rc = -1;
		}
		cmk_report_free(&rep);
	}
	cmk_fetch_free(&f);
	return rc;
}

/* Carries out one step (the guard has passed). */
static int do_step(struct run *r, size_t i, struct az_error *e)
{
	const struct plan_step *st = &r->p->steps[i];
	struct az_req *q;
	int rc;

	switch (st->kind) {
	case STEP_WAIT_ACCESS:
		return wait_access(r, e);
	case STEP_SAVE_KEY:
		return prove_access(r, e) == 0 ? save_key(r, st, e) : -1;
	case STEP_CREATE_KEY:
		return create_key(r, st, e);
	case STEP_VERIFY:
		return verify(r, e);
	case STEP_DISABLE_SYSTEM_IDENTITY:
		if (prove_user_identity(r, e) != 0)
			return -1;
		break;
	case STEP_ASSIGN_ROLE:
		assignment_name(r, st);
		break;
	default:
		break;
	}
	q = send_step(r, st, st->body, e);
	rc = !q->curl_code && q->status >= 200 && q->status < 300 ? 0 : -1;
	if (rc != 0 && q->status == 409 && e->code && str_ieq(e->code, "RoleAssignmentExists")) {
		say(r, _("  the role assignment already exists"));
		az_error_clear(e);
		rc = 0;
	}
	az_req_free(q);
	if (rc == 0 && st->kind == STEP_ENABLE_IDENTITY)
		rc = learn_principal(r, e);
	return rc;
}

/* Runs one step unless the journal says it is done: guard, write, journal. */
static int run_step(struct run *r, size_t i, struct az_error *e)
{
	const struct plan_step *st = &r->p->steps[i];
	int g;

	if (is_done(r, i)) {
		say(r, _("%2zu. %s: already done"), i + 1, st->title);
		return 0;
	}
	say(r, _("%2zu. %s"), i + 1, st->title);
	journal(r, i, "start", NULL);
	g = guard(r, st, e);
	if (g == 1) {
		say(r, _("  already in place"));
		if (st->kind == STEP_ENABLE_IDENTITY && learn_principal(r, e) != 0)
			return -1;
		if (st->kind == STEP_CREATE_KEY && create_key(r, st, e) != 0)
			return -1;
	} else if (g < 0 || do_step(r, i, e) != 0) {
		journal(r, i, "failed", e->request_id);
		return -1;
	}
	if (r->crash_after == (int)i + 1)
		_exit(99);
	journal(r, i, "done", NULL);
	r->started = 0;
	return 0;
}

/*
 * Applies a plan step by step, journalling each start and result. Before each
 * write it re-reads what it changes and stops if someone else changed it.
 */
int cmk_apply(struct az_session *s, const struct plan *p, const struct apply_opts *o, struct az_error *e)
{
	struct run r = { s, p, o, NULL, json_object_new_object(), json_object_new_object(), 0, 0 };
	const char *crash = getenv("AZCMK_TEST_CRASH_AFTER");
	int rc = open_journal(&r, e);

	r.crash_after = crash ? (int)strtol(crash, NULL, 10) : 0;
	if (rc == 0 && !jx_str(r.vars, "principalId"))
		rc = learn_principal(&r, e);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		rc = run_step(&r, i, e);
	if (r.journal)
		fclose(r.journal);
	json_object_put(r.vars);
	json_object_put(r.done);
	return rc;
}
