// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz target for the policy importers: the input is what `kubectl get
 * authorizationpolicies|ciliumnetworkpolicies|ciliumclusterwidenetworkpolicies
 * -o json` would print (one object or a List), imported into a config with a
 * few workloads (Cilium selectors resolve against them). Properties checked:
 *  - a failed import leaves the config unchanged and explains itself
 *    (at least one diagnostic, each with a position and a message);
 *  - a successful import compiles; its native form (write_policies) loads
 *    again with the same workloads, writes back byte for byte the same, and
 *    the reloaded policy decides a grid of L7 queries and every L4 entry
 *    exactly as the imported one (import -> save -> reload loses nothing).
 *
 * Built with libFuzzer (SHUNT_FUZZ=ON) or with tests/config/fuzz_replay.c as
 * a plain corpus replay in every build.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shunt/l4.h"
#include "shunt/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                             \
	do {                                                  \
		fprintf(stderr, "fuzz_import: " __VA_ARGS__); \
		fputc('\n', stderr);                          \
		abort();                                      \
	} while (0)

#include "import_workloads.h"

static char *write_policies(const struct shunt_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	if (shunt_config_write_policies(c, f) != 0)
		FAIL("write_policies failed");
	fclose(f);
	return buf;
}

static void same_verdicts(const struct shunt_policy *a, const struct shunt_policy *b)
{
	static const char *const methods[] = {"GET", "POST", "DELETE", "CONNECT"};
	static const char *const paths[] = {"/",	"/api/v1/users", "/public/a",
					    "/admin/x", "/metrics",	 "/health"};
	static const char *const hosts[] = {NULL, "example.com", "app1.default.svc:8080"};
	static const uint16_t ports[] = {80, 8080, 9090};
	int nw = shunt_policy_workload_count(a);

	if (nw != shunt_policy_workload_count(b))
		FAIL("workload count differs");
	for (int src = -1; src < nw; src++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};

		sa.sin_addr.s_addr = htonl(src < 0 ? 0x0a010203 : 0x0a000001 + (uint32_t)src);
		for (int dst = 0; dst < nw; dst++)
			for (size_t m = 0; m < 4; m++)
				for (size_t p = 0; p < 6; p++)
					for (size_t h = 0; h < 3; h++)
						for (size_t o = 0; o < 3; o++) {
							struct shunt_l7_query q = {
								.src_workload = src,
								.src_addr = (const struct sockaddr
										     *)&sa,
								.dst_workload = dst,
								.dst_port = ports[o],
								.method = methods[m],
								.method_len = strlen(methods[m]),
								.path = paths[p],
								.path_len = strlen(paths[p]),
								.host = hosts[h],
								.host_len =
									hosts[h] ? strlen(hosts[h])
										 : 0,
								.explicit_method_only = m == 3,
							};
							struct shunt_verdict va, vb;

							if (shunt_policy_l7_verdict(a, &q, &va) ||
							    shunt_policy_l7_verdict(b, &q, &vb))
								FAIL("verdict failed");
							if (va.action != vb.action ||
							    va.audit != vb.audit)
								FAIL("reloaded policy decides %s "
								     "%s "
								     "from %d to %d differently",
								     q.method, q.path, src, dst);
						}
	}
}

static void same_l4(const struct shunt_policy *a, const struct shunt_policy *b, unsigned flags)
{
	struct shunt_l4_entry *va = NULL, *vb = NULL;
	size_t na = 0, nb = 0;

	if (shunt_policy_l4_entries_opts(a, flags, &va, &na) ||
	    shunt_policy_l4_entries_opts(b, flags, &vb, &nb))
		FAIL("l4 entries failed");
	if (na != nb)
		FAIL("reloaded policy has %zu L4 entries, imported %zu", nb, na);
	for (size_t i = 0; i < na; i++)
		if (va[i].src_identity != vb[i].src_identity ||
		    va[i].dst_identity != vb[i].dst_identity || va[i].port != vb[i].port ||
		    va[i].verdict != vb[i].verdict)
			FAIL("L4 entry %zu differs after reload", i);
	free(va);
	free(vb);
}

static void round_trip(const struct shunt_config *c)
{
	struct shunt_diags d = {0};
	struct shunt_policy *p1 = NULL, *p2 = NULL;
	struct shunt_config *c2 = NULL;
	char *t1 = write_policies(c), *t2 = NULL, *combined = NULL;
	const char *brace = strchr(t1, '{');

	if (shunt_policy_compile(c, &p1, &d))
		FAIL("imported config does not compile");
	if (!brace || asprintf(&combined, "{" WORKLOADS ",%s", brace + 1) < 0)
		FAIL("native form is not an object:\n%s", t1);
	if (shunt_config_load_string(combined, "roundtrip.json", &c2, &d) != 0) {
		shunt_diags_print(&d, stderr);
		FAIL("native form of an accepted import does not load:\n%s", t1);
	}
	if (c2->n_policies != c->n_policies)
		FAIL("reload has %zu policies, import %zu", c2->n_policies, c->n_policies);
	t2 = write_policies(c2);
	if (strcmp(t1, t2) != 0)
		FAIL("round trip differs:\n%s\n---\n%s", t1, t2);
	if (shunt_policy_compile(c2, &p2, &d))
		FAIL("reloaded config does not compile");
	same_verdicts(p1, p2);
	same_l4(p1, p2, 0);
	same_l4(p1, p2, SHUNT_L4_NO_PROXY);
	shunt_policy_free(p1);
	shunt_policy_free(p2);
	shunt_config_free(c2);
	shunt_diags_free(&d);
	free(t1);
	free(t2);
	free(combined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	char *text = malloc(size + 1);
	char *before = NULL;
	size_t n_before;
	int err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (shunt_config_load_string(base_json, "base.json", &c, &d) != 0)
		FAIL("base config does not load");
	n_before = c->n_policies;
	before = write_policies(c);
	err = shunt_config_import_string(c, text, "import.json", &d);
	if (err) {
		char *after = write_policies(c);

		if (c->n_policies != n_before || strcmp(before, after) != 0)
			FAIL("a failed import changed the config");
		if (!d.n)
			FAIL("import failed (%d) without a diagnostic", err);
		for (size_t i = 0; i < d.n; i++)
			if (d.v[i].line < 0 || d.v[i].column < 0 || !d.v[i].msg[0])
				FAIL("diagnostic without position or message");
		free(after);
	} else {
		round_trip(c);
	}
	free(before);
	free(text);
	shunt_diags_free(&d);
	shunt_config_free(c);
	return 0;
}
