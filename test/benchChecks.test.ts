// test/benchChecks.test.ts: what decides whether a benchmark run passes, and what its results say
// about how it ran (2026-12-06 audit of the harness). A sparq row that failed fails the run whatever
// it is named (on cuda the dense row is named after the kernel that ran, and a wrong result there
// used to exit 0, which the device check records as a pass); an error fails it as a wrong result
// does; a peer's failure does not. The reference check's row sample reaches every row of a 4-row
// group (at m = 13 it checked only rows 0, 4, 8, 12). A tolerance of 1 could not fail (an all-zero
// output reads 1.0). Counts on the command line are integers; a budget asked for is spent; the
// results carry the SPARQ_* switches. No benchmark runs here.
import { CliArgs, UsageError } from '../bench/harness/cliArgs';
import { compareToReference, pickSample } from '../bench/harness/referenceCheck';
import { spreadLabel, type ImplResult } from '../bench/harness/results';
import { describeMachine, machineInfo } from '../bench/harness/machineInfo';
import { measureTogether, type Contender } from '../bench/measure';
import { DEFAULT_MAX_SAMPLES, commonOptions, failedOurs, failedRows, runBenchmarks } from '../bench/runner';
import { parseSparsities, sparseBench } from '../bench/sparse';
import { prepareBench } from '../bench/prepare';
import { Progress } from '../bench/harness/progress';
import { NO_OUTLIER_TOLERANCE } from '../bench/int8';
import { sparqContender } from '../bench/measure';
import { open } from '../src';
import type { ConfigResult } from '../bench/harness/results';

function row(impl: string, status: ImplResult['status'], ours?: boolean): ImplResult {
  return { impl, status, stats: null, bytes: 1, flops: 1, relErr: null, copies: 1, clock: null, ...(ours === undefined ? {} : { ours }) };
}

describe('a benchmark run fails on', () => {
  it("sparq's own rows that are wrong or errors, renamed or not; never on a peer's", () => {
    expect(failedOurs(row('cuBLAS fp16 (cublasGemmEx)', 'wrong', true))).toBe(true);
    expect(failedOurs(row('fp16 dense (kernel not reported)', 'error', true))).toBe(true);
    expect(failedOurs(row('sparq w4a16', 'error'))).toBe(true);
    expect(failedOurs(row('sparq w4a16', 'wrong'))).toBe(true);
    expect(failedOurs(row('sparq w4a16', 'ok', true))).toBe(false);
    expect(failedOurs(row('sparq w4a16', 'skipped', true))).toBe(false);
    expect(failedOurs(row('ORT MatMulNBits L1', 'wrong'))).toBe(false);
    expect(failedOurs(row('ORT MatMul fp32', 'error'))).toBe(false);
  });

  it('a contender marked ours keeps the mark on the rows of its failed check and its failed check call', async () => {
    const spec = { impl: 'cuBLAS fp16 (cublasGemmEx)', bytes: 1, flops: 1, copies: 1, tolerance: 2e-3 };
    const wrong: Contender = {
      spec, ours: true, batch: async () => [1],
      check: async () => ({ ok: false, relErr: 0.5, tolerance: 2e-3, nonFinite: 0, compared: 4 }),
      row: () => row(spec.impl, 'ok', true),
    };
    const throws: Contender = { ...wrong, check: async () => { throw new Error('lost the context'); } };
    const peer: Contender = { ...wrong, ours: undefined };
    const { rows } = await measureTogether([wrong, throws, peer], { budgetMs: 1 });
    expect(rows.map((r) => [r.status, r.ours === true, failedOurs(r)])).toEqual([
      ['wrong', true, true], ['error', true, true], ['wrong', false, false]]);
  });
});

describe('what marks and collects the failures', () => {
  it("sparqContender's rows are ours (what keeps cuda's renamed dense row failing the run) [cpu]", async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const c = sparqContender(sq, { impl: 'sparq dense fp16', bytes: 1, flops: 1, copies: 1, tolerance: 2e-3 },
        { values: new Float64Array(0), sample: { rows: [], cols: [] }, n: 1 }, () => sq.zeros([1, 1], 'f16'), () => undefined);
      expect(c.ours).toBe(true);
      expect(c.row({ median: 1, p10: 1, p90: 1, min: 1, mean: 1, reps: 1 }, { ok: true, relErr: 0, tolerance: 1, nonFinite: 0, compared: 0 }).ours).toBe(true);
    } finally {
      await sq.close();
    }
  });

  it('a wrong or failed row of a --threads pool fails the run too', () => {
    const config = (threadStatus: ImplResult['status']): ConfigResult => ({
      op: 'dense', m: 1, n: 1, k: 1, backend: 'cpu', threads: 2, floorMs: null, impls: [row('sparq dense fp16', 'ok', true)],
      threadRuns: [{ threads: 1, impl: 'sparq dense fp16', status: threadStatus, medianMs: null, p10Ms: null, p90Ms: null,
        floorBandwidth: null, floorMs: null, pctOfFloor: null, note: 'WRONG on one thread' }],
    });
    expect(failedRows([config('ok')])).toEqual([]);
    expect(failedRows([config('wrong')])).toEqual(['sparq dense fp16 on 1 thread: WRONG on one thread']);
    // the run's own thread count is its main row again: one failure, one line
    const one = config('wrong');
    const mirrored: ConfigResult = {
      ...one,
      impls: [row('sparq dense fp16', 'wrong', true)],
      threadRuns: [...one.threadRuns!, { ...one.threadRuns![0], threads: 2, note: 'sparq dense fp16: WRONG' }],
    };
    expect(failedRows([mirrored])).toEqual(['sparq dense fp16: wrong', 'sparq dense fp16 on 1 thread: WRONG on one thread']);
    expect(failedRows([config('error')])).toHaveLength(1);
    expect(failedRows([{ ...config('ok'), impls: [row('cuBLAS fp16 (cublasGemmEx)', 'wrong', true)] }])).toEqual(['cuBLAS fp16 (cublasGemmEx): wrong']);
  });
});

describe('the reference check', () => {
  it('samples every residue mod 4 of the rows (and all rows up to maxRows), with the first and last', () => {
    for (let m = 1; m <= 300; m++) {
      const { rows } = pickSample(m, 64);
      expect(rows[0]).toBe(0);
      expect(rows[rows.length - 1]).toBe(m - 1);
      expect(new Set(rows).size).toBe(rows.length);
      expect(rows.every((r) => Number.isInteger(r) && r >= 0 && r < m)).toBe(true);
      expect(new Set(rows.map((r) => r % 4)).size).toBe(Math.min(m, 4));
      expect(rows.length).toBeLessThanOrEqual(8);
    }
    expect(pickSample(13, 64).rows).toEqual([0, 1, 2, 3, 5, 10, 12]);
  });

  it("an all-zero output fails the int8 benches' outlier-free bound but met the old one (1)", () => {
    const sample = pickSample(2, 3);
    const ref = Float64Array.from([1, -2, 3, 0.5, 4, -1]);
    const zeros = new Float32Array(6);
    expect(compareToReference(zeros, 3, ref, sample, 1).ok).toBe(true);
    expect(NO_OUTLIER_TOLERANCE).toBeLessThan(1);
    expect(compareToReference(zeros, 3, ref, sample, NO_OUTLIER_TOLERANCE).ok).toBe(false);
    const close = Float32Array.from(ref, (v) => v * 1.05);
    expect(compareToReference(close, 3, ref, sample, NO_OUTLIER_TOLERANCE).ok).toBe(true);
  });
});

describe('bench options and results', () => {
  it('integer lists and counts are digits (0x2 and 1e0 read as 2 and 1), and p10–p90 never prints 1.82e+3', () => {
    for (const v of ['0x2', '1e0', '2.0'])
      expect(() => new CliArgs(['--m', v]).ints('m', [1])).toThrow(UsageError);
    expect(() => new CliArgs(['--reps', '1e1']).optionalInt('reps')).toThrow(UsageError);
    expect(new CliArgs(['--m', ' 1, 16 ']).ints('m', [1])).toEqual([1, 16]);
    const stats = { median: 1.8, p10: 1.823, p90: 1.861, min: 1.8, mean: 1.8, reps: 5 };
    expect(spreadLabel({ ...row('sparq', 'ok'), stats }, 1000)).toBe('1820–1860');
    expect(spreadLabel({ ...row('sparq', 'ok'), stats: { ...stats, p10: 0.9997, p90: 5e-10 } }, 1000)).toBe('1000–0.0000005');
    expect(spreadLabel({ ...row('sparq', 'ok'), stats })).toBe('1.82–1.86');
  });

  it('--sparsity reads fractions, bare percents above 1 and percents with %, and refuses a list it cannot read one way (1,50)', () => {
    const sp = (v: string): number[] => parseSparsities(new CliArgs(['--sparsity', v]), [0.5]);
    expect(parseSparsities(new CliArgs([]), [0.5])).toEqual([0.5]);
    expect(sp('0.5,0.8')).toEqual([0.5, 0.8]);
    expect(sp('50,80')).toEqual([0.5, 0.8]);
    expect(sp('1')).toEqual([1]);
    expect(sp('1%, 50%')).toEqual([0.01, 0.5]);
    expect(sp('0.5%,95')).toEqual([0.005, 0.95]);
    expect(sp('0,50')).toEqual([0, 0.5]);
    for (const v of ['1,50', '0.5,80', '101', '-0.5', '1e1', '', '50%%', '%', 'half'])
      expect(() => sp(v)).toThrow(UsageError);
  });

  it('counts are integers (--tokens 0.5 once ran one token and reported 0.5)', () => {
    for (const v of ['0.5', '64.5', '0'])
      expect(() => new CliArgs(['--tokens', v]).int('tokens', 200)).toThrow(UsageError);
    expect(new CliArgs([]).int('tokens', 200)).toBe(200);
    expect(new CliArgs(['--tokens', '7']).int('tokens', 200)).toBe(7);
  });

  it('a --budget given is spent whole; without it a fast op stops at the default sample cap', () => {
    expect(commonOptions(new CliArgs([]), 'cpu').loop.maxReps).toBe(DEFAULT_MAX_SAMPLES);
    expect(commonOptions(new CliArgs(['--budget', '2']), 'cpu').loop.maxReps).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('--threads is refused by a run without dense or w4a16 (it was taken, ignored, and its pools probed) [cpu]', async () => {
    await expect(runBenchmarks([sparseBench], ['--backend', 'cpu', '--threads', '1,2'], '')).rejects.toThrow(
      '--threads and --threads-m apply to the dense and w4a16 benchmarks only (this run: sparse)');
    await expect(runBenchmarks([sparseBench], ['--backend', 'cpu', '--threads-m', '1'], '')).rejects.toThrow(UsageError);
  });

  it('the prepare bench labels its w4a16 row by the grouping it ran (per-channel where 128 does not divide k) [cpu]', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const env = { sq, ort: null, threads: 1, cpuFloor: null, floorProbe: null, cpuPeak: null, peakProbe: null, scaling: [], scalingM: [] };
      const report = await prepareBench(env, new CliArgs(['--shapes', '8x256,8x200', '--reps', '1'])).run(new Progress(0), () => undefined);
      const names = report.configs.map((c) => c.impls.map((r) => r.impl).filter((n) => n.includes('w4a16')));
      expect(names).toEqual([['sparq w4a16.quantize g128 (1 thread)'], ['sparq w4a16.quantize per-channel (1 thread)']]);
    } finally {
      await sq.close();
    }
  });

  it('the machine line carries every SPARQ_* variable of the run', () => {
    const before = { ...process.env };
    try {
      process.env.SPARQ_CPU_ISA = 'avx2';
      process.env.SPARQ_W4A16_NO_AVXVNNI = '1';
      const m = machineInfo(null, null);
      expect(m.sparqEnv).toMatchObject({ SPARQ_CPU_ISA: 'avx2', SPARQ_W4A16_NO_AVXVNNI: '1' });
      expect(Object.keys(m.sparqEnv).every((k) => k.startsWith('SPARQ_'))).toBe(true);
      expect(describeMachine(m)).toMatch(/environment: .*SPARQ_CPU_ISA=avx2/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in before)) delete process.env[k];
      Object.assign(process.env, before);
    }
  });
});
