/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench workloads, internal: the shared-memory layout and the helpers
 * workload.c (rr, stream) and l7.c (http, connect) both use.
 */
#ifndef SHUNT_BENCH_WORKLOAD_INT_H
#define SHUNT_BENCH_WORKLOAD_INT_H

#include "workload.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define WL_SETUP_TIMEOUT_MS 10000
#define WL_SLACK_SECONDS    10.0

struct side {
	int failed;
	int short_window; /* stream receiver saw no read inside the window */
	int data_path;	  /* failed while moving data on an established connection */
	char msg[200];
	double cpu_us;	    /* user+sys over this side's measured window */
	uint64_t win_ops;   /* ops (rr iterations, stream writes) in the window */
	uint64_t win_bytes; /* stream receiver: bytes read inside the window */
	double win_secs;    /* stream receiver: first to last counted read */
	uint64_t app_bytes; /* bytes this side sent in total */
	uint64_t tcp_bytes; /* tcpi_bytes_sent of its socket */
	int tcp_info_ok;
	uint64_t recv_bytes; /* bytes this side received in total */
	/* http/connect */
	uint64_t errors, late, missed;
	double proxy_cpu_us; /* the proxy process over the window, NAN without one */
	double win_s;	     /* measured window, seconds */
};

struct bench_shared {
	_Atomic int phase;
	struct side client, server;
	size_t cap;
	size_t n;
	size_t map_len;
	uint32_t samples[];
};

struct ready_msg {
	int ok;
	uint16_t port; /* network order, TCP only */
};

uint64_t wl_now_ns(void);
double wl_cpu_us_now(void);
int wl_side_fail(struct side *s, const char *what, int err);
int wl_side_fail_data(struct side *s, const char *what, int err);
/* In a forked worker: default signals, PDEATHSIG, join spec->cgroup, pin cpu. */
int wl_child_setup(const struct bench_cell_spec *spec, int cpu, pid_t parent, struct side *s);
int wl_set_timeouts(int fd, double secs);
void wl_unix_addr(const struct bench_cell_spec *spec, pid_t parent, struct sockaddr_un *sun,
		  socklen_t *len);
int wl_send_all(int fd, const uint8_t *buf, size_t len);
int wl_recv_all(int fd, uint8_t *buf, size_t len);
void wl_read_tcp_info(int fd, struct side *s);
int wl_pidfd_open_(pid_t pid);
void wl_kill_and_reap(pid_t *pids, int n);
int wl_wait_children(pid_t *pids, int n, int timeout_ms);

/* http / connect cell (l7.c). Same contract as bench_run_cell(). */
int bench_run_l7_cell(const struct bench_cell_spec *spec, struct bench_shared *sh,
		      struct bench_sample *out, char *err, size_t errlen);

#endif
