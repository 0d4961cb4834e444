/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-registryd: serves shunt-cni's registration socket with the shunt_registry
 * library and keeps the node's pod registry in a state file: the chart's stand-alone
 * registry (cni.registry=sidecar); shuntd embeds the same library (cni.registry=shuntd).
 *
 *   shunt-registryd [--socket PATH] [--state PATH]   serve until SIGTERM/SIGINT
 *   shunt-registryd --check [--socket PATH]          exit 0 if a registry answers
 *   shunt-registryd --list [--state PATH]            print the registered pods (with
 *                                                    sa=, sidecar=, labels= when known)
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#define DEFAULT_STATE "/run/shunt/registry.json"

static int log_change(void *ctx, enum shunt_reg_op op, const struct shunt_reg_pod *p)
{
	fprintf(stderr, "shunt-registryd: %s %s/%s container %s netns %s ips",
		shunt_reg_op_name(op), p->ns, p->name, p->container_id,
		p->netns[0] ? p->netns : "-");
	for (unsigned i = 0; i < p->n_ips; i++)
		fprintf(stderr, " %s", p->ips[i]);
	if (p->sidecar >= 0) /* identity from the Kubernetes API */
		fprintf(stderr, " serviceAccount %s sidecar %d labels %u annotations %u",
			p->service_account, p->sidecar, p->n_labels, p->n_annotations);
	fputc('\n', stderr);
	return 0;
}

static int do_check(const char *sock)
{
	struct shunt_reg_request req = {.op = SHUNT_REG_DEL};
	char err[256] = "";

	/* DEL of a container that cannot exist: idempotent, changes nothing. */
	snprintf(req.pod.container_id, sizeof(req.pod.container_id), "shunt-registryd-probe");
	if (shunt_reg_send(sock, &req, 1000, err, sizeof(err))) {
		fprintf(stderr, "shunt-registryd: %s\n", err);
		return 1;
	}
	return 0;
}

static int do_list(const char *state)
{
	struct shunt_reg_table t = {0};
	char err[256] = "";
	int ret = shunt_reg_table_load(&t, state, err, sizeof(err));

	if (ret) {
		fprintf(stderr, "shunt-registryd: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct shunt_reg_pod *p = &t.pods[i];

		printf("%s/%s\t%s\t%s", p->ns, p->name, p->container_id, p->netns);
		for (unsigned j = 0; j < p->n_ips; j++)
			printf("%s%s", j ? "," : "\t", p->ips[j]);
		if (p->sidecar >= 0) {
			printf("\tsa=%s sidecar=%d", p->service_account, p->sidecar);
			for (unsigned j = 0; j < p->n_labels; j++)
				printf("%s%s=%s", j ? "," : " labels=", p->labels[j].key,
				       p->labels[j].value);
		}
		putchar('\n');
	}
	shunt_reg_table_free(&t);
	return 0;
}

static int serve(const char *sock, const char *state)
{
	struct shunt_registry *r = NULL;
	char err[256] = "";
	sigset_t mask;
	int sfd = -1, ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "shunt-registryd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	/* The library binds the socket and then chmods it 0600: with umask 077 it is never
	 * reachable by others in between, and the state file is private from its creation. */
	umask(077);
	ret = shunt_registry_open(&r, sock, state, log_change, NULL, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "shunt-registryd: %s\n", err[0] ? err : strerror(-ret));
		close(sfd);
		return ret == -EINVAL ? 2 : 1;
	}
	fprintf(stderr, "shunt-registryd: serving %s (state %s, %zu pods)\n", sock,
		state ? state : "none", shunt_registry_table(r)->n);
	for (;;) {
		struct pollfd p[2] = {{.fd = shunt_registry_fd(r), .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents && shunt_registry_handle(r) < 0)
			fprintf(stderr, "shunt-registryd: accept: %s\n", strerror(errno));
	}
	fprintf(stderr, "shunt-registryd: stopping (%zu pods kept in the state file)\n",
		shunt_registry_table(r)->n);
	shunt_registry_close(r);
	close(sfd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"state", required_argument, NULL, 't'},
		{"check", no_argument, NULL, 'c'},	  {"list", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0}};
	const char *sock = SHUNT_REG_DEFAULT_SOCKET, *state = DEFAULT_STATE;
	int c, mode = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 't':
			state = optarg[0] ? optarg : NULL;
			break;
		case 'c':
		case 'l':
			mode = c;
			break;
		case 'h':
			printf("usage: shunt-registryd [--socket PATH] [--state PATH] [--check | "
			       "--list]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "shunt-registryd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (mode == 'c')
		return do_check(sock);
	if (mode == 'l')
		return state ? do_list(state) : 2;
	return serve(sock, state);
}
