/* azcmk rotate and azcmk refresh: move a protected resource to another key
 * version, or save its key again. */
#include "config.h"

#include "cmd.h"
#include "planflow.h"
#include "i18n.h"

/* azcmk rotate RESOURCE (--version V | --new-version): moves the resource to
 * another version of its key. */
int cmd_rotate(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	int rc;

	if (argc != 1)
		return flow_mistake(
			_("rotate takes one RESOURCE (an ARM id or a name)"));
	if (!o->version == !o->new_version)
		return flow_mistake(_("rotate needs either --version V (an "
				      "existing version) or --new-version"));
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	rc = flow_rotate(s, o, argv[0]);
	az_session_free(s);
	return rc;
}

/* azcmk refresh RESOURCE: saves the key the resource uses again (DICOM after
 * losing key access, for one). */
int cmd_refresh(const struct cmd_opts *o, int argc, char **argv)
{
	struct az_session *s;
	int rc;

	if (argc != 1)
		return flow_mistake(
			_("refresh takes one RESOURCE (an ARM id or a name)"));
	if (!(s = flow_session(o)))
		return EXIT_ERROR;
	rc = flow_refresh(s, o, argv[0]);
	az_session_free(s);
	return rc;
}
