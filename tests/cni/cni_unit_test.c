/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests (no privileges) for shunt-cni's pure logic and the registry
 * protocol/table/state file: table-driven request validation, CNI_ARGS,
 * prevResult address extraction, config parsing, error JSON, and a
 * server/client round trip over a UNIX socket in a temp dir.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni_plugin.h"
#include "registry.h"
#include "regsrv_thread.h"
#include "testutil.h"

struct req_case {
	const char *line;
	int ok;		    /* 1 = accepted */
	const char *errsub; /* expected substring of the reason */
};

static const struct req_case req_cases[] = {
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"default\",\"name\":\"p\","
	 "\"netns\":\"/run/netns/x\",\"ips\":[\"10.0.0.1\"]}\n",
	 1, NULL},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"default\",\"name\":\"p\","
	 "\"netns\":\"/run/netns/x\",\"ips\":[\"fd00:0::1\",\"10.0.0.1\"],\"netnsInode\":5,"
	 "\"netnsCookie\":7,\"podUid\":\"u\",\"ifname\":\"eth0\",\"cgroup\":\"/k\"}",
	 1, NULL},
	{"{\"op\":\"DEL\",\"containerId\":\"c1\"}", 1, NULL},
	{"{\"op\":\"CHECK\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\"}", 1, NULL},
	{"", 0, "bad JSON"},
	{"[1]", 0, "must be a JSON object"},
	{"{\"containerId\":\"c1\"}", 0, "missing 'op'"},
	{"{\"op\":\"PUT\",\"containerId\":\"c1\"}", 0, "unknown op 'PUT'"},
	{"{\"op\":\"DEL\"}", 0, "missing 'containerId'"},
	{"{\"op\":\"DEL\",\"containerId\":\"\"}", 0, "'containerId' is empty"},
	{"{\"op\":\"DEL\",\"containerId\":\"c\",\"extra\":1}", 0, "unknown key 'extra'"},
	{"{\"op\":\"DEL\",\"containerId\":\"a\\nb\"}", 0, "control character"},
	{"{\"op\":\"DEL\",\"containerId\":\"a\\u0000b\"}", 0, "bad JSON"},
	{"{\"op\":\"DEL\",\"containerId\":\"c\",\"containerId\":\"d\"}", 0, "bad JSON"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"name\":\"p\",\"netns\":\"/"
	 "n\",\"ips\":[\"10.0.0.1\"]}",
	 0, "missing 'namespace'"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"ips\":[\"10."
	 "0.0.1\"]}",
	 0, "missing 'netns'"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":"
	 "\"n\","
	 "\"ips\":[\"10.0.0.1\"]}",
	 0, "absolute path"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\"}",
	 0, "at least one address"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\","
	 "\"ips\":[\"10.0.0.1/24\"]}",
	 0, "ips[0]' is not an IPv4/IPv6 address"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\","
	 "\"ips\":[\"10.0.0.1\",\"10.0.0.01\"]}",
	 0, "ips[1]"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\","
	 "\"ips\":[\"fd00::1\",\"fd00:0:0::1\"]}",
	 0, "duplicate"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\","
	 "\"ips\":\"10.0.0.1\"}",
	 0, "must be an array"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":\"d\",\"name\":\"p\",\"netns\":\"/"
	 "n\","
	 "\"ips\":[\"10.0.0.1\"],\"netnsInode\":-1}",
	 0, "non-negative integer"},
	{"{\"op\":\"ADD\",\"containerId\":\"c1\",\"namespace\":"
	 "\"a234567890123456789012345678901234567890123456789012345678901234\",\"name\":\"p\","
	 "\"netns\":\"/n\",\"ips\":[\"10.0.0.1\"]}",
	 0, "'namespace' is too long"},
};

static void test_requests(void)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		struct shunt_reg_request r;
		char err[256] = "";
		int ret = shunt_reg_parse_request(c->line, strlen(c->line), &r, err, sizeof(err));

		CHECK((ret == 0) == (c->ok == 1), "case %zu (%s): ret %d err '%s'", i, c->line, ret,
		      err);
		if (!c->ok)
			CHECK(strstr(err, c->errsub), "case %zu: error '%s' lacks '%s'", i, err,
			      c->errsub);
	}
}

static void test_roundtrip_format(void)
{
	struct shunt_reg_request a = {.op = SHUNT_REG_ADD}, b;
	char *line, err[256];

	strcpy(a.pod.container_id, "abc");
	strcpy(a.pod.ns, "ns1");
	strcpy(a.pod.name, "pod-1");
	strcpy(a.pod.netns, "/run/netns/cni-1");
	a.pod.netns_inode = 4026532000ULL;
	a.pod.netns_cookie = 12345;
	a.pod.n_ips = 2;
	strcpy(a.pod.ips[0], "10.1.2.3");
	strcpy(a.pod.ips[1], "fd00::3");
	CHECK(shunt_reg_format_request(&a, &line) == 0, "format");
	CHECK(strchr(line, '\n') == line + strlen(line) - 1, "exactly one newline: %s", line);
	CHECK(shunt_reg_parse_request(line, strlen(line), &b, err, sizeof(err)) == 0, "reparse: %s",
	      err);
	CHECK(b.op == a.op && !memcmp(&a.pod, &b.pod, sizeof(a.pod)), "format/parse round trip");
	free(line);
}

static void test_answers(void)
{
	char *ok = shunt_reg_format_answer(true, NULL),
	     *no = shunt_reg_format_answer(false, "nope");
	char err[64] = "";

	CHECK(ok && !strcmp(ok, "{\"ok\":true}\n"), "ok answer: %s", ok);
	CHECK(shunt_reg_parse_answer(ok, strlen(ok), err, sizeof(err)) == 0, "ok parses");
	CHECK(shunt_reg_parse_answer(no, strlen(no), err, sizeof(err)) == -EPERM &&
		      !strcmp(err, "nope"),
	      "refusal parses: %s", err);
	CHECK(shunt_reg_parse_answer("{}", 2, err, sizeof(err)) == -EINVAL, "malformed answer");
	free(ok);
	free(no);
}

static void test_table_and_state(const char *dir)
{
	struct shunt_reg_table t = {0}, u = {0};
	struct shunt_reg_pod p = {0};
	char path[512], err[256] = "";
	FILE *f;

	for (int i = 0; i < 40; i++) {
		snprintf(p.container_id, sizeof(p.container_id), "c%d", i);
		snprintf(p.ns, sizeof(p.ns), "ns");
		snprintf(p.name, sizeof(p.name), "p%d", i);
		snprintf(p.netns, sizeof(p.netns), "/run/netns/p%d", i);
		p.n_ips = 1;
		snprintf(p.ips[0], sizeof(p.ips[0]), "10.0.%d.1", i);
		CHECK(shunt_reg_table_put(&t, &p) == 0, "put %d", i);
	}
	CHECK(t.n == 40, "40 pods, got %zu", t.n);
	strcpy(p.container_id, "c7");
	strcpy(p.name, "replaced");
	CHECK(shunt_reg_table_put(&t, &p) == 0 && t.n == 40, "put replaces");
	CHECK(!strcmp(shunt_reg_table_find(&t, "c7")->name, "replaced"), "replaced entry");
	CHECK(shunt_reg_table_del(&t, "c3") == 1 && t.n == 39, "del");
	CHECK(shunt_reg_table_del(&t, "c3") == 0 && t.n == 39, "del again is a no-op");
	CHECK(!shunt_reg_table_find(&t, "c3"), "gone");

	snprintf(path, sizeof(path), "%s/state.json", dir);
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == 0 && u.n == 0,
	      "missing state file = empty");
	CHECK(shunt_reg_table_save(&t, path) == 0, "save");
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == 0, "load: %s", err);
	CHECK(u.n == t.n, "loaded %zu of %zu", u.n, t.n);
	for (size_t i = 0; i < t.n; i++) {
		const struct shunt_reg_pod *q = shunt_reg_table_find(&u, t.pods[i].container_id);

		CHECK(q && !memcmp(q, &t.pods[i], sizeof(*q)), "pod %s survives save/load",
		      t.pods[i].container_id);
	}
	f = fopen(path, "w");
	CHECK(f && fputs("{\"version\":2,\"pods\":[]}", f) >= 0 && !fclose(f), "write");
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "not a version 1"),
	      "wrong version rejected: %s", err);
	CHECK(u.n == t.n, "failed load leaves the table unchanged");
	f = fopen(path, "w");
	CHECK(f && fputs("{\"version\":1,\"pods\":[{\"containerId\":\"x\"}]}", f) >= 0 &&
		      !fclose(f),
	      "write");
	CHECK(shunt_reg_table_load(&u, path, err, sizeof(err)) == -EINVAL && strstr(err, "pods[0]"),
	      "incomplete pod rejected: %s", err);
	unlink(path);
	shunt_reg_table_free(&t);
	shunt_reg_table_free(&u);
}

static void test_cni_args(void)
{
	static const struct {
		const char *args, *key, *want;
		int ret;
	} cases[] = {
		{"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0", "K8S_POD_NAME",
		 "web-0", 0},
		{"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0", "K8S_POD_NAMESPACE",
		 "ns1", 0},
		{"K8S_POD_NAME_X=a;K8S_POD_NAME=b", "K8S_POD_NAME", "b", 0},
		{"K8S_POD_NAME=", "K8S_POD_NAME", "", 0},
		{"", "K8S_POD_NAME", "", -ENOENT},
		{"K8S_POD_NAMESPACE=x", "K8S_POD_NAME", "", -ENOENT},
		{"K8S_POD_NAME=0123456789abcdef", "K8S_POD_NAME", "", -EINVAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[16] = "";
		int ret = cni_args_get(cases[i].args, cases[i].key, out, sizeof(out));

		CHECK(ret == cases[i].ret, "args case %zu: ret %d want %d", i, ret, cases[i].ret);
		if (!ret)
			CHECK(!strcmp(out, cases[i].want), "args case %zu: '%s'", i, out);
	}
	CHECK(cni_args_get(NULL, "K", (char[4]){0}, 4) == -ENOENT, "NULL args");
}

static void test_conf(void)
{
	static const struct {
		const char *conf;
		int code; /* 0 = ok */
	} cases[] = {
		{"{\"cniVersion\":\"1.0.0\",\"name\":\"k8s\",\"type\":\"shunt-cni\"}", 0},
		{"{\"cniVersion\":\"0.4.0\",\"name\":\"k8s\",\"socket\":\"/x.sock\",\"failPolicy\":"
		 "\"fail\",\"timeoutMs\":50,\"prevResult\":{}}",
		 0},
		{"not json", CNI_ERR_DECODE},
		{"[]", CNI_ERR_DECODE},
		{"{\"name\":\"k8s\"}", CNI_ERR_INVALID_CONFIG},
		{"{\"cniVersion\":\"9.9.9\"}", CNI_ERR_INCOMPATIBLE_VERSION},
		{"{\"cniVersion\":1}", CNI_ERR_INVALID_CONFIG},
		{"{\"cniVersion\":\"1.0.0\",\"socket\":\"rel.sock\"}", CNI_ERR_INVALID_CONFIG},
		{"{\"cniVersion\":\"1.0.0\",\"failPolicy\":\"maybe\"}", CNI_ERR_INVALID_CONFIG},
		{"{\"cniVersion\":\"1.0.0\",\"timeoutMs\":0}", CNI_ERR_INVALID_CONFIG},
		{"{\"cniVersion\":\"1.0.0\",\"prevResult\":[]}", CNI_ERR_INVALID_CONFIG},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cni_error e = {0};
		struct cni_conf c;
		json_t *doc;
		int ret = cni_parse_conf(cases[i].conf, strlen(cases[i].conf), &doc, &c, &e);

		CHECK((ret == 0) == (cases[i].code == 0) && e.code == cases[i].code,
		      "conf case %zu: ret %d code %d (%s) want %d", i, ret, e.code, e.msg,
		      cases[i].code);
		if (i == 1)
			CHECK(c.fail_policy == CNI_FAIL_FAIL && c.timeout_ms == 50 &&
				      !strcmp(c.socket, "/x.sock") && c.prev_result,
			      "conf fields");
		if (i == 0)
			CHECK(!strcmp(c.socket, SHUNT_REG_DEFAULT_SOCKET) &&
				      c.fail_policy == CNI_FAIL_IGNORE && !c.prev_result,
			      "conf defaults");
		json_decref(doc);
	}
}

static void test_prev_result(void)
{
	json_t *pr = json_loads("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.5/24\"},"
				"{\"address\":\"FD00::5/64\",\"gateway\":\"fd00::1\"},"
				"{\"address\":\"10.0.0.5/32\"}]}",
				0, NULL);
	json_t *bad = json_loads("{\"ips\":[{\"address\":\"nope\"}]}", 0, NULL);
	struct shunt_reg_pod p = {0};
	struct cni_error e = {0};

	CHECK(cni_prev_result_ips(pr, &p, &e) == 2, "two distinct addresses: %u", p.n_ips);
	CHECK(!strcmp(p.ips[0], "10.0.0.5") && !strcmp(p.ips[1], "fd00::5"), "canonical %s %s",
	      p.ips[0], p.ips[1]);
	memset(&p, 0, sizeof(p));
	CHECK(cni_prev_result_ips(bad, &p, &e) == -1 && e.code == CNI_ERR_INVALID_CONFIG,
	      "bad address rejected");
	json_decref(pr);
	json_decref(bad);

	/* Addresses of host-side interfaces (no "sandbox") are not the pod's. */
	pr = json_loads("{\"interfaces\":[{\"name\":\"cni0\"},{\"name\":\"veth1\"},"
			"{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"}],"
			"\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":0},"
			"{\"address\":\"10.0.0.9/24\",\"interface\":2},"
			"{\"address\":\"10.0.0.10/24\"}]}",
			0, NULL);
	memset(&p, 0, sizeof(p));
	CHECK(cni_prev_result_ips(pr, &p, &e) == 2 && !strcmp(p.ips[0], "10.0.0.9") &&
		      !strcmp(p.ips[1], "10.0.0.10"),
	      "sandbox addresses only: %u %s", p.n_ips, p.ips[0]);
	json_decref(pr);
}

static void test_commands(void)
{
	static const struct {
		const char *s;
		enum cni_command c;
	} cases[] = {
		{"ADD", CNI_CMD_ADD},	      {"DEL", CNI_CMD_DEL},	  {"CHECK", CNI_CMD_CHECK},
		{"VERSION", CNI_CMD_VERSION}, {"STATUS", CNI_CMD_STATUS}, {"GC", CNI_CMD_GC},
		{"add", CNI_CMD_NONE},	      {"", CNI_CMD_NONE},	  {NULL, CNI_CMD_NONE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(cni_parse_command(cases[i].s) == cases[i].c, "command %s",
		      cases[i].s ? cases[i].s : "(null)");
	CHECK(cni_version_supported("1.1.0") && cni_version_supported("0.3.1") &&
		      !cni_version_supported("0.2.0") && !cni_version_supported("1.0"),
	      "supported versions");
}

static void test_error_json(void)
{
	struct cni_error e = {0};
	char *s, *v;
	json_t *o;

	cni_seterr(&e, CNI_ERR_TRY_AGAIN, "why", "msg %d", 1);
	s = cni_error_json("0.4.0", &e);
	o = json_loads(s, 0, NULL);
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "cniVersion")), "0.4.0") &&
		      json_integer_value(json_object_get(o, "code")) == 11 &&
		      !strcmp(json_string_value(json_object_get(o, "msg")), "msg 1") &&
		      !strcmp(json_string_value(json_object_get(o, "details")), "why"),
	      "error json: %s", s);
	json_decref(o);
	free(s);
	v = cni_version_json("1.0.0");
	CHECK(v && strstr(v, "\"supportedVersions\"") && strstr(v, "\"1.0.0\"") &&
		      strstr(v, "\"0.3.1\""),
	      "version json: %s", v);
	free(v);
}

/* ---- server/client round trip ---- */

struct srv {
	struct test_regsrv t;
	int adds, dels;
};

static int on_change(void *ctx, enum shunt_reg_op op, const struct shunt_reg_pod *pod)
{
	struct srv *s = ctx;

	if (op == SHUNT_REG_ADD && !strcmp(pod->name, "refuse-me"))
		return -EACCES;
	if (op == SHUNT_REG_ADD)
		s->adds++;
	else
		s->dels++;
	return 0;
}

static void test_server(const char *dir)
{
	char sock[512], state[512], err[256] = "";
	struct shunt_reg_request a = {.op = SHUNT_REG_ADD}, d = {.op = SHUNT_REG_DEL};
	struct srv s = {0};
	struct stat st;

	snprintf(sock, sizeof(sock), "%s/cni.sock", dir);
	snprintf(state, sizeof(state), "%s/registry.json", dir);
	CHECK(shunt_reg_send(sock, &a, 500, err, sizeof(err)) == -ENOENT, "nobody listens: %s",
	      err);
	CHECK(shunt_registry_open(&s.t.r, sock, state, on_change, &s, err, sizeof(err)) == 0,
	      "open: %s", err);
	CHECK(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0600, "socket mode 0600");
	CHECK(test_regsrv_start(&s.t) == 0, "thread");

	strcpy(a.pod.container_id, "cid1");
	strcpy(a.pod.ns, "default");
	strcpy(a.pod.name, "web");
	strcpy(a.pod.netns, "/run/netns/web");
	a.pod.n_ips = 1;
	strcpy(a.pod.ips[0], "10.9.9.9");
	CHECK(shunt_reg_send(sock, &a, 2000, err, sizeof(err)) == 0, "ADD: %s", err);
	CHECK(shunt_reg_send(sock, &a, 2000, err, sizeof(err)) == 0, "ADD retried: %s", err);
	a.op = SHUNT_REG_CHECK;
	CHECK(shunt_reg_send(sock, &a, 2000, err, sizeof(err)) == 0, "CHECK: %s", err);
	a.op = SHUNT_REG_ADD;
	strcpy(a.pod.container_id, "cid2");
	strcpy(a.pod.name, "refuse-me");
	CHECK(shunt_reg_send(sock, &a, 2000, err, sizeof(err)) == -EPERM && strstr(err, "refused"),
	      "callback refusal reaches the client: %s", err);
	a.op = SHUNT_REG_CHECK;
	CHECK(shunt_reg_send(sock, &a, 2000, err, sizeof(err)) == -EPERM &&
		      strstr(err, "not registered"),
	      "CHECK of a refused pod: %s", err);
	strcpy(d.pod.container_id, "cid1");
	CHECK(shunt_reg_send(sock, &d, 2000, err, sizeof(err)) == 0, "DEL: %s", err);
	CHECK(shunt_reg_send(sock, &d, 2000, err, sizeof(err)) == 0, "DEL again: %s", err);

	CHECK(test_regsrv_stop(&s.t) == 0, "stop");
	CHECK(s.adds == 1 && s.dels == 1, "callbacks: %d adds (retry is not a change), %d dels",
	      s.adds, s.dels);
	CHECK(shunt_registry_table(s.t.r)->n == 0, "table empty after DEL");
	shunt_registry_close(s.t.r);
	CHECK(access(sock, F_OK) != 0, "socket removed on close");
	unlink(state);
}

static char g_dir[] = "/tmp/shunt-cni-unit-XXXXXX";

static void cleanup_dir(void)
{
	static const char *const names[] = {"state.json", "state.json.tmp", "cni.sock",
					    "registry.json", "registry.json.tmp"};
	char p[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, names[i]);
		unlink(p);
	}
	rmdir(g_dir);
}

int main(void)
{
	CHECK(mkdtemp(g_dir), "mkdtemp");
	atexit(cleanup_dir);
	test_requests();
	test_roundtrip_format();
	test_answers();
	test_table_and_state(g_dir);
	test_cni_args();
	test_conf();
	test_prev_result();
	test_commands();
	test_error_json();
	test_server(g_dir);
	printf("cni_unit_test: ok\n");
	return 0;
}
