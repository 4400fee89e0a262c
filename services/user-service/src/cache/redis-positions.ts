/**
 * Read-your-writes positions (http/consistency.ts) shared through Redis: the newest consistency token of each
 * session or API key that wrote, for every process and instance to find. Keys `us:w:s:<session id>` and
 * `us:w:k:<api key id>`; values `<position>|<token>`, the token being the signed one the client also gets in
 * X-Consistency-Token (a position, no secret). A write that finishes after a newer one (two instances at once)
 * does not move the position back: the script keeps the larger. With Redis unreachable both calls do nothing
 * (the header still carries the guarantee).
 */
import type { SharedPositions } from '../http/consistency.js';
import type { RedisConnection } from './redis-connection.js';

const PREFIX = 'us:w:';

// Positions are WAL byte offsets, far below 2^53 for any real database, so Lua's numbers compare them exactly.
const KEEP_NEWEST = `
local current = redis.call('GET', KEYS[1])
if current then
  local position = tonumber(string.match(current, '^(%d+)|'))
  if position and position >= tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1`;

export function redisPositions(redis: RedisConnection): SharedPositions {
  return {
    async get(key) {
      const value = await redis.run('get', (client) => client.get(`${PREFIX}${key}`));
      const bar = value?.indexOf('|') ?? -1;
      return value && bar > 0 ? value.slice(bar + 1) : undefined;
    },
    async set(key, position, token, ttlMs) {
      await redis.run('position', (client) =>
        client.eval(KEEP_NEWEST, 1, `${PREFIX}${key}`, position.toString(), token, String(ttlMs)),
      );
    },
  };
}
