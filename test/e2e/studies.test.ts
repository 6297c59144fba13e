/**
 * studies.test.ts: the Studies page end to end, in headless Chromium against the real `lshlab
 * serve`: a tiny study (one synthetic MLM stage, two variants, two seeds, a few steps each) run
 * through the CLI (`lshlab study run FILE`), then the list with its progress, the study's grid of
 * cells linking to their runs, and its report table (n=2 per variant). Screenshot to
 * test/artifacts/studies.png, axe-core (no serious or critical violations), the empty state.
 * Skipped, saying why, without Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, checkA11y, CHROMIUM_ARGS, chromiumOrSkip, openApp, REPO_ROOT, startServe } from './serve-process.js';


const STUDY = {
  name: 'e2e-tiny',
  description: 'end-to-end test study: exact vs bert-lsh on random tokens',
  seeds: 2,
  model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxSeqLen: 16 },
  defaults: { steps: 4, batchSize: 4, evalBatches: 1, warmupSteps: 1 },
  variants: ['exact', { key: 'lsh', attention: 'bert-lsh' }],
  stages: [{ name: 'pre', task: 'mlm', dataset: 'synthetic:random' }],
};

test('the Studies page: a tiny study run by the CLI, its cells and its report', { timeout: 180_000 }, async (t) => {
  const exe = chromiumOrSkip(t, 'studies');
  if (!exe) return;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-e2e-study-'));
  const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-e2e-nostudy-'));
  const file = path.join(dataDir, 'study.json');
  fs.writeFileSync(file, JSON.stringify(STUDY, null, 2));
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'lshlab.js'), 'study', 'run', file, '--data-dir', dataDir], { stdio: 'pipe', timeout: 120_000 });

  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  const pageErrors: string[] = [];
  try {
    // A lab without studies: the empty state says how to make one.
    {
      const served = await startServe(emptyDir);
      try {
        const page = await browser.newPage();
        page.on('pageerror', (e) => pageErrors.push(String(e)));
        await page.goto(served.url);
        await page.evaluate('location.hash = "#/studies"');
        await page.waitForSelector('text=No studies yet', { timeout: 20_000 });
        assert.ok(await page.isVisible('code >> text=lshlab study paper --quick'));
        await page.close();
      } finally {
        await served.stop();
      }
    }

    const served = await startServe(dataDir);
    try {
      const page = await openApp(browser, served.url, pageErrors);
      // The nav entry, then the list with its progress bar.
      await page.getByRole('link', { name: 'Studies', exact: true }).click();
      await page.waitForSelector('h1#studies-title');
      const row = page.locator('tbody tr', { hasText: 'e2e-tiny' });
      await row.waitFor({ timeout: 20_000 });
      assert.match(await row.innerText(), /4\/4 done/);
      assert.equal(await page.getByRole('progressbar', { name: 'e2e-tiny: 4 of 4 runs done' }).count(), 1);
      await checkA11y(page, 'studies list');
      // The dark theme (prefers-color-scheme), checked the same way.
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(ARTIFACTS, 'studies-list-dark.png') });
      await checkA11y(page, 'studies list, dark');
      await page.emulateMedia({ colorScheme: 'light' });

      // The study: its cells, each linked to its run, and the report with n=2 per variant.
      await page.getByRole('link', { name: 'e2e-tiny' }).click();
      await page.waitForSelector('h1#study-title');
      await page.waitForSelector('table.report', { timeout: 20_000 });
      const cellLinks = page.locator('table.cells a.badge');
      assert.equal(await cellLinks.count(), 4);
      for (const href of await cellLinks.evaluateAll((as) => as.map((a) => a.getAttribute('href'))))
        assert.match(href ?? '', /^#\/runs\/\d+$/);
      const header = await page.locator('table.report thead').innerText();
      assert.match(header, /exact\s*\(n=2\)/);
      assert.match(header, /lsh\s*\(n=2\)/);
      const loss = await page.locator('table.report tbody tr', { hasText: 'Training loss' }).innerText({ timeout: 5000 });
      assert.match(loss, /±.*\[.*,.*\]/, `a report cell reads mean ± std [low, high]: ${loss}`);
      // The export control: switching the format and downloading.
      await page.getByLabel('Format').selectOption('csv');
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /Download/ }).click()]);
      assert.equal(download.suggestedFilename(), 'study-e2e-tiny.csv');
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(ARTIFACTS, 'studies.png'), fullPage: true });
      await checkA11y(page, 'study');

      // A cell opens its run's live page.
      await cellLinks.first().click();
      await page.waitForSelector('h1#run-title', { timeout: 20_000 });
      assert.deepEqual(pageErrors, []);
    } finally {
      await served.stop();
    }
  } finally {
    await browser.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(emptyDir, { recursive: true, force: true });
  }
});
