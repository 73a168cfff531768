/* Parsing and comparing Azure Resource Manager resource ids. */
#ifndef AZ_ARMID_H
#define AZ_ARMID_H

#include <stdbool.h>

/* The parts of an ARM id; every field is allocated, or NULL when the id has no
 * such part. */
struct armid {
	char *subscription;   /* subscription GUID */
	char *resource_group; /* resource group name */
	char *type;           /* full type, e.g.
				 "Microsoft.HealthcareApis/workspaces/dicomservices" */
	char *name;           /* the last name, e.g. "dicom1" */
	char *full_name;      /* names joined by '/', e.g. "hdsws1/dicom1" */
	char *parent;    /* the id of the parent resource for child types */
	bool collection; /* the id ends with a type and no name (a list URL) */
};

bool armid_parse(const char *id, struct armid *out);
void armid_free(struct armid *id);
bool armid_within(const char *id, const char *scope);
char *armid_provider_type(const char *type);
char *armid_extension_scope(const char *path, const char *provider);
bool armid_of_type(const char *id, const char *type, struct armid *keep);

#endif
