/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench: round-trip latency and stream throughput of loopback TCP,
 * shunt-accelerated TCP and UNIX sockets, measured in one run with
 * interleaved repetitions.
 *
 * main() order: parse args -> check the machine (cpus, root, shuntd,
 * gnuplot) -> start shuntd(s) -> run the grid -> stop shuntd(s) -> reports.
 * Exit: 0 done (targets are reported, never enforced), 1 runtime failure,
 * 2 bad input, 130 interrupted.
 */
#include "accel.h"
#include "bench.h"
#include "podnet.h"
#include "report.h"
#include "stats.h"
#include "workload.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_BAD_INPUT	 2
#define EXIT_INTERRUPTED 130
#define MAX_RR_SAMPLES	 (4u << 20)
#define CELL_OVERHEAD_S	 0.01 /* fork, connect, reap: for the ETA only */
#define MAX_RETRIES	 2    /* extra runs of a cell whose receiver missed the window */

static const char usage_text[] =
	"usage: shunt-bench [rr|stream|all|http|connect] [options]\n"
	"\n"
	"Measures round-trip latency (rr) and stream throughput of loopback TCP (tcp),\n"
	"TCP accelerated by shuntd (accel) and a UNIX socket (unix) in one run, with\n"
	"repetitions interleaved across paths, in two CPU placements.\n"
	"\n"
	"modes:\n"
	"  rr                 closed-loop ping-pong, N bytes each way; p50..p99.9, max\n"
	"  stream             one-way writes of N bytes, receiver reads 1 MiB; MB/s\n"
	"  all                both (default)\n"
	"  http               HTTP/1.1 keep-alive request/response against shunt-bench's\n"
	"                     own server (fixed response of --sizes bytes); closed loop\n"
	"                     (--conns C, one request outstanding each) or open loop\n"
	"                     (--rate R req/s, latency from the intended send time)\n"
	"  connect            connection setup: connect + one request/response + close;\n"
	"                     connections/s and connect latency percentiles\n"
	"options:\n"
	"  --sizes LIST       rr message sizes, http/connect response bodies (default\n"
	"                     64,1K,64K; connect 64; suffix K/M = KiB/MiB)\n"
	"  --write-sizes LIST stream write sizes (default 64,1K,16K,256K)\n"
	"  --paths LIST       tcp,accel,unix (default all three); accel:MODE runs shuntd\n"
	"                     with --small-writes MODE (adaptive, redirect, pass);\n"
	"                     http/connect also: proxy (shunt-proxy), proxy+accel (its\n"
	"                     legs accelerated by shuntd), haproxy, nginx (default: all,\n"
	"                     haproxy/nginx skipped with a note when not installed)\n"
	"  --conns C          http/connect: concurrent connections (default 16 / 4)\n"
	"  --rate R           http/connect: open loop at R requests (connections) per s\n"
	"  --req-size N       http: request body bytes (default 0 = GET)\n"
	"  --no-exchange      connect: only connect + close, no request\n"
	"  --proxy PATH       shunt-proxy binary (default <build>/proxy/shunt-proxy, then\n"
	"                     $PATH)\n"
	"  --proxy-config F   shunt config for shunt-proxy (its listeners are replaced;\n"
	"                     default: allow-all)\n"
	"  --net lo|pods      where the two ends live: lo (default) = both in this\n"
	"                     netns over 127.0.0.1; pods (root) = client and server\n"
	"                     each in its own pod netns (eth0 = a veth on a bridge in\n"
	"                     a node netns, 10.251.0.10 -> 10.251.0.11), made for the\n"
	"                     run and removed after it. Paths: tcp, accel[:MODE]; unix\n"
	"                     and the proxy paths are loopback-only (skipped). Targets\n"
	"                     are defined for loopback: with pods they are shown as\n"
	"                     information\n"
	"  --placement P      same (both ends on the client cpus), split (client and\n"
	"                     server on their own cpus, see --cpus) or both (default)\n"
	"  --cpus C/S         vCPU lists in cpuset syntax (\"0\", \"0,2\", \"0-3,6\"): same =\n"
	"                     both ends on C, split = client on C, server (and proxy)\n"
	"                     on S; each process may run on any cpu of its list.\n"
	"                     A,B (two single cpus) = A/B. Default 0/1. JSON: \"cpu_lists\"\n"
	"                     {\"client\":\"C\",\"server\":\"S\"}; \"cpus\" [A,B] only when\n"
	"                     both lists are single cpus\n"
	"  --duration SEC     measured seconds per cell (default 0.4; 10%, 20-100 ms, of\n"
	"                     warm-up is run first and discarded)\n"
	"  --reps N           repetitions per cell, interleaved across paths (default 5)\n"
	"  --small-writes L   extra accel:MODE paths measured at stream write sizes below\n"
	"                     16 KiB: a list of adaptive,redirect,pass, 'all' or 'none'\n"
	"                     (default: all modes when shuntd supports --small-writes)\n"
	"  --json FILE        write every number (and each repetition) as JSON\n"
	"  --plot FILE        draw RTT and MB/s per size with gnuplot (.png or .svg);\n"
	"                     http/connect: req/s per size and the latency CDF per path\n"
	"  --shuntd PATH      shuntd binary (default: <build>/sockmap/shuntd next to this\n"
	"                     binary's build dir, then $PATH)\n"
	"  --quick            CI smoke: 0.05 s per cell, 2 repetitions (< 20 s)\n"
	"  -h, --help         this text\n"
	"\n"
	"The accel path needs root: shunt-bench makes <cgroup2>/shunt-bench-<pid>/, starts\n"
	"one shuntd per mode on its own child cgroup with a pin dir under /sys/fs/bpf,\n"
	"and removes all of it on exit, Ctrl-C included. Targets (accel RTT <= 0.5x TCP on\n"
	"one vCPU, MB/s >= 1.5x TCP at >= 16 KiB writes, small writes not slower) are\n"
	"reported as PASS/TIE/MISS and never change the exit status.\n"
	"exit: 0 done, 1 runtime failure or a connection that stalled/lost bytes (the\n"
	"other cells are still measured and reported), 2 bad input, 130 interrupted\n";

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: blocking waits return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct cpu_snap {
	double busy_s, total_s; /* all cpus, from /proc/stat */
	double children_s;	/* shunt-bench + its reaped workers */
	double load1;
};

static void cpu_snapshot(struct cpu_snap *s)
{
	unsigned long long v[10] = {0}, total = 0;
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct rusage ru;
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = fopen("/proc/stat", "re");
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
			/* guest time is already inside user/nice */
			for (int i = 0; i < 8; i++)
				total += v[i];
			s->total_s = (double)total / tck;
			s->busy_s = (double)(total - v[3] - v[4]) / tck;
		}
		fclose(f);
	}
	f = fopen("/proc/loadavg", "re");
	if (f) {
		if (fscanf(f, "%lf", &s->load1) != 1)
			s->load1 = NAN;
		fclose(f);
	}
	/* shunt-bench itself plus its reaped workers */
	for (int who = 0; who < 2; who++) {
		getrusage(who ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru);
		s->children_s += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
				 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	}
}

static bool have_gnuplot(void)
{
	const char *env = getenv("PATH");
	char buf[PATH_MAX];

	while (env && *env) {
		const char *colon = strchr(env, ':');
		size_t n = colon ? (size_t)(colon - env) : strlen(env);

		snprintf(buf, sizeof(buf), "%.*s/gnuplot", (int)n, env);
		if (n && access(buf, X_OK) == 0)
			return true;
		if (!colon)
			break;
		env = colon + 1;
	}
	return false;
}

struct progress {
	bool on, tty;
	int total, done, last_decile;
	double t0, est_cell;
};

static void progress_show(struct progress *pg, const char *what)
{
	double el = mono_s() - pg->t0;
	double eta = pg->done ? el / pg->done * (pg->total - pg->done) : pg->est_cell * pg->total;
	int pct = pg->total ? 100 * pg->done / pg->total : 100;

	if (!pg->on)
		return;
	if (pg->tty) {
		fprintf(stderr, "\r\033[K[%4d/%d %3d%%] %-40s eta %.0f s", pg->done, pg->total, pct,
			what, eta);
	} else if (pct / 10 != pg->last_decile) {
		pg->last_decile = pct / 10;
		fprintf(stderr, "shunt-bench: %3d%% (%d/%d cells), eta %.0f s\n", pct, pg->done,
			pg->total, eta);
	}
	fflush(stderr);
}

static void progress_end(struct progress *pg)
{
	if (pg->on && pg->tty)
		fprintf(stderr, "\r\033[K");
}

/* --net pods: the run's namespaces (NULL with --net lo). */
static struct bench_pods *pods_net;

/* http/connect: proxy binaries per path kind and the config directory. */
static char proxy_bins[BENCH_PATH_NGINX + 1][PATH_MAX];
static char l7_work_dir[64];

static const char *bin_of_path(const struct bench_path *p)
{
	return proxy_bins[p->kind][0] ? proxy_bins[p->kind] : NULL;
}

/* Find the proxy of every proxy path. A missing one is fatal when the path
 * was asked for by name, else the path is dropped with a note. Returns 0 or
 * EXIT_BAD_INPUT after printing why. */
static int resolve_proxies(struct bench_opts *o, const char *self, struct bench_run_info *info)
{
	size_t before = strlen(info->skipped);
	int kept = 0;

	for (int i = 0; i < o->n_paths; i++) {
		struct bench_path *p = &o->paths[i];
		const char *name = NULL, *explicit_bin = NULL, *sib = NULL;
		char *out = proxy_bins[p->kind];

		switch (p->kind) {
		case BENCH_PATH_PROXY:
		case BENCH_PATH_PROXY_ACCEL:
			name = "shunt-proxy";
			explicit_bin = o->proxy_path;
			sib = "proxy";
			break;
		case BENCH_PATH_HAPROXY:
			name = "haproxy";
			break;
		case BENCH_PATH_NGINX:
			name = "nginx";
			break;
		default:
			break;
		}
		if (name && !out[0] &&
		    bench_find_binary(name, explicit_bin, self, sib, out, PATH_MAX)) {
			if (p->explicit_path || explicit_bin) {
				if (explicit_bin)
					fprintf(stderr,
						"shunt-bench: path %s: --proxy %s is not an "
						"executable file\n",
						p->name, explicit_bin);
				else
					fprintf(stderr,
						"shunt-bench: path %s needs %s, which is not "
						"installed (not in $PATH or /usr/sbin)%s\n",
						p->name, name,
						sib ? "; build proxy/ or pass --proxy PATH" : "");
				return EXIT_BAD_INPUT;
			}
			size_t used = strlen(info->skipped);

			snprintf(info->skipped + used, sizeof(info->skipped) - used,
				 "%s%s (%s not installed)", used ? ", " : "", p->name, name);
			continue;
		}
		o->paths[kept++] = *p;
	}
	o->n_paths = kept;
	if (strlen(info->skipped) > before)
		fprintf(stderr, "shunt-bench: skipping %s\n",
			info->skipped + before + (before ? 2 : 0));
	return 0;
}

static void remove_work_dir(void)
{
	DIR *d;
	struct dirent *de;
	char path[PATH_MAX];

	if (!l7_work_dir[0])
		return;
	d = opendir(l7_work_dir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", l7_work_dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(l7_work_dir);
	l7_work_dir[0] = '\0';
}

/* One grid point: run the cell (re-running it when its receiver missed the
 * window), record a broken connection against the path and carry on.
 * Returns 0, -EINTR or a fatal -errno with err filled. */
static int run_point(struct bench_results *r, const struct bench_accel *accel,
		     struct bench_shared *sh, struct bench_run_info *info, struct progress *pg,
		     int rep, int pl, int c, int p, unsigned id, char *err, size_t errlen)
{
	const struct bench_opts *o = r->o;
	const struct bench_path *path = &o->paths[p];
	struct bench_cell_spec spec = {
		.workload = r->cells[c].workload,
		.size = r->cells[c].size,
		.kind = path->kind,
		.cgroup = accel ? bench_accel_cgroup(accel, path) : NULL,
		.client_cpus = &o->cpus[0],
		.server_cpus = pl == BENCH_SAME ? &o->cpus[0] : &o->cpus[1],
		.warmup = o->warmup,
		.duration = o->duration,
		.id = id,
		.conns = o->conns,
		.rate = o->rate,
		.req_size = o->req_size,
		.exchange = o->exchange,
		.proxy_bin = bin_of_path(path),
		.proxy_config = o->proxy_config,
		.work_dir = l7_work_dir,
		.client_netns = pods_net ? pods_net->path[BENCH_NS_A] : NULL,
		.server_netns = pods_net ? pods_net->path[BENCH_NS_B] : NULL,
		.server_ip = pods_net ? pods_net->server_ip : 0,
	};
	char what[96], sz[32], cerr[256];
	int ret;

	snprintf(what, sizeof(what), "rep %d/%d %s %s %s %s", rep + 1, o->reps,
		 bench_placement_name(pl), bench_workload_name(spec.workload),
		 bench_fmt_size(spec.size, sz, sizeof(sz)), path->name);
	progress_show(pg, what);
	for (int attempt = 0;; attempt++) {
		ret = bench_run_cell(&spec, sh, bench_sample_at(r, pl, c, p, rep), cerr,
				     sizeof(cerr));
		if (ret != -EAGAIN || bench_stop)
			break;
		if (attempt == MAX_RETRIES) {
			info->unmeasured++;
			ret = 0; /* the sample stays invalid */
			break;
		}
		info->retried++;
	}
	if (bench_stop)
		return -EINTR; /* a terminal Ctrl-C may kill the workers first */
	if (ret == -EBADMSG) {
		/* the path broke: measure the rest, list it, exit 1 at the end */
		if (info->n_failures < 8)
			snprintf(info->failures[info->n_failures], sizeof(info->failures[0]),
				 "%s: %s", what, cerr);
		info->n_failures++;
		fprintf(stderr, "\nshunt-bench: %s: %s\n", what, cerr);
		ret = 0;
	}
	if (ret)
		snprintf(err, errlen, "%s: %s", what, cerr);
	return ret;
}

/* The measurement grid: repetitions outermost, paths innermost and rotated
 * each repetition (ABC, BCA, CAB ...) so drift and noise hit all paths. */
static int run_grid(struct bench_results *r, const struct bench_accel *accel,
		    struct bench_shared *sh, struct bench_run_info *info, char *err, size_t errlen)
{
	const struct bench_opts *o = r->o;
	struct progress pg = {0};
	unsigned id = 0;
	int ret = 0;

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
		for (int c = 0; c < r->n_cells && (o->placements & (1u << pl)); c++)
			for (int p = 0; p < o->n_paths; p++)
				if (bench_cell_has_path(&r->cells[c], &o->paths[p]))
					pg.total += o->reps;
	pg.est_cell = o->warmup + o->duration + CELL_OVERHEAD_S;
	pg.on = pg.est_cell * pg.total > 2.0;
	pg.tty = isatty(STDERR_FILENO);
	pg.last_decile = -1;
	pg.t0 = mono_s();

	for (int rep = 0; rep < o->reps && !ret; rep++)
		for (int pl = 0; pl < BENCH_N_PLACEMENTS && !ret; pl++) {
			if (!(o->placements & (1u << pl)))
				continue;
			for (int c = 0; c < r->n_cells && !ret; c++)
				for (int k = 0; k < o->n_paths && !ret; k++) {
					int p = (k + rep) % o->n_paths;

					if (!bench_cell_has_path(&r->cells[c], &o->paths[p]))
						continue;
					ret = run_point(r, accel, sh, info, &pg, rep, pl, c, p,
							id++, err, errlen);
					pg.done++;
				}
		}
	progress_end(&pg);
	return ret;
}

static void join_command(char *out, size_t len, int argc, char **argv)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < argc && used + 1 < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

int main(int argc, char **argv)
{
	static struct bench_opts opts;
	static struct bench_run_info info;
	static struct bench_accel accel;
	static struct bench_pods pods;
	char ip_bin[PATH_MAX] = "";
	struct bench_results res = {0};
	struct bench_shared *sh = NULL;
	struct cpu_snap s0, s1;
	char err[512], self[PATH_MAX], shuntd[PATH_MAX] = "";
	bool accel_on = false, need_work_dir = false;
	struct utsname un;
	double t0;
	ssize_t n;
	int ret, rc = 1;

	ret = bench_parse_args(argc, argv, &opts, err, sizeof(err));
	if (ret == 1) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "shunt-bench: %s\n", err);
		return EXIT_BAD_INPUT;
	}

	/* ---- is the machine able to run what was asked for? ---- */
	for (int i = 0; i < 2; i++) {
		bool needed = i == 0 || (opts.placements & (1u << BENCH_SPLIT));

		for (int c = 0; needed && c < BENCH_CPU_MAX; c++) {
			if (!bench_cpulist_has(&opts.cpus[i], c) || bench_cpu_usable(c))
				continue;
			fprintf(stderr,
				"shunt-bench: cpu %d is not available to this process (pick others "
				"with --cpus CLIENT/SERVER%s)\n",
				c, i ? " or use --placement same" : "");
			return EXIT_BAD_INPUT;
		}
	}
	if (opts.plot_path && !have_gnuplot()) {
		fprintf(stderr, "shunt-bench: --plot needs gnuplot in $PATH (apt-get install "
				"gnuplot-nox)\n");
		return EXIT_BAD_INPUT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	if (opts.net == BENCH_NET_PODS) {
		if (geteuid() != 0) {
			fprintf(stderr, "shunt-bench: --net pods needs root (it creates network "
					"namespaces); run as root or use --net lo\n");
			return EXIT_BAD_INPUT;
		}
		if (bench_find_binary("ip", NULL, NULL, NULL, ip_bin, sizeof(ip_bin))) {
			fprintf(stderr, "shunt-bench: --net pods needs ip(8) from iproute2 (not in "
					"$PATH or /usr/sbin); apt-get install iproute2\n");
			return EXIT_BAD_INPUT;
		}
		if (opts.n_paths == 0) {
			fprintf(stderr, "shunt-bench: no path left to measure with --net pods\n");
			return EXIT_BAD_INPUT;
		}
		if (opts.net_skipped[0]) {
			snprintf(info.skipped, sizeof(info.skipped), "%s (loopback only)",
				 opts.net_skipped);
			fprintf(stderr, "shunt-bench: --net pods: skipping %s\n", info.skipped);
		}
	}
	if (bench_workload_is_l7(opts.workloads)) {
		bool any_proxy = false;

		ret = resolve_proxies(&opts, self, &info);
		if (ret)
			return ret;
		if (opts.n_paths == 0) {
			fprintf(stderr, "shunt-bench: no path left to measure\n");
			return EXIT_BAD_INPUT;
		}
		if (opts.proxy_config) {
			json_error_t jerr;
			json_t *cfg = json_load_file(opts.proxy_config, 0, &jerr);

			if (!json_is_object(cfg)) {
				fprintf(stderr, "shunt-bench: --proxy-config %s:%d: %s\n",
					opts.proxy_config, jerr.line,
					cfg ? "not a JSON object" : jerr.text);
				json_decref(cfg);
				return EXIT_BAD_INPUT;
			}
			json_decref(cfg);
		}
		for (int i = 0; i < opts.n_paths; i++)
			any_proxy |= bench_path_is_proxy(&opts.paths[i]);
		need_work_dir = any_proxy;
	}
	if (bench_opts_want_accel(&opts)) {
		if (bench_find_shuntd(opts.shuntd_path, self, shuntd, sizeof(shuntd), err,
				      sizeof(err))) {
			fprintf(stderr, "shunt-bench: accel path requested but %s\n", err);
			return EXIT_BAD_INPUT;
		}
		if (geteuid() != 0) {
			fprintf(stderr, "shunt-bench: the accel path needs root (it makes cgroups "
					"and runs shuntd); run as root or use --paths tcp,unix\n");
			return EXIT_BAD_INPUT;
		}
		info.small_writes_supported = bench_shuntd_has_small_writes(shuntd) == 1;
		bool explicit_mode = false;

		for (int i = 0; i < opts.n_paths; i++)
			explicit_mode |=
				opts.paths[i].kind == BENCH_PATH_ACCEL && opts.paths[i].mode[0];
		if (!info.small_writes_supported && (explicit_mode || opts.n_small_modes)) {
			fprintf(stderr,
				"shunt-bench: %s has no --small-writes option; drop accel:MODE "
				"paths "
				"and --small-writes\n",
				shuntd);
			return EXIT_BAD_INPUT;
		}
		if (info.small_writes_supported && !opts.small_modes_set) {
			static const char *const all[] = {"adaptive", "redirect", "pass"};

			for (int i = 0; i < 3; i++)
				snprintf(opts.small_modes[opts.n_small_modes++], BENCH_MODE_LEN,
					 "%s", all[i]);
		}
		if (bench_add_small_mode_paths(&opts, err, sizeof(err))) {
			fprintf(stderr, "shunt-bench: %s\n", err);
			return EXIT_BAD_INPUT;
		}
		snprintf(info.shuntd, sizeof(info.shuntd), "%s", shuntd);
	}

	/* ---- run ---- */
	if (need_work_dir) {
		snprintf(l7_work_dir, sizeof(l7_work_dir), "/tmp/shunt-bench-l7-%d-XXXXXX",
			 (int)getpid());
		/* the proxy may drop privileges: configs 0644 in a 0755 dir */
		if (!mkdtemp(l7_work_dir) || chmod(l7_work_dir, 0755)) {
			fprintf(stderr, "shunt-bench: cannot make a work dir: %s\n",
				strerror(errno));
			l7_work_dir[0] = '\0';
			return 1;
		}
	}
	join_command(info.command, sizeof(info.command), argc, argv);
	uname(&un);
	snprintf(info.kernel, sizeof(info.kernel), "%s", un.release);
	info.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	{
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(info.started, sizeof(info.started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (bench_results_init(&res, &opts)) {
		fprintf(stderr, "shunt-bench: out of memory\n");
		goto cleanup;
	}
	sh = bench_shared_new(MAX_RR_SAMPLES);
	if (!sh) {
		fprintf(stderr, "shunt-bench: failed to map shared memory: %s\n", strerror(errno));
		goto cleanup;
	}
	install_signals();
	if (opts.net == BENCH_NET_PODS) {
		ret = bench_pods_setup(&pods, ip_bin, err, sizeof(err));
		if (!ret)
			pods_net = &pods;
		if (bench_stop) {
			rc = EXIT_INTERRUPTED;
			goto cleanup;
		}
		if (ret) {
			fprintf(stderr, "shunt-bench: failed to make the pods network: %s\n", err);
			goto cleanup;
		}
		snprintf(info.net, sizeof(info.net),
			 "pods (client in netns %s, " BENCH_PODS_CLIENT "/eth0; server in netns "
			 "%s, " BENCH_PODS_SERVER "/eth0; veth pairs on bridge br0 in netns %s)",
			 pods.name[BENCH_NS_A], pods.name[BENCH_NS_B], pods.name[BENCH_NS_NODE]);
	} else {
		snprintf(info.net, sizeof(info.net), "lo (both ends in this netns, 127.0.0.1)");
	}
	if (bench_opts_want_accel(&opts)) {
		ret = bench_accel_setup(&accel, &opts, shuntd, err, sizeof(err));
		if (ret) {
			if (ret == -EINTR)
				rc = EXIT_INTERRUPTED;
			else
				fprintf(stderr, "shunt-bench: failed to start the accel path: %s\n",
					err);
			goto cleanup;
		}
		accel_on = true;
	}

	t0 = mono_s();
	cpu_snapshot(&s0);
	ret = run_grid(&res, accel_on ? &accel : NULL, sh, &info, err, sizeof(err));
	cpu_snapshot(&s1);
	info.wall_s = mono_s() - t0;
	if (ret == -EINTR) {
		fprintf(stderr, "shunt-bench: interrupted, cleaning up\n");
		rc = EXIT_INTERRUPTED;
		goto cleanup;
	}
	if (ret) {
		fprintf(stderr, "shunt-bench: %s\n", err);
		goto cleanup;
	}
	if (accel_on) {
		accel_on = false;
		if (bench_accel_cleanup(&accel, false))
			goto cleanup; /* already said why */
		for (int i = 0; i < accel.n; i++) {
			struct bench_shuntd_info *si = &info.shuntds[info.n_shuntds++];

			snprintf(si->mode, sizeof(si->mode), "%s", accel.d[i].mode);
			snprintf(si->effective, sizeof(si->effective), "%s",
				 accel.d[i].effective_mode);
			snprintf(si->counters, sizeof(si->counters), "%s", accel.d[i].counters);
		}
	}

	/* ---- report ---- */
	info.load_start = s0.load1;
	info.load_end = s1.load1;
	if (s1.total_s > s0.total_s) {
		info.busy_pct = 100 * (s1.busy_s - s0.busy_s) / (s1.total_s - s0.total_s);
		info.own_pct = 100 * (s1.children_s - s0.children_s) / (s1.total_s - s0.total_s);
	}
	bench_print_tables(stdout, &res, &info);
	bench_print_warnings(stdout, &res);
	fflush(stdout);
	rc = info.n_failures ? 1 : 0;
	if (opts.json_path) {
		json_t *j = bench_results_json(&res, &info);

		if (!j ||
		    json_dump_file(j, opts.json_path, JSON_INDENT(2) | JSON_REAL_PRECISION(6))) {
			fprintf(stderr, "shunt-bench: failed to write %s\n", opts.json_path);
			rc = 1;
		}
		json_decref(j);
	}
	if (opts.plot_path) {
		char script[] = "/tmp/shunt-bench-plot-XXXXXX";
		int fd = mkstemp(script), status = -1;
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

		if (f) {
			bench_write_gnuplot(f, &res, opts.plot_path);
			fclose(f);
			pid_t pid = fork();

			if (pid == 0) {
				execlp("gnuplot", "gnuplot", script, (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
					;
			unlink(script);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "shunt-bench: gnuplot failed to draw %s\n", opts.plot_path);
			rc = 1;
		}
	}
cleanup:
	if (accel_on && bench_accel_cleanup(&accel, rc == 1) && rc == 0)
		rc = 1;
	if (pods_net && bench_pods_cleanup(pods_net) && rc == 0)
		rc = 1;
	pods_net = NULL;
	remove_work_dir();
	bench_shared_free(sh);
	bench_results_free(&res);
	return rc;
}
