#!/usr/bin/env bash
# Proves the published tarball works where install scripts do not run (pnpm 10, Bun, --ignore-scripts):
# `npm run prebuild` (CPU addon by prebuildify + libsparq_cuda.so beside it), npm pack, the tarball
# carries both, install it into an empty folder with --ignore-scripts, load the prebuild, run a
# matmul, and check that open() with backend 'auto' falls back to cpu because this machine has no
# NVIDIA driver — not because the CUDA library is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run prebuild --silent
tgz=$(npm pack --silent | tail -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mv "$tgz" "$tmp/"

echo "pack-check: $tgz, prebuilds:"
tar tvzf "$tmp/$tgz" | awk '$NF ~ /^package\/prebuilds\// { print "  " $3, $NF }'
listing=$(tar tzf "$tmp/$tgz")
for f in prebuilds/linux-x64/sparq.node prebuilds/linux-x64/libsparq_cuda.so; do
  grep -qx "package/$f" <<<"$listing" || { echo "pack-check: the tarball lacks $f" >&2; exit 1; }
done

cd "$tmp"
npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund "./$tgz" >/dev/null
lib=node_modules/sparq/prebuilds/linux-x64/libsparq_cuda.so
if ldd "$lib" | grep 'not found'; then echo "pack-check: $lib has unresolved dependencies" >&2; exit 1; fi
env -u SPARQ_ADDON_PATH -u SPARQ_BACKEND node -e '
const sq = require("sparq");
const path = require("path");
const fail = (msg) => { throw new Error(msg); };
(async () => {
  const loaded = sq.addonPath();
  console.log("pack-check: loaded", path.relative(process.cwd(), loaded));
  if (!loaded.includes(path.join("node_modules", "sparq", "prebuilds", "linux-x64"))) fail("not the prebuild: " + loaded);

  const ctx = await sq.open({ backend: "cpu" });
  const w = ctx.tensor(sq.toF16([1, 2, 3, 4]), [2, 2], "f16");
  const x = ctx.tensor(sq.toF16([1, 1]), [1, 2], "f16");
  const y = JSON.stringify(Array.from(sq.fromF16(await ctx.dense.matmul(w, x).read())));
  console.log("pack-check: cpu matmul", y);
  if (y !== "[3,7]") fail("wrong result " + y);

  // No driver on this machine: auto must fall back to cpu for that reason, the library being there.
  const auto = await sq.open({ backend: "auto" });
  console.log(`pack-check: auto -> ${auto.backend}: ${auto.fallbackReason}`);
  if (auto.backend !== "cpu") fail("auto chose " + auto.backend + " on a machine without a GPU");
  const why = String(auto.fallbackReason);
  if (!/NVIDIA driver/.test(why)) fail("fallbackReason does not name the missing NVIDIA driver: " + why);
  if (/libsparq_cuda|no CUDA library/.test(why)) fail("fallbackReason says the CUDA library is missing: " + why);
})().catch((e) => { console.error(e); process.exit(1); });'
# The device check ships in the package (a GPU box needs only node and the package): every module
# its suites load must be in the tarball — a missing test/int8Reference made every suite die at
# require while the summary said "0 failed" (2026-12-05).
env -u SPARQ_ADDON_PATH node -e 'require("sparq/dist/bench/harness/deviceSuites"); console.log("pack-check: the device check'"'"'s suites load")'
env -u SPARQ_ADDON_PATH node node_modules/sparq/dist/bench/deviceCheck.js --help >/dev/null
# Source maps point at .ts files the package does not carry: each map must hold its sources
# (tsconfig inlineSources), or debuggers and bundlers' source-map loaders find nothing to show.
node -e '
const fs = require("fs"), path = require("path");
const maps = [];
(function walk(d) { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (p.endsWith(".js.map")) maps.push(p); } })("node_modules/sparq/dist");
const bad = maps.filter((m) => { const j = JSON.parse(fs.readFileSync(m, "utf8")); return !Array.isArray(j.sourcesContent) || j.sourcesContent.length !== j.sources.length || j.sourcesContent.some((s) => typeof s !== "string"); });
if (maps.length === 0 || bad.length) { console.error("pack-check: source maps without their sources:", maps.length === 0 ? "(no maps)" : bad.slice(0, 5).join(", ")); process.exit(1); }
console.log(`pack-check: ${maps.length} source maps carry their sources`);'
echo "pack-check: ok ($tgz)"
