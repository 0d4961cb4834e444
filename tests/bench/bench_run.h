/* SPDX-License-Identifier: Apache-2.0 */
/* Run the shunt-bench binary from a test and capture what it printed. */
#ifndef SHUNT_TESTS_BENCH_RUN_H
#define SHUNT_TESTS_BENCH_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct bench_run {
	int rc;		 /* exit status, 128+signal when killed */
	pid_t pid;	 /* of the finished run */
	char out[65536]; /* stdout (truncated) */
	char err[8192];	 /* stderr (truncated) */
};

static inline void bench_slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* A temporary file removed at exit, also when a CHECK fails midway. */
static char bench_tmp_path[64];

static inline void bench_tmp_unlink(void)
{
	if (bench_tmp_path[0])
		unlink(bench_tmp_path);
}

/* Make a fresh empty temporary file; returns its path (one at a time). */
static inline const char *bench_tmp_file(void)
{
	static int registered;
	int fd;

	bench_tmp_unlink();
	snprintf(bench_tmp_path, sizeof(bench_tmp_path), "/tmp/shunt-bench-test-XXXXXX");
	fd = mkstemp(bench_tmp_path);
	if (fd < 0)
		return NULL;
	close(fd);
	if (!registered++)
		atexit(bench_tmp_unlink);
	return bench_tmp_path;
}

/* Run argv (argv[0] = binary) to completion. Returns 0 or -1 on fork errors. */
static inline int bench_run(char *const argv[], struct bench_run *r)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int status;
	pid_t pid;

	if (!out || !err)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fileno(out), 1);
		dup2(fileno(err), 2);
		execv(argv[0], argv);
		_exit(127);
	}
	r->pid = pid;
	while (waitpid(pid, &status, 0) < 0)
		;
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	bench_slurp(out, r->out, sizeof(r->out));
	bench_slurp(err, r->err, sizeof(r->err));
	return 0;
}

#endif
