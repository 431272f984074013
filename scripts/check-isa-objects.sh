#!/usr/bin/env bash
# STYLE.md §11: an ISA file (native/cpu/*_avx2.cc, *_avx512.cc, *_amx.cc) must define no weak or unique
# symbol. Such a symbol is an inline/template function (std::vector<float>::_M_fill_assign, …)
# compiled under that file's #pragma GCC target; the linker keeps whichever copy it sees first, and
# if that is the AVX-512 one an AVX2-only machine dies with SIGILL in code that is not a kernel.
#
# Usage: scripts/check-isa-objects.sh [build-tree ...]   (default: build-cmake build)
# Checks every *_avx2*.o / *_avx512*.o / *_amx*.o under the given trees with nm; nm types W/V (weak
# definitions) and u (GNU unique) fail. Fails too when none of the trees holds an ISA object.
set -euo pipefail
cd "$(dirname "$0")/.."
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=(build-cmake build)

objects=()
for t in "${trees[@]}"; do
  [ -d "$t" ] || continue
  while IFS= read -r -d '' o; do objects+=("$o"); done \
    < <(find "$t" -type f \( -name '*_avx2*.o' -o -name '*_avx512*.o' -o -name '*_amx*.o' \) -print0 | sort -z)
done
if [ ${#objects[@]} -eq 0 ]; then
  echo "check-isa-objects: no ISA objects (*_avx2*.o, *_avx512*.o, *_amx*.o) under: ${trees[*]}" >&2
  exit 1
fi

bad=0
for o in "${objects[@]}"; do
  # nm prints "addr type name" for definitions; W/V/u are weak or unique definitions
  weak=$(nm -C "$o" | awk 'NF >= 3 && $2 ~ /^[WVu]$/ { $1 = ""; print " " $0 }')
  if [ -n "$weak" ]; then
    n=$(printf '%s\n' "$weak" | wc -l)
    bad=$((bad + n))
    echo "$o: $n weak/unique symbol(s) compiled under its ISA target:"
    printf '%s\n' "$weak"
  fi
done
if [ "$bad" -ne 0 ]; then
  echo "check-isa-objects: FAIL: $bad weak/unique symbol(s) in ${#objects[@]} ISA objects." \
       "Put '#pragma GCC target' after every #include and define no inline/template code shared" \
       "with other files (STYLE.md §11)." >&2
  exit 1
fi
echo "check-isa-objects: ok (${#objects[@]} ISA objects, no weak or unique symbols)"
