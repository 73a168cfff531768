/* A subset of the Kusto query language (KQL), enough for the simulated Azure
 * Resource Graph. */
#ifndef AZ_KQL_H
#define AZ_KQL_H

#include <json-c/json.h>

/*
 * Runs a Resource Graph query over rows (a json array of objects, one per
 * resource, each with the ARG columns id, name, type, tenantId, kind,
 * location, resourceGroup, subscriptionId, managedBy, sku, plan, properties,
 * tags, identity, zones, extendedLocation).  Returns a new json array of
 * result row objects (the caller owns it), or NULL and an allocated message in
 * *err (e.g. "ParserFailure: ... at position N").  rows is not modified.
 *
 * Supported: a table name (Resources, any case) followed by "| where",
 * "| project", "| project-away", "| extend", "| summarize" (count() by
 * keys), "| order by"/"| sort by" and "| limit"/"| take" stages; see kql.c
 * for the expression language.
 */
struct json_object *kql_run(const char *query, struct json_object *rows,
			    char **err);

#endif
