/* SPDX-License-Identifier: ISC */
/*
 * preempted.c - a bounded memory of the clients whose sessions a full house
 * took back (preempted.h): a direct-mapped table of PREEMPTED_SLOTS client
 * keys (IPv6: the /64) and times; a collision forgets the older entry,
 * which at worst lets that client take a slot once more.
 * SECURITY: keys are kernel-provided peer addresses; memory is fixed.
 */
#include <stdlib.h>

#include "common/xmalloc.h"
#include "smtp/preempted.h"

#define PREEMPTED_SLOTS 4096

struct slot {
	struct netaddr key;
	time_t when;
};

struct preempted {
	struct slot slots[PREEMPTED_SLOTS];
};

static void
key_of(const struct netaddr *na, struct netaddr *k)
{
	*k = *na;
	if (k->family == AF_INET6)
		netaddr_mask(k, 64);
}

static struct slot *
slot_of(const struct preempted *p, const struct netaddr *k)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < sizeof(k->addr); i++)
		h = (h ^ k->addr[i]) * 16777619u;
	return (struct slot *)&p->slots[h % PREEMPTED_SLOTS];
}

struct preempted *
preempted_new(void)
{
	return xcalloc(1, sizeof(struct preempted));
}

void
preempted_free(struct preempted *p)
{
	free(p);
}

void
preempted_note(struct preempted *p, const struct netaddr *na, time_t now)
{
	struct netaddr k;
	struct slot *s;

	key_of(na, &k);
	s = slot_of(p, &k);
	s->key = k;
	s->when = now;
}

int
preempted_lately(const struct preempted *p, const struct netaddr *na, time_t now)
{
	struct netaddr k;
	const struct slot *s;

	key_of(na, &k);
	s = slot_of(p, &k);
	return s->when != 0 && now - s->when < PREEMPTED_MEMORY &&
	       netaddr_equal(&s->key, &k);
}
