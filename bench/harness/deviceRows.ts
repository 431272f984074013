// The device check's result rows and its JSON-lines file (docs/verification.md, "Running the device
// check"). Every row is appended as it finishes — open, write, close — so a SIGKILL of any process
// (a suite's child, the whole command at the device tool's limit) loses no finished row: a
// write(2) that returned is in the kernel's page cache, which outlives the writer, and the files
// are read back on the same running machine. No fsync: it guards only against the machine itself
// going down, after which nothing comes back anyway, and cost ~4 ms a row here (a check writes
// ~500 rows on the GPU's clock).
// Node built-ins only: the GPU machine has node, dist/ and the built libraries, no node_modules.
import * as fs from 'fs';
import * as path from 'path';

/** The file every row goes to, under --out. */
export const ROWS_FILE = 'device-check.jsonl';
/** Every child's stderr, line by line, as it arrives (the "starting" lines included). */
export const LOG_FILE = 'device-check.log';

/**
 * pass/fail: a check that ran; timeout/crash: written by the parent for a suite's child it killed
 * or that died (the case it was in is `name`); skipped: not run, `detail` says why; info: what the
 * parent found out about a failure (compute-sanitizer's report of a device fault), counted neither
 * as passed nor as failed.
 */
export type RowStatus = 'pass' | 'fail' | 'timeout' | 'crash' | 'skipped' | 'info';

export interface Row {
  /** The suite (one child process) that wrote it: info, cases-dense, fragments, … */
  suite: string;
  section: string;
  name: string;
  ok: boolean;
  status: RowStatus;
  detail: string;
  /** seconds since the suite's child started (timeout/crash rows: when it was killed or died) */
  elapsedS?: number;
  /** shared cases: max per-element |err|/bound and the relative norm, against the reference and cpu */
  figures?: { maxRatio: number; maxRatioVsCpu: number; relError: number; relVsCpu: number; seed: number };
  /** the info suite: device, driver, addon, node */
  info?: Record<string, unknown>;
  /**
   * Which of the suite's children wrote it (or, for a timeout/crash row, was killed or died): absent
   * for the first, n for its n-th relaunch — a fresh process that skipped the cases with rows.
   */
  relaunch?: number;
}

/** Appends one row: in the file for every reader, and for any kill of this process, on return. */
export function appendRow(outDir: string, row: Row): void {
  fs.appendFileSync(path.join(outDir, ROWS_FILE), `${JSON.stringify(row)}\n`);
}

/** Every complete row in the file; a torn last line (a kill mid-write) is skipped and counted. */
export function readRows(outDir: string): { rows: Row[]; unreadable: number } {
  const file = path.join(outDir, ROWS_FILE);
  if (!fs.existsSync(file)) return { rows: [], unreadable: 0 };
  const rows: Row[] = [];
  let unreadable = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as Row);
    } catch {
      unreadable += 1;
    }
  }
  return { rows, unreadable };
}

/**
 * Exit codes of a suite's child; anything else (or a signal) is a crash to the parent. `lost`: a
 * case lost the context (its failing row is written) and cases after it are left: the parent
 * relaunches the suite in a fresh process to run them.
 */
export const SUITE_EXIT = { ok: 0, failed: 1, noBackend: 2, lost: 3 } as const;

/**
 * The suites a relaunch can resume: each row is named after its case's "starting" line, so a fresh
 * child skips by name the cases with rows.
 */
export const RESUMABLE_SUITES: ReadonlySet<string> = new Set([
  'cases-dense',
  'cases-dense-sparq',
  'cases-w4a16',
  'cases-sparse',
  'cases-int8',
  'cases-allreduce',
]);

/** The line every suite prints to stderr before each case; the parent reads the last one back. */
export const startingLine = (suite: string, caseName: string): string => `starting ${suite}/${caseName}`;

/** The case named by a "starting" line, or null when the line is something else. */
export function parseStarting(line: string): { suite: string; caseName: string } | null {
  const m = /^starting ([^/\s]+)\/(.*)$/.exec(line);
  return m ? { suite: m[1], caseName: m[2] } : null;
}

/**
 * The line a suite prints to stderr when it has been through all its cases (passing or not): a
 * child that dies after it (a driver's teardown at exit) has nothing left to resume.
 */
export const finishedLine = (suite: string): string => `finished ${suite}`;

export function isFinishedLine(line: string, suite: string): boolean {
  return line === finishedLine(suite);
}

/** Every case name of `suite` that has a row in `outDir`'s file: what a relaunched child skips. */
export function caseNamesWithRows(outDir: string, suite: string): Set<string> {
  return new Set(readRows(outDir).rows.filter((r) => r.suite === suite).map((r) => r.name));
}
