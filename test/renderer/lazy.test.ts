/**
 * lazy.test.ts: the page loader fetches once, shares one fetch between callers, and tries again
 * after a failed fetch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazy } from '../../src-renderer/lib/lazy.js';

test('lazy: one fetch, shared, kept', async () => {
  let fetches = 0;
  const get = lazy(async () => ({ default: `page ${++fetches}` }));
  assert.deepEqual(await Promise.all([get(), get()]), ['page 1', 'page 1']);
  assert.equal(await get(), 'page 1');
  assert.equal(fetches, 1);
});

test('lazy: a failed fetch is retried on the next call', async () => {
  let fetches = 0;
  const get = lazy(async () => {
    if (++fetches === 1) throw new Error('network down');
    return { default: 'page' };
  });
  await assert.rejects(get(), /network down/);
  assert.equal(await get(), 'page');
  assert.equal(fetches, 2);
});
