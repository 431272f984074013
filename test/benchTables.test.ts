// test/benchTables.test.ts: the benchmark reports' tables have one cell per header in every row
// (a column added to the rows but not the headers shifts every later header in the printed table;
// it happened to the w4a16 int8 columns). Synthetic configs, no timing.
import type { ConfigResult, ImplResult } from '../bench/harness/results';
import { denseReport } from '../bench/dense';
import { int8Report } from '../bench/int8Report';
import { W4A16_IMPLS, w4a16Report } from '../bench/w4a16Report';

function impl(name: string, median: number): ImplResult {
  return { impl: name, status: 'ok', stats: { median, p10: median * 0.9, p90: median * 1.1, min: median * 0.8, mean: median, reps: 9 },
    bytes: 1e6, flops: 1e9, relErr: 1e-3, copies: 2, clock: 'stream' };
}

function config(op: string, backend: string, impls: ImplResult[]): ConfigResult {
  return { op, m: 16, n: 4096, k: 4096, groupSize: 128, backend, threads: 2, impls, floorMs: 0.4, floorBandwidth: 25e9 };
}

describe('bench report tables', () => {
  const cases: Array<[string, ConfigResult[]]> = [
    ['w4a16 cpu', [config('w4a16', 'cpu', Object.values(W4A16_IMPLS).map((n, i) => impl(n, 1 + i)))]],
    ['w4a16 cpu without ORT', [config('w4a16', 'cpu', [W4A16_IMPLS.sparq, W4A16_IMPLS.dense, W4A16_IMPLS.sparqInt8].map((n, i) => impl(n, 1 + i)))]],
    ['w4a16 cuda', [config('w4a16', 'cuda', [impl(W4A16_IMPLS.sparq, 0.1), impl('cuBLAS fp16', 0.2)])]],
    ['int8 cpu', [config('int8', 'cpu', [impl('sparq int8', 1), impl('sparq dense fp16', 2)])]],
    ['dense cpu', [config('dense', 'cpu', [impl('sparq dense fp16', 1), impl('ORT MatMul fp32', 2)])]],
    ['dense cpu without ORT', [config('dense', 'cpu', [impl('sparq dense fp16', 1)])]],
  ];
  const reportOf = (configs: ConfigResult[]) =>
    configs[0].op === 'w4a16' ? w4a16Report(configs, null) : configs[0].op === 'dense' ? denseReport(configs) : int8Report(configs, null);
  test.each(cases)('%s: every row has one cell per header', (_name, configs) => {
    const report = reportOf(configs);
    for (const t of report.tables) for (const row of t.rows) expect({ title: t.title, cells: row.length }).toEqual({ title: t.title, cells: t.headers.length });
  });

  // --no-peers (or no onnxruntime-node): the w4a16 CPU table printed four empty ORT columns and
  // explained ratios against ORT (until 2026-12-06).
  test('w4a16 cpu: ORT columns only where ORT ran', () => {
    const withOrt = w4a16Report([config('w4a16', 'cpu', Object.values(W4A16_IMPLS).map((n, i) => impl(n, 1 + i)))], null).tables[0];
    const without = w4a16Report([config('w4a16', 'cpu', [impl(W4A16_IMPLS.sparq, 1), impl(W4A16_IMPLS.dense, 2), impl(W4A16_IMPLS.sparqInt8, 0.5)])], null).tables[0];
    expect(withOrt?.headers.filter((h) => h.includes('ORT'))).toEqual(['ORT L1 ms', 'ORT L4 ms', '/ORT L1', '/ORT L4', 'ORT L4 rel err', 'int8 /ORT L4']);
    expect(without?.headers.filter((h) => h.includes('ORT'))).toEqual([]);
    expect(without?.title).toContain('no onnxruntime-node in this run');
    expect(without?.rows[0]?.[without.headers.indexOf('/dense')]).toBeCloseTo(1 / 2, 6);
  });

  // The dense table the same way: with --no-peers its title explained a ratio to ORT that no
  // column showed (until 2026-12-06).
  test('dense cpu: ORT columns and the ratio note only where ORT ran', () => {
    const withOrt = denseReport([config('dense', 'cpu', [impl('sparq dense fp16', 1), impl('ORT MatMul fp32', 2)])]).tables[0];
    const without = denseReport([config('dense', 'cpu', [impl('sparq dense fp16', 1)])]).tables[0];
    expect(withOrt?.headers.filter((h) => h.includes('ORT'))).toEqual(['ORT ms', 'ORT GB/s', 'ORT GFLOP/s', 'sparq/ORT']);
    expect(withOrt?.title).toContain('ratio = sparq time / ORT time');
    expect(withOrt?.rows[0]?.[withOrt.headers.indexOf('sparq/ORT')]).toBeCloseTo(1 / 2, 6);
    expect(without?.headers.filter((h) => h.includes('ORT'))).toEqual([]);
    expect(without?.title).toContain('no onnxruntime-node in this run');
    expect(without?.title).not.toContain('ORT time');
  });
});
