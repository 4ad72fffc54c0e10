#pragma once
// amax kernels: max |x| as an unsigned integer max over the float bit patterns with the sign
// cleared. |x| orders like those bits, and every NaN pattern (0x7F800001..0x7FFFFFFF) sorts above
// inf, so one integer max gives the exact result, NaN included (the NaN with the largest payload),
// in any order of evaluation: every kernel equals the scalar loop bit for bit. A float max
// (maxps) would not: it returns its second operand when either one is NaN.
//
// Kernels: scalar (the reference), xsimd (sse2 on x86, neon on ARM), and AVX2 / AVX-512
// intrinsics behind function target attributes, chosen at run time by simd::active_isa().
// Also the segment fill the block-wise and MX code uses to expand block scales to a row.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../config.hpp"
#include "codec.hpp"
#include "cpu.hpp"

#if FP8KIT_HAS_XSIMD
#include <xsimd/xsimd.hpp>
#endif
#if FP8KIT_X86_DISPATCH
#include <immintrin.h>
#endif

namespace fp8kit::detail {

inline constexpr std::uint32_t float_abs_mask = 0x7FFFFFFFu;

/// The bits of x[i] with the sign cleared (memcpy: no aliasing of float storage as integers).
inline std::uint32_t abs_bits(const float* x) noexcept {
  std::uint32_t u;
  std::memcpy(&u, x, sizeof u);
  return u & float_abs_mask;
}

/// Reference: max over i of abs_bits(x + i); 0 for n == 0.
inline std::uint32_t amax_bits_scalar(const float* x, std::size_t n) noexcept {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = abs_bits(x + i);
    m = a > m ? a : m;
  }
  return m;
}

/// Reference: acc[j] = max(acc[j], amax of x[j * seg, min((j + 1) * seg, n))): the amax of
/// every segment (block) of a row, merged into one accumulator per segment. seg > 0.
inline void amax_segments_scalar(const float* x, std::size_t n, std::size_t seg,
                                 std::uint32_t* acc) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++acc) {
    const std::uint32_t m = amax_bits_scalar(x + i, n - i < seg ? n - i : seg);
    *acc = m > *acc ? m : *acc;
  }
}

/// out[i] = v[i / seg] for i < n: one value per segment, expanded (block scales to a row of
/// element-wise scales). seg > 0.
inline void fill_segments_scalar(const float* v, std::size_t n, std::size_t seg,
                                 float* out) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++v) {
    const std::size_t end = n - i < seg ? n : i + seg;
    for (std::size_t k = i; k < end; ++k) out[k] = *v;
  }
}

/// Reference: acc[i] = max(acc[i], abs_bits(x + i)) (column-wise amax over rows).
inline void amax_accumulate_scalar(const float* x, std::uint32_t* acc, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = abs_bits(x + i);
    acc[i] = a > acc[i] ? a : acc[i];
  }
}

#if FP8KIT_HAS_XSIMD
// Portable kernels. Signed 32-bit max is exact here: every masked pattern is <= 0x7FFFFFFF, and
// signed max is one instruction on SSE2-era xsimd paths where unsigned max is emulated.
template <class Arch>
std::uint32_t amax_bits_xsimd(const float* x, std::size_t n) noexcept {
  using fb = xsimd::batch<float, Arch>;
  using ib = xsimd::batch<std::int32_t, Arch>;
  constexpr std::size_t lanes = fb::size;
  const ib mask(static_cast<std::int32_t>(float_abs_mask));
  ib m0(0), m1(0), m2(0), m3(0);
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {  // four accumulators hide the max latency
    m0 = xsimd::max(m0, xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i)) & mask);
    m1 = xsimd::max(m1, xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i + lanes)) & mask);
    m2 = xsimd::max(m2, xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i + 2 * lanes)) & mask);
    m3 = xsimd::max(m3, xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i + 3 * lanes)) & mask);
  }
  for (; i + lanes <= n; i += lanes) {
    m0 = xsimd::max(m0, xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i)) & mask);
  }
  m0 = xsimd::max(xsimd::max(m0, m1), xsimd::max(m2, m3));
  alignas(64) std::int32_t lane[lanes];
  m0.store_aligned(lane);
  std::uint32_t m = amax_bits_scalar(x + i, n - i);  // tail (< lanes elements)
  for (std::size_t k = 0; k < lanes; ++k) {
    const auto v = static_cast<std::uint32_t>(lane[k]);
    m = v > m ? v : m;
  }
  return m;
}

template <class Arch>
void amax_segments_xsimd(const float* x, std::size_t n, std::size_t seg,
                         std::uint32_t* acc) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++acc) {
    const std::uint32_t m = amax_bits_xsimd<Arch>(x + i, n - i < seg ? n - i : seg);
    *acc = m > *acc ? m : *acc;
  }
}

template <class Arch>
void amax_accumulate_xsimd(const float* x, std::uint32_t* acc, std::size_t n) noexcept {
  using fb = xsimd::batch<float, Arch>;
  using ib = xsimd::batch<std::int32_t, Arch>;
  constexpr std::size_t lanes = fb::size;
  const ib mask(static_cast<std::int32_t>(float_abs_mask));
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    // acc holds masked patterns (<= 0x7FFFFFFF), so reading it as int32 keeps the order.
    std::int32_t* a = reinterpret_cast<std::int32_t*>(acc + i);
    const ib v = xsimd::bitwise_cast<ib>(fb::load_unaligned(x + i)) & mask;
    xsimd::max(ib::load_unaligned(a), v).store_unaligned(a);
  }
  amax_accumulate_scalar(x + i, acc + i, n - i);
}
#endif  // FP8KIT_HAS_XSIMD

#if FP8KIT_X86_DISPATCH
// Loops index from x (x + i): the same loop over a bumped __m256i pointer ran at half the speed
// in L1 with g++ 12 (33 vs 65 Gelem/s on 64-byte-aligned data, Zen 5).
__attribute__((target("avx2"), always_inline)) inline __m256i load_avx2(const float* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

__attribute__((target("avx2"), always_inline)) inline std::uint32_t amax_body_avx2(
    const float* x, std::size_t n) noexcept {
  const __m256i mask = _mm256_set1_epi32(static_cast<int>(float_abs_mask));
  __m256i m0 = _mm256_setzero_si256(), m1 = m0, m2 = m0, m3 = m0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm256_max_epu32(m0, _mm256_and_si256(load_avx2(x + i), mask));
    m1 = _mm256_max_epu32(m1, _mm256_and_si256(load_avx2(x + i + 8), mask));
    m2 = _mm256_max_epu32(m2, _mm256_and_si256(load_avx2(x + i + 16), mask));
    m3 = _mm256_max_epu32(m3, _mm256_and_si256(load_avx2(x + i + 24), mask));
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_epu32(m0, _mm256_and_si256(load_avx2(x + i), mask));
  if (i < n) {  // masked load: lanes past the end are neither read nor faulted on
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)), lane);
    const __m256i v = _mm256_maskload_epi32(reinterpret_cast<const int*>(x + i), live);
    m1 = _mm256_max_epu32(m1, _mm256_and_si256(v, mask));
  }
  m0 = _mm256_max_epu32(_mm256_max_epu32(m0, m1), _mm256_max_epu32(m2, m3));
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(m0), _mm256_extracti128_si256(m0, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(m));
}

__attribute__((target("avx2"))) inline std::uint32_t amax_bits_avx2(const float* x,
                                                                    std::size_t n) noexcept {
  return amax_body_avx2(x, n);
}

__attribute__((target("avx2"))) inline void amax_segments_avx2(const float* x, std::size_t n,
                                                               std::size_t seg,
                                                               std::uint32_t* acc) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++acc) {
    const std::uint32_t m = amax_body_avx2(x + i, n - i < seg ? n - i : seg);
    *acc = m > *acc ? m : *acc;
  }
}

__attribute__((target("avx2"))) inline void fill_segments_avx2(const float* v, std::size_t n,
                                                               std::size_t seg,
                                                               float* out) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++v) {
    const std::size_t end = n - i < seg ? n : i + seg;
    const __m256 b = _mm256_set1_ps(*v);
    std::size_t k = i;
    for (; k + 8 <= end; k += 8) _mm256_storeu_ps(out + k, b);
    for (; k < end; ++k) out[k] = *v;
  }
}

__attribute__((target("avx2"))) inline void amax_accumulate_avx2(const float* x, std::uint32_t* acc,
                                                                 std::size_t n) noexcept {
  const __m256i mask = _mm256_set1_epi32(static_cast<int>(float_abs_mask));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_and_si256(load_avx2(x + i), mask);
    __m256i* a = reinterpret_cast<__m256i*>(acc + i);
    _mm256_storeu_si256(a, _mm256_max_epu32(_mm256_loadu_si256(a), v));
  }
  amax_accumulate_scalar(x + i, acc + i, n - i);
}

// _mm512_max_epu32 with an all-ones mask: the same instruction, without the
// _mm512_undefined_epi32() operand that g++ 12 reports as (maybe-)uninitialized.
__attribute__((target("avx512f"), always_inline)) inline __m512i max_epu32_avx512(
    __m512i a, __m512i b) noexcept {
  return _mm512_maskz_max_epu32(static_cast<__mmask16>(0xFFFFu), a, b);
}

__attribute__((target("avx512f"), always_inline)) inline std::uint32_t amax_body_avx512(
    const float* x, std::size_t n) noexcept {
  const __m512i mask = _mm512_set1_epi32(static_cast<int>(float_abs_mask));
  __m512i m0 = _mm512_setzero_si512(), m1 = m0, m2 = m0, m3 = m0;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    m0 = max_epu32_avx512(m0, _mm512_and_si512(_mm512_loadu_si512(x + i), mask));
    m1 = max_epu32_avx512(m1, _mm512_and_si512(_mm512_loadu_si512(x + i + 16), mask));
    m2 = max_epu32_avx512(m2, _mm512_and_si512(_mm512_loadu_si512(x + i + 32), mask));
    m3 = max_epu32_avx512(m3, _mm512_and_si512(_mm512_loadu_si512(x + i + 48), mask));
  }
  for (; i + 16 <= n; i += 16) {
    m0 = max_epu32_avx512(m0, _mm512_and_si512(_mm512_loadu_si512(x + i), mask));
  }
  if (i < n) {  // masked load: lanes past the end are neither read nor faulted on
    const auto live = static_cast<__mmask16>((1u << (n - i)) - 1u);
    m1 = max_epu32_avx512(m1, _mm512_and_si512(_mm512_maskz_loadu_epi32(live, x + i), mask));
  }
  m0 = max_epu32_avx512(max_epu32_avx512(m0, m1), max_epu32_avx512(m2, m3));
  // Horizontal max; maskz forms throughout to avoid the same g++ 12 false positive.
  const __m256i h = _mm256_max_epu32(_mm512_maskz_extracti64x4_epi64(0xFF, m0, 0),
                                     _mm512_maskz_extracti64x4_epi64(0xFF, m0, 1));
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(m));
}

__attribute__((target("avx512f"))) inline std::uint32_t amax_bits_avx512(const float* x,
                                                                         std::size_t n) noexcept {
  return amax_body_avx512(x, n);
}

/// The lane-wise maxima of 16 vectors, one per segment, reduced to one vector whose lane j is
/// the max over vector j: a transposing reduction tree (halves, then quarters of each vector are
/// paired and folded), 15 two-source shuffles and 30 maxes instead of a horizontal reduction
/// (~8 dependent ops) per segment. maskz forms: see max_epu32_avx512.
__attribute__((target("avx512f"), always_inline)) inline __m512i fold16_avx512(
    __m512i v[16]) noexcept {
  for (std::size_t k = 0; k < 8;
       ++k) {  // 256-bit halves: vector k holds segments 2k (low), 2k+1 (high)
    const __m512i a = v[2 * k], b = v[2 * k + 1];
    v[k] = max_epu32_avx512(_mm512_maskz_shuffle_i64x2(0xFF, a, b, 0x44),
                            _mm512_maskz_shuffle_i64x2(0xFF, a, b, 0xEE));
  }
  for (std::size_t k = 0; k < 4; ++k) {  // 128-bit quarters: vector k holds segments 4k .. 4k+3
    const __m512i a = v[2 * k], b = v[2 * k + 1];
    v[k] = max_epu32_avx512(_mm512_maskz_shuffle_i64x2(0xFF, a, b, 0x88),
                            _mm512_maskz_shuffle_i64x2(0xFF, a, b, 0xDD));
  }
  for (std::size_t k = 0; k < 2; ++k) {  // 64-bit pairs within quarters: segments q of 8k+q, 8k+4+q
    const __m512i a = v[2 * k], b = v[2 * k + 1];
    v[k] = max_epu32_avx512(_mm512_maskz_unpacklo_epi64(0xFF, a, b),
                            _mm512_maskz_unpackhi_epi64(0xFF, a, b));
  }
  // Fold the last pairs of lanes; then quarter q holds segments q, 4+q (from v[0], lanes 0 and
  // 2) and 8+q, 12+q (from v[1], lanes 1 and 3): blend, then put segment j in lane j.
  const __m512i lo =
      max_epu32_avx512(v[0], _mm512_maskz_shuffle_epi32(0xFFFF, v[0], _MM_PERM_CDAB));
  const __m512i hi =
      max_epu32_avx512(v[1], _mm512_maskz_shuffle_epi32(0xFFFF, v[1], _MM_PERM_CDAB));
  const __m512i mixed = _mm512_mask_blend_epi32(0xAAAA, lo, hi);
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 13, 9, 5, 1, 14, 10, 6, 2, 12, 8, 4, 0);
  return _mm512_maskz_permutexvar_epi32(0xFFFF, order, mixed);
}

__attribute__((target("avx512f"))) inline void amax_segments_avx512(const float* x, std::size_t n,
                                                                    std::size_t seg,
                                                                    std::uint32_t* acc) noexcept {
  if (seg == 32) {  // MX blocks: 16 segments at a time, folded together
    const __m512i mask = _mm512_set1_epi32(static_cast<int>(float_abs_mask));
    for (; n >= 512; n -= 512, x += 512, acc += 16) {
      __m512i v[16];
      for (std::size_t k = 0; k < 16; ++k) {
        v[k] = max_epu32_avx512(_mm512_and_si512(_mm512_loadu_si512(x + 32 * k), mask),
                                _mm512_and_si512(_mm512_loadu_si512(x + 32 * k + 16), mask));
      }
      const __m512i m = fold16_avx512(v);
      _mm512_storeu_si512(acc, max_epu32_avx512(_mm512_loadu_si512(acc), m));
    }
  }
  for (std::size_t i = 0; i < n; i += seg, ++acc) {
    const std::uint32_t m = amax_body_avx512(x + i, n - i < seg ? n - i : seg);
    *acc = m > *acc ? m : *acc;
  }
}

/// Where an amax_scanner_avx512 parks the lane-wise maxima of up to 16 segments (a separate
/// object, so that the scanner's own state can live in registers).
struct amax_park {
  alignas(64) std::uint32_t lanes[16 * 16];
};

/// Prefetches the `bytes` bytes that lie `distance` bytes after p (distance 0: nothing), so that
/// a caller making several passes has its next piece in cache when it gets there. Prefetches
/// never fault, so the address may lie beyond the data.
__attribute__((always_inline)) inline void prefetch_ahead(const void* p, std::size_t bytes,
                                                          std::size_t distance) noexcept {
  if (distance == 0) return;
  const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(p) + distance;
  for (std::size_t k = 0; k < bytes; k += 64) {
    // An integer address: pointer arithmetic may not leave the data, a prefetch may.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    _mm_prefetch(reinterpret_cast<const char*>(at + k), _MM_HINT_T0);
  }
}

/// Accumulates the segment amaxes of an amax_scan 16 floats at a time, for a conversion kernel
/// that calls step() between its own vectors (the scan's loads and maxes then fill issue slots
/// the conversion leaves free). Each segment's lane-wise max is parked; every 16 segments
/// fold16 reduces them at once. Segments that are not a multiple of 16 are scanned at
/// construction by amax_segments_avx512 instead. finish() completes the scan.
class amax_scanner_avx512 {
 public:
  /// Prefetch distance (floats, 8 KiB): the scan reads from memory or L3, tile after tile, and
  /// competes with the conversion's stores; measured best among 1024 .. 8192 over 2 and 64 MiB.
  static constexpr std::size_t scan_ahead = 2048;

  __attribute__((target("avx512f"), always_inline))
  amax_scanner_avx512(const amax_scan& s, amax_park& park) noexcept
      : x_(s.x), left_(s.n), per_segment_(s.segment / 16), acc_(s.acc), park_(park.lanes) {
    if (left_ != 0 && s.segment % 16 != 0) {
      amax_segments_avx512(s.x, s.n, s.segment, s.acc);
      left_ = 0;
    }
    to_go_ = per_segment_;
  }

  /// The next 16 * V floats of the scan, if it has that many left (one test per call).
  template <std::size_t V>
  __attribute__((target("avx512f"), always_inline)) void step() noexcept {
    if (left_ < 16 * V) return;
    prefetch_ahead(x_, 64 * V, sizeof(float) * scan_ahead);
    // Counting vectors one by one costs more than the maxes; whole pieces skip it.
    const __m512i mask = _mm512_set1_epi32(static_cast<int>(float_abs_mask));
    if (to_go_ >= V) {  // all V vectors in the current segment
      __m512i m = _mm512_and_si512(_mm512_loadu_si512(x_), mask);
      for (std::size_t k = 1; k < V; ++k) {
        m = max_epu32_avx512(m, _mm512_and_si512(_mm512_loadu_si512(x_ + 16 * k), mask));
      }
      current_ = max_epu32_avx512(current_, m);
      to_go_ -= V;
      if (to_go_ == 0) end_segment();
    } else if (V % 2 == 0 && per_segment_ == 2 && to_go_ == 2) {  // MX: whole 32-float segments
      for (std::size_t k = 0; k + 1 < V; k += 2) {
        const __m512i a = _mm512_and_si512(_mm512_loadu_si512(x_ + 16 * k), mask);
        const __m512i b = _mm512_and_si512(_mm512_loadu_si512(x_ + 16 * k + 16), mask);
        park(max_epu32_avx512(a, b));
      }
    } else {
      for (std::size_t k = 0; k < V; ++k) take(_mm512_loadu_si512(x_ + 16 * k));
    }
    x_ += 16 * V;
    left_ -= 16 * V;
  }

  /// The rest of the scan, then its last partial segment and fold.
  __attribute__((target("avx512f"), always_inline)) void finish() noexcept {
    while (left_ >= 16) step<1>();
    if (left_ != 0) {  // masked load: lanes past the end are neither read nor faulted on
      const auto live = static_cast<__mmask16>((1u << left_) - 1u);
      left_ = 0;
      take(_mm512_maskz_loadu_epi32(live, x_));
    }
    if (to_go_ != per_segment_) end_segment();
    if (parked_ != 0) fold();
  }

 private:
  __attribute__((target("avx512f"), always_inline)) void take(__m512i v) noexcept {
    const __m512i mask = _mm512_set1_epi32(static_cast<int>(float_abs_mask));
    current_ = max_epu32_avx512(current_, _mm512_and_si512(v, mask));
    if (--to_go_ == 0) end_segment();
  }
  __attribute__((target("avx512f"), always_inline)) void end_segment() noexcept {
    park(current_);
    current_ = _mm512_setzero_si512();
    to_go_ = per_segment_;
  }
  /// Parks the lane maxima of a finished segment; every 16 segments, folds them.
  __attribute__((target("avx512f"), always_inline)) void park(__m512i segment_max) noexcept {
    _mm512_store_si512(park_ + 16 * parked_, segment_max);
    if (++parked_ == 16) fold();
  }
  __attribute__((target("avx512f"), always_inline)) void fold() noexcept {
    // Lane j of the fold depends on slot j alone, and lanes from parked_ on are not stored: the
    // slots past parked_ are not read (zeroing them instead compiled to a rep stosq, whose
    // start-up cost was 28 ns of the 39 ns a 64-float call took).
    __m512i v[16];
    for (std::size_t k = 0; k < 16; ++k) {
      v[k] = _mm512_maskz_load_epi32(k < parked_ ? 0xFFFF : 0, park_ + 16 * k);
    }
    const auto live = static_cast<__mmask16>((1u << parked_) - 1u);  // parked_ <= 16
    const __m512i m = fold16_avx512(v);
    _mm512_mask_storeu_epi32(acc_, live, max_epu32_avx512(_mm512_maskz_loadu_epi32(live, acc_), m));
    acc_ += parked_;
    parked_ = 0;
  }

  const float* x_;
  std::size_t left_;         // floats still to scan
  std::size_t per_segment_;  // vectors per segment
  std::size_t to_go_ = 0;    // vectors of the current segment still to come
  std::uint32_t* acc_;
  std::uint32_t* park_;
  std::size_t parked_ = 0;  // segments parked
  __m512i current_ = _mm512_setzero_si512();
};

/// The scanner of kernels that fuse no scan (their scale_arg::scan is empty).
struct no_scanner {
  no_scanner(const amax_scan&, amax_park&) noexcept {}
  template <std::size_t V>
  void step() const noexcept {}
  void finish() const noexcept {}
};

__attribute__((target("avx512f"))) inline void fill_segments_avx512(const float* v, std::size_t n,
                                                                    std::size_t seg,
                                                                    float* out) noexcept {
  for (std::size_t i = 0; i < n; i += seg, ++v) {
    const std::size_t end = n - i < seg ? n : i + seg;
    const __m512 b = _mm512_set1_ps(*v);
    std::size_t k = i;
    for (; k + 16 <= end; k += 16) _mm512_storeu_ps(out + k, b);
    if (k < end) _mm512_mask_storeu_ps(out + k, static_cast<__mmask16>((1u << (end - k)) - 1u), b);
  }
}

__attribute__((target("avx512f"))) inline void amax_accumulate_avx512(const float* x,
                                                                      std::uint32_t* acc,
                                                                      std::size_t n) noexcept {
  const __m512i mask = _mm512_set1_epi32(static_cast<int>(float_abs_mask));
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_and_si512(_mm512_loadu_si512(x + i), mask);
    _mm512_storeu_si512(acc + i, max_epu32_avx512(_mm512_loadu_si512(acc + i), v));
  }
  if (i < n) {
    const auto live = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i v = _mm512_and_si512(_mm512_maskz_loadu_epi32(live, x + i), mask);
    const __m512i a = _mm512_maskz_loadu_epi32(live, acc + i);
    _mm512_mask_storeu_epi32(acc + i, live, max_epu32_avx512(a, v));
  }
}
#endif  // FP8KIT_X86_DISPATCH

using amax_bits_fn = std::uint32_t (*)(const float*, std::size_t) noexcept;
using amax_accumulate_fn = void (*)(const float*, std::uint32_t*, std::size_t) noexcept;
using amax_segments_fn = void (*)(const float*, std::size_t, std::size_t, std::uint32_t*) noexcept;
using fill_segments_fn = void (*)(const float*, std::size_t, std::size_t, float*) noexcept;

/// The amax kernel for `which`; the scalar loop where this build has none for it.
inline amax_bits_fn amax_bits_kernel(simd::isa which) noexcept {
  switch (which) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512: return &amax_bits_avx512;
    case simd::isa::avx2: return &amax_bits_avx2;
#if FP8KIT_HAS_XSIMD
    case simd::isa::sse2: return &amax_bits_xsimd<xsimd::sse2>;
#endif
#elif FP8KIT_HAS_XSIMD && (defined(__ARM_NEON) || defined(__aarch64__))
    case simd::isa::neon: return &amax_bits_xsimd<xsimd::default_arch>;
#endif
    default: return &amax_bits_scalar;
  }
}

/// The segment kernel for `which`; the scalar loop where this build has none for it.
inline amax_segments_fn amax_segments_kernel(simd::isa which) noexcept {
  switch (which) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512: return &amax_segments_avx512;
    case simd::isa::avx2: return &amax_segments_avx2;
#if FP8KIT_HAS_XSIMD
    case simd::isa::sse2: return &amax_segments_xsimd<xsimd::sse2>;
#endif
#elif FP8KIT_HAS_XSIMD && (defined(__ARM_NEON) || defined(__aarch64__))
    case simd::isa::neon: return &amax_segments_xsimd<xsimd::default_arch>;
#endif
    default: return &amax_segments_scalar;
  }
}

/// The segment-fill kernel for `which` (AVX2 / AVX-512 stores; the plain loop otherwise).
inline fill_segments_fn fill_segments_kernel(simd::isa which) noexcept {
  switch (which) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512: return &fill_segments_avx512;
    case simd::isa::avx2: return &fill_segments_avx2;
#endif
    default: return &fill_segments_scalar;
  }
}

/// The column-accumulate kernel for `which`; the scalar loop where this build has none for it.
inline amax_accumulate_fn amax_accumulate_kernel(simd::isa which) noexcept {
  switch (which) {
#if FP8KIT_X86_DISPATCH
    case simd::isa::avx512: return &amax_accumulate_avx512;
    case simd::isa::avx2: return &amax_accumulate_avx2;
#if FP8KIT_HAS_XSIMD
    case simd::isa::sse2: return &amax_accumulate_xsimd<xsimd::sse2>;
#endif
#elif FP8KIT_HAS_XSIMD && (defined(__ARM_NEON) || defined(__aarch64__))
    case simd::isa::neon: return &amax_accumulate_xsimd<xsimd::default_arch>;
#endif
    default: return &amax_accumulate_scalar;
  }
}

/// max |x[i]| as float bits (sign cleared) with the kernel of simd::active_isa().
inline std::uint32_t amax_bits(const float* x, std::size_t n) noexcept {
  return amax_bits_kernel(simd::active_isa())(x, n);
}

}  // namespace fp8kit::detail
