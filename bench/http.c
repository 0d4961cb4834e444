// SPDX-License-Identifier: Apache-2.0
/* shunt-bench http/connect: messages, parser, open-loop schedule (pure). */
#include "http.h"
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int bench_http_request_head(char *buf, size_t len, size_t body)
{
	int n;

	if (body)
		n = snprintf(
			buf, len,
			"POST " BENCH_HTTP_PATH " HTTP/1.1\r\nHost: bench\r\n"
			"Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
			body);
	else
		n = snprintf(buf, len, "GET " BENCH_HTTP_PATH " HTTP/1.1\r\nHost: bench\r\n\r\n");
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int bench_http_response_head(char *buf, size_t len, size_t body)
{
	int n = snprintf(buf, len,
			 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 body);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

void bench_http_parser_init(struct bench_http_parser *p, bool response)
{
	p->response = response;
	p->in_body = false;
	p->status = 0;
	p->head_len = 0;
	p->body_left = 0;
}

/* Parse the buffered head (ends in CRLFCRLF): start line and framing. */
static int parse_head(struct bench_http_parser *p)
{
	char *line = p->head, *end = p->head + p->head_len, *eol;
	bool have_len = false;
	unsigned long long cl = 0;

	eol = memchr(line, '\n', (size_t)(end - line));
	if (!eol)
		return -EBADMSG;
	if (p->response) {
		if (eol - line < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
		    !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
		    !isdigit((unsigned char)line[11]))
			return -EBADMSG;
		p->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	} else {
		/* METHOD SP target SP HTTP/1.x CR */
		if (eol - line < 14 || memcmp(eol - 9, "HTTP/1.", 7) != 0)
			return -EBADMSG;
	}
	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol || eol == line || eol[-1] != '\r')
			return -EBADMSG;
		if (eol - line == 1)
			break; /* the empty line */
		if (strncasecmp(line, "content-length:", 15) == 0) {
			char *v = line + 15, *stop;

			while (*v == ' ' || *v == '\t')
				v++;
			if (!isdigit((unsigned char)*v))
				return -EBADMSG;
			errno = 0;
			cl = strtoull(v, &stop, 10);
			while (*stop == ' ' || *stop == '\t')
				stop++;
			if (errno || stop != eol - 1 || (have_len && cl != p->body_left))
				return -EBADMSG;
			have_len = true;
			p->body_left = (size_t)cl;
		} else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
			return -EBADMSG; /* the bench never sends chunked bodies */
		}
	}
	if (!have_len) {
		/* requests without a body; responses must be framed (keep-alive) */
		if (p->response && !(p->status / 100 == 1 || p->status == 204 || p->status == 304))
			return -EBADMSG;
		p->body_left = 0;
	}
	return 0;
}

ssize_t bench_http_feed(struct bench_http_parser *p, const char *buf, size_t len, bool *done)
{
	size_t used = 0;

	*done = false;
	if (!p->in_body) {
		size_t old = p->head_len, room = sizeof(p->head) - 1 - old;
		size_t take = len < room ? len : room;
		size_t from = old >= 3 ? old - 3 : 0;
		char *hit;

		memcpy(p->head + old, buf, take);
		p->head_len = old + take;
		p->head[p->head_len] = '\0';
		hit = memmem(p->head + from, p->head_len - from, "\r\n\r\n", 4);
		if (!hit) {
			if (take < len)
				return -EBADMSG; /* head larger than the buffer */
			return (ssize_t)len;
		}
		p->head_len = (size_t)(hit + 4 - p->head);
		used = p->head_len - old;
		if (parse_head(p))
			return -EBADMSG;
		p->in_body = true;
	}
	{
		size_t rest = len - used, take = rest < p->body_left ? rest : p->body_left;

		used += take;
		p->body_left -= take;
	}
	if (p->body_left == 0) {
		p->in_body = false;
		p->head_len = 0;
		*done = true;
	}
	return (ssize_t)used;
}

uint64_t bench_ol_intended(uint64_t t0, double rate, uint64_t i)
{
	return t0 + (uint64_t)llround((double)i * 1e9 / rate);
}

uint64_t bench_ol_due(uint64_t t0, double rate, uint64_t t)
{
	uint64_t n;

	if (t < t0)
		return 0;
	n = (uint64_t)floor((double)(t - t0) * rate / 1e9) + 1;
	/* rounding: make n exactly the count of i with intended(i) <= t */
	while (n > 0 && bench_ol_intended(t0, rate, n - 1) > t)
		n--;
	while (bench_ol_intended(t0, rate, n) <= t)
		n++;
	return n;
}

bool bench_ol_is_late(uint64_t intended, uint64_t sent)
{
	return sent > intended + BENCH_LATE_NS;
}
