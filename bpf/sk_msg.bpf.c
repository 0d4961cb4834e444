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

SEC("sk_msg")
int shunt_sk_msg(struct sk_msg_md *msg)
{
	struct shunt_dp_config *cfg = shunt_get_config();
	struct bpf_sock *sk = msg->sk;
	struct shunt_sk_keys *keys;
	struct shunt_conn *c, *peer;
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
			} else if (cfg->small_writes == SHUNT_SMALL_ADAPTIVE) {
				/* we sent: the peer's one-way run is broken */
				if (peer) {
					peer->run_msgs = 0;
					peer->run_bytes = 0;
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
		/* fails (SK_DROP) only when no socket is stored under the peer key */
		if (bpf_msg_redirect_hash(msg, &shunt_sockhash, &keys->peer, BPF_F_INGRESS) ==
		    SK_PASS) {
			c->msgs++;
			c->bytes += size;
			shunt_count(SHUNT_CNT_MSG_REDIRECTED, 1);
			shunt_count(SHUNT_CNT_BYTES_REDIRECTED, size);
			return SK_PASS;
		}
		fall_back(c, SHUNT_CONN_PASS_NOPEER, SHUNT_CNT_FALLBACK_NO_PEER);
	}
	c->pass_msgs++;
	shunt_count(SHUNT_CNT_MSG_PASSED, 1);
	shunt_count(SHUNT_CNT_BYTES_PASSED, size);
	return SK_PASS;
}
