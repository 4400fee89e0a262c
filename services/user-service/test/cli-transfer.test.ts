/**
 * `user-service export` and `user-service import`, run as the real command in a child process against each
 * database, the way an operator moves a users table between databases or over from the Python services.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { onEachDatabase, type TestDbKind } from '@user-service/data/testing';
import { type PersonaRow, personasTable } from '../src/personas/persona.table.js';
import type { UserRow } from '../src/users/user.table.js';
import { usersTable } from '../src/users/user.table.js';
import { type CliResult, cli } from './support/cli.js';
import { emptyTables, openTestApp, type TestApp } from './support/test-app.js';

async function allUsers(t: TestApp): Promise<UserRow[]> {
  return (await t.database.repository(usersTable).list({ limit: 1000 }, { secrets: ['hashed_password'] })).items;
}

async function allPersonas(t: TestApp): Promise<PersonaRow[]> {
  return (await t.database.repository(personasTable).list({ limit: 1000 })).items;
}

/** The database an export from `kind` is moved to, besides a second one of its own kind. */
const NEXT_KIND: Record<string, TestDbKind> = { sqlite: 'postgres', postgres: 'mariadb', mariadb: 'sqlite' };

function ndjson(rows: object[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n');
}

function assertNoHash(result: CliResult, hashes: string[]): void {
  for (const h of hashes) {
    assert.ok(!result.stdout.includes(h) && !result.stderr.includes(h), 'a password hash was printed');
  }
}

// Most of the time goes into starting CLI processes, so the databases run side by side; the tests on one
// database share it, so they run one after another.
describe('user-service import and export', { concurrency: true }, () =>
  onEachDatabase('user-service import/export CLI', (db) =>
    describe('commands', { concurrency: 1 }, () => {
      let t: TestApp;
      let dir: string;
      let argonHash: string;
      let bcrypt: string;

      before(async () => {
        t = await openTestApp(db);
        dir = mkdtempSync(join(tmpdir(), 'us-transfer-'));
        argonHash = await t.hasher.hash('password-one');
        bcrypt = await bcryptHash('secret-password-1', { cost: 4 });
      });
      after(async () => {
        await t?.close();
        rmSync(dir, { recursive: true, force: true });
      });
      beforeEach(() => emptyTables(t.database));

      // The target is a second, fresh database of the same kind, as when moving a table between servers, and one
      // of the next kind, as when moving from SQLite to PostgreSQL (the README's example).
      onEachDatabase(
        'into another empty database',
        (targetDb) => {
          let target: TestApp;
          before(async () => {
            target = await openTestApp(targetDb);
          });
          after(() => target?.close());

          it('export then import round-trips every field, hashes included, as NDJSON and as CSV', async () => {
            const [ada, , zoe] = await t.database.repository(usersTable).createMany([
              {
                email: 'ada@example.com',
                username: 'ada.l',
                full_name: 'Ada, "the first" Lovelace\r\nsecond line',
                hashed_password: argonHash,
                is_superuser: true,
                is_verified: true,
                verified_at: '2019-05-07T00:00:00.250Z',
                created_at: '2019-05-06T07:08:09.123Z',
                updated_at: '2021-01-01T00:00:00.000Z',
              },
              { email: 'bob@example.com', hashed_password: bcrypt, is_active: false },
              { email: 'zoe@example.com', username: 'zoe', full_name: 'Zoë Ünïcode 🚀', hashed_password: argonHash },
              { email: 'carl@example.com', username: 'carl_2', hashed_password: bcrypt },
              { email: 'dora@example.com', full_name: '', hashed_password: argonHash },
            ]);
            // Three personas for Ada: more than a page of two, so the personas' cursor is followed too.
            await t.database.repository(personasTable).createMany([
              { user_id: ada!.id, name: 'Work', description: null, relation_type: 'colleague' },
              {
                user_id: ada!.id,
                name: 'Home, "sweet" home',
                description: 'Zoë\'s 🚀, with "quotes",\r\nand a line break',
                relation_type: 'family',
                status: 'archived',
                created_at: '2020-01-02T03:04:05.678Z',
                updated_at: '2020-06-07T08:09:10.000Z',
              },
              { user_id: ada!.id, name: 'x'.repeat(128), description: 'd'.repeat(255), relation_type: 'r'.repeat(32) },
              { user_id: zoe!.id, name: 'Club', description: '', relation_type: 'friend', status: 's'.repeat(32) },
            ]);
            const source = await allUsers(t);
            const sourcePersonas = await allPersonas(t);
            assert.equal(sourcePersonas.length, 4);
            const hashes = [argonHash, bcrypt];

            // NDJSON through stdout, in pages of two, so the keyset cursor is followed across pages.
            const exported = await cli(db, ['export', '--page-size', '2']);
            assert.equal(exported.code, 0, exported.stderr);
            assert.match(exported.stderr, /exported 5 users and 4 personas/);
            const lines = exported.stdout.trim().split('\n');
            assert.equal(lines.length, 5);
            // Each user line nests its personas, with a fixed set of fields and no user_id.
            const adaLine = lines.map((l) => JSON.parse(l)).find((u) => u.email === 'ada@example.com');
            assert.equal(adaLine.personas.length, 3);
            assert.equal(adaLine.is_verified, true);
            assert.equal(adaLine.verified_at, '2019-05-07T00:00:00.250Z');
            assert.deepEqual(Object.keys(adaLine.personas[0]), [
              'id',
              'name',
              'description',
              'relation_type',
              'status',
              'created_at',
              'updated_at',
            ]);
            const file = join(dir, 'users.ndjson');
            writeFileSync(file, exported.stdout);
            const imported = await cli(targetDb, ['import', file, '--batch-size', '2']);
            assert.equal(imported.code, 0, imported.stderr);
            assert.match(imported.stdout, /imported 5, failed 0, skipped 0 \(empty lines\); 4 personas/);
            assertNoHash(imported, hashes);
            assert.deepEqual(await allUsers(target), source);
            assert.deepEqual(await allPersonas(target), sourcePersonas);

            // CSV through a file; the format comes from the extension. CSV has no null/empty distinction, so the
            // empty full name comes back as null.
            await emptyTables(target.database);
            const csv = join(dir, 'users.csv');
            const csvExport = await cli(db, ['export', csv, '--page-size', '2']);
            assert.equal(csvExport.code, 0, csvExport.stderr);
            assert.match(readFileSync(csv, 'utf8'), /^id,email,username,full_name,hashed_password,is_active,/);
            assert.match(readFileSync(csv, 'utf8'), /^id,email,.*,updated_at,personas\r?\n/);
            const csvImport = await cli(targetDb, ['import', csv]);
            assert.equal(csvImport.code, 0, csvImport.stderr);
            assert.match(csvImport.stdout, /imported 5, failed 0.*; 4 personas/);
            const expected = source.map((u) => (u.full_name === '' ? { ...u, full_name: null } : u));
            assert.deepEqual(await allUsers(target), expected);
            // Inside the JSON cell, null and "" stay apart.
            assert.deepEqual(await allPersonas(target), sourcePersonas);
          });
        },
        [...new Set([db.kind, NEXT_KIND[db.kind] as TestDbKind])],
      );

      it('imports the good rows, reports each bad one with its line, and exits 1', async () => {
        await t.database.repository(usersTable).create({ email: 'taken@example.com', hashed_password: argonHash });
        const badHash = 'plain-text-secret-value';
        const file = join(dir, 'mixed.ndjson');
        writeFileSync(
          file,
          [
            ndjson([
              { email: 'Good1@Example.com', hashed_password: argonHash, is_active: 1 },
              { email: 'not an email', hashed_password: argonHash },
              { email: 'TAKEN@example.com', hashed_password: bcrypt },
              { email: 'bad-hash@example.com', hashed_password: badHash },
              { email: 'good1@example.com', hashed_password: bcrypt },
            ]),
            '',
            ndjson([
              { email: 'good2@example.com', username: 'Good.Two', hashed_password: bcrypt, is_superuser: 'true' },
              {
                email: 'good3@example.com',
                hashed_password: argonHash,
                created_at: '2020-02-29T12:00:00Z',
                is_verified: 'true',
                verified_at: '2020-03-01T00:00:00+01:00',
              },
              // Columns shifted by a broken export: the hash lands in email and must not be echoed.
              { email: bcrypt, username: argonHash, hashed_password: 'user@example.com' },
              { email: 'unsure@example.com', hashed_password: bcrypt, is_verified: 'yes', verified_at: 'soon' },
            ]),
          ].join('\n'),
        );
        const report = join(dir, 'errors.ndjson');
        // Batches of two: the batch holding line 3 hits the unique email and falls back to row by row.
        const result = await cli(db, ['import', file, '--errors', report, '--batch-size', '2']);
        assert.equal(result.code, 1);
        assert.match(result.stdout, /imported 3, failed 6, skipped 1/);
        assertNoHash(result, [argonHash, bcrypt, badHash]);
        assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');

        const errors = readFileSync(report, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { line: number; email: string | null; error: string })
          .sort((a, b) => a.line - b.line);
        assert.deepEqual(
          errors.map((e) => [e.line, e.email]),
          [
            [2, 'not an email'],
            [3, 'taken@example.com'],
            [4, 'bad-hash@example.com'],
            [5, 'good1@example.com'],
            [9, null],
            [10, 'unsure@example.com'],
          ],
        );
        // Field rules are the API's, with the API's messages (see import-rules.test.ts).
        assert.equal(errors[0]!.error, 'email: value is not a valid email address');
        assert.match(errors[1]!.error, /a user with email "taken@example.com" already exists/);
        assert.match(errors[2]!.error, /hashed_password is not an argon2id or bcrypt/);
        assert.match(errors[3]!.error, /appears earlier in the file \(line 1\)/);
        assert.match(errors[4]!.error, /^email: value is not a valid email address; username: String should /);
        assert.equal(
          errors[5]!.error,
          'is_verified must be true, false, 1 or 0; verified_at "soon" is not an ISO-8601 timestamp',
        );
        assert.ok(!readFileSync(report, 'utf8').includes(badHash));
        for (const e of errors) assert.match(result.stderr, new RegExp(`^line ${e.line}\\b.*`, 'm'));

        const users = await allUsers(t);
        assert.deepEqual(users.map((u) => u.email).sort(), [
          'good1@example.com',
          'good2@example.com',
          'good3@example.com',
          'taken@example.com',
        ]);
        const good2 = users.find((u) => u.email === 'good2@example.com');
        assert.equal(good2?.username, 'good.two');
        assert.equal(good2?.is_superuser, true);
        const good3 = users.find((u) => u.email === 'good3@example.com');
        assert.equal(good3?.created_at, '2020-02-29T12:00:00.000Z');
        assert.equal(good3?.is_verified, true);
        assert.equal(good3?.verified_at, '2020-02-29T23:00:00.000Z');
        // A record without the field is not verified.
        assert.equal(good2?.is_verified, false);
        assert.equal(good2?.verified_at, null);
      });

      it('checks personas with the API rules: a bad one rejects its user line, reported with the line', async () => {
        const owner = await t.database
          .repository(usersTable)
          .create({ email: 'owner@example.com', hashed_password: argonHash });
        const takenId = '018f0000-0000-7000-8000-000000000001';
        await t.database
          .repository(personasTable)
          .create({ id: takenId, user_id: owner.id, name: 'Taken', description: null, relation_type: 'self' });
        const sharedId = '018f0000-0000-7000-8000-0000000000aa';
        const user = (email: string, personas: unknown) => ({ email, hashed_password: bcrypt, personas });
        const file = join(dir, 'personas.ndjson');
        writeFileSync(
          file,
          ndjson([
            user('good1@example.com', [
              { id: sharedId.toUpperCase(), name: 'Work', relation_type: 'colleague' },
              { name: 'Home', description: 'family', relation_type: 'family', status: 'paused' },
            ]),
            user('long@example.com', [{ name: 'n'.repeat(129), relation_type: 'r'.repeat(33) }]),
            user('missing@example.com', [{ name: 'Gym', user_id: owner.id }]),
            user('case@example.com', [
              { name: 'Home', relation_type: 'family' },
              { name: 'HOME', relation_type: 'family' },
            ]),
            user('repeat@example.com', [{ id: sharedId, name: 'Work', relation_type: 'colleague' }]),
            user('shape@example.com', 'not an array'),
            user('fields@example.com', [
              { name: 'Nul\u0000name', description: 'd'.repeat(256), relation_type: 'x', status: '' },
              { name: 7, relation_type: 'x', created_at: 'yesterday' },
              'a string',
            ]),
            user('taken@example.com', [{ id: takenId, name: 'Mine', relation_type: 'self' }]),
            user('good2@example.com', [{ name: 'Café', description: null, relation_type: 'friend' }]),
            user('none@example.com', []),
          ]),
        );

        // --dry-run finds the same problems, the persona id already in the database included, and writes nothing.
        const dry = await cli(db, ['import', file, '--dry-run']);
        assert.equal(dry.code, 1, dry.stderr);
        assert.match(dry.stdout, /imported 0, failed 7, .*dry run: 3 valid, nothing written/);
        assert.match(dry.stderr, /^line 8 \(taken@example.com\): a persona with id "018f0000-[^"]*" already exists/m);
        assert.equal((await allUsers(t)).length, 1);

        const report = join(dir, 'persona-errors.ndjson');
        // Batches of two: lines 1 and 8 share one, which fails on the taken persona id and falls back to row by
        // row, each user with its personas in a transaction of its own.
        const result = await cli(db, ['import', file, '--errors', report, '--batch-size', '2']);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stdout, /imported 3, failed 7, skipped 0 \(empty lines\); 3 personas/);
        assertNoHash(result, [argonHash, bcrypt]);
        const errors = readFileSync(report, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { line: number; email: string | null; error: string })
          .sort((a, b) => a.line - b.line);
        assert.deepEqual(
          errors.map((e) => e.line),
          [2, 3, 4, 5, 6, 7, 8],
        );
        const messages = errors.map((e) => e.error);
        assert.equal(
          messages[0],
          'personas[0].name: String should have at most 128 characters; personas[0].relation_type: String should have at most 32 characters',
        );
        assert.equal(messages[1], 'personas[0]: unknown field "user_id"; personas[0].relation_type: Field required');
        assert.match(messages[2]!, /^personas\[1\]\.name "HOME" repeats personas\[0\]\.name/);
        assert.match(
          messages[3]!,
          /^personas\[0\]\.id "018f0000-[0-9a-f-]*aa" appears earlier in the file \(line 1\)$/,
        );
        assert.equal(messages[4], 'personas must be an array of objects');
        assert.equal(
          messages[5],
          [
            'personas[0].name: String should not contain NUL characters or unpaired surrogates',
            'personas[0].description: String should have at most 255 characters',
            'personas[0].status: String should have at least 1 character',
            'personas[1].name: Input should be a valid string',
            'personas[1].created_at "yesterday" is not an ISO-8601 timestamp',
            'personas[2] must be an object',
          ].join('; '),
        );
        assert.match(messages[6]!, /^a persona with id "018f0000-[^"]*01" already exists \(personas\[0\]\)$/);

        // Only the good users came in, each with its own personas, defaults filled in as the API would.
        const users = await allUsers(t);
        assert.deepEqual(users.map((u) => u.email).sort(), [
          'good1@example.com',
          'good2@example.com',
          'none@example.com',
          'owner@example.com',
        ]);
        const byId = new Map(users.map((u) => [u.id, u.email]));
        const personas = (await allPersonas(t))
          .map((p) => ({
            email: byId.get(p.user_id),
            id: p.id,
            name: p.name,
            description: p.description,
            relation_type: p.relation_type,
            status: p.status,
          }))
          .sort((a, b) => `${a.email} ${a.name}`.localeCompare(`${b.email} ${b.name}`));
        assert.deepEqual(
          personas.map(({ id: _id, ...rest }) => rest),
          [
            {
              email: 'good1@example.com',
              name: 'Home',
              description: 'family',
              relation_type: 'family',
              status: 'paused',
            },
            {
              email: 'good1@example.com',
              name: 'Work',
              description: null,
              relation_type: 'colleague',
              status: 'active',
            },
            { email: 'good2@example.com', name: 'Café', description: null, relation_type: 'friend', status: 'active' },
            { email: 'owner@example.com', name: 'Taken', description: null, relation_type: 'self', status: 'active' },
          ],
        );
        // A persona's id is kept (lower-cased), as a user's is.
        assert.equal(personas.find((p) => p.name === 'Work')?.id, sharedId);
      });

      it('reads personas from the CSV personas column; a CSV without the column imports users only', async () => {
        const file = join(dir, 'personas.csv');
        const cell = (value: unknown) => `"${JSON.stringify(value).replaceAll('"', '""')}"`;
        writeFileSync(
          file,
          [
            'email,hashed_password,personas',
            `one@example.com,${bcrypt},${cell([{ name: 'A, "b"', description: 'line\nbreak', relation_type: 'r' }])}`,
            `two@example.com,${bcrypt},`,
            `three@example.com,${bcrypt},"[{""name"": ""x""}"`,
            `four@example.com,${bcrypt},${cell({ name: 'not in an array' })}`,
            '',
          ].join('\n'),
        );
        const result = await cli(db, ['import', file]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stdout, /imported 2, failed 2.*; 1 persona with/);
        assert.match(result.stderr, /^line 4 \(three@example.com\): personas is not valid JSON$/m);
        assert.match(result.stderr, /^line 5 \(four@example.com\): personas must be an array of objects$/m);
        const users = await allUsers(t);
        assert.deepEqual(users.map((u) => u.email).sort(), ['one@example.com', 'two@example.com']);
        const [persona, ...others] = await allPersonas(t);
        assert.equal(others.length, 0);
        assert.equal(persona?.user_id, users.find((u) => u.email === 'one@example.com')?.id);
        assert.equal(persona?.name, 'A, "b"');
        assert.equal(persona?.description, 'line\nbreak');
      });

      it('--dry-run reports what would fail, including users already in the database, and writes nothing', async () => {
        await t.database.repository(usersTable).create({ email: 'taken@example.com', hashed_password: argonHash });
        const file = join(dir, 'dry.ndjson');
        writeFileSync(
          file,
          ndjson([
            { email: 'fresh@example.com', hashed_password: bcrypt },
            { email: 'taken@example.com', hashed_password: bcrypt },
            { email: 'fresh2@example.com', hashed_password: bcrypt, is_active: 'maybe' },
          ]),
        );
        const result = await cli(db, ['import', file, '--dry-run']);
        assert.equal(result.code, 1);
        assert.match(result.stdout, /imported 0, failed 2, .*dry run: 1 valid, nothing written/);
        assert.match(
          result.stderr,
          /^line 2 \(taken@example.com\): a user with email "taken@example.com" already exists$/m,
        );
        assert.match(result.stderr, /^line 3 \(fresh2@example.com\): is_active must be true, false, 1 or 0$/m);
        assert.deepEqual(
          (await allUsers(t)).map((u) => u.email),
          ['taken@example.com'],
        );
      });

      it('imports a CSV from the Python predecessor, whose bcrypt hash then verifies', async () => {
        const file = join(dir, 'legacy.txt');
        const header = 'id,email,username,full_name,hashed_password,is_active,is_superuser,created_at,updated_at';
        writeFileSync(
          file,
          [
            header,
            `3F2504E0-4F89-41D3-9A0C-0305E82C3301,Legacy@Example.COM,Legacy,"Old, User",${bcrypt},1,0,2022-03-04 05:06:07.891011,2022-03-04T05:06:07+02:00`,
            `,second@example.com,,,${bcrypt},maybe,0,,`,
            `,third@example.com,,,${bcrypt},1,0,2022-02-30 00:00:00,`,
            `,fourth@example.com,LEGACY,,${bcrypt},1,0,,`,
            '',
          ].join('\r\n'),
        );
        const result = await cli(db, ['import', file, '--format', 'csv']);
        assert.equal(result.code, 1);
        assert.match(result.stdout, /imported 1, failed 3/);
        assertNoHash(result, [bcrypt]);
        assert.match(result.stderr, /^line 3 \(second@example.com\): is_active must be true, false, 1 or 0$/m);
        assert.match(
          result.stderr,
          /^line 4 \(third@example.com\): created_at "2022-02-30 00:00:00" is not an ISO-8601/m,
        );
        assert.match(
          result.stderr,
          /^line 5 \(fourth@example.com\): username "legacy" appears earlier in the file \(line 2\)$/m,
        );

        const [legacy, ...others] = await allUsers(t);
        assert.equal(others.length, 0);
        assert.deepEqual(legacy, {
          id: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
          email: 'legacy@example.com',
          username: 'legacy',
          full_name: 'Old, User',
          hashed_password: bcrypt,
          is_active: true,
          is_superuser: false,
          // The predecessors had no verification: such a file's users are not verified.
          is_verified: false,
          verified_at: null,
          // Naive timestamps are UTC, as the predecessor stored them; offsets are honoured; microseconds cut.
          created_at: '2022-03-04T05:06:07.891Z',
          updated_at: '2022-03-04T03:06:07.000Z',
        });
        assert.equal((await t.hasher.verify('secret-password-1', legacy.hashed_password)).ok, true);
        assert.equal((await t.hasher.verify('wrong-password-1', legacy.hashed_password)).ok, false);
      });
    }),
  ),
);
