/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench: types shared by the argument parser, the statistics, the
 * workloads and the reports.
 *
 * A run is a grid: placement x cell x path x repetition. A cell is one
 * workload at one size (rr 64 B, stream 16 KiB, ...). A path is how the two
 * ends talk (loopback TCP, TCP accelerated by shuntd, a UNIX socket). Every
 * grid point produces one struct bench_sample; the reports summarise the
 * repetitions of a (placement, cell, path) triple.
 */
#ifndef SHUNT_BENCH_H
#define SHUNT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef BENCH_MAX_SIZES
#define BENCH_MAX_SIZES 16
#endif
#ifndef BENCH_MAX_PATHS
#define BENCH_MAX_PATHS 10
#endif
#define BENCH_MAX_REPS	    100
#define BENCH_MAX_SIZE	    (16u << 20) /* largest message / write size */
#define BENCH_MODE_LEN	    16
#define BENCH_PATH_NAME	    32
#define BENCH_N_PLACEMENTS  2
#define BENCH_MAX_CELLS	    (2 * BENCH_MAX_SIZES)

#define BENCH_MAX_CONNS	    1024
#define BENCH_MAX_RATE	    10e6
#define BENCH_HTTP_CONNS    16 /* default --conns for http */
#define BENCH_CONNECT_CONNS 4  /* default --conns for connect */
#define BENCH_CONNECT_SIZE  64 /* default response body of the connect exchange */

/* Write sizes below this are "small writes" (the never-slower target). */
#define BENCH_SMALL_WRITE 16384u
/* Throughput target applies at and above this write size. */
#define BENCH_LARGE_WRITE 16384u

/* Targets (reported, never enforced). */
#define BENCH_TARGET_RTT_RATIO	 0.5  /* accel RTT p50 <= 0.5 x TCP, one vCPU */
#define BENCH_TARGET_TPUT_RATIO	 1.5  /* accel MB/s >= 1.5 x TCP at >= 16 KiB */
#define BENCH_TARGET_SMALL_RATIO 1.0  /* accel MB/s >= TCP below 16 KiB */
#define BENCH_SMALL_NOISE_ALLOW	 0.05 /* ratio in [0.95, 1.0) = tie within noise */

enum bench_workload {
	BENCH_RR = 1u << 0,	 /* closed-loop ping-pong */
	BENCH_STREAM = 1u << 1,	 /* one-way bulk transfer */
	BENCH_HTTP = 1u << 2,	 /* HTTP/1.1 keep-alive, closed or open loop */
	BENCH_CONNECT = 1u << 3, /* connection setup rate */
};

/* Latency CDF points kept per sample (quantiles, see bench_cdf_q). */
#define BENCH_CDF_N 24
/* Open loop: a request sent more than this after its intended time is late. */
#define BENCH_LATE_NS 1000000ull

enum bench_path_kind {
	BENCH_PATH_TCP,	  /* loopback TCP, the baseline */
	BENCH_PATH_ACCEL, /* loopback TCP from processes in a cgroup shuntd accelerates */
	BENCH_PATH_UNIX,  /* UNIX stream socket, the floor */
	/* http/connect only: client -> L7 proxy -> server, TCP legs */
	BENCH_PATH_PROXY,	/* shunt-proxy */
	BENCH_PATH_PROXY_ACCEL, /* shunt-proxy, all three processes in shuntd's cgroup */
	BENCH_PATH_HAPROXY,	/* HAProxy, one thread */
	BENCH_PATH_NGINX,	/* nginx, one worker */
};

/* --net: where the two ends live. */
enum bench_net {
	BENCH_NET_LO = 0, /* both in shunt-bench's netns, 127.0.0.1 (default) */
	BENCH_NET_PODS,	  /* two pod netns, eth0 veths on a bridge in a node netns */
};

enum bench_placement {
	BENCH_SAME = 0,	 /* both ends pinned to the cpus[0] list */
	BENCH_SPLIT = 1, /* client on cpus[0], server (and proxy) on cpus[1] */
};

/* A set of vCPUs given in the kernel's cpuset list syntax ("0", "0,2",
 * "0-3,6"). text is the canonical form (sorted, ranges merged). */
#define BENCH_CPU_MAX	  1024 /* == glibc CPU_SETSIZE */
#define BENCH_CPULIST_LEN 64
struct bench_cpulist {
	uint64_t bits[BENCH_CPU_MAX / 64];
	int count; /* cpus in the set */
	char text[BENCH_CPULIST_LEN];
};

struct bench_path {
	enum bench_path_kind kind;
	/* shuntd --small-writes mode for accel paths; "" = shuntd's default. */
	char mode[BENCH_MODE_LEN];
	/* Only measured in stream cells with write size < BENCH_SMALL_WRITE
	 * (the extra --small-writes variants). */
	bool small_only;
	char name[BENCH_PATH_NAME]; /* "tcp", "accel", "accel:pass", "unix", "proxy" ... */
	bool explicit_path;	    /* named in --paths (absent proxy = exit 2, else skip) */
};

struct bench_opts {
	unsigned workloads; /* enum bench_workload bits */
	size_t sizes[BENCH_MAX_SIZES];
	int n_sizes;
	size_t write_sizes[BENCH_MAX_SIZES];
	int n_write_sizes;
	struct bench_path paths[BENCH_MAX_PATHS];
	int n_paths;
	unsigned placements; /* bit (1 << enum bench_placement) */
	double duration;     /* measured seconds per cell */
	double warmup;	     /* discarded seconds per cell */
	int reps;
	struct bench_cpulist cpus[2]; /* client, server */
	/* --small-writes: extra accel:MODE stream variants at small write sizes. */
	char small_modes[3][BENCH_MODE_LEN];
	int n_small_modes;
	bool small_modes_set; /* given on the command line ("none" counts) */
	bool quick;
	bool help;
	const char *json_path;
	const char *plot_path;
	const char *shuntd_path;
	/* http / connect */
	int conns;		  /* concurrent connections (default 16 http, 4 connect) */
	double rate;		  /* open loop: req/s (or conn/s); 0 = closed loop */
	size_t req_size;	  /* http request body bytes (0 = GET) */
	bool exchange;		  /* connect: one request/response per connection */
	const char *proxy_path;	  /* shunt-proxy binary */
	const char *proxy_config; /* shunt config (listeners are replaced) */
	enum bench_net net;
	/* --net pods: default paths left out ("unix, proxy"), for the note */
	char net_skipped[128];
};

struct bench_cell {
	enum bench_workload workload;
	size_t size; /* message size (rr) or write size (stream) */
};

/* One measurement: one (placement, cell, path, rep). */
struct bench_sample {
	bool valid;
	/* rr: round-trip percentiles of this repetition, microseconds */
	double p50, p90, p99, max;
	/* stream: receiver-side throughput, MB/s (10^6 bytes) */
	double mbps;
	/* user+system CPU of both ends over the measured window / ops */
	double cpu_us_per_op;
	double cpu_us_per_mb; /* stream only */
	/* bytes that went through the TCP stack / bytes the app sent; NAN for UNIX */
	double tcp_fraction;
	uint64_t ops;
	double p999; /* rr/http/connect latency p99.9, us */
	/* http/connect */
	double rps;			     /* completed requests (connections) per second */
	double cpu_client_us, cpu_server_us; /* per op, each side's rusage */
	double cpu_proxy_us;		     /* per op, the proxy process; NAN without one */
	uint64_t errors, late, missed;	     /* late/missed: open loop only */
	double cdf_us[BENCH_CDF_N];	     /* latency at bench_cdf_q[i] */
};

/* Quantiles (0..100) of the CDF points stored per sample. */
extern const double bench_cdf_q[BENCH_CDF_N];

/* Parsed options, defaults applied. Returns 0, 1 when --help was asked for,
 * or -EINVAL with a one-line message in err. Pure (no I/O). */
int bench_parse_args(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen);

/* "64", "1K", "1KiB", "64k", "1M" -> bytes. Returns 0 or -EINVAL (0, junk,
 * overflow, > BENCH_MAX_SIZE). */
int bench_parse_size(const char *s, size_t *out);
/* Parse a cpuset list ("0", "0,2", "0-3,6") into out (canonical text).
 * 0 or -EINVAL (bad syntax, reversed range, cpu >= BENCH_CPU_MAX, empty,
 * canonical form longer than BENCH_CPULIST_LEN - 1). Pure. */
int bench_parse_cpulist(const char *s, struct bench_cpulist *out);
bool bench_cpulist_has(const struct bench_cpulist *l, int cpu);
/* The one cpu of a single-cpu list, else -1. */
int bench_cpulist_single(const struct bench_cpulist *l);

/* Human size: "64 B", "1 KiB", "256 KiB", "1.5 MiB". */
const char *bench_fmt_size(size_t size, char *buf, size_t len);

/* Append the --small-writes variants as small-only accel paths (no-op when no
 * accel path is selected). Returns 0 or -E2BIG. */
int bench_add_small_mode_paths(struct bench_opts *o, char *err, size_t errlen);

/* True when (cell, path) is part of the grid. */
bool bench_cell_has_path(const struct bench_cell *c, const struct bench_path *p);

/* Cells of the run, rr sizes then stream write sizes. Returns the count. */
int bench_build_cells(const struct bench_opts *o, struct bench_cell *cells, int max);

const char *bench_placement_name(enum bench_placement p);
const char *bench_net_name(enum bench_net n);
const char *bench_workload_name(enum bench_workload w);
bool bench_opts_want_accel(const struct bench_opts *o);
/* Path runs in a cgroup a shuntd accelerates (accel, accel:MODE, proxy+accel). */
bool bench_path_accelerated(const struct bench_path *p);
/* Path goes through an L7 proxy process. */
bool bench_path_is_proxy(const struct bench_path *p);
/* rr/stream vs http/connect: which cells a run has. */
static inline bool bench_workload_is_l7(unsigned w)
{
	return (w & (BENCH_HTTP | BENCH_CONNECT)) != 0;
}

#endif
