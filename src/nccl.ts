import { execFile } from 'child_process';

import { SparqBackendError } from './errors';
import { addonPath } from './native';

/** The NCCL library sparq would use for ranks beyond one node. */
export interface NcclInfo {
  /** The library that loaded (`SPARQ_NCCL_PATH`, `libnccl.so.2`, or a python wheel's). */
  path: string;
  /** `ncclGetVersion`: major·10000 + minor·100 + patch (≥ 21800). */
  version: number;
}

// Runs in the child (with this process's env as TS sees it: SPARQ_NCCL_PATH): load the addon, probe, print one JSON line. A library that crashes while
// loading takes only this process down.
const PROBE_SCRIPT = `
const b = require(process.argv[1]);
try { console.log(JSON.stringify({ ok: b.ncclProbe() })); }
catch (e) { console.log(JSON.stringify({ error: e.message })); }
`;

/**
 * NCCL for ranks beyond one node: loaded with dlopen (never linked), version checked (≥ 2.18),
 * and first in a throwaway child process so a broken library cannot take the service down.
 */
export const nccl = {
  /**
   * Finds NCCL: `SPARQ_NCCL_PATH` (only it, when set), else `libnccl.so.2` on the loader's path,
   * else the python `nvidia-nccl-cu12`/`-cu13` wheels' `nvidia/nccl/lib` or `nvidia/cu13/lib/libnccl.so.2`.
   * @throws {SparqBackendError} (as a rejection) naming every candidate and why it was passed over,
   * or that loading one crashed the probe process.
   */
  probe(): Promise<NcclInfo> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', PROBE_SCRIPT, addonPath()], { timeout: 30000, encoding: 'utf8', env: { ...process.env } }, (error, stdout) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          const r = JSON.parse(line) as { ok?: NcclInfo; error?: string };
          if (r.ok) resolve(r.ok);
          else reject(new SparqBackendError(r.error ?? 'nccl: the probe failed'));
          return;
        }
        const how = error?.signal ? `was killed by ${error.signal}` : `exited with ${String(error?.code ?? 'no result')}`;
        reject(
          new SparqBackendError(
            `nccl: the probe process ${how} while loading NCCL (a broken library?${process.env.SPARQ_NCCL_PATH ? ` SPARQ_NCCL_PATH=${process.env.SPARQ_NCCL_PATH}` : ''}); this process is unaffected`,
          ),
        );
      });
    });
  },
};
