/* SPDX-License-Identifier: ISC */
/*
 * store_redis_scripts.c - the Lua scripts of the Redis backend: every
 * read-modify-write of the store interface as one atomic step on the
 * server (a get is GET and PTTL, store_redis.c), with the semantics of
 * the LMDB backend (store_lmdb_ops.c):
 * counters are decimal text, a bucket holds its GCRA tat, a summed counter
 * (store_count) is a hash whose fields are the shares, "COUNT:EXPIRES_MS"
 * (Redis 7.0 has no expiry per field), and expired shares are dropped as
 * they are met. Times are the client's milliseconds (store_now), as LMDB
 * keeps them.
 * SECURITY: keys and values are arguments, never spliced into a script;
 * the scripts are constants.
 */
#include "store/store_redis_int.h"

/* INCR: ARGV delta, ttl_ms, refresh; the TTL is set when the counter is
 * made, or on every call with refresh */
static const char incr_lua[] = "local made = redis.call('EXISTS', KEYS[1]) == 0\n"
                               "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
                               "local ttl = tonumber(ARGV[2])\n"
                               "if made or ARGV[3] == '1' then\n"
                               "  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl)\n"
                               "  else redis.call('PERSIST', KEYS[1]) end\n"
                               "end\n"
                               "return v\n";

/* TAKE: ARGV now, capacity, refill_ms, cost; store_bucket_take() in Lua:
 * {allowed, remaining, wait_ms} */
static const char take_lua[] =
    "local now, cap = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local t, cost = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local tat = now\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  tat = tonumber(v)\n"
    "  if not tat then return redis.error_reply('not a counter') end\n"
    "end\n"
    "local limit = cap * t\n"
    "local used = 0\n"
    "if tat > now then used = tat - now end\n"
    "if used > limit then used = limit end\n"
    "local remaining = math.floor((limit - used) / t)\n"
    "if cost > cap then return {0, remaining, 4294967295} end\n"
    "local need = used + cost * t\n"
    "if need > limit then\n"
    "  local w = need - limit\n"
    "  if w > 4294967295 then w = 4294967295 end\n"
    "  return {0, remaining, w}\n"
    "end\n"
    "if cost > 0 then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', now + need), 'PXAT', now + need)\n"
    "end\n"
    "return {1, math.floor((limit - need) / t), 0}\n";

/* A share's field is "wPID@TAG": it counts while PREFIX.."host:@TAG" lives
 * (the host's heartbeat, smtpd.c); a field without a tag always counts.
 * (Keys reached this way are not declared: one Redis, not a cluster.) */
#define HOST_ALIVE                                                                       \
	"local alive = {}\n"                                                             \
	"local function live(f)\n"                                                       \
	"  local tag = string.match(f, '(@[^@]*)$')\n"                                   \
	"  if not tag then return true end\n"                                            \
	"  if alive[tag] == nil then\n"                                                  \
	"    alive[tag] = redis.call('EXISTS', HOSTS .. tag) == 1\n"                     \
	"  end\n"                                                                        \
	"  return alive[tag]\n"                                                          \
	"end\n"

/* COUNT: KEYS[1] the counter's hash; ARGV field, delta, max, ttl_ms, now,
 * the hosts' key prefix. The sum of the live shares of live hosts, or
 * (refused, nothing changed) the sum it would have been. */
static const char count_lua[] =
    "local field, delta = ARGV[1], tonumber(ARGV[2])\n"
    "local max, ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local HOSTS = ARGV[6]\n" HOST_ALIVE "local sum, mine, mine_exp = 0, 0, 0\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local c, e = string.match(all[i + 1], '^(-?%d+):(%d+)$')\n"
    "  c, e = tonumber(c), tonumber(e)\n"
    "  if c and (e == 0 or e > now) and not live(all[i]) then\n"
    "    c = nil\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  elseif c and (e == 0 or e > now) then\n"
    "    if c > 0 then sum = sum + c end\n"
    "    if all[i] == field then mine, mine_exp = c, e end\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "end\n"
    "if mine < 0 then mine = 0 end\n"
    "if delta == 0 then return sum end\n"
    "if delta > 0 and max > 0 and sum + delta > max then return sum + delta end\n"
    "local new = mine + delta\n"
    "if new < 0 then new = 0 end\n"
    "if new == 0 then\n"
    "  redis.call('HDEL', KEYS[1], field)\n"
    "else\n"
    "  local exp = mine_exp\n"
    "  if delta > 0 then\n"
    "    if ttl > 0 then exp = now + ttl else exp = 0 end\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], field, string.format('%d:%d', new, exp))\n"
    "  if exp > 0 then\n"
    "    if redis.call('PTTL', KEYS[1]) < exp - now then\n"
    "      redis.call('PEXPIREAT', KEYS[1], exp)\n"
    "    end\n"
    "  else\n"
    "    redis.call('PERSIST', KEYS[1])\n"
    "  end\n"
    "end\n"
    "return sum - mine + new\n";

/* SCAN: ARGV pattern, now, the hosts' key prefix. Every live entry under
 * the pattern, a summed counter's shares of live hosts as entries of their
 * own (hash key .. field): {key, value, pttl, ...}. One call: the store's
 * scans are an administrator's (moatctl) and the sweeper's, not the mail
 * path's. */
static const char scan_lua[] =
    "local out, cursor, now = {}, '0', tonumber(ARGV[2])\n"
    "local HOSTS = ARGV[3]\n" HOST_ALIVE "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local ty = redis.call('TYPE', k)['ok']\n"
    "    if ty == 'string' then\n"
    "      local v = redis.call('GET', k)\n"
    "      if v then\n"
    "        out[#out + 1] = k\n"
    "        out[#out + 1] = v\n"
    "        out[#out + 1] = redis.call('PTTL', k)\n"
    "      end\n"
    "    elseif ty == 'hash' then\n"
    "      local all = redis.call('HGETALL', k)\n"
    "      for i = 1, #all, 2 do\n"
    "        local c, e = string.match(all[i + 1], '^(-?%d+):(%d+)$')\n"
    "        e = tonumber(e)\n"
    "        if c and (e == 0 or e > now) and live(all[i]) then\n"
    "          out[#out + 1] = k .. all[i]\n"
    "          out[#out + 1] = c\n"
    "          if e == 0 then out[#out + 1] = -1 else out[#out + 1] = e - now end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return out\n";

/* DEL_MATCH: ARGV pattern, suffix; entries and shares whose key ends in
 * the suffix go; how many */
static const char del_match_lua[] =
    "local n, cursor, suf = 0, '0', ARGV[2]\n"
    "local sl = #suf\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local ty = redis.call('TYPE', k)['ok']\n"
    "    if ty == 'string' then\n"
    "      if sl == 0 or string.sub(k, -sl) == suf then\n"
    "        redis.call('DEL', k)\n"
    "        n = n + 1\n"
    "      end\n"
    "    elseif ty == 'hash' then\n"
    "      for _, f in ipairs(redis.call('HKEYS', k)) do\n"
    "        local vk = k .. f\n"
    "        if sl == 0 or string.sub(vk, -sl) == suf then\n"
    "          redis.call('HDEL', k, f)\n"
    "          n = n + 1\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return n\n";

const char *const redis_scripts[RS_N] = {
    [RS_INCR] = incr_lua, [RS_TAKE] = take_lua,           [RS_COUNT] = count_lua,
    [RS_SCAN] = scan_lua, [RS_DEL_MATCH] = del_match_lua,
};
