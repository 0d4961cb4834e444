// SPDX-License-Identifier: Apache-2.0
/*
 * shuntd: attach shunt's sockops + sk_msg programs to a cgroup v2 and keep
 * them there until SIGTERM/SIGINT, then detach and unpin everything it made.
 */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shunt_agent.h"
#include "shunt_opts.h"

#ifdef SHUNT_HAVE_CONFIG
#include <sys/stat.h>

#include "capture_cfg.h"
#include "shunt/config.h"
#include "shunt/l4.h"
#include "shunt/policy.h"
#endif

/* The pod registry (shunt-cni) needs the config library to turn pods into workloads. */
#if defined(SHUNT_HAVE_CONFIG) && defined(SHUNT_HAVE_REGISTRY)
#define SHUNT_REGISTRY 1
#include <libgen.h>

#include "pod_workloads.h"
#include "registry.h"
#endif

static bool verbose;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shuntd [--cgroup PATH] [--pin-dir DIR] [--ready-fd FD] [--metrics "
		"ADDR:PORT]\n"
		"              [--exclude-port P]... [--include-cidr CIDR]... [--exclude-cidr "
		"CIDR]...\n"
		"              [--small-writes adaptive|redirect|pass] [--small-min-run N]\n"
		"              [--small-max-avg BYTES] [--small-max-avg-pod BYTES] [--config FILE] "
		"[-v]\n"
		"              [--capture off|l7|istio] [--proxy-uid UID|none] [--proxy-mark N]\n"
		"              [--proxy-cgroup PATH]... [--outbound-port P] [--inbound-port P]\n"
		"              [--inbound-capture on|off] [--exclude-outbound-port P]...\n"
		"              [--include-outbound-port P]...\n"
		"              [--exclude-inbound-port P]... [--no-l7-proxy] [--l4-policy "
		"on|off]\n"
		"              [--include-outbound-cidr CIDR|*]... [--exclude-outbound-cidr "
		"CIDR]...\n"
		"              [--cni-socket PATH [--cni-state FILE]]\n");
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Listen on --metrics; at receives the bound "ADDR:PORT" (port 0 = any free one). */
static int metrics_listen(const struct shunt_opts *o, char *at, size_t atlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	int one = 1;
	int fd = socket(o->metrics_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&o->metrics_addr, o->metrics_addr_len) ||
	    listen(fd, 16) || getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (ss.ss_family == AF_INET6)
		shunt_format_endpoint(at, atlen, SHUNT_AF_INET6, (const uint32_t *)&s6->sin6_addr,
				      ntohs(s6->sin6_port));
	else
		shunt_format_endpoint(at, atlen, SHUNT_AF_INET, (const uint32_t *)&s4->sin_addr,
				      ntohs(s4->sin_port));
	return fd;
}

/* One request, one response, close: enough for a Prometheus scrape. */
static void on_metrics_conn(int lfd, struct shunt_agent *a)
{
	uint64_t cnt[SHUNT_CNT__MAX] = {0};
	char req[1024], *body = NULL, hdr[128];
	size_t blen = 0, got;
	FILE *f;
	int c, n;
	struct pollfd p;

	c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	/* read the request head (bounded wait; a client that sends nothing is dropped) */
	p.fd = c;
	p.events = POLLIN;
	got = 0;
	while (got < sizeof(req) - 1 && !memmem(req, got, "\r\n\r\n", 4)) {
		ssize_t r;

		if (poll(&p, 1, 1000) <= 0)
			goto cleanup;
		r = recv(c, req + got, sizeof(req) - 1 - got, 0);
		if (r <= 0)
			goto cleanup;
		got += (size_t)r;
	}
	f = open_memstream(&body, &blen);
	if (!f)
		goto cleanup;
	shunt_counters_read(shunt_agent_counters_fd(a), cnt);
	n = shunt_conns_foreach(shunt_agent_conns_fd(a), NULL, NULL);
	shunt_metrics_write(f, cnt, n > 0 ? (size_t)n : 0);
	fclose(f);
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     blen);
	if (send(c, hdr, (size_t)n, MSG_NOSIGNAL) == n)
		send(c, body, blen, MSG_NOSIGNAL);
	/* lingering close: FIN first, then drain, so the client never sees a reset */
	shutdown(c, SHUT_WR);
	while (poll(&p, 1, 1000) > 0 && recv(c, req, sizeof(req), 0) > 0)
		;
cleanup:
	free(body);
	close(c);
}

#ifdef SHUNT_HAVE_CONFIG
static void tables_free(struct shunt_icpt_tables *t)
{
	if (!t)
		return;
	shunt_capture_tables_free(t);
	free(t->cg);
	free(t->addr);
	free(t->l4);
	free(t);
}

/* A trie key from a config CIDR (IPv4 as ::ffff:a.b.c.d/96+n). */
static void cidr_key(const struct shunt_cidr *c, struct shunt_cidr_key *k)
{
	memset(k, 0, sizeof(*k));
	if (c->family == AF_INET) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(&k->addr[12], c->addr, 4);
		k->prefixlen = 96u + c->prefix;
	} else {
		memcpy(k->addr, c->addr, 16);
		k->prefixlen = c->prefix;
	}
}

/* Is path the cgroup dir (or below the cgroup dir) dir? */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/*
 * Identity and L3/L4 tables for the interception maps: workloads[].cgroups
 * (relative to the cgroup v2 mount unless already under it; only cgroups
 * below shuntd's cgroup count: they run on this node, and only those
 * workloads are MESHED, i.e. targets of inbound capture: a remote node's
 * sidecar could not answer SO_ORIGINAL_DST for a rewrite made here),
 * workloads[].addresses, services[].clusterIPs (flags HAS only), and the
 * compiled L4 entries of the workloads and of the services (derived from
 * their backends') ("L7" entries allow the connection and leave the request
 * to the proxy; with --no-l7-proxy Istio's TCP reduction applies instead).
 */
static int addr_key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct shunt_icpt_addr *)a)->key,
		      &((const struct shunt_icpt_addr *)b)->key, sizeof(struct shunt_cidr_key));
}

static int build_tables(const struct shunt_config *cfg, const struct shunt_opts *o,
			struct shunt_icpt_tables **out)
{
	struct shunt_icpt_tables *t = calloc(1, sizeof(*t));
	struct shunt_policy *pol = NULL;
	struct shunt_l4_entry *l4 = NULL;
	struct shunt_diags d = {0};
	char root[PATH_MAX], path[PATH_MAX * 2];
	const char *node;
	size_t i, j, ncg = 0, naddr = 0, nl4 = 0, nwaddr;
	int err;

	if (!t)
		return -ENOMEM;
	err = shunt_cgroup2_root(root, sizeof(root));
	if (err)
		root[0] = '\0';
	node = o->cgroup ? o->cgroup : root;
	for (i = 0; i < cfg->n_workloads; i++) {
		ncg += cfg->workloads[i].cgroups.n;
		naddr += cfg->workloads[i].n_addresses;
	}
	for (i = 0; i < cfg->n_services; i++)
		naddr += cfg->services[i].cluster_ips.n;
	t->cg = calloc(ncg + 1, sizeof(*t->cg));
	t->addr = calloc(naddr + 1, sizeof(*t->addr));
	if (!t->cg || !t->addr) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < cfg->n_workloads; i++) {
		const struct shunt_workload *w = &cfg->workloads[i];
		struct shunt_ident v = {shunt_identity_of((int)i), SHUNT_IDENT_HAS};

		for (j = 0; j < w->cgroups.n; j++) {
			const char *cg = w->cgroups.v[j];
			struct stat st;

			if (root[0] && strncmp(cg, root, strlen(root)))
				snprintf(path, sizeof(path), "%s%s", root, cg);
			else
				snprintf(path, sizeof(path), "%s", cg);
			if (!under(path, node) || stat(path, &st)) {
				if (verbose)
					fprintf(stderr,
						"shuntd: workload %s/%s: cgroup %s not on this "
						"node\n",
						w->ns, w->name, path);
				continue;
			}
			t->cg[t->n_cg].cgroup_id = st.st_ino;
			t->cg[t->n_cg].v = v;
			t->n_cg++;
			/* runs here, with its sidecar: inbound capture may target it */
			v.flags |= SHUNT_IDENT_MESHED;
		}
		for (j = 0; j < w->n_addresses; j++) {
			cidr_key(&w->addresses[j], &t->addr[t->n_addr].key);
			t->addr[t->n_addr].v = v;
			t->n_addr++;
		}
	}
	/* services: each clusterIP -> the service identity; HAS only (never
	 * MESHED: nothing listens for inbound capture on a virtual IP). The
	 * workload addresses are sorted first, to look clusterIPs up in them. */
	nwaddr = t->n_addr;
	if (cfg->n_services && nwaddr)
		qsort(t->addr, nwaddr, sizeof(*t->addr), addr_key_cmp);
	for (i = 0; i < cfg->n_services; i++) {
		const struct shunt_service *s = &cfg->services[i];
		struct shunt_ident v = {shunt_service_identity(i), SHUNT_IDENT_HAS};

		for (j = 0; j < s->cluster_ips.n; j++) {
			struct shunt_icpt_addr k = {.v = v};

			cidr_key(&s->cluster_ips.v[j], &k.key);
			/* a registered pod may hold the same address: the pod wins */
			if (nwaddr &&
			    bsearch(&k, t->addr, nwaddr, sizeof(*t->addr), addr_key_cmp)) {
				if (verbose)
					fprintf(stderr,
						"shuntd: service %s/%s: clusterIP is a workload "
						"address, ignored\n",
						s->ns, s->name);
				continue;
			}
			t->addr[t->n_addr++] = k;
		}
	}
	t->policy = cfg->n_policies > 0 && o->l4_policy;
	if (t->policy) {
		err = shunt_policy_compile(cfg, &pol, &d);
		if (!err)
			err = shunt_policy_l4_entries_opts(
				pol, o->no_l7_proxy ? SHUNT_L4_NO_PROXY : 0, &l4, &nl4);
		if (err) {
			shunt_diags_print(&d, stderr);
			fprintf(stderr, "shuntd: failed to compile the policy: %s\n",
				strerror(-err));
			goto cleanup;
		}
		t->l4 = calloc(nl4 + 1, sizeof(*t->l4));
		if (!t->l4) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (i = 0; i < nl4; i++) {
			t->l4[i].key.src = l4[i].src_identity;
			t->l4[i].key.dst = l4[i].dst_identity;
			t->l4[i].key.port = l4[i].port;
			t->l4[i].verdict = l4[i].verdict;
		}
		t->n_l4 = nl4;
	}
	/* workloads[].sidecar and workloads[].capture */
	err = shunt_capture_tables(cfg, o, t);
	if (err)
		goto cleanup;
	*out = t;
	t = NULL;
cleanup:
	free(l4);
	shunt_policy_free(pol);
	shunt_diags_free(&d);
	tables_free(t);
	return err;
}

/* The config file's "accelerate" section: cgroup (unless --cgroup), ports, CIDRs. */
static int apply_config(struct shunt_opts *o, struct shunt_config **keep)
{
	struct shunt_diags d = {0};
	struct shunt_config *cfg = NULL;
	const struct shunt_accelerate_config *acc;
	size_t i;
	int err;

	err = shunt_config_load_file(o->config, &cfg, &d);
	if (err) {
		if (d.n)
			shunt_diags_print(&d, stderr);
		else
			fprintf(stderr, "shuntd: failed to load %s: %s\n", o->config,
				strerror(-err));
		goto cleanup;
	}
	acc = &cfg->accelerate;
	if (!o->cgroup && acc->cgroup)
		o->cgroup = acc->cgroup;
	for (i = 0; !err && i < acc->exclude_ports.n; i++)
		err = shunt_opts_add_port(o, acc->exclude_ports.v[i]);
	for (int inc = 0; inc < 2; inc++) {
		const struct shunt_cidrlist *l = inc ? &acc->include_cidrs : &acc->exclude_cidrs;

		for (i = 0; !err && i < l->n; i++) {
			struct shunt_cidr_key k = {0};
			char text[64];

			if (l->v[i].family == AF_INET) {
				k.addr[10] = k.addr[11] = 0xff;
				memcpy(&k.addr[12], l->v[i].addr, 4);
				k.prefixlen = 96u + l->v[i].prefix;
			} else {
				memcpy(k.addr, l->v[i].addr, 16);
				k.prefixlen = l->v[i].prefix;
			}
			shunt_format_cidr(text, sizeof(text), &k);
			err = shunt_opts_add_cidr(o, inc, &k, text);
		}
	}
	if (err)
		fprintf(stderr, "shuntd: %s: too many accelerate entries (max %d per list)\n",
			o->config, SHUNT_OPTS_MAX_LIST);
	if (!err) {
		/* the "capture" section; flags given on the command line win */
		char msg[160];

		err = shunt_capture_apply_config(o, &cfg->capture, msg, sizeof(msg));
		if (err)
			fprintf(stderr, "shuntd: %s: %s\n", o->config, msg);
	}
cleanup:
	shunt_diags_free(&d);
	if (err) {
		shunt_config_free(cfg);
		return err;
	}
	*keep = cfg; /* o->cgroup may point into it */
	return 0;
}
#endif

/* Everything shuntd runs with; replaced as a whole on SIGHUP. */
struct shuntd {
	struct shunt_opts o; /* o.tables == tables */
	struct shunt_agent *agent;
	char cgroup[PATH_MAX]; /* attached to (a reload cannot move it) */
#ifdef SHUNT_HAVE_CONFIG
	struct shunt_config *cfg; /* --config; an empty config with --cni-socket alone */
	struct shunt_icpt_tables *tables;
#endif
#ifdef SHUNT_REGISTRY
	struct shunt_registry *reg;
	struct shunt_pods pods;
	bool dirty;		/* pods changed since the maps were last written */
	uint64_t retry_ms;	/* after a failed map update */
	char cg2root[PATH_MAX]; /* the cgroup v2 mount (registered cgroups are relative to it) */
#endif
};

#ifdef SHUNT_HAVE_CONFIG
/* The interception tables of the static config merged with the registered pods. */
static int make_tables(struct shuntd *d, struct shunt_icpt_tables **out)
{
	*out = NULL;
	if (!d->cfg)
		return 0;
#ifdef SHUNT_REGISTRY
	if (d->reg) {
		struct shunt_pods_merged m;
		int err = shunt_pods_merge(d->cfg, &d->pods, &m);

		if (err)
			return err;
		err = build_tables(&m.cfg, &d->o, out);
		if (!err && verbose && (m.dropped_addrs || m.joined_static))
			fprintf(stderr,
				"shuntd: pods: %zu joined a config workload of the same name, %zu "
				"addresses left to the config or a newer pod\n",
				m.joined_static, m.dropped_addrs);
		shunt_pods_merged_free(&m);
		return err;
	}
#endif
	return build_tables(d->cfg, &d->o, out);
}
#endif

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

#ifdef SHUNT_REGISTRY
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Registry callback (inside shunt_registry_handle): update the pod table; the
 * maps are written once the pending requests are served (pods_apply). */
static int on_pod(void *ctx, enum shunt_reg_op op, const struct shunt_reg_pod *pod)
{
	struct shuntd *d = ctx;
	int err;

	if (op == SHUNT_REG_ADD) {
		err = shunt_pods_put(&d->pods, pod, now_ms());
		shunt_pods_print_diags(&d->pods, stderr, "shuntd: ");
		if (err < 0) {
			fprintf(stderr, "shuntd: refused ADD %s/%s: %s\n", pod->ns, pod->name,
				strerror(-err));
			return err;
		}
	} else if (op == SHUNT_REG_DEL) {
		shunt_pods_del(&d->pods, pod->container_id);
		if (shunt_pods_compact(&d->pods))
			fprintf(stderr, "shuntd: pods: identities renumbered (many free slots)\n");
	}
	fprintf(stderr, "shuntd: pod %s %s/%s (container %s, uid %s, %u address(es))\n",
		shunt_reg_op_name(op), pod->ns, pod->name, pod->container_id,
		pod->pod_uid[0] ? pod->pod_uid : "-", pod->n_ips);
	d->dirty = true;
	return 0;
}

/* Write the identity and L4 maps for the current pods (new entries first,
 * stale ones last: see shunt_agent_set_policy). On failure the maps keep
 * the previous state and the update is retried a second later. */
static void pods_apply(struct shuntd *d)
{
	struct shunt_icpt_tables *t = NULL;
	struct timespec t0, t1;
	size_t written, deleted;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = make_tables(d, &t);
	if (!err) {
		d->o.tables = t;
		err = shunt_agent_set_policy(d->agent, &d->o);
	}
	if (err) {
		fprintf(stderr, "shuntd: pods: failed to update the maps (retrying): %s\n",
			strerror(-err));
		d->o.tables = d->tables;
		tables_free(t);
		d->retry_ms = now_ms() + 1000;
		return;
	}
	tables_free(d->tables);
	d->tables = t;
	d->dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	shunt_agent_last_sync(d->agent, &written, &deleted);
	fprintf(stderr,
		"shuntd: pods applied: %zu registered, %zu with a cgroup; %zu workload cgroups "
		"here, %zu address blocks, %zu L4 entries (%.2f ms; %zu map entries written, %zu "
		"deleted)\n",
		d->pods.live, shunt_pods_resolved(&d->pods), t ? t->n_cg : 0, t ? t->n_addr : 0,
		t ? t->n_l4 : 0, ms_between(&t0, &t1), written, deleted);
}

/* Look for the cgroups still missing (when due); apply what changed. */
static void pods_tick(struct shuntd *d)
{
	uint64_t now = now_ms();

	if (shunt_pods_next_retry(&d->pods) <= now &&
	    shunt_pods_resolve_cgroups(&d->pods, d->cgroup, d->cg2root, now) > 0)
		d->dirty = true;
	if (d->dirty && now >= d->retry_ms)
		pods_apply(d);
}

/* poll() timeout until the next cgroup search or map retry, -1 for none. */
static int pods_timeout(const struct shuntd *d)
{
	uint64_t next = shunt_pods_next_retry(&d->pods), now = now_ms();

	if (d->dirty && d->retry_ms < next)
		next = d->retry_ms;
	if (next == SHUNT_PODS_NEVER)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

/* The socket's directory: created 0700 when missing; a directory other users
 * may enter is reported (the socket itself is 0600). */
static int registry_dir(const char *sock)
{
	char buf[PATH_MAX], *dir;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", sock);
	dir = dirname(buf);
	if (stat(dir, &st)) {
		if (errno != ENOENT || mkdir(dir, 0700)) {
			fprintf(stderr, "shuntd: --cni-socket directory %s: %s\n", dir,
				strerror(errno));
			return -errno;
		}
		return 0;
	}
	if (st.st_mode & S_IWOTH && !(st.st_mode & S_ISVTX)) {
		fprintf(stderr, "shuntd: --cni-socket directory %s is writable by every user\n",
			dir);
		return -EPERM;
	}
	if (st.st_mode & 0007)
		fprintf(stderr,
			"shuntd: warning: --cni-socket directory %s is open to other users (mode "
			"%04o; 0700 or 0750 recommended)\n",
			dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Serve the socket, load the state file and take its pods (cgroups searched once). */
static int registry_start(struct shuntd *d)
{
	const struct shunt_reg_table *t;
	char why[512] = "";
	uint64_t now = now_ms();
	int err;

	if (shunt_cgroup2_root(d->cg2root, sizeof(d->cg2root)))
		d->cg2root[0] = '\0';
	err = registry_dir(d->o.cni_socket);
	if (!err)
		err = shunt_registry_open(&d->reg, d->o.cni_socket, d->o.cni_state, on_pod, d, why,
					  sizeof(why));
	if (err) {
		if (why[0])
			fprintf(stderr, "shuntd: pod registry: %s\n", why);
		return err;
	}
	t = shunt_registry_table(d->reg);
	for (size_t i = 0; i < t->n; i++) {
		err = shunt_pods_put(&d->pods, &t->pods[i], now);
		if (err < 0)
			fprintf(stderr, "shuntd: state file: pod %s/%s skipped: %s\n",
				t->pods[i].ns, t->pods[i].name, strerror(-err));
	}
	shunt_pods_print_diags(&d->pods, stderr, "shuntd: ");
	shunt_pods_resolve_cgroups(&d->pods, d->cgroup, d->cg2root, now);
	fprintf(stderr, "shuntd: pod registry on %s (state %s): %zu pods, %zu with a cgroup\n",
		d->o.cni_socket, d->o.cni_state ? d->o.cni_state : "none", d->pods.live,
		shunt_pods_resolved(&d->pods));
	return 0;
}
#endif

#ifdef SHUNT_HAVE_CONFIG
/* --config, or with --cni-socket alone an empty config (workloads come from pods). */
static int load_config(struct shunt_opts *o, struct shunt_config **cfg)
{
	struct shunt_diags dg = {0};
	int err = 0;

	*cfg = NULL;
	if (o->config)
		return apply_config(o, cfg);
	if (o->cni_socket) {
		err = shunt_config_load_string("{}", "(pod registry)", cfg, &dg);
		shunt_diags_free(&dg);
	}
	return err;
}
#endif

/* SIGHUP: parse the same command line again, re-read --config, update the maps
 * (with the registered pods). The cgroup and the registry socket stay
 * (changing them needs a restart). On any error the old policy stays. */
static void reload(struct shuntd *d, int argc, char **argv)
{
	struct shunt_opts n, old = d->o;
	struct timespec t0, t1, t2;
	size_t written, deleted;
	char msg[512];
	int err;
#ifdef SHUNT_HAVE_CONFIG
	struct shunt_config *cfg = NULL, *old_cfg = d->cfg;
	struct shunt_icpt_tables *tables = NULL;
#endif

	clock_gettime(CLOCK_MONOTONIC, &t0);
	shunt_opts_init(&n);
	if (shunt_opts_parse(&n, argc, argv, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: reload: %s\n", msg);
		return;
	}
	n.ready_fd = -1;
	n.cni_socket = old.cni_socket;
	n.cni_state = old.cni_state;
#ifdef SHUNT_HAVE_CONFIG
	if (load_config(&n, &cfg)) {
		fprintf(stderr, "shuntd: reload: keeping the current policy\n");
		return;
	}
	if (n.cgroup && strcmp(n.cgroup, d->cgroup))
		fprintf(stderr, "shuntd: reload: cgroup change to %s ignored (restart to move)\n",
			n.cgroup);
	n.cgroup = d->cgroup;
	d->o = n;
	d->cfg = cfg;
	err = make_tables(d, &tables);
	if (err) {
		fprintf(stderr, "shuntd: reload: keeping the current policy: %s\n", strerror(-err));
		d->o = old;
		d->cfg = old_cfg;
		shunt_config_free(cfg);
		return;
	}
	d->o.tables = tables;
#else
	n.cgroup = d->cgroup;
	d->o = n;
#endif
	if (shunt_opts_intercept(&d->o) != shunt_agent_intercepting(d->agent))
		fprintf(stderr, "shuntd: reload: turning interception %s needs a restart\n",
			shunt_opts_intercept(&d->o) ? "on" : "off");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	err = shunt_agent_set_policy(d->agent, &d->o);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	shunt_agent_last_sync(d->agent, &written, &deleted);
	if (err) {
		fprintf(stderr, "shuntd: reload: failed to update maps: %s\n", strerror(-err));
#ifdef SHUNT_REGISTRY
		d->dirty = true; /* retried with the pods */
		d->retry_ms = now_ms() + 1000;
#endif
	} else
		fprintf(stderr,
			"shuntd: reloaded: %zu excluded ports, %zu include and %zu exclude CIDRs, "
			"small-writes=%s, capture=%s, %zu L4 entries; config %.1f ms, maps %.1f "
			"ms (%zu entries written, %zu deleted)\n",
			d->o.n_exclude_ports, d->o.n_include, d->o.n_exclude,
			shunt_small_writes_name(d->o.small_writes),
			shunt_capture_name(d->o.capture), d->o.tables ? d->o.tables->n_l4 : 0,
			ms_between(&t0, &t1), ms_between(&t1, &t2), written, deleted);
#ifdef SHUNT_HAVE_CONFIG
	/* the new config is in force (also when a map write failed: the next update retries) */
	shunt_config_free(old_cfg);
	tables_free(d->tables);
	d->tables = tables;
#endif
}

static void log_counters(struct shunt_agent *a)
{
	uint64_t cnt[SHUNT_CNT__MAX];
	unsigned int i;

	if (shunt_counters_read(shunt_agent_counters_fd(a), cnt))
		return;
	fprintf(stderr, "shuntd: counters:");
	for (i = 0; i < SHUNT_CNT__MAX; i++)
		fprintf(stderr, " %s=%llu", shunt_counter_name(i), (unsigned long long)cnt[i]);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static struct shuntd d; /* large (paths); zeroed */
	char msg[1024], metrics_at[INET6_ADDRSTRLEN + 8] = "";
	struct pollfd pfd[3];
	sigset_t mask;
	int sfd = -1, mfd = -1, err, rc = 1, n, npfd, timeout = -1;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	shunt_opts_init(&d.o);
	if (shunt_opts_parse(&d.o, argc, argv, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: %s (see shuntd --help)\n", msg);
		return SHUNT_EXIT_ENV;
	}
	verbose = d.o.verbose;
	/* a log reader that went away (a pipe to a collector) must not kill
	 * shuntd before it detaches: writes fail with EPIPE instead */
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(on_libbpf_print);
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* pins, the registry socket and its state file: for root only */
	umask(0077);
#ifndef SHUNT_REGISTRY
	if (d.o.cni_socket) {
		fprintf(stderr, "shuntd: --cni-socket is unavailable (built without cni/ or "
				"config/)\n");
		return SHUNT_EXIT_ENV;
	}
#endif
#ifdef SHUNT_HAVE_CONFIG
	if (load_config(&d.o, &d.cfg))
		return SHUNT_EXIT_ENV;
#else
	if (d.o.config) {
		fprintf(stderr, "shuntd: --config is unavailable (built without config/)\n");
		return SHUNT_EXIT_ENV;
	}
#endif

	if (d.o.cgroup) {
		snprintf(d.cgroup, sizeof(d.cgroup), "%s", d.o.cgroup);
	} else if (shunt_cgroup2_root(d.cgroup, sizeof(d.cgroup))) {
		fprintf(stderr, "shuntd: no cgroup v2 mount found (mount -t cgroup2 none "
				"/sys/fs/cgroup)\n");
		rc = SHUNT_EXIT_ENV;
		goto cleanup;
	}
	d.o.cgroup = d.cgroup;
	if (shunt_preflight(d.cgroup, d.o.pin_dir, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: %s\n", msg);
		rc = SHUNT_EXIT_ENV;
		goto cleanup;
	}
	err = shunt_probe_kernel(msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "shuntd: %s%s\n", err == -EPERM ? "" : "this kernel lacks: ", msg);
		rc = SHUNT_EXIT_ENV;
		goto cleanup;
	}

	/* signals before attach: a SIGTERM during start-up still cleans up */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "shuntd: failed to create signalfd: %s\n", strerror(errno));
		goto cleanup;
	}
	if (d.o.metrics) {
		mfd = metrics_listen(&d.o, metrics_at, sizeof(metrics_at));
		if (mfd < 0) {
			fprintf(stderr, "shuntd: failed to listen on %s: %s\n", d.o.metrics,
				strerror(-mfd));
			goto cleanup;
		}
	}
#ifdef SHUNT_REGISTRY
	if (d.o.cni_socket && registry_start(&d)) {
		rc = SHUNT_EXIT_ENV;
		goto cleanup;
	}
#endif
#ifdef SHUNT_HAVE_CONFIG
	err = make_tables(&d, &d.tables);
	if (err)
		goto cleanup;
	d.o.tables = d.tables;
#endif

	err = shunt_agent_start(&d.o, &d.agent);
	if (err)
		goto cleanup;
	if (shunt_agent_intercepting(d.agent))
		fprintf(stderr,
			"shuntd: attached connect4/connect6/getsockopt/setsockopt to %s: "
			"capture=%s "
			"(outbound %u, inbound %u, proxy uid %d, %zu proxy cgroups), "
			"%zu L4 entries, %zu workload cgroups here, %zu address blocks\n",
			d.cgroup, shunt_capture_name(d.o.capture), d.o.outbound_port,
			d.o.inbound_port, d.o.proxy_uid == SHUNT_UID_NONE ? -1 : (int)d.o.proxy_uid,
			d.o.n_proxy_cgroups, d.o.tables ? d.o.tables->n_l4 : 0,
			d.o.tables ? d.o.tables->n_cg : 0, d.o.tables ? d.o.tables->n_addr : 0);
	fprintf(stderr,
		"shuntd: attached sockops to %s, sk_msg to the sockhash; pinned in %s/%s; "
		"small-writes=%s (run %u, avg < %u B on loopback, < %u B between pods)%s%s\n",
		d.cgroup, d.o.pin_dir, SHUNT_PIN_VERSION, shunt_small_writes_name(d.o.small_writes),
		d.o.small_min_run, d.o.small_max_avg, d.o.small_max_avg_pod,
		d.o.metrics ? "; metrics on " : "", d.o.metrics ? metrics_at : "");
	if (d.o.ready_fd >= 0) {
		if (write(d.o.ready_fd, "ready\n", 6) != 6)
			fprintf(stderr, "shuntd: failed to write to --ready-fd %d: %s\n",
				d.o.ready_fd, strerror(errno));
		close(d.o.ready_fd);
		d.o.ready_fd = -1;
	}

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	npfd = 1;
	if (mfd >= 0) {
		pfd[npfd].fd = mfd;
		pfd[npfd++].events = POLLIN;
	}
#ifdef SHUNT_REGISTRY
	if (d.reg) {
		pfd[npfd].fd = shunt_registry_fd(d.reg);
		pfd[npfd++].events = POLLIN;
	}
#endif
	for (;;) {
		struct signalfd_siginfo si;

#ifdef SHUNT_REGISTRY
		if (d.reg)
			timeout = pods_timeout(&d);
#endif
		if (poll(pfd, (nfds_t)npfd, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "shuntd: poll failed: %s\n", strerror(errno));
			break;
		}
		for (int i = 1; i < npfd; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (pfd[i].fd == mfd)
				on_metrics_conn(mfd, d.agent);
#ifdef SHUNT_REGISTRY
			else if (d.reg && pfd[i].fd == shunt_registry_fd(d.reg))
				shunt_registry_handle(d.reg);
#endif
		}
#ifdef SHUNT_REGISTRY
		if (d.reg)
			pods_tick(&d);
#endif
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			reload(&d, argc, argv);
			log_counters(d.agent);
			continue;
		}
		fprintf(stderr, "shuntd: %s: stopping\n", strsignal((int)si.ssi_signo));
		break;
	}
	log_counters(d.agent);
	n = shunt_agent_stop(d.agent);
	d.agent = NULL;
	fprintf(stderr,
		"shuntd: detached and unpinned; %d open connection(s) continue on plain TCP\n",
		n < 0 ? 0 : n);
	rc = 0;
cleanup:
	if (d.agent)
		shunt_agent_stop(d.agent);
#ifdef SHUNT_REGISTRY
	shunt_registry_close(d.reg); /* the state file stays for the next shuntd */
	shunt_pods_free(&d.pods);
#endif
	if (mfd >= 0)
		close(mfd);
	if (sfd >= 0)
		close(sfd);
#ifdef SHUNT_HAVE_CONFIG
	shunt_config_free(d.cfg);
	tables_free(d.tables);
#endif
	return rc;
}
