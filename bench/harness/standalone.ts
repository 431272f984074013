// The main of the benches that print one JSON line (decodeLoop, opOverhead): --help, and a usage
// mistake or a backend that cannot open as one line with exit code 2, as the table benches do
// (runner.ts benchMain); anything else keeps its stack, exit code 1.
import { open, SparqArgumentError, SparqBackendError, type BackendName, type Context } from '../../src';
import { CliArgs, UsageError } from './cliArgs';
import { machineInfo, type MachineInfo } from './machineInfo';

export function standaloneMain(name: string, usage: string, main: (args: CliArgs) => Promise<void>): void {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(usage);
    return;
  }
  Promise.resolve()
    .then(() => main(new CliArgs(argv)))
    .then(undefined, (e: unknown) => {
      const brief = e instanceof UsageError;
      const text = brief ? `${name}: ${(e as Error).message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
      process.stderr.write(`${text}${brief ? ' (see --help)' : ''}\n`);
      process.exitCode = brief ? 2 : 1;
    });
}

/** The machine description of the table benches' result files, for a one-line bench's JSON. */
export function standaloneMachine(sq: { backend: string; cpuIsa: string; threads: number; device: unknown }): MachineInfo {
  return machineInfo({ backend: sq.backend, cpuIsa: sq.backend === 'cpu' ? sq.cpuIsa : null, threads: sq.threads, device: sq.device }, null);
}

/** The bench's context: open() refusing --backend (a name it lacks, a backend not here) is a usage
 *  mistake, one line; an error later in the run keeps its stack. */
export async function openBackend(backend: string): Promise<Context> {
  try {
    return await open({ backend: backend as BackendName });
  } catch (e) {
    if (e instanceof SparqArgumentError || e instanceof SparqBackendError) throw new UsageError(e.message);
    throw e;
  }
}
