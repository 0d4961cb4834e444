/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure helpers of shuntd/shuntctl: option parsing, key and counter
 * formatting, Prometheus text. No I/O; unit-tested in tests/sockmap/.
 */
#ifndef SHUNT_SOCKMAP_OPTS_H
#define SHUNT_SOCKMAP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "shunt_bpf.h"

#define SHUNT_DEFAULT_PIN_DIR "/sys/fs/bpf/shunt"
#define SHUNT_OPTS_MAX_LIST   64

struct shunt_opt_cidr {
	struct shunt_cidr_key key; /* IPv4 as ::ffff:0:0/96 + prefix */
	char text[64];
};

/* Identity and policy tables compiled from --config for the interception
 * maps (filled by shuntd from the config library; the agent only copies). */
struct shunt_icpt_cg {
	uint64_t cgroup_id;
	struct shunt_ident v;
};
struct shunt_icpt_addr {
	struct shunt_cidr_key key;
	struct shunt_ident v;
};
struct shunt_icpt_l4 {
	struct shunt_l4_key key;
	uint32_t verdict;
};
/* shunt_out_cidrs entry (value SHUNT_CIDR_INCLUDE | SHUNT_CIDR_EXCLUDE) */
struct shunt_icpt_out_cidr {
	struct shunt_out_cidr_key key;
	uint32_t flags;
};
/* shunt_icpt_wports entry (value SHUNT_PORT_*) */
struct shunt_icpt_wport {
	struct shunt_wport_key key;
	uint32_t flags;
};
struct shunt_icpt_tables {
	struct shunt_icpt_cg *cg;
	size_t n_cg;
	struct shunt_icpt_addr *addr;
	size_t n_addr;
	struct shunt_icpt_l4 *l4;
	size_t n_l4;
	/* workloads[].capture: per-workload ranges (own identity) and ports */
	struct shunt_icpt_out_cidr *out_cidr;
	size_t n_out_cidr;
	struct shunt_icpt_wport *wport;
	size_t n_wport;
	bool policy; /* enforce l4 (a config with policies was given) */
};

#define SHUNT_ISTIO_PROXY_UID	  1337
#define SHUNT_ISTIO_OUTBOUND_PORT 15001
#define SHUNT_ISTIO_INBOUND_PORT  15006

struct shunt_opts {
	const char *cgroup;  /* NULL = cgroup v2 root */
	const char *pin_dir; /* SHUNT_DEFAULT_PIN_DIR */
	int ready_fd;	     /* -1 = none */
	const char *metrics; /* "ADDR:PORT" or NULL */
	const char *config;  /* --config FILE: its "accelerate" section adds to the flags */
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addr_len;
	uint16_t exclude_ports[SHUNT_OPTS_MAX_LIST];
	size_t n_exclude_ports;
	struct shunt_opt_cidr include[SHUNT_OPTS_MAX_LIST];
	size_t n_include;
	struct shunt_opt_cidr exclude[SHUNT_OPTS_MAX_LIST];
	size_t n_exclude;
	enum shunt_small_writes small_writes;
	uint32_t small_min_run;
	uint32_t small_max_avg;
	uint32_t small_max_avg_pod;
	bool verbose;
	/* interception (connect4/6 + getsockopt) */
	enum shunt_capture_mode capture;		/* --capture off|l7|istio */
	uint32_t proxy_uid;				/* --proxy-uid (default 1337; "none") */
	uint32_t proxy_mark;				/* --proxy-mark (0 = off) */
	const char *proxy_cgroups[SHUNT_OPTS_MAX_LIST]; /* --proxy-cgroup PATH */
	size_t n_proxy_cgroups;
	uint16_t outbound_port;			/* --outbound-port (15001) */
	uint16_t inbound_port;			/* --inbound-port (15006) */
	bool inbound_capture;			/* --inbound-capture on|off (on) */
	uint16_t excl_out[SHUNT_OPTS_MAX_LIST]; /* --exclude-outbound-port */
	size_t n_excl_out;
	uint16_t excl_in[SHUNT_OPTS_MAX_LIST]; /* --exclude-inbound-port */
	size_t n_excl_in;
	uint16_t incl_out[SHUNT_OPTS_MAX_LIST]; /* --include-outbound-port (includeOutboundPorts) */
	size_t n_incl_out;
	bool no_l7_proxy; /* --no-l7-proxy: Istio's TCP reduction of the L4 entries */
	bool l4_policy;	  /* --l4-policy on|off (on): enforce --config's policies at connect() */
	/* outbound capture ranges (global): --include-outbound-cidr CIDR|'*' (default '*'),
	 * --exclude-outbound-cidr CIDR, or the config's capture section */
	bool out_include_all;
	struct shunt_opt_cidr out_include[SHUNT_OPTS_MAX_LIST];
	size_t n_out_include;
	struct shunt_opt_cidr out_exclude[SHUNT_OPTS_MAX_LIST];
	size_t n_out_exclude;
	unsigned int
		set; /* SHUNT_OPT_SET_*: given as flags, so the config does not override them */
	const struct shunt_icpt_tables *tables; /* from --config; NULL = none */
	/* pod registry (shunt-cni): --cni-socket PATH serves it, --cni-state FILE persists it */
	const char *cni_socket;
	const char *cni_state;
};

/* shunt_opts.set: capture settings given on the command line (they win over
 * the config file's "capture" section; list flags add to the config's lists,
 * except the outbound include ranges, which replace them). */
#define SHUNT_OPT_SET_CAPTURE	  (1u << 0)
#define SHUNT_OPT_SET_PROXY_UID	  (1u << 1)
#define SHUNT_OPT_SET_PROXY_MARK  (1u << 2)
#define SHUNT_OPT_SET_OUT_PORT	  (1u << 3)
#define SHUNT_OPT_SET_IN_PORT	  (1u << 4)
#define SHUNT_OPT_SET_IN_CAPTURE  (1u << 5)
#define SHUNT_OPT_SET_L4_POLICY	  (1u << 6)
#define SHUNT_OPT_SET_NO_L7_PROXY (1u << 7)
#define SHUNT_OPT_SET_OUT_INCLUDE (1u << 8)

/*
 * Entries of shunt_out_cidrs made consistent (pure): entries with the same
 * key are merged, and each entry gets the flags of every entry of its
 * identity that contains it, so the kernel's longest match alone decides
 * "in an include range and in no exclude range". Sorts v; returns the new n.
 */
size_t shunt_out_cidrs_close(struct shunt_icpt_out_cidr *v, size_t n);
/* The entry for a trie CIDR (IPv4 mapped) of an identity. */
void shunt_out_cidr_entry(struct shunt_icpt_out_cidr *e, uint32_t identity,
			  const struct shunt_cidr_key *k, uint32_t flags);
/* Reading a closed set back (shuntctl): was entry i given as a `flag`
 * (SHUNT_CIDR_INCLUDE / _EXCLUDE) range? True when it has the flag and no
 * other entry of its identity that contains it has it (a range nested in
 * one of the same kind is redundant and not reported). */
bool shunt_out_cidr_listed(const struct shunt_icpt_out_cidr *v, size_t n, size_t i, uint32_t flag);
/* "10.0.0.0/8", "fd00::/64", or "*" for the whole address space. */
void shunt_format_out_cidr(char *buf, size_t len, const struct shunt_out_cidr_key *k);
/* Global entries (identity SHUNT_IDENT_ANY) from the options into v (room
 * for 2 * SHUNT_OPTS_MAX_LIST + 1); returns the count (not yet closed). */
size_t shunt_out_cidrs_global(const struct shunt_opts *o, struct shunt_icpt_out_cidr *v);

/* Istio's own ports, never captured in either direction (--capture istio). */
#define SHUNT_ISTIO_N_EXCLUDED 8
extern const uint16_t shunt_istio_excluded_ports[SHUNT_ISTIO_N_EXCLUDED];

/* Load and attach the interception programs? (capture on, or a policy to enforce) */
bool shunt_opts_intercept(const struct shunt_opts *o);
/* The shunt_capture map entry for these options. */
void shunt_capture_cfg_from_opts(const struct shunt_opts *o, struct shunt_capture_cfg *cfg);
/* SHUNT_PORT_* flags of a destination port (0: no entry). */
uint32_t shunt_icpt_port_flags(const struct shunt_opts *o, uint16_t port);
/* "off" | "l7" | "istio"; -EINVAL otherwise. */
int shunt_parse_capture(const char *s, enum shunt_capture_mode *m);
const char *shunt_capture_name(uint32_t m);

void shunt_opts_init(struct shunt_opts *o);

/* Parse shuntd's argv into *o. On error returns -EINVAL and writes one line to err. */
int shunt_opts_parse(struct shunt_opts *o, int argc, char **argv, char *err, size_t errlen);

/* Append to the lists (used for the config file's accelerate section). -E2BIG when full. */
int shunt_opts_add_port(struct shunt_opts *o, uint16_t port);
int shunt_opts_add_cidr(struct shunt_opts *o, bool include, const struct shunt_cidr_key *k,
			const char *text);

/* "10.0.0.0/8", "fd00::/64", "127.0.0.1" (= /32). Returns 0 or -EINVAL. */
int shunt_parse_cidr(const char *s, struct shunt_cidr_key *k);
/* "1..65535". Returns 0 or -EINVAL. */
int shunt_parse_port(const char *s, uint16_t *port);
/* "adaptive" | "redirect" | "pass". Returns 0 or -EINVAL. */
int shunt_parse_small_writes(const char *s, enum shunt_small_writes *m);
/* "127.0.0.1:9100", "[::1]:9100" (port 0: any free port). Only loopback
 * addresses are accepted. */
int shunt_parse_loopback_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

const char *shunt_small_writes_name(uint32_t m);
const char *shunt_conn_state_name(uint32_t s);
/* Counter name without prefix, e.g. "msgs_redirected"; NULL when out of range. */
const char *shunt_counter_name(unsigned int idx);
/* One-line help of a counter (Prometheus HELP). */
const char *shunt_counter_help(unsigned int idx);

/* "10.0.0.1:80" / "[fd00::1]:80"; netns printed separately. */
void shunt_format_endpoint(char *buf, size_t len, uint16_t family, const uint32_t *ip,
			   uint16_t port);
/* "10.0.0.0/8" / "fd00::/64" from a trie key. */
void shunt_format_cidr(char *buf, size_t len, const struct shunt_cidr_key *k);

/* Prometheus text exposition of the counters into f. */
void shunt_metrics_write(FILE *f, const uint64_t counters[SHUNT_CNT__MAX], size_t active_conns);

#endif
