/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench with the accelerated path (root, cgroup v2, BPF): a tiny run
 * must show the accel connections redirected (almost no bytes through the
 * TCP stack) while tcp ones are not, and it must leave nothing behind -
 * neither after a normal run nor after Ctrl-C in the middle of one.
 * With "quick" as third argument it runs the CI smoke instead: the whole
 * default grid with --quick, every cell valid, every path redirected.
 * "pods": the same between two pod network namespaces (--net pods), then
 * SIGTERM mid-run; no netns, cgroup, pin or process of a run may remain.
 * usage: bench_accel /path/to/shunt-bench /path/to/shuntd [quick|pods|http|connect]
 */
#include "accel.h"
#include "bench_run.h"
#include "podnet.h"
#include "pods.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

static const char *bin, *shuntd;
static char cg2[4096];
static struct bench_run run;

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *find(json_t *arr, const char *path, long long size)
{
	size_t i;
	json_t *e;

	json_array_foreach (arr, i, e) {
		json_t *sz = json_object_get(e, "size");

		if (!sz)
			sz = json_object_get(e, "write_size");
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0 &&
		    json_integer_value(sz) == size)
			return e;
	}
	return NULL;
}

/* No running process may have needle in its command line. */
static void check_no_process(const char *needle, const char *what)
{
	char path[300], cmd[4096];
	struct dirent *d;
	DIR *dir = opendir("/proc");

	CHECK(dir, "opendir /proc");
	while ((d = readdir(dir))) {
		ssize_t n;
		int fd;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		for (ssize_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n > 0 ? n : 0] = '\0';
		CHECK(!strstr(cmd, needle), "%s %s still runs: %s", what, d->d_name, cmd);
	}
	closedir(dir);
}

/* Nothing named after this shunt-bench pid may survive it: cgroups, pins,
 * a shuntd process. */
static void check_no_leftovers(pid_t pid)
{
	char path[4200], pin_prefix[64];
	struct stat st;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/shunt-bench-%d", cg2, (int)pid);
	CHECK(stat(path, &st) < 0 && errno == ENOENT, "cgroup %s left behind", path);
	snprintf(pin_prefix, sizeof(pin_prefix), "shunt-bench-%d-", (int)pid);
	dir = opendir("/sys/fs/bpf");
	CHECK(dir, "opendir /sys/fs/bpf");
	while ((d = readdir(dir)))
		CHECK(strncmp(d->d_name, pin_prefix, strlen(pin_prefix)) != 0,
		      "pin dir /sys/fs/bpf/%s left behind", d->d_name);
	closedir(dir);
	check_no_process(pin_prefix, "process");
}

static void test_redirected(void)
{
	const char *path = bench_tmp_file();
	char *argv[] = {
		(char *)bin, "--paths",	   "tcp,accel",	    "--placement",  "same",
		"--sizes",   "64",	   "--write-sizes", "1K,64K",	    "--small-writes",
		"redirect",  "--duration", "0.05",	    "--reps",	    "1",
		"--json",    (char *)path, "--shuntd",	    (char *)shuntd, NULL};
	json_error_t jerr;
	json_t *j, *e;

	CHECK(path, "temporary file");
	CHECK(bench_run(argv, &run) == 0, "fork");
	CHECK(run.rc == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", run.rc, run.out, run.err);
	CHECK(!strstr(run.out, "WARNING"), "accel path not redirected:\n%s", run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);

	e = find(json_object_get(j, "rr"), "tcp", 64);
	CHECK(e && num(e, "tcp_fraction") > 0.9, "tcp rr went through TCP");
	e = find(json_object_get(j, "rr"), "accel", 64);
	CHECK(e && num(e, "tcp_fraction") < 0.05, "accel rr redirected: tcp fraction %g",
	      num(e, "tcp_fraction"));
	CHECK(e && num(e, "ratio_vs_tcp") > 0, "accel rr has a ratio");
	e = find(json_object_get(j, "stream"), "accel:redirect", 1024);
	CHECK(e && num(e, "tcp_fraction") < 0.05, "redirect mode redirects 1 KiB writes");
	CHECK(!find(json_object_get(j, "stream"), "accel:redirect", 65536),
	      "small-writes variants only below 16 KiB");
	CHECK(json_array_size(json_object_get(j, "targets")) > 0, "targets evaluated");
	e = json_array_get(json_object_get(j, "shuntd"), 0);
	CHECK(e && json_integer_value(
			   json_object_get(json_object_get(e, "counters"), "sockets_tracked")) > 0,
	      "shuntd tracked sockets");
	json_decref(j);
}

/* No network namespace of pid's run (shunt-bench-<pid>-node|a|b) remains. */
static void check_no_netns(pid_t pid)
{
	DIR *dir = opendir(BENCH_PODS_NETNS);
	struct dirent *d;

	while (dir && (d = readdir(dir)))
		CHECK(bench_pods_name_pid(d->d_name) != pid, "netns %s left behind", d->d_name);
	if (dir)
		closedir(dir);
}

/* Ctrl-C (SIGINT) or SIGTERM while cells run: exit 130 and everything
 * removed, the pods' namespaces too with --net pods. */
static void test_interrupt_cleans_up(int sig, bool pods)
{
	char *argv[] = {(char *)bin, "rr",	"--paths",  "tcp,accel",    "--placement",
			"same",	     "--sizes", "64",	    "--duration",   "0.5",
			"--reps",    "20",	"--shuntd", (char *)shuntd, pods ? "--net" : NULL,
			"pods",	     NULL};
	char buf[4096];
	size_t got = 0;
	int errp[2], status;
	pid_t pid;

	CHECK(pipe(errp) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(errp[1], 2);
		close(errp[0]);
		execv(bin, argv);
		_exit(127);
	}
	close(errp[1]);
	/* the first progress line is printed when the first cell starts, i.e.
	 * with shuntd running and the cgroups populated */
	while (!strstr(buf, "cells")) {
		struct pollfd p = {.fd = errp[0], .events = POLLIN};
		ssize_t n;

		CHECK(poll(&p, 1, 30000) == 1, "no progress line within 30 s: '%s'", buf);
		n = read(errp[0], buf + got, sizeof(buf) - 1 - got);
		CHECK(n > 0, "shunt-bench exited before running: '%s'", buf);
		got += (size_t)n;
		buf[got] = '\0';
	}
	if (pods) {
		/* the pods exist while cells run */
		char node[BENCH_PODS_NAME + sizeof(BENCH_PODS_NETNS)];
		struct stat st;

		snprintf(node, sizeof(node), BENCH_PODS_NETNS "/" BENCH_PODS_PREFIX "%d-node",
			 (int)pid);
		CHECK(stat(node, &st) == 0, "%s missing while the run is going", node);
	}
	kill(pid, sig);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	close(errp[0]);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "exit status %d, want 130",
	      WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	check_no_leftovers(pid);
	check_no_netns(pid);
}

/* Run ip(8) with args; returns its exit status. */
static int ip_cmd(const char *ip, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = {(char *)ip, (char *)a1, (char *)a2, (char *)a3, NULL};
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		execv(ip, argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* --net pods --quick, rr + stream over tcp and accel, one vCPU: the accel
 * connections between the pods are redirected (tcp% = 0 wherever adaptive
 * keeps them accelerated: every rr size and 256 KiB writes), shuntd's
 * counters say so, tcp stays TCP, the JSON and header name the network, a
 * dead run's netns is swept, and nothing of the run remains. */
static void test_pods_quick(void)
{
	const char *path = bench_tmp_file();
	char *argv[] = {(char *)bin, "--net",	     "pods",	       "--quick", "--paths",
			"tcp,accel", "--placement",  "same",	       "--json",  (char *)path,
			"--shuntd",  (char *)shuntd, "--small-writes", "none",	  NULL};
	char ip[4096], stale[BENCH_PODS_NAME], msg[128];
	json_error_t jerr;
	json_t *j, *e, *counters;
	size_t i, n_accel = 0;
	pid_t dead;

	if (bench_find_binary("ip", NULL, NULL, NULL, ip, sizeof(ip)))
		shunt_test_skip("ip (iproute2) not installed");
	if (ip_cmd(ip, "netns", "list", NULL) != 0)
		shunt_test_skip("network namespaces unavailable");
	/* a set left by a run killed with SIGKILL (its pid no longer exists) */
	dead = fork();
	CHECK(dead >= 0, "fork");
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead, "reap");
	snprintf(stale, sizeof(stale), BENCH_PODS_PREFIX "%d-a", (int)dead);
	CHECK(ip_cmd(ip, "netns", "add", stale) == 0, "make stale netns %s", stale);

	CHECK(path, "temporary file");
	CHECK(bench_run(argv, &run) == 0, "fork");
	if (run.rc != 0)
		ip_cmd(ip, "netns", "del", stale);
	CHECK(run.rc == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", run.rc, run.out, run.err);
	snprintf(msg, sizeof(msg), "removed stale netns %s", stale);
	CHECK(strstr(run.err, msg), "stale netns not swept: %s", run.err);
	CHECK(!strstr(run.out, "WARNING"), "accel path not redirected:\n%s", run.out);
	CHECK(strstr(run.out, "\nnetwork: pods (") && strstr(run.out, BENCH_PODS_SERVER),
	      "header names the pods network:\n%s", run.out);
	CHECK(strstr(run.out, "informational"), "targets marked informational:\n%s", run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	CHECK(strcmp(json_string_value(json_object_get(j, "net")), "pods") == 0, "json net");
	CHECK(json_is_true(json_object_get(j, "targets_informational")), "informational");
	/* 3 rr sizes + 4 write sizes, x tcp, accel */
	CHECK(json_array_size(json_object_get(j, "rr")) == 6 &&
		      json_array_size(json_object_get(j, "stream")) == 8,
	      "entries: rr %zu stream %zu", json_array_size(json_object_get(j, "rr")),
	      json_array_size(json_object_get(j, "stream")));
	for (int w = 0; w < 2; w++)
		json_array_foreach (json_object_get(j, w ? "stream" : "rr"), i, e) {
			const char *p = json_string_value(json_object_get(e, "path"));
			json_int_t size =
				json_integer_value(json_object_get(e, w ? "write_size" : "size"));
			double frac = num(e, "tcp_fraction");

			CHECK(json_integer_value(json_object_get(e, "valid_reps")) == 2,
			      "%s %s %lld: reps", w ? "stream" : "rr", p, (long long)size);
			if (strcmp(p, "tcp") == 0) {
				CHECK(frac > 0.9, "tcp %lld went through TCP", (long long)size);
			} else if (!w || size >= 256 * 1024) {
				/* shown as 0% in the table */
				CHECK(frac < 0.005, "%s accel %lld: %.2f%% through TCP, want 0%%",
				      w ? "stream" : "rr", (long long)size, frac * 100);
				n_accel++;
			}
		}
	CHECK(n_accel == 4, "accelerated entries checked: %zu", n_accel);
	counters = json_object_get(json_array_get(json_object_get(j, "shuntd"), 0), "counters");
	CHECK(json_integer_value(json_object_get(counters, "msgs_redirected")) > 0 &&
		      json_integer_value(json_object_get(counters, "bytes_redirected")) > 0 &&
		      json_integer_value(json_object_get(counters, "sockets_tracked")) > 0,
	      "shuntd redirected between the pods");
	json_decref(j);
	check_no_leftovers(run.pid);
	check_no_netns(run.pid);
	check_no_netns(dead);
}

static void test_quick_grid(void)
{
	const char *path = bench_tmp_file();
	char *argv[] = {(char *)bin, "--quick",	     "--json", (char *)path,
			"--shuntd",  (char *)shuntd, NULL};
	json_error_t jerr;
	json_t *j, *e;
	size_t i, n_small_variants = 0;

	CHECK(path, "temporary file");
	CHECK(bench_run(argv, &run) == 0, "fork");
	CHECK(run.rc == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", run.rc, run.out, run.err);
	CHECK(!strstr(run.out, "WARNING"), "a path was not redirected:\n%s", run.out);
	CHECK(strstr(run.out, "targets:"), "targets summary missing:\n%s", run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	/* 2 placements x 3 sizes x {tcp, accel, unix} */
	CHECK(json_array_size(json_object_get(j, "rr")) == 18, "rr entries");
	json_array_foreach (json_object_get(j, "rr"), i, e)
		CHECK(json_integer_value(json_object_get(e, "valid_reps")) == 2, "rr %zu reps", i);
	json_array_foreach (json_object_get(j, "stream"), i, e) {
		CHECK(json_integer_value(json_object_get(e, "valid_reps")) == 2, "stream %zu", i);
		n_small_variants +=
			strncmp(json_string_value(json_object_get(e, "path")), "accel:", 6) == 0;
	}
	/* every --small-writes mode at 64 B and 1 KiB in both placements */
	CHECK(n_small_variants == 3 * 2 * 2, "small-write variants: %zu", n_small_variants);
	CHECK(json_array_size(json_object_get(j, "shuntd")) == 4, "one shuntd per mode");
	json_decref(j);
	check_no_leftovers(run.pid);
}

/* No proxy started by a shunt-bench http/connect run may survive it. */
static void check_no_proxy_left(pid_t pid)
{
	char dir_prefix[64];
	struct dirent *d;
	DIR *dir;

	snprintf(dir_prefix, sizeof(dir_prefix), "/tmp/shunt-bench-l7-%d-", (int)pid);
	check_no_process(dir_prefix, "proxy");
	/* and its config directory is gone */
	dir = opendir("/tmp");
	CHECK(dir, "opendir /tmp");
	while ((d = readdir(dir)))
		CHECK(strncmp(d->d_name, dir_prefix + 5, strlen(dir_prefix + 5)) != 0,
		      "/tmp/%s left behind", d->d_name);
	closedir(dir);
}

/* CI smoke of http or connect over every available path: every request
 * (connection) completes without an error, accelerated paths are redirected
 * (TCP_INFO and shuntd's counters), the others are not. */
static void test_l7_smoke(const char *mode, const char *proxy)
{
	const char *path = bench_tmp_file();
	char *argv[] = {
		(char *)bin,   (char *)mode, "--quick",	 "--sizes",	 "64,16K",
		"--json",      (char *)path, "--shuntd", (char *)shuntd, proxy ? "--proxy" : NULL,
		(char *)proxy, NULL};
	json_error_t jerr;
	json_t *j, *e, *counters;
	size_t i, n_accel = 0, n_plain = 0;
	bool seen_proxy_accel = false;

	CHECK(path, "temporary file");
	if (strcmp(mode, "connect") == 0) {
		argv[3] = "--conns"; /* one size; a few parallel connects */
		argv[4] = "4";
	}
	CHECK(bench_run(argv, &run) == 0, "fork");
	CHECK(run.rc == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", run.rc, run.out, run.err);
	CHECK(!strstr(run.out, "WARNING"), "a path was not redirected:\n%s", run.out);
	j = json_load_file(path, 0, &jerr);
	bench_tmp_unlink();
	CHECK(j, "json: %s", jerr.text);
	CHECK(json_array_size(json_object_get(j, mode)) > 0, "%s entries", mode);
	json_array_foreach (json_object_get(j, mode), i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));
		double frac = num(e, "tcp_fraction");

		CHECK(json_integer_value(json_object_get(e, "valid_reps")) == 2, "%s %s reps", mode,
		      p);
		CHECK(num(e, "rate") > 0, "%s %s: nothing completed", mode, p);
		CHECK(json_integer_value(json_object_get(e, "errors")) == 0, "%s %s: errors", mode,
		      p);
		if (strcmp(p, "accel") == 0 || strcmp(p, "proxy+accel") == 0) {
			CHECK(frac < 0.05, "%s %s: %.0f%% through TCP, want redirected", mode, p,
			      frac * 100);
			n_accel++;
			seen_proxy_accel |= strcmp(p, "proxy+accel") == 0;
		} else if (strcmp(p, "unix") != 0) {
			CHECK(frac > 0.9, "%s %s: %.0f%% through TCP, want plain TCP", mode, p,
			      frac * 100);
			CHECK(strcmp(p, "tcp") == 0 || num(e, "cpu_proxy_us_per_op") > 0,
			      "%s %s: proxy CPU measured", mode, p);
			n_plain++;
		}
	}
	/* accel always; proxy+accel unless shunt-proxy is missing (then noted) */
	CHECK(n_accel > 0 &&
		      (seen_proxy_accel ||
		       strstr(json_string_value(json_object_get(j, "skipped")), "proxy+accel")),
	      "accel entries: %zu, proxy+accel %s", n_accel, seen_proxy_accel ? "yes" : "no");
	CHECK(n_plain >= 2, "plain entries: %zu", n_plain);
	counters = json_object_get(json_array_get(json_object_get(j, "shuntd"), 0), "counters");
	CHECK(json_integer_value(json_object_get(counters, "msgs_redirected")) > 0,
	      "shuntd redirected nothing");
	json_decref(j);
	check_no_leftovers(run.pid);
	check_no_proxy_left(run.pid);
}

int main(int argc, char **argv)
{
	FILE *mi;

	CHECK(argc >= 3 && argc <= 5, "usage: %s shunt-bench shuntd [quick|http|connect [proxy]]",
	      argv[0]);
	bin = argv[1];
	shuntd = argv[2];
	if (geteuid() != 0)
		shunt_test_skip("needs root (cgroups + BPF)");
	mi = fopen("/proc/self/mountinfo", "re");
	if (!mi || bench_find_cgroup2(mi, cg2, sizeof(cg2)))
		shunt_test_skip("no cgroup v2 mount");
	fclose(mi);
	if (argc == 4 && strcmp(argv[3], "pods") == 0) {
		test_pods_quick();
		test_interrupt_cleans_up(SIGTERM, true);
		printf("bench pods quick: ok\n");
		return 0;
	}
	if (argc >= 4 && strcmp(argv[3], "quick") != 0) {
		CHECK(strcmp(argv[3], "http") == 0 || strcmp(argv[3], "connect") == 0,
		      "unknown mode %s", argv[3]);
		test_l7_smoke(argv[3], argc == 5 ? argv[4] : NULL);
		printf("bench %s quick: ok\n", argv[3]);
		return 0;
	}
	if (argc == 4) {
		test_quick_grid();
		printf("bench quick: ok\n");
		return 0;
	}

	/* leftovers of a run killed with SIGKILL (a pid that no longer exists) */
	pid_t dead = fork();
	char stale_cg[4200], stale_sub[4300], stale_pin[128];

	CHECK(dead >= 0, "fork");
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead, "reap");
	snprintf(stale_cg, sizeof(stale_cg), "%s/shunt-bench-%d", cg2, (int)dead);
	snprintf(stale_sub, sizeof(stale_sub), "%s/accel-default", stale_cg);
	snprintf(stale_pin, sizeof(stale_pin), "/sys/fs/bpf/shunt-bench-%d-default", (int)dead);
	CHECK(mkdir(stale_cg, 0700) == 0 && mkdir(stale_sub, 0700) == 0, "make stale cgroups");
	/* bpffs may not be mounted yet: shunt-bench mounts it, then only the
	 * cgroup part of the sweep is checked */
	bool pin_made = mkdir(stale_pin, 0700) == 0;

	/* a normal run: redirected, stale entries swept, nothing left afterwards */
	test_redirected();
	check_no_leftovers(run.pid);
	check_no_leftovers(dead);
	CHECK(strstr(run.err, "removed stale cgroup"), "sweep not reported: %s", run.err);
	CHECK(!pin_made || strstr(run.err, "removed stale pin dir"), "pin sweep not reported");
	test_interrupt_cleans_up(SIGINT, false);
	printf("bench accel: ok\n");
	return 0;
}
