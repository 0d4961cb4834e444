/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI tests' stand-in for shuntd: an open shunt_registry served on a
 * thread (poll on its fd and on a stop pipe) until test_regsrv_stop().
 * Header-only (static inline): each test links nothing more than before.
 */
#ifndef SHUNT_TESTS_CNI_REGSRV_THREAD_H
#define SHUNT_TESTS_CNI_REGSRV_THREAD_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "registry.h"

struct test_regsrv {
	struct shunt_registry *r; /* opened (and closed) by the caller */
	pthread_mutex_t *mu;	  /* if set: held around each shunt_registry_handle() */
	pthread_t th;
	int stop[2];
};

static inline void *test_regsrv_main(void *arg)
{
	struct test_regsrv *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = shunt_registry_fd(s->r), .events = POLLIN},
				      {.fd = s->stop[0], .events = POLLIN}};

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		if (p[0].revents) {
			if (s->mu)
				pthread_mutex_lock(s->mu);
			shunt_registry_handle(s->r);
			if (s->mu)
				pthread_mutex_unlock(s->mu);
		}
	}
}

/* Serve s->r on a thread. Returns 0 or -errno. */
static inline int test_regsrv_start(struct test_regsrv *s)
{
	int err;

	if (pipe2(s->stop, O_CLOEXEC))
		return -errno;
	err = -pthread_create(&s->th, NULL, test_regsrv_main, s);
	if (err) {
		close(s->stop[0]);
		close(s->stop[1]);
	}
	return err;
}

/* Stop and join the thread; the registry stays open. Returns 0 or -EIO. */
static inline int test_regsrv_stop(struct test_regsrv *s)
{
	int err = write(s->stop[1], "x", 1) == 1 ? 0 : -EIO;

	if (!err)
		pthread_join(s->th, NULL);
	close(s->stop[0]);
	close(s->stop[1]);
	return err;
}

#endif /* SHUNT_TESTS_CNI_REGSRV_THREAD_H */
