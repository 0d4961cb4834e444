/* SPDX-License-Identifier: Apache-2.0 */
/* Private helpers shared by the config/ sources. */
#ifndef SHUNT_CONFIG_INTERNAL_H
#define SHUNT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "shunt/config.h"

/* Diagnostics are first recorded with a JSON path and one of these markers
 * in .line; jpos_resolve() later fills line/column from the raw text. */
#define DIAG_AT_KEY   (-1) /* position of the member's key */
#define DIAG_AT_VALUE (-2) /* position of the value */

/* Validation context: current file, JSON path being visited, diagnostics. */
struct vctx {
	const char *file;
	struct shunt_diags *d;
	char path[SHUNT_DIAG_PATH_MAX];
	size_t plen;
	int nerr;
	bool oom;
};

size_t vctx_push_key(struct vctx *v, const char *key);
size_t vctx_push_index(struct vctx *v, size_t i);
void vctx_pop(struct vctx *v, size_t old);
/* Error about the value at the current path. */
void verr(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Error about the key of the member at the current path. */
void verr_key(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends ".key" or ["key"] (when not identifier-like) to buf. */
size_t json_path_append_key(char *buf, size_t len, size_t cap, const char *key, size_t klen);

/* Fills line/column of every diagnostic from index `first` on whose line is
 * DIAG_AT_KEY / DIAG_AT_VALUE by tokenizing `text`. Unresolved -> 0:0. */
void jpos_resolve(const char *text, size_t len, struct shunt_diags *d, size_t first);

void diags_sort(struct shunt_diags *d, size_t first);

/* compile.c: growable index list and string -> index-list hash map */
struct csub;

struct clist {
	uint32_t *v; /* clause indices */
	uint32_t n, cap;
	struct csub *sub; /* optional second-level index by principal (owned by the pindex) */
};

int clist_add(struct clist *l, uint32_t v);
void clist_free(struct clist *l);

/* String -> list of indices (open addressing). */
struct smap_ent {
	char *key;
	struct clist l;
};

struct smap {
	struct smap_ent *v;
	size_t cap, n;
};

struct smap_ent *smap_find(const struct smap *m, const char *key);
int smap_add(struct smap *m, const char *key, uint32_t val);
void smap_free(struct smap *m);

/* util.c */
char *xstrdup(const char *s);
void strlist_free(struct shunt_strlist *l);
int cidr_parse(const char *s, struct shunt_cidr *out, const char **why);
bool cidr_contains(const struct shunt_cidr *c, int family, const uint8_t *addr);
void cidr_format(const struct shunt_cidr *c, char *buf, size_t cap);
/* "1.2.3.4:80", "[::1]:80"; port required and 1..65535 (0 allowed if allow_port0). */
int sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why);
/* Extracts family + 16-byte address from a sockaddr (v4-mapped v6 -> v4). */
int sockaddr_key(const struct sockaddr *sa, int *family, uint8_t addr[16]);
size_t edit_distance(const char *a, const char *b);
/* The closest of known[] within a small distance, else NULL. */
const char *closest_key(const char *key, const char *const *known);
/* Does have[] hold every key=value of want[] (a label selector)? */
bool labels_include(const struct shunt_label *have, size_t n_have, const struct shunt_label *want,
		    size_t n_want);
/* Istio-style string match: "*", "prefix*", "*suffix" or exact. */
bool istio_str_match(const char *pattern, const char *s, size_t slen);

/* pathpat.c: path patterns of POLICY.md. */
enum pathpat_kind {
	PP_EXACT,    /* "/a/b" */
	PP_PREFIX,   /* "/a/" + "*": text is the prefix "/a/" */
	PP_SUFFIX,   /* "*" + ".png": text is the suffix */
	PP_ANY,	     /* "*" */
	PP_TEMPLATE, /* segments with {*} / {**} */
};
/* Validates a policy path pattern; returns 0 or -EINVAL with *why. */
int pathpat_validate(const char *pat, const char **why);
enum pathpat_kind pathpat_kind(const char *pat);
bool pathpat_match(const char *pat, const char *path, size_t plen, bool icase);

/* parse.c (shared with import.c) */
int parse_authz_policy(struct vctx *v, json_t *obj, struct shunt_authz_policy *out,
		       const struct shunt_options *opts, bool kubectl_object);
void authz_policy_free(struct shunt_authz_policy *p);
bool check_k8s_name(struct vctx *v, const char *s);
int config_parse_text(const char *text, size_t len, const char *name, json_t **root,
		      struct shunt_diags *d);
int check_unique_policies(struct vctx *v, const struct shunt_authz_policy *pol, size_t n,
			  size_t first_new);

#endif
