// SPDX-License-Identifier: Apache-2.0
/*
 * shunt-proxy: L7 policy proxy.
 *
 *   shunt-proxy --config FILE [--workers N] [--log-level L] [--user USER[:GROUP]] [--check]
 *
 * Started as root, it binds every listener (and the admin listener) and opens
 * the access log, then becomes USER (default 1337:1337) with no capability
 * left (privs.h). SIGHUP re-reads the config as that user.
 *
 * Exit codes: 0 after a graceful drain, 1 on a runtime error (cannot listen),
 * 2 on a bad config (diagnostics on stderr).
 */
#include "listener_def.h"
#include "privs.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void on_signal(uv_signal_t *s, int signum);

struct sp_ctl {
	struct sp_server *srv;
	uv_signal_t sighup, sigterm, sigint;
};

/* The access log belongs to the run user (owner and group), so that it can
 * write it and reopen it after the privilege drop. */
static int access_log_chown(int fd, uid_t uid, gid_t gid)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (st.st_uid == uid && st.st_gid == gid)
		return 0;
	return fchown(fd, uid, gid) ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shunt-proxy --config FILE [--workers N] [--log-level error|warn|info|debug]"
		" [--user USER[:GROUP]] [--check]\n"
		"  --config FILE   shunt config (JSON); proxy listeners, limits, policies\n"
		"  --workers N     event loops (threads) sharing the listeners with SO_REUSEPORT\n"
		"                  (default: proxy.workers of the config, 1, which SIGHUP\n"
		"                  re-reads; --workers pins the count)\n"
		"  --log-level L   diagnostics on stderr (default info)\n"
		"  --user U[:G]    started as root: bind, then run as this user (names or\n"
		"                  numbers; default 1337:1337; 'root' keeps root, with a "
		"warning);\n"
		"                  not root: only the current user is accepted\n"
		"  --check         validate the config, print nothing on success, exit\n"
		"signals: SIGHUP reloads the config (a bad one keeps the running one):\n"
		"         policies, limits, access log, listeners, admin address, workers\n"
		"         SIGTERM/SIGINT drain gracefully and exit 0\n");
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct sp_ctl *ctl = s->data;

	if (signum == SIGHUP) {
		sp_server_reload(ctl->srv);
		return;
	}
	sp_log(SP_LOG_INFO, "signal %d: draining", signum);
	sp_server_drain(ctl->srv);
	uv_close((uv_handle_t *)&ctl->sighup, NULL);
	uv_close((uv_handle_t *)&ctl->sigterm, NULL);
	uv_close((uv_handle_t *)&ctl->sigint, NULL);
}

static int build_listeners(struct sp_server *srv, const struct shunt_config *cfg)
{
	const struct shunt_proxy_config *pc = &cfg->proxy;

	if (pc->n_listeners == 0)
		return -ENOENT;
	srv->ldefs = calloc(pc->n_listeners, sizeof(*srv->ldefs));
	if (!srv->ldefs)
		return -ENOMEM;
	for (size_t i = 0; i < pc->n_listeners; i++)
		sp_listener_def_from(&srv->ldefs[i], &pc->listeners[i]);
	srv->n_ldefs = pc->n_listeners;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"workers", required_argument, NULL, 'w'},
		{"log-level", required_argument, NULL, 'l'},
		{"check", no_argument, NULL, 'k'},
		{"user", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sp_server srv = {.access_log_fd = -1};
	struct shunt_diags d = {0};
	struct sp_ctl ctl = {.srv = &srv};
	struct sp_gen *g = NULL;
	const char *config = NULL, *user = NULL;
	struct sp_user_spec uspec;
	char perr[256];
	uid_t uid = SP_DEFAULT_UID;
	gid_t gid = SP_DEFAULT_GID;
	bool root = geteuid() == 0, drop;
	long workers = 0;
	bool check = false;
	uv_loop_t *loop;
	int opt, err, ret = 1;

	while ((opt = getopt_long(argc, argv, "c:w:l:ku:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'w': {
			char *end;

			workers = strtol(optarg, &end, 10);
			if (*end || workers < 1 || workers > SP_MAX_WORKERS) {
				fprintf(stderr, "shunt-proxy: --workers must be 1..%d\n",
					SP_MAX_WORKERS);
				return 2;
			}
			break;
		}
		case 'l':
			err = sp_parse_log_level(optarg);
			if (err < 0) {
				fprintf(stderr, "shunt-proxy: unknown log level '%s'\n", optarg);
				return 2;
			}
			sp_log_level = err;
			break;
		case 'k':
			check = true;
			break;
		case 'u':
			user = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (user) {
		if (sp_user_spec_parse(user, &uspec, perr, sizeof(perr)) ||
		    sp_user_resolve(&uspec, &sp_user_lookup_system, &uid, &gid, perr,
				    sizeof(perr))) {
			fprintf(stderr, "shunt-proxy: --user %s: %s\n", user, perr);
			return 2;
		}
	}
	if (!root) {
		/* without root there is nobody else to become */
		if (user && (uid != getuid() || uid != geteuid() ||
			     (uspec.has_group && (gid != getgid() || gid != getegid())))) {
			fprintf(stderr,
				"shunt-proxy: --user %s: not running as root (uid %u), cannot "
				"switch user\n",
				user, (unsigned)geteuid());
			return 2;
		}
		uid = geteuid();
		gid = getegid();
	}
	drop = !(root && uid == 0);

	err = sp_gen_load(config, &g, &d);
	if (err) {
		shunt_diags_print(&d, stderr);
		fprintf(stderr, "shunt-proxy: failed to load config %s: %s\n", config,
			strerror(-err));
		shunt_diags_free(&d);
		return SHUNT_EXIT_CONFIG;
	}
	shunt_diags_free(&d);
	if (build_listeners(&srv, g->cfg)) {
		fprintf(stderr, "%s: $.proxy.listeners: shunt-proxy needs at least one listener\n",
			config);
		sp_gen_put(g);
		return SHUNT_EXIT_CONFIG;
	}
	if (check) {
		sp_gen_put(g);
		free(srv.ldefs);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	if (!drop) {
		sp_log(SP_LOG_WARN, "--user %s: running as root (no privilege drop)", user);
	} else if (sp_privs_prepare(root, perr, sizeof(perr))) {
		/* before any thread exists: inherited by the workers */
		sp_log(SP_LOG_ERROR, "privilege drop: %s", perr);
		goto cleanup;
	}
	srv.config_path = (char *)config;
	pthread_mutex_init(&srv.gen_lock, NULL);
	/* --workers pins the count; else proxy.workers, which a reload applies */
	srv.workers_fixed = workers != 0;
	srv.n_workers =
		workers ? (unsigned)workers : (g->cfg->proxy.workers ? g->cfg->proxy.workers : 1);
	if (srv.n_workers > SP_MAX_WORKERS) {
		sp_log(SP_LOG_WARN, "proxy.workers %u capped at %d", srv.n_workers, SP_MAX_WORKERS);
		srv.n_workers = SP_MAX_WORKERS;
	}
	if (g->cfg->proxy.access_log) {
		srv.access_log_fd = open(g->cfg->proxy.access_log,
					 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (srv.access_log_fd < 0) {
			sp_log(SP_LOG_ERROR, "failed to open access log %s: %s",
			       g->cfg->proxy.access_log, strerror(errno));
			goto cleanup;
		}
		/* opened as root, written and reopened (SIGHUP after logrotate) by
		 * the run user: give it the file, as nginx does with its logs; a
		 * rotated-away file is re-created by that user, so the directory
		 * must be writable by it */
		err = drop && root ? access_log_chown(srv.access_log_fd, uid, gid) : 0;
		if (err)
			sp_log(SP_LOG_WARN,
			       "access log %s: cannot hand it to uid %u gid %u: %s (a reopen after "
			       "logrotate may fail)",
			       g->cfg->proxy.access_log, (unsigned)uid, (unsigned)gid,
			       strerror(-err));
	}
	loop = uv_default_loop();
	srv.ctl_loop = loop;
	if (g->cfg->proxy.has_admin) {
		err = sp_admin_start(&srv, &g->cfg->proxy.admin, g->cfg->proxy.admin_len);
		if (err) {
			sp_log(SP_LOG_ERROR, "failed to listen on admin address: %s",
			       uv_strerror(err));
			goto cleanup;
		}
	}
	sp_server_publish(&srv, g);
	g = NULL;
	uv_signal_init(loop, &ctl.sighup);
	uv_signal_init(loop, &ctl.sigterm);
	uv_signal_init(loop, &ctl.sigint);
	ctl.sighup.data = ctl.sigterm.data = ctl.sigint.data = &ctl;
	uv_signal_start(&ctl.sighup, on_signal, SIGHUP);
	uv_signal_start(&ctl.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ctl.sigint, on_signal, SIGINT);

	err = sp_server_bind_workers(&srv);
	if (err) {
		sp_log(SP_LOG_ERROR, "failed to start workers: %s", strerror(-err));
		sp_server_join(&srv);
		goto cleanup;
	}
	/* bound as root, kept by the run user: more workers (reload) can join
	 * the same SO_REUSEPORT groups after the drop */
	err = drop && root ? sp_server_chown_listeners(&srv, uid, gid) : 0;
	if (err)
		sp_log(SP_LOG_WARN,
		       "listening sockets: cannot hand them to uid %u: %s (a reload cannot add "
		       "workers)",
		       (unsigned)uid, strerror(-err));
	/* every listener is bound, the admin listener and the access log are
	 * open: drop before any worker thread exists, so that none ever runs
	 * (or accepts) with the start-up privileges */
	if (drop && sp_privs_drop(root, uid, gid, perr, sizeof(perr))) {
		sp_log(SP_LOG_ERROR, "privilege drop failed: %s", perr);
		sp_server_join(&srv);
		goto cleanup;
	}
	err = sp_server_spawn_workers(&srv);
	if (err) {
		sp_log(SP_LOG_ERROR, "failed to start workers: %s", strerror(-err));
		sp_server_drain(&srv);
		sp_server_join(&srv);
		goto cleanup;
	}
	/* checked in every thread, the workers included */
	if (drop && sp_privs_verify(root, uid, gid, perr, sizeof(perr))) {
		sp_log(SP_LOG_ERROR, "privilege drop failed: %s", perr);
		sp_server_drain(&srv);
		sp_server_join(&srv);
		goto cleanup;
	}
	if (drop)
		sp_log(SP_LOG_INFO, "%s", perr);
	sp_log(SP_LOG_INFO, "listening: %zu listener(s), %u worker(s)", srv.n_ldefs, srv.n_workers);
	uv_run(loop, UV_RUN_DEFAULT);
	sp_server_join(&srv);
	sp_log(SP_LOG_INFO, "drained, exiting");
	ret = 0;
cleanup:
	if (srv.access_log_fd >= 0)
		close(srv.access_log_fd);
	sp_gen_put(g);
	sp_gen_put(srv.gen);
	free(srv.ldefs);
	return ret;
}
