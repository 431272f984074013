// test/benchResults.test.ts: a benchmark cut off by a time limit (the device check's) leaves every
// config it finished in its .jsonl — configAppender writes them as they come — and writeResults
// later rewrites the same file whole. Synthetic configs, no timing.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ConfigResult } from '../bench/harness/results';
import { configAppender, writeResults } from '../bench/harness/results';
import { machineInfo } from '../bench/harness/machineInfo';

function config(m: number): ConfigResult {
  return { op: 'w4a16', m, n: 64, k: 128, backend: 'cpu', threads: 2, floorMs: null,
    impls: [{ impl: 'sparq w4a16', status: 'ok', stats: { median: 0.1 * m, p10: 0.1, p90: 0.2, min: 0.1, mean: 0.1, reps: 3 },
      bytes: 1e6, flops: 1e9, relErr: 1e-3, copies: 1, clock: 'stream' }] };
}

describe('bench result files', () => {
  const before = process.env.SPARQ_BENCH_RESULTS;
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-results-'));
    process.env.SPARQ_BENCH_RESULTS = dir;
  });
  afterEach(() => {
    if (before === undefined) delete process.env.SPARQ_BENCH_RESULTS; else process.env.SPARQ_BENCH_RESULTS = before;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const machine = machineInfo(null, null);

  test('configs are on disk as each batch finishes, machine line first', () => {
    const sink = configAppender('w4a16', 'stamp', machine, 'node x');
    const file = path.join(dir, 'w4a16-stamp.jsonl');
    sink([config(1), config(2)]);
    let lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.type, l.m])).toEqual([['machine', undefined], ['config', 1], ['config', 2]]);
    sink([config(4)]);
    lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.m)).toEqual([undefined, 1, 2, 4]);
    expect(lines[3].impls[0].gbps).toBeCloseTo(1e6 / (0.4 * 1e6), 9);
  });

  test('the finished run rewrites the file with the same lines, not appended twice', () => {
    const sink = configAppender('w4a16', 'stamp', machine, 'node x');
    const configs = [config(1), config(8)];
    sink(configs);
    const partial = fs.readFileSync(path.join(dir, 'w4a16-stamp.jsonl'), 'utf8');
    const written = writeResults('w4a16', 'stamp', machine, 'node x', configs, [], null);
    expect(fs.readFileSync(written.jsonl, 'utf8')).toBe(partial);
  });
});
