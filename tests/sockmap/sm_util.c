// SPDX-License-Identifier: Apache-2.0
#include "sm_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define PATTERN_PERIOD 8388593u /* > largest per-connection volume of one window */

static uint8_t *pattern_table;
unsigned long sm_spurious_eagain;

void sm_pattern_init(void)
{
	uint64_t s = 0x5eed5eed12345678ull;
	size_t i, n = PATTERN_PERIOD + SM_PATTERN_SPAN;

	if (pattern_table)
		return;
	pattern_table = malloc(n);
	if (!pattern_table)
		abort();
	for (i = 0; i < n; i += 8) {
		uint64_t v = sm_rand(&s);

		memcpy(pattern_table + i, &v, n - i < 8 ? n - i : 8);
	}
	/* the wrap-around window repeats the start so any window is contiguous */
	memcpy(pattern_table + PATTERN_PERIOD, pattern_table, SM_PATTERN_SPAN);
}

const uint8_t *sm_pattern_ptr(uint64_t seed, uint64_t off)
{
	return pattern_table + (off + seed * 1000003ull) % PATTERN_PERIOD;
}

long sm_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	size_t done = 0, i;

	while (done < len) {
		size_t n = len - done > SM_PATTERN_SPAN ? SM_PATTERN_SPAN : len - done;
		const uint8_t *p = sm_pattern_ptr(seed, off + done);

		if (memcmp(buf + done, p, n)) {
			for (i = 0; i < n; i++)
				if (buf[done + i] != p[i])
					return (long)(done + i);
		}
		done += n;
	}
	return -1;
}

uint64_t sm_rand_log(uint64_t *s, uint64_t max)
{
	unsigned int bits = 0;
	uint64_t hi, v;

	while (bits < 63 && (1ull << bits) < max)
		bits++;
	hi = 1ull << (sm_rand(s) % (bits + 1)); /* 1 .. 2^bits */
	v = 1 + sm_rand(s) % hi;
	return v > max ? max : v;
}

int sm_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return AF_INET6;
	}
	return -EINVAL;
}

int sm_listen(const char *ip, uint16_t port, uint16_t *port_out, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, zero = 0, fd, fam = sm_addr(ip, port, &ss, &len);

	if (fam < 0)
		return fam;
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog))
		goto fail;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	if (port_out)
		*port_out = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						 : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
fail:
	fam = -errno;
	close(fd);
	return fam;
}

int sm_connect_fam(int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, fam = sm_addr(ip, port, &ss, &len);

	if (fam < 0)
		return fam;
	if (family == AF_INET6 && fam == AF_INET) { /* IPv4-mapped from an AF_INET6 socket */
		struct sockaddr_in6 m = {.sin6_family = AF_INET6,
					 .sin6_port = ((struct sockaddr_in *)&ss)->sin_port};

		m.sin6_addr.s6_addr[10] = 0xff;
		m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12], &((struct sockaddr_in *)&ss)->sin_addr, 4);
		memcpy(&ss, &m, sizeof(m));
		len = sizeof(m);
		fam = AF_INET6;
	}
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		fam = -errno;
		close(fd);
		return fam;
	}
	return fd;
}

int sm_connect(const char *ip, uint16_t port)
{
	return sm_connect_fam(0, ip, port);
}

int sm_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sm_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && !(fcntl(fd, F_GETFL) & O_NONBLOCK)) {
				__atomic_add_fetch(&sm_spurious_eagain, 1, __ATOMIC_RELAXED);
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sm_send_pattern(int fd, uint64_t seed, size_t len, size_t chunk)
{
	size_t off = 0;
	int err;

	if (chunk > SM_PATTERN_SPAN)
		chunk = SM_PATTERN_SPAN;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		err = sm_write_full(fd, sm_pattern_ptr(seed, off), n);
		if (err)
			return err;
		off += n;
	}
	return 0;
}

int sm_recv_pattern(int fd, uint64_t seed, size_t len)
{
	uint8_t *buf = malloc(1 << 16);
	size_t off = 0;
	long bad;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (off < len) {
		size_t want = len - off < (1 << 16) ? len - off : (1 << 16);
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !(fcntl(fd, F_GETFL) & O_NONBLOCK)) {
			__atomic_add_fetch(&sm_spurious_eagain, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (n <= 0) {
			err = n < 0 ? -errno : -EPIPE;
			fprintf(stderr, "recv_pattern: %s after %zu of %zu bytes\n",
				n < 0 ? strerror(errno) : "EOF", off, len);
			goto cleanup;
		}
		bad = sm_check(buf, (size_t)n, seed, off);
		if (bad >= 0) {
			fprintf(stderr, "recv_pattern: byte %zu differs (stream %llu)\n",
				off + (size_t)bad, (unsigned long long)seed);
			err = -EBADMSG;
			goto cleanup;
		}
		off += (size_t)n;
	}
cleanup:
	free(buf);
	return err;
}

int sm_tcpinfo(int fd, struct sm_tcpinfo *ti)
{
	struct tcp_info i;
	socklen_t len = sizeof(i);

	memset(&i, 0, sizeof(i));
	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &i, &len))
		return -errno;
	ti->data_segs_out = i.tcpi_data_segs_out;
	ti->data_segs_in = i.tcpi_data_segs_in;
	ti->bytes_sent = i.tcpi_bytes_sent;
	ti->bytes_received = i.tcpi_bytes_received;
	return 0;
}

uint64_t sm_netns_outsegs(void)
{
	char line[1024], hdr[1024];
	FILE *f = fopen("/proc/net/snmp", "r");
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(hdr, sizeof(hdr), f)) {
		if (strncmp(hdr, "Tcp:", 4) || !fgets(line, sizeof(line), f))
			continue;
		/* header line names the columns; the next line has the values */
		{
			char *hs, *vs, *ht = strtok_r(hdr, " \n", &hs),
				       *vt = strtok_r(line, " \n", &vs);

			while (ht && vt) {
				if (!strcmp(ht, "OutSegs"))
					v = strtoull(vt, NULL, 10);
				ht = strtok_r(NULL, " \n", &hs);
				vt = strtok_r(NULL, " \n", &vs);
			}
		}
		break;
	}
	fclose(f);
	return v;
}

/* ------------------------------------------------------------ engine */

struct client_conn {
	int fd;
	uint64_t seed, total, sent, echoed, maxw;
	uint64_t chunk_left; /* rest of the current random-size write */
	bool hdr_sent, shut, eof;
	uint8_t hdr[16];
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ? -errno : 0;
}

static int client_write(struct client_conn *c, uint64_t *rng)
{
	while (!c->hdr_sent || c->sent < c->total) {
		ssize_t n;

		if (!c->hdr_sent) {
			n = send(c->fd, c->hdr, sizeof(c->hdr), MSG_NOSIGNAL);
			if (n == (ssize_t)sizeof(c->hdr)) {
				c->hdr_sent = true;
				continue;
			}
			if (n >= 0) /* 16 bytes on a fresh socket never split in practice */
				return -EIO;
		} else {
			uint64_t w;

			if (!c->chunk_left)
				c->chunk_left = sm_rand(rng) % c->maxw + 1;
			w = c->chunk_left;
			if (w > c->total - c->sent)
				w = c->total - c->sent;
			n = send(c->fd, sm_pattern_ptr(c->seed, c->sent), w, MSG_NOSIGNAL);
			if (n > 0) {
				c->sent += (uint64_t)n;
				c->chunk_left = (uint64_t)n >= c->chunk_left
							? 0
							: c->chunk_left - (uint64_t)n;
				continue;
			}
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : -EIO;
	}
	if (!c->shut) {
		if (shutdown(c->fd, SHUT_WR))
			return -errno;
		c->shut = true;
	}
	return 0;
}

static int client_read(struct client_conn *c, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, cap, 0);
		long bad;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			c->eof = true;
			if (c->echoed != c->total) {
				fprintf(stderr,
					"engine: stream %llu: EOF after %llu of %llu echoed\n",
					(unsigned long long)c->seed, (unsigned long long)c->echoed,
					(unsigned long long)c->total);
				return -EPIPE;
			}
			return 0;
		}
		if (c->echoed + (uint64_t)n > c->total) {
			fprintf(stderr, "engine: stream %llu: more echo than sent\n",
				(unsigned long long)c->seed);
			return -EBADMSG;
		}
		bad = sm_check(buf, (size_t)n, c->seed, c->echoed);
		if (bad >= 0) {
			fprintf(stderr, "engine: stream %llu: echo byte %llu differs\n",
				(unsigned long long)c->seed,
				(unsigned long long)(c->echoed + (uint64_t)bad));
			return -EBADMSG;
		}
		c->echoed += (uint64_t)n;
	}
}

int sm_engine_client(const struct sm_engine_opts *o, struct sm_engine_result *r)
{
	struct client_conn *cs = calloc((size_t)o->nconns, sizeof(*cs));
	struct epoll_event ev, evs[256];
	uint64_t rng = o->seed | 1, budget = o->total_cap, volume = 0, done_bytes = 0;
	size_t cap = 1 << 18;
	uint8_t *buf = malloc(cap);
	int ep = epoll_create1(EPOLL_CLOEXEC), i, err = 0, done = 0;
	bool paused = false;

	memset(r, 0, sizeof(*r));
	if (!cs || !buf || ep < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < o->nconns; i++)
		cs[i].fd = -1;
	for (i = 0; i < o->nconns; i++) {
		struct client_conn *c = &cs[i];
		uint64_t share = budget / (uint64_t)(o->nconns - i);

		c->seed = o->seed * 100003ull + (uint64_t)i;
		c->total = sm_rand_log(&rng, o->max_conn);
		if (c->total > share * 4)
			c->total = share * 4 > 0 ? share * 4 : 1;
		budget = budget > c->total ? budget - c->total : 0;
		c->maxw = sm_rand_log(&rng, o->max_write);
		/* bound the number of writes per connection */
		if (c->maxw < c->total / 4096)
			c->maxw = c->total / 4096;
		memcpy(c->hdr, &c->seed, 8);
		memcpy(c->hdr + 8, &c->total, 8);
		volume += c->total;
		c->fd = sm_connect(o->dst_ip, o->port);
		if (c->fd < 0) {
			err = c->fd;
			fprintf(stderr, "engine: connect %d: %s\n", i, strerror(-err));
			goto cleanup;
		}
		if ((err = set_nonblock(c->fd)))
			goto cleanup;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev)) {
			err = -errno;
			goto cleanup;
		}
	}
	while (done < o->nconns) {
		int n = epoll_wait(ep, evs, 256, 60000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "engine: no progress for 60 s (%d/%d done)\n", done,
				o->nconns);
			err = -ETIMEDOUT;
			goto cleanup;
		}
		for (int k = 0; k < n; k++) {
			struct client_conn *c = &cs[evs[k].data.u32];

			if (c->fd < 0)
				continue;
			if (!paused && (evs[k].events & EPOLLOUT)) {
				err = client_write(c, &rng);
				if (err)
					goto cleanup;
				if (c->shut) { /* no more EPOLLOUT interest */
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.u32 = evs[k].data.u32;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				uint64_t before = c->echoed;

				err = client_read(c, buf, cap);
				if (err)
					goto cleanup;
				done_bytes += c->echoed - before;
			}
			if (c->eof) {
				r->sent += c->sent;
				r->echoed += c->echoed;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				done++;
			}
		}
		if (o->pause_fd >= 0 && !paused && done_bytes * 2 >= volume) {
			char b;

			/* stop writing and reading: data stays queued in the kernel while the
			 * test does something to shuntd, then resume */
			paused = true;
			if (write(o->pause_fd, "h", 1) != 1 || read(o->resume_fd, &b, 1) != 1) {
				err = -EPIPE;
				goto cleanup;
			}
			/* writers may have been waiting on EPOLLOUT: re-arm all */
			for (i = 0; i < o->nconns; i++) {
				if (cs[i].fd < 0)
					continue;
				ev.events = EPOLLIN | EPOLLRDHUP | (cs[i].shut ? 0 : EPOLLOUT);
				ev.data.u32 = (uint32_t)i;
				epoll_ctl(ep, EPOLL_CTL_MOD, cs[i].fd, &ev);
			}
			paused = false;
			done_bytes = 0;
			volume = UINT64_MAX / 4; /* once */
		}
	}
	r->conns_done = done;
cleanup:
	for (i = 0; cs && i < o->nconns; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	if (ep >= 0)
		close(ep);
	free(cs);
	free(buf);
	return err;
}

#define SRV_BUF (1 << 16)

struct server_conn {
	int fd;
	uint8_t hdr[16];
	size_t hdr_len;
	uint64_t seed, total, got;
	uint8_t *buf;
	size_t len, off; /* pending echo */
	bool eof;
};

static int server_flush(struct server_conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c->off += (size_t)n;
	}
	c->len = c->off = 0;
	return 0;
}

/* Returns 1 when the connection is finished. */
static int server_step(struct server_conn *c)
{
	int err;

	err = server_flush(c);
	if (err)
		return err;
	while (c->len == 0 && !c->eof) {
		ssize_t n;

		if (c->hdr_len < sizeof(c->hdr)) {
			n = recv(c->fd, c->hdr + c->hdr_len, sizeof(c->hdr) - c->hdr_len, 0);
			if (n > 0) {
				c->hdr_len += (size_t)n;
				if (c->hdr_len == sizeof(c->hdr)) {
					memcpy(&c->seed, c->hdr, 8);
					memcpy(&c->total, c->hdr + 8, 8);
				}
				continue;
			}
		} else {
			n = recv(c->fd, c->buf, SRV_BUF, 0);
			if (n > 0) {
				long bad = sm_check(c->buf, (size_t)n, c->seed, c->got);

				if (bad >= 0 || c->got + (uint64_t)n > c->total) {
					fprintf(stderr, "server: stream %llu: byte %llu differs\n",
						(unsigned long long)c->seed,
						(unsigned long long)(c->got +
								     (uint64_t)(bad < 0 ? 0
											: bad)));
					return -EBADMSG;
				}
				c->got += (uint64_t)n;
				c->len = (size_t)n;
				c->off = 0;
				err = server_flush(c);
				if (err)
					return err;
				continue;
			}
		}
		if (n == 0) {
			c->eof = true;
			if (c->hdr_len < sizeof(c->hdr) || c->got != c->total) {
				fprintf(stderr, "server: stream %llu: EOF after %llu of %llu\n",
					(unsigned long long)c->seed, (unsigned long long)c->got,
					(unsigned long long)c->total);
				return -EPIPE;
			}
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		return -errno;
	}
	if (c->eof && c->len == 0) {
		if (shutdown(c->fd, SHUT_WR))
			return -errno;
		return 1;
	}
	return 0;
}

int sm_engine_server(int lfd, int nconns)
{
	struct server_conn *cs = calloc((size_t)nconns, sizeof(*cs));
	struct epoll_event ev, evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC), accepted = 0, done = 0, i, err = 0;

	if (!cs || ep < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < nconns; i++)
		cs[i].fd = -1;
	ev.events = EPOLLIN;
	ev.data.u32 = UINT32_MAX;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		err = -errno;
		goto cleanup;
	}
	while (done < nconns) {
		int n = epoll_wait(ep, evs, 256, 60000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "server: no progress for 60 s (%d/%d done)\n", done,
				nconns);
			err = -ETIMEDOUT;
			goto cleanup;
		}
		for (int k = 0; k < n; k++) {
			struct server_conn *c;
			int r;

			if (evs[k].data.u32 == UINT32_MAX) {
				while (accepted < nconns) {
					int fd = accept4(lfd, NULL, NULL,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0)
						break;
					c = &cs[accepted];
					c->fd = fd;
					c->buf = malloc(SRV_BUF);
					if (!c->buf) {
						err = -ENOMEM;
						goto cleanup;
					}
					ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
					ev.data.u32 = (uint32_t)accepted;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
						err = -errno;
						goto cleanup;
					}
					accepted++;
				}
				continue;
			}
			c = &cs[evs[k].data.u32];
			if (c->fd < 0)
				continue;
			r = server_step(c);
			if (r < 0) {
				err = r;
				goto cleanup;
			}
			if (r == 1) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				free(c->buf);
				c->buf = NULL;
				done++;
			}
		}
	}
cleanup:
	for (i = 0; cs && i < nconns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].buf);
	}
	if (ep >= 0)
		close(ep);
	free(cs);
	return err;
}
