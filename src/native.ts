/**
 * The only file that loads the addon. Search order (DESIGN.md): SPARQ_ADDON_PATH, the checkout's
 * cmake-js build (build-cmake/Release), node-gyp's build/Release, then prebuilds/<platform>-<arch>/.
 * Needs nothing at run time beyond what it finds on disk (the device check runs with no node_modules).
 */
import * as fs from 'fs';
import * as path from 'path';

import type { DType, HostArray } from './dtype';
import { errorClassesByCode, SparqBackendError } from './errors';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly bytes: number;
  readonly disposed: boolean;
  read(): Promise<HostArray>;
  dispose(): void;
}

export interface NativeDeviceInfo {
  name: string;
  sm: number;
  smCount: number;
  memoryBytes: number;
  driverVersion: number;
  runtimeVersion: number;
  /** Path of the cuBLAS library dense.matmul uses, or null. */
  cublas: string | null;
  /** When cuBLAS is not used: why (what is missing, SPARQ_CUBLAS_PATH) and that sparq's own tensor-core GEMM runs instead. */
  cublasNote: string | null;
}

export interface NativeContextInfo {
  backend: 'cpu' | 'sim' | 'cuda';
  cpuIsa: string;
  threads: number;
  fallbackReason: string | null;
  device: NativeDeviceInfo | null;
}

export interface NativeLaunchInfo {
  kernel: string;
  config: string;
  grid: [number, number, number];
  blockThreads: number;
  smemBytes: number;
  bytesRead: Record<string, number>;
}

export interface NativeContext {
  tensor(data: unknown, shape: unknown, dtype: unknown): NativeTensor;
  zeros(shape: unknown, dtype: unknown): NativeTensor;
  synchronize(): Promise<void>;
  mark(): Promise<number>;
  info(): NativeContextInfo;
  readonly pending: number;
  readonly lost: boolean;
  readonly lastLaunch: NativeLaunchInfo | null;
}

export interface NativeW4A16Info {
  n: number;
  k: number;
  groupSize: number;
  bytes: number;
  layout: 'gpu' | 'cpu';
  paddedShape: [number, number];
}

export interface NativeW4A16Weight {
  read(): Promise<{ codes: Uint8Array; scales: Uint16Array }>;
  dispose(): void;
  info(): NativeW4A16Info;
}

/** What each lane of one warp holds after ldmatrix / mma for fixed inputs (sparq/sim.h FragmentDumpData). */
export interface NativeFragmentDump {
  ldmatrixX4: Uint32Array;
  ldmatrixX2Trans: Uint32Array;
  mmaF16: Float32Array;
  mmaS8: Int32Array;
}

export interface NativeBinding {
  openContext(
    backend: string,
    device: number,
    options: { cpuIsa?: string; threads?: number; simSms?: number },
  ): Promise<NativeContext>;
  setErrorClasses(classes: Record<string, unknown>): void;
  denseMatmul(ctx: NativeContext, w: unknown, x: unknown, bias: unknown, out: unknown): NativeTensor;
  w4a16Quantize(ctx: NativeContext, w: unknown, shape: unknown, groupSize: unknown): Promise<NativeW4A16Weight>;
  w4a16FromCodes(
    ctx: NativeContext,
    codes: unknown,
    scales: unknown,
    shape: unknown,
    groupSize: unknown,
  ): Promise<NativeW4A16Weight>;
  w4a16Matmul(ctx: NativeContext, weight: unknown, x: unknown, bias: unknown, out: unknown): NativeTensor;
  toF16(data: Float32Array, isa: string): Uint16Array;
  fromF16(data: Uint16Array, isa: string): Float32Array;
  toBF16(data: Float32Array, isa: string): Uint16Array;
  fromBF16(data: Uint16Array, isa: string): Float32Array;
  probeCuda(device: number): string | null;
  copy(ctx: NativeContext, src: unknown, out: unknown): NativeTensor;
  /** Test support: an op that fails on the stream with status `code` (sparq::StatusCode 1..7). */
  injectFault(ctx: NativeContext, code: number, message: string, shape: number[]): NativeTensor;
  fragmentDump(ctx: NativeContext): Promise<NativeFragmentDump>;
  cpuIsa(): { best: string; supported: string[]; defaultThreads: number };
  readonly addonDir: string;
  readonly hasSim: boolean;
  readonly NativeTensor: abstract new () => NativeTensor;
}

/** The package root: the nearest folder above this file whose package.json is named sparq. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const name: unknown = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
        if (name === 'sparq') return dir;
      } catch {
        // unreadable manifest: keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..', '..');
    dir = parent;
  }
}

function candidatePaths(root: string): string[] {
  const out: string[] = [];
  const fromEnv = process.env.SPARQ_ADDON_PATH;
  if (fromEnv) out.push(path.resolve(fromEnv));
  out.push(path.join(root, 'build-cmake', 'Release', 'sparq.node'));
  out.push(path.join(root, 'build', 'Release', 'sparq.node'));
  const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(prebuildDir)) {
    for (const f of fs.readdirSync(prebuildDir).sort()) if (f.endsWith('.node')) out.push(path.join(prebuildDir, f));
  }
  return out;
}

function load(): { binding: NativeBinding; file: string } {
  const root = packageRoot();
  const tried: string[] = [];
  for (const file of candidatePaths(root)) {
    if (!fs.existsSync(file)) {
      if (file === process.env.SPARQ_ADDON_PATH) tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(file) as NativeBinding;
      binding.setErrorClasses(errorClassesByCode);
      return { binding, file };
    } catch (error) {
      tried.push(`${file} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  throw new SparqBackendError(
    `sparq: no loadable native addon for ${process.platform}-${process.arch} (Node ${process.version}); ` +
      `tried: ${tried.length ? tried.join('; ') : 'build-cmake/Release, build/Release, prebuilds/ (none present)'}. ` +
      'Run `npm rebuild sparq` (builds from source with node-gyp) or, in a checkout, `npm run build:native`.',
  );
}

let cached: { binding: NativeBinding; file: string } | undefined;

/** The loaded addon (loaded on first use). */
export function native(): NativeBinding {
  cached ??= load();
  return cached.binding;
}

/** Absolute path of the addon file that was loaded. */
export function addonPath(): string {
  cached ??= load();
  return cached.file;
}
