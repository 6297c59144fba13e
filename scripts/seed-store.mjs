#!/usr/bin/env node
// Seeds a run store and measures runs.list(), series() and append throughput: a thin entry for
// src-main/store/seed.ts (build first: npx tsc -p tsconfig.json). Flags: --runs N --points M
// --big P (points of the long series) --db FILE --keep. Example, a small run:
//   node scripts/seed-store.mjs --runs 1000 --points 1000000
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { main } = require(path.join(root, 'dist', 'src-main', 'store', 'seed.js'));
try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`seed-store: ${e.message}\n`);
  process.exit(1);
}
