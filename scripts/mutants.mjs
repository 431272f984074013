#!/usr/bin/env node
// scripts/mutants.mjs (`npm run mutants`): mutation testing of the CUDA kernels' GPU-less checks.
//
// Applies each mutant of test/mutants/catalogue.mjs, one at a time, to a temporary COPY of the tree
// (never to this checkout), rebuilds the native tests there incrementally, runs the simulator tests
// (native/tests/*_test.cc: the mutant's kernel's own first, then the rest, each group fastest first,
// each test bounded) until one fails, reverts, and records
// killed (which test, which check / crash / timeout) or survived. Prints a table and the kill rate.
//
//   node scripts/mutants.mjs [--only name,kernel,...] [--seed N|date --count K] [--timeout-s S]
//                            [--source head|worktree] [--work DIR] [--ci] [--write-docs]
//                            [--json FILE] [--weaken name,...] [--list] [--check]
//
//   --only        mutant names or kernels (dense, w4a16, sim, ptx), comma-separated
//   --seed/--count  K mutants drawn by a seeded shuffle (--seed date: today's UTC date, so CI rotates)
//   --timeout-s   the test time one mutant may take, all tests together (default 90; raised to 2.5x
//                 the unmutated run when the machine is slower than that); a mutant still running
//                 then is killed and counted as killed-by-timeout
//   --source      head (default: `git archive HEAD`) or worktree (tracked + untracked, non-ignored
//                 files as they are on disk now)
//   --work        copy + build directory, reused between runs (default $TMPDIR/sparq-mutants-$UID)
//   --ci          exit 1 when a mutant survives that is not marked `equivalent`, `gpuOnly` or
//                 `knownGap` (a tracked test gap: still a survivor in the kill rate and the table)
//   --write-docs  rewrite the table between the mutants markers of docs/verification.md (this
//                 checkout's; only for a run of the whole catalogue)
//   --weaken      debug: apply a named weakening of a test (catalogue's `weakenings`) to the copy,
//                 to show that a survivor fails the run
//   --skip-baseline  do not run the unmutated tests first (CI: scripts/native-tests.sh just ran
//                 them); the budget is then --timeout-s as given, the order from the last baseline
//   --baseline-from FILE  with --skip-baseline: the unmutated seconds per test, measured elsewhere
//                 in this run ({"name": seconds}; scripts/native-tests.sh writes
//                 build-native/test-seconds.json from its plain run)
//   --list        print the catalogue; --check: only verify every search string occurs once
// Exit status: 0 ok, 1 a survivor (with --ci) or a failed baseline, 2 a stale catalogue entry
// (search string not found exactly once) or a usage error.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const catalogueFile = path.join(root, 'test/mutants/catalogue.mjs');
// Not run: the TSan-only race test (needs a TSan build). cpu_kernels_test was skipped too while
// every mutant was a CUDA one; the catalogue has CPU kernel mutants now (dense's GEMV, sparse's
// kernels), and cpu_kernels_test (~2 s) is what checks dense on the CPU.
const SKIP_TESTS = new Set(['sim_tsan_race_test']);
const JOBS = process.env.SPARQ_JOBS || '2';
// line-buffered test output, so the first FAIL line arrives (and ends the test) at once
const HAVE_STDBUF = spawnSync('stdbuf', ['--version'], { stdio: 'ignore' }).status === 0;

// ------------------------------------------------------------------------------ arguments
function parseArgs(argv) {
  const o = { only: null, seed: null, count: null, timeoutS: 90, source: 'head', work: null, ci: false,
    writeDocs: false, json: null, weaken: [], list: false, check: false, skipBaseline: false,
    baselineFrom: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--only': o.only = val().split(',').filter(Boolean); break;
      case '--seed': o.seed = val(); break;
      case '--count': o.count = Number(val()); break;
      case '--timeout-s': o.timeoutS = Number(val()); break;
      case '--source': o.source = val(); break;
      case '--work': o.work = path.resolve(val()); break;
      case '--ci': o.ci = true; break;
      case '--write-docs': o.writeDocs = true; break;
      case '--json': o.json = path.resolve(val()); break;
      case '--weaken': o.weaken = val().split(',').filter(Boolean); break;
      case '--list': o.list = true; break;
      case '--check': o.check = true; break;
      case '--skip-baseline': o.skipBaseline = true; break;
      case '--baseline-from': o.baselineFrom = path.resolve(val()); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!['head', 'worktree'].includes(o.source)) usage('--source is head or worktree');
  if (!(o.timeoutS > 0)) usage('--timeout-s must be > 0');
  if (o.baselineFrom && !o.skipBaseline) usage('--baseline-from goes with --skip-baseline');
  if (o.count !== null && !(Number.isInteger(o.count) && o.count > 0)) usage('--count must be a positive integer');
  return o;
}

function usage(msg) {
  const head = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 29)
    .map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
  if (msg) console.error(`mutants: ${msg}\n`);
  console.error(head);
  process.exit(msg ? 2 : 0);
}

// ------------------------------------------------------------------------------ helpers
const log = (...a) => console.log(...a);
const secs = (t0) => (Date.now() - t0) / 1000;
const count = (text, s) => (s.length === 0 ? 0 : text.split(s).length - 1);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw r.error;
  return r;
}

function mustSh(cmd, args, opts = {}) {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) {
    console.error(`mutants: ${cmd} ${args.join(' ')} failed (${r.status})\n${(r.stderr || '').slice(-3000)}`);
    process.exit(1);
  }
  return r;
}

// mulberry32: a small seeded PRNG, so a seed always draws the same mutants.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedValue(s) {
  if (s === 'date') {
    const d = new Date();
    return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
  }
  const n = Number(s);
  if (!Number.isInteger(n)) usage('--seed is an integer or "date"');
  return n;
}

// ------------------------------------------------------------------------------ catalogue
function validate(cat) {
  const names = new Set();
  const problems = [];
  for (const m of cat) {
    for (const k of ['name', 'kernel', 'file', 'search', 'models'])
      if (typeof m[k] !== 'string' || !m[k]) problems.push(`${m.name || '?'}: missing ${k}`);
    if (typeof m.replace !== 'string') problems.push(`${m.name}: missing replace`);
    if (m.search === m.replace) problems.push(`${m.name}: replace equals search`);
    if (names.has(m.name)) problems.push(`${m.name}: duplicate name`);
    names.add(m.name);
  }
  if (problems.length) {
    console.error(`mutants: invalid catalogue ${catalogueFile}:\n  ${problems.join('\n  ')}`);
    process.exit(2);
  }
}

// Every entry's search string must occur exactly once in its file of `tree` (the copy).
function staleEntries(cat, tree) {
  const stale = [];
  for (const m of cat) {
    const f = path.join(tree, m.file);
    if (!fs.existsSync(f)) { stale.push(`${m.name}: ${m.file} does not exist`); continue; }
    const n = count(fs.readFileSync(f, 'utf8'), m.search);
    if (n !== 1) stale.push(`${m.name}: search string occurs ${n} times in ${m.file} (must be exactly once)`);
  }
  return stale;
}

// ------------------------------------------------------------------------------ the copy
function trackedFiles(source, commit) {
  const args = source === 'head'
    ? ['ls-tree', '-r', '-z', '--name-only', commit]
    : ['ls-files', '-z', '--cached', '--others', '--exclude-standard'];
  return mustSh('git', args, { cwd: root }).stdout.split('\0').filter(Boolean);
}

// Brings `tree` to the chosen snapshot. Files whose bytes are unchanged keep their mtime (so the
// build stays incremental); changed ones are rewritten (new mtime); files gone are removed.
function syncTree(source, commit, tree, work) {
  const t0 = Date.now();
  fs.mkdirSync(tree, { recursive: true });
  const files = trackedFiles(source, commit);
  let stage = root;
  if (source === 'head') {
    stage = path.join(work, 'stage');
    fs.rmSync(stage, { recursive: true, force: true });
    fs.mkdirSync(stage, { recursive: true });
    const archive = spawnSync('git', ['archive', '--format=tar', commit], { cwd: root, maxBuffer: 1 << 30 });
    if (archive.status !== 0) { console.error(`mutants: git archive failed\n${archive.stderr}`); process.exit(1); }
    mustSh('tar', ['-x', '-C', stage], { input: archive.stdout });
  }
  const want = new Set(files);
  let written = 0;
  for (const rel of files) {
    const src = path.join(stage, rel);
    let st;
    try { st = fs.lstatSync(src); } catch { continue; }  // deleted in the work tree, or a submodule
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    const dst = path.join(tree, rel);
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(src);
      let cur = null;
      try { cur = fs.readlinkSync(dst); } catch { /* absent */ }
      if (cur !== target) { fs.rmSync(dst, { force: true }); fs.mkdirSync(path.dirname(dst), { recursive: true }); fs.symlinkSync(target, dst); ++written; }
      continue;
    }
    const data = fs.readFileSync(src);
    let cur = null;
    try { cur = fs.readFileSync(dst); } catch { /* absent */ }
    if (!cur || !cur.equals(data)) {
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.writeFileSync(dst, data, { mode: st.mode });
      ++written;
    }
  }
  // remove files of an older snapshot (never the build tree)
  const walk = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && (e.name === 'build-mut' || e.name === 'node_modules')) continue;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (!want.has(r)) { fs.rmSync(path.join(dir, e.name), { force: true }); ++written; }
    }
  };
  walk(tree, '');
  if (source === 'head') fs.rmSync(stage, { recursive: true, force: true });
  log(`copy: ${source === 'head' ? `HEAD (${commit.slice(0, 7)})` : 'work tree'} of ${root} -> ${tree} (${files.length} files, ${written} changed, ${secs(t0).toFixed(1)} s)`);
}

function testNames(tree) {
  return fs.readdirSync(path.join(tree, 'native/tests'))
    .filter((f) => f.endsWith('_test.cc'))
    .map((f) => f.slice(0, -3))
    .filter((n) => !SKIP_TESTS.has(n))
    .sort();
}

// Always (re)configured: a test file added since the last run must become a target.
function configure(tree, build) {
  const t0 = Date.now();
  const r = sh('cmake', ['-S', tree, '-B', build, '-DSPARQ_ADDON=OFF', '-DSPARQ_CUDA=OFF', '-DSPARQ_NATIVE_TESTS=ON',
    '-DSPARQ_SANITIZE=', '-DCMAKE_BUILD_TYPE=Release']);
  if (r.status !== 0) {
    console.error(`mutants: cmake configure failed\n${(r.stdout + r.stderr).slice(-3000)}`);
    process.exit(1);
  }
  log(`configured ${build} in ${secs(t0).toFixed(1)} s`);
}

// Builds the test targets; returns null on success or the first compiler error lines.
function build(buildDir, tests, logFile) {
  const r = sh('cmake', ['--build', buildDir, `-j${JOBS}`, '--target', ...tests]);
  fs.writeFileSync(logFile, (r.stdout || '') + (r.stderr || ''));
  if (r.status === 0) return null;
  const lines = ((r.stdout || '') + (r.stderr || '')).split('\n');
  const errs = lines.filter((l) => /error[: ]/.test(l));
  return (errs.length ? errs : lines.slice(-5)).slice(0, 3).join(' | ').slice(0, 400);
}

// Runs one test binary with a deadline. Resolves {ok, how, detail, seconds}. Stops at the first
// FAIL line (the check's name is enough to say what killed the mutant) to keep mutants cheap.
function runTest(bin, timeoutS, logFile) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const out = fs.openSync(logFile, 'w');
    const [cmd, args] = HAVE_STDBUF ? ['stdbuf', ['-oL', '-eL', bin]] : [bin, []];
    const child = spawn(cmd, args, { cwd: path.dirname(bin), detached: true,
      stdio: ['ignore', 'pipe', 'pipe'] });
    let firstFail = null, lastLine = '', buf = '', done = false, timedOut = false, stoppedEarly = false;
    const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, Math.max(1, timeoutS) * 1000);
    const onData = (d) => {
      fs.writeSync(out, d);
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) lastLine = line;
        if (!firstFail && /^FAIL\b/.test(line)) {
          firstFail = line.replace(/^FAIL:?\s*/, '');
          stoppedEarly = true;
          killGroup();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => fs.writeSync(out, d));
    child.on('close', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fs.closeSync(out);
      const seconds = secs(t0);
      if (firstFail) return resolve({ ok: false, how: 'check', detail: firstFail, seconds, stoppedEarly });
      if (timedOut) return resolve({ ok: false, how: 'timeout', detail: `no end within ${timeoutS.toFixed(0)} s`, seconds });
      if (signal) return resolve({ ok: false, how: 'crash', detail: `${signal}; last line: ${lastLine}`.slice(0, 300), seconds });
      if (code !== 0) return resolve({ ok: false, how: 'exit', detail: `exit ${code}; last line: ${lastLine}`.slice(0, 300), seconds });
      resolve({ ok: true, seconds });
    });
  });
}

// The tests named after the mutant's kernel first (sim_sparse_test for a sparse mutant), each group
// fastest first: the test that kills a kernel's mutant is nearly always its own, and running the
// unrelated ones before it cost ~40 s per w4a16/sparse mutant (a quarter of a full run).
function orderFor(m, order) {
  const own = (t) => t.includes(m.kernel);
  return [...order.filter(own), ...order.filter((t) => !own(t))];
}

// The budget bounds a mutant's tests together, but each test still gets at least twice its
// unmutated time (+10 s): a timeout then means that test itself ran far past its normal length (a
// hang), not that a loaded machine made the tests before it slow. (A CI run with a benchmark on
// the other core once "killed" a mutant in sim_sparse_test with 5 s of budget left.) Where the
// unmutated times were measured in this run (measured), a test still running at 4x its own time
// + 30 s is a hang too: a mutant that hangs the first test then costs that, not the whole budget
// (sim_negative_test, ~3 s: 42 s instead of ~140).
const HANG_FACTOR = 4, HANG_MARGIN_S = 30;
async function runTests(buildDir, tests, budgetS, logDir, baseline, measured) {
  const t0 = Date.now();
  for (const t of tests) {
    const unmutated = baseline[t] || 0;
    const hang = measured ? HANG_FACTOR * unmutated + HANG_MARGIN_S : Infinity;
    const allow = Math.max(Math.min(budgetS - secs(t0), hang), 2 * unmutated + 10);
    const r = await runTest(path.join(buildDir, t), allow, path.join(logDir, `${t}.log`));
    if (!r.ok) {
      const detail = r.how === 'timeout' ? `${r.detail} (unmutated: ${unmutated.toFixed(1)} s)` : r.detail;
      return { killed: true, test: t, how: r.how, detail };
    }
  }
  return { killed: false };
}

// ------------------------------------------------------------------------------ docs
const BEGIN = '<!-- mutants:begin (written by `npm run mutants -- --write-docs`) -->';
const END = '<!-- mutants:end -->';

function mdEscape(s) { return String(s).replace(/\|/g, '\\|').replace(/\n/g, ' '); }

function markdown(results, summary, meta) {
  const lines = [];
  lines.push(`Last full run: ${meta.date}, ${meta.source} at \`${meta.commit}\`, ${meta.host}; ` +
    `${summary.killed} of ${summary.visible} simulator-visible, non-equivalent mutants killed ` +
    `(**${summary.rate}**), ${summary.survived} survived; ${summary.equivalent} marked equivalent, ` +
    `${summary.gpuOnly} GPU-only; ${meta.minutes} min in all.`);
  lines.push('');
  lines.push('| mutant | file | result | killed by | how | s |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    const how = r.how ? `${r.how}: ${r.detail}` : (r.note || '');
    lines.push(`| \`${r.name}\` | ${path.basename(r.file)} | ${r.result} | ${r.test || ''} | ${mdEscape(how).slice(0, 160)} | ${r.seconds !== undefined ? r.seconds.toFixed(0) : ''} |`);
  }
  return lines.join('\n');
}

function writeDocs(md) {
  const f = path.join(root, 'docs/verification.md');
  const text = fs.readFileSync(f, 'utf8');
  const a = text.indexOf(BEGIN), b = text.indexOf(END);
  if (a < 0 || b < a) {
    console.error(`mutants: --write-docs: markers not found in ${f}; add\n${BEGIN}\n${END}\nto its "Mutation testing" section`);
    process.exit(2);
  }
  fs.writeFileSync(f, text.slice(0, a + BEGIN.length) + '\n' + md + '\n' + text.slice(b));
  log(`wrote the table into ${path.relative(root, f)}`);
}

// ------------------------------------------------------------------------------ main
async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const mod = await import(pathToFileURL(catalogueFile).href);
  const cat = mod.default;
  const weakenings = mod.weakenings || [];
  validate(cat);

  if (opt.list) {
    for (const m of cat)
      log(`${m.name.padEnd(44)} ${m.kernel.padEnd(6)} ${m.file}${m.equivalent ? '  [equivalent]' : ''}${m.gpuOnly ? '  [gpu-only]' : ''}\n    ${m.models}`);
    return 0;
  }

  const work = opt.work || path.join(os.tmpdir(), `sparq-mutants-${process.getuid ? process.getuid() : 'u'}`);
  if (path.resolve(work).startsWith(root + path.sep) || path.resolve(work) === root) usage('--work must be outside the repository');
  fs.mkdirSync(work, { recursive: true });
  const lock = path.join(work, 'lock');
  try {
    fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number(fs.readFileSync(lock, 'utf8'));
    let alive = false;
    try { process.kill(pid, 0); alive = true; } catch { /* stale lock */ }
    if (alive) { console.error(`mutants: another run (pid ${pid}) uses ${work}; one at a time`); return 2; }
    fs.writeFileSync(lock, String(process.pid));
  }
  const tree = path.join(work, 'tree');
  const buildDir = path.join(tree, 'build-mut');
  let restore = null;  // put the current mutant's file back on SIGINT/SIGTERM
  const onSignal = (sig) => {
    if (restore) restore();
    fs.rmSync(lock, { force: true });
    console.error(`mutants: ${sig}: reverted the copy, stopping`);
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(opt, cat, weakenings, work, tree, buildDir, (f) => { restore = f; });
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

async function run(opt, cat, weakenings, work, tree, buildDir, setRestore) {
  const tAll = Date.now();
  const commit = mustSh('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: root }).stdout.trim();
  syncTree(opt.source, commit, tree, work);

  const stale = staleEntries(cat, tree);
  if (stale.length) {
    console.error(`\nmutants: STALE CATALOGUE ENTRIES (test/mutants/catalogue.mjs), the code they mutate has changed:\n  ${stale.join('\n  ')}\n` +
      'Update each search/replace to the current code (keep the bug it models), or remove the entry with a reason.');
    return 2;
  }
  if (opt.check) { log(`catalogue ok: ${cat.length} mutants, every search string occurs exactly once`); return 0; }

  // the selection
  let chosen = cat;
  if (opt.only) {
    const want = new Set(opt.only);
    chosen = cat.filter((m) => want.has(m.name) || want.has(m.kernel));
    const unknown = opt.only.filter((w) => !cat.some((m) => m.name === w || m.kernel === w));
    if (unknown.length) usage(`--only: no mutant or kernel named ${unknown.join(', ')}`);
  }
  if (opt.seed !== null || opt.count !== null) {
    const seed = seedValue(opt.seed ?? 'date');
    const pool = chosen.filter((m) => m.run !== false);
    const r = rng(seed);
    for (let i = pool.length - 1; i > 0; --i) {
      const j = Math.floor(r() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    chosen = pool.slice(0, opt.count ?? 5);
    log(`seed ${seed}: ${chosen.length} of ${pool.length} mutants: ${chosen.map((m) => m.name).join(', ')}`);
  }

  // debug weakenings of the tests, in the copy only (the next run's sync restores them)
  for (const w of opt.weaken) {
    const wk = weakenings.find((x) => x.name === w);
    if (!wk) usage(`--weaken: no weakening named ${w} (have: ${weakenings.map((x) => x.name).join(', ')})`);
    const f = path.join(tree, wk.file);
    const text = fs.readFileSync(f, 'utf8');
    if (count(text, wk.search) !== 1) { console.error(`mutants: weakening ${w} is stale (${wk.file})`); return 2; }
    fs.writeFileSync(f, text.replace(wk.search, () => wk.replace));
    log(`WEAKENED (copy only): ${wk.name}: ${wk.what}`);
  }

  // build once, then the unmutated baseline: every test must pass, and its time sets the budget
  const tests = testNames(tree);
  configure(tree, buildDir);
  const logRoot = path.join(work, 'logs');
  fs.rmSync(logRoot, { recursive: true, force: true });
  fs.mkdirSync(path.join(logRoot, '_baseline'), { recursive: true });
  let t0 = Date.now();
  const berr = build(buildDir, tests, path.join(logRoot, '_baseline', 'build.log'));
  if (berr) { console.error(`mutants: the unmutated copy does not build: ${berr}`); return 1; }
  log(`built ${tests.length} tests in ${secs(t0).toFixed(1)} s`);
  const baselineFile = path.join(work, 'baseline.json');
  let baseline = {};
  let measured = !opt.skipBaseline;
  if (opt.skipBaseline && opt.baselineFrom) {
    try { baseline = JSON.parse(fs.readFileSync(opt.baselineFrom, 'utf8')); } catch (e) {
      console.error(`mutants: --baseline-from ${opt.baselineFrom}: ${e.message}`);
      return 1;
    }
    const missing = tests.filter((t) => !(Number(baseline[t]) >= 0));
    if (missing.length) { console.error(`mutants: --baseline-from ${opt.baselineFrom} has no time for ${missing.join(', ')}`); return 1; }
    measured = true;
  } else if (opt.skipBaseline) {
    try { baseline = JSON.parse(fs.readFileSync(baselineFile, 'utf8')); } catch { /* first run here */ }
    for (const t of tests) if (!(t in baseline)) baseline[t] = /w4a16_test|dense_test|scale_test/.test(t) ? 60 : 5;
  } else {
    for (const t of tests) {
      const r = await runTest(path.join(buildDir, t), 600, path.join(logRoot, '_baseline', `${t}.log`));
      if (!r.ok) {
        console.error(`mutants: the UNMUTATED ${t} fails (${r.how}: ${r.detail}); nothing can be measured until it passes (log: ${path.join(logRoot, '_baseline', t + '.log')})`);
        return 1;
      }
      baseline[t] = r.seconds;
    }
    fs.writeFileSync(baselineFile, JSON.stringify(baseline));
  }
  const order = [...tests].sort((a, b) => baseline[a] - baseline[b]);  // fastest first: cheap kills
  const baseTotal = order.reduce((s, t) => s + baseline[t], 0);
  let budget = opt.timeoutS;
  if (opt.skipBaseline) {
    log(`baseline skipped (--skip-baseline${measured ? `; times from ${path.relative(process.cwd(), opt.baselineFrom)}` : ''}); test order ${order.join(', ')}`);
  } else if (budget < 2.5 * baseTotal) {
    budget = Math.ceil(2.5 * baseTotal);
    log(`note: the unmutated tests take ${baseTotal.toFixed(0)} s here; per-mutant budget raised from ${opt.timeoutS} to ${budget} s`);
  }
  log(`${opt.skipBaseline && !measured ? 'order' : 'baseline'}: ${order.map((t) => `${t} ${baseline[t].toFixed(1)}s`).join(', ')}; per-mutant test budget ${budget} s` +
    `${measured ? `; a test past ${HANG_FACTOR}x its time + ${HANG_MARGIN_S} s is a hang` : ''}\n`);

  const results = [];
  for (const [i, m] of chosen.entries()) {
    const tag = `[${i + 1}/${chosen.length}] ${m.name}`;
    const res = { name: m.name, kernel: m.kernel, file: m.file, equivalent: m.equivalent, gpuOnly: m.gpuOnly, knownGap: m.knownGap };
    if (m.run === false) {
      Object.assign(res, { result: 'gpu-only, not run', note: m.gpuOnly });
      results.push(res);
      log(`${tag}: not run (gpu-only: the simulator build never compiles it)`);
      continue;
    }
    const f = path.join(tree, m.file);
    const original = fs.readFileSync(f, 'utf8');
    const tm = Date.now();
    const logDir = path.join(logRoot, m.name);
    fs.mkdirSync(logDir, { recursive: true });
    setRestore(() => fs.writeFileSync(f, original));
    try {
      fs.writeFileSync(f, original.replace(m.search, () => m.replace));
      const err = build(buildDir, tests, path.join(logDir, 'build.log'));
      let out;
      if (err) out = { killed: true, test: 'build', how: 'compile', detail: err };
      else out = await runTests(buildDir, orderFor(m, order), budget, logDir, baseline, measured);
      res.seconds = secs(tm);
      if (out.killed) Object.assign(res, { result: m.equivalent ? 'KILLED (marked equivalent!)' : m.knownGap ? 'killed (gap closed)' : 'killed', test: out.test, how: out.how, detail: out.detail });
      else if (m.equivalent) Object.assign(res, { result: 'equivalent', note: m.equivalent });
      else if (m.knownGap) Object.assign(res, { result: 'SURVIVED (known gap)', note: `${m.models}; would be killed by: ${m.knownGap}` });
      else if (m.gpuOnly) Object.assign(res, { result: 'survived (gpu-only)', note: m.gpuOnly });
      else Object.assign(res, { result: 'SURVIVED', note: m.models });
    } finally {
      fs.writeFileSync(f, original);
      setRestore(null);
    }
    results.push(res);
    log(`${tag}: ${res.result}${res.test ? ` by ${res.test} (${res.how}: ${res.detail})` : ''} [${res.seconds.toFixed(0)} s]`);
  }

  // summary
  const ran = results.filter((r) => r.seconds !== undefined);
  const visible = ran.filter((r) => !r.equivalent && !r.gpuOnly);
  const killed = visible.filter((r) => r.test);
  const survivors = visible.filter((r) => !r.test);
  const summary = {
    visible: visible.length, killed: killed.length, survived: survivors.length,
    equivalent: results.filter((r) => r.equivalent).length, gpuOnly: results.filter((r) => r.gpuOnly).length,
    rate: visible.length ? `${((100 * killed.length) / visible.length).toFixed(0)}%` : 'n/a',
  };
  log('\n' + ['mutant'.padEnd(44), 'result'.padEnd(22), 'killed by'.padEnd(18), 's'.padStart(4), '  how'].join(' '));
  for (const r of results)
    log([r.name.padEnd(44), r.result.padEnd(22), (r.test || '').padEnd(18), (r.seconds !== undefined ? r.seconds.toFixed(0) : '').padStart(4),
      ` ${r.how ? `${r.how}: ${r.detail}` : r.note || ''}`.slice(0, 140)].join(' '));
  log(`\nkill rate: ${summary.killed}/${summary.visible} simulator-visible, non-equivalent mutants killed (${summary.rate}); ` +
    `${summary.survived} survived, ${summary.equivalent} marked equivalent, ${summary.gpuOnly} gpu-only; ${(secs(tAll) / 60).toFixed(1)} min`);
  for (const r of results.filter((x) => x.result.startsWith('KILLED (marked')))
    log(`NOTE: ${r.name} is marked equivalent but was killed (${r.test}: ${r.detail}): its reason is wrong, or a test is flaky`);
  for (const r of results.filter((x) => x.result === 'killed (gap closed)'))
    log(`NOTE: ${r.name} is marked knownGap but was killed (${r.test}): the gap is closed, remove its knownGap`);
  for (const r of survivors)
    log(r.knownGap ? `SURVIVOR (known gap, tracked): ${r.name} (${r.file}): ${r.note}`
      : `SURVIVOR: ${r.name} (${r.file}): ${r.models || r.note} -- a test gap: add a check that fails on it (or mark knownGap with that check)`);

  const meta = {
    date: new Date().toISOString().slice(0, 10), commit, source: opt.source === 'head' ? 'HEAD' : 'work tree',
    host: `${os.cpus().length} cores`, minutes: (secs(tAll) / 60).toFixed(0),
  };
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify({ meta, summary, results }, null, 2));
  if (opt.writeDocs) {
    if (opt.only || opt.seed !== null || opt.count !== null || opt.weaken.length) usage('--write-docs records whole-catalogue runs only');
    writeDocs(markdown(results, summary, meta));
  }
  const untracked = survivors.filter((r) => !r.knownGap);
  if (opt.ci && untracked.length) {
    log(`\nmutants --ci: FAILED: ${untracked.length} survivor(s) not marked equivalent, gpu-only or knownGap: ${untracked.map((r) => r.name).join(', ')}`);
    return 1;
  }
  return 0;
}

main().then((code) => process.exit(code ?? 0), (e) => { console.error(e); process.exit(1); });
