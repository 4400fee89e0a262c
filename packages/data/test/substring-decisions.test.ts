import assert from 'node:assert/strict';
import { it } from 'node:test';
import { rememberedDecision } from '../src/dialects/substring-decisions.js';

it('runs one probe for concurrent searches of a new term, remembers its answer, and forgets a failed one', async () => {
  let probes = 0;
  let answer: ((serves: boolean) => void) | undefined;
  const probe = () =>
    new Promise<boolean>((resolve) => {
      probes++;
      answer = resolve;
    });
  const index = `test-index-${process.pid}-${Date.now()}`;
  const both = Promise.all([rememberedDecision(index, 'term', probe), rememberedDecision(index, 'term', probe)]);
  answer?.(true);
  assert.deepEqual(await both, [true, true]);
  assert.equal(probes, 1);
  assert.equal(await rememberedDecision(index, 'term', probe), true);
  assert.equal(probes, 1, 'remembered');

  const failing = () => Promise.reject(new Error('timeout'));
  await assert.rejects(rememberedDecision(index, 'other', failing), /timeout/);
  const later = rememberedDecision(index, 'other', probe);
  answer?.(false);
  assert.equal(await later, false, 'asked again after the failure');
  assert.equal(probes, 2);
});
