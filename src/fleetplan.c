/* Planning a fleet: one plan per resource of a set of audit findings, with
 * the vault and key each resource's plan uses (a ready vault, else one
 * --create-vault names), the rest skipped with their reasons; in worker
 * processes when there are several. fix --all and the wizard call it. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit.h"
#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "fleet.h"
#include "fleetplan.h"
#include "i18n.h"
#include "jx.h"
#include "pick.h"
#include "planflow.h"
#include "statedir.h"
#include "text.h"
#include "xalloc.h"

#define GROUP_API "2021-04-01" /* Microsoft.Resources resourceGroups */

/* A resource of the report the fleet is to protect, with the finding that
 * brought it in. */
struct wanted {
	char *id;
	const char *rule;       /* the finding's rule (the report's, static) */
	const char *ineligible; /* its resource.eligible finding's message (the
				   report's), or NULL */
	bool protect;           /* a resource.cmk finding: it lacks a CMK */
};

/* The fleet being planned, with what every resource's plan shares. */
struct build {
	const struct cmd_opts *o;
	struct az_session *s;
	struct json_object *stores; /* every key store the operator can see */
	struct json_object *keys;   /* "vault URI/key name" taken so far */
	char *vault_sub; /* --create-vault: the new vaults' subscription */
	struct fleet f;
	struct json_object *seen; /* for --format arm: per plan, the resource
				     and vault it was made from */
	bool quiet; /* nothing on the terminal (the wizard holds it) */
	char *err;  /* why planning stopped */
};

/* Gathers the given findings into one entry per resource (in their order),
 * leaving out those that name no resource; returns how many. */
static size_t gather(const struct audit_finding *const *items, size_t count,
		     struct wanted **out)
{
	struct wanted *w = xcalloc(count + 1, sizeof(*w));
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		const struct audit_finding *f = items[i];
		size_t k = 0;

		if (!f->name || !*f->name || !f->resource_id)
			continue;
		while (k < n && !str_ieq(w[k].id, f->resource_id))
			k++;
		if (k == n) {
			w[n].id = xstrdup(f->resource_id);
			w[n++].rule = f->rule;
		}
		if (str_ieq(f->rule, "resource.cmk")) {
			w[k].protect = true;
			w[k].rule = f->rule;
		} else if (str_ieq(f->rule, "resource.eligible")) {
			w[k].ineligible = f->message ? f->message : f->rule;
			w[k].rule = f->rule;
		}
	}
	*out = w;
	return n;
}

/* Returns a key name for a resource's new key not yet taken in that vault by
 * another resource of the fleet (pick_key_name, then -2, -3 ...). */
static char *fresh_key(struct build *b, struct json_object *resource,
		       const char *vault)
{
	char *base = pick_key_name(resource), *name = xstrdup(base), *slot;

	for (int n = 2;; n++) {
		slot = xasprintf("%s/%s", vault, name);
		if (!jx_array_has_istr(b->keys, slot) && plan_key_name_ok(name))
			break;
		free(slot);
		free(name);
		name = xasprintf("%.*s-%d", 120, base, n);
	}
	json_object_array_add(b->keys, json_object_new_string(slot));
	free(slot);
	free(base);
	return name;
}

/* Returns why a resource, as read now, is not one the fleet protects (a
 * blocker no plan fixes, a key already in use), or NULL. */
static char *not_protectable(const struct cmk_fetch *cur, const char **rule)
{
	struct cmk_report r;
	const struct cmk_finding *f;
	char *why = NULL;

	if (cur->ctx.keyref.name) {
		*rule = "resource.cmk";
		return xasprintf(
			_("it already uses a customer-managed key; fix "
			  "its other findings with '%s fix'"),
			cli_program());
	}
	cmk_check(&cur->ctx, &r);
	if ((f = cmk_unfixable(&r, "resource.")) != NULL) {
		*rule = f->rule->id;
		why = xasprintf(_("%s; a person must fix it first"),
				f->message ? f->message : f->rule->id);
	}
	cmk_report_free(&r);
	return why;
}

/* Returns the name --create-vault gives a new vault in a region: its
 * REGION=NAME, else a plain NAME, else NULL. */
static const char *new_vault_name(const struct cmd_opts *o, const char *region)
{
	const char *plain = NULL;

	for (size_t i = 0; i < o->nnew_vaults; i++) {
		const char *v = o->new_vaults[i], *eq = strchr(v, '=');

		char *named = eq ? xstrndup(v, (size_t)(eq - v)) : NULL;
		bool here = named && location_eq(named, region);

		free(named);
		if (!eq)
			plain = v;
		else if (here)
			return eq + 1;
	}
	return plain;
}

/* Returns a resource's region as ARM names regions ("West Europe" ->
 * "westeurope"). */
static char *region_of(struct json_object *resource)
{
	const char *loc = jx_str(resource, "location");
	char *r = xstrdup(loc ? loc : ""), *o = r;

	for (const char *c = r; *c; c++)
		if (*c != ' ')
			*o++ = (char)tolower((unsigned char)*c);
	*o = '\0';
	return r;
}

/* Returns the store among those the operator can see whose URI is uri, or
 * NULL. */
static struct json_object *store_at(struct json_object *stores, const char *uri)
{
	for (size_t i = 0; i < jx_len(stores); i++)
		if (str_ieq(pick_store_uri(jx_at(stores, i)), uri))
			return jx_at(stores, i);
	return NULL;
}

/*
 * For a resource no ready vault can serve: when --create-vault names a vault
 * for its region, plans that vault (o2's planned vault) and returns its URI,
 * clearing *why; else NULL, *why kept or replaced by the reason.
 */
static char *new_vault(struct build *b, const struct cmk_fetch *cur,
		       struct cmd_opts *o2, char **why)
{
	char *region = region_of(cur->resource), *uri = NULL;
	const char *name = new_vault_name(b->o, region);

	if (name && *region) {
		uri = xasprintf("https://%s%s/", name,
				az_session_key_suffixes(b->s).vault);
		if (store_at(b->stores, uri)) {
			free(*why);
			*why = xasprintf(
				_("no key vault in %s is ready for its key, "
				  "and the one --create-vault names, %s, "
				  "exists already: fix it, use it with --vault "
				  "%s, or name another"),
				region, name, name);
			free(uri);
			uri = NULL;
		} else {
			char *id = xasprintf(
				"/subscriptions/%s/resourceGroups/%s/"
				"providers/Microsoft.KeyVault/vaults/%s",
				b->vault_sub, b->o->vault_group, name);
			o2->planned_vault = plan_vault_planned(
				id, uri, region, az_session_tenant(b->s));
			free(id);
			free(*why);
			*why = NULL;
		}
	}
	free(region);
	return uri;
}

/* For --format arm, keeps what the plan just added was made from: the
 * resource and the vault as read (the template PUTs them whole). */
static void keep_seen(struct build *b, const struct cmk_fetch *f)
{
	struct json_object *one;

	if (b->o->format != FMT_ARM)
		return;
	one = json_object_new_object();
	if (!b->seen)
		b->seen = json_object_new_array();
	if (f->ctx.resource)
		json_object_object_add(one, "resource",
				       jx_copy(f->ctx.resource));
	if (f->ctx.vault)
		json_object_object_add(one, "vault", jx_copy(f->ctx.vault));
	json_object_array_add(b->seen, one);
}

/* Plans one resource with the key the options name, else a new key in the
 * best vault; adds the plan, or the resource as skipped with the reason. */
static void plan_one(struct build *b, const struct cmk_fetch *cur)
{
	const char *rid = jx_str(cur->resource, "id");
	struct cmd_opts o2 = *b->o;
	char *why = NULL, *vault = NULL, *key = NULL;
	struct cmk_fetch f = { 0 };
	struct plan p;
	char *region = NULL; /* where it needs a new vault */
	bool confirm = false;

	o2.plan_only = true;
	if (!b->o->key_uri && !(b->o->vault && b->o->key)) {
		vault = fix_new_key_vault(b->s, b->o, cur, b->stores, &why);
		if (!vault && b->o->nnew_vaults)
			vault = new_vault(b, cur, &o2, &why);
		if (!vault && !b->o->nvaults)
			region = region_of(cur->resource);
		key = vault ? fresh_key(b, cur->resource, vault) : NULL;
		o2.vault = vault;
		o2.create_key = key;
		o2.key = NULL;
	}
	if (!why && flow_plan(b->s, &o2, rid, &f, &p, &why) == EXIT_OK) {
		/* A plan whose steps the operator may not all take would stop
		 * half-way: a person must grant the permissions first. */
		if (plan_preflight(&p, &f.ctx, NULL, &why, NULL)) {
			fleet_add_plan(&b->f, &p);
			keep_seen(b, &f);
		} else
			plan_free(&p);
	} else if (why) {
		confirm = flow_needs_confirmation(&o2, &f);
	}
	if (why) {
		fleet_skip(&b->f, rid, "resource.cmk", why);
		fleet_skip_needs(&b->f, region, confirm);
	}
	free(region);
	cmk_fetch_free(&f);
	json_object_put(o2.planned_vault);
	free(why);
	free(vault);
	free(key);
}

/* Reads one wanted resource and plans it, or records why it is skipped. */
static void consider(struct build *b, const struct wanted *w)
{
	struct cmk_target t = { .resource = w->id };
	struct cmk_fetch cur = { 0 };
	struct az_error e = { 0 };
	const char *rule = w->ineligible ? "resource.eligible" : w->rule;
	char *why = NULL;

	if (w->ineligible)
		why = xasprintf(_("%s: no customer-managed key is possible "
				  "for it, so there is nothing to plan"),
				w->ineligible);
	else if (!w->protect)
		why = xasprintf(_("its findings are not a missing "
				  "customer-managed key: fix them one at a "
				  "time with '%s fix'"),
				cli_program());
	else if (cmk_fetch(b->s, &t, &cur, &e) != 0)
		why = xasprintf(_("cannot read it: %s"),
				e.message ? e.message : "?");
	else if ((why = not_protectable(&cur, &rule)) == NULL)
		plan_one(b, &cur);
	if (why)
		fleet_skip(&b->f, w->id, rule, why);
	free(why);
	cmk_fetch_free(&cur);
	az_error_clear(&e);
}

/* Says how far planning has come, on a terminal only (one line, redrawn). */
static void planning(const struct build *b, size_t i, size_t n)
{
	if (b->quiet || !isatty(2) || cli_verbosity() < CLI_NORMAL)
		return;
	if (i == n) {
		fputs("\r\033[K", stderr);
	} else {
		fputc('\r', stderr);
		fprintf(stderr, _("planning %zu of %zu resources..."), i + 1,
			n);
	}
	fflush(stderr);
}

static size_t share_of(const struct wanted *w, size_t k);

/* Adds to a worker's result for a skipped resource its rule and what it
 * needs to be planned. */
static void add_needs(struct json_object *one, const struct fleet_skip *s)
{
	json_object_object_add(one, "rule", json_object_new_string(s->rule));
	if (s->region)
		json_object_object_add(one, "region",
				       json_object_new_string(s->region));
	if (s->confirm)
		json_object_object_add(one, "confirm",
				       json_object_new_boolean(true));
}

/* In a planning worker: the parent's session, left alone. */
static struct az_session *volatile parents_session;

/* Plans the wanted resources of one worker's share (every k-th bucket of
 * names) one after another, in a worker process; records, per resource, its
 * index and its plan or why it is skipped, into the file at path. */
static int plan_share(struct build *b, const struct wanted *w, size_t n,
		      size_t k, size_t me, const char *path)
{
	struct json_object *items = json_object_new_array();
	char *err = NULL;
	bool ok;

	/* The parent's session shares its connections with this process:
	 * never touch it here (it is kept, unfreed, in parents_session); sign
	 * in again from the token cache. */
	parents_session = b->s;
	if (!(b->s = flow_session(b->o)))
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *one;
		size_t had = b->f.n;

		if (share_of(&w[i], k) != me)
			continue;
		consider(b, &w[i]);
		one = json_object_new_object();
		json_object_object_add(one, "i",
				       json_object_new_int64((int64_t)i));
		if (b->f.n > had)
			json_object_object_add(one, "plan",
					       plan_to_json(&b->f.plans[had]));
		else
			json_object_object_add(
				one, "skip",
				json_object_new_string(
					b->f.skipped[b->f.nskipped - 1]
						.reason));
		if (b->f.n <= had)
			add_needs(one, &b->f.skipped[b->f.nskipped - 1]);
		if (b->f.n > had && b->seen)
			json_object_object_add(
				one, "seen",
				jx_copy(jx_at(b->seen, jx_len(b->seen) - 1)));
		json_object_array_add(items, one);
	}
	ok = cmk_write_private(
		path,
		json_object_to_json_string_ext(
			items, JSON_C_TO_STRING_PLAIN |
				       JSON_C_TO_STRING_NOSLASHESCAPE),
		&err);
	if (!ok)
		cli_error("%s", err);
	free(err);
	json_object_put(items);
	az_session_free(b->s);
	return ok ? 0 : 1;
}

/* Says which worker's share a wanted resource is in: its name's bucket, so
 * that resources of one name (whose new keys could collide in a vault) are
 * planned by one worker. */
static size_t share_of(const struct wanted *w, size_t k)
{
	const char *name = strrchr(w->id, '/');
	size_t h = 5381;

	for (const char *c = name ? name + 1 : w->id; *c; c++)
		h = h * 33 + (unsigned char)(*c | 0x20);
	return h % k;
}

/* Reads one worker's results into their places (by index); false when its
 * file cannot be read. */
static bool read_share(const char *path, struct json_object **slot, size_t n)
{
	size_t len;
	char *err = NULL, *text = cli_read_file(path, &len, &err);
	struct json_object *items = text ? jx_parse(text, len, &err) : NULL;

	for (size_t i = 0; i < jx_len(items); i++) {
		int64_t at = jx_int(jx_at(items, i), "i", -1);

		if (at >= 0 && (size_t)at < n && !slot[at])
			slot[at] = jx_copy(jx_at(items, i));
	}
	free(err);
	free(text);
	json_object_put(items);
	return items != NULL;
}

/* Adds a plan a worker made to the fleet, with what it was made from (for
 * --format arm). */
static void add_gathered(struct build *b, struct plan *p,
			 struct json_object *seen)
{
	fleet_add_plan(&b->f, p);
	if (b->o->format != FMT_ARM)
		return;
	if (!b->seen)
		b->seen = json_object_new_array();
	json_object_array_add(b->seen,
			      seen ? jx_copy(seen) : json_object_new_object());
}

/* Adds the resources' results to the fleet in the report's order; a resource
 * whose result is missing or unreadable is skipped, saying so. */
static void gather_shares(struct build *b, const struct wanted *w,
			  struct json_object **slot, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct plan p;
		char *err = NULL;

		if (slot[i] && jx_get(slot[i], "plan") &&
		    plan_from_json(jx_get(slot[i], "plan"), &p, &err) == 0)
			add_gathered(b, &p, jx_get(slot[i], "seen"));
		else if (slot[i] && jx_str(slot[i], "skip")) {
			fleet_skip(&b->f, w[i].id, jx_str(slot[i], "rule"),
				   jx_str(slot[i], "skip"));
			fleet_skip_needs(&b->f, jx_str(slot[i], "region"),
					 jx_bool(slot[i], "confirm", false));
		} else
			fleet_skip(
				&b->f, w[i].id, w[i].rule,
				err ? err
				    : _("its planning worker did not finish: "
					"plan it again"));
		free(err);
		json_object_put(slot[i]);
	}
}

/* Starts k planning workers, each writing its share's results to DIR/N;
 * returns how many started. */
static size_t start_shares(struct build *b, const struct wanted *w, size_t n,
			   size_t k, const char *dir, pid_t *pid)
{
	size_t started = 0;

	fflush(stdout);
	fflush(stderr);
	for (size_t me = 0; me < k; me++) {
		char *path = xasprintf("%s/%zu.json", dir, me);

		if ((pid[me] = fork()) == 0) {
			if (!freopen("/dev/null", "r", stdin))
				clearerr(stdin);
			/* In the wizard, nothing may reach its screen. */
			if (b->quiet && (!freopen("/dev/null", "w", stdout) ||
					 !freopen("/dev/null", "w", stderr)))
				_exit(1);
			_exit(plan_share(b, w, n, k, me, path));
		}
		started += pid[me] > 0;
		free(path);
	}
	return started;
}

/*
 * Plans the wanted resources in k worker processes at once (about three
 * round trips each, so a fleet's planning is no longer one resource after
 * another), then gathers their results in the report's order.
 */
static int plan_parallel(struct build *b, const struct wanted *w, size_t n,
			 size_t k)
{
	char *tmpl = cmk_state_path("planning-XXXXXX"), *dir;
	pid_t *pid = xcalloc(k, sizeof(*pid));
	struct json_object **slot = xcalloc(n, sizeof(*slot));
	int rc = 0;

	cmk_make_dirs(tmpl);
	if (!(dir = mkdtemp(tmpl))) {
		b->err = xasprintf(
			_("cannot make a private directory for planning: %s"),
			strerror(errno));
		rc = -1;
	} else {
		start_shares(b, w, n, k, dir, pid);
		for (size_t me = 0; me < k; me++) {
			char *path = xasprintf("%s/%zu.json", dir, me);
			int status;

			while (pid[me] > 0 &&
			       waitpid(pid[me], &status, 0) < 0 &&
			       errno == EINTR)
				;
			read_share(path, slot, n);
			unlink(path);
			free(path);
		}
		rmdir(dir);
		gather_shares(b, w, slot, n);
	}
	if (rc == 0 && b->o->cancel && *b->o->cancel) {
		b->err = xstrdup(
			_("interrupted while planning; nothing was changed"));
		rc = -1;
	}
	free(slot);
	free(pid);
	free(tmpl);
	return rc;
}

/* Plans the wanted resources one after another in this process; -1 when
 * interrupted. */
static int plan_serial(struct build *b, const struct wanted *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		planning(b, i, n);
		consider(b, &w[i]);
		if (b->o->cancel && *b->o->cancel) {
			planning(b, n, n);
			b->err =
				xstrdup(_("interrupted while planning; nothing "
					  "was changed"));
			return -1;
		}
	}
	planning(b, n, n);
	return 0;
}

/* Returns why a --create-vault name could not be checked: Azure's answer to
 * the name check was an error or not one. */
static char *unanswered(const char *name, const struct az_req *q)
{
	char *said = text_sanitize(jx_str(q->json, "error.message"), false),
	     *answer = q->status ? xasprintf(_("HTTP %ld: %s"), q->status,
					     said && *said ? said : "?")
				 : xstrdup(_("no answer"));
	char *why = xasprintf(_("could not check whether key vault name %s "
				"is free (%s): try again, or name a vault "
				"that exists with --vault"),
			      name, answer);

	free(said);
	free(answer);
	return why;
}

/* Returns why a --create-vault name cannot be used, from Azure's answer to
 * the name check, or NULL. */
static char *name_taken(const struct build *b, const char *name,
			const struct az_req *q)
{
	char *uri, *said, *why;
	bool seen;

	/* An unanswered check is no answer: a plan is not built on a name
	 * nobody said was free. */
	if (q->status != 200 ||
	    !json_object_is_type(jx_get(q->json, "nameAvailable"),
				 json_type_boolean))
		return unanswered(name, q);
	if (jx_bool(q->json, "nameAvailable", true))
		return NULL;
	/* A vault you can see is judged per resource (fix it, or --vault). */
	uri = xasprintf("https://%s%s/", name,
			az_session_key_suffixes(b->s).vault);
	seen = store_at(b->stores, uri) != NULL;
	free(uri);
	if (seen)
		return NULL;
	said = text_sanitize(jx_str(q->json, "message")
				     ? jx_str(q->json, "message")
				     : jx_str(q->json, "reason"),
			     false);
	why = xasprintf(_("key vault name %s is taken in Azure (%s): name "
			  "another with --create-vault"),
			name, said && *said ? said : "?");
	free(said);
	return why;
}

/*
 * Before planning new vaults: checks that --vault-group exists in their
 * subscription and that Azure has each --create-vault name free (vault names
 * are global), in one wave; -1, with the reason in b->err, when one is not
 * or when Azure did not answer a name's check.
 */
static int new_vaults_usable(struct build *b)
{
	size_t n = b->o->nnew_vaults;
	struct az_req **q = xcalloc(n + 1, sizeof(*q));
	char *group = xasprintf("/subscriptions/%s/resourceGroups/%s",
				b->vault_sub, b->o->vault_group);
	char *check =
		xasprintf("/subscriptions/%s/providers/Microsoft.KeyVault/"
			  "checkNameAvailability",
			  b->vault_sub);
	struct az_error e = { 0 };
	int rc;

	q[0] = az_session_req(b->s, AZ_ARM, "GET", group, GROUP_API, NULL);
	for (size_t i = 0; i < n; i++) {
		const char *v = b->o->new_vaults[i], *eq = strchr(v, '=');
		struct json_object *body = json_object_new_object();

		jx_set(body, "name", json_object_new_string(eq ? eq + 1 : v));
		jx_set(body, "type",
		       json_object_new_string("Microsoft.KeyVault/vaults"));
		q[i + 1] = az_session_req(b->s, AZ_ARM, "POST", check,
					  PLAN_VAULT_API, jx_text(body));
		json_object_put(body);
	}
	az_session_send(b->s, q, n + 1, &e);
	az_error_clear(&e);
	if (q[0]->status == 404)
		b->err = xasprintf(
			_("resource group %s does not exist in subscription "
			  "%s, where --create-vault would put the new vaults: "
			  "create it (az group create), or name another with "
			  "--vault-group or --vault-subscription"),
			b->o->vault_group, b->vault_sub);
	else if (q[0]->status != 200)
		/* Only Azure's answer that the group is there lets a plan put
		 * vaults in it. */
		b->err = xasprintf(
			_("could not read resource group %s in subscription "
			  "%s, where --create-vault would put the new vaults "
			  "(%s): check that you may read it, or try again"),
			b->o->vault_group, b->vault_sub,
			q[0]->status ? _("Azure refused or failed the read")
				     : _("no answer"));
	for (size_t i = 0; i < n && !b->err; i++) {
		const char *v = b->o->new_vaults[i], *eq = strchr(v, '=');

		b->err = name_taken(b, eq ? eq + 1 : v, q[i + 1]);
	}
	rc = b->err ? -1 : 0;
	for (size_t i = 0; i <= n; i++)
		az_req_free(q[i]);
	free(q);
	free(group);
	free(check);
	return rc;
}

/* Lists the key stores the operator can see, then plans every wanted
 * resource, in worker processes when there are several; -1 on error. */
static int plan_all(struct build *b, const struct wanted *w, size_t n)
{
	struct az_error e = { 0 };
	size_t k = b->o->parallel > 0 ? (size_t)b->o->parallel
				      : FLEET_DEFAULT_PARALLEL;

	if (fix_key_stores(b->s, b->o, &b->stores, &e) != 0) {
		b->err = xasprintf(
			_("cannot list the key vaults you can see: %s"),
			e.message ? e.message : "?");
		az_error_clear(&e);
		return -1;
	}
	b->keys = json_object_new_array();
	/* The new vaults go in --vault-subscription, else the first
	 * resource's. */
	b->vault_sub = b->o->vault_sub ? xstrdup(b->o->vault_sub)
				       : fleet_subscription(w[0].id);
	if (b->o->nnew_vaults && new_vaults_usable(b) != 0)
		return -1;
	if (n >= 4 && k > 1) {
		if (!b->quiet && isatty(2) && cli_verbosity() >= CLI_NORMAL)
			fprintf(stderr,
				_("planning %zu resources, %zu at a "
				  "time...\n"),
				n, k < n ? k : n);
		if (plan_parallel(b, w, n, k < n ? k : n) != 0)
			return -1;
	} else if (plan_serial(b, w, n) != 0) {
		return -1;
	}
	fleet_one_region_per_new_vault(&b->f, b->seen);
	return 0;
}

/*
 * Plans the given findings into one fleet with the shared steps of fix --all
 * (a resource per finding's resource, the rest skipped with the reason);
 * 0, or -1 with why in *err (then out is empty). The caller keeps rq->s.
 */
int fleet_plan_findings(const struct fleet_request *rq,
			const struct audit_finding *const *items, size_t n,
			struct fleet *out, struct json_object **seen,
			char **err)
{
	struct build b = { .o = rq->o, .s = rq->s, .quiet = rq->quiet };
	struct wanted *w = NULL;
	size_t k = gather(items, n, &w);
	int rc = plan_all(&b, w, k);

	if (rc == 0) {
		*out = b.f;
		if (seen) {
			*seen = b.seen;
			b.seen = NULL;
		}
	} else {
		fleet_free(&b.f);
		memset(out, 0, sizeof(*out));
		*err = b.err ? b.err : xstrdup("?");
		b.err = NULL;
	}
	for (size_t i = 0; i < k; i++)
		free(w[i].id);
	free(w);
	free(b.err);
	free(b.vault_sub);
	json_object_put(b.seen);
	json_object_put(b.stores);
	json_object_put(b.keys);
	return rc;
}

/* Writes a fleet into the state directory (private), where apply --resume
 * finds it; returns its path, or NULL with why in *err. */
char *fleet_keep(struct fleet *f, char **err)
{
	struct json_object *j = fleet_to_json(f);
	const char *text = json_object_to_json_string_ext(
		j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *name = xasprintf("%.16s.fleet.json", f->id),
	     *path = cmk_state_path(name);

	if (!cmk_write_private(path, text, err)) {
		free(path);
		path = NULL;
	}
	free(name);
	json_object_put(j);
	return path;
}

/* Counts the resources the given findings name (a fleet holds FLEET_MAX). */
size_t fleet_count_resources(const struct audit_finding *const *items, size_t n)
{
	struct wanted *w = NULL;
	size_t k = gather(items, n, &w);

	for (size_t i = 0; i < k; i++)
		free(w[i].id);
	free(w);
	return k;
}
