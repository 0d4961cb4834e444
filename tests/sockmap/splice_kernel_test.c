// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel test of splice (see "Splice" in bpf/shunt_bpf.h), run in a pod:
 *   with-pods.sh --pod 1:a -- splice_kernel_test
 *
 * The test joins pod a and starts the agent (with the interception group,
 * which serves the SHUNT_SOL options) on node 1's cgroup. On loopback a client
 * C connects to a relay listener (accepted: X), the relay connects Y to a
 * server listener (accepted: B). The test plays the relay: by hand where the
 * order of events matters, with a relay thread (forward, then report FWD)
 * for the pipelined streams. Every byte is checked against its stream offset;
 * "lands at X, not at B" is checked right after the send returned (a
 * redirect is enqueued before sendmsg returns), with poll and no sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pods.h"
#include "shunt_agent.h"
#include "sm_util.h"
#include "testutil.h"

#define TIMEOUT_MS 20000

static struct shunt_agent *agent;
static int lfd_relay = -1, lfd_server = -1;
static uint16_t port_relay, port_server;

static void stop_agent(void)
{
	if (agent)
		shunt_agent_stop(agent);
	agent = NULL;
}

/* ------------------------------------------------------------ helpers */

static uint64_t cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	CHECK(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) == 0, "SO_COOKIE: %s",
	      strerror(errno));
	return c;
}

static int set_u64(int fd, int opt, uint64_t v)
{
	return setsockopt(fd, SHUNT_SOL, opt, &v, sizeof(v)) ? -errno : 0;
}

static struct shunt_splice_info info(int fd)
{
	struct shunt_splice_info si;
	socklen_t len = sizeof(si);

	memset(&si, 0xff, sizeof(si));
	CHECK(getsockopt(fd, SHUNT_SOL, SHUNT_SO_SPLICE_INFO, &si, &len) == 0,
	      "SHUNT_SO_SPLICE_INFO: %s", strerror(errno));
	CHECK(len == sizeof(si), "info length %u", len);
	return si;
}

static uint64_t counter(int idx)
{
	uint64_t cnt[SHUNT_CNT__MAX];

	CHECK(shunt_counters_read(shunt_agent_counters_fd(agent), cnt) == 0, "counters");
	return cnt[idx];
}

struct find_ctx {
	uint64_t cookie;
	struct shunt_conn c;
	bool found;
};

static int find_cb(const struct shunt_sock_key *k, const struct shunt_conn *c, void *arg)
{
	struct find_ctx *f = arg;

	(void)k;
	if (c->cookie != f->cookie)
		return 0;
	f->c = *c;
	f->found = true;
	return 1;
}

/* The shunt_conns record of fd (must exist). */
static struct shunt_conn conn_of(int fd)
{
	struct find_ctx f = {.cookie = cookie(fd)};

	shunt_conns_foreach(shunt_agent_conns_fd(agent), find_cb, &f);
	CHECK(f.found, "socket %d not tracked", fd);
	return f.c;
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* Stream content: byte o of a stream is byte o % 4 of the u32 record o / 4
 * (little endian), so loss, duplication and reordering all show. */
static uint8_t seq_byte(uint64_t o)
{
	return (uint8_t)((o / 4) >> (8 * (o % 4)));
}

static void seq_fill(uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = seq_byte(off + i);
}

/* Send len stream bytes from offset *off (blocking), advancing *off. */
static void seq_send(int fd, uint64_t *off, size_t len)
{
	uint8_t *buf = malloc(len);

	CHECK(buf, "malloc");
	seq_fill(buf, len, *off);
	CHECK(sm_write_full(fd, buf, len) == 0, "write %zu: %s", len, strerror(errno));
	*off += len;
	free(buf);
}

/* Read exactly len bytes (poll, bounded) and check them against offset *off. */
static void seq_expect(int fd, uint64_t *off, size_t len)
{
	uint8_t buf[65536];

	while (len) {
		size_t want = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t n;

		CHECK(readable(fd, TIMEOUT_MS), "no data on fd %d (%zu bytes missing)", fd, len);
		n = recv(fd, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		CHECK(n > 0, "recv: %zd %s", n, strerror(errno));
		for (ssize_t i = 0; i < n; i++)
			CHECK(buf[i] == seq_byte(*off + i), "byte %llu wrong: %u, want %u",
			      (unsigned long long)(*off + i), buf[i], seq_byte(*off + i));
		*off += n;
		len -= n;
	}
}

/* Relay by hand: move exactly len bytes from -> to. */
static void forward(int from, int to, size_t len)
{
	uint8_t buf[65536];

	while (len) {
		ssize_t n;

		CHECK(readable(from, TIMEOUT_MS), "relay: nothing to read (%zu missing)", len);
		n = recv(from, buf, len < sizeof(buf) ? len : sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		CHECK(n > 0, "relay recv: %zd %s", n, strerror(errno));
		CHECK(sm_write_full(to, buf, n) == 0, "relay write");
		len -= n;
	}
}

struct quad {
	int c, x, y, b;
};

static void quad_open(struct quad *q)
{
	q->c = sm_connect("127.0.0.1", port_relay);
	CHECK(q->c >= 0, "connect relay: %s", strerror(-q->c));
	q->x = accept(lfd_relay, NULL, NULL);
	CHECK(q->x >= 0, "accept: %s", strerror(errno));
	q->y = sm_connect("127.0.0.1", port_server);
	CHECK(q->y >= 0, "connect server: %s", strerror(-q->y));
	q->b = accept(lfd_server, NULL, NULL);
	CHECK(q->b >= 0, "accept: %s", strerror(errno));
	CHECK(conn_of(q->c).state == SHUNT_CONN_REDIRECT, "C not redirecting");
	CHECK(conn_of(q->x).state == SHUNT_CONN_REDIRECT, "X not redirecting");
	CHECK(conn_of(q->y).state == SHUNT_CONN_REDIRECT, "Y not redirecting");
	CHECK(conn_of(q->b).state == SHUNT_CONN_REDIRECT, "B not redirecting");
}

static void quad_link(struct quad *q)
{
	uint64_t n0 = counter(SHUNT_CNT_SPLICE_LINKED);

	CHECK(set_u64(q->y, SHUNT_SO_SPLICE, cookie(q->x)) == 0, "claim");
	CHECK(set_u64(q->x, SHUNT_SO_SPLICE, cookie(q->y)) == 0, "link");
	CHECK(counter(SHUNT_CNT_SPLICE_LINKED) == n0 + 1, "not linked");
}

static void quad_close(struct quad *q)
{
	close(q->c);
	close(q->x);
	close(q->y);
	close(q->b);
}

/* ------------------------------------------------------------ relay thread */

struct relay {
	int x, y, stop_efd, note_efd;
	pthread_t th;
	_Atomic uint64_t from_x, from_y; /* forwarded */
	_Atomic bool report_x, report_y; /* FWD reporting on */
};

/* One direction: read what is there, write it all, then report FWD. */
static int relay_step(int from, int to, _Atomic uint64_t *total, _Atomic bool *report)
{
	uint8_t buf[65536];
	ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && errno == EAGAIN)
		return 1;
	if (n < 0)
		return -errno;
	if (n == 0) {
		shutdown(to, SHUT_WR); /* half-close through the relay */
		return 0;
	}
	if (sm_write_full(to, buf, n))
		return -EIO;
	*total += n;
	if (*report && set_u64(from, SHUNT_SO_SPLICE_FWD, *total))
		*report = false; /* no switch possible any more: stop reporting */
	return 1;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	bool open_x = true, open_y = true;
	uint64_t one = 1;

	while (open_x || open_y) {
		struct pollfd p[3] = {{.fd = open_x ? r->x : -1, .events = POLLIN},
				      {.fd = open_y ? r->y : -1, .events = POLLIN},
				      {.fd = r->stop_efd, .events = POLLIN}};
		int st;

		CHECK(poll(p, 3, -1) > 0, "relay poll: %s", strerror(errno));
		if (p[2].revents)
			break;
		if (p[0].revents) {
			st = relay_step(r->x, r->y, &r->from_x, &r->report_x);
			CHECK(st >= 0, "relay X->Y: %s", strerror(-st));
			open_x = st > 0;
		}
		if (p[1].revents) {
			st = relay_step(r->y, r->x, &r->from_y, &r->report_y);
			CHECK(st >= 0, "relay Y->X: %s", strerror(-st));
			open_y = st > 0;
		}
		CHECK(write(r->note_efd, &one, sizeof(one)) == sizeof(one), "eventfd");
	}
	return NULL;
}

static void relay_start(struct relay *r, const struct quad *q, bool report)
{
	memset(r, 0, sizeof(*r));
	r->x = q->x;
	r->y = q->y;
	r->report_x = r->report_y = report;
	r->stop_efd = eventfd(0, EFD_CLOEXEC);
	r->note_efd = eventfd(0, EFD_CLOEXEC);
	CHECK(r->stop_efd >= 0 && r->note_efd >= 0, "eventfd");
	CHECK(pthread_create(&r->th, NULL, relay_main, r) == 0, "pthread_create");
}

/* Wait until the relay forwarded *from == want bytes, or at least want
 * (its eventfd, bounded). */
static void relay_wait_(struct relay *r, _Atomic uint64_t *from, uint64_t want, bool atleast)
{
	uint64_t v;

	while (atleast ? *from < want : *from != want) {
		CHECK(readable(r->note_efd, TIMEOUT_MS), "relay stuck at %llu of %llu",
		      (unsigned long long)*from, (unsigned long long)want);
		CHECK(read(r->note_efd, &v, sizeof(v)) == sizeof(v), "eventfd read");
	}
}

static void relay_wait(struct relay *r, _Atomic uint64_t *from, uint64_t want)
{
	relay_wait_(r, from, want, false);
}

static void relay_join(struct relay *r)
{
	uint64_t one = 1;

	CHECK(write(r->stop_efd, &one, sizeof(one)) == sizeof(one), "eventfd");
	pthread_join(r->th, NULL);
	close(r->stop_efd);
	close(r->note_efd);
}

/* ------------------------------------------------------------ stream threads */

struct stream {
	int fd;
	uint64_t len;
	uint64_t seed;
	pthread_t th;
};

/* Writer: the whole stream in sends of 24..56 KiB (an average above the
 * adaptive small-write limit, so no fallback interferes). */
static void *writer_main(void *arg)
{
	struct stream *s = arg;
	uint64_t off = 0, rnd = s->seed;

	while (off < s->len) {
		uint64_t n = 24576 + sm_rand(&rnd) % 32768;

		seq_send(s->fd, &off, n < s->len - off ? n : s->len - off);
	}
	return NULL;
}

/* Reader: exactly len stream bytes, then EOF. */
static void *reader_main(void *arg)
{
	struct stream *s = arg;
	uint64_t off = 0;
	char c;

	seq_expect(s->fd, &off, s->len);
	CHECK(readable(s->fd, TIMEOUT_MS), "no EOF after %llu bytes", (unsigned long long)s->len);
	CHECK(recv(s->fd, &c, 1, 0) == 0, "data after the stream's end");
	return NULL;
}

static void stream_start(struct stream *s, int fd, uint64_t len, void *(*fn)(void *))
{
	s->fd = fd;
	s->len = len;
	s->seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)fd;
	CHECK(pthread_create(&s->th, NULL, fn, s) == 0, "pthread_create");
}

/* ------------------------------------------------------------ tests */

/* Link rules, then each direction switches exactly when the relay caught up. */
static void t_link_and_switch(void)
{
	struct quad q;
	struct shunt_splice_info si;
	uint64_t c_off = 0, b_in = 0, b_off = 0, c_in = 0, sw0, n0;
	uint32_t small = 1;
	int u;

	quad_open(&q);
	/* refusals */
	u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(u >= 0, "socket");
	CHECK(set_u64(u, SHUNT_SO_SPLICE, cookie(q.y)) == -ENOENT, "untracked socket not ENOENT");
	close(u);
	CHECK(setsockopt(q.x, SHUNT_SOL, SHUNT_SO_SPLICE, &small, sizeof(small)) == -1 &&
		      errno == EINVAL,
	      "4-byte option not EINVAL");
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE_FWD, 0) == -ENOLINK, "FWD unlinked not ENOLINK");
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE, cookie(q.x)) == -EINVAL, "self link not EINVAL");
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE, cookie(q.c)) == -EINVAL, "peer link not EINVAL");
	si = info(q.x);
	CHECK(!si.linked && !si.switched && !si.bytes && !si.msgs, "untouched socket has info");

	/* Y claims X; X names B, which never claimed X back: no link */
	n0 = counter(SHUNT_CNT_SPLICE_LINKED);
	sw0 = counter(SHUNT_CNT_SPLICE_SWITCHED);
	CHECK(set_u64(q.y, SHUNT_SO_SPLICE, cookie(q.x)) == 0, "claim: %s", strerror(errno));
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE, cookie(q.b)) == 0, "one-sided claim: %s",
	      strerror(errno));
	CHECK(counter(SHUNT_CNT_SPLICE_LINKED) == n0, "one-sided claim linked");
	CHECK(!info(q.x).linked && !info(q.y).linked, "one-sided claim linked");
	seq_send(q.c, &c_off, 100);
	CHECK(!readable(q.b, 0), "unlinked: data reached B");
	forward(q.x, q.y, 100);
	seq_expect(q.b, &b_in, 100);
	seq_send(q.b, &b_off, 100);
	CHECK(!readable(q.c, 0), "unlinked: data reached C");
	forward(q.y, q.x, 100);
	seq_expect(q.c, &c_in, 100);
	CHECK(counter(SHUNT_CNT_SPLICE_SWITCHED) == sw0, "unlinked: switched");

	/* the real link: X names Y, which claimed X */
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE, cookie(q.y)) == 0, "link: %s", strerror(errno));
	CHECK(counter(SHUNT_CNT_SPLICE_LINKED) == n0 + 1, "LINKED counter");
	CHECK(info(q.x).linked && info(q.y).linked, "info: not linked");
	CHECK(conn_of(q.x).splice & SHUNT_SPLICE_LINKED, "X flag");
	CHECK(conn_of(q.b).splice & SHUNT_SPLICE_IN, "B not SPLICE_IN");
	CHECK(conn_of(q.c).splice & SHUNT_SPLICE_IN, "C not SPLICE_IN");
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE, cookie(q.y)) == -EALREADY, "relink not EALREADY");

	/* C -> B: 100 bytes were forwarded but never reported: no switch yet */
	seq_send(q.c, &c_off, 200);
	CHECK(readable(q.x, 0) && !readable(q.b, 0), "before FWD: not at X only");
	forward(q.x, q.y, 200);
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE_FWD, 250) == 0, "FWD: %s", strerror(errno));
	seq_send(q.c, &c_off, 50); /* 350 sent, 250 reported: still the relay's */
	CHECK(readable(q.x, 0), "before the switch: not at X");
	forward(q.x, q.y, 50);
	seq_expect(q.b, &b_in, 250);
	CHECK(!readable(q.b, 0), "relay's bytes duplicated");
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE_FWD, 350) == 0, "FWD: %s", strerror(errno));
	CHECK(!info(q.x).switched && conn_of(q.c).splice == SHUNT_SPLICE_IN, "switched early");
	seq_send(q.c, &c_off, 80); /* everything forwarded: this one goes past the relay */
	CHECK(!readable(q.x, 0), "after the switch: data at X");
	seq_expect(q.b, &b_in, 80);
	CHECK(counter(SHUNT_CNT_SPLICE_SWITCHED) == sw0 + 1, "SWITCHED counter");
	si = info(q.x);
	CHECK(si.linked && si.switched && si.bytes == 80 && si.msgs == 1,
	      "info X: linked %u switched %u bytes %llu msgs %llu", si.linked, si.switched,
	      (unsigned long long)si.bytes, (unsigned long long)si.msgs);
	CHECK(set_u64(q.x, SHUNT_SO_SPLICE_FWD, 350) == -ENOLINK, "FWD after switch not ENOLINK");

	/* B -> C, the same (B's first 100 bytes went through the relay) */
	seq_send(q.b, &b_off, 40);
	CHECK(readable(q.y, 0) && !readable(q.c, 0), "B before FWD: not at Y only");
	forward(q.y, q.x, 40);
	CHECK(set_u64(q.y, SHUNT_SO_SPLICE_FWD, 100) == 0, "FWD Y: %s", strerror(errno));
	seq_send(q.b, &b_off, 20); /* 140 sent, 100 reported */
	CHECK(readable(q.y, 0), "B before the switch: not at Y");
	forward(q.y, q.x, 20);
	CHECK(set_u64(q.y, SHUNT_SO_SPLICE_FWD, 160) == 0, "FWD Y: %s", strerror(errno));
	seq_send(q.b, &b_off, 60);
	CHECK(!readable(q.y, 0), "B after the switch: data at Y");
	seq_expect(q.c, &c_in, 120);
	CHECK(counter(SHUNT_CNT_SPLICE_SWITCHED) == sw0 + 2, "SWITCHED counter B");
	si = info(q.y);
	CHECK(si.linked && si.switched && si.bytes == 60, "info Y");

	/* ping-pong of 64 B writes past the relay: each side's sends break the
	 * other's one-way run, so neither falls back as a small-write stream */
	n0 = counter(SHUNT_CNT_MSG_PASSED);
	for (int i = 0; i < 300; i++) {
		seq_send(q.c, &c_off, 64);
		seq_expect(q.b, &b_in, 64);
		seq_send(q.b, &b_off, 64);
		seq_expect(q.c, &c_in, 64);
	}
	CHECK(counter(SHUNT_CNT_MSG_PASSED) == n0, "ping-pong over a splice fell back to TCP");
	CHECK(conn_of(q.c).state == SHUNT_CONN_REDIRECT &&
		      conn_of(q.b).state == SHUNT_CONN_REDIRECT,
	      "ping-pong: state");
	CHECK(info(q.x).bytes == 80 + 300 * 64 && info(q.y).bytes == 60 + 300 * 64,
	      "spliced bytes");
	CHECK(!readable(q.x, 0) && !readable(q.y, 0), "ping-pong went through the relay");

	/* EOF: C's FIN reaches X (TCP), the relay passes it on */
	CHECK(shutdown(q.c, SHUT_WR) == 0, "shutdown");
	CHECK(readable(q.x, TIMEOUT_MS) && recv(q.x, &u, 1, 0) == 0, "relay: no EOF on X");
	CHECK(shutdown(q.y, SHUT_WR) == 0, "shutdown Y");
	CHECK(readable(q.b, TIMEOUT_MS) && recv(q.b, &u, 1, 0) == 0, "B: no EOF");
	quad_close(&q);
	printf("  link rules, switch at the caught-up send both ways, ping-pong, EOF: ok\n");
}

/* A chain: a second relay links C1 (and C2), so X1, C1's peer, receives
 * spliced data. A sender into X1 must then not switch past the first relay
 * (X1's FWD total could count the other sender's bytes while some of its own
 * still wait in X1): caught up or not, its bytes keep going through X1. */
static void t_chain(void)
{
	struct quad q1, q2;
	uint64_t off = 0, in = 0, sw0;

	quad_open(&q1);
	quad_open(&q2);
	quad_link(&q1);
	CHECK(set_u64(q2.c, SHUNT_SO_SPLICE, cookie(q1.c)) == 0, "chain claim: %s",
	      strerror(errno));
	CHECK(set_u64(q1.c, SHUNT_SO_SPLICE, cookie(q2.c)) == 0, "chain link: %s", strerror(errno));
	CHECK(conn_of(q1.x).splice & SHUNT_SPLICE_IN, "X1 not SPLICE_IN");
	sw0 = counter(SHUNT_CNT_SPLICE_SWITCHED);
	seq_send(q1.c, &off, 100); /* 0 redirected == 0 reported, but X1 is IN */
	CHECK(readable(q1.x, 0) && !readable(q1.b, 0), "chain: C1 switched past X1");
	CHECK(counter(SHUNT_CNT_SPLICE_SWITCHED) == sw0, "chain: SWITCHED counter");
	forward(q1.x, q1.y, 100);
	seq_expect(q1.b, &in, 100);
	quad_close(&q1);
	quad_close(&q2);
	printf("  a relay socket receiving spliced data: no switch past it: ok\n");
}

/* The relay's pair ends: when the first of X and Y closes (here Y, at
 * TCP_CLOSE once B closed too), sockops deletes both splice entries, and a
 * switched sender sends to its relay socket again instead of into B. */
static void t_unlink_on_close(void)
{
	struct quad q;
	uint64_t c_off = 0, b_in = 0, x_in;
	int end, u;

	quad_open(&q);
	quad_link(&q);
	seq_send(q.c, &c_off, 10); /* 0 redirected == 0 forwarded: switches */
	CHECK(!readable(q.x, 0), "not switched");
	seq_expect(q.b, &b_in, 10);
	CHECK(info(q.x).bytes == 10, "spliced bytes before the close");
	close(q.y);
	q.y = -1;
	CHECK(readable(q.b, TIMEOUT_MS) && recv(q.b, &u, 1, 0) == 0, "B: no EOF");
	close(q.b);
	q.b = -1;
	/* Y reaches TCP_CLOSE when B's FIN arrives: wait for the entries to go */
	for (end = 0; info(q.x).bytes != 0 && end < TIMEOUT_MS; end += 5)
		poll(NULL, 0, 5);
	CHECK(info(q.x).bytes == 0, "splice entry of X still there after Y closed");
	x_in = c_off;
	seq_send(q.c, &c_off, 10);
	CHECK(readable(q.x, 0), "after the pair ended: C's bytes not at X");
	seq_expect(q.x, &x_in, 10);
	quad_close(&q);
	printf("  the pair ends with its first socket: senders back to the relay: ok\n");
}

/* Both directions pipelined with the relay forwarding and reporting as it
 * goes: the switch happens wherever the relay catches up; B and C must read
 * their exact sequences, then EOF through the relay. */
static void t_pipelined(void)
{
	const uint64_t len = 24u << 20;
	struct stream wc, wb, rb, rc;
	struct relay r;
	struct quad q;
	uint64_t c_off = len, b_off = len;
	struct shunt_splice_info sx, sy;

	quad_open(&q);
	relay_start(&r, &q, false);
	stream_start(&rb, q.b, len + 65536, reader_main);
	stream_start(&rc, q.c, len + 65536, reader_main);
	stream_start(&wc, q.c, len, writer_main);
	stream_start(&wb, q.b, len, writer_main);
	/* link mid-stream, like a relay whose client sent before the upstream
	 * connection was up: the switch waits for the relay to catch up */
	relay_wait_(&r, &r.from_x, 1u << 20, true);
	relay_wait_(&r, &r.from_y, 1u << 20, true);
	quad_link(&q);
	r.report_x = r.report_y = true;
	pthread_join(wc.th, NULL);
	pthread_join(wb.th, NULL);
	/* whatever happened, once the relay caught up the next send switches */
	relay_wait(&r, &r.from_x, len - info(q.x).bytes);
	relay_wait(&r, &r.from_y, len - info(q.y).bytes);
	seq_send(q.c, &c_off, 65536);
	seq_send(q.b, &b_off, 65536);
	sx = info(q.x);
	sy = info(q.y);
	CHECK(sx.switched && sy.switched, "not switched: X %u Y %u", sx.switched, sy.switched);
	CHECK(r.from_x + sx.bytes == len + 65536 && r.from_y + sy.bytes == len + 65536,
	      "relay %llu + spliced %llu != sent", (unsigned long long)r.from_x,
	      (unsigned long long)sx.bytes);
	printf("  pipelined: C->B %llu via relay, %llu spliced; B->C %llu via relay, %llu "
	       "spliced\n",
	       (unsigned long long)r.from_x, (unsigned long long)sx.bytes,
	       (unsigned long long)r.from_y, (unsigned long long)sy.bytes);
	CHECK(shutdown(q.c, SHUT_WR) == 0 && shutdown(q.b, SHUT_WR) == 0, "shutdown");
	pthread_join(rb.th, NULL);
	pthread_join(rc.th, NULL);
	relay_join(&r);
	quad_close(&q);
}

/* Stop the agent while spliced: the senders fall back to TCP into X and Y,
 * the relay forwards, the order holds. Last test (the agent is gone). */
static void t_drain(void)
{
	const uint64_t len = 2u << 20;
	struct stream rb, rc;
	struct relay r;
	struct quad q;
	uint64_t c_off = 0, b_off = 0, fx, fy;

	quad_open(&q);
	quad_link(&q);
	relay_start(&r, &q, true);
	stream_start(&rb, q.b, 2 * len + 65536, reader_main);
	stream_start(&rc, q.c, 2 * len + 65536, reader_main);
	seq_send(q.c, &c_off, len);
	seq_send(q.b, &b_off, len);
	relay_wait(&r, &r.from_x, len - info(q.x).bytes);
	relay_wait(&r, &r.from_y, len - info(q.y).bytes);
	seq_send(q.c, &c_off, 65536);
	seq_send(q.b, &b_off, 65536);
	CHECK(info(q.x).switched && info(q.y).switched, "drain: not switched");
	fx = r.from_x;
	fy = r.from_y;
	stop_agent();
	seq_send(q.c, &c_off, len);
	seq_send(q.b, &b_off, len);
	relay_wait(&r, &r.from_x, fx + len);
	relay_wait(&r, &r.from_y, fy + len);
	CHECK(shutdown(q.c, SHUT_WR) == 0 && shutdown(q.b, SHUT_WR) == 0, "shutdown");
	pthread_join(rb.th, NULL);
	pthread_join(rc.th, NULL);
	relay_join(&r);
	CHECK(r.from_x == fx + len && r.from_y == fy + len, "after stop: not all via the relay");
	quad_close(&q);
	printf("  drain: %llu bytes each way via the relay after stop, order kept\n",
	       (unsigned long long)len);
}

int main(void)
{
	struct shunt_opts o;
	struct shunt_pod pod;
	char pin_dir[SHUNT_PATH_MAX];
	const char *cg, *pd;
	int err;

	shunt_test_require_pods();
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(shunt_pod_lookup("a", &pod) == 0, "needs pod 1:a");
	cg = shunt_env("SHUNT_NODE1_CGROUP");
	pd = shunt_env("SHUNT_PIN_DIR");
	CHECK(cg && pd, "harness environment missing");
	snprintf(pin_dir, sizeof(pin_dir), "%s/shunt", pd);
	/* single-threaded here: join the pod (its cgroup is under node 1) */
	err = shunt_pod_join(&pod);
	CHECK(err == 0, "join pod a: %s", strerror(-err));

	shunt_opts_init(&o);
	o.cgroup = cg;
	o.pin_dir = pin_dir;
	/* interception on (it serves SHUNT_SOL); l7 without policy captures nothing */
	o.capture = SHUNT_CAPTURE_L7;
	err = shunt_agent_start(&o, &agent);
	if (err == -EPERM || err == -EOPNOTSUPP)
		shunt_test_skip("cannot load BPF: %s", strerror(-err));
	CHECK(err == 0, "agent start: %s", strerror(-err));
	atexit(stop_agent); /* also on a failed CHECK */
	CHECK(shunt_agent_intercepting(agent), "interception not attached");

	lfd_relay = sm_listen("127.0.0.1", 0, &port_relay, 16);
	lfd_server = sm_listen("127.0.0.1", 0, &port_server, 16);
	CHECK(lfd_relay >= 0 && lfd_server >= 0, "listen");

	printf("splice: link and switch\n");
	t_link_and_switch();
	printf("splice: unlink on close\n");
	t_unlink_on_close();
	printf("splice: chain of relays\n");
	t_chain();
	printf("splice: pipelined both ways\n");
	t_pipelined();
	printf("splice: agent stop while spliced\n");
	t_drain();
	close(lfd_relay);
	close(lfd_server);
	printf("PASS\n");
	return 0;
}
