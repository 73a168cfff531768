/* Renders a plan as a POSIX shell script of Azure CLI (az rest) calls that
 * makes the same change. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "i18n.h"
#include "jx.h"
#include "plan.h"
#include "profile.h"
#include "sbuf.h"
#include "text.h"
#include "wire.h"
#include "xalloc.h"

/* The API version of user-assigned identities, read to learn their principal.
 */
#define UAI_API "2023-01-31"

/* Shell variables that stand for the plan's placeholders. */
static const struct {
	const char *placeholder, *var;
} VARS[] = {
	{ "principalId", "principal" },
	{ "keyVersion", "key_version" },
	{ "assignmentName", "assignment" },
};

/* Appends text single-quoted for the shell, turning {{placeholders}} into
 * "$variables". */
static void quote(struct sbuf *b, const char *text)
{
	sb_addc(b, '\'');
	for (const char *p = text; *p; p++) {
		size_t i;

		for (i = 0; *p == '{' && i < sizeof(VARS) / sizeof(VARS[0]);
		     i++) {
			size_t n = strlen(VARS[i].placeholder);

			if (strncmp(p, "{{", 2) == 0 &&
			    strncmp(p + 2, VARS[i].placeholder, n) == 0 &&
			    strncmp(p + 2 + n, "}}", 2) == 0)
				break;
		}
		if (*p == '{' && i < sizeof(VARS) / sizeof(VARS[0])) {
			sb_printf(b, "'\"$%s\"'", VARS[i].var);
			p += strlen(VARS[i].placeholder) + 3;
		} else if (*p == '\'') {
			sb_adds(b, "'\\''");
		} else {
			sb_addc(b, *p);
		}
	}
	sb_addc(b, '\'');
}

/* Appends a URL with its api-version, quoted. */
static void quote_url(struct sbuf *b, const char *url, const char *api)
{
	char *full =
		api ? xasprintf("%s?api-version=%s", url, api) : xstrdup(url);

	quote(b, full);
	free(full);
}

/* Appends a body as compact JSON, quoted. */
static void quote_body(struct sbuf *b, struct json_object *body)
{
	quote(b, json_object_to_json_string_ext(
			 body, JSON_C_TO_STRING_PLAIN |
				       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Returns the token audience of a Key Vault or Managed HSM URL: https and its
 * host without the first label. */
static char *kv_resource(const char *url)
{
	char host[256];
	bool https;
	const char *dot = wire_url_host(url, host, sizeof(host), &https)
				  ? strchr(host, '.')
				  : NULL;

	return dot ? xasprintf("https://%s", dot + 1)
		   : xstrdup("https://vault.azure.net");
}

/* Appends one "az rest" call for a step (without a newline). */
static void az_rest(struct sbuf *b, const struct plan_step *st)
{
	char *method = str_lower(st->method);

	sb_printf(b, "az rest --method %s --url ", method);
	quote_url(b, st->url, st->api_version);
	if (st->target == TARGET_KEYVAULT) {
		char *res = kv_resource(st->url);

		sb_adds(b, " --resource ");
		quote(b, res);
		free(res);
	}
	if (st->body) {
		sb_adds(b, " --body ");
		quote_body(b, st->body);
	}
	free(method);
}

/* Appends a comment line (sanitized: it may hold names that came from Azure).
 */
static void comment(struct sbuf *b, const char *text)
{
	char *clean = text_sanitize(text, false);

	sb_printf(b, "# %s\n", clean);
	free(clean);
}

/* Appends the lines that learn the service identity's principal id into
 * $principal. */
static void learn_principal(struct sbuf *b, const struct plan *p)
{
	sb_adds(b, "principal=$(az rest --method get --url ");
	if (p->uai_id) {
		quote_url(b, p->uai_id, UAI_API);
		sb_adds(b, " --query properties.principalId --output tsv)\n");
	} else {
		quote_url(b, p->resource_id, p->svc->api_version);
		sb_adds(b, " --query identity.principalId --output tsv)\n");
	}
	sb_printf(b, "[ -n \"$principal\" ] || { echo '%s' >&2; exit 1; }\n",
		  _("the service has no identity principal yet; enable its "
		    "identity first"));
}

/* Appends the deterministic role-assignment name azcmk apply would use (a UUID
 * v5 of scope, principal and role). */
static void assignment(struct sbuf *b, const struct plan_step *st)
{
	const char *role = jx_str(st->body, "properties.roleDefinitionId");
	const char *cut = strstr(st->url, "/providers/Microsoft.Authorization");
	char *scope = cut ? xstrndup(st->url, (size_t)(cut - st->url))
			  : xstrdup(st->url);
	char *seed = xasprintf(
		"%s|{{principalId}}|%s", scope,
		role && strrchr(role, '/') ? strrchr(role, '/') + 1 : "");

	sb_adds(b, "assignment=$(python3 -c 'import sys, uuid; "
		   "print(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]))' ");
	quote(b, seed);
	sb_adds(b, ")\n");
	free(seed);
	free(scope);
}

/* Appends the JMESPath query of the key setting the verification compares: the
 * key URL, or the key's name. */
static void key_query(struct sbuf *b, const struct svc_profile *svc)
{
	if (svc->shape->url)
		sb_adds(b, svc->shape->url);
	else
		sb_printf(b, "%s.keyName", svc->shape->kvp);
}

/* Appends the value the verification expects at key_query(), quoted. */
static void key_expected(struct sbuf *b, const struct plan *p)
{
	char *v;

	if (!p->svc->shape->url) {
		quote(b, p->keyref.name);
		return;
	}
	v = key_ref_uri(&p->keyref);
	quote(b, v);
	free(v);
}

/* Appends a loop that waits (up to five minutes) for the resource's
 * provisioning to end; $state holds how. */
static void wait_provisioned(struct sbuf *b, const struct plan_step *st)
{
	sb_adds(b, "for _ in $(seq 60); do\n\tstate=$(az rest --method get "
		   "--url ");
	quote_url(b, st->url, st->api_version);
	sb_adds(b, " --query properties.provisioningState --output tsv)\n"
		   "\tcase $state in Succeeded|'') break ;; Failed|Canceled) "
		   "break ;; esac\n\tsleep 5\ndone\n");
}

/* Appends the verification: waits for provisioning to finish, then compares the
 * key setting. */
static void verify(struct sbuf *b, const struct plan *p,
		   const struct plan_step *st)
{
	wait_provisioned(b, st);
	sb_adds(b, "now=$(az rest --method get --url ");
	quote_url(b, st->url, st->api_version);
	sb_adds(b, " --query ");
	key_query(b, p->svc);
	sb_adds(b, " --output tsv)\n");
	sb_adds(b, "if [ \"$now\" != ");
	key_expected(b, p);
	sb_printf(b,
		  " ] || [ \"$state\" = Failed ]; then\n\techo \"%s: $now "
		  "($state)\" >&2\n\texit 1\nfi\n",
		  _("the key setting is not the one planned"));
	sb_printf(b, "echo '%s'\n",
		  _("Done: the resource uses the planned key."));
}

/* Tells whether a step's URL or body uses a placeholder. */
static bool uses(const struct plan_step *st, const char *placeholder)
{
	char *needle = xasprintf("{{%s}}", placeholder);
	bool yes = (st->url && strstr(st->url, needle)) ||
		   (st->body && strstr(jx_text(st->body), needle));

	free(needle);
	return yes;
}

/* Appends the header: what the script does and what it needs. */
static void header(struct sbuf *b, const struct plan *p)
{
	sb_adds(b, "#!/bin/sh\n");
	comment(b, _("Generated by azcmk; it makes the change of this plan "
		     "with the Azure CLI (az rest)."));
	sb_printf(b, "# plan %s\n# %s\n", p->id ? p->id : "", p->resource_id);
	comment(b, _("Review it before running it. Unlike azcmk apply, it does "
		     "not re-read the state before each write, "
		     "keeps no journal and cannot resume."));
	comment(b, _("Needs: az (signed in to the resource's tenant), python3 "
		     "for the role-assignment name."));
	sb_adds(b, "set -eu\n");
	sb_adds(b, "principal=\nkey_version=\n");
}

/* Appends one step's commands. */
static void step(struct sbuf *b, const struct plan *p,
		 const struct plan_step *st, size_t n, bool *known)
{
	sb_adds(b, "\n");
	{
		char *line = xasprintf(
			"%zu. %s%s", n,
			st->title ? st->title : plan_step_name(st->kind),
			st->reversible || st->kind == STEP_WAIT_ACCESS ||
					st->kind == STEP_VERIFY
				? ""
				: _(" [irreversible]"));

		comment(b, line);
		free(line);
	}
	if (!*known && uses(st, "principalId")) {
		learn_principal(b, p);
		*known = true;
	}
	switch (st->kind) {
	case STEP_CREATE_KEY:
		sb_adds(b, "kid=$(");
		az_rest(b, st);
		sb_adds(b, " --query key.kid --output "
			   "tsv)\nkey_version=${kid##*/}\n");
		break;
	case STEP_ASSIGN_ROLE:
		if (uses(st, "assignmentName"))
			assignment(b, st);
		az_rest(b, st);
		sb_adds(b, " --output none\n");
		break;
	case STEP_GRANT_OPERATOR:
		az_rest(b, st);
		sb_adds(b, " --output none\n");
		/* The grant takes time to apply, as a wait step's does. */
		__attribute__((fallthrough));
	case STEP_WAIT_ACCESS:
		sb_printf(
			b,
			"echo '%s'\nsleep \"${AZCMK_PROPAGATION_WAIT:-30}\"\n",
			_("Waiting for the new access to take effect (set "
			  "AZCMK_PROPAGATION_WAIT to change the wait)..."));
		break;
	case STEP_VERIFY:
		verify(b, p, st);
		break;
	case STEP_DISABLE_SYSTEM_IDENTITY:
		/* The save may still be running (a resource answers 409 while
		 * it is busy). */
		wait_provisioned(b, st);
		sb_printf(b,
			  "if [ -n \"$state\" ] && [ \"$state\" != Succeeded "
			  "]; then\n\techo \"%s ($state)\" >&2\n"
			  "\texit 1\nfi\n",
			  _("the save has not succeeded, so the "
			    "system-assigned identity stays on"));
		az_rest(b, st);
		sb_adds(b, " --output none\n");
		break;
	default:
		az_rest(b, st);
		sb_adds(b, " --output none\n");
		break;
	}
}

/* Renders the plan as a shell script; the caller frees the text. */
char *plan_render_az(const struct plan *p)
{
	struct sbuf b = SBUF_INIT;
	bool known = false;

	header(&b, p);
	for (size_t i = 0; i < p->n; i++)
		step(&b, p, &p->steps[i], i + 1, &known);
	return sb_steal(&b);
}

/* Appends one resource of a fleet as a shell function, fix_N, holding its
 * plan's steps. */
static void fleet_function(struct sbuf *b, const struct plan *p, size_t n)
{
	bool known = false;

	sb_printf(b, "\n# plan %s\n", p->id ? p->id : "");
	comment(b, p->resource_id);
	sb_printf(b, "fix_%zu() {\nprincipal=\nkey_version=\n", n);
	for (size_t i = 0; i < p->n; i++)
		step(b, p, &p->steps[i], i + 1, &known);
	sb_adds(b, "}\n");
}

/*
 * Renders a fleet plan as one shell script: a function per resource, run one
 * after another; the first failure stops the script and says which
 * resource. The caller frees the text.
 */
char *plan_render_fleet_az(const struct plan *plans, size_t n,
			   const char *fleet_id)
{
	struct sbuf b = SBUF_INIT;

	sb_adds(&b, "#!/bin/sh\n");
	comment(&b, _("Generated by azcmk; it makes the changes of this fleet "
		      "plan with the Azure CLI (az rest), one shell function "
		      "per resource, one resource after another."));
	sb_printf(&b, "# fleet %s\n", fleet_id ? fleet_id : "");
	comment(&b,
		_("Review it before running it. Unlike azcmk apply, it does "
		  "not re-read the state before each write, keeps no "
		  "journal, cannot resume and stops at the first "
		  "failure."));
	comment(&b, _("Needs: az (signed in to the resources' tenant), python3 "
		      "for the role-assignment names."));
	sb_adds(&b, "set -eu\ncurrent=\nstopped=");
	quote(&b, _("stopped while fixing"));
	sb_adds(&b, "\ntrap '[ -z \"$current\" ] || echo \"$stopped $current\" "
		    ">&2' EXIT\n");
	for (size_t i = 0; i < n; i++)
		fleet_function(&b, &plans[i], i + 1);
	sb_adds(&b, "\n");
	for (size_t i = 0; i < n; i++) {
		sb_adds(&b, "current=");
		quote(&b, plans[i].resource_id);
		sb_printf(&b, "\nfix_%zu\n", i + 1);
	}
	sb_adds(&b, "current=\necho ");
	quote(&b, _("Done: every resource of the fleet plan uses its planned "
		    "key."));
	sb_adds(&b, "\n");
	return sb_steal(&b);
}
