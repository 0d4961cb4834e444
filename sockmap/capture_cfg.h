/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shuntd: the config file's interception settings ("capture" section and
 * workloads[].sidecar / workloads[].capture) turned into options and map
 * tables. Pure (no I/O); unit-tested in tests/sockmap/intercept_unit_test.c.
 */
#ifndef SHUNT_SOCKMAP_CAPTURE_CFG_H
#define SHUNT_SOCKMAP_CAPTURE_CFG_H

#include <stddef.h>

#include "shunt/config.h"
#include "shunt_opts.h"

/*
 * Merge the "capture" section into o. Precedence: a setting given as a flag
 * (o->set) wins over the file; list flags (--exclude-outbound-port,
 * --exclude-inbound-port, --include-outbound-port, --proxy-cgroup,
 * --exclude-outbound-cidr) add to the file's lists; --include-outbound-cidr
 * replaces the file's includeOutboundCidrs. Returns 0, or -EINVAL / -E2BIG with one line in err.
 */
int shunt_capture_apply_config(struct shunt_opts *o, const struct shunt_capture_config *c,
			       char *err, size_t errlen);

/*
 * Per-workload interception state, added to tables built from cfg (t->cg and
 * t->addr hold identities shunt_identity_of(i)): "sidecar": false marks the
 * workload's cgroups SHUNT_IDENT_NOSIDECAR and its addresses not MESHED;
 * workloads[].capture fills t->wport (its port lists add to the global
 * ones) and t->out_cidr (own ranges: each list the workload sets, also an
 * explicitly empty excludeOutboundCidrs, replaces the global one of o, as
 * Istio's annotations do) and flags the identities. Returns 0 or -ENOMEM.
 */
int shunt_capture_tables(const struct shunt_config *cfg, const struct shunt_opts *o,
			 struct shunt_icpt_tables *t);
/* Frees what shunt_capture_tables added (not t itself). */
void shunt_capture_tables_free(struct shunt_icpt_tables *t);

#endif
