/* The simulator's HTTPS front door: collects requests, applies faults and
 * latency, dispatches, logs. */
#include "config.h"

#include <fnmatch.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>

#include "jx.h"
#include "scenario.h"
#include "sim-int.h"
#include "text.h"
#include "uuid.h"
#include "xalloc.h"

#define MAX_BODY (8u << 20)
#define MAX_LOG_ENTRIES 200000

/* Query parameters whose values are secrets and never reach the log. */
static const char *const SECRET_ARGS[] = { "client_secret", "client_assertion",
					   "code",          "device_code",
					   "refresh_token", "access_token",
					   "assertion",     NULL };

/* Returns the simulated clock: real time plus what POST /clock added. */
int64_t sim_now(struct sim *s)
{
	return (int64_t)time(NULL) + s->clock_offset;
}

/*
 * Set for good once OpenSSL's random generator (one per process) fails: the
 * request that met the failure may have stored ids that are not random, so
 * that request and every later one, in every simulator of the process, is
 * refused with a 500 (produce) and nothing built from those ids is served.
 */
static atomic_bool random_failed;

/* Fills b with n random bytes; on failure zeroes them (never left
 * uninitialised) and sets random_failed. */
static bool random_bytes(unsigned char *b, size_t n)
{
	if (RAND_bytes(b, (int)n) == 1)
		return true;
	memset(b, 0, n);
	atomic_store(&random_failed, true);
	return false;
}

/* Writes a random version 4 UUID; false (all zeros, the simulator refusing from
 * then on) when the generator failed. */
static bool random_uuid(char out[37])
{
	unsigned char b[16];
	bool ok = random_bytes(b, sizeof(b));

	uuid_format_v4(b, out);
	return ok;
}

/* Writes a random version 4 UUID (see random_failed for a generator failure).
 */
void sim_random_uuid(char out[37])
{
	random_uuid(out);
}

/* Writes nbytes random bytes as lower-case hex (out needs 2 * nbytes + 1; see
 * random_failed for a failure). */
void sim_random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	random_bytes(b, nbytes);
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Returns "https://host" for the request's own host, as links in responses
 * need. */
char *sim_host_url(struct sim_req *rq)
{
	return xasprintf("https://%s", rq->host);
}

/* Returns a query parameter (already decoded by MHD), or NULL. */
const char *req_arg(struct sim_req *rq, const char *name)
{
	if (!rq->conn)
		return jx_str(rq->iargs, name);
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

/* Returns a request header (case-insensitive name), or NULL. */
const char *req_header(struct sim_req *rq, const char *name)
{
	if (!rq->conn)
		return NULL;
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* Parses the JSON body once; on failure fills an error response in the host's
 * style and returns NULL. */
struct json_object *req_json(struct sim_req *rq, struct sim_resp *rs)
{
	char *err = NULL;

	if (rq->json)
		return rq->json;
	rq->json = jx_parse(sb_str(&rq->body), rq->body.len, &err);
	if (rq->json && json_object_is_type(rq->json, json_type_object))
		return rq->json;
	if (rq->kind == HOST_VAULT || rq->kind == HOST_HSM)
		resp_error(rs, 400, "BadParameter",
			   "The request body is not valid JSON: %s",
			   err ? err : "expected an object");
	else
		resp_error(rs, 400, "InvalidRequestContent",
			   "The request content was invalid and could not be "
			   "deserialized: '%s'.",
			   err ? err : "expected a JSON object");
	free(err);
	json_object_put(rq->json);
	rq->json = NULL;
	return NULL;
}

/* Sets a JSON response; takes ownership of body. */
void resp_json(struct sim_resp *rs, int status, struct json_object *body)
{
	json_object_put(rs->json);
	free(rs->raw);
	rs->raw = NULL;
	rs->status = status;
	rs->json = body;
	rs->ctype = "application/json; charset=utf-8";
}

/* Sets a non-JSON (or empty) response body. */
void resp_raw(struct sim_resp *rs, int status, const char *ctype,
	      const char *body)
{
	json_object_put(rs->json);
	free(rs->raw);
	rs->json = NULL;
	rs->status = status;
	rs->raw = xstrdup(body ? body : "");
	rs->rawlen = strlen(rs->raw);
	rs->ctype = ctype;
}

/* Adds a response header (ignored past the limit). */
void resp_header(struct sim_resp *rs, const char *name, const char *value)
{
	if (rs->nheaders >= SIM_MAX_HEADERS)
		return;
	rs->hname[rs->nheaders] = xstrdup(name);
	rs->hvalue[rs->nheaders] = xstrdup(value);
	rs->nheaders++;
}

/* Sets an Azure error response: {"error": {"code": ..., "message": ...}}. */
void resp_error(struct sim_resp *rs, int status, const char *code,
		const char *fmt, ...)
{
	struct json_object *body = json_object_new_object(),
			   *err = json_object_new_object();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(body, "error", err);
	free(msg);
	resp_json(rs, status, body);
}

/* Appends one query parameter to a log line, hiding secret values. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	struct sbuf *b = cls;
	bool secret = false;

	for (int i = 0; SECRET_ARGS[i]; i++)
		secret |= strcasecmp(key, SECRET_ARGS[i]) == 0;
	sb_printf(b, "%s%s=%s", b->len ? "&" : "", key,
		  secret ? "[redacted]" : (value ? value : ""));
	return MHD_YES;
}

/* Starts the log entry of a request (the caller holds the lock). */
static void log_begin(struct sim_req *rq)
{
	struct json_object *e = json_object_new_object();
	struct sbuf q = SBUF_INIT;
	const char *crid = req_header(rq, "x-ms-client-request-id");

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	json_object_object_add(
		e, "seq", json_object_new_int64((int64_t)++rq->sim->req_seq));
	json_object_object_add(e, "time",
			       json_object_new_int64(sim_now(rq->sim)));
	json_object_object_add(e, "conn",
			       json_object_new_int64((int64_t)rq->conn_id));
	json_object_object_add(e, "method", json_object_new_string(rq->method));
	json_object_object_add(e, "host", json_object_new_string(rq->host));
	json_object_object_add(e, "path", json_object_new_string(rq->path));
	json_object_object_add(e, "query", json_object_new_string(sb_str(&q)));
	if (crid)
		json_object_object_add(e, "clientRequestId",
				       json_object_new_string(crid));
	sb_free(&q);
	rq->entry = e;
}

/* Finishes a log entry with the outcome, keeps it in memory and writes it to
 * the log file. */
static void log_end(struct sim_req *rq, const struct sim_resp *rs,
		    const char *fault)
{
	struct sim *s = rq->sim;

	json_object_object_add(rq->entry, "status",
			       json_object_new_int(rs->status));
	if (rq->oid)
		json_object_object_add(rq->entry, "principal",
				       json_object_new_string(rq->oid));
	if (fault)
		json_object_object_add(rq->entry, "fault",
				       json_object_new_string(fault));
	if (rq->kind == HOST_ADMIN) {
		json_object_put(rq->entry);
	} else {
		if (s->logfile) {
			fprintf(s->logfile, "%s\n", jx_text(rq->entry));
			fflush(s->logfile);
		}
		if (json_object_array_length(s->log) < MAX_LOG_ENTRIES)
			json_object_array_add(s->log, rq->entry);
		else
			json_object_put(rq->entry);
	}
	rq->entry = NULL;
}

/* Tells whether a glob from a fault rule matches a value (absent or "*" matches
 * all). */
static bool glob_ok(const char *glob, const char *value)
{
	return !glob || strcmp(glob, "*") == 0 ||
	       fnmatch(glob, value, FNM_CASEFOLD) == 0;
}

static const char *const FAULT_NAMES[] = { "status",   "reset",
					   "truncate", "malformed",
					   "latency",  "lroFail",
					   "chunked",  "graphTruncated" };

/* Returns the fault kind a rule names (or implies: status when it gives one,
 * else latency). */
static enum fault_kind fault_kind_of(struct json_object *rule)
{
	const char *const *names = FAULT_NAMES;
	const char *k = jx_str(rule, "kind");

	for (size_t i = 0;
	     k && i < sizeof(FAULT_NAMES) / sizeof(FAULT_NAMES[0]); i++)
		if (strcmp(k, names[i]) == 0)
			return (enum fault_kind)i;
	return jx_has(rule, "status") ? FAULT_STATUS : FAULT_LATENCY;
}

/* Tells whether the request's body contains text (no text: any body does). */
static bool body_has(struct sim_req *rq, const char *text)
{
	return !text || memmem(sb_str(&rq->body), rq->body.len, text,
			       strlen(text)) != NULL;
}

/* Finds the first fault rule matching the request and uses up one of its times.
 */
static struct json_object *fault_match(struct sim_req *rq)
{
	size_t n = jx_len(rq->sim->faults);

	for (size_t i = 0; i < n; i++) {
		struct json_object *f = jx_at(rq->sim->faults, i);
		const char *m = jx_str(f, "method");
		int64_t left = jx_int(f, "left", -1);

		if ((m && strcmp(m, "*") != 0 &&
		     strcasecmp(m, rq->method) != 0) ||
		    !glob_ok(jx_str(f, "host"), rq->host) ||
		    !glob_ok(jx_str(f, "path"), rq->path) ||
		    !body_has(rq, jx_str(f, "requestContains")))
			continue;
		json_object_get(f);
		if (left > 0)
			json_object_object_add(f, "left",
					       json_object_new_int64(left - 1));
		if (left == 1)
			json_object_array_del_idx(rq->sim->faults, i, 1);
		return f;
	}
	return NULL;
}

/* Returns Azure's error code for a status that a fault injects. */
static const char *status_code_name(int status)
{
	switch (status) {
	case 408:
		return "RequestTimeout";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalServerError";
	case 502:
		return "BadGateway";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "GatewayTimeout";
	default:
		return "SimulatedFault";
	}
}

/* Answers with the status a fault rule asks for, with its retry headers. */
static void fault_respond(struct sim_resp *rs, struct json_object *f)
{
	int status = (int)jx_int(f, "status", 500);
	const char *code = jx_str(f, "code");
	const char *msg = jx_str(f, "message");
	char num[32];

	if (jx_get(f, "body"))
		resp_json(rs, status, jx_copy(jx_get(f, "body")));
	else
		resp_error(rs, status, code ? code : status_code_name(status),
			   "%s",
			   msg ? msg : "The simulator injected this fault.");
	if (jx_has(f, "retryAfter")) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)jx_int(f, "retryAfter", 0));
		resp_header(rs, "Retry-After", num);
	}
	if (jx_str(f, "wwwAuthenticate"))
		resp_header(rs, "WWW-Authenticate",
			    jx_str(f, "wwwAuthenticate"));
	if (jx_has(f, "retryAfterMs")) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)jx_int(f, "retryAfterMs", 0));
		resp_header(rs, "x-ms-retry-after-ms", num);
	}
}

/* Applies a matched fault; returns true when it replaces the real answer. */
static bool fault_apply(struct sim_req *rq, struct sim_resp *rs,
			struct json_object *f)
{
	enum fault_kind k = fault_kind_of(f);

	rs->extra_latency_ms += (int)jx_int(f, "latencyMs", 0);
	switch (k) {
	case FAULT_STATUS:
		fault_respond(rs, f);
		return true;
	case FAULT_RESET:
		rs->spoil = FAULT_RESET;
		rs->status = 0;
		return true;
	case FAULT_CHUNKED:
		/* With a status, the fault's own answer is the one sent
		 * chunked. */
		rs->spoil = k;
		if (!jx_has(f, "status"))
			return false;
		fault_respond(rs, f);
		rs->spoil = k;
		return true;
	case FAULT_TRUNCATE:
	case FAULT_MALFORMED:
		rs->spoil = k;
		return false;
	case FAULT_LRO_FAIL:
		rq->lro_fail = true;
		return false;
	case FAULT_GRAPH_TRUNCATED:
		rq->graph_truncated = true;
		return false;
	case FAULT_LATENCY:
		return false;
	}
	return false;
}

/* Routes a request to the module that serves its host. */
static void dispatch(struct sim_req *rq, struct sim_resp *rs)
{
	switch (rq->kind) {
	case HOST_LOGIN:
		entra_handle(rq, rs);
		break;
	case HOST_ARM:
		arm_handle(rq, rs);
		break;
	case HOST_VAULT:
	case HOST_HSM:
		kv_handle(rq, rs);
		break;
	case HOST_GRAPH:
		graph_handle(rq, rs);
		break;
	case HOST_ADMIN:
		admin_handle(rq, rs);
		break;
	case HOST_IDENTITY:
		identity_handle(rq, rs);
		break;
	case HOST_UNKNOWN:
		resp_error(rs, 404, "UnknownHost",
			   "The simulator does not serve the host '%s'.",
			   rq->host);
		break;
	}
}

/* Returns a copy of a Resource Manager path with each run of slashes made one,
 * or NULL when it has none. */
static char *arm_path_squeeze(const char *path)
{
	char *out, *w;

	if (!strstr(path, "//"))
		return NULL;
	out = xstrdup(path);
	w = out;
	for (const char *r = path; *r; r++)
		if (*r != '/' || w == out || w[-1] != '/')
			*w++ = *r;
	*w = '\0';
	return out;
}

/* Replaces whatever was answered with the 500 of a simulator whose random
 * generator failed. */
static void refuse_no_random(struct sim_resp *rs)
{
	resp_free(rs);
	rs->spoil = FAULT_STATUS;
	resp_error(rs, 500, "InternalServerError",
		   "The simulator's random generator (OpenSSL RAND_bytes) "
		   "failed, so "
		   "it refuses every request from now on: check the system's "
		   "random source, then restart it.");
}

/*
 * Turns a JSON answer into its text, and drops the request's parsed body,
 * under the simulator's lock: their values may be shared with the state and
 * with other answers (the Resource Graph index), and json-c counts references
 * without atomic operations.
 */
static void release_shared(struct sim_req *rq, struct sim_resp *rs)
{
	if (rs->json) {
		free(rs->raw);
		rs->raw = xstrdup(jx_text(rs->json));
		rs->rawlen = strlen(rs->raw);
		json_object_put(rs->json);
		rs->json = NULL;
	}
	json_object_put(rq->json);
	rq->json = NULL;
}

/*
 * Produces the answer under the lock, after ending the operations whose time
 * is up; returns the delay in ms. The request's id goes to id ("" when the
 * random generator failed, and then the request is refused, not served).
 */
static int produce(struct sim_req *rq, struct sim_resp *rs, char id[37])
{
	struct sim *s = rq->sim;
	struct json_object *fault = NULL;
	unsigned long generation;
	const char *sent = rq->path;
	char *squeezed = NULL;
	int latency;

	pthread_mutex_lock(&s->lock);
	if (!random_uuid(id))
		id[0] = '\0';
	ops_sweep(s);
	generation = s->generation;
	if (rq->kind != HOST_IDENTITY)
		rq->kind = sim_classify_host(s, rq->host, &rq->dataplane);
	log_begin(rq);
	/*
	 * Resource Manager reads ".../providers/NS//TYPE/NAME" as
	 * ".../providers/NS/TYPE/NAME": the specs' own templates
	 * ".../providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}"
	 * (Resources_Get, Permissions_ListForResource in azure-rest-api-specs)
	 * give "//" for a top-level resource's empty parentResourcePath, as the
	 * Azure CLI's `az resource show` sends it (Azure/azure-cli,
	 * command_modules/resource/custom.py passes "parent_resource_path or
	 * ''"), and so does @azure/arm-authorization.
	 */
	if (rq->kind == HOST_ARM &&
	    (squeezed = arm_path_squeeze(rq->path)) != NULL)
		rq->path = squeezed;
	if (rq->kind != HOST_ADMIN)
		fault = fault_match(rq);
	if (strcmp(rq->method, "GET") != 0 && rq->kind != HOST_LOGIN &&
	    rq->kind != HOST_IDENTITY &&
	    !str_istarts(rq->path, "/providers/Microsoft.ResourceGraph/"))
		s->generation++;
	if (rq->too_large)
		resp_error(rs, 413, "RequestEntityTooLarge",
			   "The request body is larger than %u bytes.",
			   MAX_BODY);
	else if (!atomic_load(&random_failed) &&
		 (!fault || !fault_apply(rq, rs, fault)))
		dispatch(rq, rs);
	if (atomic_load(&random_failed))
		refuse_no_random(rs);
	/* What a change did to the DICOM services' key access, as Resource
	 * Health will tell; the Resource Graph results it made stale are
	 * freed. */
	if (s->generation != generation) {
		health_track(s);
		rg_state_changed(s);
	}
	log_end(rq, rs, fault ? FAULT_NAMES[fault_kind_of(fault)] : NULL);
	json_object_put(fault);
	latency = rq->kind == HOST_ADMIN
			  ? 0
			  : (s->latency_override >= 0 ? s->latency_override
						      : s->set.latency_ms);
	latency += rs->extra_latency_ms;
	release_shared(rq, rs);
	pthread_mutex_unlock(&s->lock);
	rq->path = sent;
	free(squeezed);
	return latency;
}

/* Serves half of a body and then fails, so the client sees a truncated
 * transfer. */
static ssize_t truncated_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sim_resp *rs = cls;
	size_t half = rs->rawlen / 2;

	if (pos >= half)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (max > half - pos)
		max = half - pos;
	memcpy(buf, rs->raw + pos, max);
	return (ssize_t)max;
}

/* Serves the whole body with no length announced (HTTP/1.1 sends it
 * chunked). */
static ssize_t unsized_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sim_resp *rs = cls;

	if (pos >= rs->rawlen)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > rs->rawlen - pos)
		max = rs->rawlen - pos;
	memcpy(buf, rs->raw + pos, max);
	return (ssize_t)max;
}

/* Frees a response's owned parts. */
void resp_free(struct sim_resp *rs)
{
	json_object_put(rs->json);
	free(rs->raw);
	for (int i = 0; i < rs->nheaders; i++) {
		free(rs->hname[i]);
		free(rs->hvalue[i]);
	}
	memset(rs, 0, sizeof(*rs));
}

/* Frees a heap copy of a response once MHD is done with a truncated body. */
static void free_heap_resp(void *cls)
{
	resp_free(cls);
	free(cls);
}

/* Turns the handler's answer into an MHD response, spoiling it as a fault
 * asked. */
static struct MHD_Response *build(struct sim_resp *rs)
{
	struct MHD_Response *r;

	if (rs->json) {
		rs->raw = xstrdup(jx_text(rs->json));
		rs->rawlen = strlen(rs->raw);
	}
	if (!rs->raw) {
		rs->raw = xstrdup("");
		rs->rawlen = 0;
	}
	if (rs->spoil == FAULT_MALFORMED) {
		rs->rawlen = rs->rawlen / 2;
		rs->raw[rs->rawlen] = '\0';
		rs->raw = xrealloc(rs->raw, rs->rawlen + 16);
		memcpy(rs->raw + rs->rawlen, "\x01{\"tr", 6);
		rs->rawlen += 5;
	}
	if ((rs->spoil == FAULT_TRUNCATE && rs->rawlen > 1) ||
	    rs->spoil == FAULT_CHUNKED) {
		struct sim_resp *copy = xmalloc(sizeof(*copy));
		bool whole = rs->spoil == FAULT_CHUNKED;

		*copy = *rs;
		copy->json = NULL;
		copy->nheaders = 0;
		rs->raw = NULL;
		r = MHD_create_response_from_callback(
			whole ? MHD_SIZE_UNKNOWN : copy->rawlen, 4096,
			whole ? unsized_reader : truncated_reader, copy,
			free_heap_resp);
	} else {
		r = MHD_create_response_from_buffer(rs->rawlen, rs->raw,
						    MHD_RESPMEM_MUST_COPY);
	}
	return r;
}

/* Adds the headers Azure puts on every answer; id is the request's ("": none,
 * the generator failed). */
static void add_std_headers(struct sim_req *rq, struct sim_resp *rs,
			    struct MHD_Response *r, const char *id)
{
	const char *crid = req_header(rq, "x-ms-client-request-id");

	if (rs->ctype && (rs->rawlen || rs->json))
		MHD_add_response_header(r, "Content-Type", rs->ctype);
	if (*id) {
		MHD_add_response_header(r, "x-ms-request-id", id);
		MHD_add_response_header(r, "x-ms-correlation-request-id", id);
	}
	if (crid)
		MHD_add_response_header(r, "x-ms-client-request-id", crid);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	for (int i = 0; i < rs->nheaders; i++)
		MHD_add_response_header(r, rs->hname[i], rs->hvalue[i]);
}

/* Answers a complete request. */
static enum MHD_Result respond(struct sim_req *rq)
{
	struct sim_resp rs = { .spoil = FAULT_STATUS };
	struct MHD_Response *r;
	enum MHD_Result ret;
	char id[37];
	int latency = produce(rq, &rs, id);

	if (latency > 0) {
		struct timespec ts = { latency / 1000,
				       (long)(latency % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (rs.spoil == FAULT_RESET) {
		resp_free(&rs);
		return MHD_NO;
	}
	r = build(&rs);
	add_std_headers(rq, &rs, r, id);
	ret = MHD_queue_response(rq->conn, (unsigned)rs.status, r);
	MHD_destroy_response(r);
	resp_free(&rs);
	return ret;
}

/* Makes the per-request state on MHD's first call for a request. */
static struct sim_req *req_new(struct sim *s, struct MHD_Connection *conn,
			       const char *url, const char *method)
{
	struct sim_req *rq = xcalloc(1, sizeof(*rq));
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_HOST);
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	char *colon;

	rq->sim = s;
	rq->conn = conn;
	rq->method = method;
	rq->path = url;
	rq->host = str_lower(host ? host : "");
	if (rq->host[0] != '[' && (colon = strchr(rq->host, ':')) != NULL)
		*colon = '\0';
	const union MHD_ConnectionInfo *di =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);

	if (ci && ci->socket_context)
		rq->conn_id = *(unsigned long *)ci->socket_context;
	if (di && di->daemon == s->identity)
		rq->kind = HOST_IDENTITY;
	return rq;
}

/* MHD's access handler: collects the body across calls, then answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct sim_req *rq = *con_cls;

	if (!rq) {
		*con_cls = req_new(cls, conn, url, method);
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->body.len + *upload_size > MAX_BODY)
			rq->too_large = true;
		else
			sb_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return respond(rq);
}

/* Frees a request once MHD has finished with it. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct sim_req *rq = *con_cls;

	if (!rq)
		return;
	free(rq->host);
	free(rq->dataplane);
	sb_free(&rq->body);
	json_object_put(rq->json);
	json_object_put(rq->claims);
	json_object_put(rq->entry);
	free(rq);
	*con_cls = NULL;
}

/* Numbers each connection so the log shows which requests shared one (TLS
 * handshakes). */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct sim *s = cls;
	unsigned long *id;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*socket_context);
		*socket_context = NULL;
		return;
	}
	id = xmalloc(sizeof(*id));
	pthread_mutex_lock(&s->lock);
	*id = ++s->conn_seq;
	pthread_mutex_unlock(&s->lock);
	*socket_context = id;
}

/* Starts an MHD daemon on 127.0.0.1; tls selects HTTPS with the simulator's
 * certificate. */
struct MHD_Daemon *http_daemon(struct sim *s, int port, bool tls)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	unsigned flags =
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (tls)
		return MHD_start_daemon(
			flags | MHD_USE_TLS, 0, NULL, NULL, on_request, s,
			MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_HTTPS_MEM_KEY,
			s->tls.key_pem, MHD_OPTION_HTTPS_MEM_CERT,
			s->tls.cert_pem, MHD_OPTION_NOTIFY_COMPLETED,
			on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
			on_connection, s, MHD_OPTION_CONNECTION_TIMEOUT, 300u,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			(size_t)(128 * 1024),
			MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
	return MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_CONNECTION_TIMEOUT, 300u,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
}

/* Adds a fault rule after checking it; the caller holds the lock. */
bool faults_add(struct sim *s, struct json_object *rule, char **err)
{
	struct json_object *copy;

	if (!scenario_validate_fault(rule, "$", err))
		return false;
	copy = jx_copy(rule);
	json_object_object_add(
		copy, "left", json_object_new_int64(jx_int(rule, "times", -1)));
	json_object_array_add(s->faults, copy);
	return true;
}
