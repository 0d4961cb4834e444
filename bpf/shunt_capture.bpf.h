/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared body of cgroup/connect4 and cgroup/connect6 (BPF side only): gather
 * the source identity (connecting cgroup and its ancestors), the destination
 * identity (address trie), the L3/L4 verdict (shunt_l4, lookup order of
 * shunt_l4_lookup()) and the port exclusions, then apply
 * shunt_capture_decide() (shunt_bpf.h). The caller rewrites the address.
 */
#ifndef SHUNT_CAPTURE_BPF_H
#define SHUNT_CAPTURE_BPF_H

#include "shunt_maps.bpf.h"

#define SHUNT_SOCK_STREAM 1
#define SHUNT_IPPROTO_TCP 6

static __always_inline struct shunt_capture_cfg *shunt_get_capture(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&shunt_capture, &zero);
}

/* Source identity from the connecting task's cgroup, deepest match first: the
 * nearest cgroup with an identity names the workload (and gives its
 * flags); PROXY flags of any ancestor mark the proxy. Never from anything the
 * application controls. */
static __always_inline void shunt_src_ident(struct shunt_capture_in *in, __u32 *flags)
{
	struct shunt_ident *v;
	__u64 id;
	int level;

	*flags = 0;
	for (level = SHUNT_MAX_CG_DEPTH; level >= 1; level--) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			continue;
		v = bpf_map_lookup_elem(&shunt_cg_ident, &id);
		if (!v)
			continue;
		/* PROXY from any ancestor; the workload's own flags (NOSIDECAR,
		 * OWN_CIDRS, WPORTS) only from the cgroup that names it */
		*flags |= v->flags & SHUNT_IDENT_PROXY;
		if (!in->src_known && (v->flags & SHUNT_IDENT_HAS)) {
			in->src_known = 1;
			in->src_identity = v->identity;
			*flags |= v->flags;
		}
	}
}

static __always_inline __u32 shunt_l4_verdict(__u32 src, __u32 dst, __u16 port)
{
	struct shunt_l4_key k;
	__u32 *v;
	int i;

	for (i = 0; i < SHUNT_L4_CANDIDATES; i++) {
		shunt_l4_candidate(&k, i, src, dst, port);
		v = bpf_map_lookup_elem(&shunt_l4, &k);
		if (v)
			return *v;
	}
	return SHUNT_L4V_ALLOW;
}

/* Per-workload port flags (0 when the identity has none). */
static __always_inline __u32 shunt_wport(__u32 identity, __u16 port)
{
	struct shunt_wport_key k = {.identity = identity, .port = port};
	__u32 *v = bpf_map_lookup_elem(&shunt_icpt_wports, &k);

	return v ? *v : 0;
}

/* Longest-match flags of the outbound ranges of identity (ANY = global). */
static __always_inline __u32 shunt_out_cidr(__u32 identity, const struct shunt_cidr_key *ck)
{
	struct shunt_out_cidr_key k;
	__u32 *v;

	k.prefixlen = SHUNT_OUT_CIDR_ID_BITS + 128;
	k.identity = identity;
	__builtin_memcpy(k.addr, ck->addr, sizeof(k.addr));
	v = bpf_map_lookup_elem(&shunt_out_cidrs, &k);
	return v ? *v : 0;
}

/*
 * Decide one connect(). ck = destination as a trie key (IPv4 mapped),
 * port in host order, loopback set by the caller. Records the original
 * destination under the socket cookie when capturing.
 */
static __always_inline int shunt_connect_decide(struct bpf_sock_addr *ctx,
						struct shunt_capture_cfg *cfg,
						const struct shunt_cidr_key *ck,
						const struct shunt_orig_dst *orig, int loopback)
{
	struct shunt_capture_in in = {};
	struct shunt_ident *d;
	__u32 cg_flags, dflags = 0, *pf, gport = 0, sw = 0, dw = 0, oc;
	__u64 cookie;
	int act;

	in.dst_port = orig->port;
	in.dst_loopback = loopback;
	if (loopback)
		return SHUNT_ACT_PASS;
	shunt_src_ident(&in, &cg_flags);
	d = bpf_map_lookup_elem(&shunt_addr_ident, ck);
	if (d && (d->flags & SHUNT_IDENT_HAS)) {
		in.dst_known = 1;
		in.dst_identity = d->identity;
		in.dst_meshed = (d->flags & SHUNT_IDENT_MESHED) != 0;
		dflags = d->flags;
	}
	if (in.dst_known && (cfg->flags & SHUNT_CAP_POLICY))
		in.verdict = shunt_l4_verdict(in.src_known ? in.src_identity : SHUNT_IDENT_WORLD,
					      in.dst_identity, in.dst_port);
	pf = bpf_map_lookup_elem(&shunt_icpt_ports, &in.dst_port);
	if (pf)
		gport = *pf;
	if (in.src_known && (cg_flags & SHUNT_IDENT_WPORTS))
		sw = shunt_wport(in.src_identity, in.dst_port);
	if (in.dst_known && (dflags & SHUNT_IDENT_WPORTS))
		dw = shunt_wport(in.dst_identity, in.dst_port);
	in.port_flags = shunt_port_flags_merge(gport, sw, dw, dflags);
	in.src_nosidecar = (cg_flags & SHUNT_IDENT_NOSIDECAR) != 0;
	if (cfg->mode != SHUNT_CAPTURE_OFF) {
		oc = shunt_out_cidr(in.src_known && (cg_flags & SHUNT_IDENT_OWN_CIDRS)
					    ? in.src_identity
					    : SHUNT_IDENT_ANY,
				    ck);
		in.out_skip = !shunt_out_cidr_allows(oc);
		in.out_excluded = (oc & SHUNT_CIDR_EXCLUDE) != 0;
	}
	in.is_proxy = (cg_flags & SHUNT_IDENT_PROXY) != 0;
	if (!in.is_proxy && cfg->proxy_uid != SHUNT_UID_NONE)
		in.is_proxy = (__u32)bpf_get_current_uid_gid() == cfg->proxy_uid;
	if (!in.is_proxy && cfg->proxy_mark && ctx->sk)
		in.is_proxy = ctx->sk->mark == cfg->proxy_mark;

	act = shunt_capture_decide(cfg, &in);
	if (act == SHUNT_ACT_DENY) {
		shunt_count(SHUNT_CNT_CONNECT_DENIED, 1);
	} else if (act == SHUNT_ACT_OUTBOUND || act == SHUNT_ACT_INBOUND) {
		cookie = bpf_get_socket_cookie(ctx);
		if (bpf_map_update_elem(&shunt_origdst_ck, &cookie, orig, BPF_ANY)) {
			shunt_count(SHUNT_CNT_SOCK_ERRORS, 1);
			return SHUNT_ACT_PASS; /* cannot answer SO_ORIGINAL_DST: do not capture */
		}
		shunt_count(act == SHUNT_ACT_OUTBOUND ? SHUNT_CNT_CAPTURED_OUT
						      : SHUNT_CNT_CAPTURED_IN,
			    1);
	}
	return act;
}

#endif
