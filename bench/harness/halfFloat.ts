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

/** fp16 bits of `v`, round-to-nearest-even (overflow → ±Inf). */
export function encodeF16(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === 0) return sign;
  // Work in units of the smallest subnormal (2^-24) for tiny values, else of the ulp at a's binade.
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;          // guard log2 rounding
  else if (2 ** (e + 1) <= a) e += 1;
  const ulpExp = Math.max(e, -14) - 10;
  const scaled = a / 2 ** ulpExp;  // exact: a power-of-two division
  let q = Math.floor(scaled);
  const rem = scaled - q;
  if (rem > 0.5 || (rem === 0.5 && (q & 1) === 1)) q += 1;
  // q counts ulps; rebuild the bit pattern (q may have carried into the next binade).
  if (ulpExp === -24 && q < 1024) return sign | q;
  let exp = ulpExp + 10;
  let mant = q;
  if (mant >= 2048) {
    mant /= 2;
    exp += 1;
  }
  if (exp > 15) return sign | 0x7c00;
  return sign | ((exp + 15) << 10) | (mant - 1024);
}
