/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt agent: load, attach, pin and stop the sockops + sk_msg programs.
 * Used by shuntd and by the kernel tests.
 *
 * Pinned layout (all names versioned by the directory):
 *   <pin-dir>/v1/shunt_sockhash, shunt_sk_keys, shunt_conns, shunt_counters,
 *   shunt_config, shunt_cidrs, shunt_ports, shunt_agent  (maps)
 *   <pin-dir>/v1/link_sockops                            (cgroup bpf_link)
 *   <pin-dir>/v1/prog_sk_msg                             (attached to the sockhash)
 *   <pin-dir>/v1/link_{getsockopt,setsockopt,connect4,connect6}
 *                                                        (interception, when enabled)
 *   <pin-dir>/v1/shunt_{capture,cg_ident,addr_ident,l4,icpt_ports,icpt_wports,
 *                       out_cidrs,origdst_ck,origdst}
 *   <pin-dir>/v1/shunt_{splice,splice_claims}             (relay splice state)
 *
 * Splice (SHUNT_SOL socket options) is served by the getsockopt/setsockopt
 * programs, so it needs the interception group; without it a relay's
 * setsockopt fails with ENOPROTOOPT and the relay just copies.
 */
#ifndef SHUNT_SOCKMAP_AGENT_H
#define SHUNT_SOCKMAP_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shunt_opts.h"

#define SHUNT_PIN_LINK_SOCKOPS	  "link_sockops"
#define SHUNT_PIN_PROG_SK_MSG	  "prog_sk_msg"
#define SHUNT_PIN_LINK_CONNECT4	  "link_connect4"
#define SHUNT_PIN_LINK_CONNECT6	  "link_connect6"
#define SHUNT_PIN_LINK_GETSOCKOPT "link_getsockopt"
#define SHUNT_PIN_LINK_SETSOCKOPT "link_setsockopt"
#define SHUNT_PIN_AGENT_MAP	  "shunt_agent"

struct shunt_agent;

/* Exit code of shuntd/shuntctl for environment problems (not root, no cgroup2, no bpffs). */
#define SHUNT_EXIT_ENV 2

/*
 * Checks that need no BPF: root, cgroup v2 at cgroup_path, bpffs under pin_dir.
 * Returns 0, or -EPERM / -ENOTDIR / -ENOENT with one line in msg.
 */
int shunt_preflight(const char *cgroup_path, const char *pin_dir, char *msg, size_t len);

/* Kernel features needed (prog/map types, helpers). Returns 0, -EPERM when
 * bpf() itself is refused (capabilities, seccomp), or -EOPNOTSUPP with the
 * missing features listed in msg. */
int shunt_probe_kernel(char *msg, size_t len);

/* The cgroup v2 mount point (from /proc/self/mounts) into buf; 0 or -ENOENT. */
int shunt_cgroup2_root(char *buf, size_t len);

/*
 * Load, attach to o->cgroup and pin under o->pin_dir. Pinned state left by a
 * previous agent (e.g. after kill -9) is adopted when it is for the same
 * cgroup and its maps are compatible (connections stay accelerated, the link
 * switches to the new program), else replaced: its connections are told to
 * fall back to TCP, its sockops link is detached and its pins removed, after
 * the new programs are attached. Refuses (-EBUSY) while the shuntd that pinned
 * it still runs. On failure everything done so far is undone.
 */
int shunt_agent_start(const struct shunt_opts *o, struct shunt_agent **out);

/*
 * Put every connection on plain TCP (order-safe), detach what this agent
 * attached, unpin what it pinned and free it. Accelerated connections keep the
 * (now pass-only) sk_msg program until they close; the kernel frees maps and
 * programs with the last of them. Returns the number of still-open
 * connections that will continue on TCP, or a negative errno.
 */
int shunt_agent_stop(struct shunt_agent *a);

/* Replace the eligibility policy and tunables (ports, CIDRs, small-write
 * policy) of a running agent, e.g. on SIGHUP. New entries are written before
 * stale ones are removed. Existing connections keep their state. */
int shunt_agent_set_policy(struct shunt_agent *a, const struct shunt_opts *o);

/* Is the interception (connect4/6 + getsockopt + setsockopt) attached? */
bool shunt_agent_intercepting(const struct shunt_agent *a);
/* Entries written and deleted in the identity and L4 policy maps by the last
 * shunt_agent_set_policy() (after the first, only what changed). */
void shunt_agent_last_sync(const struct shunt_agent *a, size_t *written, size_t *deleted);

/* Map fds of a running agent (for counters and tests). */
int shunt_agent_counters_fd(const struct shunt_agent *a);
int shunt_agent_conns_fd(const struct shunt_agent *a);

/* ---- reading pinned state (shuntctl, metrics, tests) ---- */

struct shunt_pinned {
	int counters, conns, config, agent, sockhash, link, prog, ports, cidrs;
	int capture, l4, cg_ident, addr_ident, link_connect4; /* interception */
	int icpt_ports, icpt_wports, out_cidrs;		      /* capture settings */
};

/* Number of entries of a (hash/trie) map, or -errno. */
int shunt_map_count(int fd, size_t key_size);

/* Opens <pin_dir>/v1/...; missing objects get fd -1. -ENOENT when no shunt state is pinned. */
int shunt_pinned_open(const char *pin_dir, struct shunt_pinned *p);
void shunt_pinned_close(struct shunt_pinned *p);

/* Sum the per-CPU counters. */
int shunt_counters_read(int fd, uint64_t out[SHUNT_CNT__MAX]);

typedef int (*shunt_conn_cb)(const struct shunt_sock_key *k, const struct shunt_conn *c, void *arg);
/* Call cb for every entry of shunt_conns; stops when cb returns non-zero. Returns count or -errno.
 */
int shunt_conns_foreach(int fd, shunt_conn_cb cb, void *arg);

#endif
