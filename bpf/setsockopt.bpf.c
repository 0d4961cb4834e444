// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup/setsockopt: the relay side of splice (see "Splice" in shunt_bpf.h).
 * Only level SHUNT_SOL is ours; every other setsockopt goes to the kernel
 * untouched (checked first: this runs on every setsockopt in the cgroup).
 *
 *  SHUNT_SO_SPLICE (partner cookie P): the first of a relay's two sockets to
 *    call records a claim under its own cookie; the second, naming the first
 *    while the first named it, links the pair. Mutual naming proves the caller
 *    holds both sockets: nobody can splice a socket it does not own.
 *  SHUNT_SO_SPLICE_FWD (total): bytes the relay read from this socket and
 *    wrote to the partner; sk_msg switches the peer once it equals what the
 *    peer redirected into this socket.
 *
 * Success skips the kernel handler (optlen -1: setsockopt returns 0); errors
 * are returned with bpf_set_retval().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "shunt_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* errno values (vmlinux.h has none) */
#define SHUNT_ENOENT   2
#define SHUNT_ENOMEM   12
#define SHUNT_EINVAL   22
#define SHUNT_ENOLINK  67
#define SHUNT_EALREADY 114

static __always_inline int sockopt_err(int err)
{
	bpf_set_retval(-err);
	return 0;
}

/* A relay socket that may take part in a splice: tracked, redirecting, and
 * never sent through TCP (its bytes all sit in its peer's ingress queue, so
 * spliced bytes queued behind them keep the order). */
static __always_inline int spliceable(const struct shunt_conn *c)
{
	return c && c->state == SHUNT_CONN_REDIRECT && c->pass_msgs == 0;
}

static __always_inline void set_in(const struct shunt_sock_key *k)
{
	struct shunt_conn *c = bpf_map_lookup_elem(&shunt_conns, k);

	if (c)
		c->splice |= SHUNT_SPLICE_IN;
}

/*
 * Link this socket (keys, conn) with the claim's socket. Order of the writes:
 * both shunt_splice entries, then SPLICE_IN on the two receivers (never
 * evicted from now on), then SPLICE_LINKED, which is what sk_msg looks at
 * first: no sender can switch before its target is pinned in the sockhash.
 */
static __always_inline int link_pair(struct shunt_sk_keys *keys, struct shunt_conn *conn,
				     struct shunt_splice_claim *claim, __u64 pcookie)
{
	struct shunt_splice sp = {};
	struct shunt_conn *partner;

	partner = bpf_map_lookup_elem(&shunt_conns, &claim->self);
	/* the claim may be stale: its key reused by another socket since */
	if (!spliceable(partner) || partner->cookie != pcookie)
		return sockopt_err(SHUNT_ENOENT);
	if (partner->splice & SHUNT_SPLICE_LINKED)
		return sockopt_err(SHUNT_EALREADY);
	/* ours: our peer sends to the partner's peer */
	shunt_key_mirror(&claim->self, &sp.to);
	sp.partner = claim->self;
	if (bpf_map_update_elem(&shunt_splice, &keys->self, &sp, BPF_ANY))
		return sockopt_err(SHUNT_ENOMEM);
	/* the partner's: its peer sends to ours */
	sp.to = keys->peer;
	sp.partner = keys->self;
	if (bpf_map_update_elem(&shunt_splice, &claim->self, &sp, BPF_ANY)) {
		bpf_map_delete_elem(&shunt_splice, &keys->self);
		return sockopt_err(SHUNT_ENOMEM);
	}
	set_in(&keys->peer);
	shunt_key_mirror(&claim->self, &sp.to);
	set_in(&sp.to);
	conn->splice |= SHUNT_SPLICE_LINKED;
	partner->splice |= SHUNT_SPLICE_LINKED;
	bpf_map_delete_elem(&shunt_splice_claims, &pcookie);
	shunt_count(SHUNT_CNT_SPLICE_LINKED, 1);
	return 1;
}

static __always_inline int do_splice(struct shunt_sk_keys *keys, struct shunt_conn *conn,
				     __u64 pcookie)
{
	struct shunt_splice_claim *claim, mine = {};
	struct shunt_conn *peer;
	__u64 cookie = conn->cookie;

	if (conn->splice & SHUNT_SPLICE_LINKED)
		return sockopt_err(SHUNT_EALREADY);
	/* with itself or with its own peer: no relay in between */
	peer = bpf_map_lookup_elem(&shunt_conns, &keys->peer);
	if (pcookie == cookie || (peer && peer->cookie == pcookie))
		return sockopt_err(SHUNT_EINVAL);
	claim = bpf_map_lookup_elem(&shunt_splice_claims, &pcookie);
	if (claim && claim->partner_cookie == cookie)
		return link_pair(keys, conn, claim, pcookie);
	mine.partner_cookie = pcookie;
	mine.self = keys->self;
	if (bpf_map_update_elem(&shunt_splice_claims, &cookie, &mine, BPF_ANY))
		return sockopt_err(SHUNT_ENOMEM);
	return 1;
}

/* FWD: only while our peer can still switch (it has not, and neither it nor
 * the partner ever sent through TCP); else ENOLINK tells the relay to stop. */
static __always_inline int do_fwd(struct shunt_sk_keys *keys, struct shunt_conn *conn, __u64 total)
{
	struct shunt_splice *sp;
	struct shunt_conn *c;

	if (!(conn->splice & SHUNT_SPLICE_LINKED))
		return sockopt_err(SHUNT_ENOLINK);
	sp = bpf_map_lookup_elem(&shunt_splice, &keys->self);
	if (!sp || sp->switched)
		return sockopt_err(SHUNT_ENOLINK);
	c = bpf_map_lookup_elem(&shunt_conns, &sp->partner);
	if (!spliceable(c))
		return sockopt_err(SHUNT_ENOLINK);
	c = bpf_map_lookup_elem(&shunt_conns, &keys->peer);
	if (!spliceable(c))
		return sockopt_err(SHUNT_ENOLINK);
	sp->fwd = total;
	return 1;
}

SEC("cgroup/setsockopt")
int shunt_setsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct shunt_sk_keys *keys;
	struct shunt_conn *conn;
	int optname = ctx->optname, ret;
	__u64 *val, v;

	if (ctx->level != SHUNT_SOL)
		return 1;
	if (optname != SHUNT_SO_SPLICE && optname != SHUNT_SO_SPLICE_FWD)
		return 1; /* the kernel answers ENOPROTOOPT */
	val = ctx->optval;
	if (ctx->optlen != sizeof(*val) || (void *)(val + 1) > ctx->optval_end)
		return sockopt_err(SHUNT_EINVAL);
	v = *val;
	if (!sk)
		return sockopt_err(SHUNT_ENOENT);
	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, 0);
	if (!keys)
		return sockopt_err(SHUNT_ENOENT);
	conn = bpf_map_lookup_elem(&shunt_conns, &keys->self);
	if (!spliceable(conn))
		return sockopt_err(SHUNT_ENOENT);
	if (optname == SHUNT_SO_SPLICE)
		ret = do_splice(keys, conn, v);
	else
		ret = do_fwd(keys, conn, v);
	if (ret)
		ctx->optlen = -1; /* handled: skip the kernel, setsockopt returns 0 */
	return ret;
}
