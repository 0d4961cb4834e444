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
	uint64_t tcp_bytes; /* its socket's bytes through TCP (wl_tcp_bytes) */
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
/* In a forked worker: default signals, PDEATHSIG, join spec->cgroup, pin cpu,
 * join netns (a /run/netns path, NULL = stay). */
int wl_child_setup(const struct bench_cell_spec *spec, const struct bench_cpulist *cpus,
		   const char *netns, pid_t parent, struct side *s);
/* The server's IPv4 address, network order (127.0.0.1 or the pod's). */
uint32_t wl_server_ip(const struct bench_cell_spec *spec);
int wl_set_timeouts(int fd, double secs);
void wl_unix_addr(const struct bench_cell_spec *spec, pid_t parent, struct sockaddr_un *sun,
		  socklen_t *len);
int wl_send_all(int fd, const uint8_t *buf, size_t len);
int wl_recv_all(int fd, uint8_t *buf, size_t len);
/* The server's listening socket (not yet listening): the unix path of the
 * cell, or wl_server_ip():port (0: any) with *ready_port its port (network order).
 * sock_flags adds to SOCK_CLOEXEC. Returns the fd, or -1 with s failed. */
int wl_bind_server(const struct bench_cell_spec *spec, pid_t parent, int port, int sock_flags,
		   struct side *s, uint16_t *ready_port);
/* Tell the parent the server listens (struct ready_msg); -1 with s failed. */
int wl_send_ready(int ready_fd, uint16_t port, struct side *s);
/* Bytes of fd that went, or are queued to go, through TCP (TCP_INFO:
 * bytes_sent + notsent_bytes). 0 or -EOPNOTSUPP. */
int wl_tcp_bytes(int fd, uint64_t *out);
void wl_read_tcp_info(int fd, struct side *s);
int wl_pidfd_open_(pid_t pid);
void wl_kill_and_reap(pid_t *pids, int n);
int wl_wait_children(pid_t *pids, int n, int timeout_ms);

/* A worker's entry: signal readiness on ready_fd; port is the cell's own (0 for rr/stream). */
typedef int (*wl_server_fn)(const struct bench_cell_spec *spec, struct bench_shared *sh,
			    int ready_fd, pid_t parent, int port);
/* Zero the sample, both sides and the phase before a cell. */
void wl_cell_reset(struct bench_shared *sh, struct bench_sample *out);
/* Fork server (*pid) and wait until it says it listens; *ready_port is its port
 * (network order). Returns 0 or -errno with err set; the caller reaps *pid. */
int wl_start_server(const struct bench_cell_spec *spec, struct bench_shared *sh,
		    wl_server_fn server, int port, pid_t *pid, uint16_t *ready_port, char *err,
		    size_t errlen);
/* After a -ETIMEDOUT wait: sets err, returns -EBADMSG. */
int wl_cell_stalled(int timeout_ms, char *err, size_t errlen);
/* After the workers ran (ret from wl_wait_children): 0, or err set and -EBADMSG
 * (a data-path failure) / -EIO. */
int wl_cell_failed(const struct bench_shared *sh, int ret, char *err, size_t errlen);

/* http / connect cell (l7.c). Same contract as bench_run_cell(). */
int bench_run_l7_cell(const struct bench_cell_spec *spec, struct bench_shared *sh,
		      struct bench_sample *out, char *err, size_t errlen);

#endif
