import { channel } from 'node:diagnostics_channel';

/**
 * What the services report about themselves, on Node's diagnostics channels: the services publish without
 * knowing who listens (metrics today), and a channel nobody subscribes to costs one property read, so a
 * service with metrics off does no work for them. Messages never carry a secret or a personal detail.
 */

export type LoginOutcome = 'success' | 'bad_credentials' | 'locked_out' | 'inactive' | 'unverified';

/** One password login attempt and how it ended (a refusal while locked out is a lockout). */
export const loginChannel = channel('user-service:login');
/** A refresh token presented a second time after its grace window: the session was ended. */
export const refreshReuseChannel = channel('user-service:refresh-reuse');
/** Sessions ended, how many and why (logout, password change, revoked, refresh reuse, ...). */
export const sessionsRevokedChannel = channel('user-service:sessions-revoked');
/** A list's total served from the count cache (hit) or counted (miss). */
export const countCacheChannel = channel('user-service:count-cache');
/** A password hashed or verified, and how long the work took (queueing excluded). */
export const passwordHashChannel = channel('user-service:password-hash');

export interface LoginMessage {
  outcome: LoginOutcome;
}
export interface SessionsRevokedMessage {
  reason: string;
  count: number;
}
export interface CountCacheMessage {
  hit: boolean;
}
export interface PasswordHashMessage {
  operation: 'hash' | 'verify';
  durationMs: number;
}

/** Publishes only when someone listens, so an unobserved event costs no message object. */
export function publishLogin(outcome: LoginOutcome): void {
  if (loginChannel.hasSubscribers) loginChannel.publish({ outcome } satisfies LoginMessage);
}

export function publishRefreshReuse(): void {
  if (refreshReuseChannel.hasSubscribers) refreshReuseChannel.publish({});
}

export function publishSessionsRevoked(reason: string, count: number): void {
  if (count > 0 && sessionsRevokedChannel.hasSubscribers) {
    sessionsRevokedChannel.publish({ reason, count } satisfies SessionsRevokedMessage);
  }
}

export function publishCountCache(hit: boolean): void {
  if (countCacheChannel.hasSubscribers) countCacheChannel.publish({ hit } satisfies CountCacheMessage);
}

/** Whether anyone times password hashes (then the hasher reads the clock around each). */
export function passwordHashObserved(): boolean {
  return passwordHashChannel.hasSubscribers;
}

export function publishPasswordHash(operation: PasswordHashMessage['operation'], durationMs: number): void {
  passwordHashChannel.publish({ operation, durationMs } satisfies PasswordHashMessage);
}

/** A lookup in the Redis user cache (user-cache.ts): hit, miss (read from the database), or bypass (Redis down). */
export const userCacheChannel = channel('user-service:user-cache');
/** One Redis command (or pipeline), how long it took and whether it answered. */
export const redisCommandChannel = channel('user-service:redis-command');
/** Redis became reachable (up) or unreachable. */
export const redisStateChannel = channel('user-service:redis-state');

export type CacheKeyKind = 'id' | 'email' | 'username' | 'session';
export type CacheResult = 'hit' | 'miss' | 'bypass';
export interface UserCacheMessage {
  kind: CacheKeyKind;
  result: CacheResult;
}
export interface RedisCommandMessage {
  command: string;
  durationMs: number;
  ok: boolean;
}
export interface RedisStateMessage {
  up: boolean;
}

export function publishUserCache(kind: CacheKeyKind, result: CacheResult): void {
  if (userCacheChannel.hasSubscribers) userCacheChannel.publish({ kind, result } satisfies UserCacheMessage);
}

/** Whether anyone times Redis commands (then the connection reads the clock around each). */
export function redisCommandObserved(): boolean {
  return redisCommandChannel.hasSubscribers;
}

export function publishRedisCommand(command: string, durationMs: number, ok: boolean): void {
  redisCommandChannel.publish({ command, durationMs, ok } satisfies RedisCommandMessage);
}

export function publishRedisState(up: boolean): void {
  if (redisStateChannel.hasSubscribers) redisStateChannel.publish({ up } satisfies RedisStateMessage);
}
