// clang-format over the addon's C++ (src/native/*.cc, *.h), by .clang-format.
//   node scripts/clang-format.js          check: exits 1 if a file would change
//   node scripts/clang-format.js --write  format the files in place
// clang-format is a system tool, not an npm package: where it is not
// installed this says so and exits 0, unless REQUIRE_CLANG_FORMAT=1 (CI sets
// it, so the check is never skipped there).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const write = process.argv.includes('--write');
const nativeDir = path.join(root, 'src', 'native');
const files = fs
  .readdirSync(nativeDir)
  .filter((name) => name.endsWith('.cc') || name.endsWith('.h'))
  .sort()
  .map((name) => path.join('src', 'native', name));

const version = spawnSync('clang-format', ['--version'], { encoding: 'utf8' });
if (version.error !== undefined || version.status !== 0) {
  if (process.env.REQUIRE_CLANG_FORMAT === '1') {
    console.error('clang-format: not installed, and REQUIRE_CLANG_FORMAT=1 (apt-get install clang-format)');
    process.exit(1);
  }
  console.log(`clang-format: SKIPPED, not installed (apt-get install clang-format); ${files.length} C++ files not ${write ? 'formatted' : 'checked'}`);
  process.exit(0);
}
if (!fs.existsSync(path.join(root, '.clang-format'))) {
  console.error('clang-format: no .clang-format at the repository root');
  process.exit(1);
}
const args = write ? ['-i', ...files] : ['--dry-run', '-Werror', ...files];
const r = spawnSync('clang-format', args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(1);
console.log(`clang-format (${version.stdout.trim()}): ${files.length} files ${write ? 'formatted' : 'formatted as .clang-format says'}`);
