// valgrind memcheck over a small run of every cpu op (test/fuzz/valgrindScript.ts): no definite
// leak and no memory error with a frame in sparq's code (sparq.node, libsparq_*). Findings in
// Node's own frames are not sparq's and are only counted, so no suppression file is needed.
// Skipped where valgrind is not installed.
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';

import { addonPath } from '../src';
import { compiledScript } from './helpers/compiled';

const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
const present = valgrind.status === 0;

interface Finding {
  kind: string;
  sparq: boolean;
  block: string;
}

/** memcheck's report as findings: each error or definite-leak record, and whether sparq is on its stack. */
export function findings(log: string): Finding[] {
  const blocks: string[][] = [[]];
  for (const raw of log.split('\n')) {
    const m = /^==\d+== ?(.*)$/.exec(raw);
    if (!m) continue;
    if (m[1] === '') blocks.push([]);
    else blocks[blocks.length - 1].push(m[1]);
  }
  const kinds = /^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|.*definitely lost in loss record)/;
  return blocks
    .filter((b) => b.length > 0 && kinds.test(b[0]))
    .map((b) => ({ kind: b[0], sparq: b.some((l) => /sparq\.node|libsparq_/.test(l)), block: b.join('\n') }));
}

(present ? describe : describe.skip)(`valgrind memcheck, cpu${present ? '' : ' (skipped: valgrind is not installed)'}`, () => {
  it('a small run of every op: no definite leak and no memory error in sparq frames', () => {
    const script = compiledScript(path.join('test', 'fuzz', 'valgrindScript'));
    const t0 = Date.now();
    const r = spawnSync(
      'valgrind',
      ['--leak-check=full', '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite', '--num-callers=40', process.execPath, script],
      { encoding: 'utf8', cwd: os.tmpdir(), env: { ...process.env, SPARQ_ADDON_PATH: addonPath() }, timeout: 300000, killSignal: 'SIGKILL' },
    );
    const all = findings(r.stderr);
    const ours = all.filter((f) => f.sparq);
    const summary = /definitely lost: [\d,]+ bytes in [\d,]+ blocks/.exec(r.stderr)?.[0] ?? 'no leak summary';
    console.log(`valgrind memcheck: ${summary} in all; ${all.length} findings, ${ours.length} in sparq frames; ${Date.now() - t0} ms`);
    expect(r.stdout).toContain('valgrind script done');
    expect(ours.map((f) => f.block)).toEqual([]);
  });
});

describe('valgrind report parsing', () => {
  it('finds a definite leak and an invalid read with sparq on the stack, and tells Node’s own apart', () => {
    const log = [
      '==7== Invalid read of size 4',
      '==7==    at 0x1: sparq::binding::X (tensor.cc:10)',
      '==7==    by 0x2: ??? (in /repo/build-cmake/Release/sparq.node)',
      '==7== ',
      '==7== 64 bytes in 1 blocks are definitely lost in loss record 3 of 9',
      '==7==    at 0x3: malloc (vg_replace_malloc.c:381)',
      '==7==    by 0x4: node::Something (in /usr/bin/node)',
      '==7== ',
      '==7== HEAP SUMMARY:',
    ].join('\n');
    expect(findings(log).map((f) => [f.kind.split(' ')[0], f.sparq])).toEqual([
      ['Invalid', true],
      ['64', false],
    ]);
  });
});
