/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-cni pure logic (see cni_plugin.h). */
#include "cni_plugin.h"
#include "k8s_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const supported_versions[] = {CNI_SUPPORTED_VERSIONS, NULL};

void cni_seterr(struct cni_error *e, int code, const char *details, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	snprintf(e->details, sizeof(e->details), "%s", details ? details : "");
}

enum cni_command cni_parse_command(const char *s)
{
	if (!s)
		return CNI_CMD_NONE;
	if (!strcmp(s, "ADD"))
		return CNI_CMD_ADD;
	if (!strcmp(s, "DEL"))
		return CNI_CMD_DEL;
	if (!strcmp(s, "CHECK"))
		return CNI_CMD_CHECK;
	if (!strcmp(s, "VERSION"))
		return CNI_CMD_VERSION;
	if (!strcmp(s, "STATUS"))
		return CNI_CMD_STATUS;
	if (!strcmp(s, "GC"))
		return CNI_CMD_GC;
	return CNI_CMD_NONE;
}

bool cni_version_supported(const char *v)
{
	for (size_t i = 0; supported_versions[i]; i++) {
		if (!strcmp(v, supported_versions[i]))
			return true;
	}
	return false;
}

static int copy_str(json_t *doc, const char *key, char *dst, size_t n, bool required,
		    struct cni_error *e)
{
	json_t *v = json_object_get(doc, key);

	if (!v) {
		if (required) {
			cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
				   "network configuration lacks '%s'", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= n) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
			   "'%s' must be a string shorter than %zu bytes", key, n);
		return -1;
	}
	strcpy(dst, json_string_value(v));
	return 0;
}

static int get_policy(json_t *d, const char *key, enum cni_fail_policy *out, struct cni_error *e)
{
	json_t *v = json_object_get(d, key);
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (!v)
		return 0;
	if (!strcmp(s, "ignore")) {
		*out = CNI_FAIL_IGNORE;
	} else if (!strcmp(s, "fail")) {
		*out = CNI_FAIL_FAIL;
	} else {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL, "'%s' must be \"ignore\" or \"fail\"",
			   key);
		return -1;
	}
	return 0;
}

static int get_ms(json_t *d, const char *key, int *out, struct cni_error *e)
{
	json_t *v = json_object_get(d, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 60000) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL, "'%s' must be an integer in 1..60000",
			   key);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

int cni_parse_conf(const char *text, size_t len, json_t **doc, struct cni_conf *conf,
		   struct cni_error *e)
{
	json_error_t jerr;
	json_t *d, *v;

	memset(conf, 0, sizeof(*conf));
	strcpy(conf->socket, SHUNT_REG_DEFAULT_SOCKET);
	conf->timeout_ms = SHUNT_REG_IO_TIMEOUT_MS;
	conf->api_timeout_ms = K8S_API_DEFAULT_TIMEOUT_MS;
	conf->api_failure = CNI_FAIL_FAIL;
	*doc = NULL;
	d = json_loadb(text, len, 0, &jerr);
	if (!d || !json_is_object(d)) {
		cni_seterr(e, CNI_ERR_DECODE, d ? "" : jerr.text,
			   "cannot decode the network configuration on stdin");
		json_decref(d);
		return -1;
	}
	*doc = d;
	if (copy_str(d, "cniVersion", conf->cni_version, sizeof(conf->cni_version), true, e) ||
	    copy_str(d, "name", conf->name, sizeof(conf->name), false, e) ||
	    copy_str(d, "socket", conf->socket, sizeof(conf->socket), false, e))
		return -1;
	if (!cni_version_supported(conf->cni_version)) {
		cni_seterr(e, CNI_ERR_INCOMPATIBLE_VERSION,
			   "supported: 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0",
			   "unsupported cniVersion '%s'", conf->cni_version);
		return -1;
	}
	if (conf->socket[0] != '/') {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL, "'socket' must be an absolute path");
		return -1;
	}
	if (get_policy(d, "failPolicy", &conf->fail_policy, e) ||
	    get_policy(d, "apiFailure", &conf->api_failure, e) ||
	    get_ms(d, "timeoutMs", &conf->timeout_ms, e) ||
	    get_ms(d, "apiTimeoutMs", &conf->api_timeout_ms, e) ||
	    copy_str(d, "kubeconfig", conf->kubeconfig, sizeof(conf->kubeconfig), false, e))
		return -1;
	if (json_object_get(d, "kubeconfig") && conf->kubeconfig[0] != '/') {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
			   "'kubeconfig' must be an absolute path");
		return -1;
	}
	v = json_object_get(d, "prevResult");
	if (v && !json_is_object(v)) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL, "'prevResult' must be an object");
		return -1;
	}
	conf->prev_result = v;
	return 0;
}

int cni_args_get(const char *args, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = args;

	if (!args)
		return -ENOENT;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = len - klen - 1;

			if (vlen >= outlen)
				return -EINVAL;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return -ENOENT;
}

int cni_pod_add_ip(struct shunt_reg_pod *pod, const char *addr)
{
	char buf[64], canon[46];
	unsigned char bin[16];
	char *slash;
	int af;

	if (strlen(addr) >= sizeof(buf))
		return -1;
	strcpy(buf, addr);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	af = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, buf, bin) != 1 || !inet_ntop(af, bin, canon, sizeof(canon)))
		return -1;
	for (unsigned i = 0; i < pod->n_ips; i++) {
		if (!strcmp(pod->ips[i], canon))
			return 0;
	}
	if (pod->n_ips == SHUNT_REG_MAX_IPS)
		return -1;
	strcpy(pod->ips[pod->n_ips++], canon);
	return 0;
}

int cni_prev_result_ips(const json_t *prev_result, struct shunt_reg_pod *pod, struct cni_error *e)
{
	json_t *ips, *ip;
	size_t i;

	if (!prev_result)
		return 0;
	ips = json_object_get(prev_result, "ips");
	if (!ips)
		return 0;
	if (!json_is_array(ips)) {
		cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL, "prevResult.ips must be an array");
		return -1;
	}
	json_array_foreach (ips, i, ip) {
		json_t *a = json_object_get(ip, "address");
		json_t *idx = json_object_get(ip, "interface");

		if (json_is_integer(idx)) {
			json_t *ifc = json_array_get(json_object_get(prev_result, "interfaces"),
						     (size_t)json_integer_value(idx));

			if (json_is_object(ifc) && !json_object_get(ifc, "sandbox"))
				continue; /* a host-side interface's address */
		}

		if (!json_is_string(a) || cni_pod_add_ip(pod, json_string_value(a))) {
			cni_seterr(e, CNI_ERR_INVALID_CONFIG, NULL,
				   "prevResult.ips[%zu].address is not an address in CIDR form", i);
			return -1;
		}
	}
	return (int)pod->n_ips;
}

static char *dump_line(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

char *cni_error_json(const char *cni_version, const struct cni_error *e)
{
	json_t *o = json_pack("{s:s, s:i, s:s}", "cniVersion",
			      cni_version && cni_version[0] ? cni_version : "1.0.0", "code",
			      e->code, "msg", e->msg);

	if (o && e->details[0])
		json_object_set_new(o, "details", json_string(e->details));
	return dump_line(o);
}

char *cni_version_json(const char *cni_version)
{
	json_t *vs = json_array();

	for (size_t i = 0; vs && supported_versions[i]; i++)
		json_array_append_new(vs, json_string(supported_versions[i]));
	return dump_line(json_pack("{s:s, s:o}", "cniVersion",
				   cni_version && cni_version[0] ? cni_version : "1.0.0",
				   "supportedVersions", vs));
}
