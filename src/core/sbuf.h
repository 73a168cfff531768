/* A growable, always NUL-terminated byte buffer. */
#ifndef AZ_SBUF_H
#define AZ_SBUF_H

#include <stdarg.h>
#include <stddef.h>

struct sbuf {
	char *s;    /* the bytes, NUL-terminated; NULL until the first append */
	size_t len; /* bytes used, not counting the terminator */
	size_t cap; /* bytes allocated */
};

#define SBUF_INIT          \
	{                  \
		NULL, 0, 0 \
	}

void sb_reserve(struct sbuf *b, size_t n);
void sb_add(struct sbuf *b, const void *data, size_t n);
void sb_adds(struct sbuf *b, const char *s);
void sb_addc(struct sbuf *b, char c);
void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
const char *sb_str(const struct sbuf *b);
char *sb_steal(struct sbuf *b);
void sb_reset(struct sbuf *b);
void sb_free(struct sbuf *b);

#endif
