/* The simulator's CONNECT proxy: any client with HTTPS_PROXY set reaches the
 * simulated hosts by their real names. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "sim-int.h"
#include "xalloc.h"

#define HEAD_MAX 16384
#define MAX_TUNNELS 1024

struct sim_proxy {
	struct sim *sim;
	int listen_fd;
	int port;
	int target_port;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int fds[MAX_TUNNELS]; /* client sockets of live tunnels, -1 when free */
	int active;
};

struct tunnel {
	struct sim_proxy *p;
	int client;
	int slot;
};

/* Writes all of a buffer to a socket; false on error. */
static bool send_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

/* Sends a short HTTP answer to the proxy client. */
static void answer(int fd, const char *status)
{
	char buf[256];
	int n = snprintf(
		buf, sizeof(buf),
		"HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		status);

	send_all(fd, buf, (size_t)n);
}

/* Reads the request head (up to the blank line); returns its length, the extra
 * bytes read stay in buf. */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap - 1) {
		ssize_t r = recv(fd, buf + *got, cap - 1 - *got, 0);
		char *end;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		*got += (size_t)r;
		buf[*got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			return end + 4 - buf;
	}
	return -1;
}

/* Opens a TCP connection to the HTTPS server on loopback, with Nagle off. */
static int connect_target(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Copies bytes both ways until either side closes. */
static void relay(int a, int b)
{
	struct pollfd pfd[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
	char buf[16384];

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(pfd[i].fd, buf, sizeof(buf), 0);
			if (r <= 0 || !send_all(pfd[1 - i].fd, buf, (size_t)r))
				return;
		}
	}
}

/* Tells whether the host a CONNECT names is one the simulator serves (a real
 * proxy would fail to resolve others). */
static bool host_known(struct sim *s, const char *hostport)
{
	char host[256];
	bool known;

	if (sscanf(hostport, "%255[^:]", host) != 1)
		return false;
	pthread_mutex_lock(&s->lock);
	known = sim_host_known(s, host);
	pthread_mutex_unlock(&s->lock);
	return known;
}

/* Serves one proxy client: a CONNECT becomes a tunnel to the HTTPS server. */
static void serve(struct sim_proxy *p, int client)
{
	char *buf = xmalloc(HEAD_MAX), method[16], target[300];
	size_t got;
	ssize_t head = read_head(client, buf, HEAD_MAX, &got);
	int up;

	if (head < 0 || sscanf(buf, "%15s %299s", method, target) != 2) {
		answer(client, "400 Bad Request");
	} else if (strcasecmp(method, "CONNECT") != 0) {
		answer(client, "405 Method Not Allowed");
	} else if (!host_known(p->sim, target)) {
		answer(client, "502 Bad Gateway");
	} else if ((up = connect_target(p->target_port)) < 0) {
		answer(client, "502 Bad Gateway");
	} else {
		const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

		if (send_all(client, ok, sizeof(ok) - 1) &&
		    send_all(up, buf + head, got - (size_t)head))
			relay(client, up);
		close(up);
	}
	free(buf);
}

/* Runs one tunnel's thread and releases its slot when done. */
static void *tunnel_main(void *arg)
{
	struct tunnel *t = arg;
	struct sim_proxy *p = t->p;

	serve(p, t->client);
	pthread_mutex_lock(&p->lock);
	p->fds[t->slot] = -1;
	p->active--;
	close(t->client);
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	free(t);
	return NULL;
}

/* Takes a free slot for a new tunnel; -1 when all are busy. */
static int take_slot(struct sim_proxy *p, int fd)
{
	int slot = -1;

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_TUNNELS && slot < 0; i++)
		if (p->fds[i] < 0)
			slot = i;
	if (slot >= 0) {
		p->fds[slot] = fd;
		p->active++;
	}
	pthread_mutex_unlock(&p->lock);
	return slot;
}

/* Accepts proxy clients until the listening socket is shut down. */
static void *accept_main(void *arg)
{
	struct sim_proxy *p = arg;

	for (;;) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC),
		    one = 1, slot;
		struct tunnel *t;
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((slot = take_slot(p, fd)) < 0) {
			answer(fd, "503 Service Unavailable");
			close(fd);
			continue;
		}
		t = xmalloc(sizeof(*t));
		*t = (struct tunnel){ p, fd, slot };
		if (pthread_create(&th, NULL, tunnel_main, t) == 0)
			pthread_detach(th);
		else
			tunnel_main(t);
	}
}

/* Opens the listening socket on 127.0.0.1 and returns its fd, or -1. */
static int listen_on(int port, int *bound)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

/* Starts the proxy on a port (0: ephemeral) that tunnels to target_port. */
struct sim_proxy *proxy_start(struct sim *s, int port, int target_port,
			      char **err)
{
	struct sim_proxy *p = xcalloc(1, sizeof(*p));

	p->sim = s;
	p->target_port = target_port;
	for (int i = 0; i < MAX_TUNNELS; i++)
		p->fds[i] = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->listen_fd = listen_on(port, &p->port);
	if (p->listen_fd < 0 ||
	    pthread_create(&p->thread, NULL, accept_main, p) != 0) {
		*err = xasprintf(
			"cannot listen for the proxy on 127.0.0.1:%d: %s", port,
			strerror(errno));
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		free(p);
		return NULL;
	}
	return p;
}

/* Returns the port the proxy listens on. */
int proxy_port(const struct sim_proxy *p)
{
	return p->port;
}

/* Stops accepting, closes every tunnel and waits for their threads. */
void proxy_stop(struct sim_proxy *p)
{
	if (!p)
		return;
	shutdown(p->listen_fd, SHUT_RDWR);
	pthread_join(p->thread, NULL);
	close(p->listen_fd);
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_TUNNELS; i++)
		if (p->fds[i] >= 0)
			shutdown(p->fds[i], SHUT_RDWR);
	while (p->active > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->idle);
	free(p);
}
