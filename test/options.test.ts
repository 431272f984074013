import { comm, open, toF16, type Context, type CpuIsa, type Float16ArrayLike } from '../src';

/**
 * Option objects: a key the op does not have (a misspelling: `group_size`, `treshold`, `bais`) is a
 * SparqArgumentError naming the key — it used to be ignored, so the op ran with its default and
 * gave a wrong result with no error. The check is in the TypeScript layer, the same on every
 * backend, so cpu stands for all.
 */
const k = 64;
const f16 = (n: number, v = 0.5) => toF16(new Array<number>(n).fill(v));

interface Misspelled {
  op: string;
  call: (sq: Context) => unknown;
  key: string;
  hint?: string;
}

const CASES: Misspelled[] = [
  { op: 'open', call: () => open({ bakend: 'cpu' } as never).then((c) => c.close()), key: 'bakend', hint: 'backend' },
  { op: 'copy', call: (sq) => sq.copy(sq.zeros([2], 'f16'), { ot: sq.zeros([2], 'f16') } as never), key: 'ot', hint: 'out' },
  { op: 'dense.matmul', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { bais: sq.zeros([4], 'f16') } as never), key: 'bais', hint: 'bias' },
  { op: 'dense.matmul', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { foo: undefined } as never), key: 'foo' },
  {
    op: 'sparse.matmul',
    call: async (sq) => sq.sparse.matmul(await sq.sparse.encode(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { Out: sq.zeros([1, 4], 'f16') } as never),
    key: 'Out',
    hint: 'out',
  },
  {
    op: 'w4a16.matmul',
    call: async (sq) => sq.w4a16.matmul(await sq.w4a16.quantize(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { acuracy: 'int8' } as never),
    key: 'acuracy',
    hint: 'accuracy',
  },
  {
    op: 'int8.matmul',
    call: async (sq) => sq.int8.matmul(await sq.int8.quantize(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { treshold: 0 } as never),
    key: 'treshold',
    hint: 'threshold',
  },
  { op: 'w4a16.quantize', call: (sq) => sq.w4a16.quantize(f16(4 * k), [4, k], { group_size: 64 } as never), key: 'group_size', hint: 'groupSize' },
  {
    op: 'w4a16.fromCodes',
    call: (sq) => sq.w4a16.fromCodes(new Uint8Array(4 * k).fill(8), f16(4), [4, k], { groupsize: k } as never),
    key: 'groupsize',
    hint: 'groupSize',
  },
  { op: 'sparse.encode', call: (sq) => sq.sparse.encode(f16(4 * k), [4, k], { formt: 'bitmap' } as never), key: 'formt', hint: 'format' },
  { op: 'sparse.prune', call: (sq) => sq.sparse.prune(f16(4 * k), [4, k], 0.5, { scpe: 'global' } as never), key: 'scpe', hint: 'scope' },
  { op: 'group', call: (sq) => sq.group({ ranks: 2, rank: 0 } as never), key: 'rank', hint: 'ranks' },
  {
    op: 'group.allreduceRmsnorm',
    call: (sq) => {
      const t = () => sq.tensor(f16(8), [1, 8], 'f16');
      return sq.group({ ranks: 1 }).allreduceRmsnorm([t()], [t()], sq.tensor(f16(8), [8], 'f16'), { residual_out: [t()] } as never);
    },
    key: 'residual_out',
    hint: 'residualOut',
  },
  { op: 'comm.create', call: () => comm.create({ max_bytes: 1024 } as never), key: 'max_bytes', hint: 'maxBytes' },
  { op: 'comm.createNccl', call: () => comm.createNccl({ maxbytes: 1024 } as never), key: 'maxbytes', hint: 'maxBytes' },
  {
    op: 'comm',
    call: (sq) => sq.comm({ id: comm.create(), rank: 0, size: 1, timeout: 1000 } as never),
    key: 'timeout',
    hint: 'timeoutMs',
  },
  {
    op: 'comm.allreduceRmsnorm',
    call: async (sq) => {
      const c = await sq.comm({ id: comm.create(), rank: 0, size: 1 });
      const t = () => sq.tensor(f16(8), [1, 8], 'f16');
      try {
        return c.allreduceRmsnorm(t(), t(), sq.tensor(f16(8), [8], 'f16'), { Eps: 1e-5 } as never);
      } finally {
        c.close();
      }
    },
    key: 'Eps',
    hint: 'eps',
  },
];

describe('an option key the op does not have is a SparqArgumentError, never ignored', () => {
  let sq: Context;
  beforeAll(async () => {
    sq = await open({ backend: 'cpu' });
  });
  afterAll(async () => {
    await sq.close();
  });

  it.each(CASES)('$op: $key', async ({ op, call, key, hint }) => {
    const e = (await (async () => call(sq))().then(
      () => undefined,
      (x: unknown) => x,
    )) as (Error & { code?: string; argument?: string }) | undefined;
    expect(e?.constructor.name).toBe('SparqArgumentError');
    expect(e?.code).toBe('ERR_SPARQ_ARGUMENT');
    expect(e?.argument).toBe(key);
    expect(e?.message.startsWith(`${op}: options must have only the keys `)).toBe(true);
    expect(e?.message).toContain(`got ${JSON.stringify(key)}`);
    if (hint) expect(e?.message).toMatch(new RegExp(`\\(did you mean ${hint}\\?\\)$`));
    else expect(e?.message).not.toContain('did you mean');
    // the context computes after it: 8 · 1 · 0.5 = 4
    const y = await sq.dense.matmul(sq.tensor(f16(2 * 8, 1), [2, 8], 'f16'), sq.tensor(f16(8, 0.5), [1, 8], 'f16')).read();
    expect(Array.from(y)).toEqual([0x4400, 0x4400]);
  });

  it('an inherited key is refused too (the op would read it through the prototype)', async () => {
    const q = await sq.w4a16.quantize(f16(4 * k), [4, k]);
    expect(() => sq.w4a16.matmul(q, sq.zeros([1, k], 'f16'), Object.create({ acuracy: 'int8' }) as never)).toThrow(
      /options must have only the keys bias, out, accuracy, got "acuracy" \(did you mean accuracy\?\)/,
    );
  });

  it('a property a library adds to Object.prototype does not make every call fail', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    Object.defineProperty(proto, 'polyfilled', { value: 1, enumerable: true, configurable: true, writable: true });
    try {
      const q = await sq.w4a16.quantize(f16(4 * k), [4, k], { groupSize: 32 });
      expect(q.groupSize).toBe(32);
    } finally {
      delete proto.polyfilled;
    }
  });

  it('the right spelling of each option is accepted (the key lists match the option interfaces)', async () => {
    const w = f16(4 * k);
    const q = await sq.w4a16.quantize(w, [4, k], { groupSize: 32 });
    expect(q.groupSize).toBe(32);
    const x = sq.zeros([1, k], 'f16');
    const out = sq.zeros([1, 4], 'f16');
    expect(sq.w4a16.matmul(q, x, { bias: sq.zeros([4], 'f16'), out, accuracy: 'exact' })).toBe(out);
    const { y } = sq.int8.matmul(await sq.int8.quantize(w, [4, k]), x, { threshold: 0, bias: undefined, out: undefined });
    const sw = await sq.sparse.encode(w, [4, k], { format: 'bitmap', rowLists: false });
    expect(sw.format).toBe('bitmap');
    await sq.sparse.prune(w, [4, k], 0.5, { scope: 'global' });
    await Promise.all([y.read(), sq.sparse.matmul(sw, x, { out }).read()]);
  });
});

describe('an option given as undefined is its default (the types say `?: T | undefined`, for exactOptionalPropertyTypes)', () => {
  it('every option of every op, explicitly undefined, runs as if left out', async () => {
    const u = undefined;
    const sq = await open({ backend: u, device: u, cpuIsa: u, threads: u });
    try {
      const w = f16(4 * k, 1);
      const x = sq.tensor(f16(k, 0.5), [1, k], 'f16');
      const expected = new Array(4).fill(0x5000); // 64 · 1 · 0.5 = 32
      const q = await sq.w4a16.quantize(w, [4, k], { groupSize: u });
      expect(q.groupSize).toBe(k); // 128 capped to k: per channel
      const iw = await sq.int8.quantize(w, [4, k]);
      const sw = await sq.sparse.encode(w, [4, k], { format: u, rowLists: u });
      const pruned = await sq.sparse.prune(w, [4, k], 0, { scope: u });
      expect(Array.from(pruned)).toEqual(Array.from(w));
      const ys = [
        sq.dense.matmul(sq.tensor(w, [4, k], 'f16'), x, { bias: u, out: u }),
        sq.w4a16.matmul(q, x, { bias: u, out: u, accuracy: u }),
        sq.int8.matmul(iw, x, { bias: u, out: u, threshold: u }).y,
        sq.sparse.matmul(sw, x, { bias: u, out: u }),
        sq.copy(sq.tensor(new Uint16Array(expected), [1, 4], 'f16'), { out: u }),
      ];
      for (const y of ys) expect(Array.from(await y.read())).toEqual(expected);
      const g = sq.group({ ranks: 1 });
      const h = sq.tensor(new Uint16Array(8).fill(0x3c00), [1, 8], 'f16');
      const r = g.allreduceRmsnorm([h], [h], sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'), { eps: u, out: u, residualOut: u, algorithm: u });
      expect(Array.from(await r.residual[0].read())).toEqual(new Array(8).fill(0x4000));
      const c = await sq.comm({ id: comm.create({ maxBytes: u }), rank: 0, size: 1, timeoutMs: u, transport: u, node: u });
      const rc = c.allreduceRmsnorm(h, h, sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'), { eps: u, out: u, residualOut: u });
      expect(Array.from(await rc.residual.read())).toEqual(new Array(8).fill(0x4000));
      c.close();
      // Readonly arrays type-check where the runtime takes them: a tensor's own shape, `as const` lists.
      const shape: readonly number[] = sq.tensor(w, [4, k], 'f16').shape;
      expect((await sq.int8.quantize(w, shape)).n).toBe(4);
      const ranks = [h, h] as const;
      expect(sq.group({ ranks: 2 }).allreduceRmsnorm(ranks, ranks.map(() => sq.zeros([1, 8], 'f16')), sq.zeros([8], 'f16')).out).toHaveLength(2);
      const maybeOut: Uint16Array | undefined = Math.random() < 2 ? undefined : new Uint16Array(8);
      expect(Array.from(await h.read(maybeOut))).toEqual(new Array(8).fill(0x3c00)); // read(undefined) is read()
      // copy's out must be the source's tensor type (it widened to Tensor<'f16' | 'f32'>)
      // @ts-expect-error an f32 out for an f16 source
      expect(() => sq.copy(h, { out: sq.zeros([1, 8], 'f32') })).toThrow(/out must be an f16 tensor/);
    } finally {
      await sq.close();
    }
  });
});

describe('types and closed contexts', () => {
  it('group() on a closed context throws SparqDisposedError naming it, like every other op', async () => {
    const sq = await open({ backend: 'cpu' });
    await sq.close();
    let e: (Error & { code?: string; argument?: string }) | undefined;
    try {
      sq.group({ ranks: 2 });
    } catch (x) {
      e = x as typeof e;
    }
    expect(e?.constructor.name).toBe('SparqDisposedError');
    expect(e?.argument).toBe('context');
    expect(e?.message).toBe(`group: context ${sq.label} was closed`);
  });

  it('cpuIsa is typed CpuIsa, and a Float16Array-shaped value type-checks wherever fp16 bits are taken', async () => {
    const sq = await open({ backend: 'cpu' });
    const isa: CpuIsa = sq.cpuIsa; // a compile-time check (tsconfig.test.json): was `string`
    expect(['avx512', 'avx2', 'scalar']).toContain(isa);
    // What TypeScript's own lib declares for Float16Array (BYTES_PER_ELEMENT: number); compile-time only.
    const typeOnly = (a: { readonly buffer: ArrayBufferLike; readonly byteOffset: number; readonly length: number; readonly BYTES_PER_ELEMENT: number; [Symbol.toStringTag]: 'Float16Array' }) => {
      const asLike: Float16ArrayLike = a;
      return [
        () => sq.tensor(a, [a.length], 'f16'),
        () => sq.w4a16.quantize(a, [1, a.length]),
        () => sq.w4a16.fromCodes(new Uint8Array(a.length), a, [1, a.length]),
        () => sq.int8.quantize(a, [1, a.length]),
        () => sq.sparse.encode(a, [1, a.length]),
        () => sq.sparse.prune(a, [1, a.length], 0.5),
        asLike,
      ];
    };
    expect(typeof typeOnly).toBe('function');
    await sq.close();
  });
});

/**
 * A surplus argument to an op that takes data, shapes or options is a misplaced option
 * (int8.quantize(w, shape, { threshold: 0 }) ran without it, dense.matmul(w, x, undefined,
 * { bias }) without the bias): a SparqArgumentError, `argument: 'arguments'`. Methods that take
 * nothing keep JavaScript's rule, so they still work as callbacks.
 */
describe('a surplus argument is refused where it would be a misplaced option', () => {
  let sq: Context;
  beforeAll(async () => {
    sq = await open({ backend: 'cpu' });
  });
  afterAll(async () => {
    await sq.close();
  });
  const t = () => sq.tensor(f16(8), [1, 8], 'f16');
  const w = f16(4 * k);
  const SURPLUS: { op: string; takes: number; call: () => unknown }[] = [
    { op: 'tensor', takes: 3, call: () => (sq.tensor as (...a: unknown[]) => unknown)(f16(2), [2], 'f16', { copy: false }) },
    { op: 'zeros', takes: 2, call: () => (sq.zeros as (...a: unknown[]) => unknown)([2], 'f16', 0) },
    { op: 'copy', takes: 2, call: () => (sq.copy as (...a: unknown[]) => unknown)(t(), {}, {}) },
    { op: 'dense.matmul', takes: 3, call: () => (sq.dense.matmul as (...a: unknown[]) => unknown)(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), undefined, { bias: sq.zeros([4], 'f16') }) },
    { op: 'w4a16.quantize', takes: 3, call: () => (sq.w4a16.quantize as (...a: unknown[]) => unknown)(w, [4, k], {}, { groupSize: 32 }) },
    { op: 'w4a16.fromCodes', takes: 4, call: () => (sq.w4a16.fromCodes as (...a: unknown[]) => unknown)(new Uint8Array(4 * k), f16(4), [4, k], {}, 1) },
    { op: 'w4a16.matmul', takes: 3, call: async () => (sq.w4a16.matmul as (...a: unknown[]) => unknown)(await sq.w4a16.quantize(w, [4, k]), sq.zeros([1, k], 'f16'), {}, { accuracy: 'int8' }) },
    { op: 'sparse.encode', takes: 3, call: () => (sq.sparse.encode as (...a: unknown[]) => unknown)(w, [4, k], {}, { format: 'tiled-csl' }) },
    { op: 'sparse.prune', takes: 4, call: () => (sq.sparse.prune as (...a: unknown[]) => unknown)(w, [4, k], 0.5, {}, { scope: 'global' }) },
    { op: 'sparse.matmul', takes: 3, call: async () => (sq.sparse.matmul as (...a: unknown[]) => unknown)(await sq.sparse.encode(w, [4, k]), sq.zeros([1, k], 'f16'), {}, 1) },
    { op: 'int8.quantize', takes: 2, call: () => (sq.int8.quantize as (...a: unknown[]) => unknown)(w, [4, k], { threshold: 0 }) },
    { op: 'int8.fromCodes', takes: 3, call: () => (sq.int8.fromCodes as (...a: unknown[]) => unknown)(new Int8Array(4 * k), new Float32Array(4), [4, k], {}) },
    { op: 'int8.matmul', takes: 3, call: async () => (sq.int8.matmul as (...a: unknown[]) => unknown)(await sq.int8.quantize(w, [4, k]), sq.zeros([1, k], 'f16'), {}, { threshold: 0 }) },
    { op: 'group.allreduceRmsnorm', takes: 4, call: () => (sq.group({ ranks: 1 }).allreduceRmsnorm as (...a: unknown[]) => unknown)([t()], [t()], sq.zeros([8], 'f16'), {}, 1) },
    {
      op: 'comm.allreduceRmsnorm',
      takes: 4,
      call: async () => {
        const c = await sq.comm({ id: comm.create(), rank: 0, size: 1 });
        try {
          return (c.allreduceRmsnorm as (...a: unknown[]) => unknown)(t(), t(), sq.zeros([8], 'f16'), {}, 1);
        } finally {
          c.close();
        }
      },
    },
  ];

  it.each(SURPLUS)('$op', async ({ op, takes, call }) => {
    let thrown: unknown;
    let result: unknown;
    try {
      result = call();
    } catch (x) {
      thrown = x;
    }
    // a Promise-returning op rejects, never throws (and a synchronous one throws)
    const e = (thrown ?? (await (result as Promise<unknown>).then(() => undefined, (x: unknown) => x))) as (Error & { code?: string; argument?: string }) | undefined;
    expect(e?.constructor.name).toBe('SparqArgumentError');
    expect(e?.argument).toBe('arguments');
    expect(e?.message).toMatch(new RegExp(`^${op.replace('.', '\\.')}: arguments must be at most ${takes} \\(.*\\), got ${takes + 1}`));
    const y = await sq.dense.matmul(sq.tensor(f16(2 * 8, 1), [2, 8], 'f16'), sq.tensor(f16(8, 0.5), [1, 8], 'f16')).read();
    expect(Array.from(y)).toEqual([0x4400, 0x4400]);
  });

  it('methods that take nothing or only options still work as callbacks (then(sq.synchronize), configs.map(open))', async () => {
    await expect(Promise.resolve(1).then(sq.synchronize)).resolves.toBeUndefined();
    const opened = await Promise.all([{ backend: 'cpu' as const, threads: 1 }].map(open));
    await Promise.all(opened.map((c) => c.close()));
    expect([{ ranks: 1 }].map(sq.group).length).toBe(1);
    expect(Array.from({ length: 2 }, () => ({})).map(comm.create).map((id) => id.length)).toEqual([32, 32]);
    const ts = [t(), t()];
    ts.forEach((x) => x.dispose());
    expect(ts.every((x) => x.disposed)).toBe(true);
  });
});

describe('objects that are not options in the options place are refused, not taken for the defaults', () => {
  it('a tensor (dense.matmul(w, x, bias)), a Map, a typed array or a Promise', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const w = sq.zeros([4, k], 'f16');
      const x = sq.zeros([1, k], 'f16');
      const bias = sq.zeros([4], 'f16');
      const cases: [unknown, RegExp][] = [
        [bias, /^dense\.matmul: options must be an object of options, got a sparq tensor \(a tensor goes in by name: \{ bias: t \} or \{ out: t \}\)$/],
        [new Map([['bias', bias]]), /^dense\.matmul: options must be a plain object \(\{ key: value \}\), got a Map of 1 entry$/],
        [new Set(), /got a Set of 0 values$/],
        [new Uint8Array(2), /got Uint8Array\(2\)$/],
        [Promise.resolve({}), /got a Promise \(missing await\?\)$/],
      ];
      for (const [options, message] of cases) {
        let e: (Error & { argument?: string }) | undefined;
        try {
          sq.dense.matmul(w, x, options as never);
        } catch (z) {
          e = z as typeof e;
        }
        expect(e?.constructor.name).toBe('SparqArgumentError');
        expect(e?.argument).toBe('options');
        expect(e?.message).toMatch(message);
      }
      const q = sq.w4a16.quantize(f16(4 * k), [4, k], new Map([['groupSize', 32]]) as never);
      await expect(q).rejects.toThrow(/^w4a16\.quantize: options must be a plain object/);
    } finally {
      await sq.close();
    }
  });
});

describe('a tensor or weight method taken off its object is a SparqArgumentError, not a TypeError', () => {
  it('read and dispose of a tensor and of a weight', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const t = sq.zeros([2], 'f16');
      const q = await sq.w4a16.quantize(f16(4 * k), [4, k]);
      const { read, dispose } = t;
      await expect(read()).rejects.toThrow(/^Tensor\.read: must be called on a sparq tensor \(await t\.read\(\)\), got this = undefined$/);
      expect(() => dispose()).toThrow(/^Tensor\.dispose: must be called on a sparq tensor \(t\.dispose\(\)\), got this = undefined$/);
      expect(() => q.dispose.call({})).toThrow(/^PackedWeight\.dispose: must be called on a sparq weight \(weight\.dispose\(\)\), got this = object$/);
      const weightRead = q.read;
      await expect(weightRead()).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'this' });
      // a receiver whose traps throw still gives a rejection, never a synchronous throw
      const revoked = Proxy.revocable({}, {});
      revoked.revoke();
      for (const read of [t.read, q.read] as ((this: unknown) => Promise<unknown>)[]) {
        let p: Promise<unknown> | undefined;
        expect(() => (p = read.call(revoked.proxy))).not.toThrow();
        await expect(p).rejects.toThrow(/revoked/);
      }
      // the objects themselves are untouched
      expect(Array.from(await t.read())).toEqual([0, 0]);
      expect((await q.read()).codes.length).toBeGreaterThan(0);
    } finally {
      await sq.close();
    }
  });
});
