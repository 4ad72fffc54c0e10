// bulk.hpp with the scaling layer's scale kinds: element-wise and per-segment scales, exact
// inverse segment scales, and the amax scans that ride along a conversion, on every kernel this
// CPU runs, against their scalar definitions.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fp8kit/bulk.hpp"
#include "support/bulk.hpp"
#include "support/formats.hpp"

namespace {

using namespace fp8kit_test::bulk;  // NOLINT(google-build-using-namespace)

template <class F>
class BulkScales : public ::testing::Test {};
TYPED_TEST_SUITE(BulkScales, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(BulkScales, ElementwiseScalesMatchTheScalarDefinition) {
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
TYPED_TEST(BulkScales, SegmentScalesMatchTheScalarDefinition) {
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
TYPED_TEST(BulkScales, InverseSegmentScalesEqualDividingByPowersOfTwo) {
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
TYPED_TEST(BulkScales, ScansAccumulateSegmentAmaxesAlongAConversion) {
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

}  // namespace
