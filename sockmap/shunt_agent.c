// SPDX-License-Identifier: Apache-2.0
#include "shunt_agent.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "map_mirror.h"

#include "connect4.skel.h"
#include "connect6.skel.h"
#include "getsockopt.skel.h"
#include "setsockopt.skel.h"
#include "sk_msg.skel.h"
#include "sockops.skel.h"

#define MAX_PINS 32

/* Interception links, in attach order (getsockopt first: a captured
 * connection is always answerable; setsockopt serves splice) and pinned under
 * these names. */
enum { ICPT_GETSOCKOPT = 0, ICPT_SETSOCKOPT, ICPT_CONNECT4, ICPT_CONNECT6, ICPT__N };
static const char *const icpt_pin[ICPT__N] = {SHUNT_PIN_LINK_GETSOCKOPT, SHUNT_PIN_LINK_SETSOCKOPT,
					      SHUNT_PIN_LINK_CONNECT4, SHUNT_PIN_LINK_CONNECT6};

struct shunt_agent {
	struct sockops *so;
	struct sk_msg *sm;
	struct bpf_link *link; /* sockops -> cgroup */
	struct connect4 *c4;   /* interception (only when shunt_opts_intercept()) */
	struct connect6 *c6;
	struct getsockopt *gs;
	struct setsockopt *ss;
	struct bpf_link *icpt_links[ICPT__N];
	bool icpt;
	int cgroup_fd;
	int agent_fd; /* shunt_agent map, created here */
	bool sk_msg_attached;
	bool made_pin_dir, made_ver_dir;
	bool adopted_dirs; /* replaced a previous agent: its directories are ours now */
	char pin_dir[PATH_MAX];
	char ver_dir[PATH_MAX];
	char pins[MAX_PINS][PATH_MAX]; /* what we pinned, to unpin */
	int n_pins;
	/* what we last wrote to the identity and L4 policy maps: later syncs
	 * write only what changed */
	struct shunt_mirror mir_l4, mir_cg, mir_addr;
	struct shunt_mirror_stats last_sync;
};

/* State pinned by an earlier agent, being replaced. */
struct old_state {
	int config, link, prog, sockhash;
	int icpt[ICPT__N]; /* interception links (-1: none) */
};

/* ---------------------------------------------------------------- checks */

int shunt_cgroup2_root(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/self/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(buf, len, "%s", m->mnt_dir);
			err = 0;
			break;
		}
	}
	endmntent(f);
	return err;
}

/* statfs of path, or of its nearest existing ancestor. */
static int statfs_existing(const char *path, struct statfs *st)
{
	char p[PATH_MAX];
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		if (statfs(p, st) == 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(p, '/');
		if (!slash)
			return -ENOENT;
		if (slash == p) {
			p[1] = '\0';
			return statfs(p, st) ? -errno : 0;
		}
		*slash = '\0';
	}
}

int shunt_preflight(const char *cgroup_path, const char *pin_dir, char *msg, size_t len)
{
	struct statfs st;

	if (geteuid() != 0) {
		snprintf(msg, len,
			 "must run as root (needs CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)");
		return -EPERM;
	}
	if (statfs(cgroup_path, &st) || st.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(msg, len,
			 "%s is not a cgroup v2 directory (mount cgroup2, e.g. "
			 "'mount -t cgroup2 none /sys/fs/cgroup', and pass --cgroup)",
			 cgroup_path);
		return -ENOTDIR;
	}
	if (statfs_existing(pin_dir, &st) || st.f_type != BPF_FS_MAGIC) {
		snprintf(msg, len,
			 "%s is not on a bpffs mount (mount it: 'mount -t bpf bpf /sys/fs/bpf')",
			 pin_dir);
		return -ENOENT;
	}
	return 0;
}

int shunt_probe_kernel(char *msg, size_t len)
{
	static const struct {
		enum bpf_prog_type type;
		const char *name;
	} progs[] = {
		{BPF_PROG_TYPE_SOCK_OPS, "BPF_PROG_TYPE_SOCK_OPS"},
		{BPF_PROG_TYPE_SK_MSG, "BPF_PROG_TYPE_SK_MSG"},
	};
	static const struct {
		enum bpf_map_type type;
		const char *name;
	} maps[] = {
		{BPF_MAP_TYPE_SOCKHASH, "BPF_MAP_TYPE_SOCKHASH"},
		{BPF_MAP_TYPE_SK_STORAGE, "BPF_MAP_TYPE_SK_STORAGE"},
		{BPF_MAP_TYPE_LPM_TRIE, "BPF_MAP_TYPE_LPM_TRIE"},
		{BPF_MAP_TYPE_PERCPU_ARRAY, "BPF_MAP_TYPE_PERCPU_ARRAY"},
	};
	static const struct {
		enum bpf_prog_type type;
		enum bpf_func_id id;
		const char *name;
	} helpers[] = {
		{BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_hash_update, "sock_hash_update in sockops"},
		{BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_netns_cookie, "get_netns_cookie in sockops"},
		{BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sk_storage_get, "sk_storage_get in sockops"},
		{BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_sock_ops_cb_flags_set,
		 "sock_ops_cb_flags_set in sockops"},
		{BPF_PROG_TYPE_SK_MSG, BPF_FUNC_msg_redirect_hash, "msg_redirect_hash in sk_msg"},
		{BPF_PROG_TYPE_SK_MSG, BPF_FUNC_sk_storage_get, "sk_storage_get in sk_msg"},
	};
	size_t i, off = 0;
	int missing = 0;

	msg[0] = '\0';
	/* Without the right to call bpf() every probe below fails: say that instead
	 * of blaming the kernel (a container without CAP_BPF or under a seccomp
	 * profile that filters bpf(), a non-init user namespace). */
	{
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);

		if (fd >= 0)
			close(fd);
		else if (errno == EPERM || errno == EACCES) {
			snprintf(msg, len,
				 "bpf() is not permitted here (%s): shuntd needs CAP_BPF, "
				 "CAP_NET_ADMIN and CAP_SYS_ADMIN (or root) and no seccomp "
				 "profile that filters bpf(); in a container run it privileged "
				 "or with those capabilities",
				 strerror(errno));
			return -EPERM;
		}
	}
#define MISSING(fmt, ...)                                                          \
	do {                                                                       \
		if (off < len)                                                     \
			off += (size_t)snprintf(msg + off, len - off, "%s" fmt,    \
						missing ? ", " : "", __VA_ARGS__); \
		missing++;                                                         \
	} while (0)
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (libbpf_probe_bpf_prog_type(progs[i].type, NULL) != 1)
			MISSING("program type %s", progs[i].name);
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (libbpf_probe_bpf_map_type(maps[i].type, NULL) != 1)
			MISSING("map type %s", maps[i].name);
	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (libbpf_probe_bpf_helper(helpers[i].type, helpers[i].id, NULL) != 1)
			MISSING("helper %s", helpers[i].name);
#undef MISSING
	return missing ? -EOPNOTSUPP : 0;
}

/* ------------------------------------------------------- previous state */

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int obj_get(const char *dir, const char *name)
{
	char p[PATH_MAX];

	if (pin_path(p, sizeof(p), dir, name))
		return -ENAMETOOLONG;
	return bpf_obj_get(p); /* -1 with errno, libbpf 1.x returns -errno */
}

static void old_state_close(struct old_state *o)
{
	if (o->config >= 0)
		close(o->config);
	if (o->link >= 0)
		close(o->link);
	if (o->prog >= 0)
		close(o->prog);
	if (o->sockhash >= 0)
		close(o->sockhash);
	o->config = o->link = o->prog = o->sockhash = -1;
	for (int i = 0; i < ICPT__N; i++) {
		if (o->icpt[i] >= 0)
			close(o->icpt[i]);
		o->icpt[i] = -1;
	}
}

/* Returns 1 when old pinned state exists (fds opened), 0 when none. */
static int old_state_open(const char *ver_dir, struct old_state *o)
{
	o->config = obj_get(ver_dir, "shunt_config");
	o->link = obj_get(ver_dir, SHUNT_PIN_LINK_SOCKOPS);
	o->prog = obj_get(ver_dir, SHUNT_PIN_PROG_SK_MSG);
	o->sockhash = obj_get(ver_dir, "shunt_sockhash");
	if (o->config < 0)
		o->config = -1;
	if (o->link < 0)
		o->link = -1;
	if (o->prog < 0)
		o->prog = -1;
	if (o->sockhash < 0)
		o->sockhash = -1;
	for (int i = 0; i < ICPT__N; i++) {
		o->icpt[i] = obj_get(ver_dir, icpt_pin[i]);
		if (o->icpt[i] < 0)
			o->icpt[i] = -1;
	}
	return o->config >= 0 || o->link >= 0 || o->prog >= 0 || o->sockhash >= 0;
}

/* Unlink every pin in our versioned directory (all of them are shunt's). */
static void unpin_dir(const char *ver_dir)
{
	DIR *d = opendir(ver_dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (pin_path(p, sizeof(p), ver_dir, e->d_name) == 0 && unlink(p))
			fprintf(stderr, "shuntd: failed to unpin %s: %s\n", p, strerror(errno));
	}
	closedir(d);
}

/* Old connections fall back to TCP at their next send, and the old sockops
 * program inserts nothing new (so no socket is offered to both agents). */
static void old_state_drain(struct old_state *o)
{
	struct shunt_dp_config cfg;
	__u32 zero = 0;

	if (o->config >= 0 && bpf_map_lookup_elem(o->config, &zero, &cfg) == 0) {
		cfg.mode = SHUNT_MODE_DRAIN;
		if (bpf_map_update_elem(o->config, &zero, &cfg, BPF_ANY))
			fprintf(stderr, "shuntd: failed to drain previous state: %s\n",
				strerror(errno));
	}
}

/* Old sockops detached, old pins removed. */
static void old_state_remove(struct old_state *o, const char *ver_dir)
{
	for (int i = ICPT__N - 1; i >= 0; i--)
		if (o->icpt[i] >= 0 && bpf_link_detach(o->icpt[i]))
			fprintf(stderr, "shuntd: failed to detach previous %s: %s\n", icpt_pin[i],
				strerror(errno));
	if (o->link >= 0 && bpf_link_detach(o->link))
		fprintf(stderr, "shuntd: failed to detach previous sockops link: %s\n",
			strerror(errno));
	if (o->prog >= 0 && o->sockhash >= 0)
		bpf_prog_detach2(o->prog, o->sockhash, BPF_SK_MSG_VERDICT);
	unpin_dir(ver_dir);
	old_state_close(o);
}

/* ------------------------------------------------------------ start/stop */

static int mkdir_record(const char *path, bool *made)
{
	if (mkdir(path, 0700) == 0) {
		*made = true;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

static int record_pin(struct shunt_agent *a, const char *name, char **path_out)
{
	if (a->n_pins >= MAX_PINS)
		return -E2BIG;
	if (pin_path(a->pins[a->n_pins], PATH_MAX, a->ver_dir, name))
		return -ENAMETOOLONG;
	*path_out = a->pins[a->n_pins];
	return 0;
}

static int pin_maps(struct shunt_agent *a)
{
	struct bpf_map *m;
	char *path;
	int err;

	bpf_object__for_each_map (m, a->so->obj) {
		if (bpf_map__is_internal(m))
			continue;
		err = record_pin(a, bpf_map__name(m), &path);
		if (err)
			return err;
		err = bpf_map__pin(m, path);
		if (err) {
			fprintf(stderr, "shuntd: failed to pin map %s: %s\n", path, strerror(-err));
			return err;
		}
		a->n_pins++;
	}
	return 0;
}

static int fill_maps(struct shunt_agent *a, const struct shunt_opts *o)
{
	struct shunt_dp_config cfg = {
		.mode = SHUNT_MODE_ON,
		.small_writes = o->small_writes,
		.flags = o->n_include ? SHUNT_CFG_HAS_INCLUDE : 0,
		.small_min_run = o->small_min_run,
		.small_max_avg = o->small_max_avg,
		.small_max_avg_pod = o->small_max_avg_pod,
	};
	int cfg_fd = bpf_map__fd(a->so->maps.shunt_config);
	int cidr_fd = bpf_map__fd(a->so->maps.shunt_cidrs);
	int port_fd = bpf_map__fd(a->so->maps.shunt_ports);
	__u32 zero = 0, v;
	size_t i;

	for (i = 0; i < o->n_exclude_ports; i++) {
		v = 1;
		if (bpf_map_update_elem(port_fd, &o->exclude_ports[i], &v, BPF_ANY))
			return -errno;
	}
	for (i = 0; i < o->n_include; i++) {
		v = SHUNT_CIDR_INCLUDE;
		if (bpf_map_update_elem(cidr_fd, &o->include[i].key, &v, BPF_ANY))
			return -errno;
	}
	for (i = 0; i < o->n_exclude; i++) {
		v = SHUNT_CIDR_EXCLUDE;
		if (bpf_map_update_elem(cidr_fd, &o->exclude[i].key, &v, BPF_ANY))
			return -errno;
	}
	if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

/* Delete policy entries the options do not name (after fill_maps, so the
 * wanted ones are never missing, not even briefly). */
static int prune_maps(struct shunt_agent *a, const struct shunt_opts *o)
{
	int cidr_fd = bpf_map__fd(a->so->maps.shunt_cidrs);
	int port_fd = bpf_map__fd(a->so->maps.shunt_ports);
	struct shunt_cidr_key *ck = calloc(SHUNT_MAX_CIDRS, sizeof(*ck));
	__u16 *pk = calloc(SHUNT_MAX_PORTS, sizeof(*pk));
	size_t n, i, j;
	int err = 0;

	if (!ck || !pk) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (n = 0; n < SHUNT_MAX_PORTS &&
		    bpf_map_get_next_key(port_fd, n ? &pk[n - 1] : NULL, &pk[n]) == 0;
	     n++)
		;
	for (i = 0; i < n; i++) {
		bool want = false;

		for (j = 0; j < o->n_exclude_ports && !want; j++)
			want = o->exclude_ports[j] == pk[i];
		if (!want)
			bpf_map_delete_elem(port_fd, &pk[i]);
	}
	for (n = 0; n < SHUNT_MAX_CIDRS &&
		    bpf_map_get_next_key(cidr_fd, n ? &ck[n - 1] : NULL, &ck[n]) == 0;
	     n++)
		;
	for (i = 0; i < n; i++) {
		bool want = false;

		for (j = 0; j < o->n_include && !want; j++)
			want = !memcmp(&o->include[j].key, &ck[i], sizeof(ck[i]));
		for (j = 0; j < o->n_exclude && !want; j++)
			want = !memcmp(&o->exclude[j].key, &ck[i], sizeof(ck[i]));
		if (!want)
			bpf_map_delete_elem(cidr_fd, &ck[i]);
	}
cleanup:
	free(ck);
	free(pk);
	return err;
}

#define SYNC_WRITE 1u /* write the new and changed records */
#define SYNC_PRUNE 2u /* delete every key not among the records */
#define SYNC_ALL   (SYNC_WRITE | SYNC_PRUNE)

struct mirror_io {
	int fd;
	const struct shunt_mirror *m;
};

static int mirror_write_cb(void *ctx, const void *rec)
{
	const struct mirror_io *io = ctx;

	if (bpf_map_update_elem(io->fd, rec, (const char *)rec + io->m->val_off, BPF_ANY))
		return -errno;
	return 0;
}

static int mirror_del_cb(void *ctx, const void *key)
{
	const struct mirror_io *io = ctx;

	if (bpf_map_delete_elem(io->fd, key) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Delete every key of map fd that is not among m's staged records (the map's
 * content is unknown: first sync, adopted maps, after an error). */
static int prune_unstaged(int fd, const struct shunt_mirror *m, struct shunt_mirror_stats *st)
{
	char *cur = malloc(m->key_size), *keys = malloc(m->key_size), *prev = NULL;
	int err = 0;

	if (!cur || !keys) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* deleting while iterating restarts the walk at the first key */
	while (bpf_map_get_next_key(fd, prev, cur) == 0) {
		if (!shunt_mirror_staged_has(m, cur) && bpf_map_delete_elem(fd, cur) == 0) {
			st->deleted++;
			prev = NULL;
			continue;
		}
		memcpy(keys, cur, m->key_size);
		prev = keys;
	}
cleanup:
	free(cur);
	free(keys);
	return err;
}

/*
 * Make map fd hold exactly the n (key, value) records of recs (layout in m:
 * key first, value at val_off). The write phase stages the records and writes
 * those that are new or changed (all of them when the map's content is
 * unknown); the prune phase deletes the keys that went away and makes the
 * staged records the mirror. New values are written before stale keys are
 * deleted, so no wanted entry is ever missing; `what` selects the phases (a
 * caller may order them across maps). Any error leaves the mirror invalid, so
 * the next sync rewrites the whole map.
 */
static int sync_mirrored(int fd, struct shunt_mirror *m, const void *recs, size_t n,
			 unsigned int what, struct shunt_mirror_stats *st)
{
	struct mirror_io io = {fd, m};
	int err = 0;

	if (what & SYNC_WRITE) {
		err = shunt_mirror_stage(m, recs, n);
		if (!err)
			err = shunt_mirror_write(m, mirror_write_cb, &io, st);
		if (err)
			goto fail;
	}
	if (!(what & SYNC_PRUNE))
		return 0;
	if (m->valid)
		return shunt_mirror_prune(m, mirror_del_cb, &io, st);
	err = prune_unstaged(fd, m, st);
	if (err)
		goto fail;
	shunt_mirror_commit(m);
	return 0;
fail:
	shunt_mirror_invalidate(m);
	return err;
}

/* sync_mirrored() of every phase for a map shuntd does not mirror (small
 * ones): every record is written, then the unwanted keys are deleted. */
static int sync_map(int fd, const void *recs, size_t n, size_t stride, size_t key_size,
		    size_t val_off)
{
	struct shunt_mirror m;
	struct shunt_mirror_stats st = {0};
	int err;

	shunt_mirror_init(&m, stride, key_size, val_off, 0);
	err = sync_mirrored(fd, &m, recs, n, SYNC_ALL, &st);
	shunt_mirror_free(&m);
	return err;
}

/* Outbound capture ranges: the global ones (options) and the workloads' own. */
static int fill_out_cidrs(struct shunt_agent *a, const struct shunt_opts *o,
			  const struct shunt_icpt_tables *t)
{
	struct shunt_icpt_out_cidr *v =
		calloc(2 * SHUNT_OPTS_MAX_LIST + 1 + t->n_out_cidr, sizeof(*v));
	size_t n;
	int err;

	if (!v)
		return -ENOMEM;
	n = shunt_out_cidrs_global(o, v);
	if (t->n_out_cidr)
		memcpy(v + n, t->out_cidr, t->n_out_cidr * sizeof(*v));
	n = shunt_out_cidrs_close(v, n + t->n_out_cidr);
	err = sync_map(bpf_map__fd(a->so->maps.shunt_out_cidrs), v, n, sizeof(*v),
		       sizeof(struct shunt_out_cidr_key),
		       offsetof(struct shunt_icpt_out_cidr, flags));
	free(v);
	return err;
}

/* Interception maps: capture config, port exclusions, identities, L4 policy. */
static int fill_icpt(struct shunt_agent *a, const struct shunt_opts *o)
{
	static const struct shunt_icpt_tables none;
	const struct shunt_icpt_tables *t = o->tables ? o->tables : &none;
	struct shunt_capture_cfg cfg;
	struct {
		__u16 port;
		__u16 pad;
		__u32 flags;
	} ports[3 * SHUNT_OPTS_MAX_LIST + SHUNT_ISTIO_N_EXCLUDED];
	struct shunt_icpt_cg *cg = NULL;
	size_t np = 0, ncg = 0, i;
	__u32 zero = 0;
	int err;

	/* ports: every port named anywhere, with its flags */
	for (i = 0; i < SHUNT_ISTIO_N_EXCLUDED + o->n_excl_out + o->n_excl_in + o->n_incl_out;
	     i++) {
		size_t k = i - SHUNT_ISTIO_N_EXCLUDED;
		__u16 p = i < SHUNT_ISTIO_N_EXCLUDED ? shunt_istio_excluded_ports[i]
			  : k < o->n_excl_out	     ? o->excl_out[k]
			  : k < o->n_excl_out + o->n_excl_in
				  ? o->excl_in[k - o->n_excl_out]
				  : o->incl_out[k - o->n_excl_out - o->n_excl_in];
		__u32 f = shunt_icpt_port_flags(o, p);
		size_t j;

		for (j = 0; j < np && ports[j].port != p; j++)
			;
		if (!f || j < np)
			continue;
		ports[np].port = p;
		ports[np].pad = 0;
		ports[np].flags = f;
		np++;
	}
	err = sync_map(bpf_map__fd(a->so->maps.shunt_icpt_ports), ports, np, sizeof(ports[0]),
		       sizeof(__u16), offsetof(typeof(ports[0]), flags));
	if (err)
		return err;
	/* cgroups: the workloads' (from the config) plus the proxy cgroups */
	cg = calloc(t->n_cg + o->n_proxy_cgroups + 1, sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	for (i = 0; i < t->n_cg; i++)
		cg[ncg++] = t->cg[i];
	for (i = 0; i < o->n_proxy_cgroups; i++) {
		struct stat st;
		size_t j;

		if (stat(o->proxy_cgroups[i], &st)) {
			err = -errno;
			fprintf(stderr, "shuntd: --proxy-cgroup %s: %s\n", o->proxy_cgroups[i],
				strerror(-err));
			goto cleanup;
		}
		for (j = 0; j < ncg && cg[j].cgroup_id != st.st_ino; j++)
			;
		if (j == ncg) {
			cg[ncg].cgroup_id = st.st_ino; /* cgroup v2 id == inode number */
			ncg++;
		}
		cg[j].v.flags |= SHUNT_IDENT_PROXY;
	}
	/* Order for identities that come and go (registered pods keep their
	 * identity number while registered): the L4 entries of a new identity
	 * exist before any cgroup or address maps to it, and those of a removed
	 * one are deleted only after nothing maps to it any more. */
	a->last_sync = (struct shunt_mirror_stats){0};
	err = sync_mirrored(bpf_map__fd(a->so->maps.shunt_l4), &a->mir_l4, t->l4, t->n_l4,
			    SYNC_WRITE, &a->last_sync);
	if (!err)
		err = sync_mirrored(bpf_map__fd(a->so->maps.shunt_cg_ident), &a->mir_cg, cg, ncg,
				    SYNC_ALL, &a->last_sync);
	if (!err)
		err = sync_mirrored(bpf_map__fd(a->so->maps.shunt_addr_ident), &a->mir_addr,
				    t->addr, t->n_addr, SYNC_ALL, &a->last_sync);
	if (!err)
		err = sync_mirrored(bpf_map__fd(a->so->maps.shunt_l4), &a->mir_l4, t->l4, t->n_l4,
				    SYNC_PRUNE, &a->last_sync);
	if (!err)
		err = sync_map(bpf_map__fd(a->so->maps.shunt_icpt_wports), t->wport, t->n_wport,
			       sizeof(*t->wport), sizeof(struct shunt_wport_key),
			       offsetof(struct shunt_icpt_wport, flags));
	if (!err)
		err = fill_out_cidrs(a, o, t);
	if (err)
		goto cleanup;
	/* last: the mode that makes the programs use the tables */
	shunt_capture_cfg_from_opts(o, &cfg);
	if (bpf_map_update_elem(bpf_map__fd(a->so->maps.shunt_capture), &zero, &cfg, BPF_ANY))
		err = -errno;
cleanup:
	if (err) { /* a phase may have written part of a map: sync it all next time */
		shunt_mirror_invalidate(&a->mir_l4);
		shunt_mirror_invalidate(&a->mir_cg);
		shunt_mirror_invalidate(&a->mir_addr);
	}
	free(cg);
	return err;
}

int shunt_agent_set_policy(struct shunt_agent *a, const struct shunt_opts *o)
{
	int err = fill_maps(a, o);

	if (!err)
		err = prune_maps(a, o);
	if (!err)
		err = fill_icpt(a, o);
	return err;
}

bool shunt_agent_intercepting(const struct shunt_agent *a)
{
	return a->icpt;
}

void shunt_agent_last_sync(const struct shunt_agent *a, size_t *written, size_t *deleted)
{
	*written = a->last_sync.written;
	*deleted = a->last_sync.deleted;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int write_agent_info_fd(struct shunt_agent *a, const struct shunt_opts *o,
			       const char *cgroup)
{
	struct shunt_agent_info info = {};
	struct bpf_link_info li = {};
	__u32 lilen = sizeof(li), zero = 0;
	struct stat st;
	size_t n;

	info.pid = (__u32)getpid();
	info.small_writes = o->small_writes;
	info.started_unix = (__u64)time(NULL);
	if (stat(cgroup, &st) == 0)
		info.cgroup_id = st.st_ino; /* cgroup v2 id == inode number */
	n = strlen(cgroup);
	if (n >= sizeof(info.cgroup))
		n = sizeof(info.cgroup) - 1; /* display only: truncation is harmless */
	memcpy(info.cgroup, cgroup, n);
	info.sockops_prog_id = prog_id(bpf_program__fd(a->so->progs.shunt_sockops));
	info.sk_msg_prog_id = prog_id(bpf_program__fd(a->sm->progs.shunt_sk_msg));
	if (bpf_obj_get_info_by_fd(bpf_link__fd(a->link), &li, &lilen) == 0)
		info.sockops_link_id = li.id;
	if (bpf_map_update_elem(a->agent_fd, &zero, &info, BPF_ANY))
		return -errno;
	return 0;
}

static int write_agent_info(struct shunt_agent *a, const struct shunt_opts *o, const char *cgroup)
{
	a->agent_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, SHUNT_PIN_AGENT_MAP, sizeof(__u32),
				     sizeof(struct shunt_agent_info), 1, NULL);
	if (a->agent_fd < 0)
		return a->agent_fd;
	return write_agent_info_fd(a, o, cgroup);
}

static int pin_fd_record(struct shunt_agent *a, int fd, const char *name)
{
	char *path;
	int err = record_pin(a, name, &path);

	if (err)
		return err;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		fprintf(stderr, "shuntd: failed to pin %s: %s\n", path, strerror(-err));
		return err;
	}
	a->n_pins++;
	return 0;
}

/* Record a pin a previous agent made and we now own (adoption). */
static int record_existing(struct shunt_agent *a, const char *name)
{
	char *path;
	int err = record_pin(a, name, &path);

	if (err)
		return err;
	if (access(path, F_OK))
		return -errno;
	a->n_pins++;
	return 0;
}

/* Is pid a running shuntd (not a recycled pid of something else)? */
static bool shuntd_alive(pid_t pid)
{
	char path[64], comm[32] = {0};
	FILE *f;
	bool alive = false;

	if (pid <= 0 || pid == getpid() || kill(pid, 0))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true; /* cannot tell: be safe */
	if (fgets(comm, sizeof(comm), f))
		alive = !strncmp(comm, "shuntd", 6);
	fclose(f);
	return alive;
}

/* Read the agent record pinned by a previous shuntd. */
static int old_agent_info(const char *ver_dir, struct shunt_agent_info *info)
{
	__u32 zero = 0;
	int fd = obj_get(ver_dir, SHUNT_PIN_AGENT_MAP), err = 0;

	if (fd < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd, &zero, info))
		err = -errno;
	close(fd);
	return err;
}

/* One set of maps: hand the sockops object's maps to obj by name. */
static int reuse_maps(struct shunt_agent *a, struct bpf_object *obj)
{
	struct bpf_map *m;
	int err;

	bpf_object__for_each_map (m, obj) {
		struct bpf_map *src;

		if (bpf_map__is_internal(m))
			continue;
		src = bpf_object__find_map_by_name(a->so->obj, bpf_map__name(m));
		if (!src) {
			fprintf(stderr, "shuntd: map %s missing in sockops object\n",
				bpf_map__name(m));
			return -ENOENT;
		}
		err = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (err)
			return err;
	}
	return 0;
}

/* Open both skeletons; with adopt, the maps are the pinned ones of a previous
 * agent (same layout version). Loads nothing on failure paths it cannot undo. */
static int open_and_load(struct shunt_agent *a, bool adopt)
{
	struct bpf_map *m;
	int err;

	a->so = sockops__open();
	if (!a->so)
		return -errno;
	if (adopt) {
		bpf_object__for_each_map (m, a->so->obj) {
			int fd;

			if (bpf_map__is_internal(m))
				continue;
			fd = obj_get(a->ver_dir, bpf_map__name(m));
			if (fd < 0)
				return -ENOENT;
			err = bpf_map__reuse_fd(m, fd);
			close(fd);
			if (err)
				return err;
		}
	}
	err = sockops__load(a->so);
	if (err)
		return err;
	a->sm = sk_msg__open();
	if (!a->sm)
		return -errno;
	err = reuse_maps(a, a->sm->obj);
	if (!err)
		err = sk_msg__load(a->sm);
	if (err || !a->icpt)
		return err;
	a->c4 = connect4__open();
	a->c6 = connect6__open();
	a->gs = getsockopt__open();
	a->ss = setsockopt__open();
	if (!a->c4 || !a->c6 || !a->gs || !a->ss)
		return -errno ? -errno : -ENOMEM;
	err = reuse_maps(a, a->c4->obj);
	if (!err)
		err = connect4__load(a->c4);
	if (!err)
		err = reuse_maps(a, a->c6->obj);
	if (!err)
		err = connect6__load(a->c6);
	if (!err)
		err = reuse_maps(a, a->gs->obj);
	if (!err)
		err = getsockopt__load(a->gs);
	if (!err)
		err = reuse_maps(a, a->ss->obj);
	if (!err)
		err = setsockopt__load(a->ss);
	return err;
}

static void icpt_destroy(struct shunt_agent *a)
{
	connect4__destroy(a->c4);
	connect6__destroy(a->c6);
	getsockopt__destroy(a->gs);
	setsockopt__destroy(a->ss);
	a->c4 = NULL;
	a->c6 = NULL;
	a->gs = NULL;
	a->ss = NULL;
}

static struct bpf_program *icpt_prog(struct shunt_agent *a, int i)
{
	switch (i) {
	case ICPT_GETSOCKOPT:
		return a->gs->progs.shunt_getsockopt;
	case ICPT_SETSOCKOPT:
		return a->ss->progs.shunt_setsockopt;
	case ICPT_CONNECT4:
		return a->c4->progs.shunt_connect4;
	default:
		return a->c6->progs.shunt_connect6;
	}
}

/* Attach the interception programs (bpf_link: multi-attach) and pin the links. */
static int icpt_attach(struct shunt_agent *a, const char *cgroup)
{
	int i, err;

	for (i = 0; i < ICPT__N; i++) {
		if (a->icpt_links[i])
			continue; /* adopted */
		a->icpt_links[i] = bpf_program__attach_cgroup(icpt_prog(a, i), a->cgroup_fd);
		if (!a->icpt_links[i]) {
			err = -errno;
			fprintf(stderr, "shuntd: failed to attach %s to %s: %s\n", icpt_pin[i],
				cgroup, strerror(-err));
			return err;
		}
		err = pin_fd_record(a, bpf_link__fd(a->icpt_links[i]), icpt_pin[i]);
		if (err)
			return err;
	}
	return 0;
}

static void agent_free(struct shunt_agent *a)
{
	int i;

	for (i = a->n_pins - 1; i >= 0; i--)
		if (unlink(a->pins[i]) && errno != ENOENT)
			fprintf(stderr, "shuntd: failed to unpin %s: %s\n", a->pins[i],
				strerror(errno));
	a->n_pins = 0;
	/* interception first: no new capture while the rest goes away */
	for (i = ICPT__N - 1; i >= 0; i--) {
		if (!a->icpt_links[i])
			continue;
		bpf_link__detach(a->icpt_links[i]);
		bpf_link__destroy(a->icpt_links[i]);
	}
	if (a->link) {
		bpf_link__detach(a->link);
		bpf_link__destroy(a->link);
	}
	if (a->sk_msg_attached)
		bpf_prog_detach2(bpf_program__fd(a->sm->progs.shunt_sk_msg),
				 bpf_map__fd(a->so->maps.shunt_sockhash), BPF_SK_MSG_VERDICT);
	if (a->agent_fd >= 0)
		close(a->agent_fd);
	if (a->cgroup_fd >= 0)
		close(a->cgroup_fd);
	icpt_destroy(a);
	sk_msg__destroy(a->sm);
	sockops__destroy(a->so);
	/* the versioned dir holds only shunt's pins (ours, or a replaced agent's,
	 * whose directories we adopted); both go when empty */
	if (a->made_ver_dir || a->adopted_dirs)
		rmdir(a->ver_dir);
	if (a->made_pin_dir || a->adopted_dirs)
		rmdir(a->pin_dir);
	shunt_mirror_free(&a->mir_l4);
	shunt_mirror_free(&a->mir_cg);
	shunt_mirror_free(&a->mir_addr);
	free(a);
}

/* Attach the sk_msg verdict program to shunt's sockhash (recorded for undo). */
static int attach_sk_msg(struct shunt_agent *a)
{
	if (bpf_prog_attach(bpf_program__fd(a->sm->progs.shunt_sk_msg),
			    bpf_map__fd(a->so->maps.shunt_sockhash), BPF_SK_MSG_VERDICT, 0)) {
		int err = -errno;

		fprintf(stderr, "shuntd: failed to attach sk_msg to sockhash: %s\n",
			strerror(-err));
		return err;
	}
	a->sk_msg_attached = true;
	return 0;
}

/*
 * Adoption: the previous agent's maps (already reused by the skeletons), link
 * and pins become ours. Its connections stay accelerated: the new sk_msg
 * program serves sockets inserted from now on, older ones keep the old
 * program, which uses the same maps. The cgroup link switches atomically to
 * the new sockops program (bpf_link_update).
 */
static int adopt_finish(struct shunt_agent *a, const struct shunt_opts *o, const char *cgroup,
			struct old_state *old)
{
	struct bpf_map *m;
	char path[PATH_MAX];
	int err;

	err = attach_sk_msg(a);
	if (err)
		return err;
	if (pin_path(path, sizeof(path), a->ver_dir, SHUNT_PIN_LINK_SOCKOPS))
		return -ENAMETOOLONG;
	a->link = bpf_link__open(path);
	if (!a->link) {
		err = -errno;
		fprintf(stderr, "shuntd: failed to open pinned link %s: %s\n", path,
			strerror(-err));
		return err;
	}
	err = bpf_link__update_program(a->link, a->so->progs.shunt_sockops);
	if (err) {
		fprintf(stderr, "shuntd: failed to update the sockops link: %s\n", strerror(-err));
		return err;
	}
	a->adopted_dirs = true;
	/* the pins are ours now; the old program pin is replaced by ours */
	bpf_object__for_each_map (m, a->so->obj) {
		if (bpf_map__is_internal(m))
			continue;
		err = record_existing(a, bpf_map__name(m));
		if (err)
			return err;
	}
	err = record_existing(a, SHUNT_PIN_LINK_SOCKOPS);
	if (err)
		return err;
	if (pin_path(path, sizeof(path), a->ver_dir, SHUNT_PIN_PROG_SK_MSG))
		return -ENAMETOOLONG;
	unlink(path);
	err = pin_fd_record(a, bpf_program__fd(a->sm->progs.shunt_sk_msg), SHUNT_PIN_PROG_SK_MSG);
	if (err)
		return err;
	/* agent record: rewrite in place (create it if the old one is missing) */
	a->agent_fd = obj_get(a->ver_dir, SHUNT_PIN_AGENT_MAP);
	if (a->agent_fd >= 0) {
		err = record_existing(a, SHUNT_PIN_AGENT_MAP);
		if (!err)
			err = write_agent_info_fd(a, o, cgroup);
	} else {
		a->agent_fd = -1;
		err = write_agent_info(a, o, cgroup);
		if (!err)
			err = pin_fd_record(a, a->agent_fd, SHUNT_PIN_AGENT_MAP);
	}
	/* interception links: switch adopted ones to our programs, drop unwanted ones */
	for (int i = 0; !err && i < ICPT__N; i++) {
		if (old->icpt[i] < 0)
			continue;
		if (pin_path(path, sizeof(path), a->ver_dir, icpt_pin[i]))
			return -ENAMETOOLONG;
		if (!a->icpt) {
			bpf_link_detach(old->icpt[i]);
			unlink(path);
			continue;
		}
		a->icpt_links[i] = bpf_link__open(path);
		if (!a->icpt_links[i]) {
			err = -errno;
			break;
		}
		err = bpf_link__update_program(a->icpt_links[i], icpt_prog(a, i));
		if (!err)
			err = record_existing(a, icpt_pin[i]);
	}
	if (!err && a->icpt)
		err = icpt_attach(a, cgroup);
	old_state_close(old);
	if (!err)
		fprintf(stderr,
			"shuntd: adopted the pinned state of a previous shuntd in %s "
			"(its connections stay accelerated)\n",
			a->ver_dir);
	return err;
}

int shunt_agent_start(const struct shunt_opts *o, struct shunt_agent **out)
{
	struct old_state old = {-1, -1, -1, -1, {-1, -1, -1, -1}};
	struct shunt_agent_info oldinfo = {0};
	struct shunt_agent *a;
	char cgroot[PATH_MAX];
	const char *cgroup = o->cgroup;
	bool adopt = false;
	int err, have_old;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	shunt_mirror_init(&a->mir_l4, sizeof(struct shunt_icpt_l4), sizeof(struct shunt_l4_key),
			  offsetof(struct shunt_icpt_l4, verdict), sizeof(__u32));
	shunt_mirror_init(&a->mir_cg, sizeof(struct shunt_icpt_cg), sizeof(__u64),
			  offsetof(struct shunt_icpt_cg, v), sizeof(struct shunt_ident));
	shunt_mirror_init(&a->mir_addr, sizeof(struct shunt_icpt_addr),
			  sizeof(struct shunt_cidr_key), offsetof(struct shunt_icpt_addr, v),
			  sizeof(struct shunt_ident));
	a->cgroup_fd = -1;
	a->agent_fd = -1;
	a->icpt = shunt_opts_intercept(o);
	if (!cgroup) {
		err = shunt_cgroup2_root(cgroot, sizeof(cgroot));
		if (err) {
			fprintf(stderr, "shuntd: failed to find the cgroup v2 mount: %s\n",
				strerror(-err));
			goto cleanup;
		}
		cgroup = cgroot;
	}
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s", o->pin_dir);
	if (pin_path(a->ver_dir, sizeof(a->ver_dir), a->pin_dir, SHUNT_PIN_VERSION)) {
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	err = mkdir_record(a->pin_dir, &a->made_pin_dir);
	if (!err)
		err = mkdir_record(a->ver_dir, &a->made_ver_dir);
	/* pins are root's only: bpffs may have given an existing dir wider modes */
	if (!err && (chmod(a->pin_dir, 0700) || chmod(a->ver_dir, 0700)))
		err = -errno;
	if (err) {
		fprintf(stderr, "shuntd: failed to create %s: %s\n", a->ver_dir, strerror(-err));
		goto cleanup;
	}

	a->cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->cgroup_fd < 0) {
		err = -errno;
		fprintf(stderr, "shuntd: failed to open cgroup %s: %s\n", cgroup, strerror(-err));
		goto cleanup;
	}

	/* a previous agent's pinned state (e.g. after kill -9): adopt it when it is
	 * ours to take (its agent is gone, same cgroup, same layout), else replace it */
	have_old = old_state_open(a->ver_dir, &old);
	if (have_old && old_agent_info(a->ver_dir, &oldinfo) == 0) {
		struct stat st;

		if (shuntd_alive((pid_t)oldinfo.pid)) {
			err = -EBUSY;
			fprintf(stderr, "shuntd: another shuntd (pid %u) owns %s\n", oldinfo.pid,
				a->ver_dir);
			goto cleanup;
		}
		adopt = old.link >= 0 && fstat(a->cgroup_fd, &st) == 0 &&
			st.st_ino == oldinfo.cgroup_id;
	}
	err = open_and_load(a, adopt);
	if (err && adopt) {
		fprintf(stderr, "shuntd: cannot adopt the pinned maps (%s): replacing them\n",
			strerror(-err));
		icpt_destroy(a);
		sk_msg__destroy(a->sm);
		sockops__destroy(a->so);
		a->sm = NULL;
		a->so = NULL;
		adopt = false;
		err = open_and_load(a, false);
	}
	if (err) {
		fprintf(stderr, "shuntd: failed to load the BPF programs: %s\n", strerror(-err));
		goto cleanup;
	}
	err = shunt_agent_set_policy(a, o);
	if (err) {
		fprintf(stderr, "shuntd: failed to fill policy maps: %s\n", strerror(-err));
		goto cleanup;
	}
	if (adopt) {
		err = adopt_finish(a, o, cgroup, &old);
		if (err)
			goto cleanup;
		*out = a;
		return 0;
	}

	/* replace: drain the previous state now, remove it once ours is attached */
	if (have_old) {
		fprintf(stderr,
			"shuntd: replacing pinned state of a previous shuntd in %s "
			"(its connections continue on TCP)\n",
			a->ver_dir);
		old_state_drain(&old);
	}

	/* sk_msg on the sockhash first, so every inserted socket gets it */
	err = attach_sk_msg(a);
	if (err)
		goto cleanup;
	/* bpf_link = multi-attach: other programs on this cgroup are left alone */
	a->link = bpf_program__attach_cgroup(a->so->progs.shunt_sockops, a->cgroup_fd);
	if (!a->link) {
		err = -errno;
		a->link = NULL;
		fprintf(stderr, "shuntd: failed to attach sockops to %s: %s\n", cgroup,
			strerror(-err));
		goto cleanup;
	}

	/* new state is live; remove the previous agent's */
	if (have_old) {
		old_state_remove(&old, a->ver_dir);
		a->adopted_dirs = true;
	}
	if (a->icpt) {
		err = icpt_attach(a, cgroup);
		if (err)
			goto cleanup;
	}

	err = pin_maps(a);
	if (!err)
		err = write_agent_info(a, o, cgroup);
	if (!err)
		err = pin_fd_record(a, a->agent_fd, SHUNT_PIN_AGENT_MAP);
	if (!err)
		err = pin_fd_record(a, bpf_link__fd(a->link), SHUNT_PIN_LINK_SOCKOPS);
	if (!err)
		err = pin_fd_record(a, bpf_program__fd(a->sm->progs.shunt_sk_msg),
				    SHUNT_PIN_PROG_SK_MSG);
	if (err)
		goto cleanup;
	*out = a;
	return 0;
cleanup:
	old_state_close(&old);
	agent_free(a);
	return err;
}

static int count_conn(const struct shunt_sock_key *k, const struct shunt_conn *c, void *arg)
{
	return 0;
}

int shunt_agent_stop(struct shunt_agent *a)
{
	struct shunt_dp_config cfg;
	int cfg_fd = bpf_map__fd(a->so->maps.shunt_config);
	__u32 zero = 0;
	int n;

	/* 1. every connection falls back to TCP at its next send (one-way: order-safe),
	 *    and sockops inserts nothing new */
	if (bpf_map_lookup_elem(cfg_fd, &zero, &cfg) == 0) {
		cfg.mode = SHUNT_MODE_DRAIN;
		bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
	}
	n = shunt_conns_foreach(bpf_map__fd(a->so->maps.shunt_conns), count_conn, NULL);
	/* 2. detach, unpin, close: see agent_free */
	agent_free(a);
	return n;
}

int shunt_agent_counters_fd(const struct shunt_agent *a)
{
	return bpf_map__fd(a->so->maps.shunt_counters);
}

int shunt_agent_conns_fd(const struct shunt_agent *a)
{
	return bpf_map__fd(a->so->maps.shunt_conns);
}

/* ------------------------------------------------------------ pinned */

#define PINNED_FDS(p)                                                                              \
	{                                                                                          \
		&(p)->counters, &(p)->conns, &(p)->config, &(p)->agent, &(p)->sockhash,            \
			&(p)->link, &(p)->prog, &(p)->ports, &(p)->cidrs, &(p)->capture, &(p)->l4, \
			&(p)->cg_ident, &(p)->addr_ident, &(p)->link_connect4, &(p)->icpt_ports,   \
			&(p)->icpt_wports, &(p)->out_cidrs                                         \
	}
static const char *const pinned_names[] = {
	"shunt_counters",
	"shunt_conns",
	"shunt_config",
	SHUNT_PIN_AGENT_MAP,
	"shunt_sockhash",
	SHUNT_PIN_LINK_SOCKOPS,
	SHUNT_PIN_PROG_SK_MSG,
	"shunt_ports",
	"shunt_cidrs",
	"shunt_capture",
	"shunt_l4",
	"shunt_cg_ident",
	"shunt_addr_ident",
	SHUNT_PIN_LINK_CONNECT4,
	"shunt_icpt_ports",
	"shunt_icpt_wports",
	"shunt_out_cidrs",
};

int shunt_pinned_open(const char *pin_dir, struct shunt_pinned *p)
{
	char ver[PATH_MAX];
	int *fds[] = PINNED_FDS(p);
	size_t i;

	if (pin_path(ver, sizeof(ver), pin_dir, SHUNT_PIN_VERSION))
		return -ENAMETOOLONG;
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		*fds[i] = obj_get(ver, pinned_names[i]);
		if (*fds[i] < 0)
			*fds[i] = -1;
	}
	if (p->counters < 0) {
		shunt_pinned_close(p);
		return -ENOENT;
	}
	return 0;
}

void shunt_pinned_close(struct shunt_pinned *p)
{
	int *fds[] = PINNED_FDS(p);
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int shunt_map_count(int fd, size_t key_size)
{
	char *k = malloc(key_size), *prev = malloc(key_size);
	bool first = true;
	int n = 0;

	if (!k || !prev) {
		n = -ENOMEM;
		goto cleanup;
	}
	while (bpf_map_get_next_key(fd, first ? NULL : prev, k) == 0) {
		memcpy(prev, k, key_size);
		first = false;
		n++;
	}
cleanup:
	free(k);
	free(prev);
	return n;
}

int shunt_counters_read(int fd, uint64_t out[SHUNT_CNT__MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals;
	__u32 i;
	int c, err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < SHUNT_CNT__MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals)) {
			err = -errno;
			goto cleanup;
		}
		for (c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
cleanup:
	free(vals);
	return err;
}

int shunt_conns_foreach(int fd, shunt_conn_cb cb, void *arg)
{
	struct shunt_sock_key key, next;
	struct shunt_conn c;
	void *prev = NULL;
	int n = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &c))
			continue; /* closed meanwhile */
		n++;
		if (cb && cb(&key, &c, arg))
			break;
	}
	return n;
}
