// test/firstUse.test.ts: what a new user met in a walkthrough of the README and docs/api.md
// (2026-12-06) — each case failed before its fix: a method taken off its object threw a plain
// TypeError; error messages named the wrong limit, the wrong variable or none; SPARQ_THREADS took
// '0x10' as 16; a lone tensor where a list goes read "got object"; a spelled-out option name
// (`epsilon`) got no hint; a tensor whose shape overflows int64 quoted a saturated count.
import { cpuFeatures, open, toF16, fromF16, SparqArgumentError, SparqShapeError, type Context } from '../src';

function env<T>(vars: Record<string, string | undefined>, f: () => T): T {
  const before: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) before[k] = process.env[k];
  const restore = () => {
    for (const [k, v] of Object.entries(before)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  };
  for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  try {
    const r = f();
    if (r instanceof Promise) return r.finally(restore) as T;
    restore();
    return r;
  } catch (e) {
    restore();
    throw e;
  }
}

describe('first use [cpu]', () => {
  let sq: Context;
  beforeAll(async () => {
    sq = await open({ backend: 'cpu', threads: 1 });
  });
  afterAll(async () => {
    await sq.close();
  });

  it("a context's and an op namespace's methods work taken off their object", async () => {
    const { tensor, synchronize } = sq;
    const { matmul } = sq.dense;
    const w = tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const y = matmul(w, tensor(toF16([1, 1]), [1, 2], 'f16'));
    await synchronize();
    expect(Array.from(fromF16(await y.read()))).toEqual([3, 7]);
    const { quantize } = sq.w4a16;
    expect((await quantize(toF16(new Array(64).fill(0.5)), [1, 64])).disposed).toBe(false);
    // still mockable, and not listed
    expect(Object.getOwnPropertyDescriptor(sq.dense, 'matmul')).toMatchObject({ writable: true, configurable: true, enumerable: false });
    expect(Object.keys(sq)).not.toContain('tensor');
  });

  it('the device limit, the variable that set the backend, the op a bad SPARQ_CPU_ISA broke', async () => {
    await expect(open({ backend: 'cpu', device: 1024 })).rejects.toThrow('open: device must be a CUDA device ordinal, an integer in 0..1023, got number 1024');
    await env({ SPARQ_BACKEND: 'bogus' }, () =>
      expect(open()).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'SPARQ_BACKEND' }));
    await env({ SPARQ_BACKEND: 'cuda' }, async () => {
      // No GPU here: the backend error says where 'cuda' came from. (On a GPU it opens.)
      const r = await open().then((c) => c.close().then(() => null), (e: Error) => e);
      if (r !== null) expect(r.message).toMatch(/\(backend 'cuda' from SPARQ_BACKEND\)$/);
    });
    for (const [f, op] of [[() => toF16([1]), 'toF16'], [() => fromF16(new Uint16Array(1)), 'fromF16']] as const)
      env({ SPARQ_CPU_ISA: 'AVX2' }, () => {
        expect(f).toThrow(SparqArgumentError);
        expect(f).toThrow(`${op}: SPARQ_CPU_ISA must be one of 'avx512', 'avx2', 'scalar', got string "AVX2"`);
      });
  });

  it("SPARQ_THREADS is a count: '0x10' and '1e1' are refused, and cpuFeatures() agrees with open()", async () => {
    const hardware = env({ SPARQ_THREADS: undefined }, () => cpuFeatures().defaultThreads);
    for (const bad of ['0x10', '1e1', '2.0', '-1', '0']) {
      await env({ SPARQ_THREADS: bad }, () => expect(open({ backend: 'cpu' })).rejects.toMatchObject({ argument: 'SPARQ_THREADS' }));
      env({ SPARQ_THREADS: bad }, () => expect(cpuFeatures().defaultThreads).toBe(hardware));
    }
    await env({ SPARQ_THREADS: ' 3 ' }, async () => {
      const c = await open({ backend: 'cpu' });
      expect([c.threads, cpuFeatures().defaultThreads]).toEqual([3, 3]);
      await c.close();
    });
  });

  it('a lone tensor where a list of ranks goes, and `epsilon` for `eps`, are named', () => {
    const t = sq.tensor(toF16(new Array(16).fill(1)), [2, 8], 'f16');
    const g = sq.group({ ranks: 1 });
    expect(() => g.allreduceRmsnorm(t as never, [t], t)).toThrow(
      'group.allreduceRmsnorm: xs must be an array of 1 f16 tensor(s), one per rank, got a tensor (put it in an array: [t])');
    expect(() => g.allreduceRmsnorm([t], [t], t, { epsilon: 1e-5 } as never)).toThrow(/got "epsilon" \(did you mean eps\?\)/);
    g.dispose();
  });

  it('a shape whose element count overflows int64 says so', () => {
    expect(() => sq.tensor(new Float32Array(0), [2 ** 32, 2 ** 32], 'f32')).toThrow(SparqShapeError);
    expect(() => sq.tensor(new Float32Array(0), [2 ** 32, 2 ** 32], 'f32')).toThrow(
      'tensor: data must be more than 2^63 - 1 elements for shape [4294967296, 4294967296], got 0 elements');
  });
});
