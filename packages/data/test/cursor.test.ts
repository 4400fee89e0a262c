import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidCursorError, MemoryStore } from '../src/index.js';
import { CursorCodec } from '../src/pagination.js';
import { authors } from './support/fixture-tables.js';

const position = { column: 'email', direction: 'asc' as const, value: 'a@x.io', id: 'id-1' };

describe('keyset cursors', () => {
  it('round-trips under one key, in any process that shares it', () => {
    const cursor = new CursorCodec('shared-secret').encode('authors', '{}', position);
    assert.deepEqual(new CursorCodec('shared-secret').decode('authors', '{}', cursor), position);
  });

  it('refuses a cursor signed with another key, for another table or another scope', () => {
    const cursor = new CursorCodec('key-one').encode('authors', '{}', position);
    assert.throws(() => new CursorCodec('key-two').decode('authors', '{}', cursor), InvalidCursorError);
    assert.throws(() => new CursorCodec().decode('authors', '{}', cursor), InvalidCursorError);
    assert.throws(() => new CursorCodec('key-one').decode('books', '{}', cursor), InvalidCursorError);
    assert.throws(() => new CursorCodec('key-one').decode('authors', '{"a":1}', cursor), InvalidCursorError);
  });

  it('refuses every single-character change and truncation of a genuine cursor', () => {
    const codec = new CursorCodec('k');
    const cursor = codec.encode('authors', '{}', position);
    for (let i = 0; i < cursor.length; i++) {
      const c = cursor[i] === 'A' ? 'B' : 'A';
      const altered = cursor.slice(0, i) + c + cursor.slice(i + 1);
      if (altered === cursor) continue;
      assert.throws(() => codec.decode('authors', '{}', altered), InvalidCursorError, altered);
      assert.throws(() => codec.decode('authors', '{}', cursor.slice(0, i)), InvalidCursorError);
    }
  });

  it("lets stores that share a secret continue each other's pages (several workers), and no others", async () => {
    const a = new MemoryStore({ cursorSecret: 'workers-share-this' });
    const b = new MemoryStore({ cursorSecret: 'workers-share-this' });
    const c = new MemoryStore({ cursorSecret: 'another-deployment' });
    for (const store of [a, b, c]) {
      for (let i = 0; i < 3; i++) await store.repository(authors).create({ email: `m${i}@x.io`, id: `id-${i}` });
    }
    const first = await a.repository(authors).list({ limit: 1 });
    assert.ok(first.nextCursor);
    const second = await b.repository(authors).list({ after: first.nextCursor, limit: 1 });
    assert.deepEqual(
      second.items.map((x) => x.email),
      ['m1@x.io'],
    );
    await assert.rejects(c.repository(authors).list({ after: first.nextCursor }), InvalidCursorError);
  });
});
