// SPDX-License-Identifier: Apache-2.0
/* Local responses, access-log lines. */
#include "render.h"

#include <stdio.h>
#include <string.h>

const double sp_lat_bounds[SP_LAT_BUCKETS - 1] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};

int sp_lat_bucket(double s)
{
	int i;

	for (i = 0; i < SP_LAT_BUCKETS - 1; i++)
		if (s <= sp_lat_bounds[i])
			return i;
	return SP_LAT_BUCKETS - 1;
}

const char *sp_status_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

size_t sp_json_escape(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (o < cap)
		out[o] = '\0';
	return o;
}

static size_t clamp(int n, size_t cap)
{
	if (n < 0)
		return 0;
	return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

size_t sp_render_403(char *out, size_t cap, const char *policy, bool close)
{
	char esc[600], body[700];
	int blen;

	sp_json_escape(esc, sizeof(esc), policy ? policy : "default-deny",
		       strlen(policy ? policy : "default-deny"));
	blen = snprintf(body, sizeof(body), "{\"error\":\"access denied\",\"policy\":\"%s\"}", esc);
	return clamp(snprintf(out, cap,
			      "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
			      "content-length: %d\r\n%s\r\n%s",
			      blen, close ? "connection: close\r\n" : "", body),
		     cap);
}

size_t sp_render_error(char *out, size_t cap, int status, bool close)
{
	const char *reason = sp_status_reason(status);

	return clamp(snprintf(out, cap,
			      "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n"
			      "content-length: %zu\r\n%s\r\n%s\n",
			      status, reason, strlen(reason) + 1,
			      close ? "connection: close\r\n" : "", reason),
		     cap);
}

size_t sp_render_log(char *out, size_t cap, const struct sp_log_entry *e)
{
	char src[300], path[1100], pol[300], method[80];
	int n;

	sp_json_escape(src, sizeof(src), e->source ? e->source : "",
		       strlen(e->source ? e->source : ""));
	sp_json_escape(path, sizeof(path), e->path ? e->path : "", e->path ? e->path_len : 0);
	sp_json_escape(method, sizeof(method), e->method ? e->method : "",
		       strlen(e->method ? e->method : ""));
	if (e->policy)
		sp_json_escape(pol, sizeof(pol), e->policy, strlen(e->policy));
	if (e->tcp)
		n = snprintf(out, cap,
			     "{\"time\":%.6f,\"source\":\"%s\",\"destination\":\"%s\","
			     "\"mode\":\"tcp\",\"verdict\":\"%s\",\"policy\":%s%s%s,"
			     "\"bytes_in\":%llu,\"bytes\":%llu,\"duration\":%.6f,"
			     "\"spliced\":%s,\"spliced_in\":%llu,\"spliced_out\":%llu}\n",
			     e->time, src, e->destination ? e->destination : "", e->verdict,
			     e->policy ? "\"" : "", e->policy ? pol : "null", e->policy ? "\"" : "",
			     (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
			     e->duration, e->spliced ? "true" : "false",
			     (unsigned long long)e->spliced_in, (unsigned long long)e->spliced_out);
	else
		n = snprintf(out, cap,
			     "{\"time\":%.6f,\"source\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
			     "\"verdict\":\"%s\",\"policy\":%s%s%s,\"status\":%d,\"bytes_in\":%llu,"
			     "\"bytes\":%llu,\"duration\":%.6f}\n",
			     e->time, src, method, path, e->verdict, e->policy ? "\"" : "",
			     e->policy ? pol : "null", e->policy ? "\"" : "", e->status,
			     (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
			     e->duration);
	if (n < 0)
		return 0;
	if ((size_t)n >= cap) {
		/* keep it one line */
		out[cap - 2] = '\n';
		out[cap - 1] = '\0';
		return cap - 1;
	}
	return (size_t)n;
}
