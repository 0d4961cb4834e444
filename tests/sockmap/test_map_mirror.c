// SPDX-License-Identifier: Apache-2.0
/*
 * sockmap/map_mirror.c: a sync writes only new or changed records and deletes
 * only keys that went away, and a map synced that way always ends up holding
 * exactly the new records (checked against a simulated map, randomly).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "map_mirror.h"

/* a record like shunt_icpt_l4: key first, value after */
struct rec {
	uint32_t key[2];
	uint32_t val;
};

#define SIM_MAX 512
/* the simulated BPF map: a key -> value table */
struct sim {
	struct rec r[SIM_MAX];
	size_t n;
	size_t writes, deletes;
	int fail_after; /* fail the n-th callback (-1: never) */
};

static struct rec *sim_find(struct sim *s, const uint32_t *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->r[i].key, key, sizeof(s->r[i].key)))
			return &s->r[i];
	return NULL;
}

static int sim_fail(struct sim *s)
{
	return s->fail_after >= 0 && s->fail_after-- == 0;
}

static int sim_write(void *ctx, const void *p)
{
	struct sim *s = ctx;
	const struct rec *r = p;
	struct rec *e;

	if (sim_fail(s))
		return -EIO;
	s->writes++;
	e = sim_find(s, r->key);
	if (!e) {
		if (s->n == SIM_MAX)
			return -E2BIG;
		e = &s->r[s->n++];
	}
	*e = *r;
	return 0;
}

static int sim_del(void *ctx, const void *key)
{
	struct sim *s = ctx;
	struct rec *e;

	if (sim_fail(s))
		return -EIO;
	s->deletes++;
	e = sim_find(s, key);
	if (e)
		*e = s->r[--s->n];
	return 0;
}

/* What the agent does for an unknown map: delete every key not staged. */
static void sim_prune_unstaged(struct sim *s, const struct shunt_mirror *m)
{
	for (size_t i = 0; i < s->n;)
		if (!shunt_mirror_staged_has(m, s->r[i].key))
			sim_del(s, s->r[i].key);
		else
			i++;
}

static void init(struct shunt_mirror *m)
{
	shunt_mirror_init(m, sizeof(struct rec), sizeof(((struct rec *)0)->key),
			  offsetof(struct rec, val), sizeof(uint32_t));
}

/* One full sync (write + prune phases), as shunt_agent.c does it. */
static int sync(struct shunt_mirror *m, struct sim *s, const struct rec *r, size_t n)
{
	int err = shunt_mirror_stage(m, r, n);

	if (!err)
		err = shunt_mirror_write(m, sim_write, s, NULL);
	if (err)
		return err;
	if (m->valid)
		return shunt_mirror_prune(m, sim_del, s, NULL);
	sim_prune_unstaged(s, m);
	shunt_mirror_commit(m);
	return 0;
}

/* does the simulated map hold exactly these records (last of equal keys)? */
static int sim_holds(struct sim *s, const struct rec *r, size_t n)
{
	size_t distinct = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rec *last = &r[i];
		struct rec *e;
		size_t j;

		for (j = 0; j < i && memcmp(r[j].key, r[i].key, sizeof(r[i].key)); j++)
			;
		if (j < i)
			continue; /* counted at its first occurrence */
		distinct++;
		for (j = i + 1; j < n; j++)
			if (!memcmp(r[j].key, r[i].key, sizeof(r[i].key)))
				last = &r[j];
		e = sim_find(s, r[i].key);
		if (!e || e->val != last->val)
			return 0;
	}
	return s->n == distinct;
}

static void test_stage(void)
{
	struct shunt_mirror m;
	const struct rec in[] = {
		{{3, 0}, 30}, {{1, 0}, 10}, {{3, 0}, 31}, {{2, 0}, 20}, {{1, 0}, 11}};
	const struct rec *out;

	init(&m);
	CHECK(shunt_mirror_stage(&m, in, 5) == 0, "stage");
	out = m.next;
	CHECK(m.n_next == 3, "%zu unique keys", m.n_next);
	CHECK(out[0].key[0] == 1 && out[0].val == 11, "key 1: the last value wins, got %u",
	      out[0].val);
	CHECK(out[1].key[0] == 2 && out[1].val == 20, "key 2");
	CHECK(out[2].key[0] == 3 && out[2].val == 31, "key 3: the last value wins");
	CHECK(shunt_mirror_staged_has(&m, in[3].key), "staged_has 2");
	CHECK(!shunt_mirror_staged_has(&m, (uint32_t[2]){4, 0}), "staged_has 4");
	CHECK(shunt_mirror_stage(&m, NULL, 0) == 0 && m.n_next == 0, "empty stage");
	shunt_mirror_free(&m);
}

static void test_diff(void)
{
	struct shunt_mirror m;
	struct sim s = {.fail_after = -1};
	const struct rec v1[] = {{{1, 0}, 10}, {{2, 0}, 20}, {{3, 0}, 30}};
	const struct rec v2[] = {{{4, 0}, 40}, {{2, 0}, 21}, {{3, 0}, 30}};

	init(&m);
	CHECK(sync(&m, &s, v1, 3) == 0 && m.valid, "first sync");
	CHECK(s.writes == 3 && s.deletes == 0, "first sync writes everything: %zu", s.writes);
	s.writes = s.deletes = 0;
	CHECK(sync(&m, &s, v2, 3) == 0, "second sync");
	CHECK(s.writes == 2 && s.deletes == 1,
	      "only 2 changed (new 4, changed 2), 1 gone: %zu writes, %zu deletes", s.writes,
	      s.deletes);
	CHECK(sim_holds(&s, v2, 3), "map holds v2");
	s.writes = s.deletes = 0;
	CHECK(sync(&m, &s, v2, 3) == 0 && s.writes == 0 && s.deletes == 0,
	      "same records again: nothing written (%zu) or deleted (%zu)", s.writes, s.deletes);
	CHECK(sync(&m, &s, NULL, 0) == 0 && s.n == 0 && s.deletes == 3, "empty set deletes all");

	/* a failing write leaves the mirror invalid; the next sync rewrites all */
	CHECK(sync(&m, &s, v1, 3) == 0, "refill");
	s.fail_after = 0;
	CHECK(sync(&m, &s, v2, 3) == -EIO && !m.valid, "write error -> invalid");
	s.writes = s.deletes = 0;
	CHECK(sync(&m, &s, v2, 3) == 0 && s.writes == 3, "after an error: full rewrite (%zu)",
	      s.writes);
	CHECK(sim_holds(&s, v2, 3), "map holds v2 after the error");
	/* a failing delete too */
	s.fail_after = 2; /* the writes of 1 (new) and 2 (changed) pass, the delete of 4 fails */
	CHECK(sync(&m, &s, v1, 3) != 0 && !m.valid, "delete error -> invalid");
	CHECK(sync(&m, &s, v1, 3) == 0 && sim_holds(&s, v1, 3), "recovers");
	shunt_mirror_free(&m);
}

/* Random old/new sets, with duplicate keys and a map that also holds keys
 * the mirror never wrote (only a full sync removes those): after every sync
 * the map holds exactly the new records. */
static void test_random(void)
{
	struct shunt_mirror m;
	struct sim s = {.fail_after = -1};
	struct rec r[200];
	int bad = 0;

	srand(42);
	init(&m);
	/* keys shuntd never wrote: a replaced agent's leftovers */
	for (uint32_t k = 1000; k < 1010; k++)
		sim_write(&s, &(struct rec){{k, 7}, k});
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)(rand() % 200);

		for (size_t i = 0; i < n; i++)
			r[i] = (struct rec){{(uint32_t)(rand() % 150), (uint32_t)(rand() % 2)},
					    (uint32_t)(rand() % 4)};
		if (round % 50 == 49)
			shunt_mirror_invalidate(&m); /* e.g. an error elsewhere */
		if (sync(&m, &s, r, n) || !sim_holds(&s, r, n))
			bad++;
	}
	CHECK(bad == 0, "%d of 300 random syncs left the map wrong", bad);
	shunt_mirror_free(&m);
}

int main(void)
{
	test_stage();
	test_diff();
	test_random();
	return check_done("test_map_mirror");
}
