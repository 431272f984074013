export { open, Context } from './context';
export type { OpenOptions, BackendName, BackendRequest, CpuIsa, DeviceInfo, LaunchInfo } from './context';
export { Tensor } from './tensor';
export type { DType, HostArray, HostArrayOf, HostInputOf, Float16ArrayLike, Fp16Bits, BitsFormat } from './dtype';
export { PackedWeight } from './weight';
export { toF16, fromF16, toBF16, fromBF16 } from './half';
export type { NotBits } from './half';
export { W4A16Weight } from './ops/w4a16';
export type { W4A16QuantizeOptions, W4A16MatmulOptions, W4A16Ops } from './ops/w4a16';
export { SparseWeight } from './ops/sparse';
export type { SparseEncodeOptions, SparsePruneOptions, SparseFormatName, SparseOps } from './ops/sparse';
export { Int8Weight } from './ops/int8';
export type { Int8MatmulOptions, Int8MatmulResult, Int8MatmulYOnly, Int8Ops } from './ops/int8';
export type { MatmulOptions, DenseOps } from './ops/dense';
export { Group } from './ops/allreduce';
export { comm, Comm } from './ops/comm';
export { nccl } from './nccl';
export type { NcclInfo } from './nccl';
export type { CommCreateOptions, CommOptions, CommAllreduceRmsnormOptions, CommTransport } from './ops/comm';
export type {
  AllreduceAlgorithm,
  AllreduceRmsnormOptions,
  AllreduceRmsnormResult,
  GroupOptions,
  PerRank,
} from './ops/allreduce';
export {
  SparqError,
  SparqArgumentError,
  SparqShapeError,
  SparqDTypeError,
  SparqDisposedError,
  SparqBackendError,
  SparqOutOfMemoryError,
  SparqDeviceError,
  SparqTimeoutError,
  type SparqErrorCode,
} from './errors';
export { addonPath } from './native';
export { cpuFeatures } from './cpuFeatures';

// `import sparq from 'sparq'`: Node's ESM gives module.exports as the default, but tsc's CommonJS
// output (esModuleInterop) and bundlers read `.default` of a module marked __esModule — undefined
// without this, while tsc accepted the import. The default export is the module itself.
import * as sparq from './index';
export default sparq as Omit<typeof sparq, 'default'>;
