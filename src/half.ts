import { asFp16Bits } from './dtype';
import { describeValue, SparqArgumentError } from './errors';
import { native } from './native';

/** SPARQ_CPU_ISA as this JS realm sees it (forces the SIMD path; '' = best). */
function isa(): string {
  return process.env.SPARQ_CPU_ISA ?? '';
}

/** The longest array-like accepted: a JS array's limit (a larger `length` is a mistake, and would run for minutes). */
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

/** A Float32Array of `values`; anything that is not a Float32Array, an array or an array-like of numbers is a SparqArgumentError. */
function toFloat32(values: Float32Array | ArrayLike<number>, op: string): Float32Array {
  if (values instanceof Float32Array) return values;
  const expected = `${op}: values must be a Float32Array or an array of numbers`;
  const length: unknown = values !== null && typeof values === 'object' && !(values instanceof DataView) ? (values as ArrayLike<number>).length : undefined;
  if (typeof length !== 'number')
    throw new SparqArgumentError(`${expected}, got ${describeValue(values)}`, { argument: 'values' });
  if (!(Number.isInteger(length) && length >= 0 && length <= MAX_ARRAY_LENGTH))
    throw new SparqArgumentError(`${expected}, got an array-like of length ${length}`, { argument: 'values' });
  try {
    return Float32Array.from(values as ArrayLike<number>);
  } catch (error) {
    // BigInts and Symbols do not convert to numbers; a getter's own exception passes through.
    if (error instanceof TypeError || error instanceof RangeError)
      throw new SparqArgumentError(`${expected}, got an element that is not a number (${error.message})`, { argument: 'values' });
    throw error;
  }
}

/** fp32 → fp16 bits, round-to-nearest-even (F16C where present); NaN stays NaN, overflow → ±Inf. */
export function toF16(values: Float32Array | ArrayLike<number>): Uint16Array {
  return native().toF16(toFloat32(values, 'toF16'), isa());
}

/** fp16 bits (Uint16Array, or a Float16Array) → fp32, exact. */
export function fromF16(bits: Uint16Array): Float32Array {
  return native().fromF16(asFp16Bits(bits) as Uint16Array, isa());
}

/** fp32 → bf16 bits, round-to-nearest-even; NaN stays NaN. */
export function toBF16(values: Float32Array | ArrayLike<number>): Uint16Array {
  return native().toBF16(toFloat32(values, 'toBF16'), isa());
}

/** bf16 bits → fp32, exact. */
export function fromBF16(bits: Uint16Array): Float32Array {
  return native().fromBF16(bits, isa());
}
