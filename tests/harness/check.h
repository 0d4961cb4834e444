/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Non-fatal assertion helpers for table-driven unit tests: CHECK counts and
 * reports a failure and goes on, check_done() prints the tally and gives the
 * exit status. (testutil.h's CHECK is the fatal variant, for tests where a
 * failure makes the rest meaningless.)
 */
#ifndef SHUNT_TEST_CHECK_H
#define SHUNT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		check_count++;                                                                   \
		if (!(cond)) {                                                                   \
			check_failures++;                                                        \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
		}                                                                                \
	} while (0)

static inline int check_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

#define CHECK_STR(a, b)                                                               \
	CHECK(check_streq((a), (b)), "got \"%s\", want \"%s\"", (a) ? (a) : "(null)", \
	      (b) ? (b) : "(null)")

static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
