import { asFp16Bits, type BitsFormat, type Fp16Bits, type HostArrayOf } from './dtype';
import { describeValue, SparqArgumentError, SparqDTypeError, SparqOutOfMemoryError } from './errors';
import { checkCpuIsa } from './cpuIsa';
import { native } from './native';

/** SPARQ_CPU_ISA as this JS realm sees it (forces the SIMD path; '' = best); a bad value is `op`'s error. */
function isa(op: string): string {
  return checkCpuIsa(process.env.SPARQ_CPU_ISA ?? '', `${op}: SPARQ_CPU_ISA`, 'SPARQ_CPU_ISA');
}

/** The longest array-like accepted: a JS array's limit (a larger `length` is a mistake, and would run for minutes). */
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

/** The values to convert, checked: a Float32Array (the native path), or an array or array-like of numbers. */
function checkValues(values: Float32Array | ArrayLike<number>, op: string): Float32Array | ArrayLike<unknown> {
  if (values instanceof Float32Array) return values;
  const expected = `${op}: values must be a Float32Array or an array of numbers`;
  // A Uint16Array here is nearly always bits already (toF16 run twice, or fp16 read back from a
  // tensor): converting them as integers gives numbers in the thousands without a word.
  // (by tag, not instanceof: an array from another realm — a vm context, jest — is one too)
  if (ArrayBuffer.isView(values) && (values as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'Uint16Array')
    throw new SparqDTypeError(
      `${expected}, got a Uint16Array — fp16 or bf16 bits already? (fromF16/fromBF16 turn bits into numbers; to convert integers held in a Uint16Array on purpose, pass new Float32Array(values))`,
      { argument: 'values' },
    );
  const length: unknown = values !== null && typeof values === 'object' && !(values instanceof DataView) ? (values as ArrayLike<number>).length : undefined;
  if (typeof length !== 'number')
    throw new SparqArgumentError(`${expected}, got ${describeValue(values)}`, { argument: 'values' });
  if (!(Number.isInteger(length) && length >= 0 && length <= MAX_ARRAY_LENGTH))
    throw new SparqArgumentError(`${expected}, got an array-like of length ${length}`, { argument: 'values' });
  return values as ArrayLike<unknown>;
}

/**
 * Numbers that are not a Float32Array, as a Float64Array (exact: every JS number is a double), for
 * the native code to round once from each; a non-number element is a SparqArgumentError naming it
 * (Float64Array.from would make it NaN without a word).
 */
function asFloat64(values: ArrayLike<unknown>, op: string): Float64Array {
  if (values instanceof Float64Array) return values;
  const notANumber = (i: number) =>
    new SparqArgumentError(`${op}: values must be a Float32Array or an array of numbers, got ${describeValue(values[i])} at index ${i}`, {
      argument: 'values',
    });
  // A bare { length: 2**32 - 1 } is refused before its 32 GiB are asked for.
  if (values.length > 0 && typeof values[0] !== 'number') throw notANumber(0);
  let out: Float64Array;
  try {
    out = new Float64Array(values.length);
  } catch {
    throw new SparqOutOfMemoryError(`${op}: out of memory for a copy of ${values.length} numbers (${8 * values.length} bytes)`, {
      argument: 'values',
    });
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') throw notANumber(i); // a hole, a string, a Number object …
    out[i] = v;
  }
  return out;
}

/**
 * What toF16 / toBF16 take: numbers, but not a Uint16Array — almost always bits already, refused at
 * run time (SparqDTypeError) and, through this type, at compile time.
 */
export type NotBits<A> = A extends Uint16Array ? never : A;

/**
 * fp32 or JS numbers → fp16 bits, round-to-nearest-even (F16C where present); NaN stays NaN,
 * overflow → ±Inf. A Uint16Array is refused (SparqDTypeError): it is almost always bits already. A Float32Array converts natively and vectorized; other numbers (an array, a
 * Float64Array …) natively too, each rounded once from its double value.
 */
export function toF16<A extends Float32Array | ArrayLike<number>>(values: NotBits<A>): HostArrayOf['f16'] {
  const checked = checkValues(values, 'toF16');
  return native().toF16(checked instanceof Float32Array ? checked : asFloat64(checked, 'toF16'), isa('toF16'));
}

/** fp16 bits (Uint16Array, or a Float16Array) → fp32, exact. */
export function fromF16(bits: Fp16Bits): HostArrayOf['f32'] {
  return native().fromF16(asFp16Bits(bits) as Uint16Array, isa('fromF16'));
}

/** fp32 or JS numbers → bf16 bits, round-to-nearest-even; NaN stays NaN. Numbers are rounded once from their double value, as in {@link toF16}. */
export function toBF16<A extends Float32Array | ArrayLike<number>>(values: NotBits<A>): HostArrayOf['bf16'] {
  const checked = checkValues(values, 'toBF16');
  return native().toBF16(checked instanceof Float32Array ? checked : asFloat64(checked, 'toBF16'), isa('toBF16'));
}

/** bf16 bits → fp32, exact. */
export function fromBF16(bits: Uint16Array & BitsFormat<'bf16'>): HostArrayOf['f32'] {
  return native().fromBF16(bits, isa('fromBF16'));
}
