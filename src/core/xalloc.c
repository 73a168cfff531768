/* Allocation wrappers that never return NULL: they abort with a message on
 * exhaustion. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Reports memory exhaustion and aborts: there is no sane way to go on. */
static void oom(size_t n)
{
	fprintf(stderr, "azcmk: out of memory (%zu bytes)\n", n);
	abort();
}

/* Allocates n bytes or aborts. */
void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

/* Allocates a zeroed array or aborts, refusing products that overflow. */
void *xcalloc(size_t count, size_t size)
{
	void *p;

	if (size && count > (size_t)-1 / size)
		oom((size_t)-1);
	p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

/* Resizes a block or aborts. */
void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

/* Duplicates a string or aborts. */
char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* Duplicates at most n bytes of a string, always terminated, or aborts. */
char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Formats into a newly allocated string or aborts. */
char *xvasprintf(const char *fmt, va_list ap)
{
	va_list copy;
	int n;
	char *p;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		oom(0);
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

/* Formats into a newly allocated string or aborts. */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}
