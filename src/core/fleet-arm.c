/* A fleet plan as one subscription-scope ARM template: a nested deployment
 * per resource group, each holding the plans there as plan_render_arm writes
 * them, and each vault's shared fixes once, before the plans that need them. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "armid.h"
#include "fleet.h"
#include "i18n.h"
#include "jx.h"
#include "plan-arm.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/*
 * A subscription deployment reaches resource groups (of this subscription
 * or of another) only through nested deployments that name subscriptionId
 * and resourceGroup, and waits for one of them by its full resourceId:
 * https://learn.microsoft.com/en-us/azure/azure-resource-manager/templates/deploy-to-subscription
 * https://learn.microsoft.com/en-us/azure/azure-resource-manager/templates/cross-resource-group-deployment
 */
#define SUB_SCHEMA                                                \
	"https://schema.management.azure.com/schemas/2018-05-01/" \
	"subscriptionDeploymentTemplate.json#"
#define GROUP_SCHEMA                                              \
	"https://schema.management.azure.com/schemas/2019-04-01/" \
	"deploymentTemplate.json#"
#define DEPLOY_TYPE "Microsoft.Resources/deployments"
#define DEPLOY_API "2022-09-01"

/* One nested deployment of the fleet's template, to one resource group. */
struct group {
	char *sub, *rg;
	char *name;
	struct json_object *resources; /* its template's resources */
	struct json_object *deps;      /* the deployments it waits for */
};

/* The groups of one kind: the resources', or the vaults' fixed for others. */
struct groups {
	struct group *g;
	size_t n;
};

/* The fleet being written, with what each plan was made from. */
struct farm {
	const struct fleet *f;
	struct json_object *seen;
	struct cmk_ctx *ctx;        /* per plan */
	struct json_object **vault; /* per plan: the vault as read, or NULL */
	char **wait; /* per plan: the vault fix it waits for in its group's
			template, or NULL */
	struct groups res, fixes;
	size_t left_out; /* plans without what their template needs */
};

/* Returns the group of a subscription's resource group, made (named after
 * the fleet, its kind and its rank) when new. */
static struct group *group_of(struct groups *gs, const char *sub,
			      const char *rg, const char *fleet_id,
			      const char *kind)
{
	struct group *g;

	for (size_t i = 0; i < gs->n; i++)
		if (str_ieq(gs->g[i].sub, sub) && str_ieq(gs->g[i].rg, rg))
			return &gs->g[i];
	gs->g = xrealloc(gs->g, (gs->n + 1) * sizeof(*gs->g));
	g = &gs->g[gs->n++];
	g->sub = xstrdup(sub);
	g->rg = xstrdup(rg);
	g->name = xasprintf("azcmk-fleet-%.8s-%s%zu", fleet_id ? fleet_id : "",
			    kind, gs->n);
	g->resources = json_object_new_array();
	g->deps = NULL;
	return g;
}

/* Adds "[expr]" to a dependsOn list (made when NULL) unless it is there. */
static void wait_for(struct json_object **deps, const char *expr)
{
	char *t = xasprintf("[%s]", expr);

	if (!*deps)
		*deps = json_object_new_array();
	for (size_t i = 0; i < jx_len(*deps); i++)
		if (strcmp(json_object_get_string(jx_at(*deps, i)), t) == 0) {
			free(t);
			return;
		}
	json_object_array_add(*deps, json_object_new_string(t));
	free(t);
}

/* Returns an incremental deployment of a template (taken) whose expressions
 * are its own, run after deps (taken, may be NULL). */
static struct json_object *
deployment(const char *name, struct json_object *tmpl, struct json_object *deps)
{
	struct json_object *d = json_object_new_object(),
			   *props = json_object_new_object();

	json_object_object_add(d, "type", json_object_new_string(DEPLOY_TYPE));
	json_object_object_add(d, "apiVersion",
			       json_object_new_string(DEPLOY_API));
	json_object_object_add(d, "name", json_object_new_string(name));
	if (deps)
		json_object_object_add(d, "dependsOn", deps);
	json_object_object_add(props, "mode",
			       json_object_new_string("Incremental"));
	jx_set(props, "expressionEvaluationOptions.scope",
	       json_object_new_string("inner"));
	json_object_object_add(props, "template", tmpl);
	json_object_object_add(d, "properties", props);
	return d;
}

/* Returns a template of the schema given holding resources (taken). */
static struct json_object *template_of(const char *schema,
				       struct json_object *resources)
{
	struct json_object *t = json_object_new_object();

	json_object_object_add(t, "$schema", json_object_new_string(schema));
	json_object_object_add(t, "contentVersion",
			       json_object_new_string("1.0.0.0"));
	json_object_object_add(t, "resources", resources);
	return t;
}

/* Returns the resourceId() of a group's deployment, from the subscription
 * scope. */
static char *group_rid(const struct group *g)
{
	char *s = plan_arm_literal(g->sub), *r = plan_arm_literal(g->rg),
	     *n = plan_arm_literal(g->name);
	char *out =
		xasprintf("resourceId(%s, %s, '%s', %s)", s, r, DEPLOY_TYPE, n);

	free(s);
	free(r);
	free(n);
	return out;
}

/* Tells whether a plan writes its vault for every resource there: creates
 * it, or turns on its soft delete, purge protection or firewall bypass (a
 * shared role or grant is a role assignment of its own, not a vault write). */
static bool shares(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (fleet_shared_step(p, i) &&
		    p->steps[i].kind != STEP_ASSIGN_ROLE &&
		    p->steps[i].kind != STEP_GRANT_OPERATOR)
			return true;
	return false;
}

/* Tells whether a plan's template can be written: its resource was read. */
static bool usable(const struct farm *m, size_t i)
{
	return m->ctx[i].resource != NULL && m->f->plans[i].vault_id;
}

/* Fills plan i's context from what was read when it was made (the vault
 * stands as its id alone when it was not kept). */
static void context_of(struct farm *m, size_t i)
{
	const struct plan *p = &m->f->plans[i];
	struct json_object *seen = jx_at(m->seen, i),
			   *vault = jx_get(seen, "vault");
	struct cmk_ctx *c = &m->ctx[i];

	c->svc = p->svc;
	c->resource = jx_get(seen, "resource");
	c->keyref = p->keyref;
	c->uai_id = p->uai_id;
	if (!vault && p->vault_id) {
		m->vault[i] = json_object_new_object();
		json_object_object_add(m->vault[i], "id",
				       json_object_new_string(p->vault_id));
		vault = m->vault[i];
	}
	c->vault = vault;
}

/* Tells whether plans i and j use the same vault. */
static bool same_vault(const struct farm *m, size_t i, size_t j)
{
	return str_ieq(m->f->plans[i].vault_id, m->f->plans[j].vault_id);
}

/* Tells whether every usable plan on plan i's vault has its resource in the
 * vault's resource group (then the fix can sit in that group's template). */
static bool all_local(const struct farm *m, size_t i, const struct armid *v)
{
	for (size_t j = 0; j < m->f->n; j++) {
		struct armid r;
		bool here;

		if (!usable(m, j) || !same_vault(m, i, j))
			continue;
		here = armid_parse(m->f->plans[j].resource_id, &r) &&
		       r.resource_group &&
		       str_ieq(r.subscription, v->subscription) &&
		       str_ieq(r.resource_group, v->resource_group);
		armid_free(&r);
		if (!here)
			return false;
	}
	return true;
}

/* Makes every usable plan on plan i's vault wait for its fix: in their
 * group's template (local), or their group for the fixes' deployment. */
static void wait_on_fix(struct farm *m, size_t i, const struct armid *v,
			const struct group *fixes)
{
	char *t = plan_arm_literal(v->type),
	     *n = plan_arm_literal(v->full_name);
	char *local = xasprintf("resourceId(%s, %s)", t, n);
	char *far = fixes ? group_rid(fixes) : NULL;

	for (size_t j = 0; j < m->f->n; j++) {
		struct armid r;

		if (!usable(m, j) || !same_vault(m, i, j))
			continue;
		if (!fixes) {
			free(m->wait[j]);
			m->wait[j] = xstrdup(local);
			continue;
		}
		if (armid_parse(m->f->plans[j].resource_id, &r) &&
		    r.resource_group)
			wait_for(&group_of(&m->res, r.subscription,
					   r.resource_group, m->f->id, "")
					  ->deps,
				 far);
		armid_free(&r);
	}
	free(t);
	free(n);
	free(local);
	free(far);
}

/* Writes the one fix of plan i's vault (every plan's shared steps on it
 * merged), where the plans that need it find it first. */
static void fix_vault(struct farm *m, size_t i)
{
	const struct plan **sharing = xcalloc(m->f->n, sizeof(*sharing));
	struct json_object *fix;
	struct armid v = { 0 };
	size_t n = 0;

	for (size_t j = 0; j < m->f->n; j++)
		if (usable(m, j) && same_vault(m, i, j) &&
		    shares(&m->f->plans[j]))
			sharing[n++] = &m->f->plans[j];
	fix = plan_arm_vault_fix(sharing, n, &m->ctx[i]);
	if (fix && armid_parse(m->f->plans[i].vault_id, &v) &&
	    v.resource_group && v.full_name) {
		bool local = all_local(m, i, &v);
		struct group *where =
			local ? group_of(&m->res, v.subscription,
					 v.resource_group, m->f->id, "")
			      : group_of(&m->fixes, v.subscription,
					 v.resource_group, m->f->id, "vaults-");
		json_object_array_add(where->resources, fix);
		wait_on_fix(m, i, &v, local ? NULL : where);
		fix = NULL;
	}
	armid_free(&v);
	json_object_put(fix);
	free(sharing);
}

/* Writes each vault's fix once: for the first usable plan on it that
 * changes it. */
static void fix_vaults(struct farm *m)
{
	for (size_t i = 0; i < m->f->n; i++) {
		bool first = usable(m, i) && shares(&m->f->plans[i]);

		for (size_t j = 0; j < i && first; j++)
			first = !(usable(m, j) && shares(&m->f->plans[j]) &&
				  same_vault(m, i, j));
		if (first)
			fix_vault(m, i);
	}
}

/* Tells whether a plan adds an access policy to its vault. */
static bool adds_policy(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].kind == STEP_ACCESS_POLICY)
			return true;
	return false;
}

/* Tells whether two plans' resources are in one resource group. */
static bool same_group(const struct farm *m, size_t i, size_t j)
{
	struct armid a = { 0 }, b = { 0 };
	bool same = armid_parse(m->f->plans[i].resource_id, &a) &&
		    armid_parse(m->f->plans[j].resource_id, &b) &&
		    str_ieq(a.subscription, b.subscription) &&
		    str_ieq(a.resource_group, b.resource_group);

	armid_free(&a);
	armid_free(&b);
	return same;
}

/*
 * Makes a plan that adds an access policy wait for the last one before it
 * in its group on the same vault: two writes of one vault's access policies
 * at once can lose one (apply, too, runs one per vault at a time).
 */
static void wait_on_policy(const struct farm *m, size_t i,
			   struct json_object **deps)
{
	char *name;

	if (!adds_policy(&m->f->plans[i]))
		return;
	for (size_t j = i; j-- > 0;) {
		if (!usable(m, j) || !same_vault(m, i, j) ||
		    !adds_policy(&m->f->plans[j]) || !same_group(m, i, j))
			continue;
		name = xasprintf("resourceId('%s', 'azcmk-plan-%.8s')",
				 DEPLOY_TYPE,
				 m->f->plans[j].id ? m->f->plans[j].id : "");
		wait_for(deps, name);
		free(name);
		return;
	}
}

/* Adds plan i, as its own deployment of its template, to the group of its
 * resource; a plan whose template cannot be written is counted out. */
static void place_plan(struct farm *m, size_t i)
{
	const struct plan *p = &m->f->plans[i];
	struct json_object *deps = NULL;
	struct armid r = { 0 };
	char *name;

	if (!usable(m, i) || !armid_parse(p->resource_id, &r) ||
	    !r.resource_group) {
		armid_free(&r);
		m->left_out++;
		return;
	}
	if (m->wait[i])
		wait_for(&deps, m->wait[i]);
	wait_on_policy(m, i, &deps);
	name = xasprintf("azcmk-plan-%.8s", p->id ? p->id : "");
	json_object_array_add(
		group_of(&m->res, r.subscription, r.resource_group, m->f->id,
			 "")
			->resources,
		deployment(name, plan_arm_template(p, &m->ctx[i]), deps));
	free(name);
	armid_free(&r);
}

/* Adds a group's deployment (its parts taken) to the fleet's resources. */
static void add_group(struct json_object *out, struct group *g)
{
	struct json_object *d = deployment(
		g->name, template_of(GROUP_SCHEMA, g->resources), g->deps);

	json_object_object_add(d, "subscriptionId",
			       json_object_new_string(g->sub));
	json_object_object_add(d, "resourceGroup",
			       json_object_new_string(g->rg));
	json_object_array_add(out, d);
	free(g->sub);
	free(g->rg);
	free(g->name);
}

/* Returns the template's metadata: the fleet's id, and what it holds. */
static struct json_object *metadata(const struct farm *m)
{
	struct json_object *md = json_object_new_object();
	struct sbuf b = SBUF_INIT;

	json_object_object_add(
		md, "azcmkFleet",
		json_object_new_string(m->f->id ? m->f->id : ""));
	sb_printf(&b,
		  _("azcmk fleet plan %s: each resource's plan in a "
		    "deployment to its resource group, each vault's shared "
		    "fixes once before them. Deploy with: az deployment sub "
		    "create --location LOCATION --template-file FILE."),
		  m->f->id ? m->f->id : "?");
	if (m->f->nskipped)
		sb_printf(&b,
			  _(" The %zu resources the fleet plan skips are "
			    "not in it."),
			  m->f->nskipped);
	if (m->left_out)
		sb_printf(&b,
			  _(" %zu plans are left out: what they were made "
			    "from was not kept; export each with azcmk "
			    "plan RESOURCE --format arm."),
			  m->left_out);
	json_object_object_add(md, "description",
			       json_object_new_string(sb_str(&b)));
	sb_free(&b);
	return md;
}

/*
 * Renders a fleet as one subscription-scope ARM template: seen[i] holds what
 * plan i was made from ("resource", "vault": as read). The vaults' shared
 * fixes come first (in a deployment of their own when plans of other
 * resource groups need them), then one deployment per resource group, each
 * holding every plan there as its own deployment of plan_render_arm's
 * template, so that the reference()s between a plan's identity, grant and
 * save stay within it. Skipped resources are not in it.
 */
char *fleet_render_arm(const struct fleet *f, struct json_object *seen)
{
	struct farm m = { .f = f, .seen = seen };
	struct json_object *root, *resources = json_object_new_array();
	char *out;

	m.ctx = xcalloc(f->n + 1, sizeof(*m.ctx));
	m.vault = xcalloc(f->n + 1, sizeof(*m.vault));
	m.wait = xcalloc(f->n + 1, sizeof(*m.wait));
	for (size_t i = 0; i < f->n; i++)
		context_of(&m, i);
	fix_vaults(&m);
	for (size_t i = 0; i < f->n; i++)
		place_plan(&m, i);
	for (size_t i = 0; i < m.fixes.n; i++)
		add_group(resources, &m.fixes.g[i]);
	for (size_t i = 0; i < m.res.n; i++)
		add_group(resources, &m.res.g[i]);
	root = template_of(SUB_SCHEMA, resources);
	json_object_object_add(root, "metadata", metadata(&m));
	out = xasprintf("%s\n",
			json_object_to_json_string_ext(
				root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	for (size_t i = 0; i < f->n; i++) {
		json_object_put(m.vault[i]);
		free(m.wait[i]);
	}
	free(m.res.g);
	free(m.fixes.g);
	free(m.ctx);
	free(m.vault);
	free(m.wait);
	return out;
}
