// Bad input, for every public function: one test per row of docs/bad_input.md (the table names
// the test). The rule under test: a bad argument throws std::invalid_argument whose message
// starts with "fp8kit::<function>: ", before anything is written (every output is filled with a
// sentinel byte and compared after the throw); a null pointer with nothing to read or write is
// fine; NaN and inf data convert by the format rules, except in the calibrators, which reject
// them. Suite BadInputScaling holds the rows of scaling.hpp and mx.hpp.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fp8kit/delayed_scaling.hpp"
#include "fp8kit/fp8kit.hpp"
#include "fp8kit/mx.hpp"
#include "fp8kit/ptq.hpp"
#include "fp8kit/simd/cpu.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace {

using fp8kit::bfloat16;
using fp8kit::block_shape;
using fp8kit::channel_axis;
using fp8kit::e4m3fn;
using fp8kit::e5m2;
using fp8kit::half;
using fp8kit::saturation;
using fp8kit::scale_options;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;
using fp8kit_test::is_nan;
namespace ptq = fp8kit::ptq;

constexpr std::size_t len = 8;
// huge * 2 is 2^64 (on 64-bit): rows * cols wraps to 0, the case a missing check gets wrong.
constexpr std::size_t huge = std::numeric_limits<std::size_t>::max() / 2 + 1;
const float nan_f = float_from_bits(0x7FC00000u);  // from bits: -ffast-math safe
const float inf_f = float_from_bits(0x7F800000u);
const float subnormal = float_from_bits(1);  // the smallest: a valid scale

/// Scales every function must reject: +-0, negative (a negative subnormal too), +-NaN, +-inf.
constexpr std::uint32_t bad_scale_bits[] = {0x00000000u, 0x80000000u, 0xBF800000u, 0x80000001u,
                                            0x7FC00000u, 0xFFC00000u, 0x7F800000u, 0xFF800000u};
/// Data that is not finite, and some that overflows every format.
const std::vector<float> special_data = {
    nan_f, float_from_bits(0xFFC00000u), inf_f, -inf_f, 1e30f, -1e30f, 1.0f, -0.0f};

template <class T>
T* null() {
  return nullptr;
}

/// n elements of T with every byte 0xA5, so a write by a call that throws shows up.
template <class T>
class sentinel {
 public:
  explicit sentinel(std::size_t n) : v_(n) {
    std::memset(static_cast<void*>(v_.data()), byte, n * sizeof(T));
  }
  T* data() { return v_.data(); }
  std::size_t size() const { return v_.size(); }
  const T& operator[](std::size_t i) const { return v_[i]; }
  bool untouched() const {
    const auto* p = reinterpret_cast<const unsigned char*>(v_.data());
    for (std::size_t i = 0; i < v_.size() * sizeof(T); ++i) {
      if (p[i] != byte) return false;
    }
    return true;
  }

 private:
  static constexpr unsigned char byte = 0xA5;
  std::vector<T> v_;
};

/// Success if call() throws std::invalid_argument whose message starts with
/// "fp8kit::<function>: " and contains `what`, with every output in `outputs` untouched.
template <class Call, class... T>
testing::AssertionResult rejects(const std::string& function, const std::string& what, Call call,
                                 const sentinel<T>&... outputs) {
  const std::string prefix = "fp8kit::" + function + ": ";
  try {
    call();
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    if (message.rfind(prefix, 0) != 0 || message.find(what) == std::string::npos) {
      return testing::AssertionFailure() << "message \"" << message << "\" should start with \""
                                         << prefix << "\" and contain \"" << what << "\"";
    }
    if (!(outputs.untouched() && ...)) {
      return testing::AssertionFailure() << "wrote an output before throwing \"" << message << "\"";
    }
    return testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw another exception: " << e.what();
  }
  return testing::AssertionFailure() << function << " did not throw (expected \"" << what << "\")";
}

/// rejects(function, "scale", call(s), outputs...) for every bad scale s.
template <class Call, class... T>
testing::AssertionResult rejects_bad_scales(const std::string& function, Call call,
                                            const sentinel<T>&... outputs) {
  for (const std::uint32_t bits : bad_scale_bits) {
    testing::AssertionResult r = rejects(
        function, "scale", [&] { call(float_from_bits(bits)); }, outputs...);
    if (!r) return r << " (scale bits 0x" << std::hex << bits << ")";
  }
  return testing::AssertionSuccess();
}

/// Element-wise functions call(in, out, n): a null pointer with n > 0 throws naming it; null
/// with n == 0 is fine; n == 0 writes nothing.
template <class In, class Out, class Call>
void check_pointers(const std::string& function, const std::string& in_name,
                    const std::string& out_name, Call call) {
  const std::vector<In> in(len);
  sentinel<Out> out(len);
  EXPECT_TRUE(rejects(
      function, in_name + " is null but 8 elements",
      [&] { call(null<const In>(), out.data(), len); }, out));
  EXPECT_TRUE(rejects(function, out_name + " is null", [&] { call(in.data(), null<Out>(), len); }));
  EXPECT_NO_THROW(call(null<const In>(), null<Out>(), 0));
  call(in.data(), out.data(), 0);
  EXPECT_TRUE(out.untouched()) << function << " wrote with n == 0";
}

/// check_pointers for call(in, out, n, scale), plus: every bad scale throws (also for n == 0);
/// a subnormal scale is fine.
template <class In, class Out, class Call>
void check_scaled(const std::string& function, const std::string& in_name,
                  const std::string& out_name, Call call) {
  check_pointers<In, Out>(function, in_name, out_name,
                          [&](const In* i, Out* o, std::size_t n) { call(i, o, n, 1.0f); });
  const std::vector<In> in(len);
  sentinel<Out> out(len);
  EXPECT_TRUE(rejects_bad_scales(
      function, [&](float s) { call(in.data(), out.data(), len, s); }, out));
  EXPECT_TRUE(rejects(function, "scale", [&] { call(null<const In>(), null<Out>(), 0, 0.0f); }));
  EXPECT_NO_THROW(call(in.data(), out.data(), len, subnormal));
}

#if FP8KIT_HAS_SPAN
/// A span overload call(in, out) with sizes that differ throws before writing.
template <class In, class Out, class Call>
void check_span_sizes(const std::string& function, Call call) {
  const std::vector<In> in(len);
  sentinel<Out> out(len);
  EXPECT_TRUE(rejects(
      function, "size mismatch (8 vs 7)",
      [&] { call(std::span<const In>(in.data(), len), std::span<Out>(out.data(), len - 1)); },
      out));
}
#endif

/// Equal bits, or both NaN (bulk NaN payloads are the scalar ones, but a product may requiet).
testing::AssertionResult same_float(float expected, float actual) {
  if (bits_of(expected) == bits_of(actual) || (is_nan(expected) && is_nan(actual))) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "expected " << expected << ", got " << actual;
}

// ---- Scalar layer and queries ------------------------------------------------------------------

TEST(BadInput, ScalarConversionsNeverThrow) {
  static_assert(noexcept(fp8kit::convert<e4m3fn>(0.0f, saturation::none)));
  static_assert(noexcept(e4m3fn(0.0f)));
  static_assert(noexcept(float(e4m3fn{})));
  static_assert(noexcept(fp8kit::convert<bfloat16>(0.0)));
  // NaN keeps its sign (fnuz: 0x80); inf and overflow: inf or NaN, or max finite when saturating.
  EXPECT_EQ(fp8kit::convert<e4m3fn>(nan_f).bits(), 0x7F);
  EXPECT_EQ(fp8kit::convert<e4m3fn>(float_from_bits(0xFFC00000u)).bits(), 0xFF);
  EXPECT_EQ(fp8kit::convert<fp8kit::e4m3fnuz>(nan_f).bits(), 0x80);
  EXPECT_EQ(fp8kit::convert<e4m3fn>(inf_f).bits(), 0x7F);
  EXPECT_EQ(fp8kit::convert<e4m3fn>(-inf_f, saturation::finite).bits(), 0xFE);
  EXPECT_EQ(fp8kit::convert<e4m3fn>(1000.0f).bits(), 0x7F);
  EXPECT_EQ(fp8kit::convert<e5m2>(inf_f).bits(), 0x7C);
  EXPECT_EQ(fp8kit::convert<e5m2>(1e30f, saturation::finite).bits(), 0x7B);
  EXPECT_TRUE(is_nan(float(e4m3fn::from_bits(0x7F))));
}

TEST(BadInput, QueriesNeverThrow) {
  static_assert(noexcept(fp8kit::simd::active_isa()));
  static_assert(noexcept(fp8kit::simd::isa_supported(fp8kit::simd::isa::neon)));
  static_assert(noexcept(fp8kit::mx_scale_count(0)));
  static_assert(noexcept(ptq::max_finite<e4m3fn>()));
  static_assert(noexcept(std::declval<const ptq::histogram_calibrator&>().range()));
  // mx_scale_count cannot overflow: ceil(n / 32) <= n.
  EXPECT_EQ(fp8kit::mx_scale_count(std::numeric_limits<std::size_t>::max()),
            std::numeric_limits<std::size_t>::max() / 32 + 1);
  EXPECT_EQ(fp8kit::mx_scale_count(0), 0u);
}

TEST(BadInput, ForceIsa) {
  using fp8kit::simd::isa;
  int unsupported = 0;
  for (const isa i : {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::neon}) {
    if (fp8kit::simd::isa_supported(i)) continue;
    ++unsupported;
    const isa before = fp8kit::simd::active_isa();
    EXPECT_TRUE(
        rejects("simd::force_isa", fp8kit::simd::isa_name(i), [i] { fp8kit::simd::force_isa(i); }));
    EXPECT_EQ(fp8kit::simd::active_isa(), before);
  }
  EXPECT_GT(unsupported, 0);  // NEON on x86, AVX on ARM
  fp8kit::simd::reset_isa();
}

// ---- bulk.hpp ----------------------------------------------------------------------------------

template <class F>
class BadInputBulk : public testing::Test {};
using bulk_formats = testing::Types<e4m3fn, e5m2, fp8kit::e4m3fnuz>;  // ieee, fn, fnuz
TYPED_TEST_SUITE(BadInputBulk, bulk_formats, fp8kit_test::format_names);

constexpr saturation both_modes[] = {saturation::none, saturation::finite};

TYPED_TEST(BadInputBulk, ConvertFromFloat) {
  using F = TypeParam;
  check_pointers<float, F>("convert", "src", "dst", [](const float* s, F* d, std::size_t n) {
    fp8kit::convert(s, d, n, saturation::none);
  });
#if FP8KIT_HAS_SPAN
  check_span_sizes<float, F>("convert", [](auto s, auto d) { fp8kit::convert<F>(s, d); });
#endif
  for (const saturation mode : both_modes) {  // NaN, inf, overflow: the scalar results
    std::vector<F> q(special_data.size());
    fp8kit::convert(special_data.data(), q.data(), q.size(), mode);
    for (std::size_t i = 0; i < q.size(); ++i) {
      EXPECT_EQ(q[i].bits(), fp8kit::convert<F>(special_data[i], mode).bits()) << i;
    }
  }
}

TYPED_TEST(BadInputBulk, ConvertToFloat) {
  using F = TypeParam;
  check_pointers<F, float>("convert", "src", "dst",
                           [](const F* s, float* d, std::size_t n) { fp8kit::convert(s, d, n); });
#if FP8KIT_HAS_SPAN
  check_span_sizes<F, float>("convert", [](auto s, auto d) { fp8kit::convert<F>(s, d); });
#endif
  std::vector<F> q(special_data.size());
  fp8kit::convert(special_data.data(), q.data(), q.size());  // NaN and inf codes
  std::vector<float> x(q.size());
  fp8kit::convert(q.data(), x.data(), q.size());
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_TRUE(same_float(float(q[i]), x[i])) << i;
}

TYPED_TEST(BadInputBulk, ConvertFrom16Bit) {
  using F = TypeParam;
  fp8kit_test::format_list<bfloat16, half>::for_each([](auto w) {
    using W = decltype(w);
    check_pointers<W, F>("convert", "src", "dst", [](const W* s, F* d, std::size_t n) {
      fp8kit::convert(s, d, n, saturation::none);
    });
#if FP8KIT_HAS_SPAN
    check_span_sizes<W, F>("convert", [](auto s, auto d) { fp8kit::convert<F>(s, d); });
#endif
    std::vector<W> src;
    for (const float v : special_data) src.push_back(W(v));
    for (const saturation mode : both_modes) {
      std::vector<F> q(src.size());
      fp8kit::convert(src.data(), q.data(), q.size(), mode);
      for (std::size_t i = 0; i < q.size(); ++i) {
        EXPECT_EQ(q[i].bits(), fp8kit::convert<F>(src[i], mode).bits()) << i;
      }
    }
  });
}

TYPED_TEST(BadInputBulk, ConvertTo16Bit) {
  using F = TypeParam;
  fp8kit_test::format_list<bfloat16, half>::for_each([](auto w) {
    using W = decltype(w);
    check_pointers<F, W>("convert", "src", "dst", [](const F* s, W* d, std::size_t n) {
      fp8kit::convert(s, d, n, saturation::none);
    });
#if FP8KIT_HAS_SPAN
    check_span_sizes<F, W>("convert", [](auto s, auto d) { fp8kit::convert<F>(s, d); });
#endif
    std::vector<F> q(special_data.size());
    fp8kit::convert(special_data.data(), q.data(), q.size());
    for (const saturation mode : both_modes) {
      std::vector<W> out(q.size());
      fp8kit::convert(q.data(), out.data(), q.size(), mode);
      for (std::size_t i = 0; i < q.size(); ++i) {
        EXPECT_EQ(out[i].bits(), fp8kit::convert<W>(q[i], mode).bits()) << i;
      }
    }
  });
}

TYPED_TEST(BadInputBulk, Quantize) {
  using F = TypeParam;
  check_scaled<float, F>("quantize", "x", "q", [](const float* x, F* q, std::size_t n, float s) {
    fp8kit::quantize(x, q, n, s);
  });
#if FP8KIT_HAS_SPAN
  check_span_sizes<float, F>("quantize", [](auto x, auto q) { fp8kit::quantize<F>(x, q, 1.0f); });
#endif
  for (const saturation mode : both_modes) {
    std::vector<F> q(special_data.size());
    fp8kit::quantize(special_data.data(), q.data(), q.size(), 1.0f, mode);
    for (std::size_t i = 0; i < q.size(); ++i) {
      EXPECT_EQ(q[i].bits(), fp8kit::convert<F>(special_data[i], mode).bits()) << i;
    }
  }
}

TYPED_TEST(BadInputBulk, Dequantize) {
  using F = TypeParam;
  check_scaled<F, float>("dequantize", "q", "x", [](const F* q, float* x, std::size_t n, float s) {
    fp8kit::dequantize(q, x, n, s);
  });
#if FP8KIT_HAS_SPAN
  check_span_sizes<F, float>("dequantize",
                             [](auto q, auto x) { fp8kit::dequantize<F>(q, x, 1.0f); });
#endif
  std::vector<F> q(special_data.size());
  fp8kit::convert(special_data.data(), q.data(), q.size());
  std::vector<float> x(q.size());
  fp8kit::dequantize(q.data(), x.data(), q.size(), 2.0f);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_TRUE(same_float(float(q[i]) * 2, x[i])) << i;
}

TYPED_TEST(BadInputBulk, FakeQuantize) {
  using F = TypeParam;
  check_scaled<float, float>("fake_quantize", "x", "y",
                             [](const float* x, float* y, std::size_t n, float s) {
                               fp8kit::fake_quantize<F>(x, y, n, s);
                             });
#if FP8KIT_HAS_SPAN
  check_span_sizes<float, float>("fake_quantize",
                                 [](auto x, auto y) { fp8kit::fake_quantize<F>(x, y, 1.0f); });
#endif
  for (const saturation mode : both_modes) {
    std::vector<float> y(special_data.size());
    fp8kit::fake_quantize<F>(special_data.data(), y.data(), y.size(), 1.0f, mode);
    for (std::size_t i = 0; i < y.size(); ++i) {
      EXPECT_TRUE(same_float(float(fp8kit::convert<F>(special_data[i], mode)), y[i])) << i;
    }
  }
}

// ---- delayed_scaling.hpp -----------------------------------------------------------------------

TEST(BadInput, DelayedScalingConstructor) {
  using ds = fp8kit::delayed_scaling<e4m3fn>;
  EXPECT_TRUE(rejects("delayed_scaling", "history length", [] { ds(0); }));
  EXPECT_TRUE(rejects("delayed_scaling", "margin", [] { ds(4, fp8kit::amax_algo::max, inf_f); }));
  EXPECT_TRUE(rejects("delayed_scaling", "backoff", [] {
    ds(4, fp8kit::amax_algo::max, scale_options{0, 0, false});
  }));
  // A history too long to allocate: std::vector's error, not std::invalid_argument.
  EXPECT_THROW(ds{std::numeric_limits<std::size_t>::max()}, std::length_error);
}

TEST(BadInput, DelayedScalingUpdate) {
  fp8kit::delayed_scaling<e4m3fn> d(4);
  const float scale = d.update(2.0f);
  for (const float skipped : {nan_f, inf_f, -inf_f}) {  // skipped and counted, scale kept
    EXPECT_EQ(d.update(skipped), scale);
  }
  EXPECT_EQ(d.skipped(), 3u);
  EXPECT_EQ(d.update(0.0f), scale);  // a step that did not run
  EXPECT_EQ(d.update(-0.0f), scale);
  for (const std::uint32_t negative : {0xBF800000u, 0x80000001u}) {
    EXPECT_TRUE(
        rejects("delayed_scaling::update", "amax", [&] { d.update(float_from_bits(negative)); }));
  }
  EXPECT_EQ(d.scale(), scale);
  EXPECT_EQ(d.reduced_amax(), 2.0f);
  EXPECT_EQ(d.skipped(), 3u);
}

// ---- ptq/calibrate.hpp -------------------------------------------------------------------------

/// observe(x, n) of any calibrator (n a multiple of its matrix size): NaN, inf and null batches
/// throw without changing it; empty batches (null included) change nothing; amax() throws
/// std::logic_error until data was seen.
template <class C>
void check_observe(C& c, const std::string& function, std::size_t n) {
  EXPECT_THROW(c.amax(), std::logic_error);
  c.observe(nullptr, 0);
  EXPECT_THROW(c.amax(), std::logic_error);
  EXPECT_EQ(c.count(), 0u);
  std::vector<float> x(n, 1.0f);
  x[0] = -3.0f;
  c.observe(x.data(), n);
  const auto amax = c.amax();
  for (const std::uint32_t bits : {0x7FC00000u, 0xFFC00000u, 0x7F800000u, 0xFF800000u}) {
    x[n - 1] = float_from_bits(bits);
    EXPECT_TRUE(rejects(function, "NaN or infinity", [&] { c.observe(x.data(), n); }));
  }
  EXPECT_TRUE(rejects(function, "x is null", [&] { c.observe(nullptr, n); }));
  c.observe(nullptr, 0);
  c.observe(x.data(), 0);
  EXPECT_EQ(c.count(), n);
  EXPECT_EQ(c.amax(), amax);
}

TEST(BadInput, MaxCalibrator) {
  ptq::max_calibrator c;
  EXPECT_THROW(c.scale<e4m3fn>(), std::logic_error);
  check_observe(c, "ptq::max_calibrator::observe", len);
}

TEST(BadInput, EmaCalibrator) {
  for (const std::uint32_t bits : {0x00000000u, 0xBF000000u, 0x3FC00000u, 0x7FC00000u}) {
    EXPECT_TRUE(rejects("ptq::ema_calibrator", "c must be",
                        [bits] { ptq::ema_calibrator{float_from_bits(bits)}; }));
  }
  ptq::ema_calibrator c(0.5f);
  EXPECT_THROW(c.scale<e4m3fn>(), std::logic_error);
  check_observe(c, "ptq::ema_calibrator::observe", len);
}

TEST(BadInput, HistogramCalibrator) {
  for (const std::size_t bins : {std::size_t{0}, (std::size_t{1} << 24) + 1}) {
    EXPECT_TRUE(
        rejects("ptq::histogram_calibrator", "bins", [bins] { ptq::histogram_calibrator{bins}; }));
  }
  ptq::histogram_calibrator c(64);
  EXPECT_THROW(c.percentile_amax(50), std::logic_error);
  EXPECT_THROW(c.mse_amax<e4m3fn>(), std::logic_error);
  EXPECT_THROW(c.mse_estimate<e4m3fn>(1.0f), std::logic_error);
  EXPECT_THROW(c.entropy_amax(), std::logic_error);
  check_observe(c, "ptq::histogram_calibrator::observe", len);
  const auto counts = c.counts();
  for (const double p : {0.0, -1.0, 100.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_TRUE(rejects("ptq::histogram_calibrator::percentile_amax", "p must be",
                        [&] { c.percentile_amax(p); }));
  }
  for (const std::uint32_t bits : {0xBF800000u, 0x80000001u, 0x7FC00000u, 0x7F800000u}) {
    EXPECT_TRUE(rejects("ptq::histogram_calibrator::mse_estimate", "amax",
                        [&] { c.mse_estimate<e4m3fn>(float_from_bits(bits)); }));
  }
  EXPECT_EQ(c.counts(), counts);
}

TEST(BadInput, MaxCalibratorPerChannel) {
  using pc = ptq::max_calibrator_per_channel;
  const std::string ctor = "ptq::max_calibrator_per_channel";
  EXPECT_TRUE(rejects(ctor, "rows and cols", [] { pc(0, 4, channel_axis::rows); }));
  EXPECT_TRUE(rejects(ctor, "rows and cols", [] { pc(4, 0, channel_axis::cols); }));
  EXPECT_TRUE(rejects(ctor, "overflow", [] { pc(huge, 2, channel_axis::cols); }));
  // Fits size_t but not memory: std::vector's error.
  EXPECT_THROW(pc(std::numeric_limits<std::size_t>::max(), 1, channel_axis::rows),
               std::length_error);
  pc c(2, 2, channel_axis::rows);
  EXPECT_THROW(c.scales<e4m3fn>(), std::logic_error);
  const std::vector<float> x(6, 1.0f);
  EXPECT_TRUE(rejects(ctor + "::observe", "multiple", [&] { c.observe(x.data(), 6); }));
  check_observe(c, ctor + "::observe", 8);
}

// ---- ptq/fake_quant.hpp (fp8 and INT8 paths) ---------------------------------------------------

/// Per-channel functions call(in, rows, cols, axis, scales, out): bad scales (either axis), null
/// pointers, rows * cols overflow; empty matrices write nothing but still check the scales.
template <class In, class Out, class Call>
void check_per_channel(const std::string& function, Call call) {
  const std::vector<In> in(6);  // 2 x 3
  std::vector<float> scales = {1, 2, 4};
  for (const channel_axis a : {channel_axis::rows, channel_axis::cols}) {
    sentinel<Out> out(6);
    EXPECT_TRUE(rejects_bad_scales(
        function,
        [&](float s) {
          scales[1] = s;
          call(in.data(), 2, 3, a, scales.data(), out.data());
        },
        out));
    scales[1] = subnormal;
    EXPECT_NO_THROW(call(in.data(), 2, 3, a, scales.data(), out.data()));
    scales[1] = 2;
  }
  sentinel<Out> fresh(6);
  EXPECT_TRUE(rejects(
      function, "is null",
      [&] { call(null<const In>(), 2, 3, channel_axis::rows, scales.data(), fresh.data()); },
      fresh));
  EXPECT_TRUE(rejects(
      function, "is null",
      [&] { call(in.data(), 2, 3, channel_axis::rows, null<const float>(), fresh.data()); },
      fresh));
  EXPECT_TRUE(rejects(function, "is null", [&] {
    call(in.data(), 2, 3, channel_axis::rows, scales.data(), null<Out>());
  }));
  // Axis cols, so only the 2 column scales are read whatever rows is.
  EXPECT_TRUE(rejects(
      function, "overflow",
      [&] { call(in.data(), huge, 2, channel_axis::cols, scales.data(), fresh.data()); }, fresh));
  EXPECT_NO_THROW(
      call(null<const In>(), 0, 3, channel_axis::rows, null<const float>(), null<Out>()));
  call(in.data(), 2, 0, channel_axis::rows, scales.data(), fresh.data());
  EXPECT_TRUE(fresh.untouched());
  EXPECT_TRUE(rejects(function, "scale", [&] {
    call(null<const In>(), 2, 0, channel_axis::rows, null<const float>(), null<Out>());
  }));  // 0 elements, but 2 row scales
}

/// Per-channel reductions call(x, rows, cols, axis, out) (one value per channel).
template <class Call>
void check_channel_reduction(const std::string& function, Call call) {
  const std::vector<float> x(6, 1.0f);  // 2 x 3
  sentinel<float> out(3);
  EXPECT_TRUE(rejects(
      function, "is null", [&] { call(null<const float>(), 2, 3, channel_axis::rows, out.data()); },
      out));
  EXPECT_TRUE(rejects(function, "is null",
                      [&] { call(x.data(), 2, 3, channel_axis::rows, null<float>()); }));
  EXPECT_TRUE(rejects(
      function, "overflow", [&] { call(x.data(), huge, 2, channel_axis::cols, out.data()); }, out));
  EXPECT_NO_THROW(call(null<const float>(), 0, 3, channel_axis::rows, null<float>()));
}

/// Per-channel scale functions call(x, rows, cols, axis, scales, options): the reduction checks,
/// bad options, NaN and inf ignored (scale_of(amax) is the expected scale), empty channels get 1.
template <class Call, class ScaleOf>
void check_channel_scales(const std::string& function, Call call, ScaleOf scale_of) {
  check_channel_reduction(
      function, [&](const float* px, std::size_t r, std::size_t c, channel_axis a, float* out) {
        call(px, r, c, a, out, {});
      });
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};  // 2 x 3
  sentinel<float> out(3);
  EXPECT_TRUE(rejects(
      function, "backoff",
      [&] {
        call(x.data(), 2, 3, channel_axis::rows, out.data(), {0, 0, false});
      },
      out));
  float s[3];
  call(x.data(), 2, 3, channel_axis::rows, s, {});  // NaN and inf do not count
  EXPECT_EQ(s[0], scale_of(4.0f));
  EXPECT_EQ(s[1], scale_of(2.0f));
  call(nullptr, 0, 3, channel_axis::cols, s, {});  // empty channels get 1
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[2], 1.0f);
}

/// Block-wise functions call(x, rows, cols, b, blocks), `blocks` one value per block (others:
/// outputs the lambda also writes): empty shapes, null pointers, rows * cols overflow (checked
/// first, with b = 1 x 1), empty matrices.
template <class Call, class... T>
void check_blocks(const std::string& function, Call call, const sentinel<T>&... others) {
  const std::vector<float> x(6, 1.0f);  // 2 x 3 in 1 x 2 blocks: 2 x 2 of them
  const block_shape b{1, 2};
  sentinel<float> blocks(4);
  for (const block_shape empty : {block_shape{0, 2}, block_shape{2, 0}}) {
    EXPECT_TRUE(rejects(
        function, "block_shape", [&] { call(x.data(), 2, 3, empty, blocks.data()); }, blocks,
        others...));
  }
  EXPECT_TRUE(rejects(
      function, "is null", [&] { call(null<const float>(), 2, 3, b, blocks.data()); }, blocks,
      others...));
  EXPECT_TRUE(rejects(
      function, "is null", [&] { call(x.data(), 2, 3, b, null<float>()); }, others...));
  EXPECT_TRUE(rejects(
      function, "overflow",
      [&] {
        call(x.data(), huge, 2, block_shape{1, 1}, blocks.data());
      },
      blocks, others...));
  EXPECT_NO_THROW(call(null<const float>(), 0, 3, b, null<float>()));
  EXPECT_NO_THROW(call(null<const float>(), 2, 0, b, null<float>()));
  EXPECT_TRUE((blocks.untouched() && ... && others.untouched()));
}

/// The fp8 format e4m3fn and the INT8 baseline: the two paths of every ptq function.
template <class F>
class BadInputPtq : public testing::Test {};
struct ptq_format_names {
  template <class F>
  static std::string GetName(int) {
    return std::is_same_v<F, ptq::int8> ? "int8" : fp8kit_test::alias_name<e4m3fn>();
  }
};
using ptq_formats = testing::Types<e4m3fn, ptq::int8>;
TYPED_TEST_SUITE(BadInputPtq, ptq_formats, ptq_format_names);
/// INT8 has no NaN: a NaN input gives 0.
template <class F>
constexpr bool has_nan = !std::is_same_v<F, ptq::int8>;

TYPED_TEST(BadInputPtq, ScaleFor) {
  using F = TypeParam;
  for (const std::uint32_t bits : {0xBF800000u, 0x80000001u, 0x7FC00000u, 0xFF800000u}) {
    EXPECT_TRUE(
        rejects("ptq::scale_for", "amax", [bits] { ptq::scale_for<F>(float_from_bits(bits)); }));
  }
  EXPECT_TRUE(rejects("ptq::scale_for", "backoff", [] {
    ptq::scale_for<F>(1.0f, scale_options{0, 0, false});
  }));
  EXPECT_TRUE(rejects("ptq::scale_for", "margin", [] {
    ptq::scale_for<F>(1.0f, {inf_f, 1, false});
  }));
  EXPECT_EQ(ptq::scale_for<F>(-0.0f), 1.0f);
  EXPECT_GT(ptq::scale_for<F>(subnormal), 0.0f);
}

TYPED_TEST(BadInputPtq, FakeQuantizeTensor) {
  using F = TypeParam;
  check_scaled<float, float>("ptq::fake_quantize_tensor", "x", "y",
                             [](const float* x, float* y, std::size_t n, float s) {
                               ptq::fake_quantize_tensor<F>(x, y, n, s);
                             });
  std::vector<float> y(special_data.size());
  ptq::fake_quantize_tensor<F>(special_data.data(), y.data(), y.size(), 1.0f);
  const float max = static_cast<float>(ptq::max_finite<F>());
  EXPECT_EQ(is_nan(y[0]), has_nan<F>);
  EXPECT_EQ(y[2], max);  // inf saturates
  EXPECT_EQ(y[3], -max);
  EXPECT_EQ(y[4], max);
}

TYPED_TEST(BadInputPtq, ChannelScales) {
  using F = TypeParam;
  check_channel_scales(
      "ptq::channel_scales",
      [](const float* x, std::size_t r, std::size_t c, channel_axis a, float* s, scale_options o) {
        ptq::channel_scales<F>(x, r, c, a, s, o);
      },
      [](float amax) { return ptq::scale_for<F>(amax); });
}

TYPED_TEST(BadInputPtq, FakeQuantizeChannels) {
  using F = TypeParam;
  check_per_channel<float, float>(
      "ptq::fake_quantize_channels",
      [](const float* x, std::size_t r, std::size_t c, channel_axis a, const float* s, float* y) {
        ptq::fake_quantize_channels<F>(x, r, c, a, s, y);
      });
  float y[3];
  const float scales[] = {1};
  ptq::fake_quantize_channels<F>(special_data.data(), 1, 3, channel_axis::rows, scales, y);
  EXPECT_EQ(is_nan(y[0]), has_nan<F>);
  EXPECT_EQ(y[2], static_cast<float>(ptq::max_finite<F>()));
}

TYPED_TEST(BadInputPtq, FakeQuantizeBlocks) {
  using F = TypeParam;
  sentinel<float> y(6);
  check_blocks(
      "ptq::fake_quantize_blocks",
      [&](const float* x, std::size_t r, std::size_t c, block_shape b, float* s) {
        ptq::fake_quantize_blocks<F>(x, r, c, b, y.data(), s);
      },
      y);
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};  // 2 x 3
  float scales[4];
  EXPECT_TRUE(rejects("ptq::fake_quantize_blocks", "is null", [&] {
    ptq::fake_quantize_blocks<F>(x.data(), 2, 3, {1, 2}, nullptr, scales);
  }));
  EXPECT_TRUE(rejects(
      "ptq::fake_quantize_blocks", "backoff",
      [&] {
        ptq::fake_quantize_blocks<F>(x.data(), 2, 3, {1, 2}, y.data(), scales, {0, 0, false});
      },
      y));
  float out[6];
  ptq::fake_quantize_blocks<F>(x.data(), 2, 3, {1, 2}, out, scales);
  EXPECT_EQ(scales[0], ptq::scale_for<F>(4.0f));  // largest finite |x| of each block
  EXPECT_EQ(scales[1], 1.0f);                     // {NaN}: no finite value
  EXPECT_EQ(scales[2], ptq::scale_for<F>(2.0f));
  EXPECT_EQ(is_nan(out[2]), has_nan<F>);
  EXPECT_EQ(out[4], static_cast<float>(ptq::max_finite<F>()) * scales[2]);
}

TYPED_TEST(BadInputPtq, FakeQuantizeGrad) {
  using F = TypeParam;
  const std::string function = "ptq::fake_quantize_grad";
  const std::vector<float> x(len, 1.0f);
  const std::vector<float> g(len, 1.0f);
  sentinel<float> out(len);
  EXPECT_TRUE(rejects_bad_scales(
      function,
      [&](float s) { ptq::fake_quantize_grad<F>(x.data(), g.data(), out.data(), len, s); }, out));
  EXPECT_TRUE(rejects(
      function, "x is null",
      [&] { ptq::fake_quantize_grad<F>(nullptr, g.data(), out.data(), len, 1.0f); }, out));
  EXPECT_TRUE(rejects(
      function, "grad_y is null",
      [&] { ptq::fake_quantize_grad<F>(x.data(), nullptr, out.data(), len, 1.0f); }, out));
  EXPECT_TRUE(rejects(function, "grad_x is null",
                      [&] { ptq::fake_quantize_grad<F>(x.data(), g.data(), nullptr, len, 1.0f); }));
  EXPECT_NO_THROW(ptq::fake_quantize_grad<F>(nullptr, nullptr, nullptr, 0, 1.0f));
  std::vector<float> grad(special_data.size());
  ptq::fake_quantize_grad<F>(special_data.data(), std::vector<float>(grad.size(), 1.0f).data(),
                             grad.data(), grad.size(), 1.0f);
  const std::vector<float> expected = {0, 0, 0, 0, 0, 0, 1, 1};  // NaN, inf, clipped: 0
  EXPECT_EQ(grad, expected);
}

// ---- ptq/metrics.hpp ---------------------------------------------------------------------------

/// A metric m(ref, approx, n) (and m(span, span) in C++20): null with n > 0 throws, NaN or inf
/// data gives NaN, n == 0 gives `empty` (NaN if `empty` is NaN).
template <class Metric>
void check_metric(const std::string& function, Metric m, double empty) {
  const std::vector<float> a(len, 1.0f);
  EXPECT_TRUE(rejects(function, "ref is null", [&] { m(null<const float>(), a.data(), len); }));
  EXPECT_TRUE(rejects(function, "approx is null", [&] { m(a.data(), null<const float>(), len); }));
#if FP8KIT_HAS_SPAN
  EXPECT_TRUE(rejects(function, "size mismatch", [&] {
    m(std::span<const float>(a.data(), len), std::span<const float>(a.data(), len - 1));
  }));
#endif
  const double e = m(null<const float>(), null<const float>(), std::size_t{0});
  EXPECT_TRUE(bits_of(e) == bits_of(empty) || (is_nan(e) && is_nan(empty))) << e;
  std::vector<float> b(len, 2.0f);
  for (const float bad : {nan_f, inf_f, -inf_f}) {
    b[3] = bad;
    EXPECT_TRUE(is_nan(m(a.data(), b.data(), len))) << bad;
    EXPECT_TRUE(is_nan(m(b.data(), a.data(), len))) << bad;
  }
}

const double nan_d = std::numeric_limits<double>::quiet_NaN();

TEST(BadInput, SqnrDb) {
  check_metric(
      "ptq::sqnr_db", [](auto... args) { return ptq::sqnr_db(args...); }, nan_d);
}

TEST(BadInput, Mse) {
  check_metric(
      "ptq::mse", [](auto... args) { return ptq::mse(args...); }, nan_d);
}

TEST(BadInput, CosineSimilarity) {
  check_metric(
      "ptq::cosine_similarity", [](auto... args) { return ptq::cosine_similarity(args...); },
      nan_d);
}

TEST(BadInput, MaxAbsError) {
  check_metric(
      "ptq::max_abs_error", [](auto... args) { return ptq::max_abs_error(args...); }, 0.0);
}

// ---- ptq/int8.hpp ------------------------------------------------------------------------------

TEST(BadInput, Int8ScaleFromAmax) {
  const std::string function = "ptq::int8_scale_from_amax";
  for (const std::uint32_t bits : {0xBF800000u, 0x80000001u, 0x7FC00000u, 0x7F800000u}) {
    EXPECT_TRUE(
        rejects(function, "amax", [bits] { ptq::int8_scale_from_amax(float_from_bits(bits)); }));
    EXPECT_TRUE(rejects(function, "amax", [bits] {
      ptq::int8_scale_from_amax(float_from_bits(bits), scale_options{0, 1, true});
    }));
  }
  EXPECT_TRUE(rejects(function, "backoff", [] {
    ptq::int8_scale_from_amax(1.0f, scale_options{0, 1.5f, false});
  }));
  EXPECT_TRUE(rejects(function, "margin", [] {
    ptq::int8_scale_from_amax(1.0f, scale_options{inf_f, 1, false});
  }));
  EXPECT_EQ(ptq::int8_scale_from_amax(-0.0f), 1.0f);
  EXPECT_EQ(ptq::int8_scale_from_amax(subnormal), std::numeric_limits<float>::min());
}

TEST(BadInput, Int8Quantize) {
  check_scaled<float, std::int8_t>("ptq::int8_quantize", "x", "q",
                                   [](const float* x, std::int8_t* q, std::size_t n, float s) {
                                     ptq::int8_quantize(x, q, n, s);
                                   });
#if FP8KIT_HAS_SPAN
  check_span_sizes<float, std::int8_t>("ptq::int8_quantize",
                                       [](auto x, auto q) { ptq::int8_quantize(x, q, 1.0f); });
#endif
  std::vector<std::int8_t> q(special_data.size());
  ptq::int8_quantize(special_data.data(), q.data(), q.size(), 1.0f);
  const std::vector<std::int8_t> expected = {0, 0, 127, -127, 127, -127, 1, 0};  // NaN gives 0
  EXPECT_EQ(q, expected);
}

TEST(BadInput, Int8Dequantize) {
  check_scaled<std::int8_t, float>("ptq::int8_dequantize", "q", "x",
                                   [](const std::int8_t* q, float* x, std::size_t n, float s) {
                                     ptq::int8_dequantize(q, x, n, s);
                                   });
#if FP8KIT_HAS_SPAN
  check_span_sizes<std::int8_t, float>("ptq::int8_dequantize",
                                       [](auto q, auto x) { ptq::int8_dequantize(q, x, 1.0f); });
#endif
  const std::int8_t q[] = {-128, 127};  // -128 is outside the grid but still decodes
  float x[2];
  ptq::int8_dequantize(q, x, 2, 0.5f);
  EXPECT_EQ(x[0], -64.0f);
  EXPECT_EQ(x[1], 63.5f);
}

TEST(BadInput, Int8FakeQuantize) {
  check_scaled<float, float>("ptq::int8_fake_quantize", "x", "y",
                             [](const float* x, float* y, std::size_t n, float s) {
                               ptq::int8_fake_quantize(x, y, n, s);
                             });
#if FP8KIT_HAS_SPAN
  check_span_sizes<float, float>("ptq::int8_fake_quantize",
                                 [](auto x, auto y) { ptq::int8_fake_quantize(x, y, 1.0f); });
#endif
  std::vector<float> y(special_data.size());
  ptq::int8_fake_quantize(special_data.data(), y.data(), y.size(), 1.0f);
  const std::vector<float> expected = {0, 0, 127, -127, 127, -127, 1, 0};
  EXPECT_EQ(y, expected);
}

// ---- scaling.hpp and mx.hpp (suite BadInputScaling) -------------------------------------------

TEST(BadInputScaling, ScaleFromAmax) {
  const std::string function = "scale_from_amax";
  for (const std::uint32_t bits : {0xBF800000u, 0x80000001u, 0x7FC00000u, 0xFF800000u}) {
    EXPECT_TRUE(rejects(function, "amax",
                        [bits] { fp8kit::scale_from_amax<e4m3fn>(float_from_bits(bits)); }));
  }
  for (const float backoff : {0.0f, -0.0f, 1.5f, nan_f}) {
    EXPECT_TRUE(rejects(function, "backoff", [backoff] {
      fp8kit::scale_from_amax<e4m3fn>(1.0f, scale_options{0, backoff, false});
    }));
  }
  EXPECT_TRUE(rejects(function, "margin", [] {
    fp8kit::scale_from_amax<e4m3fn>(1.0f, scale_options{nan_f, 1, false});
  }));
  EXPECT_EQ(fp8kit::scale_from_amax<e4m3fn>(-0.0f), 1.0f);
  EXPECT_EQ(fp8kit::scale_from_amax<e4m3fn>(subnormal), std::numeric_limits<float>::min());
}

TEST(BadInputScaling, BlockCount) {
  EXPECT_TRUE(rejects("block_count", "block_shape", [] { fp8kit::block_count(2, 2, {0, 1}); }));
  EXPECT_TRUE(rejects("block_count", "overflow", [] { fp8kit::block_count(huge, 2, {1, 1}); }));
  EXPECT_EQ(fp8kit::block_count(0, 5, {2, 2}), 0u);
}

TEST(BadInputScaling, E8m0fnu) {
  static_assert(noexcept(fp8kit::e8m0fnu::from_exponent(1000)));
  EXPECT_EQ(fp8kit::e8m0fnu::from_exponent(1000).bits(), 0xFE);  // clamped, never NaN
  EXPECT_EQ(fp8kit::e8m0fnu::from_exponent(-1000).bits(), 0x00);
  EXPECT_TRUE(is_nan(float(fp8kit::e8m0fnu::from_bits(0xFF))));
}

// The rows below need the null-pointer and overflow checks of scaling.hpp and mx.hpp; without
// them they read or write out of bounds (crash), so they come last.

TEST(BadInputScaling, Amax) {
  EXPECT_FALSE(noexcept(fp8kit::amax(null<const float>(), 0)));  // it throws now
  EXPECT_TRUE(rejects("amax", "is null", [] { fp8kit::amax(null<const float>(), len); }));
  EXPECT_EQ(bits_of(fp8kit::amax(null<const float>(), 0)), 0u);
  EXPECT_TRUE(is_nan(fp8kit::amax(special_data.data(), special_data.size())));
  EXPECT_EQ(fp8kit::amax(special_data.data() + 2, 6), inf_f);
#if FP8KIT_HAS_SPAN
  EXPECT_TRUE(is_nan(fp8kit::amax(std::span<const float>(special_data))));
#endif
}

TEST(BadInputScaling, AmaxPerChannel) {
  EXPECT_FALSE(noexcept(fp8kit::amax_per_channel(nullptr, 0, 0, channel_axis::rows, nullptr)));
  check_channel_reduction("amax_per_channel",
                          [](const float* px, std::size_t r, std::size_t c, channel_axis a,
                             float* out) { fp8kit::amax_per_channel(px, r, c, a, out); });
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};  // 2 x 3
  float out[3];
  fp8kit::amax_per_channel(x.data(), 2, 3, channel_axis::rows, out);
  EXPECT_TRUE(is_nan(out[0]));
  EXPECT_EQ(out[1], inf_f);
  fp8kit::amax_per_channel(nullptr, 0, 3, channel_axis::cols, out);  // empty channels give 0
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[2], 0.0f);
}

TEST(BadInputScaling, ScalesPerChannel) {
  check_channel_scales(
      "scales_per_channel",
      [](const float* x, std::size_t r, std::size_t c, channel_axis a, float* s, scale_options o) {
        fp8kit::scales_per_channel<e4m3fn>(x, r, c, a, s, o);
      },
      [](float amax) { return fp8kit::scale_from_amax<e4m3fn>(amax); });
}

TEST(BadInputScaling, QuantizePerChannel) {
  check_per_channel<float, e4m3fn>(
      "quantize_per_channel",
      [](const float* px, std::size_t r, std::size_t c, channel_axis a, const float* s, e4m3fn* q) {
        fp8kit::quantize_per_channel(px, r, c, a, s, q);
      });
  e4m3fn q[3];
  const float scales[] = {1};
  fp8kit::quantize_per_channel(special_data.data(), 1, 3, channel_axis::rows, scales, q);
  EXPECT_EQ(q[0].bits(), 0x7F);  // NaN
  EXPECT_EQ(q[2].bits(), 0x7E);  // inf saturates
}

TEST(BadInputScaling, DequantizePerChannel) {
  check_per_channel<e4m3fn, float>(
      "dequantize_per_channel",
      [](const e4m3fn* pq, std::size_t r, std::size_t c, channel_axis a, const float* s, float* x) {
        fp8kit::dequantize_per_channel(pq, r, c, a, s, x);
      });
  const e4m3fn q[] = {e4m3fn::from_bits(0x7F), e4m3fn::from_bits(0x7E)};
  const float scales[] = {2};
  float x[2];
  fp8kit::dequantize_per_channel(q, 1, 2, channel_axis::rows, scales, x);
  EXPECT_TRUE(is_nan(x[0]));
  EXPECT_EQ(x[1], 896.0f);
}

TEST(BadInputScaling, FakeQuantizePerChannel) {
  check_per_channel<float, float>(
      "fake_quantize_per_channel",
      [](const float* x, std::size_t r, std::size_t c, channel_axis a, const float* s, float* y) {
        fp8kit::fake_quantize_per_channel<e4m3fn>(x, r, c, a, s, y);
      });
  float y[3];
  const float scales[] = {1};
  fp8kit::fake_quantize_per_channel<e4m3fn>(special_data.data(), 1, 3, channel_axis::rows, scales,
                                            y);
  EXPECT_TRUE(is_nan(y[0]));
  EXPECT_EQ(y[2], 448.0f);
}

TEST(BadInputScaling, AmaxBlockwise) {
  check_blocks("amax_blockwise", [](const float* px, std::size_t r, std::size_t c, block_shape b,
                                    float* out) { fp8kit::amax_blockwise(px, r, c, b, out); });
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};  // 2 x 3
  float out[4];
  fp8kit::amax_blockwise(x.data(), 2, 3, {1, 2}, out);
  EXPECT_EQ(out[0], 4.0f);
  EXPECT_TRUE(is_nan(out[1]));
  EXPECT_EQ(out[2], inf_f);
}

TEST(BadInputScaling, ScalesBlockwise) {
  check_blocks("scales_blockwise",
               [](const float* x, std::size_t r, std::size_t c, block_shape b, float* s) {
                 fp8kit::scales_blockwise<e4m3fn>(x, r, c, b, s);
               });
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};
  sentinel<float> s(4);
  EXPECT_TRUE(rejects(
      "scales_blockwise", "backoff",
      [&] {
        fp8kit::scales_blockwise<e4m3fn>(x.data(), 2, 3, {1, 2}, s.data(), {0, 0, false});
      },
      s));
  float out[4];
  fp8kit::scales_blockwise<e4m3fn>(x.data(), 2, 3, {1, 2}, out);
  EXPECT_EQ(out[1], 1.0f);  // {NaN}: no finite value
  EXPECT_EQ(out[2], fp8kit::scale_from_amax<e4m3fn>(2.0f));
}

TEST(BadInputScaling, QuantizeBlockwise) {
  sentinel<e4m3fn> q(6);
  check_blocks(
      "quantize_blockwise",
      [&](const float* x, std::size_t r, std::size_t c, block_shape b, float* s) {
        fp8kit::quantize_blockwise(x, r, c, b, q.data(), s);
      },
      q);
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};
  float scales[4];
  EXPECT_TRUE(rejects("quantize_blockwise", "is null", [&] {
    fp8kit::quantize_blockwise(x.data(), 2, 3, {1, 2}, null<e4m3fn>(), scales);
  }));
  e4m3fn out[6];
  fp8kit::quantize_blockwise(x.data(), 2, 3, {1, 2}, out, scales);
  EXPECT_EQ(out[2].bits(), 0x7F);  // NaN
  EXPECT_EQ(out[4].bits(), 0x7E);  // inf saturates
}

TEST(BadInputScaling, FakeQuantizeBlockwise) {
  sentinel<float> y(6);
  check_blocks(
      "fake_quantize_blockwise",
      [&](const float* x, std::size_t r, std::size_t c, block_shape b, float* s) {
        fp8kit::fake_quantize_blockwise<e4m3fn>(x, r, c, b, y.data(), s);
      },
      y);
  const std::vector<float> x = {1, -4, nan_f, 2, inf_f, 0};
  float scales[4];
  EXPECT_TRUE(rejects("fake_quantize_blockwise", "is null", [&] {
    fp8kit::fake_quantize_blockwise<e4m3fn>(x.data(), 2, 3, {1, 2}, null<float>(), scales);
  }));
  float out[6];
  fp8kit::fake_quantize_blockwise<e4m3fn>(x.data(), 2, 3, {1, 2}, out, scales);
  EXPECT_TRUE(is_nan(out[2]));
  EXPECT_EQ(out[4], 448.0f * scales[2]);
}

TEST(BadInputScaling, DequantizeBlockwise) {
  const std::string function = "dequantize_blockwise";
  const std::vector<e4m3fn> q(6, e4m3fn::from_bits(0x38));  // 1.0, 2 x 3 in 1 x 2 blocks
  std::vector<float> scales(4, 1.0f);
  sentinel<float> x(6);
  EXPECT_TRUE(rejects_bad_scales(
      function,
      [&](float s) {
        scales[3] = s;
        fp8kit::dequantize_blockwise(q.data(), 2, 3, {1, 2}, scales.data(), x.data());
      },
      x));
  scales[3] = subnormal;
  EXPECT_NO_THROW(fp8kit::dequantize_blockwise(q.data(), 2, 3, {1, 2}, scales.data(), x.data()));
  sentinel<float> fresh(6);
  EXPECT_TRUE(rejects(
      function, "block_shape",
      [&] {
        fp8kit::dequantize_blockwise(q.data(), 2, 3, {0, 2}, scales.data(), fresh.data());
      },
      fresh));
  EXPECT_TRUE(rejects(
      function, "is null",
      [&] {
        fp8kit::dequantize_blockwise(null<const e4m3fn>(), 2, 3, {1, 2}, scales.data(),
                                     fresh.data());
      },
      fresh));
  EXPECT_TRUE(rejects(
      function, "is null",
      [&] {
        fp8kit::dequantize_blockwise(q.data(), 2, 3, {1, 2}, null<const float>(), fresh.data());
      },
      fresh));
  EXPECT_TRUE(rejects(function, "is null", [&] {
    fp8kit::dequantize_blockwise(q.data(), 2, 3, {1, 2}, scales.data(), null<float>());
  }));
  EXPECT_TRUE(rejects(
      function, "overflow",
      [&] {
        fp8kit::dequantize_blockwise(q.data(), huge, 2, {1, 1}, scales.data(), fresh.data());
      },
      fresh));
  EXPECT_NO_THROW(fp8kit::dequantize_blockwise(null<const e4m3fn>(), 0, 3, {1, 2},
                                               null<const float>(), null<float>()));
  EXPECT_TRUE(fresh.untouched());
  const e4m3fn special[] = {e4m3fn::from_bits(0x7F), e4m3fn::from_bits(0x7E)};  // NaN, 448
  const float two[] = {2};
  float out[2];
  fp8kit::dequantize_blockwise(special, 1, 2, {1, 2}, two, out);
  EXPECT_TRUE(is_nan(out[0]));
  EXPECT_EQ(out[1], 896.0f);
}

TEST(BadInputScaling, MxQuantize) {
  std::vector<float> x(40, 1.0f);  // 2 blocks, the first with a NaN
  x[5] = nan_f;
  sentinel<e4m3fn> q(40);
  sentinel<fp8kit::e8m0fnu> s(2);
  EXPECT_TRUE(rejects(
      "mx_quantize", "is null",
      [&] { fp8kit::mx_quantize(null<const float>(), 40, q.data(), s.data()); }, q, s));
  EXPECT_TRUE(rejects(
      "mx_quantize", "is null",
      [&] { fp8kit::mx_quantize(x.data(), 40, null<e4m3fn>(), s.data()); }, s));
  EXPECT_TRUE(rejects(
      "mx_quantize", "is null",
      [&] { fp8kit::mx_quantize(x.data(), 40, q.data(), null<fp8kit::e8m0fnu>()); }, q));
  EXPECT_NO_THROW(
      fp8kit::mx_quantize(null<const float>(), 0, null<e4m3fn>(), null<fp8kit::e8m0fnu>()));
  fp8kit::mx_quantize(x.data(), 0, q.data(), s.data());
  EXPECT_TRUE(q.untouched() && s.untouched());
  std::vector<e4m3fn> codes(40);
  fp8kit::e8m0fnu scales[2];
  fp8kit::mx_quantize(x.data(), 40, codes.data(), scales);
  EXPECT_TRUE(isnan(scales[0]));  // a NaN or inf block: NaN scale, NaN elements
  EXPECT_EQ(codes[0].bits(), 0x7F);
  EXPECT_FALSE(isnan(scales[1]));
  EXPECT_EQ(float(codes[39]) * float(scales[1]), 1.0f);
}

TEST(BadInputScaling, MxDequantize) {
  const std::vector<e4m3fn> q(40, e4m3fn::from_bits(0x38));  // 1.0
  const fp8kit::e8m0fnu scales[] = {fp8kit::e8m0fnu::nan(), fp8kit::e8m0fnu::from_exponent(1)};
  sentinel<float> x(40);
  EXPECT_TRUE(rejects(
      "mx_dequantize", "is null",
      [&] { fp8kit::mx_dequantize(null<const e4m3fn>(), 40, scales, x.data()); }, x));
  EXPECT_TRUE(rejects(
      "mx_dequantize", "is null",
      [&] { fp8kit::mx_dequantize(q.data(), 40, null<const fp8kit::e8m0fnu>(), x.data()); }, x));
  EXPECT_TRUE(rejects("mx_dequantize", "is null",
                      [&] { fp8kit::mx_dequantize(q.data(), 40, scales, null<float>()); }));
  EXPECT_NO_THROW(
      fp8kit::mx_dequantize(null<const e4m3fn>(), 0, null<const fp8kit::e8m0fnu>(), null<float>()));
  std::vector<float> out(40);
  fp8kit::mx_dequantize(q.data(), 40, scales, out.data());
  EXPECT_TRUE(is_nan(out[0]));  // a NaN scale: NaN block
  EXPECT_TRUE(is_nan(out[31]));
  EXPECT_EQ(out[32], 2.0f);
}

}  // namespace
