/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-cni asks the Kubernetes API server for the pod it is adding, to learn
 * the identity the CNI runtime does not pass: spec.serviceAccountName,
 * metadata.labels, whether an Istio sidecar was injected, and the
 * traffic.sidecar.istio.io/<name> capture annotations.
 *
 * Pure (unit-tested): kubeconfig parsing, the request path, the pod document
 * -> registration fields. I/O: k8s_kubeconfig_load() (files) and k8s_get()
 * (libcurl, TLS verified against the kubeconfig's CA only, never insecure).
 *
 * The kubeconfig is read in its JSON form (kubectl reads JSON kubeconfigs as
 * well as YAML ones): the current context's cluster (server,
 * certificate-authority or certificate-authority-data) and user (token or
 * tokenFile). Relative file names are relative to the kubeconfig's directory.
 * insecure-skip-tls-verify: true is refused.
 */
#ifndef SHUNT_CNI_K8S_API_H
#define SHUNT_CNI_K8S_API_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

#define K8S_API_DEFAULT_TIMEOUT_MS  2000
#define K8S_API_MAX_BODY	    (1 << 20) /* a pod object is a few KiB */
#define K8S_ISTIO_STATUS_ANNOTATION "sidecar.istio.io/status"
#define K8S_ISTIO_TLS_MODE_LABEL    "security.istio.io/tlsMode"
#define K8S_MIRROR_ANNOTATION	    "kubernetes.io/config.mirror"

struct k8s_api_conf {
	char server[512];   /* "https://host:port" or "http://..." without trailing '/' */
	char ca_file[4096]; /* certificate-authority (absolute after load), or "" */
	char *ca_pem;	    /* certificate-authority-data decoded (malloc'd), or NULL */
	size_t ca_pem_len;
	char token_file[4096]; /* tokenFile (absolute after load), or "" */
	char *token;	       /* token, or tokenFile's contents after load (malloc'd) */
};

void k8s_api_conf_free(struct k8s_api_conf *c);

/* Parse a kubeconfig (JSON) into c; dir resolves relative file names (NULL:
 * leave them). Returns 0 or -EINVAL with the reason in err. */
int k8s_kubeconfig_parse(const char *text, size_t len, const char *dir, struct k8s_api_conf *c,
			 char *err, size_t errlen);

/* Read and parse the kubeconfig at path, then read tokenFile (re-read on every
 * call: projected tokens rotate). Returns 0, -EINVAL or -errno (err set). */
int k8s_kubeconfig_load(const char *path, struct k8s_api_conf *c, char *err, size_t errlen);

/* "/api/v1/namespaces/NS/pods/NAME" into out. -EINVAL if ns is not a DNS label
 * or name not a DNS subdomain (nothing needs escaping then), -ENAMETOOLONG. */
int k8s_pod_path(const char *ns, const char *name, char *out, size_t n);

/* Base64 (standard alphabet, padding optional, whitespace ignored). Returns a
 * malloc'd buffer (NUL-terminated, *outlen without it) or NULL if bad/no memory. */
char *k8s_base64_decode(const char *in, size_t len, size_t *outlen);

/* Fill pod's identity from a v1 Pod document: service_account
 * (spec.serviceAccountName, "default" when absent), labels, sidecar (1 when
 * the sidecar.istio.io/status annotation is present or the label
 * security.istio.io/tlsMode is "istio", else 0) and the traffic.sidecar.istio.io
 * annotations. The document must name pod->ns/pod->name and, when
 * pod->pod_uid is set, carry that metadata.uid (else the pod was replaced), or
 * be the mirror pod of that static pod (kubernetes.io/config.mirror = uid).
 * Returns 0 or -EINVAL (err set; pod's identity left unknown). */
int k8s_pod_identity(const char *json, size_t len, struct shunt_reg_pod *pod, char *err,
		     size_t errlen);

/* Failure classes of k8s_get() / the lookup, for the CNI error code. */
enum k8s_fail {
	K8S_OK,
	K8S_FAIL_TRANSIENT, /* unreachable, timeout, 429, 5xx: try again later */
	K8S_FAIL_PERMANENT, /* TLS verification, 401/403/404, bad document */
};

/* GET path from the server with the bearer token; total time bounded by
 * timeout_ms. On HTTP 200 returns 0 with *body (malloc'd, NUL-terminated,
 * <= K8S_API_MAX_BODY). Otherwise a negative errno (-ETIMEDOUT, -ECONNREFUSED,
 * -EPROTO (TLS), -ENOENT (404), -EACCES (401/403), -EIO (other status),
 * -EFBIG) with err naming the server and the cause, and *fail set. */
int k8s_get(const struct k8s_api_conf *c, const char *path, int timeout_ms, char **body,
	    enum k8s_fail *fail, char *err, size_t errlen);

#endif
