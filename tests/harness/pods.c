// SPDX-License-Identifier: Apache-2.0
/* Simulated-pod harness, C side: see pods.h. */
#include "pods.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

void shunt_test_skip(const char *fmt, ...)
{
	const char *ci = getenv("CI");
	bool in_ci = ci && strcmp(ci, "true") == 0;
	va_list ap;

	fputs(in_ci ? "FAIL: " : "SKIP: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(in_ci ? " (CI=true: kernel tests may not skip)\n" : "\n", stderr);
	exit(in_ci ? 1 : SHUNT_EXIT_SKIP);
}

const char *shunt_env(const char *fmt, ...)
{
	char name[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(name))
		return NULL;
	return getenv(name);
}

void shunt_test_require_pods(void)
{
	struct statfs st;
	const char *cg;

	if (geteuid() != 0)
		shunt_test_skip("needs root");
	cg = getenv("SHUNT_CGROUP2");
	if (!cg || !getenv("SHUNT_RUN_ID"))
		shunt_test_skip("not running under tests/harness/with-pods.sh");
	if (statfs(cg, &st) || st.f_type != CGROUP2_SUPER_MAGIC)
		shunt_test_skip("%s is not a cgroup v2 mount", cg);
	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC)
		shunt_test_skip("bpffs is not mounted at /sys/fs/bpf");
}

static int copy_env(char *dst, size_t cap, const char *name, const char *field)
{
	const char *v = shunt_env("SHUNT_POD_%s_%s", name, field);

	if (!v || strlen(v) >= cap)
		return -ENOENT;
	strcpy(dst, v);
	return 0;
}

int shunt_pod_lookup(const char *name, struct shunt_pod *pod)
{
	char upper[SHUNT_POD_NAME_MAX];
	const char *node;
	size_t i, len = strlen(name);
	int err;

	if (len == 0 || len >= sizeof(upper))
		return -ENOENT;
	for (i = 0; i <= len; i++)
		upper[i] = (char)toupper((unsigned char)name[i]);
	memset(pod, 0, sizeof(*pod));
	strcpy(pod->name, name);
	err = copy_env(pod->netns, sizeof(pod->netns), upper, "NETNS");
	if (!err)
		err = copy_env(pod->cgroup, sizeof(pod->cgroup), upper, "CGROUP");
	if (!err)
		err = copy_env(pod->ip, sizeof(pod->ip), upper, "IP");
	if (!err)
		err = copy_env(pod->ip6, sizeof(pod->ip6), upper, "IP6");
	if (err)
		return err;
	node = shunt_env("SHUNT_POD_%s_NODE", upper);
	pod->node = node ? atoi(node) : 0;
	return pod->node > 0 ? 0 : -ENOENT;
}

int shunt_pod_join(const struct shunt_pod *pod)
{
	char procs[SHUNT_PATH_MAX + 16], pid[32];
	int fd = -1, err = 0;
	ssize_t len;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", pod->cgroup);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, (size_t)len) != len) {
		err = -errno;
		goto cleanup;
	}
	close(fd);
	fd = open(pod->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
cleanup:
	close(fd);
	return err;
}

pid_t shunt_pod_spawn(const struct shunt_pod *pod, int (*fn)(void *arg), void *arg)
{
	pid_t pid;
	int err;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	err = shunt_pod_join(pod);
	if (err) {
		fprintf(stderr, "pod %s: join failed: %s\n", pod->name, strerror(-err));
		_exit(126);
	}
	_exit(fn(arg) & 0xff);
}

int shunt_pod_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
