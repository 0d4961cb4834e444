/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench accelerated path: a private cgroup tree, one shuntd per
 * --small-writes mode attached to its own leaf, and cleanup that undoes
 * exactly what was made.
 *
 *   <cgroup2>/shunt-bench-<pid>/plain        baseline tcp/unix workers
 *   <cgroup2>/shunt-bench-<pid>/accel-<mode> shuntd --cgroup this
 *   /sys/fs/bpf/shunt-bench-<pid>-<mode>     shuntd --pin-dir this
 */
#ifndef SHUNT_BENCH_ACCEL_H
#define SHUNT_BENCH_ACCEL_H

#include "bench.h"

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

struct bench_shuntd {
	char mode[BENCH_MODE_LEN]; /* "" = shuntd's default */
	char cgroup[PATH_MAX];
	char pin_dir[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
	bool cg_made, pin_made;
	/* From shuntd's log, kept after cleanup for the report: */
	char effective_mode[BENCH_MODE_LEN]; /* "small-writes=..." of its start line */
	char counters[1024];		     /* its final "counters:" line */
};

struct bench_accel {
	char cg2[PATH_MAX];   /* cgroup v2 mount point */
	char root[PATH_MAX];  /* <cg2>/shunt-bench-<pid> */
	char plain[PATH_MAX]; /* <root>/plain */
	char log_dir[PATH_MAX];
	bool root_made, plain_made, log_dir_made;
	int n;
	struct bench_shuntd d[BENCH_MAX_PATHS];
};

/* Pick "small-writes=MODE" and the last "counters: ..." line out of a shuntd
 * log. Pure apart from reading f. */
void bench_parse_shuntd_log(FILE *f, char *mode, size_t mode_len, char *counters,
			    size_t counters_len);

/* Mount point of the first cgroup2 entry of a /proc/self/mountinfo stream.
 * Returns 0 or -ENOENT. Pure apart from reading f. */
int bench_find_cgroup2(FILE *mountinfo, char *out, size_t len);

/* Locate shuntd: explicit path (must be executable), else
 * <dir of self_exe>/../sockmap/shuntd, else $PATH. Returns 0 or -ENOENT and
 * describes where it looked in err. */
int bench_find_shuntd(const char *explicit_path, const char *self_exe, char *out, size_t len,
		      char *err, size_t errlen);

/* Locate a program: explicit_path (must be executable), else
 * <dir of self_exe>/../<sibling_dir>/<name> (sibling_dir may be NULL), else
 * $PATH, else /usr/sbin, /usr/local/sbin, /sbin. Returns 0 or -ENOENT. */
int bench_find_binary(const char *name, const char *explicit_path, const char *self_exe,
		      const char *sibling_dir, char *out, size_t len);

/* 1 when `shuntd --help` mentions --small-writes, 0 when not, -errno. */
int bench_shuntd_has_small_writes(const char *shuntd);

/* Create the cgroups and start one shuntd per distinct accel mode in o's
 * paths; each is attached once it wrote "ready". On error everything made so
 * far is already undone. */
int bench_accel_setup(struct bench_accel *a, const struct bench_opts *o, const char *shuntd,
		      char *err, size_t errlen);

/* Remove what runs killed with SIGKILL left behind: <cg2>/shunt-bench-<pid>/
 * and /sys/fs/bpf/shunt-bench-<pid>-* whose pid no longer exists (their shuntd
 * got SIGTERM through PR_SET_PDEATHSIG). Returns how many entries went. */
int bench_accel_sweep_stale(const char *cg2);

/* cgroup directory the workers of path p join (NULL before setup). */
const char *bench_accel_cgroup(const struct bench_accel *a, const struct bench_path *p);

/* SIGTERM + wait every shuntd (SIGKILL after 10 s), remove pin dirs, rmdir
 * cgroups, remove logs. Idempotent; returns 0 or the first -errno. */
int bench_accel_cleanup(struct bench_accel *a, bool keep_logs);

#endif
