/* A failure of the session layer, worded for the operator: what failed, the
 * name of the thing, what to do. */
#ifndef AZ_AZERROR_H
#define AZ_AZERROR_H

#include "http.h"

/* A failure, worded for the operator: what failed, the name of the thing, what
 * to do. */
struct az_error {
	char *message;
	char *code;       /* Azure's error code, when there is one */
	char *inner;      /* its inner code (Key Vault innererror, the first ARM
			     detail), or NULL */
	char *request_id; /* x-ms-client-request-id, to hand to support */
	long status;
};

void az_error_clear(struct az_error *e);
void az_error_set(struct az_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void az_error_from_req(struct az_error *e, const struct az_req *r,
		       const char *what);

#endif
