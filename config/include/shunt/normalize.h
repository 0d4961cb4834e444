/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request-target normalization (POLICY.md "Path normalization profile").
 * Pure function, no allocation.
 */
#ifndef SHUNT_NORMALIZE_H
#define SHUNT_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

struct shunt_norm_opts {
	bool decode_escaped_slashes; /* %2F/%5C decoded to '/' and merged instead of rejected */
	bool case_insensitive;	     /* output lower-cased (for matching only) */
};

/*
 * target = request-target as received (origin-form "/a/b?x", absolute-form
 * "http://h/a", or "*"). out = normalized path WITHOUT query (not
 * NUL-terminated unless room remains; *out_len excludes any NUL);
 * *query and *query_len point into target after the '?' (NULL/0 when absent).
 * Returns 0, -EINVAL (malformed -> HTTP 400; *why = static reason string), or
 * -ENAMETOOLONG (out too small). "*" normalizes to "*" (matched by no path rule).
 * query, query_len and why may be NULL.
 */
int shunt_path_normalize(const struct shunt_norm_opts *o, const char *target, size_t len, char *out,
			 size_t cap, size_t *out_len, const char **query, size_t *query_len,
			 const char **why);

#endif /* SHUNT_NORMALIZE_H */
