#!/usr/bin/env node
// sparq's one install script (package.json has "gypfile": false, so npm never runs node-gyp itself):
//   in a checkout (a .git folder): the developers' cmake-js build (CPU addon + sim + CUDA library
//     when nvcc works); if the CUDA part fails, a CPU-only rebuild with one clear warning
//     (in CI, or with SPARQ_STRICT=1, that failure is an error instead);
//   elsewhere: linux-x64 only (else one clear error); a prebuild that loads → done; else build the
//     CPU addon from source with node-gyp.
// SPARQ_SKIP_INSTALL_BUILD=1 skips everything (the loader then says what is missing);
// SPARQ_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) skips the prebuild.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const strict = process.env.CI === 'true' || process.env.SPARQ_STRICT === '1';

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

// null when `file` loads in a child node, else the loader's reason (its first line that names one).
function loadError(file) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  if (r.status === 0) return null;
  const lines = `${r.stderr || ''}`.split('\n').map((l) => l.trim());
  const how = r.error ? `could not run node: ${r.error.message}` : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return lines.find((l) => /^Error:/.test(l)) || lines.find((l) => l !== '') || how;
}

// null when a prebuild for this platform loads, else why none does ('' when there is none).
function prebuildLoadError() {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(dir)) return '';
  let why = '';
  for (const f of fs.readdirSync(dir).filter((name) => name.endsWith('.node'))) {
    const e = loadError(path.join(dir, f));
    if (e === null) return null;
    why = e;
  }
  return why;
}

function cmakeJs() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return null;
  }
}

// `npm install --build-from-source` (all packages) or `--build-from-source=sparq` (a list): skip the
// prebuild, as prebuild-install and node-gyp-build do (npm passes it as npm_config_build_from_source;
// npm 11 warns that it will stop passing unknown flags, so SPARQ_BUILD_FROM_SOURCE=1 says the same).
function buildFromSourceAsked() {
  if (process.env.SPARQ_BUILD_FROM_SOURCE === '1') return true;
  const v = process.env.npm_config_build_from_source;
  if (!v || v === 'false') return false;
  return v === 'true' || v.split(',').map((name) => name.trim()).includes('sparq');
}

function main() {
  if (process.env.SPARQ_SKIP_INSTALL_BUILD === '1') return 0;
  const checkout = fs.existsSync(path.join(root, '.git'));
  const cmake = cmakeJs();
  if (checkout && cmake) {
    // configure (with explicit options, so a stale cache cannot decide) then build
    const build = (cudaMode) =>
      run(process.execPath, [cmake, 'configure', '--out', 'build-cmake', '--log-level', 'warn', '--CDSPARQ_SIM=ON', `--CDSPARQ_CUDA=${cudaMode}`]) &&
      run(process.execPath, [cmake, 'build', '--out', 'build-cmake', '--parallel', '2', '--log-level', 'warn']);
    if (build('AUTO')) return 0;
    if (strict) {
      console.error('sparq: the cmake-js build failed (strict mode: CI=true or SPARQ_STRICT=1)');
      return 1;
    }
    console.warn('sparq: WARNING: the build with CUDA failed; building the CPU addon only (backend "cuda" will be unavailable)');
    return build('OFF') ? 0 : 1;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    // package.json's os/cpu keep npm off such hosts unless forced; say why rather than fail in g++
    console.error(`sparq: ${process.platform}-${process.arch} is not supported: sparq runs on linux x64 only ` +
      '(the prebuild is linux-x64 glibc, and the CPU kernels are x86-64 SIMD code, so a source build fails too)');
    return 1;
  }
  const asked = buildFromSourceAsked();
  const loadFailure = asked ? '' : prebuildLoadError();
  if (!asked && loadFailure === null) {
    // A node-gyp build left by an earlier --build-from-source (build/Release is searched before
    // prebuilds/) would keep shadowing the prebuild, and its CUDA library, after this install.
    // (Only in an installed package: a checkout's build/ is prebuildify's.)
    if (!checkout) fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
    return 0;
  }
  // Say which: asked for, no prebuild in the package at all, or one this host cannot load (and why:
  // the prebuild needs glibc >= 2.34 and GCC 12's libstdc++, so RHEL 9 / Amazon Linux 2023 build here).
  const why = asked
    ? 'a build from source was asked for (--build-from-source or SPARQ_BUILD_FROM_SOURCE=1; the addon built here is loaded before the prebuild; it is CPU only)'
    : loadFailure
      ? `the prebuild in prebuilds/linux-x64 does not load here (${loadFailure}; it needs glibc >= 2.34 and libstdc++ of GCC >= 12, GLIBCXX_3.4.30, and no musl)`
      : 'this package has no prebuild for linux-x64';
  console.warn(`sparq: ${why}; ` +
    'building the CPU addon from source with node-gyp (needs python3, make, g++; a few minutes on 2 cores — npm shows the output with --foreground-scripts)');
  const nodeGyp = process.env.npm_config_node_gyp;
  // make on every core (node-gyp's default is one job), unless the user set JOBS
  const jobs = ['--jobs', process.env.JOBS || 'max'];
  const ok = nodeGyp ? run(process.execPath, [nodeGyp, 'rebuild', ...jobs]) : run('node-gyp', ['rebuild', ...jobs]);
  if (!ok) console.error('sparq: building the native addon with node-gyp failed; see the output above (needs python3, make, g++)');
  return ok ? 0 : 1;
}

process.exit(main());
