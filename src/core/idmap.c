/* A compact map from resource ids (ASCII case ignored) to short strings. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "xalloc.h"

/* Hashes an id with FNV-1a 64, folding ASCII case (a collision only costs a
 * comparison: every match is checked on the whole id). */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		unsigned char c = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;

		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

/* Appends text lower-cased (ASCII) with its terminator; returns its offset. */
static size_t add_lower(struct sbuf *b, const char *text)
{
	size_t at = b->len;

	for (const char *p = text; *p; p++)
		sb_addc(b, *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p);
	sb_addc(b, '\0');
	return at;
}

/* Appends text with its terminator; returns its offset. */
static size_t add_text(struct sbuf *b, const char *text)
{
	size_t at = b->len;

	sb_add(b, text, strlen(text) + 1);
	return at;
}

/* Puts an id's value; a later value for the same id wins. The map is unsealed
 * until idmap_seal. */
void idmap_put(struct idmap *m, const char *id, const char *value)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	m->v[m->n].hash = id_hash(id);
	m->v[m->n].id = add_lower(&m->text, id);
	m->v[m->n].value = add_text(&m->text, value);
	m->v[m->n].seq = m->n;
	m->n++;
	m->sealed = false;
}

/* Orders two entries by hash, then by the order they were put in. */
static int ent_cmp(const void *a, const void *b)
{
	const struct idmap_ent *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts the index for lookups and gives back the room not used. */
void idmap_seal(struct idmap *m)
{
	if (m->n == 0)
		return;
	qsort(m->v, m->n, sizeof(*m->v), ent_cmp);
	m->v = xrealloc(m->v, m->n * sizeof(*m->v));
	m->cap = m->n;
	m->text.s = xrealloc(m->text.s, m->text.len + 1);
	m->text.cap = m->text.len + 1;
	m->sealed = true;
}

/* Tells whether entry e holds the lower-case id low. */
static bool ent_is(const struct idmap *m, const struct idmap_ent *e, uint64_t h,
		   const char *low)
{
	return e->hash == h && strcmp(m->text.s + e->id, low) == 0;
}

/* Returns the value last put for an id (case ignored), or NULL: by binary
 * search once sealed, else by a scan. */
const char *idmap_get(const struct idmap *m, const char *id)
{
	struct sbuf low = SBUF_INIT;
	const struct idmap_ent *hit = NULL;
	uint64_t h;

	if (!id || m->n == 0)
		return NULL;
	h = id_hash(id);
	add_lower(&low, id);
	if (!m->sealed) {
		for (size_t i = 0; i < m->n; i++)
			if (ent_is(m, &m->v[i], h, low.s))
				hit = &m->v[i];
	} else {
		size_t lo = 0, hi = m->n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (m->v[mid].hash < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < m->n && m->v[i].hash == h; i++)
			if (ent_is(m, &m->v[i], h, low.s))
				hit = &m->v[i];
	}
	sb_free(&low);
	return hit ? m->text.s + hit->value : NULL;
}

/* Frees the map's storage (the map itself is the caller's). */
void idmap_free(struct idmap *m)
{
	sb_free(&m->text);
	free(m->v);
	memset(m, 0, sizeof(*m));
}
