// SPDX-License-Identifier: Apache-2.0
/*
 * Istio's per-pod capture annotations (traffic.sidecar.istio.io/...) into
 * a workload's capture settings (struct shunt_workload_capture). Pure.
 *
 * The value syntax is the one Istio's injector and istio-cni validate:
 *   - port lists: the whole value is trimmed, then split at ',' and each
 *     entry trimmed again; an entry is a decimal number 0..65535 (leading
 *     zeros allowed, no sign); "" is an empty list; an empty entry ("80,,81",
 *     "80,") is an error.
 *   - includeInboundPorts: exactly "*" is every port.
 *   - CIDR lists: split at ',' with NO trimming; each entry is addr/bits
 *     (bits decimal without leading zeros); host bits are allowed and
 *     masked (as iptables does); "" is an empty list.
 *   - includeOutboundIPRanges: exactly "*" is every destination.
 *   - excludeOutboundIPRanges: present (even "") replaces the global list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PFX SHUNT_ISTIO_ANNOTATION_PREFIX

enum annot_kind {
	AK_INCLUDE_IN_PORTS,
	AK_EXCLUDE_IN_PORTS,
	AK_EXCLUDE_OUT_PORTS,
	AK_INCLUDE_OUT_PORTS,
	AK_INCLUDE_OUT_CIDRS,
	AK_EXCLUDE_OUT_CIDRS,
	AK_UNSUPPORTED,
};

static const struct {
	const char *name; /* after the prefix */
	enum annot_kind kind;
	const char *why; /* AK_UNSUPPORTED: why shunt cannot apply it */
} annots[] = {
	{"includeInboundPorts", AK_INCLUDE_IN_PORTS, NULL},
	{"excludeInboundPorts", AK_EXCLUDE_IN_PORTS, NULL},
	{"excludeOutboundPorts", AK_EXCLUDE_OUT_PORTS, NULL},
	{"includeOutboundIPRanges", AK_INCLUDE_OUT_CIDRS, NULL},
	{"excludeOutboundIPRanges", AK_EXCLUDE_OUT_CIDRS, NULL},
	{"includeOutboundPorts", AK_INCLUDE_OUT_PORTS, NULL},
	{"excludeInterfaces", AK_UNSUPPORTED,
	 "connect() capture does not see interfaces; every connection of the pod is judged"},
	{"kubevirtInterfaces", AK_UNSUPPORTED,
	 "connect() capture does not see interfaces; VM traffic is not captured"},
};

void shunt_workload_capture_free(struct shunt_workload_capture *c)
{
	free(c->include_inbound_ports.v);
	free(c->exclude_inbound_ports.v);
	free(c->exclude_outbound_ports.v);
	free(c->include_outbound_ports.v);
	free(c->include_outbound_cidrs.v);
	free(c->exclude_outbound_cidrs.v);
	memset(c, 0, sizeof(*c));
}

/* Go's strings.TrimSpace for the ASCII white space a value can hold. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

static size_t entries(const char *s)
{
	size_t n = 1;

	for (; *s; s++)
		n += *s == ',';
	return n;
}

struct actx {
	const char *who;
	char path[SHUNT_DIAG_PATH_MAX];
	struct shunt_diags *d;
	int err; /* first error: -EINVAL or -ENOMEM */
};

static void __attribute__((format(printf, 2, 3))) bad(struct actx *a, const char *fmt, ...)
{
	char msg[SHUNT_DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!a->err)
		a->err = -EINVAL;
	if (shunt_diags_add(a->d, a->who, 0, 0, a->path, "%s", msg))
		a->err = -ENOMEM;
}

/* strconv.ParseUint(s, 10, 16) on one trimmed entry, into a uint16_t. */
static bool port_entry(const char *s, size_t n, void *out)
{
	unsigned long v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return false;
	}
	*(uint16_t *)out = (uint16_t)v;
	return true;
}

/* netip.ParsePrefix on one (untrimmed) entry, host bits masked, into a
 * struct shunt_cidr. */
static bool cidr_entry(const char *s, size_t n, void *out)
{
	struct shunt_cidr *c = out;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = memchr(s, '/', n), *why;
	size_t alen, blen, maxp;
	unsigned bits = 0;

	memset(c, 0, sizeof(*c));
	if (!slash)
		return false;
	alen = (size_t)(slash - s);
	blen = n - alen - 1;
	if (alen == 0 || alen >= sizeof(buf) || blen == 0 || blen > 3 ||
	    (blen > 1 && slash[1] == '0'))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	/* the bare address: family, and the full length as its prefix */
	if (cidr_parse(buf, c, &why))
		return false;
	maxp = c->prefix;
	for (size_t i = 0; i < blen; i++) {
		if (slash[1 + i] < '0' || slash[1 + i] > '9')
			return false;
		bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
	}
	if (bits > maxp)
		return false;
	c->prefix = (uint8_t)bits;
	for (size_t bit = bits; bit < maxp; bit++)
		c->addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
	return true;
}

/* One kind of comma-separated list, as istio-iptables reads it. */
struct list_kind {
	size_t elem;					   /* size of one parsed entry */
	bool trim;					   /* value and entries trimmed first */
	bool (*entry)(const char *s, size_t n, void *out); /* one entry, or false */
	const char *what, *expected;			   /* for the error */
	int shown_max;					   /* bytes of a bad entry quoted */
};

static const struct list_kind port_kind = {
	.elem = sizeof(uint16_t),
	.trim = true,
	.entry = port_entry,
	.what = "port",
	.expected = "expected comma-separated ports 0..65535",
	.shown_max = 20,
};

static const struct list_kind cidr_kind = {
	.elem = sizeof(struct shunt_cidr),
	.trim = false,
	.entry = cidr_entry,
	.what = "CIDR",
	.expected = "expected comma-separated ranges such as 10.0.0.0/8,fd00::/64 (no spaces)",
	.shown_max = 50,
};

/* Split value at ',' and parse every entry into a new array of *n elements
 * (NULL for an empty value); the first bad entry is reported (a->err set)
 * and ends the list there. */
static void *parse_list(struct actx *a, const char *value, const struct list_kind *k, size_t *n)
{
	const char *s = value;
	size_t left = strlen(value);
	char *v;

	*n = 0;
	if (k->trim)
		trim(&s, &left);
	if (left == 0)
		return NULL;
	v = calloc(entries(value), k->elem);
	if (!v) {
		a->err = -ENOMEM;
		return NULL;
	}
	for (;;) {
		const char *comma = memchr(s, ',', left);
		size_t len = comma ? (size_t)(comma - s) : left;
		const char *e = s;
		size_t elen = len;
		char shown[64];

		if (k->trim)
			trim(&e, &elen);
		if (!k->entry(e, elen, v + *n * k->elem)) {
			snprintf(shown, sizeof(shown), "%.*s%s",
				 (int)(elen > (size_t)k->shown_max ? (size_t)k->shown_max : elen),
				 e, elen > (size_t)k->shown_max ? "..." : "");
			bad(a, "bad %s '%s' in '%s': %s", k->what, shown, value, k->expected);
			return v;
		}
		(*n)++;
		if (!comma)
			return v;
		left -= len + 1;
		s = comma + 1;
	}
}

static void port_list(struct actx *a, const char *value, struct shunt_portlist *out)
{
	out->v = parse_list(a, value, &port_kind, &out->n);
}

static void cidr_list(struct actx *a, const char *value, struct shunt_cidrlist *out)
{
	out->v = parse_list(a, value, &cidr_kind, &out->n);
}

int shunt_workload_capture_from_annotations(struct shunt_workload_capture *out,
					    const char *const keys[], const char *const values[],
					    size_t n, const char *who, struct shunt_diags *d)
{
	struct actx a = {.who = who ? who : "pod", .d = d};
	bool seen[sizeof(annots) / sizeof(annots[0])] = {false};
	const size_t plen = strlen(PFX);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n && a.err != -ENOMEM; i++) {
		const char *k = keys[i], *v = values[i] ? values[i] : "";
		size_t j;

		if (strncmp(k, PFX, plen))
			continue; /* not a capture annotation */
		snprintf(a.path, sizeof(a.path), "$.annotations[\"%s\"]", k);
		for (j = 0; j < sizeof(annots) / sizeof(annots[0]); j++)
			if (!strcmp(k + plen, annots[j].name))
				break;
		if (j == sizeof(annots) / sizeof(annots[0])) {
			if (shunt_diags_add(d, a.who, 0, 0, a.path,
					    "warning: unknown capture annotation, ignored"))
				a.err = -ENOMEM;
			continue;
		}
		if (seen[j]) {
			bad(&a, "annotation %s given twice", k);
			continue;
		}
		seen[j] = true;
		switch (annots[j].kind) {
		case AK_INCLUDE_IN_PORTS:
			out->include_inbound = SHUNT_SEL_LIST;
			if (!strcmp(v, "*"))
				out->include_inbound = SHUNT_SEL_ALL;
			else
				port_list(&a, v, &out->include_inbound_ports);
			break;
		case AK_EXCLUDE_IN_PORTS:
			port_list(&a, v, &out->exclude_inbound_ports);
			break;
		case AK_EXCLUDE_OUT_PORTS:
			port_list(&a, v, &out->exclude_outbound_ports);
			break;
		case AK_INCLUDE_OUT_PORTS:
			port_list(&a, v, &out->include_outbound_ports);
			break;
		case AK_INCLUDE_OUT_CIDRS:
			out->include_outbound = SHUNT_SEL_LIST;
			if (!strcmp(v, "*"))
				out->include_outbound = SHUNT_SEL_ALL;
			else
				cidr_list(&a, v, &out->include_outbound_cidrs);
			break;
		case AK_EXCLUDE_OUT_CIDRS:
			/* present, even "": replaces the global list (Istio's injector
			 * uses the annotation's value instead of the mesh default) */
			out->exclude_outbound = SHUNT_SEL_LIST;
			cidr_list(&a, v, &out->exclude_outbound_cidrs);
			break;
		case AK_UNSUPPORTED:
			if (shunt_diags_add(d, a.who, 0, 0, a.path,
					    "warning: not supported by shunt, ignored (%s)",
					    annots[j].why))
				a.err = -ENOMEM;
			break;
		}
	}
	if (a.err) {
		shunt_workload_capture_free(out);
		if (a.err == -EINVAL)
			shunt_diags_add(d, a.who, 0, 0, "$.annotations",
					"the pod's capture annotations are ignored: the global "
					"capture settings apply to it");
	}
	return a.err;
}

bool shunt_workload_capture_set(const struct shunt_workload_capture *c)
{
	return c->include_inbound != SHUNT_SEL_UNSET || c->include_outbound != SHUNT_SEL_UNSET ||
	       c->exclude_outbound != SHUNT_SEL_UNSET || c->exclude_inbound_ports.n ||
	       c->exclude_outbound_ports.n || c->include_outbound_ports.n ||
	       c->exclude_outbound_cidrs.n;
}
