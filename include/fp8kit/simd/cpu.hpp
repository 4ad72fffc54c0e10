#pragma once
// CPU feature detection (CPUID + XGETBV, once per process) and the instruction-set choice the
// bulk kernels dispatch on. Other layers (e.g. a SIMD amax) reuse isa / active_isa().
//
// A binary built without any -march flag still runs the AVX-512 kernels on an AVX-512 CPU: the
// kernels carry function target attributes, and these functions pick one at run time.

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../config.hpp"

#if FP8KIT_X86_DISPATCH
#include <cpuid.h>
#endif

namespace fp8kit::simd {

/// Instruction sets with a bulk kernel. `avx512` needs AVX-512 F, BW, VL and DQ (VBMI is used
/// for table decodes when present); `avx2` needs AVX2 and FMA; `sse2` is the x86-64 baseline
/// (generic xsimd kernel); `neon` is the generic xsimd kernel on ARM builds.
enum class isa { scalar, sse2, avx2, avx512, neon };

/// Lower-case name ("scalar", "sse2", "avx2", "avx512", "neon").
constexpr const char* isa_name(isa i) noexcept {
  switch (i) {
    case isa::scalar: return "scalar";
    case isa::sse2: return "sse2";
    case isa::avx2: return "avx2";
    case isa::avx512: return "avx512";
    case isa::neon: return "neon";
  }
  return "?";
}

/// What this CPU and operating system support (all false off x86).
struct cpu_features {
  bool sse2 = false;
  bool avx2 = false;    // AVX2 + FMA, with the OS saving YMM state
  bool avx512 = false;  // F + BW + VL + DQ, with the OS saving ZMM and mask state
  bool vbmi = false;    // AVX512_VBMI (vpermb, vpermt2b), only set together with avx512
  bool f16c = false;
  bool bmi2 = false;
};

}  // namespace fp8kit::simd

namespace fp8kit::detail {

#if FP8KIT_X86_DISPATCH
inline std::uint64_t xgetbv0() noexcept {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
  return (std::uint64_t{hi} << 32) | lo;
}
#endif

inline simd::cpu_features detect_cpu() noexcept {
  simd::cpu_features f;
#if FP8KIT_X86_DISPATCH
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
  f.sse2 = (d >> 26) & 1u;
  const bool osxsave = (c >> 27) & 1u;
  const bool avx = (c >> 28) & 1u;
  const bool fma = (c >> 12) & 1u;
  f.f16c = (c >> 29) & 1u;
  const std::uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_state = (xcr0 & 0x6u) == 0x6u;    // SSE and AVX state
  const bool zmm_state = (xcr0 & 0xE6u) == 0xE6u;  // + opmask, ZMM_Hi256, Hi16_ZMM
  unsigned max_leaf = 0;
  __cpuid(0, max_leaf, b, c, d);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = (b >> 5) & 1u;
    f.bmi2 = (b >> 8) & 1u;
    const bool avx512f = (b >> 16) & 1u;
    const bool avx512dq = (b >> 17) & 1u;
    const bool avx512bw = (b >> 30) & 1u;
    const bool avx512vl = (b >> 31) & 1u;
    const bool avx512vbmi = (c >> 1) & 1u;
    f.avx2 = avx && avx2 && fma && ymm_state;
    f.avx512 = f.avx2 && avx512f && avx512dq && avx512bw && avx512vl && zmm_state;
    f.vbmi = f.avx512 && avx512vbmi;
  }
  f.f16c = f.f16c && ymm_state;
#endif
  return f;
}

/// True if this build has a kernel for `i` (independent of the CPU).
constexpr bool isa_compiled(simd::isa i) noexcept {
  using simd::isa;
#if defined(FP8KIT_FORCE_SCALAR)
  return i == isa::scalar;
#else
  switch (i) {
    case isa::scalar: return true;
    case isa::sse2: return FP8KIT_X86_DISPATCH && FP8KIT_HAS_XSIMD;
    case isa::avx2:
    case isa::avx512: return FP8KIT_X86_DISPATCH;
    case isa::neon:
#if FP8KIT_HAS_XSIMD && (defined(__ARM_NEON) || defined(__aarch64__))
      return true;
#else
      return false;
#endif
  }
  return false;
#endif
}

// -1: not chosen yet (best_isa() on first use); otherwise an isa value.
inline std::atomic<int> active_isa_state{-1};

}  // namespace fp8kit::detail

namespace fp8kit::simd {

/// The CPU's features, detected once per process (thread-safe).
inline const cpu_features& cpu() noexcept {
  static const cpu_features features = detail::detect_cpu();
  return features;
}

/// True if this CPU supports AVX512_VBMI (and the rest of the `avx512` set).
inline bool cpu_has_vbmi() noexcept { return cpu().vbmi; }

/// True if this build has a kernel for `i` and this CPU can run it.
inline bool isa_supported(isa i) noexcept {
  if (!detail::isa_compiled(i)) return false;
  const cpu_features& f = cpu();
  switch (i) {
    case isa::scalar: return true;
    case isa::sse2: return f.sse2;
    case isa::avx2: return f.avx2;
    case isa::avx512: return f.avx512;
    case isa::neon: return true;
  }
  return false;
}

/// The best kernel set this CPU supports and this build contains (computed once).
/// With FP8KIT_FORCE_SCALAR defined this is always isa::scalar.
inline isa best_isa() noexcept {
  static const isa best = [] {
    for (isa i : {isa::avx512, isa::avx2, isa::sse2, isa::neon}) {
      if (isa_supported(i)) return i;
    }
    return isa::scalar;
  }();
  return best;
}

/// The kernel set the bulk functions use now: best_isa() unless force_isa() chose another.
inline isa active_isa() noexcept {
  const int v = detail::active_isa_state.load(std::memory_order_relaxed);
  return v < 0 ? best_isa() : static_cast<isa>(v);
}

/// Makes the bulk functions use `i` from now on (a test and benchmark hook; affects all
/// threads). Throws std::invalid_argument if this build or CPU cannot run `i`.
inline void force_isa(isa i) {
  if (!isa_supported(i)) {
    throw std::invalid_argument(std::string("fp8kit::simd::force_isa: ") + isa_name(i) +
                                " is not supported by this CPU or build");
  }
  detail::active_isa_state.store(static_cast<int>(i), std::memory_order_relaxed);
}

/// Undoes force_isa(): back to best_isa().
inline void reset_isa() noexcept { detail::active_isa_state.store(-1, std::memory_order_relaxed); }

}  // namespace fp8kit::simd
