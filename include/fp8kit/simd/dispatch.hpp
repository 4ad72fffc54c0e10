#pragma once
// Picks the kernel for the running CPU: simd::active_isa() (CPUID + XGETBV once per process,
// or force_isa()), then the saturation mode and scaling kind as template arguments.
// Callers (bulk.hpp) check arguments and set the floating-point environment; these do neither.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../convert.hpp"
#include "../detail/fp_env.hpp"
#include "../fp8.hpp"
#include "../half.hpp"
#include "amax.hpp"
#include "codec.hpp"
#include "cpu.hpp"
#include "kernels.hpp"
#include "x86_avx2.hpp"
#include "x86_avx512.hpp"

#if FP8KIT_X86_DISPATCH
#include <immintrin.h>
#endif

namespace fp8kit::detail {

template <class T>
inline constexpr bool is_fp8_v = false;
template <int E, int M, encoding Enc, int Bias>
inline constexpr bool is_fp8_v<fp8<E, M, Enc, Bias>> = true;

template <class T>
inline constexpr bool is_16bit_v = std::is_same_v<T, bfloat16> || std::is_same_v<T, half>;

/// Test hook: false makes the avx512 kernel set skip its VBMI decoders.
inline std::atomic<bool> vbmi_enabled{true};

inline bool use_vbmi() noexcept {
  return simd::cpu_has_vbmi() && vbmi_enabled.load(std::memory_order_relaxed);
}

// ---- Scalar reference loops (the definitions the kernels must match) -------------------------
// Under -ffast-math (no signed zeros) GCC folds convert<float>(convert<F>(v)) for a zero v into
// +0, and may do the same to -0 * s; codes and decoded values therefore pass through opaque
// barriers between the steps.

/// q, hidden from the optimiser.
template <class F>
inline F opaque_code(F q) noexcept {
  auto bits = q.bits();
#if defined(__GNUC__) || defined(__clang__)
  __asm__ volatile("" : "+r"(bits));
#endif
  return F::from_bits(bits);
}

/// The scale of element i (kinds div, mul, each and segments).
inline float scale_of(const scale_arg& sc, std::size_t i) noexcept {
  switch (sc.kind) {
    case scale_kind::each: return sc.each[i];
    case scale_kind::segments: return sc.each[(sc.first + i) / sc.segment];
    default: return sc.value;  // mul: multiplying by the exact inverse equals this division
  }
}

template <class F, class Src>
void encode_scalar(const Src* src, F* dst, std::size_t n, saturation s,
                   const scale_arg& sc) noexcept {
  if (sc.kind == scale_kind::none) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = fp8kit::convert<F>(src[i], s);
  } else if constexpr (std::is_same_v<Src, float>) {
    for (std::size_t i = 0; i < n; ++i)
      dst[i] = fp8kit::convert<F>(src[i] / opaque(scale_of(sc, i)), s);
  }
}

template <class F>
void decode_scalar(const F* src, float* dst, std::size_t n, const scale_arg& sc) noexcept {
  if (sc.kind == scale_kind::none) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = fp8kit::convert<float>(src[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      dst[i] = opaque(fp8kit::convert<float>(src[i])) * scale_of(sc, i);
  }
}

template <class F>
void fake_quantize_scalar(const float* x, float* y, std::size_t n, saturation s,
                          const scale_arg& sc) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float scale = scale_of(sc, i);
    const F q = opaque_code(fp8kit::convert<F>(x[i] / opaque(scale), s));
    y[i] = opaque(fp8kit::convert<float>(q)) * scale;
  }
}

// ---- Dispatch ------------------------------------------------------------------------------

/// Calls f(std::integral_constant<scale_kind, K>{}) for the runtime kind k, which must be one of
/// Kinds (only those are instantiated).
template <scale_kind... Kinds, class Fn>
void with_kind(scale_kind k, Fn&& f) {
  const bool called =
      ((k == Kinds && (f(std::integral_constant<scale_kind, Kinds>{}), true)) || ...);
  static_cast<void>(called);
}

/// Calls f(std::integral_constant<saturation, S>{}, std::integral_constant<scale_kind, K>{}).
template <scale_kind... Kinds, class Fn>
void with_modes(saturation s, scale_kind k, Fn&& f) {
  if (s == saturation::finite) {
    with_kind<Kinds...>(
        k, [&](auto kind) { f(std::integral_constant<saturation, saturation::finite>{}, kind); });
  } else {
    with_kind<Kinds...>(
        k, [&](auto kind) { f(std::integral_constant<saturation, saturation::none>{}, kind); });
  }
}

template <class F>
using storage_of = typename F::storage;

/// Scale kinds every kernel set implements.
template <scale_kind K>
inline constexpr bool portable_kind = !is_segment_kind(K);

/// Runs call(offset, length, scale_arg of kind div or mul) once per segment of a segment-kind
/// scale_arg: the fallback for kernels without segment kinds.
template <class Call>
void for_each_segment(std::size_t n, const scale_arg& s, Call call) {
  std::size_t at = 0, j = 0;
  for (std::size_t len = s.segment - s.first; at < n; at += len, len = s.segment, ++j) {
    // inverse_segments: each[j] is a power of two, so 1 / each[j] is its scale, exactly.
    scale_arg part = s.kind == scale_kind::inverse_segments
                         ? scale_arg{scale_kind::mul, 1.0f / opaque(s.each[j]), s.each[j]}
                         : divide_by(s.each[j]);
    part.stream = s.stream;
    call(at, n - at < len ? n - at : len, part);
  }
}

/// Orders earlier non-temporal stores before later stores.
inline void store_fence() noexcept {
#if FP8KIT_X86_DISPATCH
  _mm_sfence();
#endif
}

/// Non-temporal stores for an operation made of many bulk calls: on() when the whole operation
/// moves at least stream_threshold bytes (read plus written), as one call of that size would
/// stream; its bulk calls then get scale_arg::stream, and the fence that orders their stores
/// comes once, when the operation ends (or at fence(), before it overwrites streamed output).
class operation_stream {
 public:
  explicit operation_stream(std::size_t bytes) noexcept : on_(bytes >= stream_threshold) {}
  operation_stream(const operation_stream&) = delete;
  operation_stream& operator=(const operation_stream&) = delete;
  ~operation_stream() { fence(); }

  bool on() const noexcept { return on_; }
  void fence() const noexcept {
    if (on_) store_fence();
  }

 private:
  bool on_;
};

/// True when the active kernels take kind segments themselves, and fuse amax scans.
inline bool native_segments() noexcept {
  return FP8KIT_X86_DISPATCH && simd::active_isa() == simd::isa::avx512;
}

/// Whether a kernel for sc fuses its scan: AVX-512, a segment kind and a float source.
template <class Src>
bool fuses_scan(const scale_arg& sc) noexcept {
  return std::is_same_v<Src, float> && is_segment_kind(sc.kind) && native_segments();
}

/// s without its scan, which runs first as a separate amax pass: for kernels that do not fuse
/// scans (the result is the same).
inline scale_arg separate_scan(const scale_arg& s) noexcept {
  amax_segments_kernel(simd::active_isa())(s.scan.x, s.scan.n, s.scan.segment, s.scan.acc);
  scale_arg t = s;
  t.scan = amax_scan{};
  return t;
}

template <class F, class Src, scale_kind... Kinds>
void encode_kinds(const Src* src, F* dst, std::size_t n, saturation s, const scale_arg& sc) {
  using T = typename F::traits;
  static_cast<void>(sizeof(T));  // unused when every kernel is compiled out
  [[maybe_unused]] auto* out = reinterpret_cast<storage_of<F>*>(dst);
  switch (simd::active_isa()) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512:
      return with_modes<Kinds...>(s, sc.kind, [&](auto sat, auto kind) {
        constexpr saturation S = decltype(sat)::value;
        constexpr scale_kind K = decltype(kind)::value;
        if constexpr (is_segment_kind(K)) {
          if (sc.nan_free) return avx512::encode<T, S, K, true>(src, out, n, sc);
        }
        avx512::encode<T, S, K, false>(src, out, n, sc);
      });
    case simd::isa::avx2:
      return with_modes<Kinds...>(s, sc.kind, [&](auto sat, auto kind) {
        if constexpr (portable_kind<decltype(kind)::value>) {
          avx2::encode<T, decltype(sat)::value, decltype(kind)::value>(src, out, n, sc);
        }
      });
#endif
#if FP8KIT_HAS_XSIMD && FP8KIT_X86_DISPATCH
    case simd::isa::sse2:
      return with_modes<Kinds...>(s, sc.kind, [&](auto sat, auto kind) {
        if constexpr (portable_kind<decltype(kind)::value>) {
          generic::encode_kernel<xsimd::sse2, T, decltype(sat)::value, decltype(kind)::value>(
              src, out, n, sc);
        }
      });
#endif
#if FP8KIT_HAS_XSIMD && !FP8KIT_X86_DISPATCH
    case simd::isa::neon:
      return with_modes<Kinds...>(s, sc.kind, [&](auto sat, auto kind) {
        if constexpr (portable_kind<decltype(kind)::value>) {
          generic::encode_kernel<xsimd::default_arch, T, decltype(sat)::value,
                                 decltype(kind)::value>(src, out, n, sc);
        }
      });
#endif
    default: break;
  }
  encode_scalar(src, dst, n, s, sc);
}

/// dst[i] = F(scaled src[i]): Src is float (any scaling) or bfloat16 / half (scale_kind::none);
/// F is an fp8 type, bfloat16 or half. Segments = false (the bulk API: no segment kinds) leaves
/// the segment-kind kernels, the largest, uninstantiated.
template <bool Segments = true, class F, class Src>
void encode_any(const Src* src, F* dst, std::size_t n, saturation s, const scale_arg& sc) {
  if (sc.scan.n != 0 && !fuses_scan<Src>(sc)) {
    return encode_any<Segments>(src, dst, n, s, separate_scan(sc));
  }
  if constexpr (std::is_same_v<Src, float>) {
    if (is_segment_kind(sc.kind) && !native_segments()) {
      return for_each_segment(n, sc, [&](std::size_t at, std::size_t len, const scale_arg& part) {
        encode_any<Segments>(src + at, dst + at, len, s, part);
      });
    }
    if constexpr (Segments) {
      encode_kinds<F, Src, scale_kind::none, scale_kind::div, scale_kind::mul, scale_kind::each,
                   scale_kind::segments, scale_kind::inverse_segments>(src, dst, n, s, sc);
    } else {
      encode_kinds<F, Src, scale_kind::none, scale_kind::div, scale_kind::mul, scale_kind::each>(
          src, dst, n, s, sc);
    }
  } else {
    encode_kinds<F, Src, scale_kind::none>(src, dst, n, s, sc);
  }
}

/// dst[i] = float(src[i]) times the scale (kind none, mul or each); F is fp8, bfloat16 or half.
template <class F>
void decode_any(const F* src, float* dst, std::size_t n, const scale_arg& sc) {
  using T = typename F::traits;
  static_cast<void>(sizeof(T));
  [[maybe_unused]] const auto* in = reinterpret_cast<const storage_of<F>*>(src);
  [[maybe_unused]] constexpr auto none = scale_kind::none, mul = scale_kind::mul,
                                  each = scale_kind::each;
  if (sc.kind == scale_kind::div) {  // decoding multiplies by the scale either way
    scale_arg times = sc;
    times.kind = scale_kind::mul;
    return decode_any(src, dst, n, times);
  }
  if (sc.kind == scale_kind::segments && !native_segments()) {
    return for_each_segment(n, sc, [&](std::size_t at, std::size_t len, const scale_arg& part) {
      decode_any(src + at, dst + at, len, part);
    });
  }
  switch (simd::active_isa()) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512:
      return with_kind<none, mul, each, scale_kind::segments>(sc.kind, [&](auto kind) {
        if constexpr (is_fp8_v<F>) {
          if (use_vbmi()) return avx512::decode_vbmi<F, decltype(kind)::value>(in, dst, n, sc);
        }
        avx512::decode<T, decltype(kind)::value>(in, dst, n, sc);
      });
    case simd::isa::avx2:
      return with_kind<none, mul, each>(
          sc.kind, [&](auto kind) { avx2::decode<T, decltype(kind)::value>(in, dst, n, sc); });
#endif
#if FP8KIT_HAS_XSIMD && FP8KIT_X86_DISPATCH
    case simd::isa::sse2:
      return with_kind<none, mul, each>(sc.kind, [&](auto kind) {
        generic::decode_kernel<xsimd::sse2, T, decltype(kind)::value>(in, dst, n, sc);
      });
#endif
#if FP8KIT_HAS_XSIMD && !FP8KIT_X86_DISPATCH
    case simd::isa::neon:
      return with_kind<none, mul, each>(sc.kind, [&](auto kind) {
        generic::decode_kernel<xsimd::default_arch, T, decltype(kind)::value>(in, dst, n, sc);
      });
#endif
    default: break;
  }
  decode_scalar(src, dst, n, sc);
}

/// Chunk size of the two-pass paths (stack buffers).
inline constexpr std::size_t chunk = 512;

/// y[i] = float(F(scaled x[i])) times the scale (kind div, mul or each; segments unless
/// Segments = false); x == y allowed.
template <class F, bool Segments = true>
void fake_quantize_any(const float* x, float* y, std::size_t n, saturation s, const scale_arg& sc) {
  using T = typename F::traits;
  [[maybe_unused]] constexpr auto div = scale_kind::div, mul = scale_kind::mul,
                                  each = scale_kind::each;
  if (sc.scan.n != 0 && (codec_params<T>::integer_rounding || !fuses_scan<float>(sc))) {
    return fake_quantize_any<F, Segments>(x, y, n, s, separate_scan(sc));
  }
  if (sc.kind == scale_kind::segments &&
      (codec_params<T>::integer_rounding || !native_segments())) {
    return for_each_segment(n, sc, [&](std::size_t at, std::size_t len, const scale_arg& part) {
      fake_quantize_any<F, Segments>(x + at, y + at, len, s, part);
    });
  }
  if constexpr (codec_params<T>::integer_rounding) {
    // bfloat16: quantize a chunk, then dequantize it.
    for (std::size_t i = 0; i < n; i += chunk) {
      const std::size_t m = n - i < chunk ? n - i : chunk;
      F q[chunk];
      scale_arg part = sc;
      if (sc.kind == each) part.each = sc.each + i;
      encode_any<false>(x + i, q, m, s, part);
      if (part.kind == div) part.kind = mul;
      decode_any(q, y + i, m, part);
    }
    return;
  } else {
    switch (simd::active_isa()) {
#if FP8KIT_X86_DISPATCH
      case simd::isa::avx512: {
        const auto run = [&](auto sat, auto kind) {
          constexpr saturation S = decltype(sat)::value;
          constexpr scale_kind K = decltype(kind)::value;
          if constexpr (K == scale_kind::segments) {
            if (sc.nan_free) return avx512::fake_quantize<T, S, K, true>(x, y, n, sc);
          }
          avx512::fake_quantize<T, S, K, false>(x, y, n, sc);
        };
        if constexpr (Segments) {
          return with_modes<div, mul, each, scale_kind::segments>(s, sc.kind, run);
        } else {
          return with_modes<div, mul, each>(s, sc.kind, run);
        }
      }
      case simd::isa::avx2:
        return with_modes<div, mul, each>(s, sc.kind, [&](auto sat, auto kind) {
          avx2::fake_quantize<T, decltype(sat)::value, decltype(kind)::value>(x, y, n, sc);
        });
#endif
#if FP8KIT_HAS_XSIMD && FP8KIT_X86_DISPATCH
      case simd::isa::sse2:
        return with_modes<div, mul, each>(s, sc.kind, [&](auto sat, auto kind) {
          generic::fake_quantize_kernel<xsimd::sse2, T, decltype(sat)::value,
                                        decltype(kind)::value>(x, y, n, sc);
        });
#endif
#if FP8KIT_HAS_XSIMD && !FP8KIT_X86_DISPATCH
      case simd::isa::neon:
        return with_modes<div, mul, each>(s, sc.kind, [&](auto sat, auto kind) {
          generic::fake_quantize_kernel<xsimd::default_arch, T, decltype(sat)::value,
                                        decltype(kind)::value>(x, y, n, sc);
        });
#endif
      default: break;
    }
    fake_quantize_scalar<F>(x, y, n, s, sc);
  }
}

/// fp8 -> bfloat16 or half (To), with To's saturation for inf (exact otherwise).
template <class F, class To>
void widen_any(const F* src, To* dst, std::size_t n, saturation s) {
#if FP8KIT_X86_DISPATCH
  if (simd::active_isa() == simd::isa::avx512 && use_vbmi()) {
    const auto* in = reinterpret_cast<const std::uint8_t*>(src);
    auto* out = reinterpret_cast<std::uint16_t*>(dst);
    if (s == saturation::finite) {
      avx512::widen_vbmi<F, To, saturation::finite>(in, out, n);
    } else {
      avx512::widen_vbmi<F, To, saturation::none>(in, out, n);
    }
    return;
  }
#endif
  if (simd::active_isa() == simd::isa::scalar) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = fp8kit::convert<To>(src[i], s);
    return;
  }
  // Decode a chunk to float (exact), then encode it to To (exact, or saturates an inf).
  for (std::size_t i = 0; i < n; i += chunk) {
    const std::size_t m = n - i < chunk ? n - i : chunk;
    float f[chunk];
    decode_any(src + i, f, m, scale_arg{});
    encode_any<false>(f, dst + i, m, s, scale_arg{});
  }
}

}  // namespace fp8kit::detail
