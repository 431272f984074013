// bench/decodeLoop.ts: a decode loop as a service runs one: per token, X from the host, a chain of layers that each
// allocate their output, one read() of the last, every tensor disposed. What it measures beside
// the kernels is what a token costs around them — allocation, the read's synchronize, frees — so
// it is the bench for settings of that kind, e.g. the cuda pool's release threshold
// (docs/api.md "Memory on cuda"): run it once with SPARQ_CUDA_POOL_RELEASE_BYTES=0 and once
// without, on the same GPU, and compare the medians.
//
//   node dist/bench/decodeLoop.js [--backend cuda] [--n 4096] [--layers 8] [--tokens 200]
//
// Prints one JSON line: ms per token (median, p10, p90 over --tokens after 10 warm-up tokens).
import { type Tensor } from '../src';
import { UsageError, type CliArgs } from './harness/cliArgs';
import { randomF16, Rng } from './harness/randomData';
import { openBackend, standaloneMachine, standaloneMain } from './harness/standalone';
import { summarize } from './harness/stats';

const USAGE = `node dist/bench/decodeLoop.js [options]
  --backend auto|cpu|cuda|sim  sparq backend (default auto)
  --n N        square layer size, n x n fp16 weights (default 4096)
  --layers L   layers per token (default 8)
  --tokens T   timed tokens, after 10 warm-up ones (default 200)
  --help
Prints one JSON line: ms per token (median, p10, p90) and the machine.
`;

async function main(args: CliArgs): Promise<void> {
  const backend = args.string('backend', 'auto');
  const n = args.int('n', 4096);
  const layers = args.int('layers', 8);
  const tokens = args.int('tokens', 200);
  const unknown = args.unknown();
  if (unknown.length > 0) throw new UsageError(`unknown option ${unknown.join(', ')}`);

  const sq = await openBackend(backend);
  try {
    const rng = new Rng(20261205);
    // Square layers, so each output feeds the next; a scale near 1/√n keeps a deep chain finite
    // (randomF16 takes powers of two).
    const scale = 2 ** -Math.ceil(Math.log2(n) / 2);
    const weights = Array.from({ length: layers }, () => sq.tensor(randomF16(n * n, scale, rng), [n, n], 'f16'));
    const x = randomF16(n, 1, rng);
    const token = async (): Promise<void> => {
      const made: Tensor<'f16'>[] = [sq.tensor(x, [1, n], 'f16')];
      for (const w of weights) made.push(sq.dense.matmul(w, made[made.length - 1]));
      await made[made.length - 1].read();
      for (const t of made) t.dispose();
    };
    for (let i = 0; i < 10; i++) await token();
    const ms: number[] = [];
    for (let i = 0; i < tokens; i++) {
      const t0 = performance.now();
      await token();
      ms.push(performance.now() - t0);
    }
    const s = summarize(ms);
    for (const w of weights) w.dispose();
    console.log(
      JSON.stringify({
        bench: 'decodeLoop',
        backend: sq.backend,
        device: sq.device?.name ?? null,
        n,
        layers,
        tokens,
        poolReleaseBytes: process.env.SPARQ_CUDA_POOL_RELEASE_BYTES ?? null,
        msPerToken: { median: s.median, p10: s.p10, p90: s.p90 },
        date: new Date().toISOString(),
        machine: standaloneMachine(sq),
      }),
    );
  } finally {
    await sq.close();
  }
}

standaloneMain('decodeLoop', USAGE, main);
