import { asFp16Bits } from './dtype';
import { describeValue, SparqArgumentError } from './errors';
import { native } from './native';

/** SPARQ_CPU_ISA as this JS realm sees it (forces the SIMD path; '' = best). */
function isa(): string {
  return process.env.SPARQ_CPU_ISA ?? '';
}

/** A Float32Array of `values`; anything that is not a Float32Array, an array or an array-like of numbers is a SparqArgumentError. */
function toFloat32(values: Float32Array | ArrayLike<number>, op: string): Float32Array {
  if (values instanceof Float32Array) return values;
  const arrayLike =
    values !== null && typeof values === 'object' && !(values instanceof DataView) && typeof (values as ArrayLike<number>).length === 'number';
  if (!arrayLike)
    throw new SparqArgumentError(`${op}: values must be a Float32Array or an array of numbers, got ${describeValue(values)}`, { argument: 'values' });
  return Float32Array.from(values as ArrayLike<number>);
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
