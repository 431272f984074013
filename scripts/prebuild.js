#!/usr/bin/env node
// `npm run prebuild`: everything the registry tarball carries in prebuilds/<platform>-<arch>/.
//   1. sparq.node: the CPU-only addon, built by prebuildify (node-gyp, binding.gyp; N-API 9, stripped).
//   2. libsparq_cuda.so beside it (fatbin sm_80/86/89/90a + PTX compute_80, static cudart), so a
//      GPU box with only a driver gets the cuda backend with nothing to compile. Reused from the
//      developers' build (build-cmake/Release) when that is newer than every CUDA source and was
//      built for the shipped architectures; else built here in build-prebuild-cuda/ (target
//      sparq_cuda only; build-cmake/ and build/ are never written by this script — node-gyp owns
//      build/). Without nvcc: the CPU prebuild only, and one line saying the tarball is CPU-only.
// (This script is npm's pre-hook of a `build` script; there is deliberately none: docs/decisions.md.)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const strict = process.env.CI === 'true' || process.env.SPARQ_STRICT === '1';
const outDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const cudaLibName = 'libsparq_cuda.so';
const cudaTree = 'build-prebuild-cuda';
// What the tarball promises (DESIGN.md): real code for these, PTX for compute_80.
const shippedArchs = ['compute_80', 'sm_80', 'sm_86', 'sm_89', 'sm_90a'];
// Everything libsparq_cuda.so is compiled from (native/cuda includes native/include and sim/*.h).
const cudaSources = ['native/cuda', 'native/include', 'native/sim', 'CMakeLists.txt'];
const sourceExt = /(\.(cu|cuh|cc|h)|CMakeLists\.txt)$/;

function say(msg) {
  console.log(`sparq prebuild: ${msg}`);
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  return r.status === 0;
}

function newestSource() {
  let newest = 0;
  const walk = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
    else if (sourceExt.test(p)) newest = Math.max(newest, st.mtimeMs);
  };
  for (const s of cudaSources) if (fs.existsSync(path.join(root, s))) walk(path.join(root, s));
  return newest;
}

/** The CUDA targets a build tree compiles for, read from its generated build files (ninja or make). */
function treeArchs(tree) {
  const files = [path.join(tree, 'build.ninja'), path.join(tree, 'native/cuda/CMakeFiles/sparq_cuda.dir/flags.make')];
  const archs = new Set();
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/,code=\[?([a-z0-9_,]+)\]?/g))
      for (const a of m[1].split(',')) archs.add(a);
  }
  return [...archs].sort();
}

function shipsAllArchs(tree) {
  const have = treeArchs(tree);
  return shippedArchs.every((a) => have.includes(a)) && have.length === shippedArchs.length;
}

function nvccWorks() {
  const nvcc = process.env.CUDACXX || 'nvcc';
  return spawnSync(nvcc, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** build-cmake's library when it is up to date and built for the shipped architectures, else null. */
function reusable() {
  const tree = path.join(root, 'build-cmake');
  const lib = path.join(tree, 'Release', cudaLibName);
  if (!fs.existsSync(lib)) return null;
  if (fs.statSync(lib).mtimeMs <= newestSource()) {
    say(`build-cmake/Release/${cudaLibName} is older than the CUDA sources; building ${cudaTree}/`);
    return null;
  }
  if (!shipsAllArchs(tree)) {
    say(`build-cmake was configured for [${treeArchs(tree).join(' ')}], not [${shippedArchs.join(' ')}]; building ${cudaTree}/`);
    return null;
  }
  return lib;
}

function buildOwn() {
  const tree = path.join(root, cudaTree);
  const env = { ...process.env };
  delete env.CUDAARCHS;  // the tarball's architectures are CMakeLists.txt's default, whatever this shell says
  const ok =
    run('cmake', ['-S', '.', '-B', cudaTree, '-DCMAKE_BUILD_TYPE=Release', '-DSPARQ_ADDON=OFF', '-DSPARQ_SIM=OFF',
      '-DSPARQ_CUDA=ON', '-UCMAKE_CUDA_ARCHITECTURES', '--log-level=WARNING'], env) &&
    run('cmake', ['--build', cudaTree, '--target', 'sparq_cuda', '--parallel', '2'], env);
  if (!ok) return null;
  if (!shipsAllArchs(tree)) {
    say(`${cudaTree} compiled for [${treeArchs(tree).join(' ')}], expected [${shippedArchs.join(' ')}]`);
    return null;
  }
  const found = spawnSync('find', [tree, '-name', cudaLibName, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  return found || null;
}

/** Only libc/libstdc++ and the loader: cudart must be static and libcuda never linked. */
function checkNeeded(lib) {
  const r = spawnSync('readelf', ['-d', lib], { encoding: 'utf8' });
  if (r.status !== 0) return true;  // no binutils: nothing to check with
  const needed = [...r.stdout.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
  const bad = needed.filter((n) => /cuda|cublas/.test(n));
  if (bad.length) say(`${lib} links ${bad.join(', ')}; it must carry cudart statically and dlopen the rest`);
  return bad.length === 0;
}

/** One line; the CPU prebuild stands. A failed CUDA build with nvcc present fails in strict mode (CI). */
function cpuOnly(why, failInStrict = false) {
  say(`${why}: the tarball will be CPU-only (no ${cudaLibName}; users get the cpu backend, never cuda)`);
  return failInStrict && strict ? 1 : 0;
}

function main() {
  fs.rmSync(path.join(outDir, cudaLibName), { force: true });  // never ship a stale library
  const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
  // node-gyp runs make one job at a time unless JOBS says otherwise: every core (CI: half the time)
  const gypEnv = { ...process.env, JOBS: process.env.JOBS || 'max' };
  if (!run(process.execPath, [prebuildify, '--napi', '--strip', '--name', 'sparq'], gypEnv)) return 1;
  if (!fs.existsSync(path.join(outDir, 'sparq.node'))) {
    say(`prebuildify did not write ${path.relative(root, outDir)}/sparq.node`);
    return 1;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') return cpuOnly(`no CUDA library for ${process.platform}-${process.arch}`);
  if (!nvccWorks()) return cpuOnly('nvcc not found (put it on PATH or set CUDACXX)');
  const lib = reusable() ?? buildOwn();
  if (!lib) return cpuOnly(`building ${cudaLibName} failed (see above)`, true);
  if (!checkNeeded(lib)) return 1;
  const dest = path.join(outDir, cudaLibName);
  fs.copyFileSync(lib, dest);
  spawnSync('strip', ['--strip-unneeded', dest], { stdio: 'inherit' });  // host symbols only; the fatbin stays
  say(`${path.relative(root, outDir)}/: sparq.node (cpu) + ${cudaLibName} (${shippedArchs.join(' ')}) from ${path.relative(root, lib)}`);
  return 0;
}

process.exit(main());
