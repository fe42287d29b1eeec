// What the fuzz parent (run.ts) and its children (child.ts) say to each
// other: a batch of cases on the child's stdin, one JSON line per event on
// its stdout.
import type { CaseRecipe } from './recipe';

export interface ChildInput {
  cases: Array<{ index: number; recipe: CaseRecipe }>;
}

export type ChildLine = { ready: true } | { start: number } | { done: number; violations: string[]; ms: number } | { end: true };

/** The exit status of a child whose harness failed (not a finding: the run stops). */
export const SETUP_FAILED = 70;
