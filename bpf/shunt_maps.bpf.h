/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps shared by every shunt BPF program (BPF side only). shuntd loads the
 * sockops object first and hands these maps to the other objects (sk_msg,
 * connect4/6, getsockopt, setsockopt) by name (bpf_map__reuse_fd), so all
 * programs see one set.
 */
#ifndef SHUNT_MAPS_BPF_H
#define SHUNT_MAPS_BPF_H

#include "shunt_bpf.h"

/* Eligible established sockets; written by sockops, read by sk_msg redirect. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, struct shunt_sock_key);
	__type(value, __u64);
} shunt_sockhash SEC(".maps");

/* Own and peer key of each tracked socket; written by sockops, read by sk_msg. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct shunt_sk_keys);
} shunt_sk_keys SEC(".maps");

/* Per-connection state and counters; created/deleted by sockops, updated by sk_msg,
 * listed by shuntctl conns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, struct shunt_sock_key);
	__type(value, struct shunt_conn);
} shunt_conns SEC(".maps");

/* Global counters (enum shunt_counter); written by both programs, read by shuntctl. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHUNT_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} shunt_counters SEC(".maps");

/* Mode and tunables (key 0); written by shuntd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_dp_config);
} shunt_config SEC(".maps");

/* Include/exclude CIDRs (value SHUNT_CIDR_*); written by shuntd, read by sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_CIDRS);
	__type(key, struct shunt_cidr_key);
	__type(value, __u32);
} shunt_cidrs SEC(".maps");

/* Excluded ports (host order, either end); written by shuntd, read by sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
} shunt_ports SEC(".maps");

/* ---- interception (connect4/connect6/getsockopt; sockops bridges) ---- */

/* Capture mode and listener ports (key 0); written by shuntd, read by connect4/6. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_capture_cfg);
} shunt_capture SEC(".maps");

/* cgroup id -> workload identity / proxy flag; written by shuntd from
 * workloads[].cgroups and --proxy-cgroup, read by connect4/6 (source identity). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_IDENTS);
	__type(key, __u64);
	__type(value, struct shunt_ident);
} shunt_cg_ident SEC(".maps");

/* address block -> workload identity; written by shuntd from workloads[].addresses,
 * read by connect4/6 (destination identity). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_IDENTS);
	__type(key, struct shunt_cidr_key);
	__type(value, struct shunt_ident);
} shunt_addr_ident SEC(".maps");

/* Compiled L3/L4 policy (value SHUNT_L4V_*); written by shuntd
 * (shunt_policy_l4_entries), read by connect4/6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* sized for big meshes, mostly empty */
	__uint(max_entries, SHUNT_MAX_L4);
	__type(key, struct shunt_l4_key);
	__type(value, __u32);
} shunt_l4 SEC(".maps");

/* Destination port -> SHUNT_PORT_* exclusions; written by shuntd, read by connect4/6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
} shunt_icpt_ports SEC(".maps");

/* (workload identity, port) -> SHUNT_PORT_* of workloads[].capture; written
 * by shuntd, read by connect4/6 for identities flagged SHUNT_IDENT_WPORTS. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_IDENTS);
	__type(key, struct shunt_wport_key);
	__type(value, __u32);
} shunt_icpt_wports SEC(".maps");

/* Outbound capture ranges (global under SHUNT_IDENT_ANY, per workload under
 * its identity) -> SHUNT_CIDR_INCLUDE|EXCLUDE; written by shuntd, read by
 * connect4/6 for an app's outbound connection. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_IDENTS);
	__type(key, struct shunt_out_cidr_key);
	__type(value, __u32);
} shunt_out_cidrs SEC(".maps");

/* Socket cookie of a captured connecting socket -> original destination;
 * written by connect4/6, moved to shunt_origdst by sockops at ESTABLISHED. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_MAX_ORIGDST / 4); /* only between connect() and ESTABLISHED */
	__type(key, __u64);
	__type(value, struct shunt_orig_dst);
} shunt_origdst_ck SEC(".maps");

/* Connecting socket's own key (4-tuple, netns for loopback) -> original
 * destination; written by sockops (ACTIVE_ESTABLISHED, deleted at close),
 * read by getsockopt on the accepted socket under the mirrored key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_MAX_ORIGDST);
	__type(key, struct shunt_sock_key);
	__type(value, struct shunt_orig_dst);
} shunt_origdst SEC(".maps");

/* ---- splice (setsockopt SHUNT_SO_SPLICE; see "Splice" in shunt_bpf.h) ---- */

/* Relay socket's own key (X or Y) -> where its peer's sends go once switched;
 * written by setsockopt (link, FWD), updated by sk_msg, deleted by sockops
 * when the relay socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, struct shunt_sock_key);
	__type(value, struct shunt_splice);
} shunt_splice SEC(".maps");

/* Socket cookie -> the first half of a mutual SHUNT_SO_SPLICE (the partner
 * it named); written by setsockopt, deleted when the partner names it back.
 * LRU: a claim whose partner never answers just ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct shunt_splice_claim);
} shunt_splice_claims SEC(".maps");

static __always_inline void shunt_count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&shunt_counters, &idx);

	if (v)
		*v += n;
}

static __always_inline struct shunt_dp_config *shunt_get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&shunt_config, &zero);
}

#endif
