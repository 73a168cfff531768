/* Starting and stopping the simulated Azure, and telling which simulated
 * service a host name is. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "scenario.h"
#include "sim-int.h"
#include "text.h"
#include "xalloc.h"

/* Host names by the kind of service they reach, in the three public clouds. */
static const struct {
	const char *host;
	enum host_kind kind;
} HOSTS[] = {
	{ "login.microsoftonline.com", HOST_LOGIN },
	{ "login.microsoftonline.us", HOST_LOGIN },
	{ "login.chinacloudapi.cn", HOST_LOGIN },
	{ "login.windows.net", HOST_LOGIN },
	{ "management.azure.com", HOST_ARM },
	{ "management.usgovcloudapi.net", HOST_ARM },
	{ "management.chinacloudapi.cn", HOST_ARM },
	{ "graph.microsoft.com", HOST_GRAPH },
	{ "graph.microsoft.us", HOST_GRAPH },
	{ "microsoftgraph.chinacloudapi.cn", HOST_GRAPH },
	{ "sim.local", HOST_ADMIN },
};

/* Data-plane suffixes: the first label of the host is the vault or HSM name. */
static const struct {
	const char *suffix;
	enum host_kind kind;
} SUFFIXES[] = {
	{ ".vault.azure.net", HOST_VAULT },
	{ ".vault.usgovcloudapi.net", HOST_VAULT },
	{ ".vault.azure.cn", HOST_VAULT },
	{ ".managedhsm.azure.net", HOST_HSM },
	{ ".managedhsm.usgovcloudapi.net", HOST_HSM },
	{ ".managedhsm.azure.cn", HOST_HSM },
};

/* Classifies a (lower-case, port-less) host; for data-plane hosts also returns
 * the vault name. */
enum host_kind sim_classify_host(struct sim *s, const char *host,
				 char **dataplane)
{
	(void)s;
	for (size_t i = 0; i < sizeof(HOSTS) / sizeof(HOSTS[0]); i++)
		if (str_ieq(host, HOSTS[i].host))
			return HOSTS[i].kind;
	for (size_t i = 0; i < sizeof(SUFFIXES) / sizeof(SUFFIXES[0]); i++) {
		size_t n = strlen(host), m = strlen(SUFFIXES[i].suffix);

		if (n > m && str_iends(host, SUFFIXES[i].suffix) &&
		    !memchr(host, '.', n - m)) {
			if (dataplane) {
				free(*dataplane);
				*dataplane = xstrndup(host, n - m);
			}
			return SUFFIXES[i].kind;
		}
	}
	return HOST_UNKNOWN;
}

/* Tells whether the proxy should tunnel to a host: a known service, or a vault
 * that exists. */
bool sim_host_known(struct sim *s, const char *host)
{
	char *name = NULL;
	enum host_kind k = sim_classify_host(s, host, &name);
	bool known = k != HOST_UNKNOWN;

	if (k == HOST_VAULT || k == HOST_HSM)
		known = state_vault_by_name(s, name, k == HOST_HSM) != NULL;
	free(name);
	return known;
}

/* Parses and checks a scenario without starting anything. */
bool sim_check_scenario(const char *text, size_t len, char **err)
{
	struct json_object *doc = jx_parse(text, len, err);
	bool ok;

	if (!doc) {
		char *m = xasprintf("the scenario is not valid JSON: %s", *err);

		free(*err);
		*err = m;
		return false;
	}
	ok = scenario_validate(doc, err);
	json_object_put(doc);
	return ok;
}

/* Reads the port an MHD daemon is bound to. */
static int daemon_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

/* Starts the servers: HTTPS, the identity endpoint and the proxy; false with a
 * message on failure. */
static bool start_servers(struct sim *s, const struct sim_options *opt,
			  char **err)
{
	s->https = http_daemon(s, opt->https_port, true);
	if (!s->https) {
		*err = xasprintf("cannot start the HTTPS server on "
				 "127.0.0.1:%d (port in use?)",
				 opt->https_port);
		return false;
	}
	s->https_port = daemon_port(s->https);
	s->identity = http_daemon(s, opt->identity_port, false);
	if (!s->identity) {
		*err = xasprintf("cannot start the identity endpoint on "
				 "127.0.0.1:%d (port in use?)",
				 opt->identity_port);
		return false;
	}
	s->identity_port = daemon_port(s->identity);
	s->proxy = proxy_start(s, opt->proxy_port, s->https_port, err);
	if (!s->proxy)
		return false;
	s->proxy_port = proxy_port(s->proxy);
	return true;
}

/* Starts a simulator from a scenario; returns NULL with an allocated message on
 * failure. */
struct sim *sim_start(const struct sim_options *opt, char **err)
{
	struct sim *s = xcalloc(1, sizeof(*s));

	*err = NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->scenario_text =
		xstrndup(opt->scenario_text ? opt->scenario_text : "",
			 opt->scenario_len);
	s->scenario_len = strlen(s->scenario_text);
	s->latency_override = opt->latency_ms;
	if (opt->log_path && !(s->logfile = fopen(opt->log_path, "a"))) {
		*err = xasprintf("cannot open the request log '%s' for writing",
				 opt->log_path);
		sim_stop(s);
		return NULL;
	}
	if (state_load(s, err) != 0 || tls_init(&s->tls, err) != 0) {
		sim_stop(s);
		return NULL;
	}
	/* Before the servers start: from then on only under the lock. */
	rg_index(s);
	if (!start_servers(s, opt, err)) {
		sim_stop(s);
		return NULL;
	}
	return s;
}

/* Returns the three ports. */
void sim_ports(const struct sim *s, int *https, int *proxy, int *identity)
{
	if (https)
		*https = s->https_port;
	if (proxy)
		*proxy = s->proxy_port;
	if (identity)
		*identity = s->identity_port;
}

/* Returns the CA certificate (PEM) that clients must trust. */
const char *sim_ca_pem(const struct sim *s)
{
	return s->tls.ca_pem;
}

/* Gives the scenario's tenant and its operator's client id and secret
 * (borrowed; NULL when absent). */
void sim_operator(const struct sim *s, const char **tenant,
		  const char **client_id, const char **secret)
{
	*tenant = jx_str(s->doc, "tenantId");
	*client_id = jx_str(s->doc, "operator.clientId");
	*secret = jx_str(s->doc, "operator.clientSecret");
}

/* Stops every server and frees the simulator. */
void sim_stop(struct sim *s)
{
	if (!s)
		return;
	proxy_stop(s->proxy);
	if (s->https)
		MHD_stop_daemon(s->https);
	if (s->identity)
		MHD_stop_daemon(s->identity);
	if (s->logfile)
		fclose(s->logfile);
	state_free(s);
	rg_free(s);
	tls_free(&s->tls);
	free(s->scenario_text);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
