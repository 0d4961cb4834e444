// SPDX-License-Identifier: Apache-2.0
/*
 * shunt-config-bench: cost of the policy engine (a benchmark, not a test).
 *
 *   1. verdict cost with 10 vs 10,000 rules on one destination (target: the
 *      larger costs at most 1.2x the smaller);
 *   2. parse, compile and L4 map entries for 20,000 services with 160,000
 *      rules (target: compile + entries under 1 s);
 *   3. incremental update of one policy vs a full compile.
 *
 * Usage: shunt-config-bench [--services N] [--rules-per-service R] [--iters N]
 *                           [--write-mesh FILE]
 * --write-mesh writes the mesh config (item 2) to FILE and exits: the input of
 * the end-to-end scale run (shuntd loading it into the kernel maps).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shunt/l4.h"
#include "shunt/policy.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *json, const char *name, struct shunt_config **c)
{
	struct shunt_diags d = {0};
	int err = shunt_config_load_string(json, name, c, &d);

	if (err) {
		shunt_diags_print(&d, stderr);
		fprintf(stderr, "failed to load %s: %s\n", name, strerror(-err));
	}
	shunt_diags_free(&d);
	return err;
}

/* One destination "svc" with n ALLOW rules (+ n/10 DENY rules) over a mix of
 * exact, prefix, suffix and template paths; 50 client workloads. */
static char *gen_one_dst(int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "{\"workloads\": [{\"name\": \"svc\", \"serviceAccount\": \"svc\", \"labels\": "
		   "{\"app\": \"svc\"}, \"addresses\": [\"10.0.0.1\"]}");
	for (int i = 0; i < 50; i++)
		fprintf(f,
			",{\"name\": \"client%d\", \"serviceAccount\": \"client%d\", "
			"\"addresses\": "
			"[\"10.1.%d.%d\"]}",
			i, i, i / 250, i % 250 + 1);
	fprintf(f, "], \"authorizationPolicies\": [{\"metadata\": {\"name\": \"allow\"}, \"spec\": "
		   "{\"selector\": {\"matchLabels\": {\"app\": \"svc\"}}, \"rules\": [");
	for (int i = 0; i < n; i++) {
		const char *m = i % 4 == 3 ? "POST" : "GET";

		fprintf(f,
			"%s{\"from\": [{\"source\": {\"principals\": "
			"[\"cluster.local/ns/default/sa/client%d\"]}}], "
			"\"to\": [{\"operation\": {\"methods\": [\"%s\"], \"ports\": [\"80\"], "
			"\"paths\": [",
			i ? "," : "", i % 50, m);
		switch (i % 4) {
		case 0:
			fprintf(f, "\"/api/v%d/*\"", i);
			break;
		case 1:
			fprintf(f, "\"/items/%d\"", i);
			break;
		case 2:
			fprintf(f, "\"/users/{*}/r%d/{**}\"", i);
			break;
		default:
			fprintf(f, "\"/upload/%d\"", i);
		}
		fprintf(f, "]}}]}");
	}
	fprintf(f, "]}}, {\"metadata\": {\"name\": \"deny\"}, \"spec\": {\"selector\": "
		   "{\"matchLabels\": {\"app\": \"svc\"}}, \"action\": \"DENY\", \"rules\": [");
	for (int i = 0; i < (n + 9) / 10; i++)
		fprintf(f, "%s{\"to\": [{\"operation\": {\"paths\": [\"/api/v%d/admin/*\"]}}]}",
			i ? "," : "", i * 10);
	fprintf(f, "]}}]}");
	fclose(f);
	return buf;
}

struct req {
	int src;
	const char *method;
	char path[64];
};

/* One verdict benchmark: a compiled policy and 1024 requests to replay. */
struct vbench {
	char *json;
	struct shunt_config *c;
	struct shunt_policy *p;
	struct req reqs[1024];
	long allowed;
	double best;
};

static int vbench_compile(struct vbench *b, const char *name)
{
	struct shunt_diags d = {0};
	int err = load(b->json, name, &b->c);

	if (!err)
		err = shunt_policy_compile(b->c, &b->p, &d);
	shunt_diags_free(&d);
	b->best = 1e30;
	return err;
}

/* Mixed paths: requests spread over the whole rule list (spread) or on 8
 * rules in both sizes (hot), with identical outcomes: prefix, exact and
 * template hits (allow), a miss (default deny) and a DENY-rule hit. */
static int vbench_mixed(struct vbench *b, int nrules, bool spread)
{
	b->json = gen_one_dst(nrules);
	if (vbench_compile(b, "verdict-bench"))
		return -1;
	srand(42);
	for (int i = 0; i < 1024; i++) {
		int groups = nrules / 4;
		int g = spread ? 4 * (rand() % groups) : 4 * ((rand() % 2) * (groups / 2));
		struct req *q = &b->reqs[i];

		q->method = "GET";
		q->src = 1 + g % 50;
		switch (i % 5) {
		case 0:
			snprintf(q->path, sizeof(q->path), "/api/v%d/x/y", g);
			break;
		case 1:
			q->src = 1 + (g + 1) % 50;
			snprintf(q->path, sizeof(q->path), "/items/%d", g + 1);
			break;
		case 2:
			q->src = 1 + (g + 2) % 50;
			snprintf(q->path, sizeof(q->path), "/users/u7/r%d/a/b", g + 2);
			break;
		case 3:
			snprintf(q->path, sizeof(q->path), "/nothing/here/%d", g);
			break;
		default:
			snprintf(q->path, sizeof(q->path), "/api/v%d/admin/x", (g / 10) * 10);
		}
	}
	return 0;
}

/* n rules on the same path, differing only by principal (n clients); 8
 * distinct callers spread over the list, every 4th request a POST (denied). */
static int vbench_same_path(struct vbench *b, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "{\"workloads\": [{\"name\": \"svc\", \"labels\": {\"app\": \"svc\"}}");
	for (int i = 0; i < n; i++)
		fprintf(f, ",{\"name\": \"c%d\", \"serviceAccount\": \"c%d\"}", i, i);
	fprintf(f, "], \"authorizationPolicies\": [{\"metadata\": {\"name\": \"allow\"}, \"spec\": "
		   "{\"selector\": {\"matchLabels\": {\"app\": \"svc\"}}, \"rules\": [");
	for (int i = 0; i < n; i++)
		fprintf(f,
			"%s{\"from\": [{\"source\": {\"principals\": "
			"[\"cluster.local/ns/default/sa/c%d\"]}}], \"to\": [{\"operation\": "
			"{\"methods\": [\"GET\"], \"paths\": [\"/api/*\"]}}]}",
			i ? "," : "", i);
	fprintf(f, "]}}]}");
	fclose(f);
	b->json = buf;
	if (vbench_compile(b, "same-path-bench"))
		return -1;
	for (int i = 0; i < 1024; i++) {
		b->reqs[i].src = 1 + (i % 8) * (n / 8);
		b->reqs[i].method = i % 4 ? "GET" : "POST";
		snprintf(b->reqs[i].path, sizeof(b->reqs[i].path), "/api/items/1");
	}
	return 0;
}

static void vbench_round(struct vbench *b, long n)
{
	double t0, t1, ns;

	b->allowed = 0;
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		const struct req *q = &b->reqs[i & 1023];
		struct shunt_l7_query lq = {.src_workload = q->src,
					    .dst_workload = 0,
					    .dst_port = 80,
					    .method = q->method,
					    .method_len = strlen(q->method),
					    .path = q->path,
					    .path_len = strlen(q->path)};
		struct shunt_verdict v;

		shunt_policy_l7_verdict(b->p, &lq, &v);
		b->allowed += v.action == SHUNT_ALLOW;
	}
	t1 = now_s();
	ns = (t1 - t0) * 1e9 / (double)n;
	if (ns < b->best)
		b->best = ns;
}

static void vbench_free(struct vbench *b)
{
	shunt_policy_free(b->p);
	shunt_config_free(b->c);
	free(b->json);
}

/* The two sizes are measured in alternating rounds (the machine is shared;
 * alternating cancels load drift) and the best round of each is reported. */
static int compare(const char *what, struct vbench *small, struct vbench *big, long iters)
{
	for (int round = 0; round < 10; round++) {
		vbench_round(small, iters / 10);
		vbench_round(big, iters / 10);
	}
	printf("  %s:\n", what);
	printf("      10 rules: %6.1f ns/verdict (%ld of %ld allowed)\n", small->best,
	       small->allowed, iters / 10);
	printf("   10000 rules: %6.1f ns/verdict (%ld of %ld allowed)\n", big->best, big->allowed,
	       iters / 10);
	printf("   ratio: %.2fx (target <= 1.2x)\n", big->best / small->best);
	vbench_free(small);
	vbench_free(big);
	return 0;
}

/* nsvc services, rps rules each: svcI allows svc(I+1..I+rps/2) by principal
 * on GET paths and the rest on ports; every 10th has a DENY policy too. */
static char *gen_mesh(int nsvc, int rps, size_t *len_out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "{\"workloads\": [");
	for (int i = 0; i < nsvc; i++)
		fprintf(f,
			"%s{\"name\": \"svc%d\", \"namespace\": \"ns%d\", \"serviceAccount\": "
			"\"svc%d\", "
			"\"labels\": {\"app\": \"svc%d\"}, \"addresses\": [\"10.%d.%d.%d\"]}",
			i ? "," : "", i, i % 100, i, i, 1 + i / 65536, (i / 256) % 256, i % 256);
	fprintf(f, "], \"authorizationPolicies\": [");
	for (int i = 0; i < nsvc; i++) {
		fprintf(f,
			"%s{\"metadata\": {\"name\": \"svc%d-allow\", \"namespace\": \"ns%d\"}, "
			"\"spec\": "
			"{\"selector\": {\"matchLabels\": {\"app\": \"svc%d\"}}, \"rules\": [",
			i ? "," : "", i, i % 100, i);
		for (int r = 0; r < rps; r++) {
			int s = (i + 1 + r) % nsvc;

			if (r % 2 == 0)
				fprintf(f,
					"%s{\"from\": [{\"source\": {\"principals\": "
					"[\"cluster.local/ns/ns%d/sa/svc%d\"]}}], "
					"\"to\": [{\"operation\": {\"methods\": [\"GET\", "
					"\"HEAD\"], \"paths\": [\"/api/%d/*\", "
					"\"/v%d/{*}/items\"], \"ports\": [\"8080\"]}}]}",
					r ? "," : "", s % 100, s, r, r);
			else
				fprintf(f,
					"%s{\"from\": [{\"source\": {\"principals\": "
					"[\"cluster.local/ns/ns%d/sa/svc%d\"]}}], "
					"\"to\": [{\"operation\": {\"ports\": [\"%d\"]}}]}",
					r ? "," : "", s % 100, s, 9000 + r);
		}
		fprintf(f, "]}}");
		if (i % 10 == 0)
			fprintf(f,
				",{\"metadata\": {\"name\": \"svc%d-deny\", \"namespace\": "
				"\"ns%d\"}, \"spec\": "
				"{\"selector\": {\"matchLabels\": {\"app\": \"svc%d\"}}, "
				"\"action\": \"DENY\", "
				"\"rules\": [{\"to\": [{\"operation\": {\"paths\": "
				"[\"/admin/*\"]}}]}]}}",
				i, i % 100, i);
	}
	fprintf(f, "]}");
	fclose(f);
	*len_out = len;
	return buf;
}

static int write_mesh(const char *path, int nsvc, int rps)
{
	size_t len;
	char *json = gen_mesh(nsvc, rps, &len);
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f || fwrite(json, 1, len, f) != len) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		rc = 1;
	}
	if (f && fclose(f) && !rc) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		rc = 1;
	}
	free(json);
	if (!rc)
		printf("%s: %d services x %d rules, %zu bytes\n", path, nsvc, rps, len);
	return rc;
}

int main(int argc, char **argv)
{
	int nsvc = 20000, rps = 8;
	const char *mesh_out = NULL;
	long iters = 4000000;
	double t0, t1, t2, t3, t4;
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL, *p2 = NULL;
	struct shunt_diags d = {0};
	struct shunt_l4_entry *ents = NULL;
	size_t nents = 0, len;
	size_t nrules = 0;
	char *json;
	int err = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--services") && i + 1 < argc)
			nsvc = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rules-per-service") && i + 1 < argc)
			rps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--write-mesh") && i + 1 < argc)
			mesh_out = argv[++i];
		else {
			fprintf(stderr,
				"usage: %s [--services N] [--rules-per-service R] [--iters N] "
				"[--write-mesh FILE]\n",
				argv[0]);
			return 2;
		}
	}
	if (mesh_out)
		return write_mesh(mesh_out, nsvc, rps);
	printf("verdict cost, one destination, 10 vs 10000 rules (%ld verdicts each):\n", iters);
	{
		struct vbench s1 = {0}, b1 = {0}, s2 = {0}, b2 = {0}, s3 = {0}, b3 = {0};

		if (vbench_mixed(&s1, 10, false) || vbench_mixed(&b1, 10000, false) ||
		    compare("mixed exact/prefix/template paths, requests on 8 rules", &s1, &b1,
			    iters) ||
		    vbench_mixed(&s2, 10, true) || vbench_mixed(&b2, 10000, true) ||
		    compare("mixed paths, requests spread over all rules (cache misses)", &s2, &b2,
			    iters) ||
		    vbench_same_path(&s3, 10) || vbench_same_path(&b3, 10000) ||
		    compare("all rules on one path, differing by principal, 8 callers", &s3, &b3,
			    iters))
			return 1;
	}
	printf("mesh: %d services x %d rules = %d rules\n", nsvc, rps, nsvc * rps);
	json = gen_mesh(nsvc, rps, &len);
	t0 = now_s();
	err = load(json, "mesh", &c);
	t1 = now_s();
	free(json);
	if (err)
		return 1;
	for (size_t i = 0; i < c->n_policies; i++)
		nrules += c->policies[i].n_rules;
	printf("  parse+validate %.1f MB JSON: %.3f s (%zu policies, %zu rules)\n",
	       (double)len / 1e6, t1 - t0, c->n_policies, nrules);
	t1 = now_s();
	err = shunt_policy_compile(c, &p, &d);
	t2 = now_s();
	if (!err)
		err = shunt_policy_l4_entries(p, &ents, &nents);
	t3 = now_s();
	if (err) {
		fprintf(stderr, "failed to compile: %s\n", strerror(-err));
		return 1;
	}
	printf("  compile: %.3f s, L4 map entries: %.3f s (%zu entries); compile + entries: %.3f s "
	       "(target < 1 s)\n",
	       t2 - t1, t3 - t2, nents, t3 - t1);
	/* what `shuntctl validate` prints, for the whole mesh */
	{
		FILE *devnull = fopen("/dev/null", "w");

		t3 = now_s();
		if (devnull)
			shunt_config_summary(c, p, devnull);
		t4 = now_s();
		if (devnull)
			fclose(devnull);
		printf("  summary (shuntctl validate output): %.3f s\n", t4 - t3);
	}
	/* incremental: change one policy's path and rebuild only its destination */
	{
		struct shunt_authz_policy *pol = &c->policies[c->n_policies / 2];
		char *old = pol->rules[0].to[0].paths.v[0];

		pol->rules[0].to[0].paths.v[0] = strdup("/changed/*");
		t3 = now_s();
		err = shunt_policy_update(p, c, c->n_policies / 2, &p2, &d);
		t4 = now_s();
		free(old);
		if (err) {
			shunt_diags_print(&d, stderr);
			return 1;
		}
		printf("  incremental update of one policy: %.6f s (full compile %.3f s, %.0fx "
		       "faster)\n",
		       t4 - t3, t2 - t1, (t2 - t1) / (t4 - t3));
	}
	free(ents);
	shunt_policy_free(p2);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
	return 0;
}
