// SPDX-License-Identifier: Apache-2.0
/* Test upstream server (see upstream_server.h). poll() loop on one thread. */
#include "upstream_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#define US_MAX_CONNS 256
#define US_LOG_CAP   (8u << 20)

struct us_conn {
	int fd;
	llhttp_t parser;
	struct us_server *srv;
	char url[2048];
	size_t url_len;
	char field[64];
	size_t field_len;
	bool field_is_expect;
	bool expect_continue;
	uint64_t body_len, hash;
	bool blocked;  /* waiting for the gate or hanging: stop parsing */
	char *pending; /* input read but not parsed yet */
	size_t pending_len, pending_cap;
	bool gate_wait;
	bool close_after;
	bool echo; /* after a 101: every byte is sent back */
};

struct us_server {
	int lfd, evfd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *log;
	size_t log_len;
	unsigned long requests, connections;
	int gate_releases;
	bool stop;
	struct us_conn *conns[US_MAX_CONNS];
	size_t n_conns;
};

static llhttp_settings_t us_settings;

uint64_t us_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			if (poll(&pfd, 1, 10000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct us_conn *c = p->data;

	if (c->url_len + len < sizeof(c->url)) {
		memcpy(c->url + c->url_len, at, len);
		c->url_len += len;
		c->url[c->url_len] = '\0';
	}
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct us_conn *c = p->data;

	if (c->field_len + len < sizeof(c->field)) {
		memcpy(c->field + c->field_len, at, len);
		c->field_len += len;
	}
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct us_conn *c = p->data;

	if (c->field_len) {
		c->field[c->field_len] = '\0';
		c->field_is_expect = strcasecmp(c->field, "expect") == 0;
		c->field_len = 0;
	}
	if (c->field_is_expect && len >= 12 && strncasecmp(at, "100-continue", 12) == 0)
		c->expect_continue = true;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct us_conn *c = p->data;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->expect_continue)
		write_all(c->fd, cont, sizeof(cont) - 1);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct us_conn *c = p->data;

	c->body_len += len;
	c->hash = us_fnv1a(c->hash, at, len);
	return 0;
}

static void respond(struct us_conn *c)
{
	char head[512], body[2300];
	const char *big = strstr(c->url, "big=");
	size_t blen;
	bool is_head = c->parser.method == HTTP_HEAD;
	bool close_it = strcmp(c->url, "/public/close") == 0;
	bool drop_it = strcmp(c->url, "/public/drop") == 0; /* close without saying so */
	int n;

	if (big) {
		size_t want = strtoull(big + 4, NULL, 10);
		char *b = malloc(want ? want : 1);

		for (size_t i = 0; i < want; i++)
			b[i] = (char)('a' + i % 26);
		n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			     want);
		write_all(c->fd, head, (size_t)n);
		if (!is_head)
			write_all(c->fd, b, want);
		free(b);
		return;
	}
	blen = (size_t)snprintf(body, sizeof(body), "%s %s len=%llu hash=%016llx\n",
				llhttp_method_name(c->parser.method), c->url,
				(unsigned long long)c->body_len, (unsigned long long)c->hash);
	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", blen,
		     close_it ? "Connection: close\r\n" : "");
	write_all(c->fd, head, (size_t)n);
	if (!is_head)
		write_all(c->fd, body, blen);
	if (close_it || drop_it)
		c->close_after = true;
}

static int on_message_complete(llhttp_t *p)
{
	struct us_conn *c = p->data;
	struct us_server *s = c->srv;

	pthread_mutex_lock(&s->lock);
	s->requests++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (strcmp(c->url, "/public/truncate") == 0) {
		static const char t[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..";

		write_all(c->fd, t, sizeof(t) - 1);
		c->close_after = true;
		return 0;
	}
	if (p->upgrade && strcmp(c->url, "/public/tunnel") == 0) {
		static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
					 "Connection: Upgrade\r\n\r\n";

		write_all(c->fd, sw, sizeof(sw) - 1);
		c->echo = true;
		return 0;
	}
	if (strcmp(c->url, "/public/hang") == 0) {
		c->blocked = true;
		return HPE_PAUSED;
	}
	if (strcmp(c->url, "/public/gate") == 0) {
		c->blocked = true;
		c->gate_wait = true;
		return HPE_PAUSED;
	}
	respond(c);
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct us_conn *c = p->data;

	c->url_len = 0;
	c->url[0] = '\0';
	c->field_len = 0;
	c->expect_continue = false;
	c->body_len = 0;
	c->hash = US_FNV_INIT;
	return 0;
}

static void conn_free(struct us_server *s, size_t i)
{
	struct us_conn *c = s->conns[i];

	close(c->fd);
	free(c->pending);
	free(c);
	s->conns[i] = s->conns[--s->n_conns];
}

static int pending_add(struct us_conn *c, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	if (c->pending_len + len > c->pending_cap) {
		size_t cap = c->pending_cap ? c->pending_cap : 65536;
		char *n;

		while (cap < c->pending_len + len)
			cap *= 2;
		n = realloc(c->pending, cap);
		if (!n)
			return -1;
		c->pending = n;
		c->pending_cap = cap;
	}
	memcpy(c->pending + c->pending_len, data, len);
	c->pending_len += len;
	return 0;
}

/* Parse data; stops (keeping the rest) when a request blocks. Returns -1 to close. */
static int conn_feed(struct us_conn *c, const char *data, size_t len)
{
	llhttp_errno_t err;

	if (c->echo)
		return write_all(c->fd, data, len) ? -1 : 0;
	err = llhttp_execute(&c->parser, data, len);
	if (err == HPE_PAUSED_UPGRADE && c->echo) {
		size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - data);

		return write_all(c->fd, data + used, len - used) ? -1 : 0;
	}
	if (err == HPE_PAUSED) {
		size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - data);

		llhttp_resume(&c->parser);
		return pending_add(c, data + used, len - used);
	}
	if (err != HPE_OK)
		return -1;
	return c->close_after ? -1 : 0;
}

static void gate_release_all(struct us_server *s)
{
	for (size_t i = 0; i < s->n_conns; i++) {
		struct us_conn *c = s->conns[i];

		if (c->gate_wait) {
			char *rest = c->pending;
			size_t rest_len = c->pending_len;

			c->gate_wait = false;
			c->blocked = false;
			respond(c);
			c->pending = NULL;
			c->pending_len = 0;
			c->pending_cap = 0;
			if (rest_len)
				conn_feed(c, rest, rest_len);
			free(rest);
		}
	}
}

static void *us_main(void *arg)
{
	struct us_server *s = arg;
	static char buf[1 << 16];

	for (;;) {
		struct pollfd pfd[US_MAX_CONNS + 2];
		size_t n = 0, i;

		pfd[n++] = (struct pollfd){.fd = s->evfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		for (i = 0; i < s->n_conns; i++)
			pfd[n++] = (struct pollfd){.fd = s->conns[i]->fd, .events = POLLIN};
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			uint64_t v;

			if (read(s->evfd, &v, sizeof(v)) < 0)
				v = 0;
			pthread_mutex_lock(&s->lock);
			if (s->stop) {
				pthread_mutex_unlock(&s->lock);
				break;
			}
			pthread_mutex_unlock(&s->lock);
		}
		/* read everything readable first (log complete before any answer) */
		for (i = s->n_conns; i-- > 0;) {
			struct us_conn *c = s->conns[i];
			bool dead = false;

			if (!(pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			for (;;) {
				ssize_t r = read(c->fd, buf, sizeof(buf));

				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0) {
					dead = true;
					break;
				}
				pthread_mutex_lock(&s->lock);
				if (s->log_len + (size_t)r <= US_LOG_CAP) {
					memcpy(s->log + s->log_len, buf, (size_t)r);
					s->log_len += (size_t)r;
				}
				pthread_cond_broadcast(&s->cond);
				pthread_mutex_unlock(&s->lock);
				if (pending_add(c, buf, (size_t)r)) {
					dead = true;
					break;
				}
				/* bounded per round so one busy connection cannot
				 * starve the others (or grow without limit) */
				if (!c->blocked && c->pending_len >= (1u << 20))
					break;
			}
			if (dead)
				conn_free(s, i);
		}
		/* then answer, in order per connection */
		for (i = s->n_conns; i-- > 0;) {
			struct us_conn *c = s->conns[i];
			char *rest = c->pending;
			size_t rest_len = c->pending_len;

			if (c->blocked || !rest_len)
				continue;
			c->pending = NULL;
			c->pending_len = 0;
			c->pending_cap = 0;
			if (conn_feed(c, rest, rest_len))
				conn_free(s, i);
			free(rest);
		}
		pthread_mutex_lock(&s->lock);
		if (s->gate_releases > 0) {
			s->gate_releases = 0;
			pthread_mutex_unlock(&s->lock);
			gate_release_all(s);
		} else {
			pthread_mutex_unlock(&s->lock);
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			int one = 1;

			if (fd >= 0 && s->n_conns < US_MAX_CONNS) {
				struct us_conn *c = calloc(1, sizeof(*c));

				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c->fd = fd;
				c->srv = s;
				llhttp_init(&c->parser, HTTP_REQUEST, &us_settings);
				c->parser.data = c;
				s->conns[s->n_conns++] = c;
				pthread_mutex_lock(&s->lock);
				s->connections++;
				pthread_mutex_unlock(&s->lock);
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	while (s->n_conns)
		conn_free(s, 0);
	return NULL;
}

int us_start(struct us_server **out, const char *ip)
{
	return us_start_port(out, ip, 0);
}

int us_start_port(struct us_server **out, const char *ip, uint16_t port)
{
	struct us_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t len = sizeof(sa);
	int one = 1, err;

	if (!s)
		return -ENOMEM;
	llhttp_settings_init(&us_settings);
	us_settings.on_message_begin = on_message_begin;
	us_settings.on_url = on_url;
	us_settings.on_header_field = on_header_field;
	us_settings.on_header_value = on_header_value;
	us_settings.on_headers_complete = on_headers_complete;
	us_settings.on_body = on_body;
	us_settings.on_message_complete = on_message_complete;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->log = malloc(US_LOG_CAP);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->log || s->lfd < 0 || s->evfd < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->lfd, 128) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len)) {
		err = -errno;
		goto cleanup;
	}
	s->port = ntohs(sa.sin_port);
	err = -pthread_create(&s->thread, NULL, us_main, s);
	if (err)
		goto cleanup;
	*out = s;
	return 0;
cleanup:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->evfd >= 0)
		close(s->evfd);
	free(s->log);
	free(s);
	return err;
}

uint16_t us_port(const struct us_server *s)
{
	return s->port;
}

size_t us_log_get(struct us_server *s, char *buf, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->log_len < cap ? s->log_len : cap;
	memcpy(buf, s->log, n);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void us_log_reset(struct us_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->log_len = 0;
	pthread_mutex_unlock(&s->lock);
}

unsigned long us_requests(struct us_server *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

unsigned long us_connections(struct us_server *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->connections;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int us_wait_requests(struct us_server *s, unsigned long n, int timeout_ms)
{
	struct timespec ts;
	int err = 0;

	us_abs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->requests < n && err == 0)
		err = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
	return s->requests >= n ? 0 : -ETIMEDOUT;
}

void us_abs_deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int us_wait_log(struct us_server *s, size_t n, int timeout_ms)
{
	struct timespec ts;
	int err = 0;
	bool ok;

	us_abs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->log_len < n && err == 0)
		err = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	ok = s->log_len >= n;
	pthread_mutex_unlock(&s->lock);
	return ok ? 0 : -ETIMEDOUT;
}

static void us_kick(struct us_server *s)
{
	uint64_t one = 1;

	if (write(s->evfd, &one, sizeof(one)) < 0)
		perror("eventfd write");
}

void us_gate_release(struct us_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->gate_releases++;
	pthread_mutex_unlock(&s->lock);
	us_kick(s);
}

void us_stop(struct us_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	us_kick(s);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->evfd);
	free(s->log);
	free(s);
}
