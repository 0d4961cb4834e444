/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench reports: human tables, JSON, gnuplot script. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *path_name(const struct bench_results *r, int p)
{
	return r->o->paths[p].name;
}

static void fmt_num(char *buf, size_t len, double v, int prec)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", prec, v);
}

static void fmt_pct(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f%%", v * 100);
}

/* One table row: placement, size and path names, and the row's summary. */
typedef void (*row_fn)(FILE *f, const struct bench_results *r, const char *place, const char *size,
		       const char *path, const struct bench_summary *s);

/* Every (placement, cell of workload w, path) that was measured, in table
 * order; a row without a valid repetition says so instead of calling row. */
static void print_rows(FILE *f, const struct bench_results *r, enum bench_workload w,
		       int path_width, row_fn row)
{
	const struct bench_opts *o = r->o;

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++) {
		if (!(o->placements & (1u << pl)))
			continue;
		for (int c = 0; c < r->n_cells; c++) {
			if (r->cells[c].workload != w)
				continue;
			for (int p = 0; p < o->n_paths; p++) {
				struct bench_summary s;
				char sz[32];

				if (bench_summarize(r, pl, c, p, &s))
					continue;
				if (r->cells[c].size)
					bench_fmt_size(r->cells[c].size, sz, sizeof(sz));
				else
					snprintf(sz, sizeof(sz), "-");
				if (s.n == 0)
					fprintf(f, "%-6s %-8s %-*s  (no valid repetition)\n",
						bench_placement_name(pl), sz, path_width,
						path_name(r, p));
				else
					row(f, r, bench_placement_name(pl), sz, path_name(r, p),
					    &s);
			}
		}
	}
}

static void rr_row(FILE *f, const struct bench_results *r, const char *place, const char *size,
		   const char *path, const struct bench_summary *s)
{
	char range[40], ratio[16], frac[16], cpu[16];

	(void)r;
	snprintf(range, sizeof(range), "%.2f-%.2f", s->p50_min, s->p50_max);
	fmt_num(ratio, sizeof(ratio), s->ratio, 2);
	fmt_pct(frac, sizeof(frac), s->tcp_fraction);
	fmt_num(cpu, sizeof(cpu), s->cpu_us_per_op, 2);
	fprintf(f, "%-6s %-8s %-15s %8.2f %8.2f %8.2f %8.2f %9.1f %17s %9s %6s %6s\n", place, size,
		path, s->p50, s->p90, s->p99, s->p999, s->max, range, cpu, ratio, frac);
}

static void stream_row(FILE *f, const struct bench_results *r, const char *place, const char *size,
		       const char *path, const struct bench_summary *s)
{
	char range[40], ratio[16], frac[16];

	(void)r;
	snprintf(range, sizeof(range), "%.0f-%.0f", s->mbps_min, s->mbps_max);
	fmt_num(ratio, sizeof(ratio), s->ratio, 2);
	fmt_pct(frac, sizeof(frac), s->tcp_fraction);
	fprintf(f, "%-6s %-8s %-15s %9.1f %19s %9.3f %9.1f %6s %6s\n", place, size, path, s->mbps,
		range, s->cpu_us_per_op, s->cpu_us_per_mb, ratio, frac);
}

static void l7_row(FILE *f, const struct bench_results *r, const char *place, const char *size,
		   const char *path, const struct bench_summary *s)
{
	char range[40], ratio[16], lr[16], frac[16], cp[16], cc[16], cs[16];

	snprintf(range, sizeof(range), "%.0f-%.0f", s->rps_min, s->rps_max);
	fmt_num(ratio, sizeof(ratio), s->ratio, 2);
	fmt_num(lr, sizeof(lr), s->lat_ratio, 2);
	fmt_pct(frac, sizeof(frac), s->tcp_fraction);
	fmt_num(cc, sizeof(cc), s->cpu_client_us, 2);
	fmt_num(cs, sizeof(cs), s->cpu_server_us, 2);
	fmt_num(cp, sizeof(cp), s->cpu_proxy_us, 2);
	fprintf(f,
		"%-6s %-8s %-12s %9.0f %13s %8.1f %8.1f %8.1f %8.1f %9.1f %7s %7s %7s %6s %6s %6s "
		"%5llu",
		place, size, path, s->rps, range, s->p50, s->p90, s->p99, s->p999, s->max, cc, cs,
		cp, ratio, lr, frac, (unsigned long long)s->errors);
	if (r->o->rate > 0)
		fprintf(f, " %6llu %6llu", (unsigned long long)s->late,
			(unsigned long long)s->missed);
	fprintf(f, "\n");
}

static void print_rr(FILE *f, const struct bench_results *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f,
		"\n== round trip (rr): microseconds, median of %d repetition%s; "
		"ratio = p50 / tcp p50 (paired per repetition, lower is better)\n",
		o->reps, o->reps == 1 ? "" : "s");
	fprintf(f, "%-6s %-8s %-15s %8s %8s %8s %8s %9s %17s %9s %6s %6s\n", "place", "size",
		"path", "p50", "p90", "p99", "p99.9", "max", "p50 range", "cpu us/op", "ratio",
		"tcp%");
	print_rows(f, r, BENCH_RR, 15, rr_row);
}

static void print_stream(FILE *f, const struct bench_results *r)
{
	const struct bench_opts *o = r->o;

	fprintf(f,
		"\n== stream: receiver MB/s (10^6 B/s), median of %d repetition%s; "
		"ratio = MB/s / tcp MB/s (paired per repetition, higher is better)\n",
		o->reps, o->reps == 1 ? "" : "s");
	fprintf(f, "%-6s %-8s %-15s %9s %19s %9s %9s %6s %6s\n", "place", "write", "path", "MB/s",
		"MB/s range", "cpu us/op", "cpu us/MB", "ratio", "tcp%");
	print_rows(f, r, BENCH_STREAM, 15, stream_row);
}

static void print_l7(FILE *f, const struct bench_results *r, enum bench_workload w)
{
	const struct bench_opts *o = r->o;
	bool http = w == BENCH_HTTP, open = o->rate > 0;

	if (http)
		fprintf(f,
			"\n== http: HTTP/1.1 keep-alive, %d connection%s, %s; size = response body"
			"%s; median of %d repetition%s\n",
			o->conns, o->conns == 1 ? "" : "s",
			open ? "open loop" : "closed loop (one request outstanding each)",
			o->req_size ? " (requests POST a body)" : " (requests: GET)", o->reps,
			o->reps == 1 ? "" : "s");
	else
		fprintf(f,
			"\n== connect: connect%s + close, %d at a time, %s; latency = connect() to "
			"established%s; median of %d repetition%s\n",
			o->exchange ? " + one request/response" : "", o->conns,
			open ? "open loop" : "closed loop",
			o->exchange ? "; size = response body" : "", o->reps,
			o->reps == 1 ? "" : "s");
	if (open)
		fprintf(f,
			"   open loop at %.0f/s: latency from each %s's intended send time "
			"(coordinated "
			"omission corrected); late = sent > %.0f ms after it, missed = never "
			"sent\n",
			o->rate, http ? "request" : "connection", BENCH_LATE_NS / 1e6);
	fprintf(f,
		"   latency in microseconds; cpu = us per %s (client, server, proxy from rusage / "
		"schedstat); x tcp = paired ratio vs tcp (%s)\n",
		http ? "request" : "connection",
		open ? "p50, lower is better" : "rate, higher is better");
	fprintf(f, "%-6s %-8s %-12s %9s %13s %8s %8s %8s %8s %9s %7s %7s %7s %6s %6s %6s %5s%s\n",
		"place", "size", "path", http ? "req/s" : "conn/s", "range", "p50", "p90", "p99",
		"p99.9", "max", "cpu cl", "cpu srv", "cpu px", "x tcp", "x p50", "tcp%", "err",
		open ? "   late missed" : "");
	print_rows(f, r, w, 12, l7_row);
}

static void print_targets(FILE *f, const struct bench_results *r)
{
	static struct bench_target t[BENCH_MAX_TARGETS];
	int n = bench_eval_targets(r, t, BENCH_MAX_TARGETS), counts[4] = {0};

	if (n == 0)
		return;
	if (r->o->net == BENCH_NET_PODS)
		fprintf(f,
			"\n== targets (defined for loopback: with --net pods for information only; "
			"TIE = slower by less than %.0f%%)\n",
			BENCH_SMALL_NOISE_ALLOW * 100);
	else
		fprintf(f,
			"\n== targets (reported, not enforced; TIE = slower by less than %.0f%%)\n",
			BENCH_SMALL_NOISE_ALLOW * 100);
	fprintf(f, "%-7s %-42s %-6s %-8s %-15s %6s %13s %8s\n", "verdict", "target", "place",
		"size", "path", "ratio", "range", "need");
	for (int i = 0; i < n; i++) {
		struct bench_summary s;
		char sz[32], ratio[16], range[40];

		bench_summarize(r, t[i].placement, t[i].cell, t[i].path, &s);
		bench_fmt_size(r->cells[t[i].cell].size, sz, sizeof(sz));
		fmt_num(ratio, sizeof(ratio), t[i].ratio, 2);
		if (isnan(s.ratio_min))
			snprintf(range, sizeof(range), "-");
		else
			snprintf(range, sizeof(range), "%.2f-%.2f", s.ratio_min, s.ratio_max);
		fprintf(f, "%-7s %-42s %-6s %-8s %-15s %6s %13s %2s %.2f\n",
			bench_verdict_name(t[i].verdict), bench_target_desc(t[i].kind),
			bench_placement_name(t[i].placement), sz, path_name(r, t[i].path), ratio,
			range, t[i].kind == BENCH_T_RTT ? "<=" : ">=", t[i].need);
		counts[t[i].verdict]++;
	}
	fprintf(f, "targets%s: %d PASS, %d TIE, %d MISS, %d n/a\n",
		r->o->net == BENCH_NET_PODS ? " (informational, --net pods)" : "",
		counts[BENCH_PASS], counts[BENCH_TIE], counts[BENCH_MISS], counts[BENCH_NA]);
}

int bench_print_warnings(FILE *f, const struct bench_results *r)
{
	const struct bench_opts *o = r->o;
	int printed = 0;

	/* http/connect: failed requests or connections */
	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
		for (int c = 0; c < r->n_cells && (o->placements & (1u << pl)); c++)
			for (int p = 0; p < o->n_paths; p++) {
				struct bench_summary s;
				char sz[32];

				if (!bench_workload_is_l7(r->cells[c].workload) ||
				    bench_summarize(r, pl, c, p, &s) || s.errors == 0)
					continue;
				fprintf(f,
					"WARNING: %s %s %s %s: %llu error%s (non-2xx responses, "
					"broken or refused connections)\n",
					bench_workload_name(r->cells[c].workload),
					bench_placement_name(pl),
					bench_fmt_size(r->cells[c].size, sz, sizeof(sz)),
					o->paths[p].name, (unsigned long long)s.errors,
					s.errors == 1 ? "" : "s");
				printed++;
			}

	for (int p = 0; p < o->n_paths; p++) {
		const struct bench_path *path = &o->paths[p];
		double worst = NAN;

		if (!bench_path_accelerated(path) || strcmp(path->mode, "pass") == 0)
			continue;
		/* Ping-pong is redirected in every mode but pass; redirect mode
		 * redirects streams too. Anything mostly on TCP was not accelerated. */
		for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
			for (int c = 0; c < r->n_cells; c++) {
				struct bench_summary s;

				if (r->cells[c].workload == BENCH_STREAM &&
				    strcmp(path->mode, "redirect") != 0)
					continue;
				if (!(o->placements & (1u << pl)) ||
				    bench_summarize(r, pl, c, p, &s))
					continue;
				if (!isnan(s.tcp_fraction) &&
				    (isnan(worst) || s.tcp_fraction > worst))
					worst = s.tcp_fraction;
			}
		if (!isnan(worst) && worst > 0.5) {
			fprintf(f,
				"WARNING: path %s: %.0f%% of the bytes went through the TCP stack: "
				"shuntd did not redirect these connections, its numbers are plain "
				"TCP\n",
				path->name, worst * 100);
			printed++;
		}
	}
	return printed;
}

void bench_print_tables(FILE *f, const struct bench_results *r, const struct bench_run_info *info)
{
	const struct bench_opts *o = r->o;

	fprintf(f, "shunt-bench: %s\n", info->command);
	fprintf(f,
		"started %s UTC, %.0f s; kernel %s; %d cpus; cpus used %s/%s; %.2f s measured + "
		"%.2f s warm-up per cell\n",
		info->started, info->wall_s, info->kernel, info->ncpu, o->cpus[0].text,
		o->cpus[1].text, o->duration, o->warmup);
	fprintf(f,
		"machine during the run: %.0f%% busy (shunt-bench %.0f%%, everything else "
		"%.0f%%), loadavg %.2f -> %.2f\n",
		info->busy_pct, info->own_pct, fmax(0, info->busy_pct - info->own_pct),
		info->load_start, info->load_end);
	fprintf(f, "network: %s; ratios are vs tcp of this network\n",
		info->net[0] ? info->net : bench_net_name(o->net));
	if (info->shuntd[0])
		fprintf(f, "shuntd: %s (--small-writes %s)\n", info->shuntd,
			info->small_writes_supported ? "supported" : "not supported");
	fprintf(f,
		"same = both ends on cpus %s; split = client cpus %s, server cpus %s%s; "
		"tcp%% = bytes through the TCP stack / bytes sent (accel ~0%% = redirected)\n",
		o->cpus[0].text, o->cpus[0].text, o->cpus[1].text,
		bench_workload_is_l7(o->workloads) ? " (proxy with the server)" : "");
	for (int i = 0; i < info->n_shuntds; i++)
		fprintf(f, "shuntd for path %s%s: running with small-writes=%s\n",
			info->shuntds[i].mode[0] ? "accel:" : "accel", info->shuntds[i].mode,
			info->shuntds[i].effective[0] ? info->shuntds[i].effective : "?");
	if (o->workloads & BENCH_RR)
		print_rr(f, r);
	if (o->workloads & BENCH_STREAM)
		print_stream(f, r);
	if (o->workloads & BENCH_HTTP)
		print_l7(f, r, BENCH_HTTP);
	if (o->workloads & BENCH_CONNECT)
		print_l7(f, r, BENCH_CONNECT);
	if (info->skipped[0])
		fprintf(f, "note: skipped %s\n", info->skipped);
	print_targets(f, r);
	if (info->retried || info->unmeasured)
		fprintf(f,
			"note: %d cell run%s repeated because the receiver was not scheduled "
			"inside the window; %d cell%s left without a measurement\n",
			info->retried, info->retried == 1 ? "" : "s", info->unmeasured,
			info->unmeasured == 1 ? "" : "s");
	for (int i = 0; i < info->n_failures && i < 8; i++)
		fprintf(f, "FAILED: %s\n", info->failures[i]);
	if (info->n_failures > 8)
		fprintf(f, "FAILED: ... and %d more cells\n", info->n_failures - 8);
	if (info->n_shuntds)
		fprintf(f, "\n== shuntd counters at exit (whole run, all cells of the path)\n");
	for (int i = 0; i < info->n_shuntds; i++)
		fprintf(f, "%s%s: %s\n", info->shuntds[i].mode[0] ? "accel:" : "accel",
			info->shuntds[i].mode,
			info->shuntds[i].counters[0] ? info->shuntds[i].counters : "(none logged)");
}

/* "a=1 b=2" -> {"a": 1, "b": 2}; tokens without '=' are skipped. */
static json_t *counters_json(const char *text)
{
	json_t *o = json_object();
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');

		if (!eq || eq == t)
			continue;
		*eq = '\0';
		json_object_set_new(o, t, json_integer(strtoll(eq + 1, NULL, 10)));
	}
	return o;
}

static json_t *jnum(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *config_json(const struct bench_opts *o)
{
	json_t *j = json_object(), *a;

	a = json_array();
	if (o->workloads & BENCH_RR)
		json_array_append_new(a, json_string("rr"));
	if (o->workloads & BENCH_STREAM)
		json_array_append_new(a, json_string("stream"));
	if (o->workloads & BENCH_HTTP)
		json_array_append_new(a, json_string("http"));
	if (o->workloads & BENCH_CONNECT)
		json_array_append_new(a, json_string("connect"));
	json_object_set_new(j, "workloads", a);
	if (bench_workload_is_l7(o->workloads)) {
		json_object_set_new(j, "conns", json_integer(o->conns));
		json_object_set_new(j, "rate", o->rate > 0 ? json_real(o->rate) : json_null());
		json_object_set_new(j, "loop", json_string(o->rate > 0 ? "open" : "closed"));
		json_object_set_new(j, "req_size", json_integer((json_int_t)o->req_size));
		json_object_set_new(j, "exchange", json_boolean(o->exchange));
		json_object_set_new(j, "late_ns", json_integer((json_int_t)BENCH_LATE_NS));
	}
	a = json_array();
	for (int i = 0; i < o->n_sizes; i++)
		json_array_append_new(a, json_integer((json_int_t)o->sizes[i]));
	json_object_set_new(j, "sizes", a);
	a = json_array();
	for (int i = 0; i < o->n_write_sizes; i++)
		json_array_append_new(a, json_integer((json_int_t)o->write_sizes[i]));
	json_object_set_new(j, "write_sizes", a);
	a = json_array();
	for (int i = 0; i < o->n_paths; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "name", o->paths[i].name,
						   "small_writes_mode", o->paths[i].mode,
						   "small_writes_only", o->paths[i].small_only));
	json_object_set_new(j, "paths", a);
	a = json_array();
	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
		if (o->placements & (1u << pl))
			json_array_append_new(a, json_string(bench_placement_name(pl)));
	json_object_set_new(j, "placements", a);
	json_object_set_new(j, "duration_s", json_real(o->duration));
	json_object_set_new(j, "warmup_s", json_real(o->warmup));
	json_object_set_new(j, "reps", json_integer(o->reps));
	/* "cpus" [A,B] only when both sides are single cpus (older readers) */
	if (bench_cpulist_single(&o->cpus[0]) >= 0 && bench_cpulist_single(&o->cpus[1]) >= 0)
		json_object_set_new(j, "cpus",
				    json_pack("[i,i]", bench_cpulist_single(&o->cpus[0]),
					      bench_cpulist_single(&o->cpus[1])));
	json_object_set_new(
		j, "cpu_lists",
		json_pack("{s:s,s:s}", "client", o->cpus[0].text, "server", o->cpus[1].text));
	json_object_set_new(j, "quick", json_boolean(o->quick));
	json_object_set_new(j, "net", json_string(bench_net_name(o->net)));
	return j;
}

static json_t *cdf_json(const double *us)
{
	json_t *q = json_array(), *v = json_array();

	for (int i = 0; i < BENCH_CDF_N; i++) {
		json_array_append_new(q, json_real(bench_cdf_q[i]));
		json_array_append_new(v, jnum(us[i]));
	}
	return json_pack("{s:o, s:o}", "quantile_pct", q, "latency_us", v);
}

static json_t *l7_rep_json(const struct bench_sample *x)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, "
			 "s:I, s:I}",
			 "rate", jnum(x->rps), "p50_us", jnum(x->p50), "p90_us", jnum(x->p90),
			 "p99_us", jnum(x->p99), "p999_us", jnum(x->p999), "max_us", jnum(x->max),
			 "cpu_us_per_op", jnum(x->cpu_us_per_op), "cpu_client_us_per_op",
			 jnum(x->cpu_client_us), "cpu_server_us_per_op", jnum(x->cpu_server_us),
			 "cpu_proxy_us_per_op", jnum(x->cpu_proxy_us), "tcp_fraction",
			 jnum(x->tcp_fraction), "cdf", cdf_json(x->cdf_us), "ops",
			 (json_int_t)x->ops, "errors", (json_int_t)x->errors, "late",
			 (json_int_t)x->late, "missed", (json_int_t)x->missed);
}

static json_t *reps_json(const struct bench_results *r, int pl, int c, int p, bool rr)
{
	json_t *a = json_array();
	bool l7 = bench_workload_is_l7(r->cells[c].workload);

	for (int rep = 0; rep < r->o->reps; rep++) {
		const struct bench_sample *x = bench_sample_at(r, pl, c, p, rep);

		if (!x->valid) {
			json_array_append_new(a, json_null());
			continue;
		}
		if (l7)
			json_array_append_new(a, l7_rep_json(x));
		else if (rr)
			json_array_append_new(
				a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "p50_us",
					     jnum(x->p50), "p90_us", jnum(x->p90), "p99_us",
					     jnum(x->p99), "p999_us", jnum(x->p999), "max_us",
					     jnum(x->max), "cpu_us_per_op", jnum(x->cpu_us_per_op),
					     "tcp_fraction", jnum(x->tcp_fraction), "round_trips",
					     (json_int_t)x->ops));
		else
			json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:I}", "mbps",
							   jnum(x->mbps), "cpu_us_per_op",
							   jnum(x->cpu_us_per_op), "cpu_us_per_mb",
							   jnum(x->cpu_us_per_mb), "tcp_fraction",
							   jnum(x->tcp_fraction), "writes",
							   (json_int_t)x->ops));
	}
	return a;
}

json_t *bench_results_json(const struct bench_results *r, const struct bench_run_info *info)
{
	static struct bench_target t[BENCH_MAX_TARGETS];
	const struct bench_opts *o = r->o;
	json_t *root = json_object(), *rr = json_array(), *st = json_array(), *tg = json_array();
	json_t *ht = json_array(), *cn = json_array();
	int nt;

	json_object_set_new(root, "tool", json_string("shunt-bench"));
	json_object_set_new(root, "schema", json_integer(1));
	json_object_set_new(root, "command", json_string(info->command));
	json_object_set_new(root, "config", config_json(o));
	/* which network was measured: "lo" (127.0.0.1) or "pods" (netns + veth) */
	json_object_set_new(root, "net", json_string(bench_net_name(o->net)));
	json_object_set_new(root, "net_detail", json_string(info->net));
	json_object_set_new(root, "host",
			    json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:s, s:b}",
				      "started_utc", info->started, "kernel", info->kernel, "ncpu",
				      info->ncpu, "wall_s", jnum(info->wall_s), "loadavg_start",
				      jnum(info->load_start), "loadavg_end", jnum(info->load_end),
				      "busy_pct", jnum(info->busy_pct), "own_pct",
				      jnum(info->own_pct), "shuntd", info->shuntd,
				      "small_writes_supported", info->small_writes_supported));
	json_object_set_new(json_object_get(root, "host"), "retried_cells",
			    json_integer(info->retried));
	json_object_set_new(json_object_get(root, "host"), "unmeasured_cells",
			    json_integer(info->unmeasured));
	json_t *fails = json_array();

	for (int i = 0; i < info->n_failures && i < 8; i++)
		json_array_append_new(fails, json_string(info->failures[i]));
	json_object_set_new(root, "failed_cells", json_integer(info->n_failures));
	json_object_set_new(root, "failures", fails);

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++) {
		if (!(o->placements & (1u << pl)))
			continue;
		for (int c = 0; c < r->n_cells; c++) {
			enum bench_workload w = r->cells[c].workload;
			bool is_rr = w == BENCH_RR, l7 = bench_workload_is_l7(w);

			for (int p = 0; p < o->n_paths; p++) {
				struct bench_summary s;
				json_t *e;

				if (bench_summarize(r, pl, c, p, &s))
					continue;
				e = json_pack("{s:s, s:I, s:s, s:i}", "placement",
					      bench_placement_name(pl),
					      w == BENCH_STREAM ? "write_size" : "size",
					      (json_int_t)r->cells[c].size, "path",
					      o->paths[p].name, "valid_reps", s.n);
				if (is_rr || l7) {
					json_object_set_new(e, "p50_us", jnum(s.p50));
					json_object_set_new(e, "p90_us", jnum(s.p90));
					json_object_set_new(e, "p99_us", jnum(s.p99));
					json_object_set_new(e, "p999_us", jnum(s.p999));
					json_object_set_new(e, "max_us", jnum(s.max));
					json_object_set_new(e, "p50_min_us", jnum(s.p50_min));
					json_object_set_new(e, "p50_max_us", jnum(s.p50_max));
				} else {
					json_object_set_new(e, "mbps", jnum(s.mbps));
					json_object_set_new(e, "mbps_min", jnum(s.mbps_min));
					json_object_set_new(e, "mbps_max", jnum(s.mbps_max));
					json_object_set_new(e, "cpu_us_per_mb",
							    jnum(s.cpu_us_per_mb));
				}
				json_object_set_new(e, "cpu_us_per_op", jnum(s.cpu_us_per_op));
				json_object_set_new(e, "tcp_fraction", jnum(s.tcp_fraction));
				json_object_set_new(e, "ratio_vs_tcp", jnum(s.ratio));
				json_object_set_new(e, "ratio_min", jnum(s.ratio_min));
				json_object_set_new(e, "ratio_max", jnum(s.ratio_max));
				if (l7) {
					json_object_set_new(e, "rate", jnum(s.rps));
					json_object_set_new(e, "rate_min", jnum(s.rps_min));
					json_object_set_new(e, "rate_max", jnum(s.rps_max));
					json_object_set_new(e, "cpu_client_us_per_op",
							    jnum(s.cpu_client_us));
					json_object_set_new(e, "cpu_server_us_per_op",
							    jnum(s.cpu_server_us));
					json_object_set_new(e, "cpu_proxy_us_per_op",
							    jnum(s.cpu_proxy_us));
					json_object_set_new(e, "p50_ratio_vs_tcp",
							    jnum(s.lat_ratio));
					json_object_set_new(e, "errors", json_integer(s.errors));
					json_object_set_new(e, "late", json_integer(s.late));
					json_object_set_new(e, "missed", json_integer(s.missed));
					json_object_set_new(e, "cdf", cdf_json(s.cdf_us));
				}
				json_object_set_new(e, "reps", reps_json(r, pl, c, p, is_rr));
				json_array_append_new(w == BENCH_RR	  ? rr
						      : w == BENCH_STREAM ? st
						      : w == BENCH_HTTP	  ? ht
									  : cn,
						      e);
			}
		}
	}
	nt = bench_eval_targets(r, t, BENCH_MAX_TARGETS);
	for (int i = 0; i < nt; i++)
		json_array_append_new(
			tg, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:f, s:s}", "target",
				      bench_target_id(t[i].kind), "description",
				      bench_target_desc(t[i].kind), "placement",
				      bench_placement_name(t[i].placement), "workload",
				      bench_workload_name(r->cells[t[i].cell].workload), "size",
				      (json_int_t)r->cells[t[i].cell].size, "path",
				      o->paths[t[i].path].name, "ratio", jnum(t[i].ratio), "need",
				      t[i].need, "verdict", bench_verdict_name(t[i].verdict)));
	json_t *sd = json_array();

	for (int i = 0; i < info->n_shuntds; i++)
		json_array_append_new(sd, json_pack("{s:s, s:s, s:o}", "small_writes_flag",
						    info->shuntds[i].mode, "effective_mode",
						    info->shuntds[i].effective, "counters",
						    counters_json(info->shuntds[i].counters)));
	json_object_set_new(root, "shuntd", sd);
	json_object_set_new(root, "rr", rr);
	json_object_set_new(root, "stream", st);
	json_object_set_new(root, "http", ht);
	json_object_set_new(root, "connect", cn);
	json_object_set_new(root, "skipped", json_string(info->skipped));
	json_object_set_new(root, "targets", tg);
	/* targets are defined for loopback; with pods they are information */
	json_object_set_new(root, "targets_informational", json_boolean(o->net == BENCH_NET_PODS));
	return root;
}

/* gnuplot single-quoted string: a quote is written twice. */
static void gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

enum gp_panel_kind {
	GP_RTT,	  /* rr p50, us */
	GP_MBPS,  /* stream MB/s, log scale */
	GP_RATIO, /* stream MB/s / tcp MB/s */
	GP_RATE,  /* http/connect: req/s (conn/s) per size */
	GP_CDF,	  /* latency CDF per path, first cell of a workload */
};

/* Latency CDF of every path at the first cell of workload w. */
static void gp_cdf(FILE *f, const struct bench_results *r, int pl, enum bench_workload w)
{
	const struct bench_opts *o = r->o;
	bool first = true, any = false, has[BENCH_MAX_PATHS];
	char sz[32] = "-";
	int c;

	for (c = 0; c < r->n_cells; c++)
		if (r->cells[c].workload == w)
			break;
	if (c == r->n_cells)
		return;
	if (r->cells[c].size)
		bench_fmt_size(r->cells[c].size, sz, sizeof(sz));
	for (int p = 0; p < o->n_paths; p++) {
		struct bench_summary s;

		has[p] = false;
		fprintf(f, "$c%d_%d_%d << EOD\n", pl, (int)w, p);
		if (!bench_summarize(r, pl, c, p, &s) && s.n)
			for (int q = 0; q < BENCH_CDF_N; q++)
				if (s.cdf_us[q] > 0) {
					fprintf(f, "%g %g\n", s.cdf_us[q], bench_cdf_q[q]);
					has[p] = any = true;
				}
		fprintf(f, "EOD\n");
	}
	if (!any) {
		fprintf(f, "set multiplot next\n"); /* keep the layout: an empty cell */
		return;
	}
	fprintf(f, "set title '%s latency CDF, %s, %s'\n",
		w == BENCH_RR	  ? "round trip"
		: w == BENCH_HTTP ? "request"
				  : "connect",
		sz, pl == BENCH_SAME ? "one vCPU" : "split across two vCPUs");
	fprintf(f, "set xlabel 'microseconds (log)'\nset ylabel 'percent of %s'\n",
		w == BENCH_CONNECT ? "connections" : "requests");
	fprintf(f, "set logscale x 10\nunset logscale y\nset yrange [0:100]\n"
		   "set format x '%%g'\nset key bottom right\nplot ");
	for (int p = 0; p < o->n_paths; p++) {
		if (!has[p])
			continue;
		fprintf(f, "%s$c%d_%d_%d using 1:2 with lines lt %d lw 2 title ", first ? "" : ", ",
			pl, (int)w, p, p + 1);
		gp_quote(f, o->paths[p].name);
		first = false;
	}
	/* back to the defaults of the size panels */
	fprintf(f, "\nset logscale x 2\nset format x '%%.0b%%B'\nset key top left\n"
		   "unset logscale y\n");
}

static void gp_panel(FILE *f, const struct bench_results *r, int pl, enum gp_panel_kind kind)
{
	static const char *const titles[] = {"round trip p50", "stream throughput",
					     "stream throughput / TCP", "throughput"};
	static const char *const ylabels[] = {"microseconds (lower is better)",
					      "MB/s (higher is better)", "x TCP (higher is better)",
					      "per second (higher is better)"};
	const struct bench_opts *o = r->o;
	enum bench_workload w = kind == GP_RTT ? BENCH_RR
				: kind == GP_RATE
					? (o->workloads & BENCH_HTTP ? BENCH_HTTP : BENCH_CONNECT)
					: BENCH_STREAM;
	bool first = true;

	for (int p = 0; p < o->n_paths; p++) {
		fprintf(f, "$d%d_%d_%d << EOD\n", pl, (int)kind, p);
		for (int c = 0; c < r->n_cells; c++) {
			struct bench_summary s;

			if (r->cells[c].workload != w || bench_summarize(r, pl, c, p, &s) || !s.n)
				continue;
			if (kind == GP_RTT)
				fprintf(f, "%zu %g %g %g\n", r->cells[c].size, s.p50, s.p50_min,
					s.p50_max);
			else if (kind == GP_MBPS)
				fprintf(f, "%zu %g %g %g\n", r->cells[c].size, s.mbps, s.mbps_min,
					s.mbps_max);
			else if (kind == GP_RATE)
				fprintf(f, "%zu %g %g %g\n",
					r->cells[c].size ? r->cells[c].size : 1, s.rps, s.rps_min,
					s.rps_max);
			else if (!isnan(s.ratio))
				fprintf(f, "%zu %g %g %g\n", r->cells[c].size, s.ratio, s.ratio_min,
					s.ratio_max);
		}
		fprintf(f, "EOD\n");
	}
	fprintf(f, "set title '%s, %s'\n", titles[kind],
		pl == BENCH_SAME ? "both ends on one vCPU" : "split across two vCPUs");
	fprintf(f, "set xlabel '%s'\nset ylabel '%s'\n",
		w == BENCH_RR	    ? "message size (bytes)"
		: w == BENCH_STREAM ? "write size (bytes)"
				    : "response body (bytes)",
		kind == GP_RATE && w == BENCH_HTTP ? "requests per second (higher is better)"
		: kind == GP_RATE && w == BENCH_CONNECT
			? "connections per second (higher is better)"
			: ylabels[kind]);
	if (kind == GP_MBPS)
		fprintf(f, "set logscale y 10\nset yrange [*:*]\n");
	else
		fprintf(f, "unset logscale y\nset yrange [0:*]\n");
	fprintf(f, "plot ");
	if (kind == GP_RATIO) {
		fprintf(f, "1 with lines lc rgb 'black' dt 2 lw 1.5 title 'tcp', 1.5 with lines lc "
			   "rgb "
			   "'#c00000' dt 4 lw 2 title 'target >= 16 KiB'");
		first = false;
	}
	for (int p = 0; p < o->n_paths; p++) {
		bool any = false;

		if (kind == GP_RATIO && o->paths[p].kind == BENCH_PATH_TCP)
			continue;
		for (int c = 0; c < r->n_cells; c++)
			if (r->cells[c].workload == w &&
			    bench_cell_has_path(&r->cells[c], &o->paths[p]))
				any = true;
		if (!any)
			continue;
		/* one colour per path in every panel */
		fprintf(f, "%s$d%d_%d_%d using 1:2:3:4 with yerrorlines lt %d lw 2 title ",
			first ? "" : ", ", pl, (int)kind, p, p + 1);
		gp_quote(f, o->paths[p].name);
		first = false;
	}
	fprintf(f, "\n");
}

void bench_write_gnuplot(FILE *f, const struct bench_results *r, const char *out_path)
{
	const struct bench_opts *o = r->o;
	const char *dot = strrchr(out_path, '.');
	bool ratio = bench_tcp_path(o) >= 0 && (o->workloads & BENCH_STREAM);
	int rows = 0, cols;

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
		rows += !!(o->placements & (1u << pl));
	cols = !!(o->workloads & BENCH_RR) + !!(o->workloads & BENCH_STREAM) + ratio;
	cols += !!(o->workloads & BENCH_RR);		    /* rr latency CDF */
	cols += bench_workload_is_l7(o->workloads) ? 2 : 0; /* rate by size + CDF */
	if (dot && strcmp(dot, ".svg") == 0)
		fprintf(f, "set terminal svg size %d,%d noenhanced dynamic\n", 600 * cols,
			420 * rows);
	else
		fprintf(f, "set terminal pngcairo size %d,%d noenhanced\n", 600 * cols, 420 * rows);
	fprintf(f, "set output ");
	gp_quote(f, out_path);
	fprintf(f, "\nset logscale x 2\nset grid\nset key top left\nset yrange [0:*]\n"
		   "set format x '%%.0b%%B'\nset offsets graph 0.03, graph 0.03, 0, 0\n");
	fprintf(f,
		"set multiplot layout %d,%d title 'shunt-bench (%s): median of %d repetitions, "
		"bars = range'\n",
		rows, cols,
		o->net == BENCH_NET_PODS ? "between pods: netns, veth, bridge" : "loopback",
		o->reps);
	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++) {
		if (!(o->placements & (1u << pl)))
			continue;
		if (o->workloads & BENCH_RR)
			gp_panel(f, r, pl, GP_RTT);
		if (o->workloads & BENCH_STREAM)
			gp_panel(f, r, pl, GP_MBPS);
		if (ratio)
			gp_panel(f, r, pl, GP_RATIO);
		if (o->workloads & BENCH_RR)
			gp_cdf(f, r, pl, BENCH_RR);
		if (bench_workload_is_l7(o->workloads)) {
			gp_panel(f, r, pl, GP_RATE);
			gp_cdf(f, r, pl, o->workloads & BENCH_HTTP ? BENCH_HTTP : BENCH_CONNECT);
		}
	}
	fprintf(f, "unset multiplot\n");
}
