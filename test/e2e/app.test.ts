/**
 * app.test.ts: the renderer end to end, in headless Chromium against the real `lshlab serve`:
 * add the built-ins and import a text file through the UI, start a short run and watch it
 * finish, start a long one and cancel it, compare them, run Table 1 on the benchmarks page. Every
 * page is screenshotted to test/artifacts/<page>.png and checked with axe-core (no serious or
 * critical violations). Skipped, saying why, when no Chromium is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { ARTIFACTS, checkA11y, CHROMIUM_ARGS, chromiumOrSkip, openApp, startServe, withServeLog } from './serve-process.js';


async function goto(page: Page, hash: string, ready: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.waitForSelector(ready, { timeout: 20_000 });
}

async function shot(page: Page, name: string): Promise<void> {
  // Let the charts draw (they redraw at most 5 times a second).
  await page.waitForTimeout(400);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('the renderer against lshlab serve: datasets, runs, cancel, compare, benchmarks', { timeout: 240_000 }, async (t) => {
  const exe = chromiumOrSkip(t, 'browser');
  if (!exe) return;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-e2e-'));
  const notes = path.join(dataDir, 'e2e-notes.txt');
  fs.writeFileSync(notes, Array.from({ length: 60 }, (_, i) => `Line ${i}: locality sensitive hashing buckets similar queries and keys together.`).join('\n') + '\n');

  const served = await startServe(dataDir);
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  const pageErrors: string[] = [];
  try {
    // The app must run under its strict CSP: any violation shows up as a console error.
    const page = await openApp(browser, served.url, pageErrors);

    // Datasets: empty state, built-ins, a path import, details of one dataset.
    await goto(page, '#/datasets', 'h1#datasets-title');
    await page.waitForSelector('text=No datasets yet');
    await page.getByRole('button', { name: 'Add built-ins' }).click();
    await page.waitForSelector('td >> text=builtin-spam', { timeout: 120_000 });
    await page.fill('input[placeholder="/data/sst2/train.tsv"]', notes);
    await page.getByLabel('Name (optional)').fill('e2e-notes');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.waitForSelector('text=Imported \'e2e-notes\'', { timeout: 60_000 });
    await page.getByRole('button', { name: 'builtin-spam', exact: true }).click();
    await page.waitForSelector('text=Label balance', { timeout: 30_000 });
    await shot(page, 'datasets');
    await checkA11y(page, 'datasets');

    // New run: a validation message next to the field, then a tiny bert-lsh run to the end.
    await goto(page, '#/new', '#task');
    await page.selectOption('#task', 'mlm');
    await page.selectOption('#dataset', 'builtin-text');
    await page.fill('#hidden', '30');
    await page.fill('#heads', '4');
    await page.waitForSelector('#hidden-error', { timeout: 5_000 });
    assert.match(await page.textContent('#hidden-error') ?? '', /multiple/);
    for (const [id, v] of [['hidden', '32'], ['layers', '1'], ['heads', '2'], ['ffn', '64'], ['seq', '32'], ['steps', '20'], ['batch', '8']]) await page.fill(`#${id}`, v!);
    await page.selectOption('#attention', 'bert-lsh');
    await page.fill('#param-bands', '3');
    await page.fill('#run-name', 'e2e-lsh');
    await shot(page, 'new-run');
    await checkA11y(page, 'new-run');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForSelector('h1 .badge.status-finished', { timeout: 60_000 });
    await page.waitForSelector('text=Attention counters');
    await shot(page, 'live-run');
    await checkA11y(page, 'live-run');
    const finishedId = (await page.evaluate('location.hash')) as string;

    // A long exact run, cancelled once it is stepping.
    await goto(page, '#/new', '#task');
    await page.selectOption('#dataset', 'builtin-text');
    for (const [id, v] of [['hidden', '32'], ['layers', '1'], ['heads', '2'], ['ffn', '64'], ['seq', '32'], ['steps', '200000'], ['batch', '8']]) await page.fill(`#${id}`, v!);
    await page.fill('#run-name', 'e2e-cancel');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForSelector('h1 .badge.status-running', { timeout: 30_000 });
    // Polled from Node: waitForFunction with a string would need eval, which the page's CSP forbids.
    for (let waited = 0; Number((await page.textContent('.progress strong')) ?? 0) === 0; waited += 200) {
      assert.ok(waited < 30_000, 'the long run made no step in 30 s');
      await page.waitForTimeout(200);
    }
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.waitForSelector('h1 .badge.status-cancelled', { timeout: 30_000 });
    assert.notEqual(await page.evaluate('location.hash'), finishedId);

    // Runs: both listed; select them and compare.
    await goto(page, '#/runs', 'h1#runs-title');
    await page.waitForSelector('td >> text=e2e-cancel');
    await page.getByLabel('Select run e2e-lsh').check();
    await page.getByLabel('Select run e2e-cancel').check();
    await page.getByLabel('Add a tag to e2e-lsh').fill('baseline-check');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.tag >> text=baseline-check');
    await shot(page, 'runs');
    await checkA11y(page, 'runs');
    await page.getByRole('button', { name: /^Compare 2/ }).click();
    await page.waitForSelector('#cmp-table', { timeout: 30_000 });
    await page.waitForSelector('text=Config diff');
    const header = await page.textContent('table[aria-labelledby="cmp-table"] thead');
    assert.match(header ?? '', /e2e-lsh/);
    assert.match(header ?? '', /e2e-cancel/);
    await page.getByLabel('Group by').selectOption('attention');
    await page.waitForSelector('#group-table');
    await shot(page, 'compare');
    await checkA11y(page, 'compare');

    // Benchmarks: run Table 1 and see it.
    await goto(page, '#/benchmarks', 'h1#bench-title');
    await page.getByRole('button', { name: 'Run Table 1' }).click();
    await page.waitForSelector('#t1-title', { timeout: 60_000 });
    await shot(page, 'benchmarks');
    await checkA11y(page, 'benchmarks');
    // A small scaling sweep: time and memory against sequence length, one line per variant.
    await page.getByLabel('Min seq len').fill('64');
    await page.getByLabel('Max seq len').fill('256');
    await page.getByRole('button', { name: 'Run scaling sweep' }).click();
    await page.waitForSelector('text=Time against sequence length', { timeout: 90_000 });
    await shot(page, 'benchmarks-scaling');
    await checkA11y(page, 'benchmarks-scaling');

    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  } catch (err) {
    throw withServeLog(err, served);
  } finally {
    await browser.close();
    await served.stop();
    // LSHLAB_E2E_KEEP=1 keeps the lab for a look afterwards (lshlab --data-dir DIR runs list).
    if (process.env['LSHLAB_E2E_KEEP']) t.diagnostic(`lab kept at ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
