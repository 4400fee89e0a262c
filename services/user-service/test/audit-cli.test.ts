/**
 * `user-service audit export` and `audit prune`, run as the real command in a child process against each
 * database, and AUDIT_RETENTION_DAYS as the running service applies it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { onEachDatabase } from '@user-service/data/testing';
import { InvalidArgumentError } from 'commander';
import { AuditService } from '../src/audit/audit.service.js';
import { auditEventsTable } from '../src/audit/audit-event.table.js';
import { recordAudit } from '../src/audit/audit-events.js';
import { startRetention } from '../src/audit/audit-retention.js';
import { parseDuration, parseTimestamp } from '../src/cli/audit.command.js';
import { usersTable } from '../src/users/user.table.js';
import { type CliResult, cli } from './support/cli.js';
import { openTestApp, type SignedIn, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const DAY = 86_400_000;
const API = '/api/v1';

interface Event {
  id: string;
  created_at: string;
  event: string;
  target_user_id: string | null;
}

const ok = (result: CliResult) => assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);

/** Each line of an NDJSON text, parsed on its own. */
function parseLines(text: string): Event[] {
  assert.ok(text.endsWith('\n') || text === '', 'ends with a newline');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Event);
}

// Most of the time goes into starting CLI processes, so the databases run side by side; the tests on one
// database share it, so they run one after another.
describe('user-service audit', { concurrency: true }, () => {
  onEachDatabase('user-service audit CLI', (db) =>
    describe('commands', { concurrency: 1 }, () => {
      let t: TestApp;
      let dir: string;
      let root: SignedIn;
      let alice: SignedIn;
      const secrets: string[] = [];

      /** The whole log as the API shows it, newest first, every page. */
      async function apiView(query = ''): Promise<Event[]> {
        const events: Event[] = [];
        let after: string | null = null;
        do {
          const cursor: string = after ? `&after=${encodeURIComponent(after)}` : '';
          const res = await t.app.inject({
            url: `${API}/audit-events?limit=7${query}${cursor}`,
            headers: root.headers,
          });
          assert.equal(res.statusCode, 200, res.body);
          const page = res.json() as { audit_events: Event[]; next_cursor: string | null };
          events.push(...page.audit_events);
          after = page.next_cursor;
        } while (after);
        return events;
      }

      function assertNoSecret(text: string): void {
        for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret was written');
        assert.doesNotMatch(text, /\$argon2|\$2[aby]\$/, 'a password hash was written');
      }

      before(async () => {
        t = await openTestApp(db, { defaultCredentials: false });
        dir = mkdtempSync(join(tmpdir(), 'us-audit-'));
        root = await t.signUp({ superuser: true });
        alice = await t.signUp();
        // Real actions (whatever the services record of them), then events at chosen times around them.
        const changed = await t.app.inject({
          method: 'POST',
          url: `${API}/auth/password`,
          headers: alice.headers,
          payload: { current_password: TEST_PASSWORD, new_password: `New-${TEST_PASSWORD}` },
        });
        assert.equal(changed.statusCode, 204, changed.body);
        const hash = (await t.database.repository(usersTable).get(alice.user.id, { secrets: ['hashed_password'] }))
          ?.hashed_password;
        secrets.push(TEST_PASSWORD, `New-${TEST_PASSWORD}`, t.apiKey, root.refresh_token, alice.refresh_token);
        if (hash) secrets.push(hash);
        const now = Date.now();
        for (let i = 0; i < 12; i++) {
          await recordAudit(
            t.database,
            { actorUserId: root.user.id, ip: '192.0.2.1', requestId: `r-${i}` },
            { event: i % 3 === 0 ? 'login.failed' : 'user.updated', target: alice.user.id, detail: { n: i } },
            new Date(now - (i + 1) * 3_600_000),
          );
        }
      });
      after(async () => {
        await t?.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('export writes NDJSON, oldest first, line for line what the API shows, filtered as the API filters; no secret', async () => {
        const file = join(dir, 'audit.ndjson');
        const from = new Date(Date.now() - 9.5 * 3_600_000).toISOString();
        const to = new Date(Date.now() - 2.5 * 3_600_000).toISOString();
        const filters = ['--user', alice.user.id, '--event', 'user.updated', '--from', from, '--to', to];
        // Both read only, so they run side by side: the whole log to a file, a filtered part to standard output.
        const [whole, part] = await Promise.all([
          cli(db, ['audit', 'export', '--output', file]),
          cli(db, ['audit', 'export', ...filters]),
        ]);
        ok(whole);
        ok(part);

        const text = readFileSync(file, 'utf8');
        const exported = parseLines(text);
        const api = await apiView();
        assert.ok(api.length >= 12, `${api.length} events`);
        assert.deepEqual(exported, api.reverse());
        assert.match(whole.stderr, new RegExp(`exported ${exported.length} events to `));
        assert.equal(whole.stdout, '');
        assertNoSecret(text + whole.stderr);

        const filtered = parseLines(part.stdout);
        // Hours 3..9 back, minus every third (login.failed): 3,5,6,8,9 -> n = 2,4,5,7,8.
        assert.deepEqual(
          filtered.map((e) => (e as unknown as { detail: { n: number } }).detail.n),
          [8, 7, 5, 4, 2],
        );
        const apiPart = await apiView(`&user_id=${alice.user.id}&event=user.updated&from=${from}&to=${to}`);
        assert.deepEqual(filtered, apiPart.reverse());
        assertNoSecret(part.stdout + part.stderr);
      });

      it('prune --dry-run counts (AUDIT_RETENTION_DAYS as the default age), prune deletes what is older', async () => {
        const repo = t.database.repository(auditEventsTable);
        const now = Date.now();
        for (const days of [200, 120, 100, 40]) {
          await recordAudit(
            t.database,
            undefined,
            { event: 'logout', target: alice.user.id },
            new Date(now - days * DAY),
          );
        }
        const total = await repo.count();

        // AUDIT_RETENTION_DAYS is the default age.
        const dry = await cli(db, ['audit', 'prune', '--dry-run'], { AUDIT_RETENTION_DAYS: '90' });
        ok(dry);
        assert.match(dry.stdout, /^would delete 3 audit events older than \S+ \(dry run\)\n$/);
        assert.equal(await repo.count(), total, 'a dry run deletes nothing');

        // --older-than wins over it.
        const pruned = await cli(db, ['audit', 'prune', '--older-than', '110d'], { AUDIT_RETENTION_DAYS: '90' });
        ok(pruned);
        assert.match(pruned.stdout, /^deleted 2 audit events older than /);
        assert.equal(await repo.count(), total - 2);
        assert.equal(await repo.count({ created_at: { lt: new Date(now - 110 * DAY).toISOString() } }), 0);
        assert.equal(await repo.count({ created_at: { lt: new Date(now - 90 * DAY).toISOString() } }), 1, 'newer kept');
      });

      it('AUDIT_RETENTION_DAYS: the service prunes once ready, and the daily prune uses its clock', async () => {
        const repo = t.database.repository(auditEventsTable);
        const now = Date.now();
        await recordAudit(t.database, undefined, { event: 'logout', target: alice.user.id }, new Date(now - 20 * DAY));
        await recordAudit(t.database, undefined, { event: 'logout', target: alice.user.id }, new Date(now - 8 * DAY));
        const older = (days: number) => repo.count({ created_at: { lt: new Date(now - days * DAY).toISOString() } });
        assert.ok((await older(10)) >= 1, 'something to prune');

        // A service with AUDIT_RETENTION_DAYS=10 on the same database prunes when it starts.
        const service = await openTestApp(db, { auditRetentionDays: 10 });
        try {
          await service.app.ready();
          for (let i = 0; i < 100 && (await older(10)) > 0; i++) await sleep(20);
          assert.equal(await older(10), 0, 'pruned at start');
          assert.equal(await older(5), 1, 'the 8-day-old event is kept');
        } finally {
          await service.close();
        }

        // The prune each tick runs, with the clock moved 3 days on: the 8-day-old event is now 11 days old.
        const retention = startRetention(new AuditService(t.database), {
          days: 10,
          now: () => new Date(now + 3 * DAY),
          log: { info: () => {}, warn: () => {} },
        });
        try {
          assert.equal(await retention.runOnce(), 1);
          assert.equal(await older(5), 0);
        } finally {
          await retention.stop();
        }
      });
    }),
  );

  // Arguments are checked before the database is opened, so one database is enough to show nothing changes.
  onEachDatabase(
    'user-service audit CLI refuses bad arguments',
    (db) => {
      it('with one line on stderr and exit 1, before touching the database', async () => {
        const t = await openTestApp(db);
        try {
          await recordAudit(t.database, undefined, { event: 'logout' }, new Date(Date.now() - 400 * DAY));
          const total = await t.database.repository(auditEventsTable).count();
          const runs = await Promise.all([
            cli(db, ['audit', 'export', '--event', 'user.exploded']),
            cli(db, ['audit', 'prune', '--older-than', '90x']),
            cli(db, ['audit', 'prune'], { AUDIT_RETENTION_DAYS: '0' }),
          ]);
          for (const result of runs) {
            assert.equal(result.code, 1, result.stderr);
            assert.match(result.stderr, /^error: [^\n]+\n$/);
            assert.equal(result.stdout, '');
          }
          assert.match(runs[2]?.stderr ?? '', /--older-than/);
          assert.equal(await t.database.repository(auditEventsTable).count(), total, 'nothing pruned');
        } finally {
          await t.close();
        }
      });

      it('parses durations and times strictly', () => {
        assert.equal(parseDuration('90d'), 90 * DAY);
        assert.equal(parseDuration('12h'), 12 * 3_600_000);
        assert.equal(parseDuration('30m'), 30 * 60_000);
        assert.equal(parseDuration('2w'), 14 * DAY);
        for (const bad of ['0d', '90', 'd', '-1d', '1.5d', '90 days', '1y', '']) {
          assert.throws(() => parseDuration(bad), InvalidArgumentError, bad);
        }
        assert.equal(parseTimestamp('2026-11-01T00:00:00+01:00'), '2026-10-31T23:00:00.000Z');
        assert.equal(parseTimestamp('2026-11-01'), '2026-11-01T00:00:00.000Z');
        for (const bad of ['yesterday', '1700000000', '2026-13-01T00:00:00Z', '']) {
          assert.throws(() => parseTimestamp(bad), InvalidArgumentError, bad);
        }
      });
    },
    ['sqlite'],
  );
});
