/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench --net pods: a simulated node for the length of one run.
 *
 *   netns shunt-bench-<pid>-node   bridge br0, ports veth-a, veth-b
 *   netns shunt-bench-<pid>-a      eth0 = peer of veth-a, 10.251.0.10/24 (client)
 *   netns shunt-bench-<pid>-b      eth0 = peer of veth-b, 10.251.0.11/24 (server)
 *
 * All three have lo up and IPv6 off (no DAD, no router or multicast chatter
 * on the bridge), and the pods reuse TIME_WAIT ports (tcp_tw_reuse=1, which
 * loopback gets by default), so the connect mode does not run out of ports.
 * The namespaces are made with ip(8) (iproute2), run with fork+exec and an
 * argv, never through a shell; nothing is created in shunt-bench's own
 * network namespace. Names carry shunt-bench's pid, so parallel runs never
 * collide, and a set whose pid is gone (kill -9) is removed by the next run.
 */
#ifndef SHUNT_BENCH_PODNET_H
#define SHUNT_BENCH_PODNET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PODS_PREFIX  "shunt-bench-"
#define BENCH_PODS_NETNS   "/run/netns"
#define BENCH_PODS_CLIENT  "10.251.0.10"
#define BENCH_PODS_SERVER  "10.251.0.11"
#define BENCH_PODS_PLEN	   "24"
#define BENCH_PODS_NAME	   48 /* "shunt-bench-<pid>-node" */
#define BENCH_IPCMD_ARGS   16
#define BENCH_IPCMD_ARGLEN 64
#define BENCH_PODS_MAXCMDS 24

/* One ip(8) invocation, argv[0] = "ip". */
struct bench_ipcmd {
	int argc;
	char argv[BENCH_IPCMD_ARGS][BENCH_IPCMD_ARGLEN];
};

enum { BENCH_NS_NODE, BENCH_NS_A, BENCH_NS_B, BENCH_NS_N };

struct bench_pods {
	char ip[PATH_MAX];			/* the ip binary */
	char name[BENCH_NS_N][BENCH_PODS_NAME]; /* netns names */
	char path[BENCH_NS_N][PATH_MAX];	/* /run/netns/<name> */
	bool made[BENCH_NS_N];			/* "ip netns add" succeeded */
	uint32_t client_ip, server_ip;		/* network order */
};

/* The netns names of pid's run (node, a, b). Pure. */
void bench_pods_names(pid_t pid, char names[BENCH_NS_N][BENCH_PODS_NAME]);

/* pid of a netns name "shunt-bench-<pid>-node|a|b", else -1. Pure. */
pid_t bench_pods_name_pid(const char *name);

/* The ip(8) commands that wire up the node after the three "ip netns add":
 * lo up everywhere, the bridge, one veth pair per pod (eth0 in the pod, the
 * other end a bridge port), addresses, links up. Every command names its
 * netns with -n. Returns the number of commands or -E2BIG. Pure. */
int bench_pods_plan(char names[BENCH_NS_N][BENCH_PODS_NAME], struct bench_ipcmd *cmds, int max);

/* Remove netns sets of runs whose pid no longer exists (or is this
 * process's: a reused pid). Returns how many netns were removed. */
int bench_pods_sweep_stale(const char *ip_bin);

/* Create the node; on error everything made so far is removed again.
 * Returns 0 or -errno with a one-line message in err. */
int bench_pods_setup(struct bench_pods *p, const char *ip_bin, char *err, size_t errlen);

/* Delete what setup made. Idempotent; 0 or the first -errno (printed). */
int bench_pods_cleanup(struct bench_pods *p);

/* In a worker, before it creates sockets: move into the netns at path.
 * Returns 0 or -errno. */
int bench_join_netns(const char *path);

#endif
