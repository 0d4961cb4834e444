/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated-pod harness, C side.
 *
 * tests/harness/with-pods.sh builds a node (network namespaces + veth + bridge
 * + one cgroup v2 directory per pod), exports its description in environment
 * variables, runs the test, and always tears everything down. This header lets
 * a C test read that description and run code inside a pod.
 *
 * Environment exported by with-pods.sh (NAME is the pod name upper-cased):
 *   SHUNT_RUN_ID            unique id of this run
 *   SHUNT_CGROUP2           cgroup v2 mount point (e.g. /sys/fs/cgroup/unified)
 *   SHUNT_RUN_CGROUP        absolute path of this run's cgroup directory
 *   SHUNT_NODE1_CGROUP      absolute cgroup path holding node 1's pods (attach here)
 *   SHUNT_NODE2_CGROUP      same for node 2 (when --nodes 2)
 *   SHUNT_PIN_DIR           a fresh bpffs directory for this run (removed at teardown)
 *   SHUNT_PODS              space-separated pod names
 *   SHUNT_POD_<NAME>_NETNS  path of the pod's netns (/run/netns/...)
 *   SHUNT_POD_<NAME>_CGROUP absolute path of the pod's cgroup directory
 *   SHUNT_POD_<NAME>_IP     the pod's IPv4 address
 *   SHUNT_POD_<NAME>_IP6    the pod's IPv6 address
 *   SHUNT_POD_<NAME>_NODE   1 or 2
 */
#ifndef SHUNT_TESTS_PODS_H
#define SHUNT_TESTS_PODS_H

#include <stdbool.h>
#include <sys/types.h>

#define SHUNT_POD_NAME_MAX 32
#define SHUNT_PATH_MAX	   512

struct shunt_pod {
	char name[SHUNT_POD_NAME_MAX];
	char netns[SHUNT_PATH_MAX];
	char cgroup[SHUNT_PATH_MAX];
	char ip[64];
	char ip6[64];
	int node;
};

/* Exit code convention: 77 = skip. Under CI=true a skip is a failure (exit 1). */
#define SHUNT_EXIT_SKIP 77

/* Print "SKIP: <why>" and exit 77, or "FAIL: <why> (CI=true forbids skipping)" and exit 1. */
_Noreturn void shunt_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skip (see above) unless running as root with cgroup v2, bpffs and the
 * harness environment present. Call first in every kernel/e2e test. */
void shunt_test_require_pods(void);

/* Fill *pod from the environment. Returns 0 or -ENOENT. */
int shunt_pod_lookup(const char *name, struct shunt_pod *pod);

/* Move the calling process into the pod's cgroup and network namespace.
 * Meant to run in a freshly forked, single-threaded child. Returns 0 or -errno. */
int shunt_pod_join(const struct shunt_pod *pod);

/* Fork a child that joins the pod and returns fn(arg) as its exit status.
 * Returns the child's pid or -errno. */
pid_t shunt_pod_spawn(const struct shunt_pod *pod, int (*fn)(void *arg), void *arg);

/* Wait for pid; returns its exit status (0..255), 128+signal, or -errno. */
int shunt_pod_wait(pid_t pid);

/* Environment variable value or NULL. */
const char *shunt_env(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
