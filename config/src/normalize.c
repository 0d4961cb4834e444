// SPDX-License-Identifier: Apache-2.0
/*
 * Request-target normalization, POLICY.md "Path normalization profile".
 * One pass decodes into out (decoding never grows the text), a second pass
 * removes dot segments, empty segments and ;parameters in place.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "shunt/normalize.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

int shunt_path_normalize(const struct shunt_norm_opts *o, const char *target, size_t len, char *out,
			 size_t cap, size_t *out_len, const char **query, size_t *query_len,
			 const char **why)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *p = target, *end = target + len, *q;
	size_t w = 0, r, plen;
	bool decode_slash = o && o->decode_escaped_slashes;

	if (query)
		*query = NULL;
	if (query_len)
		*query_len = 0;
	*out_len = 0;
	if (len == 0)
		return fail(why, "empty request target");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)target[i];

		if (c < 0x20 || c == 0x7f)
			return fail(why, "control character in request target");
		if (c >= 0x80)
			return fail(why, "non-ASCII byte in request target");
		if (c == '#')
			return fail(why, "'#' in request target");
	}
	if (len == 1 && target[0] == '*') {
		if (cap < 1)
			return -ENAMETOOLONG;
		out[0] = '*';
		if (cap > 1)
			out[1] = '\0';
		*out_len = 1;
		return 0;
	}
	if (target[0] != '/') {
		/* absolute-form: scheme "://" authority [path] */
		size_t sl;

		if (len > 7 && !strncasecmp(target, "http://", 7))
			sl = 7;
		else if (len > 8 && !strncasecmp(target, "https://", 8))
			sl = 8;
		else
			return fail(why, "request target does not start with '/'");
		p = target + sl;
		while (p < end && *p != '/' && *p != '?') {
			if (*p == '@')
				return fail(why, "userinfo in request target");
			if (*p == '\\' || *p == '%')
				return fail(why, "invalid character in authority");
			p++;
		}
		if (p == target + sl)
			return fail(why, "empty authority in absolute-form target");
	}
	q = memchr(p, '?', (size_t)(end - p));
	if (q) {
		if (query)
			*query = q + 1;
		if (query_len)
			*query_len = (size_t)(end - q - 1);
		end = q;
	}
	/* pass 1: decode into out; an absolute-form with empty path is "/" */
	if (cap < 2)
		return -ENAMETOOLONG;
	if (p == end || *p != '/')
		out[w++] = '/';
	for (; p < end; p++) {
		char c = *p;

		if (w + 3 > cap)
			return -ENAMETOOLONG;
		if (c == '%') {
			int hi, lo, v;

			if (end - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
				return fail(why, "malformed percent-escape");
			v = hi * 16 + lo;
			p += 2;
			if (v == 0)
				return fail(why, "%00 in path");
			if (v < 0x20 || v == 0x7f)
				return fail(why, "escaped control character in path");
			if (v == '/' || v == '\\') {
				if (!decode_slash)
					return fail(why, "escaped slash (%2F or %5C) in path");
				out[w++] = '/';
			} else if (unreserved(v)) {
				out[w++] = (char)v;
			} else {
				out[w++] = '%';
				out[w++] = hex[v >> 4];
				out[w++] = hex[v & 15];
			}
		} else if (c == '\\') {
			out[w++] = '/';
		} else {
			out[w++] = c;
		}
	}
	plen = w;
	/* pass 2, in place (write index never passes read index): drop
	 * ;params, empty and "." segments, resolve "..". */
	w = 0;
	r = 1;
	{
		bool trailing = false;

		while (r <= plen) {
			size_t s = r, e = r, se;

			while (e < plen && out[e] != '/')
				e++;
			se = s;
			while (se < e && out[se] != ';')
				se++;
			r = e + 1;
			trailing = false;
			if (se == s || (se - s == 1 && out[s] == '.')) {
				trailing = true;
				continue;
			}
			if (se - s == 2 && out[s] == '.' && out[s + 1] == '.') {
				while (w > 0 && out[w - 1] != '/')
					w--;
				if (w > 0)
					w--; /* drop the '/' too */
				trailing = true;
				continue;
			}
			out[w++] = '/';
			memmove(out + w, out + s, se - s);
			w += se - s;
		}
		if (w == 0 || trailing)
			out[w++] = '/';
	}
	if (o && o->case_insensitive)
		for (size_t i = 0; i < w; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
	if (w < cap)
		out[w] = '\0';
	*out_len = w;
	return 0;
}
