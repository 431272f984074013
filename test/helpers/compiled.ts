import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return p.endsWith('.ts') ? st.mtimeMs : 0;
  return Math.max(0, ...fs.readdirSync(p).map((f) => newestMtime(path.join(p, f))));
}

/**
 * The compiled JS of a script that a test runs as a child process (`rel` without extension, e.g.
 * test/fuzz/runFuzz). `npm test` compiles dist/ first; under a bare `npx jest` a missing or stale
 * copy (older than src/ or the script's folder) is compiled here, so the child never runs old code.
 */
export function compiledScript(rel: string): string {
  const js = path.join(root, 'dist', `${rel}.js`);
  const sources = Math.max(newestMtime(path.join(root, 'src')), newestMtime(path.join(root, path.dirname(rel))), newestMtime(path.join(root, 'test', 'reference.ts')));
  if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < sources) {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { encoding: 'utf8', cwd: root });
    if (r.status !== 0) throw new Error(`${js} is stale and tsc failed:\n${r.stdout}${r.stderr}`);
  }
  return js;
}
