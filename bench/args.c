/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench command line: parsing and validation only (pure). */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DURATION 0.4
#define DEFAULT_REPS	 5
#define QUICK_DURATION	 0.05
#define QUICK_REPS	 2
#define MAX_DURATION	 60.0

static const char *const small_mode_names[] = {"adaptive", "redirect", "pass"};

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *bench_placement_name(enum bench_placement p)
{
	return p == BENCH_SAME ? "same" : "split";
}

const char *bench_net_name(enum bench_net n)
{
	return n == BENCH_NET_PODS ? "pods" : "lo";
}

const char *bench_workload_name(enum bench_workload w)
{
	switch (w) {
	case BENCH_RR:
		return "rr";
	case BENCH_STREAM:
		return "stream";
	case BENCH_HTTP:
		return "http";
	case BENCH_CONNECT:
		return "connect";
	}
	return "?";
}

const double bench_cdf_q[BENCH_CDF_N] = {0,  1,	   5,	 10,   20,   30,   40,	  50,
					 60, 70,   75,	 80,   85,   90,   93,	  95,
					 97, 98.5, 99.0, 99.5, 99.7, 99.9, 99.99, 100};

bool bench_path_accelerated(const struct bench_path *p)
{
	return p->kind == BENCH_PATH_ACCEL || p->kind == BENCH_PATH_PROXY_ACCEL;
}

bool bench_path_is_proxy(const struct bench_path *p)
{
	return p->kind >= BENCH_PATH_PROXY;
}

int bench_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mult = 1;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		mult = 1024;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024;
	if (mult != 1) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
			end += strlen(end);
	} else if (strcmp(end, "B") == 0) {
		end++;
	}
	if (*end != '\0' || v == 0 || v > BENCH_MAX_SIZE / mult)
		return -EINVAL;
	*out = (size_t)(v * mult);
	return 0;
}

const char *bench_fmt_size(size_t size, char *buf, size_t len)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, len, "%zu KiB", size >> 10);
	else
		snprintf(buf, len, "%zu B", size);
	return buf;
}

static bool valid_small_mode(const char *m)
{
	for (size_t i = 0; i < sizeof(small_mode_names) / sizeof(small_mode_names[0]); i++)
		if (strcmp(m, small_mode_names[i]) == 0)
			return true;
	return false;
}

/* Split a comma list into tokens of at most maxlen-1 chars; calls fn per
 * token. Empty tokens are errors. */
static int for_each_token(const char *list, const char *what, char *err, size_t errlen,
			  int (*fn)(const char *tok, void *ctx, char *err, size_t errlen),
			  void *ctx)
{
	char tok[64];
	const char *p = list;

	if (!list || !*list)
		return fail(err, errlen, "%s: empty list", what);
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int ret;

		if (n == 0 || n >= sizeof(tok))
			return fail(err, errlen, "%s: bad list '%s'", what, list);
		memcpy(tok, p, n);
		tok[n] = '\0';
		ret = fn(tok, ctx, err, errlen);
		if (ret)
			return ret;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

struct size_list {
	size_t *v;
	int *n;
	const char *what;
};

static int add_size(const char *tok, void *ctx, char *err, size_t errlen)
{
	struct size_list *l = ctx;
	size_t sz;

	if (bench_parse_size(tok, &sz))
		return fail(err, errlen,
			    "%s: bad size '%s' (want 1..16M bytes, e.g. 64, 1K, 256KiB)", l->what,
			    tok);
	if (*l->n >= BENCH_MAX_SIZES)
		return fail(err, errlen, "%s: at most %d sizes", l->what, BENCH_MAX_SIZES);
	for (int i = 0; i < *l->n; i++)
		if (l->v[i] == sz)
			return fail(err, errlen, "%s: size '%s' given twice", l->what, tok);
	l->v[(*l->n)++] = sz;
	return 0;
}

static int add_path(const char *tok, void *ctx, char *err, size_t errlen)
{
	struct bench_opts *o = ctx;
	struct bench_path p = {0};

	if (strcmp(tok, "tcp") == 0) {
		p.kind = BENCH_PATH_TCP;
	} else if (strcmp(tok, "unix") == 0) {
		p.kind = BENCH_PATH_UNIX;
	} else if (strcmp(tok, "accel") == 0) {
		p.kind = BENCH_PATH_ACCEL;
	} else if (strncmp(tok, "accel:", 6) == 0 && valid_small_mode(tok + 6)) {
		p.kind = BENCH_PATH_ACCEL;
		snprintf(p.mode, sizeof(p.mode), "%s", tok + 6);
	} else if (strcmp(tok, "proxy") == 0) {
		p.kind = BENCH_PATH_PROXY;
	} else if (strcmp(tok, "proxy+accel") == 0) {
		p.kind = BENCH_PATH_PROXY_ACCEL;
	} else if (strcmp(tok, "haproxy") == 0) {
		p.kind = BENCH_PATH_HAPROXY;
	} else if (strcmp(tok, "nginx") == 0) {
		p.kind = BENCH_PATH_NGINX;
	} else {
		return fail(err, errlen,
			    "--paths: unknown path '%s' (want tcp, accel, "
			    "accel:adaptive|redirect|pass, unix, proxy, proxy+accel, haproxy, "
			    "nginx)",
			    tok);
	}
	snprintf(p.name, sizeof(p.name), "%s", tok);
	if (o->n_paths >= BENCH_MAX_PATHS)
		return fail(err, errlen, "--paths: at most %d paths", BENCH_MAX_PATHS);
	for (int i = 0; i < o->n_paths; i++)
		if (strcmp(o->paths[i].name, p.name) == 0)
			return fail(err, errlen, "--paths: '%s' given twice", tok);
	o->paths[o->n_paths++] = p;
	return 0;
}

static int add_small_mode(const char *tok, void *ctx, char *err, size_t errlen)
{
	struct bench_opts *o = ctx;

	if (!valid_small_mode(tok))
		return fail(err, errlen,
			    "--small-writes: unknown mode '%s' (want adaptive, redirect, pass, "
			    "all or none)",
			    tok);
	for (int i = 0; i < o->n_small_modes; i++)
		if (strcmp(o->small_modes[i], tok) == 0)
			return fail(err, errlen, "--small-writes: '%s' given twice", tok);
	snprintf(o->small_modes[o->n_small_modes++], BENCH_MODE_LEN, "%s", tok);
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A cpu number: decimal digits only (no sign, no blanks). */
static const char *parse_cpu_num(const char *p, int *out)
{
	long v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v >= BENCH_CPU_MAX)
			return NULL;
	}
	*out = (int)v;
	return p;
}

bool bench_cpulist_has(const struct bench_cpulist *l, int cpu)
{
	if (cpu < 0 || cpu >= BENCH_CPU_MAX)
		return false;
	return (l->bits[cpu / 64] >> (cpu % 64)) & 1;
}

int bench_cpulist_single(const struct bench_cpulist *l)
{
	if (l->count != 1)
		return -1;
	for (int c = 0; c < BENCH_CPU_MAX; c++)
		if (bench_cpulist_has(l, c))
			return c;
	return -1;
}

int bench_parse_cpulist(const char *s, struct bench_cpulist *out)
{
	struct bench_cpulist l;
	size_t len = 0;
	int lo, hi, n;

	memset(&l, 0, sizeof(l));
	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s;;) {
		p = parse_cpu_num(p, &lo);
		if (!p)
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p = parse_cpu_num(p + 1, &hi);
			if (!p || hi < lo)
				return -EINVAL;
		}
		for (int c = lo; c <= hi; c++)
			l.bits[c / 64] |= 1ull << (c % 64);
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	/* canonical text: ascending, runs of two or more as ranges */
	for (int c = 0; c < BENCH_CPU_MAX; c++) {
		if (!bench_cpulist_has(&l, c))
			continue;
		lo = c;
		while (c + 1 < BENCH_CPU_MAX && bench_cpulist_has(&l, c + 1))
			c++;
		l.count += c - lo + 1;
		if (c == lo)
			n = snprintf(l.text + len, sizeof(l.text) - len, "%s%d", len ? "," : "",
				     lo);
		else
			n = snprintf(l.text + len, sizeof(l.text) - len, "%s%d-%d", len ? "," : "",
				     lo, c);
		if (n < 0 || (size_t)n >= sizeof(l.text) - len)
			return -EINVAL;
		len += (size_t)n;
	}
	*out = l;
	return 0;
}

/* "CLIENT/SERVER" cpu lists, or the old "A,B" (two single cpus). */
static int parse_cpus(const char *s, struct bench_cpulist cpus[2])
{
	const char *sep = s ? strchr(s, '/') : NULL;
	struct bench_cpulist l[2];
	char a[256];
	size_t n;

	if (!s)
		return -EINVAL;
	if (!sep) {
		/* old form: exactly two numbers */
		sep = strchr(s, ',');
		if (!sep || strchr(sep + 1, ',') || strchr(s, '-'))
			return -EINVAL;
	}
	n = (size_t)(sep - s);
	if (n == 0 || n >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, n);
	a[n] = '\0';
	if (bench_parse_cpulist(a, &l[0]) || bench_parse_cpulist(sep + 1, &l[1]))
		return -EINVAL;
	cpus[0] = l[0];
	cpus[1] = l[1];
	return 0;
}

static void set_defaults(struct bench_opts *o)
{
	static const size_t sizes[] = {64, 1024, 65536};
	static const size_t wsizes[] = {64, 1024, 16384, 262144};

	memset(o, 0, sizeof(*o));
	o->workloads = BENCH_RR | BENCH_STREAM;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		o->sizes[o->n_sizes++] = sizes[i];
	for (size_t i = 0; i < sizeof(wsizes) / sizeof(wsizes[0]); i++)
		o->write_sizes[o->n_write_sizes++] = wsizes[i];
	o->placements = (1u << BENCH_SAME) | (1u << BENCH_SPLIT);
	o->duration = DEFAULT_DURATION;
	o->reps = DEFAULT_REPS;
	bench_parse_cpulist("0", &o->cpus[0]);
	bench_parse_cpulist("1", &o->cpus[1]);
	o->exchange = true;
}

/* "--name=value" or "--name value". Returns the value or NULL. */
static const char *flag_value(const char *arg, const char *name, int argc, char **argv, int *i,
			      bool *matched)
{
	size_t n = strlen(name);

	*matched = false;
	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=') {
		*matched = true;
		return arg + n + 1;
	}
	if (arg[n] != '\0')
		return NULL;
	*matched = true;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* --net pods: UNIX sockets do not cross network namespaces and the proxy
 * paths are loopback-only. Named in --paths: an error; default: dropped and
 * listed in net_skipped. */
static int drop_pods_paths(struct bench_opts *o, char *err, size_t errlen)
{
	int kept = 0;
	size_t used = 0;

	for (int i = 0; i < o->n_paths; i++) {
		const struct bench_path *p = &o->paths[i];
		bool unix_path = p->kind == BENCH_PATH_UNIX;

		if (!unix_path && !bench_path_is_proxy(p)) {
			o->paths[kept++] = *p;
			continue;
		}
		if (p->explicit_path)
			return fail(err, errlen,
				    "--paths: '%s' is not available with --net pods (%s); use "
				    "--net lo for it",
				    p->name,
				    unix_path ? "a UNIX socket does not cross network namespaces"
					      : "proxy paths are measured on loopback only");
		used += (size_t)snprintf(o->net_skipped + used, sizeof(o->net_skipped) - used,
					 "%s%s", used ? ", " : "", p->name);
		if (used >= sizeof(o->net_skipped))
			used = sizeof(o->net_skipped) - 1;
	}
	o->n_paths = kept;
	return 0;
}

int bench_parse_args(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen)
{
	bool have_mode = false, have_paths = false;
	bool have_duration = false, have_reps = false, have_sizes = false;
	bool have_l7_flag = false;
	const char *l7_flag = NULL;
	int ret;

	set_defaults(o);
	if (errlen)
		err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		bool m;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = true;
			return 1;
		}
		if (a[0] != '-') {
			if (have_mode)
				return fail(err, errlen, "only one mode allowed (got '%s')", a);
			have_mode = true;
			if (strcmp(a, "rr") == 0)
				o->workloads = BENCH_RR;
			else if (strcmp(a, "stream") == 0)
				o->workloads = BENCH_STREAM;
			else if (strcmp(a, "all") == 0)
				o->workloads = BENCH_RR | BENCH_STREAM;
			else if (strcmp(a, "http") == 0)
				o->workloads = BENCH_HTTP;
			else if (strcmp(a, "connect") == 0)
				o->workloads = BENCH_CONNECT;
			else
				return fail(
					err, errlen,
					"unknown mode '%s' (want rr, stream, all, http or connect)",
					a);
			continue;
		}
		if (strcmp(a, "--quick") == 0) {
			o->quick = true;
			continue;
		}
		if (strcmp(a, "--no-exchange") == 0) {
			o->exchange = false;
			have_l7_flag = true;
			l7_flag = "--no-exchange";
			continue;
		}

#define VALUE_OF(NAME) (v = flag_value(a, NAME, argc, argv, &i, &m), m)
#define NEED_VALUE(NAME)                                                    \
	do {                                                                \
		if (!v)                                                     \
			return fail(err, errlen, "%s needs a value", NAME); \
	} while (0)

		if (VALUE_OF("--sizes")) {
			struct size_list l = {o->sizes, &o->n_sizes, "--sizes"};

			NEED_VALUE("--sizes");
			o->n_sizes = 0;
			have_sizes = true;
			ret = for_each_token(v, "--sizes", err, errlen, add_size, &l);
		} else if (VALUE_OF("--write-sizes")) {
			struct size_list l = {o->write_sizes, &o->n_write_sizes, "--write-sizes"};

			NEED_VALUE("--write-sizes");
			o->n_write_sizes = 0;
			ret = for_each_token(v, "--write-sizes", err, errlen, add_size, &l);
		} else if (VALUE_OF("--paths")) {
			NEED_VALUE("--paths");
			o->n_paths = 0;
			have_paths = true;
			ret = for_each_token(v, "--paths", err, errlen, add_path, o);
		} else if (VALUE_OF("--placement")) {
			NEED_VALUE("--placement");
			ret = 0;
			if (strcmp(v, "same") == 0)
				o->placements = 1u << BENCH_SAME;
			else if (strcmp(v, "split") == 0)
				o->placements = 1u << BENCH_SPLIT;
			else if (strcmp(v, "both") == 0)
				o->placements = (1u << BENCH_SAME) | (1u << BENCH_SPLIT);
			else
				ret = fail(err, errlen,
					   "--placement: unknown '%s' (want same, split or both)",
					   v);
		} else if (VALUE_OF("--duration")) {
			NEED_VALUE("--duration");
			have_duration = true;
			ret = parse_double(v, 0.001, MAX_DURATION, &o->duration)
				      ? fail(err, errlen,
					     "--duration: '%s' is not a number of seconds in "
					     "[0.001, %g]",
					     v, MAX_DURATION)
				      : 0;
		} else if (VALUE_OF("--reps")) {
			NEED_VALUE("--reps");
			have_reps = true;
			ret = parse_int(v, 1, BENCH_MAX_REPS, &o->reps)
				      ? fail(err, errlen, "--reps: '%s' is not in 1..%d", v,
					     BENCH_MAX_REPS)
				      : 0;
		} else if (VALUE_OF("--cpus")) {
			NEED_VALUE("--cpus");
			ret = parse_cpus(v, o->cpus)
				      ? fail(err, errlen,
					     "--cpus: want CLIENT/SERVER cpu lists (0/1, "
					     "0-1/2,3) or A,B, got '%s'",
					     v)
				      : 0;
		} else if (VALUE_OF("--small-writes")) {
			NEED_VALUE("--small-writes");
			o->small_modes_set = true;
			o->n_small_modes = 0;
			if (strcmp(v, "none") == 0)
				ret = 0;
			else if (strcmp(v, "all") == 0)
				ret = for_each_token("adaptive,redirect,pass", "--small-writes",
						     err, errlen, add_small_mode, o);
			else
				ret = for_each_token(v, "--small-writes", err, errlen,
						     add_small_mode, o);
		} else if (VALUE_OF("--json")) {
			NEED_VALUE("--json");
			o->json_path = v;
			ret = *v ? 0 : fail(err, errlen, "--json needs a file name");
		} else if (VALUE_OF("--plot")) {
			NEED_VALUE("--plot");
			o->plot_path = v;
			ret = *v ? 0 : fail(err, errlen, "--plot needs a file name");
			if (!ret) {
				const char *dot = strrchr(v, '.');

				if (!dot || (strcmp(dot, ".png") && strcmp(dot, ".svg")))
					ret = fail(err, errlen,
						   "--plot: file name must end in .png or .svg");
			}
		} else if (VALUE_OF("--conns")) {
			NEED_VALUE("--conns");
			have_l7_flag = true;
			l7_flag = "--conns";
			ret = parse_int(v, 1, BENCH_MAX_CONNS, &o->conns)
				      ? fail(err, errlen, "--conns: '%s' is not in 1..%d", v,
					     BENCH_MAX_CONNS)
				      : 0;
		} else if (VALUE_OF("--rate")) {
			NEED_VALUE("--rate");
			have_l7_flag = true;
			l7_flag = "--rate";
			ret = parse_double(v, 1e-9, BENCH_MAX_RATE, &o->rate)
				      ? fail(err, errlen,
					     "--rate: '%s' is not a rate in (0, %g] per second", v,
					     BENCH_MAX_RATE)
				      : 0;
		} else if (VALUE_OF("--req-size")) {
			NEED_VALUE("--req-size");
			have_l7_flag = true;
			l7_flag = "--req-size";
			if (strcmp(v, "0") == 0)
				o->req_size = 0;
			else if (bench_parse_size(v, &o->req_size))
				ret = fail(err, errlen,
					   "--req-size: bad size '%s' (want 0..16M bytes)", v);
			else
				ret = 0;
		} else if (VALUE_OF("--proxy")) {
			NEED_VALUE("--proxy");
			have_l7_flag = true;
			l7_flag = "--proxy";
			o->proxy_path = v;
			ret = *v ? 0 : fail(err, errlen, "--proxy needs a path");
		} else if (VALUE_OF("--proxy-config")) {
			NEED_VALUE("--proxy-config");
			have_l7_flag = true;
			l7_flag = "--proxy-config";
			o->proxy_config = v;
			ret = *v ? 0 : fail(err, errlen, "--proxy-config needs a file name");
		} else if (VALUE_OF("--net")) {
			NEED_VALUE("--net");
			ret = 0;
			if (strcmp(v, "lo") == 0)
				o->net = BENCH_NET_LO;
			else if (strcmp(v, "pods") == 0)
				o->net = BENCH_NET_PODS;
			else
				ret = fail(err, errlen, "--net: unknown '%s' (want lo or pods)", v);
		} else if (VALUE_OF("--shuntd")) {
			NEED_VALUE("--shuntd");
			o->shuntd_path = v;
			ret = *v ? 0 : fail(err, errlen, "--shuntd needs a path");
		} else {
			return fail(err, errlen, "unknown option '%s' (see --help)", a);
		}
#undef VALUE_OF
#undef NEED_VALUE
		if (ret)
			return ret;
	}

	if (have_paths) {
		for (int i = 0; i < o->n_paths; i++)
			o->paths[i].explicit_path = true;
	} else {
		add_path("tcp", o, err, errlen);
		add_path("accel", o, err, errlen);
		add_path("unix", o, err, errlen);
		if (bench_workload_is_l7(o->workloads)) {
			add_path("proxy", o, err, errlen);
			add_path("proxy+accel", o, err, errlen);
			add_path("haproxy", o, err, errlen);
			add_path("nginx", o, err, errlen);
		}
	}
	if (bench_workload_is_l7(o->workloads)) {
		if (!o->conns)
			o->conns =
				o->workloads == BENCH_HTTP ? BENCH_HTTP_CONNS : BENCH_CONNECT_CONNS;
		if (o->workloads == BENCH_CONNECT && !have_sizes) {
			o->sizes[0] = BENCH_CONNECT_SIZE;
			o->n_sizes = 1;
		}
		if (o->workloads == BENCH_CONNECT && !o->exchange) {
			o->sizes[0] = 0; /* no exchange: one cell, no size */
			o->n_sizes = 1;
		}
	} else {
		if (have_l7_flag)
			return fail(err, errlen, "%s is only for the http and connect modes",
				    l7_flag);
		for (int i = 0; i < o->n_paths; i++)
			if (bench_path_is_proxy(&o->paths[i]))
				return fail(err, errlen,
					    "--paths: '%s' is only for the http and connect modes",
					    o->paths[i].name);
	}
	if (o->net == BENCH_NET_PODS) {
		ret = drop_pods_paths(o, err, errlen);
		if (ret)
			return ret;
	}
	if (o->quick) {
		if (!have_duration)
			o->duration = QUICK_DURATION;
		if (!have_reps)
			o->reps = QUICK_REPS;
	}
	/* Discard 10% of the window first (at least 20 ms, at most 100 ms). */
	o->warmup = fmin(0.1, fmax(0.02, o->duration * 0.1));
	if ((o->workloads & (BENCH_RR | BENCH_HTTP | BENCH_CONNECT)) && o->n_sizes == 0)
		return fail(err, errlen, "--sizes: empty list");
	if ((o->workloads & BENCH_STREAM) && o->n_write_sizes == 0)
		return fail(err, errlen, "--write-sizes: empty list");
	return 0;
}

bool bench_opts_want_accel(const struct bench_opts *o)
{
	for (int i = 0; i < o->n_paths; i++)
		if (bench_path_accelerated(&o->paths[i]))
			return true;
	return false;
}

int bench_add_small_mode_paths(struct bench_opts *o, char *err, size_t errlen)
{
	if (!bench_opts_want_accel(o) || !(o->workloads & BENCH_STREAM))
		return 0;
	for (int i = 0; i < o->n_small_modes; i++) {
		char name[BENCH_PATH_NAME];
		bool dup = false;

		snprintf(name, sizeof(name), "accel:%s", o->small_modes[i]);
		for (int j = 0; j < o->n_paths; j++)
			if (strcmp(o->paths[j].name, name) == 0)
				dup = true;
		if (dup)
			continue; /* already measured everywhere */
		if (o->n_paths >= BENCH_MAX_PATHS) {
			snprintf(err, errlen, "too many paths with --small-writes (max %d)",
				 BENCH_MAX_PATHS);
			return -E2BIG;
		}
		struct bench_path *p = &o->paths[o->n_paths++];

		memset(p, 0, sizeof(*p));
		p->kind = BENCH_PATH_ACCEL;
		p->small_only = true;
		snprintf(p->mode, sizeof(p->mode), "%s", o->small_modes[i]);
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	return 0;
}

bool bench_cell_has_path(const struct bench_cell *c, const struct bench_path *p)
{
	if (bench_path_is_proxy(p) && !bench_workload_is_l7(c->workload))
		return false;
	if (!p->small_only)
		return true;
	return c->workload == BENCH_STREAM && c->size < BENCH_SMALL_WRITE;
}

int bench_build_cells(const struct bench_opts *o, struct bench_cell *cells, int max)
{
	int n = 0;

	if (o->workloads & BENCH_RR)
		for (int i = 0; i < o->n_sizes && n < max; i++)
			cells[n++] = (struct bench_cell){BENCH_RR, o->sizes[i]};
	if (o->workloads & BENCH_STREAM)
		for (int i = 0; i < o->n_write_sizes && n < max; i++)
			cells[n++] = (struct bench_cell){BENCH_STREAM, o->write_sizes[i]};
	if (o->workloads & BENCH_HTTP)
		for (int i = 0; i < o->n_sizes && n < max; i++)
			cells[n++] = (struct bench_cell){BENCH_HTTP, o->sizes[i]};
	if (o->workloads & BENCH_CONNECT)
		for (int i = 0; i < o->n_sizes && n < max; i++)
			cells[n++] = (struct bench_cell){BENCH_CONNECT, o->sizes[i]};
	return n;
}
