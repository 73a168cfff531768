/* azcmk guard: the Azure Policy assignments that keep the four services on
 * customer-managed keys, as an ARM template or an Azure CLI script; nothing is
 * asked of Azure. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "cli.h"
#include "cmd.h"
#include "guard.h"
#include "i18n.h"
#include "planflow.h"

/* Reads the scope the options name into r; false after a usage mistake (said).
 */
static bool scope_of(const struct cmd_opts *o, struct guard_req *r)
{
	if (o->nsubs > 1) {
		flow_mistake(_("guard assigns at one subscription: give "
			       "--subscription once"));
		return false;
	}
	if (o->nsubs && o->management_group) {
		flow_mistake(_("choose --subscription or --management-group, "
			       "not both"));
		return false;
	}
	r->scope = o->management_group ? GUARD_MANAGEMENT_GROUP
				       : GUARD_SUBSCRIPTION;
	r->target = o->management_group ? o->management_group
		    : o->nsubs          ? o->subscriptions[0]
					: NULL;
	return true;
}

/* Writes the set in the format asked on standard output. */
static void print_set(const struct cmd_opts *o, const struct guard_set *set)
{
	if (o->format == FMT_AZ) {
		char *script = guard_render_az(set);

		fputs(script, stdout);
		free(script);
	} else {
		struct json_object *t = guard_render_arm(set);

		puts(json_object_to_json_string_ext(
			t, JSON_C_TO_STRING_PRETTY |
				   JSON_C_TO_STRING_NOSLASHESCAPE |
				   JSON_C_TO_STRING_SPACED));
		json_object_put(t);
	}
}

/* Says on standard error what the operator must know: the notes, and how to
 * deploy a template. */
static void tell(const struct cmd_opts *o, const struct guard_set *set)
{
	for (size_t i = 0; i < set->nnotes; i++)
		cli_warn(_("Note: %s\n"), set->notes[i]);
	if (o->format != FMT_AZ) {
		char *cmd = guard_deploy_hint(&set->req);

		cli_warn(_("Deploy it with: %s\n"), cmd);
		free(cmd);
	}
}

/* azcmk guard [--deny] [--service S]... [--subscription ID |
 * --management-group NAME] [--format arm|az]. */
int cmd_guard(const struct cmd_opts *o, int argc, char **argv)
{
	struct guard_req r = { .services = o->services, .deny = o->deny };
	struct guard_set set;
	char *err = NULL;

	(void)argv;
	if (argc != 0)
		return flow_mistake(_("guard takes no argument; choose with "
				      "--service, --subscription or "
				      "--management-group"));
	if (!scope_of(o, &r))
		return EXIT_ERROR;
	if (guard_build(GUARD_BUILTINS, GUARD_NBUILTINS, &r, &set, &err) != 0) {
		cli_error(_("cannot write the guard policies: %s"), err);
		free(err);
		return EXIT_ERROR;
	}
	print_set(o, &set);
	tell(o, &set);
	guard_free(&set);
	return EXIT_OK;
}
