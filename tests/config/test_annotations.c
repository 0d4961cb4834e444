// SPDX-License-Identifier: Apache-2.0
/*
 * Istio's per-pod capture annotations (traffic.sidecar.istio.io/...) into a
 * workload's capture settings: shunt_workload_capture_from_annotations().
 * Each row: annotations in, the rendered capture settings (or the error and
 * the diagnostic) out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shunt/config.h"

#define P SHUNT_ISTIO_ANNOTATION_PREFIX

static void put(char **p, char *end, const char *fmt, const char *a)
{
	int n = snprintf(*p, (size_t)(end - *p), fmt, a);

	if (n > 0)
		*p += n < end - *p ? n : end - *p - 1;
}

static void render_ports(char **p, char *end, enum shunt_sel sel, const struct shunt_portlist *l)
{
	char num[8];

	if (sel == SHUNT_SEL_ALL) {
		put(p, end, "%s", "*");
		return;
	}
	if (sel == SHUNT_SEL_UNSET && !l->n) {
		put(p, end, "%s", "-");
		return;
	}
	put(p, end, "%s", "[");
	for (size_t i = 0; i < l->n; i++) {
		snprintf(num, sizeof(num), "%u", l->v[i]);
		put(p, end, i ? ",%s" : "%s", num);
	}
	put(p, end, "%s", "]");
}

static void render_cidrs(char **p, char *end, enum shunt_sel sel, const struct shunt_cidrlist *l)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (sel == SHUNT_SEL_ALL) {
		put(p, end, "%s", "*");
		return;
	}
	if (sel == SHUNT_SEL_UNSET && !l->n) {
		put(p, end, "%s", "-");
		return;
	}
	put(p, end, "%s", "[");
	for (size_t i = 0; i < l->n; i++) {
		size_t k;

		inet_ntop(l->v[i].family, l->v[i].addr, a, sizeof(a));
		k = strlen(a);
		snprintf(a + k, sizeof(a) - k, "/%u", l->v[i].prefix);
		put(p, end, i ? ",%s" : "%s", a);
	}
	put(p, end, "%s", "]");
}

/* "in=… xin=… xout=… out=… xcidr=…[ iout=…]": - unset, * all, [..] a list
 * ([] = an explicit empty list); iout (includeOutboundPorts) only when set. */
static void render(const struct shunt_workload_capture *c, char *buf, size_t cap)
{
	char *p = buf, *end = buf + cap;

	buf[0] = '\0';
	put(&p, end, "%s", "in=");
	render_ports(&p, end, c->include_inbound, &c->include_inbound_ports);
	put(&p, end, "%s", " xin=");
	render_ports(&p, end, SHUNT_SEL_UNSET, &c->exclude_inbound_ports);
	put(&p, end, "%s", " xout=");
	render_ports(&p, end, SHUNT_SEL_UNSET, &c->exclude_outbound_ports);
	put(&p, end, "%s", " out=");
	render_cidrs(&p, end, c->include_outbound, &c->include_outbound_cidrs);
	put(&p, end, "%s", " xcidr=");
	render_cidrs(&p, end, c->exclude_outbound, &c->exclude_outbound_cidrs);
	if (c->include_outbound_ports.n) {
		put(&p, end, "%s", " iout=");
		render_ports(&p, end, SHUNT_SEL_UNSET, &c->include_outbound_ports);
	}
}

#define UNSET "in=- xin=- xout=- out=- xcidr=-"

struct row {
	const char *keys[4], *values[4];
	int err;
	const char *want;  /* rendered result (UNSET after an error) */
	const char *diag;  /* substring of the first diagnostic, NULL: none */
	const char *dpath; /* its path */
};

static const struct row rows[] = {
	/* nothing, or keys that are not capture annotations */
	{{NULL}, {NULL}, 0, UNSET, NULL, NULL},
	{{"sidecar.istio.io/inject", "prometheus.io/port"}, {"true", "9090"}, 0, UNSET, NULL, NULL},
	/* includeInboundPorts: "*", list, "" = none, whitespace around entries */
	{{P "includeInboundPorts"}, {"*"}, 0, "in=* xin=- xout=- out=- xcidr=-", NULL, NULL},
	{{P "includeInboundPorts"},
	 {"80,8080"},
	 0,
	 "in=[80,8080] xin=- xout=- out=- xcidr=-",
	 NULL,
	 NULL},
	{{P "includeInboundPorts"}, {""}, 0, "in=[] xin=- xout=- out=- xcidr=-", NULL, NULL},
	{{P "includeInboundPorts"}, {"  "}, 0, "in=[] xin=- xout=- out=- xcidr=-", NULL, NULL},
	{{P "includeInboundPorts"},
	 {" 80 , 8080\t"},
	 0,
	 "in=[80,8080] xin=- xout=- out=- xcidr=-",
	 NULL,
	 NULL},
	/* Istio compares "*" before trimming: " *" is a bad port */
	{{P "includeInboundPorts"},
	 {" *"},
	 -EINVAL,
	 UNSET,
	 "bad port '*'",
	 "$.annotations[\"" P "includeInboundPorts\"]"},
	{{P "includeInboundPorts"}, {"*,80"}, -EINVAL, UNSET, "bad port '*'", NULL},
	/* port syntax: 0..65535, leading zeros allowed, no sign, no empty entry */
	{{P "excludeOutboundPorts"},
	 {"0,065535,00022"},
	 0,
	 "in=- xin=- xout=[0,65535,22] out=- xcidr=-",
	 NULL,
	 NULL},
	{{P "excludeOutboundPorts"},
	 {"65536"},
	 -EINVAL,
	 UNSET,
	 "bad port '65536' in '65536'",
	 "$.annotations[\"" P "excludeOutboundPorts\"]"},
	{{P "excludeOutboundPorts"}, {"+80"}, -EINVAL, UNSET, "bad port '+80'", NULL},
	{{P "excludeOutboundPorts"}, {"-1"}, -EINVAL, UNSET, "bad port '-1'", NULL},
	{{P "excludeOutboundPorts"}, {"80,,81"}, -EINVAL, UNSET, "bad port ''", NULL},
	{{P "excludeOutboundPorts"}, {"80,"}, -EINVAL, UNSET, "bad port ''", NULL},
	{{P "excludeOutboundPorts"}, {"80 81"}, -EINVAL, UNSET, "bad port '80 81'", NULL},
	{{P "excludeOutboundPorts"}, {"http"}, -EINVAL, UNSET, "bad port 'http'", NULL},
	{{P "excludeOutboundPorts"},
	 {"99999999999999999999999"},
	 -EINVAL,
	 UNSET,
	 "bad port '99999999999999999999...'",
	 NULL},
	{{P "excludeInboundPorts"}, {"*"}, -EINVAL, UNSET, "bad port '*'", NULL},
	{{P "excludeInboundPorts"},
	 {"15020, 9090"},
	 0,
	 "in=- xin=[15020,9090] xout=- out=- xcidr=-",
	 NULL,
	 NULL},
	/* CIDR lists: "*" only for include, no spaces, bits required, host bits masked */
	{{P "includeOutboundIPRanges"}, {"*"}, 0, "in=- xin=- xout=- out=* xcidr=-", NULL, NULL},
	{{P "includeOutboundIPRanges"}, {""}, 0, "in=- xin=- xout=- out=[] xcidr=-", NULL, NULL},
	{{P "includeOutboundIPRanges"},
	 {"10.0.0.0/8,fd00::/16"},
	 0,
	 "in=- xin=- xout=- out=[10.0.0.0/8,fd00::/16] xcidr=-",
	 NULL,
	 NULL},
	{{P "includeOutboundIPRanges"},
	 {"10.1.2.3/16,0.0.0.0/0,::/0"},
	 0,
	 "in=- xin=- xout=- out=[10.1.0.0/16,0.0.0.0/0,::/0] xcidr=-",
	 NULL,
	 NULL},
	{{P "includeOutboundIPRanges"},
	 {"*,10.0.0.0/8"},
	 -EINVAL,
	 UNSET,
	 "bad CIDR '*'",
	 "$.annotations[\"" P "includeOutboundIPRanges\"]"},
	{{P "includeOutboundIPRanges"}, {" *"}, -EINVAL, UNSET, "bad CIDR ' *'", NULL},
	{{P "excludeOutboundIPRanges"},
	 {"10.96.0.0/12,192.168.1.1/32"},
	 0,
	 "in=- xin=- xout=- out=- xcidr=[10.96.0.0/12,192.168.1.1/32]",
	 NULL,
	 NULL},
	/* present but empty: replaces the global list with none (Istio's injector
	 * uses the annotation's value instead of the mesh default) */
	{{P "excludeOutboundIPRanges"}, {""}, 0, "in=- xin=- xout=- out=- xcidr=[]", NULL, NULL},
	{{P "excludeOutboundIPRanges"}, {"*"}, -EINVAL, UNSET, "bad CIDR '*'", NULL},
	{{P "excludeOutboundIPRanges"},
	 {"10.0.0.0/8, 10.1.0.0/16"},
	 -EINVAL,
	 UNSET,
	 "bad CIDR ' 10.1.0.0/16'",
	 NULL},
	{{P "excludeOutboundIPRanges"}, {"10.0.0.1"}, -EINVAL, UNSET, "bad CIDR '10.0.0.1'", NULL},
	{{P "excludeOutboundIPRanges"},
	 {"10.0.0.0/33"},
	 -EINVAL,
	 UNSET,
	 "bad CIDR '10.0.0.0/33'",
	 NULL},
	{{P "excludeOutboundIPRanges"}, {"fd00::/129"}, -EINVAL, UNSET, "bad CIDR", NULL},
	{{P "excludeOutboundIPRanges"}, {"10.0.0.0/08"}, -EINVAL, UNSET, "bad CIDR", NULL},
	{{P "excludeOutboundIPRanges"}, {"10.0.0.0/"}, -EINVAL, UNSET, "bad CIDR", NULL},
	{{P "excludeOutboundIPRanges"}, {"010.0.0.0/8"}, -EINVAL, UNSET, "bad CIDR", NULL},
	{{P "excludeOutboundIPRanges"}, {"fe80::1%eth0/64"}, -EINVAL, UNSET, "bad CIDR", NULL},
	{{P "excludeOutboundIPRanges"}, {"10.0.0.0/8,"}, -EINVAL, UNSET, "bad CIDR ''", NULL},
	/* includeOutboundPorts: a port list like excludeOutboundPorts */
	{{P "includeOutboundPorts", P "excludeOutboundPorts"},
	 {" 443, 8443 ", "22"},
	 0,
	 "in=- xin=- xout=[22] out=- xcidr=- iout=[443,8443]",
	 NULL,
	 NULL},
	{{P "includeOutboundPorts"}, {""}, 0, UNSET, NULL, NULL},
	{{P "includeOutboundPorts"},
	 {"443,https"},
	 -EINVAL,
	 UNSET,
	 "bad port 'https' in '443,https'",
	 "$.annotations[\"" P "includeOutboundPorts\"]"},
	{{P "includeOutboundPorts"}, {"443,"}, -EINVAL, UNSET, "bad port ''", NULL},
	{{P "includeOutboundPorts"}, {"*"}, -EINVAL, UNSET, "bad port '*'", NULL},
	/* unsupported and unknown keys: a warning, the rest applies */
	{{P "excludeInterfaces", P "excludeOutboundPorts"},
	 {"eth1", "22"},
	 0,
	 "in=- xin=- xout=[22] out=- xcidr=-",
	 "warning: not supported by shunt",
	 "$.annotations[\"" P "excludeInterfaces\"]"},
	{{P "excludeInterfaces"}, {"eth1"}, 0, UNSET, "warning: not supported", NULL},
	{{P "kubevirtInterfaces"}, {"net1"}, 0, UNSET, "warning: not supported", NULL},
	{{P "interceptionMode"}, {"TPROXY"}, 0, UNSET, "warning: unknown capture annotation", NULL},
	/* everything together */
	{{P "excludeOutboundIPRanges", P "excludeOutboundPorts", P "includeInboundPorts",
	  P "includeOutboundIPRanges"},
	 {"10.0.0.0/24", "5432,6379", "8080", "10.0.0.0/8,fd00::/8"},
	 0,
	 "in=[8080] xin=- xout=[5432,6379] out=[10.0.0.0/8,fd00::/8] xcidr=[10.0.0.0/24]",
	 NULL,
	 NULL},
	/* one bad value: nothing of the pod's annotations applies */
	{{P "excludeOutboundPorts", P "excludeOutboundIPRanges"},
	 {"22", "10.0.0.0/8,bogus"},
	 -EINVAL,
	 UNSET,
	 "bad CIDR 'bogus' in '10.0.0.0/8,bogus'",
	 NULL},
	{{P "excludeOutboundPorts", P "excludeOutboundPorts"},
	 {"22", "23"},
	 -EINVAL,
	 UNSET,
	 "given twice",
	 NULL},
};

static void test_rows(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct shunt_workload_capture c;
		struct shunt_diags d = {0};
		char got[512];
		size_t n = 0;
		int err;

		while (n < 4 && r->keys[n])
			n++;
		memset(&c, 0x5a, sizeof(c)); /* must be fully overwritten */
		err = shunt_workload_capture_from_annotations(&c, r->keys, r->values, n,
							      "pod default/app", &d);
		render(&c, got, sizeof(got));
		CHECK(err == r->err, "row %zu: err %d, want %d", i, err, r->err);
		CHECK(!strcmp(got, r->want), "row %zu: got \"%s\", want \"%s\"", i, got, r->want);
		if (r->diag) {
			CHECK(d.n >= 1 && strstr(d.v[0].msg, r->diag), "row %zu: diag \"%s\"", i,
			      d.n ? d.v[0].msg : "(none)");
			if (d.n)
				CHECK_STR(d.v[0].file, "pod default/app");
			if (r->dpath && d.n)
				CHECK_STR(d.v[0].path, r->dpath);
		} else {
			CHECK(d.n == 0, "row %zu: unexpected diag \"%s\"", i,
			      d.n ? d.v[0].msg : "");
		}
		if (r->err == -EINVAL)
			CHECK(d.n >= 2 && strstr(d.v[d.n - 1].msg, "global capture settings apply"),
			      "row %zu: no closing diagnostic", i);
		CHECK(shunt_workload_capture_set(&c) == (strcmp(r->want, UNSET) != 0),
		      "row %zu: capture_set", i);
		shunt_workload_capture_free(&c);
		shunt_diags_free(&d);
	}
}

/* No diagnostics list (d == NULL) and a NULL value are fine. */
static void test_null(void)
{
	const char *k[] = {P "excludeOutboundPorts", P "includeInboundPorts"};
	const char *v[] = {"x", NULL};
	struct shunt_workload_capture c;

	CHECK(shunt_workload_capture_from_annotations(&c, k, v, 2, NULL, NULL) == -EINVAL,
	      "bad value without diags");
	CHECK(!shunt_workload_capture_set(&c), "unset after error");
	CHECK(shunt_workload_capture_from_annotations(&c, k + 1, v + 1, 1, NULL, NULL) == 0,
	      "NULL value = \"\"");
	CHECK(c.include_inbound == SHUNT_SEL_LIST && c.include_inbound_ports.n == 0,
	      "NULL value: no inbound port");
	shunt_workload_capture_free(&c);
}

int main(void)
{
	test_rows();
	test_null();
	return check_done("config_annotations");
}
