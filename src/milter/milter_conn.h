/* SPDX-License-Identifier: ISC */
/*
 * milter_conn.h - one SMTP session's conversation with one milter.
 *
 * The connection is made when it is first needed (milter_negotiate), with
 * the option negotiation. Then the owner sends the steps the milter wants
 * and asks for one reply at a time (milter_ask); modification
 * replies before the final one go to the mods callback. Every ask is
 * answered once, from the event loop, within timeout_connect_ms (while
 * connecting) and timeout_ms per reply (a progress reply starts it over).
 * After a failure the connection is dead: every later ask fails at once.
 */
#ifndef MOAT_MILTER_CONN_H
#define MOAT_MILTER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "milter/milter_proto.h"

struct event_base;
struct evbuffer;
struct ext_service_conf;
struct milter_conn;

/* the answer to an ask: r (the final reply: continue, accept, reject,
 * tempfail, discard, skip, reply code), or NULL with why */
typedef void (*milter_cb)(void *arg, const struct milter_reply *r, const char *why);
/* a modification reply (end of message), before the final one */
typedef void (*milter_mod_cb)(void *arg, const struct milter_reply *r);

struct milter_conn *milter_conn_new(struct event_base *base,
                                    const struct ext_service_conf *conf);
/* milter_conn_free - QUIT if it is up, and close; no callback runs after */
void milter_conn_free(struct milter_conn *mc);

/* milter_negotiate - connect and negotiate; cb with a CONTINUE reply when
 * the milter is ready (milter_protocol() then tells what it wants), or
 * NULL and why. The first call on a connection, and only once. */
void milter_negotiate(struct milter_conn *mc, milter_cb cb, void *arg);
/* milter_write - queue packets that want no reply (taken from pkts) */
void milter_write(struct milter_conn *mc, struct evbuffer *pkts);
/* milter_ask - queue packets (taken from pkts); the last wants a reply */
void milter_ask(struct milter_conn *mc, struct evbuffer *pkts, milter_cb cb,
                milter_mod_cb mods, void *arg);
/* milter_backlog - octets queued and not yet sent (body pacing) */
size_t milter_backlog(const struct milter_conn *mc);
/* milter_drained - cb(arg) once the backlog is under low octets, or the
 * milter died (milter_dead()); only with a backlog */
void milter_drained(struct milter_conn *mc, size_t low, void (*cb)(void *), void *arg);

/* after the negotiation: the milter's protocol flags (SMFIP_*) and the
 * actions it may take (SMFIF_*); 0 before */
uint32_t milter_protocol(const struct milter_conn *mc);
uint32_t milter_actions(const struct milter_conn *mc);
/* milter_dead - it failed: no more asking */
int milter_dead(const struct milter_conn *mc);
/* milter_why - what killed it */
const char *milter_why(const struct milter_conn *mc);

#endif
