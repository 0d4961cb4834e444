// SPDX-License-Identifier: Apache-2.0
/*
 * Policy path patterns (POLICY.md "Matching"): exact, "/prefix/" + "*",
 * "*" + "suffix", "*", and templates whose whole segments are {*} (exactly
 * one segment) or {**} (one or more segments, last segment only).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static bool is_template(const char *p)
{
	return strchr(p, '{') || strchr(p, '}');
}

int pathpat_validate(const char *pat, const char **why)
{
	size_t n = strlen(pat);
	const char *star = strchr(pat, '*');

	if (n == 0) {
		*why = "empty pattern";
		return -EINVAL;
	}
	if (strchr(pat, '?') || strchr(pat, '#')) {
		*why = "'?' and '#' never occur in a normalized path (the query is not matched)";
		return -EINVAL;
	}
	for (const char *p = pat; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\' || *p == ' ') {
			*why = "contains a space, backslash or control character";
			return -EINVAL;
		}
	}
	/* patterns are compared with normalized paths: escapes must be in the
	 * form normalization produces (upper-case hex, never an unreserved
	 * character or a slash) */
	for (const char *p = pat; (p = strchr(p, '%')); p++) {
		int v = 0;

		for (int i = 1; i <= 2; i++) {
			char c = p[i];

			if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
				*why = "a '%' must start an escape with two upper-case hex digits "
				       "(e.g. %3B)";
				return -EINVAL;
			}
			v = v * 16 + (c <= '9' ? c - '0' : c - 'A' + 10);
		}
		if ((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') ||
		    v == '-' || v == '.' || v == '_' || v == '~') {
			*why = "escapes an unreserved character, which normalization decodes; "
			       "write the character itself";
			return -EINVAL;
		}
		if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f) {
			*why = "escaped slashes and control characters never reach matching";
			return -EINVAL;
		}
	}
	if (!strcmp(pat, "*"))
		return 0;
	if (is_template(pat)) {
		const char *seg = pat;

		if (pat[0] != '/') {
			*why = "a template path must start with '/'";
			return -EINVAL;
		}
		while (*seg == '/') {
			const char *end = strchr(seg + 1, '/');
			size_t len = end ? (size_t)(end - seg - 1) : strlen(seg + 1);
			const char *s = seg + 1;

			if (len == 3 && !memcmp(s, "{*}", 3)) {
				/* one segment */
			} else if (len == 4 && !memcmp(s, "{**}", 4)) {
				if (end) {
					*why = "{**} must be the last segment";
					return -EINVAL;
				}
			} else if (memchr(s, '{', len) || memchr(s, '}', len) ||
				   memchr(s, '*', len)) {
				*why = "templates must be whole segments {*} or {**}, and cannot "
				       "be mixed with '*'";
				return -EINVAL;
			}
			if (!end)
				break;
			seg = end;
		}
		return 0;
	}
	if (star) {
		bool lead = star == pat, trail = pat[n - 1] == '*';
		size_t stars = 0;

		for (const char *p = pat; *p; p++)
			stars += *p == '*';
		if (stars > 1 || (!lead && !trail)) {
			*why = "'*' is only allowed at the start or the end (use {*} or {**} for "
			       "segments)";
			return -EINVAL;
		}
		if (trail && pat[0] != '/') {
			*why = "a prefix pattern must start with '/'";
			return -EINVAL;
		}
		return 0;
	}
	if (pat[0] != '/') {
		*why = "a path must start with '/' (or be \"*\", \"*suffix\")";
		return -EINVAL;
	}
	/* Patterns are compared with normalized paths, so a pattern that
	 * normalization could never produce is a mistake. */
	if (strstr(pat, "//") || strstr(pat, "/./") || strstr(pat, "/../") ||
	    (n >= 2 && !strcmp(pat + n - 2, "/.")) || (n >= 3 && !strcmp(pat + n - 3, "/.."))) {
		*why = "not a normalized path (contains '//' or dot segments), so it can never "
		       "match";
		return -EINVAL;
	}
	return 0;
}

enum pathpat_kind pathpat_kind(const char *pat)
{
	size_t n = strlen(pat);

	if (!strcmp(pat, "*"))
		return PP_ANY;
	if (is_template(pat))
		return PP_TEMPLATE;
	if (pat[0] == '*')
		return PP_SUFFIX;
	if (n && pat[n - 1] == '*')
		return PP_PREFIX;
	return PP_EXACT;
}

static bool ceq(const char *a, const char *b, size_t n, bool icase)
{
	if (!icase)
		return memcmp(a, b, n) == 0;
	return strncasecmp(a, b, n) == 0;
}

static bool template_match(const char *pat, const char *path, size_t plen, bool icase)
{
	const char *pp = pat, *xp = path, *xe = path + plen;

	for (;;) {
		const char *pend, *xend;
		size_t pl, xl;

		if (*pp != '/' || xp >= xe || *xp != '/')
			return *pp == '\0' && xp == xe;
		pp++;
		xp++;
		pend = strchr(pp, '/');
		pl = pend ? (size_t)(pend - pp) : strlen(pp);
		xend = memchr(xp, '/', (size_t)(xe - xp));
		xl = xend ? (size_t)(xend - xp) : (size_t)(xe - xp);
		if (pl == 4 && !memcmp(pp, "{**}", 4))
			return xl > 0; /* one or more segments: the rest */
		if (pl == 3 && !memcmp(pp, "{*}", 3)) {
			if (xl == 0)
				return false;
		} else if (pl != xl || !ceq(pp, xp, pl, icase)) {
			return false;
		}
		pp += pl;
		xp += xl;
	}
}

bool pathpat_match(const char *pat, const char *path, size_t plen, bool icase)
{
	size_t n = strlen(pat);

	if (plen == 0 || path[0] != '/') /* "*" (OPTIONS *) matches no path rule */
		return false;
	switch (pathpat_kind(pat)) {
	case PP_ANY:
		return true;
	case PP_EXACT:
		return plen == n && ceq(pat, path, n, icase);
	case PP_PREFIX:
		return plen >= n - 1 && ceq(pat, path, n - 1, icase);
	case PP_SUFFIX:
		return plen >= n - 1 && ceq(pat + 1, path + plen - (n - 1), n - 1, icase);
	case PP_TEMPLATE:
		return template_match(pat, path, plen, icase);
	}
	return false;
}
