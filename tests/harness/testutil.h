/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal assertion helpers shared by shunt's C tests. */
#ifndef SHUNT_TESTS_TESTUTIL_H
#define SHUNT_TESTS_TESTUTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* Fail the test (exit 1) with file:line and a message unless cond holds. */
#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

#endif
