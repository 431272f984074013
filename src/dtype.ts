/** Element types. f16/bf16 travel as raw bits in a Uint16Array (or a Float16Array for f16, where the runtime has one). */
export type DType = 'f16' | 'bf16' | 'f32' | 'i8' | 'u8' | 'i32';

/** The host array type that carries each dtype. */
export interface HostArrayOf {
  f16: Uint16Array;
  bf16: Uint16Array;
  f32: Float32Array;
  i8: Int8Array;
  u8: Uint8Array;
  i32: Int32Array;
}

/** Any host array a tensor can be read into or created from. */
export type HostArray = HostArrayOf[DType];

export const DTYPES: readonly DType[] = ['f16', 'bf16', 'f32', 'i8', 'u8', 'i32'];

/** Bytes per element. */
export function dtypeBytes(dtype: DType): number {
  return dtype === 'f16' || dtype === 'bf16' ? 2 : dtype === 'f32' || dtype === 'i32' ? 4 : 1;
}

interface Float16ArrayLike {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly length: number;
}

/** A Float16Array (Node ≥ 24) viewed as its raw fp16 bits; anything else is returned unchanged. */
export function asFp16Bits(data: unknown): unknown {
  const ctor = (globalThis as { Float16Array?: abstract new (...args: never[]) => unknown }).Float16Array;
  if (ctor !== undefined && data instanceof ctor) {
    const f = data as unknown as Float16ArrayLike;
    return new Uint16Array(f.buffer, f.byteOffset, f.length);
  }
  return data;
}
