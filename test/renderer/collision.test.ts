/**
 * collision.test.ts: the collision-probability formulas of the New-run chart (src-renderer/lib/collision.ts)
 * against hand-computed values from the papers' formulas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bertLshCollision,
  collisionCurve,
  reformerAutoBuckets,
  reformerCollision,
  simhashBit,
  yosoCollision,
  yosoSpread,
} from '../../src-renderer/lib/collision.js';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('one hyperplane: 1 at θ=0, 1/2 at π/2, 0 at π', () => {
  close(simhashBit(0), 1);
  close(simhashBit(Math.PI / 2), 0.5);
  close(simhashBit(Math.PI), 0);
});

test('yoso: (1 − θ/π)^τ, spread sqrt(p(1−p)/m)', () => {
  close(yosoCollision(Math.PI / 2, 9), Math.pow(0.5, 9));
  close(yosoCollision(Math.PI / 3, 2), 4 / 9);
  close(yosoSpread(0.5, 64), Math.sqrt(0.25 / 64));
  close(yosoSpread(1, 64), 0);
});

test('bert-lsh: AND within a hash function, OR across (reference code), AND option', () => {
  // notes §A.2: bands=2 at 90 degrees: P(same 2-bit pattern) = 0.25; merges mod m add (1-0.25)/m.
  close(bertLshCollision(Math.PI / 2, 2, 64, 1), 0.25 + 0.75 / 64);
  // table_size huge: merges vanish, pattern probability alone.
  close(bertLshCollision(Math.PI / 3, 2, 1 << 30, 1), 4 / 9, 1e-9);
  const p1 = 0.25 + 0.75 / 64;
  close(bertLshCollision(Math.PI / 2, 2, 64, 3, 'or'), 1 - Math.pow(1 - p1, 3));
  close(bertLshCollision(Math.PI / 2, 2, 64, 3, 'and'), Math.pow(p1, 3));
  close(bertLshCollision(0, 8, 64, 4), 1);
  // table_size 1: every vector in one bucket.
  close(bertLshCollision(Math.PI, 2, 1, 1), 1);
});

test('reformer: auto buckets follow HF (2·n/chunk rounded down to 2^k); 2 buckets = one hyperplane', () => {
  assert.equal(reformerAutoBuckets(512, 64), 16);
  assert.equal(reformerAutoBuckets(384, 64), 8);
  assert.equal(reformerAutoBuckets(64, 64), 2);
  close(reformerCollision(Math.PI / 2, 2, 1), 0.5);
  close(reformerCollision(Math.PI / 2, 16, 1), Math.pow(0.5, 4));
  close(reformerCollision(Math.PI / 2, 2, 2), 0.75);
});

test('collisionCurve: shape, monotone, per-variant formulas and notes', () => {
  for (const v of ['exact', 'bert-lsh', 'yoso', 'yoso-e', 'reformer']) {
    const c = collisionCurve(v, {}, 256, 31);
    assert.equal(c.theta.length, 31);
    assert.equal(c.p.length, 31);
    close(c.theta[30]!, Math.PI);
    for (let i = 1; i < c.p.length; i++) assert.ok(c.p[i]! <= c.p[i - 1]! + 1e-15, `${v} not monotone`);
    assert.ok(c.formula.startsWith('p'));
  }
  const y = collisionCurve('yoso', { tau: '4', num_hash: '16' }, 128, 3);
  close(y.p[1]!, Math.pow(0.5, 4));
  assert.ok(y.lower && y.upper);
  close(y.upper![1]! - y.p[1]!, Math.sqrt((0.0625 * 0.9375) / 16));
  assert.equal(collisionCurve('yoso-e', {}, 128).lower, undefined);
  // Reformer at n <= chunk_length: full attention.
  assert.ok(collisionCurve('reformer', { chunk_length: 64 }, 32).p.every((p) => p === 1));
  assert.ok(collisionCurve('reformer', { num_buckets: 'auto' }, 512).approximation?.includes('16'));
  assert.ok(collisionCurve('exact', {}).p.every((p) => p === 1));
});
