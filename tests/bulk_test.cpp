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
#include "support/bulk.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using namespace fp8kit_test::bulk;  // NOLINT(google-build-using-namespace)

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
