// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup/getsockopt: answer SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST
 * (SOL_IPV6) on a proxy's accepted socket for connections captured by
 * connect4/6, exactly as netfilter would after an iptables REDIRECT: the
 * connecting socket's key (recorded by sockops) is the mirror of ours.
 * Also SHUNT_SO_SPLICE_INFO (level SHUNT_SOL): what a relay socket's peer
 * sent past the relay (see "Splice" in shunt_bpf.h).
 * Every other getsockopt is left untouched (kernel result and length).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "shunt_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* One load per bpf_sock field through a register: clang would otherwise
 * compute sk + offset once and index from it ("pointer arithmetic on sock
 * prohibited"). */
#define SK_LOAD(dst, field)                   \
	do {                                  \
		__u32 __v = (field);          \
		asm volatile("" : "+r"(__v)); \
		(dst) = __v;                  \
	} while (0)

#define SHUNT_SOL_IP		0
#define SHUNT_SOL_IPV6		41
#define SHUNT_SO_ORIGINAL_DST	80 /* linux/netfilter_ipv4.h */
#define SHUNT_IP6T_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */

#define SHUNT_EINVAL		22

/* SHUNT_SO_SPLICE_INFO: zeros (linked 0) for any socket that is not linked,
 * so a relay can ask about each of its sockets alike. */
static __always_inline int splice_info(struct bpf_sockopt *ctx, struct bpf_sock *sk)
{
	struct shunt_splice_info *out = ctx->optval;
	struct shunt_sk_keys *keys;
	struct shunt_splice *sp;
	struct shunt_conn *c;

	if ((void *)(out + 1) > ctx->optval_end) {
		ctx->retval = -SHUNT_EINVAL;
		return 1;
	}
	__builtin_memset(out, 0, sizeof(*out));
	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, 0);
	c = keys ? bpf_map_lookup_elem(&shunt_conns, &keys->self) : NULL;
	if (c && (c->splice & SHUNT_SPLICE_LINKED)) {
		out->linked = 1;
		sp = bpf_map_lookup_elem(&shunt_splice, &keys->self);
		if (sp) {
			out->bytes = sp->bytes;
			out->msgs = sp->msgs;
			out->switched = sp->switched;
		}
	}
	ctx->optlen = sizeof(*out);
	ctx->retval = 0;
	return 1;
}

SEC("cgroup/getsockopt")
int shunt_getsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct shunt_sock_key k, m;
	struct shunt_orig_dst *o;
	__u32 lip[4] = {}, rip[4] = {}, family, tmp;
	__u16 lport, rport;
	int level = ctx->level;

	if (level == SHUNT_SOL) {
		if (ctx->optname != SHUNT_SO_SPLICE_INFO || !sk)
			return 1;
		return splice_info(ctx, sk);
	}
	if (ctx->optname != SHUNT_SO_ORIGINAL_DST ||
	    (level != SHUNT_SOL_IP && level != SHUNT_SOL_IPV6) || !sk)
		return 1;
	SK_LOAD(family, sk->family);
	if (family == SHUNT_AF_INET) {
		SK_LOAD(lip[0], sk->src_ip4);
		SK_LOAD(rip[0], sk->dst_ip4);
	} else if (family == SHUNT_AF_INET6) {
		SK_LOAD(lip[0], sk->src_ip6[0]);
		SK_LOAD(lip[1], sk->src_ip6[1]);
		SK_LOAD(lip[2], sk->src_ip6[2]);
		SK_LOAD(lip[3], sk->src_ip6[3]);
		SK_LOAD(rip[0], sk->dst_ip6[0]);
		SK_LOAD(rip[1], sk->dst_ip6[1]);
		SK_LOAD(rip[2], sk->dst_ip6[2]);
		SK_LOAD(rip[3], sk->dst_ip6[3]);
	} else {
		return 1;
	}
	SK_LOAD(tmp, sk->src_port);
	lport = (__u16)tmp;
	SK_LOAD(tmp, sk->dst_port);
	rport = bpf_ntohs((__u16)tmp);
	if (shunt_key_fill(&k, family, lip, rip, lport, rport))
		k.netns = bpf_get_netns_cookie(ctx);
	shunt_key_mirror(&k, &m);
	o = bpf_map_lookup_elem(&shunt_origdst, &m);
	if (!o)
		return 1;

	if (level == SHUNT_SOL_IP && o->family == SHUNT_AF_INET) {
		struct sockaddr_in *sin = ctx->optval;

		if ((void *)(sin + 1) > ctx->optval_end)
			return 1; /* user buffer too small: kernel's answer stands */
		__builtin_memset(sin, 0, sizeof(*sin));
		sin->sin_family = SHUNT_AF_INET;
		sin->sin_port = bpf_htons(o->port);
		sin->sin_addr.s_addr = o->ip[0];
		ctx->optlen = sizeof(*sin);
	} else if (level == SHUNT_SOL_IPV6 && o->family == SHUNT_AF_INET6) {
		struct sockaddr_in6 *sin6 = ctx->optval;

		if ((void *)(sin6 + 1) > ctx->optval_end)
			return 1;
		__builtin_memset(sin6, 0, sizeof(*sin6));
		sin6->sin6_family = SHUNT_AF_INET6;
		sin6->sin6_port = bpf_htons(o->port);
		sin6->sin6_addr.in6_u.u6_addr32[0] = o->ip[0];
		sin6->sin6_addr.in6_u.u6_addr32[1] = o->ip[1];
		sin6->sin6_addr.in6_u.u6_addr32[2] = o->ip[2];
		sin6->sin6_addr.in6_u.u6_addr32[3] = o->ip[3];
		ctx->optlen = sizeof(*sin6);
	} else {
		return 1;
	}
	ctx->retval = 0;
	shunt_count(SHUNT_CNT_ORIGDST_ANSWERED, 1);
	return 1;
}
