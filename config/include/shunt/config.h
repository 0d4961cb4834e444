/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt configuration: one JSON document parsed and validated into plain C
 * structs. Every problem found is reported as one diagnostic carrying the
 * file, line, column and JSON path of the offending field; a configuration
 * with any diagnostic is never returned (nothing starts half-configured).
 *
 * All functions return 0 or a negative errno.
 */
#ifndef SHUNT_CONFIG_H
#define SHUNT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define SHUNT_DIAG_FILE_MAX 256
#define SHUNT_DIAG_PATH_MAX 256
#define SHUNT_DIAG_MSG_MAX  512

/* One problem: printed as "file:line:col: $.path: message". line/column are
 * 1-based; 0 when unknown (e.g. a file that cannot be opened). */
struct shunt_diag {
	char file[SHUNT_DIAG_FILE_MAX];
	int line, column;
	char path[SHUNT_DIAG_PATH_MAX];
	char msg[SHUNT_DIAG_MSG_MAX];
};

struct shunt_diags {
	struct shunt_diag *v;
	size_t n, cap;
};

void shunt_diags_free(struct shunt_diags *d);
void shunt_diags_print(const struct shunt_diags *d, FILE *f);
/* Appends one diagnostic (printf-style message). Returns 0 or -ENOMEM. */
int shunt_diags_add(struct shunt_diags *d, const char *file, int line, int column, const char *path,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* An address block: family AF_INET or AF_INET6, addr in network order
 * (first 4 bytes used for AF_INET), prefix length 0..32 / 0..128. Host bits
 * are always zero (a CIDR with host bits set is a config error). */
struct shunt_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

struct shunt_label {
	char *key;
	char *value;
};

struct shunt_strlist {
	char **v;
	size_t n;
};

/* A list field that is absent and one that is empty mean the same (as in
 * Istio's protobuf): n == 0 means "not present". */
struct shunt_cidrlist {
	struct shunt_cidr *v;
	size_t n;
};

struct shunt_portlist {
	uint16_t *v;
	size_t n;
};

/* ---- workloads ---- */

/* A list that may be absent (inherit), "*" (everything), or explicit
 * (possibly empty = nothing). */
enum shunt_sel {
	SHUNT_SEL_UNSET = 0, /* absent: the global setting applies */
	SHUNT_SEL_ALL = 1,   /* ["*"] */
	SHUNT_SEL_LIST = 2,  /* only the listed entries ([] = none) */
};

/* workloads[].capture: Istio's per-pod annotations
 * traffic.sidecar.istio.io/{includeInboundPorts, excludeInboundPorts,
 * excludeOutboundPorts, includeOutboundPorts, includeOutboundIPRanges,
 * excludeOutboundIPRanges}. */
struct shunt_workload_capture {
	enum shunt_sel include_inbound; /* includeInboundPorts */
	struct shunt_portlist include_inbound_ports;
	struct shunt_portlist exclude_inbound_ports;  /* excludeInboundPorts */
	struct shunt_portlist exclude_outbound_ports; /* excludeOutboundPorts */
	struct shunt_portlist
		include_outbound_ports;	 /* includeOutboundPorts (added to the global) */
	enum shunt_sel include_outbound; /* includeOutboundCidrs */
	struct shunt_cidrlist include_outbound_cidrs;
	/* excludeOutboundCidrs: UNSET (the global list applies) or LIST (replaces
	 * it; [] / an empty annotation = no exclusion at all); never ALL */
	enum shunt_sel exclude_outbound;
	struct shunt_cidrlist exclude_outbound_cidrs;
};

struct shunt_workload {
	char *name;
	char *ns;	       /* "namespace" */
	char *service_account; /* "serviceAccount"; defaults to "default" */
	char *principal;       /* <trustDomain>/ns/<ns>/sa/<serviceAccount> (derived) */
	struct shunt_label *labels;
	size_t n_labels;
	struct shunt_cidr *addresses; /* single addresses are /32 or /128 */
	size_t n_addresses;
	struct shunt_strlist cgroups;
	int sidecar; /* "sidecar": -1 unset (meshed, as before), 0 no sidecar, 1 sidecar */
	struct shunt_workload_capture capture; /* "capture" (all unset when absent) */
};

#define SHUNT_ISTIO_ANNOTATION_PREFIX "traffic.sidecar.istio.io/"

/*
 * A pod's Istio capture annotations (keys[i] = values[i], full keys such as
 * "traffic.sidecar.istio.io/excludeOutboundPorts"; other keys are skipped)
 * into *out, with Istio's value syntax (see config/src/annotations.c):
 * includeInboundPorts ("*" | ports | "" = none), excludeInboundPorts,
 * excludeOutboundPorts, includeOutboundPorts (ports), includeOutboundIPRanges
 * ("*" | CIDRs | "" = none), excludeOutboundIPRanges (CIDRs | "" = none:
 * replaces the global list either way). Absent annotations stay unset.
 * excludeInterfaces, kubevirtInterfaces and unknown
 * traffic.sidecar.istio.io keys: a diagnostic starting "warning:", ignored.
 * A bad value: one diagnostic per problem (file = who, e.g. "pod ns/name";
 * path = $.annotations["<key>"]), *out all unset (the global settings
 * apply), -EINVAL. -ENOMEM likewise. Free *out with
 * shunt_workload_capture_free().
 */
int shunt_workload_capture_from_annotations(struct shunt_workload_capture *out,
					    const char *const keys[], const char *const values[],
					    size_t n, const char *who, struct shunt_diags *d);
void shunt_workload_capture_free(struct shunt_workload_capture *c);
/* Does c set anything (an explicit capture block)? */
bool shunt_workload_capture_set(const struct shunt_workload_capture *c);

/* ---- services (Kubernetes Service, type ClusterIP) ---- */

/* services[].ports[]: TCP ports only (UDP/SCTP ports are accepted and
 * skipped at parse time: the connect() hook sees TCP only). */
struct shunt_service_port {
	uint16_t port;	      /* "port" */
	uint16_t target_port; /* "targetPort" (a number; defaults to port) */
};

struct shunt_service {
	char *name;
	char *ns;			   /* "namespace"; defaults to "default" */
	struct shunt_cidrlist cluster_ips; /* "clusterIPs" (and "clusterIP"): /32 or /128 */
	struct shunt_service_port *ports;  /* TCP ports */
	size_t n_ports;
	struct shunt_label *selector; /* "selector" (required, non-empty) */
	size_t n_selector;
};

/* ---- authorization policies (Istio AuthorizationPolicy model) ---- */

enum shunt_policy_action {
	SHUNT_ACTION_ALLOW = 0,
	SHUNT_ACTION_DENY = 1,
	SHUNT_ACTION_AUDIT = 2,
};

struct shunt_source {
	struct shunt_strlist principals, not_principals;
	struct shunt_strlist namespaces, not_namespaces;
	struct shunt_cidrlist ip_blocks,
		not_ip_blocks; /* also remoteIpBlocks (no proxy is trusted) */
};

struct shunt_operation {
	struct shunt_strlist methods, not_methods; /* exact, case-sensitive */
	struct shunt_strlist paths, not_paths;	   /* validated patterns (see POLICY.md) */
	struct shunt_strlist hosts, not_hosts;	   /* lower-cased at load */
	struct shunt_portlist ports, not_ports;
};

/* A `when` condition shunt can evaluate: keys source.ip, source.namespace,
 * source.principal, destination.port, request.headers are NOT supported
 * (headers are never trusted for identity). */
enum shunt_cond_key {
	SHUNT_COND_SOURCE_IP = 0,
	SHUNT_COND_SOURCE_NAMESPACE,
	SHUNT_COND_SOURCE_PRINCIPAL,
	SHUNT_COND_DESTINATION_PORT,
};

struct shunt_condition {
	enum shunt_cond_key key;
	struct shunt_strlist values, not_values;
};

struct shunt_rule {
	struct shunt_source *from; /* any matches; n_from == 0: any source */
	size_t n_from;
	struct shunt_operation *to; /* any matches; n_to == 0: any operation */
	size_t n_to;
	struct shunt_condition *when; /* all must match */
	size_t n_when;
};

struct shunt_authz_policy {
	char *name;
	char *ns;
	char *origin; /* JSON path where it was defined, e.g. "$.authorizationPolicies[2]" */
	bool has_selector;
	struct shunt_label *match_labels; /* selector.matchLabels */
	size_t n_match_labels;
	enum shunt_policy_action action;
	struct shunt_rule *rules; /* n_rules == 0: matches nothing */
	size_t n_rules;
};

/* ---- proxy ---- */

struct shunt_limits {
	uint32_t max_header_bytes;    /* 16384 */
	uint32_t max_headers;	      /* 100 */
	uint32_t header_timeout_ms;   /* 10000 */
	uint32_t idle_timeout_ms;     /* 60000 */
	uint32_t max_connections;     /* 10000 */
	uint32_t connect_timeout_ms;  /* 2000 */
	uint32_t upstream_timeout_ms; /* 30000 */
	uint64_t max_buffer_bytes;    /* 1048576 */
	uint32_t max_pipelined;	      /* 64 */
};

/* What a listener speaks: HTTP/1.1 (a verdict per request) or an opaque
 * byte relay (one L4 verdict per connection, Istio's TCP semantics). */
enum shunt_listener_mode {
	SHUNT_LISTENER_HTTP = 0,
	SHUNT_LISTENER_TCP = 1,
};

struct shunt_listener {
	char *name; /* defaults to "listener<i>" */
	struct sockaddr_storage address;
	socklen_t address_len;
	bool upstream_original_dst;	  /* "upstream": "original-dst" (the default) */
	struct sockaddr_storage upstream; /* when !upstream_original_dst */
	socklen_t upstream_len;
	enum shunt_listener_mode mode; /* "mode": "http" (the default) | "tcp" */
	/* "enforce" (default true): false = never judge (Istio's outbound
	 * sidecar: the destination's inbound side enforces its policies) */
	bool enforce;
};

struct shunt_proxy_config {
	struct shunt_listener *listeners;
	size_t n_listeners;
	unsigned workers; /* 1 */
	bool has_admin;
	struct sockaddr_storage admin;
	socklen_t admin_len;
	char *access_log; /* NULL = off */
	struct shunt_limits limits;
};

/* ---- acceleration (sockmap) ---- */

struct shunt_accelerate_config {
	char *cgroup; /* "/sys/fs/cgroup/unified/kubepods" */
	struct shunt_portlist exclude_ports;
	struct shunt_cidrlist include_cidrs, exclude_cidrs;
};

/* ---- interception (shuntd's connect4/6 + getsockopt hooks) ---- */

/* Same numbers as enum shunt_capture_mode of bpf/shunt_bpf.h. */
enum shunt_cfg_capture_mode {
	SHUNT_CFG_CAPTURE_OFF = 0,
	SHUNT_CFG_CAPTURE_L7 = 1,
	SHUNT_CFG_CAPTURE_ISTIO = 2,
};

#define SHUNT_CFG_PROXY_UID_NONE (-1)

/* "capture". Every field records whether the file set it (has_*), so that
 * shuntd's flags can override it field by field. Defaults: mode off,
 * proxyUid 1337, proxyMark 0, outboundPort 15001, inboundPort 15006,
 * inboundCapture true, includeOutboundCidrs ["*"], l4Policy true,
 * l7Proxy true. "mode": "istio" also excludes Istio's own ports. */
struct shunt_capture_config {
	bool present; /* the section exists */
	enum shunt_cfg_capture_mode mode;
	bool has_mode;
	int64_t proxy_uid; /* SHUNT_CFG_PROXY_UID_NONE for null */
	bool has_proxy_uid;
	uint32_t proxy_mark;
	bool has_proxy_mark;
	struct shunt_strlist proxy_cgroups;
	uint16_t outbound_port, inbound_port;
	bool has_outbound_port, has_inbound_port;
	bool inbound_capture, has_inbound_capture;
	struct shunt_portlist exclude_outbound_ports, exclude_inbound_ports;
	struct shunt_portlist include_outbound_ports; /* includeOutboundPorts */
	enum shunt_sel include_outbound;	      /* UNSET when absent = ALL */
	struct shunt_cidrlist include_outbound_cidrs, exclude_outbound_cidrs;
	bool l4_policy, has_l4_policy;
	bool l7_proxy, has_l7_proxy;
};

/* ---- options ---- */

struct shunt_options {
	bool decode_escaped_slashes; /* "escapedSlashes": "decode-and-merge" (default "reject") */
	bool case_insensitive_paths; /* "caseInsensitivePaths" */
	char *root_namespace;	     /* "shunt-system" */
	struct shunt_strlist extra_root_namespaces; /* "extraRootNamespaces": also mesh-wide */
	char *trust_domain;			    /* "cluster.local" */
	struct shunt_strlist trust_domain_aliases;
};

struct shunt_config {
	char *source; /* file name or name given to load_string */
	struct shunt_workload *workloads;
	size_t n_workloads;
	struct shunt_authz_policy *policies;
	size_t n_policies;
	struct shunt_service *services; /* "services" */
	size_t n_services;
	struct shunt_proxy_config proxy;
	struct shunt_accelerate_config accelerate;
	struct shunt_capture_config capture;
	struct shunt_options options;
};

/* Parse + validate. On any problem: -EINVAL, *out = NULL, d filled (one entry
 * per problem). -ENOMEM/-ENOENT/-EACCES as usual (also with a diagnostic).
 * A file writable by others (mode checked on the opened file, i.e. after
 * symlinks, as Kubernetes ConfigMap mounts are) is refused with -EPERM and
 * "FILE:0:0: $: writable by others (mode 0666); refusing it (chmod o-w)".
 * Group-writable files are accepted (see README "Configuration"). */
int shunt_config_load_file(const char *path, struct shunt_config **out, struct shunt_diags *d);
/* The mode rule of shunt_config_load_file (pure): 0 or -EPERM + diagnostic. */
int shunt_config_check_mode(const char *path, unsigned int mode, struct shunt_diags *d);
int shunt_config_load_string(const char *json, const char *name, struct shunt_config **out,
			     struct shunt_diags *d);
void shunt_config_free(struct shunt_config *c);

/*
 * Import Kubernetes objects exactly as `kubectl get -o json` prints them (one
 * object or a List): security.istio.io/v1 and v1beta1 AuthorizationPolicy,
 * cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (the
 * latter lands in the root namespace). They are converted into the native
 * model and appended to c->policies (Cilium endpoint selectors are resolved
 * against c->workloads, so load workloads first). Unsupported fields are
 * errors naming the field. On error c is unchanged and -EINVAL returned.
 */
int shunt_config_import_file(struct shunt_config *c, const char *path, struct shunt_diags *d);
int shunt_config_import_string(struct shunt_config *c, const char *json, const char *name,
			       struct shunt_diags *d);

/* Writes the native JSON form of c->policies (an "authorizationPolicies"
 * array inside an object) so that imports can be saved and reloaded. */
int shunt_config_write_policies(const struct shunt_config *c, FILE *f);

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6) of a, into out (cap bytes,
 * always terminated); "?" for the address of any other family. */
void shunt_sockaddr_format(const struct sockaddr_storage *a, char *out, size_t cap);

/* Exit code for a command that found configuration errors. */
#define SHUNT_EXIT_CONFIG 2

#endif /* SHUNT_CONFIG_H */
