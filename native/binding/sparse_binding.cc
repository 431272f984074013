// binding/sparse_binding.cc: sparse.encode / prune (shape and option checks here, at the call; the
// O(n·k) work on the stream worker) and sparse.matmul. The weight is a NativeWeight of kind
// "sparse" with three parts — bitmaps (empty for Tiled-CSL), values/words, tile offsets — that
// every backend reads as encoded (sparq/sparse.h), and on the cpu backend with the avx512 or avx2
// kernels a fourth unless the caller said rowLists: false: the row lists of the same weights
// (sparq/sparse.h "row lists"), or instead their lanes where the kernels are avx512 on a core that
// takes them and at least 68% of the weights are zero (sparq/sparse.h "lanes").
#include <cstring>

#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/matmul_args.h"
#include "binding/op_launch.h"
#include "binding/weight.h"
#include "sparq/sparse.h"

namespace sparq::binding {
namespace {

const char* const kWeightExpected = "a SparseWeight (from sparse.encode)";

// Dims of the encoding (its vectors stay empty: the bytes live in the backend's buffers).
class SparseWeightFormat : public WeightFormat {
 public:
  // `e` may already have given its big vectors to the weight's parts (moved out): the byte counts
  // come from before that.
  SparseWeightFormat(const SparseEncoded& e, PackedLayout layout, size_t format_bytes, size_t row_list_bytes)
      : dims_(e), layout_(layout), format_bytes_(format_bytes), row_list_bytes_(row_list_bytes) {
    ReleaseStorage(dims_.bitmaps);
    ReleaseStorage(dims_.values);
    ReleaseStorage(dims_.tile_offsets);
    ReleaseStorage(dims_.cpu_rows);
  }
  const char* kind() const override { return "sparse"; }
  int64_t n() const override { return dims_.n; }
  int64_t k() const override { return dims_.k; }
  // The running backend's, for info(): the bytes are the same for every backend (sparq/sparse.h).
  PackedLayout layout() const override { return layout_; }
  void Describe(Napi::Env env, Napi::Object info) const override {
    info.Set("format", SparseFormatName(dims_.format));
    info.Set("nnz", static_cast<double>(dims_.nnz));
    info.Set("maxTileEntries", dims_.max_tile_units);
    info.Set("formatBytes", static_cast<double>(format_bytes_));
    info.Set("rowListBytes", static_cast<double>(row_list_bytes_));
    Napi::Array padded = Napi::Array::New(env, 2);
    padded.Set(0u, static_cast<double>(dims_.n_pad));
    padded.Set(1u, static_cast<double>(dims_.k_pad));
    info.Set("paddedShape", padded);
  }
  // {w: Uint16Array [n*k]}: the dense fp16 bits the encoding holds, exactly.
  std::vector<WeightReadField> ReadFields() const override {
    return {{"w", napi_uint16_array, size_t(dims_.n * dims_.k)}};
  }
  Status Unpack(std::vector<std::vector<uint8_t>>& parts, const std::vector<void*>& fields, int threads) const override {
    (void)threads;  // the decoder checks the encoding as it goes, tile after tile: one thread
    SparseEncoded e = dims_;
    e.bitmaps.resize(parts.at(0).size() / sizeof(uint64_t));
    if (!e.bitmaps.empty()) std::memcpy(e.bitmaps.data(), parts[0].data(), parts[0].size());
    e.values = std::move(parts.at(1));
    e.tile_offsets.resize(parts.at(2).size() / sizeof(uint32_t));
    std::memcpy(e.tile_offsets.data(), parts[2].data(), parts[2].size());
    return SparseDecode(e, static_cast<uint16_t*>(fields.at(0)));  // straight into the result
  }
  bool ReadsPart(size_t index) const override { return index < 3; }  // not the cpu row lists
  // parts: bitmaps, values, offsets and, where built, the row lists.
  SparseWeightView View(const Buffer& bitmaps, const Buffer& values, const Buffer& offsets, const Buffer* rows) const {
    return dims_.view(dims_.format == SparseFormat::kBitmap ? bitmaps.ptr : nullptr, values.ptr, offsets.ptr,
                      rows != nullptr ? rows->ptr : nullptr);
  }

 private:
  SparseEncoded dims_;
  PackedLayout layout_;
  size_t format_bytes_, row_list_bytes_;
};

// w (fp16 bits) and its [n, k], checked: the shape by SparseCheckShape, w's length against it.
struct DenseWeightArg {
  Napi::TypedArray w;
  int64_t n, k;
};
DenseWeightArg ParseDenseWeight(const Napi::Value& w_v, const Napi::Value& shape_v, const std::string& op) {
  Napi::Env env = w_v.Env();
  Napi::TypedArray w = ParseTypedArrayFor(w_v, DType::kF16, op, "w");
  Shape shape = ParseShape(shape_v, op, "shape");
  if (shape.size() != 2) ThrowArg(env, StatusCode::kShape, op, "shape", "[n, k]", ShapeToString(shape));
  Status s = SparseCheckShape(op.c_str(), shape[0], shape[1]);
  if (!s.ok()) ThrowStatus(env, s);
  CheckLength(env, op, "w", w, shape[0] * shape[1], "[n, k] = " + ShapeToString(shape));
  return {w, shape[0], shape[1]};
}

SparseFormat ParseFormat(const Napi::Value& v, const std::string& op) {
  if (v.IsUndefined()) return SparseFormat::kAuto;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (s == "auto") return SparseFormat::kAuto;
  if (s == "bitmap") return SparseFormat::kBitmap;
  if (s == "tiled-csl") return SparseFormat::kTiledCsl;
  ThrowArg(v.Env(), StatusCode::kArgument, op, "format", "'auto', 'bitmap' or 'tiled-csl'", DescribeValue(v));
  return SparseFormat::kAuto;
}

// sparseEncode(ctx, w: Uint16Array [n*k], [n, k], format?, rowLists?) → Promise<NativeWeight>
Napi::Value SparseEncodeBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "sparse.encode";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const DenseWeightArg a = ParseDenseWeight(info[1], info[2], op);
  const SparseFormat format = ParseFormat(info[3], op);
  if (!info[4].IsUndefined() && !info[4].IsBoolean())
    ThrowArg(env, StatusCode::kArgument, op, "rowLists", "a boolean", DescribeValue(info[4]));
  auto w = CopyTypedArray<uint16_t>(a.w, *ctx, op, "w");  // the caller may reuse its array at once
  const int64_t n = a.n, k = a.k;
  const PackedLayout layout = ctx->backend().WeightLayout(OpId::kSparseMatmul);
  // Only the cpu backend's AVX-512 and AVX2 kernels read row lists (sim and cuda run the
  // tensor-core kernels; scalar has no rows kernel): elsewhere they would be dead bytes.
  const char* isa = ctx->backend().cpu_isa();
  const bool row_lists = layout == PackedLayout::kCpu && (std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0) &&
                         (info[4].IsUndefined() || info[4].As<Napi::Boolean>().Value());
  // The lanes (instead of the lists, for sparse enough weights) only for the AVX-512 kernels that read
  // them, on a core where the lanes kernel was measured to pay (sparq/sparse.h LanesPreferred).
  const CpuLanes lanes = std::strcmp(isa, "avx512") == 0 && sparse::LanesPreferred() ? CpuLanes::kAuto : CpuLanes::kNone;
  const int threads = WeightPackThreads(ctx->backend());
  return CreateWeightAsync(env, info[0].As<Napi::Object>(), ctx, op,
                           [w, n, k, format, layout, row_lists, lanes, threads, op](std::vector<std::vector<uint8_t>>* parts,
                                                 std::shared_ptr<const WeightFormat>* out_format) -> Status {
                             SparseEncoded e;
                             Status s = SparseEncode(w->data(), n, k, format, &e, op.c_str(), threads);
                             if (s.ok() && row_lists)
                               s = SparseBuildCpuRows(w->data(), n, k, &e.cpu_rows, op.c_str(), lanes, threads);
                             w->reset();
                             if (!s.ok()) return s;
                             const size_t format_bytes = e.bytes(), row_list_bytes = e.cpu_rows.size();
                             std::vector<uint8_t> bitmaps(e.bitmaps.size() * sizeof(uint64_t));
                             if (!bitmaps.empty()) std::memcpy(bitmaps.data(), e.bitmaps.data(), bitmaps.size());
                             std::vector<uint8_t> offsets(e.tile_offsets.size() * sizeof(uint32_t));
                             std::memcpy(offsets.data(), e.tile_offsets.data(), offsets.size());
                             parts->push_back(std::move(bitmaps));
                             parts->push_back(std::move(e.values));
                             parts->push_back(std::move(offsets));
                             if (row_lists) parts->push_back(std::move(e.cpu_rows));
                             // After the moves: the format keeps the dims, and copying the bytes only
                             // to free them was a second copy of the weight.
                             *out_format = std::make_shared<SparseWeightFormat>(e, layout, format_bytes, row_list_bytes);
                             return Status::Ok();
                           });
}

// sparsePrune(ctx, w: Uint16Array [n*k], [n, k], sparsity, scope?) → Promise<Uint16Array>
Napi::Value SparsePruneBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "sparse.prune";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const DenseWeightArg a = ParseDenseWeight(info[1], info[2], op);
  const double sparsity = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  if (!(sparsity >= 0.0 && sparsity <= 1.0))
    ThrowArg(env, StatusCode::kArgument, op, "sparsity", "a number in [0, 1]", DescribeValue(info[3]));
  SparsePruneScope scope = SparsePruneScope::kRow;
  if (!info[4].IsUndefined()) {
    const std::string s = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string();
    if (s == "global") scope = SparsePruneScope::kGlobal;
    else if (s != "row") ThrowArg(env, StatusCode::kArgument, op, "scope", "'row' or 'global'", DescribeValue(info[4]));
  }
  auto w = CopyTypedArray<uint16_t>(a.w, *ctx, op, "w");
  const int64_t n = a.n, k = a.k;
  Napi::ArrayBuffer ab = NewResultBuffer(env, static_cast<size_t>(n * k) * 2, op, "w", "the pruned weight");
  auto ab_ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  uint16_t* dst = static_cast<uint16_t*>(ab.Data());
  // A large result is usually a fresh, untouched mapping (calloc of more than malloc's mmap
  // threshold): let the worker fault it in 2 MiB at a time. On heap memory the advice is harmless.
  formats::AdviseHugePages(dst, static_cast<size_t>(n * k) * 2);
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  const int threads = WeightPackThreads(ctx->backend());
  ctx->Enqueue(
      env,
      [w, n, k, sparsity, scope, dst, threads, op]() -> Status {
        // Straight into the result's memory (ab_ref keeps it alive until the promise settles).
        return SparsePrune(w->data(), n, k, sparsity, scope, dst, op.c_str(), threads);
      },
      [deferred, ab_ref, n, k](Napi::Env env, const Status& status) {
        if (!status.ok())
          deferred->Reject(MakeError(env, status).Value());
        else
          deferred->Resolve(Napi::Uint16Array::New(env, static_cast<size_t>(n * k), ab_ref->Value(), 0));
        ab_ref->Reset();
      });
  return deferred->Promise();
}

// sparseMatmul(ctx, weight, x, bias?, out?) → NativeTensor
Napi::Value SparseMatmulBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = SparseMatmulArgs::kOpName;
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  WeightWrap* weight = ParseWeight(info[1], ctx, op, "sparse", kWeightExpected);
  const auto& format = static_cast<const SparseWeightFormat&>(weight->format());
  constexpr MatmulLimits limits = LimitsOf<SparseMatmulArgs>();
  MatmulOperands a = ParseMatmulOperands(info, ctx, op, 2, format.n(), format.k(), limits);

  // Each part on its own, not the vector: a copy of it was a heap block per op (op_launch.h).
  const std::vector<std::shared_ptr<Buffer>>& parts = weight->parts();
  std::shared_ptr<Buffer> bitmaps = parts.at(0), values = parts.at(1), offsets = parts.at(2);
  std::shared_ptr<Buffer> rows = parts.size() > 3 ? parts[3] : nullptr;
  std::shared_ptr<Buffer> xb = a.x->buffer(), out = a.out;
  std::shared_ptr<Buffer> bb = a.bias ? a.bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  std::shared_ptr<const WeightFormat> keep = weight->format_ptr();
  const int64_t m = a.m;
  EnqueueOp(env, ctx, {bitmaps, values, offsets, rows, xb, bb}, out,
            [backend, bitmaps, values, offsets, rows, keep, xb, bb, out, m](LaunchInfo* launch) {
              SparseMatmulArgs args;
              args.weight = static_cast<const SparseWeightFormat&>(*keep).View(*bitmaps, *values, *offsets, rows.get());
              args.x = static_cast<const uint16_t*>(xb->ptr);
              args.bias = bb ? static_cast<const uint16_t*>(bb->ptr) : nullptr;
              args.y = static_cast<uint16_t*>(out->ptr);
              args.m = m;
              return backend->SparseMatmul(args, launch);
            });
  return a.out_object;
}

}  // namespace

void RegisterSparse(Napi::Env env, Napi::Object exports) {
  exports.Set("sparseEncode", Napi::Function::New(env, SparseEncodeBinding, "sparseEncode"));
  exports.Set("sparsePrune", Napi::Function::New(env, SparsePruneBinding, "sparsePrune"));
  exports.Set("sparseMatmul", Napi::Function::New(env, SparseMatmulBinding, "sparseMatmul"));
}

SPARQ_REGISTER_BINDING(RegisterSparse);

}  // namespace sparq::binding
