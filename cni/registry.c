/* SPDX-License-Identifier: Apache-2.0 */
/* Pod registration protocol, table, state file, server and client (see registry.h). */
#include "registry.h"
#include "seterr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *shunt_reg_op_name(enum shunt_reg_op op)
{
	switch (op) {
	case SHUNT_REG_ADD:
		return "ADD";
	case SHUNT_REG_DEL:
		return "DEL";
	case SHUNT_REG_CHECK:
		return "CHECK";
	}
	return "?";
}

/* Copy a string member into dst (size n). Returns 0, 1 if absent, -EINVAL if bad. */
static int get_str(json_t *obj, const char *key, char *dst, size_t n, bool required, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t len;

	if (!v) {
		if (required) {
			seterr(err, errlen, "missing '%s'", key);
			return -EINVAL;
		}
		return 1;
	}
	if (!json_is_string(v)) {
		seterr(err, errlen, "'%s' must be a string", key);
		return -EINVAL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s)) {
		seterr(err, errlen, "'%s' contains NUL", key);
		return -EINVAL;
	}
	if (len == 0 && required) {
		seterr(err, errlen, "'%s' is empty", key);
		return -EINVAL;
	}
	if (len >= n) {
		seterr(err, errlen, "'%s' is too long (%zu > %zu)", key, len, n - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			seterr(err, errlen, "'%s' contains a control character", key);
			return -EINVAL;
		}
	}
	memcpy(dst, s, len + 1);
	return 0;
}

static int get_u64(json_t *obj, const char *key, uint64_t *dst, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		seterr(err, errlen, "'%s' must be a non-negative integer", key);
		return -EINVAL;
	}
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

/* Canonical text of an IPv4/IPv6 address (no prefix). */
static int canon_ip(const char *in, char *out, size_t n)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, in, buf) == 1)
		return inet_ntop(AF_INET, buf, out, n) ? 0 : -EINVAL;
	if (inet_pton(AF_INET6, in, buf) == 1)
		return inet_ntop(AF_INET6, buf, out, n) ? 0 : -EINVAL;
	return -EINVAL;
}

void shunt_reg_pod_init(struct shunt_reg_pod *pod)
{
	memset(pod, 0, sizeof(*pod));
	pod->sidecar = -1;
}

const char *shunt_reg_pod_label(const struct shunt_reg_pod *pod, const char *key)
{
	for (unsigned i = 0; i < pod->n_labels; i++) {
		if (!strcmp(pod->labels[i].key, key))
			return pod->labels[i].value;
	}
	return NULL;
}

const char *shunt_reg_pod_annotation(const struct shunt_reg_pod *pod, const char *key)
{
	for (unsigned i = 0; i < pod->n_annotations; i++) {
		if (!strcmp(pod->annotations[i].key, key))
			return pod->annotations[i].value;
	}
	return NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A Kubernetes "qualified name" part / label value: [A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?,
 * at most max chars (empty allowed when allow_empty). */
static bool k8s_name_ok(const char *s, size_t len, size_t max, bool allow_empty)
{
	if (len == 0)
		return allow_empty;
	if (len > max || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	}
	return true;
}

/* A DNS subdomain (label key prefix): lower case alphanumerics, '-' and '.', <= 253. */
static bool dns_subdomain_ok(const char *s, size_t len)
{
	if (len == 0 || len > 253 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((s[i] >= 'A' && s[i] <= 'Z') || (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.'))
			return false;
	}
	return true;
}

bool shunt_reg_label_key_ok(const char *key)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return k8s_name_ok(key, strlen(key), 63, false);
	return dns_subdomain_ok(key, (size_t)(slash - key)) &&
	       k8s_name_ok(slash + 1, strlen(slash + 1), 63, false);
}

bool shunt_reg_label_value_ok(const char *value)
{
	return k8s_name_ok(value, strlen(value), 63, true);
}

bool shunt_reg_annotation_key_ok(const char *key)
{
	size_t plen = strlen(SHUNT_REG_ANNOTATION_PREFIX);

	return !strncmp(key, SHUNT_REG_ANNOTATION_PREFIX, plen) &&
	       k8s_name_ok(key + plen, strlen(key + plen), 63, false);
}

bool shunt_reg_annotation_value_ok(const char *value)
{
	size_t len = strlen(value);

	if (len >= sizeof(((struct shunt_reg_pod *)0)->annotations[0].value))
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return false;
	}
	return true;
}

/* Set key=value in a key-sorted array of *n records of elem bytes (key string
 * at offset 0, value string at val_off); -E2BIG when a new key finds it full. */
static int sorted_kv_set(void *arr, unsigned *n, unsigned max, size_t elem, size_t val_off,
			 const char *key, const char *value)
{
	char *a = arr, *rec;
	unsigned i;

	for (i = 0; i < *n && strcmp(a + i * elem, key) < 0; i++)
		;
	rec = a + i * elem;
	if (i == *n || strcmp(rec, key)) {
		if (*n == max)
			return -E2BIG;
		memmove(rec + elem, rec, (*n - i) * elem);
		memset(rec, 0, elem);
		strcpy(rec, key);
		(*n)++;
	}
	memset(rec + val_off, 0, elem - val_off);
	strcpy(rec + val_off, value);
	return 0;
}

#define KV_VAL_OFF(member)                                 \
	(offsetof(struct shunt_reg_pod, member[0].value) - \
	 offsetof(struct shunt_reg_pod, member[0].key))

int shunt_reg_pod_set_label(struct shunt_reg_pod *pod, const char *key, const char *value)
{
	if (!shunt_reg_label_key_ok(key) || !shunt_reg_label_value_ok(value))
		return -EINVAL;
	return sorted_kv_set(pod->labels, &pod->n_labels, SHUNT_REG_MAX_LABELS,
			     sizeof(pod->labels[0]), KV_VAL_OFF(labels), key, value);
}

int shunt_reg_pod_set_annotation(struct shunt_reg_pod *pod, const char *key, const char *value)
{
	if (!shunt_reg_annotation_key_ok(key) || !shunt_reg_annotation_value_ok(value))
		return -EINVAL;
	return sorted_kv_set(pod->annotations, &pod->n_annotations, SHUNT_REG_MAX_ANNOTATIONS,
			     sizeof(pod->annotations[0]), KV_VAL_OFF(annotations), key, value);
}

/* A string->string object through set(); what names the member in errors. */
static int parse_string_map(json_t *obj, const char *what, struct shunt_reg_pod *p,
			    int (*set)(struct shunt_reg_pod *, const char *, const char *),
			    unsigned max, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj)) {
		seterr(err, errlen, "'%s' must be an object of strings", what);
		return -EINVAL;
	}
	if (json_object_size(obj) > max) {
		seterr(err, errlen, "'%s' has more than %u entries", what, max);
		return -EINVAL;
	}
	json_object_foreach (obj, k, v) {
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
			seterr(err, errlen, "'%s.%.64s' must be a string", what, k);
			return -EINVAL;
		}
		if (set(p, k, json_string_value(v))) {
			seterr(err, errlen, "'%s' has a bad key or value: '%.64s'", what, k);
			return -EINVAL;
		}
	}
	return 0;
}

/* The optional identity members (serviceAccount, labels, sidecar, annotations). */
static int parse_identity(json_t *obj, struct shunt_reg_pod *p, char *err, size_t errlen)
{
	json_t *v;

	p->sidecar = -1;
	if (get_str(obj, "serviceAccount", p->service_account, sizeof(p->service_account), false,
		    err, errlen) < 0)
		return -EINVAL;
	if (p->service_account[0] &&
	    !dns_subdomain_ok(p->service_account, strlen(p->service_account))) {
		seterr(err, errlen, "'serviceAccount' is not a DNS subdomain");
		return -EINVAL;
	}
	v = json_object_get(obj, "labels");
	if (v && parse_string_map(v, "labels", p, shunt_reg_pod_set_label, SHUNT_REG_MAX_LABELS,
				  err, errlen))
		return -EINVAL;
	v = json_object_get(obj, "annotations");
	if (v && parse_string_map(v, "annotations", p, shunt_reg_pod_set_annotation,
				  SHUNT_REG_MAX_ANNOTATIONS, err, errlen))
		return -EINVAL;
	v = json_object_get(obj, "sidecar");
	if (v) {
		if (!json_is_boolean(v)) {
			seterr(err, errlen, "'sidecar' must be true or false");
			return -EINVAL;
		}
		p->sidecar = json_is_true(v);
	}
	return 0;
}

/* Parse the pod fields of obj (request or state entry). */
static int parse_pod(json_t *obj, struct shunt_reg_pod *p, bool need_identity, bool need_add,
		     char *err, size_t errlen)
{
	static const char *const keys[] = {"op",     "containerId", "namespace",   "name",
					   "podUid", "netns",	    "netnsInode",  "netnsCookie",
					   "ifname", "ips",	    "cgroup",	   "serviceAccount",
					   "labels", "sidecar",	    "annotations", NULL};
	const char *k;
	json_t *v, *ips;
	size_t i;

	json_object_foreach (obj, k, v) {
		bool known = false;

		for (i = 0; keys[i]; i++)
			known = known || !strcmp(k, keys[i]);
		if (!known) {
			seterr(err, errlen, "unknown key '%s'", k);
			return -EINVAL;
		}
	}
	if (get_str(obj, "containerId", p->container_id, sizeof(p->container_id), true, err,
		    errlen) < 0 ||
	    get_str(obj, "namespace", p->ns, sizeof(p->ns), need_identity, err, errlen) < 0 ||
	    get_str(obj, "name", p->name, sizeof(p->name), need_identity, err, errlen) < 0 ||
	    get_str(obj, "podUid", p->pod_uid, sizeof(p->pod_uid), false, err, errlen) < 0 ||
	    get_str(obj, "netns", p->netns, sizeof(p->netns), need_add, err, errlen) < 0 ||
	    get_str(obj, "ifname", p->ifname, sizeof(p->ifname), false, err, errlen) < 0 ||
	    get_str(obj, "cgroup", p->cgroup, sizeof(p->cgroup), false, err, errlen) < 0 ||
	    get_u64(obj, "netnsInode", &p->netns_inode, err, errlen) < 0 ||
	    get_u64(obj, "netnsCookie", &p->netns_cookie, err, errlen) < 0)
		return -EINVAL;
	if (need_add && p->netns[0] != '/') {
		seterr(err, errlen, "'netns' must be an absolute path");
		return -EINVAL;
	}
	ips = json_object_get(obj, "ips");
	if (ips) {
		if (!json_is_array(ips)) {
			seterr(err, errlen, "'ips' must be an array of addresses");
			return -EINVAL;
		}
		if (json_array_size(ips) > SHUNT_REG_MAX_IPS) {
			seterr(err, errlen, "'ips' has more than %d addresses", SHUNT_REG_MAX_IPS);
			return -EINVAL;
		}
		json_array_foreach (ips, i, v) {
			if (!json_is_string(v) ||
			    canon_ip(json_string_value(v), p->ips[p->n_ips], sizeof(p->ips[0]))) {
				seterr(err, errlen, "'ips[%zu]' is not an IPv4/IPv6 address", i);
				return -EINVAL;
			}
			for (unsigned j = 0; j < p->n_ips; j++) {
				if (!strcmp(p->ips[j], p->ips[p->n_ips])) {
					seterr(err, errlen, "'ips[%zu]' is a duplicate", i);
					return -EINVAL;
				}
			}
			p->n_ips++;
		}
	}
	if (need_add && p->n_ips == 0) {
		seterr(err, errlen, "'ips' must list at least one address");
		return -EINVAL;
	}
	return parse_identity(obj, p, err, errlen);
}

int shunt_reg_parse_request(const char *line, size_t len, struct shunt_reg_request *out, char *err,
			    size_t errlen)
{
	json_error_t jerr;
	json_t *root = NULL, *op;
	const char *s;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		seterr(err, errlen, "bad JSON: %s", jerr.text);
		goto cleanup;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "request must be a JSON object");
		goto cleanup;
	}
	op = json_object_get(root, "op");
	s = json_is_string(op) ? json_string_value(op) : NULL;
	if (!s) {
		seterr(err, errlen, "missing 'op' (ADD, DEL or CHECK)");
		goto cleanup;
	}
	if (!strcmp(s, "ADD"))
		out->op = SHUNT_REG_ADD;
	else if (!strcmp(s, "DEL"))
		out->op = SHUNT_REG_DEL;
	else if (!strcmp(s, "CHECK"))
		out->op = SHUNT_REG_CHECK;
	else {
		seterr(err, errlen, "unknown op '%.32s' (ADD, DEL or CHECK)", s);
		goto cleanup;
	}
	ret = parse_pod(root, &out->pod, out->op != SHUNT_REG_DEL, out->op == SHUNT_REG_ADD, err,
			errlen);
cleanup:
	json_decref(root);
	return ret;
}

/* Add the identity members that are known. Returns 0 or -ENOMEM. */
/* A key-sorted record array (as sorted_kv_set keeps it) as the object o.name;
 * nothing when empty. */
static int kv_to_json(json_t *o, const char *name, const void *arr, unsigned n, size_t elem,
		      size_t val_off)
{
	const char *a = arr;
	json_t *m;

	if (!n)
		return 0;
	m = json_object();
	if (!m || json_object_set_new(o, name, m))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		if (json_object_set_new(m, a + i * elem, json_string(a + i * elem + val_off)))
			return -ENOMEM;
	return 0;
}

static int identity_to_json(json_t *o, const struct shunt_reg_pod *p)
{
	if (p->service_account[0] &&
	    json_object_set_new(o, "serviceAccount", json_string(p->service_account)))
		return -ENOMEM;
	if (p->sidecar >= 0 && json_object_set_new(o, "sidecar", json_boolean(p->sidecar)))
		return -ENOMEM;
	if (kv_to_json(o, "labels", p->labels, p->n_labels, sizeof(p->labels[0]),
		       KV_VAL_OFF(labels)) ||
	    kv_to_json(o, "annotations", p->annotations, p->n_annotations,
		       sizeof(p->annotations[0]), KV_VAL_OFF(annotations)))
		return -ENOMEM;
	return 0;
}

static json_t *pod_to_json(const struct shunt_reg_pod *p)
{
	json_t *o = json_object(), *ips = json_array();

	if (!o || !ips)
		goto fail;
	if (json_object_set_new(o, "containerId", json_string(p->container_id)))
		goto fail;
#define OPT_STR(key, field)                                                            \
	do {                                                                           \
		if (p->field[0] && json_object_set_new(o, key, json_string(p->field))) \
			goto fail;                                                     \
	} while (0)
	OPT_STR("namespace", ns);
	OPT_STR("name", name);
	OPT_STR("podUid", pod_uid);
	OPT_STR("netns", netns);
	OPT_STR("ifname", ifname);
	OPT_STR("cgroup", cgroup);
#undef OPT_STR
	if (p->netns_inode &&
	    json_object_set_new(o, "netnsInode", json_integer((json_int_t)p->netns_inode)))
		goto fail;
	if (p->netns_cookie &&
	    json_object_set_new(o, "netnsCookie", json_integer((json_int_t)p->netns_cookie)))
		goto fail;
	for (unsigned i = 0; i < p->n_ips; i++) {
		if (json_array_append_new(ips, json_string(p->ips[i])))
			goto fail;
	}
	if (p->n_ips) {
		if (json_object_set_new(o, "ips", ips))
			goto fail_o;
	} else {
		json_decref(ips);
	}
	if (identity_to_json(o, p))
		goto fail_o;
	return o;
fail:
	json_decref(ips);
fail_o:
	json_decref(o);
	return NULL;
}

int shunt_reg_format_request(const struct shunt_reg_request *req, char **line)
{
	json_t *o = pod_to_json(&req->pod);
	char *s = NULL, *nl;
	int ret = -ENOMEM;

	*line = NULL;
	if (!o || json_object_set_new(o, "op", json_string(shunt_reg_op_name(req->op))))
		goto cleanup;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		goto cleanup;
	nl = malloc(strlen(s) + 2);
	if (!nl)
		goto cleanup;
	sprintf(nl, "%s\n", s);
	*line = nl;
	ret = 0;
cleanup:
	free(s);
	json_decref(o);
	return ret;
}

char *shunt_reg_format_answer(bool ok, const char *error)
{
	json_t *o = json_pack("{s:b}", "ok", ok);
	char *s = NULL, *line = NULL;

	if (!o)
		return NULL;
	if (!ok && json_object_set_new(o, "error", json_string(error ? error : "refused")))
		goto cleanup;
	s = json_dumps(o, JSON_COMPACT);
	if (!s)
		goto cleanup;
	line = malloc(strlen(s) + 2);
	if (line)
		sprintf(line, "%s\n", s);
cleanup:
	free(s);
	json_decref(o);
	return line;
}

int shunt_reg_parse_answer(const char *line, size_t len, char *err, size_t errlen)
{
	json_t *root = json_loadb(line, len, 0, NULL), *ok, *e;
	int ret = -EINVAL;

	if (!root || !json_is_object(root) || !json_is_boolean(ok = json_object_get(root, "ok"))) {
		seterr(err, errlen, "malformed answer from the registry");
		goto cleanup;
	}
	if (json_is_true(ok)) {
		ret = 0;
	} else {
		e = json_object_get(root, "error");
		seterr(err, errlen, "%s", json_is_string(e) ? json_string_value(e) : "refused");
		ret = -EPERM;
	}
cleanup:
	json_decref(root);
	return ret;
}

/* ---- table ---- */

void shunt_reg_table_free(struct shunt_reg_table *t)
{
	free(t->pods);
	memset(t, 0, sizeof(*t));
}

static ssize_t table_index(const struct shunt_reg_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!strcmp(t->pods[i].container_id, id))
			return (ssize_t)i;
	}
	return -1;
}

int shunt_reg_table_put(struct shunt_reg_table *t, const struct shunt_reg_pod *pod)
{
	ssize_t i = table_index(t, pod->container_id);

	if (i >= 0) {
		t->pods[i] = *pod;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct shunt_reg_pod *p = realloc(t->pods, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->pods = p;
		t->cap = cap;
	}
	t->pods[t->n++] = *pod;
	return 0;
}

int shunt_reg_table_del(struct shunt_reg_table *t, const char *container_id)
{
	ssize_t i = table_index(t, container_id);

	if (i < 0)
		return 0;
	t->pods[i] = t->pods[t->n - 1];
	t->n--;
	return 1;
}

const struct shunt_reg_pod *shunt_reg_table_find(const struct shunt_reg_table *t,
						 const char *container_id)
{
	ssize_t i = table_index(t, container_id);

	return i < 0 ? NULL : &t->pods[i];
}

int shunt_reg_table_save(const struct shunt_reg_table *t, const char *path)
{
	json_t *root = json_object(), *pods = json_array();
	char tmp[4096];
	int ret = -ENOMEM, fd = -1;

	if (!root || !pods)
		goto cleanup;
	for (size_t i = 0; i < t->n; i++) {
		if (json_array_append_new(pods, pod_to_json(&t->pods[i])))
			goto cleanup;
	}
	if (json_object_set_new(root, "version", json_integer(1)) ||
	    json_object_set(root, "pods", pods))
		goto cleanup;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto cleanup;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (json_dumpfd(root, fd, JSON_INDENT(1) | JSON_SORT_KEYS) || write(fd, "\n", 1) != 1 ||
	    fsync(fd)) {
		ret = -EIO;
		unlink(tmp);
		goto cleanup;
	}
	if (rename(tmp, path)) {
		ret = -errno;
		unlink(tmp);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	json_decref(pods);
	json_decref(root);
	return ret;
}

int shunt_reg_table_load(struct shunt_reg_table *t, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = NULL, *pods, *v;
	struct shunt_reg_table nt = {0};
	size_t i;
	int ret;

	if (access(path, F_OK) && errno == ENOENT)
		return 0;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		seterr(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		ret = -EINVAL;
		goto cleanup;
	}
	pods = json_object_get(root, "pods");
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
	    !json_is_array(pods)) {
		seterr(err, errlen, "%s: not a version 1 registry state file", path);
		ret = -EINVAL;
		goto cleanup;
	}
	json_array_foreach (pods, i, v) {
		struct shunt_reg_pod p = {0};
		char why[200];

		if (!json_is_object(v) || parse_pod(v, &p, true, true, why, sizeof(why))) {
			seterr(err, errlen, "%s: pods[%zu]: %s", path, i,
			       json_is_object(v) ? why : "not an object");
			ret = -EINVAL;
			goto cleanup;
		}
		ret = shunt_reg_table_put(&nt, &p);
		if (ret)
			goto cleanup;
	}
	shunt_reg_table_free(t);
	*t = nt;
	memset(&nt, 0, sizeof(nt));
	ret = 0;
cleanup:
	shunt_reg_table_free(&nt);
	json_decref(root);
	return ret;
}

/* ---- server ---- */

struct shunt_registry {
	int fd;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *state_path;
	shunt_registry_cb cb;
	void *ctx;
	struct shunt_reg_table table;
};

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int shunt_registry_open(struct shunt_registry **out, const char *sock_path, const char *state_path,
			shunt_registry_cb cb, void *ctx, char *err, size_t errlen)
{
	struct shunt_registry *r = calloc(1, sizeof(*r));
	struct sockaddr_un sa;
	int ret;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->cb = cb;
	r->ctx = ctx;
	ret = unix_addr(sock_path, &sa);
	if (ret) {
		seterr(err, errlen, "socket path too long: %s", sock_path);
		goto cleanup;
	}
	strcpy(r->sock_path, sock_path);
	if (state_path) {
		r->state_path = strdup(state_path);
		if (!r->state_path) {
			ret = -ENOMEM;
			goto cleanup;
		}
		ret = shunt_reg_table_load(&r->table, state_path, err, errlen);
		if (ret) {
			if (ret != -EINVAL)
				seterr(err, errlen, "%s: %s", state_path, strerror(-ret));
			goto cleanup;
		}
	}
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		ret = -errno;
		seterr(err, errlen, "socket: %s", strerror(errno));
		goto cleanup;
	}
	/* A stale socket left by a killed shuntd; the caller owns this path. */
	if (unlink(sock_path) && errno != ENOENT) {
		ret = -errno;
		seterr(err, errlen, "unlink %s: %s", sock_path, strerror(errno));
		goto cleanup;
	}
	if (bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(sock_path, 0600) ||
	    listen(r->fd, 64)) {
		ret = -errno;
		seterr(err, errlen, "listen on %s: %s", sock_path, strerror(errno));
		unlink(sock_path);
		goto cleanup;
	}
	*out = r;
	return 0;
cleanup:
	if (r->fd >= 0)
		close(r->fd);
	shunt_reg_table_free(&r->table);
	free(r->state_path);
	free(r);
	return ret;
}

int shunt_registry_fd(const struct shunt_registry *r)
{
	return r->fd;
}

const struct shunt_reg_table *shunt_registry_table(const struct shunt_registry *r)
{
	return &r->table;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read up to '\n' within the deadline. Returns the length (without '\n') or -errno. */
static ssize_t read_line(int fd, char *buf, size_t cap, long long deadline)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;
		char *nl;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ETIMEDOUT;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl)
			return nl - buf;
		if (len == cap - 1)
			return -E2BIG;
	}
}

static int write_all(int fd, const char *s, size_t len, long long deadline)
{
	while (len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ETIMEDOUT;
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool pod_equal(const struct shunt_reg_pod *a, const struct shunt_reg_pod *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* Apply one request. Returns 0 or a negative error with err filled. */
static int registry_apply(struct shunt_registry *r, const struct shunt_reg_request *req, char *err,
			  size_t errlen)
{
	const struct shunt_reg_pod *old = shunt_reg_table_find(&r->table, req->pod.container_id);
	struct shunt_reg_pod gone;
	int ret;

	switch (req->op) {
	case SHUNT_REG_CHECK:
		if (!old || strcmp(old->ns, req->pod.ns) || strcmp(old->name, req->pod.name)) {
			seterr(err, errlen, "container %s (%s/%s) is not registered",
			       req->pod.container_id, req->pod.ns, req->pod.name);
			return -ENOENT;
		}
		return 0;
	case SHUNT_REG_ADD:
		if (old && pod_equal(old, &req->pod))
			return 0; /* a retried ADD */
		if (r->cb) {
			ret = r->cb(r->ctx, SHUNT_REG_ADD, &req->pod);
			if (ret < 0) {
				seterr(err, errlen, "shuntd refused the pod: %s", strerror(-ret));
				return ret;
			}
		}
		ret = shunt_reg_table_put(&r->table, &req->pod);
		break;
	case SHUNT_REG_DEL:
		if (!old)
			return 0;
		gone = *old;
		shunt_reg_table_del(&r->table, req->pod.container_id);
		if (r->cb)
			r->cb(r->ctx, SHUNT_REG_DEL, &gone);
		ret = 0;
		break;
	default:
		return -EINVAL;
	}
	if (!ret && r->state_path) {
		ret = shunt_reg_table_save(&r->table, r->state_path);
		if (ret) /* the table is right in memory; persistence is best effort */
			fprintf(stderr, "shunt-registry: saving %s: %s\n", r->state_path,
				strerror(-ret));
		ret = 0;
	}
	if (ret)
		seterr(err, errlen, "%s", strerror(-ret));
	return ret;
}

static void serve_one(struct shunt_registry *r, int cfd)
{
	long long deadline = now_ms() + SHUNT_REG_IO_TIMEOUT_MS;
	struct shunt_reg_request req;
	char *buf = malloc(SHUNT_REG_MAX_LINE + 1), err[256] = "", *ans = NULL;
	ssize_t n;

	if (!buf)
		return;
	n = read_line(cfd, buf, SHUNT_REG_MAX_LINE + 1, deadline);
	if (n < 0) {
		snprintf(err, sizeof(err), "reading the request: %s",
			 n == -E2BIG ? "line too long" : strerror((int)-n));
		ans = shunt_reg_format_answer(false, err);
	} else if (shunt_reg_parse_request(buf, (size_t)n, &req, err, sizeof(err)) ||
		   registry_apply(r, &req, err, sizeof(err))) {
		ans = shunt_reg_format_answer(false, err);
	} else {
		ans = shunt_reg_format_answer(true, NULL);
	}
	if (ans)
		write_all(cfd, ans, strlen(ans), deadline);
	free(ans);
	free(buf);
}

int shunt_registry_handle(struct shunt_registry *r)
{
	int served = 0;

	for (;;) {
		int cfd = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return served;
			return -errno;
		}
		serve_one(r, cfd);
		close(cfd);
		served++;
	}
}

void shunt_registry_close(struct shunt_registry *r)
{
	if (!r)
		return;
	close(r->fd);
	unlink(r->sock_path);
	shunt_reg_table_free(&r->table);
	free(r->state_path);
	free(r);
}

/* ---- client ---- */

int shunt_reg_send(const char *sock_path, const struct shunt_reg_request *req, int timeout_ms,
		   char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_un sa;
	char *line = NULL, buf[1024];
	ssize_t n;
	int fd = -1, ret;

	ret = unix_addr(sock_path, &sa);
	if (ret) {
		seterr(err, errlen, "socket path too long: %s", sock_path);
		return ret;
	}
	ret = shunt_reg_format_request(req, &line);
	if (ret) {
		seterr(err, errlen, "out of memory");
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		seterr(err, errlen, "socket: %s", strerror(errno));
		goto cleanup;
	}
	/* A UNIX connect() does not block for long (backlog full: EAGAIN on non-blocking). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		seterr(err, errlen, "connect %s: %s", sock_path, strerror(errno));
		goto cleanup;
	}
	ret = write_all(fd, line, strlen(line), deadline);
	if (ret) {
		seterr(err, errlen, "sending to %s: %s", sock_path, strerror(-ret));
		goto cleanup;
	}
	n = read_line(fd, buf, sizeof(buf), deadline);
	if (n < 0) {
		ret = (int)n;
		seterr(err, errlen, "waiting for the answer of %s: %s", sock_path, strerror(-ret));
		goto cleanup;
	}
	ret = shunt_reg_parse_answer(buf, (size_t)n, err, errlen);
cleanup:
	if (fd >= 0)
		close(fd);
	free(line);
	return ret;
}
