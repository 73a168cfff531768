/* azcmk: protect Azure service data with customer-managed keys. Entry point and command dispatch. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"

/* Prints the usage text. */
static void usage(void)
{
	printf(_("Usage: %s [OPTION]...\n"), cli_program());
	puts(_("Guide an Azure operator through protecting the data of a DICOM service, a healthcare\n"
	       "agent service, Microsoft Foundry or Azure OpenAI with a customer-managed key held in\n"
	       "Azure Key Vault or Managed HSM.\n"));
	puts(_("  -h, --help       display this help and exit\n"
	       "  -V, --version    output version information and exit\n"));
	puts(_("The wizard and the commands (audit, check, plan, apply, rotate, refresh) are being\n"
	       "built; this version provides the simulated Azure, azcmk-sim, to try them against.\n"));
	printf(_("Full documentation: man %s\n"), cli_program());
}

/* Parses the options and runs what they ask. */
int main(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 } };
	int c;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(); return 0;
		case 'V': cli_version(); return 0;
		default:
			fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
			return 2;
		}
	}
	if (optind < argc) {
		cli_error(_("unknown command '%s'"), argv[optind]);
		fprintf(stderr, _("Try '%s --help' for more information.\n"), cli_program());
		return 2;
	}
	usage();
	return 0;
}
