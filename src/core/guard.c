/* Guard policies: Microsoft's built-in Azure Policy definitions assigned to
 * audit or deny the four services' resources without a customer-managed key. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "guard.h"
#include "i18n.h"
#include "jx.h"
#include "profile.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/*
 * Schemas and api-versions Microsoft documents: the deployment template
 * schemas of subscription and management group deployments
 * (learn.microsoft.com/azure/azure-resource-manager/templates/
 * deploy-to-subscription and deploy-to-management-group), and
 * Microsoft.Authorization/policyAssignments 2023-04-01 (Azure/
 * azure-rest-api-specs, specification/resources/resource-manager/
 * Microsoft.Authorization/policy/stable/2023-04-01/policyAssignments.json and
 * its examples/createPolicyAssignment.json).
 */
#define SCHEMA_SUBSCRIPTION                                       \
	"https://schema.management.azure.com/schemas/2018-05-01/" \
	"subscriptionDeploymentTemplate.json#"
#define SCHEMA_MANAGEMENT_GROUP                                   \
	"https://schema.management.azure.com/schemas/2019-08-01/" \
	"managementGroupDeploymentTemplate.json#"
#define ASSIGNMENT_API "2023-04-01"
#define DEFINITION_TYPE "Microsoft.Authorization/policyDefinitions"
#define BUILTIN_PREFIX "/providers/" DEFINITION_TYPE "/"
#define MG_PREFIX "/providers/Microsoft.Management/managementGroups/"
#define SOURCE_PREFIX "https://github.com/Azure/azure-policy/blob/master/"

/*
 * The default of excludedKinds in "Azure AI Services resources should encrypt
 * data at rest with a customer-managed key (CMK)", version 2.2.0: AIServices
 * (Foundry) is excluded by default, OpenAI is not.
 */
static const char *const COGNITIVE_EXCLUDED[] = {
	"CognitiveServices",
	"ContentSafety",
	"ImmersiveReader",
	"HealthInsights",
	"LUIS.Authoring",
	"LUIS",
	"QnAMaker",
	"QnAMaker.V2",
	"AIServices",
	"MetricsAdvisor",
	"SpeechTranslation",
	"Internal.AllInOne",
	"ConversationalLanguageUnderstanding",
	"knowledge",
	"TranscriptionIntelligence",
	"HealthDecisionSupport",
	NULL
};

/*
 * Microsoft's built-in definitions, read in github.com/Azure/azure-policy,
 * built-in-policies/policyDefinitions/:
 * - Healthcare APIs/DICOM_Service_CMK_Enabled.json: 14961b63-..., version
 *   1.0.0, effect Audit or Disabled (no Deny); it flags a DICOM service whose
 *   encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl is absent or
 *   empty.
 * - Health Bot/HealthBot_CustomerManagedKey_Audit.json: 4d080fa5-...,
 *   version 1.0.0, effect Audit or Disabled (no Deny); it flags a bot without
 *   keyVaultProperties.keyVaultUri.
 * - Cognitive Services/CustomerManagedKey_Audit.json: 67121cc7-..., version
 *   2.2.0 (an older copy, CognitiveServices_CustomerManagedKey_Audit.json, is
 *   2.0.0 without excludedKinds), effect Audit, Deny or Disabled; it flags an
 *   account whose encryption.keySource is not Microsoft.KeyVault and whose
 *   kind is not in excludedKinds. Foundry (AIServices) and Azure OpenAI
 *   (OpenAI) are both Microsoft.CognitiveServices/accounts.
 * DICOM and Health Bot's built-ins do not allow Deny: for --deny guard writes
 * a custom definition of its own for each (mode Indexed, the built-in's
 * policyRule.if, Health Bot's widened to an empty URI, effect a parameter
 * that allows Audit, Deny or Disabled, Deny by default) and assigns it with
 * Deny.
 */

/* The condition of DICOM_Service_CMK_Enabled.json 1.0.0 (14961b63-...),
 * verbatim: a DICOM service whose key encryption key URL is absent or empty. */
#define DICOM_IF                                                          \
	"{\"allOf\":[{\"field\":\"type\",\"equals\":"                     \
	"\"Microsoft.HealthcareApis/workspaces/dicomservices\"},"         \
	"{\"anyOf\":[{\"field\":\"Microsoft.HealthcareApis/workspaces/"   \
	"dicomservices/encryption.customerManagedKeyEncryption."          \
	"keyEncryptionKeyUrl\",\"exists\":\"false\"},"                    \
	"{\"field\":\"Microsoft.HealthcareApis/workspaces/dicomservices/" \
	"encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl\","  \
	"\"equals\":\"\"}]}]}"

/* The condition of HealthBot_CustomerManagedKey_Audit.json 1.0.0
 * (4d080fa5-...), a bot without a key vault URI, widened as DICOM's is to an
 * empty one: Microsoft's tests only that the URI exists, which a bot sent with
 * "" would pass, and a Deny must not let through what the audit reports. */
#define HEALTHBOT_IF                                                      \
	"{\"allOf\":[{\"field\":\"type\",\"equals\":"                     \
	"\"Microsoft.HealthBot/healthBots\"},"                            \
	"{\"anyOf\":[{\"field\":\"Microsoft.HealthBot/healthBots/"        \
	"keyVaultProperties.keyVaultUri\",\"exists\":\"false\"},"         \
	"{\"field\":\"Microsoft.HealthBot/healthBots/keyVaultProperties." \
	"keyVaultUri\",\"equals\":\"\"}]}]}"

const struct guard_builtin GUARD_BUILTINS[] = {
	{ "azcmk-cmk-dicom", 1u << SVC_DICOM,
	  "14961b63-a1eb-4378-8725-7e84ca8db0e6",
	  "built-in-policies/policyDefinitions/Healthcare APIs/"
	  "DICOM_Service_CMK_Enabled.json",
	  N_("DICOM Service should use a customer-managed key to encrypt data "
	     "at rest"),
	  GUARD_ALLOWS_AUDIT, NULL, "azcmk-cmk-dicom-deny", DICOM_IF },
	{ "azcmk-cmk-healthbot", 1u << SVC_HEALTHBOT,
	  "4d080fa5-a6d2-4f98-ba9c-f482d0d335c0",
	  "built-in-policies/policyDefinitions/Health Bot/"
	  "HealthBot_CustomerManagedKey_Audit.json",
	  N_("Azure Health Bots should use customer-managed keys to encrypt "
	     "data at rest"),
	  GUARD_ALLOWS_AUDIT, NULL, "azcmk-cmk-healthbot-deny", HEALTHBOT_IF },
	{ "azcmk-cmk-cognitive", (1u << SVC_FOUNDRY) | (1u << SVC_OPENAI),
	  "67121cc7-ff39-4ab8-b7e3-95b84dab487d",
	  "built-in-policies/policyDefinitions/Cognitive Services/"
	  "CustomerManagedKey_Audit.json",
	  N_("Azure AI Services resources should encrypt data at rest with a "
	     "customer-managed key (CMK)"),
	  GUARD_ALLOWS_AUDIT | GUARD_ALLOWS_DENY, COGNITIVE_EXCLUDED, NULL,
	  NULL },
};

const size_t GUARD_NBUILTINS =
	sizeof(GUARD_BUILTINS) / sizeof(GUARD_BUILTINS[0]);

/* Tells whether a character may be in a management group's name: letters,
 * digits, '-', '_', '(', ')' and '.'. */
static bool mg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-_().", c);
}

/*
 * Tells whether the scope's target is well formed: a subscription id is a
 * GUID; a management group's name (its id) is 1 to 90 of mg_char, not ending
 * in '.' (learn.microsoft.com/azure/governance/management-groups/
 * create-management-group-portal).
 */
bool guard_target_valid(enum guard_scope scope, const char *target)
{
	size_t n = target ? strlen(target) : 0;

	if (scope == GUARD_SUBSCRIPTION)
		return target && is_uuid(target);
	if (n == 0 || n > 90 || target[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!mg_char(target[i]))
			return false;
	return true;
}

/* Adds a note (allocated, already translated) to the set. */
static void note(struct guard_set *s, char *text)
{
	s->notes = xrealloc(s->notes, (s->nnotes + 1) * sizeof(*s->notes));
	s->notes[s->nnotes++] = text;
}

/* Returns the display names of the asked services a definition covers, joined
 * with " and " (allocated). */
static char *covered_names(const struct guard_builtin *b, unsigned services)
{
	struct sbuf t = SBUF_INIT;

	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if ((b->services & services & (1u << SVC_PROFILES[i].id)))
			sb_printf(&t, "%s%s", t.len ? _(" and ") : "",
				  _(SVC_PROFILES[i].name));
	return sb_steal(&t);
}

/* Returns the display names of the asked services a definition covers whose
 * Cognitive Services kind is this one, joined with " and " (allocated). */
static char *kind_names(const struct guard_builtin *b, unsigned services,
			const char *kind)
{
	struct sbuf t = SBUF_INIT;

	for (size_t i = 0; i < SVC_NPROFILES; i++)
		if ((b->services & services & (1u << SVC_PROFILES[i].id)) &&
		    SVC_PROFILES[i].kind && str_ieq(SVC_PROFILES[i].kind, kind))
			sb_printf(&t, "%s%s", t.len ? _(" and ") : "",
				  _(SVC_PROFILES[i].name));
	return sb_steal(&t);
}

/*
 * Builds the excludedKinds value of a definition that has one: its default
 * without the kinds of the asked services, so that they are judged; notes
 * each kind taken off, and that the assignment covers more than them.
 */
static struct json_object *excluded_kinds(struct guard_set *s,
					  const struct guard_builtin *b,
					  unsigned services, const char *names)
{
	struct json_object *v = json_object_new_array();

	for (const char *const *k = b->excluded_kinds; *k; k++) {
		char *who = kind_names(b, services, *k);

		if (*who)
			note(s,
			     xasprintf(_("%s: the built-in policy %s leaves "
					 "kind %s (%s) out by default, in "
					 "its excludedKinds parameter; the "
					 "assignment lists the other kinds "
					 "only, so that %s is judged."),
				       b->assignment, b->guid, *k, who, who));
		else
			json_object_array_add(v, json_object_new_string(*k));
		free(who);
	}
	note(s, xasprintf(_("%s: the built-in policy %s judges every Cognitive "
			    "Services account whose kind is not in "
			    "excludedKinds, not only %s."),
			  b->assignment, b->guid, names));
	return v;
}

/*
 * Chooses the effect of one definition: the one asked when it allows it; for
 * a refused Deny, Deny through guard's custom definition when the built-in
 * has one (*custom set), else Audit (weaker, said in a note); nothing when
 * Audit is refused, since Deny would do more than asked. NULL: no assignment.
 */
static const char *choose_effect(struct guard_set *s,
				 const struct guard_builtin *b, bool deny,
				 const char *names, bool *custom)
{
	*custom = false;
	if (deny && (b->allows & GUARD_ALLOWS_DENY))
		return "Deny";
	if (!deny && (b->allows & GUARD_ALLOWS_AUDIT))
		return "Audit";
	if (deny && b->custom && b->custom_if) {
		note(s, xasprintf(_("%s: the built-in policy %s allows Audit "
				    "or Disabled, not Deny: guard writes the "
				    "custom policy definition %s, with the "
				    "built-in's rule and effect Deny, and "
				    "assigns it, so Azure Policy refuses a %s "
				    "without a customer-managed key."),
				  b->assignment, b->guid, b->custom, names));
		*custom = true;
		return "Deny";
	}
	if (deny && (b->allows & GUARD_ALLOWS_AUDIT)) {
		note(s, xasprintf(_("%s: the built-in policy %s allows Audit "
				    "or Disabled, not Deny: it is assigned "
				    "with Audit, so Azure Policy reports a %s "
				    "without a customer-managed key but does "
				    "not refuse it."),
				  b->assignment, b->guid, names));
		return "Audit";
	}
	note(s, xasprintf(deny ? _("%s: the built-in policy %s allows neither "
				   "Deny nor Audit: %s is not guarded.")
			       : _("%s: the built-in policy %s does not allow "
				   "Audit: %s is not guarded (with --deny it "
				   "would be denied)."),
			  b->assignment, b->guid, names));
	return NULL;
}

/* Adds the assignment of one definition to the set, when it has an effect to
 * assign. */
static void add_assignment(struct guard_set *s, const struct guard_builtin *b,
			   unsigned services)
{
	char *names = covered_names(b, services);
	bool custom;
	const char *effect = choose_effect(s, b, s->req.deny, names, &custom);

	if (effect) {
		struct guard_assignment *a;

		s->items = xrealloc(s->items, (s->n + 1) * sizeof(*s->items));
		a = &s->items[s->n++];
		a->def = b;
		a->effect = effect;
		a->custom = custom;
		a->excluded_kinds =
			b->excluded_kinds
				? excluded_kinds(s, b, services, names)
				: NULL;
	}
	free(names);
}

/*
 * Builds the assignments of the definitions in table that cover the asked
 * services; 0, or -1 with *err (allocated) when the target or a name breaks
 * Azure's rules (assignment names: at most 64 characters at a subscription,
 * 24 at a management group, as ARM's InvalidPolicyAssignmentName says).
 */
int guard_build(const struct guard_builtin *table, size_t n,
		const struct guard_req *r, struct guard_set *out, char **err)
{
	unsigned services = r->services ? r->services : ~0u;
	size_t max = r->scope == GUARD_MANAGEMENT_GROUP
			     ? GUARD_NAME_MAX_MANAGEMENT_GROUP
			     : GUARD_NAME_MAX_SUBSCRIPTION;

	memset(out, 0, sizeof(*out));
	out->req = *r;
	if ((r->scope == GUARD_MANAGEMENT_GROUP || r->target) &&
	    !guard_target_valid(r->scope, r->target)) {
		*err = xasprintf(r->scope == GUARD_SUBSCRIPTION
					 ? _("'%s' is not a subscription id (a "
					     "GUID)")
					 : _("'%s' is not a management group "
					     "name (1 to 90 letters, digits, "
					     "'-', '_', '(', ')' or '.')"),
				 r->target ? r->target : "");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(table[i].services & services))
			continue;
		if (strlen(table[i].assignment) > max) {
			*err = xasprintf(_("assignment name '%s' is longer "
					   "than the %zu characters Azure "
					   "allows at this scope"),
					 table[i].assignment, max);
			guard_free(out);
			return -1;
		}
		add_assignment(out, &table[i], services);
	}
	return 0;
}

/* Frees what a set holds. */
void guard_free(struct guard_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_object_put(s->items[i].excluded_kinds);
	for (size_t i = 0; i < s->nnotes; i++)
		free(s->notes[i]);
	free(s->items);
	free(s->notes);
	memset(s, 0, sizeof(*s));
}

/* Returns the ARM id of the request's scope (allocated), or NULL for the
 * current subscription, which only the deployment knows. */
char *guard_scope_id(const struct guard_req *r)
{
	if (r->scope == GUARD_MANAGEMENT_GROUP)
		return xasprintf(MG_PREFIX "%s", r->target);
	return r->target ? xasprintf("/subscriptions/%s", r->target) : NULL;
}

/* Returns where Microsoft publishes a definition: its file's address on GitHub,
 * spaces escaped (allocated). */
static char *source_url(const struct guard_builtin *b)
{
	struct sbuf u = SBUF_INIT;

	sb_adds(&u, SOURCE_PREFIX);
	for (const char *p = b->source; *p; p++)
		if (*p == ' ')
			sb_adds(&u, "%20");
		else
			sb_addc(&u, *p);
	return sb_steal(&u);
}

/* Returns the assignment's parameters: its effect, and excludedKinds where the
 * definition has it. */
static struct json_object *parameters(const struct guard_assignment *a)
{
	struct json_object *p = json_object_new_object();

	jx_set(p, "effect.value", json_object_new_string(a->effect));
	if (a->excluded_kinds)
		jx_set(p, "excludedKinds.value",
		       json_object_get(a->excluded_kinds));
	return p;
}

/* Returns a copy of a JSON value in which each string that begins with '['
 * begins with "[[": an ARM template would evaluate it as an expression
 * (learn.microsoft.com/azure/azure-resource-manager/templates/
 * template-expressions, "Escape characters"). */
static struct json_object *arm_escaped(struct json_object *v)
{
	struct json_object *out;

	if (json_object_is_type(v, json_type_string)) {
		const char *t = json_object_get_string(v);
		char *e;

		if (t[0] != '[')
			return json_object_new_string(t);
		e = xasprintf("[%s", t);
		out = json_object_new_string(e);
		free(e);
		return out;
	}
	if (json_object_is_type(v, json_type_array)) {
		out = json_object_new_array();
		for (size_t i = 0; i < jx_len(v); i++)
			json_object_array_add(out, arm_escaped(jx_at(v, i)));
		return out;
	}
	if (json_object_is_type(v, json_type_object)) {
		out = json_object_new_object();
		json_object_object_foreach(v, key, val)
		{
			json_object_object_add(out, key, arm_escaped(val));
		}
		return out;
	}
	return jx_copy(v);
}

/*
 * Returns the properties of the custom definition an assignment's built-in
 * stands for (a->custom): mode Indexed, the built-in's condition, effect a
 * parameter allowing Audit, Deny or Disabled, Deny by default. For an ARM
 * template, strings that begin with '[' are escaped ("[[parameters(...)]").
 */
struct json_object *guard_custom_definition(const struct guard_assignment *a,
					    bool arm)
{
	const struct guard_builtin *b = a->def;
	struct json_object *p = json_object_new_object(),
			   *rule = json_tokener_parse(b->custom_if),
			   *allowed = json_object_new_array(), *out;
	char *builtin = xasprintf(BUILTIN_PREFIX "%s", b->guid);
	char *src = source_url(b);
	char *display = xasprintf(_("%s (Deny, azcmk guard)"), _(b->display));
	char *about = xasprintf(
		_("Refuses the resources that the built-in policy %s (%s) "
		  "reports: its rule, with effect Deny, which the built-in "
		  "does not allow. Written by azcmk guard."),
		b->guid, _(b->display));

	json_object_object_add(p, "displayName",
			       json_object_new_string(display));
	json_object_object_add(p, "description", json_object_new_string(about));
	json_object_object_add(p, "mode", json_object_new_string("Indexed"));
	jx_set(p, "metadata.assignedBy", json_object_new_string("azcmk guard"));
	jx_set(p, "metadata.basedOn", json_object_new_string(builtin));
	jx_set(p, "metadata.definitionSource", json_object_new_string(src));
	json_object_array_add(allowed, json_object_new_string("Audit"));
	json_object_array_add(allowed, json_object_new_string("Deny"));
	json_object_array_add(allowed, json_object_new_string("Disabled"));
	jx_set(p, "parameters.effect.type", json_object_new_string("String"));
	jx_set(p, "parameters.effect.metadata.displayName",
	       json_object_new_string("Effect"));
	jx_set(p, "parameters.effect.allowedValues", allowed);
	jx_set(p, "parameters.effect.defaultValue",
	       json_object_new_string("Deny"));
	jx_set(p, "policyRule.if", rule ? rule : json_object_new_object());
	jx_set(p, "policyRule.then.effect",
	       json_object_new_string("[parameters('effect')]"));
	free(about);
	free(display);
	free(src);
	free(builtin);
	if (!arm)
		return p;
	out = arm_escaped(p);
	json_object_put(p);
	return out;
}

/* Returns the id a template gives the custom definition of an assignment
 * (allocated): at a management group, its id there; at a subscription, the
 * expression of its id in the deployment's subscription. */
static char *custom_id_in_template(const struct guard_set *s,
				   const struct guard_assignment *a)
{
	if (s->req.scope == GUARD_MANAGEMENT_GROUP)
		return xasprintf(MG_PREFIX "%s/providers/" DEFINITION_TYPE
					   "/%s",
				 s->req.target, a->def->custom);
	return xasprintf("[subscriptionResourceId('" DEFINITION_TYPE
			 "', '%s')]",
			 a->def->custom);
}

/* Builds the policyDefinitions resource of a custom definition. */
static struct json_object *definition_resource(const struct guard_assignment *a)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "type",
			       json_object_new_string(DEFINITION_TYPE));
	json_object_object_add(r, "apiVersion",
			       json_object_new_string(ASSIGNMENT_API));
	json_object_object_add(r, "name",
			       json_object_new_string(a->def->custom));
	json_object_object_add(r, "properties",
			       guard_custom_definition(a, true));
	return r;
}

/* Returns the assignment's description (allocated, translated). */
static char *description(const struct guard_set *s,
			 const struct guard_assignment *a)
{
	char *names =
		covered_names(a->def, s->req.services ? s->req.services : ~0u);
	char *d = xasprintf(strcmp(a->effect, "Deny") == 0
				    ? _("Assigned by azcmk guard: refuses each "
					"resource (%s) without a "
					"customer-managed key.")
				    : _("Assigned by azcmk guard: reports each "
					"resource (%s) without a "
					"customer-managed key."),
			    names);

	free(names);
	return d;
}

/* Builds one policyAssignments resource of the template. */
static struct json_object *assignment_resource(const struct guard_set *s,
					       const struct guard_assignment *a)
{
	struct json_object *r = json_object_new_object(),
			   *msgs = json_object_new_array(),
			   *msg = json_object_new_object();
	char *about = description(s, a);
	char *def = a->custom ? custom_id_in_template(s, a)
			      : xasprintf(BUILTIN_PREFIX "%s", a->def->guid);
	char *src = source_url(a->def);

	json_object_object_add(
		r, "type",
		json_object_new_string(
			"Microsoft.Authorization/policyAssignments"));
	if (a->custom) {
		struct json_object *deps = json_object_new_array();

		json_object_array_add(deps, json_object_new_string(def));
		json_object_object_add(r, "dependsOn", deps);
	}
	json_object_object_add(r, "apiVersion",
			       json_object_new_string(ASSIGNMENT_API));
	json_object_object_add(r, "name",
			       json_object_new_string(a->def->assignment));
	jx_set(r, "properties.displayName",
	       json_object_new_string(_(a->def->display)));
	jx_set(r, "properties.description", json_object_new_string(about));
	jx_set(r, "properties.policyDefinitionId", json_object_new_string(def));
	jx_set(r, "properties.enforcementMode",
	       json_object_new_string("Default"));
	jx_set(r, "properties.parameters", parameters(a));
	jx_set(r, "properties.metadata.assignedBy",
	       json_object_new_string("azcmk guard"));
	jx_set(r, "properties.metadata.definitionSource",
	       json_object_new_string(src));
	json_object_object_add(msg, "message", json_object_new_string(about));
	json_object_array_add(msgs, msg);
	jx_set(r, "properties.nonComplianceMessages", msgs);
	free(src);
	free(def);
	free(about);
	return r;
}

/* Returns the command that deploys an ARM template of this request to its
 * scope, as a shell takes it (allocated); the target is a valid one. */
char *guard_deploy_hint(const struct guard_req *r)
{
	/* A valid name holds no quote; '(' and ')' need quoting in a shell. */
	if (r->scope == GUARD_MANAGEMENT_GROUP)
		return xasprintf(
			"az deployment mg create --management-group-id "
			"%s%s%s --location LOCATION --template-file FILE",
			strpbrk(r->target, "()") ? "'" : "", r->target,
			strpbrk(r->target, "()") ? "'" : "");
	if (r->target)
		return xasprintf("az deployment sub create --subscription %s "
				 "--location LOCATION --template-file FILE",
				 r->target);
	return xstrdup("az deployment sub create --location LOCATION "
		       "--template-file FILE");
}

/*
 * Renders the set as an ARM template at subscription or management group
 * scope: one policyAssignments resource per definition; the notes and the
 * command that deploys it in its metadata.
 */
struct json_object *guard_render_arm(const struct guard_set *s)
{
	struct json_object *t = json_object_new_object(),
			   *res = json_object_new_array(),
			   *notes = json_object_new_array();
	char *cmd = guard_deploy_hint(&s->req);

	json_object_object_add(
		t, "$schema",
		json_object_new_string(s->req.scope == GUARD_MANAGEMENT_GROUP
					       ? SCHEMA_MANAGEMENT_GROUP
					       : SCHEMA_SUBSCRIPTION));
	json_object_object_add(t, "contentVersion",
			       json_object_new_string("1.0.0.0"));
	jx_set(t, "metadata.description",
	       json_object_new_string(
		       s->req.deny
			       ? _("Azure Policy assignments, made by azcmk "
				   "guard, that deny resources without a "
				   "customer-managed key, through a custom "
				   "definition where the built-in one does "
				   "not allow Deny.")
			       : _("Azure Policy assignments, made by azcmk "
				   "guard, that report resources without a "
				   "customer-managed key.")));
	jx_set(t, "metadata.deploy", json_object_new_string(cmd));
	free(cmd);
	for (size_t i = 0; i < s->nnotes; i++)
		json_object_array_add(notes,
				      json_object_new_string(s->notes[i]));
	jx_set(t, "metadata.notes", notes);
	for (size_t i = 0; i < s->n; i++) {
		if (s->items[i].custom)
			json_object_array_add(
				res, definition_resource(&s->items[i]));
		json_object_array_add(res,
				      assignment_resource(s, &s->items[i]));
	}
	json_object_object_add(t, "resources", res);
	return t;
}

/* Appends text single-quoted for a POSIX shell. */
static void quote(struct sbuf *b, const char *text)
{
	sb_addc(b, '\'');
	for (const char *p = text; *p; p++)
		if (*p == '\'')
			sb_adds(b, "'\\''");
		else
			sb_addc(b, *p);
	sb_addc(b, '\'');
}

/* Appends a comment line, control characters made harmless. */
static void comment(struct sbuf *b, const char *text)
{
	char *clean = text_sanitize(text, false);

	sb_printf(b, "# %s\n", clean);
	free(clean);
}

/* Appends the lines that set $scope: the target's, or the Azure CLI's current
 * subscription's. */
static void scope_lines(struct sbuf *b, const struct guard_req *r)
{
	char *id = guard_scope_id(r);

	if (id) {
		sb_adds(b, "scope=");
		quote(b, id);
		sb_addc(b, '\n');
		free(id);
		return;
	}
	comment(b, _("The subscription az uses now (az account set chooses "
		     "it)."));
	sb_adds(b, "subscription=$(az account show --query id --output tsv)\n"
		   "[ -n \"$subscription\" ] || { echo ");
	quote(b, _("azcmk guard: no current subscription; sign in with az "
		   "login"));
	sb_adds(b, " >&2; exit 1; }\nscope=\"/subscriptions/$subscription\"\n");
}

/* Appends a JSON value as one single-quoted shell word. */
static void quote_json(struct sbuf *b, struct json_object *v)
{
	quote(b, json_object_to_json_string_ext(
			 v, JSON_C_TO_STRING_PLAIN |
				    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/*
 * Appends the az policy definition create command of an assignment's custom
 * definition, at the scope's subscription (the current one: $subscription) or
 * management group (azure-cli resource/custom.py create_policy_definition:
 * PolicyDefinitions_CreateOrUpdate or _CreateOrUpdateAtManagementGroup).
 */
static void az_definition(struct sbuf *b, const struct guard_set *s,
			  const struct guard_assignment *a)
{
	struct json_object *p = guard_custom_definition(a, false);

	sb_adds(b, "az policy definition create --name ");
	quote(b, a->def->custom);
	sb_adds(b, " \\\n\t--display-name ");
	quote(b, jx_str(p, "displayName"));
	sb_adds(b, " \\\n\t--description ");
	quote(b, jx_str(p, "description"));
	sb_adds(b, " \\\n\t--mode Indexed --rules ");
	quote_json(b, jx_get(p, "policyRule"));
	sb_adds(b, " \\\n\t--params ");
	quote_json(b, jx_get(p, "parameters"));
	if (s->req.scope == GUARD_MANAGEMENT_GROUP) {
		sb_adds(b, " \\\n\t--management-group ");
		quote(b, s->req.target);
	} else if (s->req.target) {
		sb_adds(b, " \\\n\t--subscription ");
		quote(b, s->req.target);
	} else {
		sb_adds(b, " \\\n\t--subscription \"$subscription\"");
	}
	sb_adds(b, " --output none\n");
	json_object_put(p);
}

/*
 * Appends the az policy assignment create command of one assignment. --policy
 * is the built-in's name, not its id: az 2.45 takes only an id below
 * /subscriptions/ as one (azure-cli resource/custom.py _resolve_policy_id,
 * is_valid_resource_id) and sends any other value as the name, %2F-encoded,
 * to PolicyDefinitions_Get and then _GetBuiltIn; the name resolves through
 * GetBuiltIn in every version of az. A custom definition is given by its id:
 * below /subscriptions/ az takes it as it is; below a management group az
 * reads it there (_parse_management_group_reference, then
 * PolicyDefinitions_GetAtManagementGroup).
 */
static void az_assignment(struct sbuf *b, const struct guard_set *s,
			  const struct guard_assignment *a)
{
	struct json_object *params = parameters(a);
	char *about = description(s, a);
	char *src = source_url(a->def);
	char *line = a->custom
			     ? xasprintf(_("%s: custom policy %s, the rule of "
					   "built-in policy %s, effect %s"),
					 a->def->assignment, a->def->custom,
					 a->def->guid, a->effect)
			     : xasprintf(_("%s: built-in policy %s, effect %s"),
					 a->def->assignment, a->def->guid,
					 a->effect);

	comment(b, line);
	comment(b, src);
	if (a->custom)
		az_definition(b, s, a);
	sb_adds(b, "az policy assignment create --name ");
	quote(b, a->def->assignment);
	sb_adds(b, " \\\n\t--display-name ");
	quote(b, _(a->def->display));
	sb_adds(b, " \\\n\t--description ");
	quote(b, about);
	sb_adds(b, " \\\n\t--scope \"$scope\" --policy ");
	if (a->custom)
		sb_printf(b, "\"$scope\"'/providers/" DEFINITION_TYPE "/%s'",
			  a->def->custom);
	else
		quote(b, a->def->guid);
	sb_adds(b, " \\\n\t--params ");
	quote_json(b, params);
	sb_adds(b, " \\\n\t--enforcement-mode Default --output none\n");
	json_object_put(params);
	free(src);
	free(line);
	free(about);
}

/*
 * Renders the set as a POSIX shell script of Azure CLI calls (set -eu): the
 * scope, then one az policy assignment create per definition, the notes as
 * comments.
 */
char *guard_render_az(const struct guard_set *s)
{
	struct sbuf b = SBUF_INIT;

	sb_adds(&b, "#!/bin/sh\n");
	comment(&b, s->req.deny
			    ? _("azcmk guard: Azure Policy assignments that "
				"deny resources without a customer-managed "
				"key, through a custom definition where the "
				"built-in one does not allow Deny.")
			    : _("azcmk guard: Azure Policy assignments that "
				"report resources without a customer-managed "
				"key."));
	for (size_t i = 0; i < s->nnotes; i++)
		comment(&b, s->notes[i]);
	sb_adds(&b, "set -eu\n");
	scope_lines(&b, &s->req);
	for (size_t i = 0; i < s->n; i++)
		az_assignment(&b, s, &s->items[i]);
	return sb_steal(&b);
}
