// SPDX-License-Identifier: GPL-2.0
/*
 * sockops: put eligible established TCP sockets into shunt_sockhash.
 *
 * On ACTIVE/PASSIVE_ESTABLISHED the socket's own key and its mirrored peer key
 * are computed (shunt_key_fill), stored in socket local storage for sk_msg,
 * recorded in shunt_conns and the socket is inserted into the sockhash. The
 * connect() side is established first and is always inserted; the accept()
 * side only when its peer is already tracked (a local, eligible client).
 *
 * A tracked socket that is on plain TCP for good (it receives TCP payload, or
 * its own sends fell back) leaves the sockhash once its redirect queue is
 * empty and its peer no longer redirects: on this kernel FIONREAD of a
 * sockmap socket counts only that queue (tcp_bpf_ioctl), and tcp_bpf_sendmsg
 * is slower than tcp_sendmsg. Leaving earlier would drop queued bytes (the
 * psock and its queue are freed).
 *
 * A socket that receives spliced data (SHUNT_SPLICE_IN) never leaves.
 *
 * On the transition to TCP_CLOSE the shunt_conns record (and a relay
 * socket's shunt_splice entries, its own and its partner's) is deleted; the sockhash drops closed
 * sockets by itself.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "shunt_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Copy one ctx field through a register: without the barrier clang may keep a
 * pointer into the ctx and load through it later, which the verifier rejects
 * ("dereference of modified ctx ptr"). */
#define CTX_LOAD(dst, field)                  \
	do {                                  \
		__u32 __v = (field);          \
		asm volatile("" : "+r"(__v)); \
		(dst) = __v;                  \
	} while (0)

/* remote_port is network order; kernels before 5.10 put it in the upper 16 bits. */
static __always_inline __u16 remote_port_host(__u32 raw)
{
	if (raw > 0xffff)
		raw >>= 16;
	return bpf_ntohs((__u16)raw);
}

static __always_inline int cidr_class(__u16 family, const __u32 *ip)
{
	struct shunt_cidr_key ck;
	__u32 *v;

	shunt_cidr_key_from(&ck, family, ip);
	v = bpf_map_lookup_elem(&shunt_cidrs, &ck);
	return v ? (int)*v : 0;
}

static __always_inline int port_excluded(__u16 port)
{
	return bpf_map_lookup_elem(&shunt_ports, &port) != NULL;
}

/* Policy as data: loopback always eligible unless excluded by port. */
static __always_inline int eligible(const struct shunt_sock_key *k, int loopback,
				    const struct shunt_dp_config *cfg)
{
	int lc, rc;

	if (port_excluded(k->local_port) || port_excluded(k->remote_port))
		return 0;
	lc = cidr_class(k->family, k->local_ip);
	rc = cidr_class(k->family, k->remote_ip);
	if (lc == SHUNT_CIDR_EXCLUDE || rc == SHUNT_CIDR_EXCLUDE)
		return 0;
	if ((cfg->flags & SHUNT_CFG_HAS_INCLUDE) && !loopback)
		return lc == SHUNT_CIDR_INCLUDE && rc == SHUNT_CIDR_INCLUDE;
	return 1;
}

/* STATE_CB: close. WRITE_HDR_OPT: a callback per outgoing TCP segment (header
 * option sizing), which on a receiver means "I am ACKing TCP payload". The
 * PARSE_HDR callbacks would be the natural hook but skip the fast path, so
 * bulk data never reaches them. Redirected connections send no segments, so
 * this costs nothing while accelerated. */
#define WATCH_FLAGS (BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG)

static __always_inline void track(struct bpf_sock_ops *skops, int active)
{
	struct shunt_dp_config *cfg = shunt_get_config();
	struct bpf_sock *sk = skops->sk;
	struct shunt_sk_keys *keys;
	struct shunt_sock_key k;
	struct shunt_conn conn = {}, *peer;
	__u32 lip[4], rip[4], lport, rport;
	__u32 family = skops->family;
	int loopback;

	if (!cfg || !sk || cfg->mode != SHUNT_MODE_ON)
		return;
	if (family == SHUNT_AF_INET) {
		CTX_LOAD(lip[0], skops->local_ip4);
		CTX_LOAD(rip[0], skops->remote_ip4);
		lip[1] = lip[2] = lip[3] = 0;
		rip[1] = rip[2] = rip[3] = 0;
	} else if (family == SHUNT_AF_INET6) {
		CTX_LOAD(lip[0], skops->local_ip6[0]);
		CTX_LOAD(lip[1], skops->local_ip6[1]);
		CTX_LOAD(lip[2], skops->local_ip6[2]);
		CTX_LOAD(lip[3], skops->local_ip6[3]);
		CTX_LOAD(rip[0], skops->remote_ip6[0]);
		CTX_LOAD(rip[1], skops->remote_ip6[1]);
		CTX_LOAD(rip[2], skops->remote_ip6[2]);
		CTX_LOAD(rip[3], skops->remote_ip6[3]);
	} else {
		return;
	}
	CTX_LOAD(lport, skops->local_port);
	CTX_LOAD(rport, skops->remote_port);
	loopback = shunt_key_fill(&k, family, lip, rip, (__u16)lport, remote_port_host(rport));
	if (loopback)
		k.netns = bpf_get_netns_cookie(skops);
	/* Data that arrived with the handshake (TCP Fast Open) sits in the TCP
	 * receive queue; redirected bytes would overtake it. */
	if (skops->bytes_received > 0 || !eligible(&k, loopback, cfg)) {
		shunt_count(SHUNT_CNT_SOCK_SKIPPED, 1);
		return;
	}

	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!keys)
		goto err;
	keys->self = k;
	shunt_key_mirror(&k, &keys->peer);
	/* accept() side: only when the connect() side (established earlier) is ours */
	peer = active ? NULL : bpf_map_lookup_elem(&shunt_conns, &keys->peer);
	if (!active && (!peer || peer->state == SHUNT_CONN_EVICTED ||
			peer->state == SHUNT_CONN_EVICTED_BUSY)) {
		bpf_sk_storage_delete(&shunt_sk_keys, sk);
		shunt_count(SHUNT_CNT_SOCK_SKIPPED, 1);
		return;
	}

	conn.cookie = bpf_get_socket_cookie(skops);
	conn.start_ns = bpf_ktime_get_ns();
	conn.active = active;
	if (cfg->small_writes == SHUNT_SMALL_PASS)
		conn.state = SHUNT_CONN_PASS_MODE;
	if (bpf_map_update_elem(&shunt_conns, &k, &conn, BPF_ANY))
		goto err_storage;
	if (bpf_sock_hash_update(skops, &shunt_sockhash, &k, BPF_ANY)) {
		bpf_map_delete_elem(&shunt_conns, &k);
		goto err_storage;
	}
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | WATCH_FLAGS);
	shunt_count(SHUNT_CNT_SOCK_TRACKED, 1);
	return;
err_storage:
	bpf_sk_storage_delete(&shunt_sk_keys, sk);
err:
	shunt_count(SHUNT_CNT_SOCK_ERRORS, 1);
}

static __always_inline void untrack(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct shunt_sk_keys *keys;
	struct shunt_splice *sp;

	if (!sk)
		return;
	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, 0);
	if (!keys)
		return;
	if (bpf_map_delete_elem(&shunt_conns, &keys->self) == 0)
		shunt_count(SHUNT_CNT_SOCK_CLOSED, 1);
	/* a relay socket's splice, and its partner's: the peers that were
	 * switched send to their relay socket again (the relay, which closed one
	 * of the pair, decides), or find none there and fall back to TCP */
	sp = bpf_map_lookup_elem(&shunt_splice, &keys->self);
	if (sp) {
		bpf_map_delete_elem(&shunt_splice, &sp->partner);
		bpf_map_delete_elem(&shunt_splice, &keys->self);
	}
	bpf_sk_storage_delete(&shunt_sk_keys, sk);
}

/* The socket's psock (sockmap state), or NULL once it is gone. */
static __always_inline struct sk_psock *psock_of(struct bpf_sock *sk, int *known)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	unsigned long ud;

	*known = tp != NULL;
	if (!tp)
		return NULL;
	ud = (unsigned long)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_user_data);
	/* low bits of sk_user_data are flags (SK_USER_DATA_NOCOPY/BPF/PSOCK) */
	return (struct sk_psock *)(ud & ~7UL);
}

/* May this peer state still redirect into us (now, or with a send in flight)? */
static __always_inline int peer_may_redirect(const struct shunt_conn *peer)
{
	return peer &&
	       (peer->state == SHUNT_CONN_REDIRECT || peer->state == SHUNT_CONN_EVICTED_BUSY);
}

/*
 * Outgoing segment on a tracked socket (HDR_OPT_LEN callback; we add no
 * options). The socket leaves the sockhash when it is on plain TCP for good
 * (it receives TCP payload, or its own sends fell back: a sender left in the
 * map keeps paying tcp_bpf_sendmsg + sk_msg per write, which is what makes
 * small writes slow), and only when no byte can be lost:
 *  - its peer will never redirect to it again: the peer is not tracked, or is
 *    in a one-way non-REDIRECT state whose own redirects are over;
 *  - its redirect queue is empty (the psock and its queue are freed).
 * A socket evicted while its own state was REDIRECT may have a redirect in
 * flight (the kernel releases the socket lock during the enqueue, and the
 * backlog - hence this callback - can run then): it is EVICTED_BUSY, which
 * stops its peer from leaving the map, until its psock is gone (the in-flight
 * send holds a psock reference until it is done).
 */
static __always_inline void on_segment(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct shunt_sk_keys *keys;
	struct shunt_conn *self, *peer;
	struct sk_psock *psock;
	int known;

	if (!sk)
		return;
	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, 0);
	if (!keys)
		return;
	self = bpf_map_lookup_elem(&shunt_conns, &keys->self);
	/* a spliced sender may redirect into a SPLICE_IN socket at any time,
	 * whatever its own peer does: it stays */
	if (!self || self->state == SHUNT_CONN_EVICTED || (self->splice & SHUNT_SPLICE_IN))
		return;
	psock = psock_of(sk, &known);
	if (!known)
		return;
	if (self->state == SHUNT_CONN_EVICTED_BUSY) {
		if (!psock) {
			self->state = SHUNT_CONN_EVICTED;
			bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		}
		return;
	}
	if (self->state == SHUNT_CONN_REDIRECT && skops->data_segs_in == 0)
		return; /* accelerated: segments are handshake/ACK only */
	peer = bpf_map_lookup_elem(&shunt_conns, &keys->peer);
	if (peer_may_redirect(peer))
		return;
	if (psock && BPF_CORE_READ(psock, msg_tot_len))
		return; /* unread redirected bytes: retry on a later segment */
	if (bpf_map_delete_elem(&shunt_sockhash, &keys->self))
		return;
	shunt_count(SHUNT_CNT_SOCK_EVICTED, 1);
	if (self->state == SHUNT_CONN_REDIRECT && self->msgs > 0) {
		self->state = SHUNT_CONN_EVICTED_BUSY; /* keep watching segments */
		return;
	}
	self->state = SHUNT_CONN_EVICTED;
	/* keep STATE_CB: the record is deleted at close */
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* The socket's own key from the sockops ctx (netns cookie for loopback). */
static __always_inline void own_key(struct bpf_sock_ops *skops, struct shunt_sock_key *k)
{
	__u32 lip[4] = {}, rip[4] = {}, lport, rport;
	__u32 family = skops->family;

	if (family == SHUNT_AF_INET) {
		CTX_LOAD(lip[0], skops->local_ip4);
		CTX_LOAD(rip[0], skops->remote_ip4);
	} else {
		CTX_LOAD(lip[0], skops->local_ip6[0]);
		CTX_LOAD(lip[1], skops->local_ip6[1]);
		CTX_LOAD(lip[2], skops->local_ip6[2]);
		CTX_LOAD(lip[3], skops->local_ip6[3]);
		CTX_LOAD(rip[0], skops->remote_ip6[0]);
		CTX_LOAD(rip[1], skops->remote_ip6[1]);
		CTX_LOAD(rip[2], skops->remote_ip6[2]);
		CTX_LOAD(rip[3], skops->remote_ip6[3]);
	}
	CTX_LOAD(lport, skops->local_port);
	CTX_LOAD(rport, skops->remote_port);
	if (shunt_key_fill(k, family, lip, rip, (__u16)lport, remote_port_host(rport)))
		k->netns = bpf_get_netns_cookie(skops);
}

/*
 * Original-destination bridge: connect4/6 remembered a captured socket's
 * original destination under its cookie; now that its 4-tuple is known (and
 * before the peer's accept() can return: the server side is created by our
 * ACK, sent after this callback), file it under the socket's own key, where
 * getsockopt on the accepted socket finds it by the mirrored key. Deleted
 * when the accepted socket closes (watch_orig_dst).
 */
static __always_inline void record_orig_dst(struct bpf_sock_ops *skops)
{
	struct shunt_orig_dst *o;
	struct shunt_sock_key k;
	__u64 cookie;
	__u32 family = skops->family;

	if (family != SHUNT_AF_INET && family != SHUNT_AF_INET6)
		return;
	cookie = bpf_get_socket_cookie(skops);
	o = bpf_map_lookup_elem(&shunt_origdst_ck, &cookie);
	if (!o)
		return;
	own_key(skops, &k);
	if (bpf_map_update_elem(&shunt_origdst, &k, o, BPF_ANY))
		shunt_count(SHUNT_CNT_SOCK_ERRORS, 1);
	bpf_map_delete_elem(&shunt_origdst_ck, &cookie);
}

/* The mirrored (peer's) key of this socket; false for non-IP families. */
static __always_inline bool mirrored_key(struct bpf_sock_ops *skops, struct shunt_sock_key *m)
{
	struct shunt_sock_key k;
	__u32 family = skops->family;

	if (family != SHUNT_AF_INET && family != SHUNT_AF_INET6)
		return false;
	own_key(skops, &k);
	shunt_key_mirror(&k, m);
	return true;
}

/* The accepted end of a captured connection: watch for its close, when the
 * entry is dropped (not at the client's close: a client may connect, send and
 * close before the proxy has accepted and asked). LRU bounds the rest. */
static __always_inline void watch_orig_dst(struct bpf_sock_ops *skops)
{
	struct shunt_sock_key m;

	if (mirrored_key(skops, &m) && bpf_map_lookup_elem(&shunt_origdst, &m))
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void forget_orig_dst(struct bpf_sock_ops *skops)
{
	struct shunt_sock_key m;

	if (mirrored_key(skops, &m))
		bpf_map_delete_elem(&shunt_origdst, &m);
}

SEC("sockops")
int shunt_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		record_orig_dst(skops);
		track(skops, 1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		track(skops, 0);
		watch_orig_dst(skops);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		on_segment(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE) {
			untrack(skops);
			forget_orig_dst(skops);
		}
		break;
	default:
		break;
	}
	return 1;
}
