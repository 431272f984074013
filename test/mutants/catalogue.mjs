// test/mutants/catalogue.mjs: the mutants `npm run mutants` (scripts/mutants.mjs) applies, one at a
// time, to a temporary copy of the tree, to measure whether the GPU-less checks (the simulator
// tests in native/tests) catch the bugs a CUDA engineer makes. Each entry:
//   name         unique, kebab-case
//   kernel       dense | w4a16 | sim | ptx (the asm bodies)
//   file         path from the repository root
//   search       exact text; must occur EXACTLY ONCE in `file` (the runner fails loudly otherwise, so
//                a mutant made stale by a code change is noticed and updated, never silently skipped)
//   replace      what it becomes
//   models       the bug it stands for
//   equivalent   (optional) why no test can tell it from the original: same behaviour for all inputs
//   knownGap     (optional) a survivor that is a KNOWN test gap, with the test that would kill it:
//                reported as a survivor (in the kill rate and the table) but does not fail --ci;
//                remove it when the runner reports the mutant killed
//   gpuOnly      (optional) why only a GPU can show it (the g++/simulator build never compiles the
//                changed code, or the simulator models it more strongly than hardware); not run
//                when `run: false`, never a CI failure, not in the simulator-visible kill rate
// A survivor that is neither is a test gap: add the test that kills it (docs/verification.md,
// "Mutation testing"), never an `equivalent` without a real reason.
export default [
  // ---------------------------------------------------------------- dense (dense.cuh, dense_plan.cuh, layouts.cuh)
  {
    name: 'dense-main-loop-barrier-removed',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: '    syncthreads();                           // everyone\'s have; slot of tile kt-1 is free\n',
    replace: '',
    models: 'the barrier after wait_group dropped: other threads\' copies of tile kt are not yet visible, and the slot of tile kt-1 is refilled while warps still read it',
  },
  {
    name: 'dense-wait-group-stages-minus-1',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'cp_async_wait_group<Cfg::STAGES - 2>();',
    replace: 'cp_async_wait_group<Cfg::STAGES - 1>();',
    models: 'wait_group off by one: tile kt may still be in flight when it is consumed',
  },
  {
    name: 'dense-barrier-after-ring-refill',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search:
      '    syncthreads();                           // everyone\'s have; slot of tile kt-1 is free\n' +
      '    const int next = kt + Cfg::STAGES - 1;\n' +
      '    if (next < k_tiles) {\n' +
      '      const int slot = next % Cfg::STAGES;\n' +
      '      load_stage<Cfg>(s_x + slot * Cfg::X_STAGE_HALVES, s_w + slot * Cfg::W_STAGE_HALVES, p, m0, n0,\n' +
      '                      k_base + next * Cfg::TILE_K, tid);\n' +
      '    }\n' +
      '    cp_async_commit_group();\n',
    replace:
      '    const int next = kt + Cfg::STAGES - 1;\n' +
      '    if (next < k_tiles) {\n' +
      '      const int slot = next % Cfg::STAGES;\n' +
      '      load_stage<Cfg>(s_x + slot * Cfg::X_STAGE_HALVES, s_w + slot * Cfg::W_STAGE_HALVES, p, m0, n0,\n' +
      '                      k_base + next * Cfg::TILE_K, tid);\n' +
      '    }\n' +
      '    cp_async_commit_group();\n' +
      '    syncthreads();\n',
    models: 'write-after-read on the ring: the slot of tile kt-1 is refilled before every warp is past it',
  },
  {
    name: 'dense-bias-epilogue-bias-by-row',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense_bias_epilogue.cuh',
    search: 'g_load(bias + e % n)',
    replace: 'g_load(bias + (e / n) % n)',
    models: 'the cuBLAS bias epilogue indexes the bias by row instead of by column',
  },
  {
    name: 'dense-bias-epilogue-rounds-twice',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense_bias_epilogue.cuh',
    search: 'cvt_rn_f16_f32(g_load(acc + e) + cvt_f32_f16(g_load(bias + e % n)))',
    replace: 'cvt_rn_f16_f32(cvt_f32_f16(cvt_rn_f16_f32(g_load(acc + e))) + cvt_f32_f16(g_load(bias + e % n)))',
    models: 'the accumulator rounded to fp16 before the bias is added: the double rounding cuBLAS\'s beta = 1 path showed on the H200',
  },
  {
    name: 'dense-m-tail-off-by-one',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'if (row >= p.m || col >= p.n) continue;',
    replace: 'if (row > p.m || col >= p.n) continue;',
    models: 'epilogue m-tail predicate off by one: row m is stored (out of bounds on the last tile)',
  },
  {
    name: 'dense-n-tail-pair-store',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: '          if (col + 1 < p.n) g_store(g_out + 1, cvt_rn_f16_f32(v1));',
    replace: '          g_store(g_out + 1, cvt_rn_f16_f32(v1));',
    models: 'odd-n tail: the second half of the last pair is stored past column n-1',
  },
  {
    name: 'dense-pair-store-tail-guard',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'if (pair_stores && col + 1 < p.n) {',
    replace: 'if (pair_stores) {',
    models: 'the u32 pair store without its column guard',
    equivalent: 'pair_stores requires n even, and col = n0 + 2*tig + 8*j is even, so col < n implies col + 1 < n',
  },
  {
    name: 'dense-k-tail-zero-fill-removed',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: '    for (int j = 0; j < 8; ++j) s_chunk[j] = j < valid_elems ? g_load(g_src + j) : uint16_t(0);',
    replace: '    for (int j = 0; j < 8; ++j) if (j < valid_elems) s_chunk[j] = g_load(g_src + j);',
    models: 'k-tail (and m/n-tail) elements of the synchronous 2-byte path not zero-filled: stale smem enters the sums',
  },
  {
    name: 'dense-k-tail-clamp-removed',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'const int valid_elems = g_row ? (k - k0 < 0 ? 0 : (k - k0 > 8 ? 8 : k - k0)) : 0;',
    replace: 'const int valid_elems = g_row ? (k - k0 > 8 ? 8 : k - k0) : 0;',
    models: 'a chunk wholly past k gets a negative byte count instead of 0 (no zero-fill)',
  },
  {
    name: 'dense-bias-pair-same-column',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'const float v1 = acc[mt][nt].x[2 * half + 1] + s_bias[tile_col + 1];',
    replace: 'const float v1 = acc[mt][nt].x[2 * half + 1] + s_bias[tile_col];',
    models: 'the odd column of a C pair gets its even neighbour\'s bias',
  },
  {
    name: 'dense-bias-tile-offset-missing',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'cvt_f32_f16(g_load(p.bias + n0 + i))',
    replace: 'cvt_f32_f16(g_load(p.bias + i))',
    models: 'every n tile stages the first tile\'s bias (n0 forgotten)',
  },
  {
    name: 'dense-frag-b-registers-swapped',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'frag_b[2 * np] = FragB_F16{{r[0], r[1]}};',
    replace: 'frag_b[2 * np] = FragB_F16{{r[1], r[0]}};',
    models: 'b0b1/b2b3 of the even n8 tile swapped after the x4 ldmatrix (k 0-7 and 8-15 exchanged)',
  },
  {
    name: 'dense-choose-alignment-8',
    kernel: 'dense',
    file: 'native/cuda/kernels/dense.cuh',
    search: 'if (k % 8 == 0 && align % 16 == 0) c.k_chunk_elems = 8;',
    replace: 'if (k % 8 == 0 && align % 8 == 0) c.k_chunk_elems = 8;',
    models: 'the 16-byte cp.async path chosen for 8-byte aligned X/W',
  },
  {
    name: 'dense-plan-grid-n-floor',
    kernel: 'dense',
    file: 'native/cuda/dense_plan.cuh',
    search: 'plan.n_tiles = (a.n + Cfg::TILE_N - 1) / Cfg::TILE_N;',
    replace: 'plan.n_tiles = a.n / Cfg::TILE_N;',
    models: 'grid.x rounded down: the n tail tile is never launched',
  },
  {
    name: 'layouts-swizzle-xor-row-unscaled',
    kernel: 'dense',
    file: 'native/cuda/layouts.cuh',
    search: 'return chunk ^ ((row / (8 / CHUNKS_PER_ROW)) % CHUNKS_PER_ROW);',
    replace: 'return chunk ^ (row % CHUNKS_PER_ROW);',
    models: 'swizzle XOR without the rows-per-128-B term: still a bijection (numbers right) but ldmatrix and cp.async hit bank conflicts for 32/64-B rows',
  },
  {
    name: 'layouts-a-rows-use-b-map',
    kernel: 'dense',
    file: 'native/cuda/layouts.cuh',
    search: 'SPARQ_LAYOUT_FN RowCol ldmatrix_x4_a_rows(int lane) { return RowCol{lane & 15, (lane >> 4) * 8}; }',
    replace: 'SPARQ_LAYOUT_FN RowCol ldmatrix_x4_a_rows(int lane) { return RowCol{(lane & 7) + 8 * (lane >> 4), ((lane >> 3) & 1) * 8}; }',
    models: 'A loaded with the n-major B row map: registers a2a3 and a4a5 exchanged',
  },

  // ---------------------------------------------------------------- w4a16 (w4a16.cuh, w4a16_layout.cuh, w4a16_plan.cuh)
  {
    name: 'w4a16-last-of-column-off-by-one',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'return c.t + 1 == t_end || c.k_tile + 1 == k_tiles;',
    replace: 'return c.t + 1 == t_end || c.k_tile + 2 == k_tiles;',
    models: 'a column is reduced one tile early (and again at its real end)',
  },
  {
    name: 'w4a16-wait-group-stages-minus-1',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '      cp_async_wait_group<Cfg::kGroups - 2>();',
    replace: '      cp_async_wait_group<Cfg::kGroups - 1>();',
    models: 'wait_group off by one: the stage of tile i may still be in flight when it is consumed',
  },
  {
    name: 'w4a16-main-loop-barrier-removed',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '      cp_async_wait_group<Cfg::kGroups - 2>();\n      syncthreads();\n',
    replace: '      cp_async_wait_group<Cfg::kGroups - 2>();\n',
    models: 'no barrier between the wait and the use of a stage / the refill of the previous stage\'s slots',
  },
  {
    name: 'w4a16-barrier-after-ring-refill',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search:
      '      cp_async_wait_group<Cfg::kGroups - 2>();\n' +
      '      syncthreads();\n' +
      '      for (int h = 0; h < kPer; ++h) {\n' +
      '        if (load.t < t_end) {\n' +
      '          LoadTile<M_BLOCKS>(p, load, NeedsScales(load, t_begin), s_b + slot_next * kTileBytes,\n' +
      '                             s_a + slot_next * Cfg::kAStageBytes, s_s + slot_next * kScaleStageBytes, tid);\n' +
      '          Advance(load, k_tiles, tiles_per_group);\n' +
      '        }\n' +
      '        slot_next = slot_next + 1 == STAGES ? 0 : slot_next + 1;\n' +
      '      }\n' +
      '      cp_async_commit_group();\n',
    replace:
      '      cp_async_wait_group<Cfg::kGroups - 2>();\n' +
      '      for (int h = 0; h < kPer; ++h) {\n' +
      '        if (load.t < t_end) {\n' +
      '          LoadTile<M_BLOCKS>(p, load, NeedsScales(load, t_begin), s_b + slot_next * kTileBytes,\n' +
      '                             s_a + slot_next * Cfg::kAStageBytes, s_s + slot_next * kScaleStageBytes, tid);\n' +
      '          Advance(load, k_tiles, tiles_per_group);\n' +
      '        }\n' +
      '        slot_next = slot_next + 1 == STAGES ? 0 : slot_next + 1;\n' +
      '      }\n' +
      '      cp_async_commit_group();\n' +
      '      syncthreads();\n',
    models: 'write-after-read on the ring: the previous stage\'s slots are refilled before every warp is past them (the barrier moved after the refill)',
  },
  {
    name: 'w4a16-stage-refill-slot-skew',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '  int slot = 0, slot_next = STAGES - kPer;',
    replace: '  int slot = 0, slot_next = STAGES - 1;',
    models: 'with two tiles per stage, the refill starts one slot late and overwrites the tile being computed (the 8-slot ring; at 4 slots it is the same code)',
  },
  {
    name: 'w4a16-dequant-halves-swapped',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '  b_even.x[0] = mul_rn_f16x2(sub_rn_f16x2(lop3_b32<kAndOr>(q, kLoMask, kMagic), k1032), s_even);\n' +
      '  b_even.x[1] = mul_rn_f16x2(fma_rn_f16x2(lop3_b32<kAndOr>(q, kHiMask, kMagic), kSixteenth, kMinus72), s_even);\n',
    replace: '  b_even.x[1] = mul_rn_f16x2(sub_rn_f16x2(lop3_b32<kAndOr>(q, kLoMask, kMagic), k1032), s_even);\n' +
      '  b_even.x[0] = mul_rn_f16x2(fma_rn_f16x2(lop3_b32<kAndOr>(q, kHiMask, kMagic), kSixteenth, kMinus72), s_even);\n',
    models: 'the even tile\'s B registers (k 2t.. and k 2t+8..) exchanged after the dequant',
  },
  {
    name: 'w4a16-scale-pair-swapped',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'const uint32_t s_even = prmt_b32(s_pair, 0u, 0x1010u), s_odd = prmt_b32(s_pair, 0u, 0x3232u);',
    replace: 'const uint32_t s_even = prmt_b32(s_pair, 0u, 0x3232u), s_odd = prmt_b32(s_pair, 0u, 0x1010u);',
    models: 'prmt selectors exchanged: each n8 tile of a pair scaled by its neighbour\'s scale',
  },
  {
    name: 'w4a16-scale-broadcast-selector',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 's_odd = prmt_b32(s_pair, 0u, 0x3232u);',
    replace: 's_odd = prmt_b32(s_pair, 0u, 0x3210u);',
    models: 'prmt selector not broadcasting: the odd tile\'s low half gets the even tile\'s scale',
  },
  {
    name: 'w4a16-dequant-zero-point-7',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'constexpr uint32_t k1032 = 0x64086408u;',
    replace: 'constexpr uint32_t k1032 = 0x64076407u;',
    models: 'wrong zero point on the low nibbles (q - 7 instead of q - 8)',
  },
  {
    name: 'w4a16-scale-row-boundary',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'warp / kTileN64 >= kTileK16 / 2) ? 1 : 0;',
    replace: 'warp / kTileN64 > kTileK16 / 2) ? 1 : 0;',
    models: 'group-32 scale row chosen with > instead of >=: k16 step 2 uses the first group\'s scales',
  },
  {
    name: 'w4a16-cursor-group-not-stepped',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '    c.in_group = 0;\n    ++c.group;\n',
    replace: '    c.in_group = 0;\n',
    models: 'the cursor\'s scale group is not stepped at a group\'s end: every tile of a column past its first group reads the first group\'s scales',
  },
  {
    name: 'w4a16-needs-scales-first-of-stripe',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'return c.t == t_begin || c.in_group == 0;',
    replace: 'return c.in_group == 0;',
    models: 'scales loaded only at group starts: a stripe starting inside a group computes with empty frag_s',
  },
  {
    name: 'w4a16-k-step-per-warp',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: 'SPARQ_W4A16_HD constexpr int ALdmatrixChunk(int lane, int k16) { return 2 * k16 + lane / 16; }',
    replace: 'SPARQ_W4A16_HD constexpr int ALdmatrixChunk(int lane, int k16) { return k16 + lane / 16; }',
    models: 'wrong k16 step per warp: warp w_k reads A chunks k16, k16+1 instead of 2 k16, 2 k16+1',
  },
  {
    name: 'w4a16-asmem-xor-row-mod-4',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: 'return row * (kTileK / kHalvesPerU128) + (chunk ^ (row % 8));',
    replace: 'return row * (kTileK / kHalvesPerU128) + (chunk ^ (row % 4));',
    models: 'A swizzle XOR row % 4: numbers right, 2-way bank conflicts on every ldmatrix',
  },
  {
    name: 'w4a16-nibble-order',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: 'const int nib = second * 2 + upper + 4 * odd;',
    replace: 'const int nib = second + 2 * upper + 4 * odd;',
    models: 'packer nibble order {0,4}{2,6}{1,5}{3,7}: the kernel\'s dequant reads tile 2j+1\'s codes as tile 2j\'s upper k',
  },
  {
    name: 'w4a16-a-row-guard-off-by-one',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'for (int ch = tid; ch < p.m * kAChunksPerRow; ch += kThreads) {',
    replace: 'for (int ch = tid; ch < (p.m + 1) * kAChunksPerRow; ch += kThreads) {',
    models: 'A m-tail off by one: row m is loaded too (past the slab on the last rows)',
  },
  {
    name: 'w4a16-a-k-tail-guard-removed',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'const bool valid = col < p.k_valid;',
    replace: 'const bool valid = true;',
    models: 'A k-tail not zero-filled: columns k_valid..k_pad of X read past the row',
  },
  {
    name: 'w4a16-tail-rows-not-zeroed',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'const int tail_chunks = (Cfg::kRows - m) * kAChunksPerRow;',
    replace: 'const int tail_chunks = (Cfg::kRows - m - 1) * kAChunksPerRow;',
    models: 'ZeroTailRows stops one row short: the last padding row of A keeps stale (poisoned) smem',
    equivalent: 'row r of an mma\'s C depends only on row r of A, and rows >= m of C are never stored (s_red rows >= m are summed but never read), so stale A rows >= m cannot reach Y',
  },
  {
    name: 'w4a16-bias-skipped-last-n-tile',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'if (p.bias != nullptr) v += cvt_f32_f16(g_load(p.bias + n_col));',
    replace: 'if (p.bias != nullptr && (n_tile + 1) * kTileN <= p.n) v += cvt_f32_f16(g_load(p.bias + n_col));',
    models: 'bias skipped on the last (partial) n tile',
  },
  {
    name: 'w4a16-own-partial-dropped',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'v += slot == mine ? s_red[row * kRedStride + col] : g_load(g_slots + slot * kSlabM * kTileN + e);',
    replace: 'v += slot == mine ? 0.f : g_load(g_slots + slot * kSlabM * kTileN + e);',
    models: 'the last arrival forgets its own partial (kept in smem, never written to its slot)',
  },
  {
    name: 'w4a16-slot-index-off-by-one',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'float* g_mine = const_cast<float*>(g_slots) + mine * kSlabM * kTileN;',
    replace: 'float* g_mine = const_cast<float*>(g_slots) + (mine + 1) * kSlabM * kTileN;',
    models: 'a contributor publishes into the next slot (the last slot spills into the next column)',
  },
  {
    name: 'w4a16-slot-sum-skips-first',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: 'for (int slot = 0; slot < count; ++slot)',
    replace: 'for (int slot = 1; slot < count; ++slot)',
    models: 'the column sum starts at slot 1: the first k stripe\'s partial is lost',
  },
  {
    name: 'w4a16-column-slot-from-last-cta',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: '  return cta - ColumnFirstCta(s, n_tile);',
    replace: '  return ColumnLastCta(s, n_tile) - cta;',
    models: 'slots numbered from the last contributor: still distinct, but the column sum runs in reverse k order (the plan\'s "slots in k order" contract; w4a16_plan_test checks it)',
  },
  {
    name: 'w4a16-counter-not-reset',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '  if (count > 1 && tid == 0) g_store(p.counters + n_tile, 0u);',
    replace: '',
    models: 'the last arrival leaves the column\'s counter at count: the next launch on the same workspace never reduces',
  },
  {
    name: 'w4a16-last-arrival-compare',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '*s_last = before == uint32_t(count - 1) ? 1u : 0u;',
    replace: '*s_last = before == uint32_t(count) ? 1u : 0u;',
    models: 'atom returns the old value: comparing with count means nobody is last (Y never written)',
  },
  {
    name: 'w4a16-first-arrival-sums',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '*s_last = before == uint32_t(count - 1) ? 1u : 0u;',
    replace: '*s_last = before == 0u ? 1u : 0u;',
    models: 'the first arrival sums: it reads slots nobody has written yet',
  },
  {
    name: 'w4a16-slot-barrier-removed',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '    syncthreads();  // the whole slot is written before one thread announces it\n',
    replace: '',
    models: 'thread 0 counts the CTA in before the other threads have written their part of the slot',
  },
  {
    name: 'w4a16-slot-fence-removed',
    kernel: 'w4a16',
    file: 'native/cuda/kernels/w4a16.cuh',
    search: '      fence_acq_rel_gpu();\n',
    replace: '',
    models: 'no gpu-scope fence between the CTA\'s slot stores (other threads, ordered by bar.sync) and thread 0\'s acq_rel arrival',
    gpuOnly: 'in the weak global-memory model (as in the PTX model) the atom.acq_rel release after the bar.sync is cumulative over the stores the barrier ordered, so the fence before it is redundant and nothing the simulator can observe changes; whether a GPU needs it is a litmus test on the device',
  },
  {
    name: 'w4a16-plan-column-contributors-bound',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: 'const int64_t bound = (s.k_tiles - 1 + s.per - 1) / s.per + 1;',
    replace: 'const int64_t bound = (s.k_tiles + s.per - 1) / s.per;',
    models: 'slots per column as ceil(k_tiles / per): a column straddling one more stripe than that overflows its slots',
  },
  {
    name: 'w4a16-plan-padded-x-alignment',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_layout.cuh',
    search: 'return k % 8 != 0 || x_addr % 16 != 0;',
    replace: 'return k % 8 != 0;',
    models: 'x used in place when its base is not 16-byte aligned: misaligned 16-B cp.async',
  },
  {
    name: 'w4a16-plan-stages-hopper-for-ampere',
    kernel: 'w4a16',
    file: 'native/cuda/w4a16_plan.cuh',
    search: 'return stages == kStagesHopper ? PickForStages<kStagesHopper>(m_blocks) : PickForStages<kStagesAmpere>(m_blocks);',
    replace: 'return PickForStages<kStagesHopper>(m_blocks);',
    models: 'the 8-stage instance launched on Ampere (too much smem there)',
    gpuOnly: 'numerically identical: only the smem size differs, which a GPU with <= 100 KB per SM rejects at launch; the simulator has no smem limit and the tests do not assert the instance',
  },
  // w4a16 CPU decode path (w4a16_luts_avx512.inc, w4a16_gemv_avx512.inc, w4a16_scale_tables.cc)
  {
    name: 'w4a16-cpu-table-exponent-range-past-27',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_cpu.h',
    search: 'inline constexpr uint32_t kTableExponentFields = 27;',
    replace: 'inline constexpr uint32_t kTableExponentFields = 28;',
    models: 'AVX-512 and AVX2 tables: the fraction table used for exponent field 28, where 8·s reaches 65536 (the contract says ±inf, the table a finite ±2^16·m)',
  },
  {
    name: 'w4a16-cpu-table-sign-dropped',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_scale_tables.cc',
    search: 'sign_exponent[se * 16 + q] = (negative ? 0x80000000u : 0u) + ',
    replace: 'sign_exponent[se * 16 + q] = ',
    models: 'AVX-512 tables: the scale sign not carried into the sign/exponent add, so a negative scale dequantises as its magnitude',
  },
  {
    name: 'w4a16-cpu-table-zero-entry-scaled',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_scale_tables.cc',
    search: '(zero ? 0u : uint32_t(e - 15) << 23)',
    replace: '(uint32_t(e - 15) << 23)',
    models: 'AVX-512 tables: the exponent add applied to the zero entry too (code 8), which turns +0 into a tiny or huge nonzero weight',
  },
  {
    name: 'w4a16-cpu-f16-table-exponent-bit-position',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_scale_tables.cc',
    search: '(zero ? 0 : (e - 15) * 4)',
    replace: '(zero ? 0 : (e - 15) * 2)',
    models: "AVX2 tables: the exponent added one bit too low in fp16's high byte (the field starts at bit 2 of it, bit 10 of the half)",
  },
  {
    name: 'w4a16-cpu-vpermb-natural-lane-order',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_gemv_avx512.inc',
    search: 'uint8_t(16 * c + 4 * (j % 4) + j / 4)',
    replace: 'uint8_t(16 * c + j)',
    models: 'VBMI gemv: codes placed in natural k order while X is in GemvLaneOrder, so weights meet the wrong activations',
  },
  {
    name: 'w4a16-cpu-fraction-table-unrounded',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_scale_tables.cc',
    search: 'fraction[f * 16 + q] = cpu::scalar::F16ToF32One(w);',
    replace: 'fraction[f * 16 + q] = float(q - 8) * s;',
    models: 'the per-fraction table without the RNE to fp16: (q − 8)·s exact in fp32 instead of the contract w = fp16((q − 8)·s)',
  },

  {
    name: 'w4a16-int8-quantize-truncates',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_int8_cpu_avx512.cc',
    search: '_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + i), vinv))',
    replace: '_mm512_cvttps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + i), vinv))',
    models: 'the AVX-512 activation quantizer rounds toward zero (vcvttps2dq) where the contract and the scalar form round half to even',
  },
  {
    name: 'w4a16-int8-quantize-nan-passes',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_int8_cpu_avx512.cc',
    search: 'v, largest, _CMP_NLE_UQ)',
    replace: 'v, largest, _CMP_GT_OQ)',
    models: 'the AVX-512 quantizer\'s finite check is ordered: a NaN activation is not caught, its group is quantized instead of making the row NaN',
  },
  {
    name: 'w4a16-int8-scale-transpose-high-groups',
    kernel: 'w4a16',
    file: 'native/cpu/w4a16_int8_cpu_avx512.cc',
    search: '    r[e + 12] = _mm512_shuffle_f32x4(v1, w1, 0xDD);',
    replace: '    r[e + 12] = _mm512_shuffle_f32x4(v1, w1, 0x88);',
    models: 'the scale table\'s 16 × 16 transpose takes the wrong 128-bit lanes for groups 12..15 of each block of 16: only weights with more than 12 groups see it',
  },
  // ---------------------------------------------------------------- the simulator's own primitives (sim_warp.cc, sim_memory.cc)
  {
    name: 'sim-ldmatrix-row-lane-reversed',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: 'r.slot[layout::ldmatrix_addr_lane(j, e.row)].in[0]',
    replace: 'r.slot[layout::ldmatrix_addr_lane(j, 7 - e.row)].in[0]',
    models: 'simulator ldmatrix lane mapping: rows of each 8x8 matrix taken from the wrong lanes',
  },
  {
    name: 'sim-ldmatrix-trans-ignored',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: 'const RowCol e = layout::ldmatrix_elem(l, h, a.trans);',
    replace: 'const RowCol e = layout::ldmatrix_elem(l, h, false);',
    models: 'simulator ignores .trans',
  },
  {
    name: 'sim-ldmatrix-halves-swapped',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: '        reg |= uint32_t(v) << (16 * h);',
    replace: '        reg |= uint32_t(v) << (16 * (1 - h));',
    models: 'simulator ldmatrix puts the two 16-bit elements of a register in the wrong halves',
  },
  {
    name: 'sim-mma-a-registers-1-2-swapped',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: 'A[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[e >> 1] >> (16 * (e & 1))));',
    replace: 'A[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[(e >> 1) == 1 ? 2 : (e >> 1) == 2 ? 1 : (e >> 1)] >> (16 * (e & 1))));',
    models: 'simulator mma fragment order: a2a3 and a4a5 exchanged',
  },
  {
    name: 'sim-mma-b-registers-swapped',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: 'B[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[4 + (e >> 1)] >> (16 * (e & 1))));',
    replace: 'B[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[5 - (e >> 1)] >> (16 * (e & 1))));',
    models: 'simulator mma: b0b1 and b2b3 exchanged',
  },
  {
    name: 'sim-mma-c-pair-swapped',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: 'uint32_t cbits = uint32_t(r.slot[l].in[6 + e]);',
    replace: 'uint32_t cbits = uint32_t(r.slot[l].in[6 + (e ^ 1)]);',
    models: 'simulator mma: accumulator c0/c1 (and c2/c3) read crossed',
  },
  {
    name: 'sim-cp-async-zero-fill-removed',
    kernel: 'sim',
    file: 'native/sim/sim_memory.cc',
    search: '      std::memset(c.dst + c.src_bytes, 0, size_t(c.cp_bytes - c.src_bytes));  // zero-fill\n',
    replace: '',
    models: 'simulator cp.async with src-size < cp-size leaves the tail unwritten instead of zero',
  },
  {
    name: 'sim-cp-async-lands-at-issue',
    kernel: 'sim',
    file: 'native/sim/sim_memory.cc',
    search: '  t.open_group.push_back(AsyncCopy{static_cast<unsigned char*>(s_dst), static_cast<const unsigned char*>(g_src),\n' +
      '                                   cp_bytes, src_bytes});\n',
    replace: '  if (src_bytes) std::memcpy(s_dst, g_src, size_t(src_bytes));\n' +
      '  std::memset(static_cast<unsigned char*>(s_dst) + src_bytes, 0, size_t(cp_bytes - src_bytes));\n',
    models: 'simulator cp.async copies synchronously: a missing or early wait_group can no longer be seen',
  },
  {
    name: 'sim-wait-group-keeps-one-more',
    kernel: 'sim',
    file: 'native/sim/sim_memory.cc',
    search: '  while (int(t.groups.size()) > newest_groups_left) {',
    replace: '  while (int(t.groups.size()) > newest_groups_left + 1) {',
    models: 'simulator wait_group N leaves N+1 groups pending',
  },
  {
    name: 'sim-smem-not-poisoned',
    kernel: 'sim',
    file: 'native/sim/sim_memory.cc',
    search: '        std::memset(p, 0xFF, bytes);  // poison: NaN for f16/f32, -1 for integers',
    replace: '        std::memset(p, 0, bytes);',
    models: 'simulator shared memory starts zeroed: reads before writes look like valid zeros',
  },
  {
    name: 'sim-global-bounds-start-only',
    kernel: 'sim',
    file: 'native/sim/sim_memory.cc',
    search: '    if (a >= b.base && a + bytes <= b.base + b.bytes) return &b;',
    replace: '    if (a >= b.base && a < b.base + b.bytes) return &b;',
    models: 'simulator bounds check tests only the first byte: an access straddling the end of a buffer passes',
  },
  {
    name: 'sim-aligned-collective-sites-ignored',
    kernel: 'sim',
    file: 'native/sim/sim_warp.cc',
    search: '    if (problem.empty()) problem = DivergentSites(r, mask);\n',
    replace: '',
    models: 'simulator warp collectives ignore where each lane called them: an ldmatrix or mma in both arms of a branch on the lane passes, as it did before the call-site check',
  },
  {
    name: 'sim-barrier-sites-ignored',
    kernel: 'sim',
    file: 'native/sim/sim_runtime.cc',
    search: '    } else if (!SameSite(c.bar_site, site)) {',
    replace: '    } else if (false) {',
    models: 'simulator bar.sync ignores where each thread called it: a __syncthreads in each arm of a divergent if passes',
  },
  {
    name: 'sim-fuzz-dispatch-in-blockidx-order',
    kernel: 'sim',
    file: 'native/sim/sim_runtime.cc',
    search: '    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[FuzzNext(state) % i]);\n',
    replace: '',
    models: 'schedule fuzzing keeps blockIdx dispatch order: a kernel whose CTAs wait on lower-index CTAs passes under every seed',
  },
  {
    name: 'sim-fiber-order-unshuffled',
    kernel: 'sim',
    file: 'native/sim/sim_fiber.cc',
    search: '    for (size_t i = count; i > 1; --i) std::swap(v[i - 1], v[next() % i]);\n',
    replace: '    (void)v, (void)count, (void)next;\n',
    models: 'schedule fuzzing leaves a CTA\'s warps and fibers in threadIdx order: a reader in a later warp never runs ahead of an unsynchronized writer',
  },
  {
    name: 'sim-fiber-round-robin',
    kernel: 'sim',
    file: 'native/sim/sim_fiber.cc',
    search: '        if (!advanced) break;\n',
    replace: '        break;\n',
    models: 'the fiber scheduler gives each fiber one turn per pass instead of running a warp until it is stuck: the warps advance in lockstep, and a barrier missing between warps no longer shows',
    knownGap: 'what it weakens shows only in other mutants: with it, dense-barrier-after-ring-refill and w4a16-barrier-after-ring-refill survive (measured 2026-12-02 under the equivalent one-turn-per-fiber scheduler; the warp-greedy one kills both). sim_negative_test\'s ring kernel is caught either way (the lane completing a barrier runs on ahead); a negative kernel whose ring bug needs a warp several collectives ahead would kill it',
  },
  {
    name: 'sim-fiber-no-preemption',
    kernel: 'sim',
    file: 'native/sim/sim_runtime.cc',
    search: '  if (++tls_ctx->calls_since_yield >= kPreemptCalls && InFiber()) FiberYield(YieldKind::kRan);\n',
    replace: '',
    models: 'a fiber hands over only where it waits: a kernel spinning on plain loads holds its SM\'s host thread forever instead of failing',
  },
  {
    name: 'sim-fiber-wait-returns-at-once',
    kernel: 'sim',
    file: 'native/sim/sim_runtime.cc',
    search: '      if (done() || L.aborted.load(std::memory_order_relaxed)) return true;\n      lk.unlock();  // never hand over',
    replace: '      return true;\n      lk.unlock();  // never hand over',
    models: 'a fiber\'s bar.sync / collective wait returns before it is released: threads run past barriers and read results not yet computed',
  },

  // ---------------------------------------------------------------- the asm bodies (ptx_prims.cuh): only a GPU can show these
  {
    name: 'ptx-mma-b-operands-swapped',
    kernel: 'ptx',
    file: 'native/cuda/ptx_prims.cuh',
    search: '      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]), "f"(c.x[0]), "f"(c.x[1]),\n' +
      '        "f"(c.x[2]), "f"(c.x[3]));\n#else\n  SPARQ_UNSUPPORTED_ARCH();\n#endif\n}\n\n// mma.sync.aligned.m16n8k16.row.col.f32.bf16',
    replace: '      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[1]), "r"(b.x[0]), "f"(c.x[0]), "f"(c.x[1]),\n' +
      '        "f"(c.x[2]), "f"(c.x[3]));\n#else\n  SPARQ_UNSUPPORTED_ARCH();\n#endif\n}\n\n// mma.sync.aligned.m16n8k16.row.col.f32.bf16',
    models: 'f16 mma asm body with b.x[0]/b.x[1] swapped',
    gpuOnly: 'the asm body is compiled only by nvcc for __CUDA_ARCH__ >= 800; the device check\'s fragment dump (B fragments in the f16 mma) and every dense/w4a16 case on cuda catch it',
    run: false,
  },
  {
    name: 'ptx-cvt-f16x2-halves-swapped',
    kernel: 'ptx',
    file: 'native/cuda/ptx_prims.cuh',
    search: '"cvt.rn.f16x2.f32 %0, %1, %2;\\n" : "=r"(d) : "f"(hi), "f"(lo));',
    replace: '"cvt.rn.f16x2.f32 %0, %1, %2;\\n" : "=r"(d) : "f"(lo), "f"(hi));',
    models: 'cvt.rn.f16x2.f32 operands in {lo, hi} order (the instruction puts the FIRST source in the upper half)',
    gpuOnly: 'asm body, nvcc only; the dense shared cases with even n (pair stores) on cuda catch it',
    run: false,
  },

  // ---------------------------------------------------------------- sparse (sparse.cuh, sparse_layout.cuh)
  {
    name: "sparse-bitmap-lane-mask-includes-own-bit",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "const uint64_t below_mask = (uint64_t(1) << (2 * lane)) - 1u;",
    replace: "const uint64_t below_mask = (uint64_t(1) << (2 * lane + 1)) - 1u;",
    models: "bitmap decode: the lane's prefix mask also covers its own first bit, so every value after a stored lo element is read one slot late",
  },
  {
    name: "sparse-bitmap-hi-offset-fixed",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "hi = has_hi ? s_vals[off + has_lo] : 0u;",
    replace: "hi = has_hi ? s_vals[off + 1] : 0u;",
    models: "bitmap decode: the hi half is always read at off + 1, wrong when the lo bit of the pair is clear",
  },
  {
    name: "sparse-bitmap-block-base-not-advanced",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "      base += popc_b64(bitmap);\n",
    replace: "",
    models: "bitmap decode: the running block base is not advanced past a block, so later blocks re-read the first block's values",
  },
  {
    name: "sparse-bitmap-warp-base-wrong-lane",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "return shfl_sync_idx_b32(0xffffffffu, incl - mine, warp * (kBlocksPerWarp / 2));",
    replace: "return shfl_sync_idx_b32(0xffffffffu, incl - mine, warp * kBlocksPerWarp / 4);",
    models: "bitmap decode: the warp's first block base is taken from the wrong lane of the scan (blocks per lane forgotten)",
  },
  {
    name: "sparse-bitmap-scan-inclusive",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "return shfl_sync_idx_b32(0xffffffffu, incl - mine, warp * (kBlocksPerWarp / 2));",
    replace: "return shfl_sync_idx_b32(0xffffffffu, incl, warp * (kBlocksPerWarp / 2));",
    models: "bitmap decode: the inclusive scan used as the exclusive block base (off by the first pair of the warp)",
  },
  {
    name: "sparse-prefetch-one-chunk-past-tile",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "for (int c = tid; c < chunks; c += kThreads)",
    replace: "for (int c = tid; c <= chunks; c += kThreads)",
    models: "weight prefetch predicated one 16-B chunk too far (Flash-LLM's unpredicated tail): bytes past the tile are read, the last tile reads past the buffer",
  },
  {
    name: "sparse-wait-group-stages-minus-1",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "else cp_async_wait_group<kMaxStages - 2>();",
    replace: "else cp_async_wait_group<kMaxStages - 1>();",
    models: "wait_group off by one at 4 stages: tile i may still be in flight when it is decoded",
  },
  {
    name: "sparse-main-loop-barrier-removed",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "    WaitForOldest(p.stages);\n    syncthreads();\n",
    replace: "    WaitForOldest(p.stages);\n",
    models: "the barrier after wait_group dropped: other threads' copies of tile i are not visible, and the slot of tile i-1 is refilled while warps still read it",
  },
  {
    name: "sparse-tcsl-scatter-barrier-removed",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "      ScatterTile(s_stage + XStageBytes(M_TILES), s_off[i % kOffsetRing].units, s_cur, tid);\n      syncthreads();\n",
    replace: "      ScatterTile(s_stage + XStageBytes(M_TILES), s_off[i % kOffsetRing].units, s_cur, tid);\n",
    models: "tiled-csl: ldmatrix of the decoded tile before every thread has scattered its words",
  },
  {
    name: "sparse-tcsl-zero-current-buffer",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "ZeroDense(s_dense + ((i + 1) % kDenseBuffers) * kDenseTileBytes, tid);",
    replace: "ZeroDense(s_dense + (i % kDenseBuffers) * kDenseTileBytes, tid);",
    models: "tiled-csl: the buffer being scattered is zeroed in the same phase (races the scatter), the next one never",
  },
  {
    name: "sparse-tcsl-ldmatrix-unswizzled",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "ldmatrix_m8n8_x4_b16(frag_a.x, s_dense + DenseChunk(row, chunk) * kU128Bytes);",
    replace: "ldmatrix_m8n8_x4_b16(frag_a.x, s_dense + (row * kXChunksPerRow + chunk) * kU128Bytes);",
    models: "tiled-csl: the decoded tile is read without the XOR swizzle the encoder's locations carry",
  },
  {
    name: "sparse-split-last-arrival-off-by-one",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "*s_last = before == uint32_t(p.splits - 1) ? 1u : 0u;",
    replace: "*s_last = before == uint32_t(p.splits) ? 1u : 0u;",
    models: "split-K: no CTA sees itself as the last arrival (count compared with splits, not splits-1): Y never written, counters left non-zero",
  },
  {
    name: "sparse-split-counter-not-reset",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "  if (tid == 0) g_store(p.counters + slab, 0u);",
    replace: "",
    models: "split-K: the last arrival does not re-zero the slab counter, so the next launch miscounts",
  },
  {
    name: "sparse-split-slot-barrier-removed",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "  syncthreads();  // the whole slot is written before one thread announces it\n",
    replace: "",
    models: "split-K: thread 0 announces the CTA's slot before the other threads have stored their part of it",
  },
  {
    name: "sparse-split-range-overlap",
    kernel: 'sparse',
    file: "native/cuda/sparse_layout.cuh",
    search: "return KRange{split * k_tiles / splits, (split + 1) * k_tiles / splits};",
    replace: "return KRange{split * k_tiles / splits, ((split + 1) * k_tiles + splits - 1) / splits};",
    models: "split-K ranges rounded up at the end: neighbouring splits share a k tile, which is then summed twice",
  },
  {
    name: "sparse-x-k-tail-inclusive",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "const bool valid = col < p.k_valid;",
    replace: "const bool valid = col <= p.k_valid;",
    models: "x k-tail predicate off by one: the chunk starting at k is read instead of zero-filled",
  },
  {
    name: "sparse-y-row-guard-inclusive",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "if (m < p.m && n < p.n) g_store",
    replace: "if (m <= p.m && n < p.n) g_store",
    models: "epilogue row guard off by one: row m of y is stored (past the slab, past the buffer on the last one)",
  },
  {
    name: "sparse-bias-wrong-row-half",
    kernel: 'sparse',
    file: "native/cuda/kernels/sparse.cuh",
    search: "cvt_rn_f16_f32(acc[mt].x[e] + bias[e / 2])",
    replace: "cvt_rn_f16_f32(acc[mt].x[e] + bias[e % 2])",
    models: "epilogue: the bias of the other D row half (g vs g+8) added",
  },
  {
    name: "sparse-m-tiles-boundary",
    kernel: 'sparse',
    file: "native/cuda/sparse_layout.cuh",
    search: "return m_slab <= 8 ? 1 : m_slab <= 16 ? 2 : m_slab <= 32 ? 4 : 8;",
    replace: "return m_slab <= 9 ? 1 : m_slab <= 16 ? 2 : m_slab <= 32 ? 4 : 8;",
    models: "instance choice off by one: 9 rows run on the 8-row instance",
  },
  // The CPU row lists (formats/sparse_cpu_rows.cc) and the AVX-512 quarter walk (sparse_avx512_body.inc):
  // CPU code, caught by sparse_format_test's layout rule and sparse_cpu_test's same-bits checks.
  {
    name: 'sparse-rows-col-index-rounds-up',
    kernel: 'sparse',
    file: 'native/formats/sparse_cpu_rows.cc',
    search: 'x_cols[g * kRowsClasses + c] = uint8_t((kk - k0) / kRowsClasses);',
    replace: 'x_cols[g * kRowsClasses + c] = uint8_t((kk - k0 + 1) / kRowsClasses);',
    models: "row lists: a slot's 1-byte column index rounded up, so class 7's weights meet the X column 8 further on (the layout rule says 8·j + c)",
  },
  {
    name: 'sparse-rows-groups-miss-last-class',
    kernel: 'sparse',
    file: 'native/formats/sparse_cpu_rows.cc',
    search: 'return *std::max_element(count, count + kRowsClasses);',
    replace: 'return *std::max_element(count, count + kRowsClasses - 1);',
    models: 'row lists: the group count taken from classes 0-6 only, so a row whose k mod 8 = 7 class is the longest loses its last entries',
  },
  {
    name: 'sparse-rows-permute-wrong-slot',
    kernel: 'sparse',
    file: 'native/cpu/sparse_cpu_avx512_rows.cc',
    search: 'const __m512 wc = _mm512_permutexvar_ps(_mm512_set1_epi32(c), w);',
    replace: 'const __m512 wc = _mm512_permutexvar_ps(_mm512_set1_epi32(c ^ 1), w);',
    models: "AVX-512 rows kernel: a slot multiplies its X column by the weight of its neighbour slot in the group's converted ymm",
  },
  {
    name: 'sparse-rows-narrow-offsets-unshifted',
    kernel: 'sparse',
    file: 'native/cpu/sparse_cpu_avx512_rows.cc',
    search: 'if (narrow) RowChunkYmm<1>(x, xo, values, groups, acc);',
    replace: 'if (narrow) RowChunkYmm<0>(x, xo, values, groups, acc);',
    models: 'AVX-512 rows kernel at m <= 8 (8-float xt columns): offsets computed for 16-float columns, so each slot reads the X column twice as far along',
  },
  {
    name: 'sparse-rows-narrow-xt-wide-stride',
    kernel: 'sparse',
    file: 'native/cpu/sparse_rows_body.inc',
    search: 'const char* x = reinterpret_cast<const char*>(p.xt + ((blk0 + b) * p.k_pad + q * chunk_k) * xt_lanes);',
    replace: 'const char* x = reinterpret_cast<const char*>(p.xt + ((blk0 + b) * p.k_pad + q * chunk_k) * kXLanes);',
    models: 'rows kernel (both ISAs) at m <= 8: the chunk slice of an 8-float-column xt located as if its columns were 16 floats (every chunk after the first reads the wrong columns)',
  },
  {
    name: 'sparse-rows-col-index-stride-halved',
    kernel: 'sparse',
    file: 'native/cpu/sparse_rows_body.inc',
    search: 'kColBytes = 64u >> kNarrow, kJShift = 9 - kNarrow;',
    replace: 'kColBytes = 64u >> kNarrow, kJShift = 8 - kNarrow;',
    models: "rows kernel (both ISAs): a slot's column index turned into an X byte offset with half the stride (8 columns of 16 or 8 floats per index step)",
  },
  {
    name: 'sparse-cpu-quarter-x-column-half',
    kernel: 'sparse',
    file: 'native/cpu/sparse_avx512_body.inc',
    search: 'const int col8 = 2 * (j >> 2) + ((j >> 1) & 1);',
    replace: 'const int col8 = 2 * (j >> 2) + (j & 1);',
    models: "AVX-512 quarter walk (1-3 X rows): a block met by the x values of the other column half (block j's column half is bit 1 of j, its half group bit 0)",
  },
  {
    name: 'sparse-cpu-quarter-x-row-stride',
    kernel: 'sparse',
    file: 'native/cpu/sparse_avx512_body.inc',
    search: 'const __m512 xb = MR == 1 ? xv[col8] : BlockX(x + i * ld_x + 8 * col8);',
    replace: 'const __m512 xb = MR == 1 ? xv[col8] : BlockX(x + 8 * col8);',
    models: 'AVX-512 quarter walk at 2-3 X rows: every row meets the first row\'s x values (the row stride dropped)',
  },
  // ---------------------------------------------------------------- int8 (kernels/int8.cuh, int8_layout.cuh, fp32_rn.cuh)
  {
    name: 'int8-detect-compare-strict',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'hit = AbsF16(g_load(p.x + r * p.k + c)) >= p.threshold;',
    replace: 'hit = AbsF16(g_load(p.x + r * p.k + c)) > p.threshold;',
    models: 'outlier test |x| > t instead of the contract\'s |x| >= t: a value exactly at the threshold is quantized instead of kept in fp16',
  },
  {
    name: 'int8-detect-row-chunks-floor',
    kernel: 'int8',
    file: 'native/cuda/int8_layout.cuh',
    search: 'w.row_chunks = detect ? CeilDiv(m, rows_per_chunk) : 0;',
    replace: 'w.row_chunks = detect ? (m / rows_per_chunk > 0 ? m / rows_per_chunk : 1) : 0;',
    models: 'detection grid rounds the row chunks down: the rows of a last, partial chunk are never scanned for outliers',
  },
  {
    name: 'int8-compact-scan-inclusive',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'return before + incl - v;',
    replace: 'return before + incl;',
    models: 'compaction uses the inclusive prefix: each word\'s columns land one word\'s count too far (a gap, the last ones past the count)',
  },
  {
    name: 'int8-compact-warp-order-reversed',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'before += w < warp ? s : 0u;',
    replace: 'before += w > warp ? s : 0u;',
    models: 'compaction places the warps\' segments in reverse: the outlier list is no longer increasing (the fp32 outlier sum runs in another order)',
  },
  {
    name: 'int8-compact-base-not-advanced',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: '    base += total;\n',
    replace: '',
    models: 'compaction rounds (k > 8192) each start at position 0: the second round overwrites the first\'s columns and the count misses them',
  },
  {
    name: 'int8-rowstat-includes-outliers',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'if (!IsOutlier(p.mask, c)) stat = MaxAbs(',
    replace: 'if (!IsOutlier(p.mask, c) || true) stat = MaxAbs(',
    models: 'rowStat over every column (outliers included), as with threshold 0: the int8 part loses its resolution',
  },
  {
    name: 'int8-ca-pad-rows-not-zeroed',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'for (int64_t group = tid; group < p.k_pad / kQuantGroupCols; group += kQuantThreads)',
    replace: 'for (int64_t group = tid; real && group < p.k_pad / kQuantGroupCols; group += kQuantThreads)',
    models: 'quantize kernel skips the padding rows m..ca_rows-1: the GEMM reads whatever the workspace held for them (only their own, never-stored outputs depend on it, so only the workspace check sees it)',
  },
  {
    name: 'int8-ca-pad-columns-read',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'const bool live = real && c < p.k && !IsOutlier(p.mask, c);',
    replace: 'const bool live = real && c < p.k_pad && !IsOutlier(p.mask, c);',
    models: 'quantize kernel treats columns k..k_pad-1 as data: reads x past the row (the next row, or past the buffer) instead of zero-filling',
  },
  {
    name: 'int8-quant-zero-count-missing',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: '    if (row == 0 && p.zero_count != nullptr) g_store(p.zero_count, int32_t(0));\n',
    replace: '',
    models: 'threshold 0: nobody writes outlier_cols[0] = 0, so the GEMM takes whatever the caller\'s buffer held as the outlier count',
  },
  {
    name: 'int8-a-frag-row-plus-1',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'f.a[mt][h] = ld_global_nc_v4_u32(g_a + (mt * kMmaM + 8 * h) * p.k_pad + blk * kBlockK);',
    replace: 'f.a[mt][h] = ld_global_nc_v4_u32(g_a + (mt * kMmaM + h) * p.k_pad + blk * kBlockK);',
    models: 'A fragment: the second row of a lane is g+1 instead of g+8 (the m16n8k32 A layout)',
  },
  {
    name: 'int8-a-frag-registers-swapped',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'const FragA_S8 a{{f.a[mt][0].x[2 * s], f.a[mt][1].x[2 * s], f.a[mt][0].x[2 * s + 1], f.a[mt][1].x[2 * s + 1]}};',
    replace: 'const FragA_S8 a{{f.a[mt][0].x[2 * s], f.a[mt][0].x[2 * s + 1], f.a[mt][1].x[2 * s], f.a[mt][1].x[2 * s + 1]}};',
    models: 'A fragment registers in (row, k) order instead of the PTX order a0 = (g, k0-15), a1 = (g+8, k0-15), a2 = (g, k16-31)',
  },
  {
    name: 'int8-prefetch-next-block-adjacent',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'LoadFrags<M_TILES>(p, g_a, g_b, live_tiles, blk + kGemmWarps, next);',
    replace: 'LoadFrags<M_TILES>(p, g_a, g_b, live_tiles, blk + 1, next);',
    models: 'split-K prefetch loads the adjacent block instead of the warp\'s next one (blocks w, w+8, …): some blocks counted twice, others never',
  },
  {
    name: 'int8-tile-guard-inclusive',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'f.b[nt] = nt < live_tiles ? ld_global_nc_v4_u32(',
    replace: 'f.b[nt] = nt <= live_tiles ? ld_global_nc_v4_u32(',
    models: 'n tail: the CTA loads one n8 tile past the weight\'s last (past the codes buffer)',
  },
  {
    name: 'int8-ksplit-drops-last-warp',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'for (int w = 0; w < kGemmWarps; ++w) acc += s_slots[',
    replace: 'for (int w = 0; w < kGemmWarps - 1; ++w) acc += s_slots[',
    models: 'split-K reduction skips the last warp\'s partial accumulators (k blocks 7, 15, … lost)',
  },
  {
    name: 'int8-reduction-barrier-removed',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: '  syncthreads();  // every warp\'s partials and the staged outliers are in smem\n',
    replace: '',
    models: 'no barrier between the warps\' slot stores (and the outlier staging) and the cross-warp reduction',
  },
  {
    name: 'int8-slab-row-offset-dropped',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'const int64_t row0 = (p.slab0 + int64_t(blockIdx.y)) * kSlabM;',
    replace: 'const int64_t row0 = int64_t(blockIdx.y) * kSlabM;',
    models: 'the GEMM launch of the last, partial slab (and of every 65535-slab run after the first) restarts at row 0',
  },
  {
    name: 'int8-main-term-order',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'mul_rn_f32(mul_rn_f32(cvt_rn_f32_s32(acc), g_load(p.row_stat + row)), scb)',
    replace: 'mul_rn_f32(cvt_rn_f32_s32(acc), mul_rn_f32(g_load(p.row_stat + row), scb))',
    models: 'main term as acc·(rowStat·SCB) instead of the contract\'s (acc·rowStat)·SCB: same math, other roundings',
  },
  {
    name: 'int8-bias-before-outliers',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: '    float v = add_rn_f32(t, o);\n    if (p.bias != nullptr) v = add_rn_f32(v, cvt_f32_f16(g_load(p.bias + j)));\n',
    replace: '    float v = p.bias != nullptr ? add_rn_f32(t, cvt_f32_f16(g_load(p.bias + j))) : t;\n    v = add_rn_f32(v, o);\n',
    models: 'epilogue order (t + bias) + o instead of the contract\'s (t + o) + bias',
  },
  {
    name: 'int8-outlier-fma-unfused',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'for (int idx = 0; idx < staged; ++idx) o = fma_rn_f32(s_xo[r * kXoStride + idx], s_wo[idx * kCtaCols + col], o);',
    replace: 'for (int idx = 0; idx < staged; ++idx) o = add_rn_f32(mul_rn_f32(s_xo[r * kXoStride + idx], s_wo[idx * kCtaCols + col]), o);',
    models: 'outlier term as a rounded product plus a sum instead of the contract\'s fma',
  },
  {
    name: 'int8-overflow-path-truncated',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 'for (int idx = staged; idx < count; ++idx) {',
    replace: 'for (int idx = staged; idx < staged; ++idx) {',
    models: 'outlier columns past the staging capacity (64) are silently dropped',
  },
  {
    name: 'int8-stage-x-stride',
    kernel: 'int8',
    file: 'native/cuda/kernels/int8.cuh',
    search: 's_xo[r * kXoStride + idx] = row < p.m',
    replace: 's_xo[r * kOutlierCap + idx] = row < p.m',
    models: 'staged outlier x written with the unpadded row stride the epilogue does not read with',
  },
  {
    name: 'int8-quantize-truncates',
    kernel: 'int8',
    file: 'native/cuda/fp32_rn.cuh',
    search: 'return static_cast<int32_t>(std::nearbyint(v));',
    replace: 'return static_cast<int32_t>(v);',
    models: 'cvt.rzi (toward zero) instead of cvt.rni (nearest even) for the codes: the simulator body of __float2int_rz',
  },
  // ---------------------------------------------------------------- allreduce (allreduce_rmsnorm.cuh, allreduce_plan.cuh)
  {
    name: 'allreduce-rank-order-reversed',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search:
      '  for (int q = 0; q < p.ranks; ++q) {\n' +
      '    const U32x4 xq = q == rank ? ld_global_nc_v4_u32(own.x + off)\n' +
      '                               : ld_global_v4_u32(p.staging + int64_t(q) * p.tokens * p.hidden + off);\n' +
      'SPARQ_AR_UNROLL\n' +
      '    for (int w = 0; w < kVecWords; ++w) {\n' +
      '      float lo, hi;\n' +
      '      unpack_f16x2_f32(xq.x[w], lo, hi);\n' +
      '      s[2 * w] = q == 0 ? lo : add_rn_f32(s[2 * w], lo);\n' +
      '      s[2 * w + 1] = q == 0 ? hi : add_rn_f32(s[2 * w + 1], hi);\n',
    replace:
      '  for (int q0 = 0; q0 < p.ranks; ++q0) {\n' +
      '    const int q = p.ranks - 1 - q0;\n' +
      '    const U32x4 xq = q == rank ? ld_global_nc_v4_u32(own.x + off)\n' +
      '                               : ld_global_v4_u32(p.staging + int64_t(q) * p.tokens * p.hidden + off);\n' +
      'SPARQ_AR_UNROLL\n' +
      '    for (int w = 0; w < kVecWords; ++w) {\n' +
      '      float lo, hi;\n' +
      '      unpack_f16x2_f32(xq.x[w], lo, hi);\n' +
      '      s[2 * w] = q0 == 0 ? lo : add_rn_f32(s[2 * w], lo);\n' +
      '      s[2 * w + 1] = q0 == 0 ? hi : add_rn_f32(s[2 * w + 1], hi);\n',
    models: 'the fp32 rank sum taken in reverse rank order (R-1 .. 0): a different rounding than the contract\'s 0 .. R-1',
  },
  {
    name: 'allreduce-flag-plain-store',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'st_release_sys_u32(p.flags + FlagSlot(p.ranks, phase, q, b, rank), p.epoch);',
    replace: 'g_store(p.flags + FlagSlot(p.ranks, phase, q, b, rank), p.epoch);',
    models: 'the arrival flag written with a plain store instead of st.release.sys: neither the staged rows nor the flag itself are published to the peers',
  },
  {
    name: 'allreduce-flag-acquire-cta-scope',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '  if (ld_acquire_sys_u32(g_flag) == epoch) return;',
    replace: '  if (ld_acquire_cta_u32(g_flag) == epoch) return;',
    models: 'a peer that already arrived is seen with a .cta-scope acquire, which synchronizes with nothing in another CTA: its staged rows are read unordered',
  },
  {
    name: 'allreduce-flag-plain-load',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '  while (ld_acquire_sys_u32(g_flag) != epoch)',
    replace: '  while (g_load(g_flag) != epoch)',
    models: 'the spin-wait reads the flag with a plain load (no acquire): the peer\'s data is not ordered before this CTA\'s reads',
  },
  {
    name: 'allreduce-epoch-compare-ge',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search:
      '  if (ld_acquire_sys_u32(g_flag) == epoch) return;\n' +
      '  const uint64_t start = globaltimer_ns();\n' +
      '  while (ld_acquire_sys_u32(g_flag) != epoch)\n',
    replace:
      '  if (ld_acquire_sys_u32(g_flag) >= epoch) return;\n' +
      '  const uint64_t start = globaltimer_ns();\n' +
      '  while (ld_acquire_sys_u32(g_flag) < epoch)\n',
    models: 'the flag compared with >= instead of ==: after the epoch wraps (0xffffffff -> 1) a stale flag passes the barrier before the peer arrived',
  },
  {
    name: 'allreduce-release-before-cta-barrier',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '  syncthreads();  // the CTA\'s stores (and reads) are done before thread 0 releases\n',
    replace: '',
    models: 'the bar.sync before the release dropped: thread 0 announces the CTA\'s staged rows before the other threads\' stores are in',
  },
  {
    name: 'allreduce-end-barrier-removed',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '  RankBarrier(p, kEnd, rank, tid);\n',
    replace: '',
    models: 'no end barrier: a rank that finishes first starts its next call and overwrites its staged rows while a peer still reads this call\'s',
  },
  {
    name: 'allreduce-mid-barrier-removed',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '    RankBarrier(p, kMid, rank, tid);\n',
    replace: '',
    models: 'two-shot without the middle barrier: a rank reads the gathered row sums before their owners wrote them',
  },
  {
    name: 'allreduce-residual-after-rounding',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'const uint16_t h0 = cvt_rn_f16_f32(add_rn_f32(s[2 * w], lo)),',
    replace: 'const uint16_t h0 = cvt_rn_f16_f32(add_rn_f32(cvt_f32_f16(cvt_rn_f16_f32(s[2 * w])), lo)),',
    models: 'the rank sum rounded to fp16 before the residual is added (two roundings; the contract adds in fp32 and rounds once)',
  },
  {
    name: 'allreduce-sumsq-fp32',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: '      sumsq = add_rn_f64(add_rn_f64(sumsq, SquareF16(h0)), SquareF16(h1));',
    replace: '      sumsq = double(add_rn_f32(add_rn_f32(float(sumsq), float(SquareF16(h0))), float(SquareF16(h1))));',
    models: 'the sum of squares accumulated in fp32 (per thread) instead of fp64: rstd moves by an ulp on long rows',
  },
  {
    name: 'allreduce-gamma-multiply-order',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'mul_rn_f32(mul_rn_f32(r0, rstd), g0)',
    replace: 'mul_rn_f32(r0, mul_rn_f32(rstd, g0))',
    models: 'out = res * (rstd * gamma) instead of (res * rstd) * gamma: another rounding of the two fp32 products',
  },
  {
    name: 'allreduce-shard-end-inclusive',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'for (int64_t t = FirstRow(lo, blockIdx.x, gridDim.x); t < hi; t += gridDim.x)',
    replace: 'for (int64_t t = FirstRow(lo, blockIdx.x, gridDim.x); t <= hi; t += gridDim.x)',
    models: 'two-shot shard bound off by one: a rank also reduces the first row of the next shard (and the last rank row T, past the end)',
  },
  {
    name: 'allreduce-shard-start-late',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'const int64_t lo = int64_t(rank) * p.tokens / p.ranks, hi',
    replace: 'const int64_t lo = int64_t(rank) * p.tokens / p.ranks + 1, hi',
    models: 'two-shot shard starts one row late: the first row of every shard is never reduced, so its gathered sums are stale',
  },
  {
    name: 'allreduce-block-sum-one-set',
    kernel: 'allreduce',
    file: 'native/cuda/kernels/allreduce_rmsnorm.cuh',
    search: 'NormRow<TWO_SHOT>(p, own, rank, t, s_part + parity * kMaxWarps, tid);',
    replace: 'NormRow<TWO_SHOT>(p, own, rank, t, s_part, tid);',
    models: 'one set of warp partials for every row: a warp that runs ahead into the next row overwrites its slot while slower warps still sum this row\'s',
  },
  {
    name: 'allreduce-auto-threshold-inverted',
    kernel: 'allreduce',
    file: 'native/cuda/allreduce_plan.cuh',
    search: 'return a.ranks > 2 && a.tokens * a.hidden * 2 > kOneShotMaxBytes;',
    replace: 'return a.ranks > 2 && a.tokens * a.hidden * 2 <= kOneShotMaxBytes;',
    models: 'the auto algorithm inverted: two-shot for small messages, one-shot for large ones',
  },
];

// Debug only (`--weaken name`): deliberately weakened tests, applied to the runner's copy (never
// to the checkout), to show that a mutant the weakened suite misses fails `--ci`.
export const weakenings = [
  {
    name: 'smem-bank-no-w4a16',
    file: 'native/tests/smem_bank_test.cc',
    search: '  CheckW4a16A();\n',
    replace: '',
    what: 'smem_bank_test no longer checks the W4A16 A-tile map (ASmemChunk); try it with --only w4a16-asmem-xor-row-mod-4',
  },
];
