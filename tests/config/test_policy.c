// SPDX-License-Identifier: Apache-2.0
/*
 * POLICY.md semantics, table-driven: evaluation order (DENY, then ALLOW,
 * default deny/allow), selectors and namespaces, not-forms, methods, hosts,
 * ports, ipBlocks, path patterns and templates, normalization before
 * matching, AUDIT, and incremental update equivalence.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "shunt/policy.h"

struct q {
	const char *src;   /* "ns/name", "-" unknown */
	const char *srcip; /* NULL: the workload's first address or none */
	const char *dst;   /* "ns/name" */
	uint16_t port;
	const char *method;
	const char *target; /* raw request target */
	const char *host;
	int want;	    /* SHUNT_ALLOW / SHUNT_DENY, or -1: malformed (400) */
	const char *policy; /* expected deciding policy (NULL: none) */
	const char *audit;  /* expected audit policy or NULL */
};

static int find_workload(const struct shunt_policy *p, const char *name)
{
	for (int i = 0; i < shunt_policy_workload_count(p); i++)
		if (!strcmp(shunt_policy_workload_name(p, i), name))
			return i;
	return -1;
}

static void run(const char *label, const struct shunt_policy *p, const struct q *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct q *c = &t[i];
		struct sockaddr_storage ss = {0};
		struct shunt_l7_query q = {0};
		struct shunt_verdict v;
		char path[512];
		size_t plen;
		const char *why;
		int err;

		q.src_workload = strcmp(c->src, "-") ? find_workload(p, c->src) : -1;
		q.dst_workload = find_workload(p, c->dst);
		CHECK(strcmp(c->src, "-") == 0 || q.src_workload >= 0, "%s[%zu]: no src %s", label,
		      i, c->src);
		CHECK(q.dst_workload >= 0, "%s[%zu]: no dst %s", label, i, c->dst);
		if (c->srcip) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			if (inet_pton(AF_INET, c->srcip, &in->sin_addr) == 1)
				in->sin_family = AF_INET;
			else if (inet_pton(AF_INET6, c->srcip, &in6->sin6_addr) == 1)
				in6->sin6_family = AF_INET6;
			q.src_addr = (struct sockaddr *)&ss;
			/* the registry must agree with the table */
			if (q.src_workload >= 0)
				CHECK(shunt_policy_workload_by_addr(p, q.src_addr) ==
					      q.src_workload,
				      "%s[%zu]: address %s not resolved to %s", label, i, c->srcip,
				      c->src);
		}
		q.dst_port = c->port;
		q.method = c->method;
		q.method_len = strlen(c->method);
		err = shunt_path_normalize(shunt_policy_norm_opts(p), c->target, strlen(c->target),
					   path, sizeof(path), &plen, NULL, NULL, &why);
		if (c->want < 0) {
			CHECK(err == -EINVAL, "%s[%zu]: %s should be malformed", label, i,
			      c->target);
			continue;
		}
		CHECK(err == 0, "%s[%zu]: normalize %s: %d", label, i, c->target, err);
		if (err)
			continue;
		q.path = path;
		q.path_len = plen;
		q.host = c->host;
		q.host_len = c->host ? strlen(c->host) : 0;
		err = shunt_policy_l7_verdict(p, &q, &v);
		CHECK(err == 0, "%s[%zu]: verdict err %d", label, i, err);
		CHECK((int)v.action == c->want, "%s[%zu]: %s %s %s -> %s:%u: got %s (%s) want %s",
		      label, i, c->src, c->method, c->target, c->dst, c->port,
		      v.action == SHUNT_ALLOW ? "ALLOW" : "DENY", v.policy ? v.policy : "-",
		      c->want == SHUNT_ALLOW ? "ALLOW" : "DENY");
		CHECK((c->policy == NULL && v.policy == NULL) ||
			      (c->policy && v.policy && !strcmp(c->policy, v.policy)),
		      "%s[%zu]: %s %s: policy %s want %s", label, i, c->method, c->target,
		      v.policy ? v.policy : "(none)", c->policy ? c->policy : "(none)");
		CHECK((c->audit == NULL && !v.audit) || (c->audit && v.audit && v.audit_policy &&
							 !strcmp(c->audit, v.audit_policy)),
		      "%s[%zu]: audit %s want %s", label, i, v.audit_policy ? v.audit_policy : "-",
		      c->audit ? c->audit : "-");
	}
}

static struct shunt_policy *compile(const char *json, struct shunt_config **cfg)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL;
	int err = shunt_config_load_string(json, "t.json", &c, &d);

	if (err)
		shunt_diags_print(&d, stderr);
	CHECK(err == 0, "load: %d", err);
	if (!err) {
		err = shunt_policy_compile(c, &p, &d);
		CHECK(err == 0, "compile: %d", err);
	}
	shunt_diags_free(&d);
	if (cfg)
		*cfg = c;
	else
		shunt_config_free(c);
	return p;
}

/* ---- the seed example (same as config/default.json) ---- */
static const char seed_json[] = "{\"workloads\": ["
				" {\"name\": \"app1\", \"serviceAccount\": \"app1\", \"labels\": "
				"{\"app\": \"app1\"}, \"addresses\": [\"10.0.0.1\"]},"
				" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"labels\": "
				"{\"app\": \"app2\"}, \"addresses\": [\"10.0.0.2\"]},"
				" {\"name\": \"app3\", \"serviceAccount\": \"app3\", \"labels\": "
				"{\"app\": \"app3\"}, \"addresses\": [\"10.0.0.3\"]}],"
				" \"authorizationPolicies\": ["
				" {\"metadata\": {\"name\": \"app1-from-app2\"}, \"spec\": "
				"{\"selector\": {\"matchLabels\": {\"app\": \"app1\"}},"
				"  \"rules\": [{\"from\": [{\"source\": {\"principals\": "
				"[\"cluster.local/ns/default/sa/app2\"]}}],"
				"             \"to\": [{\"operation\": {\"methods\": [\"GET\"], "
				"\"paths\": [\"/public/*\"], \"ports\": [\"80\"]}}]}]}},"
				" {\"metadata\": {\"name\": \"app1-no-restricted\"}, \"spec\": "
				"{\"selector\": {\"matchLabels\": {\"app\": \"app1\"}},"
				"  \"action\": \"DENY\", \"rules\": [{\"to\": [{\"operation\": "
				"{\"paths\": [\"/restricted\", \"/restricted/*\"]}}]}]}}]}";

#define A SHUNT_ALLOW
#define D SHUNT_DENY
#define M (-1)
static const struct q seed_q[] = {
	{"default/app2", "10.0.0.2", "default/app1", 80, "GET", "/public/x", NULL, A,
	 "default/app1-from-app2", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/a/b?x=1", NULL, A,
	 "default/app1-from-app2", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public", NULL, D, "default-deny", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/", NULL, A,
	 "default/app1-from-app2", NULL},
	{"default/app3", "10.0.0.3", "default/app1", 80, "GET", "/public/x", NULL, D,
	 "default-deny", NULL},
	{"-", "192.168.1.1", "default/app1", 80, "GET", "/public/x", NULL, D, "default-deny", NULL},
	{"default/app2", NULL, "default/app1", 80, "POST", "/public/x", NULL, D, "default-deny",
	 NULL},
	{"default/app2", NULL, "default/app1", 80, "HEAD", "/public/x", NULL, D, "default-deny",
	 NULL},
	{"default/app2", NULL, "default/app1", 80, "get", "/public/x", NULL, D, "default-deny",
	 NULL},
	{"default/app2", NULL, "default/app1", 8080, "GET", "/public/x", NULL, D, "default-deny",
	 NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restricted/", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restricted/x/y", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restrictedx", NULL, D, "default-deny",
	 NULL},
	/* bypass attempts are normalized first */
	{"default/app2", NULL, "default/app1", 80, "GET", "//restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/../restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/..;/restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/%2e%2e/restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public\\..\\restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restricted;x", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/%72estricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/restricted?/public/x", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "http://app1/restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/x/../../restricted", NULL, D,
	 "default/app1-no-restricted", NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public%2F..%2Frestricted", NULL, M,
	 NULL, NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/public/x#/../restricted", NULL, M, NULL,
	 NULL},
	{"default/app2", NULL, "default/app1", 80, "GET", "/Restricted", NULL, D, "default-deny",
	 NULL},
	{"default/app2", NULL, "default/app1", 80, "OPTIONS", "*", NULL, D, "default-deny", NULL},
	/* destinations no policy selects: allowed, no deciding policy */
	{"default/app1", NULL, "default/app3", 80, "GET", "/restricted", NULL, A, NULL, NULL},
	{"-", NULL, "default/app2", 9999, "DELETE", "/x", NULL, A, NULL, NULL},
};

/* ---- Istio semantics beyond the seed ---- */
static const char sem_json[] =
	"{\"workloads\": ["
	" {\"name\": \"web\", \"namespace\": \"prod\", \"serviceAccount\": \"web\", \"labels\": "
	"{\"app\": \"web\"}, \"addresses\": [\"10.1.0.1\", \"fd00::1\"]},"
	" {\"name\": \"db\", \"namespace\": \"prod\", \"serviceAccount\": \"db\", \"labels\": "
	"{\"app\": \"db\"}, \"addresses\": [\"10.1.0.2\"]},"
	" {\"name\": \"api\", \"namespace\": \"prod\", \"serviceAccount\": \"api\", \"labels\": "
	"{\"app\": \"api\", \"tier\": \"be\"}, \"addresses\": [\"10.1.0.3\"]},"
	" {\"name\": \"cli\", \"namespace\": \"dev\", \"serviceAccount\": \"cli\", \"labels\": "
	"{\"app\": \"cli\"}, \"addresses\": [\"10.2.0.0/24\"]},"
	" {\"name\": \"bad\", \"namespace\": \"dev\", \"serviceAccount\": \"bad\", \"addresses\": "
	"[\"10.66.0.5\"]},"
	" {\"name\": \"solo\", \"namespace\": \"lonely\", \"addresses\": [\"10.3.0.1\"]},"
	" {\"name\": \"other\", \"namespace\": \"lonely\", \"labels\": {\"x\": \"y\"}, "
	"\"addresses\": [\"10.3.0.2\"]}],"
	" \"authorizationPolicies\": ["
	/* root namespace: applies to every workload */
	" {\"metadata\": {\"name\": \"deny-evil\", \"namespace\": \"shunt-system\"}, \"spec\": "
	"{\"action\": \"DENY\","
	"   \"rules\": [{\"from\": [{\"source\": {\"ipBlocks\": [\"10.66.0.0/16\", "
	"\"fd66::/16\"]}}]}]}},"
	/* ALLOW with no rules: denies everything for db */
	" {\"metadata\": {\"name\": \"db-nothing\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"db\"}}, \"action\": \"ALLOW\"}},"
	/* DENY with no rules matches nothing */
	" {\"metadata\": {\"name\": \"deny-nothing\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"web\"}}, \"action\": \"DENY\"}},"
	/* rules: [{}] allows everything */
	" {\"metadata\": {\"name\": \"web-all\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"web\"}}, \"rules\": [{}]}},"
	" {\"metadata\": {\"name\": \"web-admin\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"web\"}}, \"action\": \"DENY\","
	"   \"rules\": [{\"to\": [{\"operation\": {\"notMethods\": [\"GET\", \"HEAD\"], \"paths\": "
	"[\"/admin/*\"]}}]},"
	"             {\"from\": [{\"source\": {\"notNamespaces\": [\"prod\"]}}], \"to\": "
	"[{\"operation\": {\"paths\": [\"/internal/*\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"web-audit\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"web\"}}, \"action\": \"AUDIT\","
	"   \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"*.php\"]}}]}]}},"
	/* templates, hosts, prefixes of principals, when */
	" {\"metadata\": {\"name\": \"api-users\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"app\": \"api\", \"tier\": \"be\"}},"
	"   \"rules\": [{\"from\": [{\"source\": {\"principals\": [\"cluster.local/ns/prod/*\"]}}],"
	"               \"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
	"[\"/users/{*}/orders\", \"/files/{**}\"], \"hosts\": [\"api.example.com\"]}}]},"
	"              {\"from\": [{\"source\": {\"namespaces\": [\"dev\"], \"notPrincipals\": "
	"[\"*/sa/bad\"]}}],"
	"               \"to\": [{\"operation\": {\"methods\": [\"PUT\", \"PURGE\"], \"notPaths\": "
	"[\"/secret/*\"], \"ports\": [\"8080\"]}}]},"
	"              {\"to\": [{\"operation\": {\"paths\": [\"/health\"], \"notHosts\": "
	"[\"evil.com\"]}}], \"when\": [{\"key\": \"destination.port\", \"values\": [\"9090\"]}]},"
	"              {\"from\": [{\"source\": {\"notPrincipals\": [\"*\"]}}], \"to\": "
	"[{\"operation\": {\"paths\": [\"/anon\"]}}]},"
	"              {\"to\": [{\"operation\": {\"paths\": [\"*.png\", \"/static*\"]}}], "
	"\"when\": [{\"key\": \"source.ip\", \"values\": [\"10.2.0.0/24\"]}]}]}},"
	/* namespace-wide policy without selector, and a non-matching selector */
	" {\"metadata\": {\"name\": \"lonely-ns\", \"namespace\": \"lonely\"}, \"spec\": "
	"{\"rules\": [{\"from\": [{\"source\": {\"principals\": [\"*\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"lonely-x\", \"namespace\": \"lonely\"}, \"spec\": "
	"{\"selector\": {\"matchLabels\": {\"x\": \"y\"}}, \"action\": \"DENY\", \"rules\": "
	"[{\"to\": [{\"operation\": {\"methods\": [\"DELETE\"]}}]}]}}"
	"]}";

static const struct q sem_q[] = {
	/* root-namespace DENY by ipBlock applies everywhere, v4 and v6 */
	{"dev/bad", "10.66.0.5", "prod/web", 80, "GET", "/", NULL, D, "shunt-system/deny-evil",
	 NULL},
	{"-", "fd66::9", "prod/web", 80, "GET", "/", NULL, D, "shunt-system/deny-evil", NULL},
	{"-", "fd67::9", "prod/web", 80, "GET", "/", NULL, A, "prod/web-all", NULL},
	{"-", "10.66.1.1", "lonely/solo", 80, "GET", "/", NULL, D, "shunt-system/deny-evil", NULL},
	/* ALLOW without rules: deny all */
	{"prod/web", "10.1.0.1", "prod/db", 5432, "GET", "/", NULL, D, "default-deny", NULL},
	/* rules [{}] allow all; the rule-less DENY matches nothing */
	{"-", NULL, "prod/web", 80, "DELETE", "/anything", NULL, A, "prod/web-all", NULL},
	/* notMethods with paths */
	{"prod/api", NULL, "prod/web", 80, "POST", "/admin/x", NULL, D, "prod/web-admin", NULL},
	{"prod/api", NULL, "prod/web", 80, "GET", "/admin/x", NULL, A, "prod/web-all", NULL},
	{"prod/api", NULL, "prod/web", 80, "HEAD", "/admin/x", NULL, A, "prod/web-all", NULL},
	/* notNamespaces: outside prod denied /internal, unknown source too */
	{"dev/cli", "10.2.0.7", "prod/web", 80, "GET", "/internal/a", NULL, D, "prod/web-admin",
	 NULL},
	{"-", NULL, "prod/web", 80, "GET", "/internal/a", NULL, D, "prod/web-admin", NULL},
	{"prod/api", NULL, "prod/web", 80, "GET", "/internal/a", NULL, A, "prod/web-all", NULL},
	/* AUDIT by suffix, independent of the verdict */
	{"prod/api", NULL, "prod/web", 80, "GET", "/x/index.php", NULL, A, "prod/web-all",
	 "prod/web-audit"},
	{"prod/api", NULL, "prod/web", 80, "POST", "/admin/x.php", NULL, D, "prod/web-admin",
	 "prod/web-audit"},
	/* templates + host + principal prefix */
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/orders", "api.example.com", A,
	 "prod/api-users", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/orders", "API.Example.COM:8443", A,
	 "prod/api-users", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/orders", "other.example.com", D,
	 "default-deny", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/orders", NULL, D, "default-deny",
	 NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/x/orders", "api.example.com", D,
	 "default-deny", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users//orders", "api.example.com", D,
	 "default-deny", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/users/42/orders/", "api.example.com", D,
	 "default-deny", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/files/a", "api.example.com", A,
	 "prod/api-users", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/files/a/b/c", "api.example.com", A,
	 "prod/api-users", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/files/", "api.example.com", D, "default-deny",
	 NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/files", "api.example.com", D, "default-deny",
	 NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 80, "GET", "/files/a", "api.example.com", D,
	 "default-deny", NULL},
	/* namespaces + notPrincipals suffix + ports + notPaths + non-standard method */
	{"dev/cli", "10.2.0.9", "prod/api", 8080, "PUT", "/x", NULL, A, "prod/api-users", NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 8080, "PURGE", "/x", NULL, A, "prod/api-users", NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 8080, "PURG", "/x", NULL, D, "default-deny", NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 80, "PUT", "/x", NULL, D, "default-deny", NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 8080, "PUT", "/secret/k", NULL, D, "default-deny",
	 NULL},
	{"dev/bad", NULL, "prod/api", 8080, "PUT", "/x", NULL, D, "default-deny", NULL},
	/* when destination.port + notHosts (absent Host passes notHosts) */
	{"-", NULL, "prod/api", 9090, "GET", "/health", NULL, A, "prod/api-users", NULL},
	{"-", NULL, "prod/api", 9090, "GET", "/health", "EVIL.com", D, "default-deny", NULL},
	{"-", NULL, "prod/api", 9091, "GET", "/health", NULL, D, "default-deny", NULL},
	/* notPrincipals ["*"]: only sources without identity */
	{"-", "192.0.2.1", "prod/api", 80, "GET", "/anon", NULL, A, "prod/api-users", NULL},
	{"prod/web", NULL, "prod/api", 80, "GET", "/anon", NULL, D, "default-deny", NULL},
	/* when source.ip with suffix and free-form prefix */
	{"dev/cli", "10.2.0.9", "prod/api", 80, "GET", "/img/a.png", NULL, A, "prod/api-users",
	 NULL},
	{"dev/cli", "10.2.0.9", "prod/api", 80, "GET", "/staticfoo/x", NULL, A, "prod/api-users",
	 NULL},
	{"prod/web", "10.1.0.1", "prod/api", 80, "GET", "/img/a.png", NULL, D, "default-deny",
	 NULL},
	{"-", NULL, "prod/api", 80, "GET", "/img/a.png", NULL, D, "default-deny", NULL},
	/* namespace-wide policy (no selector); principals ["*"] needs an identity */
	{"prod/web", NULL, "lonely/solo", 80, "GET", "/", NULL, A, "lonely/lonely-ns", NULL},
	{"-", NULL, "lonely/solo", 80, "GET", "/", NULL, D, "default-deny", NULL},
	{"prod/web", NULL, "lonely/other", 80, "DELETE", "/", NULL, D, "lonely/lonely-x", NULL},
	{"prod/web", NULL, "lonely/solo", 80, "DELETE", "/", NULL, A, "lonely/lonely-ns", NULL},
};

/* ---- options: case-insensitive paths, decode-and-merge, trust domain aliases ---- */
static const char opt_json[] =
	"{\"options\": {\"caseInsensitivePaths\": true, \"escapedSlashes\": \"decode-and-merge\","
	"  \"trustDomain\": \"td.example\", \"trustDomainAliases\": [\"cluster.local\", "
	"\"old.td\"], \"extraRootNamespaces\": [\"mesh-policies\"]},"
	" \"workloads\": ["
	"  {\"name\": \"a\", \"serviceAccount\": \"a\", \"labels\": {\"app\": \"a\"}, "
	"\"addresses\": [\"10.0.0.1\"]},"
	"  {\"name\": \"b\", \"serviceAccount\": \"b\", \"addresses\": [\"10.0.0.2\"]}],"
	" \"authorizationPolicies\": ["
	"  {\"metadata\": {\"name\": \"a-allow\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"a\"}},"
	"    \"rules\": [{\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/b\", \"old.td/ns/x/sa/y\"]}}],"
	"                 \"to\": [{\"operation\": {\"paths\": [\"/Public/*\"]}}]}]}},"
	"  {\"metadata\": {\"name\": \"a-deny\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"a\"}}, \"action\": \"DENY\","
	"    \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/public/Secret\"]}}]}]}},"
	"  {\"metadata\": {\"name\": \"mesh-deny\", \"namespace\": \"mesh-policies\"}, \"spec\": "
	"{\"action\": \"DENY\", \"rules\": [{\"to\": [{\"operation\": {\"paths\": "
	"[\"/public/blocked\"]}}]}]}}]}";

static const struct q opt_q[] = {
	{"default/b", NULL, "default/a", 80, "GET", "/PUBLIC/x", NULL, A, "default/a-allow", NULL},
	{"default/b", NULL, "default/a", 80, "GET", "/public/x", NULL, A, "default/a-allow", NULL},
	{"default/b", NULL, "default/a", 80, "GET", "/public/SECRET", NULL, D, "default/a-deny",
	 NULL},
	{"default/b", NULL, "default/a", 80, "GET", "/x%2F..%2Fpublic%2fsecret", NULL, D,
	 "default/a-deny", NULL},
	{"-", NULL, "default/a", 80, "GET", "/public/x", NULL, D, "default-deny", NULL},
	/* extra root namespace: its policies apply in every namespace */
	{"default/b", NULL, "default/a", 80, "GET", "/public/Blocked", NULL, D,
	 "mesh-policies/mesh-deny", NULL},
	{"default/a", NULL, "default/b", 80, "GET", "/public/blocked", NULL, D,
	 "mesh-policies/mesh-deny", NULL},
	{"default/a", NULL, "default/b", 80, "GET", "/public/x", NULL, A, NULL, NULL},
};

/* Many rules on one path differing only by principal: the leaf's list gets a
 * second-level index by principal; results must equal a plain scan's. */
static void test_same_path(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct shunt_policy *p;

	fprintf(f, "{\"workloads\": [{\"name\": \"api\", \"labels\": {\"app\": \"api\"}, "
		   "\"addresses\": [\"10.0.0.1\"]}, {\"name\": \"op\", \"namespace\": \"ops\"}, "
		   "{\"name\": \"nobody\", \"serviceAccount\": \"nobody\"}");
	for (int i = 0; i < 40; i++)
		fprintf(f, ", {\"name\": \"c%d\", \"serviceAccount\": \"c%d\"}", i, i);
	fprintf(f, "], \"authorizationPolicies\": [{\"metadata\": {\"name\": \"many\"}, \"spec\": "
		   "{\"selector\": {\"matchLabels\": {\"app\": \"api\"}}, \"rules\": [");
	for (int i = 0; i < 40; i++)
		fprintf(f,
			"%s{\"from\": [{\"source\": {\"principals\": "
			"[\"cluster.local/ns/default/sa/c%d\"]}}"
			"%s], \"to\": [{\"operation\": {\"paths\": [\"/api/*\"], \"methods\": "
			"[\"%s\"]}}]}",
			i ? ", " : "", i,
			i == 5 ? ", {\"source\": {\"principals\": "
				 "[\"cluster.local/ns/default/sa/c39\"]}}"
			       : "",
			i % 2 ? "POST" : "GET");
	fprintf(f, ", {\"from\": [{\"source\": {\"namespaces\": [\"ops\"]}}], \"to\": "
		   "[{\"operation\": "
		   "{\"paths\": [\"/api/*\"]}}]}]}}, {\"metadata\": {\"name\": \"many-deny\"}, "
		   "\"spec\": "
		   "{\"selector\": {\"matchLabels\": {\"app\": \"api\"}}, \"action\": \"DENY\", "
		   "\"rules\": [");
	for (int i = 0; i < 40; i++)
		fprintf(f,
			"%s{\"from\": [{\"source\": {\"principals\": "
			"[\"cluster.local/ns/default/sa/c%d\"]}}], "
			"\"to\": [{\"operation\": {\"paths\": [\"/api/secret%d\", \"/api/*\"], "
			"\"methods\": [\"DELETE\"]}}]}",
			i ? ", " : "", i, i);
	/* 20 exact paths under the root: a wide (hash-indexed) trie node */
	fprintf(f, "]}}, {\"metadata\": {\"name\": \"exacts\"}, \"spec\": {\"selector\": "
		   "{\"matchLabels\": {\"app\": \"api\"}}, \"rules\": [");
	for (int i = 0; i < 20; i++)
		fprintf(f,
			"%s{\"to\": [{\"operation\": {\"paths\": [\"/e%d\", \"/e%d/sub\"], "
			"\"methods\": [\"OPTIONS\"]}}]}",
			i ? ", " : "", i, i);
	fprintf(f, "]}}]}");
	fclose(f);
	p = compile(buf, NULL);
	if (p) {
		static const struct q t[] = {
			{"default/c0", NULL, "default/api", 80, "GET", "/api/x", NULL, A,
			 "default/many", NULL},
			{"default/c1", NULL, "default/api", 80, "POST", "/api/x", NULL, A,
			 "default/many", NULL},
			{"default/c1", NULL, "default/api", 80, "GET", "/api/x", NULL, D,
			 "default-deny", NULL},
			{"default/c38", NULL, "default/api", 80, "GET", "/api/x", NULL, A,
			 "default/many", NULL},
			{"default/c39", NULL, "default/api", 80, "GET", "/api/x", NULL, D,
			 "default-deny", NULL},
			{"default/c39", NULL, "default/api", 80, "POST", "/api/x", NULL, A,
			 "default/many", NULL},
			{"default/c39", NULL, "default/api", 80, "DELETE", "/api/x", NULL, D,
			 "default/many-deny", NULL},
			{"default/c7", NULL, "default/api", 80, "DELETE", "/api/secret7", NULL, D,
			 "default/many-deny", NULL},
			{"default/nobody", NULL, "default/api", 80, "GET", "/api/x", NULL, D,
			 "default-deny", NULL},
			{"default/nobody", NULL, "default/api", 80, "DELETE", "/api/x", NULL, D,
			 "default-deny", NULL},
			{"-", NULL, "default/api", 80, "GET", "/api/x", NULL, D, "default-deny",
			 NULL},
			{"ops/op", NULL, "default/api", 80, "PATCH", "/api/x", NULL, A,
			 "default/many", NULL},
			{"ops/op", NULL, "default/api", 80, "GET", "/other", NULL, D,
			 "default-deny", NULL},
			{"-", NULL, "default/api", 80, "OPTIONS", "/e7", NULL, A, "default/exacts",
			 NULL},
			{"-", NULL, "default/api", 80, "OPTIONS", "/e19/sub", NULL, A,
			 "default/exacts", NULL},
			{"-", NULL, "default/api", 80, "OPTIONS", "/e20", NULL, D, "default-deny",
			 NULL},
			{"-", NULL, "default/api", 80, "OPTIONS", "/e", NULL, D, "default-deny",
			 NULL},
			{"-", NULL, "default/api", 80, "OPTIONS", "/e7/sub/x", NULL, D,
			 "default-deny", NULL},
			{"-", NULL, "default/api", 80, "GET", "/e7", NULL, D, "default-deny", NULL},
		};

		run("same-path", p, t, sizeof(t) / sizeof(t[0]));
	}
	shunt_policy_free(p);
	free(buf);
}

/* Source identity by address: longest prefix wins, IPv4-mapped IPv6 is IPv4. */
static void test_addr_lookup(void)
{
	static const char json[] =
		"{\"workloads\": [{\"name\": \"wide\", \"addresses\": [\"10.0.0.0/8\"]},"
		" {\"name\": \"mid\", \"addresses\": [\"10.1.0.0/16\", \"fd00::/64\"]},"
		" {\"name\": \"host\", \"addresses\": [\"10.1.2.3\", \"fd00::1\"]}]}";
	static const struct {
		const char *ip;
		const char *want; /* NULL: -ENOENT */
	} t[] = {
		{"10.1.2.3", "default/host"},
		{"10.1.2.4", "default/mid"},
		{"10.2.0.1", "default/wide"},
		{"11.0.0.1", NULL},
		{"::ffff:10.1.2.3", "default/host"},
		{"::ffff:10.9.9.9", "default/wide"},
		{"fd00::1", "default/host"},
		{"fd00::2", "default/mid"},
		{"fd00:0:0:1::1", NULL},
		{"::1", NULL},
	};
	struct shunt_policy *p = compile(json, NULL);

	for (size_t i = 0; p && i < sizeof(t) / sizeof(t[0]); i++) {
		struct sockaddr_storage ss = {0};
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		int idx;

		if (inet_pton(AF_INET, t[i].ip, &in->sin_addr) == 1)
			in->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, t[i].ip, &in6->sin6_addr) == 1)
			in6->sin6_family = AF_INET6;
		idx = shunt_policy_workload_by_addr(p, (struct sockaddr *)&ss);
		if (t[i].want)
			CHECK(idx >= 0 && !strcmp(shunt_policy_workload_name(p, idx), t[i].want),
			      "%s -> %d want %s", t[i].ip, idx, t[i].want);
		else
			CHECK(idx == -ENOENT, "%s -> %d want -ENOENT", t[i].ip, idx);
	}
	CHECK(p && shunt_policy_workload_name(p, 3) == NULL &&
		      shunt_policy_workload_name(p, -1) == NULL,
	      "out of range names");
	shunt_policy_free(p);
}

static void test_update(void)
{
	struct shunt_config *c1 = NULL, *c2 = NULL;
	struct shunt_policy *p1 = compile(sem_json, &c1), *p2 = NULL, *full = NULL;
	struct shunt_diags d = {0};
	char *json2 = strdup(sem_json), *at;
	int err;

	/* replace web-admin's /admin/ with /admun/: only web's index changes */
	at = strstr(json2, "/admin/*");
	memcpy(at, "/admun/*", 8);
	full = compile(json2, &c2);
	for (size_t i = 0; c2 && i < c2->n_policies; i++) {
		if (strcmp(c2->policies[i].name, "web-admin"))
			continue;
		err = shunt_policy_update(p1, c2, i, &p2, &d);
		CHECK(err == 0, "update: %d", err);
	}
	if (p2 && full) {
		struct shunt_l7_query q = {.src_workload = -1,
					   .dst_port = 80,
					   .method = "POST",
					   .method_len = 4,
					   .path = "/admun/x",
					   .path_len = 8};
		struct shunt_verdict v1, v2, v3;
		int web = -1, api = -1;

		for (int i = 0; i < shunt_policy_workload_count(p2); i++) {
			if (!strcmp(shunt_policy_workload_name(p2, i), "prod/web"))
				web = i;
			if (!strcmp(shunt_policy_workload_name(p2, i), "prod/api"))
				api = i;
		}
		q.dst_workload = web;
		shunt_policy_l7_verdict(p1, &q, &v1);
		shunt_policy_l7_verdict(p2, &q, &v2);
		shunt_policy_l7_verdict(full, &q, &v3);
		CHECK(v1.action == SHUNT_ALLOW && v2.action == SHUNT_DENY &&
			      v3.action == SHUNT_DENY,
		      "update verdicts %d %d %d", v1.action, v2.action, v3.action);
		/* the unchanged tables still answer as a full compile does */
		run("updated", p2, sem_q + 4, 1);
		q.dst_workload = api;
		q.method = "GET";
		q.method_len = 3;
		q.path = "/anon";
		q.path_len = 5;
		shunt_policy_l7_verdict(p2, &q, &v2);
		CHECK(v2.action == SHUNT_ALLOW, "api after update");
		/* old stays usable after the new one is freed and vice versa */
		shunt_policy_free(p1);
		p1 = NULL;
		q.dst_workload = web;
		q.method = "POST";
		q.method_len = 4;
		q.path = "/admin/x";
		q.path_len = 8;
		shunt_policy_l7_verdict(p2, &q, &v2);
		CHECK(v2.action == SHUNT_ALLOW, "old rule gone after update");
	}
	/* changed workloads are refused */
	if (p2 && c1) {
		struct shunt_policy *p3 = NULL;

		c1->n_workloads--;
		err = shunt_policy_update(p2, c1, 0, &p3, &d);
		c1->n_workloads++;
		CHECK(err == -EINVAL && p3 == NULL, "update with other workloads: %d", err);
	}
	shunt_diags_free(&d);
	shunt_policy_free(p1);
	shunt_policy_free(p2);
	shunt_policy_free(full);
	shunt_config_free(c1);
	shunt_config_free(c2);
	free(json2);
}

/* CONNECT / Upgrade: only ALLOW rules naming the method open a tunnel. */
static void test_explicit_method(void)
{
	static const char json[] =
		"{\"workloads\": [{\"name\": \"t1\", \"labels\": {\"app\": \"t1\"}},"
		" {\"name\": \"t2\", \"labels\": {\"app\": \"t2\"}}, {\"name\": \"t3\"},"
		" {\"name\": \"c\", \"serviceAccount\": \"c\"}],"
		" \"authorizationPolicies\": ["
		" {\"metadata\": {\"name\": \"t1-all\"}, \"spec\": {\"selector\": "
		"{\"matchLabels\": "
		"{\"app\": \"t1\"}}, \"rules\": [{}]}},"
		" {\"metadata\": {\"name\": \"t2-connect\"}, \"spec\": {\"selector\": "
		"{\"matchLabels\": "
		"{\"app\": \"t2\"}}, \"rules\": [{}, {\"to\": [{\"operation\": {\"methods\": "
		"[\"CONNECT\"]}}]}]}}]}";
	static const struct {
		int dst;
		const char *method;
		bool explicit_only;
		int want;
		const char *policy;
	} t[] = {
		{0, "CONNECT", true, SHUNT_DENY, "default-deny"},
		{0, "CONNECT", false, SHUNT_ALLOW, "default/t1-all"},
		{1, "CONNECT", true, SHUNT_ALLOW, "default/t2-connect"},
		{1, "GET", true, SHUNT_DENY, "default-deny"},
		{2, "CONNECT", true, SHUNT_DENY, "default-deny"},
		{2, "CONNECT", false, SHUNT_ALLOW, NULL},
		{-1, "CONNECT", true, SHUNT_DENY, "default-deny"},
	};
	struct shunt_policy *p = compile(json, NULL);

	for (size_t i = 0; p && i < sizeof(t) / sizeof(t[0]); i++) {
		struct shunt_l7_query q = {.src_workload = 3,
					   .dst_workload = t[i].dst,
					   .dst_port = 443,
					   .method = t[i].method,
					   .method_len = strlen(t[i].method),
					   .path = "/",
					   .path_len = 1,
					   .explicit_method_only = t[i].explicit_only};
		struct shunt_verdict v;

		CHECK(shunt_policy_l7_verdict(p, &q, &v) == 0, "explicit[%zu] err", i);
		CHECK((int)v.action == t[i].want &&
			      ((!v.policy && !t[i].policy) ||
			       (v.policy && t[i].policy && !strcmp(v.policy, t[i].policy))),
		      "explicit[%zu]: got %d %s", i, v.action, v.policy ? v.policy : "-");
	}
	shunt_policy_free(p);
}

/* ---- incremental update sequences vs full compiles ---- */

static const char *const upd_workloads =
	"\"workloads\": [{\"name\": \"web\", \"namespace\": \"prod\", \"serviceAccount\": \"web\", "
	"\"labels\": {\"app\": \"web\"}, \"addresses\": [\"10.1.0.1\"]},"
	" {\"name\": \"api\", \"namespace\": \"prod\", \"serviceAccount\": \"api\", \"labels\": "
	"{\"app\": \"api\"}, \"addresses\": [\"10.1.0.3\"]},"
	" {\"name\": \"db\", \"namespace\": \"prod\", \"labels\": {\"app\": \"db\"}, "
	"\"addresses\": "
	"[\"10.1.0.2\"]},"
	" {\"name\": \"cli\", \"namespace\": \"dev\", \"serviceAccount\": \"cli\", \"addresses\": "
	"[\"10.2.0.0/24\"]}]";

/* policy snippets, by name */
static const char *const upd_pols[] = {
	/* 0 */ "{\"metadata\": {\"name\": \"root-deny\", \"namespace\": \"shunt-system\"}, "
		"\"spec\": "
		"{\"action\": \"DENY\", \"rules\": [{\"to\": [{\"operation\": {\"paths\": "
		"[\"/secret/*\"]}}]}]}}",
	/* 1 */
	"{\"metadata\": {\"name\": \"web-allow\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": "
	"{\"matchLabels\": {\"app\": \"web\"}}, \"rules\": [{\"from\": [{\"source\": "
	"{\"namespaces\": "
	"[\"prod\"]}}]}]}}",
	/* 2 */
	"{\"metadata\": {\"name\": \"api-allow\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": "
	"{\"matchLabels\": {\"app\": \"api\"}}, \"rules\": [{\"to\": [{\"operation\": "
	"{\"methods\": "
	"[\"GET\"], \"paths\": [\"/users/{*}\", \"/files/*\"]}}]}]}}",
	/* 3 */
	"{\"metadata\": {\"name\": \"ns-audit\", \"namespace\": \"prod\"}, \"spec\": {\"action\": "
	"\"AUDIT\", \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"*.php\"]}}]}]}}",
	/* 4 */
	"{\"metadata\": {\"name\": \"db-deny-dev\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": "
	"{\"matchLabels\": {\"app\": \"db\"}}, \"action\": \"DENY\", \"rules\": [{\"from\": "
	"[{\"source\": {\"namespaces\": [\"dev\"]}}]}]}}",
	/* 5: replacement for 1 */
	"{\"metadata\": {\"name\": \"web-allow\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"selector\": "
	"{\"matchLabels\": {\"app\": \"web\"}}, \"rules\": [{\"from\": [{\"source\": "
	"{\"namespaces\": "
	"[\"dev\"]}}], \"to\": [{\"operation\": {\"methods\": [\"POST\"]}}]}]}}",
	/* 6: a new namespace-wide DENY */
	"{\"metadata\": {\"name\": \"prod-no-delete\", \"namespace\": \"prod\"}, \"spec\": "
	"{\"action\": "
	"\"DENY\", \"rules\": [{\"to\": [{\"operation\": {\"methods\": [\"DELETE\"]}}]}]}}",
};

static struct shunt_config *upd_config(const int *idx, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct shunt_config *c = NULL;
	struct shunt_diags d = {0};

	fprintf(f, "{%s, \"authorizationPolicies\": [", upd_workloads);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", upd_pols[idx[i]]);
	fprintf(f, "]}");
	fclose(f);
	if (shunt_config_load_string(buf, "upd.json", &c, &d))
		shunt_diags_print(&d, stderr);
	CHECK(c != NULL, "update config");
	shunt_diags_free(&d);
	free(buf);
	return c;
}

/* Every (source, destination, port, method, path) gives the same verdict. */
static void same_verdicts(const char *label, const struct shunt_policy *a,
			  const struct shunt_policy *b)
{
	static const char *const paths[] = {"/", "/secret/k", "/users/1", "/files/a/b", "/x.php"};
	static const char *const methods[] = {"GET", "POST", "DELETE"};
	static const char *const ips[] = {"10.1.0.1", "10.1.0.3", "10.1.0.2", "10.2.0.9",
					  "192.0.2.1"};
	int mismatches = 0;

	for (int s = -1; s < 4; s++) {
		struct sockaddr_in in = {.sin_family = AF_INET};

		inet_pton(AF_INET, ips[s < 0 ? 4 : s], &in.sin_addr);
		for (int dst = 0; dst < 4; dst++)
			for (size_t m = 0; m < 3; m++)
				for (size_t k = 0; k < 5; k++) {
					struct shunt_l7_query q = {.src_workload = s,
								   .src_addr =
									   (struct sockaddr *)&in,
								   .dst_workload = dst,
								   .dst_port = 80,
								   .method = methods[m],
								   .method_len = strlen(methods[m]),
								   .path = paths[k],
								   .path_len = strlen(paths[k])};
					struct shunt_verdict va, vb;

					shunt_policy_l7_verdict(a, &q, &va);
					shunt_policy_l7_verdict(b, &q, &vb);
					if (va.action != vb.action || va.audit != vb.audit ||
					    (va.policy == NULL) != (vb.policy == NULL) ||
					    (va.policy && strcmp(va.policy, vb.policy)))
						mismatches++;
				}
	}
	CHECK(mismatches == 0, "%s: %d verdicts differ from a full compile", label, mismatches);
}

static void test_update_sequence(void)
{
	/* each step: the policy list after it, the kind of change and its index */
	static const struct {
		int pols[6];
		size_t n, idx;
	} steps[] = {
		{{0, 1, 2, 3, 4}, 5, 0}, /* start (full compile) */
		{{0, 1, 3, 4}, 4, 2},	 /* remove api-allow */
		{{0, 5, 3, 4}, 4, 1},	 /* replace web-allow */
		{{0, 5, 3, 4, 6}, 5, 4}, /* append prod-no-delete */
		{{5, 3, 4, 6}, 4, 0},	 /* remove the root-namespace DENY */
		{{5, 3, 4, 6, 2}, 5, 4}, /* append api-allow again */
		{{5, 3, 6, 2}, 4, 2},	 /* remove db-deny-dev */
	};
	struct shunt_policy *inc = NULL;
	struct shunt_diags d = {0};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct shunt_config *c = upd_config(steps[i].pols, steps[i].n);
		struct shunt_policy *full = NULL, *next = NULL;
		char label[32];

		if (!c)
			break;
		CHECK(shunt_policy_compile(c, &full, &d) == 0, "full compile %zu", i);
		if (i == 0) {
			inc = full;
			shunt_config_free(c);
			continue;
		}
		CHECK(shunt_policy_update(inc, c, steps[i].idx, &next, &d) == 0, "update step %zu",
		      i);
		shunt_diags_print(&d, stderr);
		snprintf(label, sizeof(label), "update step %zu", i);
		if (next && full)
			same_verdicts(label, next, full);
		/* the previous version stays usable until freed */
		shunt_policy_free(inc);
		inc = next;
		shunt_policy_free(full);
		shunt_config_free(c);
		if (!inc)
			break;
	}
	/* a config whose other policies moved is refused */
	if (inc) {
		static const int moved[] = {3, 5, 6, 2};
		struct shunt_config *c = upd_config(moved, 4);
		struct shunt_policy *next = NULL;

		CHECK(c && shunt_policy_update(inc, c, 0, &next, &d) == -EINVAL && next == NULL,
		      "reordered policies must be refused");
		shunt_config_free(c);
	}
	shunt_policy_free(inc);
	shunt_diags_free(&d);
}

int main(void)
{
	struct shunt_policy *p;

	p = compile(seed_json, NULL);
	if (p)
		run("seed", p, seed_q, sizeof(seed_q) / sizeof(seed_q[0]));
	shunt_policy_free(p);
	p = compile(sem_json, NULL);
	if (p)
		run("sem", p, sem_q, sizeof(sem_q) / sizeof(sem_q[0]));
	shunt_policy_free(p);
	p = compile(opt_json, NULL);
	if (p)
		run("opt", p, opt_q, sizeof(opt_q) / sizeof(opt_q[0]));
	shunt_policy_free(p);
	test_same_path();
	test_addr_lookup();
	test_update();
	test_update_sequence();
	test_explicit_method();
	return check_done("test_policy");
}
