/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L3/L4 entries compiled from the policy, for the BPF policy map consumed by
 * the connect() hook.
 *
 * Identities: workload index i has identity i + SHUNT_IDENTITY_FIRST;
 * SHUNT_IDENTITY_WORLD is a source that is no known workload;
 * SHUNT_IDENTITY_ANY (src only) is the wildcard "every other source".
 * Port 0 (dst) means "every port without its own entry".
 *
 * Lookup order for (src, dst, port) — the first entry found decides:
 *   (src, dst, port), (ANY, dst, port), (src, dst, 0), (ANY, dst, 0);
 *   no entry at all: SHUNT_L4_ALLOW (no policy selects dst).
 * A destination selected by any policy always has an (ANY, dst, 0) entry.
 *
 * Services (config "services", Kubernetes ClusterIP): service index j has
 * identity SHUNT_IDENTITY_SERVICE_FIRST + j (the upper half of the identity
 * space, so it can never collide with a workload identity i + 1). Its
 * backends are the workloads of its namespace whose labels match its
 * selector. A connection to a virtual IP may land on any backend, so the
 * strictest backend verdict applies: per service port P (targetPort T) and
 * source S, verdict(S, svc, P) = DENY if any backend b gives
 * shunt_l4_lookup(S, b, T) = DENY, else L7 if any gives L7, else ALLOW (a
 * backend that is S itself counts as ALLOW, as the connect() hook never
 * judges a workload's connections to itself). S ranges over every source
 * named in the backends' entries, plus ANY. Ports the service does not list
 * are DENY (kube-proxy forwards nothing there). A service none of whose
 * backends is selected by a policy gets no entries (allow, like any
 * unselected destination).
 */
#ifndef SHUNT_L4_H
#define SHUNT_L4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shunt/policy.h"

#define SHUNT_IDENTITY_WORLD 0u
#define SHUNT_IDENTITY_FIRST 1u
#define SHUNT_IDENTITY_ANY   0xffffffffu
/* First service identity (services[j] -> SHUNT_IDENTITY_SERVICE_FIRST + j). */
#define SHUNT_IDENTITY_SERVICE_FIRST 0x80000000u

enum shunt_l4_verdict {
	SHUNT_L4_ALLOW = 0,
	SHUNT_L4_DENY = 1,
	SHUNT_L4_L7 = 2, /* HTTP fields involved: redirect to the L7 proxy */
};

struct shunt_l4_entry {
	uint32_t src_identity, dst_identity;
	uint16_t port;
	uint8_t verdict; /* enum shunt_l4_verdict */
};

/* Flags for shunt_policy_l4_entries_opts. */
#define SHUNT_L4_NO_PROXY                                                  \
	0x1 /* no L7 proxy anywhere: apply Istio's TCP reduction (an ALLOW \
	       rule needing HTTP fields is dropped, a DENY rule loses its  \
	       HTTP fields) and never emit SHUNT_L4_L7 */

/* *v is malloc'ed (free() it); sorted by (dst, src, port). The services'
 * entries (see above) follow the workloads'. */
int shunt_policy_l4_entries(const struct shunt_policy *p, struct shunt_l4_entry **v, size_t *n);
int shunt_policy_l4_entries_opts(const struct shunt_policy *p, unsigned flags,
				 struct shunt_l4_entry **v, size_t *n);
/* Identity of a workload index (-1 -> WORLD). */
uint32_t shunt_identity_of(int workload_idx);
/* Identity of a service index. */
uint32_t shunt_service_identity(size_t service_idx);
/* Is workload w a backend of service s (same namespace, selector matches)? */
bool shunt_service_selects(const struct shunt_service *s, const struct shunt_workload *w);
/* Resolve an entry table lookup as the BPF side does (for tests and shuntctl). */
uint8_t shunt_l4_lookup(const struct shunt_l4_entry *v, size_t n, uint32_t src, uint32_t dst,
			uint16_t port);

#endif /* SHUNT_L4_H */
