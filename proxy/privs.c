// SPDX-License-Identifier: Apache-2.0
/* shunt-proxy privilege drop; see privs.h for the order of the steps. */
#include "privs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* ---- pure: USER[:GROUP] ---- */

/* A decimal id 0..2^32-2 ((uid_t)-1 means "unchanged" to the kernel). */
static bool parse_id(const char *s, size_t len, unsigned int *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v >= 0xffffffffULL)
		return false;
	*out = (unsigned int)v;
	return true;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return len > 0;
}

/* POSIX portable user names plus what Debian's adduser allows by default. */
static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > SP_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '_' || c == '.' || c == '-' || (c == '$' && i == len - 1)))
			return false;
	}
	return true;
}

static int parse_part(const char *s, size_t len, const char *what, char *name, bool *numeric,
		      unsigned int *id, char *err, size_t errlen)
{
	if (len == 0)
		return fail(err, errlen, -EINVAL, "empty %s", what);
	if (all_digits(s, len)) {
		if (!parse_id(s, len, id))
			return fail(err, errlen, -EINVAL, "%s id '%.*s' out of range", what,
				    (int)len, s);
		*numeric = true;
		name[0] = '\0';
		return 0;
	}
	if (!valid_name(s, len))
		return fail(err, errlen, -EINVAL, "bad %s name '%.*s'", what,
			    (int)(len > 64 ? 64 : len), s);
	memcpy(name, s, len);
	name[len] = '\0';
	*numeric = false;
	return 0;
}

int sp_user_spec_parse(const char *s, struct sp_user_spec *out, char *err, size_t errlen)
{
	const char *colon;
	size_t ulen;
	unsigned int id = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!s)
		return fail(err, errlen, -EINVAL, "empty user");
	colon = strchr(s, ':');
	ulen = colon ? (size_t)(colon - s) : strlen(s);
	ret = parse_part(s, ulen, "user", out->user, &out->user_numeric, &id, err, errlen);
	if (ret)
		return ret;
	out->uid = (uid_t)id;
	if (!colon)
		return 0;
	if (strchr(colon + 1, ':'))
		return fail(err, errlen, -EINVAL, "more than one ':' in '%s' (USER[:GROUP])", s);
	id = 0;
	ret = parse_part(colon + 1, strlen(colon + 1), "group", out->group, &out->group_numeric,
			 &id, err, errlen);
	if (ret)
		return ret;
	out->gid = (gid_t)id;
	out->has_group = true;
	return 0;
}

int sp_user_resolve(const struct sp_user_spec *spec, const struct sp_user_lookup *lk, uid_t *uid,
		    gid_t *gid, char *err, size_t errlen)
{
	gid_t primary = 0;

	if (spec->user_numeric) {
		*uid = spec->uid;
		if (!lk->user_by_uid || lk->user_by_uid(spec->uid, &primary, lk->ctx))
			primary = (gid_t)spec->uid; /* Istio style: 1337 -> 1337:1337 */
	} else if (!lk->user_by_name || lk->user_by_name(spec->user, uid, &primary, lk->ctx)) {
		return fail(err, errlen, -ENOENT, "unknown user '%s'", spec->user);
	}
	if (!spec->has_group) {
		*gid = primary;
		return 0;
	}
	if (spec->group_numeric) {
		*gid = spec->gid;
		return 0;
	}
	if (!lk->group_by_name || lk->group_by_name(spec->group, gid, lk->ctx))
		return fail(err, errlen, -ENOENT, "unknown group '%s'", spec->group);
	return 0;
}

/* ---- system lookups ---- */

static int sys_user_by_name(const char *name, uid_t *uid, gid_t *gid, void *ctx)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	(void)ctx;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

static int sys_user_by_uid(uid_t uid, gid_t *gid, void *ctx)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	(void)ctx;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*gid = pw.pw_gid;
	return 0;
}

static int sys_group_by_name(const char *name, gid_t *gid, void *ctx)
{
	struct group gr, *res = NULL;
	char buf[4096];

	(void)ctx;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*gid = gr.gr_gid;
	return 0;
}

const struct sp_user_lookup sp_user_lookup_system = {
	.user_by_name = sys_user_by_name,
	.user_by_uid = sys_user_by_uid,
	.group_by_name = sys_group_by_name,
};

int sp_status_cap(const char *status, const char *field, unsigned long long *val)
{
	size_t flen = strlen(field);

	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
			char *end;

			*val = strtoull(p + flen + 1, &end, 16);
			return end == p + flen + 1 ? -EINVAL : 0;
		}
	}
	return -ENOENT;
}

/* ---- syscalls ---- */

static int cap_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

static int cap_set(const struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = 40;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 40;
		fclose(f);
	}
	return n;
}

int sp_privs_prepare(bool root, char *err, size_t errlen)
{
	struct __user_cap_data_struct c[2];
	int n = last_cap(), ret;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail(err, errlen, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0))
		return fail(err, errlen, -errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
	/* EINVAL: kernel without ambient capabilities (< 4.3), nothing to clear */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return fail(err, errlen, -errno, "PR_CAP_AMBIENT_CLEAR_ALL: %s", strerror(errno));
	ret = cap_get(c);
	if (ret)
		return fail(err, errlen, ret, "capget: %s", strerror(-ret));
	/* the bounding set needs CAP_SETPCAP; without it there is nothing to keep from */
	if (c[0].effective & (1U << CAP_SETPCAP)) {
		for (int i = 0; i <= n; i++)
			if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) && errno != EINVAL)
				return fail(err, errlen, -errno, "PR_CAPBSET_DROP %d: %s", i,
					    strerror(errno));
	}
	if (root)
		return 0; /* setuid() clears the rest; binding still needs them */
	/* not root: keep at most CAP_NET_BIND_SERVICE until the listeners are bound */
	for (int i = 0; i < 2; i++) {
		uint32_t keep = i == CAP_TO_INDEX(CAP_NET_BIND_SERVICE)
					? CAP_TO_MASK(CAP_NET_BIND_SERVICE)
					: 0;

		c[i].permitted &= keep;
		c[i].effective &= keep;
		c[i].inheritable = 0;
	}
	ret = cap_set(c);
	if (ret)
		return fail(err, errlen, ret, "capset: %s", strerror(-ret));
	return 0;
}

int sp_privs_drop(bool root, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct __user_cap_data_struct c[2] = {{0}};
	int ret, pdeath = 0;

	/* the kernel clears the parent-death signal on a credential change;
	 * whoever started us asked for it (a supervisor, a test): keep it */
	if (prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0))
		pdeath = 0;
	if (root) {
		/* glibc applies each of these to every thread of the process */
		if (setgroups(1, &gid))
			return fail(err, errlen, -errno, "setgroups(%u): %s", (unsigned)gid,
				    strerror(errno));
		if (setresgid(gid, gid, gid))
			return fail(err, errlen, -errno, "setresgid(%u): %s", (unsigned)gid,
				    strerror(errno));
		if (setresuid(uid, uid, uid))
			return fail(err, errlen, -errno, "setresuid(%u): %s", (unsigned)uid,
				    strerror(errno));
		if (pdeath && prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0))
			return fail(err, errlen, -errno, "PR_SET_PDEATHSIG: %s", strerror(errno));
	}
	ret = cap_set(c);
	if (ret)
		return fail(err, errlen, ret, "capset: %s", strerror(-ret));
	return 0;
}

static int read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return 0;
}

int sp_privs_verify(bool was_root, uid_t uid, gid_t gid, char *msg, size_t msglen)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	unsigned long long v, bnd = 0;
	char path[64], status[8192];
	int threads = 0, self_tid = (int)syscall(SYS_gettid);
	struct dirent *de;
	DIR *d;

	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg))
		return fail(msg, msglen, -EPERM, "getresuid/getresgid: %s", strerror(errno));
	if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid)
		return fail(msg, msglen, -EPERM, "still uid %u/%u/%u gid %u/%u/%u, wanted %u:%u",
			    (unsigned)r, (unsigned)e, (unsigned)s, (unsigned)rg, (unsigned)eg,
			    (unsigned)sg, (unsigned)uid, (unsigned)gid);
	if (was_root && uid != 0 && setuid(0) == 0)
		return fail(msg, msglen, -EPERM, "setuid(0) succeeded after the drop");
	d = opendir("/proc/self/task");
	if (!d)
		return fail(msg, msglen, -EPERM, "/proc/self/task: %s", strerror(errno));
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
		if (read_text(path, status, sizeof(status)))
			continue; /* thread gone */
		threads++;
		static const char *const fields[] = {"CapEff", "CapPrm", "CapAmb"};

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (sp_status_cap(status, fields[i], &v) == -EINVAL) {
				closedir(d);
				return fail(msg, msglen, -EPERM, "task %d: unreadable %s", tid,
					    fields[i]);
			}
			if (sp_status_cap(status, fields[i], &v))
				continue;
			/* the workers started after the drop: none keeps any */
			if (v) {
				closedir(d);
				return fail(msg, msglen, -EPERM, "task %d: %s %llx, wanted 0", tid,
					    fields[i], v);
			}
		}
		if (tid == self_tid)
			sp_status_cap(status, "CapBnd", &bnd);
	}
	closedir(d);
	snprintf(msg, msglen,
		 "privileges: uid %u gid %u, %d supplementary group(s), capabilities: none in %d "
		 "thread(s), bounding set %s, no_new_privs %d",
		 (unsigned)uid, (unsigned)gid, getgroups(0, NULL), threads, bnd ? "kept" : "empty",
		 prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	return 0;
}
