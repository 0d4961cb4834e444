// SPDX-License-Identifier: Apache-2.0
/*
 * Import of kubectl JSON (Istio AuthorizationPolicy v1/v1beta1 lists and
 * single objects, CiliumNetworkPolicy with HTTP rules): conversion,
 * semantics of the result, round trip through the native form, and exact
 * errors for what cannot be converted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "shunt/policy.h"

static const char *datadir = ".";

#include "import_workloads.h"

struct vq {
	const char *src; /* workload name or NULL */
	const char *ip;	 /* source address or NULL */
	uint16_t port;
	const char *method, *path;
	int want;
	const char *policy;
};

static int widx(const struct shunt_policy *p, const char *name)
{
	for (int i = 0; i < shunt_policy_workload_count(p); i++)
		if (!strcmp(shunt_policy_workload_name(p, i), name))
			return i;
	return -1;
}

static void verdicts(const char *label, const struct shunt_config *c, const struct vq *t, size_t n)
{
	struct shunt_policy *p = NULL;
	struct shunt_diags d = {0};
	int err = shunt_policy_compile(c, &p, &d);

	CHECK(err == 0, "%s: compile %d", label, err);
	for (size_t i = 0; !err && i < n; i++) {
		struct sockaddr_storage ss = {0};
		struct shunt_l7_query q = {0};
		struct shunt_verdict v;

		q.src_workload = t[i].src ? widx(p, t[i].src) : -1;
		q.dst_workload = widx(p, "default/app1");
		if (t[i].ip) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			in->sin_family = AF_INET;
			inet_pton(AF_INET, t[i].ip, &in->sin_addr);
			q.src_addr = (struct sockaddr *)&ss;
		}
		q.dst_port = t[i].port;
		q.method = t[i].method;
		q.method_len = strlen(t[i].method);
		q.path = t[i].path;
		q.path_len = strlen(t[i].path);
		shunt_policy_l7_verdict(p, &q, &v);
		CHECK((int)v.action == t[i].want && v.policy && !strcmp(v.policy, t[i].policy),
		      "%s[%zu]: %s %s:%u got %d %s want %d %s", label, i, t[i].method, t[i].path,
		      t[i].port, v.action, v.policy ? v.policy : "-", t[i].want, t[i].policy);
	}
	shunt_policy_free(p);
	shunt_diags_free(&d);
}

/* One verdict to any destination. */
static int verdict_to(const struct shunt_policy *p, const char *src, const char *ip,
		      const char *dst, uint16_t port, const char **pol)
{
	struct sockaddr_storage ss = {0};
	struct shunt_l7_query q = {.src_workload = src ? widx(p, src) : -1,
				   .dst_workload = widx(p, dst),
				   .dst_port = port,
				   .method = "GET",
				   .method_len = 3,
				   .path = "/",
				   .path_len = 1};
	struct shunt_verdict v;

	if (ip) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &in->sin_addr);
		q.src_addr = (struct sockaddr *)&ss;
	}
	shunt_policy_l7_verdict(p, &q, &v);
	*pol = v.policy ? v.policy : "(none)";
	return v.action;
}

static struct shunt_config *load_base(void)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	int err = shunt_config_load_string(base_json, "base.json", &c, &d);

	shunt_diags_print(&d, stderr);
	CHECK(err == 0, "base load %d", err);
	shunt_diags_free(&d);
	return c;
}

static char *data_path(const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", datadir, name) < 0)
		return NULL;
	return p;
}

static char *write_policies(const struct shunt_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(shunt_config_write_policies(c, f) == 0, "write");
	fclose(f);
	return buf;
}

/* native text -> load (with the same workloads) -> write again: identical,
 * and the reloaded config decides every query the same way */
static void round_trip(const char *label, const struct shunt_config *c, const struct vq *t,
		       size_t n)
{
	char *t1 = write_policies(c), *t2 = NULL, *combined = NULL;
	struct shunt_config *c2 = NULL;
	struct shunt_diags d = {0};
	int err;

	if (!t1 || asprintf(&combined, "{" WORKLOADS ",%s", strchr(t1, '{') + 1) < 0)
		goto cleanup;
	err = shunt_config_load_string(combined, "roundtrip.json", &c2, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0, "%s: reload native form: %d", label, err);
	if (err)
		goto cleanup;
	t2 = write_policies(c2);
	CHECK(t2 && !strcmp(t1, t2), "%s: round trip differs:\n%s\n---\n%s", label, t1,
	      t2 ? t2 : "");
	verdicts(label, c2, t, n);
cleanup:
	free(t1);
	free(t2);
	free(combined);
	shunt_config_free(c2);
	shunt_diags_free(&d);
}

static char *import_errors(const char *file, int *err_out, size_t *npol_before, size_t *npol_after)
{
	struct shunt_config *c = load_base();
	struct shunt_diags d = {0};
	char *path = data_path(file), *buf = NULL;
	size_t len = 0;
	FILE *f;

	*npol_before = c ? c->n_policies : 0;
	*err_out = c ? shunt_config_import_file(c, path, &d) : -1;
	*npol_after = c ? c->n_policies : 0;
	f = open_memstream(&buf, &len);
	shunt_diags_print(&d, f);
	fclose(f);
	shunt_diags_free(&d);
	shunt_config_free(c);
	free(path);
	return buf;
}

#define A SHUNT_ALLOW
#define D SHUNT_DENY

static const struct vq istio_q[] = {
	{"default/app2", NULL, 80, "GET", "/public/x", A, "default/app1-viewer"},
	{"default/app2", NULL, 80, "HEAD", "/api/v1/users/7", A, "default/app1-viewer"},
	{"default/app2", NULL, 80, "GET", "/api/v1/users/7/x", D, "default-deny"},
	{"default/app2", NULL, 80, "POST", "/public/x", D, "default-deny"},
	{"default/app3", NULL, 80, "GET", "/public/x", D, "default-deny"},
	{"monitoring/prom", "10.0.9.1", 80, "GET", "/x", D, "default/app1-deny-admin"},
	{"monitoring/prom", "10.0.9.1", 80, "GET", "/public/x", D, "default-deny"},
	{NULL, "203.0.113.5", 80, "GET", "/x", D, "default/app1-deny-admin"},
	{"default/app2", "10.0.0.2", 8080, "GET", "/x", D, "default-deny"},
};

static const struct vq cilium_q[] = {
	{"default/app2", NULL, 80, "GET", "/public/x", A, "default/app1-l7"},
	{"default/app2", NULL, 80, "HEAD", "/healthz", A, "default/app1-l7"},
	{"default/app2", NULL, 80, "POST", "/public/x", D, "default-deny"},
	{"default/app2", NULL, 81, "GET", "/public/x", D, "default-deny"},
	{"default/app3", NULL, 80, "GET", "/public/x", D, "default-deny"},
	{"monitoring/prom", "10.0.9.1", 9090, "GET", "/metrics", A, "default/app1-l7"},
	{"monitoring/prom", "10.0.9.1", 80, "GET", "/public/x", D, "default-deny"},
	{NULL, "203.0.113.5", 9090, "GET", "/", D, "default/app1-l7-deny"},
	{NULL, "203.0.113.9", 9090, "GET", "/", D, "default-deny"},
};

int main(int argc, char **argv)
{
	struct shunt_diags d = {0};
	struct shunt_config *c;
	char *path, *out;
	int err;
	size_t before, after;

	if (argc > 1)
		datadir = argv[1];

	/* Istio List (v1 + v1beta1, full kubectl metadata and status) */
	c = load_base();
	path = data_path("istio-list.json");
	err = shunt_config_import_file(c, path, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0 && c->n_policies == 2, "istio import %d n=%zu", err, c->n_policies);
	if (!err) {
		CHECK_STR(c->policies[0].name, "app1-viewer");
		CHECK(c->policies[1].action == SHUNT_ACTION_DENY, "action");
		verdicts("istio", c, istio_q, sizeof(istio_q) / sizeof(istio_q[0]));
		round_trip("istio-rt", c, istio_q, sizeof(istio_q) / sizeof(istio_q[0]));
		/* importing the same objects again: duplicates, config unchanged */
		shunt_diags_free(&d);
		err = shunt_config_import_file(c, path, &d);
		CHECK(err == -EINVAL && c->n_policies == 2 && d.n == 2, "dup import %d %zu", err,
		      d.n);
		CHECK(d.n && strstr(d.v[0].msg, "duplicate policy 'default/app1-viewer'"),
		      "dup msg");
		CHECK(d.n && d.v[0].line == 4 && d.v[0].column == 9, "dup pos %d:%d",
		      d.n ? d.v[0].line : 0, d.n ? d.v[0].column : 0);
	}
	free(path);
	shunt_diags_free(&d);
	shunt_config_free(c);

	/* single object: spec {} is ALLOW with no rules (deny all in prod) */
	c = load_base();
	path = data_path("istio-single.json");
	err = shunt_config_import_file(c, path, &d);
	CHECK(err == 0 && c->n_policies == 1 && c->policies[0].action == SHUNT_ACTION_ALLOW &&
		      c->policies[0].n_rules == 0 && !c->policies[0].has_selector,
	      "single %d", err);
	free(path);
	shunt_diags_free(&d);
	shunt_config_free(c);

	/* Cilium: ingress -> ALLOW (the empty rule selects nothing), ingressDeny -> DENY */
	c = load_base();
	path = data_path("cilium-l7.json");
	err = shunt_config_import_file(c, path, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0 && c->n_policies == 2, "cilium import %d n=%zu", err, c->n_policies);
	if (!err) {
		CHECK_STR(c->policies[0].name, "app1-l7");
		CHECK_STR(c->policies[1].name, "app1-l7-deny");
		CHECK(c->policies[0].n_rules == 2, "rules %zu", c->policies[0].n_rules);
		verdicts("cilium", c, cilium_q, sizeof(cilium_q) / sizeof(cilium_q[0]));
		round_trip("cilium-rt", c, cilium_q, sizeof(cilium_q) / sizeof(cilium_q[0]));
	}
	free(path);
	shunt_diags_free(&d);
	shunt_config_free(c);

	/* Cilium List: fromEntities cluster/world, port 0 = all ports, and a
	 * policy with only ingressDeny (still default deny, as in Cilium) */
	c = load_base();
	path = data_path("cilium-list.json");
	err = shunt_config_import_file(c, path, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0 && c->n_policies == 3, "cilium list %d n=%zu", err, c->n_policies);
	if (!err) {
		struct shunt_policy *p = NULL;
		const char *pol;

		CHECK(shunt_policy_compile(c, &p, &d) == 0, "compile");
		CHECK(verdict_to(p, "default/app1", NULL, "default/app3", 8080, &pol) == A &&
			      !strcmp(pol, "default/app3-entities"),
		      "cluster any port: %s", pol);
		CHECK(verdict_to(p, NULL, "198.51.100.1", "default/app3", 443, &pol) == A &&
			      !strcmp(pol, "default/app3-entities"),
		      "world 443: %s", pol);
		CHECK(verdict_to(p, NULL, "198.51.100.1", "default/app3", 80, &pol) == D &&
			      !strcmp(pol, "default-deny"),
		      "world 80: %s", pol);
		CHECK(verdict_to(p, "default/app3", NULL, "default/app2", 80, &pol) == D &&
			      !strcmp(pol, "default/app2-deny-only-deny"),
		      "deny-only: %s", pol);
		CHECK(verdict_to(p, "default/app1", NULL, "default/app2", 80, &pol) == D &&
			      !strcmp(pol, "default-deny"),
		      "deny-only default deny: %s", pol);
		shunt_policy_free(p);
	}
	free(path);
	shunt_diags_free(&d);
	shunt_config_free(c);

	/* CiliumClusterwideNetworkPolicy: lands in the root namespace and applies
	 * everywhere; its selectors see every namespace */
	c = load_base();
	path = data_path("ccnp.json");
	err = shunt_config_import_file(c, path, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0 && c->n_policies == 2, "ccnp %d n=%zu", err, c->n_policies);
	if (!err) {
		struct shunt_policy *p = NULL;
		const char *pol;

		CHECK_STR(c->policies[0].ns, "shunt-system");
		CHECK(shunt_policy_compile(c, &p, &d) == 0, "compile");
		CHECK(verdict_to(p, "default/app1", NULL, "default/app2", 80, &pol) == A &&
			      !strcmp(pol, "shunt-system/mesh-baseline"),
		      "cluster: %s", pol);
		CHECK(verdict_to(p, "monitoring/prom", NULL, "default/app2", 80, &pol) == A,
		      "other namespace: %s", pol);
		CHECK(verdict_to(p, NULL, "198.51.100.7", "default/app2", 80, &pol) == D &&
			      !strcmp(pol, "default-deny"),
		      "world: %s", pol);
		CHECK(verdict_to(p, "default/app3", NULL, "monitoring/prom", 22, &pol) == D &&
			      !strcmp(pol, "shunt-system/mesh-baseline-deny"),
		      "deny app3 ssh: %s", pol);
		CHECK(verdict_to(p, "default/app3", NULL, "monitoring/prom", 80, &pol) == A,
		      "app3 80: %s", pol);
		shunt_policy_free(p);
	}
	free(path);
	shunt_diags_free(&d);
	shunt_config_free(c);

	/* unsupported Istio features: every one named, nothing imported */
	out = import_errors("bad-istio.json", &err, &before, &after);
	CHECK(err == -EINVAL && before == after, "bad istio %d", err);
	CHECK(out &&
		      strstr(out, ":8:32: $.items[0].spec.action: action CUSTOM (external "
				  "authorization) is not supported by shunt") &&
		      strstr(out, ":8:42: $.items[0].spec.provider: 'provider' belongs to action "
				  "CUSTOM") &&
		      strstr(out,
			     ":14:54: $.items[1].spec.rules[0].from[0].source.requestPrincipals: "
			     "'requestPrincipals' (JWT request principals) is not supported") &&
		      strstr(out, ":15:50: $.items[1].spec.rules[0].when[0].key: condition "
				  "'request.auth.claims[groups]' (JWT claims) is not supported by "
				  "shunt") &&
		      strstr(out,
			     ":19:21: $.items[2].kind: unsupported kind 'NetworkPolicy'; expected "
			     "AuthorizationPolicy, CiliumNetworkPolicy, "
			     "CiliumClusterwideNetworkPolicy or a List of them"),
	      "bad istio output:\n%s", out ? out : "");
	free(out);

	/* unsupported Cilium features */
	out = import_errors("bad-cilium.json", &err, &before, &after);
	CHECK(err == -EINVAL && before == after, "bad cilium %d", err);
	CHECK(out &&
		      strstr(out, "$.spec.egress: 'egress' is not supported: shunt enforces at the "
				  "destination") &&
		      strstr(out, "$.spec.ingress[0].fromEndpoints[0]: selector matches no "
				  "workload in namespace 'default'") &&
		      strstr(out, "$.spec.ingress[0].toPorts[0].ports[0].protocol: only TCP is "
				  "supported by shunt") &&
		      strstr(out, "$.spec.ingress[0].toPorts[0].rules.http[0].headers: 'headers' "
				  "is not supported") &&
		      strstr(out, "$.spec.ingress[0].toPorts[0].rules.http[0].path: path regex "
				  "'/api/v[0-9]+/.*' is not supported"),
	      "bad cilium output:\n%s", out ? out : "");
	free(out);
	return check_done("test_import");
}
