// SPDX-License-Identifier: Apache-2.0
/* Table tests for shunt_path_normalize (POLICY.md normalization profile). */
#include <errno.h>
#include <stdbool.h>

#include "check.h"
#include "shunt/normalize.h"

#define DECODE 1 /* decode-and-merge escaped slashes */
#define ICASE  2

struct tcase {
	const char *in;
	int flags;
	const char *want;  /* NULL: rejected with -EINVAL */
	const char *query; /* expected query or NULL */
};

static const struct tcase cases[] = {
	/* plain */
	{"/", 0, "/", NULL},
	{"/a/b", 0, "/a/b", NULL},
	{"/a/b/", 0, "/a/b/", NULL},
	{"/public/index.html", 0, "/public/index.html", NULL},
	/* query is not part of the path */
	{"/a?x=1", 0, "/a", "x=1"},
	{"/a?", 0, "/a", ""},
	{"/restricted?/public/x", 0, "/restricted", "/public/x"},
	{"/a/../b?q=/../", 0, "/b", "q=/../"},
	/* merge slashes */
	{"//restricted", 0, "/restricted", NULL},
	{"/a//b///c", 0, "/a/b/c", NULL},
	{"/a//", 0, "/a/", NULL},
	/* dot segments */
	{"/a/../b", 0, "/b", NULL},
	{"/a/./b", 0, "/a/b", NULL},
	{"/a/b/..", 0, "/a/", NULL},
	{"/a/b/.", 0, "/a/b/", NULL},
	{"/..", 0, "/", NULL},
	{"/../../restricted", 0, "/restricted", NULL},
	{"/public/../restricted", 0, "/restricted", NULL},
	{"/public/..;x/restricted", 0, "/restricted", NULL},
	{"/public/..;/restricted", 0, "/restricted", NULL},
	{"/public/.;x/a", 0, "/public/a", NULL},
	{"/a/..b/c", 0, "/a/..b/c", NULL},
	{"/a/...", 0, "/a/...", NULL},
	/* ;params stripped per segment */
	{"/restricted;x=1", 0, "/restricted", NULL},
	{"/a;b/c;d", 0, "/a/c", NULL},
	{"/;x/restricted", 0, "/restricted", NULL},
	/* backslash */
	{"/public\\..\\restricted", 0, "/restricted", NULL},
	{"\\restricted", 0, NULL, NULL},
	/* percent-decoding of unreserved, once */
	{"/%72estricted", 0, "/restricted", NULL},
	{"/public/%2e%2e/restricted", 0, "/restricted", NULL},
	{"/public/%2E%2E/restricted", 0, "/restricted", NULL},
	{"/%252e%252e/x", 0, "/%252e%252e/x", NULL},
	{"/a%20b", 0, "/a%20b", NULL},
	{"/a%3bb", 0, "/a%3Bb", NULL},
	{"/a%7e", 0, "/a~", NULL},
	{"/a%41%5a%61%7A%30%39%2D%5F", 0, "/aAZaz09-_", NULL},
	/* escaped slashes */
	{"/public%2F..%2Frestricted", 0, NULL, NULL},
	{"/public%2f..%2frestricted", 0, NULL, NULL},
	{"/a%5Cb", 0, NULL, NULL},
	{"/public%2F..%2Frestricted", DECODE, "/restricted", NULL},
	{"/a%2F%2Fb", DECODE, "/a/b", NULL},
	{"/a%5cb", DECODE, "/a/b", NULL},
	/* malformed */
	{"", 0, NULL, NULL},
	{"/a%", 0, NULL, NULL},
	{"/a%2", 0, NULL, NULL},
	{"/a%zz", 0, NULL, NULL},
	{"/a%g0", 0, NULL, NULL},
	{"/a%00b", 0, NULL, NULL},
	{"/a%0a", 0, NULL, NULL},
	{"/a%7f", 0, NULL, NULL},
	{"/a#frag", 0, NULL, NULL},
	{"/a?b#c", 0, NULL, NULL},
	{"/a\tb", 0, NULL, NULL},
	{"/a\x7f", 0, NULL, NULL},
	{"/a\xc3\xa9", 0, NULL, NULL},
	{"a/b", 0, NULL, NULL},
	{"restricted", 0, NULL, NULL},
	{"ftp://h/a", 0, NULL, NULL},
	/* absolute-form */
	{"http://app1/public/x", 0, "/public/x", NULL},
	{"HTTP://app1:80/a/../restricted?x", 0, "/restricted", "x"},
	{"https://app1", 0, "/", NULL},
	{"http://app1?q", 0, "/", "q"},
	{"http://user@app1/x", 0, NULL, NULL},
	{"http:///x", 0, NULL, NULL},
	/* asterisk-form */
	{"*", 0, "*", NULL},
	{"**", 0, NULL, NULL},
	/* case-insensitive option lowercases for matching */
	{"/ReStRiCtEd", 0, "/ReStRiCtEd", NULL},
	{"/ReStRiCtEd", ICASE, "/restricted", NULL},
	{"/%52estricted", ICASE, "/restricted", NULL},
};

static void run_case(const struct tcase *t)
{
	struct shunt_norm_opts o = {.decode_escaped_slashes = t->flags & DECODE,
				    .case_insensitive = t->flags & ICASE};
	char out[256];
	size_t olen = 0, qlen = 0;
	const char *q = NULL, *why = NULL;
	int err = shunt_path_normalize(&o, t->in, strlen(t->in), out, sizeof(out), &olen, &q, &qlen,
				       &why);

	if (!t->want) {
		CHECK(err == -EINVAL, "'%s': expected rejection, got %d ('%.*s')", t->in, err,
		      (int)olen, out);
		CHECK(err != -EINVAL || (why && *why), "'%s': no reason given", t->in);
		return;
	}
	CHECK(err == 0, "'%s': unexpected error %d (%s)", t->in, err, why ? why : "");
	if (err)
		return;
	CHECK(olen == strlen(t->want) && !memcmp(out, t->want, olen), "'%s': got '%.*s' want '%s'",
	      t->in, (int)olen, out, t->want);
	CHECK(out[olen] == '\0', "'%s': not NUL-terminated", t->in);
	if (t->query)
		CHECK(q && qlen == strlen(t->query) && !memcmp(q, t->query, qlen),
		      "'%s': query '%.*s' want '%s'", t->in, (int)qlen, q ? q : "", t->query);
	else
		CHECK(q == NULL && qlen == 0, "'%s': unexpected query", t->in);
}

int main(void)
{
	char small[4];
	size_t olen;
	int err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	/* output buffer too small */
	err = shunt_path_normalize(NULL, "/abcdef", 7, small, sizeof(small), &olen, NULL, NULL,
				   NULL);
	CHECK(err == -ENAMETOOLONG, "small buffer: %d", err);
	/* idempotence: normalizing a normalized path changes nothing */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char a[256], b[256];
		size_t al, bl;

		if (!cases[i].want || !strcmp(cases[i].want, "*") || cases[i].flags)
			continue;
		if (shunt_path_normalize(NULL, cases[i].in, strlen(cases[i].in), a, sizeof(a), &al,
					 NULL, NULL, NULL))
			continue;
		err = shunt_path_normalize(NULL, a, al, b, sizeof(b), &bl, NULL, NULL, NULL);
		CHECK(err == 0 && al == bl && !memcmp(a, b, al), "not idempotent: '%s' -> '%.*s'",
		      cases[i].in, (int)bl, b);
	}
	return check_done("test_normalize");
}
