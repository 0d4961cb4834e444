// SPDX-License-Identifier: Apache-2.0
/*
 * Unit test of shunt-proxy's --user USER[:GROUP] parsing and resolution
 * (proxy/privs.c, pure part: lookups are tables here, never /etc/passwd),
 * and of the /proc status capability field parser.
 */
#include "check.h"
#include "privs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct fake_user {
	const char *name;
	uid_t uid;
	gid_t gid;
};
struct fake_group {
	const char *name;
	gid_t gid;
};

static const struct fake_user users[] = {
	{"root", 0, 0},		  {"istio-proxy", 1337, 1337}, {"www-data", 33, 33},
	{"nobody", 65534, 65534}, {"app.user", 2000, 3000},    {"svc$", 4000, 4001},
};
static const struct fake_group groups[] = {
	{"root", 0},
	{"nogroup", 65534},
	{"proxy", 13},
	{"staff-1", 50},
};

static int by_name(const char *name, uid_t *uid, gid_t *gid, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcmp(users[i].name, name) == 0) {
			*uid = users[i].uid;
			*gid = users[i].gid;
			return 0;
		}
	return -ENOENT;
}

static int by_uid(uid_t uid, gid_t *gid, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (users[i].uid == uid) {
			*gid = users[i].gid;
			return 0;
		}
	return -ENOENT;
}

static int group_by_name(const char *name, gid_t *gid, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i].name, name) == 0) {
			*gid = groups[i].gid;
			return 0;
		}
	return -ENOENT;
}

static const struct sp_user_lookup lk = {
	.user_by_name = by_name,
	.user_by_uid = by_uid,
	.group_by_name = group_by_name,
};

/* ok: 0 = parse error, 1 = resolve error, 2 = resolves to uid:gid; err: substring */
static const struct {
	const char *spec;
	int ok;
	unsigned uid, gid;
	const char *err;
} cases[] = {
	{"1337", 2, 1337, 1337, NULL}, /* no passwd entry needed; gid = uid */
	{"1337:1337", 2, 1337, 1337, NULL},
	{"istio-proxy", 2, 1337, 1337, NULL},
	{"www-data", 2, 33, 33, NULL},
	{"33", 2, 33, 33, NULL}, /* numeric uid with an entry: its primary group */
	{"app.user", 2, 2000, 3000, NULL},
	{"app.user:proxy", 2, 2000, 13, NULL},
	{"app.user:7", 2, 2000, 7, NULL},
	{"2000:staff-1", 2, 2000, 50, NULL},
	{"nobody:nogroup", 2, 65534, 65534, NULL},
	{"root", 2, 0, 0, NULL},
	{"0:0", 2, 0, 0, NULL},
	{"svc$", 2, 4000, 4001, NULL},
	{"4294967294", 2, 4294967294u, 4294967294u, NULL},
	{"4294967295", 0, 0, 0, "out of range"}, /* (uid_t)-1: "unchanged" to setresuid */
	{"99999999999", 0, 0, 0, "out of range"},
	{"", 0, 0, 0, "empty user"},
	{":1337", 0, 0, 0, "empty user"},
	{"1337:", 0, 0, 0, "empty group"},
	{"a:b:c", 0, 0, 0, "more than one"},
	{"-root", 0, 0, 0, "bad user name"},
	{"ro ot", 0, 0, 0, "bad user name"},
	{"root:gr/p", 0, 0, 0, "bad group name"},
	{"s$vc", 0, 0, 0, "bad user name"},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0, 0, "bad user name"}, /* 33 chars */
	{"-1", 0, 0, 0, "bad user name"},
	{"+5", 0, 0, 0, "bad user name"},
	{"nosuch", 1, 0, 0, "unknown user 'nosuch'"},
	{"root:nosuch", 1, 0, 0, "unknown group 'nosuch'"},
	{"1337:nosuch", 1, 0, 0, "unknown group"},
};

static void test_specs(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_user_spec s;
		char err[128] = "";
		uid_t uid = 12345;
		gid_t gid = 12345;
		int r = sp_user_spec_parse(cases[i].spec, &s, err, sizeof(err));

		if (cases[i].ok == 0) {
			CHECK(r == -EINVAL, "'%s' must not parse (got %d)", cases[i].spec, r);
			CHECK(strstr(err, cases[i].err), "'%s': error '%s' lacks '%s'",
			      cases[i].spec, err, cases[i].err);
			continue;
		}
		CHECK(r == 0, "'%s' must parse: %s", cases[i].spec, err);
		if (r)
			continue;
		r = sp_user_resolve(&s, &lk, &uid, &gid, err, sizeof(err));
		if (cases[i].ok == 1) {
			CHECK(r == -ENOENT, "'%s' must not resolve (got %d)", cases[i].spec, r);
			CHECK(strstr(err, cases[i].err), "'%s': error '%s' lacks '%s'",
			      cases[i].spec, err, cases[i].err);
			continue;
		}
		CHECK(r == 0, "'%s' must resolve: %s", cases[i].spec, err);
		CHECK(uid == cases[i].uid && gid == cases[i].gid, "'%s' -> %u:%u, want %u:%u",
		      cases[i].spec, (unsigned)uid, (unsigned)gid, cases[i].uid, cases[i].gid);
	}
	/* no lookups at all (static binary without NSS): numbers still work */
	{
		static const struct sp_user_lookup none = {0};
		struct sp_user_spec s;
		uid_t uid;
		gid_t gid;
		char err[128];

		CHECK(sp_user_spec_parse("1337", &s, err, sizeof(err)) == 0, "parse");
		CHECK(sp_user_resolve(&s, &none, &uid, &gid, err, sizeof(err)) == 0 &&
			      uid == 1337 && gid == 1337,
		      "numeric without lookups");
		CHECK(sp_user_spec_parse("root", &s, err, sizeof(err)) == 0, "parse");
		CHECK(sp_user_resolve(&s, &none, &uid, &gid, err, sizeof(err)) == -ENOENT,
		      "name without lookups");
	}
}

static void test_status(void)
{
	static const char st[] = "Name:\tshunt-proxy\nUid:\t1337\t1337\t1337\t1337\n"
				 "CapInh:\t0000000000000000\nCapPrm:\t0000000000000400\n"
				 "CapEff:\t000001ffffffffff\nCapBnd:\tzz\n";
	unsigned long long v = 7;

	CHECK(sp_status_cap(st, "CapPrm", &v) == 0 && v == 0x400, "CapPrm %llx", v);
	CHECK(sp_status_cap(st, "CapEff", &v) == 0 && v == 0x1ffffffffffULL, "CapEff %llx", v);
	CHECK(sp_status_cap(st, "CapInh", &v) == 0 && v == 0, "CapInh %llx", v);
	CHECK(sp_status_cap(st, "CapAmb", &v) == -ENOENT, "absent field");
	CHECK(sp_status_cap(st, "CapBnd", &v) == -EINVAL, "garbage field");
	CHECK(sp_status_cap(st, "Cap", &v) == -ENOENT, "prefix is not a field");
	CHECK(sp_status_cap("", "CapEff", &v) == -ENOENT, "empty status");
}

int main(void)
{
	test_specs();
	test_status();
	return check_done("test_privs");
}
