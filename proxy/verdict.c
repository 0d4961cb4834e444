// SPDX-License-Identifier: Apache-2.0
#include "verdict.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

int sp_request_verdict(const struct shunt_policy *pol, struct shunt_l7_query *q, bool upgrade,
		       bool is_connect, struct shunt_verdict *v)
{
	const char *method = q->method, *path = q->path;
	size_t method_len = q->method_len;
	char *lower = NULL;
	int err;

	*v = (struct shunt_verdict){0};
	if (shunt_policy_norm_opts(pol)->case_insensitive) {
		lower = malloc(q->path_len + 1);
		if (!lower) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (size_t i = 0; i < q->path_len; i++)
			lower[i] = (char)tolower((unsigned char)q->path[i]);
		q->path = lower;
	}
	q->explicit_method_only = is_connect;
	err = shunt_policy_l7_verdict(pol, q, v);
	if (!err && v->action == SHUNT_ALLOW && upgrade && !is_connect) {
		q->method = "CONNECT";
		q->method_len = 7;
		q->explicit_method_only = true;
		err = shunt_policy_l7_verdict(pol, q, v);
	}
cleanup:
	q->method = method;
	q->method_len = method_len;
	q->path = path;
	free(lower);
	if (err) {
		v->action = SHUNT_DENY;
		v->policy = "default-deny";
	}
	return err;
}
