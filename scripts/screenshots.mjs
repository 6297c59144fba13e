#!/usr/bin/env node
// screenshots.mjs: the README's workbench screenshots, from real data. Not part of `npm test`.
//
//   node scripts/screenshots.mjs [--data-dir DIR] [--steps 200] [--out docs/images]
//
// In a temporary lab (or DIR, which must not hold runs named shot-exact / shot-bert-lsh yet) it
// adds the built-in datasets (`lshlab datasets add-builtin`, ~20-30 s), trains two tiny masked-LM
// runs on builtin-text with the same seed and budget, one with exact attention and one with
// bert-lsh (hidden 64, 2 layers, 2 heads, FFN 256, sequence 64, batch 16, --steps steps, an
// evaluation every 50), starts `lshlab serve` on the lab and takes, in headless Chromium at a
// 1280x800 viewport:
//   <out>/workbench-compare.png   the Compare page of the two runs, scrolled to the loss curves and
//                                 the paper-style table under them
//   <out>/workbench-new-run.png   the New run page set up for bert-lsh (collision-probability chart)
// Needs the build (npm run build; dist/renderer), playwright-core (a dev dependency) and Chromium
// (/usr/bin/chromium or $LSHLAB_CHROMIUM). Each PNG should stay under ~250 KB; the script says
// their sizes. About a minute on a 2-core machine.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(path.join(root, 'package.json'));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const steps = Number(flag('steps', '200'));
const outDir = path.resolve(root, flag('out', path.join('docs', 'images')));
const givenDir = flag('data-dir', undefined);
const dataDir = givenDir ? path.resolve(givenDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'lshlab-shots-'));
const exe = process.env.LSHLAB_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!exe || !fs.existsSync(exe)) throw new Error('no Chromium: install /usr/bin/chromium or set LSHLAB_CHROMIUM');
if (!fs.existsSync(path.join(root, 'dist', 'renderer', 'index.html'))) throw new Error('dist/renderer is missing: run npm run build');

const lshlab = (...a) => {
  process.stderr.write(`$ lshlab ${a.join(' ')}\n`);
  return execFileSync(process.execPath, [path.join(root, 'bin', 'lshlab.js'), '--data-dir', dataDir, ...a], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
};

/** `lshlab serve` on the lab; resolves with its page URL (token included) and a stop function. */
function serve() {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'lshlab.js'), 'serve', '--json', '--port', '0', '--no-open', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line && buf.includes('\n')) {
        const info = JSON.parse(line);
        resolve({ url: info.url, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) });
      }
    });
    child.on('exit', (code) => reject(new Error(`lshlab serve exited with ${code}`)));
  });
}

const MODEL = ['--task', 'mlm', '--dataset', 'builtin-text', '--hidden', '64', '--layers', '2', '--heads', '2', '--intermediate', '256',
  '--max-seq-len', '64', '--batch', '16', '--steps', String(steps), '--eval-every', '50', '--seed', '7'];

try {
  lshlab('datasets', 'add-builtin');
  const exact = JSON.parse(lshlab('train', ...MODEL, '--attention', 'exact', '--name', 'shot-exact', '--json')).run;
  const lsh = JSON.parse(lshlab('train', ...MODEL, '--attention', 'bert-lsh', '--bands', '2', '--table-size', '64', '--name', 'shot-bert-lsh', '--json')).run;
  const server = await serve();
  const browser = await chromium.launch({ executablePath: exe, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    await page.waitForSelector('nav[aria-label="Main"]');
    fs.mkdirSync(outDir, { recursive: true });
    const shoot = async (name) => {
      await page.waitForTimeout(600); // the charts redraw at most 5 times a second
      const file = path.join(outDir, name);
      await page.screenshot({ path: file });
      process.stderr.write(`${path.relative(root, file)}: ${(fs.statSync(file).size / 1024).toFixed(0)} KB\n`);
    };

    await page.evaluate(`location.hash = "#/compare?ids=${exact.id},${lsh.id}"`);
    await page.waitForSelector('#cmp-table', { timeout: 30_000 });
    // At this budget the two loss curves nearly coincide; scroll so the chart and the table under it
    // (losses, dot products, density) share the picture.
    await page.evaluate(`window.scrollTo(0, document.querySelector('figure.chart').getBoundingClientRect().top + window.scrollY - 12)`);
    await shoot('workbench-compare.png');

    await page.evaluate('location.hash = "#/new"');
    await page.waitForSelector('#task');
    await page.selectOption('#task', 'mlm');
    await page.selectOption('#dataset', 'builtin-text');
    await page.selectOption('#attention', 'bert-lsh');
    await page.fill('#param-bands', '2');
    await page.fill('#run-name', 'bert-lsh-b2');
    await shoot('workbench-new-run.png');
  } finally {
    await browser.close();
    await server.stop();
  }
} finally {
  if (!givenDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
