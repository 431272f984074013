import { fromBF16, fromF16, SparqArgumentError, SparqDTypeError, toBF16, toF16 } from '../src';
import { cpuIsas, withIsa } from './helpers/backends';
import { bf16BitsToNumber, f16BitsToNumber, f32ToBF16Bits, freshSeed, numberToF16Bits, rng } from './reference';

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);

function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}
function f32FromBits(u: number): number {
  return new Float32Array(new Uint32Array([u >>> 0]).buffer)[0];
}
/** The fp32 neighbours of v (v is a finite fp32 value). */
function neighbours(v: number): number[] {
  const u = f32Bits(v);
  const out: number[] = [];
  if ((u & 0x7fffffff) !== 0) out.push(f32FromBits(u - 1));
  else out.push(f32FromBits(0x80000001), f32FromBits(1)); // around ±0
  if ((u & 0x7fffffff) < 0x7f7fffff) out.push(f32FromBits(u + 1));
  return out;
}

/** Encoding probes: every representable value, both fp32 neighbours, the midpoints to the next value, the edges. */
function probes(decode: (h: number) => number): Float32Array {
  const vals: number[] = [];
  for (let h = 0; h < 65536; h++) {
    const v = decode(h);
    if (!Number.isFinite(v)) continue;
    vals.push(v, ...neighbours(v));
    const next = decode(h + 1);
    if (h < 65535 && Number.isFinite(next) && Math.sign(next) === Math.sign(v) && (h & 0x7fff) !== 0x7fff)
      vals.push((v + next) / 2); // exact in fp32: one more mantissa bit than the 16-bit format
  }
  vals.push(65504, 65519.99, 65520, 65536, -65520, 1e30, -1e30, Infinity, -Infinity, 2 ** -25, 2 ** -24 * 1.5, -0, 0);
  return Float32Array.from(vals);
}

function sameBits(got: Uint16Array, want: (i: number) => number, label: string): void {
  let bad = 0;
  let first = '';
  for (let i = 0; i < got.length; i++) {
    const w = want(i);
    if (got[i] !== w) {
      if (!first) first = `${label} #${i}: got 0x${got[i].toString(16)}, want 0x${w.toString(16)}`;
      bad++;
    }
  }
  if (bad) throw new Error(`${bad} mismatches; first ${first}`);
}

function isNaNF16(h: number): boolean {
  return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
}
function isNaNBF16(h: number): boolean {
  return (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
}

describe.each(cpuIsas())('fp16/bf16 conversion [isa=%s]', (isa) => {
  it('fromF16: decodes all 65,536 patterns exactly (NaN stays NaN)', async () => {
    const got = await withIsa(isa, () => fromF16(ALL));
    for (let h = 0; h < 65536; h++) {
      const want = f16BitsToNumber(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
      else if (got[h] !== want || Object.is(got[h], -0) !== Object.is(want, -0)) throw new Error(`0x${h.toString(16)} → ${got[h]}, want ${want}`);
    }
  });

  it('fromBF16: decodes all 65,536 patterns exactly', async () => {
    const got = await withIsa(isa, () => fromBF16(ALL));
    for (let h = 0; h < 65536; h++) {
      const want = bf16BitsToNumber(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
      else if (!Object.is(got[h], want)) throw new Error(`0x${h.toString(16)} → ${got[h]}, want ${want}`);
    }
  });

  it('toF16: every value, its neighbours, the midpoints (ties to even), overflow and subnormals', async () => {
    const vals = probes(f16BitsToNumber);
    expect(vals.length).toBeGreaterThan(4 * 60000);
    const got = await withIsa(isa, () => toF16(vals));
    sameBits(got, (i) => numberToF16Bits(vals[i]), 'toF16');
    expect(got[vals.indexOf(65520)]).toBe(0x7c00);
    expect(got[vals.indexOf(Math.fround(65519.99))]).toBe(0x7bff);
  });

  it('toF16: NaN stays NaN, ±Inf stay ±Inf', async () => {
    const got = await withIsa(isa, () => toF16(new Float32Array([NaN, -NaN, Infinity, -Infinity])));
    expect(isNaNF16(got[0]) && isNaNF16(got[1])).toBe(true);
    expect([got[2], got[3]]).toEqual([0x7c00, 0xfc00]);
  });

  it('toBF16: every value, its neighbours and the midpoints (ties to even)', async () => {
    const vals = probes(bf16BitsToNumber);
    const got = await withIsa(isa, () => toBF16(vals));
    sameBits(got, (i) => f32ToBF16Bits(vals[i]), 'toBF16');
  });

  it('toBF16: NaN stays NaN (never rounds to Inf)', async () => {
    const nanWithLowPayload = f32FromBits(0x7f800001);
    const got = await withIsa(isa, () => toBF16(new Float32Array([NaN, nanWithLowPayload, f32FromBits(0xffffffff)])));
    for (const h of got) expect(isNaNBF16(h)).toBe(true);
  });
});

describe('conversion helpers: arguments', () => {
  it('accept plain number arrays', () => {
    expect(Array.from(fromF16(toF16([1, -2, 0.5])))).toEqual([1, -2, 0.5]);
  });

  it('numbers (not a Float32Array) are rounded once, from their double value', () => {
    // Through fp32 first they rounded twice: 1 + 2^-11 + 2^-30 → fp32 1 + 2^-11 (a tie) → fp16 1.
    expect(toF16([1 + 2 ** -11 + 2 ** -30])[0]).toBe(0x3c01);
    expect(toF16(new Float64Array([1 + 2 ** -11 + 2 ** -30]))[0]).toBe(0x3c01);
    expect(toBF16([1 + 2 ** -8 + 2 ** -40])[0]).toBe(0x3f81);
    expect(toBF16([-(1 + 2 ** -8 + 2 ** -40)])[0]).toBe(0xbf81);
    // fresh random doubles over fp16's range, and ones a hair past its midpoints, against the
    // float64 reference; values exact in fp32 against the native Float32Array path
    const seed = freshSeed();
    const next = rng(seed);
    const doubles: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const v = (next() < 0.5 ? -1 : 1) * 2 ** (-26 + 43 * next()) * (1 + next());
      const h = numberToF16Bits(v) & 0x7fff;
      doubles.push(v);
      if (h < 0x7bff) {
        const mid = (f16BitsToNumber(h) + f16BitsToNumber(h + 1)) / 2;
        doubles.push(mid * (1 + 2 ** -40), mid * (1 - 2 ** -40), mid);
      }
    }
    sameBits(toF16(doubles), (i) => numberToF16Bits(doubles[i]), `toF16 numbers, seed ${seed}`);
    const exact = Array.from(probes(f16BitsToNumber));
    sameBits(toF16(exact), (i) => toF16(new Float32Array([exact[i]]))[0], 'toF16 numbers vs Float32Array');
    const exactBF16 = Array.from(probes(bf16BitsToNumber));
    sameBits(toBF16(exactBF16), (i) => f32ToBF16Bits(exactBF16[i]), 'toBF16 numbers vs fp32 reference');
    expect(isNaNF16(toF16([NaN])[0]) && isNaNBF16(toBF16([NaN])[0])).toBe(true);
    expect(Array.from(toF16([-0, 5e-324, -Infinity]))).toEqual([0x8000, 0, 0xfc00]);
  });

  it('refuse a huge array-like whose first element is no number before allocating for it', () => {
    expect(() => toF16({ length: 2 ** 32 - 1 } as never)).toThrow(/got undefined at index 0$/);
    expect(() => toBF16([1, , 3] as never)).toThrow(/got undefined at index 1$/); // a hole
  });

  it('refuse an element that is not a number, naming its index (it used to become NaN)', () => {
    for (const f of [toF16, toBF16]) {
      let err: unknown;
      try {
        f([1, '2', 3] as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparqArgumentError);
      expect((err as SparqArgumentError).argument).toBe('values');
      expect((err as Error).message).toMatch(/values must be a Float32Array or an array of numbers, got string "2" at index 1$/);
    }
  });
});

describe('conversions refuse what is not an array of numbers with a typed error', () => {
  it.each([undefined, null, 7, 'abc', new DataView(new ArrayBuffer(4))])('toF16(%p) and toBF16 throw SparqArgumentError naming values', (v) => {
    for (const f of [toF16, toBF16]) {
      let err: unknown;
      try {
        f(v as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparqArgumentError);
      expect((err as SparqArgumentError).argument).toBe('values');
      expect((err as Error).message).toMatch(/^to(B)?F16: values must be a Float32Array or an array of numbers, got /);
    }
  });

  it('a Uint16Array (bits already: converting twice read them as integers) is a SparqDTypeError; a Float32Array copy of it converts', () => {
    const bits = toF16(new Float32Array([0.5, 1.5, -2]));
    for (const f of [toF16, toBF16]) {
      let err: unknown;
      try {
        // @ts-expect-error a Uint16Array is refused at compile time too (NotBits); JS callers meet the run-time check
        f(bits);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparqDTypeError);
      expect((err as SparqDTypeError).argument).toBe('values');
      expect((err as Error).message).toMatch(/got a Uint16Array — fp16 or bf16 bits already\?/);
    }
    expect(Array.from(fromF16(toF16(new Float32Array(new Uint16Array([3, 14336])))))).toEqual([3, 14336]);
  });
});
