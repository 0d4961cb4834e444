// SPDX-License-Identifier: Apache-2.0
/*
 * config/default.json (the demo config) loads, compiles, means what the
 * README says (app1 only from app2 on port 80, GET under /public/ allowed,
 * /restricted denied), and its summary says so.
 */
#include <arpa/inet.h>
#include <stdlib.h>

#include "check.h"
#include "shunt/l4.h"

static int widx(const struct shunt_policy *p, const char *name)
{
	for (int i = 0; i < shunt_policy_workload_count(p); i++)
		if (!strcmp(shunt_policy_workload_name(p, i), name))
			return i;
	return -1;
}

static int verdict(const struct shunt_policy *p, const char *src, uint16_t port, const char *m,
		   const char *path, const char **pol)
{
	struct shunt_l7_query q = {.src_workload = widx(p, src),
				   .dst_workload = widx(p, "default/app1"),
				   .dst_port = port,
				   .method = m,
				   .method_len = strlen(m),
				   .path = path,
				   .path_len = strlen(path)};
	struct shunt_verdict v;

	shunt_policy_l7_verdict(p, &q, &v);
	*pol = v.policy;
	return v.action;
}

int main(int argc, char **argv)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	struct shunt_policy *p = NULL;
	const char *pol;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	err = shunt_config_load_file(argc > 1 ? argv[1] : "config/default.json", &c, &d);
	shunt_diags_print(&d, stderr);
	CHECK(err == 0, "load %d", err);
	if (err)
		goto cleanup;
	CHECK(c->n_workloads == 3 && c->proxy.n_listeners == 1 && c->proxy.has_admin, "shape");
	CHECK(c->proxy.listeners[0].upstream_original_dst, "original-dst");
	CHECK(c->proxy.limits.max_header_bytes == 16384 && c->proxy.limits.max_pipelined == 64,
	      "default limits");
	CHECK(!c->options.decode_escaped_slashes && !c->options.case_insensitive_paths, "options");
	err = shunt_policy_compile(c, &p, &d);
	CHECK(err == 0, "compile %d", err);
	if (err)
		goto cleanup;
	CHECK(verdict(p, "default/app2", 80, "GET", "/public/a", &pol) == SHUNT_ALLOW,
	      "app2 public");
	CHECK(verdict(p, "default/app2", 80, "GET", "/restricted", &pol) == SHUNT_DENY && pol &&
		      !strcmp(pol, "default/app1-no-restricted"),
	      "restricted");
	CHECK(verdict(p, "default/app3", 80, "GET", "/public/a", &pol) == SHUNT_DENY && pol &&
		      !strcmp(pol, "default-deny"),
	      "app3");
	f = open_memstream(&buf, &len);
	CHECK(shunt_config_summary(c, p, f) == 0, "summary");
	fclose(f);
	CHECK(buf && strstr(buf, "default/app1  principal cluster.local/ns/default/sa/app1"), "%s",
	      buf);
	CHECK(buf && strstr(buf, "default/app1-from-app2 ALLOW, selector app=app1; selects: "
				 "default/app1"),
	      "%s", buf);
	CHECK(buf && strstr(buf, "rule 1: from principals [cluster.local/ns/default/sa/app2] to "
				 "methods [GET] paths [/public/*] ports [80]"),
	      "%s", buf);
	CHECK(buf && strstr(buf, "port 80      default/app2: L7 proxy decides"), "%s", buf);
	CHECK(buf && strstr(buf, "default/app2: no policy selects it"), "%s", buf);
	CHECK(buf && strstr(buf, "127.0.0.1:15001") && strstr(buf, "127.0.0.1:15000"), "%s", buf);
	if (getenv("SHUNT_TEST_VERBOSE"))
		fputs(buf, stdout);
	free(buf);
	buf = NULL;
	/* without a compiled policy: the config part only */
	f = open_memstream(&buf, &len);
	CHECK(shunt_config_summary(c, NULL, f) == 0, "summary without policy");
	fclose(f);
	CHECK(buf && strstr(buf, "default/app1-no-restricted DENY") && !strstr(buf, "access ("),
	      "%s", buf);
	{
		struct sockaddr_storage a6 = {.ss_family = AF_INET6}, ax = {.ss_family = AF_UNIX};
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a6;
		char out[64], tiny[8];

		s6->sin6_port = htons(8080);
		inet_pton(AF_INET6, "fd00::1", &s6->sin6_addr);
		shunt_sockaddr_format(&a6, out, sizeof(out));
		CHECK(!strcmp(out, "[fd00::1]:8080"), "%s", out);
		shunt_sockaddr_format(&a6, tiny, sizeof(tiny));
		CHECK(!strcmp(tiny, "[fd00::"), "truncated %s", tiny);
		shunt_sockaddr_format(&c->proxy.admin, out, sizeof(out));
		CHECK(!strcmp(out, "127.0.0.1:15000"), "%s", out);
		shunt_sockaddr_format(&ax, out, sizeof(out));
		CHECK(!strcmp(out, "?"), "%s", out);
	}
cleanup:
	free(buf);
	shunt_policy_free(p);
	shunt_config_free(c);
	shunt_diags_free(&d);
	return check_done("test_default");
}
