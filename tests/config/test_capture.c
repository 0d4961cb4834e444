// SPDX-License-Identifier: Apache-2.0
/*
 * The "capture" section, per-workload "sidecar" and "capture" fields
 * (issue 6), and the config file permission rule (issue 9).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "shunt/config.h"

static struct shunt_config *load(const char *json)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;

	if (shunt_config_load_string(json, "t.json", &c, &d))
		shunt_diags_print(&d, stderr);
	shunt_diags_free(&d);
	return c;
}

/* One row: a capture section and what it must parse to. */
struct ccase {
	const char *json;
	int mode;
	int64_t uid;
	uint32_t mark;
	uint16_t out_port, in_port;
	bool in_capture, l4, l7;
	enum shunt_sel include;
	size_t n_include, n_exclude, n_excl_out, n_excl_in, n_cgroups;
	bool has_mode, has_uid; /* set-by-file markers (flag precedence) */
	size_t n_incl_out;	/* includeOutboundPorts */
};

static const struct ccase ccases[] = {
	/* absent: every default, nothing "set" */
	{"{}", SHUNT_CFG_CAPTURE_OFF, 1337, 0, 15001, 15006, true, true, true, SHUNT_SEL_UNSET, 0,
	 0, 0, 0, 0, false, false, 0},
	{"{\"capture\": {}}", SHUNT_CFG_CAPTURE_OFF, 1337, 0, 15001, 15006, true, true, true,
	 SHUNT_SEL_UNSET, 0, 0, 0, 0, 0, false, false, 0},
	{"{\"capture\": {\"mode\": \"istio\"}}", SHUNT_CFG_CAPTURE_ISTIO, 1337, 0, 15001, 15006,
	 true, true, true, SHUNT_SEL_UNSET, 0, 0, 0, 0, 0, true, false, 0},
	{"{\"capture\": {\"mode\": \"l7\", \"proxyUid\": null, \"proxyMark\": 77, "
	 "\"proxyCgroups\": [\"/a\", \"/b\"], \"outboundPort\": 1501, \"inboundPort\": 1506, "
	 "\"inboundCapture\": false, \"l4Policy\": false, \"l7Proxy\": false}}",
	 SHUNT_CFG_CAPTURE_L7, SHUNT_CFG_PROXY_UID_NONE, 77, 1501, 1506, false, false, false,
	 SHUNT_SEL_UNSET, 0, 0, 0, 0, 2, true, true, 0},
	{"{\"capture\": {\"mode\": \"off\", \"proxyUid\": 0, \"includeOutboundCidrs\": [\"*\"], "
	 "\"excludeOutboundCidrs\": [\"10.0.0.0/8\", \"fd00::/16\"], "
	 "\"excludeOutboundPorts\": [\"22\", 3306], \"excludeInboundPorts\": [9090]}}",
	 SHUNT_CFG_CAPTURE_OFF, 0, 0, 15001, 15006, true, true, true, SHUNT_SEL_ALL, 0, 2, 2, 1, 0,
	 true, true, 0},
	{"{\"capture\": {\"includeOutboundCidrs\": [\"10.1.0.0/16\", \"fd00::/8\", "
	 "\"192.168.1.1\"]}}",
	 SHUNT_CFG_CAPTURE_OFF, 1337, 0, 15001, 15006, true, true, true, SHUNT_SEL_LIST, 3, 0, 0, 0,
	 0, false, false, 0},
	/* [] = capture no outbound destination (Istio's includeOutboundIPRanges="") */
	{"{\"capture\": {\"includeOutboundCidrs\": []}}", SHUNT_CFG_CAPTURE_OFF, 1337, 0, 15001,
	 15006, true, true, true, SHUNT_SEL_LIST, 0, 0, 0, 0, 0, false, false, 0},
	/* includeOutboundPorts: captured whatever the include ranges */
	{"{\"capture\": {\"mode\": \"istio\", \"includeOutboundCidrs\": [], "
	 "\"includeOutboundPorts\": [443, \"8443\", 9443]}}",
	 SHUNT_CFG_CAPTURE_ISTIO, 1337, 0, 15001, 15006, true, true, true, SHUNT_SEL_LIST, 0, 0, 0,
	 0, 0, true, false, 3},
};

static void test_capture_section(void)
{
	for (size_t i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
		const struct ccase *w = &ccases[i];
		struct shunt_config *c = load(w->json);
		const struct shunt_capture_config *k;

		CHECK(c, "case %zu: does not load", i);
		if (!c)
			continue;
		k = &c->capture;
		CHECK(k->present == (strstr(w->json, "capture") != NULL), "case %zu: present", i);
		CHECK((int)k->mode == w->mode, "case %zu: mode %d", i, k->mode);
		CHECK(k->proxy_uid == w->uid, "case %zu: uid %lld", i, (long long)k->proxy_uid);
		CHECK(k->proxy_mark == w->mark, "case %zu: mark", i);
		CHECK(k->outbound_port == w->out_port && k->inbound_port == w->in_port,
		      "case %zu: ports %u %u", i, k->outbound_port, k->inbound_port);
		CHECK(k->inbound_capture == w->in_capture, "case %zu: inboundCapture", i);
		CHECK(k->l4_policy == w->l4 && k->l7_proxy == w->l7, "case %zu: l4/l7", i);
		CHECK(k->include_outbound == w->include, "case %zu: include sel %d", i,
		      k->include_outbound);
		CHECK(k->include_outbound_cidrs.n == w->n_include, "case %zu: #include", i);
		CHECK(k->exclude_outbound_cidrs.n == w->n_exclude, "case %zu: #exclude", i);
		CHECK(k->exclude_outbound_ports.n == w->n_excl_out, "case %zu: #excl out", i);
		CHECK(k->exclude_inbound_ports.n == w->n_excl_in, "case %zu: #excl in", i);
		CHECK(k->proxy_cgroups.n == w->n_cgroups, "case %zu: #cgroups", i);
		CHECK(k->include_outbound_ports.n == w->n_incl_out, "case %zu: #incl out", i);
		CHECK(k->has_mode == w->has_mode && k->has_proxy_uid == w->has_uid,
		      "case %zu: has_*", i);
		shunt_config_free(c);
	}
}

static void test_capture_values(void)
{
	struct shunt_config *c =
		load("{\"capture\": {\"includeOutboundCidrs\": [\"10.1.0.0/16\", \"fd00::/8\"], "
		     "\"excludeOutboundPorts\": [\"22\", 3306]}}");

	CHECK(c, "loads");
	if (!c)
		return;
	CHECK(c->capture.include_outbound_cidrs.v[0].family == AF_INET &&
		      c->capture.include_outbound_cidrs.v[0].prefix == 16 &&
		      c->capture.include_outbound_cidrs.v[0].addr[0] == 10 &&
		      c->capture.include_outbound_cidrs.v[0].addr[1] == 1,
	      "10.1.0.0/16");
	CHECK(c->capture.include_outbound_cidrs.v[1].family == AF_INET6 &&
		      c->capture.include_outbound_cidrs.v[1].prefix == 8 &&
		      c->capture.include_outbound_cidrs.v[1].addr[0] == 0xfd,
	      "fd00::/8");
	CHECK(c->capture.exclude_outbound_ports.v[0] == 22 &&
		      c->capture.exclude_outbound_ports.v[1] == 3306,
	      "ports");
	shunt_config_free(c);
}

/* workloads[].sidecar and workloads[].capture (Istio's annotations) */
struct wcase {
	const char *json;
	int sidecar;
	enum shunt_sel in_sel, out_sel;
	size_t n_in, n_excl_in, n_excl_out, n_out, n_excl_cidr;
	enum shunt_sel xcidr_sel; /* excludeOutboundCidrs: UNSET, or LIST (also []) */
	size_t n_incl_out;	  /* includeOutboundPorts */
	uint16_t incl_out0;	  /* its first port */
};

#define W(extra) "{\"workloads\": [{\"name\": \"a\"" extra "}]}"
static const struct wcase wcases[] = {
	{W(""), -1, SHUNT_SEL_UNSET, SHUNT_SEL_UNSET, 0, 0, 0, 0, 0, SHUNT_SEL_UNSET, 0, 0},
	{W(", \"sidecar\": true"), 1, SHUNT_SEL_UNSET, SHUNT_SEL_UNSET, 0, 0, 0, 0, 0,
	 SHUNT_SEL_UNSET, 0, 0},
	{W(", \"sidecar\": false"), 0, SHUNT_SEL_UNSET, SHUNT_SEL_UNSET, 0, 0, 0, 0, 0,
	 SHUNT_SEL_UNSET, 0, 0},
	{W(", \"capture\": {\"includeInboundPorts\": [\"*\"], \"includeOutboundCidrs\": [\"*\"]}"),
	 -1, SHUNT_SEL_ALL, SHUNT_SEL_ALL, 0, 0, 0, 0, 0, SHUNT_SEL_UNSET, 0, 0},
	{W(", \"capture\": {\"includeInboundPorts\": [], \"includeOutboundCidrs\": []}"), -1,
	 SHUNT_SEL_LIST, SHUNT_SEL_LIST, 0, 0, 0, 0, 0, SHUNT_SEL_UNSET, 0, 0},
	{W(", \"sidecar\": true, \"capture\": {\"includeInboundPorts\": [80, \"8080\"], "
	   "\"excludeInboundPorts\": [9000], \"excludeOutboundPorts\": [5432, 6379, 27017], "
	   "\"includeOutboundCidrs\": [\"10.0.0.0/8\"], \"excludeOutboundCidrs\": "
	   "[\"10.9.0.0/16\", "
	   "\"fd00::1\"]}"),
	 1, SHUNT_SEL_LIST, SHUNT_SEL_LIST, 2, 1, 3, 1, 2, SHUNT_SEL_LIST, 0, 0},
	/* [] replaces the global exclusions with none (Istio: an empty
	 * excludeOutboundIPRanges annotation) */
	{W(", \"capture\": {\"excludeOutboundCidrs\": []}"), -1, SHUNT_SEL_UNSET, SHUNT_SEL_UNSET,
	 0, 0, 0, 0, 0, SHUNT_SEL_LIST, 0, 0},
	{W(", \"capture\": {\"includeOutboundPorts\": [\"8443\", 443], \"excludeOutboundCidrs\": "
	   "[\"10.0.0.0/8\"]}"),
	 -1, SHUNT_SEL_UNSET, SHUNT_SEL_UNSET, 0, 0, 0, 0, 1, SHUNT_SEL_LIST, 2, 8443},
};

static void test_workloads(void)
{
	for (size_t i = 0; i < sizeof(wcases) / sizeof(wcases[0]); i++) {
		const struct wcase *w = &wcases[i];
		struct shunt_config *c = load(w->json);
		const struct shunt_workload_capture *k;

		CHECK(c && c->n_workloads == 1, "case %zu: does not load", i);
		if (!c || c->n_workloads != 1) {
			shunt_config_free(c);
			continue;
		}
		k = &c->workloads[0].capture;
		CHECK(c->workloads[0].sidecar == w->sidecar, "case %zu: sidecar %d", i,
		      c->workloads[0].sidecar);
		CHECK(k->include_inbound == w->in_sel && k->include_outbound == w->out_sel,
		      "case %zu: selections %d %d", i, k->include_inbound, k->include_outbound);
		CHECK(k->include_inbound_ports.n == w->n_in, "case %zu: #in", i);
		CHECK(k->exclude_inbound_ports.n == w->n_excl_in, "case %zu: #excl in", i);
		CHECK(k->exclude_outbound_ports.n == w->n_excl_out, "case %zu: #excl out", i);
		CHECK(k->include_outbound_cidrs.n == w->n_out, "case %zu: #out cidrs", i);
		CHECK(k->exclude_outbound_cidrs.n == w->n_excl_cidr, "case %zu: #excl cidrs", i);
		CHECK(k->exclude_outbound == w->xcidr_sel, "case %zu: exclude sel %d", i,
		      k->exclude_outbound);
		CHECK(k->include_outbound_ports.n == w->n_incl_out &&
			      (!w->n_incl_out || k->include_outbound_ports.v[0] == w->incl_out0),
		      "case %zu: includeOutboundPorts", i);
		CHECK(shunt_workload_capture_set(k) == (strstr(w->json, "capture") != NULL),
		      "case %zu: capture set", i);
		shunt_config_free(c);
	}
}

/* issue 9: a config file writable by others is refused (symlinks followed). */
static void test_file_mode(void)
{
	static const struct {
		mode_t mode;
		int want;
	} modes[] = {{0644, 0},	     {0600, 0},	     {0400, 0},	     {0664, 0},
		     {0666, -EPERM}, {0646, -EPERM}, {0777, -EPERM}, {0602, -EPERM}};
	char dir[] = "/tmp/shunt-cfgmode-XXXXXX", file[64], link[64], buf[512];

	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(file, sizeof(file), "%s/config.json", dir);
	snprintf(link, sizeof(link), "%s/link.json", dir);
	{
		FILE *f = fopen(file, "w");

		CHECK(f, "create");
		if (!f)
			return;
		fputs("{\"workloads\": []}\n", f);
		fclose(f);
	}
	CHECK(symlink("config.json", link) == 0, "symlink");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		for (int via_link = 0; via_link < 2; via_link++) {
			const char *p = via_link ? link : file;
			struct shunt_diags d = {0};
			struct shunt_config *c = NULL;
			int err;

			CHECK(chmod(file, modes[i].mode) == 0, "chmod");
			err = shunt_config_load_file(p, &c, &d);
			CHECK(err == modes[i].want, "mode %04o via %s: %d", modes[i].mode,
			      via_link ? "symlink" : "file", err);
			CHECK((c != NULL) == (err == 0), "config iff ok");
			if (modes[i].want) {
				FILE *m = fmemopen(buf, sizeof(buf), "w");
				char want[256];

				shunt_diags_print(&d, m);
				fclose(m);
				snprintf(want, sizeof(want),
					 "%s:0:0: $: writable by others (mode %04o); refusing it "
					 "(chmod o-w)\n",
					 p, modes[i].mode);
				CHECK(!strcmp(buf, want), "got '%s', want '%s'", buf, want);
			} else {
				CHECK(d.n == 0, "no diagnostic");
			}
			shunt_config_free(c);
			shunt_diags_free(&d);
		}
	}
	/* the pure rule */
	{
		struct shunt_diags d = {0};

		CHECK(shunt_config_check_mode("x", 0100664, &d) == 0 && d.n == 0, "0664 ok");
		CHECK(shunt_config_check_mode("x", 0100666, &d) == -EPERM && d.n == 1, "0666");
		shunt_diags_free(&d);
	}
	unlink(link);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	test_capture_section();
	test_capture_values();
	test_workloads();
	test_file_mode();
	return check_done("test_capture");
}
