/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workloads the import tests (test_import.c) and the import fuzzer
 * (fuzz_import.c) import into, so the data files of the one are seeds of the
 * other: a JSON member, and base_json, a config holding only them.
 */
#ifndef SHUNT_TESTS_CONFIG_IMPORT_WORKLOADS_H
#define SHUNT_TESTS_CONFIG_IMPORT_WORKLOADS_H

#define WORKLOADS                                                                                \
	"\"workloads\": ["                                                                       \
	" {\"name\": \"app1\", \"serviceAccount\": \"app1\", \"labels\": {\"app\": \"app1\"}, "  \
	"\"addresses\": [\"10.0.0.1\"]},"                                                        \
	" {\"name\": \"app2\", \"serviceAccount\": \"app2\", \"labels\": {\"app\": \"app2\"}, "  \
	"\"addresses\": [\"10.0.0.2\"]},"                                                        \
	" {\"name\": \"app3\", \"serviceAccount\": \"app3\", \"labels\": {\"app\": \"app3\"}, "  \
	"\"addresses\": [\"10.0.0.3\"]},"                                                        \
	" {\"name\": \"prom\", \"namespace\": \"monitoring\", \"labels\": {\"app\": \"prom\"}, " \
	"\"addresses\": [\"10.0.9.1\"]}]"

static const char base_json[] = "{" WORKLOADS "}";

#endif /* SHUNT_TESTS_CONFIG_IMPORT_WORKLOADS_H */
