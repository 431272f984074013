// native/formats/sparse_formats.h: the per-format halves of the sparse encoder (sparse_encode.cc
// dispatches). Each takes the padded tile grid and fills one SparseEncoded, or checks and decodes it.
#pragma once
#include <cstdint>
#include <vector>

#include "sparq/sparse.h"

namespace sparq::sparse {

// Stored-entry count of every tile, in tile order (what both formats' sizes follow from), on up to
// `threads` threads.
std::vector<uint32_t> CountTileEntries(const uint16_t* w, int64_t n, int64_t k, int64_t n_pad, int64_t k_pad,
                                       int threads = 1);

// w[n][k] → out (out's dims already set), on up to `threads` threads (tiles are independent once
// the counts fix their offsets: the same bytes for any count). Errors as "<op>: …".
Status EncodeBitmap(const uint16_t* w, const std::vector<uint32_t>& counts, SparseEncoded* out, int threads = 1);
Status EncodeTiledCsl(const uint16_t* w, const std::vector<uint32_t>& counts, SparseEncoded* out, int threads = 1);

// Writes the stored entries into w (zero-filled [n][k]); kArgument if the encoding is inconsistent.
Status DecodeBitmap(const SparseEncoded& e, uint16_t* w);
Status DecodeTiledCsl(const SparseEncoded& e, uint16_t* w);

constexpr int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// kShape "shape" when `units` padded values (halves for kBitmap, words for kTiledCsl) pass what the
// formats' 32-bit tile offsets can address (2³² − 1), else Ok. Errors as "<op>: …".
Status CheckEncodedUnits(const char* op, SparseFormat format, int64_t n, int64_t k, int64_t nnz, int64_t units);

}  // namespace sparq::sparse
