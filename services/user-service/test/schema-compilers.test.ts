import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifySchemaCompiler } from 'fastify';
import { cachedValidatorFactory, DeferredCompiles } from '../src/http/schema-compilers.js';

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
