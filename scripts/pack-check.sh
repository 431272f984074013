#!/usr/bin/env bash
# Proves the published tarball works where install scripts do not run (pnpm 10, Bun, --ignore-scripts):
# build the CPU prebuild with prebuildify (node-gyp, offline), put libsparq_cuda.so beside it, pack,
# install the tarball into an empty folder with --ignore-scripts, require it and run a matmul.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run prebuild --silent
dir="prebuilds/$(node -p 'process.platform + "-" + process.arch')"
ls "$dir"/*.node >/dev/null
if [ -f build-cmake/Release/libsparq_cuda.so ]; then cp build-cmake/Release/libsparq_cuda.so "$dir/"; fi
tgz=$(npm pack --silent | tail -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mv "$tgz" "$tmp/"
cd "$tmp"
npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund "./$tgz" >/dev/null
node -e '
const sq = require("sparq");
const path = require("path");
(async () => {
  const ctx = await sq.open({ backend: "cpu" });
  const w = ctx.tensor(sq.toF16([1, 2, 3, 4]), [2, 2], "f16");
  const x = ctx.tensor(sq.toF16([1, 1]), [1, 2], "f16");
  const y = Array.from(sq.fromF16(await ctx.dense.matmul(w, x).read()));
  const loaded = sq.addonPath();
  console.log("loaded", path.relative(process.cwd(), loaded), "y =", JSON.stringify(y));
  if (!loaded.includes(path.join("node_modules", "sparq", "prebuilds"))) throw new Error("not the prebuild: " + loaded);
  if (JSON.stringify(y) !== "[3,7]") throw new Error("wrong result");
})().catch((e) => { console.error(e); process.exit(1); });'
echo "pack-check: ok ($tgz)"
