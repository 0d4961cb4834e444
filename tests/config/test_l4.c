// SPDX-License-Identifier: Apache-2.0
/*
 * L3/L4 entries: identities x ports -> allow / deny / needs-L7, with and
 * without an L7 proxy (Istio's TCP reduction), resolved with the same
 * lookup order the BPF side uses.
 */
#include <stdlib.h>

#include "check.h"
#include "shunt/l4.h"

static const char seed_json[] =
	"{\"workloads\": ["
	" {\"name\": \"app1\", \"serviceAccount\": \"app1\", \"labels\": {\"app\": \"app1\"}, "
	"\"addresses\": [\"10.0.0.1\"]},"
	" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"labels\": {\"app\": \"app2\"}, "
	"\"addresses\": [\"10.0.0.2\"]},"
	" {\"name\": \"app3\", \"serviceAccount\": \"app3\", \"labels\": {\"app\": \"app3\"}, "
	"\"addresses\": [\"10.0.0.3\"]},"
	" {\"name\": \"db\", \"serviceAccount\": \"db\", \"labels\": {\"app\": \"db\"}, "
	"\"addresses\": [\"10.0.0.4\"]},"
	" {\"name\": \"ext\", \"namespace\": \"edge\", \"addresses\": [\"10.9.0.0/24\"]}],"
	" \"authorizationPolicies\": ["
	" {\"metadata\": {\"name\": \"app1-from-app2\"}, \"spec\": {\"selector\": "
	"{\"matchLabels\": {\"app\": \"app1\"}},"
	"  \"rules\": [{\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/app2\"]}}],"
	"             \"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
	"[\"/public/*\"], \"ports\": [\"80\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"app1-no-restricted\"}, \"spec\": {\"selector\": "
	"{\"matchLabels\": {\"app\": \"app1\"}},"
	"  \"action\": \"DENY\", \"rules\": [{\"to\": [{\"operation\": {\"paths\": "
	"[\"/restricted\", \"/restricted/*\"]}}]}]}},"
	/* db: TCP-only rules */
	" {\"metadata\": {\"name\": \"db-allow\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"db\"}},"
	"  \"rules\": [{\"from\": [{\"source\": {\"namespaces\": [\"default\"]}}], \"to\": "
	"[{\"operation\": {\"ports\": [\"5432\"]}}]},"
	"            {\"from\": [{\"source\": {\"ipBlocks\": [\"10.9.0.0/16\"]}}], \"to\": "
	"[{\"operation\": {\"ports\": [\"5432\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"db-deny-app3\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"db\"}}, \"action\": \"DENY\","
	"  \"rules\": [{\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/app3\"]}}]},"
	"            {\"from\": [{\"source\": {\"principals\": "
	"[\"cluster.local/ns/default/sa/app2\"]}}], \"to\": [{\"operation\": {\"methods\": "
	"[\"POST\"]}}]}]}}"
	"]}";

enum { APP1, APP2, APP3, DB, EXT };

struct lcase {
	int src; /* workload index, -1 world */
	int dst;
	uint16_t port;
	uint8_t want, want_noproxy;
};

#define ALLOW SHUNT_L4_ALLOW
#define DENY  SHUNT_L4_DENY
#define L7    SHUNT_L4_L7

static const struct lcase cases[] = {
	/* app1: only app2 on port 80, and an HTTP DENY rule -> proxy */
	{APP2, APP1, 80, L7, DENY},
	{APP2, APP1, 81, DENY, DENY},
	{APP3, APP1, 80, DENY, DENY},
	{-1, APP1, 80, DENY, DENY},
	{EXT, APP1, 80, DENY, DENY},
	/* no policy selects app2/app3: allow */
	{APP1, APP2, 80, ALLOW, ALLOW},
	{-1, APP3, 9, ALLOW, ALLOW},
	/* db: namespace default allowed on 5432, app3 denied by a TCP rule,
	 * app2 has an HTTP DENY rule (proxy; without proxy it widens to deny) */
	{APP1, DB, 5432, ALLOW, ALLOW},
	{APP1, DB, 5433, DENY, DENY},
	{APP3, DB, 5432, DENY, DENY},
	{APP2, DB, 5432, L7, DENY},
	{EXT, DB, 5432, ALLOW, ALLOW},
	{-1, DB, 5432, L7, DENY}, /* unknown address vs ipBlocks: only the proxy knows */
	{-1, DB, 80, DENY, DENY},
};

static void check_table(const struct shunt_l4_entry *v, size_t n, bool noproxy)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lcase *c = &cases[i];
		uint8_t got = shunt_l4_lookup(v, n, shunt_identity_of(c->src),
					      shunt_identity_of(c->dst), c->port);
		uint8_t want = noproxy ? c->want_noproxy : c->want;

		CHECK(got == want, "%s case %zu: %d -> %d:%u got %u want %u",
		      noproxy ? "no-proxy" : "proxy", i, c->src, c->dst, c->port, got, want);
	}
	for (size_t i = 1; i < n; i++) {
		CHECK(v[i - 1].dst_identity < v[i].dst_identity ||
			      (v[i - 1].dst_identity == v[i].dst_identity &&
			       (v[i - 1].src_identity < v[i].src_identity ||
				(v[i - 1].src_identity == v[i].src_identity &&
				 v[i - 1].port < v[i].port))),
		      "entries not sorted/unique at %zu", i);
	}
}

/* not-forms and `when destination.port` at L4 */
static void test_notforms(void)
{
	static const char json[] =
		"{\"workloads\": [{\"name\": \"web\", \"namespace\": \"prod\", \"labels\": "
		"{\"app\": \"web\"}},"
		" {\"name\": \"api\", \"namespace\": \"prod\", \"serviceAccount\": \"api\"},"
		" {\"name\": \"dev1\", \"namespace\": \"dev\"}],"
		" \"authorizationPolicies\": ["
		" {\"metadata\": {\"name\": \"web-allow\", \"namespace\": \"prod\"}, \"spec\": "
		"{\"selector\": "
		"{\"matchLabels\": {\"app\": \"web\"}}, \"rules\": [{\"from\": [{\"source\": "
		"{\"notNamespaces\": [\"dev\"]}}], \"to\": [{\"operation\": {\"ports\": [\"443\", "
		"\"9999\"]}}]}]}},"
		" {\"metadata\": {\"name\": \"web-deny\", \"namespace\": \"prod\"}, \"spec\": "
		"{\"selector\": "
		"{\"matchLabels\": {\"app\": \"web\"}}, \"action\": \"DENY\", \"rules\": "
		"[{\"when\": "
		"[{\"key\": \"destination.port\", \"values\": [\"9999\"]}]}, {\"from\": "
		"[{\"source\": "
		"{\"notPrincipals\": [\"cluster.local/ns/prod/sa/api\"]}}], \"to\": "
		"[{\"operation\": "
		"{\"ports\": [\"8443\"]}}]}]}}]}";
	static const struct {
		int src, port;
		uint8_t want;
	} t[] = {
		{1, 443, SHUNT_L4_ALLOW},  {2, 443, SHUNT_L4_DENY},  {-1, 443, SHUNT_L4_ALLOW},
		{1, 9999, SHUNT_L4_DENY},  {1, 80, SHUNT_L4_DENY},   {1, 8443, SHUNT_L4_DENY},
		{-1, 8443, SHUNT_L4_DENY}, {2, 8443, SHUNT_L4_DENY},
	};
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL;
	struct shunt_l4_entry *v = NULL;
	size_t n = 0;

	if (shunt_config_load_string(json, "notforms.json", &c, &d) ||
	    shunt_policy_compile(c, &p, &d) || shunt_policy_l4_entries(p, &v, &n)) {
		shunt_diags_print(&d, stderr);
		CHECK(0, "notforms setup");
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t got = shunt_l4_lookup(v, n, shunt_identity_of(t[i].src),
					      shunt_identity_of(0), (uint16_t)t[i].port);

		CHECK(got == t[i].want, "notforms %d -> web:%d got %u want %u", t[i].src, t[i].port,
		      got, t[i].want);
	}
cleanup:
	free(v);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
}

int main(void)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL;
	struct shunt_l4_entry *v = NULL;
	size_t n = 0;
	int err;

	err = shunt_config_load_string(seed_json, "l4.json", &c, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0, "load %d", err);
	if (err)
		goto cleanup;
	err = shunt_policy_compile(c, &p, &d);
	CHECK(err == 0, "compile %d", err);
	if (err)
		goto cleanup;
	CHECK(shunt_identity_of(-1) == SHUNT_IDENTITY_WORLD && shunt_identity_of(0) == 1, "ids");
	err = shunt_policy_l4_entries(p, &v, &n);
	CHECK(err == 0 && n > 0, "entries %d %zu", err, n);
	check_table(v, n, false);
	/* every selected destination has a wildcard default entry */
	{
		bool seen1 = false, seen_db = false;

		for (size_t i = 0; i < n; i++) {
			if (v[i].src_identity != SHUNT_IDENTITY_ANY || v[i].port)
				continue;
			seen1 |= v[i].dst_identity == shunt_identity_of(APP1);
			seen_db |= v[i].dst_identity == shunt_identity_of(DB);
		}
		CHECK(seen1 && seen_db, "missing (ANY, dst, 0) entries");
	}
	free(v);
	v = NULL;
	err = shunt_policy_l4_entries_opts(p, SHUNT_L4_NO_PROXY, &v, &n);
	CHECK(err == 0, "entries no-proxy %d", err);
	check_table(v, n, true);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i].verdict != SHUNT_L4_L7, "no-proxy mode emitted L7 at %zu", i);
cleanup:
	free(v);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
	test_notforms();
	return check_done("test_l4");
}
