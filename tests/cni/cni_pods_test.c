/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-cni invoked exactly as a container runtime does (CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH in the environment, the network
 * configuration with prevResult on stdin, result on stdout) for the simulated
 * pods of tests/harness/with-pods.sh, against a registry server built from the
 * shunt_registry library (standing in for shuntd).
 *
 *   with-pods.sh --pod 1:a --pod 1:b -- cni_pods_test PATH/TO/shunt-cni
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pods.h"
#include "registry.h"
#include "regsrv_thread.h"
#include "testutil.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static const char *plugin;
static char g_dir[] = "/tmp/shunt-cni-pods-XXXXXX";
static char sock_path[256], state_path[256];

/* ---- the stand-in for shuntd: registry server on a thread ---- */

struct srv {
	struct test_regsrv t; /* t.mu = &mu */
	pthread_mutex_t mu;
	int adds, dels;
	struct shunt_reg_pod last;
};

static struct srv S = {.t.mu = &S.mu, .mu = PTHREAD_MUTEX_INITIALIZER};

static int on_change(void *ctx, enum shunt_reg_op op, const struct shunt_reg_pod *pod)
{
	struct srv *s = ctx;

	/* Runs inside shunt_registry_handle(), called with s->mu held. */
	if (op == SHUNT_REG_ADD)
		s->adds++;
	else
		s->dels++;
	s->last = *pod;
	return 0;
}

static void server_start(void)
{
	char err[256] = "";

	CHECK(shunt_registry_open(&S.t.r, sock_path, state_path, on_change, &S, err, sizeof(err)) ==
		      0,
	      "registry open: %s", err);
	CHECK(test_regsrv_start(&S.t) == 0, "thread");
}

static void server_stop(void)
{
	if (!S.t.r)
		return;
	CHECK(test_regsrv_stop(&S.t) == 0, "stop");
	shunt_registry_close(S.t.r);
	S.t.r = NULL;
}

/* Copy of a registered pod (under the lock). Returns false if absent. */
static bool server_find(const char *cid, struct shunt_reg_pod *out)
{
	const struct shunt_reg_pod *p;

	pthread_mutex_lock(&S.mu);
	p = shunt_reg_table_find(shunt_registry_table(S.t.r), cid);
	if (p)
		*out = *p;
	pthread_mutex_unlock(&S.mu);
	return p != NULL;
}

/* ---- the runtime side ---- */

struct run {
	int status; /* exit code */
	char out[8192];
	char err[8192];
};

static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
}

/* Run the plugin with exactly this environment (env: NULL-terminated "K=V"). */
static void run_plugin(char *const env[], const char *stdin_text, struct run *res)
{
	int in[2], out[2], errp[2];
	pid_t pid;
	size_t len = strlen(stdin_text);

	CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
		      pipe2(errp, O_CLOEXEC) == 0,
	      "pipes");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		char *argv[] = {(char *)plugin, NULL};

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		execve(plugin, argv, env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	/* Config is small (< pipe buffer): write it all, then EOF. SIGPIPE is ignored. */
	/* A plugin that exits without reading stdin (VERSION, early errors) gives EPIPE. */
	{
		ssize_t w = write(in[1], stdin_text, len);

		CHECK(w == (ssize_t)len || (w < 0 && errno == EPIPE), "stdin: %zd", w);
	}
	close(in[1]);
	read_all(out[0], res->out, sizeof(res->out));
	read_all(errp[0], res->err, sizeof(res->err));
	close(out[0]);
	close(errp[0]);
	res->status = shunt_pod_wait(pid);
}

struct cni_call {
	const char *command, *container_id, *netns, *ifname, *args;
};

static void call(const struct cni_call *c, const char *conf, struct run *res)
{
	char e[6][512];
	char *env[8];
	int n = 0;

	snprintf(e[0], sizeof(e[0]), "CNI_COMMAND=%s", c->command ? c->command : "");
	snprintf(e[1], sizeof(e[1]), "CNI_CONTAINERID=%s", c->container_id ? c->container_id : "");
	snprintf(e[2], sizeof(e[2]), "CNI_NETNS=%s", c->netns ? c->netns : "");
	snprintf(e[3], sizeof(e[3]), "CNI_IFNAME=%s", c->ifname ? c->ifname : "eth0");
	snprintf(e[4], sizeof(e[4]), "CNI_ARGS=%s", c->args ? c->args : "");
	snprintf(e[5], sizeof(e[5]), "CNI_PATH=/opt/cni/bin");
	for (int i = 0; i < 6; i++) {
		if (i == 0 && !c->command)
			continue;
		env[n++] = e[i];
	}
	env[n] = NULL;
	run_plugin(env, conf, res);
}

static char *conf_text(const char *extra, const char *prev_result)
{
	char *s = NULL;

	CHECK(asprintf(&s,
		       "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"shunt-"
		       "cni\","
		       "\"socket\":\"%s\"%s%s%s}",
		       sock_path, extra, prev_result ? ",\"prevResult\":" : "",
		       prev_result ? prev_result : "") > 0,
	      "asprintf");
	return s;
}

static char *prev_result_for(const struct shunt_pod *p)
{
	char *s = NULL;

	CHECK(asprintf(&s,
		       "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":"
		       "\"%s\"}],\"ips\":[{\"address\":\"%s/24\",\"interface\":0}],"
		       "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}",
		       p->netns, p->ip) > 0,
	      "asprintf");
	return s;
}

static void expect_cni_error(const struct run *r, int code, const char *what)
{
	json_t *o = json_loads(r->out, 0, NULL);

	CHECK(r->status != 0, "%s: exit %d, want non-zero (stdout %s)", what, r->status, r->out);
	CHECK(o && json_is_string(json_object_get(o, "cniVersion")) &&
		      json_integer_value(json_object_get(o, "code")) == code &&
		      json_is_string(json_object_get(o, "msg")),
	      "%s: want CNI error code %d, stdout: %s stderr: %s", what, code, r->out, r->err);
	json_decref(o);
}

static uint64_t own_netns_cookie(void)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);

	CHECK(s >= 0 && getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) == 0, "cookie");
	close(s);
	return c;
}

static void cleanup(void)
{
	server_stop();
	unlink(state_path);
	unlink(sock_path);
	rmdir(g_dir);
}

static void test_add(const struct shunt_pod *p, const char *cid, const char *ns,
		     struct shunt_reg_pod *got)
{
	char *pr = prev_result_for(p), *conf = conf_text("", pr), args[256];
	struct cni_call c = {"ADD", cid, p->netns, "eth0", args};
	json_t *want = json_loads(pr, 0, NULL), *out;
	struct run r;
	struct stat st;

	snprintf(args, sizeof(args),
		 "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
		 "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=uid-%s",
		 ns, p->name, cid, p->name);
	call(&c, conf, &r);
	CHECK(r.status == 0, "ADD %s: exit %d stdout %s stderr %s", p->name, r.status, r.out,
	      r.err);
	out = json_loads(r.out, 0, NULL);
	CHECK(out && json_equal(out, want), "ADD %s: stdout is not prevResult: %s", p->name, r.out);
	CHECK(server_find(cid, got), "ADD %s: not registered", p->name);
	CHECK(!strcmp(got->ns, ns) && !strcmp(got->name, p->name), "identity %s/%s", got->ns,
	      got->name);
	CHECK(got->n_ips == 1 && !strcmp(got->ips[0], p->ip), "ips: %u %s want %s", got->n_ips,
	      got->ips[0], p->ip);
	CHECK(!strcmp(got->netns, p->netns), "netns %s want %s", got->netns, p->netns);
	CHECK(stat(p->netns, &st) == 0 && got->netns_inode == (uint64_t)st.st_ino,
	      "netns inode %llu want %llu", (unsigned long long)got->netns_inode,
	      (unsigned long long)st.st_ino);
	CHECK(got->netns_cookie != 0 && got->netns_cookie != own_netns_cookie(),
	      "netns cookie %llu must be the pod's", (unsigned long long)got->netns_cookie);
	CHECK(!strcmp(got->ifname, "eth0") && !strncmp(got->pod_uid, "uid-", 4), "ifname/uid");
	json_decref(out);
	json_decref(want);
	free(conf);
	free(pr);
}

/* ---- identity from a fake Kubernetes API server over HTTPS ---- */

static pid_t api_pid = -1;
static char api_dir[300];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void api_cleanup(void)
{
	if (api_pid > 0) {
		kill(api_pid, SIGTERM);
		shunt_pod_wait(api_pid);
		api_pid = -1;
	}
	if (api_dir[0])
		nftw(api_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	CHECK(system(cmd) == 0, "%s", cmd);
}

/* The API's answer for one pod: a complete HTTP response (openssl s_server -HTTP). */
static void api_pod(const char *ns, const char *name, const char *status, const char *json)
{
	char dir[600], text[4096];

	snprintf(dir, sizeof(dir), "%s/www/api/v1/namespaces/%s/pods", api_dir, ns);
	sh("mkdir -p '%s'", dir);
	snprintf(text, sizeof(text), "HTTP/1.0 %s\r\nContent-Type: application/json\r\n\r\n%s",
		 status, json);
	write_file(dir, name, text);
}

/* Start openssl s_server on 127.0.0.1 (ephemeral port) serving www/; returns the port. */
static unsigned api_start(void)
{
	int out[2];
	char buf[512] = "", www[400], *acc;
	size_t n = 0;
	unsigned port = 0;

	snprintf(www, sizeof(www), "%s/www", api_dir);
	CHECK(pipe2(out, O_CLOEXEC) == 0, "pipe");
	api_pid = fork();
	CHECK(api_pid >= 0, "fork");
	if (api_pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(devnull, 2);
		if (chdir(www))
			_exit(127);
		execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
		       "../srv.pem", "-key", "../srv.key", "-HTTP", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	/* Its stdout says "ACCEPT 127.0.0.1:PORT" once it listens (10 s deadline). */
	while (!(acc = strstr(buf, "ACCEPT 127.0.0.1:")) || !strchr(acc, '\n')) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		ssize_t r;

		CHECK(poll(&p, 1, 10000) == 1, "openssl s_server did not start: %s", buf);
		r = read(out[0], buf + n, sizeof(buf) - 1 - n);
		CHECK(r > 0, "openssl s_server exited: %s", buf);
		n += (size_t)r;
		buf[n] = '\0';
	}
	CHECK(sscanf(acc, "ACCEPT 127.0.0.1:%u", &port) == 1 && port, "port in %s", acc);
	/* out[0] stays open (s_server must not get SIGPIPE); it writes little. */
	return port;
}

static void kubeconfig(const char *name, const char *server, const char *ca_member,
		       const char *ca_value)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"clusters\":[{\"name\":\"local\","
		 "\"cluster\":{\"server\":\"%s\",\"%s\":\"%s\"}}],\"users\":[{\"name\":\"shunt-"
		 "cni\","
		 "\"user\":{\"tokenFile\":\"token\"}}],\"contexts\":[{\"name\":\"shunt\","
		 "\"context\":"
		 "{\"cluster\":\"local\",\"user\":\"shunt-cni\"}}],\"current-context\":\"shunt\"}",
		 server, ca_member, ca_value);
	write_file(api_dir, name, text);
}

static char *read_b64(const char *path)
{
	char cmd[600], *s = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "openssl base64 -A -in '%s'", path);
	f = popen(cmd, "r");
	CHECK(f && getline(&s, &cap, f) > 0 && pclose(f) == 0, "base64 of %s", path);
	s[strcspn(s, "\n")] = '\0';
	return s;
}

/* ADD for pod p under container id cid with the given plugin settings. */
static void api_add(const struct shunt_pod *p, const char *cid, const char *ns, const char *extra,
		    struct run *r)
{
	char *pr = prev_result_for(p), *conf = conf_text(extra, pr), args[256];

	snprintf(args, sizeof(args), "K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_UID=uid-%s", ns,
		 p->name, p->name);
	call(&(struct cni_call){"ADD", cid, p->netns, "eth0", args}, conf, r);
	free(conf);
	free(pr);
}

static void test_api(const struct shunt_pod *a, const struct shunt_pod *b)
{
	char server[64], closed[64], extra[1024], ca[400], *ca_data;
	struct shunt_reg_pod got;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct run r;
	int hold;

	snprintf(api_dir, sizeof(api_dir), "%s/api", g_dir);
	CHECK(mkdir(api_dir, 0700) == 0, "mkdir %s", api_dir);
	atexit(api_cleanup);
	/* A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA. */
	write_file(api_dir, "ext.cnf", "subjectAltName=IP:127.0.0.1\n");
	sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	   "-keyout ca.key -out ca.pem -days 1 -subj /CN=shunt-test-ca 2>/dev/null && "
	   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key "
	   "-out srv.csr -subj /CN=127.0.0.1 2>/dev/null && "
	   "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
	   "-days 1 -extfile ext.cnf 2>/dev/null && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	   "-keyout other.key -out other.pem -days 1 -subj /CN=shunt-test-ca 2>/dev/null",
	   api_dir);
	write_file(api_dir, "token", "test-token\n");
	api_pod("team-a", "a", "200 OK",
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\","
		"\"namespace\":\"team-a\",\"uid\":\"uid-a\",\"labels\":{\"app\":\"web\","
		"\"version\":\"v1\",\"security.istio.io/tlsMode\":\"istio\"},\"annotations\":{"
		"\"sidecar.istio.io/status\":\"{\\\"containers\\\":[\\\"istio-proxy\\\"]}\","
		"\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"22,5432\","
		"\"prometheus.io/"
		"scrape\":\"true\"}},\"spec\":{\"serviceAccountName\":\"web-sa\"}}");
	api_pod("team-b", "b", "200 OK",
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\","
		"\"namespace\":\"team-b\",\"uid\":\"uid-b\"},\"spec\":{}}");
	api_pod("team-c", "a", "200 OK",
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"team-c\","
		"\"uid\":\"uid-of-a-newer-pod\"},\"spec\":{}}");
	api_pod("team-a", "b", "404 Not Found",
		"{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":"
		"404}");
	snprintf(server, sizeof(server), "https://127.0.0.1:%u", api_start());
	/* A port where nobody listens: bound, never listening (refused, deterministic). */
	hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(hold >= 0 && bind(hold, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		      getsockname(hold, (struct sockaddr *)&sa, &salen) == 0,
	      "reserve a port");
	snprintf(closed, sizeof(closed), "https://127.0.0.1:%u", ntohs(sa.sin_port));

	snprintf(ca, sizeof(ca), "%s/ca.pem", api_dir);
	ca_data = read_b64(ca);
	kubeconfig("kc-file", server, "certificate-authority", "ca.pem"); /* relative name */
	kubeconfig("kc-data", server, "certificate-authority-data", ca_data);
	kubeconfig("kc-wrong-ca", server, "certificate-authority", "other.pem");
	kubeconfig("kc-down", closed, "certificate-authority", "ca.pem");
	free(ca_data);
#define KC(name) ",\"kubeconfig\":\"%s/" name "\""

	/* Pod a: service account, labels, sidecar, the capture annotation (only that one). */
	snprintf(extra, sizeof(extra), KC("kc-file"), api_dir);
	api_add(a, "cid-api-a", "team-a", extra, &r);
	CHECK(r.status == 0, "ADD with identity: exit %d out %s err %s", r.status, r.out, r.err);
	CHECK(server_find("cid-api-a", &got), "a registered");
	CHECK(!strcmp(got.service_account, "web-sa"), "serviceAccount %s", got.service_account);
	CHECK(got.n_labels == 3 && !strcmp(shunt_reg_pod_label(&got, "app"), "web") &&
		      !strcmp(shunt_reg_pod_label(&got, "version"), "v1"),
	      "labels: %u", got.n_labels);
	CHECK(got.sidecar == 1, "sidecar %d", got.sidecar);
	CHECK(got.n_annotations == 1 &&
		      !strcmp(shunt_reg_pod_annotation(
				      &got, "traffic.sidecar.istio.io/excludeOutboundPorts"),
			      "22,5432"),
	      "annotations: %u", got.n_annotations);
	CHECK(S.last.sidecar == 1 && !strcmp(S.last.service_account, "web-sa"),
	      "the registry callback (shuntd) saw the identity");

	/* Pod b: CA given as certificate-authority-data; no SA -> default; no sidecar. */
	snprintf(extra, sizeof(extra), KC("kc-data"), api_dir);
	api_add(b, "cid-api-b", "team-b", extra, &r);
	CHECK(r.status == 0, "ADD b: exit %d out %s err %s", r.status, r.out, r.err);
	CHECK(server_find("cid-api-b", &got) && !strcmp(got.service_account, "default") &&
		      got.sidecar == 0 && got.n_labels == 0 && got.n_annotations == 0,
	      "b: sa %s sidecar %d", got.service_account, got.sidecar);

	/* Persisted with the identity. */
	server_stop();
	server_start();
	CHECK(server_find("cid-api-a", &got) && got.sidecar == 1 && got.n_labels == 3 &&
		      !strcmp(got.service_account, "web-sa"),
	      "identity survives a registry restart");

	/* 404: the pod is not in the API -> error 5, nothing registered. */
	snprintf(extra, sizeof(extra), KC("kc-file"), api_dir);
	api_add(b, "cid-api-404", "team-a", extra, &r);
	expect_cni_error(&r, 5, "ADD of a pod the API does not know");
	CHECK(strstr(r.out, "HTTP 404") && !server_find("cid-api-404", &got), "404: %s", r.out);

	/* Another pod under that name now (uid differs) -> error 5. */
	api_add(a, "cid-api-uid", "team-c", extra, &r);
	expect_cni_error(&r, 5, "ADD of a replaced pod");
	CHECK(strstr(r.out, "replaced") && !server_find("cid-api-uid", &got), "uid: %s", r.out);

	/* A server certificate not signed by the kubeconfig's CA: apiFailure fail (default)
	 * -> error 5, nothing registered. */
	snprintf(extra, sizeof(extra), KC("kc-wrong-ca"), api_dir);
	api_add(a, "cid-api-ca", "team-a", extra, &r);
	expect_cni_error(&r, 5, "ADD with the wrong CA");
	CHECK(strstr(r.out, "certificate") && !server_find("cid-api-ca", &got), "wrong CA: %s",
	      r.out);

	/* API down: fail (default) -> 11 (try again); ignore -> registered, identity unknown. */
	snprintf(extra, sizeof(extra), KC("kc-down") ",\"apiTimeoutMs\":1000", api_dir);
	api_add(a, "cid-api-down", "team-a", extra, &r);
	expect_cni_error(&r, 11, "ADD with the API down");
	CHECK(!server_find("cid-api-down", &got), "API down: nothing registered");
	snprintf(extra, sizeof(extra), KC("kc-down") ",\"apiFailure\":\"ignore\"", api_dir);
	api_add(a, "cid-api-down", "team-a", extra, &r);
	CHECK(r.status == 0 && strstr(r.err, "apiFailure ignore"),
	      "API down, ignore: exit %d out %s err %s", r.status, r.out, r.err);
	CHECK(server_find("cid-api-down", &got) && got.sidecar == -1 && !got.service_account[0] &&
		      got.n_labels == 0,
	      "registered without identity: sidecar %d sa '%s'", got.sidecar, got.service_account);
	/* The wrong CA under ignore is also only logged. */
	snprintf(extra, sizeof(extra), KC("kc-wrong-ca") ",\"apiFailure\":\"ignore\"", api_dir);
	api_add(a, "cid-api-ca", "team-a", extra, &r);
	CHECK(r.status == 0 && server_find("cid-api-ca", &got) && got.sidecar == -1,
	      "wrong CA, ignore: exit %d err %s", r.status, r.err);
	/* A missing kubeconfig is a failure like any other (fail -> 5), and STATUS says so
	 * (50) unless apiFailure is ignore; a usable one is ready. */
	snprintf(extra, sizeof(extra), KC("nope"), api_dir);
	api_add(a, "cid-api-nokc", "team-a", extra, &r);
	expect_cni_error(&r, 5, "ADD with a missing kubeconfig");
	{
		char *st = conf_text(extra, NULL);

		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, st, &r);
		expect_cni_error(&r, 50, "STATUS with a missing kubeconfig");
		free(st);
		snprintf(extra, sizeof(extra), KC("nope") ",\"apiFailure\":\"ignore\"", api_dir);
		st = conf_text(extra, NULL);
		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, st, &r);
		CHECK(r.status == 0, "STATUS, missing kubeconfig, ignore: exit %d %s", r.status,
		      r.out);
		free(st);
		snprintf(extra, sizeof(extra), KC("kc-file"), api_dir);
		st = conf_text(extra, NULL);
		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, st, &r);
		CHECK(r.status == 0, "STATUS with a usable kubeconfig: exit %d %s", r.status,
		      r.out);
		free(st);
	}
#undef KC
	close(hold);
	api_cleanup();
}

int main(int argc, char **argv)
{
	struct shunt_pod a, b;
	struct shunt_reg_pod ra, rb, tmp;
	struct run r;
	char *conf;
	int adds;

	CHECK(argc == 2, "usage: cni_pods_test PATH/TO/shunt-cni");
	plugin = argv[1];
	shunt_test_require_pods();
	CHECK(shunt_pod_lookup("a", &a) == 0 && shunt_pod_lookup("b", &b) == 0,
	      "run under with-pods.sh --pod 1:a --pod 1:b");
	CHECK(mkdtemp(g_dir), "mkdtemp");
	snprintf(sock_path, sizeof(sock_path), "%s/cni.sock", g_dir);
	snprintf(state_path, sizeof(state_path), "%s/registry.json", g_dir);
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN);
	server_start();

	/* VERSION */
	call(&(struct cni_call){"VERSION", NULL, NULL, NULL, NULL}, "{\"cniVersion\":\"1.0.0\"}",
	     &r);
	{
		json_t *o = json_loads(r.out, 0, NULL), *v;
		size_t i;
		bool has1 = false;

		CHECK(r.status == 0 && o, "VERSION: exit %d out %s", r.status, r.out);
		json_array_foreach (json_object_get(o, "supportedVersions"), i, v)
			has1 = has1 || !strcmp(json_string_value(v), "1.0.0");
		CHECK(has1, "VERSION lists 1.0.0: %s", r.out);
		json_decref(o);
		call(&(struct cni_call){"VERSION", NULL, NULL, NULL, NULL},
		     "{\"cniVersion\":\"0.4.0\"}", &r);
		o = json_loads(r.out, 0, NULL);
		CHECK(r.status == 0 && o &&
			      !strcmp(json_string_value(json_object_get(o, "cniVersion")), "0.4.0"),
		      "VERSION answers in the requested version: %s", r.out);
		json_decref(o);
	}

	/* STATUS (1.1): ready; GC (1.1): nothing to do. */
	{
		char *st = conf_text(",\"failPolicy\":\"fail\"", NULL);

		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, st, &r);
		CHECK(r.status == 0 && r.out[0] == '\0', "STATUS with shuntd up: exit %d out %s",
		      r.status, r.out);
		call(&(struct cni_call){"GC", NULL, NULL, NULL, NULL}, st, &r);
		CHECK(r.status == 0, "GC: exit %d out %s", r.status, r.out);
		free(st);
	}

	/* ADD two pods, each with its prevResult, as the runtime would after the bridge plugin. */
	test_add(&a, "cid-a", "team-a", &ra);
	test_add(&b, "cid-b", "team-b", &rb);
	CHECK(ra.netns_cookie != rb.netns_cookie && ra.netns_inode != rb.netns_inode,
	      "two pods, two netns");
	CHECK(S.adds == 2, "two ADD callbacks, got %d", S.adds);

	/* A retried ADD is idempotent (no second callback). */
	test_add(&a, "cid-a", "team-a", &ra);
	CHECK(S.adds == 2, "retried ADD changed nothing, callbacks %d", S.adds);

	/* CHECK: registered -> 0 and no output; unknown container -> error 3. */
	{
		char *pr = prev_result_for(&a);
		char *cf = conf_text("", pr);

		call(&(struct cni_call){"CHECK", "cid-a", a.netns, "eth0",
					"K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=a"},
		     cf, &r);
		CHECK(r.status == 0 && r.out[0] == '\0', "CHECK a: exit %d out %s err %s", r.status,
		      r.out, r.err);
		call(&(struct cni_call){"CHECK", "cid-nope", a.netns, "eth0",
					"K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=a"},
		     cf, &r);
		expect_cni_error(&r, 3, "CHECK of an unregistered container");
		free(cf);
		free(pr);
	}

	/* prevResult without ips: the addresses are read inside CNI_NETNS. */
	conf = conf_text("", "{\"cniVersion\":\"1.0.0\",\"interfaces\":[],\"ips\":[]}");
	call(&(struct cni_call){"ADD", "cid-b2", b.netns, "eth0",
				"K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=b2"},
	     conf, &r);
	CHECK(r.status == 0, "ADD without ips: exit %d %s %s", r.status, r.out, r.err);
	CHECK(server_find("cid-b2", &tmp), "b2 registered");
	{
		bool found = false;

		for (unsigned i = 0; i < tmp.n_ips; i++)
			found = found || !strcmp(tmp.ips[i], b.ip);
		CHECK(found, "address %s read from the netns (got %u, first %s)", b.ip, tmp.n_ips,
		      tmp.ips[0]);
	}
	free(conf);

	/* Persistence: a restarted server (shuntd) keeps the registry. */
	server_stop();
	server_start();
	CHECK(server_find("cid-a", &tmp) && !memcmp(&tmp, &ra, sizeof(tmp)), "a survives restart");
	CHECK(server_find("cid-b", &tmp) && !memcmp(&tmp, &rb, sizeof(tmp)), "b survives restart");

	/* DEL removes; DEL again (idempotent) still succeeds. */
	adds = S.dels;
	conf = conf_text("", NULL);
	for (int i = 0; i < 2; i++) {
		call(&(struct cni_call){"DEL", "cid-a", a.netns, "eth0",
					"K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=a"},
		     conf, &r);
		CHECK(r.status == 0 && r.out[0] == '\0', "DEL a #%d: exit %d out %s err %s", i,
		      r.status, r.out, r.err);
		CHECK(!server_find("cid-a", &tmp), "a deregistered");
	}
	CHECK(S.dels == adds + 1, "one DEL callback");
	CHECK(server_find("cid-b", &tmp), "b still registered");
	/* DEL after the netns is gone (the runtime may call DEL late): empty CNI_NETNS. */
	call(&(struct cni_call){"DEL", "cid-b2", "", "eth0", NULL}, conf, &r);
	CHECK(r.status == 0 && !server_find("cid-b2", &tmp), "DEL without netns/args");

	/* shuntd down: DEL succeeds (logged), ADD with failPolicy ignore succeeds, with fail -> 11.
	 */
	server_stop();
	call(&(struct cni_call){"DEL", "cid-b", b.netns, "eth0",
				"K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=b"},
	     conf, &r);
	CHECK(r.status == 0 && r.out[0] == '\0' && strstr(r.err, "ignored"),
	      "DEL with the server down: exit %d out %s err %s", r.status, r.out, r.err);
	free(conf);
	{
		char *pr = prev_result_for(&b);
		char *ign = conf_text("", pr), *fail = conf_text(",\"failPolicy\":\"fail\"", pr);
		json_t *want = json_loads(pr, 0, NULL), *out;

		call(&(struct cni_call){"ADD", "cid-b", b.netns, "eth0",
					"K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=b"},
		     ign, &r);
		out = json_loads(r.out, 0, NULL);
		CHECK(r.status == 0 && out && json_equal(out, want) && strstr(r.err, "unreachable"),
		      "ADD, server down, ignore: exit %d out %s err %s", r.status, r.out, r.err);
		json_decref(out);
		call(&(struct cni_call){"ADD", "cid-b", b.netns, "eth0",
					"K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=b"},
		     fail, &r);
		expect_cni_error(&r, 11, "ADD, server down, failPolicy fail");
		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, fail, &r);
		expect_cni_error(&r, 50, "STATUS, server down, failPolicy fail");
		call(&(struct cni_call){"STATUS", NULL, NULL, NULL, NULL}, ign, &r);
		CHECK(r.status == 0, "STATUS, server down, failPolicy ignore: exit %d %s", r.status,
		      r.out);
		json_decref(want);
		free(ign);
		free(fail);
		free(pr);
	}
	server_start();

	/* Bad input -> CNI error JSON on stdout, non-zero exit, nothing registered. */
	{
		char *pr = prev_result_for(&a), *good = conf_text("", pr), *v9, *noprev, *badip;
		const char *okargs = "K8S_POD_NAMESPACE=x;K8S_POD_NAME=y";
		struct {
			struct cni_call c;
			const char *conf;
			int code;
			const char *what;
		} bad[] = {
			{{NULL, "cid-x", a.netns, "eth0", okargs}, good, 4, "no CNI_COMMAND"},
			{{"BOGUS", "cid-x", a.netns, "eth0", okargs}, good, 4, "unknown command"},
			{{"ADD", "cid-x", a.netns, "eth0", okargs}, "{not json", 6, "bad JSON"},
			{{"ADD", "cid-x", a.netns, "eth0", okargs}, NULL, 1, "cniVersion 9.9.9"},
			{{"ADD", "", a.netns, "eth0", okargs}, good, 4, "no CNI_CONTAINERID"},
			{{"ADD", "cid-x", "", "eth0", okargs}, good, 4, "no CNI_NETNS"},
			{{"ADD", "cid-x", a.netns, "eth0", "K8S_POD_NAMESPACE=x"},
			 good,
			 4,
			 "no K8S_POD_NAME"},
			{{"ADD", "cid-x", "/proc/self/status", "eth0", okargs},
			 good,
			 3,
			 "CNI_NETNS not a netns"},
			{{"ADD", "cid-x", "/run/netns/does-not-exist", "eth0", okargs},
			 good,
			 3,
			 "CNI_NETNS missing"},
			{{"ADD", "cid-x", a.netns, "eth0", okargs}, NULL, 7, "no prevResult"},
			{{"ADD", "cid-x", a.netns, "eth0", okargs}, NULL, 7, "bad prevResult ip"},
		};

		CHECK(asprintf(&v9, "{\"cniVersion\":\"9.9.9\",\"name\":\"n\",\"prevResult\":%s}",
			       pr) > 0,
		      "asprintf");
		noprev = conf_text("", NULL);
		badip = conf_text("", "{\"ips\":[{\"address\":\"300.1.1.1/24\"}]}");
		bad[3].conf = v9;
		bad[9].conf = noprev;
		bad[10].conf = badip;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			call(&bad[i].c, bad[i].conf, &r);
			expect_cni_error(&r, bad[i].code, bad[i].what);
			CHECK(!server_find("cid-x", &tmp), "%s: nothing registered", bad[i].what);
		}
		free(v9);
		free(noprev);
		free(badip);
		free(good);
		free(pr);
	}
	test_api(&a, &b);
	printf("cni_pods_test: ok\n");
	return 0;
}
