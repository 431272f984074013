// Every ```ts / ```js example in README.md and docs/*.md, as a user copies it: type-checked against
// the declarations sparq ships (emitted from src/ into a temporary node_modules/sparq, as
// test/typings.test.ts does), then run on the cpu backend with `require('sparq')` bound to src/
// (as test/entry.test.ts does; `open()` with 'auto' gets 'cpu'). Each block needs an entry in
// EXAMPLES below: what it is given before it runs (a preamble, type-checked and run with it), what
// is asserted after it, or why it is not run. A block without an entry, or an entry without its
// block, fails the test, so a new example cannot go unchecked. Every context a run opened must have
// no failed work (synchronize() resolves) and is closed after it.
import assert from 'assert';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { format } from 'util';

import * as sparq from '../src';
import type { CommCreateOptions, Context, OpenOptions } from '../src';
import { installPackageTypes } from './helpers/packageTypes';

const root = path.join(__dirname, '..');

interface Block {
  /** README.md, docs/api.md, … (relative to the repository root). */
  file: string;
  /** 1-based line of the opening fence. */
  fence: number;
  lang: 'ts' | 'js';
  code: string;
}

const LANGS: Record<string, Block['lang']> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' };

/** The fenced blocks of one Markdown file whose info string names TypeScript or JavaScript. */
function extractBlocks(file: string): Block[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let open: { fence: string; indent: number; line: number; lang: string } | null = null;
  let body: string[] = [];
  lines.forEach((line, i) => {
    const m = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (!open) {
      if (m) {
        open = { fence: m[2], indent: m[1].length, line: i + 1, lang: m[3].toLowerCase() };
        body = [];
      }
      return;
    }
    if (m && m[2][0] === open.fence[0] && m[2].length >= open.fence.length && m[3] === '') {
      const lang = LANGS[open.lang];
      if (lang) blocks.push({ file, fence: open.line, lang, code: body.join('\n') });
      open = null;
      return;
    }
    body.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)));
  });
  if (open) throw new Error(`${file}:${(open as { line: number }).line}: unterminated code fence`);
  return blocks;
}

const DOC_FILES = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const BLOCKS = DOC_FILES.flatMap(extractBlocks);

/** What a run left behind, for an example's own checks. */
interface RunResult {
  /** console.log lines the example printed. */
  logs: string[];
  /** Every context it opened (through the preamble too), in order. */
  contexts: Context[];
  /** The modules it was given besides sparq (see Example.modules). */
  modules: Record<string, unknown>;
}

interface Example {
  file: string;
  /** The block's first line starts with this (how a block finds its entry wherever it moves in the file). */
  startsWith: string;
  /** TypeScript declared before the block: imports and the values it uses without defining them. */
  preamble?: string;
  /** TypeScript after the block (type-checked and run with it): asserts what the block's comments claim. */
  epilogue?: string;
  /** Run it as this many ranks at once, each given `rank` and `size` by the module 'example-rank'. */
  ranks?: number;
  /** Not run here (type-checked only), and why. */
  notRun?: string;
  /** The block opens its own contexts and must have closed every one of them when it ends. */
  closesOwnContexts?: boolean;
  /** Edits applied to the block's text for the run only ([from, to], `from` must occur once). */
  runEdits?: [string, string][];
  /** Modules the block requires besides sparq (made fresh per run). */
  modules?: () => Record<string, unknown>;
  /** Checks after the block ran, before its contexts are closed. */
  check?: (r: RunResult) => Promise<void> | void;
}

/** A layer of the shapes the weight ops document: f16 W [n, k], X [m, k], bias [n], out [m, n]. */
const LAYER = `import assert from 'assert';
import { open, toF16 } from 'sparq';
const sq = await open({ backend: 'cpu' });
const [n, k, m] = [64, 256, 4]; // k: a multiple of the default group size, 128
const wF16 = toF16(Float32Array.from({ length: n * k }, (_, i) => Math.sin(i) / 16));
const x = sq.tensor(toF16(Float32Array.from({ length: m * k }, (_, i) => Math.cos(i))), [m, k], 'f16');
const bias = sq.tensor(toF16(new Float32Array(n).fill(0.5)), [n], 'f16');
const out = sq.zeros([m, n], 'f16');`;

/** A stand-in for worker_threads' parentPort: records what the worker posts. */
class FakeParentPort extends EventEmitter {
  readonly posted: unknown[] = [];
  postMessage(message: unknown): void {
    this.posted.push(message);
    this.emit('posted', message);
  }
}

/** Posts `message` to the worker as its parent would and resolves with the worker's reply. */
async function ask(port: FakeParentPort, message: unknown): Promise<unknown> {
  for (let i = 0; port.listenerCount('message') === 0; i++) {
    if (i > 1000) throw new Error('the worker never listened for messages');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const reply = new Promise((resolve) => port.once('posted', resolve));
  port.emit('message', message);
  return reply;
}

const EXAMPLES: Example[] = [
  {
    file: 'README.md',
    startsWith: "const { open, toF16, fromF16 } = require('sparq');",
    closesOwnContexts: true,
    // The script ends with `main().catch(…)`, which nothing awaits; the run awaits it.
    runEdits: [['main().catch(', 'await main().catch(']],
    check: ({ logs }) => {
      const line = logs.find((l) => l.startsWith('w4a16 vs f16 weights, relative error:'));
      expect(line).toBeDefined();
      const err = Number(line!.split(':')[1]);
      expect(err).toBeGreaterThan(0.05); // the comment says ~0.07
      expect(err).toBeLessThan(0.09);
      // the int8 mode's line: "about the same" (on cpu; elsewhere y4fast is y4)
      const fast = logs.find((l) => l.startsWith("  with { accuracy: 'int8' }:"));
      expect(fast).toBeDefined();
      const fastErr = Number(fast!.split(':').pop());
      expect(Math.abs(fastErr - err)).toBeLessThan(0.01);
    },
  },
  {
    file: 'docs/api.md',
    startsWith: "import { open, comm, nccl, toF16, fromF16, toBF16, fromBF16, cpuFeatures, addonPath } from 'sparq';",
  },
  {
    file: 'docs/api.md',
    startsWith: 'const sq = await open();',
    preamble: "import { open } from 'sparq';",
    closesOwnContexts: true,
  },
  {
    file: 'docs/api.md',
    startsWith: 'await using sq = await open();',
    preamble: "import { open } from 'sparq';",
    closesOwnContexts: true,
  },
  {
    file: 'docs/api.md',
    startsWith: '// worker.js',
    // Run in this thread with a stand-in parentPort: a real Worker would need the compiled package.
    // The worker keeps its context for its life (a terminate() tears it down); the run closes it.
    modules: () => ({ os, worker_threads: { parentPort: new FakeParentPort(), workerData: { workers: 2 } } }),
    check: async ({ modules }) => {
      const port = (modules.worker_threads as { parentPort: FakeParentPort }).parentPort;
      const data = sparq.toF16([1, 2, 3, 4]);
      expect(await ask(port, { data, shape: [2, 2] })).toEqual({ result: data });
      // A refused call comes back as the error's JSON, its class name and code kept.
      const { error } = (await ask(port, { data, shape: [3, 2] })) as { error: Record<string, unknown> };
      expect(error).toMatchObject({ name: 'SparqShapeError', code: 'ERR_SPARQ_SHAPE' });
    },
  },
  {
    file: 'docs/api.md',
    startsWith: 'const qw = await sq.w4a16.quantize(wF16, [n, k], { groupSize: 128 });',
    preamble: LAYER,
    epilogue: `const again = await qc.read(); // "the same weight again"
assert.deepStrictEqual([again.codes, again.scales], [codes, scales]);
assert.deepStrictEqual(await yq.read(), await sq.w4a16.matmul(qc, x, { accuracy: 'int8' }).read());`,
  },
  {
    file: 'docs/api.md',
    startsWith: "const pw = await sq.sparse.prune(wF16, [n, k], 0.8, { scope: 'row' });",
    preamble: LAYER,
    epilogue: `assert.deepStrictEqual(w, pw); // "the dense fp16 bits, exactly"
assert.strictEqual(sw.nnz, n * (k - Math.round(0.8 * k))); // row scope: each row drops round(0.8·k)`,
  },
  {
    file: 'docs/api.md',
    startsWith: 'const iw = await sq.int8.quantize(wF16, [n, k]);',
    preamble: LAYER,
    epilogue: `const again = await ic.read(); // a CB/SCB pair back into the same weight
assert.deepStrictEqual([again.codes, again.scb], [codes, scb]);
assert.strictEqual((await outlierColumns).constructor.name, 'Int32Array'); // made in the addon's realm, not jest's`,
  },
  {
    file: 'docs/api.md',
    startsWith: '// ranks of ONE context',
    preamble: `import assert from 'assert';
import { open, toF16 } from 'sparq';
const sq = await open({ backend: 'cpu' });
const [tokens, hidden] = [4, 64];
const rows = (seed: number) =>
  sq.tensor(toF16(Float32Array.from({ length: tokens * hidden }, (_, i) => Math.sin(i + seed))), [tokens, hidden], 'f16');
const xs = [0, 1, 2, 3].map(rows);
const residuals = [4, 5, 6, 7].map(rows);
const gamma = sq.tensor(toF16(new Float32Array(hidden).fill(1)), [hidden], 'f16');`,
    // The in-place call ran on the same inputs as the first: each residual now holds the first call's.
    epilogue: `assert.strictEqual(out.length, 4);
for (let r = 0; r < 4; r++) assert.deepStrictEqual(await residuals[r].read(), await residual[r].read());`,
  },
  {
    file: 'docs/api.md',
    startsWith: '// ranks in OTHER worker_threads or processes',
    // Two ranks, each its own run of the block on its own context, at once; the second
    // sparq.comm.create() of a run gives the first one's id (what "hand it to every rank" does).
    ranks: 2,
    preamble: `import sparq, { open, toF16 } from 'sparq';
import { rank, size } from 'example-rank';
const sq = await open({ backend: 'cpu', threads: 1 });
const [tokens, hidden] = [4, 64];
const rows = (seed: number) =>
  sq.tensor(toF16(Float32Array.from({ length: tokens * hidden }, (_, i) => Math.sin(i + seed))), [tokens, hidden], 'f16');
const x = rows(rank);
const residual = rows(10 + rank);
const gamma = sq.tensor(toF16(new Float32Array(hidden).fill(1)), [hidden], 'f16');`,
    epilogue: `if (y.length !== tokens * hidden || !c.closed) throw new Error('every row, then closed');`,
  },
];

function keyOf(b: Block): string {
  return `${b.file}:${b.fence} (${b.lang})`;
}

function exampleFor(b: Block): Example | undefined {
  const first = b.code.split('\n')[0];
  return EXAMPLES.find((e) => e.file === b.file && first.startsWith(e.startsWith));
}

/** preamble + block + epilogue, and how many lines the preamble takes. */
function sourceOf(b: Block, e: Example | undefined): { text: string; headLines: number } {
  const head = e?.preamble ? `${e.preamble.replace(/\n+$/, '')}\n` : '';
  const tail = e?.epilogue ? `${e.epilogue.replace(/\n+$/, '')}\n` : '';
  return { text: `${head}${b.code}\n${tail}`, headLines: head === '' ? 0 : head.split('\n').length - 1 };
}

/**
 * Blocks that must fail, to show the checks can: a missing await and a misspelt method (tsc), a
 * context left open by a block that says it closes its own (the run).
 */
const SELF_TESTS: { block: Block; example: Example }[] = [
  {
    block: { file: '(self-test)', fence: 1, lang: 'ts', code: 'const y = sq.w4a16.matmul(sq.w4a16.quantize(wF16, [n, k]), x);\nsq.dense.matmull(sq.tensor(wF16, [n, k], "f16"), x);' },
    example: { file: '(self-test)', startsWith: '', preamble: LAYER },
  },
  {
    block: { file: '(self-test)', fence: 2, lang: 'ts', code: 'const sq = await open();\nsq.zeros([2], "f16");' },
    example: { file: '(self-test)', startsWith: '', preamble: "import { open } from 'sparq';", closesOwnContexts: true },
  },
];

let dir: string;
/** tsc's errors for each block, keyed by keyOf, as `file:line: message`. */
const typeErrors = new Map<string, string[]>();

/** Emits sparq's declarations into dir/node_modules/sparq and declares the module 'example-rank'. */
function installPackage(): void {
  installPackageTypes(dir);
  const rank = path.join(dir, 'node_modules', 'example-rank');
  fs.mkdirSync(rank);
  fs.writeFileSync(path.join(rank, 'package.json'), JSON.stringify({ name: 'example-rank', types: 'index.d.ts' }));
  fs.writeFileSync(path.join(rank, 'index.d.ts'), 'export declare const rank: number;\nexport declare const size: number;\n');
}

/**
 * tsc over every block at once: TypeScript blocks as ES modules (.mts: top-level await, as the
 * examples write it), strict; JavaScript blocks as CommonJS scripts (.cjs), checked as an editor
 * checks JS (checkJs, not strict). Fills typeErrors.
 */
function typeCheck(cases: { block: Block; example: Example | undefined }[]): void {
  const files = new Map<string, { block: Block; headLines: number }>();
  cases.forEach(({ block, example }, i) => {
    const { text, headLines } = sourceOf(block, example);
    const name = path.join(dir, `example${i}.${block.lang === 'ts' ? 'mts' : 'cjs'}`);
    fs.writeFileSync(name, text);
    files.set(name, { block, headLines });
    typeErrors.set(keyOf(block), []);
  });
  const common: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    typeRoots: [path.join(dir, 'node_modules', '@types')],
    skipLibCheck: true, // the declarations themselves: test/typings.test.ts
    noEmit: true,
  };
  for (const lang of ['ts', 'js'] as const) {
    const names = [...files].filter(([, f]) => f.block.lang === lang).map(([name]) => name);
    const options = lang === 'ts' ? { ...common, strict: true } : { ...common, allowJs: true, checkJs: true };
    for (const d of ts.getPreEmitDiagnostics(ts.createProgram(names, options))) {
      const f = d.file && files.get(path.resolve(d.file.fileName));
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (!f) throw new Error(`tsc, outside the examples: ${d.file?.fileName ?? ''}: ${message}`);
      const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line - f.headLines;
      const blockLines = f.block.code.split('\n').length;
      const where =
        line < 0 ? `preamble line ${line + f.headLines + 1}` : line < blockLines ? `${f.block.file}:${f.block.fence + 1 + line}` : `epilogue line ${line - blockLines + 1}`;
      typeErrors.get(keyOf(f.block))!.push(`${where}: ${message}`);
    }
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-doc-examples-'));
  installPackage();
  typeCheck([...BLOCKS.map((block) => ({ block, example: exampleFor(block) })), ...SELF_TESTS]);
}, 120000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * The module the examples get as 'sparq': `open` records each context and runs `'auto'` on the cpu
 * backend; `comm.create` gives every rank of one run the same id.
 */
function exampleSparq(contexts: Context[], shared: { id?: Uint8Array<ArrayBuffer> }): Record<string, unknown> {
  const api: Record<string, unknown> = {
    ...sparq,
    open: async (options: OpenOptions = {}): Promise<Context> => {
      const backend = options.backend === undefined || options.backend === 'auto' ? 'cpu' : options.backend;
      const ctx = await sparq.open({ ...options, backend });
      contexts.push(ctx);
      return ctx;
    },
    comm: { ...sparq.comm, create: (options?: CommCreateOptions) => (shared.id ??= sparq.comm.create(options)) },
  };
  api.default = api;
  return api;
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (
  ...args: unknown[]
) => Promise<void>;

/** Node's modules every example may require. */
const BUILTINS: Record<string, unknown> = { assert };

/** One run of the block (one rank of it), checked and with every context it opened closed. */
async function runOnce(b: Block, e: Example, js: string, rank: number, shared: { id?: Uint8Array<ArrayBuffer> }): Promise<void> {
  const contexts: Context[] = [];
  const modules = { ...BUILTINS, ...e.modules?.(), 'example-rank': { rank, size: e.ranks ?? 1 } };
  const api = exampleSparq(contexts, shared);
  const load = (id: string): unknown => {
    if (id === 'sparq') return api;
    if (id in modules) return modules[id as keyof typeof modules];
    throw new Error(`${keyOf(b)}: unexpected require(${id}); give it in the example's modules`);
  };
  const logs: string[] = [];
  const errors: string[] = [];
  const fakeConsole = { log: (...a: unknown[]) => logs.push(format(...a)), error: (...a: unknown[]) => errors.push(format(...a)) };
  const exitCode = process.exitCode;
  const module = { exports: {} };
  try {
    // top-level await is legal in an async function; `console` is the block's own
    await new AsyncFunction('require', 'module', 'exports', 'console', js)(load, module, module.exports, fakeConsole);
    expect(errors).toEqual([]);
    expect(process.exitCode).toBe(exitCode);
    if (e.closesOwnContexts) expect(contexts.map((c) => `${c.label} closed: ${c.closed}`)).toEqual(contexts.map((c) => `${c.label} closed: true`));
    await e.check?.({ logs, contexts, modules });
    // Nothing it queued failed unseen: a context's synchronize() rejects with the first failure.
    for (const c of contexts) if (!c.closed) await c.synchronize();
  } finally {
    process.exitCode = exitCode;
    await Promise.all(contexts.map((c) => c.close()));
  }
}

async function runExample(b: Block, e: Example): Promise<void> {
  let code = b.code;
  for (const [from, to] of e.runEdits ?? []) {
    expect(code.split(from).length - 1).toBe(1);
    code = code.replace(from, to);
  }
  const { text } = sourceOf({ ...b, code }, e);
  const js =
    b.lang === 'ts'
      ? ts.transpileModule(text, {
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
          reportDiagnostics: false,
        }).outputText
      : text;
  const shared = {};
  await Promise.all(Array.from({ length: e.ranks ?? 1 }, (_, rank) => runOnce(b, e, js, rank, shared)));
}

describe('docs examples', () => {
  it('every ts/js block in README.md and docs/*.md has an entry in EXAMPLES, and every entry its block', () => {
    const unlisted = BLOCKS.filter((b) => !exampleFor(b)).map((b) => `${keyOf(b)}: ${b.code.split('\n')[0]}`);
    const stale = EXAMPLES.filter((e) => !BLOCKS.some((b) => exampleFor(b) === e)).map((e) => `${e.file}: ${e.startsWith}`);
    expect({ unlisted, stale }).toEqual({ unlisted: [], stale: [] });
    // two blocks sharing one entry would hide the second
    const entries = BLOCKS.map((b) => exampleFor(b));
    expect(new Set(entries).size).toBe(entries.length);
  });

  it('the checks can fail: tsc names a missing await and a misspelt method; a context left open fails the run', async () => {
    const errors = typeErrors.get(keyOf(SELF_TESTS[0].block))!;
    expect(errors).toEqual([
      expect.stringMatching(/^\(self-test\):2: .*Promise<W4A16Weight>.* is not assignable to parameter of type 'W4A16Weight'/),
      expect.stringMatching(/^\(self-test\):3: Property 'matmull' does not exist .* Did you mean 'matmul'\?/),
    ]);
    await expect(runExample(SELF_TESTS[1].block, SELF_TESTS[1].example)).rejects.toThrow(/closed: true/);
  });

  describe.each(BLOCKS.map((b) => [keyOf(b), b] as const))('%s', (_key, b) => {
    const e = exampleFor(b);

    it(`type-checks against sparq's declarations${b.lang === 'js' ? ' (checkJs)' : ''}: no errors`, () => {
      expect(typeErrors.get(keyOf(b))).toEqual([]);
    });

    if (e?.notRun) {
      it.skip(`[cpu] not run here: ${e.notRun}`, () => {});
    } else {
      it(`[cpu] runs${e?.ranks ? ` as ${e.ranks} ranks at once` : ''}, nothing it queued fails, and its contexts are closed`, async () => {
        expect(e).toBeDefined();
        await runExample(b, e!);
      });
    }
  });
});
