// Builds ONNX ModelProto bytes for the benchmark peers: an fp32 MatMul and a com.microsoft
// MatMulNBits (4-bit). Field numbers are those of onnx/onnx.proto (proto2, "optional"/"repeated"):
//   ModelProto        ir_version 1, producer_name 2, graph 7, opset_import 8
//   OperatorSetIdProto domain 1, version 2
//   GraphProto        node 1, name 2, initializer 5, input 11, output 12
//   NodeProto         input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto    name 1, i 3, type 20 (AttributeType INT = 2)
//   TensorProto       dims 1, data_type 2, name 8, raw_data 9 (DataType FLOAT = 1, UINT8 = 2, INT8 = 3)
//   ValueInfoProto    name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1, shape 2
//   TensorShapeProto  dim 1;  TensorShapeProto.Dimension dim_value 1, dim_param 2
import * as os from 'os';
import { ProtoWriter } from './protobufWriter';

const IR_VERSION = 8;        // understood by every onnxruntime since 1.10
const ONNX_OPSET = 17;
const MS_OPSET = 1;          // com.microsoft domain version that defines MatMulNBits
const ATTR_INT = 2;
const DTYPE_FLOAT = 1;
const DTYPE_UINT8 = 2;
const NIBBLES_PER_BYTE = 2;
/** MatMulNBits' zero point when the zero_points input is absent: 2^(bits-1). */
export const NBITS_DEFAULT_ZERO_POINT = 8;

/** A dimension: a fixed size or a symbolic name (e.g. `'m'`). */
type Dim = number | string;

function tensorShape(dims: readonly Dim[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  return shape;
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ProtoWriter {
  const tensorType = new ProtoWriter().varint(1, elemType).message(2, tensorShape(dims));
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

function initializer(name: string, elemType: number, dims: readonly number[], data: ArrayBufferView): ProtoWriter {
  const t = new ProtoWriter();
  for (const d of dims) t.varint(1, d);  // repeated int64, unpacked (proto2 default)
  t.varint(2, elemType).string(8, name);
  // raw_data must be little-endian; typed arrays use the host order.
  t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return t;
}

function intAttribute(name: string, value: number): ProtoWriter {
  return new ProtoWriter().string(1, name).varint(20, ATTR_INT).varint(3, value);
}

interface NodeSpec {
  opType: string;
  name: string;
  domain?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, number>>;
}

function node(spec: NodeSpec): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of spec.inputs) n.string(1, i);
  for (const o of spec.outputs) n.string(2, o);
  n.string(3, spec.name).string(4, spec.opType);
  for (const [key, value] of Object.entries(spec.attributes ?? {})) n.message(5, intAttribute(key, value));
  if (spec.domain !== undefined) n.string(7, spec.domain);
  return n;
}

function model(graph: ProtoWriter, domains: ReadonlyArray<readonly [string, number]>): Uint8Array {
  if (os.endianness() !== 'LE') throw new Error('onnxModel: raw_data must be little-endian; this host is big-endian');
  const m = new ProtoWriter().varint(1, IR_VERSION).string(2, 'sparq-bench');
  m.message(7, graph);
  for (const [domain, version] of domains) m.message(8, new ProtoWriter().string(1, domain).varint(2, version));
  return m.finish();
}

/**
 * The bytes of copy `copy` of a weight initializer: `base` itself for copy 0 (the copy whose output
 * the benches check), else a copy whose first byte differs. onnxruntime shares initializers with
 * identical contents (measured 2026-11-30: 32 identical int8 4096×4096 copies ran at 0.63 ms per
 * node on one thread, 32 distinct ones at 1.24 ms), so identical copies would all be read from
 * the one cached weight and the rotation that keeps sparq's weights out of the caches would not
 * apply to the peer. Changing one byte changes one weight of copies 1.. (their outputs are not
 * checked) and makes every copy its own memory.
 */
export function distinctCopy<T extends Float32Array | Uint8Array | Int8Array>(base: T, copy: number): T {
  if (copy === 0) return base;
  const out = base.slice() as T;
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  bytes[0] ^= (copy % 255) + 1; // never 0: copies 1..255 all differ from copy 0 and from each other
  return out;
}

/**
 * `copies` independent Y_i[m, n] = X[m, k] · B_i[k, n], fp32, each B_i = Wᵀ its own initializer
 * with its own bytes (distinctCopy), so the weights live at `copies` different addresses; m
 * symbolic. One run executes every node back to back on one thread pool, like the layers of one
 * model.
 * @param wT fp32 `[k, n]` row-major (the transpose of the nn.Linear weight W[n, k]).
 */
export function buildMatMulModel(wT: Float32Array, k: number, n: number, copies = 1): Uint8Array {
  if (wT.length !== k * n) throw new RangeError(`buildMatMulModel: wT must have k*n = ${k * n} elements, got ${wT.length}`);
  const graph = new ProtoWriter();
  for (let i = 0; i < copies; i++) graph.message(1, node({ opType: 'MatMul', inputs: ['X', `B${i}`], outputs: [`Y${i}`], name: `MatMul_${i}` }));
  graph.string(2, 'dense_matmul');
  for (let i = 0; i < copies; i++) graph.message(5, initializer(`B${i}`, DTYPE_FLOAT, [k, n], distinctCopy(wT, i)));
  graph.message(11, valueInfo('X', DTYPE_FLOAT, ['m', k]));
  for (let i = 0; i < copies; i++) graph.message(12, valueInfo(`Y${i}`, DTYPE_FLOAT, ['m', n]));
  return model(graph, [['', ONNX_OPSET]]);
}

/** Inputs of a 4-bit MatMulNBits model. */
export interface MatMulNBitsSpec {
  n: number;
  k: number;
  /** Rows of k per scale; MatMulNBits needs a power of two >= 16. */
  blockSize: number;
  /** 1 = fp32 compute, 4 = int8 activations (ORT's fastest CPU path). */
  accuracyLevel: number;
  /** Codes 0..15, `[n, k]` row-major. */
  codes: Uint8Array;
  /** fp32 scales `[n, k / blockSize]`. */
  scales: Float32Array;
  /** Write an explicit zero_points input (all 8) instead of relying on the default. Defaults to false. */
  explicitZeroPoints?: boolean;
}

/** codes[n, k] → B[n, k/block, block/2], two codes per byte, the lower k index in the low nibble. */
export function packNibbles(codes: Uint8Array): Uint8Array {
  const packed = new Uint8Array(Math.ceil(codes.length / NIBBLES_PER_BYTE));
  for (let i = 0; i < packed.length; i++) {
    const lo = codes[2 * i] & 0xf;
    const hi = 2 * i + 1 < codes.length ? codes[2 * i + 1] & 0xf : 0;
    packed[i] = lo | (hi << 4);
  }
  return packed;
}

/**
 * `copies` independent Y_i[m, n] = A[m, k] · dequant(B_i)ᵀ, dequant = (code − zero_point) · scale per
 * block of k, each copy with its own initializers. Attributes K, N, bits = 4, block_size,
 * accuracy_level; opsets "" 17 and "com.microsoft" 1.
 */
export function buildMatMulNBitsModel(spec: MatMulNBitsSpec, copies = 1): Uint8Array {
  const { n, k, blockSize } = spec;
  if (k % blockSize !== 0) throw new RangeError(`buildMatMulNBitsModel: k = ${k} must be a multiple of blockSize = ${blockSize}`);
  const blocks = k / blockSize;
  if (spec.codes.length !== n * k) throw new RangeError(`buildMatMulNBitsModel: codes must have n*k = ${n * k} elements, got ${spec.codes.length}`);
  if (spec.scales.length !== n * blocks) throw new RangeError(`buildMatMulNBitsModel: scales must have ${n * blocks} elements, got ${spec.scales.length}`);
  const packed = packNibbles(spec.codes);
  const zpBytesPerRow = Math.ceil(blocks / NIBBLES_PER_BYTE);
  const zp = spec.explicitZeroPoints === true
    ? new Uint8Array(n * zpBytesPerRow).fill(NBITS_DEFAULT_ZERO_POINT | (NBITS_DEFAULT_ZERO_POINT << 4))
    : null;
  const graph = new ProtoWriter();
  for (let i = 0; i < copies; i++) {
    const inputs = ['A', `B${i}`, `scales${i}`, ...(zp === null ? [] : [`zero_points${i}`])];
    graph.message(1, node({
      opType: 'MatMulNBits',
      name: `MatMulNBits_${i}`,
      domain: 'com.microsoft',
      inputs,
      outputs: [`Y${i}`],
      attributes: { K: k, N: n, bits: 4, block_size: blockSize, accuracy_level: spec.accuracyLevel },
    }));
  }
  graph.string(2, 'w4_matmul');
  for (let i = 0; i < copies; i++) {
    graph.message(5, initializer(`B${i}`, DTYPE_UINT8, [n, blocks, blockSize / NIBBLES_PER_BYTE], distinctCopy(packed, i)));
    graph.message(5, initializer(`scales${i}`, DTYPE_FLOAT, [n, blocks], spec.scales));
    if (zp !== null) graph.message(5, initializer(`zero_points${i}`, DTYPE_UINT8, [n, zpBytesPerRow], zp));
  }
  graph.message(11, valueInfo('A', DTYPE_FLOAT, ['m', k]));
  for (let i = 0; i < copies; i++) graph.message(12, valueInfo(`Y${i}`, DTYPE_FLOAT, ['m', n]));
  return model(graph, [['', ONNX_OPSET], ['com.microsoft', MS_OPSET]]);
}

const DTYPE_INT8 = 3;

/** Inputs of an int8 DynamicQuantizeMatMul model (com.microsoft). */
export interface DynamicQuantizeMatMulSpec {
  n: number;
  k: number;
  /** int8 codes `[n, k]` row-major (nn.Linear layout); written transposed as B[k, n]. */
  codes: Int8Array;
  /** fp32 per-output-column scale `[n]`: w ≈ code · scale. */
  scales: Float32Array;
}

/**
 * `copies` independent Y_i[m, n] = A[m, k] · dequant(B_i): com.microsoft DynamicQuantizeMatMul
 * quantizes A to uint8 per tensor at run time, multiplies with the int8 B (symmetric, per-column
 * b_scale, no zero point) in integers and dequantizes — ORT's own quantize/matmul/dequantize chain.
 */
export function buildDynamicQuantizeMatMulModel(spec: DynamicQuantizeMatMulSpec, copies = 1): Uint8Array {
  const { n, k } = spec;
  if (spec.codes.length !== n * k) throw new RangeError(`buildDynamicQuantizeMatMulModel: codes must have n*k = ${n * k} elements, got ${spec.codes.length}`);
  if (spec.scales.length !== n) throw new RangeError(`buildDynamicQuantizeMatMulModel: scales must have n = ${n} elements, got ${spec.scales.length}`);
  const bT = new Int8Array(k * n);
  for (let j = 0; j < n; j++) for (let c = 0; c < k; c++) bT[c * n + j] = spec.codes[j * k + c];
  const graph = new ProtoWriter();
  for (let i = 0; i < copies; i++) {
    graph.message(1, node({ opType: 'DynamicQuantizeMatMul', name: `DynamicQuantizeMatMul_${i}`, domain: 'com.microsoft',
      inputs: ['A', `B${i}`, `b_scale${i}`], outputs: [`Y${i}`] }));
  }
  graph.string(2, 'int8_matmul');
  for (let i = 0; i < copies; i++) {
    graph.message(5, initializer(`B${i}`, DTYPE_INT8, [k, n], distinctCopy(bT, i)));
    graph.message(5, initializer(`b_scale${i}`, DTYPE_FLOAT, [n], spec.scales));
  }
  graph.message(11, valueInfo('A', DTYPE_FLOAT, ['m', k]));
  for (let i = 0; i < copies; i++) graph.message(12, valueInfo(`Y${i}`, DTYPE_FLOAT, ['m', n]));
  return model(graph, [['', ONNX_OPSET], ['com.microsoft', MS_OPSET]]);
}
