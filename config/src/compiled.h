/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private layout of struct shunt_policy.
 *
 * cpol: one compiled AuthorizationPolicy (deep copy, refcounted so that an
 *       incremental update shares unchanged ones).
 * dindex: the matcher for one destination: all clauses (rule x operation) of
 *       the policies selecting it, indexed by path per action. Workloads
 *       selected by the same set of policies share one dindex (refcounted).
 */
#ifndef SHUNT_CONFIG_COMPILED_H
#define SHUNT_CONFIG_COMPILED_H

#include "internal.h"
#include "shunt/policy.h"

struct ablock;

struct cpol {
	int refcnt;
	struct ablock *arena; /* owns everything below */
	char *qname;	      /* "ns/name" */
	char *ns;
	enum shunt_policy_action action;
	bool has_selector;
	struct shunt_label *match_labels;
	size_t n_match_labels;
	struct shunt_rule *rules; /* deep copy */
	size_t n_rules;
};

/* Known methods get one bit each; others are compared as strings. */
#define METHOD_OTHER 0u

struct clause {
	const struct cpol *pol;
	const struct shunt_rule *rule;
	const struct shunt_operation *op; /* NULL: rule has no `to` */
	uint32_t methods, not_methods;	  /* bitsets over known methods */
	bool has_http;			  /* methods/paths/hosts (or not-forms) present */
	struct shunt_rule rcopy;	  /* `rule` points here: one cache line less per check */
};

struct tnode; /* path trie node */

/* Second level for long clause lists: clauses that only principals from an
 * exact list can match are filed under each principal's hash; the rest are
 * "general". A lookup scans general + the caller's principal bucket. */
struct csub_ent {
	uint64_t h; /* principal_hash(); 0 = empty slot */
	struct clist l;
};

struct csub {
	struct clist general;
	struct csub_ent *tab;
	uint32_t mask;
};

#define CSUB_MIN 8 /* lists shorter than this are scanned directly */

uint64_t principal_hash(const char *s);
const struct csub_ent *csub_find(const struct csub *c, uint64_t h);

struct sfx_entry {
	char *suffix;
	size_t len;
	struct clist l;
};

struct pindex {
	struct tnode *root;
	void *arena;	       /* when set, root and everything under it live in this one block */
	struct clist nopath;   /* clauses without a paths field */
	struct sfx_entry *sfx; /* suffix patterns, sorted by length */
	size_t n_sfx;
	size_t n_clauses;
	struct csub **subs; /* every csub of this index, for freeing */
	size_t n_subs;
};

struct dindex {
	int refcnt;
	uint32_t *pols; /* sorted indices of selecting policies */
	size_t n_pols;
	struct cpol **cp; /* cpol pointers, same order */
	struct clause *cl;
	size_t n_cl;
	struct pindex act[3]; /* by enum shunt_policy_action */
	bool has_allow;
};

struct cworkload {
	char *qname; /* "ns/name" */
	char *ns;
	char *principal;
	uint64_t phash;		    /* principal_hash(principal) */
	struct shunt_label *labels; /* deep copies */
	size_t n_labels;
	struct shunt_cidr *addrs;
	size_t n_addrs;
};

struct addr_entry {
	struct shunt_cidr c;
	int idx;
};

/* Workload tables, shared (refcounted) between a policy and the policies
 * incrementally derived from it. */
struct wshared {
	int refcnt;
	struct cworkload *w;
	size_t n_w;
	struct addr_entry *hosts, *nets;
	struct smap by_label, by_ns; /* "key=value" / namespace -> workload indices */
};

/* A service (config "services"): its backends (workload indices) and TCP
 * ports; the L7 verdict for a clusterIP is the strictest over the backends. */
struct csvc {
	int *backends;
	size_t n_backends;
	struct shunt_service_port *ports;
	size_t n_ports;
	bool selected; /* a policy selects one of its backends */
};

struct shunt_policy {
	struct shunt_norm_opts norm;
	struct wshared *ws; /* owns w, hosts, nets below (aliases) */
	bool icase;
	char *root_ns;
	char **extra_roots; /* options.extraRootNamespaces */
	size_t n_extra_roots;
	uint64_t fingerprint; /* of workloads + options, for update */
	struct cworkload *w;
	size_t n_w;
	struct addr_entry *hosts; /* /32 and /128, sorted for bsearch */
	size_t n_hosts;
	struct addr_entry *nets; /* other CIDRs, longest prefix first */
	size_t n_nets;
	struct cpol **pols;
	size_t n_pols;
	struct dindex **dst; /* per workload; NULL: no policy selects it */
	struct csvc *svcs;   /* per service (shunt_policy_workload_by_addr: n_w + index) */
	size_t n_svcs;
	struct addr_entry *svc_hosts; /* clusterIPs -> service index, sorted for bsearch */
	size_t n_svc_hosts;
};

/* verdict.c: evaluation of one clause's non-path parts */
struct src_info {
	const char *principal; /* NULL: none */
	uint64_t phash;
	const char *ns;
	int family; /* 0: no address */
	uint8_t addr[16];
};
uint32_t method_bit(const char *m, size_t len);
bool clause_match(const struct clause *c, const struct src_info *s, uint32_t mbit,
		  const char *method, size_t mlen, const char *path, size_t plen, const char *host,
		  size_t hlen, uint16_t port, bool icase);

#endif

typedef bool (*clist_fn)(void *ctx, const struct clist *l);
bool pindex_visit(const struct pindex *x, const char *path, size_t plen, clist_fn fn, void *ctx);
