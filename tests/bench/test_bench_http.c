/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench http/connect pure parts: HTTP messages and parser, open-loop
 * schedule, coordinated-omission-corrected latency, p99.9 and the CDF. */
#include "bench.h"
#include "http.h"
#include "stats.h"
#include "testutil.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Feed msg in pieces of `step` bytes; returns how many messages completed,
 * -1 on a parse error. *status gets the last status. */
static int feed_all(struct bench_http_parser *p, const char *msg, size_t len, size_t step)
{
	int done_n = 0;

	for (size_t off = 0; off < len;) {
		size_t n = len - off < step ? len - off : step;

		while (n) {
			bool done;
			ssize_t used = bench_http_feed(p, msg + off, n, &done);

			if (used < 0)
				return -1;
			off += (size_t)used;
			n -= (size_t)used;
			done_n += done;
		}
	}
	return done_n;
}

static void test_messages(void)
{
	char head[512], msg[4096];
	struct bench_http_parser p;
	int n;

	/* GET request round-trips through the request parser, in any split */
	n = bench_http_request_head(head, sizeof(head), 0);
	CHECK(n > 0 && strncmp(head, "GET " BENCH_HTTP_PATH " HTTP/1.1\r\n", 24) == 0, "GET head");
	for (size_t step = 1; step <= (size_t)n; step++) {
		bench_http_parser_init(&p, false);
		CHECK(feed_all(&p, head, (size_t)n, step) == 1, "GET, pieces of %zu", step);
	}
	/* POST with a body: body bytes are consumed, two pipelined requests */
	n = bench_http_request_head(head, sizeof(head), 100);
	CHECK(n > 0 && strstr(head, "Content-Length: 100\r\n"), "POST head");
	memcpy(msg, head, (size_t)n);
	memset(msg + n, 'q', 100);
	memcpy(msg + n + 100, msg, (size_t)n + 100);
	for (size_t step = 1; step <= 2 * ((size_t)n + 100); step += 7) {
		bench_http_parser_init(&p, false);
		CHECK(feed_all(&p, msg, 2 * ((size_t)n + 100), step) == 2, "2 POSTs, step %zu",
		      step);
	}
	/* response: status and body length */
	n = bench_http_response_head(head, sizeof(head), 1000);
	CHECK(n > 0 && strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0, "response head");
	memcpy(msg, head, (size_t)n);
	memset(msg + n, 'r', 1000);
	bench_http_parser_init(&p, true);
	CHECK(feed_all(&p, msg, (size_t)n + 1000, 333) == 1 && p.status == 200, "200 + body");
	/* a response without its last body byte is not complete */
	bench_http_parser_init(&p, true);
	CHECK(feed_all(&p, msg, (size_t)n + 999, 4096) == 0, "incomplete body");

	/* what other proxies send back */
	{
		static const char *const ok[] = {
			"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno",
			"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length:  0 \r\n\r\n",
			"HTTP/1.1 204 No Content\r\n\r\n",
		};
		static const int status[] = {403, 200, 204};

		for (size_t i = 0; i < 3; i++) {
			bench_http_parser_init(&p, true);
			CHECK(feed_all(&p, ok[i], strlen(ok[i]), 5) == 1 && p.status == status[i],
			      "response %zu", i);
		}
	}
	{
		static const char *const bad[] = {
			"HTTP/1.1 200 OK\r\n\r\n", /* unframed keep-alive response */
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
			"SSH-2.0-OpenSSH\r\n\r\n",
			"HTTP/1.1 200 OK\nContent-Length: 0\n\r\n\r\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			bench_http_parser_init(&p, true);
			CHECK(feed_all(&p, bad[i], strlen(bad[i]), 3) == -1, "bad response %zu", i);
		}
	}
	/* a head that never ends is an error, not an overflow */
	{
		char *big = malloc(BENCH_HTTP_MAX_HEAD * 2);

		CHECK(big, "malloc");
		memcpy(big, "GET / HTTP/1.1\r\n", 16);
		memset(big + 16, 'a', BENCH_HTTP_MAX_HEAD * 2 - 16);
		bench_http_parser_init(&p, false);
		CHECK(feed_all(&p, big, BENCH_HTTP_MAX_HEAD * 2, 1000) == -1, "head too big");
		free(big);
	}
}

static void test_open_loop(void)
{
	const uint64_t t0 = 1000000000ull;

	/* 1000/s: one request per ms */
	CHECK(bench_ol_intended(t0, 1000, 0) == t0, "first at t0");
	CHECK(bench_ol_intended(t0, 1000, 7) == t0 + 7000000, "i/rate");
	CHECK(bench_ol_intended(t0, 3, 1) == t0 + 333333333, "non-integer interval rounds");
	CHECK(bench_ol_due(t0, 1000, t0 - 1) == 0, "nothing before t0");
	CHECK(bench_ol_due(t0, 1000, t0) == 1, "request 0 due at t0");
	CHECK(bench_ol_due(t0, 1000, t0 + 999999) == 1, "request 1 not yet");
	CHECK(bench_ol_due(t0, 1000, t0 + 1000000) == 2, "request 1 due");
	/* due() agrees with intended() at every boundary, odd rates included */
	for (double rate = 1; rate < 1e6; rate *= 7.3)
		for (uint64_t i = 0; i < 2000; i += 13) {
			uint64_t t = bench_ol_intended(t0, rate, i);

			CHECK(bench_ol_due(t0, rate, t) == i + 1, "due at intended(%llu), rate %g",
			      (unsigned long long)i, rate);
			CHECK(bench_ol_due(t0, rate, t - 1) == i, "due just before, rate %g", rate);
		}

	/* Coordinated omission: a server stalls for 100 ms while requests are
	 * due every 1 ms on one connection. Latency from the send time would
	 * hide the queue; from the intended time it shows it. */
	{
		uint64_t rate = 1000, stall_end = t0 + 100000000ull, sent = t0, worst = 0;
		uint32_t lat[200], naive[200];
		struct bench_sample s, sn;
		int late = 0;

		for (uint64_t i = 0; i < 200; i++) {
			uint64_t it = bench_ol_intended(t0, (double)rate, i), done;

			if (sent < it)
				sent = it; /* connection free before the request is due */
			done = i == 0 ? stall_end : sent + 10000; /* 10 us service */
			late += bench_ol_is_late(it, sent);
			lat[i] = (uint32_t)bench_ol_latency(it, done);
			naive[i] = (uint32_t)(done - sent);
			if (lat[i] > worst)
				worst = lat[i];
			sent = done;
		}
		CHECK(worst == 100000000ull, "the stalled request waited 100 ms");
		CHECK(late >= 98 && late <= 100, "requests queued behind the stall are late: %d",
		      late);
		bench_fill_latency(lat, 200, &s);
		bench_fill_latency(naive, 200, &sn);
		/* from the send time, 99% look like 10 us; from the intended time the
		 * queue behind the stall shows up in p90 */
		CHECK(sn.p90 == 10 && sn.p99 == 10, "naive p90/p99 hide the stall: %g %g", sn.p90,
		      sn.p99);
		CHECK(s.p90 > 50000 && s.p99 > 90000, "corrected p90 %g, p99 %g us", s.p90, s.p99);
		CHECK(s.p50 >= 1000, "p50 carries the queueing: %g us", s.p50);
		CHECK(s.p999 == 100000, "p99.9 = the stall: %g", s.p999);
		CHECK(bench_ol_latency(t0 + 5, t0) == 0, "never negative");
		CHECK(!bench_ol_is_late(t0, t0 + BENCH_LATE_NS) &&
			      bench_ol_is_late(t0, t0 + BENCH_LATE_NS + 1),
		      "late threshold");
	}
}

static void test_p999_cdf(void)
{
	uint32_t *v = malloc(10000 * sizeof(*v));
	struct bench_sample s;

	CHECK(v, "malloc");
	/* 10000 samples 1..10000 ns, shuffled */
	for (uint32_t i = 0; i < 10000; i++)
		v[i] = (i * 7919u) % 10000u + 1;
	CHECK(bench_pct_u32((bench_sort_u32(v, 10000), v), 10000, 99.9) == 9990,
	      "nearest-rank p99.9 of 1..10000");
	for (uint32_t i = 0; i < 1000; i++)
		v[i] = i + 1;
	CHECK(bench_pct_u32(v, 1000, 99.9) == 999, "p99.9 of 1..1000 = 999, not the max");
	CHECK(bench_pct_u32(v, 999, 99.9) == 999, "p99.9 of 1..999 = max (rank 998.001 -> 999)");

	for (uint32_t i = 0; i < 10000; i++)
		v[i] = (10000 - i) * 1000; /* 1..10000 us, reversed */
	bench_fill_latency(v, 10000, &s);
	CHECK(s.p50 == 5000 && s.p90 == 9000 && s.p99 == 9900 && s.p999 == 9990 && s.max == 10000,
	      "fill: p50 %g p90 %g p99 %g p99.9 %g max %g", s.p50, s.p90, s.p99, s.p999, s.max);
	for (int i = 1; i < BENCH_CDF_N; i++)
		CHECK(bench_cdf_q[i] > bench_cdf_q[i - 1] && s.cdf_us[i] >= s.cdf_us[i - 1],
		      "CDF monotonic at %d", i);
	CHECK(s.cdf_us[0] == 1 && s.cdf_us[BENCH_CDF_N - 1] == 10000, "CDF spans min..max");
	free(v);
}

int main(void)
{
	test_messages();
	test_open_loop();
	test_p999_cdf();
	printf("bench http: ok\n");
	return 0;
}
