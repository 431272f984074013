// The package's one entry point as each kind of consumer imports it.
import * as ts from 'typescript';

import * as sparq from '../src';

/**
 * Runs `source` (a consumer's TypeScript) as tsc emits it for CommonJS with esModuleInterop — the
 * usual Node TypeScript setup — with 'sparq' resolved to src/; returns what it exports.
 */
function runAsCommonJs(source: string): Record<string, unknown> {
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  const module = { exports: {} as Record<string, unknown> };
  const load = (id: string): unknown => {
    if (id !== 'sparq') throw new Error(`unexpected require(${id})`);
    return sparq;
  };
  new Function('require', 'module', 'exports', js)(load, module, module.exports);
  return module.exports;
}

describe("entry point 'sparq'", () => {
  // tsc accepts `import sparq from 'sparq'` (nodenext .cts, commonjs + esModuleInterop, bundler)
  // and emitted `sparq_1.default.open`: undefined, since the module is marked __esModule and had
  // no default export. Node's own ESM and esbuild's ESM output give module.exports instead; the
  // default export is the API itself so that every tool gives the same object.
  it('a default import, as tsc emits it for CommonJS, is the whole API', () => {
    const got = runAsCommonJs(`
      import sparq from 'sparq';
      import { open } from 'sparq';
      export const openOfDefault = sparq.open;
      export const named = open;
      export const shapeError = sparq.SparqShapeError;
    `);
    expect(typeof got.openOfDefault).toBe('function');
    expect(got.openOfDefault).toBe(got.named);
    expect(got.shapeError).toBe(sparq.SparqShapeError);
  });

  it('the default export is the module itself, not a copy', () => {
    expect(sparq.default).toBe(sparq);
  });
});
