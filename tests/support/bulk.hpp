#pragma once
// Shared by the bulk tests: the kernel sets this CPU runs, scoped kernel and DAZ/FTZ
// switches, edge and random inputs, the scalar definitions and comparison helpers.

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fp8kit/bulk.hpp"
#include "fp8kit/simd/cpu.hpp"
#include "fp8kit/simd/dispatch.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define BULK_TEST_HAS_MXCSR 1
#else
#define BULK_TEST_HAS_MXCSR 0
#endif

// `using namespace fp8kit_test::bulk;` also brings these names into a test file.
namespace fp8kit_test::bulk {

using fp8kit::bfloat16;
using fp8kit::half;
using fp8kit::saturation;
using fp8kit::detail::opaque;
using fp8kit_test::alias_name;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;
namespace simd = fp8kit::simd;

inline constexpr saturation both_modes[] = {saturation::none, saturation::finite};
inline constexpr std::size_t max_length = 4 * 64 + 1;  // four AVX-512 vectors of bytes, plus one
inline constexpr std::size_t guard = 16;

inline const char* mode_name(saturation s) { return s == saturation::finite ? "finite" : "none"; }

// ---- Kernels ---------------------------------------------------------------------------------

struct kernel {
  simd::isa isa;
  bool vbmi;
  std::string name;
};

/// Every kernel set this build and CPU can run (always at least the scalar one).
inline std::vector<kernel> kernels() {
  std::vector<kernel> k;
  for (simd::isa i :
       {simd::isa::scalar, simd::isa::sse2, simd::isa::avx2, simd::isa::avx512, simd::isa::neon}) {
    if (!simd::isa_supported(i)) continue;
    k.push_back({i, true, simd::isa_name(i)});
    if (i == simd::isa::avx512 && simd::cpu_has_vbmi()) k.push_back({i, false, "avx512-novbmi"});
  }
  return k;
}

/// Forces a kernel set for one scope.
class use_kernel {
 public:
  explicit use_kernel(const kernel& k) {
    simd::force_isa(k.isa);
    fp8kit::detail::vbmi_enabled.store(k.vbmi);
  }
  ~use_kernel() {
    simd::reset_isa();
    fp8kit::detail::vbmi_enabled.store(true);
  }
  use_kernel(const use_kernel&) = delete;
  use_kernel& operator=(const use_kernel&) = delete;
};

/// Sets DAZ and FTZ (and restores the MXCSR) for one scope.
class daz_ftz {
 public:
#if BULK_TEST_HAS_MXCSR
  daz_ftz() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~daz_ftz() { _mm_setcsr(saved_); }
  unsigned saved() const { return saved_; }

 private:
  unsigned saved_;
#else
  unsigned saved() const { return 0; }
#endif
};

// ---- Inputs ----------------------------------------------------------------------------------

/// Edge floats for F: every value of F, the midpoints between neighbours (exact ties) and the
/// floats next to them, min subnormal / normal, max finite and the overflow threshold, zeros,
/// infinities, quiet and signalling NaNs with payloads, float subnormals, FLT_MAX; both signs.
template <class F>
std::vector<float> edge_inputs() {
  std::vector<float> v;
  std::vector<float> values;
  for (unsigned c = 0; c < 0x80; ++c) {
    const float f = float(F::from_bits(static_cast<std::uint8_t>(c)));
    if (std::isfinite(f)) values.push_back(f);
  }
  const float top = values.back();
  values.push_back(top + (top - values[values.size() - 2]));  // one step past max finite
  for (std::size_t k = 0; k < values.size(); ++k) {
    v.push_back(values[k]);
    if (k + 1 < values.size()) {
      const float mid = (values[k] + values[k + 1]) / 2;
      v.push_back(mid);
      v.push_back(std::nextafter(mid, 0.0f));
      v.push_back(std::nextafter(mid, INFINITY));
    }
    v.push_back(std::nextafter(values[k], INFINITY));
    if (values[k] > 0) v.push_back(std::nextafter(values[k], 0.0f));
  }
  for (std::uint32_t u : {0x00000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu,
                          0x7F800000u, 0x7FC00000u, 0x7F800001u, 0x7FBFFFFFu, 0x7FC12345u,
                          0x7FFFFFFFu, 0x3F800000u, 0x47800000u, 0x4F000000u}) {
    v.push_back(float_from_bits(u));
  }
  const std::size_t positive = v.size();
  for (std::size_t k = 0; k < positive; ++k) v.push_back(-v[k]);
  // -NaN is made by the bits (negating a NaN is not portable under -ffast-math).
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = float_from_bits(bits_of(v[k]));
  v.push_back(float_from_bits(0xFFC00000u));
  v.push_back(float_from_bits(0xFF800001u));
  return v;
}

/// Random bit patterns (every class of float) and random values spread over F's range.
template <class F>
std::vector<float> random_inputs(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::uint32_t> bits;
  const double max = F::traits::max_finite;
  std::uniform_real_distribution<double> exponent(std::log2(F::traits::min_subnormal) - 3,
                                                  std::log2(max) + 2);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 3 == 0) {
      v[i] = float_from_bits(bits(gen));
    } else {
      const double m = std::exp2(exponent(gen));
      v[i] = static_cast<float>((bits(gen) & 1) != 0 ? -m : m);
    }
  }
  return v;
}

template <class F>
std::vector<float> test_inputs() {
  std::vector<float> v = edge_inputs<F>();
  const std::vector<float> r = random_inputs<F>(4000, 17);
  v.insert(v.end(), r.begin(), r.end());
  return v;
}

// ---- Scalar definitions ------------------------------------------------------------------------
// Codes and decoded values pass through opaque barriers: under -ffast-math (no signed zeros)
// GCC folds convert<float>(convert<F>(v)) for a zero v into +0.

template <class F>
F barrier(F q) {
  return fp8kit::detail::opaque_code(q);
}

/// float(F(fl(x / scale))) * scale, the definition of fake_quantize.
template <class F>
float fake_quantize_ref(float x, float scale, saturation s) {
  const F q = barrier(fp8kit::convert<F>(x / opaque(scale), s));
  return opaque(float(q)) * scale;
}

// ---- Comparison helpers ------------------------------------------------------------------------

template <class T>
std::uint32_t code_of(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return bits_of(v);
  } else {
    return v.bits();
  }
}

template <class T>
T sentinel() {
  if constexpr (std::is_same_v<T, float>) {
    return float_from_bits(0x7FA5A5A5u);
  } else {
    return T::from_bits(static_cast<typename T::storage>(0xA5A5u));
  }
}

/// Runs `op(src, dst, n)` for every length 0..max_length and two misalignments of source and
/// destination (relative to 64 bytes), and checks every output against `expected` (computed by
/// the scalar definition) and the guard elements after the end. Returns the failure count.
template <class In, class Out, class Op>
long check_lengths(const std::vector<In>& input, const std::vector<Out>& expected, Op op,
                   const std::string& what) {
  long failures = 0;
  std::vector<In> src_buf(max_length + 64);
  std::vector<Out> dst_buf(max_length + 64 + guard);
  for (std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    for (std::size_t n = 0; n <= max_length; ++n) {
      const std::size_t start = (n * 7 + offset * 13) % (input.size() - n);
      In* src = src_buf.data() + offset;
      Out* dst = dst_buf.data() + (offset == 0 ? 0 : offset + 1);
      std::copy(input.begin() + static_cast<std::ptrdiff_t>(start),
                input.begin() + static_cast<std::ptrdiff_t>(start + n), src);
      std::fill(dst_buf.begin(), dst_buf.end(), sentinel<Out>());
      op(src, dst, n);
      for (std::size_t i = 0; i < n; ++i) {
        if (code_of(dst[i]) != code_of(expected[start + i]) && ++failures <= 5) {
          ADD_FAILURE() << what << ", n " << n << ", offset " << offset << ", element " << i
                        << ": input 0x" << std::hex << code_of(src[i]) << " gave 0x"
                        << code_of(dst[i]) << ", scalar 0x" << code_of(expected[start + i]);
        }
      }
      for (std::size_t i = n; i < n + guard; ++i) {
        if (code_of(dst[i]) != code_of(sentinel<Out>()) && ++failures <= 5) {
          ADD_FAILURE() << what << ", n " << n << ": guard element " << i - n << " overwritten";
        }
      }
    }
  }
  return failures;
}

/// Elementwise comparison of two whole arrays.
template <class T>
long check_all(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  long failures = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (code_of(got[i]) != code_of(want[i]) && ++failures <= 5) {
      ADD_FAILURE() << what << ", element " << i << ": 0x" << std::hex << code_of(got[i])
                    << ", scalar 0x" << code_of(want[i]);
    }
  }
  return failures;
}

/// Scales for quantize / fake_quantize: powers of two (down to float subnormals, up to 2^127),
/// 1/3, 448/amax-style values, tiny and huge non-powers.
inline std::vector<float> test_scales() {
  std::vector<float> s = {1.0f,
                          0.5f,
                          2.0f,
                          0.25f,
                          1024.0f,
                          1.0f / 3.0f,
                          3.0f,
                          0.1f,
                          1.7f,
                          448.0f / 1.0f,
                          1.0f / 448.0f,
                          3.7f / 448.0f,
                          1000.0f / 448.0f,
                          0.013f / 57344.0f,
                          12.5f / 30.0f,
                          1e-30f,
                          1e-38f,
                          1e-40f,
                          1.4e-45f,
                          3e38f,
                          FLT_MAX,
                          FLT_MIN,
                          std::ldexp(1.0f, -126),
                          std::ldexp(1.0f, -127),
                          std::ldexp(1.0f, -140),
                          std::ldexp(1.0f, -149),
                          std::ldexp(1.0f, 126),
                          std::ldexp(1.0f, 127),
                          std::ldexp(1.0f, -20),
                          std::ldexp(1.0f, 20),
                          std::nextafter(1.0f, 2.0f),
                          std::nextafter(2.0f, 0.0f)};
  return s;
}

/// Inputs that land near F's interesting values after division by `scale`.
template <class F>
std::vector<float> scaled_inputs(float scale) {
  std::vector<float> v = test_inputs<F>();
  const std::size_t n = v.size();
  for (std::size_t i = 0; i < n; ++i) {
    const float y = v[i] * scale;  // near a tie of x / scale when the product is exact
    v.push_back(y);
    v.push_back(std::nextafter(y, INFINITY));
  }
  return v;
}

// ---- Typed tests over every alias ------------------------------------------------------------

}  // namespace fp8kit_test::bulk
