/* Findings as text for the commands: severity labels, colour rules and one
 * finding with its why and fix. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd.h"
#include "cli.h"
#include "i18n.h"
#include "text.h"

/* Tells whether colour may be used on a stream: a terminal, and colour not
 * turned off (NO_COLOR, AZURE_CORE_NO_COLOR). */
bool report_colour(FILE *out)
{
	return cli_colour(isatty(fileno(out)));
}

/* Prints one finding as text: severity, rule, message, then why and what to do.
 */
void report_finding(FILE *out, const struct cmk_finding *f, bool colour)
{
	char *label = text_pad(cmk_finding_label(f), 8);
	/* Messages hold names and text from servers: stripped of control
	 * characters before the terminal. */
	char *msg = text_sanitize(f->message, false),
	     *detail = f->detail ? text_sanitize(f->detail, false) : NULL;

	fprintf(out, "%s%s%s  %s  %s\n",
		colour ? (f->unknown ? "\033[35m"
				     : cmk_severity_colour(f->severity))
		       : "",
		label, colour ? "\033[0m" : "", f->rule->id, msg);
	if (detail)
		fprintf(out, "          %s\n", detail);
	free(msg);
	free(detail);
	fprintf(out, _("          why: %s\n"), _(f->rule->explanation));
	fprintf(out, _("          fix: %s\n"), _(f->rule->fix));
	free(label);
}
