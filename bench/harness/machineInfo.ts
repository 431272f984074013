// What the numbers were measured on: host, runtime, source revision and sparq's backend.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import type { CpuFloor } from './cpuFloor';
import type { CpuPeak } from './cpuPeak';
import { sparqVariables } from '../../src/sparqEnv';

/** sparq's view of the machine (from the open Context). */
export interface SparqInfo {
  backend: string;
  cpuIsa: string | null;
  threads: number | null;
  device: unknown;
}

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  cpuFlags: string[];
  l3Bytes: number | null;
  memoryBytes: number;
  node: string;
  os: string;
  gitSha: string | null;
  gitDirty: boolean | null;
  sparq: SparqInfo | null;
  ort: string | null;
  /** Every SPARQ_* variable of the run's environment (an ISA forced, a kernel switched, an addon
   *  other than the checkout's: SPARQ_ADDON_PATH), so two runs that differ only there do not look
   *  alike; {} when none is set. */
  sparqEnv: Record<string, string>;
  /** cpu: the DRAM read bandwidth of each pool size the run used (harness/cpuFloor.ts). */
  cpuFloors?: CpuFloor[];
  /** cpu: the fp32 FMA peak of the run's main pool (harness/cpuPeak.ts). */
  cpuPeak?: CpuPeak;
}

/** SIMD features that matter for the CPU kernels and for onnxruntime's MLAS. */
const INTERESTING_FLAGS = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile'];

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function cpuinfoField(cpuinfo: string, key: string): string | null {
  const m = new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo);
  return m === null ? null : m[1].trim();
}

/** L3 size from sysfs ("307200K"), or null where it is not exposed. */
export function l3CacheBytes(): number | null {
  const text = readText('/sys/devices/system/cpu/cpu0/cache/index3/size');
  const m = text === null ? null : /^(\d+)([KMG]?)/.exec(text.trim());
  if (m === null) return null;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]] ?? 1;
  return Number(m[1]) * unit;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: __dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Collects the machine description written at the top of every results file. */
export function machineInfo(sparq: SparqInfo | null, ortVersion: string | null): MachineInfo {
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const flags = new Set((cpuinfoField(cpuinfo, 'flags') ?? '').split(/\s+/));
  // Untracked files count (not ignored ones): a new source file not yet added is built into the
  // addon as much as a modified one.
  const status = git(['status', '--porcelain', '--untracked-files=normal']);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuinfoField(cpuinfo, 'model name') ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    cpuFlags: INTERESTING_FLAGS.filter((f) => flags.has(f)),
    l3Bytes: l3CacheBytes(),
    memoryBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    gitSha: git(['rev-parse', 'HEAD']),
    gitDirty: status === null ? null : status.length > 0,
    sparq,
    ort: ortVersion,
    sparqEnv: sparqVariables(process.env),
  };
}

function describeDevice(device: unknown): string {
  if (typeof device !== 'object' || device === null) return '';
  const d = device as Record<string, unknown>;
  const name = typeof d.name === 'string' ? d.name : 'device';
  const sm = typeof d.sm === 'number' ? ` sm_${d.sm}` : '';
  const mem = typeof d.memoryBytes === 'number' ? ` ${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB` : '';
  return `, ${name}${sm}${mem}`;
}

/** Two human lines: host and runtime. */
export function describeMachine(m: MachineInfo): string {
  const gib = (m.memoryBytes / 2 ** 30).toFixed(0);
  const l3 = m.l3Bytes === null ? '' : `, L3 ${(m.l3Bytes / 2 ** 20).toFixed(0)} MiB`;
  const sq = m.sparq === null ? 'sparq: not loaded'
    : `sparq backend ${m.sparq.backend}${m.sparq.cpuIsa !== null ? ` (${m.sparq.cpuIsa}` : ' ('}` +
      `${m.sparq.threads !== null ? `, ${m.sparq.threads} thread${m.sparq.threads === 1 ? '' : 's'}` : ''})${describeDevice(m.sparq.device)}`;
  const sha = m.gitSha === null ? 'no git revision' : `git ${m.gitSha.slice(0, 12)}${m.gitDirty === true ? '+dirty' : ''}`;
  const env = Object.entries(m.sparqEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    `${m.cpuModel}, ${m.cores} cores [${m.cpuFlags.join(' ')}]${l3}, ${gib} GiB, ${m.os}`,
    `Node ${m.node}, ${sq}, onnxruntime-node ${m.ort ?? 'not loaded'}, ${sha}, ${m.date}`,
    ...(env.length > 0 ? [`environment: ${env.join(' ')}`] : []),
  ].join('\n');
}
