#!/usr/bin/env bash
# The bench-only device call: each op's benchmark under its own `timeout`, for a session whose first
# call (bench/deviceCheck) ran the cases but not the full benchmark grids, plus the W4A16 variants a
# GPU has to choose between (W as the mma's A operand or not, one or two CTAs per SM).
# Run on the device machine from the repository root, with device-prep.sh's carry, as:
#   bash scripts/device-bench.sh            (at most 7.5 minutes; give the call timeout_s 460)
# Everything lands in $OUT/device-bench.tar.gz (re-packed after each op, so a killed call keeps what
# finished) and $OUT/summary.txt: the device tool brings back at most 8 files.
set -u
mkdir -p /tmp/nodebin
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.devkit/node.xz'),open('/tmp/nodebin/node','wb'))"
chmod +x /tmp/nodebin/node
res=/tmp/device-bench; rm -rf "$res"; mkdir -p "$res"
export PATH=/tmp/nodebin:$PATH SPARQ_ADDON_PATH=build-device/Release/sparq.node SPARQ_BENCH_RESULTS="$res"
one() { # name limit_s [VAR=value ...] script [args ...]
  local name=$1 limit=$2; shift 2
  local envs=()
  while [[ $# -gt 0 && $1 == *=* ]]; do envs+=("$1"); shift; done
  local script=$1; shift
  echo "starting $name (limit ${limit}s) ${envs[*]}"
  local t0=$SECONDS
  timeout -k 5 "$limit" env "${envs[@]}" node "dist/bench/$script" --backend cuda --budget 0.25 "$@" > "$res/$name.txt" 2>&1
  echo "$name: exit $? in $((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
  tar -czf "$OUT/device-bench.tar.gz" -C "$res" .
}
# The cuda pool's release threshold (docs/api.md "Memory on cuda"): a decode loop with freed memory
# kept (the default since 2026-12-05) against CUDA's own 0, which hands it back at every read().
decode() { # name [VAR=value]
  local name=$1; shift
  echo "starting $name"
  local t0=$SECONDS
  timeout -k 5 20 env "$@" node dist/bench/decodeLoop.js --backend cuda --tokens 300 > "$res/$name.txt" 2>&1
  echo "$name: exit $? in $((SECONDS - t0))s: $(tail -1 "$res/$name.txt")" | tee -a "$OUT/summary.txt"
}
decode decode-pool-kept
decode decode-pool-released SPARQ_CUDA_POOL_RELEASE_BYTES=0
decode decode-pool-kept-again
small_m='1,4,8,16'
# the W4A16 forms first (the device check's w4a16 rows are the default: W_AS_A, one CTA per SM)
one w4a16-plain-form 45 SPARQ_W4A16_W_AS_A=0 w4a16.js --m "$small_m"
one w4a16-2-ctas 45 SPARQ_W4A16_CTAS_PER_SM=2 w4a16.js --m "$small_m"
one w4a16-plain-2-ctas 45 SPARQ_W4A16_W_AS_A=0 SPARQ_W4A16_CTAS_PER_SM=2 w4a16.js --m "$small_m"
# since the encoders went on threads (2026-12-04) a copy encodes ~10x faster: the grid covers issue 9's
# sparsities; configs are written as they finish, so a cut run still keeps 14336x4096 first
one sparse 110 sparse.js --shapes 14336x4096,4096x4096 --sparsity 0.5,0.7,0.8,0.9,0.95 --m 1,8,16,64
one w4a16 100 w4a16.js
one int8 60 int8.js --m 1,16,64
# last (a cut run loses only this): the JS thread's µs per op on cuda, the floor of a decode loop's
# op (bench/opOverhead.ts; ~5 s, no GPU figure yet)
echo "starting op-overhead"
t0=$SECONDS
timeout -k 5 15 node dist/bench/opOverhead.js --backend cuda --ops 2000 --reps 3 > "$res/op-overhead.txt" 2>&1
echo "op-overhead: exit $? in $((SECONDS - t0))s: $(tail -1 "$res/op-overhead.txt")" | tee -a "$OUT/summary.txt"
tar -czf "$OUT/device-bench.tar.gz" -C "$res" .
