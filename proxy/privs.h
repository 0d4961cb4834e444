/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-proxy privilege drop (--user USER[:GROUP]).
 *
 * Pure part: sp_user_spec_parse() splits and validates "USER[:GROUP]" (names
 * or numbers); sp_user_resolve() turns it into a uid/gid through lookup
 * callbacks (getpwnam/getgrnam in the binary, tables in the unit test).
 *
 * Syscall part, in this order: sp_privs_prepare() before any thread exists
 * (no_new_privs, empty bounding and ambient sets, no keep-caps: inherited by
 * every thread created later; the current privileges are untouched, so
 * listeners can still be bound), then sp_privs_drop() once every listener is
 * bound and the access log is open (setgroups/setgid/setuid, which glibc
 * applies to every thread; the kernel clears the capabilities of each thread
 * on the switch away from uid 0), then sp_privs_verify().
 */
#ifndef SHUNT_PROXY_PRIVS_H
#define SHUNT_PROXY_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SP_DEFAULT_UID 1337 /* Istio's proxy uid, shuntd --proxy-uid's default */
#define SP_DEFAULT_GID 1337
#define SP_NAME_MAX    32

struct sp_user_spec {
	char user[SP_NAME_MAX + 1]; /* name, or "" when numeric */
	char group[SP_NAME_MAX + 1];
	bool user_numeric, has_group, group_numeric;
	uid_t uid; /* when user_numeric */
	gid_t gid; /* when group_numeric */
};

/* "USER[:GROUP]": 0, or -EINVAL with a reason in err. */
int sp_user_spec_parse(const char *s, struct sp_user_spec *out, char *err, size_t errlen);

struct sp_user_lookup {
	/* name -> uid + primary gid; 0 or -ENOENT */
	int (*user_by_name)(const char *name, uid_t *uid, gid_t *gid, void *ctx);
	/* uid -> primary gid; 0 or -ENOENT (a numeric uid need not exist) */
	int (*user_by_uid)(uid_t uid, gid_t *gid, void *ctx);
	/* name -> gid; 0 or -ENOENT */
	int (*group_by_name)(const char *name, gid_t *gid, void *ctx);
	void *ctx;
};

/*
 * uid/gid for a spec. GROUP omitted: the user's primary group, or gid = uid
 * for a numeric uid without a passwd entry (1337 -> 1337:1337).
 * 0, or -ENOENT with a reason in err.
 */
int sp_user_resolve(const struct sp_user_spec *spec, const struct sp_user_lookup *lk, uid_t *uid,
		    gid_t *gid, char *err, size_t errlen);

/* Lookups through getpwnam_r/getpwuid_r/getgrnam_r. */
extern const struct sp_user_lookup sp_user_lookup_system;

/* Parse one "CapXxx:\t%llx" line of /proc/PID/status; -ENOENT if absent. */
int sp_status_cap(const char *status, const char *field, unsigned long long *val);

/* Before any thread: no_new_privs, clear ambient + bounding sets, keep-caps off.
 * Not root: also drop every capability except CAP_NET_BIND_SERVICE (needed
 * until the listeners are bound). 0 or -errno (err says which step). */
int sp_privs_prepare(bool root, char *err, size_t errlen);
/* After binding, before the worker threads start (they inherit the result):
 * root -> setgroups({gid}), setresgid, setresuid (the
 * parent-death signal, which the kernel clears on that, is set again); then
 * every capability of this thread cleared. 0 or -errno. */
int sp_privs_drop(bool root, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Check getresuid/getresgid == uid/gid, that setuid(0) fails (root case), and
 * CapEff/CapPrm/CapAmb == 0 in every /proc/self/task/ * /status. Writes a one-line
 * summary into msg. 0 or -EPERM (msg says what is wrong). */
int sp_privs_verify(bool was_root, uid_t uid, gid_t gid, char *msg, size_t msglen);

#endif
