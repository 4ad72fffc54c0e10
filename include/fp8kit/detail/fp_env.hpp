#pragma once
// Runs bulk kernels in the default floating-point environment (round to nearest, no DAZ/FTZ),
// so results never depend on the caller's MXCSR, and restores the caller's state afterwards.

#include "../config.hpp"

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define FP8KIT_HAS_MXCSR 1
#else
#define FP8KIT_HAS_MXCSR 0
#endif

namespace fp8kit::detail {

class default_fp_env {
 public:
#if FP8KIT_HAS_MXCSR
  // 0x1F80: all exceptions masked, round to nearest, flush-to-zero and denormals-are-zero off.
  default_fp_env() noexcept : saved_(_mm_getcsr()) {
    if ((saved_ & ~kFlags) != kDefault) _mm_setcsr(kDefault | (saved_ & kFlags));
  }
  ~default_fp_env() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kDefault = 0x1F80u;
  static constexpr unsigned kFlags = 0x3Fu;  // sticky exception flags: keep the caller's
  unsigned saved_;
#else
  default_fp_env() noexcept = default;
#endif
  default_fp_env(const default_fp_env&) = delete;
  default_fp_env& operator=(const default_fp_env&) = delete;
};

/// Hides a value from the optimiser so -ffast-math (reciprocal math) cannot replace a division
/// by it with a multiplication by its reciprocal.
template <class T>
inline T opaque(T v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  asm volatile("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
  asm volatile("" : "+w"(v));
#elif defined(__GNUC__) || defined(__clang__)
  asm volatile("" : "+m"(v));
#endif
  return v;
}

}  // namespace fp8kit::detail
