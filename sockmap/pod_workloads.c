// SPDX-License-Identifier: Apache-2.0
/*
 * Registered pods as workloads (see pod_workloads.h). Pure except
 * shunt_pods_resolve_cgroups(), which walks the cgroup tree.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pod_workloads.h"

void shunt_pods_free(struct shunt_pods *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].used)
			shunt_workload_capture_free(&p->v[i].capture);
	free(p->v);
	shunt_diags_free(&p->diags);
	memset(p, 0, sizeof(*p));
}

void shunt_pods_print_diags(struct shunt_pods *p, FILE *f, const char *prefix)
{
	for (size_t i = 0; i < p->diags.n; i++)
		fprintf(f, "%s%s: %s: %s\n", prefix ? prefix : "", p->diags.v[i].file,
			p->diags.v[i].path, p->diags.v[i].msg);
	shunt_diags_free(&p->diags);
}

/* The pod's capture annotations; a bad value leaves *c unset (global
 * settings) with diagnostics in p->diags. Returns 0 or -ENOMEM. */
static int pod_capture(struct shunt_pods *p, const struct shunt_reg_pod *r,
		       struct shunt_workload_capture *c)
{
	const char *keys[SHUNT_REG_MAX_ANNOTATIONS], *values[SHUNT_REG_MAX_ANNOTATIONS];
	size_t n = r->n_annotations < SHUNT_REG_MAX_ANNOTATIONS ? r->n_annotations
								: SHUNT_REG_MAX_ANNOTATIONS;
	char who[sizeof(r->ns) + sizeof(r->name) + 8];
	int err;

	memset(c, 0, sizeof(*c));
	if (!n)
		return 0;
	for (size_t k = 0; k < n; k++) {
		keys[k] = r->annotations[k].key;
		values[k] = r->annotations[k].value;
	}
	snprintf(who, sizeof(who), "pod %s/%s", r->ns, r->name);
	err = shunt_workload_capture_from_annotations(c, keys, values, n, who, &p->diags);
	return err == -ENOMEM ? -ENOMEM : 0;
}

static int parse_addr(const char *s, struct shunt_cidr *c)
{
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, s, c->addr) == 1) {
		c->family = AF_INET;
		c->prefix = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, c->addr) == 1) {
		c->family = AF_INET6;
		c->prefix = 128;
		return 0;
	}
	return -EINVAL;
}

static bool cidr_eq(const struct shunt_cidr *a, const struct shunt_cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

static int find(const struct shunt_pods *p, const char *container_id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].used && !strcmp(p->v[i].reg.container_id, container_id))
			return (int)i;
	return -1;
}

int shunt_pods_put(struct shunt_pods *p, const struct shunt_reg_pod *r, uint64_t now_ms)
{
	struct shunt_cidr addrs[SHUNT_REG_MAX_IPS];
	size_t n = r->n_ips < SHUNT_REG_MAX_IPS ? r->n_ips : SHUNT_REG_MAX_IPS;
	struct shunt_workload_capture capture;
	struct shunt_pod *pod;
	int i = find(p, r->container_id);
	bool keep_cg;

	for (size_t k = 0; k < n; k++)
		if (parse_addr(r->ips[k], &addrs[k]))
			return -EINVAL;
	if (pod_capture(p, r, &capture))
		return -ENOMEM;
	if (i < 0) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 16;
			struct shunt_pod *v = realloc(p->v, cap * sizeof(*v));

			if (!v) {
				shunt_workload_capture_free(&capture);
				return -ENOMEM;
			}
			p->v = v;
			p->cap = cap;
		}
		i = (int)p->n++;
		memset(&p->v[i], 0, sizeof(p->v[i]));
		p->live++;
	}
	pod = &p->v[i];
	keep_cg = pod->used && pod->cgroup[0] && !strcmp(pod->reg.pod_uid, r->pod_uid) &&
		  !strcmp(pod->reg.cgroup, r->cgroup);
	if (pod->used)
		shunt_workload_capture_free(&pod->capture);
	pod->capture = capture;
	pod->used = true;
	pod->seq = ++p->seq;
	pod->reg = *r;
	memcpy(pod->addrs, addrs, n * sizeof(addrs[0]));
	pod->n_addrs = n;
	if (!keep_cg) {
		pod->cgroup[0] = '\0';
		pod->backoff_ms = SHUNT_PODS_RETRY_MIN_MS;
		pod->next_try_ms = r->pod_uid[0] || r->cgroup[0] ? now_ms : SHUNT_PODS_NEVER;
	}
	return i;
}

int shunt_pods_del(struct shunt_pods *p, const char *container_id)
{
	int i = find(p, container_id);

	if (i < 0)
		return 0;
	shunt_workload_capture_free(&p->v[i].capture);
	memset(&p->v[i], 0, sizeof(p->v[i]));
	p->live--;
	/* trailing free slots can go at once: no identity after them moves */
	while (p->n && !p->v[p->n - 1].used)
		p->n--;
	return 1;
}

bool shunt_pods_compact(struct shunt_pods *p)
{
	size_t free_slots = p->n - p->live, j = 0;

	if (free_slots < 256 || free_slots <= p->live)
		return false;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].used)
			p->v[j++] = p->v[i];
	p->n = j;
	return true;
}

size_t shunt_pods_resolved(const struct shunt_pods *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->v[i].used && p->v[i].cgroup[0];
	return n;
}

/* A Kubernetes UID: hex digits and '-' (kubelet's name uses it as is). */
static bool uid_ok(const char *uid)
{
	size_t n = strlen(uid);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f') ||
		      (uid[i] >= 'A' && uid[i] <= 'F') || uid[i] == '-'))
			return false;
	return true;
}

bool shunt_pod_cgroup_match(const char *dirname, const char *pod_uid)
{
	size_t n, u;
	const char *tail;

	if (!uid_ok(pod_uid))
		return false;
	u = strlen(pod_uid);
	/* cgroupfs driver: kubepods/[burstable|besteffort/]pod<uid> */
	if (!strncmp(dirname, "pod", 3) && !strcmp(dirname + 3, pod_uid))
		return true;
	/* systemd driver: kubepods[-burstable|-besteffort]-pod<uid_>.slice */
	n = strlen(dirname);
	if (n < u + 10 || strcmp(dirname + n - 6, ".slice"))
		return false;
	tail = dirname + n - 6 - u - 4; /* "-pod" + uid + ".slice" */
	if (strncmp(tail, "-pod", 4))
		return false;
	for (size_t i = 0; i < u; i++) {
		char want = pod_uid[i] == '-' ? '_' : pod_uid[i];

		if (tail[4 + i] != want)
			return false;
	}
	return true;
}

uint64_t shunt_pods_next_retry(const struct shunt_pods *p)
{
	uint64_t t = SHUNT_PODS_NEVER;

	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].used && !p->v[i].cgroup[0] && p->v[i].next_try_ms < t)
			t = p->v[i].next_try_ms;
	return t;
}

static bool due(const struct shunt_pod *pod, uint64_t now_ms)
{
	return pod->used && !pod->cgroup[0] && pod->next_try_ms != SHUNT_PODS_NEVER &&
	       pod->next_try_ms <= now_ms;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* Depth-first walk; a matching directory is not descended (its children are
 * the containers). */
static int walk(struct shunt_pods *p, const char *dir, int depth, uint64_t now_ms)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	int found = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		bool matched = false;

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		for (size_t i = 0; i < p->n; i++) {
			struct shunt_pod *pod = &p->v[i];

			if (!due(pod, now_ms) ||
			    !shunt_pod_cgroup_match(e->d_name, pod->reg.pod_uid))
				continue;
			snprintf(pod->cgroup, sizeof(pod->cgroup), "%s", path);
			pod->next_try_ms = SHUNT_PODS_NEVER;
			matched = true;
			found++;
		}
		if (!matched && depth + 1 < SHUNT_PODS_MAX_DEPTH)
			found += walk(p, path, depth + 1, now_ms);
	}
	closedir(d);
	return found;
}

int shunt_pods_resolve_cgroups(struct shunt_pods *p, const char *search_root, const char *cg2_mount,
			       uint64_t now_ms)
{
	size_t mlen = cg2_mount ? strlen(cg2_mount) : 0;
	int found = 0;
	bool walk_needed = false;

	while (mlen > 1 && cg2_mount[mlen - 1] == '/')
		mlen--;
	for (size_t i = 0; i < p->n; i++) {
		struct shunt_pod *pod = &p->v[i];
		char path[PATH_MAX];
		const char *hint = pod->reg.cgroup;

		if (!due(pod, now_ms))
			continue;
		if (hint[0]) {
			/* a path under the mount as registered, else relative to it */
			if (mlen && strncmp(hint, cg2_mount, mlen))
				snprintf(path, sizeof(path), "%.*s%s%s", (int)mlen, cg2_mount,
					 hint[0] == '/' ? "" : "/", hint);
			else
				snprintf(path, sizeof(path), "%s", hint);
			if (is_dir(path)) {
				snprintf(pod->cgroup, sizeof(pod->cgroup), "%s", path);
				pod->next_try_ms = SHUNT_PODS_NEVER;
				found++;
				continue;
			}
		}
		walk_needed |= uid_ok(pod->reg.pod_uid);
	}
	if (walk_needed && search_root)
		found += walk(p, search_root, 0, now_ms);
	for (size_t i = 0; i < p->n; i++) {
		struct shunt_pod *pod = &p->v[i];

		if (!due(pod, now_ms))
			continue;
		if (!uid_ok(pod->reg.pod_uid) && !pod->reg.cgroup[0]) {
			pod->next_try_ms = SHUNT_PODS_NEVER;
			continue;
		}
		pod->next_try_ms = now_ms + pod->backoff_ms;
		pod->backoff_ms = pod->backoff_ms * 2 > SHUNT_PODS_RETRY_MAX_MS
					  ? SHUNT_PODS_RETRY_MAX_MS
					  : pod->backoff_ms * 2;
	}
	return found;
}

/* ---- merge ---- */

static void *own(struct shunt_pods_merged *m, void *ptr)
{
	if (!ptr)
		return NULL;
	if (m->n_owned == m->cap_owned) {
		size_t cap = m->cap_owned ? 2 * m->cap_owned : 32;
		void **v = realloc(m->owned, cap * sizeof(*v));

		if (!v) {
			free(ptr);
			return NULL;
		}
		m->owned = v;
		m->cap_owned = cap;
	}
	m->owned[m->n_owned++] = ptr;
	return ptr;
}

void shunt_pods_merged_free(struct shunt_pods_merged *m)
{
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	memset(m, 0, sizeof(*m));
}

static bool static_has(const struct shunt_config *c, const struct shunt_cidr *a)
{
	for (size_t i = 0; i < c->n_workloads; i++)
		for (size_t k = 0; k < c->workloads[i].n_addresses; k++)
			if (cidr_eq(&c->workloads[i].addresses[k], a))
				return true;
	return false;
}

static bool newer_pod_has(const struct shunt_pods *p, size_t self, const struct shunt_cidr *a)
{
	for (size_t i = 0; i < p->n; i++) {
		if (i == self || !p->v[i].used || p->v[i].seq < p->v[self].seq)
			continue;
		for (size_t k = 0; k < p->v[i].n_addrs; k++)
			if (cidr_eq(&p->v[i].addrs[k], a))
				return true;
	}
	return false;
}

static int find_static(const struct shunt_config *c, const char *ns, const char *name)
{
	for (size_t i = 0; i < c->n_workloads; i++)
		if (!strcmp(c->workloads[i].ns, ns) && !strcmp(c->workloads[i].name, name))
			return (int)i;
	return -1;
}

/* The static workload w gains the pod's addresses and cgroup (new arrays),
 * and its capture annotations unless w has its own capture settings. */
static int join_static(struct shunt_pods_merged *m, struct shunt_workload *w,
		       const struct shunt_cidr *a, size_t na, const char *cg,
		       const struct shunt_workload_capture *capture)
{
	struct shunt_cidr *addrs = own(m, calloc(w->n_addresses + na + 1, sizeof(*addrs)));
	char **cgs = own(m, calloc(w->cgroups.n + 2, sizeof(*cgs)));

	if (!addrs || !cgs)
		return -ENOMEM;
	if (w->n_addresses)
		memcpy(addrs, w->addresses, w->n_addresses * sizeof(*addrs));
	if (na)
		memcpy(addrs + w->n_addresses, a, na * sizeof(*addrs));
	w->addresses = addrs;
	w->n_addresses += na;
	if (w->cgroups.n)
		memcpy(cgs, w->cgroups.v, w->cgroups.n * sizeof(*cgs));
	if (cg)
		cgs[w->cgroups.n++] = (char *)cg;
	w->cgroups.v = cgs;
	if (w->sidecar != 0 && !shunt_workload_capture_set(&w->capture))
		w->capture = *capture; /* borrowed */
	return 0;
}

static int pod_workload(struct shunt_pods_merged *m, const struct shunt_config *base,
			const struct shunt_pod *pod, struct shunt_workload *x, struct shunt_cidr *a,
			size_t na)
{
	const char *td = base->options.trust_domain ? base->options.trust_domain : "cluster.local";
	const char *sa = "default";
	size_t len;

	if (pod->reg.service_account[0])
		sa = pod->reg.service_account;
	if (pod->reg.n_labels) {
		x->labels = own(m, calloc(pod->reg.n_labels, sizeof(*x->labels)));
		if (!x->labels)
			return -ENOMEM;
		for (size_t k = 0; k < pod->reg.n_labels; k++) {
			x->labels[k].key = (char *)pod->reg.labels[k].key;
			x->labels[k].value = (char *)pod->reg.labels[k].value;
		}
		x->n_labels = pod->reg.n_labels;
	}
	x->sidecar = pod->reg.sidecar;
	x->capture = pod->capture; /* borrowed */
	x->name = (char *)pod->reg.name;
	x->ns = (char *)pod->reg.ns;
	x->service_account = (char *)sa;
	len = strlen(td) + strlen(x->ns) + strlen(sa) + 16;
	x->principal = own(m, malloc(len));
	if (!x->principal)
		return -ENOMEM;
	snprintf(x->principal, len, "%s/ns/%s/sa/%s", td, x->ns, sa);
	x->addresses = a;
	x->n_addresses = na;
	if (pod->cgroup[0]) {
		x->cgroups.v = own(m, calloc(1, sizeof(char *)));
		if (!x->cgroups.v)
			return -ENOMEM;
		x->cgroups.v[0] = (char *)pod->cgroup;
		x->cgroups.n = 1;
	}
	return 0;
}

int shunt_pods_merge(const struct shunt_config *base, const struct shunt_pods *p,
		     struct shunt_pods_merged *m)
{
	size_t ns = base->n_workloads;
	struct shunt_workload *w;
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->cfg = *base;
	m->n_static = ns;
	m->n_pods = p->n;
	w = own(m, calloc(ns + p->n + 1, sizeof(*w)));
	if (!w) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (ns)
		memcpy(w, base->workloads, ns * sizeof(*w));
	for (size_t i = 0; i < p->n; i++) {
		const struct shunt_pod *pod = &p->v[i];
		struct shunt_workload *x = &w[ns + i];
		struct shunt_cidr *a;
		size_t na = 0;
		int j;

		/* a free slot: a placeholder no cgroup or address maps to */
		x->name = x->ns = x->service_account = (char *)"-";
		x->principal = (char *)"";
		x->sidecar = -1;
		if (!pod->used)
			continue;
		a = own(m, calloc(pod->n_addrs + 1, sizeof(*a)));
		if (!a) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (size_t k = 0; k < pod->n_addrs; k++) {
			if (static_has(base, &pod->addrs[k]) ||
			    newer_pod_has(p, i, &pod->addrs[k])) {
				m->dropped_addrs++;
				continue;
			}
			a[na++] = pod->addrs[k];
		}
		j = find_static(base, pod->reg.ns, pod->reg.name);
		if (j >= 0) {
			m->joined_static++;
			err = join_static(m, &w[j], a, na, pod->cgroup[0] ? pod->cgroup : NULL,
					  &pod->capture);
		} else {
			err = pod_workload(m, base, pod, x, a, na);
		}
		if (err)
			goto cleanup;
	}
	m->cfg.workloads = w;
	m->cfg.n_workloads = ns + p->n;
	return 0;
cleanup:
	shunt_pods_merged_free(m);
	return err;
}
