// test/fuzz/runFuzz.ts: the API fuzzer's driver, run as a child process (test/fuzz.test.ts spawns
// dist/test/fuzz/runFuzz.js) so that a crash is seen as a crash. Every call is drawn from the op
// table (ops.ts): a valid call, then each argument replaced with probability p by a malformed value
// of its kind, sometimes with extra or missing arguments. Checks, per call: the process survives;
// whatever is thrown or rejected is a SparqError subclass with a code and, when it names an
// argument, a message that names it too (or the fuzzer's own FuzzTrap, thrown by its hostile
// getters and passed through); a value no correct API may accept is refused (when it is the only
// fault of the call); a valid call works.
// Every PROBE_EVERY calls a valid dense matmul must still match its float64 reference (2e-3).
//
//   node dist/test/fuzz/runFuzz.js
//   SPARQ_FUZZ_SEED=123 SPARQ_FUZZ_CALLS=cpu=16000,sim=2000 SPARQ_FUZZ_P=0.2 SPARQ_FUZZ_OPS='^int8' node …
//
// Prints one line `FUZZ_SUMMARY {json}` (seed, calls, error codes seen, failures) and exits 1 on
// any failure.
import { types } from 'util';

import type { BackendName } from '../../src';
import { Context, PackedWeight, SparqError, Tensor } from '../../src';
import { errorClassesByCode } from '../../src/errors';
import { native } from '../../src/native';
import { f16BitsToNumber, freshSeed, numberToF16Bits, referenceMatmul } from '../reference';
import { type Arg, type Dims, FuzzEnv, FuzzTrap, type OpDescriptor, Raw, randomF16 } from './harness';
import { OPS } from './ops';

const PROBE_EVERY = 200;
const PROBE_TOLERANCE = 2e-3;
const MAX_LISTED_FAILURES = 40;

export interface Failure {
  backend: string;
  call: number;
  op: string;
  notes: string[];
  problem: string;
}

export interface Summary {
  seed: number;
  p: number;
  calls: Record<string, number>;
  totalCalls: number;
  validCalls: number;
  malformedCalls: number;
  rejected: number;
  accepted: number;
  codes: Record<string, number>;
  ops: Record<string, number>;
  probes: number;
  probeMaxError: number;
  elapsedMs: Record<string, number>;
  failureCount: number;
  failures: Failure[];
}

const KNOWN_CODES = new Set(Object.keys(errorClassesByCode));

function parseCalls(spec: string | undefined): Partial<Record<BackendName, number>> {
  const out: Partial<Record<BackendName, number>> = { cpu: 16000, sim: 2000 };
  if (!spec) return out;
  for (const part of spec.split(',')) {
    const [b, n] = part.split('=');
    out[b.trim() as BackendName] = Number(n);
  }
  return out;
}

const seed = process.env.SPARQ_FUZZ_SEED ? Number(process.env.SPARQ_FUZZ_SEED) >>> 0 : freshSeed();
let p = process.env.SPARQ_FUZZ_P ? Number(process.env.SPARQ_FUZZ_P) : 0.2;
/** The probability of malforming each argument (workerHammer.ts sets its own). */
export function setMalformProbability(value: number): void {
  p = value;
}
const callsPerBackend = parseCalls(process.env.SPARQ_FUZZ_CALLS);
const opFilter = process.env.SPARQ_FUZZ_OPS ? new RegExp(process.env.SPARQ_FUZZ_OPS) : null;
/**
 * Test-only defects, to prove each check can fail (test/fuzz.test.ts): `type-error` (a refused
 * call throws a plain TypeError), `accept` (a refused call seems to succeed), `wrong-answer` (the
 * probe's output is 0.1 off), `abort` (the process aborts at call 20).
 */
const inject = process.env.SPARQ_FUZZ_INJECT ?? '';

export const summary: Summary = {
  seed,
  p,
  calls: {},
  totalCalls: 0,
  validCalls: 0,
  malformedCalls: 0,
  rejected: 0,
  accepted: 0,
  codes: {},
  ops: {},
  probes: 0,
  probeMaxError: 0,
  elapsedMs: {},
  failureCount: 0,
  failures: [],
};

/** Where the driver is, for failures that arrive out of band (unhandled rejections). */
const where = { backend: '', call: -1, op: '', notes: [] as string[] };

export function fail(problem: string, at: { backend: string; call: number; op: string; notes: string[] } = where): void {
  summary.failureCount++;
  if (summary.failures.length < MAX_LISTED_FAILURES) summary.failures.push({ ...at, notes: [...at.notes], problem });
}

/** Out-of-band failures of this thread become failures of the run (not a silent exit). */
export function watchProcess(): void {
  process.on('unhandledRejection', (reason) => fail(`unhandled rejection: ${describeError(reason)}`));
  process.on('uncaughtException', (error) => fail(`uncaught exception: ${describeError(error)}`));
}

export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; argument?: unknown };
    return `${e.constructor.name}(code=${String(x.code)}, argument=${String(x.argument)}): ${e.message}`;
  }
  try {
    return `non-Error ${typeof e}: ${String(e)}`;
  } catch {
    return `non-Error ${typeof e}`;
  }
}

export class Hang extends Error {}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hang(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A value as the driver passes it: Promises awaited, Raw unwrapped. Boxed, because an async
 * function's return value is probed for `then` (which the hostile values throw from).
 */
async function resolveValue(v: unknown): Promise<{ v: unknown }> {
  if (types.isProxy(v)) return { v };
  if (types.isPromise(v)) v = await v;
  if (typeof v === 'object' && v !== null && !types.isProxy(v) && v instanceof Raw) return { v: v.value };
  return { v };
}

/** The tensors an options object holds (read from data properties only: getters may throw). */
function heldBy(a: unknown): unknown[] {
  if (typeof a !== 'object' || a === null || types.isProxy(a) || a instanceof Tensor || a instanceof PackedWeight) return [];
  return Object.values(Object.getOwnPropertyDescriptors(a)).map((p) => p.value as unknown);
}

interface Drawn {
  value: unknown;
  present: boolean;
  notes: string[];
  mustThrow: boolean;
}

/** One argument (or options field): valid, absent where optional, or malformed with probability p. */
async function draw(arg: Arg, env: FuzzEnv, d: Dims, args: unknown[], prefix: string): Promise<Drawn> {
  const name = prefix + arg.name;
  if (env.r.chance(p)) {
    const bad = env.r.pick(arg.bad(env, d));
    return { value: (await resolveValue(bad.make(env, d, args))).v, present: true, notes: [`${name}: ${bad.note}`], mustThrow: bad.mustThrow };
  }
  if (arg.omit !== undefined && env.r.chance(arg.omit)) return { value: undefined, present: false, notes: [], mustThrow: false };
  if (!arg.fields) return { value: (await resolveValue(arg.valid(env, d))).v, present: true, notes: [], mustThrow: false };
  // An options object: each field valid, absent or malformed on its own; or one field a throwing getter.
  const obj: Record<string, unknown> = {};
  const out: Drawn = { value: obj, present: true, notes: [], mustThrow: false };
  for (const field of arg.fields) {
    const f = await draw(field, env, d, args, `${name}.`);
    if (f.present) obj[field.name] = f.value;
    out.notes.push(...f.notes);
    out.mustThrow ||= f.mustThrow;
  }
  if (arg.fields.length > 0 && env.r.chance(p / 3)) {
    const field = env.r.pick(arg.fields);
    Object.defineProperty(obj, field.name, {
      enumerable: true,
      get(): never {
        throw new FuzzTrap(`${name}.${field.name}`);
      },
    });
    out.notes.push(`${name}.${field.name}: getter throws`);
    out.mustThrow = true;
  }
  return out;
}

/** Whether leaving `arg` out is an error (its own "undefined" malformation says). */
function requiredArg(arg: Arg, env: FuzzEnv, d: Dims): boolean {
  if (arg.omit !== undefined) return false;
  const undef = arg.bad(env, d).find((b) => b.note === 'undefined');
  return undef !== undefined && undef.mustThrow;
}

/**
 * Classifies what a call threw. Allowed: a SparqError subclass with a known code whose message
 * names its `argument`, or the fuzzer's own FuzzTrap passing through.
 */
function checkError(e: unknown, malformed: boolean, at: typeof where): void {
  if (e instanceof Hang) throw e;
  if (e instanceof FuzzTrap) {
    summary.codes['FuzzTrap (the caller’s own getter/proxy exception, passed through)'] = (summary.codes['FuzzTrap (the caller’s own getter/proxy exception, passed through)'] ?? 0) + 1;
    return;
  }
  if (!(e instanceof SparqError)) {
    fail(`threw a non-SparqError: ${describeError(e)}`, at);
    return;
  }
  const code = (e as SparqError).code;
  summary.codes[code] = (summary.codes[code] ?? 0) + 1;
  if (!KNOWN_CODES.has(code)) fail(`unknown code ${code}: ${e.message}`, at);
  if (e.constructor !== errorClassesByCode[code as keyof typeof errorClassesByCode]) fail(`class ${e.constructor.name} does not match code ${code}`, at);
  if (!malformed) fail(`a valid call failed: ${describeError(e)}`, at);
  if (e.argument !== undefined) {
    // As a word: "w" inside "weight" does not count.
    const named = new RegExp(`(^|[^A-Za-z0-9_])${e.argument.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_])`);
    if (!named.test(e.message)) fail(`message does not name its argument '${e.argument}': ${e.message}`, at);
  } else if (code !== 'ERR_SPARQ_BACKEND' && code !== 'ERR_SPARQ_DEVICE') {
    fail(`no argument on ${describeError(e)}`, at);
  }
}

/** Disposes (or, sometimes, drops for the GC backstop) what a call returned; reads some outputs. */
async function settleResult(result: unknown, env: FuzzEnv, inputs: unknown[], timeoutMs: number): Promise<void> {
  if (types.isProxy(result) || typeof result !== 'object' || result === null) return;
  if (result instanceof Context) {
    if (result !== env.sq && result !== env.other && result !== env.closed) await withTimeout(result.close(), timeoutMs, 'close of an opened context');
    return;
  }
  const dropForGc = env.r.chance(0.05);
  if (result instanceof Tensor) {
    if (inputs.includes(result)) return; // `out`: the caller's tensor
    if (env.r.chance(0.2)) await withTimeout(result.read(), timeoutMs, 'read of the result');
    if (!dropForGc) result.dispose();
    return;
  }
  if (result instanceof PackedWeight) {
    if (!dropForGc) result.dispose();
    return;
  }
  const r = result as { y?: unknown; outlierColumns?: unknown };
  if (r.y instanceof Tensor && types.isPromise(r.outlierColumns)) {
    await withTimeout(r.outlierColumns, timeoutMs, 'outlierColumns');
    await settleResult(r.y, env, inputs, timeoutMs);
  }
}

export async function runOne(env: FuzzEnv, op: OpDescriptor, call: number, timeoutMs: number): Promise<void> {
  const d: Dims = op.dims ? op.dims(env) : { m: 1, n: 1, k: 1, xShape: [1] };
  const notes: string[] = [];
  const at = { backend: env.backend, call, op: op.name, notes };
  Object.assign(where, at);
  let mustThrow = false;
  let receiver: unknown;
  env.callContext = env.sq;
  if (op.receiver) {
    const r = await draw(op.receiver, env, d, [], 'this.');
    receiver = r.value;
    notes.push(...r.notes);
    env.callContext = !types.isProxy(receiver) && receiver instanceof Context ? receiver : env.sq;
    mustThrow ||= r.mustThrow;
  }
  const args: unknown[] = [];
  const argMust: boolean[] = [];
  const argNotes: string[][] = [];
  for (const arg of op.args) {
    const a = await draw(arg, env, d, args, '');
    args.push(a.present ? a.value : undefined);
    argMust.push(a.mustThrow);
    argNotes.push(a.notes);
  }
  // Trailing undefined of absent optional args is what leaving them out looks like.
  while (args.length > 0 && args[args.length - 1] === undefined && argNotes[args.length - 1].length === 0) {
    args.pop();
    argMust.pop();
    argNotes.pop();
  }
  let extraRefused = false;
  if (env.r.chance(p / 4)) {
    args.push(...[7, 'extra', null].slice(0, env.r.int(1, 3)));
    extraRefused = REFUSES_EXTRA_ARGUMENTS.has(op.name);
    notes.push(extraRefused ? 'extra arguments' : 'extra arguments (ignored)');
  } else if (op.args.length > 0 && env.r.chance(p / 4)) {
    const keep = env.r.int(0, op.args.length - 1);
    for (let i = keep; i < op.args.length; i++) {
      argMust[i] = requiredArg(op.args[i], env, d);
      argNotes[i] = [];
    }
    args.length = Math.min(args.length, keep);
    notes.push(`only ${keep} argument(s)`);
  }
  for (const n of argNotes) notes.push(...n);
  mustThrow ||= argMust.some(Boolean) || extraRefused;
  // Refusal is required only of a call with one thing wrong: two faults can cancel (w [n, k + 1]
  // with x [m, k + 1] is a valid pair). Extra arguments are a fault of the ops that take data,
  // shapes or options (REFUSES_EXTRA_ARGUMENTS), never of the others (then(sq.synchronize)).
  if (notes.filter((n) => n !== 'extra arguments (ignored)').length !== 1) mustThrow = false;
  const malformed = notes.length > 0;
  if (malformed) summary.malformedCalls++;
  else summary.validCalls++;
  summary.ops[op.name] = (summary.ops[op.name] ?? 0) + 1;

  let threw = false;
  let result: unknown;
  if (inject === 'abort' && call === 20) process.abort();
  try {
    result = op.call(receiver, args);
    if (types.isPromise(result)) result = await withTimeout(result, timeoutMs, op.name);
  } catch (e) {
    if (inject === 'accept' && mustThrow) result = undefined;
    else {
      threw = true;
      checkError(inject === 'type-error' && e instanceof SparqError ? new TypeError(e.message) : e, malformed, at);
    }
  }
  if (threw) {
    summary.rejected++;
  } else {
    summary.accepted++;
    if (mustThrow) fail('accepted a call that must be refused', at);
    try {
      await settleResult(result, env, [receiver, ...args, ...args.flatMap(heldBy)], timeoutMs);
    } catch (e) {
      if (e instanceof Hang) throw e;
      fail(`using the result failed: ${describeError(e)}`, at);
    }
  }
  // Receivers made for this call (fresh tensors and weights) go with the run's other leftovers.
  if (!types.isProxy(receiver) && (receiver instanceof Tensor || receiver instanceof PackedWeight)) env.keep(receiver);
}

/**
 * The ops that refuse a surplus argument (src/errors.ts refuseExtraArguments): a misplaced option there
 * would run without it. Methods that take nothing or only options, the conversions and read(out?)
 * keep JavaScript's rule (callbacks: then(sq.synchronize), configs.map(open), arrays.map(toF16)).
 */
const REFUSES_EXTRA_ARGUMENTS = new Set([
  'tensor', 'zeros', 'copy', 'dense.matmul', 'w4a16.quantize', 'w4a16.fromCodes', 'w4a16.matmul',
  'sparse.encode', 'sparse.prune', 'sparse.matmul', 'int8.quantize', 'int8.fromCodes', 'int8.matmul',
  'group.allreduceRmsnorm', 'comm.allreduceRmsnorm',
]);

/** A valid dense matmul on the primary context against its float64 reference; the stream is clean. */
export async function probe(env: FuzzEnv, timeoutMs: number): Promise<void> {
  const at = { backend: env.backend, call: where.call, op: 'probe', notes: [] };
  summary.probes++;
  const [m, n, k] = [3, 8, 40];
  const w = randomF16(env.r, n * k);
  const x = randomF16(env.r, m * k);
  try {
    if (env.sq.lost) fail('the primary context is lost', at);
    await withTimeout(env.sq.synchronize(), timeoutMs, 'synchronize');
    const tw = env.sq.tensor(w, [n, k], 'f16');
    const tx = env.sq.tensor(x, [m, k], 'f16');
    const ty = env.sq.dense.matmul(tw, tx);
    const y = await withTimeout(ty.read(), timeoutMs, 'probe read');
    if (inject === 'wrong-answer') y[0] = numberToF16Bits(f16BitsToNumber(y[0]) + 0.1); // |ref| < 40: over the bound
    for (const t of [tw, tx, ty]) t.dispose();
    const ref = referenceMatmul(Float64Array.from(w, f16BitsToNumber), Float64Array.from(x, f16BitsToNumber), m, n, k);
    for (let i = 0; i < m * n; i++) {
      const err = Math.abs(f16BitsToNumber(y[i]) - ref[i]) / Math.max(1, Math.abs(ref[i]));
      summary.probeMaxError = Math.max(summary.probeMaxError, err);
      if (!(err <= PROBE_TOLERANCE)) {
        fail(`probe: y[${i}] = ${f16BitsToNumber(y[i])}, reference ${ref[i]} (error ${err} > ${PROBE_TOLERANCE})`, at);
        break;
      }
    }
  } catch (e) {
    if (e instanceof Hang) throw e;
    fail(`probe failed: ${describeError(e)}`, at);
  }
}

export function weightedPicker(env: FuzzEnv): () => OpDescriptor {
  const table = OPS.filter((op) => !opFilter || opFilter.test(op.name))
    .map((op) => ({ op, w: (op.weight ?? 1) * (env.backend === 'sim' ? (op.simWeight ?? 1) : 1) }))
    .filter((x) => x.w > 0);
  const total = table.reduce((a, x) => a + x.w, 0);
  return () => {
    let u = env.r.float() * total;
    for (const x of table) if ((u -= x.w) < 0) return x.op;
    return table[table.length - 1].op;
  };
}

async function runBackend(backend: BackendName, calls: number): Promise<void> {
  const t0 = Date.now();
  // Each backend its own stream of draws, from the run's seed (the same seed replays both).
  const env = new FuzzEnv(backend, (seed ^ (backend === 'cpu' ? 0x9e3779b9 : 0x85ebca6b)) >>> 0);
  const timeoutMs = backend === 'sim' ? 120000 : 30000;
  await env.start();
  const next = weightedPicker(env);
  let i = 0;
  try {
    for (; i < calls; i++) {
      await runOne(env, next(), i, timeoutMs);
      if (i % PROBE_EVERY === PROBE_EVERY - 1) await probe(env, timeoutMs);
      if (env.pooled > 160) env.clearPools();
    }
    await probe(env, timeoutMs);
    await env.stop();
  } catch (e) {
    // A hang: the rest of this backend's run cannot be trusted; say where it stopped.
    fail(e instanceof Hang ? `hang: ${e.message}` : `driver error: ${describeError(e)}`);
  }
  summary.calls[backend] = i;
  summary.totalCalls += i;
  summary.elapsedMs[backend] = Date.now() - t0;
}

async function main(): Promise<void> {
  watchProcess();
  const backends: BackendName[] = ['cpu'];
  if (native().hasSim) backends.push('sim');
  for (const b of backends) {
    const n = callsPerBackend[b] ?? 0;
    if (n > 0) await runBackend(b, n);
  }
  process.stdout.write(`FUZZ_SUMMARY ${JSON.stringify(summary)}\n`);
  process.exitCode = summary.failureCount > 0 ? 1 : 0;
}

// Also a library: test/fuzz/workerHammer.ts runs the same calls in worker threads.
if (require.main === module)
  main().catch((e: unknown) => {
    fail(`driver crashed: ${describeError(e)}`);
    process.stdout.write(`FUZZ_SUMMARY ${JSON.stringify(summary)}\n`);
    process.exitCode = 2;
  });
