// bulk.hpp over all 2^32 floats: for every alias, both saturation modes and every SIMD kernel
// this CPU runs (forced in turn: SSE2, AVX2, AVX-512, NEON), bulk convert float -> fp8 equals
// the independent oracle of tests/support/reference.hpp, and fake_quantize at scale 1 (the fused
// float-domain kernel) equals the oracle's code decoded (by the same kernel set's convert, whose
// 256 results the unit test pins to the scalar definition). Two threads, chunks that stay in
// L2. The scalar path is fp8kit::convert itself, swept against the same oracle by
// convert_exhaustive_test.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "fp8kit/bulk.hpp"
#include "fp8kit/simd/cpu.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::saturation;
using fp8kit_test::alias_name;
namespace simd = fp8kit::simd;

constexpr std::size_t chunk = std::size_t{1} << 15;
constexpr unsigned threads = 2;

struct sweep_result {
  std::atomic<long> encode_failures{0};
  std::atomic<long> fake_quantize_failures{0};
  std::mutex mutex;
  std::vector<std::string> examples;

  /// Counts a mismatch; keeps the first few descriptions (built only then).
  template <class Describe>
  void report(std::atomic<long>& counter, Describe describe) {
    if (counter.fetch_add(1) < 5) {
      std::lock_guard<std::mutex> lock(mutex);
      examples.push_back(describe());
    }
  }
};

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// Checks inputs [first, first + count) in chunks on this thread.
template <class F>
void sweep(const fp8kit_test::reference_encoder& oracle, saturation s, std::uint64_t first,
           std::uint64_t count, sweep_result& result) {
  std::vector<std::uint32_t> input(chunk);
  std::vector<F> want(chunk), got(chunk);
  std::vector<float> want_fq(chunk), got_fq(chunk);
  for (std::uint64_t base = first; base < first + count; base += chunk) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, first + count - base));
    std::iota(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n),
              static_cast<std::uint32_t>(base));
    const auto* x = reinterpret_cast<const float*>(input.data());
    oracle.encode_range(static_cast<std::uint32_t>(base), n,
                        reinterpret_cast<std::uint8_t*>(want.data()));

    fp8kit::convert(x, got.data(), n, s);
    if (std::memcmp(got.data(), want.data(), n) != 0) {
      for (std::size_t i = 0; i < n; ++i) {
        if (got[i].bits() != want[i].bits()) {
          result.report(result.encode_failures, [&] {
            return "convert " + hex(input[i]) + " gave " + hex(got[i].bits()) + ", oracle " +
                   hex(want[i].bits());
          });
        }
      }
    }

    fp8kit::fake_quantize<F>(x, got_fq.data(), n, 1.0f, s);
    fp8kit::convert(want.data(), want_fq.data(), n);
    if (std::memcmp(got_fq.data(), want_fq.data(), n * sizeof(float)) != 0) {
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t g, w;
        std::memcpy(&g, &got_fq[i], sizeof g);
        std::memcpy(&w, &want_fq[i], sizeof w);
        if (g != w) {
          result.report(result.fake_quantize_failures, [&] {
            return "fake_quantize " + hex(input[i]) + " gave " + hex(g) + ", oracle " + hex(w);
          });
        }
      }
    }
  }
}

template <class F>
class BulkExhaustive : public ::testing::Test {};
TYPED_TEST_SUITE(BulkExhaustive, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(BulkExhaustive, EveryKernelMatchesTheOracleOnAllFloats) {
  using F = TypeParam;
  int kernels_run = 0;
  for (simd::isa isa : {simd::isa::sse2, simd::isa::avx2, simd::isa::avx512, simd::isa::neon}) {
    if (!simd::isa_supported(isa)) continue;
    simd::force_isa(isa);
    ++kernels_run;
    for (const saturation s : {saturation::none, saturation::finite}) {
      const fp8kit_test::reference_encoder oracle(alias_name<F>(), fp8kit_test::to_sat(s));
      sweep_result result;
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> pool;
      const std::uint64_t total = std::uint64_t{1} << 32;
      for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back(
            [&, t] { sweep<F>(oracle, s, total / threads * t, total / threads, result); });
      }
      for (auto& th : pool) th.join();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("[ %-11s ] %-6s %-6s all 2^32 floats in %.1f s\n", alias_name<F>(),
                  simd::isa_name(isa), s == saturation::finite ? "finite" : "none", seconds);
      EXPECT_EQ(result.encode_failures.load(), 0) << simd::isa_name(isa);
      EXPECT_EQ(result.fake_quantize_failures.load(), 0) << simd::isa_name(isa);
      for (const auto& e : result.examples) ADD_FAILURE() << simd::isa_name(isa) << ": " << e;
    }
  }
  simd::reset_isa();
  if (kernels_run == 0) GTEST_SKIP() << "no SIMD kernel in this build or on this CPU";
}

}  // namespace
