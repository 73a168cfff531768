/* String helpers: case-insensitive comparison, terminal-safe text, Azure name
 * normalisation. */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <wchar.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

/* Compares two strings ignoring ASCII case; NULL equals only NULL. */
bool str_ieq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcasecmp(a, b) == 0;
}

/* Tells whether s starts with prefix, ignoring ASCII case. */
bool str_istarts(const char *s, const char *prefix)
{
	return s && prefix && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Tells whether s ends with suffix, ignoring ASCII case. */
bool str_iends(const char *s, const char *suffix)
{
	size_t n, m;

	if (!s || !suffix)
		return false;
	n = strlen(s);
	m = strlen(suffix);
	return m <= n && strcasecmp(s + n - m, suffix) == 0;
}

/* Returns a newly allocated ASCII-lower-cased copy. */
char *str_lower(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return p;
}

/* Returns the length of the valid UTF-8 sequence at s, or 0 if it is not valid.
 */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Tells whether a decoded UTF-8 sequence is a C1 control character
 * (U+0080..U+009F). */
static bool is_c1(const unsigned char *s, size_t n)
{
	return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/*
 * Tells whether a decoded UTF-8 sequence is a character that reorders or
 * breaks what a terminal shows: the bidirectional embeddings, overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069), the marks U+200E, U+200F and
 * U+061C, and the line and paragraph separators U+2028, U+2029. A resource
 * named with U+202E would show its name backwards ("Trojan Source",
 * CVE-2021-42574).
 */
static bool is_layout_control(const unsigned char *s, size_t n)
{
	if (n == 2)
		return s[0] == 0xd8 && s[1] == 0x9c;
	if (n != 3 || s[0] != 0xe2)
		return false;
	if (s[1] == 0x80)
		return s[2] == 0x8e || s[2] == 0x8f ||
		       (s[2] >= 0xa8 && s[2] <= 0xae);
	return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

/*
 * Returns a copy of untrusted text that is safe to show on a terminal: C0 and
 * C1 controls, DEL, bidirectional and line-separator controls and invalid
 * UTF-8 become '?', and newlines and tabs become spaces unless keep_newlines
 * is set.
 */
char *text_sanitize(const char *s, bool keep_newlines)
{
	struct sbuf b = SBUF_INIT;
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0 || is_c1(p, n) || is_layout_control(p, n)) {
			sb_addc(&b, '?');
			p += n ? n : 1;
		} else if (n == 1 && (*p == '\n' || *p == '\t')) {
			sb_addc(&b, keep_newlines && *p == '\n' ? '\n' : ' ');
			p++;
		} else if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
			sb_addc(&b, '?');
			p++;
		} else {
			sb_add(&b, p, n);
			p += n;
		}
	}
	return sb_steal(&b);
}

/* Returns untrusted text made safe (text_sanitize) and on one line, each run
 * of spaces, tabs and newlines squeezed to one space. */
char *text_one_line(const char *s)
{
	char *t = text_sanitize(s, false), *w = t;

	for (const char *r = t; *r; r++)
		if (*r != ' ' || (w > t && w[-1] != ' '))
			*w++ = *r;
	if (w > t && w[-1] == ' ')
		w--;
	*w = '\0';
	return t;
}

/* Normalises an Azure location for comparison: "West US 3" and "westus3" both
 * give "westus3". */
void location_normalize(const char *loc, char *out, size_t outlen)
{
	size_t j = 0;

	if (outlen == 0)
		return;
	for (const char *p = loc ? loc : ""; *p && j + 1 < outlen; p++)
		if (!isspace((unsigned char)*p))
			out[j++] = (char)tolower((unsigned char)*p);
	out[j] = '\0';
}

/* Tells whether two Azure locations name the same region. */
bool location_eq(const char *a, const char *b)
{
	char x[64], y[64];

	if (!a || !b)
		return false;
	location_normalize(a, x, sizeof(x));
	location_normalize(b, y, sizeof(y));
	return strcmp(x, y) == 0;
}

/* Tells whether s is a UUID in 8-4-4-4-12 hexadecimal form. */
bool is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Tells whether s is exactly 32 hexadecimal digits, the form of a key version.
 */
bool is_hex32(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Decodes the character at s (at most n bytes): sets its bytes and display
 * columns (an invalid byte is one byte of one column; a non-printing
 * character takes none).
 */
static void next_char(const char *s, size_t n, mbstate_t *st, size_t *len,
		      int *cols)
{
	wchar_t wc;

	*len = mbrtowc(&wc, s, n, st);
	*cols = 1;
	if (*len == (size_t)-1 || *len == (size_t)-2 || *len == 0) {
		memset(st, 0, sizeof(*st));
		*len = 1;
	} else {
		*cols = wcwidth(wc) > 0 ? wcwidth(wc) : 0;
	}
}

/* Returns the columns a UTF-8 (locale) string takes on a terminal; invalid
 * bytes count one each. */
int text_width(const char *s)
{
	mbstate_t st;
	size_t n = s ? strlen(s) : 0, at = 0, len;
	int cols = 0, w;

	memset(&st, 0, sizeof(st));
	while (at < n) {
		next_char(s + at, n - at, &st, &len, &w);
		cols += w;
		at += len;
	}
	return cols;
}

/* Returns how many bytes of the first n bytes of s fit in width display
 * columns, whole characters only (at least one). */
size_t text_fit(const char *s, size_t n, int width)
{
	mbstate_t st;
	size_t at = 0, len;
	int cols = 0, w;

	memset(&st, 0, sizeof(st));
	while (at < n) {
		next_char(s + at, n - at, &st, &len, &w);
		if (cols + w > width)
			return at ? at : len;
		cols += w;
		at += len;
	}
	return n;
}

/*
 * Returns how many bytes of the first n bytes of s make the first line when
 * they are wrapped at width display columns: up to the last space after
 * the text starts (indentation is not a place to break) that fits, else as
 * many whole characters as fit. Never cuts a UTF-8 character.
 */
size_t text_break(const char *s, size_t n, int width)
{
	mbstate_t st;
	size_t at = 0, space = 0, len;
	int cols = 0, w;
	bool text = false;

	memset(&st, 0, sizeof(st));
	while (at < n) {
		next_char(s + at, n - at, &st, &len, &w);
		if (cols + w > width)
			return s[at] == ' ' && text ? at
			       : space              ? space
						    : text_fit(s, n, width);
		if (s[at] == ' ' && text)
			space = at;
		text |= s[at] != ' ';
		cols += w;
		at += len;
	}
	return n;
}

/* Returns s followed by spaces up to width display columns (never cut). */
char *text_pad(const char *s, int width)
{
	int w = text_width(s);
	size_t n = strlen(s);
	char *out = xmalloc(n + (size_t)(width > w ? width - w : 0) + 1);

	memcpy(out, s, n);
	for (int i = w; i < width; i++)
		out[n++] = ' ';
	out[n] = '\0';
	return out;
}
