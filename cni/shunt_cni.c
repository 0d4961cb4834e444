/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-cni: a chained CNI plugin (spec 1.0; 0.3.x/0.4.0/1.1.0 configs accepted)
 * that registers each pod with shuntd.
 *
 * The runtime runs it after the interface plugins with CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID)
 * and the network configuration on stdin, which holds prevResult:
 *   ADD    pod IPs from prevResult.ips (else read inside CNI_NETNS), netns inode and
 *          cookie, identity -> one registration request to shuntd's UNIX socket;
 *          prints prevResult unchanged.
 *   DEL    deregister; never fails (a pod must always be deletable): problems are logged.
 *   CHECK  the pod must be registered.
 *   VERSION supported versions.
 *   STATUS (1.1) ready unless failPolicy is "fail" and shuntd does not answer, or
 *          apiFailure is "fail" and the kubeconfig (or its tokenFile) is not usable (error 50).
 *   GC     (1.1) nothing to collect: DEL removes each registration; succeeds.
 * Plugin configuration keys: "socket" (default /run/shunt/cni.sock), "failPolicy"
 * "ignore" (default: shuntd unreachable -> log, pod starts unregistered) or "fail"
 * (-> CNI error 11 "try again later", the runtime retries the sandbox), "timeoutMs".
 * "kubeconfig" (optional, absolute path): on ADD, GET the pod from that API server
 * (total "apiTimeoutMs", default 2000) for its service account, labels, Istio
 * sidecar and traffic.sidecar.istio.io annotations. "apiFailure": "fail" (default,
 * as istio-cni: the ADD fails, error 11 when transient (unreachable, timeout, 5xx)
 * else 5, and the runtime retries) or "ignore" (register without identity).
 * Errors: the CNI error object on stdout and exit 1. Logs go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cni_plugin.h"
#include "k8s_api.h"
#include "registry.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define MAX_STDIN (1 << 20)

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logf_(const char *fmt, ...)
{
	va_list ap;

	fputs("shunt-cni: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		ssize_t r = read(STDIN_FILENO, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += (size_t)r;
		if (n == cap) {
			char *nb;

			if (cap >= MAX_STDIN)
				break;
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				break;
			buf = nb;
		}
	}
	free(buf);
	return NULL;
}

static bool want_addr(const struct ifaddrs *ifa, const char *ifname)
{
	const struct sockaddr *sa = ifa->ifa_addr;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (ifa->ifa_flags & IFF_LOOPBACK)
		return false;
	if (ifname && ifname[0] && strcmp(ifa->ifa_name, ifname))
		return false;
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)sa)->sin6_addr))
		return false;
	return true;
}

/* Enter the pod's netns, read its cookie (and addresses when asked), come back. */
static int probe_netns(const char *path, struct shunt_reg_pod *pod, bool want_ips,
		       struct cni_error *e)
{
	int self = -1, target = -1, s = -1, ret = -1;
	struct ifaddrs *ifas = NULL;
	socklen_t len = sizeof(pod->netns_cookie);
	struct stat st;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || fstat(target, &st)) {
		cni_seterr(e, CNI_ERR_UNKNOWN_CONTAINER, strerror(errno), "cannot open netns %s",
			   path);
		goto cleanup;
	}
	pod->netns_inode = (uint64_t)st.st_ino;
	if (setns(target, CLONE_NEWNET)) {
		cni_seterr(e, CNI_ERR_UNKNOWN_CONTAINER, strerror(errno),
			   "cannot enter netns %s (not a network namespace?)", path);
		goto cleanup;
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &pod->netns_cookie, &len)) {
		logf_("netns cookie unavailable (%s); registering without it", strerror(errno));
		pod->netns_cookie = 0;
	}
	if (want_ips) {
		if (getifaddrs(&ifas)) {
			cni_seterr(e, CNI_ERR_IO, strerror(errno), "cannot list addresses in %s",
				   path);
			goto back;
		}
		for (struct ifaddrs *i = ifas; i; i = i->ifa_next) {
			char buf[64];
			const void *a;

			if (!want_addr(i, pod->ifname))
				continue;
			a = i->ifa_addr->sa_family == AF_INET
				    ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
				    : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)
					      ->sin6_addr;
			if (inet_ntop(i->ifa_addr->sa_family, a, buf, sizeof(buf)))
				cni_pod_add_ip(pod, buf);
		}
	}
	ret = 0;
back:
	if (setns(self, CLONE_NEWNET)) {
		cni_seterr(e, CNI_ERR_IO, strerror(errno), "cannot return to the host netns");
		ret = -1;
	}
cleanup:
	if (ifas)
		freeifaddrs(ifas);
	if (s >= 0)
		close(s);
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return ret;
}

static int env_str(const char *name, char *dst, size_t n, bool required, struct cni_error *e)
{
	const char *v = getenv(name);

	if (!v || !v[0]) {
		if (required) {
			cni_seterr(e, CNI_ERR_INVALID_ENV, NULL, "%s is not set", name);
			return -1;
		}
		dst[0] = '\0';
		return 0;
	}
	if (strlen(v) >= n) {
		cni_seterr(e, CNI_ERR_INVALID_ENV, NULL, "%s is too long", name);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

/* Identity from CNI_ARGS. */
static int pod_identity(struct shunt_reg_pod *pod, bool required, struct cni_error *e)
{
	const char *args = getenv("CNI_ARGS");
	int r1 = cni_args_get(args, "K8S_POD_NAMESPACE", pod->ns, sizeof(pod->ns));
	int r2 = cni_args_get(args, "K8S_POD_NAME", pod->name, sizeof(pod->name));

	if (cni_args_get(args, "K8S_POD_UID", pod->pod_uid, sizeof(pod->pod_uid)))
		pod->pod_uid[0] = '\0';
	if (r1 == -EINVAL || r2 == -EINVAL) {
		cni_seterr(e, CNI_ERR_INVALID_ENV, NULL, "K8S_POD_NAMESPACE/K8S_POD_NAME too long");
		return -1;
	}
	if (required && (r1 || r2 || !pod->ns[0] || !pod->name[0])) {
		cni_seterr(e, CNI_ERR_INVALID_ENV, args ? args : "",
			   "CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME");
		return -1;
	}
	return 0;
}

static int print_json(const json_t *o)
{
	if (json_dumpf(o, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF || fflush(stdout))
		return -1;
	return 0;
}

/* Send; apply the failure policy. Returns 0 (go on) or -1 (e set). */
static int send_req(const struct cni_conf *conf, const struct shunt_reg_request *req,
		    struct cni_error *e)
{
	char err[256] = "";
	int ret = shunt_reg_send(conf->socket, req, conf->timeout_ms, err, sizeof(err));

	if (!ret)
		return 0;
	if (ret == -EPERM) {
		cni_seterr(e, req->op == SHUNT_REG_CHECK ? CNI_ERR_UNKNOWN_CONTAINER : CNI_ERR_IO,
			   err, "shuntd refused %s of %s/%s", shunt_reg_op_name(req->op),
			   req->pod.ns, req->pod.name);
		return -1;
	}
	if (conf->fail_policy == CNI_FAIL_IGNORE) {
		logf_("%s %s/%s: shuntd unreachable (%s); failPolicy ignore: continuing",
		      shunt_reg_op_name(req->op), req->pod.ns, req->pod.name, err);
		return 0;
	}
	cni_seterr(e, CNI_ERR_TRY_AGAIN, err, "shuntd unreachable for %s of %s/%s",
		   shunt_reg_op_name(req->op), req->pod.ns, req->pod.name);
	return -1;
}

/* ADD with "kubeconfig": the pod's service account, labels, sidecar and capture
 * annotations from the API server. Returns 0 (identity filled, or left unknown
 * under apiFailure ignore) or -1 (e set). */
static int lookup_identity(const struct cni_conf *conf, struct shunt_reg_pod *pod,
			   struct cni_error *e)
{
	struct k8s_api_conf api;
	enum k8s_fail fail = K8S_FAIL_PERMANENT;
	char err[512] = "", path[512];
	char *body = NULL;
	int ret;

	ret = k8s_pod_path(pod->ns, pod->name, path, sizeof(path));
	if (ret) {
		snprintf(err, sizeof(err), "K8S_POD_NAMESPACE/K8S_POD_NAME are not DNS names");
		goto done;
	}
	ret = k8s_kubeconfig_load(conf->kubeconfig, &api, err, sizeof(err));
	if (ret)
		goto done;
	ret = k8s_get(&api, path, conf->api_timeout_ms, &body, &fail, err, sizeof(err));
	k8s_api_conf_free(&api);
	if (ret)
		goto done;
	fail = K8S_FAIL_PERMANENT;
	ret = k8s_pod_identity(body, strlen(body), pod, err, sizeof(err));
done:
	free(body);
	if (!ret)
		return 0;
	if (conf->api_failure == CNI_FAIL_IGNORE) {
		logf_("ADD %s/%s: identity unknown (%s); apiFailure ignore: registering without it",
		      pod->ns, pod->name, err);
		return 0;
	}
	cni_seterr(e, fail == K8S_FAIL_TRANSIENT ? CNI_ERR_TRY_AGAIN : CNI_ERR_IO, err,
		   "cannot read pod %s/%s from the Kubernetes API", pod->ns, pod->name);
	return -1;
}

static int cmd_add_check(enum cni_command cmd, const struct cni_conf *conf, struct cni_error *e)
{
	struct shunt_reg_request req = {.op = cmd == CNI_CMD_ADD ? SHUNT_REG_ADD : SHUNT_REG_CHECK};
	struct shunt_reg_pod *pod = &req.pod;
	int n;

	shunt_reg_pod_init(pod);
	if (env_str("CNI_CONTAINERID", pod->container_id, sizeof(pod->container_id), true, e) ||
	    env_str("CNI_NETNS", pod->netns, sizeof(pod->netns), true, e) ||
	    env_str("CNI_IFNAME", pod->ifname, sizeof(pod->ifname), false, e) ||
	    pod_identity(pod, true, e))
		return -1;
	if (pod->netns[0] != '/') {
		cni_seterr(e, CNI_ERR_INVALID_ENV, NULL, "CNI_NETNS must be an absolute path");
		return -1;
	}
	if (!conf->prev_result) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
			   "shunt-cni is a chained plugin: the configuration has no prevResult");
		return -1;
	}
	n = cni_prev_result_ips(conf->prev_result, pod, e);
	if (n < 0 || probe_netns(pod->netns, pod, n == 0, e))
		return -1;
	if (pod->n_ips == 0) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
			   "no pod address: prevResult has no ips and %s has none", pod->netns);
		return -1;
	}
	if (cmd == CNI_CMD_ADD && conf->kubeconfig[0] && lookup_identity(conf, pod, e))
		return -1;
	if (send_req(conf, &req, e))
		return -1;
	if (cmd == CNI_CMD_CHECK)
		return 0; /* CHECK prints nothing on success */
	if (print_json(conf->prev_result)) {
		cni_seterr(e, CNI_ERR_IO, strerror(errno), "cannot write the result");
		return -1;
	}
	return 0;
}

/* STATUS: with failPolicy fail an unreachable shuntd means ADD would fail. */
static int cmd_status(const struct cni_conf *conf, struct cni_error *e)
{
	struct shunt_reg_request req = {.op = SHUNT_REG_DEL};
	char err[512] = "";

	/* With apiFailure fail every ADD needs a usable kubeconfig (and its token). The
	 * API server itself is not probed: the kubelet cannot create pods without it. */
	if (conf->kubeconfig[0] && conf->api_failure == CNI_FAIL_FAIL) {
		struct k8s_api_conf api;

		if (k8s_kubeconfig_load(conf->kubeconfig, &api, err, sizeof(err))) {
			cni_seterr(e, CNI_ERR_NOT_AVAILABLE, err, "the kubeconfig is not usable");
			return -1;
		}
		k8s_api_conf_free(&api);
	}
	if (conf->fail_policy != CNI_FAIL_FAIL)
		return 0;
	/* DEL of a container id that cannot exist: changes nothing, proves an answer. */
	snprintf(req.pod.container_id, sizeof(req.pod.container_id), "shunt-cni-status-probe");
	if (shunt_reg_send(conf->socket, &req, conf->timeout_ms, err, sizeof(err))) {
		cni_seterr(e, CNI_ERR_NOT_AVAILABLE, err, "shuntd does not answer on %s",
			   conf->socket);
		return -1;
	}
	return 0;
}

static void cmd_del(const struct cni_conf *conf)
{
	struct shunt_reg_request req = {.op = SHUNT_REG_DEL};
	struct cni_error e = {0};
	char err[256] = "";
	int ret;

	if (env_str("CNI_CONTAINERID", req.pod.container_id, sizeof(req.pod.container_id), true,
		    &e)) {
		logf_("DEL: %s; nothing to do", e.msg);
		return;
	}
	pod_identity(&req.pod, false, &e);
	ret = shunt_reg_send(conf->socket, &req, conf->timeout_ms, err, sizeof(err));
	if (ret)
		logf_("DEL %s (%s/%s): %s; ignored", req.pod.container_id, req.pod.ns, req.pod.name,
		      err);
}

int main(void)
{
	enum cni_command cmd = cni_parse_command(getenv("CNI_COMMAND"));
	struct cni_error e = {0};
	struct cni_conf conf;
	json_t *doc = NULL;
	char *in = NULL, *out;
	size_t len = 0;
	int ret = 1;

	if (cmd == CNI_CMD_VERSION) {
		/* stdin: {"cniVersion": "<the runtime's>"}; answer in it when we know it. */
		char want[16] = "1.0.0";
		json_t *v;

		in = read_stdin(&len);
		doc = in ? json_loadb(in, len, 0, NULL) : NULL;
		v = json_object_get(doc, "cniVersion");
		if (json_is_string(v) && cni_version_supported(json_string_value(v)))
			snprintf(want, sizeof(want), "%s", json_string_value(v));
		json_decref(doc);
		free(in);
		out = cni_version_json(want);
		if (!out)
			return 1;
		puts(out);
		free(out);
		return 0;
	}
	memset(&conf, 0, sizeof(conf));
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		cni_seterr(&e, CNI_ERR_IO, NULL, "cannot initialise libcurl");
		goto cleanup;
	}
	if (cmd == CNI_CMD_NONE) {
		cni_seterr(&e, CNI_ERR_INVALID_ENV, NULL,
			   "CNI_COMMAND must be ADD, DEL, CHECK, STATUS, GC or VERSION");
		goto cleanup;
	}
	in = read_stdin(&len);
	if (!in) {
		cni_seterr(&e, CNI_ERR_IO, NULL, "cannot read the configuration from stdin");
		goto cleanup;
	}
	if (cni_parse_conf(in, len, &doc, &conf, &e)) {
		if (cmd == CNI_CMD_DEL) {
			/* DEL must not fail: the pod would be stuck in Terminating. */
			logf_("DEL with a bad configuration (%s); ignored", e.msg);
			ret = 0;
		}
		goto cleanup;
	}
	switch (cmd) {
	case CNI_CMD_ADD:
	case CNI_CMD_CHECK:
		ret = cmd_add_check(cmd, &conf, &e) ? 1 : 0;
		break;
	case CNI_CMD_DEL:
		cmd_del(&conf);
		ret = 0;
		break;
	case CNI_CMD_STATUS:
		ret = cmd_status(&conf, &e) ? 1 : 0;
		break;
	case CNI_CMD_GC:
		ret = 0;
		break;
	default:
		break;
	}
cleanup:
	if (ret) {
		out = cni_error_json(conf.cni_version, &e);
		if (out) {
			puts(out);
			free(out);
		}
		logf_("%s: %s%s%s", getenv("CNI_COMMAND") ? getenv("CNI_COMMAND") : "?", e.msg,
		      e.details[0] ? ": " : "", e.details);
	}
	json_decref(doc);
	free(in);
	curl_global_cleanup();
	return ret;
}
