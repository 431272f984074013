// fp16 on the host in plain JS, so the harness and the peers need no addon: a decode table and
// a round-to-nearest-even encoder (used to build small lookup tables, not per element).

let decodeTable: Float32Array | null = null;

function decodeBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** All 65536 fp16 values as float32 (fp16 → fp32 is exact). */
export function f16Table(): Float32Array {
  if (decodeTable === null) {
    decodeTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) decodeTable[h] = decodeBits(h);
  }
  return decodeTable;
}

/** Decodes fp16 bits to float32. */
export function decodeF16(bits: Uint16Array): Float32Array {
  const table = f16Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
const F32_EXP_REBIAS = (127 - 15) << 23;   // fp32 exponent bias minus fp16's, in fp32 bit position
const F32_MIN_NORMAL_F16 = 0x38800000;     // 2^-14, the smallest normal fp16, as fp32 bits
const F32_F16_OVERFLOW = 0x477ff000;       // 65520: from here on RNE gives Inf
const F16_MANTISSA_SHIFT = 13;             // fp32 has 23 mantissa bits, fp16 10

/**
 * fp16 bits of `v`, round-to-nearest-even, through fp32 (exact for every fp32 input, which is all the
 * benchmarks convert); overflow → ±Inf, NaN → quiet NaN.
 */
export function encodeF16(v: number): number {
  f32Scratch[0] = v;
  const bits = u32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= F32_F16_OVERFLOW) return sign | 0x7c00;
  if (abs < F32_MIN_NORMAL_F16) {
    // Subnormal: count units of 2^-24 (exact in double), round half to even; 1024 units is 0x0400.
    const units = Math.abs(f32Scratch[0]) * 2 ** 24;
    let q = Math.floor(units);
    const rem = units - q;
    if (rem > 0.5 || (rem === 0.5 && (q & 1) === 1)) q += 1;
    return sign | q;
  }
  // Normal: rebias the exponent, then round the 13 dropped mantissa bits half-to-even; a carry out
  // of the mantissa correctly bumps the exponent.
  const rebased = abs - F32_EXP_REBIAS;
  const roundBias = 0x0fff + ((rebased >>> F16_MANTISSA_SHIFT) & 1);
  return sign | ((rebased + roundBias) >>> F16_MANTISSA_SHIFT);
}
