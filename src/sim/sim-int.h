/* Internals shared by the simulator's modules: state, requests, responses and
 * helpers. */
#ifndef SIM_INT_H
#define SIM_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "roles.h"
#include "sbuf.h"
#include "sim.h"
#include "tls.h"

/* Which service a request's Host header names. */
enum host_kind {
	HOST_UNKNOWN,
	HOST_LOGIN,
	HOST_ARM,
	HOST_VAULT,
	HOST_HSM,
	HOST_GRAPH,
	HOST_ADMIN,
	HOST_IDENTITY
};

/* How a fault rule spoils a response. */
enum fault_kind {
	FAULT_STATUS,
	FAULT_RESET,
	FAULT_TRUNCATE,
	FAULT_MALFORMED,
	FAULT_LATENCY,
	FAULT_LRO_FAIL,
	FAULT_CHUNKED,
	FAULT_GRAPH_TRUNCATED
};

/* The scenario's settings, read once at load. */
struct sim_settings {
	int latency_ms;
	int propagation_seconds;
	int lro_polls;
	int64_t lro_seconds; /* a long-running operation ends by itself this
				long after it starts */
	int retry_after;
	int token_lifetime;
	int page_size;
	int graph_quota;           /* Resource Graph queries a principal may
				      send per window, or 0: not enforced */
	int graph_quota_window_ms; /* the quota's window */
	const char *identity_header;
	const char *arc_key_dir; /* set: the identity endpoint is Azure Arc's
				    himds, writing its challenge keys here */
	const char *arc_realm;   /* set: the path every Arc challenge names
				    instead (a hostile endpoint, for tests) */
	const char *client_ip;
	bool operator_data_plane_enforced; /* false: the operator and user pass
					      data-plane checks */
	bool refuse_in_operation; /* a refused key save is accepted (202) and
				     its operation fails with the refusal */
	bool lro_headers_both;    /* lroHeaders "both": an Azure-AsyncOperation
				     also where a spec declares Location only */
};

struct sim_proxy;
struct rg_kept;
struct rg_table;
struct rg_use;
struct armid;

struct sim {
	pthread_mutex_t lock; /* guards everything below that changes */
	char *scenario_text;  /* the scenario as given, for /reset */
	size_t scenario_len;
	struct json_object
		*doc; /* the live tenant: the scenario plus every change */
	struct json_object
		*index; /* lower-case resource id -> resource object */
	struct json_object *by_sub; /* lower-case subscription id -> its
				       resources, in the order of the list */
	struct json_object *ops;    /* long-running operations by id */
	struct json_object
		*pending; /* the operations of ops not yet ended, by id */
	int64_t next_due; /* no pending operation ends before this time
			     (INT64_MAX: none pending) */
	struct json_object
		*grants;         /* refresh tokens and device codes by value */
	struct json_object *log; /* the request log (array) */
	struct json_object
		*faults; /* active fault rules (array, with "left" counters) */
	struct json_object *roles;      /* role definitions by lower-case GUID:
					   built-in and custom */
	struct json_object *ra_index;   /* lower-case principal id -> its role
					   assignments (state.c), or NULL */
	struct json_object *ra_indexed; /* the list ra_index was built from */
	size_t ra_indexed_len;          /* its length then */
	unsigned long ra_indexed_gen;   /* the generation then */
	unsigned long ra_changes;       /* bumped by each change to the role
					   assignments */
	unsigned long ra_indexed_changes; /* ra_changes then */
	struct json_object
		*health; /* Resource Health records by lower-case resource id */
	struct sim_settings set;
	struct sim_tls tls;
	struct MHD_Daemon *https;
	struct MHD_Daemon *identity;
	struct sim_proxy *proxy;
	int https_port, proxy_port, identity_port;
	int latency_override; /* -1, or the --latency-ms value */
	FILE *logfile;
	int64_t clock_offset; /* seconds added to the real clock by POST /clock
			       */
	unsigned long conn_seq; /* connections accepted so far */
	unsigned long req_seq;  /* requests answered so far */
	unsigned long
		generation; /* bumped by every request that may change state */
	struct rg_kept *rg_kept; /* Resource Graph results kept for their later
				    pages (rg.c), or NULL */
	unsigned long
		rg_seq; /* the last id or use order given to a kept result */
	struct rg_table *rg_table; /* Resource Graph's rows of every resource,
				      as of one generation (rg.c), or NULL */
	struct rg_use *rg_use;     /* each principal's Resource Graph queries in
				      its quota's window (rg.c) */
	size_t nrg_use;
	struct json_object *deployments; /* template deployments by lower-case
					    id (deploy.c) */
};

/* One HTTP request, collected across MHD's calls. */
struct sim_req {
	struct sim *sim;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *host; /* lower-case, without the port */
	enum host_kind kind;
	char *dataplane; /* vault or HSM name for data-plane hosts */
	struct sbuf body;
	bool too_large;
	struct json_object *json;   /* the body, parsed on demand */
	struct json_object *claims; /* verified token claims, or NULL */
	const char *oid;            /* the caller's object id, from claims */
	unsigned long conn_id;
	struct json_object *entry; /* this request's log entry */
	bool lro_fail; /* a fault asked the LRO this request starts to fail */
	bool graph_truncated; /* a fault asked this Resource Graph page to
				 come without the rest (no $skipToken) */
	struct json_object *op_error; /* the error the operation this request
					 starts fails with, or NULL */
	struct json_object *iargs;    /* an internal request's query arguments
					 (deploy.c): conn is NULL */
};

#define SIM_MAX_HEADERS 12

/* The response a handler builds. */
struct sim_resp {
	int status;
	struct json_object *json; /* owned */
	char *raw;                /* owned; used when json is NULL */
	size_t rawlen;
	const char *ctype;
	char *hname[SIM_MAX_HEADERS];
	char *hvalue[SIM_MAX_HEADERS];
	int nheaders;
	int extra_latency_ms;
	enum fault_kind spoil; /* FAULT_STATUS means none */
};

/* http.c */
const char *req_arg(struct sim_req *rq, const char *name);
const char *req_header(struct sim_req *rq, const char *name);
struct json_object *req_json(struct sim_req *rq, struct sim_resp *rs);
void resp_json(struct sim_resp *rs, int status, struct json_object *body);
void resp_raw(struct sim_resp *rs, int status, const char *ctype,
	      const char *body);
void resp_header(struct sim_resp *rs, const char *name, const char *value);
void resp_error(struct sim_resp *rs, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int64_t sim_now(struct sim *s);
void sim_random_uuid(char out[37]);
void sim_random_hex(char *out, size_t nbytes);
char *sim_host_url(struct sim_req *rq);

/* state.c */
int state_load(struct sim *s, char **err);
void state_free(struct sim *s);
struct json_object *state_resource(struct sim *s, const char *id);
struct json_object *state_resources_under(struct sim *s, const char *scope);
void state_put_resource(struct sim *s, struct json_object *res);
void state_normalize_location(struct json_object *res);
void state_del_resource(struct sim *s, const char *id);
struct json_object *state_vault_by_name(struct sim *s, const char *name,
					bool hsm);
struct json_object *state_role_definition(struct sim *s,
					  const char *id_or_guid);
/* authz.c */
struct json_object *authz_keep(struct sim *s, const char *name,
			       const char *scope, const char *principal,
			       const char *guid);
void authz_envelope(struct json_object *o, struct json_object *props,
		    const char *id, const char *name);
/* hsm.c */
bool hsm_local_role(struct sim *s, const char *role);
bool hsm_rbac_handle(struct sim_req *rq, struct sim_resp *rs,
		     struct json_object *hsm);
struct json_object *state_role_definitions(struct sim *s);
void state_refresh_roles(struct sim *s);
void state_assignments_changed(struct sim *s);
struct json_object *state_principal(struct sim *s, const char *object_id);
struct json_object *state_principals(struct sim *s);
bool state_allows(struct sim *s, const char *oid, const char *scope,
		  const char *action, bool data);
bool state_scope_covers(const char *assignment_scope, const char *target);
bool state_denied(struct sim *s, const char *oid, const char *scope,
		  const char *action, bool data);
struct json_object *state_effective_permissions(struct sim *s, const char *oid,
						const char *scope);
bool state_can_see_subscription(struct sim *s, const char *oid,
				const char *sub);
int64_t state_access_changes_at(struct sim *s);
const char *state_tenant(struct sim *s);
char *role_guid(const char *id);

/* roles.c */

/* entra.c */
void entra_handle(struct sim_req *rq, struct sim_resp *rs);
char *entra_mint(struct sim *s, const char *oid, const char *appid,
		 const char *audience, bool user);
const char *entra_audience_kind(const char *aud, enum host_kind *kind);
bool entra_check_bearer(struct sim_req *rq, struct sim_resp *rs,
			enum host_kind want);
const char *entra_verify(struct sim *s, const char *authz, enum host_kind want,
			 struct json_object **claims, char **msg);

/* arm.c, authz.c, services.c, rg.c, deploy.c */
void arm_handle(struct sim_req *rq, struct sim_resp *rs);
void arm_route(struct sim_req *rq, struct sim_resp *rs);
struct json_object *arm_subscription(struct sim *s, const char *sub);
bool deploy_handle(struct sim_req *rq, struct sim_resp *rs);
void resp_free(struct sim_resp *rs);
void ops_track(struct sim *s, const char *opid, struct json_object *op);
struct json_object *ops_finish_now(struct sim *s, const char *opid);
void policy_definition_handle(struct sim_req *rq, struct sim_resp *rs,
			      const char *scope, const char *name,
			      const char *rest);
bool policy_assignment_handle(struct sim_req *rq, struct sim_resp *rs,
			      const char *scope, const char *name);
bool authz_handle(struct sim_req *rq, struct sim_resp *rs);
bool arm_require(struct sim_req *rq, struct sim_resp *rs, const char *scope,
		 const char *action);
void arm_answer_page(struct sim_req *rq, struct sim_resp *rs,
		     struct json_object *items);
struct json_object *arm_system_data(struct sim_req *rq,
				    struct json_object *old);
void arm_not_found(struct sim_resp *rs, const struct armid *id);
const char *arm_vault_suffix(struct sim_req *rq, bool hsm);
struct json_object *sim_iso_time(int64_t t, bool fraction);
void rg_handle(struct sim_req *rq, struct sim_resp *rs);
void rg_free(struct sim *s);
void rg_state_changed(struct sim *s);
void rg_index(struct sim *s);
int services_write(struct sim_req *rq, struct sim_resp *rs,
		   struct json_object *cur, struct json_object *body,
		   bool patch);
bool services_is_service(const char *type);
void ops_handle(struct sim_req *rq, struct sim_resp *rs, const char *opid,
		bool location);
void ops_sweep(struct sim *s);
bool services_key_usable(struct sim *s, struct json_object *r);
bool services_principal_can_use(struct sim *s, const char *vault_uri,
				const char *key, const char *oid,
				const char **why);
bool locker_is(const char *type);
void locker_write(struct sim_req *rq, struct sim_resp *rs,
		  struct json_object *cur, struct json_object *body,
		  bool patch);

/* Resource Health (health.c) */
void health_track(struct sim *s);
void health_refreshed(struct sim *s, const char *id);
bool health_handle(struct sim_req *rq, struct sim_resp *rs);

/* Azure Policy (policy.c) */
struct json_object *policy_denials(struct sim *s, struct json_object *res);
bool policy_allows_write(struct sim_req *rq, struct sim_resp *rs,
			 struct json_object *next);
void policy_check_restrictions(struct sim_req *rq, struct sim_resp *rs);

/* kv.c, graph.c, admin.c, identity.c, proxy.c */
void kv_handle(struct sim_req *rq, struct sim_resp *rs);
struct json_object *kv_key_versions(struct sim *s, const char *vault,
				    const char *key);
struct json_object *kv_current_version(struct sim *s, const char *vault,
				       const char *key);
bool kv_arm_key_type(const char *type);
void kv_arm_keys(struct sim_req *rq, struct sim_resp *rs,
		 const struct armid *id);
void graph_handle(struct sim_req *rq, struct sim_resp *rs);
void admin_handle(struct sim_req *rq, struct sim_resp *rs);
void identity_handle(struct sim_req *rq, struct sim_resp *rs);
struct MHD_Daemon *http_daemon(struct sim *s, int port, bool tls);
struct sim_proxy *proxy_start(struct sim *s, int port, int target_port,
			      char **err);
int proxy_port(const struct sim_proxy *p);
void proxy_stop(struct sim_proxy *p);
bool sim_host_known(struct sim *s, const char *host);
enum host_kind sim_classify_host(struct sim *s, const char *host,
				 char **dataplane);

/* faults (http.c) */
bool faults_add(struct sim *s, struct json_object *rule, char **err);

void sim_system_principal(struct sim_req *rq, struct json_object *id,
			  const char *old);

#endif
