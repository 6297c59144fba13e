/**
 * upload.test.ts: importing a dataset by uploading it from the browser, end to end in headless
 * Chromium against the real `lshlab serve` (the Datasets page's file input, POST /api/upload with
 * its progress bar, then datasets.import of the upload):
 *   - a small text file: the upload's progress reaches the whole file, the import finishes and the
 *     dataset is listed; nothing stays under the lab's uploads/ folder;
 *   - a larger file sent over a throttled connection (DevTools network emulation), cancelled while
 *     it is on its way: the page says so, no dataset row appears, and the partial file the server
 *     was writing is removed.
 * The lab gets a small WordPiece tokenizer trained on the test's text, saved under the default
 * tokenizer's name (training the real builtin-wp8k takes ~20 s; what is tested is the upload).
 * Skipped, saying why, when no Chromium is installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium, REPO_ROOT, startServe, type Served } from './serve-process.js';
import { trainWordPiece } from '../../src-main/data/tokenizer/train.js';
import { DEFAULT_TOKENIZER, saveLabTokenizer } from '../../src-main/lab/tokenizers.js';

const NO_CHROMIUM = 'no Chromium found (set LSHLAB_CHROMIUM or install /usr/bin/chromium): the browser upload tests did not run';
const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');

/** Every file (not folder) under `dir`, recursively; [] if it does not exist. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? d.path, d.name));
}

async function pollUntil(what: string, timeoutMs: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); !(await ok()); await new Promise((r) => setTimeout(r, 100))) {
    assert.ok(Date.now() - t0 < timeoutMs, `${what}: not within ${timeoutMs} ms`);
  }
}

/** Records in the page what the import form's progress line and bar show, as they change. */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__progress = [];
    const form = document.querySelector('form[aria-labelledby="import-title"]');
    const note = () => {
      const bar = form.querySelector('progress');
      const text = form.querySelector('.progress .help');
      window.__progress.push({ value: bar ? Number(bar.value) : null, text: text ? text.textContent : '' });
    };
    new MutationObserver(note).observe(form, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['value'] });
  })()`);
}

describe('dataset upload from the browser', () => {
  const exe = findChromium();
  let dataDir = '';
  let files = '';
  let served: Served | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    if (!exe) return;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-e2e-upload-'));
    files = fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-e2e-upload-files-'));
    const lines = Array.from({ length: 80 }, (_, i) => `Upload line ${i}: buckets of similar queries and keys share their dot products.`);
    fs.writeFileSync(path.join(files, 'uploaded-notes.txt'), lines.join('\n') + '\n');
    const tok = await trainWordPiece(lines, { vocabSize: 300, source: 'upload.test.ts' });
    await saveLabTokenizer(dataDir, DEFAULT_TOKENIZER, tok, { trainedOn: 'the upload e2e test text (a stand-in for builtin-wp8k)', minFrequency: 2 });
    // 24 MiB of text: at the throttled 2 MiB/s it takes ~12 s, ample time to cancel it midway.
    const block = lines.join('\n') + '\n';
    fs.writeFileSync(path.join(files, 'big-corpus.txt'), block.repeat(Math.ceil((24 * 2 ** 20) / block.length)));

    served = await startServe(dataDir);
    browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(served.url);
    await page.evaluate('location.hash = "#/datasets"');
    await page.waitForSelector('h1#datasets-title');
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    for (const d of [dataDir, files]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  const fail = (err: unknown): never => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- lshlab serve output ---\n${served?.log().slice(-3000) ?? ''}`);
  };

  test('a file chosen in the file input is uploaded with progress, imported and listed', { timeout: 90_000 }, async (t) => {
    if (!exe) return t.skip(NO_CHROMIUM);
    try {
      await page.getByLabel('Upload from this computer').check();
      await page.setInputFiles('input[type="file"]', path.join(files, 'uploaded-notes.txt'));
      await page.getByLabel('Name (optional)').fill('e2e-uploaded');
      await recordProgress(page);
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.waitForSelector("text=Imported 'e2e-uploaded'", { timeout: 60_000 });
      await page.waitForSelector('td >> text=e2e-uploaded', { timeout: 10_000 });

      const seen = (await page.evaluate('window.__progress')) as { value: number | null; text: string }[];
      const uploading = seen.filter((s) => /^uploading/.test(s.text));
      assert.ok(uploading.length > 0, `the upload's progress was never shown: ${JSON.stringify(seen)}`);
      // The last upload progress names the whole file, and the bar was full before the import began.
      assert.match(uploading[uploading.length - 1]!.text, /^uploading: (\S+ \S+) of \1$/);
      assert.ok(seen.some((s) => s.value === 1), `the progress bar never reached the end: ${JSON.stringify(seen)}`);
      assert.deepEqual(filesUnder(path.join(dataDir, 'uploads')), [], 'the imported upload was left in uploads/');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'datasets-upload.png'), fullPage: true });
      assert.deepEqual(pageErrors, []);
    } catch (err) {
      fail(err);
    }
  });

  test('an upload cancelled on its way leaves no dataset and no file behind', { timeout: 90_000 }, async (t) => {
    if (!exe) return t.skip(NO_CHROMIUM);
    const cdp = await page.context().newCDPSession(page);
    try {
      // Throttle this page's uploads so the cancel lands mid-transfer on any machine.
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 * 2 ** 20 });
      const uploads = path.join(dataDir, 'uploads');
      await page.getByLabel('Upload from this computer').check();
      await page.setInputFiles('input[type="file"]', path.join(files, 'big-corpus.txt'));
      await page.getByLabel('Name (optional)').fill('e2e-cancelled');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      // The server has started writing the file: the upload is really on its way.
      await pollUntil('the server receiving the upload', 30_000, () => filesUnder(uploads).some((f) => fs.statSync(f).size > 0));
      const partial = filesUnder(uploads);
      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      const total = fs.statSync(path.join(files, 'big-corpus.txt')).size;
      const got = partial.reduce((n, f) => n + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
      t.diagnostic(`cancelled with ${got} of ${total} bytes on the server`);
      assert.ok(got < total, 'the upload was complete before Cancel was pressed');
      // Said as what happened, not as an error.
      await page.waitForSelector('text=Upload cancelled; nothing was imported.', { timeout: 10_000 });
      assert.equal(await page.locator('form[aria-labelledby="import-title"] .error-banner').count(), 0, 'the cancel was shown as an error');
      await pollUntil('the partial upload removed', 15_000, () => filesUnder(uploads).length === 0);
      assert.ok(partial.every((f) => !fs.existsSync(f)));
      // The form is ready again, and no dataset was made of it.
      await page.waitForSelector('button:has-text("Import"):not([disabled])');
      await page.evaluate('location.hash = "#/runs"');
      await page.evaluate('location.hash = "#/datasets"');
      await page.waitForSelector('td >> text=e2e-uploaded');
      assert.equal(await page.locator('td', { hasText: 'e2e-cancelled' }).count(), 0, 'the cancelled upload became a dataset');
      assert.ok(!fs.existsSync(path.join(dataDir, 'datasets', 'e2e-cancelled')), 'a dataset folder was made of the cancelled upload');
      assert.deepEqual(pageErrors, []);
    } catch (err) {
      fail(err);
    } finally {
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }).catch(() => undefined);
      await cdp.detach().catch(() => undefined);
    }
  });
});
