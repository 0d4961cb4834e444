/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel splice of a relayed connection pair (see "Splice" in
 * bpf/shunt_bpf.h): setsockopt/getsockopt on level SHUNT_SOL, answered by
 * shuntd's cgroup/setsockopt and cgroup/getsockopt programs. Without shuntd
 * every call fails with -ENOPROTOOPT and the relay simply copies bytes.
 * No I/O besides those socket options; each returns 0 or a negative errno.
 */
#ifndef SHUNT_PROXY_SPLICE_H
#define SHUNT_PROXY_SPLICE_H

#include <stdint.h>

#include "shunt_bpf.h"

/* Link the relay's two sockets (down: accepted, up: its upstream connection):
 * both name each other. 0 = linked (the kernel switches each direction once
 * the relay has forwarded everything it was sent, see sp_splice_fwd). */
int sp_splice_link(int down_fd, int up_fd);
/* Report that total bytes read from fd were all written to its partner.
 * 0 while a switch is still possible; an error once it never will be
 * (callers stop reporting). */
int sp_splice_fwd(int fd, uint64_t total);
/* What went past the relay from fd's peer. */
int sp_splice_info(int fd, struct shunt_splice_info *out);

#endif /* SHUNT_PROXY_SPLICE_H */
