/* Azure clouds: the endpoints and token audiences of AzureCloud,
 * AzureUSGovernment and AzureChinaCloud. */
#ifndef AZ_CLOUD_H
#define AZ_CLOUD_H

struct az_cloud {
	const char *name;
	const char *arm;       /* "https://management.azure.com" */
	const char *authority; /* "https://login.microsoftonline.com" */
	const char *arm_scope; /* "https://management.azure.com/.default" */
	const char *kv_suffix; /* ".vault.azure.net" */
	const char *kv_scope;
	const char *hsm_suffix;
	const char *hsm_scope;
	const char *graph;
	const char *graph_scope;
	const char *portal; /* "https://portal.azure.com/", where links point */
};

const struct az_cloud *az_cloud_find(const char *name);
const char *az_cloud_names(void);

#endif
