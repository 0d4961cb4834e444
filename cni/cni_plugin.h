/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-cni, pure part: CNI spec 1.0 chained-plugin logic without I/O
 * (unit-tested). shunt_cni.c does the environment, netns and socket work.
 */
#ifndef SHUNT_CNI_PLUGIN_H
#define SHUNT_CNI_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

/* CNI spec error codes (SPEC.md "Error"). */
enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50, /* STATUS: the plugin cannot serve ADD now */
};

enum cni_command {
	CNI_CMD_NONE,
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS, /* spec 1.1 */
	CNI_CMD_GC,	/* spec 1.1 */
};

/* What to do when shuntd cannot be reached on ADD/CHECK ("failPolicy"), or when
 * the pod's identity cannot be read from the API server on ADD ("apiFailure"). */
enum cni_fail_policy { CNI_FAIL_IGNORE, CNI_FAIL_FAIL };

struct cni_error {
	int code; /* 0 = none */
	char msg[256];
	char details[512];
};

struct cni_conf {
	char cni_version[16];
	char name[128];
	char socket[108];
	enum cni_fail_policy fail_policy;
	int timeout_ms;
	/* Identity from the Kubernetes API (optional; "" = none, as before). */
	char kubeconfig[4096];
	int api_timeout_ms;		  /* "apiTimeoutMs", total per lookup */
	enum cni_fail_policy api_failure; /* "apiFailure", default fail */
	json_t *prev_result;		  /* borrowed from the parsed document; NULL if absent */
};

#define CNI_SUPPORTED_VERSIONS "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"

enum cni_command cni_parse_command(const char *s);
bool cni_version_supported(const char *v);

/* Parse the stdin network configuration. *doc receives the parsed JSON (caller
 * json_decref()s it; conf->prev_result points into it). Returns 0 or -1 with e set. */
int cni_parse_conf(const char *text, size_t len, json_t **doc, struct cni_conf *conf,
		   struct cni_error *e);

/* CNI_ARGS "K1=V1;K2=V2": copy the value of key into out. Returns 0, -ENOENT, -EINVAL. */
int cni_args_get(const char *args, const char *key, char *out, size_t outlen);

/* IPs of prevResult.ips[].address (CIDR form "10.0.0.5/24"), prefix dropped,
 * canonicalised, deduplicated, into pod->ips. An address whose "interface" index
 * names an interface outside the sandbox (no "sandbox" key: a host-side veth or
 * bridge) is not the pod's and is skipped. Returns the count or -1 (e set). */
int cni_prev_result_ips(const json_t *prev_result, struct shunt_reg_pod *pod, struct cni_error *e);

/* Add one address (text, optional /prefix) to pod->ips unless present. 0, or -1 if full/bad. */
int cni_pod_add_ip(struct shunt_reg_pod *pod, const char *addr);

/* Error JSON line as the spec wants it on stdout (malloc'd). */
char *cni_error_json(const char *cni_version, const struct cni_error *e);
/* VERSION answer (malloc'd). */
char *cni_version_json(const char *cni_version);

void cni_seterr(struct cni_error *e, int code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
