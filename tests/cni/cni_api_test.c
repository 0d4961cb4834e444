/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests (no privileges) for the pod identity shunt-cni reads from the
 * Kubernetes API: the registry protocol's identity members (round trip, bounds,
 * bad input, old state files), kubeconfig parsing, base64, the pod path, the
 * Pod document -> identity mapping, the plugin's new config keys, and k8s_get()
 * against a fake plain-HTTP API server on 127.0.0.1 (a thread): token header,
 * 200/404/403/500, an oversized answer and a server that never answers.
 * TLS (CA verification) is tested with the real plugin in cni_pods_test.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "cni_plugin.h"
#include "k8s_api.h"
#include "registry.h"
#include "regsrv_thread.h"

/* Error rows of the tables below leave the expected-value columns out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Fatal: the rest of the test would be meaningless. */
#define REQUIRE(cond, ...)                                                                   \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: required: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

static char g_dir[] = "/tmp/shunt-cni-api-XXXXXX";

/* ---- registry protocol: identity members ---- */

#define ADD_HEAD                                                                                  \
	"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/" \
	"n\","                                                                                    \
	"\"ips\":[\"10.0.0.1\"]"

static void test_request_identity(void)
{
	static const struct {
		const char *tail;   /* appended to ADD_HEAD, then "}" */
		const char *errsub; /* NULL = accepted */
	} cases[] = {
		{"", NULL},
		{",\"serviceAccount\":\"app1\",\"sidecar\":true,\"labels\":{\"app\":\"a\","
		 "\"example.com/tier\":\"\"},\"annotations\":{\"traffic.sidecar.istio.io/"
		 "excludeOutboundPorts\":\"22,443\"}",
		 NULL},
		{",\"sidecar\":1", "'sidecar' must be true or false"},
		{",\"serviceAccount\":\"App_1\"", "not a DNS subdomain"},
		{",\"serviceAccount\":7", "must be a string"},
		{",\"labels\":[]", "must be an object"},
		{",\"labels\":{\"app\":1}", "must be a string"},
		{",\"labels\":{\"-app\":\"x\"}", "bad key or value"},
		{",\"labels\":{\"app\":\"has space\"}", "bad key or value"},
		{",\"labels\":{\"Example.com/app\":\"x\"}", "bad key or value"},
		{",\"labels\":{\"a/b/c\":\"x\"}", "bad key or value"},
		{",\"labels\":{\"app\":"
		 "\"a123456789012345678901234567890123456789012345678901234567890123\"}",
		 "bad key or value"},
		{",\"annotations\":{\"sidecar.istio.io/status\":\"{}\"}", "bad key or value"},
		{",\"annotations\":{\"traffic.sidecar.istio.io/\":\"x\"}", "bad key or value"},
		{",\"annotations\":{\"traffic.sidecar.istio.io/x\":\"a\\nb\"}", "bad key or value"},
	};
	struct shunt_reg_request r;
	char line[1024], err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		snprintf(line, sizeof(line), "%s%s}", ADD_HEAD, cases[i].tail);
		err[0] = '\0';
		ret = shunt_reg_parse_request(line, strlen(line), &r, err, sizeof(err));
		if (!cases[i].errsub) {
			CHECK(ret == 0, "case %zu accepted: %s", i, err);
		} else {
			CHECK(ret == -EINVAL && strstr(err, cases[i].errsub),
			      "case %zu: ret %d err '%s', want '%s'", i, ret, err, cases[i].errsub);
		}
	}
	/* Absent identity = unknown. */
	snprintf(line, sizeof(line), "%s}", ADD_HEAD);
	CHECK(shunt_reg_parse_request(line, strlen(line), &r, err, sizeof(err)) == 0 &&
		      r.pod.sidecar == -1 && !r.pod.service_account[0] && !r.pod.n_labels &&
		      !r.pod.n_annotations,
	      "no identity: sidecar %d", r.pod.sidecar);
}

/* A JSON object with n labels "k<i>": "v". */
static void labels_json(char *buf, size_t cap, const char *member, const char *prefix, int n,
			const char *value)
{
	size_t len = (size_t)snprintf(buf, cap, "%s,\"%s\":{", ADD_HEAD, member);

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s\"%sk%d\":\"%s\"", i ? "," : "",
					prefix, i, value);
	snprintf(buf + len, cap - len, "}}");
}

static void test_identity_bounds(void)
{
	static char line[200000];
	static char big[2100];
	struct shunt_reg_request r;
	char err[256], key[400];

	labels_json(line, sizeof(line), "labels", "", SHUNT_REG_MAX_LABELS, "v");
	CHECK(shunt_reg_parse_request(line, strlen(line), &r, err, sizeof(err)) == 0 &&
		      r.pod.n_labels == SHUNT_REG_MAX_LABELS,
	      "%d labels accepted: %s", SHUNT_REG_MAX_LABELS, err);
	labels_json(line, sizeof(line), "labels", "", SHUNT_REG_MAX_LABELS + 1, "v");
	CHECK(shunt_reg_parse_request(line, strlen(line), &r, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "more than"),
	      "%d labels refused: %s", SHUNT_REG_MAX_LABELS + 1, err);
	labels_json(line, sizeof(line), "annotations", SHUNT_REG_ANNOTATION_PREFIX,
		    SHUNT_REG_MAX_ANNOTATIONS + 1, "v");
	CHECK(shunt_reg_parse_request(line, strlen(line), &r, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "more than"),
	      "too many annotations refused: %s", err);

	/* Longest label key: 253-char prefix + '/' + 63-char name. */
	memset(key, 'a', 253);
	key[253] = '/';
	memset(key + 254, 'b', 63);
	key[317] = '\0';
	shunt_reg_pod_init(&r.pod);
	CHECK(shunt_reg_pod_set_label(&r.pod, key, "v") == 0, "317-char key accepted");
	key[254 + 63] = 'b';
	key[318] = '\0';
	CHECK(shunt_reg_pod_set_label(&r.pod, key, "v") == -EINVAL, "64-char name refused");
	memset(key, 'a', 254);
	strcpy(key + 254, "/n");
	CHECK(shunt_reg_pod_set_label(&r.pod, key, "v") == -EINVAL, "254-char prefix refused");

	memset(big, 'x', 2047);
	big[2047] = '\0';
	CHECK(shunt_reg_pod_set_annotation(&r.pod, "traffic.sidecar.istio.io/a", big) == 0,
	      "2047-byte annotation value accepted");
	big[2047] = 'x';
	big[2048] = '\0';
	CHECK(shunt_reg_pod_set_annotation(&r.pod, "traffic.sidecar.istio.io/b", big) == -EINVAL,
	      "2048-byte annotation value refused");
	/* Replace keeps one entry; entries are sorted. */
	CHECK(shunt_reg_pod_set_label(&r.pod, "b", "1") == 0 &&
		      shunt_reg_pod_set_label(&r.pod, "a", "2") == 0 &&
		      shunt_reg_pod_set_label(&r.pod, "b", "3") == 0,
	      "set labels");
	CHECK(r.pod.n_labels == 3 && !strcmp(r.pod.labels[0].key, "a") &&
		      !strcmp(r.pod.labels[2].key, "b") &&
		      !strcmp(shunt_reg_pod_label(&r.pod, "b"), "3") &&
		      !shunt_reg_pod_label(&r.pod, "c"),
	      "labels sorted and replaced: n %u, [0] %s", r.pod.n_labels, r.pod.labels[0].key);
}

static void fill_pod(struct shunt_reg_pod *p, const char *cid)
{
	shunt_reg_pod_init(p);
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid);
	strcpy(p->ns, "team-a");
	strcpy(p->name, "web-0");
	strcpy(p->netns, "/run/netns/x");
	p->n_ips = 1;
	strcpy(p->ips[0], "10.1.1.1");
}

static void test_identity_roundtrip(void)
{
	struct shunt_reg_request a = {.op = SHUNT_REG_ADD}, b;
	struct shunt_reg_table t = {0}, u = {0};
	char *line = NULL, err[256] = "", path[512];
	FILE *f;

	fill_pod(&a.pod, "c1");
	strcpy(a.pod.service_account, "web");
	a.pod.sidecar = 1;
	CHECK(shunt_reg_pod_set_label(&a.pod, "app", "web") == 0 &&
		      shunt_reg_pod_set_label(&a.pod, "security.istio.io/tlsMode", "istio") == 0 &&
		      shunt_reg_pod_set_annotation(
			      &a.pod, "traffic.sidecar.istio.io/excludeOutboundPorts", "22") == 0,
	      "set identity");
	CHECK(shunt_reg_format_request(&a, &line) == 0, "format");
	CHECK(line && strstr(line, "\"serviceAccount\":\"web\"") &&
		      strstr(line, "\"sidecar\":true"),
	      "identity in the line: %s", line);
	CHECK(line && shunt_reg_parse_request(line, strlen(line), &b, err, sizeof(err)) == 0,
	      "reparse: %s", err);
	CHECK(!memcmp(&a.pod, &b.pod, sizeof(a.pod)), "identity survives format/parse");
	free(line);

	/* sidecar -1 (unknown) is omitted and comes back as -1; 0 comes back as 0. */
	fill_pod(&a.pod, "c2");
	CHECK(shunt_reg_format_request(&a, &line) == 0 && !strstr(line, "sidecar"),
	      "unknown sidecar omitted: %s", line);
	free(line);
	a.pod.sidecar = 0;
	CHECK(shunt_reg_format_request(&a, &line) == 0 && strstr(line, "\"sidecar\":false"),
	      "sidecar false written: %s", line);
	free(line);

	/* State file: identity persisted; an old file (no identity members) still loads. */
	snprintf(path, sizeof(path), "%s/state.json", g_dir);
	fill_pod(&a.pod, "c3");
	strcpy(a.pod.service_account, "sa3");
	a.pod.sidecar = 0;
	CHECK(shunt_reg_pod_set_label(&a.pod, "app", "three") == 0, "label");
	CHECK(shunt_reg_table_put(&t, &a.pod) == 0 && shunt_reg_table_save(&t, path) == 0, "save");
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == 0 && u.n == 1 &&
		      !memcmp(&u.pods[0], &a.pod, sizeof(a.pod)),
	      "identity survives save/load: %s", err);
	f = fopen(path, "w");
	CHECK(f &&
		      fputs("{\"version\":1,\"pods\":[{\"containerId\":\"old\",\"namespace\":\"n\","
			    "\"name\":\"p\",\"netns\":\"/run/netns/p\",\"ips\":[\"10.0.0.9\"]}]}\n",
			    f) >= 0 &&
		      !fclose(f),
	      "write old state file");
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == 0 && u.n == 1 &&
		      u.pods[0].sidecar == -1 && !u.pods[0].service_account[0] &&
		      u.pods[0].n_labels == 0,
	      "old state file loads with identity unknown: %s", err);
	unlink(path);
	shunt_reg_table_free(&t);
	shunt_reg_table_free(&u);
}

/* The largest pod the protocol allows: every label and annotation at its maximum,
 * annotation values full of characters JSON escapes. It fits in one request line
 * and goes through the real server intact. */
static void test_identity_max(void)
{
	static struct shunt_reg_request a = {.op = SHUNT_REG_ADD}, b;
	char key[400], value[2048], sock[512], err[256] = "", *line = NULL;
	const struct shunt_reg_pod *got;
	struct test_regsrv s = {0};

	fill_pod(&a.pod, "cmax");
	memset(a.pod.service_account, 's', 253);
	for (int i = 0; i < SHUNT_REG_MAX_LABELS; i++) {
		memset(key, 'p', 253);
		snprintf(key + 253, sizeof(key) - 253, "/%063d", i);
		memset(value, 'v', 63);
		value[63] = '\0';
		REQUIRE(shunt_reg_pod_set_label(&a.pod, key, value) == 0, "label %d", i);
	}
	for (int i = 0; i < SHUNT_REG_MAX_ANNOTATIONS; i++) {
		snprintf(key, sizeof(key), "%s%063d", SHUNT_REG_ANNOTATION_PREFIX, i);
		memset(value, '"', 2047);
		value[2047] = '\0';
		REQUIRE(shunt_reg_pod_set_annotation(&a.pod, key, value) == 0, "annotation %d", i);
	}
	a.pod.sidecar = 1;
	REQUIRE(shunt_reg_format_request(&a, &line) == 0, "format the largest pod");
	CHECK(strlen(line) < SHUNT_REG_MAX_LINE, "largest request %zu < %d bytes", strlen(line),
	      SHUNT_REG_MAX_LINE);
	CHECK(shunt_reg_parse_request(line, strlen(line), &b, err, sizeof(err)) == 0 &&
		      !memcmp(&a.pod, &b.pod, sizeof(a.pod)),
	      "largest pod round trip: %s", err);
	free(line);

	snprintf(sock, sizeof(sock), "%s/reg.sock", g_dir);
	REQUIRE(shunt_registry_open(&s.r, sock, NULL, NULL, NULL, err, sizeof(err)) == 0,
		"registry open: %s", err);
	REQUIRE(test_regsrv_start(&s) == 0, "thread");
	CHECK(shunt_reg_send(sock, &a, 5000, err, sizeof(err)) == 0, "send the largest pod: %s",
	      err);
	REQUIRE(test_regsrv_stop(&s) == 0, "stop");
	got = shunt_reg_table_find(shunt_registry_table(s.r), "cmax");
	CHECK(got && !memcmp(got, &a.pod, sizeof(a.pod)),
	      "the server holds the largest pod intact");
	shunt_registry_close(s.r);
}

/* ---- kubeconfig ---- */

#define KC_CLUSTERS                                                                       \
	"\"clusters\":[{\"name\":\"other\",\"cluster\":{\"server\":\"https://10.9.9.9\"," \
	"\"certificate-authority\":\"/x\"}},{\"name\":\"local\",\"cluster\":{\"server\":" \
	"\"https://10.96.0.1:443/\",\"certificate-authority-data\":\"LS0tLS1CRUdJTg==\"}}]"
#define KC_USERS                                                                             \
	"\"users\":[{\"name\":\"cni\",\"user\":{\"token\":\"abc.def\\n\"}},{\"name\":\"f\"," \
	"\"user\":"                                                                          \
	"{\"tokenFile\":\"token\"}}]"

static void test_kubeconfig(void)
{
	static const struct {
		const char *text;
		const char *errsub; /* NULL: accepted */
		const char *server, *ca_pem, *ca_file, *token, *token_file;
	} cases[] = {
		{"{" KC_CLUSTERS "," KC_USERS ",\"contexts\":[{\"name\":\"c\",\"context\":{"
		 "\"cluster\":\"local\",\"user\":\"cni\"}}],\"current-context\":\"c\"}",
		 NULL, "https://10.96.0.1:443", "-----BEGIN", "", "abc.def", ""},
		{"{" KC_CLUSTERS "," KC_USERS ",\"contexts\":[{\"name\":\"c\",\"context\":{"
		 "\"cluster\":\"other\",\"user\":\"f\"}}]}",
		 NULL, "https://10.9.9.9", NULL, "/x", NULL, "/etc/cni/net.d/token"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"http://"
		 "127.0.0.1:8001\"}}]}",
		 NULL, "http://127.0.0.1:8001", NULL, "", NULL, ""},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://127.0.0.1\","
		 "\"certificate-authority\":\"ca.crt\"}}]}",
		 NULL, "https://127.0.0.1", NULL, "/etc/cni/net.d/ca.crt", NULL, ""},
		{"apiVersion: v1\nkind: Config\n", "not JSON"},
		{"[]", "not JSON"},
		{"{" KC_CLUSTERS ",\"current-context\":\"nope\"}", "is not in contexts"},
		{"{" KC_CLUSTERS "}", "not exactly one cluster"},
		{"{\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"zz\"}}]," KC_CLUSTERS
		 "}",
		 "cluster is not in clusters"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://h\","
		 "\"certificate-authority\":\"/c\",\"insecure-skip-tls-verify\":true}}]}",
		 "insecure-skip-tls-verify"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://h\"}}]}",
		 "needs certificate-authority"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"ftp://h\"}}]}",
		 "https:// (or http://) URL"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://h x\","
		 "\"certificate-authority\":\"/c\"}}]}",
		 "space or control"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://h\","
		 "\"certificate-authority-data\":\"!!!\"}}]}",
		 "not base64"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"http://h\"}}],"
		 "\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"a b\"}}]}",
		 "not allowed in a header"},
		{"{\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"http://h\"}}],"
		 "\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"\"}}]}",
		 "token is empty"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct k8s_api_conf c;
		char err[256] = "";
		int ret = k8s_kubeconfig_parse(cases[i].text, strlen(cases[i].text),
					       "/etc/cni/net.d", &c, err, sizeof(err));

		if (cases[i].errsub) {
			CHECK(ret == -EINVAL && strstr(err, cases[i].errsub),
			      "kubeconfig %zu: ret %d err '%s', want '%s'", i, ret, err,
			      cases[i].errsub);
			continue;
		}
		CHECK(ret == 0, "kubeconfig %zu: %s", i, err);
		if (ret)
			continue;
		CHECK(!strcmp(c.server, cases[i].server), "kubeconfig %zu: server %s", i, c.server);
		CHECK(cases[i].ca_pem ? c.ca_pem && !strncmp(c.ca_pem, cases[i].ca_pem,
							     strlen(cases[i].ca_pem))
				      : !c.ca_pem,
		      "kubeconfig %zu: ca data %s", i, c.ca_pem ? c.ca_pem : "(none)");
		CHECK(!strcmp(c.ca_file, cases[i].ca_file), "kubeconfig %zu: ca file %s", i,
		      c.ca_file);
		CHECK(cases[i].token ? c.token && !strcmp(c.token, cases[i].token) : !c.token,
		      "kubeconfig %zu: token %s", i, c.token ? c.token : "(none)");
		CHECK(!strcmp(c.token_file, cases[i].token_file), "kubeconfig %zu: token file %s",
		      i, c.token_file);
		k8s_api_conf_free(&c);
	}
}

static void test_base64_and_path(void)
{
	static const struct {
		const char *in, *out; /* out NULL = invalid */
	} cases[] = {
		{"", ""},	 {"YQ==", "a"},	      {"YWI=", "ab"},
		{"YWJj", "abc"}, {"YW\nJj\n", "abc"}, {"YWJjZA", "abcd"},
		{"YQ=x", NULL},	 {"Y", NULL},	      {"YR==", NULL},
		{"a!bc", NULL},	 {"YQ===", NULL},
	};
	char path[600], name[300];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *o = k8s_base64_decode(cases[i].in, strlen(cases[i].in), &n);

		if (cases[i].out)
			CHECK(o && n == strlen(cases[i].out) && !strcmp(o, cases[i].out),
			      "base64 '%s' -> '%s'", cases[i].in, o ? o : "(bad)");
		else
			CHECK(!o, "base64 '%s' must be refused", cases[i].in);
		free(o);
	}
	CHECK(k8s_pod_path("default", "web-0.x", path, sizeof(path)) == 0 &&
		      !strcmp(path, "/api/v1/namespaces/default/pods/web-0.x"),
	      "pod path %s", path);
	CHECK(k8s_pod_path("a.b", "p", path, sizeof(path)) == -EINVAL, "ns with a dot");
	CHECK(k8s_pod_path("ns", "P", path, sizeof(path)) == -EINVAL, "upper case name");
	CHECK(k8s_pod_path("ns", "../x", path, sizeof(path)) == -EINVAL, "path traversal");
	CHECK(k8s_pod_path("ns", "a%2fb", path, sizeof(path)) == -EINVAL, "escape");
	CHECK(k8s_pod_path("", "p", path, sizeof(path)) == -EINVAL, "empty ns");
	memset(name, 'a', 254);
	name[254] = '\0';
	CHECK(k8s_pod_path("ns", name, path, sizeof(path)) == -EINVAL, "254-char name");
	CHECK(k8s_pod_path("ns", "p", path, 10) == -ENAMETOOLONG, "small buffer");
}

/* ---- Pod document -> identity ---- */

#define POD_META "\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\",\"namespace\":\"team-a\""

static void test_pod_identity(void)
{
	static const struct {
		const char *doc;
		const char *errsub; /* NULL: accepted */
		const char *sa;
		int sidecar, n_labels, n_annotations;
	} cases[] = {
		{"{" POD_META ",\"uid\":\"u1\",\"labels\":{\"app\":\"web\",\"security.istio.io/"
		 "tlsMode\":\"istio\"},\"annotations\":{\"traffic.sidecar.istio.io/"
		 "excludeOutboundPorts\":\"22\",\"traffic.sidecar.istio.io/includeInboundPorts\":"
		 "\"*\",\"kubectl.kubernetes.io/last-applied-configuration\":\"{...}\"}},"
		 "\"spec\":{\"serviceAccountName\":\"web\",\"containers\":[]}}",
		 NULL, "web", 1, 2, 2},
		{"{" POD_META ",\"uid\":\"u1\",\"annotations\":{\"sidecar.istio.io/status\":"
		 "\"{}\"}},\"spec\":{}}",
		 NULL, "default", 1, 0, 0},
		{"{" POD_META ",\"uid\":\"u1\",\"labels\":{\"security.istio.io/tlsMode\":"
		 "\"disabled\"}},\"spec\":{\"serviceAccount\":\"legacy\"}}",
		 NULL, "legacy", 0, 1, 0},
		{"{" POD_META
		 ",\"uid\":\"api-uid\",\"annotations\":{\"kubernetes.io/config.mirror\":"
		 "\"u1\"}}}",
		 NULL, "default", 0, 0, 0},
		{"{" POD_META
		 ",\"uid\":\"api-uid\",\"annotations\":{\"kubernetes.io/config.mirror\":"
		 "\"u9\"}}}",
		 "was replaced"},
		{"{" POD_META "}}", "uid"},
		{"{" POD_META ",\"uid\":\"u2\"}}", "was replaced"},
		{"{\"kind\":\"Status\",\"metadata\":{}}", "not a Pod"},
		{"{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"team-a\",\"uid\":\"u1\"}}",
		 "another pod"},
		{"not json", "not a Pod object"},
		{"{" POD_META ",\"uid\":\"u1\",\"labels\":{\"app\":\"bad value\"}}}",
		 "label 'app'"},
		{"{" POD_META ",\"uid\":\"u1\",\"labels\":[]}}", "labels is not an object"},
		{"{" POD_META
		 ",\"uid\":\"u1\",\"annotations\":{\"traffic.sidecar.istio.io/x\":5}}}",
		 "annotation"},
	};
	struct shunt_reg_pod p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		int ret;

		fill_pod(&p, "c");
		strcpy(p.ns, "team-a");
		strcpy(p.name, "web-0");
		strcpy(p.pod_uid, "u1");
		ret = k8s_pod_identity(cases[i].doc, strlen(cases[i].doc), &p, err, sizeof(err));
		if (cases[i].errsub) {
			CHECK(ret == -EINVAL && strstr(err, cases[i].errsub) && p.sidecar == -1 &&
				      !p.service_account[0] && !p.n_labels,
			      "pod %zu: ret %d err '%s' want '%s'", i, ret, err, cases[i].errsub);
			continue;
		}
		CHECK(ret == 0, "pod %zu: %s", i, err);
		CHECK(!strcmp(p.service_account, cases[i].sa) && p.sidecar == cases[i].sidecar &&
			      (int)p.n_labels == cases[i].n_labels &&
			      (int)p.n_annotations == cases[i].n_annotations,
		      "pod %zu: sa %s sidecar %d labels %u annotations %u", i, p.service_account,
		      p.sidecar, p.n_labels, p.n_annotations);
	}
	/* The first case's values. */
	k8s_pod_identity(cases[0].doc, strlen(cases[0].doc), &p, NULL, 0);
	CHECK(!strcmp(shunt_reg_pod_label(&p, "app"), "web") &&
		      !strcmp(shunt_reg_pod_annotation(
				      &p, "traffic.sidecar.istio.io/excludeOutboundPorts"),
			      "22") &&
		      !shunt_reg_pod_annotation(&p,
						"kubectl.kubernetes.io/last-applied-configuration"),
	      "label and annotation values");
	/* Without a K8S_POD_UID the uid is not compared. */
	REQUIRE(strstr(cases[6].doc, "\"u2\""), "case 6 is the other-uid pod");
	p.pod_uid[0] = '\0';
	CHECK(k8s_pod_identity(cases[6].doc, strlen(cases[6].doc), &p, NULL, 0) == 0,
	      "no K8S_POD_UID: any uid");
}

static void test_conf_keys(void)
{
	static const struct {
		const char *extra;
		const char *errsub;
	} cases[] = {
		{"", NULL},
		{",\"kubeconfig\":\"/etc/cni/net.d/shunt-kubeconfig\",\"apiTimeoutMs\":500,"
		 "\"apiFailure\":\"ignore\"",
		 NULL},
		{",\"kubeconfig\":\"shunt-kubeconfig\"", "absolute path"},
		{",\"kubeconfig\":5", "must be a string"},
		{",\"apiTimeoutMs\":0", "'apiTimeoutMs' must be an integer"},
		{",\"apiFailure\":\"maybe\"", "'apiFailure' must be"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct cni_conf c;
		struct cni_error e = {0};
		json_t *doc = NULL;
		int ret;

		snprintf(text, sizeof(text), "{\"cniVersion\":\"1.0.0\"%s}", cases[i].extra);
		ret = cni_parse_conf(text, strlen(text), &doc, &c, &e);
		if (cases[i].errsub)
			CHECK(ret == -1 && e.code == 7 && strstr(e.msg, cases[i].errsub),
			      "conf %zu: ret %d msg %s", i, ret, e.msg);
		else
			CHECK(ret == 0, "conf %zu: %s", i, e.msg);
		if (i == 0)
			CHECK(!c.kubeconfig[0] && c.api_failure == CNI_FAIL_FAIL &&
				      c.api_timeout_ms == K8S_API_DEFAULT_TIMEOUT_MS,
			      "defaults");
		if (i == 1)
			CHECK(!strcmp(c.kubeconfig, "/etc/cni/net.d/shunt-kubeconfig") &&
				      c.api_failure == CNI_FAIL_IGNORE && c.api_timeout_ms == 500,
			      "values");
		json_decref(doc);
	}
}

/* ---- k8s_get() against a fake API server (plain HTTP on 127.0.0.1) ---- */

struct fake {
	int lfd, stop[2];
	unsigned short port;
	pthread_t th;
	char last_req[4096]; /* the last request head, written before answering */
};

static const char pod_doc[] =
	"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\",\"namespace\":\"team-a\"},"
	"\"spec\":{\"serviceAccountName\":\"web\"}}";

static void answer(int fd, const char *status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, len);

	if (write(fd, head, (size_t)n) != n)
		return;
	while (len) {
		ssize_t w = write(fd, body, len);

		if (w <= 0)
			return; /* the client gave up (oversized answer) */
		body += w;
		len -= (size_t)w;
	}
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = f->lfd, .events = POLLIN},
				      {.fd = f->stop[0], .events = POLLIN}};
		char req[4096];
		size_t n = 0;
		int c;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			continue;
		while (n + 1 < sizeof(req)) {
			ssize_t r = read(c, req + n, sizeof(req) - 1 - n);

			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		memcpy(f->last_req, req, n + 1);
		if (strstr(req, "GET /api/v1/namespaces/team-a/pods/web-0 ")) {
			answer(c, "200 OK", pod_doc, strlen(pod_doc));
		} else if (strstr(req, "GET /forbidden ")) {
			answer(c, "403 Forbidden", "{}", 2);
		} else if (strstr(req, "GET /busy ")) {
			answer(c, "503 Service Unavailable", "{}", 2);
		} else if (strstr(req, "GET /huge ")) {
			size_t len = K8S_API_MAX_BODY + 1;
			char *big = malloc(len);

			if (big) {
				memset(big, ' ', len);
				answer(c, "200 OK", big, len);
				free(big);
			}
		} else if (strstr(req, "GET /hang ")) {
			/* Never answer: wait until the client hangs up (its timeout). */
			struct pollfd h = {.fd = c, .events = POLLIN};
			char b;

			while (poll(&h, 1, -1) > 0 && read(c, &b, 1) > 0)
				;
		} else {
			answer(c, "404 Not Found", "{\"kind\":\"Status\"}", 17);
		}
		close(c);
	}
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(f->lfd >= 0 && bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			listen(f->lfd, 16) == 0 &&
			getsockname(f->lfd, (struct sockaddr *)&sa, &len) == 0,
		"fake API server listen");
	f->port = ntohs(sa.sin_port);
	REQUIRE(pipe(f->stop) == 0 && pthread_create(&f->th, NULL, fake_serve, f) == 0, "thread");
}

static void fake_stop(struct fake *f)
{
	REQUIRE(write(f->stop[1], "x", 1) == 1, "stop");
	pthread_join(f->th, NULL);
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
}

static void test_get(void)
{
	struct fake f;
	struct k8s_api_conf c;
	enum k8s_fail fail;
	char text[512], kc[512], tok[512], err[512] = "", *body = NULL;
	struct shunt_reg_pod p;
	FILE *fp;
	int ret;

	fake_start(&f);
	/* The kubeconfig as a file, with a relative tokenFile (read at load). */
	snprintf(kc, sizeof(kc), "%s/kubeconfig", g_dir);
	snprintf(tok, sizeof(tok), "%s/token", g_dir);
	snprintf(
		text, sizeof(text),
		"{\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":\"http://127.0.0.1:%u\"}}],"
		"\"users\":[{\"name\":\"u\",\"user\":{\"tokenFile\":\"token\"}}],"
		"\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"k\",\"user\":\"u\"}}],"
		"\"current-context\":\"c\"}",
		f.port);
	fp = fopen(kc, "w");
	REQUIRE(fp && fputs(text, fp) >= 0 && !fclose(fp), "write kubeconfig");
	CHECK(k8s_kubeconfig_load(kc, &c, err, sizeof(err)) == -ENOENT && strstr(err, "token"),
	      "missing tokenFile: %s", err);
	fp = fopen(tok, "w");
	REQUIRE(fp && fputs("s3cr3t.token\n", fp) >= 0 && !fclose(fp), "write token");
	ret = k8s_kubeconfig_load(kc, &c, err, sizeof(err));
	REQUIRE(ret == 0, "kubeconfig load: %s", err);
	CHECK(c.token && !strcmp(c.token, "s3cr3t.token"), "token from the file");

	ret = k8s_get(&c, "/api/v1/namespaces/team-a/pods/web-0", 2000, &body, &fail, err,
		      sizeof(err));
	CHECK(ret == 0 && fail == K8S_OK && body && !strcmp(body, pod_doc), "200: ret %d %s", ret,
	      err);
	CHECK(strstr(f.last_req, "\r\nAuthorization: Bearer s3cr3t.token\r\n") &&
		      strstr(f.last_req, "\r\nAccept: application/json\r\n"),
	      "request headers: %s", f.last_req);
	fill_pod(&p, "c");
	CHECK(body && k8s_pod_identity(body, strlen(body), &p, err, sizeof(err)) == 0 &&
		      !strcmp(p.service_account, "web") && p.sidecar == 0,
	      "identity from the answer: %s", err);
	free(body);

	ret = k8s_get(&c, "/api/v1/namespaces/team-a/pods/gone", 2000, &body, &fail, err,
		      sizeof(err));
	CHECK(ret == -ENOENT && fail == K8S_FAIL_PERMANENT && !body && strstr(err, "404"),
	      "404: ret %d %s", ret, err);
	ret = k8s_get(&c, "/forbidden", 2000, &body, &fail, err, sizeof(err));
	CHECK(ret == -EACCES && fail == K8S_FAIL_PERMANENT && strstr(err, "RBAC"), "403: ret %d %s",
	      ret, err);
	ret = k8s_get(&c, "/busy", 2000, &body, &fail, err, sizeof(err));
	CHECK(ret == -EIO && fail == K8S_FAIL_TRANSIENT && strstr(err, "503"), "503: ret %d %s",
	      ret, err);
	ret = k8s_get(&c, "/huge", 2000, &body, &fail, err, sizeof(err));
	CHECK(ret == -EFBIG && fail == K8S_FAIL_PERMANENT && !body, "oversized: ret %d %s", ret,
	      err);
	ret = k8s_get(&c, "/hang", 300, &body, &fail, err, sizeof(err));
	CHECK(ret == -ETIMEDOUT && fail == K8S_FAIL_TRANSIENT && !body, "timeout: ret %d %s", ret,
	      err);
	k8s_api_conf_free(&c);
	fake_stop(&f);

	/* Nobody listens any more. */
	snprintf(text, sizeof(text),
		 "{\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":"
		 "\"http://127.0.0.1:%u\"}}]}",
		 f.port);
	REQUIRE(k8s_kubeconfig_parse(text, strlen(text), NULL, &c, err, sizeof(err)) == 0, "%s",
		err);
	ret = k8s_get(&c, "/x", 2000, &body, &fail, err, sizeof(err));
	CHECK(ret == -ECONNREFUSED && fail == K8S_FAIL_TRANSIENT, "refused: ret %d %s", ret, err);
	k8s_api_conf_free(&c);
	unlink(kc);
	unlink(tok);
}

static void cleanup_dir(void)
{
	static const char *const names[] = {"state.json", "state.json.tmp", "kubeconfig", "token"};
	char p[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, names[i]);
		unlink(p);
	}
	rmdir(g_dir);
}

int main(void)
{
	REQUIRE(mkdtemp(g_dir), "mkdtemp");
	atexit(cleanup_dir);
	REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0, "curl init");
	test_request_identity();
	test_identity_bounds();
	test_identity_roundtrip();
	test_identity_max();
	test_kubeconfig();
	test_base64_and_path();
	test_pod_identity();
	test_conf_keys();
	test_get();
	curl_global_cleanup();
	return check_done("cni_api_test");
}
