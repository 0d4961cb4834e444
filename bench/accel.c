/* SPDX-License-Identifier: Apache-2.0 */
/* shunt-bench accelerated path: cgroups + shuntd lifecycle. */
#include "accel.h"
#include "workload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BPFFS		 "/sys/fs/bpf"
#define BPFFS_MAGIC	 0xcafe4a11
#define READY_TIMEOUT_MS 15000
#define EXIT_TIMEOUT_MS	 10000
#define PIN_PREFIX	 BPFFS "/shunt-bench-"

/* Undo mountinfo's octal escapes (\040 = space) in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

int bench_find_cgroup2(FILE *f, char *out, size_t len)
{
	char line[4096];

	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint opts [optional...] - fstype src opts */
		char *fields[5], *save = NULL, *sep, *fstype;
		int n = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " \n", &save);
		if (!fstype || strcmp(fstype, "cgroup2") != 0)
			continue;
		save = NULL;
		for (char *t = strtok_r(line, " ", &save); t && n < 5;
		     t = strtok_r(NULL, " ", &save))
			fields[n++] = t;
		if (n < 5)
			continue;
		unescape_octal(fields[4]);
		if (strlen(fields[4]) >= len)
			return -ENAMETOOLONG;
		snprintf(out, len, "%s", fields[4]);
		return 0;
	}
	return -ENOENT;
}

void bench_parse_shuntd_log(FILE *f, char *mode, size_t mode_len, char *counters,
			    size_t counters_len)
{
	char line[2048], *p;

	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		p = strstr(line, "small-writes=");
		if (p && mode_len) {
			p += strlen("small-writes=");
			snprintf(mode, mode_len, "%.*s", (int)strcspn(p, " ;,)"), p);
		}
		p = strstr(line, "counters:");
		if (p && counters_len) {
			p += strlen("counters:");
			p += strspn(p, " ");
			snprintf(counters, counters_len, "%s", p);
		}
	}
}

static bool executable(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int bench_find_shuntd(const char *explicit_path, const char *self_exe, char *out, size_t len,
		      char *err, size_t errlen)
{
	char buf[PATH_MAX], sibling[PATH_MAX] = "";
	const char *env;

	if (explicit_path) {
		if (!executable(explicit_path)) {
			snprintf(err, errlen, "--shuntd %s: not an executable file", explicit_path);
			return -ENOENT;
		}
		snprintf(out, len, "%s", explicit_path);
		return 0;
	}
	if (self_exe && strlen(self_exe) < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%s", self_exe);
		/* <build>/bench/shunt-bench -> <build>/sockmap/shuntd */
		snprintf(sibling, sizeof(sibling), "%s/../sockmap/shuntd", dirname(buf));
		if (executable(sibling)) {
			snprintf(out, len, "%s", sibling);
			return 0;
		}
	}
	env = getenv("PATH");
	if (env) {
		const char *p = env;

		while (*p) {
			const char *colon = strchr(p, ':');
			size_t n = colon ? (size_t)(colon - p) : strlen(p);

			if (n && n + sizeof("/shuntd") < sizeof(buf)) {
				snprintf(buf, sizeof(buf), "%.*s/shuntd", (int)n, p);
				if (executable(buf)) {
					snprintf(out, len, "%s", buf);
					return 0;
				}
			}
			if (!colon)
				break;
			p = colon + 1;
		}
	}
	snprintf(err, errlen,
		 "shuntd not found (looked at %s and in $PATH); build sockmap/ and pass "
		 "--shuntd PATH, or measure without it: --paths tcp,unix",
		 sibling[0] ? sibling : "<build>/sockmap/shuntd");
	return -ENOENT;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Wait for pid up to timeout_ms; returns its wait status or -ETIMEDOUT. */
static int wait_timeout(pid_t pid, int timeout_ms)
{
	struct pollfd pfd = {.fd = pidfd_open_(pid), .events = POLLIN};
	int status, ret;

	if (pfd.fd >= 0) {
		do {
			ret = poll(&pfd, 1, timeout_ms);
		} while (ret < 0 && errno == EINTR);
		close(pfd.fd);
		if (ret == 0)
			return -ETIMEDOUT;
	}
	while ((ret = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	return ret == pid ? status : -errno;
}

int bench_shuntd_has_small_writes(const char *shuntd)
{
	char buf[65536];
	size_t got = 0;
	int p[2], ret;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(shuntd, shuntd, "--help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		n = read(p[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	close(p[0]);
	if (wait_timeout(pid, 5000) == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		wait_timeout(pid, -1);
	}
	return strstr(buf, "--small-writes") != NULL;
}

static int ensure_bpffs(char *err, size_t errlen)
{
	struct statfs st;

	if (statfs(BPFFS, &st) == 0 && (uint32_t)st.f_type == BPFFS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
		int ret = -errno;

		snprintf(err, errlen, "failed to mount bpffs on %s: %s", BPFFS, strerror(-ret));
		return ret;
	}
	return 0;
}

/* snprintf that reports truncation instead of hiding it. */
#define PATHF(buf, ...) \
	((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf) ? -ENAMETOOLONG : 0)

static int make_dir(const char *path, bool *made, char *err, size_t errlen)
{
	if (mkdir(path, 0700)) {
		int ret = -errno;

		snprintf(err, errlen, "failed to create %s: %s", path, strerror(-ret));
		return ret;
	}
	*made = true;
	return 0;
}

static int start_shuntd(struct bench_shuntd *d, const char *shuntd, char *err, size_t errlen)
{
	char line[64] = "";
	size_t got = 0;
	int p[2], status, ret = 0;
	uint64_t waited_ms = 0;

	if (pipe2(p, O_CLOEXEC)) {
		ret = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-ret));
		return ret;
	}
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0) {
		ret = -errno;
		d->pid = 0;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (d->pid == 0) {
		const char *argv[12];
		int logfd, devnull, i = 0;

		/* own process group: a terminal Ctrl-C reaches shunt-bench, which
		 * then stops shuntd with SIGTERM, in order */
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		devnull = open("/dev/null", O_RDONLY);
		if (logfd < 0 || devnull < 0)
			_exit(126);
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (p[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(p[1], 3) < 0)
			_exit(126);
		argv[i++] = shuntd;
		argv[i++] = "--cgroup";
		argv[i++] = d->cgroup;
		argv[i++] = "--pin-dir";
		argv[i++] = d->pin_dir;
		argv[i++] = "--ready-fd";
		argv[i++] = "3";
		if (d->mode[0]) {
			argv[i++] = "--small-writes";
			argv[i++] = d->mode;
		}
		argv[i] = NULL;
		execv(shuntd, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);

	/* wait for "ready\n"; EOF first means shuntd exited */
	while (!strchr(line, '\n')) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int n = poll(&pfd, 1, 100);

		if (bench_stop) {
			ret = -EINTR;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			waited_ms += 100;
			if (waited_ms >= READY_TIMEOUT_MS) {
				ret = -ETIMEDOUT;
				snprintf(err, errlen,
					 "shuntd did not report ready within %d s (log: %s)",
					 READY_TIMEOUT_MS / 1000, d->log);
				break;
			}
			continue;
		}
		ssize_t r = read(p[0], line + got, sizeof(line) - 1 - got);

		if (r <= 0) {
			status = wait_timeout(d->pid, EXIT_TIMEOUT_MS);
			d->pid = 0;
			ret = -ECHILD;
			snprintf(err, errlen, "shuntd exited before ready (%s %d; log: %s)",
				 status >= 0 && WIFSIGNALED(status) ? "signal" : "status",
				 status < 0	       ? status
				 : WIFSIGNALED(status) ? WTERMSIG(status)
						       : WEXITSTATUS(status),
				 d->log);
			break;
		}
		got += (size_t)r;
		line[got] = '\0';
		if (got == sizeof(line) - 1)
			break;
	}
	close(p[0]);
	if (!ret && strcmp(line, "ready\n") != 0) {
		ret = -EPROTO;
		snprintf(err, errlen, "shuntd wrote '%.20s' instead of 'ready' (log: %s)", line,
			 d->log);
	}
	return ret;
}

static bool pid_gone(const char *digits)
{
	char *end;
	long pid = strtol(digits, &end, 10);

	if (pid <= 0 || end == digits || (*end != '\0' && *end != '-'))
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int remove_pin_dir(const char *dir);

int bench_accel_sweep_stale(const char *cg2)
{
	const size_t plen = strlen("shunt-bench-");
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *e, *f;
	DIR *d, *inner;
	int swept = 0;

	d = opendir(cg2);
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "shunt-bench-", plen) != 0 ||
		    strchr(e->d_name + plen, '-') || !pid_gone(e->d_name + plen) ||
		    PATHF(path, "%s/%s", cg2, e->d_name))
			continue;
		inner = opendir(path);
		while (inner && (f = readdir(inner))) {
			/* child cgroups only (the rest are cgroup interface files) */
			if (f->d_type == DT_DIR && f->d_name[0] != '.' &&
			    !PATHF(sub, "%s/%s", path, f->d_name))
				rmdir(sub);
		}
		if (inner)
			closedir(inner);
		if (rmdir(path) == 0) {
			fprintf(stderr, "shunt-bench: removed stale cgroup %s\n", path);
			swept++;
		}
	}
	if (d)
		closedir(d);
	d = opendir(BPFFS);
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "shunt-bench-", plen) != 0 || !pid_gone(e->d_name + plen) ||
		    PATHF(path, BPFFS "/%s", e->d_name))
			continue;
		if (remove_pin_dir(path) == 0) {
			fprintf(stderr, "shunt-bench: removed stale pin dir %s\n", path);
			swept++;
		}
	}
	if (d)
		closedir(d);
	return swept;
}

int bench_accel_setup(struct bench_accel *a, const struct bench_opts *o, const char *shuntd,
		      char *err, size_t errlen)
{
	FILE *mi;
	int ret;

	memset(a, 0, sizeof(*a));
	mi = fopen("/proc/self/mountinfo", "re");
	if (!mi) {
		ret = -errno;
		snprintf(err, errlen, "failed to open /proc/self/mountinfo: %s", strerror(-ret));
		return ret;
	}
	ret = bench_find_cgroup2(mi, a->cg2, sizeof(a->cg2));
	fclose(mi);
	if (ret) {
		snprintf(err, errlen, "no cgroup2 mount found in /proc/self/mountinfo");
		return ret;
	}
	ret = ensure_bpffs(err, errlen);
	if (ret)
		return ret;
	bench_accel_sweep_stale(a->cg2);

	snprintf(a->log_dir, sizeof(a->log_dir), "/tmp/shunt-bench-%d-XXXXXX", (int)getpid());
	if (!mkdtemp(a->log_dir)) {
		ret = -errno;
		snprintf(err, errlen, "failed to create a log directory: %s", strerror(-ret));
		goto cleanup;
	}
	a->log_dir_made = true;
	if (PATHF(a->root, "%s/shunt-bench-%d", a->cg2, (int)getpid()) ||
	    PATHF(a->plain, "%s/plain", a->root)) {
		ret = -ENAMETOOLONG;
		snprintf(err, errlen, "cgroup2 mount path too long");
		goto cleanup;
	}
	ret = make_dir(a->root, &a->root_made, err, errlen);
	if (ret)
		goto cleanup;
	ret = make_dir(a->plain, &a->plain_made, err, errlen);
	if (ret)
		goto cleanup;

	for (int i = 0; i < o->n_paths; i++) {
		const struct bench_path *p = &o->paths[i];
		struct bench_shuntd *d;
		const char *tag;
		bool dup = false;

		if (!bench_path_accelerated(p))
			continue;
		for (int j = 0; j < a->n; j++)
			if (strcmp(a->d[j].mode, p->mode) == 0)
				dup = true;
		if (dup)
			continue;
		d = &a->d[a->n++];
		snprintf(d->mode, sizeof(d->mode), "%s", p->mode);
		tag = p->mode[0] ? p->mode : "default";
		if (PATHF(d->cgroup, "%s/accel-%s", a->root, tag) ||
		    PATHF(d->pin_dir, PIN_PREFIX "%d-%s", (int)getpid(), tag) ||
		    PATHF(d->log, "%s/shuntd-%s.log", a->log_dir, tag)) {
			ret = -ENAMETOOLONG;
			snprintf(err, errlen, "path too long");
			goto cleanup;
		}
		ret = make_dir(d->cgroup, &d->cg_made, err, errlen);
		if (ret)
			goto cleanup;
		ret = make_dir(d->pin_dir, &d->pin_made, err, errlen);
		if (ret)
			goto cleanup;
		ret = start_shuntd(d, shuntd, err, errlen);
		if (ret)
			goto cleanup;
	}
	return 0;
cleanup:
	bench_accel_cleanup(a, true);
	return ret;
}

const char *bench_accel_cgroup(const struct bench_accel *a, const struct bench_path *p)
{
	if (!a->plain_made)
		return NULL;
	if (!bench_path_accelerated(p))
		return a->plain;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->d[i].mode, p->mode) == 0 && a->d[i].cg_made)
			return a->d[i].cgroup;
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove a pin directory we created, and whatever shuntd left inside it. */
static int remove_pin_dir(const char *dir)
{
	if (strncmp(dir, PIN_PREFIX, strlen(PIN_PREFIX)) != 0)
		return -EINVAL; /* never walk anything but our own */
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return -errno;
	return 0;
}

static int rmdir_once(const char *path, bool *made, int *first_err)
{
	if (!*made)
		return 0;
	if (rmdir(path) && errno != ENOENT) {
		int ret = -errno;

		fprintf(stderr, "shunt-bench: failed to remove %s: %s\n", path, strerror(-ret));
		if (!*first_err)
			*first_err = ret;
		return ret;
	}
	*made = false;
	return 0;
}

int bench_accel_cleanup(struct bench_accel *a, bool keep_logs)
{
	int first_err = 0;

	for (int i = 0; i < a->n; i++)
		if (a->d[i].pid > 0)
			kill(a->d[i].pid, SIGTERM);
	for (int i = 0; i < a->n; i++) {
		struct bench_shuntd *d = &a->d[i];
		int status;

		if (d->pid <= 0)
			continue;
		status = wait_timeout(d->pid, EXIT_TIMEOUT_MS);
		if (status == -ETIMEDOUT) {
			fprintf(stderr,
				"shunt-bench: shuntd %d ignored SIGTERM for %d s, killing\n",
				(int)d->pid, EXIT_TIMEOUT_MS / 1000);
			kill(d->pid, SIGKILL);
			status = wait_timeout(d->pid, -1);
			if (!first_err)
				first_err = -ETIMEDOUT;
		} else if (status >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr, "shunt-bench: shuntd (%s) exited with %s %d (log: %s)\n",
				d->mode[0] ? d->mode : "default",
				WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				d->log);
			keep_logs = true;
			if (!first_err)
				first_err = -ECHILD;
		}
		d->pid = 0;
	}
	for (int i = 0; i < a->n; i++) {
		struct bench_shuntd *d = &a->d[i];
		FILE *log = d->log[0] ? fopen(d->log, "re") : NULL;

		if (log) {
			bench_parse_shuntd_log(log, d->effective_mode, sizeof(d->effective_mode),
					       d->counters, sizeof(d->counters));
			fclose(log);
		}
		if (d->pin_made) {
			if (remove_pin_dir(d->pin_dir)) {
				fprintf(stderr, "shunt-bench: failed to remove %s: %s\n",
					d->pin_dir, strerror(errno));
				if (!first_err)
					first_err = -errno;
			} else {
				d->pin_made = false;
			}
		}
		rmdir_once(d->cgroup, &d->cg_made, &first_err);
	}
	rmdir_once(a->plain, &a->plain_made, &first_err);
	rmdir_once(a->root, &a->root_made, &first_err);
	if (a->log_dir_made) {
		if (keep_logs) {
			fprintf(stderr, "shunt-bench: shuntd logs kept in %s\n", a->log_dir);
		} else {
			for (int i = 0; i < a->n; i++)
				unlink(a->d[i].log);
			rmdir(a->log_dir);
		}
		a->log_dir_made = false;
	}
	return first_err;
}

int bench_find_binary(const char *name, const char *explicit_path, const char *self_exe,
		      const char *sibling_dir, char *out, size_t len)
{
	static const char *const sbin[] = {"/usr/sbin", "/usr/local/sbin", "/sbin"};
	char buf[PATH_MAX];
	const char *env = getenv("PATH");

	if (explicit_path) {
		if (!executable(explicit_path))
			return -ENOENT;
		snprintf(out, len, "%s", explicit_path);
		return 0;
	}
	if (self_exe && sibling_dir && strlen(self_exe) < sizeof(buf)) {
		char dir[PATH_MAX], sibling[PATH_MAX];

		snprintf(buf, sizeof(buf), "%s", self_exe);
		snprintf(dir, sizeof(dir), "%s", dirname(buf));
		if ((size_t)snprintf(sibling, sizeof(sibling), "%s/../%s/%s", dir, sibling_dir,
				     name) < sizeof(sibling) &&
		    executable(sibling)) {
			snprintf(out, len, "%s", sibling);
			return 0;
		}
	}
	while (env && *env) {
		const char *colon = strchr(env, ':');
		size_t n = colon ? (size_t)(colon - env) : strlen(env);

		if (n &&
		    (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, env, name) <
			    sizeof(buf) &&
		    executable(buf)) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
		if (!colon)
			break;
		env = colon + 1;
	}
	for (size_t i = 0; i < sizeof(sbin) / sizeof(sbin[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", sbin[i], name);
		if (executable(buf)) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
	}
	return -ENOENT;
}
