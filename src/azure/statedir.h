/* azcmk's state directory: private to its user, and files in it opened without
 * following links. */
#ifndef AZ_STATEDIR_H
#define AZ_STATEDIR_H

#include <stdbool.h>

#include "plan.h"

char *cmk_state_dir(void);
char *cmk_state_path(const char *name);
void cmk_make_dirs(const char *file);
bool cmk_private_dir(const char *file, char **err);
int cmk_open_private(const char *path, int flags, char **err);
bool cmk_write_private(const char *path, const char *text, char **err);
char *cmk_keep_plan(const struct plan *p, char **err);
char *cmk_history_path(void);
bool cmk_history_append(struct json_object *entry, char **err);

#endif
