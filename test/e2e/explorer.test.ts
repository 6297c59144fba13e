/**
 * explorer.test.ts: the Attention explorer end to end, in headless Chromium against the real
 * `lshlab serve`: a lab prepared in-process (a text dataset with the small test tokenizer and a
 * tiny 2-layer bert-lsh run trained a few steps, with its checkpoint), then the page opened on
 * that run (#/explorer?run=ID): type a sentence, show the maps, switch layer, head and the third
 * panel, read a cell with the keyboard, map a dataset record. Screenshot test/artifacts/explorer.png
 * and axe-core (no serious or critical violations). Skipped, saying why, without Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, checkA11y, CHROMIUM_ARGS, chromiumOrSkip, labWithNotes, openApp, startServe } from './serve-process.js';

const TEXT = Array.from({ length: 80 }, (_, i) => `Call me Ishmael ${i}. The whale swam in the sea near the ship and the sailors watched it.`).join('\n') + '\n';

test('the Attention explorer: a trained bert-lsh run, exact vs variant heatmaps, errors', { timeout: 180_000 }, async (t) => {
  const exe = chromiumOrSkip(t, 'explorer');
  if (!exe) return;
  let runId = 0;
  const lab = await labWithNotes(TEXT, async (api) => {
    const { run } = await api.call('runs.start', {
      spec: {
        task: 'mlm', dataset: 'notes', name: 'e2e-explorer', attention: 'bert-lsh', attentionParams: { bands: 2 }, steps: 6, batchSize: 4, evalBatches: 1,
        model: { hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 64, maxSeqLen: 32 },
      } as never,
    });
    runId = run.id;
    for (let waited = 0; ['queued', 'running'].includes((await api.call('runs.show', { run: String(runId) })).run.status); waited += 100) {
      assert.ok(waited < 60_000, 'the run did not finish in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 1);

  const served = await startServe(lab.dir);
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  const pageErrors: string[] = [];
  try {
    const page = await openApp(browser, served.url, pageErrors, { width: 1500, height: 1100 });
    await page.getByRole('link', { name: 'Attention explorer' }).click();
    await page.waitForSelector('h1#explorer-title');
    await page.evaluate(`location.hash = '#/explorer?run=${runId}'`);
    await page.waitForSelector(`#explorer-run option[value="${runId}"]`, { state: 'attached' });

    await page.fill('#explorer-text', 'Call me Ishmael. The whale swam near the ship.');
    await page.getByRole('button', { name: 'Show attention' }).click();
    await page.waitForSelector('text=Approximation error, layer 0', { timeout: 30_000 });
    assert.equal(await page.locator('[aria-roledescription="heatmap"]').count(), 3);
    assert.match((await page.textContent('section[aria-label="Attention maps"]')) ?? '', /bert-lsh \(bands=2\)/);
    // Every head's replay check passes (✓), numbers are shown for both heads.
    const checks = await page.locator('table tbody tr td:last-child').allTextContents();
    assert.equal(checks.length, 2);
    assert.ok(checks.every((c) => c.startsWith('✓')), checks.join(' | '));

    await page.selectOption('#explorer-layer', '1');
    await page.selectOption('#explorer-head', '1');
    await page.waitForSelector('text=Approximation error, layer 1');
    // Keyboard: focus the variant heatmap, move the cursor, read the cell.
    const variantMap = page.locator('[aria-roledescription="heatmap"]').nth(1);
    await variantMap.focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    assert.match((await page.locator('.readout').nth(1).textContent()) ?? '', /query 1 .* key 1 /);
    await page.screenshot({ path: path.join(ARTIFACTS, 'explorer.png'), fullPage: true });

    await checkA11y(page, 'explorer');

    // The mask view, then a record of the run's dataset.
    await page.selectOption('#explorer-third', 'mask');
    await page.waitForSelector('figcaption >> text=Pairs the variant computed');
    await page.getByLabel('A record of the run\'s dataset').check();
    await page.selectOption('#explorer-record', { index: 2 });
    await page.getByRole('button', { name: 'Show attention' }).click();
    await page.waitForSelector('text=record 2 of notes', { timeout: 30_000 });
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    await served.stop();
    lab.close();
  }
});
