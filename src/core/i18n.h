/* Translation macros: every user-visible string goes through _() or N_(). */
#ifndef AZ_I18N_H
#define AZ_I18N_H

#include <libintl.h>

#define _(s) gettext(s)
#define N_(s) (s)
#define P_(s, p, n) ngettext((s), (p), (n))

#endif
