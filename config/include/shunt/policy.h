/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiled policy: immutable once built, safe to share read-only between
 * threads (verdicts allocate nothing). Owns copies of everything it needs
 * (the config may be freed after compiling). Versions made by
 * shunt_policy_update() share parts with atomic reference counts, so each
 * version may be freed from any thread once no verdict uses it.
 * Verdict cost does not grow with the number of rules: each destination has
 * a trie over path segments (hash-indexed wide nodes); long lists of rules
 * on the same path are indexed by caller principal; only rules whose path
 * (and principal, when they name exact principals) match are examined.
 */
#ifndef SHUNT_POLICY_H
#define SHUNT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "shunt/config.h"
#include "shunt/normalize.h"

struct shunt_policy;

/* Compile a validated config (pure, no I/O). Fails only with -ENOMEM; d is
 * kept for compile-time diagnostics. */
int shunt_policy_compile(const struct shunt_config *c, struct shunt_policy **out,
			 struct shunt_diags *d);
void shunt_policy_free(struct shunt_policy *p);

/*
 * Incremental update: returns a new compiled policy equal to compiling `c`,
 * where `c` differs from the config `old` was compiled from in one policy
 * only: policy `policy_idx` was replaced (same count), appended (policy_idx
 * == old count) or removed (one fewer; policy_idx is its index in the old
 * config). Only the destination workloads the old or new version selects
 * are rebuilt; every other destination index is shared with `old`
 * (refcounted; `old` stays valid and is freed by its owner as usual).
 * Workloads and options must be unchanged and the other policies in the
 * same order (-EINVAL + a diagnostic otherwise; then compile from scratch).
 */
int shunt_policy_update(const struct shunt_policy *old, const struct shunt_config *c,
			size_t policy_idx, struct shunt_policy **out, struct shunt_diags *d);

/* Longest-prefix match of the address over all workload addresses/CIDRs;
 * IPv4-mapped IPv6 is treated as IPv4. Returns the index or -ENOENT. A
 * service's clusterIP (config "services") gives workload_count() + the
 * service's index: as shunt_l7_query.dst_workload it is judged by the
 * service's backends (see shunt_policy_l7_verdict); workload_name() and
 * workload_principal() return NULL for it. */
int shunt_policy_workload_by_addr(const struct shunt_policy *p, const struct sockaddr *sa);
int shunt_policy_workload_count(const struct shunt_policy *p);
/* "ns/name", or NULL for an index out of range. */
const char *shunt_policy_workload_name(const struct shunt_policy *p, int idx);
const char *shunt_policy_workload_principal(const struct shunt_policy *p, int idx);

struct shunt_l7_query {
	int src_workload; /* -1 unknown: no principal/namespace, only src_addr for ipBlocks */
	const struct sockaddr *src_addr; /* may be NULL */
	int dst_workload;		 /* -1 unknown: no policy selects it -> allow */
	uint16_t dst_port;
	const char *method;
	size_t method_len;
	const char
		*path; /* normalized (shunt_path_normalize with the policy's options), no query */
	size_t path_len;
	const char *host; /* Host header / authority, may include :port; NULL if none */
	size_t host_len;
	/* CONNECT / Upgrade: only ALLOW rules that list the request's method in
	 * `methods` count (a rule without methods does not open a tunnel), and
	 * "no ALLOW policy selects the destination" denies instead of allowing */
	bool explicit_method_only;
};

enum shunt_action { SHUNT_ALLOW = 0, SHUNT_DENY = 1 };

struct shunt_verdict {
	enum shunt_action action;
	bool audit;		  /* an AUDIT rule matched */
	const char *policy;	  /* "ns/name" of the deciding policy, "default-deny", or NULL
				     (allowed because no ALLOW policy selects the workload);
				     valid as long as p */
	const char *audit_policy; /* "ns/name" of the matching AUDIT policy or NULL */
};

/* dst_workload may also be a service (workload_count() + service index, from
 * shunt_policy_workload_by_addr): the request may land on any backend, so
 * the strictest backend verdict applies: dst_port is mapped to its
 * targetPort and each backend judged (a backend that is the source itself is
 * skipped); the first DENY decides. A port the service does not list is
 * denied ("default-deny"); a service none of whose backends a policy selects
 * is allowed, like any unselected destination. */
int shunt_policy_l7_verdict(const struct shunt_policy *p, const struct shunt_l7_query *q,
			    struct shunt_verdict *v);
const struct shunt_norm_opts *shunt_policy_norm_opts(const struct shunt_policy *p);

/*
 * Human-readable meaning of a config (for `shuntctl validate`): workloads with
 * their principals and addresses, and for each destination workload the
 * policies selecting it and who may call what. p may be NULL (then only the
 * config is summarised). Returns 0 or a negative errno (write error).
 */
int shunt_config_summary(const struct shunt_config *c, const struct shunt_policy *p, FILE *f);

#endif /* SHUNT_POLICY_H */
