/* A subset of the Kusto query language for the simulated Resource Graph: lexer,
 * parser, evaluator. */
#include "config.h"

/*
 * The query is split into tokens, parsed into a list of stages whose
 * expressions are small trees, checked against the columns in scope, and
 * then run over private shallow copies of the rows (or over the rows themselves
 * when they already have every column and no stage changes a row before a
 * project builds new ones).  Every error is found while parsing, so running a
 * parsed query cannot fail.
 *
 * Stages: where, project, project-away, extend, summarize (count() by keys),
 * order by / sort by, limit / take.
 *
 * Expressions: "or", "and", not(...), parentheses; ==, !=, =~, !~, <, <=,
 * >, >=; in, in~, !in, !in~ with a parenthesised list; contains, has,
 * startswith, endswith, each with a "!" prefix and a "_cs" suffix; string,
 * number, true/false literals; column paths with .name, ['name'] and [index]
 * steps; and the functions listed in funcs[] below.
 *
 * Semantics follow Kusto where it matters to an audit: column and property
 * names are case-sensitive, "has" matches whole terms, a missing property is
 * null, null compares as "" against a string, and anything else compared
 * with a string is compared through its compact JSON text.  The string
 * columns of Resources (id, name, type, kind, ...) are "" rather than null
 * when absent, and rows come out with all sixteen columns, as Resource Graph
 * returns them.  Strings sort ordinally; order by defaults to descending
 * with nulls last (ascending puts nulls first).
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/linkhash.h>

#include "jx.h"
#include "kql.h"
#include "sbuf.h"
#include "text.h"
#include "xalloc.h"

#define MAX_DEPTH 64 /* deepest nesting of parentheses and calls */
#define MAX_SHOWN 40 /* longest token quoted in an error message */

/* ------------------------------------------------------------------ tokens */

enum tkind { T_END, T_IDENT, T_WORD, T_STRING, T_NUMBER, T_PUNCT };

struct tok {
	enum tkind kind;
	size_t pos; /* byte offset in the query */
	char *text; /* identifier, operator, decoded string or number text; NULL
		       at the end */
};

struct lexer {
	const char *q;
	size_t i;
	struct tok *toks;
	size_t n, cap;
	char *err;
};

/* Two-character punctuation first, so that the longest operator wins. */
static const char *const puncts[] = {
	"==", "!=", "=~", "!~", "<=", ">=", "=", "<", ">",
	"|",  ",",  "(",  ")",  "[",  "]",  ".", "-",
};

/* Records a lexical or syntax error at a byte position unless one is already
 * recorded. */
static void set_error(char **err, size_t pos, const char *kind, const char *msg)
{
	if (!*err)
		*err = xasprintf("%s: %s at position %zu", kind, msg, pos);
}

/* Appends a token, taking ownership of text. */
static void lex_push(struct lexer *lx, enum tkind kind, size_t len, char *text)
{
	if (lx->n == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 32;
		lx->toks = xrealloc(lx->toks, lx->cap * sizeof(*lx->toks));
	}
	lx->toks[lx->n++] = (struct tok){ kind, lx->i, text };
	lx->i += len;
}

/* Skips blanks and // comments. */
static void lex_skip(struct lexer *lx)
{
	for (;;) {
		while (isspace((unsigned char)lx->q[lx->i]))
			lx->i++;
		if (lx->q[lx->i] != '/' || lx->q[lx->i + 1] != '/')
			return;
		while (lx->q[lx->i] && lx->q[lx->i] != '\n')
			lx->i++;
	}
}

/* Returns the length of the identifier starting at s, or 0 if none starts
 * there. */
static size_t ident_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

/* Lexes an identifier; "project-away" style names and "in~" become single
 * tokens. */
static void lex_ident(struct lexer *lx)
{
	const char *s = lx->q + lx->i;
	size_t n = ident_len(s);
	enum tkind kind = T_IDENT;

	if (n == 7 && strncasecmp(s, "project", 7) == 0 && s[7] == '-' &&
	    ident_len(s + 8)) {
		n += 1 + ident_len(s + 8);
	} else if (n == 2 && strncasecmp(s, "in", 2) == 0 && s[2] == '~') {
		n++;
		kind = T_WORD;
	}
	lex_push(lx, kind, n, xstrndup(s, n));
}

/* Lexes the operators that start with '!': "!=", "!~" and negated words such as
 * "!contains". */
static bool lex_bang(struct lexer *lx)
{
	const char *s = lx->q + lx->i;
	size_t n = ident_len(s + 1);

	if (s[1] == '=' || s[1] == '~') {
		lex_push(lx, T_PUNCT, 2, xstrndup(s, 2));
		return true;
	}
	if (n == 0)
		return false;
	n++;
	if (n == 3 && strncasecmp(s + 1, "in", 2) == 0 && s[3] == '~')
		n++;
	lex_push(lx, T_WORD, n, xstrndup(s, n));
	return true;
}

/* Lexes one punctuation token; returns false if none starts here. */
static bool lex_punct(struct lexer *lx)
{
	const char *s = lx->q + lx->i;

	for (size_t k = 0; k < sizeof(puncts) / sizeof(puncts[0]); k++) {
		size_t n = strlen(puncts[k]);

		if (strncmp(s, puncts[k], n) == 0) {
			lex_push(lx, T_PUNCT, n, xstrdup(puncts[k]));
			return true;
		}
	}
	return false;
}

/* Lexes a decimal number with an optional fraction and exponent. */
static void lex_number(struct lexer *lx)
{
	const char *s = lx->q + lx->i;
	size_t n = strspn(s, "0123456789");

	if (s[n] == '.' && isdigit((unsigned char)s[n + 1]))
		n += 1 + strspn(s + n + 1, "0123456789");
	if (s[n] == 'e' || s[n] == 'E') {
		size_t sign = s[n + 1] == '+' || s[n + 1] == '-';
		size_t digits = strspn(s + n + 1 + sign, "0123456789");

		if (digits)
			n += 1 + sign + digits;
	}
	lex_push(lx, T_NUMBER, n, xstrndup(s, n));
}

/* Decodes the character after a backslash; returns -1 for an unknown escape. */
static int unescape(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case '\\':
	case '\'':
	case '"':
		return c;
	default:
		return -1;
	}
}

/* Decodes a string body up to its closing quote into b; returns the bytes read,
 * or 0 on error. */
static size_t lex_string_body(struct lexer *lx, const char *s, bool verbatim,
			      struct sbuf *b)
{
	size_t i = 1;

	while (s[i] != s[0]) {
		if (s[i] == '\0' || s[i] == '\n') {
			set_error(&lx->err, lx->i, "ParserFailure",
				  "unterminated string literal");
			return 0;
		}
		if (s[i] == '\\' && !verbatim && s[i + 1] != '\0') {
			int c = unescape(s[i + 1]);

			if (c < 0) {
				set_error(&lx->err, (size_t)(s - lx->q) + i,
					  "ParserFailure",
					  "invalid escape sequence in string "
					  "literal");
				return 0;
			}
			sb_addc(b, (char)c);
			i += 2;
		} else {
			sb_addc(b, s[i++]);
		}
	}
	return i + 1;
}

/* Lexes a quoted string literal, or a verbatim @'...' literal without escapes.
 */
static bool lex_string(struct lexer *lx)
{
	const char *s = lx->q + lx->i;
	bool verbatim = s[0] == '@';
	struct sbuf b = SBUF_INIT;
	size_t n = lex_string_body(lx, s + verbatim, verbatim, &b);

	if (n == 0) {
		sb_free(&b);
		return false;
	}
	lex_push(lx, T_STRING, n + verbatim, sb_steal(&b));
	return true;
}

/* Records an error for a byte that starts no token. */
static void lex_bad_char(struct lexer *lx)
{
	unsigned char c = (unsigned char)lx->q[lx->i];
	char msg[48];

	if (c < 0x7f && isprint(c))
		snprintf(msg, sizeof(msg), "unexpected character '%c'", c);
	else
		snprintf(msg, sizeof(msg), "unexpected byte 0x%02x", c);
	set_error(&lx->err, lx->i, "ParserFailure", msg);
}

/* Lexes the token at the current position; returns false on a lexical error. */
static bool lex_one(struct lexer *lx)
{
	const char *s = lx->q + lx->i;

	if (s[0] == '\0')
		lex_push(lx, T_END, 0, NULL);
	else if (ident_len(s))
		lex_ident(lx);
	else if (isdigit((unsigned char)s[0]))
		lex_number(lx);
	else if (s[0] == '\'' || s[0] == '"' ||
		 (s[0] == '@' && (s[1] == '\'' || s[1] == '"')))
		return lex_string(lx);
	else if (!(s[0] == '!' ? lex_bang(lx) : lex_punct(lx))) {
		lex_bad_char(lx);
		return false;
	}
	return true;
}

/* Splits the whole query into tokens ending with T_END; returns false with
 * lx->err set on error. */
static bool lex_all(struct lexer *lx)
{
	do {
		lex_skip(lx);
		if (!lex_one(lx))
			return false;
	} while (lx->toks[lx->n - 1].kind != T_END);
	return true;
}

/* Frees a token array. */
static void toks_free(struct tok *toks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(toks[i].text);
	free(toks);
}

/* ------------------------------------------------------------ expressions */

enum nkind { N_LIT, N_COL, N_AND, N_OR, N_CMP, N_IN, N_STROP, N_CALL };
enum vtype { V_DYN, V_BOOL, V_STR, V_NUM };
enum cmpop { C_EQ, C_NE, C_IEQ, C_INE, C_LT, C_LE, C_GT, C_GE };

/* Spelled in enum cmpop order. */
static const char *const cmp_ops[] = { "==", "!=", "=~", "!~",
				       "<",  "<=", ">",  ">=" };

struct seg {
	char *key;           /* property name, or NULL for an array index */
	long long idx;       /* array index; negative counts from the end */
	unsigned long hash;  /* the key's hash in json-c's tables, made once */
	lh_hash_fn *hash_fn; /* the hash function it was made with */
};

struct node {
	enum nkind kind;
	enum vtype type;
	size_t pos;              /* where the expression starts, for messages */
	int op;                  /* enum cmpop, strops[] or funcs[] index */
	bool neg, cs;            /* negated / case-sensitive operator */
	struct json_object *lit; /* N_LIT value (NULL never occurs) */
	struct seg *segs;        /* N_COL path, the column first */
	size_t nsegs;
	struct node **kids; /* operands */
	size_t nkids;
};

/* Allocates an expression node. */
static struct node *node_new(enum nkind kind, enum vtype type, size_t pos)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->type = type;
	n->pos = pos;
	return n;
}

/* Grows an array of n elements when n is a power of two, so that appending
 * costs amortised O(1). */
static void *grow(void *v, size_t n, size_t size)
{
	if (n & (n - 1))
		return v;
	return xrealloc(v, (n ? 2 * n : 1) * size);
}

/* Appends an operand to a node. */
static void node_add(struct node *n, struct node *kid)
{
	n->kids = grow(n->kids, n->nkids, sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

/* Appends a path step (key NULL for an index) to a column node, taking
 * ownership of key. */
static void seg_add(struct node *n, char *key, long long idx)
{
	struct seg s = { key, idx, 0, NULL };

	/* A column is looked up in every row: its key's hash is made here,
	 * with the function json-c's objects hash their keys with. */
	if (key) {
		struct json_object *probe = json_object_new_object();
		struct lh_table *t = json_object_get_object(probe);

		s.hash = lh_get_hash(t, key);
		s.hash_fn = t->hash_fn;
		json_object_put(probe);
	}
	n->segs = grow(n->segs, n->nsegs, sizeof(*n->segs));
	n->segs[n->nsegs++] = s;
}

/* Frees an expression tree. */
static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	for (size_t i = 0; i < n->nsegs; i++)
		free(n->segs[i].key);
	free(n->kids);
	free(n->segs);
	json_object_put(n->lit);
	free(n);
}

/* -------------------------------------------------------- value semantics */

/* Tells whether a value is a json string. */
static bool is_str(struct json_object *v)
{
	return json_object_is_type(v, json_type_string);
}

/* Tells whether a value is a json number. */
static bool is_num(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) ||
	       json_object_is_type(v, json_type_double);
}

/* Tells whether a value is json true, the only value a predicate keeps a row
 * for. */
static bool is_true(struct json_object *v)
{
	return json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* Returns the text KQL compares: strings as they are, null as "", anything else
 * as compact JSON. */
static const char *val_text(struct json_object *v)
{
	if (!v)
		return "";
	if (is_str(v))
		return json_object_get_string(v);
	return jx_text(v);
}

/* Orders two signed 64-bit integers. */
static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* Orders an integer and a double exactly, with NaN above every number. */
static int cmp_int_double(int64_t i, double d)
{
	int64_t t;
	double frac;

	if (d != d)
		return -1;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = (int64_t)d;
	frac = d - (double)t;
	if (i != t)
		return cmp_i64(i, t);
	return (frac < 0) - (frac > 0);
}

/* Orders two doubles, with NaN above every number and equal to itself. */
static int cmp_double(double a, double b)
{
	if (a != a || b != b)
		return (a != a) - (b != b);
	return (a > b) - (a < b);
}

/* Orders two json numbers exactly: a total order even across integers and
 * doubles. */
static int num_cmp(struct json_object *a, struct json_object *b)
{
	bool ai = json_object_is_type(a, json_type_int);
	bool bi = json_object_is_type(b, json_type_int);

	if (ai && bi)
		return cmp_i64(json_object_get_int64(a),
			       json_object_get_int64(b));
	if (ai)
		return cmp_int_double(json_object_get_int64(a),
				      json_object_get_double(b));
	if (bi)
		return -cmp_int_double(json_object_get_int64(b),
				       json_object_get_double(a));
	return cmp_double(json_object_get_double(a), json_object_get_double(b));
}

/* Tells whether a json number is NaN. */
static bool is_nan(struct json_object *v)
{
	double d = json_object_get_double(v);

	return json_object_is_type(v, json_type_double) && d != d;
}

/* Compares two strings for equality, ignoring ASCII case unless cs. */
static bool text_eq(const char *a, const char *b, bool cs)
{
	return cs ? strcmp(a, b) == 0 : strcasecmp(a, b) == 0;
}

/* Implements ==, or =~ when ci: numbers numerically, anything against a string
 * as text. */
static bool val_eq(struct json_object *a, struct json_object *b, bool ci)
{
	if (ci || is_str(a) || is_str(b))
		return text_eq(val_text(a), val_text(b), !ci);
	if (!a || !b)
		return false;
	if (is_num(a) && is_num(b))
		return !is_nan(a) && !is_nan(b) && num_cmp(a, b) == 0;
	return strcmp(val_text(a), val_text(b)) == 0;
}

/* Implements <, <=, > and >=, which hold only between two numbers. */
static bool val_rel(struct json_object *a, struct json_object *b, enum cmpop op)
{
	int c;

	if (!is_num(a) || !is_num(b) || is_nan(a) || is_nan(b))
		return false;
	c = num_cmp(a, b);
	switch (op) {
	case C_LT:
		return c < 0;
	case C_LE:
		return c <= 0;
	case C_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

/* Ranks json types for sorting: booleans, numbers, strings, then objects and
 * arrays. */
static int type_rank(struct json_object *v)
{
	if (json_object_is_type(v, json_type_boolean))
		return 0;
	if (is_num(v))
		return 1;
	if (is_str(v))
		return 2;
	return 3;
}

/* Orders two non-null values for "order by": a total order so that sorting is
 * well defined. */
static int val_order(struct json_object *a, struct json_object *b)
{
	int ra = type_rank(a), rb = type_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 0)
		return json_object_get_boolean(a) - json_object_get_boolean(b);
	if (ra == 1)
		return num_cmp(a, b);
	return strcmp(val_text(a), val_text(b));
}

/* Finds needle in hay, ignoring ASCII case unless cs; returns where, or NULL.
 */
static const char *find_text(const char *hay, const char *needle, bool cs)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if ((cs ? strncmp(hay, needle, n)
			: strncasecmp(hay, needle, n)) == 0)
			return hay;
	return n == 0 ? hay : NULL;
}

/* Implements contains: a substring match. */
static bool op_contains(const char *hay, const char *needle, bool cs)
{
	return find_text(hay, needle, cs) != NULL;
}

/* Tells whether a byte is part of a Kusto term (an alphanumeric run). */
static bool is_term_char(char c)
{
	return isalnum((unsigned char)c);
}

/* Implements has: needle must occur as whole terms, not inside a longer
 * alphanumeric run. */
static bool op_has(const char *hay, const char *needle, bool cs)
{
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (const char *h = hay; (h = find_text(h, needle, cs)) != NULL; h++) {
		bool left = h == hay || !is_term_char(h[-1]) ||
			    !is_term_char(needle[0]);
		bool right =
			!is_term_char(h[n]) || !is_term_char(needle[n - 1]);

		if (left && right)
			return true;
	}
	return false;
}

/* Implements startswith. */
static bool op_startswith(const char *hay, const char *needle, bool cs)
{
	size_t n = strlen(needle);

	return (cs ? strncmp(hay, needle, n) : strncasecmp(hay, needle, n)) ==
	       0;
}

/* Implements endswith. */
static bool op_endswith(const char *hay, const char *needle, bool cs)
{
	size_t h = strlen(hay), n = strlen(needle);

	return n <= h && text_eq(hay + h - n, needle, cs);
}

static const struct strop {
	const char *name;
	bool (*match)(const char *hay, const char *needle, bool cs);
} strops[] = {
	{ "contains", op_contains },
	{ "has", op_has },
	{ "startswith", op_startswith },
	{ "endswith", op_endswith },
};

/* ---------------------------------------------------------------- functions */

/* Releases a function's argument and returns its result. */
static struct json_object *consume(struct json_object *arg,
				   struct json_object *result)
{
	json_object_put(arg);
	return result;
}

/* tostring(x): strings unchanged, null as "", anything else as compact JSON. */
static struct json_object *fn_tostring(struct json_object *v)
{
	return consume(v, json_object_new_string(val_text(v)));
}

/* Returns the text of v with ASCII letters folded up or down, consuming v. */
static struct json_object *fold_case(struct json_object *v, bool upper)
{
	char *s = xstrdup(val_text(v));
	struct json_object *o;

	for (char *p = s; *p; p++)
		if (upper ? (*p >= 'a' && *p <= 'z') : (*p >= 'A' && *p <= 'Z'))
			*p = (char)(*p ^ 0x20);
	o = json_object_new_string(s);
	free(s);
	return consume(v, o);
}

/* tolower(x). */
static struct json_object *fn_tolower(struct json_object *v)
{
	return fold_case(v, false);
}

/* toupper(x). */
static struct json_object *fn_toupper(struct json_object *v)
{
	return fold_case(v, true);
}

/* Tells whether a value is null or the empty string. */
static bool val_empty(struct json_object *v)
{
	return !v || (is_str(v) && json_object_get_string_len(v) == 0);
}

/* isempty(x). */
static struct json_object *fn_isempty(struct json_object *v)
{
	return consume(v, json_object_new_boolean(val_empty(v)));
}

/* isnotempty(x). */
static struct json_object *fn_isnotempty(struct json_object *v)
{
	return consume(v, json_object_new_boolean(!val_empty(v)));
}

/* isnull(x). */
static struct json_object *fn_isnull(struct json_object *v)
{
	return consume(v, json_object_new_boolean(v == NULL));
}

/* isnotnull(x). */
static struct json_object *fn_isnotnull(struct json_object *v)
{
	return consume(v, json_object_new_boolean(v != NULL));
}

/* not(x): the negation of a boolean; null for anything else. */
static struct json_object *fn_not(struct json_object *v)
{
	if (!json_object_is_type(v, json_type_boolean))
		return consume(v, NULL);
	return consume(v, json_object_new_boolean(!json_object_get_boolean(v)));
}

/* array_length(x): the length of an array; null for anything else. */
static struct json_object *fn_array_length(struct json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return consume(v, NULL);
	return consume(
		v, json_object_new_int64((int64_t)json_object_array_length(v)));
}

/* The scalar functions, each of one argument, which it consumes. */
static const struct func {
	const char *name;
	enum vtype ret;
	bool bool_arg; /* the argument must be a predicate */
	struct json_object *(*fn)(struct json_object *arg);
} funcs[] = {
	{ "tostring", V_STR, false, fn_tostring },
	{ "tolower", V_STR, false, fn_tolower },
	{ "toupper", V_STR, false, fn_toupper },
	{ "isempty", V_BOOL, false, fn_isempty },
	{ "isnotempty", V_BOOL, false, fn_isnotempty },
	{ "isnull", V_BOOL, false, fn_isnull },
	{ "isnotnull", V_BOOL, false, fn_isnotnull },
	{ "not", V_BOOL, true, fn_not },
	{ "array_length", V_NUM, false, fn_array_length },
};

/* --------------------------------------------------------------- evaluation */

static struct json_object *eval(const struct node *n, struct json_object *row);

/* Looks a property up by its exact (case-sensitive) name; NULL when absent,
 * null or not an object. */
static struct json_object *get_exact(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Looks a path step's key up in an object with the hash made when the query
 * was parsed; NULL when absent, null or not an object. */
static struct json_object *get_hashed(struct json_object *o,
				      const struct seg *s)
{
	struct lh_table *t;
	struct lh_entry *e;

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	t = json_object_get_object(o);
	if (t->hash_fn != s->hash_fn)
		return get_exact(o, s->key);
	e = lh_table_lookup_entry_w_hash(t, s->key, s->hash);
	return e ? (struct json_object *)lh_entry_v(e) : NULL;
}

/* Takes one path step: a property of an object or an element of an array. */
static struct json_object *seg_get(struct json_object *o, const struct seg *s)
{
	long long len, idx;

	if (s->key)
		return get_hashed(o, s);
	if (!json_object_is_type(o, json_type_array))
		return NULL;
	len = (long long)json_object_array_length(o);
	idx = s->idx < 0 ? len + s->idx : s->idx;
	return idx >= 0 && idx < len ? json_object_array_get_idx(o, (size_t)idx)
				     : NULL;
}

/* Evaluates a column path; a missing step gives null. */
static struct json_object *eval_col(const struct node *n,
				    struct json_object *row)
{
	struct json_object *o = row;

	for (size_t i = 0; i < n->nsegs && o; i++)
		o = seg_get(o, &n->segs[i]);
	return json_object_get(o);
}

/* Evaluates operand i and tells whether it is true. */
static bool eval_true(const struct node *n, size_t i, struct json_object *row)
{
	struct json_object *v = eval(n->kids[i], row);
	bool t = is_true(v);

	json_object_put(v);
	return t;
}

/* Evaluates "and" or "or" with short-circuiting; null counts as false. */
static bool eval_logic(const struct node *n, struct json_object *row)
{
	bool want = n->kind == N_OR;

	for (size_t i = 0; i < n->nkids; i++)
		if (eval_true(n, i, row) == want)
			return want;
	return !want;
}

/* Applies a comparison operator to two values. */
static bool apply_cmp(enum cmpop op, struct json_object *a,
		      struct json_object *b)
{
	switch (op) {
	case C_EQ:
		return val_eq(a, b, false);
	case C_NE:
		return !val_eq(a, b, false);
	case C_IEQ:
		return val_eq(a, b, true);
	case C_INE:
		return !val_eq(a, b, true);
	default:
		return val_rel(a, b, op);
	}
}

/* Evaluates a comparison, an in-list test or a string operator. */
static bool eval_pred(const struct node *n, struct json_object *row)
{
	struct json_object *a = eval(n->kids[0], row);
	bool r = false;

	for (size_t i = 1; i < n->nkids && !r; i++) {
		struct json_object *b = eval(n->kids[i], row);

		if (n->kind == N_CMP)
			r = apply_cmp((enum cmpop)n->op, a, b);
		else if (n->kind == N_IN)
			r = val_eq(a, b, !n->cs);
		else
			r = strops[n->op].match(val_text(a), val_text(b),
						n->cs);
		json_object_put(b);
	}
	json_object_put(a);
	return n->neg ? !r : r;
}

/* Evaluates a function call. */
static struct json_object *eval_call(const struct node *n,
				     struct json_object *row)
{
	return funcs[n->op].fn(eval(n->kids[0], row));
}

/* Evaluates an expression against one row; returns a new reference, NULL
 * standing for null. */
static struct json_object *eval(const struct node *n, struct json_object *row)
{
	switch (n->kind) {
	case N_LIT:
		return json_object_get(n->lit);
	case N_COL:
		return eval_col(n, row);
	case N_AND:
	case N_OR:
		return json_object_new_boolean(eval_logic(n, row));
	case N_CALL:
		return eval_call(n, row);
	default:
		return json_object_new_boolean(eval_pred(n, row));
	}
}

/* ------------------------------------------------------------------ stages */

/* The columns of the Resources table: strings (never null, "" when absent) and
 * dynamic values. */
static const struct column {
	const char *name;
	enum vtype type;
} resource_columns[] = {
	{ "id", V_STR },
	{ "name", V_STR },
	{ "type", V_STR },
	{ "tenantId", V_STR },
	{ "kind", V_STR },
	{ "location", V_STR },
	{ "resourceGroup", V_STR },
	{ "subscriptionId", V_STR },
	{ "managedBy", V_STR },
	{ "sku", V_DYN },
	{ "plan", V_DYN },
	{ "properties", V_DYN },
	{ "tags", V_DYN },
	{ "identity", V_DYN },
	{ "zones", V_DYN },
	{ "extendedLocation", V_DYN },
};

#define NCOLUMNS (sizeof(resource_columns) / sizeof(resource_columns[0]))

/* Gives a copied row every Resources column: "" for a missing string, null for
 * a missing value. */
static void fill_columns(struct json_object *row)
{
	for (size_t i = 0; i < NCOLUMNS; i++) {
		struct json_object *v =
			get_exact(row, resource_columns[i].name);

		if (resource_columns[i].type == V_STR && !v)
			json_object_object_add(row, resource_columns[i].name,
					       json_object_new_string(""));
		else if (!json_object_object_get_ex(
				 row, resource_columns[i].name, NULL))
			json_object_object_add(row, resource_columns[i].name,
					       NULL);
	}
}

/* Copies a row's top level; the values are shared, since stages change only
 * which keys a row has. */
static struct json_object *shallow_copy(struct json_object *row)
{
	struct json_object *copy = json_object_new_object();

	json_object_object_foreach(row, k, v)
		json_object_object_add(copy, k, json_object_get(v));
	return copy;
}

/* Tells whether a row already has every Resources column the way fill_columns
 * would leave it. */
static bool row_filled(struct json_object *row)
{
	for (size_t i = 0; i < NCOLUMNS; i++) {
		struct json_object *v = NULL;

		if (!json_object_object_get_ex(row, resource_columns[i].name,
					       &v) ||
		    (resource_columns[i].type == V_STR && !v))
			return false;
	}
	return true;
}

/*
 * Lists the object rows of the input filled out to the full Resources schema:
 * shallow copies, or, when share is set (no stage will change a row in place),
 * the input rows themselves if they need no filling.
 */
static struct json_object *prepare_rows(struct json_object *rows, bool share)
{
	struct json_object *work = json_object_new_array();

	for (size_t i = 0; i < jx_len(rows); i++) {
		struct json_object *row = jx_at(rows, i);

		if (!json_object_is_type(row, json_type_object))
			continue;
		if (share && row_filled(row)) {
			json_object_array_add(work, json_object_get(row));
			continue;
		}
		row = shallow_copy(row);
		fill_columns(row);
		json_object_array_add(work, row);
	}
	return work;
}

struct stage;
typedef struct json_object *(*runner)(const struct stage *st,
				      struct json_object *rows);

struct item {
	char *name; /* output column name */
	struct node *expr;
	bool desc;        /* order by: descending */
	bool nulls_first; /* order by: nulls before values */
};

struct stage {
	runner run;
	struct node *pred;  /* where */
	struct item *items; /* project, extend, order by, project-away;
			       summarize: its aggregations (no expr) */
	size_t nitems;
	struct item *keys; /* summarize: the "by" keys */
	size_t nkeys;
	int64_t limit; /* limit / take */
};

struct query {
	struct stage *stages;
	size_t n;
};

/* Frees a list of items: their names and expressions. */
static void items_free(struct item *v, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(v[k].name);
		node_free(v[k].expr);
	}
	free(v);
}

/* Frees the parsed stages of a query. */
static void query_free(struct query *qy)
{
	for (size_t i = 0; i < qy->n; i++) {
		node_free(qy->stages[i].pred);
		items_free(qy->stages[i].items, qy->stages[i].nitems);
		items_free(qy->stages[i].keys, qy->stages[i].nkeys);
	}
	free(qy->stages);
}

/* Appends an empty item to a list of n items and returns it. */
static struct item *items_push(struct item **v, size_t *n)
{
	*v = grow(*v, *n, sizeof(**v));
	(*v)[*n] = (struct item){ NULL, NULL, false, false };
	return &(*v)[(*n)++];
}

/* Appends an empty item to a stage and returns it. */
static struct item *item_add(struct stage *st)
{
	return items_push(&st->items, &st->nitems);
}

/* Runs where: keeps the rows for which the predicate is true. */
static struct json_object *run_where(const struct stage *st,
				     struct json_object *rows)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < jx_len(rows); i++) {
		struct json_object *row = jx_at(rows, i);
		struct json_object *v = eval(st->pred, row);

		if (is_true(v))
			json_object_array_add(out, json_object_get(row));
		json_object_put(v);
	}
	json_object_put(rows);
	return out;
}

/* Evaluates the stage's items into a row in place (extend). */
static void set_items(const struct stage *st, struct json_object *src,
		      struct json_object *dst)
{
	for (size_t k = 0; k < st->nitems; k++) {
		struct json_object *v = eval(st->items[k].expr, src);

		json_object_object_add(dst, st->items[k].name, v);
	}
}

/* Returns the static name of the Resources column called name, or NULL when no
 * column is. */
static const char *static_name(const char *name)
{
	for (size_t i = 0; i < NCOLUMNS; i++)
		if (strcmp(resource_columns[i].name, name) == 0)
			return resource_columns[i].name;
	return NULL;
}

/*
 * Builds one projected row. Its column names are unique (the parser refuses
 * duplicates), and those that name a Resources column are stored as that
 * column's static name (fixed[k]) instead of a copy.
 */
static struct json_object *project_row(const struct stage *st,
				       const char *const *fixed,
				       struct json_object *src)
{
	struct json_object *o = json_object_new_object();

	for (size_t k = 0; k < st->nitems; k++) {
		struct json_object *v = eval(st->items[k].expr, src);

		if (fixed[k])
			json_object_object_add_ex(
				o, fixed[k], v,
				JSON_C_OBJECT_ADD_KEY_IS_NEW |
					JSON_C_OBJECT_KEY_IS_CONSTANT);
		else
			json_object_object_add_ex(o, st->items[k].name, v,
						  JSON_C_OBJECT_ADD_KEY_IS_NEW);
	}
	return o;
}

/* Runs project: each row becomes a new object with just the listed columns. */
static struct json_object *run_project(const struct stage *st,
				       struct json_object *rows)
{
	struct json_object *out = json_object_new_array();
	const char **fixed = xcalloc(st->nitems + 1, sizeof(*fixed));

	for (size_t k = 0; k < st->nitems; k++)
		fixed[k] = static_name(st->items[k].name);
	for (size_t i = 0; i < jx_len(rows); i++)
		json_object_array_add(out,
				      project_row(st, fixed, jx_at(rows, i)));
	free(fixed);
	json_object_put(rows);
	return out;
}

/* Runs extend: adds or replaces columns in place (the rows are private copies).
 */
static struct json_object *run_extend(const struct stage *st,
				      struct json_object *rows)
{
	for (size_t i = 0; i < jx_len(rows); i++)
		if (json_object_is_type(jx_at(rows, i), json_type_object))
			set_items(st, jx_at(rows, i), jx_at(rows, i));
	return rows;
}

/* Runs project-away: removes the listed columns in place. */
static struct json_object *run_away(const struct stage *st,
				    struct json_object *rows)
{
	for (size_t i = 0; i < jx_len(rows); i++)
		for (size_t k = 0; k < st->nitems; k++)
			if (json_object_is_type(jx_at(rows, i),
						json_type_object))
				json_object_object_del(jx_at(rows, i),
						       st->items[k].name);
	return rows;
}

/* Runs limit / take: drops the rows after the first N. */
static struct json_object *run_limit(const struct stage *st,
				     struct json_object *rows)
{
	size_t n = jx_len(rows);

	if ((uint64_t)st->limit < n)
		json_object_array_del_idx(rows, (size_t)st->limit,
					  n - (size_t)st->limit);
	return rows;
}

struct sortrow {
	struct json_object *row;
	struct json_object **keys;
	size_t idx; /* input position, so that the sort is stable */
	const struct stage *st;
};

/* Orders two sort keys by one "order by" item, placing nulls as it asks. */
static int key_cmp(struct json_object *a, struct json_object *b,
		   const struct item *it)
{
	int c;

	if (!a || !b) {
		if (!a && !b)
			return 0;
		return (!a) == it->nulls_first ? -1 : 1;
	}
	c = val_order(a, b);
	return it->desc ? -c : c;
}

/* qsort callback: orders rows by each key in turn, then by input position. */
static int sortrow_cmp(const void *pa, const void *pb)
{
	const struct sortrow *a = pa, *b = pb;

	for (size_t k = 0; k < a->st->nitems; k++) {
		int c = key_cmp(a->keys[k], b->keys[k], &a->st->items[k]);

		if (c)
			return c;
	}
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Evaluates the sort keys of every row into one block, row by row. */
static struct sortrow *sort_prepare(const struct stage *st,
				    struct json_object *rows, size_t n)
{
	struct sortrow *v = xcalloc(n, sizeof(*v));
	struct json_object **keys = xcalloc(n * st->nitems, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		v[i].row = jx_at(rows, i);
		v[i].idx = i;
		v[i].st = st;
		v[i].keys = keys + i * st->nitems;
		for (size_t k = 0; k < st->nitems; k++)
			v[i].keys[k] = eval(st->items[k].expr, v[i].row);
	}
	return v;
}

/* Runs order by / sort by. */
static struct json_object *run_order(const struct stage *st,
				     struct json_object *rows)
{
	size_t n = jx_len(rows);
	struct sortrow *v;
	struct json_object *out, **keys;

	if (n < 2)
		return rows;
	v = sort_prepare(st, rows, n);
	keys = v[0].keys; /* the block every row's keys are in, first row's
			     first */
	qsort(v, n, sizeof(*v), sortrow_cmp);
	out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object_array_add(out, json_object_get(v[i].row));
		for (size_t k = 0; k < st->nitems; k++)
			json_object_put(v[i].keys[k]);
	}
	free(keys);
	free(v);
	json_object_put(rows);
	return out;
}

/* Makes the row of a new summarize group: the keys' values (vals, in key order)
 * and every count at 0. */
static struct json_object *new_group(const struct stage *st,
				     struct json_object *vals)
{
	struct json_object *g = json_object_new_object();

	for (size_t k = 0; k < st->nkeys; k++)
		json_object_object_add(g, st->keys[k].name,
				       json_object_get(jx_at(vals, k)));
	for (size_t a = 0; a < st->nitems; a++)
		json_object_object_add(g, st->items[a].name,
				       json_object_new_int64(0));
	return g;
}

/* Counts a row in its group, made on first sight (seen maps the keys' JSON text
 * to the group's row). */
static void count_row(const struct stage *st, struct json_object *row,
		      struct json_object *out, struct json_object *seen)
{
	struct json_object *vals = json_object_new_array(), *group = NULL;

	for (size_t k = 0; k < st->nkeys; k++)
		json_object_array_add(vals, eval(st->keys[k].expr, row));
	if (!json_object_object_get_ex(seen, jx_text(vals), &group)) {
		group = new_group(st, vals);
		json_object_object_add(seen, jx_text(vals), group);
		json_object_array_add(out, json_object_get(group));
	}
	for (size_t a = 0; a < st->nitems; a++)
		json_object_int_inc(
			json_object_object_get(group, st->items[a].name), 1);
	json_object_put(vals);
}

/*
 * Runs summarize: one row per distinct combination of the "by" keys, in the
 * order first seen, with each count(); without keys, one row even over no rows.
 */
static struct json_object *run_summarize(const struct stage *st,
					 struct json_object *rows)
{
	struct json_object *out = json_object_new_array(),
			   *seen = json_object_new_object();

	for (size_t i = 0; i < jx_len(rows); i++)
		count_row(st, jx_at(rows, i), out, seen);
	if (st->nkeys == 0 && jx_len(out) == 0)
		json_object_array_add(out, new_group(st, NULL));
	json_object_put(seen);
	json_object_put(rows);
	return out;
}

/* ------------------------------------------------------------------ parser */

struct cols {
	char **v;
	enum vtype *t;
	size_t n;
};

struct parser {
	struct tok *toks;
	size_t pos;
	char *err;
	int depth;
	struct cols cols; /* the columns in scope before the current stage */
};

/* Words that cannot name a new column. */
static const char *const reserved[] = {
	"and",   "or",         "in",       "by",    "asc",       "desc",
	"nulls", "first",      "last",     "true",  "false",     "contains",
	"has",   "startswith", "endswith", "where", "project",   "extend",
	"order", "sort",       "limit",    "take",  "summarize",
};

/* Finds a column in scope (column names are case-sensitive); returns its index
 * or -1. */
static long cols_find(const struct cols *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], name) == 0)
			return (long)i;
	return -1;
}

/* Brings a column of a given type into scope, or retypes it. */
static void cols_add(struct cols *c, const char *name, enum vtype type)
{
	long i = cols_find(c, name);

	if (i < 0) {
		c->v = grow(c->v, c->n, sizeof(*c->v));
		c->t = grow(c->t, c->n, sizeof(*c->t));
		c->v[c->n] = xstrdup(name);
		i = (long)c->n++;
	}
	c->t[i] = type;
}

/* Takes a column out of scope. */
static void cols_del(struct cols *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i], name) == 0) {
			free(c->v[i]);
			c->v[i] = c->v[--c->n];
			c->t[i] = c->t[c->n];
			return;
		}
	}
}

/* Empties the column scope. */
static void cols_free(struct cols *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	free(c->t);
	c->v = NULL;
	c->t = NULL;
	c->n = 0;
}

/* Returns the current token. */
static struct tok *peek(const struct parser *p)
{
	return &p->toks[p->pos];
}

/* Returns the current token and moves past it (never past the end). */
static struct tok *advance(struct parser *p)
{
	struct tok *t = peek(p);

	if (t->kind != T_END)
		p->pos++;
	return t;
}

/* Tells whether a token is the given punctuation. */
static bool is_punct(const struct tok *t, const char *s)
{
	return t->kind == T_PUNCT && strcmp(t->text, s) == 0;
}

/* Tells whether a token is the given keyword or operator word, ignoring case.
 */
static bool is_word(const struct tok *t, const char *s)
{
	return (t->kind == T_IDENT || t->kind == T_WORD) &&
	       strcasecmp(t->text, s) == 0;
}

/* Moves past the current token if it is the given punctuation. */
static bool accept_punct(struct parser *p, const char *s)
{
	if (!is_punct(peek(p), s))
		return false;
	p->pos++;
	return true;
}

/* Moves past the current token if it is the given keyword. */
static bool accept_word(struct parser *p, const char *s)
{
	if (!is_word(peek(p), s))
		return false;
	p->pos++;
	return true;
}

/* Describes a token for an error message, shortened and made safe to show. */
static char *tok_describe(const struct tok *t)
{
	char *cut, *safe, *d;

	if (t->kind == T_END)
		return xstrdup("the end of the query");
	cut = xstrndup(t->text, MAX_SHOWN);
	safe = text_sanitize(cut, false);
	if (t->kind == T_STRING)
		d = xasprintf("the string \"%s\"", safe);
	else
		d = xasprintf("'%s'", safe);
	free(cut);
	free(safe);
	return d;
}

/* Records a syntax error at the current token: what was expected and what was
 * found. */
static void perr(struct parser *p, const char *expected)
{
	char *d, *msg;

	if (p->err)
		return;
	d = tok_describe(peek(p));
	msg = xasprintf("expected %s but found %s", expected, d);
	set_error(&p->err, peek(p)->pos, "ParserFailure", msg);
	free(msg);
	free(d);
}

/* Records a semantic error (a well-formed query that cannot be run) at a
 * position. */
static void serr(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a semantic error (a well-formed query that cannot be run) at a
 * position. */
static void serr(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (p->err)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	set_error(&p->err, pos, "SemanticError", msg);
	free(msg);
}

/* Moves past the given punctuation, or records a syntax error. */
static bool expect_punct(struct parser *p, const char *s)
{
	char want[8];

	if (accept_punct(p, s))
		return true;
	snprintf(want, sizeof(want), "'%s'", s);
	perr(p, want);
	return false;
}

static struct node *parse_expr(struct parser *p);

/* Checks that an operand can stand where a boolean is needed. */
static bool check_bool(struct parser *p, const struct node *n,
		       const char *where)
{
	if (n->type == V_BOOL || n->type == V_DYN)
		return true;
	serr(p, n->pos, "%s needs a boolean operand", where);
	return false;
}

/* Wraps a literal value in a node. */
static struct node *lit_node(struct json_object *v, enum vtype type, size_t pos)
{
	struct node *n = node_new(N_LIT, type, pos);

	n->lit = v;
	return n;
}

/* Converts real-number text with json-c, whose parser ignores the locale's
 * decimal point. */
static struct json_object *real_value(const char *text, bool neg)
{
	struct json_object *v = json_tokener_parse(text);
	double d = json_object_get_double(v);

	if (!json_object_is_type(v, json_type_double) || d != d || d - d != 0) {
		json_object_put(v);
		return NULL;
	}
	if (!neg)
		return v;
	json_object_put(v);
	return json_object_new_double(-d);
}

/* Converts number text to a json integer, or a double if it has a fraction or
 * exponent. */
static struct json_object *number_value(const char *text, bool neg)
{
	long long v;

	if (strpbrk(text, ".eE"))
		return real_value(text, neg);
	errno = 0;
	v = strtoll(text, NULL, 10);
	return errno == ERANGE ? NULL : json_object_new_int64(neg ? -v : v);
}

/* Parses a number literal with an optional leading minus sign. */
static struct node *parse_number(struct parser *p)
{
	size_t pos = peek(p)->pos;
	bool neg = accept_punct(p, "-");
	struct json_object *v;

	if (peek(p)->kind != T_NUMBER) {
		perr(p, "a number");
		return NULL;
	}
	v = number_value(advance(p)->text, neg);
	if (!v) {
		serr(p, pos, "number out of range");
		return NULL;
	}
	return lit_node(v, V_NUM, pos);
}

/* Parses an integer literal, as in an array index or a row count; returns false
 * on error. */
static bool parse_integer(struct parser *p, bool allow_neg, long long *out)
{
	struct node *n =
		allow_neg || !is_punct(peek(p), "-") ? parse_number(p) : NULL;
	bool ok = n && json_object_is_type(n->lit, json_type_int);

	if (n && !ok)
		serr(p, n->pos, "an integer is needed here");
	else if (!n)
		perr(p, "a whole number");
	if (ok)
		*out = (long long)json_object_get_int64(n->lit);
	node_free(n);
	return ok;
}

/* Parses a bracketed path step: ['name'] or [index]. */
static bool parse_bracket(struct parser *p, struct node *n)
{
	long long idx;

	if (peek(p)->kind == T_STRING) {
		seg_add(n, xstrdup(advance(p)->text), 0);
	} else if (parse_integer(p, true, &idx)) {
		seg_add(n, NULL, idx);
	} else {
		return false;
	}
	return expect_punct(p, "]");
}

/* Parses the steps after a column name: .name, ['name'] and [index]. */
static bool parse_steps(struct parser *p, struct node *n)
{
	for (;;) {
		if (accept_punct(p, "[")) {
			if (!parse_bracket(p, n))
				return false;
		} else if (accept_punct(p, ".")) {
			if (peek(p)->kind != T_IDENT) {
				perr(p, "a property name");
				return false;
			}
			seg_add(n, xstrdup(advance(p)->text), 0);
		} else {
			return true;
		}
	}
}

/* Parses a column reference, which must name a column in scope; only dynamic
 * columns have steps. */
static struct node *parse_column(struct parser *p, const struct tok *t)
{
	long c = cols_find(&p->cols, t->text);
	struct node *n;

	if (c < 0) {
		serr(p, t->pos,
		     "Failed to resolve scalar expression named '%s'", t->text);
		return NULL;
	}
	n = node_new(N_COL, p->cols.t[c], t->pos);
	seg_add(n, xstrdup(t->text), 0);
	if (parse_steps(p, n) && (n->nsegs == 1 || n->type == V_DYN))
		return n;
	if (n->nsegs > 1)
		serr(p, t->pos,
		     "'%s' is not a dynamic column and has no properties",
		     t->text);
	node_free(n);
	return NULL;
}

/* Looks a function up by name, ignoring case; returns its index or -1. */
static int func_find(const char *name)
{
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strcasecmp(funcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Parses a call of one of the one-argument functions; the '(' is the current
 * token. */
static struct node *parse_call(struct parser *p, const struct tok *t)
{
	int f = func_find(t->text);
	struct node *n, *arg;

	if (f < 0) {
		serr(p, t->pos, "unknown function '%s'", t->text);
		return NULL;
	}
	advance(p);
	arg = parse_expr(p);
	if (!arg || !expect_punct(p, ")") ||
	    (funcs[f].bool_arg && !check_bool(p, arg, funcs[f].name))) {
		node_free(arg);
		return NULL;
	}
	n = node_new(N_CALL, funcs[f].ret, t->pos);
	n->op = f;
	node_add(n, arg);
	return n;
}

/* Parses what an identifier starts: true/false, a function call or a column
 * path. */
static struct node *parse_name(struct parser *p)
{
	const struct tok *t = advance(p);

	if (is_punct(peek(p), "("))
		return parse_call(p, t);
	if (strcasecmp(t->text, "true") == 0 ||
	    strcasecmp(t->text, "false") == 0)
		return lit_node(json_object_new_boolean(
					strcasecmp(t->text, "true") == 0),
				V_BOOL, t->pos);
	return parse_column(p, t);
}

/* Parses a parenthesised expression; the '(' has been consumed. */
static struct node *parse_paren(struct parser *p)
{
	struct node *n = parse_expr(p);

	if (n && !expect_punct(p, ")")) {
		node_free(n);
		return NULL;
	}
	return n;
}

/* Parses an operand: a literal, a column path, a function call or a
 * parenthesised expression. */
static struct node *parse_operand(struct parser *p)
{
	const struct tok *t = peek(p);

	if (accept_punct(p, "("))
		return parse_paren(p);
	if (t->kind == T_STRING)
		return lit_node(json_object_new_string(advance(p)->text), V_STR,
				t->pos);
	if (t->kind == T_NUMBER || is_punct(t, "-"))
		return parse_number(p);
	if (t->kind == T_IDENT)
		return parse_name(p);
	perr(p, "a value");
	return NULL;
}

/* Recognises a string operator word such as "!contains_cs"; returns its
 * strops[] index or -1. */
static int strop_find(const struct tok *t, bool *neg, bool *cs)
{
	const char *w = t->text;
	size_t n;

	if (t->kind != T_IDENT && t->kind != T_WORD)
		return -1;
	*neg = w[0] == '!';
	w += *neg;
	n = strlen(w);
	*cs = n > 3 && strcasecmp(w + n - 3, "_cs") == 0;
	if (*cs)
		n -= 3;
	for (size_t i = 0; i < sizeof(strops) / sizeof(strops[0]); i++)
		if (strlen(strops[i].name) == n &&
		    strncasecmp(strops[i].name, w, n) == 0)
			return (int)i;
	return -1;
}

/* Returns the comparison operator a token spells, or -1. */
static int cmp_find(const struct tok *t)
{
	for (size_t i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++)
		if (is_punct(t, cmp_ops[i]))
			return (int)i;
	return -1;
}

/* Tells whether a token is in, in~, !in or !in~. */
static bool is_in_word(const struct tok *t)
{
	return is_word(t, "in") || is_word(t, "in~") || is_word(t, "!in") ||
	       is_word(t, "!in~");
}

/* Parses the right operand of a binary predicate and completes node n; frees
 * both on error. */
static struct node *finish_binary(struct parser *p, struct node *n,
				  struct node *left)
{
	struct node *right = parse_operand(p);

	node_add(n, left);
	if (!right) {
		node_free(n);
		return NULL;
	}
	node_add(n, right);
	return n;
}

/* Parses the parenthesised list of an in-test and completes node n; frees it on
 * error. */
static struct node *finish_in(struct parser *p, struct node *n,
			      struct node *left)
{
	node_add(n, left);
	if (!expect_punct(p, "("))
		goto fail;
	do {
		struct node *e = parse_operand(p);

		if (!e)
			goto fail;
		node_add(n, e);
	} while (accept_punct(p, ","));
	if (expect_punct(p, ")"))
		return n;
fail:
	node_free(n);
	return NULL;
}

/* Parses an operand optionally followed by one comparison, in-test or string
 * operator. */
static struct node *parse_cmp(struct parser *p)
{
	struct node *left = parse_operand(p), *n;
	const struct tok *t;
	int op;
	bool neg = false, cs = true;

	if (!left)
		return NULL;
	t = peek(p);
	op = cmp_find(t);
	if (op < 0 && !is_in_word(t) && (op = strop_find(t, &neg, &cs)) < 0)
		return left;
	advance(p);
	if (is_in_word(t)) {
		n = node_new(N_IN, V_BOOL, left->pos);
		n->neg = t->text[0] == '!';
		n->cs = t->text[strlen(t->text) - 1] != '~';
		return finish_in(p, n, left);
	}
	n = node_new(cmp_find(t) >= 0 ? N_CMP : N_STROP, V_BOOL, left->pos);
	n->op = op;
	n->neg = neg;
	n->cs = cs;
	return finish_binary(p, n, left);
}

/* Parses operands joined by one logical keyword into a single n-ary node. */
static struct node *parse_chain(struct parser *p, const char *kw,
				enum nkind kind,
				struct node *(*sub)(struct parser *))
{
	struct node *first = sub(p), *n;

	if (!first || !is_word(peek(p), kw))
		return first;
	n = node_new(kind, V_BOOL, first->pos);
	node_add(n, first);
	while (accept_word(p, kw)) {
		struct node *k = sub(p);

		if (!k) {
			node_free(n);
			return NULL;
		}
		node_add(n, k);
	}
	for (size_t i = 0; i < n->nkids; i++) {
		if (!check_bool(p, n->kids[i], kw)) {
			node_free(n);
			return NULL;
		}
	}
	return n;
}

/* Parses an "and" chain. */
static struct node *parse_and(struct parser *p)
{
	return parse_chain(p, "and", N_AND, parse_cmp);
}

/* Parses a full expression ("or" binds loosest), refusing to nest too deeply.
 */
static struct node *parse_expr(struct parser *p)
{
	struct node *n;

	if (p->depth >= MAX_DEPTH) {
		serr(p, peek(p)->pos, "the expression is nested too deeply");
		return NULL;
	}
	p->depth++;
	n = parse_chain(p, "or", N_OR, parse_and);
	p->depth--;
	return n;
}

/* Tells whether a word cannot name a new column. */
static bool is_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(reserved[i], name) == 0)
			return true;
	return false;
}

/* Builds the name Resource Graph gives an unnamed column: the flattened path,
 * or ColumnN. */
static char *auto_name(const struct node *n, size_t *unnamed)
{
	struct sbuf b = SBUF_INIT;

	if (n->kind != N_COL)
		return xasprintf("Column%zu", ++*unnamed);
	for (size_t i = 0; i < n->nsegs; i++) {
		if (i)
			sb_addc(&b, '_');
		if (n->segs[i].key)
			sb_adds(&b, n->segs[i].key);
		else
			sb_printf(&b, "%lld", n->segs[i].idx);
	}
	return sb_steal(&b);
}

/*
 * Builds the name Resource Graph gives an unnamed summarize key: as auto_name,
 * and through tostring() the flattened path it converts, as Microsoft's
 * example names "by tostring(properties.storageProfile.osDisk.osType)"
 * (ResourcesPropertiesQuery.json, resourcegraph 2022-10-01).
 */
static char *key_name(const struct node *n, size_t *unnamed)
{
	if (n->kind == N_CALL && funcs[n->op].fn == fn_tostring &&
	    n->kids[0]->kind == N_COL)
		return auto_name(n->kids[0], unnamed);
	return auto_name(n, unnamed);
}

/* Takes "name =" if it comes next, into *name; false (error set) when the name
 * cannot name a column. */
static bool parse_naming(struct parser *p, char **name)
{
	const struct tok *t = peek(p);

	if (t->kind != T_IDENT || !is_punct(&p->toks[p->pos + 1], "="))
		return true;
	if (strchr(t->text, '-') || is_reserved(t->text)) {
		serr(p, t->pos, "'%s' cannot name a column", t->text);
		return false;
	}
	*name = xstrdup(t->text);
	p->pos += 2;
	return true;
}

/* Parses "name = expr" or a bare expression into an item; key: named as a
 * summarize key. */
static bool parse_item(struct parser *p, struct item *it, size_t *unnamed,
		       bool key)
{
	if (!parse_naming(p, &it->name))
		return false;
	it->expr = parse_expr(p);
	if (!it->expr)
		return false;
	if (!it->name)
		it->name = key ? key_name(it->expr, unnamed)
			       : auto_name(it->expr, unnamed);
	return true;
}

/* Tells whether an earlier item of the stage already has this name. */
static bool item_dup(const struct stage *st, const struct item *it)
{
	for (const struct item *o = st->items; o < it; o++)
		if (strcmp(o->name, it->name) == 0)
			return true;
	return false;
}

/* Parses the comma-separated items of project or extend. */
static bool parse_items(struct parser *p, struct stage *st, bool extend)
{
	size_t unnamed = 0;

	do {
		size_t pos = peek(p)->pos;
		struct item *it = item_add(st);

		if (!parse_item(p, it, &unnamed, false))
			return false;
		if (item_dup(st, it)) {
			serr(p, pos, "duplicate column name '%s'", it->name);
			return false;
		}
		if (extend)
			cols_add(&p->cols, it->name, it->expr->type);
	} while (accept_punct(p, ","));
	return true;
}

/* Parses where: a boolean expression. */
static bool parse_where(struct parser *p, struct stage *st)
{
	st->run = run_where;
	st->pred = parse_expr(p);
	return st->pred && check_bool(p, st->pred, "where");
}

/* Parses project: its items become the only columns in scope. */
static bool parse_project(struct parser *p, struct stage *st)
{
	st->run = run_project;
	if (!parse_items(p, st, false))
		return false;
	cols_free(&p->cols);
	for (size_t k = 0; k < st->nitems; k++)
		cols_add(&p->cols, st->items[k].name, st->items[k].expr->type);
	return true;
}

/* Parses extend: its items join the columns in scope. */
static bool parse_extend(struct parser *p, struct stage *st)
{
	st->run = run_extend;
	return parse_items(p, st, true);
}

/* Parses project-away: a list of columns in scope to drop. */
static bool parse_away(struct parser *p, struct stage *st)
{
	st->run = run_away;
	do {
		const struct tok *t = peek(p);

		if (t->kind != T_IDENT) {
			perr(p, "a column name");
			return false;
		}
		if (cols_find(&p->cols, t->text) < 0) {
			serr(p, t->pos, "Failed to resolve column named '%s'",
			     t->text);
			return false;
		}
		item_add(st)->name = xstrdup(advance(p)->text);
		cols_del(&p->cols, t->text);
	} while (accept_punct(p, ","));
	return true;
}

/* Tells whether one of n items is called name. */
static bool name_taken(const struct item *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

/* Parses one aggregation, "[name =] count()", into an item without an
 * expression (count is the only one). */
static bool parse_aggregate(struct parser *p, struct item *it)
{
	const struct tok *t;

	if (!parse_naming(p, &it->name))
		return false;
	t = peek(p);
	if (t->kind != T_IDENT || !is_punct(&p->toks[p->pos + 1], "(")) {
		perr(p, "an aggregation function such as count()");
		return false;
	}
	if (strcasecmp(t->text, "count") != 0) {
		serr(p, t->pos, "unknown aggregation function '%s'", t->text);
		return false;
	}
	p->pos += 2;
	if (!expect_punct(p, ")"))
		return false;
	/* Kusto itself names it count_; Resource Graph's answer in
	 * ResourcesPropertiesQuery.json names it count. */
	if (!it->name)
		it->name = xstrdup("count");
	return true;
}

/* Parses the comma-separated aggregations of summarize, each named once. */
static bool parse_aggregates(struct parser *p, struct stage *st)
{
	do {
		size_t pos = peek(p)->pos;
		struct item *it = item_add(st);

		if (!parse_aggregate(p, it))
			return false;
		if (name_taken(st->items, st->nitems - 1, it->name)) {
			serr(p, pos, "duplicate column name '%s'", it->name);
			return false;
		}
	} while (accept_punct(p, ","));
	return true;
}

/* Parses the comma-separated keys after "by", named apart from each other and
 * from the aggregations. */
static bool parse_keys(struct parser *p, struct stage *st)
{
	size_t unnamed = 0;

	do {
		size_t pos = peek(p)->pos;
		struct item *it = items_push(&st->keys, &st->nkeys);

		if (!parse_item(p, it, &unnamed, true))
			return false;
		if (name_taken(st->keys, st->nkeys - 1, it->name) ||
		    name_taken(st->items, st->nitems, it->name)) {
			serr(p, pos, "duplicate column name '%s'", it->name);
			return false;
		}
	} while (accept_punct(p, ","));
	return true;
}

/*
 * Parses summarize: "summarize [name =] count(), ... [by [name =] expr, ...]"
 * or "summarize by expr, ..."; its keys and counts become the only columns.
 */
static bool parse_summarize(struct parser *p, struct stage *st)
{
	st->run = run_summarize;
	if (!is_word(peek(p), "by") && !parse_aggregates(p, st))
		return false;
	if (accept_word(p, "by") && !parse_keys(p, st))
		return false;
	cols_free(&p->cols);
	for (size_t k = 0; k < st->nkeys; k++)
		cols_add(&p->cols, st->keys[k].name, st->keys[k].expr->type);
	for (size_t a = 0; a < st->nitems; a++)
		cols_add(&p->cols, st->items[a].name, V_NUM);
	return true;
}

/* Parses the optional asc/desc and "nulls first|last" after a sort key. */
static bool parse_direction(struct parser *p, struct item *it)
{
	it->desc = !accept_word(p, "asc");
	if (it->desc)
		accept_word(p, "desc");
	it->nulls_first = !it->desc;
	if (!accept_word(p, "nulls"))
		return true;
	if (accept_word(p, "first")) {
		it->nulls_first = true;
		return true;
	}
	if (accept_word(p, "last")) {
		it->nulls_first = false;
		return true;
	}
	perr(p, "'first' or 'last'");
	return false;
}

/* Parses order by / sort by: keys, each descending unless asc is given. */
static bool parse_order(struct parser *p, struct stage *st)
{
	st->run = run_order;
	if (!accept_word(p, "by")) {
		perr(p, "'by'");
		return false;
	}
	do {
		struct item *it = item_add(st);

		it->name = xstrdup("");
		it->expr = parse_expr(p);
		if (!it->expr || !parse_direction(p, it))
			return false;
	} while (accept_punct(p, ","));
	return true;
}

/* Parses limit / take: a non-negative row count. */
static bool parse_limit(struct parser *p, struct stage *st)
{
	long long n;

	st->run = run_limit;
	if (!parse_integer(p, false, &n))
		return false;
	st->limit = (int64_t)n;
	return true;
}

static const struct stagedef {
	const char *name;
	bool (*parse)(struct parser *p, struct stage *st);
} stagedefs[] = {
	{ "where", parse_where },         { "project", parse_project },
	{ "extend", parse_extend },       { "project-away", parse_away },
	{ "summarize", parse_summarize }, { "order", parse_order },
	{ "sort", parse_order },          { "limit", parse_limit },
	{ "take", parse_limit },
};

/* Parses one stage after its '|'. */
static bool parse_stage(struct parser *p, struct query *qy)
{
	const struct tok *t = peek(p);
	struct stage *st;

	for (size_t i = 0;
	     t->kind == T_IDENT && i < sizeof(stagedefs) / sizeof(stagedefs[0]);
	     i++) {
		if (strcasecmp(stagedefs[i].name, t->text) == 0) {
			advance(p);
			qy->stages =
				grow(qy->stages, qy->n, sizeof(*qy->stages));
			st = &qy->stages[qy->n++];
			*st = (struct stage){ .run = NULL };
			return stagedefs[i].parse(p, st);
		}
	}
	perr(p, "a query operator (where, project, project-away, extend, "
		"summarize, order by, sort by, limit, take)");
	return false;
}

/* Parses the table name; only Resources (in any case) is served. */
static bool parse_table(struct parser *p)
{
	const struct tok *t = peek(p);

	if (t->kind != T_IDENT) {
		perr(p, "a table name");
		return false;
	}
	if (strcasecmp(t->text, "resources") != 0) {
		serr(p, t->pos, "unknown table '%s'", t->text);
		return false;
	}
	advance(p);
	for (size_t i = 0; i < NCOLUMNS; i++)
		cols_add(&p->cols, resource_columns[i].name,
			 resource_columns[i].type);
	return true;
}

/* Parses a whole token list into stages; returns false with p->err set on
 * error. */
static bool parse_query(struct parser *p, struct query *qy)
{
	if (!parse_table(p))
		return false;
	while (peek(p)->kind != T_END)
		if (!expect_punct(p, "|") || !parse_stage(p, qy))
			return false;
	return true;
}

/* Lexes and parses a query; returns false with an allocated message in *err on
 * error. */
static bool kql_parse(const char *query, struct query *qy, char **err)
{
	struct lexer lx = { query, 0, NULL, 0, 0, NULL };
	struct parser p = { NULL, 0, NULL, 0, { NULL, NULL, 0 } };
	bool ok = lex_all(&lx);

	if (ok) {
		p.toks = lx.toks;
		ok = parse_query(&p, qy);
	}
	*err = ok       ? NULL
	       : lx.err ? lx.err
	       : p.err  ? p.err
			: xstrdup("ParserFailure: invalid query at position 0");
	toks_free(lx.toks, lx.n);
	cols_free(&p.cols);
	return ok;
}

/*
 * Tells whether the stages may read the caller's rows in place: a project or
 * summarize (which build new rows) comes before any stage that changes rows
 * (extend, project-away), so no input row is changed and none is handed back as
 * a result row.
 */
static bool can_share(const struct query *qy)
{
	for (size_t i = 0; i < qy->n; i++) {
		if (qy->stages[i].run == run_project ||
		    qy->stages[i].run == run_summarize)
			return true;
		if (qy->stages[i].run == run_extend ||
		    qy->stages[i].run == run_away)
			return false;
	}
	return false;
}

/* Runs each stage in turn over the working rows, which it consumes. */
static struct json_object *run_query(const struct query *qy,
				     struct json_object *rows)
{
	for (size_t i = 0; i < qy->n; i++)
		rows = qy->stages[i].run(&qy->stages[i], rows);
	return rows;
}

/* Hands an error message to the caller, or frees it if the caller did not ask
 * for one. */
static struct json_object *fail_with(char **err, char *msg)
{
	if (err)
		*err = msg;
	else
		free(msg);
	return NULL;
}

/* Runs a Resource Graph query over rows; see kql.h. */
struct json_object *kql_run(const char *query, struct json_object *rows,
			    char **err)
{
	struct query qy = { NULL, 0 };
	struct json_object *work;
	char *msg = NULL;

	if (err)
		*err = NULL;
	if (!query || !json_object_is_type(rows, json_type_array))
		return fail_with(
			err, xstrdup("InvalidArgument: no query or no rows"));
	if (!kql_parse(query, &qy, &msg)) {
		query_free(&qy);
		return fail_with(err, msg);
	}
	work = run_query(&qy, prepare_rows(rows, can_share(&qy)));
	query_free(&qy);
	return work;
}
