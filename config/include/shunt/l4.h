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
 */
#ifndef SHUNT_L4_H
#define SHUNT_L4_H

#include <stddef.h>
#include <stdint.h>

#include "shunt/policy.h"

#define SHUNT_IDENTITY_WORLD 0u
#define SHUNT_IDENTITY_FIRST 1u
#define SHUNT_IDENTITY_ANY   0xffffffffu

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

/* *v is malloc'ed (free() it); sorted by (dst, src, port). */
int shunt_policy_l4_entries(const struct shunt_policy *p, struct shunt_l4_entry **v, size_t *n);
int shunt_policy_l4_entries_opts(const struct shunt_policy *p, unsigned flags,
				 struct shunt_l4_entry **v, size_t *n);
/* Identity of a workload index (-1 -> WORLD). */
uint32_t shunt_identity_of(int workload_idx);
/* Resolve an entry table lookup as the BPF side does (for tests and shuntctl). */
uint8_t shunt_l4_lookup(const struct shunt_l4_entry *v, size_t n, uint32_t src, uint32_t dst,
			uint16_t port);

#endif /* SHUNT_L4_H */
