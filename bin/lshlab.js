#!/usr/bin/env node
'use strict';
// The `lshlab` command: a shim over the compiled CLI (npm install / npm run build produce dist/).
const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'src-main', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`lshlab: ${entry} is missing: run npm install (or npm run build)\n`);
  process.exit(1);
}
require(entry).run();
