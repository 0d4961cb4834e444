// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: normalize + match. Input: 1 flags byte, 1 method byte,
 * then the request target. Checks the normalizer's invariants (output is
 * "*" or starts with '/', has no "//", no dot segments, no ';', no '\',
 * and normalizing it again is a no-op) and runs the verdict on a policy
 * with every kind of path pattern.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shunt/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_json[] =
	"{\"workloads\": [{\"name\": \"a\", \"labels\": {\"app\": \"a\"}, \"addresses\": "
	"[\"10.0.0.1\"]},"
	" {\"name\": \"b\", \"serviceAccount\": \"b\", \"addresses\": [\"10.0.0.2\"]}],"
	" \"authorizationPolicies\": ["
	" {\"metadata\": {\"name\": \"allow\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"a\"}}, \"rules\": ["
	"  {\"from\": [{\"source\": {\"principals\": [\"cluster.local/ns/default/sa/b\"]}}],"
	"   \"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": [\"/public/*\", \"/x\", "
	"\"*.png\", \"/u/{*}/o\", \"/f/{**}\", \"/p*\"]}}]},"
	"  {\"to\": [{\"operation\": {\"notPaths\": [\"/private/*\"], \"hosts\": "
	"[\"h.example\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"deny\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"a\"}}, \"action\": \"DENY\","
	"  \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/public/admin/*\", \"*\"], "
	"\"methods\": [\"DELETE\"]}}]}]}}]}";

static struct shunt_policy *policy[2];

static void check_invariants(const char *out, size_t len, bool icase, bool decode)
{
	struct shunt_norm_opts o = {.decode_escaped_slashes = decode, .case_insensitive = icase};
	char again[4096];
	size_t alen;

	if (len == 1 && out[0] == '*')
		return;
	if (len == 0 || out[0] != '/' || memmem(out, len, "//", 2) || memmem(out, len, "/./", 3) ||
	    memmem(out, len, "/../", 4) || memchr(out, ';', len) || memchr(out, '\\', len) ||
	    memchr(out, '?', len) || memchr(out, '#', len))
		abort();
	if ((len >= 2 && !memcmp(out + len - 2, "/.", 2)) ||
	    (len >= 3 && !memcmp(out + len - 3, "/..", 3)))
		abort();
	if (shunt_path_normalize(&o, out, len, again, sizeof(again), &alen, NULL, NULL, NULL) ||
	    alen != len || memcmp(again, out, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "DELETE", "HEAD", "get", "PURGE"};
	struct shunt_norm_opts o;
	char out[4096];
	size_t olen, qlen;
	const char *q, *why;
	bool icase, decode;

	if (size < 2)
		return 0;
	icase = data[0] & 1;
	decode = data[0] & 2;
	if (!policy[icase]) {
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;
		char *json = strdup(policy_json);

		if (icase) {
			char *at = strstr(json, "\"authorizationPolicies\"");

			/* prepend options by rewriting the first '{' */
			char *nj = malloc(strlen(json) + 64);

			strcpy(nj, "{\"options\": {\"caseInsensitivePaths\": true}, ");
			strcat(nj, json + 1);
			(void)at;
			free(json);
			json = nj;
		}
		if (shunt_config_load_string(json, "fuzz-policy.json", &c, &d) ||
		    shunt_policy_compile(c, &policy[icase], &d))
			abort();
		shunt_config_free(c);
		shunt_diags_free(&d);
		free(json);
	}
	o.case_insensitive = icase;
	o.decode_escaped_slashes = decode;
	if (shunt_path_normalize(&o, (const char *)data + 2, size - 2, out, sizeof(out), &olen, &q,
				 &qlen, &why) == 0) {
		struct shunt_l7_query lq = {.src_workload = data[1] & 1 ? 1 : -1,
					    .dst_workload = 0,
					    .dst_port = 80,
					    .method = methods[data[1] % 6],
					    .method_len = strlen(methods[data[1] % 6]),
					    .path = out,
					    .path_len = olen,
					    .host = (data[1] & 8) ? "H.example:80" : NULL,
					    .host_len = (data[1] & 8) ? 12 : 0};
		struct shunt_verdict v;

		check_invariants(out, olen, icase, decode);
		if (q && (q < (const char *)data + 2 || q + qlen > (const char *)data + size))
			abort();
		if (shunt_policy_l7_verdict(policy[icase], &lq, &v) ||
		    !(v.action == SHUNT_ALLOW || v.action == SHUNT_DENY))
			abort();
		/* DELETE is denied everywhere with a path */
		if (!strcmp(lq.method, "DELETE") && out[0] == '/' && v.action != SHUNT_DENY)
			abort();
	}
	return 0;
}
