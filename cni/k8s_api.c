/* SPDX-License-Identifier: Apache-2.0 */
/* The pod's identity from the Kubernetes API server (see k8s_api.h). */
#include "k8s_api.h"
#include "seterr.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void k8s_api_conf_free(struct k8s_api_conf *c)
{
	free(c->ca_pem);
	if (c->token) /* a secret: do not leave it in freed memory */
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	memset(c, 0, sizeof(*c));
}

/* ---- pure ---- */

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

char *k8s_base64_decode(const char *in, size_t len, size_t *outlen)
{
	char *out = malloc(len / 4 * 3 + 4);
	unsigned acc = 0, bits = 0;
	size_t n = 0, pad = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		v = b64_val(ch);
		if (v < 0 || pad)
			goto bad; /* bad character, or data after padding */
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || bits >= 6 || (acc & ((1u << bits) - 1)))
		goto bad; /* a lone 6-bit group, or non-zero padding bits */
	out[n] = '\0';
	*outlen = n;
	return out;
bad:
	free(out);
	return NULL;
}

/* The member "name" == name of an array of {name, <inner>: {...}}; its <inner> object. */
static json_t *find_named(json_t *root, const char *list, const char *inner, const char *name)
{
	json_t *arr = json_object_get(root, list), *v;
	size_t i;

	json_array_foreach (arr, i, v) {
		json_t *n = json_object_get(v, "name");

		if (json_is_string(n) && !strcmp(json_string_value(n), name))
			return json_object_get(v, inner);
	}
	return NULL;
}

/* The only entry of a one-element list, for a kubeconfig without names to follow. */
static json_t *only_entry(json_t *root, const char *list, const char *inner)
{
	json_t *arr = json_object_get(root, list);

	if (json_array_size(arr) != 1)
		return NULL;
	return json_object_get(json_array_get(arr, 0), inner);
}

/* Optional string member into dst; dir prefix for relative file names. */
static int conf_str(json_t *obj, const char *key, char *dst, size_t n, const char *dir, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	int len;

	if (!v)
		return 0;
	s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || !s[0]) {
		seterr(err, errlen, "kubeconfig: '%s' must be a non-empty string", key);
		return -EINVAL;
	}
	if (dir && s[0] != '/')
		len = snprintf(dst, n, "%s/%s", dir, s);
	else
		len = snprintf(dst, n, "%s", s);
	if (len < 0 || (size_t)len >= n) {
		seterr(err, errlen, "kubeconfig: '%s' is too long", key);
		return -EINVAL;
	}
	return 0;
}

/* A bearer token goes into a header: printable ASCII, no spaces. Trims whitespace. */
static int token_clean(char *t, char *err, size_t errlen)
{
	size_t len = strlen(t);

	while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
		t[--len] = '\0';
	if (!len) {
		seterr(err, errlen, "kubeconfig: the token is empty");
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f) {
			seterr(err, errlen,
			       "kubeconfig: the token has a character not allowed in "
			       "a header");
			return -EINVAL;
		}
	}
	return 0;
}

int k8s_kubeconfig_parse(const char *text, size_t len, const char *dir, struct k8s_api_conf *c,
			 char *err, size_t errlen)
{
	json_t *root, *cur, *ctx = NULL, *cluster = NULL, *user = NULL, *v;
	json_error_t jerr;
	size_t slen;
	int ret = -EINVAL;

	memset(c, 0, sizeof(*c));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		seterr(err, errlen,
		       "kubeconfig: not JSON (%d:%d: %s); write it in JSON form, which kubectl "
		       "reads too",
		       jerr.line, jerr.column, root ? "not an object" : jerr.text);
		goto cleanup;
	}
	cur = json_object_get(root, "current-context");
	if (json_is_string(cur) && json_string_value(cur)[0]) {
		ctx = find_named(root, "contexts", "context", json_string_value(cur));
		if (!json_is_object(ctx)) {
			seterr(err, errlen,
			       "kubeconfig: current-context '%.64s' is not in contexts",
			       json_string_value(cur));
			goto cleanup;
		}
	} else {
		ctx = only_entry(root, "contexts", "context");
	}
	if (ctx) {
		v = json_object_get(ctx, "cluster");
		if (json_is_string(v))
			cluster = find_named(root, "clusters", "cluster", json_string_value(v));
		v = json_object_get(ctx, "user");
		if (json_is_string(v))
			user = find_named(root, "users", "user", json_string_value(v));
		if (!json_is_object(cluster)) {
			seterr(err, errlen, "kubeconfig: the context's cluster is not in clusters");
			goto cleanup;
		}
	} else {
		/* No context to follow: a file with one cluster (and at most one user). */
		cluster = only_entry(root, "clusters", "cluster");
		user = only_entry(root, "users", "user");
		if (!json_is_object(cluster)) {
			seterr(err, errlen,
			       "kubeconfig: no current-context and not exactly one "
			       "cluster");
			goto cleanup;
		}
	}
	if (json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"))) {
		seterr(err, errlen, "kubeconfig: insecure-skip-tls-verify is refused");
		goto cleanup;
	}
	if (conf_str(cluster, "server", c->server, sizeof(c->server), NULL, err, errlen) ||
	    conf_str(cluster, "certificate-authority", c->ca_file, sizeof(c->ca_file), dir, err,
		     errlen))
		goto cleanup;
	slen = strlen(c->server);
	while (slen && c->server[slen - 1] == '/')
		c->server[--slen] = '\0';
	if (strncmp(c->server, "https://", 8) && strncmp(c->server, "http://", 7)) {
		seterr(err, errlen, "kubeconfig: server must be an https:// (or http://) URL");
		goto cleanup;
	}
	for (size_t i = 0; i < slen; i++) {
		if ((unsigned char)c->server[i] <= 0x20 || (unsigned char)c->server[i] >= 0x7f) {
			seterr(err, errlen,
			       "kubeconfig: server URL has a space or control "
			       "character");
			goto cleanup;
		}
	}
	v = json_object_get(cluster, "certificate-authority-data");
	if (v) {
		if (!json_is_string(v) ||
		    !(c->ca_pem = k8s_base64_decode(json_string_value(v), json_string_length(v),
						    &c->ca_pem_len)) ||
		    !c->ca_pem_len) {
			seterr(err, errlen, "kubeconfig: certificate-authority-data is not base64");
			goto cleanup;
		}
	}
	if (!strncmp(c->server, "https://", 8) && !c->ca_pem && !c->ca_file[0]) {
		seterr(err, errlen,
		       "kubeconfig: an https server needs certificate-authority or "
		       "certificate-authority-data");
		goto cleanup;
	}
	if (json_is_object(user)) {
		if (conf_str(user, "tokenFile", c->token_file, sizeof(c->token_file), dir, err,
			     errlen))
			goto cleanup;
		v = json_object_get(user, "token");
		if (v) {
			if (!json_is_string(v) || !(c->token = strdup(json_string_value(v)))) {
				seterr(err, errlen, "kubeconfig: 'token' must be a string");
				goto cleanup;
			}
			if (token_clean(c->token, err, errlen))
				goto cleanup;
		}
	}
	ret = 0;
cleanup:
	json_decref(root);
	if (ret)
		k8s_api_conf_free(c);
	return ret;
}

static char *read_file(const char *path, size_t max, size_t *len, int *errp)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;

	if (!f) {
		*errp = -errno;
		return NULL;
	}
	buf = malloc(max + 1);
	if (!buf) {
		*errp = -ENOMEM;
		goto cleanup;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		*errp = ferror(f) ? -EIO : -EFBIG;
		free(buf);
		buf = NULL;
		goto cleanup;
	}
	buf[n] = '\0';
	*len = n;
cleanup:
	fclose(f);
	return buf;
}

int k8s_kubeconfig_load(const char *path, struct k8s_api_conf *c, char *err, size_t errlen)
{
	char dir[4096], *text = NULL, *slash;
	size_t len = 0;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		seterr(err, errlen, "kubeconfig path too long");
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		strcpy(dir, ".");
	text = read_file(path, 1 << 20, &len, &ret);
	if (!text) {
		seterr(err, errlen, "kubeconfig %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = k8s_kubeconfig_parse(text, len, dir, c, err, errlen);
	free(text);
	if (ret || !c->token_file[0])
		return ret;
	/* tokenFile wins over token, as in client-go. */
	free(c->token);
	c->token = read_file(c->token_file, 64 << 10, &len, &ret);
	if (!c->token) {
		seterr(err, errlen, "tokenFile %s: %s", c->token_file, strerror(-ret));
		goto fail;
	}
	ret = token_clean(c->token, err, errlen);
	if (ret)
		goto fail;
	return 0;
fail:
	k8s_api_conf_free(c);
	return ret;
}

/* RFC 1123 DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63; subdomain: labels joined by '.'. */
static bool dns_name_ok(const char *s, size_t max, bool dots)
{
	size_t len = strlen(s);

	if (!len || len > max || s[0] == '-' || s[len - 1] == '-' || s[0] == '.' ||
	    s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      (dots && ch == '.')))
			return false;
	}
	return true;
}

int k8s_pod_path(const char *ns, const char *name, char *out, size_t n)
{
	int len;

	if (!dns_name_ok(ns, 63, false) || !dns_name_ok(name, 253, true))
		return -EINVAL;
	len = snprintf(out, n, "/api/v1/namespaces/%s/pods/%s", ns, name);
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

static void clear_identity(struct shunt_reg_pod *pod)
{
	memset(pod->service_account, 0, sizeof(pod->service_account));
	memset(pod->labels, 0, sizeof(pod->labels));
	memset(pod->annotations, 0, sizeof(pod->annotations));
	pod->n_labels = 0;
	pod->n_annotations = 0;
	pod->sidecar = -1;
}

static const char *str_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int k8s_pod_identity(const char *json, size_t len, struct shunt_reg_pod *pod, char *err,
		     size_t errlen)
{
	json_t *root, *meta, *spec, *labels, *annots, *v;
	const char *s, *k;
	json_error_t jerr;
	size_t plen = strlen(SHUNT_REG_ANNOTATION_PREFIX);
	int ret = -EINVAL, r;

	clear_identity(pod);
	root = json_loadb(json, len, 0, &jerr);
	meta = json_object_get(root, "metadata");
	spec = json_object_get(root, "spec");
	if (!json_is_object(root) || !json_is_object(meta)) {
		seterr(err, errlen, "the API answer is not a Pod object%s%s", root ? "" : ": ",
		       root ? "" : jerr.text);
		goto cleanup;
	}
	s = str_at(root, "kind");
	if (s && strcmp(s, "Pod")) {
		seterr(err, errlen, "the API answered a %.32s, not a Pod", s);
		goto cleanup;
	}
	if (!str_at(meta, "name") || strcmp(str_at(meta, "name"), pod->name) ||
	    !str_at(meta, "namespace") || strcmp(str_at(meta, "namespace"), pod->ns)) {
		seterr(err, errlen, "the API answered another pod than %s/%s", pod->ns, pod->name);
		goto cleanup;
	}
	s = str_at(meta, "uid");
	annots = json_object_get(meta, "annotations");
	/* A static pod's K8S_POD_UID is the kubelet's own; its mirror pod in the API has
	 * another uid and names the kubelet's in the config.mirror annotation. */
	if (pod->pod_uid[0] && (!s || strcmp(s, pod->pod_uid)) &&
	    !(str_at(annots, K8S_MIRROR_ANNOTATION) &&
	      !strcmp(str_at(annots, K8S_MIRROR_ANNOTATION), pod->pod_uid))) {
		seterr(err, errlen, "pod %s/%s has uid %.64s, not %s (it was replaced)", pod->ns,
		       pod->name, s ? s : "(none)", pod->pod_uid);
		goto cleanup;
	}
	s = str_at(spec, "serviceAccountName");
	if (!s)
		s = str_at(spec, "serviceAccount"); /* the deprecated alias */
	if (!s || !s[0])
		s = "default";
	if (strlen(s) >= sizeof(pod->service_account)) {
		seterr(err, errlen, "spec.serviceAccountName is too long");
		goto cleanup;
	}
	strcpy(pod->service_account, s);
	labels = json_object_get(meta, "labels");
	if (labels && !json_is_object(labels)) {
		seterr(err, errlen, "metadata.labels is not an object");
		goto cleanup;
	}
	json_object_foreach (labels, k, v) {
		r = json_is_string(v) ? shunt_reg_pod_set_label(pod, k, json_string_value(v))
				      : -EINVAL;
		if (r == -E2BIG) {
			seterr(err, errlen, "pod has more than %d labels", SHUNT_REG_MAX_LABELS);
			goto cleanup;
		}
		if (r) {
			seterr(err, errlen, "label '%.64s' has a bad key or value", k);
			goto cleanup;
		}
	}
	if (annots && !json_is_object(annots)) {
		seterr(err, errlen, "metadata.annotations is not an object");
		goto cleanup;
	}
	pod->sidecar = 0;
	if (json_object_get(annots, K8S_ISTIO_STATUS_ANNOTATION))
		pod->sidecar = 1;
	s = shunt_reg_pod_label(pod, K8S_ISTIO_TLS_MODE_LABEL);
	if (s && !strcmp(s, "istio"))
		pod->sidecar = 1;
	json_object_foreach (annots, k, v) {
		if (strncmp(k, SHUNT_REG_ANNOTATION_PREFIX, plen))
			continue;
		r = json_is_string(v) ? shunt_reg_pod_set_annotation(pod, k, json_string_value(v))
				      : -EINVAL;
		if (r == -E2BIG) {
			seterr(err, errlen, "pod has more than %d %s* annotations",
			       SHUNT_REG_MAX_ANNOTATIONS, SHUNT_REG_ANNOTATION_PREFIX);
			goto cleanup;
		}
		if (r) {
			seterr(err, errlen,
			       "annotation '%.100s' has a bad name or a value over %zu bytes", k,
			       sizeof(pod->annotations[0].value) - 1);
			goto cleanup;
		}
	}
	ret = 0;
cleanup:
	json_decref(root);
	if (ret)
		clear_identity(pod);
	return ret;
}

/* ---- I/O ---- */

struct body {
	char *p;
	size_t n;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t len = size * nmemb;
	char *np;

	if (b->n + len > K8S_API_MAX_BODY) {
		b->too_big = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	np = realloc(b->p, b->n + len + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, ptr, len);
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

static int curl_err(CURLcode rc, bool too_big, enum k8s_fail *fail)
{
	*fail = K8S_FAIL_TRANSIENT;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
		*fail = K8S_FAIL_PERMANENT;
		return -EPROTO;
	case CURLE_WRITE_ERROR:
		*fail = too_big ? K8S_FAIL_PERMANENT : K8S_FAIL_TRANSIENT;
		return too_big ? -EFBIG : -ENOMEM;
	default:
		return -EIO;
	}
}

int k8s_get(const struct k8s_api_conf *c, const char *path, int timeout_ms, char **body,
	    enum k8s_fail *fail, char *err, size_t errlen)
{
	char url[1024], auth[8192], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *h;
	struct body b = {0};
	struct curl_blob blob;
	CURL *curl = NULL;
	CURLcode rc;
	long status = 0;
	int ret = -ENOMEM;

	*body = NULL;
	*fail = K8S_FAIL_TRANSIENT;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->server, path) >= sizeof(url)) {
		*fail = K8S_FAIL_PERMANENT;
		seterr(err, errlen, "API URL too long");
		return -ENAMETOOLONG;
	}
	curl = curl_easy_init();
	if (!curl)
		goto cleanup;
	h = curl_slist_append(NULL, "Accept: application/json");
	if (!h)
		goto cleanup;
	hdrs = h;
	if (c->token) {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token) >=
		    sizeof(auth)) {
			*fail = K8S_FAIL_PERMANENT;
			ret = -E2BIG;
			seterr(err, errlen, "the token is too long");
			goto cleanup;
		}
		h = curl_slist_append(hdrs, auth);
		memset(auth, 0, sizeof(auth));
		if (!h)
			goto cleanup;
		hdrs = h;
	}
	/* Verification is on (curl's default, set anyway) and only the kubeconfig's CA
	 * is trusted: no system CA path, no proxy from the environment, no redirects. */
	if (curl_easy_setopt(curl, CURLOPT_URL, url) ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http") ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*") ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms) ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL) ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs) ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, "shunt-cni") ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr) ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b)) {
		*fail = K8S_FAIL_PERMANENT;
		ret = -ENOTSUP;
		seterr(err, errlen, "libcurl lacks a needed option");
		goto cleanup;
	}
	if (c->ca_pem) {
		blob = (struct curl_blob){
			.data = c->ca_pem, .len = c->ca_pem_len, .flags = CURL_BLOB_COPY};
		rc = curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->ca_file[0]) {
		rc = curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
	} else {
		/* http:// only (the parser refuses https without a CA): trust nothing. */
		rc = curl_easy_setopt(curl, CURLOPT_CAINFO, "/dev/null");
	}
	if (rc) {
		*fail = K8S_FAIL_PERMANENT;
		ret = -ENOTSUP;
		seterr(err, errlen, "libcurl cannot take the CA: %s", curl_easy_strerror(rc));
		goto cleanup;
	}
	rc = curl_easy_perform(curl);
	if (rc) {
		ret = curl_err(rc, b.too_big, fail);
		seterr(err, errlen, "GET %s: %s", url,
		       b.too_big ? "answer larger than 1 MiB"
				 : (cerr[0] ? cerr : curl_easy_strerror(rc)));
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		*fail = status == 429 || status >= 500 ? K8S_FAIL_TRANSIENT : K8S_FAIL_PERMANENT;
		ret = status == 404 ? -ENOENT : status == 401 || status == 403 ? -EACCES : -EIO;
		seterr(err, errlen, "GET %s: HTTP %ld%s", url, status,
		       status == 404   ? " (no such pod)"
		       : status == 401 ? " (bad token)"
		       : status == 403 ? " (RBAC: the plugin's account may not get pods)"
				       : "");
		goto cleanup;
	}
	*body = b.p ? b.p : strdup("");
	b.p = NULL;
	*fail = K8S_OK;
	ret = *body ? 0 : -ENOMEM;
cleanup:
	free(b.p);
	curl_slist_free_all(hdrs);
	if (curl)
		curl_easy_cleanup(curl);
	return ret;
}
