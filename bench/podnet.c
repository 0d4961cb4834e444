/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench --net pods: the run's node and pod network namespaces. */
#include "podnet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const ns_suffix[BENCH_NS_N] = {"node", "a", "b"};

void bench_pods_names(pid_t pid, char names[BENCH_NS_N][BENCH_PODS_NAME])
{
	for (int i = 0; i < BENCH_NS_N; i++)
		snprintf(names[i], BENCH_PODS_NAME, BENCH_PODS_PREFIX "%d-%s", (int)pid,
			 ns_suffix[i]);
}

pid_t bench_pods_name_pid(const char *name)
{
	const size_t plen = strlen(BENCH_PODS_PREFIX);
	const char *p, *dash;
	long pid = 0;

	if (strncmp(name, BENCH_PODS_PREFIX, plen) != 0)
		return -1;
	p = name + plen;
	dash = strchr(p, '-');
	if (!dash || dash == p || dash - p > 9)
		return -1;
	for (const char *d = p; d < dash; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		pid = pid * 10 + (*d - '0');
	}
	if (pid <= 0)
		return -1;
	for (int i = 0; i < BENCH_NS_N; i++)
		if (strcmp(dash + 1, ns_suffix[i]) == 0)
			return (pid_t)pid;
	return -1;
}

/* Append one command; the arguments end with NULL. */
static int plan_add(struct bench_ipcmd *cmds, int *n, int max, ...)
{
	struct bench_ipcmd *c;
	const char *a;
	va_list ap;
	int ret = 0;

	if (*n >= max)
		return -E2BIG;
	c = &cmds[(*n)++];
	memset(c, 0, sizeof(*c));
	va_start(ap, max);
	while ((a = va_arg(ap, const char *))) {
		if (c->argc >= BENCH_IPCMD_ARGS - 1 || strlen(a) >= BENCH_IPCMD_ARGLEN) {
			ret = -E2BIG;
			break;
		}
		snprintf(c->argv[c->argc++], BENCH_IPCMD_ARGLEN, "%s", a);
	}
	va_end(ap);
	return ret;
}

int bench_pods_plan(char names[BENCH_NS_N][BENCH_PODS_NAME], struct bench_ipcmd *cmds, int max)
{
	static const char *const pod_ip[BENCH_NS_N] = {NULL, BENCH_PODS_CLIENT "/" BENCH_PODS_PLEN,
						       BENCH_PODS_SERVER "/" BENCH_PODS_PLEN};
	const char *node = names[BENCH_NS_NODE];
	int n = 0, ret = 0;

	for (int i = 0; i < BENCH_NS_N && !ret; i++)
		ret = plan_add(cmds, &n, max, "ip", "-n", names[i], "link", "set", "lo", "up",
			       NULL);
	if (!ret)
		ret = plan_add(cmds, &n, max, "ip", "-n", node, "link", "add", "br0", "type",
			       "bridge", "mcast_snooping", "0", NULL);
	if (!ret)
		ret = plan_add(cmds, &n, max, "ip", "-n", node, "link", "set", "br0", "up", NULL);
	for (int i = BENCH_NS_A; i < BENCH_NS_N && !ret; i++) {
		char port[16];

		snprintf(port, sizeof(port), "veth-%s", ns_suffix[i]);
		ret = plan_add(cmds, &n, max, "ip", "-n", node, "link", "add", port, "type", "veth",
			       "peer", "name", "eth0", "netns", names[i], NULL);
		if (!ret)
			ret = plan_add(cmds, &n, max, "ip", "-n", node, "link", "set", port,
				       "master", "br0", "up", NULL);
		if (!ret)
			ret = plan_add(cmds, &n, max, "ip", "-n", names[i], "addr", "add",
				       pod_ip[i], "dev", "eth0", NULL);
		if (!ret)
			ret = plan_add(cmds, &n, max, "ip", "-n", names[i], "link", "set", "eth0",
				       "up", NULL);
	}
	return ret ? ret : n;
}

/* Run ip with args (argv[0] replaced by the binary). Its stderr's first line
 * goes into err on failure. Returns 0, -EIO (ip failed) or -errno. */
static int run_ip(const char *ip_bin, const struct bench_ipcmd *c, char *err, size_t errlen)
{
	char *argv[BENCH_IPCMD_ARGS + 1], out[512];
	size_t got = 0;
	int p[2], status = 0, ret = 0;
	pid_t pid;

	for (int i = 0; i < c->argc; i++)
		argv[i] = (char *)c->argv[i];
	argv[0] = (char *)ip_bin;
	argv[c->argc] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(p[0]);
		close(p[1]);
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		return ret;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		/* own process group: a terminal Ctrl-C reaches shunt-bench, which
		 * then still needs ip to clean up */
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
		    dup2(p[1], 2) < 0)
			_exit(126);
		execv(ip_bin, argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], out + got, sizeof(out) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(out) - 1) {
			char sink[256];

			while (read(p[0], sink, sizeof(sink)) > 0 || errno == EINTR)
				;
			break;
		}
	}
	out[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	out[strcspn(out, "\n")] = '\0';
	{
		char cmd[256];
		size_t used = 0;

		cmd[0] = '\0';
		for (int i = 1; i < c->argc && used < sizeof(cmd); i++)
			used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, " %s", c->argv[i]);
		snprintf(err, errlen, "ip%s: %s", cmd,
			 out[0] ? out
			 : WIFEXITED(status)
				 ? (WEXITSTATUS(status) == 127 ? "cannot execute" : "failed")
				 : "killed");
	}
	return -EIO;
}

static int run_ip_args(const char *ip_bin, char *err, size_t errlen, ...)
{
	struct bench_ipcmd c = {0};
	const char *a;
	va_list ap;

	va_start(ap, errlen);
	snprintf(c.argv[c.argc++], BENCH_IPCMD_ARGLEN, "ip");
	while ((a = va_arg(ap, const char *)) && c.argc < BENCH_IPCMD_ARGS - 1)
		snprintf(c.argv[c.argc++], BENCH_IPCMD_ARGLEN, "%s", a);
	va_end(ap);
	return run_ip(ip_bin, &c, err, errlen);
}

int bench_join_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		ret = -errno;
	close(fd);
	return ret;
}

/* Per-netns sysctls, written from a child that joined the netns (/proc/sys/net
 * shows the writer's netns). A missing file (no IPv6 in the kernel) is fine. */
static int netns_sysctls(const char *ns_path, bool pod, char *err, size_t errlen)
{
	static const char *const all[] = {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
					  "/proc/sys/net/ipv6/conf/default/disable_ipv6"};
	static const char tw_reuse[] = "/proc/sys/net/ipv4/tcp_tw_reuse";
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		int code = 0;

		if (bench_join_netns(ns_path))
			_exit(3);
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]) + pod; i++) {
			const char *f = i < sizeof(all) / sizeof(all[0]) ? all[i] : tw_reuse;
			int fd = open(f, O_WRONLY | O_CLOEXEC);

			if (fd < 0) {
				if (errno != ENOENT)
					code = 4;
				continue;
			}
			if (write(fd, "1\n", 2) != 2)
				code = 4;
			close(fd);
		}
		_exit(code);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", ns_path,
		 WIFEXITED(status) && WEXITSTATUS(status) == 3 ? "setns failed"
							       : "writing its sysctls failed");
	return -EIO;
}

int bench_pods_sweep_stale(const char *ip_bin)
{
	DIR *d = opendir(BENCH_PODS_NETNS);
	struct dirent *e;
	char err[256];
	int swept = 0;

	while (d && (e = readdir(d))) {
		pid_t pid = bench_pods_name_pid(e->d_name);

		if (pid <= 0)
			continue;
		if (pid != getpid() && !(kill(pid, 0) < 0 && errno == ESRCH))
			continue;
		if (run_ip_args(ip_bin, err, sizeof(err), "netns", "del", e->d_name, NULL) == 0) {
			fprintf(stderr, "shunt-bench: removed stale netns %s\n", e->d_name);
			swept++;
		} else {
			fprintf(stderr, "shunt-bench: could not remove stale netns %s: %s\n",
				e->d_name, err);
		}
	}
	if (d)
		closedir(d);
	return swept;
}

int bench_pods_setup(struct bench_pods *p, const char *ip_bin, char *err, size_t errlen)
{
	struct bench_ipcmd cmds[BENCH_PODS_MAXCMDS];
	int n, ret = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->ip, sizeof(p->ip), "%s", ip_bin);
	bench_pods_names(getpid(), p->name);
	inet_pton(AF_INET, BENCH_PODS_CLIENT, &p->client_ip);
	inet_pton(AF_INET, BENCH_PODS_SERVER, &p->server_ip);
	bench_pods_sweep_stale(ip_bin);

	for (int i = 0; i < BENCH_NS_N && !ret; i++) {
		snprintf(p->path[i], sizeof(p->path[i]), BENCH_PODS_NETNS "/%s", p->name[i]);
		ret = run_ip_args(ip_bin, err, errlen, "netns", "add", p->name[i], NULL);
		if (!ret) {
			p->made[i] = true;
			ret = netns_sysctls(p->path[i], i != BENCH_NS_NODE, err, errlen);
		}
	}
	n = ret ? 0 : bench_pods_plan(p->name, cmds, BENCH_PODS_MAXCMDS);
	if (n < 0) {
		ret = n;
		snprintf(err, errlen, "pods network plan too long");
	}
	for (int i = 0; i < n && !ret; i++)
		ret = run_ip(ip_bin, &cmds[i], err, errlen);
	if (ret)
		bench_pods_cleanup(p);
	return ret;
}

int bench_pods_cleanup(struct bench_pods *p)
{
	char err[256];
	int first = 0;

	/* pods first: their eth0 goes with them, then the node's bridge */
	for (int i = BENCH_NS_N - 1; i >= 0; i--) {
		int ret;

		if (!p->made[i])
			continue;
		ret = run_ip_args(p->ip, err, sizeof(err), "netns", "del", p->name[i], NULL);
		if (ret) {
			fprintf(stderr, "shunt-bench: failed to remove netns %s: %s\n", p->name[i],
				err);
			if (!first)
				first = ret;
			continue;
		}
		p->made[i] = false;
	}
	return first;
}
