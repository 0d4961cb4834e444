/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench: percentiles, summaries over repetitions, targets (pure). */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void bench_sort_u32(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
}

uint32_t bench_pct_u32(const uint32_t *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	/* nearest rank: ceil(p/100 * n), 1-based */
	/* the epsilon keeps 99.9 % of 10000 at 9990, not 9991 (binary fractions) */
	rank = (size_t)ceil(p * (double)n / 100.0 - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

double bench_median(const double *v, size_t n)
{
	double tmp[BENCH_MAX_REPS];

	if (n == 0 || n > BENCH_MAX_REPS)
		return NAN;
	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double min_of(const double *v, size_t n)
{
	double m = n ? v[0] : NAN;

	for (size_t i = 1; i < n; i++)
		m = fmin(m, v[i]);
	return m;
}

static double max_of(const double *v, size_t n)
{
	double m = n ? v[0] : NAN;

	for (size_t i = 1; i < n; i++)
		m = fmax(m, v[i]);
	return m;
}

int bench_results_init(struct bench_results *r, const struct bench_opts *o)
{
	size_t n;

	memset(r, 0, sizeof(*r));
	r->o = o;
	r->n_cells = bench_build_cells(o, r->cells, BENCH_MAX_CELLS);
	n = (size_t)BENCH_N_PLACEMENTS * (size_t)r->n_cells * (size_t)o->n_paths * (size_t)o->reps;
	r->samples = calloc(n ? n : 1, sizeof(*r->samples));
	return r->samples ? 0 : -ENOMEM;
}

void bench_results_free(struct bench_results *r)
{
	free(r->samples);
	r->samples = NULL;
}

struct bench_sample *bench_sample_at(const struct bench_results *r, int placement, int cell,
				     int path, int rep)
{
	size_t i =
		(((size_t)placement * (size_t)r->n_cells + (size_t)cell) * (size_t)r->o->n_paths +
		 (size_t)path) *
			(size_t)r->o->reps +
		(size_t)rep;

	return &r->samples[i];
}

int bench_tcp_path(const struct bench_opts *o)
{
	for (int i = 0; i < o->n_paths; i++)
		if (o->paths[i].kind == BENCH_PATH_TCP)
			return i;
	return -1;
}

int bench_summarize(const struct bench_results *r, int placement, int cell, int path,
		    struct bench_summary *s)
{
	double p50[BENCH_MAX_REPS], p90[BENCH_MAX_REPS], p99[BENCH_MAX_REPS];
	double mbps[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS], cpumb[BENCH_MAX_REPS];
	double frac[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS], maxv = NAN;
	double p999[BENCH_MAX_REPS], rps[BENCH_MAX_REPS], lratio[BENCH_MAX_REPS];
	double cc[BENCH_MAX_REPS], cs[BENCH_MAX_REPS], cp[BENCH_MAX_REPS];
	double cdf[BENCH_CDF_N][BENCH_MAX_REPS];
	uint64_t errors = 0, late = 0, missed = 0;
	size_t nl = 0, np = 0;
	const struct bench_cell *c = &r->cells[cell];
	int tcp = bench_tcp_path(r->o);
	size_t n = 0, nr = 0, nf = 0;

	memset(s, 0, sizeof(*s));
	if (!bench_cell_has_path(c, &r->o->paths[path]))
		return -ENOENT;
	for (int rep = 0; rep < r->o->reps; rep++) {
		const struct bench_sample *x = bench_sample_at(r, placement, cell, path, rep);

		if (!x->valid)
			continue;
		p50[n] = x->p50;
		p90[n] = x->p90;
		p99[n] = x->p99;
		p999[n] = x->p999;
		rps[n] = x->rps;
		cc[n] = x->cpu_client_us;
		cs[n] = x->cpu_server_us;
		if (!isnan(x->cpu_proxy_us))
			cp[np++] = x->cpu_proxy_us;
		for (int q = 0; q < BENCH_CDF_N; q++)
			cdf[q][n] = x->cdf_us[q];
		errors += x->errors;
		late += x->late;
		missed += x->missed;
		mbps[n] = x->mbps;
		cpu[n] = x->cpu_us_per_op;
		cpumb[n] = x->cpu_us_per_mb;
		maxv = n ? fmax(maxv, x->max) : x->max;
		if (!isnan(x->tcp_fraction))
			frac[nf++] = x->tcp_fraction;
		n++;
		if (tcp >= 0) {
			const struct bench_sample *b =
				bench_sample_at(r, placement, cell, tcp, rep);

			if (!b->valid)
				continue;
			if (c->workload == BENCH_RR && b->p50 > 0)
				ratio[nr++] = x->p50 / b->p50;
			else if (c->workload == BENCH_STREAM && b->mbps > 0)
				ratio[nr++] = x->mbps / b->mbps;
			else if (bench_workload_is_l7(c->workload) && b->rps > 0 && b->p50 > 0) {
				/* closed loop: throughput; open loop (fixed rate): latency */
				ratio[nr++] = r->o->rate > 0 ? x->p50 / b->p50 : x->rps / b->rps;
				lratio[nl++] = x->p50 / b->p50;
			}
		}
	}
	s->n = (int)n;
	s->p50 = bench_median(p50, n);
	s->p90 = bench_median(p90, n);
	s->p99 = bench_median(p99, n);
	s->p999 = bench_median(p999, n);
	s->rps = bench_median(rps, n);
	s->rps_min = min_of(rps, n);
	s->rps_max = max_of(rps, n);
	s->cpu_client_us = bench_median(cc, n);
	s->cpu_server_us = bench_median(cs, n);
	s->cpu_proxy_us = bench_median(cp, np);
	for (int q = 0; q < BENCH_CDF_N; q++)
		s->cdf_us[q] = bench_median(cdf[q], n);
	s->errors = errors;
	s->late = late;
	s->missed = missed;
	s->lat_ratio = bench_median(lratio, nl);
	s->max = maxv;
	s->p50_min = min_of(p50, n);
	s->p50_max = max_of(p50, n);
	s->mbps = bench_median(mbps, n);
	s->mbps_min = min_of(mbps, n);
	s->mbps_max = max_of(mbps, n);
	s->cpu_us_per_op = bench_median(cpu, n);
	s->cpu_us_per_mb = bench_median(cpumb, n);
	s->tcp_fraction = bench_median(frac, nf);
	s->ratio = bench_median(ratio, nr);
	s->ratio_min = min_of(ratio, nr);
	s->ratio_max = max_of(ratio, nr);
	return 0;
}

enum bench_verdict bench_verdict_for(enum bench_target_kind kind, double ratio)
{
	if (isnan(ratio))
		return BENCH_NA;
	switch (kind) {
	case BENCH_T_RTT:
		return ratio <= BENCH_TARGET_RTT_RATIO ? BENCH_PASS : BENCH_MISS;
	case BENCH_T_TPUT:
		return ratio >= BENCH_TARGET_TPUT_RATIO ? BENCH_PASS : BENCH_MISS;
	case BENCH_T_SMALL:
		if (ratio >= BENCH_TARGET_SMALL_RATIO)
			return BENCH_PASS;
		if (ratio >= BENCH_TARGET_SMALL_RATIO - BENCH_SMALL_NOISE_ALLOW)
			return BENCH_TIE;
		return BENCH_MISS;
	}
	return BENCH_NA;
}

static double target_need(enum bench_target_kind kind)
{
	switch (kind) {
	case BENCH_T_RTT:
		return BENCH_TARGET_RTT_RATIO;
	case BENCH_T_TPUT:
		return BENCH_TARGET_TPUT_RATIO;
	case BENCH_T_SMALL:
		return BENCH_TARGET_SMALL_RATIO;
	}
	return NAN;
}

int bench_eval_targets(const struct bench_results *r, struct bench_target *t, int max)
{
	const struct bench_opts *o = r->o;
	int n = 0;

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++) {
		if (!(o->placements & (1u << pl)))
			continue;
		for (int c = 0; c < r->n_cells; c++) {
			const struct bench_cell *cell = &r->cells[c];
			enum bench_target_kind kind;

			if (bench_workload_is_l7(cell->workload))
				continue; /* no targets for http/connect */
			if (cell->workload == BENCH_RR) {
				if (pl != BENCH_SAME)
					continue;
				kind = BENCH_T_RTT;
			} else {
				kind = cell->size >= BENCH_LARGE_WRITE ? BENCH_T_TPUT
								       : BENCH_T_SMALL;
			}
			for (int p = 0; p < o->n_paths && n < max; p++) {
				struct bench_summary s;

				if (o->paths[p].kind != BENCH_PATH_ACCEL)
					continue;
				if (bench_summarize(r, pl, c, p, &s))
					continue;
				t[n] = (struct bench_target){
					.kind = kind,
					.placement = pl,
					.cell = c,
					.path = p,
					.ratio = s.ratio,
					.need = target_need(kind),
					.verdict = bench_verdict_for(kind, s.ratio),
				};
				n++;
			}
		}
	}
	return n;
}

const char *bench_verdict_name(enum bench_verdict v)
{
	switch (v) {
	case BENCH_PASS:
		return "PASS";
	case BENCH_TIE:
		return "TIE";
	case BENCH_MISS:
		return "MISS";
	case BENCH_NA:
		break;
	}
	return "n/a";
}

const char *bench_target_desc(enum bench_target_kind kind)
{
	switch (kind) {
	case BENCH_T_RTT:
		return "RTT p50 <= 0.5x TCP (one vCPU)";
	case BENCH_T_TPUT:
		return "throughput >= 1.5x TCP (>=16 KiB writes)";
	case BENCH_T_SMALL:
		return "small writes not slower than TCP";
	}
	return "?";
}

const char *bench_target_id(enum bench_target_kind kind)
{
	switch (kind) {
	case BENCH_T_RTT:
		return "rtt_half_of_tcp";
	case BENCH_T_TPUT:
		return "throughput_1_5x_tcp";
	case BENCH_T_SMALL:
		return "small_writes_not_slower";
	}
	return "?";
}
