// How a page and its total are put together; the same through the API on every database: users.api.test.ts.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pageThenTotal } from '../src/shared/page-with-total.js';

const page = (n: number) => Promise.resolve({ items: Array.from({ length: n }, (_, i) => i), nextCursor: null });

it('pageThenTotal counts only when the page cannot tell the total', async () => {
  let counts = 0;
  const count = (total: number) => () => {
    counts++;
    return Promise.resolve(total);
  };
  // A short first page is the whole result: no count.
  assert.equal((await pageThenTotal(page(3), count(99), { skip: 0, limit: 10 })).total, 3);
  // A short page further on: skip plus the page.
  assert.equal((await pageThenTotal(page(4), count(99), { skip: 20, limit: 10 })).total, 24);
  // An empty first page: nothing matches.
  assert.equal((await pageThenTotal(page(0), count(99), { skip: 0, limit: 10 })).total, 0);
  assert.equal(counts, 0);
  // A full page, a page past the end, a total at the count's cap: counted.
  assert.equal((await pageThenTotal(page(10), count(57), { skip: 0, limit: 10 })).total, 57);
  assert.equal((await pageThenTotal(page(0), count(12), { skip: 30, limit: 10 })).total, 12);
  assert.equal((await pageThenTotal(page(5), count(100), { skip: 100, limit: 10 }, 100)).total, 100);
  assert.equal(counts, 3);
});
