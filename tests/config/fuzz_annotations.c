// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a pod's Istio capture annotations (what shuntd's pod
 * registry takes from the Kubernetes API) -> shunt_workload_capture_from_annotations().
 * Input: lines; each line's first byte picks the key (one of the annotation
 * names, an unknown one under the prefix, or a key outside it), the rest of
 * the line is the value. Checks: 0 means every parsed entry is well formed
 * (a CIDR's prefix within its family, host bits clear) and nothing is
 * reported but warnings; an error means at least one diagnostic and an
 * all-unset result; shunt_workload_capture_free() leaves nothing (LSan).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shunt/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define P SHUNT_ISTIO_ANNOTATION_PREFIX
static const char *const names[] = {
	P "includeInboundPorts",
	P "excludeInboundPorts",
	P "excludeOutboundPorts",
	P "includeOutboundPorts",
	P "includeOutboundIPRanges",
	P "excludeOutboundIPRanges",
	P "excludeInterfaces",
	P "kubevirtInterfaces",
	P "somethingElse",
	"sidecar.istio.io/inject",
	"app",
};
#define N_NAMES	  (sizeof(names) / sizeof(names[0]))
#define MAX_LINES 16

static void check_cidrs(const struct shunt_cidrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct shunt_cidr *c = &l->v[i];
		unsigned max = c->family == AF_INET ? 32 : 128;

		if ((c->family != AF_INET && c->family != AF_INET6) || c->prefix > max)
			abort();
		for (unsigned bit = c->prefix; bit < max; bit++)
			if (c->addr[bit / 8] & (0x80 >> (bit % 8)))
				abort(); /* host bits must be masked */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *keys[MAX_LINES], *values[MAX_LINES];
	char *buf = malloc(size + 1), *s, *end;
	struct shunt_workload_capture c;
	struct shunt_diags d = {0};
	size_t n = 0, errors = 0;
	int err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (s = buf, end = buf + size; s < end && n < MAX_LINES;) {
		char *nl = memchr(s, '\n', (size_t)(end - s)), *eol = nl ? nl : end;

		*eol = '\0';
		if (eol > s) {
			keys[n] = names[(uint8_t)*s % N_NAMES];
			values[n++] = s + 1;
		}
		s = eol + 1;
	}
	err = shunt_workload_capture_from_annotations(&c, keys, values, n, "pod fuzz/p", &d);
	for (size_t i = 0; i < d.n; i++)
		errors += strncmp(d.v[i].msg, "warning:", 8) != 0;
	if (err == 0) {
		if (errors)
			abort();
		check_cidrs(&c.include_outbound_cidrs);
		check_cidrs(&c.exclude_outbound_cidrs);
		(void)shunt_workload_capture_set(&c);
	} else {
		if (err != -EINVAL && err != -ENOMEM)
			abort();
		if (err == -EINVAL && !errors)
			abort();
		if (shunt_workload_capture_set(&c))
			abort(); /* a rejected pod keeps the global settings */
	}
	shunt_workload_capture_free(&c);
	shunt_diags_free(&d);
	free(buf);
	return 0;
}
