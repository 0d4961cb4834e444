// SPDX-License-Identifier: Apache-2.0
/*
 * Registered pods as workloads (sockmap/pod_workloads.c): kubelet cgroup name matching,
 * stable slots (identities) across ADD/DEL, the merge rules against the
 * config's static workloads, the compiled policy seeing pods by address, and
 * the lazy cgroup search with backoff over a kubelet-like directory tree
 * (plain directories in a temp dir: no privileges needed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "pod_workloads.h"
#include "shunt/l4.h"
#include "shunt/policy.h"

static void test_match(void)
{
	static const struct {
		const char *dir, *uid;
		bool want;
	} t[] = {
		{"pod0a1b2c3d-1111-2222-3333-444455556666", "0a1b2c3d-1111-2222-3333-444455556666",
		 true},
		{"kubepods-burstable-pod0a1b2c3d_1111_2222_3333_444455556666.slice",
		 "0a1b2c3d-1111-2222-3333-444455556666", true},
		{"kubepods-besteffort-podab_cd.slice", "ab-cd", true},
		{"kubepods-podab_cd.slice", "ab-cd", true},
		{"podab-cd", "ab-cd", true},
		{"podab_cd", "ab-cd", false},			       /* cgroupfs keeps '-' */
		{"kubepods-burstable-podab-cd.slice", "ab-cd", false}, /* systemd has '_' */
		{"podab-cde", "ab-cd", false},
		{"xpodab-cd", "ab-cd", false},
		{"kubepods-burstable-podab_cd.slice.x", "ab-cd", false},
		{"kubepods-burstable-podxab_cd.slice", "ab-cd", false},
		{"burstable", "ab-cd", false},
		{"pod", "", false},
		{"pod../x", "../x", false}, /* not a UID */
		{"podAB-CD", "AB-CD", true},
		{".slice", "ab", false},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(shunt_pod_cgroup_match(t[i].dir, t[i].uid) == t[i].want, "%s / %s: want %d",
		      t[i].dir, t[i].uid, t[i].want);
}

static struct shunt_reg_pod mkpod(const char *cid, const char *ns, const char *name,
				  const char *uid, const char *ip1, const char *ip2)
{
	struct shunt_reg_pod p;

	shunt_reg_pod_init(&p);
	snprintf(p.container_id, sizeof(p.container_id), "%s", cid);
	snprintf(p.ns, sizeof(p.ns), "%s", ns);
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.pod_uid, sizeof(p.pod_uid), "%s", uid);
	if (ip1)
		snprintf(p.ips[p.n_ips++], sizeof(p.ips[0]), "%s", ip1);
	if (ip2)
		snprintf(p.ips[p.n_ips++], sizeof(p.ips[0]), "%s", ip2);
	return p;
}

static void test_slots(void)
{
	struct shunt_pods p = {0};
	struct shunt_reg_pod a = mkpod("cid-a", "ns", "a", "aa", "10.0.0.1", NULL);
	struct shunt_reg_pod b = mkpod("cid-b", "ns", "b", "bb", "10.0.0.2", NULL);
	struct shunt_reg_pod c = mkpod("cid-c", "ns", "c", "cc", "10.0.0.3", "fd00::3");
	struct shunt_reg_pod d = mkpod("cid-d", "ns", "d", "dd", "10.0.0.4", NULL);
	struct shunt_reg_pod bad = mkpod("cid-x", "ns", "x", "", "10.0.0.300", NULL);

	CHECK(shunt_pods_put(&p, &a, 0) == 0, "a in slot 0");
	CHECK(shunt_pods_put(&p, &b, 0) == 1, "b in slot 1");
	CHECK(shunt_pods_put(&p, &c, 0) == 2, "c in slot 2");
	CHECK(p.v[2].n_addrs == 2 && p.v[2].addrs[1].family == AF_INET6, "c has 2 addresses");
	CHECK(shunt_pods_put(&p, &bad, 0) == -EINVAL && p.live == 3, "bad address refused");
	CHECK(shunt_pods_del(&p, "cid-b") == 1 && p.live == 2 && p.n == 3,
	      "DEL b frees slot 1, c keeps slot 2");
	CHECK(shunt_pods_del(&p, "cid-b") == 0, "DEL again: unknown");
	CHECK(shunt_pods_put(&p, &d, 0) == 3, "d gets a new slot (b's is not reused)");
	/* a re-ADD keeps the slot and the cgroup found for it */
	snprintf(p.v[0].cgroup, sizeof(p.v[0].cgroup), "/cg/podaa");
	p.v[0].next_try_ms = SHUNT_PODS_NEVER;
	a.n_ips = 1;
	snprintf(a.ips[0], sizeof(a.ips[0]), "10.0.0.11");
	CHECK(shunt_pods_put(&p, &a, 5) == 0 && !strcmp(p.v[0].cgroup, "/cg/podaa"),
	      "re-ADD keeps slot 0 and its cgroup");
	CHECK(p.v[0].addrs[0].addr[3] == 11 && p.live == 3, "re-ADD replaced the addresses");
	snprintf(a.pod_uid, sizeof(a.pod_uid), "a2");
	CHECK(shunt_pods_put(&p, &a, 5) == 0 && p.v[0].cgroup[0] == '\0' && p.v[0].next_try_ms == 5,
	      "a new UID searches again");
	CHECK(shunt_pods_del(&p, "cid-d") == 1 && p.n == 3, "trailing slot dropped");
	CHECK(shunt_pods_del(&p, "cid-c") == 1 && p.n == 1, "trailing free slots dropped");
	CHECK(shunt_pods_resolved(&p) == 0, "nothing resolved");
	shunt_pods_free(&p);

	/* compaction: only with many free slots */
	for (int i = 0; i < 300; i++) {
		char cid[32];
		struct shunt_reg_pod x;

		snprintf(cid, sizeof(cid), "cid-%d", i);
		x = mkpod(cid, "ns", cid, "", "10.1.0.1", NULL);
		CHECK(shunt_pods_put(&p, &x, 0) == i, "slot %d", i);
	}
	for (int i = 0; i < 200; i++) {
		char cid[32];

		snprintf(cid, sizeof(cid), "cid-%d", i);
		shunt_pods_del(&p, cid);
	}
	CHECK(!shunt_pods_compact(&p) && p.n == 300, "200 free of 300: no compaction");
	for (int i = 200; i < 290; i++) {
		char cid[32];

		snprintf(cid, sizeof(cid), "cid-%d", i);
		shunt_pods_del(&p, cid);
	}
	CHECK(shunt_pods_compact(&p) && p.n == 10 && p.live == 10 &&
		      !strcmp(p.v[0].reg.container_id, "cid-290"),
	      "290 free of 300: compacted, order kept");
	shunt_pods_free(&p);
}

static const char *config_json =
	"{\"workloads\": ["
	" {\"name\": \"web\", \"namespace\": \"default\", \"serviceAccount\": \"web\","
	"  \"labels\": {\"app\": \"web\"}, \"addresses\": [\"10.0.0.1\", \"10.9.0.0/16\"]},"
	" {\"name\": \"db\", \"namespace\": \"default\", \"addresses\": [\"10.0.0.2\"]}],"
	" \"authorizationPolicies\": [{\"metadata\": {\"name\": \"a-from-ok\", \"namespace\": "
	"\"team\"},"
	"  \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"a\"}}, \"action\": \"ALLOW\","
	"   \"rules\": [{\"from\": [{\"source\": {\"namespaces\": [\"ok\"]}}],"
	"              \"to\": [{\"operation\": {\"ports\": [\"80\"]}}]}]}}]}";

static int addr_workload(const struct shunt_policy *pol, const char *ip)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	inet_pton(AF_INET, ip, &sa.sin_addr);
	return shunt_policy_workload_by_addr(pol, (const struct sockaddr *)&sa);
}

static void test_merge(void)
{
	struct shunt_config *cfg = NULL;
	struct shunt_diags dg = {0};
	struct shunt_pods p = {0};
	struct shunt_pods_merged m;
	struct shunt_policy *pol = NULL;
	struct shunt_l4_entry *l4 = NULL;
	size_t nl4 = 0;
	struct shunt_reg_pod a = mkpod("cid-a", "team", "a", "aa", "10.9.0.5", "10.0.0.1");
	struct shunt_reg_pod web = mkpod("cid-web", "default", "web", "ww", "10.0.0.7", NULL);
	struct shunt_reg_pod ok = mkpod("cid-ok", "ok", "client", "", "10.0.0.8", NULL);
	struct shunt_reg_pod old = mkpod("cid-old", "ok", "stale", "", "10.0.0.9", NULL);
	struct shunt_reg_pod newer = mkpod("cid-new", "bad", "client", "", "10.0.0.9", NULL);
	int err;

	err = shunt_config_load_string(config_json, "test", &cfg, &dg);
	if (err)
		shunt_diags_print(&dg, stderr);
	CHECK(err == 0, "config loads");
	if (err)
		return;
	snprintf(a.service_account, sizeof(a.service_account), "sa-a");
	CHECK(shunt_reg_pod_set_label(&a, "app", "a") == 0, "label");
	a.sidecar = 1;
	snprintf(web.service_account, sizeof(web.service_account), "other");
	CHECK(shunt_pods_put(&p, &a, 0) == 0, "a");
	snprintf(p.v[0].cgroup, sizeof(p.v[0].cgroup), "/sys/fs/cgroup/kubepods/podaa");
	CHECK(shunt_pods_put(&p, &web, 0) == 1, "web");
	snprintf(p.v[1].cgroup, sizeof(p.v[1].cgroup), "/sys/fs/cgroup/kubepods/podww");
	CHECK(shunt_pods_put(&p, &ok, 0) == 2, "ok");
	CHECK(shunt_pods_put(&p, &old, 0) == 3, "old");
	CHECK(shunt_pods_put(&p, &newer, 0) == 4, "newer");
	shunt_pods_del(&p, "cid-ok"); /* slot 2 becomes a placeholder */

	CHECK(shunt_pods_merge(cfg, &p, &m) == 0, "merge");
	CHECK(m.cfg.n_workloads == 2 + 5 && m.n_static == 2 && m.n_pods == 5, "2 static + 5 slots");
	CHECK(cfg->n_workloads == 2 && cfg->workloads[0].n_addresses == 2,
	      "the base config is untouched");
	{
		const struct shunt_workload *w = m.cfg.workloads;

		/* static first, same order */
		CHECK_STR(w[0].name, "web");
		CHECK_STR(w[1].name, "db");
		/* a: identity from the registration, 10.0.0.1 stays web's */
		CHECK_STR(w[2].name, "a");
		CHECK_STR(w[2].ns, "team");
		CHECK_STR(w[2].principal, "cluster.local/ns/team/sa/sa-a");
		CHECK(w[2].n_labels == 1 && !strcmp(w[2].labels[0].key, "app") &&
			      !strcmp(w[2].labels[0].value, "a"),
		      "a's labels");
		CHECK(w[2].sidecar == 1, "a's sidecar");
		CHECK(w[2].n_addresses == 1 && w[2].addresses[0].addr[1] == 9,
		      "a keeps 10.9.0.5 only");
		CHECK(w[2].cgroups.n == 1 &&
			      !strcmp(w[2].cgroups.v[0], "/sys/fs/cgroup/kubepods/podaa"),
		      "a's cgroup");
		/* web: same name as a static workload: joined it, config identity wins */
		CHECK_STR(w[0].service_account, "web");
		CHECK(w[0].n_addresses == 3 && w[0].addresses[2].addr[3] == 7,
		      "web gained 10.0.0.7");
		CHECK(w[0].cgroups.n == 1 &&
			      !strcmp(w[0].cgroups.v[0], "/sys/fs/cgroup/kubepods/podww"),
		      "web gained its cgroup");
		CHECK(w[3].n_addresses == 0 && w[3].cgroups.n == 0 && !strcmp(w[3].ns, "-"),
		      "web's slot is a placeholder");
		CHECK(w[4].n_addresses == 0 && w[4].cgroups.n == 0 && !strcmp(w[4].ns, "-"),
		      "free slot is a placeholder");
		/* same address twice: the newer registration owns it */
		CHECK(w[5].n_addresses == 0, "stale pod lost 10.0.0.9");
		CHECK(w[6].n_addresses == 1 && w[6].addresses[0].addr[3] == 9,
		      "newer owns 10.0.0.9");
		CHECK_STR(w[6].principal, "cluster.local/ns/bad/sa/default");
		CHECK(w[6].sidecar == -1, "unknown sidecar");
		CHECK(m.dropped_addrs == 2 && m.joined_static == 1, "dropped %zu joined %zu",
		      m.dropped_addrs, m.joined_static);
	}
	/* the compiled policy sees the pods */
	CHECK(shunt_policy_compile(&m.cfg, &pol, &dg) == 0, "compile");
	if (pol) {
		CHECK(addr_workload(pol, "10.9.0.5") == 2, "10.9.0.5 -> a (longer prefix)");
		CHECK(addr_workload(pol, "10.9.0.6") == 0, "10.9.0.6 -> web's CIDR");
		CHECK(addr_workload(pol, "10.0.0.1") == 0, "10.0.0.1 -> web");
		CHECK(addr_workload(pol, "10.0.0.7") == 0, "10.0.0.7 -> web (joined)");
		CHECK(addr_workload(pol, "10.0.0.9") == 6, "10.0.0.9 -> newer");
		CHECK(shunt_policy_l4_entries(pol, &l4, &nl4) == 0, "l4");
		/* a (identity 3) on port 80: denied for bad/client (identity 7) */
		CHECK(shunt_l4_lookup(l4, nl4, shunt_identity_of(6), shunt_identity_of(2), 80) ==
			      SHUNT_L4_DENY,
		      "bad -> a:80 denied");
		CHECK(shunt_l4_lookup(l4, nl4, shunt_identity_of(6), shunt_identity_of(1), 80) ==
			      SHUNT_L4_ALLOW,
		      "bad -> db:80 allowed (no policy)");
	}
	free(l4);
	shunt_policy_free(pol);
	shunt_pods_merged_free(&m);

	/* an allowed source: register a pod in namespace ok again */
	ok = mkpod("cid-ok2", "ok", "client2", "", "10.0.0.10", NULL);
	CHECK(shunt_pods_put(&p, &ok, 0) == 5, "ok2 in a new slot");
	CHECK(shunt_pods_merge(cfg, &p, &m) == 0, "merge 2");
	pol = NULL;
	l4 = NULL;
	CHECK(shunt_policy_compile(&m.cfg, &pol, &dg) == 0, "compile 2");
	if (pol && shunt_policy_l4_entries(pol, &l4, &nl4) == 0) {
		CHECK(shunt_l4_lookup(l4, nl4, shunt_identity_of(7), shunt_identity_of(2), 80) !=
			      SHUNT_L4_DENY,
		      "ok/client2 -> a:80 allowed");
		CHECK(shunt_l4_lookup(l4, nl4, shunt_identity_of(7), shunt_identity_of(2), 81) ==
			      SHUNT_L4_DENY,
		      "ok/client2 -> a:81 denied");
	}
	free(l4);
	shunt_policy_free(pol);
	shunt_pods_merged_free(&m);
	shunt_pods_free(&p);
	shunt_diags_free(&dg);
	shunt_config_free(cfg);
}

/* Istio capture annotations of registrations -> the workloads' capture. */
static const char *annot_json =
	"{\"workloads\": ["
	" {\"name\": \"web\", \"namespace\": \"default\", \"addresses\": [\"10.0.0.1\"]},"
	" {\"name\": \"db\", \"namespace\": \"default\", \"addresses\": [\"10.0.0.2\"],"
	"  \"capture\": {\"excludeOutboundPorts\": [3306]}},"
	" {\"name\": \"nosc\", \"namespace\": \"default\", \"sidecar\": false}]}";

static void annotate(struct shunt_reg_pod *r, const char *name, const char *value)
{
	char key[96];

	snprintf(key, sizeof(key), "%s%s", SHUNT_ISTIO_ANNOTATION_PREFIX, name);
	CHECK(shunt_reg_pod_set_annotation(r, key, value) == 0, "annotation %s", name);
}

static void test_annotations(void)
{
	struct shunt_config *cfg = NULL;
	struct shunt_diags dg = {0};
	struct shunt_pods p = {0};
	struct shunt_pods_merged m;
	struct shunt_reg_pod a = mkpod("cid-a", "team", "a", "aa", "10.1.0.1", NULL);
	struct shunt_reg_pod web = mkpod("cid-web", "default", "web", "ww", "10.1.0.2", NULL);
	struct shunt_reg_pod db = mkpod("cid-db", "default", "db", "dd", "10.1.0.3", NULL);
	struct shunt_reg_pod nosc = mkpod("cid-nosc", "default", "nosc", "nn", "10.1.0.4", NULL);
	struct shunt_reg_pod bad = mkpod("cid-bad", "team", "bad", "bb", "10.1.0.5", NULL);
	char *log = NULL;
	size_t loglen = 0;
	FILE *f;
	int err;

	err = shunt_config_load_string(annot_json, "test", &cfg, &dg);
	if (err)
		shunt_diags_print(&dg, stderr);
	CHECK(err == 0, "annotation config loads");
	if (err)
		return;
	annotate(&a, "excludeOutboundPorts", "22, 23");
	annotate(&a, "excludeOutboundIPRanges", "10.2.0.0/16,fd00::/8");
	annotate(&web, "includeInboundPorts", "8080");
	annotate(&db, "excludeOutboundPorts", "1");
	annotate(&nosc, "excludeOutboundPorts", "2");
	annotate(&bad, "includeInboundPorts", "80");
	annotate(&bad, "excludeOutboundPorts", "22,ssh");
	CHECK(shunt_pods_put(&p, &a, 0) == 0, "a");
	CHECK(shunt_pods_put(&p, &web, 0) == 1, "web");
	CHECK(shunt_pods_put(&p, &db, 0) == 2, "db");
	CHECK(shunt_pods_put(&p, &nosc, 0) == 3, "nosc");
	CHECK(p.diags.n == 0, "no diagnostics for good annotations");
	/* a bad value: registered all the same, with the global capture settings */
	CHECK(shunt_pods_put(&p, &bad, 0) == 4, "bad is registered");
	CHECK(p.diags.n == 2, "bad: %zu diagnostics", p.diags.n);
	if (p.diags.n) {
		CHECK_STR(p.diags.v[0].file, "pod team/bad");
		CHECK_STR(p.diags.v[0].path,
			  "$.annotations[\"traffic.sidecar.istio.io/excludeOutboundPorts\"]");
		CHECK(strstr(p.diags.v[0].msg, "bad port 'ssh'") != NULL, "%s", p.diags.v[0].msg);
	}
	f = open_memstream(&log, &loglen);
	CHECK(f != NULL, "memstream");
	if (f) {
		shunt_pods_print_diags(&p, f, "shuntd: ");
		fclose(f);
		CHECK(log && !strncmp(log,
				      "shuntd: pod team/bad: "
				      "$.annotations[\"traffic.sidecar.istio.io/"
				      "excludeOutboundPorts\"]: "
				      "bad port 'ssh' in '22,ssh'",
				      strlen("shuntd: pod team/bad: "
					     "$.annotations[\"traffic.sidecar.istio."
					     "io/excludeOutboundPorts\"]: bad port 'ssh' in "
					     "'22,ssh'")),
		      "log line: %s", log ? log : "(null)");
		CHECK(p.diags.n == 0, "diagnostics cleared once printed");
	}
	free(log);

	CHECK(shunt_pods_merge(cfg, &p, &m) == 0, "merge");
	if (m.cfg.n_workloads == 3 + 5) {
		const struct shunt_workload *w = m.cfg.workloads;
		const struct shunt_workload_capture *c = &w[3].capture;

		/* a: its own workload gets its annotations */
		CHECK_STR(w[3].name, "a");
		CHECK(c->exclude_outbound_ports.n == 2 && c->exclude_outbound_ports.v[0] == 22 &&
			      c->exclude_outbound_ports.v[1] == 23,
		      "a: excluded outbound ports");
		CHECK(c->exclude_outbound_cidrs.n == 2 &&
			      c->exclude_outbound_cidrs.v[0].family == AF_INET &&
			      c->exclude_outbound_cidrs.v[0].prefix == 16 &&
			      c->exclude_outbound_cidrs.v[1].family == AF_INET6,
		      "a: excluded outbound ranges");
		CHECK(c->include_inbound == SHUNT_SEL_UNSET &&
			      c->include_outbound == SHUNT_SEL_UNSET,
		      "a: the rest unset");
		/* web joined a static workload without capture: the annotations apply */
		CHECK(w[0].capture.include_inbound == SHUNT_SEL_LIST &&
			      w[0].capture.include_inbound_ports.n == 1 &&
			      w[0].capture.include_inbound_ports.v[0] == 8080,
		      "web: annotations applied to the joined static workload");
		/* db: the config's explicit capture block wins */
		CHECK(w[1].capture.exclude_outbound_ports.n == 1 &&
			      w[1].capture.exclude_outbound_ports.v[0] == 3306,
		      "db: the config's capture wins over annotations");
		/* nosc: "sidecar": false in the config: never captured, annotations ignored */
		CHECK(w[2].sidecar == 0 && !shunt_workload_capture_set(&w[2].capture),
		      "nosc: no capture");
		/* bad: global settings */
		CHECK_STR(w[7].name, "bad");
		CHECK(!shunt_workload_capture_set(&w[7].capture), "bad: global capture settings");
		CHECK(w[7].n_addresses == 1, "bad: still a workload with its address");
	} else {
		CHECK(0, "merged %zu workloads", m.cfg.n_workloads);
	}
	CHECK(cfg->workloads[0].capture.include_inbound == SHUNT_SEL_UNSET,
	      "the base config is untouched");
	shunt_pods_merged_free(&m);

	/* re-ADD with other annotations replaces them (the old ones are freed) */
	a.n_annotations = 0;
	annotate(&a, "includeOutboundIPRanges", "*");
	CHECK(shunt_pods_put(&p, &a, 0) == 0, "a again, same slot");
	CHECK(p.v[0].capture.include_outbound == SHUNT_SEL_ALL &&
		      p.v[0].capture.exclude_outbound_ports.n == 0,
	      "a: new annotations only");
	CHECK(shunt_pods_del(&p, "cid-web") == 1, "DEL web");
	CHECK(shunt_pods_del(&p, "cid-bad") == 1, "DEL bad");
	shunt_pods_free(&p);
	shunt_diags_free(&dg);
	shunt_config_free(cfg);
}

static void mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX], *s;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	mkdir(path, 0755);
}

static void test_resolve(void)
{
	char root[] = "/tmp/shunt-pods-unit-XXXXXX", node[PATH_MAX], want[PATH_MAX * 2],
	     cmd[PATH_MAX * 2];
	struct shunt_pods p = {0};
	struct shunt_reg_pod a = mkpod("cid-a", "ns", "a", "1111-aa", "10.0.0.1", NULL);
	struct shunt_reg_pod b = mkpod("cid-b", "ns", "b", "2222-bb", "10.0.0.2", NULL);
	struct shunt_reg_pod c = mkpod("cid-c", "ns", "c", "3333-cc", "10.0.0.3", NULL);
	struct shunt_reg_pod h = mkpod("cid-h", "ns", "h", "", "10.0.0.4", NULL);
	struct shunt_reg_pod none = mkpod("cid-n", "ns", "n", "", "10.0.0.5", NULL);
	uint64_t t;
	int n;

	if (!mkdtemp(root)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(node, sizeof(node), "%s/kubepods", root);
	/* cgroupfs layout for a, systemd layout for b, c not created yet */
	mkdirs(root, "kubepods/burstable/pod1111-aa/ctr1");
	mkdirs(root, "kubepods/kubepods-besteffort.slice/kubepods-besteffort-pod2222_bb.slice/x");
	mkdirs(root, "kubepods/other/pod3333-cd");
	mkdirs(root, "kubepods/hinted");
	snprintf(h.cgroup, sizeof(h.cgroup), "/kubepods/hinted"); /* relative to the mount */
	CHECK(shunt_pods_put(&p, &a, 1000) == 0 && shunt_pods_put(&p, &b, 1000) == 1 &&
		      shunt_pods_put(&p, &c, 1000) == 2 && shunt_pods_put(&p, &h, 1000) == 3 &&
		      shunt_pods_put(&p, &none, 1000) == 4,
	      "put");
	CHECK(p.v[4].next_try_ms == SHUNT_PODS_NEVER, "no UID, no cgroup: nothing to search");
	CHECK(shunt_pods_next_retry(&p) == 1000, "due now");
	n = shunt_pods_resolve_cgroups(&p, node, root, 1000);
	CHECK(n == 3, "a, b and the hinted pod found (%d)", n);
	snprintf(want, sizeof(want), "%s/kubepods/burstable/pod1111-aa", root);
	CHECK(!strcmp(p.v[0].cgroup, want), "a: %s", p.v[0].cgroup);
	snprintf(want, sizeof(want),
		 "%s/kubepods/kubepods-besteffort.slice/kubepods-besteffort-pod2222_bb.slice",
		 root);
	CHECK(!strcmp(p.v[1].cgroup, want), "b: %s", p.v[1].cgroup);
	snprintf(want, sizeof(want), "%s/kubepods/hinted", root);
	CHECK(!strcmp(p.v[3].cgroup, want), "h: %s", p.v[3].cgroup);
	CHECK(p.v[2].cgroup[0] == '\0' && p.v[2].next_try_ms == 1000 + SHUNT_PODS_RETRY_MIN_MS,
	      "c backs off");
	CHECK(shunt_pods_next_retry(&p) == 1050, "next retry");
	CHECK(shunt_pods_resolve_cgroups(&p, node, root, 1049) == 0 && p.v[2].next_try_ms == 1050,
	      "not due: untouched");
	/* backoff doubles up to the cap */
	t = 1050;
	for (int i = 0; i < 12; i++) {
		CHECK(shunt_pods_resolve_cgroups(&p, node, root, t) == 0, "c still missing");
		t = p.v[2].next_try_ms;
	}
	CHECK(p.v[2].backoff_ms == SHUNT_PODS_RETRY_MAX_MS, "backoff capped at %u",
	      p.v[2].backoff_ms);
	mkdirs(root, "kubepods/burstable/pod3333-cc");
	CHECK(shunt_pods_resolve_cgroups(&p, node, root, t) == 1, "c found once it exists");
	CHECK(shunt_pods_next_retry(&p) == SHUNT_PODS_NEVER && shunt_pods_resolved(&p) == 4,
	      "all resolved");
	shunt_pods_free(&p);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
	test_match();
	test_slots();
	test_merge();
	test_annotations();
	test_resolve();
	return check_done("pods_unit_test");
}
