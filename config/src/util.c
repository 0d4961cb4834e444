// SPDX-License-Identifier: Apache-2.0
/* Small pure helpers: strings, CIDRs, socket addresses, edit distance. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void strlist_free(struct shunt_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int cidr_parse(const char *s, struct shunt_cidr *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	long prefix = -1;
	int maxp;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
		*why = "not an IP address";
		return -EINVAL;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxp = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -EINVAL;
	}
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3) {
			*why = "prefix length is not a number";
			return -EINVAL;
		}
		prefix = strtol(slash + 1, &end, 10);
		if (*end || prefix > maxp) {
			*why = maxp == 32 ? "prefix length out of range (0..32)"
					  : "prefix length out of range (0..128)";
			return -EINVAL;
		}
	} else {
		prefix = maxp;
	}
	out->prefix = (uint8_t)prefix;
	for (int bit = (int)prefix; bit < maxp; bit++) {
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "host bits are set after the prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

bool cidr_contains(const struct shunt_cidr *c, int family, const uint8_t *addr)
{
	int full = c->prefix / 8, rem = c->prefix % 8;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, addr, (size_t)full))
		return false;
	if (rem && ((c->addr[full] ^ addr[full]) & (0xff << (8 - rem)) & 0xff))
		return false;
	return true;
}

void cidr_format(const struct shunt_cidr *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof(a));
	if ((c->family == AF_INET && c->prefix == 32) ||
	    (c->family == AF_INET6 && c->prefix == 128))
		snprintf(buf, cap, "%s", a);
	else
		snprintf(buf, cap, "%s/%u", a, c->prefix);
}

int sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *hs = s;
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':') {
			*why = "expected \"[IPv6]:port\"";
			return -EINVAL;
		}
		hs = s + 1;
		hlen = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon) {
			*why = "expected \"IPv4:port\" or \"[IPv6]:port\"";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = "missing IP address";
		return -EINVAL;
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (colon[1] < '0' || colon[1] > '9') {
		*why = "missing port";
		return -EINVAL;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		*why = "port out of range (1..65535)";
		return -EINVAL;
	}
	if (*s != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
			*why = "not an IPv4 address (write IPv6 as \"[addr]:port\")";
			return -EINVAL;
		}
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
			*why = "not an IPv6 address";
			return -EINVAL;
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	}
	return 0;
}

int sockaddr_key(const struct sockaddr *sa, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (!sa)
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(addr, &a->s6_addr[12], 4);
			*family = AF_INET;
		} else {
			memcpy(addr, a->s6_addr, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64], i, j;

	if (lb >= 64 || la >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *closest_key(const char *key, const char *const *known)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1, limit = strlen(key) / 3 + 1;

	if (limit > 3)
		limit = 3;
	for (size_t i = 0; known[i]; i++) {
		size_t dd = edit_distance(key, known[i]);

		if (strcasecmp(key, known[i]) == 0)
			dd = 1;
		if (dd < bestd) {
			bestd = dd;
			best = known[i];
		}
	}
	return bestd <= limit ? best : NULL;
}

bool labels_include(const struct shunt_label *have, size_t n_have, const struct shunt_label *want,
		    size_t n_want)
{
	for (size_t i = 0; i < n_want; i++) {
		size_t j;

		for (j = 0; j < n_have; j++)
			if (!strcmp(have[j].key, want[i].key) &&
			    !strcmp(have[j].value, want[i].value))
				break;
		if (j == n_have)
			return false;
	}
	return true;
}

bool istio_str_match(const char *pattern, const char *s, size_t slen)
{
	size_t pl = strlen(pattern);

	if (pl == 1 && pattern[0] == '*')
		return true;
	if (pl > 0 && pattern[pl - 1] == '*')
		return slen >= pl - 1 && memcmp(s, pattern, pl - 1) == 0;
	if (pl > 0 && pattern[0] == '*')
		return slen >= pl - 1 && memcmp(s + slen - (pl - 1), pattern + 1, pl - 1) == 0;
	return slen == pl && memcmp(s, pattern, pl) == 0;
}

void shunt_sockaddr_format(const struct sockaddr_storage *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		snprintf(out, cap, "%s", ip);
	}
}
