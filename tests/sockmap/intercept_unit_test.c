// SPDX-License-Identifier: Apache-2.0
/*
 * Pure parts of the interception (issue 6), no kernel needed:
 * shunt_capture_decide() (bpf/shunt_bpf.h), the shunt_l4 lookup order against
 * config's shunt_l4_lookup() on compiled policies, and shuntd's capture flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shunt_bpf.h"
#include "shunt_opts.h"

#ifdef SHUNT_HAVE_CONFIG
#include "capture_cfg.h"
#include "shunt/config.h"
#include "shunt/l4.h"
#include "shunt/policy.h"
#endif

enum { OFF = SHUNT_CAPTURE_OFF, L7 = SHUNT_CAPTURE_L7, ISTIO = SHUNT_CAPTURE_ISTIO };
enum {
	PASS = SHUNT_ACT_PASS,
	DENY = SHUNT_ACT_DENY,
	OUT = SHUNT_ACT_OUTBOUND,
	IN = SHUNT_ACT_INBOUND
};
#define V_ALLOW SHUNT_L4V_ALLOW
#define V_DENY	SHUNT_L4V_DENY
#define V_L7	SHUNT_L4V_L7
#define POL	SHUNT_CAP_POLICY
#define INB	SHUNT_CAP_INBOUND
#define NOOUT	SHUNT_PORT_NO_OUTBOUND
#define NOIN	SHUNT_PORT_NO_INBOUND
#define OUTINC	SHUNT_PORT_OUT_INCLUDE

/* shunt_capture_decide() with Istio's ports and proxy uid */
static int decide(unsigned mode, unsigned flags, const struct shunt_capture_in *in)
{
	struct shunt_capture_cfg cfg = {.mode = mode,
					.flags = flags,
					.proxy_uid = 1337,
					.outbound_port = 15001,
					.inbound_port = 15006};

	return shunt_capture_decide(&cfg, in);
}

static void test_decide(void)
{
	static const struct {
		const char *name;
		unsigned mode, flags;
		/* src (0 = unknown), dst (0 = unknown), meshed, loopback, proxy */
		unsigned src, dst, meshed, loop, proxy;
		unsigned verdict, port, port_flags;
		int want;
		unsigned nosidecar, out_skip; /* source without sidecar, dst outside its ranges */
	} t[] = {
		/* policy */
		{"deny at connect", OFF, POL, 3, 1, 1, 0, 0, V_DENY, 80, 0, DENY, 0, 0},
		{"deny wins over istio capture", ISTIO, POL | INB, 3, 1, 1, 0, 0, V_DENY, 80, 0,
		 DENY, 0, 0},
		{"deny also for the proxy", ISTIO, POL | INB, 2, 1, 1, 0, 1, V_DENY, 80, 0, DENY, 0,
		 0},
		{"deny for unknown source", L7, POL | INB, 0, 1, 1, 0, 0, V_DENY, 80, 0, DENY, 0,
		 0},
		{"verdict ignored without POLICY", OFF, 0, 3, 1, 1, 0, 0, V_DENY, 80, 0, PASS, 0,
		 0},
		{"allow, capture off", OFF, POL, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, PASS, 0, 0},
		{"L7 verdict, capture off: allowed", OFF, POL | INB, 2, 1, 1, 0, 0, V_L7, 80, 0,
		 PASS, 0, 0},
		/* never touched */
		{"loopback", ISTIO, POL | INB, 2, 0, 0, 1, 0, V_DENY, 80, 0, PASS, 0, 0},
		{"same workload (sidecar -> own app)", ISTIO, POL | INB, 1, 1, 1, 0, 1, V_DENY, 80,
		 0, PASS, 0, 0},
		{"to the outbound port", ISTIO, INB, 2, 1, 1, 0, 0, V_ALLOW, 15001, 0, PASS, 0, 0},
		{"to the inbound port", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 15006, 0, PASS, 0, 0},
		/* l7 mode */
		{"l7: app, L7 verdict -> outbound", L7, POL | INB, 2, 1, 1, 0, 0, V_L7, 80, 0, OUT,
		 0, 0},
		{"l7: app, allow -> direct", L7, POL | INB, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, PASS, 0,
		 0},
		{"l7: app to unknown dst -> direct", L7, POL | INB, 2, 0, 0, 0, 0, V_ALLOW, 80, 0,
		 PASS, 0, 0},
		{"l7: proxy, L7 verdict -> inbound", L7, POL | INB, 2, 1, 1, 0, 1, V_L7, 80, 0, IN,
		 0, 0},
		{"l7: proxy, allow -> direct", L7, POL | INB, 2, 1, 1, 0, 1, V_ALLOW, 80, 0, PASS,
		 0, 0},
		{"l7: proxy, inbound capture off", L7, POL, 2, 1, 1, 0, 1, V_L7, 80, 0, PASS, 0, 0},
		{"l7: proxy, dst without sidecar", L7, POL | INB, 2, 1, 0, 0, 1, V_L7, 80, 0, PASS,
		 0, 0},
		{"l7: unmeshed source -> inbound", L7, POL | INB, 0, 1, 1, 0, 0, V_L7, 80, 0, IN, 0,
		 0},
		{"l7: excluded port flags do not matter for outbound", L7, POL | INB, 2, 1, 1, 0, 0,
		 V_L7, 80, NOOUT, OUT, 0, 0},
		{"l7: inbound-excluded port", L7, POL | INB, 2, 1, 1, 0, 1, V_L7, 80, NOIN, PASS, 0,
		 0},
		/* istio mode */
		{"istio: app -> outbound", ISTIO, POL | INB, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, OUT, 0,
		 0},
		{"istio: app to unknown dst -> outbound", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 443,
		 0, OUT, 0, 0},
		{"istio: app, excluded outbound port", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 8081,
		 NOOUT, PASS, 0, 0},
		{"istio: proxy -> inbound of meshed dst", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 80, 0,
		 IN, 0, 0},
		{"istio: proxy to unknown dst -> direct", ISTIO, INB, 2, 0, 0, 0, 1, V_ALLOW, 443,
		 0, PASS, 0, 0},
		{"istio: proxy, excluded inbound port", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 15020,
		 NOIN | NOOUT, PASS, 0, 0},
		{"istio: unmeshed source -> inbound", ISTIO, INB, 0, 1, 1, 0, 0, V_ALLOW, 80, 0, IN,
		 0, 0},
		{"istio: unmeshed source, unknown dst", ISTIO, INB, 0, 0, 0, 0, 0, V_ALLOW, 80, 0,
		 PASS, 0, 0},
		/* "sidecar": false source: connects like a pod without sidecar */
		{"istio: no-sidecar app -> inbound of meshed dst", ISTIO, INB, 2, 1, 1, 0, 0,
		 V_ALLOW, 80, 0, IN, 1, 0},
		{"istio: no-sidecar app, unknown dst", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 443, 0,
		 PASS, 1, 0},
		{"istio: no-sidecar app, dst without sidecar", ISTIO, INB, 2, 1, 0, 0, 0, V_ALLOW,
		 80, 0, PASS, 1, 0},
		{"l7: no-sidecar app, L7 verdict -> inbound", L7, POL | INB, 2, 1, 1, 0, 0, V_L7,
		 80, 0, IN, 1, 0},
		{"l7: no-sidecar app, denied", L7, POL | INB, 2, 1, 1, 0, 0, V_DENY, 80, 0, DENY, 1,
		 0},
		/* outbound ranges: outside include / inside exclude bypasses the own sidecar */
		{"istio: excluded range, unknown dst", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 443, 0,
		 PASS, 0, 1},
		{"istio: excluded range, meshed dst -> its inbound", ISTIO, INB, 2, 1, 1, 0, 0,
		 V_ALLOW, 80, 0, IN, 0, 1},
		{"l7: excluded range, L7 verdict -> dst inbound (policy kept)", L7, POL | INB, 2, 1,
		 1, 0, 0, V_L7, 80, 0, IN, 0, 1},
		{"l7: excluded range, allow -> direct", L7, POL | INB, 2, 1, 1, 0, 0, V_ALLOW, 80,
		 0, PASS, 0, 1},
		{"istio: excluded range, denied", ISTIO, POL | INB, 2, 1, 1, 0, 0, V_DENY, 80, 0,
		 DENY, 0, 1},
		{"istio: in range -> outbound", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 443, 0, OUT, 0,
		 0},
		/* an excluded outbound port of a meshed local dst still reaches its sidecar */
		{"istio: excluded outbound port, meshed dst -> inbound", ISTIO, INB, 2, 1, 1, 0, 0,
		 V_ALLOW, 5432, NOOUT, IN, 0, 0},
		{"istio: excluded both ways", ISTIO, INB, 2, 1, 1, 0, 0, V_ALLOW, 5432,
		 NOOUT | NOIN, PASS, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct shunt_capture_in in = {
			.src_identity = t[i].src,
			.dst_identity = t[i].dst,
			.verdict = t[i].verdict,
			.port_flags = t[i].port_flags,
			.dst_port = (__u16)t[i].port,
			.src_known = t[i].src != 0,
			.dst_known = t[i].dst != 0,
			.dst_meshed = (__u8)t[i].meshed,
			.dst_loopback = (__u8)t[i].loop,
			.is_proxy = (__u8)t[i].proxy,
			.src_nosidecar = (__u8)t[i].nosidecar,
			.out_skip = (__u8)t[i].out_skip,
		};
		int got = decide(t[i].mode, t[i].flags, &in);

		CHECK(got == t[i].want, "%s: got %d want %d", t[i].name, got, t[i].want);
	}
}

/*
 * includeOutboundPorts (OUTINC) against the outbound ranges and excluded
 * ports, in istio-iptables' rule order: excluded ports, exclude ranges,
 * included ports, include ranges (out_skip = not allowed by the ranges,
 * out_excluded = in an exclude range).
 */
static void test_decide_include_ports(void)
{
	static const struct {
		const char *name;
		unsigned mode, src, dst, meshed, proxy, nosidecar;
		unsigned verdict, port, port_flags, out_skip, out_excluded;
		int want;
	} t[] = {
		{"istio: included port outside the include ranges -> outbound", ISTIO, 2, 0, 0, 0,
		 0, V_ALLOW, 443, OUTINC, 1, 0, OUT},
		{"istio: same, meshed local dst -> still its own outbound", ISTIO, 2, 1, 1, 0, 0,
		 V_ALLOW, 443, OUTINC, 1, 0, OUT},
		{"istio: not included, outside the ranges -> direct", ISTIO, 2, 0, 0, 0, 0, V_ALLOW,
		 443, 0, 1, 0, PASS},
		{"istio: included port in an exclude range -> direct", ISTIO, 2, 0, 0, 0, 0,
		 V_ALLOW, 443, OUTINC, 1, 1, PASS},
		{"istio: included port in an exclude range, meshed dst -> its inbound", ISTIO, 2, 1,
		 1, 0, 0, V_ALLOW, 443, OUTINC, 1, 1, IN},
		{"istio: included and excluded port -> excluded wins", ISTIO, 2, 0, 0, 0, 0,
		 V_ALLOW, 443, OUTINC | NOOUT, 0, 0, PASS},
		{"istio: included and excluded port outside the ranges", ISTIO, 2, 0, 0, 0, 0,
		 V_ALLOW, 443, OUTINC | NOOUT, 1, 0, PASS},
		{"istio: Istio's own port stays excluded", ISTIO, 2, 0, 0, 0, 0, V_ALLOW, 15020,
		 OUTINC | NOOUT | NOIN, 1, 0, PASS},
		{"istio: included port inside the ranges -> outbound", ISTIO, 2, 0, 0, 0, 0,
		 V_ALLOW, 443, OUTINC, 0, 0, OUT},
		{"istio: the proxy's own connection is never sent back", ISTIO, 2, 0, 0, 1, 0,
		 V_ALLOW, 443, OUTINC, 1, 0, PASS},
		{"istio: the proxy to a meshed dst -> inbound", ISTIO, 2, 1, 1, 1, 0, V_ALLOW, 443,
		 OUTINC, 1, 0, IN},
		{"istio: no-sidecar source -> direct", ISTIO, 2, 0, 0, 0, 1, V_ALLOW, 443, OUTINC,
		 1, 0, PASS},
		{"istio: unknown source -> direct", ISTIO, 0, 0, 0, 0, 0, V_ALLOW, 443, OUTINC, 1,
		 0, PASS},
		{"istio: to the outbound listener port itself", ISTIO, 2, 0, 0, 0, 0, V_ALLOW,
		 15001, OUTINC, 1, 0, PASS},
		{"l7: included port lifts the ranges, L7 verdict -> outbound", L7, 2, 1, 1, 0, 0,
		 V_L7, 443, OUTINC, 1, 0, OUT},
		{"l7: included port, allow -> direct", L7, 2, 1, 1, 0, 0, V_ALLOW, 443, OUTINC, 1,
		 0, PASS},
		{"off: nothing captured", OFF, 2, 0, 0, 0, 0, V_ALLOW, 443, OUTINC, 0, 0, PASS},
		{"istio: denied stays denied", ISTIO, 2, 1, 1, 0, 0, V_DENY, 443, OUTINC, 1, 0,
		 DENY},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct shunt_capture_in in = {
			.src_identity = t[i].src,
			.dst_identity = t[i].dst,
			.verdict = t[i].verdict,
			.port_flags = t[i].port_flags,
			.dst_port = (__u16)t[i].port,
			.src_known = t[i].src != 0,
			.dst_known = t[i].dst != 0,
			.dst_meshed = (__u8)t[i].meshed,
			.is_proxy = (__u8)t[i].proxy,
			.src_nosidecar = (__u8)t[i].nosidecar,
			.out_skip = (__u8)t[i].out_skip,
			.out_excluded = (__u8)t[i].out_excluded,
		};
		int got = decide(t[i].mode, POL | INB, &in);

		CHECK(got == t[i].want, "%s: got %d want %d", t[i].name, got, t[i].want);
	}
}

static int parse(struct shunt_opts *o, const char *const *args, char *err, size_t len)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"shuntd";
	while (*args && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	shunt_opts_init(o);
	return shunt_opts_parse(o, argc, argv, err, len);
}

static void test_opts(void)
{
	static const char *const good[] = {"--capture",
					   "istio",
					   "--proxy-uid",
					   "none",
					   "--proxy-mark",
					   "42",
					   "--proxy-cgroup",
					   "/sys/fs/cgroup/x/sidecar",
					   "--outbound-port",
					   "16001",
					   "--inbound-port",
					   "16006",
					   "--inbound-capture",
					   "off",
					   "--exclude-outbound-port",
					   "8081",
					   "--exclude-inbound-port",
					   "9090",
					   "--no-l7-proxy",
					   "--l4-policy",
					   "off",
					   NULL};
	const char *const *bad[] = {
		(const char *const[]){"--capture", "iptables", NULL},
		(const char *const[]){"--proxy-uid", "-1", NULL},
		(const char *const[]){"--proxy-cgroup", "relative/path", NULL},
		(const char *const[]){"--outbound-port", "0", NULL},
		(const char *const[]){"--inbound-capture", "yes", NULL},
		(const char *const[]){"--l4-policy", "maybe", NULL},
		(const char *const[]){"--exclude-outbound-port", "70000", NULL},
		(const char *const[]){"--outbound-port", "15006", NULL}, /* == inbound */
	};
	struct shunt_capture_cfg cfg;
	struct shunt_opts o;
	char err[256];
	size_t i;

	/* defaults: Istio's uid and ports, capture off, nothing to attach */
	CHECK(parse(&o, (const char *const[]){NULL}, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.capture == SHUNT_CAPTURE_OFF && !o.no_l7_proxy && o.l4_policy &&
		      o.proxy_uid == 1337 && o.outbound_port == 15001 && o.inbound_port == 15006 &&
		      o.inbound_capture,
	      "defaults");
	CHECK(!shunt_opts_intercept(&o), "capture off without policy attaches nothing");
	CHECK(shunt_icpt_port_flags(&o, 15020) == 0, "istio ports only in istio mode");

	CHECK(parse(&o, good, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.capture == SHUNT_CAPTURE_ISTIO && o.no_l7_proxy && !o.l4_policy, "capture");
	CHECK(o.proxy_uid == SHUNT_UID_NONE && o.proxy_mark == 42, "uid/mark");
	CHECK(o.n_proxy_cgroups == 1 && !strcmp(o.proxy_cgroups[0], "/sys/fs/cgroup/x/sidecar"),
	      "proxy cgroup");
	CHECK(shunt_opts_intercept(&o), "istio attaches");
	shunt_capture_cfg_from_opts(&o, &cfg);
	CHECK(cfg.mode == SHUNT_CAPTURE_ISTIO && cfg.flags == 0 &&
		      cfg.proxy_uid == SHUNT_UID_NONE && cfg.proxy_mark == 42 &&
		      cfg.outbound_port == 16001 && cfg.inbound_port == 16006,
	      "capture cfg");
	for (i = 0; i < sizeof(shunt_istio_excluded_ports) / sizeof(uint16_t); i++)
		CHECK(shunt_icpt_port_flags(&o, shunt_istio_excluded_ports[i]) ==
			      (SHUNT_PORT_NO_OUTBOUND | SHUNT_PORT_NO_INBOUND),
		      "istio port %u", shunt_istio_excluded_ports[i]);
	CHECK(shunt_icpt_port_flags(&o, 8081) == SHUNT_PORT_NO_OUTBOUND, "8081");
	CHECK(shunt_icpt_port_flags(&o, 9090) == SHUNT_PORT_NO_INBOUND, "9090");
	CHECK(shunt_icpt_port_flags(&o, 80) == 0, "80");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(&o, bad[i], err, sizeof(err)) == -EINVAL && err[0],
		      "bad case %zu (%s) accepted", i, bad[i][0]);
	CHECK(!strcmp(shunt_capture_name(SHUNT_CAPTURE_L7), "l7"), "name");
	/* --include-outbound-port: repeatable; a port also excluded keeps both flags */
	CHECK(parse(&o,
		    (const char *const[]){"--capture", "istio", "--include-outbound-port", "443",
					  "--include-outbound-port", "8081",
					  "--exclude-outbound-port", "8081",
					  "--include-outbound-port", "15020", NULL},
		    err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(o.n_incl_out == 3 && o.incl_out[0] == 443, "include ports %zu", o.n_incl_out);
	CHECK(shunt_icpt_port_flags(&o, 443) == SHUNT_PORT_OUT_INCLUDE, "443");
	CHECK(shunt_icpt_port_flags(&o, 8081) == (SHUNT_PORT_OUT_INCLUDE | SHUNT_PORT_NO_OUTBOUND),
	      "8081");
	CHECK(shunt_icpt_port_flags(&o, 15020) ==
		      (SHUNT_PORT_OUT_INCLUDE | SHUNT_PORT_NO_OUTBOUND | SHUNT_PORT_NO_INBOUND),
	      "15020");
	CHECK(parse(&o, (const char *const[]){"--include-outbound-port", "0", NULL}, err,
		    sizeof(err)) == -EINVAL &&
		      strstr(err, "--include-outbound-port"),
	      "bad include port: %s", err);
	CHECK(parse(&o, (const char *const[]){"--include-outbound-port", "https", NULL}, err,
		    sizeof(err)) == -EINVAL,
	      "named include port");
	for (i = SHUNT_CNT_CAPTURED_OUT; i < SHUNT_CNT__MAX; i++)
		CHECK(shunt_counter_name((unsigned)i) != NULL, "counter %zu named", i);
}

/* Per-workload port flags merged with the global ones (shunt_capture.bpf.h). */
static void test_port_merge(void)
{
	static const struct {
		__u32 global, src, dst, dflags, want;
	} t[] = {
		{0, 0, 0, 0, 0},
		{NOOUT, 0, 0, 0, NOOUT},
		{0, NOOUT, 0, 0, NOOUT},
		/* the source's inbound flags and the destination's outbound flags do not count */
		{0, NOIN | SHUNT_PORT_IN_INCLUDE, NOOUT, 0, 0},
		{0, 0, NOIN, SHUNT_IDENT_WPORTS, NOIN},
		/* includeInboundPorts list: unlisted port -> no inbound capture */
		{0, 0, 0, SHUNT_IDENT_IN_ONLY, NOIN},
		{0, 0, SHUNT_PORT_IN_INCLUDE, SHUNT_IDENT_IN_ONLY | SHUNT_IDENT_WPORTS, 0},
		{NOIN, 0, SHUNT_PORT_IN_INCLUDE, SHUNT_IDENT_IN_ONLY, NOIN}, /* global wins */
		/* includeOutboundPorts: the global one and the source's, never the dst's */
		{OUTINC, 0, 0, 0, OUTINC},
		{0, OUTINC, 0, 0, OUTINC},
		{0, 0, OUTINC, SHUNT_IDENT_WPORTS, 0},
		{NOOUT, OUTINC, 0, 0, NOOUT | OUTINC},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		__u32 got = shunt_port_flags_merge(t[i].global, t[i].src, t[i].dst, t[i].dflags);

		CHECK(got == t[i].want, "port merge %zu: got %#x want %#x", i, got, t[i].want);
	}
}

/* Longest-prefix match over closed entries, as the kernel's LPM trie does. */
static __u32 lpm(const struct shunt_icpt_out_cidr *v, size_t n, __u32 id, const char *addr)
{
	struct shunt_cidr_key k;
	const struct shunt_icpt_out_cidr *best = NULL;

	if (shunt_parse_cidr(addr, &k))
		return 0xdead;
	for (size_t i = 0; i < n; i++) {
		__u32 bits = v[i].key.prefixlen - SHUNT_OUT_CIDR_ID_BITS, b;

		if (v[i].key.identity != id)
			continue;
		for (b = 0; b < bits; b++) {
			__u8 m = (__u8)(0x80u >> (b % 8));

			if ((v[i].key.addr[b / 8] & m) != (k.addr[b / 8] & m))
				break;
		}
		if (b == bits && (!best || v[i].key.prefixlen > best->key.prefixlen))
			best = &v[i];
	}
	return best ? best->flags : 0;
}

static void test_out_cidrs(void)
{
	static const struct {
		__u32 id;
		const char *cidr;
		__u32 flags;
	} in[] = {
		{SHUNT_IDENT_ANY, "10.0.0.0/8", SHUNT_CIDR_INCLUDE},
		{SHUNT_IDENT_ANY, "10.1.0.0/16", SHUNT_CIDR_EXCLUDE},
		{SHUNT_IDENT_ANY, "10.1.2.0/24", SHUNT_CIDR_INCLUDE}, /* inside the exclude */
		{SHUNT_IDENT_ANY, "10.0.0.0/8", SHUNT_CIDR_INCLUDE},  /* duplicate */
		{SHUNT_IDENT_ANY, "fd00::/16", SHUNT_CIDR_INCLUDE},
		{SHUNT_IDENT_ANY, "fd00:1::/32", SHUNT_CIDR_EXCLUDE},
		{7, "::/0", SHUNT_CIDR_INCLUDE}, /* workload 7: everything but 10.9/16 */
		{7, "10.9.0.0/16", SHUNT_CIDR_EXCLUDE},
	};
	static const struct {
		__u32 id;
		const char *addr;
		int capture;
	} q[] = {
		{SHUNT_IDENT_ANY, "10.2.3.4", 1},
		{SHUNT_IDENT_ANY, "10.1.9.9", 0},
		{SHUNT_IDENT_ANY, "10.1.2.3", 0}, /* exclude wins over the longer include */
		{SHUNT_IDENT_ANY, "11.0.0.1", 0},
		{SHUNT_IDENT_ANY, "fd00::1", 1},
		{SHUNT_IDENT_ANY, "fd00:1::1", 0},
		{SHUNT_IDENT_ANY, "fe80::1", 0},
		{7, "11.0.0.1", 1},
		{7, "fd00:1::1", 1},
		{7, "10.9.1.1", 0},
		{7, "10.1.2.3", 1},
		{8, "10.2.3.4", 0}, /* no entries for 8: the agent never looks it up */
	};
	struct shunt_icpt_out_cidr v[16];
	struct shunt_opts o;
	size_t n = 0, i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct shunt_cidr_key k;

		CHECK(shunt_parse_cidr(in[i].cidr, &k) == 0, "%s", in[i].cidr);
		shunt_out_cidr_entry(&v[n++], in[i].id, &k, in[i].flags);
	}
	n = shunt_out_cidrs_close(v, n);
	CHECK(n == sizeof(in) / sizeof(in[0]) - 1, "duplicate merged: %zu", n);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		__u32 f = lpm(v, n, q[i].id, q[i].addr);

		CHECK(shunt_out_cidr_allows(f) == q[i].capture, "%u %s: flags %#x", q[i].id,
		      q[i].addr, f);
	}
	/* global entries from the options: default '*', flags replace it */
	shunt_opts_init(&o);
	n = shunt_out_cidrs_global(&o, v);
	CHECK(n == 1 && v[0].key.prefixlen == SHUNT_OUT_CIDR_ID_BITS &&
		      v[0].key.identity == SHUNT_IDENT_ANY && v[0].flags == SHUNT_CIDR_INCLUDE,
	      "default: everything");
	{
		char err[128];

		CHECK(parse(&o,
			    (const char *const[]){"--include-outbound-cidr", "10.0.0.0/8",
						  "--exclude-outbound-cidr", "10.1.0.0/16",
						  "--exclude-outbound-cidr", "fd00::/8", NULL},
			    err, sizeof(err)) == 0,
		      "%s", err);
		CHECK(!o.out_include_all && o.n_out_include == 1 && o.n_out_exclude == 2 &&
			      (o.set & SHUNT_OPT_SET_OUT_INCLUDE),
		      "flags");
		n = shunt_out_cidrs_close(v, shunt_out_cidrs_global(&o, v));
		CHECK(shunt_out_cidr_allows(lpm(v, n, SHUNT_IDENT_ANY, "10.5.0.1")) &&
			      !shunt_out_cidr_allows(lpm(v, n, SHUNT_IDENT_ANY, "10.1.0.1")) &&
			      !shunt_out_cidr_allows(lpm(v, n, SHUNT_IDENT_ANY, "192.168.0.1")),
		      "flag ranges");
		CHECK(parse(&o, (const char *const[]){"--include-outbound-cidr", "*", NULL}, err,
			    sizeof(err)) == 0 &&
			      o.out_include_all,
		      "'*'");
		CHECK(parse(&o,
			    (const char *const[]){"--include-outbound-cidr", "10.0.0.0/33", NULL},
			    err, sizeof(err)) == -EINVAL,
		      "bad prefix");
	}
}

/* shuntctl status reads the closed global set back: the ranges as given
 * (nested ranges of the same kind are redundant and not listed). */
static void test_out_cidrs_listed(void)
{
	static const struct {
		const char *cidr;
		__u32 flags;
	} in[] = {
		{"10.0.0.0/8", SHUNT_CIDR_INCLUDE},	{"10.1.0.0/16", SHUNT_CIDR_EXCLUDE},
		{"10.1.2.0/24", SHUNT_CIDR_EXCLUDE}, /* inside the exclude: redundant */
		{"10.2.0.0/16", SHUNT_CIDR_INCLUDE}, /* inside the include: redundant */
		{"192.168.1.1/32", SHUNT_CIDR_EXCLUDE}, {"fd00::/16", SHUNT_CIDR_INCLUDE},
		{"fd00:1::/32", SHUNT_CIDR_EXCLUDE},
	};
	/* in the closed set's order: by prefix length (IPv4 counts 96 more) */
	static const char *const want_inc = "fd00::/16 10.0.0.0/8 ";
	static const char *const want_exc = "fd00:1::/32 10.1.0.0/16 192.168.1.1/32 ";
	struct shunt_icpt_out_cidr v[16];
	char inc[256] = "", exc[256] = "", text[80];
	struct shunt_opts o;
	size_t n = 0, i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct shunt_cidr_key k;

		CHECK(shunt_parse_cidr(in[i].cidr, &k) == 0, "%s", in[i].cidr);
		shunt_out_cidr_entry(&v[n++], SHUNT_IDENT_ANY, &k, in[i].flags);
	}
	/* a workload's own entries do not mix into the global lists */
	{
		struct shunt_cidr_key k;

		CHECK(shunt_parse_cidr("172.16.0.0/12", &k) == 0, "own");
		shunt_out_cidr_entry(&v[n++], 5, &k, SHUNT_CIDR_INCLUDE);
	}
	n = shunt_out_cidrs_close(v, n);
	for (i = 0; i < n; i++) {
		if (v[i].key.identity != SHUNT_IDENT_ANY)
			continue;
		shunt_format_out_cidr(text, sizeof(text), &v[i].key);
		strcat(text, " ");
		if (shunt_out_cidr_listed(v, n, i, SHUNT_CIDR_INCLUDE))
			strcat(inc, text);
		if (shunt_out_cidr_listed(v, n, i, SHUNT_CIDR_EXCLUDE))
			strcat(exc, text);
	}
	CHECK(!strcmp(inc, want_inc), "include: '%s'", inc);
	CHECK(!strcmp(exc, want_exc), "exclude: '%s'", exc);
	/* the default "*" reads back as "*" */
	shunt_opts_init(&o);
	n = shunt_out_cidrs_close(v, shunt_out_cidrs_global(&o, v));
	shunt_format_out_cidr(text, sizeof(text), &v[0].key);
	CHECK(n == 1 && shunt_out_cidr_listed(v, n, 0, SHUNT_CIDR_INCLUDE) && !strcmp(text, "*"),
	      "'*': '%s'", text);
}

/* The config's capture section and per-workload fields -> options and tables. */
static void test_capture_config(void)
{
#ifdef SHUNT_HAVE_CONFIG
	static const char *json =
		"{\"capture\": {\"mode\": \"istio\", \"proxyUid\": null, \"proxyMark\": 7, "
		" \"outboundPort\": 16001, \"inboundCapture\": false, \"l7Proxy\": false, "
		" \"excludeOutboundPorts\": [5432], \"includeOutboundCidrs\": [\"10.0.0.0/8\"], "
		" \"excludeOutboundCidrs\": [\"10.96.0.0/12\"], \"proxyCgroups\": [\"/sys/x\"]},"
		" \"workloads\": ["
		"  {\"name\": \"plain\", \"addresses\": [\"10.0.0.1\"]},"
		"  {\"name\": \"nosc\", \"sidecar\": false, \"addresses\": [\"10.0.0.2\"]},"
		"  {\"name\": \"annot\", \"sidecar\": true, \"addresses\": [\"10.0.0.3\"], "
		"   \"capture\": {\"includeInboundPorts\": [80, 8080], \"excludeInboundPorts\": "
		"[9000], \"excludeOutboundPorts\": [3306], \"excludeOutboundCidrs\": "
		"[\"10.5.0.0/16\"]}}]}";
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_icpt_tables t = {0};
	struct shunt_icpt_cg cg[3];
	struct shunt_icpt_addr addr[3];
	struct shunt_opts o;
	char err[160];
	size_t i;
	__u32 id_annot = shunt_identity_of(2);

	if (shunt_config_load_string(json, "cap.json", &c, &d)) {
		shunt_diags_print(&d, stderr);
		CHECK(0, "config");
		goto cleanup;
	}
	/* the file alone */
	CHECK(parse(&o, (const char *const[]){NULL}, err, sizeof(err)) == 0, "%s", err);
	CHECK(shunt_capture_apply_config(&o, &c->capture, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.capture == SHUNT_CAPTURE_ISTIO && o.proxy_uid == SHUNT_UID_NONE &&
		      o.proxy_mark == 7 && o.outbound_port == 16001 && o.inbound_port == 15006 &&
		      !o.inbound_capture && o.no_l7_proxy && o.l4_policy,
	      "file values");
	CHECK(o.n_excl_out == 1 && o.excl_out[0] == 5432 && !o.out_include_all &&
		      o.n_out_include == 1 && o.n_out_exclude == 1 && o.n_proxy_cgroups == 1 &&
		      !strcmp(o.out_include[0].text, "10.0.0.0/8"),
	      "file lists");
	/* flags win; list flags add */
	CHECK(parse(&o,
		    (const char *const[]){"--capture", "l7", "--proxy-uid", "1000",
					  "--outbound-port", "15001", "--inbound-capture", "on",
					  "--exclude-outbound-port", "22",
					  "--include-outbound-cidr", "*", NULL},
		    err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(shunt_capture_apply_config(&o, &c->capture, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.capture == SHUNT_CAPTURE_L7 && o.proxy_uid == 1000 && o.proxy_mark == 7 &&
		      o.outbound_port == 15001 && o.inbound_capture && o.out_include_all &&
		      o.n_excl_out == 2,
	      "precedence");
	/* a flag port clashing with the file's */
	CHECK(parse(&o, (const char *const[]){"--inbound-port", "16001", NULL}, err, sizeof(err)) ==
		      0,
	      "%s", err);
	CHECK(shunt_capture_apply_config(&o, &c->capture, err, sizeof(err)) == -EINVAL,
	      "same ports");

	/* tables: identities as shuntd's build_tables makes them */
	CHECK(parse(&o, (const char *const[]){NULL}, err, sizeof(err)) == 0, "%s", err);
	CHECK(shunt_capture_apply_config(&o, &c->capture, err, sizeof(err)) == 0, "%s", err);
	for (i = 0; i < 3; i++) {
		struct shunt_ident v = {shunt_identity_of((int)i),
					SHUNT_IDENT_HAS | SHUNT_IDENT_MESHED};

		cg[i] = (struct shunt_icpt_cg){100 + i, v};
		addr[i].v = v;
		CHECK(shunt_parse_cidr(i == 0	? "10.0.0.1"
				       : i == 1 ? "10.0.0.2"
						: "10.0.0.3",
				       &addr[i].key) == 0,
		      "addr");
	}
	t.cg = cg;
	t.n_cg = 3;
	t.addr = addr;
	t.n_addr = 3;
	CHECK(shunt_capture_tables(c, &o, &t) == 0, "tables");
	CHECK(cg[0].v.flags == (SHUNT_IDENT_HAS | SHUNT_IDENT_MESHED) &&
		      addr[0].v.flags == (SHUNT_IDENT_HAS | SHUNT_IDENT_MESHED),
	      "plain workload unchanged: %#x", cg[0].v.flags);
	CHECK((cg[1].v.flags & SHUNT_IDENT_NOSIDECAR) && !(addr[1].v.flags & SHUNT_IDENT_MESHED),
	      "no sidecar: %#x %#x", cg[1].v.flags, addr[1].v.flags);
	CHECK((cg[2].v.flags & (SHUNT_IDENT_WPORTS | SHUNT_IDENT_OWN_CIDRS)) ==
			      (SHUNT_IDENT_WPORTS | SHUNT_IDENT_OWN_CIDRS) &&
		      (addr[2].v.flags & (SHUNT_IDENT_WPORTS | SHUNT_IDENT_IN_ONLY)) ==
			      (SHUNT_IDENT_WPORTS | SHUNT_IDENT_IN_ONLY) &&
		      (addr[2].v.flags & SHUNT_IDENT_MESHED),
	      "annotated: %#x %#x", cg[2].v.flags, addr[2].v.flags);
	CHECK(t.n_wport == 4, "wports %zu", t.n_wport);
	for (i = 0; i < t.n_wport; i++) {
		__u32 want = t.wport[i].key.port == 3306   ? SHUNT_PORT_NO_OUTBOUND
			     : t.wport[i].key.port == 9000 ? SHUNT_PORT_NO_INBOUND
							   : SHUNT_PORT_IN_INCLUDE;

		CHECK(t.wport[i].key.identity == id_annot && t.wport[i].flags == want,
		      "wport %u: %#x", t.wport[i].key.port, t.wport[i].flags);
	}
	/* own exclude replaces the global exclude; include stays the global 10/8 */
	CHECK(t.n_out_cidr == 2, "own ranges %zu", t.n_out_cidr);
	CHECK(shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_annot, "10.96.0.1")) &&
		      !shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_annot, "10.5.0.1")) &&
		      !shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_annot, "11.0.0.1")),
	      "own ranges");
	shunt_capture_tables_free(&t);
cleanup:
	shunt_config_free(c);
	shunt_diags_free(&d);
#else
	printf("capture config: skipped (built without config/)\n");
#endif
}

/*
 * includeOutboundPorts from the file (global, added to by the flag) and per
 * workload; an explicitly empty exclude list (config [] or an empty
 * excludeOutboundIPRanges annotation) clears the global exclusions.
 */
static void test_include_ports_config(void)
{
#ifdef SHUNT_HAVE_CONFIG
	static const char *json =
		"{\"capture\": {\"mode\": \"istio\", \"includeOutboundPorts\": [443],"
		" \"includeOutboundCidrs\": [\"10.0.0.0/8\"], \"excludeOutboundCidrs\": "
		"[\"10.96.0.0/12\"]},"
		" \"workloads\": ["
		"  {\"name\": \"plain\", \"addresses\": [\"10.0.0.1\"]},"
		"  {\"name\": \"noexcl\", \"addresses\": [\"10.0.0.2\"], "
		"   \"capture\": {\"excludeOutboundCidrs\": [], \"includeOutboundPorts\": [8443]}},"
		"  {\"name\": \"annot\", \"addresses\": [\"10.0.0.3\"]}]}";
	static const char *const keys[] = {SHUNT_ISTIO_ANNOTATION_PREFIX "excludeOutboundIPRanges",
					   SHUNT_ISTIO_ANNOTATION_PREFIX "includeOutboundPorts"};
	static const char *const vals[] = {"", "9443, 9444"};
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_icpt_tables t = {0};
	struct shunt_icpt_cg cg[3];
	struct shunt_icpt_addr addr[3];
	struct shunt_opts o;
	char err[160];
	size_t i, n_in = 0;
	__u32 id_plain = shunt_identity_of(0), id_noexcl = shunt_identity_of(1),
	      id_annot = shunt_identity_of(2);

	if (shunt_config_load_string(json, "cap.json", &c, &d)) {
		shunt_diags_print(&d, stderr);
		CHECK(0, "config");
		goto cleanup;
	}
	/* the annotated workload: as shuntd's registry hands a pod's annotations over */
	CHECK(shunt_workload_capture_from_annotations(&c->workloads[2].capture, keys, vals, 2,
						      "pod default/annot", &d) == 0 &&
		      d.n == 0,
	      "annotations");
	CHECK(c->workloads[2].capture.exclude_outbound == SHUNT_SEL_LIST &&
		      c->workloads[2].capture.exclude_outbound_cidrs.n == 0,
	      "empty annotation = an explicit empty list");
	CHECK(parse(&o, (const char *const[]){"--include-outbound-port", "8080", NULL}, err,
		    sizeof(err)) == 0,
	      "%s", err);
	CHECK(shunt_capture_apply_config(&o, &c->capture, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_incl_out == 2 && o.incl_out[0] == 8080 && o.incl_out[1] == 443,
	      "the flag adds to the file: %zu", o.n_incl_out);
	CHECK(shunt_icpt_port_flags(&o, 443) == SHUNT_PORT_OUT_INCLUDE, "global 443");
	for (i = 0; i < 3; i++) {
		struct shunt_ident v = {shunt_identity_of((int)i),
					SHUNT_IDENT_HAS | SHUNT_IDENT_MESHED};
		char a[16];

		snprintf(a, sizeof(a), "10.0.0.%zu", i + 1);
		cg[i] = (struct shunt_icpt_cg){200 + i, v};
		addr[i].v = v;
		CHECK(shunt_parse_cidr(a, &addr[i].key) == 0, "addr");
	}
	t.cg = cg;
	t.n_cg = 3;
	t.addr = addr;
	t.n_addr = 3;
	CHECK(shunt_capture_tables(c, &o, &t) == 0, "tables");
	CHECK(!(cg[0].v.flags & (SHUNT_IDENT_OWN_CIDRS | SHUNT_IDENT_WPORTS)), "plain: %#x",
	      cg[0].v.flags);
	for (i = 1; i < 3; i++)
		CHECK((cg[i].v.flags & (SHUNT_IDENT_OWN_CIDRS | SHUNT_IDENT_WPORTS)) ==
			      (SHUNT_IDENT_OWN_CIDRS | SHUNT_IDENT_WPORTS),
		      "workload %zu: %#x", i, cg[i].v.flags);
	CHECK(t.n_wport == 3, "wports %zu", t.n_wport);
	for (i = 0; i < t.n_wport; i++) {
		__u32 id = t.wport[i].key.identity;
		__u16 port = t.wport[i].key.port;

		CHECK(t.wport[i].flags == SHUNT_PORT_OUT_INCLUDE &&
			      ((id == id_noexcl && port == 8443) ||
			       (id == id_annot && (port == 9443 || port == 9444))),
		      "wport %u/%u: %#x", id, port, t.wport[i].flags);
	}
	/* own ranges: the global include 10/8, no exclusion at all */
	for (i = 0; i < t.n_out_cidr; i++) {
		CHECK(t.out_cidr[i].key.identity != id_plain, "plain has no own ranges");
		CHECK(!(t.out_cidr[i].flags & SHUNT_CIDR_EXCLUDE), "no own exclusion");
		n_in++;
	}
	CHECK(n_in == 2, "own ranges %zu", n_in);
	CHECK(shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_noexcl, "10.96.0.1")) &&
		      shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_annot, "10.96.0.1")) &&
		      !shunt_out_cidr_allows(lpm(t.out_cidr, t.n_out_cidr, id_annot, "11.0.0.1")),
	      "global exclusion cleared, global include kept");
	shunt_capture_tables_free(&t);
cleanup:
	shunt_config_free(c);
	shunt_diags_free(&d);
#else
	printf("include ports config: skipped (built without config/)\n");
#endif
}

/* The BPF lookup (shunt_capture.bpf.h) over a table emulating the hash map. */
static __u32 bpf_like_lookup(const struct shunt_l4_key *keys, const __u32 *vals, size_t n,
			     __u32 src, __u32 dst, __u16 port)
{
	struct shunt_l4_key k;
	size_t j;
	int i;

	for (i = 0; i < SHUNT_L4_CANDIDATES; i++) {
		shunt_l4_candidate(&k, i, src, dst, port);
		for (j = 0; j < n; j++)
			if (!memcmp(&keys[j], &k, sizeof(k)))
				return vals[j];
	}
	return SHUNT_L4V_ALLOW;
}

static void test_l4_order(void)
{
#ifdef SHUNT_HAVE_CONFIG
	static const char *json =
		"{\"workloads\": ["
		" {\"name\": \"app1\", \"serviceAccount\": \"app1\", \"labels\": {\"app\": "
		"\"app1\"}, \"addresses\": [\"10.0.0.1\"]},"
		" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"labels\": {\"app\": "
		"\"app2\"}, \"addresses\": [\"10.0.0.2\"]},"
		" {\"name\": \"app3\", \"serviceAccount\": \"app3\", \"labels\": {\"app\": "
		"\"app3\"}, \"addresses\": [\"10.0.0.3\"]},"
		" {\"name\": \"db\", \"serviceAccount\": \"db\", \"labels\": {\"app\": \"db\"}, "
		"\"addresses\": [\"10.0.0.4\"]}],"
		" \"authorizationPolicies\": ["
		"  {\"metadata\": {\"name\": \"a1\", \"namespace\": \"default\"}, \"spec\": {"
		"   \"selector\": {\"matchLabels\": {\"app\": \"app1\"}}, \"action\": \"ALLOW\","
		"   \"rules\": [{\"from\": [{\"source\": {\"principals\": "
		"[\"cluster.local/ns/default/sa/app2\"]}}],"
		"     \"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
		"[\"/public/*\"], "
		"\"ports\": [\"80\"]}}]},"
		"    {\"to\": [{\"operation\": {\"ports\": [\"9090\"]}}]}]}},"
		/* (app2, db, 0) allow vs (ANY, db, 5432) deny: tells the order apart */
		"  {\"metadata\": {\"name\": \"db\", \"namespace\": \"default\"}, \"spec\": {"
		"   \"selector\": {\"matchLabels\": {\"app\": \"db\"}}, \"action\": \"ALLOW\","
		"   \"rules\": [{\"from\": [{\"source\": {\"principals\": "
		"[\"cluster.local/ns/default/sa/app2\"]}}]}]}},"
		"  {\"metadata\": {\"name\": \"db-deny\", \"namespace\": \"default\"}, \"spec\": {"
		"   \"selector\": {\"matchLabels\": {\"app\": \"db\"}}, \"action\": \"DENY\","
		"   \"rules\": [{\"from\": [{\"source\": {\"ipBlocks\": [\"10.0.0.3/32\"]}}]},"
		"              {\"to\": [{\"operation\": {\"ports\": [\"5432\"]}}]}]}}]}";
	static const __u16 ports[] = {80, 443, 5432, 9090, 1};
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL;
	struct shunt_l4_entry *e = NULL;
	struct shunt_l4_key *keys = NULL;
	__u32 *vals = NULL;
	size_t n = 0, i, checked = 0, flags;
	__u32 src, dst;

	if (shunt_config_load_string(json, "l4.json", &c, &d) || shunt_policy_compile(c, &p, &d)) {
		shunt_diags_print(&d, stderr);
		CHECK(0, "config");
		goto cleanup;
	}
	for (flags = 0; flags < 2; flags++) {
		free(e);
		free(keys);
		free(vals);
		e = NULL;
		keys = NULL;
		vals = NULL;
		CHECK(shunt_policy_l4_entries_opts(p, flags ? SHUNT_L4_NO_PROXY : 0, &e, &n) == 0,
		      "entries");
		keys = calloc(n + 1, sizeof(*keys));
		vals = calloc(n + 1, sizeof(*vals));
		if (!keys || !vals)
			goto cleanup;
		for (i = 0; i < n; i++) {
			keys[i] = (struct shunt_l4_key){e[i].src_identity, e[i].dst_identity,
							e[i].port, 0};
			vals[i] = e[i].verdict;
		}
		CHECK(n > 0, "no entries");
		/* every source (world, each workload) x every destination x ports */
		for (src = SHUNT_IDENTITY_WORLD; src <= 5; src++)
			for (dst = 1; dst <= 4; dst++)
				for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
					__u32 want = shunt_l4_lookup(e, n, src, dst, ports[i]);
					__u32 got =
						bpf_like_lookup(keys, vals, n, src, dst, ports[i]);

					CHECK(got == want, "src %u dst %u port %u: %u vs %u", src,
					      dst, ports[i], got, want);
					checked++;
				}
	}
	/* spot checks of the policy's meaning */
	CHECK(bpf_like_lookup(keys, vals, n, 3, 1, 80) == SHUNT_L4V_DENY,
	      "no-proxy: HTTP rule dropped");
	CHECK(bpf_like_lookup(keys, vals, n, 3, 1, 9090) == SHUNT_L4V_ALLOW, "9090 open");
	CHECK(bpf_like_lookup(keys, vals, n, 4, 2, 80) == SHUNT_L4V_ALLOW, "no policy on app2");
	CHECK(bpf_like_lookup(keys, vals, n, 2, 4, 443) == SHUNT_L4V_ALLOW, "app2 -> db");
	CHECK(bpf_like_lookup(keys, vals, n, 2, 4, 5432) == SHUNT_L4V_DENY, "db:5432 denied");
	CHECK(bpf_like_lookup(keys, vals, n, 4, 4, 443) == SHUNT_L4V_DENY, "db from db");
	printf("l4 order: %zu lookups agree with shunt_l4_lookup\n", checked);
cleanup:
	free(e);
	free(keys);
	free(vals);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
#else
	printf("l4 order: skipped (built without config/)\n");
#endif
}

int main(void)
{
	test_decide();
	test_opts();
	test_l4_order();
	test_port_merge();
	test_out_cidrs();
	test_capture_config();
	test_decide_include_ports();
	test_out_cidrs_listed();
	test_include_ports_config();
	return check_done("intercept_unit_test");
}
