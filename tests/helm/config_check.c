/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_check FILE...: load each shunt config with the real parser (config/) and
 * print its diagnostics. Exit 0 when all are valid, 2 otherwise. chart_test.sh runs it
 * on the config.json of every rendered ConfigMap.
 */
#include <stdio.h>

#include "shunt/config.h"

int main(int argc, char **argv)
{
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;

		if (shunt_config_load_file(argv[i], &c, &d)) {
			shunt_diags_print(&d, stderr);
			bad = 1;
		}
		shunt_config_free(c);
		shunt_diags_free(&d);
	}
	return bad ? 2 : 0;
}
