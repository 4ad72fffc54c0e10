#pragma once
// Shared by the fuzz targets: a selector byte picks the kernel every call of this input runs.

#include <cstdint>
#include <fp8kit/simd/cpu.hpp>

namespace fuzz {

/// Forces the instruction set named by `selector` (0: the default dispatch, then scalar, SSE2,
/// AVX2, AVX-512, NEON); one this CPU or build lacks leaves the default.
inline void use_kernel(unsigned selector) {
  using fp8kit::simd::isa;
  constexpr isa kernels[] = {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::neon};
  fp8kit::simd::reset_isa();
  const unsigned k = selector % 6;
  if (k != 0 && fp8kit::simd::isa_supported(kernels[k - 1]))
    fp8kit::simd::force_isa(kernels[k - 1]);
}

}  // namespace fuzz
