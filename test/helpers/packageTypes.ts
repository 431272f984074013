// test/helpers/packageTypes.ts: sparq's declarations emitted into <dir>/node_modules/sparq, the way a
// consumer's project sees the published package (its .d.ts under dist/src, package.json's `types`),
// for tests that type-check code written against `import ... from 'sparq'`.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..', '..');

/** Emits src/index.ts's declarations into dir/node_modules/sparq (with @types linked beside it). */
export function installPackageTypes(dir: string): void {
  const pkg = path.join(dir, 'node_modules', 'sparq');
  const options: ts.CompilerOptions = {
    ...ts.parseJsonConfigFileContent(ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile).config, ts.sys, root).options,
    declaration: true,
    emitDeclarationOnly: true,
    sourceMap: false,
    inlineSources: false,
    rootDir: root,
    outDir: path.join(pkg, 'dist'),
  };
  expect(ts.createProgram([path.join(root, 'src', 'index.ts')], options).emit().diagnostics).toEqual([]);
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'sparq', main: 'dist/src/index.js', types: 'dist/src/index.d.ts' }));
  fs.symlinkSync(path.join(root, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
}
