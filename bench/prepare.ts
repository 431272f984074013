// Weight preparation: how long turning a dense fp16 weight into what each op reads takes — the
// load time of a model, paid once per weight. Per shape, from the caller's Uint16Array to a resolved
// weight handle (wall time of the awaited call: the copy of the caller's array on the JS thread,
// the encoding or quantizing on the stream's worker, the upload into backend memory):
//   tensor f16          sq.tensor + synchronize: copy and upload only — the baseline every other
//                       row is divided by (it is the least any preparation must do)
//   w4a16.quantize      RTN to 4 bits, group 128, packed for the backend's kernels
//   int8.quantize       LLM.int8()'s vector-wise quantization, packed
//   sparse.prune 50%    magnitude pruning by row (its result stays on the host)
//   sparse.encode       bitmap at 50% and 90%, tiled-CSL at 50% (on the cpu backend also the row
//                       lists or lanes its kernels read)
// Each row runs on the context's own threads and, on the cpu backend, also on a 1-thread context
// (weight preparation splits rows over the context's threads: formats/host_parallel.h; on cuda and
// sim over the host's cores up to 8). Median of --reps calls (default 5) per row, each on the same
// input; the handles are disposed between calls.
// `node dist/bench/prepare.js --shapes 4096x4096,14336x4096`
import type { Context } from '../src/index';
import { open } from '../src/index';
import { CliArgs } from './harness/cliArgs';
import { encodeF16 } from './harness/halfFloat';
import { Progress } from './harness/progress';
import { Rng } from './harness/randomData';
import { ConfigResult, ImplResult } from './harness/results';
import { summarize } from './harness/stats';
import { Cell, Table } from './harness/table';
import { BenchEnv, ConfigSink, OpBench, OpReport } from './opReport';
import { runnerUsage, benchMain } from './runner';

export const PREPARE_SHAPES: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [14336, 4096]];
const DEFAULT_REPS = 5;
const BASELINE = 'tensor f16';

export const PREPARE_USAGE = `node dist/bench/prepare.js [options]
  --shapes NxK,...  weight shapes (default ${PREPARE_SHAPES.map(([n, k]) => `${n}x${k}`).join(',')})
  --reps N          calls per row, the median reported (default ${DEFAULT_REPS})
${runnerUsage({ peers: false, threads: false })}
`;

/** One way of preparing a weight: resolves once the handle exists, and frees it. */
interface Preparation {
  readonly name: string;
  /** The row's label at this k, where it depends on k (else `name`). */
  labelAt?(k: number): string;
  run(sq: Context, w: Uint16Array, n: number, k: number, pruned: Map<number, Uint16Array>): Promise<void>;
}

const PREPARATIONS: readonly Preparation[] = [
  { name: BASELINE, run: async (sq, w, n, k) => { const t = sq.tensor(w, [n, k], 'f16'); await sq.synchronize(); t.dispose(); } },
  // per-channel where 128 does not divide k (a --shapes of the user's): w4a16.quantize's default
  // (groups of 128, per-channel only below k = 128) would refuse such a k
  { name: 'w4a16.quantize g128', labelAt: (k) => (w4a16Group(k) === 128 ? 'w4a16.quantize g128' : 'w4a16.quantize per-channel'),
    run: async (sq, w, n, k) => (await sq.w4a16.quantize(w, [n, k], { groupSize: w4a16Group(k) })).dispose() },
  { name: 'int8.quantize', run: async (sq, w, n, k) => (await sq.int8.quantize(w, [n, k])).dispose() },
  { name: 'sparse.prune 50% by row', run: async (sq, w, n, k) => { await sq.sparse.prune(w, [n, k], 0.5); } },
  ...([[0.5, 'bitmap'], [0.9, 'bitmap'], [0.5, 'tiled-csl']] as const).map(([s, format]): Preparation => ({
    name: `sparse.encode ${format} ${s * 100}%`,
    run: async (sq, w, n, k, pruned) => (await sq.sparse.encode(pruned.get(s) as Uint16Array, [n, k], { format })).dispose(),
  })),
];

function w4a16Group(k: number): number {
  return k % 128 === 0 ? 128 : k;
}

/** Weights uniform on ±[1/64, 1/32) with random signs: finite and non-zero, like a trained layer's scale. */
function randomWeight(n: number, k: number, rng: Rng): Uint16Array {
  const w = new Uint16Array(n * k);
  for (let i = 0; i < w.length; i++) w[i] = encodeF16((rng.next() < 0.5 ? -1 : 1) * (1 + rng.next()) / 64);
  return w;
}

async function timeCalls(reps: number, call: () => Promise<void>): Promise<number[]> {
  await call();  // warm: first-touch of the pools and buffers is not what a model load repeats
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return samples;
}

function implName(prep: string, threads: number): string {
  return `sparq ${prep} (${threads} thread${threads === 1 ? '' : 's'})`;
}

export function prepareBench(env: BenchEnv, args: CliArgs): OpBench {
  const shapes = args.shapes('shapes', PREPARE_SHAPES);
  const reps = args.optionalInt('reps') ?? DEFAULT_REPS;
  const sq = env.sq;
  const cpu = sq.backend === 'cpu';
  const steps = shapes.length * PREPARATIONS.length;
  return {
    op: 'prepare',
    steps,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const one = cpu && env.threads !== 1 ? await open({ backend: 'cpu', threads: 1 }) : null;
      const contexts = one === null ? [sq] : [sq, one];
      const configs: ConfigResult[] = [];
      const rows: Cell[][] = [];
      const rng = new Rng(20261204);
      try {
        for (const [n, k] of shapes) {
          progress.note(`prepare ${n}x${k}: generating and pruning the weight`);
          const w = randomWeight(n, k, rng);
          const pruned = new Map<number, Uint16Array>();
          for (const s of [0.5, 0.9]) pruned.set(s, await sq.sparse.prune(w, [n, k], s));
          const impls: ImplResult[] = [];
          const base = new Map<Context, number>();
          for (const prep of PREPARATIONS) {
            const label = prep.labelAt?.(k) ?? prep.name;
            progress.step(`prepare ${n}x${k} ${label}`);
            const cells: Cell[] = [`${n}x${k}`, label];
            for (const ctx of contexts) {
              const stats = summarize(await timeCalls(reps, () => prep.run(ctx, w, n, k, pruned)));
              if (prep.name === BASELINE) base.set(ctx, stats.median);
              impls.push({ impl: implName(label, ctx.threads), status: 'ok', stats, bytes: 2 * n * k, flops: 0,
                relErr: null, copies: 1, clock: 'wall', ours: true });
              cells.push(stats.median, (n * k) / (stats.median * 1e3), stats.median / (base.get(ctx) as number));
            }
            rows.push(cells);
          }
          const config: ConfigResult = { op: 'prepare', m: 0, n, k, backend: sq.backend, threads: sq.threads, impls, floorMs: null };
          configs.push(config);
          finished([config]);
        }
      } finally {
        await one?.close();
      }
      const headers = ['shape n x k', 'preparation'];
      for (const ctx of contexts) {
        const t = `${ctx.threads} thr`;
        headers.push(`${t} ms`, `${t} M weights/s`, `${t} × ${BASELINE}`);
      }
      const table: Table = {
        title: `Weight preparation (median of ${reps} awaited calls, wall ms; × ${BASELINE} = time / the plain upload's on the same context)`,
        headers,
        rows,
      };
      return { op: 'prepare', configs, tables: [table], chart: null, summary: [] };
    },
  };
}

if (require.main === module) benchMain([prepareBench], PREPARE_USAGE);
