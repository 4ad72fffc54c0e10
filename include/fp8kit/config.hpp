#pragma once
// The only place with feature tests.

#include <cstdint>
#include <cstring>

// Compile-time bit casts. GCC >= 11 and Clang >= 9 have the builtin in C++17 mode too.
#if defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
#define FP8KIT_HAS_BUILTIN_BIT_CAST 1
#endif
#endif
#ifndef FP8KIT_HAS_BUILTIN_BIT_CAST
#define FP8KIT_HAS_BUILTIN_BIT_CAST 0
#endif

#if FP8KIT_HAS_BUILTIN_BIT_CAST
#define FP8KIT_CONSTEXPR_BITCAST constexpr
#else
#define FP8KIT_CONSTEXPR_BITCAST inline
#endif

// C++20 std::span overloads.
#if defined(__cplusplus) && __cplusplus >= 202002L && __has_include(<span>)
#define FP8KIT_HAS_SPAN 1
#else
#define FP8KIT_HAS_SPAN 0
#endif

// SIMD: FP8KIT_FORCE_SCALAR disables every vector kernel (compile-time).
// FP8KIT_NO_XSIMD (or xsimd not installed) leaves only the intrinsic kernels.
#if !defined(FP8KIT_FORCE_SCALAR) && !defined(FP8KIT_NO_XSIMD) && __has_include(<xsimd/xsimd.hpp>)
#define FP8KIT_HAS_XSIMD 1
#else
#define FP8KIT_HAS_XSIMD 0
#endif

#if !defined(FP8KIT_FORCE_SCALAR) && (defined(__x86_64__) || defined(_M_X64)) && \
    (defined(__GNUC__) || defined(__clang__))
#define FP8KIT_X86_DISPATCH 1
#else
#define FP8KIT_X86_DISPATCH 0
#endif

namespace fp8kit::detail {

/// Reinterprets the bits of `from` as `To` (same size, trivially copyable).
template <class To, class From>
FP8KIT_CONSTEXPR_BITCAST To bit_cast(const From& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs equal sizes");
#if FP8KIT_HAS_BUILTIN_BIT_CAST
  return __builtin_bit_cast(To, from);
#else
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
#endif
}

}  // namespace fp8kit::detail
