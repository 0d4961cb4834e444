/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types and limits shared by the BPF programs (sockops.bpf.c, sk_msg.bpf.c)
 * and userspace (sockmap/: shuntd, shuntctl, tests).
 *
 * Data flow: shuntd fills shunt_config / shunt_cidrs / shunt_ports; sockops
 * inserts eligible established sockets into shunt_sockhash and records them
 * in shunt_conns and shunt_sk_keys; sk_msg redirects to the mirrored key.
 *
 * Included from BPF after vmlinux.h, and from userspace after nothing: it
 * pulls <linux/types.h> itself there.
 */
#ifndef SHUNT_BPF_H
#define SHUNT_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Layout version of everything pinned: objects live in <pin-dir>/v1/. */
#define SHUNT_PIN_VERSION "v1"

#ifndef SHUNT_MAX_SOCKS
#define SHUNT_MAX_SOCKS 65536 /* sockets in the sockhash (2 per local connection) */
#endif
#ifndef SHUNT_MAX_CIDRS
#define SHUNT_MAX_CIDRS 1024 /* entries per CIDR trie */
#endif
#ifndef SHUNT_MAX_PORTS
#define SHUNT_MAX_PORTS 1024 /* excluded ports */
#endif
#ifndef SHUNT_MAX_IDENTS
#define SHUNT_MAX_IDENTS 65536 /* workload cgroups, and workload address blocks */
#endif
#ifndef SHUNT_MAX_L4
#define SHUNT_MAX_L4 1048576 /* compiled L3/L4 policy entries (20,000 services: 280,000) */
#endif
#ifndef SHUNT_MAX_ORIGDST
#define SHUNT_MAX_ORIGDST 65536 /* captured connections remembered (LRU) */
#endif
#ifndef SHUNT_MAX_CG_DEPTH
#define SHUNT_MAX_CG_DEPTH 16 /* cgroup ancestors searched for an identity */
#endif

/* Address families as the kernel numbers them (no magic numbers below). */
#define SHUNT_AF_INET  2
#define SHUNT_AF_INET6 10

/*
 * Sockhash key: one TCP socket, seen from its own side. The peer's key is the
 * same with local and remote swapped. IPv4 (and IPv4-mapped IPv6) addresses
 * are stored in addr[0] with family SHUNT_AF_INET, so a dual-stack listener
 * pairs with an IPv4 client. netns is the network-namespace cookie for
 * loopback addresses only (127/8, ::1): two pods' 127.0.0.1 tuples differ,
 * while pod-to-pod connections (ends in different namespaces, addresses
 * unique on the node) still pair. Ports in host order. No implicit padding.
 */
struct shunt_sock_key {
	__u64 netns;
	__u32 local_ip[4];
	__u32 remote_ip[4];
	__u16 family;
	__u16 local_port;
	__u16 remote_port;
	__u16 pad;
};

/* Per-socket keys, kept in socket local storage by sockops for sk_msg. */
struct shunt_sk_keys {
	struct shunt_sock_key self;
	struct shunt_sock_key peer;
};

/* Connection states (shunt_conn.state). Moves only away from REDIRECT (and
 * from there only to EVICTED_BUSY/EVICTED). */
enum shunt_conn_state {
	SHUNT_CONN_REDIRECT = 0,     /* messages go to the peer's ingress queue */
	SHUNT_CONN_PASS_NOPEER = 1,  /* a message found no peer: plain TCP for good */
	SHUNT_CONN_PASS_SMALL = 2,   /* small-write stream detected: plain TCP for good */
	SHUNT_CONN_PASS_DRAIN = 3,   /* shuntd stopping/replaced: plain TCP for good */
	SHUNT_CONN_PASS_MODE = 4,    /* --small-writes pass: tracked, never redirected */
	SHUNT_CONN_PASS_PEER = 5,    /* the peer went to plain TCP: follow it for good */
	SHUNT_CONN_EVICTED = 6,	     /* left the sockhash (plain TCP socket again) */
	SHUNT_CONN_EVICTED_BUSY = 7, /* left it while a redirect of its own may be in
				      * flight; EVICTED once its psock is gone */
};

/* Per-connection record (shunt_conns, keyed by the socket's own key). */
struct shunt_conn {
	__u64 cookie;	 /* socket cookie */
	__u64 start_ns;	 /* bpf_ktime_get_ns() at ESTABLISHED */
	__u64 msgs;	 /* messages redirected */
	__u64 bytes;	 /* bytes redirected */
	__u64 pass_msgs; /* messages passed to TCP */
	__u64 run_bytes; /* bytes of the current one-way run */
	__u32 run_msgs;	 /* sends since the peer last sent */
	__u32 state;	 /* enum shunt_conn_state */
	__u32 active;	 /* 1 = connect() side, 0 = accept() side */
	__u32 splice;	 /* SHUNT_SPLICE_* flags (see "splice" below) */
};

/*
 * Splice: a relay (shunt-proxy's tcp listeners) hands a connection pair to
 * the kernel. The relay holds X (accepted, peer C) and Y (its upstream
 * connection, peer B) and copies bytes between them. Once both of its
 * sockets named each other (SHUNT_SO_SPLICE, mutual: only the holder of both
 * can splice them, and data only goes where the relay could send it), C's
 * messages go straight into B's ingress queue and B's into C's: the relay's
 * two hops are gone, the relay stays attached for EOF, errors and fallback.
 *
 * Order: a sender S (C or B) switches on a send only when every byte it
 * redirected into X so far was read by the relay and written to Y
 * (S.bytes == shunt_splice[X].fwd, which the relay reports after its writes
 * returned), S and Y never sent through TCP, and X receives no spliced data
 * itself (in a chain of relays each direction then skips one relay), so the
 * switched bytes queue behind all older ones. Once switched S stays switched; any fallback of S
 * (shuntd stop, no peer) sends to X again, which the relay still serves.
 */
#define SHUNT_SOL 0x53484e54 /* setsockopt/getsockopt level ("SHNT") */
/* setsockopt(fd, SHUNT_SOL, SHUNT_SO_SPLICE, &partner_cookie, 8): partner is
 * the relay's other socket (getsockopt SO_COOKIE). The first of the two
 * calls records a claim; the second links the pair. Errors: ENOPROTOOPT (no
 * shuntd hook), ENOENT (socket not tracked or not redirecting), EINVAL. */
#define SHUNT_SO_SPLICE 1
/* setsockopt(fd, SHUNT_SOL, SHUNT_SO_SPLICE_FWD, &total, 8): total = bytes
 * the relay read from fd and whose write to the partner has returned. 0 while
 * the splice can still switch; an error (ENOLINK) once it never will (stop
 * reporting). */
#define SHUNT_SO_SPLICE_FWD 2
/* getsockopt(fd, SHUNT_SOL, SHUNT_SO_SPLICE_INFO, struct shunt_splice_info) */
#define SHUNT_SO_SPLICE_INFO 3

struct shunt_splice_info {
	__u64 bytes; /* bytes fd's peer sent past the relay (straight to the partner's peer) */
	__u64 msgs;
	__u32 linked;	/* fd is linked with a partner */
	__u32 switched; /* fd's peer sends past the relay */
};

/* shunt_conn.splice flags */
#define SHUNT_SPLICE_LINKED (1u << 0) /* X or Y: has a shunt_splice entry */
#define SHUNT_SPLICE_IN	    (1u << 1) /* B or C: receives spliced data: never evicted */
#define SHUNT_SPLICE_ON	    (1u << 2) /* S: sends go to shunt_splice[peer].to */

/* shunt_splice value, keyed by the relay socket's own key (X or Y). */
struct shunt_splice {
	struct shunt_sock_key to;      /* the partner's peer: where our peer sends once switched */
	struct shunt_sock_key partner; /* the partner's own key */
	__u64 fwd;		       /* SHUNT_SO_SPLICE_FWD */
	__u64 bytes;		       /* spliced bytes our peer sent */
	__u64 msgs;
	__u32 switched; /* our peer switched */
	__u32 pad;
};

/* shunt_splice_claims (LRU) value, keyed by the claiming socket's cookie. */
struct shunt_splice_claim {
	__u64 partner_cookie;
	struct shunt_sock_key self;
};

/* Counters (shunt_counters, per-CPU array index). */
enum shunt_counter {
	SHUNT_CNT_SOCK_TRACKED = 0, /* sockets inserted into the sockhash */
	SHUNT_CNT_SOCK_CLOSED,	    /* tracked sockets closed */
	SHUNT_CNT_SOCK_SKIPPED,	    /* established sockets not eligible */
	SHUNT_CNT_SOCK_ERRORS,	    /* insert/storage failures */
	SHUNT_CNT_MSG_REDIRECTED,   /* messages redirected */
	SHUNT_CNT_BYTES_REDIRECTED, /* bytes redirected */
	SHUNT_CNT_MSG_PASSED,	    /* messages of tracked sockets sent via TCP */
	SHUNT_CNT_BYTES_PASSED,	    /* bytes of tracked sockets sent via TCP */
	SHUNT_CNT_FALLBACK_NO_PEER, /* connections switched to TCP: no peer */
	SHUNT_CNT_FALLBACK_SMALL,   /* connections switched to TCP: small writes */
	SHUNT_CNT_FALLBACK_DRAIN,   /* connections switched to TCP: shuntd stop */
	SHUNT_CNT_MSG_UNTRACKED,    /* messages on sockets without keys */
	SHUNT_CNT_SOCK_EVICTED,	    /* sockets that left the sockhash: plain TCP for good */
	SHUNT_CNT_FALLBACK_PEER,    /* connections switched to TCP: the peer did */
	SHUNT_CNT_CAPTURED_OUT,	    /* connect() rewritten to the pod's outbound proxy */
	SHUNT_CNT_CAPTURED_IN,	    /* connect() rewritten to the destination's inbound proxy */
	SHUNT_CNT_CONNECT_DENIED,   /* connect() refused by the L3/L4 policy (EPERM) */
	SHUNT_CNT_ORIGDST_ANSWERED, /* SO_ORIGINAL_DST answered from shunt_origdst */
	SHUNT_CNT_SPLICE_LINKED,    /* socket pairs a relay spliced (SHUNT_SO_SPLICE) */
	SHUNT_CNT_SPLICE_SWITCHED,  /* senders that switched past a relay */
	SHUNT_CNT_MSG_SPLICED,	    /* messages sent past a relay (also in MSG_REDIRECTED) */
	SHUNT_CNT_BYTES_SPLICED,    /* their bytes (also in BYTES_REDIRECTED) */
	SHUNT_CNT__MAX,
};

/* Global mode (shunt_config.mode). */
enum shunt_mode {
	SHUNT_MODE_ON = 0,    /* insert and redirect */
	SHUNT_MODE_DRAIN = 1, /* insert nothing, every connection falls back to TCP */
};

/* --small-writes policy (shunt_config.small_writes). */
enum shunt_small_writes {
	SHUNT_SMALL_ADAPTIVE = 0, /* one-way fallback of small-write streams */
	SHUNT_SMALL_REDIRECT = 1, /* always redirect */
	SHUNT_SMALL_PASS = 2,	  /* track but never redirect (hook cost baseline) */
};

/* shunt_config.flags */
#define SHUNT_CFG_HAS_INCLUDE (1u << 0) /* shunt_cidrs has include entries */

/* Defaults of the adaptive small-write policy. */
#define SHUNT_SMALL_MIN_RUN_DEFAULT 64 /* sends without a reply before judging */
/* Crossover measured with shunt-bench on 2 vCPUs (README, Benchmarks): one-way
 * streams of 16 KiB writes are slower redirected than on TCP when the ends run
 * on different vCPUs (0.65x), 32 KiB ones are not (0.99x split, 1.77x same). */
#define SHUNT_SMALL_MAX_AVG_DEFAULT 24576 /* average bytes per send below = small */
/* The same between pods (connections that are not loopback): TCP over veth
 * and a bridge costs more, so redirecting wins down to much smaller writes
 * (shunt-bench --net pods: 256 B writes 1.75x same vCPU, 2.12x split; 64 B
 * writes 1.21x same, 0.74x split). */
#define SHUNT_SMALL_MAX_AVG_POD_DEFAULT 128

/* Single entry of shunt_config (array map, key 0), written by shuntd. */
struct shunt_dp_config {
	__u32 mode;	    /* enum shunt_mode */
	__u32 small_writes; /* enum shunt_small_writes */
	__u32 flags;	    /* SHUNT_CFG_* */
	__u32 small_min_run;
	__u32 small_max_avg;	 /* loopback connections */
	__u32 small_max_avg_pod; /* the others (between pods); 0 = never small */
};

/* CIDR trie key: addresses as IPv6, IPv4 as ::ffff:a.b.c.d (prefix + 96). */
struct shunt_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* CIDR trie value. */
#define SHUNT_CIDR_INCLUDE 1
#define SHUNT_CIDR_EXCLUDE 2

/* Agent record (array map "shunt_agent", key 0): created and written by shuntd
 * (never by BPF), read by shuntctl. */
#define SHUNT_AGENT_CGROUP_MAX 256
struct shunt_agent_info {
	__u32 pid;
	__u32 small_writes;
	__u64 started_unix;
	__u64 cgroup_id;
	__u32 sockops_prog_id;
	__u32 sk_msg_prog_id;
	__u32 sockops_link_id;
	__u32 pad;
	char cgroup[SHUNT_AGENT_CGROUP_MAX];
};

/* ---- interception: connect() capture, L3/L4 policy, SO_ORIGINAL_DST ---- */

/* shunt_capture_cfg.mode (shuntd --capture). */
enum shunt_capture_mode {
	SHUNT_CAPTURE_OFF = 0,	 /* no rewrite (the L4 policy still applies) */
	SHUNT_CAPTURE_L7 = 1,	 /* capture only where the L4 verdict is "L7" */
	SHUNT_CAPTURE_ISTIO = 2, /* capture every outbound connection, like Istio's iptables */
};

/* shunt_capture_cfg.flags */
#define SHUNT_CAP_POLICY  (1u << 0) /* shunt_l4 holds the compiled L3/L4 policy: enforce it */
#define SHUNT_CAP_INBOUND (1u << 1) /* rewrite connections to meshed pods to their inbound port */

#define SHUNT_UID_NONE	  0xffffffffu

/* Single entry of shunt_capture (array map, key 0), written by shuntd. */
struct shunt_capture_cfg {
	__u32 mode;	     /* enum shunt_capture_mode */
	__u32 flags;	     /* SHUNT_CAP_* */
	__u32 proxy_uid;     /* connections of this uid are the proxy's (SHUNT_UID_NONE: off) */
	__u32 proxy_mark;    /* ... or of sockets with this SO_MARK (0: off) */
	__u16 outbound_port; /* pod-local outbound listener (127.0.0.1 / ::1) */
	__u16 inbound_port;  /* inbound listener on every meshed pod's address */
	__u32 pad;
};

/* Identity of a cgroup (shunt_cg_ident, key = cgroup id) or of an address
 * block (shunt_addr_ident, LPM trie, key = struct shunt_cidr_key). Identity
 * numbers are those of config/include/shunt/l4.h (workload index + 1). */
struct shunt_ident {
	__u32 identity;
	__u32 flags; /* SHUNT_IDENT_* */
};
#define SHUNT_IDENT_HAS	   (1u << 0) /* identity is set */
#define SHUNT_IDENT_PROXY  (1u << 1) /* cgroup of a proxy: its connections are not captured */
#define SHUNT_IDENT_MESHED (1u << 2) /* workload with a sidecar (inbound listener) */
/* workloads[].sidecar false: its own connections are never sent to an outbound
 * listener (it has none); it connects like a pod without sidecar (read from
 * the source's cgroup; also set on its addresses, for shuntctl status only) */
#define SHUNT_IDENT_NOSIDECAR (1u << 3)
/* the workload has its own outbound CIDR entries (shunt_out_cidrs under its
 * identity; else the global ones under SHUNT_IDENT_ANY apply) */
#define SHUNT_IDENT_OWN_CIDRS (1u << 4)
/* the workload has entries in shunt_icpt_wports (per-workload ports) */
#define SHUNT_IDENT_WPORTS (1u << 5)
/* includeInboundPorts is a list: only ports flagged SHUNT_PORT_IN_INCLUDE in
 * shunt_icpt_wports are captured to this workload's inbound listener */
#define SHUNT_IDENT_IN_ONLY (1u << 6)

#define SHUNT_IDENT_WORLD   0u		/* no known workload */
#define SHUNT_IDENT_ANY	    0xffffffffu /* wildcard source in shunt_l4 */

/* shunt_l4 key: lookup order (src,dst,port), (ANY,dst,port), (src,dst,0),
 * (ANY,dst,0), none = allow; as shunt_l4_lookup() in config/.../l4.h. */
struct shunt_l4_key {
	__u32 src;
	__u32 dst;
	__u16 port; /* host order; 0 = every port without its own entry */
	__u16 pad;
};
/* shunt_l4 value (__u32): same numbers as enum shunt_l4_verdict. */
#define SHUNT_L4V_ALLOW 0
#define SHUNT_L4V_DENY	1
#define SHUNT_L4V_L7	2

/* shunt_icpt_ports value: per destination port, host order. */
#define SHUNT_PORT_NO_OUTBOUND (1u << 0) /* never captured to the outbound listener */
#define SHUNT_PORT_NO_INBOUND  (1u << 1) /* never captured to the inbound listener */
#define SHUNT_PORT_IN_INCLUDE  (1u << 2) /* shunt_icpt_wports: listed in includeInboundPorts */
/* includeOutboundPorts: an app's connection to this port goes to its outbound
 * listener even when the destination is outside the include ranges (Istio's
 * rule order: excluded ports and exclude ranges still win) */
#define SHUNT_PORT_OUT_INCLUDE (1u << 3)

/* shunt_icpt_wports key: per-workload ports (workloads[].capture). Looked up
 * as (source identity, port) for SHUNT_PORT_NO_OUTBOUND / SHUNT_PORT_OUT_INCLUDE
 * and as (destination identity, port) for SHUNT_PORT_NO_INBOUND /
 * SHUNT_PORT_IN_INCLUDE. */
struct shunt_wport_key {
	__u32 identity;
	__u16 port; /* host order */
	__u16 pad;
};

/*
 * shunt_out_cidrs key (LPM trie): which destinations an app's outbound
 * connection may be captured for (Istio's includeOutboundIPRanges /
 * excludeOutboundIPRanges). identity is SHUNT_IDENT_ANY for the global lists
 * or a workload's identity (SHUNT_IDENT_OWN_CIDRS); prefixlen counts the 32
 * identity bits plus the address prefix (IPv4 as ::ffff:a.b.c.d/96+n). The
 * value (__u32, SHUNT_CIDR_INCLUDE | SHUNT_CIDR_EXCLUDE) of every entry holds
 * the flags of all entries of its identity that contain it, so the longest
 * match alone tells whether any include and any exclude range holds the
 * address ("exclude wins").
 */
struct shunt_out_cidr_key {
	__u32 prefixlen;
	__u32 identity; /* always matched in full (prefixlen >= 32): byte order is moot */
	__u8 addr[16];
};
#define SHUNT_OUT_CIDR_ID_BITS 32

/* Original destination of a captured connection. Address in network order
 * (IPv4 in ip[0]), port in host order. */
struct shunt_orig_dst {
	__u32 ip[4];
	__u16 family; /* SHUNT_AF_INET / SHUNT_AF_INET6 */
	__u16 port;
	__u32 pad;
};

/* What cgroup/connect4|6 does with one connect(). */
enum shunt_capture_action {
	SHUNT_ACT_PASS = 0,	/* leave it alone */
	SHUNT_ACT_DENY = 1,	/* refuse: connect() fails with EPERM */
	SHUNT_ACT_OUTBOUND = 2, /* rewrite to loopback:outbound_port */
	SHUNT_ACT_INBOUND = 3,	/* rewrite the port to inbound_port (same address) */
};

/* Everything the decision needs, gathered by the BPF program from its maps. */
struct shunt_capture_in {
	__u32 src_identity; /* SHUNT_IDENT_WORLD when !src_known */
	__u32 dst_identity; /* SHUNT_IDENT_WORLD when !dst_known */
	__u32 verdict;	    /* SHUNT_L4V_* from shunt_l4 (ALLOW when no entry) */
	__u32 port_flags;   /* SHUNT_PORT_* of the destination port */
	__u16 dst_port;	    /* host order */
	__u8 src_known;	    /* the connecting cgroup belongs to a workload */
	__u8 dst_known;	    /* the destination address belongs to a workload */
	__u8 dst_meshed;    /* ... which has a sidecar */
	__u8 dst_loopback;  /* 127/8, ::1 */
	__u8 is_proxy;	    /* the connecting process is a proxy (uid, cgroup or mark) */
	__u8 src_nosidecar; /* the source workload has no sidecar ("sidecar": false) */
	__u8 out_skip; /* destination not in the source's outbound include ranges, or excluded */
	__u8 out_excluded; /* ... in one of its exclude ranges (includeOutboundPorts do not help) */
	__u8 pad[2];
};

/* ---- pure helpers, shared by BPF and the userspace unit tests ---- */

#ifndef SHUNT_INLINE
#define SHUNT_INLINE static inline __attribute__((always_inline))
#endif

/* 127.0.0.0/8 in network byte order on either endianness. */
SHUNT_INLINE int shunt_ip4_is_loopback(__u32 ip_be)
{
	return ((const __u8 *)&ip_be)[0] == 127;
}

/* Does the 16-byte address (network order words) hold ::ffff:a.b.c.d? */
SHUNT_INLINE int shunt_ip6_is_v4mapped(const __u32 *ip6)
{
	const __u8 *b = (const __u8 *)&ip6[2];

	return ip6[0] == 0 && ip6[1] == 0 && b[0] == 0 && b[1] == 0 && b[2] == 0xff && b[3] == 0xff;
}

SHUNT_INLINE int shunt_ip6_is_loopback(const __u32 *ip6)
{
	const __u8 *b = (const __u8 *)&ip6[3];

	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == 0 && b[0] == 0 && b[1] == 0 && b[2] == 0 &&
	       b[3] == 1;
}

/*
 * Fill *k from one socket's view. family is AF_INET/AF_INET6 as the socket
 * reports it; for AF_INET the addresses are in lip[0]/rip[0]. Ports in host
 * order. Returns 1 when the key needs the netns cookie (loopback), else 0.
 * The caller stores the cookie in k->netns.
 */
SHUNT_INLINE int shunt_key_fill(struct shunt_sock_key *k, __u32 family, const __u32 *lip,
				const __u32 *rip, __u16 lport, __u16 rport)
{
	int loop;

	__builtin_memset(k, 0, sizeof(*k));
	k->local_port = lport;
	k->remote_port = rport;
	if (family == SHUNT_AF_INET6 && !shunt_ip6_is_v4mapped(lip)) {
		k->family = SHUNT_AF_INET6;
		k->local_ip[0] = lip[0];
		k->local_ip[1] = lip[1];
		k->local_ip[2] = lip[2];
		k->local_ip[3] = lip[3];
		k->remote_ip[0] = rip[0];
		k->remote_ip[1] = rip[1];
		k->remote_ip[2] = rip[2];
		k->remote_ip[3] = rip[3];
		loop = shunt_ip6_is_loopback(lip) || shunt_ip6_is_loopback(rip);
		return loop;
	}
	k->family = SHUNT_AF_INET;
	if (family == SHUNT_AF_INET6) { /* v4-mapped: normalize to IPv4 */
		k->local_ip[0] = lip[3];
		k->remote_ip[0] = rip[3];
	} else {
		k->local_ip[0] = lip[0];
		k->remote_ip[0] = rip[0];
	}
	return shunt_ip4_is_loopback(k->local_ip[0]) || shunt_ip4_is_loopback(k->remote_ip[0]);
}

/* The key under which the other end of the connection is stored. */
SHUNT_INLINE void shunt_key_mirror(const struct shunt_sock_key *k, struct shunt_sock_key *m)
{
	m->netns = k->netns;
	m->family = k->family;
	m->pad = 0;
	m->local_port = k->remote_port;
	m->remote_port = k->local_port;
	m->local_ip[0] = k->remote_ip[0];
	m->local_ip[1] = k->remote_ip[1];
	m->local_ip[2] = k->remote_ip[2];
	m->local_ip[3] = k->remote_ip[3];
	m->remote_ip[0] = k->local_ip[0];
	m->remote_ip[1] = k->local_ip[1];
	m->remote_ip[2] = k->local_ip[2];
	m->remote_ip[3] = k->local_ip[3];
}

/* Address of a key side as a trie lookup key (/128, IPv4 mapped). */
SHUNT_INLINE void shunt_cidr_key_from(struct shunt_cidr_key *ck, __u16 family, const __u32 *ip)
{
	__u32 *w = (__u32 *)ck->addr;

	ck->prefixlen = 128;
	if (family == SHUNT_AF_INET) {
		w[0] = 0;
		w[1] = 0;
		ck->addr[8] = 0;
		ck->addr[9] = 0;
		ck->addr[10] = 0xff;
		ck->addr[11] = 0xff;
		w[3] = ip[0];
	} else {
		w[0] = ip[0];
		w[1] = ip[1];
		w[2] = ip[2];
		w[3] = ip[3];
	}
}

/*
 * Adaptive small-write policy, one send of `size` bytes on a connection in
 * SHUNT_CONN_REDIRECT. Returns 1 when the connection must fall back to TCP
 * (for good). Sends are judged in windows of min_run consecutive sends;
 * run_msgs/run_bytes are reset by the peer's sends, so request/response
 * traffic never completes a window.
 */
SHUNT_INLINE int shunt_small_write_step(struct shunt_conn *c, __u32 size, __u32 min_run,
					__u32 max_avg)
{
	int small;

	c->run_msgs++;
	c->run_bytes += size;
	if (c->run_msgs < min_run)
		return 0;
	/* judge one window of min_run sends: average below max_avg (no division) */
	small = c->run_bytes < (__u64)c->run_msgs * max_avg;
	c->run_msgs = 0;
	c->run_bytes = 0;
	return small;
}

/*
 * The shunt_l4 keys to try for (src, dst, port), in the order of
 * shunt_l4_lookup() (config/include/shunt/l4.h): the first one present
 * decides; none present = allow.
 */
#define SHUNT_L4_CANDIDATES 4
SHUNT_INLINE void shunt_l4_candidate(struct shunt_l4_key *k, int i, __u32 src, __u32 dst,
				     __u16 port)
{
	k->src = (i & 1) ? SHUNT_IDENT_ANY : src;
	k->dst = dst;
	k->port = (i & 2) ? 0 : port;
	k->pad = 0;
}

/* Outbound capture allowed by the longest-match value of shunt_out_cidrs
 * (missing entry: v == 0, not captured)? */
SHUNT_INLINE int shunt_out_cidr_allows(__u32 v)
{
	return (v & SHUNT_CIDR_INCLUDE) && !(v & SHUNT_CIDR_EXCLUDE);
}

/*
 * Port flags for one connect(): the global ones (shunt_icpt_ports) plus the
 * source workload's NO_OUTBOUND / OUT_INCLUDE and the destination workload's
 * NO_INBOUND;
 * a destination with SHUNT_IDENT_IN_ONLY is inbound-captured only on ports
 * it lists (SHUNT_PORT_IN_INCLUDE).
 */
SHUNT_INLINE __u32 shunt_port_flags_merge(__u32 global, __u32 src_wport, __u32 dst_wport,
					  __u32 dst_ident_flags)
{
	__u32 f = global | (src_wport & (SHUNT_PORT_NO_OUTBOUND | SHUNT_PORT_OUT_INCLUDE)) |
		  (dst_wport & SHUNT_PORT_NO_INBOUND);

	if ((dst_ident_flags & SHUNT_IDENT_IN_ONLY) && !(dst_wport & SHUNT_PORT_IN_INCLUDE))
		f |= SHUNT_PORT_NO_INBOUND;
	return f;
}

/*
 * The connect() decision (pure; table-tested in userspace).
 *  1. loopback destinations and connections inside one workload (a sidecar
 *     talking to its own app) are left alone: no policy, no capture;
 *  2. the L3/L4 verdict DENY refuses the connection (when policy is on);
 *  3. capture: an app's connection goes to its pod's outbound listener when
 *     mode is ISTIO (port not excluded) or the verdict is L7; a proxy's
 *     connection (or one from a source without sidecar) to a meshed pod goes
 *     to that pod's inbound listener under the same conditions. An app's
 *     connection that its outbound ranges or ports exclude (out_skip, or
 *     NO_OUTBOUND in ISTIO mode) bypasses its own sidecar only: like with
 *     Istio's server-side capture, a meshed destination's inbound listener
 *     still gets it. A port in includeOutboundPorts (OUT_INCLUDE) lifts
 *     out_skip unless the destination is in an exclude range (istio-iptables
 *     order: excluded ports, exclude ranges, included ports, include ranges).
 *     The listener ports themselves are never captured, so there is no loop.
 */
SHUNT_INLINE int shunt_capture_decide(const struct shunt_capture_cfg *cfg,
				      const struct shunt_capture_in *in)
{
	int want, range_skip;

	if (in->dst_loopback)
		return SHUNT_ACT_PASS;
	if (in->src_known && in->dst_known && in->src_identity == in->dst_identity)
		return SHUNT_ACT_PASS;
	if ((cfg->flags & SHUNT_CAP_POLICY) && in->verdict == SHUNT_L4V_DENY)
		return SHUNT_ACT_DENY;
	if (cfg->mode == SHUNT_CAPTURE_OFF)
		return SHUNT_ACT_PASS;
	if (in->dst_port == cfg->outbound_port || in->dst_port == cfg->inbound_port)
		return SHUNT_ACT_PASS;
	range_skip =
		in->out_skip && (in->out_excluded || !(in->port_flags & SHUNT_PORT_OUT_INCLUDE));
	if (in->is_proxy || !in->src_known || in->src_nosidecar || range_skip ||
	    (cfg->mode == SHUNT_CAPTURE_ISTIO && (in->port_flags & SHUNT_PORT_NO_OUTBOUND))) {
		if (!(cfg->flags & SHUNT_CAP_INBOUND) || !in->dst_meshed ||
		    (in->port_flags & SHUNT_PORT_NO_INBOUND))
			return SHUNT_ACT_PASS;
		want = cfg->mode == SHUNT_CAPTURE_ISTIO || in->verdict == SHUNT_L4V_L7;
		return want ? SHUNT_ACT_INBOUND : SHUNT_ACT_PASS;
	}
	if (cfg->mode == SHUNT_CAPTURE_ISTIO)
		want = 1;
	else
		want = in->verdict == SHUNT_L4V_L7;
	return want ? SHUNT_ACT_OUTBOUND : SHUNT_ACT_PASS;
}

#endif /* SHUNT_BPF_H */
