/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Response rendering, access-log lines and Prometheus text (pure: they only
 * format into caller buffers).
 */
#ifndef SHUNT_PROXY_RENDER_H
#define SHUNT_PROXY_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Local responses. Returns the length written (truncated to cap-1 never
 * happens for cap >= 512 and a policy name under 256 bytes). */
size_t sp_render_403(char *out, size_t cap, const char *policy, bool close);
/* 400, 408, 431, 502, 503, 504 with a short text body; always "connection: close"
 * when close is set. */
size_t sp_render_error(char *out, size_t cap, int status, bool close);
const char *sp_status_reason(int status);

/* JSON string escaping of s[0..len) into out (no quotes); returns length. */
size_t sp_json_escape(char *out, size_t cap, const char *s, size_t len);

struct sp_log_entry {
	double time;	    /* unix seconds */
	const char *source; /* workload "ns/name" or peer address */
	const char *method;
	const char *path; /* normalized path (or raw target if malformed) */
	size_t path_len;
	const char *verdict; /* allow, deny, malformed, error */
	const char *policy;  /* may be NULL */
	int status;
	uint64_t bytes_in, bytes_out;
	double duration; /* seconds */
	/* tcp listeners: one line per connection with these instead of
	 * method, path and status */
	bool tcp;
	const char *destination;	  /* "ADDR:PORT" */
	bool spliced;			  /* the kernel spliced the relay's two sockets */
	uint64_t spliced_in, spliced_out; /* bytes that went past the relay */
};

/* One JSON line ending in '\n'; returns its length. */
size_t sp_render_log(char *out, size_t cap, const struct sp_log_entry *e);

/* Latency histogram bounds in seconds (le), the last bucket is +Inf. */
#define SP_LAT_BUCKETS 14
extern const double sp_lat_bounds[SP_LAT_BUCKETS - 1];
int sp_lat_bucket(double seconds);

#endif
