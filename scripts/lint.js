// `npm run lint`: every check of the repository's habits, each run even when
// one before it failed, so that one run lists everything to fix:
//   eslint             eslint.config.mjs, over every .ts, .js and .mjs file
//   prettier --check   .prettierrc.json (`npm run format` rewrites the files)
//   check-lines        no file under src/ over 450 lines (scripts/check-lines.js)
//   clang-format       src/native by .clang-format (scripts/clang-format.js)
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const steps = [
  ['eslint', bin('eslint'), ['.']],
  ['prettier --check', bin('prettier'), ['--check', '--log-level', 'warn', '**/*.{ts,js,mjs,cjs}']],
  ['check-lines', process.execPath, [path.join(__dirname, 'check-lines.js')]],
  ['clang-format', process.execPath, [path.join(__dirname, 'clang-format.js')]],
];

const failed = [];
for (const [name, command, args] of steps) {
  console.log(`\n--- ${name}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed.push(name);
  else console.log(`${name}: ok`);
}
if (failed.length > 0) {
  console.error(`\nlint: failed: ${failed.join(', ')}${failed.includes('prettier --check') ? ' (npm run format fixes the formatting)' : ''}`);
  process.exit(1);
}
console.log('\nlint: all checks passed');
