import * as fs from 'fs';
import * as path from 'path';

import { addonPath, cpuFeatures } from '../../src';
import type { BackendName } from '../../src';
import { native } from '../../src/native';

export interface BackendPresence {
  backend: BackendName;
  present: boolean;
  /** Why the backend is absent (shown in the skipped describe's title). */
  why: string;
}

/** cpu always; sim in builds that carry it; cuda when a driver, a device and libsparq_cuda.so are there. */
export function backendMatrix(): BackendPresence[] {
  const b = native();
  const cudaReason = b.probeCuda(0);
  const cudaLib = path.join(path.dirname(addonPath()), 'libsparq_cuda.so');
  const cudaWhy = cudaReason ?? (fs.existsSync(cudaLib) ? '' : 'no libsparq_cuda.so beside the addon');
  return [
    { backend: 'cpu', present: true, why: '' },
    { backend: 'sim', present: b.hasSim, why: b.hasSim ? '' : 'this build has no sim backend' },
    { backend: 'cuda', present: cudaWhy === '', why: cudaWhy },
  ];
}

/** `describe` for a present backend, `describe.skip` (reported as skipped, never passed) otherwise. */
export function describeFor(p: BackendPresence): jest.Describe {
  return p.present ? describe : describe.skip;
}

export function titleFor(p: BackendPresence, op: string): string {
  return p.present ? `${op} [${p.backend}]` : `${op} [${p.backend}] (skipped: ${p.why})`;
}

/** CPU SIMD paths this machine can run (each is exercised by forcing SPARQ_CPU_ISA). */
export function cpuIsas(): string[] {
  return cpuFeatures().supported;
}

/** Runs fn with SPARQ_CPU_ISA forced, restoring the previous value. */
export async function withIsa<T>(isa: string, fn: () => Promise<T> | T): Promise<T> {
  const prev = process.env.SPARQ_CPU_ISA;
  process.env.SPARQ_CPU_ISA = isa;
  try {
    return await fn();
  } finally {
    if (prev === undefined) delete process.env.SPARQ_CPU_ISA;
    else process.env.SPARQ_CPU_ISA = prev;
  }
}
