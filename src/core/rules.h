/* The validation core: every prerequisite of RULES.md as a rule over a context
 * of facts read from Azure. */
#ifndef AZ_RULES_H
#define AZ_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "keyref.h"
#include "profile.h"

struct json_object;

/* Everything a rule may look at; statuses are the HTTP status of each read (0:
 * not read). */
struct cmk_ctx {
	const struct svc_profile *svc;
	struct json_object *resource;
	bool change;           /* a key is being set, not only audited */
	bool confirmed;        /* the operator confirmed irreversible changes */
	struct key_ref keyref; /* the vault and key (no name: a key yet to be
				  made; no version: the newest); borrowed:
				  whoever fills the context owns its strings */
	bool user_identity; /* the service is to use a user-assigned identity */
	bool drop_system;   /* the change turns the system-assigned identity off
			     */
	const char *uai_id; /* its ARM id (NULL with user_identity: the key
			       setting names, by client id, an identity not
			       attached; no principal can be judged) */
	struct json_object *uai; /* the identity resource, when read */
	struct json_object *vault;
	long vault_status;
	struct json_object *key; /* the KeyBundle of the version in question */
	long key_status;
	struct json_object *versions; /* KeyItems of every version */
	long versions_status;
	struct json_object *rotation; /* the key's rotation policy */
	long rotation_status;
	struct json_object
		*assignments; /* role assignments of the service's principal
				 (and, on an HSM, the operator's local ones) */
	struct json_object *roles; /* role definitions by lower-case GUID */
	struct json_object
		*denies; /* deny assignments at, above and below the vault */
	long denies_status;
	struct json_object *health; /* the resource's current Resource Health
				       availability status */
	long health_status;
	struct json_object *operator_perms; /* the operator's permission blocks
					       at the vault */
	struct json_object *resource_perms; /* the operator's permission blocks
					       at the resource */
	long resource_perms_status;
	char *operator_id; /* the signed-in principal's object id (owned by the
			      fetch), or NULL */
	long perms_status;
	long assignments_status; /* the service principal's role assignments (0:
				    not read) */
	long others_status; /* the assignments of the other identities it may
			       use (cmk_other_principals), in assignments;
			       0: no such read was made (a hand-built
			       context's assignments hold them) */
	long roles_status;  /* the worst status among the role definitions read
			     */
	struct json_object
		*policy_evals; /* checkPolicyRestrictions' policyEvaluations for
				  the content after the save */
	long policy_status;
	const char *tenant;         /* the signed-in tenant */
	const char *created_unread; /* why the resource's creation time could
				       not be read (the audit's list of them
				       failed), or NULL */
	int64_t now;
	int64_t propagation_window; /* seconds a new role assignment may take to
				       apply (0: 600) */
};

/* What the plan builder can do about a failed rule. */
enum cmk_fix {
	FIX_NONE,
	FIX_ENABLE_SOFT_DELETE,
	FIX_ENABLE_PURGE_PROTECTION,
	FIX_FIREWALL_BYPASS,
	FIX_ENABLE_IDENTITY,
	FIX_GRANT_ACCESS,
	FIX_CREATE_KEY,
	FIX_PIN_VERSION,
	FIX_NEW_VERSION,
	FIX_WAIT_PROPAGATION,
	FIX_CONFIRM,
	FIX_RESAVE,
};

/* A rule holds, fails, does not apply, or could not be judged (an input could
 * not be read, or a grant is conditional). */
enum cmk_outcome { OUT_NA, OUT_HOLDS, OUT_FAILS, OUT_UNKNOWN };

/* How a key attribute read: not there, read, or there but not of the type
 * Key Vault documents (cmk_key_flag, cmk_key_time). */
enum cmk_attr { CMK_ATTR_ABSENT, CMK_ATTR_READ, CMK_ATTR_BAD };

/* The last time a key attribute may name: 9999-12-31T23:59:59Z. */
#define CMK_TIME_MAX INT64_C(253402300799)

/* What a rule reads beyond the resource: when one of these could not be read,
 * the rule is not judged. */
enum cmk_need {
	NEED_VAULT = 1u << 0,
	NEED_KEY = 1u << 1,
	NEED_ROTATION = 1u << 2,
	NEED_ASSIGNMENTS = 1u << 3,
	NEED_ROLES = 1u << 4,
	NEED_PERMS = 1u << 5,
	NEED_POLICY = 1u << 6,
	NEED_DENIES = 1u << 7,
	NEED_VERSIONS = 1u << 8,
	NEED_HEALTH = 1u << 9,
};

/* Statuses of a read that got no usable answer (beside every HTTP status but
 * 200, 403 and 404: cmk_read_failed). */
#define CMK_READ_MALFORMED \
	(-1) /* an answer came, but not the JSON the API documents */
#define CMK_READ_NO_ANSWER \
	(-2) /* no answer at all (connection failed, timed out) */

struct cmk_finding;

struct cmk_rule {
	const char *id;
	bool (*applies)(const struct svc_profile
				*p); /* the profile's capability the rule is
					about; NULL: every service */
	enum severity severity;
	enum cmk_outcome (*check)(const struct cmk_ctx *c,
				  struct cmk_finding *f);
	const char
		*message; /* N_() format, with the names the check fills in */
	const char
		*explanation; /* N_() why it matters, what happens if ignored */
	const char *fix;      /* N_() what to do */
	enum cmk_fix fix_step;
	unsigned needs; /* enum cmk_need bits: the reads the verdict rests on */
};

struct cmk_finding {
	const struct cmk_rule *rule;
	enum severity severity;
	char *subject;      /* resource id, vault URI or key URL */
	char *message;      /* translated, with real names */
	const char *arg[3]; /* filled by the check for the message format
			       (borrowed: not kept in a report) */
	char *detail; /* extra text (which permission, which dates), or NULL */
	bool unknown; /* not judged: detail says why; counts as not passing */
	char number[24]; /* room for a number the check names in arg: each
			    finding has its own, as rules run on several threads
			    at once */
};

struct cmk_report {
	struct cmk_finding *items;
	size_t n;
	size_t checked; /* rules that applied (held, failed or could not be
			   judged) */
	size_t unknown; /* of the findings, those that could not be judged */
};

extern const struct cmk_rule CMK_RULES[];
extern const size_t CMK_NRULES;

void cmk_check(const struct cmk_ctx *c, struct cmk_report *out);
enum cmk_outcome cmk_judge(const struct cmk_ctx *c, const struct cmk_rule *r,
			   struct cmk_finding *f);
void cmk_report_free(struct cmk_report *r);
const struct cmk_rule *cmk_rule_find(const char *id);
bool cmk_rule_applies(const struct cmk_rule *r, const struct svc_profile *p);
bool cmk_has_blocker(const struct cmk_report *r);
bool cmk_has_known_blocker(const struct cmk_report *r);
bool cmk_read_failed(long status);
const char *cmk_finding_label(const struct cmk_finding *f);
const struct cmk_finding *cmk_unfixable(const struct cmk_report *r,
					const char *prefix);
long cmk_key_bits(struct json_object *key);
enum cmk_attr cmk_key_flag(struct json_object *key, const char *path,
			   bool *out);
enum cmk_attr cmk_key_time(struct json_object *key, const char *path,
			   int64_t *out);
const char *cmk_principal(const struct cmk_ctx *c);
/* The most other identities whose access is judged beside the chosen one's. */
#define CMK_OTHERS_MAX 4
size_t cmk_other_principals(const struct cmk_ctx *c, const char **out,
			    bool *more);
const char *cmk_identity_in_use(const struct svc_profile *svc,
				struct json_object *resource, bool *unattached);
bool cmk_principal_has_access(const struct cmk_ctx *c, const char *principal,
			      char **how);
int cmk_access_of(const struct cmk_ctx *c, const char *principal, char **how);
bool cmk_policy_allows(struct json_object *vault, const char *principal,
		       const char *const *perms);
extern const char *const CMK_SERVICE_KEY_PERMS[];
bool cmk_setting_names_identity(const struct cmk_ctx *c);
bool cmk_resource_on_cmk(const struct cmk_ctx *c);
const char *cmk_severity_name(enum severity s);
const char *cmk_severity_label(enum severity s);
const char *cmk_severity_colour(enum severity s);
const char *cmk_rule_for_error(const char *code, const char *inner,
			       const char *message);

#endif
