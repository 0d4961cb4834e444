/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What shuntd last wrote to one BPF hash map, so that the next sync writes
 * only the records that changed and deletes only the keys that went away:
 * with 20,000 services the policy map holds 280,000 entries, and a pod or
 * policy change touches a handful of them.
 *
 * Records are (key, value) structs of `stride` bytes with the key at offset 0
 * and the value at val_off. Pure (no I/O): the caller performs the writes and
 * deletes through callbacks.
 */
#ifndef SHUNT_MAP_MIRROR_H
#define SHUNT_MAP_MIRROR_H

#include <stdbool.h>
#include <stddef.h>

struct shunt_mirror {
	size_t stride, key_size, val_off, val_size; /* record layout, set once */
	void *recs; /* what the map holds: records sorted by key, keys unique */
	size_t n;
	bool valid; /* false: unknown (first sync, adopted maps, after an error) */
	void *next; /* being synced: the new records, sorted, keys unique */
	size_t n_next;
};

struct shunt_mirror_stats {
	size_t written, deleted;
};

void shunt_mirror_init(struct shunt_mirror *m, size_t stride, size_t key_size, size_t val_off,
		       size_t val_size);
void shunt_mirror_free(struct shunt_mirror *m);
/* Forget what the map holds (the next sync rewrites everything). */
void shunt_mirror_invalidate(struct shunt_mirror *m);

/* Stage n new records as m->next: sorted by key, and of records with equal
 * keys the last one kept (what writing them in order would leave). 0 or
 * -ENOMEM. */
int shunt_mirror_stage(struct shunt_mirror *m, const void *recs, size_t n);

/* Write phase: write(ctx, rec) for every staged record whose key is new or
 * whose value changed (every staged record when the mirror is not valid).
 * Stops at the first callback error and returns it (the mirror is then
 * invalid). */
int shunt_mirror_write(struct shunt_mirror *m, int (*write)(void *ctx, const void *rec), void *ctx,
		       struct shunt_mirror_stats *st);

/* Delete phase, for a valid mirror: del(ctx, key) for every key the map holds
 * that is not staged; a callback error stops and is returned (the mirror is
 * then invalid). On success the staged records become what the map holds. */
int shunt_mirror_prune(struct shunt_mirror *m, int (*del)(void *ctx, const void *key), void *ctx,
		       struct shunt_mirror_stats *st);

/* After the caller pruned an invalid mirror's map by other means: the staged
 * records become what the map holds. */
void shunt_mirror_commit(struct shunt_mirror *m);

/* Is key among the staged records? */
bool shunt_mirror_staged_has(const struct shunt_mirror *m, const void *key);

#endif
