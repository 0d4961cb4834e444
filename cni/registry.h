/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod registration: the protocol between the shunt-cni plugin and shuntd, and a
 * reusable server-side library (`shunt_registry`) that shuntd embeds.
 *
 * Transport: a UNIX stream socket (default /run/shunt/cni.sock). One request
 * per connection: the client writes ONE JSON object followed by '\n', the
 * server answers ONE JSON object followed by '\n' and closes.
 *
 * Request (unknown keys are rejected, so a newer plugin fails loudly):
 *   {"op": "ADD" | "DEL" | "CHECK",
 *    "containerId": "<CNI_CONTAINERID>",            required, 1..127 chars
 *    "namespace": "<K8S_POD_NAMESPACE>",             required for ADD/CHECK
 *    "name": "<K8S_POD_NAME>",                       required for ADD/CHECK
 *    "podUid": "<K8S_POD_UID>",                      optional
 *    "netns": "/var/run/netns/cni-...",              required for ADD
 *    "netnsInode": 4026532XXX,                       optional (0 = unknown)
 *    "netnsCookie": 4096,                            optional (SO_NETNS_COOKIE; 0 = unknown)
 *    "ifname": "eth0",                               optional
 *    "ips": ["10.244.1.5", "fd00::5"],               ADD: at least one, addresses without prefix
 *    "cgroup": "/kubepods.slice/...",                optional (usually unknown at ADD time)
 *    -- identity, from the Kubernetes API (shunt-cni "kubeconfig"); all optional --
 *    "serviceAccount": "app1",                       spec.serviceAccountName, 1..253 chars
 *    "labels": {"app": "app1", ...},                 metadata.labels, <= SHUNT_REG_MAX_LABELS,
 *                                                    key <= 317, value <= 63 chars
 *    "sidecar": true | false,                        Istio sidecar injected (absent = unknown)
 *    "annotations": {"traffic.sidecar.istio.io/excludeOutboundPorts": "22", ...}}
 *                                                    only traffic.sidecar.istio.io/<name>
 *                                                    annotations, <= SHUNT_REG_MAX_ANNOTATIONS,
 *                                                    value <= 2047 chars
 * Answer:
 *   {"ok": true}  or  {"ok": false, "error": "<one line>"}
 * CHECK answers ok only when the container is registered. DEL of an unknown
 * container is ok (CNI DEL must be idempotent).
 *
 * Server side: shunt_registry_open() listens, shunt_registry_fd() is the
 * listening descriptor to poll, shunt_registry_handle() serves the pending
 * connections (bounded: at most one line of SHUNT_REG_MAX_LINE bytes, within
 * SHUNT_REG_IO_TIMEOUT_MS) and calls the callback for every ADD/DEL that
 * changes the table. The table is persisted to a state file (atomic
 * write+rename) after each change and loaded by shunt_registry_open(), so a
 * restarted shuntd keeps the pods registered before.
 */
#ifndef SHUNT_CNI_REGISTRY_H
#define SHUNT_CNI_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHUNT_REG_DEFAULT_SOCKET  "/run/shunt/cni.sock"
#define SHUNT_REG_MAX_LINE	  131072
#define SHUNT_REG_MAX_IPS	  8
#define SHUNT_REG_MAX_LABELS	  64
#define SHUNT_REG_MAX_ANNOTATIONS 12
/* The only annotations carried: Istio's per-pod capture settings. */
#define SHUNT_REG_ANNOTATION_PREFIX "traffic.sidecar.istio.io/"
#define SHUNT_REG_IO_TIMEOUT_MS	    2000

enum shunt_reg_op {
	SHUNT_REG_ADD = 1,
	SHUNT_REG_DEL,
	SHUNT_REG_CHECK,
};

/* About 51 KiB (the identity bounds): keep tables on the heap, pass pointers. */
struct shunt_reg_pod {
	char container_id[128];
	char ns[64];	/* Kubernetes namespace: DNS label, <= 63 */
	char name[254]; /* pod name: DNS subdomain, <= 253 */
	char pod_uid[64];
	char netns[256];
	uint64_t netns_inode;
	uint64_t netns_cookie;
	char ifname[16];
	unsigned n_ips;
	char ips[SHUNT_REG_MAX_IPS][46]; /* INET6_ADDRSTRLEN, canonical text */
	char cgroup[256];
	/* Identity from the Kubernetes API; empty / 0 / -1 when shunt-cni has no kubeconfig. */
	char service_account[254]; /* spec.serviceAccountName ("" = unknown) */
	unsigned n_labels;
	struct {
		char key[318];		/* [prefix (DNS subdomain, <= 253) "/"] name (<= 63) */
		char value[64];		/* <= 63 */
	} labels[SHUNT_REG_MAX_LABELS]; /* metadata.labels, sorted by key */
	int sidecar; /* -1 unknown (no API lookup), 0 no Istio sidecar, 1 sidecar injected */
	unsigned n_annotations;
	struct {
		char key[96];	  /* full key, "traffic.sidecar.istio.io/<name>" */
		char value[2048]; /* passed through as is, e.g. "10.0.0.0/8,fd00::/8" */
	} annotations[SHUNT_REG_MAX_ANNOTATIONS]; /* sorted by key */
};

/* Zero a pod and mark its identity unknown (sidecar = -1). Use it instead of {0}. */
void shunt_reg_pod_init(struct shunt_reg_pod *pod);
/* Set (insert, kept sorted by key, or replace) a label / a traffic.sidecar.istio.io
 * annotation after validating it (Kubernetes syntax, sizes above). Returns 0,
 * -EINVAL (bad key or value) or -E2BIG (table full). */
int shunt_reg_pod_set_label(struct shunt_reg_pod *pod, const char *key, const char *value);
int shunt_reg_pod_set_annotation(struct shunt_reg_pod *pod, const char *key, const char *value);
bool shunt_reg_label_key_ok(const char *key);
bool shunt_reg_label_value_ok(const char *value);
bool shunt_reg_annotation_key_ok(const char *key);
bool shunt_reg_annotation_value_ok(const char *value);
/* The value of a label / annotation, or NULL. */
const char *shunt_reg_pod_label(const struct shunt_reg_pod *pod, const char *key);
const char *shunt_reg_pod_annotation(const struct shunt_reg_pod *pod, const char *key);

struct shunt_reg_request {
	enum shunt_reg_op op;
	struct shunt_reg_pod pod;
};

/* ---- pure: protocol ---- */

const char *shunt_reg_op_name(enum shunt_reg_op op);

/* Parse one request line (without or with the trailing '\n'). Returns 0, or
 * -EINVAL with a one-line reason in err. Addresses are canonicalised. */
int shunt_reg_parse_request(const char *line, size_t len, struct shunt_reg_request *out, char *err,
			    size_t errlen);

/* Format a request as one JSON line ending in '\n' (malloc'd, NUL-terminated).
 * Returns 0 or -ENOMEM. Empty optional fields are omitted. */
int shunt_reg_format_request(const struct shunt_reg_request *req, char **line);

/* Answer line: "{\"ok\":true}\n" or with the error. Returns a malloc'd string or NULL. */
char *shunt_reg_format_answer(bool ok, const char *error);

/* Parse an answer line. Returns 0 (ok true), -EPERM (ok false, reason in err) or -EINVAL. */
int shunt_reg_parse_answer(const char *line, size_t len, char *err, size_t errlen);

/* ---- pure: table ---- */

struct shunt_reg_table {
	struct shunt_reg_pod *pods;
	size_t n, cap;
};

void shunt_reg_table_free(struct shunt_reg_table *t);
/* Insert or replace (by container id). Returns 0 or -ENOMEM. */
int shunt_reg_table_put(struct shunt_reg_table *t, const struct shunt_reg_pod *pod);
/* Remove by container id. Returns 1 if removed, 0 if it was not there. */
int shunt_reg_table_del(struct shunt_reg_table *t, const char *container_id);
const struct shunt_reg_pod *shunt_reg_table_find(const struct shunt_reg_table *t,
						 const char *container_id);
/* Serialise / load the state file format: {"version":1,"pods":[request objects without op]}. */
int shunt_reg_table_save(const struct shunt_reg_table *t, const char *path);
/* Missing file = empty table (0). Returns 0, -EINVAL (corrupt: reason in err), -errno. */
int shunt_reg_table_load(struct shunt_reg_table *t, const char *path, char *err, size_t errlen);

/* ---- server ---- */

struct shunt_registry;

/* Called after the table changed (ADD of a new or changed pod, DEL of a known
 * one); pod is the registered (ADD) or removed (DEL) entry. A negative return
 * refuses an ADD (the plugin gets ok:false and the table is left unchanged). */
typedef int (*shunt_registry_cb)(void *ctx, enum shunt_reg_op op, const struct shunt_reg_pod *pod);

/* Listen on sock_path (a stale socket file is replaced; the parent directory
 * must exist), mode 0600. state_path may be NULL (no persistence). Loads the
 * state file. Returns 0 or -errno; on -EINVAL (corrupt state) err says why. */
int shunt_registry_open(struct shunt_registry **out, const char *sock_path, const char *state_path,
			shunt_registry_cb cb, void *ctx, char *err, size_t errlen);
/* The listening socket (non-blocking), to poll for POLLIN. */
int shunt_registry_fd(const struct shunt_registry *r);
/* Serve every pending connection. Returns the number served or -errno. */
int shunt_registry_handle(struct shunt_registry *r);
/* The current table (valid until the next handle/close). */
const struct shunt_reg_table *shunt_registry_table(const struct shunt_registry *r);
/* Close and unlink the socket (the state file stays). NULL is fine. */
void shunt_registry_close(struct shunt_registry *r);

/* ---- client ---- */

/* Send req to the server at sock_path and wait for its answer (bounded by
 * timeout_ms). Returns 0 (ok), -EPERM (refused: reason in err), or -errno
 * (-ENOENT / -ECONNREFUSED when nobody listens, -ETIMEDOUT). */
int shunt_reg_send(const char *sock_path, const struct shunt_reg_request *req, int timeout_ms,
		   char *err, size_t errlen);

#endif
