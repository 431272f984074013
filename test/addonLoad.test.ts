// SPARQ_ADDON_PATH: when set, only that file is tried, and what is wrong with it is said — and a
// path to something other than a native addon is never run as JavaScript.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

type NativeModule = typeof import('../src/native');
type ErrorsModule = typeof import('../src/errors');

/**
 * addonPath() of a fresh copy of src/native (its addon cache empty), with SPARQ_ADDON_PATH = file
 * while it loads (a failed load caches nothing, so every call reads the variable again).
 */
function addonPathWith(file: string): { load: () => string; errors: ErrorsModule } {
  let mods: { native: NativeModule; errors: ErrorsModule } | undefined;
  jest.isolateModules(() => {
    mods = { native: require('../src/native') as NativeModule, errors: require('../src/errors') as ErrorsModule };
  });
  const { native, errors } = mods!;
  const load = (): string => {
    const saved = process.env.SPARQ_ADDON_PATH;
    process.env.SPARQ_ADDON_PATH = file;
    try {
      return native.addonPath();
    } finally {
      if (saved === undefined) delete process.env.SPARQ_ADDON_PATH;
      else process.env.SPARQ_ADDON_PATH = saved;
    }
  };
  return { load, errors };
}

describe('SPARQ_ADDON_PATH', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-addon-path-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a path that does not exist: SparqBackendError naming it, "not found"', () => {
    const file = path.join(dir, 'missing', 'sparq.node');
    const { load, errors } = addonPathWith(file);
    expect(load).toThrow(errors.SparqBackendError);
    expect(load).toThrow(`SPARQ_ADDON_PATH is set but does not load: ${file} (not found)`);
  });

  it('a JavaScript file is refused, not run', () => {
    const marker = path.join(dir, 'ran');
    const file = path.join(dir, 'evil.js');
    fs.writeFileSync(file, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};\n`);
    const { load, errors } = addonPathWith(file);
    expect(load).toThrow(errors.SparqBackendError);
    expect(load).toThrow(/evil\.js \(not a native addon: it must be a file whose name ends in \.node/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a symlink named .node to a script, or a directory named .node, is refused, not run', () => {
    const marker = path.join(dir, 'ran-too');
    const script = path.join(dir, 'evil2.js');
    fs.writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};\n`);
    const link = path.join(dir, 'link.node');
    fs.symlinkSync(script, link);
    const folder = path.join(dir, 'folder.node');
    fs.mkdirSync(folder);
    fs.copyFileSync(script, path.join(folder, 'index.js'));
    for (const file of [link, folder]) {
      const { load, errors } = addonPathWith(file);
      expect(load).toThrow(errors.SparqBackendError);
      expect(load).toThrow(/\(not a native addon: it must be a file whose name ends in \.node/);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a .node file that is not a shared library: the loader\'s reason, in a SparqBackendError', () => {
    const file = path.join(dir, 'text.node');
    fs.writeFileSync(file, 'not an ELF file\n');
    const { load, errors } = addonPathWith(file);
    expect(load).toThrow(errors.SparqBackendError);
    expect(load).toThrow(/text\.node \(.*(invalid ELF header|too short|file too short)/);
  });
});

describe('sparq bundled into an app (esbuild, webpack, ncc)', () => {
  // A bundle moves sparq's JS out of its package: the loader then finds no sparq package.json
  // above it, hence no prebuilds/, and used to say only "build it from source with npm rebuild
  // sparq", which cannot help. It must say that the JS is not in its package and how to fix that.
  it('the error names the bundling, the external flag and SPARQ_ADDON_PATH', () => {
    const ts = require('typescript') as typeof import('typescript');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-bundled-'));
    try {
      // src/native.js and src/errors.js, as a bundle places them: in an app's folder, no sparq package.json above
      const app = path.join(out, 'app', 'dist');
      fs.mkdirSync(app, { recursive: true });
      fs.writeFileSync(path.join(out, 'app', 'package.json'), '{"name":"my-service"}');
      for (const name of ['native', 'errors']) {
        const src = fs.readFileSync(path.join(__dirname, '..', 'src', `${name}.ts`), 'utf8');
        const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
        fs.writeFileSync(path.join(app, `${name}.js`), js);
      }
      const saved = process.env.SPARQ_ADDON_PATH;
      delete process.env.SPARQ_ADDON_PATH;
      let caught: unknown;
      try {
        (require(path.join(app, 'native.js')) as { addonPath(): string }).addonPath();
      } catch (e) {
        caught = e;
      } finally {
        if (saved !== undefined) process.env.SPARQ_ADDON_PATH = saved;
      }
      const errors = require(path.join(app, 'errors.js')) as typeof import('../src/errors');
      expect(caught).toBeInstanceOf(errors.SparqBackendError);
      const message = (caught as Error).message;
      expect(message).toContain(`no package.json named sparq in ${app} or above it`);
      expect(message).toMatch(/bundled/);
      expect(message).toContain('--external:sparq');
      expect(message).toContain('SPARQ_ADDON_PATH');
      expect(message).not.toMatch(/npm rebuild sparq/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
