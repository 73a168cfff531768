/* The simulated Resource Health: the four services' availability as their key
 * access comes and goes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/*
 * A DICOM service without its key for more than this many seconds stays
 * unavailable, once the key is back, until it is updated: "If key access is
 * lost for more than 30 minutes, make sure you update the DICOM service to
 * refresh the key access ... If you don't also update the DICOM service, it
 * continues to be unavailable even when key access is restored"
 * (learn.microsoft.com/azure/healthcare-apis/dicom/configure-customer-managed-keys).
 */
#define REFRESH_AFTER 1800

#define DICOM_TYPE "Microsoft.HealthcareApis/workspaces/dicomservices"
#define HEALTH "/providers/Microsoft.ResourceHealth/availabilityStatuses"

/* Returns the health record of a resource (created empty), borrowed. */
static struct json_object *record(struct sim *s, const char *id)
{
	char *key = str_lower(id);
	struct json_object *r = NULL;

	/* Not jx_get: a resource id has dots, which jx_get reads as a path. */
	if (!json_object_object_get_ex(s->health, key, &r)) {
		r = json_object_new_object();
		json_object_object_add(s->health, key, r);
	}
	free(key);
	return r;
}

/*
 * Tells whether a resource is one of the four services, each of which stops
 * serving its data while it cannot reach its customer-managed key (their
 * pages: learn.microsoft.com/azure/ai-foundry/concepts/encryption-keys-portal,
 * .../healthcare-apis/dicom/customer-managed-keys, .../health-bot/cmk). A
 * service on Microsoft-managed keys is always usable (services_key_usable).
 */
static bool watched(struct json_object *r)
{
	return services_is_service(jx_str(r, "type"));
}

/* Updates one service's record: when its key went, and, for a DICOM service,
 * whether it came back too late. */
static void track_one(struct sim *s, struct json_object *r)
{
	struct json_object *h = record(s, jx_str(r, "id"));
	int64_t now = sim_now(s), since = jx_int(h, "lostSince", 0);

	if (!services_key_usable(s, r)) {
		if (!since)
			json_object_object_add(h, "lostSince",
					       json_object_new_int64(now));
		return;
	}
	if (since && now - since > REFRESH_AFTER &&
	    str_ieq(jx_str(r, "type"), DICOM_TYPE)) {
		json_object_object_add(h, "refreshNeeded",
				       json_object_new_boolean(true));
		json_object_object_add(h, "lostFor",
				       json_object_new_int64(now - since));
	}
	json_object_object_del(h, "lostSince");
}

/* Notes, after anything that may change key access (and before a health
 * answer), each service's state. */
void health_track(struct sim *s)
{
	struct json_object *list = jx_get(s->doc, "resources");

	for (size_t i = 0; i < jx_len(list); i++)
		if (watched(jx_at(list, i)))
			track_one(s, jx_at(list, i));
}

/* Clears the refresh a DICOM service needed: it was just saved with a key it
 * can use. */
void health_refreshed(struct sim *s, const char *id)
{
	struct json_object *h = record(s, id);

	json_object_object_del(h, "refreshNeeded");
	json_object_object_del(h, "lostFor");
	json_object_object_del(h, "lostSince");
}

/* Names a service's kind as Resource Health's summaries do. */
static const char *kind_of(const char *type)
{
	if (str_ieq(type, DICOM_TYPE))
		return "DICOM service";
	if (str_ieq(type, "Microsoft.HealthBot/healthBots"))
		return "healthcare agent service";
	return "Azure AI services resource";
}

/*
 * Builds the current availability status of a resource, in the shape of
 * Microsoft's example (AvailabilityStatus_GetByResource.json, Resource
 * Health 2025-05-01; note the wire name "occuredTime").
 */
static struct json_object *status_json(struct sim *s, struct json_object *r)
{
	struct json_object *o = json_object_new_object(),
			   *p = json_object_new_object();
	struct json_object *h = record(s, jx_str(r, "id"));
	bool lost = jx_int(h, "lostSince", 0) != 0,
	     stale = jx_bool(h, "refreshNeeded", false);
	const char *state = lost || stale ? "Unavailable" : "Available";
	char *id = xasprintf("%s%s/current", jx_str(r, "id"), HEALTH);
	char *lost_text = xasprintf("We're sorry, your %s cannot access its "
				    "customer-managed encryption key.",
				    kind_of(jx_str(r, "type")));
	const char *summary =
		lost    ? lost_text
		: stale ? "Your DICOM service lost access to its "
			  "customer-managed encryption key for more than "
			  "30 minutes. Update the DICOM service to refresh the "
			  "key access."
			: "There aren't any known Azure platform problems "
			  "affecting this resource.";

	json_object_object_add(p, "availabilityState",
			       json_object_new_string(state));
	json_object_object_add(p, "title", json_object_new_string(state));
	json_object_object_add(p, "summary", json_object_new_string(summary));
	json_object_object_add(
		p, "reasonType",
		json_object_new_string(lost || stale ? "Customer Initiated"
						     : ""));
	json_object_object_add(p, "reasonChronicity",
			       json_object_new_string(lost || stale
							      ? "Persistent"
							      : "Transient"));
	json_object_object_add(
		p, "occuredTime",
		sim_iso_time(lost ? jx_int(h, "lostSince", 0) : sim_now(s),
			     false));
	json_object_object_add(p, "reportedTime",
			       sim_iso_time(sim_now(s), false));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "name", json_object_new_string("current"));
	json_object_object_add(
		o, "type",
		json_object_new_string(
			"Microsoft.ResourceHealth/AvailabilityStatuses"));
	json_object_object_add(o, "location", jx_copy(jx_get(r, "location")));
	json_object_object_add(o, "properties", p);
	free(lost_text);
	free(id);
	return o;
}

/* Answers with Resource Health's own error shape: code, message and details at
 * the top, no "error" wrapper. */
static void health_error(struct sim_resp *rs, int status, const char *code,
			 const char *message)
{
	struct json_object *b = json_object_new_object();

	json_object_object_add(b, "code", json_object_new_string(code));
	json_object_object_add(b, "message", json_object_new_string(message));
	json_object_object_add(b, "details", json_object_new_string(""));
	resp_json(rs, status, b);
}

/* Serves GET
 * {resource}/providers/Microsoft.ResourceHealth/availabilityStatuses/current;
 * false for other paths. */
bool health_handle(struct sim_req *rq, struct sim_resp *rs)
{
	const char *at = strcasestr(rq->path, HEALTH "/current");
	char *id;
	struct json_object *r;

	if (!at || at[strlen(HEALTH "/current")] != '\0')
		return false;
	id = xstrndup(rq->path, (size_t)(at - rq->path));
	r = state_resource(rq->sim, id);
	if (strcmp(rq->method, "GET") != 0)
		health_error(rs, 405, "MethodNotAllowed",
			     "Only GET is served here.");
	else if (!r)
		health_error(rs, 404, "ResourceNotFound",
			     "The resource was not found.");
	else if (arm_require(rq, rs, id,
			     "Microsoft.ResourceHealth/availabilityStatuses/"
			     "read")) {
		/* The simulator models the four services' key access; other
		 * types report no known problem. */
		health_track(rq->sim);
		resp_json(rs, 200, status_json(rq->sim, r));
	}
	free(id);
	return true;
}
