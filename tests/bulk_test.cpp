// bulk.hpp: every kernel this CPU runs (scalar, SSE2, AVX2, AVX-512 with and without VBMI; NEON
// on ARM) gives the bits of the scalar conversions, for every alias, both saturation modes,
// every length up to 4 * 64 + 1, misaligned pointers, untouched guard bytes, in place, with
// DAZ+FTZ set by the caller, at many scales; plus argument checks and the CPU dispatch.

#include "fp8kit/bulk.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

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

namespace {

using fp8kit::bfloat16;
using fp8kit::half;
using fp8kit::saturation;
using fp8kit::detail::opaque;
using fp8kit_test::alias_name;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;
namespace simd = fp8kit::simd;

constexpr saturation both_modes[] = {saturation::none, saturation::finite};
constexpr std::size_t max_length = 4 * 64 + 1;  // four AVX-512 vectors of bytes, plus one
constexpr std::size_t guard = 16;

const char* mode_name(saturation s) { return s == saturation::finite ? "finite" : "none"; }

// ---- Kernels ---------------------------------------------------------------------------------

struct kernel {
  simd::isa isa;
  bool vbmi;
  std::string name;
};

/// Every kernel set this build and CPU can run (always at least the scalar one).
std::vector<kernel> kernels() {
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
std::vector<float> test_scales() {
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

template <class F>
class Bulk : public ::testing::Test {};
TYPED_TEST_SUITE(Bulk, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(Bulk, ConvertFromFloatMatchesScalarForEveryLengthAndAlignment) {
  using F = TypeParam;
  const std::vector<float> x = test_inputs<F>();
  for (const auto s : both_modes) {
    std::vector<F> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = fp8kit::convert<F>(x[i], s);
    for (const auto& k : kernels()) {
      use_kernel use(k);
      const std::string what = k.name + " " + mode_name(s);
      EXPECT_EQ(
          check_lengths(
              x, want, [s](const float* a, F* b, std::size_t n) { fp8kit::convert(a, b, n, s); },
              what),
          0);
    }
  }
}

TYPED_TEST(Bulk, ConvertFromFloatMatchesTheGoldenEncodeTable) {
  using F = TypeParam;
  const auto records = fp8kit_test::load_encode_records(alias_name<F>());
  std::vector<float> x(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) x[i] = float_from_bits(records[i].input);
  for (const auto s : both_modes) {
    std::vector<F> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = F::from_bits(records[i].expected(s));
    for (const auto& k : kernels()) {
      use_kernel use(k);
      std::vector<F> got(x.size());
      fp8kit::convert(x.data(), got.data(), x.size(), s);
      EXPECT_EQ(check_all(got, want, k.name + " " + mode_name(s)), 0);
    }
  }
}

TYPED_TEST(Bulk, ConvertToFloatIsExactOnEveryCode) {
  using F = TypeParam;
  std::vector<F> codes(1024);
  for (std::size_t i = 0; i < codes.size(); ++i)
    codes[i] = F::from_bits(static_cast<std::uint8_t>(i * 37 + i / 256));
  std::vector<float> want(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) want[i] = fp8kit::convert<float>(codes[i]);
  for (const auto& k : kernels()) {
    use_kernel use(k);
    EXPECT_EQ(check_lengths(
                  codes, want,
                  [](const F* a, float* b, std::size_t n) { fp8kit::convert(a, b, n); }, k.name),
              0);
  }
}

TYPED_TEST(Bulk, DequantizeMultipliesEveryCodeOnce) {
  using F = TypeParam;
  std::vector<F> codes(1024);
  for (std::size_t i = 0; i < codes.size(); ++i)
    codes[i] = F::from_bits(static_cast<std::uint8_t>(i * 37 + i / 256));
  for (const float scale : test_scales()) {
    std::vector<float> want(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) want[i] = opaque(float(codes[i])) * scale;
    for (const auto& k : kernels()) {
      use_kernel use(k);
      const std::string what = k.name + " scale " + std::to_string(scale);
      EXPECT_EQ(
          check_lengths(
              codes, want,
              [scale](const F* a, float* b, std::size_t n) { fp8kit::dequantize(a, b, n, scale); },
              what),
          0);
    }
  }
}

TYPED_TEST(Bulk, QuantizeDividesOnceThenRoundsOnceAtManyScales) {
  using F = TypeParam;
  for (const float scale : test_scales()) {
    const std::vector<float> x = scaled_inputs<F>(scale);
    for (const auto s : both_modes) {
      std::vector<F> want(x.size());
      for (std::size_t i = 0; i < x.size(); ++i)
        want[i] = fp8kit::convert<F>(x[i] / opaque(scale), s);
      for (const auto& k : kernels()) {
        use_kernel use(k);
        std::vector<F> got(x.size());
        fp8kit::quantize(x.data(), got.data(), x.size(), scale, s);
        EXPECT_EQ(
            check_all(got, want, k.name + " " + mode_name(s) + " scale " + std::to_string(scale)),
            0);
      }
    }
  }
}

TYPED_TEST(Bulk, QuantizeHandlesEveryLengthAndAlignment) {
  using F = TypeParam;
  const float scale = 0.37f;
  const std::vector<float> x = scaled_inputs<F>(scale);
  std::vector<F> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    want[i] = fp8kit::convert<F>(x[i] / opaque(scale), saturation::finite);
  for (const auto& k : kernels()) {
    use_kernel use(k);
    EXPECT_EQ(
        check_lengths(
            x, want,
            [scale](const float* a, F* b, std::size_t n) { fp8kit::quantize(a, b, n, scale); },
            k.name),
        0);
  }
}

TYPED_TEST(Bulk, FakeQuantizeEqualsDequantizeOfQuantizeAtManyScales) {
  using F = TypeParam;
  for (const float scale : test_scales()) {
    const std::vector<float> x = scaled_inputs<F>(scale);
    for (const auto s : both_modes) {
      std::vector<float> want(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        want[i] = fake_quantize_ref<F>(x[i], scale, s);
      }
      for (const auto& k : kernels()) {
        use_kernel use(k);
        const std::string what = k.name + " " + mode_name(s) + " scale " + std::to_string(scale);
        std::vector<float> got(x.size());
        fp8kit::fake_quantize<F>(x.data(), got.data(), x.size(), scale, s);
        EXPECT_EQ(check_all(got, want, what), 0);
        std::vector<float> in_place = x;
        fp8kit::fake_quantize<F>(in_place.data(), in_place.data(), in_place.size(), scale, s);
        EXPECT_EQ(check_all(in_place, want, what + " in place"), 0);
      }
    }
  }
}

TYPED_TEST(Bulk, FakeQuantizeHandlesEveryLengthAndAlignment) {
  using F = TypeParam;
  const float scale = 3.0f;
  const std::vector<float> x = scaled_inputs<F>(scale);
  for (const auto s : both_modes) {
    std::vector<float> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = fake_quantize_ref<F>(x[i], scale, s);
    for (const auto& k : kernels()) {
      use_kernel use(k);
      EXPECT_EQ(check_lengths(
                    x, want,
                    [scale, s](const float* a, float* b, std::size_t n) {
                      fp8kit::fake_quantize<F>(a, b, n, scale, s);
                    },
                    k.name),
                0);
    }
  }
}

TYPED_TEST(Bulk, ElementwiseScalesMatchTheScalarDefinition) {
  using F = TypeParam;
  const std::vector<float> x = test_inputs<F>();
  std::vector<float> scales(x.size());
  const std::vector<float> pool = test_scales();
  for (std::size_t i = 0; i < x.size(); ++i) scales[i] = pool[(i * 7) % pool.size()];
  for (const auto s : both_modes) {
    std::vector<F> want_q(x.size());
    std::vector<float> want_y(x.size()), want_x(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      want_q[i] = barrier(fp8kit::convert<F>(x[i] / opaque(scales[i]), s));
      want_y[i] = opaque(float(want_q[i])) * scales[i];
    }
    for (const auto& k : kernels()) {
      use_kernel use(k);
      const std::string what = k.name + " " + mode_name(s);
      for (const std::size_t n : {x.size(), std::size_t{37}, std::size_t{1}}) {
        std::vector<F> q(n);
        std::vector<float> y(n), back(n);
        fp8kit::detail::quantize_with(x.data(), q.data(), n, s,
                                      fp8kit::detail::per_element(scales.data()));
        fp8kit::detail::fake_quantize_with<F>(x.data(), y.data(), n, s,
                                              fp8kit::detail::per_element(scales.data()));
        fp8kit::detail::dequantize_with(want_q.data(), back.data(), n,
                                        fp8kit::detail::per_element(scales.data()));
        EXPECT_EQ(
            check_all(
                q, std::vector<F>(want_q.begin(), want_q.begin() + static_cast<std::ptrdiff_t>(n)),
                what + " quantize_scaled"),
            0);
        EXPECT_EQ(check_all(y,
                            std::vector<float>(want_y.begin(),
                                               want_y.begin() + static_cast<std::ptrdiff_t>(n)),
                            what + " fake_quantize_scaled"),
                  0);
        EXPECT_EQ(check_all(back,
                            std::vector<float>(want_y.begin(),
                                               want_y.begin() + static_cast<std::ptrdiff_t>(n)),
                            what + " dequantize_scaled"),
                  0);
      }
    }
  }
}

// Kind segments (one scale per run of `segment` elements, starting `first` elements into the
// first run): the per-channel, block-wise and MX paths. Every kernel (AVX-512 natively, the
// others one call per segment), segments that do and do not divide 16, starts inside a
// segment, every tail, misaligned buffers, normal and non-temporal stores, guard elements.
TYPED_TEST(Bulk, SegmentScalesMatchTheScalarDefinition) {
  using F = TypeParam;
  using fp8kit::detail::scale_arg;
  const std::vector<float> x = test_inputs<F>();
  const std::vector<float> pool = test_scales();
  std::vector<float> scales(x.size());
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = pool[(i * 5) % pool.size()];
  const saturation s = saturation::finite;
  long failures = 0;
  for (const std::size_t segment : {16u, 17u, 32u, 47u, 128u}) {
    for (const std::size_t first : {std::size_t{0}, std::size_t{5}, segment - 1}) {
      // want[i]: element i of a call that starts `first` elements into segment 0.
      std::vector<F> want_q(x.size());
      std::vector<float> want_y(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        const float scale = scales[(first + i) / segment];
        want_q[i] = barrier(fp8kit::convert<F>(x[i] / opaque(scale), s));
        want_y[i] = opaque(float(want_q[i])) * scale;
      }
      for (const auto& k : kernels()) {
        use_kernel use(k);
        for (const bool stream : {false, true}) {
          scale_arg arg = fp8kit::detail::per_segment(scales.data(), segment, stream);
          arg.first = first;
          const std::string what = k.name + ", segment " + std::to_string(segment) + ", first " +
                                   std::to_string(first) + (stream ? ", streamed" : "");
          for (const std::size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 100u, 255u, 1000u}) {
            for (const std::size_t offset : {0u, 3u}) {
              std::vector<F> q(n + offset + guard, sentinel<F>());
              std::vector<float> y(n + offset + guard, sentinel<float>());
              std::vector<float> back(y);
              std::vector<float> src(offset);
              src.insert(src.end(), x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n));
              fp8kit::detail::quantize_with(src.data() + offset, q.data() + offset, n, s, arg);
              fp8kit::detail::fake_quantize_with<F>(src.data() + offset, y.data() + offset, n, s,
                                                    arg);
              std::vector<F> codes(offset);
              codes.insert(codes.end(), want_q.begin(),
                           want_q.begin() + static_cast<std::ptrdiff_t>(n));
              fp8kit::detail::dequantize_with(codes.data() + offset, back.data() + offset, n, arg);
              for (std::size_t i = 0; i < n + guard; ++i) {
                const bool inside = i < n;
                const auto wq = inside ? code_of(want_q[i]) : code_of(sentinel<F>());
                const auto wy = inside ? code_of(want_y[i]) : code_of(sentinel<float>());
                if ((code_of(q[offset + i]) != wq || code_of(y[offset + i]) != wy ||
                     code_of(back[offset + i]) != wy) &&
                    ++failures <= 5) {
                  ADD_FAILURE() << what << ", n " << n << ", offset " << offset << ", element " << i
                                << std::hex << ": q 0x" << code_of(q[offset + i]) << " (want 0x"
                                << wq << "), fake 0x" << code_of(y[offset + i])
                                << ", dequantized 0x" << code_of(back[offset + i]) << " (want 0x"
                                << wy << ")";
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// Kind inverse_segments (MX): multiplying by the exact inverses of power-of-two segment scales
// gives the codes of dividing by the scales, on every kernel (AVX-512 natively, the others one
// call per segment), for scales across float's whole range: 2^-127 (a subnormal scale) up to
// 2^127 (a subnormal inverse).
TYPED_TEST(Bulk, InverseSegmentScalesEqualDividingByPowersOfTwo) {
  using F = TypeParam;
  using fp8kit::detail::scale_arg;
  const std::vector<float> x = test_inputs<F>();
  std::vector<float> scales, inverses;
  for (int e = -127; e <= 127; e += 3) {
    scales.push_back(float(std::ldexp(1.0, e)));
    inverses.push_back(float(std::ldexp(1.0, -e)));
  }
  scales.push_back(float(std::ldexp(1.0, 127)));
  inverses.push_back(float(std::ldexp(1.0, -127)));
  const std::size_t segment = 32;
  const std::size_t n = std::min(x.size(), scales.size() * segment);
  long failures = 0;
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const saturation s : both_modes) {
      std::vector<F> want(n), got(n);
      fp8kit::detail::quantize_with(x.data(), want.data(), n, s,
                                    fp8kit::detail::per_segment(scales.data(), segment));
      scale_arg inverse = fp8kit::detail::per_segment(inverses.data(), segment);
      inverse.kind = fp8kit::detail::scale_kind::inverse_segments;
      fp8kit::detail::quantize_with(x.data(), got.data(), n, s, inverse);
      for (std::size_t i = 0; i < n; ++i) {
        if (code_of(got[i]) != code_of(want[i]) && ++failures <= 5) {
          ADD_FAILURE() << k.name << " " << mode_name(s) << ", element " << i << std::hex << ": 0x"
                        << code_of(got[i]) << ", dividing gives 0x" << code_of(want[i]);
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// A scan (scale_arg::scan) rides along quantize and fake_quantize calls: the block-wise and MX
// pipelines read the next tile's block amaxes during the current tile's conversion. Whatever the
// kernel, scale kind, lengths of either stream, segment (multiples of 16 are fused by AVX-512,
// others scanned apart) or streaming, the accumulators must equal the scalar segment amaxes merged
// into their old values, nothing past them may change, and the conversion must not change.
TYPED_TEST(Bulk, ScansAccumulateSegmentAmaxesAlongAConversion) {
  using F = TypeParam;
  using fp8kit::detail::scale_arg;
  const saturation s = saturation::finite;
  std::vector<float> clean_data(
      1100);  // finite data; the edge inputs bring NaN, inf and subnormals
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& v : clean_data) v = normal(gen);
  const std::vector<float>& clean = clean_data;
  const std::vector<float> edges = test_inputs<F>();
  const std::vector<float> pool = test_scales();
  std::vector<float> scales(128);  // a scale per 16-element segment of the longest call
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = pool[(i * 7) % pool.size()];
  long failures = 0;
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const std::vector<float>* data : {&clean, &edges}) {
      for (const std::size_t segment : {16u, 32u, 48u, 128u, 17u, 1000u}) {
        for (const std::size_t scan_n : {0u, 1u, 15u, 16u, 33u, 100u, 512u, 513u, 1000u}) {
          for (const std::size_t n : {0u, 5u, 64u, 300u, 1000u}) {
            for (const bool stream : {false, true}) {
              const float* scanned = data->data() + 37;  // misaligned
              const std::size_t count = (scan_n + segment - 1) / segment;
              std::vector<std::uint32_t> want(count + guard);
              for (std::size_t j = 0; j < want.size(); ++j) {
                want[j] = 0x3F000000u + static_cast<std::uint32_t>(j) * 12345u;
              }
              std::vector<std::uint32_t> acc = want;
              fp8kit::detail::amax_segments_scalar(scanned, scan_n, segment, want.data());
              scale_arg arg = n % 2 == 0 ? fp8kit::detail::divide_by(scales[n % scales.size()])
                                         : fp8kit::detail::per_segment(scales.data(), 16, stream);
              arg.stream = stream;
              arg.scan = {scanned, scan_n, segment, acc.data()};
              std::vector<F> q(n), q_plain(n);
              std::vector<float> y(n), y_plain(n);
              const float* x = data->data() + 3;
              fp8kit::detail::quantize_with(x, q.data(), n, s, arg);
              const std::vector<std::uint32_t> after_quantize = acc;
              acc = std::vector<std::uint32_t>(want.size(), 0);
              for (std::size_t j = count; j < acc.size(); ++j) acc[j] = want[j];
              arg.scan.acc = acc.data();
              fp8kit::detail::fake_quantize_with<F>(x, y.data(), n, s, arg);
              std::vector<std::uint32_t> want_zero(want.size(), 0);
              fp8kit::detail::amax_segments_scalar(scanned, scan_n, segment, want_zero.data());
              for (std::size_t j = count; j < acc.size(); ++j) want_zero[j] = want[j];
              arg.scan = {};
              fp8kit::detail::quantize_with(x, q_plain.data(), n, s, arg);
              fp8kit::detail::fake_quantize_with<F>(x, y_plain.data(), n, s, arg);
              bool same = after_quantize == want && acc == want_zero;
              for (std::size_t i = 0; i < n; ++i) {
                same = same && code_of(q[i]) == code_of(q_plain[i]) &&
                       code_of(y[i]) == code_of(y_plain[i]);
              }
              if (!same && ++failures <= 5) {
                ADD_FAILURE() << k.name << ", segment " << segment << ", scan " << scan_n << ", n "
                              << n << (stream ? ", streamed" : "")
                              << (data == &clean ? ", clean data" : ", edge data");
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

TYPED_TEST(Bulk, ResultsIgnoreDazAndFtzSetByTheCaller) {
  using F = TypeParam;
  std::vector<float> x = test_inputs<F>();
  for (std::uint32_t u = 1; u < 0x00800000u; u = u * 3 + 1)
    x.push_back(float_from_bits(u));  // subnormals
  const float scales[] = {1.0f, 0.37f, 1e-38f, std::ldexp(1.0f, -140), 1e30f};
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const float scale : scales) {
      for (const auto s : both_modes) {
        std::vector<F> q_want(x.size()), q_got(x.size());
        std::vector<float> y_want(x.size()), y_got(x.size()), d_want(x.size()), d_got(x.size());
        fp8kit::quantize(x.data(), q_want.data(), x.size(), scale, s);
        fp8kit::fake_quantize<F>(x.data(), y_want.data(), x.size(), scale, s);
        fp8kit::dequantize(q_want.data(), d_want.data(), x.size(), scale);
        {
          daz_ftz env;
          fp8kit::quantize(x.data(), q_got.data(), x.size(), scale, s);
          fp8kit::fake_quantize<F>(x.data(), y_got.data(), x.size(), scale, s);
          fp8kit::dequantize(q_want.data(), d_got.data(), x.size(), scale);
#if BULK_TEST_HAS_MXCSR
          EXPECT_EQ(_mm_getcsr() & ~0x3Fu, (env.saved() | 0x8040u) & ~0x3Fu)
              << "MXCSR not restored";
#endif
        }
        const std::string what =
            k.name + " DAZ+FTZ " + mode_name(s) + " scale " + std::to_string(scale);
        EXPECT_EQ(check_all(q_got, q_want, what + " quantize"), 0);
        EXPECT_EQ(check_all(y_got, y_want, what + " fake_quantize"), 0);
        EXPECT_EQ(check_all(d_got, d_want, what + " dequantize"), 0);
      }
      // And the reference itself, computed without DAZ: subnormal quotients are kept.
      std::vector<F> q(x.size());
      {
        daz_ftz env;
        fp8kit::quantize(x.data(), q.data(), x.size(), scale, saturation::finite);
      }
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(q[i].bits(), fp8kit::convert<F>(x[i] / opaque(scale), saturation::finite).bits())
            << k.name << " input 0x" << std::hex << bits_of(x[i]);
      }
    }
  }
}

TYPED_TEST(Bulk, SixteenBitSourcesMatchScalarOnAllInputs) {
  using F = TypeParam;
  std::vector<bfloat16> b(65536);
  std::vector<half> h(65536);
  for (std::size_t i = 0; i < 65536; ++i) {
    b[i] = bfloat16::from_bits(static_cast<std::uint16_t>(i));
    h[i] = half::from_bits(static_cast<std::uint16_t>(i));
  }
  const auto golden_b = fp8kit_test::load_from16_table(alias_name<F>(), "bf16");
  const auto golden_h = fp8kit_test::load_from16_table(alias_name<F>(), "f16");
  for (const auto s : both_modes) {
    std::vector<F> want_b(65536), want_h(65536);
    for (std::size_t i = 0; i < 65536; ++i) {
      want_b[i] = fp8kit::convert<F>(b[i], s);
      want_h[i] = fp8kit::convert<F>(h[i], s);
      const std::size_t g = 2 * i + (s == saturation::finite ? 1 : 0);
      ASSERT_EQ(want_b[i].bits(), golden_b[g]) << "scalar bf16 0x" << std::hex << i;
      ASSERT_EQ(want_h[i].bits(), golden_h[g]) << "scalar half 0x" << std::hex << i;
    }
    for (const auto& k : kernels()) {
      use_kernel use(k);
      std::vector<F> got(65536);
      fp8kit::convert(b.data(), got.data(), b.size(), s);
      EXPECT_EQ(check_all(got, want_b, k.name + " bf16 " + mode_name(s)), 0);
      fp8kit::convert(h.data(), got.data(), h.size(), s);
      EXPECT_EQ(check_all(got, want_h, k.name + " half " + mode_name(s)), 0);
      const std::vector<bfloat16> bsub(b.begin() + 0x3F00, b.begin() + 0x3F00 + 300);
      const std::vector<F> wsub(want_b.begin() + 0x3F00, want_b.begin() + 0x3F00 + 300);
      EXPECT_EQ(check_lengths(
                    bsub, wsub,
                    [s](const bfloat16* a, F* o, std::size_t n) { fp8kit::convert(a, o, n, s); },
                    k.name + " bf16"),
                0);
    }
  }
}

TYPED_TEST(Bulk, SixteenBitDestinationsMatchScalarOnEveryCode) {
  using F = TypeParam;
  std::vector<F> codes(700);
  for (std::size_t i = 0; i < codes.size(); ++i)
    codes[i] = F::from_bits(static_cast<std::uint8_t>(i * 5 + i / 256));
  for (const auto s : both_modes) {
    std::vector<bfloat16> want_b(codes.size());
    std::vector<half> want_h(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) {
      want_b[i] = fp8kit::convert<bfloat16>(codes[i], s);
      want_h[i] = fp8kit::convert<half>(codes[i], s);
    }
    for (const auto& k : kernels()) {
      use_kernel use(k);
      const std::string what = k.name + " " + mode_name(s);
      EXPECT_EQ(check_lengths(
                    codes, want_b,
                    [s](const F* a, bfloat16* o, std::size_t n) { fp8kit::convert(a, o, n, s); },
                    what + " to bf16"),
                0);
      EXPECT_EQ(check_lengths(
                    codes, want_h,
                    [s](const F* a, half* o, std::size_t n) { fp8kit::convert(a, o, n, s); },
                    what + " to half"),
                0);
    }
  }
}

TYPED_TEST(Bulk, BadScalesThrowBeforeWriting) {
  using F = TypeParam;
  const float bad[] = {0.0f,
                       -0.0f,
                       -1.0f,
                       float_from_bits(0x7FC00000u),
                       INFINITY,
                       -INFINITY,
                       float_from_bits(0xFFC00000u),
                       -1e-40f};
  std::vector<float> x(100, 1.0f), y(100, 7.0f);
  std::vector<F> q(100, F::from_bits(0x11));
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const float scale : bad) {
      EXPECT_THROW(fp8kit::quantize(x.data(), q.data(), x.size(), scale), std::invalid_argument);
      EXPECT_THROW(fp8kit::dequantize(q.data(), y.data(), q.size(), scale), std::invalid_argument);
      EXPECT_THROW(fp8kit::fake_quantize<F>(x.data(), y.data(), x.size(), scale),
                   std::invalid_argument);
      for (std::size_t i = 0; i < 100; ++i) {
        ASSERT_EQ(q[i].bits(), 0x11) << "quantize wrote before throwing";
        ASSERT_EQ(y[i], 7.0f) << "dequantize or fake_quantize wrote before throwing";
      }
    }
  }
  try {
    fp8kit::quantize(x.data(), q.data(), x.size(), -2.5f);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("-2.5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("quantize"), std::string::npos) << e.what();
  }
  try {
    fp8kit::fake_quantize<F>(x.data(), y.data(), x.size(), INFINITY);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("inf"), std::string::npos) << e.what();
  }
}

#if FP8KIT_HAS_SPAN
TYPED_TEST(Bulk, SpanOverloadsCheckSizes) {
  using F = TypeParam;
  std::vector<float> x(10, 1.0f), y(9);
  std::vector<F> q(9), q10(10);
  std::vector<bfloat16> b(10);
  EXPECT_THROW(fp8kit::convert<F>(std::span<const float>(x), std::span<F>(q)),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::convert<F>(std::span<const F>(q), std::span<float>(x)),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::convert<F>(std::span<const bfloat16>(b), std::span<F>(q)),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::convert<F>(std::span<const F>(q), std::span<bfloat16>(b)),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::quantize<F>(std::span<const float>(x), std::span<F>(q), 1.0f),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::dequantize<F>(std::span<const F>(q), std::span<float>(x), 1.0f),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::fake_quantize<F>(std::span<const float>(x), std::span<float>(y), 1.0f),
               std::invalid_argument);
  fp8kit::quantize<F>(std::span<const float>(x), std::span<F>(q10), 0.5f);
  EXPECT_EQ(q10[9].bits(), fp8kit::convert<F>(2.0f, saturation::finite).bits());
}
#endif

// Arrays above the streaming threshold (non-temporal stores, 64-byte aligned body) give the
// same bits; misaligned destinations exercise the head and the tail.
TYPED_TEST(Bulk, LargeArraysGiveTheSameBits) {
  using F = TypeParam;
  const std::size_t n = (std::size_t{7} << 20) + 77;
  const std::vector<float> pool = test_inputs<F>();
  std::vector<float> x(n + 1);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = pool[(i * 2654435761u) % pool.size()];
  const float scale = 0.37f;
  std::vector<F> want_q(n);
  std::vector<float> want_y(n), want_d(n);
  for (std::size_t i = 0; i < n; ++i) {
    want_q[i] = barrier(fp8kit::convert<F>(x[i + 1] / opaque(scale), saturation::finite));
    want_y[i] = opaque(float(want_q[i])) * scale;
    want_d[i] = float(want_q[i]);
  }
  for (const auto& k : kernels()) {
    if (k.isa == simd::isa::scalar) continue;
    use_kernel use(k);
    std::vector<F> q(n + 1);
    std::vector<float> y(n + 1), d(n + 1);
    fp8kit::quantize(x.data() + 1, q.data() + 1, n, scale);
    fp8kit::fake_quantize<F>(x.data() + 1, y.data() + 1, n, scale);
    fp8kit::convert(want_q.data(), d.data() + 1, n);
    EXPECT_EQ(check_all(std::vector<F>(q.begin() + 1, q.end()), want_q, k.name + " quantize"), 0);
    EXPECT_EQ(
        check_all(std::vector<float>(y.begin() + 1, y.end()), want_y, k.name + " fake_quantize"),
        0);
    EXPECT_EQ(check_all(std::vector<float>(d.begin() + 1, d.end()), want_d, k.name + " decode"), 0);
  }
}

// ---- Float <-> bfloat16 / half ---------------------------------------------------------------

template <class H>
void check_float_and_16bit() {
  std::vector<float> x = random_inputs<H>(20000, 5);
  for (std::uint32_t u :
       {0x00000001u, 0x00010000u, 0x00008000u, 0x7F7F8000u, 0x7F7FFFFFu, 0x477FF000u, 0x477FEFFFu,
        0x477FF001u, 0x33000000u, 0x33000001u, 0x7F800000u, 0x7F800001u, 0x7FC00000u}) {
    x.push_back(float_from_bits(u));
    x.push_back(float_from_bits(u | 0x80000000u));
  }
  std::vector<H> all(65536);
  for (std::size_t i = 0; i < 65536; ++i) all[i] = H::from_bits(static_cast<std::uint16_t>(i));
  std::vector<float> want_f(65536);
  for (std::size_t i = 0; i < 65536; ++i) want_f[i] = fp8kit::convert<float>(all[i]);
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const auto s : both_modes) {
      std::vector<H> want(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) want[i] = fp8kit::convert<H>(x[i], s);
      EXPECT_EQ(
          check_lengths(
              x, want, [s](const float* a, H* o, std::size_t n) { fp8kit::convert(a, o, n, s); },
              k.name + " " + mode_name(s)),
          0);
    }
    std::vector<float> got(65536);
    fp8kit::convert(all.data(), got.data(), all.size());
    EXPECT_EQ(check_all(got, want_f, k.name + " to float"), 0);
  }
}

TEST(Bulk, FloatToBfloat16AndBackMatchScalar) { check_float_and_16bit<bfloat16>(); }
TEST(Bulk, FloatToHalfAndBackMatchScalar) { check_float_and_16bit<half>(); }

TEST(Bulk, FakeQuantizeToSixteenBitTypesMatchesScalar) {
  const std::vector<float> x = random_inputs<half>(3000, 9);
  for (const auto& k : kernels()) {
    use_kernel use(k);
    for (const float scale : {1.0f, 0.3f, 1e-3f}) {
      std::vector<float> yb(x.size()), yh(x.size()), wb(x.size()), wh(x.size());
      fp8kit::fake_quantize<bfloat16>(x.data(), yb.data(), x.size(), scale);
      fp8kit::fake_quantize<half>(x.data(), yh.data(), x.size(), scale);
      for (std::size_t i = 0; i < x.size(); ++i) {
        wb[i] = fake_quantize_ref<bfloat16>(x[i], scale, saturation::finite);
        wh[i] = fake_quantize_ref<half>(x[i], scale, saturation::finite);
      }
      EXPECT_EQ(check_all(yb, wb, k.name + " bf16"), 0);
      EXPECT_EQ(check_all(yh, wh, k.name + " half"), 0);
    }
  }
}

// ---- Generic kernels at the build's own xsimd architecture -------------------------------------

#if FP8KIT_HAS_XSIMD
TYPED_TEST(Bulk, GenericKernelAtTheDefaultArchMatchesScalar) {
  using F = TypeParam;
  using A = xsimd::default_arch;
  using T = typename F::traits;
  namespace d = fp8kit::detail;
  const std::vector<float> x = test_inputs<F>();
  const d::scale_arg none{};
  const d::scale_arg div{d::scale_kind::div, 0.37f, 0.0f, nullptr};
  std::vector<std::uint8_t> q(x.size());
  std::vector<float> y(x.size());
  d::generic::encode_kernel<A, T, saturation::finite, d::scale_kind::none>(x.data(), q.data(),
                                                                           x.size(), none);
  d::generic::fake_quantize_kernel<A, T, saturation::none, d::scale_kind::div>(x.data(), y.data(),
                                                                               x.size(), div);
  long failures = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto want_q = fp8kit::convert<F>(x[i], saturation::finite).bits();
    const float want_y = fake_quantize_ref<F>(x[i], 0.37f, saturation::none);
    if ((q[i] != want_q || bits_of(y[i]) != bits_of(want_y)) && ++failures <= 5) {
      ADD_FAILURE() << A::name() << " input 0x" << std::hex << bits_of(x[i]);
    }
  }
  std::vector<std::uint8_t> codes(256);
  for (unsigned c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(c);
  std::vector<float> f(256);
  d::generic::decode_kernel<A, T, d::scale_kind::none>(codes.data(), f.data(), 256, none);
  for (unsigned c = 0; c < 256; ++c) {
    if (bits_of(f[c]) != bits_of(float(F::from_bits(codes[c]))) && ++failures <= 10) {
      ADD_FAILURE() << A::name() << " decode 0x" << std::hex << c;
    }
  }
  EXPECT_EQ(failures, 0);
}
#endif

// ---- CPU detection and dispatch ----------------------------------------------------------------

TEST(Simd, BestIsaIsSupportedAndActiveByDefault) {
  EXPECT_TRUE(simd::isa_supported(simd::best_isa()));
  EXPECT_EQ(simd::active_isa(), simd::best_isa());
  EXPECT_TRUE(simd::isa_supported(simd::isa::scalar));
#if defined(FP8KIT_FORCE_SCALAR)
  EXPECT_EQ(simd::best_isa(), simd::isa::scalar);
#endif
  if (simd::cpu_has_vbmi()) {
    EXPECT_TRUE(simd::cpu().avx512);
  }
  if (simd::cpu().avx512) {
    EXPECT_TRUE(simd::cpu().avx2);
  }
}

TEST(Simd, ForceIsaSwitchesAndRejectsWhatCannotRun) {
  for (const auto& k : kernels()) {
    simd::force_isa(k.isa);
    EXPECT_EQ(simd::active_isa(), k.isa);
  }
  simd::reset_isa();
  EXPECT_EQ(simd::active_isa(), simd::best_isa());
  for (simd::isa i : {simd::isa::sse2, simd::isa::avx2, simd::isa::avx512, simd::isa::neon}) {
    if (!simd::isa_supported(i)) {
      EXPECT_THROW(simd::force_isa(i), std::invalid_argument) << simd::isa_name(i);
      EXPECT_EQ(simd::active_isa(), simd::best_isa());
    }
  }
}

}  // namespace
