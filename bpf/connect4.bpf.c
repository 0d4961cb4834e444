// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup/connect4: L3/L4 policy and iptables-free capture for IPv4 TCP.
 * Deny: return 0, so connect() fails with EPERM at once. Outbound capture:
 * the destination becomes 127.0.0.1:<outbound port> (the pod's sidecar);
 * inbound capture: the destination pod's address with <inbound port>. The
 * original destination is remembered under the socket cookie (sockops moves
 * it to the 4-tuple, getsockopt answers SO_ORIGINAL_DST from it).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "shunt_capture.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("cgroup/connect4")
int shunt_connect4(struct bpf_sock_addr *ctx)
{
	struct shunt_capture_cfg *cfg = shunt_get_capture();
	struct shunt_orig_dst orig = {};
	struct shunt_cidr_key ck;
	__u32 ip;
	int act;

	if (!cfg || ctx->type != SHUNT_SOCK_STREAM || ctx->protocol != SHUNT_IPPROTO_TCP)
		return 1;
	if (cfg->mode == SHUNT_CAPTURE_OFF && !(cfg->flags & SHUNT_CAP_POLICY))
		return 1;
	ip = ctx->user_ip4;
	orig.family = SHUNT_AF_INET;
	orig.ip[0] = ip;
	orig.port = bpf_ntohs((__u16)ctx->user_port);
	shunt_cidr_key_from(&ck, SHUNT_AF_INET, orig.ip);
	act = shunt_connect_decide(ctx, cfg, &ck, &orig, shunt_ip4_is_loopback(ip));
	switch (act) {
	case SHUNT_ACT_DENY:
		return 0;
	case SHUNT_ACT_OUTBOUND:
		ctx->user_ip4 = bpf_htonl(0x7f000001); /* 127.0.0.1 */
		ctx->user_port = bpf_htons(cfg->outbound_port);
		break;
	case SHUNT_ACT_INBOUND:
		ctx->user_port = bpf_htons(cfg->inbound_port);
		break;
	default:
		break;
	}
	return 1;
}
