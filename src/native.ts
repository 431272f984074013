/**
 * The only file that loads the addon. Search order (docs/decisions.md, the README's install
 * notes): SPARQ_ADDON_PATH (when set, only that file: a failure is an error, never a silent
 * fall-back), the checkout's cmake-js build (build-cmake/Release), node-gyp's build/Release,
 * then prebuilds/<platform>-<arch>/.
 * Needs nothing at run time beyond what it finds on disk (the device check runs with no
 * node_modules), so it does its own search rather than use node-gyp-build (docs/decisions.md).
 */
import { constants as bufferConstants } from 'buffer';
import * as fs from 'fs';
import * as path from 'path';

import type { DeviceInfo, LaunchInfo } from './context';
import type { DType, HostArray, HostArrayOf } from './dtype';
import type { CommTransport } from './ops/comm';
import { errorClassesByCode, SparqBackendError } from './errors';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly bytes: number;
  readonly disposed: boolean;
  read(out?: HostArray): Promise<HostArrayOf[DType]>;
  dispose(): void;
}

/** The addon's device info and launch info are the public ones, documented in src/context.ts. */
export type NativeDeviceInfo = DeviceInfo;
export type NativeLaunchInfo = LaunchInfo;

export interface NativeContextInfo {
  backend: 'cpu' | 'sim' | 'cuda';
  cpuIsa: string;
  threads: number;
  fallbackReason: string | null;
  device: NativeDeviceInfo | null;
}


export interface NativeContext {
  /** "cpu#3": the backend and a per-process serial (errors name a closed context by it). */
  readonly label: string;
  readonly closed: boolean;
  close(): Promise<void>;
  tensor(data: unknown, shape: unknown, dtype: unknown): NativeTensor;
  zeros(shape: unknown, dtype: unknown): NativeTensor;
  synchronize(): Promise<void>;
  mark(): Promise<number>;
  info(): NativeContextInfo;
  readonly pending: number;
  readonly liveAllocations: number;
  readonly lost: boolean;
  readonly lastLaunch: NativeLaunchInfo | null;
}

/** What every packed weight reports (binding/weight.h), plus its kind's own properties. */
export interface NativeWeightInfo {
  /** The op namespace the weight belongs to: 'w4a16' | 'sparse' | 'int8'. */
  kind: string;
  n: number;
  k: number;
  bytes: number;
  layout: 'gpu' | 'cpu';
  [property: string]: unknown;
}

/** NativeWeight: packed weights of every kind; read() resolves with the kind's host arrays. */
export interface NativeWeight {
  readonly disposed: boolean;
  read(): Promise<Record<string, unknown>>;
  dispose(): void;
  info(): NativeWeightInfo;
}

/**
 * What each lane of one warp holds after ldmatrix / mma / the W4A16 dequant for fixed inputs
 * (sparq/sim_ops.h FragmentDumpData), lane-major, in register order.
 */
export interface NativeFragmentDump {
  /** `[32][4]` f16x2: ldmatrix.x4 of a 16x16 iota. */
  ldmatrixX4: Uint32Array;
  /** `[32][2]` f16x2: ldmatrix.x2.trans of a 16x8 k-major iota. */
  ldmatrixX2Trans: Uint32Array;
  /** `[32][4]` fp32: mma.m16n8k16 D for a non-symmetric small-integer A. */
  mmaF16: Float32Array;
  /** `[32][4]` s32: mma.m16n8k32 D for a non-identity s8 A. */
  mmaS8: Int32Array;
  /** `[32][16]` f16x2: the W4A16 kernel's dequantized B fragments (n8 tile 0..7, x[0], x[1]). */
  w4a16Dequant: Uint32Array;
}

export interface NativeBinding {
  openContext(
    backend: string,
    device: number,
    options: { cpuIsa?: unknown; cpuIsaSource?: string; threads?: number; simSms?: number; simMemoryBytes?: number },
  ): Promise<NativeContext>;
  /** Also the runtime's typed array limit (buffer.constants.MAX_LENGTH), which read() must not pass. */
  setErrorClasses(classes: Record<string, unknown>, maxTypedArrayLength: number): void;
  denseMatmul(ctx: NativeContext, w: unknown, x: unknown, bias: unknown, out: unknown): NativeTensor;
  w4a16Quantize(ctx: NativeContext, w: unknown, shape: unknown, groupSize: unknown): Promise<NativeWeight>;
  w4a16FromCodes(
    ctx: NativeContext,
    codes: unknown,
    scales: unknown,
    shape: unknown,
    groupSize: unknown,
  ): Promise<NativeWeight>;
  w4a16Matmul(ctx: NativeContext, weight: unknown, x: unknown, bias: unknown, out: unknown, accuracy: unknown): NativeTensor;
  sparseEncode(ctx: NativeContext, w: unknown, shape: unknown, format: unknown, rowLists: unknown): Promise<NativeWeight>;
  sparsePrune(ctx: NativeContext, w: unknown, shape: unknown, sparsity: unknown, scope: unknown): Promise<HostArrayOf['f16']>;
  sparseMatmul(ctx: NativeContext, weight: unknown, x: unknown, bias: unknown, out: unknown): NativeTensor;
  int8Quantize(ctx: NativeContext, w: unknown, shape: unknown): Promise<NativeWeight>;
  int8FromCodes(ctx: NativeContext, codes: unknown, scb: unknown, shape: unknown): Promise<NativeWeight>;
  /** [y f16 [..., n], the outlier list i32 [1 + k]: count, then the columns increasing (undefined when wantColumns is false)] */
  int8Matmul(
    ctx: NativeContext,
    weight: unknown,
    x: unknown,
    bias: unknown,
    out: unknown,
    threshold: unknown,
    wantColumns: boolean,
  ): [NativeTensor, NativeTensor | undefined];
  /** [out per rank, residualOut per rank] */
  allreduceRmsnorm(
    ctx: NativeContext,
    ranks: number,
    xs: unknown,
    residuals: unknown,
    gamma: unknown,
    outs: unknown,
    residualOuts: unknown,
    workspace: unknown,
    eps: unknown,
    algorithm: number,
    epoch: number,
  ): [NativeTensor[], NativeTensor[]];
  /** The NCCL sparq would use (src/nccl.ts runs it in a child process). */
  ncclProbe(): { path: string; version: number };
  commCreate(maxBytes: unknown): HostArrayOf['u8'];
  commCreateNccl(maxBytes: unknown, ncclPath: string): Promise<HostArrayOf['u8']>;
  commJoin(
    ctx: NativeContext,
    id: unknown,
    rank: unknown,
    size: unknown,
    timeoutMs: unknown,
    transport: unknown,
    ncclPath: string,
    node: unknown,
  ): Promise<unknown>;
  commClose(comm: unknown, ctx: NativeContext): void;
  commCloseAfterQueued(comm: unknown, ctx: NativeContext): void;
  commBroken(comm: unknown): string;
  commClosed(comm: unknown): boolean;
  commTransport(comm: unknown): CommTransport;
  /** [out, residualOut] */
  commAllreduceRmsnorm(
    ctx: NativeContext,
    comm: unknown,
    x: unknown,
    residual: unknown,
    gamma: unknown,
    out: unknown,
    residualOut: unknown,
    eps: unknown,
  ): [NativeTensor, NativeTensor];
  /** Workspace bytes the backend's kernels need for this call (0 on cpu). */
  allreduceWorkspaceBytes(ctx: NativeContext, ranks: number, tokens: number, hidden: number): number;
  toF16(data: Float32Array | Float64Array, isa: string): HostArrayOf['f16'];
  fromF16(data: Uint16Array, isa: string): HostArrayOf['f32'];
  toBF16(data: Float32Array | Float64Array, isa: string): HostArrayOf['bf16'];
  fromBF16(data: Uint16Array, isa: string): HostArrayOf['f32'];
  probeCuda(device: number): string | null;
  copy(ctx: NativeContext, src: unknown, out: unknown): NativeTensor;
  /**
   * Bench support (the CPU floor): reads all of src once on the cpu pool, each thread its slice in
   * `streams` runs (1-64, default 1) with a software prefetch `prefetchBytes` ahead (0-65536, default
   * 0); resolves with its u64 sum.
   */
  readProbe(ctx: NativeContext, src: unknown, streams?: number, prefetchBytes?: number): Promise<number>;
  /**
   * Bench support (the floor of ops that write as much as they read): copies src into dst (the same
   * byte size) once on the cpu pool, each thread its slice, with memcpy or (nonTemporal) streaming
   * stores; resolves when done.
   */
  copyProbe(ctx: NativeContext, dst: unknown, src: unknown, nonTemporal?: boolean): Promise<void>;
  /** Bench support (the CPU compute peak): fp32 FMA chains on every cpu pool thread; flops per thread per iteration (0: no probe for this ISA). */
  fmaProbe(ctx: NativeContext, iterations: number): Promise<{ flopsPerIteration: number; checksum: number }>;
  /** Test support: an op that fails on the stream with status `code` (sparq::StatusCode 1..7). */
  injectFault(ctx: NativeContext, code: number, message: string, shape: number[]): NativeTensor;
  /** Test support: V8's external-memory counter (live tensors and weights, with V8's ArrayBuffers). */
  v8ExternalBytes(): number;
  fragmentDump(ctx: NativeContext): Promise<NativeFragmentDump>;
  cpuIsa(): { best: string; supported: string[]; hardwareThreads: number };
  readonly hasSim: boolean;
  readonly NativeTensor: abstract new () => NativeTensor;
  readonly NativeWeight: abstract new () => NativeWeight;
}

/**
 * The package root: the nearest folder above this file whose package.json is named sparq, or null
 * when there is none (sparq's JS was bundled into an app, or copied without its manifest).
 */
function packageRoot(): string | null {
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
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Why no addon can be found when this file is not inside the sparq package, and the two ways out. */
function notInPackageHelp(): string {
  return (
    `sparq: no loadable native addon: sparq's JavaScript is not inside its package (no package.json named sparq in ${__dirname} ` +
    'or above it), so its prebuilds/ cannot be found — was sparq bundled into the app (esbuild, webpack, ncc, rollup)? ' +
    "Keep it external so it loads from node_modules (esbuild --external:sparq, webpack externals: { sparq: 'commonjs sparq' }), " +
    'or set SPARQ_ADDON_PATH to the sparq.node to load (node_modules/sparq/prebuilds/linux-x64/sparq.node; ' +
    'libsparq_cuda.so is looked for beside it).'
  );
}

/** What the published tarball ships: prebuilds/linux-x64 (glibc; README "Install"). */
const PREBUILD_HOST = { platform: 'linux', arch: 'x64', glibc: '2.34' };

function candidatePaths(root: string): string[] {
  const out = [path.join(root, 'build-cmake', 'Release', 'sparq.node'), path.join(root, 'build', 'Release', 'sparq.node')];
  const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(prebuildDir)) {
    for (const f of fs.readdirSync(prebuildDir).sort()) if (f.endsWith('.node')) out.push(path.join(prebuildDir, f));
  }
  return out;
}

/** "glibc 2.36", or null on musl and other libcs (Node's report names the glibc it runs on). */
function glibcVersion(): string | null {
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return report?.header?.glibcVersionRuntime ?? null;
  } catch {
    return null;
  }
}

function versionBelow(v: string, min: string): boolean {
  const [a, b] = [v, min].map((x) => x.split('.').map(Number));
  for (let i = 0; i < Math.max(a.length, b.length); ++i) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** Platform, arch and libc of this host, and what to do when no addon loads. */
function noAddonHelp(): string {
  const glibc = process.platform === 'linux' ? glibcVersion() : null;
  const libc = process.platform !== 'linux' ? 'n/a' : glibc ? `glibc ${glibc}` : 'not glibc (musl?)';
  const host = `platform ${process.platform}, arch ${process.arch}, libc ${libc}, Node ${process.version}`;
  const fromSource = 'build it from source with `npm rebuild sparq` (node-gyp; needs python3, make and g++)';
  let what: string;
  if (process.platform !== PREBUILD_HOST.platform || process.arch !== PREBUILD_HOST.arch)
    what =
      `sparq runs on linux x64 only: the published prebuild is linux-x64 (glibc >= ${PREBUILD_HOST.glibc}) and the CPU ` +
      'kernels are x86-64 SIMD code, so it cannot be built from source here either. Use a linux x64 host ' +
      '(e.g. a linux/amd64 container), or set SPARQ_ADDON_PATH to an addon built for this host.';
  else if (glibc === null)
    what =
      `The prebuild in prebuilds/linux-x64 is built for glibc >= ${PREBUILD_HOST.glibc} and this host's libc is not glibc ` +
      `(Alpine uses musl): ${fromSource}, or use a glibc-based image (e.g. node:20-bookworm-slim).`;
  else if (versionBelow(glibc, PREBUILD_HOST.glibc))
    what = `The prebuild in prebuilds/linux-x64 needs glibc >= ${PREBUILD_HOST.glibc}, this host has ${glibc}: ${fromSource}.`;
  else what = `${fromSource[0].toUpperCase()}${fromSource.slice(1)} or, in a checkout, run \`npm run build:native\`.`;
  return `(${host}). ${what}`;
}

function load(): { binding: NativeBinding; file: string } {
  const fromEnv = process.env.SPARQ_ADDON_PATH;
  // Without the package (bundled), the folder two above this file is searched as before: a copy
  // of dist/ placed without its package.json still finds a build beside it.
  const root = fromEnv ? null : packageRoot();
  const candidates = fromEnv ? [path.resolve(fromEnv)] : candidatePaths(root ?? path.resolve(__dirname, '..', '..'));
  const tried: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) {
      if (fromEnv) tried.push(`${file} (not found)`);
      continue;
    }
    // require() runs any other file as JavaScript — through a symlink, or a directory's index.js —
    // so a mistyped path could execute a script: only a regular file whose real name ends in .node.
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch (error) {
      tried.push(`${file} (${error instanceof Error ? error.message : String(error)})`);
      continue;
    }
    if (path.extname(real) !== '.node' || !fs.statSync(real).isFile()) {
      const what = real === file ? file : `${file} -> ${real}`;
      tried.push(`${what} (not a native addon: it must be a file whose name ends in .node, e.g. build-cmake/Release/sparq.node)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(real) as NativeBinding;
      binding.setErrorClasses(errorClassesByCode, bufferConstants.MAX_LENGTH);
      return { binding, file };
    } catch (error) {
      tried.push(`${file} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (fromEnv)
    throw new SparqBackendError(
      `sparq: SPARQ_ADDON_PATH is set but does not load: ${tried.join('; ')}. ` +
        'Fix the path, or unset it to search build-cmake/Release, build/Release and prebuilds/.',
    );
  if (root === null && tried.length === 0) throw new SparqBackendError(notInPackageHelp());
  throw new SparqBackendError(
    `sparq: no loadable native addon ${noAddonHelp()} ` +
      `Tried: ${tried.length ? tried.join('; ') : 'build-cmake/Release, build/Release, prebuilds/ (none present)'}.`,
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
