/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's L7 decision for one request head (pure, no I/O): used by
 * conn_on_head() (proxy/conn.c) and by the request-path fuzzer
 * (tests/proxy/fuzz_reqp.c), so both judge a request the same way.
 */
#ifndef SHUNT_PROXY_VERDICT_H
#define SHUNT_PROXY_VERDICT_H

#include <stdbool.h>

#include <shunt/policy.h>

/*
 * Decide a request. q holds the source/destination identity, the method,
 * the normalized path and the Host; q->explicit_method_only is set here.
 * With a case-insensitive policy the path is matched lower-cased (the caller
 * forwards it as received). CONNECT and Upgrade open a tunnel only when an
 * ALLOW rule lists the CONNECT method explicitly: a CONNECT request is one
 * lookup with explicit_method_only; an Upgrade request must be allowed as
 * itself and, in one more lookup, as an explicit CONNECT.
 * Fills v. Returns 0, or a negative errno; then v is DENY by "default-deny".
 */
int sp_request_verdict(const struct shunt_policy *pol, struct shunt_l7_query *q, bool upgrade,
		       bool is_connect, struct shunt_verdict *v);

#endif /* SHUNT_PROXY_VERDICT_H */
