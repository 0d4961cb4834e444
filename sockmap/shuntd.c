// SPDX-License-Identifier: Apache-2.0
/*
 * shuntd: attach shunt's sockops + sk_msg programs to a cgroup v2 and keep
 * them there until SIGTERM/SIGINT, then detach and unpin everything it made.
 */
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
#include <unistd.h>

#include "shunt_agent.h"
#include "shunt_opts.h"

#ifdef SHUNT_HAVE_CONFIG
#include <arpa/inet.h>

#include <sys/stat.h>

#include "shunt/config.h"
#include "shunt/l4.h"
#include "shunt/policy.h"
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
		"              [--small-max-avg BYTES] [--config FILE] [-v]\n"
		"              [--capture off|l7|istio] [--proxy-uid UID|none] [--proxy-mark N]\n"
		"              [--proxy-cgroup PATH]... [--outbound-port P] [--inbound-port P]\n"
		"              [--inbound-capture on|off] [--exclude-outbound-port P]...\n"
		"              [--exclude-inbound-port P]... [--no-l7-proxy] [--l4-policy "
		"on|off]\n");
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int metrics_listen(const struct shunt_opts *o)
{
	int one = 1;
	int fd = socket(o->metrics_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&o->metrics_addr, o->metrics_addr_len) ||
	    listen(fd, 16)) {
		int err = -errno;

		close(fd);
		return err;
	}
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
 * workloads[].addresses, and the compiled
 * L4 entries ("L7" entries allow the connection and leave the request to the
 * proxy; with --no-l7-proxy Istio's TCP reduction applies instead).
 */
static int build_tables(const struct shunt_config *cfg, const struct shunt_opts *o,
			struct shunt_icpt_tables **out)
{
	struct shunt_icpt_tables *t = calloc(1, sizeof(*t));
	struct shunt_policy *pol = NULL;
	struct shunt_l4_entry *l4 = NULL;
	struct shunt_diags d = {0};
	char root[PATH_MAX], path[PATH_MAX * 2];
	const char *node;
	size_t i, j, ncg = 0, naddr = 0, nl4 = 0;
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
static int apply_config(struct shunt_opts *o, struct shunt_config **keep,
			struct shunt_icpt_tables **tables)
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
	if (!err)
		err = build_tables(cfg, o, tables);
	if (!err)
		o->tables = *tables;
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

/* SIGHUP: parse the same command line again, re-read --config, update the maps.
 * The cgroup stays (changing it needs a restart). On any error the old policy stays. */
static void reload(const struct shunt_opts *cur, int argc, char **argv, struct shunt_agent *a)
{
	struct shunt_opts n;
	char msg[512];
	int err;
#ifdef SHUNT_HAVE_CONFIG
	struct shunt_config *cfg = NULL;
	struct shunt_icpt_tables *tables = NULL;
#endif

	shunt_opts_init(&n);
	if (shunt_opts_parse(&n, argc, argv, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: reload: %s\n", msg);
		return;
	}
#ifdef SHUNT_HAVE_CONFIG
	if (n.config && apply_config(&n, &cfg, &tables)) {
		fprintf(stderr, "shuntd: reload: keeping the current policy\n");
		return;
	}
	if (n.cgroup && cur->cgroup && strcmp(n.cgroup, cur->cgroup))
		fprintf(stderr, "shuntd: reload: cgroup change to %s ignored (restart to move)\n",
			n.cgroup);
#endif
	if (shunt_opts_intercept(&n) != shunt_agent_intercepting(a))
		fprintf(stderr, "shuntd: reload: turning interception %s needs a restart\n",
			shunt_opts_intercept(&n) ? "on" : "off");
	err = shunt_agent_set_policy(a, &n);
	if (err)
		fprintf(stderr, "shuntd: reload: failed to update maps: %s\n", strerror(-err));
	else
		fprintf(stderr,
			"shuntd: reloaded: %zu excluded ports, %zu include and %zu exclude CIDRs, "
			"small-writes=%s, capture=%s, %zu L4 entries\n",
			n.n_exclude_ports, n.n_include, n.n_exclude,
			shunt_small_writes_name(n.small_writes), shunt_capture_name(n.capture),
			n.tables ? n.tables->n_l4 : 0);
#ifdef SHUNT_HAVE_CONFIG
	shunt_config_free(cfg);
	tables_free(tables);
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
	struct shunt_agent *agent = NULL;
#ifdef SHUNT_HAVE_CONFIG
	struct shunt_config *config = NULL;
	struct shunt_icpt_tables *tables = NULL;
#endif
	struct shunt_opts o;
	char msg[1024], cgroot[PATH_MAX];
	const char *cgroup;
	struct pollfd pfd[2];
	sigset_t mask;
	int sfd = -1, mfd = -1, err, rc = 1, n;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	shunt_opts_init(&o);
	if (shunt_opts_parse(&o, argc, argv, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: %s (see shuntd --help)\n", msg);
		return SHUNT_EXIT_ENV;
	}
	verbose = o.verbose;
	libbpf_set_print(on_libbpf_print);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (o.config) {
#ifdef SHUNT_HAVE_CONFIG
		if (apply_config(&o, &config, &tables))
			return SHUNT_EXIT_ENV;
#else
		fprintf(stderr, "shuntd: --config is unavailable (built without config/)\n");
		return SHUNT_EXIT_ENV;
#endif
	}

	cgroup = o.cgroup;
	if (!cgroup) {
		if (shunt_cgroup2_root(cgroot, sizeof(cgroot))) {
			fprintf(stderr, "shuntd: no cgroup v2 mount found (mount -t cgroup2 none "
					"/sys/fs/cgroup)\n");
			rc = SHUNT_EXIT_ENV;
			goto cleanup;
		}
		cgroup = cgroot;
		o.cgroup = cgroup;
	}
	if (shunt_preflight(cgroup, o.pin_dir, msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: %s\n", msg);
		rc = SHUNT_EXIT_ENV;
		goto cleanup;
	}
	if (shunt_probe_kernel(msg, sizeof(msg))) {
		fprintf(stderr, "shuntd: this kernel lacks: %s\n", msg);
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
	if (o.metrics) {
		mfd = metrics_listen(&o);
		if (mfd < 0) {
			fprintf(stderr, "shuntd: failed to listen on %s: %s\n", o.metrics,
				strerror(-mfd));
			goto cleanup;
		}
	}

	err = shunt_agent_start(&o, &agent);
	if (err)
		goto cleanup;
	if (shunt_agent_intercepting(agent))
		fprintf(stderr,
			"shuntd: attached connect4/connect6/getsockopt to %s: capture=%s "
			"(outbound %u, inbound %u, proxy uid %d, %zu proxy cgroups), "
			"%zu L4 entries, %zu workload cgroups here, %zu address blocks\n",
			cgroup, shunt_capture_name(o.capture), o.outbound_port, o.inbound_port,
			o.proxy_uid == SHUNT_UID_NONE ? -1 : (int)o.proxy_uid, o.n_proxy_cgroups,
			o.tables ? o.tables->n_l4 : 0, o.tables ? o.tables->n_cg : 0,
			o.tables ? o.tables->n_addr : 0);
	fprintf(stderr,
		"shuntd: attached sockops to %s, sk_msg to the sockhash; pinned in %s/%s; "
		"small-writes=%s (run %u, avg < %u B)%s%s\n",
		cgroup, o.pin_dir, SHUNT_PIN_VERSION, shunt_small_writes_name(o.small_writes),
		o.small_min_run, o.small_max_avg, o.metrics ? "; metrics on " : "",
		o.metrics ? o.metrics : "");
	if (o.ready_fd >= 0) {
		if (write(o.ready_fd, "ready\n", 6) != 6)
			fprintf(stderr, "shuntd: failed to write to --ready-fd %d: %s\n",
				o.ready_fd, strerror(errno));
		close(o.ready_fd);
	}

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = mfd;
	pfd[1].events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;

		if (poll(pfd, mfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "shuntd: poll failed: %s\n", strerror(errno));
			break;
		}
		if (mfd >= 0 && (pfd[1].revents & POLLIN))
			on_metrics_conn(mfd, agent);
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			reload(&o, argc, argv, agent);
			log_counters(agent);
			continue;
		}
		fprintf(stderr, "shuntd: %s: stopping\n", strsignal((int)si.ssi_signo));
		break;
	}
	log_counters(agent);
	n = shunt_agent_stop(agent);
	agent = NULL;
	fprintf(stderr,
		"shuntd: detached and unpinned; %d open connection(s) continue on plain TCP\n",
		n < 0 ? 0 : n);
	rc = 0;
cleanup:
	if (agent)
		shunt_agent_stop(agent);
	if (mfd >= 0)
		close(mfd);
	if (sfd >= 0)
		close(sfd);
#ifdef SHUNT_HAVE_CONFIG
	shunt_config_free(config);
	tables_free(tables);
#endif
	return rc;
}
