/**
 * resume.test.ts: cancel and resume from the UI, end to end, in headless Chromium against the
 * real `lshlab serve`: a lab prepared in-process (a text dataset with the small test tokenizer),
 * then on the New run page a tiny mlm run with a checkpoint every few steps and far more steps than
 * the test waits for; once its page lists a checkpoint, Cancel; then Resume from checkpoint to a
 * few steps past it. The resumed run must finish at that step, say which run and step it continues,
 * and have trained only the steps after the checkpoint (its loss history starts right after it:
 * continued, not restarted). Screenshot test/artifacts/resumed-run.png and axe-core. Skipped,
 * saying why, without Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { RunsSeriesResult } from '../../src-main/api/contract.js';
import { ARTIFACTS, checkA11y, CHROMIUM_ARGS, chromiumOrSkip, labWithNotes, openApp, startServe, withServeLog } from './serve-process.js';

const TEXT = Array.from({ length: 80 }, (_, i) => `Line ${i}: the whale swam near the ship while the sailors hashed queries into buckets.`).join('\n') + '\n';
/** Steps the resumed run trains past the checkpoint. */
const MORE_STEPS = 12;

/** Polls `read` from Node until it returns a value (waitForFunction would need eval, which the page's CSP forbids). */
async function until<T>(page: Page, what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (let waited = 0; ; waited += 200) {
    const v = await read();
    if (v !== undefined) return v;
    assert.ok(waited < timeoutMs, `${what}: not within ${timeoutMs / 1000} s`);
    await page.waitForTimeout(200);
  }
}

/** The step numbers of the Checkpoints table on a run's page, in table order. */
async function checkpointSteps(page: Page): Promise<number[]> {
  const cells = await page.locator('.panel:has(h2:text-is("Checkpoints")) tbody tr td:first-child').allTextContents();
  return cells.map(Number);
}

test('resume from the UI: cancel a run once it has a checkpoint, resume it, it finishes continuing its steps', { timeout: 180_000 }, async (t) => {
  const exe = chromiumOrSkip(t, 'resume');
  if (!exe) return;
  const lab = await labWithNotes(TEXT);

  const served = await startServe(lab.dir);
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  const pageErrors: string[] = [];
  try {
    const page = await openApp(browser, served.url, pageErrors);

    // A tiny run with far more steps than the test waits for, a checkpoint every 10 steps.
    await page.getByRole('link', { name: 'New run' }).click();
    await page.waitForSelector('#task');
    await page.selectOption('#task', 'mlm');
    await page.selectOption('#dataset', 'notes');
    for (const [id, v] of [['hidden', '32'], ['layers', '1'], ['heads', '2'], ['ffn', '64'], ['seq', '32'], ['steps', '100000'], ['batch', '4'], ['save-every', '10']]) await page.fill(`#${id}`, v!);
    await page.fill('#run-name', 'e2e-resume');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForSelector('h1 .badge.status-running', { timeout: 30_000 });
    const sourceHash = (await page.evaluate('location.hash')) as string;
    const sourceId = Number(/^#\/runs\/(\d+)$/.exec(sourceHash)?.[1]);
    assert.ok(sourceId > 0, `the run's page: ${sourceHash}`);

    // Once its page lists a checkpoint: cancel (the run stops after its step and saves another).
    await until(page, 'a checkpoint in the run page', async () => ((await checkpointSteps(page)).length > 0 ? true : undefined));
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.waitForSelector('h1 .badge.status-cancelled', { timeout: 30_000 });
    const resumeField = page.getByLabel('Resume to step');
    await resumeField.waitFor({ timeout: 30_000 });
    const cancelledAt = Number(await page.textContent('.progress strong'));
    // Resume continues from the latest checkpoint: the one saved at the cancel.
    const from = await until(page, 'the checkpoint of the cancel', async () => {
      const steps = await checkpointSteps(page);
      return steps.at(-1) === cancelledAt ? cancelledAt : undefined;
    });
    assert.ok(from >= 10, `cancelled at step ${from}, after its first checkpoint`);

    await resumeField.fill(String(from + MORE_STEPS));
    await page.getByRole('button', { name: 'Resume from checkpoint' }).click();
    const resumedHash = await until(page, 'the resumed run\'s page', async () => {
      const h = (await page.evaluate('location.hash')) as string;
      return h !== sourceHash && /^#\/runs\/\d+$/.test(h) ? h : undefined;
    });
    const resumedId = Number(resumedHash.slice('#/runs/'.length));
    await page.waitForSelector('h1 .badge.status-finished', { timeout: 60_000 });

    // The page says where it continues from and ends at the step asked for.
    const resumed = (await page.textContent('p.resumed')) ?? '';
    assert.match(resumed, new RegExp(`Resumed from run #${sourceId} \\(e2e-resume\\)\\s+at step ${from}\\b`));
    await until(page, 'the final step on the page', async () => (Number(await page.textContent('.progress strong')) === from + MORE_STEPS ? true : undefined));
    assert.match((await page.textContent('.progress')) ?? '', new RegExp(`Step ${from + MORE_STEPS} of ${from + MORE_STEPS}`));

    // Continued, not restarted: its loss history holds exactly the steps after the checkpoint.
    const series = (await page.evaluate(`fetch('api/runs.series', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runs: ['${resumedId}'], keys: ['train/loss'], buckets: 2000 }) }).then((r) => r.json())`)) as { ok: boolean; result: RunsSeriesResult };
    assert.ok(series.ok, JSON.stringify(series));
    const buckets = series.result.series[0]!.buckets;
    assert.deepEqual(
      [buckets[0]!.stepFrom, buckets.at(-1)!.stepTo, buckets.reduce((n, b) => n + b.count, 0)],
      [from + 1, from + MORE_STEPS, MORE_STEPS],
      'the resumed run trained steps from+1 .. from+MORE_STEPS only',
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'resumed-run.png'), fullPage: true });
    await checkA11y(page, 'resumed run');

    // The source run is as it was: cancelled at the checkpoint's step.
    await page.getByRole('link', { name: `run #${sourceId} (e2e-resume)` }).click();
    await page.waitForSelector('h1 .badge.status-cancelled');
    assert.equal(Number(await page.textContent('.progress strong')), from);
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  } catch (err) {
    throw withServeLog(err, served);
  } finally {
    await browser.close();
    await served.stop();
    lab.close();
  }
});
