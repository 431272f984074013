// test/benchCli.test.ts: the bench scripts' command line (bench/harness/cliArgs.ts) refuses what it
// used to take silently or turn into a stack trace later — a value where a flag goes, a flag with
// no value, a flag twice, a fractional --reps (once rounded to 0: an all-NaN run reported ok),
// empty or oversized shapes — and each run's file stamp (freshStamp) checks the results folder
// first and never reuses another run's stamp. No benchmark runs here.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { CliArgs, UsageError } from '../bench/harness/cliArgs';
import { freshStamp } from '../bench/harness/results';

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('no UsageError');
}

describe('bench command line', () => {
  it('a flag given twice, a value for a flag, an option with no value', () => {
    expect(usageError(() => new CliArgs(['--m', '1', '--m', '2']))).toBe('--m is given twice');
    expect(usageError(() => new CliArgs(['--no-peers', 'yes']).flag('no-peers'))).toBe('--no-peers takes no value, got "yes"');
    expect(usageError(() => new CliArgs(['--no-peers=false']).flag('no-peers'))).toBe('--no-peers takes no value, got "false"');
    expect(usageError(() => new CliArgs(['--m']).ints('m', [1]))).toBe('--m needs a value; see --help');
    expect(usageError(() => new CliArgs(['--shapes', '--m', '1']).shapes('shapes', []))).toBe('--shapes needs a value; see --help');
    const ok = new CliArgs(['--full', '--m', '1,16', '--budget=0.25']);
    expect([ok.flag('full'), ok.ints('m', []), ok.number('budget', 1), ok.flag('no-peers')]).toEqual([true, [1, 16], 0.25, false]);
    expect(ok.unknown()).toEqual([]);
  });

  it('--reps is a positive integer (0.4 was rounded to 0 reps), shapes have dims >= 1 and n·k <= 2^30', () => {
    for (const v of ['0.4', '2.5', '0', '-1', 'abc'])
      expect(usageError(() => new CliArgs(['--reps', v]).optionalInt('reps'))).toBe(`--reps must be a positive integer, got "${v}"`);
    expect(new CliArgs(['--reps', '3']).optionalInt('reps')).toBe(3);
    for (const s of ['0x5', '256x0', '100000x100000'])
      expect(usageError(() => new CliArgs(['--shapes', s]).shapes('shapes', []))).toMatch(/each dim must be at least 1 and n·k at most 2\^30/);
    expect(new CliArgs(['--shapes', '8192x28672,1x1']).shapes('shapes', [])).toEqual([[8192, 28672], [1, 1]]);
  });
});

describe('bench result stamps', () => {
  const before = process.env.SPARQ_BENCH_RESULTS;
  afterEach(() => {
    if (before === undefined) delete process.env.SPARQ_BENCH_RESULTS;
    else process.env.SPARQ_BENCH_RESULTS = before;
  });

  it('a second run in the same second gets its own stamp; a folder that cannot be made is a UsageError before any work', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-stamp-'));
    process.env.SPARQ_BENCH_RESULTS = path.join(dir, 'nested', 'results');
    const at = new Date('2026-12-05T05:00:00.123Z');
    const first = freshStamp(['dense', 'w4a16'], at);
    expect(first).toBe('2026-12-05T05-00-00Z');
    // reserved at once (created empty), so a run starting in the same second cannot take it too
    for (const op of ['dense', 'w4a16']) expect(fs.existsSync(path.join(dir, 'nested', 'results', `${op}-${first}.jsonl`))).toBe(true);
    expect(freshStamp(['dense', 'w4a16'], at)).toBe('2026-12-05T05-00-00Z-2');
    expect(freshStamp(['w4a16'], at)).toBe('2026-12-05T05-00-00Z-3');
    expect(freshStamp(['sparse'], at)).toBe(first); // another op's files do not collide
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    process.env.SPARQ_BENCH_RESULTS = path.join(file, 'x');
    expect(usageError(() => freshStamp(['dense'], at))).toMatch(/^the results folder .*a-file\/x cannot be written \(ENOTDIR/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// The two benches that print one JSON line: --help, and a usage mistake or a backend that cannot
// open as one line with exit code 2 (they printed a stack trace and exited 1, and had no --help).
describe('decodeLoop and opOverhead command line', () => {
  const run = (script: string, argv: string[]) =>
    spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'bench', `${script}.js`), ...argv], { encoding: 'utf8', timeout: 60_000 });
  it.each(['decodeLoop', 'opOverhead'])('%s: --help, a bad option, a bad backend', (script) => {
    const help = run(script, ['--help']);
    expect([help.status, help.stdout.startsWith(`node dist/bench/${script}.js [options]`)]).toEqual([0, true]);
    for (const [argv, message] of [
      [['--nope', '1'], `${script}: unknown option --nope (see --help)`],
      [['-h'], `${script}: unexpected argument "-h" (options look like --name value) (see --help)`],
      [['--backend', 'foo'], `${script}: open: backend must be one of 'auto', 'cuda', 'cpu', 'sim', got "foo" (see --help)`],
    ] as const) {
      const r = run(script, [...argv]);
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 2, stderr: message });
    }
  });
});
