// SPDX-License-Identifier: Apache-2.0
#include "shunt_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	const char *help;
} counter_info[SHUNT_CNT__MAX] = {
	[SHUNT_CNT_SOCK_TRACKED] = {"sockets_tracked", "sockets inserted into the sockhash"},
	[SHUNT_CNT_SOCK_CLOSED] = {"sockets_closed", "tracked sockets closed"},
	[SHUNT_CNT_SOCK_SKIPPED] = {"sockets_skipped", "established sockets not eligible"},
	[SHUNT_CNT_SOCK_ERRORS] = {"socket_errors", "sockets that could not be tracked"},
	[SHUNT_CNT_MSG_REDIRECTED] = {"msgs_redirected", "messages redirected to the peer"},
	[SHUNT_CNT_BYTES_REDIRECTED] = {"bytes_redirected", "bytes redirected to the peer"},
	[SHUNT_CNT_MSG_PASSED] = {"msgs_passed", "messages of tracked sockets sent via TCP"},
	[SHUNT_CNT_BYTES_PASSED] = {"bytes_passed", "bytes of tracked sockets sent via TCP"},
	[SHUNT_CNT_FALLBACK_NO_PEER] = {"fallback_no_peer",
					"connections that fell back to TCP: no local peer"},
	[SHUNT_CNT_FALLBACK_SMALL] = {"fallback_small_writes",
				      "connections that fell back to TCP: small-write stream"},
	[SHUNT_CNT_FALLBACK_DRAIN] = {"fallback_drain",
				      "connections that fell back to TCP: shuntd stopped"},
	[SHUNT_CNT_MSG_UNTRACKED] = {"msgs_untracked", "messages on sockets without keys"},
	[SHUNT_CNT_SOCK_EVICTED] = {"sockets_evicted",
				    "sockets that left the sockhash (plain TCP for good)"},
	[SHUNT_CNT_FALLBACK_PEER] = {"fallback_peer",
				     "connections that fell back to TCP: the peer did"},
	[SHUNT_CNT_CAPTURED_OUT] = {"captured_outbound",
				    "connect() calls rewritten to the pod's outbound proxy"},
	[SHUNT_CNT_CAPTURED_IN] = {"captured_inbound",
				   "connect() calls rewritten to the destination's inbound proxy"},
	[SHUNT_CNT_CONNECT_DENIED] = {"connect_denied",
				      "connect() calls refused by the L3/L4 policy (EPERM)"},
	[SHUNT_CNT_ORIGDST_ANSWERED] =
		{"origdst_answered", "SO_ORIGINAL_DST queries answered for captured connections"},
	[SHUNT_CNT_SPLICE_LINKED] = {"splice_linked",
				     "socket pairs a relay spliced (SHUNT_SO_SPLICE)"},
	[SHUNT_CNT_SPLICE_SWITCHED] = {"splice_switched",
				       "senders that switched to sending past a relay"},
	[SHUNT_CNT_MSG_SPLICED] = {"msgs_spliced",
				   "messages sent past a relay (also in msgs_redirected)"},
	[SHUNT_CNT_BYTES_SPLICED] = {"bytes_spliced",
				     "bytes sent past a relay (also in bytes_redirected)"},
};

const uint16_t shunt_istio_excluded_ports[SHUNT_ISTIO_N_EXCLUDED] = {15000, 15001, 15004, 15006,
								     15008, 15020, 15021, 15090};

void shunt_opts_init(struct shunt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pin_dir = SHUNT_DEFAULT_PIN_DIR;
	o->ready_fd = -1;
	o->small_writes = SHUNT_SMALL_ADAPTIVE;
	o->small_min_run = SHUNT_SMALL_MIN_RUN_DEFAULT;
	o->small_max_avg = SHUNT_SMALL_MAX_AVG_DEFAULT;
	o->small_max_avg_pod = SHUNT_SMALL_MAX_AVG_POD_DEFAULT;
	o->capture = SHUNT_CAPTURE_OFF;
	o->proxy_uid = SHUNT_ISTIO_PROXY_UID;
	o->outbound_port = SHUNT_ISTIO_OUTBOUND_PORT;
	o->inbound_port = SHUNT_ISTIO_INBOUND_PORT;
	o->inbound_capture = true;
	o->l4_policy = true;
	o->out_include_all = true;
}

int shunt_parse_capture(const char *s, enum shunt_capture_mode *m)
{
	if (!strcmp(s, "off"))
		*m = SHUNT_CAPTURE_OFF;
	else if (!strcmp(s, "l7"))
		*m = SHUNT_CAPTURE_L7;
	else if (!strcmp(s, "istio"))
		*m = SHUNT_CAPTURE_ISTIO;
	else
		return -EINVAL;
	return 0;
}

const char *shunt_capture_name(uint32_t m)
{
	switch (m) {
	case SHUNT_CAPTURE_OFF:
		return "off";
	case SHUNT_CAPTURE_L7:
		return "l7";
	case SHUNT_CAPTURE_ISTIO:
		return "istio";
	default:
		return "unknown";
	}
}

bool shunt_opts_intercept(const struct shunt_opts *o)
{
	return o->capture != SHUNT_CAPTURE_OFF || (o->tables && o->tables->policy);
}

void shunt_capture_cfg_from_opts(const struct shunt_opts *o, struct shunt_capture_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = o->capture;
	if (o->tables && o->tables->policy)
		cfg->flags |= SHUNT_CAP_POLICY;
	if (o->inbound_capture)
		cfg->flags |= SHUNT_CAP_INBOUND;
	cfg->proxy_uid = o->proxy_uid;
	cfg->proxy_mark = o->proxy_mark;
	cfg->outbound_port = o->outbound_port;
	cfg->inbound_port = o->inbound_port;
}

uint32_t shunt_icpt_port_flags(const struct shunt_opts *o, uint16_t port)
{
	uint32_t f = 0;
	size_t i;

	if (o->capture == SHUNT_CAPTURE_ISTIO)
		for (i = 0; i < SHUNT_ISTIO_N_EXCLUDED; i++)
			if (shunt_istio_excluded_ports[i] == port)
				f |= SHUNT_PORT_NO_OUTBOUND | SHUNT_PORT_NO_INBOUND;
	for (i = 0; i < o->n_excl_out; i++)
		if (o->excl_out[i] == port)
			f |= SHUNT_PORT_NO_OUTBOUND;
	for (i = 0; i < o->n_excl_in; i++)
		if (o->excl_in[i] == port)
			f |= SHUNT_PORT_NO_INBOUND;
	for (i = 0; i < o->n_incl_out; i++)
		if (o->incl_out[i] == port)
			f |= SHUNT_PORT_OUT_INCLUDE;
	return f;
}

void shunt_out_cidr_entry(struct shunt_icpt_out_cidr *e, uint32_t identity,
			  const struct shunt_cidr_key *k, uint32_t flags)
{
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = SHUNT_OUT_CIDR_ID_BITS + k->prefixlen;
	e->key.identity = identity;
	memcpy(e->key.addr, k->addr, sizeof(e->key.addr));
	e->flags = flags;
}

size_t shunt_out_cidrs_global(const struct shunt_opts *o, struct shunt_icpt_out_cidr *v)
{
	static const struct shunt_cidr_key all = {0};
	size_t n = 0, i;

	if (o->out_include_all)
		shunt_out_cidr_entry(&v[n++], SHUNT_IDENT_ANY, &all, SHUNT_CIDR_INCLUDE);
	else
		for (i = 0; i < o->n_out_include; i++)
			shunt_out_cidr_entry(&v[n++], SHUNT_IDENT_ANY, &o->out_include[i].key,
					     SHUNT_CIDR_INCLUDE);
	for (i = 0; i < o->n_out_exclude; i++)
		shunt_out_cidr_entry(&v[n++], SHUNT_IDENT_ANY, &o->out_exclude[i].key,
				     SHUNT_CIDR_EXCLUDE);
	return n;
}

/* Does entry a (same identity) contain entry b? */
static bool out_cidr_contains(const struct shunt_icpt_out_cidr *a,
			      const struct shunt_icpt_out_cidr *b)
{
	uint32_t bits, i;

	if (a->key.identity != b->key.identity || a->key.prefixlen > b->key.prefixlen)
		return false;
	bits = a->key.prefixlen - SHUNT_OUT_CIDR_ID_BITS;
	for (i = 0; i < bits; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));

		if ((a->key.addr[i / 8] & m) != (b->key.addr[i / 8] & m))
			return false;
	}
	return true;
}

bool shunt_out_cidr_listed(const struct shunt_icpt_out_cidr *v, size_t n, size_t i, uint32_t flag)
{
	if (!(v[i].flags & flag))
		return false;
	for (size_t j = 0; j < n; j++)
		if (j != i && (v[j].flags & flag) && v[j].key.prefixlen < v[i].key.prefixlen &&
		    out_cidr_contains(&v[j], &v[i]))
			return false;
	return true;
}

void shunt_format_out_cidr(char *buf, size_t len, const struct shunt_out_cidr_key *k)
{
	struct shunt_cidr_key ck;

	if (k->prefixlen <= SHUNT_OUT_CIDR_ID_BITS) {
		snprintf(buf, len, "*");
		return;
	}
	ck.prefixlen = k->prefixlen - SHUNT_OUT_CIDR_ID_BITS;
	memcpy(ck.addr, k->addr, sizeof(ck.addr));
	shunt_format_cidr(buf, len, &ck);
}

static int out_cidr_cmp(const void *x, const void *y)
{
	const struct shunt_icpt_out_cidr *a = x, *b = y;

	if (a->key.identity != b->key.identity)
		return a->key.identity < b->key.identity ? -1 : 1;
	if (a->key.prefixlen != b->key.prefixlen)
		return a->key.prefixlen < b->key.prefixlen ? -1 : 1;
	return memcmp(a->key.addr, b->key.addr, sizeof(a->key.addr));
}

size_t shunt_out_cidrs_close(struct shunt_icpt_out_cidr *v, size_t n)
{
	size_t i, j, m = 0;

	if (!n)
		return 0;
	/* host bits cleared, so equal blocks have equal keys */
	for (i = 0; i < n; i++) {
		uint32_t bits = v[i].key.prefixlen - SHUNT_OUT_CIDR_ID_BITS;

		for (j = bits; j < 128; j++)
			v[i].key.addr[j / 8] &= (uint8_t) ~(0x80u >> (j % 8));
	}
	qsort(v, n, sizeof(*v), out_cidr_cmp);
	for (i = 0; i < n; i++) {
		if (m && !out_cidr_cmp(&v[m - 1], &v[i]))
			v[m - 1].flags |= v[i].flags;
		else
			v[m++] = v[i];
	}
	/* sorted by prefix length within an identity: containers come first */
	for (i = 0; i < m; i++)
		for (j = 0; j < i; j++)
			if (out_cidr_contains(&v[j], &v[i]))
				v[i].flags |= v[j].flags;
	return m;
}

int shunt_parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int shunt_parse_cidr(const char *s, struct shunt_cidr_key *k)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint32_t plen;
	struct in_addr a4;

	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		plen = 32;
		if (slash && parse_u32(slash + 1, 0, 32, &plen))
			return -EINVAL;
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		memcpy(&k->addr[12], &a4, 4);
		k->prefixlen = 96 + plen;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, k->addr) == 1) {
		plen = 128;
		if (slash && parse_u32(slash + 1, 0, 128, &plen))
			return -EINVAL;
		k->prefixlen = plen;
		return 0;
	}
	return -EINVAL;
}

int shunt_parse_small_writes(const char *s, enum shunt_small_writes *m)
{
	if (!strcmp(s, "adaptive"))
		*m = SHUNT_SMALL_ADAPTIVE;
	else if (!strcmp(s, "redirect"))
		*m = SHUNT_SMALL_REDIRECT;
	else if (!strcmp(s, "pass"))
		*m = SHUNT_SMALL_PASS;
	else
		return -EINVAL;
	return 0;
}

int shunt_parse_loopback_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs = s;
	size_t hlen;
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hs = s + 1;
		hlen = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	port = 0; /* ":0": the kernel picks a free port (shuntd logs which) */
	if (hlen == 0 || hlen >= sizeof(host) ||
	    (strcmp(colon + 1, "0") && shunt_parse_port(colon + 1, &port)))
		return -EINVAL;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		if (((const uint8_t *)&in->sin_addr)[0] != 127)
			return -EINVAL;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	}
	return 0;
}

int shunt_opts_add_port(struct shunt_opts *o, uint16_t port)
{
	if (o->n_exclude_ports >= SHUNT_OPTS_MAX_LIST)
		return -E2BIG;
	o->exclude_ports[o->n_exclude_ports++] = port;
	return 0;
}

int shunt_opts_add_cidr(struct shunt_opts *o, bool include, const struct shunt_cidr_key *k,
			const char *text)
{
	struct shunt_opt_cidr *v = include ? o->include : o->exclude;
	size_t *n = include ? &o->n_include : &o->n_exclude;

	if (*n >= SHUNT_OPTS_MAX_LIST)
		return -E2BIG;
	v[*n].key = *k;
	snprintf(v[*n].text, sizeof(v[*n].text), "%s", text);
	(*n)++;
	return 0;
}

void shunt_format_cidr(char *buf, size_t len, const struct shunt_cidr_key *k)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char a[INET6_ADDRSTRLEN];

	if (k->prefixlen >= 96 && !memcmp(k->addr, mapped, sizeof(mapped))) {
		inet_ntop(AF_INET, &k->addr[12], a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, k->prefixlen - 96);
	} else {
		inet_ntop(AF_INET6, k->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, k->prefixlen);
	}
}

static int add_cidr(struct shunt_opt_cidr *v, size_t *n, const char *s)
{
	if (*n >= SHUNT_OPTS_MAX_LIST || shunt_parse_cidr(s, &v[*n].key))
		return -EINVAL;
	snprintf(v[*n].text, sizeof(v[*n].text), "%s", s);
	(*n)++;
	return 0;
}

enum {
	OPT_PIN_DIR = 256,
	OPT_READY_FD,
	OPT_METRICS,
	OPT_EXCLUDE_PORT,
	OPT_INCLUDE_CIDR,
	OPT_EXCLUDE_CIDR,
	OPT_SMALL_WRITES,
	OPT_SMALL_MIN_RUN,
	OPT_SMALL_MAX_AVG,
	OPT_SMALL_MAX_AVG_POD,
	OPT_CONFIG,
	OPT_CAPTURE,
	OPT_PROXY_UID,
	OPT_PROXY_MARK,
	OPT_PROXY_CGROUP,
	OPT_OUTBOUND_PORT,
	OPT_INBOUND_PORT,
	OPT_INBOUND_CAPTURE,
	OPT_EXCL_OUT,
	OPT_EXCL_IN,
	OPT_NO_L7_PROXY,
	OPT_L4_POLICY,
	OPT_CNI_SOCKET,
	OPT_CNI_STATE,
	OPT_INCL_OUT_CIDR,
	OPT_EXCL_OUT_CIDR,
	OPT_INCL_OUT,
};

int shunt_opts_parse(struct shunt_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"cgroup", required_argument, NULL, 'c'},
		{"pin-dir", required_argument, NULL, OPT_PIN_DIR},
		{"ready-fd", required_argument, NULL, OPT_READY_FD},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"exclude-port", required_argument, NULL, OPT_EXCLUDE_PORT},
		{"include-cidr", required_argument, NULL, OPT_INCLUDE_CIDR},
		{"exclude-cidr", required_argument, NULL, OPT_EXCLUDE_CIDR},
		{"small-writes", required_argument, NULL, OPT_SMALL_WRITES},
		{"small-min-run", required_argument, NULL, OPT_SMALL_MIN_RUN},
		{"small-max-avg", required_argument, NULL, OPT_SMALL_MAX_AVG},
		{"small-max-avg-pod", required_argument, NULL, OPT_SMALL_MAX_AVG_POD},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"capture", required_argument, NULL, OPT_CAPTURE},
		{"proxy-uid", required_argument, NULL, OPT_PROXY_UID},
		{"proxy-mark", required_argument, NULL, OPT_PROXY_MARK},
		{"proxy-cgroup", required_argument, NULL, OPT_PROXY_CGROUP},
		{"outbound-port", required_argument, NULL, OPT_OUTBOUND_PORT},
		{"inbound-port", required_argument, NULL, OPT_INBOUND_PORT},
		{"inbound-capture", required_argument, NULL, OPT_INBOUND_CAPTURE},
		{"exclude-outbound-port", required_argument, NULL, OPT_EXCL_OUT},
		{"exclude-inbound-port", required_argument, NULL, OPT_EXCL_IN},
		{"include-outbound-port", required_argument, NULL, OPT_INCL_OUT},
		{"no-l7-proxy", no_argument, NULL, OPT_NO_L7_PROXY},
		{"l4-policy", required_argument, NULL, OPT_L4_POLICY},
		{"cni-socket", required_argument, NULL, OPT_CNI_SOCKET},
		{"cni-state", required_argument, NULL, OPT_CNI_STATE},
		{"include-outbound-cidr", required_argument, NULL, OPT_INCL_OUT_CIDR},
		{"exclude-outbound-cidr", required_argument, NULL, OPT_EXCL_OUT_CIDR},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	uint32_t u;
	int c, li = -1;

	optind = 0; /* full re-initialisation: shuntd parses again on SIGHUP */
	opterr = 0;
	while ((li = -1, c = getopt_long(argc, argv, ":c:v", longopts, &li)) != -1) {
		switch (c) {
		case 'c':
			o->cgroup = optarg;
			break;
		case OPT_PIN_DIR:
			if (!optarg[0] || optarg[0] != '/')
				goto bad;
			o->pin_dir = optarg;
			break;
		case OPT_READY_FD:
			if (parse_u32(optarg, 0, 65535, &u))
				goto bad;
			o->ready_fd = (int)u;
			break;
		case OPT_METRICS:
			if (shunt_parse_loopback_addr(optarg, &o->metrics_addr,
						      &o->metrics_addr_len)) {
				snprintf(err, errlen,
					 "invalid --metrics '%s': expected a loopback ADDR:PORT "
					 "(127.0.0.1:9100 or [::1]:9100)",
					 optarg);
				return -EINVAL;
			}
			o->metrics = optarg;
			break;
		case OPT_EXCLUDE_PORT:
			if (o->n_exclude_ports >= SHUNT_OPTS_MAX_LIST ||
			    shunt_parse_port(optarg, &o->exclude_ports[o->n_exclude_ports]))
				goto bad;
			o->n_exclude_ports++;
			break;
		case OPT_INCLUDE_CIDR:
			if (add_cidr(o->include, &o->n_include, optarg))
				goto bad;
			break;
		case OPT_EXCLUDE_CIDR:
			if (add_cidr(o->exclude, &o->n_exclude, optarg))
				goto bad;
			break;
		case OPT_SMALL_WRITES:
			if (shunt_parse_small_writes(optarg, &o->small_writes))
				goto bad;
			break;
		case OPT_SMALL_MIN_RUN:
			if (parse_u32(optarg, 1, 1u << 20, &o->small_min_run))
				goto bad;
			break;
		case OPT_SMALL_MAX_AVG:
			if (parse_u32(optarg, 1, 1u << 30, &o->small_max_avg))
				goto bad;
			break;
		case OPT_SMALL_MAX_AVG_POD:
			if (parse_u32(optarg, 0, 1u << 30, &o->small_max_avg_pod))
				goto bad;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_CAPTURE:
			if (shunt_parse_capture(optarg, &o->capture))
				goto bad;
			o->set |= SHUNT_OPT_SET_CAPTURE;
			break;
		case OPT_INCL_OUT_CIDR:
			if (!(o->set & SHUNT_OPT_SET_OUT_INCLUDE))
				o->out_include_all = false;
			o->set |= SHUNT_OPT_SET_OUT_INCLUDE;
			if (!strcmp(optarg, "*")) {
				o->out_include_all = true;
				break;
			}
			if (add_cidr(o->out_include, &o->n_out_include, optarg))
				goto bad;
			break;
		case OPT_EXCL_OUT_CIDR:
			if (add_cidr(o->out_exclude, &o->n_out_exclude, optarg))
				goto bad;
			break;
		case OPT_PROXY_UID:
			o->set |= SHUNT_OPT_SET_PROXY_UID;
			if (!strcmp(optarg, "none"))
				o->proxy_uid = SHUNT_UID_NONE;
			else if (parse_u32(optarg, 0, SHUNT_UID_NONE - 1, &o->proxy_uid))
				goto bad;
			break;
		case OPT_PROXY_MARK:
			o->set |= SHUNT_OPT_SET_PROXY_MARK;
			if (parse_u32(optarg, 0, 0xffffffffu, &o->proxy_mark))
				goto bad;
			break;
		case OPT_PROXY_CGROUP:
			if (o->n_proxy_cgroups >= SHUNT_OPTS_MAX_LIST || optarg[0] != '/')
				goto bad;
			o->proxy_cgroups[o->n_proxy_cgroups++] = optarg;
			break;
		case OPT_OUTBOUND_PORT:
			o->set |= SHUNT_OPT_SET_OUT_PORT;
			if (shunt_parse_port(optarg, &o->outbound_port))
				goto bad;
			break;
		case OPT_INBOUND_PORT:
			o->set |= SHUNT_OPT_SET_IN_PORT;
			if (shunt_parse_port(optarg, &o->inbound_port))
				goto bad;
			break;
		case OPT_INBOUND_CAPTURE:
			o->set |= SHUNT_OPT_SET_IN_CAPTURE;
			if (!strcmp(optarg, "on"))
				o->inbound_capture = true;
			else if (!strcmp(optarg, "off"))
				o->inbound_capture = false;
			else
				goto bad;
			break;
		case OPT_EXCL_OUT:
			if (o->n_excl_out >= SHUNT_OPTS_MAX_LIST ||
			    shunt_parse_port(optarg, &o->excl_out[o->n_excl_out]))
				goto bad;
			o->n_excl_out++;
			break;
		case OPT_EXCL_IN:
			if (o->n_excl_in >= SHUNT_OPTS_MAX_LIST ||
			    shunt_parse_port(optarg, &o->excl_in[o->n_excl_in]))
				goto bad;
			o->n_excl_in++;
			break;
		case OPT_INCL_OUT:
			if (o->n_incl_out >= SHUNT_OPTS_MAX_LIST ||
			    shunt_parse_port(optarg, &o->incl_out[o->n_incl_out]))
				goto bad;
			o->n_incl_out++;
			break;
		case OPT_NO_L7_PROXY:
			o->set |= SHUNT_OPT_SET_NO_L7_PROXY;
			o->no_l7_proxy = true;
			break;
		case OPT_L4_POLICY:
			o->set |= SHUNT_OPT_SET_L4_POLICY;
			if (!strcmp(optarg, "on"))
				o->l4_policy = true;
			else if (!strcmp(optarg, "off"))
				o->l4_policy = false;
			else
				goto bad;
			break;
		case OPT_CNI_SOCKET:
			o->cni_socket = optarg;
			break;
		case OPT_CNI_STATE:
			o->cni_state = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case ':':
			snprintf(err, errlen, "option %s needs an argument", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (o->outbound_port == o->inbound_port) {
		snprintf(err, errlen, "--outbound-port and --inbound-port must differ");
		return -EINVAL;
	}
	if (o->cni_state && !o->cni_socket) {
		snprintf(err, errlen, "--cni-state needs --cni-socket");
		return -EINVAL;
	}
	return 0;
bad:
	/* the option's name, also when its value was a separate argument */
	if (li >= 0)
		snprintf(err, errlen, "invalid value '%s' for --%s", optarg, longopts[li].name);
	else
		snprintf(err, errlen, "invalid value '%s' for %s", optarg, argv[optind - 1]);
	return -EINVAL;
}

const char *shunt_small_writes_name(uint32_t m)
{
	switch (m) {
	case SHUNT_SMALL_ADAPTIVE:
		return "adaptive";
	case SHUNT_SMALL_REDIRECT:
		return "redirect";
	case SHUNT_SMALL_PASS:
		return "pass";
	default:
		return "unknown";
	}
}

const char *shunt_conn_state_name(uint32_t s)
{
	switch (s) {
	case SHUNT_CONN_REDIRECT:
		return "redirect";
	case SHUNT_CONN_PASS_NOPEER:
		return "tcp:no-peer";
	case SHUNT_CONN_PASS_SMALL:
		return "tcp:small-writes";
	case SHUNT_CONN_PASS_DRAIN:
		return "tcp:drain";
	case SHUNT_CONN_PASS_MODE:
		return "tcp:pass-mode";
	case SHUNT_CONN_PASS_PEER:
		return "tcp:peer";
	case SHUNT_CONN_EVICTED:
	case SHUNT_CONN_EVICTED_BUSY:
		return "tcp:evicted";
	default:
		return "unknown";
	}
}

const char *shunt_counter_name(unsigned int idx)
{
	return idx < SHUNT_CNT__MAX ? counter_info[idx].name : NULL;
}

const char *shunt_counter_help(unsigned int idx)
{
	return idx < SHUNT_CNT__MAX ? counter_info[idx].help : NULL;
}

void shunt_format_endpoint(char *buf, size_t len, uint16_t family, const uint32_t *ip,
			   uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == SHUNT_AF_INET) {
		inet_ntop(AF_INET, ip, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, port);
	} else {
		inet_ntop(AF_INET6, ip, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, port);
	}
}

void shunt_metrics_write(FILE *f, const uint64_t counters[SHUNT_CNT__MAX], size_t active_conns)
{
	unsigned int i;

	for (i = 0; i < SHUNT_CNT__MAX; i++) {
		fprintf(f, "# HELP shunt_%s_total %s\n", counter_info[i].name,
			counter_info[i].help);
		fprintf(f, "# TYPE shunt_%s_total counter\n", counter_info[i].name);
		fprintf(f, "shunt_%s_total %" PRIu64 "\n", counter_info[i].name, counters[i]);
	}
	fprintf(f, "# HELP shunt_sockets_active tracked sockets currently open\n");
	fprintf(f, "# TYPE shunt_sockets_active gauge\n");
	fprintf(f, "shunt_sockets_active %zu\n", active_conns);
}
