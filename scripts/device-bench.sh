#!/usr/bin/env bash
# The bench-only device call: each op's benchmark under its own `timeout`, tables and files into
# $OUT, for a session whose first call (bench/deviceCheck) ran the cases but ran out of bench time.
# Run on the device machine from the repository root, after device-prep.sh's carry, as:
#   bash scripts/device-bench.sh   (node unpacked to /tmp/nodebin as device-prep.sh prints)
set -u
mkdir -p /tmp/nodebin
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.devkit/node.xz'),open('/tmp/nodebin/node','wb'))"
chmod +x /tmp/nodebin/node
# The device tool brings back at most 8 files: results go to a folder packed into one archive at the end.
res=/tmp/device-bench; rm -rf "$res"; mkdir -p "$res"
export PATH=/tmp/nodebin:$PATH SPARQ_ADDON_PATH=build-device/Release/sparq.node SPARQ_BENCH_RESULTS="$res"
one() { # name limit_s script args...
  local name=$1 limit=$2; shift 2
  echo "starting $name (limit ${limit}s)"
  local t0=$SECONDS
  timeout -k 5 "$limit" node "dist/bench/$@" --backend cuda --budget 0.25 > "$res/$name.txt" 2>&1
  echo "$name: exit $? in $((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
  tar -czf "$OUT/device-bench.tar.gz" -C "$res" .   # after each op: a kill of the call keeps the rest
}
one w4a16 100 w4a16.js
one sparse 110 sparse.js --shapes 4096x4096,14336x4096 --sparsity 0.5,0.8,0.95 --m 1,8,16,64
one int8 100 int8.js
one allreduce 60 allreduce.js --ranks 2,8 --hidden 4096
