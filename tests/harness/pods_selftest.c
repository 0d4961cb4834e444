// SPDX-License-Identifier: Apache-2.0
/*
 * Harness self-test: runs under with-pods.sh --nodes 2 --pod 1:a --pod 1:b --pod 2:c.
 * Pod-to-pod TCP (IPv4, IPv6), cross-node TCP, no NAT on the path, each pod in
 * its own cgroup and netns, and pods' loopbacks isolated from each other.
 */
#include "pods.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PORT 18080

struct echo_args {
	const char *bind_ip;
	int ready_fd; /* server writes one byte once listening */
};

struct client_args {
	const char *dst_ip;
	const char *expect_src_ip; /* what the server must report as our address */
	int expect_errno;	   /* 0: expect success; else expect connect() to fail so */
};

static int make_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return AF_INET6;
	}
	return -EINVAL;
}

/* Accepts one connection, reads a line, answers "<peer ip> <line>". */
static int echo_server(void *arg)
{
	struct echo_args *a = arg;
	struct sockaddr_storage ss, peer;
	socklen_t len, plen = sizeof(peer);
	char buf[256], ip[INET6_ADDRSTRLEN], out[512];
	int one = 1, lfd, cfd, fam;
	ssize_t n;

	fam = make_addr(a->bind_ip, PORT, &ss, &len);
	lfd = socket(fam, SOCK_STREAM, 0);
	CHECK(lfd >= 0, "socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	CHECK(bind(lfd, (struct sockaddr *)&ss, len) == 0, "bind %s: %s", a->bind_ip,
	      strerror(errno));
	CHECK(listen(lfd, 8) == 0, "listen: %s", strerror(errno));
	CHECK(write(a->ready_fd, "r", 1) == 1, "ready write");
	cfd = accept(lfd, (struct sockaddr *)&peer, &plen);
	CHECK(cfd >= 0, "accept: %s", strerror(errno));
	n = read(cfd, buf, sizeof(buf) - 1);
	CHECK(n > 0, "read: %s", strerror(errno));
	buf[n] = 0;
	if (peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, ip, sizeof(ip));
	n = snprintf(out, sizeof(out), "%s %s", ip, buf);
	CHECK(write(cfd, out, (size_t)n) == n, "write reply");
	close(cfd);
	close(lfd);
	return 0;
}

static int echo_client(void *arg)
{
	struct client_args *a = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[512], want[512];
	int fd, fam;
	ssize_t n;

	fam = make_addr(a->dst_ip, PORT, &ss, &len);
	fd = socket(fam, SOCK_STREAM, 0);
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		CHECK(a->expect_errno == errno, "connect %s: %s (expected %s)", a->dst_ip,
		      strerror(errno), a->expect_errno ? strerror(a->expect_errno) : "success");
		close(fd);
		return 0;
	}
	CHECK(a->expect_errno == 0, "connect %s succeeded, expected %s", a->dst_ip,
	      strerror(a->expect_errno));
	CHECK(write(fd, "hello", 5) == 5, "write: %s", strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	CHECK(n > 0, "read: %s", strerror(errno));
	buf[n] = 0;
	snprintf(want, sizeof(want), "%s hello", a->expect_src_ip);
	CHECK(strcmp(buf, want) == 0, "reply '%s', want '%s'", buf, want);
	close(fd);
	return 0;
}

/* Server in pod srv bound to bind_ip, client in pod cli connecting to dst_ip. */
static void run_pair(const struct shunt_pod *srv, const char *bind_ip, const struct shunt_pod *cli,
		     struct client_args *ca, const char *what)
{
	struct echo_args ea = {.bind_ip = bind_ip};
	int pfd[2], st;
	pid_t s, c;
	char r;

	CHECK(pipe(pfd) == 0, "pipe");
	ea.ready_fd = pfd[1];
	s = shunt_pod_spawn(srv, echo_server, &ea);
	CHECK(s > 0, "spawn server");
	close(pfd[1]);
	CHECK(read(pfd[0], &r, 1) == 1, "%s: server never got ready", what);
	close(pfd[0]);
	c = shunt_pod_spawn(cli, echo_client, ca);
	CHECK(c > 0, "spawn client");
	st = shunt_pod_wait(c);
	if (ca->expect_errno) /* no connection will reach the server: stop it */
		kill(s, SIGKILL);
	CHECK(st == 0, "%s: client failed (%d)", what, st);
	st = shunt_pod_wait(s);
	CHECK(ca->expect_errno ? st == 128 + SIGKILL : st == 0, "%s: server failed (%d)", what, st);
	printf("ok - %s\n", what);
}

struct membership {
	const struct shunt_pod *pod;
	ino_t root_netns;
};

static int check_membership(void *arg)
{
	struct membership *m = arg;
	const char *cg2 = getenv("SHUNT_CGROUP2");
	char line[1024], want[1024];
	struct stat st;
	FILE *f;
	int found = 0;

	CHECK(stat("/proc/self/ns/net", &st) == 0, "stat netns");
	CHECK(st.st_ino != m->root_netns, "pod %s shares the root netns", m->pod->name);
	snprintf(want, sizeof(want), "0::%s\n", m->pod->cgroup + strlen(cg2));
	f = fopen("/proc/self/cgroup", "r");
	CHECK(f, "open /proc/self/cgroup");
	while (fgets(line, sizeof(line), f))
		found |= strcmp(line, want) == 0;
	fclose(f);
	CHECK(found, "pod %s: not in cgroup %s", m->pod->name, want);
	return 0;
}

int main(void)
{
	struct shunt_pod a, b, c;
	struct membership m;
	struct stat st;

	shunt_test_require_pods();
	CHECK(shunt_pod_lookup("a", &a) == 0 && shunt_pod_lookup("b", &b) == 0 &&
		      shunt_pod_lookup("c", &c) == 0,
	      "run me as: with-pods.sh --nodes 2 --pod 1:a --pod 1:b --pod 2:c -- %s",
	      "pods_selftest");
	CHECK(a.node == 1 && b.node == 1 && c.node == 2, "unexpected node placement");

	CHECK(stat("/proc/self/ns/net", &st) == 0, "stat our netns");
	m.root_netns = st.st_ino;
	for (const struct shunt_pod *p = &a; p; p = p == &a ? &b : p == &b ? &c : NULL) {
		m.pod = p;
		CHECK(shunt_pod_wait(shunt_pod_spawn(p, check_membership, &m)) == 0,
		      "membership of %s", p->name);
	}
	printf("ok - each pod in its own cgroup and netns\n");

	run_pair(&b, b.ip, &a, &(struct client_args){b.ip, a.ip, 0}, "pod-to-pod TCP over IPv4");
	run_pair(&b, b.ip6, &a, &(struct client_args){b.ip6, a.ip6, 0}, "pod-to-pod TCP over IPv6");
	run_pair(&c, c.ip, &a, &(struct client_args){c.ip, a.ip, 0}, "cross-node TCP over IPv4");
	run_pair(&a, a.ip6, &c, &(struct client_args){a.ip6, c.ip6, 0}, "cross-node TCP over IPv6");
	run_pair(&b, "127.0.0.1", &b, &(struct client_args){"127.0.0.1", "127.0.0.1", 0},
		 "loopback inside a pod");
	run_pair(&b, "127.0.0.1", &a, &(struct client_args){"127.0.0.1", "", ECONNREFUSED},
		 "pod loopbacks are isolated");
	printf("pods_selftest: all passed\n");
	return 0;
}
