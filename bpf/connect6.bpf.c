// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup/connect6: as connect4 for IPv6 TCP sockets. IPv4-mapped
 * destinations (a dual-stack socket connecting to an IPv4 address) are
 * handled like IPv4 and captured to ::ffff:127.0.0.1; IPv6 ones to ::1.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "shunt_capture.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("cgroup/connect6")
int shunt_connect6(struct bpf_sock_addr *ctx)
{
	struct shunt_capture_cfg *cfg = shunt_get_capture();
	struct shunt_orig_dst orig = {};
	struct shunt_cidr_key ck;
	int act, mapped, loop;

	if (!cfg || ctx->type != SHUNT_SOCK_STREAM || ctx->protocol != SHUNT_IPPROTO_TCP)
		return 1;
	if (cfg->mode == SHUNT_CAPTURE_OFF && !(cfg->flags & SHUNT_CAP_POLICY))
		return 1;
	orig.ip[0] = ctx->user_ip6[0];
	orig.ip[1] = ctx->user_ip6[1];
	orig.ip[2] = ctx->user_ip6[2];
	orig.ip[3] = ctx->user_ip6[3];
	orig.port = bpf_ntohs((__u16)ctx->user_port);
	mapped = shunt_ip6_is_v4mapped(orig.ip);
	if (mapped) {
		loop = shunt_ip4_is_loopback(orig.ip[3]);
		orig.family = SHUNT_AF_INET;
		orig.ip[0] = orig.ip[3];
		orig.ip[1] = orig.ip[2] = orig.ip[3] = 0;
		shunt_cidr_key_from(&ck, SHUNT_AF_INET, orig.ip);
	} else {
		loop = shunt_ip6_is_loopback(orig.ip);
		orig.family = SHUNT_AF_INET6;
		shunt_cidr_key_from(&ck, SHUNT_AF_INET6, orig.ip);
	}
	act = shunt_connect_decide(ctx, cfg, &ck, &orig, loop);
	switch (act) {
	case SHUNT_ACT_DENY:
		return 0;
	case SHUNT_ACT_OUTBOUND:
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		if (mapped) {
			ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
			ctx->user_ip6[3] = bpf_htonl(0x7f000001);
		} else {
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = bpf_htonl(1);
		}
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
