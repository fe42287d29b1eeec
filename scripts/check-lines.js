// The line-count rule of `npm run lint`: no source file under src/ (.ts,
// .cc, .h, .c) longer than 450 lines. A file that grows past it holds more
// than one job; split it along what it owns (CONTRIBUTING.md, "The rules").
// Exits 1 listing every file over the limit, longest first.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const LIMIT = 450;
const EXTENSIONS = new Set(['.ts', '.cc', '.h', '.c']);
const root = path.join(__dirname, '..');

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (entry.isFile() && EXTENSIONS.has(path.extname(entry.name))) yield full;
  }
}

// Lines as `wc -l` and an editor count them: a last line without a newline
// still counts.
function lineCount(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

const over = [];
let checked = 0;
for (const file of sources(path.join(root, 'src'))) {
  checked++;
  const lines = lineCount(file);
  if (lines > LIMIT) over.push({ file: path.relative(root, file), lines });
}
if (over.length > 0) {
  over.sort((a, b) => b.lines - a.lines);
  console.error(`check-lines: ${over.length} file(s) under src/ over ${LIMIT} lines:`);
  for (const { file, lines } of over) console.error(`  ${file}: ${lines} lines`);
  process.exit(1);
}
console.log(`check-lines: ${checked} files under src/, none over ${LIMIT} lines`);
