// README.md's code, as written: each ```js block runs with node in a scratch
// project where `unix-message-socket` is installed (a symlink to this
// checkout), and must exit 0 on its own; every ```js and ```ts block is also
// type-checked by tsc (checkJs). A comment line before a block can say why it
// is not run:
//   <!-- snippet: fragment (why) -->  type-checked only (a pool worker, ...)
//   <!-- snippet: file -->            saved for another block to use, not run
// A block whose first line is `// name.js` is saved under that name (the pool
// primary finds its worker as ./worker.js). ```sh blocks are commands to
// type, not run.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');

interface Snippet {
  line: number;
  lang: string;
  mark: string;
  heading: string;
  code: string;
  file: string;
}

function snippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const found: Snippet[] = [];
  let heading = '';
  // Every index below is inside lines (each loop checks it), so `lines[i]!`
  // only tells tsc what the loop condition already says.
  for (let i = 0; i < lines.length; i++) {
    if (/^#+ /.test(lines[i]!)) heading = lines[i]!.replace(/^#+ /, '');
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    // Both groups always take part in a match (each can match ''), so both are strings.
    const indent = open[1]!;
    const lang = open[2]!;
    const start = i;
    const code: string[] = [];
    for (i++; i < lines.length && lines[i] !== `${indent}\`\`\``; i++) code.push(lines[i]!.slice(indent.length));
    if (i === lines.length) throw new Error(`README.md:${start + 1}: a code block that never closes`);
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const mark = /^\s*<!-- snippet: (\w+)/.exec(lines[before] ?? '')?.[1] ?? (lang === 'js' ? 'run' : '');
    const named = /^\/\/ ([\w.-]+\.m?js)\b/.exec(code[0] ?? '')?.[1];
    const ext = lang === 'ts' ? 'ts' : 'js';
    found.push({ line: start + 1, lang, mark, heading, code: `${code.join('\n')}\n`, file: named ?? `readme-${start + 1}.${ext}` });
  }
  return found;
}

const all = snippets(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
const code = all.filter((s) => s.lang === 'js' || s.lang === 'ts');

// The scratch project: the snippets, and node_modules with this package and
// what the snippets import (rxjs), as a user's project would have them.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-readme-'));
test.before(() => {
  fs.mkdirSync(path.join(scratch, 'node_modules'));
  fs.symlinkSync(root, path.join(scratch, 'node_modules', 'unix-message-socket'));
  for (const dep of ['rxjs', '@types']) fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(scratch, 'node_modules', dep));
  for (const s of code) fs.writeFileSync(path.join(scratch, s.file), s.code);
});
test.after.always(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('every code block is js, ts or sh, and its mark is known', (t) => {
  for (const s of all) {
    t.true(['js', 'ts', 'sh'].includes(s.lang), `README.md:${s.line}: a \`\`\`${s.lang || '(no language)'} block; say js, ts or sh`);
    if (s.lang === 'js') t.true(['run', 'fragment', 'file'].includes(s.mark), `README.md:${s.line}: unknown mark ${s.mark}`);
    else t.is(s.mark, '', `README.md:${s.line}: only js blocks are run, so only they take a mark`);
  }
  t.is(new Set(code.map((s) => s.file)).size, code.length, 'no two blocks save to the same file');
  t.true(code.filter((s) => s.lang === 'js' && s.mark === 'run').length >= 5, 'the runnable blocks were found');
});

test('every js and ts block type-checks against the published types', (t) => {
  fs.writeFileSync(
    path.join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        allowJs: true,
        checkJs: true,
        noEmit: true,
        strict: true,
        skipLibCheck: true,
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'node16',
        moduleResolution: 'node16',
        moduleDetection: 'force',
        types: ['node'],
      },
      files: code.map((s) => s.file),
    }),
  );
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', scratch], { encoding: 'utf8', timeout: 60_000 });
  const report = r.stdout.replace(/\S*(readme-(\d+)\.\w+)/g, (_match, file, line) => `README.md block at line ${line} (${file})`);
  t.is(r.status, 0, report);
});

for (const s of code.filter((c) => c.lang === 'js' && c.mark === 'run')) {
  test(`README.md:${s.line} (${s.heading}) runs as written and exits 0`, (t) => {
    const r = spawnSync(process.execPath, [s.file], { cwd: scratch, encoding: 'utf8', timeout: 30_000 });
    if (r.stdout) t.log(r.stdout.trimEnd());
    t.is(r.signal, null, `killed by ${r.signal}: it did not exit within 30 s`);
    t.is(r.status, 0, r.stderr);
  });
}
