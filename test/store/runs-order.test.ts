/**
 * runs-order.test.ts: runs.list({order, limit, offset}) pages in SQL exactly as the API's JS sort
 * orders the full list (by id or creation time, either direction, ties newest id first), also
 * when creation times are not in id order (a clock set back) and with a filter; and the API's
 * runs.list gives the same pages through that SQL path as through its general sort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { openStore } from '../../src-main/store/index.js';
import type { RunRow } from '../../src-main/store/types.js';
import { createLabApi } from '../../src-main/api/lab-api.js';
import { newRun, tempLab } from './helpers.js';

test('runs.list pages by id or creation time in SQL like a full sort', () => {
  const lab = tempLab();
  try {
    const store = openStore(lab.db);
    for (let i = 0; i < 23; i++) store.runs.create(newRun({ name: `r${i}`, attention: i % 2 ? 'exact' : 'yoso', status: 'finished' }));
    store.close();
    // Creation times out of id order, with ties (what a clock set back or a fast loop gives).
    const raw = new Database(lab.db);
    raw.prepare('UPDATE runs SET created_at = 1000 + ((id * 7) % 5) * 10').run();
    raw.close();

    const s = openStore(lab.db);
    const all = s.runs.list();
    for (const by of ['id', 'createdAt'] as const) {
      for (const dir of ['asc', 'desc'] as const) {
        for (const attention of [undefined, 'yoso']) {
          const key = (r: RunRow): number => (by === 'id' ? r.id : r.createdAt);
          const sign = dir === 'asc' ? 1 : -1;
          const want = all.filter((r) => !attention || r.attention === attention).sort((a, b) => sign * (key(a) - key(b)) || b.id - a.id).map((r) => r.id);
          const got: number[] = [];
          for (let offset = 0; offset < want.length; offset += 5) {
            got.push(...s.runs.list({ order: { by, dir }, limit: 5, offset, ...(attention ? { attention } : {}) }).map((r) => r.id));
          }
          assert.deepEqual(got, want, `${by} ${dir} ${attention ?? ''}`);
        }
      }
    }
    s.close();
  } finally {
    lab.cleanup();
  }
});

test('the API pages runs.list by creation time the same in SQL as in its general sort', async () => {
  const lab = tempLab();
  try {
    const store = openStore(lab.db);
    for (let i = 0; i < 12; i++) store.runs.create(newRun({ name: `r${i}`, status: 'finished' }));
    store.close();
    const raw = new Database(lab.db);
    raw.prepare('UPDATE runs SET created_at = 5000 - ((id * 5) % 7) * 3').run();
    raw.close();
    const api = createLabApi({ dataDir: lab.dir, log: () => undefined });
    try {
      for (const dir of ['asc', 'desc'] as const) {
        // The SQL path (no filter) against the general one (a two-status filter that matches every run).
        const sql = await api.call('runs.list', { sort: { field: 'createdAt', dir }, limit: 100 });
        const js = await api.call('runs.list', { sort: { field: 'createdAt', dir }, limit: 100, filter: { status: ['finished', 'failed'] } });
        assert.deepEqual(sql.items.map((i) => i.run.id), js.items.map((i) => i.run.id), dir);
        assert.equal(sql.total, 12);
        const page = await api.call('runs.list', { sort: { field: 'createdAt', dir }, limit: 4, offset: 4 });
        assert.deepEqual(page.items.map((i) => i.run.id), js.items.slice(4, 8).map((i) => i.run.id));
      }
    } finally {
      await api.close();
    }
  } finally {
    lab.cleanup();
  }
});
