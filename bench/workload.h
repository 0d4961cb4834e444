/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench workloads: one cell = one forked server + one forked client,
 * each optionally moved into a cgroup and pinned to a CPU list, talking over
 * loopback TCP or a UNIX socket. Results come back through shared memory.
 */
#ifndef SHUNT_BENCH_WORKLOAD_H
#define SHUNT_BENCH_WORKLOAD_H

#include "bench.h"

#include <signal.h>
#include <stdint.h>

struct bench_cell_spec {
	enum bench_workload workload;
	size_t size;		   /* rr message size or stream write size */
	enum bench_path_kind kind; /* TCP and ACCEL use TCP sockets, UNIX a UNIX socket */
	const char *cgroup;	   /* cgroup v2 directory both ends join, or NULL */
	const struct bench_cpulist *client_cpus, *server_cpus; /* affinity */
	double warmup, duration;			       /* seconds */
	unsigned id; /* unique per cell, names the UNIX socket */
	/* http / connect */
	int conns;		  /* concurrent connections */
	double rate;		  /* open loop req/s (conn/s); 0 = closed loop */
	size_t req_size;	  /* request body bytes, 0 = GET */
	bool exchange;		  /* connect: one request/response per connection */
	const char *proxy_bin;	  /* proxy paths: the binary */
	const char *proxy_config; /* shunt-proxy: user config (listeners replaced) */
	const char *work_dir;	  /* proxy configs and logs (0755, files 0644) */
	/* --net pods: the netns each side joins before creating sockets, and
	 * the server's pod address; NULL / 0 = loopback in our own netns */
	const char *client_netns, *server_netns;
	uint32_t server_ip; /* network order, 0 = 127.0.0.1 */
};

/* Fill the latency fields of a sample (p50..max, p99.9, CDF) from n samples
 * in nanoseconds; v is sorted in place. Pure. */
void bench_fill_latency(uint32_t *v, size_t n, struct bench_sample *out);

struct bench_shared;

/* Set by the caller's signal handler: an in-flight cell is aborted (children
 * killed and reaped) and bench_run_cell() returns -EINTR. */
extern volatile sig_atomic_t bench_stop;

/* Shared memory for up to max_samples round-trip samples per cell. */
struct bench_shared *bench_shared_new(size_t max_samples);
void bench_shared_free(struct bench_shared *sh);

/* Run one cell and fill *out. Returns 0, -EINTR when bench_stop was set,
 * -EAGAIN when a stream receiver got no read inside the measured window (a
 * scheduling hiccup: worth retrying), -EBADMSG when the connection itself
 * failed (stall, lost/reordered bytes: a finding about the path), or another
 * -errno (setup failure) with a message in err.
 * Never leaves a child behind. */
int bench_run_cell(const struct bench_cell_spec *spec, struct bench_shared *sh,
		   struct bench_sample *out, char *err, size_t errlen);

/* Check that the cpu can be used by this process (sched_getaffinity). */
bool bench_cpu_usable(int cpu);

#endif
