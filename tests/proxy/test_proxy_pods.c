// SPDX-License-Identifier: Apache-2.0
/*
 * shunt-proxy in simulated pods (tests/harness/with-pods.sh): the proxy runs
 * in pod "proxy", the upstream test server in pod "server", and requests come
 * from pods "client" and "stranger". Source identity must come from the pod
 * address the connection arrives from, never from headers.
 *
 *   with-pods.sh --pod 1:client --pod 1:stranger --pod 1:proxy --pod 1:server -- \
 *       test_proxy_pods path/to/shunt-proxy
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pods.h"
#include "testutil.h"
#include "upstream_server.h"

#define PROXY_PORT  15001
#define ODST_PORT   15002 /* listener with "upstream": "original-dst" */
#define ODST_UID    1000  /* traffic of this uid in the proxy pod is redirected to it */
#define SERVER_PORT 8080
#define TIMEOUT_MS  15000

static struct shunt_pod client, stranger, proxy, server;
static char dir[] = "/tmp/shunt-proxy-pods.XXXXXX";
static char cfg[256];
static pid_t server_pid, proxy_pid;

static void cleanup(void)
{
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGKILL);
		waitpid(proxy_pid, NULL, 0);
	}
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	unlink(cfg);
	rmdir(dir);
}

/* Server pod: run the upstream, say "ready" on fd, serve until killed. */
static int server_main(void *arg)
{
	int fd = *(int *)arg;
	struct us_server *s;
	struct pollfd pfd = {.fd = -1};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (us_start_port(&s, server.ip, SERVER_PORT))
		return 1;
	if (write(fd, "r", 1) != 1)
		return 1;
	close(fd);
	for (;;)
		poll(&pfd, 0, -1); /* serve on the server thread until killed */
	return 0;
}

struct req_arg {
	const char *req;
	int want_status;
	bool intercepted; /* connect to server:8080 as ODST_UID (iptables REDIRECT) */
};

/* Client pods: one request to the proxy, exit 0 if the status matches. */
static int client_main(void *arg)
{
	const struct req_arg *a = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PROXY_PORT)};
	char buf[4096];
	size_t len = 0;
	int fd, status = 0;

	inet_pton(AF_INET, proxy.ip, &sa.sin_addr);
	if (a->intercepted) {
		/* the app believes it talks to the server directly */
		if (setgid(ODST_UID) || setuid(ODST_UID))
			return 6;
		inet_pton(AF_INET, server.ip, &sa.sin_addr);
		sa.sin_port = htons(SERVER_PORT);
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "connect to proxy: %s\n", strerror(errno));
		return 2;
	}
	if (send(fd, a->req, strlen(a->req), MSG_NOSIGNAL) != (ssize_t)strlen(a->req))
		return 3;
	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, TIMEOUT_MS) != 1)
			return 4;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || status != a->want_status) {
		fprintf(stderr, "want %d, got:\n%s\n", a->want_status, buf);
		return 5;
	}
	close(fd);
	return 0;
}

static void run_client(const struct shunt_pod *pod, const char *req, int want, const char *what)
{
	struct req_arg a = {.req = req, .want_status = want};
	pid_t pid = shunt_pod_spawn(pod, client_main, &a);

	CHECK(pid > 0, "spawn client");
	CHECK(shunt_pod_wait(pid) == 0, "%s (from pod %s, want %d)", what, pod->name, want);
}

static void write_config(void)
{
	FILE *f = fopen(cfg, "w");

	CHECK(f, "config");
	fprintf(f,
		"{\"workloads\": [\n"
		" {\"name\": \"client\", \"namespace\": \"shop\", \"serviceAccount\": \"client\","
		"  \"addresses\": [\"%s\", \"%s\"]},\n"
		" {\"name\": \"stranger\", \"namespace\": \"other\", \"addresses\": [\"%s\"]},\n"
		" {\"name\": \"server\", \"namespace\": \"shop\", \"labels\": {\"app\": "
		"\"server\"},"
		"  \"addresses\": [\"%s\"]}],\n"
		" \"authorizationPolicies\": [\n"
		"  {\"metadata\": {\"name\": \"server-allow\", \"namespace\": \"shop\"},\n"
		"   \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"server\"}}, \"action\": "
		"\"ALLOW\",\n"
		"    \"rules\": [{\"from\": [{\"source\": {\"principals\": "
		"[\"cluster.local/ns/shop/sa/client\"]}}],\n"
		"               \"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
		"[\"/public/*\"],"
		" \"ports\": [\"%d\"]}}]}]}}],\n"
		" \"proxy\": {\"listeners\": [{\"name\": \"in\", \"address\": \"0.0.0.0:%d\","
		" \"upstream\": \"%s:%d\"},\n"
		"   {\"name\": \"odst\", \"address\": \"0.0.0.0:%d\", \"upstream\": "
		"\"original-dst\"}]}}\n",
		client.ip, proxy.ip, stranger.ip, server.ip, SERVER_PORT, PROXY_PORT, server.ip,
		SERVER_PORT, ODST_PORT);
	CHECK(fclose(f) == 0, "config");
}

static int proxy_err_fd = -1;

static int proxy_main(void *arg)
{
	char **argv = arg;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(proxy_err_fd, 2);
	execv(argv[0], argv);
	return 127;
}

/* Read the proxy's stderr until its "listening:" line. */
static bool wait_listening(int fd)
{
	char buf[8192];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, TIMEOUT_MS) != 1)
			return false;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (getenv("SHUNT_TEST_VERBOSE"))
			fwrite(buf + len - (size_t)n, 1, (size_t)n, stderr);
		if (strstr(buf, "listening:"))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	char *pargv[6];
	int p[2];
	char c;

	CHECK(argc == 2, "usage: %s shunt-proxy", argv[0]);
	shunt_test_require_pods();
	CHECK(shunt_pod_lookup("client", &client) == 0 &&
		      shunt_pod_lookup("stranger", &stranger) == 0 &&
		      shunt_pod_lookup("proxy", &proxy) == 0 &&
		      shunt_pod_lookup("server", &server) == 0,
	      "pods client, stranger, proxy, server");
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	atexit(cleanup);
	write_config();

	CHECK(pipe(p) == 0, "pipe");
	server_pid = shunt_pod_spawn(&server, server_main, &p[1]);
	CHECK(server_pid > 0, "spawn server");
	close(p[1]);
	CHECK(read(p[0], &c, 1) == 1, "server did not start");
	close(p[0]);

	pargv[0] = argv[1];
	pargv[1] = "--config";
	pargv[2] = cfg;
	pargv[3] = NULL;
	CHECK(pipe(p) == 0, "pipe");
	proxy_err_fd = p[1];
	proxy_pid = shunt_pod_spawn(&proxy, proxy_main, pargv);
	CHECK(proxy_pid > 0, "spawn proxy");
	close(p[1]);
	CHECK(wait_listening(p[0]), "proxy never listened");

	run_client(&client, "GET /public/a HTTP/1.1\r\nHost: server\r\n\r\n", 200,
		   "allowed by principal");
	run_client(&client, "GET /private HTTP/1.1\r\nHost: server\r\n\r\n", 403,
		   "path not allowed");
	run_client(&stranger, "GET /public/a HTTP/1.1\r\nHost: server\r\n\r\n", 403,
		   "other workload denied");
	run_client(&stranger,
		   "GET /public/a HTTP/1.1\r\nHost: server\r\nX-Forwarded-For: 10.250.1.2\r\n"
		   "X-Forwarded-Client-Cert: URI=spiffe://cluster.local/ns/shop/sa/client\r\n\r\n",
		   403, "headers never establish identity");
	run_client(&client,
		   "GET /public/a HTTP/1.1\r\nHost: server\r\nContent-Length: 1\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		   400, "smuggling shape");

	/* original destination: an app in the proxy pod (uid ODST_UID) connects
	 * to server:8080, iptables redirects it to the original-dst listener,
	 * the proxy recovers server:8080 with SO_ORIGINAL_DST */
	{
		char cmd[1024];
		struct req_arg ok = {.req = "GET /public/o HTTP/1.1\r\nHost: server\r\n\r\n",
				     .want_status = 200,
				     .intercepted = true};
		struct req_arg no = {.req = "GET /private HTTP/1.1\r\nHost: server\r\n\r\n",
				     .want_status = 403,
				     .intercepted = true};
		pid_t pid;

		snprintf(cmd, sizeof(cmd),
			 "nsenter --net=%s iptables -w -t nat -A OUTPUT -p tcp -d %s --dport %d "
			 "-m owner --uid-owner %d -j REDIRECT --to-ports %d",
			 proxy.netns, server.ip, SERVER_PORT, ODST_UID, ODST_PORT);
		if (system(cmd) != 0)
			shunt_test_skip("iptables REDIRECT unavailable in the pod");
		pid = shunt_pod_spawn(&proxy, client_main, &ok);
		CHECK(pid > 0 && shunt_pod_wait(pid) == 0, "original-dst allowed request");
		pid = shunt_pod_spawn(&proxy, client_main, &no);
		CHECK(pid > 0 && shunt_pod_wait(pid) == 0, "original-dst denied request");
	}

	kill(proxy_pid, SIGTERM);
	CHECK(shunt_pod_wait(proxy_pid) == 0, "proxy did not drain cleanly");
	proxy_pid = 0;
	printf("proxy in simulated pods: identity by pod address, original-dst ok\n");
	return 0;
}
