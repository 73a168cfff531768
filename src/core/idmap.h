/* A compact map from resource ids (ASCII case ignored) to short strings. */
#ifndef AZ_IDMAP_H
#define AZ_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* One id and its value: offsets into the map's text, and the id's hash. */
struct idmap_ent {
	uint64_t hash;
	size_t id;    /* offset of the lower-case id */
	size_t value; /* offset of the value */
	size_t seq;   /* the order it was put in */
};

/*
 * Ids and values stored one after another in one buffer, with a sorted index
 * once sealed: about a third of the memory of a json-c object of strings, for
 * the thousands of creation times an audit holds at once.
 */
struct idmap {
	struct sbuf text;
	struct idmap_ent *v;
	size_t n, cap;
	bool sealed; /* v is sorted by hash, then by seq */
};

void idmap_put(struct idmap *m, const char *id, const char *value);
void idmap_seal(struct idmap *m);
const char *idmap_get(const struct idmap *m, const char *id);
void idmap_free(struct idmap *m);

#endif
