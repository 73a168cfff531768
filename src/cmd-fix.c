/* azcmk fix: the remediation plan for an audit finding, with sensible defaults,
 * handed to apply. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "audit.h"
#include "cli.h"
#include "cmd.h"
#include "fetch.h"
#include "fleet.h"
#include "planflow.h"
#include "i18n.h"
#include "jx.h"
#include "keys.h"
#include "pick.h"
#include "plan.h"
#include "text.h"
#include "xalloc.h"

#define MAX_VAULTS 3 /* vaults searched for a compliant key */
#define MAX_KEYS 4   /* keys tried per vault */

/* Tells whether an argument is a finding id (6 to 16 hex digits) rather than a
 * resource. */
static bool is_finding_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 6 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Reads the audit report (--from, or the one the last audit kept) and finds the
 * finding; fills resource and rule. */
static int find_finding(const struct cmd_opts *o, const char *id,
			char **resource, const char **rule)
{
	char *path = o->from ? xstrdup(o->from)
			     : cmk_state_path("last-audit.json"),
	     *err = NULL, *text;
	struct json_object *j = NULL;
	struct audit_report a = { 0 };
	const struct audit_finding *f = NULL;
	size_t len;

	text = cli_read_file(path, &len, &err);
	if (text && (j = jx_parse(text, len, &err)) != NULL &&
	    audit_from_json(j, &a, &err) == 0 && !(f = audit_find(&a, id)))
		err = xasprintf(_("no finding '%s' in the report (or the "
				  "prefix names more than one)"),
				id);
	if (f) {
		const char *why, *what;

		*resource = xstrdup(f->resource_id);
		if (cmk_rule_find(f->rule))
			*rule = cmk_rule_find(f->rule)->id;
		else if (!audit_rule_text(f->rule, rule, &why, &what))
			*rule = NULL;
	} else {
		cli_error(_("cannot use the audit report '%s': %s; run '%s "
			    "audit' first, or give --from FILE or the "
			    "resource itself"),
			  path, err ? err : "?", cli_program());
	}
	audit_free(&a);
	json_object_put(j);
	free(text);
	free(err);
	free(path);
	return f ? 0 : -1;
}

/* Tells whether a change check of the resource with this key leaves nothing the
 * plan cannot fix, and no key warning. */
static bool key_fits(struct az_session *s, const struct cmd_opts *o,
		     const char *resource, const char *uri)
{
	struct cmk_target t = { .resource = resource,
				.key_uri = uri,
				.identity = o->identity,
				.subscriptions = o->subscriptions,
				.nsubs = o->nsubs,
				.confirmed = true };
	struct cmk_fetch f;
	struct cmk_report r;
	struct az_error e = { 0 };
	bool ok = false;

	if (cmk_fetch(s, &t, &f, &e) == 0) {
		f.ctx.change = true;
		cmk_check(&f.ctx, &r);
		ok = true;
		for (size_t i = 0; i < r.n; i++)
			if ((r.items[i].severity == SEV_BLOCKER &&
			     r.items[i].rule->fix_step == FIX_NONE) ||
			    (str_istarts(r.items[i].rule->id, "key.") &&
			     !str_ieq(r.items[i].rule->id, "key.versioned") &&
			     !str_ieq(r.items[i].rule->id,
				      "key.rotation-policy")))
				ok = false;
		cmk_report_free(&r);
	}
	cmk_fetch_free(&f);
	az_error_clear(&e);
	return ok;
}

/* Looks for an existing compliant key in a vault or Managed HSM; returns its
 * URI (allocated) or NULL. */
static char *key_in_vault(struct az_session *s, const struct cmd_opts *o,
			  const char *resource, struct json_object *vault)
{
	const char *vu = pick_store_uri(vault);
	char *found = NULL;
	struct json_object *keys = NULL;
	struct az_error e = { 0 };
	struct key_ref store = { 0 };

	/* The list alone says which keys are enabled and not a certificate's:
	 * only the few tried are read in detail. */
	if (vu && az_keys_ref(s, vu, NULL, &store, &e) &&
	    az_keys_list_brief(s, &store, &keys, &e) == 0) {
		size_t tried = 0;

		for (size_t i = 0;
		     !found && i < jx_len(keys) && tried < MAX_KEYS; i++) {
			const char *kid = jx_str(jx_at(keys, i), "kid");

			if (!kid ||
			    !jx_bool(jx_at(keys, i), "enabled", false) ||
			    jx_bool(jx_at(keys, i), "managed", false))
				continue;
			tried++;
			if (key_fits(s, o, resource, kid))
				found = xstrdup(kid);
		}
	}
	az_error_clear(&e);
	json_object_put(keys);
	key_ref_free(&store);
	return found;
}

/* The choice made for a resource on Microsoft-managed keys: an existing key, or
 * a new one in a vault. */
struct choice {
	char *key_uri; /* an existing compliant key, or NULL */
	char *vault;   /* else: the vault to create the key in */
	char *new_key;
	char *vault_sub; /* the subscription of the key's vault, or NULL */
};

/*
 * Returns the tenant the service's identity gets tokens in: the resource's
 * identity's, else the signed-in token's (never "organizations").
 */
static const char *identity_tenant(struct az_session *s,
				   struct json_object *resource)
{
	static char tid[64];
	struct json_object *claims;

	if (jx_str(resource, "identity.tenantId"))
		return jx_str(resource, "identity.tenantId");
	claims = az_session_claims(s);
	snprintf(tid, sizeof(tid), "%s",
		 jx_str(claims, "tid") ? jx_str(claims, "tid") : "");
	json_object_put(claims);
	return *tid ? tid : NULL;
}

/* Tells whether a vault is one the operator named with --vault. */
static bool named(const struct cmd_opts *o, struct json_object *vault)
{
	for (size_t k = 0; k < o->nvaults; k++)
		if (str_ieq(jx_str(vault, "name"), o->vaults[k]))
			return true;
	return false;
}

/* Keeps, of the vaults ranked ready, only those the operator named (--vault,
 * one per region with fix --all), in rank order; returns how many. */
static size_t only_named(const struct cmd_opts *o, struct json_object *vaults,
			 size_t *order, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++)
		if (named(o, jx_at(vaults, order[i])))
			order[kept++] = order[i];
	return kept;
}

/*
 * Lists the key stores a resource's key may live in: those of --subscription
 * when given, else of every subscription the operator can see (a central key
 * subscription is common); 0, or -1 with *e.
 */
int fix_key_stores(struct az_session *s, const struct cmd_opts *o,
		   struct json_object **stores, struct az_error *e)
{
	if (o->nsubs)
		return az_key_stores(s, o->subscriptions, o->nsubs, stores, e);
	return az_key_stores_visible(s, stores, e);
}

/*
 * Ranks the stores that can hold a resource's key (pick_vaults: same tenant,
 * the region where the service needs it, same subscription and group first),
 * keeping only --vault when it is given; returns how many are in order.
 */
static size_t rank(struct az_session *s, const struct cmd_opts *o,
		   const struct cmk_fetch *cur, struct json_object *stores,
		   size_t *order)
{
	size_t n = pick_vaults(cur->ctx.svc, cur->resource,
			       identity_tenant(s, cur->resource), stores, order,
			       jx_len(stores));

	return o->nvaults ? only_named(o, stores, order, n) : n;
}

/* Says why no store can hold a resource's new key (allocated). */
static char *no_store(const struct cmd_opts *o, const struct cmk_fetch *cur)
{
	const char *name = jx_str(cur->resource, "name");
	const char *where = cur->ctx.svc->same_region ? _(" and region") : "";

	if (o->nvaults > 1)
		return xasprintf(_("none of the vaults --vault names is ready "
				   "to hold the key of %s (same tenant%s, "
				   "reachable by the service, not a Managed "
				   "HSM): name one that is, or fix one first"),
				 name, where);
	if (o->vault)
		return xasprintf(_("vault %s is not ready to hold the key of "
				   "%s (same tenant%s, reachable by the "
				   "service, not a Managed HSM): choose "
				   "another with --vault, or fix it first"),
				 o->vault, name, where);
	return xasprintf(_("no key vault in the subscriptions you can see can "
			   "hold the key of %s (same tenant%s): create one, or "
			   "name a key with '%s plan %s --key URI'"),
			 name, where, cli_program(),
			 jx_str(cur->resource, "id"));
}

/*
 * Returns the vault a new key for the resource goes in: the best ranked key
 * vault (azcmk creates software-protected RSA keys, which a Managed HSM does
 * not hold), as its URI so that it is found in any subscription; NULL with
 * *why when there is none.
 */
char *fix_new_key_vault(struct az_session *s, const struct cmd_opts *o,
			const struct cmk_fetch *cur, struct json_object *stores,
			char **why)
{
	size_t *order = xcalloc(jx_len(stores) + 1, sizeof(*order));
	size_t n = rank(s, o, cur, stores, order);
	char *vault = NULL;

	for (size_t i = 0; !vault && i < n; i++)
		if (!pick_is_hsm(jx_at(stores, order[i])) &&
		    pick_store_uri(jx_at(stores, order[i])))
			vault = xstrdup(
				pick_store_uri(jx_at(stores, order[i])));
	if (!vault)
		*why = no_store(o, cur);
	free(order);
	return vault;
}

/* Returns the subscription of the store with this URI among the stores
 * (allocated), or NULL. */
static char *store_sub(struct json_object *stores, const char *uri)
{
	for (size_t i = 0; i < jx_len(stores); i++)
		if (str_ieq(pick_store_uri(jx_at(stores, i)), uri))
			return fleet_subscription(
				jx_str(jx_at(stores, i), "id"));
	return NULL;
}

/*
 * Chooses the key for a resource: a compliant key in the best vaults (only
 * in --vault when it is given), else a new key in the best vault; -2 on error.
 */
static int choose(struct az_session *s, const struct cmd_opts *o,
		  const struct cmk_fetch *cur, struct choice *c)
{
	const char *rid = jx_str(cur->resource, "id");
	struct json_object *vaults = NULL;
	struct az_error e = { 0 };
	size_t *order, n;
	char *why = NULL;

	memset(c, 0, sizeof(*c));
	if (fix_key_stores(s, o, &vaults, &e) != 0) {
		cli_error(_("cannot list the key vaults for %s: %s"),
			  jx_str(cur->resource, "name"), e.message);
		az_error_clear(&e);
		return -2;
	}
	/* Every usable vault is ranked, so --vault finds its own; only the best
	 * MAX_VAULTS are searched for a key. */
	order = xcalloc(jx_len(vaults) + 1, sizeof(*order));
	n = rank(s, o, cur, vaults, order);
	for (size_t i = 0; !c->key_uri && i < n && i < MAX_VAULTS; i++)
		if ((c->key_uri =
			     key_in_vault(s, o, rid, jx_at(vaults, order[i]))))
			c->vault_sub = fleet_subscription(
				jx_str(jx_at(vaults, order[i]), "id"));
	if (!c->key_uri) {
		c->vault = fix_new_key_vault(s, o, cur, vaults, &why);
		c->new_key = c->vault ? pick_key_name(cur->resource) : NULL;
		c->vault_sub = c->vault ? store_sub(vaults, c->vault) : NULL;
	}
	if (why)
		cli_error("%s", why);
	free(why);
	json_object_put(vaults);
	free(order);
	return c->key_uri || c->vault ? 0 : -1;
}

/* Frees a choice. */
static void choice_free(struct choice *c)
{
	free(c->key_uri);
	free(c->vault);
	free(c->new_key);
	free(c->vault_sub);
}

/* Says when the chosen key's vault is in another subscription than the
 * resource (found because fix looks in every subscription you can see). */
static void other_subscription(const struct choice *c, const char *rid)
{
	char *own = fleet_subscription(rid);

	if (c->vault_sub && *c->vault_sub && !str_ieq(c->vault_sub, own))
		printf(_("Note: that vault is in subscription %s, not in the "
			 "resource's own (%s); name another with --vault, or "
			 "look only in some subscriptions with "
			 "--subscription.\n"),
		       c->vault_sub, own);
	free(own);
}

/* Protects a resource with the key the operator named (--key, --vault,
 * --key-version, --create-key), as given. */
static int named_key(struct az_session *s, const struct cmd_opts *o,
		     const struct cmk_fetch *cur)
{
	struct cmk_fetch f;
	struct plan p;
	int rc;

	printf(_("Chosen: the key you named.\n"));
	rc = flow_build(s, o, jx_str(cur->resource, "id"), &f, &p);
	if (rc == EXIT_OK) {
		rc = flow_show_and_run(o, s, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	return rc;
}

/*
 * Protects a resource on Microsoft-managed keys: the key the operator named,
 * else a key chosen (in --vault when given), says why, builds the plan and runs
 * it.
 */
static int protect(struct az_session *s, const struct cmd_opts *o,
		   const struct cmk_fetch *cur)
{
	struct cmd_opts o2 = *o;
	struct choice c;
	struct cmk_fetch f;
	struct plan p;
	int rc;

	if (o->key_uri || (o->vault && o->key) || o->create_key)
		return named_key(s, o, cur);
	o2.key_uri = o2.key = o2.vault = o2.version = o2.create_key = NULL;
	if ((rc = choose(s, o, cur, &c)) != 0)
		return rc == -2 ? EXIT_ERROR : EXIT_FINDINGS;
	if (c.key_uri) {
		char *clean = text_sanitize(c.key_uri, false);

		printf(_("Chosen: the existing key %s, which meets every "
			 "prerequisite the plan cannot fix itself.\n"),
		       clean);
		free(clean);
		o2.key_uri = c.key_uri;
	} else {
		printf(_("Chosen: a new RSA key %s in vault %s, the best vault "
			 "found (no existing key in the vaults searched "
			 "fits).\n"),
		       c.new_key, c.vault);
		o2.create_key = c.new_key;
		o2.vault = c.vault;
	}
	other_subscription(&c, jx_str(cur->resource, "id"));
	rc = flow_build(s, &o2, jx_str(cur->resource, "id"), &f, &p);
	if (rc == EXIT_OK) {
		rc = flow_show_and_run(&o2, s, &p, &f.ctx);
		plan_free(&p);
	}
	cmk_fetch_free(&f);
	choice_free(&c);
	return rc;
}

/* Says that azcmk cannot fix a finding itself, with the rule's explanation and
 * what to do. */
static int cannot_fix(const char *resource, const char *rule)
{
	const struct cmk_rule *r = cmk_rule_find(rule);

	const char *canonical, *why = r ? r->explanation : NULL,
			       *what = r ? r->fix : NULL;

	if (!r)
		audit_rule_text(rule, &canonical, &why, &what);
	printf(_("azcmk cannot fix %s on %s by itself.\n"), rule, resource);
	if (why) {
		printf(_("Why it matters: %s\n"), _(why));
		printf(_("What to do: %s\n"), _(what));
	}
	return EXIT_FINDINGS;
}

/*
 * Tells whether a rule's finding on a protected resource is fixed by a new
 * version of its key: the rules whose fix is a new version or a new key
 * (for a key in use, a new RSA version of it), but a key that no longer
 * exists, which only recovering it can fix.
 */
static bool needs_new_version(const struct cmk_rule *r)
{
	return r &&
	       (r->fix_step == FIX_NEW_VERSION ||
		r->fix_step == FIX_CREATE_KEY) &&
	       !str_ieq(r->id, "key.exists");
}

/*
 * Repairs a resource already on a customer-managed key: a new key version
 * for a key that expires or does not fit, an explanation for what no plan
 * can fix, else a re-save with what its prerequisites need.
 */
static int repair(struct az_session *s, const struct cmd_opts *o,
		  const char *resource, const char *rule)
{
	struct cmd_opts o2 = *o;
	const struct cmk_rule *r = cmk_rule_find(rule);

	o2.key_uri = o2.key = o2.vault = o2.create_key = NULL;
	if (needs_new_version(r)) {
		printf(_("Chosen: a new RSA version of the key in use (%s).\n"),
		       rule);
		o2.new_version = true;
		o2.version = NULL;
		return flow_rotate(s, &o2, resource);
	}
	if (!r ||
	    (r->fix_step == FIX_NONE &&
	     !str_ieq(r->id, "resource.key-access-lost")) ||
	    str_ieq(r->id, "key.exists"))
		return cannot_fix(resource, rule);
	printf(_("Chosen: save the key in use again, with whatever its "
		 "prerequisites need first.\n"));
	o2.version = NULL;
	return flow_refresh(s, &o2, resource);
}

/*
 * Picks the finding to fix when only a resource is named: the worst blocker
 * or warning its check finds, or NULL (a fresh role assignment that may not
 * have taken effect yet is left to time).
 */
static const char *worst_rule(const struct cmk_fetch *cur)
{
	struct cmk_report r;
	const char *rule = NULL;
	enum severity worst = SEV_NOTE;

	cmk_check(&cur->ctx, &r);
	for (size_t i = 0; i < r.n; i++)
		if (r.items[i].severity > worst &&
		    !str_ieq(r.items[i].rule->id, "identity.propagation")) {
			worst = r.items[i].severity;
			rule = r.items[i].rule->id;
		}
	cmk_report_free(&r);
	return rule;
}

/* Finds a blocker of the resource that no plan can fix (not ready, not
 * eligible), or NULL. */
static const char *unfixable_blocker(const struct cmk_fetch *cur)
{
	struct cmk_report r;
	const char *rule = NULL;

	cmk_check(&cur->ctx, &r);
	if (cmk_unfixable(&r, "resource."))
		rule = cmk_unfixable(&r, "resource.")->rule->id;
	cmk_report_free(&r);
	return rule;
}

/* Decides and runs the remedy once the resource is read: protect it, repair it,
 * or explain. */
static int remedy(struct az_session *s, const struct cmd_opts *o,
		  const struct cmk_fetch *cur, const char *rule)
{
	const char *id = jx_str(cur->resource, "id"),
		   *blocker = unfixable_blocker(cur);

	if (rule && (str_ieq(rule, "subscription.readable") ||
		     str_ieq(rule, "resource.readable")))
		return cannot_fix(id, rule);
	if (blocker)
		return cannot_fix(id, blocker);
	if (cur->ctx.keyref.name) {
		if (!rule || str_ieq(rule, "resource.cmk") ||
		    str_ieq(rule, "resource.irreversible"))
			rule = worst_rule(cur);
		if (!rule) {
			printf(_("%s uses a customer-managed key and every "
				 "prerequisite that applies holds: nothing to "
				 "fix.\n"),
			       id);
			return EXIT_OK;
		}
		return repair(s, o, id, rule);
	}
	if (rule && !str_ieq(rule, "resource.cmk") &&
	    !str_istarts(rule, "identity.") &&
	    !str_ieq(rule, "resource.irreversible"))
		return cannot_fix(id, rule);
	return protect(s, o, cur);
}

/* azcmk fix FINDING-ID|RESOURCE [--from REPORT]: the remediation plan with
 * sensible defaults, then apply. */
int cmd_fix(const struct cmd_opts *o, int argc, char **argv)
{
	struct cmk_target t = { 0 };
	struct cmk_fetch cur = { 0 };
	struct az_session *s;
	struct az_error e = { 0 };
	char *resource = NULL;
	const char *rule = NULL;
	int rc;

	if (o->all)
		return fleet_fix_all(o, argc, argv);
	if (o->parallel || o->ngroups || o->services || o->plan_file ||
	    o->format != FMT_TEXT || o->nvaults > 1 || o->nnew_vaults ||
	    o->vault_group || o->vault_sub || o->fresh)
		return flow_mistake(
			_("--parallel, --resource-group, --service, "
			  "--file, --format, a second --vault, "
			  "--create-vault, --vault-group, "
			  "--vault-subscription and --fresh apply to fix "
			  "--all"));
	if (argc != 1) {
		cli_error(_("fix takes one FINDING-ID (from an audit) or "
			    "RESOURCE"));
		fprintf(stderr, _("Try '%s --help' for more information.\n"),
			cli_program());
		return EXIT_ERROR;
	}
	if (is_finding_id(argv[0])
		    ? find_finding(o, argv[0], &resource, &rule) != 0
		    : !(resource = xstrdup(argv[0])))
		return EXIT_ERROR;
	if (!(s = flow_session(o))) {
		free(resource);
		return EXIT_ERROR;
	}
	t.resource = resource;
	t.subscriptions = o->subscriptions;
	t.nsubs = o->nsubs;
	if (rule && (str_ieq(rule, "subscription.readable") ||
		     str_ieq(rule, "resource.readable"))) {
		rc = cannot_fix(resource, rule);
	} else if (cmk_fetch(s, &t, &cur, &e) != 0) {
		cli_error(_("cannot read '%s': %s"), resource, e.message);
		rc = EXIT_ERROR;
	} else {
		rc = remedy(s, o, &cur, rule);
	}
	cmk_fetch_free(&cur);
	az_error_clear(&e);
	az_session_free(s);
	free(resource);
	return rc;
}
