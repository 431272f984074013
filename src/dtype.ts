/** Element types. f16/bf16 travel as raw bits in a Uint16Array (or a Float16Array for f16, where the runtime has one). */
export type DType = 'f16' | 'bf16' | 'f32' | 'i8' | 'u8' | 'i32';

/** Node ≥ 24's Float16Array, where the runtime has one (typed structurally: Node 20's lib has none). */
export interface Float16ArrayLike {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly length: number;
  readonly BYTES_PER_ELEMENT: number;
  [Symbol.toStringTag]: 'Float16Array';
}

/**
 * Which 16-bit format a Uint16Array of bits holds, in the types only (nothing sets the property):
 * the arrays sparq returns carry it, so fp16 bits where bf16 bits are expected, or back, do not
 * compile — they were silently wrong numbers (0.5 read as 1.75) — while a plain Uint16Array still
 * passes as either.
 */
export interface BitsFormat<F extends 'f16' | 'bf16'> {
  readonly __sparqBits?: F;
}

/** fp16 values as their raw bits: a Uint16Array, or a Float16Array where the runtime has one. */
export type Fp16Bits = (Uint16Array & BitsFormat<'f16'>) | Float16ArrayLike;

/**
 * The array type `C.of()` returns: on TypeScript ≥ 5.7 the one over a plain ArrayBuffer
 * (`Uint16Array<ArrayBuffer>`), on older versions the plain type. Every array sparq makes is one,
 * so its `.buffer` type-checks as a `Transferable` (`postMessage(a, [a.buffer])`), which
 * `Uint16Array` alone (`<ArrayBufferLike>`: maybe a SharedArrayBuffer) does not since 5.7.
 */
type FreshArray<C extends { of(...items: number[]): unknown }> = ReturnType<C['of']>;

/** The host array type that carries each dtype: what `read()` returns (always a fresh, unshared ArrayBuffer). */
export interface HostArrayOf {
  f16: FreshArray<Uint16ArrayConstructor> & BitsFormat<'f16'>;
  bf16: FreshArray<Uint16ArrayConstructor> & BitsFormat<'bf16'>;
  f32: FreshArray<Float32ArrayConstructor>;
  i8: FreshArray<Int8ArrayConstructor>;
  u8: FreshArray<Uint8ArrayConstructor>;
  i32: FreshArray<Int32ArrayConstructor>;
}

/**
 * The host array types a tensor can be created from or read into: any backing buffer (a
 * SharedArrayBuffer too), plus Float16Array for f16.
 */
export interface HostInputOf {
  f16: (Uint16Array & BitsFormat<'f16'>) | Float16ArrayLike;
  bf16: Uint16Array & BitsFormat<'bf16'>;
  f32: Float32Array;
  i8: Int8Array;
  u8: Uint8Array;
  i32: Int32Array;
}

/** Any host array a tensor can be read into or created from. */
export type HostArray = Exclude<HostInputOf[DType], Float16ArrayLike>;

/** A Float16Array (Node ≥ 24) viewed as its raw fp16 bits; anything else is returned unchanged. */
export function asFp16Bits(data: unknown): unknown {
  const ctor = (globalThis as { Float16Array?: abstract new (...args: never[]) => unknown }).Float16Array;
  if (ctor !== undefined && data instanceof ctor) {
    const f = data as unknown as Float16ArrayLike;
    return new Uint16Array(f.buffer, f.byteOffset, f.length);
  }
  return data;
}
