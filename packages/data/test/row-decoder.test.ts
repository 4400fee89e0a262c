import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTimestamp, rowDecoder } from '../src/row-decoder.js';
import type { ColumnType } from '../src/table.js';

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** What decoding did before the fast path: parse and format, or the error that gives. */
function viaDate(value: unknown): string | Error {
  try {
    return (value instanceof Date ? value : new Date(value as string)).toISOString();
  } catch (error) {
    return error as Error;
  }
}

function decoded(value: unknown): string | Error {
  try {
    return decodeTimestamp(value);
  } catch (error) {
    return error as Error;
  }
}

describe('row decoder', () => {
  it('decodes every timestamp exactly as parsing and formatting it does, out-of-range fields included', () => {
    for (const year of [0, 1900, 1970, 2000, 2023, 2024, 2100, 2400, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          for (const [h, m, s] of [
            [0, 0, 0],
            [23, 59, 59],
            [24, 0, 0],
            [12, 60, 0],
            [12, 0, 60],
          ]) {
            const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(h!, 2)}:${pad(m!, 2)}:${pad(s!, 2)}.123Z`;
            const expected = viaDate(text);
            const got = decoded(text);
            if (expected instanceof Error) {
              assert.ok(got instanceof Error && got.message === expected.message, text);
            } else {
              assert.equal(got, expected, text);
            }
          }
        }
      }
    }
    for (const other of [
      '2024-01-01T00:00:00Z',
      '2024-01-01 00:00:00.000',
      '2024-01-01T00:00:00.000+01:00',
      '+002024-01-01T00:00:00.000Z',
      '2024-01-01T00:00:00.000z',
      new Date(Date.UTC(2024, 1, 29, 13, 14, 15, 16)),
      1_700_000_000_000,
    ]) {
      assert.equal(decoded(other), viaDate(other), String(other));
    }
  });

  it('returns only the selected columns, each decoded by its type, null for null or missing', () => {
    const types = new Map<string, ColumnType>([
      ['id', 'string'],
      ['n', 'integer'],
      ['on', 'boolean'],
      ['at', 'timestamp'],
      ['secret', 'string'],
    ]);
    const columns = ['id', 'n', 'on', 'at'];
    const decode = rowDecoder(types, columns);
    assert.equal(rowDecoder(types, columns), decode, 'made once per column list');
    const row = decode({ id: 7, n: '12', on: 1, at: '2024-03-01 10:00:00', secret: 'hash', extra: 1 });
    assert.deepEqual(row, { id: '7', n: 12, on: true, at: '2024-03-01T10:00:00.000Z' });
    assert.deepEqual(Object.keys(row), columns);
    assert.deepEqual(decode({ id: 'a', n: null, on: '0' }), { id: 'a', n: null, on: false, at: null });
    for (const truthy of [true, 1, '1']) assert.equal(decode({ on: truthy }).on, true);
    for (const falsy of [false, 0, '0', 't']) assert.equal(decode({ on: falsy }).on, false);
  });

  it('keeps a column named like a special property a plain own property', () => {
    const types = new Map<string, ColumnType>([
      ['__proto__', 'string'],
      ['a"b\\c', 'integer'],
    ]);
    const decode = rowDecoder(types, ['__proto__', 'a"b\\c']);
    const row = decode(JSON.parse('{"__proto__": "x", "a\\"b\\\\c": "5"}'));
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
    assert.deepEqual(Object.entries(row), [
      ['__proto__', 'x'],
      ['a"b\\c', 5],
    ]);
  });
});
