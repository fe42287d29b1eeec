#!/usr/bin/env node
'use strict';
// Runs before `npm run demo` and `npm test` (predemo, pretest), so that the
// README's two commands work right after `git clone`: in a clone where the
// dependencies are not installed yet, it runs `npm ci`, whose install and
// prepare scripts build the addon (node-gyp) and dist/ (tsc). It needs
// nothing but Node, since nothing else is there yet. An installed checkout
// without dist/ gets `npm run build:ts`; otherwise it does nothing.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function npm(args) {
  console.log(`> npm ${args.join(' ')}`);
  const r = spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// npm writes node_modules/.package-lock.json at the end of every install.
if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  npm(['ci', '--no-audit', '--no-fund']);
} else if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  npm(['run', 'build:ts']);
}
