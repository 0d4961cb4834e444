// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: config parser + validator + position index, and for
 * accepted configs compile, L4 entries, summary and native round trip; the
 * same bytes are also tried as a kubectl import into a small base config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shunt/l4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_json[] = "{\"workloads\": [{\"name\": \"app1\", \"labels\": {\"app\": "
				"\"app1\"}, \"addresses\": [\"10.0.0.1\"]},"
				" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"labels\": "
				"{\"app\": \"app2\"}, \"addresses\": [\"10.0.0.2\"]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL, *base = NULL;
	struct shunt_policy *p = NULL;
	struct shunt_l4_entry *v = NULL;
	size_t n = 0;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	memcpy(text, data, size);
	text[size] = '\0';
	if (shunt_config_load_string(text, "fuzz.json", &c, &d) == 0) {
		if (d.n)
			abort(); /* success never comes with diagnostics */
		if (shunt_policy_compile(c, &p, &d) == 0) {
			shunt_policy_l4_entries(p, &v, &n);
			free(v);
			v = NULL;
			shunt_policy_l4_entries_opts(p, SHUNT_L4_NO_PROXY, &v, &n);
			shunt_config_summary(c, p, devnull);
		}
		shunt_config_write_policies(c, devnull);
	} else {
		for (size_t i = 0; i < d.n; i++)
			if (d.v[i].line < 0 || d.v[i].column < 0 || !d.v[i].msg[0])
				abort();
		if (!d.n)
			abort(); /* every failure is explained */
	}
	shunt_diags_print(&d, devnull);
	shunt_diags_free(&d);
	if (shunt_config_load_string(base_json, "base.json", &base, &d) == 0) {
		size_t before = base->n_policies;

		if (shunt_config_import_string(base, text, "import.json", &d) != 0 &&
		    base->n_policies != before)
			abort(); /* a failed import leaves the config unchanged */
	}
	shunt_diags_free(&d);
	free(v);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_config_free(base);
	free(text);
	return 0;
}
