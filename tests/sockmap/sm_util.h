/* SPDX-License-Identifier: Apache-2.0 */
/* Socket helpers for the sockmap kernel tests: addresses, blocking I/O,
 * position-dependent byte patterns, TCP_INFO, and an epoll echo engine. */
#ifndef SHUNT_TESTS_SM_UTIL_H
#define SHUNT_TESTS_SM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Fills *ss from "ip" + port; returns the family or -EINVAL. */
int sm_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* Listening socket on ip:port (port 0 = any); *port_out gets the port. v6only=0 for "::". */
int sm_listen(const char *ip, uint16_t port, uint16_t *port_out, int backlog);
/* Blocking connect (family from ip; AF_INET6 socket when ip6_sock and ip is IPv4-mapped). */
int sm_connect(const char *ip, uint16_t port);
int sm_connect_fam(int family, const char *ip, uint16_t port);

/* Pattern streams: byte i of stream `seed` is table[(i + seed * K) mod T]
 * over a random table, so loss, duplication, reordering and cross-talk
 * between streams all show. sm_pattern_init() once per process (deterministic). */
#define SM_PATTERN_SPAN (4u << 20) /* contiguous bytes sm_pattern_ptr() guarantees */
void sm_pattern_init(void);
const uint8_t *sm_pattern_ptr(uint64_t seed, uint64_t off);
/* Index of the first mismatch of buf against stream seed at offset off, or -1. */
long sm_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t off);

/* Blocking reads that returned EAGAIN (retried). Kernel 6.18: tcp_bpf_recvmsg()
 * returns -EAGAIN from a blocking recv() when its single wait is woken without
 * data (e.g. by a write-space wake-up); plain TCP loops instead. */
extern unsigned long sm_spurious_eagain;

/* write/read all (blocking). 0 or -errno; read_full returns -EPIPE on early EOF. */
int sm_write_full(int fd, const void *buf, size_t len);
int sm_read_full(int fd, void *buf, size_t len);
/* Send len pattern bytes in writes of `chunk`; receive and verify len bytes. */
int sm_send_pattern(int fd, uint64_t seed, size_t len, size_t chunk);
int sm_recv_pattern(int fd, uint64_t seed, size_t len);

struct sm_tcpinfo {
	uint64_t data_segs_out, data_segs_in, bytes_sent, bytes_received;
	uint64_t netns_outsegs; /* filled by the tests: Tcp OutSegs delta of the netns */
};
int sm_tcpinfo(int fd, struct sm_tcpinfo *ti);

/* /proc/net/snmp Tcp OutSegs of the caller's netns, or 0 on error. */
uint64_t sm_netns_outsegs(void);

/* Deterministic PRNG (xorshift64*). */
static inline uint64_t sm_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}
/* Log-uniform integer in [1, max]. */
uint64_t sm_rand_log(uint64_t *s, uint64_t max);

/* ---- epoll engine: many connections, every byte checked ---- */

struct sm_engine_opts {
	const char *dst_ip;
	uint16_t port;
	int nconns;
	uint64_t seed;
	uint64_t total_cap; /* bytes sent over all connections (one way) */
	uint64_t max_conn;  /* largest per-connection volume */
	uint64_t max_write; /* largest single write */
	int pause_fd;	    /* >= 0: at half of the volume, write "h" here ... */
	int resume_fd;	    /* ... and block until one byte arrives here */
};
struct sm_engine_result {
	uint64_t sent, echoed;
	int conns_done;
};
/* Client side: nconns connections, each sends its pattern stream in random
 * write sizes, verifies the echo, half-closes and waits for EOF. Returns 0 or
 * -errno (-EBADMSG on a byte mismatch, printed to stderr). */
int sm_engine_client(const struct sm_engine_opts *o, struct sm_engine_result *r);
/* Server side: accept `nconns` connections on lfd, verify each stream (the
 * client sends its seed first) and echo it back; shutdown(SHUT_WR) after the
 * peer's EOF. Returns 0 or -errno. */
int sm_engine_server(int lfd, int nconns);

#endif
