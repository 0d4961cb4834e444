// SPDX-License-Identifier: Apache-2.0
/* Pure parts of bpf/shunt_bpf.h and sockmap/shunt_opts.c: no kernel needed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shunt_bpf.h"
#include "shunt_opts.h"

static void ip6(const char *s, __u32 out[4])
{
	if (inet_pton(AF_INET6, s, out) != 1)
		abort();
}

static __u32 ip4(const char *s)
{
	__u32 v;

	if (inet_pton(AF_INET, s, &v) != 1)
		abort();
	return v;
}

static void test_key_fill(void)
{
	static const struct {
		const char *name;
		int family;
		const char *l, *r;
		int want_family, want_loop;
	} cases[] = {
		{"v4 pod", AF_INET, "10.0.0.1", "10.0.0.2", SHUNT_AF_INET, 0},
		{"v4 loopback", AF_INET, "127.0.0.1", "127.0.0.1", SHUNT_AF_INET, 1},
		{"v4 127/8", AF_INET, "127.1.2.3", "127.0.0.1", SHUNT_AF_INET, 1},
		{"v6 pod", AF_INET6, "fd00::1", "fd00::2", SHUNT_AF_INET6, 0},
		{"v6 loopback", AF_INET6, "::1", "::1", SHUNT_AF_INET6, 1},
		{"v4-mapped", AF_INET6, "::ffff:10.0.0.1", "::ffff:10.0.0.2", SHUNT_AF_INET, 0},
		{"v4-mapped loopback", AF_INET6, "::ffff:127.0.0.1", "::ffff:127.0.0.1",
		 SHUNT_AF_INET, 1},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		__u32 l[4] = {0}, r[4] = {0};
		struct shunt_sock_key k, m, mm;
		int loop;

		if (cases[i].family == AF_INET) {
			l[0] = ip4(cases[i].l);
			r[0] = ip4(cases[i].r);
		} else {
			ip6(cases[i].l, l);
			ip6(cases[i].r, r);
		}
		loop = shunt_key_fill(&k, (__u32)cases[i].family, l, r, 1234, 80);
		CHECK(k.family == cases[i].want_family, "%s: family %u", cases[i].name, k.family);
		CHECK(loop == cases[i].want_loop, "%s: loopback %d", cases[i].name, loop);
		CHECK(k.local_port == 1234 && k.remote_port == 80, "%s: ports", cases[i].name);
		CHECK(k.pad == 0 && k.netns == 0, "%s: padding", cases[i].name);
		if (k.family == SHUNT_AF_INET)
			CHECK(k.local_ip[1] == 0 && k.local_ip[2] == 0 && k.local_ip[3] == 0,
			      "%s: v4 key not zero-padded", cases[i].name);
		shunt_key_mirror(&k, &m);
		CHECK(m.local_port == 80 && m.remote_port == 1234, "%s: mirror ports",
		      cases[i].name);
		CHECK(!memcmp(m.local_ip, k.remote_ip, 16), "%s: mirror ip", cases[i].name);
		shunt_key_mirror(&m, &mm);
		CHECK(!memcmp(&mm, &k, sizeof(k)), "%s: mirror twice != identity", cases[i].name);
	}
}

/* A v4 client and a dual-stack (v4-mapped) server produce mirrored keys. */
static void test_dualstack_pairing(void)
{
	__u32 c_l[4] = {ip4("127.0.0.1")}, c_r[4] = {ip4("127.0.0.1")};
	__u32 s_l[4], s_r[4];
	struct shunt_sock_key ck, sk, cm;

	ip6("::ffff:127.0.0.1", s_l);
	ip6("::ffff:127.0.0.1", s_r);
	shunt_key_fill(&ck, AF_INET, c_l, c_r, 40000, 8080);
	shunt_key_fill(&sk, AF_INET6, s_l, s_r, 8080, 40000);
	shunt_key_mirror(&ck, &cm);
	CHECK(!memcmp(&cm, &sk, sizeof(sk)), "dual-stack server key is not the client's mirror");
}

static void test_small_write_policy(void)
{
	struct shunt_conn c = {0};
	int i, fell = 0;

	/* request/response: the peer resets the run each round trip */
	for (i = 0; i < 10000; i++) {
		fell |= shunt_small_write_step(&c, 64, 64, 8192);
		c.run_msgs = 0, c.run_bytes = 0; /* peer sent */
	}
	CHECK(!fell, "request/response fell back");
	/* one-way stream of small writes: falls back at the end of the first window */
	memset(&c, 0, sizeof(c));
	for (i = 1; i <= 64; i++) {
		fell = shunt_small_write_step(&c, 64, 64, 8192);
		CHECK(fell == (i == 64), "small stream: send %d verdict %d", i, fell);
	}
	/* one-way stream of large writes: never */
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 1000; i++)
		CHECK(!shunt_small_write_step(&c, 65536, 64, 8192), "large stream fell back");
	/* large then small: judged per window */
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 64; i++)
		shunt_small_write_step(&c, 1 << 20, 64, 8192);
	for (i = 1, fell = 0; i <= 64; i++)
		fell |= shunt_small_write_step(&c, 10, 64, 8192);
	CHECK(fell, "small window after large one not detected");
}

static void test_parse(void)
{
	static const struct {
		const char *in;
		int ok;
		__u32 plen;
	} cidrs[] = {
		{"10.0.0.0/8", 1, 104}, {"10.1.2.3", 1, 128},  {"fd00::/64", 1, 64},
		{"::1", 1, 128},	{"10.0.0.0/33", 0, 0}, {"fd00::/129", 0, 0},
		{"10.0.0.0/", 0, 0},	{"nonsense", 0, 0},    {"/8", 0, 0},
		{"10.0.0.0/-1", 0, 0},
	};
	static const struct {
		const char *in;
		int ok;
	} addrs[] = {
		{"127.0.0.1:9100", 1}, {"[::1]:9100", 1},      {"0.0.0.0:9100", 0},
		{"10.0.0.1:80", 0},    {"127.0.0.1", 0},       {"127.0.0.1:0", 1},
		{"[::1]:0", 1},	       {"127.0.0.1:00", 0},    {"127.0.0.1:", 0},
		{"[::]:80", 0},	       {"127.0.0.1:70000", 0},
	};
	struct shunt_cidr_key k;
	struct sockaddr_storage ss;
	socklen_t len;
	enum shunt_small_writes m;
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		int r = shunt_parse_cidr(cidrs[i].in, &k);

		CHECK((r == 0) == cidrs[i].ok, "cidr %s: %d", cidrs[i].in, r);
		if (r == 0)
			CHECK(k.prefixlen == cidrs[i].plen, "cidr %s: prefix %u", cidrs[i].in,
			      k.prefixlen);
	}
	CHECK(shunt_parse_cidr("10.1.2.3/32", &k) == 0 && k.addr[10] == 0xff && k.addr[12] == 10,
	      "v4 cidr not mapped");
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		CHECK((shunt_parse_loopback_addr(addrs[i].in, &ss, &len) == 0) == addrs[i].ok,
		      "addr %s", addrs[i].in);
	CHECK(shunt_parse_port("80", &port) == 0 && port == 80, "port 80");
	CHECK(shunt_parse_port("0", &port) != 0 && shunt_parse_port("65536", &port) != 0 &&
		      shunt_parse_port("8x", &port) != 0 && shunt_parse_port("", &port) != 0,
	      "bad ports accepted");
	CHECK(shunt_parse_small_writes("pass", &m) == 0 && m == SHUNT_SMALL_PASS, "pass");
	{
		static const char *round[] = {"10.0.0.0/8", "10.1.2.3/32", "fd00::/64", "::1/128",
					      "0.0.0.0/0"};
		char text[80];

		for (i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
			CHECK(shunt_parse_cidr(round[i], &k) == 0, "%s", round[i]);
			shunt_format_cidr(text, sizeof(text), &k);
			CHECK(!strcmp(text, round[i]), "cidr %s formatted as %s", round[i], text);
		}
	}
	CHECK(shunt_parse_small_writes("fast", &m) != 0, "bad mode accepted");
}

static void test_opts(void)
{
	char *ok[] = {"shuntd",
		      "--cgroup",
		      "/sys/fs/cgroup/x",
		      "--pin-dir",
		      "/sys/fs/bpf/t",
		      "--ready-fd",
		      "5",
		      "--exclude-port",
		      "22",
		      "--exclude-port",
		      "443",
		      "--include-cidr",
		      "10.0.0.0/8",
		      "--exclude-cidr",
		      "10.9.0.0/16",
		      "--small-writes",
		      "redirect",
		      "--metrics",
		      "127.0.0.1:9100",
		      "--small-max-avg-pod",
		      "0",
		      "-v"};
	char *bad[][3] = {
		{"shuntd", "--small-writes", "maybe"},
		{"shuntd", "--exclude-port", "0"},
		{"shuntd", "--metrics", "0.0.0.0:1"},
		{"shuntd", "--pin-dir", "relative"},
		{"shuntd", "--bogus", "x"},
		{"shuntd", "--include-cidr", "x/1"},
		{"shuntd", "--small-max-avg-pod", "-1"},
		{"shuntd", "--small-max-avg", "0"},
	};
	struct shunt_opts o;
	char err[256];
	size_t i;

	shunt_opts_init(&o);
	CHECK(o.small_max_avg == SHUNT_SMALL_MAX_AVG_DEFAULT &&
		      o.small_max_avg_pod == SHUNT_SMALL_MAX_AVG_POD_DEFAULT,
	      "small-write defaults");
	CHECK(shunt_opts_parse(&o, (int)(sizeof(ok) / sizeof(ok[0])), ok, err, sizeof(err)) == 0,
	      "valid args rejected: %s", err);
	CHECK(o.small_max_avg_pod == 0, "--small-max-avg-pod 0: %u", o.small_max_avg_pod);
	CHECK(o.ready_fd == 5 && o.n_exclude_ports == 2 && o.exclude_ports[1] == 443 &&
		      o.n_include == 1 && o.n_exclude == 1 &&
		      o.small_writes == SHUNT_SMALL_REDIRECT && o.verbose && o.metrics &&
		      !strcmp(o.pin_dir, "/sys/fs/bpf/t"),
	      "parsed values");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		shunt_opts_init(&o);
		err[0] = 0;
		CHECK(shunt_opts_parse(&o, 3, bad[i], err, sizeof(err)) != 0 && err[0],
		      "accepted %s %s", bad[i][1], bad[i][2]);
	}
	/* lists fill up to SHUNT_OPTS_MAX_LIST, then -E2BIG */
	shunt_opts_init(&o);
	for (i = 0; i < SHUNT_OPTS_MAX_LIST; i++)
		CHECK(shunt_opts_add_port(&o, (uint16_t)(i + 1)) == 0, "add port %zu", i);
	CHECK(shunt_opts_add_port(&o, 9999) == -E2BIG, "port list overflow");
	{
		struct shunt_cidr_key k = {.prefixlen = 64};

		CHECK(shunt_opts_add_cidr(&o, true, &k, "::/64") == 0 && o.n_include == 1 &&
			      !strcmp(o.include[0].text, "::/64"),
		      "add cidr");
	}
	{
		char *cfg[] = {"shuntd", "--config", "/etc/shunt.json"};

		shunt_opts_init(&o);
		CHECK(shunt_opts_parse(&o, 3, cfg, err, sizeof(err)) == 0 && o.config &&
			      !strcmp(o.config, "/etc/shunt.json"),
		      "--config");
	}
	shunt_opts_init(&o);
	CHECK(!strcmp(o.pin_dir, SHUNT_DEFAULT_PIN_DIR) && o.ready_fd == -1 &&
		      o.small_writes == SHUNT_SMALL_ADAPTIVE,
	      "defaults");
}

static void test_metrics(void)
{
	__u64 cnt[SHUNT_CNT__MAX] = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned int i;

	cnt[SHUNT_CNT_BYTES_REDIRECTED] = 12345;
	shunt_metrics_write(f, (const uint64_t *)cnt, 3);
	fclose(f);
	CHECK(strstr(buf, "shunt_bytes_redirected_total 12345\n") != NULL, "bytes line");
	CHECK(strstr(buf, "# TYPE shunt_fallback_small_writes_total counter\n") != NULL, "type");
	CHECK(strstr(buf, "shunt_sockets_active 3\n") != NULL, "gauge");
	for (i = 0; i < SHUNT_CNT__MAX; i++)
		CHECK(shunt_counter_name(i) && shunt_counter_help(i), "counter %u unnamed", i);
	CHECK(shunt_counter_name(SHUNT_CNT__MAX) == NULL, "out of range");
	free(buf);
}

int main(void)
{
	test_key_fill();
	test_dualstack_pairing();
	test_small_write_policy();
	test_parse();
	test_opts();
	test_metrics();
	return check_done("sockmap_unit_test");
}
