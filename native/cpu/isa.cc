// native/cpu/isa.cc: which SIMD path this CPU (and OS) can run, and the SPARQ_CPU_ISA override.
#include <cstring>
#include <string>

#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "sparq/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SPARQ_X86 1
#endif

namespace sparq::cpu {
namespace {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, popcnt = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool os_ymm = false;  // XCR0 has SSE+AVX state: the OS saves ymm registers on context switch
  bool os_zmm = false;  // XCR0 also has opmask + both ZMM halves
  bool avx512vnni = false;  // CPUID.(7,0):ECX[11], EVEX vpdpbusd
  bool avx_vnni = false;    // CPUID.(7,1):EAX[4], VEX (256-bit) vpdpbusd
  bool avx512vbmi = false;   // CPUID.(7,0):ECX[1], vpermb
  bool avx512vbmi2 = false;  // CPUID.(7,0):ECX[6], vpexpandw / vpcompressw
  bool avx512fp16 = false;   // CPUID.(7,0):EDX[23], fp16 arithmetic (vmulph)
  bool amd = false;          // vendor "AuthenticAMD": where two exact kernels rank by vendor
  bool intel = false;        // vendor "GenuineIntel"
  bool amx_bf16 = false;     // CPUID.(7,0):EDX[24] AMX-TILE and EDX[22] AMX-BF16
  bool amx_int8 = false;     // CPUID.(7,0):EDX[24] AMX-TILE and EDX[25] AMX-INT8
  bool os_amx = false;       // XCR0 has XTILECFG and XTILEDATA: the OS can save tile state
  int family = 0;            // CPUID.1 display family (base, plus extended where base is 0xF)
};

#if defined(SPARQ_X86)
// xgetbv needs the xsave target only for this one instruction; callers check OSXSAVE first.
__attribute__((target("xsave"))) uint64_t ReadXcr0() { return _xgetbv(0); }
#endif

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(SPARQ_X86)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
    char vendor[13] = {};
    std::memcpy(vendor, &ebx, 4);
    std::memcpy(vendor + 4, &edx, 4);
    std::memcpy(vendor + 8, &ecx, 4);
    f.amd = std::strcmp(vendor, "AuthenticAMD") == 0;
    f.intel = std::strcmp(vendor, "GenuineIntel") == 0;
  }
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const int base_family = int((eax >> 8) & 0xF);
  f.family = base_family == 0xF ? base_family + int((eax >> 20) & 0xFF) : base_family;
  constexpr unsigned kLeaf1EcxFma = 1u << 12, kLeaf1EcxPopcnt = 1u << 23, kLeaf1EcxOsxsave = 1u << 27,
                     kLeaf1EcxAvx = 1u << 28, kLeaf1EcxF16c = 1u << 29;
  const bool osxsave = (ecx & kLeaf1EcxOsxsave) != 0;
  const bool avx = (ecx & kLeaf1EcxAvx) != 0;
  f.fma = (ecx & kLeaf1EcxFma) != 0;
  f.f16c = (ecx & kLeaf1EcxF16c) != 0;
  f.popcnt = (ecx & kLeaf1EcxPopcnt) != 0;
  if (osxsave) {
    const uint64_t xcr0 = ReadXcr0();
    constexpr uint64_t kXcr0Ymm = 0x6;   // SSE | AVX state
    constexpr uint64_t kXcr0Zmm = 0xE0;  // opmask | ZMM_Hi256 | Hi16_ZMM
    f.os_ymm = avx && (xcr0 & kXcr0Ymm) == kXcr0Ymm;
    f.os_zmm = f.os_ymm && (xcr0 & kXcr0Zmm) == kXcr0Zmm;
    constexpr uint64_t kXcr0Tiles = 0x60000;  // XTILECFG | XTILEDATA
    f.os_amx = (xcr0 & kXcr0Tiles) == kXcr0Tiles;
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = (ebx & (1u << 5)) != 0;
    f.avx512f = (ebx & (1u << 16)) != 0;
    f.avx512dq = (ebx & (1u << 17)) != 0;
    f.avx512bw = (ebx & (1u << 30)) != 0;
    f.avx512vl = (ebx & (1u << 31)) != 0;
    f.avx512vnni = (ecx & (1u << 11)) != 0;
    f.avx512vbmi = (ecx & (1u << 1)) != 0;
    f.avx512vbmi2 = (ecx & (1u << 6)) != 0;
    f.avx512fp16 = (edx & (1u << 23)) != 0;
    f.amx_bf16 = (edx & (1u << 24)) != 0 && (edx & (1u << 22)) != 0;
    f.amx_int8 = (edx & (1u << 24)) != 0 && (edx & (1u << 25)) != 0;
  }
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx_vnni = (eax & (1u << 4)) != 0;
#endif
  return f;
}

const CpuFeatures& Features() {
  static const CpuFeatures features = Detect();
  return features;
}

// "" when `isa` can run, else the features it lacks, e.g. "AVX-512BW, OS ZMM state".
std::string MissingFeatures(Isa isa) {
  const CpuFeatures& f = Features();
  std::string missing;
  auto need = [&missing](bool have, const char* name) {
    if (have) return;
    if (!missing.empty()) missing += ", ";
    missing += name;
  };
  switch (isa) {
    case Isa::kScalar:
      break;
    case Isa::kAvx512:
      need(f.avx512f, "AVX-512F");
      need(f.avx512bw, "AVX-512BW");
      need(f.avx512vl, "AVX-512VL");
      need(f.avx512dq, "AVX-512DQ");
      need(f.os_zmm, "OS-enabled ZMM state");
      [[fallthrough]];  // the AVX-512 files also use FMA, F16C and POPCNT
    case Isa::kAvx2:
      need(f.avx2, "AVX2");
      need(f.fma, "FMA");
      need(f.f16c, "F16C");
      need(f.popcnt, "POPCNT");  // sparse_cpu_avx2.cc counts bitmap bits; every AVX2 CPU has it
      need(f.os_ymm, "OS-enabled YMM state");
      break;
  }
  return missing;
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "scalar";
}

bool HasAvx512Vnni() {
  static const bool has = Features().avx512vnni && IsaSupported(Isa::kAvx512);
  return has;
}

bool HasAvxVnni() {
  static const bool has = Features().avx_vnni && IsaSupported(Isa::kAvx2);
  return has;
}

bool HasAvx512Vbmi() {
  static const bool has = Features().avx512vbmi && IsaSupported(Isa::kAvx512);
  return has;
}

bool HasAvx512Vbmi2() {
  static const bool has = Features().avx512vbmi2 && IsaSupported(Isa::kAvx512);
  return has;
}

bool HasAvx512Fp16() {
  static const bool has = Features().avx512fp16 && IsaSupported(Isa::kAvx512);
  return has;
}

// Linux also keeps tile data off for a process until it asks (arch_prctl ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA; a tile instruction before that is a SIGILL). Asked once, here, for every
// AMX kernel: tiles with their OS state and this process's permission.
namespace {
bool TileDataGranted() {
  static const bool granted = [] {
    const CpuFeatures& f = Features();
    if (!(f.amx_bf16 || f.amx_int8) || !f.os_amx || !IsaSupported(Isa::kAvx512)) return false;
#if defined(SPARQ_X86) && defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return granted;
}
}  // namespace

bool HasAmxBf16() {
  static const bool has = Features().amx_bf16 && TileDataGranted();
  return has;
}

bool HasAmxInt8() {
  static const bool has = Features().amx_int8 && TileDataGranted();
  return has;
}

bool IsAmdCpu() { return Features().amd; }

bool IsIntelCpu() { return Features().intel; }

int CpuFamily() { return Features().family; }

int L1dWays() {
#if defined(_SC_LEVEL1_DCACHE_ASSOC)  // glibc; other C libraries do not say
  static const int ways = [] {
    const long v = sysconf(_SC_LEVEL1_DCACHE_ASSOC);
    return v > 0 && v < 1024 ? static_cast<int>(v) : 0;
  }();
  return ways;
#else
  return 0;
#endif
}

bool IsaSupported(Isa isa) {
  // Dispatchers ask on every call, so answer from a table built once.
  static const bool supported[] = {true, MissingFeatures(Isa::kAvx2).empty(),
                                   MissingFeatures(Isa::kAvx512).empty()};
  const int i = static_cast<int>(isa);
  return i >= 0 && i < 3 && supported[i];
}

Isa BestSupportedIsa() {
  if (IsaSupported(Isa::kAvx512)) return Isa::kAvx512;
  if (IsaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Status ResolveIsa(const char* forced, Isa* out, const char* source) {
  const bool is_env = std::strcmp(source, "SPARQ_CPU_ISA") == 0;
  const std::string named = is_env ? std::string("SPARQ_CPU_ISA=") : std::string("open: cpuIsa '");
  if (forced == nullptr || forced[0] == '\0') {
    *out = BestSupportedIsa();
    return Status::Ok();
  }
  constexpr Isa kAll[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};
  for (Isa isa : kAll) {
    if (std::strcmp(forced, IsaName(isa)) != 0) continue;
    const std::string missing = MissingFeatures(isa);
    if (!missing.empty()) {
      const char* needs = isa == Isa::kAvx512 ? "AVX-512F/BW/VL/DQ" : "AVX2/FMA/F16C/POPCNT";
      return Status::Error(StatusCode::kBackend,
                           named + IsaName(isa) + (is_env ? "" : "'") + " needs " + needs +
                               ", which this CPU lacks (missing " + missing + "); " +
                               (is_env ? "unset SPARQ_CPU_ISA" : "leave cpuIsa unset") + " to use " +
                               IsaName(BestSupportedIsa()),
                           source);
    }
    *out = isa;
    return Status::Ok();
  }
  return Status::Error(StatusCode::kArgument,
                       std::string(is_env ? "SPARQ_CPU_ISA" : "open: cpuIsa") +
                           " must be one of scalar, avx2, avx512, got \"" + forced + "\"",
                       source);
}

}  // namespace sparq::cpu
