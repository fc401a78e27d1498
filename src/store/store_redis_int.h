/* SPDX-License-Identifier: ISC */
/*
 * store_redis_int.h - what the Redis backend's files share (store_redis.c,
 * store_redis_scripts.c).
 */
#ifndef MOAT_STORE_REDIS_INT_H
#define MOAT_STORE_REDIS_INT_H

enum redis_script { RS_INCR, RS_TAKE, RS_COUNT, RS_SCAN, RS_DEL_MATCH, RS_N };

extern const char *const redis_scripts[RS_N];

#endif
