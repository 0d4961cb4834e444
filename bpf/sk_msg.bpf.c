// SPDX-License-Identifier: GPL-2.0
/*
 * sk_msg: redirect each message of a tracked socket into the ingress queue of
 * its peer (the socket stored under the mirrored key), or pass it to TCP.
 *
 * A connection only ever moves from redirect to plain TCP, never back:
 * tcp_bpf_recvmsg() drains the psock ingress queue before sk_receive_queue,
 * so older redirected bytes are read before newer TCP bytes, while the other
 * way round newer redirected bytes could overtake older TCP bytes. Every
 * verdict is SK_PASS or a redirect: no data is ever dropped here.
 *
 * Splice (see shunt_bpf.h): when the peer X is a relay socket linked with Y,
 * a sender S switches, once, to sending into the ingress queue of Y's peer
 * (shunt_splice[X].to) as soon as the relay has forwarded every byte S
 * redirected into X. Each fallback below still sends to X over TCP: the relay
 * serves X until it closes, and S's older spliced bytes sit in the target's
 * psock queue, which is read before anything that arrives later by TCP.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "shunt_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int fall_back(struct shunt_conn *c, __u32 state, __u32 counter)
{
	c->state = state;
	shunt_count(counter, 1);
	return SK_PASS;
}

/*
 * Switch S (c) past the relay X (x) once order allows: every byte S
 * redirected into X was written to Y (fwd), S never sent through TCP (its
 * bytes all went through X), and Y can still only redirect (Y's older bytes
 * are in the target's ingress queue, so ours queue behind them). X must not
 * receive spliced data itself (a second relay in a chain spliced into it):
 * then S would not be X's only sender and fwd could count another sender's
 * bytes while some of S's still wait in X. Such a chain still skips one relay
 * per direction.
 */
static __always_inline void try_switch(struct shunt_conn *c, const struct shunt_conn *x,
				       struct shunt_splice *sp)
{
	struct shunt_conn *y;

	if (c->pass_msgs || c->bytes != sp->fwd || (x->splice & SHUNT_SPLICE_IN))
		return;
	y = bpf_map_lookup_elem(&shunt_conns, &sp->partner);
	if (!y || y->state != SHUNT_CONN_REDIRECT || y->pass_msgs)
		return;
	c->splice |= SHUNT_SPLICE_ON;
	sp->switched = 1;
	shunt_count(SHUNT_CNT_SPLICE_SWITCHED, 1);
}

SEC("sk_msg")
int shunt_sk_msg(struct sk_msg_md *msg)
{
	struct shunt_dp_config *cfg = shunt_get_config();
	struct bpf_sock *sk = msg->sk;
	struct shunt_sk_keys *keys;
	struct shunt_conn *c, *peer, *rx;
	struct shunt_splice *sp = NULL;
	struct shunt_sock_key *to;
	__u32 size = msg->size;

	if (!sk || !cfg)
		return SK_PASS;
	keys = bpf_sk_storage_get(&shunt_sk_keys, sk, 0, 0);
	if (!keys) {
		shunt_count(SHUNT_CNT_MSG_UNTRACKED, 1);
		return SK_PASS;
	}
	c = bpf_map_lookup_elem(&shunt_conns, &keys->self);
	if (!c) {
		shunt_count(SHUNT_CNT_MSG_UNTRACKED, 1);
		return SK_PASS;
	}

	if (c->state == SHUNT_CONN_REDIRECT) {
		if (cfg->mode != SHUNT_MODE_ON) {
			fall_back(c, SHUNT_CONN_PASS_DRAIN, SHUNT_CNT_FALLBACK_DRAIN);
		} else if (cfg->small_writes == SHUNT_SMALL_PASS) {
			c->state = SHUNT_CONN_PASS_MODE;
		} else {
			peer = bpf_map_lookup_elem(&shunt_conns, &keys->peer);
			if (peer && peer->state != SHUNT_CONN_REDIRECT) {
				/* follow the peer to TCP: then both ends can leave the
				 * sockhash (see sockops on_segment) */
				fall_back(c, SHUNT_CONN_PASS_PEER, SHUNT_CNT_FALLBACK_PEER);
			} else {
				if ((c->splice & SHUNT_SPLICE_ON) ||
				    (peer && (peer->splice & SHUNT_SPLICE_LINKED)))
					sp = bpf_map_lookup_elem(&shunt_splice, &keys->peer);
				if (sp && peer && !(c->splice & SHUNT_SPLICE_ON))
					try_switch(c, peer, sp);
				if (!(c->splice & SHUNT_SPLICE_ON))
					sp = NULL;
			}
			if (c->state == SHUNT_CONN_REDIRECT &&
			    cfg->small_writes == SHUNT_SMALL_ADAPTIVE) {
				/* we sent: the one-way run of whom we send to is broken
				 * (past the relay: the target, else ping-pong over a
				 * splice would look like two one-way runs) */
				rx = sp ? bpf_map_lookup_elem(&shunt_conns, &sp->to) : peer;
				if (rx) {
					rx->run_msgs = 0;
					rx->run_bytes = 0;
				}
				/* only loopback keys carry a netns cookie */
				if (shunt_small_write_step(c, size, cfg->small_min_run,
							   keys->self.netns
								   ? cfg->small_max_avg
								   : cfg->small_max_avg_pod))
					fall_back(c, SHUNT_CONN_PASS_SMALL,
						  SHUNT_CNT_FALLBACK_SMALL);
			}
		}
	}
	if (c->state == SHUNT_CONN_REDIRECT) {
		to = sp ? &sp->to : &keys->peer;
		/* fails (SK_DROP) only when no socket is stored under the key */
		if (bpf_msg_redirect_hash(msg, &shunt_sockhash, to, BPF_F_INGRESS) == SK_PASS) {
			c->msgs++;
			c->bytes += size;
			shunt_count(SHUNT_CNT_MSG_REDIRECTED, 1);
			shunt_count(SHUNT_CNT_BYTES_REDIRECTED, size);
			if (sp) {
				sp->msgs++;
				sp->bytes += size;
				shunt_count(SHUNT_CNT_MSG_SPLICED, 1);
				shunt_count(SHUNT_CNT_BYTES_SPLICED, size);
			}
			return SK_PASS;
		}
		fall_back(c, SHUNT_CONN_PASS_NOPEER, SHUNT_CNT_FALLBACK_NO_PEER);
	}
	c->pass_msgs++;
	shunt_count(SHUNT_CNT_MSG_PASSED, 1);
	shunt_count(SHUNT_CNT_BYTES_PASSED, size);
	return SK_PASS;
}
