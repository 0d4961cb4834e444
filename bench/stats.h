/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench: result grid, percentiles, summaries and targets (pure). */
#ifndef SHUNT_BENCH_STATS_H
#define SHUNT_BENCH_STATS_H

#include "bench.h"

#include <stddef.h>
#include <stdint.h>

/* Sort ascending in place. */
void bench_sort_u32(uint32_t *v, size_t n);

/* Nearest-rank percentile (p in 0..100) of ascending data; 0 when n == 0. */
uint32_t bench_pct_u32(const uint32_t *sorted, size_t n, double p);

/* Median of n values (v is not modified); NAN when n == 0. */
double bench_median(const double *v, size_t n);

/* All samples of a run: [placement][cell][path][rep]. */
struct bench_results {
	const struct bench_opts *o;
	struct bench_cell cells[BENCH_MAX_CELLS];
	int n_cells;
	struct bench_sample *samples;
};

int bench_results_init(struct bench_results *r, const struct bench_opts *o);
void bench_results_free(struct bench_results *r);
struct bench_sample *bench_sample_at(const struct bench_results *r, int placement, int cell,
				     int path, int rep);
/* Index of the baseline "tcp" path or -1. */
int bench_tcp_path(const struct bench_opts *o);

/* Summary over the repetitions of one (placement, cell, path). */
struct bench_summary {
	int n;		      /* valid repetitions */
	double p50, p90, p99; /* medians over repetitions, us */
	double max;	      /* largest round trip seen in any repetition, us */
	double p50_min, p50_max;
	double mbps, mbps_min, mbps_max;
	double cpu_us_per_op, cpu_us_per_mb, tcp_fraction;
	/* Median over repetitions of (this path / tcp path of the same repetition):
	 * RTT p50 ratio for rr (lower is better), MB/s ratio for stream. NAN when
	 * there is no tcp path or no paired repetition. */
	double ratio, ratio_min, ratio_max;
	/* p99.9 (all latency workloads); http/connect: rate, CPU per side, counts
	 * summed over repetitions, CDF (median per quantile), p50 / tcp p50 */
	double p999, rps, rps_min, rps_max;
	double cpu_client_us, cpu_server_us, cpu_proxy_us;
	uint64_t errors, late, missed;
	double cdf_us[BENCH_CDF_N];
	double lat_ratio;
};

/* Returns 0, or -ENOENT when the (cell, path) is not in the grid. */
int bench_summarize(const struct bench_results *r, int placement, int cell, int path,
		    struct bench_summary *s);

enum bench_target_kind {
	BENCH_T_RTT,   /* rr, one vCPU: accel p50 <= 0.5 x TCP */
	BENCH_T_TPUT,  /* stream >= 16 KiB writes: accel >= 1.5 x TCP */
	BENCH_T_SMALL, /* stream < 16 KiB writes: accel never slower than TCP */
};

enum bench_verdict {
	BENCH_PASS,
	BENCH_TIE, /* small writes: slower by less than the noise allowance */
	BENCH_MISS,
	BENCH_NA, /* no TCP baseline or no valid repetition */
};

struct bench_target {
	enum bench_target_kind kind;
	int placement, cell, path;
	double ratio, need;
	enum bench_verdict verdict;
};

#define BENCH_MAX_TARGETS (BENCH_N_PLACEMENTS * BENCH_MAX_CELLS * BENCH_MAX_PATHS)

/* Evaluate every target that applies to the grid. Returns the count. */
int bench_eval_targets(const struct bench_results *r, struct bench_target *t, int max);
enum bench_verdict bench_verdict_for(enum bench_target_kind kind, double ratio);
const char *bench_verdict_name(enum bench_verdict v);
const char *bench_target_desc(enum bench_target_kind kind);
const char *bench_target_id(enum bench_target_kind kind);

#endif
