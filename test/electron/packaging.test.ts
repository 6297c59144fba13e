/**
 * packaging.test.ts: what can be checked of the packaging setup without packaging (which
 * downloads Electron): electron-builder.yml starts the app at the compiled main.js that exists,
 * ships what it loads (preload, utility worker, renderer, native addon), unpacks native code from
 * the asar, does not rebuild native modules, targets the three platforms; the icon is a
 * 512x512 PNG next to its SVG source. No YAML parser is a dependency, so keys are read as text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const yml = fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8');

/** The items of a top-level YAML list (`key:` followed by `  - item` lines). */
function listOf(key: string): string[] {
  const m = new RegExp(`^${key}:\\n((?:  - .*\\n|  #.*\\n)+)`, 'm').exec(yml);
  assert.ok(m, `${key} list`);
  return m[1]!.split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4).replace(/^"|"$/g, ''));
}

test('the app starts at the compiled main.js, which exists with its preload and utility worker', () => {
  const main = /^extraMetadata:\n(?:  #.*\n)*  main: (\S+)$/m.exec(yml)?.[1];
  assert.equal(main, 'dist/src-main/electron/main.js');
  for (const f of ['main.js', 'preload.js', 'utility-worker.js', 'utility-bench.js', 'parent-port-bridge.js'])
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src-main', 'electron', f)), f);
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src-main', 'training', 'worker.js')));
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src-main', 'lab', 'bench-child.js')));
});

test('files ship the compiled code, the renderer, bin and the native addon; native code is unpacked; no rebuild', () => {
  const files = listOf('files');
  for (const f of ['package.json', 'dist/src-main/**/*.js', 'dist/renderer/**', 'bin/**', 'build/Release/lshlab.node', 'build/Release/lshlab-native', 'build/Release/liblshlab_cuda.so'])
    assert.ok(files.includes(f), f);
  assert.ok(files.includes('!dist/test/**'), 'tests stay out');
  const unpack = listOf('asarUnpack');
  assert.ok(unpack.includes('**/*.node'));
  assert.ok(unpack.includes('build/Release/**'));
  assert.match(yml, /^npmRebuild: false$/m);
  assert.match(yml, /^nodeGypRebuild: false$/m);
  assert.match(yml, /^  runAsNode: false$/m);
});

test('Linux AppImage and deb, Windows nsis, macOS dmg, each with the icon', () => {
  assert.match(yml, /^linux:\n  target:\n    - AppImage\n    - deb$/m);
  assert.match(yml, /^win:\n  target:\n    - nsis$/m);
  assert.match(yml, /^mac:\n  target:\n    - dmg$/m);
  assert.equal((yml.match(/^  icon: resources\/icon\.png$/gm) ?? []).length, 3);
});

test('the icon is a 512x512 RGBA PNG with its SVG source', () => {
  const png = fs.readFileSync(path.join(ROOT, 'resources', 'icon.png'));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString('ascii', 12, 16), 'IHDR');
  assert.equal(png.readUInt32BE(16), 512);
  assert.equal(png.readUInt32BE(20), 512);
  assert.equal(png[25], 6, 'RGBA');
  assert.match(fs.readFileSync(path.join(ROOT, 'resources', 'icon.svg'), 'utf8'), /<svg [^>]*viewBox="0 0 512 512"/);
});
