import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifySchemaCompiler } from 'fastify';
import { schemaCompilesOf } from '../src/app.js';
import { cachedSerializerFactory, cachedValidatorFactory, DeferredCompiles } from '../src/http/schema-compilers.js';
import { openTestApp } from './support/test-app.js';

describe('DeferredCompiles', () => {
  it('compiles on the first call only, and drain() compiles what no call needed', async () => {
    const deferred = new DeferredCompiles();
    const compiled: string[] = [];
    const make = (name: string) =>
      deferred.defer(() => {
        compiled.push(name);
        return (x: number) => `${name}:${x}`;
      });
    const a = make('a');
    const b = make('b');
    assert.deepEqual(compiled, [], 'nothing compiled when deferred');
    assert.equal(a(1), 'a:1');
    assert.equal(a(2), 'a:2');
    assert.deepEqual(compiled, ['a'], 'compiled once, at the first call');
    await deferred.drain((error) => assert.fail(String(error)));
    assert.deepEqual(compiled, ['a', 'b'], 'drain compiled the rest, and not a again');
    assert.equal(deferred.size, 0);
    assert.equal(b(3), 'b:3');
    assert.deepEqual(compiled, ['a', 'b']);
  });

  it('drain() reports a compile that throws and goes on; that function throws at its own call', async () => {
    const deferred = new DeferredCompiles();
    const broken = deferred.defer((): (() => string) => {
      throw new Error('bad schema');
    });
    const fine = deferred.defer(() => () => 'ok');
    const errors: unknown[] = [];
    await deferred.drain((error) => errors.push(error));
    assert.equal(errors.length, 1);
    assert.match((errors[0] as Error).message, /bad schema/);
    assert.equal(fine(), 'ok');
    assert.throws(() => broken(), /bad schema/);
  });

  it('drain() yields to the event loop between compiles', async () => {
    const deferred = new DeferredCompiles();
    const order: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      deferred.defer(() => {
        order.push(name);
        return () => name;
      });
    }
    const drained = deferred.drain((error) => assert.fail(String(error)));
    setImmediate(() => order.push('other work'));
    await drained;
    assert.ok(order.indexOf('other work') > 0 && order.indexOf('other work') < order.length - 1, order.join(', '));
  });
});

describe('cachedValidatorFactory', () => {
  it('compiles each distinct schema and part once, when first used', () => {
    const deferred = new DeferredCompiles();
    let compiles = 0;
    const compile: FastifySchemaCompiler<unknown> = () => {
      compiles++;
      return (data: unknown) => ({ value: data });
    };
    const factory = cachedValidatorFactory(compile, deferred) as unknown as () => FastifySchemaCompiler<unknown>;
    const compiler = factory();
    const route = (httpPart: string, schema: object) => ({ schema, httpPart, method: 'GET', url: '/x' });
    const v1 = compiler(route('body', { type: 'object' }));
    const v2 = compiler(route('body', { type: 'object' }));
    const v3 = compiler(route('querystring', { type: 'object' }));
    assert.equal(compiles, 0, 'none compiled before use');
    assert.equal(v1, v2, 'the same schema and part share one function');
    assert.notEqual(v1, v3, 'another part gets its own');
    (v1 as (d: unknown) => unknown)({});
    (v2 as (d: unknown) => unknown)({});
    assert.equal(compiles, 1);
    (v3 as (d: unknown) => unknown)({});
    assert.equal(compiles, 2);
  });
});

describe('cachedSerializerFactory', () => {
  it('shares one serializer per schema, compiled on first use, and it serializes by its schema only', () => {
    const deferred = new DeferredCompiles();
    const compiler = cachedSerializerFactory(deferred)([], undefined) as unknown as (
      route: object,
    ) => (d: unknown) => string;
    const schema = { type: 'object', properties: { id: { type: 'string' } } };
    const route = { schema, method: 'GET', url: '/x', httpStatus: '200' };
    const s1 = compiler(route);
    const s2 = compiler({ ...route, url: '/y' });
    assert.equal(s1, s2);
    assert.equal(s1({ id: 'a', hashed_password: 'secret' }), '{"id":"a"}', 'fields outside the schema are not written');
  });
});

describe('the app defers its schema compiles', () => {
  it('compiles none at ready(); every route schema compiles; listening drains them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'us-schemas-'));
    const url = `sqlite:///${join(dir, 'app.db')}`;
    const t = await openTestApp({ kind: 'sqlite', url }, { metrics: { token: 'm'.repeat(32) } });
    try {
      await t.app.ready();
      const deferred = schemaCompilesOf(t.app);
      assert.ok(deferred, 'the app has its deferred compiles');
      assert.ok(deferred.size > 30, `${deferred.size} compiles deferred at ready()`);
      const errors: unknown[] = [];
      await deferred.drain((error) => errors.push(error));
      assert.deepEqual(errors, [], 'every route schema compiles');
      assert.equal(deferred.size, 0);

      const second = await openTestApp({ kind: 'sqlite', url: `sqlite:///${join(dir, 'b.db')}` });
      try {
        await second.app.ready();
        const pending = schemaCompilesOf(second.app);
        assert.ok(pending && pending.size > 30, `second app: ${pending?.size} deferred`);
        await second.app.listen({ host: '127.0.0.1', port: 0 });
        const deadline = Date.now() + 20_000;
        while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(pending.size, 0, 'the onListen hook compiled the rest');
      } finally {
        await second.close();
      }
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
