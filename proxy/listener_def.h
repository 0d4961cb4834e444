/* SPDX-License-Identifier: Apache-2.0 */
/* A listener definition from its config entry (start-up in main.c, reload in server.c). */
#ifndef SHUNT_PROXY_LISTENER_DEF_H
#define SHUNT_PROXY_LISTENER_DEF_H

#include <stdio.h>

#include "proxy.h"

static inline void sp_listener_def_from(struct sp_listener_def *d, const struct shunt_listener *l)
{
	snprintf(d->name, sizeof(d->name), "%s", l->name ? l->name : "listener");
	d->addr = l->address;
	d->addr_len = l->address_len;
	d->original_dst = l->upstream_original_dst;
	d->upstream = l->upstream;
	d->upstream_len = l->upstream_len;
	d->mode = l->mode;
	d->enforce = l->enforce;
}

#endif
