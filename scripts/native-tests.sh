#!/usr/bin/env bash
# scripts/native-tests.sh: build and run the standalone C++ tests (native/tests/*_test.cc) three
# ways — plain, ASan+UBSan, TSan — plus the TSan-only check that the deliberately racy kernels
# ARE reported, and (plain) five simulator tests again on host threads instead of fibers. Exits
# non-zero on any failure. Build trees: build-native, build-asan, build-tsan.
#   SPARQ_JOBS=2 (parallel build jobs), SPARQ_NATIVE_MODES="plain asan tsan" (subset to run)
#   SPARQ_SANITIZER_SHARD="i/n" | all: the share of each test's case grid the ASan and TSan runs
#   take (native/tests/test_shard.h); default d/3 with d = day of the UTC year mod 3, so three
#   consecutive days sanitize every case (TSan's sparse_cpu_test: d/9, nine days). The plain run
#   always takes every case.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${SPARQ_JOBS:-2}"
modes="${SPARQ_NATIVE_MODES:-plain asan tsan}"
status=0
start=$(date +%s)
sanitizer_shard="${SPARQ_SANITIZER_SHARD:-$(( 10#$(date -u +%j) % 3 ))/3}"
[ "$sanitizer_shard" = all ] && sanitizer_shard=""

note() { printf '%s\n' "$*"; }
fail() { note "FAIL: $*"; status=1; }

configure_and_build() {  # dir, extra cmake args...
  local dir="$1"; shift
  local log="$root/$dir/native-tests-build.log" b0
  b0=$(date +%s)
  mkdir -p "$root/$dir"
  if ! cmake -S "$root" -B "$root/$dir" -DSPARQ_ADDON=OFF -DSPARQ_CUDA=OFF -DSPARQ_NATIVE_TESTS=ON "$@" \
      >"$log" 2>&1; then
    tail -20 "$log"; fail "$dir: cmake configure"; return 1
  fi
  if ! cmake --build "$root/$dir" -j"$jobs" >>"$log" 2>&1; then
    grep -E 'error' "$log" | head -20; fail "$dir: build"; return 1
  fi
  note "built $dir in $(( $(date +%s) - b0 )) s, $(( $(date +%s) - start )) s into the native tests (log: $dir/native-tests-build.log)"
}

run_tests() {  # dir, label, [names to leave out, space separated], [the only names to run], [names a later call runs]
  local dir="$1" label="$2" skip=" ${3:-} " only=" ${4:-} " later=" ${5:-} " t t0 ms rc out
  for t in "$root/$dir"/*_test; do
    [ -x "$t" ] || continue
    [ "$only" = "  " ] || [[ "$only" == *" $(basename "$t") "* ]] || continue
    [[ "$later" == *" $(basename "$t") "* ]] && continue
    if [[ "$skip" == *" $(basename "$t") "* ]]; then
      printf '%-7s %-28s skipped (single-threaded: nothing for this sanitizer to see)\n' "$label" "$(basename "$t")"
      continue
    fi
    t0=$(date +%s%N)
    out="$(timeout 300 "$t" 2>"$t.stderr")"; rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '%-7s %-28s rc=%-3s %5.1fs  %s\n' "$label" "$(basename "$t")" "$rc" "$(( ms / 100 ))e-1" "$(printf '%s\n' "$out" | tail -1)"
    [ -n "${SECONDS_JSON:-}" ] && printf '%s"%s": %d.%03d' "$([ -s "$SECONDS_JSON" ] && echo ', ')" "$(basename "$t")" $(( ms / 1000 )) $(( ms % 1000 )) >>"$SECONDS_JSON"
    if [ "$rc" -ne 0 ]; then
      printf '%s\n' "$out" | grep -E '^FAIL' | head -10
      head -30 "$t.stderr"
      fail "$label $(basename "$t")"
    fi
  done
}

expect_tsan_race() {  # scenario
  local t="$root/build-tsan/sim_tsan_race_test" rc
  TSAN_OPTIONS="exitcode=66 halt_on_error=0 ${TSAN_OPTIONS:-}" timeout 300 "$t" "$1" >"$t.$1.out" 2>&1; rc=$?
  if [ "$rc" -eq 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' "$t.$1.out"; then
    note "tsan   sim_tsan_race_test $1: race reported as expected (exit 66)"
  else
    tail -20 "$t.$1.out"; fail "tsan sim_tsan_race_test $1: expected a ThreadSanitizer data race and exit 66, got rc=$rc"
  fi
}

[ -n "$sanitizer_shard" ] && note "sanitizer runs: case shard $sanitizer_shard (SPARQ_SANITIZER_SHARD=all for every case)"
san_flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" "-DCMAKE_C_FLAGS_DEBUG=-O1 -g")
for mode in $modes; do
  case "$mode" in
    plain)
      if configure_and_build build-native -DSPARQ_SANITIZE=; then
        # each test's seconds, for the mutant step's hang limit (scripts/mutants.mjs --baseline-from)
        : >"$root/build-native/test-seconds.part"
        SECONDS_JSON="$root/build-native/test-seconds.part" run_tests build-native plain
        { echo "{"; cat "$root/build-native/test-seconds.part"; echo; echo "}"; } >"$root/build-native/test-seconds.json"
        # The simulator's other thread model (a host thread per simulated thread, SimOptions::fibers
        # off): its failure detection, memory model, fuzzing and one real kernel, as a cross-check.
        SPARQ_SIM_THREADS=1 run_tests build-native threads "" \
          "sim_negative_test sim_runtime_test sim_memory_model_test sim_schedule_test sim_dense_test"
      fi ;;
    asan)
      configure_and_build build-asan -DSPARQ_SANITIZE=address,undefined "${san_flags[@]}" &&
        SPARQ_TEST_SHARD="$sanitizer_shard" ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
        run_tests build-asan asan ;;
    tsan)
      if configure_and_build build-tsan -DSPARQ_SANITIZE=thread "${san_flags[@]}"; then
        # sparse_format_test encodes on one thread (83 s under TSan for no race it could show).
        # sparse_cpu_test's grid is its kernels × shapes × sparsities, each on the same pool and
        # driver: under TSan a third of it was 165 s (2026-12-07), the longest step of CI's native
        # tests, for the pool's and driver's hand-offs that a few cases already show. It takes a
        # ninth there (day of the year mod 9: all of it in nine days); ASan keeps the third.
        SPARQ_TEST_SHARD="$sanitizer_shard" TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}" \
          run_tests build-tsan tsan "sparse_format_test" "" "sparse_cpu_test"
        tsan_sparse_shard="$sanitizer_shard"
        [ -z "${SPARQ_SANITIZER_SHARD:-}" ] && tsan_sparse_shard="$(( 10#$(date -u +%j) % 9 ))/9"
        SPARQ_TEST_SHARD="$tsan_sparse_shard" TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}" \
          run_tests build-tsan tsan "" "sparse_cpu_test"
        expect_tsan_race race:plain-flag
        expect_tsan_race race:missing-syncthreads
      fi ;;
    *) fail "unknown mode '$mode'" ;;
  esac
done
note "native tests: $([ $status -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status
