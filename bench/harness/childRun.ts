// Runs one command as a child in its own process group with a time limit, reading its stderr line
// by line. On the limit the whole group gets SIGKILL (a suite's grandchildren — compute-sanitizer's
// target, the benchmark script — go with it), so a hung kernel costs only that child's share.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { parseStarting } from './deviceRows';

export interface ChildResult {
  /** exit code, or null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when the time limit ended it */
  timedOut: boolean;
  /** the case of the last "starting <suite>/<case>" line it printed, or null */
  lastCase: string | null;
  elapsedMs: number;
  /** the last stderr lines, for a row's detail */
  tail: string[];
}

export interface ChildOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** each stderr line as it arrives */
  onLine?: (line: string) => void;
  /** how many stderr lines `tail` keeps */
  tailLines?: number;
  /** the child's pid (= its process group), once spawned */
  onSpawn?: (pid: number) => void;
}

/** After SIGKILL, how long to wait for the exit before giving up on a child (one stuck in the driver). */
const REAP_GRACE_MS = 5000;
/** After the exit, how long to wait for the last stderr bytes of a pipe a grandchild may still hold. */
const CLOSE_GRACE_MS = 1000;

export function runChild(command: string, args: string[], opts: ChildOptions): Promise<ChildResult> {
  const t0 = Date.now();
  const keep = opts.tailLines ?? 5;
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      // stdout straight through (benchmark tables, the info line); stderr read here.
      stdio: ['ignore', 'inherit', 'pipe'],
      env: opts.env ?? process.env,
      detached: true, // own process group: kill(-pid) reaches its grandchildren
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let lastCase: string | null = null;
    const tail: string[] = [];
    let partial = '';
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let done = false;

    const line = (text: string): void => {
      const s = parseStarting(text);
      if (s) lastCase = s.caseName;
      tail.push(text);
      if (tail.length > keep) tail.shift();
      opts.onLine?.(text);
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) line(p);
    });

    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (partial) line(partial);
      partial = '';
      child.stderr?.removeAllListeners('data');
      child.stderr?.destroy();
      resolve({ code: exit?.code ?? null, signal: exit?.signal ?? (timedOut ? 'SIGKILL' : null), timedOut, lastCase, elapsedMs: Date.now() - t0, tail });
    };
    const killChildGroup = (): void => {
      if (child.pid !== undefined) killGroup(child.pid);
    };

    const timer = setTimeout(() => {
      timedOut = true;
      killChildGroup();
      setTimeout(finish, REAP_GRACE_MS);
    }, opts.timeoutMs);

    child.on('error', (e) => {
      tail.push(`spawn failed: ${e.message}`);
      exit = { code: null, signal: null };
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // A child that exited on its own may leave grandchildren holding the pipe: end them too.
      if (!timedOut) killChildGroup();
      setTimeout(finish, CLOSE_GRACE_MS);
    });
    child.on('close', finish);
  });
}

/** SIGKILL to a child's whole process group (runChild's children lead their own). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A tool on PATH or in the usual CUDA folders, or null. */
export function findTool(tool: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/cuda/bin', '/usr/local/cuda/compute-sanitizer', '/opt/nvidia/compute-sanitizer']) {
    const p = path.join(dir, tool);
    if (dir && fs.existsSync(p)) return p;
  }
  return null;
}

/**
 * The first lines of a compute-sanitizer report (`--log-file`), host frames and bare `=====` lines
 * left out, joined with " | "; null when the file cannot be read. The faulting kernel, its PC and
 * source line come first in such a report.
 */
export function sanitizerReport(logFile: string, maxLines = 12): string | null {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return null;
  }
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.includes('Host Frame') && !/^=+\s*$/.test(l.trim()))
    .slice(0, maxLines)
    .join(' | ');
}
