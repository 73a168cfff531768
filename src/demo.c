/* azcmk --demo: the simulated demo tenant started as an azcmk-sim process on
 * loopback, and azcmk pointed at it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "demo.h"
#include "i18n.h"
#include "jx.h"
#include "text.h"
#include "xalloc.h"

/*
 * The simulator runs in its own process, not linked into azcmk: a plain
 * azcmk then loads neither libmicrohttpd nor GnuTLS, and starts faster
 * (issue 13, "a lean start"). The demo tenant (tests/scenarios/demo.json)
 * is still built in, by build-aux/embed.sh, and handed to azcmk-sim on its
 * standard input.
 */
extern const char demo_scenario[];
extern const size_t demo_scenario_len;

/* How long azcmk-sim may take to say its ports, in milliseconds. */
#define DEMO_START_MS 30000

/* Returns the azcmk-sim to run (allocated): AZCMK_SIM when set, else the one
 * beside this program (installed or in its build tree), else BINDIR's. */
static char *sim_program(void)
{
	const char *env = getenv("AZCMK_SIM");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *beside = xasprintf("%s/azcmk-sim", exe);

			if (access(beside, X_OK) == 0)
				return beside;
			free(beside);
		}
	}
	return xstrdup(BINDIR "/azcmk-sim");
}

/* Makes a private temporary file from a template under TMPDIR (or /tmp) into
 * out; its descriptor, or -1 with errno. */
static int private_temp(char *out, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR")
				  ? getenv("TMPDIR")
				  : "/tmp";

	snprintf(out, len, "%s/%s-XXXXXX", tmp, name);
	return mkstemp(out);
}

/* In the child: becomes azcmk-sim, reading the scenario from in, its ports
 * going to out and its complaints to err; never returns. */
static void run_sim(const char *program, const char *ca_path, int in, int out,
		    int err, pid_t parent)
{
	/* Its own process group: a Ctrl-C or a hang-up for azcmk's terminal
	 * must not stop the tenant under an apply that is finishing its
	 * step; and it ends with azcmk, however azcmk ends. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	execl(program, "azcmk-sim", "--scenario", "-", "--ca-out", ca_path,
	      (char *)NULL);
	dprintf(2, "%s: %s\n", program, strerror(errno));
	_exit(127);
}

/* Hands the built-in scenario to the simulator's standard input, then closes
 * it; false when the simulator stopped reading. */
static bool feed(int fd)
{
	size_t done = 0;

	while (done < demo_scenario_len) {
		ssize_t n = write(fd, demo_scenario + done,
				  demo_scenario_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	return done == demo_scenario_len;
}

/* Reads the simulator's first line, its ports, into line; false on its end,
 * an error or after DEMO_START_MS. */
static bool read_ports(int fd, char *line, size_t len)
{
	size_t got = 0;
	struct pollfd p = { fd, POLLIN, 0 };

	while (got + 1 < len && poll(&p, 1, DEMO_START_MS) > 0) {
		ssize_t n = read(fd, line + got, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (line[got] == '\n')
			break;
		got++;
	}
	line[got] = '\0';
	return got > 0;
}

/* Returns what the simulator said on its standard error (the first lines,
 * made safe to print), or a generic word; allocated. */
static char *complaint(int err_fd)
{
	char buf[512];
	ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return xstrdup(_("it said nothing"));
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return text_sanitize(buf, false);
}

/* Stops the simulator process, if any, and waits for it: SIGTERM, and
 * SIGKILL when it has not ended five seconds later. */
static void stop_process(struct demo *d)
{
	pid_t done = 0;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 500 && done == 0; i++) {
		done = waitpid(d->pid, NULL, WNOHANG);
		if (done == 0)
			usleep(10000);
		else if (done < 0 && errno == EINTR)
			done = 0;
	}
	if (done == 0) {
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	d->pid = 0;
}

/* Opens the simulator's channels: its standard input and output (pipes) and
 * an unlinked private file for its standard error; false with errno. */
static bool open_channels(int in[2], int out[2], int *errfd)
{
	char errpath[256];

	*errfd = private_temp(errpath, sizeof(errpath), "azcmk-demo-err");
	if (*errfd < 0)
		return false;
	unlink(errpath);
	if (pipe2(in, O_CLOEXEC) == 0) {
		if (pipe2(out, O_CLOEXEC) == 0)
			return true;
		close(in[0]);
		close(in[1]);
	}
	close(*errfd);
	return false;
}

/* Feeds the scenario to the started simulator and reads the proxy port it
 * says; 0 when it says none. */
static int proxy_port(int in, int out)
{
	char line[256], *why = NULL;
	struct json_object *ports;
	int proxy = 0;

	if (feed(in) && read_ports(out, line, sizeof(line)) &&
	    (ports = jx_parse(line, strlen(line), &why))) {
		proxy = (int)jx_int(ports, "proxy", 0);
		json_object_put(ports);
	}
	free(why);
	return proxy > 0 && proxy < 65536 ? proxy : 0;
}

/* Starts azcmk-sim and reads its proxy port; -1 with a message naming the
 * program and what to do when it cannot. */
static int spawn(struct demo *d, char **err)
{
	int in[2], out[2], errfd, proxy = 0;
	char *program = sim_program();
	pid_t me = getpid();

	if (!open_channels(in, out, &errfd)) {
		*err = xasprintf(_("cannot start the demo's simulator: %s"),
				 strerror(errno));
		free(program);
		return -1;
	}
	d->pid = fork();
	if (d->pid == 0)
		run_sim(program, d->ca_path, in[0], out[1], errfd, me);
	close(in[0]);
	close(out[1]);
	if (d->pid > 0)
		proxy = proxy_port(in[1], out[0]);
	else
		close(in[1]);
	d->out_fd = out[0];
	if (proxy) {
		snprintf(d->proxy, sizeof(d->proxy), "http://127.0.0.1:%d",
			 proxy);
	} else {
		char *said;

		/* Stopped first, so that all it said is in the file. */
		stop_process(d);
		said = complaint(errfd);
		*err = xasprintf(_("the demo's simulator %s did not start: "
				   "%s; install azcmk-sim (or name it with "
				   "AZCMK_SIM)"),
				 program, said);
		free(said);
	}
	close(errfd);
	free(program);
	return proxy ? 0 : -1;
}

/* Takes the demo operator's tenant and credential from the built-in scenario;
 * false when it has none. */
static bool operator_of(struct demo *d)
{
	char *why = NULL;
	struct json_object *doc =
		jx_parse(demo_scenario, demo_scenario_len, &why);
	const char *tenant = jx_str(doc, "tenantId"),
		   *client_id = jx_str(doc, "operator.clientId"),
		   *secret = jx_str(doc, "operator.clientSecret");
	bool ok = tenant && client_id && secret;

	d->tenant = xstrdup(tenant ? tenant : "");
	d->client_id = xstrdup(client_id ? client_id : "");
	d->secret = xstrdup(secret ? secret : "");
	json_object_put(doc);
	free(why);
	return ok;
}

/*
 * Points the options at the simulator: its proxy, its CA and the demo
 * operator's credential go to the session through them, never through the
 * environment.
 */
static void point_at(struct demo *d, struct cmd_opts *o)
{
	d->operator.client_id = d->client_id;
	d->operator.secret = d->secret;
	o->proxy = d->proxy;
	o->client_secret = &d->operator;
	o->ca_file = d->ca_path;
	o->auth = AZ_AUTH_ENV;
	o->cloud = NULL;
	o->tenant = d->tenant;
}

/*
 * Starts the demo tenant on loopback and points the options at it; -1 with
 * a message when the simulator cannot start. The options borrow from *d
 * until demo_stop.
 */
int demo_start(struct demo *d, struct cmd_opts *o, char **err)
{
	int fd;

	memset(d, 0, sizeof(*d));
	d->out_fd = -1;
	if (!operator_of(d)) {
		*err = xstrdup(_("the built-in demo tenant names no operator"));
		demo_stop(d);
		return -1;
	}
	/* The simulator writes its CA over this private file. */
	fd = private_temp(d->ca_path, sizeof(d->ca_path), "azcmk-demo-ca");
	if (fd < 0) {
		*err = xasprintf(
			_("cannot write the demo's certificate to '%s': %s"),
			d->ca_path, strerror(errno));
		d->ca_path[0] = '\0';
		demo_stop(d);
		return -1;
	}
	close(fd);
	if (spawn(d, err) != 0) {
		demo_stop(d);
		return -1;
	}
	point_at(d, o);
	return 0;
}

/* Stops the demo tenant and removes its certificate file. */
void demo_stop(struct demo *d)
{
	stop_process(d);
	if (d->out_fd >= 0)
		close(d->out_fd);
	if (d->ca_path[0])
		unlink(d->ca_path);
	free(d->tenant);
	free(d->client_id);
	free(d->secret);
	memset(d, 0, sizeof(*d));
	d->out_fd = -1;
}
