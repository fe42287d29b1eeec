// `npm run test:fuzz`: the fuzz campaign. Generates the cases from a seed
// with fast-check, runs them in batches in child processes (child.ts), a few
// at a time, and reports every case that broke an invariant with the seed,
// its number and its recipe. A child that dies (an abort, a signal, a hang)
// is blamed on the case it had started; that case is run again alone to
// confirm, and the rest of its batch goes on in a new child.
//
//   node --import tsx test/fuzz/run.ts [--seed N] [--cases N] [--jobs N] [--batch N] [--only I] [--targets a,b]
//
// Exits 0 only when every case passed.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { SETUP_FAILED, type ChildInput, type ChildLine } from './protocol';
import type { CaseRecipe } from './recipe';
import { targets } from './targets/index';

interface Options {
  seed: number;
  cases: number;
  jobs: number;
  batch: number;
  only: number | null;
  targets: string[] | null;
}

function parse(argv: readonly string[]): Options {
  const o: Options = { seed: Date.now() % 0x7fffffff, cases: 10_000, jobs: os.availableParallelism(), batch: 200, only: null, targets: null };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--seed':
        o.seed = Number(value);
        i++;
        break;
      case '--cases':
        o.cases = Number(value);
        i++;
        break;
      case '--jobs':
        o.jobs = Number(value);
        i++;
        break;
      case '--batch':
        o.batch = Number(value);
        i++;
        break;
      case '--only':
        o.only = Number(value);
        i++;
        break;
      case '--targets':
        o.targets = value!.split(',');
        i++;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

/** Case i's own seed: any case can be generated again alone. */
function caseSeed(seed: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ i, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0;
}

function recipes(o: Options): Array<{ index: number; recipe: CaseRecipe }> {
  const chosen = o.targets === null ? targets : targets.filter((t) => o.targets!.includes(t.name));
  if (chosen.length === 0) throw new Error(`no target among ${targets.map((t) => t.name).join(', ')}`);
  const arb = fc.oneof(...chosen.map((t) => ({ weight: t.weight, arbitrary: t.args.map((args): CaseRecipe => ({ target: t.name, args })) })));
  const indices = o.only !== null ? [o.only] : Array.from({ length: o.cases }, (_, i) => i);
  return indices.map((index) => ({ index, recipe: fc.sample(arb, { seed: caseSeed(o.seed, index), numRuns: 1 })[0]! }));
}

interface Failure {
  index: number;
  recipe: CaseRecipe;
  violations: string[];
}

interface BatchResult {
  done: Map<number, { violations: string[]; ms: number }>;
  /** The case a dead child had started and not finished. */
  crashed: { index: number; how: string; stderr: string } | null;
}

const CHILD = path.join(__dirname, 'child.ts');
const HANG_MS = 30_000;

function runBatch(cases: Array<{ index: number; recipe: CaseRecipe }>): Promise<BatchResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TSX_DISABLE_CACHE: '1' } });
    const done = new Map<number, { violations: string[]; ms: number }>();
    let started: number | null = null;
    let ended = false;
    let stderr = '';
    let watchdog: NodeJS.Timeout | null = null;
    let hung = false;
    const arm = (): void => {
      if (watchdog !== null) clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    arm();
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      if (process.env.FUZZ_DEBUG !== undefined) process.stderr.write(d);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: ChildLine;
      try {
        msg = JSON.parse(line) as ChildLine;
      } catch {
        stderr = `${stderr}\n(stdout) ${line}`.slice(-4000);
        return;
      }
      arm();
      if ('ready' in msg) return;
      if ('start' in msg) started = msg.start;
      else if ('done' in msg) {
        done.set(msg.done, { violations: msg.violations, ms: msg.ms });
        started = null;
      } else ended = true;
    });
    child.on('close', (code, signal) => {
      if (watchdog !== null) clearTimeout(watchdog);
      if (code === SETUP_FAILED) {
        // Not a finding: the fuzzer cannot run here. Stop everything.
        process.stderr.write(stderr);
        process.exit(2);
      }
      if (ended && code === 0) {
        resolve({ done, crashed: null });
        return;
      }
      const how = hung ? `hung for ${HANG_MS / 1000} s (killed)` : signal !== null ? `killed by ${signal}` : `exited with ${String(code)}`;
      const index = started ?? cases.find((c) => !done.has(c.index))?.index ?? -1;
      resolve({ done, crashed: { index, how, stderr } });
    });
    child.stdin.end(JSON.stringify({ cases } satisfies ChildInput));
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const t0 = Date.now();
  const all = recipes(o);
  const byIndex = new Map(all.map((c) => [c.index, c.recipe]));
  const queue: Array<Array<{ index: number; recipe: CaseRecipe }>> = [];
  for (let i = 0; i < all.length; i += o.batch) queue.push(all.slice(i, i + o.batch));
  const failures: Failure[] = [];
  const perTarget = new Map<string, number>();
  let finished = 0;
  let crashes = 0;
  const worker = async (): Promise<void> => {
    for (let batch = queue.shift(); batch !== undefined; batch = queue.shift()) {
      const r = await runBatch(batch);
      for (const [index, { violations }] of r.done) {
        finished++;
        const target = byIndex.get(index)!.target;
        perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
        if (violations.length > 0) failures.push({ index, recipe: byIndex.get(index)!, violations });
      }
      if (r.crashed !== null) {
        crashes++;
        const { index, how, stderr } = r.crashed;
        const alone = await runBatch([{ index, recipe: byIndex.get(index)! }]);
        const confirmed =
          alone.crashed !== null ? `it dies alone too (${alone.crashed.how})` : 'it passes alone: the crash needs the cases before it in the batch';
        failures.push({
          index,
          recipe: byIndex.get(index)!,
          violations: [`the child process ${how}; ${confirmed}`, `stderr: ${stderr.trim().split('\n').slice(-12).join('\n        ')}`],
        });
        finished++;
        const rest = batch.filter((c) => !r.done.has(c.index) && c.index !== index);
        if (rest.length > 0) queue.unshift(rest);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  failures.sort((a, b) => a.index - b.index);
  for (const f of failures) {
    console.log(`\nFAIL case ${f.index} (seed ${o.seed}), target ${f.recipe.target}`);
    for (const v of f.violations) console.log(`  - ${v}`);
    console.log(`  recipe: ${JSON.stringify(f.recipe.args)}`);
    console.log(
      `  replay: node --import tsx test/fuzz/run.ts --seed ${o.seed} --only ${f.index}${o.targets === null ? '' : ` --targets ${o.targets.join(',')}`}`,
    );
  }
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  const split = [...perTarget]
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  console.log(`\nfuzz: ${finished} cases (${split}), seed ${o.seed}, ${o.jobs} jobs, ${seconds} s`);
  console.log(`fuzz: ${failures.length} failing cases, ${crashes} child crashes`);
  process.exitCode = failures.length === 0 && finished === all.length ? 0 : 1;
}

void main();
