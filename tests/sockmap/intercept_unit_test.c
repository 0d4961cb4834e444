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

static void test_decide(void)
{
	static const struct {
		const char *name;
		unsigned mode, flags;
		/* src (0 = unknown), dst (0 = unknown), meshed, loopback, proxy */
		unsigned src, dst, meshed, loop, proxy;
		unsigned verdict, port, port_flags;
		int want;
	} t[] = {
		/* policy */
		{"deny at connect", OFF, POL, 3, 1, 1, 0, 0, V_DENY, 80, 0, DENY},
		{"deny wins over istio capture", ISTIO, POL | INB, 3, 1, 1, 0, 0, V_DENY, 80, 0,
		 DENY},
		{"deny also for the proxy", ISTIO, POL | INB, 2, 1, 1, 0, 1, V_DENY, 80, 0, DENY},
		{"deny for unknown source", L7, POL | INB, 0, 1, 1, 0, 0, V_DENY, 80, 0, DENY},
		{"verdict ignored without POLICY", OFF, 0, 3, 1, 1, 0, 0, V_DENY, 80, 0, PASS},
		{"allow, capture off", OFF, POL, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, PASS},
		{"L7 verdict, capture off: allowed", OFF, POL | INB, 2, 1, 1, 0, 0, V_L7, 80, 0,
		 PASS},
		/* never touched */
		{"loopback", ISTIO, POL | INB, 2, 0, 0, 1, 0, V_DENY, 80, 0, PASS},
		{"same workload (sidecar -> own app)", ISTIO, POL | INB, 1, 1, 1, 0, 1, V_DENY, 80,
		 0, PASS},
		{"to the outbound port", ISTIO, INB, 2, 1, 1, 0, 0, V_ALLOW, 15001, 0, PASS},
		{"to the inbound port", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 15006, 0, PASS},
		/* l7 mode */
		{"l7: app, L7 verdict -> outbound", L7, POL | INB, 2, 1, 1, 0, 0, V_L7, 80, 0, OUT},
		{"l7: app, allow -> direct", L7, POL | INB, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, PASS},
		{"l7: app to unknown dst -> direct", L7, POL | INB, 2, 0, 0, 0, 0, V_ALLOW, 80, 0,
		 PASS},
		{"l7: proxy, L7 verdict -> inbound", L7, POL | INB, 2, 1, 1, 0, 1, V_L7, 80, 0, IN},
		{"l7: proxy, allow -> direct", L7, POL | INB, 2, 1, 1, 0, 1, V_ALLOW, 80, 0, PASS},
		{"l7: proxy, inbound capture off", L7, POL, 2, 1, 1, 0, 1, V_L7, 80, 0, PASS},
		{"l7: proxy, dst without sidecar", L7, POL | INB, 2, 1, 0, 0, 1, V_L7, 80, 0, PASS},
		{"l7: unmeshed source -> inbound", L7, POL | INB, 0, 1, 1, 0, 0, V_L7, 80, 0, IN},
		{"l7: excluded port flags do not matter for outbound", L7, POL | INB, 2, 1, 1, 0, 0,
		 V_L7, 80, NOOUT, OUT},
		{"l7: inbound-excluded port", L7, POL | INB, 2, 1, 1, 0, 1, V_L7, 80, NOIN, PASS},
		/* istio mode */
		{"istio: app -> outbound", ISTIO, POL | INB, 2, 1, 1, 0, 0, V_ALLOW, 80, 0, OUT},
		{"istio: app to unknown dst -> outbound", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 443,
		 0, OUT},
		{"istio: app, excluded outbound port", ISTIO, INB, 2, 0, 0, 0, 0, V_ALLOW, 8081,
		 NOOUT, PASS},
		{"istio: proxy -> inbound of meshed dst", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 80, 0,
		 IN},
		{"istio: proxy to unknown dst -> direct", ISTIO, INB, 2, 0, 0, 0, 1, V_ALLOW, 443,
		 0, PASS},
		{"istio: proxy, excluded inbound port", ISTIO, INB, 2, 1, 1, 0, 1, V_ALLOW, 15020,
		 NOIN | NOOUT, PASS},
		{"istio: unmeshed source -> inbound", ISTIO, INB, 0, 1, 1, 0, 0, V_ALLOW, 80, 0,
		 IN},
		{"istio: unmeshed source, unknown dst", ISTIO, INB, 0, 0, 0, 0, 0, V_ALLOW, 80, 0,
		 PASS},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct shunt_capture_cfg cfg = {.mode = t[i].mode,
						.flags = t[i].flags,
						.proxy_uid = 1337,
						.outbound_port = 15001,
						.inbound_port = 15006};
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
		};
		int got = shunt_capture_decide(&cfg, &in);

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
	for (i = SHUNT_CNT_CAPTURED_OUT; i < SHUNT_CNT__MAX; i++)
		CHECK(shunt_counter_name((unsigned)i) != NULL, "counter %zu named", i);
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
	return check_done("intercept_unit_test");
}
