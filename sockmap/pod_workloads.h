/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods registered by shunt-cni (cni/registry.h) as workloads of shuntd.
 *
 * Each registered pod keeps one slot for as long as shuntd runs, so its
 * identity (workload index + SHUNT_IDENTITY_FIRST) never changes while it is
 * registered: the config's static workloads come first (indexes 0..n-1, as
 * without registration), then one workload per slot. A DEL frees the slot
 * but its index is not reused (a placeholder workload with no address and no
 * cgroup keeps the numbering) until there are many free slots, when
 * shunt_pods_compact() renumbers.
 *
 * Merge rules (shunt_pods_merge):
 *   - a pod with the namespace/name of a static workload is that workload:
 *     the config's identity (serviceAccount, labels) wins, the registration
 *     adds its addresses and cgroup;
 *   - an address that a static workload lists itself (same address, same
 *     prefix) stays the static workload's; a pod address inside a static
 *     CIDR is more specific and belongs to the pod (longest prefix);
 *   - two registered pods with the same address (a stale registration whose
 *     DEL was lost): the newer registration owns it;
 *   - capture: the pod's Istio annotations (traffic.sidecar.istio.io/...,
 *     parsed once at ADD by shunt_workload_capture_from_annotations) become
 *     its workload's "capture"; a static workload of the same name that has
 *     its own capture block (or "sidecar": false) keeps it, the annotations
 *     are then ignored. A pod with a bad annotation value keeps the global
 *     capture settings (the problem is reported in shunt_pods.diags).
 *
 * The pod's cgroup v2 directory is found from its UID as kubelet names it:
 * cgroupfs driver ".../pod<uid>", systemd driver ".../<prefix>-pod<uid with '-' as
 * '_'>.slice". It usually does not exist yet at ADD time (the sandbox exists,
 * the containers do not), so it is searched again with a backoff
 * (SHUNT_PODS_RETRY_MIN_MS doubling to SHUNT_PODS_RETRY_MAX_MS) until found.
 *
 * Everything here is pure except shunt_pods_resolve_cgroups() (reads the
 * cgroup tree). Functions return 0 or a negative errno unless stated.
 */
#ifndef SHUNT_SOCKMAP_PODS_H
#define SHUNT_SOCKMAP_PODS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "registry.h"
#include "shunt/config.h"

#define SHUNT_PODS_RETRY_MIN_MS 50
#define SHUNT_PODS_RETRY_MAX_MS 5000
#define SHUNT_PODS_MAX_DEPTH	4 /* pod<uid> below the search root */
#define SHUNT_PODS_NEVER	UINT64_MAX

struct shunt_pod {
	bool used;    /* false: a free slot */
	uint64_t seq; /* registration order: the newer one wins an address */
	struct shunt_reg_pod reg;
	struct shunt_workload_capture capture; /* from reg's annotations (owned) */
	struct shunt_cidr addrs[SHUNT_REG_MAX_IPS];
	size_t n_addrs;
	char cgroup[PATH_MAX]; /* resolved absolute directory; "" = not (yet) found */
	uint64_t next_try_ms;  /* SHUNT_PODS_NEVER: resolved, or nothing to search by */
	unsigned int backoff_ms;
};

struct shunt_pods {
	struct shunt_pod *v;
	size_t n, cap; /* slots (used and free) */
	size_t live;   /* used slots */
	uint64_t seq;
	/* problems with the annotations of the pods put since the last
	 * shunt_pods_print_diags() (file "pod <ns>/<name>") */
	struct shunt_diags diags;
};

void shunt_pods_free(struct shunt_pods *p);
/* Log and clear p->diags: "<prefix>pod ns/name: $.annotations[...]: message". */
void shunt_pods_print_diags(struct shunt_pods *p, FILE *f, const char *prefix);

/*
 * ADD: insert, or replace the pod with the same container id (it keeps its
 * slot, and its resolved cgroup when the UID and cgroup hint are unchanged).
 * Returns the slot, -EINVAL for an address that does not parse, -ENOMEM.
 */
int shunt_pods_put(struct shunt_pods *p, const struct shunt_reg_pod *r, uint64_t now_ms);
/* DEL: 1 when removed, 0 when the container was not registered. */
int shunt_pods_del(struct shunt_pods *p, const char *container_id);
/* Drop free slots (renumbers the pods after them) when at least 256 slots are
 * free and more than are used. Returns true if it did. */
bool shunt_pods_compact(struct shunt_pods *p);
/* Number of used slots with a resolved cgroup. */
size_t shunt_pods_resolved(const struct shunt_pods *p);

/* Is a cgroup directory named `dirname` kubelet's directory of pod `pod_uid`? */
bool shunt_pod_cgroup_match(const char *dirname, const char *pod_uid);

/* The earliest next_try_ms of a pod still looking for its cgroup, or SHUNT_PODS_NEVER. */
uint64_t shunt_pods_next_retry(const struct shunt_pods *p);

/*
 * For each pod due at now_ms without a cgroup: its registered "cgroup" (an
 * absolute path, or relative to cg2_mount) if that directory exists, else a
 * walk of search_root (SHUNT_PODS_MAX_DEPTH levels) for its UID. One walk
 * serves every pod due. Pods not found back off. Returns how many were found.
 */
int shunt_pods_resolve_cgroups(struct shunt_pods *p, const char *search_root, const char *cg2_mount,
			       uint64_t now_ms);

/* A config equal to base, with the registered pods merged in as workloads. It
 * borrows from base and from the pods: use it before either changes. */
struct shunt_pods_merged {
	struct shunt_config cfg;
	void **owned;
	size_t n_owned, cap_owned;
	size_t n_static, n_pods; /* workloads: n_static from base, then n_pods slots */
	size_t dropped_addrs;	 /* addresses kept by a static workload or a newer pod */
	size_t joined_static;	 /* pods merged into a static workload of the same name */
};

int shunt_pods_merge(const struct shunt_config *base, const struct shunt_pods *p,
		     struct shunt_pods_merged *m);
void shunt_pods_merged_free(struct shunt_pods_merged *m);

#endif
