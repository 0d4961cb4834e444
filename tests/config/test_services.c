// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes Services (ClusterIP) in the L3/L4 policy: parse errors with
 * their positions, selector resolution, and the service entries derived from
 * the backends' entries (strictest backend verdict per source and port),
 * resolved with the lookup order the BPF side uses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "shunt/l4.h"
#include "shunt/policy.h"

#define ALLOW SHUNT_L4_ALLOW
#define DENY  SHUNT_L4_DENY
#define L7    SHUNT_L4_L7

/* ---- parse errors ---- */

struct ecase {
	const char *json, *want;
};

#define SVC(x)	  "{\"services\": [\n " x "\n]}\n"
#define IPS	  "\"clusterIPs\": [\"10.96.0.1\"]"
#define SEL	  "\"selector\": {\"a\": \"b\"}"
#define P80	  "\"ports\": [{\"port\": 80}]"
#define E(x)	  "t.json:" x "\n"
#define NOSEL_MSG "a service without selector has no backends shunt can know"

static const struct ecase ecases[] = {
	{SVC("{\"name\": \"s\", \"clusterIPs\": [\"10.96.0.300\"], " P80 ", " SEL "}"),
	 E("2:31: $.services[0].clusterIPs[0]: bad clusterIP '10.96.0.300': expected one IP "
	   "address such as \"10.96.0.10\" or \"fd00:96::a\"")},
	{SVC("{\"name\": \"s\", \"clusterIPs\": [\"10.96.0.0/24\"], " P80 ", " SEL "}"),
	 E("2:31: $.services[0].clusterIPs[0]: bad clusterIP '10.96.0.0/24': expected one IP "
	   "address such as \"10.96.0.10\" or \"fd00:96::a\"")},
	{SVC("{\"name\": \"s\", \"clusterIP\": \"None\", " P80 ", " SEL "}"),
	 E("2:29: $.services[0].clusterIP: headless services (clusterIP \"None\") have no "
	   "virtual IP; list the pods as workloads instead")},
	{SVC("{\"name\": \"s\", " IPS ", \"ports\": [{\"port\": 70000}], " SEL "}"),
	 E("2:64: $.services[0].ports[0].port: port 70000 is out of range; expected 1..65535")},
	{SVC("{\"name\": \"s\", " IPS
	     ", \"ports\": [{\"port\": 80, \"targetPort\": \"http\"}], " SEL "}"),
	 E("2:82: $.services[0].ports[0].targetPort: named targetPort 'http' is not supported; "
	   "give the container port number")},
	{SVC("{\"name\": \"s\", " IPS ", \"ports\": [{\"port\": 80, \"protocol\": \"HTTP\"}], " SEL
	     "}"),
	 E("2:80: $.services[0].ports[0].protocol: expected \"TCP\", \"UDP\" or \"SCTP\"")},
	{SVC("{\"name\": \"s\", " IPS ", \"ports\": [{\"port\": 80}, {\"port\": 80}], " SEL "}"),
	 E("2:78: $.services[0].ports[1].port: duplicate TCP port 80 in this service")},
	{SVC("{\"name\": \"s\", " IPS ", " P80 ", \"selector\": {}}"),
	 E("2:82: $.services[0].selector: empty selector: " NOSEL_MSG)},
	{SVC("{\"name\": \"s\", " IPS ", " P80 "}"),
	 E("2:2: $.services[0]: missing required key 'selector' (" NOSEL_MSG ")")},
	{SVC("{\"name\": \"s\", " P80 ", " SEL "}"),
	 E("2:2: $.services[0]: missing required key 'clusterIPs'")},
	{SVC("{\"name\": \"s\", " IPS ", \"ports\": [], " SEL "}"),
	 E("2:54: $.services[0].ports: empty list; a service needs at least one port")},
	{SVC("{\"name\": \"s\", " IPS ", " P80 ", " SEL "},\n {\"name\": \"s\", " IPS ", " P80
	     ", " SEL "}"),
	 E("3:11: $.services[1].name: duplicate service 'default/s' (also $.services[0])")
		 E("3:31: $.services[1].clusterIPs[0]: clusterIP 10.96.0.1 already belongs to "
		   "service 'default/s'")},
	{SVC("{\"name\": \"s\", \"type\": \"NodePort\", " IPS
	     ", \"ports\": [{\"port\": 80, \"nodePort\": 30080}], " SEL "}"),
	 E("2:24: $.services[0].type: only type \"ClusterIP\" is supported (NodePort, "
	   "LoadBalancer and ExternalName services are not judged)")
		 E("2:88: $.services[0].ports[0].nodePort: unknown key 'nodePort'; expected one "
		   "of 'name', 'port', 'targetPort', 'protocol'")},
	{"{\"workloads\": [{\"name\": \"w\", \"addresses\": [\"10.0.0.1\"]}],\n \"services\": "
	 "[{\"name\": \"s\", \"clusterIP\": \"10.0.0.1\", " P80 ", " SEL "}]}\n",
	 E("2:42: $.services[0].clusterIP: clusterIP 10.0.0.1 is an address of workload "
	   "'default/w'")},
	{SVC("{\"name\": \"S\", " IPS ", " P80 ", " SEL "}"),
	 E("2:11: $.services[0].name: 'S' is not a valid name; expected lower-case letters, "
	   "digits, '-' and '.'")},
	/* accepted: clusterIP repeated in clusterIPs, UDP port next to the TCP one */
	{"{\"services\": [{\"name\": \"s\", \"type\": \"ClusterIP\", \"clusterIP\": "
	 "\"10.96.0.1\", \"clusterIPs\": [\"10.96.0.1\", \"fd00::1\"], \"ports\": [{\"name\": "
	 "\"dns\", \"port\": 53, \"protocol\": \"UDP\"}, {\"port\": 53}], " SEL "}]}",
	 NULL},
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		struct shunt_config *c = NULL;
		struct shunt_diags d = {0};
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);
		int err = shunt_config_load_string(ecases[i].json, "t.json", &c, &d);

		if (!f) {
			CHECK(0, "open_memstream");
			continue;
		}
		shunt_diags_print(&d, f);
		fclose(f);
		if (ecases[i].want) {
			CHECK(err == -22 && !c, "case %zu: err %d", i, err);
			CHECK(out && !strcmp(out, ecases[i].want), "case %zu: got\n%swant\n%s", i,
			      out ? out : "", ecases[i].want);
		} else {
			CHECK(err == 0 && c, "case %zu: err %d:\n%s", i, err, out ? out : "");
			if (c) {
				const struct shunt_service *s = &c->services[0];

				CHECK(c->n_services == 1 && s->cluster_ips.n == 2 &&
					      s->cluster_ips.v[0].family == AF_INET &&
					      s->cluster_ips.v[0].prefix == 32 &&
					      s->cluster_ips.v[1].family == AF_INET6 &&
					      s->cluster_ips.v[1].prefix == 128,
				      "clusterIPs merged");
				CHECK(s->n_ports == 1 && s->ports[0].port == 53 &&
					      s->ports[0].target_port == 53 &&
					      !strcmp(s->ns, "default"),
				      "UDP skipped, targetPort and namespace defaults");
			}
		}
		free(out);
		shunt_diags_free(&d);
		shunt_config_free(c);
	}
}

/* ---- selection and entries ---- */

/* app1a/app1b: backends of default/app1 (app1b has an HTTP DENY rule: L7);
 * prod/app1: same labels, other namespace (never a backend of default/app1);
 * web: selected by no policy; p1/p2: only accept each other. */
static const char cfg_json[] =
	"{\"workloads\": ["
	" {\"name\": \"app1a\", \"serviceAccount\": \"app1\", \"labels\": {\"app\": \"app1\", "
	"\"version\": \"v1\"}, \"addresses\": [\"10.0.0.1\", \"fd00::1\"]},"
	" {\"name\": \"app1b\", \"serviceAccount\": \"app1\", \"labels\": {\"app\": \"app1\", "
	"\"version\": \"v2\"}, \"addresses\": [\"10.0.0.11\"]},"
	" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"addresses\": [\"10.0.0.2\"]},"
	" {\"name\": \"app3\", \"serviceAccount\": \"app3\", \"addresses\": [\"10.0.0.3\"]},"
	" {\"name\": \"app1\", \"namespace\": \"prod\", \"labels\": {\"app\": \"app1\"}, "
	"\"addresses\": [\"10.1.0.1\"]},"
	" {\"name\": \"web\", \"labels\": {\"app\": \"web\"}, \"addresses\": [\"10.0.0.5\"]},"
	" {\"name\": \"p1\", \"serviceAccount\": \"p1\", \"labels\": {\"app\": \"peer\", "
	"\"role\": \"a\"}, \"addresses\": [\"10.0.0.21\"]},"
	" {\"name\": \"p2\", \"serviceAccount\": \"p2\", \"labels\": {\"app\": \"peer\", "
	"\"role\": \"b\"}, \"addresses\": [\"10.0.0.22\"]}],"
	" \"authorizationPolicies\": ["
	" {\"metadata\": {\"name\": \"app1-from-app2\"}, \"spec\": {\"selector\": "
	"{\"matchLabels\": {\"app\": \"app1\"}}, \"rules\": [{\"from\": [{\"source\": "
	"{\"principals\": [\"cluster.local/ns/default/sa/app2\"]}}], \"to\": [{\"operation\": "
	"{\"ports\": [\"8080\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"v1-open-9000\"}, \"spec\": {\"selector\": "
	"{\"matchLabels\": {\"version\": \"v1\"}}, \"rules\": [{\"to\": [{\"operation\": "
	"{\"ports\": [\"9000\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"v2-no-admin\"}, \"spec\": {\"selector\": "
	"{\"matchLabels\": {\"version\": \"v2\"}}, \"action\": \"DENY\", \"rules\": [{\"to\": "
	"[{\"operation\": {\"paths\": [\"/admin\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"a-from-p2\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"role\": \"a\"}}, \"rules\": [{\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/p2\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"b-from-p1\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"role\": \"b\"}}, \"rules\": [{\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/p1\"]}}]}]}}],"
	" \"services\": ["
	" {\"name\": \"app1\", \"clusterIPs\": [\"10.96.0.10\", \"fd00:96::a\"], \"ports\": ["
	"  {\"port\": 80, \"targetPort\": 8080}, {\"port\": 90, \"targetPort\": 9000},"
	"  {\"port\": 81}, {\"port\": 53, \"protocol\": \"UDP\"}], \"selector\": {\"app\": "
	"\"app1\"}},"
	" {\"name\": \"app1-v1\", \"clusterIPs\": [\"10.96.0.11\"], \"ports\": [{\"port\": 90, "
	"\"targetPort\": 9000}], \"selector\": {\"app\": \"app1\", \"version\": \"v1\"}},"
	" {\"name\": \"web\", \"clusterIPs\": [\"10.96.0.12\"], \"ports\": [{\"port\": 80}], "
	"\"selector\": {\"app\": \"web\"}},"
	" {\"name\": \"peer\", \"clusterIPs\": [\"10.96.0.13\"], \"ports\": [{\"port\": 7}], "
	"\"selector\": {\"app\": \"peer\"}}]}";

enum { APP1A, APP1B, APP2, APP3, PROD1, WEB, P1, P2 };
enum { S_APP1, S_APP1V1, S_WEB, S_PEER };

struct scase {
	int src; /* workload index, -1 world */
	int svc;
	uint16_t port;
	uint8_t want, want_noproxy;
};

static const struct scase scases[] = {
	/* port 80 -> 8080: app2 allowed on both backends, but app1b's HTTP DENY
	 * rule needs the proxy (without proxy it widens to deny) */
	{APP2, S_APP1, 80, L7, DENY},
	{APP3, S_APP1, 80, DENY, DENY},
	{-1, S_APP1, 80, DENY, DENY},
	{PROD1, S_APP1, 80, DENY, DENY},
	/* port 90 -> 9000: open on app1a only: the strictest backend (app1b) wins */
	{APP2, S_APP1, 90, DENY, DENY},
	{APP3, S_APP1, 90, DENY, DENY},
	/* port 81 -> 81: nobody */
	{APP2, S_APP1, 81, DENY, DENY},
	/* ports the service does not list (53 is UDP only): nothing */
	{APP2, S_APP1, 53, DENY, DENY},
	{APP2, S_APP1, 8080, DENY, DENY},
	/* app1-v1: app1a alone, 9000 open to everybody */
	{APP3, S_APP1V1, 90, ALLOW, ALLOW},
	{-1, S_APP1V1, 90, ALLOW, ALLOW},
	{APP3, S_APP1V1, 91, DENY, DENY},
	/* web: no policy selects its backend: allowed like the workload */
	{APP3, S_WEB, 80, ALLOW, ALLOW},
	{-1, S_WEB, 1234, ALLOW, ALLOW},
	/* peer: p1 may reach p2 and may land on itself (never judged) */
	{P1, S_PEER, 7, ALLOW, ALLOW},
	{P2, S_PEER, 7, ALLOW, ALLOW},
	{APP2, S_PEER, 7, DENY, DENY},
};

static uint32_t id_of(int w)
{
	return w < 0 ? SHUNT_IDENTITY_WORLD : shunt_identity_of(w);
}

static size_t count_dst(const struct shunt_l4_entry *v, size_t n, uint32_t dst)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += v[i].dst_identity == dst;
	return k;
}

static void test_entries(void)
{
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL, *p0 = NULL;
	struct shunt_diags d = {0};
	int err = shunt_config_load_string(cfg_json, "svc.json", &c, &d);
	size_t nsvc;

	shunt_diags_print(&d, stderr);
	CHECK(err == 0, "load: %d", err);
	if (err)
		goto cleanup;
	/* selector resolution: namespace and every label */
	CHECK(shunt_service_selects(&c->services[S_APP1], &c->workloads[APP1A]), "app1a");
	CHECK(shunt_service_selects(&c->services[S_APP1], &c->workloads[APP1B]), "app1b");
	CHECK(!shunt_service_selects(&c->services[S_APP1], &c->workloads[PROD1]), "other ns");
	CHECK(!shunt_service_selects(&c->services[S_APP1], &c->workloads[APP2]), "no labels");
	CHECK(!shunt_service_selects(&c->services[S_APP1V1], &c->workloads[APP1B]), "v2");
	CHECK(shunt_service_selects(&c->services[S_APP1V1], &c->workloads[APP1A]), "v1");
	CHECK(shunt_service_identity(0) == SHUNT_IDENTITY_SERVICE_FIRST &&
		      shunt_service_identity(3) > shunt_identity_of((int)c->n_workloads),
	      "service identities above every workload identity");
	CHECK(shunt_policy_compile(c, &p, &d) == 0, "compile");
	/* the same config without its services: the workload entries alone */
	nsvc = c->n_services;
	c->n_services = 0;
	CHECK(shunt_policy_compile(c, &p0, &d) == 0, "compile without services");
	c->n_services = nsvc;
	for (int noproxy = 0; p && p0 && noproxy < 2; noproxy++) {
		unsigned flags = noproxy ? SHUNT_L4_NO_PROXY : 0;
		struct shunt_l4_entry *wv = NULL, *v = NULL;
		size_t wn = 0, n = 0;

		err = shunt_policy_l4_entries_opts(p0, flags, &wv, &wn);
		if (!err)
			err = shunt_policy_l4_entries_opts(p, flags, &v, &n);
		CHECK(err == 0, "entries: %d", err);
		if (err) {
			free(wv);
			free(v);
			continue;
		}
		for (size_t i = 0; i < sizeof(scases) / sizeof(scases[0]); i++) {
			const struct scase *t = &scases[i];
			uint8_t got =
				shunt_l4_lookup(v, n, id_of(t->src),
						shunt_service_identity((size_t)t->svc), t->port);
			uint8_t want = noproxy ? t->want_noproxy : t->want;

			CHECK(got == want,
			      "noproxy=%d case %zu (src %d svc %d port %u): got %u want %u",
			      noproxy, i, t->src, t->svc, t->port, got, want);
		}
		/* the workload entries are all still there, unchanged */
		for (size_t i = 0; i < wn; i++)
			CHECK(shunt_l4_lookup(v, n, wv[i].src_identity, wv[i].dst_identity,
					      wv[i].port) == wv[i].verdict,
			      "workload entry %zu", i);
		/* small: web has none; app1: (ANY, 0) + app2's port 80 entry
		 * (+ ANY for 80 is DENY = the port-0 value, so not emitted) */
		CHECK(count_dst(v, n, shunt_service_identity(S_WEB)) == 0, "web: no entries");
		CHECK(count_dst(v, n, shunt_service_identity(S_APP1)) == (noproxy ? 1u : 2u),
		      "app1: %zu entries", count_dst(v, n, shunt_service_identity(S_APP1)));
		CHECK(n == wn + count_dst(v, n, shunt_service_identity(S_APP1)) +
				      count_dst(v, n, shunt_service_identity(S_APP1V1)) +
				      count_dst(v, n, shunt_service_identity(S_PEER)),
		      "only service entries added");
		for (size_t i = 1; i < n; i++)
			CHECK(v[i - 1].dst_identity < v[i].dst_identity ||
				      (v[i - 1].dst_identity == v[i].dst_identity &&
				       (v[i - 1].src_identity < v[i].src_identity ||
					(v[i - 1].src_identity == v[i].src_identity &&
					 v[i - 1].port < v[i].port))),
			      "sorted at %zu", i);
		free(wv);
		free(v);
	}
	/* the L7 verdict (the proxy's): a clusterIP resolves to n_w + service
	 * index and is judged by every backend on the targetPort */
	if (p) {
		static const struct {
			int src, svc;
			uint16_t port;
			const char *path;
			enum shunt_action want;
			const char *policy;
		} lc[] = {
			{APP2, S_APP1, 80, "/x", SHUNT_ALLOW, "default/app1-from-app2"},
			{APP2, S_APP1, 80, "/admin", SHUNT_DENY, "default/v2-no-admin"},
			{APP3, S_APP1, 80, "/x", SHUNT_DENY, "default-deny"},
			{APP2, S_APP1, 90, "/x", SHUNT_DENY, "default-deny"},
			{APP2, S_APP1, 53, "/x", SHUNT_DENY, "default-deny"},
			{APP3, S_APP1V1, 90, "/x", SHUNT_ALLOW, "default/v1-open-9000"},
			{APP3, S_WEB, 80, "/x", SHUNT_ALLOW, NULL},
			{P1, S_PEER, 7, "/x", SHUNT_ALLOW, "default/b-from-p1"},
			{APP2, S_PEER, 7, "/x", SHUNT_DENY, "default-deny"},
		};
		static const char *const vips[] = {"10.96.0.10", "fd00:96::a", "10.96.0.11",
						   "10.96.0.12", "10.96.0.13"};
		static const int vip_svc[] = {S_APP1, S_APP1, S_APP1V1, S_WEB, S_PEER};
		int nw = shunt_policy_workload_count(p);

		for (size_t i = 0; i < sizeof(vips) / sizeof(vips[0]); i++) {
			struct sockaddr_storage ss = {0};
			if (!strchr(vips[i], ':')) {
				struct sockaddr_in *in = (struct sockaddr_in *)&ss;

				in->sin_family = AF_INET;
				CHECK(inet_pton(AF_INET, vips[i], &in->sin_addr) == 1, "%s",
				      vips[i]);
			} else {
				struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

				in6->sin6_family = AF_INET6;
				CHECK(inet_pton(AF_INET6, vips[i], &in6->sin6_addr) == 1, "%s",
				      vips[i]);
			}
			CHECK(shunt_policy_workload_by_addr(p, (struct sockaddr *)&ss) ==
				      nw + vip_svc[i],
			      "VIP %s -> service %d", vips[i], vip_svc[i]);
			CHECK(shunt_policy_workload_name(p, nw + vip_svc[i]) == NULL, "no name");
		}
		for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
			struct shunt_l7_query q = {0};
			struct shunt_verdict v;
			int e;

			q.src_workload = lc[i].src;
			q.dst_workload = nw + lc[i].svc;
			q.dst_port = lc[i].port;
			q.method = "GET";
			q.method_len = 3;
			q.path = lc[i].path;
			q.path_len = strlen(lc[i].path);
			e = shunt_policy_l7_verdict(p, &q, &v);
			CHECK(e == 0 && v.action == lc[i].want &&
				      (lc[i].policy ? v.policy && !strcmp(v.policy, lc[i].policy)
						    : !v.policy),
			      "L7 case %zu: err %d action %d policy %s", i, e, v.action,
			      v.policy ? v.policy : "(none)");
		}
		{
			struct shunt_l7_query q = {.src_workload = APP2, .dst_workload = nw + 4};
			struct shunt_verdict v;

			CHECK(shunt_policy_l7_verdict(p, &q, &v) == -EINVAL, "beyond the services");
		}
	}
	/* shuntctl validate's summary lists services, backends and entries */
	if (p) {
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		if (f) {
			shunt_config_summary(c, p, f);
			fclose(f);
		}
		CHECK(out && strstr(out, "services (4):\n  default/app1  clusterIPs 10.96.0.10 "
					 "fd00:96::a ports 80->8080 90->9000 81->81 selector "
					 "app=app1\n    backends: default/app1a default/app1b\n"),
		      "summary:\n%s", out ? out : "");
		CHECK(out && strstr(out, "    port 80      default/app2: L7 proxy decides\n"),
		      "summary entries");
		CHECK(out && strstr(out, "no policy selects a backend: every caller allowed"),
		      "summary web");
		free(out);
	}
cleanup:
	shunt_policy_free(p0);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
}

int main(void)
{
	test_errors();
	test_entries();
	return check_done("config_services");
}
