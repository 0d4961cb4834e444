/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench as a user sees it: bad input exits 2 with one clear line, and a
 * tiny tcp + unix run (no privileges, loopback only) produces tables and a
 * JSON file with the promised structure. Asserts shape, never speed.
 * usage: bench_cli /path/to/shunt-bench
 */
#include "bench_run.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>

#define BENCH_CDF_POINTS 24 /* BENCH_CDF_N of bench.h */

static const char *bin;
static struct bench_run run;

struct bad_case {
	const char *args[8];
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{{"warp"}, "unknown mode 'warp'"},
	{{"rr", "--sizes", "0"}, "bad size '0'"},
	{{"stream", "--write-sizes", "64,0"}, "bad size '0'"},
	{{"--paths", "tcp,accel", "--shuntd", "/nonexistent/shuntd"}, "accel path requested"},
	{{"--paths", "tcp", "--cpus", "0,1000"}, "cpu 1000 is not available"},
	{{"--paths", "tcp", "--cpus", "0,1000/0"}, "cpu 1000 is not available"},
	{{"--paths", "tcp", "--cpus", "0/0,999"}, "cpu 999 is not available"},
	{{"--paths", "tcp", "--cpus", "1-0/1"}, "--cpus: want CLIENT/SERVER"},
	{{"--paths", "tcp", "--reps", "0"}, "--reps"},
	{{"--bogus"}, "unknown option"},
	{{"http", "--rate", "0"}, "--rate: '0'"},
	{{"http", "--sizes", "0"}, "bad size '0'"},
	{{"connect", "--paths", "tcp,quic"}, "unknown path 'quic'"},
	{{"http", "--paths", "tcp,proxy", "--proxy", "/nonexistent/shunt-proxy"},
	 "not an executable file"},
	{{"http", "--paths", "tcp,proxy+accel", "--proxy", "/bin/true", "--shuntd",
	  "/nonexistent/shuntd"},
	 "accel path requested"},
	{{"rr", "--paths", "tcp,haproxy"}, "only for the http and connect modes"},
	{{"http", "--paths", "tcp,proxy", "--proxy", "/bin/true", "--proxy-config",
	  "/nonexistent/shunt.json"},
	 "--proxy-config /nonexistent/shunt.json"},
	{{"--net", "wifi"}, "--net: unknown 'wifi'"},
	{{"--net", "pods", "--paths", "tcp,unix"}, "'unix' is not available with --net pods"},
	{{"http", "--net", "pods", "--paths", "tcp,haproxy"},
	 "'haproxy' is not available with --net pods"},
};

static void run_args(const char *const *args)
{
	char *argv[24];
	int n = 0;

	argv[n++] = (char *)bin;
	for (; *args && n < 23; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	CHECK(bench_run(argv, &run) == 0, "fork");
}

static void test_bad_input(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		run_args(bad_cases[i].args);
		CHECK(run.rc == 2, "case %zu: exit %d, want 2 (stderr: %s)", i, run.rc, run.err);
		CHECK(strstr(run.err, bad_cases[i].msg), "case %zu: stderr '%s' lacks '%s'", i,
		      run.err, bad_cases[i].msg);
		CHECK(strchr(run.err, '\n') == run.err + strlen(run.err) - 1,
		      "case %zu: exactly one line: '%s'", i, run.err);
		CHECK(run.out[0] == '\0', "case %zu: nothing on stdout", i);
	}
	run_args((const char *[]){"--help", NULL});
	CHECK(run.rc == 0 && strstr(run.out, "--write-sizes") && strstr(run.out, "--quick") &&
		      strstr(run.out, "--cpus C/S") && strstr(run.out, "--net lo|pods"),
	      "--help documents the flags");
}

/* --net pods as an unprivileged user: exit 2, one line, before creating
 * anything. As root the run drops to nobody for it. */
static void test_pods_needs_root(void)
{
	char *argv[] = {(char *)bin, "--net", "pods", "--paths", "tcp", NULL};
	FILE *err = tmpfile();
	int status;
	pid_t pid;

	CHECK(err, "tmpfile");
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		dup2(fileno(err), 2);
		if (geteuid() == 0 && (setresgid(65534, 65534, 65534) || setgroups(0, NULL) ||
				       setresuid(65534, 65534, 65534)))
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	bench_slurp(err, run.err, sizeof(run.err));
	CHECK(WIFEXITED(status), "killed by a signal");
	if (WEXITSTATUS(status) == 127 && geteuid() == 0) {
		/* the build dir is not reachable by nobody: nothing to check */
		printf("bench cli: --net pods as non-root not checked (binary not executable "
		       "by uid 65534)\n");
		return;
	}
	CHECK(WEXITSTATUS(status) == 2, "exit %d, want 2: %s", WEXITSTATUS(status), run.err);
	CHECK(strstr(run.err, "--net pods needs root") &&
		      strchr(run.err, '\n') == run.err + strlen(run.err) - 1,
	      "one line naming root: '%s'", run.err);
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_tiny_run(void)
{
	const char *path = bench_tmp_file();
	json_error_t jerr;
	json_t *j, *rr, *st, *e;
	size_t i;

	CHECK(path, "temporary file");
	run_args((const char *[]){"--paths", "tcp,unix", "--placement", "same", "--sizes", "64,4K",
				  "--write-sizes", "1K,64K", "--duration", "0.03", "--reps", "2",
				  "--json", path, NULL});
	CHECK(run.rc == 0, "exit %d: %s", run.rc, run.err);
	CHECK(strstr(run.out, "== round trip") && strstr(run.out, "== stream"), "tables:\n%s",
	      run.out);
	CHECK(!strstr(run.err, "cells"), "no progress line for a run under 2 s: %s", run.err);

	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	CHECK(strcmp(json_string_value(json_object_get(j, "tool")), "shunt-bench") == 0, "tool");
	CHECK(strcmp(json_string_value(json_object_get(j, "net")), "lo") == 0 &&
		      strcmp(json_string_value(
				     json_object_get(json_object_get(j, "config"), "net")),
			     "lo") == 0 &&
		      json_is_false(json_object_get(j, "targets_informational")),
	      "json: net lo, targets not informational");
	CHECK(strstr(run.out, "\nnetwork: lo "), "header names the network:\n%s", run.out);
	rr = json_object_get(j, "rr");
	st = json_object_get(j, "stream");
	CHECK(json_array_size(rr) == 4, "rr: 2 sizes x 2 paths, got %zu", json_array_size(rr));
	CHECK(json_array_size(st) == 4, "stream: 2 sizes x 2 paths");
	CHECK(json_array_size(json_object_get(j, "targets")) == 0, "no accel, no targets");
	e = json_object_get(json_object_get(j, "config"), "cpus");
	CHECK(json_array_size(e) == 2 && json_integer_value(json_array_get(e, 0)) == 0 &&
		      json_integer_value(json_array_get(e, 1)) == 1,
	      "default single cpus keep the old \"cpus\" [0,1]");
	e = json_object_get(json_object_get(j, "config"), "cpu_lists");
	CHECK(e && strcmp(json_string_value(json_object_get(e, "client")), "0") == 0 &&
		      strcmp(json_string_value(json_object_get(e, "server")), "1") == 0,
	      "cpu_lists {client 0, server 1}");
	json_array_foreach (rr, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));

		CHECK(json_integer_value(json_object_get(e, "valid_reps")) == 2, "rr %zu reps", i);
		CHECK(num(e, "p50_us") > 0 && num(e, "p50_us") <= num(e, "p90_us") &&
			      num(e, "p90_us") <= num(e, "p99_us") &&
			      num(e, "p99_us") <= num(e, "max_us"),
		      "rr %zu percentiles ordered", i);
		CHECK(num(e, "cpu_us_per_op") > 0, "rr %zu cpu per op", i);
		if (strcmp(p, "tcp") == 0)
			CHECK(num(e, "tcp_fraction") > 0.9 && num(e, "ratio_vs_tcp") == 1.0,
			      "tcp goes through TCP, ratio 1");
		else
			CHECK(json_is_null(json_object_get(e, "tcp_fraction")),
			      "unix has no tcp fraction");
	}
	json_array_foreach (st, i, e) {
		CHECK(num(e, "mbps") > 0 && num(e, "mbps_min") <= num(e, "mbps") &&
			      num(e, "mbps") <= num(e, "mbps_max"),
		      "stream %zu MB/s inside its range", i);
		CHECK(num(e, "cpu_us_per_mb") > 0, "stream %zu cpu per MB", i);
	}
	json_decref(j);
}

/* http and connect over tcp and unix: the JSON sections, counts, no errors. */
static void test_tiny_l7(const char *mode, const char *rate)
{
	const char *path = bench_tmp_file();
	json_error_t jerr;
	json_t *j, *a, *e;
	size_t i;

	CHECK(path, "temporary file");
	if (rate)
		run_args((const char *[]){mode, "--paths", "tcp,unix", "--placement", "same",
					  "--sizes", "64", "--duration", "0.1", "--reps", "1",
					  "--rate", rate, "--json", path, NULL});
	else
		run_args((const char *[]){mode, "--paths", "tcp,unix", "--placement", "same",
					  "--sizes", "64", "--duration", "0.05", "--reps", "1",
					  "--json", path, NULL});
	CHECK(run.rc == 0, "%s: exit %d: %s", mode, run.rc, run.err);
	CHECK(strstr(run.out, strcmp(mode, "http") == 0 ? "== http" : "== connect") &&
		      strstr(run.out, "p99.9"),
	      "%s table:\n%s", mode, run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	a = json_object_get(j, mode);
	CHECK(json_array_size(a) == 2, "%s: 1 size x 2 paths, got %zu", mode, json_array_size(a));
	json_array_foreach (a, i, e) {
		json_t *cdf = json_object_get(json_object_get(e, "cdf"), "latency_us");

		CHECK(num(e, "rate") > 0, "%s %zu: rate", mode, i);
		CHECK(json_integer_value(json_object_get(e, "errors")) == 0, "%s %zu: no errors",
		      mode, i);
		CHECK(num(e, "p50_us") > 0 && num(e, "p50_us") <= num(e, "p99_us") &&
			      num(e, "p99_us") <= num(e, "p999_us") &&
			      num(e, "p999_us") <= num(e, "max_us"),
		      "%s %zu: percentiles ordered", mode, i);
		CHECK(num(e, "cpu_client_us_per_op") > 0 && num(e, "cpu_server_us_per_op") >= 0 &&
			      json_is_null(json_object_get(e, "cpu_proxy_us_per_op")),
		      "%s %zu: cpu per side, no proxy", mode, i);
		CHECK(json_array_size(cdf) == BENCH_CDF_POINTS, "%s %zu: cdf", mode, i);
		if (rate) {
			/* open loop: about the asked rate, nothing missed on loopback */
			CHECK(num(e, "rate") <= atof(rate) * 1.01, "%s %zu: rate %g <= %s", mode, i,
			      num(e, "rate"), rate);
			CHECK(json_integer_value(json_object_get(e, "missed")) == 0,
			      "%s %zu: missed", mode, i);
		}
	}
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "config"), "loop")),
		     rate ? "open" : "closed") == 0,
	      "loop recorded");
	json_decref(j);
}

/* Split placement with a client cpu list: runs, header and JSON show the
 * lists, no old "cpus" array. Needs cpus 0 and 1. */
static void test_cpu_lists(void)
{
	const char *path;
	json_error_t jerr;
	json_t *j, *cfg, *cl;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) || !CPU_ISSET(0, &set) || !CPU_ISSET(1, &set)) {
		printf("bench cli: cpus 0 and 1 not both usable, cpu list run skipped\n");
		return;
	}
	path = bench_tmp_file();
	CHECK(path, "temporary file");
	run_args((const char *[]){"rr", "--paths", "tcp", "--placement", "split", "--cpus", "0-1/1",
				  "--sizes", "64", "--duration", "0.03", "--reps", "1", "--json",
				  path, NULL});
	CHECK(run.rc == 0, "exit %d: %s", run.rc, run.err);
	CHECK(strstr(run.out, "cpus used 0-1/1") &&
		      strstr(run.out, "split = client cpus 0-1, server cpus 1"),
	      "header shows the lists:\n%s", run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	cfg = json_object_get(j, "config");
	cl = json_object_get(cfg, "cpu_lists");
	CHECK(cl && strcmp(json_string_value(json_object_get(cl, "client")), "0-1") == 0 &&
		      strcmp(json_string_value(json_object_get(cl, "server")), "1") == 0,
	      "cpu_lists {client 0-1, server 1}");
	CHECK(json_object_get(cfg, "cpus") == NULL, "no \"cpus\" array for a list");
	CHECK(json_array_size(json_object_get(j, "rr")) == 1, "one rr row");
	json_decref(j);
}

static void test_progress_line(void)
{
	/* estimated 4 x (0.5 + 0.05 warm-up) s > 2 s: progress on stderr */
	run_args((const char *[]){"rr", "--paths", "tcp", "--placement", "same", "--sizes", "64",
				  "--duration", "0.5", "--reps", "4", NULL});
	CHECK(run.rc == 0, "exit %d: %s", run.rc, run.err);
	CHECK(strstr(run.err, "cells") && strstr(run.err, "eta"), "progress: '%s'", run.err);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2, "usage: %s /path/to/shunt-bench", argv[0]);
	bin = argv[1];
	test_bad_input();
	test_pods_needs_root();
	test_tiny_run();
	test_cpu_lists();
	test_tiny_l7("http", NULL);
	test_tiny_l7("http", "2000");
	test_tiny_l7("connect", NULL);
	test_tiny_l7("connect", "500");
	test_progress_line();
	printf("bench cli: ok\n");
	return 0;
}
