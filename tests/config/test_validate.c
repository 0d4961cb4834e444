// SPDX-License-Identifier: Apache-2.0
/*
 * Every config file shipped in the repo (given as arguments) loads and
 * compiles without a single diagnostic, and its summary can be printed.
 */
#include <stdio.h>

#include "check.h"
#include "shunt/l4.h"

int main(int argc, char **argv)
{
	FILE *devnull = fopen("/dev/null", "w");

	CHECK(argc > 1, "no config files given");
	for (int i = 1; i < argc; i++) {
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;
		struct shunt_policy *p = NULL;
		int err = shunt_config_load_file(argv[i], &c, &d);

		if (!err)
			err = shunt_policy_compile(c, &p, &d);
		shunt_diags_print(&d, stderr);
		CHECK(err == 0 && d.n == 0, "%s: %d", argv[i], err);
		if (!err && devnull)
			CHECK(shunt_config_summary(c, p, devnull) == 0, "%s: summary", argv[i]);
		shunt_policy_free(p);
		shunt_config_free(c);
		shunt_diags_free(&d);
	}
	if (devnull)
		fclose(devnull);
	return check_done("test_validate");
}
