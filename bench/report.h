/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench reports: human tables, JSON, gnuplot script. */
#ifndef SHUNT_BENCH_REPORT_H
#define SHUNT_BENCH_REPORT_H

#include "stats.h"

#include <jansson.h>
#include <stdio.h>

/* One shuntd of the run, from its log. */
struct bench_shuntd_info {
	char mode[BENCH_MODE_LEN];	/* --small-writes given, "" = default */
	char effective[BENCH_MODE_LEN]; /* mode it reported running with */
	char counters[1024];		/* "name=value ..." at exit */
};

/* What the run looked like from outside (machine load, versions). */
struct bench_run_info {
	char started[32]; /* UTC, ISO 8601 */
	double wall_s;
	char kernel[128];
	int ncpu;
	double load_start, load_end; /* 1-minute loadavg */
	double busy_pct;	     /* all CPUs busy during the run, % of ncpu */
	double own_pct;		     /* of which shunt-bench's workers */
	char shuntd[4096];	     /* "" when no accel path */
	bool small_writes_supported;
	char command[1024];
	int retried;	       /* cell runs repeated after -EAGAIN */
	int unmeasured;	       /* cells left without a valid sample */
	int n_failures;	       /* cells whose connection failed (-EBADMSG) */
	char failures[8][400]; /* the first of them: "what: why" */
	struct bench_shuntd_info shuntds[BENCH_MAX_PATHS];
	int n_shuntds;
	char skipped[256]; /* paths left out: "haproxy (haproxy not installed)" */
	char net[256];	   /* --net, described: "lo (...)" or "pods (netns names ...)" */
};

void bench_print_tables(FILE *f, const struct bench_results *r, const struct bench_run_info *info);

/* Warnings about the data (accel path not redirected ...), one per line.
 * Returns how many were printed. */
int bench_print_warnings(FILE *f, const struct bench_results *r);

/* Whole run as JSON (caller json_decref()s). */
json_t *bench_results_json(const struct bench_results *r, const struct bench_run_info *info);

/* gnuplot script drawing RTT p50 and MB/s per size and path into out_path
 * (.png or .svg). */
void bench_write_gnuplot(FILE *f, const struct bench_results *r, const char *out_path);

#endif
