/* The simulator's ARM template deployments: the evaluation context shared by
 * the engine (deploy.c) and the expression language (dexpr.c). */
#ifndef SIM_DEPLOY_H
#define SIM_DEPLOY_H

#include <stdbool.h>

#include <json-c/json.h>

#include "sim-int.h"

/* Where a template is evaluated: its scope, its parameters and variables, and
 * the first error met. */
struct dctx {
	struct sim_req *rq;         /* the deployment's request: its caller */
	const char *sub, *rg, *mg;  /* the scope (NULL parts absent) */
	struct json_object *params; /* name -> value (owned) */
	struct json_object *vars;   /* name -> unevaluated value (borrowed) */
	struct json_object *heads;  /* this template's resources: id, type,
				       apiVersion (owned array) */
	struct json_object *ops;    /* the deployment's operations (borrowed) */
	struct json_object *inner;  /* the error a resource failed with (owned),
				       for DeploymentFailed's details */
	char *err;                  /* the first error's message, or NULL */
	const char *code;           /* its code */
	bool dry;                   /* only check names and syntax */
};

void dctx_fail(struct dctx *d, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
char *dctx_scope_id(const struct dctx *d);
struct json_object *dexpr_string(struct dctx *d, const char *s, bool dry,
				 int depth);
struct json_object *dexpr_value(struct dctx *d, struct json_object *v,
				int depth);
struct json_object *deploy_reference(struct dctx *d, struct json_object **a,
				     int n);

#endif
