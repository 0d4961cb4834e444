/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench pure parts: argument parsing, sizes, statistics, targets,
 * JSON, mountinfo and shuntd-log parsing, gnuplot script. No sockets. */
#include "accel.h"
#include "bench.h"
#include "podnet.h"
#include "report.h"
#include "stats.h"
#include "testutil.h"
#include "workload_int.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 12

struct args_case {
	const char *argv[MAX_ARGS];
	int ret;	 /* 0, 1 (help) or -EINVAL */
	const char *msg; /* substring of the error message */
};

static const struct args_case args_cases[] = {
	{{"shunt-bench"}, 0, NULL},
	{{"shunt-bench", "rr"}, 0, NULL},
	{{"shunt-bench", "stream", "--quick"}, 0, NULL},
	{{"shunt-bench", "--help"}, 1, NULL},
	{{"shunt-bench", "pingpong"}, -EINVAL, "unknown mode 'pingpong'"},
	{{"shunt-bench", "rr", "stream"}, -EINVAL, "only one mode"},
	{{"shunt-bench", "--sizes", "0"}, -EINVAL, "bad size '0'"},
	{{"shunt-bench", "--sizes", "64,0"}, -EINVAL, "bad size '0'"},
	{{"shunt-bench", "--sizes", "64,,1K"}, -EINVAL, "bad list"},
	{{"shunt-bench", "--sizes", "64,64"}, -EINVAL, "given twice"},
	{{"shunt-bench", "--sizes", "17M"}, -EINVAL, "bad size"},
	{{"shunt-bench", "--sizes"}, -EINVAL, "--sizes needs a value"},
	{{"shunt-bench", "--write-sizes", "1x"}, -EINVAL, "bad size '1x'"},
	{{"shunt-bench", "--paths", "tcp,quic"}, -EINVAL, "unknown path 'quic'"},
	{{"shunt-bench", "--paths", "accel:fast"}, -EINVAL, "unknown path 'accel:fast'"},
	{{"shunt-bench", "--paths", "tcp,tcp"}, -EINVAL, "given twice"},
	{{"shunt-bench", "--paths=tcp,accel:pass,unix"}, 0, NULL},
	{{"shunt-bench", "--placement", "diagonal"}, -EINVAL, "--placement"},
	{{"shunt-bench", "--duration", "0"}, -EINVAL, "--duration"},
	{{"shunt-bench", "--duration", "abc"}, -EINVAL, "--duration"},
	{{"shunt-bench", "--duration", "61"}, -EINVAL, "--duration"},
	{{"shunt-bench", "--reps", "0"}, -EINVAL, "--reps"},
	{{"shunt-bench", "--reps", "101"}, -EINVAL, "--reps"},
	{{"shunt-bench", "--cpus", "0"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "0,1"}, 0, NULL},
	{{"shunt-bench", "--cpus", "0-1/1"}, 0, NULL},
	{{"shunt-bench", "--cpus=0,2/1-3,6"}, 0, NULL},
	{{"shunt-bench", "--cpus", "0-1,2"}, -EINVAL, "--cpus: want CLIENT/SERVER"},
	{{"shunt-bench", "--cpus", "0,1,2"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "0/"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "/1"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "0/1/2"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "3-1/0"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--cpus", "0/1024"}, -EINVAL, "--cpus"},
	{{"shunt-bench", "--small-writes", "turbo"}, -EINVAL, "unknown mode 'turbo'"},
	{{"shunt-bench", "--small-writes", "none"}, 0, NULL},
	{{"shunt-bench", "--plot", "out.jpg"}, -EINVAL, ".png or .svg"},
	{{"shunt-bench", "--plot", "out.svg"}, 0, NULL},
	{{"shunt-bench", "--json", ""}, -EINVAL, "--json needs"},
	{{"shunt-bench", "--frobnicate"}, -EINVAL, "unknown option '--frobnicate'"},
	/* http / connect */
	{{"shunt-bench", "http"}, 0, NULL},
	{{"shunt-bench", "connect", "--no-exchange"}, 0, NULL},
	{{"shunt-bench", "http", "--rate", "1000", "--conns", "8"}, 0, NULL},
	{{"shunt-bench", "http", "--rate", "0"}, -EINVAL, "--rate: '0'"},
	{{"shunt-bench", "http", "--rate", "-5"}, -EINVAL, "--rate"},
	{{"shunt-bench", "http", "--rate", "fast"}, -EINVAL, "--rate"},
	{{"shunt-bench", "http", "--conns", "0"}, -EINVAL, "--conns"},
	{{"shunt-bench", "http", "--sizes", "0"}, -EINVAL, "bad size '0'"},
	{{"shunt-bench", "http", "--req-size", "1x"}, -EINVAL, "--req-size"},
	{{"shunt-bench", "http", "--req-size", "0"}, 0, NULL},
	{{"shunt-bench", "http", "--paths", "tcp,proxy,proxy+accel,haproxy,nginx"}, 0, NULL},
	{{"shunt-bench", "http", "--paths", "tcp,envoy"}, -EINVAL, "unknown path 'envoy'"},
	{{"shunt-bench", "http", "--proxy", ""}, -EINVAL, "--proxy needs"},
	{{"shunt-bench", "rr", "--paths", "tcp,proxy"}, -EINVAL, "only for the http and connect"},
	{{"shunt-bench", "stream", "--rate", "100"}, -EINVAL, "only for the http and connect"},
	{{"shunt-bench", "--conns", "4"}, -EINVAL, "only for the http and connect"},
	{{"shunt-bench", "websocket"}, -EINVAL, "unknown mode 'websocket'"},
	/* --net */
	{{"shunt-bench", "--net", "lo"}, 0, NULL},
	{{"shunt-bench", "--net=pods"}, 0, NULL},
	{{"shunt-bench", "--net", "pods", "--paths", "tcp,accel:redirect"}, 0, NULL},
	{{"shunt-bench", "--net", "wifi"}, -EINVAL, "--net: unknown 'wifi' (want lo or pods)"},
	{{"shunt-bench", "--net"}, -EINVAL, "--net needs a value"},
	{{"shunt-bench", "--net", "pods", "--paths", "tcp,unix"},
	 -EINVAL,
	 "'unix' is not available with --net pods"},
	{{"shunt-bench", "http", "--net", "pods", "--paths", "tcp,proxy+accel"},
	 -EINVAL,
	 "'proxy+accel' is not available with --net pods"},
	{{"shunt-bench", "--net", "pods", "--paths", "unix"}, -EINVAL, "not available"},
};

static int argc_of(const char *const *argv)
{
	int n = 0;

	while (n < MAX_ARGS && argv[n])
		n++;
	return n;
}

static void test_args_table(void)
{
	for (size_t i = 0; i < sizeof(args_cases) / sizeof(args_cases[0]); i++) {
		const struct args_case *c = &args_cases[i];
		struct bench_opts o;
		char err[256];
		int ret =
			bench_parse_args(argc_of(c->argv), (char **)c->argv, &o, err, sizeof(err));

		CHECK(ret == c->ret, "case %zu (%s ...): ret %d, want %d (%s)", i,
		      c->argv[1] ? c->argv[1] : "", ret, c->ret, err);
		if (c->msg)
			CHECK(strstr(err, c->msg), "case %zu: message '%s' lacks '%s'", i, err,
			      c->msg);
		if (ret < 0)
			CHECK(strchr(err, '\n') == NULL, "case %zu: message must be one line", i);
	}
}

struct cpulist_case {
	const char *in;
	int ret;
	const char *text; /* canonical form */
	int count, single;
};

static const struct cpulist_case cpulist_cases[] = {
	{"0", 0, "0", 1, 0},
	{"7", 0, "7", 1, 7},
	{"1023", 0, "1023", 1, 1023},
	{"0,2", 0, "0,2", 2, -1},
	{"2,0", 0, "0,2", 2, -1},
	{"0-3,6", 0, "0-3,6", 5, -1},
	{"0,1,2", 0, "0-2", 3, -1},
	{"5-5", 0, "5", 1, 5},
	{"0-3,2-5", 0, "0-5", 6, -1},
	{"1,1", 0, "1", 1, 1},
	{"60-70", 0, "60-70", 11, -1},
	{"", -EINVAL, NULL, 0, 0},
	{"-1", -EINVAL, NULL, 0, 0},
	{"+1", -EINVAL, NULL, 0, 0},
	{" 1", -EINVAL, NULL, 0, 0},
	{"1 ", -EINVAL, NULL, 0, 0},
	{"a", -EINVAL, NULL, 0, 0},
	{"1,", -EINVAL, NULL, 0, 0},
	{",1", -EINVAL, NULL, 0, 0},
	{"1,,2", -EINVAL, NULL, 0, 0},
	{"3-1", -EINVAL, NULL, 0, 0},
	{"1-", -EINVAL, NULL, 0, 0},
	{"1-2-3", -EINVAL, NULL, 0, 0},
	{"0-7:2", -EINVAL, NULL, 0, 0},
	{"1024", -EINVAL, NULL, 0, 0},
	{"99999999999999999999", -EINVAL, NULL, 0, 0},
	/* canonical text does not fit BENCH_CPULIST_LEN */
	{"0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46", -EINVAL, NULL, 0, 0},
};

static void test_cpulists(void)
{
	const char *list[] = {"shunt-bench", "--cpus", "0-1/1", NULL};
	const char *old[] = {"shunt-bench", "--cpus", "2,3", NULL};
	struct bench_cpulist l;
	struct bench_opts o;
	char err[256];

	for (size_t i = 0; i < sizeof(cpulist_cases) / sizeof(cpulist_cases[0]); i++) {
		const struct cpulist_case *c = &cpulist_cases[i];
		int ret;

		memset(&l, 0xa5, sizeof(l));
		ret = bench_parse_cpulist(c->in, &l);
		CHECK(ret == c->ret, "cpulist '%s': ret %d, want %d", c->in, ret, c->ret);
		if (ret)
			continue;
		CHECK(strcmp(l.text, c->text) == 0, "cpulist '%s': text '%s', want '%s'", c->in,
		      l.text, c->text);
		CHECK(l.count == c->count, "cpulist '%s': count %d, want %d", c->in, l.count,
		      c->count);
		CHECK(bench_cpulist_single(&l) == c->single, "cpulist '%s': single %d", c->in,
		      bench_cpulist_single(&l));
	}
	CHECK(bench_parse_cpulist("0-3,6", &l) == 0, "parse");
	for (int c = -1; c < 10; c++)
		CHECK(bench_cpulist_has(&l, c) == ((c >= 0 && c <= 3) || c == 6), "has %d", c);
	CHECK(!bench_cpulist_has(&l, BENCH_CPU_MAX), "out of range");

	CHECK(bench_parse_args(3, (char **)list, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(strcmp(o.cpus[0].text, "0-1") == 0 && strcmp(o.cpus[1].text, "1") == 0,
	      "--cpus 0-1/1: '%s' '%s'", o.cpus[0].text, o.cpus[1].text);
	CHECK(bench_parse_args(3, (char **)old, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(bench_cpulist_single(&o.cpus[0]) == 2 && bench_cpulist_single(&o.cpus[1]) == 3,
	      "old --cpus A,B: client A, server B");
}

/* In a child: pin to l with wl_child_setup; exit 0 when the affinity mask is
 * exactly l. */
static int pinned_exactly(const struct bench_cpulist *l)
{
	struct bench_cell_spec spec = {.cgroup = NULL};
	pid_t parent = getpid(), pid;
	int status;

	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct side side = {0};
		cpu_set_t set;

		if (wl_child_setup(&spec, l, NULL, parent, &side) ||
		    sched_getaffinity(0, sizeof(set), &set))
			_exit(2);
		for (int c = 0; c < BENCH_CPU_MAX; c++)
			if (!!CPU_ISSET(c, &set) != bench_cpulist_has(l, c))
				_exit(1);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Every cpu of a list is in the worker's affinity mask, and only those. */
static void test_pin_lists(void)
{
	char all[64] = "", last[16] = "";
	struct bench_cpulist l;
	cpu_set_t set;
	size_t len = 0;
	int n = 0;

	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity");
	for (int c = 0; c < BENCH_CPU_MAX && n < 4; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		len += (size_t)snprintf(all + len, sizeof(all) - len, "%s%d", n ? "," : "", c);
		snprintf(last, sizeof(last), "%d", c);
		n++;
	}
	CHECK(n > 0 && bench_parse_cpulist(all, &l) == 0, "list of usable cpus '%s'", all);
	CHECK(pinned_exactly(&l) == 0, "pinned to every cpu of '%s'", all);
	CHECK(bench_parse_cpulist(last, &l) == 0, "list '%s'", last);
	CHECK(pinned_exactly(&l) == 0, "pinned to '%s' only", last);
}

static void test_args_defaults(void)
{
	const char *argv[] = {"shunt-bench", NULL};
	const char *quick[] = {"shunt-bench", "--quick", "--reps", "3", NULL};
	const char *paths[] = {
		"shunt-bench", "--paths", "unix,accel:pass", "--placement=split", "--sizes",
		"1KiB,2k",     NULL};
	struct bench_opts o;
	char err[256];

	CHECK(bench_parse_args(1, (char **)argv, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.workloads == (BENCH_RR | BENCH_STREAM), "default mode all");
	CHECK(o.n_sizes == 3 && o.sizes[0] == 64 && o.sizes[1] == 1024 && o.sizes[2] == 65536,
	      "default rr sizes");
	CHECK(o.n_write_sizes == 4 && o.write_sizes[3] == 262144, "default write sizes");
	CHECK(o.n_paths == 3 && o.paths[0].kind == BENCH_PATH_TCP &&
		      o.paths[1].kind == BENCH_PATH_ACCEL && o.paths[2].kind == BENCH_PATH_UNIX,
	      "default paths tcp,accel,unix");
	CHECK(o.placements == 3, "both placements by default");
	CHECK(bench_cpulist_single(&o.cpus[0]) == 0 && bench_cpulist_single(&o.cpus[1]) == 1,
	      "default cpus 0/1");
	CHECK(o.reps == 5 && fabs(o.duration - 0.4) < 1e-9, "default reps/duration");
	CHECK(o.warmup >= 0.02 && o.warmup <= 0.1, "warm-up bounded: %g", o.warmup);
	CHECK(bench_opts_want_accel(&o), "accel wanted by default");

	CHECK(bench_parse_args(4, (char **)quick, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.quick && o.reps == 3 && o.duration < 0.1, "--quick keeps explicit --reps");

	CHECK(bench_parse_args(6, (char **)paths, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_paths == 2 && o.paths[1].kind == BENCH_PATH_ACCEL &&
		      strcmp(o.paths[1].mode, "pass") == 0 &&
		      strcmp(o.paths[1].name, "accel:pass") == 0,
	      "accel:MODE path");
	CHECK(o.placements == 1u << BENCH_SPLIT, "--placement=split");
	CHECK(o.n_sizes == 2 && o.sizes[0] == 1024 && o.sizes[1] == 2048, "KiB / k suffixes");
}

/* --net: default lo; pods drops the loopback-only default paths with a note
 * and keeps accel:MODE variants. */
static void test_args_net(void)
{
	const char *dflt[] = {"shunt-bench", NULL};
	const char *pods[] = {"shunt-bench", "--net", "pods", NULL};
	const char *http[] = {"shunt-bench", "http", "--net", "pods", NULL};
	const char *named[] = {"shunt-bench", "--paths", "accel,tcp", "--net", "pods", NULL};
	struct bench_opts o;
	char err[256];

	CHECK(bench_parse_args(1, (char **)dflt, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.net == BENCH_NET_LO && o.n_paths == 3 && !o.net_skipped[0], "default: lo");
	CHECK(strcmp(bench_net_name(o.net), "lo") == 0, "lo name");

	CHECK(bench_parse_args(3, (char **)pods, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.net == BENCH_NET_PODS && strcmp(bench_net_name(o.net), "pods") == 0, "pods");
	CHECK(o.n_paths == 2 && o.paths[0].kind == BENCH_PATH_TCP &&
		      o.paths[1].kind == BENCH_PATH_ACCEL,
	      "pods default paths: tcp, accel (got %d)", o.n_paths);
	CHECK(strcmp(o.net_skipped, "unix") == 0, "note: '%s'", o.net_skipped);
	o.n_small_modes = 1;
	snprintf(o.small_modes[0], sizeof(o.small_modes[0]), "redirect");
	CHECK(bench_add_small_mode_paths(&o, err, sizeof(err)) == 0 && o.n_paths == 3 &&
		      strcmp(o.paths[2].name, "accel:redirect") == 0,
	      "accel:MODE variants are kept with pods");

	CHECK(bench_parse_args(4, (char **)http, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_paths == 2 && !bench_path_is_proxy(&o.paths[1]), "http pods: tcp, accel");
	CHECK(strcmp(o.net_skipped, "unix, proxy, proxy+accel, haproxy, nginx") == 0,
	      "http note: '%s'", o.net_skipped);

	CHECK(bench_parse_args(5, (char **)named, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_paths == 2 && strcmp(o.paths[0].name, "accel") == 0 && !o.net_skipped[0],
	      "named paths are kept in order, nothing skipped");
}

/* The pods network: names, stale-name parsing, and the ip(8) plan. */
static void test_pods_plan(void)
{
	char names[BENCH_NS_N][BENCH_PODS_NAME];
	struct bench_ipcmd cmds[BENCH_PODS_MAXCMDS];
	int n, veths = 0, addrs = 0, ups = 0;

	bench_pods_names(4242, names);
	CHECK(strcmp(names[BENCH_NS_NODE], "shunt-bench-4242-node") == 0 &&
		      strcmp(names[BENCH_NS_A], "shunt-bench-4242-a") == 0 &&
		      strcmp(names[BENCH_NS_B], "shunt-bench-4242-b") == 0,
	      "names carry the pid");
	for (int i = 0; i < BENCH_NS_N; i++)
		CHECK(bench_pods_name_pid(names[i]) == 4242, "pid of %s", names[i]);
	{
		static const char *const not_ours[] = {"shunt-bench-4242",
						       "shunt-bench-4242-c",
						       "shunt-bench--a",
						       "shunt-bench-x1-a",
						       "shunt-test-1-a",
						       "shunt-bench-0-a",
						       "shunt-bench-4242-node2",
						       "shunt-bench-12345678901-a",
						       "a"};

		for (size_t i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++)
			CHECK(bench_pods_name_pid(not_ours[i]) == -1, "'%s' is not a run's netns",
			      not_ours[i]);
	}

	n = bench_pods_plan(names, cmds, BENCH_PODS_MAXCMDS);
	CHECK(n > 0, "plan: %d", n);
	CHECK(bench_pods_plan(names, cmds, 3) == -E2BIG, "plan bounded by max");
	n = bench_pods_plan(names, cmds, BENCH_PODS_MAXCMDS);
	for (int i = 0; i < n; i++) {
		const struct bench_ipcmd *c = &cmds[i];

		/* every command runs inside one of the run's netns, never ours */
		CHECK(c->argc >= 4 && strcmp(c->argv[0], "ip") == 0 &&
			      strcmp(c->argv[1], "-n") == 0 &&
			      bench_pods_name_pid(c->argv[2]) == 4242,
		      "command %d runs in a run's netns", i);
		for (int a = 0; a < c->argc; a++)
			CHECK(!strchr(c->argv[a], ' '), "argv, not shell words: '%s'", c->argv[a]);
		if (c->argc >= 8 && strcmp(c->argv[3], "link") == 0 &&
		    strcmp(c->argv[4], "add") == 0 && strcmp(c->argv[6], "type") == 0 &&
		    strcmp(c->argv[7], "veth") == 0) {
			CHECK(strcmp(c->argv[2], names[BENCH_NS_NODE]) == 0 && c->argc == 13 &&
				      strcmp(c->argv[10], "eth0") == 0 &&
				      strcmp(c->argv[12], names[BENCH_NS_A + veths]) == 0,
			      "veth %d: node end, eth0 in pod", veths);
			veths++;
		}
		if (strcmp(c->argv[3], "addr") == 0) {
			CHECK(strcmp(c->argv[2], names[BENCH_NS_A + addrs]) == 0 &&
				      strcmp(c->argv[5], addrs ? BENCH_PODS_SERVER "/24"
							       : BENCH_PODS_CLIENT "/24") == 0,
			      "pod %d address", addrs);
			addrs++;
		}
		if (c->argc == 7 && strcmp(c->argv[5], "lo") == 0 && strcmp(c->argv[6], "up") == 0)
			ups++;
	}
	CHECK(veths == 2 && addrs == 2 && ups == BENCH_NS_N, "veths %d addrs %d lo up %d", veths,
	      addrs, ups);
}

static void test_args_l7(void)
{
	const char *http[] = {"shunt-bench", "http", NULL};
	const char *conn[] = {"shunt-bench", "connect", "--rate", "500", NULL};
	const char *noex[] = {"shunt-bench", "connect", "--no-exchange", NULL};
	const char *named[] = {"shunt-bench", "http", "--paths", "tcp,haproxy", NULL};
	struct bench_opts o;
	struct bench_cell cells[BENCH_MAX_CELLS];
	char err[256];

	CHECK(bench_parse_args(2, (char **)http, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.workloads == BENCH_HTTP && o.conns == BENCH_HTTP_CONNS && o.rate == 0,
	      "http: closed loop, default conns");
	CHECK(o.n_paths == 7 && o.paths[3].kind == BENCH_PATH_PROXY &&
		      o.paths[4].kind == BENCH_PATH_PROXY_ACCEL &&
		      o.paths[5].kind == BENCH_PATH_HAPROXY && o.paths[6].kind == BENCH_PATH_NGINX,
	      "http default paths: tcp,accel,unix,proxy,proxy+accel,haproxy,nginx");
	CHECK(!o.paths[5].explicit_path, "default paths are not explicit (absent = skipped)");
	CHECK(bench_path_accelerated(&o.paths[4]) && bench_path_is_proxy(&o.paths[4]) &&
		      !bench_path_is_proxy(&o.paths[1]),
	      "proxy+accel is accelerated and a proxy");
	CHECK(bench_build_cells(&o, cells, BENCH_MAX_CELLS) == 3 &&
		      cells[0].workload == BENCH_HTTP && cells[2].size == 65536,
	      "http cells = --sizes");
	CHECK(bench_cell_has_path(&cells[0], &o.paths[3]), "http cell has the proxy path");
	{
		struct bench_cell rr = {BENCH_RR, 64};

		CHECK(!bench_cell_has_path(&rr, &o.paths[3]), "rr never runs through a proxy");
	}

	CHECK(bench_parse_args(4, (char **)conn, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.workloads == BENCH_CONNECT && o.conns == BENCH_CONNECT_CONNS && o.rate == 500 &&
		      o.exchange,
	      "connect: open loop, exchange on");
	CHECK(o.n_sizes == 1 && o.sizes[0] == BENCH_CONNECT_SIZE, "connect: one cell");

	CHECK(bench_parse_args(3, (char **)noex, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(!o.exchange && o.n_sizes == 1 && o.sizes[0] == 0, "--no-exchange: size-less cell");

	CHECK(bench_parse_args(4, (char **)named, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_paths == 2 && o.paths[1].explicit_path, "named paths are explicit");
}

static void test_sizes(void)
{
	static const struct {
		const char *in;
		size_t out; /* 0 = invalid */
	} cases[] = {
		{"64", 64},	    {"64B", 64},   {"1K", 1024},     {"1k", 1024},
		{"1KiB", 1024},	    {"1KB", 1024}, {"256K", 262144}, {"1M", 1048576},
		{"16M", 16u << 20}, {"0", 0},	   {"", 0},	     {"-1", 0},
		{"1G", 0},	    {"1.5K", 0},   {"K", 0},	     {"17M", 0},
		{"1Kx", 0},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t v = 0;
		int ret = bench_parse_size(cases[i].in, &v);

		if (cases[i].out)
			CHECK(ret == 0 && v == cases[i].out, "'%s' -> %zu (ret %d)", cases[i].in, v,
			      ret);
		else
			CHECK(ret == -EINVAL, "'%s' must be rejected", cases[i].in);
	}
	CHECK(strcmp(bench_fmt_size(64, buf, sizeof(buf)), "64 B") == 0, "%s", buf);
	CHECK(strcmp(bench_fmt_size(1024, buf, sizeof(buf)), "1 KiB") == 0, "%s", buf);
	CHECK(strcmp(bench_fmt_size(262144, buf, sizeof(buf)), "256 KiB") == 0, "%s", buf);
	CHECK(strcmp(bench_fmt_size(1u << 20, buf, sizeof(buf)), "1 MiB") == 0, "%s", buf);
	CHECK(strcmp(bench_fmt_size(1500, buf, sizeof(buf)), "1500 B") == 0, "%s", buf);
}

static void test_percentiles(void)
{
	uint32_t v[100];
	double m[] = {5, 1, 3};
	double e[] = {4, 1, 3, 2};

	for (uint32_t i = 0; i < 100; i++)
		v[i] = 100 - i; /* 100..1, unsorted */
	bench_sort_u32(v, 100);
	CHECK(v[0] == 1 && v[99] == 100, "sorted");
	CHECK(bench_pct_u32(v, 100, 50) == 50, "p50 %u", bench_pct_u32(v, 100, 50));
	CHECK(bench_pct_u32(v, 100, 90) == 90, "p90");
	CHECK(bench_pct_u32(v, 100, 99) == 99, "p99");
	CHECK(bench_pct_u32(v, 100, 100) == 100, "p100 = max");
	CHECK(bench_pct_u32(v, 100, 0) == 1, "p0 = min");
	CHECK(bench_pct_u32(v, 1, 99) == 1, "one sample");
	CHECK(bench_pct_u32(v, 0, 50) == 0, "no sample");
	CHECK(bench_median(m, 3) == 3, "odd median");
	CHECK(bench_median(e, 4) == 2.5, "even median");
	CHECK(isnan(bench_median(m, 0)), "empty median is NAN");
	CHECK(m[0] == 5 && m[1] == 1, "median leaves its input alone");
}

static void test_verdicts(void)
{
	static const struct {
		enum bench_target_kind kind;
		double ratio;
		enum bench_verdict want;
	} cases[] = {
		{BENCH_T_RTT, 0.40, BENCH_PASS},  {BENCH_T_RTT, 0.50, BENCH_PASS},
		{BENCH_T_RTT, 0.51, BENCH_MISS},  {BENCH_T_TPUT, 1.50, BENCH_PASS},
		{BENCH_T_TPUT, 1.49, BENCH_MISS}, {BENCH_T_SMALL, 1.00, BENCH_PASS},
		{BENCH_T_SMALL, 0.97, BENCH_TIE}, {BENCH_T_SMALL, 0.90, BENCH_MISS},
		{BENCH_T_RTT, NAN, BENCH_NA},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(bench_verdict_for(cases[i].kind, cases[i].ratio) == cases[i].want,
		      "case %zu: ratio %g -> %s", i, cases[i].ratio,
		      bench_verdict_name(bench_verdict_for(cases[i].kind, cases[i].ratio)));
}

/* A synthetic grid: tcp, accel, unix, plus a small-only accel:pass path. */
static void fill_grid(struct bench_results *r)
{
	const struct bench_opts *o = r->o;

	for (int pl = 0; pl < BENCH_N_PLACEMENTS; pl++)
		for (int c = 0; c < r->n_cells; c++)
			for (int p = 0; p < o->n_paths; p++)
				for (int rep = 0; rep < o->reps; rep++) {
					struct bench_sample *s = bench_sample_at(r, pl, c, p, rep);
					/* tcp = 10 us / 1000 MB/s; accel = 4 us (0.4x) and 2x
					 * MB/s at big writes, 0.9x at small; unix 0.8x */
					double k = o->paths[p].kind == BENCH_PATH_TCP	 ? 1.0
						   : o->paths[p].kind == BENCH_PATH_UNIX ? 0.8
											 : 0.4;
					double t =
						r->cells[c].size >= BENCH_LARGE_WRITE ? 2.0 : 0.9;

					if (!bench_cell_has_path(&r->cells[c], &o->paths[p]))
						continue;
					s->valid = true;
					s->p50 = 10 * k + rep * 0.1;
					s->p90 = s->p50 + 1;
					s->p99 = s->p50 + 2;
					s->max = s->p50 + 3 + rep;
					s->mbps = 1000 * (o->paths[p].kind == BENCH_PATH_TCP ? 1
											     : t) +
						  rep;
					s->cpu_us_per_op = 1;
					s->cpu_us_per_mb = 2;
					s->tcp_fraction = o->paths[p].kind == BENCH_PATH_UNIX ? NAN
							  : o->paths[p].kind == BENCH_PATH_TCP
								  ? 1.0
								  : 0.0;
				}
}

static void test_grid_summaries_targets(void)
{
	const char *argv[] = {"shunt-bench", "--reps", "3", "--small-writes", "pass", NULL};
	static struct bench_target t[BENCH_MAX_TARGETS];
	struct bench_opts o;
	struct bench_results r;
	struct bench_summary s;
	char err[256];
	int n, counts[4] = {0};

	CHECK(bench_parse_args(5, (char **)argv, &o, err, sizeof(err)) == 0, "%s", err);
	CHECK(bench_add_small_mode_paths(&o, err, sizeof(err)) == 0, "%s", err);
	CHECK(o.n_paths == 4 && o.paths[3].small_only && strcmp(o.paths[3].name, "accel:pass") == 0,
	      "small-writes variant appended");
	CHECK(bench_results_init(&r, &o) == 0, "init");
	CHECK(r.n_cells == 7, "3 rr + 4 stream cells, got %d", r.n_cells);
	fill_grid(&r);

	/* rr 64 B, same, accel: p50 reps 4.0 4.1 4.2 -> median 4.1; ratio paired */
	CHECK(bench_summarize(&r, BENCH_SAME, 0, 1, &s) == 0, "summarize");
	CHECK(s.n == 3 && fabs(s.p50 - 4.1) < 1e-9, "p50 median %g", s.p50);
	CHECK(fabs(s.p50_min - 4.0) < 1e-9 && fabs(s.p50_max - 4.2) < 1e-9, "p50 range");
	CHECK(fabs(s.max - 9.2) < 1e-9, "max is the largest of any rep: %g", s.max);
	CHECK(s.ratio > 0.39 && s.ratio < 0.42, "paired ratio %g", s.ratio);
	CHECK(s.tcp_fraction == 0.0, "accel tcp fraction");
	CHECK(bench_summarize(&r, BENCH_SAME, 0, 2, &s) == 0 && isnan(s.tcp_fraction),
	      "unix has no tcp fraction");
	/* small-only path: absent from rr and big stream cells */
	CHECK(bench_summarize(&r, BENCH_SAME, 0, 3, &s) == -ENOENT, "pass not in rr");
	CHECK(bench_summarize(&r, BENCH_SAME, 5, 3, &s) == -ENOENT, "pass not at 16 KiB");
	CHECK(bench_summarize(&r, BENCH_SAME, 3, 3, &s) == 0 && s.n == 3, "pass at 64 B");

	/* an invalid repetition drops out of the medians and the pairing */
	bench_sample_at(&r, BENCH_SAME, 0, 0, 2)->valid = false;
	CHECK(bench_summarize(&r, BENCH_SAME, 0, 0, &s) == 0 && s.n == 2, "invalid rep skipped");

	n = bench_eval_targets(&r, t, BENCH_MAX_TARGETS);
	/* rtt: 3 sizes x accel (same only) = 3; stream: 2 placements x (2 small x
	 * {accel, accel:pass} + 2 big x accel) = 12 */
	CHECK(n == 15, "targets %d", n);
	for (int i = 0; i < n; i++)
		counts[t[i].verdict]++;
	CHECK(counts[BENCH_PASS] == 3 + 4, "pass %d", counts[BENCH_PASS]);
	CHECK(counts[BENCH_MISS] == 8, "miss %d (small writes at 0.9x)", counts[BENCH_MISS]);

	/* JSON */
	struct bench_run_info info = {.ncpu = 2, .wall_s = 1.5};
	json_t *j, *rr, *e;

	snprintf(info.command, sizeof(info.command), "shunt-bench --reps 3");
	info.n_failures = 1;
	snprintf(info.failures[0], sizeof(info.failures[0]), "rep 1/3 same rr 64 B accel: stall");
	info.n_shuntds = 1;
	snprintf(info.shuntds[0].effective, sizeof(info.shuntds[0].effective), "adaptive");
	snprintf(info.shuntds[0].counters, sizeof(info.shuntds[0].counters),
		 "sockets_tracked=12 msgs_redirected=5 junk");
	j = bench_results_json(&r, &info);
	CHECK(j, "json");
	rr = json_object_get(j, "rr");
	CHECK(json_array_size(rr) == 2 * 3 * 3, "rr entries %zu", json_array_size(rr));
	e = json_array_get(rr, 0);
	CHECK(strcmp(json_string_value(json_object_get(e, "path")), "tcp") == 0, "first is tcp");
	CHECK(json_array_size(json_object_get(e, "reps")) == 3, "per-rep values");
	CHECK(json_is_null(json_array_get(json_object_get(e, "reps"), 2)), "invalid rep is null");
	CHECK(json_array_size(json_object_get(j, "stream")) == 2 * (4 * 3 + 2), "stream entries");
	CHECK(json_array_size(json_object_get(j, "targets")) == 15, "targets in json");
	CHECK(json_integer_value(json_object_get(j, "failed_cells")) == 1 &&
		      json_array_size(json_object_get(j, "failures")) == 1,
	      "failed cells in json");
	CHECK(json_integer_value(json_object_get(
		      json_object_get(json_array_get(json_object_get(j, "shuntd"), 0), "counters"),
		      "sockets_tracked")) == 12,
	      "shuntd counters parsed");
	/* NAN never reaches the JSON as a number */
	e = json_array_get(rr, 2); /* unix */
	CHECK(json_is_null(json_object_get(e, "tcp_fraction")), "unix tcp_fraction null");
	json_decref(j);

	/* tables and the gnuplot script mention every path */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	bench_print_tables(f, &r, &info);
	fclose(f);
	CHECK(strstr(buf, "accel:pass") && strstr(buf, "PASS") && strstr(buf, "MISS") &&
		      strstr(buf, "p99") &&
		      strstr(buf, "FAILED: rep 1/3 same rr 64 B accel: stall"),
	      "table:\n%s", buf);
	free(buf);
	f = open_memstream(&buf, &len);
	bench_write_gnuplot(f, &r, "/tmp/it's.svg");
	fclose(f);
	CHECK(strstr(buf, "set terminal svg") && strstr(buf, "'/tmp/it''s.svg'") &&
		      strstr(buf, "multiplot layout 2,4") && strstr(buf, "(loopback)"),
	      "gnuplot:\n%s", buf);
	free(buf);

	/* --net pods: the network is named everywhere, targets are information */
	o.net = BENCH_NET_PODS;
	snprintf(info.net, sizeof(info.net), "pods (client in netns x-a)");
	j = bench_results_json(&r, &info);
	CHECK(j && strcmp(json_string_value(json_object_get(j, "net")), "pods") == 0 &&
		      strcmp(json_string_value(
				     json_object_get(json_object_get(j, "config"), "net")),
			     "pods") == 0 &&
		      json_is_true(json_object_get(j, "targets_informational")) &&
		      json_array_size(json_object_get(j, "targets")) == 15,
	      "json of a pods run");
	json_decref(j);
	f = open_memstream(&buf, &len);
	bench_print_tables(f, &r, &info);
	fclose(f);
	CHECK(strstr(buf, "\nnetwork: pods (client in netns x-a); ratios are vs tcp") &&
		      strstr(buf, "for information only") &&
		      strstr(buf, "targets (informational, --net pods):"),
	      "pods table:\n%s", buf);
	free(buf);
	f = open_memstream(&buf, &len);
	bench_write_gnuplot(f, &r, "/tmp/x.png");
	fclose(f);
	CHECK(strstr(buf, "between pods"), "pods plot title:\n%s", buf);
	free(buf);
	bench_results_free(&r);
}

static void test_mountinfo(void)
{
	static const char mi[] =
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:9 - cgroup2 cgroup2 "
		"rw\n";
	static const char none[] = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
	char out[256];
	FILE *f = fmemopen((void *)mi, sizeof(mi) - 1, "r");

	CHECK(bench_find_cgroup2(f, out, sizeof(out)) == 0, "found");
	CHECK(strcmp(out, "/sys/fs/cgroup/uni fied") == 0, "mount point '%s'", out);
	fclose(f);
	f = fmemopen((void *)none, sizeof(none) - 1, "r");
	CHECK(bench_find_cgroup2(f, out, sizeof(out)) == -ENOENT, "none");
	fclose(f);
}

static void test_shuntd_log(void)
{
	static const char log[] =
		"libbpf: something\n"
		"shuntd: attached sockops to /x, sk_msg to the sockhash; pinned in /p/v1; "
		"small-writes=adaptive (run 64, avg < 512 B)\n"
		"shuntd: counters: a=1 b=2\n"
		"shuntd: counters: a=3 b=4\n"
		"shuntd: detached\n";
	char mode[BENCH_MODE_LEN] = "", counters[256] = "";
	FILE *f = fmemopen((void *)log, sizeof(log) - 1, "r");

	bench_parse_shuntd_log(f, mode, sizeof(mode), counters, sizeof(counters));
	fclose(f);
	CHECK(strcmp(mode, "adaptive") == 0, "mode '%s'", mode);
	CHECK(strcmp(counters, "a=3 b=4") == 0, "last counters line '%s'", counters);
}

static void test_find_shuntd(void)
{
	char out[256], err[512];

	CHECK(bench_find_shuntd("/nonexistent/shuntd", NULL, out, sizeof(out), err, sizeof(err)) ==
		      -ENOENT,
	      "missing explicit path");
	CHECK(strstr(err, "/nonexistent/shuntd"), "message names the path: %s", err);
	CHECK(bench_find_shuntd("/bin/sh", NULL, out, sizeof(out), err, sizeof(err)) == 0 &&
		      strcmp(out, "/bin/sh") == 0,
	      "explicit executable accepted");
}

int main(void)
{
	test_args_table();
	test_args_defaults();
	test_cpulists();
	test_pin_lists();
	test_args_l7();
	test_args_net();
	test_pods_plan();
	test_sizes();
	test_percentiles();
	test_verdicts();
	test_grid_summaries_targets();
	test_mountinfo();
	test_shuntd_log();
	test_find_shuntd();
	printf("bench pure: ok\n");
	return 0;
}
