/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maps shared by sockops.bpf.c and sk_msg.bpf.c (BPF side only). shuntd loads
 * the sockops object first and hands these maps to the sk_msg object by name
 * (bpf_map__reuse_fd), so both programs see one set.
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
