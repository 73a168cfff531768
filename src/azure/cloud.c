/* Azure clouds: the endpoints and token audiences of AzureCloud,
 * AzureUSGovernment and AzureChinaCloud. */
#include "config.h"

#include <stddef.h>

#include "cloud.h"
#include "text.h"

/* The portals: Microsoft's "Azure Government developer guide" (portal.azure.us)
 * and "Azure operated by 21Vianet" (portal.azure.cn) documents. */
static const struct az_cloud CLOUDS[] = {
	{ "AzureCloud", "https://management.azure.com",
	  "https://login.microsoftonline.com",
	  "https://management.azure.com/.default", ".vault.azure.net",
	  "https://vault.azure.net/.default", ".managedhsm.azure.net",
	  "https://managedhsm.azure.net/.default",
	  "https://graph.microsoft.com", "https://graph.microsoft.com/.default",
	  "https://portal.azure.com/" },
	{ "AzureUSGovernment", "https://management.usgovcloudapi.net",
	  "https://login.microsoftonline.us",
	  "https://management.usgovcloudapi.net/.default",
	  ".vault.usgovcloudapi.net",
	  "https://vault.usgovcloudapi.net/.default",
	  ".managedhsm.usgovcloudapi.net",
	  "https://managedhsm.usgovcloudapi.net/.default",
	  "https://graph.microsoft.us", "https://graph.microsoft.us/.default",
	  "https://portal.azure.us/" },
	{ "AzureChinaCloud", "https://management.chinacloudapi.cn",
	  "https://login.chinacloudapi.cn",
	  "https://management.chinacloudapi.cn/.default", ".vault.azure.cn",
	  "https://vault.azure.cn/.default", ".managedhsm.azure.cn",
	  "https://managedhsm.azure.cn/.default",
	  "https://microsoftgraph.chinacloudapi.cn",
	  "https://microsoftgraph.chinacloudapi.cn/.default",
	  "https://portal.azure.cn/" },
};

/* Finds a cloud by name, ignoring case; NULL for an unknown name (NULL name:
 * AzureCloud). */
const struct az_cloud *az_cloud_find(const char *name)
{
	if (!name)
		return &CLOUDS[0];
	for (size_t i = 0; i < sizeof(CLOUDS) / sizeof(CLOUDS[0]); i++)
		if (str_ieq(name, CLOUDS[i].name))
			return &CLOUDS[i];
	return NULL;
}

/* Lists the cloud names for messages. */
const char *az_cloud_names(void)
{
	return "AzureCloud, AzureUSGovernment, AzureChinaCloud";
}
