#!/usr/bin/env bash
# A short second device call after a failed device check: finds where a kernel faults without
# spending a whole check. Run on the GPU machine (after the node unpack of device-prep.sh's
# command), from the repository root, with $OUT set. Each step has its own timeout and writes
# its own file under $OUT, so a hang or a sticky CUDA error costs only that step.
#   bash scripts/device-diag.sh [suite ...]     (default: cases-w4a16 cases-sparse)
# Steps: the toolkit's tools; `compute-sanitizer --tool memcheck` on each suite (full log: the
# faulting kernel, its PC and the SASS line); cuobjdump's SASS of libsparq_cuda.so; each suite plain
# with CUDA_LAUNCH_BLOCKING=1; cases-dense both ways (cuBLAS, and SPARQ_DENSE_KERNEL=sparq); all of
# it packed into device-diag.tar.gz (the tool returns at most 8 files). The device check itself now
# reruns a faulted suite under memcheck in the same call: use this only for what it does not do.
set -uo pipefail
: "${OUT:?set OUT to the folder that comes back}"
addon="${SPARQ_ADDON_PATH:-build-device/Release/sparq.node}"
lib="$(dirname "$addon")/libsparq_cuda.so"
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(cases-w4a16 cases-sparse)
export SPARQ_ADDON_PATH="$addon"
cs_dirs=/usr/local/cuda/bin:/usr/local/cuda/compute-sanitizer:/opt/nvidia/compute-sanitizer
export PATH="$PATH:$cs_dirs"

{ for t in compute-sanitizer cuobjdump nvdisasm nvidia-smi; do echo "$t: $(command -v $t || echo absent)"; done; } > "$OUT/tools.txt" 2>&1
cat "$OUT/tools.txt"

one_suite() {  # name, extra env..., runs one suite in its own node process
  local name=$1 suite=$2; shift 2
  mkdir -p "$OUT/$name"
  echo "== $name"
  env "$@" timeout 60 node dist/bench/deviceCheck.js --suite "$suite" --suite-ms 55000 --backend cuda --out "$OUT/$name" \
    > "$OUT/$name/stdout.txt" 2> "$OUT/$name/stderr.txt"
  echo "exit $?"; tail -3 "$OUT/$name/stderr.txt"
}

for s in "${suites[@]}"; do
  if command -v compute-sanitizer > /dev/null; then
    mkdir -p "$OUT/memcheck-$s"
    echo "== memcheck $s"
    timeout 90 compute-sanitizer --tool memcheck --print-limit 20 --show-backtrace device --log-file "$OUT/memcheck-$s/sanitizer.txt" \
      node dist/bench/deviceCheck.js --suite "$s" --suite-ms 80000 --backend cuda --out "$OUT/memcheck-$s" > /dev/null 2>&1
    echo "exit $?"; grep -v "Host Frame" "$OUT/memcheck-$s/sanitizer.txt" | head -30
  fi
  one_suite "blocking-$s" "$s" CUDA_LAUNCH_BLOCKING=1
done
one_suite dense-cublas cases-dense SPARQ_DENSE_KERNEL=cublas
one_suite dense-sparq cases-dense SPARQ_DENSE_KERNEL=sparq

if command -v cuobjdump > /dev/null; then
  timeout 60 cuobjdump -sass "$lib" > "$OUT/libsparq_cuda.sass" 2>&1
  echo "sass: $(wc -l < "$OUT/libsparq_cuda.sass") lines"
  xz -9 "$OUT/libsparq_cuda.sass" 2>/dev/null || gzip -9 "$OUT/libsparq_cuda.sass"
fi

# The device tool brings back at most 8 files: everything but tools.txt goes into one tarball.
cd "$OUT" && extras=$(ls -A | grep -v -x -e tools.txt -e device-diag.tar.gz) && [ -n "$extras" ] &&
  tar -czf device-diag.tar.gz $extras && rm -rf $extras && echo "packed into device-diag.tar.gz: $(echo $extras | tr '\n' ' ')"
