/* The built-in Azure role definitions azcmk knows without asking (generated
 * data in roles.c). */
#ifndef AZ_ROLES_H
#define AZ_ROLES_H

struct json_object;

struct json_object *roles_builtin(void);

#endif
