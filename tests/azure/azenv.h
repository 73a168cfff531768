/* For the integration tests: a simulator on a scenario and a session signed in
 * as its operator. */
#ifndef AZENV_H
#define AZENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "simtest.h"

struct azenv {
	struct simtest t;
	char ca[64]; /* the simulator's CA, in a temporary file */
	struct az_session *s;
	struct az_error e;
};

struct azenv *azenv_start(const char *scenario, const char *merge,
			  int64_t backoff_ms);
struct azenv *azenv_start_text(const char *text, int64_t backoff_ms);
void azenv_stop(struct azenv *v);
void azenv_pair(struct json_object *set, const char *subject, const char *rule);
size_t azenv_expected(struct json_object *got, bool exact);
int azenv_logged(struct azenv *v, const char *field, const char *needle);

#endif
