// The .d.ts files sparq ships, as a consumer's tsc sees them: with skipLibCheck off, under the
// settings a TypeScript 6/7 project gets (`types` defaults to [] there, so @types/node is not
// loaded unless listed), and beside @types/node with lib esnext (three declarations of
// Symbol.dispose). Emitted from src/ here, so the test needs no build.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

import { installPackageTypes } from './helpers/packageTypes';

/** A consumer file that touches every disposable class and an error narrowing. */
const CONSUMER = `
import { open, toF16, toBF16, fromF16, fromBF16, SparqError, SparqShapeError, type PackedWeight, type SparqErrorCode, type Tensor } from 'sparq';
export async function main(): Promise<number> {
  await using ctx = await open({ backend: 'cpu' }); // the Disposable interfaces, even with types: []
  const sq = await open({ backend: 'cpu' });
  const t: Tensor<'f16'> = sq.tensor(toF16([1, 2]), [1, 2], 'f16');
  t[Symbol.dispose]();
  const g = sq.group({ ranks: 1 });
  // A tuple of ranks gives tuples back: one rank destructures to a Tensor, no undefined.
  const { out: [normed], residual: [nextResidual] } = g.allreduceRmsnorm([t], [t], t);
  const kept: Tensor<'f16'>[] = [normed, nextResidual];
  // @ts-expect-error a one-rank tuple has no second element
  g.allreduceRmsnorm([t], [t], t).out[1];
  // An array of ranks gives arrays back.
  const ranks: Tensor<'f16'>[] = [t];
  const asArray: Tensor<'f16'>[] = g.allreduceRmsnorm(ranks, ranks, t).out;
  g[Symbol.dispose]();
  // Every weight kind is a PackedWeight.
  const w = toF16(new Array(64).fill(0.5));
  const weights: PackedWeight[] = [await sq.w4a16.quantize(w, [1, 64]), await sq.sparse.encode(w, [1, 64]), await sq.int8.quantize(w, [1, 64])];
  // fp16 and bf16 bits do not mix (plain Uint16Arrays pass as either).
  const plain = new Uint16Array(2);
  const both = [fromF16(plain), fromBF16(plain), fromF16(await t.read())];
  // @ts-expect-error bf16 bits where fp16 bits are expected
  fromF16(toBF16([0.5]));
  // @ts-expect-error fp16 bits where bf16 bits are expected
  fromBF16(toF16([0.5]));
  // @ts-expect-error bf16 bits for an f16 tensor
  sq.tensor(toBF16([1, 2]), [2], 'f16');
  try {
    sq.dense.matmul(t, t);
  } catch (e) {
    if (e instanceof SparqShapeError) return e.argument === undefined ? 0 : 1;
    if (e instanceof SparqError) {
      // An error rebuilt from its toJSON() (a worker's report), exactOptionalPropertyTypes or not.
      const j = e.toJSON();
      const again = new SparqError(j.message, { argument: j.argument });
      const code: SparqErrorCode = again.code;
      switch (code) {
        case 'ERR_SPARQ_TIMEOUT': return 3;
        // @ts-expect-error a misspelt code
        case 'ERR_SPARQ_SHAP': return 4;
      }
    }
  }
  await sq[Symbol.asyncDispose]();
  return 2 + weights.length + both.length + kept.length + asArray.length + (ctx.closed ? 1 : 0);
}
`;

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-typings-'));
  installPackageTypes(dir);
  fs.writeFileSync(path.join(dir, 'app.mts'), CONSUMER);
}, 60000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** tsc's errors for app.mts against the emitted declarations, one line each (file: message). */
function consumerErrors(extra: ts.CompilerOptions): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    typeRoots: [path.join(dir, 'node_modules', '@types')],
    ...extra,
  };
  const program = ts.createProgram([path.join(dir, 'app.mts')], options);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? path.relative(dir, d.file.fileName) : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

describe("sparq's declarations in a consumer's tsc", () => {
  it('typings [types: [], lib es2022] (a TS 6/7 project that does not list @types/node): no errors', () => {
    expect(consumerErrors({ types: [], lib: ['lib.es2022.d.ts'] })).toEqual([]);
  });

  it("typings [@types/node, lib esnext]: no errors (sparq's Symbol.dispose beside lib's and node's)", () => {
    expect(consumerErrors({ types: ['node'], lib: ['lib.esnext.d.ts'] })).toEqual([]);
  });

  it('typings [@types/node, lib es2022, exactOptionalPropertyTypes, noUncheckedIndexedAccess]: no errors', () => {
    expect(
      consumerErrors({ types: ['node'], lib: ['lib.es2022.d.ts'], exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true }),
    ).toEqual([]);
  });
});
