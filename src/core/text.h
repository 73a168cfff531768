/* String helpers: case-insensitive comparison, terminal-safe text, Azure name
 * normalisation. */
#ifndef AZ_TEXT_H
#define AZ_TEXT_H

#include <stdbool.h>
#include <stddef.h>

bool str_ieq(const char *a, const char *b);
bool str_istarts(const char *s, const char *prefix);
bool str_iends(const char *s, const char *suffix);
char *str_lower(const char *s);
char *text_sanitize(const char *s, bool keep_newlines);
char *text_one_line(const char *s);
void location_normalize(const char *loc, char *out, size_t outlen);
bool location_eq(const char *a, const char *b);
bool is_uuid(const char *s);
bool is_hex32(const char *s);
int text_width(const char *s);
size_t text_fit(const char *s, size_t n, int width);
size_t text_break(const char *s, size_t n, int width);
char *text_pad(const char *s, int width);

#endif
